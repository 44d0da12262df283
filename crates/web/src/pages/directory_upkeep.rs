//! The upkeep of directory entries and physician consultation hours (issue 4 §1, §6). Every
//! handler calls one use case of `tsunagu_app::directory::{upkeep, hours}`, which decides who
//! may do what (the entry's operator or the home-care coordinator).
//!
//! Routes:
//! - `GET /directory/{id}/edit` — the entry's form (phone-friendly; code sets as checkboxes; the
//!   version it was read at in a hidden field); `?done=saved|unchanged|confirmed` shows a notice.
//! - `POST /directory/{id}/edit` — save; a refused form comes back (422) with field errors, a
//!   stale version with the conflict message.
//! - `POST /directory/{id}/confirm` — "still true"; `back=home` returns to the home page.
//! - `GET /directory/{id}/history` — every change with who, when, old and new.
//! - `GET /directory/{id}/hours` and `POST /directory/{id}/hours` — weekly slots, exceptions and
//!   the holiday switch; the POST's `action` is `add_slot`, `remove_slot`, `add_exception`,
//!   `remove_exception` or `holidays`.
//! - `GET /directory/unconfirmed` — entries waiting for confirmation (the coordinator: the
//!   region's; an operator: their own).
//!
//! Also here: the home page's notice ([`home_notice`], template `directory/_home_notice.html`)
//! and the provider page's consultation hours (template `directory/_hours.html`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde_json::Value;
use tsunagu_app::AppError;
use tsunagu_app::directory::hours::{ConsultationSummary, NewException, NewSlot, weekday_key};
use tsunagu_app::directory::upkeep::{HistoryEntry, ProviderChanges};
use tsunagu_app::sharing::jst;
use tsunagu_domain::directory::{Accepting, Capability, ContactMethod, MedicalDepartment, ServiceKind};
use tsunagu_domain::org::OrgKind;

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

/// `?done=` after a redirect: which notice to show.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Done {
    done: String,
}

impl Done {
    fn key(&self, allowed: &[&'static str]) -> Option<String> {
        allowed.iter().find(|a| **a == self.done).map(|a| format!("directory_upkeep.done_{a}"))
    }
}

// ---- The edit form -------------------------------------------------------------------------

/// The entry's fields as the form sends them, and the version they were read at.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct EditForm {
    name: String,
    name_kana: String,
    kind: String,
    postal_code: String,
    address: String,
    address_extra: String,
    location: String,
    district: String,
    phone: String,
    fax: String,
    website: String,
    corporate_number: String,
    operator_name: String,
    accepting: String,
    capacity: String,
    open_days: String,
    open_days_note: String,
    description: String,
    contact_line: String,
    contact_person: String,
    contact_method: String,
    contact_hours: String,
    services: Vec<String>,
    departments: Vec<String>,
    capabilities: Vec<String>,
    version: String,
}

impl EditForm {
    fn of(c: ProviderChanges, version: i64) -> Self {
        EditForm {
            name: c.name,
            name_kana: c.name_kana,
            kind: c.kind,
            postal_code: c.postal_code,
            address: c.address,
            address_extra: c.address_extra,
            location: c.location,
            district: c.district,
            phone: c.phone,
            fax: c.fax,
            website: c.website,
            corporate_number: c.corporate_number,
            operator_name: c.operator_name,
            accepting: c.accepting,
            capacity: c.capacity,
            open_days: c.open_days,
            open_days_note: c.open_days_note,
            description: c.description,
            contact_line: c.contact_line,
            contact_person: c.contact_person,
            contact_method: c.contact_method,
            contact_hours: c.contact_hours,
            services: c.services,
            departments: c.departments,
            capabilities: c.capabilities,
            version: version.to_string(),
        }
    }

    fn input(&self) -> ProviderChanges {
        ProviderChanges {
            name: self.name.clone(),
            name_kana: self.name_kana.clone(),
            kind: self.kind.clone(),
            postal_code: self.postal_code.clone(),
            address: self.address.clone(),
            address_extra: self.address_extra.clone(),
            location: self.location.clone(),
            district: self.district.clone(),
            phone: self.phone.clone(),
            fax: self.fax.clone(),
            website: self.website.clone(),
            corporate_number: self.corporate_number.clone(),
            operator_name: self.operator_name.clone(),
            accepting: self.accepting.clone(),
            capacity: self.capacity.clone(),
            open_days: self.open_days.clone(),
            open_days_note: self.open_days_note.clone(),
            description: self.description.clone(),
            contact_line: self.contact_line.clone(),
            contact_person: self.contact_person.clone(),
            contact_method: self.contact_method.clone(),
            contact_hours: self.contact_hours.clone(),
            services: self.services.clone(),
            departments: self.departments.clone(),
            capabilities: self.capabilities.clone(),
        }
    }
}

/// A choice of a select or a checkbox list: (code, catalog key).
type Choices = Vec<(&'static str, String)>;

#[derive(Template)]
#[template(path = "directory/edit.html")]
struct EditPage {
    p: PageCtx,
    id: String,
    name: String,
    form: EditForm,
    errors: FormErrors,
    kinds: Choices,
    accepting: Choices,
    methods: Choices,
    services: Choices,
    departments: Choices,
    capabilities: Choices,
    /// (district, its support center)
    districts: Vec<(String, String)>,
    needs_confirmation: bool,
    /// When the entry was last confirmed (Japan time), if ever.
    confirmed_at: Option<String>,
    /// The entry came from the national open data.
    imported: bool,
    /// A notice after a redirect (catalog key).
    done: Option<String>,
}

impl EditPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }

    /// The label of a field of the form.
    fn label(&self, field: &str) -> String {
        self.p.t.get(&format!("directory_upkeep.field_{field}")).to_string()
    }

    fn has(&self, list: &str, code: &str) -> bool {
        let l = match list {
            "services" => &self.form.services,
            "departments" => &self.form.departments,
            _ => &self.form.capabilities,
        };
        l.iter().any(|c| c == code)
    }
}

fn choices<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str, key: impl Fn(T) -> String) -> Choices {
    all.iter().map(|x| (code(*x), key(*x))).collect()
}

async fn edit_page(
    s: &WebState,
    a: Authed,
    id: &str,
    form: Option<EditForm>,
    errors: FormErrors,
    done: Option<String>,
) -> Result<Response, WebError> {
    let e = s.app.provider_for_edit(&a.actor, id).await?;
    let centers = s.app.support_centers().await?;
    let mut districts: Vec<(String, String)> =
        centers.iter().flat_map(|c| c.districts.iter().map(|d| (d.clone(), c.org.name.clone()))).collect();
    districts.sort();
    let mut form = form.unwrap_or_else(|| EditForm::of(ProviderChanges::of(&e.row, &e.codes), e.row.version));
    // After a conflict the form keeps what was typed but is now based on the latest version.
    if errors.iter().any(|(f, _)| f == "version") {
        form.version = e.row.version.to_string();
    }
    // A center's kind goes with its districts (the administrator's page): only its own kind.
    let current = OrgKind::from_code(&e.row.kind);
    let kinds: Choices = OrgKind::ALL
        .iter()
        .copied()
        .filter(|k| match current {
            Some(c) if c.is_support_center() => *k == c,
            _ => !k.is_support_center(),
        })
        .map(|k| (k.code(), k.label_key()))
        .collect();
    render(&EditPage {
        id: e.row.id.clone(),
        name: e.row.name.clone(),
        form,
        errors,
        kinds,
        accepting: choices(Accepting::ALL, Accepting::code, Accepting::label_key),
        methods: choices(ContactMethod::ALL, ContactMethod::code, ContactMethod::label_key),
        services: choices(ServiceKind::ALL, ServiceKind::code, ServiceKind::label_key),
        departments: choices(MedicalDepartment::ALL, MedicalDepartment::code, MedicalDepartment::label_key),
        capabilities: choices(Capability::ALL, Capability::code, Capability::label_key),
        districts,
        needs_confirmation: e.needs_confirmation,
        confirmed_at: e.row.confirmed_at.map(jst),
        imported: e.row.office_no.is_some(),
        done,
        p: a.page,
    })
}

pub async fn edit_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Result<Response, WebError> {
    let done = d.key(&["saved", "unchanged", "confirmed"]);
    edit_page(&s, a, &id, None, vec![], done).await
}

pub async fn edit_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Result<Response, WebError> {
    // A missing or garbled version cannot match any version: refused as a conflict.
    let version = f.version.trim().parse::<i64>().unwrap_or(-1);
    match s.app.update_provider(&a.actor, &id, f.input(), version).await {
        Ok(saved) => {
            let done = if saved.changed.is_empty() { "unchanged" } else { "saved" };
            Ok(Redirect::to(&format!("/directory/{}/edit?done={done}", saved.row.id)).into_response())
        }
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = edit_page(&s, a, &id, Some(f), errors, None).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    /// `home`: back to the home page; anything else: the entry's edit page.
    back: String,
}

pub async fn confirm_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let row = s.app.confirm_provider(&a.actor, &id).await?;
    let to =
        if f.back == "home" { "/".to_string() } else { format!("/directory/{}/edit?done=confirmed", row.id) };
    Ok(Redirect::to(&to).into_response())
}

// ---- The history ---------------------------------------------------------------------------

struct ChangeLine {
    field: String,
    old: String,
    new: String,
}

struct HistoryLine {
    when: String,
    /// `edit`, `confirm`, `import`, `hours`.
    source_code: String,
    who: String,
    source: String,
    changes: Vec<ChangeLine>,
}

#[derive(Template)]
#[template(path = "directory/history.html")]
struct HistoryPage {
    p: PageCtx,
    id: String,
    name: String,
    entries: Vec<HistoryLine>,
}

/// A stored value as a person reads it.
fn value_text(t: &Tr, field: &str, v: &Value) -> String {
    let empty = || t.get("directory_upkeep.value_empty").to_string();
    match v {
        Value::Null => empty(),
        Value::Bool(b) => {
            t.get(if *b { "directory_upkeep.value_yes" } else { "directory_upkeep.value_no" }).to_string()
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.is_empty() => empty(),
        Value::String(s) => match field {
            "kind" => t.label("org_kind", s),
            "accepting" => t.label("accepting", s),
            "contact_method" => t.label("contact_method", s),
            _ => s.clone(),
        },
        Value::Array(items) if items.is_empty() => empty(),
        Value::Array(items) => {
            let prefix = match field {
                "services" => Some("service_kind"),
                "departments" => Some("medical_department"),
                "capabilities" => Some("capability"),
                _ => None,
            };
            items
                .iter()
                .map(|i| match (prefix, i.as_str()) {
                    (Some(p), Some(code)) => t.label(p, code),
                    (_, Some(s)) => s.to_string(),
                    _ => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join("、")
        }
        Value::Object(o) => {
            let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut parts: Vec<String> = Vec::new();
            if let Some(w) = o.get("weekday").and_then(Value::as_u64) {
                parts.push(t.get(weekday_key(u8::try_from(w).unwrap_or(0))).to_string());
            }
            if !s("day").is_empty() {
                parts.push(s("day"));
            }
            if o.get("closed").and_then(Value::as_bool) == Some(true) {
                parts.push(t.get("directory_upkeep.closed_all_day").to_string());
            } else if !s("start").is_empty() {
                parts.push(format!("{}–{}", s("start"), s("end")));
            }
            for k in ["physician", "note"] {
                if !s(k).is_empty() {
                    parts.push(s(k));
                }
            }
            parts.join(" ")
        }
    }
}

fn history_line(t: &Tr, e: &HistoryEntry) -> HistoryLine {
    let who = match (&e.changed_by_name, e.by_importer) {
        (_, true) => t.get("directory_upkeep.by_importer").to_string(),
        (Some(n), _) => n.clone(),
        (None, false) => String::new(),
    };
    let source = match e.source.as_str() {
        s @ ("edit" | "confirm" | "import" | "hours") => {
            t.get(&format!("directory_upkeep.source_{s}")).to_string()
        }
        other => other.to_string(),
    };
    HistoryLine {
        when: jst(e.changed_at),
        source_code: e.source.clone(),
        who,
        source,
        changes: e
            .changes
            .iter()
            .map(|c| ChangeLine {
                field: {
                    let key = format!("directory_upkeep.field_{}", c.field);
                    let label = t.get(&key);
                    if label == key { c.field.clone() } else { label.to_string() }
                },
                old: value_text(t, &c.field, &c.old),
                new: value_text(t, &c.field, &c.new),
            })
            .collect(),
    }
}

pub async fn history_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let h = s.app.provider_history(&a.actor, &id).await?;
    let t = a.page.t;
    render(&HistoryPage {
        id: h.row.id.clone(),
        name: h.row.name.clone(),
        entries: h.entries.iter().map(|e| history_line(&t, e)).collect(),
        p: a.page,
    })
}

// ---- Consultation hours --------------------------------------------------------------------

/// Every field of the hours page's forms; `action` says which form was sent.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct HoursForm {
    action: String,
    physician: String,
    weekday: String,
    start: String,
    end: String,
    note: String,
    slot_id: String,
    ex_day: String,
    /// `1`: closed all day.
    ex_closed: String,
    ex_start: String,
    ex_end: String,
    ex_note: String,
    exception_id: String,
    /// `1`: the weekly hours hold on holidays.
    on: String,
}

#[derive(Template)]
#[template(path = "directory/hours.html")]
struct HoursPage {
    p: PageCtx,
    id: String,
    name: String,
    /// The provider page's partial reads `hours` and `can_edit`.
    hours: Option<ConsultationSummary>,
    can_edit: bool,
    form: HoursForm,
    /// Which form the errors belong to: `slot`, `exception` or empty.
    errors_for: &'static str,
    errors: FormErrors,
    weekdays: Vec<(u8, &'static str)>,
    /// The earliest day an exception may be set (today).
    today: String,
    done: Option<String>,
}

impl HoursPage {
    fn slot_err(&self, f: &str) -> Option<&str> {
        if self.errors_for == "slot" { field_error(&self.errors, f) } else { None }
    }

    fn ex_err(&self, f: &str) -> Option<&str> {
        if self.errors_for == "exception" { field_error(&self.errors, f) } else { None }
    }

    fn no_slots(&self) -> bool {
        self.hours.as_ref().is_none_or(|h| h.week.iter().all(|d| d.slots.is_empty()))
    }
}

async fn hours_page(
    s: &WebState,
    a: Authed,
    id: &str,
    form: HoursForm,
    errors_for: &'static str,
    errors: FormErrors,
    done: Option<String>,
) -> Result<Response, WebError> {
    let h = s.app.consultation_hours_for_edit(&a.actor, id).await?;
    let today = h.summary.today.clone();
    render(&HoursPage {
        id: h.row.id.clone(),
        name: h.row.name.clone(),
        hours: Some(h.summary),
        can_edit: true,
        form,
        errors_for,
        errors,
        weekdays: (0..7u8).map(|w| (w, weekday_key(w))).collect(),
        today,
        done,
        p: a.page,
    })
}

pub async fn hours_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Result<Response, WebError> {
    let done = d.key(&["add_slot", "remove_slot", "add_exception", "remove_exception", "holidays"]);
    let form = HoursForm { weekday: "0".into(), ..Default::default() };
    hours_page(&s, a, &id, form, "", vec![], done).await
}

pub async fn hours_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<HoursForm>,
) -> Result<Response, WebError> {
    let app = &s.app;
    let actor = &a.actor;
    let (result, errors_for): (Result<(), AppError>, &'static str) = match f.action.as_str() {
        "add_slot" => {
            let input = NewSlot {
                physician: f.physician.clone(),
                weekday: f.weekday.clone(),
                start: f.start.clone(),
                end: f.end.clone(),
                note: f.note.clone(),
            };
            (app.add_consultation_slot(actor, &id, input).await.map(|_| ()), "slot")
        }
        "remove_slot" => (app.remove_consultation_slot(actor, &id, f.slot_id.trim()).await, ""),
        "add_exception" => {
            let input = NewException {
                day: f.ex_day.clone(),
                closed: f.ex_closed == "1",
                start: f.ex_start.clone(),
                end: f.ex_end.clone(),
                note: f.ex_note.clone(),
            };
            (app.add_consultation_exception(actor, &id, input).await.map(|_| ()), "exception")
        }
        "remove_exception" => {
            (app.remove_consultation_exception(actor, &id, f.exception_id.trim()).await, "")
        }
        "holidays" => (app.set_consult_on_holidays(actor, &id, f.on == "1").await, ""),
        _ => (Err(AppError::Invalid(tsunagu_domain::Invalid::one("action", "error.unknown_choice"))), ""),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/directory/{id}/hours?done={}", f.action)).into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = hours_page(&s, a, &id, f, errors_for, errors, None).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

// ---- Entries waiting for confirmation ------------------------------------------------------

struct Unconfirmed {
    id: String,
    name: String,
    kind_key: String,
    /// When last confirmed (Japan time); `None`: never.
    confirmed_at: Option<String>,
}

#[derive(Template)]
#[template(path = "directory/unconfirmed.html")]
struct UnconfirmedPage {
    p: PageCtx,
    entries: Vec<Unconfirmed>,
    intro: String,
}

pub async fn unconfirmed_get(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    let rows = s.app.unconfirmed_providers_for(&a.actor).await?;
    render(&UnconfirmedPage {
        entries: rows
            .into_iter()
            .map(|r| Unconfirmed {
                kind_key: format!("org_kind.{}", r.kind),
                confirmed_at: r.confirmed_at.map(jst),
                id: r.id,
                name: r.name,
            })
            .collect(),
        intro: a.page.t.fmt(
            "directory_upkeep.unconfirmed_intro",
            &[
                ("days", &s.app.config.directory_confirm_days.to_string()),
                ("limit", &tsunagu_app::directory::upkeep::UNCONFIRMED_LIMIT.to_string()),
            ],
        ),
        p: a.page,
    })
}

// ---- The home page's notice ----------------------------------------------------------------

/// What the home page shows the people who keep the directory (partial
/// `directory/_home_notice.html`, which reads the field `upkeep` of this type and `p`).
#[derive(Debug, Clone, Default)]
pub struct HomeUpkeep {
    /// An operator's entries waiting for confirmation: (id, name).
    pub own: Vec<(String, String)>,
    /// The coordinator's count of entries waiting in the region (`None`: not the coordinator).
    pub region_total: Option<i64>,
    /// The operator's message (with `directory_confirm_days` in it).
    pub message: String,
    /// The coordinator's link text (with the count in it).
    pub region_message: String,
}

/// The home page's notice for this person (empty for people who keep no entry).
pub async fn home_notice(s: &WebState, t: &Tr, actor: &tsunagu_app::Actor) -> Result<HomeUpkeep, WebError> {
    if !s.app.keeps_directory(actor) {
        return Ok(HomeUpkeep::default());
    }
    let n = s.app.upkeep_notice(actor).await?;
    let days = s.app.config.directory_confirm_days.to_string();
    Ok(HomeUpkeep {
        own: n.own.into_iter().map(|r| (r.id, r.name)).collect(),
        region_message: n
            .region_total
            .map(|c| t.fmt("directory_upkeep.home_region", &[("n", &c.to_string()), ("days", &days)]))
            .unwrap_or_default(),
        region_total: n.region_total,
        message: t.fmt("directory_upkeep.home_text", &[("days", &days)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use serde_json::json;
    use tsunagu_app::directory::hours::weekday_short_key;

    #[test]
    fn stored_values_read_as_words() {
        let t = Tr::new(Lang::Ja);
        assert_eq!(value_text(&t, "phone", &json!("076-1")), "076-1");
        assert_eq!(value_text(&t, "phone", &json!("")), t.get("directory_upkeep.value_empty"));
        assert_eq!(value_text(&t, "capacity", &json!(12)), "12");
        assert_eq!(value_text(&t, "kind", &json!("clinic")), "診療所");
        assert_eq!(
            value_text(&t, "capabilities", &json!(["home_oxygen"])),
            t.label("capability", "home_oxygen")
        );
        let slot = json!({"weekday": 1, "start": "14:00", "end": "16:00", "physician": "山田", "note": ""});
        assert_eq!(value_text(&t, "consultation_slot", &slot), "火曜日 14:00–16:00 山田");
        let closed = json!({"day": "2026-12-29", "closed": true, "start": null, "end": null, "note": "年末"});
        assert_eq!(value_text(&t, "consultation_exception", &closed), "2026-12-29 終日休み 年末");
    }

    #[test]
    fn every_weekday_and_field_label_is_in_both_catalogs() {
        for lang in [Lang::Ja, Lang::En] {
            let t = Tr::new(lang);
            for w in 0..7u8 {
                for key in [weekday_key(w), weekday_short_key(w)] {
                    assert_ne!(t.get(key), key, "{lang:?}: {key}");
                }
            }
            let fields = tsunagu_app::directory::upkeep::IMPORTED_FIELDS.iter().copied().chain([
                "kind",
                "postal_code",
                "district",
                "accepting",
                "description",
                "contact_line",
                "contact_person",
                "contact_method",
                "contact_hours",
                "services",
                "departments",
                "capabilities",
                "consultation_slot",
                "consultation_exception",
                "consult_on_holidays",
            ]);
            for f in fields {
                let key = format!("directory_upkeep.field_{f}");
                assert_ne!(t.get(&key), key, "{lang:?}: {key}");
            }
            for s in ["edit", "confirm", "import", "hours"] {
                let key = format!("directory_upkeep.source_{s}");
                assert_ne!(t.get(&key), key, "{lang:?}: {key}");
            }
            for d in [
                "saved",
                "unchanged",
                "confirmed",
                "add_slot",
                "remove_slot",
                "add_exception",
                "remove_exception",
                "holidays",
            ] {
                let key = format!("directory_upkeep.done_{d}");
                assert_ne!(t.get(&key), key, "{lang:?}: {key}");
            }
        }
    }
}
