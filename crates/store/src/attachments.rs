//! Attachments: photos and files on the timeline, signed consent forms. The content is stored
//! outside the database (see the app layer); a row says what it is, whose and where it lies.

use crate::{Result, Store, Tx, exec_tx, read};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: String,
    pub patient_id: String,
    pub entry_id: Option<String>,
    pub consent_id: Option<String>,
    pub original_name: String,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The file's name inside the attachments folder.
    pub stored_path: String,
    /// The thumbnail's name inside the attachments folder (images only).
    pub thumbnail_path: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, patient_id, entry_id, consent_id, original_name, content_type, size, sha256, \
     stored_path, thumbnail_path, created_by, created_at";

impl Store {
    /// One attachment by id.
    pub async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>> {
        let sql = format!("select {COLUMNS} from attachments where id = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, AttachmentRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// A patient's attachments, newest first.
    pub async fn attachments_of_patient(&self, patient_id: &str) -> Result<Vec<AttachmentRow>> {
        let sql = format!(
            "select {COLUMNS} from attachments where patient_id = $1 order by created_at desc, id desc"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, AttachmentRow>(&sql).bind(patient_id).fetch_all(c).await)?)
    }

    /// How many attachments there are (all patients).
    pub async fn count_attachments(&self) -> Result<i64> {
        Ok(read!(self, |c| sqlx::query_scalar::<_, i64>("select count(*) from attachments")
            .fetch_one(c)
            .await)?)
    }
}

impl Tx {
    pub async fn insert_attachment(&mut self, a: &AttachmentRow) -> Result<()> {
        let sql = format!(
            "insert into attachments ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(&a.id)
            .bind(&a.patient_id)
            .bind(&a.entry_id)
            .bind(&a.consent_id)
            .bind(&a.original_name)
            .bind(&a.content_type)
            .bind(a.size)
            .bind(&a.sha256)
            .bind(&a.stored_path)
            .bind(&a.thumbnail_path)
            .bind(&a.created_by)
            .bind(a.created_at)
            .execute(c)
            .await)?;
        Ok(())
    }
}
