//! SQLite's one writer, with group commit.
//!
//! SQLite lets one connection write at a time, and a durable commit costs an fsync. Committing
//! every request's transaction on its own therefore caps writes (and every audited read) at
//! the disk's fsync rate. Here the transactions of concurrent requests share one physical
//! transaction and one commit:
//!
//! - [`Writer::begin`] takes the writer (a fair, first-come lock), opens the shared physical
//!   transaction if none is open (`BEGIN IMMEDIATE`), and starts a savepoint for this logical
//!   transaction. Its statements run inside the savepoint; dropping it without committing rolls
//!   the savepoint back, and nothing else.
//! - [`WriteGuard::commit`] releases the savepoint into the physical transaction, hands the
//!   writer to the next transaction in line and waits until the physical transaction commits.
//! - The commit happens when a waiting member gets the writer back: everyone who queued for
//!   the writer meanwhile has joined the group by then. One `COMMIT` (one fsync) answers them
//!   all; a failed commit answers them all with the error. Nothing is acknowledged before it
//!   is on disk, so a `kill -9` loses only unacknowledged work.
//! - Audit events that record no other change ([`Writer::append_audit`]) wait in a queue and
//!   are written by the next commit in one multi-row insert.
//!
//! The audit chain's head is read once per physical transaction and kept in memory until its
//! commit; the `audit_head` row is written once per commit. Another process writing the same
//! file (the command line) takes SQLite's write lock between groups, and the next group reads
//! the head afresh.
//!
//! Every step that changes the writer's state runs in a task of its own, so a request that is
//! cancelled half-way (a client hanging up) cannot leave the state half-changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};
use tsunagu_domain::audit::{ChainHead, NewEvent, StoredEvent};

use crate::{Result, StoreError};

/// How long a transaction waits for the writer before giving up (as a pool's acquire timeout).
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);

/// Audit rows per insert statement: 14 columns each, well under SQLite's 32,766 parameters.
use crate::audit::EVENTS_PER_INSERT;

const SAVEPOINT: &str = "savepoint tsunagu_tx";
const RELEASE: &str = "release savepoint tsunagu_tx";
const ROLLBACK_TO: &str = "rollback transaction to savepoint tsunagu_tx";

/// What a member of a group is told: committed, or why not.
type Answer = std::result::Result<(), String>;

/// The writer connection, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Arc<Mutex<WriterState>>,
    /// Audit-only appends waiting for the next commit.
    queue: std::sync::Mutex<Vec<Pending>>,
    stats: Arc<Counters>,
}

/// Counts of what the writer committed (shared with the state, which does the counting).
#[derive(Default)]
struct Counters {
    members: AtomicU64,
    commits: AtomicU64,
}

/// How much the writer grouped: members acknowledged (logical transactions and audit-only
/// appends) and physical commits (fsyncs) it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub members: u64,
    pub commits: u64,
}

struct Pending {
    events: Vec<NewEvent>,
    done: oneshot::Sender<Answer>,
}

pub(crate) struct WriterState {
    conn: SqliteConnection,
    stats: Arc<Counters>,
    closed: bool,
    /// The open physical transaction, if any.
    group: Option<Group>,
    /// A logical transaction's savepoint is open: set by `begin`, cleared by `commit`. Found
    /// set by the next holder of the writer, it means the transaction was abandoned.
    savepoint_open: bool,
}

struct Group {
    /// The chain head when the physical transaction began (written back only if it moved).
    begun_head: ChainHead,
    /// The chain head as of the last append in this physical transaction.
    head: ChainHead,
    /// The chain head when the open savepoint began (restored when it is rolled back).
    savepoint_head: ChainHead,
    /// Members whose work is in this physical transaction, waiting for its commit.
    waiters: Vec<oneshot::Sender<Answer>>,
}

/// The writer connection with no transaction open (see [`Writer::idle`]).
pub(crate) struct IdleConn(OwnedMutexGuard<WriterState>);

impl std::ops::Deref for IdleConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.0.conn
    }
}

impl std::ops::DerefMut for IdleConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0.conn
    }
}

/// A logical transaction's hold on the writer (inside [`crate::Tx`]).
pub(crate) struct WriteGuard {
    guard: Option<OwnedMutexGuard<WriterState>>,
    writer: Writer,
}

/// The message a failed commit gives every member of its group (errors are not `Clone`).
fn db_error(e: &sqlx::Error) -> String {
    format!("database error: {e}")
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

impl WriterState {
    /// Deals with what an abandoned transaction left: its savepoint is rolled back. Should
    /// that fail, the physical transaction is gone (SQLite rolls it back on some I/O errors)
    /// and the whole group fails.
    async fn settle(&mut self) {
        if !self.savepoint_open {
            return;
        }
        self.savepoint_open = false;
        let undone = match exec(&mut self.conn, ROLLBACK_TO).await {
            Ok(()) => exec(&mut self.conn, RELEASE).await,
            Err(e) => Err(e),
        };
        match undone {
            Ok(()) => {
                if let Some(g) = &mut self.group {
                    g.head = g.savepoint_head.clone();
                }
            }
            Err(e) => self.abort(db_error(&e)).await,
        }
    }

    /// Opens the physical transaction if none is open, reading the chain head.
    async fn open_group(&mut self) -> std::result::Result<(), sqlx::Error> {
        if self.group.is_some() {
            return Ok(());
        }
        exec(&mut self.conn, "begin immediate").await?;
        let head: std::result::Result<(i64, String), sqlx::Error> =
            sqlx::query_as("select seq, hash from audit_head where id = 1").fetch_one(&mut self.conn).await;
        match head {
            Ok((seq, hash)) => {
                let head = ChainHead { seq, hash };
                self.group = Some(Group {
                    begun_head: head.clone(),
                    head: head.clone(),
                    savepoint_head: head,
                    waiters: Vec::new(),
                });
                Ok(())
            }
            Err(e) => {
                let _ = exec(&mut self.conn, "rollback").await;
                Err(e)
            }
        }
    }

    /// Rolls the physical transaction back and tells every member why.
    async fn abort(&mut self, why: String) {
        let _ = exec(&mut self.conn, "rollback").await;
        if let Some(g) = self.group.take() {
            for w in g.waiters {
                let _ = w.send(Err(why.clone()));
            }
        }
    }

    /// Writes the queued audit events and commits the physical transaction, answering every
    /// member. Always answers every waiter it was given or holds.
    async fn flush(&mut self, queued: Vec<Pending>) {
        self.settle().await;
        if !queued.is_empty() {
            match self.open_group().await {
                Ok(()) => self.insert_queued(queued).await,
                Err(e) => {
                    let why = db_error(&e);
                    for p in queued {
                        let _ = p.done.send(Err(why.clone()));
                    }
                }
            }
        }
        let Some(g) = &self.group else { return };
        if g.head != g.begun_head {
            let moved = sqlx::query("update audit_head set seq = $1, hash = $2 where id = 1")
                .bind(g.head.seq)
                .bind(&g.head.hash)
                .execute(&mut self.conn)
                .await;
            if let Err(e) = moved {
                self.abort(db_error(&e)).await;
                return;
            }
        }
        match exec(&mut self.conn, "commit").await {
            Ok(()) => {
                if let Some(g) = self.group.take() {
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    self.stats.members.fetch_add(g.waiters.len() as u64, Ordering::Relaxed);
                    for w in g.waiters {
                        let _ = w.send(Ok(()));
                    }
                }
            }
            Err(e) => self.abort(db_error(&e)).await,
        }
    }

    /// Appends queued events to the chain in multi-row inserts. A failed insert fails only the
    /// appends whose events it held.
    async fn insert_queued(&mut self, queued: Vec<Pending>) {
        let Some(g) = &mut self.group else { return };
        let mut batch: Vec<StoredEvent> = Vec::new();
        let mut members: Vec<oneshot::Sender<Answer>> = Vec::new();
        let mut head = g.head.clone();
        for p in queued {
            for e in p.events {
                let stored = head.append(e);
                head = ChainHead { seq: stored.seq, hash: stored.hash.clone() };
                batch.push(stored);
            }
            members.push(p.done);
        }
        // One statement is atomic by itself; several chunks go in together or not at all
        // under a savepoint of their own (the table refuses deletes).
        let chunked = batch.len() > EVENTS_PER_INSERT;
        let mut written =
            if chunked { exec(&mut self.conn, "savepoint tsunagu_queue").await } else { Ok(()) };
        for chunk in batch.chunks(EVENTS_PER_INSERT) {
            if written.is_err() {
                break;
            }
            written = insert_events(&mut self.conn, chunk).await;
        }
        if chunked && written.is_ok() {
            written = exec(&mut self.conn, "release savepoint tsunagu_queue").await;
        }
        match written {
            Ok(()) => {
                g.head = head;
                g.waiters.extend(members);
            }
            Err(e) => {
                let why = db_error(&e);
                for m in members {
                    let _ = m.send(Err(why.clone()));
                }
                if chunked {
                    let undone =
                        match exec(&mut self.conn, "rollback transaction to savepoint tsunagu_queue").await {
                            Ok(()) => exec(&mut self.conn, "release savepoint tsunagu_queue").await,
                            Err(e) => Err(e),
                        };
                    if let Err(e) = undone {
                        self.abort(db_error(&e)).await;
                    }
                }
            }
        }
    }
}

/// Inserts stored events in one statement.
pub(crate) async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[StoredEvent],
) -> std::result::Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let sql = crate::audit::insert_events_sql(events.len());
    let mut q = sqlx::query(&sql);
    for s in events {
        q = crate::audit::bind_event!(q, s);
    }
    q.execute(conn).await.map(|_| ())
}

/// A task's failure to finish (a panic inside it) as a store error.
fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Commit(format!("writer task failed: {e}"))
}

impl Writer {
    pub(crate) fn new(conn: SqliteConnection) -> Self {
        let stats = Arc::new(Counters::default());
        Writer {
            shared: Arc::new(Shared {
                stats: stats.clone(),
                state: Arc::new(Mutex::new(WriterState {
                    conn,
                    stats,
                    closed: false,
                    group: None,
                    savepoint_open: false,
                })),
                queue: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            members: self.shared.stats.members.load(Ordering::Relaxed),
            commits: self.shared.stats.commits.load(Ordering::Relaxed),
        }
    }

    /// Takes the writer, or times out like a pool's acquire.
    async fn lock(&self) -> Result<OwnedMutexGuard<WriterState>> {
        let state = self.shared.state.clone();
        let g = tokio::time::timeout(WRITER_TIMEOUT, state.lock_owned())
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?;
        if g.closed {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        Ok(g)
    }

    /// Starts a logical transaction: a savepoint in the shared physical transaction.
    pub(crate) async fn begin(&self) -> Result<WriteGuard> {
        let w = self.clone();
        let guard = tokio::spawn(async move {
            let mut g = w.lock().await?;
            g.settle().await;
            if let Err(e) = g.open_group().await {
                return Err(StoreError::from(e));
            }
            if let Err(e) = exec(&mut g.conn, SAVEPOINT).await {
                // Do not leave a physical transaction open that nobody will commit.
                let queued = w.take_queue();
                g.flush(queued).await;
                return Err(StoreError::from(e));
            }
            g.savepoint_open = true;
            if let Some(grp) = &mut g.group {
                grp.savepoint_head = grp.head.clone();
            }
            Ok(g)
        })
        .await
        .map_err(join_error)??;
        Ok(WriteGuard { guard: Some(guard), writer: self.clone() })
    }

    /// Takes the writer in a task of its own, when its turn comes, and commits what is pending
    /// (outside a runtime there is nobody to run it; the next writer commits instead).
    fn flush_later(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let w = self.clone();
            rt.spawn(async move {
                if let Ok(mut g) = w.lock().await {
                    let queued = w.take_queue();
                    g.flush(queued).await;
                }
            });
        }
    }

    fn take_queue(&self) -> Vec<Pending> {
        match self.shared.queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Appends events that record no other change, committed with the next group.
    pub(crate) async fn append_audit(&self, events: Vec<NewEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        match self.shared.queue.lock() {
            Ok(mut q) => q.push(Pending { events, done }),
            Err(poisoned) => poisoned.into_inner().push(Pending { events, done }),
        }
        self.wait(rx).await
    }

    /// Waits for the commit that answers `rx`. Whoever gets the writer back first while
    /// waiting commits the group, unless the group was committed meanwhile.
    async fn wait(&self, mut rx: oneshot::Receiver<Answer>) -> Result<()> {
        // Should this wait be cancelled, someone must still commit the group.
        let mut armed = FlushOnDrop(Some(self.clone()));
        let answer = tokio::select! {
            biased;
            a = &mut rx => a,
            // No time limit here, unlike `begin`: this member's work is already in the group
            // and will be committed; giving up would report a failure for a write that lands.
            g = self.shared.state.clone().lock_owned() => {
                let mut g = g;
                match rx.try_recv() {
                    Ok(a) => Ok(a),
                    // Closed: what was pending was committed by `close`; nothing more is.
                    Err(_) if g.closed => return Err(StoreError::Database(sqlx::Error::PoolClosed)),
                    Err(_) => {
                        let w = self.clone();
                        tokio::spawn(async move {
                            let queued = w.take_queue();
                            g.flush(queued).await;
                        });
                        rx.await
                    }
                }
            }
        };
        armed.0 = None;
        match answer {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(StoreError::Commit(why)),
            Err(_) => Err(StoreError::Commit("the commit was abandoned".to_string())),
        }
    }

    /// The connection outside any transaction (migrations, pragmas, backups): the open group
    /// is committed first, and the writer is held until the returned guard is dropped.
    pub(crate) async fn idle(&self) -> Result<IdleConn> {
        let w = self.clone();
        let g = tokio::spawn(async move {
            let mut g = w.lock().await?;
            let queued = w.take_queue();
            g.flush(queued).await;
            Ok::<_, StoreError>(g)
        })
        .await
        .map_err(join_error)??;
        Ok(IdleConn(g))
    }

    /// Commits what is pending and refuses further writes. The connection closes when the
    /// last clone of the store is dropped.
    pub(crate) async fn close(&self) {
        if let Ok(mut g) = self.lock().await {
            let queued = self.take_queue();
            g.flush(queued).await;
            g.closed = true;
        }
    }
}

impl WriteGuard {
    /// The connection of the held writer (`None` once committed).
    pub(crate) fn conn(&mut self) -> Option<&mut SqliteConnection> {
        self.guard.as_mut().map(|g| &mut g.conn)
    }

    /// The chain head inside this transaction, and where to put the next one.
    pub(crate) fn group_head(&mut self) -> Option<(&mut SqliteConnection, &mut ChainHead)> {
        let g = self.guard.as_mut()?;
        let st: &mut WriterState = g;
        let grp = st.group.as_mut()?;
        Some((&mut st.conn, &mut grp.head))
    }

    /// Releases the savepoint into the group, hands the writer on and waits for the commit.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let Some(mut g) = self.guard.take() else {
            return Err(StoreError::Commit("the transaction was already finished".to_string()));
        };
        let rx = tokio::spawn(async move {
            if let Err(e) = exec(&mut g.conn, RELEASE).await {
                // `savepoint_open` is still set: settle rolls the savepoint back.
                g.settle().await;
                return Err(StoreError::from(e));
            }
            g.savepoint_open = false;
            let (tx, rx) = oneshot::channel();
            match &mut g.group {
                Some(grp) => grp.waiters.push(tx),
                None => return Err(StoreError::Commit("the transaction was rolled back".to_string())),
            }
            Ok(rx)
        })
        .await
        .map_err(join_error)??;
        self.writer.wait(rx).await
    }
}

impl Drop for WriteGuard {
    /// An abandoned transaction: the writer goes to the next in line, who rolls the savepoint
    /// back first. A task of its own also takes the writer in turn and commits the group, so
    /// no physical transaction stays open when nobody else is in line.
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            drop(g);
            self.writer.flush_later();
        }
    }
}

/// Commits the group in a task of its own when dropped armed (a wait that was cancelled).
struct FlushOnDrop(Option<Writer>);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            w.flush_later();
        }
    }
}
