//! Patient information sharing: the values of a shared record and the access rules (DESIGN §3.1,
//! §3.2, §3.6) as pure functions. The app layer gathers the facts and asks [`decide`]; nothing
//! else decides who may see a patient.

use crate::org::code_enum;
use crate::person::Profession;
use crate::{FieldError, Timestamp};

code_enum!(
    /// Care-insurance level (要支援・要介護).
    CareLevel {
        None = "none",
        Support1 = "support_1",
        Support2 = "support_2",
        Care1 = "care_1",
        Care2 = "care_2",
        Care3 = "care_3",
        Care4 = "care_4",
        Care5 = "care_5",
    }
);

code_enum!(
    /// Administrative sex as recorded (FHIR: male, female, other, unknown).
    Sex {
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
);

code_enum!(
    /// A person's role on a patient's care team.
    TeamRole {
        Attending = "attending",
        SubAttending = "sub_attending",
        Member = "member",
    }
);

code_enum!(
    /// Where a team membership stands. Only `Active` grants access.
    MemberStatus {
        Pending = "pending",
        Active = "active",
        Refused = "refused",
        Removed = "removed",
    }
);

code_enum!(
    /// Who gave consent.
    Consenter {
        Patient = "patient",
        Proxy = "proxy",
    }
);

code_enum!(
    /// The kinds of entry on a patient's timeline.
    EntryKind {
        Visit = "visit",
        Vitals = "vitals",
        Message = "message",
        File = "file",
        Acp = "acp",
    }
);

code_enum!(
    /// Where a patient wishes to be cared for, or to die (ACP, 人生会議).
    CarePlace {
        Home = "home",
        Facility = "facility",
        Hospital = "hospital",
        Undecided = "undecided",
        Other = "other",
    }
);

code_enum!(
    /// A patient's wish about cardiopulmonary resuscitation (ACP, 人生会議).
    Resuscitation {
        Wanted = "wanted",
        Dnar = "dnar",
        Undecided = "undecided",
    }
);

impl CareLevel {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

impl Sex {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

/// A calendar date `YYYY-MM-DD`, checked to exist and to lie in a plausible range.
pub fn parse_date(field: &'static str, s: &str, required: bool) -> Result<Option<String>, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return if required { Err(FieldError::new(field, "error.required")) } else { Ok(None) };
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).map_err(|_| FieldError::new(field, "error.bad_date"))?;
    if d.year() < 1900 || d.year() > 2200 {
        return Err(FieldError::new(field, "error.bad_date"));
    }
    Ok(Some(d.format(&fmt).unwrap_or_default()))
}

/// The facts about one actor and one patient that access depends on.
#[derive(Debug, Clone)]
pub struct AccessFacts {
    pub now: Timestamp,
    /// The actor is the patient's attending physician.
    pub is_attending: bool,
    /// The actor's membership, if any: role, status and end (UTC micros).
    pub membership: Option<(TeamRole, MemberStatus, Option<i64>)>,
    /// The patient has an active (not withdrawn) consent.
    pub consent_active: bool,
    /// An emergency view the actor opened, until when (UTC micros).
    pub emergency_until: Option<i64>,
}

impl AccessFacts {
    /// A membership as stored (role and status codes, end): `None` without one, or when a code
    /// is not a known one (which then grants nothing).
    pub fn membership_of(
        role: Option<&str>,
        status: Option<&str>,
        ends_at: Option<i64>,
    ) -> Option<(TeamRole, MemberStatus, Option<i64>)> {
        Some((TeamRole::from_code(role?)?, MemberStatus::from_code(status?)?, ends_at))
    }
}

/// What an actor may do with one patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing; indistinguishable from a patient who does not exist.
    None,
    /// The emergency summary only, read-only, until it expires.
    Emergency,
    /// A full team member: read and write the timeline.
    Member(TeamRole),
}

impl Access {
    pub fn can_read(self) -> bool {
        matches!(self, Access::Member(_))
    }

    /// Attending and sub-attending physicians admit the team and keep the consent.
    pub fn can_manage_team(self) -> bool {
        matches!(self, Access::Member(TeamRole::Attending | TeamRole::SubAttending))
    }

    pub fn can_read_emergency_summary(self) -> bool {
        matches!(self, Access::Member(_) | Access::Emergency)
    }
}

/// The access rule. The attending physician always sees their patient (even before consent is
/// recorded); everyone else needs an active consent and an active membership that has not
/// ended; an emergency view grants the summary only, until it expires.
pub fn decide(f: &AccessFacts) -> Access {
    if f.is_attending {
        return Access::Member(TeamRole::Attending);
    }
    if f.consent_active
        && let Some((role, MemberStatus::Active, ends)) = f.membership
        && ends.is_none_or(|e| e > f.now.micros())
    {
        return Access::Member(role);
    }
    match f.emergency_until {
        Some(until) if until > f.now.micros() => Access::Emergency,
        _ => Access::None,
    }
}

/// Whether a person of this profession joins a team only on a physician's approval.
pub fn needs_approval(p: Profession) -> bool {
    !p.is_physician_or_dentist()
}

/// One vital sign with its unit and the range a real measurement can take. Values outside are
/// refused with the reason, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VitalKind {
    SystolicBp,
    DiastolicBp,
    Pulse,
    Temperature,
    Spo2,
    RespiratoryRate,
    Weight,
    Glucose,
}

impl VitalKind {
    pub const ALL: &'static [VitalKind] = &[
        VitalKind::SystolicBp,
        VitalKind::DiastolicBp,
        VitalKind::Pulse,
        VitalKind::Temperature,
        VitalKind::Spo2,
        VitalKind::RespiratoryRate,
        VitalKind::Weight,
        VitalKind::Glucose,
    ];

    pub fn code(self) -> &'static str {
        match self {
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

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == s)
    }

    /// The UCUM unit.
    pub fn unit(self) -> &'static str {
        match self {
            VitalKind::SystolicBp | VitalKind::DiastolicBp => "mm[Hg]",
            VitalKind::Pulse | VitalKind::RespiratoryRate => "/min",
            VitalKind::Temperature => "Cel",
            VitalKind::Spo2 => "%",
            VitalKind::Weight => "kg",
            VitalKind::Glucose => "mg/dL",
        }
    }

    /// The unit as shown to people.
    pub fn display_unit(self) -> &'static str {
        match self {
            VitalKind::SystolicBp | VitalKind::DiastolicBp => "mmHg",
            VitalKind::Pulse | VitalKind::RespiratoryRate => "/分",
            VitalKind::Temperature => "℃",
            VitalKind::Spo2 => "%",
            VitalKind::Weight => "kg",
            VitalKind::Glucose => "mg/dL",
        }
    }

    /// The range a living person's measurement can take.
    pub fn range(self) -> (f64, f64) {
        match self {
            VitalKind::SystolicBp => (40.0, 300.0),
            VitalKind::DiastolicBp => (20.0, 200.0),
            VitalKind::Pulse => (20.0, 250.0),
            VitalKind::Temperature => (30.0, 43.0),
            VitalKind::Spo2 => (50.0, 100.0),
            VitalKind::RespiratoryRate => (4.0, 70.0),
            VitalKind::Weight => (10.0, 300.0),
            VitalKind::Glucose => (10.0, 1000.0),
        }
    }

    /// The usual range for an adult at rest, shaded on charts; `None` where there is no
    /// population norm (weight). Sources: JSH 2019 (blood pressure below 140/90 and, for the
    /// frail elderly, not below 90/60), the usual clinical ranges for pulse (60–100),
    /// respiration (12–20) and axillary temperature (36.0–37.5 ℃), SpO2 95 % or more, and a
    /// casual (non-fasting) glucose of 70–140 mg/dL. A chart, not a diagnosis: the physician's
    /// targets for a patient may differ.
    pub fn normal_band(self) -> Option<(f64, f64)> {
        match self {
            VitalKind::SystolicBp => Some((90.0, 140.0)),
            VitalKind::DiastolicBp => Some((60.0, 90.0)),
            VitalKind::Pulse => Some((60.0, 100.0)),
            VitalKind::Temperature => Some((36.0, 37.5)),
            VitalKind::Spo2 => Some((95.0, 100.0)),
            VitalKind::RespiratoryRate => Some((12.0, 20.0)),
            VitalKind::Weight => None,
            VitalKind::Glucose => Some((70.0, 140.0)),
        }
    }

    /// Parses a typed value (full-width digits accepted) and checks its range.
    pub fn parse(self, field: &'static str, s: &str) -> Result<Option<f64>, FieldError> {
        let s = crate::text::fold(s);
        if s.is_empty() {
            return Ok(None);
        }
        let v: f64 = s.parse().map_err(|_| FieldError::new(field, "error.not_a_number"))?;
        if !v.is_finite() {
            return Err(FieldError::new(field, "error.not_a_number"));
        }
        let (lo, hi) = self.range();
        if v < lo || v > hi {
            return Err(FieldError::new(field, "error.vital_out_of_range"));
        }
        Ok(Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> AccessFacts {
        AccessFacts {
            now: Timestamp(1_000_000),
            is_attending: false,
            membership: None,
            consent_active: true,
            emergency_until: None,
        }
    }

    #[test]
    fn the_attending_physician_sees_the_patient_even_without_consent() {
        let f = AccessFacts { is_attending: true, consent_active: false, ..facts() };
        assert_eq!(decide(&f), Access::Member(TeamRole::Attending));
    }

    #[test]
    fn an_active_member_sees_the_patient_under_consent() {
        let f = AccessFacts { membership: Some((TeamRole::Member, MemberStatus::Active, None)), ..facts() };
        assert_eq!(decide(&f), Access::Member(TeamRole::Member));
    }

    #[test]
    fn a_pending_member_sees_nothing() {
        let f = AccessFacts { membership: Some((TeamRole::Member, MemberStatus::Pending, None)), ..facts() };
        assert_eq!(decide(&f), Access::None);
    }

    #[test]
    fn withdrawing_consent_locks_out_every_member_but_the_attending_physician() {
        let f = AccessFacts {
            membership: Some((TeamRole::SubAttending, MemberStatus::Active, None)),
            consent_active: false,
            ..facts()
        };
        assert_eq!(decide(&f), Access::None);
    }

    #[test]
    fn a_membership_past_its_end_date_gives_nothing() {
        let f = AccessFacts {
            membership: Some((TeamRole::Member, MemberStatus::Active, Some(999_999))),
            ..facts()
        };
        assert_eq!(decide(&f), Access::None);
    }

    #[test]
    fn removed_and_refused_members_see_nothing() {
        for s in [MemberStatus::Removed, MemberStatus::Refused] {
            let f = AccessFacts { membership: Some((TeamRole::Member, s, None)), ..facts() };
            assert_eq!(decide(&f), Access::None);
        }
    }

    #[test]
    fn an_emergency_view_gives_the_summary_until_it_expires() {
        let f = AccessFacts { emergency_until: Some(2_000_000), consent_active: false, ..facts() };
        assert_eq!(decide(&f), Access::Emergency);
        assert!(!decide(&f).can_read());
        assert!(decide(&f).can_read_emergency_summary());
        let f = AccessFacts { emergency_until: Some(1_000_000), ..facts() };
        assert_eq!(decide(&f), Access::None);
    }

    #[test]
    fn only_attending_and_sub_attending_manage_the_team() {
        assert!(Access::Member(TeamRole::Attending).can_manage_team());
        assert!(Access::Member(TeamRole::SubAttending).can_manage_team());
        assert!(!Access::Member(TeamRole::Member).can_manage_team());
        assert!(!Access::Emergency.can_manage_team());
    }

    #[test]
    fn non_physicians_need_approval() {
        assert!(needs_approval(Profession::CareManager));
        assert!(needs_approval(Profession::Nurse));
        assert!(!needs_approval(Profession::Dentist));
    }

    #[test]
    fn an_impossible_vital_sign_is_refused_with_the_reason() {
        assert_eq!(VitalKind::Temperature.parse("t", "36.5").unwrap(), Some(36.5));
        assert_eq!(VitalKind::Temperature.parse("t", "３６．８").unwrap(), Some(36.8));
        assert_eq!(VitalKind::Temperature.parse("t", "365").unwrap_err().code, "error.vital_out_of_range");
        assert_eq!(VitalKind::Spo2.parse("s", "101").unwrap_err().code, "error.vital_out_of_range");
        assert_eq!(VitalKind::Pulse.parse("p", "abc").unwrap_err().code, "error.not_a_number");
        assert_eq!(VitalKind::Pulse.parse("p", "NaN").unwrap_err().code, "error.not_a_number");
        assert_eq!(VitalKind::Pulse.parse("p", "").unwrap(), None);
    }

    #[test]
    fn every_normal_band_lies_inside_the_possible_range() {
        for k in VitalKind::ALL {
            let (lo, hi) = k.range();
            if let Some((a, b)) = k.normal_band() {
                assert!(lo <= a && a < b && b <= hi, "{k:?}");
            }
        }
        assert_eq!(VitalKind::Spo2.normal_band(), Some((95.0, 100.0)));
        assert_eq!(VitalKind::Weight.normal_band(), None);
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(parse_date("d", "1940-02-29", true).unwrap(), None.or(Some("1940-02-29".into())));
        assert_eq!(parse_date("d", "1941-02-29", true).unwrap_err().code, "error.bad_date");
        assert_eq!(parse_date("d", "", true).unwrap_err().code, "error.required");
        assert_eq!(parse_date("d", "", false).unwrap(), None);
        assert_eq!(parse_date("d", "1800-01-01", true).unwrap_err().code, "error.bad_date");
    }
}
