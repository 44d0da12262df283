//! The store layer: one surface per aggregate over SQLite and PostgreSQL.
//!
//! Queries are written once in the SQL both databases share (lowercase, `$1` placeholders,
//! `returning`, `on conflict`) and run on whichever backend the [`Store`] was opened with; the
//! few places where the dialects truly differ branch explicitly. Handlers never see SQL: the app
//! layer calls the methods of the aggregate modules below.

use std::str::FromStr;

use sqlx::ConnectOptions;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

pub mod attachments;
pub mod audit;
mod audit_queue;
mod direct;
pub mod directory;
pub mod generate;
pub mod live;
mod migrate;
pub mod orgs;
pub mod patients;
pub mod people;
pub mod people_search;
mod readers;
pub mod security;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeline_search;
mod writer;

pub use writer::WriteStats;

/// Errors of the store. Messages name constraints and settings, never row content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme in database_url (use sqlite: or postgres://)")]
    UnsupportedUrl,
    #[error("database_url is not a valid URL: {0}")]
    BadUrl(String),
    #[error("a row with the same key exists ({constraint})")]
    Conflict { constraint: String },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A read on SQLite's direct readers (`direct.rs`) failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A row read did not decode into its type (the column named; never the value).
    #[error("a database row did not decode (column {0})")]
    Decode(String),
    /// A statement's placeholder has no value (the n-th placeholder; a fault of the statement).
    #[error("placeholder {0} of a statement has no value")]
    Placeholder(usize),
    /// The commit of a group of transactions failed: every member gets this.
    #[error("commit failed: {0}")]
    Commit(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            // PostgreSQL names the constraint; SQLite names only the columns
            // ("UNIQUE constraint failed: users.login"), so they are looked up.
            let constraint = match db.constraint() {
                Some(name) => name.to_string(),
                None => sqlite_unique_constraint(db.message()),
            };
            return StoreError::Conflict { constraint };
        }
        StoreError::Database(e)
    }
}

/// The unique and primary-key constraints of the schema by the columns SQLite reports for
/// them, so a conflict names the same constraint on both backends. Keep in step with the
/// migrations (a test below checks that every named key of the SQLite schema is here).
const SQLITE_UNIQUE_KEYS: &[(&str, &str)] = &[
    ("organisations.id", "organisations_pkey"),
    ("districts.name", "districts_pkey"),
    ("users.id", "users_pkey"),
    ("users.login", "users_login_key"),
    ("user_duties.user_id, user_duties.duty", "user_duties_pkey"),
    ("affiliations.user_id, affiliations.organisation_id", "affiliations_pkey"),
    ("recovery_codes.user_id, recovery_codes.code_hash", "recovery_codes_pkey"),
    ("passkeys.id", "passkeys_pkey"),
    ("passkeys.credential_id", "passkeys_credential_key"),
    ("webauthn_challenges.id", "webauthn_challenges_pkey"),
    ("client_certificates.fingerprint", "client_certificates_pkey"),
    ("sessions.token_hash", "sessions_pkey"),
    ("login_throttle.key", "login_throttle_pkey"),
    ("invitations.token_hash", "invitations_pkey"),
    ("api_tokens.id", "api_tokens_pkey"),
    ("api_tokens.token_hash", "api_tokens_hash_key"),
    ("settings.key", "settings_pkey"),
    ("audit_events.seq", "audit_events_pkey"),
    ("audit_head.id", "audit_head_pkey"),
    ("attachments.id", "attachments_pkey"),
    ("organisations.office_no", "organisations_office_no_key"),
    ("org_services.organisation_id, org_services.service", "org_services_pkey"),
    ("org_departments.organisation_id, org_departments.department", "org_departments_pkey"),
    ("org_capabilities.organisation_id, org_capabilities.capability", "org_capabilities_pkey"),
    ("consultation_hours.id", "consultation_hours_pkey"),
    ("consultation_exceptions.id", "consultation_exceptions_pkey"),
    ("vacancies.organisation_id, vacancies.day", "vacancies_pkey"),
    ("vacancy_inquiries.id", "vacancy_inquiries_pkey"),
    ("org_changes.id", "org_changes_pkey"),
    ("patients.id", "patients_pkey"),
    ("patient_versions.patient_id, patient_versions.version", "patient_versions_pkey"),
    ("consents.id", "consents_pkey"),
    ("team_members.patient_id, team_members.user_id", "team_members_pkey"),
    ("team_events.id", "team_events_pkey"),
    ("timeline_entries.id", "timeline_entries_pkey"),
    ("vital_signs.entry_id, vital_signs.kind", "vital_signs_pkey"),
    ("entry_reads.entry_id, entry_reads.user_id", "entry_reads_pkey"),
    ("emergency_accesses.id", "emergency_accesses_pkey"),
];

/// The constraint behind a SQLite unique violation message. A key missing from the table
/// gets PostgreSQL's default name for it (`<table>_<columns>_key`).
fn sqlite_unique_constraint(message: &str) -> String {
    let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") else {
        return "unique".to_string();
    };
    let columns = columns.trim();
    if let Some((_, name)) = SQLITE_UNIQUE_KEYS.iter().find(|(c, _)| *c == columns) {
        return (*name).to_string();
    }
    let mut parts = columns.split(", ").filter_map(|c| c.split_once('.'));
    match parts.next() {
        Some((table, first)) => {
            let rest: Vec<&str> = parts.map(|(_, c)| c).collect();
            let mut name = format!("{table}_{first}");
            for c in rest {
                name.push('_');
                name.push_str(c);
            }
            name.push_str("_key");
            name
        }
        None => "unique".to_string(),
    }
}

/// A column list (`a, b, c`) with each column qualified by a table alias (`p.a, p.b, p.c`), for
/// queries that join a table whose columns share names with it.
pub(crate) fn qualified(columns: &str, alias: &str) -> String {
    columns.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Db {
    /// SQLite: one writer connection with group commit (writes are serialised by SQLite anyway;
    /// see [`writer`]) and a pool of readers (WAL lets them read while the writer writes).
    Sqlite {
        write: writer::Writer,
        read: readers::Readers,
        /// The request path's short reads, on the calling thread (see `direct.rs`).
        direct: std::sync::Arc<direct::Direct>,
    },
    Postgres(PgPool),
}

/// The database, opened from a URL.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// PostgreSQL's queue of audit-only events (see `audit_queue.rs`; unused on SQLite).
    audit_queue: std::sync::Arc<audit_queue::AuditQueue>,
}

/// Runs `$body` with `$c` bound to a reader of whichever backend the store is on: on SQLite one
/// reader connection taken for the body (see `readers.rs`), on PostgreSQL the pool.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite { read, .. } => match read.get().await {
                Ok(mut reader) => {
                    let outcome = {
                        let $c = &mut *reader;
                        $body
                    };
                    read.settle(reader, &outcome);
                    outcome
                }
                Err(e) => Err(e.into()),
            },
            $crate::Db::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}
pub(crate) use read;

/// The values of a statement's placeholders `$1…`, in order, for [`Store::fetch_all`] and
/// [`Store::fetch_optional`].
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::writer::IntoVal::into_val($v)),*]
    };
}
pub(crate) use args;

/// A row type both backends decode: by serde on SQLite's direct readers, by sqlx's `FromRow`
/// on PostgreSQL (the same column names).
pub(crate) trait Row:
    serde::de::DeserializeOwned + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin
{
}

impl<T> Row for T where
    T: serde::de::DeserializeOwned + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin
{
}

/// Binds each of `$vals` (`Val`s, by value) to sqlx query `$q` in order; a NULL with its type,
/// which PostgreSQL needs.
macro_rules! bind_vals {
    ($q:ident, $vals:expr) => {
        for v in $vals {
            $q = match v {
                $crate::writer::Val::Text(s) => $q.bind(s),
                $crate::writer::Val::Int(i) => $q.bind(i),
                $crate::writer::Val::Real(f) => $q.bind(f),
                $crate::writer::Val::Null($crate::writer::Null::Int) => $q.bind(None::<i64>),
                $crate::writer::Val::Null($crate::writer::Null::Real) => $q.bind(None::<f64>),
                $crate::writer::Val::Null($crate::writer::Null::Text) => $q.bind(None::<String>),
            };
        }
    };
}
pub(crate) use bind_vals;

/// A PostgreSQL query of `T` with `args` bound in order.
fn pg_query<T: Row>(
    sql: &str,
    args: Vec<writer::Val>,
) -> sqlx::query::QueryAs<'_, sqlx::Postgres, T, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query_as::<_, T>(sql);
    bind_vals!(q, args);
    q
}

/// Short reads on the request's path: on SQLite on the calling thread (`direct.rs`), on
/// PostgreSQL through the pool. Only for statements that probe indexes for a bounded answer;
/// reads that may scan use [`read!`] (sqlx's reader threads on SQLite).
impl Store {
    /// Every row of `sql` with `args` (see [`args!`]) bound to `$1…`.
    pub(crate) async fn fetch_all<T: Row>(&self, sql: &str, args: Vec<writer::Val>) -> Result<Vec<T>> {
        match &self.db {
            Db::Sqlite { direct, .. } => direct.all(sql, &args),
            Db::Postgres(pool) => Ok(pg_query::<T>(sql, args).fetch_all(pool).await?),
        }
    }

    /// The first row of `sql`, if any.
    pub(crate) async fn fetch_optional<T: Row>(
        &self,
        sql: &str,
        args: Vec<writer::Val>,
    ) -> Result<Option<T>> {
        match &self.db {
            Db::Sqlite { direct, .. } => direct.first(sql, &args),
            Db::Postgres(pool) => Ok(pg_query::<T>(sql, args).fetch_optional(pool).await?),
        }
    }
}

/// Runs `$body` with `$c` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.inner {
            $crate::TxInner::Sqlite(t) => match t.conn().await {
                Ok($c) => $body,
                Err(e) => Err(e),
            },
            $crate::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Like [`on_tx!`] for statements: runs `$body` (an `execute`) and yields the rows affected.
macro_rules! exec_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.inner {
            $crate::TxInner::Sqlite(t) => match t.conn().await {
                Ok($c) => $body.map(|r| r.rows_affected()),
                Err(e) => Err(e),
            },
            $crate::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body.map(|r| r.rows_affected())
            }
        }
    };
}
pub(crate) use exec_tx;

/// Runs a statement that answers nothing inside a transaction: on SQLite it is deferred and
/// runs with the transaction's other such statements in one command (see `writer.rs`), on
/// PostgreSQL at once. The values are bound in order to `$1…`; an error may therefore come
/// from a later call or from the commit.
macro_rules! defer_tx {
    ($tx:expr, $sql:expr, [$($v:expr),* $(,)?]) => {
        match &mut $tx.inner {
            $crate::TxInner::Sqlite(t) => t.defer($sql, vec![$($crate::writer::IntoVal::into_val($v)),*]).await,
            $crate::TxInner::Postgres(t) => sqlx::query($sql)$(.bind($v))*.execute(&mut **t).await.map(|_| ()),
        }
    };
}
pub(crate) use defer_tx;

pub(crate) enum TxInner {
    /// A savepoint in the writer's shared physical transaction (group commit).
    Sqlite(writer::WriteGuard),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A write transaction. Writes and the audit events that record them commit together; `commit`
/// returns once they are durable (on SQLite, together with the concurrent transactions that
/// joined the same group commit).
pub struct Tx {
    pub(crate) inner: TxInner,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// SQLite's reader connections for the reads that may scan (default 4), or all of
    /// PostgreSQL's connections (default 8).
    pub max_connections: Option<u32>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite:path`, `sqlite://path`, `postgres://…`,
    /// `postgresql://…`) and applies pending migrations. Any other scheme is refused rather
    /// than guessed at.
    pub async fn open(url: &str, opts: &OpenOptions) -> Result<Self> {
        let store = Self::connect(url, opts).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens without migrating.
    pub async fn connect(url: &str, opts: &OpenOptions) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or("");
        let db = match scheme {
            "sqlite" => {
                let base = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit is on disk before it is acknowledged, even on power loss.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("temp_store", "memory");
                if let Some(dir) = sqlite_parent_dir(url) {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::BadUrl(e.to_string()))?;
                }
                // Page caches: 16 MB for the writer (it walks indexes to append), 4 MB for each
                // reader; the operating system's file cache holds the rest of a large database
                // once, shared, instead of once per connection (resident memory stays bounded:
                // issue 6 wants ≤ 150 MB under load).
                let write = writer::Writer::new(base.clone().pragma("cache_size", "-16000").connect().await?);
                // After the writer: it created the file and set it to WAL.
                let direct = std::sync::Arc::new(direct::Direct::open(base.get_filename().to_path_buf(), 2)?);
                // Readers without sqlx's pool and its health check on every release (readers.rs).
                let read = readers::Readers::open(
                    base.read_only(true).pragma("cache_size", "-4000"),
                    opts.max_connections.unwrap_or(4) as usize,
                )
                .await?;
                Db::Sqlite { write, read, direct }
            }
            "postgres" | "postgresql" => {
                let o = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?
                    .application_name("tsunagu");
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections.unwrap_or(8).max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(o)
                    .await?;
                Db::Postgres(pool)
            }
            _ => return Err(StoreError::UnsupportedUrl),
        };
        Ok(Self { db, audit_queue: Default::default() })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it is a savepoint in the writer's shared `BEGIN
    /// IMMEDIATE` transaction (the write lock is held by the group, so a concurrent writer waits
    /// instead of failing half-way), taken when its first statement that answers runs or, if it
    /// only defers inserts, at its commit (see `writer.rs`).
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match &self.db {
            Db::Sqlite { write, .. } => TxInner::Sqlite(write.begin()),
            Db::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx { inner })
    }

    /// How the SQLite writer grouped its commits so far (`None` on PostgreSQL).
    pub fn write_stats(&self) -> Option<WriteStats> {
        match &self.db {
            Db::Sqlite { write, .. } => Some(write.stats()),
            Db::Postgres(_) => None,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        // Cast: a bare `select 1` is an int4 on PostgreSQL, which does not decode as i64.
        let _: (i64,) = read!(self, |c| sqlx::query_as("select cast(1 as bigint)").fetch_one(c).await)?;
        Ok(())
    }

    /// Closes every connection (at shutdown, after in-flight requests are done).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { write, read, .. } => {
                write.close().await;
                read.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    /// An online, consistent copy of a SQLite database into `path` (`vacuum into`). PostgreSQL
    /// backups are taken with `pg_dump` by the binary.
    pub async fn sqlite_backup_to(&self, path: &str) -> Result<bool> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut c = write.idle().await?;
                sqlx::query("vacuum into $1").bind(path).execute(&mut *c).await?;
                Ok(true)
            }
            Db::Postgres(_) => Ok(false),
        }
    }
}

/// The folder a SQLite URL's file lives in, so it can be created on first start.
fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let p = std::path::Path::new(path).parent()?;
    if p.as_os_str().is_empty() { None } else { Some(p.to_path_buf()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_url_scheme_is_refused() {
        let e = Store::connect("mysql://localhost/x", &OpenOptions::default()).await.err();
        assert!(matches!(e, Some(StoreError::UnsupportedUrl)));
    }

    #[test]
    fn a_sqlite_unique_violation_names_the_constraint_postgresql_would() {
        assert_eq!(sqlite_unique_constraint("UNIQUE constraint failed: users.login"), "users_login_key");
        assert_eq!(
            sqlite_unique_constraint("UNIQUE constraint failed: user_duties.user_id, user_duties.duty"),
            "user_duties_pkey"
        );
        assert_eq!(
            sqlite_unique_constraint("UNIQUE constraint failed: things.a, things.b"),
            "things_a_b_key"
        );
        assert_eq!(sqlite_unique_constraint("disk I/O error"), "unique");
    }

    /// Every `constraint <name> primary key|unique` of the SQLite schema, as the columns SQLite
    /// reports for it and the name.
    fn named_keys_of_the_sqlite_schema() -> Vec<(String, String)> {
        let sql = concat!(
            include_str!("../migrations/sqlite/0001_foundation.sql"),
            "\n",
            include_str!("../migrations/sqlite/0002_sharing.sql"),
            "\n",
            include_str!("../migrations/sqlite/0003_live.sql"),
            "\n",
            include_str!("../migrations/sqlite/0004_attachments.sql"),
            "\n",
            include_str!("../migrations/sqlite/0005_directory.sql"),
            "\n",
            include_str!("../migrations/sqlite/0006_api.sql"),
            "\n",
            include_str!("../migrations/sqlite/0007_timeline_pages.sql"),
            "\n",
            include_str!("../migrations/sqlite/0008_directory_search.sql"),
            "\n",
            include_str!("../migrations/sqlite/0009_directory_points.sql")
        );
        let mut table = String::new();
        let mut keys = Vec::new();
        for line in sql.lines().map(str::trim) {
            // `create unique index <name> on <table> (<columns>);`
            if let Some(rest) = line.strip_prefix("create unique index ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if let (Some(name), Some(on)) = (words.first(), words.get(2)) {
                    let inner = rest.split('(').nth(1).unwrap_or("").split(')').next().unwrap_or("");
                    let columns: Vec<String> =
                        inner.split(',').map(|c| format!("{on}.{}", c.trim())).collect();
                    keys.push((columns.join(", "), (*name).to_string()));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("create table ") {
                table = rest.split_whitespace().next().unwrap_or("").to_string();
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "constraint") else { continue };
            let (Some(name), Some(kind)) = (words.get(at + 1), words.get(at + 2)) else { continue };
            if !matches!(kind.trim_end_matches(','), "primary" | "unique") {
                continue;
            }
            let columns: Vec<String> = if at == 0 {
                // A table constraint: `constraint x primary key (a, b)`.
                let inner = line.split('(').nth(1).unwrap_or("").split(')').next().unwrap_or("");
                inner.split(',').map(|c| format!("{table}.{}", c.trim())).collect()
            } else {
                vec![format!("{table}.{}", words[0])]
            };
            keys.push((columns.join(", "), name.trim_end_matches(',').to_string()));
        }
        keys
    }

    #[test]
    fn every_named_key_of_the_sqlite_schema_maps_to_its_name() {
        let keys = named_keys_of_the_sqlite_schema();
        assert!(keys.len() >= 19, "the schema parser found only {keys:?}");
        for (columns, name) in &keys {
            assert_eq!(
                &sqlite_unique_constraint(&format!("UNIQUE constraint failed: {columns}")),
                name,
                "SQLite reports {columns}"
            );
        }
        assert_eq!(keys.len(), SQLITE_UNIQUE_KEYS.len(), "the table lists keys the schema lacks");
    }

    #[test]
    fn the_sqlite_folder_is_found() {
        assert_eq!(
            sqlite_parent_dir("sqlite://tsunagu-data/tsunagu.db?mode=rwc"),
            Some("tsunagu-data".into())
        );
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
    }
}
