//! The care team and the consents as the FHIR API shows them (`CareTeam`, `Consent`, issue 5).
//! Every function starts at the gate through the sharing use cases ([`App::team`],
//! [`App::open_patient`], [`App::record_consent`], [`App::withdraw_consent`]) and writes one
//! audit event per call: a read, a recording or a withdrawal (refusals are audited by the gate).
//!
//! What a caller may see of the team is decided here: pending, refused and removed memberships
//! are shown to physicians only (they decide on them); everyone else sees the active team.

use tsunagu_domain::audit::{Action, Outcome};
use tsunagu_domain::person::Profession;
use tsunagu_store::patients::{ConsentRow, PatientRow};

use crate::sharing::NewConsent;
use crate::{Actor, App, AppError, Result};

/// One person on a care team as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamParticipant {
    pub user_id: String,
    pub display_name: String,
    /// Profession code (empty when the account is gone).
    pub profession: String,
    /// `attending`, `sub_attending` or `member`.
    pub role: String,
    /// `active`, `pending`, `refused` or `removed` (the attending physician: `active`).
    pub status: String,
    /// Active and removed: when the person was admitted; pending and refused: when they asked
    /// (or were proposed).
    pub start: Option<i64>,
    /// The end date of an active membership, or when a removal or refusal was decided.
    pub end: Option<i64>,
    /// The person's first organisation (id, name).
    pub organisation: Option<(String, String)>,
}

/// A patient's care team.
#[derive(Debug, Clone)]
pub struct CareTeamView {
    pub patient: PatientRow,
    pub attending: TeamParticipant,
    /// The memberships the caller may see, in the order they were asked for.
    pub members: Vec<TeamParticipant>,
    pub consent_active: bool,
    /// Whether any consent was ever recorded (withdrawn or not).
    pub consent_recorded: bool,
    /// The last change of the team, its consents or the patient (UTC micros).
    pub last_updated: i64,
}

/// A consent with the names of the people who recorded and withdrew it.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    pub consent: ConsentRow,
    pub recorded_by_name: String,
    pub withdrawn_by_name: Option<String>,
}

impl ConsentRecord {
    /// The consent's version: 1 as recorded, 2 once withdrawn (the only change a consent has).
    pub fn version(&self) -> i64 {
        if self.consent.withdrawn_at.is_some() { 2 } else { 1 }
    }

    /// When the consent last changed.
    pub fn last_updated(&self) -> i64 {
        self.consent.withdrawn_at.unwrap_or(self.consent.recorded_at)
    }
}

/// The longest consent id looked up (ids are UUIDs; anything longer is not one).
const MAX_ID: usize = 64;

impl App {
    /// The care team of a patient (team members only; audited as a read of the patient). A
    /// physician on the team also sees pending, refused and removed memberships.
    pub async fn care_team(&self, actor: &Actor, patient_id: &str) -> Result<CareTeamView> {
        let (opened, team, events) = self.team(actor, patient_id).await?;
        let patient = opened.patient;
        let now = self.now().micros();
        let physician = actor.profession == Profession::Physician;
        let consents = self.store.consents(&patient.id).await?;
        let consent_active = consents.iter().any(|c| c.withdrawn_at.is_none());
        let mut last_updated = patient.updated_at.max(patient.created_at);
        for c in &consents {
            last_updated = last_updated.max(c.withdrawn_at.unwrap_or(c.recorded_at));
        }
        for e in &events {
            last_updated = last_updated.max(e.at);
        }
        let attending = match self.store.user_by_id(&patient.attending_physician_id).await? {
            Some(u) => TeamParticipant {
                organisation: self.first_organisation(&u.id).await?,
                user_id: u.id,
                display_name: u.display_name,
                profession: u.profession,
                role: "attending".into(),
                status: "active".into(),
                start: None,
                end: None,
            },
            None => TeamParticipant {
                user_id: patient.attending_physician_id.clone(),
                display_name: String::new(),
                profession: String::new(),
                role: "attending".into(),
                status: "active".into(),
                start: None,
                end: None,
                organisation: None,
            },
        };
        let mut members = Vec::with_capacity(team.len());
        for m in team {
            let current = m.status == "active" && m.ends_at.is_none_or(|e| e > now);
            if !physician && !current {
                continue;
            }
            // The admission: the latest `active` event of this person that was not only a
            // change of the end date (events are newest first).
            let admitted = events
                .iter()
                .find(|e| e.user_id == m.user_id && e.action == "active" && e.note != "ends")
                .map(|e| e.at);
            let (start, end) = match m.status.as_str() {
                "active" => (admitted.or(m.decided_at), m.ends_at),
                "removed" => (admitted, m.decided_at),
                "refused" => (Some(m.requested_at), m.decided_at),
                _ => (Some(m.requested_at), None),
            };
            members.push(TeamParticipant {
                organisation: self.first_organisation(&m.user_id).await?,
                user_id: m.user_id,
                display_name: m.display_name,
                profession: m.profession,
                role: m.role,
                status: m.status,
                start,
                end,
            });
        }
        Ok(CareTeamView {
            patient,
            attending,
            members,
            consent_active,
            consent_recorded: !consents.is_empty(),
            last_updated,
        })
    }

    async fn first_organisation(&self, user_id: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .store
            .affiliations_of(user_id)
            .await?
            .into_iter()
            .next()
            .map(|a| (a.organisation_id, a.organisation_name)))
    }

    async fn consent_record(&self, consent: ConsentRow) -> Result<ConsentRecord> {
        let name = |u: Option<tsunagu_store::people::UserRow>| u.map(|u| u.display_name).unwrap_or_default();
        let recorded_by_name = name(self.store.user_by_id(&consent.recorded_by).await?);
        let withdrawn_by_name = match &consent.withdrawn_by {
            Some(id) => Some(name(self.store.user_by_id(id).await?)),
            None => None,
        };
        Ok(ConsentRecord { consent, recorded_by_name, withdrawn_by_name })
    }

    /// The consent `id` names, or `NotFound` (audited like the gate's refusals) when there is
    /// none: the caller then cannot tell a missing consent from a hidden one.
    async fn consent_row(&self, actor: &Actor, id: &str) -> Result<ConsentRow> {
        let row =
            if id.is_empty() || id.len() > MAX_ID { None } else { self.store.consent_by_id(id).await? };
        match row {
            Some(r) => Ok(r),
            None => {
                let e = actor
                    .event(self.now(), Action::AccessRefused, Outcome::Refused)
                    .target("consent", id.chars().take(40).collect::<String>())
                    .detail("consent");
                self.store.append_audit(vec![e]).await?;
                Err(AppError::NotFound)
            }
        }
    }

    /// One consent (members of its patient's team; audited as a read of the patient).
    pub async fn consent(&self, actor: &Actor, consent_id: &str) -> Result<ConsentRecord> {
        let row = self.consent_row(actor, consent_id).await?;
        self.open_patient(actor, &row.patient_id).await?;
        self.consent_record(row).await
    }

    /// A patient's consents, newest first (team members; audited as a read of the patient).
    pub async fn patient_consents(&self, actor: &Actor, patient_id: &str) -> Result<Vec<ConsentRecord>> {
        let opened = self.open_patient(actor, patient_id).await?;
        let mut out = Vec::new();
        for c in self.store.consents(&opened.patient.id).await? {
            out.push(self.consent_record(c).await?);
        }
        Ok(out)
    }

    /// A consent its caller means to change: the attending or sub-attending physician of its
    /// patient only (`Forbidden` for other members, `NotFound` for anyone else). Nothing is
    /// written but refusals: the change itself is the audited event.
    pub async fn consent_to_change(&self, actor: &Actor, consent_id: &str) -> Result<ConsentRecord> {
        let row = self.consent_row(actor, consent_id).await?;
        let o = self.open_for_write(actor, &row.patient_id).await?;
        if !o.access.can_manage_team() {
            return Err(self.refused(actor, &o.patient.id, "team management", AppError::Forbidden).await);
        }
        self.consent_record(row).await
    }

    /// Records a consent ([`App::record_consent`]) and answers it with the names.
    pub async fn record_consent_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        input: NewConsent,
    ) -> Result<ConsentRecord> {
        let row = self.record_consent(actor, patient_id, input).await?;
        self.consent_record(row).await
    }

    /// Withdraws the consent of a patient through one of their consents
    /// ([`App::withdraw_consent`]: every consent in force on the patient ends, and every member
    /// but the attending physician loses access), and answers that consent as it now is.
    pub async fn withdraw_consent_record(
        &self,
        actor: &Actor,
        consent_id: &str,
        reason: &str,
    ) -> Result<ConsentRecord> {
        let row = self.consent_row(actor, consent_id).await?;
        self.withdraw_consent(actor, &row.patient_id, reason).await?;
        let row = self.store.consent_by_id(&row.id).await?.ok_or(AppError::NotFound)?;
        self.consent_record(row).await
    }
}
