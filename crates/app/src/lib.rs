//! The app layer: the use cases. Every page and API handler calls in here; nothing below the web
//! layer knows about HTTP, and nothing above this layer touches the store directly. Access rules
//! and audit events are decided and written here, once, for every way in.

pub mod admin;
pub mod api_documents;
pub mod api_patients;
pub mod api_team;
pub mod api_timeline;
pub mod attachments;
pub mod audit;
pub mod audit_search;
pub mod auth;
pub mod bench;
pub mod demo;
pub mod directory;
mod error;
pub mod generate;
pub mod live;
pub mod mail;
pub mod passkeys;
pub mod secret;
pub mod sharing;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

use std::sync::Arc;

use tsunagu_domain::Clock;
use tsunagu_store::Store;

pub use auth::{Actor, AuthVia};
pub use error::AppError;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// A session ends this long after its last request.
    pub session_idle_secs: i64,
    /// A session ends this long after login, however active.
    pub session_absolute_secs: i64,
    /// Failed logins allowed per account within `throttle_window_secs` before a pause.
    pub throttle_account_failures: i64,
    /// Failed logins allowed per address within the window before a pause.
    pub throttle_address_failures: i64,
    pub throttle_window_secs: i64,
    /// How long an invitation link stays valid.
    pub invitation_secs: i64,
    /// The public address of the server, for invitation links and passkeys.
    pub public_url: String,
    /// Argon2 parameters (memory KiB, iterations); lower only in tests.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// An urgent message nobody has acknowledged this long is raised to the sub-attending
    /// physician (or the attending physician when there is none).
    pub escalation_minutes: i64,
    /// The folder photos, files and consent forms are stored in (outside the database).
    pub attachments_dir: std::path::PathBuf,
    /// The largest file accepted, in bytes.
    pub max_upload_bytes: usize,
    /// A vacancy figure not re-confirmed for this many hours is shown as stale, not as true.
    pub vacancy_stale_hours: i64,
    /// A directory entry not confirmed for this many days is flagged to its operator.
    pub directory_confirm_days: i64,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            throttle_account_failures: 5,
            throttle_address_failures: 20,
            throttle_window_secs: 15 * 60,
            invitation_secs: 7 * 24 * 3600,
            // A domain name (not 127.0.0.1): WebAuthn refuses IP addresses as relying party ids.
            public_url: "http://localhost:8080".into(),
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            escalation_minutes: 30,
            attachments_dir: std::path::PathBuf::from("tsunagu-data/attachments"),
            max_upload_bytes: 10 * 1024 * 1024,
            vacancy_stale_hours: 24,
            directory_confirm_days: 180,
        }
    }
}

/// The application: the store, the clock and the settings, shared by every request.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<AppConfig>,
    /// Outgoing mail, when configured.
    pub mailer: Option<Arc<dyn mail::Mailer>>,
    /// The WebAuthn relying party, built once from `public_url` (`None`: passkeys are off).
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// The in-process hub of live updates (shared by every clone of the app).
    pub live: live::Live,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: AppConfig) -> Self {
        let webauthn = passkeys::relying_party(&config.public_url);
        Self { store, clock, config: Arc::new(config), mailer: None, webauthn, live: live::Live::new() }
    }

    pub fn now(&self) -> tsunagu_domain::Timestamp {
        self.clock.now()
    }
}
