//! "Consultation possible at" in SQL is the domain rule `schedule::open_at`: for a matrix of
//! days, minutes and holiday flags, a search with `consult_at` returns exactly the providers
//! the rule says are open, on every backend the harness finds. Also the slot and exception
//! rows' own round trip (insert, read, delete).

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use time::macros::date;
use tsunagu_domain::schedule::{DayException, WeeklySlot, open_at, weekday_of};
use tsunagu_store::Store;
use tsunagu_store::directory::hours::{ConsultationExceptionRow, ConsultationSlotRow};
use tsunagu_store::directory::{ConsultAt, ProviderQuery, ProviderRow};
use tsunagu_store::testing;

const T0: i64 = 1_795_480_200_000_000;

fn provider(id: &str, name: &str, on_holidays: bool) -> ProviderRow {
    ProviderRow {
        id: id.to_string(),
        kind: "home_care_support_clinic".to_string(),
        name: name.to_string(),
        name_kana: name.to_string(),
        parent_id: None,
        city_no: None,
        address: "石川県金沢市".to_string(),
        phone: String::new(),
        jurisdiction: String::new(),
        operator_name: String::new(),
        is_emergency_hospital: false,
        created_at: T0,
        updated_at: T0,
        postal_code: String::new(),
        address_extra: String::new(),
        latitude: None,
        longitude: None,
        district: None,
        fax: String::new(),
        website: String::new(),
        corporate_number: String::new(),
        office_no: None,
        capacity: None,
        open_days: String::new(),
        open_days_note: String::new(),
        accepting: "unknown".to_string(),
        description: String::new(),
        contact_line: String::new(),
        contact_person: String::new(),
        contact_method: String::new(),
        contact_hours: String::new(),
        consult_on_holidays: on_holidays,
        search_text: name.to_string(),
        confirmed_at: None,
        version: 1,
        manual_fields: String::new(),
    }
}

fn hm(s: &str) -> i64 {
    let (h, m) = s.split_once(':').unwrap();
    h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
}

/// (provider, consult on holidays, weekly slots (weekday, start, end), exceptions (day, hours or closed))
type Fixture = (
    &'static str,
    bool,
    &'static [(i64, &'static str, &'static str)],
    &'static [(&'static str, Option<(&'static str, &'static str)>)],
);

/// 2026-11-17 and -24 are Tuesdays, -19 a Thursday, -23 (Monday) is 勤労感謝の日.
const FIXTURES: &[Fixture] = &[
    // Tuesday afternoons and Thursday mornings; not on holidays.
    ("a", false, &[(1, "14:00", "16:00"), (3, "09:00", "12:00")], &[]),
    // Tuesday afternoons, Mondays all day, also on holidays.
    ("b", true, &[(1, "14:00", "16:00"), (0, "00:00", "24:00")], &[]),
    // Tuesdays all working day, but closed on the 24th.
    ("c", false, &[(1, "09:00", "17:00")], &[("2026-11-24", None)]),
    // Tuesday afternoons, but the evening instead on the 24th, and a holiday morning on the 23rd.
    (
        "d",
        false,
        &[(1, "14:00", "16:00")],
        &[("2026-11-24", Some(("18:00", "20:00"))), ("2026-11-23", Some(("10:00", "12:00")))],
    ),
    // No hours at all.
    ("e", false, &[], &[]),
    // Closed and open on the same day: the open hours hold.
    ("f", false, &[(3, "13:00", "15:00")], &[("2026-11-19", None), ("2026-11-19", Some(("10:00", "11:00")))]),
    // Touching slots at night up to midnight.
    ("g", true, &[(0, "20:00", "22:00"), (0, "22:00", "24:00"), (1, "00:00", "01:00")], &[]),
];

async fn build(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    for (n, (name, on_holidays, slots, exceptions)) in FIXTURES.iter().enumerate() {
        let org = format!("org-{name}");
        tx.insert_provider(&provider(&org, name, *on_holidays)).await.unwrap();
        for (i, (weekday, start, end)) in slots.iter().enumerate() {
            tx.insert_consultation_slot(&ConsultationSlotRow {
                id: format!("slot-{n}-{i}"),
                organisation_id: org.clone(),
                physician: "山田 太郎".to_string(),
                weekday: *weekday,
                start_minute: hm(start),
                end_minute: hm(end),
                note: String::new(),
                created_at: T0,
            })
            .await
            .unwrap();
        }
        for (i, (day, hours)) in exceptions.iter().enumerate() {
            tx.insert_consultation_exception(&ConsultationExceptionRow {
                id: format!("exc-{n}-{i}"),
                organisation_id: org.clone(),
                day: (*day).to_string(),
                closed: hours.is_none(),
                start_minute: hours.map(|h| hm(h.0)),
                end_minute: hours.map(|h| hm(h.1)),
                note: String::new(),
                created_at: T0,
            })
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn consultation_possible_at_in_sql_is_the_domain_rule() {
    let days = [date!(2026 - 11 - 17), date!(2026 - 11 - 19), date!(2026 - 11 - 23), date!(2026 - 11 - 24)];
    let minutes = [
        "00:00", "00:59", "01:00", "08:59", "09:00", "10:30", "11:00", "11:59", "12:00", "13:59", "14:00",
        "15:00", "15:59", "16:00", "16:59", "17:00", "18:00", "19:59", "20:00", "21:59", "22:00", "23:59",
    ];
    for db in testing::all().await {
        let b = db.backend;
        build(&db.store).await;
        // What the domain rule reads, from what the store gives back.
        let mut model = Vec::new();
        for (name, on_holidays, _, _) in FIXTURES {
            let org = format!("org-{name}");
            let slots: Vec<WeeklySlot> = db
                .store
                .consultation_slots(&org)
                .await
                .unwrap()
                .iter()
                .map(|r| r.slot().expect("a valid slot"))
                .collect();
            let exceptions = db.store.consultation_exceptions(&org, "2026-01-01").await.unwrap();
            model.push((*name, *on_holidays, slots, exceptions));
        }
        let mut checked = 0;
        let mut some_open = 0;
        for day in days {
            let day_s = day.to_string();
            for holiday in [false, true] {
                for minute in minutes {
                    let minute = hm(minute);
                    let at = ConsultAt {
                        day: day_s.clone(),
                        weekday: i64::from(weekday_of(day)),
                        minute,
                        holiday,
                    };
                    let q = ProviderQuery { consult_at: Some(at), ..ProviderQuery::default() };
                    let mut got: Vec<String> =
                        db.store.search_providers(&q).await.unwrap().into_iter().map(|p| p.name).collect();
                    got.sort();
                    let mut want: Vec<String> = model
                        .iter()
                        .filter(|(_, on_holidays, slots, exceptions)| {
                            let of_day: Vec<DayException> = exceptions
                                .iter()
                                .filter(|e| e.day == day_s)
                                .map(|e| e.exception().expect("a valid exception"))
                                .collect();
                            open_at(
                                slots,
                                &of_day,
                                holiday,
                                *on_holidays,
                                weekday_of(day),
                                u16::try_from(minute).unwrap(),
                            )
                        })
                        .map(|(n, ..)| (*n).to_string())
                        .collect();
                    want.sort();
                    assert_eq!(got, want, "{b:?}: {day_s} minute {minute} holiday {holiday}");
                    assert_eq!(
                        db.store.count_providers(&q).await.unwrap(),
                        i64::try_from(want.len()).unwrap(),
                        "{b:?}: count {day_s} minute {minute} holiday {holiday}"
                    );
                    checked += 1;
                    some_open += usize::from(!want.is_empty());
                }
            }
        }
        assert_eq!(checked, days.len() * 2 * minutes.len());
        // The matrix means something: it has open and closed answers both.
        assert!(some_open > 20 && some_open < checked, "{b:?}: {some_open} of {checked} open");
    }
}

#[tokio::test]
async fn the_matrix_agrees_with_hand_picked_answers() {
    for db in testing::all().await {
        let b = db.backend;
        build(&db.store).await;
        let ask = |day: &str, weekday: i64, at: &str, holiday: bool| {
            let store = db.store.clone();
            let q = ProviderQuery {
                consult_at: Some(ConsultAt { day: day.to_string(), weekday, minute: hm(at), holiday }),
                ..ProviderQuery::default()
            };
            async move {
                let mut names: Vec<String> =
                    store.search_providers(&q).await.unwrap().into_iter().map(|p| p.name).collect();
                names.sort();
                names.join(",")
            }
        };
        // An ordinary Tuesday at 15:00: the afternoon slots and the all-day Tuesday.
        assert_eq!(ask("2026-11-17", 1, "15:00", false).await, "a,b,c,d", "{b:?}");
        // The same hour on the 24th: c is closed, d opens only in the evening.
        assert_eq!(ask("2026-11-24", 1, "15:00", false).await, "a,b", "{b:?}");
        assert_eq!(ask("2026-11-24", 1, "19:00", false).await, "d", "{b:?}");
        // A holiday Tuesday: only b, whose hours hold on holidays.
        assert_eq!(ask("2026-11-17", 1, "15:00", true).await, "b", "{b:?}");
        // The holiday Monday: b all day, d by its exception, g at night.
        assert_eq!(ask("2026-11-23", 0, "11:00", true).await, "b,d", "{b:?}");
        assert_eq!(ask("2026-11-23", 0, "23:59", true).await, "b,g", "{b:?}");
        // Thursday the 19th: f follows its exceptions (10–11 only), not its weekly 13–15.
        assert_eq!(ask("2026-11-19", 3, "10:30", false).await, "a,f", "{b:?}");
        assert_eq!(ask("2026-11-19", 3, "14:00", false).await, "", "{b:?}");
    }
}

#[tokio::test]
async fn slots_and_exceptions_are_removed_only_from_their_own_provider() {
    for db in testing::all().await {
        let b = db.backend;
        build(&db.store).await;
        let mut tx = db.store.begin().await.unwrap();
        assert!(tx.consultation_slot("org-a", "slot-0-0").await.unwrap().is_some(), "{b:?}");
        // Another provider's id is not found, not removed.
        assert!(tx.consultation_slot("org-b", "slot-0-0").await.unwrap().is_none(), "{b:?}");
        assert!(!tx.delete_consultation_slot("org-b", "slot-0-0").await.unwrap(), "{b:?}");
        assert!(tx.delete_consultation_slot("org-a", "slot-0-0").await.unwrap(), "{b:?}");
        assert!(!tx.delete_consultation_slot("org-a", "slot-0-0").await.unwrap(), "{b:?}");
        let e = tx.consultation_exception("org-c", "exc-2-0").await.unwrap().expect("exception");
        assert_eq!(
            (e.day.as_str(), e.closed, e.exception()),
            ("2026-11-24", true, Some(DayException::Closed))
        );
        assert!(!tx.delete_consultation_exception("org-d", "exc-2-0").await.unwrap(), "{b:?}");
        assert!(tx.delete_consultation_exception("org-c", "exc-2-0").await.unwrap(), "{b:?}");
        tx.commit().await.unwrap();
        let left: Vec<String> =
            db.store.consultation_slots("org-a").await.unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(left, vec!["slot-0-1"], "{b:?}");
        assert!(db.store.consultation_exceptions("org-c", "2026-01-01").await.unwrap().is_empty(), "{b:?}");
        // Exceptions before the day asked from are left out.
        let d = db.store.consultation_exceptions("org-d", "2026-11-24").await.unwrap();
        assert_eq!(d.iter().map(|e| e.day.as_str()).collect::<Vec<_>>(), vec!["2026-11-24"], "{b:?}");
    }
}

#[tokio::test]
async fn unconfirmed_entries_are_counted_before_a_time() {
    for db in testing::all().await {
        let b = db.backend;
        let mut tx = db.store.begin().await.unwrap();
        for (id, confirmed) in [("x1", None), ("x2", Some(T0 - 10)), ("x3", Some(T0 + 10))] {
            let mut p = provider(id, id, false);
            p.confirmed_at = confirmed;
            tx.insert_provider(&p).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(db.store.count_unconfirmed_providers(T0).await.unwrap(), 2, "{b:?}");
        assert_eq!(db.store.count_unconfirmed_providers(T0 + 11).await.unwrap(), 3, "{b:?}");
    }
}
