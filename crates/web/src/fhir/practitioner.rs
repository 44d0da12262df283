//! `Practitioner` (JP_Practitioner) and `PractitionerRole` (JP_PractitionerRole): the
//! professional directory of people, for any caller with a token (`App::directory_people`:
//! disabled accounts and system-only accounts are not listed). People are not patients: these
//! reads are not audited.
//!
//! A `Practitioner` is a person (id: the account's id): the name and its kana reading as
//! JP_HumanName writes them, the profession as `qualification.code`. A `PractitionerRole` is one
//! of their organisations: its id is the person's id and the organisation's id, each as 32 hex
//! digits without hyphens (64 characters, the most a FHIR id may have); `code` is the
//! profession and each duty the person holds.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::api_patients::DirectoryPerson;
use tsunagu_domain::text::{fold, name_key};
use tsunagu_store::people::AffiliationRow;

use super::directory::prune;
use super::patient::{check_modifiers, human_name};
use super::registry::{ResourceDef, param};
use super::search;
use super::search::split_values;
use super::types;
use super::{CANONICAL, Ctx, FhirError, FhirRequest};
use crate::i18n::{Lang, Tr};

pub const JP_PRACTITIONER: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Practitioner";
pub const JP_PRACTITIONER_ROLE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_PractitionerRole";

pub const PRACTITIONER: ResourceDef = ResourceDef {
    name: "Practitioner",
    profile: Some(JP_PRACTITIONER),
    doc_key: "fhir.capability.practitioner",
    interactions: &["read", "search-type"],
    params: &[
        param("_id", "token", Some("http://hl7.org/fhir/SearchParameter/Resource-id"), "fhir.param.id"),
        param(
            "name",
            "string",
            Some("http://hl7.org/fhir/SearchParameter/Practitioner-name"),
            "fhir.practitioner.param_name",
        ),
    ],
    sorts: &[],
    operations: &[],
};

pub const PRACTITIONER_ROLE: ResourceDef = ResourceDef {
    name: "PractitionerRole",
    profile: Some(JP_PRACTITIONER_ROLE),
    doc_key: "fhir.capability.practitionerrole",
    interactions: &["read", "search-type"],
    params: &[
        param("_id", "token", Some("http://hl7.org/fhir/SearchParameter/Resource-id"), "fhir.param.id"),
        param(
            "practitioner",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/PractitionerRole-practitioner"),
            "fhir.practitioner.param_practitioner",
        ),
        param(
            "organization",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/PractitionerRole-organization"),
            "fhir.practitioner.param_organization",
        ),
    ],
    sorts: &[],
    operations: &[],
};

pub fn profession_system() -> String {
    format!("{CANONICAL}/CodeSystem/profession")
}
pub fn duty_system() -> String {
    format!("{CANONICAL}/CodeSystem/duty")
}

fn concept(system: String, prefix: &str, code: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": Tr::new(Lang::Ja).label(prefix, code) }] })
}

/// The id of a `PractitionerRole`: the person's and the organisation's ids without hyphens.
pub fn role_id(user_id: &str, org_id: &str) -> String {
    format!("{}{}", user_id.replace('-', ""), org_id.replace('-', ""))
}

/// A `PractitionerRole` id back to (person, organisation), if it is one.
pub fn parse_role_id(id: &str) -> Option<(String, String)> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (a, b) = id.split_at(32);
    let u = uuid::Uuid::try_parse(a).ok()?.as_hyphenated().to_string();
    let o = uuid::Uuid::try_parse(b).ok()?.as_hyphenated().to_string();
    Some((u, o))
}

/// A person as a JP_Practitioner.
pub fn practitioner(p: &DirectoryPerson) -> Value {
    let mut names = vec![types::value(&human_name(&p.display_name, "IDE"))];
    if !p.display_name_kana.trim().is_empty() {
        names.push(types::value(&human_name(&p.display_name_kana, "SYL")));
    }
    let mut v = json!({
        "resourceType": "Practitioner",
        "id": p.id,
        "meta": { "profile": [JP_PRACTITIONER] },
        "active": true,
        "name": names,
        "qualification": [{ "code": concept(profession_system(), "profession", &p.profession) }],
    });
    prune(&mut v);
    v
}

/// One organisation of a person as a JP_PractitionerRole.
pub fn practitioner_role(p: &DirectoryPerson, a: &AffiliationRow) -> Value {
    let mut codes = vec![concept(profession_system(), "profession", &p.profession)];
    codes.extend(p.duties.iter().map(|d| concept(duty_system(), "duty", d)));
    let mut v = json!({
        "resourceType": "PractitionerRole",
        "id": role_id(&p.id, &a.organisation_id),
        "meta": { "profile": [JP_PRACTITIONER_ROLE] },
        "active": true,
        "practitioner": { "reference": format!("Practitioner/{}", p.id), "display": p.display_name },
        "organization": { "reference": format!("Organization/{}", a.organisation_id), "display": a.organisation_name },
        "code": codes,
    });
    prune(&mut v);
    v
}

fn name_matches(p: &DirectoryPerson, value: &str, exact: bool) -> bool {
    let kanji = fold(&p.display_name).replace(' ', "");
    let kana = name_key(&p.display_name_kana);
    let q = fold(value);
    if exact {
        let q = q.replace(' ', "");
        return q == kanji || q == kana;
    }
    let words: Vec<&str> = q.split(' ').filter(|w| !w.is_empty()).collect();
    !words.is_empty() && words.iter().all(|w| kanji.contains(w) || kana.contains(w))
}

/// The id a reference parameter names: `{Type}/{id}`, `{base}/{Type}/{id}` or a bare id.
fn reference_value<'a>(ctx: &Ctx, v: &'a str, kind: &str) -> Option<&'a str> {
    let v = v.trim();
    if v.contains('/') {
        super::input::reference_id(&ctx.base, v, kind)
    } else {
        (!v.is_empty()).then_some(v)
    }
}

pub async fn handle(ctx: &Ctx, app: &App, name: &str, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let role = name == "PractitionerRole";
    let path = req.path();
    match path.as_slice() {
        [] | [_] if !req.is_read() => Err(FhirError::method_not_allowed(ctx.tr)),
        [] => {
            let def = if role { &PRACTITIONER_ROLE } else { &PRACTITIONER };
            let mut s = search::parse(ctx.tr, ctx.lenient, def, &req.params)?;
            check_modifiers(ctx, &mut s, &[("name", &["exact", "contains"])])?;
            let mut people = app.directory_people(actor).await.map_err(|e| ctx.app_error(e))?;
            people.sort_by(|a, b| {
                name_key(&a.display_name_kana)
                    .cmp(&name_key(&b.display_name_kana))
                    .then_with(|| a.id.cmp(&b.id))
            });
            let mut found: Vec<Value> = Vec::new();
            for p in &people {
                if role {
                    for a in &p.affiliations {
                        let rid = role_id(&p.id, &a.organisation_id);
                        let ok = s.params.iter().all(|(n, v)| {
                            let vs = split_values(v);
                            match search::base_name(n) {
                                "_id" => vs.contains(&rid),
                                "practitioner" => vs
                                    .iter()
                                    .any(|x| reference_value(ctx, x, "Practitioner") == Some(p.id.as_str())),
                                "organization" => vs.iter().any(|x| {
                                    reference_value(ctx, x, "Organization")
                                        == Some(a.organisation_id.as_str())
                                }),
                                _ => true,
                            }
                        });
                        if ok {
                            found.push(practitioner_role(p, a));
                        }
                    }
                } else {
                    let ok = s.params.iter().all(|(n, v)| {
                        let vs = split_values(v);
                        match search::base_name(n) {
                            "_id" => vs.contains(&p.id),
                            "name" => vs.iter().any(|x| name_matches(p, x, n.ends_with(":exact"))),
                            _ => true,
                        }
                    });
                    if ok {
                        found.push(practitioner(p));
                    }
                }
            }
            let total = i64::try_from(found.len()).unwrap_or(i64::MAX);
            let page: Vec<Value> = if s.count_only {
                Vec::new()
            } else {
                let skip = usize::try_from(s.offset).unwrap_or(usize::MAX);
                let take = usize::try_from(s.count).unwrap_or(0);
                found.into_iter().skip(skip).take(take).collect()
            };
            let bundle = search::bundle(ctx, name, &s, total, page, search::now(app));
            Ok(ctx.json(StatusCode::OK, &bundle))
        }
        [id] if !id.starts_with('_') && !id.starts_with('$') => {
            let people = app.directory_people(actor).await.map_err(|e| ctx.app_error(e))?;
            let found = if role {
                parse_role_id(id).and_then(|(u, o)| {
                    let p = people.iter().find(|p| p.id == u)?;
                    let a = p.affiliations.iter().find(|a| a.organisation_id == o)?;
                    Some(practitioner_role(p, a))
                })
            } else {
                people.iter().find(|p| p.id == *id).map(practitioner)
            };
            let v = found.ok_or_else(|| FhirError::not_found(ctx.tr))?;
            Ok(ctx.json(StatusCode::OK, &v))
        }
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_id_holds_both_ids_and_fits_a_fhir_id() {
        let u = "0193a1c2-0000-7000-8000-000000000001";
        let o = "0193a1c2-0000-7000-8000-0000000000ff";
        let id = role_id(u, o);
        assert_eq!(id.len(), 64);
        assert_eq!(parse_role_id(&id), Some((u.to_string(), o.to_string())));
        assert_eq!(parse_role_id("x"), None);
        assert_eq!(parse_role_id(&"g".repeat(64)), None);
    }
}
