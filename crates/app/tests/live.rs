//! Live subscriptions and the escalation of unanswered urgent messages (issue 3 §4–§5), through
//! the app layer, with a clock the test moves. A subscription ends once its access does, even
//! when nothing happens on the patient; an urgent message nobody acknowledged within
//! `escalation_minutes` is raised to the sub-attending physician (or the attending physician),
//! once, in one transaction with its audit event; an acknowledged one never is. Runs on every
//! backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tsunagu_app::auth::LoginStep;
use tsunagu_app::live::{LiveUpdate, escalated_from};
use tsunagu_app::sharing::{NewConsent, NewEntry, NewPatient, Registered};
use tsunagu_app::{Actor, App, AppConfig, AuthVia};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::patients::{EntryFilter, EntryRow};
use tsunagu_store::testing::{self, TestDb};

/// 2026-11-24 09:30 in Japan.
const START: Timestamp = Timestamp(1_795_480_200_000_000);

struct T {
    app: App,
    clock: FixedClock,
    name: String,
    _db: TestDb,
}

async fn all() -> Vec<T> {
    let mut out = Vec::new();
    for db in testing::all().await {
        let clock = FixedClock::at(START);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        app.load_demo("demo-password-123").await.expect("demo");
        // The demo's own messages are settled first, so each test sees only its own.
        clock.advance_seconds(24 * 3600);
        app.escalate_unacknowledged().await.expect("settle the demo");
        out.push(T { app, clock, name: format!("{:?}", db.backend), _db: db });
    }
    out
}

impl T {
    async fn actor(&self, login: &str) -> Actor {
        let u = self.app.store.user_by_login(login).await.unwrap().expect("demo account");
        self.app.actor(&u.id, AuthVia::Cli, None).await.expect("actor")
    }

    async fn uid(&self, login: &str) -> String {
        self.app.store.user_by_login(login).await.unwrap().expect("demo account").id
    }

    /// A patient of `physician` with consent, the nurse on the team and, if given, a
    /// sub-attending physician.
    async fn patient(&self, kana: &str, sub_attending: Option<&str>) -> String {
        let doctor = self.actor("physician").await;
        let input = NewPatient {
            name: "試験 患者".into(),
            name_kana: kana.into(),
            birth_date: "1935-05-05".into(),
            sex: "female".into(),
            ..Default::default()
        };
        let Registered::Created(p) = self.app.register_patient(&doctor, input).await.expect("register")
        else {
            panic!("{}: duplicates", self.name)
        };
        let consent = NewConsent {
            consenter: "patient".into(),
            consented_on: "2026-11-20".into(),
            scope: "情報共有".into(),
            ..Default::default()
        };
        self.app.record_consent(&doctor, &p.id, consent).await.expect("consent");
        self.app.add_member(&doctor, &p.id, "nurse", "").await.expect("nurse");
        if let Some(sub) = sub_attending {
            self.app.add_member(&doctor, &p.id, sub, "sub_attending").await.expect("sub-attending");
        }
        p.id
    }

    async fn urgent(&self, patient: &str, to: &str, body: &str) -> EntryRow {
        let input = NewEntry {
            kind: "message".into(),
            body: body.into(),
            urgent: true,
            needs_reply: true,
            addressee_login: to.into(),
            ..Default::default()
        };
        self.app.write_entry(&self.actor("nurse").await, patient, input).await.expect("urgent message")
    }

    async fn entries(&self, patient: &str) -> Vec<EntryRow> {
        self.app.store.entries(patient, &EntryFilter { limit: 200, ..Default::default() }).await.unwrap()
    }

    /// The raised copies of messages on a patient's timeline, newest first.
    async fn raised(&self, patient: &str) -> Vec<EntryRow> {
        self.entries(patient).await.into_iter().filter(|e| escalated_from(e).is_some()).collect()
    }

    fn minutes(&self, m: i64) {
        self.clock.advance_seconds(m * 60);
    }
}

#[tokio::test]
async fn an_unanswered_urgent_message_goes_to_the_sub_attending_physician_after_thirty_minutes_once() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("えすかれ いち", Some("physician2")).await;
        let m = t.urgent(&pid, "physician", "呼吸が苦しそうです。至急連絡ください。").await;
        let sent = t.app.now();

        t.minutes(29);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 0, "{b}: raised before its time");
        assert!(t.raised(&pid).await.is_empty(), "{b}");

        t.minutes(2);
        let now = t.app.now();
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 1, "{b}");
        let raised = t.raised(&pid).await;
        assert_eq!(raised.len(), 1, "{b}");
        let r = &raised[0];
        assert_eq!(escalated_from(r).as_deref(), Some(m.id.as_str()), "{b}: the copy names the original");
        assert_eq!(r.addressee_id.as_deref(), Some(t.uid("physician2").await.as_str()), "{b}");
        assert!(r.urgent && r.needs_reply && r.acknowledged_at.is_none(), "{b}");
        assert_eq!(r.kind, "message");
        assert_eq!(r.author_id, m.author_id, "{b}: passed on in the author's name");
        assert_eq!(r.body, m.body, "{b}");
        assert_eq!(r.created_at, now.micros(), "{b}");
        let original = t.app.store.entry(&m.id).await.unwrap().unwrap();
        assert_eq!(original.escalated_at, Some(now.micros()), "{b}");
        assert!(original.created_at == sent.micros() && original.acknowledged_at.is_none(), "{b}");
        // Audited with the patient and the original.
        let events = t.app.store.audit_events_for_patient(&pid, 1000).await.unwrap();
        let esc: Vec<_> = events.iter().filter(|e| e.event.action == "message.escalated").collect();
        assert_eq!(esc.len(), 1, "{b}");
        assert_eq!(esc[0].event.target_id.as_deref(), Some(m.id.as_str()), "{b}");
        assert_eq!(esc[0].event.at, now, "{b}");
        // The sub-attending physician sees it waiting for them.
        let sub = t.actor("physician2").await;
        let mine = t.app.my_patients(&sub).await.unwrap();
        let row = mine.iter().find(|p| p.id == pid).expect("on physician2's list");
        assert_eq!(row.unacknowledged, 1, "{b}");

        // Running again (every minute; or another process) changes nothing.
        t.minutes(1);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 0, "{b}");
        assert_eq!(t.raised(&pid).await.len(), 1, "{b}");

        // Acknowledged by the sub-attending physician: the copy is not raised further.
        t.app.acknowledge(&sub, &pid, &r.id).await.unwrap();
        t.minutes(60);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 0, "{b}");
        assert_eq!(t.raised(&pid).await.len(), 1, "{b}");
        t.app
            .verify_audit(vec![])
            .await
            .map(|r| assert!(r.findings.is_empty(), "{b}: {:?}", r.findings))
            .unwrap();
    }
}

#[tokio::test]
async fn an_acknowledged_message_is_never_raised() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("えすかれ に", Some("physician2")).await;
        let m = t.urgent(&pid, "physician", "転倒しました").await;
        t.minutes(10);
        t.app.acknowledge(&t.actor("physician").await, &pid, &m.id).await.unwrap();
        t.minutes(60);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 0, "{b}");
        assert!(t.raised(&pid).await.is_empty(), "{b}");
        assert_eq!(t.app.store.entry(&m.id).await.unwrap().unwrap().escalated_at, None, "{b}");
        // A message that is not urgent waits as long as it must.
        let input = NewEntry {
            kind: "message".into(),
            body: "お手すきの際に".into(),
            needs_reply: true,
            addressee_login: "physician".into(),
            ..Default::default()
        };
        t.app.write_entry(&t.actor("nurse").await, &pid, input).await.unwrap();
        t.minutes(600);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 0, "{b}");
    }
}

#[tokio::test]
async fn without_a_sub_attending_physician_the_attending_physician_is_told_and_the_chain_ends() {
    for t in all().await {
        let b = &t.name;
        let attending = t.uid("physician").await;
        // No sub-attending physician; the message went to the team (nobody in particular).
        let pid = t.patient("えすかれ さん", None).await;
        let input = NewEntry {
            kind: "message".into(),
            body: "発熱 38.5℃".into(),
            urgent: true,
            ..Default::default()
        };
        t.app.write_entry(&t.actor("nurse").await, &pid, input).await.unwrap();
        t.minutes(31);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 1, "{b}");
        let raised = t.raised(&pid).await;
        assert_eq!(raised[0].addressee_id.as_deref(), Some(attending.as_str()), "{b}");
        // The copy to the attending physician goes unanswered too: marked, and nobody further.
        t.minutes(31);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 1, "{b}");
        assert_eq!(t.raised(&pid).await.len(), 1, "{b}: raised to nobody further");
        assert!(t.app.store.entry(&raised[0].id).await.unwrap().unwrap().escalated_at.is_some(), "{b}");
        let events = t.app.store.audit_events_for_patient(&pid, 1000).await.unwrap();
        assert!(
            events.iter().any(|e| e.event.action == "message.escalated"
                && e.event.detail.as_deref() == Some("no one further")),
            "{b}"
        );

        // With a sub-attending physician, a message to the attending physician goes to them,
        // and their unanswered copy to the attending physician, and there it ends.
        let pid = t.patient("えすかれ よん", Some("physician2")).await;
        t.urgent(&pid, "physician2", "血圧 80/50").await;
        t.minutes(31);
        t.app.escalate_unacknowledged().await.unwrap();
        let raised = t.raised(&pid).await;
        assert_eq!(raised.len(), 1, "{b}");
        assert_eq!(
            raised[0].addressee_id.as_deref(),
            Some(attending.as_str()),
            "{b}: the sub-attending was the addressee"
        );
        t.minutes(31);
        t.app.escalate_unacknowledged().await.unwrap();
        t.minutes(31);
        t.app.escalate_unacknowledged().await.unwrap();
        assert_eq!(t.raised(&pid).await.len(), 1, "{b}: the chain does not go round");
    }
}

#[tokio::test]
async fn the_raised_copy_reaches_those_watching_the_patient() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("えすかれ ご", Some("physician2")).await;
        let mut watching = t.app.subscribe(&t.actor("physician2").await, &pid).await.unwrap();
        let m = t.urgent(&pid, "physician", "意識レベル低下").await;
        match tokio::time::timeout(Duration::from_secs(5), watching.next()).await {
            Ok(Some(LiveUpdate::Entry(v))) => assert_eq!(v.entry.id, m.id, "{b}"),
            other => panic!("{b}: {other:?}"),
        }
        t.minutes(31);
        assert_eq!(t.app.escalate_unacknowledged().await.unwrap(), 1, "{b}");
        match tokio::time::timeout(Duration::from_secs(5), watching.next()).await {
            Ok(Some(LiveUpdate::Entry(v))) => {
                assert_eq!(escalated_from(&v.entry).as_deref(), Some(m.id.as_str()), "{b}");
            }
            other => panic!("{b}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn two_processes_escalating_at_once_raise_a_message_once() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("えすかれ ろく", Some("physician2")).await;
        t.urgent(&pid, "physician", "至急").await;
        t.minutes(31);
        // A second process: its own app (and hub) over the same database.
        let config = AppConfig { escalation_minutes: 30, ..Default::default() };
        let other = App::new(t.app.store.clone(), Arc::new(t.clock.clone()), config);
        let (x, y) = tokio::join!(t.app.escalate_unacknowledged(), other.escalate_unacknowledged());
        assert_eq!(x.unwrap() + y.unwrap(), 1, "{b}");
        assert_eq!(t.raised(&pid).await.len(), 1, "{b}");
    }
}

/// A real session (so the stream can check it), as the web layer would build the actor.
async fn session(t: &T, login: &str) -> Actor {
    match t.app.login_password(login, "demo-password-123", None).await.expect("login") {
        LoginStep::Done { token } => t.app.authenticate_session(&token, None).await.expect("session"),
        other => panic!("{}: {login}: {other:?}", t.name),
    }
}

#[tokio::test]
async fn a_quiet_stream_ends_soon_after_access_does() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("らいぶ いち", None).await;
        let nurse = session(&t, "nurse").await;
        let mut s = t.app.subscribe(&nurse, &pid).await.unwrap().recheck_every(Duration::from_millis(100));
        // Nothing happens: the stream stays open.
        assert!(tokio::time::timeout(Duration::from_millis(400), s.next()).await.is_err(), "{b}");
        // Consent withdrawn, and still nothing written: the next check ends it.
        t.app.withdraw_consent(&t.actor("physician").await, &pid, "撤回").await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends in time");
        assert!(end.is_none(), "{b}: {end:?}");
        // Subscribing again is refused like any other read.
        assert!(matches!(t.app.subscribe(&nurse, &pid).await, Err(tsunagu_app::AppError::NotFound)), "{b}");
    }
}

#[tokio::test]
async fn logging_out_or_idling_past_the_session_ends_the_stream() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("らいぶ に", None).await;
        let nurse = session(&t, "nurse").await;
        let mut s = t.app.subscribe(&nurse, &pid).await.unwrap();
        t.app.logout(&nurse).await.unwrap();
        t.app.write_entry(&t.actor("physician").await, &pid, note("ログアウト後")).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends in time");
        assert!(end.is_none(), "{b}: a logged-out session still receives entries");

        // An open page is not activity: past the idle time, the stream ends.
        let nurse = session(&t, "nurse").await;
        let mut s = t.app.subscribe(&nurse, &pid).await.unwrap();
        let e = t.app.write_entry(&t.actor("physician").await, &pid, note("まだ見える")).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
            Ok(Some(LiveUpdate::Entry(v))) => assert_eq!(v.entry.id, e.id, "{b}"),
            other => panic!("{b}: {other:?}"),
        }
        t.minutes(31);
        t.app.write_entry(&t.actor("physician").await, &pid, note("放置後")).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends in time");
        assert!(end.is_none(), "{b}: an idle session still receives entries");
    }
}

#[tokio::test]
async fn an_entry_is_delivered_once_to_each_subscriber() {
    for t in all().await {
        let b = &t.name;
        let pid = t.patient("らいぶ さん", None).await;
        let doctor = session(&t, "physician").await;
        let mut one = t.app.subscribe(&doctor, &pid).await.unwrap();
        let mut two = t.app.subscribe(&doctor, &pid).await.unwrap();
        let e = t.app.write_entry(&t.actor("nurse").await, &pid, note("一度だけ")).await.unwrap();
        for s in [&mut one, &mut two] {
            match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
                Ok(Some(LiveUpdate::Entry(v))) => assert_eq!(v.entry.id, e.id, "{b}"),
                other => panic!("{b}: {other:?}"),
            }
            assert!(tokio::time::timeout(Duration::from_millis(300), s.next()).await.is_err(), "{b}: twice");
        }
        // Each delivery is a read, audited.
        let reads = t
            .app
            .store
            .audit_events_for_patient(&pid, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|x| {
                x.event.action == "timeline.read" && x.event.target_id.as_deref() == Some(e.id.as_str())
            })
            .count();
        assert_eq!(reads, 2, "{b}");
    }
}

fn note(body: &str) -> NewEntry {
    NewEntry { kind: "message".into(), body: body.into(), ..Default::default() }
}
