//! Start-up, serving, logging, backup and restore.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tsunagu_app::{App, AppError};

use crate::config::{Settings, TlsSettings};

pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TSUNAGU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// An app error for the command line: refusals name the field and the reason's code.
pub fn app_err(e: AppError) -> anyhow::Error {
    match e {
        AppError::Invalid(inv) => {
            let t = tsunagu_web::i18n::Tr::new(tsunagu_web::i18n::Lang::En);
            let msgs: Vec<String> = inv.0.iter().map(|fe| format!("{}: {}", fe.field, t.error(fe))).collect();
            anyhow::anyhow!("refused: {}", msgs.join("; "))
        }
        AppError::NotFound => anyhow::anyhow!("not found"),
        e => anyhow::anyhow!("{e}"),
    }
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    tsunagu_app::secret::random_bytes::<16>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The demo accounts' password: `TSUNAGU_DEMO_PASSWORD`, or a random one.
pub fn demo_password() -> String {
    std::env::var("TSUNAGU_DEMO_PASSWORD").ok().filter(|p| !p.is_empty()).unwrap_or_else(random_password)
}

pub fn print_demo_logins(password: &str, url: &str) {
    println!();
    println!("Demo region (Kanazawa) loaded. Log in at {url}/login with any of these logins:");
    println!("  {}", tsunagu_app::demo::demo_logins().join(", "));
    println!("Password for all of them: {password}");
    println!();
}

/// The TLS listener's settings from its files; a bad file is named by its setting (`tls.cert`…).
pub fn tls_config(t: &TlsSettings) -> Result<Arc<tsunagu_web::tls::ServerConfig>> {
    tsunagu_web::tls::server_config(&t.cert, &t.key, t.client_ca.as_deref())
        .map_err(|e| anyhow::anyhow!("bad setting tls.{e}"))
}

/// Completes when `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

pub async fn serve(app: App, settings: &Settings) -> Result<()> {
    // TLS files are read first, so a bad one stops start-up before anything else happens.
    let tls = match &settings.tls {
        Some(t) => Some((t, tls_config(t)?)),
        None => None,
    };
    // Listen first: a taken port stops start-up before anything is written.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (setting listen)", settings.listen))?;
    let tls = match tls {
        Some((t, config)) => {
            let l = tokio::net::TcpListener::bind(&t.listen)
                .await
                .with_context(|| format!("cannot listen on {} (setting tls.listen)", t.listen))?;
            Some((t, l, config))
        }
        None => None,
    };
    if settings.demo_when_empty && app.is_empty().await.map_err(app_err)? {
        let password = demo_password();
        app.load_demo(&password).await.map_err(app_err).context("loading the demo region")?;
        print_demo_logins(&password, &settings.public_url());
    }
    let head_file = settings.audit_head_file();
    let exporter = {
        let app = app.clone();
        let head_file = head_file.clone();
        let every = Duration::from_secs(settings.audit_head_interval_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = app.export_audit_head(&head_file).await {
                    tracing::error!(error = %e, "exporting the audit head failed");
                }
            }
        })
    };
    // Every minute: urgent messages nobody acknowledged in time go to the sub-attending
    // physician. Safe with several processes on one database (each message is raised once).
    let escalation = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match app.escalate_unacknowledged().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(messages = n, "urgent messages escalated"),
                    Err(e) => tracing::error!(error = %e, "escalating urgent messages failed"),
                }
            }
        })
    };
    let secure = settings.public_url().starts_with("https://");
    let router = tsunagu_web::router(
        app.clone(),
        tsunagu_web::WebConfig {
            secure_cookies: secure,
            map_tile_url: settings.map.tile_url.clone(),
            map_attribution: settings.map.attribution.clone(),
            bench_routes: settings.bench_routes,
        },
    );
    println!(
        "Tsunagu is serving at http://{} (database: {})",
        settings.listen,
        redact_url(&settings.database_url())
    );
    tracing::info!(listen = %settings.listen, "serving");
    // One signal stops both listeners; each then finishes the requests it has in flight.
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let live = app.live.clone();
    tokio::spawn(async move {
        tsunagu_web::shutdown::signal().await;
        // Open live streams would hold graceful shutdown up for ever: end them first.
        live.close();
        let _ = stop.send(true);
    });
    let plain = tsunagu_web::shutdown::serve(listener, router, stopped(stop_rx.clone()));
    let secure_listener = async {
        let Some((t, listener, config)) = tls else { return Ok(()) };
        // Cookies set over TLS are always `Secure`.
        let router = tsunagu_web::router(
            app.clone(),
            tsunagu_web::WebConfig {
                secure_cookies: true,
                map_tile_url: settings.map.tile_url.clone(),
                map_attribution: settings.map.attribution.clone(),
                bench_routes: settings.bench_routes,
            },
        );
        match &t.client_ca {
            Some(ca) => println!(
                "Tsunagu is serving TLS at https://{} (client certificates from {} required)",
                t.listen,
                ca.display()
            ),
            None => println!("Tsunagu is serving TLS at https://{} (no client certificates)", t.listen),
        }
        tracing::info!(listen = %t.listen, client_certificates = t.client_ca.is_some(), "serving TLS");
        tsunagu_web::tls::serve(listener, config, router, stopped(stop_rx.clone())).await
    };
    tokio::try_join!(plain, secure_listener)?;
    exporter.abort();
    escalation.abort();
    if let Err(e) = app.export_audit_head(&head_file).await {
        tracing::error!(error = %e, "exporting the audit head failed");
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn pg_tool(name: &str) -> String {
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        versions.sort();
        if let Some(p) = versions.iter().rev().map(|v| v.join("bin").join(name)).find(|p| p.exists()) {
            return p.display().to_string();
        }
    }
    name.to_string()
}

/// An online backup: SQLite's `vacuum into` (a consistent copy while serving), or `pg_dump`.
pub async fn backup(app: &App, settings: &Settings, to: &Path) -> Result<()> {
    if to.exists() {
        bail!("{} exists already; choose a new file", to.display());
    }
    let path = to.to_str().context("the backup path is not valid UTF-8")?;
    let event = tsunagu_domain::audit::NewEvent::new(
        app.now(),
        tsunagu_domain::audit::Action::BackupTaken,
        tsunagu_domain::audit::Outcome::Success,
    )
    .detail("cli");
    if app.store.sqlite_backup_to(path).await? {
        backup_attachments(settings, to)?;
        app.store.append_audit(vec![event]).await?;
        return Ok(());
    }
    let status = tokio::process::Command::new(pg_tool("pg_dump"))
        .args(["--format=custom", "--no-owner", "--file", path, "--dbname", &settings.database_url()])
        .status()
        .await
        .context("cannot run pg_dump (is PostgreSQL's client installed?)")?;
    if !status.success() {
        bail!("pg_dump failed ({status})");
    }
    backup_attachments(settings, to)?;
    app.store.append_audit(vec![event]).await?;
    Ok(())
}

/// The folder beside a backup file that holds the attachments (`b.db` → `b.db.attachments`).
pub fn attachments_beside(backup: &Path) -> std::path::PathBuf {
    sidecar(backup, ".attachments")
}

/// Copies the attachment files after the database snapshot: a file is written before its row
/// commits and never changed or removed, so every row in the snapshot finds its file (files of
/// rows committed later are copied too, harmlessly).
fn backup_attachments(settings: &Settings, backup: &Path) -> Result<()> {
    let from = settings.attachments_dir();
    if !from.is_dir() {
        return Ok(());
    }
    let n = copy_files(&from, &attachments_beside(backup))?;
    println!("{n} attachment file(s) copied to {}", attachments_beside(backup).display());
    Ok(())
}

/// Copies the regular files of `from` into `to` (created), skipping unfinished temporary files
/// and files already there. Returns how many were copied.
pub fn copy_files(from: &Path, to: &Path) -> Result<usize> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut n = 0;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let is_tmp = name.to_string_lossy().ends_with(".tmp") || name.to_string_lossy().starts_with('.');
        if !entry.file_type()?.is_file() || is_tmp {
            continue;
        }
        let target = to.join(&name);
        if target.exists() {
            continue;
        }
        std::fs::copy(entry.path(), &target)
            .with_context(|| format!("cannot copy {} to {}", entry.path().display(), target.display()))?;
        n += 1;
    }
    if let Ok(dir) = std::fs::File::open(to) {
        let _ = dir.sync_all();
    }
    Ok(n)
}

/// `path` with `suffix` added to its file name (`t.db` → `t.db-wal`).
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Restores a backup into the configured database. The server must be stopped.
///
/// The exported audit heads describe the log as it was before the restore, further than the
/// backup reaches; they are moved aside (kept, not deleted) so `audit verify` checks the
/// restored log, and the operator is told.
pub async fn restore(settings: &Settings, from: &Path) -> Result<()> {
    restore_database(settings, from).await?;
    let files = attachments_beside(from);
    if files.is_dir() {
        let n = copy_files(&files, &settings.attachments_dir())?;
        println!("{n} attachment file(s) restored into {}", settings.attachments_dir().display());
    }
    let head = settings.audit_head_file();
    if head.exists() {
        let aside = sidecar(&head, &format!(".before-restore-{}", std::process::id()));
        std::fs::rename(&head, &aside)
            .with_context(|| format!("cannot move the audit head file aside to {}", aside.display()))?;
        println!(
            "the exported audit heads (newer than the backup) were kept as {}; keep that file with \
             the incident record",
            aside.display()
        );
    }
    Ok(())
}

async fn restore_database(settings: &Settings, from: &Path) -> Result<()> {
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        let target = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let target = Path::new(target.split('?').next().unwrap_or(target));
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Copy next to the target first and check the copy is a Tsunagu database before
        // touching the current one. (The backup itself is not opened: a store switches its
        // database to WAL, which a read-only file refuses and a backup should not undergo.)
        let staged = target.with_extension(format!("restoring-{}", std::process::id()));
        std::fs::copy(from, &staged).with_context(|| format!("cannot copy into {}", staged.display()))?;
        let checked = async {
            let probe = tsunagu_store::Store::connect(
                &format!("sqlite://{}", staged.display()),
                &tsunagu_store::OpenOptions { max_connections: Some(1) },
            )
            .await
            .context("the backup is not a readable SQLite database")?;
            let head = probe.audit_head().await.context("the backup is not a Tsunagu database");
            probe.close().await;
            head
        }
        .await;
        if let Err(e) = checked {
            for p in [sidecar(&staged, ""), sidecar(&staged, "-wal"), sidecar(&staged, "-shm")] {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        if target.exists() {
            // The WAL goes with its database: it may hold the last commits.
            let aside = target.with_extension(format!("before-restore-{}", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let from = sidecar(target, suffix);
                if from.exists() {
                    std::fs::rename(&from, sidecar(&aside, suffix)).with_context(|| {
                        format!("cannot move the current database aside to {}", aside.display())
                    })?;
                }
            }
            println!("the previous database was kept as {}", aside.display());
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(sidecar(target, suffix));
        }
        for suffix in ["", "-wal", "-shm"] {
            let from = sidecar(&staged, suffix);
            if suffix.is_empty() || from.exists() {
                std::fs::rename(&from, sidecar(target, suffix))
                    .with_context(|| format!("cannot move into {}", target.display()))?;
            }
        }
        return Ok(());
    }
    let status = tokio::process::Command::new(pg_tool("pg_restore"))
        .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname", &url])
        .arg(from)
        .status()
        .await
        .context("cannot run pg_restore (is PostgreSQL's client installed?)")?;
    if !status.success() {
        bail!("pg_restore failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attachment_files_are_copied_without_temporary_ones_or_overwrites() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("f1"), b"one").unwrap();
        std::fs::write(a.path().join("f1.thumb.jpg"), b"thumb").unwrap();
        std::fs::write(a.path().join("f2.tmp"), b"half").unwrap();
        std::fs::write(b.path().join("f1"), b"kept").unwrap();
        let n = copy_files(a.path(), b.path()).unwrap();
        assert_eq!(n, 1);
        assert_eq!(std::fs::read(b.path().join("f1")).unwrap(), b"kept");
        assert_eq!(std::fs::read(b.path().join("f1.thumb.jpg")).unwrap(), b"thumb");
        assert!(!b.path().join("f2.tmp").exists());
    }

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            listen: "127.0.0.1:0".into(),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: Some(dir.join("ca.pem")),
        }
    }

    #[test]
    fn a_missing_tls_certificate_is_named_by_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        let e = tls_config(&settings(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with("bad setting tls.cert"), "{e}");
        assert!(e.contains("cert.pem"), "{e}");
    }

    #[test]
    fn a_tls_certificate_file_without_a_certificate_is_named_by_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "not a certificate\n").unwrap();
        let e = tls_config(&settings(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with("bad setting tls.cert"), "{e}");
        assert!(e.contains("no certificate"), "{e}");
    }
}
