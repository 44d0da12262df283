//! Live updates and escalation (issue 3 §4–§5).
//!
//! **The hub.** Every process has one [`Live`]: a broadcast channel of [`PatientEvent`]s (a
//! patient and one of their entries, new or changed). A use case that writes an entry announces
//! it *after* its transaction commits, so nobody is told of an entry that is not there:
//! - on SQLite (one process) the app publishes to its own hub right after the commit;
//! - on PostgreSQL (possibly several processes behind a load balancer) the announcement is a
//!   `pg_notify` inside the entry's own transaction, which PostgreSQL delivers only on commit,
//!   and each process with someone watching runs one listener that forwards announcements into
//!   its hub. The writing process hears its own announcement through that listener too, and
//!   only through it: every event is delivered exactly once per process.
//!
//! **Subscriptions go through the gate.** [`App::subscribe`] opens the patient like any read
//! (members only, `NotFound` for everyone else, audited). Each event is then re-checked before
//! anything is sent: the gate runs again (a withdrawn consent, a removal or an ended membership
//! ends the stream on the next event), the session must still be valid, and the entry is loaded
//! through [`App::entry_view`], which audits the read like a timeline page does. A periodic
//! re-check ends a quiet stream once access is gone.
//!
//! **Escalation.** [`App::escalate_unacknowledged`] (run every minute by the server) raises an
//! urgent message nobody acknowledged within `AppConfig::escalation_minutes` to the
//! sub-attending physician, or the attending physician when there is none.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, broadcast, watch};
use tsunagu_domain::Timestamp;
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::sharing::EntryKind;
use tsunagu_store::live::ListenError;
use tsunagu_store::patients::EntryRow;
use tsunagu_store::{Backend, Tx};

use crate::sharing::EntryView;
use crate::{Actor, App, AppError, AuthVia, Result};

/// How many events a slow subscriber may fall behind before it is told to reload.
const CAPACITY: usize = 1024;
/// A quiet stream re-checks access this often (and ends once it is gone).
pub const RECHECK: Duration = Duration::from_secs(60);

/// Something happened on a patient's timeline: `entry_id` is new, or changed (acknowledged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientEvent {
    pub patient_id: String,
    pub entry_id: String,
}

impl PatientEvent {
    /// The announcement's text on PostgreSQL: two UUIDs, far below NOTIFY's 8000-byte limit.
    fn payload(&self) -> String {
        format!("{} {}", self.patient_id, self.entry_id)
    }

    fn parse(payload: &str) -> Option<Self> {
        let (p, e) = payload.split_once(' ')?;
        let ok = |s: &str| uuid::Uuid::try_parse(s).is_ok();
        (ok(p) && ok(e)).then(|| PatientEvent { patient_id: p.to_string(), entry_id: e.to_string() })
    }
}

/// The in-process hub. Cheap to clone; clones share one channel.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    events: broadcast::Sender<PatientEvent>,
    /// Turns true when the server stops: every stream ends.
    closed: watch::Sender<bool>,
    /// Whether this process's PostgreSQL listener runs.
    listening: Mutex<bool>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(CAPACITY);
        let (closed, _) = watch::channel(false);
        Live { inner: Arc::new(Inner { events, closed, listening: Mutex::new(false) }) }
    }

    /// Delivers an event to this process's subscribers.
    pub fn publish(&self, ev: PatientEvent) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(ev);
    }

    /// Ends every stream (at shutdown, so open pages do not hold the server up).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// How many streams are open in this process.
    pub fn subscribers(&self) -> usize {
        self.inner.events.receiver_count()
    }

    /// Starts this process's PostgreSQL listener unless it runs. Returns once `LISTEN` is in
    /// effect, so a subscriber who got in before an entry's commit hears of it.
    async fn ensure_listening(&self, store: &tsunagu_store::Store) -> Result<()> {
        let mut listening = self.inner.listening.lock().await;
        if *listening {
            return Ok(());
        }
        let Some(listener) = store.live_listener().await? else { return Ok(()) };
        *listening = true;
        tokio::spawn(forward(listener, Arc::downgrade(&self.inner)));
        Ok(())
    }
}

/// The listener task: forwards announcements into the hub until the hub is gone, the server
/// stops or the store is closed.
async fn forward(mut listener: tsunagu_store::live::LiveListener, hub: Weak<Inner>) {
    loop {
        let got = listener.recv().await;
        let Some(inner) = hub.upgrade() else { return };
        if *inner.closed.borrow() {
            *inner.listening.lock().await = false;
            return;
        }
        match got {
            Ok(payload) => match PatientEvent::parse(&payload) {
                Some(ev) => {
                    let _ = inner.events.send(ev);
                }
                None => tracing::warn!("ignoring a malformed live announcement"),
            },
            Err(ListenError::Closed) => {
                *inner.listening.lock().await = false;
                return;
            }
            Err(ListenError::Database(e)) => {
                // The listener reconnects on the next call; do not spin meanwhile.
                tracing::error!(error = %e, "live listener");
                drop(inner);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum LiveUpdate {
    /// A new (or changed) entry, as the subscriber may see it.
    Entry(Box<EntryView>),
    /// The subscriber fell behind and missed events: the page should be reloaded.
    Resync,
}

/// One person watching one patient's timeline. Every event is re-checked against the gate.
pub struct Subscription {
    app: App,
    actor: Actor,
    patient_id: String,
    events: broadcast::Receiver<PatientEvent>,
    closed: watch::Receiver<bool>,
    recheck: Duration,
    /// When the quiet-stream check is next due (other patients' events do not postpone it).
    next_check: tokio::time::Instant,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("patient_id", &self.patient_id).finish_non_exhaustive()
    }
}

impl Subscription {
    /// The patient watched (its canonical id).
    pub fn patient_id(&self) -> &str {
        &self.patient_id
    }

    /// Re-checks access this often while nothing happens (tests shorten it).
    pub fn recheck_every(mut self, every: Duration) -> Self {
        self.recheck = every;
        self.next_check = tokio::time::Instant::now() + every;
        self
    }

    /// The next update; `None` when the stream is over: access is gone (consent withdrawn,
    /// membership ended, session over), or the server is stopping.
    pub async fn next(&mut self) -> Option<LiveUpdate> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            let ev = tokio::select! {
                r = self.events.recv() => r,
                _ = self.closed.changed() => return None,
                () = tokio::time::sleep_until(self.next_check) => {
                    if !self.still_allowed().await {
                        return None;
                    }
                    self.next_check = tokio::time::Instant::now() + self.recheck;
                    continue;
                }
            };
            match ev {
                Ok(ev) if ev.patient_id == self.patient_id => {
                    if !self.session_alive().await {
                        return None;
                    }
                    // Through the gate again: no access, no entry, and the stream ends.
                    match self.app.entry_view(&self.actor, &self.patient_id, &ev.entry_id).await {
                        Ok(v) => return Some(LiveUpdate::Entry(Box::new(v))),
                        Err(AppError::NotFound) => return None,
                        Err(e) => {
                            tracing::error!(error = %e, "live update");
                            return None;
                        }
                    }
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(LiveUpdate::Resync),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Whether the session behind the stream is still one the site accepts.
    async fn session_alive(&self) -> bool {
        match self.app.session_still_valid(&self.actor).await {
            Ok(alive) => alive,
            Err(e) => {
                tracing::error!(error = %e, "live session check");
                false
            }
        }
    }

    /// The session, and the gate again (it audits a refusal).
    async fn still_allowed(&self) -> bool {
        if !self.session_alive().await {
            return false;
        }
        match self.app.patient_access(&self.actor, &self.patient_id).await {
            Ok(o) => o.access.can_read(),
            Err(AppError::NotFound) => false,
            Err(e) => {
                tracing::error!(error = %e, "live access check");
                false
            }
        }
    }
}

impl App {
    /// Starts watching a patient's timeline (team members only; anyone else gets `NotFound`,
    /// as for a patient who does not exist). Audited as a read.
    pub async fn subscribe(&self, actor: &Actor, patient_id: &str) -> Result<Subscription> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "live", AppError::NotFound).await);
        }
        // Listen before subscribing, and subscribe before answering: an entry committed after
        // this returns reaches the stream.
        self.live.ensure_listening(&self.store).await?;
        let events = self.live.inner.events.subscribe();
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::TimelineRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .detail("live"),
            ])
            .await?;
        Ok(Subscription {
            app: self.clone(),
            actor: actor.clone(),
            patient_id: o.patient.id,
            events,
            closed: self.live.inner.closed.subscribe(),
            recheck: RECHECK,
            next_check: tokio::time::Instant::now() + RECHECK,
        })
    }

    /// Whether the actor's session is still one the site would accept, without counting this
    /// as activity (a page left open must not keep a session alive).
    async fn session_still_valid(&self, actor: &Actor) -> Result<bool> {
        let AuthVia::Session { token_hash } = &actor.via else { return Ok(true) };
        let now = self.now();
        let Some(s) = self.store.session(token_hash).await? else { return Ok(false) };
        let idle = Timestamp(s.last_seen_at).seconds_until(now) > self.config.session_idle_secs;
        let old = Timestamp(s.created_at).seconds_until(now) > self.config.session_absolute_secs;
        Ok(s.stage == "full" && !idle && !old && s.disabled_at.is_none())
    }

    /// One entry of a patient's timeline as a member sees it (for live updates and single-entry
    /// fragments): through the gate, marked read, the read audited.
    pub async fn entry_view(&self, actor: &Actor, patient_id: &str, entry_id: &str) -> Result<EntryView> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "entry", AppError::NotFound).await);
        }
        let e = self
            .store
            .entry(entry_id)
            .await?
            .filter(|e| e.patient_id == o.patient.id)
            .ok_or(AppError::NotFound)?;
        let view = self
            .entry_views(&o.patient, vec![e])
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal("entry view lost".into()))?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.mark_read(std::slice::from_ref(&view.entry.id), &actor.user_id, now.micros()).await?;
        tx.append_audit(
            actor
                .event(now, Action::TimelineRead, Outcome::Success)
                .patient(&o.patient.id)
                .target("entry", &view.entry.id)
                .detail(1),
        )
        .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Announces an entry inside the transaction that writes it (PostgreSQL: `pg_notify`, sent
    /// on commit). Call [`App::announce_committed`] after the commit.
    pub(crate) async fn announce_in_tx(&self, tx: &mut Tx, ev: &PatientEvent) -> Result<()> {
        tx.notify_live(&ev.payload()).await?;
        Ok(())
    }

    /// Delivers an announced entry after its commit (SQLite; on PostgreSQL the listener does).
    pub(crate) fn announce_committed(&self, ev: PatientEvent) {
        if self.store.backend() == Backend::Sqlite {
            self.live.publish(ev);
        }
    }

    /// Raises every urgent message nobody acknowledged within `escalation_minutes`: a new
    /// urgent message, needing a reply, to the sub-attending physician (the attending physician
    /// when there is none, or when the sub-attending physician is the one who was not
    /// answering), naming the original; the original is marked escalated. Each message is one
    /// transaction and is raised once, however many processes run this. Returns how many were.
    pub async fn escalate_unacknowledged(&self) -> Result<usize> {
        let now = self.now();
        let cutoff = now.plus_seconds(-self.config.escalation_minutes.max(1) * 60).micros();
        let mut n = 0;
        for m in self.store.unacknowledged_urgent(cutoff).await? {
            match self.escalate(&m, now).await {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, entry = %m.id, "escalation failed"),
            }
        }
        Ok(n)
    }

    /// Whom an unanswered message goes to next: the sub-attending physician, else the attending
    /// physician; never back to whom it was addressed, nor to who wrote it. A raised copy that
    /// goes unanswered in turn goes to the attending physician only, so the chain ends (at most
    /// original → sub-attending → attending).
    async fn escalation_target(&self, m: &EntryRow, now: Timestamp) -> Result<Option<String>> {
        let Some(patient) = self.store.patient(&m.patient_id).await? else { return Ok(None) };
        let mut candidates = Vec::new();
        // Without consent only the attending physician sees the patient.
        if escalated_from(m).is_none() && self.store.active_consent(&patient.id).await?.is_some() {
            let team = self.store.team(&patient.id).await?;
            candidates.extend(
                team.into_iter()
                    .filter(|t| {
                        t.role == "sub_attending"
                            && t.status == "active"
                            && t.ends_at.is_none_or(|e| e > now.micros())
                    })
                    .map(|t| t.user_id),
            );
        }
        candidates.push(patient.attending_physician_id);
        Ok(candidates.into_iter().find(|c| Some(c) != m.addressee_id.as_ref() && *c != m.author_id))
    }

    async fn escalate(&self, m: &EntryRow, now: Timestamp) -> Result<bool> {
        let target = self.escalation_target(m, now).await?;
        let raised = target.as_ref().map(|to| EntryRow {
            id: uuid::Uuid::now_v7().to_string(),
            patient_id: m.patient_id.clone(),
            kind: EntryKind::Message.code().to_string(),
            // The message is the author's, passed on: entries are written by people.
            author_id: m.author_id.clone(),
            author_profession: m.author_profession.clone(),
            author_org_id: m.author_org_id.clone(),
            created_at: now.micros(),
            occurred_at: m.occurred_at,
            body: m.body.clone(),
            data: serde_json::json!({ "escalated_from": m.id, "escalated_after_minutes": self.config.escalation_minutes })
                .to_string(),
            corrects_id: None,
            urgent: true,
            needs_reply: true,
            addressee_id: Some(to.clone()),
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        });
        let mut tx = self.store.begin().await?;
        if !tx.mark_escalated(&m.id, now.micros()).await? {
            // Acknowledged or raised meanwhile (perhaps by another process): nothing to do.
            return Ok(false);
        }
        let mut event = NewEvent::new(now, Action::MessageEscalated, Outcome::Success)
            .patient(&m.patient_id)
            .target("entry", &m.id);
        event = match (&raised, &target) {
            (Some(r), Some(to)) => event.detail(format!("to {to} as {}", r.id)),
            _ => event.detail("no one further"),
        };
        let mut announce = None;
        if let Some(r) = &raised {
            tx.insert_entry(r).await?;
            let ev = PatientEvent { patient_id: r.patient_id.clone(), entry_id: r.id.clone() };
            self.announce_in_tx(&mut tx, &ev).await?;
            announce = Some(ev);
        }
        tx.append_audit(event).await?;
        tx.commit().await?;
        if let Some(ev) = announce {
            self.announce_committed(ev);
        }
        Ok(true)
    }
}

/// The original of an escalated message, if this one is a raised copy.
pub fn escalated_from(e: &EntryRow) -> Option<String> {
    if e.kind != EntryKind::Message.code() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&e.data).ok()?;
    v.get("escalated_from").and_then(|s| s.as_str()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_is_two_uuids_and_nothing_else_is_accepted() {
        let ev = PatientEvent {
            patient_id: uuid::Uuid::now_v7().to_string(),
            entry_id: uuid::Uuid::now_v7().to_string(),
        };
        assert_eq!(PatientEvent::parse(&ev.payload()), Some(ev));
        assert_eq!(PatientEvent::parse("x y"), None);
        assert_eq!(PatientEvent::parse(""), None);
    }

    #[tokio::test]
    async fn closing_the_hub_is_seen_by_every_clone() {
        let live = Live::new();
        let other = live.clone();
        let mut closed = other.inner.closed.subscribe();
        live.close();
        assert!(closed.wait_for(|c| *c).await.is_ok());
    }
}
