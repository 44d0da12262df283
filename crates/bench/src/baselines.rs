//! The machine's own limits, measured in the same run as the scenarios (DESIGN §6): the disk's
//! fsync/s and a database's single-row durable transactions/s. (The two baselines through the
//! server stack — hello-world and the bare read — are scenarios of their own, see
//! `scenarios.rs`.)

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::Connection;

/// A rate measured for a while.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub count: u64,
    pub elapsed: Duration,
}

impl Rate {
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Writes 4 KiB and fsyncs (`File::sync_all`), in a loop, in a scratch file in `dir` (the data
/// folder, so the disk is the database's disk).
pub fn fsync_rate(dir: &Path, for_: Duration) -> Result<Rate> {
    let path = dir.join("bench-fsync.tmp");
    let mut f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < for_ {
        f.write_all(&block)?;
        f.sync_all()?;
        count += 1;
    }
    let elapsed = start.elapsed();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(Rate { count, elapsed })
}

/// One-row transactions on a scratch SQLite file in `dir`, set up as the store sets up its own
/// (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`): each insert is committed on its own.
pub async fn sqlite_tx_rate(dir: &Path, for_: Duration) -> Result<Rate> {
    let path = dir.join("bench-scratch.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut c = sqlx::sqlite::SqliteConnection::connect(&url).await?;
    sqlx::query("pragma journal_mode = wal").execute(&mut c).await?;
    sqlx::query("pragma synchronous = full").execute(&mut c).await?;
    sqlx::query(
        "create table if not exists t (id integer primary key, at integer not null, body text not null)",
    )
    .execute(&mut c)
    .await?;
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < for_ {
        sqlx::query("begin immediate").execute(&mut c).await?;
        sqlx::query("insert into t (at, body) values ($1, $2)")
            .bind(count as i64)
            .bind("a row of about the size of a short timeline entry, nothing more")
            .execute(&mut c)
            .await?;
        sqlx::query("commit").execute(&mut c).await?;
        count += 1;
    }
    let elapsed = start.elapsed();
    c.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(Rate { count, elapsed })
}

/// One-row transactions on PostgreSQL (a scratch table in the database at `url`), committed one
/// by one with the server's durability settings.
pub async fn postgres_tx_rate(url: &str, for_: Duration) -> Result<Rate> {
    let mut c = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::query("create table if not exists bench_scratch (id bigserial primary key, at bigint not null, body text not null)")
        .execute(&mut c)
        .await?;
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < for_ {
        let mut tx = c.begin().await?;
        sqlx::query("insert into bench_scratch (at, body) values ($1, $2)")
            .bind(count as i64)
            .bind("a row of about the size of a short timeline entry, nothing more")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        count += 1;
    }
    let elapsed = start.elapsed();
    sqlx::query("drop table bench_scratch").execute(&mut c).await?;
    c.close().await?;
    Ok(Rate { count, elapsed })
}
