//! Printing: the machine, the baselines, the scenarios as a Markdown table with ratios to their
//! baselines, the footprint and the kill -9 check.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::baselines::Rate;
use crate::scenarios::{Op, Outcome, Stats};

/// The machine: date, `nproc`, CPU model.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let now = time::OffsetDateTime::now_utc();
    let date = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    format!("{date}, nproc {cores}, CPU {cpu}")
}

/// The baselines measured outside the server.
#[derive(Debug, Default)]
pub struct Baselines {
    pub fsync: Option<Rate>,
    pub sqlite_tx: Option<Rate>,
    pub postgres_tx: Option<Rate>,
}

pub fn print_disk_baselines(b: &Baselines) {
    println!("## Baselines (outside the server)");
    println!();
    if let Some(r) = b.fsync {
        println!(
            "- disk: {:.0} fsync/s (4 KiB write + fsync, {} in {:.1} s)",
            r.per_sec(),
            r.count,
            r.elapsed.as_secs_f64()
        );
    }
    if let Some(r) = b.sqlite_tx {
        println!(
            "- SQLite: {:.0} single-row durable transactions/s (WAL, synchronous=FULL, BEGIN IMMEDIATE; {} in {:.1} s)",
            r.per_sec(),
            r.count,
            r.elapsed.as_secs_f64()
        );
    }
    if let Some(r) = b.postgres_tx {
        println!(
            "- PostgreSQL: {:.0} single-row durable transactions/s (fsync on, synchronous_commit on; {} in {:.1} s)",
            r.per_sec(),
            r.count,
            r.elapsed.as_secs_f64()
        );
    }
    println!();
}

fn errors(s: &Stats) -> String {
    if s.errors.is_empty() {
        return "0".into();
    }
    s.errors.iter().map(|(k, v)| format!("{v}×{k}")).collect::<Vec<_>>().join(" ")
}

/// One row of the table.
#[allow(clippy::too_many_arguments)]
fn row(
    out: &mut String,
    name: &str,
    conns: usize,
    rate: f64,
    s: &Stats,
    baseline: &str,
    base: Option<f64>,
    cpu: &str,
) {
    let ratio = match base {
        Some(b) if b > 0.0 => format!("{:.2}", rate / b),
        _ => "—".into(),
    };
    let _ = writeln!(
        out,
        "| {name} | {conns} | {rate:.0} | {:.2} | {:.2} | {:.2} | {} | {baseline} | {ratio} | {cpu} |",
        s.ms(0.50),
        s.ms(0.95),
        s.ms(0.99),
        errors(s)
    );
}

/// Which baseline a scenario is judged against (DESIGN §6): the bare read for the reads and the
/// search, the durable transaction for the write, hello-world for the mix.
pub enum Base {
    Hello,
    BareRead,
    DurableTx,
    None,
}

pub fn base_of(name: &str) -> Base {
    match name {
        "B0" | "B1" | "B3" => Base::BareRead,
        "B2" => Base::DurableTx,
        "B4" => Base::Hello,
        _ => Base::None,
    }
}

/// The results table (Markdown). `hello` and `bare` are the stack baselines by connection count;
/// `durable_tx` the database's single-row durable transactions/s.
pub fn table(outcomes: &[Outcome], durable_tx: Option<(f64, &str)>) -> String {
    let mut by_conns: BTreeMap<(&str, usize), f64> = BTreeMap::new();
    for o in outcomes {
        by_conns.insert((o.scenario.name, o.conns), o.rate());
    }
    let mut out = String::new();
    out.push_str(
        "| scenario | conns | req/s | p50 ms | p95 ms | p99 ms | errors | baseline | ratio | CPU cores: server / bench / machine | SQLite tx per commit |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |\n");
    for o in outcomes {
        let name = o.scenario.name;
        let (label, base) = match base_of(name) {
            Base::BareRead => ("bare read", by_conns.get(&("bare read", o.conns)).copied()),
            Base::Hello => ("hello", by_conns.get(&("hello", o.conns)).copied()),
            Base::DurableTx => (durable_tx.map_or("durable tx", |d| d.1), durable_tx.map(|d| d.0)),
            Base::None => ("—", None),
        };
        let title = match name {
            "hello" => "hello-world (baseline)".to_string(),
            "bare read" => "bare read, 20 rows (baseline)".to_string(),
            "B0" => "B0 record read".to_string(),
            "B1" => "B1 timeline read".to_string(),
            "B2" => "B2 durable write".to_string(),
            "B3" => "B3 directory search".to_string(),
            "B4" => "B4 mixed".to_string(),
            other => other.to_string(),
        };
        let show = |v: Option<f64>| v.map_or("?".to_string(), |c| format!("{c:.2}"));
        // The group commit at work: transactions (and audit-only appends) acknowledged per
        // physical commit (one fsync each) over the measured time.
        let grouping = match o.writer {
            Some((members, commits)) if commits > 0 => {
                format!("{:.1} ({members} in {commits})", members as f64 / commits as f64)
            }
            _ => "—".to_string(),
        };
        let cpu =
            format!("{} / {} / {} | {grouping}", show(o.server_cpu), show(o.bench_cpu), show(o.machine_cpu));
        row(&mut out, &title, o.conns, o.rate(), &o.total, label, base, &cpu);
        // B1 and B4: each kind of request on a line of its own.
        if o.per_op.len() > 1 {
            for (op, s) in &o.per_op {
                let rate = o.rate_of(*op);
                let (label, base) = match op {
                    // In the mix, a part's rate says nothing against a baseline.
                    _ if name == "B4" => ("—", None),
                    Op::Write => (durable_tx.map_or("durable tx", |d| d.1), durable_tx.map(|d| d.0)),
                    _ => ("bare read", by_conns.get(&("bare read", o.conns)).copied()),
                };
                row(&mut out, &format!("  └ {}", op.label()), o.conns, rate, s, label, base, " |");
            }
        }
    }
    out
}
