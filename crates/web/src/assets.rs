//! Static assets, embedded in the binary: no CDN.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::WebState;

const FILES: &[(&str, &str, &[u8])] = &[
    ("style.css", "text/css; charset=utf-8", include_bytes!("../static/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../static/app.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../static/favicon.svg")),
    // The directory's map: Leaflet 1.9.4 and Leaflet.markercluster 1.5.3, the npm packages' `dist`
    // files unchanged (static/vendor/*/ keeps their licences). leaflet.css loads images/… relatively.
    ("map.js", JS, include_bytes!("../static/map.js")),
    ("vacancies.js", JS, include_bytes!("../static/vacancies.js")),
    ("vendor/leaflet/leaflet.js", JS, include_bytes!("../static/vendor/leaflet/leaflet.js")),
    ("vendor/leaflet/leaflet.css", CSS, include_bytes!("../static/vendor/leaflet/leaflet.css")),
    ("vendor/leaflet/LICENSE", TEXT, include_bytes!("../static/vendor/leaflet/LICENSE")),
    ("vendor/leaflet/images/layers.png", PNG, include_bytes!("../static/vendor/leaflet/images/layers.png")),
    (
        "vendor/leaflet/images/layers-2x.png",
        PNG,
        include_bytes!("../static/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon.png",
        PNG,
        include_bytes!("../static/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon-2x.png",
        PNG,
        include_bytes!("../static/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-shadow.png",
        PNG,
        include_bytes!("../static/vendor/leaflet/images/marker-shadow.png"),
    ),
    (
        "vendor/markercluster/leaflet.markercluster.js",
        JS,
        include_bytes!("../static/vendor/markercluster/leaflet.markercluster.js"),
    ),
    (
        "vendor/markercluster/MarkerCluster.css",
        CSS,
        include_bytes!("../static/vendor/markercluster/MarkerCluster.css"),
    ),
    (
        "vendor/markercluster/MarkerCluster.Default.css",
        CSS,
        include_bytes!("../static/vendor/markercluster/MarkerCluster.Default.css"),
    ),
    (
        "vendor/markercluster/MIT-LICENCE.txt",
        TEXT,
        include_bytes!("../static/vendor/markercluster/MIT-LICENCE.txt"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";
const TEXT: &str = "text/plain; charset=utf-8";

pub fn routes() -> Router<WebState> {
    // A path, not one segment: the vendored libraries keep their folders (`vendor/leaflet/images/…`).
    Router::new().route("/static/{*file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == file) {
        Some((_, mime, body)) => {
            let mut r = (*body).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
