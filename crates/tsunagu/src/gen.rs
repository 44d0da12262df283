//! `tsunagu gen`: fills an empty database with a made-up region for measuring (see
//! `tsunagu_app::generate`). The app runs on a clock fixed at `--until`, so the same seed and
//! sizes give the same rows.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use tsunagu_app::generate::{GenSpec, PASSWORD, default_csv_dir, remove_csv_dir};
use tsunagu_app::{App, AppConfig};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::{OpenOptions, Store};

use crate::config::Settings;

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Providers (care-service offices), written as national open-data files and imported.
    #[arg(long, default_value_t = 2000)]
    providers: usize,
    /// Patients, each with an attending physician, a care team and a timeline.
    #[arg(long, default_value_t = 1000)]
    patients: usize,
    /// Timeline entries per patient, spread over two to five years.
    #[arg(long, default_value_t = 100)]
    entries_per_patient: usize,
    /// The seed: the same seed and sizes give the same rows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The end of the generated history (a date, midnight in Japan): every record is older.
    #[arg(long, default_value = "2026-01-01")]
    until: String,
}

/// Midnight in Japan at the start of `YYYY-MM-DD`, as a timestamp.
fn jst_midnight(date: &str) -> Result<Timestamp> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d =
        time::Date::parse(date.trim(), &fmt).with_context(|| format!("--until {date:?}: use YYYY-MM-DD"))?;
    let t = d.midnight().assume_offset(time::macros::offset!(+9));
    Ok(Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1000).context("--until out of range")?))
}

pub async fn run(settings: &Settings, args: GenArgs) -> Result<std::process::ExitCode> {
    if args.patients > 0 && args.providers == 0 {
        bail!("--patients needs --providers (people work at providers)");
    }
    let until = jst_midnight(&args.until)?;
    let url = settings.database_url();
    let store =
        Store::open(&url, &OpenOptions { max_connections: settings.max_connections }).await.with_context(
            || format!("cannot open the database (database_url {})", crate::ops::redact_url(&url)),
        )?;
    let cfg = AppConfig { public_url: settings.public_url(), ..AppConfig::default() };
    let app = App::new(store, Arc::new(FixedClock::at(until)), cfg);
    let csv_dir = default_csv_dir(args.seed);
    let spec = GenSpec {
        providers: args.providers,
        patients: args.patients,
        entries_per_patient: args.entries_per_patient,
        seed: args.seed,
        until,
        csv_dir: csv_dir.clone(),
    };
    eprintln!(
        "generating {} providers, {} patients x {} entries (seed {}, until {}) into {}",
        spec.providers,
        spec.patients,
        spec.entries_per_patient,
        spec.seed,
        args.until,
        crate::ops::redact_url(&url)
    );
    let t = Instant::now();
    let out = app.generate(&spec, &|line| eprintln!("{line}")).await;
    remove_csv_dir(&csv_dir);
    let report = out.map_err(crate::ops::app_err)?;
    let secs = t.elapsed().as_secs_f64();
    app.store.close().await;

    println!();
    println!("phase                                                   seconds        rows");
    for p in &report.phases {
        println!("{:<52} {:>10.1} {:>11}", p.name, p.secs, p.rows);
    }
    println!("{:<52} {:>10.1}", "total", secs);
    println!();
    println!(
        "{} providers, {} people, {} patients, {} entries, {} vital signs, {} reads, {} audit events",
        report.providers,
        report.people,
        report.patients,
        report.entries,
        report.vitals,
        report.reads,
        report.audit_events
    );
    if let Some(path) = sqlite_path(&url) {
        let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let bytes = size(&path) + size(&format!("{path}-wal"));
        println!("database file: {path}, {:.1} MB", bytes as f64 / 1e6);
    }
    println!();
    println!("Every generated account has the password: {PASSWORD}");
    for (login, what) in &report.sample_logins {
        println!("  {login}  ({what})");
    }
    println!("  logins are gen-<profession>-<number>, e.g. gen-physician-00002, gen-home-helper-00001");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The file of a `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//").split('?').next()?.to_string();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_midnight_in_japan() {
        // 2026-01-01T00:00+09:00 = 2025-12-31T15:00Z.
        assert_eq!(jst_midnight("2026-01-01").unwrap(), Timestamp(1_767_193_200_000_000));
        assert!(jst_midnight("2026-13-01").is_err());
    }
}
