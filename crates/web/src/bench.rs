//! The load benchmark's baseline routes (`tsunagu-bench`, issue 6): served **only** when the
//! configuration sets `bench_routes = true` (off by default). They measure the server stack
//! itself, so the product's routes can be judged as ratios to them in the same run:
//!
//! - `GET /bench/hello` — a fixed short text: the cost of the stack (listener, HTTP, the
//!   middleware every request goes through) with no work behind it;
//! - `GET /bench/rows/{patient_id}` — the 20 newest timeline entries of a patient as plain JSON,
//!   read by one indexed query through [`App::bench_bare_timeline`]: **no session or token, no
//!   consent or membership check, no audit event, no template**. It is the floor under the real
//!   timeline read, never a way to patient data on a server holding real patients;
//! - `GET /bench/writer` — how many transactions the SQLite writer acknowledged and in how many
//!   commits (counts only; `null` on PostgreSQL), so the benchmark can show the group commit.
//!
//! [`App::bench_bare_timeline`]: tsunagu_app::App::bench_bare_timeline

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{WebError, WebState};

/// The routes, to merge into the site only when `WebConfig::bench_routes` is set.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/bench/hello", get(hello))
        .route("/bench/rows/{patient_id}", get(rows))
        .route("/bench/writer", get(writer))
}

async fn hello() -> &'static str {
    "hello\n"
}

async fn writer(State(s): State<WebState>) -> Response {
    let v = match s.app.bench_write_stats() {
        Some(w) => serde_json::json!({ "members": w.members, "commits": w.commits }),
        None => serde_json::Value::Null,
    };
    let mut r = v.to_string().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn rows(State(s): State<WebState>, Path(patient_id): Path<String>) -> Result<Response, WebError> {
    let rows = s.app.bench_bare_timeline(&patient_id).await?;
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "kind": e.kind,
                "author": e.author_id,
                "created_at": e.created_at,
                "occurred_at": e.occurred_at,
                "body": e.body,
                "data": e.data,
            })
        })
        .collect();
    let mut r = serde_json::to_vec(&items)
        .map_err(|e| tsunagu_app::AppError::Internal(e.to_string()))?
        .into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}
