//! What the API does with bodies it cannot take (issue 5): a body over the limit (413), a body
//! that is not JSON (415), an over-long string (422 too-long) — each an `OperationOutcome` in
//! the caller's language, and nothing written — on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::TestApp;
use tsunagu_domain::sharing::EntryKind;
use tsunagu_store::timeline_search::EntryQuery;

async fn entry_count(t: &TestApp, pid: &str) -> i64 {
    let kinds = [EntryKind::Visit, EntryKind::Vitals, EntryKind::Message, EntryKind::File, EntryKind::Acp]
        .iter()
        .map(|k| k.code().to_string())
        .collect();
    t.app.store.count_entry_page(pid, &EntryQuery { kinds, limit: 1, ..Default::default() }).await.unwrap()
}

fn message(pid: &str, text: &str) -> serde_json::Value {
    json!({
        "resourceType": "Communication",
        "status": "completed",
        "category": [{ "coding": [{ "system": "https://tsunagu.example/fhir/CodeSystem/entry-kind", "code": "message" }] }],
        "subject": { "reference": format!("Patient/{pid}") },
        "payload": [{ "contentString": text }],
    })
}

#[tokio::test]
async fn bodies_the_api_cannot_take_are_refused_with_an_outcome_and_nothing_is_written() {
    for t in support::all().await {
        let who = t.name();
        let pid = demo_patient(&t, "北村 トメ").await;
        let nurse = write_token(&t, "nurse").await;
        let auth = bearer(&nurse);
        let before = entry_count(&t, &pid).await;

        // The message itself is fine: it is written.
        write_as(
            &t,
            Method::POST,
            "/fhir/Communication",
            &nurse,
            &[],
            &message(&pid, "定期訪問の連絡です。"),
        )
        .await
        .expect(StatusCode::CREATED);
        assert_eq!(entry_count(&t, &pid).await, before + 1, "{who}");
        let before = before + 1;

        // A body over the limit: 413, in Japanese by default and in English on request.
        let huge = vec![b' '; tsunagu_web::fhir::body_limit(&t.app) + 1];
        let a = send_body(&t, Method::POST, "/fhir/Communication", &[("authorization", &auth)], huge.clone())
            .await;
        let ja = a.outcome(StatusCode::PAYLOAD_TOO_LARGE, "too-costly");
        let a = send_body(
            &t,
            Method::POST,
            "/fhir/Communication",
            &[("authorization", &auth), ("accept-language", "en")],
            huge,
        )
        .await;
        let en = a.outcome(StatusCode::PAYLOAD_TOO_LARGE, "too-costly");
        assert_ne!(ja["diagnostics"], en["diagnostics"], "{who}");

        // A body that is not JSON: 415.
        let body = serde_json::to_vec(&message(&pid, "本文")).unwrap();
        send_body(
            &t,
            Method::POST,
            "/fhir/Communication",
            &[("authorization", &auth), ("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
        .outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");

        // An over-long string: 422 too-long, naming the element, never repeating the value.
        let long = "長".repeat(10_001);
        let a = write_as(&t, Method::POST, "/fhir/Communication", &nurse, &[], &message(&pid, &long)).await;
        let issue = a.outcome(StatusCode::UNPROCESSABLE_ENTITY, "too-long");
        assert!(!a.body.contains("長長"), "{who}: the value is not repeated");
        assert!(issue["expression"][0].as_str().is_some(), "{who}: {issue}");

        assert_eq!(entry_count(&t, &pid).await, before, "{who}: nothing written");
        t.assert_audit_chain_intact().await;
    }
}
