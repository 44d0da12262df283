//! What the end-to-end tests share: running the real `tsunagu` binary in a temp working folder
//! (as a command or as a server), a tiny HTTP/1.1 client with cookies and CSRF, a write
//! hammer, and the attacker's raw SQL on the audit log.
//!
//! Everything here is bounded in time: commands, servers and sockets have hard timeouts, so a
//! broken binary fails a test instead of hanging it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use tsunagu_store::testing::TestDb;
pub use tsunagu_store::{Backend, OpenOptions, Store};

/// The demo accounts' password, given to every run.
pub const PASSWORD: &str = "demo-password-123";

/// The logins the demo region creates.
pub const DEMO_LOGINS: [&str; 14] = [
    "admin",
    "physician",
    "physician2",
    "nurse",
    "pharmacist",
    "caremanager",
    "helper",
    "er-physician",
    "coordinator",
    "center-staff",
    "city",
    "commissioner",
    "shortstay",
    "auditor",
];

/// How long any one command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a server may take to answer `/healthz` after start (it loads the demo first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Socket read/write timeout of the HTTP client.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Databases

/// Fresh databases to run a test on: SQLite always, PostgreSQL when installed (required under
/// `CI=true`, see the store's harness).
pub async fn databases() -> Vec<TestDb> {
    tsunagu_store::testing::all().await
}

pub fn backend_name(db: &TestDb) -> &'static str {
    match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A second store on `url` without migrating (to look at what the binary wrote).
pub async fn connect(url: &str) -> Store {
    Store::connect(url, &OpenOptions { max_connections: Some(2) })
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
}

/// The names of every organisation in the database.
pub async fn organisation_names(store: &Store) -> std::collections::BTreeSet<String> {
    store.list_organisations().await.expect("list organisations").into_iter().map(|o| o.name).collect()
}

// ---------------------------------------------------------------------------------------------
// Running the binary

/// What a finished command printed.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with everything printed unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "{} failed ({}):\n{self}", self.what, self.status);
        self.no_panic()
    }

    /// Panics unless the command failed with a message, without a Rust panic.
    pub fn refused(self) -> Self {
        assert!(!self.status.success(), "{} should have failed:\n{self}", self.what);
        assert!(!self.stderr.trim().is_empty(), "{} failed without a message:\n{self}", self.what);
        self.no_panic()
    }

    pub fn no_panic(self) -> Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "{} panicked:\n{self}",
            self.what
        );
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// A temp working folder to run the binary in (its default data folder lands there).
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("tsunagu-e2e-").tempdir().expect("temp folder");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The exported audit head file at its default place.
    pub fn head_file(&self) -> PathBuf {
        self.path().join("tsunagu-data").join("audit-head.jsonl")
    }

    /// `tsunagu [--database-url URL] ARGS…` in this folder, with a clean `TSUNAGU_*`
    /// environment apart from the demo password.
    pub fn command(&self, db_url: Option<&str>, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tsunagu"));
        c.current_dir(self.path());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TSUNAGU_") {
                c.env_remove(k);
            }
        }
        c.env("TSUNAGU_DEMO_PASSWORD", PASSWORD);
        if let Some(u) = db_url {
            c.arg("--database-url").arg(u);
        }
        c.args(args);
        c
    }

    /// Runs a command to its end (bounded by a timeout).
    pub fn run(&self, db_url: Option<&str>, args: &[&str]) -> Out {
        run(self.command(db_url, args), &format!("tsunagu {}", args.join(" ")))
    }

    /// Runs a command with extra environment variables.
    pub fn run_env(&self, db_url: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Out {
        let mut c = self.command(db_url, args);
        c.envs(env.iter().copied());
        let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        run(c, &format!("{} tsunagu {}", shown.join(" "), args.join(" ")))
    }
}

/// Reads a pipe to its end in a thread of its own, into a shared buffer.
fn drain(mut r: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    let h = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => b.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
        }
    });
    (buf, h)
}

/// Waits for a child at most `timeout`; `None` when it is still running.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn run(mut c: Command, what: &str) -> Out {
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let (out, ho) = drain(child.stdout.take().expect("stdout"));
    let (err, he) = drain(child.stderr.take().expect("stderr"));
    let status = match wait_timeout(&mut child, COMMAND_TIMEOUT) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {COMMAND_TIMEOUT:?}; stderr:\n{}", err.lock().unwrap());
        }
    };
    let _ = ho.join();
    let _ = he.join();
    let stdout = out.lock().unwrap().clone();
    let stderr = err.lock().unwrap().clone();
    Out { status, stdout, stderr, what: what.to_string() }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// `tsunagu serve` running in a working folder. Killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

impl Server {
    /// Starts the server on a free port and waits until `/healthz` answers 200.
    pub fn start(work: &Workdir, db_url: Option<&str>) -> Server {
        let mut last = String::new();
        // A free port may be taken by someone else before the server binds it: try a few.
        for _ in 0..3 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
            let mut c = work.command(db_url, &["serve", "--listen", &addr.to_string()]);
            c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().expect("spawn tsunagu serve");
            let (stdout, _) = drain(child.stdout.take().expect("stdout"));
            let (stderr, _) = drain(child.stderr.take().expect("stderr"));
            let mut server = Server { child, addr, stdout, stderr, exited: None };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Some(status) = server.child.try_wait().expect("try_wait") {
                    server.exited = Some(status);
                    last = format!("exited with {status}:\n{}", server.output());
                    break;
                }
                // Ours, not someone else's server on a port taken meanwhile: it says it bound.
                let bound = server.stdout().contains(&format!("serving at http://{addr}"));
                if bound && get(addr, "/healthz").is_ok_and(|r| r.status == 200) {
                    return server;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "the server did not answer /healthz within {START_TIMEOUT:?}:\n{}",
                        server.output()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !last.contains("cannot listen") {
                break;
            }
        }
        panic!("the server did not start: {last}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn output(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout(), self.stderr())
    }

    /// `kill -9`: the process ends at once, whatever it was doing.
    pub fn kill9(&mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        self.child.kill().expect("SIGKILL");
        self.exited = Some(self.child.wait().expect("wait after SIGKILL"));
    }

    /// Sends SIGTERM and waits (bounded) for the process to end.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let s =
            Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill -TERM");
        assert!(s.success(), "kill -TERM failed");
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => {
                self.exited = Some(status);
                status
            }
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not stop within {timeout:?} of SIGTERM:\n{}", self.output());
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// An answer: status, headers (names lowercased) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
pub fn form(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<&str>,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, SOCKET_TIMEOUT)?;
    s.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    s.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(b) = body {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or(""));
    s.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    // An error after the headers arrived (a reset as the server dies) still leaves an answer.
    let read = s.read_to_end(&mut raw);
    let parsed = parse_reply(&raw);
    match (parsed, read) {
        (Some(r), _) => Ok(r),
        (None, Err(e)) => Err(e),
        (None, Ok(_)) => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete answer ({} bytes)", raw.len()),
        )),
    }
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(len) = headers.iter().find(|(k, _)| k == "content-length") {
        let len: usize = len.1.parse().ok()?;
        if body.len() < len {
            return None;
        }
        body.truncate(len);
    }
    Some(Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    request(addr, "GET", path, "", None)
}

/// A browser of sorts: keeps cookies and repeats the CSRF token in forms.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

/// The value of the hidden `csrf` field of a form.
fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, cookies: BTreeMap::new(), csrf: String::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, r: &Reply) {
        for c in r.headers_named("set-cookie") {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let removed = v.is_empty() || c.to_ascii_lowercase().contains("max-age=0");
                if removed {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn get(&mut self, path: &str) -> std::io::Result<Reply> {
        let r = request(self.addr, "GET", path, &self.cookie_header(), None)?;
        self.keep_cookies(&r);
        Ok(r)
    }

    /// POSTs a form, adding the CSRF token.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> std::io::Result<Reply> {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let body = form(&all);
        let r = request(self.addr, "POST", path, &self.cookie_header(), Some(&body))?;
        self.keep_cookies(&r);
        Ok(r)
    }

    /// GET /login (CSRF cookie and field), POST /login: a signed-in client.
    pub fn login(addr: SocketAddr, login: &str, password: &str) -> Client {
        let mut c = Client::new(addr);
        let page = c.get("/login").expect("GET /login");
        assert_eq!(page.status, 200, "GET /login: {page:?}");
        let cookie = c.cookie("tsunagu_csrf").expect("GET /login sets the tsunagu_csrf cookie").to_string();
        c.csrf = hidden_csrf(&page.body).expect("the login form has a hidden csrf field");
        assert_eq!(c.csrf, cookie, "the form's csrf field repeats the cookie");
        let r = c.post("/login", &[("login", login), ("password", password)]).expect("POST /login");
        assert_eq!(r.status, 303, "POST /login as {login}: {} {}", r.status, r.body);
        assert!(c.cookie("tsunagu_session").is_some(), "no session cookie after login: {r:?}");
        c
    }

    /// Creates a clinic named `name`; the status of the answer.
    pub fn create_clinic(&mut self, name: &str) -> std::io::Result<u16> {
        self.post("/admin/organisations/new", &[("kind", "clinic"), ("name", name)]).map(|r| r.status)
    }
}

// ---------------------------------------------------------------------------------------------
// Write load

/// Workers creating organisations as fast as the server answers; records every acknowledged one.
pub struct Hammer {
    stop: Arc<AtomicBool>,
    /// Set just before the server is interrupted: errors after it are expected.
    interrupted: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    workers: Vec<JoinHandle<WorkerStats>>,
}

#[derive(Debug, Default, Clone)]
pub struct WorkerStats {
    pub sent: u64,
    pub errors: u64,
    /// Connection errors before the server was interrupted.
    pub early_errors: u64,
    /// Answers other than 303 (status and name).
    pub unexpected: Vec<(u16, String)>,
}

/// What the hammer did, once stopped.
#[derive(Debug, Default)]
pub struct HammerReport {
    pub acked: Vec<String>,
    pub sent: u64,
    pub errors: u64,
    pub early_errors: u64,
    pub unexpected: Vec<(u16, String)>,
}

impl Hammer {
    /// `workers` threads, each with the client's session, creating `<prefix>-<worker>-<n>`
    /// until stopped or `max` has passed.
    pub fn start(client: &Client, workers: usize, prefix: &str, max: Duration) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let interrupted = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let workers = (0..workers)
            .map(|w| {
                let mut client = client.clone();
                let stop = stop.clone();
                let interrupted = interrupted.clone();
                let acked = acked.clone();
                let prefix = prefix.to_string();
                std::thread::spawn(move || {
                    let mut stats = WorkerStats::default();
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) && started.elapsed() < max {
                        n += 1;
                        let name = format!("{prefix}-{w}-{n}");
                        stats.sent += 1;
                        match client.create_clinic(&name) {
                            Ok(303) => acked.lock().unwrap().push(name),
                            Ok(status) => stats.unexpected.push((status, name)),
                            Err(e) => {
                                stats.errors += 1;
                                if !interrupted.load(Ordering::SeqCst) {
                                    stats.early_errors += 1;
                                    eprintln!("{name}: {e} (before the server was interrupted)");
                                }
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                    }
                    stats
                })
            })
            .collect();
        Hammer { stop, interrupted, acked, workers }
    }

    /// Says the server is about to be killed or stopped: connection errors are expected now.
    pub fn interrupting(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    /// How many writes were acknowledged so far.
    pub fn acked_so_far(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    pub fn stop(mut self) -> HammerReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = HammerReport::default();
        for w in std::mem::take(&mut self.workers) {
            let s = w.join().expect("a hammer worker panicked");
            report.sent += s.sent;
            report.errors += s.errors;
            report.early_errors += s.early_errors;
            report.unexpected.extend(s.unexpected);
        }
        report.acked = self.acked.lock().unwrap().clone();
        report
    }
}

impl Drop for Hammer {
    /// A failing test stops its workers too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The attacker

/// Runs statements straight on the database, as someone with access to its files would.
pub async fn raw_sql(db: &TestDb, statements: &[&str]) -> Result<(), String> {
    use sqlx::{Connection, Executor};
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.map_err(|e| e.to_string())?;
            for s in statements {
                c.execute(*s).await.map_err(|e| format!("{s}: {e}"))?;
            }
            c.close().await.map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.map_err(|e| e.to_string())?;
            for s in statements {
                c.execute(*s).await.map_err(|e| format!("{s}: {e}"))?;
            }
            c.close().await.map_err(|e| e.to_string())
        }
    }
}

/// The statements that remove the append-only triggers of `audit_events`.
pub fn drop_audit_triggers(backend: Backend) -> Vec<&'static str> {
    match backend {
        Backend::Sqlite => vec!["drop trigger audit_events_no_update", "drop trigger audit_events_no_delete"],
        Backend::Postgres => vec!["drop trigger audit_events_no_update on audit_events"],
    }
}
