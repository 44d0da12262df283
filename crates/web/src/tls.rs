//! The optional TLS listener: the same pages over HTTPS (rustls, ring), and, when a client CA is
//! configured, client-certificate login. A connection must then present a certificate issued by
//! that CA, or its handshake fails; the verified certificate's SHA-256 fingerprint goes into every
//! request of the connection as a [`ClientCertificate`], which the login page offers to log in
//! with (the app maps the fingerprint to an account).
//!
//! Only HTTP/1.1 is spoken (ALPN `http/1.1`), like the plain listener.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The TLS settings [`server_config`] makes, for [`serve`].
pub use rustls::server::ServerConfig;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent a request's headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The verified client certificate of the connection a request came on: the SHA-256 fingerprint
/// of the leaf certificate's DER, in lowercase hex (64 characters, no colons), as
/// `openssl x509 -noout -fingerprint -sha256` prints it once the colons are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

/// The fingerprint under which a certificate is bound to an account.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Which configured file a [`TlsError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// The server's certificate chain (PEM).
    Cert,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    Key,
    /// The CA whose client certificates are accepted (PEM, one or more certificates).
    ClientCa,
}

impl TlsFile {
    /// The name of the setting, as in the configuration's `[tls]` table.
    pub fn setting(self) -> &'static str {
        match self {
            TlsFile::Cert => "cert",
            TlsFile::Key => "key",
            TlsFile::ClientCa => "client_ca",
        }
    }
}

/// A TLS file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("{} ({}): {reason}", .file.setting(), .path.display())]
pub struct TlsError {
    pub file: TlsFile,
    pub path: PathBuf,
    pub reason: String,
}

fn tls_error(file: TlsFile, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError { file, path: path.to_path_buf(), reason: reason.into() }
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| tls_error(file, path, format!("cannot read the file: {e}")))
}

fn certificates(file: TlsFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(file, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(file, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(file, path, "holds no certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        tls_error(
            TlsFile::Key,
            path,
            format!("holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })
}

/// The server's TLS settings from PEM files. With `client_ca`, every connection must present a
/// client certificate issued by one of the certificates in that file.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(TlsFile::Cert, cert)?;
    let key_der = private_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(TlsFile::Cert, cert, format!("TLS set-up: {e}")))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(TlsFile::ClientCa, ca)? {
                roots.add(c).map_err(|e| {
                    tls_error(TlsFile::ClientCa, ca, format!("not a usable CA certificate: {e}"))
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(
                    |e| tls_error(TlsFile::ClientCa, ca, format!("cannot verify clients with it: {e}")),
                )?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key_der).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            tls_error(TlsFile::Key, key, "does not belong to the certificate in tls.cert")
        }
        e => tls_error(TlsFile::Cert, cert, format!("cannot be used with the key: {e}")),
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS until `shutdown` completes, then lets the connections finish their
/// requests in flight. Each request carries `ConnectInfo<SocketAddr>` like on the plain
/// listener and, when the client presented a (verified) certificate, its [`ClientCertificate`].
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "TLS listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Taken before the handshake, so shutdown also waits for connections still shaking hands.
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    // A missing or untrusted client certificate ends here.
                    tracing::info!(peer = %peer.ip(), error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %peer.ip(), "TLS handshake timed out");
                    return;
                }
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| ClientCertificate(fingerprint(leaf)));
            let service =
                tower::ServiceExt::map_request(router, move |mut req: axum::http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    if let Some(c) = &cert {
                        req.extensions_mut().insert(c.clone());
                    }
                    req
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(peer = %peer.ip(), error = %e, "TLS connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
