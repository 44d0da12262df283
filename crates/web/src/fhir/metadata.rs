//! `GET /fhir/metadata`: the CapabilityStatement, listing exactly what this server does. It is
//! built from the same tables the handlers dispatch on, so it cannot promise more.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::directory::{DirResource, prune};
use super::registry::{self, ResourceDef};
use super::{Ctx, FHIR_VERSION};
use crate::i18n::Tr;

/// When the statement last changed in meaning (bump with every new interaction or parameter).
pub const STATEMENT_DATE: &str = "2026-11-24";

/// The statement as JSON.
pub fn statement(ctx: &Ctx) -> Value {
    let tr = ctx.tr;
    let resources: Vec<Value> = DirResource::ALL
        .iter()
        .map(|r| {
            let params: Vec<Value> = r
                .params()
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "definition": p.definition,
                        "type": p.type_,
                        "documentation": tr.get(p.doc_key),
                    })
                })
                .collect();
            json!({
                "type": r.name(),
                "profile": r.profile(),
                "documentation": tr.get("fhir.capability.directory"),
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "versioning": "versioned",
                "readHistory": false,
                "updateCreate": false,
                "searchParam": params,
            })
        })
        .collect();
    let mut resources = resources;
    resources.extend(registry::all().into_iter().map(|d| patient_resource(tr, d)));
    let version = env!("CARGO_PKG_VERSION");
    let mut v = json!({
        "resourceType": "CapabilityStatement",
        "id": "tsunagu",
        "url": format!("{}/metadata", ctx.base),
        "version": version,
        "name": "TsunaguFhirServer",
        "title": tr.get("fhir.capability.title"),
        "status": "active",
        "experimental": false,
        "date": STATEMENT_DATE,
        "publisher": "Tsunagu",
        "description": tr.get("fhir.capability.description"),
        "kind": "instance",
        "software": { "name": "Tsunagu", "version": version },
        "implementation": { "description": tr.get("fhir.capability.title"), "url": ctx.base },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": tr.get("fhir.capability.rest"),
            "security": { "cors": false, "description": tr.get("fhir.capability.security") },
            "resource": resources,
        }],
    });
    prune(&mut v);
    v
}

/// The statement of one patient resource type, from its definition.
fn patient_resource(tr: Tr, d: &ResourceDef) -> Value {
    let mut params: Vec<Value> = d
        .params
        .iter()
        .map(|p| json!({ "name": p.name, "definition": p.definition, "type": p.type_, "documentation": tr.get(p.doc_key) }))
        .collect();
    if d.supports("search-type") {
        params.push(json!({
            "name": "_lastUpdated",
            "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
            "type": "date",
            "documentation": tr.get("fhir.param.last_updated"),
        }));
    }
    let interactions: Vec<Value> = d.interactions.iter().map(|i| json!({ "code": i })).collect();
    let operations: Vec<Value> =
        d.operations.iter().map(|(name, def)| json!({ "name": name, "definition": def })).collect();
    json!({
        "type": d.name,
        "profile": d.profile,
        "documentation": tr.get(d.doc_key),
        "interaction": interactions,
        "versioning": if d.supports("vread") { "versioned" } else { "no-version" },
        "readHistory": d.supports("vread"),
        "updateCreate": false,
        "searchParam": params,
        "operation": operations,
    })
}

pub fn capability_statement(ctx: &Ctx) -> Response {
    ctx.json(StatusCode::OK, &statement(ctx))
}
