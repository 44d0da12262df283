//! The demo region's patients (issue 3): a newcomer logging in as any demo account sees a living
//! product, and what they see follows the access rules like any other data. Runs on every
//! backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsunagu_app::{Actor, App, AppConfig, AuthVia};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::patients::EntryFilter;
use tsunagu_store::testing;

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z (09:30 in Kanazawa).
const START: Timestamp = Timestamp(1_795_480_200_000_000);

async fn actor(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().unwrap();
    app.actor(&u.id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.unwrap()
}

#[tokio::test]
async fn the_demo_region_has_patients_with_teams_and_months_of_timeline() {
    for db in testing::all().await {
        let b = format!("{:?}", db.backend);
        let clock = FixedClock::at(START);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        let t = Instant::now();
        app.load_demo(PASSWORD).await.expect("demo");
        let took = t.elapsed();
        eprintln!("{b}: load_demo took {took:?}");
        assert!(took < Duration::from_secs(4), "{b}: the demo loads slowly: {took:?}");

        // One audit event for the whole demo (the CLI's `audit verify` counts on it).
        assert_eq!(app.store.audit_head().await.unwrap().seq, 1, "{b}");

        let physician = actor(&app, "physician").await;
        let mine = app.my_patients(&physician).await.unwrap();
        assert_eq!(mine.len(), 5, "{b}: 山田 attends every demo patient: {mine:?}");
        assert!(mine.iter().all(|p| p.role == "attending"), "{b}: {mine:?}");
        let waiting: i64 = mine.iter().map(|p| p.unacknowledged).sum();
        assert_eq!(waiting, 1, "{b}: one message waits for 山田's reply: {mine:?}");

        let nurse = actor(&app, "nurse").await;
        let theirs = app.my_patients(&nurse).await.unwrap();
        assert_eq!(theirs.iter().filter(|p| p.status == "active").count(), 2, "{b}: nurse: {theirs:?}");
        let pharmacist = actor(&app, "pharmacist").await;
        let theirs = app.my_patients(&pharmacist).await.unwrap();
        assert_eq!(theirs.len(), 1, "{b}: pharmacist: {theirs:?}");
        assert_eq!(theirs[0].status, "pending", "{b}");
        // The care manager is on one team (森 正雄's), whose home has coordinates: "providers near
        // my patient" works out of the box.
        let cm = actor(&app, "caremanager").await;
        let theirs = app.my_patients(&cm).await.unwrap();
        assert_eq!(theirs.len(), 1, "{b}: caremanager: {theirs:?}");
        assert_eq!((theirs[0].name.as_str(), theirs[0].status.as_str()), ("森 正雄", "active"), "{b}");
        let home = app.patient_location(&cm, &theirs[0].id).await.unwrap().expect("a home location");
        assert!((36.5..36.7).contains(&home.lat) && (136.5..136.8).contains(&home.lon), "{b}: {home:?}");
        let helper = actor(&app, "helper").await;
        assert_eq!(app.my_patients(&helper).await.unwrap().len(), 1, "{b}");
        let physician2 = actor(&app, "physician2").await;
        let theirs = app.my_patients(&physician2).await.unwrap();
        assert_eq!(theirs.len(), 2, "{b}: physician2: {theirs:?}");
        assert!(theirs.iter().all(|p| p.role == "sub_attending"), "{b}");

        // The pending pharmacist sees nothing of the patient they asked to join.
        let pending = app.my_patients(&pharmacist).await.unwrap().remove(0);
        assert!(matches!(
            app.open_patient(&pharmacist, &pending.id).await,
            Err(tsunagu_app::AppError::NotFound)
        ));

        let mut kinds = std::collections::BTreeSet::new();
        let (mut corrections, mut without_consent, mut vitals, mut longest) = (0, 0, 0, 0);
        for p in &mine {
            if app.consents(&physician, &p.id).await.unwrap().is_empty() {
                without_consent += 1;
                // Nobody but the attending physician: not even the nurse would be admitted.
                continue;
            }
            let (_, entries) = app
                .timeline(&physician, &p.id, EntryFilter { limit: 100, ..Default::default() })
                .await
                .unwrap();
            for e in &entries {
                kinds.insert(e.entry.kind.clone());
                if e.entry.corrects_id.is_some() {
                    corrections += 1;
                }
                assert!(e.entry.created_at <= START.micros(), "{b}: an entry from the future");
                assert!(!e.author_name.is_empty() && e.author_org.is_some(), "{b}: {:?}", e.entry);
                if e.entry.kind == "visit" {
                    assert!(e.visit.is_some(), "{b}");
                }
            }
            let (_, series) = app.vitals_series(&physician, &p.id, 52).await.unwrap();
            vitals += series.len();
            let oldest = series.first().map(|v| v.measured_at).unwrap_or(START.micros());
            longest = longest.max((START.micros() - oldest) / 86_400_000_000);
        }
        assert_eq!(without_consent, 1, "{b}: one patient has no consent yet");
        assert_eq!(corrections, 1, "{b}");
        for k in ["visit", "message", "acp"] {
            assert!(kinds.contains(k), "{b}: no {k} entry in the demo: {kinds:?}");
        }
        assert!(vitals > 300, "{b}: only {vitals} vital signs");
        assert!(longest >= 150, "{b}: months of record, for the charts: {longest} days");
        app.verify_audit(vec![]).await.map(|r| assert!(r.findings.is_empty(), "{b}")).unwrap();
    }
}
