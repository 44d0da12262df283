//! WebAuthn passkeys (DESIGN §3.7): a person registers passkeys while logged in, lists and
//! removes them, and logs in with one, either on its own (username first: type the login, then
//! touch the passkey) or as the second step after a password.
//!
//! The ceremonies are webauthn-rs's; its in-progress state is kept server side in
//! `webauthn_challenges`, answered once (taken, then verified) and only within
//! [`CHALLENGE_SECS`]. A login that does not exist, or has no passkey, gets a challenge that looks
//! like a real one (decoy credential ids derived from the login with a secret key), and a failed
//! answer looks the same whatever the reason: the endpoint does not tell which logins exist.
//! Failed answers count toward the login throttle like wrong passwords.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::ids::PasskeyId;
use tsunagu_domain::person::Login;
use tsunagu_domain::{Invalid, Timestamp};
use tsunagu_store::people::UserRow;
use tsunagu_store::security::PasskeyRow;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PasskeyRegistration, Url, Uuid};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::auth::AuthVia;
use crate::secret::new_token;
use crate::{Actor, App, AppError, Result};

/// What the browser sends back (webauthn-rs's JSON forms), for the web layer to parse into.
pub use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

/// A challenge must be answered within this many seconds.
pub const CHALLENGE_SECS: i64 = 5 * 60;
/// The longest name of a passkey ("iPhone", "仕事用の鍵").
pub const NAME_MAX: usize = 60;
const PURPOSE_REGISTER: &str = "passkey_registration";
const PURPOSE_LOGIN: &str = "passkey_login";
/// The setting holding the key for decoy credential ids (hex), made on first use.
const SETTING_DECOY_KEY: &str = "passkey_decoy_key";
const RP_NAME: &str = "Tsunagu";

/// A ceremony begun: the id to answer it under, and the options for the browser's
/// `navigator.credentials.create()` / `get()` (webauthn-rs's JSON: `{"publicKey": {…}}`, binary
/// fields in base64url).
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyChallenge {
    pub challenge_id: String,
    pub options: serde_json::Value,
}

/// A registered passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<PasskeyRow> for PasskeyInfo {
    fn from(r: PasskeyRow) -> Self {
        PasskeyInfo {
            id: r.id,
            name: r.name,
            created_at: Timestamp(r.created_at),
            last_used_at: r.last_used_at.map(Timestamp),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RegistrationChallenge {
    name: String,
    state: PasskeyRegistration,
}

#[derive(Serialize, Deserialize)]
struct LoginChallenge {
    login: String,
    /// The challenge carries decoy credential ids (unknown login, or no passkey).
    decoy: bool,
    state: PasskeyAuthentication,
}

/// The relying party for `public_url`: its host is the RP id, its origin the only origin
/// accepted. `None` when the host is not a domain name (browsers refuse IP addresses as RP ids;
/// `localhost` works for trying it out).
pub(crate) fn relying_party(public_url: &str) -> Option<Arc<Webauthn>> {
    let url = Url::parse(public_url).ok()?;
    let Some(rp_id) = url.domain() else {
        tracing::warn!(
            "passkeys are off: public_url has no domain name (an IP address cannot be a WebAuthn RP id)"
        );
        return None;
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    match WebauthnBuilder::new(rp_id, &origin).and_then(|b| b.rp_name(RP_NAME).build()) {
        Ok(w) => Some(Arc::new(w)),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: bad relying party settings");
            None
        }
    }
}

fn unavailable() -> AppError {
    Invalid::one("passkey", "error.passkey_unavailable").into()
}

fn failed() -> AppError {
    Invalid::one("passkey", "error.passkey_failed").into()
}

fn expired() -> AppError {
    Invalid::one("passkey", "error.passkey_expired").into()
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("passkeys, {what}: {e}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Passkeys are managed from a browser session only (not with an API token).
fn ensure_session(actor: &Actor) -> Result<()> {
    actor.ensure_may_write()?;
    match actor.via {
        AuthVia::Session { .. } => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Decoy credential ids for a login without passkeys: the same every time for the same login
/// (a changing answer would give it away), one or sometimes two, of lengths real authenticators
/// use, unguessable without the key.
fn decoy_credential_ids(key: &[u8], login: &str) -> Result<Vec<Vec<u8>>> {
    let block = |i: u8| -> Result<[u8; 32]> {
        let mut m = Hmac::<Sha256>::new_from_slice(key).map_err(|e| internal("decoy key", e))?;
        m.update(login.as_bytes());
        m.update(&[i]);
        Ok(m.finalize().into_bytes().into())
    };
    const LENGTHS: [usize; 5] = [20, 32, 64, 65, 16]; // Apple, TPM, YubiKey, Android, password managers
    let head = block(0)?;
    let count = if head[0] < 200 { 1 } else { 2 };
    let mut ids = Vec::with_capacity(count);
    let mut next = 1u8;
    for n in 0..count {
        let len = LENGTHS[usize::from(head[1 + n]) % LENGTHS.len()];
        let mut id = Vec::with_capacity(len + 32);
        while id.len() < len {
            id.extend_from_slice(&block(next)?);
            next += 1;
        }
        id.truncate(len);
        ids.push(id);
    }
    Ok(ids)
}

impl App {
    /// Whether this server can offer passkeys (its public URL has a domain name).
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn relying_party(&self) -> Result<&Webauthn> {
        self.webauthn.as_deref().ok_or_else(unavailable)
    }

    /// Whether a person can answer with a passkey (has one, and this server offers them).
    pub async fn can_use_passkey(&self, user_id: &str) -> Result<bool> {
        Ok(self.passkeys_available() && !self.store.passkeys_of(user_id).await?.is_empty())
    }

    /// The actor's own passkeys, oldest first.
    pub async fn list_passkeys(&self, actor: &Actor) -> Result<Vec<PasskeyInfo>> {
        Ok(self.store.passkeys_of(&actor.user_id).await?.into_iter().map(PasskeyInfo::from).collect())
    }

    /// Starts registering a passkey named `name` for the actor. Their existing passkeys are
    /// excluded, so an authenticator cannot be registered twice.
    pub async fn passkey_register_start(&self, actor: &Actor, name: &str) -> Result<PasskeyChallenge> {
        ensure_session(actor)?;
        let webauthn = self.relying_party()?;
        let name = tsunagu_domain::validation::text("name", name, true, NAME_MAX)?;
        let now = self.now();
        let user_handle = Uuid::parse_str(&actor.user_id).map_err(|e| internal("user id", e))?;
        let exclude = self
            .store
            .passkeys_of(&actor.user_id)
            .await?
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .map(Into::into)
            .collect();
        let (options, state) = webauthn
            .start_passkey_registration(user_handle, &actor.login, &actor.display_name, Some(exclude))
            .map_err(|e| internal("start registration", e))?;
        let state = serde_json::to_string(&RegistrationChallenge { name, state })
            .map_err(|e| internal("registration state", e))?;
        let challenge_id = new_token();
        let mut tx = self.store.begin().await?;
        tx.delete_challenges_before(now.plus_seconds(-CHALLENGE_SECS).micros()).await?;
        tx.put_challenge(&challenge_id, Some(&actor.user_id), PURPOSE_REGISTER, &state, now.micros()).await?;
        tx.commit().await?;
        let options = serde_json::to_value(&options).map_err(|e| internal("registration options", e))?;
        Ok(PasskeyChallenge { challenge_id, options })
    }

    /// Completes a registration with the browser's answer: stores the passkey and audits it.
    pub async fn passkey_register_finish(
        &self,
        actor: &Actor,
        challenge_id: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<PasskeyInfo> {
        ensure_session(actor)?;
        let webauthn = self.relying_party()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let taken = tx
            .take_challenge(challenge_id, PURPOSE_REGISTER, now.plus_seconds(-CHALLENGE_SECS).micros())
            .await?;
        tx.commit().await?;
        let Some((_, state)) = taken.filter(|(user, _)| user.as_deref() == Some(actor.user_id.as_str()))
        else {
            return Err(expired());
        };
        let ch: RegistrationChallenge =
            serde_json::from_str(&state).map_err(|e| internal("registration state", e))?;
        let passkey = match webauthn.finish_passkey_registration(credential, &ch.state) {
            Ok(p) => p,
            Err(e) => {
                let ev = actor.event(now, Action::PasskeyAdded, Outcome::Failure).detail(e);
                self.store.append_audit(vec![ev]).await?;
                return Err(failed());
            }
        };
        let credential_id = b64(passkey.cred_id());
        if self.store.passkey_by_credential(&credential_id).await?.is_some() {
            return Err(Invalid::one("passkey", "error.passkey_exists").into());
        }
        let row = PasskeyRow {
            id: PasskeyId::new().to_string(),
            user_id: actor.user_id.clone(),
            name: ch.name,
            credential_id,
            credential_json: serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?,
            created_at: now.micros(),
            last_used_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_passkey(&row).await?;
        tx.append_audit(actor.event(now, Action::PasskeyAdded, Outcome::Success).target("passkey", &row.id))
            .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// Removes one of the actor's passkeys; it no longer logs anyone in. Someone else's passkey
    /// is "not found".
    pub async fn remove_passkey(&self, actor: &Actor, passkey_id: &str) -> Result<()> {
        ensure_session(actor)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.delete_passkey(&actor.user_id, passkey_id).await? {
            return Err(AppError::NotFound);
        }
        tx.append_audit(
            actor.event(now, Action::PasskeyRemoved, Outcome::Success).target("passkey", passkey_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a passkey login for the typed login name. Unknown logins and logins without a
    /// passkey get a challenge of the same shape, with decoy credential ids.
    pub async fn passkey_login_start(
        &self,
        login: &str,
        address: Option<String>,
    ) -> Result<PasskeyChallenge> {
        let webauthn = self.relying_party()?;
        let login = Login::parse(login)?;
        let now = self.now();
        let account_key = format!("account:{}", login.as_str());
        let address_key = address.as_ref().map(|a| format!("address:{a}"));
        let keys: Vec<String> = std::iter::once(account_key).chain(address_key).collect();
        let user = self.store.user_by_login(login.as_str()).await?;
        if let Some(wait) = self.throttled_for(&keys, now).await? {
            self.audit_throttled(user.as_ref(), now, address).await?;
            return Err(AppError::Throttled { retry_after_secs: wait });
        }
        let passkeys: Vec<Passkey> = match &user {
            Some(u) => self
                .store
                .passkeys_of(&u.id)
                .await?
                .iter()
                .filter_map(|p| serde_json::from_str(&p.credential_json).ok())
                .collect(),
            None => Vec::new(),
        };
        let decoy = passkeys.is_empty();
        let allowed: Vec<Vec<u8>> = if decoy {
            decoy_credential_ids(&self.decoy_key().await?, login.as_str())?
        } else {
            passkeys.iter().map(|p| p.cred_id().to_vec()).collect()
        };
        let (options, state) =
            webauthn.start_passkey_authentication(&passkeys).map_err(|e| internal("start login", e))?;
        let mut options = serde_json::to_value(&options).map_err(|e| internal("login options", e))?;
        // The allowed credentials are written here for real and decoy challenges alike, without
        // transport hints (a decoy has none to offer), so the two cannot be told apart.
        options["publicKey"]["allowCredentials"] =
            allowed.iter().map(|id| serde_json::json!({ "type": "public-key", "id": b64(id) })).collect();
        let state =
            serde_json::to_string(&LoginChallenge { login: login.as_str().to_string(), decoy, state })
                .map_err(|e| internal("login state", e))?;
        let challenge_id = new_token();
        let mut tx = self.store.begin().await?;
        tx.delete_challenges_before(now.plus_seconds(-CHALLENGE_SECS).micros()).await?;
        tx.put_challenge(
            &challenge_id,
            user.as_ref().map(|u| u.id.as_str()),
            PURPOSE_LOGIN,
            &state,
            now.micros(),
        )
        .await?;
        tx.commit().await?;
        Ok(PasskeyChallenge { challenge_id, options })
    }

    /// Completes a passkey login. On success the session token for the cookie; a pending
    /// second-factor session of the same person (`pending_token`) is replaced by it. A failure
    /// is audited and counts toward the throttle of the login and of the address.
    pub async fn passkey_login_finish(
        &self,
        challenge_id: &str,
        credential: &PublicKeyCredential,
        pending_token: Option<&str>,
        address: Option<String>,
    ) -> Result<String> {
        let webauthn = self.relying_party()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let taken = tx
            .take_challenge(challenge_id, PURPOSE_LOGIN, now.plus_seconds(-CHALLENGE_SECS).micros())
            .await?;
        tx.commit().await?;
        let Some((user_id, state)) = taken else {
            // Unknown, used or too old: nothing was tried against an account, so no throttle.
            let e = NewEvent::new(now, Action::LoginFailed, Outcome::Refused)
                .address(address)
                .detail("passkey_challenge_expired");
            self.store.append_audit(vec![e]).await?;
            return Err(expired());
        };
        let ch: LoginChallenge = serde_json::from_str(&state).map_err(|e| internal("login state", e))?;
        let account_key = format!("account:{}", ch.login);
        let address_key = address.as_ref().map(|a| format!("address:{a}"));
        let keys: Vec<String> = std::iter::once(account_key.clone()).chain(address_key.clone()).collect();
        let user = match &user_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        if let Some(wait) = self.throttled_for(&keys, now).await? {
            self.audit_throttled(user.as_ref(), now, address).await?;
            return Err(AppError::Throttled { retry_after_secs: wait });
        }
        let pending_user = match pending_token {
            Some(t) => self.pending_second_factor(t).await.ok(),
            None => None,
        };
        let second_step = matches!((&pending_user, &user), (Some(p), Some(u)) if p.id == u.id);

        // Verify the signature against the challenge's credentials, then make sure the passkey
        // is still registered to this person (it may have been removed since the start).
        let verified = match (&user, webauthn.finish_passkey_authentication(credential, &ch.state)) {
            (Some(u), Ok(result)) => match self.store.passkey_by_credential(&b64(result.cred_id())).await? {
                Some(row) if row.user_id == u.id => Ok((row, result)),
                _ => Err("passkey_removed".to_string()),
            },
            (_, Ok(_)) => Err("no_account".to_string()),
            (_, Err(_)) if ch.decoy => {
                Err(if user.is_some() { "no_passkey" } else { "unknown_login" }.to_string())
            }
            (_, Err(e)) => Err(format!("passkey: {e}")),
        };
        let (row, result) = match verified {
            Ok(v) => v,
            Err(reason) => {
                let action = if second_step { Action::SecondFactorFailed } else { Action::LoginFailed };
                let mut e = NewEvent::new(now, action, Outcome::Failure).address(address).detail(reason);
                if let Some(u) = &user {
                    e = e.actor(&u.id, &u.login);
                }
                self.record_failure(&account_key, address_key.as_deref(), e).await?;
                return Err(failed());
            }
        };
        let Some(user) = user else { return Err(failed()) };
        if user.disabled_at.is_some() {
            let e = NewEvent::new(now, Action::LoginFailed, Outcome::Refused)
                .actor(&user.id, &user.login)
                .address(address)
                .detail("disabled");
            self.store.append_audit(vec![e]).await?;
            return Err(Invalid::one("login", "error.account_disabled").into());
        }
        // Keep the signature counter (a later, lower one shows a cloned authenticator).
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential_json).map_err(|e| internal("stored passkey", e))?;
        passkey.update_credential(&result);
        let json = serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?;
        let mut tx = self.store.begin().await?;
        tx.update_passkey_use(&row.id, &json, now.micros()).await?;
        tx.clear_throttle(&account_key).await?;
        tx.commit().await?;
        let pending = if second_step { pending_token } else { None };
        self.start_session(&user, "passkey", pending, address).await
    }

    async fn audit_throttled(
        &self,
        user: Option<&UserRow>,
        now: Timestamp,
        address: Option<String>,
    ) -> Result<()> {
        let mut e = NewEvent::new(now, Action::LoginThrottled, Outcome::Refused).address(address);
        if let Some(u) = user {
            e = e.actor(&u.id, &u.login);
        }
        self.store.append_audit(vec![e]).await?;
        Ok(())
    }

    /// The key for decoy credential ids, made and stored on first use.
    async fn decoy_key(&self) -> Result<Vec<u8>> {
        if let Some(k) = self.store.setting(SETTING_DECOY_KEY).await?.and_then(|h| hex::decode(h).ok()) {
            return Ok(k);
        }
        let key = crate::secret::random_bytes::<32>();
        let mut tx = self.store.begin().await?;
        tx.put_setting(SETTING_DECOY_KEY, &hex::encode(key)).await?;
        tx.commit().await?;
        Ok(key.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_ids_are_stable_per_login_and_differ_between_logins() {
        let key = [7u8; 32];
        let a = decoy_credential_ids(&key, "nobody").ok();
        assert!(a.as_ref().is_some_and(|ids| !ids.is_empty() && ids.iter().all(|id| id.len() >= 16)));
        assert_eq!(a, decoy_credential_ids(&key, "nobody").ok());
        assert_ne!(a, decoy_credential_ids(&key, "somebody").ok());
        assert_ne!(a, decoy_credential_ids(&[8u8; 32], "nobody").ok());
    }

    #[test]
    fn the_relying_party_needs_a_domain_name() {
        assert!(relying_party("https://care.example.jp").is_some());
        assert!(relying_party("http://localhost:8080").is_some());
        assert!(relying_party("http://127.0.0.1:8080").is_none());
        assert!(relying_party("not a url").is_none());
    }
}
