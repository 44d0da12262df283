//! `Communication`: TODO(issue 5) being built.

use axum::response::Response;
use tsunagu_app::App;

use super::registry::ResourceDef;
use super::{Ctx, FhirError, FhirRequest};

pub const DEF: ResourceDef = ResourceDef {
    name: "Communication",
    profile: None,
    doc_key: "fhir.capability.communication",
    interactions: &[],
    params: &[],
    sorts: &[],
    operations: &[],
};

pub async fn handle(ctx: &Ctx, _app: &App, _req: &FhirRequest) -> Result<Response, FhirError> {
    Err(FhirError::method_not_allowed(ctx.tr))
}
