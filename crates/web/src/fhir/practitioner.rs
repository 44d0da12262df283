//! `Practitioner` and `PractitionerRole`: TODO(issue 5) being built.

use axum::response::Response;
use tsunagu_app::App;

use super::registry::ResourceDef;
use super::{Ctx, FhirError, FhirRequest};

pub const PRACTITIONER: ResourceDef = ResourceDef {
    name: "Practitioner",
    profile: None,
    doc_key: "fhir.capability.practitioner",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub const PRACTITIONER_ROLE: ResourceDef = ResourceDef {
    name: "PractitionerRole",
    profile: None,
    doc_key: "fhir.capability.practitionerrole",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub async fn handle(ctx: &Ctx, _app: &App, _name: &str, _req: &FhirRequest) -> Result<Response, FhirError> {
    Err(FhirError::method_not_allowed(ctx.tr))
}
