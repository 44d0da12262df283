//! The HL7 FHIR R4 (4.0.1) API under `/fhir`, JSON only: the capability statement and the
//! regional directory (`Organization`, `Location`, `HealthcareService`). Issue 5 grows the
//! patient resources on the same base.
//!
//! Every `/fhir` request goes through [`dispatch`], which negotiates the format (JSON or 406),
//! reads the bearer token (none: a public caller; a bad one: 401), and routes by resource type
//! and id. Every refusal is an `OperationOutcome` in the caller's language (`Accept-Language`,
//! Japanese by default); the HTML error middleware leaves `/fhir` alone and turns anything else
//! that reaches it there (a CSRF refusal, a body too large) into an `OperationOutcome` too.
//!
//! Like the pages, handlers here only call `App` use cases: the directory's public and
//! professional fields are decided in the app layer.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tsunagu_app::{Actor, AppError};

use crate::WebState;
use crate::i18n::{Lang, Tr};

pub mod audit_event;
pub mod bundle;
pub mod care_team;
pub mod communication;
pub mod consent;
pub mod directory;
pub mod document;
pub mod everything;
#[cfg(test)]
mod fuzz_tests;
pub mod input;
pub mod metadata;
pub mod observation;
pub mod outcome;
pub mod patient;
pub mod practitioner;
pub mod registry;
pub mod search;
pub mod summary;
pub mod types;

pub use outcome::FhirError;

/// The content type of every `/fhir` answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";
/// The base path of the API.
pub const BASE_PATH: &str = "/fhir";

/// The canonical base of the code systems, identifier systems and extensions Tsunagu defines
/// (documented in `docs/fhir.md`; the same in every installation, unlike the server's address).
pub const CANONICAL: &str = "https://tsunagu.example/fhir";

/// Whether a request path belongs to the FHIR API.
pub fn is_fhir_path(path: &str) -> bool {
    path == BASE_PATH || path.strip_prefix(BASE_PATH).is_some_and(|rest| rest.starts_with('/'))
}

pub fn routes() -> Router<WebState> {
    Router::new().route(BASE_PATH, any(dispatch)).route("/fhir/{*rest}", any(dispatch))
}

/// What every FHIR handler knows about its request.
pub struct Ctx {
    pub tr: Tr,
    /// The absolute base URL of the API (`public_url` + `/fhir`), for `fullUrl` and links.
    pub base: String,
    pub pretty: bool,
    pub request_id: String,
    /// The caller behind a valid bearer token (`None`: a public caller).
    pub actor: Option<Actor>,
    /// `Prefer: handling=lenient`: unknown search parameters are reported, not refused.
    pub lenient: bool,
}

impl Ctx {
    /// A JSON answer with the FHIR content type.
    pub fn json(&self, status: StatusCode, value: &impl serde::Serialize) -> Response {
        json_response(status, value, self.pretty)
    }

    /// An `AppError` as an `OperationOutcome`.
    pub fn app_error(&self, e: AppError) -> FhirError {
        FhirError::from_app(self.tr, &self.request_id, e)
    }

    /// The caller, for resources that need one: patient data is never public (401 without a
    /// token).
    pub fn actor(&self) -> Result<&Actor, FhirError> {
        self.actor.as_ref().ok_or_else(|| FhirError::unauthenticated(self.tr))
    }
}

/// A request on a resource type, after negotiation and authentication.
#[derive(Debug)]
pub struct FhirRequest {
    pub method: Method,
    /// The path segments after the type (`[id]`, `[id, "_history"]`, `[id, "$everything"]`, …).
    pub rest: Vec<String>,
    /// The query string as pairs, in order (empty values dropped).
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The body (empty for reads), at most [`body_limit`] bytes.
    pub body: axum::body::Bytes,
}

impl FhirRequest {
    /// A read (`GET` or `HEAD`).
    pub fn is_read(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD
    }

    /// The path after the type as string slices, for matching.
    pub fn path(&self) -> Vec<&str> {
        self.rest.iter().map(String::as_str).collect()
    }
}

/// The largest body accepted: a DocumentReference carries its file in base64 (4/3 of the
/// upload limit) plus its JSON.
pub fn body_limit(app: &tsunagu_app::App) -> usize {
    app.config.max_upload_bytes / 3 * 4 + 64 * 1024
}

/// Whether a body's `Content-Type` is JSON (a write without one is taken as JSON).
fn json_body(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => json_media(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str()),
    }
}

/// A JSON body with the FHIR content type. Pretty output (`_pretty=true`) goes through a
/// `Value` so that resources already written as text (a Bundle's entries) are indented too.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize, pretty: bool) -> Response {
    let body = if pretty {
        serde_json::to_value(value).and_then(|v| serde_json::to_string_pretty(&v))
    } else {
        serde_json::to_string(value)
    };
    match body {
        Ok(text) => {
            let mut r = (status, Body::from(text)).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            r
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The query string as name/value pairs, in order. FHIR ignores parameters without a value.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else {
        return Vec::new();
    };
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// A media type this server can answer with (JSON in any of its FHIR spellings).
fn json_media(m: &str) -> bool {
    matches!(m, "json" | "application/json" | "application/fhir+json" | "application/json+fhir")
}

/// Whether the request accepts JSON: `_format` (if given) names JSON, and `Accept` (if given)
/// has a JSON or wildcard range not refused with `q=0`.
fn accepts_json(headers: &HeaderMap, params: &[(String, String)]) -> bool {
    for (k, v) in params {
        if k == "_format" {
            // A `+` in a query string arrives as a space.
            let m = v.trim().replace(' ', "+").to_ascii_lowercase();
            let m = m.split(';').next().unwrap_or("").trim().to_string();
            if !json_media(&m) {
                return false;
            }
        }
    }
    if params.iter().any(|(k, _)| k == "_format") {
        return true;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    if accept.is_empty() {
        return true;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let m = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused && (json_media(&m) || m == "*/*" || m == "application/*")
    })
}

/// `Prefer: handling=lenient`.
fn lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split([',', ';']).any(|p| p.trim().eq_ignore_ascii_case("handling=lenient")))
}

/// The caller behind the `Authorization` header: none without one, the token's person with a
/// valid bearer token, 401 with anything else.
async fn caller(
    state: &WebState,
    tr: Tr,
    request_id: &str,
    headers: &HeaderMap,
    address: Option<String>,
) -> Result<Option<Actor>, FhirError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or("").trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            token.trim()
        }
        _ => return Err(FhirError::unauthenticated(tr)),
    };
    match state.app.authenticate_token(token, address).await {
        Ok(actor) => Ok(Some(actor)),
        Err(AppError::Unauthenticated) => Err(FhirError::unauthenticated(tr)),
        Err(e) => Err(FhirError::from_app(tr, request_id, e)),
    }
}

/// Every `/fhir` request.
pub async fn dispatch(State(state): State<WebState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let tr = Tr::new(Lang::from_headers(headers));
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let params = query_pairs(parts.uri.query());
    // `Binary/{id}` negotiates for itself: its content in its own type, or a FHIR resource.
    let binary = parts.uri.path().starts_with("/fhir/Binary/");
    if !binary && !accepts_json(headers, &params) {
        return FhirError::not_acceptable(tr).into_response();
    }
    let pretty = params.iter().any(|(k, v)| k == "_pretty" && v == "true");
    let address = crate::session::client_address(&parts);
    let actor = match caller(&state, tr, &request_id, headers, address).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let base = format!("{}{BASE_PATH}", state.app.config.public_url.trim_end_matches('/'));
    let ctx = Ctx { tr, base, pretty, request_id, actor, lenient: lenient(headers) };
    let path = parts.uri.path().strip_prefix(BASE_PATH).unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let read = parts.method == Method::GET || parts.method == Method::HEAD;
    let result = match segments.as_slice() {
        ["metadata"] if read => Ok(metadata::capability_statement(&ctx)),
        ["metadata"] => Err(FhirError::method_not_allowed(tr)),
        [kind, rest @ ..] => match directory::DirResource::from_name(kind) {
            Some(res) => match rest {
                [] if read => directory::search(&ctx, &state.app, res, &params).await,
                [id] if read && !id.starts_with('_') => directory::read(&ctx, &state.app, res, id).await,
                [] | [_] => Err(FhirError::method_not_allowed(tr)),
                _ => Err(FhirError::not_found(tr)),
            },
            None if registry::find(kind).is_some() || *kind == "Binary" => {
                let rest: Vec<String> = rest.iter().map(|s| (*s).to_string()).collect();
                match patient_request(&state, tr, parts.method.clone(), rest, params, headers, body).await {
                    Ok(req) => registry::route(&ctx, &state.app, kind, &req)
                        .await
                        .unwrap_or_else(|| Err(FhirError::unknown_type(tr))),
                    Err(e) => Err(e),
                }
            }
            None => Err(FhirError::unknown_type(tr)),
        },
        [] => Err(FhirError::unknown_type(tr)),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Reads the body of a request on a patient resource type: at most [`body_limit`] bytes (413
/// beyond), JSON only for writes (415).
async fn patient_request(
    state: &WebState,
    tr: Tr,
    method: Method,
    rest: Vec<String>,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    body: Body,
) -> Result<FhirRequest, FhirError> {
    let body = axum::body::to_bytes(body, body_limit(&state.app)).await.map_err(|_| {
        FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![outcome::Issue::error("too-costly", tr.get("fhir.too_large"))],
        )
    })?;
    if !body.is_empty() && !json_body(headers) {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![outcome::Issue::error("not-supported", tr.get("fhir.unsupported_media"))],
        ));
    }
    Ok(FhirRequest { method, rest, params, headers: headers.clone(), body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn params(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    #[test]
    fn json_in_any_fhir_spelling_is_accepted() {
        assert!(accepts_json(&headers(&[]), &[]));
        assert!(accepts_json(&headers(&[("accept", "application/fhir+json")]), &[]));
        assert!(accepts_json(&headers(&[("accept", "application/json")]), &[]));
        assert!(accepts_json(&headers(&[("accept", "text/html,application/xml;q=0.9,*/*;q=0.8")]), &[]));
        assert!(accepts_json(&headers(&[]), &params("_format=json")));
        assert!(accepts_json(&headers(&[]), &params("_format=application/fhir+json")));
        assert!(accepts_json(&headers(&[]), &params("_format=application%2Ffhir%2Bjson")));
        // `_format` wins over the header, as FHIR says.
        assert!(accepts_json(&headers(&[("accept", "application/fhir+xml")]), &params("_format=json")));
    }

    #[test]
    fn xml_and_other_formats_are_refused() {
        assert!(!accepts_json(&headers(&[("accept", "application/fhir+xml")]), &[]));
        assert!(!accepts_json(&headers(&[("accept", "text/html")]), &[]));
        assert!(!accepts_json(&headers(&[("accept", "application/json;q=0")]), &[]));
        assert!(!accepts_json(&headers(&[]), &params("_format=xml")));
        assert!(!accepts_json(&headers(&[]), &params("_format=json&_format=xml")));
    }

    #[test]
    fn lenient_handling_is_read_from_prefer() {
        assert!(lenient(&headers(&[("prefer", "handling=lenient")])));
        assert!(lenient(&headers(&[("prefer", "return=minimal, handling=lenient")])));
        assert!(!lenient(&headers(&[("prefer", "handling=strict")])));
        assert!(!lenient(&headers(&[])));
    }

    #[test]
    fn every_fhir_message_key_is_in_the_catalog() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fhir");
        let mut keys = Vec::new();
        for f in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap();
            for (i, _) in text.match_indices("\"fhir.") {
                let key: String = text[i + 1..].chars().take_while(|c| *c != '"').collect();
                if !key.ends_with('.') && !key.contains(char::is_whitespace) {
                    keys.push(key);
                }
            }
        }
        assert!(keys.len() > 20, "{keys:?}");
        let missing: Vec<_> = keys.iter().filter(|k| Tr::new(Lang::Ja).get(k) == k.as_str()).collect();
        assert!(missing.is_empty(), "keys missing from the catalog: {missing:?}");
    }

    #[test]
    fn fhir_paths_are_the_base_and_below_only() {
        assert!(is_fhir_path("/fhir"));
        assert!(is_fhir_path("/fhir/metadata"));
        assert!(!is_fhir_path("/fhirx"));
        assert!(!is_fhir_path("/patients"));
    }
}
