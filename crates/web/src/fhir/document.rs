//! `DocumentReference` and `Binary`: the photos and files of a patient's timeline and the signed
//! consent forms. A `DocumentReference` describes a file (its kind, its caption, who put it
//! there and when, its size and type) and points to its content at `Binary/{id}`, with the same
//! id: the attachment's. Both go through the gate: the attachment is found by id, then its
//! patient is opened, so an unknown id and a hidden file answer the same 404.
//!
//! `Binary` negotiates for itself (the dispatcher lets it): a client asking for FHIR JSON gets
//! a `Binary` resource with the content in base64; anyone else gets the bytes themselves, in
//! their stored type, as a download.
//!
//! Create (team members): a `DocumentReference` with one `content[0].attachment` carrying the
//! file inline (`data`, base64) becomes a file entry on the timeline, with `description` as its
//! caption. The app decides what is accepted (JPEG, PNG, WebP, PDF by their content, the size
//! limit); the declared `contentType` must agree with the content.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tsunagu_app::api_documents::{DocumentKind, DocumentQuery, DocumentView};
use tsunagu_app::attachments::{FileContent, Upload, sniff};
use tsunagu_app::{App, AppError};
use tsunagu_domain::{FieldError, Invalid};
use tsunagu_store::attachments::AttachmentRow;

use super::directory::prune;
use super::registry::{ResourceDef, param};
use super::search::{self, Search};
use super::types::Meta;
use super::{CANONICAL, Ctx, FhirError, FhirRequest, input};
use crate::i18n::{Lang, Tr};

pub const DEF: ResourceDef = ResourceDef {
    name: "DocumentReference",
    // JP Core has only a placeholder (暫定) JP_DocumentReference with no constraints: none is
    // claimed.
    profile: None,
    doc_key: "fhir.capability.documentreference",
    interactions: &["read", "search-type", "create"],
    params: &[
        param(
            "patient",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/clinical-patient"),
            "fhir.documents.param_patient",
        ),
        param(
            "subject",
            "reference",
            Some("http://hl7.org/fhir/SearchParameter/DocumentReference-subject"),
            "fhir.documents.param_patient",
        ),
        param(
            "date",
            "date",
            Some("http://hl7.org/fhir/SearchParameter/DocumentReference-date"),
            "fhir.documents.param_date",
        ),
        param(
            "category",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/DocumentReference-category"),
            "fhir.documents.param_category",
        ),
        param(
            "type",
            "token",
            Some("http://hl7.org/fhir/SearchParameter/clinical-type"),
            "fhir.documents.param_type",
        ),
    ],
    sorts: &["date"],
    operations: &[],
};

/// `Binary`: the content of a document, read only, by the DocumentReference's id.
pub const BINARY: ResourceDef = ResourceDef {
    name: "Binary",
    profile: None,
    doc_key: "fhir.documents.binary",
    interactions: &["read"],
    params: &[],
    sorts: &[],
    operations: &[],
};

/// The code system of the kinds of document (`photo`, `document`, `consent-form`).
pub fn kind_system() -> String {
    format!("{CANONICAL}/CodeSystem/document-kind")
}

/// The extension carrying the content's SHA-256 (hex) on `content.attachment`: FHIR's own
/// `hash` is SHA-1, which Tsunagu does not keep.
pub fn sha256_extension() -> String {
    format!("{CANONICAL}/StructureDefinition/attachment-sha256")
}

const LOINC: &str = "http://loinc.org";
/// LOINC 59284-0 "Consent Document": the `type` of a signed consent form.
const LOINC_CONSENT: &str = "59284-0";

/// A document to upload, as read from a `DocumentReference`.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub patient_id: String,
    pub upload: Upload,
    pub caption: String,
}

fn kind_display(kind: DocumentKind) -> &'static str {
    // The code systems' displays are Japanese, as the region's.
    let tr = Tr::new(Lang::Ja);
    match kind {
        DocumentKind::Photo => tr.get("fhir.documents.kind_photo"),
        DocumentKind::Document => tr.get("fhir.documents.kind_document"),
        DocumentKind::ConsentForm => tr.get("fhir.documents.kind_consent_form"),
    }
}

/// A document as a `DocumentReference`.
pub fn to_json(ctx: &Ctx, d: &DocumentView) -> Value {
    let r = &d.row;
    let type_ = (d.kind == DocumentKind::ConsentForm).then(
        || json!({ "coding": [{ "system": LOINC, "code": LOINC_CONSENT, "display": "Consent Document" }] }),
    );
    let related: Vec<Value> = match (&r.entry_id, &r.consent_id) {
        (Some(e), _) => vec![json!({ "reference": format!("Communication/{e}") })],
        (None, Some(c)) => vec![json!({ "reference": format!("Consent/{c}") })],
        (None, None) => Vec::new(),
    };
    let mut v = json!({
        "resourceType": "DocumentReference",
        "id": r.id,
        "meta": Meta::new(1, r.created_at, None),
        "status": "current",
        "type": type_,
        "category": [{
            "coding": [{ "system": kind_system(), "code": d.kind.code(), "display": kind_display(d.kind) }]
        }],
        "subject": { "reference": format!("Patient/{}", r.patient_id) },
        "date": input::instant(r.created_at),
        "author": [{ "reference": format!("Practitioner/{}", r.created_by) }],
        "description": d.caption,
        "content": [{
            "attachment": {
                "extension": [{ "url": sha256_extension(), "valueString": r.sha256 }],
                "contentType": r.content_type,
                "size": r.size,
                "title": r.original_name,
                "url": format!("{}/Binary/{}", ctx.base, r.id),
                "creation": input::instant(r.created_at),
            }
        }],
        "context": { "related": related },
    });
    prune(&mut v);
    v
}

/// Every request on `DocumentReference`.
pub async fn handle(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    match req.path().as_slice() {
        [] if req.is_read() => search(ctx, app, req).await,
        [] if req.method == Method::POST => create(ctx, app, req).await,
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => {
            let actor = ctx.actor()?;
            let d = app.document(actor, id).await.map_err(|e| ctx.app_error(e))?;
            Ok(input::resource_response(ctx, StatusCode::OK, &to_json(ctx, &d), 1, d.row.created_at))
        }
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

/// Refuses modifiers (`category:text`, …): none is supported.
pub(crate) fn no_modifiers(tr: Tr, s: &Search) -> Result<(), FhirError> {
    match s.params.iter().find(|(k, _)| k.contains(':')) {
        Some((k, _)) => Err(FhirError::unsupported_value(tr, k, "fhir.documents.modifier")),
        None => Ok(()),
    }
}

/// The patient a search must name (400 without one).
pub(crate) fn required_patient(ctx: &Ctx, s: &Search) -> Result<String, FhirError> {
    s.patient(ctx)?.ok_or_else(|| FhirError::invalid(ctx.tr, "patient", "fhir.documents.patient_required"))
}

/// The kinds a token value names: `code`, `system|code`, `|code` (commas: any of them).
fn kinds_of(value: &str, type_param: bool) -> Vec<DocumentKind> {
    let system = kind_system();
    value
        .split(',')
        .filter_map(|t| {
            let t = t.trim();
            let (sys, code) = match t.split_once('|') {
                Some((s, c)) => (Some(s), c),
                None => (None, t),
            };
            if type_param {
                (sys.is_none_or(|s| s == LOINC) && code == LOINC_CONSENT).then_some(DocumentKind::ConsentForm)
            } else if sys.is_none_or(|s| s == system) {
                DocumentKind::from_code(code)
            } else {
                None
            }
        })
        .collect()
}

/// The search's own parameters as a query for the app (repeats of a parameter: "and").
pub fn query(tr: Tr, s: &Search) -> Result<DocumentQuery, FhirError> {
    no_modifiers(tr, s)?;
    let range = s.date(tr, "date")?.and(s.last_updated);
    let mut kinds: Option<Vec<DocumentKind>> = None;
    for (name, is_type) in [("category", false), ("type", true)] {
        for v in s.values(name) {
            let these = kinds_of(v, is_type);
            kinds = Some(match kinds {
                None => these,
                Some(k) => k.into_iter().filter(|x| these.contains(x)).collect(),
            });
        }
    }
    let oldest_first = matches!(&s.sort, Some((k, false)) if k == "date");
    let limit = if s.count_only { 0 } else { s.count };
    Ok(DocumentQuery { from: range.from, to: range.to, kinds, oldest_first, offset: s.offset, limit })
}

async fn search(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let s = search::parse(ctx.tr, ctx.lenient, &DEF, &req.params)?;
    let patient = required_patient(ctx, &s)?;
    let q = query(ctx.tr, &s)?;
    let (_, total, docs) = app.documents(actor, &patient, &q).await.map_err(|e| ctx.app_error(e))?;
    let resources = docs.iter().map(|d| to_json(ctx, d)).collect();
    let bundle = search::bundle(ctx, "DocumentReference", &s, total, resources, search::now(app));
    Ok(ctx.json(StatusCode::OK, &bundle))
}

/// An optional string element (422 when it is not a string).
fn opt_str<'a>(
    tr: Tr,
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, FhirError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(input::bad_element(tr, path)),
    }
}

/// Whether a `CodeableConcept` (or a list of them) names a signed consent form.
fn names_consent_form(v: Option<&Value>) -> bool {
    let concepts: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    concepts.iter().filter_map(|c| c.get("coding").and_then(Value::as_array)).flatten().any(|c| {
        let code = c.get("code").and_then(Value::as_str).unwrap_or("");
        code == LOINC_CONSENT || code == DocumentKind::ConsentForm.code()
    })
}

/// The base media type of a `contentType` (`image/png; x=y` → `image/png`), lowercase.
fn media_type(s: &str) -> String {
    let m = s.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if m == "image/jpg" { "image/jpeg".to_string() } else { m }
}

/// Reads a `DocumentReference` to create. Pure (the fuzz test drives it): 400 for what is not
/// a DocumentReference, 422 for one that cannot become an upload.
pub fn parse(tr: Tr, base: &str, body: &[u8]) -> Result<NewDocument, FhirError> {
    let res = input::parse_resource(tr, body, "DocumentReference")?;
    let subject = res.get("subject").ok_or_else(|| input::required(tr, "subject"))?;
    let reference =
        subject.get("reference").and_then(Value::as_str).ok_or_else(|| input::bad_element(tr, "subject"))?;
    let patient_id =
        input::reference_id(base, reference, "Patient").ok_or_else(|| input::bad_element(tr, "subject"))?;
    match res.get("status") {
        None => {}
        Some(Value::String(s)) if s == "current" => {}
        Some(_) => return Err(input::bad_element(tr, "status")),
    }
    if names_consent_form(res.get("category")) || names_consent_form(res.get("type")) {
        return Err(input::unprocessable(tr, "category", "fhir.documents.consent_form"));
    }
    let content = match res.get("content") {
        None | Some(Value::Null) => return Err(input::required(tr, "content")),
        Some(Value::Array(a)) if a.is_empty() => return Err(input::required(tr, "content")),
        Some(Value::Array(a)) if a.len() == 1 => &a[0],
        Some(_) => return Err(input::unprocessable(tr, "content", "fhir.documents.one_content")),
    };
    let att = match content.get("attachment") {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => return Err(input::required(tr, "content[0].attachment")),
        Some(_) => return Err(input::bad_element(tr, "content[0].attachment")),
    };
    if att.contains_key("url") {
        return Err(input::unprocessable(tr, "content[0].attachment.url", "fhir.documents.inline_only"));
    }
    let data = opt_str(tr, att, "data", "content[0].attachment.data")?
        .ok_or_else(|| input::required(tr, "content[0].attachment.data"))?;
    let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes =
        STANDARD.decode(&compact).map_err(|_| input::bad_element(tr, "content[0].attachment.data"))?;
    let declared = opt_str(tr, att, "contentType", "content[0].attachment.contentType")?
        .ok_or_else(|| input::required(tr, "content[0].attachment.contentType"))?;
    // The content says what it is; a declaration that says otherwise is refused.
    if let Some(t) = sniff(&bytes)
        && media_type(declared) != t.content_type()
    {
        return Err(input::bad_element(tr, "content[0].attachment.contentType"));
    }
    match att.get("size") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|n| usize::try_from(n).is_ok_and(|n| n == bytes.len())) => {}
        Some(_) => return Err(input::bad_element(tr, "content[0].attachment.size")),
    }
    let name = opt_str(tr, att, "title", "content[0].attachment.title")?.unwrap_or("").to_string();
    let caption = opt_str(tr, &res, "description", "description")?.unwrap_or("").to_string();
    Ok(NewDocument { patient_id: patient_id.to_string(), upload: Upload { name, bytes }, caption })
}

/// The upload's field errors named by their elements.
fn fhir_fields(e: AppError) -> AppError {
    match e {
        AppError::Invalid(inv) => AppError::Invalid(Invalid(
            inv.0
                .into_iter()
                .map(|f| {
                    let field = match f.field {
                        "file" => "content[0].attachment.data",
                        "caption" => "description",
                        other => other,
                    };
                    FieldError { field, ..f }
                })
                .collect(),
        )),
        other => other,
    }
}

async fn create(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    let actor = ctx.actor()?;
    let new = parse(ctx.tr, &ctx.base, &req.body)?;
    let d = app
        .create_document(actor, &new.patient_id, new.upload, &new.caption)
        .await
        .map_err(|e| input::write_error(ctx, fhir_fields(e)))?;
    Ok(input::resource_response(ctx, StatusCode::CREATED, &to_json(ctx, &d), 1, d.row.created_at))
}

/// Whether a `Binary` read asks for the FHIR resource (JSON) rather than the content itself:
/// `_format` naming JSON, or an `Accept` that names a JSON type (not `*/*`). `_format` naming
/// anything else is 406.
fn wants_resource(tr: Tr, req: &FhirRequest) -> Result<bool, FhirError> {
    let json = |m: &str| {
        matches!(m, "json" | "application/json" | "application/fhir+json" | "application/json+fhir")
    };
    if let Some((_, v)) = req.params.iter().find(|(k, _)| k == "_format") {
        let m = v.trim().replace(' ', "+").to_ascii_lowercase();
        let m = m.split(';').next().unwrap_or("").trim().to_string();
        return if json(&m) { Ok(true) } else { Err(FhirError::not_acceptable(tr)) };
    }
    let accept = req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let m = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused && json(&m)
    }))
}

/// A file as a FHIR `Binary`.
pub fn binary_json(row: &AttachmentRow, c: &FileContent) -> Value {
    json!({
        "resourceType": "Binary",
        "id": row.id,
        "meta": Meta::new(1, row.created_at, None),
        "contentType": c.content_type,
        "securityContext": { "reference": format!("DocumentReference/{}", row.id) },
        "data": STANDARD.encode(&c.bytes),
    })
}

/// The content itself, as a download in its stored type.
fn raw(row: &AttachmentRow, c: FileContent) -> Response {
    let mut r = crate::pages::files::content_response(c, "attachment");
    let h = r.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static("W/\"1\""));
    if let Some(v) = input::http_date(row.created_at).and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    r
}

/// Every request on `Binary`: read only (`Binary/{id}`, the id of its DocumentReference).
pub async fn binary(ctx: &Ctx, app: &App, req: &FhirRequest) -> Result<Response, FhirError> {
    match req.path().as_slice() {
        [id] if req.is_read() && !id.starts_with('_') && !id.starts_with('$') => {
            let actor = ctx.actor()?;
            let resource = wants_resource(ctx.tr, req)?;
            let (row, content) = app.attachment_by_id(actor, id).await.map_err(|e| ctx.app_error(e))?;
            if resource {
                let v = binary_json(&row, &content);
                Ok(input::resource_response(ctx, StatusCode::OK, &v, 1, row.created_at))
            } else {
                Ok(raw(&row, content))
            }
        }
        [] | [_] | [_, "_history"] | [_, "_history", _] => Err(FhirError::method_not_allowed(ctx.tr)),
        _ => Err(FhirError::not_found(ctx.tr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    const BASE: &str = "http://h/fhir";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nrest";

    fn body(att: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": { "reference": "Patient/p1" },
            "description": "仙骨部",
            "content": [{ "attachment": att }],
        }))
        .unwrap_or_default()
    }

    #[test]
    fn an_inline_file_becomes_an_upload() {
        let data = STANDARD.encode(PNG);
        let d =
            parse(tr(), BASE, &body(json!({ "contentType": "image/png", "data": data, "title": "a.png" })))
                .unwrap_or_else(|e| panic!("{:?}", e.status));
        assert_eq!(d.patient_id, "p1");
        assert_eq!(d.upload.bytes, PNG);
        assert_eq!(d.upload.name, "a.png");
        assert_eq!(d.caption, "仙骨部");
    }

    #[test]
    fn what_cannot_be_uploaded_is_refused() {
        let data = STANDARD.encode(PNG);
        for att in [
            json!({ "contentType": "image/png", "data": "%%%not base64" }),
            json!({ "contentType": "image/png" }),
            json!({ "contentType": "image/png", "url": "http://x/y.png" }),
            json!({ "contentType": "image/jpeg", "data": data }),
            json!({ "data": data }),
            json!({ "contentType": "image/png", "data": data, "size": 3 }),
            json!({ "contentType": "image/png", "data": 7 }),
        ] {
            let e = parse(tr(), BASE, &body(att.clone())).err();
            assert_eq!(e.map(|e| e.status), Some(StatusCode::UNPROCESSABLE_ENTITY), "{att}");
        }
        let e = parse(tr(), BASE, b"{").err();
        assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn category_and_type_tokens_name_kinds() {
        assert_eq!(kinds_of("photo,document", false), vec![DocumentKind::Photo, DocumentKind::Document]);
        assert_eq!(
            kinds_of(&format!("{}|consent-form", kind_system()), false),
            vec![DocumentKind::ConsentForm]
        );
        assert!(kinds_of("http://other|photo", false).is_empty());
        assert_eq!(kinds_of("http://loinc.org|59284-0", true), vec![DocumentKind::ConsentForm]);
        assert!(kinds_of("photo", true).is_empty());
    }
}
