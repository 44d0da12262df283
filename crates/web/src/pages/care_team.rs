//! The care-team pages (issue 3: consent, the team, joining, the emergency view and search, the
//! disclosure printout). Every handler calls one use case of `tsunagu_app::sharing` and renders
//! its answer; access is decided there, never here. A person who may not see a patient gets the
//! same 404 page as for a patient who does not exist.
//!
//! For other pages: [`emergency_notices`] gives the notices of emergency views opened on a
//! patient, ready for the `emergency_notices.html` include (see there).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::sharing::{
    Candidate, ConsentView, DisclosureLine, EmergencyNotice, Found, NewConsent, Opened, PersonCard,
    TeamEventView, TeamMemberView, jst,
};
use tsunagu_app::{Actor, App, AppError};
use tsunagu_domain::sharing::{Access, TeamRole};

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

/// The patient as the care-team pages show them at the top, with the links between the pages.
pub struct Head {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub birth_date: String,
    /// The actor is the attending physician (the access log is theirs).
    pub is_attending: bool,
    /// The actor admits the team and keeps the consent (attending or sub-attending).
    pub can_manage: bool,
    /// The actor is a team member (not an emergency physician reading the summary).
    pub is_member: bool,
}

impl Head {
    fn of(o: &Opened) -> Head {
        Head {
            id: o.patient.id.clone(),
            name: o.patient.name.clone(),
            name_kana: o.patient.name_kana.clone(),
            birth_date: o.patient.birth_date.clone(),
            is_attending: o.access == Access::Member(TeamRole::Attending),
            can_manage: o.access.can_manage_team(),
            is_member: o.access.can_read(),
        }
    }
}

/// A notice of an emergency view, ready to show.
pub struct NoticeView {
    pub who: String,
    pub profession: String,
    pub organisation: String,
    pub opened_at: String,
    pub expires_at: String,
    pub reason: String,
    /// The view is still open.
    pub open: bool,
}

fn notice_view(n: &EmergencyNotice, now: i64) -> NoticeView {
    NoticeView {
        who: n.person.name.clone(),
        profession: n.person.profession.clone(),
        organisation: n.person.organisations.first().map(|o| o.name.clone()).unwrap_or_default(),
        opened_at: jst(n.access.opened_at),
        expires_at: jst(n.access.expires_at),
        reason: n.access.reason.clone(),
        open: n.access.expires_at > now,
    }
}

/// The emergency views opened on a patient, newest first, for the notice on a patient's pages
/// (team members only: anyone else gets `NotFound`, as from every use case).
///
/// To show them, give the page struct a field `emergency_notices: Vec<NoticeView>` (and the usual
/// `p: PageCtx`) and `{% include "emergency_notices.html" %}` where the notice belongs; the
/// include shows nothing when the list is empty.
pub async fn emergency_notices(
    app: &App,
    actor: &Actor,
    patient_id: &str,
) -> Result<Vec<NoticeView>, WebError> {
    Ok(notice_views(&app.emergency_notices(actor, patient_id).await?, app.now().micros()))
}

/// Emergency notices as shown at `now` (UTC micros).
pub fn notice_views(notices: &[EmergencyNotice], now: i64) -> Vec<NoticeView> {
    notices.iter().map(|n| notice_view(n, now)).collect()
}

/// The messages a finished action may announce on the page it returns to (`?done=`).
const DONE: &[&str] = &[
    "consent_recorded",
    "consent_withdrawn",
    "member_added",
    "member_approved",
    "member_refused",
    "member_removed",
    "member_end_set",
];

#[derive(serde::Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

impl DoneQuery {
    fn key(&self) -> Option<String> {
        let d = self.done.as_deref()?;
        DONE.contains(&d).then(|| format!("care_team.done.{d}"))
    }
}

/// A 303 to a page of ours (ids come from the path: never let one break the header).
fn see_other(to: String) -> Response {
    match axum::http::HeaderValue::from_str(&to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, v)]).into_response(),
        Err(_) => Redirect::to("/").into_response(),
    }
}

fn unprocessable(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// The first profession label and organisation of a person, for lists.
fn who(t: &Tr, c: &PersonCard) -> String {
    let org = c.organisations.first().map(|o| o.name.as_str()).unwrap_or("");
    let prof = if c.profession.is_empty() { String::new() } else { t.label("profession", &c.profession) };
    match (prof.is_empty(), org.is_empty()) {
        (true, true) => String::new(),
        (false, true) => prof,
        (true, false) => org.to_string(),
        (false, false) => format!("{prof}・{org}"),
    }
}

// ---- Consent -------------------------------------------------------------------------------

#[derive(serde::Deserialize, Clone)]
pub struct ConsentForm {
    #[serde(default)]
    consenter: String,
    #[serde(default)]
    proxy_name: String,
    #[serde(default)]
    proxy_relation: String,
    #[serde(default)]
    consented_on: String,
    #[serde(default)]
    scope: String,
}

impl ConsentForm {
    fn fresh(t: &Tr) -> Self {
        ConsentForm {
            consenter: "patient".into(),
            proxy_name: String::new(),
            proxy_relation: String::new(),
            consented_on: String::new(),
            scope: t.get("consent.default_scope").to_string(),
        }
    }
}

#[derive(serde::Deserialize, Clone, Default)]
pub struct WithdrawForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    p: PageCtx,
    head: Head,
    consents: Vec<ConsentView>,
    active: bool,
    form: ConsentForm,
    withdraw: WithdrawForm,
    errors: FormErrors,
    /// Which form the errors belong to: "record" or "withdraw".
    error_form: &'static str,
    today: String,
    done: Option<String>,
}

impl ConsentPage {
    fn err(&self, form: &str, f: &str) -> Option<&str> {
        (self.error_form == form).then(|| field_error(&self.errors, f)).flatten()
    }

    fn when(&self, micros: &i64) -> String {
        jst(*micros)
    }

    fn who(&self, c: &PersonCard) -> String {
        who(&self.p.t, c)
    }
}

/// What a consent page shows besides the history: the forms as typed, their errors, a notice.
#[derive(Default)]
struct ConsentState {
    /// The record form as typed (`None`: a fresh form with the default scope).
    form: Option<ConsentForm>,
    withdraw: WithdrawForm,
    errors: FormErrors,
    /// Which form the errors belong to: "record" or "withdraw".
    error_form: &'static str,
    done: Option<String>,
}

async fn consent_page(s: &WebState, a: Authed, id: &str, st: ConsentState) -> Result<Response, WebError> {
    let h = s.app.consent_history(&a.actor, id).await?;
    let active = h.consents.iter().any(|c| c.consent.withdrawn_at.is_none());
    let today = s.app.now().jst_minutes().get(..10).unwrap_or_default().to_string();
    render(&ConsentPage {
        form: st.form.unwrap_or_else(|| ConsentForm::fresh(&a.page.t)),
        p: a.page,
        head: Head::of(&h.opened),
        consents: h.consents,
        active,
        withdraw: st.withdraw,
        errors: st.errors,
        error_form: st.error_form,
        today,
        done: st.done,
    })
}

/// `GET /patients/{id}/consent`: the consent history; the forms for the physicians who keep it.
pub async fn consent_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    consent_page(&s, a, &id, ConsentState { done: q.key(), ..Default::default() }).await
}

/// `POST /patients/{id}/consent`: records a consent.
pub async fn consent_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    // Multipart when the signed form is attached (see `pages::files`).
    crate::pages::files::WithFile { form: f, file }: crate::pages::files::WithFile<ConsentForm>,
) -> Result<Response, WebError> {
    let input = NewConsent {
        consenter: f.consenter.clone(),
        proxy_name: f.proxy_name.clone(),
        proxy_relation: f.proxy_relation.clone(),
        consented_on: f.consented_on.clone(),
        scope: f.scope.clone(),
        form: file,
    };
    match s.app.record_consent(&a.actor, &id, input).await {
        Ok(c) => Ok(see_other(format!("/patients/{}/consent?done=consent_recorded", c.patient_id))),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let r = consent_page(
                &s,
                a,
                &id,
                ConsentState { form: Some(f), errors, error_form: "record", ..Default::default() },
            )
            .await?;
            Ok(unprocessable(r))
        }
    }
}

/// `POST /patients/{id}/consent/withdraw`: withdraws the consent in force (reason and
/// confirmation required).
pub async fn consent_withdraw(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<WithdrawForm>,
) -> Result<Response, WebError> {
    match s.app.withdraw_consent_confirmed(&a.actor, &id, &f.reason, f.confirm.is_some()).await {
        Ok(()) => Ok(see_other(format!("/patients/{}/consent?done=consent_withdrawn", id.trim()))),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let r = consent_page(
                &s,
                a,
                &id,
                ConsentState { withdraw: f, errors, error_form: "withdraw", ..Default::default() },
            )
            .await?;
            Ok(unprocessable(r))
        }
    }
}

// ---- The team ------------------------------------------------------------------------------

#[derive(serde::Deserialize, Clone, Default)]
pub struct AddForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    role: String,
}

#[derive(serde::Deserialize, Clone, Default)]
pub struct EndForm {
    #[serde(default)]
    ends_on: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    p: PageCtx,
    head: Head,
    me: String,
    attending: PersonCard,
    /// Active members whose membership has not ended.
    active: Vec<TeamMemberView>,
    pending: Vec<TeamMemberView>,
    /// Refused, removed and ended memberships.
    former: Vec<TeamMemberView>,
    events: Vec<TeamEventView>,
    emergency_notices: Vec<NoticeView>,
    consent_active: bool,
    candidates: Vec<Candidate>,
    add: AddForm,
    errors: FormErrors,
    /// The member whose row a refused action came from.
    error_user: Option<String>,
    today: String,
    done: Option<String>,
    /// The link to hand out for asking to join.
    join_url: String,
}

impl TeamPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    /// An error of a member's row (approve, refuse, remove, end date).
    fn row_err(&self, user_id: &str) -> Option<&str> {
        if self.error_user.as_deref() != Some(user_id) {
            return None;
        }
        self.errors.first().map(|(_, m)| m.as_str())
    }

    fn when(&self, micros: &i64) -> String {
        jst(*micros)
    }

    fn date(&self, micros: &i64) -> String {
        jst(*micros).get(..10).unwrap_or_default().to_string()
    }

    fn who(&self, c: &PersonCard) -> String {
        who(&self.p.t, c)
    }

    fn role(&self, code: &str) -> String {
        self.p.t.label("team_role", code)
    }

    /// What a team event did, in words.
    fn event_label(&self, e: &TeamEventView) -> String {
        let code = match (e.event.action.as_str(), e.event.note.as_str()) {
            (_, "ends") => "ends",
            ("removed", _) if e.event.user_id == e.event.actor_id => "left",
            ("pending", _) if e.event.user_id == e.event.actor_id => "requested",
            (a, _) => a,
        };
        self.p.t.label("care_team.event", code)
    }
}

async fn team_page(
    s: &WebState,
    a: Authed,
    id: &str,
    add: AddForm,
    errors: FormErrors,
    error_user: Option<String>,
    done: Option<String>,
) -> Result<Response, WebError> {
    let v = s.app.team_view(&a.actor, id).await?;
    let now = s.app.now().micros();
    let (mut active, mut pending, mut former) = (vec![], vec![], vec![]);
    for m in v.members {
        match m.member.status.as_str() {
            "active" if m.member.ends_at.is_none_or(|e| e > now) => active.push(m),
            "pending" => pending.push(m),
            _ => former.push(m),
        }
    }
    // Sub-attending physicians first, then members in the order they joined.
    active.sort_by_key(|m| m.member.role != "sub_attending");
    render(&TeamPage {
        head: Head::of(&v.opened),
        me: a.actor.user_id.clone(),
        attending: v.attending,
        active,
        pending,
        former,
        events: v.events,
        emergency_notices: v.notices.iter().map(|n| notice_view(n, now)).collect(),
        consent_active: v.consent_active,
        candidates: v.candidates,
        add,
        errors,
        error_user,
        today: s.app.now().jst_minutes().get(..10).unwrap_or_default().to_string(),
        done,
        join_url: format!(
            "{}/patients/{}/join",
            s.app.config.public_url.trim_end_matches('/'),
            v.opened.patient.id
        ),
        p: a.page,
    })
}

/// Renders a team action's answer: back to the team page, or the page with the refusal.
async fn team_answer(
    s: &WebState,
    a: Authed,
    id: &str,
    result: Result<(), AppError>,
    done: &str,
    add: AddForm,
    error_user: Option<String>,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(see_other(format!("/patients/{}/team?done={done}", id.trim()))),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            Ok(unprocessable(team_page(s, a, id, add, errors, error_user, None).await?))
        }
    }
}

/// `GET /patients/{id}/team`.
pub async fn team_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    team_page(&s, a, &id, AddForm::default(), vec![], None, q.key()).await
}

/// `POST /patients/{id}/team/add`: invites (physicians) or proposes (everyone else) a person.
pub async fn team_add(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<AddForm>,
) -> Result<Response, WebError> {
    let r = s.app.add_member(&a.actor, &id, &f.login, &f.role).await;
    team_answer(&s, a, &id, r, "member_added", f, None).await
}

/// `POST /patients/{id}/team/{user_id}/approve`.
pub async fn team_approve(
    State(s): State<WebState>,
    a: Authed,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = s.app.decide_member(&a.actor, &id, &user, true).await;
    team_answer(&s, a, &id, r, "member_approved", AddForm::default(), Some(user)).await
}

/// `POST /patients/{id}/team/{user_id}/refuse`.
pub async fn team_refuse(
    State(s): State<WebState>,
    a: Authed,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = s.app.decide_member(&a.actor, &id, &user, false).await;
    team_answer(&s, a, &id, r, "member_refused", AddForm::default(), Some(user)).await
}

/// `POST /patients/{id}/team/{user_id}/remove`.
pub async fn team_remove(
    State(s): State<WebState>,
    a: Authed,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = s.app.end_membership(&a.actor, &id, &user, None).await;
    team_answer(&s, a, &id, r, "member_removed", AddForm::default(), Some(user)).await
}

/// `POST /patients/{id}/team/{user_id}/end`: the date the membership ends.
pub async fn team_end(
    State(s): State<WebState>,
    a: Authed,
    Path((id, user)): Path<(String, String)>,
    Form(f): Form<EndForm>,
) -> Result<Response, WebError> {
    let r = s.app.end_membership(&a.actor, &id, &user, Some(&f.ends_on)).await;
    team_answer(&s, a, &id, r, "member_end_set", AddForm::default(), Some(user)).await
}

/// `POST /patients/{id}/team/leave`: the actor leaves the team (and so the patient's pages).
pub async fn team_leave(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let me = a.actor.user_id.clone();
    match s.app.end_membership(&a.actor, &id, &me, None).await {
        Ok(()) => Ok(see_other("/".into())),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            Ok(unprocessable(team_page(&s, a, &id, AddForm::default(), errors, Some(me), None).await?))
        }
    }
}

// ---- Asking to join ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    p: PageCtx,
    /// The id from the link (the confirm form), or empty (the form with a field).
    patient: String,
    /// The request was taken (the same answer whether or not the patient exists).
    done: bool,
    error: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct JoinForm {
    #[serde(default)]
    patient: String,
}

/// The patient id in what a person pasted: the id itself, or a link that contains one.
fn patient_id_in(text: &str) -> String {
    let t = text.trim();
    let chars: Vec<(usize, char)> = t.char_indices().collect();
    for (i, &(start, _)) in chars.iter().enumerate() {
        if let Some(&(end, c)) = chars.get(i + 35) {
            let candidate = &t[start..end + c.len_utf8()];
            if uuid::Uuid::try_parse(candidate).is_ok() {
                return candidate.to_ascii_lowercase();
            }
        }
    }
    t.to_string()
}

/// `GET /join`: the form to ask to join a team with a patient id (also on the home page).
pub async fn join_form(a: Authed) -> Result<Response, WebError> {
    render(&JoinPage { p: a.page, patient: String::new(), done: false, error: None })
}

/// `POST /join`: asks to join the team of the patient whose id (or link) was typed.
pub async fn join_by_id(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<JoinForm>,
) -> Result<Response, WebError> {
    if f.patient.trim().is_empty() {
        let error = Some(a.page.t.get("join.id_required").to_string());
        return Ok(unprocessable(render(&JoinPage {
            p: a.page,
            patient: String::new(),
            done: false,
            error,
        })?));
    }
    s.app.request_to_join(&a.actor, &patient_id_in(&f.patient)).await?;
    render(&JoinPage { p: a.page, patient: String::new(), done: true, error: None })
}

/// `GET /patients/{id}/join`: the link a physician gives: a button to ask to join. Nothing
/// about the patient is looked up or shown.
pub async fn join_get(a: Authed, Path(id): Path<String>) -> Result<Response, WebError> {
    let patient = id.chars().take(40).collect();
    render(&JoinPage { p: a.page, patient, done: false, error: None })
}

/// `POST /patients/{id}/join`: the same answer whether or not the patient exists or has consent.
pub async fn join_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.app.request_to_join(&a.actor, &id).await?;
    render(&JoinPage { p: a.page, patient: String::new(), done: true, error: None })
}

// ---- The emergency view --------------------------------------------------------------------

#[derive(Template)]
#[template(path = "emergency.html")]
struct EmergencySummaryPage {
    p: PageCtx,
    head: Head,
    e: tsunagu_app::sharing::EmergencyPage,
    /// The latest vitals: (label, value with unit, measured at).
    vitals: Vec<(String, String, String)>,
    /// The latest ACP entry: (text, written at).
    acp: Option<(String, String)>,
    expires: Option<String>,
}

impl EmergencySummaryPage {
    fn who(&self, c: &PersonCard) -> String {
        who(&self.p.t, c)
    }

    fn role(&self, code: &str) -> String {
        self.p.t.label("team_role", code)
    }
}

#[derive(Template)]
#[template(path = "emergency_reason.html")]
struct EmergencyReasonPage {
    p: PageCtx,
    id: String,
    reason: String,
    error: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

/// Japan time to the second (the access log: minutes are not enough to tell events apart).
fn jst_seconds(micros: i64) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map(|t| t.to_offset(time::macros::offset!(+9)).format(&f).unwrap_or_default())
        .unwrap_or_default()
}

fn vital_value(kind: &str, v: f64) -> String {
    let unit = tsunagu_domain::sharing::VitalKind::from_code(kind).map(|k| k.display_unit()).unwrap_or("");
    let n = if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    format!("{n} {unit}")
}

/// `GET /patients/{id}/emergency`: the emergency summary for members and for an emergency
/// physician with an open view; an emergency physician without one gets the form to state a
/// reason (the same form whatever the id); everyone else the 404 page.
pub async fn emergency_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    match s.app.emergency_page(&a.actor, &id).await {
        Ok(e) => {
            let head = Head::of(&Opened {
                patient: e.summary.patient.clone(),
                access: e.summary.access,
                unseen_emergencies: false,
            });
            let vitals = e
                .summary
                .latest_vitals
                .iter()
                .map(|v| {
                    (a.page.t.label("vital", &v.kind), vital_value(&v.kind, v.value), jst(v.measured_at))
                })
                .collect();
            let acp = e.summary.acp.as_ref().map(|x| (x.body.clone(), jst(x.occurred_at)));
            let expires = e.summary.expires_at.map(jst);
            render(&EmergencySummaryPage { p: a.page, head, e, vitals, acp, expires })
        }
        Err(AppError::NotFound) if s.app.is_emergency_physician(&a.actor) => {
            let id = id.chars().take(40).collect();
            render(&EmergencyReasonPage { p: a.page, id, reason: String::new(), error: None })
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /patients/{id}/emergency`: opens the emergency view for 24 hours with a reason.
pub async fn emergency_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, WebError> {
    match s.app.open_emergency(&a.actor, &id, &f.reason).await {
        Ok(row) => Ok(see_other(format!("/patients/{}/emergency", row.patient_id))),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let error = field_error(&errors, "reason").map(str::to_string);
            let id = id.chars().take(40).collect();
            Ok(unprocessable(render(&EmergencyReasonPage { p: a.page, id, reason: f.reason, error })?))
        }
    }
}

#[derive(Template)]
#[template(path = "emergency_search.html")]
struct EmergencySearchPage {
    p: PageCtx,
    name_kana: String,
    birth_date: String,
    errors: FormErrors,
    /// `None` before a search.
    found: Option<Vec<Found>>,
}

impl EmergencySearchPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

#[derive(serde::Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    name_kana: String,
    #[serde(default)]
    birth_date: String,
}

/// `GET /emergency`: the search form, for physicians of emergency hospitals only.
pub async fn emergency_search_get(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    if !s.app.is_emergency_physician(&a.actor) {
        return Err(AppError::NotFound.into());
    }
    render(&EmergencySearchPage {
        p: a.page,
        name_kana: String::new(),
        birth_date: String::new(),
        errors: vec![],
        found: None,
    })
}

/// `POST /emergency`: finds a patient by exact kana name and birth date (both required).
/// Posted rather than a query string, so names stay out of addresses and history.
pub async fn emergency_search_post(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<SearchForm>,
) -> Result<Response, WebError> {
    let result = s.app.emergency_search(&a.actor, &f.name_kana, &f.birth_date).await;
    if !s.app.is_emergency_physician(&a.actor) {
        // The use case answered nothing and logged the refusal.
        result?;
        return Err(AppError::NotFound.into());
    }
    let (found, errors) = match result {
        Ok(found) => (Some(found), vec![]),
        Err(e) => (None, form_errors(&a.page.t, e)?),
    };
    let invalid = !errors.is_empty();
    let r = render(&EmergencySearchPage {
        p: a.page,
        name_kana: f.name_kana,
        birth_date: f.birth_date,
        errors,
        found,
    })?;
    Ok(if invalid { unprocessable(r) } else { r })
}

// ---- The disclosure printout ---------------------------------------------------------------

#[derive(serde::Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    p: PageCtx,
    head: Head,
    lines: Vec<DisclosureLine>,
    from: String,
    to: String,
    /// The period the printout covers, in words.
    period: String,
    printed_at: String,
    printed_by: String,
    errors: FormErrors,
}

impl AccessLogPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    fn when(&self, l: &DisclosureLine) -> String {
        jst_seconds(l.event.event.at.micros())
    }

    fn action(&self, l: &DisclosureLine) -> String {
        self.p.t.label("audit_action", &l.event.event.action)
    }

    fn outcome(&self, l: &DisclosureLine) -> String {
        self.p.t.label("access_log.outcomes", &l.event.event.outcome)
    }

    fn who(&self, c: &PersonCard) -> String {
        who(&self.p.t, c)
    }

    /// What the event concerned beyond its action: the person a team change was about, the
    /// reason an emergency view was opened.
    fn about(&self, l: &DisclosureLine) -> String {
        if let Some(t) = &l.target_person {
            return self.p.t.fmt("access_log.about_person", &[("name", &t.name)]);
        }
        match (l.event.event.action.as_str(), &l.event.event.detail) {
            ("emergency.opened", Some(reason)) => {
                self.p.t.fmt("access_log.about_reason", &[("reason", reason)])
            }
            _ => String::new(),
        }
    }
}

/// `GET /patients/{id}/access-log`: the printable access log for a disclosure request
/// (attending physician only; everyone else gets the 404 page).
pub async fn access_log(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, WebError> {
    let (d, errors) = match s.app.disclosure(&a.actor, &id, &q.from, &q.to).await {
        Ok(d) => (d, vec![]),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            (s.app.disclosure(&a.actor, &id, "", "").await?, errors)
        }
    };
    let t = a.page.t;
    let first = d.lines.first().map(|l| l.event.event.at.jst_minutes()).unwrap_or_default();
    let last = d.lines.last().map(|l| l.event.event.at.jst_minutes()).unwrap_or_default();
    let start = d.from.clone().unwrap_or_else(|| first.get(..10).unwrap_or_default().to_string());
    let end = d.to.clone().unwrap_or_else(|| last.get(..10).unwrap_or_default().to_string());
    let period = t.fmt("access_log.period_value", &[("from", &start), ("to", &end)]);
    let invalid = !errors.is_empty();
    let r = render(&AccessLogPage {
        head: Head::of(&d.opened),
        lines: d.lines,
        from: if invalid { q.from } else { d.from.unwrap_or_default() },
        to: if invalid { q.to } else { d.to.unwrap_or_default() },
        period,
        printed_at: s.app.now().jst_minutes(),
        printed_by: a.actor.display_name.clone(),
        errors,
        p: a.page,
    })?;
    Ok(if invalid { unprocessable(r) } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_id_is_found_in_a_pasted_link() {
        let id = "0192f1e2-3b4c-7d5e-8f60-718293a4b5c6";
        assert_eq!(patient_id_in(id), id);
        assert_eq!(patient_id_in(&format!("  https://tsunagu.example/patients/{id}/join ")), id);
        assert_eq!(patient_id_in(&id.to_uppercase()), id);
        assert_eq!(patient_id_in("やまだ"), "やまだ");
        assert_eq!(patient_id_in("not-an-id"), "not-an-id");
    }

    #[test]
    fn every_audit_action_has_a_label_in_both_languages() {
        let ja_catalog: toml::Value = crate::i18n::JA_SRC.parse().expect("ja catalog");
        let en_catalog: toml::Value = crate::i18n::EN_SRC.parse().expect("en catalog");
        let src = include_str!("../../../domain/src/audit.rs");
        let body = src.split("pub fn code(self)").nth(1).expect("Action::code");
        let body = body.split("\n    }\n}").next().expect("end of Action::code");
        let codes: Vec<&str> = body
            .lines()
            .filter_map(|l| l.split("=> \"").nth(1))
            .filter_map(|r| r.split('"').next())
            .collect();
        assert!(codes.len() > 40, "read too few action codes: {codes:?}");
        for code in codes {
            for (lang, catalog) in [("ja", &ja_catalog), ("en", &en_catalog)] {
                let label = catalog.get("audit_action").and_then(|t| t.get(code)).and_then(|v| v.as_str());
                assert!(label.is_some_and(|l| !l.is_empty()), "no {lang} label for audit action {code}");
            }
        }
    }

    #[test]
    fn the_access_log_shows_japan_time_to_the_second() {
        // 2026-11-24T00:30:05Z
        assert_eq!(jst_seconds(1_795_480_205_000_000), "2026-11-24 09:30:05");
    }

    #[test]
    fn vital_values_show_their_unit() {
        assert_eq!(vital_value("temperature", 36.5), "36.5 ℃");
        assert_eq!(vital_value("pulse", 72.0), "72 /分");
    }
}
