//! FHIR `Patient` (JP_Patient), `Practitioner` and `PractitionerRole` at the router (issue 5), on
//! every backend the store harness finds: a patient written after the JP Core example (kanji
//! and kana names with the representation extension) is created, read back and searched with
//! the same meaning; updates with `If-Match`, history and vread; refusals that write nothing.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::TestApp;

const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const INSURANCE: &str = "https://tsunagu.example/fhir/sid/care-insurance-number";
const PATIENT_ID: &str = "https://tsunagu.example/fhir/sid/patient-id";
const CARE_LEVEL: &str = "https://tsunagu.example/fhir/StructureDefinition/care-level";

/// A patient after JP Core's example `jp-patient-example-1`: the kanji name (IDE) and the kana
/// reading (SYL), each split into family and given, a phone, gender and birth date, an address,
/// and Tsunagu's care-insurance number and care level.
fn example(kanji: &str, kana: &str) -> Value {
    let split = |s: &str| {
        let (f, g) = s.split_once(' ').unwrap();
        (f.to_string(), g.to_string())
    };
    let (kf, kg) = split(kanji);
    let (yf, yg) = split(kana);
    json!({
        "resourceType": "Patient",
        "meta": { "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"] },
        "extension": [{
            "url": CARE_LEVEL,
            "valueCoding": { "system": "https://tsunagu.example/fhir/CodeSystem/care-level", "code": "care_2" }
        }],
        "identifier": [{ "system": INSURANCE, "value": "0001234567" }],
        "name": [
            { "extension": [{ "url": REPRESENTATION, "valueCode": "IDE" }], "use": "official",
              "text": kanji, "family": kf, "given": [kg] },
            { "extension": [{ "url": REPRESENTATION, "valueCode": "SYL" }], "use": "official",
              "text": kana, "family": yf, "given": [yg] }
        ],
        "telecom": [{ "system": "phone", "value": "0312345678", "use": "home" }],
        "gender": "male",
        "birthDate": "1940-01-01",
        "address": [{ "text": "石川県金沢市広坂1-1-1", "postalCode": "920-0962" }]
    })
}

fn name_of(p: &Value, rep: &str) -> Value {
    p["name"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["extension"][0]["url"] == REPRESENTATION && n["extension"][0]["valueCode"] == rep)
        .cloned()
        .unwrap_or_else(|| panic!("no {rep} name: {p}"))
}

fn identifier(p: &Value, system: &str) -> Option<String> {
    p["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == system)
        .map(|i| i["value"].as_str().unwrap().into())
}

/// The resource means what the example said.
fn assert_same_meaning(t: &TestApp, p: &Value, kanji: &str, kana: &str) {
    let who = t.name();
    let ide = name_of(p, "IDE");
    assert_eq!(ide["text"], kanji, "{who}");
    assert_eq!(ide["family"], kanji.split(' ').next().unwrap(), "{who}");
    assert_eq!(ide["given"][0], kanji.split(' ').nth(1).unwrap(), "{who}");
    let syl = name_of(p, "SYL");
    assert_eq!(syl["text"], kana, "{who}");
    assert_eq!(syl["family"], kana.split(' ').next().unwrap(), "{who}");
    assert_eq!(p["gender"], "male", "{who}");
    assert_eq!(p["birthDate"], "1940-01-01", "{who}");
    assert_eq!(p["address"][0]["text"], "石川県金沢市広坂1-1-1", "{who}");
    assert_eq!(p["address"][0]["state"], "石川県", "{who}");
    assert_eq!(p["address"][0]["city"], "金沢市", "{who}");
    assert_eq!(p["address"][0]["line"][0], "広坂1-1-1", "{who}");
    assert_eq!(p["telecom"][0]["value"], "0312345678", "{who}");
    assert_eq!(identifier(p, INSURANCE).as_deref(), Some("0001234567"), "{who}");
    assert_eq!(identifier(p, PATIENT_ID).as_deref(), p["id"].as_str(), "{who}");
    assert_eq!(p["extension"][0]["url"], CARE_LEVEL, "{who}");
    assert_eq!(p["extension"][0]["valueCoding"]["code"], "care_2", "{who}");
    assert_eq!(p["meta"]["profile"][0], "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient", "{who}");
}

async fn count(t: &TestApp) -> i64 {
    t.app.store.count_patients().await.unwrap()
}

async fn create(t: &TestApp, token: &str, body: &Value) -> Answer {
    write_as(t, Method::POST, "/fhir/Patient", token, &[], body).await
}

#[tokio::test]
async fn a_jp_core_patient_is_created_read_back_and_found_with_the_same_meaning() {
    for t in support::all().await {
        let doctor = write_token(&t, "physician").await;
        let (kanji, kana) = ("松井 秀一", "マツイ シュウイチ");
        let a = create(&t, &doctor, &example(kanji, kana)).await;
        let created = a.expect(StatusCode::CREATED);
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["meta"]["versionId"], "1");
        let location = a.headers.get(header::LOCATION).unwrap().to_str().unwrap().to_string();
        assert_eq!(local(&location), format!("/fhir/Patient/{id}/_history/1"));
        assert_eq!(a.headers.get(header::ETAG).unwrap(), "W/\"1\"");
        assert_same_meaning(&t, &created, kanji, kana);
        assert_eq!(
            created["generalPractitioner"][0]["reference"],
            format!("Practitioner/{}", t.user_id("physician").await)
        );

        let read = get_as(&t, &format!("/fhir/Patient/{id}"), &doctor).await.ok();
        assert_same_meaning(&t, &read, kanji, kana);

        // By the kana (in any script), by two kanji, by the kanji family name and the birth date.
        for q in ["マツイ", "まつい", "ﾏﾂｲ ｼｭｳｲﾁ", "松井", "秀一"] {
            let b = get_as(&t, &format!("/fhir/Patient?name={}", enc(q)), &doctor).await.ok();
            assert_eq!(ids(&b), vec![id.clone()], "{}: name={q}", t.name());
            assert_same_meaning(&t, &matches(&b)[0], kanji, kana);
        }
        let b = get_as(&t, "/fhir/Patient?birthdate=1940-01-01&gender=male", &doctor).await.ok();
        assert!(ids(&b).contains(&id), "{}", t.name());
        let b = get_as(
            &t,
            &format!("/fhir/Patient?identifier={}", enc(&format!("{INSURANCE}|0001234567"))),
            &doctor,
        )
        .await
        .ok();
        assert_eq!(ids(&b), vec![id.clone()], "{}", t.name());
        let b =
            get_as(&t, "/fhir/Patient?birthdate=lt1940-01-01&name=%E6%9D%BE%E4%BA%95", &doctor).await.ok();
        assert!(ids(&b).is_empty(), "{}", t.name());
        // The attending physician's other patients are there too; counting and paging work.
        let all = get_as(&t, "/fhir/Patient?_summary=count", &doctor).await.ok();
        let total = all["total"].as_i64().unwrap();
        assert!(total >= 6, "{}: {total}", t.name());
        let page = get_as(&t, "/fhir/Patient?_count=2&_sort=birthdate", &doctor).await.ok();
        assert_eq!(matches(&page).len(), 2, "{}", t.name());
        assert_eq!(page["total"].as_i64(), Some(total), "{}", t.name());
        assert!(link(&page, "next").is_some(), "{}", t.name());
        let births: Vec<String> =
            matches(&page).iter().map(|p| p["birthDate"].as_str().unwrap().to_string()).collect();
        assert!(births[0] <= births[1], "{}: {births:?}", t.name());

        // A likely duplicate (same kana and birth date) is pointed out, and nothing is written.
        let before = count(&t).await;
        let a = create(&t, &doctor, &example("松井 秀市", kana)).await;
        a.outcome(StatusCode::CONFLICT, "duplicate");
        assert_eq!(count(&t).await, before, "{}", t.name());
        let auth = bearer(&doctor);
        let a = send_body(
            &t,
            Method::POST,
            "/fhir/Patient",
            &[("authorization", &auth), ("tsunagu-confirm-not-duplicate", "true")],
            serde_json::to_vec(&example("松井 秀市", kana)).unwrap(),
        )
        .await;
        a.expect(StatusCode::CREATED);
        assert_eq!(count(&t).await, before + 1, "{}", t.name());
    }
}

#[tokio::test]
async fn an_update_needs_the_current_version_and_keeps_the_old_one() {
    for t in support::all().await {
        let doctor = write_token(&t, "physician").await;
        let created =
            create(&t, &doctor, &example("松井 秀一", "マツイ シュウイチ")).await.expect(StatusCode::CREATED);
        let id = created["id"].as_str().unwrap().to_string();
        let path = format!("/fhir/Patient/{id}");

        let mut changed = example("松井 秀二", "マツイ シュウジ");
        changed["id"] = json!(id);
        let a = write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &changed).await;
        let v = a.ok();
        assert_eq!(v["meta"]["versionId"], "2", "{}", t.name());
        assert_eq!(a.headers.get(header::ETAG).unwrap(), "W/\"2\"");
        assert_eq!(name_of(&v, "IDE")["text"], "松井 秀二");

        let h = get_as(&t, &format!("{path}/_history"), &doctor).await.ok();
        assert_eq!(h["type"], "history");
        assert_eq!(h["total"], 2, "{}", t.name());
        let versions: Vec<&str> = h["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
            .collect();
        assert_eq!(versions, vec!["2", "1"]);
        let old = get_as(&t, &format!("{path}/_history/1"), &doctor).await.ok();
        assert_eq!(name_of(&old, "IDE")["text"], "松井 秀一", "{}", t.name());
        assert_eq!(name_of(&old, "SYL")["text"], "マツイ シュウイチ", "{}", t.name());
        assert_eq!(old["meta"]["versionId"], "1");
        get_as(&t, &format!("{path}/_history/3"), &doctor).await.outcome(StatusCode::NOT_FOUND, "not-found");

        // A stale If-Match: 412, nothing changes.
        let mut stale = example("松井 秀三", "マツイ シュウゾウ");
        stale["id"] = json!(id);
        write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"1\"")], &stale)
            .await
            .outcome(StatusCode::PRECONDITION_FAILED, "conflict");
        let now = get_as(&t, &path, &doctor).await.ok();
        assert_eq!(now["meta"]["versionId"], "2", "{}", t.name());
        assert_eq!(name_of(&now, "IDE")["text"], "松井 秀二", "{}", t.name());

        // The body's id must be the URL's; an update needs a version.
        let mut other = changed.clone();
        other["id"] = json!("someone-else");
        write_as(&t, Method::PUT, &path, &doctor, &[("if-match", "W/\"2\"")], &other)
            .await
            .outcome(StatusCode::BAD_REQUEST, "invalid");
        write_as(&t, Method::PUT, &path, &doctor, &[], &changed)
            .await
            .outcome(StatusCode::PRECONDITION_REQUIRED, "required");
        // Members who may not see the patient get the 404 of a missing one.
        let cm = write_token(&t, "caremanager").await;
        write_as(&t, Method::PUT, &path, &cm, &[("if-match", "W/\"2\"")], &changed)
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");
        let now = get_as(&t, &path, &doctor).await.ok();
        assert_eq!(now["meta"]["versionId"], "2", "{}", t.name());
        // Delete is not offered.
        send(&t, Method::DELETE, &path, &[("authorization", &bearer(&doctor))])
            .await
            .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
    }
}

#[tokio::test]
async fn refused_creates_write_nothing() {
    for t in support::all().await {
        let before = count(&t).await;
        // A nurse registers no patients.
        let nurse = write_token(&t, "nurse").await;
        create(&t, &nurse, &example("松井 秀一", "マツイ シュウイチ"))
            .await
            .outcome(StatusCode::FORBIDDEN, "forbidden");

        let doctor = write_token(&t, "physician").await;
        let auth = bearer(&doctor);
        let raw = |body: &'static [u8]| {
            let auth = auth.clone();
            let t = &t;
            async move {
                send_body(t, Method::POST, "/fhir/Patient", &[("authorization", &auth)], body.to_vec()).await
            }
        };
        raw(b"{\"resourceType\": \"Patient\", ").await.outcome(StatusCode::BAD_REQUEST, "structure");
        raw(b"{\"resourceType\": \"Observation\"}").await.outcome(StatusCode::BAD_REQUEST, "invalid");
        let long = format!("{} {}", "松".repeat(40), "井".repeat(40));
        let issue = create(&t, &doctor, &example(&long, "マツイ シュウイチ"))
            .await
            .outcome(StatusCode::UNPROCESSABLE_ENTITY, "too-long");
        assert_eq!(issue["expression"][0], "name", "{}", t.name());
        let mut no_kana = example("松井 秀一", "マツイ シュウイチ");
        no_kana["name"] = json!([no_kana["name"][0].clone()]);
        create(&t, &doctor, &no_kana).await.outcome(StatusCode::UNPROCESSABLE_ENTITY, "required");
        let mut bad_gender = example("松井 秀一", "マツイ シュウイチ");
        bad_gender["gender"] = json!("man");
        create(&t, &doctor, &bad_gender).await.outcome(StatusCode::UNPROCESSABLE_ENTITY, "value");
        assert_eq!(count(&t).await, before, "{}", t.name());
    }
}

#[tokio::test]
async fn the_professional_directory_lists_people_and_their_organisations() {
    for t in support::all().await {
        let token = token(&t, "caremanager", 3600).await;
        let doctor_id = t.user_id("physician").await;
        let b = get_as(&t, &format!("/fhir/Practitioner?name={}", enc("やまだ")), &token).await.ok();
        assert_eq!(ids(&b), vec![doctor_id.clone()], "{}", t.name());
        let p = &matches(&b)[0];
        assert_eq!(p["name"][0]["text"], "山田 太郎");
        assert_eq!(p["name"][1]["extension"][0]["valueCode"], "SYL");
        assert_eq!(p["qualification"][0]["code"]["coding"][0]["code"], "physician");
        let b = get_as(&t, &format!("/fhir/Practitioner?name={}", enc("山田")), &token).await.ok();
        assert_eq!(ids(&b), vec![doctor_id.clone()], "{}", t.name());
        get_as(&t, &format!("/fhir/Practitioner/{doctor_id}"), &token).await.ok();

        // The system administrator is not a professional of the directory.
        let admin_id = t.user_id("admin").await;
        let all = get_as(&t, "/fhir/Practitioner?_count=100", &token).await.ok();
        assert!(!ids(&all).contains(&admin_id), "{}", t.name());
        assert!(ids(&all).len() >= 10, "{}", t.name());
        get_as(&t, &format!("/fhir/Practitioner/{admin_id}"), &token)
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");

        // The physician's organisation, and the role read back by its id.
        let roles =
            get_as(&t, &format!("/fhir/PractitionerRole?practitioner=Practitioner/{doctor_id}"), &token)
                .await
                .ok();
        let found = matches(&roles);
        assert_eq!(found.len(), 1, "{}: {roles}", t.name());
        let role = &found[0];
        assert_eq!(role["practitioner"]["reference"], format!("Practitioner/{doctor_id}"));
        let org = role["organization"]["reference"].as_str().unwrap().to_string();
        assert!(org.starts_with("Organization/"), "{org}");
        let codes: Vec<&str> = role["code"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, vec!["physician", "provider_operator"]);
        let rid = role["id"].as_str().unwrap();
        get_as(&t, &format!("/fhir/PractitionerRole/{rid}"), &token).await.ok();
        let by_org =
            get_as(&t, &format!("/fhir/PractitionerRole?organization={}", enc(&org)), &token).await.ok();
        assert!(ids(&by_org).contains(&rid.to_string()), "{}", t.name());

        // A token is needed; nothing is written here.
        get(&t, "/fhir/Practitioner").await.outcome(StatusCode::UNAUTHORIZED, "login");
        write_as(
            &t,
            Method::POST,
            "/fhir/Practitioner",
            &token,
            &[],
            &json!({"resourceType": "Practitioner"}),
        )
        .await
        .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
    }
}
