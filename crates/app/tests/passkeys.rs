//! Passkeys through the app layer (DESIGN §3.7), with a software authenticator
//! (`tsunagu_app::testing::SoftAuthenticator`) standing in for the browser and the security key:
//! registering, logging in (alone and as the second step after a password), and every way an
//! answer must be refused.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::Value;
use tsunagu_app::auth::LoginStep;
use tsunagu_app::passkeys::{
    PasskeyChallenge, PasskeyInfo, PublicKeyCredential, RegisterPublicKeyCredential,
};
use tsunagu_app::testing::{Refusal, SoftAuthenticator, corrupt};
use tsunagu_app::{Actor, App, AppConfig, AppError};
use tsunagu_domain::audit::NewEvent;
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::testing::{self, TestDb};

const ORIGIN: &str = "https://care.example.jp";
const PASSWORD: &str = "demo-password-123";

struct T {
    app: App,
    clock: FixedClock,
    _db: TestDb,
}

async fn setup() -> T {
    setup_at(ORIGIN).await
}

async fn setup_at(public_url: &str) -> T {
    let db = testing::sqlite().await;
    let clock = FixedClock::at(Timestamp(1_795_480_200_000_000));
    let config = AppConfig {
        public_url: public_url.into(),
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        ..Default::default()
    };
    let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
    app.load_demo(PASSWORD).await.expect("demo");
    T { app, clock, _db: db }
}

impl T {
    /// A full session for a demo account without a second factor.
    async fn session(&self, login: &str) -> Actor {
        match self.app.login_password(login, PASSWORD, None).await.expect("password login") {
            LoginStep::Done { token } => self.app.authenticate_session(&token, None).await.expect("session"),
            other => panic!("{login}: expected a full login, got {other:?}"),
        }
    }

    async fn enrol(&self, actor: &Actor, auth: &mut SoftAuthenticator, name: &str) -> PasskeyInfo {
        let ch = self.app.passkey_register_start(actor, name).await.expect("registration start");
        let answer = auth.create(&ch.options).expect("the authenticator creates a credential");
        self.app
            .passkey_register_finish(actor, &ch.challenge_id, &reg(answer))
            .await
            .expect("registration finish")
    }

    async fn start(&self, login: &str) -> PasskeyChallenge {
        self.app.passkey_login_start(login, Some("192.0.2.7".into())).await.expect("login start")
    }

    async fn finish(
        &self,
        ch: &PasskeyChallenge,
        answer: Value,
        pending: Option<&str>,
    ) -> Result<String, AppError> {
        self.app
            .passkey_login_finish(&ch.challenge_id, &login_answer(answer), pending, Some("192.0.2.7".into()))
            .await
    }

    /// Starts a login for `login`, lets the authenticator answer and finishes it.
    async fn passkey_login(&self, auth: &mut SoftAuthenticator, login: &str) -> Result<String, AppError> {
        let ch = self.start(login).await;
        let answer = auth.get(&ch.options).expect("the authenticator answers");
        self.finish(&ch, answer, None).await
    }

    async fn events(&self) -> Vec<NewEvent> {
        self.app
            .store
            .audit_events_after(0, 100_000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    async fn last_event(&self, action: &str) -> NewEvent {
        self.events()
            .await
            .into_iter()
            .rev()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} event"))
    }
}

fn reg(answer: Value) -> RegisterPublicKeyCredential {
    serde_json::from_value(answer).expect("a registration answer webauthn-rs reads")
}

fn login_answer(answer: Value) -> PublicKeyCredential {
    serde_json::from_value(answer).expect("a login answer webauthn-rs reads")
}

/// The catalog key of a refused input.
#[track_caller]
fn code(r: Result<impl std::fmt::Debug, AppError>) -> &'static str {
    match r {
        Err(AppError::Invalid(inv)) => inv.0[0].code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_registered_passkey_logs_its_owner_in_and_keeps_the_counter() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    let pk = t.enrol(&nurse, &mut auth, "  仕事用の鍵 ").await;
    assert_eq!(pk.name, "仕事用の鍵");
    assert_eq!(pk.last_used_at, None);
    assert_eq!(t.app.list_passkeys(&nurse).await.unwrap(), vec![pk.clone()]);
    let added = t.last_event("passkey.added").await;
    assert_eq!((added.outcome.as_str(), added.actor_login.as_deref()), ("success", Some("nurse")));
    assert_eq!(added.target_id.as_deref(), Some(pk.id.as_str()));

    t.clock.advance_seconds(60);
    let token = t.passkey_login(&mut auth, "nurse").await.expect("passkey login");
    let actor = t.app.authenticate_session(&token, None).await.expect("the new session works");
    assert_eq!(actor.login, "nurse");
    let login = t.last_event("login").await;
    assert_eq!((login.detail.as_deref(), login.actor_login.as_deref()), (Some("passkey"), Some("nurse")));

    let listed = t.app.list_passkeys(&nurse).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(t.app.now()));
    // The authenticator's signature counter is kept, so a cloned key's lower count shows.
    let row = t.app.store.passkey_by_credential(&auth.credential_ids()[0]).await.unwrap().unwrap();
    let stored: Value = serde_json::from_str(&row.credential_json).unwrap();
    assert_eq!(stored.pointer("/cred/counter"), Some(&Value::from(1)));
    t.passkey_login(&mut auth, "nurse").await.expect("a second login");
    auth.rewind_counter(&row.credential_id, 1);
    assert_eq!(
        code(t.passkey_login(&mut auth, "nurse").await),
        "error.passkey_failed",
        "a cloned authenticator"
    );
}

#[tokio::test]
async fn registration_names_the_passkey_and_excludes_the_ones_already_there() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    assert_eq!(code(t.app.passkey_register_start(&nurse, "   ").await), "error.required");
    assert_eq!(code(t.app.passkey_register_start(&nurse, &"鍵".repeat(61)).await), "error.too_long");

    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;
    let ch = t.app.passkey_register_start(&nurse, "iPhone again").await.unwrap();
    let excluded: Vec<&str> = ch.options["publicKey"]["excludeCredentials"]
        .as_array()
        .expect("excludeCredentials")
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, auth.credential_ids());
    assert_eq!(auth.create(&ch.options).err(), Some(Refusal::InvalidState));
    // The same answer twice: the challenge is gone after the first.
    let ch = t.app.passkey_register_start(&nurse, "YubiKey").await.unwrap();
    let mut key = SoftAuthenticator::new(ORIGIN);
    let answer = key.create(&ch.options).unwrap();
    t.app.passkey_register_finish(&nurse, &ch.challenge_id, &reg(answer.clone())).await.unwrap();
    assert_eq!(
        code(t.app.passkey_register_finish(&nurse, &ch.challenge_id, &reg(answer)).await),
        "error.passkey_expired"
    );
    assert_eq!(t.app.list_passkeys(&nurse).await.unwrap().len(), 2);

    // Someone else cannot finish the nurse's registration.
    let physician = t.session("physician").await;
    let ch = t.app.passkey_register_start(&nurse, "tablet").await.unwrap();
    let answer = SoftAuthenticator::new(ORIGIN).create(&ch.options).unwrap();
    let r = t.app.passkey_register_finish(&physician, &ch.challenge_id, &reg(answer)).await;
    assert_eq!(code(r), "error.passkey_expired");
    assert!(t.app.list_passkeys(&physician).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_challenge_is_answered_once_and_within_five_minutes() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;

    let ch = t.start("nurse").await;
    let answer = auth.get(&ch.options).unwrap();
    t.finish(&ch, answer.clone(), None).await.expect("the first answer");
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_expired", "a replayed answer");
    let refused = t.last_event("login.failed").await;
    assert_eq!(refused.detail.as_deref(), Some("passkey_challenge_expired"));

    let ch = t.start("nurse").await;
    let answer = auth.get(&ch.options).unwrap();
    t.clock.advance_seconds(5 * 60 + 1);
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_expired", "an old challenge");

    // An answer to one challenge does not fit another.
    let old = t.start("nurse").await;
    let answer = auth.get(&old.options).unwrap();
    let new = t.start("nurse").await;
    assert_eq!(code(t.finish(&new, answer, None).await), "error.passkey_failed");

    let ch = t.app.passkey_register_start(&nurse, "late").await.unwrap();
    let answer = SoftAuthenticator::new(ORIGIN).create(&ch.options).unwrap();
    t.clock.advance_seconds(5 * 60 + 1);
    let r = t.app.passkey_register_finish(&nurse, &ch.challenge_id, &reg(answer)).await;
    assert_eq!(code(r), "error.passkey_expired", "an old registration challenge");
}

#[tokio::test]
async fn a_wrong_signature_is_refused_audited_and_throttled_like_a_wrong_password() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;

    for field in ["signature", "authenticatorData", "clientDataJSON"] {
        let ch = t.start("nurse").await;
        let mut answer = auth.get(&ch.options).unwrap();
        corrupt(&mut answer, field);
        assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed", "{field} altered");
        let e = t.last_event("login.failed").await;
        assert_eq!((e.outcome.as_str(), e.actor_login.as_deref()), ("failure", Some("nurse")), "{field}");
        assert_eq!(e.address.as_deref(), Some("192.0.2.7"));
        assert!(e.detail.as_deref().is_some_and(|d| d.starts_with("passkey: ")), "{:?}", e.detail);
    }
    // Another site's page (phishing) gets answers for its own origin: refused.
    auth.set_origin("https://care.example.jp.evil.test");
    assert_eq!(code(t.passkey_login(&mut auth, "nurse").await), "error.passkey_failed");
    auth.set_origin(ORIGIN);

    // Five failures pause the account, for passkeys and passwords alike.
    let ch = t.start("nurse").await;
    let mut answer = auth.get(&ch.options).unwrap();
    corrupt(&mut answer, "signature");
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed");
    let r = t.app.passkey_login_start("nurse", None).await;
    assert!(matches!(r, Err(AppError::Throttled { .. })), "{r:?}");
    assert!(matches!(t.app.login_password("nurse", PASSWORD, None).await, Err(AppError::Throttled { .. })));
    assert!(t.events().await.iter().any(|e| e.action == "login.throttled"));

    // After the pause the right answer works again.
    t.clock.advance_seconds(60);
    t.passkey_login(&mut auth, "nurse").await.expect("after the pause");
}

#[tokio::test]
async fn one_persons_passkey_cannot_log_in_as_another() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let physician = t.session("physician").await;
    let mut nurses = SoftAuthenticator::new(ORIGIN);
    let mut physicians = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut nurses, "nurse's phone").await;
    t.enrol(&physician, &mut physicians, "physician's key").await;
    let nurse_cred = nurses.credential_ids()[0].clone();

    // The physician's challenge does not list the nurse's credential …
    let ch = t.start("physician").await;
    assert_eq!(nurses.get(&ch.options).err(), Some(Refusal::NotAllowed));
    // … and a client that answers with it anyway is refused, on the physician's account.
    let answer = nurses.get_with(&ch.options, &nurse_cred);
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed");
    let e = t.last_event("login.failed").await;
    assert_eq!(e.actor_login.as_deref(), Some("physician"));

    // The same for a person without passkeys (a decoy challenge).
    let ch = t.start("pharmacist").await;
    let answer = nurses.get_with(&ch.options, &nurse_cred);
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed");
    let e = t.last_event("login.failed").await;
    assert_eq!((e.actor_login.as_deref(), e.detail.as_deref()), (Some("pharmacist"), Some("no_passkey")));

    // The physician still logs in with their own.
    let token = t.passkey_login(&mut physicians, "physician").await.unwrap();
    assert_eq!(t.app.authenticate_session(&token, None).await.unwrap().login, "physician");
}

#[tokio::test]
async fn unknown_logins_and_logins_without_passkeys_get_challenges_like_real_ones() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;

    /// The options with the random parts (challenge, credential ids) taken out.
    fn shape(ch: &PasskeyChallenge) -> Value {
        let mut v = ch.options.clone();
        v["publicKey"]["challenge"] = Value::Null;
        let creds = v["publicKey"]["allowCredentials"].as_array_mut().expect("allowCredentials");
        assert!(!creds.is_empty(), "{:?}", ch.options);
        for c in creds.iter_mut() {
            assert!(c["id"].as_str().is_some_and(|id| id.len() >= 20), "{c}");
            c["id"] = Value::Null;
        }
        creds.truncate(1);
        v
    }
    let real = t.start("nurse").await;
    let none = t.start("pharmacist").await;
    let unknown = t.start("no-such-person").await;
    assert_eq!(shape(&none), shape(&real));
    assert_eq!(shape(&unknown), shape(&real));
    // A decoy is the same each time for the same login, and differs between logins.
    let ids = |ch: &PasskeyChallenge| ch.options["publicKey"]["allowCredentials"].to_string();
    assert_eq!(ids(&t.start("no-such-person").await), ids(&unknown));
    assert_ne!(ids(&unknown), ids(&none));

    // Answering a decoy fails just like a wrong signature, and counts toward the throttle.
    let answer = auth.get_with(&unknown.options, &auth.credential_ids()[0]);
    assert_eq!(code(t.finish(&unknown, answer, None).await), "error.passkey_failed");
    let e = t.last_event("login.failed").await;
    assert_eq!((e.actor_login.as_deref(), e.detail.as_deref()), (None, Some("unknown_login")));
    let row = t.app.store.throttle("account:no-such-person").await.unwrap().expect("a throttle row");
    assert_eq!(row.failures, 1);

    // A malformed login is a plain input error.
    assert_eq!(code(t.app.passkey_login_start("", None).await), "error.required");
}

#[tokio::test]
async fn a_removed_passkey_no_longer_logs_in() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let physician = t.session("physician").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    let pk = t.enrol(&nurse, &mut auth, "iPhone").await;

    // Only its owner can remove it.
    assert!(matches!(t.app.remove_passkey(&physician, &pk.id).await, Err(AppError::NotFound)));

    // Removed between the start and the answer: the answer no longer counts.
    let ch = t.start("nurse").await;
    let answer = auth.get(&ch.options).unwrap();
    t.app.remove_passkey(&nurse, &pk.id).await.expect("remove");
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed");
    assert_eq!(t.last_event("login.failed").await.detail.as_deref(), Some("passkey_removed"));
    let removed = t.last_event("passkey.removed").await;
    assert_eq!(
        (removed.actor_login.as_deref(), removed.target_id.as_deref()),
        (Some("nurse"), Some(pk.id.as_str()))
    );
    assert!(t.app.list_passkeys(&nurse).await.unwrap().is_empty());

    // Afterwards the login gets a decoy challenge the authenticator has nothing for.
    let ch = t.start("nurse").await;
    assert_eq!(auth.get(&ch.options).err(), Some(Refusal::NotAllowed));
    let answer = auth.get_with(&ch.options, &auth.credential_ids()[0]);
    assert_eq!(code(t.finish(&ch, answer, None).await), "error.passkey_failed");
    assert!(matches!(t.app.remove_passkey(&nurse, &pk.id).await, Err(AppError::NotFound)));
}

#[tokio::test]
async fn a_password_login_with_a_passkey_needs_the_second_step_and_the_passkey_completes_it() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;

    let pending = match t.app.login_password("nurse", PASSWORD, None).await.unwrap() {
        LoginStep::SecondFactor { token } => token,
        other => panic!("a passkey is a second factor; got {other:?}"),
    };
    assert!(matches!(t.app.authenticate_session(&pending, None).await, Err(AppError::Unauthenticated)));

    // A wrong answer in the second step is a failed second factor.
    let ch = t.start("nurse").await;
    let mut answer = auth.get(&ch.options).unwrap();
    corrupt(&mut answer, "signature");
    assert_eq!(code(t.finish(&ch, answer, Some(&pending)).await), "error.passkey_failed");
    let e = t.last_event("login.second_factor_failed").await;
    assert_eq!(e.actor_login.as_deref(), Some("nurse"));
    assert!(t.app.pending_second_factor(&pending).await.is_ok(), "the pending session stays for another try");

    let ch = t.start("nurse").await;
    let answer = auth.get(&ch.options).unwrap();
    let token = t.finish(&ch, answer, Some(&pending)).await.expect("the passkey completes the login");
    assert_eq!(t.app.authenticate_session(&token, None).await.unwrap().login, "nurse");
    assert!(t.app.pending_second_factor(&pending).await.is_err(), "the pending session was replaced");

    // Another person's pending session is not touched by the nurse's passkey login.
    let mut physicians = SoftAuthenticator::new(ORIGIN);
    let physician = t.session("physician").await;
    t.enrol(&physician, &mut physicians, "key").await;
    let LoginStep::SecondFactor { token: their_pending } =
        t.app.login_password("physician", PASSWORD, None).await.unwrap()
    else {
        panic!("the physician needs a second step too")
    };
    let ch = t.start("nurse").await;
    let answer = auth.get(&ch.options).unwrap();
    t.finish(&ch, answer, Some(&their_pending)).await.expect("the nurse logs in");
    assert!(t.app.pending_second_factor(&their_pending).await.is_ok());
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_with_its_passkey() {
    let t = setup().await;
    let nurse = t.session("nurse").await;
    let mut auth = SoftAuthenticator::new(ORIGIN);
    t.enrol(&nurse, &mut auth, "iPhone").await;
    t.app.set_account_disabled(None, "nurse", true).await.expect("disable");
    assert_eq!(code(t.passkey_login(&mut auth, "nurse").await), "error.account_disabled");
}

#[tokio::test]
async fn passkeys_are_managed_from_a_session_only_and_need_a_domain_name() {
    let t = setup().await;
    let token = t.app.create_token(None, "nurse", "script", 3600, false).await.unwrap();
    let by_token = t.app.authenticate_token(&token, None).await.unwrap();
    assert!(matches!(t.app.passkey_register_start(&by_token, "key").await, Err(AppError::Forbidden)));

    let t = setup_at("http://127.0.0.1:8080").await;
    assert!(!t.app.passkeys_available());
    let nurse = t.session("nurse").await;
    assert_eq!(code(t.app.passkey_register_start(&nurse, "key").await), "error.passkey_unavailable");
    assert_eq!(code(t.app.passkey_login_start("nurse", None).await), "error.passkey_unavailable");
}
