//! Helpers for the router tests: a test application per backend (fresh database, demo region,
//! a clock the test moves, cheap password hashing), and a small browser-like client that keeps
//! cookies, repeats the page's CSRF token in forms, and reads pages with CSS selectors.

// Failing loudly with a message is what a test helper is for.
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod fhir;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use scraper::{Html, Selector};
use tower::ServiceExt;
use tsunagu_app::{App, AppConfig};
use tsunagu_domain::audit::StoredEvent;
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::Backend;
use tsunagu_store::testing::{self, TestDb};
use tsunagu_web::WebConfig;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "demo-password-123";

/// 2026-11-24T00:30:00Z (09:30 in Kanazawa): where every test clock starts.
pub const START: Timestamp = Timestamp(1_795_480_200_000_000);

/// A valid 4×3 red PNG image.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x08, 0x02, 0x00, 0x00, 0x00, 0x3b, 0x96, 0x39, 0x91, 0x00,
    0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x38, 0x21, 0x27, 0x07, 0x47, 0x0c, 0x38,
    0x39, 0x00, 0xf5, 0xc7, 0x0c, 0x31, 0x07, 0xeb, 0xad, 0x99, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The smallest memory argon2 accepts (8 KiB: two blocks per sync point, 8 × parallelism).
const ARGON2_MIN_MEMORY_KIB: u32 = 8;

/// One application under test, on one backend, with the demo region loaded.
pub struct TestApp {
    pub backend: Backend,
    pub app: App,
    pub clock: FixedClock,
    pub router: Router,
    /// The attachments folder (removed with the application).
    pub files: tempfile::TempDir,
    _db: TestDb,
}

/// A fresh test application on every backend the store harness finds.
pub async fn all() -> Vec<TestApp> {
    let mut out = Vec::new();
    for db in testing::all().await {
        out.push(TestApp::new(db).await);
    }
    out
}

impl TestApp {
    pub async fn new(db: TestDb) -> TestApp {
        let clock = FixedClock::at(START);
        // Each application keeps its photos and files in a folder of its own.
        let files = tempfile::tempdir().expect("attachments folder");
        let config = AppConfig {
            argon2_memory_kib: ARGON2_MIN_MEMORY_KIB,
            argon2_iterations: 1,
            attachments_dir: files.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        app.load_demo(DEMO_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{:?}: loading the demo failed: {e}", db.backend));
        let router = tsunagu_web::router(app.clone(), WebConfig::default());
        TestApp { backend: db.backend, app, clock, router, files, _db: db }
    }

    /// The backend's name, for assertion messages.
    pub fn name(&self) -> String {
        format!("{:?}", self.backend)
    }

    /// A client with no cookies, from an address of its own.
    pub fn client(&self) -> Client {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let [_, a, b, c] = n.to_be_bytes();
        // 10.x.y.z: a private address per client, so per-address throttling of one test's
        // clients cannot touch another's.
        self.client_from(IpAddr::V4(Ipv4Addr::new(10, a, b, c.max(1))))
    }

    /// A client with no cookies, connecting from `ip`.
    pub fn client_from(&self, ip: IpAddr) -> Client {
        Client {
            router: self.router.clone(),
            backend: self.name(),
            address: Some(SocketAddr::new(ip, 40_000)),
            cookies: BTreeMap::new(),
            csrf: None,
            accept_language: None,
        }
    }

    /// A client logged in as a demo account.
    pub async fn login(&self, login: &str) -> Client {
        let mut c = self.client();
        c.login(login, DEMO_PASSWORD).await.assert_redirect("/");
        c
    }

    pub fn advance_minutes(&self, m: i64) {
        self.clock.advance_seconds(m * 60);
    }

    /// The id of an account.
    pub async fn user_id(&self, login: &str) -> String {
        self.app
            .store
            .user_by_login(login)
            .await
            .expect("user_by_login")
            .unwrap_or_else(|| panic!("{}: no account {login}", self.name()))
            .id
    }

    /// Every audit event, oldest first.
    pub async fn audit(&self) -> Vec<StoredEvent> {
        self.app.store.audit_events_after(0, 100_000).await.expect("audit events")
    }

    /// The audit chain verifies with no findings.
    pub async fn assert_audit_chain_intact(&self) {
        let report = self.app.verify_audit(vec![]).await.expect("verify audit");
        assert!(report.findings.is_empty(), "{}: audit chain findings: {:?}", self.name(), report.findings);
        assert!(report.checked > 0, "{}: the audit chain is empty", self.name());
    }

    pub async fn organisation_names(&self) -> Vec<String> {
        self.app
            .store
            .list_organisations()
            .await
            .expect("list organisations")
            .into_iter()
            .map(|o| o.name)
            .collect()
    }
}

/// A browser, as far as these tests need one: cookies, the page's CSRF token, a language, and
/// a client address (what `ConnectInfo` would carry behind a real socket).
pub struct Client {
    router: Router,
    pub backend: String,
    pub address: Option<SocketAddr>,
    cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page that had a form.
    csrf: Option<String>,
    pub accept_language: Option<String>,
}

impl Client {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }

    pub fn remove_cookie(&mut self, name: &str) {
        self.cookies.remove(name);
    }

    /// Sends a request with the client's cookies and address, and keeps what comes back.
    pub async fn send(&mut self, mut req: Request<Body>) -> Page {
        let method = req.method().clone();
        let path = req.uri().to_string();
        if !self.cookies.is_empty() {
            let jar = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            req.headers_mut().insert(header::COOKIE, jar.parse().expect("cookie header"));
        }
        if let Some(l) = &self.accept_language {
            req.headers_mut().insert(header::ACCEPT_LANGUAGE, l.parse().expect("accept-language"));
        }
        if let Some(a) = self.address {
            req.extensions_mut().insert(ConnectInfo(a));
        }
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {method} {path}: the router failed: {e}", self.backend));
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{}: {method} {path}: reading the body: {e}", self.backend));
        for v in headers.get_all(header::SET_COOKIE) {
            self.keep_cookie(v.to_str().expect("set-cookie is ASCII"));
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let page =
            Page { backend: self.backend.clone(), what: format!("{method} {path}"), status, headers, body };
        if let Some(t) = page.csrf_field() {
            self.csrf = Some(t);
        }
        page
    }

    fn keep_cookie(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        let removed = value.is_empty()
            || parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
        if removed {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_string(), value.to_string());
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = Request::builder().method(Method::GET).uri(path).body(Body::empty()).expect("request");
        self.send(req).await
    }

    /// The CSRF token to send: the one of the last page with a form, else one from the login
    /// page (which sets the cookie too).
    pub async fn csrf_token(&mut self) -> String {
        if self.csrf.is_none() || self.cookie(tsunagu_web::csrf::COOKIE).is_none() {
            self.get("/login").await;
        }
        self.csrf.clone().unwrap_or_else(|| panic!("{}: no page gave a CSRF token", self.backend))
    }

    /// Posts a form with the page's CSRF token added.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf_token().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form_as_is(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token added).
    pub async fn post_form_as_is(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    /// Posts a body as it is, with this content type.
    pub async fn post_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// Logs in with the login form (fetching it first, as a person would).
    pub async fn login(&mut self, login: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post_form("/login", &[("login", login), ("password", password)]).await
    }

    pub async fn logout(&mut self) -> Page {
        self.post_form("/logout", &[]).await
    }
}

/// A response, read.
pub struct Page {
    pub backend: String,
    /// The request, for messages.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    fn csrf_field(&self) -> Option<String> {
        let sel = Selector::parse(r#"input[name="csrf"]"#).expect("selector");
        self.html().select(&sel).next().and_then(|e| e.value().attr("value")).map(str::to_string)
    }

    fn ctx(&self) -> String {
        format!("{}: {} answered {}", self.backend, self.what, self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, want: StatusCode) -> &Self {
        assert_eq!(self.status, want, "{}; body:\n{}", self.ctx(), self.excerpt());
        self
    }

    /// A redirect (303 or 302/307) to exactly `to`.
    #[track_caller]
    pub fn assert_redirect(&self, to: &str) -> &Self {
        assert!(
            self.status.is_redirection(),
            "{}, not a redirect to {to}; body:\n{}",
            self.ctx(),
            self.excerpt()
        );
        assert_eq!(self.header("location"), Some(to), "{}: redirected elsewhere", self.ctx());
        self
    }

    /// The texts of every element matching `css`, whitespace collapsed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
        self.html()
            .select(&sel)
            .map(|e| e.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// The text directly inside each element matching `css` (not inside its children),
    /// whitespace collapsed: a table cell's first line, say, without the notes under it.
    pub fn own_texts(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
        self.html()
            .select(&sel)
            .map(|e| {
                let own: String =
                    e.children().filter_map(|n| n.value().as_text().map(|t| t.to_string())).collect();
                own.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect()
    }

    /// The text of the one element matching `css`.
    #[track_caller]
    pub fn text(&self, css: &str) -> String {
        let mut all = self.texts(css);
        assert_eq!(
            all.len(),
            1,
            "{}: expected one `{css}`, found {all:?}; body:\n{}",
            self.ctx(),
            self.excerpt()
        );
        all.remove(0)
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, attr: &str) -> Option<String> {
        let sel = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
        self.html().select(&sel).next().and_then(|e| e.value().attr(attr)).map(str::to_string)
    }

    pub fn count(&self, css: &str) -> usize {
        self.texts(css).len()
    }

    /// The error page's message (and that this is the error page, in Japanese).
    #[track_caller]
    pub fn assert_error_page(&self, status: StatusCode, message: &str) -> &Self {
        self.assert_status(status);
        assert!(
            self.header("content-type").is_some_and(|c| c.starts_with("text/html")),
            "{}: the error is not an HTML page: {:?}",
            self.ctx(),
            self.header("content-type")
        );
        assert_eq!(self.attr("html", "lang").as_deref(), Some("ja"), "{}: not in Japanese", self.ctx());
        assert_eq!(
            self.text("h1"),
            "ご希望の操作を完了できませんでした",
            "{}: not the error page",
            self.ctx()
        );
        assert_eq!(self.text(".error-message"), message, "{}: the wrong message", self.ctx());
        self
    }

    /// The beginning of the body, for failure messages.
    pub fn excerpt(&self) -> &str {
        let mut end = self.body.len().min(3000);
        while !self.body.is_char_boundary(end) {
            end -= 1;
        }
        &self.body[..end]
    }
}
