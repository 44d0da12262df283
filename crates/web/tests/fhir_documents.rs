//! The FHIR documents and summary lists at the router (issue 5): `DocumentReference` create,
//! read and search, `Binary` as raw bytes and as a resource, and `AllergyIntolerance`,
//! `Condition`, `MedicationStatement` from the patient summary of 北村 トメ — for the nurse of
//! her team, and the same 404 as for an unknown id for the care manager who is not on it; bad
//! uploads refused with nothing written. On every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::{TINY_PNG, TestApp};
use tower::ServiceExt;
use tsunagu_app::AuthVia;

const UNKNOWN_ID: &str = "01900000-0000-7000-8000-000000000000";

async fn kitamura(t: &TestApp) -> String {
    let physician = t.user_id("physician").await;
    let physician =
        t.app.actor(&physician, AuthVia::Session { token_hash: "test".into() }, None).await.unwrap();
    let theirs = t.app.my_patients(&physician).await.unwrap();
    theirs.iter().find(|p| p.name == "北村 トメ").unwrap().id.clone()
}

/// A request whose answer is read as bytes (a Binary's content is not text).
async fn raw(t: &TestApp, path: &str, token: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(Method::GET).uri(path).header("authorization", bearer(token));
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let res = t.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, headers, bytes.to_vec())
}

fn document(patient: &str, attachment: Value) -> Value {
    json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": { "reference": format!("Patient/{patient}") },
        "description": "仙骨部の発赤、前回より縮小",
        "content": [{ "attachment": attachment }],
    })
}

fn png_attachment() -> Value {
    json!({ "contentType": "image/png", "data": STANDARD.encode(TINY_PNG), "title": "仙骨部.png" })
}

/// The body of a 404 with its request-specific parts only.
fn not_found_body(a: &Answer) -> String {
    a.outcome(StatusCode::NOT_FOUND, "not-found");
    a.body.clone()
}

#[tokio::test]
async fn a_photo_is_uploaded_read_as_bytes_and_as_binary_and_found_by_patient() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        let nurse = write_token(&t, "nurse").await;
        let cm = token(&t, "caremanager", 3600).await;
        let nurse_id = t.user_id("nurse").await;

        // Create.
        let a = write_as(
            &t,
            Method::POST,
            "/fhir/DocumentReference",
            &nurse,
            &[],
            &document(&pid, png_attachment()),
        )
        .await;
        let created = a.expect(StatusCode::CREATED);
        let id = created["id"].as_str().unwrap().to_string();
        let location = a.headers.get(header::LOCATION).unwrap().to_str().unwrap();
        assert_eq!(local(location), format!("/fhir/DocumentReference/{id}/_history/1"), "{b}");
        assert_eq!(created["status"], "current", "{b}");
        assert_eq!(created["subject"]["reference"], format!("Patient/{pid}"), "{b}");
        assert_eq!(created["author"][0]["reference"], format!("Practitioner/{nurse_id}"), "{b}");
        assert_eq!(created["description"], "仙骨部の発赤、前回より縮小", "{b}");
        assert_eq!(created["category"][0]["coding"][0]["code"], "photo", "{b}");
        let att = &created["content"][0]["attachment"];
        assert_eq!(att["contentType"], "image/png", "{b}");
        assert_eq!(att["size"], TINY_PNG.len(), "{b}");
        assert_eq!(att["title"], "仙骨部.png", "{b}");
        assert!(att.get("hash").is_none(), "{b}: FHIR's hash is SHA-1, not what is stored");
        assert_eq!(att["extension"][0]["valueString"].as_str().unwrap().len(), 64, "{b}");
        assert_eq!(local(att["url"].as_str().unwrap()), format!("/fhir/Binary/{id}"), "{b}");
        let related = created["context"]["related"][0]["reference"].as_str().unwrap();
        assert!(related.starts_with("Communication/"), "{b}: {related}");

        // Read.
        let a = get_as(&t, &format!("/fhir/DocumentReference/{id}"), &nurse).await;
        let read = a.ok();
        assert_eq!(read, created, "{b}");
        assert_eq!(a.headers.get(header::ETAG).unwrap(), "W/\"1\"", "{b}");

        // The content: the bytes themselves for any Accept but FHIR JSON.
        for accept in [None, Some("image/png"), Some("*/*"), Some("image/jpeg")] {
            let (status, h, bytes) = raw(&t, &format!("/fhir/Binary/{id}"), &nurse, accept).await;
            assert_eq!(status, StatusCode::OK, "{b}: {accept:?}");
            assert_eq!(bytes, TINY_PNG, "{b}: {accept:?}");
            assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "image/png", "{b}");
            assert!(
                h.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().starts_with("attachment;"),
                "{b}"
            );
            assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff", "{b}");
        }
        // … and a Binary resource for FHIR JSON.
        for accept in ["application/fhir+json", "application/json"] {
            let a = send(
                &t,
                Method::GET,
                &format!("/fhir/Binary/{id}"),
                &[("authorization", &bearer(&nurse)), ("accept", accept)],
            )
            .await;
            let bin = a.ok();
            assert_eq!(bin["resourceType"], "Binary", "{b}");
            assert_eq!(bin["contentType"], "image/png", "{b}");
            assert_eq!(STANDARD.decode(bin["data"].as_str().unwrap()).unwrap(), TINY_PNG, "{b}");
        }
        let a = get_as(&t, &format!("/fhir/Binary/{id}?_format=json"), &nurse).await;
        assert_eq!(a.ok()["resourceType"], "Binary", "{b}");
        get_as(&t, &format!("/fhir/Binary/{id}?_format=xml"), &nurse)
            .await
            .outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");

        // Search.
        let bundle = get_as(&t, &format!("/fhir/DocumentReference?patient={pid}"), &nurse).await.ok();
        assert_eq!(bundle["type"], "searchset", "{b}");
        assert_eq!(ids(&bundle)[0], id, "{b}: newest first");
        for (query, found) in [
            (format!("subject=Patient/{pid}"), true),
            (format!("patient={pid}&category=photo"), true),
            (
                format!(
                    "patient={pid}&category={}",
                    enc("https://tsunagu.example/fhir/CodeSystem/document-kind|photo")
                ),
                true,
            ),
            (format!("patient={pid}&category=document"), false),
            (format!("patient={pid}&type={}", enc("http://loinc.org|59284-0")), false),
            (format!("patient={pid}&date=2026-11-24"), true),
            (format!("patient={pid}&date=lt2026-11-01"), false),
            (format!("patient={pid}&_sort=-date"), true),
            (format!("patient={pid}&_sort=date&_count=100"), true),
        ] {
            let bundle = get_as(&t, &format!("/fhir/DocumentReference?{query}"), &nurse).await.ok();
            assert_eq!(ids(&bundle).contains(&id), found, "{b}: {query}");
        }
        // A count is one audited read.
        let before = t.audit().await.len();
        let bundle =
            get_as(&t, &format!("/fhir/DocumentReference?patient={pid}&_summary=count"), &nurse).await.ok();
        assert!(bundle["total"].as_i64().unwrap() >= 1, "{b}");
        assert!(matches(&bundle).is_empty(), "{b}");
        assert_eq!(t.audit().await.len(), before + 1, "{b}");
        get_as(&t, "/fhir/DocumentReference", &nurse).await.outcome(StatusCode::BAD_REQUEST, "invalid");
        get_as(&t, &format!("/fhir/DocumentReference?patient={pid}&category:text=x"), &nurse)
            .await
            .outcome(StatusCode::BAD_REQUEST, "not-supported");

        // The care manager is not on her team: the same 404 as for an unknown id.
        let unknown =
            not_found_body(&get_as(&t, &format!("/fhir/DocumentReference/{UNKNOWN_ID}"), &cm).await);
        let hidden = not_found_body(&get_as(&t, &format!("/fhir/DocumentReference/{id}"), &cm).await);
        assert_eq!(hidden, unknown, "{b}");
        let (s1, _, unknown) = raw(&t, &format!("/fhir/Binary/{UNKNOWN_ID}"), &cm, None).await;
        let (s2, _, hidden) = raw(&t, &format!("/fhir/Binary/{id}"), &cm, None).await;
        assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND), "{b}");
        assert_eq!(hidden, unknown, "{b}");
        let (s3, _, malformed) = raw(&t, "/fhir/Binary/not-an-id", &cm, None).await;
        assert_eq!((s3, malformed), (StatusCode::NOT_FOUND, unknown.clone()), "{b}");
        get_as(&t, &format!("/fhir/DocumentReference?patient={pid}"), &cm)
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");
        // Without a token: 401.
        get(&t, &format!("/fhir/Binary/{id}")).await.outcome(StatusCode::UNAUTHORIZED, "login");

        // Not offered.
        write_as(&t, Method::PUT, &format!("/fhir/DocumentReference/{id}"), &nurse, &[], &created)
            .await
            .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        write_as(&t, Method::POST, "/fhir/Binary", &nurse, &[], &json!({ "resourceType": "Binary" }))
            .await
            .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn bad_uploads_are_refused_and_write_nothing() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        let nurse = write_token(&t, "nurse").await;
        let before = t.app.store.count_attachments().await.unwrap();
        let path = "/fhir/DocumentReference";
        for (attachment, status, code) in [
            (
                json!({ "contentType": "image/png", "data": "***not base64***" }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "value",
            ),
            (
                json!({ "contentType": "text/plain", "data": STANDARD.encode("hello, just text") }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "value",
            ),
            (json!({ "contentType": "image/png" }), StatusCode::UNPROCESSABLE_ENTITY, "required"),
            (
                json!({ "contentType": "image/png", "url": "https://elsewhere.example/a.png" }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
            ),
            (
                json!({ "contentType": "image/jpeg", "data": STANDARD.encode(TINY_PNG) }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "value",
            ),
        ] {
            let a = write_as(&t, Method::POST, path, &nurse, &[], &document(&pid, attachment.clone())).await;
            let issue = a.outcome(status, code);
            assert!(
                issue["expression"][0].as_str().unwrap().starts_with("content[0].attachment"),
                "{b}: {issue}"
            );
        }
        let a = send_body(
            &t,
            Method::POST,
            path,
            &[("authorization", &bearer(&nurse))],
            b"{\"resourceType\":".to_vec(),
        )
        .await;
        a.outcome(StatusCode::BAD_REQUEST, "structure");
        // A read-only token writes nothing either; nor does someone off the team.
        let ro = token(&t, "nurse", 3600).await;
        write_as(&t, Method::POST, path, &ro, &[], &document(&pid, png_attachment()))
            .await
            .outcome(StatusCode::FORBIDDEN, "forbidden");
        let cm = write_token(&t, "caremanager").await;
        write_as(&t, Method::POST, path, &cm, &[], &document(&pid, png_attachment()))
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");
        assert_eq!(t.app.store.count_attachments().await.unwrap(), before, "{b}");
    }
}

#[tokio::test]
async fn the_summary_lists_are_allergies_conditions_and_medications() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        let nurse = token(&t, "nurse", 3600).await;
        let cm = token(&t, "caremanager", 3600).await;

        let texts = |bundle: &Value, element: &str| -> Vec<String> {
            matches(bundle).iter().map(|r| r[element]["text"].as_str().unwrap().to_string()).collect()
        };
        let conditions = get_as(&t, &format!("/fhir/Condition?patient={pid}"), &nurse).await.ok();
        assert_eq!(texts(&conditions, "code"), ["慢性心不全（NYHA II度）", "心房細動", "高血圧症"], "{b}");
        let allergies = get_as(&t, &format!("/fhir/AllergyIntolerance?patient={pid}"), &nurse).await.ok();
        let allergy = texts(&allergies, "code");
        assert_eq!(allergy.len(), 1, "{b}");
        assert!(allergy[0].starts_with("ペニシリン"), "{b}: {allergy:?}");
        let meds = get_as(&t, &format!("/fhir/MedicationStatement?subject=Patient/{pid}"), &nurse).await.ok();
        let med = texts(&meds, "medicationCodeableConcept");
        assert_eq!(med.len(), 4, "{b}");
        assert!(med[0].starts_with("フロセミド"), "{b}: {med:?}");

        let c = &matches(&conditions)[0];
        assert_eq!(c["clinicalStatus"]["coding"][0]["code"], "active", "{b}");
        assert_eq!(c["verificationStatus"]["coding"][0]["code"], "unconfirmed", "{b}");
        assert_eq!(c["subject"]["reference"], format!("Patient/{pid}"), "{b}");
        assert_eq!(
            c["meta"]["profile"][0], "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Condition",
            "{b}"
        );
        assert_eq!(matches(&allergies)[0]["patient"]["reference"], format!("Patient/{pid}"), "{b}");
        assert_eq!(matches(&meds)[0]["status"], "active", "{b}");

        let count =
            get_as(&t, &format!("/fhir/MedicationStatement?patient={pid}&_summary=count"), &nurse).await.ok();
        assert_eq!(count["total"], 4, "{b}");
        let page =
            get_as(&t, &format!("/fhir/MedicationStatement?patient={pid}&_count=3"), &nurse).await.ok();
        assert_eq!(ids(&page).len(), 3, "{b}");
        let next = get_as(&t, &local(&link(&page, "next").unwrap()), &nurse).await.ok();
        assert_eq!(ids(&next).len(), 1, "{b}");

        // Each reads back by its id; the care manager gets the 404 of an unknown id.
        for (kind, bundle) in
            [("Condition", &conditions), ("AllergyIntolerance", &allergies), ("MedicationStatement", &meds)]
        {
            for r in matches(bundle) {
                let id = r["id"].as_str().unwrap();
                assert!(id.starts_with(&pid) && id.len() <= 64, "{b}: {id}");
                let a = get_as(&t, &format!("/fhir/{kind}/{id}"), &nurse).await;
                assert_eq!(a.ok(), r, "{b}");
                let hidden = not_found_body(&get_as(&t, &format!("/fhir/{kind}/{id}"), &cm).await);
                let unknown = not_found_body(
                    &get_as(&t, &format!("/fhir/{kind}/{UNKNOWN_ID}-c0123456789abcdef"), &cm).await,
                );
                assert_eq!(hidden, unknown, "{b}");
            }
            get_as(&t, &format!("/fhir/{kind}?patient={pid}"), &cm)
                .await
                .outcome(StatusCode::NOT_FOUND, "not-found");
            let w = write_token(&t, "nurse").await;
            write_as(&t, Method::POST, &format!("/fhir/{kind}"), &w, &[], &json!({ "resourceType": kind }))
                .await
                .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        }
        // AllergyIntolerance has no subject parameter.
        get_as(&t, &format!("/fhir/AllergyIntolerance?subject={pid}"), &nurse)
            .await
            .outcome(StatusCode::BAD_REQUEST, "not-supported");
        get_as(&t, "/fhir/Condition", &nurse).await.outcome(StatusCode::BAD_REQUEST, "invalid");
    }
}
