//! Physician consultation hours (a weekly schedule, weekday 0 = Monday, minutes of the day in
//! Asia/Tokyo) and the days that differ from it.

use tsunagu_domain::schedule::{DayException, TimeRange, WeeklySlot};

use crate::{Result, Store, Tx, exec_tx, on_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsultationSlotRow {
    pub id: String,
    pub organisation_id: String,
    pub physician: String,
    pub weekday: i64,
    pub start_minute: i64,
    pub end_minute: i64,
    pub note: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsultationExceptionRow {
    pub id: String,
    pub organisation_id: String,
    /// `YYYY-MM-DD` in Asia/Tokyo.
    pub day: String,
    pub closed: bool,
    pub start_minute: Option<i64>,
    pub end_minute: Option<i64>,
    pub note: String,
    pub created_at: i64,
}

impl ConsultationSlotRow {
    /// The slot as the domain rule reads it (`None` for a row the database constraints
    /// should have refused).
    pub fn slot(&self) -> Option<WeeklySlot> {
        WeeklySlot::new(self.weekday, self.start_minute, self.end_minute).ok()
    }
}

impl ConsultationExceptionRow {
    /// The exception as the domain rule reads it.
    pub fn exception(&self) -> Option<DayException> {
        if self.closed {
            return Some(DayException::Closed);
        }
        TimeRange::new(self.start_minute?, self.end_minute?).ok().map(DayException::Open)
    }
}

const SLOT_COLUMNS: &str =
    "id, organisation_id, physician, weekday, start_minute, end_minute, note, created_at";
const EXCEPTION_COLUMNS: &str =
    "id, organisation_id, day, closed, start_minute, end_minute, note, created_at";

impl Store {
    /// A provider's weekly consultation hours, by weekday and start.
    pub async fn consultation_slots(&self, organisation_id: &str) -> Result<Vec<ConsultationSlotRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, ConsultationSlotRow>(
            "select id, organisation_id, physician, weekday, start_minute, end_minute, note, created_at \
             from consultation_hours where organisation_id = $1 order by weekday, start_minute, id"
        )
        .bind(organisation_id)
        .fetch_all(c)
        .await)?)
    }

    /// A provider's exceptions on or after `from_day` (`YYYY-MM-DD`), by day.
    pub async fn consultation_exceptions(
        &self,
        organisation_id: &str,
        from_day: &str,
    ) -> Result<Vec<ConsultationExceptionRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, ConsultationExceptionRow>(
            "select id, organisation_id, day, closed, start_minute, end_minute, note, created_at \
             from consultation_exceptions where organisation_id = $1 and day >= $2 \
             order by day, start_minute, id"
        )
        .bind(organisation_id)
        .bind(from_day)
        .fetch_all(c)
        .await)?)
    }
}

impl Tx {
    pub async fn insert_consultation_slot(&mut self, r: &ConsultationSlotRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into consultation_hours (id, organisation_id, physician, weekday, start_minute, \
             end_minute, note, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&r.id)
        .bind(&r.organisation_id)
        .bind(&r.physician)
        .bind(r.weekday)
        .bind(r.start_minute)
        .bind(r.end_minute)
        .bind(&r.note)
        .bind(r.created_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn insert_consultation_exception(&mut self, r: &ConsultationExceptionRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into consultation_exceptions (id, organisation_id, day, closed, start_minute, \
             end_minute, note, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&r.id)
        .bind(&r.organisation_id)
        .bind(&r.day)
        .bind(r.closed)
        .bind(r.start_minute)
        .bind(r.end_minute)
        .bind(&r.note)
        .bind(r.created_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// One slot of a provider, as this transaction sees it.
    pub async fn consultation_slot(
        &mut self,
        organisation_id: &str,
        id: &str,
    ) -> Result<Option<ConsultationSlotRow>> {
        let sql =
            format!("select {SLOT_COLUMNS} from consultation_hours where organisation_id = $1 and id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as::<_, ConsultationSlotRow>(&sql)
            .bind(organisation_id)
            .bind(id)
            .fetch_optional(c)
            .await)?)
    }

    /// Removes one slot of a provider; whether there was one.
    pub async fn delete_consultation_slot(&mut self, organisation_id: &str, id: &str) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "delete from consultation_hours where organisation_id = $1 and id = $2"
        )
        .bind(organisation_id)
        .bind(id)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// One exception of a provider, as this transaction sees it.
    pub async fn consultation_exception(
        &mut self,
        organisation_id: &str,
        id: &str,
    ) -> Result<Option<ConsultationExceptionRow>> {
        let sql = format!(
            "select {EXCEPTION_COLUMNS} from consultation_exceptions where organisation_id = $1 and id = $2"
        );
        Ok(on_tx!(self, |c| sqlx::query_as::<_, ConsultationExceptionRow>(&sql)
            .bind(organisation_id)
            .bind(id)
            .fetch_optional(c)
            .await)?)
    }

    /// Removes one exception of a provider; whether there was one.
    pub async fn delete_consultation_exception(&mut self, organisation_id: &str, id: &str) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "delete from consultation_exceptions where organisation_id = $1 and id = $2"
        )
        .bind(organisation_id)
        .bind(id)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }
}
