//! `AuditEvent`: every event of the audit log (`audit_events`), shaped after IHE BALP (Basic
//! Audit Log Patterns). Read-only: `read` by the event's place in the chain and `search` by
//! patient, agent, date, type and action. Who may read what is the app layer's
//! (`tsunagu_app::audit_search`): auditors every event, the attending physician the events
//! about their patient; reading the log is itself audited.
//!
//! The mapping (documented in `docs/fhir.md`): `type` is the DICOM event family of the action
//! ([`ACTIONS`]), `subtype` our action code (`{CANONICAL}/CodeSystem/audit-action`) and, for an
//! event that came through the API, the RESTful interaction the action stands for; `agent[0]`
//! the person (or the server for its own jobs), a second agent the API client (the token);
//! `source` the server; `entity` the patient and the record acted on. The detail of an event
//! (field names, counts, reasons) is shown only for refusals and failures, as `outcomeDesc`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tsunagu_app::App;
use tsunagu_app::audit_search::AuditSearch;
use tsunagu_domain::audit::StoredEvent;

use super::directory::prune;
use super::registry::{Param, ResourceDef, param};
use super::search::{self, Search};
use super::{CANONICAL, Ctx, FhirError, FhirRequest, input};
use crate::i18n::{Lang, Tr};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const SECURITY_ROLE: &str = "http://terminology.hl7.org/CodeSystem/extra-security-role-type";
/// The name the server goes by as an agent and as the source of every event.
const SERVER_NAME: &str = "Tsunagu";

const PARAMS: &[Param] = &[
    param(
        "patient",
        "reference",
        Some("http://hl7.org/fhir/SearchParameter/AuditEvent-patient"),
        "fhir.audit.param_patient",
    ),
    param(
        "agent",
        "reference",
        Some("http://hl7.org/fhir/SearchParameter/AuditEvent-agent"),
        "fhir.audit.param_agent",
    ),
    param(
        "date",
        "date",
        Some("http://hl7.org/fhir/SearchParameter/AuditEvent-date"),
        "fhir.audit.param_date",
    ),
    param(
        "type",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/AuditEvent-type"),
        "fhir.audit.param_type",
    ),
    param(
        "action",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/AuditEvent-action"),
        "fhir.audit.param_action",
    ),
    param("snapshot", "number", None, "fhir.audit.param_snapshot"),
];

pub const DEF: ResourceDef = ResourceDef {
    name: "AuditEvent",
    profile: Some("http://hl7.org/fhir/StructureDefinition/AuditEvent"),
    doc_key: "fhir.capability.auditevent",
    interactions: &["read", "search-type"],
    params: PARAMS,
    sorts: &["date"],
    operations: &[],
};

/// The DICOM event families (`type`), from the "Audit Event ID" codes of DICOM PS3.16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// 110100: the product's own activity (organisations, people, directory, settings).
    Application,
    /// 110101: the audit log itself was read.
    AuditLog,
    /// 110106: data left the system (a backup).
    Export,
    /// 110107: data came in (an open-data import, the demo region).
    Import,
    /// 110110: a patient's record was read or written.
    PatientRecord,
    /// 110112: patients were searched for.
    Query,
    /// 110113: security attributes changed, an access was refused, an emergency override.
    SecurityAlert,
    /// 110114: logging in and out.
    Authentication,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Application,
        Family::AuditLog,
        Family::Export,
        Family::Import,
        Family::PatientRecord,
        Family::Query,
        Family::SecurityAlert,
        Family::Authentication,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Family::Application => "110100",
            Family::AuditLog => "110101",
            Family::Export => "110106",
            Family::Import => "110107",
            Family::PatientRecord => "110110",
            Family::Query => "110112",
            Family::SecurityAlert => "110113",
            Family::Authentication => "110114",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            Family::Application => "Application Activity",
            Family::AuditLog => "Audit Log Used",
            Family::Export => "Export",
            Family::Import => "Import",
            Family::PatientRecord => "Patient Record",
            Family::Query => "Query",
            Family::SecurityAlert => "Security Alert",
            Family::Authentication => "User Authentication",
        }
    }

    fn from_code(code: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// How one action code of ours is shown: its family, the FHIR `action` (C/R/U/D/E) and, for
/// an event that came through the API, the RESTful interaction it stands for.
#[derive(Debug, Clone, Copy)]
pub struct ActionMap {
    pub code: &'static str,
    pub family: Family,
    pub action: &'static str,
    pub rest: Option<&'static str>,
}

const fn a(
    code: &'static str,
    family: Family,
    action: &'static str,
    rest: Option<&'static str>,
) -> ActionMap {
    ActionMap { code, family, action, rest }
}

use Family::{
    Application as App_, AuditLog, Authentication as Auth, Export, Import, PatientRecord as Pat, Query,
    SecurityAlert as Alert,
};

/// Every action code of the audit log (`tsunagu_domain::audit::Action::code`; a unit test
/// holds the two together).
pub const ACTIONS: &[ActionMap] = &[
    a("login", Auth, "E", None),
    a("login.failed", Auth, "E", None),
    a("login.throttled", Auth, "E", None),
    a("login.second_factor_failed", Auth, "E", None),
    a("logout", Auth, "E", None),
    a("session.expired", Auth, "E", None),
    a("recovery_code.used", Auth, "E", None),
    a("access.refused", Alert, "E", None),
    a("account.disabled", Alert, "U", None),
    a("account.enabled", Alert, "U", None),
    a("password.changed", Alert, "U", None),
    a("totp.enabled", Alert, "C", None),
    a("totp.disabled", Alert, "D", None),
    a("passkey.added", Alert, "C", None),
    a("passkey.removed", Alert, "D", None),
    a("second_factors.reset", Alert, "D", None),
    a("client_certificate.bound", Alert, "C", None),
    a("token.created", Alert, "C", None),
    a("token.revoked", Alert, "D", None),
    a("emergency.opened", Alert, "E", None),
    a("organisation.created", App_, "C", None),
    a("organisation.updated", App_, "U", None),
    a("person.invited", App_, "C", None),
    a("person.updated", App_, "U", None),
    a("invitation.resent", App_, "E", None),
    a("invitation.accepted", App_, "U", None),
    a("setting.changed", App_, "U", None),
    a("directory.updated", App_, "U", None),
    a("directory.confirmed", App_, "U", None),
    a("directory.hours_changed", App_, "U", None),
    a("vacancy.updated", App_, "U", None),
    a("inquiry.sent", App_, "C", None),
    a("inquiry.answered", App_, "U", None),
    a("inquiry.withdrawn", App_, "U", None),
    a("demo.loaded", Import, "C", None),
    a("directory.imported", Import, "C", None),
    a("backup.taken", Export, "R", None),
    a("patient.registered", Pat, "C", Some("create")),
    a("patient.read", Pat, "R", Some("read")),
    a("patient.updated", Pat, "U", Some("update")),
    a("consent.recorded", Pat, "C", Some("create")),
    a("consent.withdrawn", Pat, "U", Some("update")),
    a("team.requested", Pat, "C", None),
    a("team.invited", Pat, "C", None),
    a("team.approved", Pat, "U", None),
    a("team.refused", Pat, "U", None),
    a("team.removed", Pat, "D", None),
    a("timeline.read", Pat, "R", Some("search-type")),
    a("entry.written", Pat, "C", Some("create")),
    a("entry.corrected", Pat, "U", None),
    a("message.acknowledged", Pat, "U", None),
    a("message.escalated", Pat, "E", None),
    a("vitals.read", Pat, "R", Some("search-type")),
    a("emergency.read", Pat, "R", Some("read")),
    a("file.read", Pat, "R", Some("read")),
    a("emergency.searched", Query, "E", None),
    a("access_log.read", AuditLog, "R", None),
];

/// How an action code is shown (a code this table does not know: application activity, E).
pub fn action_map(code: &str) -> ActionMap {
    ACTIONS.iter().copied().find(|m| m.code == code).unwrap_or(ActionMap {
        code: "",
        family: Family::Application,
        action: "E",
        rest: None,
    })
}

/// The code system of our action codes.
pub fn action_system() -> String {
    format!("{CANONICAL}/CodeSystem/audit-action")
}

/// The identifier system of API tokens (the client application of an API call).
pub fn token_system() -> String {
    format!("{CANONICAL}/sid/api-token")
}

/// A FHIR id (`[A-Za-z0-9\-\.]{1,64}`): a target id that is one can be a reference.
fn is_fhir_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// An event as an `AuditEvent`.
pub fn resource(e: &StoredEvent) -> Value {
    let ev = &e.event;
    let map = action_map(&ev.action);
    let label = Tr::new(Lang::Ja).label("audit_action", &ev.action);
    let label = if label.starts_with("audit_action.") { String::new() } else { label };
    let api_token = ev.via.as_deref().and_then(|v| v.strip_prefix("api:"));
    let mut subtype = vec![json!({ "system": action_system(), "code": ev.action, "display": label })];
    if let (Some(_), Some(rest)) = (api_token, map.rest) {
        subtype.push(json!({ "system": RESTFUL, "code": rest, "display": rest }));
    }
    let outcome = match ev.outcome.as_str() {
        "success" => "0",
        "refused" => "4",
        _ => "8",
    };
    let outcome_desc = if outcome == "0" { None } else { ev.detail.clone() };
    let network = ev.address.as_ref().map(|a| json!({ "address": a, "type": "2" }));
    let person = ev.actor_id.is_some() || ev.actor_login.is_some() || ev.address.is_some();
    let mut agents = Vec::new();
    if person {
        let (code, display, system) = match map.action {
            "R" => ("IRCP", "information recipient", PARTICIPATION),
            "C" | "U" | "D" => ("AUT", "author", PARTICIPATION),
            _ => ("humanuser", "human user", SECURITY_ROLE),
        };
        let who = match (&ev.actor_id, &ev.actor_login) {
            (Some(id), login) => json!({ "reference": format!("Practitioner/{id}"), "display": login }),
            (None, Some(login)) => json!({ "display": login }),
            (None, None) => Value::Null,
        };
        agents.push(json!({
            "type": { "coding": [{ "system": system, "code": code, "display": display }] },
            "who": who,
            "name": ev.actor_login,
            "requestor": true,
            "network": network,
        }));
    } else {
        // The server's own jobs (escalations, the demo region, imports from the command line).
        agents.push(json!({
            "type": { "coding": [{ "system": DCM, "code": "110150", "display": "Application" }] },
            "who": { "display": SERVER_NAME },
            "requestor": true,
        }));
    }
    if let Some(token) = api_token {
        agents.push(json!({
            "type": { "coding": [{ "system": DCM, "code": "110150", "display": "Application" }] },
            "who": { "identifier": { "system": token_system(), "value": token } },
            "requestor": false,
        }));
    }
    let mut entities = Vec::new();
    if let Some(pid) = &ev.patient_id {
        entities.push(json!({
            "what": { "reference": format!("Patient/{pid}") },
            "type": { "system": ENTITY_TYPE, "code": "1", "display": "Person" },
            "role": { "system": OBJECT_ROLE, "code": "1", "display": "Patient" },
        }));
    }
    if let (Some(kind), Some(id)) = (&ev.target_kind, &ev.target_id) {
        let same_patient = kind == "patient" && ev.patient_id.as_deref() == Some(id.as_str());
        if !same_patient {
            entities.push(target_entity(kind, id));
        }
    }
    let mut v = json!({
        "resourceType": "AuditEvent",
        "id": e.seq.to_string(),
        "meta": { "lastUpdated": input::instant(ev.at.micros()) },
        "type": { "system": DCM, "code": map.family.code(), "display": map.family.display() },
        "subtype": subtype,
        "action": map.action,
        "recorded": input::instant(ev.at.micros()),
        "outcome": outcome,
        "outcomeDesc": outcome_desc,
        "agent": agents,
        "source": {
            "observer": { "display": SERVER_NAME },
            "type": [{ "system": SOURCE_TYPE, "code": "4", "display": "Application Server" }],
        },
        "entity": entities,
    });
    prune(&mut v);
    v
}

/// The record an event acted on: a reference where it is a resource this server serves, an
/// identifier (`{CANONICAL}/sid/{kind}`) otherwise.
fn target_entity(kind: &str, id: &str) -> Value {
    let resource = match kind {
        "patient" => Some("Patient"),
        "user" => Some("Practitioner"),
        "organisation" => Some("Organization"),
        "audit_event" => Some("AuditEvent"),
        _ => None,
    };
    let what = match resource {
        Some(r) if is_fhir_id(id) => json!({ "reference": format!("{r}/{id}") }),
        _ => {
            json!({ "identifier": { "system": format!("{CANONICAL}/sid/{}", kind.replace('_', "-")), "value": id } })
        }
    };
    let (type_, role) = match kind {
        "patient" => (("1", "Person"), ("1", "Patient")),
        "user" => (("1", "Person"), ("6", "User")),
        "organisation" => (("3", "Organization"), ("4", "Domain Resource")),
        "api_token" | "passkey" | "client_certificate" | "setting" => {
            (("2", "System Object"), ("13", "Security Resource"))
        }
        _ => (("2", "System Object"), ("4", "Domain Resource")),
    };
    json!({
        "what": what,
        "type": { "system": ENTITY_TYPE, "code": type_.0, "display": type_.1 },
        "role": { "system": OBJECT_ROLE, "code": role.0, "display": role.1 },
    })
}

/// The action codes one `type` token stands for: one of our codes (with our system or none),
/// or a DICOM family code (with the DICOM system or none) meaning every action of the family.
/// Anything else stands for nothing.
pub fn type_codes(token: &str) -> Vec<String> {
    let (system, code) = match token.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, token),
    };
    let ours = ACTIONS.iter().any(|m| m.code == code);
    let family = Family::from_code(code);
    let our_system = action_system();
    match system {
        Some(s) if s == our_system => vec![code.to_string()],
        Some(DCM) => family.map(family_codes).unwrap_or_default(),
        None | Some("") if ours => vec![code.to_string()],
        None | Some("") => family.map(family_codes).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn family_codes(f: Family) -> Vec<String> {
    ACTIONS.iter().filter(|m| m.family == f).map(|m| m.code.to_string()).collect()
}

/// The action codes of a FHIR `action` code (C, R, U, D or E).
pub fn action_codes(token: &str) -> Vec<String> {
    let code = token.rsplit('|').next().unwrap_or(token);
    ACTIONS.iter().filter(|m| m.action == code).map(|m| m.code.to_string()).collect()
}

/// Intersects the codes of a repeated token parameter (each value a comma-separated "or").
fn codes_of(values: &[&str], one: fn(&str) -> Vec<String>) -> Option<Vec<String>> {
    let mut out: Option<Vec<String>> = None;
    for v in values {
        let mut any: Vec<String> = v.split(',').map(str::trim).flat_map(one).collect();
        any.sort();
        any.dedup();
        out = Some(match out {
            None => any,
            Some(prev) => prev.into_iter().filter(|c| any.contains(c)).collect(),
        });
    }
    out
}

/// The app's search from the query (pure; 400 for a value it cannot use).
pub fn query(ctx: &Ctx, s: &Search) -> Result<AuditSearch, FhirError> {
    let tr = ctx.tr;
    let agent = match s.one(tr, "agent")? {
        None => None,
        Some(v) => {
            let v = v.trim();
            if v.contains('/') {
                let id = input::reference_id(&ctx.base, v, "Practitioner")
                    .ok_or_else(|| FhirError::bad_value(tr, "agent"))?;
                Some(id.to_string())
            } else if v.is_empty() || v.len() > 64 {
                return Err(FhirError::bad_value(tr, "agent"));
            } else {
                Some(v.to_string())
            }
        }
    };
    let types = codes_of(&s.values("type"), type_codes);
    let actions = codes_of(&s.values("action"), action_codes);
    let actions = match (types, actions) {
        (Some(t), Some(a)) => Some(t.into_iter().filter(|c| a.contains(c)).collect()),
        (t, a) => t.or(a),
    };
    let range = s.date(tr, "date")?.and(s.last_updated);
    let max_seq = match s.one(tr, "snapshot")? {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| FhirError::bad_value(tr, "snapshot"))?,
        ),
    };
    let ascending = matches!(&s.sort, Some((_, false)));
    Ok(AuditSearch {
        patient: s.patient(ctx)?,
        agent,
        actions,
        from: range.from,
        to: range.to,
        max_seq,
        ascending,
        limit: if s.count_only { 0 } else { s.count },
        offset: s.offset,
    })
}

pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let path = req.path();
    match path.as_slice() {
        [] if req.is_read() => search(ctx, app, req).await,
        [id] if req.is_read() && !id.starts_with('_') => read(ctx, app, id).await,
        [] | [_] => Err(FhirError::method_not_allowed(ctx.tr)),
        [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

async fn read(ctx: &Ctx, app: &App, id: &str) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let e = app.audit_event(actor, id).await.map_err(|e| ctx.app_error(e))?;
    Ok(ctx.json(StatusCode::OK, &resource(&e)))
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let mut s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let q = query(ctx, &s)?;
    let page = app.search_audit(actor, &q).await.map_err(|e| ctx.app_error(e))?;
    // The paging links stay on the same stretch of the log however much it has grown since.
    if !s.used.iter().any(|(k, _)| k == "snapshot") {
        s.used.push(("snapshot".to_string(), page.snapshot.to_string()));
    }
    let resources = page.events.iter().map(resource).collect();
    let bundle = search::bundle(ctx, "AuditEvent", &s, page.total, resources, search::now(app));
    Ok(ctx.json(StatusCode::OK, &bundle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsunagu_domain::Timestamp;
    use tsunagu_domain::audit::{Action, NewEvent, Outcome};

    #[test]
    fn every_action_code_of_the_log_has_a_mapping() {
        let src = include_str!("../../../domain/src/audit.rs");
        let body = src.split("pub fn code(self)").nth(1).expect("Action::code");
        let body = body.split("\n    }\n}").next().expect("end of Action::code");
        let codes: Vec<&str> = body
            .lines()
            .filter_map(|l| l.split("=> \"").nth(1))
            .filter_map(|r| r.split('"').next())
            .collect();
        assert!(codes.len() > 40, "read too few action codes: {codes:?}");
        for code in &codes {
            assert!(ACTIONS.iter().any(|m| m.code == *code), "no AuditEvent mapping for {code}");
        }
        assert_eq!(codes.len(), ACTIONS.len(), "a mapping for an action that does not exist");
    }

    #[test]
    fn type_tokens_are_our_codes_or_dicom_families() {
        assert_eq!(type_codes("patient.read"), vec!["patient.read"]);
        assert_eq!(type_codes(&format!("{}|patient.read", action_system())), vec!["patient.read"]);
        let family = type_codes("http://dicom.nema.org/resources/ontology/DCM|110114");
        assert!(family.contains(&"login".to_string()) && !family.contains(&"patient.read".to_string()));
        assert_eq!(type_codes("110114"), family);
        assert!(type_codes("http://example.org|patient.read").is_empty());
        assert!(type_codes("nonsense").is_empty());
        assert!(action_codes("R").contains(&"patient.read".to_string()));
        assert!(action_codes("X").is_empty());
        // Repeats intersect, commas unite.
        let c = codes_of(&["110110", "patient.read,login"], type_codes).unwrap();
        assert_eq!(c, vec!["patient.read"]);
        let c = codes_of(&["110110", "110114"], type_codes).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn an_api_read_shows_the_person_the_client_and_the_patient() {
        let e = NewEvent::new(Timestamp(1_795_480_200_000_000), Action::PatientRead, Outcome::Success)
            .actor("u1", "nurse")
            .address(Some("192.0.2.1".into()))
            .via("api:t1")
            .patient("p1");
        let r = resource(&StoredEvent { seq: 7, event: e, prev_hash: String::new(), hash: String::new() });
        assert_eq!(r["id"], "7");
        assert_eq!(r["type"]["code"], "110110");
        assert_eq!(r["subtype"][0]["code"], "patient.read");
        assert_eq!(r["subtype"][0]["display"], "患者情報の閲覧");
        assert_eq!(r["subtype"][1]["code"], "read");
        assert_eq!(r["action"], "R");
        assert_eq!(r["outcome"], "0");
        assert_eq!(r["recorded"], "2026-11-24T00:30:00Z");
        assert_eq!(r["agent"][0]["who"]["reference"], "Practitioner/u1");
        assert_eq!(r["agent"][0]["who"]["display"], "nurse");
        assert_eq!(r["agent"][0]["requestor"], true);
        assert_eq!(r["agent"][0]["network"]["address"], "192.0.2.1");
        assert_eq!(r["agent"][1]["who"]["identifier"]["value"], "t1");
        assert_eq!(r["agent"][1]["requestor"], false);
        assert_eq!(r["entity"][0]["what"]["reference"], "Patient/p1");
        assert_eq!(r["entity"].as_array().unwrap().len(), 1);
        assert!(r.get("outcomeDesc").is_none());
    }

    #[test]
    fn a_refusal_says_what_was_refused_and_a_server_job_is_the_server() {
        let e = NewEvent::new(Timestamp(0), Action::AccessRefused, Outcome::Refused)
            .actor("u1", "caremanager")
            .via("web")
            .target("patient", "not an id")
            .detail("patient");
        let r = resource(&StoredEvent { seq: 1, event: e, prev_hash: String::new(), hash: String::new() });
        assert_eq!(r["outcome"], "4");
        assert_eq!(r["outcomeDesc"], "patient");
        assert_eq!(r["agent"].as_array().unwrap().len(), 1);
        assert_eq!(r["entity"][0]["what"]["identifier"]["value"], "not an id");
        let e = NewEvent::new(Timestamp(0), Action::MessageEscalated, Outcome::Success).detail("x");
        let r = resource(&StoredEvent { seq: 2, event: e, prev_hash: String::new(), hash: String::new() });
        assert_eq!(r["agent"][0]["who"]["display"], SERVER_NAME);
        assert!(r.get("outcomeDesc").is_none());
    }
}
