//! A strict Content-Security-Policy and the other headers every response carries. No inline
//! script or style anywhere: every script and style is a file served from `/static`.
//!
//! The one variable part is the map: when the operator configures a tile URL, the tiles' origin
//! (scheme, host and port only, never the whole template) is allowed in `img-src`. Leaflet sets
//! positions and sizes through the CSSOM (`element.style`), which `style-src 'self'` allows; it
//! writes no `style` attributes. `data:` stays in `img-src`: Leaflet blanks removed tiles with a
//! `data:` GIF.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::WebConfig;

/// The policy of a server without map tiles (and the base of every policy).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMG_SRC: &str = "img-src 'self' data:";

/// The headers' variable part, computed once when the router is built.
#[derive(Clone, Debug)]
pub struct Policy {
    csp: HeaderValue,
}

impl Policy {
    pub fn new(config: &WebConfig) -> Self {
        let tiles = config.map_tile_url.trim();
        let source = tile_source(tiles);
        if !tiles.is_empty() && source.is_none() {
            tracing::warn!(
                "the map's tile URL has no origin a Content-Security-Policy can name: map tiles will not load"
            );
        }
        let text = csp_with_tiles(source.as_deref());
        // A source is built from checked characters only; fall back to the strict policy anyway.
        let csp = HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(CSP));
        Policy { csp }
    }

    /// The Content-Security-Policy this server sends.
    pub fn csp(&self) -> &str {
        self.csp.to_str().unwrap_or(CSP)
    }
}

/// The policy with `source` (a CSP host source, see [`tile_source`]) added to `img-src`.
pub fn csp_with_tiles(source: Option<&str>) -> String {
    match source {
        Some(s) => CSP.replacen(IMG_SRC, &format!("{IMG_SRC} {s}"), 1),
        None => CSP.to_string(),
    }
}

/// The CSP host source that allows a tile URL template's images: `scheme://host[:port]`. A
/// placeholder in the first label of the host (`https://{s}.tile.example.org/{z}/{x}/{y}.png`)
/// becomes `*`. `None` for an empty or relative template (`'self'` covers those), a scheme other
/// than http(s), or a host a policy cannot name (an IPv6 address, a placeholder elsewhere).
pub fn tile_source(template: &str) -> Option<String> {
    let template = template.trim();
    if template.is_empty() {
        return None;
    }
    let url = url::Url::parse(template).ok()?;
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(_) => return None,
    };
    let host = match host.split_once('.') {
        Some((first, rest)) if first.contains('{') => format!("*.{rest}"),
        _ => host,
    };
    let labels = host.strip_prefix("*.").unwrap_or(&host);
    let host_chars = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !labels.split('.').all(host_chars) {
        return None;
    }
    Some(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

pub async fn add(State(policy): State<Policy>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", policy.csp.clone());
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(self)"));
    if !h.contains_key("cache-control") {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tile_origin_is_scheme_host_and_port_only() {
        let gsi = "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png";
        assert_eq!(tile_source(gsi).as_deref(), Some("https://cyberjapandata.gsi.go.jp"));
        assert_eq!(
            tile_source("http://tiles.example.jp:8080/osm/{z}/{x}/{y}.png?key=secret").as_deref(),
            Some("http://tiles.example.jp:8080")
        );
        assert_eq!(
            tile_source("https://Tiles.Example.JP:443/{z}/{x}/{y}.png").as_deref(),
            Some("https://tiles.example.jp")
        );
        assert_eq!(
            tile_source("http://127.0.0.1:9000/{z}/{x}/{y}.png").as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn a_subdomain_placeholder_becomes_a_wildcard() {
        assert_eq!(
            tile_source("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.openstreetmap.org")
        );
        assert_eq!(
            tile_source("https://tile-{s}.example.jp/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.example.jp")
        );
    }

    #[test]
    fn templates_a_policy_cannot_name_add_nothing() {
        for t in [
            "",
            "  ",
            "/tiles/{z}/{x}/{y}.png",
            "ftp://tiles.example.jp/{z}/{x}/{y}.png",
            "javascript:alert(1)",
            "https://[::1]:8080/{z}/{x}/{y}.png",
            "https://tiles.{s}.example.jp/{z}/{x}/{y}.png",
            "https://a;script-src/{z}/{x}/{y}.png",
            "https://a'b/{z}/{x}/{y}.png",
        ] {
            assert_eq!(tile_source(t), None, "{t}");
        }
    }

    #[test]
    fn the_policy_adds_the_tile_origin_to_img_src_only() {
        let empty = Policy::new(&WebConfig::default());
        assert_eq!(empty.csp(), CSP);
        let gsi = Policy::new(&WebConfig {
            map_tile_url: "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png".into(),
            ..WebConfig::default()
        });
        let img: Vec<&str> =
            gsi.csp().split(';').map(str::trim).filter(|d| d.starts_with("img-src")).collect();
        assert_eq!(img, ["img-src 'self' data: https://cyberjapandata.gsi.go.jp"]);
        assert_eq!(gsi.csp().matches("gsi.go.jp").count(), 1, "{}", gsi.csp());
        assert!(!gsi.csp().contains("{z}"));
    }
}
