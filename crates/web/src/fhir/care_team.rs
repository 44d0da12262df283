//! `CareTeam`: a patient's care team, one per patient, with the patient's id
//! (`CareTeam/{patient id}`): the attending physician and every membership the caller may see,
//! each with its team role, profession, period and membership status. Read and search only; the
//! team changes on the pages (and `Consent` below decides whether it is in force).
//!
//! Who sees what is decided in the app layer ([`App::care_team`]): team members only (anyone
//! else gets the 404 of a missing patient), pending, refused and removed memberships for
//! physicians only.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::api_team::{CareTeamView, TeamParticipant};

use super::outcome::Issue;
use super::registry::{ResourceDef, param};
use super::search::{self, Search, token_matches};
use super::{CANONICAL, Ctx, FhirError, FhirRequest, directory, input};
use crate::i18n::{Lang, Tr};

pub const DEF: ResourceDef = ResourceDef {
    name: "CareTeam",
    profile: None,
    doc_key: "fhir.capability.careteam",
    interactions: &["read", "search-type"],
    params: &[
        param(
            "patient",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/clinical-patient"),
            "fhir.team.param_patient",
        ),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/CareTeam-subject"),
            "fhir.team.param_patient",
        ),
        param("_id", "token", Some("http://hl7.org/fhir/SearchParameter/Resource-id"), "fhir.team.param_id"),
        param(
            "status",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/CareTeam-status"),
            "fhir.team.param_status",
        ),
        param(
            "participant",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/CareTeam-participant"),
            "fhir.team.param_participant",
        ),
    ],
    sorts: &[],
    operations: &[],
};

/// The code system of the team roles (`TeamRole`).
pub fn team_role_system() -> String {
    format!("{CANONICAL}/CodeSystem/team-role")
}

/// The code system of the professions (`Profession`).
pub fn profession_system() -> String {
    format!("{CANONICAL}/CodeSystem/profession")
}

/// The extension carrying a membership's status on `CareTeam.participant`.
pub fn member_status_url() -> String {
    format!("{CANONICAL}/StructureDefinition/team-member-status")
}

const STATUS_SYSTEM: &str = "http://hl7.org/fhir/care-team-status";

pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    match req.path().as_slice() {
        [] if req.is_read() => search(ctx, app, req).await,
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => read(ctx, app, id).await,
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

async fn read(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let team = app.care_team(actor, id).await.map_err(|e| ctx.app_error(e))?;
    Ok(ctx.json(StatusCode::OK, &resource(&team)))
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let by_patient = s.patient(ctx)?;
    let by_id = s.one(ctx.tr, "_id")?.map(str::trim);
    if by_id.is_some_and(|v| v.contains(',') || v.is_empty() || v.len() > 64) {
        return Err(FhirError::bad_value(ctx.tr, "_id"));
    }
    let Some(patient_id) = by_patient.clone().or_else(|| by_id.map(str::to_string)) else {
        return Err(patient_required(ctx.tr));
    };
    let mut found = Vec::new();
    if by_id.is_none_or(|i| i == patient_id) {
        match app.care_team(actor, &patient_id).await {
            Ok(team) => {
                let r = resource(&team);
                if matches(ctx, &s, &r, team.last_updated)? {
                    found.push(r);
                }
            }
            // A patient the caller may not see is no match, as one that does not exist.
            Err(tsunagu_app::AppError::NotFound) => {}
            Err(e) => return Err(ctx.app_error(e)),
        }
    }
    let (total, page) = page(&s, found);
    Ok(ctx.json(StatusCode::OK, &search::bundle(ctx, "CareTeam", &s, total, page, search::now(app))))
}

/// 400: a search of patient data names the patient (`patient`, `subject` or `_id`).
pub fn patient_required(tr: Tr) -> FhirError {
    FhirError::new(
        StatusCode::BAD_REQUEST,
        vec![Issue::error("required", tr.get("fhir.team.patient_required"))],
    )
}

/// One page of matches: the total and the entries from `_offset`, at most `_count`.
pub fn page(s: &Search, found: Vec<Value>) -> (i64, Vec<Value>) {
    let total = i64::try_from(found.len()).unwrap_or(i64::MAX);
    if s.count_only {
        return (total, Vec::new());
    }
    let skip = usize::try_from(s.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(s.count).unwrap_or(0);
    (total, found.into_iter().skip(skip).take(take).collect())
}

fn matches(ctx: &Ctx, s: &Search, r: &Value, last_updated: i64) -> Result<bool, FhirError> {
    if !s.last_updated.contains(last_updated) {
        return Ok(false);
    }
    let status = r["status"].as_str().unwrap_or("");
    if !s.values("status").iter().all(|v| token_matches(v, STATUS_SYSTEM, status)) {
        return Ok(false);
    }
    for v in s.values("participant") {
        let mut any = false;
        for one in v.split(',') {
            let id = input::reference_id(&ctx.base, one.trim(), "Practitioner")
                .ok_or_else(|| FhirError::bad_value(ctx.tr, "participant"))?;
            let reference = format!("Practitioner/{id}");
            any |= r["participant"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["member"]["reference"] == reference.as_str()));
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

fn label(prefix: &str, code: &str) -> String {
    Tr::new(Lang::Ja).label(prefix, code)
}

fn coding(system: String, code: &str, display: String) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// The team's status: `active` while a consent is in force, `suspended` after every consent
/// was withdrawn, `proposed` before the first consent (only the attending physician sees the
/// patient then).
pub fn team_status(team: &CareTeamView) -> &'static str {
    if team.consent_active {
        "active"
    } else if team.consent_recorded {
        "suspended"
    } else {
        "proposed"
    }
}

fn participant(p: &TeamParticipant) -> Value {
    let mut roles =
        vec![json!({ "coding": [coding(team_role_system(), &p.role, label("team_role", &p.role))] })];
    if !p.profession.is_empty() {
        roles.push(json!({
            "coding": [coding(profession_system(), &p.profession, label("profession", &p.profession))]
        }));
    }
    json!({
        "extension": [{ "url": member_status_url(), "valueCode": p.status }],
        "role": roles,
        "member": { "reference": format!("Practitioner/{}", p.user_id), "display": p.display_name },
        "onBehalfOf": p.organisation.as_ref().map(|(id, name)| {
            json!({ "reference": format!("Organization/{id}"), "display": name })
        }),
        "period": { "start": p.start.map(input::instant), "end": p.end.map(input::instant) },
    })
}

/// The team as a FHIR `CareTeam`.
pub fn resource(team: &CareTeamView) -> Value {
    let p = &team.patient;
    let participants: Vec<Value> =
        std::iter::once(&team.attending).chain(team.members.iter()).map(participant).collect();
    let mut v = json!({
        "resourceType": "CareTeam",
        "id": p.id,
        "meta": { "lastUpdated": input::instant(team.last_updated) },
        "status": team_status(team),
        "category": [{ "coding": [{
            "system": "http://loinc.org",
            "code": "LA28865-6",
            "display": "Longitudinal care-coordination focused care team",
        }] }],
        "subject": { "reference": format!("Patient/{}", p.id), "display": p.name },
        "participant": participants,
        "managingOrganization": team.attending.organisation.as_ref().map(|(id, name)| {
            json!([{ "reference": format!("Organization/{id}"), "display": name }])
        }),
    });
    directory::prune(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_name_the_code_with_or_without_its_system() {
        assert!(token_matches("active", STATUS_SYSTEM, "active"));
        assert!(token_matches("proposed,active", STATUS_SYSTEM, "active"));
        assert!(token_matches("http://hl7.org/fhir/care-team-status|active", STATUS_SYSTEM, "active"));
        assert!(!token_matches("http://elsewhere|active", STATUS_SYSTEM, "active"));
        assert!(!token_matches("suspended", STATUS_SYSTEM, "active"));
    }
}
