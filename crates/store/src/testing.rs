//! The test harness (feature `testing`): fresh, migrated databases on every backend, so one
//! contract suite runs on SQLite always and on PostgreSQL wherever PostgreSQL is installed
//! (DESIGN §5).
//!
//! ```no_run
//! # async fn example() {
//! for db in tsunagu_store::testing::all().await {
//!     let b = db.backend; // name the backend in assertion messages
//!     assert_eq!(db.store.count_users().await.ok(), Some(0), "{b:?}");
//! }
//! # }
//! ```
//!
//! How PostgreSQL is found, in order:
//! 1. `TSUNAGU_TEST_DATABASE_URL` (`postgres://user@host/db`): each [`TestDb`] is a fresh
//!    database `t_<random>` created through that connection, and dropped when the `TestDb` is.
//! 2. Otherwise one private server per test process, started on first use: `initdb` and
//!    `pg_ctl` from `PATH` or else the highest version under `/usr/lib/postgresql/*/bin`, a data
//!    folder in the temp dir, listening on a unix socket in that folder and on 127.0.0.1 at a
//!    free port, with durability switched off (`fsync=off`: a test database need not survive a
//!    power cut). PostgreSQL refuses to run as root; when the tests run as root the server's
//!    commands run as the `postgres` system user (`runuser`).
//! 3. Neither: [`postgres`] returns `None` and the tests run on SQLite only, unless `CI=true`,
//!    where a missing PostgreSQL is a failure, not a skip.
//!
//! Statics are never dropped, so the private server cannot be stopped from a destructor.
//! Instead it is started by a small `sh` supervisor whose stdin is a pipe held by this process.
//! The supervisor blocks reading that pipe; when the test process exits, however it exits
//! (even `kill -9`), the kernel closes the pipe, the read ends, and the supervisor stops the
//! server and removes its folder. The supervisor ignores SIGINT/SIGHUP/SIGTERM so a Ctrl-C on
//! `cargo test` cannot kill it before it has cleaned up.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{Backend, OpenOptions, Store};

/// A fresh, migrated database. Dropping it removes the database (SQLite: its folder;
/// PostgreSQL: the database, forcibly disconnecting whatever still uses it).
pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with, for code under test that opens its own store
    /// (a spawned server binary, a CLI command).
    pub url: String,
    pub backend: Backend,
    _guard: Guard,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("backend", &self.backend).field("url", &self.url).finish()
    }
}

/// What removes the database when the [`TestDb`] is dropped (held, never read).
enum Guard {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { _database: DropDatabase },
}

/// Fresh SQLite file `t.db` in a temp folder of its own, migrated.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::Builder::new()
        .prefix("tsunagu-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("test harness: cannot make a temp folder for SQLite: {e}"));
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::open(&url, &OpenOptions::default())
        .await
        .unwrap_or_else(|e| panic!("test harness: cannot open {url}: {e}"));
    TestDb { store, url, backend: Backend::Sqlite, _guard: Guard::Sqlite { _dir: dir } }
}

/// A fresh, migrated PostgreSQL database; `None` when no PostgreSQL is installed (and neither
/// `TSUNAGU_TEST_DATABASE_URL` nor `CI=true` is set).
///
/// # Panics
/// When `CI=true` and no PostgreSQL is found, and whenever a PostgreSQL that is there fails
/// (cannot be initialised, started or connected to): a broken installation must fail the
/// tests, not silently skip half of them.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = match std::env::var("TSUNAGU_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            // Starting the server blocks for a few seconds; keep the async runtime free.
            let server = tokio::task::spawn_blocking(|| SERVER.get_or_init(private_server))
                .await
                .unwrap_or_else(|e| panic!("test harness: starting PostgreSQL panicked: {e}"));
            match server {
                Ok(Some(s)) => s.admin_url.clone(),
                Ok(None) => return None,
                Err(msg) => panic!("test harness: {msg}"),
            }
        }
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let url = database_url(&admin_url, &name);
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("test harness: cannot connect to PostgreSQL as admin: {e}"));
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("test harness: cannot create database {name}: {e}"));
    let _ = admin.close().await;
    let guard = DropDatabase { admin_url, name };
    let store = Store::open(&url, &OpenOptions::default())
        .await
        .unwrap_or_else(|e| panic!("test harness: cannot open {url}: {e}"));
    Some(TestDb { store, url, backend: Backend::Postgres, _guard: Guard::Postgres { _database: guard } })
}

/// [`sqlite`], plus [`postgres`] when PostgreSQL is available.
pub async fn all() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    dbs.extend(postgres().await);
    dbs
}

/// The admin URL with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let mut u = url::Url::parse(admin_url)
        .unwrap_or_else(|e| panic!("test harness: TSUNAGU_TEST_DATABASE_URL is not a URL: {e}"));
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// Drops a test database when its [`TestDb`] goes (a test process creates many; each costs
/// some megabytes on disk).
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let admin_url = std::mem::take(&mut self.admin_url);
        let sql = format!("drop database if exists {} with (force)", self.name);
        // Drop cannot await, and may run inside or outside a runtime: use a thread of its own.
        let dropping = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&sql).execute(&mut c).await.ok()?;
                c.close().await.ok()
            })
        });
        let _ = dropping.join();
    }
}

/// The private server of this test process.
struct Server {
    admin_url: String,
    /// The supervisor's stdin. Never written; closing it (at process exit) stops the server.
    _lifeline: Mutex<ChildStdin>,
}

/// `Ok(None)`: no PostgreSQL installed, skip. `Err`: a message to fail every caller with.
static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn private_server() -> Result<Option<Server>, String> {
    let Some(bin) = find_postgres() else {
        if ci() {
            return Err("CI=true but no PostgreSQL was found (initdb on PATH or under \
                 /usr/lib/postgresql/*/bin); install it (apt-get install postgresql) or set \
                 TSUNAGU_TEST_DATABASE_URL"
                .into());
        }
        static SAY: Once = Once::new();
        SAY.call_once(|| {
            // Not `eprintln!`: the test harness would capture that, and this should be seen.
            let _ = writeln!(
                std::io::stderr(),
                "test harness: no PostgreSQL found (initdb on PATH or under \
                 /usr/lib/postgresql/*/bin): store tests run on SQLite only"
            );
        });
        return Ok(None);
    };
    start_server(&bin).map(Some)
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
fn find_postgres() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("initdb")).find(|f| f.is_file()));
    if let Some(initdb) = on_path {
        // Debian links /usr/bin tools to /usr/lib/postgresql/<v>/bin; the server is there.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent().filter(|d| complete(d)) {
            return Some(dir.to_path_buf());
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version =
                e.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u32>>>()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs as the supervisor: `sh -c SUPERVISOR sh <bin> <data> <folder> <port> [as-user…]`,
/// where the trailing words (`runuser -u postgres --` when root) prefix PostgreSQL commands.
/// Prints `ready` or `failed` on stdout, then waits for its stdin to close.
const SUPERVISOR: &str = r#"
trap '' HUP INT TERM
bin=$1; data=$2; dir=$3; port=$4; shift 4
if ! "$@" "$bin/pg_ctl" start -w -t 60 -s -D "$data" -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB" \
    >/dev/null 2>&1
then
    echo failed
    exit 1
fi
echo ready
exec >/dev/null 2>&1
read -r _ignored
"$@" "$bin/pg_ctl" stop -s -D "$data" -m immediate
rm -rf "$dir"
"#;

fn start_server(bin: &Path) -> Result<Server, String> {
    let root = running_as_root();
    let as_user: Vec<&str> = if root { vec!["runuser", "-u", "postgres", "--"] } else { vec![] };
    let dir = tempfile::Builder::new()
        .prefix("tsunagu-pg-")
        .tempdir()
        .map_err(|e| format!("cannot make a temp folder for PostgreSQL: {e}"))?
        .keep();
    let cleanup = |msg: String| {
        let _ = std::fs::remove_dir_all(&dir);
        msg
    };
    if dir.to_string_lossy().contains(char::is_whitespace) {
        return Err(cleanup(format!("the temp folder {} contains a space", dir.display())));
    }
    if root {
        let chown = Command::new("chown").arg("postgres:").arg(&dir).output();
        match chown {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(cleanup(format!(
                    "running as root, PostgreSQL must run as the `postgres` system user, but \
                     `chown postgres: {}` failed: {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            Err(e) => return Err(cleanup(format!("cannot run chown: {e}"))),
        }
    }
    let data = dir.join("data");
    let initdb = as_postgres_user(&as_user, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| cleanup(format!("cannot run initdb: {e}")))?;
    if !initdb.status.success() {
        return Err(cleanup(format!(
            "initdb failed ({}): {}{}",
            bin.join("initdb").display(),
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        )));
    }
    // A free port can be taken by someone else before the server binds it: try a few.
    let mut last = String::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| cleanup(format!("cannot find a free port: {e}")))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("sh")
            .arg(bin)
            .arg(&data)
            .arg(&dir)
            .arg(port.to_string())
            .args(&as_user)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| cleanup(format!("cannot run sh: {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() == "ready"
            && let Some(stdin) = child.stdin.take()
        {
            // `child` is not waited for: the supervisor outlives this process by design.
            let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            if let Err(e) = wait_until_accepting(&admin_url) {
                drop(stdin); // the supervisor stops the server and removes the folder
                let _ = child.wait();
                return Err(e);
            }
            return Ok(Server { admin_url, _lifeline: Mutex::new(stdin) });
        }
        let _ = child.wait();
        last = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    }
    Err(cleanup(format!("PostgreSQL ({}) did not start; its log:\n{last}", bin.join("pg_ctl").display())))
}

/// `program` run directly, or through `as_user` (`runuser -u postgres --`).
fn as_postgres_user(as_user: &[&str], program: &Path) -> Command {
    match as_user.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// `pg_ctl -w` has waited already; this makes sure the TCP address answers too.
fn wait_until_accepting(admin_url: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a runtime: {e}"))?;
    rt.block_on(async {
        let mut last = String::new();
        for _ in 0..100 {
            match PgConnection::connect(admin_url).await {
                Ok(c) => {
                    let _ = c.close().await;
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("PostgreSQL started but {admin_url} does not answer: {last}"))
    })
}

/// The plan of `sql` with these values bound, one line per step. On PostgreSQL a sequential
/// scan, a bitmap scan and a sort are the last resort (disabled for the statement), so a plan
/// that still has one has no index that serves the query.
#[cfg(test)]
pub(crate) async fn plan(store: &Store, sql: &str, binds: &[crate::writer::Val]) -> String {
    match &store.db {
        crate::Db::Sqlite { read, .. } => {
            let explain = format!("explain query plan {sql}");
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
            crate::bind_vals!(q, binds.iter().cloned());
            q.fetch_all(&mut *read.get().await.expect("reader"))
                .await
                .expect("plan")
                .into_iter()
                .map(|r| r.3)
                .collect::<Vec<_>>()
                .join("\n")
        }
        crate::Db::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            for off in ["enable_seqscan", "enable_sort", "enable_bitmapscan"] {
                sqlx::query(&format!("set local {off} = off")).execute(&mut *tx).await.expect("set");
            }
            let explain = format!("explain (costs off) {sql}");
            let mut q = sqlx::query_scalar::<_, String>(&explain);
            crate::bind_vals!(q, binds.iter().cloned());
            q.fetch_all(&mut *tx).await.expect("plan").join("\n")
        }
    }
}
