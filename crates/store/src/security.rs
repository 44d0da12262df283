//! Login state: sessions, throttling, second factors, client certificates, API tokens,
//! invitations and security settings.

use crate::{Result, Store, Tx, exec_tx, on_tx, read};

/// A session joined with its account's state, read on every request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub stage: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub address: Option<String>,
    pub disabled_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct ThrottleRow {
    pub key: String,
    pub failures: i64,
    pub first_failure_at: i64,
    pub locked_until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub credential_json: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub label: String,
    pub read_only: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub disabled_at: Option<i64>,
    /// When the token was last used, to [`TOKEN_TOUCH_MICROS`] (none: never).
    pub last_used_at: Option<i64>,
}

/// A token as its owner sees it in a list: never its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct TokenListRow {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub read_only: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// `last_used_at` is written at most once in this long per token (10 minutes), so a client
/// calling the API many times a second costs one small write per token every ten minutes, not
/// one per request.
pub const TOKEN_TOUCH_MICROS: i64 = 10 * 60 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct InvitationRow {
    pub token_hash: String,
    pub user_id: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Store {
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, SessionRow>(
            "select s.token_hash, s.user_id, s.stage, s.created_at, s.last_seen_at, s.address, \
             u.disabled_at from sessions s join users u on u.id = s.user_id \
             where s.token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn count_sessions_of(&self, user_id: &str) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as("select count(*) from sessions where user_id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await)?;
        Ok(n.0)
    }

    pub async fn throttle(&self, key: &str) -> Result<Option<ThrottleRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, ThrottleRow>(
            "select key, failures, first_failure_at, locked_until from login_throttle \
             where key = $1"
        )
        .bind(key)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as(
            "select count(*) from recovery_codes where user_id = $1 and used_at is null"
        )
        .bind(user_id)
        .fetch_one(c)
        .await)?;
        Ok(n.0)
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, PasskeyRow>(
            "select id, user_id, name, credential_id, credential_json, created_at, last_used_at \
             from passkeys where user_id = $1 order by created_at"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    pub async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, PasskeyRow>(
            "select id, user_id, name, credential_id, credential_json, created_at, last_used_at \
             from passkeys where credential_id = $1"
        )
        .bind(credential_id)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn user_for_certificate(&self, fingerprint: &str) -> Result<Option<String>> {
        let r: Option<(String,)> = read!(self, |c| sqlx::query_as(
            "select user_id from client_certificates where fingerprint = $1"
        )
        .bind(fingerprint)
        .fetch_optional(c)
        .await)?;
        Ok(r.map(|r| r.0))
    }

    /// A person's tokens, newest first (without their hashes).
    pub async fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenListRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, TokenListRow>(
            "select id, user_id, label, read_only, created_at, expires_at, revoked_at, last_used_at \
             from api_tokens where user_id = $1 order by created_at desc, id desc"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    /// One token by its id (without its hash).
    pub async fn token_by_id(&self, id: &str) -> Result<Option<TokenListRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, TokenListRow>(
            "select id, user_id, label, read_only, created_at, expires_at, revoked_at, last_used_at \
             from api_tokens where id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn invitation(&self, token_hash: &str) -> Result<Option<InvitationRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, InvitationRow>(
            "select token_hash, user_id, created_by, created_at, expires_at, used_at \
             from invitations where token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(c)
        .await)?)
    }

    /// A person's unused invitation that is still valid at `now` (the latest, should there be
    /// several).
    pub async fn open_invitation_of(&self, user_id: &str, now: i64) -> Result<Option<InvitationRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, InvitationRow>(
            "select token_hash, user_id, created_by, created_at, expires_at, used_at \
             from invitations where user_id = $1 and used_at is null and expires_at > $2 \
             order by expires_at desc, created_at desc limit 1"
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let r: Option<(String,)> =
            read!(self, |c| sqlx::query_as("select value from settings where key = $1")
                .bind(key)
                .fetch_optional(c)
                .await)?;
        Ok(r.map(|r| r.0))
    }
}

impl Tx {
    pub async fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: &str,
        stage: &str,
        now: i64,
        address: Option<&str>,
    ) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into sessions (token_hash, user_id, stage, created_at, last_seen_at, address) \
             values ($1, $2, $3, $4, $4, $5)"
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(stage)
        .bind(now)
        .bind(address)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn touch_session(&mut self, token_hash: &str, now: i64) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("update sessions set last_seen_at = $2 where token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(c)
            .await)?;
        Ok(())
    }

    pub async fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from sessions where token_hash = $1")
            .bind(token_hash)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Ends every session of a person (on disabling, password change).
    pub async fn delete_sessions_of(&mut self, user_id: &str) -> Result<u64> {
        let n = exec_tx!(self, |c| sqlx::query("delete from sessions where user_id = $1")
            .bind(user_id)
            .execute(c)
            .await)?;
        Ok(n)
    }

    /// Removes sessions that can no longer be valid.
    pub async fn delete_sessions_before(&mut self, created_before: i64, seen_before: i64) -> Result<u64> {
        let n = exec_tx!(self, |c| sqlx::query(
            "delete from sessions where created_at < $1 or last_seen_at < $2"
        )
        .bind(created_before)
        .bind(seen_before)
        .execute(c)
        .await)?;
        Ok(n)
    }

    pub async fn put_throttle(&mut self, t: &ThrottleRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into login_throttle (key, failures, first_failure_at, locked_until) \
             values ($1, $2, $3, $4) on conflict (key) do update set failures = $2, \
             first_failure_at = $3, locked_until = $4"
        )
        .bind(&t.key)
        .bind(t.failures)
        .bind(t.first_failure_at)
        .bind(t.locked_until)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn clear_throttle(&mut self, key: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from login_throttle where key = $1")
            .bind(key)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Replaces a person's recovery codes with new ones (hashes).
    pub async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[String]) -> Result<()> {
        exec_tx!(self, |c| sqlx::query("delete from recovery_codes where user_id = $1")
            .bind(user_id)
            .execute(&mut *c)
            .await)?;
        for h in hashes {
            exec_tx!(self, |c| sqlx::query(
                "insert into recovery_codes (user_id, code_hash) values ($1, $2)"
            )
            .bind(user_id)
            .bind(h)
            .execute(c)
            .await)?;
        }
        Ok(())
    }

    /// Uses a recovery code once. Returns whether an unused code matched.
    pub async fn use_recovery_code(&mut self, user_id: &str, hash: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update recovery_codes set used_at = $3 \
             where user_id = $1 and code_hash = $2 and used_at is null"
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    pub async fn insert_passkey(&mut self, p: &PasskeyRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into passkeys (id, user_id, name, credential_id, credential_json, created_at, \
             last_used_at) values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&p.id)
        .bind(&p.user_id)
        .bind(&p.name)
        .bind(&p.credential_id)
        .bind(&p.credential_json)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn update_passkey_use(&mut self, id: &str, json: &str, now: i64) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "update passkeys set credential_json = $2, last_used_at = $3 where id = $1"
        )
        .bind(id)
        .bind(json)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn delete_passkey(&mut self, user_id: &str, id: &str) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query("delete from passkeys where id = $1 and user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Removes every passkey of a person (an administrator's reset of their second factors).
    /// Returns how many there were.
    pub async fn delete_passkeys_of(&mut self, user_id: &str) -> Result<u64> {
        let n = exec_tx!(self, |c| sqlx::query("delete from passkeys where user_id = $1")
            .bind(user_id)
            .execute(c)
            .await)?;
        Ok(n)
    }

    pub async fn put_challenge(
        &mut self,
        id: &str,
        user_id: Option<&str>,
        purpose: &str,
        state_json: &str,
        now: i64,
    ) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into webauthn_challenges (id, user_id, purpose, state_json, created_at) \
             values ($1, $2, $3, $4, $5)"
        )
        .bind(id)
        .bind(user_id)
        .bind(purpose)
        .bind(state_json)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Takes (reads and deletes) a challenge so it can be answered once only.
    pub async fn take_challenge(
        &mut self,
        id: &str,
        purpose: &str,
        created_after: i64,
    ) -> Result<Option<(Option<String>, String)>> {
        let r: Option<(Option<String>, String)> = on_tx!(self, |c| sqlx::query_as(
            "delete from webauthn_challenges where id = $1 and purpose = $2 and created_at > $3 \
             returning user_id, state_json"
        )
        .bind(id)
        .bind(purpose)
        .bind(created_after)
        .fetch_optional(c)
        .await)?;
        Ok(r)
    }

    /// Removes challenges created before `created_before` (ceremonies never finished).
    pub async fn delete_challenges_before(&mut self, created_before: i64) -> Result<u64> {
        let n = exec_tx!(self, |c| sqlx::query("delete from webauthn_challenges where created_at < $1")
            .bind(created_before)
            .execute(c)
            .await)?;
        Ok(n)
    }

    pub async fn bind_certificate(
        &mut self,
        fingerprint: &str,
        user_id: &str,
        label: &str,
        now: i64,
    ) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into client_certificates (fingerprint, user_id, label, created_at) \
             values ($1, $2, $3, $4)"
        )
        .bind(fingerprint)
        .bind(user_id)
        .bind(label)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn insert_token(&mut self, t: &TokenRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into api_tokens (id, user_id, token_hash, label, read_only, created_at, \
             expires_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&t.id)
        .bind(&t.user_id)
        .bind(&t.token_hash)
        .bind(&t.label)
        .bind(t.read_only)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Revokes a token of `user_id` that is not revoked yet. Returns whether it did.
    pub async fn revoke_token(&mut self, user_id: &str, id: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update api_tokens set revoked_at = $3 \
             where id = $1 and user_id = $2 and revoked_at is null"
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// Records a use of a token, unless one was recorded less than [`TOKEN_TOUCH_MICROS`]
    /// before `now` (callers check the value they read first, so this runs rarely; the
    /// condition keeps concurrent touches from moving it more than once).
    pub async fn touch_token(&mut self, id: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update api_tokens set last_used_at = $2 \
             where id = $1 and (last_used_at is null or last_used_at <= $3)"
        )
        .bind(id)
        .bind(now)
        .bind(now - TOKEN_TOUCH_MICROS)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    pub async fn insert_invitation(&mut self, i: &InvitationRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into invitations (token_hash, user_id, created_by, created_at, expires_at, \
             used_at) values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&i.token_hash)
        .bind(&i.user_id)
        .bind(&i.created_by)
        .bind(i.created_at)
        .bind(i.expires_at)
        .bind(i.used_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Marks an invitation used. Returns whether it was still unused.
    pub async fn use_invitation(&mut self, token_hash: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update invitations set used_at = $2 where token_hash = $1 and used_at is null"
        )
        .bind(token_hash)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// Ends every unused invitation of a person that is still valid at `now`, so its link stops
    /// working (before a new one is sent). Returns how many were ended.
    pub async fn expire_invitations_of(&mut self, user_id: &str, now: i64) -> Result<u64> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update invitations set expires_at = $2 \
             where user_id = $1 and used_at is null and expires_at > $2"
        )
        .bind(user_id)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n)
    }

    pub async fn put_setting(&mut self, key: &str, value: &str) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into settings (key, value) values ($1, $2) \
             on conflict (key) do update set value = $2"
        )
        .bind(key)
        .bind(value)
        .execute(c)
        .await)?;
        Ok(())
    }
}
