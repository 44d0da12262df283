//! The patient pages people use at the bedside: registering a patient, the patient page (summary,
//! consent state, the write forms and the timeline), acknowledging messages and correcting
//! entries. Every handler goes through the use cases of `tsunagu_app::sharing`; none decides who
//! may see a patient.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::AppError;
use tsunagu_app::sharing::{
    AcpData, EntryView, NewEntry, NewPatient, PAGE_SIZE, PatientPage, Registered, Teammate, VisitData, jst,
    parse_local_minutes,
};
use tsunagu_domain::person::Profession;
use tsunagu_domain::sharing::{CareLevel, EntryKind, Sex, TeamRole, VitalKind, parse_date};
use tsunagu_domain::{FieldError, Timestamp};
use tsunagu_store::patients::{EntryFilter, PatientRow};

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, render};
use crate::session::{Authed, PageCtx};

const DAY_MICROS: i64 = 86_400_000_000;

fn unprocessable(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// A refused input as form errors in the page's language. A vital sign out of range also says
/// which range a measurement can take.
fn entry_errors(t: &Tr, e: AppError) -> Result<FormErrors, WebError> {
    match e {
        AppError::Invalid(inv) => Ok(inv
            .0
            .iter()
            .map(|fe| {
                let mut msg = t.error(fe);
                if fe.code == "error.vital_out_of_range"
                    && let Some(k) = VitalKind::ALL.iter().find(|k| k.code() == fe.field)
                {
                    let (lo, hi) = k.range();
                    let range = t.fmt(
                        "patients.vital_range",
                        &[("lo", &number(lo)), ("hi", &number(hi)), ("unit", k.display_unit())],
                    );
                    msg = format!("{msg}（{range}）");
                }
                (fe.field.to_string(), msg)
            })
            .collect()),
        other => Err(WebError(other)),
    }
}

/// A measurement as people write it: no trailing zeros, at most two decimals.
///
/// Written from the value's hundredths as an integer: `format!("{v:.2}")` takes float
/// formatting's exact path (its big-number fallback included), which was 2% of a timeline
/// read's CPU (issue 6) for the page's few dozen measurements.
fn number(v: f64) -> String {
    let hundredths = (v * 100.0).round();
    // Beyond what an i64 holds exactly (no measurement is): as Rust writes it.
    if !hundredths.is_finite() || hundredths.abs() >= 1e15 {
        return format!("{v}");
    }
    let h = hundredths as i64;
    let sign = if h < 0 { "-" } else { "" };
    let (whole, part) = (h.abs() / 100, h.abs() % 100);
    match part {
        0 => format!("{sign}{whole}"),
        p if p % 10 == 0 => format!("{sign}{whole}.{}", p / 10),
        p => format!("{sign}{whole}.{p:02}"),
    }
}

/// Today's date in Japan, `YYYY-MM-DD`.
pub(crate) fn today(now: Timestamp) -> String {
    now.jst_minutes().chars().take(10).collect()
}

/// Full years between a birth date and a day, both `YYYY-MM-DD`.
fn age(birth: &str, on: &str) -> Option<i64> {
    let parts = |s: &str| -> Option<(i64, i64, i64)> {
        let mut it = s.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let (by, bm, bd) = parts(birth)?;
    let (ty, tm, td) = parts(on)?;
    let years = ty - by - i64::from((tm, td) < (bm, bd));
    (years >= 0).then_some(years)
}

// ---------------------------------------------------------------------------------------------
// Registering a patient

#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct PatientForm {
    name: String,
    name_kana: String,
    birth_date: String,
    sex: String,
    address: String,
    district: String,
    phone: String,
    care_level: String,
    insurance_number: String,
    key_person: String,
    emergency_contacts: String,
    conditions: String,
    allergies: String,
    medications: String,
    /// Where the patient lives, `lat,lon` (optional).
    location: String,
    attending_login: String,
    confirmed_not_duplicate: Option<String>,
}

impl PatientForm {
    fn input(&self) -> NewPatient {
        NewPatient {
            name: self.name.clone(),
            name_kana: self.name_kana.clone(),
            birth_date: self.birth_date.clone(),
            sex: self.sex.clone(),
            address: self.address.clone(),
            district: self.district.clone(),
            phone: self.phone.clone(),
            care_level: self.care_level.clone(),
            insurance_number: self.insurance_number.clone(),
            key_person: self.key_person.clone(),
            emergency_contacts: self.emergency_contacts.clone(),
            conditions: self.conditions.clone(),
            allergies: self.allergies.clone(),
            medications: self.medications.clone(),
            location: self.location.clone(),
            attending_login: self.attending_login.clone(),
            confirmed_not_duplicate: self.confirmed_not_duplicate.is_some(),
        }
    }
}

/// A likely duplicate as the warning lists it.
struct Duplicate {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "patient_new.html")]
struct NewPatientPage {
    p: PageCtx,
    form: PatientForm,
    errors: FormErrors,
    /// (district, its support center)
    districts: Vec<(String, String)>,
    sexes: Vec<(&'static str, String)>,
    care_levels: Vec<(&'static str, String)>,
    /// Staff who are not physicians name the attending physician.
    needs_attending: bool,
    today: String,
    /// The likely duplicates the person may see, and how many more they may not (said).
    duplicates: Option<(Vec<Duplicate>, Option<String>)>,
    /// The map of the home-location field.
    map_tiles: String,
    map_attribution: String,
}

impl NewPatientPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

async fn new_page_with(
    s: &WebState,
    a: Authed,
    form: PatientForm,
    errors: FormErrors,
    duplicates: Option<(Vec<Duplicate>, Option<String>)>,
) -> Result<Response, WebError> {
    let centers = s.app.support_centers().await?;
    let mut districts: Vec<(String, String)> =
        centers.iter().flat_map(|c| c.districts.iter().map(|d| (d.clone(), c.org.name.clone()))).collect();
    districts.sort();
    render(&NewPatientPage {
        needs_attending: a.actor.profession != Profession::Physician,
        today: today(s.app.now()),
        p: a.page,
        form,
        errors,
        districts,
        sexes: Sex::ALL.iter().map(|x| (x.code(), x.label_key())).collect(),
        care_levels: CareLevel::ALL.iter().map(|x| (x.code(), x.label_key())).collect(),
        duplicates,
        map_tiles: s.config.map_tile_url.clone(),
        map_attribution: s.config.map_attribution.clone(),
    })
}

pub async fn new_page(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    if !s.app.can_register_patients(&a.actor) {
        return Err(WebError(AppError::Forbidden));
    }
    new_page_with(&s, a, PatientForm::default(), vec![], None).await
}

pub async fn new_submit(
    State(s): State<WebState>,
    a: Authed,
    Form(f): Form<PatientForm>,
) -> Result<Response, WebError> {
    match s.app.register_patient(&a.actor, f.input()).await {
        Ok(Registered::Created(p)) => Ok(Redirect::to(&format!("/patients/{}", p.id)).into_response()),
        Ok(Registered::LikelyDuplicates(found)) => {
            let hidden = found.iter().filter(|(_, _, visible)| !visible).count();
            let hidden = (hidden > 0)
                .then(|| a.page.t.fmt("patients.duplicate_hidden", &[("n", &hidden.to_string())]));
            let visible = found
                .into_iter()
                .filter(|(_, _, visible)| *visible)
                .map(|(id, name, _)| Duplicate { id, name })
                .collect();
            Ok(unprocessable(new_page_with(&s, a, f, vec![], Some((visible, hidden))).await?))
        }
        Err(e) => {
            let errors = entry_errors(&a.page.t, e)?;
            Ok(unprocessable(new_page_with(&s, a, f, errors, None).await?))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The patient page

/// The timeline's filters and cursor, as the GET form and the "more" link send them.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct TimelineQuery {
    kind: String,
    profession: String,
    from: String,
    to: String,
    q: String,
    /// `<created_at>_<id>` of the last entry shown.
    before: String,
}

impl TimelineQuery {
    fn is_filtered(&self) -> bool {
        !(self.kind.is_empty()
            && self.profession.is_empty()
            && self.from.is_empty()
            && self.to.is_empty()
            && self.q.trim().is_empty())
    }

    /// The filter for the use case, and what was refused (that filter is then not applied).
    fn filter(&self) -> (EntryFilter, Vec<FieldError>) {
        let mut errs = Vec::new();
        let mut f = EntryFilter { limit: PAGE_SIZE, ..Default::default() };
        if !self.kind.is_empty() {
            match EntryKind::from_code(&self.kind) {
                Some(k) => f.kind = Some(k.code().to_string()),
                None => errs.push(FieldError::new("kind", "error.unknown_choice")),
            }
        }
        if !self.profession.is_empty() {
            match Profession::from_code(&self.profession) {
                Some(p) => f.profession = Some(p.code().to_string()),
                None => errs.push(FieldError::new("profession", "error.unknown_choice")),
            }
        }
        let day_start = |field: &'static str, s: &str| -> Result<Option<i64>, FieldError> {
            match parse_date(field, s, false)? {
                Some(d) => parse_local_minutes(field, &format!("{d}T00:00")),
                None => Ok(None),
            }
        };
        match day_start("from", &self.from) {
            Ok(v) => f.from = v,
            Err(e) => errs.push(e),
        }
        match day_start("to", &self.to) {
            Ok(v) => f.to = v.map(|t| t + DAY_MICROS),
            Err(e) => errs.push(e),
        }
        let q = self.q.trim();
        if !q.is_empty() {
            f.text = Some(q.chars().take(100).collect());
        }
        f.before = parse_cursor(&self.before);
        (f, errs)
    }

    /// The query string of these filters, for the "more" link.
    fn query_with_cursor(&self, cursor: &str) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("kind", &self.kind),
            ("profession", &self.profession),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("before", cursor);
        q.finish()
    }
}

/// `<created_at>_<id>` → the page cursor; anything else starts from the newest.
fn parse_cursor(s: &str) -> Option<(i64, String)> {
    let (at, id) = s.split_once('_')?;
    let at: i64 = at.parse().ok()?;
    let id_ok = id.len() <= 40 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    id_ok.then(|| (at, id.to_string()))
}

/// The cursor that starts a page with the entry written at `created_at`.
fn cursor_including(created_at: i64) -> String {
    format!("{}_", created_at.saturating_add(1))
}

/// A timeline entry ready to show.
struct Item {
    id: String,
    kind: String,
    author: String,
    profession: String,
    org: Option<String>,
    when: String,
    /// When it was written, if not when it happened.
    written: Option<String>,
    body: String,
    visit: Option<VisitData>,
    /// (label key, value, unit)
    vitals: Vec<(String, String, &'static str)>,
    urgent: bool,
    needs_reply: bool,
    to: Option<String>,
    acked: Option<String>,
    awaiting: bool,
    can_ack: bool,
    can_correct: bool,
    corrected_href: Option<String>,
    corrects: Option<(String, String)>,
    read_by: String,
    /// The photo or file of a file entry.
    file: Option<tsunagu_app::attachments::FileData>,
    /// The structured fields of an ACP entry.
    acp: Option<AcpData>,
}

fn vitals_of(v: &EntryView) -> Vec<(String, String, &'static str)> {
    let value = |k: VitalKind| v.vitals.iter().find(|x| x.kind == k.code()).map(|x| number(x.value));
    let mut out = Vec::new();
    let (sys, dia) = (value(VitalKind::SystolicBp), value(VitalKind::DiastolicBp));
    if sys.is_some() || dia.is_some() {
        let bp = format!("{}/{}", sys.as_deref().unwrap_or("—"), dia.as_deref().unwrap_or("—"));
        out.push(("patients.blood_pressure".to_string(), bp, VitalKind::SystolicBp.display_unit()));
    }
    for k in VitalKind::ALL {
        if matches!(k, VitalKind::SystolicBp | VitalKind::DiastolicBp) {
            continue;
        }
        if let Some(x) = value(*k) {
            out.push((format!("vital.{}", k.code()), x, k.display_unit()));
        }
    }
    out
}

fn item(t: &Tr, v: EntryView, viewer: &str, patient_id: &str, shown: &[String]) -> Item {
    let e = &v.entry;
    // A link to another version: on this page by its anchor, else to the page that starts there.
    let href = |id: &str, at: Option<i64>| {
        if shown.iter().any(|s| s == id) {
            format!("#entry-{id}")
        } else {
            match at {
                Some(at) => format!("/patients/{patient_id}?before={}#entry-{id}", cursor_including(at)),
                None => format!("/patients/{patient_id}#entry-{id}"),
            }
        }
    };
    let is_message = e.kind == EntryKind::Message.code();
    let acked = e.acknowledged_at.map(|at| {
        t.fmt(
            "patients.acked",
            &[("name", v.acknowledged_by_name.as_deref().unwrap_or("—")), ("time", &jst(at))],
        )
    });
    let open = is_message && e.acknowledged_at.is_none();
    let addressed_to_viewer = e.addressee_id.as_deref() == Some(viewer);
    let can_ack = open
        && (addressed_to_viewer
            || (e.addressee_id.is_none() && (e.urgent || e.needs_reply) && e.author_id != viewer));
    let read_by: Vec<&str> =
        v.read_by.iter().filter(|(name, _)| *name != v.author_name).map(|(n, _)| n.as_str()).collect();
    Item {
        id: e.id.clone(),
        kind: e.kind.clone(),
        author: v.author_name.clone(),
        profession: t.label("profession", &e.author_profession),
        org: v.author_org.clone(),
        when: jst(e.occurred_at),
        written: ((e.created_at - e.occurred_at).abs() >= 5 * 60 * 1_000_000)
            .then(|| t.fmt("patients.recorded_at", &[("time", &jst(e.created_at))])),
        body: e.body.clone(),
        vitals: vitals_of(&v),
        urgent: e.urgent,
        needs_reply: e.needs_reply,
        to: v.addressee_name.as_deref().map(|n| t.fmt("patients.to", &[("name", n)])),
        acked,
        awaiting: open && (e.needs_reply || e.urgent),
        can_ack,
        can_correct: e.author_id == viewer
            && v.corrected_by.is_none()
            && EntryKind::from_code(&e.kind).is_some_and(|k| k != EntryKind::File),
        corrected_href: v.corrected_by.as_deref().map(|id| href(id, v.corrected_by_at)),
        corrects: e.corrects_id.as_deref().map(|id| {
            let when = v.corrects_at.map(jst).unwrap_or_default();
            (href(id, v.corrects_at), t.fmt("patients.corrects", &[("time", &when)]))
        }),
        read_by: read_by.join("、"),
        file: tsunagu_app::attachments::file_of(e),
        // Only what was written: a visit record of free text alone shows no empty list.
        visit: v.visit.filter(|d| {
            e.kind == EntryKind::Visit.code()
                && (d.policy_changed
                    || d.next_visit.is_some()
                    || ![&d.subjective, &d.objective, &d.assessment, &d.plan, &d.cautions]
                        .iter()
                        .all(|x| x.is_empty()))
        }),
        acp: v.acp,
    }
}

/// One timeline entry alone, as the patient page shows it.
#[derive(Template)]
#[template(source = r#"{% include "patient_timeline_entry.html" %}"#, ext = "html")]
struct EntryFragment {
    p: PageCtx,
    id: String,
    e: Item,
}

/// One entry's HTML exactly as the timeline renders it, for live updates (`pages::charts::live`
/// sends it to pages already open, which insert it at the top of the timeline).
pub fn entry_html(p: PageCtx, v: EntryView, viewer: &str, patient_id: &str) -> Result<String, WebError> {
    let e = item(&p.t, v, viewer, patient_id, &[]);
    EntryFragment { p, id: patient_id.to_string(), e }
        .render()
        .map_err(|e| WebError(AppError::Internal(format!("template: {e}"))))
}

/// A vital sign's input.
struct VitalInput {
    code: &'static str,
    label: String,
    unit: &'static str,
    min: String,
    max: String,
}

fn vital_inputs() -> Vec<VitalInput> {
    VitalKind::ALL
        .iter()
        .map(|k| {
            let (lo, hi) = k.range();
            VitalInput {
                code: k.code(),
                label: format!("vital.{}", k.code()),
                unit: k.display_unit(),
                min: number(lo),
                max: number(hi),
            }
        })
        .collect()
}

/// The write forms' fields (one form per kind, all posting to `/patients/{id}/entries`).
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct EntryForm {
    kind: String,
    occurred_at: String,
    body: String,
    subjective: String,
    objective: String,
    assessment: String,
    plan: String,
    next_visit: String,
    policy_changed: Option<String>,
    cautions: String,
    systolic_bp: String,
    diastolic_bp: String,
    pulse: String,
    temperature: String,
    spo2: String,
    respiratory_rate: String,
    weight: String,
    glucose: String,
    urgent: Option<String>,
    needs_reply: Option<String>,
    addressee: String,
    corrects_id: String,
    // ACP (人生会議)
    care_place: String,
    care_place_note: String,
    death_place: String,
    death_place_note: String,
    resuscitation: String,
    other_wishes: String,
    discussed_on: String,
    present: String,
}

impl EntryForm {
    fn now(now: Timestamp) -> Self {
        EntryForm { occurred_at: now.jst_minutes().replacen(' ', "T", 1), ..Default::default() }
    }

    fn vital(&self, code: &str) -> &str {
        match code {
            "systolic_bp" => &self.systolic_bp,
            "diastolic_bp" => &self.diastolic_bp,
            "pulse" => &self.pulse,
            "temperature" => &self.temperature,
            "spo2" => &self.spo2,
            "respiratory_rate" => &self.respiratory_rate,
            "weight" => &self.weight,
            "glucose" => &self.glucose,
            _ => "",
        }
    }

    fn input(&self) -> NewEntry {
        let with_vitals = self.kind != EntryKind::Message.code();
        NewEntry {
            kind: self.kind.clone(),
            occurred_at: self.occurred_at.clone(),
            body: self.body.clone(),
            visit: VisitData {
                subjective: self.subjective.clone(),
                objective: self.objective.clone(),
                assessment: self.assessment.clone(),
                plan: self.plan.clone(),
                next_visit: Some(self.next_visit.trim().to_string()).filter(|s| !s.is_empty()),
                policy_changed: self.policy_changed.is_some(),
                cautions: self.cautions.clone(),
            },
            vitals: if with_vitals {
                VitalKind::ALL
                    .iter()
                    .map(|k| (k.code().to_string(), self.vital(k.code()).to_string()))
                    .filter(|(_, v)| !v.trim().is_empty())
                    .collect()
            } else {
                Vec::new()
            },
            urgent: self.urgent.is_some(),
            needs_reply: self.needs_reply.is_some(),
            addressee_login: self.addressee.clone(),
            corrects_id: Some(self.corrects_id.trim().to_string()).filter(|s| !s.is_empty()),
            acp: AcpData {
                care_place: self.care_place.clone(),
                care_place_note: self.care_place_note.clone(),
                death_place: self.death_place.clone(),
                death_place_note: self.death_place_note.clone(),
                resuscitation: self.resuscitation.clone(),
                other_wishes: self.other_wishes.clone(),
                discussed_on: self.discussed_on.clone(),
                present: self.present.clone(),
            },
        }
    }

    /// The form to correct an entry, filled with what it said.
    fn correcting(v: &EntryView) -> Self {
        let e = &v.entry;
        let value = |k: VitalKind| {
            v.vitals.iter().find(|x| x.kind == k.code()).map(|x| number(x.value)).unwrap_or_default()
        };
        let visit = v.visit.clone().unwrap_or_default();
        let acp = v.acp.clone().unwrap_or_default();
        EntryForm {
            kind: e.kind.clone(),
            occurred_at: jst(e.occurred_at).replacen(' ', "T", 1),
            body: e.body.clone(),
            subjective: visit.subjective,
            objective: visit.objective,
            assessment: visit.assessment,
            plan: visit.plan,
            next_visit: visit.next_visit.unwrap_or_default(),
            policy_changed: visit.policy_changed.then(|| "1".to_string()),
            cautions: visit.cautions,
            systolic_bp: value(VitalKind::SystolicBp),
            diastolic_bp: value(VitalKind::DiastolicBp),
            pulse: value(VitalKind::Pulse),
            temperature: value(VitalKind::Temperature),
            spo2: value(VitalKind::Spo2),
            respiratory_rate: value(VitalKind::RespiratoryRate),
            weight: value(VitalKind::Weight),
            glucose: value(VitalKind::Glucose),
            urgent: e.urgent.then(|| "1".to_string()),
            needs_reply: e.needs_reply.then(|| "1".to_string()),
            addressee: String::new(),
            corrects_id: e.id.clone(),
            care_place: acp.care_place,
            care_place_note: acp.care_place_note,
            death_place: acp.death_place,
            death_place_note: acp.death_place_note,
            resuscitation: acp.resuscitation,
            other_wishes: acp.other_wishes,
            discussed_on: acp.discussed_on,
            present: acp.present,
        }
    }
}

/// The patient's summary, as the page header shows it.
struct Summary {
    patient: PatientRow,
    /// "86歳"
    age: Option<String>,
    support_center: Option<String>,
    attending: Option<String>,
    /// "同意あり（date、who）", or none in force.
    consent: Option<String>,
    /// The viewer is the attending physician.
    is_attending: bool,
    /// The latest ACP: its fields (empty for one written as text alone) and its text.
    acp: Option<(AcpData, String)>,
}

fn summary(t: &Tr, page: &PatientPage, today: &str) -> Summary {
    let patient = page.opened.patient.clone();
    let consent = page.consent.as_ref().map(|c| {
        let who = if c.consenter == "proxy" {
            t.fmt(
                "patients.consent_by_proxy",
                &[
                    ("name", c.proxy_name.as_deref().unwrap_or("")),
                    ("relation", c.proxy_relation.as_deref().unwrap_or("")),
                ],
            )
        } else {
            t.get("patients.consent_by_patient").to_string()
        };
        format!("{}　{}", t.fmt("patients.consent_active", &[("date", &c.consented_on)]), who)
    });
    Summary {
        age: age(&patient.birth_date, today).map(|n| t.fmt("patients.age", &[("n", &n.to_string())])),
        support_center: page.support_center.clone(),
        attending: page
            .team
            .iter()
            .find(|m| m.role == TeamRole::Attending.code())
            .map(|m| m.display_name.clone()),
        consent,
        is_attending: page.opened.access == tsunagu_domain::sharing::Access::Member(TeamRole::Attending),
        acp: page.acp.as_ref().map(|e| (AcpData::of(e).unwrap_or_default(), e.body.clone())),
        patient,
    }
}

/// The people a message can go to: the team but the viewer.
fn addressees(team: &[Teammate], viewer: &str) -> Vec<Teammate> {
    team.iter().filter(|m| m.user_id != viewer).cloned().collect()
}

#[derive(Template)]
#[template(path = "patient_show.html")]
struct ShowPage {
    p: PageCtx,
    id: String,
    s: Summary,
    team: Vec<Teammate>,
    items: Vec<Item>,
    /// The "more" link.
    more: Option<String>,
    query: TimelineQuery,
    filtered: bool,
    kinds: Vec<(&'static str, String)>,
    professions: Vec<(&'static str, String)>,
    vitals: Vec<VitalInput>,
    form: EntryForm,
    errors: FormErrors,
    /// Emergency views opened on the patient: the attending physician is told (DESIGN §3.6).
    emergency_notices: Vec<crate::pages::care_team::NoticeView>,
}

impl ShowPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

pub async fn show(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, WebError> {
    let (filter, filter_errs) = q.filter();
    let page = s.app.patient_page(&a.actor, &id, Some(filter)).await?;
    let t = a.page.t;
    let today = today(s.app.now());
    let pid = page.opened.patient.id.clone();
    let more = match (page.more, page.entries.last()) {
        (true, Some(last)) => Some(format!(
            "/patients/{pid}?{}#timeline",
            q.query_with_cursor(&format!("{}_{}", last.entry.created_at, last.entry.id))
        )),
        _ => None,
    };
    let shown: Vec<String> = page.entries.iter().map(|e| e.entry.id.clone()).collect();
    let sm = summary(&t, &page, &today);
    let team = addressees(&page.team, &a.actor.user_id);
    let items = page.entries.into_iter().map(|v| item(&t, v, &a.actor.user_id, &pid, &shown)).collect();
    let emergency_notices =
        crate::pages::care_team::notice_views(&page.emergency_notices, s.app.now().micros());
    render(&ShowPage {
        emergency_notices,
        errors: filter_errs.iter().map(|fe| (fe.field.to_string(), t.error(fe))).collect(),
        filtered: q.is_filtered(),
        form: EntryForm::now(s.app.now()),
        p: a.page,
        id: pid,
        s: sm,
        team,
        items,
        more,
        query: q,
        kinds: EntryKind::ALL.iter().map(|k| (k.code(), k.label_key())).collect(),
        professions: Profession::ALL.iter().map(|p| (p.code(), p.label_key())).collect(),
        vitals: vital_inputs(),
    })
}

// ---------------------------------------------------------------------------------------------
// Writing, acknowledging, correcting

#[derive(Template)]
#[template(path = "patient_entry.html")]
struct EntryPage {
    p: PageCtx,
    id: String,
    s: Summary,
    team: Vec<Teammate>,
    vitals: Vec<VitalInput>,
    form: EntryForm,
    errors: FormErrors,
    /// The entry being corrected, shown above the form.
    original: Option<Item>,
}

impl EntryPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    fn title_key(&self) -> &'static str {
        if self.form.corrects_id.is_empty() { "patients.entry_title" } else { "patients.correction_title" }
    }
}

pub async fn write(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<EntryForm>,
) -> Result<Response, WebError> {
    match s.app.write_entry(&a.actor, &id, f.input()).await {
        Ok(e) => Ok(Redirect::to(&format!("/patients/{}#entry-{}", e.patient_id, e.id)).into_response()),
        Err(e) => {
            let errors = entry_errors(&a.page.t, e)?;
            let page = s.app.patient_page(&a.actor, &id, None).await?;
            let original = match f.corrects_id.trim() {
                "" => None,
                c => match s.app.entry_to_correct(&a.actor, &id, c).await {
                    Ok((_, v)) => {
                        let pid = page.opened.patient.id.clone();
                        Some(item(&a.page.t, v, &a.actor.user_id, &pid, &[]))
                    }
                    Err(_) => None,
                },
            };
            let today = today(s.app.now());
            let sm = summary(&a.page.t, &page, &today);
            Ok(unprocessable(render(&EntryPage {
                id: page.opened.patient.id.clone(),
                team: addressees(&page.team, &a.actor.user_id),
                s: sm,
                p: a.page,
                vitals: vital_inputs(),
                form: f,
                errors,
                original,
            })?))
        }
    }
}

pub async fn acknowledge(
    State(s): State<WebState>,
    a: Authed,
    Path((id, entry)): Path<(String, String)>,
) -> Result<Response, WebError> {
    match s.app.acknowledge(&a.actor, &id, &entry).await {
        Ok(()) => {}
        // A second press (two devices, a double tap) finds it done: nothing to say.
        Err(AppError::Invalid(inv)) if inv.0.iter().all(|e| e.code == "error.already_acknowledged") => {}
        Err(e) => return Err(WebError(e)),
    }
    let pid = uuid::Uuid::try_parse(&id).map(|u| u.to_string()).unwrap_or(id);
    let eid = uuid::Uuid::try_parse(&entry).map(|u| u.to_string()).unwrap_or(entry);
    Ok(Redirect::to(&format!("/patients/{pid}#entry-{eid}")).into_response())
}

pub async fn correct_page(
    State(s): State<WebState>,
    a: Authed,
    Path((id, entry)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (page, v) = s.app.entry_to_correct(&a.actor, &id, &entry).await?;
    let t = a.page.t;
    let pid = page.opened.patient.id.clone();
    // Versions form a line: an entry already corrected is corrected through its newer version.
    if let Some(newer) = &v.corrected_by {
        return Ok(Redirect::to(&format!("/patients/{pid}/entries/{newer}/correct")).into_response());
    }
    let mut form = EntryForm::correcting(&v);
    // A corrected message goes to the same person.
    if let Some(to) = v.entry.addressee_id.as_deref() {
        form.addressee =
            page.team.iter().find(|m| m.user_id == to).map(|m| m.login.clone()).unwrap_or_default();
    }
    let original = item(&t, v, &a.actor.user_id, &pid, &[]);
    let sm = summary(&t, &page, &today(s.app.now()));
    render(&EntryPage {
        id: pid,
        team: addressees(&page.team, &a.actor.user_id),
        s: sm,
        p: a.page,
        vitals: vital_inputs(),
        form,
        errors: vec![],
        original: Some(original),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_full_years_in_japan() {
        assert_eq!(age("1940-11-24", "2026-11-24"), Some(86));
        assert_eq!(age("1940-11-25", "2026-11-24"), Some(85));
        assert_eq!(age("1940-02-29", "2026-02-28"), Some(85));
        assert_eq!(age("2030-01-01", "2026-11-24"), None);
        assert_eq!(age("nonsense", "2026-11-24"), None);
    }

    #[test]
    fn measurements_show_without_trailing_zeros() {
        assert_eq!(number(36.5), "36.5");
        assert_eq!(number(120.0), "120");
        assert_eq!(number(98.25), "98.25");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(37.456), "37.46");
        assert_eq!(number(52.05), "52.05");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.001), "0");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(1e20), "100000000000000000000");
    }

    #[test]
    fn the_cursor_is_created_at_and_id() {
        assert_eq!(parse_cursor("123_0193-ab"), Some((123, "0193-ab".to_string())));
        assert_eq!(parse_cursor("124_"), Some((124, String::new())));
        assert_eq!(parse_cursor("x_1"), None);
        assert_eq!(parse_cursor("12_<script>"), None);
        assert_eq!(parse_cursor(""), None);
    }
}
