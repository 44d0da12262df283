//! `Patient` (JP_Patient): read, vread, history, search, create (physicians), update with
//! `If-Match`.
//!
//! Every way in goes through the gate in the app layer: a read is `App::patient_resource` (team
//! members, and an emergency physician with an open emergency view), history and vread
//! `App::patient_resource_versions` (team members), a search `App::search_patients` (the
//! patients the caller attends or is an active member of with consent in force), a create
//! `App::register_patient`, an update `App::update_patient_resource`. A patient the caller may
//! not see, a malformed id and an unknown one all answer the same 404.
//!
//! Mapping (JP Core v1.1 JP_Patient): the kanji name and the kana reading as two `name`s with
//! the `iso21090-EN-representation` extension (`IDE`, `SYL`), family and given split on the
//! space; `gender`; `birthDate`; the address as text and JP Core's parts (prefecture, city,
//! rest), the point as the `geolocation` extension and the district (地区) as an extension of
//! Tsunagu's; the phone; identifiers: Tsunagu's patient id and the care-insurance number;
//! the care level as an extension of Tsunagu's; `generalPractitioner` → the attending physician,
//! `managingOrganization` → their organisation. Tsunagu's code and identifier systems are
//! documented in `docs/fhir.md`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::AppError;
use tsunagu_app::api_patients::PatientRecord;
use tsunagu_app::directory::fhir_support::split_address;
use tsunagu_app::sharing::{NewPatient, Registered};
use tsunagu_domain::sharing::{CareLevel, Sex};
use tsunagu_domain::text::{fold, name_key};
use tsunagu_store::patients::PatientRow;

use super::input::{self, Resource};
use super::outcome::Issue;
use super::registry::{ResourceDef, param};
use super::search::{self, Search, split_values, token_matches};
use super::types::{
    self, Address, Coding, Concept, ContactPoint, ExtValue, Extension, HumanName, Identifier, Meta,
    Reference, Text,
};
use super::{CANONICAL, Ctx, FhirError, FhirRequest};
use crate::i18n::{Lang, Tr};

pub const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
pub const NAME_REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const GEOLOCATION: &str = "http://hl7.org/fhir/StructureDefinition/geolocation";
const GENDER_SYSTEM: &str = "http://hl7.org/fhir/administrative-gender";
const IDENTIFIER_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// A request header by which a client confirms that a patient like an existing one (same kana
/// and birth date) is another person.
pub const CONFIRM_HEADER: &str = "tsunagu-confirm-not-duplicate";

pub const DEF: ResourceDef = ResourceDef {
    name: "Patient",
    profile: Some(JP_PATIENT),
    doc_key: "fhir.capability.patient",
    interactions: &["read", "vread", "history-instance", "search-type", "create", "update"],
    params: &[
        param("_id", "token", Some("http://hl7.org/fhir/SearchParameter/Resource-id"), "fhir.param.id"),
        param(
            "name",
            "string",
            Some("http://hl7.org/fhir/SearchParameter/Patient-name"),
            "fhir.patient.param_name",
        ),
        param(
            "birthdate",
            "date",
            Some("http://hl7.org/fhir/SearchParameter/individual-birthdate"),
            "fhir.patient.param_birthdate",
        ),
        param(
            "gender",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/individual-gender"),
            "fhir.patient.param_gender",
        ),
        param(
            "identifier",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Patient-identifier"),
            "fhir.patient.param_identifier",
        ),
    ],
    sorts: &["name", "birthdate", "_lastUpdated"],
    operations: &[("everything", super::everything::DEFINITION)],
};

/// Identifier system: Tsunagu's patient id.
pub fn patient_id_system() -> String {
    format!("{CANONICAL}/sid/patient-id")
}
/// Identifier system: the care-insurance number (介護保険被保険者番号). JP Core names none.
pub fn care_insurance_system() -> String {
    format!("{CANONICAL}/sid/care-insurance-number")
}
/// Code system: the care level (要介護度).
pub fn care_level_system() -> String {
    format!("{CANONICAL}/CodeSystem/care-level")
}
pub fn care_level_extension() -> String {
    format!("{CANONICAL}/StructureDefinition/care-level")
}
/// Extension on `Patient.address`: the district (地区) that decides the support center.
pub fn district_extension() -> String {
    format!("{CANONICAL}/StructureDefinition/district")
}

// ---------------------------------------------------------------------------------------------
// Resource

/// A name as JP_HumanName writes it: `text`, and family/given split on the first space.
pub fn human_name<'a>(text: &'a str, representation: &'static str) -> HumanName<'a> {
    let text = text.trim();
    let mut parts = text.splitn(2, [' ', '\u{3000}']);
    let family = parts.next().unwrap_or("").trim();
    let given = parts.next().unwrap_or("").trim();
    let (family, given) = if given.is_empty() { ("", "") } else { (family, given) };
    HumanName {
        extension: [Extension::new(NAME_REPRESENTATION, ExtValue::Code(representation.into()))],
        use_: "official",
        text: text.into(),
        family: family.into(),
        given: if given.is_empty() { Vec::new() } else { vec![given.into()] },
    }
}

/// The home address: its text and parts, the point and the district as extensions; none when
/// the patient has none of them.
fn address(p: &PatientRow) -> Option<Address<'_>> {
    if p.address.trim().is_empty() && p.district.is_none() && p.latitude.is_none() {
        return None;
    }
    let parts = split_address(&p.address);
    let mut extension = Vec::new();
    if let (Some(lat), Some(lon)) = (p.latitude, p.longitude) {
        extension.push(Extension::new(
            GEOLOCATION,
            ExtValue::Nested(vec![
                Extension::new("latitude", ExtValue::Decimal(lat)),
                Extension::new("longitude", ExtValue::Decimal(lon)),
            ]),
        ));
    }
    if let Some(d) = &p.district {
        extension.push(Extension::new(district_extension(), ExtValue::String(d.as_str().into())));
    }
    let text = p.address.trim();
    let has_text = !text.is_empty();
    Some(Address {
        extension,
        use_: "home",
        kind: if has_text { "both" } else { "" }.into(),
        text: text.into(),
        line: if parts.line.is_empty() { Vec::new() } else { vec![parts.line.into()] },
        city: parts.city.into(),
        state: parts.state.into(),
        country: if has_text { "JP" } else { "" }.into(),
    })
}

/// A patient as a JP_Patient resource, written straight to JSON (B0 of issue 6 reads one per
/// request; built as a `Value` tree it was a tenth of the request's CPU).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    identifier: Vec<Identifier<'a>>,
    active: bool,
    name: [HumanName<'a>; 2],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPoint<'a>>,
    #[serde(skip_serializing_if = "types::blank")]
    gender: Text<'a>,
    #[serde(skip_serializing_if = "types::blank")]
    birth_date: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address: Vec<Address<'a>>,
    general_practitioner: [Reference<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    managing_organization: Option<Reference<'a>>,
}

impl super::bundle::Resource for Patient<'_> {
    fn type_and_id(&self) -> (&str, &str) {
        ("Patient", self.id)
    }
}

/// A patient as a JP_Patient resource.
pub fn resource(r: &PatientRecord) -> Patient<'_> {
    let p = &r.patient;
    let mut identifier = vec![Identifier {
        use_: "usual",
        kind: Concept::new(IDENTIFIER_TYPE, "PI", "Patient internal identifier"),
        system: patient_id_system(),
        value: p.id.as_str().into(),
    }];
    if let Some(n) = p.insurance_number.as_deref().filter(|n| !n.is_empty()) {
        identifier.push(Identifier {
            use_: "official",
            kind: Concept::new(IDENTIFIER_TYPE, "MB", "Member Number"),
            system: care_insurance_system(),
            value: n.into(),
        });
    }
    let mut extension = Vec::new();
    if !p.care_level.is_empty() {
        let display = Tr::new(Lang::Ja).label("care_level", &p.care_level);
        extension.push(Extension::new(
            care_level_extension(),
            ExtValue::Coding(Coding {
                system: care_level_system().into(),
                code: p.care_level.as_str().into(),
                display: display.into(),
            }),
        ));
    }
    let telecom = if p.phone.is_empty() {
        Vec::new()
    } else {
        vec![ContactPoint { system: "phone", value: p.phone.as_str().into(), use_: "home" }]
    };
    Patient {
        resource_type: "Patient",
        id: &p.id,
        meta: Meta::new(p.version, p.updated_at, Some(JP_PATIENT)),
        extension,
        identifier,
        active: true,
        name: [human_name(&p.name, "IDE"), human_name(&p.name_kana, "SYL")],
        telecom,
        gender: p.sex.as_str().into(),
        birth_date: p.birth_date.as_str().into(),
        address: address(p).into_iter().collect(),
        general_practitioner: [Reference::to(
            "Practitioner",
            &p.attending_physician_id,
            r.attending_name.as_str(),
        )],
        managing_organization: r
            .managing_organization
            .as_ref()
            .map(|(id, name)| Reference::to("Organization", id, name.as_str())),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An element that must be an array if present.
fn array<'a>(tr: Tr, res: &'a Resource, element: &str) -> Result<&'a [Value], FhirError> {
    match res.get(element) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(input::bad_element(tr, element)),
    }
}

/// A string element (absent: empty).
fn string(tr: Tr, v: &Value, key: &str, element: &str) -> Result<String, FhirError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(input::bad_element(tr, element)),
    }
}

/// The representation code of a name (`IDE`, `SYL`, …), if it has one.
fn representation(name: &Value) -> Option<&str> {
    name.get("extension")?
        .as_array()?
        .iter()
        .find(|e| str_at(e, "url") == Some(NAME_REPRESENTATION))
        .and_then(|e| str_at(e, "valueCode"))
}

/// A name's text: `text`, else family and given joined with a space.
fn name_text(tr: Tr, n: &Value) -> Result<String, FhirError> {
    if !n.is_object() {
        return Err(input::bad_element(tr, "name"));
    }
    let text = string(tr, n, "text", "name.text")?;
    if !text.trim().is_empty() {
        return Ok(text.trim().to_string());
    }
    let family = string(tr, n, "family", "name.family")?;
    let given: Vec<String> = match n.get("given") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_string).ok_or_else(|| input::bad_element(tr, "name.given")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(input::bad_element(tr, "name.given")),
    };
    let parts: Vec<String> = std::iter::once(family)
        .chain(given)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(parts.join(" "))
}

fn extension_of<'a>(v: &'a Value, url: &str) -> Option<&'a Value> {
    v.get("extension")?.as_array()?.iter().find(|e| str_at(e, "url") == Some(url))
}

/// Maps a JP_Patient resource to a registration. Pure; never panics on any input. The server
/// assigns the id, the attending physician and the organisation: `id`, `generalPractitioner`
/// and `managingOrganization` are not read here, nor Tsunagu's patient-id identifier.
pub fn parse(tr: Tr, _base: &str, body: &[u8]) -> Result<NewPatient, FhirError> {
    let res = input::parse_resource(tr, body, "Patient")?;
    let mut out = NewPatient::default();

    // Names: the kanji name (IDE, or the first without a representation) and the kana (SYL).
    let names = array(tr, &res, "name")?;
    for n in names {
        match representation(n) {
            Some("SYL") if out.name_kana.is_empty() => out.name_kana = name_text(tr, n)?,
            Some("IDE") if out.name.is_empty() => out.name = name_text(tr, n)?,
            None if out.name.is_empty() => out.name = name_text(tr, n)?,
            _ => {}
        }
    }
    if out.name.is_empty() {
        return Err(input::required(tr, "name"));
    }
    if out.name_kana.is_empty() {
        return Err(input::required(tr, "name[SYL]"));
    }

    out.sex = match res.get("gender") {
        None | Some(Value::Null) => return Err(input::required(tr, "gender")),
        Some(Value::String(g)) if Sex::from_code(g).is_some() => g.clone(),
        Some(_) => return Err(input::bad_element(tr, "gender")),
    };
    out.birth_date = match res.get("birthDate") {
        None | Some(Value::Null) => return Err(input::required(tr, "birthDate")),
        Some(Value::String(d)) => d.clone(),
        Some(_) => return Err(input::bad_element(tr, "birthDate")),
    };

    if let Some(a) = array(tr, &res, "address")?.first() {
        if !a.is_object() {
            return Err(input::bad_element(tr, "address"));
        }
        let text = string(tr, a, "text", "address.text")?;
        out.address = if text.trim().is_empty() {
            let mut s = string(tr, a, "state", "address.state")?;
            s.push_str(&string(tr, a, "city", "address.city")?);
            match a.get("line") {
                None | Some(Value::Null) => {}
                Some(Value::Array(lines)) => {
                    for l in lines {
                        s.push_str(l.as_str().ok_or_else(|| input::bad_element(tr, "address.line"))?);
                    }
                }
                Some(_) => return Err(input::bad_element(tr, "address.line")),
            }
            s
        } else {
            text.trim().to_string()
        };
        if let Some(d) = extension_of(a, &district_extension()) {
            out.district = string(tr, d, "valueString", "address.extension")?;
        }
        if let Some(g) = extension_of(a, GEOLOCATION) {
            let coord = |name: &str| {
                extension_of(g, name).and_then(|e| e.get("valueDecimal")).and_then(Value::as_f64)
            };
            match (coord("latitude"), coord("longitude")) {
                (Some(lat), Some(lon)) => out.location = format!("{lat},{lon}"),
                _ => return Err(input::bad_element(tr, "address.extension")),
            }
        }
    }

    for t in array(tr, &res, "telecom")? {
        if !t.is_object() {
            return Err(input::bad_element(tr, "telecom"));
        }
        if str_at(t, "system") == Some("phone") && out.phone.is_empty() {
            out.phone = string(tr, t, "value", "telecom.value")?;
        }
    }

    let insurance = care_insurance_system();
    for i in array(tr, &res, "identifier")? {
        if !i.is_object() {
            return Err(input::bad_element(tr, "identifier"));
        }
        if str_at(i, "system") == Some(insurance.as_str()) {
            out.insurance_number = string(tr, i, "value", "identifier.value")?;
        }
    }

    let level_url = care_level_extension();
    for e in array(tr, &res, "extension")? {
        if str_at(e, "url") != Some(level_url.as_str()) {
            continue;
        }
        let coding = e.get("valueCoding").ok_or_else(|| input::bad_element(tr, "extension"))?;
        let system_ok = str_at(coding, "system").is_none_or(|s| s == care_level_system());
        match str_at(coding, "code") {
            Some(c) if system_ok && CareLevel::from_code(c).is_some() => out.care_level = c.to_string(),
            _ => return Err(input::bad_element(tr, "extension")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Interactions

pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let path = req.path();
    match path.as_slice() {
        [] if req.is_read() => search_type(ctx, app, req).await,
        [] if req.method == Method::POST => create(ctx, app, req).await,
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => read(ctx, app, id).await,
        [id] if req.method == Method::PUT && !id.starts_with('_') && !id.starts_with('$') => {
            update(ctx, app, req, id).await
        }
        [] | [_] => Err(FhirError::method_not_allowed(ctx.tr)),
        [id, "$everything"] if req.is_read() => super::everything::run(ctx, app, req, id).await,
        [_, "$everything"] => Err(FhirError::method_not_allowed(ctx.tr)),
        [id, "_history"] if req.is_read() => history(ctx, app, id).await,
        [id, "_history", vid] if req.is_read() => vread(ctx, app, id, vid).await,
        [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

fn answer(ctx: &Ctx, status: StatusCode, r: &PatientRecord) -> Response {
    input::resource_response(ctx, status, &resource(r), r.patient.version, r.patient.updated_at)
}

async fn read(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let r = app.patient_resource(actor, id).await.map_err(|e| ctx.app_error(e))?;
    Ok(answer(ctx, StatusCode::OK, &r))
}

async fn history(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let versions = app.patient_resource_versions(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let entries: Vec<Value> = versions
        .iter()
        .map(|r| {
            let v = types::value(&resource(r));
            json!({
                "fullUrl": format!("{}/Patient/{}", ctx.base, r.patient.id),
                "resource": v,
                "request": {
                    "method": if r.patient.version == 1 { "POST" } else { "PUT" },
                    "url": if r.patient.version == 1 {
                        "Patient".to_string()
                    } else {
                        format!("Patient/{}", r.patient.id)
                    },
                },
                "response": {
                    "status": if r.patient.version == 1 { "201 Created" } else { "200 OK" },
                    "etag": format!("W/\"{}\"", r.patient.version),
                    "lastModified": input::instant(r.patient.updated_at),
                },
            })
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "history",
        "meta": { "lastUpdated": input::instant(search::now(app)) },
        "total": entries.len(),
        "link": [{ "relation": "self", "url": format!("{}/Patient/{id}/_history", ctx.base) }],
        "entry": entries,
    });
    Ok(ctx.json(StatusCode::OK, &bundle))
}

async fn vread(ctx: &Ctx, app: &App, id: &str, vid: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let versions = app.patient_resource_versions(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let wanted = vid.parse::<i64>().ok();
    let r = versions
        .iter()
        .find(|r| Some(r.patient.version) == wanted)
        .ok_or_else(|| FhirError::not_found(ctx.tr))?;
    Ok(answer(ctx, StatusCode::OK, r))
}

async fn create(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let mut input = parse(ctx.tr, &ctx.base, &req.body)?;
    input.confirmed_not_duplicate = req
        .headers
        .get(CONFIRM_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match app.register_patient(actor, input).await.map_err(|e| input::write_error(ctx, e))? {
        Registered::Created(row) => {
            let r = app.patient_record(row).await.map_err(|e| ctx.app_error(e))?;
            Ok(answer(ctx, StatusCode::CREATED, &r))
        }
        Registered::LikelyDuplicates(_) => Err(FhirError::new(
            StatusCode::CONFLICT,
            vec![Issue::error("duplicate", ctx.tr.get("fhir.patient.duplicate"))],
        )),
    }
}

async fn update(ctx: &Ctx, app: &App, req: &FhirRequest, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let res = input::parse_resource(ctx.tr, &req.body, "Patient")?;
    match res.get("id").and_then(Value::as_str) {
        Some(body_id) if body_id == id => {}
        _ => {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                vec![Issue::error("invalid", ctx.tr.get("fhir.patient.id_mismatch")).at("id")],
            ));
        }
    }
    let expected = input::expected_version(ctx.tr, req, &res)?;
    let patient = parse(ctx.tr, &ctx.base, &req.body)?;
    match app.update_patient_resource(actor, id, patient, expected).await {
        Ok(r) => Ok(answer(ctx, StatusCode::OK, &r)),
        Err(AppError::Invalid(inv)) if inv.0.iter().any(|f| f.code == "error.version_conflict") => {
            Err(input::conflict(ctx.tr, req))
        }
        Err(e) => Err(input::write_error(ctx, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Search

/// Leaves out (or refuses) parameters with a modifier a parameter does not take.
pub fn check_modifiers(ctx: &Ctx, s: &mut Search, allowed: &[(&str, &[&str])]) -> Result<(), FhirError> {
    let mut bad = Vec::new();
    s.params.retain(|(name, _)| {
        let ok = match name.split_once(':') {
            None => true,
            Some((base, m)) => allowed.iter().any(|(b, ms)| *b == base && ms.contains(&m)),
        };
        if !ok {
            bad.push(name.clone());
        }
        ok
    });
    if bad.is_empty() {
        return Ok(());
    }
    if !ctx.lenient {
        return Err(FhirError::unknown_params(ctx.tr, &bad));
    }
    s.used.retain(|(n, _)| !bad.contains(n));
    s.ignored.extend(bad);
    Ok(())
}

/// Comma-separated values of a token or string parameter.
/// Whether a patient's name or kana matches a `name` value (folded like every Japanese search:
/// NFKC, katakana as hiragana, spaces ignored; each word must occur).
fn name_matches(p: &PatientRow, value: &str, exact: bool) -> bool {
    let kanji = fold(&p.name).replace(' ', "");
    let kana = name_key(&p.name_kana);
    if exact {
        let q = fold(value).replace(' ', "");
        return q == kanji || q == kana;
    }
    let q = fold(value);
    let words: Vec<&str> = q.split(' ').filter(|w| !w.is_empty()).collect();
    !words.is_empty() && words.iter().all(|w| kanji.contains(w) || kana.contains(w))
}

/// The criteria of a Patient search, checked per patient.
#[derive(Debug, Default)]
struct Criteria {
    ids: Vec<Vec<String>>,
    /// (values, exact)
    names: Vec<(Vec<String>, bool)>,
    birth: search::Range,
    genders: Vec<Vec<String>>,
    identifiers: Vec<Vec<String>>,
    last_updated: search::Range,
}

impl Criteria {
    fn keep(&self, p: &PatientRow) -> bool {
        let tr = Tr::new(Lang::En);
        let birth_ok = self.birth.is_open()
            || search::parse_date(tr, "birthdate", &p.birth_date)
                .ok()
                .and_then(|r| r.from)
                .is_some_and(|start| self.birth.contains(start));
        let pid = patient_id_system();
        let ins = care_insurance_system();
        self.ids.iter().all(|ids| ids.contains(&p.id))
            && self.names.iter().all(|(vs, exact)| vs.iter().any(|v| name_matches(p, v, *exact)))
            && birth_ok
            && self.genders.iter().all(|gs| gs.iter().any(|g| token_matches(g, GENDER_SYSTEM, &p.sex)))
            && self.identifiers.iter().all(|is| {
                is.iter().any(|i| {
                    token_matches(i, &pid, &p.id)
                        || p.insurance_number.as_deref().is_some_and(|n| token_matches(i, &ins, n))
                })
            })
            && self.last_updated.contains(p.updated_at)
    }
}

async fn search_type(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let mut s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    check_modifiers(ctx, &mut s, &[("name", &["exact", "contains"])])?;
    let mut c =
        Criteria { birth: s.date(ctx.tr, "birthdate")?, last_updated: s.last_updated, ..Criteria::default() };
    for (name, value) in &s.params {
        let values = split_values(value);
        match search::base_name(name) {
            "_id" => c.ids.push(values),
            "name" => c.names.push((values, name.ends_with(":exact"))),
            "gender" => c.genders.push(values),
            "identifier" => c.identifiers.push(values),
            _ => {}
        }
    }
    let keep = move |p: &PatientRow| c.keep(p);
    let mut found = app.search_patients(actor, &keep).await.map_err(|e| ctx.app_error(e))?;
    let (key, desc) = s.sort.clone().unwrap_or_else(|| ("name".to_string(), false));
    found.sort_by(|a, b| {
        let (a, b) = (&a.patient, &b.patient);
        let o = match key.as_str() {
            "birthdate" => a.birth_date.cmp(&b.birth_date),
            "_lastUpdated" => a.updated_at.cmp(&b.updated_at),
            _ => a.name_folded.cmp(&b.name_folded),
        };
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| a.id.cmp(&b.id))
    });
    let total = i64::try_from(found.len()).unwrap_or(i64::MAX);
    let page: Vec<Patient> = if s.count_only {
        Vec::new()
    } else {
        let skip = usize::try_from(s.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(s.count).unwrap_or(0);
        found.iter().skip(skip).take(take).map(resource).collect()
    };
    let bundle = search::bundle(ctx, "Patient", &s, total, page, search::now(app));
    Ok(ctx.json(StatusCode::OK, &bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    fn example() -> Value {
        json!({
            "resourceType": "Patient",
            "name": [
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "IDE" }], "use": "official",
                  "text": "山田 太郎", "family": "山田", "given": ["太郎"] },
                { "extension": [{ "url": NAME_REPRESENTATION, "valueCode": "SYL" }], "use": "official",
                  "text": "ヤマダ タロウ", "family": "ヤマダ", "given": ["タロウ"] }
            ],
            "telecom": [{ "system": "phone", "value": "0312345678", "use": "home" }],
            "gender": "male",
            "birthDate": "1970-01-01",
            "address": [{ "text": "東京都新宿区", "postalCode": "160-0023" }],
            "identifier": [{ "system": care_insurance_system(), "value": "0001234567" }],
            "extension": [{ "url": care_level_extension(), "valueCoding": { "system": care_level_system(), "code": "care_2" } }]
        })
    }

    #[test]
    fn the_jp_core_example_maps_to_a_registration() {
        let p = parse(tr(), "http://h/fhir", example().to_string().as_bytes()).unwrap();
        assert_eq!(p.name, "山田 太郎");
        assert_eq!(p.name_kana, "ヤマダ タロウ");
        assert_eq!(p.sex, "male");
        assert_eq!(p.birth_date, "1970-01-01");
        assert_eq!(p.address, "東京都新宿区");
        assert_eq!(p.phone, "0312345678");
        assert_eq!(p.insurance_number, "0001234567");
        assert_eq!(p.care_level, "care_2");
    }

    #[test]
    fn names_without_text_are_joined_from_their_parts() {
        let mut v = example();
        v["name"][0].as_object_mut().unwrap().remove("text");
        let p = parse(tr(), "", v.to_string().as_bytes()).unwrap();
        assert_eq!(p.name, "山田 太郎");
    }

    #[test]
    fn broken_shapes_are_refused_with_422_not_a_panic() {
        for (path, bad) in [
            ("name", json!("山田")),
            ("gender", json!("man")),
            ("gender", json!(1)),
            ("birthDate", json!([])),
            ("address", json!({})),
            ("telecom", json!([1])),
            ("identifier", json!("x")),
            ("extension", json!([{ "url": care_level_extension(), "valueCoding": { "code": "care_9" } }])),
        ] {
            let mut v = example();
            v[path] = bad;
            let e = parse(tr(), "", v.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        }
        let mut v = example();
        v["name"] = json!([v["name"][0].clone()]);
        assert_eq!(
            parse(tr(), "", v.to_string().as_bytes()).unwrap_err().status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn a_resource_names_kanji_and_kana_with_their_representation() {
        let n = types::value(&human_name("北村 トメ", "IDE"));
        assert_eq!(n["family"], "北村");
        assert_eq!(n["given"][0], "トメ");
        assert_eq!(n["extension"][0]["valueCode"], "IDE");
        let n = types::value(&human_name("ひとこと", "SYL"));
        // No space: the whole text, no family or given (FHIR JSON writes no empty values).
        assert_eq!(n["text"], "ひとこと");
        assert_eq!(n.get("given"), None);
        assert_eq!(n.get("family"), None);
    }

    #[test]
    fn tokens_match_with_or_without_system() {
        assert!(token_matches("female", GENDER_SYSTEM, "female"));
        assert!(token_matches("http://hl7.org/fhir/administrative-gender|female", GENDER_SYSTEM, "female"));
        assert!(token_matches("|female", GENDER_SYSTEM, "female"));
        assert!(!token_matches("http://other|female", GENDER_SYSTEM, "female"));
    }
}
