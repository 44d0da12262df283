//! The load benchmark's bare-read baseline (`tsunagu-bench`, issue 6), and nothing else.
//!
//! **Not a use case.** [`App::bench_bare_timeline`] reads a patient's newest timeline entries
//! straight from the store: no actor, no gate, no audit event. It exists only so the benchmark
//! can measure, in the same run, what an indexed read of 20 rows costs through the same server
//! stack, and judge the real timeline read (gate + audit + rendering) as a ratio to it. The only
//! caller is the web layer's `/bench/rows/{patient_id}` route, which is served only when the
//! configuration sets `bench_routes = true` (off by default; never on a server holding real
//! patients).

use tsunagu_store::WriteStats;
use tsunagu_store::patients::{EntryFilter, EntryRow};

use crate::{App, Result};

/// How many entries the bare read returns: the size of a timeline page.
pub const BARE_ROWS: i64 = 20;

impl App {
    /// The [`BARE_ROWS`] newest entries of a patient, unchecked and unaudited: the benchmark's
    /// baseline only (see the module's documentation).
    pub async fn bench_bare_timeline(&self, patient_id: &str) -> Result<Vec<EntryRow>> {
        let filter = EntryFilter { limit: BARE_ROWS, ..EntryFilter::default() };
        Ok(self.store.entries(patient_id, &filter).await?)
    }
}

impl App {
    /// How the SQLite writer grouped its commits so far (`None` on PostgreSQL): counts only,
    /// for the benchmark to show transactions per commit.
    pub fn bench_write_stats(&self) -> Option<WriteStats> {
        self.store.write_stats()
    }
}
