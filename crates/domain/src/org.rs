//! Organisations of the region and their kinds.

use crate::FieldError;

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in the database and used in forms and the API.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// Parses a stored or submitted code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// The message-catalog key of the value's label.
            pub fn label_key(self) -> String {
                format!("{}.{}", crate::org::snake(stringify!($name)), self.code())
            }
        }
    };
}
pub(crate) use code_enum;

/// `OrgKind` → `org_kind`, for catalog keys.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

code_enum!(
    /// The kinds of organisation in a region's care network.
    OrgKind {
        Hospital = "hospital",
        HomeCareSupportHospital = "home_care_support_hospital",
        Clinic = "clinic",
        HomeCareSupportClinic = "home_care_support_clinic",
        DentalClinic = "dental_clinic",
        Pharmacy = "pharmacy",
        VisitingNursingStation = "visiting_nursing_station",
        CareManagementOffice = "care_management_office",
        HomeHelpProvider = "home_help_provider",
        DayService = "day_service",
        ShortStayFacility = "short_stay_facility",
        SpecialNursingHome = "special_nursing_home",
        GeriatricHealthFacility = "geriatric_health_facility",
        LongTermCareMedicalFacility = "long_term_care_medical_facility",
        CareServiceOffice = "care_service_office",
        SupportCenter = "support_center",
        SupportCenterBranch = "support_center_branch",
        MedicalAssociation = "medical_association",
        City = "city",
        FireDepartment = "fire_department",
    }
);

impl OrgKind {
    /// Whether physicians work here (a hospital or clinic of any kind).
    pub fn is_medical(self) -> bool {
        matches!(
            self,
            OrgKind::Hospital
                | OrgKind::HomeCareSupportHospital
                | OrgKind::Clinic
                | OrgKind::HomeCareSupportClinic
                | OrgKind::DentalClinic
        )
    }

    /// Whether the organisation is a community support center or one of its branches.
    pub fn is_support_center(self) -> bool {
        matches!(self, OrgKind::SupportCenter | OrgKind::SupportCenterBranch)
    }

    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

/// A district (担当地域): the unit that routes a resident to a community support center.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct District(String);

impl District {
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        let v = crate::validation::text("district", name, true, 40)?;
        Ok(Self(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_org_kind_round_trips_through_its_code() {
        for k in OrgKind::ALL {
            assert_eq!(OrgKind::from_code(k.code()), Some(*k));
        }
    }

    #[test]
    fn org_kind_labels_have_catalog_keys() {
        assert_eq!(OrgKind::HomeCareSupportClinic.label_key(), "org_kind.home_care_support_clinic");
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        assert_eq!(OrgKind::parse("kind", "castle").unwrap_err().code, "error.unknown_choice");
    }

    #[test]
    fn a_branch_is_a_support_center() {
        assert!(OrgKind::SupportCenterBranch.is_support_center());
        assert!(!OrgKind::Pharmacy.is_support_center());
    }
}
