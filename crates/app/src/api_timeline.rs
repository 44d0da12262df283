//! The timeline for the FHIR API: vital-sign observations and text entries (messages, visit
//! records, ACP conversations), searched a page at a time and read one by one, and entries
//! written from a FHIR resource. Every read passes THE gate ([`App::patient_access`]) and writes
//! one audit event; writes go through [`App::write_entry`] like the pages'.
//!
//! Reads through the API do not mark entries as read: a program fetching the timeline is not
//! the person reading it, and the unread badges are that person's prompt.

use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::sharing::EntryKind;
use tsunagu_store::patients::{EntryRow, VitalRow};
use tsunagu_store::timeline_search::{EntryQuery, Page, VitalKey, VitalQuery};

use crate::sharing::{NewEntry, Opened};
use crate::{Actor, App, AppError, Result};

/// The kinds of entry served as text records (`Communication`).
pub const TEXT_KINDS: &[EntryKind] = &[EntryKind::Message, EntryKind::Visit, EntryKind::Acp];

/// The observation group of a vital kind: the two blood pressures are one (`bp`).
pub fn vital_group(kind: &str) -> &str {
    match kind {
        "systolic_bp" | "diastolic_bp" => "bp",
        k => k,
    }
}

/// An entry written from a FHIR resource: the patient (its `subject`), the entry, and the
/// addressee by person id (`recipient`).
#[derive(Debug, Clone, Default)]
pub struct EntryInput {
    pub patient_id: String,
    pub entry: NewEntry,
    pub addressee_id: Option<String>,
}

/// One vital-sign observation: a measurement (both pressures for `bp`) of one entry.
#[derive(Debug, Clone)]
pub struct VitalObservation {
    pub entry: EntryRow,
    pub group: String,
    pub vitals: Vec<VitalRow>,
    pub author_name: Option<String>,
    /// The entry that corrects this one, and when it was written.
    pub superseded_by: Option<(String, i64)>,
}

/// A text entry with the names it shows.
#[derive(Debug, Clone)]
pub struct TextEntry {
    pub entry: EntryRow,
    pub author_name: Option<String>,
    pub addressee_name: Option<String>,
    pub acknowledged_by_name: Option<String>,
    /// The entry that corrects this one, and when it was written.
    pub superseded_by: Option<(String, i64)>,
}

/// A page of a search: its items, whether more matches follow, and the number of all matches
/// when known without counting them all (the last page) or asked for (`count_total` of the
/// query; with `count_only` always).
#[derive(Debug, Clone)]
pub struct Found<T> {
    pub total: Option<i64>,
    pub more: bool,
    pub items: Vec<T>,
}

impl App {
    /// The gate for a read of the timeline: team members only (an emergency view does not
    /// reach the timeline).
    async fn open_timeline(&self, actor: &Actor, patient_id: &str, what: &str) -> Result<Opened> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, what, AppError::NotFound).await);
        }
        Ok(o)
    }

    /// An entry by id through the gate: unknown ids and entries of hidden patients alike are
    /// `NotFound`, each refusal audited.
    async fn open_entry(&self, actor: &Actor, entry_id: &str, what: &str) -> Result<(Opened, EntryRow)> {
        let entry = match uuid::Uuid::try_parse(entry_id) {
            Ok(u) => self.store.entry(&u.as_hyphenated().to_string()).await?,
            Err(_) => None,
        };
        let Some(entry) = entry else {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::AccessRefused, Outcome::Refused)
                        .target("entry", entry_id.chars().take(40).collect::<String>())
                        .detail(what),
                ])
                .await?;
            return Err(AppError::NotFound);
        };
        let o = self.open_timeline(actor, &entry.patient_id, what).await?;
        Ok((o, entry))
    }

    /// Vital-sign observations of a patient, a page at a time (the total only with
    /// `count_only`). One audit event (`VitalsRead`).
    pub async fn api_observations(
        &self,
        actor: &Actor,
        patient_id: &str,
        q: &VitalQuery,
        count_only: bool,
    ) -> Result<Found<VitalObservation>> {
        let o = self.open_timeline(actor, patient_id, "vitals").await?;
        let pid = o.patient.id.clone();
        let page = if count_only {
            let total = self.store.count_vital_observations(&pid, q).await?;
            Page { rows: Vec::new(), more: false, total: Some(total) }
        } else {
            self.store.vital_observations(&pid, q).await?
        };
        let items = self.observations_of(&pid, &page.rows).await?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::VitalsRead, Outcome::Success)
                    .patient(&pid)
                    .detail(items.len()),
            ])
            .await?;
        Ok(Found { total: page.total, more: page.more, items })
    }

    /// One observation: entry `entry_id`'s measurement of `group`.
    pub async fn api_observation(
        &self,
        actor: &Actor,
        entry_id: &str,
        group: &str,
    ) -> Result<VitalObservation> {
        let (o, entry) = self.open_entry(actor, entry_id, "vitals").await?;
        let key = VitalKey {
            entry_id: entry.id.clone(),
            grp: group.to_string(),
            measured_at: entry.occurred_at,
            created_at: entry.created_at,
        };
        let found = self.observations_of(&o.patient.id, std::slice::from_ref(&key)).await?.pop();
        let Some(found) = found.filter(|f| !f.vitals.is_empty()) else {
            return Err(self.refused(actor, &o.patient.id, "vitals", AppError::NotFound).await);
        };
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::VitalsRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .target("entry", &entry.id),
            ])
            .await?;
        Ok(found)
    }

    /// The observations of these keys, in their order, in a fixed number of queries.
    async fn observations_of(&self, patient_id: &str, keys: &[VitalKey]) -> Result<Vec<VitalObservation>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = keys.iter().map(|k| k.entry_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let entries = self.store.entries_by_ids(patient_id, &ids).await?;
        let vitals = self.store.vitals_of_entries(patient_id, &ids).await?;
        let corrections = self.store.corrections_of(patient_id, &ids).await?;
        let mut people: Vec<String> = entries.iter().map(|e| e.author_id.clone()).collect();
        people.sort();
        people.dedup();
        let names = self.store.user_names(&people).await?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                let entry = entries.iter().find(|e| e.id == k.entry_id)?.clone();
                let mut vs: Vec<VitalRow> = vitals
                    .iter()
                    .filter(|v| v.entry_id == k.entry_id && vital_group(&v.kind) == k.grp)
                    .cloned()
                    .collect();
                vs.sort_by(|a, b| b.kind.cmp(&a.kind));
                Some(VitalObservation {
                    author_name: names.iter().find(|n| n.0 == entry.author_id).map(|n| n.1.clone()),
                    superseded_by: corrections.iter().find(|c| c.0 == entry.id).map(|c| (c.1.clone(), c.2)),
                    group: k.grp.clone(),
                    vitals: vs,
                    entry,
                })
            })
            .collect())
    }

    /// Text entries of a patient (messages, visit records, ACP), newest first unless asked
    /// otherwise: one query that walks the patient's timeline index for the page alone (the
    /// total only when the page tells it or the query asks), then the names. One audit event
    /// (`TimelineRead`); nothing is marked read.
    pub async fn api_text_entries(
        &self,
        actor: &Actor,
        patient_id: &str,
        q: &EntryQuery,
        count_only: bool,
    ) -> Result<Found<TextEntry>> {
        let o = self.open_timeline(actor, patient_id, "timeline").await?;
        let pid = o.patient.id.clone();
        let page = if count_only {
            let total = self.store.count_entry_page(&pid, q).await?;
            Page { rows: Vec::new(), more: false, total: Some(total) }
        } else {
            self.store.entry_page(&pid, q).await?
        };
        let (total, more) = (page.total, page.more);
        let items = self.text_entries(&pid, page.rows).await?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::TimelineRead, Outcome::Success)
                    .patient(&pid)
                    .detail(items.len()),
            ])
            .await?;
        Ok(Found { total, more, items })
    }

    /// One text entry (a message, visit record or ACP entry).
    pub async fn api_text_entry(&self, actor: &Actor, entry_id: &str) -> Result<TextEntry> {
        let (o, entry) = self.open_entry(actor, entry_id, "timeline").await?;
        if !TEXT_KINDS.iter().any(|k| k.code() == entry.kind) {
            return Err(self.refused(actor, &o.patient.id, "timeline", AppError::NotFound).await);
        }
        let id = entry.id.clone();
        let item = self
            .text_entries(&o.patient.id, vec![entry])
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal("entry lost".into()))?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::TimelineRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .target("entry", &id),
            ])
            .await?;
        Ok(item)
    }

    async fn text_entries(&self, patient_id: &str, entries: Vec<EntryRow>) -> Result<Vec<TextEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let corrections = self.store.corrections_of(patient_id, &ids).await?;
        let mut people: Vec<String> = entries
            .iter()
            .flat_map(|e| [Some(&e.author_id), e.addressee_id.as_ref(), e.acknowledged_by.as_ref()])
            .flatten()
            .cloned()
            .collect();
        people.sort();
        people.dedup();
        let names = self.store.user_names(&people).await?;
        let name_of =
            |id: Option<&String>| id.and_then(|id| names.iter().find(|n| &n.0 == id)).map(|n| n.1.clone());
        Ok(entries
            .into_iter()
            .map(|e| TextEntry {
                author_name: name_of(Some(&e.author_id)),
                addressee_name: name_of(e.addressee_id.as_ref()),
                acknowledged_by_name: name_of(e.acknowledged_by.as_ref()),
                superseded_by: corrections.iter().find(|c| c.0 == e.id).map(|c| (c.1.clone(), c.2)),
                entry: e,
            })
            .collect())
    }

    /// Writes an entry from a FHIR resource: the addressee named by person id. A patient the
    /// actor may not write to is `NotFound` (before the addressee is looked at); an addressee
    /// who is not on the team is refused by [`App::write_entry`].
    pub async fn api_write_entry(&self, actor: &Actor, input: EntryInput) -> Result<EntryRow> {
        let EntryInput { patient_id, mut entry, addressee_id } = input;
        let o = self.open_for_write(actor, &patient_id).await?;
        entry.addressee_login = match addressee_id {
            None => String::new(),
            Some(id) => match self.store.user_by_id(id.trim()).await? {
                Some(u) => u.login,
                None => {
                    return Err(
                        tsunagu_domain::Invalid::one("addressee", "error.addressee_not_member").into()
                    );
                }
            },
        };
        self.write_opened_entry(actor, o, entry).await
    }
}
