//! The regional directory as FHIR: each provider is one `Organization`, one `Location` (where
//! it is) and one `HealthcareService` (what it offers), all three with the provider's id.
//!
//! Read and search are open to anyone for the public fields. A caller with a valid bearer
//! token (a professional) also gets the contact route (`Organization.contact`) and the
//! physicians' consultation hours (`HealthcareService.availableTime` / `notAvailable`); the
//! app layer removes both for everyone else before they reach this module.
//!
//! Code systems, identifier systems and extensions under [`super::CANONICAL`] are Tsunagu's own
//! and documented in `docs/fhir.md`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::directory::fhir_support::{
    ConsultationHours, DirectoryItem, DirectoryQuery, TextCriterion, TextMatch, split_address,
};
use tsunagu_app::directory::{DEFAULT_RADIUS_KM, ProviderListing};
use tsunagu_domain::directory::{GeoPoint, MAX_RADIUS_KM};
use tsunagu_domain::org::OrgKind;
use tsunagu_store::directory::{ProviderCodes, ProviderRow};

use super::bundle::{self, Entry, Paging};
use super::outcome::{Issue, outcome};
use super::search::split_values;
use super::types::{self, Coding, Concept, ExtValue, Extension, Meta, Reference, Text};
use super::{CANONICAL, Ctx, FhirError};
use crate::i18n::{Lang, Tr};

/// Results per page when `_count` is not given.
pub const DEFAULT_COUNT: i64 = 20;
/// The largest page (a larger `_count` is cut to this, as FHIR allows).
pub const MAX_COUNT: i64 = 100;
/// The largest `_offset`.
const MAX_OFFSET: i64 = 1_000_000;

pub const JP_ORGANIZATION: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization";
pub const JP_LOCATION: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Location";
const GEOLOCATION: &str = "http://hl7.org/fhir/StructureDefinition/geolocation";
const LOCATION_DISTANCE: &str = "http://hl7.org/fhir/StructureDefinition/location-distance";
const NAME_REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const CONTACT_ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/contactentity-type";
const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";
const LOCATION_PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
const UCUM: &str = "http://unitsofmeasure.org";

/// Tsunagu's code systems and identifier systems (see `docs/fhir.md`).
pub fn org_kind_system() -> String {
    format!("{CANONICAL}/CodeSystem/org-kind")
}
pub fn service_kind_system() -> String {
    format!("{CANONICAL}/CodeSystem/care-service-kind")
}
pub fn department_system() -> String {
    format!("{CANONICAL}/CodeSystem/medical-department")
}
pub fn capability_system() -> String {
    format!("{CANONICAL}/CodeSystem/home-care-capability")
}
pub fn contact_method_system() -> String {
    format!("{CANONICAL}/CodeSystem/contact-method")
}
/// 介護保険事業所番号 (the national office number of the care-service open data).
pub fn office_no_system() -> String {
    format!("{CANONICAL}/sid/care-office-no")
}
fn extension_url(name: &str) -> String {
    format!("{CANONICAL}/StructureDefinition/{name}")
}

/// The directory's resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirResource {
    Organization,
    Location,
    HealthcareService,
}

/// What a search parameter searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Id,
    Name,
    Phonetic,
    City,
    OrgKind,
    Near,
    ServiceType,
    Specialty,
    Characteristic,
}

/// A search parameter of a resource type.
#[derive(Debug, Clone, Copy)]
pub struct SearchParam {
    pub name: &'static str,
    pub kind: ParamKind,
    /// The FHIR search parameter type.
    pub type_: &'static str,
    /// The canonical URL of the standard parameter; `None` for Tsunagu's additions.
    pub definition: Option<&'static str>,
    /// The catalog key of its documentation.
    pub doc_key: &'static str,
}

const fn p(
    name: &'static str,
    kind: ParamKind,
    type_: &'static str,
    definition: Option<&'static str>,
    doc_key: &'static str,
) -> SearchParam {
    SearchParam { name, kind, type_, definition, doc_key }
}

const ID: SearchParam = p(
    "_id",
    ParamKind::Id,
    "token",
    Some("http://hl7.org/fhir/SearchParameter/Resource-id"),
    "fhir.param.id",
);

const ORGANIZATION_PARAMS: &[SearchParam] = &[
    ID,
    p(
        "name",
        ParamKind::Name,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Organization-name"),
        "fhir.param.name",
    ),
    p(
        "phonetic",
        ParamKind::Phonetic,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Organization-phonetic"),
        "fhir.param.phonetic",
    ),
    p(
        "address-city",
        ParamKind::City,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Organization-address-city"),
        "fhir.param.address_city",
    ),
    p(
        "type",
        ParamKind::OrgKind,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/Organization-type"),
        "fhir.param.type",
    ),
    p("near", ParamKind::Near, "special", None, "fhir.param.near"),
];

const LOCATION_PARAMS: &[SearchParam] = &[
    ID,
    p(
        "name",
        ParamKind::Name,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Location-name"),
        "fhir.param.name",
    ),
    p("phonetic", ParamKind::Phonetic, "string", None, "fhir.param.phonetic"),
    p(
        "address-city",
        ParamKind::City,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Location-address-city"),
        "fhir.param.address_city",
    ),
    p(
        "type",
        ParamKind::OrgKind,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/Location-type"),
        "fhir.param.type",
    ),
    p(
        "near",
        ParamKind::Near,
        "special",
        Some("http://hl7.org/fhir/SearchParameter/Location-near"),
        "fhir.param.near",
    ),
];

const HEALTHCARE_SERVICE_PARAMS: &[SearchParam] = &[
    ID,
    p(
        "name",
        ParamKind::Name,
        "string",
        Some("http://hl7.org/fhir/SearchParameter/HealthcareService-name"),
        "fhir.param.name",
    ),
    p("phonetic", ParamKind::Phonetic, "string", None, "fhir.param.phonetic"),
    p("address-city", ParamKind::City, "string", None, "fhir.param.address_city"),
    p(
        "service-category",
        ParamKind::OrgKind,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/HealthcareService-service-category"),
        "fhir.param.type",
    ),
    p(
        "service-type",
        ParamKind::ServiceType,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/HealthcareService-service-type"),
        "fhir.param.service_type",
    ),
    p(
        "specialty",
        ParamKind::Specialty,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/HealthcareService-specialty"),
        "fhir.param.specialty",
    ),
    p(
        "characteristic",
        ParamKind::Characteristic,
        "token",
        Some("http://hl7.org/fhir/SearchParameter/HealthcareService-characteristic"),
        "fhir.param.characteristic",
    ),
    p("near", ParamKind::Near, "special", None, "fhir.param.near"),
];

impl DirResource {
    pub const ALL: [DirResource; 3] =
        [DirResource::Organization, DirResource::Location, DirResource::HealthcareService];

    pub fn name(self) -> &'static str {
        match self {
            DirResource::Organization => "Organization",
            DirResource::Location => "Location",
            DirResource::HealthcareService => "HealthcareService",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The JP Core profile the resource follows, where JP Core has one.
    pub fn profile(self) -> Option<&'static str> {
        match self {
            DirResource::Organization => Some(JP_ORGANIZATION),
            DirResource::Location => Some(JP_LOCATION),
            DirResource::HealthcareService => None,
        }
    }

    pub fn params(self) -> &'static [SearchParam] {
        match self {
            DirResource::Organization => ORGANIZATION_PARAMS,
            DirResource::Location => LOCATION_PARAMS,
            DirResource::HealthcareService => HEALTHCARE_SERVICE_PARAMS,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resources

/// Drops what FHIR JSON may not hold: empty strings, empty arrays and objects, nulls.
pub fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => {
            a.retain_mut(prune);
            !a.is_empty()
        }
        Value::Object(o) => {
            o.retain(|_, v| prune(v));
            !o.is_empty()
        }
        _ => true,
    }
}

fn coding(system: String, code: &str, display: String) -> Coding<'_> {
    Coding { system: system.into(), code: code.into(), display: display.into() }
}

/// The Japanese label of a code (the code systems' displays are Japanese, as the region's).
fn label(prefix: &str, code: &str) -> String {
    Tr::new(Lang::Ja).label(prefix, code)
}

fn org_kind_concept(kind: &str) -> Concept<'_> {
    Concept { coding: [coding(org_kind_system(), kind, label("org_kind", kind))] }
}

fn meta(row: &ProviderRow, profile: Option<&'static str>) -> Meta {
    Meta::new(row.version, row.updated_at, profile)
}

fn reference<'a>(kind: &str, row: &'a ProviderRow) -> Reference<'a> {
    Reference::to(kind, &row.id, row.name.as_str())
}

/// A `ContactPoint` at work.
#[derive(Debug, Serialize)]
struct ContactPoint<'a> {
    system: &'static str,
    value: &'a str,
    #[serde(rename = "use")]
    purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<u8>,
}

fn telecom(row: &ProviderRow) -> Vec<ContactPoint<'_>> {
    [("phone", &row.phone, Some(1)), ("fax", &row.fax, None), ("url", &row.website, None)]
        .into_iter()
        .filter(|(_, value, _)| !value.is_empty())
        .map(|(system, value, rank)| ContactPoint { system, value, purpose: "work", rank })
        .collect()
}

fn geolocation(row: &ProviderRow) -> Option<Value> {
    Some(json!({
        "url": GEOLOCATION,
        "extension": [
            { "url": "latitude", "valueDecimal": row.latitude? },
            { "url": "longitude", "valueDecimal": row.longitude? },
        ],
    }))
}

/// The address as JP Core writes it: the whole text (no postal code), the prefecture, the
/// city, the rest, the building (方書) as a second line, and the point as an extension.
fn address(row: &ProviderRow) -> Value {
    let parts = split_address(&row.address);
    let text = [row.address.trim(), row.address_extra.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "extension": geolocation(row).into_iter().collect::<Vec<_>>(),
        "use": "work",
        "type": "both",
        "text": text,
        "line": [parts.line, row.address_extra.trim().to_string()],
        "city": parts.city,
        "state": parts.state,
        "postalCode": row.postal_code,
        "country": "JP",
    })
}

/// HL7's organisation type for a kind: the city and the fire department are government, the
/// medical association is neither, everyone else a healthcare provider.
fn hl7_org_type(kind: &str) -> Option<(&'static str, &'static str)> {
    match OrgKind::from_code(kind)? {
        OrgKind::City | OrgKind::FireDepartment => Some(("govt", "Government")),
        OrgKind::MedicalAssociation => Some(("other", "Other")),
        _ => Some(("prov", "Healthcare Provider")),
    }
}

/// The professional contact route: the direct line, the person, the best way and time.
fn contact(row: &ProviderRow) -> Option<Value> {
    if row.contact_line.is_empty() && row.contact_person.is_empty() && row.contact_hours.is_empty() {
        return None;
    }
    let mut extensions = Vec::new();
    if !row.contact_method.is_empty() {
        extensions.push(json!({
            "url": extension_url("contact-method"),
            "valueCoding": coding(contact_method_system(), &row.contact_method, label("contact_method", &row.contact_method)),
        }));
    }
    if !row.contact_hours.is_empty() {
        extensions.push(json!({ "url": extension_url("contact-hours"), "valueString": row.contact_hours }));
    }
    let name = (!row.contact_person.is_empty()).then(|| {
        json!({
            "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }],
            "text": row.contact_person,
        })
    });
    let telecom = (!row.contact_line.is_empty())
        .then(|| json!({ "system": "phone", "value": row.contact_line, "use": "work", "rank": 1 }));
    Some(json!({
        "extension": extensions,
        "purpose": { "coding": [{ "system": CONTACT_ENTITY_TYPE, "code": "PATINF", "display": "Patient" }] },
        "name": name,
        "telecom": telecom.into_iter().collect::<Vec<_>>(),
    }))
}

/// A provider as an `Organization` (JP_Organization).
pub fn organization(row: &ProviderRow, professional: bool) -> Value {
    let mut types = vec![org_kind_concept(&row.kind)];
    if let Some((code, display)) = hl7_org_type(&row.kind) {
        types.push(Concept::new(ORGANIZATION_TYPE, code, display));
    }
    let identifier = row
        .office_no
        .as_ref()
        .map(|n| json!({ "use": "official", "system": office_no_system(), "value": n }));
    let contact = if professional { contact(row) } else { None };
    let mut v = json!({
        "resourceType": "Organization",
        "id": row.id,
        "meta": meta(row, Some(JP_ORGANIZATION)),
        "identifier": identifier.into_iter().collect::<Vec<_>>(),
        "active": true,
        "type": types,
        "name": row.name,
        "alias": [row.name_kana],
        "telecom": telecom(row),
        "address": [address(row)],
        "partOf": row.parent_id.as_ref().map(|p| json!({ "reference": format!("Organization/{p}") })),
        "contact": contact.into_iter().collect::<Vec<_>>(),
    });
    prune(&mut v);
    v
}

/// Where a provider is, as a `Location` (JP_Location).
pub fn location(row: &ProviderRow) -> Value {
    let position = match (row.latitude, row.longitude) {
        (Some(lat), Some(lon)) => json!({ "longitude": lon, "latitude": lat }),
        _ => Value::Null,
    };
    let mut v = json!({
        "resourceType": "Location",
        "id": row.id,
        "meta": meta(row, Some(JP_LOCATION)),
        "status": "active",
        "name": row.name,
        "alias": [row.name_kana],
        "mode": "instance",
        "type": [org_kind_concept(&row.kind)],
        "telecom": telecom(row),
        "address": address(row),
        "physicalType": { "coding": [{ "system": LOCATION_PHYSICAL_TYPE, "code": "bu", "display": "Building" }] },
        "position": position,
        "managingOrganization": reference("Organization", row),
    });
    prune(&mut v);
    v
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn clock_time(minute: i64) -> String {
    let m = minute.clamp(0, 24 * 60 - 1);
    let s = if minute >= 24 * 60 { 59 } else { 0 };
    format!("{:02}:{:02}:{s:02}", m / 60, m % 60)
}

/// A FHIR `Period`.
#[derive(Debug, Serialize)]
struct Period {
    start: String,
    end: String,
}

/// A day (`YYYY-MM-DD`, Japan time) as a FHIR period of that whole day.
fn whole_day(day: &str) -> Period {
    Period { start: format!("{day}T00:00:00+09:00"), end: format!("{day}T23:59:59+09:00") }
}

/// `HealthcareService.availableTime`: a weekday's consultation hours, or all of it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AvailableTime {
    days_of_week: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    all_day: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_end_time: Option<String>,
}

/// `HealthcareService.notAvailable`: a closed day and why.
#[derive(Debug, Serialize)]
struct NotAvailable<'a> {
    #[serde(skip_serializing_if = "types::blank")]
    description: Text<'a>,
    during: Period,
}

/// What a provider offers, as a `HealthcareService`, written by its serializer (see
/// [`super::types`]).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthcareService<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    extension: [Extension<'a>; 1],
    active: bool,
    provided_by: Reference<'a>,
    category: [Concept<'a>; 1],
    #[serde(rename = "type", skip_serializing_if = "Vec::is_empty")]
    kind: Vec<Concept<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    specialty: Vec<Concept<'a>>,
    location: [Reference<'a>; 1],
    #[serde(skip_serializing_if = "types::blank")]
    name: &'a str,
    #[serde(skip_serializing_if = "types::blank")]
    comment: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPoint<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    characteristic: Vec<Concept<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    available_time: Vec<AvailableTime>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_available: Vec<NotAvailable<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_exceptions: Option<&'static str>,
}

/// What a provider offers, as a `HealthcareService`; with the consultation hours when the
/// caller is a professional (`hours` is `Some` only then).
pub fn healthcare_service<'a>(
    row: &'a ProviderRow,
    codes: &'a ProviderCodes,
    hours: Option<&'a ConsultationHours>,
    tr: Tr,
) -> HealthcareService<'a> {
    let concepts = |system: fn() -> String, prefix: &str, list: &'a [String]| -> Vec<Concept<'a>> {
        list.iter().map(|c| Concept { coding: [coding(system(), c, label(prefix, c))] }).collect()
    };
    let (available_time, not_available, availability_exceptions) = match hours {
        Some(h) if !h.slots.is_empty() || !h.closed_days.is_empty() => {
            let available = h
                .slots
                .iter()
                .filter_map(|s| {
                    let day = *WEEKDAYS.get(usize::try_from(s.weekday).ok()?)?;
                    let all_day = s.start_minute <= 0 && s.end_minute >= 24 * 60;
                    Some(AvailableTime {
                        days_of_week: [day],
                        all_day: all_day.then_some(true),
                        available_start_time: (!all_day).then(|| clock_time(s.start_minute)),
                        available_end_time: (!all_day).then(|| clock_time(s.end_minute)),
                    })
                })
                .collect();
            let not_available = h
                .closed_days
                .iter()
                .map(|e| NotAvailable {
                    description: if e.note.trim().is_empty() {
                        Text::Borrowed(tr.get("fhir.closed_day"))
                    } else {
                        Text::Borrowed(&e.note)
                    },
                    during: whole_day(&e.day),
                })
                .collect();
            let exceptions = (!row.consult_on_holidays && !h.slots.is_empty())
                .then(|| tr.get("fhir.no_holidays"))
                .filter(|t| !t.is_empty());
            (available, not_available, exceptions)
        }
        _ => (Vec::new(), Vec::new(), None),
    };
    HealthcareService {
        resource_type: "HealthcareService",
        id: &row.id,
        meta: meta(row, None),
        extension: [Extension::new(
            extension_url("accepting-new-patients"),
            ExtValue::Code(row.accepting.as_str().into()),
        )],
        active: true,
        provided_by: reference("Organization", row),
        category: [org_kind_concept(&row.kind)],
        kind: concepts(service_kind_system, "service_kind", &codes.services),
        specialty: concepts(department_system, "medical_department", &codes.departments),
        location: [reference("Location", row)],
        name: &row.name,
        comment: &row.description,
        telecom: telecom(row),
        characteristic: concepts(capability_system, "capability", &codes.capabilities),
        available_time,
        not_available,
        availability_exceptions,
    }
}

/// A directory resource as written: the `Value`-built ones and the `HealthcareService`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum DirectoryResource<'a> {
    Built(Value),
    Service(Box<HealthcareService<'a>>),
}

impl super::bundle::Resource for DirectoryResource<'_> {
    fn type_and_id(&self) -> (&str, &str) {
        match self {
            DirectoryResource::Built(v) => v.type_and_id(),
            DirectoryResource::Service(s) => ("HealthcareService", s.id),
        }
    }
}

fn resource<'a>(
    ctx: &Ctx,
    res: DirResource,
    listing: &'a ProviderListing,
    professional: bool,
    hours: Option<&'a ConsultationHours>,
) -> DirectoryResource<'a> {
    match res {
        DirResource::Organization => DirectoryResource::Built(organization(&listing.row, professional)),
        DirResource::Location => DirectoryResource::Built(location(&listing.row)),
        DirResource::HealthcareService => DirectoryResource::Service(Box::new(healthcare_service(
            &listing.row,
            &listing.codes,
            hours,
            ctx.tr,
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Read

/// An HTTP date (`Last-Modified`).
fn http_date(micros: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok()?;
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).ok()
}

/// `GET /fhir/{type}/{id}`.
pub async fn read(ctx: &Ctx, app: &App, res: DirResource, id: &str) -> Result<Response, FhirError> {
    let entry = app.directory_entry(ctx.actor.as_ref(), id).await.map_err(|e| ctx.app_error(e))?;
    let listing = ProviderListing { row: entry.view.row, codes: entry.view.codes, distance_km: None };
    let body = resource(ctx, res, &listing, entry.view.professional, entry.hours.as_ref());
    let mut r = ctx.json(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", listing.row.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Some(v) = http_date(listing.row.updated_at).and_then(|d| HeaderValue::from_str(&d).ok()) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Search

/// A search as parsed from the query string.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSearch {
    pub query: DirectoryQuery,
    /// The parameters used, as given, for the links (paging parameters excluded).
    pub used: Vec<(String, String)>,
    /// Unknown parameters ignored under `Prefer: handling=lenient`.
    pub ignored: Vec<String>,
    pub count: i64,
    pub offset: i64,
    /// `_summary=count` or `_count=0`: the total only.
    pub count_only: bool,
}

/// `code`, or `system|code` with `system` the expected one. `None`: a code of another system
/// (or of none, `|code`), which matches nothing here.
fn token(value: &str, system: &str) -> Option<String> {
    match value.split_once('|') {
        Some((s, code)) if s == system && !code.is_empty() => Some(code.to_string()),
        Some(_) => None,
        None => Some(value.to_string()),
    }
}

/// A code that no provider has: a token of another system asks for nothing that exists.
const NO_CODE: &str = "-";

fn integer(tr: Tr, name: &str, v: &str, max: i64) -> Result<i64, FhirError> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n.min(max)),
        _ => Err(FhirError::bad_value(tr, name)),
    }
}

/// `near=lat|lon|distance|units`: kilometres by default (`km`, or `m`), 5 km when no distance
/// is given, at most 100 km.
pub fn parse_near(tr: Tr, v: &str) -> Result<(GeoPoint, f64), FhirError> {
    let parts: Vec<&str> = v.split('|').map(str::trim).collect();
    if !(2..=4).contains(&parts.len()) {
        return Err(FhirError::bad_value(tr, "near"));
    }
    let lat = parts[0].parse::<f64>().map_err(|_| FhirError::bad_value(tr, "near"))?;
    let lon = parts[1].parse::<f64>().map_err(|_| FhirError::bad_value(tr, "near"))?;
    let point = GeoPoint::new(lat, lon).map_err(|e| {
        FhirError::new(StatusCode::BAD_REQUEST, vec![Issue::error("invalid", tr.error(&e)).at("near")])
    })?;
    let factor = match parts.get(3).copied().unwrap_or("") {
        "" | "km" | "[km]" => 1.0,
        "m" => 0.001,
        _ => return Err(FhirError::unsupported_value(tr, "near", "fhir.near_units")),
    };
    let distance = match parts.get(2).copied().unwrap_or("") {
        "" => DEFAULT_RADIUS_KM,
        d => d.parse::<f64>().map_err(|_| FhirError::bad_value(tr, "near"))? * factor,
    };
    if !(distance > 0.0 && distance <= MAX_RADIUS_KM) {
        return Err(FhirError::invalid(tr, "near", "fhir.near_distance"));
    }
    Ok((point, distance))
}

/// Parses a search's query string against the resource type's parameters.
pub fn parse_search(
    tr: Tr,
    lenient: bool,
    res: DirResource,
    params: &[(String, String)],
) -> Result<ParsedSearch, FhirError> {
    let mut q =
        DirectoryQuery { with_hours: res == DirResource::HealthcareService, ..DirectoryQuery::default() };
    let mut used = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let (mut count, mut offset, mut count_only) = (None, None, false);
    for (name, value) in params {
        match name.as_str() {
            "_format" | "_pretty" => continue,
            "_count" => {
                if count.is_some() {
                    return Err(FhirError::invalid(tr, name, "fhir.repeated"));
                }
                count = Some(integer(tr, name, value, MAX_COUNT)?);
                continue;
            }
            "_offset" => {
                if offset.is_some() {
                    return Err(FhirError::invalid(tr, name, "fhir.repeated"));
                }
                offset = Some(integer(tr, name, value, MAX_OFFSET)?);
                continue;
            }
            "_summary" => {
                match value.as_str() {
                    "count" => count_only = true,
                    "false" => {}
                    _ => return Err(FhirError::unsupported_value(tr, name, "fhir.summary")),
                }
                used.push((name.clone(), value.clone()));
                continue;
            }
            _ => {}
        }
        let (base, modifier) = match name.split_once(':') {
            Some((b, m)) => (b, Some(m)),
            None => (name.as_str(), None),
        };
        let Some(param) = res.params().iter().find(|p| p.name == base) else {
            unknown.push(name.clone());
            continue;
        };
        let text_param = matches!(param.kind, ParamKind::Name | ParamKind::Phonetic | ParamKind::City);
        let how = match modifier {
            None => TextMatch::Contains,
            Some("contains") if text_param => TextMatch::Contains,
            Some("exact") if text_param => TextMatch::Exact,
            Some(_) => {
                unknown.push(name.clone());
                continue;
            }
        };
        match param.kind {
            ParamKind::Id => {
                let ids = split_values(value);
                q.ids = Some(match q.ids.take() {
                    Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
                    None => ids,
                });
            }
            ParamKind::Name | ParamKind::Phonetic | ParamKind::City => {
                let c = TextCriterion { values: split_values(value), how };
                match param.kind {
                    ParamKind::Name => q.name.push(c),
                    ParamKind::Phonetic => q.phonetic.push(c),
                    _ => q.city.push(c),
                }
            }
            ParamKind::OrgKind => {
                let system = org_kind_system();
                let kinds: Vec<String> =
                    split_values(value).iter().filter_map(|v| token(v, &system)).collect();
                q.kinds = Some(match q.kinds.take() {
                    Some(prev) => prev.into_iter().filter(|k| kinds.contains(k)).collect(),
                    None => kinds,
                });
            }
            ParamKind::ServiceType | ParamKind::Specialty => {
                let (slot, system) = if param.kind == ParamKind::ServiceType {
                    (&mut q.service, service_kind_system())
                } else {
                    (&mut q.department, department_system())
                };
                if slot.is_some() || value.contains(',') {
                    return Err(FhirError::unsupported_value(tr, base, "fhir.one_value"));
                }
                *slot = Some(token(value.trim(), &system).unwrap_or_else(|| NO_CODE.to_string()));
            }
            ParamKind::Characteristic => {
                if value.contains(',') {
                    return Err(FhirError::unsupported_value(tr, base, "fhir.one_value"));
                }
                let code = token(value.trim(), &capability_system()).unwrap_or_else(|| NO_CODE.to_string());
                if !q.capabilities.contains(&code) {
                    q.capabilities.push(code);
                }
            }
            ParamKind::Near => {
                if q.near.is_some() {
                    return Err(FhirError::invalid(tr, base, "fhir.repeated"));
                }
                q.near = Some(parse_near(tr, value)?);
            }
        }
        used.push((name.clone(), value.clone()));
    }
    if !unknown.is_empty() && !lenient {
        return Err(FhirError::unknown_params(tr, &unknown));
    }
    let count = count.unwrap_or(DEFAULT_COUNT);
    let count_only = count_only || count == 0;
    let offset = offset.unwrap_or(0);
    q.count = if count_only { 0 } else { count };
    q.offset = offset;
    Ok(ParsedSearch { query: q, used, ignored: unknown, count, offset, count_only })
}

fn distance_extension(km: f64) -> Value {
    let value = (km * 1000.0).round() / 1000.0;
    json!({
        "url": LOCATION_DISTANCE,
        "valueDistance": { "value": value, "unit": "km", "system": UCUM, "code": "km" },
    })
}

/// `GET /fhir/{type}?…`.
pub async fn search(
    ctx: &Ctx,
    app: &App,
    res: DirResource,
    params: &[(String, String)],
) -> Result<Response, FhirError> {
    let parsed = parse_search(ctx.tr, ctx.lenient, res, params)?;
    let page = app.directory_search(ctx.actor.as_ref(), &parsed.query).await.map_err(|e| ctx.app_error(e))?;
    let type_url = format!("{}/{}", ctx.base, res.name());
    let mut entries: Vec<Entry> = page
        .items
        .iter()
        .map(|DirectoryItem { listing, hours }| {
            let mut e = Entry::of(&ctx.base, &resource(ctx, res, listing, page.professional, hours.as_ref()));
            if let Some(d) = listing.distance_km {
                e.search_extensions.push(distance_extension(d));
            }
            e
        })
        .collect();
    if !parsed.ignored.is_empty() {
        let issues: Vec<Issue> = parsed
            .ignored
            .iter()
            .map(|n| {
                Issue::warning(
                    "not-supported",
                    ctx.tr.fmt("fhir.ignored_param", &[("name", &super::outcome::echo(n))]),
                )
                .at(n)
            })
            .collect();
        entries.push(Entry::outcome(&outcome(&issues)));
    }
    let paging = Paging {
        offset: parsed.offset,
        count: if parsed.count_only { 0 } else { parsed.count },
        total: page.total,
    };
    let body = bundle::searchset(&type_url, &parsed.used, paging, entries, &app.now().rfc3339());
    Ok(ctx.json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn near_takes_kilometres_by_default_and_metres_when_asked() {
        let (p, d) = parse_near(tr(), "36.56|136.65|2|km").unwrap();
        assert_eq!((p.lat, p.lon, d), (36.56, 136.65, 2.0));
        assert_eq!(parse_near(tr(), "36.56|136.65|2").unwrap().1, 2.0);
        assert_eq!(parse_near(tr(), "36.56|136.65|500|m").unwrap().1, 0.5);
        assert_eq!(parse_near(tr(), "36.56|136.65").unwrap().1, DEFAULT_RADIUS_KM);
    }

    #[test]
    fn a_bad_near_is_refused_naming_near() {
        for v in
            ["36.56", "a|b|1", "36.56|136.65|2|mi", "36.56|136.65|0", "36.56|136.65|1000", "136.65|36.56|1"]
        {
            let e = parse_near(tr(), v).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{v}");
            assert_eq!(e.issues[0].expression.as_deref(), Some("near"), "{v}");
        }
    }

    #[test]
    fn unknown_parameters_are_refused_unless_lenient() {
        let params = pairs(&[("name", "きしかわ"), ("colour", "blue"), ("name:fuzzy", "x")]);
        let e = parse_search(tr(), false, DirResource::Organization, &params).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let named: Vec<_> = e.issues.iter().map(|i| i.expression.clone().unwrap()).collect();
        assert_eq!(named, ["colour", "name:fuzzy"]);
        let ok = parse_search(tr(), true, DirResource::Organization, &params).unwrap();
        assert_eq!(ok.ignored, ["colour", "name:fuzzy"]);
        assert_eq!(ok.used, pairs(&[("name", "きしかわ")]));
        assert_eq!(ok.query.name.len(), 1);
    }

    #[test]
    fn parameters_belong_to_their_resource_type() {
        let p = pairs(&[("phonetic", "きしかわ")]);
        assert!(parse_search(tr(), false, DirResource::Location, &p).is_ok());
        let p = pairs(&[("characteristic", "home_oxygen")]);
        assert!(parse_search(tr(), false, DirResource::Organization, &p).is_err());
        assert!(parse_search(tr(), false, DirResource::HealthcareService, &p).is_ok());
        let p = pairs(&[("type", "clinic")]);
        assert!(parse_search(tr(), false, DirResource::HealthcareService, &p).is_err());
    }

    #[test]
    fn type_tokens_take_our_system_or_none_and_repeats_intersect() {
        let sys = org_kind_system();
        let p =
            pairs(&[("type", &format!("{sys}|clinic,pharmacy,http://other|hospital")), ("type", "pharmacy")]);
        let s = parse_search(tr(), false, DirResource::Organization, &p).unwrap();
        assert_eq!(s.query.kinds, Some(vec!["pharmacy".to_string()]));
        let p = pairs(&[("type", "http://other|clinic")]);
        let s = parse_search(tr(), false, DirResource::Organization, &p).unwrap();
        assert_eq!(s.query.kinds, Some(vec![]));
    }

    #[test]
    fn count_is_capped_and_zero_or_summary_asks_for_the_total_only() {
        let s = parse_search(tr(), false, DirResource::Location, &pairs(&[("_count", "500")])).unwrap();
        assert_eq!((s.count, s.query.count, s.count_only), (MAX_COUNT, MAX_COUNT, false));
        let s = parse_search(tr(), false, DirResource::Location, &pairs(&[("_count", "0")])).unwrap();
        assert!(s.count_only);
        let s = parse_search(tr(), false, DirResource::Location, &pairs(&[("_summary", "count")])).unwrap();
        assert!(s.count_only && s.query.count == 0);
        for bad in [("_count", "-1"), ("_count", "x"), ("_offset", "1.5"), ("_summary", "true")] {
            assert!(parse_search(tr(), false, DirResource::Location, &pairs(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pruning_leaves_no_empty_values() {
        let mut v = json!({ "a": "", "b": [], "c": [""], "d": { "e": null }, "f": 0, "g": false, "h": "x" });
        prune(&mut v);
        assert_eq!(v, json!({ "f": 0, "g": false, "h": "x" }));
    }

    #[test]
    fn consultation_times_are_fhir_times() {
        assert_eq!(clock_time(13 * 60 + 30), "13:30:00");
        assert_eq!(clock_time(24 * 60), "23:59:59");
        assert_eq!(clock_time(0), "00:00:00");
    }
}
