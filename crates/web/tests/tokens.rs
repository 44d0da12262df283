//! API tokens a person manages on their security page: made there and shown once, listed (label,
//! times in Japan time, read-only, last use, status), used on the FHIR API, revoked there — after
//! which the API answers 401 — while nobody else can revoke them; on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use support::fhir::get_as;
use tsunagu_app::AppError;
use tsunagu_app::tokens::TokenStatus;

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const API: &str = "/fhir/Organization?_count=1";

#[tokio::test]
async fn a_token_made_on_the_page_is_listed_works_and_stops_working_once_revoked_there() {
    for t in support::all().await {
        let b = t.name();
        let mut nurse = t.login("nurse").await;
        let p = nurse.get("/account/security").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#tokens-none"), 1, "{b}: no tokens yet");

        // Made on the page: shown once, with the note to copy it now, and listed.
        let p = nurse.post_form("/account/tokens", &[("label", "記録連携テスト"), ("days", "30")]).await;
        p.assert_status(StatusCode::OK);
        let token = p.text("#new-token");
        assert!(token.starts_with("tsu_") && token.len() > 32, "{b}: {token:?}");
        assert!(p.text("#new-token-box").contains("いますぐコピー"), "{b}: {}", p.text("#new-token-box"));
        assert_eq!(p.count("#token-list tbody tr"), 1, "{b}");
        let id = p.attr("#token-list tr[data-token-id]", "data-token-id").expect("token id");
        assert_eq!(p.text(".token-label"), "記録連携テスト", "{b}");
        assert_eq!(p.text(".token-created"), "2026-11-24 09:30", "{b}: Japan time");
        assert_eq!(p.text(".token-expires"), "2026-12-24 09:30", "{b}: 30 days on");
        assert_eq!(p.text(".token-read-only"), "いいえ", "{b}");
        assert_eq!(p.text(".token-last-used"), "未使用", "{b}");
        assert_eq!(p.text(".token-status-text"), "有効", "{b}");
        assert_eq!(p.count(&format!("form[action='/account/tokens/{id}/revoke']")), 1, "{b}: a revoke form");

        // It works on the API, and the use is recorded (at most once every ten minutes).
        get_as(&t, API, &token).await.ok();
        t.advance_minutes(5);
        get_as(&t, API, &token).await.ok();
        let p = nurse.get("/account/security").await;
        assert!(!p.body.contains(&token), "{b}: the token is shown once only");
        assert_eq!(p.text(".token-last-used"), "2026-11-24 09:30", "{b}");
        t.advance_minutes(6);
        get_as(&t, API, &token).await.ok();
        assert_eq!(
            nurse.get("/account/security").await.text(".token-last-used"),
            "2026-11-24 09:41",
            "{b}: recorded again after ten minutes"
        );

        // Nobody else can revoke it: the 404 page, and it still works.
        let mut other = t.login("physician").await;
        other.get("/account/security").await;
        other
            .post_form(&format!("/account/tokens/{id}/revoke"), &[])
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        get_as(&t, API, &token).await.ok();
        // Nor can a form without the CSRF token.
        let p = nurse.post_form_as_is(&format!("/account/tokens/{id}/revoke"), &[]).await;
        assert_ne!(p.status, StatusCode::OK, "{b}");
        get_as(&t, API, &token).await.ok();

        // Revoked on the page: listed as revoked, without a button, and refused by the API.
        nurse.get("/account/security").await;
        let p = nurse.post_form(&format!("/account/tokens/{id}/revoke"), &[]).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(
            p.text(".notice[role=status]"),
            "トークンを失効させました。このトークンはもう使えません。",
            "{b}"
        );
        assert_eq!(p.text(".token-status-text"), "失効済み", "{b}");
        assert_eq!(p.count("form[action$='/revoke']"), 0, "{b}: no button on a revoked token");
        let a = get_as(&t, API, &token).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{b}: {}", a.body);
        // Revoking it again is the same 404 as someone else's.
        nurse
            .post_form(&format!("/account/tokens/{id}/revoke"), &[])
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);

        // Both are audited, by the nurse, on the web.
        let nurse_id = t.user_id("nurse").await;
        let events = t.audit().await;
        let of = |action: &str| {
            events
                .iter()
                .filter(|e| e.event.action == action && e.event.target_id.as_deref() == Some(id.as_str()))
                .collect::<Vec<_>>()
        };
        let created = of("token.created");
        assert_eq!(created.len(), 1, "{b}");
        assert_eq!(created[0].event.actor_id.as_deref(), Some(nurse_id.as_str()), "{b}");
        let revoked = of("token.revoked");
        assert_eq!(revoked.len(), 1, "{b}: one event, none for the refusals");
        assert_eq!(revoked[0].event.actor_id.as_deref(), Some(nurse_id.as_str()), "{b}");
        assert_eq!(revoked[0].event.via.as_deref(), Some("web"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_read_only_token_cannot_revoke_and_expired_tokens_are_listed_as_expired() {
    for t in support::all().await {
        let b = t.name();
        let ro = t.app.create_token(None, "nurse", "読むだけ", 3600, true).await.unwrap();
        let short = t.app.create_token(None, "nurse", "短い", 120, false).await.unwrap();
        let actor = t.app.authenticate_token(&ro, None).await.unwrap();
        let mine = t.app.tokens(&actor).await.unwrap();
        assert_eq!(mine.len(), 2, "{b}");
        let ro_id = mine.iter().find(|k| k.label == "読むだけ").unwrap().id.clone();
        assert!(matches!(t.app.revoke_token(&actor, &ro_id).await, Err(AppError::ReadOnly)), "{b}");

        t.advance_minutes(3);
        let listed = t.app.tokens(&actor).await.unwrap();
        let status = |label: &str| listed.iter().find(|k| k.label == label).unwrap().status;
        assert_eq!(status("短い"), TokenStatus::Expired, "{b}");
        assert_eq!(status("読むだけ"), TokenStatus::Active, "{b}");
        assert_eq!(get_as(&t, API, &short).await.status, StatusCode::UNAUTHORIZED, "{b}");

        let mut nurse = t.login("nurse").await;
        let p = nurse.get("/account/security").await;
        assert_eq!(p.count("#token-list tbody tr"), 2, "{b}");
        assert_eq!(p.count("form[action$='/revoke']"), 1, "{b}: only the active token has a button");
        assert!(p.texts(".token-status-text").contains(&"期限切れ".to_string()), "{b}");
        // Another person's list does not show them.
        let mut other = t.login("physician").await;
        assert_eq!(other.get("/account/security").await.count("#token-list tbody tr"), 0, "{b}");
    }
}
