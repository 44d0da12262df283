//! The HTTP client: one HTTP/1.1 keep-alive connection per simulated client (hyper 1's
//! connection-level API, no pool), reconnecting when the server closes it or dies.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// How long one request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One answer, body read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection of one simulated client.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string()).unwrap_or(HeaderValue::from_static("localhost"));
        Conn { addr, host, sender: None }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request on this client's connection (opening it first if needed) and reads the
    /// whole answer. Any failure drops the connection; the next request opens a new one.
    pub async fn send(&mut self, mut req: Request<Full<Bytes>>) -> Result<Answer> {
        req.headers_mut().insert(header::HOST, self.host.clone());
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(req)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("timed out after {} s", REQUEST_TIMEOUT.as_secs()))
            }
        }
    }

    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> Result<Answer> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(self.connect().await?),
        };
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let (parts, body) = res.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body })
    }
}

/// A request without a body.
pub fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> Result<Request<Full<Bytes>>> {
    build(Method::GET, path, headers, Bytes::new())
}

/// A request with a body.
pub fn build(
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
    body: Bytes,
) -> Result<Request<Full<Bytes>>> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(k, *v);
    }
    Ok(b.body(Full::new(body))?)
}

/// `a=b&c=d` with each value percent-encoded.
pub fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A query value percent-encoded.
pub fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
