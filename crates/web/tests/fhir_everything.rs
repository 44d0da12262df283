//! `Patient/{id}/$everything` (issue 5): one Bundle of what the caller may see of a patient,
//! each part through its own use case and the gate — on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode};
use serde_json::Value;

fn count_of(bundle: &Value, kind: &str) -> usize {
    matches(bundle).iter().filter(|r| r["resourceType"] == kind).count()
}

#[tokio::test]
async fn a_member_gets_the_whole_record_and_others_the_common_404() {
    for t in support::all().await {
        let who = t.name();
        let id = demo_patient(&t, "北村 トメ").await;
        let path = format!("/fhir/Patient/{id}/$everything");

        let nurse = token(&t, "nurse", 3600).await;
        let b = get_as(&t, &path, &nurse).await.ok();
        assert_eq!(b["resourceType"], "Bundle", "{who}");
        assert_eq!(b["type"], "searchset", "{who}");
        assert_eq!(b["total"].as_u64().unwrap() as usize, matches(&b).len(), "{who}");
        assert_eq!(count_of(&b, "Patient"), 1, "{who}");
        assert_eq!(count_of(&b, "CareTeam"), 1, "{who}");
        assert_eq!(count_of(&b, "Consent"), 1, "{who}");
        assert_eq!(count_of(&b, "Condition"), 3, "{who}");
        assert_eq!(count_of(&b, "AllergyIntolerance"), 1, "{who}");
        assert_eq!(count_of(&b, "MedicationStatement"), 4, "{who}");
        assert!(count_of(&b, "Observation") > 20, "{who}: months of vitals");
        assert!(count_of(&b, "Communication") > 5, "{who}: visit records and messages");
        // Every resource is about this patient.
        for r in matches(&b) {
            let subject = r
                .get("subject")
                .or_else(|| r.get("patient"))
                .and_then(|s| s["reference"].as_str())
                .map(str::to_string);
            if r["resourceType"] != "Patient" {
                assert_eq!(
                    subject.as_deref(),
                    Some(format!("Patient/{id}").as_str()),
                    "{who}: {}",
                    r["resourceType"]
                );
            }
        }
        // Each part was read through its use case, audited as an API call.
        let events = t.audit().await;
        for action in ["patient.read", "vitals.read", "timeline.read", "file.read"] {
            assert!(
                events.iter().any(|e| e.event.action == action
                    && e.event.patient_id.as_deref() == Some(id.as_str())
                    && e.event.via.as_deref().is_some_and(|v| v.starts_with("api:"))),
                "{who}: {action} audited"
            );
        }

        // `_since` in the future keeps the Patient only.
        let later = get_as(&t, &format!("{path}?_since=2099-01-01"), &nurse).await.ok();
        assert_eq!(matches(&later).len(), 1, "{who}");

        // Pending, not on the team, no patient content: the same 404 as an unknown patient.
        let unknown_path = format!("/fhir/Patient/{}/$everything", uuid::Uuid::now_v7());
        for login in ["pharmacist", "caremanager", "admin", "er-physician"] {
            let tok = token(&t, login, 3600).await;
            let hidden = get_as(&t, &path, &tok).await;
            hidden.outcome(StatusCode::NOT_FOUND, "not-found");
            let unknown = get_as(&t, &unknown_path, &tok).await;
            assert_eq!(hidden.body, unknown.body, "{who}: {login}");
        }

        // An emergency view shows the patient, not the record.
        let er = session_actor(&t, "er-physician").await;
        t.app.open_emergency(&er, &id, "救急搬送時の確認").await.unwrap();
        let tok = token(&t, "er-physician", 3600).await;
        let b = get_as(&t, &path, &tok).await.ok();
        let kinds: Vec<String> =
            matches(&b).iter().map(|r| r["resourceType"].as_str().unwrap().to_string()).collect();
        assert_eq!(kinds, ["Patient"], "{who}");

        // No token: 401; not a read: 405; an unknown parameter: 400.
        send(&t, Method::GET, &path, &[]).await.outcome(StatusCode::UNAUTHORIZED, "login");
        send(&t, Method::POST, &path, &[("authorization", &bearer(&nurse))])
            .await
            .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        get_as(&t, &format!("{path}?start=2026"), &nurse)
            .await
            .outcome(StatusCode::BAD_REQUEST, "not-supported");
    }
}
