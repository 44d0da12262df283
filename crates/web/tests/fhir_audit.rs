//! `AuditEvent` at the router (issue 5: "every API call shows up as an AuditEvent, readable
//! through `/fhir/AuditEvent?patient=…` by the attending physician"): a nurse's API read of
//! 北村 トメ found by the attending physician with the person, the client application, the
//! event type and the patient; date, type, action and agent filters; paging pinned to the log
//! as it was; who may read (the attending physician for their patient, the auditor everything,
//! everyone else refused: 403 for a reader of the patient and for a type-level search, the
//! gate's 404 otherwise); and that reading the log is itself audited — on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use support::TestApp;
use tsunagu_app::AuthVia;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ACTIONS: &str = "https://tsunagu.example/fhir/CodeSystem/audit-action";
const TOKENS: &str = "https://tsunagu.example/fhir/sid/api-token";
const RANDOM_ID: &str = "0193a000-0000-7000-8000-000000000000";

async fn kitamura(t: &TestApp) -> String {
    let id = t.user_id("physician").await;
    let physician = t.app.actor(&id, AuthVia::Session { token_hash: "test".into() }, None).await.unwrap();
    let mine = t.app.my_patients(&physician).await.unwrap();
    mine.iter().find(|p| p.name == "北村 トメ").unwrap().id.clone()
}

/// Every page of a search, following `next` links.
async fn all_pages(t: &TestApp, first: &str, token: &str) -> (i64, Vec<Value>) {
    let mut path = first.to_string();
    let mut out = Vec::new();
    let mut total = None;
    for _ in 0..100 {
        let b = get_as(t, &path, token).await.ok();
        assert_eq!(b["type"], "searchset", "{path}");
        let this_total = b["total"].as_i64().unwrap();
        assert_eq!(
            *total.get_or_insert(this_total),
            this_total,
            "{}: the total moved while paging",
            t.name()
        );
        out.extend(matches(&b));
        match link(&b, "next") {
            Some(n) => path = local(&n),
            None => return (this_total, out),
        }
    }
    panic!("{}: too many pages", t.name());
}

fn subtype_codes(r: &Value) -> Vec<String> {
    r["subtype"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect()
}

fn is_nurse_read(r: &Value) -> bool {
    r["subtype"][0]["code"] == "patient.read" && r["agent"][0]["who"]["display"] == "nurse"
}

#[tokio::test]
async fn the_attending_physician_finds_a_nurses_api_read_of_their_patient() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        let nurse_id = t.user_id("nurse").await;
        // An hour after the demo was loaded, the nurse reads 北村 トメ with a token.
        t.advance_minutes(60);
        let nurse = token(&t, "nurse", 3600).await;
        let via_api = get_as(&t, &format!("/fhir/Patient/{pid}"), &nurse).await;
        if via_api.status != StatusCode::OK {
            // `Patient` not served yet: the same use case the handler calls, with the token.
            let actor = t.app.authenticate_token(&nurse, Some("192.0.2.7".into())).await.unwrap();
            t.app.open_patient(&actor, &pid).await.unwrap();
        }
        let stored = t.audit().await;
        let read = stored
            .iter()
            .rev()
            .find(|e| e.event.action == "patient.read" && e.event.actor_login.as_deref() == Some("nurse"))
            .unwrap_or_else(|| panic!("{b}: no patient.read by the nurse"));
        let token_id = read.event.via.as_deref().and_then(|v| v.strip_prefix("api:")).unwrap().to_string();

        let physician = token(&t, "physician", 3600).await;
        let bundle = get_as(&t, &format!("/fhir/AuditEvent?patient={pid}"), &physician).await.ok();
        assert_eq!(bundle["resourceType"], "Bundle", "{b}");
        let found = matches(&bundle);
        let r = found.iter().find(|r| is_nurse_read(r)).unwrap_or_else(|| panic!("{b}: {bundle:#}"));
        assert_eq!(r["resourceType"], "AuditEvent");
        assert_eq!(r["id"], read.seq.to_string(), "{b}");
        assert_eq!(r["type"]["system"], DCM, "{b}");
        assert_eq!(r["type"]["code"], "110110", "{b}");
        assert_eq!(r["type"]["display"], "Patient Record", "{b}");
        assert_eq!(r["subtype"][0]["system"], ACTIONS, "{b}");
        assert_eq!(r["subtype"][0]["display"], "患者情報の閲覧", "{b}");
        assert!(subtype_codes(r).contains(&"read".to_string()), "{b}: an API read: {r:#}");
        assert_eq!(r["action"], "R", "{b}");
        assert_eq!(r["outcome"], "0", "{b}");
        assert_eq!(r["recorded"], "2026-11-24T01:30:00Z", "{b}");
        assert_eq!(r["agent"][0]["who"]["reference"], format!("Practitioner/{nurse_id}"), "{b}");
        assert_eq!(r["agent"][0]["requestor"], true, "{b}");
        assert_eq!(r["agent"][1]["type"]["coding"][0]["code"], "110150", "{b}");
        assert_eq!(r["agent"][1]["who"]["identifier"]["system"], TOKENS, "{b}");
        assert_eq!(r["agent"][1]["who"]["identifier"]["value"], token_id.as_str(), "{b}");
        assert_eq!(r["agent"][1]["requestor"], false, "{b}");
        assert_eq!(r["source"]["observer"]["display"], "Tsunagu", "{b}");
        assert_eq!(r["source"]["type"][0]["code"], "4", "{b}");
        let entity = &r["entity"][0];
        assert_eq!(entity["what"]["reference"], format!("Patient/{pid}"), "{b}");
        assert_eq!(entity["type"]["code"], "1", "{b}");
        assert_eq!(entity["role"]["code"], "1", "{b}");
        // Every event found is about the patient, newest first.
        assert!(found.iter().all(|r| r["entity"][0]["what"]["reference"] == format!("Patient/{pid}")), "{b}");
        let seqs: Vec<i64> = found.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{b}: {seqs:?}");

        // The search itself is in the log, by the physician, about the patient, through the API.
        let stored = t.audit().await;
        let last = stored.last().unwrap();
        assert_eq!(last.event.action, "access_log.read", "{b}");
        assert_eq!(last.event.actor_login.as_deref(), Some("physician"), "{b}");
        assert_eq!(last.event.patient_id.as_deref(), Some(pid.as_str()), "{b}");
        assert!(last.event.via.as_deref().unwrap().starts_with("api:"), "{b}");
        // …and the next search finds it.
        let again = get_as(&t, &format!("/fhir/AuditEvent?patient={pid}&type=access_log.read"), &physician)
            .await
            .ok();
        assert!(ids(&again).contains(&last.seq.to_string()), "{b}");

        // Read by id.
        let one = get_as(&t, &format!("/fhir/AuditEvent/{}", read.seq), &physician).await.ok();
        assert!(is_nurse_read(&one), "{b}: {one:#}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn date_type_action_and_paging_narrow_the_search() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        // The physician opens the patient at 09:30 in Kanazawa, the nurse an hour later.
        let doctor = t.user_id("physician").await;
        let doctor =
            t.app.actor(&doctor, AuthVia::Session { token_hash: "test".into() }, None).await.unwrap();
        t.app.open_patient(&doctor, &pid).await.unwrap();
        t.advance_minutes(60);
        let nurse = t.app.authenticate_token(&token(&t, "nurse", 3600).await, None).await.unwrap();
        t.app.open_patient(&nurse, &pid).await.unwrap();
        let physician = token(&t, "physician", 3600).await;
        let search = |q: String| {
            let (t, physician, pid) = (&t, &physician, &pid);
            async move { get_as(t, &format!("/fhir/AuditEvent?patient={pid}&{q}"), physician).await.ok() }
        };

        // Date: after 10:00 in Kanazawa only the nurse's read (the demo came at 09:30).
        let later = search(format!("date={}", enc("ge2026-11-24T10:00:00+09:00"))).await;
        let found = matches(&later);
        assert!(found.iter().any(is_nurse_read), "{b}: {later:#}");
        assert!(found.iter().all(|r| r["recorded"].as_str().unwrap() >= "2026-11-24T01:00:00Z"), "{b}");
        let earlier = search(format!("date={}", enc("lt2026-11-24T10:00:00+09:00"))).await;
        assert!(!matches(&earlier).iter().any(is_nurse_read), "{b}");
        assert!(!matches(&earlier).is_empty(), "{b}: the physician's read at 09:30");
        let day = search("date=2026-11-24".into()).await;
        assert!(matches(&day).iter().any(is_nurse_read), "{b}");
        assert!(matches(&search("date=2026-11-23".into()).await).is_empty(), "{b}");

        // Type: our action code, or the DICOM family, with or without a system.
        for q in [
            "type=patient.read".to_string(),
            format!("type={}", enc(&format!("{ACTIONS}|patient.read"))),
            format!("type={}", enc(&format!("{DCM}|110110"))),
            "type=110110".to_string(),
            "type=login,patient.read".to_string(),
            "action=R".to_string(),
            "type=110110&action=R,E".to_string(),
        ] {
            let r = search(q.clone()).await;
            assert!(matches(&r).iter().any(is_nurse_read), "{b}: {q}: {r:#}");
        }
        let reads = search("type=patient.read".into()).await;
        assert!(matches(&reads).iter().all(|r| r["subtype"][0]["code"] == "patient.read"), "{b}");
        for q in
            ["type=110114", "action=C", "type=110110&type=110114", "type=http://example.org|patient.read"]
        {
            let r = search(q.into()).await;
            assert!(!matches(&r).iter().any(is_nurse_read), "{b}: {q}: {r:#}");
        }
        let logins = search("type=110114".into()).await;
        assert!(matches(&logins).iter().all(|r| r["type"]["code"] == "110114"), "{b}");

        // Paging one at a time: every event once, in order, while each page adds an event of
        // its own to the log.
        let (total, paged) =
            all_pages(&t, &format!("/fhir/AuditEvent?patient={pid}&_count=1"), &physician).await;
        assert!(total >= 3, "{b}: {total}");
        assert_eq!(paged.len() as i64, total, "{b}");
        let seqs: Vec<i64> = paged.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{b}: newest first, no repeats: {seqs:?}");
        let (_, oldest_first) =
            all_pages(&t, &format!("/fhir/AuditEvent?patient={pid}&_count=2&_sort=date"), &physician).await;
        let up: Vec<i64> = oldest_first.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
        assert!(up.windows(2).all(|w| w[0] < w[1]), "{b}: {up:?}");
        let first = search("_count=1".into()).await;
        let next = link(&first, "next").unwrap();
        assert!(next.contains("snapshot="), "{b}: the links pin the log: {next}");
        let count = search("_summary=count".into()).await;
        assert!(count["total"].as_i64().unwrap() > total, "{b}: the searches since are counted");
        assert!(count.get("entry").is_none(), "{b}");
        let newest = search("_sort=-date&_count=1".into()).await;
        assert_eq!(matches(&newest)[0]["subtype"][0]["code"], "access_log.read", "{b}");

        // Bad values are refused.
        for q in ["date=yesterday", "_sort=agent", "snapshot=x", "agent=Patient/x", "flavour=1"] {
            let a = get_as(&t, &format!("/fhir/AuditEvent?patient={pid}&{q}"), &physician).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{b}: {q}: {}", a.body);
        }
    }
}

#[tokio::test]
async fn only_the_attending_physician_and_the_auditor_read_the_log() {
    for t in support::all().await {
        let b = t.name();
        let pid = kitamura(&t).await;
        let nurse_id = t.user_id("nurse").await;
        let nurse_actor = t.app.authenticate_token(&token(&t, "nurse", 3600).await, None).await.unwrap();
        t.app.open_patient(&nurse_actor, &pid).await.unwrap();
        let nurse_read = t.audit().await.last().unwrap().seq;
        let no_patient = t.audit().await.iter().find(|e| e.event.patient_id.is_none()).unwrap().seq;
        let mut tokens = std::collections::BTreeMap::new();
        for login in ["physician", "physician2", "nurse", "caremanager", "pharmacist", "admin", "auditor"] {
            tokens.insert(login, token(&t, login, 3600).await);
        }
        let about = format!("/fhir/AuditEvent?patient={pid}");
        let unknown = format!("/fhir/AuditEvent?patient={RANDOM_ID}");

        // The sub-attending physician and the nurse read the patient but not the log: 403, as on
        // the access-log page.
        for login in ["physician2", "nurse"] {
            get_as(&t, &about, &tokens[login]).await.outcome(StatusCode::FORBIDDEN, "forbidden");
        }
        // Whoever cannot see the patient gets the gate's not-found, the bytes of an unknown id.
        let missing = get_as(&t, &unknown, &tokens["caremanager"]).await;
        missing.outcome(StatusCode::NOT_FOUND, "not-found");
        for login in ["caremanager", "pharmacist", "admin"] {
            let a = get_as(&t, &about, &tokens[login]).await;
            a.outcome(StatusCode::NOT_FOUND, "not-found");
            assert_eq!(a.body, missing.body, "{b}: {login}");
        }
        get_as(&t, &unknown, &tokens["physician"]).await.outcome(StatusCode::NOT_FOUND, "not-found");
        // The whole log is the auditor's alone.
        for login in ["physician", "nurse", "admin"] {
            get_as(&t, "/fhir/AuditEvent", &tokens[login]).await.outcome(StatusCode::FORBIDDEN, "forbidden");
        }
        let refusals = t.audit().await;
        let refused =
            refusals.iter().rev().find(|e| e.event.actor_login.as_deref() == Some("admin")).unwrap();
        assert_eq!(refused.event.action, "access.refused", "{b}");

        // The auditor: everything, by anyone, by agent.
        let auditor = &tokens["auditor"];
        let all = get_as(&t, "/fhir/AuditEvent?_count=5", auditor).await.ok();
        assert!(all["total"].as_i64().unwrap() > 10, "{b}: {all:#}");
        assert_eq!(matches(&all).len(), 5, "{b}");
        let nurse_read_id = nurse_read.to_string();
        for agent in ["nurse".to_string(), format!("Practitioner/{nurse_id}"), nurse_id.clone()] {
            let by = get_as(&t, &format!("/fhir/AuditEvent?agent={}", enc(&agent)), auditor).await.ok();
            let found = matches(&by);
            assert!(found.iter().any(|r| r["id"] == nurse_read_id.as_str()), "{b}: {agent}");
            assert!(found.iter().all(|r| r["agent"][0]["who"]["display"] == "nurse"), "{b}: {agent}");
        }
        let nobody = get_as(&t, "/fhir/AuditEvent?agent=no-such-login", auditor).await.ok();
        assert_eq!(nobody["total"], 0, "{b}");
        let theirs = get_as(&t, &format!("{about}&agent=nurse"), auditor).await.ok();
        assert!(ids(&theirs).contains(&nurse_read.to_string()), "{b}");
        let none = get_as(&t, &unknown, auditor).await.ok();
        assert_eq!(none["total"], 0, "{b}: an id that is no patient matches nothing");
        get_as(&t, &format!("/fhir/AuditEvent/{nurse_read}"), auditor).await.ok();
        get_as(&t, &format!("/fhir/AuditEvent/{no_patient}"), auditor).await.ok();
        let logged = t.audit().await;
        let last = logged.last().unwrap();
        assert_eq!(last.event.action, "access_log.read", "{b}");
        assert_eq!(last.event.actor_login.as_deref(), Some("auditor"), "{b}");
        assert_eq!(last.event.target_id, Some(no_patient.to_string()), "{b}");

        // Read by id: the attending physician reads the events about their patient only; anyone
        // else, an event about no patient, an unknown or malformed id: 404.
        let one = format!("/fhir/AuditEvent/{nurse_read}");
        let no_patient_path = format!("/fhir/AuditEvent/{no_patient}");
        get_as(&t, &one, &tokens["physician"]).await.ok();
        let gone = get_as(&t, "/fhir/AuditEvent/999999999", &tokens["physician"]).await;
        gone.outcome(StatusCode::NOT_FOUND, "not-found");
        for (login, path) in [
            ("physician2", one.as_str()),
            ("nurse", one.as_str()),
            ("caremanager", one.as_str()),
            ("admin", one.as_str()),
            ("physician", no_patient_path.as_str()),
            ("physician", "/fhir/AuditEvent/x1"),
        ] {
            let a = get_as(&t, path, &tokens[login]).await;
            a.outcome(StatusCode::NOT_FOUND, "not-found");
            assert_eq!(a.body, gone.body, "{b}: {login} {path}");
        }

        // No token, no log; the log is written by the server alone.
        get(&t, &about).await.outcome(StatusCode::UNAUTHORIZED, "login");
        let w = write_token(&t, "auditor").await;
        let body = serde_json::json!({ "resourceType": "AuditEvent" });
        for (method, path) in [
            (Method::POST, "/fhir/AuditEvent".to_string()),
            (Method::PUT, one.clone()),
            (Method::DELETE, one.clone()),
        ] {
            write_as(&t, method.clone(), &path, &w, &[], &body)
                .await
                .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        }
        get_as(&t, &format!("{one}/_history"), auditor)
            .await
            .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn the_capability_statement_lists_what_audit_event_does() {
    let t = support::all().await.into_iter().next().unwrap();
    let cs = get(&t, "/fhir/metadata").await.ok();
    let res = cs["rest"][0]["resource"].as_array().unwrap();
    let ae = res.iter().find(|r| r["type"] == "AuditEvent").unwrap();
    let interactions: Vec<&str> =
        ae["interaction"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert_eq!(interactions, ["read", "search-type"]);
    let params: Vec<&str> =
        ae["searchParam"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for p in ["patient", "agent", "date", "type", "action"] {
        assert!(params.contains(&p), "{params:?}");
    }
    assert!(!ae["documentation"].as_str().unwrap().contains("TODO"));
}
