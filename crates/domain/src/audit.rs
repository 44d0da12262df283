//! The audit log's rules (DESIGN §3.5): what an event holds, how events are chained by hash,
//! and how a chain is verified. Storage appends; this module decides.

use sha2::{Digest, Sha256};

use crate::Timestamp;

/// The hash that precedes the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. Codes are stable: they are stored and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    LoginFailed,
    LoginThrottled,
    SecondFactorFailed,
    Logout,
    SessionExpired,
    AccessRefused,
    OrganisationCreated,
    OrganisationUpdated,
    PersonInvited,
    PersonUpdated,
    InvitationResent,
    InvitationAccepted,
    AccountDisabled,
    AccountEnabled,
    PasswordChanged,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
    SecondFactorsReset,
    ClientCertificateBound,
    TokenCreated,
    TokenRevoked,
    SettingChanged,
    DemoLoaded,
    BackupTaken,
    PatientRegistered,
    PatientRead,
    PatientUpdated,
    ConsentRecorded,
    ConsentWithdrawn,
    TeamRequested,
    TeamInvited,
    TeamApproved,
    TeamRefused,
    TeamRemoved,
    TimelineRead,
    EntryWritten,
    EntryCorrected,
    MessageAcknowledged,
    MessageEscalated,
    VitalsRead,
    EmergencyOpened,
    EmergencyRead,
    EmergencySearched,
    AccessLogRead,
    FileRead,
    ProviderUpdated,
    ProviderConfirmed,
    ConsultationHoursChanged,
    DirectoryImported,
    VacancyUpdated,
    InquirySent,
    InquiryAnswered,
    InquiryWithdrawn,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login.failed",
            Action::LoginThrottled => "login.throttled",
            Action::SecondFactorFailed => "login.second_factor_failed",
            Action::Logout => "logout",
            Action::SessionExpired => "session.expired",
            Action::AccessRefused => "access.refused",
            Action::OrganisationCreated => "organisation.created",
            Action::OrganisationUpdated => "organisation.updated",
            Action::PersonInvited => "person.invited",
            Action::PersonUpdated => "person.updated",
            Action::InvitationResent => "invitation.resent",
            Action::InvitationAccepted => "invitation.accepted",
            Action::AccountDisabled => "account.disabled",
            Action::AccountEnabled => "account.enabled",
            Action::PasswordChanged => "password.changed",
            Action::TotpEnabled => "totp.enabled",
            Action::TotpDisabled => "totp.disabled",
            Action::RecoveryCodeUsed => "recovery_code.used",
            Action::PasskeyAdded => "passkey.added",
            Action::PasskeyRemoved => "passkey.removed",
            Action::SecondFactorsReset => "second_factors.reset",
            Action::ClientCertificateBound => "client_certificate.bound",
            Action::TokenCreated => "token.created",
            Action::TokenRevoked => "token.revoked",
            Action::SettingChanged => "setting.changed",
            Action::DemoLoaded => "demo.loaded",
            Action::BackupTaken => "backup.taken",
            Action::PatientRegistered => "patient.registered",
            Action::PatientRead => "patient.read",
            Action::PatientUpdated => "patient.updated",
            Action::ConsentRecorded => "consent.recorded",
            Action::ConsentWithdrawn => "consent.withdrawn",
            Action::TeamRequested => "team.requested",
            Action::TeamInvited => "team.invited",
            Action::TeamApproved => "team.approved",
            Action::TeamRefused => "team.refused",
            Action::TeamRemoved => "team.removed",
            Action::TimelineRead => "timeline.read",
            Action::EntryWritten => "entry.written",
            Action::EntryCorrected => "entry.corrected",
            Action::MessageAcknowledged => "message.acknowledged",
            Action::MessageEscalated => "message.escalated",
            Action::VitalsRead => "vitals.read",
            Action::EmergencyOpened => "emergency.opened",
            Action::EmergencyRead => "emergency.read",
            Action::EmergencySearched => "emergency.searched",
            Action::AccessLogRead => "access_log.read",
            Action::FileRead => "file.read",
            Action::ProviderUpdated => "directory.updated",
            Action::ProviderConfirmed => "directory.confirmed",
            Action::ConsultationHoursChanged => "directory.hours_changed",
            Action::DirectoryImported => "directory.imported",
            Action::VacancyUpdated => "vacancy.updated",
            Action::InquirySent => "inquiry.sent",
            Action::InquiryAnswered => "inquiry.answered",
            Action::InquiryWithdrawn => "inquiry.withdrawn",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Refused,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

/// An event to append. The actor is who did it (absent for an anonymous failed login);
/// `target` names the record (kind and id), never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: Timestamp,
    pub actor_id: Option<String>,
    pub actor_login: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub patient_id: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    /// How the actor reached the server: `web` (a browser session), `api:{token id}` (a bearer
    /// token), `cli` (the command line); `None` for the server's own jobs and for events written
    /// before this was recorded.
    pub via: Option<String>,
}

impl NewEvent {
    pub fn new(at: Timestamp, action: Action, outcome: Outcome) -> Self {
        Self {
            at,
            actor_id: None,
            actor_login: None,
            action: action.code().to_string(),
            target_kind: None,
            target_id: None,
            patient_id: None,
            address: None,
            outcome: outcome.code().to_string(),
            detail: None,
            via: None,
        }
    }

    pub fn actor(mut self, id: impl ToString, login: impl ToString) -> Self {
        self.actor_id = Some(id.to_string());
        self.actor_login = Some(login.to_string());
        self
    }

    pub fn target(mut self, kind: &str, id: impl ToString) -> Self {
        self.target_kind = Some(kind.to_string());
        self.target_id = Some(id.to_string());
        self
    }

    pub fn address(mut self, address: Option<String>) -> Self {
        self.address = address;
        self
    }

    pub fn patient(mut self, patient_id: impl ToString) -> Self {
        self.patient_id = Some(patient_id.to_string());
        self
    }

    pub fn detail(mut self, detail: impl ToString) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    pub fn via(mut self, via: impl ToString) -> Self {
        self.via = Some(via.to_string());
        self
    }
}

/// An event as stored: its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an event at `seq` following `prev_hash`: SHA-256 over a length-prefixed encoding
/// of every field, so no two different events encode alike.
pub fn chain_hash(seq: i64, prev_hash: &str, e: &NewEvent) -> String {
    let mut h = Sha256::new();
    let mut field = |v: Option<&str>| match v {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    };
    field(Some("tsunagu-audit-v1"));
    field(Some(&seq.to_string()));
    field(Some(prev_hash));
    field(Some(&e.at.micros().to_string()));
    field(e.actor_id.as_deref());
    field(e.actor_login.as_deref());
    field(Some(&e.action));
    field(e.target_kind.as_deref());
    field(e.target_id.as_deref());
    field(e.patient_id.as_deref());
    field(e.address.as_deref());
    field(Some(&e.outcome));
    field(e.detail.as_deref());
    // Added later: hashed only when present, so events stored before it keep their hashes.
    if e.via.is_some() {
        field(e.via.as_deref());
    }
    hex::encode(h.finalize())
}

/// The chain's head: the last event's place and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self { seq: 0, hash: GENESIS_HASH.to_string() }
    }

    /// The stored form of the next event.
    pub fn append(&self, event: NewEvent) -> StoredEvent {
        let seq = self.seq + 1;
        let hash = chain_hash(seq, &self.hash, &event);
        StoredEvent { seq, event, prev_hash: self.hash.clone(), hash }
    }

    /// Appends the next event and moves the head to it: a chain of several events is
    /// `events.map(|e| head.advance(e))`.
    pub fn advance(&mut self, event: NewEvent) -> StoredEvent {
        let s = self.append(event);
        self.seq = s.seq;
        self.hash.clone_from(&s.hash);
        s
    }
}

/// Something wrong found while verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The row's content no longer matches its hash: it was changed.
    Altered { seq: i64 },
    /// The row does not follow the one before it: a row was removed, inserted or moved here.
    Broken { seq: i64, expected_seq: i64 },
    /// The row's stored hash is not the one the next row was chained to.
    PrevMismatch { seq: i64 },
    /// An exported head names a place the database does not reach or hashes differently.
    HeadMismatch { seq: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Altered { seq } => write!(f, "event {seq}: content changed (hash mismatch)"),
            Finding::Broken { seq, expected_seq } => write!(
                f,
                "event {seq}: expected event {expected_seq} here (rows removed, inserted or reordered)"
            ),
            Finding::PrevMismatch { seq } => {
                write!(f, "event {seq}: not chained to the event before it (removed, inserted or reordered)")
            }
            Finding::HeadMismatch { seq } => write!(
                f,
                "exported head at event {seq} does not match the database (events removed or rewritten)"
            ),
        }
    }
}

/// Verifies events in stored order. Feed rows one by one; read `findings` at the end.
#[derive(Debug)]
pub struct Verifier {
    expected: ChainHead,
    pub findings: Vec<Finding>,
    pub checked: u64,
    heads: std::collections::BTreeMap<i64, String>,
}

impl Verifier {
    /// `exported_heads` are heads written outside the database earlier: each must be met.
    pub fn new(exported_heads: impl IntoIterator<Item = ChainHead>) -> Self {
        Self {
            expected: ChainHead::genesis(),
            findings: Vec::new(),
            checked: 0,
            heads: exported_heads.into_iter().map(|h| (h.seq, h.hash)).collect(),
        }
    }

    pub fn feed(&mut self, row: &StoredEvent) {
        self.checked += 1;
        let expected_seq = self.expected.seq + 1;
        if row.seq != expected_seq {
            self.findings.push(Finding::Broken { seq: row.seq, expected_seq });
        } else if row.prev_hash != self.expected.hash {
            self.findings.push(Finding::PrevMismatch { seq: row.seq });
        }
        if chain_hash(row.seq, &row.prev_hash, &row.event) != row.hash {
            self.findings.push(Finding::Altered { seq: row.seq });
        }
        if let Some(h) = self.heads.remove(&row.seq)
            && h != row.hash
        {
            self.findings.push(Finding::HeadMismatch { seq: row.seq });
        }
        // Continue from what is stored, so one bad row is reported once, not at every row after.
        self.expected = ChainHead { seq: row.seq, hash: row.hash.clone() };
    }

    /// The findings, including exported heads the database never reached (a truncated log).
    pub fn finish(mut self) -> (u64, Vec<Finding>) {
        for seq in std::mem::take(&mut self.heads).into_keys() {
            self.findings.push(Finding::HeadMismatch { seq });
        }
        (self.checked, self.findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut head = ChainHead::genesis();
        let mut out = Vec::new();
        for i in 0..n {
            let e = NewEvent::new(Timestamp(i), Action::Login, Outcome::Success).actor("u1", "nurse");
            out.push(head.advance(e));
        }
        out
    }

    fn verify(rows: &[StoredEvent], heads: Vec<ChainHead>) -> Vec<Finding> {
        let mut v = Verifier::new(heads);
        rows.iter().for_each(|r| v.feed(r));
        v.finish().1
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert!(verify(&chain(5), vec![]).is_empty());
    }

    #[test]
    fn an_edited_row_is_found() {
        let mut rows = chain(5);
        rows[2].event.actor_login = Some("admin".into());
        assert_eq!(verify(&rows, vec![]), vec![Finding::Altered { seq: 3 }]);
    }

    #[test]
    fn a_deleted_row_is_found() {
        let mut rows = chain(5);
        rows.remove(2);
        assert!(verify(&rows, vec![]).contains(&Finding::Broken { seq: 4, expected_seq: 3 }));
    }

    #[test]
    fn swapped_rows_are_found() {
        let mut rows = chain(5);
        rows.swap(1, 2);
        assert!(!verify(&rows, vec![]).is_empty());
    }

    #[test]
    fn a_rehashed_forgery_is_found_by_the_exported_head() {
        // Someone rewrites row 3 and recomputes every hash after it: the chain is consistent,
        // but no longer matches the head exported before.
        let rows = chain(5);
        let exported = ChainHead { seq: 5, hash: rows[4].hash.clone() };
        let mut forged = rows[..2].to_vec();
        let mut head = ChainHead { seq: 2, hash: rows[1].hash.clone() };
        for r in &rows[2..] {
            let mut e = r.event.clone();
            e.actor_login = Some("someone-else".into());
            forged.push(head.advance(e));
        }
        assert_eq!(verify(&forged, vec![exported]), vec![Finding::HeadMismatch { seq: 5 }]);
    }

    #[test]
    fn a_truncated_log_is_found_by_the_exported_head() {
        let rows = chain(5);
        let exported = ChainHead { seq: 5, hash: rows[4].hash.clone() };
        assert_eq!(verify(&rows[..3], vec![exported]), vec![Finding::HeadMismatch { seq: 5 }]);
    }

    #[test]
    fn distinct_fields_never_hash_alike() {
        let a = NewEvent::new(Timestamp(1), Action::Login, Outcome::Success).detail("ab");
        let mut b = a.clone();
        b.detail = Some("a".into());
        b.address = Some("b".into());
        assert_ne!(chain_hash(1, GENESIS_HASH, &a), chain_hash(1, GENESIS_HASH, &b));
    }
}
