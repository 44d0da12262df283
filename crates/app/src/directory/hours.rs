//! Physician consultation hours (issue 4 §1): the weekly hours in which a provider's physicians
//! take care managers' calls, the days that differ, and Japanese public holidays. Professionals
//! read them ([`App::consultation_summary`]); residents get nothing. The entry's operator and the
//! coordinator edit them; each edit is one transaction with an `org_changes` row (`hours`), an
//! audit event (`directory.hours_changed`) and a new version of the entry.

use serde_json::{Value, json};
use time::Date;
use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::holiday;
use tsunagu_domain::schedule::{
    DayException, TimeRange, WeeklySlot, format_minute, next_open, open_at, weekday_of,
};
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid};
use tsunagu_store::Tx;
use tsunagu_store::directory::hours::{ConsultationExceptionRow, ConsultationSlotRow};
use tsunagu_store::directory::{OrgChangeRow, ProviderRow};

use crate::directory::{format_day, is_professional, parse_day};
use crate::{Actor, App, AppError, Result};

/// How far ahead the provider page lists exceptions, in days.
pub const EXCEPTION_DAYS: i64 = 30;
/// How far ahead an exception may be set, in days.
pub const EXCEPTION_MAX_DAYS: i64 = 366;

const WEEKDAY_KEYS: [&str; 7] = [
    "directory_upkeep.weekday_0",
    "directory_upkeep.weekday_1",
    "directory_upkeep.weekday_2",
    "directory_upkeep.weekday_3",
    "directory_upkeep.weekday_4",
    "directory_upkeep.weekday_5",
    "directory_upkeep.weekday_6",
];

const WEEKDAY_SHORT_KEYS: [&str; 7] = [
    "directory_upkeep.wd_0",
    "directory_upkeep.wd_1",
    "directory_upkeep.wd_2",
    "directory_upkeep.wd_3",
    "directory_upkeep.wd_4",
    "directory_upkeep.wd_5",
    "directory_upkeep.wd_6",
];

/// The catalog key of a weekday's name (0 = Monday): `月曜日`.
pub fn weekday_key(w: u8) -> &'static str {
    WEEKDAY_KEYS.get(usize::from(w)).copied().unwrap_or(WEEKDAY_KEYS[0])
}

/// The catalog key of a weekday's short name: `月`.
pub fn weekday_short_key(w: u8) -> &'static str {
    WEEKDAY_SHORT_KEYS.get(usize::from(w)).copied().unwrap_or(WEEKDAY_SHORT_KEYS[0])
}

/// One weekly slot as pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub id: String,
    pub physician: String,
    /// `HH:MM`
    pub start: String,
    /// `HH:MM` (`24:00` possible)
    pub end: String,
    pub note: String,
}

/// One weekday of the weekly table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekdayHours {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// By start time; empty: no consultation that weekday.
    pub slots: Vec<SlotView>,
}

impl WeekdayHours {
    pub fn label_key(&self) -> &'static str {
        weekday_key(self.weekday)
    }
}

/// A day that differs from the weekly hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionView {
    pub id: String,
    /// `YYYY-MM-DD`
    pub day: String,
    pub weekday: u8,
    pub closed: bool,
    /// `HH:MM`, empty when closed.
    pub start: String,
    pub end: String,
    pub note: String,
    /// The public holiday that day, if any (its Japanese name).
    pub holiday: Option<&'static str>,
}

impl ExceptionView {
    pub fn weekday_key(&self) -> &'static str {
        weekday_short_key(self.weekday)
    }
}

/// The next time consultation is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextOpen {
    /// `YYYY-MM-DD`
    pub day: String,
    pub weekday: u8,
    /// `HH:MM`: now, when consultation is possible now.
    pub start: String,
    pub end: String,
    /// The day is today.
    pub today: bool,
}

impl NextOpen {
    pub fn weekday_key(&self) -> &'static str {
        weekday_short_key(self.weekday)
    }
}

/// A provider's consultation hours as a professional reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationSummary {
    pub organisation_id: String,
    /// The weekly hours also hold on public holidays.
    pub consult_on_holidays: bool,
    /// Monday to Sunday, every day (a day without slots has none).
    pub week: Vec<WeekdayHours>,
    /// Exceptions from today on (the next [`EXCEPTION_DAYS`] days on the provider page; all of
    /// them on the editing page), by day.
    pub exceptions: Vec<ExceptionView>,
    /// Consultation is possible right now.
    pub open_now: bool,
    /// Now, or the next time within the lookahead (`schedule::LOOKAHEAD_DAYS`).
    pub next_open: Option<NextOpen>,
    /// Today in Japan, `YYYY-MM-DD`.
    pub today: String,
    /// Today's public holiday, if it is one.
    pub holiday_today: Option<&'static str>,
    /// The provider has any weekly slot or upcoming exception.
    pub has_hours: bool,
}

/// A weekly slot as typed into the form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewSlot {
    pub physician: String,
    /// `0` (Monday) … `6` (Sunday).
    pub weekday: String,
    /// `HH:MM`
    pub start: String,
    /// `HH:MM` (`24:00` allowed)
    pub end: String,
    pub note: String,
}

/// An exception as typed into the form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewException {
    /// `YYYY-MM-DD`
    pub day: String,
    /// Closed all day (then `start` and `end` are ignored).
    pub closed: bool,
    pub start: String,
    pub end: String,
    pub note: String,
}

/// The hours editing page's data.
#[derive(Debug, Clone)]
pub struct HoursForEdit {
    pub row: ProviderRow,
    pub summary: ConsultationSummary,
}

fn slot_json(s: &ConsultationSlotRow) -> Value {
    json!({
        "weekday": s.weekday,
        "start": minute_text(s.start_minute),
        "end": minute_text(s.end_minute),
        "physician": s.physician,
        "note": s.note,
    })
}

fn exception_json(e: &ConsultationExceptionRow) -> Value {
    json!({
        "day": e.day,
        "closed": e.closed,
        "start": e.start_minute.map(minute_text),
        "end": e.end_minute.map(minute_text),
        "note": e.note,
    })
}

fn minute_text(m: i64) -> String {
    u16::try_from(m).map(format_minute).unwrap_or_default()
}

impl App {
    /// A provider's consultation hours for a professional; `None` for residents (no viewer)
    /// and people still to enrol a second factor. A malformed id and a missing provider are
    /// `NotFound`.
    pub async fn consultation_summary(
        &self,
        viewer: Option<&Actor>,
        organisation_id: &str,
    ) -> Result<Option<ConsultationSummary>> {
        if uuid::Uuid::parse_str(organisation_id).is_err() {
            return Err(AppError::NotFound);
        }
        let Some(row) = self.store.provider(organisation_id).await? else {
            return Err(AppError::NotFound);
        };
        if !is_professional(viewer) {
            return Ok(None);
        }
        Ok(Some(self.summary_of(&row, Some(EXCEPTION_DAYS)).await?))
    }

    /// A provider's hours with every upcoming exception, for its editing page (its operator
    /// or the coordinator).
    pub async fn consultation_hours_for_edit(
        &self,
        actor: &Actor,
        organisation_id: &str,
    ) -> Result<HoursForEdit> {
        let row = self.editable_provider(actor, organisation_id, false).await?;
        let summary = self.summary_of(&row, None).await?;
        Ok(HoursForEdit { row, summary })
    }

    async fn summary_of(
        &self,
        row: &ProviderRow,
        exception_days: Option<i64>,
    ) -> Result<ConsultationSummary> {
        let now = self.consult_at_now();
        let today =
            parse_day("day", &now.day).map_err(|_| AppError::Internal("today is not a date".into()))?;
        let slot_rows = self.store.consultation_slots(&row.id).await?;
        let exception_rows = self.store.consultation_exceptions(&row.id, &now.day).await?;
        let slots: Vec<WeeklySlot> = slot_rows.iter().filter_map(ConsultationSlotRow::slot).collect();
        let dated: Vec<(Date, DayException)> = exception_rows
            .iter()
            .filter_map(|e| Some((parse_day("day", &e.day).ok()?, e.exception()?)))
            .collect();
        let of_today: Vec<DayException> =
            dated.iter().filter(|(d, _)| *d == today).map(|(_, e)| *e).collect();
        let minute = u16::try_from(now.minute).unwrap_or(0);
        let weekday = weekday_of(today);
        let open_now = open_at(&slots, &of_today, now.holiday, row.consult_on_holidays, weekday, minute);
        let next = next_open(&slots, &dated, row.consult_on_holidays, holiday::is_holiday, today, minute)
            .map(|n| NextOpen {
                day: format_day(n.day),
                weekday: weekday_of(n.day),
                start: format_minute(n.hours.start),
                end: format_minute(n.hours.end),
                today: n.day == today,
            });
        let week = (0..7u8)
            .map(|w| WeekdayHours {
                weekday: w,
                slots: slot_rows
                    .iter()
                    .filter(|s| s.weekday == i64::from(w))
                    .map(|s| SlotView {
                        id: s.id.clone(),
                        physician: s.physician.clone(),
                        start: minute_text(s.start_minute),
                        end: minute_text(s.end_minute),
                        note: s.note.clone(),
                    })
                    .collect(),
            })
            .collect();
        let last_day = exception_days.and_then(|n| today.checked_add(time::Duration::days(n)));
        let exceptions: Vec<ExceptionView> = exception_rows
            .iter()
            .filter_map(|e| {
                let d = parse_day("day", &e.day).ok()?;
                if last_day.is_some_and(|l| d > l) {
                    return None;
                }
                Some(ExceptionView {
                    id: e.id.clone(),
                    day: e.day.clone(),
                    weekday: weekday_of(d),
                    closed: e.closed,
                    start: e.start_minute.map(minute_text).unwrap_or_default(),
                    end: e.end_minute.map(minute_text).unwrap_or_default(),
                    note: e.note.clone(),
                    holiday: holiday::holiday_name(d),
                })
            })
            .collect();
        Ok(ConsultationSummary {
            organisation_id: row.id.clone(),
            consult_on_holidays: row.consult_on_holidays,
            has_hours: !slot_rows.is_empty() || !exceptions.is_empty(),
            week,
            exceptions,
            open_now,
            next_open: next,
            today: now.day,
            holiday_today: holiday::holiday_name(today),
        })
    }

    /// Adds a weekly slot (the entry's operator or the coordinator).
    pub async fn add_consultation_slot(
        &self,
        actor: &Actor,
        organisation_id: &str,
        input: NewSlot,
    ) -> Result<ConsultationSlotRow> {
        let row = self.editable_provider(actor, organisation_id, true).await?;
        let mut errs = Invalid::default();
        let slot =
            WeeklySlot::parse(&input.weekday, &input.start, &input.end).map_err(|e| errs.0.extend(e.0)).ok();
        let physician =
            text("physician", &input.physician, false, 60).map_err(|e| errs.push(e)).unwrap_or_default();
        let note = text("note", &input.note, false, 200).map_err(|e| errs.push(e)).unwrap_or_default();
        errs.clone().into_result()?;
        let Some(slot) = slot else { return Err(AppError::Invalid(errs)) };
        let now = self.now();
        let new = ConsultationSlotRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: row.id.clone(),
            physician,
            weekday: i64::from(slot.weekday),
            start_minute: i64::from(slot.hours.start),
            end_minute: i64::from(slot.hours.end),
            note,
            created_at: now.micros(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_consultation_slot(&new).await?;
        let change = json!({"field": "consultation_slot", "old": null, "new": slot_json(&new)});
        self.record_hours_change(&mut tx, actor, &row.id, change, None).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Removes a weekly slot of the entry (an id of another entry's slot is `NotFound`).
    pub async fn remove_consultation_slot(
        &self,
        actor: &Actor,
        organisation_id: &str,
        slot_id: &str,
    ) -> Result<()> {
        let row = self.editable_provider(actor, organisation_id, true).await?;
        let mut tx = self.store.begin().await?;
        let Some(old) = tx.consultation_slot(&row.id, slot_id).await? else {
            return Err(AppError::NotFound);
        };
        tx.delete_consultation_slot(&row.id, slot_id).await?;
        let change = json!({"field": "consultation_slot", "old": slot_json(&old), "new": null});
        self.record_hours_change(&mut tx, actor, &row.id, change, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a day that differs from the weekly hours: closed, or open at the hours given. The
    /// day is today or later, within a year.
    pub async fn add_consultation_exception(
        &self,
        actor: &Actor,
        organisation_id: &str,
        input: NewException,
    ) -> Result<ConsultationExceptionRow> {
        let row = self.editable_provider(actor, organisation_id, true).await?;
        let mut errs = Invalid::default();
        let today = parse_day("day", &self.consult_at_now().day)
            .map_err(|_| AppError::Internal("today is not a date".into()))?;
        let day = match parse_day("day", &input.day) {
            Ok(d) if d < today => {
                errs.push(FieldError::new("day", "error.directory_upkeep.past_day"));
                None
            }
            Ok(d) if today.checked_add(time::Duration::days(EXCEPTION_MAX_DAYS)).is_some_and(|l| d > l) => {
                errs.push(FieldError::new("day", "error.directory_upkeep.too_far"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                errs.push(e);
                None
            }
        };
        let hours = if input.closed {
            None
        } else {
            TimeRange::parse(&input.start, &input.end).map_err(|e| errs.0.extend(e.0)).ok()
        };
        let note = text("note", &input.note, false, 200).map_err(|e| errs.push(e)).unwrap_or_default();
        errs.clone().into_result()?;
        let Some(day) = day else { return Err(AppError::Invalid(errs)) };
        let now = self.now();
        let new = ConsultationExceptionRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: row.id.clone(),
            day: format_day(day),
            closed: input.closed,
            start_minute: hours.map(|h| i64::from(h.start)),
            end_minute: hours.map(|h| i64::from(h.end)),
            note,
            created_at: now.micros(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_consultation_exception(&new).await?;
        let change = json!({"field": "consultation_exception", "old": null, "new": exception_json(&new)});
        self.record_hours_change(&mut tx, actor, &row.id, change, None).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Removes an exception of the entry (an id of another entry's exception is `NotFound`).
    pub async fn remove_consultation_exception(
        &self,
        actor: &Actor,
        organisation_id: &str,
        exception_id: &str,
    ) -> Result<()> {
        let row = self.editable_provider(actor, organisation_id, true).await?;
        let mut tx = self.store.begin().await?;
        let Some(old) = tx.consultation_exception(&row.id, exception_id).await? else {
            return Err(AppError::NotFound);
        };
        tx.delete_consultation_exception(&row.id, exception_id).await?;
        let change = json!({"field": "consultation_exception", "old": exception_json(&old), "new": null});
        self.record_hours_change(&mut tx, actor, &row.id, change, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the weekly hours also hold on public holidays. Setting it to what it is already
    /// writes nothing.
    pub async fn set_consult_on_holidays(
        &self,
        actor: &Actor,
        organisation_id: &str,
        on: bool,
    ) -> Result<()> {
        let row = self.editable_provider(actor, organisation_id, true).await?;
        if row.consult_on_holidays == on {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let change = json!({"field": "consult_on_holidays", "old": !on, "new": on});
        self.record_hours_change(&mut tx, actor, &row.id, change, Some(on)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rest of every hours edit, in its transaction: a new version of the entry (and the
    /// holiday flag when given), the `org_changes` row and the audit event.
    async fn record_hours_change(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        organisation_id: &str,
        change: Value,
        consult_on_holidays: Option<bool>,
    ) -> Result<()> {
        let now = self.now();
        let Some(current) = tx.provider(organisation_id).await? else {
            return Err(AppError::NotFound);
        };
        let field = change.get("field").and_then(Value::as_str).unwrap_or("hours").to_string();
        let next = ProviderRow {
            version: current.version + 1,
            updated_at: now.micros(),
            consult_on_holidays: consult_on_holidays.unwrap_or(current.consult_on_holidays),
            ..current.clone()
        };
        if !tx.update_provider(&next, current.version).await? {
            return Err(AppError::Invalid(FieldError::new("version", "error.version_conflict").into()));
        }
        tx.insert_org_change(&OrgChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: organisation_id.to_string(),
            changed_by: Some(actor.user_id.clone()),
            changed_at: now.micros(),
            source: "hours".to_string(),
            changes: Value::Array(vec![change]).to_string(),
        })
        .await?;
        tx.append_audit(
            actor
                .event(now, Action::ConsultationHoursChanged, Outcome::Success)
                .target("organisation", organisation_id)
                .detail(field),
        )
        .await?;
        Ok(())
    }
}
