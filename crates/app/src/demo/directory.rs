//! The demo region's resource directory: the city's support centers with where they are, and
//! some sixty providers of the Kanazawa area from `data/kanazawa-demo-directory.toml` with
//! their services, capabilities, contact routes, physicians' consultation hours and short-stay
//! vacancies. Times in the file are relative to the moment of loading (confirmed so many days
//! ago, vacancies confirmed so many hours ago), so the demo shows fresh and stale figures
//! whenever it is loaded.

use serde::Deserialize;
use tsunagu_domain::directory::{
    Accepting, Capability, ContactMethod, MedicalDepartment, ServiceKind, search_text,
};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::{OrganisationId, Timestamp};
use tsunagu_store::Tx;
use tsunagu_store::directory::hours::{ConsultationExceptionRow, ConsultationSlotRow};
use tsunagu_store::directory::vacancies::VacancyRow;
use tsunagu_store::directory::{CodeSet, ProviderRow};

use super::{CenterLine, field};
use crate::{AppError, Result};

/// The directory of the demo region.
pub(super) const DIRECTORY_TOML: &str = include_str!("../../../../data/kanazawa-demo-directory.toml");

/// How many days ahead the vacancy figures of a file may reach.
const VACANCY_DAYS: usize = 21;
/// When the support centers' entries were last confirmed, in days before loading.
const CENTERS_CONFIRMED_DAYS_AGO: i64 = 30;
/// Kanazawa's extent, with a margin: every point of the file lies inside.
const LAT_RANGE: std::ops::RangeInclusive<f64> = 36.45..=36.70;
const LON_RANGE: std::ops::RangeInclusive<f64> = 136.55..=136.80;

const DAY_SECONDS: i64 = 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    centers: Vec<CenterPlace>,
    providers: Vec<Entry>,
}

/// Where a support center of the city's CSV is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CenterPlace {
    no: String,
    postal_code: String,
    lat: f64,
    lon: f64,
    /// Default: the first district it serves (a branch: its parent's).
    #[serde(default)]
    district: Option<String>,
}

/// One provider of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    kind: String,
    name: String,
    kana: String,
    postal_code: String,
    address: String,
    #[serde(default)]
    address_extra: String,
    lat: f64,
    lon: f64,
    district: String,
    phone: String,
    #[serde(default)]
    fax: String,
    #[serde(default)]
    website: String,
    #[serde(default)]
    emergency_hospital: bool,
    #[serde(default = "unknown")]
    accepting: String,
    #[serde(default)]
    capacity: Option<i64>,
    #[serde(default)]
    open_days: String,
    #[serde(default)]
    open_days_note: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    departments: Vec<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    contact_line: String,
    #[serde(default)]
    contact_person: String,
    #[serde(default)]
    contact_method: String,
    #[serde(default)]
    contact_hours: String,
    #[serde(default)]
    consult_on_holidays: bool,
    /// `None`: never confirmed.
    #[serde(default)]
    confirmed_days_ago: Option<i64>,
    #[serde(default)]
    hours: Vec<Slot>,
    #[serde(default)]
    exceptions: Vec<Exception>,
    #[serde(default)]
    vacancies: Option<Vacancies>,
}

fn unknown() -> String {
    Accepting::Unknown.code().to_string()
}

/// A weekly consultation slot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slot {
    physician: String,
    /// 0 = Monday … 6 = Sunday.
    weekday: i64,
    start: String,
    end: String,
    #[serde(default)]
    note: String,
}

/// A day that differs from the weekly hours, counted from the day of loading.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exception {
    in_days: i64,
    closed: bool,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    note: String,
}

/// Free beds from the day of loading on (`-1`: no figure that day), confirmed together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vacancies {
    confirmed_hours_ago: i64,
    beds: Vec<i64>,
}

fn parse_file() -> std::result::Result<DirectoryFile, String> {
    toml::from_str(DIRECTORY_TOML).map_err(|e| e.to_string())
}

/// `HH:MM` as minutes of the day (`24:00` allowed as an end).
fn minutes(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
    let total = h * 60 + m;
    ((0..60).contains(&m) && (0..=1440).contains(&total)).then_some(total)
}

fn is_kana(s: &str) -> bool {
    !s.trim().is_empty() && s.chars().all(|c| ('ぁ'..='ゖ').contains(&c) || c == 'ー' || c == ' ')
}

/// Everything wrong with the file, given the city's centers; empty when it may be loaded.
fn problems(file: &DirectoryFile, centers: &[CenterLine]) -> Vec<String> {
    let mut out = Vec::new();
    let districts: Vec<&str> = centers
        .iter()
        .flat_map(|c| c.districts.split(';'))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let inside = |lat: f64, lon: f64| LAT_RANGE.contains(&lat) && LON_RANGE.contains(&lon);
    for c in centers {
        if !file.centers.iter().any(|p| p.no == c.no) {
            out.push(format!("center {}: no place", c.no));
        }
    }
    for (i, p) in file.centers.iter().enumerate() {
        if !centers.iter().any(|c| c.no == p.no) {
            out.push(format!("center {}: not in the city's list", p.no));
        }
        if file.centers[..i].iter().any(|q| q.no == p.no) {
            out.push(format!("center {}: twice", p.no));
        }
        if !inside(p.lat, p.lon) {
            out.push(format!("center {}: outside Kanazawa", p.no));
        }
        if p.district.as_deref().is_some_and(|d| !districts.contains(&d)) {
            out.push(format!("center {}: unknown district", p.no));
        }
        if !is_postal_code(&p.postal_code) {
            out.push(format!("center {}: postal code", p.no));
        }
    }
    for (i, e) in file.providers.iter().enumerate() {
        let at = &e.key;
        if e.key.is_empty() || e.key.starts_with("center:") {
            out.push(format!("{at}: bad key"));
        }
        if file.providers[..i].iter().any(|o| o.key == e.key) {
            out.push(format!("{at}: key twice"));
        }
        if file.providers[..i].iter().any(|o| o.name == e.name) {
            out.push(format!("{at}: name twice"));
        }
        match OrgKind::from_code(&e.kind) {
            None => out.push(format!("{at}: kind {}", e.kind)),
            Some(k) if k.is_support_center() => out.push(format!("{at}: centers come from the CSV")),
            Some(_) => {}
        }
        if e.name.trim().is_empty() || !is_kana(&e.kana) {
            out.push(format!("{at}: name or kana"));
        }
        if !e.address.starts_with("石川県金沢市") || !is_postal_code(&e.postal_code) {
            out.push(format!("{at}: address or postal code"));
        }
        if !inside(e.lat, e.lon) {
            out.push(format!("{at}: outside Kanazawa"));
        }
        if !districts.contains(&e.district.as_str()) {
            out.push(format!("{at}: unknown district {}", e.district));
        }
        for phone in [&e.phone, &e.fax, &e.contact_line] {
            if !phone.is_empty() && !phone.chars().all(|c| c.is_ascii_digit() || c == '-') {
                out.push(format!("{at}: phone number {phone}"));
            }
        }
        let example_site = e.website.starts_with("https://") && e.website.contains(".example.jp/");
        if !e.website.is_empty() && !example_site {
            out.push(format!("{at}: web site"));
        }
        if Accepting::from_code(&e.accepting).is_none() {
            out.push(format!("{at}: accepting {}", e.accepting));
        }
        if !e.contact_method.is_empty() && ContactMethod::from_code(&e.contact_method).is_none() {
            out.push(format!("{at}: contact method {}", e.contact_method));
        }
        out.extend(
            e.services.iter().filter(|s| ServiceKind::from_code(s).is_none()).map(|s| format!("{at}: {s}")),
        );
        out.extend(
            e.departments
                .iter()
                .filter(|d| MedicalDepartment::from_code(d).is_none())
                .map(|d| format!("{at}: {d}")),
        );
        out.extend(
            e.capabilities
                .iter()
                .filter(|c| Capability::from_code(c).is_none())
                .map(|c| format!("{at}: {c}")),
        );
        if e.capacity.is_some_and(|c| !(1..=2000).contains(&c)) {
            out.push(format!("{at}: capacity"));
        }
        if e.confirmed_days_ago.is_some_and(|d| d < 0) {
            out.push(format!("{at}: confirmed in the future"));
        }
        for s in &e.hours {
            let span = minutes(&s.start).zip(minutes(&s.end));
            if !(0..=6).contains(&s.weekday) || span.is_none_or(|(a, b)| a >= b) || s.physician.is_empty() {
                out.push(format!("{at}: hours {} {}–{}", s.weekday, s.start, s.end));
            }
        }
        for x in &e.exceptions {
            let span = x.start.as_deref().and_then(minutes).zip(x.end.as_deref().and_then(minutes));
            let ok = if x.closed {
                x.start.is_none() && x.end.is_none()
            } else {
                span.is_some_and(|(a, b)| a < b)
            };
            if !ok || x.in_days < 0 {
                out.push(format!("{at}: exception in {} days", x.in_days));
            }
        }
        if let Some(v) = &e.vacancies {
            if v.beds.is_empty()
                || v.beds.len() > VACANCY_DAYS
                || v.beds.iter().any(|b| *b < -1 || *b > e.capacity.unwrap_or(999))
                || v.confirmed_hours_ago < 0
            {
                out.push(format!("{at}: vacancies"));
            }
            if !e.services.iter().filter_map(|s| ServiceKind::from_code(s)).any(ServiceKind::is_short_stay) {
                out.push(format!("{at}: vacancies without a short stay"));
            }
        }
    }
    out
}

/// The first district a center serves.
fn first_district(c: &CenterLine) -> Option<&str> {
    c.districts.split(';').map(str::trim).find(|d| !d.is_empty())
}

fn is_postal_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8 && b[3] == b'-' && b.iter().enumerate().all(|(i, c)| i == 3 || c.is_ascii_digit())
}

fn code_list<T: Copy>(
    codes: &[String],
    parse: fn(&str) -> Option<T>,
    code: fn(T) -> &'static str,
) -> Vec<String> {
    codes.iter().filter_map(|c| parse(c)).map(|c| code(c).to_string()).collect()
}

/// Writes the support centers (with their districts) and the providers, with their codes,
/// consultation hours and vacancies. Returns each one's key (`center:<no>` for a center) and id.
pub(super) async fn load(
    tx: &mut Tx,
    now: Timestamp,
    centers: &[CenterLine],
) -> Result<Vec<(String, String)>> {
    let file = parse_file().map_err(field)?;
    let wrong = problems(&file, centers);
    if !wrong.is_empty() {
        return Err(AppError::Internal(format!("demo data: {}", wrong.join("; "))));
    }
    let days_ago = |d: i64| now.plus_seconds(-d * DAY_SECONDS).micros();
    let mut keys: Vec<(String, String)> = Vec::new();

    for l in centers {
        let branch = l.kind == "branch";
        let parent = centers.iter().find(|c| branch && c.no == l.parent_no);
        let parent_id = parent.and_then(|p| {
            keys.iter().find(|(k, _)| *k == format!("center:{}", p.no)).map(|(_, id)| id.clone())
        });
        let name = if branch {
            format!("地域包括支援センター{}（{}）", l.name, l.branch_facility)
        } else {
            format!("地域包括支援センター{}", l.name)
        };
        let kana = format!("ちいきほうかつしえんせんたー {}", l.name);
        let place = file.centers.iter().find(|p| p.no == l.no);
        let district = place
            .and_then(|p| p.district.clone())
            .or_else(|| first_district(l).or_else(|| parent.and_then(first_district)).map(str::to_string));
        let confirmed = days_ago(CENTERS_CONFIRMED_DAYS_AGO);
        let row = ProviderRow {
            id: OrganisationId::new().to_string(),
            kind: if branch { OrgKind::SupportCenterBranch } else { OrgKind::SupportCenter }
                .code()
                .to_string(),
            search_text: search_text(&name, &kana, &l.address, "", district.as_deref().unwrap_or("")),
            name,
            name_kana: kana,
            parent_id,
            city_no: Some(l.no.clone()),
            address: l.address.clone(),
            phone: l.phone.clone(),
            jurisdiction: l.jurisdiction.clone(),
            operator_name: l.operator.clone(),
            is_emergency_hospital: false,
            created_at: confirmed,
            updated_at: confirmed,
            postal_code: place.map(|p| p.postal_code.clone()).unwrap_or_default(),
            address_extra: String::new(),
            latitude: place.map(|p| p.lat),
            longitude: place.map(|p| p.lon),
            district,
            fax: String::new(),
            website: String::new(),
            corporate_number: String::new(),
            office_no: None,
            capacity: None,
            open_days: "月,火,水,木,金".to_string(),
            open_days_note: "土日祝日・年末年始は休み".to_string(),
            accepting: Accepting::Unknown.code().to_string(),
            description: String::new(),
            contact_line: l.phone.clone(),
            contact_person: String::new(),
            contact_method: ContactMethod::Phone.code().to_string(),
            contact_hours: "平日 8:30〜17:15".to_string(),
            consult_on_holidays: false,
            confirmed_at: Some(confirmed),
            version: 1,
            manual_fields: String::new(),
        };
        tx.insert_provider(&row).await?;
        for (i, d) in l.districts.split(';').map(str::trim).filter(|d| !d.is_empty()).enumerate() {
            tx.insert_district(d, &row.id, i64::try_from(i).unwrap_or(0)).await?;
        }
        keys.push((format!("center:{}", l.no), row.id));
    }

    for e in &file.providers {
        let confirmed_at = e.confirmed_days_ago.map(days_ago);
        let since = confirmed_at.unwrap_or(now.micros());
        let row = ProviderRow {
            id: OrganisationId::new().to_string(),
            kind: e.kind.clone(),
            name: e.name.clone(),
            name_kana: e.kana.clone(),
            parent_id: None,
            city_no: None,
            address: e.address.clone(),
            phone: e.phone.clone(),
            jurisdiction: String::new(),
            operator_name: String::new(),
            is_emergency_hospital: e.emergency_hospital,
            created_at: since,
            updated_at: since,
            postal_code: e.postal_code.clone(),
            address_extra: e.address_extra.clone(),
            latitude: Some(e.lat),
            longitude: Some(e.lon),
            district: Some(e.district.clone()),
            fax: e.fax.clone(),
            website: e.website.clone(),
            corporate_number: String::new(),
            office_no: None,
            capacity: e.capacity,
            open_days: e.open_days.clone(),
            open_days_note: e.open_days_note.clone(),
            accepting: e.accepting.clone(),
            description: e.description.clone(),
            contact_line: e.contact_line.clone(),
            contact_person: e.contact_person.clone(),
            contact_method: e.contact_method.clone(),
            contact_hours: e.contact_hours.clone(),
            consult_on_holidays: e.consult_on_holidays,
            search_text: search_text(&e.name, &e.kana, &e.address, &e.address_extra, &e.district),
            confirmed_at,
            version: 1,
            manual_fields: String::new(),
        };
        tx.insert_provider(&row).await?;
        let services = code_list(&e.services, ServiceKind::from_code, ServiceKind::code);
        let departments = code_list(&e.departments, MedicalDepartment::from_code, MedicalDepartment::code);
        let capabilities = code_list(&e.capabilities, Capability::from_code, Capability::code);
        tx.set_provider_codes(&row.id, CodeSet::Services, &services).await?;
        tx.set_provider_codes(&row.id, CodeSet::Departments, &departments).await?;
        tx.set_provider_codes(&row.id, CodeSet::Capabilities, &capabilities).await?;

        for s in &e.hours {
            tx.insert_consultation_slot(&ConsultationSlotRow {
                id: uuid::Uuid::now_v7().to_string(),
                organisation_id: row.id.clone(),
                physician: s.physician.clone(),
                weekday: s.weekday,
                start_minute: minutes(&s.start).unwrap_or(0),
                end_minute: minutes(&s.end).unwrap_or(0),
                note: s.note.clone(),
                created_at: since,
            })
            .await?;
        }
        for x in &e.exceptions {
            tx.insert_consultation_exception(&ConsultationExceptionRow {
                id: uuid::Uuid::now_v7().to_string(),
                organisation_id: row.id.clone(),
                day: now.plus_seconds(x.in_days * DAY_SECONDS).jst_day(),
                closed: x.closed,
                start_minute: x.start.as_deref().and_then(minutes),
                end_minute: x.end.as_deref().and_then(minutes),
                note: x.note.clone(),
                created_at: now.micros(),
            })
            .await?;
        }
        if let Some(v) = &e.vacancies {
            let confirmed_at = now.plus_seconds(-v.confirmed_hours_ago * 3600).micros();
            for (day, beds) in (0i64..).zip(&v.beds).filter(|(_, b)| **b >= 0) {
                tx.upsert_vacancy(&VacancyRow {
                    organisation_id: row.id.clone(),
                    day: now.plus_seconds(day * DAY_SECONDS).jst_day(),
                    free_beds: *beds,
                    confirmed_at,
                    confirmed_by: None,
                })
                .await?;
            }
        }
        keys.push((e.key.clone(), row.id));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centers() -> Vec<CenterLine> {
        let mut reader = csv::Reader::from_reader(super::super::CENTERS_CSV.as_bytes());
        reader.deserialize().collect::<std::result::Result<_, _>>().unwrap()
    }

    #[test]
    fn the_demo_directory_parses_and_every_code_district_and_point_is_sound() {
        let file = parse_file().unwrap();
        assert_eq!(problems(&file, &centers()), Vec::<String>::new());
    }

    #[test]
    fn the_demo_directory_is_a_realistic_mix_of_the_kanazawa_area() {
        let file = parse_file().unwrap();
        let n = file.providers.len();
        assert!((60..=80).contains(&n), "{n} providers");
        let count = |kind: OrgKind| file.providers.iter().filter(|p| p.kind == kind.code()).count();
        assert!(count(OrgKind::HomeCareSupportClinic) >= 8);
        assert!(count(OrgKind::Hospital) >= 4);
        assert!(count(OrgKind::Pharmacy) >= 6);
        assert!(count(OrgKind::VisitingNursingStation) >= 6);
        assert!(count(OrgKind::ShortStayFacility) >= 5);
        assert_eq!(file.providers.iter().filter(|p| p.emergency_hospital).count(), 1);
        // Two-character searches find several.
        assert!(file.providers.iter().filter(|p| p.name.contains("金沢")).count() >= 5);
        assert!(file.providers.iter().filter(|p| p.name.contains("病院")).count() >= 4);
        // Every point lies within Kanazawa's extent.
        for p in &file.providers {
            assert!(LAT_RANGE.contains(&p.lat) && LON_RANGE.contains(&p.lon), "{}", p.key);
        }
    }

    #[test]
    fn the_demo_keeps_the_keys_people_and_patients_refer_to() {
        let file = parse_file().unwrap();
        for (key, kind) in [
            ("city", OrgKind::City),
            ("medassoc", OrgKind::MedicalAssociation),
            ("fire", OrgKind::FireDepartment),
            ("clinic1", OrgKind::HomeCareSupportClinic),
            ("clinic2", OrgKind::HomeCareSupportClinic),
            ("hospital", OrgKind::Hospital),
            ("hchospital", OrgKind::HomeCareSupportHospital),
            ("nursing", OrgKind::VisitingNursingStation),
            ("pharmacy", OrgKind::Pharmacy),
            ("caremgmt", OrgKind::CareManagementOffice),
            ("helpers", OrgKind::HomeHelpProvider),
            ("shortstay", OrgKind::ShortStayFacility),
        ] {
            let p = file.providers.iter().find(|p| p.key == key).unwrap_or_else(|| panic!("no {key}"));
            assert_eq!(p.kind, kind.code(), "{key}");
        }
        let hospital = file.providers.iter().find(|p| p.key == "hospital").unwrap();
        assert!(hospital.emergency_hospital && hospital.name == "金沢中央総合病院");
        for p in super::super::PEOPLE {
            let known = p.organisation.starts_with("center:")
                || file.providers.iter().any(|e| e.key == p.organisation);
            assert!(known, "{}: {}", p.login, p.organisation);
        }
    }

    #[test]
    fn short_stay_vacancies_are_of_varied_freshness() {
        let file = parse_file().unwrap();
        let stays: Vec<&Entry> =
            file.providers.iter().filter(|p| p.kind == OrgKind::ShortStayFacility.code()).collect();
        assert!(stays.iter().all(|p| p.vacancies.is_some()), "every short-stay facility has figures");
        let ages: Vec<i64> =
            stays.iter().filter_map(|p| p.vacancies.as_ref()).map(|v| v.confirmed_hours_ago).collect();
        assert!(ages.iter().any(|h| *h <= 1), "one just confirmed: {ages:?}");
        assert!(ages.iter().any(|h| (2..24).contains(h)), "one fresh but older: {ages:?}");
        assert!(ages.iter().any(|h| (24..48).contains(h)), "one just stale: {ages:?}");
        assert!(ages.iter().any(|h| *h >= 96), "one long stale: {ages:?}");
        let partial = stays.iter().filter_map(|p| p.vacancies.as_ref()).any(|v| v.beds.contains(&-1));
        assert!(partial, "one facility gave only some days");
    }

    #[test]
    fn some_entries_are_confirmed_recently_and_some_are_overdue() {
        let file = parse_file().unwrap();
        let ages: Vec<Option<i64>> = file.providers.iter().map(|p| p.confirmed_days_ago).collect();
        assert!(ages.iter().filter(|a| a.is_some_and(|d| d <= 30)).count() >= 20);
        assert!(ages.iter().filter(|a| a.is_none_or(|d| d > 180)).count() >= 3);
    }

    #[test]
    fn clock_times_parse_as_minutes_of_the_day() {
        assert_eq!(minutes("14:00"), Some(840));
        assert_eq!(minutes("08:30"), Some(510));
        assert_eq!(minutes("24:00"), Some(1440));
        assert_eq!(minutes("24:30"), None);
        assert_eq!(minutes("8:30"), None);
        assert_eq!(minutes("12:60"), None);
    }
}
