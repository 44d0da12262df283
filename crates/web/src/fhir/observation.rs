//! `Observation`: the vital signs of the timeline (JP_Observation_VitalSigns, and the FHIR
//! vital-signs profile of each measurement). One Observation per measurement of one entry; a
//! blood pressure's two values are one Observation (LOINC 85354-9 with the systolic and
//! diastolic components). Its id is `{entry id}-{measurement}` (`…-bp`, `…-pulse`,
//! `…-temperature`, `…-spo2`, `…-respiratory-rate`, `…-weight`, `…-glucose`).
//!
//! Read, search (by patient: required), and create (team members: a new `vitals` entry through
//! [`App::api_write_entry`], the same use case as the page's form). Entries are never edited, so
//! there is no update; an entry corrected on the pages turns its observations
//! `entered-in-error`, and those of the correction are `corrected`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::api_timeline::{EntryInput, VitalObservation};
use tsunagu_app::sharing::NewEntry;
use tsunagu_app::{App, AppError};
use tsunagu_domain::sharing::VitalKind;
use tsunagu_store::patients::VitalRow;
use tsunagu_store::timeline_search::{EntryState, VitalQuery};

use super::input::{self, Resource};
use super::registry::{ResourceDef, param};
use super::search::{self, Search};
use super::types::Meta;
use super::{Ctx, FhirError, FhirRequest, directory};
use crate::i18n::Tr;

pub const PROFILE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns";
pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ABSENT_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

pub const DEF: ResourceDef = ResourceDef {
    name: "Observation",
    profile: Some(PROFILE),
    doc_key: "fhir.capability.observation",
    interactions: &["read", "search-type", "create"],
    params: &[
        param(
            "patient",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/clinical-patient"),
            "fhir.timeline.param_patient",
        ),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/Observation-subject"),
            "fhir.timeline.param_patient",
        ),
        param(
            "code",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/clinical-code"),
            "fhir.timeline.param_code",
        ),
        param(
            "category",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Observation-category"),
            "fhir.timeline.param_category_observation",
        ),
        param(
            "date",
            "date",
            Some("http://hl7.org/fhir/SearchParameter/clinical-date"),
            "fhir.timeline.param_date",
        ),
        param(
            "status",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Observation-status"),
            "fhir.timeline.param_status",
        ),
    ],
    sorts: &["date"],
    operations: &[],
};

/// One kind of Observation: a group of vital kinds with its codes.
pub struct Measure {
    /// The group (`bp` or a vital kind code).
    pub group: &'static str,
    /// The suffix of the Observation id.
    pub suffix: &'static str,
    /// LOINC code and display of `Observation.code` (the first is the primary coding).
    pub codes: &'static [(&'static str, &'static str)],
    /// LOINC codes also accepted on create (none emitted).
    pub accepted: &'static [&'static str],
    /// `code.text`.
    pub text: &'static str,
    /// The base FHIR vital-signs profile, if there is one for it.
    pub fhir_profile: &'static str,
}

pub const MEASURES: &[Measure] = &[
    Measure {
        group: "bp",
        suffix: "bp",
        codes: &[("85354-9", "Blood pressure panel with all children optional")],
        accepted: &["55284-4"],
        text: "血圧",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/bp",
    },
    Measure {
        group: "pulse",
        suffix: "pulse",
        codes: &[("8867-4", "Heart rate")],
        accepted: &[],
        text: "脈拍数",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/heartrate",
    },
    Measure {
        group: "temperature",
        suffix: "temperature",
        codes: &[("8310-5", "Body temperature")],
        accepted: &[],
        text: "体温",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/bodytemp",
    },
    Measure {
        group: "spo2",
        suffix: "spo2",
        codes: &[
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            ("2708-6", "Oxygen saturation in Arterial blood"),
        ],
        accepted: &[],
        text: "SpO2",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/oxygensat",
    },
    Measure {
        group: "respiratory_rate",
        suffix: "respiratory-rate",
        codes: &[("9279-1", "Respiratory rate")],
        accepted: &[],
        text: "呼吸数",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/resprate",
    },
    Measure {
        group: "weight",
        suffix: "weight",
        codes: &[("29463-7", "Body weight")],
        accepted: &[],
        text: "体重",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/bodyweight",
    },
    Measure {
        group: "glucose",
        suffix: "glucose",
        codes: &[("2339-0", "Glucose [Mass/volume] in Blood")],
        accepted: &["41653-7"],
        text: "血糖値",
        fhir_profile: "http://hl7.org/fhir/StructureDefinition/vitalsigns",
    },
];

/// The components of a blood pressure: vital kind, LOINC code, display.
const BP_PARTS: &[(VitalKind, &str, &str)] = &[
    (VitalKind::SystolicBp, "8480-6", "Systolic blood pressure"),
    (VitalKind::DiastolicBp, "8462-4", "Diastolic blood pressure"),
];

fn measure_of_group(group: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.group == group)
}

/// The measure a LOINC code names (primary, second coding, or accepted on create).
fn measure_of_code(code: &str, on_create: bool) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.codes.iter().any(|c| c.0 == code) || (on_create && m.accepted.contains(&code)))
}

/// `{entry id}-{suffix}` → (entry id, group).
pub fn split_id(id: &str) -> Option<(&str, &'static str)> {
    let (entry, rest) = (id.get(..36)?, id.get(36..)?);
    let suffix = rest.strip_prefix('-')?;
    MEASURES.iter().find(|m| m.suffix == suffix).map(|m| (entry, m.group))
}

pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    match req.path().as_slice() {
        [] if req.is_read() => search(ctx, app, req).await,
        [] if req.method == axum::http::Method::POST => create(ctx, app, req).await,
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => read(ctx, app, id).await,
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

async fn read(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    // A malformed id goes to the gate whole: the same audited 404 as an unknown one.
    let (entry, group) = split_id(id).unwrap_or((id, "none"));
    let o = app.api_observation(actor, entry, group).await.map_err(|e| ctx.app_error(e))?;
    let (version, updated) = version_of(&o);
    Ok(input::resource_response(ctx, StatusCode::OK, &resource(&ctx.base, &o), version, updated))
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let patient = s
        .patient(ctx)?
        .ok_or_else(|| FhirError::invalid(ctx.tr, "patient", "fhir.timeline.patient_required"))?;
    let q = query(ctx.tr, &s)?;
    let found =
        app.api_observations(actor, &patient, &q, s.count_only).await.map_err(|e| ctx.app_error(e))?;
    let resources = found.items.iter().map(|o| resource(&ctx.base, o)).collect();
    Ok(ctx.json(
        StatusCode::OK,
        &search::page_bundle(ctx, "Observation", &s, found.total, found.more, resources, search::now(app)),
    ))
}

/// The store query of a search.
fn query(tr: Tr, s: &Search) -> Result<VitalQuery, FhirError> {
    let mut groups: Option<Vec<String>> = None;
    let mut narrow = |allowed: Vec<String>| {
        groups = Some(match groups.take() {
            None => allowed,
            Some(g) => g.into_iter().filter(|x| allowed.contains(x)).collect(),
        });
    };
    for v in s.values("code") {
        let mut allowed = Vec::new();
        for t in v.split(',') {
            let (system, code) = token(t);
            if system.is_some_and(|s| s != LOINC) {
                continue;
            }
            match code {
                None => allowed.extend(MEASURES.iter().map(|m| m.group.to_string())),
                Some(c) => allowed.extend(measure_of_code(c, false).map(|m| m.group.to_string())),
            }
        }
        narrow(allowed);
    }
    for v in s.values("category") {
        let any = v.split(',').any(|t| {
            let (system, code) = token(t);
            system.is_none_or(|s| s == CATEGORY_SYSTEM) && code.is_none_or(|c| c == "vital-signs")
        });
        narrow(if any { MEASURES.iter().map(|m| m.group.to_string()).collect() } else { Vec::new() });
    }
    let mut states: Option<Vec<EntryState>> = None;
    for v in s.values("status") {
        let mut these = Vec::new();
        for t in v.split(',') {
            match token(t).1 {
                Some("final") => these.push(EntryState::Original),
                Some("corrected" | "amended") => these.push(EntryState::Correction),
                Some("entered-in-error") => these.push(EntryState::Superseded),
                _ => {}
            }
        }
        states = Some(match states.take() {
            None => these,
            Some(st) => st.into_iter().filter(|x| these.contains(x)).collect(),
        });
    }
    let date = s.date(tr, "date")?;
    let ascending = s.sort.as_ref().is_some_and(|(_, desc)| !desc);
    Ok(VitalQuery {
        groups,
        measured_from: date.from,
        measured_to: date.to,
        written_from: s.last_updated.from,
        written_to: s.last_updated.to,
        states,
        ascending,
        limit: s.count.max(1),
        offset: s.offset,
        count_total: s.accurate_total,
    })
}

/// A token search value as (system, code): `system|code`, `|code` (no system: any here),
/// `system|` (any code of the system), `code`.
pub(crate) fn token(t: &str) -> (Option<&str>, Option<&str>) {
    let t = t.trim();
    match t.split_once('|') {
        Some((s, c)) => ((!s.is_empty()).then_some(s), (!c.is_empty()).then_some(c)),
        None => (None, Some(t)),
    }
}

async fn create(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let input = parse(ctx.tr, &ctx.base, &req.body)?;
    let vitals: Vec<(String, String)> = input.entry.vitals.clone();
    let row = app.api_write_entry(actor, input).await.map_err(|e| create_error(ctx, e))?;
    let group =
        vitals.first().map(|v| tsunagu_app::api_timeline::vital_group(&v.0).to_string()).unwrap_or_default();
    let o = VitalObservation {
        group,
        vitals: vitals
            .iter()
            .filter_map(|(k, v)| {
                Some(VitalRow {
                    entry_id: row.id.clone(),
                    patient_id: row.patient_id.clone(),
                    kind: k.clone(),
                    value: v.parse().ok()?,
                    measured_at: row.occurred_at,
                })
            })
            .collect(),
        author_name: Some(actor.display_name.clone()),
        superseded_by: None,
        entry: row,
    };
    let (version, updated) = version_of(&o);
    Ok(input::resource_response(ctx, StatusCode::CREATED, &resource(&ctx.base, &o), version, updated))
}

/// The error of a create: a subject the caller may not write to (missing, hidden, malformed)
/// is an unusable reference, 422 alike; anything else as for every write.
pub(crate) fn create_error(ctx: &Ctx, e: AppError) -> FhirError {
    match e {
        AppError::NotFound => input::unprocessable(ctx.tr, "subject", "fhir.timeline.unknown_subject"),
        other => input::write_error(ctx, other),
    }
}

/// The version of an observation: 1, or 2 once a correction superseded it (then last changed
/// when the correction was written).
fn version_of(o: &VitalObservation) -> (i64, i64) {
    match &o.superseded_by {
        Some((_, at)) => (2, *at),
        None => (1, o.entry.created_at),
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn quantity(kind: VitalKind, value: f64) -> Value {
    json!({ "value": value, "unit": kind.display_unit(), "system": UCUM, "code": kind.unit() })
}

/// The Observation of one measurement.
pub fn resource(_base: &str, o: &VitalObservation) -> Value {
    let Some(m) = measure_of_group(&o.group) else {
        return json!({ "resourceType": "Observation" });
    };
    let e = &o.entry;
    let status = if o.superseded_by.is_some() {
        "entered-in-error"
    } else if e.corrects_id.is_some() {
        "corrected"
    } else {
        "final"
    };
    let (version, updated) = version_of(o);
    let value_of = |k: VitalKind| o.vitals.iter().find(|v| v.kind == k.code()).map(|v| v.value);
    let mut r = json!({
        "resourceType": "Observation",
        "id": format!("{}-{}", e.id, m.suffix),
        "meta": Meta::new(version, updated, Some(PROFILE)),
        "status": status,
        "category": [{ "coding": [coding(CATEGORY_SYSTEM, "vital-signs", "Vital Signs")] }],
        "code": {
            "coding": m.codes.iter().map(|(c, d)| coding(LOINC, c, d)).collect::<Vec<_>>(),
            "text": m.text,
        },
        "subject": { "reference": format!("Patient/{}", e.patient_id) },
        "effectiveDateTime": input::instant(e.occurred_at),
        "issued": input::instant(e.created_at),
        "performer": [{
            "reference": format!("Practitioner/{}", e.author_id),
            "display": o.author_name.clone().unwrap_or_default(),
        }],
    });
    r["meta"]["profile"] = json!([PROFILE, m.fhir_profile]);
    if m.group == "bp" {
        let parts: Vec<Value> = BP_PARTS
            .iter()
            .map(|(k, code, display)| {
                let mut c = json!({ "code": { "coding": [coding(LOINC, code, display)] } });
                match value_of(*k) {
                    Some(v) => c["valueQuantity"] = quantity(*k, v),
                    None => {
                        c["dataAbsentReason"] =
                            json!({ "coding": [coding(ABSENT_SYSTEM, "not-performed", "Not Performed")] })
                    }
                }
                c
            })
            .collect();
        r["component"] = Value::Array(parts);
    } else if let Some(k) = VitalKind::from_code(m.group)
        && let Some(v) = value_of(k)
    {
        r["valueQuantity"] = quantity(k, v);
    }
    // The note of a vitals entry; a visit's text is its Communication.
    if e.kind == "vitals" && !e.body.is_empty() {
        r["note"] = json!([{ "text": e.body }]);
    }
    directory::prune(&mut r);
    r
}

/// Reads a vital-sign Observation to create: the patient, the measurement, when it was taken
/// and an optional note. Pure (the fuzz test drives it).
pub fn parse(tr: Tr, base: &str, body: &[u8]) -> Result<EntryInput, FhirError> {
    let res = input::parse_resource(tr, body, "Observation")?;
    match res.get("status").and_then(Value::as_str) {
        None => return Err(input::required(tr, "status")),
        Some("final") => {}
        Some(_) => return Err(input::bad_element(tr, "status")),
    }
    let patient_id = subject(tr, base, &res)?;
    let m = measure(tr, &res)?;
    let occurred_at = local_minutes(tr, &res, "effectiveDateTime")?
        .ok_or_else(|| input::required(tr, "effectiveDateTime"))?;
    let mut vitals = Vec::new();
    if m.group == "bp" {
        let parts =
            res.get("component").and_then(Value::as_array).ok_or_else(|| input::required(tr, "component"))?;
        for (i, c) in parts.iter().enumerate() {
            let at = format!("component[{i}]");
            let codes = loinc_codes(c.get("code"));
            let Some((k, _, _)) = BP_PARTS.iter().find(|p| codes.contains(&p.1)) else {
                return Err(input::bad_element(tr, &format!("{at}.code")));
            };
            if vitals.iter().any(|(code, _): &(String, String)| code == k.code()) {
                return Err(input::bad_element(tr, &format!("{at}.code")));
            }
            if c.get("valueQuantity").is_none() && c.get("dataAbsentReason").is_some() {
                continue;
            }
            let v = value(tr, c, *k, &format!("{at}.valueQuantity"))?;
            vitals.push((k.code().to_string(), v));
        }
        if vitals.is_empty() {
            return Err(input::required(tr, "component.valueQuantity"));
        }
    } else {
        let k = VitalKind::from_code(m.group).ok_or_else(|| input::bad_element(tr, "code"))?;
        vitals.push((k.code().to_string(), value(tr, &Value::Object(res.clone()), k, "valueQuantity")?));
    }
    let body = match res.get("note") {
        None => String::new(),
        Some(Value::Array(notes)) => {
            let texts: Option<Vec<&str>> =
                notes.iter().map(|n| n.get("text").and_then(Value::as_str)).collect();
            texts.ok_or_else(|| input::bad_element(tr, "note"))?.join("\n")
        }
        Some(_) => return Err(input::bad_element(tr, "note")),
    };
    Ok(EntryInput {
        patient_id,
        entry: NewEntry { kind: "vitals".into(), occurred_at, body, vitals, ..NewEntry::default() },
        addressee_id: None,
    })
}

/// `subject` as a patient id (422 when missing or not a local Patient).
pub(crate) fn subject(tr: Tr, base: &str, res: &Resource) -> Result<String, FhirError> {
    let r = res.get("subject").ok_or_else(|| input::required(tr, "subject"))?;
    let text = r.get("reference").and_then(Value::as_str).ok_or_else(|| input::bad_element(tr, "subject"))?;
    input::reference_id(base, text, "Patient")
        .map(str::to_string)
        .ok_or_else(|| input::bad_element(tr, "subject"))
}

/// A `dateTime` element with a time and a zone, as the pages' `YYYY-MM-DDTHH:MM` in Japan time
/// (to the minute, as the pages record). `None` when absent.
pub(crate) fn local_minutes(tr: Tr, res: &Resource, element: &str) -> Result<Option<String>, FhirError> {
    let Some(v) = res.get(element) else { return Ok(None) };
    let s = v.as_str().ok_or_else(|| input::bad_element(tr, element))?;
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| input::bad_element(tr, element))?;
    let jst = time::UtcOffset::from_hms(9, 0, 0).map_err(|_| input::bad_element(tr, element))?;
    let t = t.checked_to_offset(jst).ok_or_else(|| input::bad_element(tr, element))?;
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    t.format(&f).map(Some).map_err(|_| input::bad_element(tr, element))
}

/// The LOINC codes of a CodeableConcept.
fn loinc_codes(cc: Option<&Value>) -> Vec<&str> {
    cc.and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter(|c| c.get("system").and_then(Value::as_str) == Some(LOINC))
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The measurement `code` names (422 when missing or not one of the vital signs kept).
fn measure(tr: Tr, res: &Resource) -> Result<&'static Measure, FhirError> {
    if res.get("code").is_none() {
        return Err(input::required(tr, "code"));
    }
    loinc_codes(res.get("code"))
        .into_iter()
        .find_map(|c| measure_of_code(c, true))
        .ok_or_else(|| input::unprocessable(tr, "code", "fhir.timeline.unknown_code"))
}

/// `valueQuantity` of `holder` as a typed value for `kind`: a number in the UCUM unit of the
/// kind (no conversion: another unit is refused) within the possible range.
fn value(tr: Tr, holder: &Value, kind: VitalKind, at: &str) -> Result<String, FhirError> {
    let q = holder.get("valueQuantity").ok_or_else(|| input::required(tr, at))?;
    let v = q
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| input::bad_element(tr, &format!("{at}.value")))?;
    let code = q.get("code").and_then(Value::as_str);
    let system = q.get("system").and_then(Value::as_str);
    if code != Some(kind.unit()) || system.is_some_and(|s| s != UCUM) {
        return Err(input::unprocessable(tr, &format!("{at}.code"), "fhir.timeline.wrong_unit"));
    }
    let (lo, hi) = kind.range();
    if !v.is_finite() || v < lo || v > hi {
        return Err(input::unprocessable(tr, &format!("{at}.value"), "fhir.timeline.out_of_range"));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    const BASE: &str = "http://h/fhir";
    const PID: &str = "0193a1c2-0000-7000-8000-000000000001";

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    fn bp(sys: f64, dia: f64) -> Value {
        json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{ "system": CATEGORY_SYSTEM, "code": "vital-signs" }] }],
            "code": { "coding": [{ "system": LOINC, "code": "85354-9" }] },
            "subject": { "reference": format!("Patient/{PID}") },
            "effectiveDateTime": "2026-11-24T09:10:00+09:00",
            "component": [
                { "code": { "coding": [{ "system": LOINC, "code": "8480-6" }] },
                  "valueQuantity": { "value": sys, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]" } },
                { "code": { "coding": [{ "system": LOINC, "code": "8462-4" }] },
                  "valueQuantity": { "value": dia, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]" } }
            ]
        })
    }

    fn parse_json(v: &Value) -> Result<EntryInput, FhirError> {
        parse(tr(), BASE, &serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn a_blood_pressure_is_one_entry_with_both_values_in_japan_time() {
        let e = parse_json(&bp(132.0, 78.0)).unwrap();
        assert_eq!(e.patient_id, PID);
        assert_eq!(e.entry.kind, "vitals");
        assert_eq!(e.entry.occurred_at, "2026-11-24T09:10");
        assert_eq!(
            e.entry.vitals,
            vec![("systolic_bp".into(), "132".into()), ("diastolic_bp".into(), "78".into())]
        );
        let mut utc = bp(132.0, 78.0);
        utc["effectiveDateTime"] = json!("2026-11-24T00:10:30Z");
        assert_eq!(parse_json(&utc).unwrap().entry.occurred_at, "2026-11-24T09:10");
    }

    #[test]
    fn rule_breaking_observations_are_422_naming_the_element() {
        let cases: Vec<(Value, &str)> = vec![
            (bp(400.0, 78.0), "component[0].valueQuantity.value"),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v["component"][1]["valueQuantity"]["code"] = json!("kPa");
                    v
                },
                "component[1].valueQuantity.code",
            ),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v["code"]["coding"][0]["code"] = json!("1234-5");
                    v
                },
                "code",
            ),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v.as_object_mut().unwrap().remove("subject");
                    v
                },
                "subject",
            ),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v["subject"]["reference"] = json!("Group/x");
                    v
                },
                "subject",
            ),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v["effectiveDateTime"] = json!("2026-11-24");
                    v
                },
                "effectiveDateTime",
            ),
            (
                {
                    let mut v = bp(120.0, 70.0);
                    v["status"] = json!("preliminary");
                    v
                },
                "status",
            ),
        ];
        for (v, at) in cases {
            let e = parse_json(&v).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{at}");
            assert!(format!("{:?}", e).contains(at), "{at}: {e:?}");
        }
    }

    #[test]
    fn spo2_and_glucose_take_their_codes() {
        let v = json!({
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": LOINC, "code": "2708-6" }] },
            "subject": { "reference": format!("{BASE}/Patient/{PID}") },
            "effectiveDateTime": "2026-11-24T09:10:00+09:00",
            "valueQuantity": { "value": 97, "unit": "%", "system": UCUM, "code": "%" }
        });
        assert_eq!(parse_json(&v).unwrap().entry.vitals, vec![("spo2".into(), "97".into())]);
        let mut g = v.clone();
        g["code"]["coding"][0]["code"] = json!("41653-7");
        g["valueQuantity"] = json!({ "value": 142, "unit": "mg/dL", "system": UCUM, "code": "mg/dL" });
        assert_eq!(parse_json(&g).unwrap().entry.vitals, vec![("glucose".into(), "142".into())]);
    }

    #[test]
    fn ids_name_an_entry_and_a_measurement() {
        let id = format!("{PID}-bp");
        assert_eq!(split_id(&id), Some((PID, "bp")));
        assert_eq!(split_id(&format!("{PID}-respiratory-rate")), Some((PID, "respiratory_rate")));
        assert_eq!(split_id(&format!("{PID}-x")), None);
        assert_eq!(split_id("short"), None);
        assert!(MEASURES.iter().all(|m| 37 + m.suffix.len() <= 64));
    }

    #[test]
    fn tokens_split_system_and_code() {
        assert_eq!(token("http://loinc.org|8867-4"), (Some(LOINC), Some("8867-4")));
        assert_eq!(token("8867-4"), (None, Some("8867-4")));
        assert_eq!(token("|8867-4"), (None, Some("8867-4")));
        assert_eq!(token("http://loinc.org|"), (Some(LOINC), None));
    }
}
