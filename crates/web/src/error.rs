//! One application error, rendered as a page. Handlers return `WebError`; the
//! [`render_errors`] middleware turns it into an HTML page in the person's language with the
//! request id, so a server error shows a plain message and the details go only to the log.

use askama::Template;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tsunagu_app::AppError;

use crate::i18n::{Lang, Tr};

/// A failed request.
#[derive(Debug)]
pub struct WebError(pub AppError);

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        WebError(e)
    }
}

impl From<tsunagu_store::StoreError> for WebError {
    fn from(e: tsunagu_store::StoreError) -> Self {
        WebError(AppError::Store(e))
    }
}

/// Marks a response as an error page still to be rendered.
#[derive(Debug, Clone, Copy)]
struct ErrorPage {
    key: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, key) = match &self.0 {
            AppError::Unauthenticated => return Redirect::to("/login").into_response(),
            AppError::NotFound => (StatusCode::NOT_FOUND, "error.page.not_found"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "error.page.forbidden"),
            AppError::ReadOnly => (StatusCode::FORBIDDEN, "error.page.read_only"),
            AppError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "error.page.throttled"),
            AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "error.page.invalid"),
            AppError::Store(e) => {
                // Store errors name constraints and settings, never row content.
                tracing::error!(error = %e, "storage error");
                (StatusCode::INTERNAL_SERVER_ERROR, "error.page.server")
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "error.page.server")
            }
        };
        error_response(status, key)
    }
}

/// A response the middleware will render as the error page `key`.
pub fn error_response(status: StatusCode, key: &'static str) -> Response {
    let mut r = status.into_response();
    r.extensions_mut().insert(ErrorPage { key });
    r
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    t: Tr,
    status: u16,
    message: &'a str,
    request_id: &'a str,
}

/// Renders error responses (from handlers, and bare 404/405 from the router) as pages.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let request_id =
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let fhir = crate::fhir::is_fhir_path(req.uri().path());
    let res = next.run(req).await;
    if fhir {
        // The FHIR API answers in OperationOutcomes, never in pages.
        let key = res.extensions().get::<ErrorPage>().map(|p| p.key);
        return crate::fhir::outcome::ensure_outcome(res, key, lang, &request_id);
    }
    let key = match res.extensions().get::<ErrorPage>() {
        Some(p) => p.key,
        None if res.status() == StatusCode::NOT_FOUND && res.headers().get("content-type").is_none() => {
            "error.page.not_found"
        }
        None if res.status() == StatusCode::METHOD_NOT_ALLOWED => "error.page.method",
        None if res.status() == StatusCode::PAYLOAD_TOO_LARGE => "error.page.too_large",
        None if res.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
            || (res.status() == StatusCode::UNPROCESSABLE_ENTITY
                && res
                    .headers()
                    .get("content-type")
                    .is_some_and(|c| c.as_bytes().starts_with(b"text/plain"))) =>
        {
            // axum's own rejections (a form that does not parse) get our page, not its text.
            "error.page.bad_form"
        }
        None if res.status() == StatusCode::BAD_REQUEST
            && res.headers().get("content-type").is_some_and(|c| c.as_bytes().starts_with(b"text/plain")) =>
        {
            "error.page.bad_form"
        }
        None => return res,
    };
    let t = Tr::new(lang);
    let status = res.status();
    let page = ErrorTemplate { t, status: status.as_u16(), message: t.get(key), request_id: &request_id };
    match page.render() {
        Ok(html) => {
            let mut out = (status, Html(html)).into_response();
            for h in ["x-request-id", "retry-after"] {
                if let Some(v) = res.headers().get(h) {
                    out.headers_mut().insert(h, v.clone());
                }
            }
            out
        }
        Err(_) => status.into_response(),
    }
}
