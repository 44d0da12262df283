//! The FHIR directory at the router (issue 4 point 8, issue 5's base): the capability
//! statement, `Organization`, `Location` and `HealthcareService` read and search, public and
//! professional fields, paging, and every refusal as an `OperationOutcome` — on every backend
//! the store harness finds, over the demo region plus a few providers of the test's own.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::fhir::*;

use axum::http::{Method, StatusCode, header};
use serde_json::Value;
use support::TestApp;
use tsunagu_domain::directory::GeoPoint;
use tsunagu_store::directory::hours::ConsultationSlotRow;
use tsunagu_store::directory::{CodeSet, ProviderQuery, ProviderRow};

/// Where the test's own providers stand: Kanazawa city hall, and points around it.
const CENTRE: (f64, f64) = (36.5613, 136.6562);

/// A provider of the test's own, `km_north` kilometres north of [`CENTRE`].
fn fixture(id: &str, name: &str, kana: &str, km_north: f64) -> ProviderRow {
    let lat = CENTRE.0 + km_north / 111.2;
    ProviderRow {
        id: id.to_string(),
        kind: "home_care_support_clinic".into(),
        name: name.into(),
        name_kana: kana.into(),
        parent_id: None,
        city_no: None,
        address: "石川県金沢市広坂9-9-9".into(),
        phone: "076-900-0001".into(),
        jurisdiction: String::new(),
        operator_name: String::new(),
        is_emergency_hospital: false,
        created_at: support::START.micros(),
        updated_at: support::START.micros(),
        postal_code: "920-0962".into(),
        address_extra: "つなぐビル2階".into(),
        latitude: Some(lat),
        longitude: Some(CENTRE.1),
        district: None,
        fax: "076-900-0002".into(),
        website: "https://clinic.example.jp/".into(),
        corporate_number: String::new(),
        office_no: Some(format!("17{}", &id.replace('-', "")[24..32])),
        capacity: None,
        open_days: String::new(),
        open_days_note: String::new(),
        accepting: "yes".into(),
        description: "在宅医療を行う診療所です。".into(),
        contact_line: "076-900-0009".into(),
        contact_person: "連携室 つなぐ".into(),
        contact_method: "phone".into(),
        contact_hours: "平日 13:00〜15:00".into(),
        consult_on_holidays: false,
        search_text: tsunagu_domain::directory::search_text(name, kana, "石川県金沢市広坂9-9-9", "", ""),
        confirmed_at: Some(support::START.micros()),
        version: 3,
        manual_fields: String::new(),
    }
}

/// Three providers of the test's own, 0.3, 0.8 and 2.5 km north of the centre; the first with
/// services, capabilities and a Tuesday consultation slot. Answers their ids.
async fn load_fixtures(t: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut tx = t.app.store.begin().await.unwrap();
    for (i, (name, kana, km)) in [
        ("つなぐ第一在宅クリニック", "つなぐだいいちざいたくくりにっく", 0.3),
        ("つなぐ第二在宅クリニック", "つなぐだいにざいたくくりにっく", 0.8),
        ("つなぐ第三在宅クリニック", "つなぐだいさんざいたくくりにっく", 2.5),
    ]
    .into_iter()
    .enumerate()
    {
        let id = uuid::Uuid::now_v7().to_string();
        tx.insert_provider(&fixture(&id, name, kana, km)).await.unwrap();
        if i == 0 {
            tx.set_provider_codes(&id, CodeSet::Services, &["home_medical_management".into()]).await.unwrap();
            tx.set_provider_codes(&id, CodeSet::Departments, &["internal_medicine".into()]).await.unwrap();
            tx.set_provider_codes(&id, CodeSet::Capabilities, &["home_oxygen".into(), "house_calls".into()])
                .await
                .unwrap();
            tx.insert_consultation_slot(&ConsultationSlotRow {
                id: uuid::Uuid::now_v7().to_string(),
                organisation_id: id.clone(),
                physician: "つなぐ 一郎".into(),
                weekday: 1,
                start_minute: 13 * 60,
                end_minute: 15 * 60,
                note: String::new(),
                created_at: support::START.micros(),
            })
            .await
            .unwrap();
        }
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_capability_statement_lists_exactly_what_is_served() {
    for t in support::all().await {
        let v = get(&t, "/fhir/metadata").await.ok();
        assert_eq!(v["resourceType"], "CapabilityStatement");
        assert_eq!(v["fhirVersion"], "4.0.1");
        assert_eq!(v["kind"], "instance");
        assert_eq!(v["implementation"]["url"], "http://localhost:8080/fhir");
        let rest = &v["rest"][0];
        assert_eq!(rest["mode"], "server");
        let resources = rest["resource"].as_array().unwrap();
        let types: Vec<&str> = resources.iter().map(|r| r["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "Organization",
                "Location",
                "HealthcareService",
                "Patient",
                "Practitioner",
                "PractitionerRole",
                "CareTeam",
                "Consent",
                "Observation",
                "Communication",
                "DocumentReference",
                "Binary",
                "AllergyIntolerance",
                "Condition",
                "MedicationStatement",
                "AuditEvent"
            ],
            "{}",
            t.name()
        );
        let interactions = |r: &Value| -> Vec<String> {
            r["interaction"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["code"].as_str().unwrap().to_string())
                .collect()
        };
        for r in &resources[..3] {
            assert_eq!(interactions(r), ["read", "search-type"]);
            let params: Vec<&str> =
                r["searchParam"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
            for p in ["_id", "name", "phonetic", "address-city", "near"] {
                assert!(params.contains(&p), "{}: {} lacks {p}", t.name(), r["type"]);
            }
        }
        assert_eq!(resources[0]["profile"], "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization");
        let patient = &resources[3];
        assert_eq!(patient["profile"], "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient");
        for i in ["read", "vread", "history-instance", "search-type", "create", "update"] {
            assert!(interactions(patient).iter().any(|x| x == i), "{}: Patient lacks {i}", t.name());
        }
        assert_eq!(patient["operation"][0]["name"], "everything");

        // Every search parameter listed is one the server knows: given a value, it is never
        // refused as unknown (a bad value is another refusal).
        let tok = token(&t, "physician", 3600).await;
        for r in &resources[3..] {
            let kind = r["type"].as_str().unwrap();
            if !interactions(r).iter().any(|i| i == "search-type") {
                continue;
            }
            for p in r["searchParam"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                let a = get_as(&t, &format!("/fhir/{kind}?{name}=x"), &tok).await;
                let body = a.json();
                let unknown = a.status == StatusCode::BAD_REQUEST
                    && body["issue"][0]["code"] == "not-supported"
                    && body["issue"][0]["expression"][0] == name;
                assert!(!unknown, "{}: {kind} lists {name} but refuses it: {}", t.name(), a.body);
            }
            // And an unlisted one is refused.
            get_as(&t, &format!("/fhir/{kind}?no-such-param=x"), &tok)
                .await
                .outcome(StatusCode::BAD_REQUEST, "not-supported");
        }
        // Documentation comes in the caller's language.
        let en = get_with(&t, "/fhir/metadata", &[("accept-language", "en")]).await.ok();
        assert_ne!(en["rest"][0]["documentation"], v["rest"][0]["documentation"]);
        for (ja, en) in resources.iter().zip(en["rest"][0]["resource"].as_array().unwrap()) {
            assert_ne!(ja["documentation"], en["documentation"], "{}", ja["type"]);
            assert!(!ja["documentation"].as_str().unwrap_or("").contains("TODO"), "{}", ja["type"]);
        }
    }
}

#[tokio::test]
async fn a_public_read_shows_public_fields_and_a_token_adds_the_contact_route_and_hours() {
    for t in support::all().await {
        let ids = load_fixtures(&t).await;
        let id = &ids[0];

        let public = get(&t, &format!("/fhir/Organization/{id}")).await;
        let org = public.ok();
        assert_eq!(org["resourceType"], "Organization");
        assert_eq!(org["id"], id.as_str());
        assert_eq!(org["meta"]["versionId"], "3");
        assert_eq!(org["meta"]["lastUpdated"], support::START.rfc3339());
        assert_eq!(public.headers.get(header::ETAG).unwrap(), "W/\"3\"");
        assert_eq!(org["name"], "つなぐ第一在宅クリニック");
        assert_eq!(org["alias"][0], "つなぐだいいちざいたくくりにっく");
        assert_eq!(org["identifier"][0]["system"], "https://tsunagu.example/fhir/sid/care-office-no");
        assert_eq!(org["type"][0]["coding"][0]["system"], "https://tsunagu.example/fhir/CodeSystem/org-kind");
        assert_eq!(org["type"][0]["coding"][0]["code"], "home_care_support_clinic");
        let address = &org["address"][0];
        assert_eq!(address["state"], "石川県");
        assert_eq!(address["city"], "金沢市");
        assert_eq!(address["line"][0], "広坂9-9-9");
        assert_eq!(address["line"][1], "つなぐビル2階");
        assert_eq!(address["postalCode"], "920-0962");
        assert_eq!(address["extension"][0]["url"], "http://hl7.org/fhir/StructureDefinition/geolocation");
        let telecom: Vec<&str> =
            org["telecom"].as_array().unwrap().iter().map(|c| c["system"].as_str().unwrap()).collect();
        assert_eq!(telecom, ["phone", "fax", "url"]);
        assert!(org.get("contact").is_none(), "{}: public contact route: {org}", t.name());
        assert!(!public.body.contains("076-900-0009") && !public.body.contains("連携室"), "{}", t.name());

        let tok = token(&t, "caremanager", 3600).await;
        let auth = bearer(&tok);
        let pro = get_with(&t, &format!("/fhir/Organization/{id}"), &[("authorization", &auth)]).await.ok();
        let contact = &pro["contact"][0];
        assert_eq!(contact["purpose"]["coding"][0]["code"], "PATINF", "{}: {pro}", t.name());
        assert_eq!(contact["telecom"][0]["value"], "076-900-0009");
        assert_eq!(contact["name"]["text"], "連携室 つなぐ");
        assert!(pro.to_string().contains("平日 13:00〜15:00"));

        // The consultation hours: only with the token.
        let hs = get(&t, &format!("/fhir/HealthcareService/{id}")).await.ok();
        assert_eq!(hs["resourceType"], "HealthcareService");
        assert_eq!(hs["providedBy"]["reference"], format!("Organization/{id}"));
        assert_eq!(hs["location"][0]["reference"], format!("Location/{id}"));
        assert_eq!(hs["type"][0]["coding"][0]["code"], "home_medical_management");
        assert_eq!(hs["specialty"][0]["coding"][0]["code"], "internal_medicine");
        let caps: Vec<&str> = hs["characteristic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["coding"][0]["code"].as_str().unwrap())
            .collect();
        assert_eq!(caps, ["home_oxygen", "house_calls"]);
        assert!(hs.get("availableTime").is_none(), "{}: public hours: {hs}", t.name());
        let hs =
            get_with(&t, &format!("/fhir/HealthcareService/{id}"), &[("authorization", &auth)]).await.ok();
        assert_eq!(hs["availableTime"][0]["daysOfWeek"][0], "tue", "{}: {hs}", t.name());
        assert_eq!(hs["availableTime"][0]["availableStartTime"], "13:00:00");
        assert_eq!(hs["availableTime"][0]["availableEndTime"], "15:00:00");

        // The same in a search.
        let q = format!("/fhir/Organization?_id={id}");
        assert!(matches(&get(&t, &q).await.ok())[0].get("contact").is_none());
        let found = get_with(&t, &q, &[("authorization", &auth)]).await.ok();
        assert_eq!(matches(&found)[0]["contact"][0]["telecom"][0]["value"], "076-900-0009");

        // The Location of the same provider.
        let loc = get(&t, &format!("/fhir/Location/{id}")).await.ok();
        assert_eq!(loc["resourceType"], "Location");
        assert_eq!(loc["status"], "active");
        assert_eq!(loc["managingOrganization"]["reference"], format!("Organization/{id}"));
        assert_eq!(loc["physicalType"]["coding"][0]["code"], "bu");
        let lat = loc["position"]["latitude"].as_f64().unwrap();
        assert!((lat - (CENTRE.0 + 0.3 / 111.2)).abs() < 1e-9);
        assert_eq!(loc["position"]["longitude"].as_f64().unwrap(), CENTRE.1);
    }
}

#[tokio::test]
async fn a_name_in_half_width_katakana_finds_the_center_kishikawa() {
    for t in support::all().await {
        let mut seen = Vec::new();
        for q in ["ｷｼｶﾜ", "きしかわ", "キシカワ"] {
            let b = get(&t, &format!("/fhir/Organization?name={}", enc(q))).await.ok();
            assert_eq!(b["resourceType"], "Bundle");
            assert_eq!(b["type"], "searchset");
            let names: Vec<String> =
                matches(&b).iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
            assert!(
                names.contains(&"地域包括支援センターきしかわ".to_string()),
                "{}: {q}: {names:?}",
                t.name()
            );
            assert_eq!(b["total"].as_i64().unwrap() as usize, names.len());
            seen.push(ids(&b));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{}: {seen:?}", t.name());
        // The kana alone.
        let b = get(&t, &format!("/fhir/Organization?phonetic={}", enc("ｷｼｶﾜ"))).await.ok();
        assert_eq!(ids(&b), seen[0], "{}", t.name());
        // A name is not an address: 岸川町 is where the center is, not what it is called.
        let b = get(&t, &format!("/fhir/Organization?name={}", enc("岸川町"))).await.ok();
        assert_eq!(b["total"], 0, "{}: {b}", t.name());
    }
}

#[tokio::test]
async fn near_answers_exactly_the_providers_within_the_distance_nearest_first() {
    for t in support::all().await {
        let mine = load_fixtures(&t).await;
        let centre = GeoPoint::new(CENTRE.0, CENTRE.1).unwrap();
        for (kind, radius) in [("Location", 1.0), ("Organization", 2.0), ("HealthcareService", 3.0)] {
            // What the database holds, measured here.
            let mut want: Vec<(f64, String, String)> = t
                .app
                .store
                .search_providers(&ProviderQuery::default())
                .await
                .unwrap()
                .into_iter()
                .filter_map(|r| {
                    let d = centre.distance_km(GeoPoint { lat: r.latitude?, lon: r.longitude? });
                    (d <= radius).then_some((d, r.name_kana, r.id))
                })
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let want: Vec<String> = want.into_iter().map(|(_, _, id)| id).collect();
            assert!(want.len() >= 2, "{}: a vacuous radius", t.name());

            let path = format!(
                "/fhir/{kind}?near={}&_count=100",
                enc(&format!("{}|{}|{radius}|km", CENTRE.0, CENTRE.1))
            );
            let b = get(&t, &path).await.ok();
            assert_eq!(ids(&b), want, "{}: {kind} within {radius} km", t.name());
            assert_eq!(b["total"].as_i64().unwrap() as usize, want.len());
            let distances: Vec<f64> = b["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    assert_eq!(
                        e["search"]["extension"][0]["url"],
                        "http://hl7.org/fhir/StructureDefinition/location-distance"
                    );
                    e["search"]["extension"][0]["valueDistance"]["value"].as_f64().unwrap()
                })
                .collect();
            assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{}: {distances:?}", t.name());
            assert!(distances.iter().all(|d| *d <= radius), "{}: {distances:?}", t.name());
        }
        // Our first provider is 0.3 km away, the third 2.5 km: inside 3 km, outside 1 km.
        let within = |b: &Value, id: &str| ids(b).contains(&id.to_string());
        let b = get(&t, &format!("/fhir/Location?near={}", enc(&format!("{}|{}|1", CENTRE.0, CENTRE.1))))
            .await
            .ok();
        assert!(within(&b, &mine[0]) && !within(&b, &mine[2]), "{}", t.name());
        // Metres work too; a point outside Japan does not.
        let b = get(&t, &format!("/fhir/Location?near={}", enc(&format!("{}|{}|500|m", CENTRE.0, CENTRE.1))))
            .await
            .ok();
        assert!(within(&b, &mine[0]) && !within(&b, &mine[1]), "{}", t.name());
        let issue = get(&t, &format!("/fhir/Location?near={}", enc("0|0|1|km")))
            .await
            .outcome(StatusCode::BAD_REQUEST, "invalid");
        assert_eq!(issue["expression"][0], "near");
    }
}

#[tokio::test]
async fn pages_follow_their_next_links_to_the_end_without_repeats() {
    for t in support::all().await {
        let first = get(&t, &format!("/fhir/Organization?name={}&_count=1", enc("センター"))).await.ok();
        let total = first["total"].as_i64().unwrap();
        assert!(total >= 2, "{}: {first}", t.name());
        assert_eq!(matches(&first).len(), 1);
        assert!(link(&first, "previous").is_none());
        let self_link = link(&first, "self").unwrap();
        assert!(self_link.starts_with("http://localhost:8080/fhir/Organization?"), "{self_link}");
        let next = link(&first, "next").expect("a next link");
        let second = get(&t, &local(&next)).await.ok();
        assert_eq!(matches(&second).len(), 1);
        assert_ne!(ids(&first), ids(&second), "{}", t.name());
        assert_eq!(local(&link(&second, "previous").unwrap()), local(&self_link));

        // Walking every page of five sees each match once.
        let mut seen: Vec<String> = Vec::new();
        let mut path = Some(format!("/fhir/Organization?name={}&_count=5", enc("センター")));
        let mut pages = 0;
        while let Some(p) = path {
            let b = get(&t, &p).await.ok();
            seen.extend(ids(&b));
            path = link(&b, "next").map(|l| local(&l));
            pages += 1;
            assert!(pages <= 100, "{}: endless paging", t.name());
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (total as usize, total as usize), "{}", t.name());

        // The total alone.
        let c = get(&t, &format!("/fhir/Organization?name={}&_summary=count", enc("センター"))).await.ok();
        assert_eq!(c["total"].as_i64().unwrap(), total);
        assert!(c.get("entry").is_none());
    }
}

#[tokio::test]
async fn an_unknown_search_parameter_is_refused_by_name_unless_handling_is_lenient() {
    for t in support::all().await {
        let a = get(&t, "/fhir/Organization?colour=blue&name=x").await;
        let issue = a.outcome(StatusCode::BAD_REQUEST, "not-supported");
        assert_eq!(issue["expression"][0], "colour");
        assert!(issue["diagnostics"].as_str().unwrap().contains("colour"), "{}", a.body);

        let b = get_with(
            &t,
            &format!("/fhir/Organization?colour=blue&name={}", enc("きしかわ")),
            &[("prefer", "handling=lenient")],
        )
        .await
        .ok();
        assert!(!matches(&b).is_empty(), "{}: {b}", t.name());
        let outcomes: Vec<&Value> =
            b["entry"].as_array().unwrap().iter().filter(|e| e["search"]["mode"] == "outcome").collect();
        assert_eq!(outcomes.len(), 1, "{}: {b}", t.name());
        let oo = &outcomes[0]["resource"];
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "warning");
        assert_eq!(oo["issue"][0]["expression"][0], "colour");
        assert!(
            !link(&b, "self").unwrap().contains("colour"),
            "{}: the ignored parameter is in the link",
            t.name()
        );

        // A modifier the server does not know is an unknown parameter too.
        get(&t, "/fhir/Location?name:fuzzy=x").await.outcome(StatusCode::BAD_REQUEST, "not-supported");
    }
}

#[tokio::test]
async fn a_malformed_id_and_an_unknown_id_get_the_same_not_found() {
    for t in support::all().await {
        let malformed = get(&t, "/fhir/Organization/not-an-id").await;
        let unknown = get(&t, &format!("/fhir/Organization/{}", uuid::Uuid::now_v7())).await;
        malformed.outcome(StatusCode::NOT_FOUND, "not-found");
        unknown.outcome(StatusCode::NOT_FOUND, "not-found");
        assert_eq!(malformed.body, unknown.body, "{}", t.name());
        for kind in ["Location", "HealthcareService"] {
            let a = get(&t, &format!("/fhir/{kind}/{}", uuid::Uuid::now_v7())).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND);
            assert_eq!(a.body, unknown.body, "{}: {kind}", t.name());
        }
    }
}

#[tokio::test]
async fn a_bad_or_expired_token_gets_401_with_a_bearer_challenge() {
    for t in support::all().await {
        let tok = token(&t, "nurse", 120).await;
        for auth in ["Bearer tsu_nonsense", "Basic bnVyc2U6eA==", "Bearer ", "Bearer"] {
            let a = get_with(&t, "/fhir/Organization?name=x", &[("authorization", auth)]).await;
            a.outcome(StatusCode::UNAUTHORIZED, "login");
            let challenge =
                a.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(challenge.starts_with("Bearer"), "{}: {auth}: {challenge}", t.name());
        }
        let good = bearer(&tok);
        get_with(&t, "/fhir/Organization?name=x", &[("authorization", &good)]).await.ok();
        t.advance_minutes(3);
        get_with(&t, "/fhir/Organization?name=x", &[("authorization", &good)])
            .await
            .outcome(StatusCode::UNAUTHORIZED, "login");
    }
}

#[tokio::test]
async fn outcomes_speak_english_when_asked_and_japanese_by_default() {
    for t in support::all().await {
        let path = format!("/fhir/Organization/{}", uuid::Uuid::now_v7());
        let ja = get(&t, &path).await.outcome(StatusCode::NOT_FOUND, "not-found");
        let en = get_with(&t, &path, &[("accept-language", "en-US,en;q=0.9")])
            .await
            .outcome(StatusCode::NOT_FOUND, "not-found");
        assert_eq!(en["diagnostics"], "The resource was not found.", "{}", t.name());
        assert_eq!(ja["diagnostics"], "リソースが見つかりません。", "{}", t.name());
        let en = get_with(&t, "/fhir/Organization?colour=x", &[("accept-language", "en")])
            .await
            .outcome(StatusCode::BAD_REQUEST, "not-supported");
        assert_eq!(en["diagnostics"], "The search parameter \"colour\" is not supported.");
    }
}

#[tokio::test]
async fn no_html_error_page_leaks_out_of_fhir() {
    for t in support::all().await {
        // A resource type this server does not serve, and a path below one it does.
        get(&t, "/fhir/Basic").await.outcome(StatusCode::NOT_FOUND, "not-supported");
        get(&t, "/fhir/Basic/1").await.outcome(StatusCode::NOT_FOUND, "not-supported");
        get(&t, "/fhir").await.outcome(StatusCode::NOT_FOUND, "not-supported");
        get(&t, "/fhir/Organization/x/_history/1").await.outcome(StatusCode::NOT_FOUND, "not-found");
        // XML is not served.
        get_with(&t, "/fhir/metadata", &[("accept", "application/fhir+xml")])
            .await
            .outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
        get(&t, "/fhir/metadata?_format=xml").await.outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
        get(&t, "/fhir/metadata?_format=application/fhir%2Bjson").await.ok();
        // A write without a token is stopped by the CSRF check, still as an outcome; with a
        // token, the interaction is not offered.
        send(&t, Method::POST, "/fhir/Organization", &[("content-type", "application/fhir+json")])
            .await
            .outcome(StatusCode::FORBIDDEN, "security");
        let tok = bearer(&token(&t, "coordinator", 3600).await);
        for (m, p) in [
            (Method::POST, "/fhir/Organization"),
            (Method::DELETE, "/fhir/Location/x"),
            (Method::PUT, "/fhir/metadata"),
        ] {
            send(&t, m, p, &[("authorization", &tok), ("content-type", "application/fhir+json")])
                .await
                .outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
        }
        // Bad values are named.
        let issue = get(&t, "/fhir/Location?_count=many").await.outcome(StatusCode::BAD_REQUEST, "invalid");
        assert_eq!(issue["expression"][0], "_count");
    }
}

#[tokio::test]
async fn type_city_and_codes_filter_the_search() {
    for t in support::all().await {
        let mine = load_fixtures(&t).await;
        let sys = "https://tsunagu.example/fhir/CodeSystem/org-kind";
        let b =
            get(&t, &format!("/fhir/Organization?type={}&_count=100", enc(&format!("{sys}|support_center"))))
                .await
                .ok();
        let kinds: Vec<String> = matches(&b)
            .iter()
            .map(|r| r["type"][0]["coding"][0]["code"].as_str().unwrap().to_string())
            .collect();
        assert!(kinds.len() >= 19 && kinds.iter().all(|k| k == "support_center"), "{}: {kinds:?}", t.name());
        let b =
            get(&t, "/fhir/Organization?type=support_center,support_center_branch&_summary=count").await.ok();
        assert_eq!(b["total"].as_i64().unwrap(), 21, "{}: the city's 19 centers and 2 branches", t.name());
        let b = get(&t, &format!("/fhir/Organization?type={}", enc("http://other.example|support_center")))
            .await
            .ok();
        assert_eq!(b["total"], 0);

        let b = get(&t, &format!("/fhir/Organization?address-city={}&name={}", enc("金沢市"), enc("つなぐ")))
            .await
            .ok();
        assert_eq!(ids(&b).len(), 3, "{}: {b}", t.name());
        let b =
            get(&t, &format!("/fhir/Organization?address-city:exact={}&name={}", enc("金沢"), enc("つなぐ")))
                .await
                .ok();
        assert_eq!(b["total"], 0, "{}", t.name());

        let b = get(&t, "/fhir/HealthcareService?characteristic=home_oxygen&characteristic=house_calls&service-type=home_medical_management").await.ok();
        assert!(ids(&b).contains(&mine[0]) && !ids(&b).contains(&mine[1]), "{}: {b}", t.name());
        let b = get(&t, "/fhir/HealthcareService?specialty=internal_medicine&_count=100").await.ok();
        assert!(ids(&b).contains(&mine[0]), "{}", t.name());
    }
}

#[tokio::test]
async fn the_benchmarks_search_gives_each_entry_its_own_codes_and_hours() {
    for t in support::all().await {
        let mine = load_fixtures(&t).await;
        let tok = token(&t, "caremanager", 3600).await;
        let auth = bearer(&tok);
        // B3 of docs/performance.md: Japanese text + kinds + a capability + 5 km.
        let b3 = format!(
            "/fhir/HealthcareService?name={}&service-category={}&characteristic=house_calls&near={}",
            enc("在宅"),
            enc("clinic,home_care_support_clinic,visiting_nursing_station"),
            enc(&format!("{}|{}|5|km", CENTRE.0, CENTRE.1))
        );
        let b = get_with(&t, &b3, &[("authorization", &auth)]).await.ok();
        assert!(ids(&b).contains(&mine[0]), "{}: {b}", t.name());
        assert!(!ids(&b).contains(&mine[1]), "{}: no house calls, no match: {b}", t.name());
        for hs in matches(&b) {
            let caps: Vec<&str> = hs["characteristic"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["coding"][0]["code"].as_str().unwrap())
                .collect();
            assert!(caps.contains(&"house_calls"), "{}: {hs}", t.name());
        }

        // Several entries on one page: each gets its own codes and consultation hours.
        let all = format!("/fhir/HealthcareService?name={}&_count=100", enc("つなぐ"));
        let b = get_with(&t, &all, &[("authorization", &auth)]).await.ok();
        let by_id = |id: &str| matches(&b).into_iter().find(|r| r["id"] == id).unwrap();
        let first = by_id(&mine[0]);
        assert_eq!(first["availableTime"][0]["daysOfWeek"][0], "tue", "{}: {first}", t.name());
        assert_eq!(first["specialty"][0]["coding"][0]["code"], "internal_medicine");
        assert_eq!(first["characteristic"].as_array().unwrap().len(), 2);
        for id in &mine[1..] {
            let other = by_id(id);
            assert!(other.get("availableTime").is_none(), "{}: {other}", t.name());
            assert!(other.get("characteristic").is_none() && other.get("specialty").is_none(), "{other}");
        }
    }
}
