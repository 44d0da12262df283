//! Bulk writes for the region generator (`tsunagu gen`, `tsunagu_app::generate`): people,
//! patients, consents, care teams, timeline entries, vital signs, reads and audit events by the
//! thousand, as multi-row `insert … values (…), (…)` statements inside the caller's
//! transaction. Only the generator uses these; the use cases write one row at a time through
//! the other modules.
//!
//! Also here: the SQLite bulk-load settings for the duration of a generation
//! ([`Store::set_bulk_load`]), the secondary indexes set aside while the big tables fill
//! ([`Store::drop_secondary_indexes`], [`Store::build_indexes`]) and [`Store::content_lines`], a
//! canonical text form of the generated content for the generator's determinism test.

use tsunagu_domain::audit::{ChainHead, StoredEvent};

use crate::patients::{ConsentRow, EntryRow, PatientRow, TeamEventRow, VitalRow};
use crate::people::UserRow;
use crate::{Db, Result, Store, StoreError, Tx, exec_tx, read};

/// Parameters per statement: well under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 1_000;

/// One bound value.
enum Val<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    OptReal(Option<f64>),
    Bool(bool),
}

/// Inserts `values` (row after row, `columns.len()` values each) into `table`, as many rows per
/// statement as [`MAX_PARAMS`] allows.
async fn insert_rows(tx: &mut Tx, table: &str, columns: &[&str], values: &[Val<'_>]) -> Result<()> {
    let width = columns.len();
    if width == 0 || values.is_empty() {
        return Ok(());
    }
    let per_statement = (MAX_PARAMS / width).max(1);
    let cols = columns.join(", ");
    for chunk in values.chunks(per_statement * width) {
        let rows = chunk.len() / width;
        let mut sql = String::with_capacity(40 + rows * width * 7);
        sql.push_str("insert into ");
        sql.push_str(table);
        sql.push_str(" (");
        sql.push_str(&cols);
        sql.push_str(") values ");
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            sql.push(')');
        }
        exec_tx!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = match v {
                    Val::Text(s) => q.bind(*s),
                    Val::OptText(s) => q.bind(*s),
                    Val::Int(i) => q.bind(*i),
                    Val::OptInt(i) => q.bind(*i),
                    Val::Real(f) => q.bind(*f),
                    Val::OptReal(f) => q.bind(*f),
                    Val::Bool(b) => q.bind(*b),
                };
            }
            q.execute(c).await
        })?;
    }
    Ok(())
}

/// A care-team membership as the generator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub patient_id: String,
    pub user_id: String,
    pub role: String,
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// One read of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRead {
    pub entry_id: String,
    pub user_id: String,
    pub read_at: i64,
}

impl Tx {
    /// Accounts, whole rows.
    pub async fn bulk_insert_users(&mut self, rows: &[UserRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 12);
        for u in rows {
            v.extend([
                Val::Text(&u.id),
                Val::Text(&u.login),
                Val::Text(&u.display_name),
                Val::Text(&u.display_name_kana),
                Val::Text(&u.profession),
                Val::OptText(u.email.as_deref()),
                Val::OptText(u.password_hash.as_deref()),
                Val::OptText(u.totp_secret.as_deref()),
                Val::OptInt(u.totp_enabled_at),
                Val::Int(u.totp_last_step),
                Val::OptInt(u.disabled_at),
                Val::Int(u.created_at),
            ]);
        }
        insert_rows(
            self,
            "users",
            &[
                "id",
                "login",
                "display_name",
                "display_name_kana",
                "profession",
                "email",
                "password_hash",
                "totp_secret",
                "totp_enabled_at",
                "totp_last_step",
                "disabled_at",
                "created_at",
            ],
            &v,
        )
        .await
    }

    /// `(user_id, duty)` pairs.
    pub async fn bulk_insert_duties(&mut self, pairs: &[(String, String)]) -> Result<()> {
        let v: Vec<Val> = pairs.iter().flat_map(|(u, d)| [Val::Text(u), Val::Text(d)]).collect();
        insert_rows(self, "user_duties", &["user_id", "duty"], &v).await
    }

    /// `(user_id, organisation_id)` pairs.
    pub async fn bulk_insert_affiliations(&mut self, pairs: &[(String, String)]) -> Result<()> {
        let v: Vec<Val> = pairs.iter().flat_map(|(u, o)| [Val::Text(u), Val::Text(o)]).collect();
        insert_rows(self, "affiliations", &["user_id", "organisation_id"], &v).await
    }

    /// `(organisation_id, kind)` pairs: sets the kind of existing organisations (the generator's
    /// clinics and pharmacies, which the care-service importer files under one service), one
    /// statement per kind and at most [`MAX_PARAMS`] ids.
    pub async fn bulk_set_kinds(&mut self, pairs: &[(String, String)]) -> Result<()> {
        let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for (id, kind) in pairs {
            by_kind.entry(kind.as_str()).or_default().push(id.as_str());
        }
        for (kind, ids) in by_kind {
            for chunk in ids.chunks(MAX_PARAMS - 1) {
                let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
                let sql = format!("update organisations set kind = $1 where id in ({})", marks.join(", "));
                exec_tx!(self, |c| {
                    let mut q = sqlx::query(&sql).bind(kind);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(c).await
                })?;
            }
        }
        Ok(())
    }

    /// `(organisation_id, capability)` pairs of the directory (`org_capabilities`).
    pub async fn bulk_insert_capabilities(&mut self, pairs: &[(String, String)]) -> Result<()> {
        let v: Vec<Val> = pairs.iter().flat_map(|(o, c)| [Val::Text(o), Val::Text(c)]).collect();
        insert_rows(self, "org_capabilities", &["organisation_id", "capability"], &v).await
    }

    /// `(organisation_id, department)` pairs of the directory (`org_departments`).
    pub async fn bulk_insert_departments(&mut self, pairs: &[(String, String)]) -> Result<()> {
        let v: Vec<Val> = pairs.iter().flat_map(|(o, d)| [Val::Text(o), Val::Text(d)]).collect();
        insert_rows(self, "org_departments", &["organisation_id", "department"], &v).await
    }

    /// Patients, whole rows.
    pub async fn bulk_insert_patients(&mut self, rows: &[PatientRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 24);
        for p in rows {
            v.extend([
                Val::Text(&p.id),
                Val::Text(&p.name),
                Val::Text(&p.name_kana),
                Val::Text(&p.name_folded),
                Val::Text(&p.birth_date),
                Val::Text(&p.sex),
                Val::Text(&p.address),
                Val::OptText(p.district.as_deref()),
                Val::OptText(p.support_center_id.as_deref()),
                Val::Text(&p.phone),
                Val::Text(&p.care_level),
                Val::OptText(p.insurance_number.as_deref()),
                Val::Text(&p.key_person),
                Val::Text(&p.emergency_contacts),
                Val::Text(&p.conditions),
                Val::Text(&p.allergies),
                Val::Text(&p.medications),
                Val::Text(&p.attending_physician_id),
                Val::Text(&p.registered_by),
                Val::Int(p.version),
                Val::Int(p.created_at),
                Val::Int(p.updated_at),
                Val::OptReal(p.latitude),
                Val::OptReal(p.longitude),
            ]);
        }
        insert_rows(
            self,
            "patients",
            &[
                "id",
                "name",
                "name_kana",
                "name_folded",
                "birth_date",
                "sex",
                "address",
                "district",
                "support_center_id",
                "phone",
                "care_level",
                "insurance_number",
                "key_person",
                "emergency_contacts",
                "conditions",
                "allergies",
                "medications",
                "attending_physician_id",
                "registered_by",
                "version",
                "created_at",
                "updated_at",
                "latitude",
                "longitude",
            ],
            &v,
        )
        .await
    }

    /// Consents, whole rows.
    pub async fn bulk_insert_consents(&mut self, rows: &[ConsentRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 13);
        for c in rows {
            v.extend([
                Val::Text(&c.id),
                Val::Text(&c.patient_id),
                Val::Text(&c.consenter),
                Val::OptText(c.proxy_name.as_deref()),
                Val::OptText(c.proxy_relation.as_deref()),
                Val::Text(&c.consented_on),
                Val::Text(&c.scope),
                Val::OptText(c.form_attachment_id.as_deref()),
                Val::Text(&c.recorded_by),
                Val::Int(c.recorded_at),
                Val::OptInt(c.withdrawn_at),
                Val::OptText(c.withdrawn_by.as_deref()),
                Val::OptText(c.withdrawal_reason.as_deref()),
            ]);
        }
        insert_rows(
            self,
            "consents",
            &[
                "id",
                "patient_id",
                "consenter",
                "proxy_name",
                "proxy_relation",
                "consented_on",
                "scope",
                "form_attachment_id",
                "recorded_by",
                "recorded_at",
                "withdrawn_at",
                "withdrawn_by",
                "withdrawal_reason",
            ],
            &v,
        )
        .await
    }

    /// Care-team memberships (no end, no note).
    pub async fn bulk_insert_members(&mut self, rows: &[NewMember]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 8);
        for m in rows {
            v.extend([
                Val::Text(&m.patient_id),
                Val::Text(&m.user_id),
                Val::Text(&m.role),
                Val::Text(&m.status),
                Val::Text(&m.requested_by),
                Val::Int(m.requested_at),
                Val::OptText(m.decided_by.as_deref()),
                Val::OptInt(m.decided_at),
            ]);
        }
        insert_rows(
            self,
            "team_members",
            &[
                "patient_id",
                "user_id",
                "role",
                "status",
                "requested_by",
                "requested_at",
                "decided_by",
                "decided_at",
            ],
            &v,
        )
        .await
    }

    /// The history of the memberships.
    pub async fn bulk_insert_team_events(&mut self, rows: &[TeamEventRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 7);
        for e in rows {
            v.extend([
                Val::Text(&e.id),
                Val::Text(&e.patient_id),
                Val::Text(&e.user_id),
                Val::Text(&e.action),
                Val::Text(&e.actor_id),
                Val::Int(e.at),
                Val::Text(&e.note),
            ]);
        }
        insert_rows(
            self,
            "team_events",
            &["id", "patient_id", "user_id", "action", "actor_id", "at", "note"],
            &v,
        )
        .await
    }

    /// Timeline entries, whole rows. Corrected entries must come after the entry they correct.
    pub async fn bulk_insert_entries(&mut self, rows: &[EntryRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 17);
        for e in rows {
            v.extend([
                Val::Text(&e.id),
                Val::Text(&e.patient_id),
                Val::Text(&e.kind),
                Val::Text(&e.author_id),
                Val::Text(&e.author_profession),
                Val::OptText(e.author_org_id.as_deref()),
                Val::Int(e.created_at),
                Val::Int(e.occurred_at),
                Val::Text(&e.body),
                Val::Text(&e.data),
                Val::OptText(e.corrects_id.as_deref()),
                Val::Bool(e.urgent),
                Val::Bool(e.needs_reply),
                Val::OptText(e.addressee_id.as_deref()),
                Val::OptInt(e.acknowledged_at),
                Val::OptText(e.acknowledged_by.as_deref()),
                Val::OptInt(e.escalated_at),
            ]);
        }
        insert_rows(
            self,
            "timeline_entries",
            &[
                "id",
                "patient_id",
                "kind",
                "author_id",
                "author_profession",
                "author_org_id",
                "created_at",
                "occurred_at",
                "body",
                "data",
                "corrects_id",
                "urgent",
                "needs_reply",
                "addressee_id",
                "acknowledged_at",
                "acknowledged_by",
                "escalated_at",
            ],
            &v,
        )
        .await
    }

    /// Vital-sign rows.
    pub async fn bulk_insert_vitals(&mut self, rows: &[VitalRow]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 5);
        for r in rows {
            v.extend([
                Val::Text(&r.entry_id),
                Val::Text(&r.patient_id),
                Val::Text(&r.kind),
                Val::Real(r.value),
                Val::Int(r.measured_at),
            ]);
        }
        insert_rows(self, "vital_signs", &["entry_id", "patient_id", "kind", "value", "measured_at"], &v)
            .await
    }

    /// Who read which entry when.
    pub async fn bulk_insert_reads(&mut self, rows: &[NewRead]) -> Result<()> {
        let mut v = Vec::with_capacity(rows.len() * 3);
        for r in rows {
            v.extend([Val::Text(&r.entry_id), Val::Text(&r.user_id), Val::Int(r.read_at)]);
        }
        insert_rows(self, "entry_reads", &["entry_id", "user_id", "read_at"], &v).await
    }

    /// Appends events already chained by the caller (`ChainHead::append`, in order, from the
    /// head `from`), and moves the head to the last of them. Refused (`Conflict` on
    /// `audit_head_pkey`) when the head is no longer `from`: someone else appended meanwhile.
    pub async fn bulk_append_audit(&mut self, from: &ChainHead, events: &[StoredEvent]) -> Result<()> {
        let Some(last) = events.last() else { return Ok(()) };
        let moved = exec_tx!(self, |c| sqlx::query(
            "update audit_head set seq = $1, hash = $2 where id = 1 and seq = $3 and hash = $4"
        )
        .bind(last.seq)
        .bind(&last.hash)
        .bind(from.seq)
        .bind(&from.hash)
        .execute(c)
        .await)?;
        if moved != 1 {
            return Err(StoreError::Conflict { constraint: "audit_head_pkey".to_string() });
        }
        let mut v = Vec::with_capacity(events.len() * 14);
        for s in events {
            let e = &s.event;
            v.extend([
                Val::Int(s.seq),
                Val::Int(e.at.micros()),
                Val::OptText(e.actor_id.as_deref()),
                Val::OptText(e.actor_login.as_deref()),
                Val::Text(&e.action),
                Val::OptText(e.target_kind.as_deref()),
                Val::OptText(e.target_id.as_deref()),
                Val::OptText(e.patient_id.as_deref()),
                Val::OptText(e.address.as_deref()),
                Val::Text(&e.outcome),
                Val::OptText(e.detail.as_deref()),
                Val::OptText(e.via.as_deref()),
                Val::Text(&s.prev_hash),
                Val::Text(&s.hash),
            ]);
        }
        insert_rows(
            self,
            "audit_events",
            &[
                "seq",
                "at",
                "actor_id",
                "actor_login",
                "action",
                "target_kind",
                "target_id",
                "patient_id",
                "address",
                "outcome",
                "detail",
                "via",
                "prev_hash",
                "hash",
            ],
            &v,
        )
        .await
    }

    /// On PostgreSQL, lets this transaction's commit return before its WAL is flushed
    /// (`set local synchronous_commit = off`: a crash may lose the last commits, never corrupt
    /// the database). Only for the generator's batches; nothing on SQLite (see
    /// [`Store::set_bulk_load`]).
    pub async fn relax_commit(&mut self) -> Result<()> {
        if let crate::TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("set local synchronous_commit = off").execute(&mut **t).await?;
        }
        Ok(())
    }
}

/// Secondary indexes: each one's name and the statement that makes it (as the database itself
/// recorded it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexDefs(pub Vec<(String, String)>);

impl Store {
    /// Drops the secondary indexes of `tables` and returns how to make them again: a bulk load
    /// then writes each table's rows and keys only, and [`Store::build_indexes`] sorts each index
    /// once at the end instead of updating it row by row (on a region of 100,000 patients the
    /// indexes outgrow any cache, and row-by-row updates become random writes). Keys and unique
    /// indexes stay, so the load still cannot break a rule unnoticed. Until the indexes are
    /// built again reads are slow but right; the generator builds them even when it fails.
    pub async fn drop_secondary_indexes(&self, tables: &[&str]) -> Result<IndexDefs> {
        let dropped = self.secondary_indexes(tables).await?;
        let mut tx = self.begin().await?;
        for (name, _) in &dropped.0 {
            let drop = format!("drop index \"{}\"", name.replace('"', ""));
            exec_tx!(tx, |c| sqlx::query(&drop).execute(c).await)?;
        }
        tx.commit().await?;
        Ok(dropped)
    }

    /// The secondary (not unique, not key) indexes of `tables`, table by table, by name.
    pub async fn secondary_indexes(&self, tables: &[&str]) -> Result<IndexDefs> {
        let sql = match self.backend() {
            crate::Backend::Sqlite => {
                "select name, sql from sqlite_master where type = 'index' and tbl_name = $1 \
                 and sql is not null and lower(sql) not like 'create unique%' order by name"
            }
            crate::Backend::Postgres => {
                "select indexname, indexdef from pg_indexes where schemaname = current_schema() \
                 and tablename = $1 and indexdef not like 'CREATE UNIQUE%' order by indexname"
            }
        };
        let mut out = Vec::new();
        for table in tables {
            let found: Vec<(String, String)> =
                read!(self, |c| sqlx::query_as(sql).bind(table).fetch_all(c).await)?;
            out.extend(found);
        }
        Ok(IndexDefs(out))
    }

    /// Makes the indexes [`Store::drop_secondary_indexes`] set aside, one transaction each.
    pub async fn build_indexes(&self, d: &IndexDefs) -> Result<()> {
        for (_, create) in &d.0 {
            let mut tx = self.begin().await?;
            exec_tx!(tx, |c| sqlx::query(create).execute(c).await)?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Canonical text of a row for [`Store::content_lines`].
fn line<T: std::fmt::Debug>(table: &str, row: T) -> String {
    format!("{table} {row:?}")
}

impl Store {
    /// `(office_no, id)` of every provider that has an office number, by office number.
    pub async fn provider_ids_by_office_no(&self) -> Result<Vec<(String, String)>> {
        Ok(read!(self, |c| sqlx::query_as::<_, (String, String)>(
            "select office_no, id from organisations where office_no is not null order by office_no"
        )
        .fetch_all(c)
        .await)?)
    }

    /// SQLite only: during a generation, turns off the fsync of commits on the writer connection
    /// (`synchronous = off`: a crash of the process loses nothing committed, a crash of the
    /// machine may corrupt the file, which a generated database can simply be made again after)
    /// and gives it a 256 MB page cache; `false` restores the settings every connection opens
    /// with (`synchronous = full`, 16 MB). The store keeps its one writer connection open, so
    /// the settings apply to every write in between.
    pub async fn set_bulk_load(&self, on: bool) -> Result<()> {
        if let Db::Sqlite { write, .. } = &self.db {
            let (sync, cache) = if on { ("off", "-262144") } else { ("full", "-16000") };
            let mut c = write.idle().await?;
            sqlx::query(&format!("pragma synchronous = {sync}")).execute(&mut *c).await?;
            sqlx::query(&format!("pragma cache_size = {cache}")).execute(&mut *c).await?;
        }
        Ok(())
    }

    /// The generated content as canonical text lines, table by table in key order, with
    /// providers named by their office number (the importer gives them random ids) and without
    /// password hashes (salted at random): two generations with the same seed give the same
    /// lines, on either backend. Reads everything into memory: for tests and small regions.
    pub async fn content_lines(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        macro_rules! dump {
            ($table:literal, $ty:ty, $sql:literal) => {{
                let rows: Vec<$ty> = read!(self, |c| sqlx::query_as::<_, $ty>($sql).fetch_all(c).await)?;
                out.extend(rows.into_iter().map(|r| line($table, r)));
            }};
        }
        type Provider = (String, String, String, String, String, Option<f64>, Option<f64>, String, String);
        dump!(
            "provider",
            Provider,
            "select office_no, kind, name, name_kana, address, latitude, longitude, phone, search_text \
             from organisations where office_no is not null order by office_no"
        );
        dump!(
            "service",
            (String, String),
            "select o.office_no, s.service from org_services s join organisations o on o.id = s.organisation_id \
             order by o.office_no, s.service"
        );
        dump!(
            "capability",
            (String, String),
            "select o.office_no, s.capability from org_capabilities s \
             join organisations o on o.id = s.organisation_id order by o.office_no, s.capability"
        );
        dump!(
            "department",
            (String, String),
            "select o.office_no, s.department from org_departments s \
             join organisations o on o.id = s.organisation_id order by o.office_no, s.department"
        );
        dump!(
            "organisation",
            (String, String, String, String),
            "select id, kind, name, name_kana from organisations where office_no is null order by id"
        );
        dump!(
            "district",
            (String, String, i64),
            "select name, support_center_id, position from districts order by name"
        );
        dump!(
            "user",
            (String, String, String, String, String, i64),
            "select id, login, display_name, display_name_kana, profession, created_at from users order by id"
        );
        dump!("duty", (String, String), "select user_id, duty from user_duties order by user_id, duty");
        dump!(
            "affiliation",
            (String, String),
            "select a.user_id, coalesce(o.office_no, o.id) from affiliations a \
             join organisations o on o.id = a.organisation_id order by a.user_id, 2"
        );
        type Patient =
            (String, String, String, String, String, String, Option<String>, Option<String>, String);
        dump!(
            "patient",
            Patient,
            "select id, name, name_kana, birth_date, sex, address, district, support_center_id, \
             attending_physician_id from patients order by id"
        );
        type Patient2 = (String, String, String, String, String, i64, Option<f64>, Option<f64>);
        dump!(
            "patient2",
            Patient2,
            "select id, care_level, conditions, medications, key_person, created_at, latitude, longitude \
             from patients order by id"
        );
        dump!(
            "consent",
            (String, String, String, i64),
            "select id, patient_id, recorded_by, recorded_at from consents order by id"
        );
        dump!(
            "member",
            (String, String, String, String, Option<i64>),
            "select patient_id, user_id, role, status, decided_at from team_members order by patient_id, user_id"
        );
        dump!(
            "team_event",
            (String, String, String, String, i64),
            "select id, patient_id, user_id, action, at from team_events order by id"
        );
        type Entry = (String, String, String, String, Option<String>, i64, i64, String, String);
        dump!(
            "entry",
            Entry,
            "select e.id, e.patient_id, e.kind, e.author_id, coalesce(o.office_no, o.id), e.created_at, \
             e.occurred_at, e.body, e.data from timeline_entries e \
             left join organisations o on o.id = e.author_org_id order by e.id"
        );
        type Entry2 = (String, bool, bool, Option<String>, Option<i64>, Option<String>);
        dump!(
            "entry2",
            Entry2,
            "select id, urgent, needs_reply, addressee_id, acknowledged_at, acknowledged_by \
             from timeline_entries order by id"
        );
        dump!(
            "vital",
            (String, String, f64, i64),
            "select entry_id, kind, value, measured_at from vital_signs order by entry_id, kind"
        );
        dump!(
            "read",
            (String, String, i64),
            "select entry_id, user_id, read_at from entry_reads order by entry_id, user_id"
        );
        dump!(
            "audit",
            (i64, i64, Option<String>, String, Option<String>, Option<String>, String),
            "select seq, at, actor_id, action, target_id, patient_id, hash from audit_events order by seq"
        );
        Ok(out)
    }
}
