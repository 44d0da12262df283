//! The regional resource directory (C3, C9): search, the public and professional views of a
//! provider, and who may keep an entry. Consultation hours, vacancies, upkeep, import and export
//! live in the submodules.
//!
//! The directory holds no patient data, so residents read its public fields without logging
//! in. The professional-only fields (the direct line, the person to contact, the best way and
//! time to reach them) are removed here, in the app layer, before a public view leaves it:
//! a template cannot show what it was never given.

use tsunagu_domain::directory::{
    Accepting, Capability, GeoPoint, MedicalDepartment, ServiceKind, parse_radius, query_terms,
};
use tsunagu_domain::org::OrgKind;
use tsunagu_domain::person::Duty;
use tsunagu_domain::{FieldError, Invalid};
use tsunagu_store::directory::{
    ConsultAt, ProviderCodes, ProviderPoint, ProviderQuery, ProviderRow, VacancyOn,
};
use tsunagu_store::orgs::OrgRow;

use crate::{Actor, App, Result};

pub mod export;
pub mod fhir_support;
pub mod hours;
pub mod import;
pub mod upkeep;
pub mod vacancies;

/// Results per page of a directory search.
pub const PAGE_SIZE: i64 = 20;
/// The radius of a "near" search when none is given, in kilometres.
pub const DEFAULT_RADIUS_KM: f64 = 5.0;

/// A search as typed into the form or the URL: raw strings, checked by `search_providers`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SearchInput {
    /// Free text over names, kana readings and addresses.
    pub q: String,
    pub kind: String,
    pub service: String,
    pub department: String,
    /// Every capability given must be offered.
    pub capability: Vec<String>,
    pub district: String,
    /// A support center's id: its whole area.
    pub center: String,
    /// `1`: only providers accepting new patients or users.
    pub accepting: String,
    /// `1`: only physicians taking consultation calls right now.
    pub consult_now: String,
    /// `YYYY-MM-DD`: only short-stay facilities with a fresh free bed that day.
    pub vacancy_on: String,
    /// `lat,lon`: search around this point.
    pub near: String,
    /// A patient id: search around where this patient lives (members only, through the gate).
    pub near_patient: String,
    /// Kilometres around the point (default 5).
    pub radius: String,
    /// 1-based.
    pub page: String,
}

impl SearchInput {
    /// Whether anything at all was asked (an empty form lists nothing).
    pub fn is_empty(&self) -> bool {
        [&self.q, &self.kind, &self.service, &self.department, &self.district, &self.center]
            .iter()
            .all(|s| s.trim().is_empty())
            && self.capability.iter().all(|c| c.trim().is_empty())
            && [&self.accepting, &self.consult_now, &self.vacancy_on, &self.near, &self.near_patient]
                .iter()
                .all(|s| s.trim().is_empty())
    }
}

/// One provider in a result list.
#[derive(Debug, Clone)]
pub struct ProviderListing {
    pub row: ProviderRow,
    pub codes: ProviderCodes,
    /// Kilometres from the search point, when the search had one.
    pub distance_km: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SearchResults {
    pub items: Vec<ProviderListing>,
    pub total: i64,
    /// 1-based.
    pub page: i64,
    pub pages: i64,
    /// The point searched around and the radius, when there was one.
    pub origin: Option<(GeoPoint, f64)>,
}

/// A provider as one person may see it.
#[derive(Debug, Clone)]
pub struct ProviderView {
    /// The row with professional-only fields emptied when the viewer is not a professional.
    pub row: ProviderRow,
    pub codes: ProviderCodes,
    /// Whether the viewer sees the professional fields (contact route, consultation hours).
    pub professional: bool,
    /// Whether the viewer may edit this entry (its operator or the coordinator).
    pub can_edit: bool,
    /// The support center responsible for the provider's district.
    pub center: Option<OrgRow>,
    /// The entry has not been confirmed for `directory_confirm_days`.
    pub needs_confirmation: bool,
}

/// Whether the viewer is a professional of the region: anyone logged in with a full session.
pub fn is_professional(viewer: Option<&Actor>) -> bool {
    viewer.is_some_and(|a| !a.must_enrol_second_factor)
}

/// Empties the fields only professionals may see.
pub fn redact_for_public(row: &mut ProviderRow) {
    row.contact_line.clear();
    row.contact_person.clear();
    row.contact_method.clear();
    row.contact_hours.clear();
}

fn checked<T>(r: std::result::Result<T, FieldError>, errors: &mut Invalid) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// A `YYYY-MM-DD` day as typed (full-width digits too).
pub(crate) fn parse_day(field: &'static str, s: &str) -> std::result::Result<time::Date, FieldError> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(tsunagu_domain::text::fold(s).trim(), &f)
        .map_err(|_| FieldError::new(field, "error.bad_date"))
}

/// `YYYY-MM-DD`.
pub fn format_day(d: time::Date) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&f).unwrap_or_default()
}

impl App {
    /// Whether a person may edit a directory entry: the home-care coordinator any entry, a
    /// provider's operator (duty + affiliation) their own.
    pub fn can_edit_provider(&self, actor: &Actor, organisation_id: &str) -> bool {
        actor.has_duty(Duty::HomeCareCoordinator)
            || (actor.has_duty(Duty::ProviderOperator)
                && actor.affiliations.iter().any(|a| a.organisation_id == organisation_id))
    }

    /// "Consultation possible now": the day, weekday and minute in Japan and whether it is a
    /// public holiday.
    pub fn consult_at_now(&self) -> ConsultAt {
        let t = self.now().in_jst();
        ConsultAt {
            day: format_day(t.date()),
            weekday: i64::from(t.weekday().number_days_from_monday()),
            minute: i64::from(t.hour()) * 60 + i64::from(t.minute()),
            holiday: tsunagu_domain::holiday::is_holiday(t.date()),
        }
    }

    /// The oldest confirmation time a vacancy figure may have and still count as true.
    pub fn vacancy_fresh_after(&self) -> i64 {
        self.now().plus_seconds(-self.config.vacancy_stale_hours * 3600).micros()
    }

    /// Searches the directory. Residents (no viewer) and professionals search alike; a search
    /// around a patient's home needs a viewer who may open that patient.
    pub async fn search_providers(
        &self,
        viewer: Option<&Actor>,
        input: &SearchInput,
    ) -> Result<SearchResults> {
        let mut errors = Invalid::default();
        let mut q = ProviderQuery { terms: query_terms(&input.q), ..ProviderQuery::default() };
        if input.q.chars().count() > 100 {
            errors.push(FieldError::with_limit("q", "error.too_long", 100));
        }
        if !input.kind.trim().is_empty()
            && let Some(k) = checked(OrgKind::parse("kind", input.kind.trim()), &mut errors)
        {
            q.kinds = vec![k.code().to_string()];
        }
        if !input.service.trim().is_empty()
            && let Some(s) = checked(ServiceKind::parse("service", input.service.trim()), &mut errors)
        {
            q.service = Some(s.code().to_string());
        }
        if !input.department.trim().is_empty()
            && let Some(d) =
                checked(MedicalDepartment::parse("department", input.department.trim()), &mut errors)
        {
            q.department = Some(d.code().to_string());
        }
        for c in input.capability.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            if let Some(c) = checked(Capability::parse("capability", c), &mut errors)
                && !q.capabilities.contains(&c.code().to_string())
            {
                q.capabilities.push(c.code().to_string());
            }
        }
        if !input.district.trim().is_empty() {
            let d = input.district.trim();
            if self.store.center_for_district(d).await?.is_none() {
                errors.push(FieldError::new("district", "error.unknown_district"));
            } else {
                q.districts = Some(vec![d.to_string()]);
            }
        }
        if !input.center.trim().is_empty() {
            let ds = self.store.districts_of(input.center.trim()).await?;
            if ds.is_empty() {
                errors.push(FieldError::new("center", "error.unknown_choice"));
            } else {
                q.districts = Some(match q.districts.take() {
                    Some(given) => given.into_iter().filter(|d| ds.contains(d)).collect(),
                    None => ds,
                });
            }
        }
        q.accepting_only = input.accepting.trim() == "1" || input.accepting.trim() == Accepting::Yes.code();
        // Consultation hours are for professionals: a resident's search ignores the filter
        // rather than telling, result by result, when a physician takes calls.
        if input.consult_now.trim() == "1" && is_professional(viewer) {
            q.consult_at = Some(self.consult_at_now());
        }
        if !input.vacancy_on.trim().is_empty()
            && let Some(d) = checked(parse_day("vacancy_on", &input.vacancy_on), &mut errors)
        {
            q.vacancy_on = Some(VacancyOn { day: format_day(d), fresh_after: self.vacancy_fresh_after() });
        }
        let radius = if input.radius.trim().is_empty() {
            Some(DEFAULT_RADIUS_KM)
        } else {
            checked(parse_radius(&input.radius), &mut errors)
        };
        let mut origin = None;
        if !input.near.trim().is_empty() {
            origin = checked(GeoPoint::parse_pair(&input.near), &mut errors);
        } else if !input.near_patient.trim().is_empty() {
            let Some(actor) = viewer else {
                return Err(crate::AppError::Unauthenticated);
            };
            match self.patient_location(actor, input.near_patient.trim()).await? {
                Some(p) => origin = Some(p),
                None => errors.push(FieldError::new("near_patient", "error.patient_has_no_location")),
            }
        }
        let page = if input.page.trim().is_empty() {
            1
        } else {
            match input.page.trim().parse::<i64>() {
                Ok(p) if (1..=10_000).contains(&p) => p,
                _ => {
                    errors.push(FieldError::new("page", "error.unknown_choice"));
                    1
                }
            }
        };
        errors.clone().into_result()?;

        let origin = origin.zip(radius);
        let (items, total): (Vec<(Option<f64>, ProviderRow, ProviderCodes)>, i64) = match origin {
            Some((point, r)) => {
                let b = point.bounding_box(r);
                q.bbox = Some((b.min_lat, b.max_lat, b.min_lon, b.max_lon));
                // Every match's point, measured here; whole rows only for the page.
                let mut near: Vec<(f64, ProviderPoint)> = self
                    .store
                    .search_provider_points(&q)
                    .await?
                    .into_iter()
                    .filter_map(|p| {
                        let d = point.distance_km(GeoPoint { lat: p.latitude?, lon: p.longitude? });
                        (d <= r).then_some((d, p))
                    })
                    .collect();
                near.sort_by(|a, b| {
                    a.0.total_cmp(&b.0)
                        .then_with(|| a.1.name_kana.cmp(&b.1.name_kana))
                        .then_with(|| a.1.id.cmp(&b.1.id))
                });
                let total = i64::try_from(near.len()).unwrap_or(i64::MAX);
                let start = usize::try_from((page - 1) * PAGE_SIZE).unwrap_or(usize::MAX);
                let page: Vec<(Option<f64>, String)> = near
                    .into_iter()
                    .skip(start)
                    .take(PAGE_SIZE as usize)
                    .map(|(d, p)| (Some(d), p.id))
                    .collect();
                (self.whole_rows(page).await?, total)
            }
            None => {
                let total = self.store.count_providers(&q).await?;
                q.limit = Some(PAGE_SIZE);
                q.offset = (page - 1) * PAGE_SIZE;
                let rows = self.store.search_providers(&q).await?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let codes = self.store.provider_codes_of(&ids).await?;
                (rows.into_iter().zip(codes).map(|(r, (_, c))| (None, r, c)).collect(), total)
            }
        };
        let professional = is_professional(viewer);
        let items = items
            .into_iter()
            .map(|(distance_km, mut row, codes)| {
                if !professional {
                    redact_for_public(&mut row);
                }
                ProviderListing { row, codes, distance_km }
            })
            .collect();
        Ok(SearchResults { items, total, page, pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1), origin })
    }

    /// One provider as the viewer may see it. A missing provider and a malformed id are the
    /// same `NotFound`.
    pub async fn provider_view(&self, viewer: Option<&Actor>, id: &str) -> Result<ProviderView> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(crate::AppError::NotFound);
        }
        let Some(mut row) = self.store.provider(id).await? else {
            return Err(crate::AppError::NotFound);
        };
        let professional = is_professional(viewer);
        if !professional {
            redact_for_public(&mut row);
        }
        let codes = self.store.provider_codes(id).await?;
        let center = match &row.district {
            Some(d) => self.store.center_for_district(d).await?,
            None => None,
        };
        let can_edit = viewer.is_some_and(|a| professional && self.can_edit_provider(a, id));
        let needs_confirmation = self.needs_confirmation(&row);
        Ok(ProviderView { row, codes, professional, can_edit, center, needs_confirmation })
    }

    /// Whether an entry has gone unconfirmed for longer than `directory_confirm_days`.
    pub fn needs_confirmation(&self, row: &ProviderRow) -> bool {
        let limit = self.now().plus_seconds(-self.config.directory_confirm_days * 86_400).micros();
        row.confirmed_at.is_none_or(|t| t < limit)
    }
}

/// A support center or branch as the center finder shows it.
#[derive(Debug, Clone)]
pub struct CenterEntry {
    pub org: OrgRow,
    /// The districts it serves (a branch serves its parent's).
    pub districts: Vec<String>,
    /// A branch's parent center.
    pub parent_name: Option<String>,
    pub location: Option<GeoPoint>,
}

/// The districts meant by text a person typed: the district of that name (spelling folded:
/// width, katakana/hiragana), else every district whose name is in the text (「犀川校下」,
/// an address) or, for two characters or more, contains it.
pub fn match_districts(text: &str, districts: &[String]) -> Vec<String> {
    use tsunagu_domain::text::fold;
    let q: String = fold(text).chars().filter(|c| !c.is_whitespace()).collect();
    if q.is_empty() {
        return Vec::new();
    }
    if let Some(d) = districts.iter().find(|d| fold(d) == q) {
        return vec![d.clone()];
    }
    let mut out: Vec<String> = districts
        .iter()
        .filter(|d| {
            let f = fold(d);
            q.contains(&f) || (q.chars().count() >= 2 && f.contains(&q))
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

impl App {
    /// The community support centers and branches in the city's order, with their districts and
    /// where they are (for the center finder, which residents use without logging in). Reads
    /// the centers alone, however large the directory.
    pub async fn center_finder(&self) -> Result<Vec<CenterEntry>> {
        let q = ProviderQuery {
            kinds: vec![
                OrgKind::SupportCenter.code().to_string(),
                OrgKind::SupportCenterBranch.code().to_string(),
            ],
            ..ProviderQuery::default()
        };
        let rows = self.store.search_providers(&q).await?;
        let districts = self.store.list_districts().await?;
        let mut out: Vec<CenterEntry> = rows
            .iter()
            .map(|r| CenterEntry {
                org: OrgRow {
                    id: r.id.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    name_kana: r.name_kana.clone(),
                    parent_id: r.parent_id.clone(),
                    city_no: r.city_no.clone(),
                    address: r.address.clone(),
                    phone: r.phone.clone(),
                    jurisdiction: r.jurisdiction.clone(),
                    operator_name: r.operator_name.clone(),
                    is_emergency_hospital: r.is_emergency_hospital,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                },
                districts: districts
                    .iter()
                    .filter(|d| d.support_center_id == r.id)
                    .map(|d| d.name.clone())
                    .collect(),
                parent_name: r
                    .parent_id
                    .as_ref()
                    .and_then(|p| rows.iter().find(|x| &x.id == p))
                    .map(|p| p.name.clone()),
                location: r.latitude.zip(r.longitude).and_then(|(lat, lon)| GeoPoint::new(lat, lon).ok()),
            })
            .collect();
        out.sort_by_key(|c| city_no_key(c.org.city_no.as_deref()));
        Ok(out)
    }
}

/// Orders support centers by the city's number (1, 2, … 6, 6b, 7, … 19).
fn city_no_key(no: Option<&str>) -> (u32, String) {
    let no = no.unwrap_or("");
    let digits: String = no.chars().take_while(|c| c.is_ascii_digit()).collect();
    (digits.parse().unwrap_or(u32::MAX), no.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn a_typed_district_finds_itself_in_any_spelling_or_inside_longer_text() {
        let all = names(&["犀川", "湯涌", "浅川", "浅野川", "森本", "長坂台"]);
        assert_eq!(match_districts("犀川", &all), names(&["犀川"]));
        assert_eq!(match_districts(" 犀川校下 ", &all), names(&["犀川"]));
        assert_eq!(match_districts("金沢市森本町1-2", &all), names(&["森本"]));
        assert_eq!(match_districts("浅川", &all), names(&["浅川"]));
        assert_eq!(match_districts("浅野", &all), names(&["浅野川"]));
        assert_eq!(match_districts("長坂", &all), names(&["長坂台"]));
        assert!(match_districts("浅", &all).is_empty(), "one character is not a district");
        assert!(match_districts("東京", &all).is_empty());
        assert!(match_districts("   ", &all).is_empty());
    }
}
