//! API tokens a person manages: the list of their own tokens (never the secret, which is shown
//! once when made, see [`App::create_token`]), revoking one, and recording when each was last
//! used. The operator's command line lists and revokes any person's tokens.

use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_store::security::{TOKEN_TOUCH_MICROS, TokenListRow, TokenRow};

use crate::{Actor, App, AppError, Result};

/// Where a token stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    /// `active`, `expired` or `revoked` (the catalog key suffix and the CLI's word).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// One token as its owner (or the operator) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub label: String,
    pub read_only: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// To ten minutes (see `TOKEN_TOUCH_MICROS`); none: never used.
    pub last_used_at: Option<Timestamp>,
    pub status: TokenStatus,
}

impl TokenInfo {
    fn of(r: TokenListRow, now: Timestamp) -> Self {
        let status = if r.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if r.expires_at <= now.micros() {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        };
        TokenInfo {
            id: r.id,
            label: r.label,
            read_only: r.read_only,
            created_at: Timestamp(r.created_at),
            expires_at: Timestamp(r.expires_at),
            revoked_at: r.revoked_at.map(Timestamp),
            last_used_at: r.last_used_at.map(Timestamp),
            status,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TokenStatus::Active
    }
}

impl App {
    /// The actor's own tokens, newest first.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<TokenInfo>> {
        let now = self.now();
        Ok(self.store.tokens_of(&actor.user_id).await?.into_iter().map(|r| TokenInfo::of(r, now)).collect())
    }

    /// Revokes one of the actor's own tokens: it stops working at once. Someone else's token,
    /// an unknown id and one already revoked are all `NotFound`; a read-only token may not
    /// revoke (`ReadOnly`).
    pub async fn revoke_token(&self, actor: &Actor, token_id: &str) -> Result<()> {
        actor.ensure_may_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.revoke_token(&actor.user_id, token_id, now.micros()).await? {
            return Err(AppError::NotFound);
        }
        tx.append_audit(
            actor.event(now, Action::TokenRevoked, Outcome::Success).target("api_token", token_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's tokens, for the operator's `token list --user LOGIN`.
    pub async fn tokens_of(&self, login: &str) -> Result<Vec<TokenInfo>> {
        let now = self.now();
        let u = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        Ok(self.store.tokens_of(&u.id).await?.into_iter().map(|r| TokenInfo::of(r, now)).collect())
    }

    /// Revokes any token by its id, for the operator's `token revoke ID`. Returns `false` when
    /// it was revoked already (nothing written); an unknown id is `NotFound`.
    pub async fn revoke_token_cli(&self, token_id: &str) -> Result<bool> {
        let now = self.now();
        let t = self.store.token_by_id(token_id.trim()).await?.ok_or(AppError::NotFound)?;
        let mut tx = self.store.begin().await?;
        if !tx.revoke_token(&t.user_id, &t.id, now.micros()).await? {
            return Ok(false);
        }
        tx.append_audit(
            NewEvent::new(now, Action::TokenRevoked, Outcome::Success)
                .target("api_token", &t.id)
                .via("cli")
                .detail("cli"),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records that a token was just used, when the stored time is older than
    /// `TOKEN_TOUCH_MICROS` (so the API's hot path reads and does not write). Best effort: a
    /// failed write does not refuse the request.
    pub(crate) async fn touch_token(&self, t: &TokenRow, now: Timestamp) {
        if t.last_used_at.is_some_and(|u| u > now.micros() - TOKEN_TOUCH_MICROS) {
            return;
        }
        let touched = async {
            let mut tx = self.store.begin().await?;
            tx.touch_token(&t.id, now.micros()).await?;
            tx.commit().await?;
            Ok::<_, AppError>(())
        };
        if let Err(e) = touched.await {
            tracing::warn!(error = %e, "could not record a token's last use");
        }
    }
}
