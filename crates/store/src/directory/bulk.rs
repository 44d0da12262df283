//! Reads and writes by the thousand, for the open-data import and the directory export: a
//! province's 200,000 providers go through here a chunk at a time, a few statements per chunk
//! rather than a few per provider.

use super::hours::ConsultationSlotRow;
use super::vacancies::VacancyRow;
use super::{PROVIDER_COLUMNS, ProviderRow, bind_provider};
use crate::{Result, Store, Tx, exec_tx, on_tx, read};

/// Rows per multi-row `insert` of providers (36 parameters each: 900 in all, well under
/// SQLite's and PostgreSQL's limits).
const PROVIDERS_PER_INSERT: usize = 25;
/// Values per `in (…)` list.
const IN_LIST: usize = 500;

fn marks(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Tx {
    /// The providers with these national office numbers (事業所番号), as this transaction sees
    /// them, in no particular order.
    pub async fn providers_by_office_nos(&mut self, office_nos: &[String]) -> Result<Vec<ProviderRow>> {
        let mut out = Vec::new();
        for chunk in office_nos.chunks(IN_LIST) {
            let sql = format!(
                "select {PROVIDER_COLUMNS} from organisations where office_no in ({})",
                marks(1, chunk.len())
            );
            let rows: Vec<ProviderRow> = on_tx!(self, |c| {
                let mut q = sqlx::query_as::<_, ProviderRow>(&sql);
                for no in chunk {
                    q = q.bind(no);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The care services of these providers: `(organisation_id, service)` pairs.
    pub async fn services_of(&mut self, ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST) {
            let sql = format!(
                "select organisation_id, service from org_services where organisation_id in ({}) \
                 order by organisation_id, service",
                marks(1, chunk.len())
            );
            let rows: Vec<(String, String)> = on_tx!(self, |c| {
                let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Inserts whole provider rows, several per statement.
    pub async fn insert_providers(&mut self, rows: &[ProviderRow]) -> Result<()> {
        for chunk in rows.chunks(PROVIDERS_PER_INSERT) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", marks(i * 36 + 1, 36))).collect();
            let sql = format!("insert into organisations ({PROVIDER_COLUMNS}) values {}", values.join(", "));
            exec_tx!(self, |c| {
                let mut q = sqlx::query(&sql);
                for p in chunk {
                    q = bind_provider(q, p);
                }
                q.execute(c).await
            })?;
        }
        Ok(())
    }

    /// Adds care services to providers (`(organisation_id, service)` pairs); pairs already
    /// there are left as they are.
    pub async fn add_provider_services(&mut self, pairs: &[(String, String)]) -> Result<()> {
        for chunk in pairs.chunks(IN_LIST) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", marks(i * 2 + 1, 2))).collect();
            let sql = format!(
                "insert into org_services (organisation_id, service) values {} \
                 on conflict (organisation_id, service) do nothing",
                values.join(", ")
            );
            exec_tx!(self, |c| {
                let mut q = sqlx::query(&sql);
                for (id, service) in chunk {
                    q = q.bind(id).bind(service);
                }
                q.execute(c).await
            })?;
        }
        Ok(())
    }
}

impl Store {
    /// Up to `limit` providers whose id sorts after `after` (all from the first when `None`), by
    /// id: the export walks the whole directory with this, one page at a time.
    pub async fn providers_after(&self, after: Option<&str>, limit: i64) -> Result<Vec<ProviderRow>> {
        let sql = format!("select {PROVIDER_COLUMNS} from organisations where id > $1 order by id limit $2");
        Ok(read!(self, |c| sqlx::query_as::<_, ProviderRow>(&sql)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// The weekly consultation hours of several providers, by provider, weekday and start.
    pub async fn consultation_slots_of(&self, ids: &[String]) -> Result<Vec<ConsultationSlotRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST) {
            let sql = format!(
                "select id, organisation_id, physician, weekday, start_minute, end_minute, note, created_at \
                 from consultation_hours where organisation_id in ({}) \
                 order by organisation_id, weekday, start_minute, id",
                marks(1, chunk.len())
            );
            let rows: Vec<ConsultationSlotRow> = read!(self, |c| {
                let mut q = sqlx::query_as::<_, ConsultationSlotRow>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The consultation-hour exceptions of several providers on or after `from_day`
    /// (`YYYY-MM-DD`), by provider, day and start.
    pub async fn consultation_exceptions_of(
        &self,
        ids: &[String],
        from_day: &str,
    ) -> Result<Vec<super::hours::ConsultationExceptionRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST) {
            let sql = format!(
                "select id, organisation_id, day, closed, start_minute, end_minute, note, created_at \
                 from consultation_exceptions where day >= $1 and organisation_id in ({}) \
                 order by organisation_id, day, start_minute, id",
                marks(2, chunk.len())
            );
            let rows: Vec<super::hours::ConsultationExceptionRow> = read!(self, |c| {
                let mut q = sqlx::query_as::<_, super::hours::ConsultationExceptionRow>(&sql).bind(from_day);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The vacancy figures of several facilities for `from_day..=to_day` confirmed at or after
    /// `fresh_after` (older figures are not true any more), by facility and day.
    pub async fn fresh_vacancies_of(
        &self,
        ids: &[String],
        from_day: &str,
        to_day: &str,
        fresh_after: i64,
    ) -> Result<Vec<VacancyRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST) {
            let sql = format!(
                "select organisation_id, day, free_beds, confirmed_at, confirmed_by from vacancies \
                 where day >= $1 and day <= $2 and confirmed_at >= $3 and organisation_id in ({}) \
                 order by organisation_id, day",
                marks(4, chunk.len())
            );
            let rows: Vec<VacancyRow> = read!(self, |c| {
                let mut q =
                    sqlx::query_as::<_, VacancyRow>(&sql).bind(from_day).bind(to_day).bind(fresh_after);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }
}
