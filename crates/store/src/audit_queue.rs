//! PostgreSQL: audit events that record no other change (a read, a refused access) wait in a
//! queue and go into the database together, one transaction and one commit for everyone who
//! queued while the previous commit was on its way. Every audited read used to be a transaction
//! of its own, and all of them lined up behind the audit head's row lock (`for update`), one
//! commit at a time.
//!
//! The chain stays one chain: the queue's transaction takes the head's row lock like any other
//! writer, appends the events in queue order and moves the head once. Nobody is answered before
//! that commit; a failed commit fails every event in it. The flushing runs in a task of its own,
//! so a request that goes away (a client hanging up) cannot stop it half-way.
//! SQLite has the same grouping in its writer (`writer.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::PgPool;
use tokio::sync::oneshot;
use tsunagu_domain::audit::{ChainHead, NewEvent, StoredEvent};

use crate::audit::{EVENTS_PER_INSERT, bind_event, insert_events_sql};
use crate::{Result, StoreError};

type Answer = std::result::Result<(), String>;

#[derive(Default)]
pub(crate) struct AuditQueue {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The events of each caller waiting for a commit, with where to answer.
    waiting: Vec<(Vec<NewEvent>, oneshot::Sender<Answer>)>,
    /// A flushing task is running (it takes whatever waits when its commit is done).
    flushing: bool,
}

impl AuditQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one still holds a consistent queue.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `events` and returns once they are committed.
    pub(crate) async fn append(self: &Arc<Self>, pool: &PgPool, events: Vec<NewEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.waiting.push((events, answer));
            !std::mem::replace(&mut q.flushing, true)
        };
        if start {
            tokio::spawn(flush(self.clone(), pool.clone()));
        }
        match answered.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Commit(message)),
            Err(_) => Err(StoreError::Commit("the audit queue stopped before the commit".into())),
        }
    }
}

/// Sets `flushing` back should the flushing task end any other way than by finding nothing
/// left to commit (a panic), so the next caller starts another.
struct Flushing {
    queue: Arc<AuditQueue>,
    armed: bool,
}

impl Drop for Flushing {
    fn drop(&mut self) {
        if self.armed {
            self.queue.lock().flushing = false;
        }
    }
}

/// Commits what waits, batch after batch, until nothing does.
async fn flush(queue: Arc<AuditQueue>, pool: PgPool) {
    let mut guard = Flushing { queue: queue.clone(), armed: true };
    loop {
        let batch = {
            let mut q = queue.lock();
            if q.waiting.is_empty() {
                q.flushing = false;
                guard.armed = false;
                return;
            }
            std::mem::take(&mut q.waiting)
        };
        let (events, answers): (Vec<Vec<NewEvent>>, Vec<oneshot::Sender<Answer>>) = batch.into_iter().unzip();
        let result = write(&pool, events.into_iter().flatten().collect()).await.map_err(|e| e.to_string());
        for answer in answers {
            // A caller that went away no longer waits for its answer.
            let _ = answer.send(result.clone());
        }
    }
}

/// One transaction: the head locked, the events chained and inserted, the head moved.
async fn write(pool: &PgPool, events: Vec<NewEvent>) -> std::result::Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (seq, hash): (i64, String) =
        sqlx::query_as("select seq, hash from audit_head where id = 1 for update")
            .fetch_one(&mut *tx)
            .await?;
    let mut head = ChainHead { seq, hash };
    let stored: Vec<StoredEvent> = events.into_iter().map(|e| head.advance(e)).collect();
    for chunk in stored.chunks(EVENTS_PER_INSERT) {
        let sql = insert_events_sql(chunk.len(), true);
        let mut q = sqlx::query(&sql);
        for s in chunk {
            q = bind_event!(q, s);
        }
        q.execute(&mut *tx).await?;
    }
    sqlx::query("update audit_head set seq = $1, hash = $2 where id = 1")
        .bind(head.seq)
        .bind(&head.hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
