//! The audit log: appended inside the transaction of the change it records, chained by hash.

use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{ChainHead, NewEvent, StoredEvent};

use crate::{Result, Store, Tx, TxInner, exec_tx, read};

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

const EVENT_COLUMNS: &str = "seq, at, actor_id, actor_login, action, target_kind, target_id, \
     patient_id, address, outcome, detail, via, prev_hash, hash";

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

    /// Appends events in a transaction of their own (for events that record no other change:
    /// a failed login, a refused access).
    pub async fn append_audit(&self, events: Vec<NewEvent>) -> Result<()> {
        let mut tx = self.begin().await?;
        for e in events {
            tx.append_audit(e).await?;
        }
        tx.commit().await
    }
}

impl Tx {
    /// Appends an event to the chain inside this transaction. The head row is locked (PostgreSQL
    /// `for update`; SQLite's write lock is already held), so concurrent writers chain in order.
    pub async fn append_audit(&mut self, event: NewEvent) -> Result<StoredEvent> {
        let (seq, hash): (i64, String) = match &mut self.inner {
            TxInner::Sqlite(t) => {
                sqlx::query_as("select seq, hash from audit_head where id = 1").fetch_one(&mut **t).await?
            }
            TxInner::Postgres(t) => {
                sqlx::query_as("select seq, hash from audit_head where id = 1 for update")
                    .fetch_one(&mut **t)
                    .await?
            }
        };
        let stored = ChainHead { seq, hash }.append(event);
        let e = &stored.event;
        let sql = format!(
            "insert into audit_events ({EVENT_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(stored.seq)
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
            .bind(&stored.prev_hash)
            .bind(&stored.hash)
            .execute(&mut *c)
            .await)?;
        exec_tx!(self, |c| sqlx::query("update audit_head set seq = $1, hash = $2 where id = 1")
            .bind(stored.seq)
            .bind(&stored.hash)
            .execute(c)
            .await)?;
        Ok(stored)
    }
}
