//! `tsunagu-bench`: the load benchmark of issue 6 (DESIGN §6). One command prepares a database,
//! starts the real server binary, measures the baselines (disk fsync/s, single-row durable
//! transactions/s, hello-world and a bare 20-row read through the same server stack), runs the
//! scenarios B0–B4 at each connection count, prints a table with ratios to the baselines, the
//! server's footprint, and checks that no acknowledged write is lost to `kill -9`.
//!
//! ```sh
//! cargo build -j2 --release -p tsunagu -p tsunagu-bench
//! target/release/tsunagu-bench --database sqlite --duration 10s --warmup 3s --connections 1,16,64
//! ```

mod baselines;
mod client;
mod report;
mod scenarios;
mod search;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use hyper::Method;
use hyper::body::Bytes;
use hyper::header;

use crate::client::Conn;
use crate::scenarios::{Person, Session, World};
use crate::server::Binary;

/// The password the benchmark gives the demo accounts it loads.
const DEMO_PASSWORD: &str = "bench-demo-password-2026";

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Database {
    Sqlite,
    Postgres,
}

#[derive(Parser, Debug)]
#[command(name = "tsunagu-bench", about = "Load benchmark of the Tsunagu server (issue 6)")]
struct Args {
    /// The backend of a fresh database: a SQLite file, or a private PostgreSQL started for the
    /// run (durable: fsync on). Ignored with --database-url.
    #[arg(long, value_enum, default_value = "sqlite")]
    database: Database,
    /// An existing database (e.g. one filled by `tsunagu gen`) instead of a fresh demo region.
    /// The benchmark adds API tokens and audit events to it, and B2 adds Observations.
    #[arg(long)]
    database_url: Option<String>,
    /// Measured time of each scenario at each connection count (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before each measurement (not counted).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// Simulated clients, each with one keep-alive connection.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    connections: Vec<usize>,
    /// Which scenarios to run.
    #[arg(long, default_value = "B0,B1,B2,B3,B4", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// How long each outside baseline (fsync, durable transactions) runs.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    baseline_time: Duration,
    /// A seconds-long run for CI: tiny durations, two connections; figures not meant to be read.
    #[arg(long)]
    smoke: bool,
    /// The server binary (default: `tsunagu` next to this program, i.e. the same build profile).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The logins the load acts as (their tokens and sessions), comma-separated; each must be
    /// able to see patients. On the demo, `physician` attends all five patients.
    #[arg(long, default_value = "physician", value_delimiter = ',')]
    login: Vec<String>,
    /// The password of those logins (on a fresh demo region, the benchmark sets it).
    #[arg(long, env = "TSUNAGU_BENCH_PASSWORD", default_value = DEMO_PASSWORD)]
    password: String,
    /// At most this many patients per login to spread the load over.
    #[arg(long, default_value_t = 100)]
    max_patients: usize,
    /// B3: the Japanese text searched for in names.
    #[arg(long, default_value = "在宅")]
    search_text: String,
    /// B3: provider kinds (org-kind codes, comma-separated: any of them).
    #[arg(long, default_value = "clinic,home_care_support_clinic,visiting_nursing_station")]
    search_kind: String,
    /// B3: a home-care capability that must hold.
    #[arg(long, default_value = "house_calls")]
    search_capability: String,
    /// B3: the centre of the 5 km radius, `latitude|longitude`. Default: Kanazawa city hall
    /// (the demo's and the generator's centre of Kanazawa) if the search matches there, else the
    /// place of a provider that matches the rest of the query. B3 and B4 are refused when the
    /// search matches nothing.
    #[arg(long)]
    near: Option<String>,
    /// Skip the kill -9 check.
    #[arg(long)]
    no_kill_check: bool,
    /// Length of the write run the server is killed in the middle of.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    kill_run: Duration,
    /// A setting for the server, `TSUNAGU_NAME=value` (repeatable), e.g.
    /// `--server-env TSUNAGU_MAX_CONNECTIONS=4` to size its reader pool.
    #[arg(long, value_parser = parse_server_env)]
    server_env: Vec<(String, String)>,
    /// Append the server's output here (default: discarded).
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// Where the run's temporary folder goes (default: the system's temp folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the temporary folder (database, logs) after the run.
    #[arg(long)]
    keep: bool,
}

/// `TSUNAGU_NAME=value`: only the server's own settings.
fn parse_server_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if k.starts_with("TSUNAGU_") && k.len() > "TSUNAGU_".len() => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("bad server setting {s:?}: use TSUNAGU_NAME=value")),
    }
}

/// `10s`, `500ms`, `2m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?} (use e.g. 10s, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration {s:?}: unit must be ms, s or m")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.duration = Duration::from_millis(1000);
        args.warmup = Duration::from_millis(200);
        args.connections = vec![2];
        args.baseline_time = Duration::from_millis(300);
        args.kill_run = Duration::from_secs(3);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tsunagu-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("tsunagu-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn server_bin(args: &Args) -> Result<PathBuf> {
    let path = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.parent().context("no folder of this program")?.join("tsunagu"),
    };
    if !path.is_file() {
        bail!(
            "no server binary at {} — build it first (`cargo build -j2 --release -p tsunagu`) or pass --server-bin",
            path.display()
        );
    }
    Ok(path)
}

/// Progress goes to stderr; results to stdout.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("[bench] {}", format!($($t)*)) };
}

/// Returns whether the kill -9 check passed (or was skipped).
async fn run(args: Args) -> Result<bool> {
    let bin_path = server_bin(&args)?;
    let mut tmp = tempfile::Builder::new();
    tmp.prefix("tsunagu-bench-");
    let work = match &args.work_dir {
        Some(d) => tmp.tempdir_in(d)?,
        None => tmp.tempdir()?,
    };
    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    println!("# Tsunagu benchmark");
    println!();
    println!("- machine: {}", report::machine());
    println!("- server: {}", bin_path.display());
    if !args.server_env.is_empty() {
        let settings: Vec<String> = args.server_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("- server settings: {}", settings.join(" "));
    }

    // 1. The database.
    let mut pg = None;
    let (database_url, fresh) = match (&args.database_url, args.database) {
        (Some(u), _) => (u.clone(), false),
        (None, Database::Sqlite) => (format!("sqlite://{}/tsunagu.db", data_dir.display()), true),
        (None, Database::Postgres) => {
            say!("starting a private PostgreSQL");
            let p = server::start_postgres(work.path(), &["tsunagu", "scratch"])?;
            let url = format!("{}tsunagu", p.base_url);
            pg = Some(p);
            (url, true)
        }
    };
    let backend = if database_url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    println!(
        "- database: {backend}{}{}",
        pg.as_ref().map(|p| format!(" ({}, fsync on)", p.version)).unwrap_or_default(),
        if fresh { ", fresh demo region (5 patients)" } else { ", existing database" }
    );
    let binary = Binary {
        path: bin_path,
        database_url: database_url.clone(),
        data_dir: data_dir.clone(),
        log: args.server_log.clone(),
        env: args.server_env.clone(),
    };
    if fresh {
        say!("loading the demo region");
        binary.run(&["demo"], &[("TSUNAGU_DEMO_PASSWORD", &args.password)]).await?;
    }
    println!(
        "- load: {:?} connections, {:.1} s warm-up + {:.1} s measured per scenario and connection count",
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64()
    );
    println!();

    // 2. Baselines outside the server.
    say!("measuring the disk and the databases");
    let mut outside = report::Baselines {
        fsync: Some(baselines::fsync_rate(&data_dir, args.baseline_time)?),
        sqlite_tx: Some(baselines::sqlite_tx_rate(&data_dir, args.baseline_time).await?),
        postgres_tx: None,
    };
    if let Some(p) = &pg {
        outside.postgres_tx =
            Some(baselines::postgres_tx_rate(&format!("{}scratch", p.base_url), args.baseline_time).await?);
    }
    report::print_disk_baselines(&outside);
    let durable_tx = match (backend, outside.postgres_tx, outside.sqlite_tx) {
        ("PostgreSQL", Some(r), _) => Some((r.per_sec(), "PostgreSQL durable tx")),
        (_, _, Some(r)) => Some((r.per_sec(), "SQLite durable tx")),
        _ => None,
    };

    // 3. Tokens (made by the CLI, as an operator would), then the server.
    let mut tokens = Vec::new();
    for login in &args.login {
        let out = binary
            .run(&["token", "create", "--user", login, "--expires", "1d", "--label", "tsunagu-bench"], &[])
            .await
            .with_context(|| format!("making an API token for {login}"))?;
        let token =
            out.lines().map(str::trim).rfind(|l| !l.is_empty()).context("no token printed")?.to_string();
        tokens.push((login.clone(), token));
    }
    let addr = server::free_addr()?;
    say!("starting the server on {addr}");
    let mut srv = binary.serve(addr).await?;
    println!("## Footprint");
    println!();
    println!(
        "- ready after {} ms (spawn to the first 200 of /healthz); resident memory at start {} MB",
        srv.ready_after.as_millis(),
        srv.rss_kib().map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );

    // 4. Who the load acts as: each login's patients (FHIR search lists exactly those the
    //    person may read), and one browser session per simulated client.
    let mut conn = Conn::new(addr);
    let mut people = Vec::new();
    for (login, token) in tokens {
        let bearer = format!("Bearer {token}");
        let path = format!("/fhir/Patient?_count={}", args.max_patients.clamp(1, 100));
        let a = conn.send(client::get(&path, &[(header::AUTHORIZATION, &bearer)])?).await?;
        if a.status != 200 {
            bail!("patient search as {login}: {} {}", a.status, a.text());
        }
        let bundle: serde_json::Value = serde_json::from_slice(&a.body)?;
        let patients: Vec<String> = bundle["entry"]
            .as_array()
            .map(|es| es.iter().filter_map(|e| e["resource"]["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if patients.is_empty() {
            bail!("{login} may see no patient: pick logins on patients' teams (--login)");
        }
        people.push(Person { login, bearer, patients });
    }
    let max_conns = args.connections.iter().copied().max().unwrap_or(1).max(1);
    say!("logging in {max_conns} browser sessions");
    let mut sessions = Vec::new();
    for i in 0..max_conns {
        let person = i % people.len();
        let cookie = login(&mut conn, &people[person].login, &args.password).await?;
        sessions.push(Session { person, cookie });
    }
    // B3's query, centred where the region has matches.
    let spec = search::SearchSpec {
        text: args.search_text.clone(),
        kinds: args.search_kind.clone(),
        capability: args.search_capability.clone(),
        near: args.near.clone(),
        radius_km: 5.0,
    };
    let chosen = search::choose(&mut conn, &spec, &people[0].bearer).await?;
    let wants_search = args.scenarios.iter().any(|s| matches!(s.to_ascii_uppercase().as_str(), "B3" | "B4"));
    if chosen.matches == 0 && wants_search {
        bail!(
            "B3 (`{}`) matches no provider in this database, so its figures would mean nothing: \
             use a region with providers of those kinds and that capability (`tsunagu gen` makes \
             them), or other --search-text/--search-kind/--search-capability/--near",
            chosen.path
        );
    }
    let world = Arc::new(World { addr, people, sessions, search_path: chosen.path.clone() });
    let mut summary = preflight(&mut conn, &world).await?;
    summary.insert(
        0,
        format!(
            "B3 query `{}` matches {} providers (centre {}: {}){}",
            chosen.path,
            chosen.matches,
            chosen.centre,
            chosen.centre_from,
            if chosen.matches == 0 { " — B3 and B4 would be refused" } else { "" }
        ),
    );
    for line in &summary {
        println!("- {line}");
    }
    println!();

    // 5. The stack baselines, then the scenarios, at each connection count.
    let mut plan = vec![scenarios::hello(), scenarios::bare_read()];
    for name in &args.scenarios {
        plan.push(match name.to_ascii_uppercase().as_str() {
            "B0" => scenarios::b0(),
            "B1" => scenarios::b1(),
            "B2" => scenarios::b2(),
            "B3" => scenarios::b3(),
            "B4" => scenarios::b4(),
            other => bail!("unknown scenario {other} (B0–B4)"),
        });
    }
    let mut outcomes = Vec::new();
    for sc in &plan {
        for &c in &args.connections {
            let o = scenarios::run(&world, sc, c.max(1), args.warmup, args.duration, Some(srv.pid)).await;
            say!(
                "{} × {}: {:.0} req/s, p99 {:.2} ms, {} errors",
                sc.name,
                c,
                o.rate(),
                o.total.ms(0.99),
                o.total.failed()
            );
            outcomes.push(o);
        }
    }
    println!("## Results ({backend})");
    println!();
    print!("{}", report::table(&outcomes, durable_tx));
    println!();
    let b4_peak = outcomes.iter().filter(|o| o.scenario.name == "B4").filter_map(|o| o.rss_peak_kib).max();
    let any_peak = outcomes.iter().filter_map(|o| o.rss_peak_kib).max();
    println!(
        "- resident memory of the server: peak {} MB during B4, peak {} MB over the whole run",
        b4_peak.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        any_peak.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    let writes: usize = outcomes.iter().map(|o| o.acked.len()).sum();
    println!("- Observations written by the run (warm-ups included): {writes}");
    println!();

    // 6. kill -9 in the middle of a write run.
    let mut passed = true;
    if !args.no_kill_check {
        let conns = args.connections.iter().copied().max().unwrap_or(1).clamp(1, 16);
        say!(
            "kill -9 check: writing with {conns} connections, SIGKILL after {:.1} s",
            args.kill_run.as_secs_f64() / 2.0
        );
        let writer = {
            let world = world.clone();
            let run = args.kill_run;
            tokio::spawn(async move {
                scenarios::run(&world, &scenarios::b2(), conns, Duration::ZERO, run, None).await
            })
        };
        tokio::time::sleep(args.kill_run / 2).await;
        let killed_at = Instant::now();
        srv.kill9().await?;
        let o = writer.await?;
        say!("restarting the server on the same database");
        srv = binary.serve(addr).await?;
        let back_after = killed_at.elapsed();
        let acked = o.acked;
        let lost = read_back(&world, &acked).await?;
        println!("## kill -9 check");
        println!();
        println!(
            "- B2 with {conns} connections for {:.1} s, the server killed with SIGKILL after {:.1} s; restarted, ready after {} ms ({:.1} s after the kill)",
            args.kill_run.as_secs_f64(),
            args.kill_run.as_secs_f64() / 2.0,
            srv.ready_after.as_millis(),
            back_after.as_secs_f64()
        );
        println!("- acknowledged: {}, lost: {}", acked.len(), lost.len());
        for id in lost.iter().take(10) {
            println!("  - lost: Observation/{id}");
        }
        if acked.is_empty() {
            println!("- (no write was acknowledged before the kill: the check proves nothing)");
        }
        passed = lost.is_empty() && !acked.is_empty();
        println!();
    }
    let _ = srv.kill9().await;
    drop(pg);
    if args.keep {
        let kept = work.keep();
        say!("kept {}", kept.display());
    }
    Ok(passed)
}

/// Logs in through the login page as a browser does: the page sets the CSRF cookie and repeats
/// the token in its form; the form is posted back with it. Returns the `Cookie` header value.
async fn login(conn: &mut Conn, login: &str, password: &str) -> Result<String> {
    let page = conn.send(client::get("/login", &[])?).await?;
    let csrf_cookie = cookie_of(&page, "tsunagu_csrf").context("the login page set no CSRF cookie")?;
    let body = page.text();
    let field = body
        .split("name=\"csrf\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .context("the login page has no csrf field")?
        .to_string();
    let form = client::form(&[("login", login), ("password", password), ("csrf", &field)]);
    let cookie = format!("tsunagu_csrf={csrf_cookie}");
    let a = conn
        .send(client::build(
            Method::POST,
            "/login",
            &[(header::COOKIE, &cookie), (header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
            Bytes::from(form),
        )?)
        .await?;
    let Some(session) = cookie_of(&a, "tsunagu_session") else {
        bail!(
            "logging in as {login} failed ({} {}): wrong --password, or a second factor is required",
            a.status,
            a.header("location").unwrap_or("")
        );
    };
    Ok(format!("tsunagu_csrf={csrf_cookie}; tsunagu_session={session}"))
}

fn cookie_of(a: &client::Answer, name: &str) -> Option<String> {
    a.headers.get_all(header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (k, rest) = v.split_once('=')?;
        (k.trim() == name).then(|| rest.split(';').next().unwrap_or("").to_string())
    })
}

/// One request of each kind before the load: they must succeed (a broken setup would otherwise
/// show as a table of errors), and they give the timeline page's size and the timeline's length.
async fn preflight(conn: &mut Conn, world: &World) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let person = &world.people[0];
    let session = &world.sessions[0];
    let patient = &person.patients[0];
    let fhir =
        || [(header::AUTHORIZATION, person.bearer.as_str()), (header::ACCEPT, "application/fhir+json")];
    let checks = [
        ("hello", client::get("/bench/hello", &[])?),
        ("bare read", client::get(&format!("/bench/rows/{patient}"), &[])?),
        ("B0", client::get(&format!("/fhir/Patient/{patient}"), &fhir())?),
        ("B1 page", client::get(&format!("/patients/{patient}"), &[(header::COOKIE, &session.cookie)])?),
        (
            "B1 FHIR",
            // `_total=accurate`: the load's own requests do not count the matches.
            client::get(
                &format!("/fhir/Communication?patient={patient}&_count=20&_sort=-sent&_total=accurate"),
                &fhir(),
            )?,
        ),
    ];
    for (name, req) in checks {
        let a = conn.send(req).await?;
        if a.status != 200 {
            bail!(
                "{name} does not work before the load: {} {}",
                a.status,
                a.text().chars().take(400).collect::<String>()
            );
        }
        if name == "B1 FHIR" {
            let b: serde_json::Value = serde_json::from_slice(&a.body)?;
            out.push(format!(
                "B1: the first patient's timeline holds {} Communication entries",
                b["total"].as_i64().unwrap_or(-1)
            ));
        }
    }
    out.push(format!(
        "load spread over {} patients ({} logins, {} browser sessions)",
        world.people.iter().map(|p| p.patients.len()).sum::<usize>(),
        world.people.len(),
        world.sessions.len()
    ));
    // The timeline page over the wire, asking for gzip.
    let a = conn
        .send(client::get(
            &format!("/patients/{patient}"),
            &[(header::COOKIE, &session.cookie), (header::ACCEPT_ENCODING, "gzip")],
        )?)
        .await?;
    let wire = a.body.len();
    match a.header("content-encoding") {
        Some(enc) => out.push(format!("timeline page over the wire: {:.1} KB ({enc})", wire as f64 / 1024.0)),
        None => {
            let gz = gzip_len(&a.body)?;
            out.push(format!(
                "timeline page over the wire: {:.1} KB **uncompressed** — the server does not compress \
                 (asked with Accept-Encoding: gzip); gzip level 6 would make it {:.1} KB",
                wire as f64 / 1024.0,
                gz as f64 / 1024.0
            ));
        }
    }
    Ok(out)
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(bytes)?;
    Ok(e.finish()?.len())
}

/// Reads every acknowledged Observation back (as its writer, 16 at a time); returns the ids that
/// are missing.
async fn read_back(world: &Arc<World>, acked: &[(usize, String)]) -> Result<Vec<String>> {
    let queue = Arc::new(tokio::sync::Mutex::new(acked.to_vec()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let queue = queue.clone();
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(world.addr);
            let mut lost = Vec::new();
            loop {
                let Some((person, id)) = queue.lock().await.pop() else { break };
                let bearer = &world.people[person].bearer;
                let mut status = 0;
                for _ in 0..3 {
                    let req = client::get(
                        &format!("/fhir/Observation/{id}"),
                        &[(header::AUTHORIZATION, bearer), (header::ACCEPT, "application/fhir+json")],
                    )?;
                    match conn.send(req).await {
                        Ok(a) => {
                            status = a.status;
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                if status != 200 {
                    lost.push(id);
                }
            }
            anyhow::Ok(lost)
        }));
    }
    let mut lost = Vec::new();
    for t in tasks {
        lost.extend(t.await??);
    }
    Ok(lost)
}
