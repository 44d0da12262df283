//! The regional resource directory (C3): what a provider offers, how professionals reach it,
//! and the geometry of "near".

use crate::FieldError;
use crate::org::code_enum;

code_enum!(
    /// The care-insurance service kinds (介護保険サービスの種類) a provider offers, as the national
    /// care-service information publication system names them.
    ServiceKind {
        HomeHelp = "home_help",
        HomeBathing = "home_bathing",
        VisitingNursing = "visiting_nursing",
        HomeRehabilitation = "home_rehabilitation",
        HomeMedicalManagement = "home_medical_management",
        DayService = "day_service",
        CommunityDayService = "community_day_service",
        DayRehabilitation = "day_rehabilitation",
        DementiaDayService = "dementia_day_service",
        ShortStay = "short_stay",
        MedicalShortStay = "medical_short_stay",
        WelfareEquipmentRental = "welfare_equipment_rental",
        WelfareEquipmentSales = "welfare_equipment_sales",
        CareManagement = "care_management",
        SmallMultifunction = "small_multifunction",
        NursingSmallMultifunction = "nursing_small_multifunction",
        RoundTheClockVisits = "round_the_clock_visits",
        NightHomeHelp = "night_home_help",
        GroupHome = "group_home",
        SpecifiedFacility = "specified_facility",
        SpecialNursingHome = "special_nursing_home",
        GeriatricHealthFacility = "geriatric_health_facility",
        CareMedicalHospital = "care_medical_hospital",
    }
);

impl ServiceKind {
    /// The name under which the national open data (介護サービス情報公表システム) lists the
    /// service in its `サービスの種類` column.
    pub fn national_name(self) -> &'static str {
        match self {
            ServiceKind::HomeHelp => "訪問介護",
            ServiceKind::HomeBathing => "訪問入浴介護",
            ServiceKind::VisitingNursing => "訪問看護",
            ServiceKind::HomeRehabilitation => "訪問リハビリテーション",
            ServiceKind::HomeMedicalManagement => "居宅療養管理指導",
            ServiceKind::DayService => "通所介護",
            ServiceKind::CommunityDayService => "地域密着型通所介護",
            ServiceKind::DayRehabilitation => "通所リハビリテーション",
            ServiceKind::DementiaDayService => "認知症対応型通所介護",
            ServiceKind::ShortStay => "短期入所生活介護",
            ServiceKind::MedicalShortStay => "短期入所療養介護",
            ServiceKind::WelfareEquipmentRental => "福祉用具貸与",
            ServiceKind::WelfareEquipmentSales => "特定福祉用具販売",
            ServiceKind::CareManagement => "居宅介護支援",
            ServiceKind::SmallMultifunction => "小規模多機能型居宅介護",
            ServiceKind::NursingSmallMultifunction => "看護小規模多機能型居宅介護",
            ServiceKind::RoundTheClockVisits => "定期巡回・随時対応型訪問介護看護",
            ServiceKind::NightHomeHelp => "夜間対応型訪問介護",
            ServiceKind::GroupHome => "認知症対応型共同生活介護",
            ServiceKind::SpecifiedFacility => "特定施設入居者生活介護",
            ServiceKind::SpecialNursingHome => "介護老人福祉施設",
            ServiceKind::GeriatricHealthFacility => "介護老人保健施設",
            ServiceKind::CareMedicalHospital => "介護医療院",
        }
    }

    /// Finds a service by its national name. The open data writes some services with a
    /// qualifier in brackets (`短期入所療養介護（介護老人保健施設）`); the qualifier is ignored.
    pub fn from_national_name(name: &str) -> Option<Self> {
        let folded = crate::text::fold(name).replace(' ', "");
        let base = folded.split(['(', '（']).next().unwrap_or("");
        ServiceKind::ALL.iter().copied().find(|s| crate::text::fold(s.national_name()) == base)
    }

    /// Whether the service is a short stay, whose free beds the facility publishes.
    pub fn is_short_stay(self) -> bool {
        matches!(self, ServiceKind::ShortStay | ServiceKind::MedicalShortStay)
    }

    /// The kind of organisation a provider imported with this service becomes.
    pub fn org_kind(self) -> crate::org::OrgKind {
        use crate::org::OrgKind as K;
        match self {
            ServiceKind::HomeHelp | ServiceKind::NightHomeHelp | ServiceKind::RoundTheClockVisits => {
                K::HomeHelpProvider
            }
            ServiceKind::VisitingNursing => K::VisitingNursingStation,
            ServiceKind::DayService
            | ServiceKind::CommunityDayService
            | ServiceKind::DayRehabilitation
            | ServiceKind::DementiaDayService => K::DayService,
            ServiceKind::ShortStay | ServiceKind::MedicalShortStay => K::ShortStayFacility,
            ServiceKind::CareManagement => K::CareManagementOffice,
            ServiceKind::SpecialNursingHome => K::SpecialNursingHome,
            ServiceKind::GeriatricHealthFacility => K::GeriatricHealthFacility,
            ServiceKind::CareMedicalHospital => K::LongTermCareMedicalFacility,
            _ => K::CareServiceOffice,
        }
    }

    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

code_enum!(
    /// Medical departments (診療科) a hospital or clinic offers.
    MedicalDepartment {
        InternalMedicine = "internal_medicine",
        Surgery = "surgery",
        Orthopedics = "orthopedics",
        Cardiology = "cardiology",
        Gastroenterology = "gastroenterology",
        Respiratory = "respiratory",
        Neurology = "neurology",
        Neurosurgery = "neurosurgery",
        Psychiatry = "psychiatry",
        Dermatology = "dermatology",
        Ophthalmology = "ophthalmology",
        Otolaryngology = "otolaryngology",
        Urology = "urology",
        Rehabilitation = "rehabilitation",
        Palliative = "palliative",
        Geriatrics = "geriatrics",
        Dentistry = "dentistry",
    }
);

impl MedicalDepartment {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

code_enum!(
    /// Home-care capabilities (在宅医療・介護の対応可能な内容): the fixed vocabulary a care
    /// manager or discharge nurse filters by.
    Capability {
        VisitingCare = "visiting_care",
        HouseCalls = "house_calls",
        RoundTheClock = "round_the_clock",
        EndOfLife = "end_of_life",
        Palliative = "palliative",
        Dementia = "dementia",
        HomeOxygen = "home_oxygen",
        CentralVenousNutrition = "central_venous_nutrition",
        TubeFeeding = "tube_feeding",
        PressureUlcer = "pressure_ulcer",
        SwallowingAssessment = "swallowing_assessment",
        SterileCompounding = "sterile_compounding",
        MedicalNarcotics = "medical_narcotics",
        Ventilator = "ventilator",
        Tracheostomy = "tracheostomy",
        UrinaryCatheter = "urinary_catheter",
        HomeDialysis = "home_dialysis",
        HomeDentistry = "home_dentistry",
        HomeRehabilitation = "home_rehabilitation",
        MedicationManagement = "medication_management",
    }
);

impl Capability {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

code_enum!(
    /// The best way for a professional to reach a provider (連絡方法).
    ContactMethod {
        Phone = "phone",
        Fax = "fax",
        Email = "email",
        Message = "message",
        InPerson = "in_person",
    }
);

impl ContactMethod {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, FieldError> {
        Self::from_code(code).ok_or_else(|| FieldError::new(field, "error.unknown_choice"))
    }
}

code_enum!(
    /// Whether a provider accepts new patients or users.
    Accepting {
        Unknown = "unknown",
        Yes = "yes",
        No = "no",
    }
);

code_enum!(
    /// A short-stay facility's answer to a vacancy inquiry.
    InquiryStatus {
        Open = "open",
        Accepted = "accepted",
        Declined = "declined",
        CallMe = "call_me",
        Withdrawn = "withdrawn",
    }
);

/// A point on the earth in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

/// Mean earth radius in kilometres (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

impl GeoPoint {
    /// A point within Japan's extent (with a margin); anything else is refused as a typing
    /// slip (swapped latitude and longitude, a missing decimal point).
    pub fn new(lat: f64, lon: f64) -> Result<Self, FieldError> {
        if !(20.0..=46.5).contains(&lat) || !lat.is_finite() {
            return Err(FieldError::new("latitude", "error.latitude_range"));
        }
        if !(122.0..=154.5).contains(&lon) || !lon.is_finite() {
            return Err(FieldError::new("longitude", "error.longitude_range"));
        }
        Ok(Self { lat, lon })
    }

    /// Parses a `lat,lon` or `lat|lon` pair as typed in a form or URL.
    pub fn parse_pair(s: &str) -> Result<Self, FieldError> {
        let folded = crate::text::fold(s);
        let mut parts = folded.split([',', '|', ' ']).filter(|p| !p.is_empty());
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(FieldError::new("near", "error.point_format"));
        };
        let lat = a.parse::<f64>().map_err(|_| FieldError::new("near", "error.point_format"))?;
        let lon = b.parse::<f64>().map_err(|_| FieldError::new("near", "error.point_format"))?;
        Self::new(lat, lon).map_err(|e| FieldError { field: "near", ..e })
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// A latitude/longitude box that contains every point within `radius_km`: the cheap,
    /// indexable first cut before the exact distance.
    pub fn bounding_box(self, radius_km: f64) -> BoundingBox {
        let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
        let cos = self.lat.to_radians().cos().max(0.01);
        let dlon = (radius_km / (EARTH_RADIUS_KM * cos)).to_degrees();
        BoundingBox {
            min_lat: self.lat - dlat,
            max_lat: self.lat + dlat,
            min_lon: self.lon - dlon,
            max_lon: self.lon + dlon,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lon: f64,
    pub max_lon: f64,
}

/// The largest search radius, in kilometres.
pub const MAX_RADIUS_KM: f64 = 100.0;

/// Parses a search radius in kilometres (0 < r ≤ 100).
pub fn parse_radius(s: &str) -> Result<f64, FieldError> {
    let r = crate::text::fold(s)
        .trim_end_matches("km")
        .trim()
        .parse::<f64>()
        .map_err(|_| FieldError::new("radius", "error.radius_range"))?;
    if !(r > 0.0 && r <= MAX_RADIUS_KM) {
        return Err(FieldError::new("radius", "error.radius_range"));
    }
    Ok(r)
}

/// The text a provider is found by: its name, kana reading and address, folded (NFKC, katakana
/// as hiragana, lowercase), with the kana also without spaces so a reading typed in one piece
/// matches one stored with a space.
pub fn search_text(name: &str, kana: &str, address: &str, address_extra: &str, district: &str) -> String {
    use crate::text::{fold, name_key};
    [fold(name), fold(kana), name_key(kana), fold(address), fold(address_extra), fold(district)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terms of a search query: folded and split on spaces; every term must match.
pub fn query_terms(q: &str) -> Vec<String> {
    crate::text::fold(q).split(' ').filter(|t| !t.is_empty()).map(str::to_string).take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_names_find_their_service_with_or_without_a_qualifier() {
        assert_eq!(ServiceKind::from_national_name("短期入所生活介護"), Some(ServiceKind::ShortStay));
        assert_eq!(
            ServiceKind::from_national_name("短期入所療養介護（介護老人保健施設）"),
            Some(ServiceKind::MedicalShortStay)
        );
        assert_eq!(
            ServiceKind::from_national_name("訪問リハビリテーション"),
            Some(ServiceKind::HomeRehabilitation)
        );
        assert_eq!(ServiceKind::from_national_name("ｻｰﾋﾞｽ"), None);
    }

    #[test]
    fn every_service_round_trips_through_its_national_name() {
        for s in ServiceKind::ALL {
            assert_eq!(ServiceKind::from_national_name(s.national_name()), Some(*s));
        }
    }

    #[test]
    fn distance_between_kanazawa_station_and_kenrokuen_is_about_two_km() {
        let station = GeoPoint::new(36.5781, 136.6480).unwrap();
        let kenrokuen = GeoPoint::new(36.5625, 136.6625).unwrap();
        let d = station.distance_km(kenrokuen);
        assert!((2.0..2.3).contains(&d), "{d}");
    }

    #[test]
    fn the_bounding_box_contains_the_whole_circle() {
        let c = GeoPoint::new(36.56, 136.65).unwrap();
        let b = c.bounding_box(5.0);
        for (lat, lon) in [(b.min_lat, c.lon), (b.max_lat, c.lon), (c.lat, b.min_lon), (c.lat, b.max_lon)] {
            let d = c.distance_km(GeoPoint { lat, lon });
            assert!((4.99..5.01).contains(&d), "{d}");
        }
    }

    #[test]
    fn points_outside_japan_are_refused() {
        assert_eq!(GeoPoint::new(136.6, 36.5).unwrap_err().code, "error.latitude_range");
        assert_eq!(GeoPoint::new(36.5, 0.0).unwrap_err().code, "error.longitude_range");
        assert!(GeoPoint::new(f64::NAN, 136.0).is_err());
    }

    #[test]
    fn point_pairs_parse_from_forms_and_urls() {
        assert_eq!(GeoPoint::parse_pair("36.5,136.6").unwrap(), GeoPoint { lat: 36.5, lon: 136.6 });
        assert_eq!(GeoPoint::parse_pair("３６．５｜１３６．６").unwrap(), GeoPoint { lat: 36.5, lon: 136.6 });
        assert_eq!(GeoPoint::parse_pair("36.5").unwrap_err().code, "error.point_format");
        assert_eq!(GeoPoint::parse_pair("a,b").unwrap_err().field, "near");
    }

    #[test]
    fn radius_must_be_positive_and_bounded() {
        assert_eq!(parse_radius("5").unwrap(), 5.0);
        assert_eq!(parse_radius("2.5km").unwrap(), 2.5);
        assert!(parse_radius("0").is_err());
        assert!(parse_radius("1000").is_err());
        assert!(parse_radius("NaN").is_err());
    }

    #[test]
    fn search_text_finds_kana_in_any_script_and_width() {
        let t = search_text(
            "地域包括支援センターきしかわ",
            "ちいきほうかつしえんせんたー きしかわ",
            "石川県金沢市岸川町ほ5",
            "",
            "森本",
        );
        for q in ["きしかわ", "キシカワ", "ｷｼｶﾜ", "金沢", "センター"] {
            assert!(query_terms(q).iter().all(|term| t.contains(term.as_str())), "{q}");
        }
    }

    #[test]
    fn query_terms_split_on_any_space() {
        assert_eq!(query_terms("金沢　病院 "), vec!["金沢", "病院"]);
        assert!(query_terms("   ").is_empty());
    }
}
