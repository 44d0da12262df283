//! Photos and files: a pressure ulcer's photo or a referral letter on the timeline, the signed
//! consent form. Only JPEG, PNG and WebP images and PDF documents are accepted, recognised by
//! their content (magic bytes, and images must decode), never by their name or declared type.
//! The content is stored outside the database, in `AppConfig::attachments_dir`, by random id:
//! written and fsynced before the row that names it commits, and removed again if that commit
//! fails. Images get a thumbnail (at most 320 px wide, re-encoded as JPEG, which also drops
//! their metadata). Everything goes through the gate: members only, every read audited, and
//! anyone else gets the same `NotFound` as for a patient who does not exist.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::sharing::EntryKind;
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid};
use tsunagu_store::Tx;
use tsunagu_store::attachments::AttachmentRow;
use tsunagu_store::patients::EntryRow;

use crate::live::PatientEvent;
use crate::{Actor, App, AppError, Result};

/// Thumbnails are at most this wide.
pub const THUMB_WIDTH: u32 = 320;
/// Images larger than this in either direction are refused (a decompression bomb guard).
const MAX_DIMENSION: u32 = 16_384;

/// A file as submitted: its name as the browser sent it and its content. The declared type is
/// not taken: the content says what it is.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The kinds of file accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Jpeg,
    Png,
    Webp,
    Pdf,
}

impl FileType {
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Webp => "image/webp",
            FileType::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileType::Jpeg => "jpg",
            FileType::Png => "png",
            FileType::Webp => "webp",
            FileType::Pdf => "pdf",
        }
    }

    fn image_format(self) -> Option<image::ImageFormat> {
        match self {
            FileType::Jpeg => Some(image::ImageFormat::Jpeg),
            FileType::Png => Some(image::ImageFormat::Png),
            FileType::Webp => Some(image::ImageFormat::WebP),
            FileType::Pdf => None,
        }
    }
}

/// What the content is, by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileType::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(FileType::Webp)
    } else if bytes.starts_with(b"%PDF-") {
        Some(FileType::Pdf)
    } else {
        None
    }
}

/// A file's name as kept: the last path segment, without control characters, at most 120
/// characters; empty becomes `file.<ext>`.
pub fn clean_name(name: &str, t: FileType) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect::<String>()
        .trim()
        .to_string();
    if cleaned.is_empty() { format!("file.{}", t.extension()) } else { cleaned }
}

/// A thumbnail of an image as JPEG bytes, or `None` when the content does not decode.
fn thumbnail(bytes: &[u8], format: image::ImageFormat) -> Option<Vec<u8>> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().ok()?;
    let img = if img.width() > THUMB_WIDTH {
        img.resize(THUMB_WIDTH, MAX_DIMENSION, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgb = image::DynamicImage::ImageRgb8(img.to_rgb8());
    let mut out = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}

/// What a file entry on the timeline says about its file (kept in the entry's `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileData {
    pub attachment_id: String,
    pub content_type: String,
    pub name: String,
    pub size: i64,
    pub thumbnail: bool,
}

impl FileData {
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }

    /// The size for people: KB or MB.
    pub fn size_text(&self) -> String {
        if self.size >= 1024 * 1024 {
            format!("{:.1} MB", self.size as f64 / (1024.0 * 1024.0))
        } else {
            format!("{} KB", (self.size + 1023) / 1024)
        }
    }
}

/// The file of a file entry.
pub fn file_of(e: &EntryRow) -> Option<FileData> {
    if e.kind != EntryKind::File.code() {
        return None;
    }
    serde_json::from_str(&e.data).ok()
}

/// A file ready to be sent, after the gate let the reader through.
#[derive(Debug, Clone)]
pub struct FileContent {
    pub content_type: String,
    /// The name to offer (the original name; the thumbnail's name for a thumbnail).
    pub name: String,
    pub bytes: Vec<u8>,
}

/// An upload that passed the checks, with its thumbnail.
struct Checked {
    id: String,
    file_type: FileType,
    name: String,
    bytes: Vec<u8>,
    sha256: String,
    thumbnail: Option<Vec<u8>>,
}

impl Checked {
    fn row(&self, patient_id: &str, actor: &Actor, now: i64) -> AttachmentRow {
        AttachmentRow {
            id: self.id.clone(),
            patient_id: patient_id.to_string(),
            entry_id: None,
            consent_id: None,
            original_name: self.name.clone(),
            content_type: self.file_type.content_type().to_string(),
            size: i64::try_from(self.bytes.len()).unwrap_or(i64::MAX),
            sha256: self.sha256.clone(),
            stored_path: self.id.clone(),
            thumbnail_path: self.thumbnail.as_ref().map(|_| format!("{}.thumb.jpg", self.id)),
            created_by: actor.user_id.clone(),
            created_at: now,
        }
    }
}

/// Writes `bytes` to `dir/name` durably: a temporary file, fsynced, renamed, the folder fsynced.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create_new(&tmp)?;
    if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

fn remove_quietly(paths: &[PathBuf]) {
    for p in paths {
        if let Err(e) = std::fs::remove_file(p) {
            tracing::warn!(error = %e, "could not remove an attachment file after a failed write");
        }
    }
}

impl App {
    /// Checks an upload (not empty, not too large, an accepted kind by its content, an image
    /// that decodes) and makes its thumbnail. Problems are pushed as errors on `field`.
    async fn check_upload(
        &self,
        field: &'static str,
        up: &Upload,
        errs: &mut Invalid,
    ) -> Result<Option<Checked>> {
        if up.bytes.is_empty() {
            errs.push(FieldError::new(field, "error.file_empty"));
            return Ok(None);
        }
        let max = self.config.max_upload_bytes;
        if up.bytes.len() > max {
            errs.push(FieldError::with_limit(field, "error.file_too_large", max.div_ceil(1024 * 1024)));
            return Ok(None);
        }
        let Some(file_type) = sniff(&up.bytes) else {
            errs.push(FieldError::new(field, "error.file_type"));
            return Ok(None);
        };
        let bytes = up.bytes.clone();
        let thumb = match file_type.image_format() {
            Some(fmt) => {
                let b = bytes.clone();
                let t = tokio::task::spawn_blocking(move || thumbnail(&b, fmt))
                    .await
                    .map_err(|e| AppError::Internal(format!("thumbnail: {e}")))?;
                if t.is_none() {
                    errs.push(FieldError::new(field, "error.file_broken"));
                    return Ok(None);
                }
                t
            }
            None => None,
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Some(Checked {
            id: uuid::Uuid::now_v7().to_string(),
            file_type,
            name: clean_name(&up.name, file_type),
            bytes,
            sha256,
            thumbnail: thumb,
        }))
    }

    /// Writes a checked upload (and its thumbnail) to the attachments folder, durably. Returns
    /// the paths written, to remove if the database refuses the row.
    async fn write_files(&self, c: &Checked) -> Result<Vec<PathBuf>> {
        let dir = self.config.attachments_dir.clone();
        let id = c.id.clone();
        let bytes = c.bytes.clone();
        let thumb = c.thumbnail.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<PathBuf>> {
            let mut written = vec![write_durably(&dir, &id, &bytes)?];
            if let Some(t) = thumb {
                match write_durably(&dir, &format!("{id}.thumb.jpg"), &t) {
                    Ok(p) => written.push(p),
                    Err(e) => {
                        remove_quietly(&written);
                        return Err(e);
                    }
                }
            }
            Ok(written)
        })
        .await
        .map_err(|e| AppError::Internal(format!("attachment write: {e}")))?
        .map_err(|e| AppError::Internal(format!("attachments folder: {e}")))
    }

    /// Runs `commit` (the database side) after the files are written; removes them if it fails.
    async fn commit_with_files<T>(
        &self,
        written: Vec<PathBuf>,
        commit: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match commit.await {
            Ok(v) => Ok(v),
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || remove_quietly(&written)).await;
                Err(e)
            }
        }
    }

    /// Uploads a photo or a file to a patient's timeline as an entry of kind `file` with a
    /// caption (team members only; audited as an entry written).
    pub async fn upload_file(
        &self,
        actor: &Actor,
        patient_id: &str,
        up: Upload,
        caption: &str,
    ) -> Result<EntryRow> {
        let o = self.open_for_write(actor, patient_id).await?;
        let mut errs = Invalid::default();
        let caption = text("caption", caption, false, 2000).map_err(|e| errs.push(e)).unwrap_or_default();
        let checked = self.check_upload("file", &up, &mut errs).await?;
        errs.into_result()?;
        let Some(c) = checked else {
            return Err(AppError::Internal("validated upload lost its file".into()));
        };
        let now = self.now();
        let entry_id = uuid::Uuid::now_v7().to_string();
        let mut a = c.row(&o.patient.id, actor, now.micros());
        a.entry_id = Some(entry_id.clone());
        let data = FileData {
            attachment_id: a.id.clone(),
            content_type: a.content_type.clone(),
            name: a.original_name.clone(),
            size: a.size,
            thumbnail: a.thumbnail_path.is_some(),
        };
        let row = EntryRow {
            id: entry_id,
            patient_id: o.patient.id.clone(),
            kind: EntryKind::File.code().to_string(),
            author_id: actor.user_id.clone(),
            author_profession: actor.profession.code().to_string(),
            author_org_id: actor.affiliations.first().map(|x| x.organisation_id.clone()),
            created_at: now.micros(),
            occurred_at: now.micros(),
            body: caption,
            data: serde_json::to_string(&data).map_err(|e| AppError::Internal(e.to_string()))?,
            corrects_id: None,
            urgent: false,
            needs_reply: false,
            addressee_id: None,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        };
        let written = self.write_files(&c).await?;
        let ev = PatientEvent { patient_id: row.patient_id.clone(), entry_id: row.id.clone() };
        self.commit_with_files(written, async {
            let mut tx = self.store.begin().await?;
            tx.insert_entry(&row).await?;
            tx.insert_attachment(&a).await?;
            tx.mark_read(std::slice::from_ref(&row.id), &actor.user_id, now.micros()).await?;
            tx.append_audit(
                actor
                    .event(now, Action::EntryWritten, Outcome::Success)
                    .patient(&row.patient_id)
                    .target("entry", &row.id)
                    .detail(format!("file {}", a.id)),
            )
            .await?;
            self.announce_in_tx(&mut tx, &ev).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.announce_committed(ev);
        Ok(row)
    }

    /// Checks a signed consent form (field `form`) when one is attached.
    pub(crate) async fn check_consent_form(
        &self,
        form: Option<&Upload>,
        errs: &mut Invalid,
    ) -> Result<Option<ConsentForm>> {
        match form {
            Some(up) => Ok(self.check_upload("form", up, errs).await?.map(ConsentForm)),
            None => Ok(None),
        }
    }

    /// Writes a checked consent form's files and runs `commit`, which must insert the consent
    /// and then [`ConsentForm::insert`] in its transaction; the files are removed if it fails.
    pub(crate) async fn with_consent_form<T>(
        &self,
        form: Option<&ConsentForm>,
        commit: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let written = match form {
            Some(f) => self.write_files(&f.0).await?,
            None => Vec::new(),
        };
        self.commit_with_files(written, commit).await
    }

    /// A file or its thumbnail, for a team member of its patient. Anyone else, an unknown file
    /// and a file of another patient are all `NotFound`; each read is audited.
    pub async fn attachment(
        &self,
        actor: &Actor,
        patient_id: &str,
        file_id: &str,
        thumb: bool,
    ) -> Result<FileContent> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "file", AppError::NotFound).await);
        }
        let id = file_id.trim();
        let row = match uuid::Uuid::parse_str(id) {
            Ok(_) => self.store.attachment(id).await?,
            Err(_) => None,
        };
        let Some(row) = row.filter(|r| r.patient_id == o.patient.id) else {
            return Err(self.refused(actor, &o.patient.id, "file", AppError::NotFound).await);
        };
        let (stored, content_type, name) = match (thumb, &row.thumbnail_path) {
            (false, _) => (row.stored_path.clone(), row.content_type.clone(), row.original_name.clone()),
            (true, Some(t)) => {
                (t.clone(), "image/jpeg".to_string(), format!("thumbnail-{}", row.original_name))
            }
            (true, None) => {
                return Err(self.refused(actor, &o.patient.id, "file", AppError::NotFound).await);
            }
        };
        // Names in the folder are ids the app made; never a path.
        if stored.contains(['/', '\\']) || stored.starts_with('.') {
            return Err(AppError::Internal("an attachment's stored name is not a plain name".into()));
        }
        let path = self.config.attachments_dir.join(&stored);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| AppError::Internal(format!("attachment {} unreadable: {e}", row.id)))?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::FileRead, Outcome::Success)
                    .patient(&o.patient.id)
                    .target("file", &row.id)
                    .detail(if thumb { "thumbnail" } else { "file" }),
            ])
            .await?;
        Ok(FileContent { content_type, name, bytes })
    }
}

/// A checked signed consent form, ready to be stored with its consent.
pub(crate) struct ConsentForm(Checked);

impl ConsentForm {
    pub(crate) fn id(&self) -> &str {
        &self.0.id
    }

    /// Inserts the form's row, naming its consent (insert the consent first).
    pub(crate) async fn insert(
        &self,
        tx: &mut Tx,
        patient_id: &str,
        consent_id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut a = self.0.row(patient_id, actor, now);
        a.consent_id = Some(consent_id.to_string());
        tx.insert_attachment(&a).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn content_is_recognised_by_its_first_bytes_not_its_name() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(FileType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(FileType::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(FileType::Pdf));
        assert_eq!(sniff(b"hello, this is text"), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn a_name_is_kept_without_its_path_or_control_characters() {
        assert_eq!(clean_name("C:\\photos\\褥瘡.jpg", FileType::Jpeg), "褥瘡.jpg");
        assert_eq!(clean_name("../../etc/passwd", FileType::Pdf), "passwd");
        assert_eq!(clean_name("a\"b\r\n.png", FileType::Png), "ab.png");
        assert_eq!(clean_name("  ", FileType::Png), "file.png");
    }

    #[test]
    fn a_wide_image_gets_a_thumbnail_320_pixels_wide() {
        let img = image::DynamicImage::new_rgb8(800, 400);
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).expect("encode");
        let t = thumbnail(png.get_ref(), image::ImageFormat::Png).expect("thumbnail");
        let back = image::load_from_memory(&t).expect("decode thumbnail");
        assert_eq!((back.width(), back.height()), (320, 160));
        assert!(thumbnail(b"\x89PNG\r\n\x1a\nnot really", image::ImageFormat::Png).is_none());
    }
}
