//! Patient information sharing: THE gate. Every path into patient data (pages, the API, exports,
//! live updates) calls [`App::patient_access`] through the use cases below: it gathers the facts,
//! asks the domain rule, writes the audit event, and answers `NotFound` alike for a patient who
//! does not exist and one the actor may not see.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tsunagu_domain::audit::{Action, NewEvent, Outcome};
use tsunagu_domain::person::Profession;
use tsunagu_domain::sharing::{
    Access, AccessFacts, CareLevel, CarePlace, Consenter, EntryKind, MemberStatus, Resuscitation, Sex,
    TeamRole, VitalKind, decide, needs_approval, parse_date,
};
use tsunagu_domain::validation::text;
use tsunagu_domain::{FieldError, Invalid, Timestamp};
use tsunagu_store::patients::{
    ConsentRow, EmergencyRow, EntryFilter, EntryRow, GateRow, MemberRow, PatientRow, PatientVersionRow,
    TeamEventRow, VitalRow,
};

use crate::live::PatientEvent;
use crate::{Actor, App, AppError, Result};

/// How long an emergency view lasts.
pub const EMERGENCY_SECS: i64 = 24 * 3600;
/// Entries per timeline page.
pub const PAGE_SIZE: i64 = 20;

/// A patient as the gate let the actor see them.
#[derive(Debug, Clone)]
pub struct Opened {
    pub patient: PatientRow,
    pub access: Access,
    /// Someone's emergency view of the patient is not yet seen by the attending physician
    /// (the attending physician's next read marks it seen).
    pub unseen_emergencies: bool,
}

/// A new patient as submitted.
#[derive(Debug, Clone, Default)]
pub struct NewPatient {
    pub name: String,
    pub name_kana: String,
    pub birth_date: String,
    pub sex: String,
    pub address: String,
    pub district: String,
    pub phone: String,
    pub care_level: String,
    pub insurance_number: String,
    pub key_person: String,
    pub emergency_contacts: String,
    pub conditions: String,
    pub allergies: String,
    pub medications: String,
    /// Where the patient lives, `lat,lon` (optional): for "providers near my patient".
    pub location: String,
    /// Staff of a clinic or hospital name the attending physician by login; a physician
    /// registering their own patient leaves it empty.
    pub attending_login: String,
    /// The person registering has seen the likely duplicates and confirms this is another person.
    pub confirmed_not_duplicate: bool,
}

/// The answer to a registration.
#[derive(Debug, Clone)]
// Answered once per registration: the size of the created row does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Registered {
    Created(PatientRow),
    /// Patients with the same kana name and birth date exist: (id, name, visible to the actor).
    LikelyDuplicates(Vec<(String, String, bool)>),
}

/// A consent as submitted.
#[derive(Debug, Clone, Default)]
pub struct NewConsent {
    pub consenter: String,
    pub proxy_name: String,
    pub proxy_relation: String,
    pub consented_on: String,
    pub scope: String,
    /// The signed consent form (an image or a PDF), if one is attached.
    pub form: Option<crate::attachments::Upload>,
}

/// A visit record (the fields the 2024 在宅医療情報連携加算 asks for) with optional vitals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VisitData {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subjective: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub objective: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assessment: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_visit: Option<String>,
    #[serde(default)]
    pub policy_changed: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cautions: String,
}

/// An ACP (人生会議) record: the wishes, when they were talked over and who was there. Codes are
/// those of [`CarePlace`] and [`Resuscitation`]; an ACP entry written before these fields existed
/// has them all empty (its text is in the body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcpData {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub care_place: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub care_place_note: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub death_place: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub death_place_note: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resuscitation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub other_wishes: String,
    /// The date of the conversation, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub discussed_on: String,
    /// Who was present (本人、長女、主治医、…).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub present: String,
}

impl AcpData {
    /// The structured ACP of an entry, if it is an ACP entry with any field recorded.
    pub fn of(e: &EntryRow) -> Option<AcpData> {
        if e.kind != EntryKind::Acp.code() {
            return None;
        }
        let d: AcpData = serde_json::from_str(&e.data).unwrap_or_default();
        (d != AcpData::default()).then_some(d)
    }
}

/// A new timeline entry as submitted.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub kind: String,
    /// When the visit or measurement happened, `YYYY-MM-DDTHH:MM` in Japan time; empty: now.
    pub occurred_at: String,
    pub body: String,
    pub visit: VisitData,
    /// The ACP fields of an `acp` entry.
    pub acp: AcpData,
    /// (vital kind code, typed value)
    pub vitals: Vec<(String, String)>,
    pub urgent: bool,
    pub needs_reply: bool,
    pub addressee_login: String,
    /// The entry this one corrects.
    pub corrects_id: Option<String>,
}

/// An entry as shown on the timeline.
#[derive(Debug, Clone)]
pub struct EntryView {
    pub entry: EntryRow,
    pub author_name: String,
    pub author_org: Option<String>,
    pub visit: Option<VisitData>,
    /// The structured fields of an ACP entry.
    pub acp: Option<AcpData>,
    pub vitals: Vec<VitalRow>,
    /// (name, read at)
    pub read_by: Vec<(String, i64)>,
    /// The ids of those who read it (to mark only what the reader had not read yet).
    pub reader_ids: Vec<String>,
    /// Newer versions correct this one.
    pub corrected_by: Option<String>,
    /// When the newer version was written (for a link that pages to it).
    pub corrected_by_at: Option<i64>,
    /// When the entry this one corrects was written.
    pub corrects_at: Option<i64>,
    /// The addressee of a message, by name.
    pub addressee_name: Option<String>,
    /// Who acknowledged a message, by name.
    pub acknowledged_by_name: Option<String>,
}

/// Someone a message about a patient can be addressed to: the attending physician or an
/// active member.
#[derive(Debug, Clone)]
pub struct Teammate {
    pub user_id: String,
    pub login: String,
    pub display_name: String,
    pub profession: String,
    pub role: String,
}

/// Everything the patient page shows, from one pass through the gate.
#[derive(Debug, Clone)]
pub struct PatientPage {
    pub opened: Opened,
    pub consent: Option<ConsentRow>,
    /// The responsible community support center's name.
    pub support_center: Option<String>,
    /// The attending physician first, then the active members.
    pub team: Vec<Teammate>,
    pub entries: Vec<EntryView>,
    /// Older entries follow the last one shown.
    pub more: bool,
    /// The latest ACP entry (the newest version), whatever page of the timeline is shown.
    pub acp: Option<EntryRow>,
    /// Emergency views of the patient, newest first: for the attending physician only.
    pub emergency_notices: Vec<EmergencyNotice>,
}

/// The writes a read of a patient owes before it answers (see `App::write_read`).
#[derive(Default)]
pub(crate) struct ReadRecord {
    events: Vec<NewEvent>,
    /// Entries shown to the reader for the first time.
    unread: Vec<String>,
    /// The patient whose emergency views the attending physician has now seen.
    mark_seen: Option<String>,
}

/// A patient in "my patients".
#[derive(Debug, Clone)]
pub struct MyPatient {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub birth_date: String,
    pub role: String,
    pub status: String,
    pub unread: i64,
    pub unacknowledged: i64,
}

/// The emergency summary (DESIGN §3.6).
#[derive(Debug, Clone)]
pub struct EmergencySummary {
    pub patient: PatientRow,
    pub latest_vitals: Vec<VitalRow>,
    pub team: Vec<MemberRow>,
    pub acp: Option<EntryRow>,
    pub consent_active: bool,
    pub expires_at: Option<i64>,
    /// How the actor sees it: as a team member, or through an emergency view.
    pub access: Access,
}

impl EmergencySummary {
    /// The structured fields of the latest ACP entry.
    pub fn acp_data(&self) -> Option<AcpData> {
        self.acp.as_ref().and_then(AcpData::of)
    }
}

/// One change of a patient's summary: who, when, and which fields (never the values).
#[derive(Debug, Clone)]
pub struct PatientChange {
    /// The version the change replaced.
    pub version: i64,
    pub changed_by_name: String,
    pub changed_at: i64,
    pub fields: Vec<String>,
}

/// The summary fields a person can edit, as kept in `patient_versions`.
fn patient_fields(p: &PatientRow) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    };
    put("name", &p.name);
    put("name_kana", &p.name_kana);
    put("birth_date", &p.birth_date);
    put("sex", &p.sex);
    put("address", &p.address);
    put("district", p.district.as_deref().unwrap_or(""));
    put("phone", &p.phone);
    put("care_level", &p.care_level);
    put("insurance_number", p.insurance_number.as_deref().unwrap_or(""));
    put("key_person", &p.key_person);
    put("emergency_contacts", &p.emergency_contacts);
    put("conditions", &p.conditions);
    put("allergies", &p.allergies);
    put("medications", &p.medications);
    // Kept only when recorded, so versions written before locations existed compare equal.
    if let Some(loc) = location_text(p) {
        put("location", &loc);
    }
    m
}

/// A patient's home location as the form shows it, `lat,lon`.
pub fn location_text(p: &PatientRow) -> Option<String> {
    p.latitude.zip(p.longitude).map(|(lat, lon)| format!("{lat},{lon}"))
}

/// The names of the fields that differ between two versions, in the form's order (a field
/// present in one version only, like a location recorded or removed, differs too).
fn changed_fields(
    old: &serde_json::Map<String, serde_json::Value>,
    new: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    new.keys()
        .chain(old.keys().filter(|k| !new.contains_key(*k)))
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

fn parse_patient_id(id: &str) -> Option<String> {
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_hyphenated().to_string())
}

/// `YYYY-MM-DDTHH:MM` (Japan time) → UTC micros.
pub fn parse_local_minutes(field: &'static str, s: &str) -> Result<Option<i64>, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let dt =
        time::PrimitiveDateTime::parse(s, &fmt).map_err(|_| FieldError::new(field, "error.bad_datetime"))?;
    let t = dt.assume_offset(time::macros::offset!(+9));
    let micros = i64::try_from(t.unix_timestamp_nanos() / 1000)
        .map_err(|_| FieldError::new(field, "error.bad_datetime"))?;
    Ok(Some(micros))
}

impl App {
    /// THE gate: what `actor` may do with patient `id`. Unknown ids, malformed ids and hidden
    /// patients are all `NotFound`, and each refusal is an audit event.
    pub async fn patient_access(&self, actor: &Actor, id: &str) -> Result<Opened> {
        let now = self.now();
        let refused = |detail: &str| {
            actor
                .event(now, Action::AccessRefused, Outcome::Refused)
                .target("patient", id.chars().take(40).collect::<String>())
                .detail(detail)
        };
        let Some(pid) = parse_patient_id(id) else {
            self.store.append_audit(vec![refused("patient")]).await?;
            return Err(AppError::NotFound);
        };
        // The patient and every fact the rule needs, in one query.
        let Some(g) = self.store.gate(&pid, &actor.user_id, now.micros()).await? else {
            self.store.append_audit(vec![refused("patient")]).await?;
            return Err(AppError::NotFound);
        };
        let access = self.access_from(actor, &g);
        if access == Access::None {
            self.store.append_audit(vec![refused("patient").patient(&g.patient.id)]).await?;
            return Err(AppError::NotFound);
        }
        Ok(Opened { unseen_emergencies: g.unseen_emergencies == 1, patient: g.patient, access })
    }

    /// Records a refusal about patient `id` (named in the event when it is a real patient: the
    /// disclosure printout shows who tried) and answers `err`. For refusals after the gate let
    /// the actor through: a reader who may not do this, a read-only token.
    pub(crate) async fn refused(&self, actor: &Actor, id: &str, detail: &str, err: AppError) -> AppError {
        let mut e = actor
            .event(self.now(), Action::AccessRefused, Outcome::Refused)
            .target("patient", id.chars().take(40).collect::<String>())
            .detail(detail);
        if let Some(pid) = parse_patient_id(id) {
            match self.store.patient(&pid).await {
                Ok(Some(p)) => e = e.patient(p.id),
                Ok(None) => {}
                Err(s) => return s.into(),
            }
        }
        match self.store.append_audit(vec![e]).await {
            Ok(()) => err,
            Err(s) => s.into(),
        }
    }

    /// What `actor` may do with a patient the caller already holds (no audit event).
    async fn access_of(&self, actor: &Actor, patient: &PatientRow) -> Result<Access> {
        Ok(match self.store.gate(&patient.id, &actor.user_id, self.now().micros()).await? {
            Some(g) => self.access_from(actor, &g),
            None => Access::None,
        })
    }

    /// The access rule applied to the gate's facts.
    fn access_from(&self, actor: &Actor, g: &GateRow) -> Access {
        decide(&AccessFacts {
            now: self.now(),
            is_attending: g.patient.attending_physician_id == actor.user_id,
            membership: AccessFacts::membership_of(
                g.member_role.as_deref(),
                g.member_status.as_deref(),
                g.member_ends_at,
            ),
            consent_active: g.consent_active == 1,
            emergency_until: if self.is_emergency_physician(actor) { g.emergency_until } else { None },
        })
    }

    /// A physician of an organisation marked as an emergency hospital.
    pub fn is_emergency_physician(&self, actor: &Actor) -> bool {
        actor.profession == Profession::Physician
            && actor.affiliations.iter().any(|a| a.is_emergency_hospital)
    }

    /// Opens a patient for reading (team members only) and audits the read.
    pub async fn open_patient(&self, actor: &Actor, id: &str) -> Result<Opened> {
        let o = self.patient_access(actor, id).await?;
        self.open_accessed(actor, o).await
    }

    /// [`Self::open_patient`] after the gate's `patient_access` was already passed: refuses a
    /// non-reader, and audits the read. The attending physician's read also marks emergency
    /// views of the patient as seen (a write only when there are unseen ones).
    pub(crate) async fn open_accessed(&self, actor: &Actor, o: Opened) -> Result<Opened> {
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "patient", AppError::NotFound).await);
        }
        let record = self.read_record(actor, &o);
        self.write_read(actor, record).await?;
        Ok(o)
    }

    /// What reading an opened patient owes: its audit event, and the marking of emergency
    /// views as seen when the attending physician reads.
    fn read_record(&self, actor: &Actor, o: &Opened) -> ReadRecord {
        let read = actor.event(self.now(), Action::PatientRead, Outcome::Success).patient(&o.patient.id);
        let attending = o.access == Access::Member(TeamRole::Attending);
        ReadRecord {
            events: vec![read],
            unread: Vec::new(),
            mark_seen: (attending && o.unseen_emergencies).then(|| o.patient.id.clone()),
        }
    }

    /// Writes what a read owes, before it answers: audit events alone join the writer's next
    /// commit; with entries to mark read or emergency views to mark seen, one transaction.
    async fn write_read(&self, actor: &Actor, r: ReadRecord) -> Result<()> {
        if r.unread.is_empty() && r.mark_seen.is_none() {
            return Ok(self.store.append_audit(r.events).await?);
        }
        let now = self.now().micros();
        let mut tx = self.store.begin().await?;
        if let Some(patient_id) = &r.mark_seen {
            tx.mark_emergencies_seen(patient_id, now).await?;
        }
        if !r.unread.is_empty() {
            tx.mark_read(&r.unread, &actor.user_id, now).await?;
        }
        for e in r.events {
            tx.append_audit(e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Where a patient lives, for "providers near my patient": opened (and audited) like any
    /// read of the patient, so a non-member gets the same `NotFound` as for a missing patient.
    pub async fn patient_location(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Option<tsunagu_domain::directory::GeoPoint>> {
        let o = self.open_patient(actor, id).await?;
        Ok(self
            .store
            .patient_location(&o.patient.id)
            .await?
            .and_then(|(lat, lon)| tsunagu_domain::directory::GeoPoint::new(lat, lon).ok()))
    }

    /// Opens a patient for a write by a team member (read-only tokens refused).
    pub(crate) async fn open_for_write(&self, actor: &Actor, id: &str) -> Result<Opened> {
        let o = self.patient_access(actor, id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "write", AppError::NotFound).await);
        }
        if let Err(e) = actor.ensure_may_write() {
            return Err(self.refused(actor, &o.patient.id, "read-only", e).await);
        }
        Ok(o)
    }

    /// Opens a patient for managing the team and consent (attending or sub-attending).
    async fn open_for_management(&self, actor: &Actor, id: &str) -> Result<Opened> {
        let o = self.open_for_write(actor, id).await?;
        if !o.access.can_manage_team() {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::AccessRefused, Outcome::Refused)
                        .patient(&o.patient.id)
                        .detail("team management"),
                ])
                .await?;
            return Err(AppError::Forbidden);
        }
        Ok(o)
    }

    fn validate_patient(&self, input: &NewPatient, errs: &mut Invalid) -> Option<PatientRow> {
        let mut t = |f: &'static str, v: &str, req: bool, max: usize| {
            text(f, v, req, max).map_err(|e| errs.push(e)).unwrap_or_default()
        };
        let name = t("name", &input.name, true, 60);
        let name_kana = t("name_kana", &input.name_kana, true, 60);
        let address = t("address", &input.address, false, 200);
        let district = t("district", &input.district, false, 40);
        let phone = t("phone", &input.phone, false, 20);
        let insurance = t("insurance_number", &input.insurance_number, false, 20);
        let key_person = t("key_person", &input.key_person, false, 200);
        let contacts = t("emergency_contacts", &input.emergency_contacts, false, 1000);
        let conditions = t("conditions", &input.conditions, false, 2000);
        let allergies = t("allergies", &input.allergies, false, 1000);
        let medications = t("medications", &input.medications, false, 4000);
        if !name_kana.is_empty() && !tsunagu_domain::text::is_kana_text(&name_kana) {
            errs.push(FieldError::new("name_kana", "error.kana_only"));
        }
        if !phone.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ') {
            errs.push(FieldError::new("phone", "error.phone_chars"));
        }
        if !insurance.chars().all(|c| c.is_ascii_digit()) {
            errs.push(FieldError::new("insurance_number", "error.digits_only"));
        }
        let birth_date = match parse_date("birth_date", &input.birth_date, true) {
            Ok(Some(d)) if d.as_str() <= self.now().rfc3339().get(..10).unwrap_or("9999") => d,
            Ok(_) => {
                errs.push(FieldError::new("birth_date", "error.bad_date"));
                String::new()
            }
            Err(e) => {
                errs.push(e);
                String::new()
            }
        };
        let sex = Sex::parse("sex", &input.sex).map_err(|e| errs.push(e)).ok();
        let care_level = if input.care_level.trim().is_empty() {
            Some(CareLevel::None)
        } else {
            CareLevel::parse("care_level", &input.care_level).map_err(|e| errs.push(e)).ok()
        };
        let location = if input.location.trim().is_empty() {
            None
        } else {
            tsunagu_domain::directory::GeoPoint::parse_pair(&input.location)
                .map_err(|e| errs.push(FieldError { field: "location", ..e }))
                .ok()
        };
        Some(PatientRow {
            id: String::new(),
            name_folded: tsunagu_domain::text::name_key(&name_kana),
            name,
            name_kana,
            birth_date,
            sex: sex?.code().to_string(),
            address,
            district: (!district.is_empty()).then_some(district),
            support_center_id: None,
            phone,
            care_level: care_level?.code().to_string(),
            insurance_number: (!insurance.is_empty()).then_some(insurance),
            key_person,
            emergency_contacts: contacts,
            conditions,
            allergies,
            medications,
            attending_physician_id: String::new(),
            registered_by: String::new(),
            version: 1,
            created_at: 0,
            updated_at: 0,
            latitude: location.map(|p| p.lat),
            longitude: location.map(|p| p.lon),
        })
    }

    /// Registers a patient. A physician becomes the attending physician; staff of a clinic or
    /// hospital name a physician of their own organisation. A likely duplicate (same kana name
    /// and birth date) is pointed out first.
    pub async fn register_patient(&self, actor: &Actor, input: NewPatient) -> Result<Registered> {
        actor.ensure_may_write()?;
        let now = self.now();
        let mut errs = Invalid::default();
        let row = self.validate_patient(&input, &mut errs);
        let attending = if input.attending_login.trim().is_empty() {
            if actor.profession != Profession::Physician {
                errs.push(FieldError::new("attending_login", "error.attending_required"));
            }
            Some(actor.user_id.clone())
        } else {
            match self.store.user_by_login(input.attending_login.trim()).await? {
                Some(u) if u.profession == Profession::Physician.code() && u.disabled_at.is_none() => {
                    let theirs = self.store.affiliations_of(&u.id).await?;
                    let shared = theirs
                        .iter()
                        .any(|a| actor.affiliations.iter().any(|m| m.organisation_id == a.organisation_id));
                    if shared || u.id == actor.user_id {
                        Some(u.id)
                    } else {
                        errs.push(FieldError::new("attending_login", "error.attending_not_colleague"));
                        None
                    }
                }
                _ => {
                    errs.push(FieldError::new("attending_login", "error.attending_unknown"));
                    None
                }
            }
        };
        if !self.can_register_patients(actor) {
            self.store
                .append_audit(vec![
                    actor.event(now, Action::AccessRefused, Outcome::Refused).detail("patient registration"),
                ])
                .await?;
            return Err(AppError::Forbidden);
        }
        errs.clone().into_result()?;
        let (Some(mut row), Some(attending)) = (row, attending) else {
            return Err(AppError::Invalid(errs));
        };
        if !input.confirmed_not_duplicate {
            let likes = self.store.patients_like(&row.name_folded, &row.birth_date).await?;
            if !likes.is_empty() {
                let mut out = Vec::new();
                for p in likes {
                    let visible = self.access_of(actor, &p).await?.can_read();
                    let name = if visible { p.name.clone() } else { String::new() };
                    out.push((if visible { p.id } else { String::new() }, name, visible));
                }
                return Ok(Registered::LikelyDuplicates(out));
            }
        }
        if let Some(d) = &row.district {
            row.support_center_id = self.store.center_for_district(d).await?.map(|c| c.id);
        }
        row.id = uuid::Uuid::now_v7().to_string();
        row.attending_physician_id = attending;
        row.registered_by = actor.user_id.clone();
        row.created_at = now.micros();
        row.updated_at = now.micros();
        let mut tx = self.store.begin().await?;
        tx.insert_patient(&row).await?;
        tx.append_audit(
            actor
                .event(now, Action::PatientRegistered, Outcome::Success)
                .patient(&row.id)
                .target("patient", &row.id),
        )
        .await?;
        tx.commit().await?;
        Ok(Registered::Created(row))
    }

    /// Changes a patient's summary (team members). Nothing changes silently: the old version is
    /// kept, the change is audited with the names of the changed fields (never the values), and
    /// a summary someone else changed since `expected_version` was read is refused.
    pub async fn update_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
        input: NewPatient,
        expected_version: i64,
    ) -> Result<PatientRow> {
        let o = self.open_for_write(actor, patient_id).await?;
        let now = self.now();
        let mut errs = Invalid::default();
        let row = self.validate_patient(&input, &mut errs);
        errs.clone().into_result()?;
        let Some(mut row) = row else { return Err(AppError::Invalid(errs)) };
        let conflict = || AppError::Invalid(FieldError::new("version", "error.version_conflict").into());
        let old = o.patient;
        if old.version != expected_version {
            return Err(conflict());
        }
        row.id = old.id.clone();
        row.attending_physician_id = old.attending_physician_id.clone();
        row.registered_by = old.registered_by.clone();
        row.created_at = old.created_at;
        row.updated_at = now.micros();
        row.support_center_id = if row.district == old.district {
            old.support_center_id.clone()
        } else {
            match &row.district {
                Some(d) => self.store.center_for_district(d).await?.map(|c| c.id),
                None => None,
            }
        };
        let before = patient_fields(&old);
        let fields = changed_fields(&before, &patient_fields(&row));
        if fields.is_empty() {
            return Ok(old);
        }
        let old_json = serde_json::Value::Object(before).to_string();
        let mut tx = self.store.begin().await?;
        if !tx.update_patient(&row, expected_version, &old_json, &actor.user_id).await? {
            return Err(conflict());
        }
        tx.append_audit(
            actor
                .event(now, Action::PatientUpdated, Outcome::Success)
                .patient(&row.id)
                .target("patient", &row.id)
                .detail(fields.join(",")),
        )
        .await?;
        tx.commit().await?;
        row.version = expected_version + 1;
        Ok(row)
    }

    /// A patient (members only; the read is audited) with the changes of their summary, newest
    /// first: who, when and which fields.
    pub async fn patient_history(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<(Opened, Vec<PatientChange>)> {
        let o = self.open_patient(actor, patient_id).await?;
        let versions: Vec<PatientVersionRow> = self.store.patient_versions(&o.patient.id).await?;
        let mut people: Vec<String> = versions.iter().map(|v| v.changed_by.clone()).collect();
        people.sort();
        people.dedup();
        let names = self.store.user_names(&people).await?;
        let parse = |data: &str| match serde_json::from_str::<serde_json::Value>(data) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let current = patient_fields(&o.patient);
        let mut out = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let next = versions.get(i + 1).map(|n| parse(&n.data)).unwrap_or_else(|| current.clone());
            out.push(PatientChange {
                version: v.version,
                changed_by_name: names
                    .iter()
                    .find(|n| n.0 == v.changed_by)
                    .map(|n| n.1.clone())
                    .unwrap_or_default(),
                changed_at: v.changed_at,
                fields: changed_fields(&parse(&v.data), &next),
            });
        }
        out.reverse();
        Ok((o, out))
    }

    /// Records a consent (attending or sub-attending physician).
    pub async fn record_consent(
        &self,
        actor: &Actor,
        patient_id: &str,
        input: NewConsent,
    ) -> Result<ConsentRow> {
        let o = self.open_for_management(actor, patient_id).await?;
        let now = self.now();
        let mut errs = Invalid::default();
        let consenter = Consenter::from_code(input.consenter.trim())
            .ok_or(())
            .map_err(|_| errs.push(FieldError::new("consenter", "error.unknown_choice")))
            .ok();
        // "Today" is the date in Japan: before 09:00 JST the UTC date is still yesterday.
        let today = now.jst_minutes();
        let consented_on = match parse_date("consented_on", &input.consented_on, true) {
            Ok(Some(d)) if d.as_str() <= today.get(..10).unwrap_or("9999") => Some(d),
            Ok(_) => {
                errs.push(FieldError::new("consented_on", "error.future_date"));
                None
            }
            Err(e) if e.code == "error.required" => {
                errs.push(FieldError::new("consented_on", "error.consent_date_required"));
                None
            }
            Err(e) => {
                errs.push(e);
                None
            }
        };
        let scope = text("scope", &input.scope, true, 500).map_err(|e| errs.push(e)).unwrap_or_default();
        let proxy_name =
            text("proxy_name", &input.proxy_name, false, 60).map_err(|e| errs.push(e)).unwrap_or_default();
        let proxy_relation = text("proxy_relation", &input.proxy_relation, false, 30)
            .map_err(|e| errs.push(e))
            .unwrap_or_default();
        if consenter == Some(Consenter::Proxy) {
            if proxy_name.is_empty() {
                errs.push(FieldError::new("proxy_name", "error.required"));
            }
            if proxy_relation.is_empty() {
                errs.push(FieldError::new("proxy_relation", "error.required"));
            }
        }
        let form = self.check_consent_form(input.form.as_ref(), &mut errs).await?;
        errs.into_result()?;
        let (Some(consenter), Some(consented_on)) = (consenter, consented_on) else {
            return Err(AppError::Internal("validated consent lost a field".into()));
        };
        let proxy = consenter == Consenter::Proxy;
        let row = ConsentRow {
            id: uuid::Uuid::now_v7().to_string(),
            patient_id: o.patient.id.clone(),
            consenter: consenter.code().to_string(),
            proxy_name: proxy.then_some(proxy_name),
            proxy_relation: proxy.then_some(proxy_relation),
            consented_on,
            scope,
            form_attachment_id: form.as_ref().map(|f| f.id().to_string()),
            recorded_by: actor.user_id.clone(),
            recorded_at: now.micros(),
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawal_reason: None,
        };
        // The signed form's files are written (and fsynced) before the rows commit.
        self.with_consent_form(form.as_ref(), async {
            let mut tx = self.store.begin().await?;
            tx.insert_consent(&row).await?;
            if let Some(f) = &form {
                f.insert(&mut tx, &o.patient.id, &row.id, actor, now.micros()).await?;
            }
            tx.append_audit(
                actor
                    .event(now, Action::ConsentRecorded, Outcome::Success)
                    .patient(&o.patient.id)
                    .target("consent", &row.id),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(row)
    }

    /// Withdraws consent: every member but the attending physician loses access at once.
    pub async fn withdraw_consent(&self, actor: &Actor, patient_id: &str, reason: &str) -> Result<()> {
        let o = self.open_for_management(actor, patient_id).await?;
        let now = self.now();
        let reason = text("reason", reason, true, 500)?;
        let mut tx = self.store.begin().await?;
        let n = tx.withdraw_consents(&o.patient.id, &actor.user_id, &reason, now.micros()).await?;
        if n == 0 {
            return Err(Invalid::one("reason", "error.no_active_consent").into());
        }
        tx.append_audit(actor.event(now, Action::ConsentWithdrawn, Outcome::Success).patient(&o.patient.id))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn consents(&self, actor: &Actor, patient_id: &str) -> Result<Vec<ConsentRow>> {
        let o = self.open_patient(actor, patient_id).await?;
        Ok(self.store.consents(&o.patient.id).await?)
    }

    /// Asks to join a patient's team. The answer is the same whether or not the patient exists
    /// or has consent (a non-member learns nothing); a request is recorded only when it can be.
    pub async fn request_to_join(&self, actor: &Actor, patient_id: &str) -> Result<()> {
        if let Err(e) = actor.ensure_may_write() {
            return Err(self.refused(actor, patient_id, "read-only", e).await);
        }
        let now = self.now();
        // Unknown and malformed ids are refused (and audited) without a word to the person.
        let unknown = || {
            actor
                .event(now, Action::TeamRequested, Outcome::Refused)
                .target("patient", patient_id.chars().take(40).collect::<String>())
        };
        let Some(pid) = parse_patient_id(patient_id) else {
            self.store.append_audit(vec![unknown()]).await?;
            return Ok(());
        };
        let Some(patient) = self.store.patient(&pid).await? else {
            self.store.append_audit(vec![unknown()]).await?;
            return Ok(());
        };
        let consent = self.store.active_consent(&pid).await?.is_some();
        let existing = self.store.membership(&pid, &actor.user_id).await?;
        let mut tx = self.store.begin().await?;
        // An active membership whose end date has passed may ask again; people who are never on
        // a care team (DESIGN §3.3: administrators, city officials, commissioners) may not.
        let blocked = patient.attending_physician_id == actor.user_id
            || !offered_to_teams(actor.profession.code())
            || existing.as_ref().is_some_and(|m| {
                m.status == "pending" || (m.status == "active" && m.ends_at.is_none_or(|e| e > now.micros()))
            });
        if consent && !blocked {
            tx.put_member(
                &pid,
                &actor.user_id,
                TeamRole::Member.code(),
                MemberStatus::Pending.code(),
                &actor.user_id,
                now.micros(),
                None,
                "",
                &uuid::Uuid::now_v7().to_string(),
            )
            .await?;
        }
        let outcome = if consent && !blocked { Outcome::Success } else { Outcome::Refused };
        tx.append_audit(actor.event(now, Action::TeamRequested, outcome).patient(&pid)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a person to the team. A physician or dentist invited by the attending or
    /// sub-attending physician joins at once (as sub-attending when `role` says so); anyone
    /// proposed by another member waits, pending, for a physician's approval.
    pub async fn add_member(&self, actor: &Actor, patient_id: &str, login: &str, role: &str) -> Result<()> {
        let o = self.open_for_write(actor, patient_id).await?;
        let now = self.now();
        if self.store.active_consent(&o.patient.id).await?.is_none() {
            return Err(Invalid::one("login", "error.no_active_consent").into());
        }
        let role = if role.trim().is_empty() {
            TeamRole::Member
        } else {
            TeamRole::from_code(role.trim()).ok_or_else(|| Invalid::one("role", "error.unknown_choice"))?
        };
        if role == TeamRole::Attending {
            return Err(Invalid::one("role", "error.unknown_choice").into());
        }
        let Some(user) = self.store.user_by_login(login.trim()).await?.filter(|u| u.disabled_at.is_none())
        else {
            return Err(Invalid::one("login", "error.person_unknown").into());
        };
        if user.id == o.patient.attending_physician_id {
            return Err(Invalid::one("login", "error.already_member").into());
        }
        if !offered_to_teams(&user.profession) {
            return Err(Invalid::one("login", "error.not_for_teams").into());
        }
        let profession = Profession::from_code(&user.profession).unwrap_or(Profession::Clerk);
        if role == TeamRole::SubAttending && profession != Profession::Physician {
            return Err(Invalid::one("role", "error.sub_attending_physician").into());
        }
        if let Some(m) = self.store.membership(&o.patient.id, &user.id).await?
            && m.status == "active"
        {
            return Err(Invalid::one("login", "error.already_member").into());
        }
        let manager = o.access.can_manage_team();
        if role == TeamRole::SubAttending && !manager {
            return Err(self.refused(actor, &o.patient.id, "team management", AppError::Forbidden).await);
        }
        // A physician's say-so admits at once; anything else waits for one.
        let active = manager && (!needs_approval(profession) || actor.profession == Profession::Physician);
        let status = if active { MemberStatus::Active } else { MemberStatus::Pending };
        let action = if active { Action::TeamInvited } else { Action::TeamRequested };
        let mut tx = self.store.begin().await?;
        tx.put_member(
            &o.patient.id,
            &user.id,
            role.code(),
            status.code(),
            &actor.user_id,
            now.micros(),
            None,
            "",
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
        tx.append_audit(
            actor.event(now, action, Outcome::Success).patient(&o.patient.id).target("user", &user.id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Approves or refuses a pending member (attending or sub-attending physician).
    pub async fn decide_member(
        &self,
        actor: &Actor,
        patient_id: &str,
        user_id: &str,
        approve: bool,
    ) -> Result<()> {
        let o = self.open_for_management(actor, patient_id).await?;
        let now = self.now();
        let m = self.store.membership(&o.patient.id, user_id).await?.ok_or(AppError::NotFound)?;
        if m.status != "pending" {
            return Err(Invalid::one("user", "error.not_pending").into());
        }
        if approve && self.store.active_consent(&o.patient.id).await?.is_none() {
            return Err(Invalid::one("user", "error.no_active_consent").into());
        }
        let status = if approve { MemberStatus::Active } else { MemberStatus::Refused };
        let mut tx = self.store.begin().await?;
        tx.put_member(
            &o.patient.id,
            user_id,
            &m.role,
            status.code(),
            &actor.user_id,
            now.micros(),
            None,
            "",
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
        let action = if approve { Action::TeamApproved } else { Action::TeamRefused };
        tx.append_audit(
            actor.event(now, action, Outcome::Success).patient(&o.patient.id).target("user", user_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member, or (with `ends_on`) sets the date their membership ends.
    pub async fn end_membership(
        &self,
        actor: &Actor,
        patient_id: &str,
        user_id: &str,
        ends_on: Option<&str>,
    ) -> Result<()> {
        let leaving_self = user_id == actor.user_id;
        let o = if leaving_self {
            self.open_for_write(actor, patient_id).await?
        } else {
            self.open_for_management(actor, patient_id).await?
        };
        if leaving_self && o.patient.attending_physician_id == actor.user_id {
            return Err(self.refused(actor, &o.patient.id, "attending leaving", AppError::Forbidden).await);
        }
        let now = self.now();
        let m = self.store.membership(&o.patient.id, user_id).await?.ok_or(AppError::NotFound)?;
        let ends_at = match ends_on {
            Some(d) => match parse_date("ends_on", d, true)? {
                Some(d) => Some(
                    parse_local_minutes("ends_on", &format!("{d}T00:00"))?
                        .ok_or_else(|| Invalid::one("ends_on", "error.bad_date"))?,
                ),
                None => None,
            },
            None => None,
        };
        let (status, action) = match ends_at {
            Some(_) => (m.status.as_str(), Action::TeamApproved),
            None => (MemberStatus::Removed.code(), Action::TeamRemoved),
        };
        let mut tx = self.store.begin().await?;
        tx.put_member(
            &o.patient.id,
            user_id,
            &m.role,
            status,
            &actor.user_id,
            now.micros(),
            ends_at,
            if ends_at.is_some() { "ends" } else { "" },
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
        tx.append_audit(
            actor.event(now, action, Outcome::Success).patient(&o.patient.id).target("user", user_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The team with its history (team members only).
    pub async fn team(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<(Opened, Vec<MemberRow>, Vec<TeamEventRow>)> {
        let o = self.open_patient(actor, patient_id).await?;
        let team = self.store.team(&o.patient.id).await?;
        let events = self.store.team_events(&o.patient.id).await?;
        Ok((o, team, events))
    }

    /// Writes a timeline entry (members only). Entries are never edited: a correction is a new
    /// entry naming the one it corrects.
    pub async fn write_entry(&self, actor: &Actor, patient_id: &str, input: NewEntry) -> Result<EntryRow> {
        let o = self.open_for_write(actor, patient_id).await?;
        self.write_opened_entry(actor, o, input).await
    }

    /// [`Self::write_entry`] for a patient already opened with `open_for_write`.
    pub(crate) async fn write_opened_entry(
        &self,
        actor: &Actor,
        o: Opened,
        input: NewEntry,
    ) -> Result<EntryRow> {
        let now = self.now();
        let mut errs = Invalid::default();
        let kind = EntryKind::from_code(input.kind.trim())
            .filter(|k| *k != EntryKind::File)
            .ok_or(())
            .map_err(|_| errs.push(FieldError::new("kind", "error.unknown_choice")))
            .ok();
        let occurred_at = match parse_local_minutes("occurred_at", &input.occurred_at) {
            Ok(Some(t)) if t > now.plus_seconds(300).micros() => {
                errs.push(FieldError::new("occurred_at", "error.future_date"));
                now.micros()
            }
            Ok(t) => t.unwrap_or(now.micros()),
            Err(e) => {
                errs.push(e);
                now.micros()
            }
        };
        let body = text("body", &input.body, false, 10_000).map_err(|e| errs.push(e)).unwrap_or_default();
        let mut visit = input.visit.clone();
        for (f, v) in [
            ("subjective", &mut visit.subjective),
            ("objective", &mut visit.objective),
            ("assessment", &mut visit.assessment),
            ("plan", &mut visit.plan),
            ("cautions", &mut visit.cautions),
        ] {
            *v = text(f, v, false, 4000).map_err(|e| errs.push(e)).unwrap_or_default();
        }
        if let Some(n) = &visit.next_visit {
            visit.next_visit = parse_date("next_visit", n, false).map_err(|e| errs.push(e)).ok().flatten();
        }
        let mut vitals = Vec::new();
        for (code, value) in &input.vitals {
            let Some(k) = VitalKind::from_code(code) else {
                errs.push(FieldError::new("vitals", "error.unknown_choice"));
                continue;
            };
            match k.parse(vital_field(k), value) {
                Ok(Some(v)) => vitals.push((k, v)),
                Ok(None) => {}
                Err(e) => errs.push(e),
            }
        }
        let addressee = if input.addressee_login.trim().is_empty() {
            None
        } else {
            match self.store.user_by_login(input.addressee_login.trim()).await? {
                Some(u) if self.is_member_or_attending(&o.patient, &u.id).await? => Some(u.id),
                _ => {
                    errs.push(FieldError::new("addressee", "error.addressee_not_member"));
                    None
                }
            }
        };
        let corrects = match &input.corrects_id {
            Some(c) if !c.trim().is_empty() => match self.store.entry(c.trim()).await? {
                Some(e) if e.patient_id == o.patient.id && e.author_id == actor.user_id => Some(e),
                _ => {
                    errs.push(FieldError::new("corrects_id", "error.cannot_correct"));
                    None
                }
            },
            _ => None,
        };
        // Versions form a line: only the latest is corrected, by an entry of its own kind.
        if let Some(c) = &corrects {
            if !self.store.corrections_of(&o.patient.id, std::slice::from_ref(&c.id)).await?.is_empty() {
                errs.push(FieldError::new("corrects_id", "error.already_corrected"));
            } else if kind.is_some_and(|k| k.code() != c.kind) {
                errs.push(FieldError::new("corrects_id", "error.correction_kind"));
            }
        }
        if let Some(k) = kind {
            let has_visit_text = !visit.subjective.is_empty()
                || !visit.objective.is_empty()
                || !visit.assessment.is_empty()
                || !visit.plan.is_empty();
            let empty = match k {
                EntryKind::Vitals => vitals.is_empty(),
                EntryKind::Visit => body.is_empty() && !has_visit_text && vitals.is_empty(),
                // The date and who was present are required; the wishes may be in the body.
                EntryKind::Acp => false,
                _ => body.is_empty(),
            };
            if empty {
                errs.push(FieldError::new(
                    if k == EntryKind::Vitals { "vitals" } else { "body" },
                    "error.required",
                ));
            }
            if (input.needs_reply || input.urgent) && k != EntryKind::Message {
                errs.push(FieldError::new("urgent", "error.only_messages"));
            }
            if k == EntryKind::Message && input.needs_reply && addressee.is_none() && !errs.has("addressee") {
                errs.push(FieldError::new("addressee", "error.required"));
            }
        }
        let acp = if kind == Some(EntryKind::Acp) { self.validate_acp(&input.acp, &mut errs) } else { None };
        errs.into_result()?;
        let Some(kind) = kind else { return Err(AppError::Internal("validated entry lost its kind".into())) };
        let author_org = actor.affiliations.first().map(|a| a.organisation_id.clone());
        let data = if kind == EntryKind::Visit {
            serde_json::to_string(&visit).map_err(|e| AppError::Internal(e.to_string()))?
        } else if let Some(acp) = &acp {
            serde_json::to_string(acp).map_err(|e| AppError::Internal(e.to_string()))?
        } else {
            "{}".to_string()
        };
        let row = EntryRow {
            id: uuid::Uuid::now_v7().to_string(),
            patient_id: o.patient.id.clone(),
            kind: kind.code().to_string(),
            author_id: actor.user_id.clone(),
            author_profession: actor.profession.code().to_string(),
            author_org_id: author_org,
            created_at: now.micros(),
            occurred_at,
            body,
            data,
            corrects_id: corrects.as_ref().map(|c| c.id.clone()),
            urgent: input.urgent && kind == EntryKind::Message,
            needs_reply: input.needs_reply && kind == EntryKind::Message,
            addressee_id: addressee,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_entry(&row).await?;
        for (k, v) in vitals {
            tx.insert_vital(&VitalRow {
                entry_id: row.id.clone(),
                patient_id: row.patient_id.clone(),
                kind: k.code().to_string(),
                value: v,
                measured_at: occurred_at,
            })
            .await?;
        }
        // The author has read what they wrote.
        tx.mark_read(std::slice::from_ref(&row.id), &actor.user_id, now.micros()).await?;
        let action = if row.corrects_id.is_some() { Action::EntryCorrected } else { Action::EntryWritten };
        tx.append_audit(
            actor.event(now, action, Outcome::Success).patient(&row.patient_id).target("entry", &row.id),
        )
        .await?;
        // Members watching the patient hear of it once it is committed (see `live`).
        let ev = PatientEvent { patient_id: row.patient_id.clone(), entry_id: row.id.clone() };
        self.announce_in_tx(&mut tx, &ev).await?;
        tx.commit().await?;
        self.announce_committed(ev);
        Ok(row)
    }

    /// The ACP fields: the wishes as known codes, the date of the conversation (required, not in
    /// the future in Japan) and who was present (required).
    fn validate_acp(&self, input: &AcpData, errs: &mut Invalid) -> Option<AcpData> {
        let mut t = |f: &'static str, v: &str, req: bool, max: usize| {
            text(f, v, req, max).map_err(|e| errs.push(e)).unwrap_or_default()
        };
        let mut d = AcpData {
            care_place: String::new(),
            care_place_note: t("care_place_note", &input.care_place_note, false, 200),
            death_place: String::new(),
            death_place_note: t("death_place_note", &input.death_place_note, false, 200),
            resuscitation: String::new(),
            other_wishes: t("other_wishes", &input.other_wishes, false, 4000),
            discussed_on: String::new(),
            present: t("present", &input.present, true, 500),
        };
        let mut choice = |f: &'static str, v: &str, ok: bool| {
            if v.trim().is_empty() || ok {
                v.trim().to_string()
            } else {
                errs.push(FieldError::new(f, "error.unknown_choice"));
                String::new()
            }
        };
        d.care_place =
            choice("care_place", &input.care_place, CarePlace::from_code(input.care_place.trim()).is_some());
        d.death_place = choice(
            "death_place",
            &input.death_place,
            CarePlace::from_code(input.death_place.trim()).is_some(),
        );
        d.resuscitation = choice(
            "resuscitation",
            &input.resuscitation,
            Resuscitation::from_code(input.resuscitation.trim()).is_some(),
        );
        let today = self.now().jst_minutes();
        match parse_date("discussed_on", &input.discussed_on, true) {
            Ok(Some(x)) if x.as_str() <= today.get(..10).unwrap_or("9999") => d.discussed_on = x,
            Ok(_) => errs.push(FieldError::new("discussed_on", "error.future_date")),
            Err(e) => errs.push(e),
        }
        Some(d)
    }

    /// The patient's current ACP: of the versions not corrected since, the conversation held
    /// last (by its date, else when it was written). A correction of an older conversation
    /// written later does not hide a newer one.
    async fn latest_acp(&self, patient_id: &str) -> Result<Option<EntryRow>> {
        let filter =
            EntryFilter { kind: Some(EntryKind::Acp.code().into()), limit: 200, ..Default::default() };
        let entries = self.store.entries(patient_id, &filter).await?;
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let corrected = self.store.corrections_of(patient_id, &ids).await?;
        Ok(entries.into_iter().filter(|e| !corrected.iter().any(|c| c.0 == e.id)).max_by_key(|e| {
            let on = AcpData::of(e).map(|d| d.discussed_on).unwrap_or_default();
            (on, e.created_at)
        }))
    }

    async fn is_member_or_attending(&self, p: &PatientRow, user_id: &str) -> Result<bool> {
        if p.attending_physician_id == user_id {
            return Ok(true);
        }
        Ok(self.store.membership(&p.id, user_id).await?.is_some_and(|m| m.status == "active"))
    }

    /// A page of the timeline, newest first; marks what is shown as read and audits the read.
    pub async fn timeline(
        &self,
        actor: &Actor,
        patient_id: &str,
        filter: EntryFilter,
    ) -> Result<(Opened, Vec<EntryView>)> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "timeline", AppError::NotFound).await);
        }
        let mut record = ReadRecord::default();
        let (views, _more) = self.read_timeline(actor, &o, filter, &mut record).await?;
        self.write_read(actor, record).await?;
        Ok((o, views))
    }

    /// A page of an opened patient's timeline and whether older entries follow (one more than
    /// the page is fetched to know). Only what is shown is to be marked read; the read is to be
    /// audited: both go into `record`, which the caller writes before answering.
    async fn read_timeline(
        &self,
        actor: &Actor,
        o: &Opened,
        filter: EntryFilter,
        record: &mut ReadRecord,
    ) -> Result<(Vec<EntryView>, bool)> {
        let now = self.now();
        let mut filter = filter;
        let limit = if filter.limit <= 0 { PAGE_SIZE } else { filter.limit.min(100) };
        filter.limit = limit + 1;
        filter.text = filter.text.map(|t| t.to_lowercase()).filter(|t| !t.trim().is_empty());
        let mut entries = self.store.entries(&o.patient.id, &filter).await?;
        let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let shown = entries.len();
        let views = self.entry_views(&o.patient, entries).await?;
        record.unread.extend(
            views.iter().filter(|v| !v.reader_ids.contains(&actor.user_id)).map(|v| v.entry.id.clone()),
        );
        record.events.push(
            actor.event(now, Action::TimelineRead, Outcome::Success).patient(&o.patient.id).detail(shown),
        );
        Ok((views, more))
    }

    /// Entries with their authors, organisations, addressees, vitals, readers and corrections,
    /// in a fixed number of queries whatever the number of entries.
    pub(crate) async fn entry_views(
        &self,
        patient: &PatientRow,
        entries: Vec<EntryRow>,
    ) -> Result<Vec<EntryView>> {
        fn distinct(mut v: Vec<String>) -> Vec<String> {
            v.sort();
            v.dedup();
            v
        }
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let vitals = self.store.vitals_of_entries(&patient.id, &ids).await?;
        let reads = self.store.reads_of_entries(&ids).await?;
        let corrections = self.store.corrections_of(&patient.id, &ids).await?;
        let originals = distinct(entries.iter().filter_map(|e| e.corrects_id.clone()).collect());
        let original_times = self.store.entry_times(&patient.id, &originals).await?;
        let people = distinct(
            entries
                .iter()
                .flat_map(|e| [Some(&e.author_id), e.addressee_id.as_ref(), e.acknowledged_by.as_ref()])
                .flatten()
                .cloned()
                .collect(),
        );
        let orgs = distinct(entries.iter().filter_map(|e| e.author_org_id.clone()).collect());
        let names = self.store.names(&people, &orgs).await?;
        let name_of = |id: &str| names.users.iter().find(|n| n.0 == id).map(|n| n.1.clone());
        // The rows move to their entries (in the order found) rather than being copied: a
        // page's vitals and reads are a hundred rows or more (issue 6).
        let mut vitals_of: HashMap<String, Vec<VitalRow>> = HashMap::new();
        for v in vitals {
            vitals_of.entry(v.entry_id.clone()).or_default().push(v);
        }
        // Per entry: (name, read at) of each reader, and the readers' ids.
        type Reads = (Vec<(String, i64)>, Vec<String>);
        let mut reads_of: HashMap<String, Reads> = HashMap::new();
        for (entry_id, user_id, name, at) in reads {
            let (read_by, readers) = reads_of.entry(entry_id).or_default();
            read_by.push((name, at));
            readers.push(user_id);
        }
        Ok(entries
            .into_iter()
            .map(|e| {
                // The first correction written is the newer version.
                let newer = corrections.iter().find(|c| c.0 == e.id);
                let (read_by, reader_ids) = reads_of.remove(&e.id).unwrap_or_default();
                EntryView {
                    visit: (e.kind == "visit").then(|| serde_json::from_str(&e.data).unwrap_or_default()),
                    acp: AcpData::of(&e),
                    vitals: vitals_of.remove(&e.id).unwrap_or_default(),
                    read_by,
                    reader_ids,
                    corrected_by: newer.map(|c| c.1.clone()),
                    corrected_by_at: newer.map(|c| c.2),
                    corrects_at: e
                        .corrects_id
                        .as_ref()
                        .and_then(|c| original_times.iter().find(|t| &t.0 == c).map(|t| t.1)),
                    addressee_name: e.addressee_id.as_deref().and_then(name_of),
                    acknowledged_by_name: e.acknowledged_by.as_deref().and_then(name_of),
                    author_name: name_of(&e.author_id).unwrap_or_default(),
                    author_org: e
                        .author_org_id
                        .as_ref()
                        .and_then(|id| names.organisations.iter().find(|o| &o.0 == id).map(|o| o.1.clone())),
                    entry: e,
                }
            })
            .collect())
    }

    /// Whether the actor may register patients: a physician, or staff of a hospital or clinic
    /// (who then name the attending physician).
    pub fn can_register_patients(&self, actor: &Actor) -> bool {
        actor.profession == Profession::Physician
            || actor.affiliations.iter().any(|a| {
                tsunagu_domain::org::OrgKind::from_code(&a.organisation_kind).is_some_and(|k| k.is_medical())
            })
    }

    /// The patient page: the summary, the consent in force, the responsible support center, the
    /// people a message can go to, and (with `filter`) a page of the timeline. Members only;
    /// the read is audited.
    pub async fn patient_page(
        &self,
        actor: &Actor,
        patient_id: &str,
        filter: Option<EntryFilter>,
    ) -> Result<PatientPage> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "patient", AppError::NotFound).await);
        }
        // Everything the page reads is audited, and written, together before it answers: one
        // wait for the writer, not one per part.
        let mut record = self.read_record(actor, &o);
        let now = self.now().micros();
        let consent = self.store.active_consent(&o.patient.id).await?;
        let support_center = match &o.patient.support_center_id {
            Some(id) => self.store.organisation(id).await?.map(|c| c.name),
            None => None,
        };
        let mut team: Vec<Teammate> = self
            .store
            .user_by_id(&o.patient.attending_physician_id)
            .await?
            .into_iter()
            .map(|u| Teammate {
                user_id: u.id,
                login: u.login,
                display_name: u.display_name,
                profession: u.profession,
                role: TeamRole::Attending.code().to_string(),
            })
            .collect();
        // Without consent only the attending physician sees the patient, so only they can be
        // written to.
        if consent.is_some() {
            team.extend(
                self.store
                    .team(&o.patient.id)
                    .await?
                    .into_iter()
                    .filter(|m| {
                        m.status == MemberStatus::Active.code()
                            && m.ends_at.is_none_or(|e| e > now)
                            && m.user_id != o.patient.attending_physician_id
                    })
                    .map(|m| Teammate {
                        user_id: m.user_id,
                        login: m.login,
                        display_name: m.display_name,
                        profession: m.profession,
                        role: m.role,
                    }),
            );
        }
        let (entries, more) = match filter {
            Some(f) => self.read_timeline(actor, &o, f, &mut record).await?,
            None => (Vec::new(), false),
        };
        let acp = self.latest_acp(&o.patient.id).await?;
        // The attending physician sees who opened an emergency view of the patient.
        let emergency_notices = if o.access == Access::Member(TeamRole::Attending) {
            record.events.push(self.notices_read(actor, &o.patient.id));
            self.notices_of(&o.patient.id).await?
        } else {
            Vec::new()
        };
        self.write_read(actor, record).await?;
        Ok(PatientPage { opened: o, consent, support_center, team, entries, more, acp, emergency_notices })
    }

    /// One of the actor's own entries, with the patient page's context, to write its
    /// correction. Anything else (another's entry, another patient's, none) is `NotFound`.
    pub async fn entry_to_correct(
        &self,
        actor: &Actor,
        patient_id: &str,
        entry_id: &str,
    ) -> Result<(PatientPage, EntryView)> {
        let o = self.open_for_write(actor, patient_id).await?;
        let pid = o.patient.id.clone();
        let Some(e) =
            self.store.entry(entry_id).await?.filter(|e| e.patient_id == pid && e.author_id == actor.user_id)
        else {
            return Err(self.refused(actor, &pid, "correction", AppError::NotFound).await);
        };
        let page = self.patient_page(actor, patient_id, None).await?;
        let entry_id = e.id.clone();
        let view = self
            .entry_views(&page.opened.patient, vec![e])
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal("entry view lost".into()))?;
        self.store
            .append_audit(vec![
                actor
                    .event(self.now(), Action::TimelineRead, Outcome::Success)
                    .patient(&pid)
                    .target("entry", &entry_id)
                    .detail("correction"),
            ])
            .await?;
        Ok((page, view))
    }

    /// Acknowledges a message addressed to the actor.
    pub async fn acknowledge(&self, actor: &Actor, patient_id: &str, entry_id: &str) -> Result<()> {
        let o = self.open_for_write(actor, patient_id).await?;
        let now = self.now();
        let e = self
            .store
            .entry(entry_id)
            .await?
            .filter(|e| e.patient_id == o.patient.id)
            .ok_or(AppError::NotFound)?;
        if e.kind != "message"
            || (e.addressee_id.is_some() && e.addressee_id.as_deref() != Some(&actor.user_id))
        {
            return Err(Invalid::one("entry", "error.not_addressee").into());
        }
        let mut tx = self.store.begin().await?;
        if !tx.acknowledge(&e.id, &actor.user_id, now.micros()).await? {
            return Err(Invalid::one("entry", "error.already_acknowledged").into());
        }
        tx.append_audit(
            actor
                .event(now, Action::MessageAcknowledged, Outcome::Success)
                .patient(&o.patient.id)
                .target("entry", &e.id),
        )
        .await?;
        let ev = PatientEvent { patient_id: o.patient.id.clone(), entry_id: e.id.clone() };
        self.announce_in_tx(&mut tx, &ev).await?;
        tx.commit().await?;
        self.announce_committed(ev);
        Ok(())
    }

    /// Vital signs over a period (weeks back from now), oldest first, for charts.
    pub async fn vitals_series(
        &self,
        actor: &Actor,
        patient_id: &str,
        weeks: i64,
    ) -> Result<(Opened, Vec<VitalRow>)> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "vitals", AppError::NotFound).await);
        }
        let now = self.now();
        let weeks = weeks.clamp(1, 520);
        let from = now.plus_seconds(-weeks * 7 * 86_400).micros();
        let rows = self.store.vitals(&o.patient.id, from, now.plus_seconds(1).micros()).await?;
        self.store
            .append_audit(vec![actor.event(now, Action::VitalsRead, Outcome::Success).patient(&o.patient.id)])
            .await?;
        Ok((o, rows))
    }

    /// The patients on the actor's list with unread and unacknowledged counts.
    pub async fn my_patients(&self, actor: &Actor) -> Result<Vec<MyPatient>> {
        let rows = self.store.my_patients(&actor.user_id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            // A pending member sees only that the request waits: no counts.
            let visible = r.status == "active"
                && (r.role == "attending" || self.store.active_consent(&r.id).await?.is_some());
            let (unread, unack) = if visible {
                (
                    self.store.unread_count(&r.id, &actor.user_id).await?,
                    self.store.unacknowledged_count(&r.id, &actor.user_id).await?,
                )
            } else {
                (0, 0)
            };
            out.push(MyPatient {
                name: if r.status == "pending" || visible { r.name } else { String::new() },
                id: r.id,
                name_kana: r.name_kana,
                birth_date: r.birth_date,
                role: r.role,
                status: if visible || r.status == "pending" { r.status } else { "no_consent".into() },
                unread,
                unacknowledged: unack,
            });
        }
        Ok(out)
    }

    /// Opens the emergency view: a physician of an emergency hospital states a reason and may
    /// read the emergency summary for 24 hours. The attending physician is told.
    pub async fn open_emergency(
        &self,
        actor: &Actor,
        patient_id: &str,
        reason: &str,
    ) -> Result<EmergencyRow> {
        let now = self.now();
        if !self.is_emergency_physician(actor) {
            return Err(self.refused(actor, patient_id, "emergency view", AppError::NotFound).await);
        }
        if let Err(e) = actor.ensure_may_write() {
            return Err(self.refused(actor, patient_id, "read-only", e).await);
        }
        let reason = text("reason", reason, true, 500)?;
        if reason.chars().count() < 4 {
            return Err(Invalid::one("reason", "error.reason_too_short").into());
        }
        let Some(pid) = parse_patient_id(patient_id) else {
            return Err(self.refused(actor, patient_id, "emergency view", AppError::NotFound).await);
        };
        let Some(_patient) = self.store.patient(&pid).await? else {
            return Err(self.refused(actor, patient_id, "emergency view", AppError::NotFound).await);
        };
        let row = EmergencyRow {
            id: uuid::Uuid::now_v7().to_string(),
            patient_id: pid.clone(),
            user_id: actor.user_id.clone(),
            reason: reason.clone(),
            opened_at: now.micros(),
            expires_at: now.plus_seconds(EMERGENCY_SECS).micros(),
            seen_by_attending_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_emergency(&row).await?;
        tx.append_audit(
            actor
                .event(now, Action::EmergencyOpened, Outcome::Success)
                .patient(&pid)
                .target("emergency", &row.id)
                .detail(&reason),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The emergency summary: members, and emergency physicians with an open view.
    pub async fn emergency_summary(&self, actor: &Actor, patient_id: &str) -> Result<EmergencySummary> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read_emergency_summary() {
            return Err(AppError::NotFound);
        }
        let now = self.now();
        let pid = o.patient.id.clone();
        let latest_vitals = {
            let all = self.store.vitals(&pid, 0, now.plus_seconds(1).micros()).await?;
            let mut latest: Vec<VitalRow> = Vec::new();
            for v in all.into_iter().rev() {
                if !latest.iter().any(|l| l.kind == v.kind) {
                    latest.push(v);
                }
            }
            // In the clinical order of `VitalKind::ALL` (systolic before diastolic), whatever
            // the order they were measured in.
            let order =
                |code: &str| VitalKind::ALL.iter().position(|k| k.code() == code).unwrap_or(usize::MAX);
            latest.sort_by_key(|v| order(&v.kind));
            latest
        };
        let acp = self.latest_acp(&pid).await?;
        let expires_at = if o.access == Access::Emergency {
            self.store.open_emergency(&pid, &actor.user_id, now.micros()).await?.map(|e| e.expires_at)
        } else {
            None
        };
        let action = if o.access == Access::Emergency { Action::EmergencyRead } else { Action::PatientRead };
        self.store
            .append_audit(vec![
                actor.event(now, action, Outcome::Success).patient(&pid).detail("emergency summary"),
            ])
            .await?;
        Ok(EmergencySummary {
            team: self.store.team(&pid).await?.into_iter().filter(|m| m.status == "active").collect(),
            consent_active: self.store.active_consent(&pid).await?.is_some(),
            patient: o.patient,
            latest_vitals,
            acp,
            expires_at,
            access: o.access,
        })
    }

    /// Emergency views opened on a patient, newest first, with who opened them (shown to the
    /// team as a notice: the team page, and the patient page through
    /// `tsunagu_web::pages::care_team::emergency_notices`).
    pub async fn emergency_notices(&self, actor: &Actor, patient_id: &str) -> Result<Vec<EmergencyNotice>> {
        let o = self.patient_access(actor, patient_id).await?;
        if !o.access.can_read() {
            return Err(self.refused(actor, &o.patient.id, "emergency notices", AppError::NotFound).await);
        }
        let out = self.notices_of(&o.patient.id).await?;
        self.store.append_audit(vec![self.notices_read(actor, &o.patient.id)]).await?;
        Ok(out)
    }

    /// The emergency views of a patient with who opened them (the caller passed the gate).
    async fn notices_of(&self, patient_id: &str) -> Result<Vec<EmergencyNotice>> {
        let mut cards = Cards::default();
        let mut out = Vec::new();
        for access in self.store.emergency_accesses(patient_id).await? {
            let person = self.person_card(&mut cards, &access.user_id).await?;
            out.push(EmergencyNotice { access, person });
        }
        Ok(out)
    }

    /// The audit event of reading a patient's emergency notices.
    fn notices_read(&self, actor: &Actor, patient_id: &str) -> NewEvent {
        actor
            .event(self.now(), Action::PatientRead, Outcome::Success)
            .patient(patient_id)
            .detail("emergency notices")
    }

    /// The gate of a patient's access log (the page and the FHIR `AuditEvent` search): the
    /// attending physician only; another reader of the patient is refused (`Forbidden`), anyone
    /// else gets `NotFound`; each refusal is audited.
    pub(crate) async fn open_access_log(&self, actor: &Actor, patient_id: &str) -> Result<Opened> {
        let o = self.patient_access(actor, patient_id).await?;
        if o.access != Access::Member(TeamRole::Attending) {
            let err = if o.access.can_read() { AppError::Forbidden } else { AppError::NotFound };
            return Err(self.refused(actor, &o.patient.id, "access log", err).await);
        }
        Ok(o)
    }

    /// The patient's access log for a disclosure request (attending physician only).
    pub async fn access_log(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<(Opened, Vec<tsunagu_domain::audit::StoredEvent>)> {
        let o = self.open_access_log(actor, patient_id).await?;
        let now = self.now();
        self.store
            .append_audit(vec![
                actor.event(now, Action::AccessLogRead, Outcome::Success).patient(&o.patient.id),
            ])
            .await?;
        let events = self.store.audit_events_for_patient(&o.patient.id, 100_000).await?;
        Ok((o, events))
    }
}

/// The form field a vital sign's value comes from.
pub fn vital_field(k: VitalKind) -> &'static str {
    match k {
        VitalKind::SystolicBp => "systolic_bp",
        VitalKind::DiastolicBp => "diastolic_bp",
        VitalKind::Pulse => "pulse",
        VitalKind::Temperature => "temperature",
        VitalKind::Spo2 => "spo2",
        VitalKind::RespiratoryRate => "respiratory_rate",
        VitalKind::Weight => "weight",
        VitalKind::Glucose => "glucose",
    }
}

/// Timestamps for templates.
pub fn jst(micros: i64) -> String {
    Timestamp(micros).jst_minutes()
}

// ---- The care-team pages (crates/web/src/pages/care_team.rs): the consent history, the team
// with how to reach each member, the emergency view and search, and the disclosure printout, with
// the people in them named. Every function starts at the gate like the use cases above. ----

/// An organisation a person belongs to, with its phone: how to reach them.
#[derive(Debug, Clone, Default)]
pub struct OrgContact {
    pub name: String,
    pub kind: String,
    pub phone: String,
}

/// A person as a team page, a summary or a printout names them, with how to reach them.
#[derive(Debug, Clone, Default)]
pub struct PersonCard {
    pub user_id: String,
    pub name: String,
    pub login: String,
    /// Profession code (empty when the account is gone).
    pub profession: String,
    pub email: Option<String>,
    pub organisations: Vec<OrgContact>,
}

/// People and organisation phones already looked up during one use case.
#[derive(Default)]
struct Cards {
    people: HashMap<String, PersonCard>,
    phones: HashMap<String, String>,
}

/// A consent with the people who recorded and withdrew it.
#[derive(Debug, Clone)]
pub struct ConsentView {
    pub consent: ConsentRow,
    pub recorded_by: PersonCard,
    pub withdrawn_by: Option<PersonCard>,
}

/// The consent page: the history, newest first.
#[derive(Debug, Clone)]
pub struct ConsentHistory {
    pub opened: Opened,
    pub consents: Vec<ConsentView>,
}

/// A membership with the person and who asked for it.
#[derive(Debug, Clone)]
pub struct TeamMemberView {
    pub member: MemberRow,
    pub person: PersonCard,
    pub requested_by: PersonCard,
}

/// A change of the team, with the people named.
#[derive(Debug, Clone)]
pub struct TeamEventView {
    pub event: TeamEventRow,
    pub user: PersonCard,
    pub actor: PersonCard,
}

/// Someone who could be added to a team (the add form's list).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub login: String,
    pub name: String,
    pub profession: String,
    pub organisation: String,
}

/// An emergency view opened on a patient, with who opened it.
#[derive(Debug, Clone)]
pub struct EmergencyNotice {
    pub access: EmergencyRow,
    pub person: PersonCard,
}

/// The team page.
#[derive(Debug, Clone)]
pub struct TeamView {
    pub opened: Opened,
    pub attending: PersonCard,
    pub members: Vec<TeamMemberView>,
    /// The team's history, newest first.
    pub events: Vec<TeamEventView>,
    pub notices: Vec<EmergencyNotice>,
    pub consent_active: bool,
    pub candidates: Vec<Candidate>,
}

/// The emergency summary with the team's contact routes.
#[derive(Debug, Clone)]
pub struct EmergencyPage {
    pub summary: EmergencySummary,
    pub attending: PersonCard,
    /// The active team (role code, person).
    pub team: Vec<(String, PersonCard)>,
}

/// A patient an emergency physician found by kana name and birth date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub birth_date: String,
}

/// One line of the disclosure printout.
#[derive(Debug, Clone)]
pub struct DisclosureLine {
    pub event: tsunagu_domain::audit::StoredEvent,
    pub actor: Option<PersonCard>,
    /// The person a team event was about.
    pub target_person: Option<PersonCard>,
}

/// A patient's access log for a disclosure request.
#[derive(Debug, Clone)]
pub struct Disclosure {
    pub opened: Opened,
    /// The period asked for (`YYYY-MM-DD`, Japan time), if any.
    pub from: Option<String>,
    pub to: Option<String>,
    pub lines: Vec<DisclosureLine>,
}

/// Professions that are never on a care team (the add form does not offer them).
fn offered_to_teams(profession: &str) -> bool {
    !matches!(profession, "clerk" | "welfare_commissioner" | "welfare_promoter")
}

impl App {
    async fn person_card(&self, cards: &mut Cards, user_id: &str) -> Result<PersonCard> {
        if let Some(c) = cards.people.get(user_id) {
            return Ok(c.clone());
        }
        let card = match self.store.user_by_id(user_id).await? {
            Some(u) => {
                let mut organisations = Vec::new();
                for a in self.store.affiliations_of(&u.id).await? {
                    let phone = match cards.phones.get(&a.organisation_id) {
                        Some(p) => p.clone(),
                        None => {
                            let p = self
                                .store
                                .organisation(&a.organisation_id)
                                .await?
                                .map(|o| o.phone)
                                .unwrap_or_default();
                            cards.phones.insert(a.organisation_id.clone(), p.clone());
                            p
                        }
                    };
                    organisations.push(OrgContact {
                        name: a.organisation_name,
                        kind: a.organisation_kind,
                        phone,
                    });
                }
                PersonCard {
                    user_id: u.id,
                    name: u.display_name,
                    login: u.login,
                    profession: u.profession,
                    email: u.email.filter(|e| !e.trim().is_empty()),
                    organisations,
                }
            }
            None => PersonCard { user_id: user_id.to_string(), ..Default::default() },
        };
        cards.people.insert(user_id.to_string(), card.clone());
        Ok(card)
    }

    /// The consent history with the people named (team members; audited as a read).
    pub async fn consent_history(&self, actor: &Actor, patient_id: &str) -> Result<ConsentHistory> {
        let opened = self.open_patient(actor, patient_id).await?;
        let mut cards = Cards::default();
        let mut consents = Vec::new();
        for c in self.store.consents(&opened.patient.id).await? {
            let recorded_by = self.person_card(&mut cards, &c.recorded_by).await?;
            let withdrawn_by = match &c.withdrawn_by {
                Some(id) => Some(self.person_card(&mut cards, id).await?),
                None => None,
            };
            consents.push(ConsentView { consent: c, recorded_by, withdrawn_by });
        }
        Ok(ConsentHistory { opened, consents })
    }

    /// Withdraws consent after the physician confirmed what it does (attending or
    /// sub-attending). A missing reason or confirmation is refused with both messages.
    pub async fn withdraw_consent_confirmed(
        &self,
        actor: &Actor,
        patient_id: &str,
        reason: &str,
        confirmed: bool,
    ) -> Result<()> {
        self.open_for_management(actor, patient_id).await?;
        let mut errs = Invalid::default();
        if let Err(e) = text("reason", reason, true, 500) {
            errs.push(e);
        }
        if !confirmed {
            errs.push(FieldError::new("confirm", "error.confirm_withdrawal"));
        }
        errs.into_result()?;
        self.withdraw_consent(actor, patient_id, reason).await
    }

    /// The team page: the attending physician, every membership with the person's
    /// organisations and contact routes, the history, emergency notices, and the people who
    /// could be added (team members only; audited as a read).
    pub async fn team_view(&self, actor: &Actor, patient_id: &str) -> Result<TeamView> {
        let (opened, team, events) = self.team(actor, patient_id).await?;
        let mut cards = Cards::default();
        let attending = self.person_card(&mut cards, &opened.patient.attending_physician_id).await?;
        let mut members = Vec::with_capacity(team.len());
        for m in team {
            let person = self.person_card(&mut cards, &m.user_id).await?;
            let requested_by = self.person_card(&mut cards, &m.requested_by).await?;
            members.push(TeamMemberView { member: m, person, requested_by });
        }
        let mut event_views = Vec::with_capacity(events.len());
        for e in events {
            let user = self.person_card(&mut cards, &e.user_id).await?;
            let actor_card = self.person_card(&mut cards, &e.actor_id).await?;
            event_views.push(TeamEventView { event: e, user, actor: actor_card });
        }
        let mut notices = Vec::new();
        for access in self.store.emergency_accesses(&opened.patient.id).await? {
            let person = self.person_card(&mut cards, &access.user_id).await?;
            notices.push(EmergencyNotice { access, person });
        }
        let consent_active = self.store.active_consent(&opened.patient.id).await?.is_some();
        let on_team: Vec<&str> = members
            .iter()
            .filter(|m| m.member.status == "active" || m.member.status == "pending")
            .map(|m| m.member.user_id.as_str())
            .chain(std::iter::once(opened.patient.attending_physician_id.as_str()))
            .collect();
        let affiliations = self.store.all_affiliations().await?;
        let candidates = self
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| {
                u.disabled_at.is_none()
                    && offered_to_teams(&u.profession)
                    && !on_team.contains(&u.id.as_str())
            })
            .map(|u| Candidate {
                organisation: affiliations
                    .iter()
                    .find(|a| a.user_id == u.id)
                    .map(|a| a.organisation_name.clone())
                    .unwrap_or_default(),
                login: u.login,
                name: u.display_name,
                profession: u.profession,
            })
            .collect();
        Ok(TeamView { opened, attending, members, events: event_views, notices, consent_active, candidates })
    }

    /// The emergency summary with the attending physician and the active team, each with
    /// their contact routes (members, and emergency physicians with an open view).
    pub async fn emergency_page(&self, actor: &Actor, patient_id: &str) -> Result<EmergencyPage> {
        let summary = self.emergency_summary(actor, patient_id).await?;
        let mut cards = Cards::default();
        let attending = self.person_card(&mut cards, &summary.patient.attending_physician_id).await?;
        let mut team = Vec::new();
        for m in &summary.team {
            if m.ends_at.is_some_and(|e| e <= self.now().micros()) {
                continue;
            }
            team.push((m.role.clone(), self.person_card(&mut cards, &m.user_id).await?));
        }
        Ok(EmergencyPage { summary, attending, team })
    }

    /// Finds a patient for an emergency physician, who is on no team: the exact kana name
    /// (folded) AND the birth date are both required, so nobody can browse. Audited, a found
    /// patient on their own record. Anyone else gets an empty answer (and a refusal in the log).
    pub async fn emergency_search(
        &self,
        actor: &Actor,
        name_kana: &str,
        birth_date: &str,
    ) -> Result<Vec<Found>> {
        let now = self.now();
        if !self.is_emergency_physician(actor) {
            self.store
                .append_audit(vec![
                    actor.event(now, Action::AccessRefused, Outcome::Refused).detail("emergency search"),
                ])
                .await?;
            return Ok(Vec::new());
        }
        let mut errs = Invalid::default();
        let kana = text("name_kana", name_kana, true, 60).map_err(|e| errs.push(e)).unwrap_or_default();
        if !kana.is_empty() && !tsunagu_domain::text::is_kana_text(&kana) {
            errs.push(FieldError::new("name_kana", "error.kana_only"));
        }
        let birth_date = match parse_date("birth_date", birth_date, true) {
            Ok(d) => d.unwrap_or_default(),
            Err(e) => {
                errs.push(e);
                String::new()
            }
        };
        errs.into_result()?;
        let found = self.store.patients_like(&tsunagu_domain::text::name_key(&kana), &birth_date).await?;
        let events = if found.is_empty() {
            vec![actor.event(now, Action::EmergencySearched, Outcome::Success).detail("found 0")]
        } else {
            found
                .iter()
                .map(|p| {
                    actor
                        .event(now, Action::EmergencySearched, Outcome::Success)
                        .patient(&p.id)
                        .detail(format!("found {}", found.len()))
                })
                .collect()
        };
        self.store.append_audit(events).await?;
        Ok(found
            .into_iter()
            .map(|p| Found { id: p.id, name: p.name, name_kana: p.name_kana, birth_date: p.birth_date })
            .collect())
    }

    /// The disclosure printout: every audit event about the patient, oldest first, within an
    /// optional period (`YYYY-MM-DD`, Japan time, both ends included), with the people named
    /// (attending physician only; audited).
    pub async fn disclosure(
        &self,
        actor: &Actor,
        patient_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Disclosure> {
        let (opened, events) = self.access_log(actor, patient_id).await?;
        let mut errs = Invalid::default();
        let mut day = |field: &'static str, s: &str| -> Option<(String, i64)> {
            let d = parse_date(field, s, false).map_err(|e| errs.push(e)).ok().flatten()?;
            let at =
                parse_local_minutes(field, &format!("{d}T00:00")).map_err(|e| errs.push(e)).ok().flatten()?;
            Some((d, at))
        };
        let from = day("from", from);
        let to = day("to", to);
        if let (Some(f), Some(t)) = (&from, &to)
            && f.1 > t.1
        {
            errs.push(FieldError::new("to", "error.period_reversed"));
        }
        errs.into_result()?;
        let mut cards = Cards::default();
        let mut lines = Vec::new();
        for e in events {
            let at = e.event.at.micros();
            if from.as_ref().is_some_and(|f| at < f.1)
                || to.as_ref().is_some_and(|t| at >= t.1 + 86_400_000_000)
            {
                continue;
            }
            let actor_card = match &e.event.actor_id {
                Some(id) => Some(self.person_card(&mut cards, id).await?),
                None => None,
            };
            let target_person = match (e.event.target_kind.as_deref(), &e.event.target_id) {
                (Some("user"), Some(id)) => Some(self.person_card(&mut cards, id).await?),
                _ => None,
            };
            lines.push(DisclosureLine { event: e, actor: actor_card, target_person });
        }
        Ok(Disclosure { opened, from: from.map(|f| f.0), to: to.map(|t| t.0), lines })
    }
}
