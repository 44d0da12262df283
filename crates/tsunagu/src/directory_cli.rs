//! `tsunagu directory …`: the national open-data import and the directory export, for the
//! operator (no login: the audit log records these as `cli`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use tsunagu_app::App;
use tsunagu_app::AppError;
use tsunagu_app::directory::export::{ExportFormat, ExportScope};
use tsunagu_app::directory::import::ImportReport;

#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Import files of the national care-service open data (介護サービス情報公表システム
    /// オープンデータ, UTF-8 CSV); offices are matched by their office number (事業所番号).
    /// Exits with 1 when a file was refused as a whole.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Export the directory: CSV (the national columns first) or Open Referral HSDS 3 JSON.
    Export {
        /// csv or hsds.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        to: Option<PathBuf>,
        /// Also export the physicians' consultation hours (for professionals only; never the
        /// contact routes).
        #[arg(long)]
        professional: bool,
    },
}

pub async fn run(app: &App, command: DirectoryCommand) -> Result<ExitCode> {
    match command {
        DirectoryCommand::Import { files } => import(app, &files).await,
        DirectoryCommand::Export { format, to, professional } => {
            let format = ExportFormat::parse(&format).map_err(|e| crate::ops::app_err(e.into()))?;
            let scope = if professional { ExportScope::Professional } else { ExportScope::Public };
            let mut out: Box<dyn Write> = match &to {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut export = app.export_directory(format, scope);
            while let Some(chunk) = export.next_chunk().await.map_err(crate::ops::app_err)? {
                out.write_all(&chunk).context("cannot write the export")?;
            }
            out.flush().context("cannot write the export")?;
            if let Some(path) = to {
                eprintln!("exported to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import(app: &App, files: &[PathBuf]) -> Result<ExitCode> {
    let t = tsunagu_web::i18n::Tr::new(tsunagu_web::i18n::Lang::En);
    let mut report = ImportReport::default();
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.display().to_string();
        match app.import_directory_from_cli(&name, &bytes).await {
            Ok(r) => report.merge(r),
            Err(AppError::Invalid(inv)) => report.refuse(&name, inv),
            Err(e) => return Err(crate::ops::app_err(e)).with_context(|| format!("importing {name}")),
        }
    }
    for r in &report.refused {
        eprintln!("{}: refused: {}", r.file, t.error(&r.error));
    }
    for r in &report.rejected {
        println!("{}:{}: {}: {}", r.file, r.line, r.error.field, t.error(&r.error));
    }
    println!(
        "{} file(s), {} row(s): {} created, {} updated, {} unchanged, {} rejected{}",
        report.files,
        report.rows,
        report.created,
        report.updated,
        report.unchanged,
        report.rejected_count(),
        if report.refused.is_empty() {
            String::new()
        } else {
            format!(", {} file(s) refused", report.refused.len())
        }
    );
    Ok(if report.refused.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
