//! A small FHIR client for the router tests: requests with a bearer token and a JSON body, and
//! the answers read as JSON, `OperationOutcome`s and Bundles.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::TestApp;

/// One answer of the API, read.
pub struct Answer {
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.what, self.body))
    }

    #[track_caller]
    pub fn ok(&self) -> Value {
        self.expect(StatusCode::OK)
    }

    /// The status, the FHIR content type, and the body as JSON.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.body);
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/fhir+json; charset=utf-8"),
            "{}: not FHIR JSON: {}",
            self.what,
            self.body
        );
        self.json()
    }

    /// An OperationOutcome with this status; its first issue.
    #[track_caller]
    pub fn outcome(&self, status: StatusCode, code: &str) -> Value {
        let v = self.expect(status);
        assert_eq!(v["resourceType"], "OperationOutcome", "{}: {}", self.what, self.body);
        assert_eq!(v["issue"][0]["severity"], "error", "{}", self.what);
        assert_eq!(v["issue"][0]["code"], code, "{}: {}", self.what, self.body);
        let text = v["issue"][0]["diagnostics"].as_str().unwrap_or("");
        assert!(!text.is_empty(), "{}: no diagnostics", self.what);
        assert_eq!(v["issue"][0]["details"]["text"], text, "{}", self.what);
        v["issue"][0].clone()
    }
}

pub async fn send(t: &TestApp, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    send_body(t, method, path, headers, Vec::new()).await
}

/// A request with a body (JSON unless the headers say otherwise).
pub async fn send_body(
    t: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut req = Request::builder().method(method.clone()).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req = req.header(header::CONTENT_TYPE, "application/fhir+json");
    }
    let res = t.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    Answer {
        what: format!("{}: {method} {path}", t.name()),
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(t: &TestApp, path: &str) -> Answer {
    send(t, Method::GET, path, &[]).await
}

pub async fn get_with(t: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    send(t, Method::GET, path, headers).await
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The path and query of one of the API's absolute links (the base is `public_url`).
pub fn local(link: &str) -> String {
    let u = url::Url::parse(link).unwrap();
    assert_eq!(u.origin().ascii_serialization(), "http://localhost:8080", "{link}");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_string())
}

/// The resources of a Bundle's `match` entries.
pub fn matches(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|es| {
            es.iter().filter(|e| e["search"]["mode"] == "match").map(|e| e["resource"].clone()).collect()
        })
        .unwrap_or_default()
}

pub fn ids(bundle: &Value) -> Vec<String> {
    matches(bundle).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

pub async fn token(t: &TestApp, login: &str, secs: i64) -> String {
    t.app.create_token(None, login, "fhir test", secs, true).await.unwrap()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET` with a bearer token.
pub async fn get_as(t: &TestApp, path: &str, token: &str) -> Answer {
    send(t, Method::GET, path, &[("authorization", &bearer(token))]).await
}

/// `POST` or `PUT` of a JSON resource with a bearer token and extra headers.
pub async fn write_as(
    t: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: &Value,
) -> Answer {
    let auth = bearer(token);
    let mut headers: Vec<(&str, &str)> = vec![("authorization", &auth)];
    headers.extend_from_slice(extra);
    send_body(t, method, path, &headers, serde_json::to_vec(body).unwrap()).await
}

/// A read-write token for a demo login, valid for an hour.
pub async fn write_token(t: &TestApp, login: &str) -> String {
    t.app.create_token(None, login, "fhir test", 3600, false).await.unwrap()
}

/// A demo person as the use cases see them (a browser session), for calling `App` directly.
pub async fn session_actor(t: &TestApp, login: &str) -> tsunagu_app::Actor {
    let id = t.user_id(login).await;
    let via = tsunagu_app::AuthVia::Session { token_hash: format!("fhir-test-{login}") };
    t.app.actor(&id, via, None).await.unwrap()
}

/// The id of a demo patient of `physician` (who attends them all), by name.
pub async fn demo_patient(t: &TestApp, name: &str) -> String {
    let doctor = session_actor(t, "physician").await;
    t.app.my_patients(&doctor).await.unwrap().into_iter().find(|p| p.name == name).expect(name).id
}
