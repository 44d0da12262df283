//! Searches of a patient's timeline for the FHIR API: vital-sign observations (a blood pressure's
//! two values are one observation) and text entries, a page at a time. Access is decided in the
//! app layer; these only find.
//!
//! A page costs the page, not the patient's history (issue 6): each is one query that walks an
//! index of the patient's rows in the order asked and stops after `limit + 1` rows (the one more
//! says whether a next page exists). Nothing counts every match unless asked: the total is known
//! for free on the last page (those before it and on it), and otherwise only a search that asks
//! for it (FHIR `_total=accurate`, `_summary=count`) runs a separate `count(*)` that reads an
//! index only. The indexes: `timeline_entries_patient_idx` `(patient_id, created_at, id)`,
//! `timeline_entries_kind_idx` `(patient_id, kind, created_at, id, urgent)` and
//! `vital_signs_time_idx` `(patient_id, measured_at, entry_id, kind)`; a test below pins the
//! plans (SQLite's as they are, PostgreSQL's with scans and sorts made the last resort).

use crate::patients::{ENTRY_COLUMNS, EntryRow, OF_PATIENT};
use crate::writer::{IntoVal, Val};
use crate::{Result, Store, args, read};

/// The largest page the store returns (`Patient/$everything` asks for this many).
pub const MAX_PAGE: i64 = 1000;

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
    /// Also count every match when the page does not tell (a second, index-only query).
    pub count_total: bool,
}

/// One observation of a search: the entry, the group, when measured and written.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct VitalKey {
    pub entry_id: String,
    pub grp: String,
    pub measured_at: i64,
    pub created_at: i64,
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
    /// Also count every match when the page does not tell (a second, index-only query).
    pub count_total: bool,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Whether more matches follow this page.
    pub more: bool,
    /// How many match in all, when known: on the last page (those before it and on it), or
    /// counted because the search asked (`count_total`).
    pub total: Option<i64>,
}

impl<T> Page<T> {
    /// The page of `limit + 1` rows fetched from `offset`: the extra row only says that more follow.
    fn of(mut rows: Vec<T>, limit: i64, offset: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        // An empty page past the end says nothing of how many came before it.
        let known = !more && (offset == 0 || !rows.is_empty());
        let total = known.then(|| offset.saturating_add(i64::try_from(rows.len()).unwrap_or(i64::MAX)));
        Page { rows, more, total }
    }
}

/// The page size and offset of a search, within bounds.
fn window(limit: i64, offset: i64) -> (i64, i64) {
    (limit.clamp(1, MAX_PAGE), offset.max(0))
}

/// A where clause under construction: `$1` is the patient.
struct Where {
    sql: String,
    binds: Vec<Val>,
    /// Whether it names the entry of a vital sign (`e.`), so a count must join it.
    needs_entry: bool,
}

impl Where {
    fn new() -> Self {
        Where { sql: String::new(), binds: Vec::new(), needs_entry: false }
    }

    fn next(&self) -> String {
        format!("${}", self.binds.len() + 2)
    }

    fn int(&mut self, clause: &str, v: Option<i64>) {
        if let Some(v) = v {
            let p = self.next();
            self.sql.push_str(&clause.replace('?', &p));
            self.binds.push(Val::Int(v));
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
            self.binds.push(Val::Text(v.clone()));
        }
        self.sql.push_str(&format!(" and {expr} in ({})", ps.join(", ")));
    }
}

const GROUP: &str = "case when v.kind in ('systolic_bp', 'diastolic_bp') then 'bp' else v.kind end";
const SUPERSEDED: &str = "exists (select 1 from timeline_entries c where c.corrects_id = v.entry_id)";
/// One row per observation, so a page needs no grouping (which would sort every row first):
/// every vital sign but the diastolic pressure of an entry that also holds the systolic one (the
/// two are one `bp` observation). The vital signs of an entry share its measurement time. A
/// `not exists` of its own (not under an `or`), so PostgreSQL makes it an anti-join that probes
/// the primary key row by row instead of hashing every systolic pressure in the table.
const ONE_PER_OBSERVATION: &str = " and not exists (select 1 from vital_signs s \
     where v.kind = 'diastolic_bp' and s.entry_id = v.entry_id and s.kind = 'systolic_bp')";

fn vital_where(q: &VitalQuery) -> Where {
    let mut w = Where::new();
    w.sql.push_str(ONE_PER_OBSERVATION);
    if let Some(g) = &q.groups {
        w.texts_in(GROUP, g);
    }
    w.int(" and v.measured_at >= ?", q.measured_from);
    w.int(" and v.measured_at < ?", q.measured_to);
    w.int(" and e.created_at >= ?", q.written_from);
    w.int(" and e.created_at < ?", q.written_to);
    w.needs_entry = q.written_from.is_some() || q.written_to.is_some();
    if let Some(states) = &q.states {
        let parts: Vec<String> = states
            .iter()
            .map(|s| match s {
                EntryState::Original => format!("(not {SUPERSEDED} and e.corrects_id is null)"),
                EntryState::Correction => format!("(not {SUPERSEDED} and e.corrects_id is not null)"),
                EntryState::Superseded => SUPERSEDED.to_string(),
            })
            .collect();
        w.needs_entry |= states.iter().any(|s| *s != EntryState::Superseded);
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
    entry_conditions(&mut w, q);
    w
}

/// The conditions of a text-entry search besides its kinds.
fn entry_conditions(w: &mut Where, q: &EntryQuery) {
    match q.urgent {
        // Written out, as in the partial index of urgent messages.
        Some(true) => w.sql.push_str(" and urgent = true"),
        Some(false) => w.sql.push_str(" and urgent = false"),
        None => {}
    }
    w.int(" and created_at >= ?", q.written_from);
    w.int(" and created_at < ?", q.written_to);
}

/// The page query of a vital-sign search: `vital_signs_time_idx` walked in the order asked,
/// each row's entry by its primary key.
fn vital_page_sql(q: &VitalQuery, w: &Where) -> String {
    let dir = if q.ascending { "asc" } else { "desc" };
    let n = w.binds.len() + 2;
    format!(
        "select v.entry_id, {GROUP} as grp, v.measured_at, e.created_at \
         from vital_signs v join timeline_entries e on e.id = v.entry_id \
         where v.patient_id = $1{} \
         order by v.measured_at {dir}, v.entry_id {dir}, v.kind {dir} limit ${n} offset ${}",
        w.sql,
        n + 1
    )
}

/// The page query of an entry search: `timeline_entries_patient_idx` walked in the order asked
/// (or `timeline_entries_kind_idx` for one kind).
/// The page query of a text-entry search, with all its values after the patient (`$1`): per
/// kind, the first `offset + limit + 1` entries in the order asked, walked down
/// `timeline_entries_kind_idx` and stopping there; then those few merged and the page taken. A
/// page thus costs the page times the number of kinds, however many entries of other kinds (a
/// long run of vital signs) lie between the patient's text entries.
fn entry_page_query(q: &EntryQuery, limit: i64, offset: i64) -> (String, Vec<Val>) {
    let dir = if q.ascending { "asc" } else { "desc" };
    let mut w = Where::new();
    entry_conditions(&mut w, q);
    let rest = w.sql.clone();
    let each = w.next();
    w.binds.push(Val::Int(offset.saturating_add(limit).saturating_add(1)));
    let mut branches = Vec::new();
    for (i, kind) in q.kinds.iter().enumerate() {
        let k = w.next();
        w.binds.push(Val::Text(kind.clone()));
        branches.push(format!(
            "select * from (select {ENTRY_COLUMNS} from timeline_entries \
             where patient_id = $1 and kind = {k}{rest} \
             order by created_at {dir}, id {dir} limit {each}) as k{i}"
        ));
    }
    let (l, o) = (w.next(), format!("${}", w.binds.len() + 3));
    w.binds.push(Val::Int(limit.saturating_add(1)));
    w.binds.push(Val::Int(offset));
    let sql = format!(
        "select * from ({}) as page order by created_at {dir}, id {dir} limit {l} offset {o}",
        branches.join(" union all ")
    );
    (sql, w.binds)
}

/// `n` entries of patient `$1` by id (`$2…`): probes of the primary key.
fn entries_by_ids_sql(n: usize) -> String {
    let ps: Vec<String> = (0..n).map(|i| format!("${}", i + 2)).collect();
    format!("select {ENTRY_COLUMNS} from timeline_entries where {OF_PATIENT} and id in ({})", ps.join(", "))
}

impl Store {
    /// A page of a patient's vital-sign observations: newest measurement first unless asked
    /// otherwise, whether more follow, and the number of all that match when known (see
    /// [`Page`]).
    pub async fn vital_observations(&self, patient_id: &str, q: &VitalQuery) -> Result<Page<VitalKey>> {
        let (limit, offset) = window(q.limit, q.offset);
        let w = vital_where(q);
        let sql = vital_page_sql(q, &w);
        let mut values = args![patient_id];
        values.extend(w.binds.iter().cloned());
        values.extend(args![limit + 1, offset]);
        let rows: Vec<VitalKey> = self.fetch_all(&sql, values).await?;
        let mut page = Page::of(rows, limit, offset);
        if page.total.is_none() && q.count_total {
            page.total = Some(self.count_vital_observations(patient_id, q).await?);
        }
        Ok(page)
    }

    /// How many of a patient's vital-sign observations match (reads `vital_signs_time_idx`
    /// and the primary key of `vital_signs` only, unless the search names the entries).
    pub async fn count_vital_observations(&self, patient_id: &str, q: &VitalQuery) -> Result<i64> {
        let w = vital_where(q);
        let join = if w.needs_entry { " join timeline_entries e on e.id = v.entry_id" } else { "" };
        let sql = format!("select count(*) from vital_signs v{join} where v.patient_id = $1{}", w.sql);
        Ok(read!(self, |c| {
            let mut qq = sqlx::query_scalar::<_, i64>(&sql).bind(patient_id);
            crate::bind_vals!(qq, w.binds.iter().cloned());
            qq.fetch_one(c).await
        })?)
    }

    /// A page of a patient's entries of some kinds: newest first unless asked otherwise, whether
    /// more follow, and the number of all that match when known (see [`Page`]).
    pub async fn entry_page(&self, patient_id: &str, q: &EntryQuery) -> Result<Page<EntryRow>> {
        let (limit, offset) = window(q.limit, q.offset);
        if q.kinds.is_empty() {
            return Ok(Page { rows: Vec::new(), more: false, total: Some(0) });
        }
        let (sql, binds) = entry_page_query(q, limit, offset);
        let mut values = args![patient_id];
        values.extend(binds.iter().cloned());
        let rows: Vec<EntryRow> = self.fetch_all(&sql, values).await?;
        let mut page = Page::of(rows, limit, offset);
        if page.total.is_none() && q.count_total {
            page.total = Some(self.count_entry_page(patient_id, q).await?);
        }
        Ok(page)
    }

    /// How many of a patient's entries match (reads `timeline_entries_kind_idx` only).
    pub async fn count_entry_page(&self, patient_id: &str, q: &EntryQuery) -> Result<i64> {
        let w = entry_where(q);
        let sql = format!("select count(*) from timeline_entries where patient_id = $1{}", w.sql);
        Ok(read!(self, |c| {
            let mut qq = sqlx::query_scalar::<_, i64>(&sql).bind(patient_id);
            crate::bind_vals!(qq, w.binds.iter().cloned());
            qq.fetch_one(c).await
        })?)
    }

    /// These entries of a patient (any order).
    pub async fn entries_by_ids(&self, patient_id: &str, ids: &[String]) -> Result<Vec<EntryRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = entries_by_ids_sql(ids.len());
        let mut values = args![patient_id];
        values.extend(ids.iter().map(IntoVal::into_val));
        self.fetch_all(&sql, values).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use std::collections::BTreeSet;

    use super::*;
    use crate::Backend;
    use crate::patients::{
        EntryFilter, PatientRow, VitalRow, corrections_of_sql, entries_sql, entry_times_sql,
        reads_of_entries_sql, vitals_of_entries_sql,
    };
    use crate::people::UserRow;
    use crate::testing::{self, TestDb};

    const T0: i64 = 1_700_000_000_000_000;
    const TEXT: [&str; 3] = ["message", "visit", "acp"];

    fn user() -> UserRow {
        UserRow {
            id: "u1".into(),
            login: "physician".into(),
            display_name: "山田 太郎".into(),
            display_name_kana: "ヤマダ タロウ".into(),
            profession: "physician".into(),
            email: None,
            password_hash: None,
            totp_secret: None,
            totp_enabled_at: None,
            totp_last_step: 0,
            disabled_at: None,
            created_at: T0,
        }
    }

    fn patient(id: &str) -> PatientRow {
        PatientRow {
            id: id.into(),
            name: "金沢 花子".into(),
            name_kana: "かなざわ はなこ".into(),
            name_folded: "かなざわはなこ".into(),
            birth_date: "1940-04-01".into(),
            sex: "female".into(),
            address: String::new(),
            district: None,
            support_center_id: None,
            phone: String::new(),
            care_level: "none".into(),
            insurance_number: None,
            key_person: String::new(),
            emergency_contacts: String::new(),
            conditions: String::new(),
            allergies: String::new(),
            medications: String::new(),
            attending_physician_id: "u1".into(),
            registered_by: "u1".into(),
            version: 1,
            created_at: T0,
            updated_at: T0,
            latitude: None,
            longitude: None,
        }
    }

    fn entry(id: String, patient_id: &str, kind: &str, at: i64, corrects: Option<&str>) -> EntryRow {
        EntryRow {
            id,
            patient_id: patient_id.into(),
            kind: kind.into(),
            author_id: "u1".into(),
            author_profession: "physician".into(),
            author_org_id: None,
            created_at: at,
            occurred_at: at,
            body: String::new(),
            data: "{}".into(),
            corrects_id: corrects.map(str::to_string),
            urgent: false,
            needs_reply: false,
            addressee_id: None,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        }
    }

    /// What the fixture holds of patient `p1`: its text entries newest first, and its
    /// observations as (entry, group).
    struct Fixture {
        texts: Vec<String>,
        observations: BTreeSet<(String, String)>,
    }

    /// Patient `p1`: 40 entries, a message, a visit, a vitals entry and an ACP record in turn
    /// (30 text entries, 10 vitals entries: half with both pressures and the pulse, half with the
    /// diastolic pressure alone and the temperature), and a correction of the first vitals entry;
    /// patient `p2` a few entries of each kind, which no search of `p1` may see.
    async fn fill(store: &Store) -> Fixture {
        let mut tx = store.begin().await.expect("begin");
        tx.insert_user(&user()).await.expect("user");
        let mut texts = Vec::new();
        let mut observations = BTreeSet::new();
        for (p, n) in [("p1", 40_i64), ("p2", 8)] {
            tx.insert_patient(&patient(p)).await.expect("patient");
            for i in 0..n {
                let kind = ["message", "visit", "vitals", "acp"][usize::try_from(i % 4).unwrap()];
                let id = format!("{p}-e{i:03}");
                let at = T0 + i * 1_000_000;
                tx.insert_entry(&entry(id.clone(), p, kind, at, None)).await.expect("entry");
                let kinds: &[(&str, &str)] = match (kind, i % 8) {
                    ("vitals", 2) => &[("systolic_bp", "bp"), ("diastolic_bp", "bp"), ("pulse", "pulse")],
                    ("vitals", _) => &[("diastolic_bp", "bp"), ("body_temperature", "body_temperature")],
                    _ => &[],
                };
                for (k, group) in kinds {
                    let v = VitalRow {
                        entry_id: id.clone(),
                        patient_id: p.into(),
                        kind: (*k).into(),
                        value: 80.0,
                        measured_at: at,
                    };
                    tx.insert_vital(&v).await.expect("vital");
                    if p == "p1" {
                        observations.insert((id.clone(), (*group).to_string()));
                    }
                }
                if p == "p1" && kind != "vitals" {
                    texts.push(id);
                }
            }
        }
        let at = T0 + 100 * 1_000_000;
        tx.insert_entry(&entry("p1-fix".into(), "p1", "vitals", at, Some("p1-e002"))).await.expect("fix");
        for k in ["systolic_bp", "diastolic_bp"] {
            let v = VitalRow {
                entry_id: "p1-fix".into(),
                patient_id: "p1".into(),
                kind: k.into(),
                value: 120.0,
                measured_at: at,
            };
            tx.insert_vital(&v).await.expect("vital");
        }
        observations.insert(("p1-fix".into(), "bp".into()));
        tx.commit().await.expect("commit");
        texts.reverse();
        Fixture { texts, observations }
    }

    fn texts(limit: i64, offset: i64) -> EntryQuery {
        EntryQuery { kinds: TEXT.map(String::from).to_vec(), limit, offset, ..EntryQuery::default() }
    }

    #[tokio::test]
    async fn a_page_says_whether_more_follow_and_knows_the_total_on_the_last_page_only() {
        for TestDb { store, backend: b, .. } in &testing::all().await {
            let f = fill(store).await;
            assert_eq!(f.texts.len(), 30, "{b:?}");

            // Newest first, seven at a time: every page but the last says more follow and
            // counts nothing; the last knows the total.
            let mut seen = Vec::new();
            for offset in [0, 7, 14, 21, 28] {
                let page = store.entry_page("p1", &texts(7, offset)).await.expect("page");
                let last = offset == 28;
                assert_eq!(page.more, !last, "{b:?} at {offset}");
                assert_eq!(page.total, last.then_some(30), "{b:?} at {offset}");
                seen.extend(page.rows.into_iter().map(|e| e.id));
            }
            assert_eq!(seen, f.texts, "{b:?}");

            // A page that ends exactly at the last match: no next page, the total known.
            let page = store.entry_page("p1", &texts(10, 20)).await.expect("page");
            assert_eq!((page.rows.len(), page.more, page.total), (10, false, Some(30)), "{b:?}");
            // Asked for, the total is counted on any page; past the end it is not known else.
            let counted = EntryQuery { count_total: true, ..texts(7, 0) };
            let page = store.entry_page("p1", &counted).await.expect("page");
            assert_eq!((page.rows.len(), page.more, page.total), (7, true, Some(30)), "{b:?}");
            let page = store.entry_page("p1", &texts(7, 35)).await.expect("page");
            assert_eq!((page.rows.len(), page.more, page.total), (0, false, None), "{b:?}");
            let counted = EntryQuery { count_total: true, ..texts(7, 35) };
            assert_eq!(store.entry_page("p1", &counted).await.expect("page").total, Some(30), "{b:?}");
            assert_eq!(store.count_entry_page("p1", &texts(1, 0)).await.expect("count"), 30, "{b:?}");

            // Oldest first, and one kind.
            let asc = EntryQuery { ascending: true, ..texts(30, 0) };
            let ids: Vec<String> =
                store.entry_page("p1", &asc).await.expect("page").rows.into_iter().map(|e| e.id).collect();
            assert_eq!(ids, f.texts.iter().rev().cloned().collect::<Vec<_>>(), "{b:?}");
            let acp = EntryQuery { kinds: vec!["acp".into()], limit: 20, ..EntryQuery::default() };
            let page = store.entry_page("p1", &acp).await.expect("page");
            assert_eq!((page.rows.len(), page.more, page.total), (10, false, Some(10)), "{b:?}");
            assert!(page.rows.iter().all(|e| e.kind == "acp" && e.patient_id == "p1"), "{b:?}");

            // Observations, five at a time: each (entry, group) once, newest measurement first;
            // a blood pressure is one observation with one value or two.
            let mut keys = Vec::new();
            let mut offset = 0;
            loop {
                let q = VitalQuery { limit: 5, offset, ..VitalQuery::default() };
                let page = store.vital_observations("p1", &q).await.expect("vitals");
                assert_eq!(page.total.is_some(), !page.more, "{b:?} at {offset}");
                keys.extend(page.rows);
                if !page.more {
                    assert_eq!(page.total, Some(21), "{b:?}");
                    break;
                }
                offset += 5;
            }
            let found: BTreeSet<(String, String)> =
                keys.iter().map(|k| (k.entry_id.clone(), k.grp.clone())).collect();
            assert_eq!(keys.len(), 21, "{b:?}");
            assert_eq!(found, f.observations, "{b:?}");
            assert!(keys.windows(2).all(|w| w[0].measured_at >= w[1].measured_at), "{b:?}");
            let counted = VitalQuery { limit: 5, count_total: true, ..VitalQuery::default() };
            assert_eq!(
                store.vital_observations("p1", &counted).await.expect("vitals").total,
                Some(21),
                "{b:?}"
            );

            // The counts by state and time name the entries; by group they read the index only.
            let count =
                |q: VitalQuery| async move { store.count_vital_observations("p1", &q).await.expect("count") };
            let states = |s: EntryState| VitalQuery { states: Some(vec![s]), ..VitalQuery::default() };
            assert_eq!(count(states(EntryState::Superseded)).await, 2, "{b:?}");
            assert_eq!(count(states(EntryState::Correction)).await, 1, "{b:?}");
            assert_eq!(count(states(EntryState::Original)).await, 18, "{b:?}");
            let bp = VitalQuery { groups: Some(vec!["bp".into()]), ..VitalQuery::default() };
            assert_eq!(count(bp).await, 11, "{b:?}");
            // Written from entry 30 on: three vitals entries of two observations and the correction.
            let late = VitalQuery { written_from: Some(T0 + 30 * 1_000_000), ..VitalQuery::default() };
            assert_eq!(count(late).await, 7, "{b:?}");
        }
    }

    fn t(v: &str) -> Val {
        Val::Text(v.to_string())
    }

    /// What a plan of the timeline must be: on `index`, no scan of a whole table, and no sort
    /// (the few rows of the page's lookups are sorted by the caller).
    fn assert_walks(b: Backend, what: &str, plan: &str, index: &str) {
        assert!(plan.contains(index), "{b:?} {what}: not on {index}:\n{plan}");
        match b {
            Backend::Sqlite => {
                let scans =
                    plan.lines().any(|l| l.trim_start_matches(['|', '`', '-', ' ']).starts_with("SCAN"));
                assert!(!scans, "{b:?} {what}: scans:\n{plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{b:?} {what}: sorts:\n{plan}");
            }
            Backend::Postgres => {
                // A hashed subplan reads its whole table once to answer row by row.
                let scans = plan.contains("Seq Scan") || plan.contains("hashed SubPlan");
                assert!(!scans, "{b:?} {what}: scans:\n{plan}");
                assert!(!plan.contains("Sort"), "{b:?} {what}: sorts:\n{plan}");
            }
        }
    }

    /// What the plan of a text-entry page must be: every read of `timeline_entries` on the kind
    /// index (one range per kind, each cut at the page by its `limit`), never a walk of all the
    /// patient's entries or a scan of the table. Scans and sorts of the branches' few rows (SQLite
    /// `SCAN k0`, PostgreSQL `Sort`/`Append` over the subqueries) are the merge.
    fn assert_merges_kinds(b: Backend, what: &str, plan: &str) {
        assert!(plan.contains("timeline_entries_kind_idx"), "{b:?} {what}: not on the kind index:\n{plan}");
        assert!(!plan.contains("timeline_entries_patient_idx"), "{b:?} {what}: walks every kind:\n{plan}");
        let table_scan = match b {
            Backend::Sqlite => plan.lines().any(|l| l.contains("SCAN timeline_entries")),
            Backend::Postgres => plan.contains("Seq Scan") || plan.contains("hashed SubPlan"),
        };
        assert!(!table_scan, "{b:?} {what}: scans the table:\n{plan}");
    }

    /// Every query of a timeline read (the patient page and the FHIR searches) walks an index of
    /// the patient for the page only, or probes keys: a change that makes one read every entry
    /// of the patient (or sort them) fails here.
    #[tokio::test]
    async fn the_timeline_reads_walk_an_index_for_the_page_and_sort_nothing() {
        for TestDb { store, backend: b, .. } in &testing::all().await {
            let b = *b;
            fill(store).await;
            let plan = |sql: String, binds: Vec<Val>| async move { testing::plan(store, &sql, &binds).await };
            let (pk_entries, pk_vitals, pk_reads) = match b {
                Backend::Sqlite => (
                    "sqlite_autoindex_timeline_entries_1",
                    "sqlite_autoindex_vital_signs_1",
                    "sqlite_autoindex_entry_reads_1",
                ),
                Backend::Postgres => ("timeline_entries_pkey", "vital_signs_pkey", "entry_reads_pkey"),
            };
            let ids = || vec![t("p1-e000"), t("p1-e001"), t("p1-e002")];
            let of_p1 = || [vec![t("p1")], ids()].concat();

            // The patient page: the newest entries, the next page from its cursor, the latest
            // ACP record; then the page's vital signs, reads, corrections and originals.
            let newest = EntryFilter { limit: 21, ..EntryFilter::default() };
            let p = plan(entries_sql(&newest), vec![t("p1"), Val::Int(21)]).await;
            assert_walks(b, "page", &p, "timeline_entries_patient_idx");
            let before = EntryFilter { before: Some((T0, "x".into())), limit: 21, ..EntryFilter::default() };
            let p = plan(entries_sql(&before), vec![t("p1"), Val::Int(T0), t("x"), Val::Int(21)]).await;
            assert_walks(b, "next page", &p, "timeline_entries_patient_idx");
            let acp = EntryFilter { kind: Some("acp".into()), limit: 200, ..EntryFilter::default() };
            let p = plan(entries_sql(&acp), vec![t("p1"), t("acp"), Val::Int(200)]).await;
            assert_walks(b, "latest ACP", &p, "timeline_entries_kind_idx");
            let p = plan(vitals_of_entries_sql(3), of_p1()).await;
            assert_walks(b, "vitals of entries", &p, pk_vitals);
            let p = plan(reads_of_entries_sql(3), ids()).await;
            assert_walks(b, "reads of entries", &p, pk_reads);
            let p = plan(corrections_of_sql(3), of_p1()).await;
            assert_walks(b, "corrections", &p, "timeline_entries_corrects_idx");
            let p = plan(entry_times_sql(3), of_p1()).await;
            assert_walks(b, "entry times", &p, pk_entries);
            let p = plan(entries_by_ids_sql(3), of_p1()).await;
            assert_walks(b, "entries by id", &p, pk_entries);

            // FHIR: Communication (all text kinds, either order; one kind) and Observation
            // (either order), and their counts for `_total=accurate`.
            let page = || vec![Val::Int(21), Val::Int(0)];
            let texts_page = |q: &EntryQuery| {
                let (sql, binds) = entry_page_query(q, 20, 0);
                (sql, [vec![t("p1")], binds].concat())
            };
            for ascending in [false, true] {
                // Each kind walks its own range of the kind index and stops after the page; only
                // those few rows are merged (sorted), never the patient's other entries.
                let q = EntryQuery { ascending, ..texts(20, 0) };
                let (sql, binds) = texts_page(&q);
                let p = plan(sql, binds).await;
                assert_merges_kinds(b, "Communication", &p);
                let q = VitalQuery { ascending, limit: 20, ..VitalQuery::default() };
                let p = plan(vital_page_sql(&q, &vital_where(&q)), [vec![t("p1")], page()].concat()).await;
                assert_walks(b, "Observation", &p, "vital_signs_time_idx");
            }
            let q = EntryQuery { kinds: vec!["acp".into()], ..texts(20, 0) };
            let (sql, binds) = texts_page(&q);
            let p = plan(sql, binds).await;
            assert_merges_kinds(b, "Communication of one kind", &p);
            let count = format!(
                "select count(*) from timeline_entries where patient_id = $1{}",
                entry_where(&texts(20, 0)).sql
            );
            let p = plan(count, vec![t("p1"), t("message"), t("visit"), t("acp")]).await;
            assert_walks(b, "Communication count", &p, "timeline_entries_kind_idx");
            let w = vital_where(&VitalQuery::default());
            let count = format!("select count(*) from vital_signs v where v.patient_id = $1{}", w.sql);
            let p = plan(count, vec![t("p1")]).await;
            assert_walks(b, "Observation count", &p, "vital_signs_time_idx");
        }
    }
}
