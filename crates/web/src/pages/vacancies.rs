//! Short-stay vacancies and inquiries (issue 4, point 2): the operator's phone page, a
//! facility's public board, the overview for discharge nurses, and the inquiries professionals
//! send and facilities answer. Every handler calls one use case of
//! `tsunagu_app::directory::vacancies`, which decides who may do what.
//!
//! Routes:
//! - `GET /directory/vacancies` — every short-stay facility × the next 14 days (public; `?from=`).
//! - `GET /directory/{id}/vacancies` — the facility's operators and the coordinator get the
//!   phone page to set and confirm free beds; everyone else the facility's public board (the
//!   partial `directory/_vacancies.html`) with the inquiry form for professionals.
//! - `POST /directory/{id}/vacancies` — save and confirm (`day`/`beds` pairs, repeated).
//! - `POST /directory/{id}/inquiries` — send an inquiry; a refused form is shown again on a page
//!   of its own.
//! - `GET /directory/{id}/inquiries` — the facility's inbox with the answer buttons.
//! - `POST /directory/inquiries/{iid}/answer` — `status` = accepted | declined | call_me.
//! - `POST /directory/inquiries/{iid}/withdraw` — the sender withdraws an open inquiry.
//! - `GET /directory/inquiries` — the inquiries I sent, with their answers.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use tsunagu_app::AppError;
use tsunagu_app::directory::vacancies::{NOTE_MAX, NewInquiry, VacancyBoard, VacancyDay, VacancyOverview};
use tsunagu_domain::Timestamp;
use tsunagu_domain::directory::InquiryStatus;
use tsunagu_store::directory::vacancies::InquiryListing;

use crate::WebState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx, Visitor};

/// `11/24（火）` in the page's language.
fn day_label(t: &Tr, month_day: &str, weekday: u8) -> String {
    format!(
        "{month_day}{}{}{}",
        t.get("vacancies.weekday_open"),
        t.label("vacancies.weekday", &weekday.to_string()),
        t.get("vacancies.weekday_close")
    )
}

/// `2026-11-24` → `11/24（火）`; anything else as it is.
fn date_label(t: &Tr, day: &str) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(day, &f) {
        Ok(d) => day_label(
            t,
            &format!("{}/{}", u8::from(d.month()), d.day()),
            d.weekday().number_days_from_monday(),
        ),
        Err(_) => day.to_string(),
    }
}

// ---- The operator's page and the public board ------------------------------------------------

/// One day on the operator's form.
struct EditRow {
    day: String,
    label: String,
    holiday: Option<&'static str>,
    rest: bool,
    today: bool,
    /// What the input shows: the stored figure, or what was typed before a refusal.
    value: String,
    /// `fresh`, `stale`, `none`.
    state: &'static str,
    /// When the figure was last confirmed (Japan time), or empty.
    confirmed: String,
    error: Option<String>,
}

struct Editor {
    organisation_id: String,
    rows: Vec<EditRow>,
    last_confirmed: Option<String>,
    stale_hours: i64,
    saved: bool,
    /// Errors that belong to no day.
    errors: Vec<String>,
}

impl Editor {
    fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.rows.iter().any(|r| r.error.is_some())
    }
}

#[derive(Template)]
#[template(path = "directory/vacancies.html")]
struct VacancyPage {
    p: PageCtx,
    facility_name: String,
    organisation_id: String,
    editor: Option<Editor>,
    /// The public board (for the partial `directory/_vacancies.html`) when not editing.
    vacancies: Option<VacancyBoard>,
}

fn editor(
    t: &Tr,
    board: &VacancyBoard,
    typed: Option<&HashMap<String, String>>,
    errors: Option<AppError>,
    saved: bool,
) -> Result<Editor, WebError> {
    let mut by_day: HashMap<String, String> = HashMap::new();
    let mut general = Vec::new();
    if let Some(e) = errors {
        match e {
            AppError::Invalid(inv) => {
                for fe in &inv.0 {
                    let msg = t.error(fe);
                    match fe.args.iter().find(|(k, _)| *k == "day") {
                        Some((_, d)) if board.days.iter().any(|x| x.day == *d) => {
                            by_day.entry(d.clone()).or_insert(msg);
                        }
                        _ => general.push(msg),
                    }
                }
            }
            other => return Err(WebError(other)),
        }
    }
    let rows = board
        .days
        .iter()
        .map(|d: &VacancyDay| EditRow {
            label: day_label(t, &d.month_day, d.weekday),
            holiday: d.holiday,
            rest: d.is_rest_day(),
            today: d.day == board.today,
            value: typed.and_then(|m| m.get(&d.day).cloned()).unwrap_or_else(|| d.beds_value()),
            state: d.freshness.code(),
            confirmed: d.confirmed.clone(),
            error: by_day.remove(&d.day),
            day: d.day.clone(),
        })
        .collect();
    Ok(Editor {
        organisation_id: board.organisation_id.clone(),
        rows,
        last_confirmed: board.last_confirmed.clone(),
        stale_hours: board.stale_hours,
        saved,
        errors: general,
    })
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct SavedQuery {
    saved: String,
}

pub async fn vacancies_get(
    State(s): State<WebState>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, WebError> {
    if let Some(actor) = &v.actor {
        match s.app.vacancy_editor(actor, &id).await {
            Ok(board) => {
                let ed = editor(&v.page.t, &board, None, None, q.saved == "1")?;
                return render(&VacancyPage {
                    p: v.page,
                    facility_name: board.facility_name.clone(),
                    organisation_id: board.organisation_id.clone(),
                    editor: Some(ed),
                    vacancies: None,
                });
            }
            Err(AppError::Forbidden) => {}
            Err(e) => return Err(WebError(e)),
        }
    }
    let board = s.app.vacancy_board(v.actor.as_ref(), &id).await?.ok_or(WebError(AppError::NotFound))?;
    render(&VacancyPage {
        p: v.page,
        facility_name: board.facility_name.clone(),
        organisation_id: board.organisation_id.clone(),
        editor: None,
        vacancies: Some(board),
    })
}

/// The operator's form: one `day` and one `beds` per row, in the same order.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct VacancyForm {
    day: Vec<String>,
    beds: Vec<String>,
}

pub async fn vacancies_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<VacancyForm>,
) -> Result<Response, WebError> {
    if f.day.len() != f.beds.len() {
        return Err(WebError(AppError::Invalid(tsunagu_domain::Invalid::one(
            "beds",
            "error.unknown_choice",
        ))));
    }
    let pairs: Vec<(String, String)> = f.day.iter().cloned().zip(f.beds.iter().cloned()).collect();
    match s.app.set_vacancies(&a.actor, &id, pairs.clone()).await {
        Ok(_) => Ok(Redirect::to(&format!("/directory/{}/vacancies?saved=1", id.trim())).into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let board = s.app.vacancy_editor(&a.actor, &id).await?;
            let typed: HashMap<String, String> = pairs.into_iter().collect();
            let ed = editor(&a.page.t, &board, Some(&typed), Some(e), false)?;
            let mut r = render(&VacancyPage {
                p: a.page,
                facility_name: board.facility_name.clone(),
                organisation_id: board.organisation_id.clone(),
                editor: Some(ed),
                vacancies: None,
            })?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(WebError(e)),
    }
}

// ---- The overview ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "directory/vacancy_overview.html")]
struct OverviewPage {
    p: PageCtx,
    o: VacancyOverview,
    /// (day, label, holiday name, rest day)
    heads: Vec<(String, String, Option<&'static str>, bool)>,
    from_error: Option<String>,
    /// Logged in and allowed to send inquiries: the link to "inquiries sent".
    may_inquire: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct OverviewQuery {
    from: String,
}

pub async fn overview_get(
    State(s): State<WebState>,
    v: Visitor,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, WebError> {
    let t = v.page.t;
    let (o, from_error) = match s.app.vacancy_overview(v.actor.as_ref(), &q.from).await {
        Ok(o) => (o, None),
        Err(AppError::Invalid(inv)) => {
            let msg = inv.0.first().map(|fe| t.error(fe));
            (s.app.vacancy_overview(v.actor.as_ref(), "").await?, msg)
        }
        Err(e) => return Err(WebError(e)),
    };
    let heads = o
        .heads
        .iter()
        .map(|h| (h.day.clone(), day_label(&t, &h.month_day, h.weekday), h.holiday, h.is_rest_day()))
        .collect();
    let may_inquire = v.actor.as_ref().is_some_and(|a| s.app.may_send_inquiries(a));
    let invalid = from_error.is_some();
    let mut r = render(&OverviewPage { p: v.page, o, heads, from_error, may_inquire })?;
    if invalid {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

// ---- Inquiries ------------------------------------------------------------------------------

/// An inquiry as the histories show it.
struct InquiryItem {
    id: String,
    facility_id: String,
    facility_name: String,
    period: String,
    beds: i64,
    note: String,
    status: String,
    status_key: String,
    sent_at: String,
    sender: String,
    sender_org: String,
    answered_at: String,
    answered_by: String,
    answer_note: String,
    open: bool,
    withdrawn: bool,
}

fn item(t: &Tr, l: &InquiryListing) -> InquiryItem {
    let i = &l.inquiry;
    let period = if i.first_day == i.last_day {
        date_label(t, &i.first_day)
    } else {
        format!("{} – {}", date_label(t, &i.first_day), date_label(t, &i.last_day))
    };
    InquiryItem {
        id: i.id.clone(),
        facility_id: i.organisation_id.clone(),
        facility_name: l.facility_name.clone(),
        period,
        beds: i.beds,
        note: i.note.clone(),
        status_key: format!("inquiry_status.{}", i.status),
        open: i.status == InquiryStatus::Open.code(),
        withdrawn: i.status == InquiryStatus::Withdrawn.code(),
        status: i.status.clone(),
        sent_at: Timestamp(i.created_at).jst_minutes(),
        sender: l.sender_name.clone(),
        sender_org: l.sender_org_name.clone().unwrap_or_default(),
        answered_at: i.answered_at.map(|x| Timestamp(x).jst_minutes()).unwrap_or_default(),
        answered_by: l.answered_by_name.clone().unwrap_or_default(),
        answer_note: i.answer_note.clone(),
    }
}

#[derive(Template)]
#[template(path = "directory/inquiry_new.html")]
struct InquiryNewPage {
    p: PageCtx,
    organisation_id: String,
    facility_name: String,
    today: String,
    max_day: String,
    form: NewInquiry,
    errors: FormErrors,
    note_max: usize,
}

impl InquiryNewPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

pub async fn inquiry_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<NewInquiry>,
) -> Result<Response, WebError> {
    match s.app.send_inquiry(&a.actor, &id, f.clone()).await {
        Ok(i) => Ok(Redirect::to(&format!("/directory/inquiries?sent=1#inquiry-{}", i.id)).into_response()),
        Err(e @ AppError::Invalid(_)) => {
            let errors = form_errors(&a.page.t, e)?;
            let board =
                s.app.vacancy_board(Some(&a.actor), &id).await?.ok_or(WebError(AppError::NotFound))?;
            let mut r = render(&InquiryNewPage {
                p: a.page,
                organisation_id: board.organisation_id,
                facility_name: board.facility_name,
                today: board.today,
                max_day: board.inquiry_max_day,
                form: f,
                errors,
                note_max: NOTE_MAX,
            })?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(WebError(e)),
    }
}

#[derive(Template)]
#[template(path = "directory/inquiries_inbox.html")]
struct InboxPage {
    p: PageCtx,
    organisation_id: String,
    facility_name: String,
    items: Vec<InquiryItem>,
    open_count: usize,
    /// The inquiry whose answer was refused, with the message and the note as typed.
    failed: Option<(String, String, String)>,
    answered: bool,
    note_max: usize,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AnsweredQuery {
    answered: String,
}

async fn inbox(
    s: &WebState,
    a: Authed,
    id: &str,
    failed: Option<(String, String, String)>,
    answered: bool,
) -> Result<Response, WebError> {
    let f = s.app.inquiries_for_facility(&a.actor, id).await?;
    let items: Vec<InquiryItem> = f.items.iter().map(|l| item(&a.page.t, l)).collect();
    render(&InboxPage {
        p: a.page,
        organisation_id: f.organisation_id,
        facility_name: f.facility_name,
        open_count: items.iter().filter(|i| i.open).count(),
        items,
        failed,
        answered,
        note_max: NOTE_MAX,
    })
}

pub async fn inbox_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<AnsweredQuery>,
) -> Result<Response, WebError> {
    inbox(&s, a, &id, None, q.answered == "1").await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AnswerForm {
    status: String,
    answer_note: String,
}

pub async fn answer_post(
    State(s): State<WebState>,
    a: Authed,
    Path(iid): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, WebError> {
    match s.app.answer_inquiry(&a.actor, &iid, &f.status, &f.answer_note).await {
        Ok(i) => Ok(Redirect::to(&format!(
            "/directory/{}/inquiries?answered=1#inquiry-{}",
            i.organisation_id, i.id
        ))
        .into_response()),
        Err(AppError::Invalid(inv)) => {
            let l = s.app.inquiry(&a.actor, &iid).await?;
            let msg = inv.0.iter().map(|fe| a.page.t.error(fe)).collect::<Vec<_>>().join(" ");
            let org = l.inquiry.organisation_id.clone();
            let mut r = inbox(&s, a, &org, Some((l.inquiry.id, msg, f.answer_note)), false).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(WebError(e)),
    }
}

#[derive(Template)]
#[template(path = "directory/inquiries_mine.html")]
struct MinePage {
    p: PageCtx,
    items: Vec<InquiryItem>,
    sent: bool,
    withdrew: bool,
    /// The inquiry whose withdrawal was refused, with the message.
    failed: Option<(String, String)>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct MineQuery {
    sent: String,
    withdrawn: String,
}

async fn mine(
    s: &WebState,
    a: Authed,
    q: MineQuery,
    failed: Option<(String, String)>,
) -> Result<Response, WebError> {
    let list = s.app.my_inquiries(&a.actor).await?;
    let items = list.iter().map(|l| item(&a.page.t, l)).collect();
    render(&MinePage { p: a.page, items, sent: q.sent == "1", withdrew: q.withdrawn == "1", failed })
}

pub async fn mine_get(
    State(s): State<WebState>,
    a: Authed,
    Query(q): Query<MineQuery>,
) -> Result<Response, WebError> {
    mine(&s, a, q, None).await
}

pub async fn withdraw_post(
    State(s): State<WebState>,
    a: Authed,
    Path(iid): Path<String>,
) -> Result<Response, WebError> {
    match s.app.withdraw_inquiry(&a.actor, &iid).await {
        Ok(i) => {
            Ok(Redirect::to(&format!("/directory/inquiries?withdrawn=1#inquiry-{}", i.id)).into_response())
        }
        Err(AppError::Invalid(inv)) => {
            let msg = inv.0.iter().map(|fe| a.page.t.error(fe)).collect::<Vec<_>>().join(" ");
            let id = iid.trim().to_ascii_lowercase();
            let mut r = mine(&s, a, MineQuery::default(), Some((id, msg))).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(WebError(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_day_is_shown_with_its_weekday_in_the_pages_language() {
        assert_eq!(date_label(&Tr::new(Lang::Ja), "2026-11-24"), "11/24（火）");
        assert_eq!(date_label(&Tr::new(Lang::En), "2026-11-24"), "11/24 (Tue)");
        assert_eq!(date_label(&Tr::new(Lang::Ja), "garbage"), "garbage");
    }
}
