//! Configuration: defaults, then a TOML file, then `TSUNAGU_*` environment variables, then the
//! command line. An unknown or bad setting stops start-up with a message naming it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Every setting, with its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where to listen for HTTP.
    pub listen: String,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// Folder for the SQLite file, the exported audit head, backups.
    pub data_dir: PathBuf,
    /// The address people reach the server at (invitation links, passkeys).
    pub public_url: String,
    /// Minutes of inactivity after which a session ends.
    pub session_idle_minutes: i64,
    /// Hours after login after which a session ends.
    pub session_absolute_hours: i64,
    /// Minutes after which an urgent message nobody acknowledged is raised to the
    /// sub-attending physician (or the attending physician).
    pub escalation_minutes: i64,
    /// Seconds between exports of the audit chain's head.
    pub audit_head_interval_secs: u64,
    /// The file the audit chain's head is appended to (default: `<data_dir>/audit-head.jsonl`).
    pub audit_head_file: Option<PathBuf>,
    /// The folder photos, files and consent forms are stored in (default: `<data_dir>/attachments`).
    pub attachments_dir: Option<PathBuf>,
    /// The largest photo or file accepted, in MB.
    pub max_upload_mb: u32,
    /// Connections to the database: SQLite's readers for the reads that may scan (searches,
    /// counts, exports; besides its one writer and the short reads on the request's own
    /// thread), or PostgreSQL's pool. By default 4 on SQLite (on the 2-core benchmark machine,
    /// 4 served the mixed load on the 100,000-patient region as fast as 8, in 107 MB instead
    /// of 129) and 8 on PostgreSQL (docs/performance.md).
    pub max_connections: Option<u32>,
    /// Log as JSON lines (for log collectors) rather than text.
    pub log_json: bool,
    /// Load the demo region when the database is empty. Set to false in production.
    pub demo_when_empty: bool,
    /// The optional TLS listener with client certificates.
    pub tls: Option<TlsSettings>,
    /// Outgoing mail for invitations; without it, invitation links are passed on by hand.
    pub smtp: Option<SmtpSettings>,
    /// Hours after which a short-stay vacancy figure nobody re-confirmed is shown as stale.
    pub vacancy_stale_hours: i64,
    /// Days after which a directory entry nobody confirmed is flagged to its operator.
    pub directory_confirm_days: i64,
    /// The map of the directory.
    pub map: MapSettings,
    /// Serve the load benchmark's baseline routes (`/bench/hello`, `/bench/rows/{patient_id}`):
    /// an unchecked, unaudited timeline read, for `tsunagu-bench` on a benchmark database only.
    /// Never on a server holding real patients.
    pub bench_routes: bool,
}

/// The map tiles of the directory: a tile URL template (`{z}/{x}/{y}`) and its attribution.
/// An empty `tile_url` draws the map without background tiles (markers only), as the tests do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapSettings {
    pub tile_url: String,
    pub attribution: String,
}

impl Default for MapSettings {
    fn default() -> Self {
        Self {
            // 地理院タイル (GSI standard map): free for this use with the attribution below.
            tile_url: "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png".into(),
            attribution: "<a href=\"https://maps.gsi.go.jp/development/ichiran.html\">地理院タイル</a>"
                .into(),
        }
    }
}

/// How mail leaves: an SMTP relay.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` (implicit, usually port 465) or `none` (a local relay only).
    #[serde(default = "default_smtp_security")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `つなぐ <noreply@example.jp>`.
    pub from: String,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_security() -> String {
    "starttls".into()
}

// The password must never reach a log through `{:?}`.
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, a client certificate from this CA is required and mapped to an account.
    pub client_ca: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: String::new(),
            data_dir: PathBuf::from("tsunagu-data"),
            public_url: String::new(),
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            escalation_minutes: 30,
            audit_head_interval_secs: 60,
            audit_head_file: None,
            attachments_dir: None,
            max_upload_mb: 10,
            max_connections: None,
            log_json: false,
            demo_when_empty: true,
            tls: None,
            smtp: None,
            vacancy_stale_hours: 24,
            directory_confirm_days: 180,
            map: MapSettings::default(),
            bench_routes: false,
        }
    }
}

/// Environment variables that are not settings but are read elsewhere.
const OTHER_VARS: &[&str] =
    &["TSUNAGU_CONFIG", "TSUNAGU_DEMO_PASSWORD", "TSUNAGU_TEST_DATABASE_URL", "TSUNAGU_LOG"];

/// `TSUNAGU_SESSION_IDLE_MINUTES` → `session_idle_minutes`; `TSUNAGU_TLS__CERT` → `tls.cert`.
fn env_key(var: &str) -> Option<Vec<String>> {
    let rest = var.strip_prefix("TSUNAGU_")?;
    Some(rest.split("__").map(|p| p.to_ascii_lowercase()).collect())
}

/// A string from the environment as a TOML value: numbers and booleans as such.
fn env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_string()),
    }
}

/// Loads settings from an optional file and the given environment.
pub fn load(file: Option<&std::path::Path>, env: impl Iterator<Item = (String, String)>) -> Result<Settings> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("the configuration file {} is not valid TOML", path.display()))?
        }
        None => toml::Table::new(),
    };
    let mut from_env: Vec<(String, String)> = Vec::new();
    for (k, v) in env {
        if OTHER_VARS.contains(&k.as_str()) {
            continue;
        }
        let Some(path) = env_key(&k) else { continue };
        from_env.push((path.join("."), k.clone()));
        let mut t = &mut table;
        for part in &path[..path.len() - 1] {
            let entry = t.entry(part.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => t = inner,
                _ => bail!("environment variable {k}: {part} is not a group of settings"),
            }
        }
        if let Some(last) = path.last() {
            t.insert(last.clone(), env_value(&v));
        }
    }
    let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.message().trim().to_string();
        // Say where the bad value came from: an environment variable or the file.
        let unknown = msg.split('`').nth(1).unwrap_or("");
        let source = from_env
            .iter()
            .find(|(key, _)| *key == path || *key == unknown || key.ends_with(&format!(".{unknown}")))
            .map(|(_, var)| format!(" (from the environment variable {var})"))
            .or_else(|| file.map(|f| format!(" (in {})", f.display())))
            .unwrap_or_default();
        if path == "." || path.is_empty() {
            anyhow::anyhow!("bad setting: {msg}{source}")
        } else {
            anyhow::anyhow!("bad setting {path}: {msg}{source}")
        }
    })?;
    settings.validate()?;
    Ok(settings)
}

impl Settings {
    /// Checks values serde cannot: ranges and URL schemes.
    pub fn validate(&self) -> Result<()> {
        if !self.database_url.is_empty() {
            let scheme = self.database_url.split(':').next().unwrap_or("");
            if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                bail!(
                    "bad setting database_url: unsupported scheme {scheme:?} (use sqlite:PATH or postgres://…)"
                );
            }
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!("bad setting listen: {:?} is not an address like 127.0.0.1:8080", self.listen);
        }
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            bail!("bad setting session_idle_minutes: must be between 1 and 1440");
        }
        if !(1..=24 * 7).contains(&self.session_absolute_hours) {
            bail!("bad setting session_absolute_hours: must be between 1 and 168");
        }
        if !(1..=100).contains(&self.max_upload_mb) {
            bail!("bad setting max_upload_mb: must be between 1 and 100");
        }
        if !(1..=24 * 60).contains(&self.escalation_minutes) {
            bail!("bad setting escalation_minutes: must be between 1 and 1440");
        }
        if !(1..=24 * 31).contains(&self.vacancy_stale_hours) {
            bail!("bad setting vacancy_stale_hours: must be between 1 and 744");
        }
        if !(1..=3650).contains(&self.directory_confirm_days) {
            bail!("bad setting directory_confirm_days: must be between 1 and 3650");
        }
        if !self.map.tile_url.is_empty()
            && (!self.map.tile_url.starts_with("https://") && !self.map.tile_url.starts_with("http://")
                || !self.map.tile_url.contains("{z}"))
        {
            bail!(
                "bad setting map.tile_url: must be an http(s) URL template with {{z}}, {{x}} and {{y}}, or empty"
            );
        }
        if self.audit_head_interval_secs == 0 {
            bail!("bad setting audit_head_interval_secs: must be at least 1");
        }
        if !self.public_url.is_empty() && url::Url::parse(&self.public_url).is_err() {
            bail!("bad setting public_url: {:?} is not a URL", self.public_url);
        }
        if let Some(m) = &self.smtp {
            if !matches!(m.security.as_str(), "starttls" | "tls" | "none") {
                bail!("bad setting smtp.security: {:?} (use starttls, tls or none)", m.security);
            }
            if m.from.parse::<lettre::message::Mailbox>().is_err() {
                bail!("bad setting smtp.from: {:?} is not a mail address", m.from);
            }
            if m.host.trim().is_empty() {
                bail!("bad setting smtp.host: empty");
            }
        }
        if let Some(t) = &self.tls
            && t.listen.parse::<std::net::SocketAddr>().is_err()
        {
            bail!("bad setting tls.listen: {:?} is not an address", t.listen);
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}/tsunagu.db", self.data_dir.display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.attachments_dir.clone().unwrap_or_else(|| self.data_dir.join("attachments"))
    }

    pub fn audit_head_file(&self) -> PathBuf {
        self.audit_head_file.clone().unwrap_or_else(|| self.data_dir.join("audit-head.jsonl"))
    }

    /// The public address. Unset on a loopback address, it is `http://localhost:PORT`: browsers
    /// accept passkeys for a name, never for an IP address.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            match self.listen.parse::<std::net::SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => format!("http://localhost:{}", a.port()),
                _ => format!("http://{}", self.listen),
            }
        } else {
            self.public_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_serve_sqlite_in_the_data_folder() {
        let s = load(None, env(&[])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.database_url(), "sqlite://tsunagu-data/tsunagu.db");
        assert_eq!(s.public_url(), "http://localhost:8080");
        assert!(!s.bench_routes, "the benchmark's unchecked routes are off by default");
    }

    #[test]
    fn an_unsupported_database_scheme_is_named() {
        let e = load(None, env(&[("TSUNAGU_DATABASE_URL", "mysql://x/y")])).unwrap_err();
        assert!(e.to_string().contains("database_url"), "{e}");
    }

    #[test]
    fn an_unknown_environment_setting_is_named() {
        let e = load(None, env(&[("TSUNAGU_LISTN", "0.0.0.0:1")])).unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        assert!(e.to_string().contains("TSUNAGU_LISTN"), "{e}");
    }

    #[test]
    fn an_unknown_file_setting_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\nsession_idle = 5\n").unwrap();
        let e = load(Some(&f), env(&[])).unwrap_err();
        assert!(e.to_string().contains("session_idle"), "{e}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\nsession_idle_minutes = 5\n").unwrap();
        let s = load(Some(&f), env(&[("TSUNAGU_SESSION_IDLE_MINUTES", "7")])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert_eq!(s.session_idle_minutes, 7);
    }

    #[test]
    fn a_wrongly_typed_value_is_named() {
        let e = load(None, env(&[("TSUNAGU_SESSION_IDLE_MINUTES", "soon")])).unwrap_err();
        assert!(e.to_string().contains("session_idle_minutes") || e.to_string().contains("integer"), "{e}");
    }

    #[test]
    fn a_bad_smtp_sender_is_named_and_the_password_is_never_shown() {
        let e =
            load(None, env(&[("TSUNAGU_SMTP__HOST", "mail.example.jp"), ("TSUNAGU_SMTP__FROM", "nobody")]))
                .unwrap_err();
        assert!(e.to_string().contains("smtp.from"), "{e}");
        let s = load(
            None,
            env(&[
                ("TSUNAGU_SMTP__HOST", "mail.example.jp"),
                ("TSUNAGU_SMTP__FROM", "つなぐ <noreply@example.jp>"),
                ("TSUNAGU_SMTP__PASSWORD", "hunter2-secret"),
            ]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn tls_settings_nest() {
        let s = load(
            None,
            env(&[
                ("TSUNAGU_TLS__LISTEN", "127.0.0.1:8443"),
                ("TSUNAGU_TLS__CERT", "c.pem"),
                ("TSUNAGU_TLS__KEY", "k.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(s.tls.unwrap().listen, "127.0.0.1:8443");
    }

    #[test]
    fn a_bad_listen_address_is_named() {
        let e = load(None, env(&[("TSUNAGU_LISTEN", "localhost")])).unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
    }
}
