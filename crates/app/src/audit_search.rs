//! Reading the audit log from outside (the FHIR `AuditEvent` resource): who may read which
//! events, and the search. Auditors (duty `auditor`) read every event — who did what, when, from
//! where, about which record — but never patient content (the log holds none). The attending
//! physician reads the events about their patient, by the rule of the access-log page
//! ([`App::open_access_log`]: another reader of the patient is refused with `Forbidden`, anyone
//! else gets the gate's `NotFound`). Nobody else reads the log. Every read of the log is itself
//! an `access_log.read` event, naming the patient when there is one.

use tsunagu_domain::audit::{Action, Outcome, StoredEvent};
use tsunagu_domain::person::Duty;
use tsunagu_store::audit::AuditQuery;

use crate::{Actor, App, AppError, Result};

/// A search of the audit log as asked. Every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSearch {
    /// The patient the events are about (an id as given). Required unless the caller is an
    /// auditor.
    pub patient: Option<String>,
    /// Who acted: a user id or a login.
    pub agent: Option<String>,
    /// Any of these action codes (`None`: any; `Some(empty)`: none can match).
    pub actions: Option<Vec<String>>,
    /// Recorded at or after (UTC micros).
    pub from: Option<i64>,
    /// Recorded before (UTC micros).
    pub to: Option<i64>,
    /// Only events up to this place in the chain; `None`: up to the head at the time of the
    /// search (returned as [`AuditPage::snapshot`], so the next page can ask for the same).
    pub max_seq: Option<i64>,
    /// Oldest first (default: newest first).
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// One page of a search.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// How many events match in all.
    pub total: i64,
    pub events: Vec<StoredEvent>,
    /// The place in the chain the search was pinned to.
    pub snapshot: i64,
}

/// A patient id in its stored form (lowercase, hyphenated), if it is one.
fn patient_id(id: &str) -> Option<String> {
    uuid::Uuid::try_parse(id.trim()).ok().map(|u| u.as_hyphenated().to_string())
}

impl App {
    /// Whether this actor reads the whole audit log.
    pub fn is_auditor(actor: &Actor) -> bool {
        actor.has_duty(Duty::Auditor)
    }

    /// Searches the audit log (see the module documentation for who may). Without a patient
    /// only auditors may search (`Forbidden`, audited). The search itself is recorded before
    /// it runs and is not part of its own result.
    pub async fn search_audit(&self, actor: &Actor, s: &AuditSearch) -> Result<AuditPage> {
        let now = self.now();
        let auditor = Self::is_auditor(actor);
        let patient = match &s.patient {
            Some(p) if !auditor => Some(self.open_access_log(actor, p).await?.patient.id),
            // An auditor asks about any id; one that is no patient simply matches nothing.
            Some(p) => Some(patient_id(p).unwrap_or_else(|| p.chars().take(64).collect())),
            None if auditor => None,
            None => {
                self.store
                    .append_audit(vec![
                        actor.event(now, Action::AccessRefused, Outcome::Refused).detail("audit log"),
                    ])
                    .await?;
                return Err(AppError::Forbidden);
            }
        };
        // The event names the patient only when it is one (the disclosure printout shows it).
        let known_patient = match patient.as_deref().and_then(patient_id) {
            Some(pid) => self.store.patient(&pid).await?.map(|p| p.id),
            None => None,
        };
        // `None`: no filter; `Some(None)`: an agent that is nobody (who acted in no event).
        let agent: Option<Option<String>> = match s.agent.as_deref().map(str::trim) {
            None => None,
            Some(a) => match uuid::Uuid::try_parse(a) {
                Ok(u) => Some(Some(u.as_hyphenated().to_string())),
                Err(_) => Some(self.store.user_by_login(&a.to_ascii_lowercase()).await?.map(|u| u.id)),
            },
        };
        let snapshot = match s.max_seq {
            Some(m) => m,
            None => self.store.audit_head().await?.seq,
        };
        let mut event = actor.event(now, Action::AccessLogRead, Outcome::Success).detail("search");
        if let Some(pid) = &known_patient {
            event = event.patient(pid);
        }
        self.store.append_audit(vec![event]).await?;
        let actor_id = match agent {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => return Ok(AuditPage { total: 0, events: Vec::new(), snapshot }),
        };
        let q = AuditQuery {
            patient_id: patient,
            actor_id,
            actions: s.actions.clone(),
            from: s.from,
            to: s.to,
            max_seq: Some(snapshot),
            ascending: s.ascending,
            limit: s.limit.max(0),
            offset: s.offset.max(0),
        };
        let (total, events) = self.store.search_audit_events(&q).await?;
        Ok(AuditPage { total, events, snapshot })
    }

    /// One event by its place in the chain (`id` as given). An auditor reads any; the attending
    /// physician reads the events about their patient; anyone else, a malformed id and an
    /// unknown one get `NotFound` (a read by id says nothing about a patient, so a team member
    /// who may not read the log is told `NotFound` too). Audited as `access_log.read`.
    pub async fn audit_event(&self, actor: &Actor, id: &str) -> Result<StoredEvent> {
        let now = self.now();
        let seq = (!id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| id.parse::<i64>().ok())
            .flatten();
        let found = match seq {
            Some(n) => self.store.audit_event(n).await?,
            None => None,
        };
        let refused = || {
            actor
                .event(now, Action::AccessRefused, Outcome::Refused)
                .target("audit_event", id.chars().take(40).collect::<String>())
                .detail("audit event")
        };
        let Some(found) = found else {
            if !Self::is_auditor(actor) {
                self.store.append_audit(vec![refused()]).await?;
            }
            return Err(AppError::NotFound);
        };
        if !Self::is_auditor(actor) {
            let Some(pid) = found.event.patient_id.clone() else {
                self.store.append_audit(vec![refused()]).await?;
                return Err(AppError::NotFound);
            };
            match self.open_access_log(actor, &pid).await {
                Ok(_) => {}
                Err(AppError::Forbidden) => return Err(AppError::NotFound),
                Err(e) => return Err(e),
            }
        }
        let mut event = actor
            .event(now, Action::AccessLogRead, Outcome::Success)
            .target("audit_event", found.seq)
            .detail("read");
        if let Some(pid) = &found.event.patient_id {
            event = event.patient(pid);
        }
        self.store.append_audit(vec![event]).await?;
        Ok(found)
    }
}
