//! Short-stay vacancies and inquiries (issue 4, point 2), on every backend the store harness
//! finds: who may set figures, what "confirmed" and "stale" mean, the `vacancy_on` search filter,
//! the overview, and an inquiry's life (sent, answered or withdrawn) as both sides see it.
//!
//! Each test builds its own facilities and operators through the app (on top of the demo
//! region's people), so it does not depend on the demo's directory data.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use tsunagu_app::admin::{NewOrganisation, NewPerson};
use tsunagu_app::directory::SearchInput;
use tsunagu_app::directory::vacancies::{Freshness, NewInquiry};
use tsunagu_app::{Actor, App, AppConfig, AppError, AuthVia};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::directory::CodeSet;
use tsunagu_store::testing::{self, TestDb};

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z: Tuesday 2026-11-24, 09:30 in Kanazawa.
const START: Timestamp = Timestamp(1_795_480_200_000_000);
const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";

struct World {
    app: App,
    clock: FixedClock,
    backend: String,
    /// A short-stay facility by kind (ショートステイ松風テスト), operated by `op`.
    facility: String,
    /// A special nursing home offering short stays by service, operated by `op2`.
    other: String,
    /// A clinic: no short stays.
    clinic: String,
    op: Actor,
    op2: Actor,
    coordinator: Actor,
    caremanager: Actor,
    nurse: Actor,
    commissioner: Actor,
    city: Actor,
    _db: TestDb,
}

async fn actor(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().unwrap_or_else(|| panic!("no account {login}"));
    app.actor(&u.id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.unwrap()
}

async fn org(app: &App, admin: &Actor, kind: &str, name: &str, kana: &str) -> String {
    app.create_organisation(
        admin,
        NewOrganisation {
            kind: kind.into(),
            name: name.into(),
            name_kana: kana.into(),
            address: "石川県金沢市東兼六町1-1".into(),
            phone: "076-200-0000".into(),
            parent_id: None,
            is_emergency_hospital: false,
        },
    )
    .await
    .unwrap()
    .id
}

async fn operator(app: &App, login: &str, name: &str, org: &str) -> Actor {
    app.add_person_with_password(
        NewPerson {
            login: login.into(),
            display_name: name.into(),
            display_name_kana: "てすと".into(),
            profession: "social_worker".into(),
            email: String::new(),
            duties: vec!["provider_operator".into()],
            organisation_ids: vec![org.into()],
        },
        PASSWORD,
    )
    .await
    .unwrap();
    actor(app, login).await
}

async fn world(db: TestDb) -> World {
    let clock = FixedClock::at(START);
    let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
    let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
    app.load_demo(PASSWORD).await.expect("demo");
    let admin = actor(&app, "admin").await;
    let facility =
        org(&app, &admin, "short_stay_facility", "ショートステイ松風テスト", "しょーとすてい まつかぜてすと")
            .await;
    let other = org(&app, &admin, "special_nursing_home", "特養竹林テスト", "とくよう ちくりんてすと").await;
    let mut tx = app.store.begin().await.unwrap();
    tx.set_provider_codes(&other, CodeSet::Services, &["short_stay".into(), "special_nursing_home".into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let clinic = org(&app, &admin, "clinic", "梅林クリニックテスト", "うめばやし くりにっくてすと").await;
    let op = operator(&app, "ss-op1", "松風 係", &facility).await;
    let op2 = operator(&app, "ss-op2", "竹林 係", &other).await;
    World {
        backend: format!("{:?}", db.backend),
        coordinator: actor(&app, "coordinator").await,
        caremanager: actor(&app, "caremanager").await,
        nurse: actor(&app, "nurse").await,
        commissioner: actor(&app, "commissioner").await,
        city: actor(&app, "city").await,
        app,
        clock,
        facility,
        other,
        clinic,
        op,
        op2,
        _db: db,
    }
}

async fn worlds() -> Vec<World> {
    let mut out = Vec::new();
    for db in testing::all().await {
        out.push(world(db).await);
    }
    out
}

/// Today plus `n` days in Japan, `YYYY-MM-DD`.
fn day(w: &World, n: i64) -> String {
    let d = w.app.now().in_jst().date() + time::Duration::days(n);
    tsunagu_app::directory::format_day(d)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(d, b)| (d.to_string(), b.to_string())).collect()
}

async fn actions(w: &World) -> Vec<String> {
    w.app.store.audit_events_after(0, 100_000).await.unwrap().into_iter().map(|e| e.event.action).collect()
}

async fn count(w: &World, action: &str) -> usize {
    actions(w).await.iter().filter(|a| *a == action).count()
}

#[track_caller]
fn invalid_codes(w: &World, r: Result<impl std::fmt::Debug, AppError>) -> Vec<&'static str> {
    match r {
        Err(AppError::Invalid(inv)) => inv.0.iter().map(|e| e.code).collect(),
        other => panic!("{}: expected Invalid, got {other:?}", w.backend),
    }
}

#[tokio::test]
async fn an_operator_sets_figures_and_they_read_back_with_when_and_by_whom_they_were_confirmed() {
    for w in worlds().await {
        let b = &w.backend;
        let (d0, d1, d2) = (day(&w, 0), day(&w, 1), day(&w, 2));
        let n = w
            .app
            .set_vacancies(&w.op, &w.facility, pairs(&[(&d0, "2"), (&d1, "０"), (&d2, "")]))
            .await
            .unwrap();
        assert_eq!(n, 2, "{b}: two days confirmed (the empty one left alone)");

        let board = w.app.vacancy_board(None, &w.facility).await.unwrap().expect("a short-stay board");
        assert_eq!(board.days.len(), 21, "{b}");
        assert_eq!(board.days[0].day, d0, "{b}");
        assert_eq!(board.days[0].free_beds, Some(2), "{b}");
        assert_eq!(board.days[0].confirmed_at, Some(START.micros()), "{b}");
        assert_eq!(board.days[0].confirmed, "2026-11-24 09:30", "{b}: shown in Japan time");
        assert_eq!(board.days[0].freshness, Freshness::Fresh, "{b}");
        assert!(board.days[1].is_full() && board.days[1].is_fresh(), "{b}: full-width 0 is 0 free beds");
        assert_eq!(board.days[2].freshness, Freshness::Missing, "{b}");
        assert!(!board.can_edit && !board.can_inquire, "{b}: an anonymous reader edits and asks nothing");
        let rows = w.app.store.vacancies(&w.facility, &d0, &d2).await.unwrap();
        assert_eq!(rows.len(), 2, "{b}");
        assert!(rows.iter().all(|r| r.confirmed_by.as_deref() == Some(w.op.user_id.as_str())), "{b}");
        assert_eq!(count(&w, "vacancy.updated").await, 1, "{b}: one audit event per save");

        // Saving the same number again an hour later re-confirms it: that is what confirmed means.
        w.clock.advance_seconds(3600);
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d0, "2")])).await.unwrap();
        let board = w.app.vacancy_board(Some(&w.op), &w.facility).await.unwrap().unwrap();
        assert_eq!(board.days[0].confirmed_at, Some(START.plus_seconds(3600).micros()), "{b}");
        assert_eq!(
            board.days[1].confirmed_at,
            Some(START.micros()),
            "{b}: a day not sent is not re-confirmed"
        );
        assert!(board.can_edit && !board.can_inquire, "{b}: the operator edits and does not ask itself");
        assert_eq!(count(&w, "vacancy.updated").await, 2, "{b}");

        // The coordinator may set any facility's figures; the editor page shows 14 days.
        w.app.set_vacancies(&w.coordinator, &w.other, pairs(&[(&d1, "5")])).await.unwrap();
        let ed = w.app.vacancy_editor(&w.coordinator, &w.other).await.unwrap();
        assert_eq!(ed.days.len(), 14, "{b}");
        assert_eq!(ed.days[1].free_beds, Some(5), "{b}");
    }
}

#[tokio::test]
async fn nobody_but_the_facilitys_operators_and_the_coordinator_may_set_its_figures() {
    for w in worlds().await {
        let b = &w.backend;
        let d0 = day(&w, 0);
        for (who, a) in [("another facility's operator", &w.op2), ("a care manager", &w.caremanager)] {
            let r = w.app.set_vacancies(a, &w.facility, pairs(&[(&d0, "3")])).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{b}: {who}: {r:?}");
            let r = w.app.vacancy_editor(a, &w.facility).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{b}: {who}: editor {r:?}");
            let r = w.app.inquiries_for_facility(a, &w.facility).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{b}: {who}: inbox {r:?}");
        }
        // A provider that takes no short-stay guests has no vacancies, even for the coordinator.
        let r = w.app.set_vacancies(&w.coordinator, &w.clinic, pairs(&[(&d0, "3")])).await;
        assert!(matches!(r, Err(AppError::NotFound)), "{b}: clinic {r:?}");
        assert!(w.app.vacancy_board(None, &w.clinic).await.unwrap().is_none(), "{b}");
        for id in [RANDOM_ID, "../x' or 1=1"] {
            let r = w.app.set_vacancies(&w.coordinator, id, pairs(&[(&d0, "3")])).await;
            assert!(matches!(r, Err(AppError::NotFound)), "{b}: {id}: {r:?}");
            assert!(w.app.vacancy_board(None, id).await.unwrap().is_none(), "{b}: {id}");
        }
        assert!(w.app.store.vacancies(&w.facility, &d0, &day(&w, 60)).await.unwrap().is_empty(), "{b}");
        assert!(w.app.store.vacancies(&w.clinic, &d0, &day(&w, 60)).await.unwrap().is_empty(), "{b}");
        assert_eq!(count(&w, "vacancy.updated").await, 0, "{b}");
    }
}

#[tokio::test]
async fn out_of_range_days_and_beds_are_refused_and_nothing_is_written() {
    for w in worlds().await {
        let b = &w.backend;
        let (d0, d1) = (day(&w, 0), day(&w, 1));
        let cases: Vec<(Vec<(String, String)>, &str)> = vec![
            (pairs(&[(&day(&w, -1), "1")]), "error.vacancies.day_range"),
            (pairs(&[(&day(&w, 61), "1")]), "error.vacancies.day_range"),
            (pairs(&[(&d0, "1000")]), "error.vacancies.beds_range"),
            (pairs(&[(&d0, "-1")]), "error.vacancies.beds_range"),
            (pairs(&[(&d0, "two")]), "error.vacancies.beds_number"),
            (pairs(&[(&d0, "1.5")]), "error.vacancies.beds_number"),
            (pairs(&[("2026-02-30", "1")]), "error.bad_date"),
            (pairs(&[(&d0, "1"), (&d0, "2")]), "error.vacancies.day_repeated"),
            (pairs(&[(&d0, ""), (&d1, " ")]), "error.vacancies.nothing_to_save"),
            (vec![], "error.vacancies.nothing_to_save"),
            // One bad day refuses the whole submission, good days included.
            (pairs(&[(&d0, "4"), (&d1, "1000")]), "error.vacancies.beds_range"),
        ];
        for (input, code) in cases {
            let r = w.app.set_vacancies(&w.op, &w.facility, input.clone()).await;
            let codes = invalid_codes(&w, r);
            assert!(codes.contains(&code), "{b}: {input:?}: {codes:?}, wanted {code}");
        }
        // The error of a day names the day (the page marks that row).
        match w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d1, "1000")])).await {
            Err(AppError::Invalid(inv)) => {
                assert_eq!(inv.0[0].args, vec![("day", d1.clone())], "{b}");
                assert_eq!(inv.0[0].limit, Some(999), "{b}");
            }
            other => panic!("{b}: {other:?}"),
        }
        assert!(
            w.app.store.vacancies(&w.facility, &day(&w, -5), &day(&w, 70)).await.unwrap().is_empty(),
            "{b}"
        );
        assert_eq!(count(&w, "vacancy.updated").await, 0, "{b}");
        // The edges are allowed: today and 60 days ahead, 0 and 999 beds.
        let n = w
            .app
            .set_vacancies(&w.op, &w.facility, pairs(&[(&d0, "0"), (&day(&w, 60), "999")]))
            .await
            .unwrap();
        assert_eq!(n, 2, "{b}");
    }
}

#[tokio::test]
async fn figures_older_than_the_stale_age_are_shown_as_stale_not_as_true() {
    for w in worlds().await {
        let b = &w.backend;
        let d3 = day(&w, 3);
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d3, "4")])).await.unwrap();
        let fresh = |board: &tsunagu_app::directory::vacancies::VacancyBoard| {
            board.days.iter().find(|d| d.day == d3).cloned().expect("the day is on the board")
        };
        w.clock.advance_seconds(23 * 3600);
        let d = fresh(&w.app.vacancy_board(None, &w.facility).await.unwrap().unwrap());
        assert_eq!(d.freshness, Freshness::Fresh, "{b}: 23 hours old is still fresh");

        w.clock.advance_seconds(2 * 3600);
        let d = fresh(&w.app.vacancy_board(None, &w.facility).await.unwrap().unwrap());
        assert_eq!(d.freshness, Freshness::Stale, "{b}: 25 hours old is stale");
        assert_eq!(d.free_beds, Some(4), "{b}: the old figure is kept to show with its time");
        assert_eq!(d.confirmed, "2026-11-24 09:30", "{b}");

        let o = w.app.vacancy_overview(None, "").await.unwrap();
        let row = o.rows.iter().find(|r| r.facility.id == w.facility).expect("facility on the overview");
        assert!(row.days.iter().any(|x| x.day == d3 && x.is_stale()), "{b}");

        // Confirming again makes it fresh.
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d3, "4")])).await.unwrap();
        let d = fresh(&w.app.vacancy_board(None, &w.facility).await.unwrap().unwrap());
        assert_eq!(d.freshness, Freshness::Fresh, "{b}");
    }
}

#[tokio::test]
async fn the_vacancy_on_filter_finds_a_facility_only_with_a_fresh_free_bed_that_day() {
    for w in worlds().await {
        let b = &w.backend;
        let (d2, d3, d4) = (day(&w, 2), day(&w, 3), day(&w, 4));
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d2, "3"), (&d3, "0")])).await.unwrap();
        let found = |on: String| {
            let app = w.app.clone();
            async move {
                let input = SearchInput { q: "松風テスト".into(), vacancy_on: on, ..Default::default() };
                let r = app.search_providers(None, &input).await.unwrap();
                r.items.into_iter().map(|i| i.row.name).collect::<Vec<_>>()
            }
        };
        assert_eq!(found(d2.clone()).await, ["ショートステイ松風テスト"], "{b}: a fresh free bed");
        assert!(found(d3.clone()).await.is_empty(), "{b}: full that day");
        assert!(found(d4.clone()).await.is_empty(), "{b}: no figure that day");
        w.clock.advance_seconds(25 * 3600);
        assert!(found(d2.clone()).await.is_empty(), "{b}: the figure went stale");
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&d2, "3")])).await.unwrap();
        assert_eq!(found(d2).await.len(), 1, "{b}: confirmed again");
    }
}

#[tokio::test]
async fn the_overview_lists_every_short_stay_facility_with_its_next_fourteen_days() {
    for w in worlds().await {
        let b = &w.backend;
        w.app.set_vacancies(&w.op, &w.facility, pairs(&[(&day(&w, 1), "2")])).await.unwrap();
        w.app
            .set_vacancies(&w.op2, &w.other, pairs(&[(&day(&w, 13), "1"), (&day(&w, 14), "9")]))
            .await
            .unwrap();
        let o = w.app.vacancy_overview(Some(&w.op), "").await.unwrap();
        assert_eq!(o.heads.len(), 14, "{b}");
        assert_eq!(o.from_day, day(&w, 0), "{b}");
        let ids: Vec<&str> = o.rows.iter().map(|r| r.facility.id.as_str()).collect();
        assert!(ids.contains(&w.facility.as_str()), "{b}: a facility by kind");
        assert!(ids.contains(&w.other.as_str()), "{b}: a facility by service");
        assert!(!ids.contains(&w.clinic.as_str()), "{b}: a clinic takes no short-stay guests");
        let mine = o.rows.iter().find(|r| r.facility.id == w.facility).unwrap();
        assert!(mine.can_edit, "{b}");
        assert_eq!(mine.days.len(), 14, "{b}");
        assert_eq!(mine.days[1].free_beds, Some(2), "{b}");
        let other = o.rows.iter().find(|r| r.facility.id == w.other).unwrap();
        assert!(!other.can_edit, "{b}");
        assert_eq!(other.days[13].free_beds, Some(1), "{b}");
        // A later start shows the later days.
        let later = w.app.vacancy_overview(None, &day(&w, 14)).await.unwrap();
        let other = later.rows.iter().find(|r| r.facility.id == w.other).unwrap();
        assert_eq!(other.days[0].free_beds, Some(9), "{b}");
        assert_eq!(later.previous_from, Some(day(&w, 0)), "{b}");
        // A start before today or past the horizon is refused.
        for bad in [day(&w, -1), day(&w, 61), "tomorrow".to_string()] {
            let codes = invalid_codes(&w, w.app.vacancy_overview(None, &bad).await);
            assert_eq!(codes.len(), 1, "{b}: {bad}");
        }
    }
}

fn inquiry(first: &str, last: &str, beds: &str, note: &str) -> NewInquiry {
    NewInquiry { first_day: first.into(), last_day: last.into(), beds: beds.into(), note: note.into() }
}

#[tokio::test]
async fn an_inquiry_is_sent_answered_and_both_sides_see_its_history() {
    for w in worlds().await {
        let b = &w.backend;
        let (d5, d9) = (day(&w, 5), day(&w, 9));
        let note = "要介護3、胃ろうあり。平日日中に連絡ください。";
        let sent =
            w.app.send_inquiry(&w.caremanager, &w.facility, inquiry(&d5, &d9, "1", note)).await.unwrap();
        assert_eq!(sent.status, "open", "{b}");
        assert_eq!(sent.created_at, START.micros(), "{b}");
        assert!(sent.sender_org_id.is_some(), "{b}: the sender's organisation is recorded");

        let inbox = w.app.inquiries_for_facility(&w.op, &w.facility).await.unwrap();
        assert_eq!(inbox.items.len(), 1, "{b}");
        let l = &inbox.items[0];
        assert_eq!(
            (l.inquiry.first_day.as_str(), l.inquiry.last_day.as_str()),
            (d5.as_str(), d9.as_str()),
            "{b}"
        );
        assert_eq!(l.inquiry.note, note, "{b}");
        assert_eq!(l.sender_name, w.caremanager.display_name, "{b}");
        assert!(l.sender_org_name.is_some(), "{b}");

        w.clock.advance_seconds(600);
        let answered =
            w.app.answer_inquiry(&w.op, &sent.id, "accepted", "11/29から受け入れ可能です。").await.unwrap();
        assert_eq!(answered.status, "accepted", "{b}");
        for list in [
            w.app.my_inquiries(&w.caremanager).await.unwrap(),
            w.app.inquiries_for_facility(&w.op, &w.facility).await.unwrap().items,
            w.app.inquiries_for_facility(&w.coordinator, &w.facility).await.unwrap().items,
        ] {
            assert_eq!(list.len(), 1, "{b}");
            let l = &list[0];
            assert_eq!(l.inquiry.status, "accepted", "{b}");
            assert_eq!(l.inquiry.answer_note, "11/29から受け入れ可能です。", "{b}");
            assert_eq!(l.answered_by_name.as_deref(), Some(w.op.display_name.as_str()), "{b}");
            assert_eq!(l.inquiry.answered_at, Some(START.plus_seconds(600).micros()), "{b}");
            assert_eq!(l.facility_name, "ショートステイ松風テスト", "{b}");
        }
        // The sender's colleagues and other facilities see nothing of it.
        assert!(w.app.my_inquiries(&w.nurse).await.unwrap().is_empty(), "{b}");
        assert!(w.app.inquiries_for_facility(&w.op2, &w.other).await.unwrap().items.is_empty(), "{b}");
        // An answered inquiry is not answered or withdrawn again.
        let codes = invalid_codes(&w, w.app.answer_inquiry(&w.op, &sent.id, "declined", "").await);
        assert_eq!(codes, ["error.vacancies.not_open"], "{b}");
        let codes = invalid_codes(&w, w.app.withdraw_inquiry(&w.caremanager, &sent.id).await);
        assert_eq!(codes, ["error.vacancies.not_open"], "{b}");
        assert_eq!(count(&w, "inquiry.sent").await, 1, "{b}");
        assert_eq!(count(&w, "inquiry.answered").await, 1, "{b}");

        // "Call me" and the coordinator answering for the facility.
        let second = w.app.send_inquiry(&w.nurse, &w.facility, inquiry(&d5, &d5, "2", "")).await.unwrap();
        let r = w.app.answer_inquiry(&w.coordinator, &second.id, "call_me", "").await.unwrap();
        assert_eq!(r.status, "call_me", "{b}");
        assert_eq!(r.answered_by.as_deref(), Some(w.coordinator.user_id.as_str()), "{b}");
        // Only the three answers are answers.
        let third = w.app.send_inquiry(&w.nurse, &w.facility, inquiry(&d5, &d5, "2", "")).await.unwrap();
        for bad in ["open", "withdrawn", "yes", ""] {
            let codes = invalid_codes(&w, w.app.answer_inquiry(&w.op, &third.id, bad, "").await);
            assert_eq!(codes, ["error.vacancies.choose_answer"], "{b}: {bad}");
        }
        let long = "あ".repeat(501);
        let codes = invalid_codes(&w, w.app.answer_inquiry(&w.op, &third.id, "declined", &long).await);
        assert_eq!(codes, ["error.too_long"], "{b}");
        assert_eq!(
            w.app.inquiry(&w.op, &third.id).await.unwrap().inquiry.status,
            "open",
            "{b}: nothing changed"
        );
    }
}

#[tokio::test]
async fn the_sender_withdraws_an_open_inquiry_and_the_facility_can_no_longer_answer_it() {
    for w in worlds().await {
        let b = &w.backend;
        let d1 = day(&w, 1);
        let sent = w.app.send_inquiry(&w.caremanager, &w.other, inquiry(&d1, &d1, "1", "")).await.unwrap();
        let r = w.app.withdraw_inquiry(&w.op2, &sent.id).await;
        assert!(matches!(r, Err(AppError::Forbidden)), "{b}: the facility does not withdraw: {r:?}");
        let r = w.app.answer_inquiry(&w.caremanager, &sent.id, "accepted", "").await;
        assert!(matches!(r, Err(AppError::Forbidden)), "{b}: the sender does not answer: {r:?}");
        w.clock.advance_seconds(60);
        let r = w.app.withdraw_inquiry(&w.caremanager, &sent.id).await.unwrap();
        assert_eq!(r.status, "withdrawn", "{b}");
        assert_eq!(r.answered_by.as_deref(), Some(w.caremanager.user_id.as_str()), "{b}");
        assert_eq!(r.answered_at, Some(START.plus_seconds(60).micros()), "{b}");
        let codes = invalid_codes(&w, w.app.answer_inquiry(&w.op2, &sent.id, "accepted", "").await);
        assert_eq!(codes, ["error.vacancies.not_open"], "{b}");
        let inbox = w.app.inquiries_for_facility(&w.op2, &w.other).await.unwrap();
        assert_eq!(inbox.items[0].inquiry.status, "withdrawn", "{b}: the facility sees the withdrawal");
        assert_eq!(count(&w, "inquiry.withdrawn").await, 1, "{b}");
    }
}

#[tokio::test]
async fn someone_elses_inquiry_is_not_found() {
    for w in worlds().await {
        let b = &w.backend;
        let d1 = day(&w, 1);
        let sent = w.app.send_inquiry(&w.caremanager, &w.facility, inquiry(&d1, &d1, "1", "")).await.unwrap();
        for (who, a) in [("another facility's operator", &w.op2), ("another professional", &w.nurse)] {
            let r = w.app.inquiry(a, &sent.id).await;
            assert!(matches!(r, Err(AppError::NotFound)), "{b}: {who}: {r:?}");
            let r = w.app.answer_inquiry(a, &sent.id, "accepted", "").await;
            assert!(matches!(r, Err(AppError::NotFound)), "{b}: {who}: answer {r:?}");
            let r = w.app.withdraw_inquiry(a, &sent.id).await;
            assert!(matches!(r, Err(AppError::NotFound)), "{b}: {who}: withdraw {r:?}");
        }
        for id in [RANDOM_ID, "not-an-id"] {
            let r = w.app.answer_inquiry(&w.op, id, "accepted", "").await;
            assert!(matches!(r, Err(AppError::NotFound)), "{b}: {id}: {r:?}");
        }
        assert_eq!(w.app.inquiry(&w.op, &sent.id.to_uppercase()).await.unwrap().inquiry.id, sent.id, "{b}");
        assert_eq!(count(&w, "inquiry.answered").await + count(&w, "inquiry.withdrawn").await, 0, "{b}");
    }
}

#[tokio::test]
async fn only_professionals_outside_the_facility_send_inquiries_and_their_input_is_checked() {
    for w in worlds().await {
        let b = &w.backend;
        let (d0, d1, d2) = (day(&w, 0), day(&w, 1), day(&w, 2));
        for (who, a) in [
            ("the facility's own operator", &w.op),
            ("a welfare commissioner", &w.commissioner),
            ("a city official", &w.city),
        ] {
            let r = w.app.send_inquiry(a, &w.facility, inquiry(&d1, &d1, "1", "")).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{b}: {who}: {r:?}");
            let board = w.app.vacancy_board(Some(a), &w.facility).await.unwrap().unwrap();
            assert!(!board.can_inquire, "{b}: {who}: no form");
        }
        // Another facility's operator is a professional like any other.
        w.app.send_inquiry(&w.op2, &w.facility, inquiry(&d1, &d1, "1", "")).await.unwrap();
        let r = w.app.send_inquiry(&w.caremanager, &w.clinic, inquiry(&d1, &d1, "1", "")).await;
        assert!(matches!(r, Err(AppError::NotFound)), "{b}: a clinic takes no inquiries: {r:?}");
        assert!(
            w.app.vacancy_board(Some(&w.caremanager), &w.facility).await.unwrap().unwrap().can_inquire,
            "{b}"
        );

        let cases = [
            (inquiry(&d2, &d1, "1", ""), "last_day", "error.period_reversed"),
            (inquiry(&day(&w, -1), &d1, "1", ""), "first_day", "error.vacancies.inquiry_range"),
            (inquiry(&d0, &day(&w, 91), "1", ""), "last_day", "error.vacancies.inquiry_range"),
            (inquiry("", &d1, "1", ""), "first_day", "error.required"),
            (inquiry("2026-13-01", &d1, "1", ""), "first_day", "error.bad_date"),
            (inquiry(&d0, &d1, "0", ""), "beds", "error.vacancies.inquiry_beds"),
            (inquiry(&d0, &d1, "100", ""), "beds", "error.vacancies.inquiry_beds"),
            (inquiry(&d0, &d1, "", ""), "beds", "error.required"),
            (inquiry(&d0, &d1, "1", &"あ".repeat(501)), "note", "error.too_long"),
            (inquiry(&d0, &d1, "1", "a\u{0}b"), "note", "error.control_chars"),
        ];
        for (input, field, code) in cases {
            match w.app.send_inquiry(&w.caremanager, &w.facility, input.clone()).await {
                Err(AppError::Invalid(inv)) => assert!(
                    inv.0.iter().any(|e| e.field == field && e.code == code),
                    "{b}: {input:?}: {inv:?}, wanted {field} {code}"
                ),
                other => panic!("{b}: {input:?}: {other:?}"),
            }
        }
        assert!(w.app.my_inquiries(&w.caremanager).await.unwrap().is_empty(), "{b}: nothing was sent");
        // 500 characters and full-width digits are fine.
        w.app
            .send_inquiry(&w.caremanager, &w.facility, inquiry(&d0, &day(&w, 90), "２", &"あ".repeat(500)))
            .await
            .unwrap();
        assert_eq!(count(&w, "inquiry.sent").await, 2, "{b}");
    }
}
