//! The use cases behind the API's `Patient`, `Practitioner` and `PractitionerRole`: a patient as
//! a resource (through the gate, audited; an emergency physician with an open view too), every
//! version of a patient's summary, the patients a person may see (narrowed in SQL, each
//! confirmed by the access rule), an update that keeps what the resource does not carry, and
//! the professional directory of people.

use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::person::{Duty, Profession};
use tsunagu_domain::sharing::{Access, AccessFacts, decide};
use tsunagu_store::patients::PatientRow;
use tsunagu_store::people::{AffiliationRow, Credential};

use crate::auth::SETTING_REQUIRE_SECOND_FACTOR;
use crate::sharing::{NewPatient, Opened};
use crate::{Actor, App, AppError, Result};

/// A patient with what a resource shows of their attending physician.
#[derive(Debug, Clone)]
pub struct PatientRecord {
    pub patient: PatientRow,
    /// The attending physician's name (for a reference's `display`).
    pub attending_name: String,
    /// The attending physician's first organisation (id, name), if they have one.
    pub managing_organization: Option<(String, String)>,
}

/// A person of the professional directory: no login secrets, no e-mail.
#[derive(Debug, Clone)]
pub struct DirectoryPerson {
    pub id: String,
    pub display_name: String,
    pub display_name_kana: String,
    pub profession: String,
    pub duties: Vec<String>,
    pub affiliations: Vec<AffiliationRow>,
}

/// The fields of a patient's summary as `patient_versions` keeps them, laid over `base`.
fn with_version_data(base: &PatientRow, data: &str) -> PatientRow {
    let mut p = base.clone();
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(data) else {
        return p;
    };
    let s = |k: &str| m.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    let opt = |k: &str| s(k).filter(|v| !v.is_empty());
    p.name = s("name").unwrap_or_default();
    p.name_kana = s("name_kana").unwrap_or_default();
    p.name_folded = tsunagu_domain::text::name_key(&p.name_kana);
    p.birth_date = s("birth_date").unwrap_or_default();
    p.sex = s("sex").unwrap_or_default();
    p.address = s("address").unwrap_or_default();
    p.district = opt("district");
    p.phone = s("phone").unwrap_or_default();
    p.care_level = s("care_level").unwrap_or_default();
    p.insurance_number = opt("insurance_number");
    p.key_person = s("key_person").unwrap_or_default();
    p.emergency_contacts = s("emergency_contacts").unwrap_or_default();
    p.conditions = s("conditions").unwrap_or_default();
    p.allergies = s("allergies").unwrap_or_default();
    p.medications = s("medications").unwrap_or_default();
    let point = opt("location").and_then(|l| {
        let (a, b) = l.split_once(',')?;
        Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
    });
    p.latitude = point.map(|x| x.0);
    p.longitude = point.map(|x| x.1);
    p
}

/// Whether a person belongs in the professional directory: enabled, and not an account that
/// only runs the system (a clerk whose duty is system administration).
fn listed(profession: &str, duties: &[String], disabled: bool) -> bool {
    let admin_only = profession == Profession::Clerk.code()
        && duties.iter().any(|d| d == Duty::SystemAdministrator.code());
    !disabled && !admin_only
}

/// An attending physician's id, name and first organisation (id, name).
type Attending = (String, String, Option<(String, String)>);

impl App {
    /// The attending physician's name and first organisation, for each patient.
    async fn records(&self, patients: Vec<PatientRow>) -> Result<Vec<PatientRecord>> {
        self.records_known(patients, None).await
    }

    /// [`Self::records`], knowing `actor` already: a patient they attend names them without
    /// another read.
    async fn records_known(
        &self,
        patients: Vec<PatientRow>,
        actor: Option<&Actor>,
    ) -> Result<Vec<PatientRecord>> {
        let mut cache: Vec<Attending> = actor
            .map(|a| {
                let org =
                    a.affiliations.first().map(|o| (o.organisation_id.clone(), o.organisation_name.clone()));
                (a.user_id.clone(), a.display_name.clone(), org)
            })
            .into_iter()
            .collect();
        let mut out = Vec::with_capacity(patients.len());
        for p in patients {
            let known = cache.iter().find(|c| c.0 == p.attending_physician_id).cloned();
            let (_, name, org) = match known {
                Some(c) => c,
                None => {
                    // The physician and their affiliations in one query.
                    let account = self
                        .store
                        .account(Credential::User(&p.attending_physician_id), SETTING_REQUIRE_SECOND_FACTOR)
                        .await?;
                    let name = account.as_ref().map(|a| a.user.display_name.clone()).unwrap_or_default();
                    let org = account
                        .and_then(|a| a.affiliations.into_iter().next())
                        .map(|a| (a.organisation_id, a.organisation_name));
                    let c = (p.attending_physician_id.clone(), name, org);
                    cache.push(c.clone());
                    c
                }
            };
            out.push(PatientRecord { patient: p, attending_name: name, managing_organization: org });
        }
        Ok(out)
    }

    /// The record of a patient the caller already holds through a use case (a registration's
    /// answer): adds the attending physician's name and organisation only, reads nothing of
    /// the patient and writes no audit event.
    pub async fn patient_record(&self, p: PatientRow) -> Result<PatientRecord> {
        self.one_record(p, None).await
    }

    /// The record of one patient, knowing `actor` (see [`Self::records_known`]).
    async fn one_record(&self, p: PatientRow, actor: Option<&Actor>) -> Result<PatientRecord> {
        self.records_known(vec![p], actor)
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal("record lost".into()))
    }

    /// A patient as a resource: team members (audited as a read of the patient), and an
    /// emergency physician with an open emergency view (audited as an emergency read). Everyone
    /// else gets the gate's `NotFound`.
    pub async fn patient_resource(&self, actor: &Actor, id: &str) -> Result<PatientRecord> {
        let o = self.patient_access(actor, id).await?;
        let o = if o.access == Access::Emergency {
            self.store
                .append_audit(vec![
                    actor
                        .event(self.now(), Action::EmergencyRead, Outcome::Success)
                        .patient(&o.patient.id)
                        .detail("patient resource"),
                ])
                .await?;
            o
        } else {
            self.open_accessed(actor, o).await?
        };
        self.one_record(o.patient, Some(actor)).await
    }

    /// Every version of a patient's summary, newest first (team members only; one audited
    /// read). Each version carries its own number and the time it was written.
    pub async fn patient_resource_versions(&self, actor: &Actor, id: &str) -> Result<Vec<PatientRecord>> {
        let Opened { patient, .. } = self.open_patient(actor, id).await?;
        let old = self.store.patient_versions(&patient.id).await?;
        let mut rows = Vec::with_capacity(old.len() + 1);
        for (i, v) in old.iter().enumerate() {
            let mut p = with_version_data(&patient, &v.data);
            p.version = v.version;
            // Written when the version before it was replaced (or at registration).
            p.updated_at = if i == 0 { patient.created_at } else { old[i - 1].changed_at };
            rows.push(p);
        }
        rows.push(patient);
        rows.reverse();
        self.records(rows).await
    }

    /// The patients the actor may see that `keep` accepts, in id order. The store narrows to the
    /// patients they attend or are an active member of; the access rule confirms each (consent in
    /// force, membership not ended). One audit event names how many were found.
    pub async fn search_patients(
        &self,
        actor: &Actor,
        keep: &(dyn Fn(&PatientRow) -> bool + Send + Sync),
    ) -> Result<Vec<PatientRecord>> {
        let now = self.now();
        let mut found = Vec::new();
        for c in self.store.patient_candidates(&actor.user_id).await? {
            let access = decide(&AccessFacts {
                now,
                is_attending: c.patient.attending_physician_id == actor.user_id,
                membership: AccessFacts::membership_of(
                    c.member_role.as_deref(),
                    c.member_status.as_deref(),
                    c.member_ends_at,
                ),
                consent_active: c.consents_in_force > 0,
                emergency_until: None,
            });
            if access.can_read() && keep(&c.patient) {
                found.push(c.patient);
            }
        }
        self.store
            .append_audit(vec![
                actor
                    .event(now, Action::PatientRead, Outcome::Success)
                    .target("patient", "search")
                    .detail(format!("search: {} patients", found.len())),
            ])
            .await?;
        self.records(found).await
    }

    /// Replaces a patient's summary from a resource. The resource does not carry the key person,
    /// the emergency contacts, the conditions, allergies and medications (they are other
    /// resources, or not shared through the API yet): those are kept as they are.
    pub async fn update_patient_resource(
        &self,
        actor: &Actor,
        id: &str,
        mut input: NewPatient,
        expected_version: i64,
    ) -> Result<PatientRecord> {
        let o = self.open_for_write(actor, id).await?;
        let p = &o.patient;
        input.key_person = p.key_person.clone();
        input.emergency_contacts = p.emergency_contacts.clone();
        input.conditions = p.conditions.clone();
        input.allergies = p.allergies.clone();
        input.medications = p.medications.clone();
        let row = self.update_patient(actor, &o.patient.id, input, expected_version).await?;
        self.patient_record(row).await
    }

    /// The professional directory of people (any signed-in person): enabled accounts other than
    /// system-only ones, with their duties and organisations, in login order. Not audited:
    /// people are not patients.
    pub async fn directory_people(&self, _actor: &Actor) -> Result<Vec<DirectoryPerson>> {
        let users = self.store.list_users().await?;
        let duties = self.store.all_duties().await?;
        let affs = self.store.all_affiliations().await?;
        Ok(users
            .into_iter()
            .filter_map(|u| {
                let ds: Vec<String> =
                    duties.iter().filter(|(id, _)| *id == u.id).map(|(_, d)| d.clone()).collect();
                listed(&u.profession, &ds, u.disabled_at.is_some()).then(|| DirectoryPerson {
                    affiliations: affs.iter().filter(|a| a.user_id == u.id).cloned().collect(),
                    duties: ds,
                    id: u.id,
                    display_name: u.display_name,
                    display_name_kana: u.display_name_kana,
                    profession: u.profession,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_only_and_disabled_accounts_are_not_listed() {
        let admin = vec!["system_administrator".to_string()];
        assert!(!listed("clerk", &admin, false));
        assert!(listed("physician", &admin, false));
        assert!(listed("clerk", &["city_official".to_string()], false));
        assert!(!listed("nurse", &[], true));
    }

    #[test]
    fn an_old_version_is_laid_over_the_current_row() {
        let base = PatientRow {
            id: "p".into(),
            name: "新 名前".into(),
            name_kana: "あたらし なまえ".into(),
            name_folded: String::new(),
            birth_date: "1940-01-01".into(),
            sex: "male".into(),
            address: String::new(),
            district: None,
            support_center_id: None,
            phone: String::new(),
            care_level: "none".into(),
            insurance_number: None,
            key_person: String::new(),
            emergency_contacts: String::new(),
            conditions: String::new(),
            allergies: String::new(),
            medications: String::new(),
            attending_physician_id: "d".into(),
            registered_by: "d".into(),
            version: 2,
            created_at: 1,
            updated_at: 2,
            latitude: None,
            longitude: None,
        };
        let old = with_version_data(
            &base,
            r#"{"name":"旧 名前","name_kana":"きゅう なまえ","birth_date":"1940-01-01","sex":"male","insurance_number":"123","location":"36.5,136.6"}"#,
        );
        assert_eq!(old.name, "旧 名前");
        assert_eq!(old.insurance_number.as_deref(), Some("123"));
        assert_eq!(old.latitude, Some(36.5));
        assert_eq!(old.attending_physician_id, "d");
    }
}
