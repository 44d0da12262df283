//! Use cases of the FHIR API (issue 5) for a patient's documents and the lists of the patient
//! summary: the photos, files and signed consent forms (`DocumentReference`, `Binary`), and the
//! allergies, conditions and medications the summary keeps as free text, one per line
//! (`AllergyIntolerance`, `Condition`, `MedicationStatement`).
//!
//! Like every way into patient data these start at the gate: a document is found by its id
//! first, then its patient is opened with `patient_access`, so an unknown id, a malformed one
//! and a document of a patient the actor may not see are all the same `NotFound` (each refusal
//! audited). Every read writes one audit event.

use sha2::{Digest, Sha256};
use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_store::attachments::AttachmentRow;
use tsunagu_store::patients::PatientRow;

use crate::attachments::{FileContent, Upload, file_of};
use crate::sharing::Opened;
use crate::{Actor, App, AppError, Result};

/// What a document is: a photo (an image on the timeline), a document (a PDF on the timeline)
/// or a signed consent form (kept with its consent, whatever its format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Photo,
    Document,
    ConsentForm,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 3] =
        [DocumentKind::Photo, DocumentKind::Document, DocumentKind::ConsentForm];

    /// The code in the API's `document-kind` code system.
    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::Photo => "photo",
            DocumentKind::Document => "document",
            DocumentKind::ConsentForm => "consent-form",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn of(row: &AttachmentRow) -> Self {
        if row.consent_id.is_some() {
            DocumentKind::ConsentForm
        } else if row.content_type.starts_with("image/") {
            DocumentKind::Photo
        } else {
            DocumentKind::Document
        }
    }
}

/// A document as the API shows it: its row and the caption of its timeline entry.
#[derive(Debug, Clone)]
pub struct DocumentView {
    pub row: AttachmentRow,
    pub kind: DocumentKind,
    /// The caption written with the file on the timeline (none for consent forms).
    pub caption: Option<String>,
}

/// Which of a patient's documents to list.
#[derive(Debug, Clone, Default)]
pub struct DocumentQuery {
    /// Created at or after (UTC micros).
    pub from: Option<i64>,
    /// Created before (UTC micros).
    pub to: Option<i64>,
    /// Any of these kinds (`None`: all).
    pub kinds: Option<Vec<DocumentKind>>,
    pub oldest_first: bool,
    pub offset: i64,
    /// At most this many (0: the total only).
    pub limit: i64,
}

/// One of the summary's free-text lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryList {
    Allergies,
    Conditions,
    Medications,
}

impl SummaryList {
    /// The letter in the ids of its lines.
    pub fn letter(self) -> char {
        match self {
            SummaryList::Allergies => 'a',
            SummaryList::Conditions => 'c',
            SummaryList::Medications => 'm',
        }
    }

    fn text(self, p: &PatientRow) -> &str {
        match self {
            SummaryList::Allergies => &p.allergies,
            SummaryList::Conditions => &p.conditions,
            SummaryList::Medications => &p.medications,
        }
    }
}

/// One line of a summary list with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryItem {
    /// `{patient id}-{a|c|m}{16 hex}`: stable while the line's text stays the same.
    pub id: String,
    pub text: String,
}

/// The id of a summary line: the patient, the list's letter, and the first 16 hex digits of the
/// SHA-256 of the folded text (so it survives other lines being added, removed or reordered,
/// and changes only when the line itself is edited).
pub fn summary_id(patient_id: &str, list: SummaryList, text: &str) -> String {
    let digest = Sha256::digest(tsunagu_domain::text::fold(text).as_bytes());
    let hex = hex::encode(digest);
    format!("{patient_id}-{}{}", list.letter(), hex.get(..16).unwrap_or(&hex))
}

/// The non-empty lines of a summary list, in order, each once (a line repeated with the same
/// folded text is the same item).
pub fn summary_items(p: &PatientRow, list: SummaryList) -> Vec<SummaryItem> {
    let mut out: Vec<SummaryItem> = Vec::new();
    for line in list.text(p).lines().map(str::trim).filter(|l| !l.is_empty()) {
        let id = summary_id(&p.id, list, line);
        if !out.iter().any(|i| i.id == id) {
            out.push(SummaryItem { id, text: line.to_string() });
        }
    }
    out
}

/// Whether a string is an attachment id (a UUID); anything else is never looked up.
fn attachment_key(id: &str) -> Option<&str> {
    let id = id.trim();
    uuid::Uuid::parse_str(id).ok().map(|_| id)
}

impl App {
    /// The attachment `id` and the patient it belongs to, opened for reading: unknown ids and
    /// documents of patients the actor may not read are both `NotFound` (audited refusals).
    async fn open_document(&self, actor: &Actor, id: &str) -> Result<(Opened, AttachmentRow)> {
        let row = match attachment_key(id) {
            Some(k) => self.store.attachment(k).await?,
            None => None,
        };
        let Some(row) = row else {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::AccessRefused, Outcome::Refused)
                        .target("file", id.chars().take(40).collect::<String>())
                        .detail("file"),
                ])
                .await?;
            return Err(AppError::NotFound);
        };
        let o = self.patient_access(actor, &row.patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "file", AppError::NotFound).await);
        }
        Ok((o, row))
    }

    /// The captions of the timeline entries of some attachments.
    async fn document_views(&self, rows: Vec<AttachmentRow>) -> Result<Vec<DocumentView>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let caption = match &row.entry_id {
                Some(e) => self
                    .store
                    .entry(e)
                    .await?
                    .filter(|e| e.patient_id == row.patient_id)
                    .map(|e| e.body)
                    .filter(|b| !b.trim().is_empty()),
                None => None,
            };
            out.push(DocumentView { kind: DocumentKind::of(&row), row, caption });
        }
        Ok(out)
    }

    /// One document (its description, not its content), for a team member of its patient.
    /// Audited as a file read (detail `document`).
    pub async fn document(&self, actor: &Actor, id: &str) -> Result<DocumentView> {
        let (o, row) = self.open_document(actor, id).await?;
        let mut views = self.document_views(vec![row]).await?;
        let view = views.pop().ok_or_else(|| AppError::Internal("document view lost".into()))?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::FileRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .target("file", &view.row.id)
                    .detail("document"),
            ])
            .await?;
        Ok(view)
    }

    /// A patient's documents (timeline files and signed consent forms) matching `q`: the total
    /// and one page. Team members only; audited once as a file read (detail `list`).
    pub async fn documents(
        &self,
        actor: &Actor,
        patient_id: &str,
        q: &DocumentQuery,
    ) -> Result<(Opened, i64, Vec<DocumentView>)> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "file", AppError::NotFound).await);
        }
        let mut rows: Vec<AttachmentRow> = self
            .store
            .attachments_of_patient(&o.patient.id)
            .await?
            .into_iter()
            .filter(|r| q.from.is_none_or(|f| r.created_at >= f) && q.to.is_none_or(|t| r.created_at < t))
            .filter(|r| q.kinds.as_ref().is_none_or(|ks| ks.contains(&DocumentKind::of(r))))
            .collect();
        if q.oldest_first {
            rows.reverse();
        }
        let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let page: Vec<AttachmentRow> = rows
            .into_iter()
            .skip(usize::try_from(q.offset.max(0)).unwrap_or(usize::MAX))
            .take(usize::try_from(q.limit.max(0)).unwrap_or(0))
            .collect();
        let views = self.document_views(page).await?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::FileRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .detail(format!("list {}", views.len())),
            ])
            .await?;
        Ok((o, total, views))
    }

    /// A file's content by the attachment id alone (the API's `Binary/{id}`): the patient is
    /// found from the attachment, then the same gate and audit as [`App::attachment`].
    pub async fn attachment_by_id(&self, actor: &Actor, id: &str) -> Result<(AttachmentRow, FileContent)> {
        let row = match attachment_key(id) {
            Some(k) => self.store.attachment(k).await?,
            None => None,
        };
        let Some(row) = row else {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::AccessRefused, Outcome::Refused)
                        .target("file", id.chars().take(40).collect::<String>())
                        .detail("file"),
                ])
                .await?;
            return Err(AppError::NotFound);
        };
        let content = self.attachment(actor, &row.patient_id, &row.id, false).await?;
        Ok((row, content))
    }

    /// Uploads a file to a patient's timeline (as [`App::upload_file`]: members only, checked
    /// by content, audited as an entry written) and answers it as a document.
    pub async fn create_document(
        &self,
        actor: &Actor,
        patient_id: &str,
        up: Upload,
        caption: &str,
    ) -> Result<DocumentView> {
        let entry = self.upload_file(actor, patient_id, up, caption).await?;
        let file = file_of(&entry).ok_or_else(|| AppError::Internal("file entry without its file".into()))?;
        let row = self
            .store
            .attachment(&file.attachment_id)
            .await?
            .ok_or_else(|| AppError::Internal("uploaded attachment missing".into()))?;
        let body = entry.body.trim().to_string();
        Ok(DocumentView {
            kind: DocumentKind::of(&row),
            row,
            caption: (!body.is_empty()).then_some(entry.body),
        })
    }

    /// The lines of one of a patient's summary lists, opened (and audited) like any read of
    /// the patient.
    pub async fn summary_list(
        &self,
        actor: &Actor,
        patient_id: &str,
        list: SummaryList,
    ) -> Result<(Opened, Vec<SummaryItem>)> {
        let o = self.open_patient(actor, patient_id).await?;
        let items = summary_items(&o.patient, list);
        Ok((o, items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(conditions: &str) -> PatientRow {
        PatientRow {
            id: "p1".into(),
            name: String::new(),
            name_kana: String::new(),
            name_folded: String::new(),
            birth_date: String::new(),
            sex: String::new(),
            address: String::new(),
            district: None,
            support_center_id: None,
            phone: String::new(),
            care_level: String::new(),
            insurance_number: None,
            key_person: String::new(),
            emergency_contacts: String::new(),
            conditions: conditions.into(),
            allergies: String::new(),
            medications: String::new(),
            attending_physician_id: String::new(),
            registered_by: String::new(),
            version: 1,
            created_at: 0,
            updated_at: 0,
            latitude: None,
            longitude: None,
        }
    }

    #[test]
    fn summary_ids_follow_the_text_not_the_position() {
        let a = summary_items(&patient("心不全\n\n 高血圧症 \n"), SummaryList::Conditions);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].text, "高血圧症");
        assert!(a[0].id.starts_with("p1-c") && a[0].id.len() == "p1-c".len() + 16);
        let b = summary_items(&patient("糖尿病\n高血圧症\n心不全"), SummaryList::Conditions);
        assert_eq!(b[1].id, a[1].id);
        assert_eq!(b[2].id, a[0].id);
        // Width and kana forms fold to one text; a repeated line is one item.
        let c = summary_items(&patient("ＡＢＣ\nabc"), SummaryList::Conditions);
        assert_eq!(c.len(), 1);
        assert_ne!(
            summary_id("p1", SummaryList::Allergies, "x"),
            summary_id("p1", SummaryList::Conditions, "x")
        );
    }
}
