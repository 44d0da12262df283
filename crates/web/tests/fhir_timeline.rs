//! The timeline through FHIR (issue 5): vital signs as `Observation` (a blood pressure after the
//! JP Core / FHIR example, with components) and messages and visit records as `Communication`,
//! created, read back and searched with equal meaning; refusals that change nothing; the 404 of
//! a person off the team; an audit event for every call — on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::TestApp;
use tsunagu_store::timeline_search::EntryQuery;

const KITAMURA: &str = "北村 トメ";

async fn patient_id(t: &TestApp, name: &str) -> String {
    let doctor = t.user_id("physician").await;
    t.app.store.my_patients(&doctor).await.unwrap().into_iter().find(|p| p.name == name).unwrap().id
}

/// Every entry of a patient, of any kind.
async fn entry_count(t: &TestApp, pid: &str) -> i64 {
    let kinds = ["visit", "vitals", "message", "file", "acp"].map(String::from).to_vec();
    t.app.store.count_entry_page(pid, &EntryQuery { kinds, limit: 1, ..Default::default() }).await.unwrap()
}

/// A blood pressure after the FHIR/JP Core example: 132/78 mmHg measured at 09:10 in Japan.
fn blood_pressure(pid: &str, systolic: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "meta": { "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns"] },
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs", "display": "Vital Signs"
        }] }],
        "code": {
            "coding": [{ "system": "http://loinc.org", "code": "85354-9",
                         "display": "Blood pressure panel with all children optional" }],
            "text": "血圧"
        },
        "subject": { "reference": format!("Patient/{pid}") },
        "effectiveDateTime": "2026-11-24T09:10:00+09:00",
        "component": [
            {
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure" }] },
                "valueQuantity": { "value": systolic, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]" }
            },
            {
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8462-4", "display": "Diastolic blood pressure" }] },
                "valueQuantity": { "value": 78, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]" }
            }
        ]
    })
}

fn component(obs: &Value, code: &str) -> Value {
    obs["component"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"]["coding"][0]["code"] == code)
        .unwrap_or_else(|| panic!("no component {code}: {obs}"))
        .clone()
}

#[tokio::test]
async fn a_blood_pressure_goes_in_and_comes_back_with_equal_meaning() {
    for t in support::all().await {
        let pid = patient_id(&t, KITAMURA).await;
        let nurse = write_token(&t, "nurse").await;
        let a =
            write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &blood_pressure(&pid, 132.0)).await;
        let created = a.expect(StatusCode::CREATED);
        let id = created["id"].as_str().unwrap().to_string();
        assert!(id.ends_with("-bp") && id.len() <= 64, "{id}");
        let location = a.headers.get(header::LOCATION).unwrap().to_str().unwrap();
        assert!(location.ends_with(&format!("/Observation/{id}/_history/1")), "{location}");

        let read = get_as(&t, &format!("/fhir/Observation/{id}"), &nurse).await.ok();
        for obs in [&created, &read] {
            assert_eq!(obs["status"], "final");
            assert_eq!(obs["code"]["coding"][0]["system"], "http://loinc.org");
            assert_eq!(obs["code"]["coding"][0]["code"], "85354-9");
            assert_eq!(obs["category"][0]["coding"][0]["code"], "vital-signs");
            assert_eq!(obs["subject"]["reference"], format!("Patient/{pid}"));
            assert_eq!(obs["effectiveDateTime"], "2026-11-24T00:10:00Z");
            assert_eq!(
                obs["performer"][0]["reference"],
                format!("Practitioner/{}", t.user_id("nurse").await)
            );
            let sys = component(obs, "8480-6");
            assert_eq!(sys["valueQuantity"]["value"].as_f64(), Some(132.0));
            assert_eq!(sys["valueQuantity"]["code"], "mm[Hg]");
            assert_eq!(sys["valueQuantity"]["system"], "http://unitsofmeasure.org");
            let dia = component(obs, "8462-4");
            assert_eq!(dia["valueQuantity"]["value"].as_f64(), Some(78.0));
            assert!(obs.get("valueQuantity").is_none());
            let profiles = obs["meta"]["profile"].as_array().unwrap();
            assert!(
                profiles
                    .iter()
                    .any(|p| p == "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns")
            );
        }
        assert_eq!(created, read, "{}", t.name());

        // Found by its code, as system|code and as a bare code, and by the day measured.
        for q in [
            format!("patient={pid}&code={}", enc("http://loinc.org|85354-9")),
            format!("patient=Patient/{pid}&code=85354-9&date=2026-11-24"),
            format!("subject={pid}&code=85354-9&date=ge2026-11-24T09:00:00%2B09:00&_sort=-date"),
        ] {
            let b = get_as(&t, &format!("/fhir/Observation?{q}"), &nurse).await.ok();
            assert_eq!(ids(&b).first(), Some(&id), "{q}: {b}");
            assert!(matches(&b).iter().all(|o| o["code"]["coding"][0]["code"] == "85354-9"), "{q}");
        }
        // Not by another code or another day.
        let b = get_as(&t, &format!("/fhir/Observation?patient={pid}&code=8867-4&date=2026-11-24"), &nurse)
            .await
            .ok();
        assert!(!ids(&b).contains(&id));
        let b = get_as(&t, &format!("/fhir/Observation?patient={pid}&code=85354-9&date=2026-11-23"), &nurse)
            .await
            .ok();
        assert!(!ids(&b).contains(&id));

        // The total only.
        let b = get_as(&t, &format!("/fhir/Observation?patient={pid}&code=85354-9&_summary=count"), &nurse)
            .await
            .ok();
        assert!(b["total"].as_i64().unwrap() > 10, "{b}");
        assert!(b.get("entry").is_none());
    }
}

#[tokio::test]
async fn the_demo_vitals_page_with_next_links_and_the_total_only_when_known_or_asked() {
    for t in support::all().await {
        let pid = patient_id(&t, KITAMURA).await;
        let nurse = token(&t, "nurse", 3600).await;
        let get = |path: String| {
            let (t, nurse) = (&t, nurse.clone());
            async move { get_as(t, &path, &nurse).await.ok() }
        };
        // `_total=accurate` counts every match; without it a page that is not the last has no
        // total (FHIR R4 makes it optional), only a next link.
        let counted = get(format!("/fhir/Observation?patient={pid}&_count=10&_total=accurate")).await;
        let total = counted["total"].as_i64().unwrap();
        assert!(total > 20, "{}: {total}", t.name());
        let first = get(format!("/fhir/Observation?patient={pid}&_count=10")).await;
        assert!(first.get("total").is_none(), "{}: {first}", t.name());
        assert_eq!(ids(&first), ids(&counted));
        assert_eq!(ids(&first).len(), 10);
        // Newest first.
        let times: Vec<String> =
            matches(&first).iter().map(|o| o["effectiveDateTime"].as_str().unwrap().to_string()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
        let next = link(&first, "next").expect("a next link");
        assert!(!next.contains("_total"), "{next}");
        let second = get(local(&next)).await;
        assert_eq!(ids(&second).len(), 10);
        assert!(ids(&second).iter().all(|i| !ids(&first).contains(i)));
        // Asked for, the total is on every page: the links carry `_total`.
        let next = link(&counted, "next").expect("a next link");
        assert!(next.contains("_total=accurate"), "{next}");
        assert_eq!(get(local(&next)).await["total"].as_i64(), Some(total));

        // Followed to the end: a next link exactly while more follow, each observation once,
        // and the last page knows the total without being asked.
        let (mut page, mut seen) = (second.clone(), [ids(&first), ids(&second)].concat());
        while let Some(next) = link(&page, "next") {
            page = get(local(&next)).await;
            seen.extend(ids(&page));
            if link(&page, "next").is_some() {
                assert!(page.get("total").is_none() && ids(&page).len() == 10, "{page}");
            }
        }
        assert_eq!(page["total"].as_i64(), Some(total), "{}: {page}", t.name());
        assert_eq!(seen.len(), usize::try_from(total).unwrap(), "{}", t.name());
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), usize::try_from(total).unwrap(), "{}: none twice", t.name());
        // A page that ends exactly at the last one: no next link, the total.
        let last = get(format!("/fhir/Observation?patient={pid}&_count=3&_offset={}", total - 3)).await;
        assert_eq!(ids(&last).len(), 3);
        assert_eq!((last["total"].as_i64(), link(&last, "next")), (Some(total), None), "{}", t.name());
        // Past the end: nothing, and no total unless asked.
        let past = format!("/fhir/Observation?patient={pid}&_count=10&_offset={}", total + 5);
        let b = get(past.clone()).await;
        assert!(ids(&b).is_empty() && link(&b, "next").is_none() && b.get("total").is_none(), "{b}");
        assert_eq!(get(format!("{past}&_total=accurate")).await["total"].as_i64(), Some(total));
        // `none` and `estimate` ask for nothing more; anything else is refused.
        for v in ["none", "estimate"] {
            let b = get(format!("/fhir/Observation?patient={pid}&_count=10&_total={v}")).await;
            assert!(b.get("total").is_none() && link(&b, "next").is_some(), "{v}: {b}");
        }
        get_as(&t, &format!("/fhir/Observation?patient={pid}&_total=exact"), &nurse)
            .await
            .outcome(StatusCode::BAD_REQUEST, "invalid");
        // Every blood pressure is one Observation with both components.
        for o in matches(&first).iter().chain(matches(&second).iter()) {
            if o["code"]["coding"][0]["code"] == "85354-9" {
                assert_eq!(o["component"].as_array().unwrap().len(), 2, "{o}");
            }
            if o["code"]["coding"][0]["code"] == "59408-5" {
                assert_eq!(o["code"]["coding"][1]["code"], "2708-6");
                assert_eq!(o["valueQuantity"]["code"], "%");
            }
        }
        // Oldest first on request.
        let old =
            get_as(&t, &format!("/fhir/Observation?patient={pid}&_count=5&_sort=date"), &nurse).await.ok();
        let times: Vec<String> =
            matches(&old).iter().map(|o| o["effectiveDateTime"].as_str().unwrap().to_string()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        // The patient is required.
        get_as(&t, "/fhir/Observation?code=85354-9", &nurse)
            .await
            .outcome(StatusCode::BAD_REQUEST, "invalid");
    }
}

#[tokio::test]
async fn an_urgent_message_is_created_read_and_found_newest_first() {
    for t in support::all().await {
        let pid = patient_id(&t, KITAMURA).await;
        let nurse = write_token(&t, "nurse").await;
        let doctor = t.user_id("physician").await;
        t.advance_minutes(5);
        let msg = json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": [{ "coding": [{ "system": "https://tsunagu.example/fhir/CodeSystem/entry-kind", "code": "message" }] }],
            "priority": "urgent",
            "subject": { "reference": format!("Patient/{pid}") },
            "recipient": [{ "reference": format!("Practitioner/{doctor}") }],
            "payload": [{ "contentString": "夜間に息切れの訴えあり。至急ご確認ください。" }]
        });
        let a = write_as(&t, Method::POST, "/fhir/Communication", &nurse, &[], &msg).await;
        let created = a.expect(StatusCode::CREATED);
        let id = created["id"].as_str().unwrap().to_string();
        let read = get_as(&t, &format!("/fhir/Communication/{id}"), &nurse).await.ok();
        assert_eq!(read["priority"], "urgent");
        assert_eq!(read["status"], "completed");
        assert_eq!(read["category"][0]["coding"][0]["code"], "message");
        assert_eq!(read["subject"]["reference"], format!("Patient/{pid}"));
        assert_eq!(read["recipient"][0]["reference"], format!("Practitioner/{doctor}"));
        assert_eq!(read["sender"]["reference"], format!("Practitioner/{}", t.user_id("nurse").await));
        assert_eq!(read["payload"][0]["contentString"], "夜間に息切れの訴えあり。至急ご確認ください。");
        assert_eq!(read["sent"], created["sent"]);

        // The newest 20 entries: this message first.
        let b = get_as(&t, &format!("/fhir/Communication?patient={pid}&_count=20&_sort=-sent"), &nurse)
            .await
            .ok();
        assert_eq!(ids(&b).first(), Some(&id), "{b}");
        assert_eq!(ids(&b).len(), 20);
        let sent: Vec<String> = matches(&b).iter().map(|c| c["sent"].as_str().unwrap().to_string()).collect();
        assert!(sent.windows(2).all(|w| w[0] >= w[1]), "{sent:?}");
        // More follow: a next link, and no total (nothing counts the patient's whole timeline).
        assert!(link(&b, "next").is_some());
        assert!(b.get("total").is_none(), "{b}");
        // Visit records are there too, with their fields apart.
        let visits =
            get_as(&t, &format!("/fhir/Communication?patient={pid}&category=visit&_count=5"), &nurse)
                .await
                .ok();
        assert!(!ids(&visits).is_empty());
        assert!(matches(&visits).iter().all(|c| c["category"][0]["coding"][0]["code"] == "visit"));
        // Urgent ones only.
        let urgent =
            get_as(&t, &format!("/fhir/Communication?patient={pid}&priority=urgent"), &nurse).await.ok();
        assert!(ids(&urgent).contains(&id));
        assert!(matches(&urgent).iter().all(|c| c["priority"] == "urgent"));
        let count =
            get_as(&t, &format!("/fhir/Communication?patient={pid}&_summary=count"), &nurse).await.ok();
        assert!(count["total"].as_i64().unwrap() >= 20);
        let counted = format!("/fhir/Communication?patient={pid}&_count=20&_sort=-sent&_total=accurate");
        let b = get_as(&t, &counted, &nurse).await.ok();
        assert_eq!(b["total"], count["total"], "{}", t.name());
    }
}

#[tokio::test]
async fn refused_writes_change_nothing() {
    for t in support::all().await {
        let pid = patient_id(&t, KITAMURA).await;
        let nurse = write_token(&t, "nurse").await;
        let nurse_id = t.user_id("nurse").await;
        // A patient of the physician's the nurse is not on the team of.
        let doctor = t.user_id("physician").await;
        let theirs: Vec<String> =
            t.app.store.my_patients(&nurse_id).await.unwrap().into_iter().map(|p| p.id).collect();
        let other = t
            .app
            .store
            .my_patients(&doctor)
            .await
            .unwrap()
            .into_iter()
            .find(|p| !theirs.contains(&p.id))
            .expect("a patient the nurse does not see")
            .id;
        let before = entry_count(&t, &pid).await;
        let before_other = entry_count(&t, &other).await;

        let a =
            write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &blood_pressure(&pid, 400.0)).await;
        let issue = a.outcome(StatusCode::UNPROCESSABLE_ENTITY, "business-rule");
        assert_eq!(issue["expression"][0], "component[0].valueQuantity.value");

        let hidden =
            write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &blood_pressure(&other, 130.0))
                .await;
        hidden.outcome(StatusCode::UNPROCESSABLE_ENTITY, "business-rule");
        let missing = "0193a1c2-0000-7000-8000-00000000dead";
        let none =
            write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &blood_pressure(missing, 130.0))
                .await;
        assert_eq!(hidden.body, none.body, "a hidden patient and a missing one answer alike");

        let mut no_subject = blood_pressure(&pid, 130.0);
        no_subject.as_object_mut().unwrap().remove("subject");
        write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &no_subject)
            .await
            .outcome(StatusCode::UNPROCESSABLE_ENTITY, "required");

        let mut kpa = blood_pressure(&pid, 130.0);
        kpa["component"][0]["valueQuantity"]["code"] = json!("kPa");
        write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &kpa)
            .await
            .outcome(StatusCode::UNPROCESSABLE_ENTITY, "business-rule");

        let mut wrong_type = blood_pressure(&pid, 130.0);
        wrong_type["resourceType"] = json!("Patient");
        write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &wrong_type)
            .await
            .outcome(StatusCode::BAD_REQUEST, "invalid");

        let auth = bearer(&nurse);
        send_body(
            &t,
            Method::POST,
            "/fhir/Observation",
            &[("authorization", &auth)],
            b"{\"resourceType\":".to_vec(),
        )
        .await
        .outcome(StatusCode::BAD_REQUEST, "structure");
        send_body(&t, Method::POST, "/fhir/Communication", &[("authorization", &auth)], b"[1,2".to_vec())
            .await
            .outcome(StatusCode::BAD_REQUEST, "structure");

        // A read-only token writes nothing either.
        let read_only = token(&t, "nurse", 3600).await;
        let a =
            write_as(&t, Method::POST, "/fhir/Observation", &read_only, &[], &blood_pressure(&pid, 130.0))
                .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

        assert_eq!(entry_count(&t, &pid).await, before, "{}", t.name());
        assert_eq!(entry_count(&t, &other).await, before_other, "{}", t.name());
    }
}

#[tokio::test]
async fn people_off_the_team_get_404_and_every_call_is_audited() {
    for t in support::all().await {
        let pid = patient_id(&t, KITAMURA).await;
        let nurse = write_token(&t, "nurse").await;
        let created =
            write_as(&t, Method::POST, "/fhir/Observation", &nurse, &[], &blood_pressure(&pid, 128.0))
                .await
                .expect(StatusCode::CREATED);
        let obs = created["id"].as_str().unwrap().to_string();
        let b = get_as(&t, &format!("/fhir/Communication?patient={pid}&_count=1"), &nurse).await.ok();
        let comm = ids(&b)[0].clone();

        let mut not_found = Vec::new();
        for login in ["caremanager", "pharmacist", "admin", "er-physician"] {
            let tok = token(&t, login, 3600).await;
            for path in [
                format!("/fhir/Observation?patient={pid}"),
                format!("/fhir/Observation/{obs}"),
                format!("/fhir/Communication?patient={pid}"),
                format!("/fhir/Communication/{comm}"),
            ] {
                let a = get_as(&t, &path, &tok).await;
                a.outcome(StatusCode::NOT_FOUND, "not-found");
                not_found.push(a.body);
            }
        }
        // Unknown and malformed ids answer the same bytes.
        for path in [
            "/fhir/Observation/0193a1c2-0000-7000-8000-00000000dead-bp".to_string(),
            "/fhir/Observation/nonsense".to_string(),
            "/fhir/Communication/0193a1c2-0000-7000-8000-00000000dead".to_string(),
            format!("/fhir/Communication/{}", obs.trim_end_matches("-bp")),
        ] {
            let a = get_as(&t, &path, &nurse).await;
            a.outcome(StatusCode::NOT_FOUND, "not-found");
            not_found.push(a.body);
        }
        assert!(not_found.windows(2).all(|w| w[0] == w[1]), "{}: 404s differ", t.name());

        // Every call, answered or refused, leaves at least one audit event from the API.
        for (method, path, body) in [
            (Method::GET, format!("/fhir/Observation?patient={pid}&_count=3"), None),
            (Method::GET, format!("/fhir/Observation/{obs}"), None),
            (Method::GET, format!("/fhir/Communication?patient={pid}&_count=3"), None),
            (Method::GET, format!("/fhir/Communication/{comm}"), None),
            (Method::GET, "/fhir/Communication/nonsense".to_string(), None),
            (Method::POST, "/fhir/Observation".to_string(), Some(blood_pressure(&pid, 126.0))),
        ] {
            let before = t.audit().await.len();
            let a = match body {
                Some(b) => write_as(&t, method.clone(), &path, &nurse, &[], &b).await,
                None => get_as(&t, &path, &nurse).await,
            };
            assert!(a.status.is_success() || a.status == StatusCode::NOT_FOUND, "{}", a.body);
            let events = t.audit().await;
            let new = &events[before..];
            assert_eq!(new.len(), 1, "{method} {path}: {new:?}");
            assert!(new[0].event.via.as_deref().is_some_and(|v| v.starts_with("api:")), "{path}: {new:?}");
        }
        let cm = token(&t, "caremanager", 3600).await;
        let before = t.audit().await.len();
        get_as(&t, &format!("/fhir/Observation?patient={pid}"), &cm).await;
        let events = t.audit().await;
        assert!(!events[before..].is_empty());
        assert!(
            events[before..].iter().all(|e| e.event.via.as_deref().is_some_and(|v| v.starts_with("api:")))
        );
        t.assert_audit_chain_intact().await;
    }
}
