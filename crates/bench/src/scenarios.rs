//! The load: simulated clients, each with one keep-alive connection, each sending one request
//! after the other (closed loop) for the warm-up and then the measured time; what each request
//! is (the scenario's mix); latencies into HDR histograms, errors by status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName};

use crate::client::{self, Conn};

/// One kind of request.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum Op {
    /// `/bench/hello`: the stack with no work behind it (baseline).
    Hello,
    /// `/bench/rows/{id}`: 20 timeline rows, no checks, no audit, no template (baseline).
    BareRows,
    /// B0: `GET /fhir/Patient/{id}` with a member's token.
    RecordRead,
    /// B1 (page half): `GET /patients/{id}` with a session cookie.
    TimelinePage,
    /// B1 (API half): `GET /fhir/Communication?patient={id}&_count=20&_sort=-sent`.
    TimelineApi,
    /// B2: `POST /fhir/Observation` (a pulse) with a member's token.
    Write,
    /// B3: `GET /fhir/HealthcareService?name=…&service-category=…&characteristic=…&near=…`.
    Search,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Hello => "hello",
            Op::BareRows => "bare read",
            Op::RecordRead => "record read (FHIR Patient)",
            Op::TimelinePage => "timeline page",
            Op::TimelineApi => "timeline FHIR",
            Op::Write => "write (FHIR Observation)",
            Op::Search => "directory search (FHIR)",
        }
    }
}

/// A scenario: a name and a mix of requests by weight.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub mix: Vec<(Op, u32)>,
}

impl Scenario {
    fn pick(&self, r: u64) -> Op {
        let total: u32 = self.mix.iter().map(|(_, w)| w).sum();
        let mut x = (r % u64::from(total.max(1))) as u32;
        for (op, w) in &self.mix {
            if x < *w {
                return *op;
            }
            x -= w;
        }
        self.mix.first().map_or(Op::Hello, |(op, _)| *op)
    }
}

pub fn hello() -> Scenario {
    Scenario { name: "hello", mix: vec![(Op::Hello, 1)] }
}
pub fn bare_read() -> Scenario {
    Scenario { name: "bare read", mix: vec![(Op::BareRows, 1)] }
}
pub fn b0() -> Scenario {
    Scenario { name: "B0", mix: vec![(Op::RecordRead, 1)] }
}
pub fn b1() -> Scenario {
    Scenario { name: "B1", mix: vec![(Op::TimelinePage, 1), (Op::TimelineApi, 1)] }
}
pub fn b2() -> Scenario {
    Scenario { name: "B2", mix: vec![(Op::Write, 1)] }
}
pub fn b3() -> Scenario {
    Scenario { name: "B3", mix: vec![(Op::Search, 1)] }
}
pub fn b4() -> Scenario {
    Scenario {
        name: "B4",
        mix: vec![(Op::TimelinePage, 40), (Op::TimelineApi, 40), (Op::Write, 15), (Op::Search, 5)],
    }
}

/// A person the load acts as: their API token and the patients they may see.
#[derive(Clone, Debug)]
pub struct Person {
    pub login: String,
    /// `Bearer …`
    pub bearer: String,
    pub patients: Vec<String>,
}

/// A logged-in browser session of a person: the `Cookie` header (session + CSRF cookie).
#[derive(Clone, Debug)]
pub struct Session {
    pub person: usize,
    pub cookie: String,
}

/// What every simulated client needs.
#[derive(Debug)]
pub struct World {
    pub addr: SocketAddr,
    pub people: Vec<Person>,
    /// One per simulated client (client i uses session i mod len).
    pub sessions: Vec<Session>,
    /// The directory search's path and query.
    pub search_path: String,
}

/// Latencies and errors of one kind of request.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latency of successful (2xx/3xx) requests, µs.
    pub hist: Histogram<u64>,
    /// Failed requests by status (or `conn`, `timeout`).
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    // Constant bounds that `new_with_bounds` accepts: 1 µs to 60 s, 3 significant digits.
    #[allow(clippy::expect_used)]
    fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        Stats { hist, errors: BTreeMap::new() }
    }

    fn merge(&mut self, other: &Stats) {
        let _ = self.hist.add(&other.hist);
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    pub fn ok(&self) -> u64 {
        self.hist.len()
    }

    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latency at a quantile, in ms.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// What one run of a scenario at one connection count gave.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: Scenario,
    pub conns: usize,
    pub measured: Duration,
    pub total: Stats,
    pub per_op: BTreeMap<Op, Stats>,
    /// The Observations the server acknowledged (201 with a Location), warm-up included: the
    /// writer (index into `World::people`) and the Observation's id.
    pub acked: Vec<(usize, String)>,
    /// The server's peak resident memory while it ran, KiB.
    pub rss_peak_kib: Option<u64>,
    /// CPU time used during the measured time, in cores (1.0 = one core busy all the time):
    /// the server's, and this program's own (the load generator shares the machine).
    pub server_cpu: Option<f64>,
    pub bench_cpu: Option<f64>,
    /// The whole machine's busy CPU (all processes: the server, this program, PostgreSQL,
    /// anything else running), in cores.
    pub machine_cpu: Option<f64>,
    /// SQLite's writer over the measured time: (transactions acknowledged, commits taken).
    pub writer: Option<(u64, u64)>,
}

impl Outcome {
    /// Successful requests per second of the measured time.
    pub fn rate(&self) -> f64 {
        self.total.ok() as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    pub fn rate_of(&self, op: Op) -> f64 {
        self.per_op.get(&op).map_or(0.0, |s| s.ok() as f64 / self.measured.as_secs_f64().max(1e-9))
    }
}

/// xorshift64*: enough randomness to spread requests, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const FHIR_JSON: &str = "application/fhir+json";

/// The request of `op` for a patient.
fn request(
    op: Op,
    world: &World,
    person: &Person,
    cookie: &str,
    patient: &str,
    rng: &mut Rng,
) -> Result<hyper::Request<http_body_util::Full<Bytes>>> {
    let auth = (header::AUTHORIZATION, person.bearer.as_str());
    let accept = (header::ACCEPT, FHIR_JSON);
    match op {
        Op::Hello => client::get("/bench/hello", &[]),
        Op::BareRows => client::get(&format!("/bench/rows/{patient}"), &[]),
        Op::RecordRead => client::get(&format!("/fhir/Patient/{patient}"), &[auth, accept]),
        Op::TimelinePage => client::get(&format!("/patients/{patient}"), &[(header::COOKIE, cookie)]),
        Op::TimelineApi => client::get(
            &format!("/fhir/Communication?patient={patient}&_count=20&_sort=-sent"),
            &[auth, accept],
        ),
        Op::Search => client::get(&world.search_path, &[auth, accept]),
        Op::Write => {
            let body = observation(patient, 55 + rng.next() % 50);
            client::build(
                Method::POST,
                "/fhir/Observation",
                &[auth, accept, (header::CONTENT_TYPE, FHIR_JSON)],
                Bytes::from(body),
            )
        }
    }
}

/// A pulse measured a minute ago, as a FHIR vital-signs Observation.
pub fn observation(patient: &str, pulse: u64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let at = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    serde_json::json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": at,
        "valueQuantity": {"value": pulse, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    })
    .to_string()
}

/// The Observation id of a create's `Location` (`…/Observation/{id}/_history/1`).
pub fn observation_id(location: &str) -> Option<String> {
    let rest = location.split("/Observation/").nth(1)?;
    Some(rest.split('/').next()?.to_string())
}

struct ClientResult {
    per_op: BTreeMap<Op, Stats>,
    acked: Vec<(usize, String)>,
}

async fn simulated_client(
    i: usize,
    world: Arc<World>,
    scenario: Scenario,
    measure_from: Instant,
    end: Instant,
) -> ClientResult {
    let mut conn = Conn::new(world.addr);
    let mut rng = Rng::new(i as u64 + 1);
    let session = &world.sessions[i % world.sessions.len().max(1)];
    let person = &world.people[session.person];
    let mut per_op: BTreeMap<Op, Stats> = BTreeMap::new();
    let mut acked = Vec::new();
    let location = HeaderName::from_static("location");
    while Instant::now() < end {
        let op = scenario.pick(rng.next());
        let patient = &person.patients[(rng.next() % person.patients.len().max(1) as u64) as usize];
        let req = match request(op, &world, person, &session.cookie, patient, &mut rng) {
            Ok(r) => r,
            Err(_) => continue,
        };
        let t0 = Instant::now();
        let answer = conn.send(req).await;
        let dt = t0.elapsed();
        let measured = t0 >= measure_from && Instant::now() <= end;
        let stats = per_op.entry(op).or_insert_with(Stats::new);
        match answer {
            Ok(a) if (200..400).contains(&a.status) => {
                if op == Op::Write
                    && a.status == 201
                    && let Some(id) =
                        a.headers.get(&location).and_then(|v| v.to_str().ok()).and_then(observation_id)
                {
                    acked.push((session.person, id));
                }
                if measured {
                    let _ = stats.hist.record((dt.as_micros() as u64).max(1));
                }
            }
            Ok(a) => {
                if measured {
                    *stats.errors.entry(a.status.to_string()).or_default() += 1;
                }
            }
            Err(e) => {
                if measured {
                    let kind = if e.to_string().contains("timed out") { "timeout" } else { "conn" };
                    *stats.errors.entry(kind.to_string()).or_default() += 1;
                }
                // The server may be gone (the kill -9 check): do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    ClientResult { per_op, acked }
}

/// Runs `scenario` with `conns` simulated clients: `warmup`, then `duration` measured. While it
/// runs, samples the resident memory of process `pid` every 100 ms.
pub async fn run(
    world: &Arc<World>,
    scenario: &Scenario,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    pid: Option<u32>,
) -> Outcome {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let running = running.clone();
        tokio::spawn(async move {
            let mut peak: Option<u64> = None;
            while running.load(Ordering::Relaxed) {
                if let Some(kib) = pid.and_then(crate::server::rss_kib) {
                    peak = Some(peak.map_or(kib, |p| p.max(kib)));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    // CPU time of the server and of this program over exactly the measured window.
    let addr = world.addr;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = (pid.and_then(cpu_ticks), cpu_ticks_of("self"), machine_busy_ticks());
        let writer_before = writer_stats(addr).await;
        tokio::time::sleep_until(end.into()).await;
        let after = (pid.and_then(cpu_ticks), cpu_ticks_of("self"), machine_busy_ticks());
        let writer_after = writer_stats(addr).await;
        let writer = match (writer_before, writer_after) {
            (Some(b), Some(a)) => Some((a.0.saturating_sub(b.0), a.1.saturating_sub(b.1))),
            _ => None,
        };
        let cores = |a: Option<u64>, b: Option<u64>| {
            Some((b?.saturating_sub(a?)) as f64 / TICKS_PER_SEC / duration.as_secs_f64().max(1e-9))
        };
        (cores(before.0, after.0), cores(before.1, after.1), cores(before.2, after.2), writer)
    });
    let tasks: Vec<_> = (0..conns)
        .map(|i| tokio::spawn(simulated_client(i, world.clone(), scenario.clone(), measure_from, end)))
        .collect();
    let mut total = Stats::new();
    let mut per_op: BTreeMap<Op, Stats> = BTreeMap::new();
    let mut acked = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            for (op, s) in &r.per_op {
                per_op.entry(*op).or_insert_with(Stats::new).merge(s);
                total.merge(s);
            }
            acked.extend(r.acked);
        }
    }
    running.store(false, Ordering::Relaxed);
    let rss_peak_kib = sampler.await.ok().flatten();
    let (server_cpu, bench_cpu, machine_cpu, writer) = cpu.await.unwrap_or((None, None, None, None));
    Outcome {
        scenario: scenario.clone(),
        conns,
        measured: duration,
        total,
        per_op,
        acked,
        rss_peak_kib,
        server_cpu,
        bench_cpu,
        machine_cpu,
        writer,
    }
}

/// The SQLite writer's (acknowledged transactions, commits) so far, from `/bench/writer`
/// (`None` on PostgreSQL or when the server does not answer).
async fn writer_stats(addr: SocketAddr) -> Option<(u64, u64)> {
    let mut c = crate::client::Conn::new(addr);
    let a = c.send(crate::client::get("/bench/writer", &[]).ok()?).await.ok()?;
    let v: serde_json::Value = serde_json::from_str(&a.text()).ok()?;
    Some((v.get("members")?.as_u64()?, v.get("commits")?.as_u64()?))
}

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; 100 on Linux everywhere).
const TICKS_PER_SEC: f64 = 100.0;

fn cpu_ticks(pid: u32) -> Option<u64> {
    cpu_ticks_of(&pid.to_string())
}

/// Busy time of all CPUs (`/proc/stat`: everything but idle and iowait), in clock ticks.
fn machine_busy_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = f.iter().take(8).sum();
    Some(total.saturating_sub(*f.get(3)?).saturating_sub(*f.get(4)?))
}

/// User + system time of a process (`/proc/{pid}/stat` fields 14 and 15), in clock ticks.
fn cpu_ticks_of(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}
