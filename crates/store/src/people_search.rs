//! Finding patients for the API's search: the candidates a person may see, narrowed in SQL by
//! the two ways in (attending physician, or an active membership), with the facts the access
//! rule needs. The app layer asks the rule (`tsunagu_domain::sharing::decide`) for each row;
//! this module only finds.

use crate::patients::PatientRow;
use crate::{Result, Store, read};

/// A patient the person attends or is an active member of, with the facts of their access.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PatientCandidate {
    #[sqlx(flatten)]
    pub patient: PatientRow,
    /// The person's membership (`None` when they only attend).
    pub member_role: Option<String>,
    pub member_status: Option<String>,
    pub member_ends_at: Option<i64>,
    /// How many consents are in force (not withdrawn).
    pub consents_in_force: i64,
}

const CANDIDATE_COLUMNS: &str = "p.id, p.name, p.name_kana, p.name_folded, p.birth_date, p.sex, p.address, \
     p.district, p.support_center_id, p.phone, p.care_level, p.insurance_number, p.key_person, \
     p.emergency_contacts, p.conditions, p.allergies, p.medications, p.attending_physician_id, \
     p.registered_by, p.version, p.created_at, p.updated_at, p.latitude, p.longitude";

impl Store {
    /// The patients `user_id` attends or is an active member of (membership end and consent
    /// are for the caller to judge, with the facts returned), in id order.
    pub async fn patient_candidates(&self, user_id: &str) -> Result<Vec<PatientCandidate>> {
        let sql = format!(
            "select {CANDIDATE_COLUMNS}, m.role as member_role, m.status as member_status, \
             m.ends_at as member_ends_at, \
             (select count(*) from consents c where c.patient_id = p.id and c.withdrawn_at is null) \
             as consents_in_force \
             from patients p left join team_members m on m.patient_id = p.id and m.user_id = $1 \
             where p.attending_physician_id = $1 or m.status = 'active' \
             order by p.id"
        );
        Ok(read!(self, |c| sqlx::query_as::<_, PatientCandidate>(&sql).bind(user_id).fetch_all(c).await)?)
    }
}
