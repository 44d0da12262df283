//! Outgoing e-mail (invitations). The app decides what to send; how it travels (SMTP) is
//! plugged in by the binary, so the use cases stay free of network code and tests can record
//! what would have been sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One message to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// A way to send mail.
pub trait Mailer: Send + Sync + 'static {
    /// Sends the message; the error text names the failure, never the message content.
    fn send(&self, mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// A mailer that keeps what it was asked to send, for tests.
#[derive(Debug, Clone, Default)]
pub struct RecordingMailer(pub Arc<std::sync::Mutex<Vec<Mail>>>);

impl RecordingMailer {
    pub fn sent(&self) -> Vec<Mail> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Mailer for RecordingMailer {
    fn send(&self, mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.0.lock().map_err(|_| "poisoned".to_string())?.push(mail);
            Ok(())
        })
    }
}

impl crate::App {
    /// Uses `mailer` for outgoing mail.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Whether mail can be sent.
    pub fn can_send_mail(&self) -> bool {
        self.mailer.is_some()
    }

    /// The link an invitation token opens.
    pub fn invitation_link(&self, token: &str) -> String {
        format!("{}/invite/{token}", self.config.public_url.trim_end_matches('/'))
    }

    /// Sends an invitation to the invited person's address. Returns whether a mail was sent
    /// (false when no mailer is configured or the person has no address). A failure to send is
    /// logged and reported, and the invitation stays valid: the administrator can pass the link
    /// on by hand.
    pub async fn send_invitation(
        &self,
        user: &tsunagu_store::people::UserRow,
        subject: &str,
        body: &str,
    ) -> bool {
        let (Some(mailer), Some(to)) = (&self.mailer, user.email.as_ref()) else {
            return false;
        };
        let mail = Mail { to: to.clone(), subject: subject.to_string(), body: body.to_string() };
        match mailer.send(mail).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "sending an invitation failed");
                false
            }
        }
    }
}
