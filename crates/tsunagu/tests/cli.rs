//! End-to-end tests of the `tsunagu` binary: configuration, the operator's commands, the audit
//! chain against an attacker with database access, online backup and restore, and the server
//! under `kill -9` and SIGTERM (DESIGN §3.5, §3.8). Each test that needs a database runs on
//! SQLite and, when installed, on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{
    Client, DEMO_LOGINS, Hammer, PASSWORD, Server, TestDb, Workdir, backend_name, connect, databases,
    drop_audit_triggers, organisation_names, raw_sql,
};

// ---------------------------------------------------------------------------------------------
// 1. Configuration

/// Whether `text` holds `word` as a whole word (`session_idle` is not named by
/// `session_idle_minutes`).
fn names(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(part)
            && !text[at + word.len()..].chars().next().is_some_and(part)
    })
}

/// Asserts a refused start: non-zero exit, the message names `setting`, no panic, nothing
/// written to the working folder.
fn assert_refused_naming(out: support::Out, work: &Workdir, setting: &str) {
    let out = out.refused();
    assert_eq!(out.code(), Some(2), "a bad configuration exits with 2:\n{out}");
    assert!(names(&out.stderr, setting), "the message should name {setting:?}:\n{out}");
    assert!(out.stdout.trim().is_empty(), "nothing should be printed on stdout:\n{out}");
    assert!(
        !work.path().join("tsunagu-data").exists(),
        "a refused configuration must not create the data folder"
    );
}

#[test]
fn an_unsupported_database_url_scheme_stops_start_up_naming_database_url() {
    let work = Workdir::new();
    let out = work.run(Some("mysql://localhost/tsunagu"), &["user", "list"]);
    assert_refused_naming(out, &work, "database_url");

    let out = work.run_env(None, &[("TSUNAGU_DATABASE_URL", "mysql://localhost/tsunagu")], &["user", "list"]);
    assert_refused_naming(out, &work, "database_url");

    let out = work.run(Some("mysql://localhost/tsunagu"), &["serve"]);
    assert_refused_naming(out, &work, "mysql");
}

#[test]
fn an_unknown_key_in_the_configuration_file_stops_start_up_naming_the_key() {
    let work = Workdir::new();
    let file = work.path().join("tsunagu.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nsession_idle = 5\n").unwrap();
    let path = file.to_str().unwrap();
    let out = work.run(None, &["--config", path, "user", "list"]);
    assert_refused_naming(out, &work, "session_idle");

    // The same file named by TSUNAGU_CONFIG.
    let out = work.run_env(None, &[("TSUNAGU_CONFIG", path)], &["serve"]);
    assert_refused_naming(out, &work, "session_idle");

    // A file that is not there is named too.
    let out = work.run(None, &["--config", "missing.toml", "user", "list"]);
    assert_refused_naming(out, &work, "missing.toml");
}

#[test]
fn an_unknown_tsunagu_environment_variable_stops_start_up_naming_it() {
    let work = Workdir::new();
    let out = work.run_env(None, &[("TSUNAGU_LISTEN_PORT", "8080")], &["user", "list"]);
    assert_refused_naming(out, &work, "listen_port");

    let out = work.run_env(None, &[("TSUNAGU_SESSION_IDLE_MINUTES", "soon")], &["user", "list"]);
    assert_refused_naming(out, &work, "session_idle_minutes");
}

#[test]
fn a_bad_listen_address_stops_start_up_naming_listen() {
    let work = Workdir::new();
    let out = work.run(None, &["serve", "--listen", "localhost"]);
    assert_refused_naming(out, &work, "listen");

    let out = work.run_env(None, &[("TSUNAGU_LISTEN", "127.0.0.1:http")], &["serve"]);
    assert_refused_naming(out, &work, "listen");

    // A well-formed address that cannot be had (already taken) is named too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = work.run(None, &["serve", "--listen", &addr]).refused();
    assert!(out.stderr.contains("listen") && out.stderr.contains(&addr), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 2. Demo, users and tokens

fn user_list(work: &Workdir, url: &str) -> Vec<String> {
    let out = work.run(Some(url), &["user", "list"]).ok();
    out.stdout.lines().map(str::to_string).collect()
}

fn logins(lines: &[String]) -> BTreeSet<String> {
    lines.iter().filter_map(|l| l.split('\t').next()).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_into_an_empty_database_lists_the_14_demo_logins_and_a_second_demo_is_refused() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let out = work.run(Some(&db.url), &["demo"]).ok();
        for login in DEMO_LOGINS {
            assert!(out.stdout.contains(login), "[{b}] demo should print the login {login}:\n{out}");
        }
        assert!(out.stdout.contains(PASSWORD), "[{b}] demo should print the password:\n{out}");

        let lines = user_list(&work, &db.url);
        let expected: BTreeSet<String> = DEMO_LOGINS.iter().map(|s| s.to_string()).collect();
        assert_eq!(logins(&lines), expected, "[{b}] user list after demo");
        assert_eq!(lines.len(), DEMO_LOGINS.len(), "[{b}] one line per account: {lines:#?}");
        assert!(lines.iter().all(|l| l.split('\t').nth(2) == Some("active")), "[{b}] {lines:#?}");

        let out = work.run(Some(&db.url), &["demo"]).refused();
        assert!(
            out.stderr.contains("empty"),
            "[{b}] a second demo should say the database is not empty:\n{out}"
        );
        assert_eq!(user_list(&work, &db.url).len(), DEMO_LOGINS.len(), "[{b}] the refused demo added nobody");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_user_disable_and_token_create_print_what_they_should() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        work.run(Some(&db.url), &["demo"]).ok();

        let out = work
            .run(
                Some(&db.url),
                &["user", "add", "--login", "nurse2", "--name", "看護 次郎", "--profession", "nurse"],
            )
            .ok();
        let password =
            out.stdout.trim().strip_prefix("added nurse2 — one-time password: ").unwrap_or_else(|| {
                panic!("[{b}] user add should print the login and a one-time password:\n{out}")
            });
        assert!(
            password.len() >= 13 && password.chars().all(|c| c.is_ascii_alphanumeric()),
            "[{b}] a strong one-time password: {password:?}"
        );
        let lines = user_list(&work, &db.url);
        assert!(lines.contains(&"nurse2\tnurse\tactive\t看護 次郎".to_string()), "[{b}] {lines:#?}");

        // The same login again is refused, naming the login.
        let out = work
            .run(
                Some(&db.url),
                &["user", "add", "--login", "nurse2", "--name", "看護 三郎", "--profession", "nurse"],
            )
            .refused();
        assert!(out.stderr.contains("login"), "[{b}] {out}");

        let out = work.run(Some(&db.url), &["user", "disable", "nurse2"]).ok();
        assert_eq!(out.stdout.trim(), "disabled nurse2; its sessions have ended", "[{b}]");
        let lines = user_list(&work, &db.url);
        assert!(lines.contains(&"nurse2\tnurse\tdisabled\t看護 次郎".to_string()), "[{b}] {lines:#?}");
        assert_eq!(lines.len(), DEMO_LOGINS.len() + 1, "[{b}] {lines:#?}");

        let out = work.run(Some(&db.url), &["user", "disable", "nobody-here"]).refused();
        assert!(out.stderr.contains("not found"), "[{b}] {out}");

        let out = work.run(Some(&db.url), &["token", "create", "--user", "nurse", "--expires", "30d"]).ok();
        let token = out.stdout.trim();
        assert_eq!(out.stdout.lines().count(), 1, "[{b}] only the token is printed:\n{out}");
        assert!(token.len() >= 32 && !token.contains(char::is_whitespace), "[{b}] a bearer token: {token:?}");
        let again = work.run(Some(&db.url), &["token", "create", "--user", "nurse", "--expires", "30d"]).ok();
        assert_ne!(again.stdout.trim(), token, "[{b}] every token is new");

        // A disabled person gets no token.
        work.run(Some(&db.url), &["token", "create", "--user", "nurse2"]).refused();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiry_in_weeks_is_refused_with_a_clear_message() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        work.run(Some(&db.url), &["demo"]).ok();
        let head_before = db.store.audit_head().await.unwrap();
        let out =
            work.run(Some(&db.url), &["token", "create", "--user", "nurse", "--expires", "3w"]).refused();
        assert!(out.stdout.trim().is_empty(), "[{b}] no token is printed:\n{out}");
        assert!(
            out.stderr.contains("3w") && out.stderr.contains("d, h, m or s"),
            "[{b}] the message names the value and the units allowed:\n{out}"
        );
        let head_after = db.store.audit_head().await.unwrap();
        assert_eq!(head_before, head_after, "[{b}] a refused token writes nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_shows_a_persons_tokens_without_secrets_and_token_revoke_ends_one_audited() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let url = Some(db.url.as_str());
        work.run(url, &["demo"]).ok();
        assert!(work.run(url, &["token", "list", "--user", "nurse"]).ok().stdout.trim().is_empty(), "[{b}]");
        let token = work.run(url, &["token", "create", "--user", "nurse", "--label", "連携 A"]).ok().stdout;
        work.run(url, &["token", "create", "--user", "nurse", "--label", "連携 B", "--read-only"]).ok();

        let out = work.run(url, &["token", "list", "--user", "nurse"]).ok();
        assert!(!out.stdout.contains(token.trim()), "[{b}] the list never shows a token:\n{out}");
        let lines: Vec<Vec<&str>> = out.stdout.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2, "[{b}] one line per token:\n{out}");
        assert!(lines.iter().all(|l| l.len() == 7 && l[1] == "active" && l[5] == "never"), "[{b}]\n{out}");
        let a = lines.iter().find(|l| l[6] == "連携 A").unwrap_or_else(|| panic!("[{b}]\n{out}"));
        assert_eq!(a[2], "read-write", "[{b}]");
        let id = a[0].to_string();

        let out = work.run(url, &["token", "revoke", &id]).ok();
        assert_eq!(out.stdout.trim(), format!("revoked token {id}"), "[{b}]");
        let out = work.run(url, &["token", "list", "--user", "nurse"]).ok();
        let line = out.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("[{b}]\n{out}"));
        assert_eq!(line.split('\t').nth(1), Some("revoked"), "[{b}] {line}");
        assert!(out.stdout.lines().any(|l| l.split('\t').nth(1) == Some("active")), "[{b}] the other stays");

        let out = work.run(url, &["token", "revoke", &id]).ok();
        assert_eq!(out.stdout.trim(), format!("token {id} was already revoked"), "[{b}]");
        let out = work.run(url, &["token", "revoke", "no-such-token"]).refused();
        assert!(out.stderr.contains("not found"), "[{b}] {out}");
        let out = work.run(url, &["token", "list", "--user", "nobody-here"]).refused();
        assert!(out.stderr.contains("not found"), "[{b}] {out}");

        let events = db.store.audit_events_after(0, 100_000).await.unwrap();
        let revoked: Vec<_> = events.iter().filter(|e| e.event.action == "token.revoked").collect();
        assert_eq!(revoked.len(), 1, "[{b}] revoked once, audited once");
        assert_eq!(revoked[0].event.target_id.as_deref(), Some(id.as_str()), "[{b}]");
        assert_eq!(revoked[0].event.via.as_deref(), Some("cli"), "[{b}]");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The audit chain against an attacker

/// A demo database with a few more events (6 in all), its head exported.
fn audited_database(db: &TestDb) -> Workdir {
    let work = Workdir::new();
    let url = Some(db.url.as_str());
    work.run(url, &["demo"]).ok();
    for login in ["aud1", "aud2", "aud3"] {
        work.run(url, &["user", "add", "--login", login, "--name", "監査 太郎", "--profession", "nurse"])
            .ok();
    }
    work.run(url, &["token", "create", "--user", "nurse"]).ok();
    work.run(url, &["user", "disable", "aud1"]).ok();
    let out = work.run(url, &["audit", "export-head"]).ok();
    assert!(out.stdout.starts_with("exported head 6 "), "{out}");
    work
}

/// `audit verify` that must find tampering: exit 1, TAMPERED lines; returns them.
fn verify_tampered(work: &Workdir, db: &TestDb) -> Vec<String> {
    let out = work.run(Some(&db.url), &["audit", "verify"]).no_panic();
    assert_eq!(out.code(), Some(1), "[{}] audit verify should exit 1 on tampering:\n{out}", backend_name(db));
    assert!(out.stdout.contains("audit log NOT intact"), "{out}");
    let lines: Vec<String> =
        out.stdout.lines().filter(|l| l.starts_with("TAMPERED: ")).map(str::to_string).collect();
    assert!(!lines.is_empty(), "no TAMPERED line:\n{out}");
    lines
}

/// Checks the triggers refuse the attacker's statement, then drops them and runs it.
async fn tamper(db: &TestDb, statements: &[&str]) {
    let b = backend_name(db);
    let e = raw_sql(db, statements).await.expect_err("the triggers should refuse changing audit_events");
    assert!(e.contains("append-only"), "[{b}] refused by the trigger: {e}");
    raw_sql(db, &drop_audit_triggers(db.backend)).await.unwrap_or_else(|e| panic!("[{b}] {e}"));
    raw_sql(db, statements).await.unwrap_or_else(|e| panic!("[{b}] {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_on_a_fresh_demo_database() {
    for db in databases().await {
        // Right after the demo: one event (the demo's loading), no head exported yet.
        let work = Workdir::new();
        work.run(Some(&db.url), &["demo"]).ok();
        let out = work.run(Some(&db.url), &["audit", "verify"]).ok();
        assert!(
            out.stdout.starts_with("audit log intact: 1 events, head 1 ")
                && out.stdout.contains("0 exported heads matched"),
            "[{}] {out}",
            backend_name(&db)
        );
    }
    for db in databases().await {
        let work = audited_database(&db);
        let out = work.run(Some(&db.url), &["audit", "verify"]).ok();
        assert!(
            out.stdout.contains("audit log intact: 6 events, head 6")
                && out.stdout.contains("1 exported heads matched"),
            "[{}] {out}",
            backend_name(&db)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_an_edited_row() {
    for db in databases().await {
        let work = audited_database(&db);
        tamper(&db, &["update audit_events set outcome = 'failure' where seq = 3"]).await;
        let lines = verify_tampered(&work, &db);
        assert!(
            lines.iter().any(|l| l.starts_with("TAMPERED: event 3: content changed")),
            "[{}] {lines:#?}",
            backend_name(&db)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_deleted_row() {
    for db in databases().await {
        let work = audited_database(&db);
        tamper(&db, &["delete from audit_events where seq = 3"]).await;
        let lines = verify_tampered(&work, &db);
        assert!(
            lines.iter().any(|l| l.starts_with("TAMPERED: event 4: expected event 3 here")),
            "[{}] {lines:#?}",
            backend_name(&db)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_deleted_tail_by_the_head_exported_before() {
    for db in databases().await {
        let work = audited_database(&db);
        // The last two events go, and the head row is rewound to the event now last: the chain
        // in the database is consistent; only the head exported outside it knows better.
        tamper(
            &db,
            &[
                "delete from audit_events where seq > 4",
                "update audit_head set seq = 4, hash = (select hash from audit_events where seq = 4) where id = 1",
            ],
        )
        .await;
        let lines = verify_tampered(&work, &db);
        assert!(
            lines.iter().any(|l| l.starts_with("TAMPERED: exported head at event 6 does not match")),
            "[{}] {lines:#?}",
            backend_name(&db)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_swapped_rows() {
    for db in databases().await {
        let work = audited_database(&db);
        tamper(
            &db,
            &[
                "update audit_events set seq = -3 where seq = 3",
                "update audit_events set seq = 3 where seq = 4",
                "update audit_events set seq = 4 where seq = -3",
            ],
        )
        .await;
        let lines = verify_tampered(&work, &db);
        for seq in [3, 4] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("TAMPERED: event {seq}: "))),
                "[{}] event {seq} should be named: {lines:#?}",
                backend_name(&db)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Online backup and restore

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_taken_under_write_load_restores_to_the_same_data() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let mut server = Server::start(&work, Some(&db.url));
        let client = Client::login(server.addr, "admin", PASSWORD);
        let hammer = Hammer::start(&client, 2, "backup", Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(500));

        let acked_before = hammer.acked_so_far();
        let backup = work.path().join("backup.tsunagu");
        let backup_arg = backup.to_str().unwrap();
        let out = work.run(Some(&db.url), &["backup", "--to", backup_arg]).ok();
        assert!(out.stdout.contains("backup written to"), "[{b}] {out}");
        let acked_after = hammer.acked_so_far();
        std::thread::sleep(Duration::from_millis(200));
        let report = hammer.stop();
        assert!(report.unexpected.is_empty(), "[{b}] answers other than 303: {:?}", report.unexpected);
        assert_eq!(report.early_errors, 0, "[{b}] connections failed while the server was up");
        assert!(!acked_before.is_empty(), "[{b}] no write was acknowledged before the backup");

        // Taking a backup onto an existing file is refused.
        work.run(Some(&db.url), &["backup", "--to", backup_arg]).refused();

        let users = user_list(&work, &db.url);
        let status = server.terminate(Duration::from_secs(30));
        assert!(status.success(), "[{b}] {status}\n{}", server.output());
        let original = connect(&db.url).await;
        let original_count = original.count_organisations().await.unwrap();
        let orgs = original.list_organisations().await.unwrap();
        let demo_orgs = orgs.iter().filter(|o| !o.name.starts_with("backup-")).count() as i64;

        // Restore into a new location: a new folder (SQLite) or a second fresh database.
        let second = match db.backend {
            support::Backend::Sqlite => None,
            support::Backend::Postgres => {
                Some(tsunagu_store::testing::postgres().await.expect("a second PostgreSQL database"))
            }
        };
        let place = Workdir::new();
        let target = match &second {
            Some(t) => t.url.clone(),
            None => format!("sqlite://{}/restored/tsunagu.db", place.path().display()),
        };
        let out = place.run(Some(&target), &["restore", "--from", backup_arg]).ok();
        assert!(out.stdout.contains("restored from"), "[{b}] {out}");

        assert_eq!(user_list(&place, &target), users, "[{b}] the restored database has the same people");
        let restored = connect(&target).await;
        let restored_count = restored.count_organisations().await.unwrap();
        let names = organisation_names(&restored).await;
        let missing: Vec<&String> = acked_before.iter().filter(|n| !names.contains(*n)).collect();
        assert!(missing.is_empty(), "[{b}] writes acknowledged before the backup are missing: {missing:?}");
        assert!(
            restored_count >= demo_orgs + acked_before.len() as i64 && restored_count <= original_count,
            "[{b}] restored {restored_count} organisations; before the backup there were at least {}, \
             at the end {original_count}",
            demo_orgs + acked_before.len() as i64
        );
        let restored_load = names.iter().filter(|n| n.starts_with("backup-")).count();
        assert_eq!(
            restored_count,
            demo_orgs + restored_load as i64,
            "[{b}] the demo's organisations, restored"
        );
        assert!(
            restored_load <= acked_after.len() + 2,
            "[{b}] the backup holds {restored_load} writes, but only {} were acknowledged when it \
             ended (plus at most one in flight per worker)",
            acked_after.len()
        );

        // A consistent snapshot: each organisation and the audit event recording it, both or neither.
        let orgs = restored.list_organisations().await.unwrap();
        let created: BTreeSet<String> = restored
            .audit_events_after(0, 1_000_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event.action == "organisation.created")
            .filter_map(|e| e.event.target_id)
            .collect();
        let loaded: BTreeSet<String> =
            orgs.iter().filter(|o| o.name.starts_with("backup-")).map(|o| o.id.clone()).collect();
        assert_eq!(created, loaded, "[{b}] organisations and their audit events differ in the backup");

        let out = place.run(Some(&target), &["audit", "verify"]).ok();
        assert!(out.stdout.contains("audit log intact"), "[{b}] {out}");
        eprintln!(
            "[{b}] backup under load: {} writes acknowledged before the backup, {} when it ended, \
             {restored_load} in the backup, {} in all",
            acked_before.len(),
            acked_after.len(),
            report.acked.len()
        );
        restored.close().await;
        original.close().await;
    }
}

#[test]
fn a_sqlite_restore_over_a_database_keeps_the_previous_one_aside_and_refuses_a_file_that_is_no_backup() {
    let work = Workdir::new();
    work.run(None, &["demo"]).ok();
    work.run(None, &["backup", "--to", "before.backup"]).ok();
    let backup = work.path().join("before.backup");
    let backup_bytes = std::fs::read(&backup).unwrap();
    work.run(None, &["user", "add", "--login", "later", "--name", "後日 太郎", "--profession", "nurse"]).ok();
    assert_eq!(user_list(&work, "sqlite://tsunagu-data/tsunagu.db").len(), DEMO_LOGINS.len() + 1);

    // Something that is not a backup changes nothing and leaves nothing behind.
    std::fs::write(
        work.path().join("junk.backup"),
        "not a database at all, but long enough to look like one",
    )
    .unwrap();
    let out = work.run(None, &["restore", "--from", "junk.backup"]).refused();
    assert!(out.stderr.contains("backup is not"), "{out}");
    assert_eq!(user_list(&work, "sqlite://tsunagu-data/tsunagu.db").len(), DEMO_LOGINS.len() + 1);
    let mut files: Vec<String> = std::fs::read_dir(work.path().join("tsunagu-data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.iter().all(|f| !f.contains("restoring")), "a refused restore left {files:?}");

    let out = work.run(None, &["restore", "--from", "before.backup"]).ok();
    let aside = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("the previous database was kept as "))
        .unwrap_or_else(|| panic!("the restore should say where the previous database went:\n{out}"))
        .to_string();
    let restored = user_list(&work, "sqlite://tsunagu-data/tsunagu.db");
    assert_eq!(restored.len(), DEMO_LOGINS.len(), "the restored database is the backup: {restored:#?}");
    let previous = user_list(&work, &format!("sqlite://{aside}"));
    assert!(logins(&previous).contains("later"), "the previous database is kept whole: {previous:#?}");
    work.run(None, &["audit", "verify"]).ok();
    assert!(std::fs::read(&backup).unwrap() == backup_bytes, "restoring changed the backup file");
    let again = Workdir::new();
    let target = format!("sqlite://{}/again.db", again.path().display());
    again.run(Some(&target), &["restore", "--from", backup.to_str().unwrap()]).ok();
    assert_eq!(user_list(&again, &target).len(), DEMO_LOGINS.len());
}

// ---------------------------------------------------------------------------------------------
// 5. and 6. The server under kill -9 and SIGTERM

/// Every acknowledged name must be in the database; returns how many were found there.
async fn assert_all_there(db: &TestDb, acked: &[String], what: &str) -> usize {
    let store = connect(&db.url).await;
    let names = organisation_names(&store).await;
    store.close().await;
    let missing: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "[{}] {what}: {} of {} acknowledged writes are missing: {missing:?}",
        backend_name(db),
        missing.len(),
        acked.len()
    );
    names.iter().filter(|n| n.starts_with("crash-") || n.starts_with("term-")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_kill_9_of_the_server() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let mut server = Server::start(&work, Some(&db.url));
        let client = Client::login(server.addr, "admin", PASSWORD);
        let hammer = Hammer::start(&client, 4, "crash", Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(1500));
        hammer.interrupting();
        server.kill9();
        let report = hammer.stop();
        assert!(!server.stderr().contains("panicked"), "[{b}] {}", server.output());
        assert!(report.unexpected.is_empty(), "[{b}] answers other than 303: {:?}", report.unexpected);
        assert_eq!(report.early_errors, 0, "[{b}] connections failed while the server was up");
        assert!(report.acked.len() >= 10, "[{b}] too few writes acknowledged to mean anything: {report:?}");

        let found = assert_all_there(&db, &report.acked, "after kill -9").await;
        let out = work.run(Some(&db.url), &["audit", "verify"]).ok();
        assert!(out.stdout.contains("audit log intact"), "[{b}] {out}");
        eprintln!(
            "[{b}] kill -9: {} sent, {} acknowledged, {found} in the database, all acknowledged found, \
             {} connection errors",
            report.sent,
            report.acked.len(),
            report.errors
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_writes_exits_0_and_keeps_every_answered_write() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let mut server = Server::start(&work, Some(&db.url));
        let client = Client::login(server.addr, "admin", PASSWORD);
        let hammer = Hammer::start(&client, 4, "term", Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(1500));
        hammer.interrupting();
        let status = server.terminate(Duration::from_secs(20));
        let report = hammer.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "[{b}] SIGTERM should end the server with 0:\n{}",
            server.output()
        );
        assert!(!server.stderr().contains("panicked"), "[{b}] {}", server.output());
        assert!(report.unexpected.is_empty(), "[{b}] answers other than 303: {:?}", report.unexpected);
        assert_eq!(report.early_errors, 0, "[{b}] connections failed while the server was up");
        assert!(report.acked.len() >= 10, "[{b}] too few writes acknowledged to mean anything: {report:?}");

        let found = assert_all_there(&db, &report.acked, "after SIGTERM").await;
        assert_eq!(found, report.acked.len(), "[{b}] a write the server finished was never answered");

        // On the way out the server exports the chain's head: it names the last event.
        let head = db.store.audit_head().await.unwrap();
        let heads = std::fs::read_to_string(work.head_file()).unwrap();
        let last = heads.lines().last().unwrap_or("");
        assert!(
            last.contains(&format!("\"seq\":{}", head.seq)) && last.contains(&head.hash),
            "[{b}] the head exported at shutdown should be {head:?}; the file ends with {last:?}"
        );
        let out = work.run(Some(&db.url), &["audit", "verify"]).ok();
        assert!(out.stdout.contains("audit log intact"), "[{b}] {out}");
        eprintln!(
            "[{b}] SIGTERM: {} sent, {} acknowledged, {found} in the database, {} connection errors",
            report.sent,
            report.acked.len(),
            report.errors
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. First start

#[test]
fn the_server_on_an_empty_database_prints_the_demo_logins_and_serves_health_and_metrics() {
    let work = Workdir::new();
    let mut server = Server::start(&work, None);
    let out = server.stdout();
    for login in DEMO_LOGINS {
        assert!(out.contains(login), "the demo login {login} should be printed:\n{out}");
    }
    assert!(out.contains(&format!("Password for all of them: {PASSWORD}")), "{out}");
    assert!(out.contains(&format!("serving at http://{}", server.addr)), "{out}");
    assert!(
        work.path().join("tsunagu-data/tsunagu.db").is_file(),
        "the default database is in the data folder"
    );

    let health = support::get(server.addr, "/healthz").unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.body.trim(), "ok");

    let metrics = support::get(server.addr, "/metrics").unwrap();
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{metrics:?}");
    let line = metrics
        .body
        .lines()
        .find(|l| l.starts_with("http_requests_total{") && l.contains("route=\"/healthz\""))
        .unwrap_or_else(|| panic!("no http_requests_total for /healthz:\n{}", metrics.body));
    assert!(line.contains("status=\"200\""), "{line}");
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 2.0, "both /healthz requests were counted: {line}");
    assert!(metrics.body.contains("# TYPE http_requests_total counter"), "{}", metrics.body);

    // A second start on the same database loads nothing and prints no logins.
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "{}", server.output());
    let again = Server::start(&work, None);
    assert!(!again.stdout().contains("Password for all of them"), "{}", again.output());
}

// ---------------------------------------------------------------------------------------------
// 6. The directory's open data: import and export (issue 4, point 7)

/// A national open-data file: BOM, the 24 national columns, CRLF; rows of (office number,
/// name, service).
fn national_file(rows: &[(&str, &str, &str)]) -> Vec<u8> {
    let header = "都道府県コード又は市町村コード,No,都道府県名,市区町村名,事業所名,事業所名カナ,サービスの種類,住所,\
                  方書（ビル名等）,緯度,経度,電話番号,FAX番号,法人番号,法人の名称,事業所番号,利用可能曜日,\
                  利用可能曜日特記事項,定員,URL,高齢者の方と障害者の方が同時一体的に利用できるサービス,\
                  介護保険の通常の指定基準を満たしている,障害福祉の通常の指定基準を満たしている,備考";
    let mut out = format!("\u{feff}{header}\r\n");
    for (i, (no, name, service)) in rows.iter().enumerate() {
        out.push_str(&format!(
            "172014,{},石川県,金沢市,{name},,{service},石川県金沢市広坂1-1-1,,36.5613,136.6562,076-220-0001,,,,{no},,,,,,,,\r\n",
            i + 1
        ));
    }
    out.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_import_prints_each_rejected_row_by_file_and_line_and_export_writes_csv_and_hsds() {
    for db in databases().await {
        let b = backend_name(&db);
        let work = Workdir::new();
        let good = work.path().join("jigyosho_110.csv");
        std::fs::write(
            &good,
            national_file(&[
                ("1770100011", "ヘルパーステーションひろさか", "訪問介護"),
                ("177010002", "番号の短い事業所", "訪問介護"),
                ("1770100037", "ショートステイさいがわ", "短期入所生活介護"),
            ]),
        )
        .unwrap();
        let wrong = work.path().join("wrong.csv");
        std::fs::write(&wrong, "名前,住所\r\nどこか,金沢\r\n").unwrap();
        let (good_s, wrong_s) = (good.display().to_string(), wrong.display().to_string());

        let out = work.run(Some(&db.url), &["directory", "import", &good_s, &wrong_s]).refused();
        assert_eq!(out.code(), Some(1), "[{b}] a refused file exits with 1:\n{out}");
        assert!(
            out.stdout.contains(&format!(
                "{good_s}:3: 事業所番号: The office number (事業所番号) must be 10 digits."
            )),
            "[{b}] each rejected row as file:line: column: reason:\n{out}"
        );
        assert!(
            out.stderr
                .contains(&format!("{wrong_s}: refused: This is not the header of the national open data.")),
            "[{b}]\n{out}"
        );
        assert!(
            out.stdout.contains(
                "2 file(s), 3 row(s): 2 created, 0 updated, 0 unchanged, 1 rejected, 1 file(s) refused"
            ),
            "[{b}]\n{out}"
        );

        let out = work.run(Some(&db.url), &["directory", "import", &good_s]).ok();
        assert!(
            out.stdout.contains("1 file(s), 3 row(s): 0 created, 0 updated, 2 unchanged, 1 rejected"),
            "[{b}] a re-import changes nothing:\n{out}"
        );

        let out = work.run(Some(&db.url), &["directory", "export", "--format", "csv"]).ok();
        assert!(out.stdout.starts_with("\u{feff}都道府県コード又は市町村コード,No,"), "[{b}]\n{out}");
        assert!(out.stdout.contains(",1770100011,"), "[{b}]\n{out}");
        assert_eq!(out.stdout.lines().count(), 3, "[{b}] the header and one line per office:\n{out}");

        let to = work.path().join("hsds.json");
        work.run(
            Some(&db.url),
            &["directory", "export", "--format", "hsds", "--to", &to.display().to_string()],
        )
        .ok();
        let json = std::fs::read_to_string(&to).unwrap();
        assert!(json.trim_start().starts_with('[') && json.trim_end().ends_with(']'), "[{b}] {json}");
        assert!(json.contains("\"name\":\"ショートステイさいがわ\""), "[{b}] {json}");

        let out = work.run(Some(&db.url), &["directory", "export", "--format", "xml"]).refused();
        assert!(out.stderr.contains("format"), "[{b}]\n{out}");
    }
}
