//! The patient resources of the API (issue 5) as one table: what each type supports. The
//! dispatcher routes by it and the CapabilityStatement is built from it, so the statement
//! cannot promise more than the handlers do. (The directory's three types keep their own table
//! in `directory.rs`.)

use axum::response::Response;
use tsunagu_app::App;

use super::{Ctx, FhirError, FhirRequest};
use super::{
    audit_event, care_team, communication, consent, document, observation, patient, practitioner, summary,
};

/// A search parameter as the CapabilityStatement lists it.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    /// The FHIR search parameter type (`token`, `reference`, `date`, `string`, …).
    pub type_: &'static str,
    /// The canonical URL of the standard parameter; `None` for Tsunagu's additions.
    pub definition: Option<&'static str>,
    /// The catalog key of its documentation.
    pub doc_key: &'static str,
}

pub const fn param(
    name: &'static str,
    type_: &'static str,
    definition: Option<&'static str>,
    doc_key: &'static str,
) -> Param {
    Param { name, type_, definition, doc_key }
}

/// What a resource type supports.
#[derive(Debug, Clone, Copy)]
pub struct ResourceDef {
    pub name: &'static str,
    /// The JP Core (or base FHIR) profile its resources claim.
    pub profile: Option<&'static str>,
    /// The catalog key of its documentation in the CapabilityStatement.
    pub doc_key: &'static str,
    /// FHIR interaction codes: `read`, `vread`, `history-instance`, `search-type`, `create`,
    /// `update`.
    pub interactions: &'static [&'static str],
    /// Search parameters (besides `_count`, `_summary`, `_total`, `_sort`, `_lastUpdated`, `_offset`).
    pub params: &'static [Param],
    /// `_sort` values accepted (each also with a leading `-`).
    pub sorts: &'static [&'static str],
    /// Operations on the type or instance: (name, canonical definition).
    pub operations: &'static [(&'static str, &'static str)],
}

impl ResourceDef {
    pub fn supports(&self, interaction: &str) -> bool {
        self.interactions.contains(&interaction)
    }
}

/// Every patient resource type served, in the CapabilityStatement's order.
pub fn all() -> Vec<&'static ResourceDef> {
    vec![
        &patient::DEF,
        &practitioner::PRACTITIONER,
        &practitioner::PRACTITIONER_ROLE,
        &care_team::DEF,
        &consent::DEF,
        &observation::DEF,
        &communication::DEF,
        &document::DEF,
        &document::BINARY,
        &summary::ALLERGY,
        &summary::CONDITION,
        &summary::MEDICATION,
        &audit_event::DEF,
    ]
}

/// The definition of a type by name.
pub fn find(name: &str) -> Option<&'static ResourceDef> {
    all().into_iter().find(|d| d.name == name)
}

/// Runs a request on a patient resource type (`None`: not one of these types).
pub async fn route(
    ctx: &Ctx,
    app: &App,
    name: &str,
    req: &FhirRequest,
) -> Option<Result<Response, FhirError>> {
    Some(match name {
        "Patient" => patient::handle(ctx, app, req).await,
        "Practitioner" | "PractitionerRole" => practitioner::handle(ctx, app, name, req).await,
        "CareTeam" => care_team::handle(ctx, app, req).await,
        "Consent" => consent::handle(ctx, app, req).await,
        "Observation" => observation::handle(ctx, app, req).await,
        "Communication" => communication::handle(ctx, app, req).await,
        "DocumentReference" => document::handle(ctx, app, req).await,
        "Binary" => document::binary(ctx, app, req).await,
        "AllergyIntolerance" | "Condition" | "MedicationStatement" => {
            summary::handle(ctx, app, name, req).await
        }
        "AuditEvent" => audit_event::handle(ctx, app, req).await,
        _ => return None,
    })
}
