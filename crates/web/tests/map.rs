//! The directory's map: vendored Leaflet and markercluster served from the binary, the CSP that
//! lets the configured tiles (and nothing else remote) load, and the `directory/_map.html`
//! partial other pages include.

// Helpers fail loudly; that is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use askama::Template;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use scraper::{Html, Selector};
use tower::ServiceExt;
use tsunagu_web::WebConfig;
use tsunagu_web::i18n::{Lang, Tr};
use tsunagu_web::security_headers::CSP;

const GSI: &str = "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png";
const STATIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/static");

/// GET `path`: status, headers and the raw body.
async fn get(router: &axum::Router, path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn img_src(csp: &str) -> String {
    csp.split(';').map(str::trim).find(|d| d.starts_with("img-src")).unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_vendored_map_libraries_are_served_from_the_binary_with_their_types() {
    let t = support::all().await.remove(0);
    let files = [
        ("map.js", "text/javascript; charset=utf-8"),
        ("vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
        ("vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
        ("vendor/leaflet/LICENSE", "text/plain; charset=utf-8"),
        ("vendor/leaflet/images/marker-icon.png", "image/png"),
        ("vendor/leaflet/images/marker-icon-2x.png", "image/png"),
        ("vendor/leaflet/images/marker-shadow.png", "image/png"),
        ("vendor/leaflet/images/layers.png", "image/png"),
        ("vendor/leaflet/images/layers-2x.png", "image/png"),
        ("vendor/markercluster/leaflet.markercluster.js", "text/javascript; charset=utf-8"),
        ("vendor/markercluster/MarkerCluster.css", "text/css; charset=utf-8"),
        ("vendor/markercluster/MarkerCluster.Default.css", "text/css; charset=utf-8"),
        ("vendor/markercluster/MIT-LICENCE.txt", "text/plain; charset=utf-8"),
        // What was there before still is.
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
    ];
    for (file, mime) in files {
        let (status, headers, body) = get(&t.router, &format!("/static/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), mime, "{file}");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "public, max-age=3600", "{file}");
        assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff", "{file}");
        let on_disk = std::fs::read(format!("{STATIC}/{file}")).unwrap();
        assert!(body == on_disk, "{file}: the served bytes differ from the file");
    }
    let (_, _, leaflet) = get(&t.router, "/static/vendor/leaflet/leaflet.js").await;
    assert!(String::from_utf8_lossy(&leaflet[..200]).contains("Leaflet 1.9.4"));
    let (_, _, cluster) = get(&t.router, "/static/vendor/markercluster/leaflet.markercluster.js").await;
    assert!(String::from_utf8_lossy(&cluster).contains("L.MarkerClusterGroup="));

    for missing in [
        "/static/vendor/leaflet/leaflet.js.map",
        "/static/vendor/leaflet/nothing.png",
        "/static/vendor/leaflet/../../style.css",
        "/static/vendor/",
    ] {
        assert_eq!(get(&t.router, missing).await.0, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn every_image_the_leaflet_style_sheet_names_is_served() {
    let t = support::all().await.remove(0);
    let (_, _, css) = get(&t.router, "/static/vendor/leaflet/leaflet.css").await;
    let css = String::from_utf8(css).unwrap();
    let mut seen = 0;
    for (i, _) in css.match_indices("url(") {
        let url: String = css[i + 4..].chars().take_while(|c| *c != ')').collect();
        let url = url.trim_matches(['"', '\'']);
        if url.starts_with('#') {
            continue; // url(#default#VML): old Internet Explorer only
        }
        assert!(!url.contains("//"), "leaflet.css loads from elsewhere: {url}");
        let (status, headers, _) = get(&t.router, &format!("/static/vendor/leaflet/{url}")).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "image/png", "{url}");
        seen += 1;
    }
    assert!(seen >= 3, "leaflet.css names its images: {seen}");
    // map.js names the marker images' folder itself.
    let js = std::fs::read_to_string(format!("{STATIC}/map.js")).unwrap();
    assert!(js.contains(r#"L.Icon.Default.imagePath = "/static/vendor/leaflet/images/""#));
}

#[tokio::test]
async fn the_csp_lets_the_configured_tiles_load_and_nothing_else() {
    for t in support::all().await {
        let b = t.name();
        // Without a tile URL (what the tests run with): the strict policy, unchanged.
        let (_, headers, _) = get(&t.router, "/login").await;
        let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert_eq!(csp, CSP, "{b}");
        assert_eq!(img_src(csp), "img-src 'self' data:", "{b}");
        assert!(!csp.contains("http"), "{b}: {csp}");

        // With GSI tiles: their origin, in img-src only, without the template's path.
        let config = WebConfig { map_tile_url: GSI.into(), ..WebConfig::default() };
        let router = tsunagu_web::router(t.app.clone(), config);
        for path in ["/login", "/static/map.js", "/no-such-page"] {
            let (_, headers, _) = get(&router, path).await;
            let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
            assert_eq!(img_src(csp), "img-src 'self' data: https://cyberjapandata.gsi.go.jp", "{b}: {path}");
            assert_eq!(csp.matches("cyberjapandata").count(), 1, "{b}: {path}: {csp}");
            assert!(!csp.contains("/xyz") && !csp.contains("{z}"), "{b}: {path}: {csp}");
            // Everything else stays as strict as ever.
            let rest = |c: &str| -> Vec<String> {
                c.split(';').map(str::trim).filter(|d| !d.starts_with("img-src")).map(String::from).collect()
            };
            assert_eq!(rest(csp), rest(CSP), "{b}: {path}");
        }

        // A self-hosted tile server on a port of its own.
        let config = WebConfig {
            map_tile_url: "http://tiles.example.jp:8080/osm/{z}/{x}/{y}.png".into(),
            ..WebConfig::default()
        };
        let (_, headers, _) = get(&tsunagu_web::router(t.app.clone(), config), "/login").await;
        let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert_eq!(img_src(csp), "img-src 'self' data: http://tiles.example.jp:8080", "{b}");

        // A template a policy cannot name adds nothing (and breaks nothing).
        let config =
            WebConfig { map_tile_url: "https://[::1]/{z}/{x}/{y}.png".into(), ..WebConfig::default() };
        let (status, headers, _) = get(&tsunagu_web::router(t.app.clone(), config), "/login").await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(headers.get("content-security-policy").unwrap(), CSP, "{b}");
    }
}

#[test]
fn the_map_script_and_partial_load_nothing_from_elsewhere() {
    let templates = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
    for file in [format!("{STATIC}/map.js"), format!("{templates}/directory/_map.html")] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("://"), "{file} names a remote address");
        for quote in ["\"//", "'//", "`//", "(//"] {
            assert!(!text.contains(quote), "{file} names a protocol-relative address ({quote})");
        }
        assert!(!text.contains("innerHTML") && !text.contains("outerHTML"), "{file}: HTML built from data");
        assert!(!text.contains("insertAdjacentHTML") && !text.contains("document.write"), "{file}");
        assert!(!text.contains("style="), "{file}: an inline style (the CSP refuses it)");
        assert!(!text.contains("eval(") && !text.contains("new Function"), "{file}");
    }
}

/// What a page gives the partial: its context (here only the catalog) and the map's settings.
struct Ctx {
    t: Tr,
}

/// The partial as a page with only the required fields includes it.
#[derive(Template)]
#[template(
    source = r#"<main>{% include "directory/_map.html" %}<ul id="results"></ul></main>"#,
    ext = "html"
)]
struct Plain {
    p: Ctx,
    map_tiles: String,
    map_attribution: String,
}

/// With every optional setting: two as `let`s, the others as fields.
#[derive(Template)]
#[template(
    source = r##"<main>{% let map_pick = "near" %}{% let map_markers = "#found" %}<input id="near" name="near">{% include "directory/_map.html" %}</main>"##,
    ext = "html"
)]
struct Full {
    p: Ctx,
    map_tiles: String,
    map_attribution: String,
    map_circle: String,
    map_center: String,
    map_zoom: u8,
}

fn parse(html: &str) -> Html {
    Html::parse_fragment(html)
}

fn one<'a>(doc: &'a Html, css: &str) -> scraper::ElementRef<'a> {
    let sel = Selector::parse(css).unwrap();
    let mut all = doc.select(&sel);
    let first = all.next().unwrap_or_else(|| panic!("no {css}"));
    assert!(all.next().is_none(), "more than one {css}");
    first
}

fn count(doc: &Html, css: &str) -> usize {
    doc.select(&Selector::parse(css).unwrap()).count()
}

#[test]
fn the_partial_renders_the_map_element_its_assets_and_nothing_inline() {
    let attribution = r#"<a href="https://maps.gsi.go.jp/development/ichiran.html">地理院タイル</a> & "x""#;
    let html =
        Plain { p: Ctx { t: Tr::new(Lang::Ja) }, map_tiles: GSI.into(), map_attribution: attribution.into() }
            .render()
            .unwrap();
    let doc = parse(&html);
    let map = one(&doc, "div.map#map[hidden]").value();
    assert_eq!(map.attr("data-tiles"), Some(GSI));
    // Escaped in the page, the operator's HTML again in the attribute's value.
    assert_eq!(map.attr("data-attribution"), Some(attribution));
    assert!(!html.contains("<a href=\"https://maps"), "the attribution is escaped: {html}");
    assert_eq!(map.attr("data-markers"), Some("#results"));
    assert_eq!(map.attr("aria-label"), Some("地図"));
    assert_eq!(map.attr("role"), Some("region"));
    for absent in ["data-pick", "data-circle", "data-center", "data-zoom"] {
        assert_eq!(map.attr(absent), None, "{absent}");
    }
    assert_eq!(count(&doc, "button[data-locate]"), 0);
    assert_eq!(count(&doc, "[data-map-hint]"), 0);

    let sheets: Vec<_> = doc
        .select(&Selector::parse("link[rel=stylesheet]").unwrap())
        .filter_map(|l| l.value().attr("href"))
        .collect();
    assert_eq!(
        sheets,
        [
            "/static/vendor/leaflet/leaflet.css",
            "/static/vendor/markercluster/MarkerCluster.css",
            "/static/vendor/markercluster/MarkerCluster.Default.css"
        ]
    );
    let scripts: Vec<_> = doc
        .select(&Selector::parse("script").unwrap())
        .map(|s| {
            assert!(s.value().attr("defer").is_some(), "scripts wait for the page");
            s.value().attr("src").unwrap_or("an inline script")
        })
        .collect();
    assert_eq!(
        scripts,
        [
            "/static/vendor/leaflet/leaflet.js",
            "/static/vendor/markercluster/leaflet.markercluster.js",
            "/static/map.js"
        ]
    );
    assert_eq!(count(&doc, "[style]") + count(&doc, "style"), 0);

    // Without tiles the attribute is there, empty: map.js draws no background.
    let html =
        Plain { p: Ctx { t: Tr::new(Lang::En) }, map_tiles: String::new(), map_attribution: String::new() }
            .render()
            .unwrap();
    let doc = parse(&html);
    let map = one(&doc, "div.map#map").value();
    assert_eq!(map.attr("data-tiles"), Some(""));
    assert_eq!(map.attr("aria-label"), Some("Map"));
}

#[test]
fn the_optional_settings_become_the_map_s_attributes_and_the_locate_button() {
    let html = Full {
        p: Ctx { t: Tr::new(Lang::Ja) },
        map_tiles: String::new(),
        map_attribution: String::new(),
        map_circle: "36.56130,136.65620,2.5".into(),
        map_center: "36.5,136.6".into(),
        map_zoom: 11,
    }
    .render()
    .unwrap();
    let doc = parse(&html);
    let map = one(&doc, "div.map#map").value();
    assert_eq!(map.attr("data-markers"), Some("#found"));
    assert_eq!(map.attr("data-pick"), Some("near"));
    assert_eq!(map.attr("data-circle"), Some("36.56130,136.65620,2.5"));
    assert_eq!(map.attr("data-center"), Some("36.5,136.6"));
    assert_eq!(map.attr("data-zoom"), Some("11"));
    // Shown by map.js only (no JavaScript, no geolocation: no button that does nothing).
    let button = one(&doc, "button[type=button][data-locate=near][hidden]").value();
    assert_eq!(
        button.attr("data-locate-error"),
        Some("現在地を取得できませんでした。地図をクリックするか、緯度・経度を入力してください。")
    );
    assert_eq!(one(&doc, "button[data-locate]").text().collect::<String>(), "現在地を使う");
    one(&doc, ".map-status[role=status]");
    one(&doc, "p.map-hint[data-map-hint=near][hidden]");
}

#[tokio::test]
async fn the_vendored_files_are_the_packages_files_and_all_are_served() {
    use sha2::{Digest, Sha256};
    let t = support::all().await.remove(0);
    let vendor = format!("{STATIC}/vendor");
    let readme = std::fs::read_to_string(format!("{vendor}/README.md")).unwrap();
    let listed: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(sum, _)| sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    let mut on_disk = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(&vendor)];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n != "README.md") {
                on_disk.push(path.strip_prefix(&vendor).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    on_disk.sort();
    let mut names: Vec<String> = listed.iter().map(|(_, n)| n.to_string()).collect();
    names.sort();
    assert_eq!(names, on_disk, "README.md lists every vendored file");
    for (sum, name) in listed {
        let bytes = std::fs::read(format!("{vendor}/{name}")).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sum, "{name} differs from the package's file");
        let (status, _, body) = get(&t.router, &format!("/static/vendor/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{name} is not served");
        assert!(body == bytes, "{name}");
    }
}
