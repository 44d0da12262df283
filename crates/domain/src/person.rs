//! People: logins, names, professions, duties and the password policy.

use crate::FieldError;
use crate::org::code_enum;

code_enum!(
    /// A person's profession (職種).
    Profession {
        Physician = "physician",
        Dentist = "dentist",
        Pharmacist = "pharmacist",
        Nurse = "nurse",
        PublicHealthNurse = "public_health_nurse",
        CareManager = "care_manager",
        ChiefCareManager = "chief_care_manager",
        SocialWorker = "social_worker",
        HomeHelper = "home_helper",
        PhysicalTherapist = "physical_therapist",
        OccupationalTherapist = "occupational_therapist",
        SpeechTherapist = "speech_therapist",
        Dietitian = "dietitian",
        DentalHygienist = "dental_hygienist",
        MedicalSocialWorker = "medical_social_worker",
        Clerk = "clerk",
        WelfareCommissioner = "welfare_commissioner",
        WelfarePromoter = "welfare_promoter",
    }
);

impl Profession {
    /// Physicians and dentists may be invited to a care team; everyone else waits for a
    /// physician's approval (DESIGN §3.2).
    pub fn is_physician_or_dentist(self) -> bool {
        matches!(self, Profession::Physician | Profession::Dentist)
    }

    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

code_enum!(
    /// A duty a person holds besides their profession.
    Duty {
        SystemAdministrator = "system_administrator",
        HomeCareCoordinator = "home_care_coordinator",
        SupportCenterStaff = "support_center_staff",
        CityOfficial = "city_official",
        ProviderOperator = "provider_operator",
        Auditor = "auditor",
    }
);

impl Duty {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

/// A login name: 3–32 characters of lowercase ASCII letters, digits, `-`, `_` and `.`,
/// starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Login(String);

impl Login {
    pub const MAX: usize = 32;

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim().to_ascii_lowercase();
        if v.is_empty() {
            return Err(FieldError::new("login", "error.required"));
        }
        if v.len() > Self::MAX {
            return Err(FieldError::with_limit("login", "error.too_long", Self::MAX));
        }
        if v.len() < 3 {
            return Err(FieldError::with_limit("login", "error.too_short", 3));
        }
        let ok_first = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let ok_rest =
            v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if !ok_first || !ok_rest {
            return Err(FieldError::new("login", "error.login_chars"));
        }
        Ok(Self(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown to others (kanji), with its kana reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    pub display: String,
    pub kana: String,
}

impl PersonName {
    pub fn parse(display: &str, kana: &str) -> Result<Self, crate::Invalid> {
        let mut errs = crate::Invalid::default();
        let display = crate::validation::text("display_name", display, true, 60)
            .map_err(|e| errs.push(e))
            .unwrap_or_default();
        let kana = match crate::validation::text("display_name_kana", kana, false, 60) {
            Ok(k) if !k.is_empty() && !crate::text::is_kana_text(&k) => {
                errs.push(FieldError::new("display_name_kana", "error.kana_only"));
                String::new()
            }
            Ok(k) => k,
            Err(e) => {
                errs.push(e);
                String::new()
            }
        };
        errs.into_result()?;
        Ok(Self { display, kana })
    }
}

/// The longest password accepted (argon2 hashes anything, but a megabyte password is an attack).
pub const PASSWORD_MAX: usize = 256;
/// The shortest password without a second factor (DESIGN §3.7).
pub const PASSWORD_MIN: usize = 13;
/// The shortest password once a second factor is set.
pub const PASSWORD_MIN_WITH_SECOND_FACTOR: usize = 8;

/// Checks a new password against the policy: 13+ characters, or 8+ when the person has a second
/// factor; at most [`PASSWORD_MAX`]; not the login itself.
pub fn check_password(password: &str, login: &str, has_second_factor: bool) -> Result<(), FieldError> {
    let n = password.chars().count();
    let min = if has_second_factor { PASSWORD_MIN_WITH_SECOND_FACTOR } else { PASSWORD_MIN };
    if n < min {
        return Err(FieldError::with_limit("password", "error.password_too_short", min));
    }
    if n > PASSWORD_MAX {
        return Err(FieldError::with_limit("password", "error.too_long", PASSWORD_MAX));
    }
    if password.eq_ignore_ascii_case(login) {
        return Err(FieldError::new("password", "error.password_is_login"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_lowercased_and_checked() {
        assert_eq!(Login::parse(" Nurse ").unwrap().as_str(), "nurse");
        assert_eq!(Login::parse("er-physician").unwrap().as_str(), "er-physician");
        assert_eq!(Login::parse("看護師").unwrap_err().code, "error.login_chars");
        assert_eq!(Login::parse("ab").unwrap_err().code, "error.too_short");
        assert_eq!(Login::parse(&"a".repeat(33)).unwrap_err().code, "error.too_long");
        assert_eq!(Login::parse("-x-").unwrap_err().code, "error.login_chars");
    }

    #[test]
    fn a_password_needs_thirteen_characters_without_a_second_factor() {
        assert!(check_password("twelve-chars", "nurse", false).is_err());
        assert!(check_password("thirteen-char", "nurse", false).is_ok());
    }

    #[test]
    fn a_password_needs_eight_characters_with_a_second_factor() {
        assert!(check_password("seven-c", "nurse", true).is_err());
        assert!(check_password("eight-ch", "nurse", true).is_ok());
    }

    #[test]
    fn japanese_passwords_count_characters_not_bytes() {
        assert!(check_password("あいうえおかきくけこさしす", "nurse", false).is_ok());
    }

    #[test]
    fn a_huge_password_is_refused() {
        let e = check_password(&"x".repeat(PASSWORD_MAX + 1), "nurse", false).unwrap_err();
        assert_eq!(e.code, "error.too_long");
    }

    #[test]
    fn the_kana_reading_must_be_kana() {
        assert!(PersonName::parse("山田 花子", "やまだ はなこ").is_ok());
        assert!(PersonName::parse("山田 花子", "ヤマダ　ハナコ").is_ok());
        let e = PersonName::parse("山田 花子", "山田").unwrap_err();
        assert!(e.has("display_name_kana"));
    }

    #[test]
    fn only_physicians_and_dentists_may_be_invited_directly() {
        assert!(Profession::Physician.is_physician_or_dentist());
        assert!(Profession::Dentist.is_physician_or_dentist());
        assert!(!Profession::CareManager.is_physician_or_dentist());
    }

    #[test]
    fn every_profession_and_duty_round_trips() {
        for p in Profession::ALL {
            assert_eq!(Profession::from_code(p.code()), Some(*p));
        }
        for d in Duty::ALL {
            assert_eq!(Duty::from_code(d.code()), Some(*d));
        }
        assert_eq!(Profession::ALL.len(), 18);
    }
}
