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
    /// Seconds between exports of the audit chain's head.
    pub audit_head_interval_secs: u64,
    /// The file the audit chain's head is appended to (default: `<data_dir>/audit-head.jsonl`).
    pub audit_head_file: Option<PathBuf>,
    /// Connections to the database.
    pub max_connections: u32,
    /// Log as JSON lines (for log collectors) rather than text.
    pub log_json: bool,
    /// The optional TLS listener with client certificates.
    pub tls: Option<TlsSettings>,
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
            audit_head_interval_secs: 60,
            audit_head_file: None,
            max_connections: 16,
            log_json: false,
            tls: None,
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
    for (k, v) in env {
        if OTHER_VARS.contains(&k.as_str()) {
            continue;
        }
        let Some(path) = env_key(&k) else { continue };
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
    let settings: Settings = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("bad setting: {}", e.message().trim())
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
        if self.audit_head_interval_secs == 0 {
            bail!("bad setting audit_head_interval_secs: must be at least 1");
        }
        if !self.public_url.is_empty() && url::Url::parse(&self.public_url).is_err() {
            bail!("bad setting public_url: {:?} is not a URL", self.public_url);
        }
        if let Some(t) = &self.tls {
            if t.listen.parse::<std::net::SocketAddr>().is_err() {
                bail!("bad setting tls.listen: {:?} is not an address", t.listen);
            }
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

    pub fn audit_head_file(&self) -> PathBuf {
        self.audit_head_file.clone().unwrap_or_else(|| self.data_dir.join("audit-head.jsonl"))
    }

    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
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
