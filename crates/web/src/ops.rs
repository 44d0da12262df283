//! Operations: `/healthz`, Prometheus `/metrics`, and request counting.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::WebState;

/// The metrics recorder of this process.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<Arc<PrometheusHandle>>,
}

impl Metrics {
    /// Installs the process-wide recorder on first use; later routers share it.
    pub fn new() -> Self {
        static HANDLE: std::sync::OnceLock<Option<Arc<PrometheusHandle>>> = std::sync::OnceLock::new();
        let handle = HANDLE
            .get_or_init(|| {
                let handle = Arc::new(PrometheusBuilder::new().install_recorder().ok()?);
                spawn_upkeep(handle.clone());
                Some(handle)
            })
            .clone();
        Metrics { handle }
    }
}

/// How often the recorder's histograms are drained into their summaries.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Drains the recorder's histograms every [`UPKEEP_EVERY`] for the life of the process.
///
/// A histogram keeps every value recorded until it is drained into its summary, which the
/// exporter does only when `/metrics` is scraped or upkeep runs. With no scraper (the default
/// set-up) that was 8 bytes per request forever: tens of megabytes of resident memory after a few
/// million requests (docs/performance.md, "Tenth increment"). A plain thread, so the recorder
/// needs no runtime and a test's short-lived runtime cannot stop it.
fn spawn_upkeep(handle: Arc<PrometheusHandle>) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep; histograms are drained only when scraped");
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

pub fn routes() -> Router<WebState> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics))
}

async fn healthz(State(s): State<WebState>) -> Response {
    match s.app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics(State(s): State<WebState>) -> Response {
    match &s.metrics.handle {
        Some(h) => {
            let mut r = h.render().into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Counts requests and their latency by route and status, and logs each with its request id.
pub async fn track(State(_s): State<WebState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let request_id =
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let elapsed = start.elapsed();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    // The route pattern, never the path: paths may carry ids of people.
    tracing::info!(request_id, method, route, status, ms = elapsed.as_millis() as u64, "request");
    res
}
