//! The store's contract: one suite, run on every backend the harness finds (SQLite always,
//! PostgreSQL wherever it is installed; under `CI=true` a missing PostgreSQL fails the run).
//! Each test loops over the backends and names the backend in its assertion messages.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sqlx::Connection;
use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{Action, ChainHead, GENESIS_HASH, NewEvent, Outcome, StoredEvent, Verifier};
use tsunagu_store::orgs::OrgRow;
use tsunagu_store::people::{Credential, UserRow};
use tsunagu_store::security::{InvitationRow, PasskeyRow, ThrottleRow, TokenRow};
use tsunagu_store::testing::{self, TestDb};
use tsunagu_store::{Backend, Store, StoreError};

fn org(id: &str, parent: Option<&str>) -> OrgRow {
    OrgRow {
        id: id.to_string(),
        kind: "home_care_clinic".to_string(),
        name: format!("つながり診療所 {id}"),
        name_kana: "ツナガリシンリョウジョ".to_string(),
        parent_id: parent.map(str::to_string),
        city_no: Some("131016".to_string()),
        address: "東京都千代田区千代田1-1".to_string(),
        phone: "03-0000-0000".to_string(),
        jurisdiction: "千代田区".to_string(),
        operator_name: "医療法人 つながり会".to_string(),
        is_emergency_hospital: true,
        created_at: 1_700_000_000_000_000,
        updated_at: 1_700_000_000_000_001,
    }
}

fn user(id: &str, login: &str) -> UserRow {
    UserRow {
        id: id.to_string(),
        login: login.to_string(),
        display_name: "山田 花子".to_string(),
        display_name_kana: "ヤマダ ハナコ".to_string(),
        profession: "nurse".to_string(),
        email: Some(format!("{login}@example.jp")),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_string()),
        totp_secret: None,
        totp_enabled_at: None,
        totp_last_step: 0,
        disabled_at: None,
        created_at: 1_700_000_000_000_000,
    }
}

async fn add_user(store: &Store, id: &str, login: &str) {
    let mut tx = store.begin().await.expect("begin");
    tx.insert_user(&user(id, login)).await.expect("insert user");
    tx.commit().await.expect("commit");
}

fn event(n: i64, actor: &str) -> NewEvent {
    let mut e = NewEvent::new(Timestamp(1_700_000_000_000_000 + n), Action::Login, Outcome::Success)
        .actor(actor, format!("login-{actor}"))
        .target("session", format!("s{n}"))
        .address(Some("192.0.2.1".to_string()))
        .detail(format!("event {n} 訪問"));
    e.patient_id = (n % 3 == 0).then(|| format!("p{n}"));
    e
}

async fn all_events(store: &Store) -> Vec<StoredEvent> {
    store.audit_events_after(0, 100_000).await.expect("read audit events")
}

/// Verifies the whole chain the way `audit verify` does, against the head the store reports.
async fn assert_chain_verifies(b: Backend, store: &Store, expected: usize) {
    let events = all_events(store).await;
    assert_eq!(events.len(), expected, "{b:?}: number of audit events");
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let gapless: Vec<i64> = (1..=expected as i64).collect();
    assert_eq!(seqs, gapless, "{b:?}: the chain has gaps or is out of order");
    let head = store.audit_head().await.expect("audit head");
    // The head is checked against the rows like an exported head (genesis names no row).
    let mut v = Verifier::new((head.seq > 0).then(|| head.clone()));
    for e in &events {
        v.feed(e);
    }
    let (checked, findings) = v.finish();
    assert_eq!(checked, expected as u64, "{b:?}");
    assert!(findings.is_empty(), "{b:?}: the chain does not verify: {findings:?}");
    match events.last() {
        Some(last) => assert_eq!(
            head,
            ChainHead { seq: last.seq, hash: last.hash.clone() },
            "{b:?}: the head is not the last event"
        ),
        None => assert_eq!(head, ChainHead::genesis(), "{b:?}: an empty chain's head"),
    }
}

fn expect_conflict(b: Backend, r: Result<(), StoreError>, constraint: &str) {
    match r {
        Err(StoreError::Conflict { constraint: c }) => {
            assert_eq!(c, constraint, "{b:?}: the conflict names the wrong constraint")
        }
        other => panic!("{b:?}: expected a conflict on {constraint}, got {other:?}"),
    }
}

#[tokio::test]
async fn under_ci_the_suite_runs_on_postgresql_too() {
    let backends: Vec<Backend> = testing::all().await.iter().map(|d| d.backend).collect();
    eprintln!("contract suite backends: {backends:?}");
    assert_eq!(backends[0], Backend::Sqlite);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert_eq!(backends, [Backend::Sqlite, Backend::Postgres]);
    }
}

#[tokio::test]
async fn each_test_database_is_fresh_and_opens_again_from_its_url() {
    for TestDb { store, url, backend: b, .. } in &testing::all().await {
        assert_eq!(store.backend(), *b);
        store.ping().await.expect("ping");
        assert_eq!(store.count_organisations().await.expect("count"), 0, "{b:?}");
        assert_eq!(store.count_users().await.expect("count"), 0, "{b:?}");
        assert_chain_verifies(*b, store, 0).await;
        add_user(store, "u1", "hanako").await;
        let again = Store::open(url, &Default::default()).await.expect("reopen by url");
        assert_eq!(again.count_users().await.expect("count"), 1, "{b:?}: {url}");
        again.close().await;
    }
}

#[tokio::test]
async fn an_organisation_written_is_read_back_equal() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let parent = org("o1", None);
        let mut child = org("o2", Some("o1"));
        child.city_no = None;
        child.is_emergency_hospital = false;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&parent).await.expect("insert parent");
        tx.insert_organisation(&child).await.expect("insert child");
        tx.insert_district("千代田北", "o1", 1).await.expect("insert district");
        tx.insert_district("弥生", "o1", 0).await.expect("insert district");
        tx.commit().await.expect("commit");

        assert_eq!(s.organisation("o1").await.expect("read"), Some(parent.clone()), "{b:?}");
        assert_eq!(s.organisation("o2").await.expect("read"), Some(child.clone()), "{b:?}");
        assert_eq!(s.organisation("nope").await.expect("read"), None, "{b:?}");
        assert_eq!(s.list_organisations().await.expect("list"), vec![parent.clone(), child], "{b:?}");
        assert_eq!(s.count_organisations().await.expect("count"), 2, "{b:?}");
        assert_eq!(s.center_for_district("千代田北").await.expect("center"), Some(parent), "{b:?}");
        assert_eq!(s.center_for_district("南").await.expect("center"), None, "{b:?}");
        let names: Vec<String> =
            s.list_districts().await.expect("districts").into_iter().map(|d| d.name).collect();
        assert_eq!(names, vec!["弥生", "千代田北"], "districts keep the city's order on {b:?}");
    }
}

#[tokio::test]
async fn a_second_organisation_with_the_same_id_is_a_conflict_on_its_primary_key() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("o1", None)).await.expect("first insert");
        tx.commit().await.expect("commit");
        let mut tx = s.begin().await.expect("begin");
        expect_conflict(b, tx.insert_organisation(&org("o1", None)).await, "organisations_pkey");
    }
}

#[tokio::test]
async fn a_second_user_with_the_same_login_is_a_conflict_on_users_login_key() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        expect_conflict(b, tx.insert_user(&user("u2", "hanako")).await, "users_login_key");
        drop(tx);
        assert_eq!(s.count_users().await.expect("count"), 1, "{b:?}");
        assert_eq!(s.user_by_id("u2").await.expect("read"), None, "{b:?}");
    }
}

#[tokio::test]
async fn a_user_written_is_read_back_equal_with_duties_and_affiliations() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut u = user("u1", "hanako");
        u.totp_secret = Some("JBSWY3DPEHPK3PXP".to_string());
        u.totp_enabled_at = Some(5);
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("o1", None)).await.expect("org");
        tx.insert_user(&u).await.expect("user");
        tx.add_duty("u1", "system_admin").await.expect("duty");
        tx.add_duty("u1", "system_admin").await.expect("the same duty twice is no error");
        tx.add_affiliation("u1", "o1").await.expect("affiliation");
        tx.add_affiliation("u1", "o1").await.expect("the same affiliation twice is no error");
        tx.commit().await.expect("commit");

        assert_eq!(s.user_by_login("hanako").await.expect("read"), Some(u.clone()), "{b:?}");
        assert_eq!(s.user_by_id("u1").await.expect("read"), Some(u), "{b:?}");
        assert_eq!(s.duties_of("u1").await.expect("duties"), ["system_admin"], "{b:?}");
        let aff = s.affiliations_of("u1").await.expect("affiliations");
        assert_eq!(aff.len(), 1, "{b:?}");
        assert_eq!(aff[0].organisation_id, "o1", "{b:?}");
        assert!(aff[0].is_emergency_hospital, "{b:?}");
    }
}

#[tokio::test]
async fn a_session_is_read_with_its_users_disabled_at() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_session("h1", "u1", "full", 100, Some("192.0.2.1")).await.expect("session");
        tx.commit().await.expect("commit");
        let row = s.session("h1").await.expect("read").expect("the session exists");
        assert_eq!(
            (row.user_id.as_str(), row.stage.as_str(), row.created_at, row.last_seen_at),
            ("u1", "full", 100, 100),
            "{b:?}"
        );
        assert_eq!(row.address.as_deref(), Some("192.0.2.1"), "{b:?}");
        assert_eq!(row.disabled_at, None, "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        tx.touch_session("h1", 150).await.expect("touch");
        assert!(tx.set_disabled("u1", Some(200)).await.expect("disable"), "{b:?}");
        assert!(!tx.set_disabled("nobody", Some(200)).await.expect("disable"), "{b:?}");
        tx.commit().await.expect("commit");
        let row = s.session("h1").await.expect("read").expect("the session exists");
        assert_eq!(row.last_seen_at, 150, "{b:?}");
        assert_eq!(row.disabled_at, Some(200), "{b:?}: the session must show the disabling");
    }
}

#[tokio::test]
async fn delete_sessions_of_ends_every_session_of_that_person_only() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_session("a", "u1", "full", 1, None).await.expect("session");
        tx.insert_session("b", "u1", "second_factor", 2, None).await.expect("session");
        tx.insert_session("c", "u2", "full", 3, None).await.expect("session");
        tx.commit().await.expect("commit");
        assert_eq!(s.count_sessions_of("u1").await.expect("count"), 2, "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        assert_eq!(tx.delete_sessions_of("u1").await.expect("delete"), 2, "{b:?}");
        tx.commit().await.expect("commit");
        assert_eq!(s.session("a").await.expect("read"), None, "{b:?}");
        assert_eq!(s.session("b").await.expect("read"), None, "{b:?}");
        assert!(s.session("c").await.expect("read").is_some(), "{b:?}: another person's session");
        assert_eq!(s.count_sessions_of("u1").await.expect("count"), 0, "{b:?}");
    }
}

#[tokio::test]
async fn a_session_stage_outside_the_known_ones_is_refused() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        let r = tx.insert_session("a", "u1", "admin", 1, None).await;
        assert!(r.is_err(), "{b:?}: sessions_stage_check let an unknown stage in");
    }
}

#[tokio::test]
async fn a_throttle_upsert_replaces_the_row_and_clearing_removes_it() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let first = ThrottleRow {
            key: "login:hanako".to_string(),
            failures: 1,
            first_failure_at: 10,
            locked_until: 0,
        };
        let second = ThrottleRow { failures: 5, locked_until: 900, ..first.clone() };
        let mut tx = s.begin().await.expect("begin");
        tx.put_throttle(&first).await.expect("put");
        tx.commit().await.expect("commit");
        assert_eq!(s.throttle("login:hanako").await.expect("read"), Some(first), "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        tx.put_throttle(&second).await.expect("upsert");
        tx.commit().await.expect("commit");
        assert_eq!(s.throttle("login:hanako").await.expect("read"), Some(second), "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        tx.clear_throttle("login:hanako").await.expect("clear");
        tx.commit().await.expect("commit");
        assert_eq!(s.throttle("login:hanako").await.expect("read"), None, "{b:?}");
    }
}

#[tokio::test]
async fn a_setting_is_replaced_not_duplicated() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        assert_eq!(s.setting("k").await.expect("read"), None, "{b:?}");
        for v in ["one", "two"] {
            let mut tx = s.begin().await.expect("begin");
            tx.put_setting("k", v).await.expect("put");
            tx.commit().await.expect("commit");
        }
        assert_eq!(s.setting("k").await.expect("read").as_deref(), Some("two"), "{b:?}");
    }
}

#[tokio::test]
async fn a_recovery_code_can_be_used_once_only() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let mut tx = s.begin().await.expect("begin");
        tx.replace_recovery_codes("u1", &["c1".to_string(), "c2".to_string()]).await.expect("codes");
        tx.commit().await.expect("commit");
        assert_eq!(s.unused_recovery_codes("u1").await.expect("count"), 2, "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        assert!(!tx.use_recovery_code("u2", "c1", 10).await.expect("use"), "{b:?}: another's code");
        assert!(tx.use_recovery_code("u1", "c1", 10).await.expect("use"), "{b:?}: first use");
        assert!(!tx.use_recovery_code("u1", "c1", 11).await.expect("use"), "{b:?}: second use");
        assert!(!tx.use_recovery_code("u1", "zz", 11).await.expect("use"), "{b:?}: no such code");
        tx.commit().await.expect("commit");
        assert_eq!(s.unused_recovery_codes("u1").await.expect("count"), 1, "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        assert!(!tx.use_recovery_code("u1", "c1", 12).await.expect("use"), "{b:?}: after commit");
        tx.replace_recovery_codes("u1", &["c3".to_string()]).await.expect("replace");
        tx.commit().await.expect("commit");
        assert_eq!(s.unused_recovery_codes("u1").await.expect("count"), 1, "{b:?}");
        let mut tx = s.begin().await.expect("begin");
        assert!(!tx.use_recovery_code("u1", "c2", 13).await.expect("use"), "{b:?}: replaced code");
    }
}

#[tokio::test]
async fn a_webauthn_challenge_can_be_taken_once_only_and_not_after_its_age() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        tx.put_challenge("ch1", Some("u1"), "register", "{\"state\":1}", 1000).await.expect("put");
        tx.put_challenge("ch2", None, "login", "{\"state\":2}", 1000).await.expect("put");
        tx.commit().await.expect("commit");

        let mut tx = s.begin().await.expect("begin");
        assert_eq!(
            tx.take_challenge("ch1", "login", 0).await.expect("take"),
            None,
            "{b:?}: a challenge is taken for its own purpose only"
        );
        assert_eq!(
            tx.take_challenge("ch1", "register", 500).await.expect("take"),
            Some((Some("u1".to_string()), "{\"state\":1}".to_string())),
            "{b:?}"
        );
        assert_eq!(
            tx.take_challenge("ch1", "register", 500).await.expect("take"),
            None,
            "{b:?}: taken twice"
        );
        assert_eq!(
            tx.take_challenge("ch2", "login", 1000).await.expect("take"),
            None,
            "{b:?}: a challenge created at the cut-off is too old"
        );
        tx.commit().await.expect("commit");
        let mut tx = s.begin().await.expect("begin");
        assert_eq!(
            tx.take_challenge("ch2", "login", 999).await.expect("take"),
            Some((None, "{\"state\":2}".to_string())),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn an_invitation_can_be_used_once() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "admin", "admin").await;
        add_user(s, "u1", "hanako").await;
        let inv = InvitationRow {
            token_hash: "ih".to_string(),
            user_id: "u1".to_string(),
            created_by: "admin".to_string(),
            created_at: 10,
            expires_at: 1000,
            used_at: None,
        };
        let mut tx = s.begin().await.expect("begin");
        tx.insert_invitation(&inv).await.expect("invite");
        tx.commit().await.expect("commit");
        assert_eq!(s.invitation("ih").await.expect("read"), Some(inv.clone()), "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        assert!(tx.use_invitation("ih", 20).await.expect("use"), "{b:?}: first use");
        assert!(!tx.use_invitation("ih", 21).await.expect("use"), "{b:?}: second use");
        assert!(!tx.use_invitation("nope", 21).await.expect("use"), "{b:?}: no such invitation");
        tx.commit().await.expect("commit");
        assert_eq!(
            s.invitation("ih").await.expect("read"),
            Some(InvitationRow { used_at: Some(20), ..inv }),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn a_users_profile_duties_and_affiliations_are_replaced_not_merged() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut tx = s.begin().await.expect("begin");
        for id in ["o1", "o2", "o3"] {
            tx.insert_organisation(&org(id, None)).await.expect("org");
        }
        tx.insert_user(&user("u1", "hanako")).await.expect("user");
        tx.insert_user(&user("u2", "taro")).await.expect("user");
        for (u, d) in [("u1", "system_administrator"), ("u1", "city_official"), ("u2", "city_official")] {
            tx.add_duty(u, d).await.expect("duty");
        }
        for (u, o) in [("u1", "o1"), ("u1", "o2"), ("u2", "o1")] {
            tx.add_affiliation(u, o).await.expect("affiliation");
        }
        tx.commit().await.expect("commit");

        let mut tx = s.begin().await.expect("begin");
        let found = tx
            .update_user_profile("u1", "山田 春子", "やまだ はるこ", "physician", None)
            .await
            .expect("update");
        assert!(found, "{b:?}: the account exists");
        let nobody = tx.update_user_profile("nobody", "x", "", "clerk", None).await.expect("update");
        assert!(!nobody, "{b:?}: no such account");
        tx.replace_duties("u1", &["home_care_coordinator", "city_official", "city_official"])
            .await
            .expect("duties");
        tx.replace_affiliations("u1", &["o3".to_string(), "o3".to_string()]).await.expect("affiliations");
        tx.commit().await.expect("commit");

        let u = s.user_by_id("u1").await.expect("read").expect("u1");
        let want = UserRow {
            display_name: "山田 春子".to_string(),
            display_name_kana: "やまだ はるこ".to_string(),
            profession: "physician".to_string(),
            email: None,
            ..user("u1", "hanako")
        };
        assert_eq!(u, want, "{b:?}: only the profile changed (login, password, created_at kept)");
        assert_eq!(
            s.duties_of("u1").await.expect("duties"),
            ["city_official", "home_care_coordinator"],
            "{b:?}"
        );
        let orgs: Vec<String> =
            s.affiliations_of("u1").await.expect("aff").into_iter().map(|a| a.organisation_id).collect();
        assert_eq!(orgs, ["o3"], "{b:?}");
        // Nobody else's.
        assert_eq!(s.user_by_id("u2").await.expect("read"), Some(user("u2", "taro")), "{b:?}");
        assert_eq!(s.duties_of("u2").await.expect("duties"), ["city_official"], "{b:?}");
        assert_eq!(s.affiliations_of("u2").await.expect("aff").len(), 1, "{b:?}");

        // Emptied, and a change rolled back leaves what was committed.
        let mut tx = s.begin().await.expect("begin");
        tx.replace_duties("u1", &[]).await.expect("duties");
        tx.replace_affiliations("u1", &[]).await.expect("affiliations");
        tx.commit().await.expect("commit");
        assert!(s.duties_of("u1").await.expect("duties").is_empty(), "{b:?}");
        assert!(s.affiliations_of("u1").await.expect("aff").is_empty(), "{b:?}");
        let mut tx = s.begin().await.expect("begin");
        tx.replace_duties("u2", &["system_administrator"]).await.expect("duties");
        tx.update_user_profile("u2", "乗っ取り", "", "clerk", None).await.expect("update");
        drop(tx);
        assert_eq!(s.duties_of("u2").await.expect("duties"), ["city_official"], "{b:?}: rolled back");
        assert_eq!(s.user_by_id("u2").await.expect("read"), Some(user("u2", "taro")), "{b:?}");

        // An affiliation with an organisation that does not exist is refused by the database.
        let mut tx = s.begin().await.expect("begin");
        let r = tx.replace_affiliations("u2", &["o-missing".to_string()]).await;
        assert!(r.is_err(), "{b:?}: affiliations_org_fkey let a missing organisation in");
    }
}

#[tokio::test]
async fn an_organisation_update_writes_every_column_but_its_id_and_creation_time() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("o1", None)).await.expect("org");
        tx.insert_organisation(&org("o2", None)).await.expect("org");
        tx.commit().await.expect("commit");

        let changed = OrgRow {
            kind: "pharmacy".to_string(),
            name: "つながり薬局".to_string(),
            name_kana: "つながりやっきょく".to_string(),
            parent_id: Some("o2".to_string()),
            city_no: None,
            address: "石川県金沢市広坂1-1".to_string(),
            phone: "076-000-0000".to_string(),
            jurisdiction: String::new(),
            operator_name: "株式会社 つながり".to_string(),
            is_emergency_hospital: false,
            created_at: 42,
            updated_at: 1_800_000_000_000_000,
            ..org("o1", None)
        };
        let mut tx = s.begin().await.expect("begin");
        assert!(tx.update_organisation(&changed).await.expect("update"), "{b:?}");
        let ghost = OrgRow { id: "nope".to_string(), ..changed.clone() };
        assert!(!tx.update_organisation(&ghost).await.expect("update"), "{b:?}: no such organisation");
        tx.commit().await.expect("commit");
        let read = s.organisation("o1").await.expect("read");
        assert_eq!(read, Some(OrgRow { created_at: org("o1", None).created_at, ..changed }), "{b:?}");
        assert_eq!(s.organisation("o2").await.expect("read"), Some(org("o2", None)), "{b:?}: another");
        assert_eq!(s.count_organisations().await.expect("count"), 2, "{b:?}");
    }
}

#[tokio::test]
async fn a_centers_districts_are_replaced_in_order_and_each_belongs_to_one_center() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("c1", None)).await.expect("org");
        tx.insert_organisation(&org("c2", None)).await.expect("org");
        tx.insert_district("森本", "c1", 0).await.expect("district");
        tx.insert_district("千坂", "c1", 1).await.expect("district");
        tx.insert_district("小坂", "c2", 0).await.expect("district");
        tx.commit().await.expect("commit");
        assert_eq!(s.districts_of("c1").await.expect("districts"), ["森本", "千坂"], "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        let names = ["浅野", "森本", "夕日寺"].map(str::to_string);
        tx.replace_districts("c1", &names).await.expect("replace");
        assert_eq!(
            tx.center_for_district("小坂").await.expect("center").map(|o| o.id).as_deref(),
            Some("c2"),
            "{b:?}: the transaction sees who serves a district"
        );
        assert_eq!(
            tx.center_for_district("浅野").await.expect("center").map(|o| o.id).as_deref(),
            Some("c1"),
            "{b:?}: including its own changes"
        );
        assert_eq!(tx.center_for_district("千坂").await.expect("center"), None, "{b:?}: dropped");
        tx.commit().await.expect("commit");
        assert_eq!(s.districts_of("c1").await.expect("districts"), names, "{b:?}: in the order given");
        assert_eq!(s.districts_of("c2").await.expect("districts"), ["小坂"], "{b:?}: another center's");
        assert_eq!(s.districts_of("nope").await.expect("districts"), Vec::<String>::new(), "{b:?}");

        // A district another center serves cannot be taken: it belongs to one center only.
        let mut tx = s.begin().await.expect("begin");
        let r = tx.replace_districts("c1", &["浅野".to_string(), "小坂".to_string()]).await;
        expect_conflict(b, r, "districts_pkey");
        drop(tx);
        assert_eq!(s.districts_of("c1").await.expect("districts"), names, "{b:?}: nothing changed");
        assert_eq!(
            s.center_for_district("小坂").await.expect("center").map(|o| o.id).as_deref(),
            Some("c2"),
            "{b:?}"
        );
        // Moved once the other center gives it up.
        let mut tx = s.begin().await.expect("begin");
        tx.replace_districts("c2", &[]).await.expect("give up");
        tx.replace_districts("c1", &["小坂".to_string()]).await.expect("take");
        tx.commit().await.expect("commit");
        assert_eq!(s.districts_of("c1").await.expect("districts"), ["小坂"], "{b:?}");
        assert!(s.districts_of("c2").await.expect("districts").is_empty(), "{b:?}");
    }
}

#[tokio::test]
async fn expiring_a_persons_invitations_ends_only_their_unused_valid_links() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "admin", "admin").await;
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let inv = |hash: &str, user: &str, expires_at: i64, used_at: Option<i64>| InvitationRow {
            token_hash: hash.to_string(),
            user_id: user.to_string(),
            created_by: "admin".to_string(),
            created_at: 10,
            expires_at,
            used_at,
        };
        let rows = [
            inv("valid", "u1", 1000, None),
            inv("later", "u1", 2000, None),
            inv("used", "u1", 1000, Some(20)),
            inv("old", "u1", 40, None),
            inv("other", "u2", 1000, None),
        ];
        let mut tx = s.begin().await.expect("begin");
        for r in &rows {
            tx.insert_invitation(r).await.expect("invite");
        }
        tx.commit().await.expect("commit");
        assert_eq!(s.open_invitation_of("u1", 50).await.expect("open"), Some(rows[1].clone()), "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        assert_eq!(tx.expire_invitations_of("u1", 50).await.expect("expire"), 2, "{b:?}");
        tx.commit().await.expect("commit");
        let read = |h: &'static str| async move { s.invitation(h).await.expect("read").expect("row") };
        assert_eq!(read("valid").await.expires_at, 50, "{b:?}");
        assert_eq!(read("later").await.expires_at, 50, "{b:?}");
        assert_eq!(read("used").await, rows[2], "{b:?}: a used invitation is history");
        assert_eq!(read("old").await, rows[3], "{b:?}: an expired one stays as it was");
        assert_eq!(read("other").await, rows[4], "{b:?}: another person's");
        assert_eq!(s.open_invitation_of("u1", 50).await.expect("open"), None, "{b:?}");
        assert_eq!(s.open_invitation_of("u2", 50).await.expect("open"), Some(rows[4].clone()), "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        tx.insert_invitation(&inv("new", "u1", 3000, None)).await.expect("invite");
        assert_eq!(tx.expire_invitations_of("u1", 3000).await.expect("expire"), 0, "{b:?}: at its end");
        tx.commit().await.expect("commit");
        assert_eq!(
            s.open_invitation_of("u1", 50).await.expect("open").map(|i| i.token_hash).as_deref(),
            Some("new"),
            "{b:?}"
        );
        assert_eq!(s.open_invitation_of("u1", 3000).await.expect("open"), None, "{b:?}: expired");
    }
}

#[tokio::test]
async fn deleting_a_persons_passkeys_leaves_everyone_elses() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let key = |id: &str, user: &str| PasskeyRow {
            id: id.to_string(),
            user_id: user.to_string(),
            name: format!("端末 {id}"),
            credential_id: format!("cred-{id}"),
            credential_json: "{}".to_string(),
            created_at: 10,
            last_used_at: None,
        };
        let mut tx = s.begin().await.expect("begin");
        for (id, user) in [("k1", "u1"), ("k2", "u1"), ("k3", "u2")] {
            tx.insert_passkey(&key(id, user)).await.expect("passkey");
        }
        tx.commit().await.expect("commit");

        let mut tx = s.begin().await.expect("begin");
        assert_eq!(tx.delete_passkeys_of("u1").await.expect("delete"), 2, "{b:?}");
        assert_eq!(tx.delete_passkeys_of("u1").await.expect("delete"), 0, "{b:?}: none left");
        tx.commit().await.expect("commit");
        assert!(s.passkeys_of("u1").await.expect("read").is_empty(), "{b:?}");
        assert_eq!(s.passkeys_of("u2").await.expect("read"), [key("k3", "u2")], "{b:?}");
        assert_eq!(s.passkey_by_credential("cred-k1").await.expect("read"), None, "{b:?}");
    }
}

#[tokio::test]
async fn a_token_lookup_shows_a_disabled_users_disabled_at() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let token = TokenRow {
            id: "t1".to_string(),
            user_id: "u1".to_string(),
            token_hash: "th".to_string(),
            label: "連携システム".to_string(),
            read_only: true,
            created_at: 10,
            expires_at: 1000,
            revoked_at: None,
            disabled_at: None,
            last_used_at: None,
        };
        let mut tx = s.begin().await.expect("begin");
        tx.insert_token(&token).await.expect("token");
        tx.commit().await.expect("commit");
        let by_token = |h: &'static str| async move {
            s.account(Credential::Token(h), "require_second_factor")
                .await
                .expect("read")
                .and_then(|a| a.token)
        };
        assert_eq!(by_token("th").await, Some(token.clone()), "{b:?}");
        assert_eq!(by_token("unknown").await, None, "{b:?}");

        let mut tx = s.begin().await.expect("begin");
        expect_conflict(
            b,
            tx.insert_token(&TokenRow { id: "t2".to_string(), ..token.clone() }).await,
            "api_tokens_hash_key",
        );
        drop(tx);

        let mut tx = s.begin().await.expect("begin");
        tx.set_disabled("u1", Some(77)).await.expect("disable");
        tx.commit().await.expect("commit");
        assert_eq!(
            by_token("th").await,
            Some(TokenRow { disabled_at: Some(77), ..token }),
            "{b:?}: the token must show its owner's disabling"
        );
    }
}

#[tokio::test]
async fn the_audit_chain_appended_across_transactions_verifies_and_ends_at_the_head() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        assert_eq!(
            s.audit_head().await.expect("head"),
            ChainHead { seq: 0, hash: GENESIS_HASH.to_string() },
            "{b:?}: a new chain starts at genesis"
        );
        let mut appended = Vec::new();
        for t in 0..5 {
            let mut tx = s.begin().await.expect("begin");
            for i in 0..5 {
                tx.append_audit(event(t * 5 + i, "u1")).await.expect("append");
                appended.push(event(t * 5 + i, "u1"));
            }
            tx.commit().await.expect("commit");
        }
        s.append_audit(vec![event(25, "u2"), event(26, "u2")]).await.expect("own transaction");

        assert_chain_verifies(b, s, 27).await;
        let read = all_events(s).await;
        let read_back: Vec<_> = read[..25].iter().map(|e| e.event.clone()).collect();
        assert_eq!(read_back, appended, "{b:?}: events read back differ from those appended");
        let page = s.audit_events_after(10, 5).await.expect("page");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [11, 12, 13, 14, 15], "{b:?}");

        let recent = s.recent_audit_events(Some("u2"), 10).await.expect("recent");
        assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), [27, 26], "{b:?}");
        let recent = s.recent_audit_events(None, 3).await.expect("recent");
        assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), [27, 26, 25], "{b:?}");
    }
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_audit_event_and_no_gap() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        s.append_audit(vec![event(1, "u1"), event(2, "u1")]).await.expect("append");

        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("o1", None)).await.expect("org");
        tx.append_audit(event(3, "u1")).await.expect("append");
        tx.append_audit(event(4, "u1")).await.expect("append");
        drop(tx); // an error between the change and the commit: nothing of it may remain

        assert_eq!(s.organisation("o1").await.expect("read"), None, "{b:?}");
        assert_chain_verifies(b, s, 2).await;
        let mut after = s.begin().await.expect("begin");
        after.append_audit(event(5, "u1")).await.expect("append");
        after.commit().await.expect("commit");
        // The next event follows the last committed one: seq 3, and the chain verifies.
        assert_chain_verifies(b, s, 3).await;
    }
}

/// Runs `sql` on a connection of its own, outside the store, as someone editing the
/// database by hand would.
async fn raw(db: &TestDb, sql: &str) -> Result<u64, String> {
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query(sql).execute(&mut c).await.map(|r| r.rows_affected())
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(sql).execute(&mut c).await.map(|r| r.rows_affected())
        }
    }
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_database_refuses_update_and_delete_of_audit_events() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        s.append_audit(vec![event(1, "u1"), event(2, "u1")]).await.expect("append");
        let before = all_events(s).await;

        for sql in [
            "update audit_events set outcome = 'failure' where seq = 1",
            "update audit_events set detail = null",
            "delete from audit_events where seq = 2",
            "delete from audit_events",
        ] {
            match raw(&db, sql).await {
                Err(e) => assert!(e.contains("append-only"), "{b:?}: `{sql}` failed otherwise: {e}"),
                Ok(n) => panic!("{b:?}: `{sql}` was allowed ({n} rows)"),
            }
        }
        assert_eq!(all_events(s).await, before, "{b:?}: the events changed");
        assert_chain_verifies(b, s, 2).await;
        // The table still takes new events.
        raw(&db, "select count(*) from audit_events").await.expect("read by hand");
        s.append_audit(vec![event(3, "u1")]).await.expect("append after the refusals");
        assert_chain_verifies(b, s, 3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_several_tasks_make_a_gapless_verifying_chain() {
    const TASKS: usize = 16;
    const EACH: i64 = 20;
    for db in testing::all().await {
        let b = db.backend;
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let actor = format!("task{t}");
                for i in 0..EACH {
                    // Half the tasks append in transactions of their own, half through the
                    // queue of audit-only events (grouped with whoever queues meanwhile).
                    if t % 2 == 0 {
                        let mut tx = store.begin().await?;
                        tx.append_audit(event(i, &actor)).await?;
                        tx.commit().await?;
                    } else {
                        store.append_audit(vec![event(i, &actor)]).await?;
                    }
                }
                Ok::<_, StoreError>(())
            }));
        }
        for task in tasks {
            task.await.expect("task panicked").unwrap_or_else(|e| panic!("{b:?}: append: {e}"));
        }
        let total = TASKS * EACH as usize;
        assert_chain_verifies(b, &db.store, total).await;

        // Each task's own events appear in the order it appended them.
        let events = all_events(&db.store).await;
        for t in 0..TASKS {
            let actor = format!("task{t}");
            let mine: Vec<i64> = events
                .iter()
                .filter(|e| e.event.actor_id.as_deref() == Some(actor.as_str()))
                .map(|e| e.event.at.0 - 1_700_000_000_000_000)
                .collect();
            assert_eq!(mine, (0..EACH).collect::<Vec<_>>(), "{b:?}: events of {actor}");
        }
    }
}

/// The server keeps the chain's head in memory between its commits (SQLite's writer). Another
/// process writing the same database (the command line) moves the head meanwhile; the server's
/// next commit must find that out and chain after it, not beside it.
#[tokio::test]
async fn a_second_writer_appending_between_commits_leaves_one_whole_chain() {
    for db in testing::all().await {
        let b = db.backend;
        let other = Store::open(&db.url, &Default::default()).await.expect("open the database again");
        let mut n = 0;
        for round in 0..4 {
            let (first, second) = if round % 2 == 0 { (&db.store, &other) } else { (&other, &db.store) };
            for store in [first, second, first] {
                store.append_audit(vec![event(n, "queued"), event(n + 1, "queued")]).await.unwrap_or_else(
                    |e| panic!("{b:?}: round {round}: an append after the other writer's was refused: {e}"),
                );
                let mut tx = store.begin().await.expect("begin");
                tx.append_audit(event(n + 2, "in-a-transaction")).await.expect("append in a transaction");
                tx.commit().await.unwrap_or_else(|e| panic!("{b:?}: round {round}: commit: {e}"));
                n += 3;
            }
        }
        other.close().await;
        assert_chain_verifies(b, &db.store, n as usize).await;
    }
}

fn attachment_patient(id: &str, attending: &str) -> tsunagu_store::patients::PatientRow {
    tsunagu_store::patients::PatientRow {
        id: id.to_string(),
        name: "金沢 太郎".to_string(),
        name_kana: "かなざわ たろう".to_string(),
        name_folded: "かなざわ たろう".to_string(),
        birth_date: "1940-04-01".to_string(),
        sex: "male".to_string(),
        address: String::new(),
        district: None,
        support_center_id: None,
        phone: String::new(),
        care_level: "none".to_string(),
        insurance_number: None,
        key_person: String::new(),
        emergency_contacts: String::new(),
        conditions: String::new(),
        allergies: String::new(),
        medications: String::new(),
        attending_physician_id: attending.to_string(),
        registered_by: attending.to_string(),
        version: 1,
        created_at: 1_700_000_000_000_000,
        updated_at: 1_700_000_000_000_000,
        latitude: None,
        longitude: None,
    }
}

#[tokio::test]
async fn an_attachment_written_is_read_back_equal_and_belongs_to_a_real_patient() {
    use tsunagu_store::attachments::AttachmentRow;
    for TestDb { store, backend: b, .. } in &testing::all().await {
        add_user(store, "u1", "hanako").await;
        let mut tx = store.begin().await.expect("begin");
        tx.insert_patient(&attachment_patient("p1", "u1")).await.expect("insert patient");
        tx.commit().await.expect("commit");
        let a = AttachmentRow {
            id: "a1".to_string(),
            patient_id: "p1".to_string(),
            entry_id: None,
            consent_id: None,
            original_name: "褥瘡.jpg".to_string(),
            content_type: "image/jpeg".to_string(),
            size: 1234,
            sha256: "ab".repeat(32),
            stored_path: "a1".to_string(),
            thumbnail_path: Some("a1.thumb.jpg".to_string()),
            created_by: "u1".to_string(),
            created_at: 1_700_000_000_000_001,
        };
        let mut tx = store.begin().await.expect("begin");
        tx.insert_attachment(&a).await.expect("insert attachment");
        tx.commit().await.expect("commit");
        assert_eq!(store.attachment("a1").await.expect("read"), Some(a.clone()), "{b:?}");
        assert_eq!(store.attachment("nope").await.expect("read"), None, "{b:?}");
        assert_eq!(store.attachments_of_patient("p1").await.expect("list"), vec![a.clone()], "{b:?}");
        assert_eq!(store.count_attachments().await.expect("count"), 1, "{b:?}");

        // A second row with the same id is a conflict on the primary key.
        let mut tx = store.begin().await.expect("begin");
        let again = tx.insert_attachment(&a).await;
        expect_conflict(*b, again, "attachments_pkey");
        drop(tx);

        // An attachment of a patient who does not exist is refused by the database.
        let mut tx = store.begin().await.expect("begin");
        let orphan = AttachmentRow { id: "a2".to_string(), patient_id: "nobody".to_string(), ..a.clone() };
        assert!(tx.insert_attachment(&orphan).await.is_err(), "{b:?}: an orphan attachment was stored");
        drop(tx);
        assert_eq!(store.count_attachments().await.expect("count"), 1, "{b:?}");
    }
}

/// One logical transaction of the concurrency tests: an organisation and the audit event that
/// records it, committed together.
async fn write_org_with_event(s: &Store, id: &str, n: i64) -> Result<(), StoreError> {
    let mut tx = s.begin().await?;
    tx.insert_organisation(&org(id, None)).await?;
    tx.append_audit(event(n, id)).await?;
    tx.commit().await
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    let n: (i64,) = match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query_as(sql).fetch_one(&mut c).await.expect("count")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query_as(sql).fetch_one(&mut c).await.expect("count")
        }
    };
    n.0
}

/// Many writers at once (SQLite commits them in groups): every acknowledged transaction is
/// there whole, a failed or abandoned one leaves nothing, and the chain verifies gaplessly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_each_commit_whole_and_the_chain_stays_gapless() {
    for db in testing::all().await {
        let (b, s) = (db.backend, db.store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..48_i64 {
            let s = s.clone();
            tasks.spawn(async move {
                let mut committed = 0;
                for i in 0..5_i64 {
                    let n = t * 100 + i;
                    match t % 4 {
                        // Commits.
                        0 | 1 => {
                            write_org_with_event(&s, &format!("o{n}"), n).await.expect("commit");
                            committed += 1;
                        }
                        // Audit events of their own.
                        2 => {
                            s.append_audit(vec![event(n, "reader"), event(n + 50, "reader")])
                                .await
                                .expect("append");
                        }
                        // Abandoned after writing, or failing on a duplicate key and abandoned.
                        _ => {
                            let mut tx = s.begin().await.expect("begin");
                            tx.append_audit(event(n, "dropped")).await.expect("append");
                            if i % 2 == 0 {
                                tx.insert_organisation(&org(&format!("x{n}"), None)).await.expect("org");
                            } else {
                                let dup = tx.insert_organisation(&org("o0", None)).await;
                                assert!(dup.is_err(), "a duplicate organisation must fail");
                            }
                            drop(tx);
                        }
                    }
                }
                committed
            });
        }
        let mut committed = 0;
        while let Some(r) = tasks.join_next().await {
            committed += r.expect("task");
        }
        assert_eq!(committed, 24 * 5, "{b:?}");
        let orgs = count(&db, "select count(*) from organisations where id like 'o%'").await;
        assert_eq!(orgs, committed, "{b:?}: every committed organisation is there");
        let dropped = count(&db, "select count(*) from organisations where id like 'x%'").await;
        assert_eq!(dropped, 0, "{b:?}: an abandoned transaction left its organisation");
        let events = all_events(&s).await;
        assert!(events.iter().all(|e| e.event.actor_id.as_deref() != Some("dropped")), "{b:?}");
        assert_chain_verifies(b, &s, (committed + 12 * 5 * 2) as usize).await;
        if let Some(w) = s.write_stats() {
            assert!(w.members >= 24 * 5 + 12 * 5, "{b:?}: {w:?}");
            assert!(w.commits < w.members, "{b:?}: no two transactions shared a commit: {w:?}");
        }
    }
}

/// Requests cancelled at any point (a client hanging up): a transaction is in whole or not at
/// all, every acknowledged one is in, and the writer is not left stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writers_leave_whole_transactions_and_a_free_writer() {
    for db in testing::all().await {
        let (b, s) = (db.backend, db.store.clone());
        let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for round in 0..6_i64 {
            let mut handles = Vec::new();
            for t in 0..32_i64 {
                let (s, acks) = (s.clone(), acknowledged.clone());
                handles.push(tokio::spawn(async move {
                    let n = round * 1000 + t;
                    let id = format!("o{n}");
                    if n % 3 == 0 {
                        s.append_audit(vec![event(n, "reader")]).await.expect("append");
                    } else if write_org_with_event(&s, &id, n).await.is_ok() {
                        acks.lock().expect("lock").push(id);
                    }
                }));
            }
            // Abort every other task after the runtime had a moment to start them.
            for _ in 0..round {
                tokio::task::yield_now().await;
            }
            for (i, h) in handles.iter().enumerate() {
                if i % 2 == 1 {
                    h.abort();
                }
            }
            for h in handles {
                let _ = h.await;
            }
        }
        // The writer must be free again (an abandoned group committed or rolled back).
        tokio::time::timeout(std::time::Duration::from_secs(10), write_org_with_event(&s, "final", 99_999))
            .await
            .expect("the writer is stuck")
            .expect("final write");
        let acks = acknowledged.lock().expect("lock").clone();
        for id in &acks {
            assert!(s.organisation(id).await.expect("read").is_some(), "{b:?}: acknowledged {id} is missing");
        }
        let orgs = count(&db, "select count(*) from organisations").await;
        let org_events =
            count(&db, "select count(*) from audit_events where actor_id like 'o%' or actor_id = 'final'")
                .await;
        assert_eq!(orgs, org_events, "{b:?}: an organisation without its event, or the reverse");
        let total = count(&db, "select count(*) from audit_events").await;
        assert_chain_verifies(b, &s, total as usize).await;
    }
}

#[tokio::test]
async fn an_account_is_read_with_its_sorted_duties_and_the_setting_asked_for() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let setting = "require_second_factor";
        let a = s.account(Credential::User("u2"), setting).await.expect("read").expect("u2");
        assert_eq!((a.duties.len(), a.setting.as_deref()), (0, None), "{b:?}");
        assert!(a.affiliations.is_empty() && !a.has_passkey, "{b:?}");
        assert_eq!((a.token.as_ref(), a.session.as_ref()), (None, None), "{b:?}");
        let mut tx = s.begin().await.expect("begin");
        tx.replace_duties("u1", &["region_admin", "auditor", "center_staff"]).await.expect("duties");
        tx.put_setting(setting, "true").await.expect("setting");
        tx.commit().await.expect("commit");
        let a = s.account(Credential::User("u1"), setting).await.expect("read").expect("u1");
        assert_eq!(a.user.login, "hanako", "{b:?}");
        assert_eq!(a.duties, ["auditor", "center_staff", "region_admin"], "{b:?}");
        assert_eq!(a.setting.as_deref(), Some("true"), "{b:?}");
        assert_eq!(s.account(Credential::User("nobody"), setting).await.expect("read"), None, "{b:?}");
    }
}

/// What every authenticated request reads in its one query: the affiliations in name order (one
/// row each, the duties not repeated), the passkey, and the credential's own row.
#[tokio::test]
async fn an_account_found_by_its_token_or_session_carries_affiliations_passkey_and_credential() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        let mut second = org("o2", None);
        second.name = "あおば訪問看護".to_string();
        second.is_emergency_hospital = false;
        tx.insert_organisation(&org("o1", None)).await.expect("org");
        tx.insert_organisation(&second).await.expect("org");
        tx.add_affiliation("u1", "o1").await.expect("affiliation");
        tx.add_affiliation("u1", "o2").await.expect("affiliation");
        tx.replace_duties("u1", &["auditor", "center_staff"]).await.expect("duties");
        tx.insert_passkey(&PasskeyRow {
            id: "k1".to_string(),
            user_id: "u1".to_string(),
            name: "端末".to_string(),
            credential_id: "cred-k1".to_string(),
            credential_json: "{}".to_string(),
            created_at: 10,
            last_used_at: None,
        })
        .await
        .expect("passkey");
        tx.insert_session("sh", "u1", "full", 100, Some("192.0.2.1")).await.expect("session");
        tx.commit().await.expect("commit");

        let a = s.account(Credential::Session("sh"), "x").await.expect("read").expect("the session's person");
        assert_eq!(a.duties, ["auditor", "center_staff"], "{b:?}: duties once, not once per affiliation");
        let orgs: Vec<(&str, bool)> =
            a.affiliations.iter().map(|f| (f.organisation_id.as_str(), f.is_emergency_hospital)).collect();
        assert_eq!(orgs, [("o2", false), ("o1", true)], "{b:?}: in name order");
        assert!(a.has_passkey, "{b:?}");
        let session = a.session.expect("the session row");
        assert_eq!(
            (
                session.user_id.as_str(),
                session.stage.as_str(),
                session.created_at,
                session.address.as_deref()
            ),
            ("u1", "full", 100, Some("192.0.2.1")),
            "{b:?}"
        );
        assert_eq!(a.token, None, "{b:?}");
        assert_eq!(s.account(Credential::Session("other"), "x").await.expect("read"), None, "{b:?}");
        assert_eq!(s.account(Credential::Token("sh"), "x").await.expect("read"), None, "{b:?}: not a token");
    }
}

/// The gate's one query: each fact it returns follows the rows it is about.
#[tokio::test]
async fn the_gate_reads_membership_consent_and_emergency_views_of_one_person() {
    use tsunagu_store::patients::{ConsentRow, EmergencyRow};
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        for (id, login) in [("doc", "doc"), ("nurse", "nurse"), ("er", "er")] {
            add_user(s, id, login).await;
        }
        let mut tx = s.begin().await.expect("begin");
        tx.insert_patient(&attachment_patient("p1", "doc")).await.expect("patient");
        tx.commit().await.expect("commit");

        let g = s.gate("p1", "nurse", 500).await.expect("gate").expect("p1 exists");
        assert_eq!(g.patient, attachment_patient("p1", "doc"), "{b:?}");
        assert_eq!((g.member_role, g.member_status, g.member_ends_at), (None, None, None), "{b:?}");
        assert_eq!((g.consent_active, g.emergency_until, g.unseen_emergencies), (0, None, 0), "{b:?}");
        assert_eq!(s.gate("p2", "nurse", 500).await.expect("gate"), None, "{b:?}: no such patient");

        let consent = |id: &str, at: i64| ConsentRow {
            id: id.to_string(),
            patient_id: "p1".to_string(),
            consenter: "patient".to_string(),
            proxy_name: None,
            proxy_relation: None,
            consented_on: "2026-01-05".to_string(),
            scope: "team".to_string(),
            form_attachment_id: None,
            recorded_by: "doc".to_string(),
            recorded_at: at,
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawal_reason: None,
        };
        let emergency = |id: &str, until: i64| EmergencyRow {
            id: id.to_string(),
            patient_id: "p1".to_string(),
            user_id: "er".to_string(),
            reason: "救急搬送".to_string(),
            opened_at: 100,
            expires_at: until,
            seen_by_attending_at: None,
        };
        let mut tx = s.begin().await.expect("begin");
        tx.insert_consent(&consent("c1", 100)).await.expect("consent");
        tx.put_member("p1", "nurse", "member", "active", "doc", 100, Some(900), "", "e1")
            .await
            .expect("member");
        tx.insert_emergency(&emergency("x1", 400)).await.expect("emergency");
        tx.insert_emergency(&emergency("x2", 800)).await.expect("emergency");
        tx.commit().await.expect("commit");

        let g = s.gate("p1", "nurse", 500).await.expect("gate").expect("p1");
        assert_eq!(
            (g.member_role.as_deref(), g.member_status.as_deref(), g.member_ends_at),
            (Some("member"), Some("active"), Some(900)),
            "{b:?}"
        );
        assert_eq!((g.consent_active, g.emergency_until), (1, None), "{b:?}: the views are the ER's");
        assert_eq!(g.unseen_emergencies, 1, "{b:?}");
        let g = s.gate("p1", "er", 500).await.expect("gate").expect("p1");
        assert_eq!(g.member_role, None, "{b:?}");
        assert_eq!(g.emergency_until, Some(800), "{b:?}: the latest view still open");
        let g = s.gate("p1", "er", 800).await.expect("gate").expect("p1");
        assert_eq!(g.emergency_until, None, "{b:?}: both views ended");

        let mut tx = s.begin().await.expect("begin");
        tx.withdraw_consents("p1", "doc", "撤回", 600).await.expect("withdraw");
        tx.mark_emergencies_seen("p1", 600).await.expect("seen");
        tx.commit().await.expect("commit");
        let g = s.gate("p1", "doc", 700).await.expect("gate").expect("p1");
        assert_eq!((g.consent_active, g.unseen_emergencies), (0, 0), "{b:?}");
    }
}

/// People's and organisations' names in one statement, with either list empty.
#[tokio::test]
async fn names_of_people_and_organisations_come_back_in_one_read() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        add_user(s, "u2", "taro").await;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_organisation(&org("o1", None)).await.expect("org");
        tx.commit().await.expect("commit");
        let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

        let mut n = s.names(&ids(&["u2", "u1", "nobody"]), &ids(&["o1", "o9"])).await.expect("names");
        n.users.sort();
        let logins: Vec<&str> = n.users.iter().map(|u| u.2.as_str()).collect();
        assert_eq!(logins, ["hanako", "taro"], "{b:?}");
        assert_eq!(n.organisations, [("o1".to_string(), "つながり診療所 o1".to_string())], "{b:?}");
        let n = s.names(&[], &ids(&["o1"])).await.expect("names");
        assert!(n.users.is_empty() && n.organisations.len() == 1, "{b:?}");
        let n = s.names(&ids(&["u1"]), &[]).await.expect("names");
        assert!(n.users.len() == 1 && n.organisations.is_empty(), "{b:?}");
        assert_eq!(s.names(&[], &[]).await.expect("names"), Default::default(), "{b:?}");
    }
}

/// More audit-only events at once than one insert statement takes: all of them, in order.
#[tokio::test]
async fn a_large_batch_of_audit_events_goes_in_whole() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let events: Vec<NewEvent> = (0..450).map(|n| event(n, "reader")).collect();
        s.append_audit(events).await.expect("append");
        assert_chain_verifies(b, s, 450).await;
        let read = all_events(s).await;
        assert_eq!(read[449].event.target_id.as_deref(), Some("s449"), "{b:?}: out of order");
    }
}

fn message_entry(id: &str, patient: &str, author: &str) -> tsunagu_store::patients::EntryRow {
    tsunagu_store::patients::EntryRow {
        id: id.to_string(),
        patient_id: patient.to_string(),
        kind: "message".to_string(),
        author_id: author.to_string(),
        author_profession: "physician".to_string(),
        author_org_id: None,
        created_at: 1_700_000_000_000_002,
        occurred_at: 1_700_000_000_000_002,
        body: "熱 37.8℃ $1 ?".to_string(),
        data: "{}".to_string(),
        corrects_id: None,
        urgent: true,
        needs_reply: false,
        addressee_id: None,
        acknowledged_at: None,
        acknowledged_by: None,
        escalated_at: None,
    }
}

/// On SQLite the inserts of an entry, its vital signs, read marks and audit events wait and run
/// together (one command to the writer); PostgreSQL runs them at once. Either way: a statement
/// that answers sees what was written before it in the transaction, what commits is whole, and
/// a write that fails leaves nothing of its transaction and a writer that goes on working.
#[tokio::test]
async fn writes_of_a_transaction_run_in_order_and_a_failed_one_leaves_nothing() {
    use tsunagu_store::patients::VitalRow;
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        add_user(s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_patient(&attachment_patient("p1", "u1")).await.expect("patient");
        tx.commit().await.expect("commit");

        // Inserts, then a statement whose answer depends on them, in one transaction.
        let e1 = message_entry("e1", "p1", "u1");
        let vital = VitalRow {
            entry_id: "e1".into(),
            patient_id: "p1".into(),
            kind: "temperature".into(),
            value: 37.8,
            measured_at: e1.occurred_at,
        };
        let mut tx = s.begin().await.expect("begin");
        tx.insert_entry(&e1).await.expect("entry");
        tx.insert_vital(&vital).await.expect("vital");
        tx.mark_read(&["e1".to_string()], "u1", 5).await.expect("read mark");
        tx.append_audit(event(1, "u1")).await.expect("append");
        assert!(tx.acknowledge("e1", "u1", 9).await.expect("acknowledge"), "{b:?}: the entry is there");
        tx.append_audit(event(2, "u1")).await.expect("append");
        tx.commit().await.expect("commit");
        let stored = s.entry("e1").await.expect("read").expect("committed");
        assert_eq!(stored.body, e1.body, "{b:?}: text with `$1` and `?` is stored as written");
        assert_eq!(stored.acknowledged_at, Some(9), "{b:?}");
        assert_eq!(s.vitals_of_entries("p1", &["e1".into()]).await.expect("vitals"), vec![vital], "{b:?}");
        assert_eq!(s.reads_of_entries(&["e1".into()]).await.expect("reads").len(), 1, "{b:?}");
        assert_chain_verifies(b, s, 2).await;

        // The same entry again: the primary key refuses it (on SQLite at commit, after the
        // statements before it ran), and nothing of the transaction remains.
        let mut tx = s.begin().await.expect("begin");
        let failed = async {
            tx.insert_entry(&message_entry("e2", "p1", "u1")).await?;
            tx.append_audit(event(3, "u1")).await?;
            tx.insert_entry(&e1).await?;
            tx.commit().await
        }
        .await;
        expect_conflict(b, failed, "timeline_entries_pkey");
        assert_eq!(s.entry("e2").await.expect("read"), None, "{b:?}: a failed transaction left a row");
        assert_chain_verifies(b, s, 2).await;

        // The writer goes on: the next transaction commits and chains after the last committed.
        let mut tx = s.begin().await.expect("begin");
        tx.insert_entry(&message_entry("e3", "p1", "u1")).await.expect("entry");
        tx.append_audit(event(4, "u1")).await.expect("append");
        tx.commit().await.expect("commit");
        assert!(s.entry("e3").await.expect("read").is_some(), "{b:?}");
        assert_chain_verifies(b, s, 3).await;

        // A transaction that writes nothing commits at once.
        s.begin().await.expect("begin").commit().await.expect("empty commit");
    }
}

/// Transactions that commit at once share the writer's commands (on SQLite, one command for
/// all of them): one that fails is refused alone, the others commit whole, and the chain holds
/// exactly the events of those that committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_transaction_among_concurrent_ones_is_refused_alone() {
    for db in testing::all().await {
        let (b, s) = (db.backend, db.store.clone());
        add_user(&s, "u1", "hanako").await;
        let mut tx = s.begin().await.expect("begin");
        tx.insert_patient(&attachment_patient("p1", "u1")).await.expect("patient");
        tx.insert_entry(&message_entry("taken", "p1", "u1")).await.expect("entry");
        tx.commit().await.expect("commit");

        let mut tasks = Vec::new();
        for round in 0..4 {
            for i in 0..8 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    // One in each round reuses an id that exists.
                    let id = if i == 3 { "taken".to_string() } else { format!("e{round}-{i}") };
                    let mut tx = s.begin().await?;
                    tx.insert_entry(&message_entry(&id, "p1", "u1")).await?;
                    tx.mark_read(std::slice::from_ref(&id), "u1", 1).await?;
                    tx.append_audit(event(round * 8 + i, "u1")).await?;
                    tx.commit().await.map(|()| id)
                }));
            }
        }
        let mut committed = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(id) => {
                    assert!(
                        s.entry(&id).await.expect("read").is_some(),
                        "{b:?}: {id} acknowledged, not stored"
                    );
                    committed += 1;
                }
                Err(e) => expect_conflict(b, Err(e), "timeline_entries_pkey"),
            }
        }
        assert_eq!(committed, 28, "{b:?}");
        assert_chain_verifies(b, &s, 28).await;
    }
}

/// A long transaction (an import's audit trail) defers more than one SQLite command may bind:
/// it runs in steps and commits whole, on both backends.
#[tokio::test]
async fn a_transaction_with_thousands_of_events_commits_whole() {
    for db in testing::all().await {
        let (b, s) = (db.backend, &db.store);
        let mut tx = s.begin().await.expect("begin");
        for n in 0..3_000 {
            tx.append_audit(event(n, "u1")).await.expect("append");
        }
        tx.commit().await.expect("commit");
        assert_chain_verifies(b, s, 3_000).await;
    }
}
