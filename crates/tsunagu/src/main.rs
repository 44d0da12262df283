//! `tsunagu`: the one binary. Serves the pages and API, and runs the operator's commands.

/// mimalloc instead of the system allocator: under load glibc malloc kept far more memory
/// resident (an arena per thread, freed memory retained), and allocation is a visible share of
/// the server's CPU profile (docs/performance.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod directory_cli;
mod r#gen;
mod mail;
mod ops;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tsunagu_app::{App, AppConfig};
use tsunagu_domain::SystemClock;
use tsunagu_store::{OpenOptions, Store};

#[derive(Parser, Debug)]
#[command(name = "tsunagu", version, about = "Tsunagu (つなぐ): community-based integrated care")]
struct Cli {
    /// A TOML configuration file (also TSUNAGU_CONFIG).
    #[arg(long, global = true, env = "TSUNAGU_CONFIG")]
    config: Option<PathBuf>,
    /// The database: sqlite:PATH or postgres://… (overrides the configuration).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the site (the default).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Take an online backup.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into the configured database (stop the server first).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load the demo region (Kanazawa) into an empty database.
    Demo,
    /// The regional resource directory: import the national open data, export.
    Directory {
        #[command(subcommand)]
        command: directory_cli::DirectoryCommand,
    },
    /// Fill an empty database with a made-up region for measuring (deterministic for a seed).
    Gen(r#gen::GenArgs),
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a person; prints a one-time password they must change.
    Add {
        #[arg(long)]
        login: String,
        /// Name in kanji as shown to others.
        #[arg(long)]
        name: String,
        /// Reading in kana.
        #[arg(long, default_value = "")]
        kana: String,
        /// Profession code, e.g. physician, nurse, care_manager.
        #[arg(long)]
        profession: String,
        /// Duty codes, e.g. system_administrator (repeatable).
        #[arg(long = "duty")]
        duties: Vec<String>,
    },
    /// Disable an account; its sessions end at once.
    Disable { login: String },
    /// Enable a disabled account.
    Enable { login: String },
    /// List accounts.
    List,
    /// Bind a client certificate (SHA-256 fingerprint of its DER) to an account.
    BindCertificate {
        #[arg(long)]
        login: String,
        #[arg(long)]
        fingerprint: String,
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a bearer token for a person's API use; prints it once.
    Create {
        #[arg(long)]
        user: String,
        /// Validity, e.g. 30d, 12h, 90m.
        #[arg(long, default_value = "30d")]
        expires: String,
        #[arg(long, default_value = "cli")]
        label: String,
        #[arg(long)]
        read_only: bool,
    },
    /// List a person's tokens (never their secrets): id, status, read-only, created, expires,
    /// last used (Japan time), label — one per line, tab-separated, newest first.
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by its id (from `token list`); it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the hash chain; exits non-zero if any row was changed, removed, inserted or
    /// reordered.
    Verify,
    /// Export the chain's head to the head file now.
    ExportHead,
}

/// `30d`, `12h`, `90m`, `45s` → seconds.
fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("bad duration {s:?} (use e.g. 30d, 12h)"))?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => bail!("bad duration {s:?}: unit must be d, h, m or s"),
    };
    Ok(n.saturating_mul(mult))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(mut s) => {
            if let Some(u) = &cli.database_url {
                s.database_url = u.clone();
            }
            if let Some(Command::Serve { listen: Some(l) }) = &cli.command {
                s.listen = l.clone();
            }
            match s.validate() {
                Ok(()) => s,
                Err(e) => {
                    eprintln!("tsunagu: {e:#}");
                    return std::process::ExitCode::from(2);
                }
            }
        }
        Err(e) => {
            eprintln!("tsunagu: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    ops::init_logging(settings.log_json);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tsunagu: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command.unwrap_or(Command::Serve { listen: None }), settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tsunagu: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn open_app(settings: &config::Settings) -> Result<App> {
    let url = settings.database_url();
    let store = Store::open(&url, &OpenOptions { max_connections: settings.max_connections })
        .await
        .with_context(|| format!("cannot open the database (database_url {})", ops::redact_url(&url)))?;
    let cfg = AppConfig {
        session_idle_secs: settings.session_idle_minutes * 60,
        session_absolute_secs: settings.session_absolute_hours * 3600,
        escalation_minutes: settings.escalation_minutes,
        public_url: settings.public_url(),
        attachments_dir: settings.attachments_dir(),
        max_upload_bytes: settings.max_upload_mb as usize * 1024 * 1024,
        vacancy_stale_hours: settings.vacancy_stale_hours,
        directory_confirm_days: settings.directory_confirm_days,
        ..AppConfig::default()
    };
    let app = App::new(store, Arc::new(SystemClock), cfg);
    Ok(match &settings.smtp {
        Some(smtp) => app.with_mailer(Arc::new(mail::SmtpMailer::new(smtp)?)),
        None => app,
    })
}

async fn run(cmd: Command, settings: config::Settings) -> Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match cmd {
        Command::Serve { .. } => {
            let app = open_app(&settings).await?;
            ops::serve(app, &settings).await?;
        }
        Command::Migrate => {
            open_app(&settings).await?;
            println!("migrations applied");
        }
        Command::Demo => {
            let app = open_app(&settings).await?;
            let password = ops::demo_password();
            app.load_demo(&password).await.map_err(ops::app_err)?;
            ops::print_demo_logins(&password, &settings.public_url());
        }
        Command::User { command } => {
            let app = open_app(&settings).await?;
            match command {
                UserCommand::Add { login, name, kana, profession, duties } => {
                    let password = ops::random_password();
                    let input = tsunagu_app::admin::NewPerson {
                        login,
                        display_name: name,
                        display_name_kana: kana,
                        profession,
                        email: String::new(),
                        duties,
                        organisation_ids: vec![],
                    };
                    let u = app.add_person_with_password(input, &password).await.map_err(ops::app_err)?;
                    println!("added {} — one-time password: {password}", u.login);
                }
                UserCommand::Disable { login } => {
                    app.set_account_disabled(None, &login, true).await.map_err(ops::app_err)?;
                    println!("disabled {login}; its sessions have ended");
                }
                UserCommand::Enable { login } => {
                    app.set_account_disabled(None, &login, false).await.map_err(ops::app_err)?;
                    println!("enabled {login}");
                }
                UserCommand::List => {
                    for u in app.store.list_users().await? {
                        let state = if u.disabled_at.is_some() { "disabled" } else { "active" };
                        println!("{}\t{}\t{}\t{}", u.login, u.profession, state, u.display_name);
                    }
                }
                UserCommand::BindCertificate { login, fingerprint, label } => {
                    app.bind_certificate(&login, &fingerprint, &label).await.map_err(ops::app_err)?;
                    println!("certificate bound to {login}");
                }
            }
        }
        Command::Token { command: TokenCommand::Create { user, expires, label, read_only } } => {
            let app = open_app(&settings).await?;
            let secs = parse_duration(&expires)?;
            let token = app.create_token(None, &user, &label, secs, read_only).await.map_err(ops::app_err)?;
            println!("{token}");
        }
        Command::Token { command: TokenCommand::List { user } } => {
            let app = open_app(&settings).await?;
            for t in app.tokens_of(&user).await.map_err(ops::app_err)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.status.as_str(),
                    if t.read_only { "read-only" } else { "read-write" },
                    t.created_at.jst_minutes(),
                    t.expires_at.jst_minutes(),
                    t.last_used_at.map_or_else(|| "never".to_string(), |u| u.jst_minutes()),
                    t.label
                );
            }
        }
        Command::Token { command: TokenCommand::Revoke { id } } => {
            let app = open_app(&settings).await?;
            if app.revoke_token_cli(&id).await.map_err(ops::app_err)? {
                println!("revoked token {id}");
            } else {
                println!("token {id} was already revoked");
            }
        }
        Command::Backup { to } => {
            let app = open_app(&settings).await?;
            ops::backup(&app, &settings, &to).await?;
            println!("backup written to {}", to.display());
        }
        Command::Restore { from } => {
            ops::restore(&settings, &from).await?;
            println!("restored from {}", from.display());
        }
        Command::Directory { command } => {
            let app = open_app(&settings).await?;
            return directory_cli::run(&app, command).await;
        }
        Command::Gen(args) => return r#gen::run(&settings, args).await,
        Command::Audit { command } => {
            let app = open_app(&settings).await?;
            let head_file = settings.audit_head_file();
            match command {
                AuditCommand::Verify => {
                    let heads = tsunagu_app::audit::read_exported_heads(&head_file).map_err(ops::app_err)?;
                    let n_heads = heads.len();
                    let r = app.verify_audit(heads).await.map_err(ops::app_err)?;
                    if r.findings.is_empty() {
                        println!(
                            "audit log intact: {} events, head {} {}, {} exported heads matched",
                            r.checked, r.head.seq, r.head.hash, n_heads
                        );
                    } else {
                        for f in &r.findings {
                            println!("TAMPERED: {f}");
                        }
                        println!(
                            "audit log NOT intact: {} problem(s) in {} events",
                            r.findings.len(),
                            r.checked
                        );
                        return Ok(ExitCode::from(1));
                    }
                }
                AuditCommand::ExportHead => {
                    match app.export_audit_head(&head_file).await.map_err(ops::app_err)? {
                        Some(h) => println!("exported head {} {} to {}", h.seq, h.hash, head_file.display()),
                        None => println!("head unchanged"),
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3_600);
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
