//! `AllergyIntolerance`, `Condition`, `MedicationStatement`: the lists of the patient summary.
//! The team keeps them as free text, one item per line (`patients.allergies`, `conditions`,
//! `medications`); each non-empty line is one resource with the line as `code.text`
//! (`medicationCodeableConcept.text`), as written by the team: `verificationStatus`
//! `unconfirmed`, `clinicalStatus` (`status`) `active`.
//!
//! Ids are `{patient id}-{a|c|m}{16 hex}`, the hex being the start of the SHA-256 of the
//! line's folded text: a line keeps its id while its text stays the same, wherever it moves in
//! the list; an edited line is a new resource (and the old id answers 404). The version is the
//! patient's (`meta.versionId`, `ETag`), and `recordedDate`/`dateAsserted` the summary's last
//! change. Read-only: the summary is edited on the patient page (or `Patient` update).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::api_documents::{SummaryItem, SummaryList};
use tsunagu_store::patients::PatientRow;

use super::directory::prune;
use super::document::{no_modifiers, required_patient};
use super::registry::{ResourceDef, param};
use super::search;
use super::types::Meta;
use super::{Ctx, FhirError, FhirRequest, input};

const PATIENT_PARAM: &str = "http://hl7.org/fhir/SearchParameter/clinical-patient";

pub const ALLERGY: ResourceDef = ResourceDef {
    name: "AllergyIntolerance",
    profile: Some("http://jpfhir.jp/fhir/core/StructureDefinition/JP_AllergyIntolerance"),
    doc_key: "fhir.capability.allergyintolerance",
    interactions: &["read", "search-type"],
    params: &[param("patient", "reference", Some(PATIENT_PARAM), "fhir.lists.param_patient")],
    sorts: &[],
    operations: &[],
};

pub const CONDITION: ResourceDef = ResourceDef {
    name: "Condition",
    profile: Some("http://jpfhir.jp/fhir/core/StructureDefinition/JP_Condition"),
    doc_key: "fhir.capability.condition",
    interactions: &["read", "search-type"],
    params: &[
        param("patient", "reference", Some(PATIENT_PARAM), "fhir.lists.param_patient"),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/Condition-subject"),
            "fhir.lists.param_patient",
        ),
    ],
    sorts: &[],
    operations: &[],
};

pub const MEDICATION: ResourceDef = ResourceDef {
    name: "MedicationStatement",
    profile: Some("http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationStatement"),
    doc_key: "fhir.capability.medicationstatement",
    interactions: &["read", "search-type"],
    params: &[
        param("patient", "reference", Some(PATIENT_PARAM), "fhir.lists.param_patient"),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/MedicationStatement-subject"),
            "fhir.lists.param_patient",
        ),
    ],
    sorts: &[],
    operations: &[],
};

const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// The list a type shows, and its definition.
fn list_of(name: &str) -> Option<(SummaryList, &'static ResourceDef)> {
    match name {
        "AllergyIntolerance" => Some((SummaryList::Allergies, &ALLERGY)),
        "Condition" => Some((SummaryList::Conditions, &CONDITION)),
        "MedicationStatement" => Some((SummaryList::Medications, &MEDICATION)),
        _ => None,
    }
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }] })
}

/// One line of a summary list as its resource.
pub fn to_json(list: SummaryList, p: &PatientRow, item: &SummaryItem) -> Value {
    let patient = json!({ "reference": format!("Patient/{}", p.id) });
    let when = input::instant(p.updated_at);
    let text = json!({ "text": item.text });
    let mut v = match list {
        SummaryList::Allergies => json!({
            "resourceType": "AllergyIntolerance",
            "id": item.id,
            "meta": Meta::new(p.version, p.updated_at, ALLERGY.profile),
            "clinicalStatus": concept(ALLERGY_CLINICAL, "active", "Active"),
            "verificationStatus": concept(ALLERGY_VERIFICATION, "unconfirmed", "Unconfirmed"),
            "code": text,
            "patient": patient,
            "recordedDate": when,
        }),
        SummaryList::Conditions => json!({
            "resourceType": "Condition",
            "id": item.id,
            "meta": Meta::new(p.version, p.updated_at, CONDITION.profile),
            "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": concept(CONDITION_VERIFICATION, "unconfirmed", "Unconfirmed"),
            "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": text,
            "subject": patient,
            "recordedDate": when,
        }),
        SummaryList::Medications => json!({
            "resourceType": "MedicationStatement",
            "id": item.id,
            "meta": Meta::new(p.version, p.updated_at, MEDICATION.profile),
            "status": "active",
            "medicationCodeableConcept": text,
            "subject": patient,
            "dateAsserted": when,
        }),
    };
    prune(&mut v);
    v
}

/// The patient part of a summary resource id (`{patient id}-{letter}{16 hex}`), if the id has
/// that shape for this list.
fn patient_of(id: &str, list: SummaryList) -> Option<&str> {
    let (patient, tail) = id.rsplit_once('-')?;
    let mut chars = tail.chars();
    let ok = chars.next() == Some(list.letter())
        && tail.len() == 17
        && chars.all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    (ok && !patient.is_empty()).then_some(patient)
}

/// Every request on the three types.
pub async fn handle(ctx: &Ctx, app: &App, name: &str, req: &FhirRequest) -> Result<Response, FhirError> {
    let Some((list, def)) = list_of(name) else {
        return Err(FhirError::unknown_type(ctx.tr));
    };
    match req.path().as_slice() {
        [] if req.is_read() => {
            let actor = ctx.actor()?;
            let s = search::parse(ctx.tr, ctx.lenient, def, &req.params)?;
            no_modifiers(ctx.tr, &s)?;
            let patient = required_patient(ctx, &s)?;
            let (o, items) = app.summary_list(actor, &patient, list).await.map_err(|e| ctx.app_error(e))?;
            let p = &o.patient;
            let items: Vec<&SummaryItem> =
                if s.last_updated.contains(p.updated_at) { items.iter().collect() } else { Vec::new() };
            let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let limit = if s.count_only { 0 } else { s.count };
            let resources = items
                .into_iter()
                .skip(usize::try_from(s.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(0))
                .map(|i| to_json(list, p, i))
                .collect();
            let bundle = search::bundle(ctx, def.name, &s, total, resources, search::now(app));
            Ok(ctx.json(StatusCode::OK, &bundle))
        }
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => {
            let actor = ctx.actor()?;
            // An id of the wrong shape is looked up like any other (the gate audits the
            // refusal), so it answers exactly as a hidden one does.
            let patient = patient_of(id, list).unwrap_or(id);
            let (o, items) = app.summary_list(actor, patient, list).await.map_err(|e| ctx.app_error(e))?;
            let item = items.iter().find(|i| i.id == *id).ok_or_else(|| FhirError::not_found(ctx.tr))?;
            let v = to_json(list, &o.patient, item);
            Ok(input::resource_response(ctx, StatusCode::OK, &v, o.patient.version, o.patient.updated_at))
        }
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_patient_and_list() {
        let id = "0193-abcd-c0123456789abcdef";
        assert_eq!(patient_of(id, SummaryList::Conditions), Some("0193-abcd"));
        assert_eq!(patient_of(id, SummaryList::Allergies), None);
        assert_eq!(patient_of("x-c0123", SummaryList::Conditions), None);
        assert_eq!(patient_of("-c0123456789abcdef", SummaryList::Conditions), None);
        assert_eq!(patient_of("nodash", SummaryList::Conditions), None);
    }
}
