//! Photos and files on the timeline: the upload (multipart, its CSRF token in the query string,
//! read with a size cap of its own), the upload page that shows a refusal next to the field,
//! and serving a file or its thumbnail to team members through the gate.

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tsunagu_app::attachments::{FileContent, Upload};

use crate::WebState;
use crate::error::{WebError, error_response};
use crate::pages::{FormErrors, field_error, form_errors, render};
use crate::session::{Authed, PageCtx};

/// Text fields of a multipart form larger than this are refused.
const TEXT_FIELD_LIMIT: usize = 64 * 1024;
/// Fields of a multipart form beyond this many are refused.
const FIELD_COUNT_LIMIT: usize = 64;

/// A form that may come as multipart with one file (`multipart/form-data`) or urlencoded
/// without one. The file is read up to the configured limit plus one byte, so a larger file
/// is refused by the use case with its message without the rest being read.
pub struct WithFile<T> {
    pub form: T,
    pub file: Option<Upload>,
}

/// The body limit of the routes that take a file: none from axum, as [`WithFile`] caps what it
/// reads itself (the file at the configured limit, each text field at 64 KB, 64 fields).
pub fn own_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::disable()
}

fn bad_form() -> Response {
    error_response(StatusCode::BAD_REQUEST, "error.page.bad_form")
}

impl<T> FromRequest<WebState> for WithFile<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Self, Self::Rejection> {
        if !crate::csrf::is_multipart(req.headers()) {
            let Form(form) = Form::<T>::from_request(req, s).await.map_err(IntoResponse::into_response)?;
            return Ok(WithFile { form, file: None });
        }
        let max = s.app.config.max_upload_bytes;
        let mut mp = Multipart::from_request(req, s).await.map_err(IntoResponse::into_response)?;
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut file: Option<Upload> = None;
        let mut count = 0;
        while let Some(mut field) = mp.next_field().await.map_err(|_| bad_form())? {
            count += 1;
            if count > FIELD_COUNT_LIMIT {
                return Err(bad_form());
            }
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let limit = if file_name.is_some() { max } else { TEXT_FIELD_LIMIT };
            let mut bytes = Vec::new();
            let mut over = false;
            while let Some(chunk) = field.chunk().await.map_err(|_| bad_form())? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > limit {
                    bytes.truncate(limit + 1);
                    over = true;
                    break;
                }
            }
            match file_name {
                // A file input left empty sends a part with no name and no content.
                Some(n) if n.is_empty() && bytes.is_empty() => {}
                Some(n) => {
                    if file.is_some() {
                        return Err(bad_form());
                    }
                    file = Some(Upload { name: n, bytes });
                    // Too large: the use case refuses it; the rest is not read.
                    if over {
                        break;
                    }
                }
                None if over => {
                    return Err(error_response(StatusCode::PAYLOAD_TOO_LARGE, "error.page.too_large"));
                }
                None => fields.push((name, String::from_utf8(bytes).map_err(|_| bad_form())?)),
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        let inner = Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .map_err(|_| bad_form())?;
        let Form(form) = Form::<T>::from_request(inner, s).await.map_err(IntoResponse::into_response)?;
        Ok(WithFile { form, file })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadForm {
    #[serde(default)]
    pub caption: String,
}

#[derive(Template)]
#[template(path = "patient_files.html")]
struct UploadPage {
    p: PageCtx,
    id: String,
    name: String,
    caption: String,
    hint: String,
    errors: FormErrors,
}

impl UploadPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

async fn upload_page(
    s: &WebState,
    a: Authed,
    id: &str,
    caption: String,
    errors: FormErrors,
) -> Result<Response, WebError> {
    let o = s.app.open_patient(&a.actor, id).await?;
    let mb = s.app.config.max_upload_bytes.div_ceil(1024 * 1024).to_string();
    render(&UploadPage {
        hint: a.page.t.fmt("files.hint", &[("limit", &mb)]),
        p: a.page,
        id: o.patient.id,
        name: o.patient.name,
        caption,
        errors,
    })
}

/// `GET /patients/{id}/files`: the upload form on a page of its own.
pub async fn upload_get(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    upload_page(&s, a, &id, String::new(), Vec::new()).await
}

/// `POST /patients/{id}/files`: uploads a photo or a file as a timeline entry.
pub async fn upload_post(
    State(s): State<WebState>,
    a: Authed,
    Path(id): Path<String>,
    f: WithFile<UploadForm>,
) -> Result<Response, WebError> {
    let up = f.file.unwrap_or_default();
    match s.app.upload_file(&a.actor, &id, up, &f.form.caption).await {
        Ok(e) => Ok(Redirect::to(&format!("/patients/{}#entry-{}", e.patient_id, e.id)).into_response()),
        Err(e) => {
            let errors = form_errors(&a.page.t, e)?;
            let mut r = upload_page(&s, a, &id, f.form.caption, errors).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

/// `filename*` of RFC 6266 / RFC 8187: UTF-8, percent-encoded.
fn rfc8187(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn file_response(c: FileContent) -> Response {
    content_response(c, "inline")
}

/// A file's bytes in its stored type, `inline` or as an `attachment`, never sniffed or cached
/// (the pages and the API's `Binary` alike).
pub fn content_response(c: FileContent, disposition: &str) -> Response {
    // An ASCII fallback for old clients; the real name in `filename*`.
    let ascii: String = c
        .name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() || "-._".contains(ch) { ch } else { '_' })
        .collect();
    let disposition = format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{}", rfc8187(&c.name));
    let mut r = Response::new(Body::from(c.bytes));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&c.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

/// `GET /patients/{id}/files/{file}`: the file, for team members.
pub async fn file_get(
    State(s): State<WebState>,
    a: Authed,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    Ok(file_response(s.app.attachment(&a.actor, &id, &file, false).await?))
}

/// `GET /patients/{id}/files/{file}/thumb`: an image's thumbnail, for team members.
pub async fn thumb_get(
    State(s): State<WebState>,
    a: Authed,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    Ok(file_response(s.app.attachment(&a.actor, &id, &file, true).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_japanese_file_name_is_percent_encoded_as_utf8() {
        assert_eq!(super::rfc8187("褥瘡 1.jpg"), "%E8%A4%A5%E7%98%A1%201.jpg");
    }
}
