//! Searches of a patient's timeline for the FHIR API: vital-sign observations (a blood pressure's
//! two values are one observation) and text entries, a page at a time with the total in the
//! same query. Access is decided in the app layer; these only find.
//!
//! Each page is one query on the patient's rows (`timeline_entries_patient_idx` on
//! `(patient_id, created_at, id)`, `vital_signs_patient_idx` on `(patient_id, kind,
//! measured_at)`) that also counts the matches (`count(*) over ()`); only a page past the end
//! needs a second query for the total.

use crate::patients::{ENTRY_COLUMNS, EntryRow};
use crate::{Result, Store, read};

/// Where an entry stands among its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Neither a correction nor corrected.
    Original,
    /// Corrects an earlier entry and is not corrected itself.
    Correction,
    /// A newer entry corrects it.
    Superseded,
}

/// What an observation search asks for.
#[derive(Debug, Clone, Default)]
pub struct VitalQuery {
    /// Observation groups: `bp` (both pressures) or a vital kind code; `None`: all.
    pub groups: Option<Vec<String>>,
    /// When measured, `[from, to)` in UTC micros.
    pub measured_from: Option<i64>,
    pub measured_to: Option<i64>,
    /// When written, `[from, to)`.
    pub written_from: Option<i64>,
    pub written_to: Option<i64>,
    /// `None`: any.
    pub states: Option<Vec<EntryState>>,
    /// Oldest measurement first (else newest first).
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// One observation of a search: the entry, the group, when measured and written.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VitalKey {
    pub entry_id: String,
    pub grp: String,
    pub measured_at: i64,
    pub created_at: i64,
    pub total: i64,
}

/// What a text-entry search asks for.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    /// Entry kinds (at least one; none matches nothing).
    pub kinds: Vec<String>,
    /// `Some(true)`: urgent messages only; `Some(false)`: the others.
    pub urgent: Option<bool>,
    /// When written, `[from, to)` in UTC micros.
    pub written_from: Option<i64>,
    pub written_to: Option<i64>,
    /// Oldest first (else newest first).
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct CountedEntry {
    #[sqlx(flatten)]
    entry: EntryRow,
    total: i64,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// A where clause under construction: `$1` is the patient.
struct Where {
    sql: String,
    binds: Vec<Bind>,
}

impl Where {
    fn new() -> Self {
        Where { sql: String::new(), binds: Vec::new() }
    }

    fn next(&self) -> String {
        format!("${}", self.binds.len() + 2)
    }

    fn int(&mut self, clause: &str, v: Option<i64>) {
        if let Some(v) = v {
            let p = self.next();
            self.sql.push_str(&clause.replace('?', &p));
            self.binds.push(Bind::Int(v));
        }
    }

    fn texts_in(&mut self, expr: &str, values: &[String]) {
        if values.is_empty() {
            self.sql.push_str(" and 1 = 0");
            return;
        }
        let mut ps = Vec::new();
        for v in values {
            ps.push(self.next());
            self.binds.push(Bind::Text(v.clone()));
        }
        self.sql.push_str(&format!(" and {expr} in ({})", ps.join(", ")));
    }
}

const GROUP: &str = "case when v.kind in ('systolic_bp', 'diastolic_bp') then 'bp' else v.kind end";
const SUPERSEDED: &str = "exists (select 1 from timeline_entries c where c.corrects_id = v.entry_id)";

fn vital_where(q: &VitalQuery) -> Where {
    let mut w = Where::new();
    if let Some(g) = &q.groups {
        w.texts_in(GROUP, g);
    }
    w.int(" and v.measured_at >= ?", q.measured_from);
    w.int(" and v.measured_at < ?", q.measured_to);
    w.int(" and e.created_at >= ?", q.written_from);
    w.int(" and e.created_at < ?", q.written_to);
    if let Some(states) = &q.states {
        let parts: Vec<String> = states
            .iter()
            .map(|s| match s {
                EntryState::Original => format!("(not {SUPERSEDED} and e.corrects_id is null)"),
                EntryState::Correction => format!("(not {SUPERSEDED} and e.corrects_id is not null)"),
                EntryState::Superseded => SUPERSEDED.to_string(),
            })
            .collect();
        if parts.is_empty() {
            w.sql.push_str(" and 1 = 0");
        } else {
            w.sql.push_str(&format!(" and ({})", parts.join(" or ")));
        }
    }
    w
}

fn entry_where(q: &EntryQuery) -> Where {
    let mut w = Where::new();
    w.texts_in("kind", &q.kinds);
    match q.urgent {
        // Written out, as in the partial index of urgent messages.
        Some(true) => w.sql.push_str(" and urgent = true"),
        Some(false) => w.sql.push_str(" and urgent = false"),
        None => {}
    }
    w.int(" and created_at >= ?", q.written_from);
    w.int(" and created_at < ?", q.written_to);
    w
}

macro_rules! bind_all {
    ($q:ident, $binds:expr) => {
        for b in $binds {
            $q = match b {
                Bind::Text(s) => $q.bind(s.as_str()),
                Bind::Int(i) => $q.bind(*i),
            };
        }
    };
}

impl Store {
    /// A page of a patient's vital-sign observations with the number of all that match.
    pub async fn vital_observations(&self, patient_id: &str, q: &VitalQuery) -> Result<(i64, Vec<VitalKey>)> {
        let w = vital_where(q);
        let dir = if q.ascending { "asc" } else { "desc" };
        let n = w.binds.len() + 2;
        let sql = format!(
            "select v.entry_id, {GROUP} as grp, v.measured_at, e.created_at, count(*) over () as total \
             from vital_signs v join timeline_entries e on e.id = v.entry_id \
             where v.patient_id = $1{} \
             group by v.entry_id, {GROUP}, v.measured_at, e.created_at \
             order by v.measured_at {dir}, v.entry_id {dir}, grp limit ${n} offset ${}",
            w.sql,
            n + 1
        );
        let rows: Vec<VitalKey> = read!(self, |c| {
            let mut qq = sqlx::query_as::<_, VitalKey>(&sql).bind(patient_id);
            bind_all!(qq, &w.binds);
            qq.bind(q.limit.clamp(1, 200)).bind(q.offset.max(0)).fetch_all(c).await
        })?;
        let total = match rows.first() {
            Some(r) => r.total,
            None if q.offset > 0 => self.count_vital_observations(patient_id, q).await?,
            None => 0,
        };
        Ok((total, rows))
    }

    /// How many of a patient's vital-sign observations match.
    pub async fn count_vital_observations(&self, patient_id: &str, q: &VitalQuery) -> Result<i64> {
        let w = vital_where(q);
        let sql = format!(
            "select count(*) from (select v.entry_id, {GROUP} as grp \
             from vital_signs v join timeline_entries e on e.id = v.entry_id \
             where v.patient_id = $1{} group by v.entry_id, {GROUP}) k",
            w.sql
        );
        Ok(read!(self, |c| {
            let mut qq = sqlx::query_scalar::<_, i64>(&sql).bind(patient_id);
            bind_all!(qq, &w.binds);
            qq.fetch_one(c).await
        })?)
    }

    /// A page of a patient's entries of some kinds, newest first unless asked otherwise, with
    /// the number of all that match. One query on `timeline_entries_patient_idx`.
    pub async fn entry_page(&self, patient_id: &str, q: &EntryQuery) -> Result<(i64, Vec<EntryRow>)> {
        let w = entry_where(q);
        let dir = if q.ascending { "asc" } else { "desc" };
        let n = w.binds.len() + 2;
        let sql = format!(
            "select {ENTRY_COLUMNS}, count(*) over () as total from timeline_entries \
             where patient_id = $1{} order by created_at {dir}, id {dir} limit ${n} offset ${}",
            w.sql,
            n + 1
        );
        let rows: Vec<CountedEntry> = read!(self, |c| {
            let mut qq = sqlx::query_as::<_, CountedEntry>(&sql).bind(patient_id);
            bind_all!(qq, &w.binds);
            qq.bind(q.limit.clamp(1, 200)).bind(q.offset.max(0)).fetch_all(c).await
        })?;
        let total = match rows.first() {
            Some(r) => r.total,
            None if q.offset > 0 => self.count_entry_page(patient_id, q).await?,
            None => 0,
        };
        Ok((total, rows.into_iter().map(|r| r.entry).collect()))
    }

    /// How many of a patient's entries match.
    pub async fn count_entry_page(&self, patient_id: &str, q: &EntryQuery) -> Result<i64> {
        let w = entry_where(q);
        let sql = format!("select count(*) from timeline_entries where patient_id = $1{}", w.sql);
        Ok(read!(self, |c| {
            let mut qq = sqlx::query_scalar::<_, i64>(&sql).bind(patient_id);
            bind_all!(qq, &w.binds);
            qq.fetch_one(c).await
        })?)
    }

    /// These entries of a patient (any order).
    pub async fn entries_by_ids(&self, patient_id: &str, ids: &[String]) -> Result<Vec<EntryRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ps: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "select {ENTRY_COLUMNS} from timeline_entries where patient_id = $1 and id in ({})",
            ps.join(", ")
        );
        Ok(read!(self, |c| {
            let mut qq = sqlx::query_as::<_, EntryRow>(&sql).bind(patient_id);
            for id in ids {
                qq = qq.bind(id);
            }
            qq.fetch_all(c).await
        })?)
    }
}
