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
//! The audit chain's head is kept in memory; the `audit_head` row is written once per commit.
//! A flush of queued work (no transaction holding the writer) is one command to the
//! connection's thread, from `BEGIN IMMEDIATE` to `COMMIT`, its events chained after the head
//! the last commit left. Another process writing the same file (the command line) takes
//! SQLite's write lock between groups; had it appended to the chain, the flush's first event
//! finds its place taken and fails before its commit, and the work runs again step by step,
//! reading the head afresh.
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

/// What a member of a group is told: committed, or why not.
type Answer = std::result::Result<(), Failure>;

/// Why a member's work did not commit (errors are not `Clone`; a conflict keeps its name).
#[derive(Debug, Clone)]
enum Failure {
    Conflict(String),
    Other(String),
}

impl Failure {
    fn of(e: sqlx::Error) -> Self {
        match StoreError::from(e) {
            StoreError::Conflict { constraint } => Failure::Conflict(constraint),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Conflict(constraint) => StoreError::Conflict { constraint },
            Failure::Other(why) => StoreError::Commit(why),
        }
    }
}

/// The writer connection, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Arc<Mutex<WriterState>>,
    /// Audit-only appends and transactions made only of deferred statements, waiting for the
    /// next commit.
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
    work: Work,
    done: oneshot::Sender<Answer>,
}

enum Work {
    /// Audit events that record no other change.
    Audit(Vec<NewEvent>),
    /// A transaction that never needed the writer before its commit: it runs whole, with the
    /// others queued for the same commit.
    Transaction(Deferred),
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
    /// The chain head as this writer's last commit left it, while nothing else may have moved
    /// it (cleared when the connection is lent out, and after any failure): a flush of queued
    /// work then needs no read before it writes (see [`WriterState::commit_at_once`]).
    known_head: Option<ChainHead>,
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

/// A logical transaction on the writer (inside [`crate::Tx`]).
///
/// It takes the writer only when it must: statements that answer nothing (the inserts of a
/// timeline entry, its vital signs, read marks, audit events) are deferred and run together,
/// with the savepoint, in one command to the connection's thread, at commit or before the
/// first statement whose answer is needed. A write made only of such statements holds the
/// writer for one round trip instead of one per statement, while the request's own task waits
/// between them; the writer was the bound of the durable-write benchmark (issue 6).
pub(crate) struct WriteGuard {
    /// The writer, once taken (with this transaction's savepoint open).
    guard: Option<OwnedMutexGuard<WriterState>>,
    writer: Writer,
    deferred: Deferred,
    /// A deferred statement failed: the savepoint was rolled back and nothing more may run.
    failed: bool,
}

/// Values deferred at most before they are run anyway (one command binds at most
/// [`COMMAND_VALUES`]).
const DEFERRED_VALUES: usize = 20_000;

/// A value bound to a statement: a deferred one on the writer, or a read of [`crate::Store::fetch_all`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// NULL, with the type PostgreSQL is to bind it as (SQLite binds any NULL alike).
    Null(Null),
    Int(i64),
    Real(f64),
    Text(String),
}

/// The type of a bound NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Null {
    Int,
    Real,
    Text,
}

/// Values a statement binds (the types the store's statements use).
pub(crate) trait IntoVal {
    fn into_val(self) -> Val;
    /// NULL of this type (for `None`).
    fn null() -> Val;
}

impl IntoVal for i64 {
    fn into_val(self) -> Val {
        Val::Int(self)
    }
    fn null() -> Val {
        Val::Null(Null::Int)
    }
}

impl IntoVal for bool {
    fn into_val(self) -> Val {
        Val::Int(i64::from(self))
    }
    fn null() -> Val {
        Val::Null(Null::Int)
    }
}

impl IntoVal for f64 {
    fn into_val(self) -> Val {
        Val::Real(self)
    }
    fn null() -> Val {
        Val::Null(Null::Real)
    }
}

impl IntoVal for &str {
    fn into_val(self) -> Val {
        Val::Text(self.to_string())
    }
    fn null() -> Val {
        Val::Null(Null::Text)
    }
}

impl IntoVal for &String {
    fn into_val(self) -> Val {
        Val::Text(self.clone())
    }
    fn null() -> Val {
        Val::Null(Null::Text)
    }
}

impl<T: IntoVal> IntoVal for Option<T> {
    fn into_val(self) -> Val {
        self.map_or_else(T::null, IntoVal::into_val)
    }
    fn null() -> Val {
        T::null()
    }
}

impl IntoVal for &Option<String> {
    fn into_val(self) -> Val {
        self.as_deref().into_val()
    }
    fn null() -> Val {
        Val::Null(Null::Text)
    }
}

/// Statements waiting to run, as one `;`-separated command whose placeholders are anonymous
/// (`?`) with their values in the order they appear, and audit events waiting for their place
/// in the chain.
#[derive(Default)]
struct Deferred {
    sql: String,
    args: Vec<Val>,
    events: Vec<NewEvent>,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.sql.is_empty() && self.events.is_empty()
    }

    fn push(&mut self, sql: &str, args: Vec<Val>) {
        push_anonymous(&mut self.sql, &mut self.args, sql, args);
        self.sql.push_str(";\n");
    }
}

/// Values one command binds at most (SQLite allows 32,766).
const COMMAND_VALUES: usize = 30_000;

impl Deferred {
    /// The values its command will bind, audit events included.
    fn values(&self) -> usize {
        self.args.len() + self.events.len() * crate::audit::EVENT_VALUES
    }
}

/// One command to the writer's connection: `;`-separated statements and the values of all
/// their placeholders, in order.
#[derive(Default)]
struct Command {
    sql: String,
    args: Vec<Val>,
    /// Holds several transactions: its text is one of many, so it is not kept prepared.
    batch: bool,
}

/// Values a command may bind and still be kept prepared (one transaction's usual shapes; sqlx
/// keeps prepared statements by their text, and a long, one-off command would only crowd out
/// the writer's everyday statements and hold memory).
const PREPARED_VALUES: usize = 256;

impl Command {
    /// A statement without placeholders.
    fn statement(&mut self, sql: &str) {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
    }

    /// A transaction's deferred statements, and its audit events chained after `head` (which
    /// moves to the last of them).
    fn transaction(&mut self, d: &Deferred, head: &mut ChainHead) {
        self.sql.push_str(&d.sql);
        self.args.extend(d.args.iter().cloned());
        self.events(d.events.iter().cloned(), head);
    }

    /// Audit events chained after `head` (which moves to the last of them), in multi-row inserts.
    fn events(&mut self, events: impl Iterator<Item = NewEvent>, head: &mut ChainHead) {
        let stored: Vec<StoredEvent> = events.map(|e| head.advance(e)).collect();
        for chunk in stored.chunks(EVENTS_PER_INSERT) {
            self.sql.push_str(&crate::audit::insert_events_sql(chunk.len(), false));
            self.sql.push_str(";\n");
            for s in chunk {
                self.args.extend(crate::audit::event_values(s));
            }
        }
    }

    async fn execute(self, conn: &mut SqliteConnection) -> std::result::Result<(), sqlx::Error> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let keep = !self.batch && self.args.len() <= PREPARED_VALUES;
        let mut q = sqlx::query(&self.sql).persistent(keep);
        crate::bind_vals!(q, self.args);
        q.execute(conn).await.map(|_| ())
    }
}

/// Appends `sql` to `out` with each placeholder `$n` written `?` (anonymous), and the value it
/// stands for appended to `out_args` in the order the placeholders appear (a value used twice
/// is bound twice). SQLite finds a numbered placeholder's name by walking the statement's list of
/// names, and sqlx asks for every placeholder's name as it binds, so a command of n numbered
/// values cost n² steps (5% of the server's CPU under B0, in the audit events' inserts); an
/// anonymous placeholder has no name to look up. A `$n` without a value binds NULL, as an unbound
/// one would.
fn push_anonymous(out: &mut String, out_args: &mut Vec<Val>, sql: &str, args: Vec<Val>) {
    let mut slots: Vec<Option<Val>> = args.into_iter().map(Some).collect();
    let mut bound_at = vec![0; slots.len()];
    each_placeholder(out, sql, |out, n| {
        out.push('?');
        let i = n.wrapping_sub(1);
        let value = match slots.get_mut(i) {
            Some(slot) => match slot.take() {
                Some(v) => {
                    bound_at[i] = out_args.len();
                    v
                }
                None => out_args[bound_at[i]].clone(),
            },
            None => Val::Null(Null::Text),
        };
        out_args.push(value);
    });
}

/// Appends `sql` to `out` with each placeholder `$n` written `{mark}(n + offset)`.
pub(crate) fn push_placeholders(out: &mut String, sql: &str, offset: usize, mark: char) {
    each_placeholder(out, sql, |out, n| {
        out.push(mark);
        out.push_str(&(n + offset).to_string());
    });
}

/// Copies `sql` to `out`, letting `write` write each placeholder `$n` in its place. Only for
/// the store's own statements, which have no `$` inside string literals.
fn each_placeholder(out: &mut String, sql: &str, mut write: impl FnMut(&mut String, usize)) {
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) if digits > 0 => write(out, n),
            _ => {
                out.push('$');
                out.push_str(&rest[..digits]);
            }
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

/// The message a failed commit gives every member of its group (errors are not `Clone`).
fn db_error(e: &sqlx::Error) -> String {
    format!("database error: {e}")
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

/// Undoes what ran since savepoint `name` and ends it, in one command (a failure stops before
/// the release).
async fn undo(conn: &mut SqliteConnection, name: &str) -> std::result::Result<(), sqlx::Error> {
    exec(conn, &format!("rollback transaction to savepoint {name}; release savepoint {name}")).await
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
        match undo(&mut self.conn, "tsunagu_tx").await {
            Ok(()) => {
                if let Some(g) = &mut self.group {
                    g.head = g.savepoint_head.clone();
                }
            }
            Err(e) => self.abort(db_error(&e)).await,
        }
    }

    /// Runs deferred statements and chains and inserts deferred audit events, as one command:
    /// opening this transaction's savepoint first when `open`, releasing it at the end when
    /// `release`. On failure `savepoint_open` stays set (the caller settles).
    async fn run(&mut self, d: &Deferred, open: bool, release: bool) -> std::result::Result<(), sqlx::Error> {
        let Some(grp) = self.group.as_mut() else {
            return Err(sqlx::Error::Protocol("the group was rolled back".into()));
        };
        if open {
            grp.savepoint_head = grp.head.clone();
            self.savepoint_open = true;
        }
        let mut cmd = Command::default();
        if open {
            cmd.statement(SAVEPOINT);
        }
        let mut head = grp.head.clone();
        cmd.transaction(d, &mut head);
        if release {
            cmd.statement(RELEASE);
        }
        cmd.execute(&mut self.conn).await?;
        grp.head = head;
        if release {
            self.savepoint_open = false;
        }
        Ok(())
    }

    /// Runs queued transactions in as few commands as their values allow, each command in one
    /// savepoint. Should a statement fail, the command is undone and its transactions run one
    /// by one, each in a savepoint of its own, so that only the failed one is refused. The
    /// others join the group's waiters. (A savepoint per transaction in the shared command had
    /// cost 40% of its time: SQLite copies every page a savepoint first touches.)
    async fn run_queued(&mut self, queued: Vec<(Deferred, oneshot::Sender<Answer>)>) {
        let mut rest = queued.into_iter().peekable();
        while rest.peek().is_some() {
            let mut batch = Vec::new();
            let mut values = 0;
            while let Some((d, _)) = rest.peek() {
                if !batch.is_empty() && values + d.values() > COMMAND_VALUES {
                    break;
                }
                values += d.values();
                batch.extend(rest.next());
            }
            self.run_batch(batch).await;
        }
    }

    async fn run_batch(&mut self, batch: Vec<(Deferred, oneshot::Sender<Answer>)>) {
        let Some(grp) = self.group.as_mut() else {
            for (_, done) in batch {
                let _ = done.send(Err(Failure::Other("the group was rolled back".into())));
            }
            return;
        };
        let mut head = grp.head.clone();
        let mut cmd = Command { batch: batch.len() > 1, ..Command::default() };
        cmd.statement("savepoint tsunagu_batch");
        for (d, _) in &batch {
            cmd.transaction(d, &mut head);
        }
        cmd.statement("release savepoint tsunagu_batch");
        match cmd.execute(&mut self.conn).await {
            Ok(()) => {
                grp.head = head;
                grp.waiters.extend(batch.into_iter().map(|(_, done)| done));
                return;
            }
            Err(failed) => {
                if let Err(e) = undo(&mut self.conn, "tsunagu_batch").await {
                    let why = db_error(&e);
                    for (_, done) in batch {
                        let _ = done.send(Err(Failure::Other(why.clone())));
                    }
                    self.abort(why).await;
                    return;
                }
                if batch.len() == 1 {
                    // Alone in the batch: it is the one that failed.
                    if let Some((_, done)) = batch.into_iter().next() {
                        let _ = done.send(Err(Failure::of(failed)));
                    }
                    return;
                }
            }
        }
        for (d, done) in batch {
            match self.run(&d, true, true).await {
                Ok(()) => match &mut self.group {
                    Some(g) => g.waiters.push(done),
                    None => {
                        let _ = done.send(Err(Failure::Other("the group was rolled back".into())));
                    }
                },
                Err(e) => {
                    self.settle().await;
                    let _ = done.send(Err(Failure::of(e)));
                }
            }
        }
    }

    /// Opens the physical transaction if none is open, reading the chain head.
    async fn open_group(&mut self) -> std::result::Result<(), sqlx::Error> {
        if self.group.is_some() {
            return Ok(());
        }
        // One command (one round trip to the connection's thread) for both.
        let head: std::result::Result<(i64, String), sqlx::Error> =
            sqlx::query_as("begin immediate; select seq, hash from audit_head where id = 1")
                .fetch_one(&mut self.conn)
                .await;
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

    /// Runs queued work and commits it in one command, one round trip to the connection's
    /// thread: `begin immediate`, the queued transactions, the queued audit events chained after
    /// `head` (the head this writer's last commit left), the head row, `commit`. Between the
    /// three round trips of the step-by-step flush, the flush's task waited behind the
    /// requests' tasks each time (issue 6). Should the head be stale (another process appended
    /// to the chain), the first event's place is taken and its insert fails before the commit.
    /// On any failure the caller rolls back and runs the same work step by step, which finds
    /// out whose work failed. Returns the new head.
    async fn commit_at_once(
        &mut self,
        queued: &[Pending],
        head: ChainHead,
    ) -> std::result::Result<ChainHead, sqlx::Error> {
        let values: usize = queued
            .iter()
            .map(|p| match &p.work {
                Work::Audit(events) => events.len() * crate::audit::EVENT_VALUES,
                Work::Transaction(d) => d.values(),
            })
            .sum();
        if values > COMMAND_VALUES {
            return Err(sqlx::Error::Protocol("too many values for one command".into()));
        }
        let begun = head.clone();
        let mut head = head;
        let mut cmd = Command { batch: true, ..Command::default() };
        cmd.statement("begin immediate");
        for p in queued {
            if let Work::Transaction(d) = &p.work {
                cmd.transaction(d, &mut head);
            }
        }
        let audits = queued.iter().filter_map(|p| match &p.work {
            Work::Audit(events) => Some(events.iter().cloned()),
            Work::Transaction(_) => None,
        });
        cmd.events(audits.flatten(), &mut head);
        if head != begun {
            cmd.sql.push_str("update audit_head set seq = ?, hash = ? where id = 1;\n");
            cmd.args.push(head.seq.into_val());
            cmd.args.push(head.hash.as_str().into_val());
        }
        cmd.statement("commit");
        cmd.execute(&mut self.conn).await?;
        Ok(head)
    }

    /// Rolls the physical transaction back and tells every member why.
    async fn abort(&mut self, why: String) {
        let _ = exec(&mut self.conn, "rollback").await;
        if let Some(g) = self.group.take() {
            for w in g.waiters {
                let _ = w.send(Err(Failure::Other(why.clone())));
            }
        }
    }

    /// Runs the queued transactions, writes the queued audit events and commits the physical
    /// transaction, answering every member. Always answers every waiter it was given or holds.
    async fn flush(&mut self, queued: Vec<Pending>) {
        self.settle().await;
        let head = self.known_head.take();
        if let (Some(head), None, false) = (head, &self.group, queued.is_empty()) {
            match self.commit_at_once(&queued, head).await {
                Ok(head) => {
                    self.known_head = Some(head);
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    self.stats.members.fetch_add(queued.len() as u64, Ordering::Relaxed);
                    for p in queued {
                        let _ = p.done.send(Ok(()));
                    }
                    return;
                }
                // Nothing of it stays; the steps below run it again and answer each member.
                Err(_) => {
                    let _ = exec(&mut self.conn, "rollback").await;
                }
            }
        }
        if !queued.is_empty() {
            match self.open_group().await {
                Ok(()) => {
                    let mut audits = Vec::new();
                    let mut transactions = Vec::new();
                    for p in queued {
                        match p.work {
                            Work::Audit(events) => audits.push((events, p.done)),
                            Work::Transaction(d) => transactions.push((d, p.done)),
                        }
                    }
                    self.run_queued(transactions).await;
                    self.insert_queued(audits).await;
                }
                Err(e) => {
                    let why = Failure::Other(db_error(&e));
                    for p in queued {
                        let _ = p.done.send(Err(why.clone()));
                    }
                }
            }
        }
        let Some(g) = &self.group else { return };
        // The head row and the commit in one command: a failed update stops it before `commit`.
        let committed = if g.head != g.begun_head {
            sqlx::query("update audit_head set seq = $1, hash = $2 where id = 1; commit")
                .bind(g.head.seq)
                .bind(&g.head.hash)
                .execute(&mut self.conn)
                .await
                .map(|_| ())
        } else {
            exec(&mut self.conn, "commit").await
        };
        match committed {
            Ok(()) => {
                if let Some(g) = self.group.take() {
                    self.known_head = Some(g.head);
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
    async fn insert_queued(&mut self, queued: Vec<(Vec<NewEvent>, oneshot::Sender<Answer>)>) {
        let Some(g) = &mut self.group else { return };
        let mut batch: Vec<StoredEvent> = Vec::new();
        let mut members: Vec<oneshot::Sender<Answer>> = Vec::new();
        let mut head = g.head.clone();
        for (events, done) in queued {
            batch.extend(events.into_iter().map(|e| head.advance(e)));
            members.push(done);
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
                let why = Failure::Other(db_error(&e));
                for m in members {
                    let _ = m.send(Err(why.clone()));
                }
                if chunked && let Err(e) = undo(&mut self.conn, "tsunagu_queue").await {
                    self.abort(db_error(&e)).await;
                }
            }
        }
    }
}

/// Inserts stored events in one statement.
async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[StoredEvent],
) -> std::result::Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let sql = crate::audit::insert_events_sql(events.len(), false);
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
                    known_head: None,
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

    /// Starts a logical transaction: a savepoint in the shared physical transaction, opened when
    /// its first statement runs (see [`WriteGuard`]).
    pub(crate) fn begin(&self) -> WriteGuard {
        WriteGuard { guard: None, writer: self.clone(), deferred: Deferred::default(), failed: false }
    }

    /// Takes the writer for a logical transaction: what an abandoned one left is undone, and
    /// the physical transaction is open (its savepoint is opened by the first command).
    async fn lock_for_transaction(&self) -> Result<OwnedMutexGuard<WriterState>> {
        let mut g = self.lock().await?;
        g.settle().await;
        if let Err(e) = g.open_group().await {
            return Err(StoreError::from(e));
        }
        Ok(g)
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
        self.enqueue(Work::Audit(events)).await
    }

    /// Queues work for the next commit and waits for it.
    async fn enqueue(&self, work: Work) -> Result<()> {
        let (done, rx) = oneshot::channel();
        match self.shared.queue.lock() {
            Ok(mut q) => q.push(Pending { work, done }),
            Err(poisoned) => poisoned.into_inner().push(Pending { work, done }),
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
            Ok(Err(why)) => Err(why.into()),
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
            // What the caller does with the connection may move the chain.
            g.known_head = None;
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
    /// Adds a statement that answers nothing (an insert the caller needs no reply from) to
    /// those that run together: before the next statement that does answer, or at commit.
    /// Its placeholders are `$1…` of its own `args`.
    pub(crate) async fn defer(&mut self, sql: &str, args: Vec<Val>) -> std::result::Result<(), sqlx::Error> {
        self.deferred.push(sql, args);
        self.run_if_full().await
    }

    /// Adds an audit event to this transaction. It is chained (given its place and hash) when
    /// the deferred statements run, under the writer, and commits with them.
    pub(crate) async fn defer_audit(&mut self, event: NewEvent) -> std::result::Result<(), sqlx::Error> {
        self.deferred.events.push(event);
        self.run_if_full().await
    }

    /// Runs what is deferred once it holds [`DEFERRED_VALUES`] values (a long transaction, such
    /// as an import, defers in steps instead of one command too large for SQLite).
    async fn run_if_full(&mut self) -> std::result::Result<(), sqlx::Error> {
        if self.deferred.values() > DEFERRED_VALUES {
            self.conn().await?;
        }
        Ok(())
    }

    /// The connection, for a statement whose answer is needed now: takes the writer if this
    /// transaction does not hold it yet (opening its savepoint) and runs what was deferred, in
    /// one command with the savepoint.
    pub(crate) async fn conn(&mut self) -> std::result::Result<&mut SqliteConnection, sqlx::Error> {
        if self.failed {
            return Err(sqlx::Error::Protocol("the transaction failed and was rolled back".into()));
        }
        if self.guard.is_none() || !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            let held = self.guard.take();
            let w = self.writer.clone();
            let (g, ran) = tokio::spawn(async move {
                let open = held.is_none();
                let mut g = match held {
                    Some(g) => g,
                    None => w.lock_for_transaction().await?,
                };
                let ran = g.run(&deferred, open, false).await;
                if ran.is_err() {
                    // `savepoint_open` is still set: settle rolls this transaction back.
                    g.settle().await;
                }
                Ok::<_, StoreError>((g, ran))
            })
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("writer task failed: {e}")))?
            .map_err(store_to_sqlx)?;
            self.guard = Some(g);
            if let Err(e) = ran {
                self.failed = true;
                return Err(e);
            }
        }
        match self.guard.as_mut() {
            Some(g) => Ok(&mut g.conn),
            None => Err(sqlx::Error::PoolClosed),
        }
    }

    /// Commits: a transaction that never needed the writer joins the queue of the next commit
    /// and runs there whole with the others queued (one command for all of them); one that
    /// holds the writer runs what it deferred and releases its savepoint into the group (one
    /// command), hands the writer on and waits for the group's commit.
    pub(crate) async fn commit(mut self) -> Result<()> {
        if self.failed {
            return Err(StoreError::Commit("the transaction was rolled back".to_string()));
        }
        let deferred = std::mem::take(&mut self.deferred);
        let Some(mut g) = self.guard.take() else {
            if deferred.is_empty() {
                return Ok(()); // nothing was written
            }
            return self.writer.enqueue(Work::Transaction(deferred)).await;
        };
        let w = self.writer.clone();
        let rx = tokio::spawn(async move {
            if let Err(e) = g.run(&deferred, false, true).await {
                // `savepoint_open` is still set: settle rolls this transaction back.
                g.settle().await;
                drop(g);
                w.flush_later();
                return Err(StoreError::from(e));
            }
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

/// A [`StoreError`] from taking the writer, as the `sqlx::Error` a statement would give.
fn store_to_sqlx(e: StoreError) -> sqlx::Error {
    match e {
        StoreError::Database(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_after_those_before_them() {
        let mut out = String::new();
        push_placeholders(&mut out, "insert into t (a, b) values ($1, $2)", 0, '?');
        out.push_str("; ");
        push_placeholders(&mut out, "insert into u values ($1, $10, $2) -- $ alone, $x", 2, '$');
        assert_eq!(
            out,
            "insert into t (a, b) values (?1, ?2); insert into u values ($3, $12, $4) -- $ alone, $x"
        );
    }

    #[test]
    fn deferred_statements_bind_their_values_in_the_order_they_appear() {
        let mut d = Deferred::default();
        d.push("insert into a values ($1, $2)", vec![1_i64.into_val(), "x".into_val()]);
        d.push("insert into b values ($2, $1)", vec![Some(2.5_f64).into_val(), None::<i64>.into_val()]);
        d.push("update c set v = $1 where v = $1 or w = $3 -- $ alone", vec!["y".into_val()]);
        assert_eq!(
            d.sql,
            "insert into a values (?, ?);\ninsert into b values (?, ?);\n\
             update c set v = ? where v = ? or w = ? -- $ alone;\n"
        );
        assert_eq!(
            d.args,
            vec![
                Val::Int(1),
                Val::Text("x".into()),
                Val::Null(Null::Int),
                Val::Real(2.5),
                Val::Text("y".into()),
                Val::Text("y".into()),
                Val::Null(Null::Text),
            ]
        );
        assert!(!d.is_empty());
    }
}
