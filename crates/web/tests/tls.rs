//! The TLS listener with client-certificate login, over real TLS connections: certificates are
//! made here with rcgen (a CA, a server certificate for localhost/127.0.0.1, client certificates
//! from that CA and from another one), the server runs on a free port over a fresh SQLite
//! database with the demo region, and a tokio-rustls client speaks a little HTTP/1.1 to it.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{AlertDescription, ClientConfig, RootCertStore};
use scraper::{Html, Selector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tsunagu_app::{App, AppConfig};
use tsunagu_domain::SystemClock;
use tsunagu_store::testing::TestDb;
use tsunagu_web::WebConfig;
use tsunagu_web::tls::{self, TlsFile};

const DEMO_PASSWORD: &str = "demo-password-123";

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA: its certificate and the key it signs with.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn issue(&self, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Identity {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A certificate with its private key.
struct Identity {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    fn fingerprint(&self) -> String {
        tls::fingerprint(&self.cert)
    }
}

/// Everything the tests need, with the server's files written to a temp folder.
struct Pki {
    ca: Ca,
    /// From `ca`; bound to `physician`.
    good: Identity,
    /// From `ca`; bound to nobody.
    unbound: Identity,
    /// From a CA the server does not trust.
    foreign: Identity,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("Tsunagu test region CA");
        let server =
            ca.issue("tsunagu test server", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let good = ca.issue("山田 太郎 (physician)", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let unbound = ca.issue("nobody in particular", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let other = Ca::new("Some other CA");
        let foreign = other.issue("山田 太郎 (physician)", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.pem"), &server.cert_pem).unwrap();
        std::fs::write(dir.path().join("server-key.pem"), &server.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        Pki { ca, good, unbound, foreign, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client that trusts the test CA for the server, presenting `id` (or no certificate).
    fn client(&self, id: Option<&Identity>) -> Arc<ClientConfig> {
        self.client_with(id, rustls::DEFAULT_VERSIONS)
    }

    fn client_with(
        &self,
        id: Option<&Identity>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert.der().clone()).unwrap();
        let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut c = match id {
            Some(id) => b.with_client_auth_cert(vec![id.cert.clone()], id.key()).unwrap(),
            None => b.with_no_client_auth(),
        };
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Server {
    addr: SocketAddr,
    app: App,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<io::Result<()>>,
    _db: TestDb,
}

async fn start(pki: &Pki, client_ca: bool) -> Server {
    let db = tsunagu_store::testing::sqlite().await;
    let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
    let app = App::new(db.store.clone(), Arc::new(SystemClock), config);
    app.load_demo(DEMO_PASSWORD).await.unwrap();
    app.bind_certificate("physician", &pki.good.fingerprint(), "test device").await.unwrap();
    let ca = pki.path("ca.pem");
    let tls_config = tls::server_config(
        &pki.path("server.pem"),
        &pki.path("server-key.pem"),
        client_ca.then_some(ca.as_path()),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tsunagu_web::router(app.clone(), WebConfig { secure_cookies: true, ..WebConfig::default() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tls::serve(listener, tls_config, router, async {
        let _ = stopped.await;
    }));
    Server { addr, app, stop: Some(stop), task, _db: db }
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client over TLS

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn select(&self, css: &str) -> Vec<String> {
        let doc = Html::parse_document(&self.body);
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel).map(|e| e.html()).collect()
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Response { status, headers, body: String::from_utf8(body).unwrap() }
}

/// One request on a new connection (`Connection: close`), with the given cookies.
async fn exchange(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    method: &str,
    path: &str,
    cookies: &BTreeMap<String, String>,
    form: Option<&str>,
) -> io::Result<Response> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(client).connect(name, tcp).await?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req.push_str(&format!("Cookie: {}\r\n", c.join("; ")));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes()).await?;
    tls.flush().await?;
    let mut raw = Vec::new();
    match tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut raw)).await {
        Ok(Ok(_)) => {}
        // A peer that closes without close_notify after a whole response is tolerated.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no response")),
    }
    if raw.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed without a response"));
    }
    Ok(parse_response(&raw))
}

/// A browser-like client: one identity, a cookie jar, CSRF tokens read from the page.
struct Browser {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(server: &Server, config: Arc<ClientConfig>) -> Browser {
        Browser { addr: server.addr, config, cookies: BTreeMap::new() }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&str>) -> io::Result<Response> {
        let r = exchange(self.addr, self.config.clone(), method, path, &self.cookies, form).await?;
        for c in r.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        Ok(r)
    }

    async fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, form: &str) -> io::Result<Response> {
        self.send("POST", path, Some(form)).await
    }
}

/// The CSRF token of the certificate login form on a login page.
fn certificate_form_csrf(page: &Response) -> String {
    let doc = Html::parse_document(&page.body);
    let sel = Selector::parse(r#"form[action="/login/certificate"] input[name="csrf"]"#).unwrap();
    let input = doc.select(&sel).next().expect("the login page offers certificate login");
    input.value().attr("value").unwrap().to_string()
}

/// Whether an error is the server's TLS layer refusing with `alert` rather than an HTTP answer.
/// Under TLS 1.3 the client finishes its side of the handshake before the server has checked
/// its certificate, so the refusal arrives as an alert on the first read; should the server's
/// close overtake the alert, the connection is reset instead.
fn is_tls_refusal(e: &io::Error, alert: AlertDescription) -> bool {
    let received = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| *r == rustls::Error::AlertReceived(alert));
    received || e.kind() == io::ErrorKind::ConnectionReset
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_bound_client_certificate_logs_in_as_its_account() {
    let pki = Pki::new();
    let server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(Some(&pki.good)));

    let login = b.get("/login").await.unwrap();
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.contains("証明書でログイン"), "the button is offered: {}", login.body);
    let csrf_cookie = login.set_cookies().into_iter().find(|c| c.starts_with("tsunagu_csrf=")).unwrap();
    assert!(csrf_cookie.contains("Secure"), "cookies are Secure over TLS: {csrf_cookie}");
    let csrf = certificate_form_csrf(&login);

    // Like every form, it needs the CSRF token.
    let forged = b.post("/login/certificate", "csrf=wrong").await.unwrap();
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(!b.cookies.contains_key("tsunagu_session"));

    let done = b.post("/login/certificate", &format!("csrf={csrf}")).await.unwrap();
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.header("location"), Some("/"));
    let session = done.set_cookies().into_iter().find(|c| c.starts_with("tsunagu_session=")).unwrap();
    assert!(session.contains("Secure") && session.contains("HttpOnly"), "{session}");

    let home = b.get("/").await.unwrap();
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.body.contains("山田 太郎"), "home shows the physician: {}", home.body);

    // The login is audited with the method and the client's address.
    let events = server.app.store.audit_events_after(0, 100_000).await.unwrap();
    let e = events
        .iter()
        .rev()
        .find(|e| e.event.action == "login" && e.event.actor_login.as_deref() == Some("physician"))
        .expect("a login event");
    assert_eq!(e.event.detail.as_deref(), Some("client_certificate"));
    assert_eq!(e.event.address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_valid_but_unbound_certificate_is_refused_with_a_message_and_an_audit_event() {
    let pki = Pki::new();
    let server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(Some(&pki.unbound)));

    let login = b.get("/login").await.unwrap();
    assert_eq!(login.status, 200, "the handshake succeeds: the CA is trusted");
    let csrf = certificate_form_csrf(&login);
    let refused = b.post("/login/certificate", &format!("csrf={csrf}")).await.unwrap();
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.body.contains("この証明書はどのアカウントにも登録されていない"), "{}", refused.body);
    let alerts = refused.select(r#"[role="alert"]"#);
    assert!(
        alerts.iter().any(|a| a.contains("この証明書はどのアカウントにも登録されていない")),
        "shown as an alert: {alerts:?}"
    );
    assert!(!b.cookies.contains_key("tsunagu_session"), "no session: {:?}", refused.set_cookies());

    let home = b.get("/").await.unwrap();
    assert_eq!(home.status, 303, "still logged out: {home:?}");
    assert_eq!(home.header("location"), Some("/login"));

    let events = server.app.store.audit_events_after(0, 100_000).await.unwrap();
    let e = events.iter().rev().find(|e| e.event.action == "login.failed").expect("a refused login event");
    assert_eq!(e.event.target_kind.as_deref(), Some("client_certificate"));
    assert_eq!(e.event.target_id.as_deref(), Some(pki.unbound.fingerprint().as_str()));
    assert_eq!(e.event.address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_refusal_of_an_unbound_certificate_is_in_english_for_english_readers() {
    let pki = Pki::new();
    let server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(Some(&pki.unbound)));
    b.cookies.insert("lang".into(), "en".into());
    let login = b.get("/login").await.unwrap();
    assert!(login.body.contains("Log in with your certificate"), "{}", login.body);
    let csrf = certificate_form_csrf(&login);
    let refused = b.post("/login/certificate", &format!("csrf={csrf}")).await.unwrap();
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("This certificate is not registered to any account"), "{}", refused.body);
}

#[tokio::test]
async fn a_certificate_from_another_ca_cannot_complete_the_handshake() {
    let pki = Pki::new();
    let server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(Some(&pki.foreign)));
    let e = b.get("/login").await.expect_err("no HTTP answer without a trusted certificate");
    assert!(is_tls_refusal(&e, AlertDescription::UnknownCA), "refused by TLS, not by HTTP: {e:?}");

    // Over TLS 1.2 the client sees the handshake itself fail.
    let tls12 = pki.client_with(Some(&pki.foreign), &[&rustls::version::TLS12]);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let r = TlsConnector::from(tls12).connect(ServerName::try_from("localhost").unwrap(), tcp).await;
    assert!(r.is_err(), "the TLS 1.2 handshake fails");

    // The trusted certificate on the same server is answered, so the refusals above are the CA's.
    let mut good = Browser::new(&server, pki.client(Some(&pki.good)));
    assert_eq!(good.get("/login").await.unwrap().status, 200);
}

#[tokio::test]
async fn no_client_certificate_cannot_complete_the_handshake() {
    let pki = Pki::new();
    let server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(None));
    let e = b.get("/login").await.expect_err("no HTTP answer without a certificate");
    assert!(is_tls_refusal(&e, AlertDescription::CertificateRequired), "refused by TLS, not by HTTP: {e:?}");

    let tls12 = pki.client_with(None, &[&rustls::version::TLS12]);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let r = TlsConnector::from(tls12).connect(ServerName::try_from("localhost").unwrap(), tcp).await;
    assert!(r.is_err(), "the TLS 1.2 handshake fails");
}

#[tokio::test]
async fn without_a_client_ca_tls_serves_the_pages_and_offers_no_certificate_login() {
    let pki = Pki::new();
    let server = start(&pki, false).await;
    let mut b = Browser::new(&server, pki.client(None));
    let login = b.get("/login").await.unwrap();
    assert_eq!(login.status, 200);
    assert!(login.select(r#"form[action="/login/certificate"]"#).is_empty(), "no button: {}", login.body);
    let csrf = b.cookies.get("tsunagu_csrf").cloned().unwrap();
    let r = b.post("/login/certificate", &format!("csrf={csrf}")).await.unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("電子証明書（クライアント証明書）が提示されていません"), "{}", r.body);
    assert!(!b.cookies.contains_key("tsunagu_session"));

    // Password login still works over TLS.
    let login = b.get("/login").await.unwrap();
    let doc = Html::parse_document(&login.body);
    let sel = Selector::parse(r#"form[action="/login"] input[name="csrf"]"#).unwrap();
    let csrf = doc.select(&sel).next().unwrap().value().attr("value").unwrap().to_string();
    let r = b.post("/login", &format!("csrf={csrf}&login=physician&password={DEMO_PASSWORD}")).await.unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert!(b.get("/").await.unwrap().body.contains("山田 太郎"));
}

#[tokio::test]
async fn the_tls_listener_stops_on_the_signal() {
    let pki = Pki::new();
    let mut server = start(&pki, true).await;
    let mut b = Browser::new(&server, pki.client(Some(&pki.good)));
    assert_eq!(b.get("/healthz").await.unwrap().status, 200);
    server.stop.take().unwrap().send(()).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), &mut server.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "serve returned: {done:?}");
    assert!(TcpStream::connect(server.addr).await.is_err(), "the port is closed");
}

#[test]
fn a_bad_tls_file_is_named() {
    let pki = Pki::new();
    let cert = pki.path("server.pem");
    let key = pki.path("server-key.pem");
    let ca = pki.path("ca.pem");
    let err = |c: &Path, k: &Path, ca: Option<&Path>| tls::server_config(c, k, ca).unwrap_err();

    let e = err(&pki.path("missing.pem"), &key, Some(&ca));
    assert_eq!(e.file, TlsFile::Cert, "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    // A key file given as the certificate holds no certificate.
    assert_eq!(err(&key, &key, None).file, TlsFile::Cert);
    // A certificate given as the key holds no key.
    assert_eq!(err(&cert, &cert, None).file, TlsFile::Key);

    // Another certificate's key does not belong to the server certificate.
    std::fs::write(pki.path("other-key.pem"), &pki.good.key_pem).unwrap();
    let e = err(&cert, &pki.path("other-key.pem"), None);
    assert_eq!(e.file, TlsFile::Key, "{e}");

    let e = err(&cert, &key, Some(&pki.path("no-ca.pem")));
    assert_eq!(e.file, TlsFile::ClientCa, "{e}");
    assert!(e.to_string().starts_with("client_ca"), "{e}");

    assert!(tls::server_config(&cert, &key, Some(&ca)).is_ok());
    assert!(tls::server_config(&cert, &key, None).is_ok());
}

#[test]
fn the_fingerprint_is_the_lowercase_hex_sha256_of_the_der() {
    let pki = Pki::new();
    let fp = pki.good.fingerprint();
    assert_eq!(fp.len(), 64);
    assert!(fp.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{fp}");
    assert_ne!(fp, pki.unbound.fingerprint());
    // The SHA-256 of the empty input, as a known answer.
    assert_eq!(tls::fingerprint(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
