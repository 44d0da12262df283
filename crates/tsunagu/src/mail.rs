//! Sending mail through an SMTP relay (lettre), for the app's `Mailer` port.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tsunagu_app::mail::{Mail, Mailer};

use crate::config::SmtpSettings;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(s: &SmtpSettings) -> Result<Self> {
        let builder = match s.security.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host),
            "none" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host),
        }
        .with_context(|| format!("bad setting smtp.host: {:?}", s.host))?;
        let mut builder = builder.port(s.port);
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let from = s.from.parse().with_context(|| format!("bad setting smtp.from: {:?}", s.from))?;
        Ok(Self { transport: builder.build(), from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let to: Mailbox =
                mail.to.parse().map_err(|_| "the recipient address is malformed".to_string())?;
            let msg = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject)
                .body(mail.body)
                .map_err(|e| format!("building the message: {e}"))?;
            self.transport.send(msg).await.map(|_| ()).map_err(|e| format!("smtp: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// A minimal SMTP server that accepts one message and returns its DATA.
    async fn fake_smtp(listener: TcpListener) -> String {
        let Ok((sock, _)) = listener.accept().await else { return String::new() };
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        let _ = w.write_all(b"220 fake ESMTP\r\n").await;
        let mut data = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    let _ = w.write_all(b"250 queued\r\n").await;
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let cmd = line.to_ascii_uppercase();
            let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                b"250 fake\r\n"
            } else if cmd.starts_with("DATA") {
                in_data = true;
                b"354 go on\r\n"
            } else if cmd.starts_with("QUIT") {
                let _ = w.write_all(b"221 bye\r\n").await;
                break;
            } else {
                b"250 ok\r\n"
            };
            let _ = w.write_all(reply).await;
        }
        data
    }

    #[tokio::test]
    async fn an_invitation_travels_through_smtp_with_japanese_text() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(fake_smtp(listener));
        let mailer = SmtpMailer::new(&SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: "none".into(),
            username: None,
            password: None,
            from: "つなぐ <noreply@example.jp>".into(),
        })
        .unwrap();
        mailer
            .send(Mail {
                to: "nurse@example.jp".into(),
                subject: "つなぐへの招待".into(),
                body: "中村 美穂 様\nhttp://127.0.0.1:8080/invite/abc\n".into(),
            })
            .await
            .unwrap();
        let data = server.await.unwrap();
        assert!(data.contains("To: nurse@example.jp"), "{data}");
        // Japanese headers and body are encoded for transport; the link survives as is.
        assert!(data.contains("Subject: =?utf-8?"), "{data}");
        assert!(data.contains("invite/abc"), "{data}");
    }

    #[tokio::test]
    async fn a_malformed_recipient_is_refused_before_connecting() {
        let mailer = SmtpMailer::new(&SmtpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            security: "none".into(),
            username: None,
            password: None,
            from: "noreply@example.jp".into(),
        })
        .unwrap();
        let e =
            mailer.send(Mail { to: "not an address".into(), subject: "x".into(), body: "y".into() }).await;
        assert_eq!(e.unwrap_err(), "the recipient address is malformed");
    }
}
