//! The access matrix at the router (DESIGN §3, §5; issue 3): every patient route × every kind of
//! person → the status code, on every backend the store harness finds. The app-level matrix
//! (`crates/app/tests/access_matrix.rs`) checks the answers and the audit of each use case; this
//! one checks what a browser gets: the status, the redirect of an anonymous visitor to the login
//! page, and that a hidden patient's 404 page is byte for byte the page of a patient who does
//! not exist (but for the request id).
//!
//! To cover a new route, add a line to [`ROUTES`]: the method, the path (placeholders below), the
//! form, and the status each kind of person gets, in the order of [`PEOPLE`].
//!
//! Placeholders: `{id}` the patient (P, or W for the two persons asked about W), `{entry}` the
//! nurse's message to 山田 on it, `{file}` a photo the nurse added to it, `{pharmacist}` the
//! pending pharmacist's user id, `{helper}` the helper's user id, `{today}` and `{in30}` dates in
//! Japan time.
//!
//! Routes not (yet) in the list: `/patients/new` (registration; no patient id; who may register
//! is tested in `patients.rs`).

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use support::{Client, DEMO_PASSWORD, Page, TestApp};
use tower::ServiceExt;
use tsunagu_app::admin::NewPerson;
use tsunagu_app::attachments::Upload;
use tsunagu_app::sharing::{NewConsent, NewEntry, NewPatient, Registered};
use tsunagu_app::{Actor, AuthVia};
use tsunagu_domain::Clock;

// ---------------------------------------------------------------------------------------------
// The people: the columns of ROUTES.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Not logged in.
    Anonymous,
    /// `physician` (山田), the attending physician.
    Attending,
    /// `physician2`, sub-attending.
    SubAttending,
    /// `nurse`, an active member.
    Member,
    /// `pharmacist`, asked to join, waiting.
    Pending,
    /// A nurse whose request was refused.
    Refused,
    /// A nurse who was removed.
    Removed,
    /// A nurse whose membership's end date has passed.
    Ended,
    /// `nurse` on patient W, whose consent was withdrawn.
    AfterWithdrawal,
    /// `physician` on patient W.
    AttendingAfterWithdrawal,
    /// `caremanager`, on no team.
    NonMember,
    /// `er-physician`, of an emergency hospital, no reason stated.
    EmergencyNoReason,
    /// An emergency physician with an open emergency view.
    EmergencyOpen,
    /// An emergency physician whose view has expired.
    EmergencyExpired,
    /// `admin`.
    Admin,
    /// `city`.
    CityOfficial,
    /// `commissioner`.
    Commissioner,
}

/// The columns of [`ROUTES`], in order.
const PEOPLE: [Who; 17] = [
    Who::Anonymous,
    Who::Attending,
    Who::SubAttending,
    Who::Member,
    Who::Pending,
    Who::Refused,
    Who::Removed,
    Who::Ended,
    Who::AfterWithdrawal,
    Who::AttendingAfterWithdrawal,
    Who::NonMember,
    Who::EmergencyNoReason,
    Who::EmergencyOpen,
    Who::EmergencyExpired,
    Who::Admin,
    Who::CityOfficial,
    Who::Commissioner,
];

impl Who {
    fn login(self) -> Option<&'static str> {
        Some(match self {
            Who::Anonymous => return None,
            Who::Attending | Who::AttendingAfterWithdrawal => "physician",
            Who::SubAttending => "physician2",
            Who::Member | Who::AfterWithdrawal => "nurse",
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
        })
    }

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
// The routes: THE TABLE.

struct Route {
    method: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    /// A success changes what later rows would see (a fresh world is made before the next row).
    changes: bool,
    /// A server-sent event stream: the status and type are read, not the (endless) body.
    stream: bool,
    /// Whoever asks gets the same page for a patient who does not exist (asking to join).
    uniform: bool,
    /// The status for each person, in the order of [`PEOPLE`].
    expect: [u16; 17],
}

const fn get(path: &'static str, expect: [u16; 17]) -> Route {
    Route { method: "GET", path, form: &[], changes: false, stream: false, uniform: false, expect }
}

const fn post(path: &'static str, form: &'static [(&'static str, &'static str)], expect: [u16; 17]) -> Route {
    Route { method: "POST", path, form, changes: true, stream: false, uniform: false, expect }
}

const fn stream(path: &'static str, expect: [u16; 17]) -> Route {
    Route { stream: true, ..get(path, expect) }
}

/// A route whose answer is the same for every patient id, existing or not (asking to join).
const fn uniform(r: Route) -> Route {
    Route { uniform: true, changes: false, ..r }
}

const VISIT: &[(&str, &str)] = &[("kind", "visit"), ("body", "訪問。変わりなし。")];
const CONSENT: &[(&str, &str)] =
    &[("consenter", "patient"), ("consented_on", "{today}"), ("scope", "在宅医療・介護の多職種連携")];
const CAPTION: &[(&str, &str)] = &[("caption", "褥瘡の写真")];
const WITHDRAW: &[(&str, &str)] = &[("reason", "本人の申し出"), ("confirm", "on")];
const CANDIDATE: &[(&str, &str)] = &[("login", "mx-candidate")];
const END: &[(&str, &str)] = &[("ends_on", "{in30}")];
const REASON: &[(&str, &str)] = &[("reason", "意識障害で救急搬送")];
const SEARCH: &[(&str, &str)] = &[("name_kana", "しょうごう かんじゃ"), ("birth_date", "1938-04-01")];
const JOIN: &[(&str, &str)] = &[("patient", "{id}")];
/// Refused input (no name): members are told what to fix, nothing changes.
const EDIT: &[(&str, &str)] = &[("name", ""), ("name_kana", "しょうごう かんじゃ"), ("version", "1")];

/// Who gets what. 303 for the anonymous visitor is the redirect to `/login`; for everyone else
/// it is a done form (Post/Redirect/Get). 404 is the page of a patient who does not exist.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    //                                                         anon att  sub  mem  pend refd remd endd wdr  attW cm   erN  erO  erX  adm  city comm
    get("/patients/{id}",                                     [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/entries/{entry}/correct",             [303, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/consent",                             [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/team",                                [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/edit",                                [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/vitals",                              [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/visits",                              [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    stream("/patients/{id}/live",                             [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    // Emergency physicians without an open view get the form to state a reason, whatever the id.
    get("/patients/{id}/emergency",                           [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 200, 200, 200, 404, 404, 404]),
    get("/patients/{id}/files",                               [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/files/{file}",                        [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/files/{file}/thumb",                  [303, 200, 200, 200, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/patients/{id}/access-log",                          [303, 200, 403, 403, 404, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404]),
    get("/emergency",                                         [303, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200, 200, 200, 404, 404, 404]),
    uniform(get("/patients/{id}/join",                        [303, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200])),
    get("/join",                                              [303, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    post("/patients/{id}/edit", EDIT,                         [303, 422, 422, 422, 404, 404, 404, 404, 404, 422, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/entries", VISIT,                     [303, 303, 303, 303, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    // Sent as a plain form, without a file: members are told to choose one (the upload itself
    // is tested in files.rs).
    post("/patients/{id}/files", CAPTION,                     [303, 422, 422, 422, 404, 404, 404, 404, 404, 422, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/entries/{entry}/ack", &[],           [303, 303, 422, 422, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/consent", CONSENT,                   [303, 303, 303, 403, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/consent/withdraw", WITHDRAW,         [303, 303, 303, 403, 404, 404, 404, 404, 404, 422, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/add", CANDIDATE,                [303, 303, 303, 303, 404, 404, 404, 404, 404, 422, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/{pharmacist}/approve", &[],     [303, 303, 303, 403, 404, 404, 404, 404, 404, 422, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/{pharmacist}/refuse", &[],      [303, 303, 303, 403, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/{helper}/remove", &[],          [303, 303, 303, 403, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/{helper}/end", END,             [303, 303, 303, 403, 404, 404, 404, 404, 404, 303, 404, 404, 404, 404, 404, 404, 404]),
    post("/patients/{id}/team/leave", &[],                    [303, 403, 303, 303, 404, 404, 404, 404, 404, 403, 404, 404, 404, 404, 404, 404, 404]),
    uniform(post("/patients/{id}/join", &[],                  [303, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200])),
    uniform(post("/join", JOIN,                               [303, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200])),
    post("/patients/{id}/emergency", REASON,                  [303, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 303, 303, 303, 404, 404, 404]),
    post("/emergency", SEARCH,                                [303, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200, 200, 200, 404, 404, 404]),
];

const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";
const MALFORMED_ID: &str = "not-a-patient-id";
const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";

// ---------------------------------------------------------------------------------------------
// The world

#[derive(Debug, Clone)]
struct Chart {
    id: String,
    message_id: String,
    /// A photo the nurse added.
    file_id: String,
}

struct World {
    p: Chart,
    w: Chart,
    pharmacist: String,
    helper: String,
    /// Logged-in clients of this world (sessions from before the clock moved are gone).
    clients: Vec<(Who, Client)>,
}

async fn add_extra_people(t: &TestApp) {
    let orgs = t.app.store.list_organisations().await.unwrap();
    for (login, name, kana, profession, org) in EXTRA_PEOPLE {
        let org = orgs.iter().find(|o| o.name == *org).unwrap_or_else(|| panic!("no organisation {org}"));
        t.app
            .add_person_with_password(
                NewPerson {
                    login: (*login).into(),
                    display_name: (*name).into(),
                    display_name_kana: (*kana).into(),
                    profession: (*profession).into(),
                    organisation_ids: vec![org.id.clone()],
                    ..Default::default()
                },
                DEMO_PASSWORD,
            )
            .await
            .unwrap();
    }
}

/// An actor straight from the app layer, to build the world without the pages.
async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Session { token_hash: format!("matrix-{login}") }, None).await.unwrap()
}

/// The Japan-time date `days` from now.
fn date(t: &TestApp, days: i64) -> String {
    t.clock.now().plus_seconds(days * 86_400).jst_minutes()[..10].to_string()
}

/// A patient of 山田 with consent and a full team (as in the app-level matrix).
async fn chart(t: &TestApp, name: &str) -> Chart {
    let app = &t.app;
    let doctor = actor(t, "physician").await;
    let Registered::Created(p) = app
        .register_patient(
            &doctor,
            NewPatient {
                name: name.into(),
                name_kana: "しょうごう かんじゃ".into(),
                birth_date: "1938-04-01".into(),
                sex: "female".into(),
                district: "野町".into(),
                confirmed_not_duplicate: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("not registered")
    };
    let id = p.id;
    let consent = NewConsent {
        consenter: "patient".into(),
        consented_on: date(t, -1),
        scope: "在宅医療・介護の多職種連携".into(),
        ..Default::default()
    };
    app.record_consent(&doctor, &id, consent).await.unwrap();
    for (login, role) in
        [("physician2", "sub_attending"), ("nurse", ""), ("helper", ""), ("mx-removed", ""), ("mx-ended", "")]
    {
        app.add_member(&doctor, &id, login, role).await.unwrap();
    }
    for login in ["pharmacist", "mx-refused"] {
        app.request_to_join(&actor(t, login).await, &id).await.unwrap();
    }
    app.decide_member(&doctor, &id, &t.user_id("mx-refused").await, false).await.unwrap();
    app.end_membership(&doctor, &id, &t.user_id("mx-removed").await, None).await.unwrap();
    app.end_membership(&doctor, &id, &t.user_id("mx-ended").await, Some(&date(t, 1))).await.unwrap();
    let nurse = actor(t, "nurse").await;
    let message = NewEntry {
        kind: "message".into(),
        body: "来週の訪問日についてご相談があります。".into(),
        needs_reply: true,
        addressee_login: "physician".into(),
        ..Default::default()
    };
    let message = app.write_entry(&nurse, &id, message).await.unwrap();
    let vitals = NewEntry {
        kind: "vitals".into(),
        vitals: vec![("systolic_bp".into(), "128".into()), ("spo2".into(), "97".into())],
        ..Default::default()
    };
    app.write_entry(&nurse, &id, vitals).await.unwrap();
    let photo = Upload { name: "photo.png".into(), bytes: support::TINY_PNG.to_vec() };
    let photo = app.upload_file(&nurse, &id, photo, "").await.unwrap();
    let file_id = tsunagu_app::attachments::file_of(&photo).unwrap().attachment_id;
    Chart { id, message_id: message.id, file_id }
}

/// P and W (consent withdrawn); an emergency view left to expire; two days on; another opened.
async fn world(t: &TestApp) -> World {
    let p = chart(t, "照合 花子").await;
    let w = chart(t, "撤回 花子").await;
    let doctor = actor(t, "physician").await;
    t.app.withdraw_consent(&doctor, &w.id, "本人の申し出により撤回").await.unwrap();
    t.app.open_emergency(&actor(t, "mx-er-expired").await, &p.id, "救急搬送時の確認").await.unwrap();
    t.clock.advance_seconds(49 * 3600);
    t.app.open_emergency(&actor(t, "mx-er-open").await, &p.id, "救急搬送時の確認").await.unwrap();
    World {
        p,
        w,
        pharmacist: t.user_id("pharmacist").await,
        helper: t.user_id("helper").await,
        clients: Vec::new(),
    }
}

impl World {
    fn chart(&self, who: Who) -> &Chart {
        if who.on_withdrawn() { &self.w } else { &self.p }
    }

    /// The path (or form value) with its placeholders filled for `who`, the patient id as `id`.
    fn fill(&self, t: &TestApp, s: &str, who: Who, id: &str) -> String {
        s.replace("{id}", id)
            .replace("{entry}", &self.chart(who).message_id)
            .replace("{file}", &self.chart(who).file_id)
            .replace("{pharmacist}", &self.pharmacist)
            .replace("{helper}", &self.helper)
            .replace("{today}", &date(t, 0))
            .replace("{in30}", &date(t, 30))
    }

    async fn client(&mut self, t: &TestApp, who: Who) -> &mut Client {
        if !self.clients.iter().any(|(w, _)| *w == who) {
            let c = match who.login() {
                Some(login) => t.login(login).await,
                None => t.client(),
            };
            self.clients.push((who, c));
        }
        &mut self.clients.iter_mut().find(|(w, _)| *w == who).unwrap().1
    }
}

// ---------------------------------------------------------------------------------------------
// Asking

/// What came back, read.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    content_type: Option<String>,
    /// The page without its request id.
    body: String,
    what: String,
}

/// The page with the request id (the one thing that differs between two answers) cut out.
fn without_request_id(body: &str) -> String {
    let mut out = body.to_string();
    while let (Some(a), Some(b)) = (out.find("<code>"), out.find("</code>")) {
        if b < a {
            break;
        }
        out.replace_range(a..b + "</code>".len(), "");
    }
    out
}

fn read(p: &Page) -> Answer {
    Answer {
        status: p.status,
        location: p.header("location").map(str::to_string),
        content_type: p.header("content-type").map(str::to_string),
        body: without_request_id(&p.body),
        what: p.what.clone(),
    }
}

async fn ask(t: &TestApp, c: &mut Client, r: &Route, path: &str, form: &[(String, String)]) -> Answer {
    if r.stream {
        // Only the head: the body of a stream does not end.
        let mut req = Request::builder().method(Method::GET).uri(path).body(Body::empty()).unwrap();
        let session = tsunagu_web::session::SESSION_COOKIE;
        if let Some(v) = c.cookie(session) {
            req.headers_mut().insert(header::COOKIE, format!("{session}={v}").parse().unwrap());
        }
        if let Some(a) = c.address {
            req.extensions_mut().insert(ConnectInfo(a));
        }
        let res = t.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type =
            res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = if status == StatusCode::OK {
            String::new()
        } else {
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
            without_request_id(&String::from_utf8_lossy(&bytes))
        };
        return Answer { status, location, content_type, body, what: format!("GET {path}") };
    }
    if r.method == "GET" {
        read(&c.get(path).await)
    } else {
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        read(&c.post_form(path, &fields).await)
    }
}

fn not_found_message(a: &Answer) -> Option<String> {
    let html = scraper::Html::parse_document(&a.body);
    let sel = scraper::Selector::parse(".error-message").unwrap();
    html.select(&sel).next().map(|e| e.text().collect::<String>().trim().to_string())
}

/// Runs every row on one backend; returns what went wrong.
async fn run(t: &TestApp) -> Vec<String> {
    let b = t.name();
    let mut wrong = Vec::new();
    let mut world: Option<World> = None;
    for r in ROUTES {
        for (col, who) in PEOPLE.iter().enumerate() {
            let want = r.expect[col];
            if world.is_none() {
                world = Some(self::world(t).await);
            }
            let w = world.as_mut().unwrap();
            let id = w.chart(*who).id.clone();
            let path = w.fill(t, r.path, *who, &id);
            let form: Vec<(String, String)> =
                r.form.iter().map(|(k, v)| ((*k).to_string(), w.fill(t, v, *who, &id))).collect();
            let c = w.client(t, *who).await;
            let a = ask(t, c, r, &path, &form).await;
            let at = format!("{b}: {who:?} × {} {}", r.method, r.path);

            if a.status.as_u16() != want {
                wrong.push(format!(
                    "{at}: expected {want}, got {} ({})",
                    a.status,
                    a.location.unwrap_or_default()
                ));
                continue;
            }
            let to_login = a.location.as_deref() == Some("/login");
            match (want, *who) {
                (303, Who::Anonymous) if !to_login => {
                    wrong.push(format!("{at}: not sent to the login page: {:?}", a.location));
                }
                (303, w) if w != Who::Anonymous && to_login => {
                    wrong.push(format!("{at}: a logged-in person sent to the login page"));
                }
                (200, _) if r.stream && a.content_type.as_deref() != Some("text/event-stream") => {
                    wrong.push(format!("{at}: not an event stream: {:?}", a.content_type));
                }
                (404, _) if not_found_message(&a).as_deref() != Some(NOT_FOUND_MESSAGE) => {
                    wrong.push(format!("{at}: not the not-found page: {:?}", not_found_message(&a)));
                }
                _ => {}
            }

            // A hidden patient is a missing patient: the same page, to the byte (but for the
            // request id), as for a random id and a malformed one. Asking to join answers
            // everyone alike.
            let compare = (want == 404 && r.path.contains("{id}")) || (r.uniform && *who != Who::Anonymous);
            if compare {
                for other in [RANDOM_ID, MALFORMED_ID] {
                    let path = w.fill(t, r.path, *who, other);
                    let form: Vec<(String, String)> =
                        r.form.iter().map(|(k, v)| ((*k).to_string(), w.fill(t, v, *who, other))).collect();
                    let c = w.client(t, *who).await;
                    let o = ask(t, c, r, &path, &form).await;
                    let same_page = if r.uniform {
                        // The page may repeat the id it was given (the link, the address): compare
                        // the rest.
                        o.body.replace(other, "") == a.body.replace(&id, "")
                    } else {
                        o.body == a.body
                    };
                    if o.status != a.status || !same_page {
                        wrong.push(format!(
                            "{at}: {} for {other:?} ({}) differs from the patient's {} ({})",
                            o.status, o.what, a.status, a.what
                        ));
                    }
                }
            }

            let done =
                (a.status == StatusCode::SEE_OTHER && *who != Who::Anonymous) || a.status == StatusCode::OK;
            if r.changes && done {
                world = None;
            }
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patient_route_answers_every_kind_of_person_as_the_matrix_says() {
    let mut wrong = Vec::new();
    for t in support::all().await {
        add_extra_people(&t).await;
        wrong.extend(run(&t).await);
        t.assert_audit_chain_intact().await;
    }
    assert!(wrong.is_empty(), "{} rows went wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// The routes that exist are in the table: a patient route added to the router and forgotten
/// here shows up as a failure (its path is listed in `pages/mod.rs`).
#[test]
fn every_patient_route_of_the_router_is_in_the_table() {
    let src = include_str!("../src/pages/mod.rs");
    let mut missing = Vec::new();
    for line in src.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.trim_start_matches(".route(\"").split('"').next().unwrap_or_default();
        let patient_route = path.starts_with("/patients/{id}") || path == "/join" || path == "/emergency";
        if !patient_route {
            continue;
        }
        // Path parameters may be named differently in the router ({entry}, {user}…).
        let shape = |p: &str| -> String {
            p.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
        };
        let methods: Vec<&str> = ["get(", "post("].into_iter().filter(|m| line.contains(m)).collect();
        for m in methods {
            let method = if m == "get(" { "GET" } else { "POST" };
            if !ROUTES.iter().any(|r| r.method == method && shape(r.path) == shape(path)) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "patient routes missing from the access matrix: {missing:?}");
}
