//! `Communication`: the text entries of the timeline — messages, visit records and ACP
//! conversations — one per entry, with the entry's id. Vital signs are `Observation`s and
//! files `DocumentReference`s, so a client reading a patient's record reads all three.
//!
//! Read, search (by patient: required; newest first by default, one indexed query per page),
//! and create (team members: a message or a visit record through [`App::api_write_entry`],
//! the pages' use case; a correction names the entry it replaces). Entries are never edited, so
//! there is no update. Reads are audited (`TimelineRead`) and do not mark entries as read.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use tsunagu_app::App;
use tsunagu_app::api_timeline::{EntryInput, TEXT_KINDS, TextEntry};
use tsunagu_app::sharing::{AcpData, NewEntry, VisitData};
use tsunagu_store::timeline_search::EntryQuery;

use super::input::{self, Resource};
use super::observation::{create_error, local_minutes, subject, token};
use super::registry::{ResourceDef, param};
use super::search::{self, Search};
use super::types::{Concept, ExtValue, Extension, Meta, Reference, Text};
use super::{CANONICAL, Ctx, FhirError, FhirRequest};
use crate::i18n::Tr;

pub const DEF: ResourceDef = ResourceDef {
    name: "Communication",
    profile: None,
    doc_key: "fhir.capability.communication",
    interactions: &["read", "search-type", "create"],
    params: &[
        param(
            "patient",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/Communication-patient"),
            "fhir.timeline.param_patient",
        ),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/Communication-subject"),
            "fhir.timeline.param_patient",
        ),
        param(
            "category",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/Communication-category"),
            "fhir.timeline.param_category_communication",
        ),
        param("priority", "token", None, "fhir.timeline.param_priority"),
        param(
            "sent",
            "date",
            Some("http://hl7.org/fhir/SearchParameter/Communication-sent"),
            "fhir.timeline.param_sent",
        ),
    ],
    sorts: &["sent"],
    operations: &[],
};

pub fn entry_kind_system() -> String {
    format!("{CANONICAL}/CodeSystem/entry-kind")
}

fn ext_url(name: &str) -> String {
    format!("{CANONICAL}/StructureDefinition/{name}")
}

/// The display of an entry kind (`entry-kind`).
fn kind_display(kind: &str) -> &'static str {
    match kind {
        "visit" => "訪問記録",
        "message" => "メッセージ",
        "acp" => "人生会議（ACP）",
        "vitals" => "バイタル",
        "file" => "ファイル",
        _ => "",
    }
}

/// The visit-record fields carried as payloads, in order.
const VISIT_FIELDS: &[&str] = &["subjective", "objective", "assessment", "plan", "cautions"];

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
    let e = app.api_text_entry(actor, id).await.map_err(|e| ctx.app_error(e))?;
    let (version, updated) = version_of(&e);
    Ok(input::resource_response(ctx, StatusCode::OK, &resource(&e), version, updated))
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let patient = s
        .patient(ctx)?
        .ok_or_else(|| FhirError::invalid(ctx.tr, "patient", "fhir.timeline.patient_required"))?;
    let q = query(ctx.tr, &s)?;
    let found =
        app.api_text_entries(actor, &patient, &q, s.count_only).await.map_err(|e| ctx.app_error(e))?;
    let resources = found.items.iter().map(resource).collect();
    Ok(ctx.json(
        StatusCode::OK,
        &search::page_bundle(ctx, "Communication", &s, found.total, found.more, resources, search::now(app)),
    ))
}

fn query(tr: Tr, s: &Search) -> Result<EntryQuery, FhirError> {
    let system = entry_kind_system();
    let mut kinds: Vec<String> = TEXT_KINDS.iter().map(|k| k.code().to_string()).collect();
    for v in s.values("category") {
        let allowed: Vec<String> = v
            .split(',')
            .filter_map(|t| match token(t) {
                (Some(sys), _) if sys != system => None,
                (_, None) => Some(TEXT_KINDS.iter().map(|k| k.code().to_string()).collect::<Vec<_>>()),
                (_, Some(c)) => Some(vec![c.to_string()]),
            })
            .flatten()
            .collect();
        kinds.retain(|k| allowed.contains(k));
    }
    let mut urgent: Option<bool> = None;
    let mut none = false;
    for v in s.values("priority") {
        let (mut u, mut r) = (false, false);
        for t in v.split(',') {
            match token(t) {
                (Some(sys), _) if sys != "http://hl7.org/fhir/request-priority" => {}
                (_, Some("urgent")) => u = true,
                (_, Some("routine")) => r = true,
                (_, None) => (u, r) = (true, true),
                _ => {}
            }
        }
        let this = match (u, r) {
            (true, true) => None,
            (true, false) => Some(true),
            (false, true) => Some(false),
            (false, false) => {
                none = true;
                None
            }
        };
        if let (Some(a), Some(b)) = (urgent, this)
            && a != b
        {
            none = true;
        }
        urgent = urgent.or(this);
    }
    if none {
        kinds.clear();
    }
    let sent = s.date(tr, "sent")?.and(s.last_updated);
    Ok(EntryQuery {
        kinds,
        urgent,
        written_from: sent.from,
        written_to: sent.to,
        ascending: s.sort.as_ref().is_some_and(|(_, desc)| !desc),
        limit: s.count.max(1),
        offset: s.offset,
        count_total: s.accurate_total,
    })
}

async fn create(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let input = parse(ctx.tr, &ctx.base, &req.body)?;
    let row = app.api_write_entry(actor, input).await.map_err(|e| create_error(ctx, e))?;
    let e = TextEntry {
        author_name: Some(actor.display_name.clone()),
        addressee_name: None,
        acknowledged_by_name: None,
        superseded_by: None,
        entry: row,
    };
    Ok(input::resource_response(ctx, StatusCode::CREATED, &resource(&e), 1, e.entry.created_at))
}

/// 1, or 2 once a correction superseded the entry or a message was acknowledged (then last
/// changed at the later of the two).
fn version_of(e: &TextEntry) -> (i64, i64) {
    let later: Vec<i64> =
        [e.superseded_by.as_ref().map(|s| s.1), e.entry.acknowledged_at].into_iter().flatten().collect();
    match later.iter().max() {
        Some(at) => (1 + later.len() as i64, (*at).max(e.entry.created_at)),
        None => (1, e.entry.created_at),
    }
}

/// A reference to a person, displayed by name when the name is known.
fn person<'a>(id: &str, name: Option<&'a String>) -> Reference<'a> {
    Reference::to("Practitioner", id, name.map_or("", String::as_str))
}

/// A text entry as a `Communication`, written by its serializer (see [`super::types`]).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Communication<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    status: &'static str,
    category: [Concept<'a>; 1],
    priority: &'static str,
    subject: Reference<'a>,
    sent: String,
    sender: Reference<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    recipient: Vec<Reference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    payload: Vec<Payload<'a>>,
}

impl super::bundle::Resource for Communication<'_> {
    fn type_and_id(&self) -> (&str, &str) {
        ("Communication", self.id)
    }
}

/// A part of a Communication's content: the text, and for a visit record the field it fills.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    content_string: Text<'a>,
}

/// The Communication of a text entry.
pub fn resource(t: &TextEntry) -> Communication<'_> {
    let e = &t.entry;
    let (version, updated) = version_of(t);
    let mut ext =
        vec![Extension::new(ext_url("occurred-at"), ExtValue::DateTime(input::instant(e.occurred_at)))];
    if let Some(c) = &e.corrects_id {
        ext.push(Extension::new(
            ext_url("replaces"),
            ExtValue::Reference(Reference::to("Communication", c, "")),
        ));
    }
    if let Some((by, _)) = &t.superseded_by {
        ext.push(Extension::new(
            ext_url("replaced-by"),
            ExtValue::Reference(Reference::to("Communication", by, "")),
        ));
    }
    if e.kind == "message" {
        ext.push(Extension::new(ext_url("needs-reply"), ExtValue::Boolean(e.needs_reply)));
    }
    if let Some(at) = e.acknowledged_at {
        ext.push(Extension::new(ext_url("acknowledged-at"), ExtValue::DateTime(input::instant(at))));
    }
    if let Some(by) = &e.acknowledged_by {
        ext.push(Extension::new(
            ext_url("acknowledged-by"),
            ExtValue::Reference(person(by, t.acknowledged_by_name.as_ref())),
        ));
    }
    let mut payload = Vec::new();
    if !e.body.is_empty() {
        payload.push(Payload { extension: Vec::new(), content_string: Text::Borrowed(&e.body) });
    }
    if e.kind == "visit" {
        let v: VisitData = serde_json::from_str(&e.data).unwrap_or_default();
        for (field, text) in
            VISIT_FIELDS.iter().zip([v.subjective, v.objective, v.assessment, v.plan, v.cautions])
        {
            if !text.is_empty() {
                payload.push(Payload {
                    extension: vec![Extension::new(
                        ext_url("visit-field"),
                        ExtValue::Code(Text::Borrowed(field)),
                    )],
                    content_string: Text::Owned(text),
                });
            }
        }
        if let Some(n) = v.next_visit {
            ext.push(Extension::new(ext_url("next-visit"), ExtValue::Date(Text::Owned(n))));
        }
        if v.policy_changed {
            ext.push(Extension::new(ext_url("policy-changed"), ExtValue::Boolean(true)));
        }
    }
    if let Some(a) = AcpData::of(e) {
        let mut sub = Vec::new();
        let as_code: fn(Text<'static>) -> ExtValue<'static> = ExtValue::Code;
        let (as_string, as_date): (fn(_) -> _, fn(_) -> _) = (ExtValue::String, ExtValue::Date);
        for (name, value, typed) in [
            ("care_place", a.care_place, as_code),
            ("care_place_note", a.care_place_note, as_string),
            ("death_place", a.death_place, as_code),
            ("death_place_note", a.death_place_note, as_string),
            ("resuscitation", a.resuscitation, as_code),
            ("other_wishes", a.other_wishes, as_string),
            ("discussed_on", a.discussed_on, as_date),
            ("present", a.present, as_string),
        ] {
            if !value.is_empty() {
                sub.push(Extension::new(name, typed(Text::Owned(value))));
            }
        }
        ext.push(Extension::new(ext_url("acp"), ExtValue::Nested(sub)));
    }
    Communication {
        resource_type: "Communication",
        id: &e.id,
        meta: Meta::new(version, updated, None),
        extension: ext,
        status: "completed",
        category: [Concept::new(entry_kind_system(), e.kind.as_str(), kind_display(&e.kind))],
        priority: if e.urgent { "urgent" } else { "routine" },
        subject: Reference::to("Patient", &e.patient_id, ""),
        sent: input::instant(e.created_at),
        sender: person(&e.author_id, t.author_name.as_ref()),
        recipient: e.addressee_id.iter().map(|a| person(a, t.addressee_name.as_ref())).collect(),
        payload,
    }
}

/// The extension `name` of `holder`, if present.
fn extension<'a>(holder: &'a Value, name: &str) -> Option<&'a Value> {
    let url = ext_url(name);
    holder
        .get("extension")?
        .as_array()?
        .iter()
        .find(|x| x.get("url").and_then(Value::as_str) == Some(url.as_str()))
}

/// Reads a Communication to create: a message or a visit record. Pure (the fuzz test drives it).
pub fn parse(tr: Tr, base: &str, body: &[u8]) -> Result<EntryInput, FhirError> {
    let res = input::parse_resource(tr, body, "Communication")?;
    let whole = Value::Object(res.clone());
    let patient_id = subject(tr, base, &res)?;
    let kind = category(tr, &res)?;
    let urgent = match res.get("priority") {
        None => false,
        Some(p) => match p.as_str() {
            Some("routine") => false,
            Some("urgent" | "asap" | "stat") => true,
            _ => return Err(input::bad_element(tr, "priority")),
        },
    };
    if urgent && kind != "message" {
        return Err(input::bad_element(tr, "priority"));
    }
    let addressee_id = match res.get("recipient") {
        None => None,
        Some(Value::Array(rs)) if rs.is_empty() => None,
        Some(Value::Array(rs)) if rs.len() == 1 && kind == "message" => {
            let text = rs[0]
                .get("reference")
                .and_then(Value::as_str)
                .ok_or_else(|| input::bad_element(tr, "recipient"))?;
            let id = input::reference_id(base, text, "Practitioner")
                .ok_or_else(|| input::bad_element(tr, "recipient"))?;
            Some(id.to_string())
        }
        Some(_) => return Err(input::bad_element(tr, "recipient")),
    };
    let needs_reply = match extension(&whole, "needs-reply") {
        None => addressee_id.is_some(),
        Some(x) => x
            .get("valueBoolean")
            .and_then(Value::as_bool)
            .ok_or_else(|| input::bad_element(tr, "extension"))?,
    };
    if needs_reply && kind != "message" {
        return Err(input::bad_element(tr, "extension"));
    }
    let mut visit = VisitData::default();
    let mut texts = Vec::new();
    let payloads = match res.get("payload") {
        None => Vec::new(),
        Some(Value::Array(ps)) => ps.clone(),
        Some(_) => return Err(input::bad_element(tr, "payload")),
    };
    for (i, p) in payloads.iter().enumerate() {
        let text = p
            .get("contentString")
            .and_then(Value::as_str)
            .ok_or_else(|| input::bad_element(tr, &format!("payload[{i}]")))?;
        match extension(p, "visit-field") {
            None => texts.push(text.to_string()),
            Some(x) => {
                let field = x.get("valueCode").and_then(Value::as_str).unwrap_or("");
                let slot = match (kind.as_str(), field) {
                    ("visit", "subjective") => &mut visit.subjective,
                    ("visit", "objective") => &mut visit.objective,
                    ("visit", "assessment") => &mut visit.assessment,
                    ("visit", "plan") => &mut visit.plan,
                    ("visit", "cautions") => &mut visit.cautions,
                    _ => return Err(input::bad_element(tr, &format!("payload[{i}].extension"))),
                };
                if !slot.is_empty() {
                    return Err(input::bad_element(tr, &format!("payload[{i}].extension")));
                }
                *slot = text.to_string();
            }
        }
    }
    if kind == "visit" {
        if let Some(x) = extension(&whole, "next-visit") {
            let d = x
                .get("valueDate")
                .and_then(Value::as_str)
                .ok_or_else(|| input::bad_element(tr, "extension"))?;
            visit.next_visit = Some(d.to_string());
        }
        if let Some(x) = extension(&whole, "policy-changed") {
            visit.policy_changed = x
                .get("valueBoolean")
                .and_then(Value::as_bool)
                .ok_or_else(|| input::bad_element(tr, "extension"))?;
        }
    }
    let body = texts.join("\n\n");
    if body.trim().is_empty()
        && VISIT_FIELDS
            .iter()
            .zip([&visit.subjective, &visit.objective, &visit.assessment, &visit.plan])
            .all(|(_, t)| t.trim().is_empty())
    {
        return Err(input::required(tr, "payload"));
    }
    let occurred_at = match extension(&whole, "occurred-at") {
        None => String::new(),
        Some(x) => {
            let mut holder = Resource::new();
            if let Some(v) = x.get("valueDateTime") {
                holder.insert("extension".into(), v.clone());
            }
            local_minutes(tr, &holder, "extension")?.ok_or_else(|| input::bad_element(tr, "extension"))?
        }
    };
    let corrects_id = match extension(&whole, "replaces") {
        None => None,
        Some(x) => {
            let text = x
                .get("valueReference")
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
                .ok_or_else(|| input::bad_element(tr, "extension"))?;
            Some(
                input::reference_id(base, text, "Communication")
                    .ok_or_else(|| input::bad_element(tr, "extension"))?
                    .to_string(),
            )
        }
    };
    Ok(EntryInput {
        patient_id,
        entry: NewEntry {
            kind,
            occurred_at,
            body,
            visit,
            urgent,
            needs_reply,
            corrects_id,
            ..NewEntry::default()
        },
        addressee_id,
    })
}

/// The entry kind `category` names: `message` (the default) or `visit`. ACP conversations are
/// written on the pages (their structured wishes have no FHIR form here).
fn category(tr: Tr, res: &Resource) -> Result<String, FhirError> {
    let Some(c) = res.get("category") else { return Ok("message".into()) };
    let system = entry_kind_system();
    let codes: Vec<&str> = c
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|cc| cc.get("coding").and_then(Value::as_array))
        .flatten()
        .filter(|cd| cd.get("system").and_then(Value::as_str).is_none_or(|s| s == system))
        .filter_map(|cd| cd.get("code").and_then(Value::as_str))
        .collect();
    match codes.as_slice() {
        [k @ ("message" | "visit")] => Ok((*k).to_string()),
        _ => Err(input::bad_element(tr, "category")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use serde_json::json;

    const BASE: &str = "http://h/fhir";
    const PID: &str = "0193a1c2-0000-7000-8000-000000000001";

    fn p(v: Value) -> Result<EntryInput, FhirError> {
        parse(Tr::new(Lang::En), BASE, &serde_json::to_vec(&v).unwrap())
    }

    fn message() -> Value {
        json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": [{ "coding": [{ "system": entry_kind_system(), "code": "message" }] }],
            "priority": "urgent",
            "subject": { "reference": format!("Patient/{PID}") },
            "recipient": [{ "reference": "Practitioner/u1" }],
            "payload": [{ "contentString": "至急ご確認ください" }]
        })
    }

    #[test]
    fn an_urgent_message_to_someone_needs_a_reply() {
        let e = p(message()).unwrap();
        assert_eq!(e.patient_id, PID);
        assert_eq!(e.addressee_id.as_deref(), Some("u1"));
        assert!(e.entry.urgent && e.entry.needs_reply);
        assert_eq!(e.entry.kind, "message");
        assert_eq!(e.entry.body, "至急ご確認ください");
    }

    #[test]
    fn a_visit_keeps_its_fields_apart() {
        let v = json!({
            "resourceType": "Communication",
            "category": [{ "coding": [{ "system": entry_kind_system(), "code": "visit" }] }],
            "subject": { "reference": format!("Patient/{PID}") },
            "extension": [
                { "url": ext_url("occurred-at"), "valueDateTime": "2026-11-24T01:00:00Z" },
                { "url": ext_url("next-visit"), "valueDate": "2026-12-01" }
            ],
            "payload": [
                { "contentString": "定期訪問" },
                { "extension": [{ "url": ext_url("visit-field"), "valueCode": "subjective" }], "contentString": "息切れなし" }
            ]
        });
        let e = p(v).unwrap();
        assert_eq!(e.entry.kind, "visit");
        assert_eq!(e.entry.occurred_at, "2026-11-24T10:00");
        assert_eq!(e.entry.visit.subjective, "息切れなし");
        assert_eq!(e.entry.visit.next_visit.as_deref(), Some("2026-12-01"));
        assert_eq!(e.entry.body, "定期訪問");
    }

    #[test]
    fn what_cannot_be_an_entry_is_422() {
        let mut no_payload = message();
        no_payload.as_object_mut().unwrap().remove("payload");
        let mut acp = message();
        acp["category"][0]["coding"][0]["code"] = json!("acp");
        let mut urgent_visit = message();
        urgent_visit["category"][0]["coding"][0]["code"] = json!("visit");
        let mut two = message();
        two["recipient"] = json!([{ "reference": "Practitioner/a" }, { "reference": "Practitioner/b" }]);
        let mut other = message();
        other["subject"] = json!({ "reference": "Practitioner/x" });
        for v in [no_payload, acp, urgent_visit, two, other] {
            assert_eq!(p(v).unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
}
