//! Short-stay vacancies (free beds per day, each with when it was last confirmed) and the
//! inquiries care managers send about them.

use crate::{Result, Store, Tx, exec_tx, on_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VacancyRow {
    pub organisation_id: String,
    /// `YYYY-MM-DD` in Asia/Tokyo.
    pub day: String,
    pub free_beds: i64,
    pub confirmed_at: i64,
    pub confirmed_by: Option<String>,
}

/// A short-stay facility as the vacancy overview lists it: public fields only.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FacilityRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub name_kana: String,
    pub address: String,
    pub district: Option<String>,
    pub phone: String,
    pub capacity: Option<i64>,
}

/// One inquiry as stored (`vacancy_inquiries`). A withdrawal is recorded like an answer:
/// `answered_by` is then the sender and `answered_at` the time of the withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InquiryRow {
    pub id: String,
    pub organisation_id: String,
    pub sender_id: String,
    pub sender_org_id: Option<String>,
    /// `YYYY-MM-DD` in Asia/Tokyo, both inclusive.
    pub first_day: String,
    pub last_day: String,
    pub beds: i64,
    pub note: String,
    /// An `InquiryStatus` code.
    pub status: String,
    pub answer_note: String,
    pub answered_by: Option<String>,
    pub answered_at: Option<i64>,
    pub created_at: i64,
}

/// An inquiry with the names its history shows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InquiryListing {
    #[sqlx(flatten)]
    pub inquiry: InquiryRow,
    pub facility_name: String,
    pub sender_name: String,
    pub sender_org_name: Option<String>,
    pub answered_by_name: Option<String>,
}

const INQUIRY_COLUMNS: &str = "i.id, i.organisation_id, i.sender_id, i.sender_org_id, i.first_day, i.last_day, \
     i.beds, i.note, i.status, i.answer_note, i.answered_by, i.answered_at, i.created_at";

fn listing_sql(filter: &str) -> String {
    format!(
        "select {INQUIRY_COLUMNS}, o.name as facility_name, s.display_name as sender_name, \
         so.name as sender_org_name, a.display_name as answered_by_name \
         from vacancy_inquiries i \
         join organisations o on o.id = i.organisation_id \
         join users s on s.id = i.sender_id \
         left join organisations so on so.id = i.sender_org_id \
         left join users a on a.id = i.answered_by \
         where {filter} order by i.created_at desc, i.id desc"
    )
}

/// The `where` condition "is a short-stay facility": of the given kind, or offering one of the
/// given services. `$1` is the kind; the services follow from `$2` on.
fn short_stay_condition(services: &[&str]) -> String {
    let mut c = "(o.kind = $1".to_string();
    if !services.is_empty() {
        let marks: Vec<String> = (0..services.len()).map(|i| format!("${}", i + 2)).collect();
        c.push_str(&format!(
            " or exists (select 1 from org_services s where s.organisation_id = o.id and s.service in ({})))",
            marks.join(", ")
        ));
    } else {
        c.push(')');
    }
    c
}

impl Store {
    /// A facility's figures for `from_day..=to_day`, by day.
    pub async fn vacancies(
        &self,
        organisation_id: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<VacancyRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, VacancyRow>(
            "select organisation_id, day, free_beds, confirmed_at, confirmed_by from vacancies \
             where organisation_id = $1 and day >= $2 and day <= $3 order by day"
        )
        .bind(organisation_id)
        .bind(from_day)
        .bind(to_day)
        .fetch_all(c)
        .await)?)
    }

    /// The figures of many facilities for `from_day..=to_day` (a board of facilities × days), by
    /// facility and day: one query per 500 facilities.
    pub async fn vacancies_of(
        &self,
        ids: &[String],
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<VacancyRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "select organisation_id, day, free_beds, confirmed_at, confirmed_by from vacancies \
                 where day >= $1 and day <= $2 and organisation_id in ({}) order by organisation_id, day",
                marks.join(", ")
            );
            let rows: Vec<VacancyRow> = read!(self, |c| {
                let mut q = sqlx::query_as::<_, VacancyRow>(&sql).bind(from_day).bind(to_day);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Every short-stay facility: organisations of `kind`, or offering one of `services`, by
    /// kana reading and name; at most `limit`.
    pub async fn short_stay_facilities(
        &self,
        kind: &str,
        services: &[&str],
        limit: i64,
    ) -> Result<Vec<FacilityRow>> {
        let sql = format!(
            "select o.id, o.kind, o.name, o.name_kana, o.address, o.district, o.phone, o.capacity \
             from organisations o where {} order by o.name_kana, o.name, o.id limit {}",
            short_stay_condition(services),
            limit.max(0)
        );
        Ok(read!(self, |c| {
            let mut q = sqlx::query_as::<_, FacilityRow>(&sql).bind(kind);
            for s in services {
                q = q.bind(*s);
            }
            q.fetch_all(c).await
        })?)
    }

    /// One inquiry with its names.
    pub async fn inquiry(&self, id: &str) -> Result<Option<InquiryListing>> {
        let sql = listing_sql("i.id = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, InquiryListing>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// The inquiries a facility received, newest first.
    pub async fn inquiries_for_facility(
        &self,
        organisation_id: &str,
        limit: i64,
    ) -> Result<Vec<InquiryListing>> {
        let sql = format!("{} limit $2", listing_sql("i.organisation_id = $1"));
        Ok(read!(self, |c| sqlx::query_as::<_, InquiryListing>(&sql)
            .bind(organisation_id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// The inquiries a person sent, newest first.
    pub async fn inquiries_by_sender(&self, sender_id: &str, limit: i64) -> Result<Vec<InquiryListing>> {
        let sql = format!("{} limit $2", listing_sql("i.sender_id = $1"));
        Ok(read!(self, |c| sqlx::query_as::<_, InquiryListing>(&sql)
            .bind(sender_id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }
}

impl Tx {
    /// Sets (or re-confirms) the free beds of one day.
    pub async fn upsert_vacancy(&mut self, r: &VacancyRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into vacancies (organisation_id, day, free_beds, confirmed_at, confirmed_by) \
             values ($1, $2, $3, $4, $5) on conflict (organisation_id, day) do update set \
             free_beds = excluded.free_beds, confirmed_at = excluded.confirmed_at, \
             confirmed_by = excluded.confirmed_by"
        )
        .bind(&r.organisation_id)
        .bind(&r.day)
        .bind(r.free_beds)
        .bind(r.confirmed_at)
        .bind(&r.confirmed_by)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn insert_inquiry(&mut self, r: &InquiryRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into vacancy_inquiries (id, organisation_id, sender_id, sender_org_id, first_day, \
             last_day, beds, note, status, answer_note, answered_by, answered_at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )
        .bind(&r.id)
        .bind(&r.organisation_id)
        .bind(&r.sender_id)
        .bind(&r.sender_org_id)
        .bind(&r.first_day)
        .bind(&r.last_day)
        .bind(r.beds)
        .bind(&r.note)
        .bind(&r.status)
        .bind(&r.answer_note)
        .bind(&r.answered_by)
        .bind(r.answered_at)
        .bind(r.created_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// An inquiry as this transaction sees it.
    pub async fn inquiry(&mut self, id: &str) -> Result<Option<InquiryRow>> {
        let sql = format!("select {INQUIRY_COLUMNS} from vacancy_inquiries i where i.id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as::<_, InquiryRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// Closes an inquiry that is still `from_status` (an answer, or the sender's withdrawal):
    /// sets its status, note, who and when. Returns whether it was still `from_status` (false:
    /// someone closed it first).
    pub async fn close_inquiry(
        &mut self,
        id: &str,
        from_status: &str,
        status: &str,
        answer_note: &str,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        let n = exec_tx!(self, |c| {
            sqlx::query(
            "update vacancy_inquiries set status = $3, answer_note = $4, answered_by = $5, answered_at = $6 \
             where id = $1 and status = $2"
        )
        .bind(id)
        .bind(from_status)
        .bind(status)
        .bind(answer_note)
        .bind(by)
        .bind(at)
        .execute(c)
        .await
        })?;
        Ok(n == 1)
    }
}
