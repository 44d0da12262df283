//! `OperationOutcome`: every refusal of the FHIR API, with the issue's severity and code
//! (`http://hl7.org/fhir/issue-type`) and its text from the message catalog (`[fhir]`) in the
//! caller's language, both as `details.text` and `diagnostics`. A not-found answer names
//! nothing of what was asked, so a malformed id and an unknown one get the same bytes.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tsunagu_app::AppError;

use super::json_response;
use crate::i18n::{Lang, Tr};

/// The longest parameter name repeated back in a message.
const MAX_ECHO: usize = 64;

/// One issue of an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `fatal`, `error`, `warning` or `information`.
    pub severity: &'static str,
    /// A code of `http://hl7.org/fhir/issue-type`.
    pub code: &'static str,
    pub text: String,
    /// The search parameter or element the issue is about.
    pub expression: Option<String>,
}

impl Issue {
    pub fn error(code: &'static str, text: impl Into<String>) -> Self {
        Issue { severity: "error", code, text: text.into(), expression: None }
    }

    pub fn warning(code: &'static str, text: impl Into<String>) -> Self {
        Issue { severity: "warning", code, text: text.into(), expression: None }
    }

    pub fn at(mut self, expression: &str) -> Self {
        self.expression = Some(echo(expression));
        self
    }
}

/// A name from the request, made safe to repeat in a message: control characters dropped,
/// at most [`MAX_ECHO`] characters.
pub fn echo(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_ECHO).collect()
}

/// The `OperationOutcome` resource of some issues.
pub fn outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut v = json!({
                "severity": i.severity,
                "code": i.code,
                "details": { "text": i.text },
                "diagnostics": i.text,
            });
            if let Some(e) = &i.expression {
                v["expression"] = json!([e]);
            }
            v
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// A refused FHIR request: its status, issues and any extra header.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl FhirError {
    pub fn new(status: StatusCode, issues: Vec<Issue>) -> Self {
        FhirError { status, issues, headers: Vec::new() }
    }

    fn one(status: StatusCode, code: &'static str, text: &str) -> Self {
        Self::new(status, vec![Issue::error(code, text)])
    }

    /// 404 for a resource that does not exist, may not be seen, or has a malformed id.
    pub fn not_found(tr: Tr) -> Self {
        Self::one(StatusCode::NOT_FOUND, "not-found", tr.get("fhir.not_found"))
    }

    /// 404 for a resource type (or path) this server does not serve.
    pub fn unknown_type(tr: Tr) -> Self {
        Self::one(StatusCode::NOT_FOUND, "not-supported", tr.get("fhir.unknown_type"))
    }

    /// 405 for an interaction this server does not offer on a path it knows.
    pub fn method_not_allowed(tr: Tr) -> Self {
        Self::one(StatusCode::METHOD_NOT_ALLOWED, "not-supported", tr.get("fhir.method"))
    }

    /// 406 for a format other than JSON.
    pub fn not_acceptable(tr: Tr) -> Self {
        Self::one(StatusCode::NOT_ACCEPTABLE, "not-supported", tr.get("fhir.not_acceptable"))
    }

    /// 401 for a bearer token that is malformed, unknown, expired, revoked or disabled.
    pub fn unauthenticated(tr: Tr) -> Self {
        let mut e = Self::one(StatusCode::UNAUTHORIZED, "login", tr.get("fhir.unauthenticated"));
        e.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tsunagu\", error=\"invalid_token\""),
        ));
        e
    }

    /// 400 naming a search parameter whose value cannot be used.
    pub fn bad_value(tr: Tr, param: &str) -> Self {
        let text = tr.fmt("fhir.bad_value", &[("name", &echo(param))]);
        Self::new(StatusCode::BAD_REQUEST, vec![Issue::error("invalid", text).at(param)])
    }

    /// 400 with a message of its own about a parameter.
    pub fn invalid(tr: Tr, param: &str, key: &str) -> Self {
        let text = tr.fmt(key, &[("name", &echo(param))]);
        Self::new(StatusCode::BAD_REQUEST, vec![Issue::error("invalid", text).at(param)])
    }

    /// 400 for a parameter value this server does not support (a valid one it cannot do).
    pub fn unsupported_value(tr: Tr, param: &str, key: &str) -> Self {
        let text = tr.fmt(key, &[("name", &echo(param))]);
        Self::new(StatusCode::BAD_REQUEST, vec![Issue::error("not-supported", text).at(param)])
    }

    /// 400 naming every unknown search parameter.
    pub fn unknown_params(tr: Tr, names: &[String]) -> Self {
        let issues = names
            .iter()
            .map(|n| Issue::error("not-supported", tr.fmt("fhir.unknown_param", &[("name", &echo(n))])).at(n))
            .collect();
        Self::new(StatusCode::BAD_REQUEST, issues)
    }

    /// An application error. Server errors are logged and named by the request id only.
    pub fn from_app(tr: Tr, request_id: &str, e: AppError) -> Self {
        match e {
            AppError::NotFound => Self::not_found(tr),
            AppError::Unauthenticated => Self::unauthenticated(tr),
            AppError::Forbidden => Self::one(StatusCode::FORBIDDEN, "forbidden", tr.get("fhir.forbidden")),
            AppError::ReadOnly => Self::one(StatusCode::FORBIDDEN, "forbidden", tr.get("fhir.read_only")),
            AppError::Throttled { retry_after_secs } => {
                let mut e = Self::one(StatusCode::TOO_MANY_REQUESTS, "throttled", tr.get("fhir.throttled"));
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
                    e.headers.push((header::RETRY_AFTER, v));
                }
                e
            }
            AppError::Invalid(inv) => {
                let issues = inv
                    .0
                    .iter()
                    .map(|fe| Issue::error("invalid", tr.error(fe)).at(fe.field))
                    .collect::<Vec<_>>();
                let issues = if issues.is_empty() {
                    vec![Issue::error("invalid", tr.get("fhir.invalid"))]
                } else {
                    issues
                };
                Self::new(StatusCode::BAD_REQUEST, issues)
            }
            AppError::Store(err) => {
                tracing::error!(error = %err, "storage error");
                Self::server_error(tr, request_id)
            }
            AppError::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                Self::server_error(tr, request_id)
            }
        }
    }

    pub fn server_error(tr: Tr, request_id: &str) -> Self {
        let text = tr.fmt("fhir.server_error", &[("request_id", &echo(request_id))]);
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, vec![Issue::error("exception", text)])
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.status, &outcome(&self.issues), false);
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        r
    }
}

/// Whether a response already is FHIR JSON.
fn is_fhir_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/fhir+json"))
}

/// Makes sure a `/fhir` response is FHIR JSON: the API's own answers pass through; an error
/// produced elsewhere (the CSRF check, a body limit, the router) becomes an `OperationOutcome`.
/// `page_key` is the error page the response was marked for, if any.
pub fn ensure_outcome(res: Response, page_key: Option<&str>, lang: Lang, request_id: &str) -> Response {
    if is_fhir_json(&res) || (res.status().is_success() && page_key.is_none()) {
        return res;
    }
    let tr = Tr::new(lang);
    let status = res.status();
    let (code, key) = match (status, page_key) {
        (_, Some("error.page.csrf")) => ("security", "fhir.forbidden"),
        (StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY, _) => ("invalid", "fhir.invalid"),
        (StatusCode::UNAUTHORIZED, _) => ("login", "fhir.unauthenticated"),
        (StatusCode::FORBIDDEN, _) => ("forbidden", "fhir.forbidden"),
        (StatusCode::NOT_FOUND, _) => ("not-found", "fhir.not_found"),
        (StatusCode::METHOD_NOT_ALLOWED, _) => ("not-supported", "fhir.method"),
        (StatusCode::NOT_ACCEPTABLE, _) => ("not-supported", "fhir.not_acceptable"),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => ("too-costly", "fhir.too_large"),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => ("not-supported", "fhir.unsupported_media"),
        (StatusCode::TOO_MANY_REQUESTS, _) => ("throttled", "fhir.throttled"),
        (s, _) if s.is_server_error() => ("exception", ""),
        _ => ("processing", "fhir.invalid"),
    };
    let issue = if key.is_empty() {
        Issue::error(code, tr.fmt("fhir.server_error", &[("request_id", &echo(request_id))]))
    } else {
        Issue::error(code, tr.get(key))
    };
    let mut out = json_response(status, &outcome(&[issue]), false);
    for h in [header::RETRY_AFTER, header::WWW_AUTHENTICATE, HeaderName::from_static("x-request-id")] {
        if let Some(v) = res.headers().get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_has_severity_code_and_text_in_both_places() {
        let v = outcome(&[Issue::error("invalid", "bad").at("name")]);
        assert_eq!(v["resourceType"], "OperationOutcome");
        assert_eq!(v["issue"][0]["severity"], "error");
        assert_eq!(v["issue"][0]["code"], "invalid");
        assert_eq!(v["issue"][0]["details"]["text"], "bad");
        assert_eq!(v["issue"][0]["diagnostics"], "bad");
        assert_eq!(v["issue"][0]["expression"][0], "name");
    }

    #[test]
    fn names_repeated_back_are_short_and_without_control_characters() {
        assert_eq!(echo("a\nb\u{0}c"), "abc");
        assert_eq!(echo(&"x".repeat(500)).len(), MAX_ECHO);
    }

    #[test]
    fn unknown_parameters_are_named_in_japanese_and_english() {
        let ja = FhirError::unknown_params(Tr::new(Lang::Ja), &["foo".into()]);
        let en = FhirError::unknown_params(Tr::new(Lang::En), &["foo".into()]);
        assert_eq!(ja.status, StatusCode::BAD_REQUEST);
        assert!(ja.issues[0].text.contains("foo") && en.issues[0].text.contains("foo"));
        assert_ne!(ja.issues[0].text, en.issues[0].text);
        assert!(!ja.issues[0].text.contains('{'), "{}", ja.issues[0].text);
    }
}
