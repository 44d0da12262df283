//! CSRF protection for every form: a random token in a `SameSite=Strict` cookie that each form
//! repeats in a hidden `csrf` field (or an `x-csrf-token` header for scripts). A state-changing
//! request without the matching token is refused before any handler runs. Requests with a
//! bearer token (programs, not browsers) carry no cookies and need no CSRF token.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::WebState;
use crate::error::error_response;

pub const COOKIE: &str = "tsunagu_csrf";
/// Forms larger than this are refused (file uploads, multipart, pass through unbuffered).
pub const FORM_LIMIT: usize = 256 * 1024;

/// The request's CSRF token, for forms to repeat.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `multipart/form-data` request (a file upload).
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

pub async fn protect(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let existing = jar.get(COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 43);
    let token = existing.clone().unwrap_or_else(tsunagu_app::secret::new_token);
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bearer =
        req.headers().get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
    let (mut parts, body) = req.into_parts();
    let req = if unsafe_method && !bearer {
        let header_token =
            parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        // File uploads (multipart) are streamed to their handler, which has its own size limit:
        // their token travels in the query string (`?csrf=…`), accepted for multipart only.
        let (sent, body) = if is_multipart(&parts.headers) {
            let query_token = parts.uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "csrf")
                    .map(|(_, v)| v.into_owned())
            });
            (header_token.or(query_token).unwrap_or_default(), body)
        } else {
            let bytes = match to_bytes(body, FORM_LIMIT).await {
                Ok(b) => b,
                Err(_) => return error_response(StatusCode::PAYLOAD_TOO_LARGE, "error.page.too_large"),
            };
            let form_token =
                url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
            (header_token.or(form_token).unwrap_or_default(), Body::from(bytes))
        };
        let ok = existing.as_deref().is_some_and(|c| constant_time_eq(c.as_bytes(), sent.as_bytes()));
        if !ok {
            let address = crate::session::client_address(&parts);
            if let Err(err) = state.app.record_csrf_refusal(address, parts.uri.path()).await {
                tracing::error!(error = %err, "audit write failed");
            }
            return error_response(StatusCode::FORBIDDEN, "error.page.csrf");
        }
        Request::from_parts(parts, body)
    } else {
        parts.extensions.insert(CsrfToken(token.clone()));
        Request::from_parts(parts, body)
    };
    let mut req = req;
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    if existing.is_none() {
        let c = Cookie::build((COOKIE, token))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.config.secure_cookies)
            .path("/")
            .build();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}
