//! The upkeep of directory entries and physician consultation hours (issue 4 §1, §6), through
//! the app layer, on every backend the store harness finds: an operator edits their own entry,
//! the coordinator any; another provider's operator is refused; a stale form conflicts; bad
//! input changes nothing; every change is kept with who, when, old and new; hand edits of
//! imported fields are marked so a newer import leaves them alone; consultation hours answer
//! "possible now?" on a fixed clock and only professionals read them.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use tsunagu_app::admin::{NewOrganisation, NewPerson};
use tsunagu_app::directory::hours::{NewException, NewSlot};
use tsunagu_app::directory::upkeep::ProviderChanges;
use tsunagu_app::{Actor, App, AppConfig, AppError, AuthVia};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::directory::ProviderRow;
use tsunagu_store::testing::{self, TestDb};

/// 2026-11-24T00:30:00Z: Tuesday 09:30 in Kanazawa.
const START: Timestamp = Timestamp(1_795_480_200_000_000);
/// 2026-11-23T00:30:00Z: Monday 09:30 in Kanazawa, 勤労感謝の日.
const HOLIDAY: Timestamp = Timestamp(1_795_480_200_000_000 - 86_400_000_000);
const PASSWORD: &str = "demo-password-123";

struct T {
    app: App,
    clock: FixedClock,
    name: String,
    /// The entry of operator `op-one`.
    one: String,
    /// The entry of operator `op-two`.
    two: String,
    _db: TestDb,
}

async fn world(start: Timestamp) -> Vec<T> {
    let mut out = Vec::new();
    for db in testing::all().await {
        let clock = FixedClock::at(start);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        app.load_demo(PASSWORD).await.expect("demo");
        let admin = actor_of(&app, "admin").await;
        let mut ids = Vec::new();
        for (name, kana) in [
            ("つなぐ在宅クリニック", "つなぐざいたくくりにっく"),
            ("ひがし訪問診療所", "ひがしほうもんしんりょうじょ"),
        ] {
            let org = app
                .create_organisation(
                    &admin,
                    NewOrganisation {
                        kind: "home_care_support_clinic".into(),
                        name: name.into(),
                        name_kana: kana.into(),
                        address: "石川県金沢市広坂1-1".into(),
                        phone: "076-000-0000".into(),
                        ..Default::default()
                    },
                )
                .await
                .expect("organisation");
            ids.push(org.id);
        }
        for (login, org) in [("op-one", &ids[0]), ("op-two", &ids[1])] {
            app.add_person_with_password(
                NewPerson {
                    login: login.into(),
                    display_name: format!("運営 {login}"),
                    display_name_kana: "うんえい".into(),
                    profession: "clerk".into(),
                    duties: vec!["provider_operator".into()],
                    organisation_ids: vec![org.clone()],
                    ..Default::default()
                },
                PASSWORD,
            )
            .await
            .expect("operator");
        }
        out.push(T {
            app,
            clock,
            name: format!("{:?}", db.backend),
            one: ids[0].clone(),
            two: ids[1].clone(),
            _db: db,
        });
    }
    out
}

async fn actor_of(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().expect("account");
    app.actor(&u.id, AuthVia::Cli, None).await.expect("actor")
}

impl T {
    async fn actor(&self, login: &str) -> Actor {
        actor_of(&self.app, login).await
    }

    async fn row(&self, id: &str) -> ProviderRow {
        self.app.store.provider(id).await.unwrap().expect("provider")
    }

    async fn changes(&self, id: &str) -> usize {
        self.app.store.org_changes(id, 1000).await.unwrap().len()
    }

    async fn actions(&self) -> Vec<String> {
        self.app
            .store
            .audit_events_after(0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.action)
            .collect()
    }

    /// The edit form as it stands, for `id`, as `who` sees it.
    async fn form(&self, who: &Actor, id: &str) -> (ProviderChanges, i64) {
        let e = self.app.provider_for_edit(who, id).await.expect("open for edit");
        (ProviderChanges::of(&e.row, &e.codes), e.row.version)
    }
}

/// A change to a form.
type Tweak = Box<dyn Fn(&mut ProviderChanges)>;

fn invalid_fields(e: AppError) -> Vec<&'static str> {
    match e {
        AppError::Invalid(i) => i.0.iter().map(|f| f.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn an_operator_edits_their_own_entry_and_the_history_keeps_who_when_old_and_new() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let before = t.row(&t.one).await;
        let (mut f, v) = t.form(&op, &t.one).await;
        f.phone = "０７６－２２２－３３３３".into();
        f.name_kana = "ツナグザイタククリニック".into();
        f.postal_code = "9200865".into();
        f.location = "36.5613,136.6562".into();
        f.district = "森本".into();
        f.website = "https://tsunagu-clinic.example.jp/".into();
        f.accepting = "yes".into();
        f.capacity = "１２".into();
        f.contact_line = "076-222-3334".into();
        f.contact_person = "地域連携室 佐々木".into();
        f.contact_method = "phone".into();
        f.contact_hours = "平日 13:00〜15:00".into();
        f.services = vec!["home_medical_management".into()];
        f.departments = vec!["internal_medicine".into(), "internal_medicine".into()];
        f.capabilities = vec!["visiting_care".into(), "end_of_life".into()];
        t.clock.advance_seconds(60);
        let saved = t.app.update_provider(&op, &t.one, f, v).await.expect("save");
        assert!(saved.changed.contains(&"phone".to_string()), "{n}: {:?}", saved.changed);
        let after = t.row(&t.one).await;
        assert_eq!(after.version, before.version + 1, "{n}");
        assert_eq!(after.phone, "076-222-3333", "{n}: stored half-width");
        assert_eq!(after.postal_code, "920-0865", "{n}");
        assert_eq!((after.latitude, after.longitude), (Some(36.5613), Some(136.6562)), "{n}");
        assert_eq!(after.district.as_deref(), Some("森本"), "{n}");
        assert_eq!(after.capacity, Some(12), "{n}");
        assert_eq!(after.confirmed_at, Some(t.app.now().micros()), "{n}: an edit confirms");
        assert!(after.search_text.contains("森本"), "{n}: search text recomputed");
        assert!(after.manual_fields.is_empty(), "{n}: not imported, nothing to protect");
        let codes = t.app.store.provider_codes(&t.one).await.unwrap();
        assert_eq!(codes.capabilities, vec!["end_of_life", "visiting_care"], "{n}");
        assert_eq!(codes.departments, vec!["internal_medicine"], "{n}");

        let h = t.app.provider_history(&op, &t.one).await.expect("history");
        let e = &h.entries[0];
        assert_eq!(e.source, "edit", "{n}");
        assert_eq!(e.changed_by_name.as_deref(), Some("運営 op-one"), "{n}");
        assert!(!e.by_importer, "{n}");
        assert_eq!(e.changed_at, t.app.now().micros(), "{n}");
        let phone = e.changes.iter().find(|c| c.field == "phone").expect("phone change");
        assert_eq!(
            (phone.old.as_str(), phone.new.as_str()),
            (Some("076-000-0000"), Some("076-222-3333")),
            "{n}"
        );
        assert!(e.changes.iter().all(|c| c.field != "name"), "{n}: only changed fields are kept");
        assert!(t.actions().await.contains(&"directory.updated".to_string()), "{n}");

        // The coordinator reads the same history; another provider's operator may not.
        let coord = t.actor("coordinator").await;
        assert_eq!(t.app.provider_history(&coord, &t.one).await.unwrap().entries.len(), 1, "{n}");
        let other = t.actor("op-two").await;
        assert!(matches!(t.app.provider_history(&other, &t.one).await, Err(AppError::Forbidden)), "{n}");
    }
}

#[tokio::test]
async fn another_providers_operator_and_a_plain_professional_are_forbidden_and_change_nothing() {
    for t in world(START).await {
        let n = &t.name;
        let owner = t.actor("op-one").await;
        let (mut f, v) = t.form(&owner, &t.one).await;
        f.name = "乗っ取り診療所".into();
        for login in ["op-two", "physician", "caremanager"] {
            let who = t.actor(login).await;
            assert!(
                matches!(t.app.provider_for_edit(&who, &t.one).await, Err(AppError::Forbidden)),
                "{n}: {login}"
            );
            let r = t.app.update_provider(&who, &t.one, f.clone(), v).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{n}: {login}: {r:?}");
            assert!(
                matches!(t.app.confirm_provider(&who, &t.one).await, Err(AppError::Forbidden)),
                "{n}: {login}"
            );
            let slot = NewSlot {
                weekday: "1".into(),
                start: "14:00".into(),
                end: "16:00".into(),
                ..Default::default()
            };
            assert!(
                matches!(t.app.add_consultation_slot(&who, &t.one, slot).await, Err(AppError::Forbidden)),
                "{n}: {login}"
            );
            assert!(
                matches!(t.app.set_consult_on_holidays(&who, &t.one, true).await, Err(AppError::Forbidden)),
                "{n}: {login}"
            );
        }
        let row = t.row(&t.one).await;
        assert_eq!(row.name, "つなぐ在宅クリニック", "{n}");
        assert_eq!(row.version, v, "{n}");
        assert!(!row.consult_on_holidays, "{n}");
        assert!(t.app.store.consultation_slots(&t.one).await.unwrap().is_empty(), "{n}");
        assert_eq!(t.changes(&t.one).await, 0, "{n}");
        assert!(t.actions().await.iter().any(|a| a == "access.refused"), "{n}: refusals are audited");
        // A malformed id and an unknown one are not found.
        assert!(matches!(t.app.provider_for_edit(&owner, "../x").await, Err(AppError::NotFound)), "{n}");
        let unknown = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";
        assert!(matches!(t.app.provider_for_edit(&owner, unknown).await, Err(AppError::NotFound)), "{n}");
    }
}

#[tokio::test]
async fn the_coordinator_edits_any_entry() {
    for t in world(START).await {
        let n = &t.name;
        let coord = t.actor("coordinator").await;
        for id in [&t.one, &t.two] {
            let (mut f, v) = t.form(&coord, id).await;
            f.description = "医師会で確認済み".into();
            let saved = t.app.update_provider(&coord, id, f, v).await.expect("coordinator edit");
            assert_eq!(saved.changed, vec!["description"], "{n}");
            assert_eq!(t.row(id).await.description, "医師会で確認済み", "{n}");
        }
        let h = t.app.provider_history(&coord, &t.two).await.unwrap();
        assert_eq!(h.entries[0].changed_by_name.as_deref(), Some("渡辺 恵"), "{n}");
    }
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let coord = t.actor("coordinator").await;
        let (mut mine, v) = t.form(&op, &t.one).await;
        let (mut theirs, _) = t.form(&coord, &t.one).await;
        theirs.fax = "076-111-2222".into();
        t.app.update_provider(&coord, &t.one, theirs, v).await.expect("first save");
        mine.description = "古い画面からの保存".into();
        let e = t.app.update_provider(&op, &t.one, mine, v).await.unwrap_err();
        match e {
            AppError::Invalid(i) => {
                assert_eq!(i.0.len(), 1, "{n}");
                assert_eq!((i.0[0].field, i.0[0].code), ("version", "error.version_conflict"), "{n}");
            }
            other => panic!("{n}: {other:?}"),
        }
        let row = t.row(&t.one).await;
        assert_eq!(row.description, "", "{n}");
        assert_eq!(row.fax, "076-111-2222", "{n}");
        assert_eq!(row.version, v + 1, "{n}");
        assert_eq!(t.changes(&t.one).await, 1, "{n}");
    }
}

#[tokio::test]
async fn an_edit_of_an_imported_field_marks_it_as_changed_by_hand() {
    for t in world(START).await {
        let n = &t.name;
        // Make the entry an imported one (the importer sets the office number).
        let mut tx = t.app.store.begin().await.unwrap();
        let mut row = tx.provider(&t.one).await.unwrap().unwrap();
        let v = row.version;
        row.office_no = Some("1770100001".into());
        row.manual_fields = "fax".into();
        assert!(tx.update_provider(&row, v).await.unwrap());
        tx.commit().await.unwrap();

        let op = t.actor("op-one").await;
        let (mut f, v) = t.form(&op, &t.one).await;
        f.phone = "076-999-0000".into();
        f.location = "36.57,136.65".into();
        f.description = "説明は取込の対象外".into();
        f.contact_person = "佐々木".into();
        t.app.update_provider(&op, &t.one, f, v).await.expect("save");
        let row = t.row(&t.one).await;
        // Kept ones first, new ones in the order of the form; fields the import does not write are
        // not listed.
        assert_eq!(row.manual_fields, "fax,latitude,longitude,phone", "{n}");
        assert_eq!(row.office_no.as_deref(), Some("1770100001"), "{n}: the office number stays");
    }
}

#[tokio::test]
async fn invalid_input_is_refused_by_field_and_changes_nothing() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let (good, v) = t.form(&op, &t.one).await;
        let before = t.row(&t.one).await;
        let cases: Vec<(&str, Tweak)> = vec![
            ("name_kana", Box::new(|f| f.name_kana = "漢字の読み".into())),
            ("website", Box::new(|f| f.website = "javascript:alert(1)".into())),
            ("website", Box::new(|f| f.website = "ftp://example.jp/".into())),
            ("district", Box::new(|f| f.district = "どこにもない地区".into())),
            ("location", Box::new(|f| f.location = "136.6,36.5".into())),
            ("location", Box::new(|f| f.location = "36.5".into())),
            (
                "capabilities",
                Box::new(|f| f.capabilities = vec!["visiting_care".into(), "teleportation".into()]),
            ),
            ("services", Box::new(|f| f.services = vec!["spa".into()])),
            ("departments", Box::new(|f| f.departments = vec!["astrology".into()])),
            ("phone", Box::new(|f| f.phone = "電話して".into())),
            ("fax", Box::new(|f| f.fax = "fax-abc".into())),
            ("postal_code", Box::new(|f| f.postal_code = "92-08".into())),
            ("capacity", Box::new(|f| f.capacity = "-1".into())),
            ("corporate_number", Box::new(|f| f.corporate_number = "12345".into())),
            ("contact_method", Box::new(|f| f.contact_method = "pigeon".into())),
            ("accepting", Box::new(|f| f.accepting = "maybe".into())),
            ("kind", Box::new(|f| f.kind = "castle".into())),
            ("kind", Box::new(|f| f.kind = "support_center".into())),
            ("name", Box::new(|f| f.name = "  ".into())),
        ];
        for (field, change) in &cases {
            let mut f = good.clone();
            f.description = "一緒に送った正しい変更".into();
            change(&mut f);
            let e = t.app.update_provider(&op, &t.one, f, v).await.unwrap_err();
            assert_eq!(invalid_fields(e), vec![*field], "{n}: {field}");
        }
        assert_eq!(t.row(&t.one).await, before, "{n}: nothing changed");
        assert_eq!(t.changes(&t.one).await, 0, "{n}");
        assert!(!t.actions().await.iter().any(|a| a == "directory.updated"), "{n}");
    }
}

#[tokio::test]
async fn an_unchanged_save_writes_nothing_and_confirming_is_its_own_action() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let op_two = t.actor("op-two").await;
        let coord = t.actor("coordinator").await;
        // New entries were never confirmed: flagged to their operators and counted for the coordinator.
        let mine: Vec<String> =
            t.app.unconfirmed_providers_for(&op).await.unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(mine, vec![t.one.clone()], "{n}: an operator sees only their own");
        let all = t.app.unconfirmed_providers_for(&coord).await.unwrap();
        assert!(all.iter().any(|r| r.id == t.one) && all.iter().any(|r| r.id == t.two), "{n}");
        let count = t.app.upkeep_notice(&coord).await.unwrap().region_total.unwrap();
        assert!(count >= 2, "{n}");
        let nurse = t.actor("nurse").await;
        assert!(matches!(t.app.unconfirmed_providers_for(&nurse).await, Err(AppError::Forbidden)), "{n}");
        assert!(t.app.upkeep_notice(&nurse).await.unwrap().own.is_empty(), "{n}");

        let (f, v) = t.form(&op, &t.one).await;
        let saved = t.app.update_provider(&op, &t.one, f, v).await.unwrap();
        assert!(saved.changed.is_empty(), "{n}");
        let row = t.row(&t.one).await;
        assert_eq!((row.version, row.confirmed_at), (v, None), "{n}: nothing written");
        assert_eq!(t.changes(&t.one).await, 0, "{n}");

        t.clock.advance_seconds(3600);
        t.app.confirm_provider(&op, &t.one).await.expect("confirm");
        let row = t.row(&t.one).await;
        assert_eq!(row.confirmed_at, Some(t.app.now().micros()), "{n}");
        assert_eq!(row.version, v, "{n}: confirming keeps an open form valid");
        assert!(t.app.upkeep_notice(&op).await.unwrap().own.is_empty(), "{n}: no longer flagged");
        assert_eq!(t.app.upkeep_notice(&op_two).await.unwrap().own.len(), 1, "{n}");
        assert_eq!(t.app.upkeep_notice(&coord).await.unwrap().region_total, Some(count - 1), "{n}");
        let h = t.app.provider_history(&op, &t.one).await.unwrap();
        assert_eq!(h.entries[0].source, "confirm", "{n}");
        assert!(t.actions().await.contains(&"directory.confirmed".to_string()), "{n}");

        // Once the confirmation is older than the set age, the entry is flagged again.
        t.clock.advance_seconds(t.app.config.directory_confirm_days * 86_400 + 1);
        assert_eq!(t.app.upkeep_notice(&op).await.unwrap().own.len(), 1, "{n}");
    }
}

#[tokio::test]
async fn consultation_hours_answer_possible_now_on_a_fixed_clock() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let cm = t.actor("caremanager").await;
        let v0 = t.row(&t.one).await.version;
        // Tuesday 14:00–16:00, typed in full width.
        let slot = t
            .app
            .add_consultation_slot(
                &op,
                &t.one,
                NewSlot {
                    physician: "山田 太郎".into(),
                    weekday: "1".into(),
                    start: "１４：００".into(),
                    end: "16:00".into(),
                    note: "往診の合間".into(),
                },
            )
            .await
            .expect("slot");
        assert_eq!((slot.start_minute, slot.end_minute), (840, 960), "{n}");
        assert_eq!(t.row(&t.one).await.version, v0 + 1, "{n}: an hours edit bumps the version");

        // 09:30: not yet; next today at 14:00.
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().expect("professional");
        assert!(!s.open_now, "{n}");
        let next = s.next_open.clone().unwrap();
        assert_eq!(
            (next.day.as_str(), next.start.as_str(), next.today),
            ("2026-11-24", "14:00", true),
            "{n}"
        );
        assert_eq!(s.week[1].slots.len(), 1, "{n}");
        assert_eq!(s.week[1].slots[0].physician, "山田 太郎", "{n}");
        assert!(s.week.iter().enumerate().all(|(i, d)| i == 1 || d.slots.is_empty()), "{n}");
        assert!(s.holiday_today.is_none(), "{n}");

        // 15:00: possible now, and the search filter agrees.
        t.clock.advance_seconds(5 * 3600 + 30 * 60);
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert!(s.open_now, "{n}");
        assert_eq!(s.next_open.as_ref().map(|x| x.start.as_str()), Some("15:00"), "{n}");
        let input = tsunagu_app::directory::SearchInput { consult_now: "1".into(), ..Default::default() };
        let found = t.app.search_providers(Some(&cm), &input).await.unwrap();
        assert!(found.items.iter().any(|p| p.row.id == t.one), "{n}: found as consultable now");

        // Closed today by an exception: not now, next week.
        let ex = t
            .app
            .add_consultation_exception(
                &op,
                &t.one,
                NewException {
                    day: "2026-11-24".into(),
                    closed: true,
                    note: "学会".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("exception");
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert!(!s.open_now, "{n}");
        assert_eq!(s.next_open.as_ref().map(|x| x.day.as_str()), Some("2026-12-01"), "{n}");
        assert_eq!(s.exceptions.len(), 1, "{n}");
        assert!(s.exceptions[0].closed, "{n}");
        let found = t.app.search_providers(Some(&cm), &input).await.unwrap();
        assert!(!found.items.iter().any(|p| p.row.id == t.one), "{n}: the search agrees");

        // Removed again: possible now once more.
        t.app.remove_consultation_exception(&op, &t.one, &ex.id).await.expect("remove exception");
        assert!(t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap().open_now, "{n}");

        // An evening exception on another day, shown with its hours.
        t.app
            .add_consultation_exception(
                &op,
                &t.one,
                NewException {
                    day: "2026-11-26".into(),
                    start: "18:00".into(),
                    end: "19:30".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("open exception");
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert_eq!(
            (s.exceptions[0].day.as_str(), s.exceptions[0].start.as_str(), s.exceptions[0].end.as_str()),
            ("2026-11-26", "18:00", "19:30"),
            "{n}"
        );

        // Removing the slot: nothing weekly remains.
        t.app.remove_consultation_slot(&op, &t.one, &slot.id).await.expect("remove slot");
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert!(!s.open_now && s.week.iter().all(|d| d.slots.is_empty()), "{n}");

        // Every hours edit is one org_changes row (hours) and one audit event, and a version.
        let h = t.app.provider_history(&op, &t.one).await.unwrap();
        assert_eq!(h.entries.iter().filter(|e| e.source == "hours").count(), 5, "{n}");
        let fields: Vec<&str> = h.entries.iter().map(|e| e.changes[0].field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "consultation_slot",
                "consultation_exception",
                "consultation_exception",
                "consultation_exception",
                "consultation_slot"
            ],
            "{n}"
        );
        assert_eq!(h.entries[0].changes[0].old["start"], "14:00", "{n}: the removed slot is kept in the log");
        assert_eq!(t.actions().await.iter().filter(|a| *a == "directory.hours_changed").count(), 5, "{n}");
        assert_eq!(t.row(&t.one).await.version, v0 + 5, "{n}");
        // Another entry's slot id is not this entry's.
        assert!(
            matches!(t.app.remove_consultation_slot(&op, &t.one, &slot.id).await, Err(AppError::NotFound)),
            "{n}"
        );
    }
}

#[tokio::test]
async fn a_holiday_closes_the_weekly_hours_unless_they_hold_on_holidays() {
    for t in world(HOLIDAY).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let cm = t.actor("caremanager").await;
        let slot =
            NewSlot { weekday: "0".into(), start: "09:00".into(), end: "12:00".into(), ..Default::default() };
        t.app.add_consultation_slot(&op, &t.one, slot).await.unwrap();
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert_eq!(s.holiday_today, Some("勤労感謝の日"), "{n}");
        assert!(!s.open_now, "{n}: Monday 09:30 on a holiday");
        assert_eq!(s.next_open.as_ref().map(|x| x.day.as_str()), Some("2026-11-30"), "{n}");

        t.app.set_consult_on_holidays(&op, &t.one, true).await.unwrap();
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert!(s.open_now && s.consult_on_holidays, "{n}");
        // Setting it again writes nothing.
        let v = t.row(&t.one).await.version;
        t.app.set_consult_on_holidays(&op, &t.one, true).await.unwrap();
        assert_eq!(t.row(&t.one).await.version, v, "{n}");
    }
}

#[tokio::test]
async fn bad_hours_are_refused_and_change_nothing() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let v = t.row(&t.one).await.version;
        let cases = [
            (
                NewSlot {
                    weekday: "1".into(),
                    start: "16:00".into(),
                    end: "14:00".into(),
                    ..Default::default()
                },
                vec!["end"],
            ),
            (
                NewSlot {
                    weekday: "7".into(),
                    start: "14:00".into(),
                    end: "16:00".into(),
                    ..Default::default()
                },
                vec!["weekday"],
            ),
            (
                NewSlot {
                    weekday: "1".into(),
                    start: "24:00".into(),
                    end: "25:00".into(),
                    ..Default::default()
                },
                vec!["start", "end"],
            ),
            (
                NewSlot { weekday: "1".into(), start: "".into(), end: "16:00".into(), ..Default::default() },
                vec!["start"],
            ),
        ];
        for (slot, fields) in cases {
            let e = t.app.add_consultation_slot(&op, &t.one, slot).await.unwrap_err();
            assert_eq!(invalid_fields(e), fields, "{n}");
        }
        let past = NewException { day: "2026-11-23".into(), closed: true, ..Default::default() };
        assert_eq!(
            invalid_fields(t.app.add_consultation_exception(&op, &t.one, past).await.unwrap_err()),
            vec!["day"],
            "{n}"
        );
        let far = NewException { day: "2028-01-01".into(), closed: true, ..Default::default() };
        assert_eq!(
            invalid_fields(t.app.add_consultation_exception(&op, &t.one, far).await.unwrap_err()),
            vec!["day"],
            "{n}"
        );
        let no_hours = NewException { day: "2026-11-25".into(), closed: false, ..Default::default() };
        assert_eq!(
            invalid_fields(t.app.add_consultation_exception(&op, &t.one, no_hours).await.unwrap_err()),
            vec!["start", "end"],
            "{n}"
        );
        assert!(t.app.store.consultation_slots(&t.one).await.unwrap().is_empty(), "{n}");
        assert!(t.app.store.consultation_exceptions(&t.one, "2000-01-01").await.unwrap().is_empty(), "{n}");
        assert_eq!(t.row(&t.one).await.version, v, "{n}");
        assert_eq!(t.changes(&t.one).await, 0, "{n}");
    }
}

#[tokio::test]
async fn residents_get_no_consultation_summary() {
    for t in world(START).await {
        let n = &t.name;
        let op = t.actor("op-one").await;
        let slot =
            NewSlot { weekday: "1".into(), start: "09:00".into(), end: "12:00".into(), ..Default::default() };
        t.app.add_consultation_slot(&op, &t.one, slot).await.unwrap();
        assert_eq!(t.app.consultation_summary(None, &t.one).await.unwrap(), None, "{n}");
        let cm = t.actor("caremanager").await;
        let s = t.app.consultation_summary(Some(&cm), &t.one).await.unwrap().unwrap();
        assert!(s.open_now && s.has_hours, "{n}");
        assert!(matches!(t.app.consultation_summary(None, "nope").await, Err(AppError::NotFound)), "{n}");
    }
}
