//! The directory's data in and out (issue 4, point 7):
//!
//! - `GET /directory/export.csv` — the whole directory as CSV (the national open-data columns
//!   first), for anyone; public fields only.
//! - `GET /directory/export.json` — the same as Open Referral HSDS 3 JSON; a logged-in
//!   professional also gets the physicians' consultation hours.
//! - `GET /directory/import`, `POST /directory/import` — the home-care coordinator (or an
//!   administrator) imports national open-data files: multipart, one or more files, its CSRF
//!   token in the query string like every upload; the page shows the counts and the rows that
//!   could not be used, by file and line.
//!
//! Both exports are streamed a page of providers at a time, so a prefecture's directory never
//! sits in memory whole.

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tsunagu_app::AppError;
use tsunagu_app::directory::export::{DirectoryExport, ExportFormat, ExportScope};
use tsunagu_app::directory::import::{ImportReport, RefusedFile};
use tsunagu_domain::FieldError;

use crate::WebState;
use crate::error::{WebError, error_response};
use crate::i18n::Tr;
use crate::pages::{FormErrors, field_error, render};
use crate::session::{Authed, PageCtx, Visitor};

/// The largest file taken, in MB (the national file of home help is about 16 MB).
pub const IMPORT_FILE_MB: usize = 64;
/// All files of one upload together, in MB.
pub const IMPORT_TOTAL_MB: usize = 256;
/// Parts of one upload beyond this many are refused.
const IMPORT_PART_LIMIT: usize = 64;
/// Rejected rows shown on the page (all are counted).
pub const REJECTED_SHOWN: usize = 500;

// ---- Export ---------------------------------------------------------------------------------

/// `GET /directory/export.csv`
pub async fn export_csv(State(s): State<WebState>, v: Visitor) -> Result<Response, WebError> {
    export(&s, &v, ExportFormat::Csv).await
}

/// `GET /directory/export.json`
pub async fn export_json(State(s): State<WebState>, v: Visitor) -> Result<Response, WebError> {
    export(&s, &v, ExportFormat::Hsds).await
}

async fn export(s: &WebState, v: &Visitor, format: ExportFormat) -> Result<Response, WebError> {
    let mut e = s.app.export_directory(format, ExportScope::for_viewer(v.actor.as_ref()));
    // The first piece before the headers go out, so a failing store is an error page.
    let first = e.next_chunk().await?.unwrap_or_default();
    let rest = futures_util::stream::unfold(e, |mut e: DirectoryExport| async move {
        match e.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), e)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "the directory export stopped part-way");
                Some((Err(std::io::Error::other("export failed")), e))
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(first)) })
        .chain(rest);
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if format == ExportFormat::Csv {
        let disposition = format!("attachment; filename=\"{}\"", format.file_name());
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(r)
}

// ---- Import ---------------------------------------------------------------------------------

/// One line of a table of the report, in the page's language.
struct ReportLine {
    file: String,
    line: String,
    field: String,
    reason: String,
}

struct ReportView {
    files: usize,
    rows: usize,
    created: usize,
    updated: usize,
    unchanged: usize,
    rejected_total: usize,
    refused: Vec<ReportLine>,
    rejected: Vec<ReportLine>,
    /// "Showing the first … rows" when not every rejected row is shown.
    shown_note: Option<String>,
}

fn field_label(t: &Tr, field: &str) -> String {
    match field {
        "row" => t.get("directory_data.row").to_string(),
        "file" => t.get("directory_data.file").to_string(),
        other => other.to_string(),
    }
}

impl ReportView {
    fn new(t: &Tr, r: ImportReport) -> Self {
        let refused = r
            .refused
            .iter()
            .map(|x| ReportLine {
                file: x.file.clone(),
                line: String::new(),
                field: field_label(t, x.error.field),
                reason: t.error(&x.error),
            })
            .collect();
        let total = r.rejected.len();
        let rejected = r
            .rejected
            .iter()
            .take(REJECTED_SHOWN)
            .map(|x| ReportLine {
                file: x.file.clone(),
                line: x.line.to_string(),
                field: field_label(t, x.error.field),
                reason: t.error(&x.error),
            })
            .collect();
        let shown_note = (total > REJECTED_SHOWN).then(|| {
            t.fmt(
                "directory_data.shown_first",
                &[("shown", &REJECTED_SHOWN.to_string()), ("count", &total.to_string())],
            )
        });
        ReportView {
            files: r.files,
            rows: r.rows,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            rejected_total: total,
            refused,
            rejected,
            shown_note,
        }
    }
}

#[derive(Template)]
#[template(path = "directory/import.html")]
struct ImportPage {
    p: PageCtx,
    hint: String,
    report: Option<ReportView>,
    errors: FormErrors,
}

impl ImportPage {
    fn err(&self, f: &str) -> Option<&str> {
        field_error(&self.errors, f)
    }
}

fn import_page(p: PageCtx, report: Option<ReportView>, errors: FormErrors) -> Result<Response, WebError> {
    let hint = p.t.fmt("directory_data.files_hint", &[("limit", &IMPORT_FILE_MB.to_string())]);
    render(&ImportPage { p, hint, report, errors })
}

/// `GET /directory/import`: the form (the coordinator and administrators only).
pub async fn import_get(State(s): State<WebState>, a: Authed) -> Result<Response, WebError> {
    s.app.ensure_may_import(&a.actor).await?;
    import_page(a.page, None, Vec::new())
}

fn bad_form() -> Response {
    error_response(StatusCode::BAD_REQUEST, "error.page.bad_form")
}

/// The uploaded files: `(name, content)`, and the ones refused for their size.
async fn read_files(mut mp: Multipart) -> Result<(Vec<(String, Vec<u8>)>, Vec<RefusedFile>), Response> {
    let (file_limit, total_limit) = (IMPORT_FILE_MB * 1024 * 1024, IMPORT_TOTAL_MB * 1024 * 1024);
    let (mut files, mut refused, mut parts, mut total) = (Vec::new(), Vec::new(), 0, 0usize);
    while let Some(mut field) = mp.next_field().await.map_err(|_| bad_form())? {
        parts += 1;
        if parts > IMPORT_PART_LIMIT {
            return Err(bad_form());
        }
        // Text parts (a repeated CSRF field) are not needed: the token is in the query.
        let Some(name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let mut bytes = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.chunk().await.map_err(|_| bad_form())? {
            total += chunk.len();
            if total > total_limit {
                return Err(error_response(StatusCode::PAYLOAD_TOO_LARGE, "error.page.too_large"));
            }
            bytes.extend_from_slice(&chunk);
            if bytes.len() > file_limit {
                over = true;
                break;
            }
        }
        if over {
            refused.push(RefusedFile {
                file: name,
                error: FieldError::with_limit("file", "directory_data.file_too_large", IMPORT_FILE_MB),
            });
        } else if !(name.is_empty() && bytes.is_empty()) {
            // A file input left empty sends a part with no name and no content.
            files.push((name, bytes));
        }
    }
    Ok((files, refused))
}

/// `POST /directory/import`: imports every file sent and shows what happened.
pub async fn import_post(
    State(s): State<WebState>,
    a: Authed,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    // Refused before a byte of the files is read.
    s.app.ensure_may_import(&a.actor).await?;
    a.actor.ensure_may_write()?;
    let Ok(mp) = mp else {
        return Ok(bad_form());
    };
    let (files, too_large) = match read_files(mp).await {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    if files.is_empty() && too_large.is_empty() {
        let errors = vec![("files".to_string(), a.page.t.get("directory_data.no_files").to_string())];
        let mut r = import_page(a.page, None, errors)?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    let mut report = ImportReport { files: too_large.len(), refused: too_large, ..ImportReport::default() };
    for (name, bytes) in files {
        match s.app.import_directory(&a.actor, &name, &bytes).await {
            Ok(r) => report.merge(r),
            Err(AppError::Invalid(inv)) => report.refuse(&name, inv),
            Err(e) => return Err(WebError(e)),
        }
    }
    let view = ReportView::new(&a.page.t, report);
    import_page(a.page, Some(view), Vec::new()).map(IntoResponse::into_response)
}
