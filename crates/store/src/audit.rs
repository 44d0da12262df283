//! The audit log: appended inside the transaction of the change it records, chained by hash.

use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{ChainHead, NewEvent, StoredEvent};

use crate::{Result, Store, Tx, TxInner, read};

#[derive(Debug, Clone, sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    actor_id: Option<String>,
    actor_login: Option<String>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    patient_id: Option<String>,
    address: Option<String>,
    outcome: String,
    detail: Option<String>,
    via: Option<String>,
    prev_hash: String,
    hash: String,
}

impl From<EventRow> for StoredEvent {
    fn from(r: EventRow) -> Self {
        StoredEvent {
            seq: r.seq,
            event: NewEvent {
                at: Timestamp(r.at),
                actor_id: r.actor_id,
                actor_login: r.actor_login,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                patient_id: r.patient_id,
                address: r.address,
                outcome: r.outcome,
                detail: r.detail,
                via: r.via,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(crate) const EVENT_COLUMNS: &str = "seq, at, actor_id, actor_login, action, target_kind, target_id, \
     patient_id, address, outcome, detail, via, prev_hash, hash";

/// Binds the 14 values of a stored event in [`EVENT_COLUMNS`] order.
macro_rules! bind_event {
    ($q:expr, $stored:expr) => {{
        let s: &tsunagu_domain::audit::StoredEvent = $stored;
        let e = &s.event;
        $q.bind(s.seq)
            .bind(e.at.micros())
            .bind(&e.actor_id)
            .bind(&e.actor_login)
            .bind(&e.action)
            .bind(&e.target_kind)
            .bind(&e.target_id)
            .bind(&e.patient_id)
            .bind(&e.address)
            .bind(&e.outcome)
            .bind(&e.detail)
            .bind(&e.via)
            .bind(&s.prev_hash)
            .bind(&s.hash)
    }};
}
pub(crate) use bind_event;

/// The values [`bind_event!`] binds for an event, in the same order (for statements whose
/// values are gathered before they are bound: the SQLite writer's deferred commands).
pub(crate) fn event_values(s: &StoredEvent) -> [crate::writer::Val; EVENT_VALUES] {
    use crate::writer::IntoVal;
    let e = &s.event;
    [
        s.seq.into_val(),
        e.at.micros().into_val(),
        (&e.actor_id).into_val(),
        (&e.actor_login).into_val(),
        (&e.action).into_val(),
        (&e.target_kind).into_val(),
        (&e.target_id).into_val(),
        (&e.patient_id).into_val(),
        (&e.address).into_val(),
        (&e.outcome).into_val(),
        (&e.detail).into_val(),
        (&e.via).into_val(),
        (&s.prev_hash).into_val(),
        (&s.hash).into_val(),
    ]
}

/// The values of one event's row.
pub(crate) const EVENT_VALUES: usize = 14;

/// Stored events per multi-row insert: 14 values each, well under either database's limit.
pub(crate) const EVENTS_PER_INSERT: usize = 200;

/// `insert into audit_events (…) values (…), (…)` for `n` events (bind each with
/// [`bind_event!`]): placeholders numbered `$n`, or anonymous `?` for SQLite's writer (see
/// `writer::push_anonymous`), bound in the same order.
pub(crate) fn insert_events_sql(n: usize, numbered: bool) -> String {
    let mut sql = format!("insert into audit_events ({EVENT_COLUMNS}) values ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let b = i * 14;
        sql.push('(');
        for k in 1..=14 {
            if k > 1 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(b + k).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// A search of the audit log (the FHIR `AuditEvent` search): every filter given must hold.
/// Each filter has an index: `(patient_id, seq)`, `(actor_id, seq)`, `(action, seq)`, `(at)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub patient_id: Option<String>,
    pub actor_id: Option<String>,
    /// Any of these action codes (`None`: any action; `Some(empty)`: nothing matches).
    pub actions: Option<Vec<String>>,
    /// `at >= from` (UTC micros).
    pub from: Option<i64>,
    /// `at < to` (UTC micros).
    pub to: Option<i64>,
    /// Only events up to this place in the chain (pins paging while the log grows).
    pub max_seq: Option<i64>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

enum AuditParam {
    Text(String),
    Int(i64),
}

impl AuditQuery {
    /// The `where` clause (empty or starting with ` where`) and its parameters from `$1`.
    fn clause(&self) -> Option<(String, Vec<AuditParam>)> {
        let mut w: Vec<String> = Vec::new();
        let mut p: Vec<AuditParam> = Vec::new();
        let mut next = |v: AuditParam| {
            p.push(v);
            format!("${}", p.len())
        };
        if let Some(id) = &self.patient_id {
            w.push(format!("patient_id = {}", next(AuditParam::Text(id.clone()))));
        }
        if let Some(id) = &self.actor_id {
            w.push(format!("actor_id = {}", next(AuditParam::Text(id.clone()))));
        }
        if let Some(actions) = &self.actions {
            if actions.is_empty() {
                return None;
            }
            let ns: Vec<String> = actions.iter().map(|a| next(AuditParam::Text(a.clone()))).collect();
            w.push(format!("action in ({})", ns.join(", ")));
        }
        if let Some(f) = self.from {
            w.push(format!("at >= {}", next(AuditParam::Int(f))));
        }
        if let Some(t) = self.to {
            w.push(format!("at < {}", next(AuditParam::Int(t))));
        }
        if let Some(m) = self.max_seq {
            w.push(format!("seq <= {}", next(AuditParam::Int(m))));
        }
        let clause = if w.is_empty() { String::new() } else { format!(" where {}", w.join(" and ")) };
        Some((clause, p))
    }
}

/// Binds the parameters of an [`AuditQuery`] in order.
macro_rules! bind_audit {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                AuditParam::Text(s) => q.bind(s.clone()),
                AuditParam::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

impl Store {
    /// The chain's head as last committed.
    pub async fn audit_head(&self) -> Result<ChainHead> {
        let (seq, hash): (i64, String) =
            read!(self, |c| sqlx::query_as("select seq, hash from audit_head where id = 1")
                .fetch_one(c)
                .await)?;
        Ok(ChainHead { seq, hash })
    }

    /// Events in stored order after `after_seq`, at most `limit`: for verifying and exporting.
    /// Rows come in primary-key order, which is what a reader of the table sees.
    pub async fn audit_events_after(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        let sql = format!("select {EVENT_COLUMNS} from audit_events where seq > $1 order by seq limit $2");
        let rows = read!(self, |c| sqlx::query_as::<_, EventRow>(&sql)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(c)
            .await)?;
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    /// The newest events, optionally of one actor, newest first.
    pub async fn recent_audit_events(&self, actor_id: Option<&str>, limit: i64) -> Result<Vec<StoredEvent>> {
        let rows = match actor_id {
            Some(a) => {
                let sql = format!(
                    "select {EVENT_COLUMNS} from audit_events where actor_id = $1 \
                     order by seq desc limit $2"
                );
                read!(self, |c| sqlx::query_as::<_, EventRow>(&sql).bind(a).bind(limit).fetch_all(c).await)?
            }
            None => {
                let sql = format!("select {EVENT_COLUMNS} from audit_events order by seq desc limit $1");
                read!(self, |c| sqlx::query_as::<_, EventRow>(&sql).bind(limit).fetch_all(c).await)?
            }
        };
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    /// Every event about one patient, oldest first (the disclosure printout).
    pub async fn audit_events_for_patient(&self, patient_id: &str, limit: i64) -> Result<Vec<StoredEvent>> {
        let sql =
            format!("select {EVENT_COLUMNS} from audit_events where patient_id = $1 order by seq limit $2");
        let rows = read!(self, |c| sqlx::query_as::<_, EventRow>(&sql)
            .bind(patient_id)
            .bind(limit)
            .fetch_all(c)
            .await)?;
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    /// One event by its place in the chain.
    pub async fn audit_event(&self, seq: i64) -> Result<Option<StoredEvent>> {
        let sql = format!("select {EVENT_COLUMNS} from audit_events where seq = $1");
        let row = read!(self, |c| sqlx::query_as::<_, EventRow>(&sql).bind(seq).fetch_optional(c).await)?;
        Ok(row.map(StoredEvent::from))
    }

    /// One page of the events matching a query (newest first unless `ascending`), and how many
    /// match in all.
    pub async fn search_audit_events(&self, q: &AuditQuery) -> Result<(i64, Vec<StoredEvent>)> {
        let Some((clause, params)) = q.clause() else {
            return Ok((0, Vec::new()));
        };
        let count_sql = format!("select count(*) from audit_events{clause}");
        let (total,): (i64,) =
            read!(self, |c| bind_audit!(sqlx::query_as::<_, (i64,)>(&count_sql), &params)
                .fetch_one(c)
                .await)?;
        if q.limit <= 0 || total <= q.offset {
            return Ok((total, Vec::new()));
        }
        let order = if q.ascending { "asc" } else { "desc" };
        let sql = format!(
            "select {EVENT_COLUMNS} from audit_events{clause} order by seq {order} limit {} offset {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let rows =
            read!(self, |c| bind_audit!(sqlx::query_as::<_, EventRow>(&sql), &params).fetch_all(c).await)?;
        Ok((total, rows.into_iter().map(StoredEvent::from).collect()))
    }

    /// Appends events that record no other change (a failed login, a refused access, a read).
    /// Returns once they are durable. They wait for the next commit of others that queued
    /// meanwhile and go in with them, in one insert: on SQLite the writer's next group commit,
    /// on PostgreSQL a transaction of the audit queue's (`audit_queue.rs`).
    pub async fn append_audit(&self, events: Vec<NewEvent>) -> Result<()> {
        match &self.db {
            crate::Db::Sqlite { write, .. } => write.append_audit(events).await,
            crate::Db::Postgres(pool) => self.audit_queue.append(pool, events).await,
        }
    }
}

impl Tx {
    /// Appends an event to the chain inside this transaction. On SQLite the chain head is held
    /// by the writer for the whole group commit, and the event is chained and inserted with the
    /// transaction's deferred statements (see `writer.rs`); on PostgreSQL the head row is locked
    /// (`for update`), so concurrent writers chain in order.
    pub async fn append_audit(&mut self, event: NewEvent) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(w) => Ok(w.defer_audit(event).await?),
            TxInner::Postgres(t) => {
                let (seq, hash): (i64, String) =
                    sqlx::query_as("select seq, hash from audit_head where id = 1 for update")
                        .fetch_one(&mut **t)
                        .await?;
                let stored = ChainHead { seq, hash }.append(event);
                let sql = format!(
                    "insert into audit_events ({EVENT_COLUMNS}) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                );
                bind_event!(sqlx::query(&sql), &stored).execute(&mut **t).await?;
                sqlx::query("update audit_head set seq = $1, hash = $2 where id = 1")
                    .bind(stored.seq)
                    .bind(&stored.hash)
                    .execute(&mut **t)
                    .await?;
                Ok(())
            }
        }
    }
}
