//! `tsunagu gen` end to end on SQLite: a tiny region is generated, the audit log verifies, the
//! logins and the password are printed, and a second run into the now full database is refused.
//! (The app's `tests/generate.rs` covers determinism and both backends.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn tsunagu(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsunagu"));
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TSUNAGU_") {
            c.env_remove(k);
        }
    }
    c.arg("--database-url").arg(url).args(args).output().expect("run tsunagu")
}

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn gen_fills_an_empty_database_that_then_verifies() {
    let dir = tempfile::Builder::new().prefix("tsunagu-gen-e2e-").tempdir().unwrap();
    let url = format!("sqlite://{}/g.db", dir.path().display());
    let args = ["gen", "--providers", "120", "--patients", "6", "--entries-per-patient", "7", "--seed", "9"];
    let out = tsunagu(dir.path(), &url, &args);
    let all = text(&out);
    assert!(out.status.success(), "gen failed:\n{all}");
    assert!(all.contains("120 providers"), "{all}");
    assert!(all.contains("6 patients, 42 entries"), "{all}");
    assert!(all.contains("tsunagu-gen-region"), "the password is printed:\n{all}");
    assert!(all.contains("gen-physician-00001"), "a physician's login is printed:\n{all}");

    let out = tsunagu(dir.path(), &url, &["audit", "verify"]);
    assert!(out.status.success(), "audit verify failed:\n{}", text(&out));
    assert!(text(&out).contains("audit log intact"), "{}", text(&out));

    let out = tsunagu(dir.path(), &url, &args);
    assert!(!out.status.success(), "a second gen into a full database must be refused:\n{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
}
