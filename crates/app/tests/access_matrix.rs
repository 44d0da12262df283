//! The access matrix (DESIGN §3, §5; issue 3): every patient use case × every kind of person,
//! with the expected answer, on every backend the store harness finds.
//!
//! The tables [`READ_MATRIX`] and [`WRITE_MATRIX`] are the specification; read them as "this
//! person, calling this use case on this patient, gets this answer". Beyond the answers, every
//! row checks:
//!
//! - a hidden answer is exactly `AppError::NotFound`, and the same person asking about a random
//!   UUID or a malformed id gets that same answer (a non-member cannot tell a hidden patient from
//!   a missing one);
//! - every success wrote an audit event naming the patient, and every refusal (hidden,
//!   forbidden, read-only) an `access.refused` event;
//! - a refused or invalid call changed nothing (no success event, the team as it was).
//!
//! The world each row runs in: patient P with consent and a full team, and patient W whose
//! consent was withdrawn (same team). A fixed clock moves two days on after the team is made, so
//! one membership's end date has passed and one emergency view has expired; a second emergency
//! view is opened after the move. Rows of use cases that change things run in a world of their
//! own whenever the previous row succeeded.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use tsunagu_app::admin::NewPerson;
use tsunagu_app::sharing::{NewConsent, NewEntry, NewPatient, Registered};
use tsunagu_app::{Actor, App, AppConfig, AppError, AuthVia};
use tsunagu_domain::audit::StoredEvent;
use tsunagu_domain::{Clock, FixedClock, Timestamp};
use tsunagu_store::patients::EntryFilter;
use tsunagu_store::testing::{self, TestDb};

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z (09:30 in Kanazawa).
const START: Timestamp = Timestamp(1_795_480_200_000_000);
const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";
const MALFORMED_ID: &str = "../patients/1' or '1'='1";
/// Every chart of the matrix is of a person with this kana name and birth date.
const KANA: &str = "しょうごう かんじゃ";
const BIRTH_DATE: &str = "1938-04-01";

// ---------------------------------------------------------------------------------------------
// The people

/// Every kind of person the rules tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The attending physician (`physician`, 山田).
    Attending,
    /// The sub-attending physician (`physician2`), invited by the attending physician.
    SubAttending,
    /// An active member (`nurse`), admitted by the attending physician.
    Member,
    /// A pharmacist who asked to join and waits for a physician (`pharmacist`).
    Pending,
    /// A nurse whose request the attending physician refused.
    Refused,
    /// A nurse who was on the team and was removed.
    Removed,
    /// A nurse whose membership had an end date, now passed.
    Ended,
    /// The active member `nurse`, on patient W, after the consent was withdrawn.
    AfterWithdrawal,
    /// The attending physician, on patient W, after the consent was withdrawn.
    AttendingAfterWithdrawal,
    /// A professional on no team (`caremanager`).
    NonMember,
    /// A physician of an emergency hospital who has stated no reason (`er-physician`).
    EmergencyNoReason,
    /// A physician of an emergency hospital with an open emergency view.
    EmergencyOpen,
    /// A physician of an emergency hospital whose emergency view has expired.
    EmergencyExpired,
    /// The system administrator (`admin`).
    Admin,
    /// A city official (`city`).
    CityOfficial,
    /// A welfare commissioner (`commissioner`).
    Commissioner,
    /// The active member `nurse` through a read-only API token.
    ReadOnlyToken,
}

impl Who {
    fn login(self) -> &'static str {
        match self {
            Who::Attending | Who::AttendingAfterWithdrawal => "physician",
            Who::SubAttending => "physician2",
            Who::Member | Who::AfterWithdrawal | Who::ReadOnlyToken => "nurse",
            Who::Pending => "pharmacist",
            Who::Refused => "mx-refused",
            Who::Removed => "mx-removed",
            Who::Ended => "mx-ended",
            Who::NonMember => "caremanager",
            Who::EmergencyNoReason => "er-physician",
            Who::EmergencyOpen => "mx-er-open",
            Who::EmergencyExpired => "mx-er-expired",
            Who::Admin => "admin",
            Who::CityOfficial => "city",
            Who::Commissioner => "commissioner",
        }
    }

    /// Whether this person is asked about patient W (consent withdrawn) rather than P.
    fn on_withdrawn(self) -> bool {
        matches!(self, Who::AfterWithdrawal | Who::AttendingAfterWithdrawal)
    }
}

/// The accounts the demo region lacks: (login, name, kana, profession, organisation name).
const EXTRA_PEOPLE: &[(&str, &str, &str, &str, &str)] = &[
    ("mx-refused", "却下 看護", "きゃっか かんご", "nurse", "兼六訪問看護ステーション"),
    ("mx-removed", "解除 看護", "かいじょ かんご", "nurse", "兼六訪問看護ステーション"),
    ("mx-ended", "期限 看護", "きげん かんご", "nurse", "兼六訪問看護ステーション"),
    ("mx-er-open", "救急 一郎", "きゅうきゅう いちろう", "physician", "金沢中央総合病院"),
    ("mx-er-expired", "救急 二郎", "きゅうきゅう じろう", "physician", "金沢中央総合病院"),
    ("mx-candidate", "候補 ケアマネ", "こうほ けあまね", "care_manager", "香林坊ケアプランセンター"),
];

// ---------------------------------------------------------------------------------------------
// The use cases

/// Every patient use case of `tsunagu_app::sharing`, as the matrix calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UseCase {
    OpenPatient,
    /// With a page of the timeline.
    PatientPage,
    Timeline,
    /// Watching the timeline live (`live.rs`).
    Subscribe,
    /// One entry, for a live update (`live.rs`): the nurse's message.
    EntryView,
    VitalsSeries,
    Team,
    TeamView,
    Consents,
    ConsentHistory,
    EmergencyNotices,
    EmergencySummary,
    EmergencyPage,
    AccessLog,
    Disclosure,
    /// By the patient's kana name and birth date (no id).
    EmergencySearch,
    /// A visit record.
    WriteEntry,
    /// The correction form for the nurse's message.
    EntryToCorrect,
    /// The message the nurse wrote to the attending physician, needing a reply.
    Acknowledge,
    RecordConsent,
    WithdrawConsent,
    WithdrawConsentConfirmed,
    /// Adds the care manager `mx-candidate`.
    AddMember,
    /// Approves the pending pharmacist.
    DecideMember,
    /// Removes the helper.
    EndMembership,
    /// Ends one's own membership (leaving the team).
    Leave,
    RequestToJoin,
    /// Opens the emergency view, stating a reason.
    OpenEmergency,
    /// Opens the emergency view without a reason.
    OpenEmergencyNoReason,
}

use UseCase as U;

impl UseCase {
    /// Whether a success changes what later rows would see.
    fn changes_things(self) -> bool {
        WRITES.contains(&self) && self != U::EntryToCorrect
    }
}

// ---------------------------------------------------------------------------------------------
// The answers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exp {
    /// Done (a search found the patient).
    Ok,
    /// Done, and the person the use case is about now has this team status.
    Now(&'static str),
    /// The answer is `Ok(())` (the same as for a patient who does not exist) but nothing was
    /// recorded; the refusal is audited.
    Declined,
    /// An empty answer (a search that finds nothing for this person); the refusal is audited.
    Empty,
    /// `AppError::NotFound`: exactly as for a patient who does not exist.
    Hidden,
    /// `AppError::Forbidden`: sees the patient, but this is not theirs to do.
    Forbidden,
    /// `AppError::ReadOnly`: a read-only token may not write.
    ReadOnly,
    /// `AppError::Invalid` with this message key: allowed, but the state or input says no.
    Invalid(&'static str),
}

const OK: Exp = Exp::Ok;
const ACT: Exp = Exp::Now("active");
const PEND: Exp = Exp::Now("pending");
const GONE: Exp = Exp::Now("removed");
const DECL: Exp = Exp::Declined;
const NONE: Exp = Exp::Empty;
const HID: Exp = Exp::Hidden;
const FORB: Exp = Exp::Forbidden;
const RO: Exp = Exp::ReadOnly;
const NOCON: Exp = Exp::Invalid("error.no_active_consent");
const NOADR: Exp = Exp::Invalid("error.not_addressee");
const NORSN: Exp = Exp::Invalid("error.required");

/// The reading use cases: the columns of [`READ_MATRIX`], in order.
///
/// ```text
///  open  = open_patient         team  = team                 notes = emergency_notices      alog  = access_log
///  page  = patient_page         tview = team_view            esum  = emergency_summary      discl = disclosure
///  tline = timeline             consn = consents             epage = emergency_page         esrch = emergency_search
///  vital = vitals_series        chist = consent_history      live  = subscribe (live.rs)    entry = entry_view (live.rs)
/// ```
const READS: [UseCase; 16] = [
    U::OpenPatient,
    U::PatientPage,
    U::Timeline,
    U::Subscribe,
    U::EntryView,
    U::VitalsSeries,
    U::Team,
    U::TeamView,
    U::Consents,
    U::ConsentHistory,
    U::EmergencyNotices,
    U::EmergencySummary,
    U::EmergencyPage,
    U::AccessLog,
    U::Disclosure,
    U::EmergencySearch,
];

/// THE TABLE, part 1: who may read what. `NONE`: the search answers nothing (and the refusal
/// is in the log).
#[rustfmt::skip]
const READ_MATRIX: &[(Who, [Exp; 16])] = &[
    //                            open  page  tline live  entry vital team  tview consn chist notes esum  epage alog  discl esrch
    (Who::Attending,             [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   NONE]),
    (Who::SubAttending,          [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   FORB, FORB, NONE]),
    (Who::Member,                [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   FORB, FORB, NONE]),
    (Who::Pending,               [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::Refused,               [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::Removed,               [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::Ended,                 [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::AfterWithdrawal,       [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::AttendingAfterWithdrawal,
                                 [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   NONE]),
    (Who::NonMember,             [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::EmergencyNoReason,     [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  OK]),
    (Who::EmergencyOpen,         [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  OK,   OK,   HID,  HID,  OK]),
    (Who::EmergencyExpired,      [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  OK]),
    (Who::Admin,                 [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::CityOfficial,          [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::Commissioner,          [HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  HID,  NONE]),
    (Who::ReadOnlyToken,         [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   FORB, FORB, NONE]),
];

/// The writing use cases: the columns of [`WRITE_MATRIX`], in order.
///
/// ```text
///  write = write_entry (a visit)          cons- = withdraw_consent            leave = end_membership (oneself)
///  corr  = entry_to_correct (the nurse's  cons✓ = withdraw_consent_confirmed  join  = request_to_join
///          message)                       add   = add_member (a care manager) er    = open_emergency (a reason)
///  ack   = acknowledge (the nurse's       decid = decide_member (approve the  er∅   = open_emergency (no reason)
///          message to 山田)                       pending pharmacist)
///  cons+ = record_consent                 end   = end_membership (remove the helper)
/// ```
const WRITES: [UseCase; 13] = [
    U::WriteEntry,
    U::EntryToCorrect,
    U::Acknowledge,
    U::RecordConsent,
    U::WithdrawConsent,
    U::WithdrawConsentConfirmed,
    U::AddMember,
    U::DecideMember,
    U::EndMembership,
    U::Leave,
    U::RequestToJoin,
    U::OpenEmergency,
    U::OpenEmergencyNoReason,
];

/// THE TABLE, part 2: who may write what. `ACT`/`PEND`/`GONE`: done, and the person it is
/// about (the one added, the pharmacist, the helper, oneself) is now active / pending / removed.
/// `DECL`: answered like a missing patient, nothing recorded. `NOCON`: no consent in force.
/// `NOADR`: not the addressee. `NORSN`: no reason stated.
#[rustfmt::skip]
const WRITE_MATRIX: &[(Who, [Exp; 13])] = &[
    //                            write corr  ack    cons+ cons-  cons✓  add    decid  end   leave join  er    er∅
    (Who::Attending,             [OK,   HID,  OK,    OK,   OK,    OK,    ACT,   ACT,   GONE, FORB, DECL, HID,  HID]),
    (Who::SubAttending,          [OK,   HID,  NOADR, OK,   OK,    OK,    ACT,   ACT,   GONE, GONE, DECL, HID,  HID]),
    (Who::Member,                [OK,   OK,   NOADR, FORB, FORB,  FORB,  PEND,  FORB,  FORB, GONE, DECL, HID,  HID]),
    (Who::Pending,               [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  DECL, HID,  HID]),
    (Who::Refused,               [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, HID,  HID]),
    (Who::Removed,               [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, HID,  HID]),
    (Who::Ended,                 [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, HID,  HID]),
    (Who::AfterWithdrawal,       [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  DECL, HID,  HID]),
    (Who::AttendingAfterWithdrawal,
                                 [OK,   HID,  OK,    OK,   NOCON, NOCON, NOCON, NOCON, GONE, FORB, DECL, HID,  HID]),
    (Who::NonMember,             [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, HID,  HID]),
    (Who::EmergencyNoReason,     [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, OK,   NORSN]),
    (Who::EmergencyOpen,         [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, OK,   NORSN]),
    (Who::EmergencyExpired,      [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  PEND, OK,   NORSN]),
    (Who::Admin,                 [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  DECL, HID,  HID]),
    (Who::CityOfficial,          [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  DECL, HID,  HID]),
    (Who::Commissioner,          [HID,  HID,  HID,   HID,  HID,   HID,   HID,   HID,   HID,  HID,  DECL, HID,  HID]),
    (Who::ReadOnlyToken,         [RO,   RO,   RO,    RO,   RO,    RO,    RO,    RO,    RO,   RO,   RO,   HID,  HID]),
];

/// Both tables as (person, use case, expected) rows, column by column.
fn rows() -> Vec<(Who, UseCase, Exp)> {
    let mut out = Vec::new();
    for (col, u) in READS.iter().enumerate() {
        out.extend(READ_MATRIX.iter().map(|(who, row)| (*who, *u, row[col])));
    }
    for (col, u) in WRITES.iter().enumerate() {
        out.extend(WRITE_MATRIX.iter().map(|(who, row)| (*who, *u, row[col])));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The world

/// One test application on one backend, the demo region loaded, the extra people added.
struct Ctx {
    app: App,
    clock: FixedClock,
    backend: String,
    actors: Vec<(Who, Actor)>,
    _db: TestDb,
}

/// A patient of the world and what the use cases are pointed at.
#[derive(Debug, Clone)]
struct Chart {
    id: String,
    /// The nurse's message to the attending physician, needing a reply.
    message_id: String,
}

struct World {
    /// Consent in force, the full team.
    p: Chart,
    /// The same, but the consent was withdrawn.
    w: Chart,
}

async fn ctx(db: TestDb) -> Ctx {
    let clock = FixedClock::at(START);
    let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
    let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
    app.load_demo(PASSWORD).await.expect("demo");
    let orgs = app.store.list_organisations().await.unwrap();
    for (login, name, kana, profession, org) in EXTRA_PEOPLE {
        let org = orgs.iter().find(|o| o.name == *org).unwrap_or_else(|| panic!("no organisation {org}"));
        app.add_person_with_password(
            NewPerson {
                login: (*login).into(),
                display_name: (*name).into(),
                display_name_kana: (*kana).into(),
                profession: (*profession).into(),
                organisation_ids: vec![org.id.clone()],
                ..Default::default()
            },
            PASSWORD,
        )
        .await
        .unwrap();
    }
    let token = app.create_token(None, "nurse", "matrix", 366 * 24 * 3600, true).await.unwrap();
    let mut actors = Vec::new();
    for (who, _) in READ_MATRIX {
        let actor = if *who == Who::ReadOnlyToken {
            app.authenticate_token(&token, None).await.unwrap()
        } else {
            session(&app, who.login()).await
        };
        actors.push((*who, actor));
    }
    Ctx { app, clock, backend: format!("{:?}", db.backend), actors, _db: db }
}

async fn session(app: &App, login: &str) -> Actor {
    let u = app.store.user_by_login(login).await.unwrap().unwrap_or_else(|| panic!("no account {login}"));
    app.actor(&u.id, AuthVia::Session { token_hash: format!("matrix-{login}") }, None).await.unwrap()
}

impl Ctx {
    fn actor(&self, who: Who) -> &Actor {
        &self.actors.iter().find(|(w, _)| *w == who).unwrap().1
    }

    async fn user_id(&self, login: &str) -> String {
        self.app.store.user_by_login(login).await.unwrap().unwrap().id
    }

    /// The Japan-time date `days` from now.
    fn date(&self, days: i64) -> String {
        self.clock.now().plus_seconds(days * 86_400).jst_minutes()[..10].to_string()
    }

    /// A patient of 山田 with consent and a full team: sub-attending, nurse and helper active,
    /// the pharmacist pending, one nurse refused, one removed, one with an end date tomorrow.
    async fn chart(&self, name: &str) -> Chart {
        let app = &self.app;
        let doctor = self.actor(Who::Attending);
        let b = &self.backend;
        let created = app
            .register_patient(
                doctor,
                NewPatient {
                    name: name.into(),
                    name_kana: KANA.into(),
                    birth_date: BIRTH_DATE.into(),
                    sex: "female".into(),
                    district: "野町".into(),
                    confirmed_not_duplicate: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{b}: register: {e:?}"));
        let Registered::Created(p) = created else { panic!("{b}: not registered") };
        let id = p.id;
        let consent = NewConsent {
            consenter: "patient".into(),
            consented_on: self.date(-1),
            scope: "在宅医療・介護の多職種連携".into(),
            ..Default::default()
        };
        app.record_consent(doctor, &id, consent).await.unwrap_or_else(|e| panic!("{b}: consent: {e:?}"));
        for (login, role) in [
            ("physician2", "sub_attending"),
            ("nurse", ""),
            ("helper", ""),
            ("mx-removed", ""),
            ("mx-ended", ""),
        ] {
            app.add_member(doctor, &id, login, role)
                .await
                .unwrap_or_else(|e| panic!("{b}: add {login}: {e:?}"));
        }
        for who in [Who::Pending, Who::Refused] {
            app.request_to_join(self.actor(who), &id).await.unwrap();
        }
        let refused = self.user_id("mx-refused").await;
        app.decide_member(doctor, &id, &refused, false)
            .await
            .unwrap_or_else(|e| panic!("{b}: refuse: {e:?}"));
        let removed = self.user_id("mx-removed").await;
        app.end_membership(doctor, &id, &removed, None)
            .await
            .unwrap_or_else(|e| panic!("{b}: remove: {e:?}"));
        let ended = self.user_id("mx-ended").await;
        app.end_membership(doctor, &id, &ended, Some(&self.date(1)))
            .await
            .unwrap_or_else(|e| panic!("{b}: end date: {e:?}"));
        let entry = NewEntry {
            kind: "message".into(),
            body: "来週の訪問日についてご相談があります。".into(),
            needs_reply: true,
            addressee_login: "physician".into(),
            ..Default::default()
        };
        let message = app.write_entry(self.actor(Who::Member), &id, entry).await.unwrap();
        let vitals = NewEntry {
            kind: "vitals".into(),
            vitals: vec![("systolic_bp".into(), "128".into()), ("spo2".into(), "97".into())],
            ..Default::default()
        };
        app.write_entry(self.actor(Who::Member), &id, vitals).await.unwrap();
        Chart { id, message_id: message.id }
    }

    /// A fresh world: P and W, W's consent withdrawn, one emergency view opened and left to
    /// expire, two days on, another opened.
    async fn world(&self) -> World {
        let b = &self.backend;
        let p = self.chart("照合 花子").await;
        let w = self.chart("撤回 花子").await;
        self.app
            .withdraw_consent(self.actor(Who::Attending), &w.id, "本人の申し出により撤回")
            .await
            .unwrap_or_else(|e| panic!("{b}: withdraw: {e:?}"));
        self.app.open_emergency(self.actor(Who::EmergencyExpired), &p.id, "救急搬送時の確認").await.unwrap();
        self.clock.advance_seconds(49 * 3600);
        self.app.open_emergency(self.actor(Who::EmergencyOpen), &p.id, "救急搬送時の確認").await.unwrap();
        World { p, w }
    }

    /// Calls one use case as `actor` about patient `pid`; `chart` names the targets.
    async fn call(&self, u: UseCase, actor: &Actor, pid: &str, chart: &Chart) -> Result<Answer, AppError> {
        let app = &self.app;
        let page = EntryFilter { limit: 5, ..Default::default() };
        match u {
            U::OpenPatient => app.open_patient(actor, pid).await.map(done),
            U::PatientPage => app.patient_page(actor, pid, Some(page)).await.map(done),
            U::Timeline => app.timeline(actor, pid, page).await.map(done),
            U::Subscribe => app.subscribe(actor, pid).await.map(done),
            U::EntryView => app.entry_view(actor, pid, &chart.message_id).await.map(done),
            U::VitalsSeries => app.vitals_series(actor, pid, 4).await.map(done),
            U::Team => app.team(actor, pid).await.map(done),
            U::TeamView => app.team_view(actor, pid).await.map(done),
            U::Consents => app.consents(actor, pid).await.map(done),
            U::ConsentHistory => app.consent_history(actor, pid).await.map(done),
            U::EmergencyNotices => app.emergency_notices(actor, pid).await.map(done),
            U::EmergencySummary => app.emergency_summary(actor, pid).await.map(done),
            U::EmergencyPage => app.emergency_page(actor, pid).await.map(done),
            U::AccessLog => app.access_log(actor, pid).await.map(done),
            U::Disclosure => app.disclosure(actor, pid, "", "").await.map(done),
            U::EmergencySearch => app
                .emergency_search(actor, KANA, BIRTH_DATE)
                .await
                .map(|found| if found.is_empty() { Answer::Nothing } else { Answer::Done }),
            U::WriteEntry => {
                let e = NewEntry {
                    kind: "visit".into(),
                    body: "訪問。変わりなし。".into(),
                    ..Default::default()
                };
                app.write_entry(actor, pid, e).await.map(done)
            }
            U::EntryToCorrect => app.entry_to_correct(actor, pid, &chart.message_id).await.map(done),
            U::Acknowledge => app.acknowledge(actor, pid, &chart.message_id).await.map(done),
            U::RecordConsent => {
                let c = NewConsent {
                    consenter: "proxy".into(),
                    proxy_name: "照合 一郎".into(),
                    proxy_relation: "長男".into(),
                    consented_on: self.date(0),
                    scope: "在宅医療・介護の多職種連携".into(),
                    form: None,
                };
                app.record_consent(actor, pid, c).await.map(done)
            }
            U::WithdrawConsent => app.withdraw_consent(actor, pid, "家族の申し出").await.map(done),
            U::WithdrawConsentConfirmed => {
                app.withdraw_consent_confirmed(actor, pid, "家族の申し出", true).await.map(done)
            }
            U::AddMember => app.add_member(actor, pid, "mx-candidate", "").await.map(done),
            U::DecideMember => {
                app.decide_member(actor, pid, &self.user_id("pharmacist").await, true).await.map(done)
            }
            U::EndMembership => {
                app.end_membership(actor, pid, &self.user_id("helper").await, None).await.map(done)
            }
            U::Leave => app.end_membership(actor, pid, &actor.user_id, None).await.map(done),
            U::RequestToJoin => app.request_to_join(actor, pid).await.map(done),
            U::OpenEmergency => app.open_emergency(actor, pid, "意識障害で救急搬送").await.map(done),
            U::OpenEmergencyNoReason => app.open_emergency(actor, pid, "").await.map(done),
        }
    }

    /// The team status of the person a use case is about, if it is about one.
    async fn status_of_subject(&self, u: UseCase, actor: &Actor, pid: &str) -> Option<Option<String>> {
        let login = match u {
            U::AddMember => "mx-candidate".to_string(),
            U::DecideMember => "pharmacist".into(),
            U::EndMembership => "helper".into(),
            U::Leave | U::RequestToJoin => actor.login.clone(),
            _ => return None,
        };
        let uid = self.user_id(&login).await;
        Some(self.app.store.membership(pid, &uid).await.unwrap().map(|m| m.status))
    }

    async fn audit_seq(&self) -> i64 {
        self.app.store.audit_head().await.unwrap().seq
    }

    async fn audit_since(&self, seq: i64) -> Vec<StoredEvent> {
        self.app.store.audit_events_after(seq, 10_000).await.unwrap()
    }
}

/// What a use case answered, its payload dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Done,
    /// An empty list.
    Nothing,
}

fn done<T>(_: T) -> Answer {
    Answer::Done
}

fn answer(r: &Result<Answer, AppError>) -> String {
    match r {
        Ok(a) => format!("{a:?}"),
        Err(AppError::Invalid(inv)) => {
            format!(
                "Invalid({})",
                inv.0.iter().map(|e| format!("{}:{}", e.field, e.code)).collect::<Vec<_>>().join(",")
            )
        }
        Err(e) => format!("{e:?}"),
    }
}

/// Events in short: `action/outcome@patient`.
fn brief(events: &[StoredEvent]) -> String {
    let v: Vec<String> = events
        .iter()
        .map(|e| {
            let p = e.event.patient_id.as_deref().map(|p| &p[p.len().saturating_sub(4)..]).unwrap_or("-");
            format!("{}/{}@{p}", e.event.action, e.event.outcome)
        })
        .collect();
    format!("[{}]", v.join(", "))
}

fn answers_as_expected(exp: Exp, r: &Result<Answer, AppError>) -> bool {
    match (exp, r) {
        (Exp::Ok | Exp::Now(_) | Exp::Declined, Ok(Answer::Done)) => true,
        (Exp::Empty, Ok(Answer::Nothing)) => true,
        (Exp::Hidden, Err(AppError::NotFound)) => true,
        (Exp::Forbidden, Err(AppError::Forbidden)) => true,
        (Exp::ReadOnly, Err(AppError::ReadOnly)) => true,
        (Exp::Invalid(code), Err(AppError::Invalid(inv))) => inv.0.iter().any(|e| e.code == code),
        _ => false,
    }
}

/// Runs every row of the matrix on one backend; returns the rows that went wrong.
async fn run_matrix(c: &Ctx) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut world: Option<World> = None;
    for (who, u, exp) in rows() {
        if world.is_none() {
            world = Some(c.world().await);
        }
        let Some(w) = world.as_ref() else { unreachable!() };
        let chart = if who.on_withdrawn() { w.w.clone() } else { w.p.clone() };
        let actor = c.actor(who);
        let at = format!("{}: {who:?} × {u:?}", c.backend);

        let before_status = c.status_of_subject(u, actor, &chart.id).await;
        let seq = c.audit_seq().await;
        let r = c.call(u, actor, &chart.id, &chart).await;
        let events = c.audit_since(seq).await;
        let after_status = c.status_of_subject(u, actor, &chart.id).await;

        if !answers_as_expected(exp, &r) {
            wrong.push(format!("{at}: expected {exp:?}, got {}", answer(&r)));
        }
        let mine = |e: &&StoredEvent| e.event.actor_id.as_deref() == Some(actor.user_id.as_str());
        let about_patient = |e: &&StoredEvent| e.event.patient_id.as_deref() == Some(chart.id.as_str());
        let succeeded =
            events.iter().filter(mine).filter(about_patient).filter(|e| e.event.outcome == "success").count();
        let refused = |about: bool| {
            events
                .iter()
                .filter(mine)
                .filter(|e| !about || about_patient(e))
                .filter(|e| e.event.action == "access.refused")
                .count()
        };
        match (exp, &r) {
            (Exp::Ok | Exp::Now(_), Ok(_)) if succeeded == 0 => {
                wrong.push(format!(
                    "{at}: succeeded without an audit event naming the patient: {}",
                    brief(&events)
                ));
            }
            (Exp::Declined, Ok(_)) => {
                let recorded =
                    events.iter().filter(mine).filter(about_patient).any(|e| e.event.outcome == "refused");
                if !recorded || succeeded > 0 {
                    wrong.push(format!(
                        "{at}: a declined request is audited as a refusal: {}",
                        brief(&events)
                    ));
                }
            }
            (Exp::Empty, Ok(_)) if refused(false) == 0 => {
                wrong.push(format!(
                    "{at}: an empty answer without an access.refused event: {}",
                    brief(&events)
                ));
            }
            (Exp::Hidden | Exp::Forbidden | Exp::ReadOnly, Err(_)) if refused(true) == 0 => {
                wrong.push(format!(
                    "{at}: refused without an access.refused event naming the patient: {}",
                    brief(&events)
                ));
            }
            _ => {}
        }
        if !matches!(r, Ok(Answer::Done)) && succeeded > 0 {
            wrong.push(format!("{at}: refused, yet a success was audited: {}", brief(&events)));
        }
        match exp {
            Exp::Now(s) if r.is_ok() && after_status != Some(Some(s.to_string())) => {
                wrong.push(format!("{at}: expected the status {s}, found {after_status:?}"));
            }
            Exp::Declined | Exp::Hidden | Exp::Forbidden | Exp::ReadOnly | Exp::Invalid(_)
                if before_status != after_status =>
            {
                wrong.push(format!("{at}: changed the team ({before_status:?} → {after_status:?})"));
            }
            _ => {}
        }

        // Hidden is hidden: a random UUID and a malformed id get the same answer (and the
        // uniform answer of a request to join, too), and the refusal is in the log.
        if matches!(exp, Exp::Hidden | Exp::Declined) || (u == U::RequestToJoin && r.is_ok()) {
            for other in [RANDOM_ID, MALFORMED_ID] {
                let seq = c.audit_seq().await;
                let r2 = c.call(u, actor, other, &chart).await;
                if answer(&r2) != answer(&r) {
                    wrong.push(format!(
                        "{at}: {} for {other:?} but {} for the patient",
                        answer(&r2),
                        answer(&r)
                    ));
                }
                let events = c.audit_since(seq).await;
                let audited = events.iter().filter(mine).any(|e| e.event.outcome == "refused");
                if !audited {
                    wrong.push(format!("{at}: no refusal audited for {other:?}: {}", brief(&events)));
                }
            }
        }

        if u.changes_things() && r.is_ok() {
            world = None;
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patient_use_case_answers_every_kind_of_person_as_the_matrix_says() {
    // The tables are complete: every kind of person once, in the same order in both.
    let people: Vec<Who> = READ_MATRIX.iter().map(|(w, _)| *w).collect();
    assert_eq!(people.len(), 17);
    assert_eq!(people, WRITE_MATRIX.iter().map(|(w, _)| *w).collect::<Vec<_>>());
    for (i, a) in people.iter().enumerate() {
        assert!(!people[i + 1..].contains(a), "{a:?} twice in the matrix");
    }
    let mut wrong = Vec::new();
    for db in testing::all().await {
        let c = ctx(db).await;
        wrong.extend(run_matrix(&c).await);
        let report = c.app.verify_audit(vec![]).await.unwrap();
        assert!(report.findings.is_empty(), "{}: {:?}", c.backend, report.findings);
    }
    assert!(wrong.is_empty(), "{} rows went wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// The clock, not a job, ends access: a membership with an end date works until the date, an
/// emergency view until its 24 hours are up.
#[tokio::test]
async fn an_end_date_and_an_emergency_view_end_access_when_the_clock_passes_them() {
    for db in testing::all().await {
        let c = ctx(db).await;
        let b = c.backend.clone();
        let p = c.chart("時計 花子").await;
        let ended = c.actor(Who::Ended);
        let er = c.actor(Who::EmergencyOpen);
        c.app.open_emergency(er, &p.id, "救急搬送時の確認").await.unwrap();
        assert!(c.app.open_patient(ended, &p.id).await.is_ok(), "{b}: before the end date");
        assert!(c.app.emergency_summary(er, &p.id).await.is_ok(), "{b}: an open view");
        assert!(matches!(c.app.open_patient(er, &p.id).await, Err(AppError::NotFound)), "{b}: summary only");

        c.clock.advance_seconds(23 * 3600 + 59 * 60);
        assert!(c.app.emergency_summary(er, &p.id).await.is_ok(), "{b}: a minute before expiry");
        c.clock.advance_seconds(60);
        assert!(matches!(c.app.emergency_summary(er, &p.id).await, Err(AppError::NotFound)), "{b}: expired");
        // The end date (tomorrow, 00:00 in Japan) has passed too.
        assert!(matches!(c.app.open_patient(ended, &p.id).await, Err(AppError::NotFound)), "{b}: ended");
        // The team page says so: the member is still listed with the end that passed.
        let (_, team, _) = c.app.team(c.actor(Who::Attending), &p.id).await.unwrap();
        let m = team.iter().find(|m| m.login == "mx-ended").unwrap();
        assert!(m.ends_at.is_some_and(|e| e <= c.clock.now().micros()), "{b}: {m:?}");
    }
}
