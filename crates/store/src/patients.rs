//! Patients, consent, care teams, the timeline, vital signs, reads and emergency views.
//! Access is decided in the app layer; this module only stores and finds.

use crate::writer::{IntoVal, Val};
use crate::{Result, Store, Tx, TxInner, args, defer_tx, exec_tx, on_tx, read};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct PatientRow {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub name_folded: String,
    pub birth_date: String,
    pub sex: String,
    pub address: String,
    pub district: Option<String>,
    pub support_center_id: Option<String>,
    pub phone: String,
    pub care_level: String,
    pub insurance_number: Option<String>,
    pub key_person: String,
    pub emergency_contacts: String,
    pub conditions: String,
    pub allergies: String,
    pub medications: String,
    pub attending_physician_id: String,
    pub registered_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the patient lives (WGS 84), for "providers near my patient"; both or neither.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

const PATIENT_COLUMNS: &str = "id, name, name_kana, name_folded, birth_date, sex, address, district, \
     support_center_id, phone, care_level, insurance_number, key_person, emergency_contacts, \
     conditions, allergies, medications, attending_physician_id, registered_by, version, created_at, \
     updated_at, latitude, longitude";

/// Everything the patient gate decides on, for one person and one patient, read in one query:
/// the patient, the person's membership, whether a consent is in force, the person's open
/// emergency view, and whether anyone's emergency view waits to be seen by the attending physician.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct GateRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub patient: PatientRow,
    pub member_role: Option<String>,
    pub member_status: Option<String>,
    pub member_ends_at: Option<i64>,
    /// 1 when a consent is in force.
    pub consent_active: i64,
    /// When the person's open emergency view of the patient ends (none open: `None`).
    pub emergency_until: Option<i64>,
    /// 1 when someone's emergency view of the patient is not yet seen by the attending physician.
    pub unseen_emergencies: i64,
}

/// People's and organisations' names, as [`Store::names`] reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// (id, display name, login)
    pub users: Vec<(String, String, String)>,
    /// (id, name)
    pub organisations: Vec<(String, String)>,
}

/// An earlier version of a patient's summary: its fields as JSON, and who replaced it when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct PatientVersionRow {
    pub patient_id: String,
    pub version: i64,
    pub data: String,
    pub changed_by: String,
    pub changed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct ConsentRow {
    pub id: String,
    pub patient_id: String,
    pub consenter: String,
    pub proxy_name: Option<String>,
    pub proxy_relation: Option<String>,
    pub consented_on: String,
    pub scope: String,
    pub form_attachment_id: Option<String>,
    pub recorded_by: String,
    pub recorded_at: i64,
    pub withdrawn_at: Option<i64>,
    pub withdrawn_by: Option<String>,
    pub withdrawal_reason: Option<String>,
}

const CONSENT_COLUMNS: &str = "id, patient_id, consenter, proxy_name, proxy_relation, consented_on, \
     scope, form_attachment_id, recorded_by, recorded_at, withdrawn_at, withdrawn_by, withdrawal_reason";

/// A membership joined with the person's name, profession and first organisation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct MemberRow {
    pub patient_id: String,
    pub user_id: String,
    pub role: String,
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub note: String,
    pub display_name: String,
    pub login: String,
    pub profession: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct TeamEventRow {
    pub id: String,
    pub patient_id: String,
    pub user_id: String,
    pub action: String,
    pub actor_id: String,
    pub at: i64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct EntryRow {
    pub id: String,
    pub patient_id: String,
    pub kind: String,
    pub author_id: String,
    pub author_profession: String,
    pub author_org_id: Option<String>,
    pub created_at: i64,
    pub occurred_at: i64,
    pub body: String,
    pub data: String,
    pub corrects_id: Option<String>,
    pub urgent: bool,
    pub needs_reply: bool,
    pub addressee_id: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub escalated_at: Option<i64>,
}

pub(crate) const ENTRY_COLUMNS: &str = "id, patient_id, kind, author_id, author_profession, author_org_id, \
     created_at, occurred_at, body, data, corrects_id, urgent, needs_reply, addressee_id, \
     acknowledged_at, acknowledged_by, escalated_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct VitalRow {
    pub entry_id: String,
    pub patient_id: String,
    pub kind: String,
    pub value: f64,
    pub measured_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct EmergencyRow {
    pub id: String,
    pub patient_id: String,
    pub user_id: String,
    pub reason: String,
    pub opened_at: i64,
    pub expires_at: i64,
    pub seen_by_attending_at: Option<i64>,
}

/// A patient in someone's list, with their role and the counts that matter to them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct MyPatientRow {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub birth_date: String,
    pub role: String,
    pub status: String,
}

/// Entries of a patient not written by `$2` and not read by them. Reads only the index
/// `timeline_entries_unread_idx` and `entry_reads`' primary key (checked in `live::tests`).
pub(crate) const UNREAD_COUNT_SQL: &str = "select count(*) from timeline_entries e \
     where e.patient_id = $1 and e.author_id <> $2 \
     and not exists (select 1 from entry_reads r where r.entry_id = e.id and r.user_id = $2)";

/// Messages to `$2` on patient `$1` waiting for their acknowledgement (index
/// `timeline_entries_addressee_idx`).
pub(crate) const UNACKNOWLEDGED_COUNT_SQL: &str = "select count(*) from timeline_entries \
     where patient_id = $1 and addressee_id = $2 and needs_reply = $3 and acknowledged_at is null";

/// Urgent messages still waiting since before `$1`. `urgent = true` is written out, as in the
/// partial index `timeline_entries_waiting_idx`, so both databases use that index.
pub(crate) const WAITING_URGENT_SQL: &str = "from timeline_entries where urgent = true \
     and acknowledged_at is null and escalated_at is null and kind = 'message' and created_at < $1 \
     order by created_at";

/// "Of this patient" (`$1`) where rows are found by their ids: a check, not a search. Written as
/// an expression so that SQLite, which keeps no statistics here, probes the ids' keys instead of
/// walking the patient's whole index (to its planner `patient_id = ?` looks more selective than
/// twenty key lookups). PostgreSQL plans both forms alike.
pub(crate) const OF_PATIENT: &str = "patient_id || '' = $1";

/// What a timeline page asks for.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub kind: Option<String>,
    pub profession: Option<String>,
    /// Entries created before this (UTC micros), with `before_id` breaking ties: the page cursor.
    pub before: Option<(i64, String)>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Text contained in the body or the visit fields (already folded by the caller when searching).
    pub text: Option<String>,
    pub limit: i64,
}

/// The query of a timeline page (`$1` the patient, then the filter's values in order): the walk
/// down `timeline_entries_patient_idx` (or `timeline_entries_kind_idx` for one kind) from the
/// newest entry or the cursor, stopped after the page.
pub(crate) fn entries_sql(f: &EntryFilter) -> String {
    let mut sql = format!("select {ENTRY_COLUMNS} from timeline_entries where patient_id = $1");
    let mut n = 1;
    let mut next = |sql: &mut String, clause: &str| {
        n += 1;
        sql.push_str(&clause.replace('?', &format!("${n}")));
    };
    if f.kind.is_some() {
        next(&mut sql, " and kind = ?");
    }
    if f.profession.is_some() {
        next(&mut sql, " and author_profession = ?");
    }
    if f.from.is_some() {
        next(&mut sql, " and occurred_at >= ?");
    }
    if f.to.is_some() {
        next(&mut sql, " and occurred_at < ?");
    }
    if f.text.is_some() {
        next(&mut sql, " and (lower(body) like ? or lower(data) like ?)");
    }
    if f.before.is_some() {
        n += 1;
        let a = n;
        n += 1;
        // A row value, so both databases start the walk of the index at the cursor.
        sql.push_str(&format!(" and (created_at, id) < (${a}, ${n})"));
    }
    n += 1;
    sql.push_str(&format!(" order by created_at desc, id desc limit ${n}"));
    sql
}

/// `$from, $from+1, …`: `n` placeholders for a list of values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The vital signs of `n` entries of patient `$1` (`$2…`): probes of `vital_signs`' primary key.
pub(crate) fn vitals_of_entries_sql(n: usize) -> String {
    format!(
        "select entry_id, patient_id, kind, value, measured_at from vital_signs \
         where {OF_PATIENT} and entry_id in ({})",
        placeholders(2, n)
    )
}

/// The reads of `n` entries (`$1…`): probes of `entry_reads`' primary key. The caller sorts
/// the few rows found: an `order by` had SQLite open a temporary B-tree for them on every page
/// (issue 6), as it does in `corrections_of_sql`.
pub(crate) fn reads_of_entries_sql(n: usize) -> String {
    format!(
        "select r.entry_id, r.user_id, u.display_name, r.read_at from entry_reads r \
         join users u on u.id = r.user_id where r.entry_id in ({})",
        placeholders(1, n)
    )
}

/// The corrections of `n` entries of patient `$1` (`$2…`): probes of
/// `timeline_entries_corrects_idx` (the caller sorts the few found).
pub(crate) fn corrections_of_sql(n: usize) -> String {
    format!(
        "select corrects_id, id, created_at from timeline_entries \
         where {OF_PATIENT} and corrects_id in ({})",
        placeholders(2, n)
    )
}

/// When `n` entries of patient `$1` (`$2…`) were written: probes of the primary key.
pub(crate) fn entry_times_sql(n: usize) -> String {
    format!(
        "select id, created_at from timeline_entries where {OF_PATIENT} and id in ({})",
        placeholders(2, n)
    )
}

/// The values of a lookup of entries of one patient: `$1` the patient, `$2…` the entries.
fn of_patient(patient_id: &str, entry_ids: &[String]) -> Vec<Val> {
    let mut values = args![patient_id];
    values.extend(entry_ids.iter().map(IntoVal::into_val));
    values
}

/// A patient by id (built once, as the statements below: read on every open of a patient).
static PATIENT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("select {PATIENT_COLUMNS} from patients where id = $1"));

/// The consent in force, if any (the newest not withdrawn).
static ACTIVE_CONSENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {CONSENT_COLUMNS} from consents where patient_id = $1 and withdrawn_at is null \
         order by recorded_at desc, id desc limit 1"
    )
});

/// A timeline entry by id.
static ENTRY_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("select {ENTRY_COLUMNS} from timeline_entries where id = $1"));

/// [`Store::gate`]'s one statement (built once: every read of a patient runs it).
static GATE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {}, m.role as member_role, m.status as member_status, m.ends_at as member_ends_at, \
         cast(case when exists (select 1 from consents c where c.patient_id = p.id \
         and c.withdrawn_at is null) then 1 else 0 end as bigint) as consent_active, \
         (select max(e.expires_at) from emergency_accesses e where e.patient_id = p.id \
         and e.user_id = $2 and e.expires_at > $3) as emergency_until, \
         cast(case when exists (select 1 from emergency_accesses e \
         where e.patient_id = p.id and e.seen_by_attending_at is null) \
         then 1 else 0 end as bigint) as unseen_emergencies \
         from patients p left join team_members m on m.patient_id = p.id and m.user_id = $2 \
         where p.id = $1",
        crate::qualified(PATIENT_COLUMNS, "p")
    )
});

impl Store {
    /// Where a patient lives (latitude, longitude), when recorded. Callers go through the
    /// patient gate first.
    pub async fn patient_location(&self, id: &str) -> Result<Option<(f64, f64)>> {
        let r: Option<(Option<f64>, Option<f64>)> =
            read!(self, |c| sqlx::query_as("select latitude, longitude from patients where id = $1")
                .bind(id)
                .fetch_optional(c)
                .await)?;
        Ok(r.and_then(|(a, b)| a.zip(b)))
    }

    /// The gate's facts about patient `id` for person `user_id` at `now` (see [`GateRow`]):
    /// one statement, every part of it an index probe. `None`: no such patient.
    pub async fn gate(&self, id: &str, user_id: &str, now: i64) -> Result<Option<GateRow>> {
        self.fetch_optional(&GATE_SQL, args![id, user_id, now]).await
    }

    pub async fn patient(&self, id: &str) -> Result<Option<PatientRow>> {
        self.fetch_optional(&PATIENT_SQL, args![id]).await
    }

    /// The earlier versions of a patient's summary, oldest first.
    pub async fn patient_versions(&self, patient_id: &str) -> Result<Vec<PatientVersionRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, PatientVersionRow>(
            "select patient_id, version, data, changed_by, changed_at from patient_versions \
             where patient_id = $1 order by version"
        )
        .bind(patient_id)
        .fetch_all(c)
        .await)?)
    }

    /// Patients with the same folded kana name and birth date (a likely duplicate).
    pub async fn patients_like(&self, name_folded: &str, birth_date: &str) -> Result<Vec<PatientRow>> {
        let sql = format!(
            "select {PATIENT_COLUMNS} from patients where name_folded = $1 and birth_date = $2 order by id"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, PatientRow>(&sql)
            .bind(name_folded)
            .bind(birth_date)
            .fetch_all(c)
            .await)?)
    }

    pub async fn count_patients(&self) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as("select count(*) from patients").fetch_one(c).await)?;
        Ok(n.0)
    }

    /// The patients a person attends or is (or asked to be) on the team of.
    pub async fn my_patients(&self, user_id: &str) -> Result<Vec<MyPatientRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, MyPatientRow>(
            "select p.id, p.name, p.name_kana, p.birth_date, 'attending' as role, 'active' as status \
             from patients p where p.attending_physician_id = $1 \
             union all \
             select p.id, p.name, p.name_kana, p.birth_date, m.role, m.status \
             from team_members m join patients p on p.id = m.patient_id \
             where m.user_id = $1 and p.attending_physician_id <> $1 \
             and m.status in ('active', 'pending') \
             order by name_kana, id"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    /// The consent in force, if any (the newest not withdrawn).
    pub async fn active_consent(&self, patient_id: &str) -> Result<Option<ConsentRow>> {
        self.fetch_optional(&ACTIVE_CONSENT_SQL, args![patient_id]).await
    }

    pub async fn consents(&self, patient_id: &str) -> Result<Vec<ConsentRow>> {
        let sql = format!(
            "select {CONSENT_COLUMNS} from consents where patient_id = $1 order by recorded_at desc, id desc"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, ConsentRow>(&sql).bind(patient_id).fetch_all(c).await)?)
    }

    /// One consent by its id (the FHIR `Consent/{id}`); the caller runs the gate on its patient.
    pub async fn consent_by_id(&self, id: &str) -> Result<Option<ConsentRow>> {
        let sql = format!("select {CONSENT_COLUMNS} from consents where id = $1");
        Ok(read!(self, |c| sqlx::query_as::<_, ConsentRow>(&sql).bind(id).fetch_optional(c).await)?)
    }

    /// One person's membership on one patient's team.
    pub async fn membership(&self, patient_id: &str, user_id: &str) -> Result<Option<MemberRow>> {
        self.fetch_optional(
            "select m.patient_id, m.user_id, m.role, m.status, m.requested_by, m.requested_at, \
             m.decided_by, m.decided_at, m.ends_at, m.note, u.display_name, u.login, u.profession, u.email \
             from team_members m join users u on u.id = m.user_id \
             where m.patient_id = $1 and m.user_id = $2",
            args![patient_id, user_id],
        )
        .await
    }

    pub async fn team(&self, patient_id: &str) -> Result<Vec<MemberRow>> {
        self.fetch_all(
            "select m.patient_id, m.user_id, m.role, m.status, m.requested_by, m.requested_at, \
             m.decided_by, m.decided_at, m.ends_at, m.note, u.display_name, u.login, u.profession, u.email \
             from team_members m join users u on u.id = m.user_id \
             where m.patient_id = $1 order by m.requested_at, m.user_id",
            args![patient_id],
        )
        .await
    }

    pub async fn team_events(&self, patient_id: &str) -> Result<Vec<TeamEventRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, TeamEventRow>(
            "select id, patient_id, user_id, action, actor_id, at, note from team_events \
             where patient_id = $1 order by at desc, id desc"
        )
        .bind(patient_id)
        .fetch_all(c)
        .await)?)
    }

    /// The emergency view a person has open on a patient, if any.
    pub async fn open_emergency(
        &self,
        patient_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<EmergencyRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, EmergencyRow>(
            "select id, patient_id, user_id, reason, opened_at, expires_at, seen_by_attending_at \
             from emergency_accesses where patient_id = $1 and user_id = $2 and expires_at > $3 \
             order by expires_at desc limit 1"
        )
        .bind(patient_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn emergency_accesses(&self, patient_id: &str) -> Result<Vec<EmergencyRow>> {
        self.fetch_all(
            "select id, patient_id, user_id, reason, opened_at, expires_at, seen_by_attending_at \
             from emergency_accesses where patient_id = $1 order by opened_at desc",
            args![patient_id],
        )
        .await
    }

    pub async fn entry(&self, id: &str) -> Result<Option<EntryRow>> {
        self.fetch_optional(&ENTRY_SQL, args![id]).await
    }

    /// A page of a patient's timeline, newest first.
    pub async fn entries(&self, patient_id: &str, f: &EntryFilter) -> Result<Vec<EntryRow>> {
        let sql = entries_sql(f);
        let text = f.text.as_ref().map(|t| format!("%{}%", t.replace(['%', '_'], "")));
        // In the order of `entries_sql`'s placeholders.
        let mut values = args![patient_id];
        values.extend(f.kind.as_ref().map(IntoVal::into_val));
        values.extend(f.profession.as_ref().map(IntoVal::into_val));
        values.extend(f.from.map(IntoVal::into_val));
        values.extend(f.to.map(IntoVal::into_val));
        values.extend(text.as_ref().map(IntoVal::into_val));
        if let Some((at, id)) = &f.before {
            values.extend(args![*at, id]);
        }
        values.push(f.limit.clamp(1, 200).into_val());
        self.fetch_all(&sql, values).await
    }

    /// Vital signs of one kind between two times, oldest first.
    pub async fn vitals(&self, patient_id: &str, from: i64, to: i64) -> Result<Vec<VitalRow>> {
        Ok(read!(self, |c| sqlx::query_as::<_, VitalRow>(
            "select v.entry_id, v.patient_id, v.kind, v.value, v.measured_at from vital_signs v \
             where v.patient_id = $1 and v.measured_at >= $2 and v.measured_at < $3 \
             and not exists (select 1 from timeline_entries c where c.corrects_id = v.entry_id) \
             order by v.measured_at, v.kind"
        )
        .bind(patient_id)
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await)?)
    }

    /// The vital signs of some entries (for showing them on the timeline).
    pub async fn vitals_of_entries(&self, patient_id: &str, entry_ids: &[String]) -> Result<Vec<VitalRow>> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = vitals_of_entries_sql(entry_ids.len());
        self.fetch_all(&sql, of_patient(patient_id, entry_ids)).await
    }

    /// Who has read which of these entries: (entry id, user id, display name, read at), by time.
    pub async fn reads_of_entries(&self, entry_ids: &[String]) -> Result<Vec<(String, String, String, i64)>> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = reads_of_entries_sql(entry_ids.len());
        let mut reads: Vec<(String, String, String, i64)> =
            self.fetch_all(&sql, entry_ids.iter().map(IntoVal::into_val).collect()).await?;
        reads.sort_by(|a, b| (a.3, &a.0, &a.1).cmp(&(b.3, &b.0, &b.1)));
        Ok(reads)
    }

    /// Entries of a patient the person has not read (not counting their own).
    pub async fn unread_count(&self, patient_id: &str, user_id: &str) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as(UNREAD_COUNT_SQL)
            .bind(patient_id)
            .bind(user_id)
            .fetch_one(c)
            .await)?;
        Ok(n.0)
    }

    /// Messages to the person that still wait for an acknowledgement.
    pub async fn unacknowledged_count(&self, patient_id: &str, user_id: &str) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as(UNACKNOWLEDGED_COUNT_SQL)
            .bind(patient_id)
            .bind(user_id)
            .bind(true)
            .fetch_one(c)
            .await)?;
        Ok(n.0)
    }

    /// Urgent messages nobody acknowledged since before `older_than`, not yet escalated.
    pub async fn unacknowledged_urgent(&self, older_than: i64) -> Result<Vec<EntryRow>> {
        let sql = format!("select {ENTRY_COLUMNS} {WAITING_URGENT_SQL}");
        Ok(read!(self, |c| sqlx::query_as::<_, EntryRow>(&sql).bind(older_than).fetch_all(c).await)?)
    }
}

impl Tx {
    pub async fn insert_patient(&mut self, p: &PatientRow) -> Result<()> {
        let sql = format!(
            "insert into patients ({PATIENT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.name_kana)
            .bind(&p.name_folded)
            .bind(&p.birth_date)
            .bind(&p.sex)
            .bind(&p.address)
            .bind(&p.district)
            .bind(&p.support_center_id)
            .bind(&p.phone)
            .bind(&p.care_level)
            .bind(&p.insurance_number)
            .bind(&p.key_person)
            .bind(&p.emergency_contacts)
            .bind(&p.conditions)
            .bind(&p.allergies)
            .bind(&p.medications)
            .bind(&p.attending_physician_id)
            .bind(&p.registered_by)
            .bind(p.version)
            .bind(p.created_at)
            .bind(p.updated_at)
            .bind(p.latitude)
            .bind(p.longitude)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Replaces a patient's summary if its version is still `expected_version`, keeping the old
    /// version's JSON. Returns false when someone else changed it first.
    pub async fn update_patient(
        &mut self,
        p: &PatientRow,
        expected_version: i64,
        old_json: &str,
        changed_by: &str,
    ) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update patients set name = $3, name_kana = $4, name_folded = $5, birth_date = $6, sex = $7, \
             address = $8, district = $9, support_center_id = $10, phone = $11, care_level = $12, \
             insurance_number = $13, key_person = $14, emergency_contacts = $15, conditions = $16, \
             allergies = $17, medications = $18, version = $2 + 1, updated_at = $19, latitude = $20, \
             longitude = $21 where id = $1 and version = $2"
        )
        .bind(&p.id)
        .bind(expected_version)
        .bind(&p.name)
        .bind(&p.name_kana)
        .bind(&p.name_folded)
        .bind(&p.birth_date)
        .bind(&p.sex)
        .bind(&p.address)
        .bind(&p.district)
        .bind(&p.support_center_id)
        .bind(&p.phone)
        .bind(&p.care_level)
        .bind(&p.insurance_number)
        .bind(&p.key_person)
        .bind(&p.emergency_contacts)
        .bind(&p.conditions)
        .bind(&p.allergies)
        .bind(&p.medications)
        .bind(p.updated_at)
        .bind(p.latitude)
        .bind(p.longitude)
        .execute(c)
        .await)?;
        if n != 1 {
            return Ok(false);
        }
        exec_tx!(self, |c| sqlx::query(
            "insert into patient_versions (patient_id, version, data, changed_by, changed_at) \
             values ($1, $2, $3, $4, $5)"
        )
        .bind(&p.id)
        .bind(expected_version)
        .bind(old_json)
        .bind(changed_by)
        .bind(p.updated_at)
        .execute(c)
        .await)?;
        Ok(true)
    }

    pub async fn insert_consent(&mut self, c0: &ConsentRow) -> Result<()> {
        let sql = format!(
            "insert into consents ({CONSENT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13)"
        );
        exec_tx!(self, |c| sqlx::query(&sql)
            .bind(&c0.id)
            .bind(&c0.patient_id)
            .bind(&c0.consenter)
            .bind(&c0.proxy_name)
            .bind(&c0.proxy_relation)
            .bind(&c0.consented_on)
            .bind(&c0.scope)
            .bind(&c0.form_attachment_id)
            .bind(&c0.recorded_by)
            .bind(c0.recorded_at)
            .bind(c0.withdrawn_at)
            .bind(&c0.withdrawn_by)
            .bind(&c0.withdrawal_reason)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Withdraws every consent in force. Returns how many were.
    pub async fn withdraw_consents(
        &mut self,
        patient_id: &str,
        by: &str,
        reason: &str,
        now: i64,
    ) -> Result<u64> {
        exec_tx!(self, |c| sqlx::query(
            "update consents set withdrawn_at = $2, withdrawn_by = $3, withdrawal_reason = $4 \
             where patient_id = $1 and withdrawn_at is null"
        )
        .bind(patient_id)
        .bind(now)
        .bind(by)
        .bind(reason)
        .execute(c)
        .await)
        .map_err(Into::into)
    }

    /// Writes (creates or replaces) a membership and records the change in the team history.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_member(
        &mut self,
        patient_id: &str,
        user_id: &str,
        role: &str,
        status: &str,
        actor_id: &str,
        now: i64,
        ends_at: Option<i64>,
        note: &str,
        event_id: &str,
    ) -> Result<()> {
        let decided = status != "pending";
        exec_tx!(self, |c| sqlx::query(
            "insert into team_members (patient_id, user_id, role, status, requested_by, requested_at, \
             decided_by, decided_at, ends_at, note) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             on conflict (patient_id, user_id) do update set role = $3, status = $4, \
             decided_by = $7, decided_at = $8, ends_at = $9, note = $10"
        )
        .bind(patient_id)
        .bind(user_id)
        .bind(role)
        .bind(status)
        .bind(actor_id)
        .bind(now)
        .bind(decided.then_some(actor_id))
        .bind(decided.then_some(now))
        .bind(ends_at)
        .bind(note)
        .execute(&mut *c)
        .await)?;
        exec_tx!(self, |c| sqlx::query(
            "insert into team_events (id, patient_id, user_id, action, actor_id, at, note) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(event_id)
        .bind(patient_id)
        .bind(user_id)
        .bind(status)
        .bind(actor_id)
        .bind(now)
        .bind(note)
        .execute(c)
        .await)?;
        Ok(())
    }

    pub async fn insert_entry(&mut self, e: &EntryRow) -> Result<()> {
        let sql = format!(
            "insert into timeline_entries ({ENTRY_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        defer_tx!(
            self,
            &sql,
            [
                &e.id,
                &e.patient_id,
                &e.kind,
                &e.author_id,
                &e.author_profession,
                &e.author_org_id,
                e.created_at,
                e.occurred_at,
                &e.body,
                &e.data,
                &e.corrects_id,
                e.urgent,
                e.needs_reply,
                &e.addressee_id,
                e.acknowledged_at,
                &e.acknowledged_by,
                e.escalated_at,
            ]
        )?;
        Ok(())
    }

    pub async fn insert_vital(&mut self, v: &VitalRow) -> Result<()> {
        defer_tx!(
            self,
            "insert into vital_signs (entry_id, patient_id, kind, value, measured_at) values ($1, $2, $3, $4, $5)",
            [&v.entry_id, &v.patient_id, &v.kind, v.value, v.measured_at]
        )?;
        Ok(())
    }

    /// Marks entries read by a person (already-read ones stay as they were).
    pub async fn mark_read(&mut self, entry_ids: &[String], user_id: &str, now: i64) -> Result<()> {
        // One statement per page of entries, not one per entry.
        for chunk in entry_ids.chunks(200) {
            let rows: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, $1, $2)", i + 3)).collect();
            let sql = format!(
                "insert into entry_reads (entry_id, user_id, read_at) values {} \
                 on conflict (entry_id, user_id) do nothing",
                rows.join(", ")
            );
            match &mut self.inner {
                TxInner::Sqlite(t) => {
                    let mut args = vec![user_id.into_val(), now.into_val()];
                    args.extend(chunk.iter().map(|id| id.into_val()));
                    t.defer(&sql, args).await?;
                }
                TxInner::Postgres(t) => {
                    let mut q = sqlx::query(&sql).bind(user_id).bind(now);
                    for id in chunk {
                        q = q.bind(id);
                    }
                    q.execute(&mut **t).await?;
                }
            }
        }
        Ok(())
    }

    /// Acknowledges a message once. Returns whether it was still unacknowledged.
    pub async fn acknowledge(&mut self, entry_id: &str, user_id: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update timeline_entries set acknowledged_at = $3, acknowledged_by = $2 \
             where id = $1 and acknowledged_at is null"
        )
        .bind(entry_id)
        .bind(user_id)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    /// Marks a message escalated, once, and only while nobody has acknowledged it. Returns
    /// whether it was marked (false: acknowledged or escalated meanwhile, by this or another
    /// process).
    pub async fn mark_escalated(&mut self, entry_id: &str, now: i64) -> Result<bool> {
        let n = exec_tx!(self, |c| sqlx::query(
            "update timeline_entries set escalated_at = $2 \
             where id = $1 and escalated_at is null and acknowledged_at is null"
        )
        .bind(entry_id)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(n == 1)
    }

    pub async fn insert_emergency(&mut self, e: &EmergencyRow) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "insert into emergency_accesses (id, patient_id, user_id, reason, opened_at, expires_at, \
             seen_by_attending_at) values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&e.id)
        .bind(&e.patient_id)
        .bind(&e.user_id)
        .bind(&e.reason)
        .bind(e.opened_at)
        .bind(e.expires_at)
        .bind(e.seen_by_attending_at)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// Marks the patient's emergency views as seen by the attending physician (see
    /// [`GateRow::unseen_emergencies`] to skip the write when there are none).
    pub async fn mark_emergencies_seen(&mut self, patient_id: &str, now: i64) -> Result<()> {
        exec_tx!(self, |c| sqlx::query(
            "update emergency_accesses set seen_by_attending_at = $2 \
             where patient_id = $1 and seen_by_attending_at is null"
        )
        .bind(patient_id)
        .bind(now)
        .execute(c)
        .await)?;
        Ok(())
    }

    /// The patient as this transaction sees it (for checks inside a write).
    pub async fn patient_in_tx(&mut self, id: &str) -> Result<Option<PatientRow>> {
        let sql = format!("select {PATIENT_COLUMNS} from patients where id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as::<_, PatientRow>(&sql).bind(id).fetch_optional(c).await)?)
    }
}

/// Lookups the timeline page makes once per page, not once per entry.
impl Store {
    /// Entries of a patient that correct any of these: (corrected id, correcting id, created at),
    /// oldest first.
    pub async fn corrections_of(
        &self,
        patient_id: &str,
        entry_ids: &[String],
    ) -> Result<Vec<(String, String, i64)>> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = corrections_of_sql(entry_ids.len());
        let mut found: Vec<(String, String, i64)> =
            self.fetch_all(&sql, of_patient(patient_id, entry_ids)).await?;
        found.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
        Ok(found)
    }

    /// When these entries of a patient were written: (id, created at).
    pub async fn entry_times(&self, patient_id: &str, entry_ids: &[String]) -> Result<Vec<(String, i64)>> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = entry_times_sql(entry_ids.len());
        self.fetch_all(&sql, of_patient(patient_id, entry_ids)).await
    }

    /// The names of these people: (id, display name, login).
    pub async fn user_names(&self, user_ids: &[String]) -> Result<Vec<(String, String, String)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..user_ids.len()).map(|i| format!("${}", i + 1)).collect();
        let sql =
            format!("select id, display_name, login from users where id in ({})", placeholders.join(", "));
        self.fetch_all(&sql, user_ids.iter().map(IntoVal::into_val).collect()).await
    }

    /// The names of these people (id, display name, login) and of these organisations (id,
    /// name), in one statement.
    pub async fn names(&self, user_ids: &[String], org_ids: &[String]) -> Result<Names> {
        if user_ids.is_empty() && org_ids.is_empty() {
            return Ok(Names::default());
        }
        let list =
            |from: usize, n: usize| (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !user_ids.is_empty() {
            parts.push(format!(
                "select 'u' as k, id, display_name as name, login from users where id in ({})",
                list(1, user_ids.len())
            ));
        }
        if !org_ids.is_empty() {
            parts.push(format!(
                "select 'o' as k, id, name, '' as login from organisations where id in ({})",
                list(user_ids.len() + 1, org_ids.len())
            ));
        }
        let sql = parts.join(" union all ");
        let rows: Vec<(String, String, String, String)> =
            self.fetch_all(&sql, user_ids.iter().chain(org_ids).map(IntoVal::into_val).collect()).await?;
        let mut names = Names::default();
        for (k, id, name, login) in rows {
            if k == "u" {
                names.users.push((id, name, login));
            } else {
                names.organisations.push((id, name));
            }
        }
        Ok(names)
    }
}
