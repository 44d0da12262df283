//! Export of the directory, the whole region, a page of providers at a time:
//!
//! - **CSV**: the 24 columns of the national open data first (so an exported file imports
//!   again), then Tsunagu's own (kind, district, medical departments, home-care capabilities,
//!   accepting). One line per provider and care service, as the national files have it; a
//!   provider without care services once, with an empty service column. UTF-8 with a BOM.
//! - **HSDS**: JSON shaped after Open Referral's Human Services Data Specification 3.1: an
//!   array of `organization` objects (its compiled API shape) with their `services`,
//!   `locations`, `phones` and `service_at_locations`; a short-stay service carries its fresh
//!   vacancy figures as `capacities` (unit: beds), one per day of the coming two weeks.
//!
//! Public fields only: the direct line, the person to contact and the best way and time to
//! reach them are never exported. The physicians' consultation hours are for professionals
//! (issue 4, point 4), so only [`ExportScope::Professional`] adds them, as a service of their
//! own with weekly `schedules`; the physician's name is never exported.
//!
//! Ids are the providers' own UUIDs; the records that have none of their own (a service, a
//! location, a phone) get a UUID derived from the provider's id, so two exports of the same
//! data are the same.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tsunagu_domain::FieldError;
use tsunagu_domain::directory::ServiceKind;
use tsunagu_store::directory::hours::ConsultationSlotRow;
use tsunagu_store::directory::vacancies::VacancyRow;
use tsunagu_store::directory::{ProviderCodes, ProviderRow};

use super::fhir_support::split_address;
use super::import::NATIONAL_COLUMNS;
use super::{format_day, is_professional};
use crate::{Actor, App, Result};

/// Providers read per page.
pub const EXPORT_PAGE: i64 = 500;
/// Days of vacancy figures in the HSDS export (today and the 13 after it).
pub const VACANCY_DAYS: i64 = 14;
/// Tsunagu's columns after the national ones in the CSV export.
pub const TSUNAGU_COLUMNS: [&str; 5] = ["kind", "district", "departments", "capabilities", "accepting"];
/// The name of the service under which the HSDS export lists physicians' consultation hours.
pub const CONSULTATION_SERVICE_NAME: &str = "医師への連携相談（介護支援専門員・多職種向け）";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Hsds,
}

impl ExportFormat {
    /// `csv` or `hsds` (also `json`).
    pub fn parse(s: &str) -> std::result::Result<Self, FieldError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "hsds" | "json" => Ok(ExportFormat::Hsds),
            _ => Err(FieldError::new("format", "error.unknown_choice")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Hsds => "application/json",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "tsunagu-directory.csv",
            ExportFormat::Hsds => "tsunagu-directory-hsds.json",
        }
    }
}

/// Who the export is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportScope {
    /// Anyone: public fields only.
    Public,
    /// Professionals of the region (and the operator's command line): also the physicians'
    /// consultation hours.
    Professional,
}

impl ExportScope {
    pub fn for_viewer(viewer: Option<&Actor>) -> Self {
        if is_professional(viewer) { ExportScope::Professional } else { ExportScope::Public }
    }
}

/// An export under way: call [`DirectoryExport::next_chunk`] until it answers `None`.
pub struct DirectoryExport {
    app: App,
    format: ExportFormat,
    scope: ExportScope,
    after: Option<String>,
    started: bool,
    done: bool,
    /// Lines written (the CSV's `No` column).
    line: u64,
    today: String,
    last_day: String,
    fresh_after: i64,
    beds_unit: String,
}

impl App {
    /// Starts an export of the whole directory.
    pub fn export_directory(&self, format: ExportFormat, scope: ExportScope) -> DirectoryExport {
        let today_date = self.now().in_jst().date();
        let last = today_date.checked_add(time::Duration::days(VACANCY_DAYS - 1)).unwrap_or(today_date);
        DirectoryExport {
            app: self.clone(),
            format,
            scope,
            after: None,
            started: false,
            done: false,
            line: 0,
            today: format_day(today_date),
            last_day: format_day(last),
            fresh_after: self.vacancy_fresh_after(),
            beds_unit: derived_id(&["unit", "beds"]),
        }
    }

    /// The whole export in memory (the command line, tests).
    pub async fn export_directory_bytes(&self, format: ExportFormat, scope: ExportScope) -> Result<Vec<u8>> {
        let mut e = self.export_directory(format, scope);
        let mut out = Vec::new();
        while let Some(chunk) = e.next_chunk().await? {
            out.extend(chunk);
        }
        Ok(out)
    }
}

impl DirectoryExport {
    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The next piece of the file; `None` when it is complete. After an error the export is
    /// over (the file is incomplete).
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let r = self.page().await;
        if r.is_err() {
            self.done = true;
        }
        r.map(Some)
    }

    async fn page(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            match self.format {
                ExportFormat::Csv => {
                    out.extend_from_slice("\u{feff}".as_bytes());
                    let header: Vec<&str> =
                        NATIONAL_COLUMNS.iter().chain(TSUNAGU_COLUMNS.iter()).copied().collect();
                    out.extend(csv_line(&header)?);
                }
                ExportFormat::Hsds => out.push(b'['),
            }
        }
        let rows = self.app.store.providers_after(self.after.as_deref(), EXPORT_PAGE).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let codes: HashMap<String, ProviderCodes> =
            self.app.store.provider_codes_of(&ids).await?.into_iter().collect();
        match self.format {
            ExportFormat::Csv => {
                for p in &rows {
                    let c = codes.get(&p.id).cloned().unwrap_or_default();
                    for line in csv_lines(p, &c) {
                        self.line += 1;
                        let mut cells = line;
                        cells[1] = self.line.to_string();
                        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
                        out.extend(csv_line(&refs)?);
                    }
                }
            }
            ExportFormat::Hsds => {
                let mut slots: HashMap<String, Vec<ConsultationSlotRow>> = HashMap::new();
                if self.scope == ExportScope::Professional {
                    for s in self.app.store.consultation_slots_of(&ids).await? {
                        slots.entry(s.organisation_id.clone()).or_default().push(s);
                    }
                }
                let mut vacancies: HashMap<String, Vec<VacancyRow>> = HashMap::new();
                for v in self
                    .app
                    .store
                    .fresh_vacancies_of(&ids, &self.today, &self.last_day, self.fresh_after)
                    .await?
                {
                    vacancies.entry(v.organisation_id.clone()).or_default().push(v);
                }
                for p in &rows {
                    let c = codes.get(&p.id).cloned().unwrap_or_default();
                    let org = hsds_organization(
                        p,
                        &c,
                        slots.get(&p.id).map_or(&[], Vec::as_slice),
                        vacancies.get(&p.id).map_or(&[], Vec::as_slice),
                        &self.beds_unit,
                    );
                    if self.line > 0 {
                        out.push(b',');
                    }
                    self.line += 1;
                    out.push(b'\n');
                    serde_json::to_writer(&mut out, &org)
                        .map_err(|e| crate::AppError::Internal(format!("export: {e}")))?;
                }
            }
        }
        if (rows.len() as i64) < EXPORT_PAGE {
            self.done = true;
            if self.format == ExportFormat::Hsds {
                out.extend_from_slice(b"\n]\n");
            }
        }
        self.after = rows.last().map(|r| r.id.clone()).or(self.after.take());
        Ok(out)
    }
}

fn csv_line(cells: &[&str]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(cells).map_err(|e| crate::AppError::Internal(format!("export: {e}")))?;
    w.into_inner().map_err(|e| crate::AppError::Internal(format!("export: {e}")))
}

/// A provider's CSV lines (the `No` column is filled in by the caller).
fn csv_lines(p: &ProviderRow, c: &ProviderCodes) -> Vec<Vec<String>> {
    let parts = split_address(&p.address);
    let (prefecture, city) = (parts.state, parts.city);
    let opt_f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let services: Vec<String> = if c.services.is_empty() {
        vec![String::new()]
    } else {
        c.services
            .iter()
            .map(|s| ServiceKind::from_code(s).map_or_else(|| s.clone(), |k| k.national_name().to_string()))
            .collect()
    };
    services
        .into_iter()
        .map(|service| {
            let national = [
                String::new(),
                String::new(),
                prefecture.clone(),
                city.clone(),
                p.name.clone(),
                p.name_kana.clone(),
                service,
                p.address.clone(),
                p.address_extra.clone(),
                opt_f(p.latitude),
                opt_f(p.longitude),
                p.phone.clone(),
                p.fax.clone(),
                p.corporate_number.clone(),
                p.operator_name.clone(),
                p.office_no.clone().unwrap_or_default(),
                p.open_days.clone(),
                p.open_days_note.clone(),
                p.capacity.map(|n| n.to_string()).unwrap_or_default(),
                p.website.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ];
            let ours = [
                p.kind.clone(),
                p.district.clone().unwrap_or_default(),
                c.departments.join(";"),
                c.capabilities.join(";"),
                p.accepting.clone(),
            ];
            national.into_iter().chain(ours).collect()
        })
        .collect()
}

/// A UUID derived from a provider's id and a tag (SHA-256, as a version 8 UUID): stable from
/// one export to the next.
pub fn derived_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"tsunagu-hsds");
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// `HH:MM+09:00` for a minute of the day in Japan (the end of the day as 23:59).
fn jst_time(minute: i64) -> String {
    let m = minute.clamp(0, 1439);
    format!("{:02}:{:02}+09:00", m / 60, m % 60)
}

fn is_web_address(s: &str) -> bool {
    let s = s.trim();
    (s.starts_with("http://") || s.starts_with("https://")) && !s.contains(char::is_whitespace) && s.len() > 8
}

/// Inserts the pairs whose value is not an empty string.
fn put(m: &mut Map<String, Value>, pairs: &[(&str, Value)]) {
    for (k, v) in pairs {
        if !(v.is_null() || v.as_str().is_some_and(str::is_empty)) {
            m.insert((*k).to_string(), v.clone());
        }
    }
}

/// One provider as an HSDS 3 `organization` with its services, location and phones.
fn hsds_organization(
    p: &ProviderRow,
    c: &ProviderCodes,
    slots: &[ConsultationSlotRow],
    vacancies: &[VacancyRow],
    beds_unit: &str,
) -> Value {
    let id = p.id.as_str();
    let parts = split_address(&p.address);
    let (prefecture, city, street) = (parts.state, parts.city, parts.line);
    let has_location = !p.address.is_empty() || p.latitude.is_some();
    let location_id = derived_id(&[id, "location"]);

    let phones = |owner_key: &str, owner: &str, tag: &str| -> Vec<Value> {
        let mut v = Vec::new();
        for (number, kind) in [(&p.phone, "voice"), (&p.fax, "fax")] {
            if !number.trim().is_empty() {
                v.push(json!({
                    "id": derived_id(&[id, tag, kind]),
                    owner_key: owner,
                    "number": number.trim(),
                    "type": kind,
                }));
            }
        }
        v
    };

    let mut locations = Vec::new();
    if has_location {
        let mut l = Map::new();
        put(
            &mut l,
            &[
                ("id", json!(location_id)),
                ("location_type", json!("physical")),
                ("organization_id", json!(id)),
                ("name", json!(p.name)),
                ("latitude", json!(p.latitude)),
                ("longitude", json!(p.longitude)),
            ],
        );
        let mut addresses = Vec::new();
        if !p.address.is_empty() {
            let mut a = Map::new();
            a.insert("id".into(), json!(derived_id(&[id, "address"])));
            a.insert("location_id".into(), json!(location_id));
            a.insert("address_1".into(), json!(if street.is_empty() { p.address.clone() } else { street }));
            if !p.address_extra.is_empty() {
                a.insert("address_2".into(), json!(p.address_extra));
            }
            a.insert("city".into(), json!(city));
            a.insert("state_province".into(), json!(prefecture));
            a.insert("postal_code".into(), json!(p.postal_code));
            a.insert("country".into(), json!("JP"));
            a.insert("address_type".into(), json!("physical"));
            addresses.push(Value::Object(a));
        }
        l.insert("addresses".into(), Value::Array(addresses));
        l.insert("phones".into(), Value::Array(phones("location_id", &location_id, "location-phone")));
        locations.push(Value::Object(l));
    }

    let service_at = |service_id: &str| -> Vec<Value> {
        if has_location {
            vec![json!({
                "id": derived_id(&[id, service_id, "at-location"]),
                "service_id": service_id,
                "location_id": location_id,
            })]
        } else {
            Vec::new()
        }
    };

    let mut services = Vec::new();
    // Free beds are the facility's, not one service's: they go with its first short stay.
    let mut beds_given = false;
    for code in &c.services {
        let kind = ServiceKind::from_code(code);
        let service_id = derived_id(&[id, "service", code]);
        let mut s = Map::new();
        put(
            &mut s,
            &[
                ("id", json!(service_id)),
                ("organization_id", json!(id)),
                ("name", json!(kind.map_or(code.as_str(), |k| k.national_name()))),
                ("alternate_name", json!(code)),
                ("status", json!("active")),
            ],
        );
        if kind.is_some_and(ServiceKind::is_short_stay) && !beds_given && !vacancies.is_empty() {
            beds_given = true;
            let capacities: Vec<Value> = vacancies
                .iter()
                .map(|v| {
                    let mut cap = Map::new();
                    put(
                        &mut cap,
                        &[
                            ("id", json!(derived_id(&[id, "capacity", &v.day]))),
                            ("service_id", json!(service_id)),
                            ("unit", json!({"id": beds_unit, "name": "beds", "identifier": "beds"})),
                            ("available", json!(v.free_beds)),
                            ("maximum", json!(p.capacity)),
                            ("description", json!(format!("{} の空床 (free beds on {})", v.day, v.day))),
                            ("updated", json!(rfc3339_millis(v.confirmed_at))),
                        ],
                    );
                    Value::Object(cap)
                })
                .collect();
            s.insert("capacities".into(), Value::Array(capacities));
        }
        s.insert("service_at_locations".into(), Value::Array(service_at(&service_id)));
        services.push(Value::Object(s));
    }
    if !slots.is_empty() {
        let service_id = derived_id(&[id, "consultation"]);
        let schedules: Vec<Value> = slots
            .iter()
            .map(|slot| {
                let mut m = Map::new();
                let slot_id = if uuid::Uuid::parse_str(&slot.id).is_ok() {
                    slot.id.clone()
                } else {
                    derived_id(&[id, "slot", &slot.id])
                };
                put(
                    &mut m,
                    &[
                        ("id", json!(slot_id)),
                        ("service_id", json!(service_id)),
                        ("freq", json!("WEEKLY")),
                        ("wkst", json!("MO")),
                        ("byday", json!(WEEKDAYS[slot.weekday.clamp(0, 6) as usize])),
                        ("opens_at", json!(jst_time(slot.start_minute))),
                        ("closes_at", json!(jst_time(slot.end_minute))),
                        ("timezone", json!(9)),
                        ("notes", json!(slot.note)),
                    ],
                );
                Value::Object(m)
            })
            .collect();
        let mut s = Map::new();
        put(
            &mut s,
            &[
                ("id", json!(service_id)),
                ("organization_id", json!(id)),
                ("name", json!(CONSULTATION_SERVICE_NAME)),
                ("alternate_name", json!("physician_consultation")),
                ("status", json!("active")),
            ],
        );
        s.insert("schedules".into(), Value::Array(schedules));
        s.insert("service_at_locations".into(), Value::Array(service_at(&service_id)));
        services.push(Value::Object(s));
    }

    let mut identifiers = Vec::new();
    if let Some(no) = p.office_no.as_deref().filter(|n| !n.is_empty()) {
        identifiers.push(json!({
            "id": derived_id(&[id, "office_no"]),
            "organization_id": id,
            "identifier_type": "介護保険事業所番号",
            "identifier": no,
        }));
    }
    if !p.corporate_number.is_empty() {
        identifiers.push(json!({
            "id": derived_id(&[id, "corporate_number"]),
            "organization_id": id,
            "identifier_scheme": "JP-JCN",
            "identifier_type": "法人番号",
            "identifier": p.corporate_number,
        }));
    }

    let mut attributes = Vec::new();
    let mut attr = |set: &str, value: &str| {
        attributes.push(json!({
            "id": derived_id(&[id, "attribute", set, value]),
            "link_id": id,
            "link_entity": "organization",
            "link_type": format!("tsunagu:{set}"),
            "value": value,
        }));
    };
    attr("kind", &p.kind);
    attr("accepting", &p.accepting);
    if !p.operator_name.is_empty() {
        // 法人の名称: the corporation that runs the office.
        attr("operator_name", &p.operator_name);
    }
    if let Some(d) = p.district.as_deref().filter(|d| !d.is_empty()) {
        attr("district", d);
    }
    for d in &c.departments {
        attr("department", d);
    }
    for cap in &c.capabilities {
        attr("capability", cap);
    }

    let mut o = Map::new();
    put(
        &mut o,
        &[
            ("id", json!(id)),
            ("name", json!(p.name)),
            ("alternate_name", json!(p.name_kana)),
            ("website", json!(if is_web_address(&p.website) { p.website.trim() } else { "" })),
            ("parent_organization_id", json!(p.parent_id)),
        ],
    );
    o.insert("description".into(), json!(p.description));
    o.insert("phones".into(), Value::Array(phones("organization_id", id, "phone")));
    o.insert("locations".into(), Value::Array(locations));
    o.insert("organization_identifiers".into(), Value::Array(identifiers));
    o.insert("attributes".into(), Value::Array(attributes));
    o.insert("services".into(), Value::Array(services));
    Value::Object(o)
}

/// RFC 3339 in UTC with milliseconds, as HSDS asks of `updated`.
fn rfc3339_millis(micros: i64) -> String {
    let t = tsunagu_domain::Timestamp(micros).in_jst().to_offset(time::UtcOffset::UTC);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_prefecture_city_and_the_rest() {
        let cases = [
            ("石川県金沢市広坂1-1-1", ("石川県", "金沢市", "広坂1-1-1")),
            ("石川県野々市市三納1-1", ("石川県", "野々市市", "三納1-1")),
            ("石川県河北郡内灘町字大学1-1", ("石川県", "河北郡内灘町", "字大学1-1")),
            ("千葉県市川市八幡1-1", ("千葉県", "市川市", "八幡1-1")),
            // The wards of designated cities belong to the city, as JP Core and the national
            // open data's 市区町村名 have them.
            ("神奈川県横浜市中区1", ("神奈川県", "横浜市中区", "1")),
            ("京都府京都市左京区1", ("京都府", "京都市左京区", "1")),
            ("東京都千代田区丸の内1", ("東京都", "千代田区", "丸の内1")),
            ("広坂1-1-1", ("", "", "広坂1-1-1")),
        ];
        for (a, (p, c, r)) in cases {
            let got = split_address(a);
            assert_eq!((got.state.as_str(), got.city.as_str(), got.line.as_str()), (p, c, r), "{a}");
        }
    }

    #[test]
    fn derived_ids_are_stable_version_8_uuids() {
        let a = derived_id(&["x", "service", "home_help"]);
        assert_eq!(a, derived_id(&["x", "service", "home_help"]));
        assert_ne!(a, derived_id(&["x", "service", "home_bathing"]));
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 8);
    }

    #[test]
    fn times_are_in_japan_with_their_offset() {
        assert_eq!(jst_time(13 * 60 + 5), "13:05+09:00");
        assert_eq!(jst_time(1440), "23:59+09:00");
        assert_eq!(rfc3339_millis(1_795_480_200_123_456), "2026-11-24T00:30:00.123Z");
    }
}
