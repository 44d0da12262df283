//! Reading what a client sends: the body of a create or update as a JSON resource of the right
//! type, references, versions from `If-Match`, and the answers that carry a resource (ETag,
//! Last-Modified, Location). Every refusal is a [`FhirError`]; nothing here writes.
//!
//! The statuses follow FHIR's HTTP page: 400 for what is not a resource of the right type
//! (malformed JSON, a wrong `resourceType`), 413 for a body over the limit, 415 for a body that
//! is not JSON, 422 for a well-formed resource that breaks a rule (a value out of range, an
//! over-long string, a reference to another patient), 409/412 for version conflicts and 428 for
//! an update without a version.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use tsunagu_app::AppError;
use tsunagu_domain::Timestamp;

use super::outcome::{Issue, echo};
use super::{Ctx, FhirError, FhirRequest};
use crate::i18n::Tr;

/// A JSON resource of the expected type, as an object.
pub type Resource = Map<String, Value>;

/// Parses a request body as a resource of type `expected`. Pure: the fuzz test drives it.
pub fn parse_resource(tr: Tr, body: &[u8], expected: &str) -> Result<Resource, FhirError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            vec![Issue::error("required", tr.get("fhir.no_body"))],
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        FhirError::new(
            StatusCode::BAD_REQUEST,
            vec![Issue::error("structure", tr.get("fhir.malformed_json"))],
        )
    })?;
    let Value::Object(map) = v else {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            vec![Issue::error("structure", tr.get("fhir.not_a_resource"))],
        ));
    };
    match map.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == expected => Ok(map),
        _ => Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            vec![
                Issue::error("invalid", tr.fmt("fhir.wrong_type", &[("type", expected)])).at("resourceType"),
            ],
        )),
    }
}

/// 422: a well-formed resource that breaks a rule, naming the element (`key` from `[fhir]`).
pub fn unprocessable(tr: Tr, element: &str, key: &str) -> FhirError {
    FhirError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        vec![Issue::error("business-rule", tr.fmt(key, &[("name", &echo(element))])).at(element)],
    )
}

/// 422 for an element that must be present.
pub fn required(tr: Tr, element: &str) -> FhirError {
    FhirError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        vec![Issue::error("required", tr.fmt("fhir.required", &[("name", &echo(element))])).at(element)],
    )
}

/// 422 for an element whose value is of the wrong shape or not one of the allowed codes.
pub fn bad_element(tr: Tr, element: &str) -> FhirError {
    FhirError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        vec![Issue::error("value", tr.fmt("fhir.bad_element", &[("name", &echo(element))])).at(element)],
    )
}

/// The error of a write use case: field errors become 422 with each field named (a version
/// conflict 409), anything else as for reads.
pub fn write_error(ctx: &Ctx, e: AppError) -> FhirError {
    match e {
        AppError::Invalid(inv) if inv.0.iter().any(|f| f.code == "error.version_conflict") => FhirError::new(
            StatusCode::CONFLICT,
            vec![Issue::error("conflict", ctx.tr.get("fhir.version_conflict"))],
        ),
        AppError::Invalid(inv) => {
            let mut issues: Vec<Issue> = inv
                .0
                .iter()
                .map(|f| {
                    let code = match f.code {
                        "error.required" => "required",
                        "error.too_long" => "too-long",
                        _ => "value",
                    };
                    Issue::error(code, ctx.tr.error(f)).at(f.field)
                })
                .collect();
            if issues.is_empty() {
                issues.push(Issue::error("value", ctx.tr.get("fhir.invalid")));
            }
            FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, issues)
        }
        other => ctx.app_error(other),
    }
}

/// The id a reference names, if it is a reference to a resource of type `kind` on this server:
/// `{kind}/{id}` or `{base}/{kind}/{id}` (a version suffix `/_history/n` is allowed).
pub fn reference_id<'a>(base: &str, reference: &'a str, kind: &str) -> Option<&'a str> {
    let local = reference.strip_prefix(base).map(|r| r.trim_start_matches('/')).unwrap_or(reference);
    let rest = local.strip_prefix(kind)?.strip_prefix('/')?;
    let id = rest.split("/_history/").next().unwrap_or("");
    (!id.is_empty() && !id.contains('/') && id.len() <= 64).then_some(id)
}

/// `resource[element].reference` as an id of type `kind`. Missing → 422 required; a reference
/// to something else → 422 naming the element.
pub fn reference_of<'a>(
    ctx: &Ctx,
    resource: &'a Resource,
    element: &str,
    kind: &str,
) -> Result<&'a str, FhirError> {
    let r = resource.get(element).ok_or_else(|| required(ctx.tr, element))?;
    let text = r.get("reference").and_then(Value::as_str).ok_or_else(|| bad_element(ctx.tr, element))?;
    reference_id(&ctx.base, text, kind).ok_or_else(|| bad_element(ctx.tr, element))
}

/// The version an update expects: `If-Match: W/"n"` (412 if it is not the current version, told
/// by the use case), else `meta.versionId` in the body (409 when stale), else 428.
pub fn expected_version(tr: Tr, req: &FhirRequest, body: &Resource) -> Result<i64, FhirError> {
    if let Some(v) = req.headers.get(header::IF_MATCH) {
        let s = v.to_str().unwrap_or("").trim();
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        return s.parse::<i64>().map_err(|_| {
            FhirError::new(
                StatusCode::BAD_REQUEST,
                vec![Issue::error("invalid", tr.get("fhir.bad_if_match"))],
            )
        });
    }
    if let Some(v) = body.get("meta").and_then(|m| m.get("versionId")).and_then(Value::as_str) {
        return v.parse::<i64>().map_err(|_| bad_element(tr, "meta.versionId"));
    }
    Err(FhirError::new(
        StatusCode::PRECONDITION_REQUIRED,
        vec![Issue::error("required", tr.get("fhir.version_required"))],
    ))
}

/// Whether the update carried `If-Match` (a stale one is 412, a stale `meta.versionId` 409).
pub fn conflict(tr: Tr, req: &FhirRequest) -> FhirError {
    if req.headers.contains_key(header::IF_MATCH) {
        FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            vec![Issue::error("conflict", tr.get("fhir.version_conflict"))],
        )
    } else {
        FhirError::new(StatusCode::CONFLICT, vec![Issue::error("conflict", tr.get("fhir.version_conflict"))])
    }
}

/// An HTTP date (`Last-Modified`).
pub fn http_date(micros: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok()?;
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).ok()
}

/// A FHIR instant (UTC, `Z`).
pub fn instant(micros: i64) -> String {
    Timestamp(micros).rfc3339()
}

/// A resource answer: `200`/`201` with `ETag` and `Last-Modified`; a `201` also carries
/// `Location: {base}/{type}/{id}/_history/{version}`.
pub fn resource_response(
    ctx: &Ctx,
    status: StatusCode,
    body: &impl super::bundle::Resource,
    version: i64,
    last_updated: i64,
) -> Response {
    let mut r = ctx.json(status, body);
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Some(v) = http_date(last_updated).and_then(|d| HeaderValue::from_str(&d).ok()) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    if status == StatusCode::CREATED {
        let (t, id) = body.type_and_id();
        if let Ok(v) = HeaderValue::from_str(&format!("{}/{t}/{id}/_history/{version}", ctx.base)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn tr() -> Tr {
        Tr::new(Lang::En)
    }

    #[test]
    fn a_body_must_be_a_json_object_of_the_expected_type() {
        assert!(parse_resource(tr(), br#"{"resourceType":"Patient"}"#, "Patient").is_ok());
        for (body, status) in [
            (&b""[..], StatusCode::BAD_REQUEST),
            (b"  ", StatusCode::BAD_REQUEST),
            (b"{", StatusCode::BAD_REQUEST),
            (b"[1]", StatusCode::BAD_REQUEST),
            (br#"{"resourceType":"Observation"}"#, StatusCode::BAD_REQUEST),
            (br#"{"id":"x"}"#, StatusCode::BAD_REQUEST),
        ] {
            let e = parse_resource(tr(), body, "Patient").unwrap_err();
            assert_eq!(e.status, status, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn references_name_a_local_resource_of_one_type() {
        let base = "http://h/fhir";
        assert_eq!(reference_id(base, "Patient/abc", "Patient"), Some("abc"));
        assert_eq!(reference_id(base, "http://h/fhir/Patient/abc", "Patient"), Some("abc"));
        assert_eq!(reference_id(base, "Patient/abc/_history/2", "Patient"), Some("abc"));
        assert_eq!(reference_id(base, "Practitioner/abc", "Patient"), None);
        assert_eq!(reference_id(base, "http://elsewhere/fhir/Patient/abc", "Patient"), None);
        assert_eq!(reference_id(base, "Patient/", "Patient"), None);
    }
}
