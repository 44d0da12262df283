//! Passkeys through the router: the JSON endpoints `app.js` calls, the security page's list and
//! remove buttons, and the passkey blocks of the login and second-factor pages. A software
//! authenticator (`tsunagu_app::testing::SoftAuthenticator`) plays the browser's WebAuthn API.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use support::{Client, DEMO_PASSWORD, Page, TestApp};
use tsunagu_app::auth::totp_code;
use tsunagu_app::testing::{Refusal, SoftAuthenticator, corrupt};
use tsunagu_web::session::{PENDING_COOKIE, SESSION_COOKIE};

/// The origin of the test server (`AppConfig`'s default `public_url`).
const ORIGIN: &str = "http://localhost:8080";
const PASSKEY_FAILED: &str = "パスキーを確認できませんでした。";

/// Posts JSON with the page's CSRF token in the `x-csrf-token` header, as `app.js` does.
async fn post_json(c: &mut Client, path: &str, body: &Value) -> Page {
    let token = c.csrf_token().await;
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-csrf-token", token)
        .body(Body::from(body.to_string()))
        .expect("request");
    c.send(req).await
}

#[track_caller]
fn json_of(p: &Page) -> Value {
    assert!(
        p.header("content-type").is_some_and(|c| c.starts_with("application/json")),
        "{}: {} is not JSON: {}",
        p.backend,
        p.what,
        p.excerpt()
    );
    serde_json::from_str(&p.body)
        .unwrap_or_else(|e| panic!("{}: {}: bad JSON ({e}): {}", p.backend, p.what, p.excerpt()))
}

/// The `{"error": …}` of a refusal with `status`.
#[track_caller]
fn refusal(p: &Page, status: StatusCode) -> String {
    p.assert_status(status);
    json_of(p)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no error message: {}", p.what, p.body))
        .to_string()
}

async fn register(c: &mut Client, auth: &mut SoftAuthenticator, name: &str) -> Page {
    let start = post_json(c, "/account/passkeys/register/start", &json!({ "name": name })).await;
    start.assert_status(StatusCode::OK);
    let start = json_of(&start);
    let answer = auth.create(&start["options"]).expect("the authenticator creates a credential");
    let body = json!({ "challenge_id": start["challenge_id"], "credential": answer });
    post_json(c, "/account/passkeys/register/finish", &body).await
}

/// The login start's answer, and the authenticator's answer to it (if it has one).
async fn start_login(
    c: &mut Client,
    auth: &mut SoftAuthenticator,
    login: &str,
) -> (Value, Result<Value, Refusal>) {
    let start = post_json(c, "/login/passkey/start", &json!({ "login": login })).await;
    start.assert_status(StatusCode::OK);
    let start = json_of(&start);
    let answer = auth.get(&start["options"]);
    (start, answer)
}

async fn finish_login(c: &mut Client, start: &Value, answer: Value) -> Page {
    let body = json!({ "challenge_id": start["challenge_id"], "credential": answer });
    post_json(c, "/login/passkey/finish", &body).await
}

async fn passkey_login(c: &mut Client, auth: &mut SoftAuthenticator, login: &str) -> Page {
    let (start, answer) = start_login(c, auth, login).await;
    finish_login(c, &start, answer.expect("the authenticator answers")).await
}

#[tokio::test]
async fn a_passkey_is_added_on_the_security_page_logs_in_and_is_removed() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        let page = nurse.get("/account/security").await;
        page.assert_status(StatusCode::OK);
        assert_eq!(page.count("#passkeys-none"), 1, "{b}");
        // The add form is for app.js (hidden without it); without it a note says why.
        assert!(page.attr("form#passkey-add[data-passkey-register]", "hidden").is_some(), "{b}");
        assert_eq!(page.count("[data-passkey-fallback]"), 1, "{b}");

        let mut auth = SoftAuthenticator::new(ORIGIN);
        let added = register(&mut nurse, &mut auth, "仕事用のスマートフォン").await;
        added.assert_status(StatusCode::CREATED);
        assert_eq!(json_of(&added)["name"], "仕事用のスマートフォン", "{b}");
        let page = nurse.get("/account/security").await;
        assert_eq!(page.texts("#passkey-list .passkey-name"), ["仕事用のスマートフォン"], "{b}");
        assert_eq!(page.text("#passkey-list .passkey-created"), "2026-11-24 09:30", "{b}");
        assert_eq!(page.text("#passkey-list .passkey-last-used"), "未使用", "{b}");
        let id = page.attr("#passkey-list li", "data-passkey-id").expect("the passkey's id");

        // Another browser logs in with it: the login page offers it (to app.js), and the
        // finished login sets the session cookie.
        t.advance_minutes(3);
        let mut other = t.client();
        let login = other.get("/login").await;
        assert!(login.attr("#passkey-login[data-passkey]", "hidden").is_some(), "{b}");
        assert!(login.attr("#passkey-login button[data-passkey-login]", "data-csrf").is_some(), "{b}");
        let done = passkey_login(&mut other, &mut auth, "nurse").await;
        done.assert_status(StatusCode::OK);
        assert_eq!(json_of(&done)["redirect"], "/", "{b}");
        assert!(other.cookie(SESSION_COOKIE).is_some(), "{b}: no session cookie");
        let home = other.get("/").await;
        home.assert_status(StatusCode::OK);
        assert!(home.text("h1").contains("中村 美穂"), "{b}");
        let audit = t.audit().await;
        assert!(
            audit.iter().any(|e| e.event.action == "login"
                && e.event.detail.as_deref() == Some("passkey")
                && e.event.actor_login.as_deref() == Some("nurse")),
            "{b}: no passkey login in the audit log"
        );
        let page = nurse.get("/account/security").await;
        assert_eq!(page.text("#passkey-list .passkey-last-used"), "2026-11-24 09:33", "{b}");

        // Someone else cannot remove it; its owner can, and then it no longer logs in.
        let mut physician = t.login("physician").await;
        physician
            .post_form(&format!("/account/passkeys/{id}/delete"), &[])
            .await
            .assert_status(StatusCode::NOT_FOUND);
        let removed = nurse.post_form(&format!("/account/passkeys/{id}/delete"), &[]).await;
        removed.assert_status(StatusCode::OK);
        assert_eq!(removed.text("p.notice[role=status]"), "パスキーを削除しました。", "{b}");
        assert_eq!(removed.count("#passkeys-none"), 1, "{b}");
        let mut third = t.client();
        let (_, answer) = start_login(&mut third, &mut auth, "nurse").await;
        assert_eq!(answer.err(), Some(Refusal::NotAllowed), "{b}: the removed passkey is still offered");
        assert!(t.audit().await.iter().any(|e| e.event.action == "passkey.removed"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_password_login_is_completed_with_the_passkey_on_the_second_factor_page() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        let mut auth = SoftAuthenticator::new(ORIGIN);
        register(&mut nurse, &mut auth, "iPhone").await.assert_status(StatusCode::CREATED);

        let mut c = t.client();
        c.login("nurse", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        let page = c.get("/login/second-factor").await;
        page.assert_status(StatusCode::OK);
        assert_eq!(
            page.attr("#passkey-second-factor button[data-passkey-login]", "data-login").as_deref(),
            Some("nurse"),
            "{b}: the second step offers the passkey"
        );
        assert!(c.cookie(PENDING_COOKIE).is_some(), "{b}");
        let done = passkey_login(&mut c, &mut auth, "nurse").await;
        done.assert_status(StatusCode::OK);
        assert!(c.cookie(PENDING_COOKIE).is_none(), "{b}: the pending cookie stays");
        c.get("/").await.assert_status(StatusCode::OK);
        // The pending session is gone: the second-factor page sends back to the login.
        c.set_cookie(PENDING_COOKIE, "stale");
        c.get("/login/second-factor").await.assert_redirect("/login");

        // Someone whose second factor is TOTP only is not offered a passkey.
        let physician = t.login("physician").await;
        let token = physician.cookie(SESSION_COOKIE).expect("session").to_string();
        let actor = t.app.authenticate_session(&token, None).await.expect("actor");
        let (secret, _) = t.app.totp_begin(&actor).await.expect("totp begin");
        let code = totp_code(&secret, "physician", t.app.now()).expect("code");
        t.app.totp_confirm(&actor, &code).await.expect("totp confirm");
        let mut c = t.client();
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        let page = c.get("/login/second-factor").await;
        page.assert_status(StatusCode::OK);
        assert_eq!(page.count("#passkey-second-factor"), 0, "{b}");
    }
}

#[tokio::test]
async fn refusals_are_json_in_the_page_language_with_the_right_status() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        let mut auth = SoftAuthenticator::new(ORIGIN);
        register(&mut nurse, &mut auth, "iPhone").await.assert_status(StatusCode::CREATED);

        let p = post_json(&mut nurse, "/account/passkeys/register/start", &json!({ "name": " " })).await;
        assert_eq!(refusal(&p, StatusCode::UNPROCESSABLE_ENTITY), "入力してください。", "{b}");

        let mut anon = t.client();
        let p = post_json(&mut anon, "/account/passkeys/register/start", &json!({ "name": "key" })).await;
        assert_eq!(
            refusal(&p, StatusCode::UNAUTHORIZED),
            "ログインの有効期限が切れました。もう一度ログインしてください。",
            "{b}"
        );
        let token = anon.csrf_token().await;
        let req = Request::builder()
            .method(Method::POST)
            .uri("/login/passkey/start")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-csrf-token", token)
            .body(Body::from("{not json"))
            .expect("request");
        let p = anon.send(req).await;
        assert_eq!(
            refusal(&p, StatusCode::BAD_REQUEST),
            "送信された内容を読み取れませんでした。入力を確認してもう一度お試しください。",
            "{b}"
        );
        // Without the CSRF header the request is refused before the handler.
        let p =
            anon.post_raw("/login/passkey/start", "application/json", br#"{"login":"nurse"}"#.to_vec()).await;
        p.assert_status(StatusCode::FORBIDDEN);

        // A forged answer, in Japanese and in English; then a replayed one.
        let (start, answer) = start_login(&mut anon, &mut auth, "nurse").await;
        let mut forged = answer.unwrap();
        corrupt(&mut forged, "signature");
        let p = finish_login(&mut anon, &start, forged).await;
        assert_eq!(refusal(&p, StatusCode::UNAUTHORIZED), PASSKEY_FAILED, "{b}");
        assert!(anon.cookie(SESSION_COOKIE).is_none(), "{b}");
        anon.accept_language = Some("en".into());
        let (start, answer) = start_login(&mut anon, &mut auth, "nurse").await;
        let answer = answer.unwrap();
        let mut forged = answer.clone();
        corrupt(&mut forged, "signature");
        let p = finish_login(&mut anon, &start, forged).await;
        assert_eq!(refusal(&p, StatusCode::UNAUTHORIZED), "The passkey could not be verified.", "{b}");
        let p = finish_login(&mut anon, &start, answer).await;
        assert_eq!(
            refusal(&p, StatusCode::UNAUTHORIZED),
            "The passkey request has expired. Please try again.",
            "{b}"
        );
        anon.accept_language = None;

        // An unknown login gets a challenge like anyone's; answering it fails the same way.
        let (start, answer) = start_login(&mut anon, &mut auth, "no-such-person").await;
        assert_eq!(answer.err(), Some(Refusal::NotAllowed), "{b}");
        assert!(
            start["options"]["publicKey"]["allowCredentials"].as_array().is_some_and(|a| !a.is_empty()),
            "{b}"
        );

        // Five failures pause the account: 429 with Retry-After.
        for _ in 0..3 {
            let (start, answer) = start_login(&mut anon, &mut auth, "nurse").await;
            let mut forged = answer.unwrap();
            corrupt(&mut forged, "signature");
            let p = finish_login(&mut anon, &start, forged).await;
            assert_eq!(refusal(&p, StatusCode::UNAUTHORIZED), PASSKEY_FAILED, "{b}");
        }
        let p = post_json(&mut anon, "/login/passkey/start", &json!({ "login": "nurse" })).await;
        assert!(refusal(&p, StatusCode::TOO_MANY_REQUESTS).contains("分後"), "{b}");
        assert!(p.header("retry-after").is_some(), "{b}: no Retry-After");
    }
}

#[tokio::test]
async fn the_security_page_lists_every_passkey_with_a_remove_button() {
    let t = TestApp::new(tsunagu_store::testing::sqlite().await).await;
    let mut nurse = t.login("nurse").await;
    let mut phone = SoftAuthenticator::new(ORIGIN);
    let mut key = SoftAuthenticator::new(ORIGIN);
    register(&mut nurse, &mut phone, "A").await.assert_status(StatusCode::CREATED);
    // A second registration excludes the first credential, so the same authenticator refuses.
    let start = post_json(&mut nurse, "/account/passkeys/register/start", &json!({ "name": "B" })).await;
    let start = json_of(&start);
    let excluded: Vec<&str> = start["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .expect("excludeCredentials")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(excluded, phone.credential_ids());
    assert_eq!(phone.create(&start["options"]).err(), Some(Refusal::InvalidState));
    register(&mut nurse, &mut key, "B").await.assert_status(StatusCode::CREATED);
    let page = nurse.get("/account/security").await;
    assert_eq!(page.texts("#passkey-list .passkey-name"), ["A", "B"]);
    assert_eq!(page.count("#passkey-list form[action$=\"/delete\"] button"), 2);
}
