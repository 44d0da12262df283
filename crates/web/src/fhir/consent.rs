//! `Consent`: a patient's consent to information sharing (`Consent/{consent id}`). Read, vread,
//! history and search by the patient's team; create by the attending or sub-attending physician
//! ([`App::record_consent`]); withdrawal by `PUT` of the same resource with `status: inactive`
//! and a reason ([`App::withdraw_consent`]).
//!
//! A consent has two versions at most: 1 as recorded (`active`), 2 once withdrawn (`inactive`).
//! Withdrawal ends every consent in force on the patient, as on the pages: every member but the
//! attending physician loses access at once.
//!
//! Mapping: `status` active/inactive; `scope` `patient-privacy`; `category` LOINC 59284-0;
//! `patient`; `dateTime` the day consent was given; `performer` the patient (`Patient/{id}`) or
//! a proxy as a contained `RelatedPerson` (name and relationship); `policyRule` opt-in;
//! `provision.period` from the day consent was given to its withdrawal; `sourceReference` the
//! signed form (`DocumentReference/{attachment id}`), if one was attached on the pages; the scope
//! text (what is shared, as the form says), the withdrawal reason and who recorded and withdrew
//! it in Tsunagu's extensions.

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::api_team::ConsentRecord;
use tsunagu_app::sharing::NewConsent;
use tsunagu_app::{App, AppError};
use tsunagu_domain::FieldError;

use super::care_team::{page, patient_required};
use super::input::{self, Resource};
use super::outcome::Issue;
use super::registry::{ResourceDef, param};
use super::search::token_matches;
use super::search::{self, Search};
use super::types::Meta;
use super::{CANONICAL, Ctx, FhirError, FhirRequest, directory};
use crate::i18n::Tr;

pub const DEF: ResourceDef = ResourceDef {
    name: "Consent",
    profile: None,
    doc_key: "fhir.capability.consent",
    interactions: &["read", "vread", "history-instance", "search-type", "create", "update"],
    params: &[
        param(
            "patient",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/clinical-patient"),
            "fhir.consent.param_patient",
        ),
        param(
            "_id",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Resource-id"),
            "fhir.consent.param_id",
        ),
        param(
            "status",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Consent-status"),
            "fhir.consent.param_status",
        ),
        param(
            "date",
            "date",
            Some("http://hl7.org/fhir/SearchParameter/clinical-date"),
            "fhir.consent.param_date",
        ),
    ],
    sorts: &["date"],
    operations: &[],
};

const STATUS_SYSTEM: &str = "http://hl7.org/fhir/consent-state-codes";
const SCOPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
/// The id of the contained `RelatedPerson` of a proxy.
const PROXY_ID: &str = "proxy";

// FHIRPath of Tsunagu's extensions, for the OperationOutcome (the URLs of `ext_url`).
const SCOPE_EXPR: &str =
    "Consent.extension('https://tsunagu.example/fhir/StructureDefinition/consent-scope')";
const REASON_EXPR: &str =
    "Consent.extension('https://tsunagu.example/fhir/StructureDefinition/consent-withdrawal-reason')";

fn ext_url(name: &str) -> String {
    format!("{CANONICAL}/StructureDefinition/{name}")
}

pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let post = req.method == axum::http::Method::POST;
    let put = req.method == axum::http::Method::PUT;
    match req.path().as_slice() {
        [] if req.is_read() => search(ctx, app, req).await,
        [] if post => create(ctx, app, req).await,
        [id] if req.is_read() && plain(id) => read(ctx, app, id).await,
        [id] if put && plain(id) => update(ctx, app, req, id).await,
        [id, "_history"] if req.is_read() && plain(id) => history(ctx, app, id).await,
        [id, "_history", vid] if req.is_read() && plain(id) => vread(ctx, app, id, vid).await,
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

fn plain(id: &str) -> bool {
    !id.starts_with('_') && !id.starts_with('$')
}

// ---- Reading a resource sent by a client --------------------------------------------------

/// A consent resource as sent: for a create, or the full resource of a withdrawal.
#[derive(Debug, Clone)]
struct Sent {
    patient_id: String,
    /// `active` or `inactive`.
    status: String,
    consent: NewConsent,
    /// The withdrawal reason extension, if any.
    reason: Option<String>,
}

/// Whether two consents say the same (the fields a client sends; the form never comes through
/// the API).
fn same_fields(a: &NewConsent, b: &NewConsent) -> bool {
    a.consenter == b.consenter
        && a.proxy_name == b.proxy_name
        && a.proxy_relation == b.proxy_relation
        && a.consented_on == b.consented_on
        && a.scope == b.scope
}

/// Reads a `Consent` create: the patient's id and the consent to record. Pure (the fuzz test
/// drives it). 400 for what is not a Consent, 422 for a status other than `active`, another
/// scope, a missing or foreign patient reference, a performer that is not the patient or a
/// contained proxy.
pub fn parse_with_patient(tr: Tr, base: &str, body: &[u8]) -> Result<(String, NewConsent), FhirError> {
    let res = input::parse_resource(tr, body, "Consent")?;
    let sent = read_sent(tr, base, &res)?;
    if sent.status != "active" {
        return Err(input::bad_element(tr, "Consent.status"));
    }
    Ok((sent.patient_id, sent.consent))
}

/// [`parse_with_patient`] without the patient (the shape every writable module offers).
pub fn parse(tr: Tr, base: &str, body: &[u8]) -> Result<NewConsent, FhirError> {
    parse_with_patient(tr, base, body).map(|(_, c)| c)
}

fn string_at<'a>(tr: Tr, v: &'a Value, element: &str) -> Result<Option<&'a str>, FhirError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(input::bad_element(tr, element)),
    }
}

/// The `valueString` of one of Tsunagu's extensions, if present.
fn extension_string(tr: Tr, res: &Resource, name: &str, expr: &str) -> Result<Option<String>, FhirError> {
    let Some(exts) = res.get("extension") else {
        return Ok(None);
    };
    let exts = exts.as_array().ok_or_else(|| input::bad_element(tr, "Consent.extension"))?;
    let url = ext_url(name);
    let mut found = None;
    for e in exts {
        if e.get("url").and_then(Value::as_str) == Some(url.as_str()) {
            if found.is_some() {
                return Err(input::bad_element(tr, expr));
            }
            let v = e.get("valueString").ok_or_else(|| input::bad_element(tr, expr))?;
            found = string_at(tr, v, expr)?.map(str::to_string);
            if found.is_none() {
                return Err(input::bad_element(tr, expr));
            }
        }
    }
    Ok(found)
}

fn read_sent(tr: Tr, base: &str, res: &Resource) -> Result<Sent, FhirError> {
    let status = match res.get("status") {
        None => return Err(input::required(tr, "Consent.status")),
        Some(v) => match v.as_str() {
            Some(s @ ("active" | "inactive")) => s.to_string(),
            _ => return Err(input::bad_element(tr, "Consent.status")),
        },
    };
    let scope = res.get("scope").ok_or_else(|| input::required(tr, "Consent.scope"))?;
    let privacy = scope.get("coding").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("system").and_then(Value::as_str) == Some(SCOPE_SYSTEM)
                && c.get("code").and_then(Value::as_str) == Some("patient-privacy")
        })
    });
    if !privacy {
        return Err(input::bad_element(tr, "Consent.scope"));
    }
    let patient = res.get("patient").ok_or_else(|| input::required(tr, "Consent.patient"))?;
    let patient_id = patient
        .get("reference")
        .and_then(Value::as_str)
        .and_then(|r| input::reference_id(base, r, "Patient"))
        .ok_or_else(|| input::bad_element(tr, "Consent.patient"))?
        .to_string();
    let consented_on = match res.get("dateTime") {
        None => String::new(),
        Some(v) => {
            let s = string_at(tr, v, "Consent.dateTime")?.unwrap_or("");
            japan_day(s).ok_or_else(|| input::bad_element(tr, "Consent.dateTime"))?
        }
    };
    let performers = match res.get("performer") {
        None => return Err(input::required(tr, "Consent.performer")),
        Some(Value::Array(ps)) => ps,
        Some(_) => return Err(input::bad_element(tr, "Consent.performer")),
    };
    let [performer] = performers.as_slice() else {
        return Err(input::bad_element(tr, "Consent.performer"));
    };
    let reference = performer.get("reference").and_then(Value::as_str).unwrap_or("");
    let mut consent = NewConsent { consented_on, ..NewConsent::default() };
    if let Some(local) = reference.strip_prefix('#') {
        let proxy = res
            .get("contained")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter().find(|c| {
                    c.get("resourceType").and_then(Value::as_str) == Some("RelatedPerson")
                        && c.get("id").and_then(Value::as_str) == Some(local)
                })
            })
            .ok_or_else(|| input::bad_element(tr, "Consent.performer"))?;
        if let Some(p) = proxy.get("patient") {
            let id = p
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| input::reference_id(base, r, "Patient"));
            if id != Some(patient_id.as_str()) {
                return Err(input::unprocessable(
                    tr,
                    "Consent.contained.patient",
                    "fhir.consent.other_patient",
                ));
            }
        }
        consent.consenter = "proxy".into();
        consent.proxy_name = proxy_name(proxy);
        consent.proxy_relation = proxy_relation(proxy);
    } else {
        let id = input::reference_id(base, reference, "Patient")
            .ok_or_else(|| input::bad_element(tr, "Consent.performer"))?;
        if id != patient_id {
            return Err(input::unprocessable(tr, "Consent.performer", "fhir.consent.other_patient"));
        }
        consent.consenter = "patient".into();
    }
    consent.scope = extension_string(tr, res, "consent-scope", SCOPE_EXPR)?.unwrap_or_default();
    let reason = extension_string(tr, res, "consent-withdrawal-reason", REASON_EXPR)?;
    Ok(Sent { patient_id, status, consent, reason })
}

/// `RelatedPerson.name[0]`: its `text`, or family and given names joined by a space.
fn proxy_name(p: &Value) -> String {
    let Some(n) = p.get("name").and_then(Value::as_array).and_then(|ns| ns.first()) else {
        return String::new();
    };
    if let Some(t) = n.get("text").and_then(Value::as_str) {
        return t.to_string();
    }
    let mut parts: Vec<&str> = n.get("family").and_then(Value::as_str).into_iter().collect();
    if let Some(given) = n.get("given").and_then(Value::as_array) {
        parts.extend(given.iter().filter_map(Value::as_str));
    }
    parts.join(" ")
}

/// `RelatedPerson.relationship[0]`: its `text`, or its first coding's display.
fn proxy_relation(p: &Value) -> String {
    let Some(r) = p.get("relationship").and_then(Value::as_array).and_then(|rs| rs.first()) else {
        return String::new();
    };
    r.get("text")
        .and_then(Value::as_str)
        .or_else(|| {
            r.get("coding").and_then(|c| c.get(0)).and_then(|c| c.get("display")).and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_string()
}

/// The day (in Japan) of a FHIR date or dateTime: `YYYY-MM-DD` as it is, a dateTime with its
/// zone converted to Japan time. A year or a month alone is not a day.
fn japan_day(s: &str) -> Option<String> {
    let s = s.trim();
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if s.len() == 10 {
        return time::Date::parse(s, &day).ok().map(|_| s.to_string());
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    t.to_offset(time::macros::offset!(+9)).date().format(&day).ok()
}

/// The error of a consent write: the app's field names as the resource's elements (a lost
/// race with another withdrawal as a version conflict).
fn write_error(ctx: &Ctx, req: &FhirRequest, e: AppError) -> FhirError {
    match e {
        AppError::Invalid(inv) if inv.0.iter().any(|f| f.code == "error.no_active_consent") => {
            input::conflict(ctx.tr, req)
        }
        AppError::Invalid(mut inv) => {
            for f in &mut inv.0 {
                *f = FieldError { field: element_of(f.field), ..f.clone() };
            }
            input::write_error(ctx, AppError::Invalid(inv))
        }
        other => input::write_error(ctx, other),
    }
}

fn element_of(field: &'static str) -> &'static str {
    match field {
        "consenter" => "Consent.performer",
        "proxy_name" => "Consent.contained.name",
        "proxy_relation" => "Consent.contained.relationship",
        "consented_on" => "Consent.dateTime",
        "scope" => SCOPE_EXPR,
        "reason" => REASON_EXPR,
        other => other,
    }
}

// ---- The resource ----------------------------------------------------------------------------

/// A consent as a FHIR `Consent`.
pub fn resource(rec: &ConsentRecord) -> Value {
    let c = &rec.consent;
    let patient = format!("Patient/{}", c.patient_id);
    let proxy = c.consenter == "proxy";
    let performer = if proxy {
        json!({ "reference": format!("#{PROXY_ID}"), "type": "RelatedPerson", "display": c.proxy_name })
    } else {
        json!({ "reference": patient, "type": "Patient" })
    };
    let contained = proxy.then(|| {
        json!([{
            "resourceType": "RelatedPerson",
            "id": PROXY_ID,
            "patient": { "reference": patient },
            "relationship": [{ "text": c.proxy_relation }],
            "name": [{ "text": c.proxy_name }],
        }])
    });
    let practitioner =
        |id: &str, name: &str| json!({ "reference": format!("Practitioner/{id}"), "display": name });
    let mut extension = vec![
        json!({ "url": ext_url("consent-scope"), "valueString": c.scope }),
        json!({
            "url": ext_url("consent-recorded-by"),
            "valueReference": practitioner(&c.recorded_by, &rec.recorded_by_name),
        }),
    ];
    if let Some(reason) = &c.withdrawal_reason {
        extension.push(json!({ "url": ext_url("consent-withdrawal-reason"), "valueString": reason }));
    }
    if let (Some(by), Some(name)) = (&c.withdrawn_by, &rec.withdrawn_by_name) {
        extension.push(
            json!({ "url": ext_url("consent-withdrawn-by"), "valueReference": practitioner(by, name) }),
        );
    }
    let mut v = json!({
        "resourceType": "Consent",
        "id": c.id,
        "meta": Meta::new(rec.version(), rec.last_updated(), None),
        "contained": contained,
        "extension": extension,
        "status": if c.withdrawn_at.is_some() { "inactive" } else { "active" },
        "scope": {
            "coding": [{ "system": SCOPE_SYSTEM, "code": "patient-privacy", "display": "Privacy Consent" }]
        },
        "category": [{
            "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Consent Document" }]
        }],
        "patient": { "reference": patient },
        "dateTime": c.consented_on,
        "performer": [performer],
        "sourceReference": c.form_attachment_id.as_ref().map(|f| {
            json!({ "reference": format!("DocumentReference/{f}") })
        }),
        "policyRule": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }] },
        "provision": {
            "type": "permit",
            "period": { "start": c.consented_on, "end": c.withdrawn_at.map(input::instant) },
        },
    });
    directory::prune(&mut v);
    v
}

/// The consent as it was in version `v` (1: as recorded; 2: withdrawn), if it had that version.
fn as_version(rec: &ConsentRecord, v: i64) -> Option<ConsentRecord> {
    match v {
        _ if v == rec.version() => Some(rec.clone()),
        1 => {
            let mut r = rec.clone();
            r.consent.withdrawn_at = None;
            r.consent.withdrawn_by = None;
            r.consent.withdrawal_reason = None;
            r.withdrawn_by_name = None;
            Some(r)
        }
        _ => None,
    }
}

// ---- Interactions --------------------------------------------------------------------------

async fn read(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let rec = app.consent(actor, id).await.map_err(|e| ctx.app_error(e))?;
    Ok(input::resource_response(ctx, StatusCode::OK, &resource(&rec), rec.version(), rec.last_updated()))
}

async fn vread(ctx: &Ctx, app: &App, id: &str, vid: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let rec = app.consent(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let v = vid
        .parse::<i64>()
        .ok()
        .and_then(|v| as_version(&rec, v))
        .ok_or_else(|| FhirError::not_found(ctx.tr))?;
    Ok(input::resource_response(ctx, StatusCode::OK, &resource(&v), v.version(), v.last_updated()))
}

async fn history(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let rec = app.consent(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let url = format!("{}/Consent/{}", ctx.base, rec.consent.id);
    let entries: Vec<Value> = (1..=rec.version())
        .rev()
        .filter_map(|v| as_version(&rec, v))
        .map(|r| {
            let (method, request_url, status) = if r.version() == 1 {
                ("POST", "Consent".to_string(), "201 Created")
            } else {
                ("PUT", format!("Consent/{}", r.consent.id), "200 OK")
            };
            json!({
                "fullUrl": url,
                "resource": resource(&r),
                "request": { "method": method, "url": request_url },
                "response": {
                    "status": status,
                    "etag": format!("W/\"{}\"", r.version()),
                    "lastModified": input::instant(r.last_updated()),
                },
            })
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": input::instant(search::now(app)) },
        "type": "history",
        "total": entries.len(),
        "link": [{ "relation": "self", "url": format!("{url}/_history") }],
        "entry": entries,
    });
    Ok(ctx.json(StatusCode::OK, &bundle))
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let patient = s.patient(ctx)?;
    let by_id = s.one(ctx.tr, "_id")?.map(str::trim);
    if by_id.is_some_and(|v| v.contains(',') || v.is_empty() || v.len() > 64) {
        return Err(FhirError::bad_value(ctx.tr, "_id"));
    }
    let date = s.date(ctx.tr, "date")?;
    let found = match (patient, by_id) {
        (Some(p), _) => match app.patient_consents(actor, &p).await {
            Ok(all) => all.into_iter().filter(|r| by_id.is_none_or(|i| i == r.consent.id)).collect(),
            Err(AppError::NotFound) => Vec::new(),
            Err(e) => return Err(ctx.app_error(e)),
        },
        (None, Some(id)) => match app.consent(actor, id).await {
            Ok(r) => vec![r],
            Err(AppError::NotFound) => Vec::new(),
            Err(e) => return Err(ctx.app_error(e)),
        },
        (None, None) => return Err(patient_required(ctx.tr)),
    };
    let mut found: Vec<ConsentRecord> =
        found.into_iter().filter_map(|r| matches(ctx.tr, &s, date, r)).collect::<Result<_, _>>()?;
    if let Some((_, desc)) = &s.sort {
        found.sort_by(|a, b| {
            let k = |r: &ConsentRecord| (r.consent.consented_on.clone(), r.consent.recorded_at);
            if *desc { k(b).cmp(&k(a)) } else { k(a).cmp(&k(b)) }
        });
    }
    let resources = found.iter().map(resource).collect();
    let (total, page) = page(&s, resources);
    Ok(ctx.json(StatusCode::OK, &search::bundle(ctx, "Consent", &s, total, page, search::now(app))))
}

/// Whether a consent matches the search (`Err` is carried through the filter above).
fn matches(
    tr: Tr,
    s: &Search,
    date: search::Range,
    r: ConsentRecord,
) -> Option<Result<ConsentRecord, FhirError>> {
    if !s.last_updated.contains(r.last_updated()) {
        return None;
    }
    let status = if r.consent.withdrawn_at.is_some() { "inactive" } else { "active" };
    if !s.values("status").iter().all(|v| token_matches(v, STATUS_SYSTEM, status)) {
        return None;
    }
    if !date.is_open() {
        // The day consent was given, from its start in Japan.
        match search::parse_date(tr, "date", &r.consent.consented_on) {
            Ok(day) if day.from.is_some_and(|t| date.contains(t)) => {}
            Ok(_) => return None,
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(r))
}

async fn create(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let (patient_id, consent) = parse_with_patient(ctx.tr, &ctx.base, &req.body)?;
    let rec =
        app.record_consent_record(actor, &patient_id, consent).await.map_err(|e| write_error(ctx, req, e))?;
    Ok(input::resource_response(ctx, StatusCode::CREATED, &resource(&rec), rec.version(), rec.last_updated()))
}

/// Withdrawal: the resource as read, `status` set to `inactive`, a reason in the
/// `consent-withdrawal-reason` extension, and `If-Match` naming the version read.
async fn update(ctx: &Ctx, app: &App, req: &FhirRequest, id: &str) -> Result<Response, FhirError> {
    let tr = ctx.tr;
    let actor = ctx.actor()?;
    let res = input::parse_resource(tr, &req.body, "Consent")?;
    if res.get("id").and_then(Value::as_str) != Some(id) {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            vec![Issue::error("invalid", tr.get("fhir.consent.id_mismatch")).at("Consent.id")],
        ));
    }
    let expected = input::expected_version(tr, req, &res)?;
    let sent = read_sent(tr, &ctx.base, &res)?;
    let current = app.consent_to_change(actor, id).await.map_err(|e| ctx.app_error(e))?;
    if expected != current.version() {
        return Err(input::conflict(tr, req));
    }
    let c = &current.consent;
    let recorded = NewConsent {
        consenter: c.consenter.clone(),
        proxy_name: c.proxy_name.clone().unwrap_or_default(),
        proxy_relation: c.proxy_relation.clone().unwrap_or_default(),
        consented_on: c.consented_on.clone(),
        scope: c.scope.clone(),
        form: None,
    };
    let mut sent_consent = sent.consent.clone();
    for f in [&mut sent_consent.proxy_name, &mut sent_consent.proxy_relation, &mut sent_consent.scope] {
        *f = f.trim().to_string();
    }
    let withdrawn = c.withdrawn_at.is_some();
    let same_reason = !withdrawn || sent.reason.as_deref().map(str::trim) == c.withdrawal_reason.as_deref();
    if sent.patient_id != c.patient_id || !same_fields(&sent_consent, &recorded) || !same_reason {
        return Err(input::unprocessable(tr, "Consent", "fhir.consent.only_status"));
    }
    let rec = match (withdrawn, sent.status.as_str()) {
        (true, "active") => {
            return Err(input::unprocessable(tr, "Consent.status", "fhir.consent.no_reactivation"));
        }
        (false, "inactive") => {
            let reason = sent.reason.unwrap_or_default();
            app.withdraw_consent_record(actor, id, &reason).await.map_err(|e| write_error(ctx, req, e))?
        }
        // Nothing changes: the resource as it is.
        _ => current,
    };
    let mut r =
        input::resource_response(ctx, StatusCode::OK, &resource(&rec), rec.version(), rec.last_updated());
    r.headers_mut().remove(header::LOCATION);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    const BASE: &str = "http://h/fhir";

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn consent(performer: Value, contained: Value) -> Value {
        json!({
            "resourceType": "Consent",
            "status": "active",
            "scope": { "coding": [{ "system": SCOPE_SYSTEM, "code": "patient-privacy" }] },
            "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
            "patient": { "reference": "Patient/p1" },
            "dateTime": "2026-11-23",
            "performer": [performer],
            "contained": contained,
            "extension": [{
                "url": ext_url("consent-scope"),
                "valueString": "在宅医療・介護の多職種連携",
            }],
        })
    }

    #[test]
    fn a_patient_or_a_contained_proxy_gives_consent() {
        let (p, c) =
            parse_with_patient(tr(), BASE, &body(consent(json!({ "reference": "Patient/p1" }), json!([]))))
                .unwrap();
        assert_eq!(
            (p.as_str(), c.consenter.as_str(), c.consented_on.as_str()),
            ("p1", "patient", "2026-11-23")
        );
        assert_eq!(c.scope, "在宅医療・介護の多職種連携");
        let proxy = json!([{
            "resourceType": "RelatedPerson", "id": "proxy", "patient": { "reference": "Patient/p1" },
            "name": [{ "text": "森 久子" }], "relationship": [{ "text": "妻" }] }]);
        let c = parse(tr(), BASE, &body(consent(json!({ "reference": "#proxy" }), proxy))).unwrap();
        assert_eq!(
            (c.consenter.as_str(), c.proxy_name.as_str(), c.proxy_relation.as_str()),
            ("proxy", "森 久子", "妻")
        );
    }

    #[test]
    fn a_day_in_japan_is_taken_from_a_date_time() {
        assert_eq!(japan_day("2026-11-23T16:00:00Z").as_deref(), Some("2026-11-24"));
        assert_eq!(japan_day("2026-11-23").as_deref(), Some("2026-11-23"));
        assert_eq!(japan_day("2026-11"), None);
        assert_eq!(japan_day("2026-02-30"), None);
    }

    #[test]
    fn rule_breaking_consents_are_unprocessable() {
        let ok = consent(json!({ "reference": "Patient/p1" }), json!([]));
        let mut cases = Vec::new();
        let mut v = ok.clone();
        v["status"] = json!("draft");
        cases.push(v);
        let mut v = ok.clone();
        v["status"] = json!("inactive");
        cases.push(v);
        let mut v = ok.clone();
        v.as_object_mut().unwrap().remove("patient");
        cases.push(v);
        let mut v = ok.clone();
        v["performer"] = json!([{ "reference": "Patient/p2" }]);
        cases.push(v);
        let mut v = ok.clone();
        v["performer"] = json!([{ "reference": "#nobody" }]);
        cases.push(v);
        let mut v = ok.clone();
        v["scope"] = json!({ "coding": [{ "system": SCOPE_SYSTEM, "code": "research" }] });
        cases.push(v);
        let mut v = ok.clone();
        v["dateTime"] = json!(20261123);
        cases.push(v);
        let mut v = ok.clone();
        v["extension"] = json!({ "url": "x" });
        cases.push(v);
        for v in cases {
            let e = parse(tr(), BASE, &body(v.clone())).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        }
        let e = parse(tr(), BASE, b"{\"resourceType\":\"Patient\"}").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
