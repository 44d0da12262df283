//! The demo region's directory (issue 4): a realistic directory of the Kanazawa area with
//! coordinates in the city, consultation hours, and short-stay vacancies of varied freshness.
//! Runs on every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use tsunagu_app::{Actor, App, AppConfig, AuthVia};
use tsunagu_domain::directory::query_terms;
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::directory::{ProviderQuery, ProviderRow, VacancyOn};
use tsunagu_store::testing;

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z (09:30 in Kanazawa, a Tuesday).
const START: Timestamp = Timestamp(1_795_480_200_000_000);
const HOUR: i64 = 3_600_000_000;

async fn actor(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().unwrap();
    app.actor(&u.id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.unwrap()
}

async fn search(app: &App, q: ProviderQuery) -> Vec<ProviderRow> {
    app.store.search_providers(&q).await.unwrap()
}

async fn by_name(app: &App, name: &str) -> ProviderRow {
    let rows = search(app, ProviderQuery { terms: query_terms(name), ..Default::default() }).await;
    rows.into_iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn the_demo_directory_is_the_kanazawa_area_with_hours_and_vacancies_of_varied_freshness() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let clock = FixedClock::at(START);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        app.load_demo(PASSWORD).await.expect("demo");

        // Every organisation, support centers included, is on the map inside the city and in a
        // district the city knows.
        let all = search(&app, ProviderQuery::default()).await;
        assert!((80..=110).contains(&all.len()), "{b}: {} organisations", all.len());
        for r in &all {
            let (lat, lon) = (r.latitude.unwrap(), r.longitude.unwrap());
            assert!((36.45..=36.70).contains(&lat) && (136.55..=136.80).contains(&lon), "{b}: {}", r.name);
            let d = r.district.as_deref().unwrap();
            assert!(app.store.center_for_district(d).await.unwrap().is_some(), "{b}: {}: {d}", r.name);
            assert!(!r.search_text.is_empty() && r.version == 1, "{b}: {}", r.name);
        }

        // Two-character searches find several.
        for (q, at_least) in [("金沢", 10), ("病院", 5)] {
            let found = search(&app, ProviderQuery { terms: query_terms(q), ..Default::default() }).await;
            let named = found.iter().filter(|r| r.name.contains(q)).count();
            assert!(named >= at_least, "{b}: {q}: {named} names");
        }
        let center = search(&app, ProviderQuery { terms: query_terms("ｷｼｶﾜ"), ..Default::default() }).await;
        assert_eq!(center.len(), 1, "{b}: {center:?}");
        assert_eq!(center[0].name, "地域包括支援センターきしかわ", "{b}");
        assert_eq!(center[0].district.as_deref(), Some("森本"), "{b}");

        // The physician's clinic: where it is, what it does, when its physician takes calls,
        // and overdue for confirmation.
        let clinic = by_name(&app, "犀川ホームクリニック").await;
        assert_eq!(clinic.district.as_deref(), Some("野町"), "{b}");
        assert_eq!(clinic.contact_person, "地域連携室 森", "{b}");
        let codes = app.store.provider_codes(&clinic.id).await.unwrap();
        for c in ["visiting_care", "house_calls", "round_the_clock", "end_of_life"] {
            assert!(codes.capabilities.iter().any(|x| x == c), "{b}: {c}: {codes:?}");
        }
        let slots = app.store.consultation_slots(&clinic.id).await.unwrap();
        assert!(
            slots.iter().any(|s| s.physician == "山田 太郎 医師"
                && s.weekday == 1
                && s.start_minute == 14 * 60
                && s.end_minute == 16 * 60),
            "{b}: {slots:?}"
        );
        let exceptions = app.store.consultation_exceptions(&clinic.id, &START.jst_day()).await.unwrap();
        assert_eq!(exceptions.len(), 1, "{b}");
        assert!(exceptions[0].closed && exceptions[0].day == "2026-12-01", "{b}: {exceptions:?}");
        assert!(app.needs_confirmation(&clinic), "{b}: the physician is asked to confirm");
        let physician = actor(&app, "physician").await;
        assert!(app.can_edit_provider(&physician, &clinic.id), "{b}: the physician keeps the entry");

        // The emergency hospital kept its name and flag.
        let hospital = by_name(&app, "金沢中央総合病院").await;
        assert!(hospital.is_emergency_hospital && hospital.kind == "hospital", "{b}");

        // Short stays: every facility has figures for the coming weeks, of varied freshness.
        let stays =
            search(&app, ProviderQuery { kinds: vec!["short_stay_facility".into()], ..Default::default() })
                .await;
        assert!(stays.len() >= 5, "{b}");
        let (today, last) = (START.jst_day(), START.plus_seconds(20 * 86_400).jst_day());
        let mut ages = Vec::new();
        for s in &stays {
            let v = app.store.vacancies(&s.id, &today, &last).await.unwrap();
            assert!(!v.is_empty(), "{b}: {} has no figures", s.name);
            ages.push(((START.micros() - v[0].confirmed_at) / HOUR, v.len()));
        }
        ages.sort();
        assert_eq!(ages, [(1, 21), (3, 6), (6, 21), (30, 21), (120, 21)], "{b}");

        // A fresh free bed is found by date; a stale one is not.
        let shortstay = by_name(&app, "ショートステイ卯辰の郷").await;
        let stale = by_name(&app, "鞍月ショートステイ あさがお").await;
        let day = START.plus_seconds(2 * 86_400).jst_day();
        let q = ProviderQuery {
            vacancy_on: Some(VacancyOn { day, fresh_after: app.vacancy_fresh_after() }),
            ..Default::default()
        };
        let found: Vec<String> = search(&app, q).await.into_iter().map(|r| r.name).collect();
        assert!(found.contains(&shortstay.name), "{b}: {found:?}");
        assert!(!found.contains(&stale.name), "{b}: a 30-hour-old figure is stale: {found:?}");
        assert!(!app.needs_confirmation(&shortstay), "{b}");

        // The short-stay operator keeps their own entry and no other.
        let operator = actor(&app, "shortstay").await;
        assert!(app.can_edit_provider(&operator, &shortstay.id), "{b}");
        assert!(!app.can_edit_provider(&operator, &stale.id), "{b}");
    }
}
