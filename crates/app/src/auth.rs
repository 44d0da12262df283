//! Who is asking: password, second-factor, certificate and token logins; sessions; the actor
//! every other use case is given.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::person::{Duty, Login, Profession, check_password};
use tsunagu_domain::throttle::{self, Failures};
use tsunagu_domain::{FieldError, Invalid, Timestamp, UserId};
use tsunagu_store::people::{Account, AffiliationRow, Credential, UserRow};
use tsunagu_store::security::{ThrottleRow, TokenRow};

use crate::secret::{new_recovery_code, new_token, normalise_recovery_code, token_hash};
use crate::{App, AppError, Result};

/// How the actor proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    /// A browser session (its token hash).
    Session { token_hash: String },
    /// An API bearer token.
    Token { id: String, read_only: bool },
    /// The command line (an operator on the server itself).
    Cli,
}

impl AuthVia {
    /// How the audit log names this way in: `web`, `api:{token id}` or `cli`.
    pub fn channel(&self) -> String {
        match self {
            AuthVia::Session { .. } => "web".to_string(),
            AuthVia::Token { id, .. } => format!("api:{id}"),
            AuthVia::Cli => "cli".to_string(),
        }
    }
}

/// The person making a request, as every use case sees them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub login: String,
    pub display_name: String,
    pub profession: Profession,
    pub duties: Vec<Duty>,
    pub affiliations: Vec<AffiliationRow>,
    pub via: AuthVia,
    /// The client address, for the audit log.
    pub address: Option<String>,
    /// The region requires a second factor and this person has none yet: only the enrolment
    /// pages are open to them.
    pub must_enrol_second_factor: bool,
    pub has_totp: bool,
}

impl Actor {
    pub fn has_duty(&self, d: Duty) -> bool {
        self.duties.contains(&d)
    }

    /// An audit event by this actor.
    pub fn event(&self, at: Timestamp, action: Action, outcome: Outcome) -> NewEvent {
        NewEvent::new(at, action, outcome)
            .actor(&self.user_id, &self.login)
            .address(self.address.clone())
            .via(self.via.channel())
    }

    /// Whether this actor may write (read-only tokens may not).
    pub fn ensure_may_write(&self) -> Result<()> {
        match self.via {
            AuthVia::Token { read_only: true, .. } => Err(AppError::ReadOnly),
            _ => Ok(()),
        }
    }
}

/// The result of a correct password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Logged in: the session token for the cookie.
    Done { token: String },
    /// The password was right; a second factor is needed. The token is for the pending session.
    SecondFactor { token: String },
}

/// Session stages as stored.
const STAGE_FULL: &str = "full";
const STAGE_SECOND_FACTOR: &str = "second_factor";
/// A pending second-factor session lasts this long.
const SECOND_FACTOR_SECS: i64 = 5 * 60;
/// `last_seen_at` is written at most this often, so reading pages does not write on every request.
const TOUCH_SECS: i64 = 60;
pub(crate) const SETTING_REQUIRE_SECOND_FACTOR: &str = "require_second_factor";

fn bad_credentials() -> AppError {
    AppError::Invalid(Invalid::one("password", "error.bad_credentials"))
}

fn failures(row: Option<ThrottleRow>) -> Option<Failures> {
    row.map(|r| Failures {
        count: r.failures,
        first_at: Timestamp(r.first_failure_at),
        locked_until: Timestamp(r.locked_until),
    })
}

fn throttle_row(key: String, f: &Failures) -> ThrottleRow {
    ThrottleRow {
        key,
        failures: f.count,
        first_failure_at: f.first_at.micros(),
        locked_until: f.locked_until.micros(),
    }
}

impl App {
    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.config.argon2_memory_kib, self.config.argon2_iterations, 1, None)
            .map_err(|e| AppError::Internal(format!("argon2 params: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// An argon2id hash of a password (PHC string).
    pub fn hash_password(&self, password: &str) -> Result<String> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        self.argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("argon2: {e}")))
    }

    fn password_matches(&self, hash: Option<&str>, password: &str) -> Result<bool> {
        // Without a hash (unknown login, or an invited person who has not set one), still spend
        // the time of a verification so response times do not tell which logins exist.
        let dummy;
        let hash = match hash {
            Some(h) => h,
            None => {
                dummy = self.hash_password("not-a-real-password")?;
                let _ = self.argon2()?.verify_password(
                    password.as_bytes(),
                    &PasswordHash::new(&dummy).map_err(|e| AppError::Internal(e.to_string()))?,
                );
                return Ok(false);
            }
        };
        let parsed = PasswordHash::new(hash).map_err(|e| AppError::Internal(e.to_string()))?;
        // Verify with the parameters stored in the hash, not the current ones.
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    }

    pub(crate) async fn throttled_for(&self, keys: &[String], now: Timestamp) -> Result<Option<i64>> {
        let mut wait = None;
        for k in keys {
            let f = failures(self.store.throttle(k).await?);
            if let Some(s) = throttle::retry_after(f.as_ref(), now) {
                wait = Some(wait.map_or(s, |w: i64| w.max(s)));
            }
        }
        Ok(wait)
    }

    pub(crate) async fn record_failure(
        &self,
        account_key: &str,
        address_key: Option<&str>,
        event: NewEvent,
    ) -> Result<()> {
        let now = self.now();
        let cfg = &self.config;
        let mut tx = self.store.begin().await?;
        let f = failures(self.store.throttle(account_key).await?);
        let f = throttle::record_failure(
            f.as_ref(),
            now,
            cfg.throttle_account_failures,
            cfg.throttle_window_secs,
        );
        tx.put_throttle(&throttle_row(account_key.to_string(), &f)).await?;
        if let Some(k) = address_key {
            let f = failures(self.store.throttle(k).await?);
            let f = throttle::record_failure(
                f.as_ref(),
                now,
                cfg.throttle_address_failures,
                cfg.throttle_window_secs,
            );
            tx.put_throttle(&throttle_row(k.to_string(), &f)).await?;
        }
        tx.append_audit(event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Logs in with a login name and password. Too many failures for the account or the address
    /// pause further attempts, whether the password is right or not.
    pub async fn login_password(
        &self,
        login: &str,
        password: &str,
        address: Option<String>,
    ) -> Result<LoginStep> {
        let now = self.now();
        let login = Login::parse(login).map_err(|_| bad_credentials())?;
        if password.chars().count() > tsunagu_domain::person::PASSWORD_MAX {
            return Err(bad_credentials());
        }
        let account_key = format!("account:{}", login.as_str());
        let address_key = address.as_ref().map(|a| format!("address:{a}"));
        let keys: Vec<String> = std::iter::once(account_key.clone()).chain(address_key.clone()).collect();
        let user = self.store.user_by_login(login.as_str()).await?;
        if let Some(wait) = self.throttled_for(&keys, now).await? {
            let mut e = NewEvent::new(now, Action::LoginThrottled, Outcome::Refused).address(address.clone());
            if let Some(u) = &user {
                e = e.actor(&u.id, &u.login);
            }
            self.store.append_audit(vec![e]).await?;
            return Err(AppError::Throttled { retry_after_secs: wait });
        }
        let ok = self.password_matches(user.as_ref().and_then(|u| u.password_hash.as_deref()), password)?;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            (_, user) => {
                let mut e =
                    NewEvent::new(now, Action::LoginFailed, Outcome::Failure).address(address.clone());
                match &user {
                    Some(u) => e = e.actor(&u.id, &u.login).detail("bad_password"),
                    None => e = e.detail("unknown_login"),
                }
                self.record_failure(&account_key, address_key.as_deref(), e).await?;
                return Err(bad_credentials());
            }
        };
        if user.disabled_at.is_some() {
            let e = NewEvent::new(now, Action::LoginFailed, Outcome::Refused)
                .actor(&user.id, &user.login)
                .address(address)
                .detail("disabled");
            self.store.append_audit(vec![e]).await?;
            return Err(AppError::Invalid(Invalid::one("login", "error.account_disabled")));
        }
        let second = self.has_second_factor(&user).await?;
        let token = new_token();
        let mut tx = self.store.begin().await?;
        tx.clear_throttle(&account_key).await?;
        if second {
            tx.insert_session(
                &token_hash(&token),
                &user.id,
                STAGE_SECOND_FACTOR,
                now.micros(),
                address.as_deref(),
            )
            .await?;
            tx.commit().await?;
            Ok(LoginStep::SecondFactor { token })
        } else {
            tx.insert_session(&token_hash(&token), &user.id, STAGE_FULL, now.micros(), address.as_deref())
                .await?;
            tx.append_audit(
                NewEvent::new(now, Action::Login, Outcome::Success)
                    .actor(&user.id, &user.login)
                    .address(address)
                    .detail("password"),
            )
            .await?;
            tx.commit().await?;
            Ok(LoginStep::Done { token })
        }
    }

    async fn has_second_factor(&self, u: &UserRow) -> Result<bool> {
        Ok(u.totp_enabled_at.is_some() || !self.store.passkeys_of(&u.id).await?.is_empty())
    }

    /// The person a pending second-factor session belongs to, if it is still valid.
    pub async fn pending_second_factor(&self, token: &str) -> Result<UserRow> {
        let now = self.now();
        let s = self.store.session(&token_hash(token)).await?.ok_or(AppError::Unauthenticated)?;
        if s.stage != STAGE_SECOND_FACTOR
            || s.disabled_at.is_some()
            || Timestamp(s.created_at).seconds_until(now) > SECOND_FACTOR_SECS
        {
            return Err(AppError::Unauthenticated);
        }
        self.store.user_by_id(&s.user_id).await?.ok_or(AppError::Unauthenticated)
    }

    /// Completes a login with a TOTP code or a recovery code. The pending session is replaced
    /// by a new one, so its token is worth nothing afterwards.
    pub async fn complete_second_factor(
        &self,
        pending_token: &str,
        code: &str,
        address: Option<String>,
    ) -> Result<String> {
        let now = self.now();
        let user = self.pending_second_factor(pending_token).await?;
        let account_key = format!("account:{}", user.login);
        let keys = [account_key.clone()];
        if let Some(wait) = self.throttled_for(&keys, now).await? {
            return Err(AppError::Throttled { retry_after_secs: wait });
        }
        let code = code.trim();
        let mut tx = self.store.begin().await?;
        let method = if code.len() <= 8 && code.chars().all(|c| c.is_ascii_digit() || c == ' ') {
            let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
            match &user.totp_secret {
                Some(s) if user.totp_enabled_at.is_some() => match totp_step(s, &user.login, &digits, now) {
                    Some(step) if tx.use_totp_step(&user.id, step).await? => Some("totp"),
                    _ => None,
                },
                _ => None,
            }
        } else {
            let h = token_hash(&normalise_recovery_code(code));
            if tx.use_recovery_code(&user.id, &h, now.micros()).await? {
                tx.append_audit(
                    NewEvent::new(now, Action::RecoveryCodeUsed, Outcome::Success)
                        .actor(&user.id, &user.login)
                        .address(address.clone()),
                )
                .await?;
                Some("recovery_code")
            } else {
                None
            }
        };
        let Some(method) = method else {
            drop(tx);
            let e = NewEvent::new(now, Action::SecondFactorFailed, Outcome::Failure)
                .actor(&user.id, &user.login)
                .address(address);
            self.record_failure(&account_key, None, e).await?;
            return Err(AppError::Invalid(Invalid::one("code", "error.bad_code")));
        };
        let token = new_token();
        tx.delete_session(&token_hash(pending_token)).await?;
        tx.clear_throttle(&account_key).await?;
        tx.insert_session(&token_hash(&token), &user.id, STAGE_FULL, now.micros(), address.as_deref())
            .await?;
        tx.append_audit(
            NewEvent::new(now, Action::Login, Outcome::Success)
                .actor(&user.id, &user.login)
                .address(address)
                .detail(method),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Starts a full session for a person whose identity was proven another way (a passkey,
    /// a client certificate), ending any pending session.
    pub async fn start_session(
        &self,
        user: &UserRow,
        method: &str,
        pending_token: Option<&str>,
        address: Option<String>,
    ) -> Result<String> {
        let now = self.now();
        if user.disabled_at.is_some() {
            return Err(AppError::Invalid(Invalid::one("login", "error.account_disabled")));
        }
        let token = new_token();
        let mut tx = self.store.begin().await?;
        if let Some(p) = pending_token {
            tx.delete_session(&token_hash(p)).await?;
        }
        tx.insert_session(&token_hash(&token), &user.id, STAGE_FULL, now.micros(), address.as_deref())
            .await?;
        tx.append_audit(
            NewEvent::new(now, Action::Login, Outcome::Success)
                .actor(&user.id, &user.login)
                .address(address)
                .detail(method),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The actor behind a session cookie. An expired session, or one whose account has been
    /// disabled, is ended here, on its next request.
    pub async fn authenticate_session(&self, token: &str, address: Option<String>) -> Result<Actor> {
        let now = self.now();
        let th = token_hash(token);
        // The session and its person in one query.
        let account = self
            .store
            .account(Credential::Session(&th), SETTING_REQUIRE_SECOND_FACTOR)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let s = account.session.clone().ok_or(AppError::Unauthenticated)?;
        if s.stage != STAGE_FULL {
            return Err(AppError::Unauthenticated);
        }
        let idle = Timestamp(s.last_seen_at).seconds_until(now) > self.config.session_idle_secs;
        let old = Timestamp(s.created_at).seconds_until(now) > self.config.session_absolute_secs;
        if idle || old || s.disabled_at.is_some() {
            let mut tx = self.store.begin().await?;
            tx.delete_session(&th).await?;
            let reason = if s.disabled_at.is_some() {
                "disabled"
            } else if old {
                "absolute"
            } else {
                "idle"
            };
            let mut e =
                NewEvent::new(now, Action::SessionExpired, Outcome::Refused).address(address).detail(reason);
            e.actor_id = Some(s.user_id.clone());
            tx.append_audit(e).await?;
            tx.commit().await?;
            return Err(AppError::Unauthenticated);
        }
        if Timestamp(s.last_seen_at).seconds_until(now) >= TOUCH_SECS {
            let mut tx = self.store.begin().await?;
            tx.touch_session(&th, now.micros()).await?;
            tx.commit().await?;
        }
        actor_of(account, AuthVia::Session { token_hash: th }, address)
    }

    /// Builds the actor for an account.
    pub async fn actor(&self, user_id: &str, via: AuthVia, address: Option<String>) -> Result<Actor> {
        let account = self
            .store
            .account(Credential::User(user_id), SETTING_REQUIRE_SECOND_FACTOR)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        actor_of(account, via, address)
    }

    /// Ends the actor's session.
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let AuthVia::Session { token_hash } = &actor.via {
            tx.delete_session(token_hash).await?;
        }
        tx.append_audit(actor.event(now, Action::Logout, Outcome::Success)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a form refused for a missing or wrong CSRF token (the actor is not known yet).
    pub async fn record_csrf_refusal(&self, address: Option<String>, path: &str) -> Result<()> {
        let e = NewEvent::new(self.now(), Action::AccessRefused, Outcome::Refused)
            .address(address)
            .detail(format!("csrf {}", path.chars().take(200).collect::<String>()));
        Ok(self.store.append_audit(vec![e]).await?)
    }

    /// Whether the region requires a second factor of everyone.
    pub async fn second_factor_required(&self) -> Result<bool> {
        Ok(self.store.setting(SETTING_REQUIRE_SECOND_FACTOR).await?.as_deref() == Some("true"))
    }

    /// Requires (or stops requiring) a second factor of everyone. Administrators only.
    pub async fn set_second_factor_required(&self, actor: &Actor, on: bool) -> Result<()> {
        crate::admin::ensure_admin(self, actor).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.put_setting(SETTING_REQUIRE_SECOND_FACTOR, if on { "true" } else { "false" }).await?;
        tx.append_audit(
            actor
                .event(now, Action::SettingChanged, Outcome::Success)
                .target("setting", SETTING_REQUIRE_SECOND_FACTOR)
                .detail(on),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the actor's own password after checking the current one. Every other session of
    /// theirs ends.
    pub async fn change_password(&self, actor: &Actor, current: &str, new: &str) -> Result<()> {
        let now = self.now();
        let u = self.store.user_by_id(&actor.user_id).await?.ok_or(AppError::Unauthenticated)?;
        if !self.password_matches(u.password_hash.as_deref(), current)? {
            return Err(AppError::Invalid(Invalid::one("current_password", "error.bad_credentials")));
        }
        check_password(new, &u.login, self.has_second_factor(&u).await?)?;
        let hash = self.hash_password(new)?;
        let mut tx = self.store.begin().await?;
        tx.set_password_hash(&u.id, &hash).await?;
        tx.delete_sessions_of(&u.id).await?;
        tx.append_audit(actor.event(now, Action::PasswordChanged, Outcome::Success).target("user", &u.id))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts TOTP enrolment: a new secret, stored but not yet enabled, and its otpauth URL.
    pub async fn totp_begin(&self, actor: &Actor) -> Result<(String, String)> {
        actor.ensure_may_write()?;
        let bytes = crate::secret::random_bytes::<20>();
        let secret = totp_rs::Secret::Raw(bytes.to_vec()).to_encoded().to_string();
        let totp = make_totp(&secret, &actor.login)?;
        let mut tx = self.store.begin().await?;
        tx.set_totp(&actor.user_id, Some(&secret), None).await?;
        tx.commit().await?;
        Ok((secret, totp.get_url()))
    }

    /// The TOTP enrolment the actor started but has not confirmed: (secret, otpauth URL).
    pub async fn totp_pending(&self, actor: &Actor) -> Result<Option<(String, String)>> {
        let u = self.store.user_by_id(&actor.user_id).await?.ok_or(AppError::Unauthenticated)?;
        match u.totp_secret.filter(|_| u.totp_enabled_at.is_none()) {
            Some(secret) => {
                let url = make_totp(&secret, &u.login)?.get_url();
                Ok(Some((secret, url)))
            }
            None => Ok(None),
        }
    }

    /// How many unused recovery codes the actor has left.
    pub async fn recovery_codes_left(&self, actor: &Actor) -> Result<i64> {
        Ok(self.store.unused_recovery_codes(&actor.user_id).await?)
    }

    /// Confirms TOTP enrolment with a code from the app. Returns fresh recovery codes, shown once.
    pub async fn totp_confirm(&self, actor: &Actor, code: &str) -> Result<Vec<String>> {
        actor.ensure_may_write()?;
        let now = self.now();
        let u = self.store.user_by_id(&actor.user_id).await?.ok_or(AppError::Unauthenticated)?;
        let secret = u.totp_secret.ok_or_else(|| Invalid::one("code", "error.totp_not_started"))?;
        let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
        let Some(step) = totp_step(&secret, &u.login, &digits, now) else {
            return Err(Invalid::one("code", "error.bad_code").into());
        };
        let codes: Vec<String> = (0..10).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| token_hash(&normalise_recovery_code(c))).collect();
        let mut tx = self.store.begin().await?;
        tx.set_totp(&u.id, Some(&secret), Some(now.micros())).await?;
        tx.use_totp_step(&u.id, step).await?;
        tx.replace_recovery_codes(&u.id, &hashes).await?;
        tx.append_audit(actor.event(now, Action::TotpEnabled, Outcome::Success).target("user", &u.id))
            .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns TOTP off after checking the password.
    pub async fn totp_disable(&self, actor: &Actor, password: &str) -> Result<()> {
        actor.ensure_may_write()?;
        let now = self.now();
        let u = self.store.user_by_id(&actor.user_id).await?.ok_or(AppError::Unauthenticated)?;
        if !self.password_matches(u.password_hash.as_deref(), password)? {
            return Err(AppError::Invalid(Invalid::one("password", "error.bad_credentials")));
        }
        let mut tx = self.store.begin().await?;
        tx.set_totp(&u.id, None, None).await?;
        tx.replace_recovery_codes(&u.id, &[]).await?;
        tx.append_audit(actor.event(now, Action::TotpDisabled, Outcome::Success).target("user", &u.id))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Logs in by a client certificate (its SHA-256 fingerprint, verified against the
    /// configured CA by the TLS layer). Unknown certificates are refused and audited.
    pub async fn login_certificate(&self, fingerprint: &str, address: Option<String>) -> Result<String> {
        let now = self.now();
        let user = match self.store.user_for_certificate(fingerprint).await? {
            Some(id) => self.store.user_by_id(&id).await?,
            None => None,
        };
        let user = match user {
            Some(u) if u.disabled_at.is_none() => u,
            other => {
                let mut e = NewEvent::new(now, Action::LoginFailed, Outcome::Refused)
                    .address(address)
                    .target("client_certificate", fingerprint);
                e = match &other {
                    Some(u) => e.actor(&u.id, &u.login).detail("disabled"),
                    None => e.detail("unknown_certificate"),
                };
                self.store.append_audit(vec![e]).await?;
                return Err(AppError::Unauthenticated);
            }
        };
        self.start_session(&user, "client_certificate", None, address).await
    }

    /// Binds a client certificate (by fingerprint) to an account. Operator command.
    pub async fn bind_certificate(&self, login: &str, fingerprint: &str, label: &str) -> Result<()> {
        let now = self.now();
        let fp = fingerprint.trim().to_ascii_lowercase().replace(':', "");
        if fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Invalid::one("fingerprint", "error.bad_fingerprint").into());
        }
        let u = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        let mut tx = self.store.begin().await?;
        tx.bind_certificate(&fp, &u.id, label, now.micros()).await?;
        tx.append_audit(
            NewEvent::new(now, Action::ClientCertificateBound, Outcome::Success)
                .target("user", &u.id)
                .detail(&fp),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API token for a person. `actor` is who asks (`None`: the server's operator
    /// on the command line). Returns the token, shown once.
    pub async fn create_token(
        &self,
        actor: Option<&Actor>,
        login: &str,
        label: &str,
        valid_secs: i64,
        read_only: bool,
    ) -> Result<String> {
        let now = self.now();
        let u = self.store.user_by_login(login).await?.ok_or(AppError::NotFound)?;
        if let Some(a) = actor {
            a.ensure_may_write()?;
            if a.user_id != u.id {
                return Err(AppError::Forbidden);
            }
        }
        if u.disabled_at.is_some() {
            return Err(Invalid::one("login", "error.account_disabled").into());
        }
        let label = tsunagu_domain::validation::text("label", label, false, 80)?;
        if !(60..=366 * 24 * 3600).contains(&valid_secs) {
            return Err(FieldError::new("expires", "error.bad_expiry").into());
        }
        let token = format!("tsu_{}", new_token());
        let row = TokenRow {
            id: tsunagu_domain::ids::TokenId::new().to_string(),
            user_id: u.id.clone(),
            token_hash: token_hash(&token),
            label,
            read_only,
            created_at: now.micros(),
            expires_at: now.plus_seconds(valid_secs).micros(),
            revoked_at: None,
            disabled_at: None,
            last_used_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_token(&row).await?;
        let mut e = NewEvent::new(now, Action::TokenCreated, Outcome::Success).target("api_token", &row.id);
        if let Some(a) = actor {
            e = e.actor(&a.user_id, &a.login).address(a.address.clone());
        } else {
            e = e.detail(format!("cli for {}", u.login));
        }
        tx.append_audit(e).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The actor behind a bearer token.
    pub async fn authenticate_token(&self, token: &str, address: Option<String>) -> Result<Actor> {
        let now = self.now();
        // The token and its person in one query: every API request comes through here.
        let account = self
            .store
            .account(Credential::Token(&token_hash(token)), SETTING_REQUIRE_SECOND_FACTOR)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let t = match &account.token {
            Some(t) if t.revoked_at.is_none() && t.disabled_at.is_none() && t.expires_at > now.micros() => {
                t.clone()
            }
            _ => return Err(AppError::Unauthenticated),
        };
        self.touch_token(&t, now).await;
        actor_of(account, AuthVia::Token { id: t.id, read_only: t.read_only }, address)
    }
}

/// The actor of an account read for a request. A disabled account is no actor. A browser
/// session must enrol a second factor first when the region requires one and the person has
/// none.
fn actor_of(a: Account, via: AuthVia, address: Option<String>) -> Result<Actor> {
    if a.user.disabled_at.is_some() {
        return Err(AppError::Unauthenticated);
    }
    let duties = a.duties.iter().filter_map(|d| Duty::from_code(d)).collect();
    let has_totp = a.user.totp_enabled_at.is_some();
    let must_enrol = matches!(via, AuthVia::Session { .. })
        && a.setting.as_deref() == Some("true")
        && !(has_totp || a.has_passkey);
    let u = a.user;
    Ok(Actor {
        profession: Profession::from_code(&u.profession).unwrap_or(Profession::Clerk),
        user_id: u.id,
        login: u.login,
        display_name: u.display_name,
        duties,
        affiliations: a.affiliations,
        via,
        address,
        must_enrol_second_factor: must_enrol,
        has_totp,
    })
}

fn make_totp(secret_b32: &str, login: &str) -> Result<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AppError::Internal(format!("totp secret: {e:?}")))?;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, Some("Tsunagu".into()), login.to_string())
        .map_err(|e| AppError::Internal(format!("totp: {e:?}")))
}

/// The time step a code belongs to, if it is valid at `now` (one step of clock skew either
/// way). Callers accept each step once only, so a code cannot be replayed.
pub fn totp_step(secret_b32: &str, login: &str, code: &str, now: Timestamp) -> Option<i64> {
    if code.len() != 6 {
        return None;
    }
    let totp = make_totp(secret_b32, login).ok()?;
    let secs = u64::try_from(now.micros() / 1_000_000).ok()?;
    let step = secs / 30;
    [step.saturating_sub(1), step, step + 1].into_iter().find_map(|s| {
        let expected = totp.generate(s * 30);
        constant_time_eq(expected.as_bytes(), code.as_bytes()).then(|| i64::try_from(s).unwrap_or(0))
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The code an authenticator app shows at `now` (for tests and the CLI).
pub fn totp_code(secret_b32: &str, login: &str, now: Timestamp) -> Option<String> {
    make_totp(secret_b32, login)
        .ok()
        .map(|t| t.generate(u64::try_from(now.micros() / 1_000_000).unwrap_or(0)))
}

/// A new account id.
pub fn new_user_id() -> String {
    UserId::new().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn a_totp_code_is_accepted_one_step_either_side_and_names_its_step() {
        let now = Timestamp(1_795_480_200_000_000);
        let code = totp_code(SECRET, "nurse", now).unwrap();
        let step = totp_step(SECRET, "nurse", &code, now).unwrap();
        assert_eq!(step, 1_795_480_200 / 30);
        assert_eq!(totp_step(SECRET, "nurse", &code, now.plus_seconds(30)), Some(step));
        assert_eq!(totp_step(SECRET, "nurse", &code, now.plus_seconds(-30)), Some(step));
        assert_eq!(totp_step(SECRET, "nurse", &code, now.plus_seconds(90)), None);
    }

    #[test]
    fn a_malformed_totp_code_is_refused() {
        let now = Timestamp(1_795_480_200_000_000);
        assert_eq!(totp_step(SECRET, "nurse", "12345", now), None);
        assert_eq!(totp_step(SECRET, "nurse", "abcdef", now), None);
    }
}
