//! Directory search (issue 4, points 3–5): Japanese text in any script and width, filters, "near
//! a point" with an exact radius sorted by distance, "near my patient" through the patient gate,
//! and the public and professional views of a provider. Runs on every backend the store harness
//! finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use tsunagu_app::directory::{SearchInput, SearchResults};
use tsunagu_app::sharing::{NewPatient, Registered};
use tsunagu_app::{Actor, App, AppConfig, AppError, AuthVia};
use tsunagu_domain::directory::GeoPoint;
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::Store;
use tsunagu_store::directory::{CodeSet, ProviderQuery, ProviderRow};
use tsunagu_store::testing;

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z (09:30 in Kanazawa).
const START: Timestamp = Timestamp(1_795_480_200_000_000);
const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";
const EARTH_RADIUS_KM: f64 = 6371.0088;
/// The search point of the radius tests: central Kanazawa.
const ORIGIN: GeoPoint = GeoPoint { lat: 36.5613, lon: 136.6562 };

fn app(store: &Store) -> App {
    let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
    App::new(store.clone(), Arc::new(FixedClock::at(START)), config)
}

async fn actor(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().unwrap();
    app.actor(&u.id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.unwrap()
}

/// `km` due north of `from`: along a meridian the great-circle distance is exact.
fn north(from: GeoPoint, km: f64) -> GeoPoint {
    GeoPoint { lat: from.lat + (km / EARTH_RADIUS_KM).to_degrees(), lon: from.lon }
}

/// `km` due east of `from` (along the great circle through it).
fn east(from: GeoPoint, km: f64) -> GeoPoint {
    let half = ((km / (2.0 * EARTH_RADIUS_KM)).sin() / from.lat.to_radians().cos()).asin();
    GeoPoint { lat: from.lat, lon: from.lon + (2.0 * half).to_degrees() }
}

/// A provider of the test region.
struct Fixture {
    key: &'static str,
    kind: &'static str,
    name: &'static str,
    kana: &'static str,
    address: &'static str,
    district: Option<&'static str>,
    point: Option<GeoPoint>,
    capabilities: &'static [&'static str],
    accepting: &'static str,
}

fn fixtures() -> Vec<Fixture> {
    let f = |key, kind, name, kana, address, district, point, capabilities, accepting| Fixture {
        key,
        kind,
        name,
        kana,
        address,
        district,
        point,
        capabilities,
        accepting,
    };
    vec![
        f(
            "kishikawa",
            "support_center",
            "地域包括支援センターきしかわ",
            "ちいきほうかつしえんせんたー きしかわ",
            "石川県金沢市岸川町ほ5",
            None,
            None,
            &[],
            "unknown",
        ),
        f(
            "tagami",
            "support_center",
            "地域包括支援センターたがみ",
            "ちいきほうかつしえんせんたー たがみ",
            "石川県金沢市田上本町カ45-1",
            None,
            None,
            &[],
            "unknown",
        ),
        f(
            "near05",
            "home_care_support_clinic",
            "金沢みなみ在宅クリニック",
            "かなざわみなみざいたくくりにっく",
            "石川県金沢市本町1-1",
            Some("犀川"),
            Some(north(ORIGIN, 0.5)),
            &["visiting_care", "house_calls", "end_of_life"],
            "yes",
        ),
        f(
            "near20",
            "visiting_nursing_station",
            "犀川訪問看護ステーション",
            "さいがわほうもんかんごすてーしょん",
            "石川県野々市市本町2-2",
            Some("犀川"),
            Some(north(ORIGIN, 2.0)),
            &["round_the_clock", "end_of_life"],
            "no",
        ),
        f(
            "east30",
            "pharmacy",
            "浅川薬局",
            "あさかわやっきょく",
            "石川県白山市倉光3-3",
            Some("浅川"),
            Some(east(ORIGIN, 3.0)),
            &["sterile_compounding"],
            "yes",
        ),
        f(
            "near49",
            "hospital",
            "金沢北病院",
            "かなざわきたびょういん",
            "石川県金沢市森本町4-9",
            Some("森本"),
            Some(north(ORIGIN, 4.9)),
            &["visiting_care"],
            "yes",
        ),
        f(
            "far51",
            "clinic",
            "湯涌診療所",
            "ゆわくしんりょうじょ",
            "石川県白山市湯涌5-1",
            Some("湯涌"),
            Some(north(ORIGIN, 5.1)),
            &["house_calls"],
            "unknown",
        ),
        f(
            "uchinada",
            "hospital",
            "内灘中央病院",
            "うちなだちゅうおうびょういん",
            "石川県河北郡内灘町大学1-1",
            None,
            Some(north(ORIGIN, 9.0)),
            &[],
            "yes",
        ),
        // Read かなざわ, written without 金沢: a search for the kanji does not find it.
        f(
            "kana_only",
            "care_management_office",
            "ケアプランかなざわ",
            "けあぷらんかなざわ",
            "石川県野々市市三納1-1",
            None,
            None,
            &[],
            "yes",
        ),
    ]
}

fn provider_row(id: &str, f: &Fixture) -> ProviderRow {
    ProviderRow {
        id: id.to_string(),
        kind: f.kind.to_string(),
        name: f.name.to_string(),
        name_kana: f.kana.to_string(),
        parent_id: None,
        city_no: None,
        address: f.address.to_string(),
        phone: "076-000-0000".to_string(),
        jurisdiction: String::new(),
        operator_name: String::new(),
        is_emergency_hospital: false,
        created_at: START.micros(),
        updated_at: START.micros(),
        postal_code: String::new(),
        address_extra: String::new(),
        latitude: f.point.map(|p| p.lat),
        longitude: f.point.map(|p| p.lon),
        district: f.district.map(str::to_string),
        fax: String::new(),
        website: String::new(),
        corporate_number: String::new(),
        office_no: None,
        capacity: None,
        open_days: String::new(),
        open_days_note: String::new(),
        accepting: f.accepting.to_string(),
        description: String::new(),
        contact_line: "076-999-1234".to_string(),
        contact_person: format!("{}の連絡担当", f.name),
        contact_method: "phone".to_string(),
        contact_hours: "平日 13:00–15:00".to_string(),
        consult_on_holidays: false,
        search_text: tsunagu_domain::directory::search_text(
            f.name,
            f.kana,
            f.address,
            "",
            f.district.unwrap_or(""),
        ),
        confirmed_at: Some(START.micros()),
        version: 1,
        manual_fields: String::new(),
    }
}

/// Writes the fixtures and the two centers' districts (unless the demo region already has
/// them); answers (key, id) pairs.
async fn load(store: &Store) -> Vec<(&'static str, String)> {
    let demo = store.center_for_district("森本").await.unwrap().is_some();
    let mut ids = Vec::new();
    let mut tx = store.begin().await.unwrap();
    for f in fixtures() {
        let id = uuid::Uuid::now_v7().to_string();
        tx.insert_provider(&provider_row(&id, &f)).await.unwrap();
        let caps: Vec<String> = f.capabilities.iter().map(|c| (*c).to_string()).collect();
        tx.set_provider_codes(&id, CodeSet::Capabilities, &caps).await.unwrap();
        ids.push((f.key, id));
    }
    let id = |k: &str| ids.iter().find(|(key, _)| *key == k).unwrap().1.clone();
    if !demo {
        tx.insert_district("森本", &id("kishikawa"), 0).await.unwrap();
        for (i, d) in ["犀川", "湯涌", "浅川"].into_iter().enumerate() {
            tx.insert_district(d, &id("tagami"), i as i64).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    ids
}

fn keys(r: &SearchResults, ids: &[(&'static str, String)]) -> Vec<&'static str> {
    r.items
        .iter()
        .map(|l| ids.iter().find(|(_, id)| *id == l.row.id).map(|(k, _)| *k).unwrap_or("(other)"))
        .collect()
}

fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
    v.sort_unstable();
    v
}

async fn find(app: &App, input: SearchInput) -> SearchResults {
    app.search_providers(None, &input).await.unwrap_or_else(|e| panic!("{input:?}: {e:?}"))
}

fn text(q: &str) -> SearchInput {
    SearchInput { q: q.to_string(), ..Default::default() }
}

fn invalid_fields(r: Result<SearchResults, AppError>) -> Vec<&'static str> {
    match r {
        Err(AppError::Invalid(inv)) => inv.0.iter().map(|e| e.field).collect(),
        Err(e) => panic!("expected Invalid, got {e:?}"),
        Ok(r) => panic!("expected Invalid, got {} results", r.total),
    }
}

#[tokio::test]
async fn japanese_text_finds_the_same_provider_in_any_script_and_width() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        let ids = load(&db.store).await;
        for q in ["きしかわ", "キシカワ", "ｷｼｶﾜ", "岸川", "センター　キシカワ"] {
            let r = find(&app, text(q)).await;
            assert_eq!(keys(&r, &ids), vec!["kishikawa"], "{b}: {q}");
            assert_eq!(r.total, 1, "{b}: {q}");
        }

        // 金沢 finds every provider with it in its name (or address) and nothing else; the one
        // read かなざわ but not written 金沢 is not meant.
        let r = find(&app, text("金沢")).await;
        let expected: Vec<&str> = fixtures()
            .iter()
            .filter(|f| f.name.contains("金沢") || f.address.contains("金沢"))
            .map(|f| f.key)
            .collect();
        assert_eq!(sorted(keys(&r, &ids)), sorted(expected.clone()), "{b}");
        for f in fixtures().iter().filter(|f| f.name.contains("金沢")) {
            assert!(expected.contains(&f.key), "{b}: {} is not found by 金沢", f.name);
        }
        assert!(!keys(&r, &ids).contains(&"kana_only"), "{b}");
        assert_eq!(r.total as usize, expected.len(), "{b}");
        // Sorted by reading.
        let kana: Vec<&str> = r.items.iter().map(|l| l.row.name_kana.as_str()).collect();
        let mut by_kana = kana.clone();
        by_kana.sort_unstable();
        assert_eq!(kana, by_kana, "{b}");

        // Two characters are enough.
        assert_eq!(sorted(keys(&find(&app, text("病院")).await, &ids)), vec!["near49", "uchinada"], "{b}");
        // Every term must match.
        assert_eq!(keys(&find(&app, text("金沢 病院")).await, &ids), vec!["near49"], "{b}");
        assert_eq!(keys(&find(&app, text("かなざわ")).await, &ids).len(), 3, "{b}: the readings");
        assert!(find(&app, text("東京")).await.items.is_empty(), "{b}");
        // LIKE wildcards are text like any other.
        assert!(find(&app, text("%")).await.items.is_empty(), "{b}");
        assert!(find(&app, text("_")).await.items.is_empty(), "{b}");
    }
}

#[tokio::test]
async fn a_radius_search_returns_exactly_the_providers_within_it_nearest_first() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        let ids = load(&db.store).await;
        let near = |radius: &str| SearchInput {
            near: format!("{},{}", ORIGIN.lat, ORIGIN.lon),
            radius: radius.to_string(),
            ..Default::default()
        };
        // 4.9 km is in, 5.1 km is out; the provider without coordinates is not "near".
        let r = find(&app, near("5")).await;
        assert_eq!(keys(&r, &ids), vec!["near05", "near20", "east30", "near49"], "{b}");
        assert_eq!(r.total, 4, "{b}");
        let d: Vec<f64> = r.items.iter().map(|l| l.distance_km.unwrap()).collect();
        for (got, want) in d.iter().zip([0.5, 2.0, 3.0, 4.9]) {
            assert!((got - want).abs() < 0.01, "{b}: {d:?}");
        }
        let (point, radius) = r.origin.unwrap();
        assert_eq!((point, radius), (ORIGIN, 5.0), "{b}");
        // The default radius is 5 km.
        assert_eq!(keys(&find(&app, near("")).await, &ids), keys(&r, &ids), "{b}");
        // Widen it a little and 5.1 km comes in, last.
        assert_eq!(keys(&find(&app, near("5.2")).await, &ids).last(), Some(&"far51"), "{b}");
        assert_eq!(keys(&find(&app, near("1")).await, &ids), vec!["near05"], "{b}");
        // Full-width digits and a `|` separator are the same point.
        let fw = SearchInput {
            near: "３６．５６１３｜１３６．６５６２".into(),
            radius: "５".into(),
            ..Default::default()
        };
        assert_eq!(keys(&find(&app, fw).await, &ids), keys(&r, &ids), "{b}");
        // Filters narrow a radius search too, still nearest first.
        let accepting = SearchInput { accepting: "1".into(), ..near("5") };
        assert_eq!(keys(&find(&app, accepting).await, &ids), vec!["near05", "east30", "near49"], "{b}");
    }
}

#[tokio::test]
async fn each_filter_narrows_the_search() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        let ids = load(&db.store).await;
        let id = |k: &str| ids.iter().find(|(key, _)| *key == k).unwrap().1.clone();
        // No filter at all: every provider (the pages show nothing until something is asked).
        let all = find(&app, SearchInput::default()).await;
        assert_eq!(all.total as usize, fixtures().len(), "{b}");

        let kind = SearchInput { kind: "hospital".into(), ..Default::default() };
        assert_eq!(sorted(keys(&find(&app, kind).await, &ids)), vec!["near49", "uchinada"], "{b}");

        let cap = SearchInput { capability: vec!["end_of_life".into()], ..Default::default() };
        assert_eq!(sorted(keys(&find(&app, cap).await, &ids)), vec!["near05", "near20"], "{b}");
        // Several capabilities: all of them.
        let caps = SearchInput {
            capability: vec!["visiting_care".into(), "house_calls".into()],
            ..Default::default()
        };
        assert_eq!(keys(&find(&app, caps).await, &ids), vec!["near05"], "{b}");

        let district = SearchInput { district: "犀川".into(), ..Default::default() };
        assert_eq!(sorted(keys(&find(&app, district).await, &ids)), vec!["near05", "near20"], "{b}");

        // A center's whole area: 犀川, 湯涌 and 浅川.
        let area = SearchInput { center: id("tagami"), ..Default::default() };
        assert_eq!(
            sorted(keys(&find(&app, area).await, &ids)),
            vec!["east30", "far51", "near05", "near20"],
            "{b}"
        );
        // A district and an area: the district, if it is in the area.
        let both = SearchInput { center: id("tagami"), district: "湯涌".into(), ..Default::default() };
        assert_eq!(keys(&find(&app, both).await, &ids), vec!["far51"], "{b}");
        let outside = SearchInput { center: id("tagami"), district: "森本".into(), ..Default::default() };
        assert!(find(&app, outside).await.items.is_empty(), "{b}");

        let accepting = SearchInput { accepting: "1".into(), ..Default::default() };
        assert_eq!(
            sorted(keys(&find(&app, accepting).await, &ids)),
            vec!["east30", "kana_only", "near05", "near49", "uchinada"],
            "{b}"
        );

        // Filters combine with text.
        let combined = SearchInput { kind: "hospital".into(), ..text("金沢") };
        assert_eq!(keys(&find(&app, combined).await, &ids), vec!["near49"], "{b}");
    }
}

/// A provider's codes are searched from a copy kept on the provider by the database itself
/// (migration 0010): a change of its care services or capabilities, by any path, is searched at
/// once, around a point (the indexes' path) and without one.
#[tokio::test]
async fn a_change_of_codes_is_searched_at_once() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        let ids = load(&db.store).await;
        let id = |k: &str| ids.iter().find(|(key, _)| *key == k).unwrap().1.clone();
        let near = |capability: &str, service: &str| SearchInput {
            capability: vec![capability.to_string()],
            service: service.to_string(),
            near: format!("{},{}", ORIGIN.lat, ORIGIN.lon),
            radius: "5".into(),
            ..Default::default()
        };
        let anywhere =
            |capability: &str| SearchInput { capability: vec![capability.into()], ..Default::default() };
        assert_eq!(keys(&find(&app, near("end_of_life", "")).await, &ids), vec!["near05", "near20"], "{b}");

        // Replaced: the old capability no longer finds it, the new one does.
        let mut tx = db.store.begin().await.unwrap();
        tx.set_provider_codes(&id("near05"), CodeSet::Capabilities, &["ventilator".into()]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(keys(&find(&app, near("end_of_life", "")).await, &ids), vec!["near20"], "{b}");
        assert_eq!(keys(&find(&app, anywhere("end_of_life")).await, &ids), vec!["near20"], "{b}");
        assert_eq!(keys(&find(&app, near("ventilator", "")).await, &ids), vec!["near05"], "{b}");
        assert_eq!(keys(&find(&app, anywhere("ventilator")).await, &ids), vec!["near05"], "{b}");

        // Services added by the importer's path (pairs already there left alone), then one
        // set replaced: the others stay.
        let mut tx = db.store.begin().await.unwrap();
        let pairs = vec![(id("near05"), "short_stay".to_string()), (id("near20"), "short_stay".to_string())];
        tx.add_provider_services(&pairs).await.unwrap();
        tx.add_provider_services(&pairs).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(keys(&find(&app, near("ventilator", "short_stay")).await, &ids), vec!["near05"], "{b}");
        let mut tx = db.store.begin().await.unwrap();
        tx.set_provider_codes(&id("near05"), CodeSet::Services, &[]).await.unwrap();
        tx.commit().await.unwrap();
        assert!(find(&app, near("ventilator", "short_stay")).await.items.is_empty(), "{b}");
        assert_eq!(keys(&find(&app, near("ventilator", "")).await, &ids), vec!["near05"], "{b}");
        let by_service = SearchInput { service: "short_stay".into(), ..Default::default() };
        assert_eq!(keys(&find(&app, by_service).await, &ids), vec!["near20"], "{b}");
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        load(&db.store).await;
        let cases: Vec<(SearchInput, &str)> = vec![
            (SearchInput { near: "36.56,136.65".into(), radius: "0".into(), ..Default::default() }, "radius"),
            (
                SearchInput { near: "36.56,136.65".into(), radius: "1000".into(), ..Default::default() },
                "radius",
            ),
            (
                SearchInput { near: "36.56,136.65".into(), radius: "abc".into(), ..Default::default() },
                "radius",
            ),
            (SearchInput { near: "36.56".into(), ..Default::default() }, "near"),
            (SearchInput { near: "136.65,36.56".into(), ..Default::default() }, "near"),
            (SearchInput { near: "north".into(), ..Default::default() }, "near"),
            (SearchInput { vacancy_on: "2026-13-01".into(), ..Default::default() }, "vacancy_on"),
            (SearchInput { vacancy_on: "tomorrow".into(), ..Default::default() }, "vacancy_on"),
            (SearchInput { kind: "spaceship".into(), ..Default::default() }, "kind"),
            (SearchInput { service: "spa".into(), ..Default::default() }, "service"),
            (SearchInput { department: "magic".into(), ..Default::default() }, "department"),
            (SearchInput { capability: vec!["flying".into()], ..Default::default() }, "capability"),
            (SearchInput { district: "梅田".into(), ..Default::default() }, "district"),
            (SearchInput { center: RANDOM_ID.into(), ..Default::default() }, "center"),
            (SearchInput { page: "0".into(), ..text("金沢") }, "page"),
            (text(&"あ".repeat(101)), "q"),
        ];
        for (input, field) in cases {
            let got = invalid_fields(app.search_providers(None, &input).await);
            assert_eq!(got, vec![field], "{b}: {input:?}");
        }
        // Several mistakes at once are all named.
        let many =
            SearchInput { kind: "x".into(), near: "x".into(), radius: "-1".into(), ..Default::default() };
        let mut got = invalid_fields(app.search_providers(None, &many).await);
        got.sort_unstable();
        assert_eq!(got, vec!["kind", "near", "radius"], "{b}");
    }
}

#[tokio::test]
async fn near_my_patient_goes_through_the_gate() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        app.load_demo(PASSWORD).await.unwrap();
        let ids = load(&db.store).await;
        let cm = actor(&app, "caremanager").await;
        let physician = actor(&app, "physician").await;
        let mine = app.my_patients(&cm).await.unwrap();
        let mori = mine.iter().find(|p| p.name == "森 正雄").expect("the care manager's patient").id.clone();
        let others = app.my_patients(&physician).await.unwrap();
        let kitamura = others.iter().find(|p| p.name == "北村 トメ").unwrap().id.clone();

        // Around 森 正雄's home (小立野): the search point is the home, within the radius only.
        let home = app.patient_location(&cm, &mori).await.unwrap().unwrap();
        let around =
            SearchInput { near_patient: mori.clone(), radius: "50".into(), ..text("金沢北病院") };
        let r = app.search_providers(Some(&cm), &around).await.unwrap();
        assert_eq!(r.origin.map(|o| o.0), Some(home), "{b}");
        assert_eq!(keys(&r, &ids), vec!["near49"], "{b}");
        let d = r.items[0].distance_km.unwrap();
        let want = home.distance_km(north(ORIGIN, 4.9));
        assert!((d - want).abs() < 1e-9, "{b}: {d} vs {want}");

        // Without text: exactly the providers within 2 km of the home, nearest first (the
        // demo directory's and the fixtures' alike).
        let everyone = app.store.search_providers(&ProviderQuery::default()).await.unwrap();
        let mut want: Vec<(f64, String)> = everyone
            .iter()
            .filter_map(|p| {
                let d = home.distance_km(GeoPoint { lat: p.latitude?, lon: p.longitude? });
                (d <= 2.0).then(|| (d, p.id.clone()))
            })
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0));
        let around = SearchInput { near_patient: mori.clone(), radius: "2".into(), ..Default::default() };
        let r = app.search_providers(Some(&cm), &around).await.unwrap();
        assert_eq!(r.total as usize, want.len(), "{b}");
        let got: Vec<String> = r.items.iter().map(|l| l.row.id.clone()).collect();
        let first: Vec<String> = want.iter().take(got.len()).map(|w| w.1.clone()).collect();
        assert_eq!(got, first, "{b}");
        assert_eq!(got.len(), want.len().min(20), "{b}");

        // Not a member, a random id, a malformed id: the same NotFound.
        for id in [kitamura.as_str(), RANDOM_ID, "../patients/1' or '1'='1"] {
            let q = SearchInput { near_patient: id.to_string(), ..Default::default() };
            let got = app.search_providers(Some(&cm), &q).await;
            assert!(matches!(got, Err(AppError::NotFound)), "{b}: {id}: {got:?}");
        }
        // Nobody logged in: no patient at all.
        let q = SearchInput { near_patient: mori.clone(), ..Default::default() };
        assert!(matches!(app.search_providers(None, &q).await, Err(AppError::Unauthenticated)), "{b}");

        // A patient without a recorded home: said so, on the field.
        let Registered::Created(p) = app
            .register_patient(
                &physician,
                NewPatient {
                    name: "位置 なし".into(),
                    name_kana: "いち なし".into(),
                    birth_date: "1940-01-01".into(),
                    sex: "female".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        else {
            panic!("{b}: not registered")
        };
        let q = SearchInput { near_patient: p.id.clone(), ..Default::default() };
        assert_eq!(
            invalid_fields(app.search_providers(Some(&physician), &q).await),
            vec!["near_patient"],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_patients_home_location_is_checked_stored_and_kept_in_the_history() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        app.load_demo(PASSWORD).await.unwrap();
        let physician = actor(&app, "physician").await;
        let input = |location: &str| NewPatient {
            name: "位置 テスト".into(),
            name_kana: "いち てすと".into(),
            birth_date: "1939-05-05".into(),
            sex: "male".into(),
            location: location.into(),
            ..Default::default()
        };
        for bad in ["36.56", "136.65,36.56", "here"] {
            match app.register_patient(&physician, input(bad)).await {
                Err(AppError::Invalid(inv)) => {
                    assert_eq!(inv.0.iter().map(|e| e.field).collect::<Vec<_>>(), vec!["location"], "{b}")
                }
                other => panic!("{b}: {bad}: {other:?}"),
            }
        }
        let Registered::Created(p) =
            app.register_patient(&physician, input("３６．５７,136.64")).await.unwrap()
        else {
            panic!("{b}")
        };
        assert_eq!(
            app.patient_location(&physician, &p.id).await.unwrap(),
            Some(GeoPoint { lat: 36.57, lon: 136.64 })
        );
        let row = app.open_patient(&physician, &p.id).await.unwrap().patient;
        assert_eq!((row.latitude, row.longitude), (Some(36.57), Some(136.64)), "{b}");

        // Moving house is a change like any other; clearing it too.
        let moved = app.update_patient(&physician, &p.id, input("36.60,136.62"), 1).await.unwrap();
        assert_eq!(moved.version, 2, "{b}");
        assert_eq!(
            app.patient_location(&physician, &p.id).await.unwrap(),
            Some(GeoPoint { lat: 36.6, lon: 136.62 })
        );
        let cleared = app.update_patient(&physician, &p.id, input(""), 2).await.unwrap();
        assert_eq!(cleared.version, 3, "{b}");
        assert_eq!(app.patient_location(&physician, &p.id).await.unwrap(), None, "{b}");
        let (_, history) = app.patient_history(&physician, &p.id).await.unwrap();
        assert_eq!(history.len(), 2, "{b}: {history:?}");
        assert!(history.iter().all(|c| c.fields == vec!["location".to_string()]), "{b}: {history:?}");
        // The same values again change nothing.
        let same = app.update_patient(&physician, &p.id, input(""), 3).await.unwrap();
        assert_eq!(same.version, 3, "{b}");
    }
}

#[tokio::test]
async fn residents_see_no_contact_route_and_professionals_do() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let app = app(&db.store);
        app.load_demo(PASSWORD).await.unwrap();
        let ids = load(&db.store).await;
        let id = ids.iter().find(|(k, _)| *k == "near05").unwrap().1.clone();
        let nurse = actor(&app, "nurse").await;

        let public = app.provider_view(None, &id).await.unwrap();
        assert!(!public.professional && !public.can_edit, "{b}");
        let r = &public.row;
        assert_eq!(
            [&r.contact_line, &r.contact_person, &r.contact_method, &r.contact_hours],
            [""; 4],
            "{b}: a resident sees a contact route"
        );
        // The public fields are all there.
        assert_eq!(
            (r.name.as_str(), r.phone.as_str(), r.district.as_deref()),
            ("金沢みなみ在宅クリニック", "076-000-0000", Some("犀川"))
        );
        assert_eq!(public.codes.capabilities, vec!["end_of_life", "house_calls", "visiting_care"], "{b}");
        assert_eq!(
            public.center.as_ref().map(|c| c.name.as_str()),
            Some("地域包括支援センターたがみ"),
            "{b}"
        );

        let pro = app.provider_view(Some(&nurse), &id).await.unwrap();
        assert!(pro.professional && !pro.can_edit, "{b}");
        assert_eq!(pro.row.contact_line, "076-999-1234", "{b}");
        assert_eq!(pro.row.contact_person, "金沢みなみ在宅クリニックの連絡担当", "{b}");
        assert_eq!(
            (pro.row.contact_method.as_str(), pro.row.contact_hours.as_str()),
            ("phone", "平日 13:00–15:00")
        );

        // Result lists follow the same rule.
        let anon = find(&app, text("金沢みなみ在宅")).await;
        assert_eq!(anon.items.len(), 1, "{b}");
        assert!(
            anon.items[0].row.contact_person.is_empty() && anon.items[0].row.contact_line.is_empty(),
            "{b}"
        );
        let seen = app.search_providers(Some(&nurse), &text("金沢みなみ在宅")).await.unwrap();
        assert_eq!(seen.items[0].row.contact_person, "金沢みなみ在宅クリニックの連絡担当", "{b}");

        // A missing provider and a malformed id are the same NotFound.
        for bad in [RANDOM_ID, "not-an-id", ""] {
            assert!(matches!(app.provider_view(None, bad).await, Err(AppError::NotFound)), "{b}: {bad}");
            assert!(
                matches!(app.provider_view(Some(&nurse), bad).await, Err(AppError::NotFound)),
                "{b}: {bad}"
            );
        }
    }
}
