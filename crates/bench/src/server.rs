//! The server under test: the real `tsunagu` binary as a child process (so it can be killed with
//! SIGKILL and restarted on the same database), its one-off commands (`demo`, `token create`),
//! and a private, durable PostgreSQL for `--database postgres`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use crate::client::{self, Conn};

/// How to run the binary: where it is and the settings every command gets.
#[derive(Clone, Debug)]
pub struct Binary {
    pub path: PathBuf,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// Where the server's output goes (`None`: discarded).
    pub log: Option<PathBuf>,
    /// Settings given to every command on top of the benchmark's own (`--server-env`).
    pub env: Vec<(String, String)>,
}

impl Binary {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        // The server reads every `TSUNAGU_*` variable as a setting and refuses unknown ones: it
        // gets only the benchmark's own (CI, for one, exports `TSUNAGU_BIN` for its tests).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TSUNAGU_") {
                c.env_remove(&name);
            }
        }
        c.env("TSUNAGU_DATABASE_URL", &self.database_url)
            .env("TSUNAGU_DATA_DIR", &self.data_dir)
            .env("TSUNAGU_DEMO_WHEN_EMPTY", "false")
            .env_remove("TSUNAGU_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Runs a one-off command (`demo`, `token create …`) and returns its standard output.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut c = self.command();
        c.args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = c.output().await.with_context(|| format!("running {}", self.path.display()))?;
        if !out.status.success() {
            bail!(
                "`tsunagu {}` failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `tsunagu serve` with the benchmark's baseline routes on, and waits until
    /// `/healthz` answers 200.
    pub async fn serve(&self, addr: SocketAddr) -> Result<Server> {
        let mut c = self.command();
        c.arg("serve")
            .env("TSUNAGU_LISTEN", addr.to_string())
            .env("TSUNAGU_BENCH_ROUTES", "true")
            .kill_on_drop(true);
        match &self.log {
            Some(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the server log {}", path.display()))?;
                c.stdout(f.try_clone()?).stderr(f);
            }
            None => {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let started = Instant::now();
        let mut child = c.spawn().with_context(|| format!("starting {}", self.path.display()))?;
        let pid = child.id().context("the server has no process id")?;
        let mut conn = Conn::new(addr);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the server exited before it was ready ({status}); see --server-log");
            }
            if let Ok(a) = conn.send(client::get("/healthz", &[])?).await
                && a.status == 200
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("the server was not ready after 120 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Server { child, pid, ready_after: started.elapsed() })
    }
}

/// A running server.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// From spawning the process to the first 200 of `/healthz`.
    pub ready_after: Duration,
}

impl Server {
    /// Resident memory now, in KiB (`VmRSS` of `/proc/{pid}/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// `kill -9`: no shutdown, no flushing.
    pub async fn kill9(&mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL, durable (fsync on, synchronous_commit on: what production runs), in a
// folder of its own, stopped and removed when this process ends however it ends.

/// Runs as `sh -c SUPERVISOR sh <bin> <data> <folder> <port> [as-user…]`: starts the server,
/// prints `ready` or `failed`, then waits for its stdin to close (this process ending, even by
/// `kill -9`) to stop the server and remove the folder. Same shape as the store's test harness,
/// but with PostgreSQL's default durability.
const SUPERVISOR: &str = r#"
trap '' HUP INT TERM
bin=$1; data=$2; dir=$3; port=$4; shift 4
if ! "$@" "$bin/pg_ctl" start -w -t 60 -s -D "$data" -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB" \
    >/dev/null 2>&1
then
    echo failed
    exit 1
fi
echo ready
exec >/dev/null 2>&1
read -r _ignored
"$@" "$bin/pg_ctl" stop -s -D "$data" -m fast
rm -rf "$dir"
"#;

/// A private PostgreSQL server; dropping it stops the server and removes its folder.
pub struct Postgres {
    /// `postgres://postgres@127.0.0.1:PORT/`; add a database name.
    pub base_url: String,
    pub version: String,
    lifeline: Option<ChildStdin>,
    supervisor: std::process::Child,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.supervisor.wait();
    }
}

fn find_postgres() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Starts a private PostgreSQL under `parent` and creates the databases `names`.
pub fn start_postgres(parent: &Path, names: &[&str]) -> Result<Postgres> {
    let bin = find_postgres()
        .context("no PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql)")?;
    let root = running_as_root();
    let as_user: Vec<&str> = if root { vec!["runuser", "-u", "postgres", "--"] } else { vec![] };
    let dir = parent.join("pg");
    std::fs::create_dir_all(&dir)?;
    if root {
        let ok = std::process::Command::new("chown").arg("-R").arg("postgres:").arg(parent).status()?;
        if !ok.success() {
            bail!("chown postgres: {} failed", parent.display());
        }
    }
    let data = dir.join("data");
    let mut initdb = match as_user.split_first() {
        Some((first, rest)) => {
            let mut c = std::process::Command::new(first);
            c.args(rest).arg(bin.join("initdb"));
            c
        }
        None => std::process::Command::new(bin.join("initdb")),
    };
    let out = initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .current_dir(&dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = free_addr()?.port();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(SUPERVISOR)
        .arg("sh")
        .arg(&bin)
        .arg(&data)
        .arg(&dir)
        .arg(port.to_string())
        .args(&as_user)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    if line.trim() != "ready" {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        let _ = child.wait();
        bail!("PostgreSQL did not start: {log}");
    }
    let lifeline = child.stdin.take();
    let version = std::process::Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let pg = Postgres {
        base_url: format!("postgres://postgres@127.0.0.1:{port}/"),
        version,
        lifeline,
        supervisor: child,
    };
    for name in names {
        let out = std::process::Command::new(bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", name])
            .output()?;
        if !out.status.success() {
            bail!("createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(pg)
}
