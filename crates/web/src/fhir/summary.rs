//! `AllergyIntolerance`, `Condition`, `MedicationStatement`: TODO(issue 5) being built.

use axum::response::Response;
use tsunagu_app::App;

use super::registry::ResourceDef;
use super::{Ctx, FhirError, FhirRequest};

pub const ALLERGY: ResourceDef = ResourceDef {
    name: "AllergyIntolerance",
    profile: None,
    doc_key: "fhir.capability.allergyintolerance",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub const CONDITION: ResourceDef = ResourceDef {
    name: "Condition",
    profile: None,
    doc_key: "fhir.capability.condition",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub const MEDICATION: ResourceDef = ResourceDef {
    name: "MedicationStatement",
    profile: None,
    doc_key: "fhir.capability.medicationstatement",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub async fn handle(ctx: &Ctx, _app: &App, _name: &str, _req: &FhirRequest) -> Result<Response, FhirError> {
    Err(FhirError::method_not_allowed(ctx.tr))
}
