//! Verifying the audit chain and exporting its head outside the database.

use std::io::Write;
use std::path::Path;

use tsunagu_domain::audit::{ChainHead, Finding, Verifier};

use crate::{App, AppError, Result};

/// What `audit verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    pub checked: u64,
    pub findings: Vec<Finding>,
    pub head: ChainHead,
}

/// One line of the exported head file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct HeadLine {
    seq: i64,
    hash: String,
    at: String,
}

/// Reads every head exported to `path` (a missing file is no heads).
pub fn read_exported_heads(path: &Path) -> Result<Vec<ChainHead>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AppError::Internal(format!("reading {}: {e}", path.display()))),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<HeadLine>(l)
                .map(|h| ChainHead { seq: h.seq, hash: h.hash })
                .map_err(|e| AppError::Internal(format!("{}: bad line: {e}", path.display())))
        })
        .collect()
}

impl App {
    /// Recomputes the whole chain and compares it with the heads exported earlier.
    pub async fn verify_audit(&self, exported: Vec<ChainHead>) -> Result<VerifyReport> {
        let mut v = Verifier::new(exported);
        let mut after = 0;
        loop {
            let rows = self.store.audit_events_after(after, 5000).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            rows.iter().for_each(|r| v.feed(r));
        }
        let head = self.store.audit_head().await?;
        let (checked, mut findings) = v.finish();
        // The head row must name the last event (a deleted tail shows here too).
        if head.seq != after {
            findings.push(Finding::HeadMismatch { seq: head.seq });
        }
        Ok(VerifyReport { checked, findings, head })
    }

    /// Appends the current head to the export file when it has moved since the last export.
    /// Returns the head written, if any.
    pub async fn export_audit_head(&self, path: &Path) -> Result<Option<ChainHead>> {
        let head = self.store.audit_head().await?;
        let known = read_exported_heads(path)?;
        if known.last().is_some_and(|h| h.seq == head.seq) || head.seq == 0 {
            return Ok(None);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| AppError::Internal(e.to_string()))?;
        }
        let line = serde_json::to_string(&HeadLine {
            seq: head.seq,
            hash: head.hash.clone(),
            at: self.now().rfc3339(),
        })
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
        writeln!(f, "{line}").map_err(|e| AppError::Internal(e.to_string()))?;
        f.sync_all().map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(head))
    }
}
