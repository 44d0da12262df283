//! `CareTeam` and `Consent` through the FHIR API, on every backend: who sees which members of
//! 北村 トメ's team, and a consent recorded, read back, searched and withdrawn by `PUT`, with
//! the version checks and refusals that change nothing.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::TestApp;
use support::fhir::{get_as, ids, matches, token, write_as, write_token};
use tsunagu_app::{Actor, AppError, AuthVia};

const CANONICAL: &str = "https://tsunagu.example/fhir";

async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Session { token_hash: format!("team-{login}") }, None).await.unwrap()
}

/// The demo patient named `name` among 山田's patients.
async fn patient(t: &TestApp, name: &str) -> String {
    let doctor = actor(t, "physician").await;
    t.app.my_patients(&doctor).await.unwrap().into_iter().find(|p| p.name == name).expect(name).id
}

/// The member status extension of the participant who is `Practitioner/{user}`, if listed.
fn member_status(team: &Value, user: &str) -> Option<String> {
    let reference = format!("Practitioner/{user}");
    team["participant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"]["reference"] == reference.as_str())
        .map(|p| {
            let ext = p["extension"].as_array().unwrap();
            let e = ext
                .iter()
                .find(|e| e["url"] == format!("{CANONICAL}/StructureDefinition/team-member-status"));
            e.unwrap()["valueCode"].as_str().unwrap().to_string()
        })
}

fn role_codes(team: &Value, user: &str) -> Vec<String> {
    let reference = format!("Practitioner/{user}");
    let p = team["participant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"]["reference"] == reference.as_str());
    p.unwrap()["role"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}|{}",
                r["coding"][0]["system"].as_str().unwrap(),
                r["coding"][0]["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_care_team_shows_pending_members_to_physicians_only() {
    for t in support::all().await {
        let kitamura = patient(&t, "北村 トメ").await;
        let pharmacist = t.user_id("pharmacist").await;
        let nurse = t.user_id("nurse").await;
        let doctor = t.user_id("physician").await;
        let path = format!("/fhir/CareTeam/{kitamura}");

        let team = get_as(&t, &path, &token(&t, "physician", 3600).await).await.ok();
        assert_eq!(team["resourceType"], "CareTeam");
        assert_eq!(team["id"], kitamura.as_str());
        assert_eq!(team["status"], "active");
        assert_eq!(team["subject"]["reference"], format!("Patient/{kitamura}"));
        assert_eq!(member_status(&team, &pharmacist).as_deref(), Some("pending"), "{team}");
        assert_eq!(member_status(&team, &nurse).as_deref(), Some("active"));
        assert_eq!(member_status(&team, &doctor).as_deref(), Some("active"));
        let roles = role_codes(&team, &doctor);
        assert!(roles.contains(&format!("{CANONICAL}/CodeSystem/team-role|attending")), "{roles:?}");
        assert!(roles.contains(&format!("{CANONICAL}/CodeSystem/profession|physician")), "{roles:?}");
        assert!(
            role_codes(&team, &pharmacist).contains(&format!("{CANONICAL}/CodeSystem/profession|pharmacist"))
        );
        let physician2 = t.user_id("physician2").await;
        assert!(
            role_codes(&team, &physician2)
                .contains(&format!("{CANONICAL}/CodeSystem/team-role|sub_attending"))
        );
        let nurse_entry = team["participant"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["member"]["reference"] == format!("Practitioner/{nurse}"))
            .unwrap()
            .clone();
        assert!(nurse_entry["period"]["start"].is_string(), "{nurse_entry}");
        assert!(team["managingOrganization"][0]["reference"].as_str().unwrap().starts_with("Organization/"));

        // The nurse sees the active team: no pending pharmacist.
        let seen = get_as(&t, &path, &token(&t, "nurse", 3600).await).await.ok();
        assert_eq!(member_status(&seen, &pharmacist), None, "{seen}");
        assert_eq!(member_status(&seen, &nurse).as_deref(), Some("active"));

        // A non-member and the pending pharmacist: the 404 of a patient who does not exist.
        let cm = token(&t, "caremanager", 3600).await;
        let hidden = get_as(&t, &path, &cm).await;
        hidden.outcome(StatusCode::NOT_FOUND, "not-found");
        let missing = get_as(&t, "/fhir/CareTeam/0190a5c4-0000-7000-8000-000000000000", &cm).await;
        assert_eq!(hidden.body, missing.body);
        let pending = get_as(&t, &path, &token(&t, "pharmacist", 3600).await).await;
        assert_eq!(pending.status, StatusCode::NOT_FOUND);
        assert_eq!(pending.body, missing.body);

        // Search: one team for a member, none for anyone else.
        let q = format!("/fhir/CareTeam?patient=Patient/{kitamura}");
        let b = get_as(&t, &q, &token(&t, "nurse", 3600).await).await.ok();
        assert_eq!((b["total"].as_i64(), ids(&b)), (Some(1), vec![kitamura.clone()]));
        let b = get_as(&t, &q, &cm).await.ok();
        assert_eq!(b["total"], 0);
        let b = get_as(&t, &format!("{q}&status=suspended"), &token(&t, "nurse", 3600).await).await.ok();
        assert_eq!(b["total"], 0);
        let b = get_as(
            &t,
            &format!("/fhir/CareTeam?subject={kitamura}&participant=Practitioner/{nurse}&_summary=count"),
            &cm,
        )
        .await
        .ok();
        assert_eq!(b["total"], 0);
        get_as(&t, "/fhir/CareTeam", &cm).await.outcome(StatusCode::BAD_REQUEST, "required");
        get_as(&t, &format!("{q}&bogus=1"), &cm).await.outcome(StatusCode::BAD_REQUEST, "not-supported");
        // Writes are not offered.
        let w = write_as(&t, Method::PUT, &path, &write_token(&t, "physician").await, &[], &team).await;
        assert_eq!(w.status, StatusCode::METHOD_NOT_ALLOWED, "{}", w.body);
    }
}

fn new_consent(patient: &str, day: &str) -> Value {
    json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }]
        },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
        "patient": { "reference": format!("Patient/{patient}") },
        "dateTime": day,
        "performer": [{ "reference": format!("Patient/{patient}") }],
        "extension": [{
            "url": format!("{CANONICAL}/StructureDefinition/consent-scope"),
            "valueString": "在宅医療・介護の多職種連携",
        }],
    })
}

async fn consent_count(t: &TestApp, patient: &str, token: &str) -> i64 {
    let b = get_as(t, &format!("/fhir/Consent?patient={patient}"), token).await.ok();
    b["total"].as_i64().unwrap()
}

#[tokio::test]
async fn a_consent_is_recorded_read_and_withdrawn_through_the_api() {
    for t in support::all().await {
        let oshima = patient(&t, "大島 清").await;
        let kitamura = patient(&t, "北村 トメ").await;
        let doctor = write_token(&t, "physician").await;
        let nurse = write_token(&t, "nurse").await;
        let doctor_actor = actor(&t, "physician").await;
        let nurse_actor = actor(&t, "nurse").await;
        let today = "2026-11-24";

        // The patient without consent: only the attending physician sees them, and no consent.
        assert_eq!(consent_count(&t, &oshima, &doctor).await, 0);
        let team = get_as(&t, &format!("/fhir/CareTeam/{oshima}"), &doctor).await.ok();
        assert_eq!(team["status"], "proposed");

        // A nurse may not record a consent: 404 where she is on no team, 403 where she is a
        // member but not a physician managing it. Nothing is written.
        let kitamura_before = consent_count(&t, &kitamura, &doctor).await;
        let a = write_as(&t, Method::POST, "/fhir/Consent", &nurse, &[], &new_consent(&oshima, today)).await;
        a.outcome(StatusCode::NOT_FOUND, "not-found");
        let a =
            write_as(&t, Method::POST, "/fhir/Consent", &nurse, &[], &new_consent(&kitamura, today)).await;
        a.outcome(StatusCode::FORBIDDEN, "forbidden");
        // A read-only token of the physician cannot either.
        let ro = token(&t, "physician", 3600).await;
        let a = write_as(&t, Method::POST, "/fhir/Consent", &ro, &[], &new_consent(&oshima, today)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert_eq!(consent_count(&t, &oshima, &doctor).await, 0);
        assert_eq!(consent_count(&t, &kitamura, &doctor).await, kitamura_before);

        // Rule-breaking consents: 422, nothing written.
        let mut other = new_consent(&oshima, today);
        other["performer"] = json!([{ "reference": format!("Patient/{kitamura}") }]);
        let mut no_patient = new_consent(&oshima, today);
        no_patient.as_object_mut().unwrap().remove("patient");
        let mut bad_status = new_consent(&oshima, today);
        bad_status["status"] = json!("maybe");
        let mut future = new_consent(&oshima, "2027-01-01");
        future["id"] = json!("ignored");
        let mut no_scope = new_consent(&oshima, today);
        no_scope.as_object_mut().unwrap().remove("extension");
        for body in [other, no_patient, bad_status, future, no_scope] {
            let a = write_as(&t, Method::POST, "/fhir/Consent", &doctor, &[], &body).await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", a.body);
            assert_eq!(a.json()["resourceType"], "OperationOutcome");
        }
        assert_eq!(consent_count(&t, &oshima, &doctor).await, 0);

        // The attending physician records it: 201, and it reads back with equal meaning.
        let created =
            write_as(&t, Method::POST, "/fhir/Consent", &doctor, &[], &new_consent(&oshima, today)).await;
        let c = created.expect(StatusCode::CREATED);
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(created.headers.get(header::ETAG).unwrap(), "W/\"1\"");
        let location = created.headers.get(header::LOCATION).unwrap().to_str().unwrap();
        assert!(location.ends_with(&format!("/fhir/Consent/{id}/_history/1")), "{location}");
        let read = get_as(&t, &format!("/fhir/Consent/{id}"), &doctor).await.ok();
        assert_eq!(read, c);
        assert_eq!(read["status"], "active");
        assert_eq!(read["meta"]["versionId"], "1");
        assert_eq!(read["patient"]["reference"], format!("Patient/{oshima}"));
        assert_eq!(read["performer"][0]["reference"], format!("Patient/{oshima}"));
        assert_eq!(read["dateTime"], today);
        assert_eq!(read["scope"]["coding"][0]["code"], "patient-privacy");
        assert_eq!(read["category"][0]["coding"][0]["code"], "59284-0");
        let scope = read["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"] == format!("{CANONICAL}/StructureDefinition/consent-scope"))
            .unwrap();
        assert_eq!(scope["valueString"], "在宅医療・介護の多職種連携");
        let b =
            get_as(&t, &format!("/fhir/Consent?patient=Patient/{oshima}&status=active"), &doctor).await.ok();
        assert_eq!(ids(&b), vec![id.clone()]);
        let b = get_as(&t, &format!("/fhir/Consent?patient={oshima}&date=lt{today}"), &doctor).await.ok();
        assert_eq!(b["total"], 0);
        let team = get_as(&t, &format!("/fhir/CareTeam/{oshima}"), &doctor).await.ok();
        assert_eq!(team["status"], "active");

        // With consent, a member can be admitted and reads the patient.
        t.app.add_member(&doctor_actor, &oshima, "nurse", "").await.unwrap();
        assert!(t.app.open_patient(&nurse_actor, &oshima).await.is_ok());
        let b = get_as(&t, &format!("/fhir/Consent?patient={oshima}"), &nurse).await.ok();
        assert_eq!(ids(&b), vec![id.clone()]);
        get_as(&t, &format!("/fhir/CareTeam/{oshima}"), &nurse).await.ok();
        let patient_api =
            get_as(&t, &format!("/fhir/Patient/{oshima}"), &nurse).await.status == StatusCode::OK;

        // A nurse cannot withdraw it (403), and a stale If-Match is 412: nothing changes.
        let mut withdrawal = read.clone();
        withdrawal["status"] = json!("inactive");
        withdrawal["extension"].as_array_mut().unwrap().push(json!({
            "url": format!("{CANONICAL}/StructureDefinition/consent-withdrawal-reason"),
            "valueString": "本人の申し出により",
        }));
        let path = format!("/fhir/Consent/{id}");
        let a = write_as(&t, Method::PUT, &path, &nurse, &[("if-match", "W/\"1\"")], &withdrawal).await;
        a.outcome(StatusCode::FORBIDDEN, "forbidden");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"2\"")], &withdrawal).await;
        a.outcome(StatusCode::PRECONDITION_FAILED, "conflict");
        // No version at all (neither If-Match nor meta.versionId): 428; a stale meta.versionId: 409.
        let mut unversioned = withdrawal.clone();
        unversioned.as_object_mut().unwrap().remove("meta");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[], &unversioned).await;
        assert_eq!(a.status, StatusCode::PRECONDITION_REQUIRED, "{}", a.body);
        unversioned["meta"] = json!({ "versionId": "2" });
        let a = write_as(&t, Method::PUT, &path, &doctor, &[], &unversioned).await;
        a.outcome(StatusCode::CONFLICT, "conflict");
        // Anything but the status changed: 422.
        let mut changed = withdrawal.clone();
        changed["dateTime"] = json!("2026-11-20");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &changed).await;
        a.outcome(StatusCode::UNPROCESSABLE_ENTITY, "business-rule");
        // No reason: 422 naming the extension.
        let mut no_reason = read.clone();
        no_reason["status"] = json!("inactive");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &no_reason).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        let still = get_as(&t, &path, &doctor).await.ok();
        assert_eq!(still, read);
        assert!(t.app.open_patient(&nurse_actor, &oshima).await.is_ok());

        // The withdrawal: 200, version 2, and the other members lose access at once.
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &withdrawal).await;
        let w = a.expect(StatusCode::OK);
        assert_eq!(a.headers.get(header::ETAG).unwrap(), "W/\"2\"");
        assert_eq!(w["status"], "inactive");
        assert_eq!(w["meta"]["versionId"], "2");
        assert!(w["provision"]["period"]["end"].is_string(), "{w}");
        assert_eq!(get_as(&t, &path, &doctor).await.ok(), w);
        assert!(matches!(t.app.open_patient(&nurse_actor, &oshima).await, Err(AppError::NotFound)));
        get_as(&t, &format!("/fhir/CareTeam/{oshima}"), &nurse)
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");
        if patient_api {
            let a = get_as(&t, &format!("/fhir/Patient/{oshima}"), &nurse).await;
            a.outcome(StatusCode::NOT_FOUND, "not-found");
        }
        let team = get_as(&t, &format!("/fhir/CareTeam/{oshima}"), &doctor).await.ok();
        assert_eq!(team["status"], "suspended");
        let b = get_as(&t, &format!("/fhir/Consent?patient={oshima}&status=inactive"), &doctor).await.ok();
        assert_eq!(ids(&b), vec![id.clone()]);

        // A stale If-Match now: 412, nothing changes. The same withdrawal again changes nothing.
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &withdrawal).await;
        a.outcome(StatusCode::PRECONDITION_FAILED, "conflict");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"2\"")], &w).await;
        assert_eq!(a.expect(StatusCode::OK), w);
        let mut again = w.clone();
        again["status"] = json!("active");
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"2\"")], &again).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert_eq!(get_as(&t, &path, &doctor).await.ok(), w);

        // vread and history: version 1 as recorded, 2 withdrawn.
        let v1 = get_as(&t, &format!("{path}/_history/1"), &doctor).await.ok();
        assert_eq!(v1, read);
        get_as(&t, &format!("{path}/_history/3"), &doctor).await.outcome(StatusCode::NOT_FOUND, "not-found");
        let h = get_as(&t, &format!("{path}/_history"), &doctor).await.ok();
        assert_eq!(h["type"], "history");
        let versions: Vec<Value> = h["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["meta"]["versionId"].clone())
            .collect();
        assert_eq!(versions, vec![json!("2"), json!("1")]);

        // A proxy's consent round-trips as a contained RelatedPerson; sorted by date.
        let mut proxy = new_consent(&oshima, "2026-11-23");
        proxy["contained"] = json!([{
            "resourceType": "RelatedPerson",
            "id": "p",
            "patient": { "reference": format!("Patient/{oshima}") },
            "name": [{ "text": "大島 和子" }], "relationship": [{ "text": "妻" }],
        }]);
        proxy["performer"] = json!([{ "reference": "#p" }]);
        let p = write_as(&t, Method::POST, "/fhir/Consent", &doctor, &[], &proxy)
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(p["performer"][0]["display"], "大島 和子");
        assert_eq!(p["contained"][0]["relationship"][0]["text"], "妻");
        let b = get_as(&t, &format!("/fhir/Consent?patient={oshima}&_sort=date"), &doctor).await.ok();
        assert_eq!(ids(&b), vec![p["id"].as_str().unwrap().to_string(), id.clone()]);
        let b = get_as(&t, &format!("/fhir/Consent?patient={oshima}&_sort=-date"), &doctor).await.ok();
        assert_eq!(matches(&b).len(), 2);
        assert_eq!(ids(&b)[0], id);

        // A consent id nobody may see: the same 404 as one that does not exist.
        let cm = token(&t, "caremanager", 3600).await;
        let hidden = get_as(&t, &path, &cm).await;
        let missing = get_as(&t, "/fhir/Consent/0190a5c4-0000-7000-8000-000000000000", &cm).await;
        hidden.outcome(StatusCode::NOT_FOUND, "not-found");
        assert_eq!(hidden.body, missing.body);
        assert_eq!(consent_count(&t, &oshima, &cm).await, 0);
    }
}

/// The actions of the audit events written since `seq`, about patient `patient`.
async fn actions_since(t: &TestApp, seq: i64, patient: &str) -> Vec<String> {
    t.audit()
        .await
        .into_iter()
        .filter(|e| e.seq > seq && e.event.patient_id.as_deref() == Some(patient))
        .map(|e| format!("{} {}", e.event.action, e.event.via.clone().unwrap_or_default()))
        .collect()
}

async fn last_seq(t: &TestApp) -> i64 {
    t.audit().await.last().map_or(0, |e| e.seq)
}

#[tokio::test]
async fn every_call_is_one_audit_event_through_the_token() {
    for t in support::all().await {
        let oshima = patient(&t, "大島 清").await;
        let kitamura = patient(&t, "北村 トメ").await;
        let doctor = write_token(&t, "physician").await;

        let seq = last_seq(&t).await;
        get_as(&t, &format!("/fhir/CareTeam/{kitamura}"), &doctor).await.ok();
        let got = actions_since(&t, seq, &kitamura).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("patient.read api:"), "{got:?}");

        let seq = last_seq(&t).await;
        let c =
            write_as(&t, Method::POST, "/fhir/Consent", &doctor, &[], &new_consent(&oshima, "2026-11-24"))
                .await
                .expect(StatusCode::CREATED);
        let got = actions_since(&t, seq, &oshima).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("consent.recorded api:"), "{got:?}");

        let id = c["id"].as_str().unwrap();
        let seq = last_seq(&t).await;
        get_as(&t, &format!("/fhir/Consent/{id}"), &doctor).await.ok();
        assert_eq!(actions_since(&t, seq, &oshima).await.len(), 1);

        // A stale version writes nothing; the withdrawal writes one event.
        let mut w = c.clone();
        w["status"] = json!("inactive");
        w["extension"].as_array_mut().unwrap().push(json!({
            "url": format!("{CANONICAL}/StructureDefinition/consent-withdrawal-reason"),
            "valueString": "転居のため",
        }));
        let path = format!("/fhir/Consent/{id}");
        let seq = last_seq(&t).await;
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"2\"")], &w).await;
        assert_eq!(a.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(actions_since(&t, seq, &oshima).await, Vec::<String>::new());
        write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &w).await.ok();
        let got = actions_since(&t, seq, &oshima).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("consent.withdrawn api:"), "{got:?}");
        t.assert_audit_chain_intact().await;
    }
}
