//! The access matrix of the sharing issue through the FHIR API (issue 5), with a token per demo
//! person on 北村 トメ (physician2 sub-attending, nurse active, pharmacist pending), on every
//! backend the store harness finds: who reads the Patient, who gets a 404 that is byte for byte
//! the 404 of an unknown or malformed id, the emergency physician before and after opening an
//! emergency view, no token, a read-only token, and whose search lists her.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode};
use serde_json::json;

/// 北村 トメ's id, from her attending physician's list.

#[tokio::test]
async fn the_access_matrix_holds_through_the_api() {
    for t in support::all().await {
        let who = t.name();
        let id = demo_patient(&t, "北村 トメ").await;
        let path = format!("/fhir/Patient/{id}");

        for login in ["physician", "physician2", "nurse"] {
            let tok = token(&t, login, 3600).await;
            let p = get_as(&t, &path, &tok).await.ok();
            assert_eq!(p["id"], id, "{who}: {login}");
            assert_eq!(p["name"][0]["text"], "北村 トメ", "{who}: {login}");
        }

        // Everyone else: the 404 of a patient that does not exist, and of an id that is none.
        for login in ["pharmacist", "caremanager", "admin", "er-physician"] {
            let tok = token(&t, login, 3600).await;
            let hidden = get_as(&t, &path, &tok).await;
            hidden.outcome(StatusCode::NOT_FOUND, "not-found");
            let unknown = get_as(&t, &format!("/fhir/Patient/{}", uuid::Uuid::now_v7()), &tok).await;
            let malformed = get_as(&t, "/fhir/Patient/not-a-patient-id", &tok).await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{who}: {login}");
            assert_eq!(malformed.status, StatusCode::NOT_FOUND, "{who}: {login}");
            assert_eq!(hidden.body, unknown.body, "{who}: {login}: hidden vs unknown");
            assert_eq!(hidden.body, malformed.body, "{who}: {login}: hidden vs malformed");
            // History and vread alike.
            get_as(&t, &format!("{path}/_history"), &tok).await.outcome(StatusCode::NOT_FOUND, "not-found");
            get_as(&t, &format!("{path}/_history/1"), &tok).await.outcome(StatusCode::NOT_FOUND, "not-found");
        }

        // The emergency physician reads her once an emergency view is open (not her history).
        let er = session_actor(&t, "er-physician").await;
        t.app.open_emergency(&er, &id, "救急搬送時の確認").await.unwrap();
        let tok = token(&t, "er-physician", 3600).await;
        let p = get_as(&t, &path, &tok).await.ok();
        assert_eq!(p["id"], id, "{who}");
        assert!(
            t.audit().await.iter().any(|e| e.event.action == "emergency.read"
                && e.event.patient_id.as_deref() == Some(id.as_str())
                && e.event.via.as_deref().is_some_and(|v| v.starts_with("api:"))),
            "{who}: the emergency read is audited as an API call"
        );
        get_as(&t, &format!("{path}/_history"), &tok).await.outcome(StatusCode::NOT_FOUND, "not-found");

        // No token.
        get(&t, &path).await.outcome(StatusCode::UNAUTHORIZED, "login");
        get(&t, "/fhir/Patient").await.outcome(StatusCode::UNAUTHORIZED, "login");

        // A read-only token reads but writes nothing.
        let before = t.app.store.count_patients().await.unwrap();
        let ro = token(&t, "physician", 3600).await;
        let body = json!({
            "resourceType": "Patient",
            "name": [
                { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE" }], "text": "読取 専用" },
                { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL" }], "text": "よみとり せんよう" }
            ],
            "gender": "female",
            "birthDate": "1950-02-03"
        });
        let a = write_as(&t, Method::POST, "/fhir/Patient", &ro, &[], &body).await;
        let issue = a.outcome(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(issue["diagnostics"], "読み取り専用のトークンでは変更できません。", "{who}");
        assert_eq!(t.app.store.count_patients().await.unwrap(), before, "{who}");

        // Search: the nurse's lists 北村 トメ, the care manager's does not; one audit event each.
        let nurse = token(&t, "nurse", 3600).await;
        let events = t.audit().await.len();
        let b = get_as(&t, "/fhir/Patient", &nurse).await.ok();
        assert!(ids(&b).contains(&id), "{who}: {b}");
        let b = get_as(&t, &format!("/fhir/Patient?name={}", enc("トメ")), &nurse).await.ok();
        assert_eq!(ids(&b), vec![id.clone()], "{who}");
        let log = t.audit().await;
        assert_eq!(log.len(), events + 2, "{who}: one event per search");
        let last = &log.last().unwrap().event;
        assert_eq!(last.action, "patient.read", "{who}");
        assert_eq!(last.detail.as_deref(), Some("search: 1 patients"), "{who}");
        let cm = token(&t, "caremanager", 3600).await;
        let b = get_as(&t, "/fhir/Patient", &cm).await.ok();
        assert!(!ids(&b).contains(&id), "{who}");
        let b = get_as(&t, &format!("/fhir/Patient?_id={id}"), &cm).await.ok();
        assert_eq!(b["total"], 0, "{who}");
        let ph = token(&t, "pharmacist", 3600).await;
        let b = get_as(&t, "/fhir/Patient", &ph).await.ok();
        assert!(!ids(&b).contains(&id), "{who}: a pending member does not find her");
        t.assert_audit_chain_intact().await;
    }
}
