//! Live short-stay vacancies (issue 4, point 2) and the inquiries professionals send about them.
//!
//! A short-stay facility is a provider of kind `short_stay_facility` or one offering the
//! service `short_stay` or `medical_short_stay`. Its operator (or the home-care coordinator)
//! sets the free beds per day; every save re-confirms each submitted day (`confirmed_at` = now,
//! `confirmed_by` = who saved), even when the number did not change, because "confirmed" is what
//! a reader needs to know. A figure confirmed longer than `vacancy_stale_hours` ago is shown as
//! stale with its confirmation time, never as true, and the search filter `vacancy_on` counts
//! only fresh figures.
//!
//! Decisions:
//! - A provider that is not a short-stay facility has no vacancies: its board is `None`, and
//!   setting figures or reading its inquiries answers `NotFound` (after the `Forbidden` check for
//!   people who may not edit it at all).
//! - Figures may be set for today up to 60 days ahead; 0–999 beds; an empty field leaves that
//!   day as it is (not confirmed).
//! - Inquiries are sent by logged-in professionals with a full session, except welfare
//!   commissioners and promoters, city officials and system administrators, and except people
//!   affiliated with the facility itself (a facility does not ask itself). They name no patient:
//!   the note (≤ 500 characters) is for dates, care needs in general terms and how to reply,
//!   and the pages say so.
//! - An inquiry is seen by its sender only (not the sender's colleagues) and by the facility's
//!   operators and the coordinator; anyone else gets `NotFound`, the same as for a missing one.
//!   The facility answers an open inquiry once (accepted, declined or "call me"); the sender
//!   may withdraw an open one. A withdrawal is kept like an answer: `answered_by` is the sender,
//!   `answered_at` its time.
//! - Reads are not audited (the directory holds no patient data); every write is, in the
//!   transaction of the change.

use std::collections::HashMap;

use time::Date;
use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::directory::{InquiryStatus, ServiceKind};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::{Duty, Profession};
use tsunagu_domain::{FieldError, Invalid, Timestamp};
use tsunagu_store::directory::ProviderRow;
use tsunagu_store::directory::vacancies::{FacilityRow, InquiryListing, InquiryRow, VacancyRow};

use super::{format_day, is_professional, parse_day};
use crate::{Actor, App, AppError, Result};

/// Days on a provider's public board, from today.
pub const BOARD_DAYS: i64 = 21;
/// Days on the operator's phone page, from today.
pub const OPERATOR_DAYS: i64 = 14;
/// Days per facility on the overview.
pub const OVERVIEW_DAYS: i64 = 14;
/// How far ahead figures may be set (and the overview may start), in days from today.
pub const SET_HORIZON_DAYS: i64 = 60;
/// How far ahead an inquiry may reach, in days from today.
pub const INQUIRY_HORIZON_DAYS: i64 = 90;
/// The most free beds a day can have.
pub const MAX_FREE_BEDS: i64 = 999;
/// The most beds one inquiry can ask for (the database's check).
pub const MAX_INQUIRY_BEDS: i64 = 99;
/// The longest note of an inquiry or an answer, in characters.
pub const NOTE_MAX: usize = 500;
/// The most facilities the overview lists.
pub const OVERVIEW_LIMIT: i64 = 500;
/// The most inquiries a history lists.
pub const HISTORY_LIMIT: i64 = 200;

/// How far a figure may be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Confirmed within `vacancy_stale_hours`.
    Fresh,
    /// Confirmed longer ago: shown with its confirmation time, not as true.
    Stale,
    /// No figure for the day.
    Missing,
}

impl Freshness {
    /// `fresh`, `stale`, `none` (for `data-state` attributes and CSS classes).
    pub fn code(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Missing => "none",
        }
    }
}

/// One day of a facility's board.
#[derive(Debug, Clone)]
pub struct VacancyDay {
    /// `YYYY-MM-DD` in Asia/Tokyo.
    pub day: String,
    /// `11/24`.
    pub month_day: String,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// The public holiday's (Japanese) name, if the day is one.
    pub holiday: Option<&'static str>,
    pub free_beds: Option<i64>,
    /// When the figure was last confirmed (UTC micros).
    pub confirmed_at: Option<i64>,
    /// The same in Japan time, `2026-11-24 09:30`; empty without a figure.
    pub confirmed: String,
    pub freshness: Freshness,
}

impl VacancyDay {
    pub fn is_fresh(&self) -> bool {
        self.freshness == Freshness::Fresh
    }

    pub fn is_stale(&self) -> bool {
        self.freshness == Freshness::Stale
    }

    pub fn is_missing(&self) -> bool {
        self.freshness == Freshness::Missing
    }

    /// Saturday, Sunday or a public holiday.
    pub fn is_rest_day(&self) -> bool {
        self.weekday >= 5 || self.holiday.is_some()
    }

    /// A figure of no free beds.
    pub fn is_full(&self) -> bool {
        self.free_beds == Some(0)
    }

    /// The figure as an input's value: the number, or empty.
    pub fn beds_value(&self) -> String {
        self.free_beds.map(|b| b.to_string()).unwrap_or_default()
    }
}

/// A facility's vacancies for the coming days, as one viewer may see them.
#[derive(Debug, Clone)]
pub struct VacancyBoard {
    pub organisation_id: String,
    pub facility_name: String,
    /// Today in Japan, `YYYY-MM-DD`.
    pub today: String,
    pub days: Vec<VacancyDay>,
    /// Figures older than this many hours are stale.
    pub stale_hours: i64,
    /// The newest confirmation among the days, in Japan time.
    pub last_confirmed: Option<String>,
    /// The viewer may set the figures and answer inquiries (operator or coordinator).
    pub can_edit: bool,
    /// The viewer may send this facility an inquiry.
    pub can_inquire: bool,
    /// The latest day an inquiry may reach (`YYYY-MM-DD`).
    pub inquiry_max_day: String,
    /// The latest day figures may be set for (`YYYY-MM-DD`).
    pub set_max_day: String,
}

/// A day heading of the overview.
#[derive(Debug, Clone)]
pub struct DayHead {
    pub day: String,
    pub month_day: String,
    pub weekday: u8,
    pub holiday: Option<&'static str>,
}

impl DayHead {
    pub fn is_rest_day(&self) -> bool {
        self.weekday >= 5 || self.holiday.is_some()
    }
}

/// One facility on the overview.
#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub facility: FacilityRow,
    pub days: Vec<VacancyDay>,
    /// The viewer may set this facility's figures.
    pub can_edit: bool,
}

/// Every short-stay facility with its next days (the discharge nurse's view).
#[derive(Debug, Clone)]
pub struct VacancyOverview {
    pub today: String,
    pub from_day: String,
    pub to_day: String,
    /// The latest day the overview may start on.
    pub max_from_day: String,
    /// The starts of the previous and next pages of days (`None` before today or past the horizon).
    pub previous_from: Option<String>,
    pub next_from: Option<String>,
    pub heads: Vec<DayHead>,
    pub rows: Vec<OverviewRow>,
    pub stale_hours: i64,
    /// More facilities exist than the overview lists.
    pub truncated: bool,
}

/// An inquiry as submitted: raw strings, checked by `send_inquiry`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewInquiry {
    pub first_day: String,
    pub last_day: String,
    pub beds: String,
    pub note: String,
}

/// A facility's received inquiries.
#[derive(Debug, Clone)]
pub struct FacilityInquiries {
    pub organisation_id: String,
    pub facility_name: String,
    pub items: Vec<InquiryListing>,
}

/// Whether a provider takes short-stay guests: of kind `short_stay_facility`, or offering a
/// short-stay service.
pub fn offers_short_stay(kind: &str, services: &[String]) -> bool {
    kind == OrgKind::ShortStayFacility.code()
        || services.iter().any(|s| ServiceKind::from_code(s).is_some_and(ServiceKind::is_short_stay))
}

fn short_stay_services() -> Vec<&'static str> {
    ServiceKind::ALL.iter().filter(|s| s.is_short_stay()).map(|s| s.code()).collect()
}

fn plus_days(d: Date, n: i64) -> Date {
    d.checked_add(time::Duration::days(n)).unwrap_or(d)
}

fn month_day(d: Date) -> String {
    format!("{}/{}", u8::from(d.month()), d.day())
}

fn head(d: Date) -> DayHead {
    DayHead {
        day: format_day(d),
        month_day: month_day(d),
        weekday: d.weekday().number_days_from_monday(),
        holiday: tsunagu_domain::holiday::holiday_name(d),
    }
}

/// The days `from..from+n` with their figures from `rows` (any order, any facility: only
/// `rows` of the days asked for are used).
fn build_days(from: Date, n: i64, rows: &[&VacancyRow], fresh_after: i64) -> Vec<VacancyDay> {
    let by_day: HashMap<&str, &VacancyRow> = rows.iter().map(|r| (r.day.as_str(), *r)).collect();
    (0..n)
        .map(|i| {
            let h = head(plus_days(from, i));
            let r = by_day.get(h.day.as_str());
            let freshness = match r {
                None => Freshness::Missing,
                Some(r) if r.confirmed_at >= fresh_after => Freshness::Fresh,
                Some(_) => Freshness::Stale,
            };
            VacancyDay {
                month_day: h.month_day,
                weekday: h.weekday,
                holiday: h.holiday,
                free_beds: r.map(|r| r.free_beds),
                confirmed_at: r.map(|r| r.confirmed_at),
                confirmed: r.map(|r| Timestamp(r.confirmed_at).jst_minutes()).unwrap_or_default(),
                freshness,
                day: h.day,
            }
        })
        .collect()
}

/// Why this person may not send this facility an inquiry, if they may not.
fn inquiry_refusal(actor: &Actor, organisation_id: &str) -> Option<AppError> {
    let excluded_profession =
        matches!(actor.profession, Profession::WelfareCommissioner | Profession::WelfarePromoter);
    let excluded_duty = actor.has_duty(Duty::CityOfficial) || actor.has_duty(Duty::SystemAdministrator);
    let own = actor.affiliations.iter().any(|a| a.organisation_id == organisation_id);
    if !is_professional(Some(actor)) || excluded_profession || excluded_duty || own {
        Some(AppError::Forbidden)
    } else {
        None
    }
}

/// A canonical id, or `None` for anything that is not a UUID.
fn canonical_id(id: &str) -> Option<String> {
    uuid::Uuid::try_parse(id.trim()).ok().map(|u| u.as_hyphenated().to_string())
}

/// A note: trimmed, at most `NOTE_MAX` characters, no control characters.
fn note(field: &'static str, value: &str, errors: &mut Invalid) -> String {
    match tsunagu_domain::validation::text(field, value, false, NOTE_MAX) {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    }
}

impl App {
    /// Today in Japan.
    fn jst_today(&self) -> Date {
        self.now().in_jst().date()
    }

    /// A short-stay facility by id; `None` for a malformed id, a missing provider or one that
    /// takes no short-stay guests.
    async fn short_stay_provider(&self, id: &str) -> Result<Option<ProviderRow>> {
        let Some(id) = canonical_id(id) else { return Ok(None) };
        let Some(row) = self.store.provider(&id).await? else { return Ok(None) };
        let codes = self.store.provider_codes(&id).await?;
        Ok(offers_short_stay(&row.kind, &codes.services).then_some(row))
    }

    /// A provider the actor may edit that is a short-stay facility: `NotFound` for a missing
    /// provider, `Forbidden` for a person who may not edit it, `NotFound` for a provider that
    /// takes no short-stay guests.
    async fn editable_short_stay(&self, actor: &Actor, id: &str) -> Result<ProviderRow> {
        let Some(id) = canonical_id(id) else { return Err(AppError::NotFound) };
        let Some(row) = self.store.provider(&id).await? else { return Err(AppError::NotFound) };
        if !is_professional(Some(actor)) || !self.can_edit_provider(actor, &id) {
            return Err(AppError::Forbidden);
        }
        let codes = self.store.provider_codes(&id).await?;
        if !offers_short_stay(&row.kind, &codes.services) {
            return Err(AppError::NotFound);
        }
        Ok(row)
    }

    async fn board_of(&self, viewer: Option<&Actor>, row: &ProviderRow, days: i64) -> Result<VacancyBoard> {
        let today = self.jst_today();
        let to = plus_days(today, days - 1);
        let rows = self.store.vacancies(&row.id, &format_day(today), &format_day(to)).await?;
        let refs: Vec<&VacancyRow> = rows.iter().collect();
        let days = build_days(today, days, &refs, self.vacancy_fresh_after());
        let last_confirmed = rows.iter().map(|r| r.confirmed_at).max().map(|t| Timestamp(t).jst_minutes());
        let can_edit = viewer.is_some_and(|a| is_professional(Some(a)) && self.can_edit_provider(a, &row.id));
        let can_inquire = viewer.is_some_and(|a| inquiry_refusal(a, &row.id).is_none());
        Ok(VacancyBoard {
            organisation_id: row.id.clone(),
            facility_name: row.name.clone(),
            today: format_day(today),
            days,
            stale_hours: self.config.vacancy_stale_hours,
            last_confirmed,
            can_edit,
            can_inquire,
            inquiry_max_day: format_day(plus_days(today, INQUIRY_HORIZON_DAYS)),
            set_max_day: format_day(plus_days(today, SET_HORIZON_DAYS)),
        })
    }

    /// A provider's public vacancy board: the next `BOARD_DAYS` days with their figures, each
    /// fresh, stale or missing. `None` when the provider takes no short-stay guests (or does not
    /// exist). Anyone may read it, logged in or not.
    pub async fn vacancy_board(
        &self,
        viewer: Option<&Actor>,
        organisation_id: &str,
    ) -> Result<Option<VacancyBoard>> {
        match self.short_stay_provider(organisation_id).await? {
            Some(row) => Ok(Some(self.board_of(viewer, &row, BOARD_DAYS).await?)),
            None => Ok(None),
        }
    }

    /// The operator's page: the next `OPERATOR_DAYS` days of a facility the actor may edit.
    pub async fn vacancy_editor(&self, actor: &Actor, organisation_id: &str) -> Result<VacancyBoard> {
        let row = self.editable_short_stay(actor, organisation_id).await?;
        self.board_of(Some(actor), &row, OPERATOR_DAYS).await
    }

    /// Sets and confirms free beds: `days` are `(YYYY-MM-DD, beds)` as typed. A day with an
    /// empty beds field is left as it is. Every other day is written with `confirmed_at` = now and
    /// `confirmed_by` = the actor, changed or not, in one transaction with one `vacancy.updated`
    /// audit event. Returns how many days were confirmed. Days must lie in today..today+60 and
    /// beds in 0..=999; any error refuses the whole submission.
    pub async fn set_vacancies(
        &self,
        actor: &Actor,
        organisation_id: &str,
        days: Vec<(String, String)>,
    ) -> Result<usize> {
        actor.ensure_may_write()?;
        let row = self.editable_short_stay(actor, organisation_id).await?;
        let today = self.jst_today();
        let max = plus_days(today, SET_HORIZON_DAYS);
        let mut errors = Invalid::default();
        let mut figures: Vec<(String, i64)> = Vec::new();
        for (day, beds) in &days {
            let beds = tsunagu_domain::text::fold(beds).trim().to_string();
            if day.trim().is_empty() && beds.is_empty() {
                continue;
            }
            let d = match parse_day("day", day) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let day = format_day(d);
            if d < today || d > max {
                errors.push(
                    FieldError::with_limit("day", "error.vacancies.day_range", SET_HORIZON_DAYS as usize)
                        .arg("day", day),
                );
                continue;
            }
            if beds.is_empty() {
                continue;
            }
            if figures.iter().any(|(d, _)| *d == day) {
                errors.push(FieldError::new("day", "error.vacancies.day_repeated").arg("day", day));
                continue;
            }
            match beds.parse::<i64>() {
                Ok(n) if (0..=MAX_FREE_BEDS).contains(&n) => figures.push((day, n)),
                Ok(_) => errors.push(
                    FieldError::with_limit("beds", "error.vacancies.beds_range", MAX_FREE_BEDS as usize)
                        .arg("day", day),
                ),
                Err(_) => errors.push(FieldError::new("beds", "error.vacancies.beds_number").arg("day", day)),
            }
        }
        if errors.is_empty() && figures.is_empty() {
            errors.push(FieldError::new("beds", "error.vacancies.nothing_to_save"));
        }
        errors.into_result()?;
        figures.sort();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        for (day, beds) in &figures {
            tx.upsert_vacancy(&VacancyRow {
                organisation_id: row.id.clone(),
                day: day.clone(),
                free_beds: *beds,
                confirmed_at: now.micros(),
                confirmed_by: Some(actor.user_id.clone()),
            })
            .await?;
        }
        let (first, last) = (figures.first().map(|f| f.0.as_str()), figures.last().map(|f| f.0.as_str()));
        tx.append_audit(
            actor
                .event(now, Action::VacancyUpdated, Outcome::Success)
                .target("organisation", &row.id)
                .detail(format!("{} days {}..{}", figures.len(), first.unwrap_or(""), last.unwrap_or(""))),
        )
        .await?;
        tx.commit().await?;
        Ok(figures.len())
    }

    /// Every short-stay facility with its figures for `OVERVIEW_DAYS` days from `from_day`
    /// (empty: today), at most `OVERVIEW_LIMIT` facilities, by kana reading. Two queries: the
    /// facilities, then all their figures at once. Anyone may read it.
    pub async fn vacancy_overview(&self, viewer: Option<&Actor>, from_day: &str) -> Result<VacancyOverview> {
        let today = self.jst_today();
        let max_from = plus_days(today, SET_HORIZON_DAYS);
        let from = if from_day.trim().is_empty() {
            today
        } else {
            let d = parse_day("from", from_day)?;
            if d < today || d > max_from {
                return Err(FieldError::with_limit(
                    "from",
                    "error.vacancies.from_range",
                    SET_HORIZON_DAYS as usize,
                )
                .into());
            }
            d
        };
        let to = plus_days(from, OVERVIEW_DAYS - 1);
        let services = short_stay_services();
        let facilities = self
            .store
            .short_stay_facilities(OrgKind::ShortStayFacility.code(), &services, OVERVIEW_LIMIT + 1)
            .await?;
        let truncated = facilities.len() as i64 > OVERVIEW_LIMIT;
        let facilities: Vec<FacilityRow> = facilities.into_iter().take(OVERVIEW_LIMIT as usize).collect();
        let ids: Vec<String> = facilities.iter().map(|f| f.id.clone()).collect();
        let figures = self.store.vacancies_of(&ids, &format_day(from), &format_day(to)).await?;
        let mut by_org: HashMap<&str, Vec<&VacancyRow>> = HashMap::new();
        for r in &figures {
            by_org.entry(r.organisation_id.as_str()).or_default().push(r);
        }
        let fresh_after = self.vacancy_fresh_after();
        let rows = facilities
            .into_iter()
            .map(|f| {
                let days = build_days(
                    from,
                    OVERVIEW_DAYS,
                    by_org.get(f.id.as_str()).map_or(&[][..], |v| v),
                    fresh_after,
                );
                let can_edit =
                    viewer.is_some_and(|a| is_professional(Some(a)) && self.can_edit_provider(a, &f.id));
                OverviewRow { facility: f, days, can_edit }
            })
            .collect();
        let previous = plus_days(from, -OVERVIEW_DAYS).max(today);
        let next = plus_days(from, OVERVIEW_DAYS);
        Ok(VacancyOverview {
            today: format_day(today),
            from_day: format_day(from),
            to_day: format_day(to),
            max_from_day: format_day(max_from),
            previous_from: (from > today).then(|| format_day(previous)),
            next_from: (next <= max_from).then(|| format_day(next)),
            heads: (0..OVERVIEW_DAYS).map(|i| head(plus_days(from, i))).collect(),
            rows,
            stale_hours: self.config.vacancy_stale_hours,
            truncated,
        })
    }

    /// Sends a short-stay facility an inquiry for `first_day..=last_day` (today up to 90 days
    /// ahead) and 1–99 beds, with a note of at most 500 characters that names no patient.
    pub async fn send_inquiry(
        &self,
        actor: &Actor,
        organisation_id: &str,
        input: NewInquiry,
    ) -> Result<InquiryRow> {
        actor.ensure_may_write()?;
        let Some(row) = self.short_stay_provider(organisation_id).await? else {
            return Err(AppError::NotFound);
        };
        if let Some(e) = inquiry_refusal(actor, &row.id) {
            return Err(e);
        }
        let today = self.jst_today();
        let max = plus_days(today, INQUIRY_HORIZON_DAYS);
        let mut errors = Invalid::default();
        let mut day = |field: &'static str, s: &str| -> Option<Date> {
            if s.trim().is_empty() {
                errors.push(FieldError::new(field, "error.required"));
                return None;
            }
            match parse_day(field, s) {
                Ok(d) if d < today || d > max => {
                    errors.push(FieldError::with_limit(
                        field,
                        "error.vacancies.inquiry_range",
                        INQUIRY_HORIZON_DAYS as usize,
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
        let first = day("first_day", &input.first_day);
        let last = day("last_day", &input.last_day);
        if let (Some(f), Some(l)) = (first, last)
            && l < f
        {
            errors.push(FieldError::new("last_day", "error.period_reversed"));
        }
        let beds_text = tsunagu_domain::text::fold(&input.beds).trim().to_string();
        let beds = match beds_text.parse::<i64>() {
            Ok(n) if (1..=MAX_INQUIRY_BEDS).contains(&n) => n,
            _ if beds_text.is_empty() => {
                errors.push(FieldError::new("beds", "error.required"));
                0
            }
            _ => {
                errors.push(FieldError::with_limit(
                    "beds",
                    "error.vacancies.inquiry_beds",
                    MAX_INQUIRY_BEDS as usize,
                ));
                0
            }
        };
        let note = note("note", &input.note, &mut errors);
        errors.into_result()?;
        let (Some(first), Some(last)) = (first, last) else {
            return Err(AppError::Internal("validated inquiry lost a day".into()));
        };
        let now = self.now();
        let inquiry = InquiryRow {
            id: uuid::Uuid::now_v7().as_hyphenated().to_string(),
            organisation_id: row.id.clone(),
            sender_id: actor.user_id.clone(),
            sender_org_id: actor.affiliations.first().map(|a| a.organisation_id.clone()),
            first_day: format_day(first),
            last_day: format_day(last),
            beds,
            note,
            status: InquiryStatus::Open.code().to_string(),
            answer_note: String::new(),
            answered_by: None,
            answered_at: None,
            created_at: now.micros(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_inquiry(&inquiry).await?;
        tx.append_audit(
            actor
                .event(now, Action::InquirySent, Outcome::Success)
                .target("vacancy_inquiry", &inquiry.id)
                .detail(format!("organisation {}", row.id)),
        )
        .await?;
        tx.commit().await?;
        Ok(inquiry)
    }

    /// An inquiry the actor may see (its sender, the facility's operators, the coordinator);
    /// `NotFound` for anyone else, a missing one and a malformed id alike.
    pub async fn inquiry(&self, actor: &Actor, inquiry_id: &str) -> Result<InquiryListing> {
        let Some(id) = canonical_id(inquiry_id) else { return Err(AppError::NotFound) };
        let Some(l) = self.store.inquiry(&id).await? else { return Err(AppError::NotFound) };
        let sender = l.inquiry.sender_id == actor.user_id;
        let facility = self.can_edit_provider(actor, &l.inquiry.organisation_id);
        if !is_professional(Some(actor)) || !(sender || facility) {
            return Err(AppError::NotFound);
        }
        Ok(l)
    }

    /// The facility's answer to an open inquiry: `accepted`, `declined` or `call_me`, with a
    /// note of at most 500 characters. Only the facility's operators and the coordinator
    /// answer (the sender gets `Forbidden`); an inquiry already answered or withdrawn is refused.
    pub async fn answer_inquiry(
        &self,
        actor: &Actor,
        inquiry_id: &str,
        status: &str,
        answer_note: &str,
    ) -> Result<InquiryRow> {
        actor.ensure_may_write()?;
        let l = self.inquiry(actor, inquiry_id).await?;
        if !self.can_edit_provider(actor, &l.inquiry.organisation_id) {
            return Err(AppError::Forbidden);
        }
        let mut errors = Invalid::default();
        let status = match InquiryStatus::from_code(status.trim()) {
            Some(s @ (InquiryStatus::Accepted | InquiryStatus::Declined | InquiryStatus::CallMe)) => Some(s),
            _ => {
                errors.push(FieldError::new("status", "error.vacancies.choose_answer"));
                None
            }
        };
        let answer_note = note("answer_note", answer_note, &mut errors);
        errors.into_result()?;
        let Some(status) = status else {
            return Err(AppError::Internal("validated answer lost its status".into()));
        };
        self.close_inquiry(actor, &l.inquiry.id, status, &answer_note, Action::InquiryAnswered).await
    }

    /// The sender withdraws an open inquiry. Anyone else who may see it gets `Forbidden`.
    pub async fn withdraw_inquiry(&self, actor: &Actor, inquiry_id: &str) -> Result<InquiryRow> {
        actor.ensure_may_write()?;
        let l = self.inquiry(actor, inquiry_id).await?;
        if l.inquiry.sender_id != actor.user_id {
            return Err(AppError::Forbidden);
        }
        self.close_inquiry(actor, &l.inquiry.id, InquiryStatus::Withdrawn, "", Action::InquiryWithdrawn).await
    }

    async fn close_inquiry(
        &self,
        actor: &Actor,
        id: &str,
        status: InquiryStatus,
        answer_note: &str,
        action: Action,
    ) -> Result<InquiryRow> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let closed = tx
            .close_inquiry(
                id,
                InquiryStatus::Open.code(),
                status.code(),
                answer_note,
                &actor.user_id,
                now.micros(),
            )
            .await?;
        if !closed {
            return Err(Invalid::one("status", "error.vacancies.not_open").into());
        }
        tx.append_audit(
            actor.event(now, action, Outcome::Success).target("vacancy_inquiry", id).detail(status.code()),
        )
        .await?;
        let row = tx.inquiry(id).await?.ok_or(AppError::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// The inquiries a facility received, newest first, for its operators and the coordinator.
    pub async fn inquiries_for_facility(
        &self,
        actor: &Actor,
        organisation_id: &str,
    ) -> Result<FacilityInquiries> {
        let row = self.editable_short_stay(actor, organisation_id).await?;
        let items = self.store.inquiries_for_facility(&row.id, HISTORY_LIMIT).await?;
        Ok(FacilityInquiries { organisation_id: row.id, facility_name: row.name, items })
    }

    /// The inquiries the actor sent, newest first, with their answers. Only the sender's own:
    /// colleagues of the same organisation do not see them.
    pub async fn my_inquiries(&self, actor: &Actor) -> Result<Vec<InquiryListing>> {
        if !is_professional(Some(actor)) {
            return Err(AppError::Forbidden);
        }
        Ok(self.store.inquiries_by_sender(&actor.user_id, HISTORY_LIMIT).await?)
    }

    /// Whether the actor may send inquiries at all (for links and forms).
    pub fn may_send_inquiries(&self, actor: &Actor) -> bool {
        inquiry_refusal(actor, "").is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, beds: i64, at: i64) -> VacancyRow {
        VacancyRow {
            organisation_id: "o".into(),
            day: day.into(),
            free_beds: beds,
            confirmed_at: at,
            confirmed_by: None,
        }
    }

    #[test]
    fn a_board_marks_each_day_fresh_stale_or_missing() {
        let from = time::macros::date!(2026 - 11 - 22);
        let rows = [row("2026-11-22", 2, 100), row("2026-11-23", 0, 50)];
        let refs: Vec<&VacancyRow> = rows.iter().collect();
        let days = build_days(from, 3, &refs, 60);
        assert_eq!(
            days.iter().map(|d| d.freshness).collect::<Vec<_>>(),
            [Freshness::Fresh, Freshness::Stale, Freshness::Missing]
        );
        assert_eq!(days[0].free_beds, Some(2));
        assert_eq!(days[2].free_beds, None);
        // 2026-11-22 is a Sunday; 11-23 is 勤労感謝の日.
        assert_eq!(days[0].weekday, 6);
        assert_eq!(days[1].holiday, Some("勤労感謝の日"));
        assert!(days[0].is_rest_day() && days[1].is_rest_day() && !days[2].is_rest_day());
        assert_eq!(days[1].month_day, "11/23");
    }

    #[test]
    fn a_provider_takes_short_stay_guests_by_kind_or_service() {
        assert!(offers_short_stay("short_stay_facility", &[]));
        assert!(offers_short_stay("special_nursing_home", &["medical_short_stay".into()]));
        assert!(!offers_short_stay("special_nursing_home", &["day_service".into()]));
    }
}
