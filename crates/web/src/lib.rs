//! The web layer: pages (server-rendered HTML), static assets, health and metrics. Handlers
//! parse input, call one use case of the app layer and render the answer; they never touch SQL
//! and never decide access on their own.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tsunagu_app::App;

pub mod assets;
pub mod bench;
pub mod csrf;
pub mod error;
pub mod fhir;
pub mod i18n;
pub mod ops;
pub mod pages;
pub mod security_headers;
pub mod session;
pub mod shutdown;
pub mod svg_chart;
pub mod tls;

pub use error::WebError;

/// Settings of the web layer.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when the server is reached over HTTPS).
    pub secure_cookies: bool,
    /// The map's tile URL template (`{z}/{x}/{y}`); empty: no background tiles.
    pub map_tile_url: String,
    /// The attribution shown on the map (HTML from the operator's configuration).
    pub map_attribution: String,
    /// Serve the load benchmark's baseline routes (`/bench/hello`, `/bench/rows/{patient_id}`,
    /// see [`bench`]): unchecked, unaudited reads for measuring only. Off by default.
    pub bench_routes: bool,
}

/// What every handler can reach: one shared [`Shared`].
///
/// Axum clones the state for every extractor and middleware of every request. Behind one `Arc`
/// that is one reference count; a plain struct cloned the dozen `Arc`s inside `App` and the store
/// each time, about 2% of the timeline read's CPU in atomic counts on cache lines both cores
/// touch (issue 6).
#[derive(Clone)]
pub struct WebState(Arc<Shared>);

/// The application, the site's settings and the metrics recorder.
pub struct Shared {
    pub app: App,
    pub config: WebConfig,
    pub metrics: ops::Metrics,
}

impl std::ops::Deref for WebState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The whole site as one router (also what tests drive with `oneshot`).
pub fn router(app: App, config: WebConfig) -> Router {
    let headers = security_headers::Policy::new(&config);
    let state = WebState(Arc::new(Shared { app, config, metrics: ops::Metrics::new() }));
    let x_request_id = axum::http::HeaderName::from_static("x-request-id");
    let bench = if state.config.bench_routes { bench::routes() } else { axum::Router::new() };
    pages::routes()
        .merge(bench)
        .merge(ops::routes())
        .merge(assets::routes())
        .merge(fhir::routes())
        .layer(middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(middleware::from_fn(error::render_errors))
        .layer(middleware::from_fn_with_state(headers, security_headers::add))
        // gzip for clients that ask (a timeline page: ~45 KB → ~7 KB); never for event streams
        // or images (tower-http's default predicate).
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), ops::track))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}
