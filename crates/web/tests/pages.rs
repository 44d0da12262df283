//! Router tests of the pages: each drives the whole router (`tower::ServiceExt::oneshot`) with a
//! browser-like client, reads the HTML with CSS selectors, and runs on every backend the store
//! harness finds (SQLite always; PostgreSQL wherever installed, and always under `CI=true`).

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use axum::http::StatusCode;
use support::{Client, DEMO_PASSWORD, Page, TestApp};
use tsunagu_app::auth::totp_code;
use tsunagu_domain::Clock;
use tsunagu_store::Backend;
use tsunagu_web::session::{PENDING_COOKIE, SESSION_COOKIE};

const BAD_CREDENTIALS: &str = "ログインIDまたはパスワードが正しくありません。";
const CSRF_MESSAGE: &str =
    "フォームの有効期限が切れたか、正しくない送信です。ページを開き直してもう一度お試しください。";
const FORBIDDEN_MESSAGE: &str = "この操作を行う権限がありません。";
const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const BAD_FORM_MESSAGE: &str = "送信された内容を読み取れませんでした。入力を確認してもう一度お試しください。";
const BAD_CODE: &str = "コードが正しくないか、有効期限が切れています。";

/// Every demo account with the name its home page greets it by.
const DEMO_PEOPLE: &[(&str, &str)] = &[
    ("admin", "管理 花子"),
    ("physician", "山田 太郎"),
    ("physician2", "佐藤 健一"),
    ("nurse", "中村 美穂"),
    ("pharmacist", "小林 直子"),
    ("caremanager", "田中 由美"),
    ("helper", "伊藤 幸子"),
    ("er-physician", "高橋 誠"),
    ("coordinator", "渡辺 恵"),
    ("center-staff", "加藤 真理"),
    ("city", "吉田 修"),
    ("commissioner", "松本 和夫"),
    ("shortstay", "清水 陽子"),
    ("auditor", "監査 一郎"),
];

fn audit_actions(events: &[tsunagu_domain::audit::StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.action.as_str()).collect()
}

/// A form's fields, in order.
type Fields<'a> = Vec<(&'static str, &'a str)>;

/// A valid new-organisation form, with some fields changed.
fn org_form<'a>(changes: &[(&'static str, &'a str)]) -> Fields<'a> {
    let mut f: Fields<'a> = vec![
        ("kind", "visiting_nursing_station"),
        ("name", "夕暮訪問看護"),
        ("name_kana", "ゆうぐれ ほうもんかんご"),
        ("address", "石川県金沢市片町1-1"),
        ("phone", "076-000-0000"),
    ];
    for (k, v) in changes {
        let slot = f.iter_mut().find(|(name, _)| name == k).unwrap_or_else(|| panic!("no field {k}"));
        slot.1 = v;
    }
    f
}

/// Fetches the security page's TOTP set-up, confirms it with the current code, and returns the
/// secret and the recovery codes shown.
async fn enrol_totp(t: &TestApp, c: &mut Client, login: &str) -> (String, Vec<String>) {
    let b = t.name();
    let p = c.post_form("/account/totp/start", &[]).await;
    p.assert_status(StatusCode::OK);
    let secret = p.text("#totp-secret");
    assert!(secret.len() >= 32, "{b}: the TOTP secret looks too short: {secret}");
    let code = totp_code(&secret, login, t.clock.now()).expect("totp code");
    let p = c.post_form("/account/totp/confirm", &[("code", &code)]).await;
    p.assert_status(StatusCode::OK);
    let codes = p.texts("#recovery-codes li");
    (secret, codes)
}

/// A six-digit code that is none of the codes valid around now.
fn wrong_code(t: &TestApp, secret: &str, login: &str) -> String {
    let now = t.clock.now();
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|s| totp_code(secret, login, now.plus_seconds(*s)).expect("totp code"))
        .collect();
    ["000000", "111111", "222222", "333333"]
        .iter()
        .find(|c| !valid.contains(&(**c).to_string()))
        .expect("a wrong code")
        .to_string()
}

fn assert_no_inline_script_or_style(p: &Page) {
    let b = &p.backend;
    assert_eq!(p.count("script:not([src])"), 0, "{b}: {}: an inline script", p.what);
    assert_eq!(p.count("style"), 0, "{b}: {}: an inline style sheet", p.what);
    assert_eq!(p.count("[style]"), 0, "{b}: {}: an inline style attribute", p.what);
    let html = p.html();
    for el in html.root_element().descendent_elements() {
        for (name, _) in el.value().attrs() {
            assert!(!name.starts_with("on"), "{b}: {}: an inline event handler {name}", p.what);
        }
        if let Some(src) = el.value().attr("src") {
            assert!(src.starts_with("/static/"), "{b}: {}: a script or image from elsewhere: {src}", p.what);
        }
    }
}

#[tokio::test]
async fn under_ci_the_pages_are_tested_on_postgresql_too() {
    let backends: Vec<Backend> = support::all().await.iter().map(|t| t.backend).collect();
    assert_eq!(backends[0], Backend::Sqlite);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert_eq!(backends, [Backend::Sqlite, Backend::Postgres]);
    }
}

#[tokio::test]
async fn the_login_page_is_japanese_by_default_and_english_on_request_with_a_strict_csp() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.client();
        let p = c.get("/login").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr("html", "lang").as_deref(), Some("ja"), "{b}");
        assert_eq!(p.text("title"), "ログイン — つなぐ", "{b}");
        assert_eq!(p.text("h1"), "ログイン", "{b}");
        let csp = p.header("content-security-policy").unwrap_or_else(|| panic!("{b}: no CSP header"));
        assert_eq!(csp, tsunagu_web::security_headers::CSP, "{b}");
        for part in ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]
        {
            assert!(csp.split(';').any(|d| d.trim() == part), "{b}: the CSP lacks `{part}`: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{b}: a lax CSP: {csp}");
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"), "{b}");
        assert_no_inline_script_or_style(&p);

        // Asked for by the browser.
        let mut en = t.client();
        en.accept_language = Some("en-GB,en;q=0.9,ja;q=0.5".into());
        let p = en.get("/login").await;
        assert_eq!(p.attr("html", "lang").as_deref(), Some("en"), "{b}");
        assert_eq!(p.text("title"), "Log in — Tsunagu", "{b}");
        assert_no_inline_script_or_style(&p);
        // Japanese preferred over English stays Japanese.
        let mut ja = t.client();
        ja.accept_language = Some("ja,en;q=0.8".into());
        assert_eq!(ja.get("/login").await.attr("html", "lang").as_deref(), Some("ja"), "{b}");

        // Chosen with the switch, which returns to the page and sticks.
        let p = c.get("/lang/en?next=/login").await;
        p.assert_redirect("/login");
        let p = c.get("/login").await;
        assert_eq!(p.attr("html", "lang").as_deref(), Some("en"), "{b}");
        assert_eq!(p.text("h1"), "Log in", "{b}");
        // The switch goes to this site only.
        c.get("/lang/ja?next=//evil.example/").await.assert_redirect("/");
        assert_eq!(c.get("/login").await.attr("html", "lang").as_deref(), Some("ja"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn every_demo_account_logs_in_and_is_greeted_by_name() {
    assert_eq!(
        tsunagu_app::demo::demo_logins(),
        DEMO_PEOPLE.iter().map(|p| p.0).collect::<Vec<_>>(),
        "the demo accounts changed: update this test"
    );
    for t in support::all().await {
        let b = t.name();
        for (login, name) in DEMO_PEOPLE {
            let mut c = t.client();
            let p = c.login(login, DEMO_PASSWORD).await;
            p.assert_redirect("/");
            assert!(c.cookie(SESSION_COOKIE).is_some(), "{b}: {login}: no session cookie");
            let p = c.get("/").await;
            p.assert_status(StatusCode::OK);
            assert_eq!(p.text("h1"), format!("ようこそ、{name}さん"), "{b}: {login}");
            assert_eq!(p.texts("dl dd").first().map(String::as_str), Some(*login), "{b}: {login}");
            let admin_link = p.count(r#"nav a[href="/admin"]"#);
            assert_eq!(admin_link, usize::from(*login == "admin"), "{b}: {login}: the admin link");
            // A logged-in person visiting the login page goes home.
            c.get("/login").await.assert_redirect("/");
        }
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_five_pause_the_account_even_for_the_right_password() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.client();
        for i in 1..=5 {
            let p = c.login("physician", &format!("wrong-password-{i}")).await;
            p.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(p.text(".error-message"), BAD_CREDENTIALS, "{b}: attempt {i}");
            assert_eq!(p.attr("#login", "value").as_deref(), Some("physician"), "{b}: the login is kept");
            assert!(c.cookie(SESSION_COOKIE).is_none(), "{b}: a session after a wrong password");
        }
        c.get("/").await.assert_redirect("/login");

        // Paused: the right password is refused too, from any address.
        for mut who in [c, t.client()] {
            let p = who.login("physician", DEMO_PASSWORD).await;
            p.assert_status(StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(p.header("retry-after"), Some("30"), "{b}");
            let msg = p.text(".error-message");
            assert!(msg.contains("約1分後"), "{b}: the pause message: {msg}");
            assert!(who.cookie(SESSION_COOKIE).is_none(), "{b}: a session while paused");
            who.get("/").await.assert_redirect("/login");
        }
        // Another account is not paused.
        t.client().login("nurse", DEMO_PASSWORD).await.assert_redirect("/");

        // Each further failure doubles the pause.
        t.clock.advance_seconds(31);
        let mut c = t.client();
        c.login("physician", "wrong-again-1").await.assert_status(StatusCode::UNAUTHORIZED);
        let p = c.login("physician", DEMO_PASSWORD).await;
        p.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(p.header("retry-after"), Some("60"), "{b}");
        t.clock.advance_seconds(61);
        c.login("physician", "wrong-again-2").await.assert_status(StatusCode::UNAUTHORIZED);
        let p = c.login("physician", DEMO_PASSWORD).await;
        p.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(p.header("retry-after"), Some("120"), "{b}");
        let msg = p.text(".error-message");
        assert!(msg.contains("約2分後"), "{b}: the pause message: {msg}");

        // After the pause the right password works, and the count starts again.
        t.clock.advance_seconds(121);
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/");
        assert!(c.get("/").await.text("h1").contains("山田 太郎"), "{b}");
        let mut d = t.client();
        d.login("physician", "one-slip").await.assert_status(StatusCode::UNAUTHORIZED);
        d.login("physician", DEMO_PASSWORD).await.assert_redirect("/");

        let events = t.audit().await;
        let throttled = events.iter().filter(|e| e.event.action == "login.throttled").count();
        assert_eq!(throttled, 4, "{b}: every paused attempt is audited");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn twenty_failures_from_one_address_pause_that_address_for_every_login() {
    for t in support::all().await {
        let b = t.name();
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77));
        let mut c = t.client_from(ip);
        let mut logins: Vec<String> = (1..=10).map(|i| format!("ghost{i:02}")).collect();
        for l in ["physician", "physician2", "pharmacist", "caremanager", "coordinator"] {
            logins.push(l.into());
            logins.push(l.into());
        }
        assert_eq!(logins.len(), 20);
        for (i, l) in logins.iter().enumerate() {
            let p = c.login(l, "not-the-password").await;
            p.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(p.text(".error-message"), BAD_CREDENTIALS, "{b}: attempt {} as {l}", i + 1);
        }
        // The address is paused, even for an account with no failures and the right password.
        let p = t.client_from(ip).login("helper", DEMO_PASSWORD).await;
        p.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert!(p.header("retry-after").is_some(), "{b}: no Retry-After");
        assert!(p.text(".error-message").contains("約1分後"), "{b}");
        // Not the accounts, from elsewhere.
        t.client().login("helper", DEMO_PASSWORD).await.assert_redirect("/");
        t.client().login("physician", DEMO_PASSWORD).await.assert_redirect("/");

        let events = t.audit().await;
        assert!(
            events
                .iter()
                .any(|e| e.event.action == "login.throttled"
                    && e.event.address.as_deref() == Some("192.0.2.77")),
            "{b}: the paused attempt is audited with its address"
        );
        t.clock.advance_seconds(31);
        t.client_from(ip).login("helper", DEMO_PASSWORD).await.assert_redirect("/");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    for t in support::all().await {
        let b = t.name();
        let mut a = t.login("admin").await;
        a.get("/admin/organisations/new").await.assert_status(StatusCode::OK);
        let before = t.organisation_names().await;
        let fields = [("kind", "pharmacy"), ("name", "偽造薬局"), ("name_kana", "ぎぞうやっきょく")];

        let p = a.post_form_as_is("/admin/organisations/new", &fields).await;
        p.assert_error_page(StatusCode::FORBIDDEN, CSRF_MESSAGE);
        let wrong = "A".repeat(43);
        let mut with_wrong = vec![("csrf", wrong.as_str())];
        with_wrong.extend_from_slice(&fields);
        let p = a.post_form_as_is("/admin/organisations/new", &with_wrong).await;
        p.assert_error_page(StatusCode::FORBIDDEN, CSRF_MESSAGE);
        // Another browser's token is no better.
        let other = t.client().csrf_token().await;
        let mut with_other = vec![("csrf", other.as_str())];
        with_other.extend_from_slice(&fields);
        let p = a.post_form_as_is("/admin/organisations/new", &with_other).await;
        p.assert_error_page(StatusCode::FORBIDDEN, CSRF_MESSAGE);
        assert_eq!(t.organisation_names().await, before, "{b}: a refused form changed something");

        // Logging in needs the token too.
        let mut anon = t.client();
        anon.get("/login").await;
        let p = anon.post_form_as_is("/login", &[("login", "nurse"), ("password", DEMO_PASSWORD)]).await;
        p.assert_error_page(StatusCode::FORBIDDEN, CSRF_MESSAGE);
        assert!(anon.cookie(SESSION_COOKIE).is_none(), "{b}: logged in without a CSRF token");

        let refused = t.audit().await.iter().filter(|e| e.event.action == "access.refused").count();
        assert_eq!(refused, 4, "{b}: every refused form is audited");

        // With the token the same form works: the refusals above were the token's doing.
        a.post_form("/admin/organisations/new", &fields).await.assert_redirect("/admin");
        assert!(t.organisation_names().await.contains(&"偽造薬局".to_string()), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn disabling_an_account_ends_its_open_session_at_once_and_enabling_does_not_revive_it() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        nurse.get("/").await.assert_status(StatusCode::OK);
        let old_session = nurse.cookie(SESSION_COOKIE).expect("session").to_string();

        let mut admin = t.login("admin").await;
        let p = admin.get("/admin/people").await;
        assert_eq!(p.count(r#"form[action="/admin/people/nurse/disable"]"#), 1, "{b}");
        admin.post_form("/admin/people/nurse/disable", &[]).await.assert_redirect("/admin/people");
        let p = admin.get("/admin/people").await;
        assert_eq!(p.count(r#"li.person.disabled[data-login="nurse"]"#), 1, "{b}: nurse shown disabled");
        assert_eq!(p.count(r#"form[action="/admin/people/nurse/enable"]"#), 1, "{b}");

        // The very next request of the open session.
        nurse.get("/").await.assert_redirect("/login");
        let p = t.client().login("nurse", DEMO_PASSWORD).await;
        p.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            p.text(".error-message"),
            "このアカウントは無効にされています。管理者に連絡してください。",
            "{b}"
        );

        admin.post_form("/admin/people/nurse/enable", &[]).await.assert_redirect("/admin/people");
        let mut revived = t.client();
        revived.set_cookie(SESSION_COOKIE, &old_session);
        revived.get("/").await.assert_redirect("/login");
        // A new login works again.
        t.login("nurse").await.get("/").await.assert_status(StatusCode::OK);

        let actions = audit_actions(&t.audit().await).join(" ");
        assert!(
            actions.contains("account.disabled") && actions.contains("account.enabled"),
            "{b}: {actions}"
        );
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_after_twelve_hours_however_active() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.login("pharmacist").await;
        t.advance_minutes(29);
        c.get("/").await.assert_status(StatusCode::OK);
        t.advance_minutes(29);
        c.get("/").await.assert_status(StatusCode::OK);
        let token = c.cookie(SESSION_COOKIE).expect("session").to_string();
        t.advance_minutes(31);
        c.get("/").await.assert_redirect("/login");
        assert!(c.cookie(SESSION_COOKIE).is_none(), "{b}: the dead session's cookie is kept");
        // Ended, not just refused once.
        t.clock.advance_seconds(-31 * 60);
        let mut again = t.client();
        again.set_cookie(SESSION_COOKIE, &token);
        again.get("/").await.assert_redirect("/login");

        let mut c = t.login("caremanager").await;
        for step in 1..=28 {
            t.advance_minutes(25);
            c.get("/").await.assert_status(StatusCode::OK);
            assert!(step * 25 < 12 * 60, "{b}");
        }
        // 11 h 40 min so far; 25 minutes later the session is over 12 hours old.
        t.advance_minutes(25);
        c.get("/").await.assert_redirect("/login");

        let reasons: Vec<String> = t
            .audit()
            .await
            .iter()
            .filter(|e| e.event.action == "session.expired")
            .filter_map(|e| e.event.detail.clone())
            .collect();
        assert_eq!(reasons, ["idle", "absolute"], "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_totp_second_factor_is_enrolled_then_needed_and_recovery_codes_work_once() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.login("physician").await;
        let (secret, codes) = enrol_totp(&t, &mut c, "physician").await;
        assert_eq!(codes.len(), 10, "{b}: recovery codes: {codes:?}");
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), 10, "{b}: repeated recovery codes");
        // Shown once only.
        let p = c.get("/account/security").await;
        assert_eq!(p.count("#recovery-codes"), 0, "{b}: recovery codes shown again");
        assert_eq!(p.text("#recovery-left"), "10", "{b}");
        assert!(!p.body.contains(&codes[0]), "{b}: a recovery code on a later page");
        c.logout().await.assert_redirect("/login");

        // The password alone now leads only to the second step (a little later: the code used
        // to enrol is spent).
        t.clock.advance_seconds(30);
        let mut c = t.client();
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        assert!(c.cookie(SESSION_COOKIE).is_none(), "{b}: a full session before the second step");
        let pending = c.cookie(PENDING_COOKIE).expect("pending cookie").to_string();
        c.get("/").await.assert_redirect("/login");
        c.get("/admin").await.assert_redirect("/login");
        // Nor does the pending token work as a session token.
        let mut sneaky = t.client();
        sneaky.set_cookie(SESSION_COOKIE, &pending);
        sneaky.get("/").await.assert_redirect("/login");

        let p = c.get("/login/second-factor").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("main strong"), "physician", "{b}");
        let p = c.post_form("/login/second-factor", &[("code", &wrong_code(&t, &secret, "physician"))]).await;
        p.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(p.text(".error-message"), BAD_CODE, "{b}");
        assert!(c.cookie(SESSION_COOKIE).is_none(), "{b}: a session after a wrong code");
        let code = totp_code(&secret, "physician", t.clock.now()).expect("code");
        c.post_form("/login/second-factor", &[("code", &code)]).await.assert_redirect("/");
        assert!(c.cookie(PENDING_COOKIE).is_none(), "{b}: the pending cookie stays");
        assert!(c.get("/").await.text("h1").contains("山田 太郎"), "{b}");
        // The pending token was spent.
        let mut replay = t.client();
        replay.set_cookie(PENDING_COOKIE, &pending);
        replay.get("/login/second-factor").await.assert_redirect("/login");
        c.logout().await;

        // A code works once: the same code again, still within its time, is refused.
        let mut c = t.client();
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        let p = c.post_form("/login/second-factor", &[("code", &code)]).await;
        p.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(p.text(".error-message"), BAD_CODE, "{b}: a replayed code");
        t.clock.advance_seconds(30);
        let next = totp_code(&secret, "physician", t.clock.now()).expect("code");
        c.post_form("/login/second-factor", &[("code", &next)]).await.assert_redirect("/");
        c.logout().await;

        // A recovery code, typed loosely, works once.
        let mut c = t.client();
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        let typed = codes[3].to_uppercase().replace('-', " ");
        c.post_form("/login/second-factor", &[("code", &typed)]).await.assert_redirect("/");
        assert_eq!(c.get("/account/security").await.text("#recovery-left"), "9", "{b}");
        c.logout().await;
        let mut c = t.client();
        c.login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        let p = c.post_form("/login/second-factor", &[("code", &codes[3])]).await;
        p.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(p.text(".error-message"), BAD_CODE, "{b}: a used recovery code");
        c.get("/").await.assert_redirect("/login");

        let actions = audit_actions(&t.audit().await).join(" ");
        for a in ["totp.enabled", "recovery_code.used", "login.second_factor_failed"] {
            assert!(actions.contains(a), "{b}: no {a} in the audit log");
        }
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn when_a_second_factor_is_required_a_person_without_one_sees_only_the_security_page() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let p = admin.get("/admin").await;
        assert_eq!(p.count(r#"input[name="required"][checked]"#), 0, "{b}: required from the start");
        admin
            .post_form("/admin/settings/second-factor", &[("required", "1")])
            .await
            .assert_redirect("/admin");

        // The administrator too has none yet.
        admin.get("/admin").await.assert_redirect("/account/security");
        let mut nurse = t.login("nurse").await;
        for path in ["/", "/admin", "/admin/people"] {
            nurse.get(path).await.assert_redirect("/account/security");
        }
        let p = nurse.get("/account/security").await;
        p.assert_status(StatusCode::OK);
        assert!(p.text(".notice[role=alert]").contains("二段階認証が必須"), "{b}");
        // A form elsewhere is refused the same way.
        let p = nurse.post_form("/admin/organisations/new", &[("kind", "pharmacy"), ("name", "x")]).await;
        p.assert_redirect("/account/security");

        enrol_totp(&t, &mut nurse, "nurse").await;
        nurse.get("/").await.assert_status(StatusCode::OK);
        enrol_totp(&t, &mut admin, "admin").await;
        let p = admin.get("/admin").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count(r#"input[name="required"][checked]"#), 1, "{b}: the setting is shown");
        // Others still have to enrol.
        t.login("helper").await.get("/").await.assert_redirect("/account/security");

        // Turned off, nobody is held back.
        admin.post_form("/admin/settings/second-factor", &[]).await.assert_redirect("/admin");
        t.login("city").await.get("/").await.assert_status(StatusCode::OK);
        let changes = t.audit().await.iter().filter(|e| e.event.action == "setting.changed").count();
        assert_eq!(changes, 2, "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn the_admin_page_lists_the_support_centers_in_the_citys_order_and_refuses_others() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let p = admin.get("/admin").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#center-count"), "21", "{b}");
        let numbers = p.texts("table.centers tbody tr td:first-child");
        let want: Vec<String> = (1..=19)
            .flat_map(|n| {
                let mut v = vec![n.to_string()];
                if n == 6 || n == 14 {
                    v.push(format!("{n}b"));
                }
                v
            })
            .collect();
        assert_eq!(numbers, want, "{b}: centers out of the city's order");
        assert_eq!(p.count("table.centers tbody tr.support_center_branch"), 2, "{b}");
        let names = p.own_texts("table.centers tbody tr td:nth-child(2)");
        let districts = p.texts("table.centers tbody tr td.districts");
        assert_eq!((names.len(), districts.len()), (21, 21), "{b}");
        let districts_of = |center: &str| {
            let i = names
                .iter()
                .position(|n| *n == format!("地域包括支援センター{center}"))
                .unwrap_or_else(|| panic!("{b}: no row for {center}: {names:?}"));
            // The city's list gives each center's districts in an order of its own; the page
            // shows them by name (see the report), so they are compared as sets here.
            let mut d: Vec<String> = districts[i].split('、').map(str::to_string).collect();
            d.sort();
            d
        };
        let set = |s: &str| {
            let mut d: Vec<String> = s.split(';').map(str::to_string).collect();
            d.sort();
            d
        };
        assert_eq!(districts_of("きしかわ"), set("森本"), "{b}");
        assert_eq!(districts_of("もろえ"), set("諸江;浅野川;川北"), "{b}");
        assert_eq!(districts_of("まがえ"), set("額;扇台;四十万"), "{b}");
        assert_eq!(districts_of("ひろおか"), set("長町;長土塀;芳斉;長田;西"), "{b}");
        let branches: Vec<(String, String)> = p
            .own_texts("table.centers tbody tr.support_center_branch td:nth-child(2)")
            .into_iter()
            .zip(p.texts("table.centers tbody tr.support_center_branch td:nth-child(2) span.muted"))
            .collect();
        assert_eq!(
            branches.first().map(|(n, parent)| (n.as_str(), parent.as_str())),
            Some((
                "地域包括支援センターたがみブランチ（第二金沢朱鷺の苑）",
                "親センター： 地域包括支援センターたがみ"
            )),
            "{b}: {branches:?}"
        );
        assert_eq!(branches.len(), 2, "{b}: {branches:?}");
        assert_eq!(
            names.iter().position(|n| n.contains("たがみブランチ")),
            Some(6),
            "{b}: the branch follows its center"
        );
        let others = p.texts("ul.orgs li");
        assert!(
            others.iter().any(|o| o.contains("金沢中央総合病院") && o.contains("救急病院")),
            "{b}: the emergency hospital is not listed: {others:?}"
        );

        for login in ["physician", "city"] {
            let mut c = t.login(login).await;
            assert_eq!(
                c.get("/").await.count(r#"nav a[href="/admin"]"#),
                0,
                "{b}: {login} sees the admin link"
            );
            for path in ["/admin", "/admin/people", "/admin/people/invite", "/admin/organisations/new"] {
                c.get(path).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            }
            let before = t.organisation_names().await.len();
            let p =
                c.post_form("/admin/organisations/new", &[("kind", "pharmacy"), ("name", "勝手薬局")]).await;
            p.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            c.post_form("/admin/people/nurse/disable", &[])
                .await
                .assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            assert_eq!(t.organisation_names().await.len(), before, "{b}: {login} created an organisation");
            assert!(
                t.client().login("nurse", DEMO_PASSWORD).await.status.is_redirection(),
                "{b}: nurse disabled by {login}"
            );

            let id = t.user_id(login).await;
            let refused = t
                .app
                .store
                .recent_audit_events(Some(&id), 50)
                .await
                .expect("audit")
                .into_iter()
                .filter(|e| e.event.action == "access.refused" && e.event.detail.as_deref() == Some("admin"))
                .count();
            assert_eq!(refused, 6, "{b}: {login}'s refusals are not all audited");
        }
        t.client().get("/admin").await.assert_redirect("/login");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn creating_an_organisation_lists_it_and_each_bad_field_gets_its_own_message() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let p = admin.get("/admin/organisations/new").await;
        p.assert_status(StatusCode::OK);
        assert!(p.count(r#"select#kind option[value="pharmacy"]"#) == 1, "{b}: no kind to choose");

        let long = "長".repeat(101);
        let cases: Vec<(Fields, &str, &str)> = vec![
            (org_form(&[("name", "   ")]), "#name", "入力してください。"),
            (org_form(&[("name", &long)]), "#name", "100文字以内で入力してください。"),
            (
                org_form(&[("name_kana", "Yugure")]),
                "#name_kana",
                "ひらがなまたはカタカナで入力してください。",
            ),
            (org_form(&[("kind", "spaceport")]), "#kind", "選択肢にない値です。"),
            (org_form(&[("phone", "076-ABC")]), "#phone", "電話番号は半角数字とハイフンで入力してください。"),
        ];
        let before = t.organisation_names().await;
        for (fields, field, message) in &cases {
            let p = admin.post_form("/admin/organisations/new", fields).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(p.text(&format!("{field} + p.field-error")), *message, "{b}: {field}");
            assert_eq!(p.count("p.field-error"), 1, "{b}: {field}: other fields were blamed too");
            assert_eq!(
                t.organisation_names().await,
                before,
                "{b}: {field}: a refused form created something"
            );
        }
        // What was typed is kept for correction.
        let p = admin.post_form("/admin/organisations/new", &cases[2].0).await;
        assert_eq!(p.attr("#name", "value").as_deref(), Some("夕暮訪問看護"), "{b}");
        assert_eq!(p.attr("#name_kana", "value").as_deref(), Some("Yugure"), "{b}");
        // Several bad fields at once each get their message.
        let p = admin
            .post_form("/admin/organisations/new", &[("kind", ""), ("name", ""), ("name_kana", "abc")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("p.field-error"), 3, "{b}");

        admin
            .post_form("/admin/organisations/new", &org_form(&[("name", "夕暮訪問看護ステーション")]))
            .await
            .assert_redirect("/admin");
        let hundred = "百".repeat(100);
        let at_limit = org_form(&[("name", &hundred)]);
        admin.post_form("/admin/organisations/new", &at_limit).await.assert_redirect("/admin");
        let p = admin.get("/admin").await;
        let listed = p.texts("ul.orgs li strong");
        assert!(listed.contains(&"夕暮訪問看護ステーション".to_string()), "{b}: not listed: {listed:?}");
        assert!(listed.contains(&hundred), "{b}: the 100-character name is not listed");
        assert_eq!(t.organisation_names().await.len(), before.len() + 2, "{b}");
        let created = t.audit().await.iter().filter(|e| e.event.action == "organisation.created").count();
        assert_eq!(created, 2, "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn an_invitation_link_sets_a_password_once_and_a_taken_login_is_refused() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        admin.get("/admin/people/invite").await.assert_status(StatusCode::OK);
        let nursing = t
            .app
            .store
            .list_organisations()
            .await
            .expect("orgs")
            .into_iter()
            .find(|o| o.name == "兼六訪問看護ステーション")
            .expect("the demo nursing station")
            .id;
        let person = |login: &'static str| {
            vec![
                ("login", login),
                ("display_name", "森 美咲"),
                ("display_name_kana", "もり みさき"),
                ("profession", "nurse"),
                ("email", "misaki@example.jp"),
                ("organisations", nursing.as_str()),
            ]
        };
        let p = admin.post_form("/admin/people/invite", &person("misaki")).await;
        p.assert_status(StatusCode::OK);
        let link = p.text("#invitation-link");
        let path = link
            .strip_prefix(t.app.config.public_url.trim_end_matches('/'))
            .unwrap_or_else(|| panic!("{b}: the link is not on the public address: {link}"))
            .to_string();
        assert!(path.starts_with("/invite/") && path.len() > 40, "{b}: {path}");
        let p = admin.get("/admin/people").await;
        assert_eq!(p.count(r#"li.person[data-login="misaki"]"#), 1, "{b}: the invited person is not listed");
        // Invited, not yet able to log in.
        t.client().login("misaki", "").await.assert_status(StatusCode::UNAUTHORIZED);

        let mut m = t.client();
        let p = m.get(&path).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.texts("main p").first().map(String::as_str), Some("森 美咲（misaki）"), "{b}");
        let p = m.post_form(&path, &[("password", "short-pass-1"), ("confirm", "short-pass-1")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#password + p.field-error"), "パスワードは13文字以上にしてください。", "{b}");
        assert!(!p.body.contains("short-pass-1"), "{b}: the refused password is echoed");
        let p = m
            .post_form(&path, &[("password", "a-long-enough-secret"), ("confirm", "a-long-enough-secre")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#confirm + p.field-error"), "確認用のパスワードが一致しません。", "{b}");
        let p = m
            .post_form(&path, &[("password", "a-long-enough-secret"), ("confirm", "a-long-enough-secret")])
            .await;
        p.assert_redirect("/login");

        let mut c = t.client();
        c.login("misaki", "a-long-enough-secret").await.assert_redirect("/");
        let home = c.get("/").await;
        assert_eq!(home.text("h1"), "ようこそ、森 美咲さん", "{b}");
        assert!(home.body.contains("兼六訪問看護ステーション"), "{b}: the affiliation is not shown");

        // The link is spent.
        let mut again = t.client();
        again.get(&path).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        again.get("/login").await;
        let p = again
            .post_form(&path, &[("password", "taken-over-password"), ("confirm", "taken-over-password")])
            .await;
        p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        t.client().login("misaki", "taken-over-password").await.assert_status(StatusCode::UNAUTHORIZED);
        t.client().login("misaki", "a-long-enough-secret").await.assert_redirect("/");
        // A made-up link is not found either.
        t.client()
            .get(&format!("/invite/{}", "x".repeat(43)))
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);

        let users_before = t.app.store.count_users().await.expect("count");
        for taken in ["misaki", "nurse"] {
            let p = admin.post_form("/admin/people/invite", &person(taken)).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(
                p.text("#login + p.field-error"),
                "このログインIDはすでに使われています。",
                "{b}: {taken}"
            );
            assert_eq!(p.count("#invitation-link"), 0, "{b}: a link for a refused invitation");
        }
        let p = admin.post_form("/admin/people/invite", &person("森")).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.text("#login + p.field-error").starts_with("ログインIDは半角の英小文字"), "{b}");
        assert_eq!(
            t.app.store.count_users().await.expect("count"),
            users_before,
            "{b}: a refused invitation added someone"
        );

        let actions = audit_actions(&t.audit().await).join(" ");
        assert!(
            actions.contains("person.invited") && actions.contains("invitation.accepted"),
            "{b}: {actions}"
        );
        t.assert_audit_chain_intact().await;
    }
}

/// The id of the organisation with this name.
async fn org_id(t: &TestApp, name: &str) -> String {
    t.app
        .store
        .list_organisations()
        .await
        .expect("orgs")
        .into_iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("{}: no organisation {name}", t.name()))
        .id
}

/// The organisation ids a person belongs to, sorted.
async fn affiliation_ids(t: &TestApp, login: &str) -> Vec<String> {
    let id = t.user_id(login).await;
    let mut v: Vec<String> = t
        .app
        .store
        .affiliations_of(&id)
        .await
        .expect("affiliations")
        .into_iter()
        .map(|a| a.organisation_id)
        .collect();
    v.sort();
    v
}

async fn duties_of(t: &TestApp, login: &str) -> Vec<String> {
    t.app.store.duties_of(&t.user_id(login).await).await.expect("duties")
}

/// Everything stored about an account that the edit form could change.
async fn account_state(
    t: &TestApp,
    login: &str,
) -> (tsunagu_store::people::UserRow, Vec<String>, Vec<String>) {
    let u = t.app.store.user_by_login(login).await.expect("user").expect("the account");
    (u, duties_of(t, login).await, affiliation_ids(t, login).await)
}

/// The nurse's details as the edit form holds them, with some fields changed.
fn nurse_form<'a>(org: &'a str, changes: &[(&'static str, &'a str)]) -> Fields<'a> {
    let mut f: Fields<'a> = vec![
        ("display_name", "中村 美穂"),
        ("display_name_kana", "なかむら みほ"),
        ("profession", "nurse"),
        ("email", ""),
        ("organisations", org),
    ];
    for (k, v) in changes {
        match f.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => f.push((k, v)),
        }
    }
    f
}

fn count_action(events: &[tsunagu_domain::audit::StoredEvent], action: &str) -> usize {
    events.iter().filter(|e| e.event.action == action).count()
}

/// Form fields with owned values, for forms filled from what is stored.
type OwnedFields = Vec<(&'static str, String)>;

fn refs(f: &OwnedFields) -> Fields<'_> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `f` with each change made: a field of that name is set, else added.
fn changed(mut f: OwnedFields, changes: &[(&'static str, &str)]) -> OwnedFields {
    for (k, v) in changes {
        match f.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => f.push((k, v.to_string())),
        }
    }
    f
}

/// An organisation's edit form as its page fills it in.
async fn stored_org_form(t: &TestApp, name: &str) -> OwnedFields {
    let o = t.app.store.organisation(&org_id(t, name).await).await.expect("read").expect("org");
    let mut f = vec![
        ("kind", o.kind),
        ("name", o.name),
        ("name_kana", o.name_kana),
        ("address", o.address),
        ("phone", o.phone),
    ];
    if o.is_emergency_hospital {
        f.push(("emergency", "1".to_string()));
    }
    f
}

#[tokio::test]
async fn editing_a_persons_duties_and_details_takes_effect_on_their_next_request() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        nurse.get("/admin").await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        let nursing = org_id(&t, "兼六訪問看護ステーション").await;
        let clinic = org_id(&t, "犀川ホームクリニック").await;
        assert_eq!(
            affiliation_ids(&t, "nurse").await,
            vec![nursing.clone()],
            "{b}: the demo nurse's station"
        );

        let mut admin = t.login("admin").await;
        let p = admin.get("/admin/people").await;
        assert_eq!(
            p.count(r#"li.person[data-login="nurse"] a[href="/admin/people/nurse"]"#),
            1,
            "{b}: no link"
        );
        let p = admin.get("/admin/people/nurse").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#person-login"), "nurse", "{b}");
        assert_eq!(p.text("#person-name"), "中村 美穂", "{b}");
        assert_eq!(p.text("#person-profession"), "看護師", "{b}");
        assert_eq!(p.text("#person-duties"), "—", "{b}");
        assert_eq!(p.text("#person-organisations"), "兼六訪問看護ステーション", "{b}");
        assert_eq!(p.text("#person-state"), "有効", "{b}");
        assert!(p.text("#person-second-factors").contains("未設定"), "{b}");
        assert_eq!(p.text("#person-created"), "2026-11-24 09:30", "{b}: created, in Japan time");
        // The form holds what is stored, with a CSRF field, and phone-friendly inputs.
        assert_eq!(p.attr("form#edit", "action").as_deref(), Some("/admin/people/nurse"), "{b}");
        assert_eq!(p.count(r#"form#edit input[name="csrf"]"#), 1, "{b}");
        assert_eq!(p.attr("#display_name", "value").as_deref(), Some("中村 美穂"), "{b}");
        assert_eq!(p.attr("#display_name", "maxlength").as_deref(), Some("60"), "{b}");
        assert_eq!(p.attr("#email", "type").as_deref(), Some("email"), "{b}");
        assert_eq!(p.count(r#"select#profession option[value="nurse"][selected]"#), 1, "{b}");
        assert_eq!(p.count(r#"#duties input[type="checkbox"]"#), 6, "{b}");
        assert_eq!(p.count(r#"#duties input[checked]"#), 0, "{b}");
        assert_eq!(p.attr("select#organisations option[selected]", "value"), Some(nursing.clone()), "{b}");
        assert_eq!(p.count("#invitation"), 0, "{b}: an active account has no invitation to re-send");
        // Every form on the page carries the CSRF token.
        assert_eq!(p.count("main form"), p.count(r#"main form input[name="csrf"]"#), "{b}");
        assert_no_inline_script_or_style(&p);

        // Made an administrator, with a second organisation and an address.
        t.advance_minutes(5);
        let fields = nurse_form(
            &nursing,
            &[("email", "miho@example.jp"), ("duties", "system_administrator"), ("organisations", &clinic)],
        );
        let mut fields = fields;
        fields.push(("organisations", nursing.as_str()));
        let p = admin.post_form("/admin/people/nurse", &fields).await;
        p.assert_redirect("/admin/people/nurse?done=saved");
        let p = admin.get("/admin/people/nurse?done=saved").await;
        assert_eq!(p.text("#done"), "保存しました。", "{b}");
        assert_eq!(p.text("#person-duties"), "システム管理者", "{b}");
        assert_eq!(p.text("#person-email"), "miho@example.jp", "{b}");
        let mut both = vec![nursing.clone(), clinic.clone()];
        both.sort();
        assert_eq!(affiliation_ids(&t, "nurse").await, both, "{b}");

        // Her open session sees the new duty on its very next request.
        let p = nurse.get("/admin").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count(r#"nav a[href="/admin"]"#), 1, "{b}: the admin link");
        nurse.get("/admin/people/physician").await.assert_status(StatusCode::OK);
        assert!(nurse.get("/").await.body.contains("犀川ホームクリニック"), "{b}: the new affiliation");

        let events = t.audit().await;
        let updated: Vec<_> = events.iter().filter(|e| e.event.action == "person.updated").collect();
        assert_eq!(updated.len(), 1, "{b}");
        let e = &updated[0].event;
        assert_eq!(e.actor_login.as_deref(), Some("admin"), "{b}");
        assert_eq!(e.target_id, Some(t.user_id("nurse").await), "{b}");
        assert_eq!(e.at, t.clock.now(), "{b}");
        let detail = e.detail.clone().unwrap_or_default();
        for part in ["email", "duties:+system_administrator", "affiliations"] {
            assert!(detail.split(' ').any(|d| d == part), "{b}: the audit detail lacks {part}: {detail}");
        }
        assert!(!detail.contains("miho"), "{b}: personal data in the audit log: {detail}");

        // Renamed, made a physician's clerk, duty taken away again: gone on her next request.
        let fields = nurse_form(
            &nursing,
            &[
                ("display_name", "中村 美穂子"),
                ("display_name_kana", "ナカムラ ミホコ"),
                ("profession", "clerk"),
            ],
        );
        admin
            .post_form("/admin/people/nurse", &fields)
            .await
            .assert_redirect("/admin/people/nurse?done=saved");
        nurse.get("/admin").await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        assert!(nurse.get("/").await.text("h1").contains("中村 美穂子"), "{b}: the new name");
        let (u, duties, orgs) = account_state(&t, "nurse").await;
        assert_eq!(
            (u.display_name.as_str(), u.display_name_kana.as_str(), u.profession.as_str(), u.email),
            ("中村 美穂子", "ナカムラ ミホコ", "clerk", None),
            "{b}"
        );
        assert!(duties.is_empty(), "{b}: {duties:?}");
        assert_eq!(orgs, std::slice::from_ref(&nursing), "{b}");
        assert!(u.password_hash.is_some(), "{b}: the password survives an edit");
        let p = admin.get("/admin/people").await;
        assert!(p.text(r#"li.person[data-login="nurse"] strong"#).contains("中村 美穂子"), "{b}: the list");

        // Saving what is already stored changes nothing and logs nothing.
        admin
            .post_form("/admin/people/nurse", &fields)
            .await
            .assert_redirect("/admin/people/nurse?done=saved");
        assert_eq!(count_action(&t.audit().await, "person.updated"), 2, "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn an_administrator_cannot_take_away_their_own_administrator_duty() {
    const OWN_ADMIN: &str =
        "自分自身のシステム管理者の役割は外せません。外す必要がある場合は、他の管理者に依頼してください。";
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let before = account_state(&t, "admin").await;
        let mine: OwnedFields = vec![
            ("display_name", before.0.display_name.clone()),
            ("display_name_kana", before.0.display_name_kana.clone()),
            ("profession", before.0.profession.clone()),
            ("organisations", before.2.first().cloned().unwrap_or_default()),
        ];

        let p = admin.get("/admin/people/admin").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#second-factors"), 0, "{b}: no reset of one's own second factors here");
        assert_eq!(p.count(r#"form[action="/admin/people/admin/disable"]"#), 0, "{b}");
        for changes in [&[][..], &[("duties", "city_official"), ("display_name", "乗っ取り")][..]] {
            let f = changed(mine.clone(), changes);
            let p = admin.post_form("/admin/people/admin", &refs(&f)).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(p.text("#duties + p.field-error"), OWN_ADMIN, "{b}: {changes:?}");
            assert_eq!(p.count("p.field-error"), 1, "{b}");
            assert_eq!(account_state(&t, "admin").await, before, "{b}: a refused edit changed something");
        }
        admin.get("/admin").await.assert_status(StatusCode::OK);
        // Keeping the duty, the rest may change.
        let f = changed(mine.clone(), &[("duties", "system_administrator"), ("email", "hanako@example.jp")]);
        admin
            .post_form("/admin/people/admin", &refs(&f))
            .await
            .assert_redirect("/admin/people/admin?done=saved");

        // Another administrator may take it away.
        let nursing = org_id(&t, "兼六訪問看護ステーション").await;
        let f = nurse_form(&nursing, &[("duties", "system_administrator")]);
        admin.post_form("/admin/people/nurse", &f).await.assert_redirect("/admin/people/nurse?done=saved");
        let mut nurse = t.login("nurse").await;
        let f = changed(mine.clone(), &[("duties", "city_official")]);
        nurse
            .post_form("/admin/people/admin", &refs(&f))
            .await
            .assert_redirect("/admin/people/admin?done=saved");
        assert_eq!(duties_of(&t, "admin").await, ["city_official"], "{b}");
        admin.get("/admin").await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        assert_eq!(count_action(&t.audit().await, "person.updated"), 3, "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_bad_person_edit_gets_422_with_the_fields_message_and_changes_nothing() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let nursing = org_id(&t, "兼六訪問看護ステーション").await;
        let before = account_state(&t, "nurse").await;
        let long = "長".repeat(61);
        let cases: Vec<(Fields, &str, &str)> = vec![
            (nurse_form(&nursing, &[("display_name", "  ")]), "#display_name", "入力してください。"),
            (
                nurse_form(&nursing, &[("display_name", &long)]),
                "#display_name",
                "60文字以内で入力してください。",
            ),
            (
                nurse_form(&nursing, &[("display_name_kana", "Nakamura")]),
                "#display_name_kana",
                "ひらがなまたはカタカナで入力してください。",
            ),
            (nurse_form(&nursing, &[("profession", "astronaut")]), "#profession", "選択肢にない値です。"),
            (
                nurse_form(&nursing, &[("email", "miho at example")]),
                "#email",
                "メールアドレスの形式が正しくありません。",
            ),
            (nurse_form(&nursing, &[("duties", "emperor")]), "#duties", "選択肢にない値です。"),
            (nurse_form("not-an-id", &[]), "#organisations", "選択肢にない値です。"),
            (
                nurse_form("01900000-0000-7000-8000-000000000000", &[]),
                "#organisations",
                "選択肢にない値です。",
            ),
        ];
        for (fields, field, message) in &cases {
            // Each bad form also tries to make her an administrator: none of it may stick.
            let mut fields = fields.clone();
            fields.push(("duties", "system_administrator"));
            let p = admin.post_form("/admin/people/nurse", &fields).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(p.text(&format!("{field} + p.field-error")), *message, "{b}: {field}");
            assert_eq!(p.count("p.field-error"), 1, "{b}: {field}: other fields were blamed too");
            assert_eq!(
                account_state(&t, "nurse").await,
                before,
                "{b}: {field}: a refused edit changed something"
            );
        }
        // What was typed is kept for correction.
        let p = admin.post_form("/admin/people/nurse", &cases[2].0).await;
        assert_eq!(p.attr("#display_name_kana", "value").as_deref(), Some("Nakamura"), "{b}");
        assert_eq!(p.text("#person-name"), "中村 美穂", "{b}: the account shows what is stored");
        // Several at once each get their message.
        let p = admin
            .post_form("/admin/people/nurse", &[("display_name", ""), ("profession", ""), ("email", "x")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("p.field-error"), 3, "{b}");
        // A person who does not exist is not found.
        admin.get("/admin/people/nobody").await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        admin
            .post_form("/admin/people/nobody", &nurse_form(&nursing, &[]))
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        assert_eq!(account_state(&t, "nurse").await, before, "{b}");
        assert_eq!(count_action(&t.audit().await, "person.updated"), 0, "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn non_administrators_are_refused_every_new_admin_page_and_form_and_it_is_audited() {
    for t in support::all().await {
        let b = t.name();
        let nursing = org_id(&t, "兼六訪問看護ステーション").await;
        let center = org_id(&t, "地域包括支援センターきしかわ").await;
        let org_path = format!("/admin/organisations/{nursing}");
        let center_path = format!("/admin/organisations/{center}");
        let names_before = t.organisation_names().await;
        let nurse_before = account_state(&t, "nurse").await;
        for login in ["nurse", "physician", "center-staff"] {
            let mut c = t.login(login).await;
            for path in
                ["/admin/people/nurse", "/admin/people/nobody", org_path.as_str(), center_path.as_str()]
            {
                c.get(path).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            }
            let grant = nurse_form(&nursing, &[("duties", "system_administrator")]);
            let posts: Vec<(&str, Fields)> = vec![
                ("/admin/people/nurse", grant),
                ("/admin/people/helper/invitation", vec![]),
                ("/admin/people/pharmacist/second-factors/reset", vec![]),
                (org_path.as_str(), org_form(&[("name", "乗っ取り訪問看護")])),
                (
                    center_path.as_str(),
                    vec![("kind", "support_center"), ("name", "x"), ("districts", "小坂")],
                ),
            ];
            for (path, fields) in &posts {
                c.post_form(path, fields).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            }
            let id = t.user_id(login).await;
            let refused = t
                .app
                .store
                .recent_audit_events(Some(&id), 50)
                .await
                .expect("audit")
                .into_iter()
                .filter(|e| e.event.action == "access.refused" && e.event.detail.as_deref() == Some("admin"))
                .count();
            assert_eq!(refused, 9, "{b}: {login}'s refusals are not all audited");
            // Without a session, the login page.
            t.client().get("/admin/people/nurse").await.assert_redirect("/login");
            let mut anon = t.client();
            anon.post_form("/admin/people/nurse", &[("duties", "system_administrator")])
                .await
                .assert_redirect("/login");
        }
        assert_eq!(t.organisation_names().await, names_before, "{b}: an organisation changed");
        assert_eq!(account_state(&t, "nurse").await, nurse_before, "{b}: the nurse changed");
        assert_eq!(
            t.app.store.center_for_district("小坂").await.expect("center").map(|o| o.name).as_deref(),
            Some("地域包括支援センターふくひさ"),
            "{b}"
        );
        let events = t.audit().await;
        for a in ["person.updated", "invitation.resent", "second_factors.reset", "organisation.updated"] {
            assert_eq!(count_action(&events, a), 0, "{b}: {a}");
        }
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_resent_invitation_works_and_the_old_link_no_longer_does() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let nursing = org_id(&t, "兼六訪問看護ステーション").await;
        let invite = [
            ("login", "misaki"),
            ("display_name", "森 美咲"),
            ("display_name_kana", "もり みさき"),
            ("profession", "nurse"),
            ("organisations", nursing.as_str()),
        ];
        let p = admin.post_form("/admin/people/invite", &invite).await;
        p.assert_status(StatusCode::OK);
        let base = t.app.config.public_url.trim_end_matches('/').to_string();
        let path_of = |p: &Page| {
            p.text("#invitation-link").strip_prefix(&base).expect("on the public address").to_string()
        };
        let old = path_of(&p);

        let p = admin.get("/admin/people/misaki").await;
        assert_eq!(p.text("#person-state"), "招待中", "{b}");
        assert_eq!(p.text("#invitation-open"), "現在の招待リンクの有効期限： 2026-12-01 09:30", "{b}");
        assert_eq!(p.count(r#"form[action="/admin/people/misaki/invitation"] input[name="csrf"]"#), 1, "{b}");

        t.advance_minutes(20);
        let p = admin.post_form("/admin/people/misaki/invitation", &[]).await;
        p.assert_status(StatusCode::OK);
        let new = path_of(&p);
        assert_ne!(new, old, "{b}: the same link again");
        assert!(new.starts_with("/invite/") && new.len() > 40, "{b}: {new}");
        assert_eq!(p.text("#invitation-open"), "現在の招待リンクの有効期限： 2026-12-01 09:50", "{b}");

        // The old link is dead, before and after the new one is used.
        let mut m = t.client();
        m.get(&old).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        let p =
            m.post_form(&old, &[("password", "an-old-link-secret"), ("confirm", "an-old-link-secret")]).await;
        p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        m.get(&new).await.assert_status(StatusCode::OK);
        m.post_form(&new, &[("password", "a-long-enough-secret"), ("confirm", "a-long-enough-secret")])
            .await
            .assert_redirect("/login");
        t.client().login("misaki", "a-long-enough-secret").await.assert_redirect("/");
        t.client().login("misaki", "an-old-link-secret").await.assert_status(StatusCode::UNAUTHORIZED);

        // Once she has a password, there is nothing to re-send.
        let p = admin.get("/admin/people/misaki").await;
        assert_eq!(p.text("#person-state"), "有効", "{b}");
        assert_eq!(p.count("#invitation"), 0, "{b}");
        let p = admin.post_form("/admin/people/misaki/invitation", &[]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            p.text(".error-message"),
            "この方はすでにパスワードを設定しているため、招待を再送できません。",
            "{b}"
        );
        assert_eq!(p.count("#invitation-link"), 0, "{b}");

        // An invitation that ran out is shown as such and can be sent again.
        admin
            .post_form(
                "/admin/people/invite",
                &[("login", "late"), ("display_name", "遅野 遅子"), ("profession", "clerk")],
            )
            .await
            .assert_status(StatusCode::OK);
        t.advance_minutes(8 * 24 * 60);
        let mut admin = t.login("admin").await;
        let p = admin.get("/admin/people/late").await;
        assert_eq!(p.count("#invitation-none"), 1, "{b}: the expired invitation is shown as expired");
        let p = admin.post_form("/admin/people/late/invitation", &[]).await;
        p.assert_status(StatusCode::OK);
        let late = path_of(&p);
        t.client().get(&late).await.assert_status(StatusCode::OK);
        // Not to a disabled account.
        admin.post_form("/admin/people/late/disable", &[]).await.assert_redirect("/admin/people");
        let p = admin.post_form("/admin/people/late/invitation", &[]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.text(".error-message").starts_with("無効にされたアカウントには"), "{b}");

        let resent: Vec<_> =
            t.audit().await.into_iter().filter(|e| e.event.action == "invitation.resent").collect();
        assert_eq!(resent.len(), 2, "{b}");
        assert_eq!(resent[0].event.actor_login.as_deref(), Some("admin"), "{b}");
        assert_eq!(resent[0].event.target_id, Some(t.user_id("misaki").await), "{b}");
        assert_eq!(resent[0].event.detail.as_deref(), Some("ended 1"), "{b}");
        assert_eq!(
            resent[1].event.detail.as_deref(),
            Some("ended 0"),
            "{b}: the expired one needed no ending"
        );
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn resetting_second_factors_ends_the_persons_sessions_and_lets_them_in_with_the_password_alone() {
    for t in support::all().await {
        let b = t.name();
        let mut physician = t.login("physician").await;
        let (_secret, codes) = enrol_totp(&t, &mut physician, "physician").await;
        assert_eq!(codes.len(), 10, "{b}");
        let mut pharmacist = t.login("pharmacist").await;
        // A passkey for the pharmacist (as stored; no authenticator is needed to lose one).
        let pharmacist_id = t.user_id("pharmacist").await;
        let mut tx = t.app.store.begin().await.expect("begin");
        tx.insert_passkey(&tsunagu_store::security::PasskeyRow {
            id: "pk-lost-phone".into(),
            user_id: pharmacist_id.clone(),
            name: "なくしたスマートフォン".into(),
            credential_id: "cred-lost-phone".into(),
            credential_json: "{}".into(),
            created_at: t.clock.now().micros(),
            last_used_at: None,
        })
        .await
        .expect("passkey");
        tx.commit().await.expect("commit");
        t.clock.advance_seconds(30);
        t.client().login("physician", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");
        t.client().login("pharmacist", DEMO_PASSWORD).await.assert_redirect("/login/second-factor");

        let mut admin = t.login("admin").await;
        let p = admin.get("/admin/people/physician").await;
        assert!(p.text("#person-second-factors").contains("設定済み"), "{b}");
        assert_eq!(
            p.count(r#"form[action="/admin/people/physician/second-factors/reset"] input[name="csrf"]"#),
            1,
            "{b}"
        );
        assert_eq!(admin.get("/admin/people/pharmacist").await.text("#person-passkeys"), "1", "{b}");
        assert_eq!(admin.get("/admin/people/helper").await.count("#no-second-factor"), 1, "{b}");

        for (login, c) in [("physician", &mut physician), ("pharmacist", &mut pharmacist)] {
            c.get("/").await.assert_status(StatusCode::OK);
            let p = admin.post_form(&format!("/admin/people/{login}/second-factors/reset"), &[]).await;
            p.assert_redirect(&format!("/admin/people/{login}?done=reset"));
            let p = admin.get(&format!("/admin/people/{login}?done=reset")).await;
            assert_eq!(
                p.text("#done"),
                "二段階認証をリセットしました。本人のセッションは終了しています。",
                "{b}"
            );
            assert!(p.text("#person-second-factors").contains("未設定"), "{b}");
            assert_eq!(p.text("#person-passkeys"), "0", "{b}");
            // Their open session (and the half-finished login) ended at once.
            c.get("/").await.assert_redirect("/login");
            // The password alone now logs them in.
            let mut again = t.client();
            again.login(login, DEMO_PASSWORD).await.assert_redirect("/");
            again.get("/account/security").await.assert_status(StatusCode::OK);
        }
        let physician_id = t.user_id("physician").await;
        assert_eq!(t.app.store.unused_recovery_codes(&physician_id).await.expect("codes"), 0, "{b}");
        assert!(t.app.store.passkeys_of(&pharmacist_id).await.expect("passkeys").is_empty(), "{b}");
        let u = t.app.store.user_by_id(&physician_id).await.expect("user").expect("physician");
        assert_eq!((u.totp_secret, u.totp_enabled_at), (None, None), "{b}");

        // Not one's own (that is the security page's job), and not someone who does not exist.
        let p = admin.post_form("/admin/people/admin/second-factors/reset", &[]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            p.text(".error-message"),
            "自分の二段階認証は「ログインと安全」のページで変更してください。",
            "{b}"
        );
        admin.get("/admin").await.assert_status(StatusCode::OK);
        admin
            .post_form("/admin/people/nobody/second-factors/reset", &[])
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);

        let resets: Vec<_> =
            t.audit().await.into_iter().filter(|e| e.event.action == "second_factors.reset").collect();
        assert_eq!(resets.len(), 2, "{b}");
        assert_eq!(resets[0].event.actor_login.as_deref(), Some("admin"), "{b}");
        assert_eq!(resets[0].event.target_id.as_deref(), Some(physician_id.as_str()), "{b}");
        assert_eq!(resets[0].event.detail.as_deref(), Some("totp passkeys 0 sessions 2"), "{b}");
        assert_eq!(resets[1].event.target_id.as_deref(), Some(pharmacist_id.as_str()), "{b}");
        assert_eq!(resets[1].event.detail.as_deref(), Some("no_totp passkeys 1 sessions 2"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn an_edited_organisation_is_listed_with_its_changes_and_bad_input_changes_nothing() {
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let id = org_id(&t, "兼六訪問看護ステーション").await;
        let path = format!("/admin/organisations/{id}");
        let p = admin.get("/admin").await;
        assert_eq!(p.count(&format!(r#"ul.orgs li strong a[href="{path}"]"#)), 1, "{b}: no link to edit");
        assert_eq!(p.count(r#"table.centers a.edit"#), 21, "{b}: each center links to its page");

        let p = admin.get(&path).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("h1"), "兼六訪問看護ステーション", "{b}");
        assert_eq!(p.attr("#name", "value").as_deref(), Some("兼六訪問看護ステーション"), "{b}");
        assert_eq!(p.count(r#"select#kind option[value="visiting_nursing_station"][selected]"#), 1, "{b}");
        assert_eq!(p.attr("#phone", "type").as_deref(), Some("tel"), "{b}");
        assert_eq!(p.count("#districts"), 0, "{b}: only support centers have districts");
        assert_eq!(p.count("main form"), p.count(r#"main form input[name="csrf"]"#), "{b}");
        assert_no_inline_script_or_style(&p);

        let before = t.app.store.organisation(&id).await.expect("read").expect("org");
        let long = "長".repeat(101);
        let cases: Vec<(Fields, &str, &str)> = vec![
            (org_form(&[("name", "   ")]), "#name", "入力してください。"),
            (org_form(&[("name", &long)]), "#name", "100文字以内で入力してください。"),
            (
                org_form(&[("name_kana", "Kenroku")]),
                "#name_kana",
                "ひらがなまたはカタカナで入力してください。",
            ),
            (org_form(&[("kind", "spaceport")]), "#kind", "選択肢にない値です。"),
            (org_form(&[("phone", "076-ABC")]), "#phone", "電話番号は半角数字とハイフンで入力してください。"),
        ];
        for (fields, field, message) in &cases {
            let p = admin.post_form(&path, fields).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(p.text(&format!("{field} + p.field-error")), *message, "{b}: {field}");
            assert_eq!(p.count("p.field-error"), 1, "{b}: {field}");
            let now = t.app.store.organisation(&id).await.expect("read");
            assert_eq!(now.as_ref(), Some(&before), "{b}: {field}: a refused edit changed something");
        }
        let mut emergency = org_form(&[]);
        emergency.push(("emergency", "1"));
        let p = admin.post_form(&path, &emergency).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("p.field-error"), "救急病院に指定できるのは病院・診療所だけです。", "{b}");

        t.advance_minutes(10);
        let renamed = org_form(&[
            ("kind", "visiting_nursing_station"),
            ("name", "兼六訪問看護ステーション 本店"),
            ("name_kana", "けんろくほうもんかんごすてーしょん ほんてん"),
            ("address", "石川県金沢市兼六町1-1"),
            ("phone", "076-111-2222"),
        ]);
        admin.post_form(&path, &renamed).await.assert_redirect("/admin");
        let p = admin.get("/admin").await;
        let listed = p.texts("ul.orgs li strong");
        assert!(listed.contains(&"兼六訪問看護ステーション 本店".to_string()), "{b}: not listed: {listed:?}");
        assert!(!listed.contains(&"兼六訪問看護ステーション".to_string()), "{b}: the old name is listed");
        let after = t.app.store.organisation(&id).await.expect("read").expect("org");
        assert_eq!(after.updated_at, t.clock.now().micros(), "{b}: updated_at");
        assert_eq!(after.created_at, before.created_at, "{b}: created_at");
        assert_eq!(
            (after.address.as_str(), after.phone.as_str()),
            ("石川県金沢市兼六町1-1", "076-111-2222"),
            "{b}"
        );
        let p = admin.get(&path).await;
        assert_eq!(p.text("#org-updated"), "2026-11-24 09:40", "{b}");
        // Its people see the new name.
        assert!(t.login("nurse").await.get("/").await.body.contains("兼六訪問看護ステーション 本店"), "{b}");

        // A hospital becomes an emergency hospital.
        let hospital = org_id(&t, "卯辰山在宅支援病院").await;
        let f = changed(stored_org_form(&t, "卯辰山在宅支援病院").await, &[("emergency", "1")]);
        admin
            .post_form(&format!("/admin/organisations/{hospital}"), &refs(&f))
            .await
            .assert_redirect("/admin");
        assert!(
            t.app.store.organisation(&hospital).await.expect("read").expect("org").is_emergency_hospital,
            "{b}"
        );

        // Not found: an unknown id, or no id at all.
        for bad in [
            format!("/admin/organisations/{}", "0190aaaa-0000-7000-8000-000000000000"),
            "/admin/organisations/x".into(),
        ] {
            admin.get(&bad).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
            admin.post_form(&bad, &renamed).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        }
        let updates: Vec<_> =
            t.audit().await.into_iter().filter(|e| e.event.action == "organisation.updated").collect();
        assert_eq!(updates.len(), 2, "{b}");
        assert_eq!(updates[0].event.target_id.as_deref(), Some(id.as_str()), "{b}");
        assert_eq!(updates[0].event.actor_login.as_deref(), Some("admin"), "{b}");
        assert_eq!(updates[0].event.detail.as_deref(), Some("name name_kana address phone"), "{b}");
        assert_eq!(updates[1].event.detail.as_deref(), Some("is_emergency_hospital"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_district_served_by_another_center_is_refused_naming_it_and_moves_once_released() {
    const KISHIKAWA: &str = "地域包括支援センターきしかわ";
    const FUKUHISA: &str = "地域包括支援センターふくひさ";
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let kishikawa = format!("/admin/organisations/{}", org_id(&t, KISHIKAWA).await);
        let fukuhisa = format!("/admin/organisations/{}", org_id(&t, FUKUHISA).await);
        let kishikawa_form = stored_org_form(&t, KISHIKAWA).await;
        let fukuhisa_form = stored_org_form(&t, FUKUHISA).await;
        let center = |name: &str, districts: &str| {
            let base = if name == KISHIKAWA { kishikawa_form.clone() } else { fukuhisa_form.clone() };
            changed(base, &[("districts", districts)])
        };
        let served = |t: &TestApp, d: &'static str| {
            let store = t.app.store.clone();
            async move { store.center_for_district(d).await.expect("center").map(|o| o.name) }
        };

        let p = admin.get(&kishikawa).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("textarea#districts"), "森本", "{b}");
        assert!(p.attr("#districts", "maxlength").is_some(), "{b}");
        assert_eq!(admin.get(&fukuhisa).await.text("textarea#districts"), "千坂 小坂", "{b}: one per line");

        // Taken from another center: refused, naming the center that serves it.
        let p = admin.post_form(&kishikawa, &refs(&center(KISHIKAWA, "森本\n小坂"))).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            p.text("#districts + p.field-error"),
            "「小坂」はすでに地域包括支援センターふくひさの担当地域です。先にそのセンターから外してください。",
            "{b}"
        );
        assert_eq!(p.text("textarea#districts"), "森本 小坂", "{b}: what was typed is kept");
        assert_eq!(served(&t, "小坂").await.as_deref(), Some(FUKUHISA), "{b}");
        assert_eq!(t.app.store.districts_of(&org_id(&t, KISHIKAWA).await).await.expect("d"), ["森本"], "{b}");
        // Named twice, or too long.
        let p = admin.post_form(&kishikawa, &refs(&center(KISHIKAWA, "森本\n森本"))).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#districts + p.field-error"), "「森本」が2回入力されています。", "{b}");
        let long = format!("森本\n{}", "地".repeat(41));
        let p = admin.post_form(&kishikawa, &refs(&center(KISHIKAWA, &long))).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#districts + p.field-error"), "40文字以内で入力してください。", "{b}");
        // A center with districts cannot stop being a center.
        let pharmacy = changed(center(KISHIKAWA, "森本"), &[("kind", "pharmacy")]);
        let p = admin.post_form(&kishikawa, &refs(&pharmacy)).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.text("#districts + p.field-error").starts_with("担当地域を持てるのは"), "{b}");

        // Released by its center, the district moves; blank lines and CRLF are fine.
        admin.post_form(&fukuhisa, &refs(&center(FUKUHISA, "千坂\n"))).await.assert_redirect("/admin");
        admin
            .post_form(&kishikawa, &refs(&center(KISHIKAWA, "小坂\r\n\r\n森本\r\n")))
            .await
            .assert_redirect("/admin");
        assert_eq!(served(&t, "小坂").await.as_deref(), Some(KISHIKAWA), "{b}");
        assert_eq!(
            t.app.store.districts_of(&org_id(&t, KISHIKAWA).await).await.expect("d"),
            ["小坂", "森本"],
            "{b}: in the order given"
        );
        let p = admin.get("/admin").await;
        let row = p
            .texts("table.centers tbody tr")
            .into_iter()
            .find(|r| r.contains("きしかわ"))
            .unwrap_or_default();
        assert!(row.contains("小坂、森本"), "{b}: the list shows the move: {row}");
        assert_eq!(
            t.app.center_for_district("小坂").await.expect("route").map(|o| o.name).as_deref(),
            Some(KISHIKAWA),
            "{b}: residents of the district are routed to the new center"
        );

        let updates: Vec<String> = t
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "organisation.updated")
            .filter_map(|e| e.event.detail)
            .collect();
        assert_eq!(updates, ["districts", "districts"], "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn logging_out_ends_the_session_for_good() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.login("helper").await;
        let token = c.cookie(SESSION_COOKIE).expect("session").to_string();
        c.get("/").await.assert_status(StatusCode::OK);
        c.logout().await.assert_redirect("/login");
        assert!(c.cookie(SESSION_COOKIE).is_none(), "{b}: the cookie was not removed");
        c.get("/").await.assert_redirect("/login");
        // The old cookie, kept by someone, is worth nothing.
        let mut thief = t.client();
        thief.set_cookie(SESSION_COOKIE, &token);
        thief.get("/").await.assert_redirect("/login");
        thief.get("/account/security").await.assert_redirect("/login");
        // Logging out is a form: a plain link cannot do it.
        let mut d = t.login("helper").await;
        d.get("/logout").await.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        d.get("/").await.assert_status(StatusCode::OK);
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn malformed_requests_get_the_japanese_error_page_without_what_was_sent() {
    const LOGIN: &str = "leaky-login";
    const PASSWORD: &str = "Leaky-Secret-Password-42";
    for t in support::all().await {
        let b = t.name();
        let mut admin = t.login("admin").await;
        let token = admin.csrf_token().await;
        let mut pages: Vec<Page> = Vec::new();

        // Not a form at all.
        let json = format!(r#"{{"csrf":"{token}","login":"{LOGIN}","password":"{PASSWORD}"}}"#);
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/json")
            .header("x-csrf-token", &token)
            .body(axum::body::Body::from(json))
            .expect("request");
        let p = admin.send(req).await;
        p.assert_error_page(StatusCode::UNSUPPORTED_MEDIA_TYPE, BAD_FORM_MESSAGE);
        pages.push(p);
        // No content type.
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/admin/organisations/new")
            .header("x-csrf-token", &token)
            .body(axum::body::Body::from(format!("name={LOGIN}")))
            .expect("request");
        let p = admin.send(req).await;
        p.assert_error_page(StatusCode::UNSUPPORTED_MEDIA_TYPE, BAD_FORM_MESSAGE);
        pages.push(p);
        // A field given twice.
        let body = format!("csrf={token}&login={LOGIN}&login=x&password={PASSWORD}");
        let p = admin.post_raw("/login", "application/x-www-form-urlencoded", body.into_bytes()).await;
        assert!(p.status.is_client_error(), "{b}: a doubled field: {}", p.status);
        p.assert_error_page(p.status, BAD_FORM_MESSAGE);
        pages.push(p);
        let body = format!("csrf={token}&login={LOGIN}&login=x&display_name={PASSWORD}&display_name=y");
        let p = admin
            .post_raw("/admin/people/invite", "application/x-www-form-urlencoded", body.into_bytes())
            .await;
        assert!(p.status.is_client_error(), "{b}: a doubled field: {}", p.status);
        p.assert_error_page(p.status, BAD_FORM_MESSAGE);
        pages.push(p);
        // Invalid percent-encoding and bytes that are not UTF-8.
        let mut body = format!("csrf={token}&login=%E3%81{LOGIN}%zz&password={PASSWORD}%").into_bytes();
        body.extend_from_slice(b"\xff\xfe");
        let p = admin.post_raw("/login", "application/x-www-form-urlencoded", body).await;
        // Decoded leniently it is a wrong login; refused as unreadable it is the error page.
        match p.status {
            StatusCode::UNAUTHORIZED => assert_eq!(p.text(".error-message"), BAD_CREDENTIALS, "{b}"),
            s => _ = p.assert_error_page(s, BAD_FORM_MESSAGE),
        }
        assert!(!p.body.contains(PASSWORD), "{b}: the password is echoed");
        assert!(admin.get("/").await.status == StatusCode::OK, "{b}: the admin's session survives");
        // A body over the limit.
        let big = format!("csrf={token}&name={}", "a".repeat(300 * 1024));
        let p = admin
            .post_raw("/admin/organisations/new", "application/x-www-form-urlencoded", big.into_bytes())
            .await;
        p.assert_error_page(StatusCode::PAYLOAD_TOO_LARGE, "送信された内容が大きすぎます。");
        pages.push(p);

        // Unknown paths and methods, logged in or not.
        let p = admin.get("/no/such/page").await;
        p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        pages.push(p);
        let p = t.client().get(&format!("/{LOGIN}?password={PASSWORD}")).await;
        p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        pages.push(p);
        t.client()
            .get("/static/missing.js")
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        t.client().get("/lang/fr").await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        let p = admin.get("/admin/people/nurse/disable").await;
        p.assert_error_page(StatusCode::METHOD_NOT_ALLOWED, "この方法ではこのページを利用できません。");
        // In English when asked.
        let mut en = t.client();
        en.accept_language = Some("en".into());
        let p = en.get("/no/such/page").await;
        p.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(p.attr("html", "lang").as_deref(), Some("en"), "{b}");

        for p in &pages {
            assert!(!p.body.contains(LOGIN), "{b}: {} shows the login sent", p.what);
            assert!(!p.body.contains(PASSWORD), "{b}: {} shows the password sent", p.what);
            assert!(p.header("x-request-id").is_some(), "{b}: {} has no request id", p.what);
            assert!(p.header("content-security-policy").is_some(), "{b}: {} has no CSP", p.what);
            assert_no_inline_script_or_style(p);
        }
        // Nothing was changed or logged in by any of it.
        assert!(!t.organisation_names().await.iter().any(|n| n.contains(LOGIN)), "{b}");
        let logins = t.audit().await.iter().filter(|e| e.event.action == "login").count();
        assert_eq!(logins, 1, "{b}: only the admin logged in");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn logins_failures_logouts_and_admin_changes_are_audited_with_who_and_where() {
    for t in support::all().await {
        let b = t.name();
        let from = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
        let mut c = t.client_from(from);
        c.login("admin", "wrong-password-x").await.assert_status(StatusCode::UNAUTHORIZED);
        c.login("nobody-here", "wrong-password-y").await.assert_status(StatusCode::UNAUTHORIZED);
        c.login("admin", DEMO_PASSWORD).await.assert_redirect("/");
        c.post_form("/admin/organisations/new", &[("kind", "pharmacy"), ("name", "監査薬局")])
            .await
            .assert_redirect("/admin");
        c.post_form(
            "/admin/people/invite",
            &[
                ("login", "audited"),
                ("display_name", "監査 一郎"),
                ("display_name_kana", "かんさ いちろう"),
                ("profession", "clerk"),
            ],
        )
        .await
        .assert_status(StatusCode::OK);
        c.post_form("/admin/people/helper/disable", &[]).await.assert_redirect("/admin/people");
        c.post_form("/admin/people/helper/enable", &[]).await.assert_redirect("/admin/people");
        c.post_form("/admin/settings/second-factor", &[]).await.assert_redirect("/admin");
        c.logout().await.assert_redirect("/login");

        let admin_id = t.user_id("admin").await;
        let helper_id = t.user_id("helper").await;
        let events = t.audit().await;
        let find = |action: &str| events.iter().filter(|e| e.event.action == action).collect::<Vec<_>>();
        let failed = find("login.failed");
        assert_eq!(failed.len(), 2, "{b}: {failed:?}");
        assert_eq!(failed[0].event.actor_id.as_deref(), Some(admin_id.as_str()), "{b}");
        assert_eq!(failed[0].event.detail.as_deref(), Some("bad_password"), "{b}");
        assert_eq!(failed[1].event.actor_id, None, "{b}: an unknown login has no actor");
        assert_eq!(failed[1].event.detail.as_deref(), Some("unknown_login"), "{b}");
        for e in &failed {
            assert_eq!(e.event.address.as_deref(), Some("198.51.100.9"), "{b}: where from");
            let text = format!("{:?}", e.event);
            assert!(!text.contains("wrong-password"), "{b}: a password in the audit log");
        }
        for action in [
            "login",
            "organisation.created",
            "person.invited",
            "account.disabled",
            "account.enabled",
            "setting.changed",
            "logout",
        ] {
            let found = find(action);
            assert_eq!(found.len(), 1, "{b}: {action}: {found:?}");
            let e = &found[0].event;
            assert_eq!(e.actor_id.as_deref(), Some(admin_id.as_str()), "{b}: {action}: by whom");
            assert_eq!(e.actor_login.as_deref(), Some("admin"), "{b}: {action}");
            assert_eq!(e.address.as_deref(), Some("198.51.100.9"), "{b}: {action}: from where");
            assert_eq!(e.at, t.clock.now(), "{b}: {action}: when (the server clock)");
        }
        assert_eq!(find("account.disabled")[0].event.target_id.as_deref(), Some(helper_id.as_str()), "{b}");
        let org = find("organisation.created")[0].event.target_id.clone().expect("target");
        assert!(
            t.app.store.organisation(&org).await.expect("org").is_some_and(|o| o.name == "監査薬局"),
            "{b}"
        );
        // In the order they happened, after the demo was loaded.
        let order: Vec<&str> = audit_actions(&events).into_iter().filter(|a| *a != "demo.loaded").collect();
        assert_eq!(
            order,
            [
                "login.failed",
                "login.failed",
                "login",
                "organisation.created",
                "person.invited",
                "account.disabled",
                "account.enabled",
                "setting.changed",
                "logout"
            ],
            "{b}"
        );
        t.assert_audit_chain_intact().await;
    }
}
