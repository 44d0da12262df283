//! The national care-service open data import and the directory export (issue 4, point 7), on
//! every backend the store harness finds. The files are written here in the national format
//! (UTF-8 with a BOM, CRLF, the 24 national columns).

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;
use tsunagu_app::admin::NewPerson;
use tsunagu_app::directory::export::{ExportFormat, ExportScope};
use tsunagu_app::directory::import::{ImportReport, NATIONAL_COLUMNS, col};
use tsunagu_app::{Actor, App, AppConfig, AppError, AuthVia};
use tsunagu_domain::{FixedClock, Timestamp};
use tsunagu_store::directory::hours::ConsultationSlotRow;
use tsunagu_store::directory::vacancies::VacancyRow;
use tsunagu_store::directory::{CodeSet, ProviderRow};
use tsunagu_store::testing;

const PASSWORD: &str = "demo-password-123";
/// 2026-11-24T00:30:00Z (09:30 in Kanazawa).
const START: Timestamp = Timestamp(1_795_480_200_000_000);

/// One line of a national file: the office's values by column, the rest empty.
fn line(office_no: &str, name: &str, service: &str, more: &[(usize, &str)]) -> Vec<String> {
    let mut cells = vec![String::new(); 24];
    cells[col::CITY_CODE] = "172014".into();
    cells[col::PREFECTURE] = "石川県".into();
    cells[col::CITY] = "金沢市".into();
    cells[col::OFFICE_NO] = office_no.into();
    cells[col::NAME] = name.into();
    cells[col::SERVICE] = service.into();
    for (c, v) in more {
        cells[*c] = (*v).to_string();
    }
    cells
}

/// A file in the national format: BOM, header, CRLF line ends, the `No` column numbered.
fn national_file(lines: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(NATIONAL_COLUMNS).unwrap();
    for (i, l) in lines.iter().enumerate() {
        let mut l = l.clone();
        l[col::NO] = (i + 1).to_string();
        w.write_record(&l).unwrap();
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().unwrap());
    out
}

/// The home-help file of the first import: three good offices.
fn home_help_v1() -> Vec<Vec<String>> {
    vec![
        line(
            "1770100011",
            "ヘルパーステーションひろさか",
            "訪問介護",
            &[
                (col::NAME_KANA, "ﾍﾙﾊﾟｰｽﾃｰｼｮﾝﾋﾛｻｶ"),
                (col::ADDRESS, "石川県金沢市広坂1-1-1"),
                (col::ADDRESS_EXTRA, "広坂ビル2階"),
                (col::LATITUDE, "36.5613"),
                (col::LONGITUDE, "136.6562"),
                (col::PHONE, "076-220-0001"),
                (col::FAX, "076-220-0002"),
                (col::CORPORATE_NUMBER, "1220005000001"),
                (col::OPERATOR_NAME, "社会福祉法人ひろさか会"),
                (col::OPEN_DAYS, "月火水木金"),
                (col::URL, "https://hirosaka.example.jp/"),
            ],
        ),
        line(
            "1770100029",
            "訪問介護事業所たがみ",
            "訪問介護",
            &[
                (col::ADDRESS, "石川県金沢市田上本町1-2"),
                (col::LATITUDE, "36.5480"),
                (col::LONGITUDE, "136.7000"),
            ],
        ),
        line(
            "1770100037",
            "ヘルパーセンターもりもと",
            "訪問介護",
            &[(col::ADDRESS, "石川県金沢市岸川町ほ5")],
        ),
    ]
}

async fn person(app: &App, login: &str, duties: &[&str]) -> Actor {
    let u = app
        .add_person_with_password(
            NewPerson {
                login: login.into(),
                display_name: "試験 花子".into(),
                display_name_kana: "しけん はなこ".into(),
                profession: "nurse".into(),
                email: String::new(),
                duties: duties.iter().map(|d| d.to_string()).collect(),
                organisation_ids: vec![],
            },
            PASSWORD,
        )
        .await
        .unwrap();
    app.actor(&u.id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.unwrap()
}

struct World {
    _db: testing::TestDb,
    name: String,
    app: App,
    clock: FixedClock,
    coordinator: Actor,
}

async fn worlds() -> Vec<World> {
    let mut out = Vec::new();
    for db in testing::all().await {
        let clock = FixedClock::at(START);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(clock.clone()), config);
        let coordinator = person(&app, "coordinator", &["home_care_coordinator"]).await;
        out.push(World { name: format!("{:?}", db.backend), app, clock, coordinator, _db: db });
    }
    out
}

async fn by_office(app: &App, office_no: &str) -> ProviderRow {
    let mut tx = app.store.begin().await.unwrap();
    let p =
        tx.provider_by_office_no(office_no).await.unwrap().unwrap_or_else(|| panic!("no office {office_no}"));
    tx.commit().await.unwrap();
    p
}

async fn import(w: &World, name: &str, bytes: &[u8]) -> ImportReport {
    w.app.import_directory(&w.coordinator, name, bytes).await.unwrap()
}

async fn imports_in_audit(app: &App) -> Vec<String> {
    app.store
        .audit_events_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == "directory.imported")
        .map(|e| e.event.detail.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_national_file_with_a_bom_imports_its_good_rows_and_reports_each_bad_one_by_line() {
    for w in worlds().await {
        let b = &w.name;
        let mut lines = home_help_v1();
        // Line 5 (after a quoted line break in line 4's 方書): a 9-digit office number.
        lines[2][col::ADDRESS_EXTRA] = "岸川\n集会所裏".into();
        lines.push(line("177010004", "番号の足りない事業所", "訪問介護", &[]));
        // Line 6: a service the national data does not have.
        lines.push(line("1770100052", "有料老人ホームかなざわ", "有料老人ホーム", &[]));
        // Line 7: latitude and longitude swapped.
        lines.push(line(
            "1770100060",
            "逆さ座標の事業所",
            "訪問介護",
            &[(col::LATITUDE, "136.65"), (col::LONGITUDE, "36.56")],
        ));
        // Line 8: a good short stay with its capacity, in full-width digits.
        lines.push(line(
            "１７７０１０００７８",
            "ショートステイさいがわ",
            "短期入所生活介護",
            &[(col::CAPACITY, "２０"), (col::ADDRESS, "石川県金沢市寺町5-1")],
        ));
        let file = national_file(&lines);
        assert!(file.starts_with(b"\xEF\xBB\xBF"));

        let r = import(&w, "jigyosho_110.csv", &file).await;
        assert_eq!((r.files, r.rows, r.created, r.updated, r.unchanged), (1, 7, 4, 0, 0), "{b}: {r:?}");
        let rejected: Vec<(u64, &str, &str)> =
            r.rejected.iter().map(|x| (x.line, x.error.field, x.error.code)).collect();
        assert_eq!(
            rejected,
            vec![
                (6, "事業所番号", "directory_data.reason_office_no"),
                (7, "サービスの種類", "directory_data.reason_service"),
                (8, "緯度", "error.latitude_range"),
            ],
            "{b}: lines as a person counts them in the file (line 4 spans two)"
        );
        assert!(r.rejected.iter().all(|x| x.file == "jigyosho_110.csv"), "{b}");

        let p = by_office(&w.app, "1770100011").await;
        assert_eq!(p.kind, "home_help_provider", "{b}");
        assert_eq!(p.name, "ヘルパーステーションひろさか", "{b}");
        assert_eq!(p.name_kana, "ヘルパーステーションヒロサカ", "{b}: half-width kana in full width");
        assert_eq!((p.latitude, p.longitude), (Some(36.5613), Some(136.6562)), "{b}");
        assert_eq!(p.address_extra, "広坂ビル2階", "{b}");
        assert_eq!((p.phone.as_str(), p.fax.as_str()), ("076-220-0001", "076-220-0002"), "{b}");
        assert_eq!(p.operator_name, "社会福祉法人ひろさか会", "{b}");
        assert_eq!(p.corporate_number, "1220005000001", "{b}");
        assert_eq!(p.website, "https://hirosaka.example.jp/", "{b}");
        assert_eq!((p.version, p.confirmed_at), (1, None), "{b}");
        assert_eq!(p.accepting, "unknown", "{b}");
        assert!(p.search_text.contains("へるぱーすてーしょんひろさか"), "{b}: {}", p.search_text);
        assert_eq!(w.app.store.provider_codes(&p.id).await.unwrap().services, vec!["home_help"], "{b}");

        assert_eq!(by_office(&w.app, "1770100037").await.address_extra, "岸川\n集会所裏", "{b}");
        let s = by_office(&w.app, "1770100078").await;
        assert_eq!((s.kind.as_str(), s.capacity), ("short_stay_facility", Some(20)), "{b}");

        // One audit event for the file, with counts only (no file name, no office).
        let events = imports_in_audit(&w.app).await;
        assert_eq!(events, vec!["rows=7 created=4 updated=0 unchanged=0 rejected=3"], "{b}");
    }
}

#[tokio::test]
async fn re_importing_the_same_file_changes_nothing() {
    for w in worlds().await {
        let b = &w.name;
        let file = national_file(&home_help_v1());
        import(&w, "a.csv", &file).await;
        let before: Vec<ProviderRow> =
            futures_rows(&w.app, &["1770100011", "1770100029", "1770100037"]).await;

        w.clock.advance_seconds(3600);
        let r = import(&w, "a.csv", &file).await;
        assert_eq!((r.rows, r.created, r.updated, r.unchanged), (3, 0, 0, 3), "{b}: {r:?}");
        assert!(r.rejected.is_empty(), "{b}");
        let after = futures_rows(&w.app, &["1770100011", "1770100029", "1770100037"]).await;
        assert_eq!(before, after, "{b}: not a single column was written (updated_at and version included)");
        for p in &after {
            assert!(w.app.store.org_changes(&p.id, 10).await.unwrap().is_empty(), "{b}: no change record");
        }
        assert_eq!(imports_in_audit(&w.app).await.len(), 2, "{b}: each import is audited");
    }
}

async fn futures_rows(app: &App, nos: &[&str]) -> Vec<ProviderRow> {
    let mut out = Vec::new();
    for no in nos {
        out.push(by_office(app, no).await);
    }
    out
}

#[tokio::test]
async fn a_newer_file_updates_by_office_number_and_keeps_what_operators_added_by_hand() {
    for w in worlds().await {
        let b = &w.name;
        import(&w, "v1.csv", &national_file(&home_help_v1())).await;
        let p = by_office(&w.app, "1770100011").await;

        // The operator renamed the office by hand, added capabilities, a contact route, a
        // district and says they accept new users.
        let mut edited = p.clone();
        edited.name = "ヘルパーステーションひろさか（本店）".into();
        edited.manual_fields = "name".into();
        edited.contact_line = "076-220-9999".into();
        edited.district = Some("広坂".into());
        edited.accepting = "yes".into();
        edited.version = 2;
        let mut tx = w.app.store.begin().await.unwrap();
        assert!(tx.update_provider(&edited, 1).await.unwrap());
        tx.set_provider_codes(&p.id, CodeSet::Capabilities, &["dementia".into(), "end_of_life".into()])
            .await
            .unwrap();
        tx.commit().await.unwrap();

        w.clock.advance_seconds(86_400);
        let mut lines = home_help_v1();
        lines[0][col::PHONE] = "076-220-0101".into();
        lines[0][col::ADDRESS] = "石川県金沢市広坂2-2-2".into();
        lines[0][col::NAME] = "ヘルパーステーション広坂".into();
        let r = import(&w, "v2.csv", &national_file(&lines)).await;
        assert_eq!((r.created, r.updated, r.unchanged), (0, 1, 2), "{b}: {r:?}");

        let q = by_office(&w.app, "1770100011").await;
        assert_eq!(q.id, p.id, "{b}: matched by office number");
        assert_eq!(q.phone, "076-220-0101", "{b}");
        assert_eq!(q.address, "石川県金沢市広坂2-2-2", "{b}");
        assert_eq!(q.name, "ヘルパーステーションひろさか（本店）", "{b}: the hand-edited name stays");
        assert_eq!(q.contact_line, "076-220-9999", "{b}");
        assert_eq!(q.district.as_deref(), Some("広坂"), "{b}");
        assert_eq!(q.accepting, "yes", "{b}");
        assert_eq!(q.manual_fields, "name", "{b}");
        assert_eq!(q.version, 3, "{b}");
        assert_eq!(q.updated_at, START.plus_seconds(86_400).micros(), "{b}");
        assert!(q.search_text.contains("広坂2-2-2"), "{b}: search follows the new address");
        assert!(q.search_text.contains("広坂"), "{b}");
        let codes = w.app.store.provider_codes(&p.id).await.unwrap();
        assert_eq!(codes.capabilities, vec!["dementia", "end_of_life"], "{b}: capabilities kept");
        assert_eq!(codes.services, vec!["home_help"], "{b}");

        let changes = w.app.store.org_changes(&p.id, 10).await.unwrap();
        assert_eq!(changes.len(), 1, "{b}: {changes:?}");
        let c = &changes[0];
        assert_eq!((c.source.as_str(), c.changed_by.as_deref()), ("import", None), "{b}");
        let fields: Vec<(String, Value, Value)> = serde_json::from_str::<Vec<Value>>(&c.changes)
            .unwrap()
            .into_iter()
            .map(|x| (x["field"].as_str().unwrap().to_string(), x["old"].clone(), x["new"].clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("address".into(), "石川県金沢市広坂1-1-1".into(), "石川県金沢市広坂2-2-2".into()),
                ("phone".into(), "076-220-0001".into(), "076-220-0101".into()),
            ],
            "{b}"
        );

        // The same newer file again: nothing more.
        let r = import(&w, "v2.csv", &national_file(&lines)).await;
        assert_eq!((r.created, r.updated, r.unchanged), (0, 0, 3), "{b}: {r:?}");
        assert_eq!(by_office(&w.app, "1770100011").await.version, 3, "{b}");
    }
}

#[tokio::test]
async fn a_second_service_file_adds_its_service_to_the_known_office() {
    for w in worlds().await {
        let b = &w.name;
        import(&w, "jigyosho_110.csv", &national_file(&home_help_v1())).await;
        let nursing = national_file(&[
            line(
                "1770100011",
                "ヘルパーステーションひろさか",
                "訪問看護",
                &home_help_v1()[0]
                    .iter()
                    .enumerate()
                    .filter(|(c, _)| ![col::NAME, col::SERVICE, col::OFFICE_NO, col::NO].contains(c))
                    .map(|(c, v)| (c, v.as_str()))
                    .collect::<Vec<_>>(),
            ),
            line(
                "1760100017",
                "訪問看護ステーションさいがわ",
                "訪問看護",
                &[(col::ADDRESS, "石川県金沢市寺町1-1")],
            ),
        ]);
        let r = import(&w, "jigyosho_130.csv", &nursing).await;
        assert_eq!((r.created, r.updated, r.unchanged), (1, 1, 0), "{b}: {r:?}");
        let p = by_office(&w.app, "1770100011").await;
        assert_eq!(
            w.app.store.provider_codes(&p.id).await.unwrap().services,
            vec!["home_help", "visiting_nursing"],
            "{b}"
        );
        assert_eq!((p.kind.as_str(), p.version), ("home_help_provider", 2), "{b}: the kind stays as it was");
        let changes = w.app.store.org_changes(&p.id, 10).await.unwrap();
        assert_eq!(changes.len(), 1, "{b}");
        assert!(changes[0].changes.contains("\"services\""), "{b}: {}", changes[0].changes);
        assert_eq!(by_office(&w.app, "1760100017").await.kind, "visiting_nursing_station", "{b}");

        // Both files again: nothing changes.
        let r = import(&w, "jigyosho_110.csv", &national_file(&home_help_v1())).await;
        assert_eq!((r.updated, r.unchanged), (0, 3), "{b}");
        let r = import(&w, "jigyosho_130.csv", &nursing).await;
        assert_eq!((r.updated, r.unchanged), (0, 2), "{b}");
    }
}

#[tokio::test]
async fn a_file_without_the_national_columns_is_refused_whole_and_only_the_coordinator_or_an_administrator_imports()
 {
    for w in worlds().await {
        let b = &w.name;
        let mut wrong = national_file(&home_help_v1());
        // "事業所番号" renamed: the file is not the national format.
        let text = String::from_utf8(wrong.clone()).unwrap().replacen("事業所番号", "事業者番号", 1);
        wrong = text.into_bytes();
        match w.app.import_directory(&w.coordinator, "wrong.csv", &wrong).await {
            Err(AppError::Invalid(inv)) => {
                assert_eq!(inv.0.len(), 1, "{b}");
                assert_eq!((inv.0[0].field, inv.0[0].code), ("file", "directory_data.file_header"), "{b}");
                assert_eq!(inv.0[0].args, vec![("columns", "事業所番号".to_string())], "{b}");
            }
            other => panic!("{b}: a wrong header must be refused: {other:?}"),
        }
        for (bytes, code) in [
            (&b""[..], "directory_data.file_empty"),
            (&b"\xEF\xBB\xBF\r\n"[..], "directory_data.file_empty"),
            (&b"\x8e\x96\x8b\xc6\x8f\x8a\x94\xd4\x8d\x86\r\n"[..], "directory_data.file_encoding"),
        ] {
            match w.app.import_directory(&w.coordinator, "x.csv", bytes).await {
                Err(AppError::Invalid(inv)) => assert_eq!(inv.0[0].code, code, "{b}"),
                other => panic!("{b}: {other:?}"),
            }
        }
        let mut tx = w.app.store.begin().await.unwrap();
        assert!(tx.provider_by_office_no("1770100011").await.unwrap().is_none(), "{b}: nothing imported");
        tx.commit().await.unwrap();
        assert!(imports_in_audit(&w.app).await.is_empty(), "{b}");

        let nurse = person(&w.app, "nurse1", &[]).await;
        let operator = person(&w.app, "operator1", &["provider_operator"]).await;
        for who in [&nurse, &operator] {
            let r = w.app.import_directory(who, "a.csv", &national_file(&home_help_v1())).await;
            assert!(matches!(r, Err(AppError::Forbidden)), "{b}: {r:?}");
        }
        let refused = w
            .app
            .store
            .audit_events_after(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.event.action == "access.refused" && e.event.detail.as_deref() == Some("directory.import")
            })
            .count();
        assert_eq!(refused, 2, "{b}: each refusal is audited");

        let admin = person(&w.app, "admin1", &["system_administrator"]).await;
        let r = w.app.import_directory(&admin, "a.csv", &national_file(&home_help_v1())).await.unwrap();
        assert_eq!(r.created, 3, "{b}");
    }
}

/// Adds to an imported directory what operators keep by hand: consultation hours, vacancies
/// (fresh and stale), a contact route, capabilities, a district.
async fn with_operator_data(w: &World) -> (ProviderRow, ProviderRow) {
    import(w, "jigyosho_110.csv", &national_file(&home_help_v1())).await;
    let short_stay = national_file(&[line(
        "1770200019",
        "ショートステイさいがわ",
        "短期入所生活介護",
        &[
            (col::ADDRESS, "石川県金沢市寺町5-1"),
            (col::LATITUDE, "36.5510"),
            (col::LONGITUDE, "136.6470"),
            (col::CAPACITY, "20"),
            (col::PHONE, "076-241-0001"),
            (col::URL, "info@saigawa.example.jp"),
        ],
    )]);
    import(w, "jigyosho_210.csv", &short_stay).await;
    let clinic = by_office(&w.app, "1770100011").await;
    let stay = by_office(&w.app, "1770200019").await;
    let now = w.app.now();
    let mut tx = w.app.store.begin().await.unwrap();
    for p in [&clinic, &stay] {
        let mut e = p.clone();
        e.contact_line = "SECRET-LINE-0766".into();
        e.contact_person = "SECRET-PERSON-相談員".into();
        e.contact_method = "phone".into();
        e.contact_hours = "SECRET-HOURS-平日".into();
        e.district = Some("寺町".into());
        e.version += 1;
        assert!(tx.update_provider(&e, p.version).await.unwrap());
    }
    tx.set_provider_codes(&clinic.id, CodeSet::Capabilities, &["dementia".into()]).await.unwrap();
    tx.set_provider_codes(&clinic.id, CodeSet::Departments, &["internal_medicine".into()]).await.unwrap();
    tx.insert_consultation_slot(&ConsultationSlotRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: clinic.id.clone(),
        physician: "SECRET-DOCTOR-山田".into(),
        weekday: 1,
        start_minute: 13 * 60,
        end_minute: 15 * 60,
        note: "要予約".into(),
        created_at: now.micros(),
    })
    .await
    .unwrap();
    let day = |d: i64| now.plus_seconds(d * 86_400).jst_day();
    for (d, beds, age_hours) in [(0, 2, 1), (1, 3, 2), (2, 5, 72)] {
        tx.upsert_vacancy(&VacancyRow {
            organisation_id: stay.id.clone(),
            day: day(d),
            free_beds: beds,
            confirmed_at: now.plus_seconds(-age_hours * 3600).micros(),
            confirmed_by: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (by_office(&w.app, "1770100011").await, by_office(&w.app, "1770200019").await)
}

fn hsds_validator() -> jsonschema::Validator {
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hsds/organization.json.gz"))
        .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
}

fn schema_errors(v: &jsonschema::Validator, org: &Value) -> Vec<String> {
    v.iter_errors(org).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[tokio::test]
async fn hsds_export_validates_against_the_hsds_3_1_organization_schema() {
    let validator = hsds_validator();
    for w in worlds().await {
        let b = &w.name;
        let (clinic, stay) = with_operator_data(&w).await;
        for scope in [ExportScope::Public, ExportScope::Professional] {
            let bytes = w.app.export_directory_bytes(ExportFormat::Hsds, scope).await.unwrap();
            let text = String::from_utf8(bytes).unwrap();
            for secret in ["SECRET-", "contact_line", "contact_person"] {
                assert!(!text.contains(secret), "{b} {scope:?}: {secret} must never be exported");
            }
            let orgs: Vec<Value> = serde_json::from_str(&text).unwrap();
            assert_eq!(orgs.len(), 4, "{b}");
            for org in &orgs {
                let errors = schema_errors(&validator, org);
                assert!(errors.is_empty(), "{b} {scope:?}: {errors:#?}\n{org:#}");
            }
            let find = |id: &str| orgs.iter().find(|o| o["id"] == id).unwrap().clone();

            let s = find(&stay.id);
            assert_eq!(s["name"], "ショートステイさいがわ", "{b}");
            assert!(s.get("website").is_none(), "{b}: an e-mail address is no website: {s:#}");
            let loc = &s["locations"][0];
            assert_eq!(
                (loc["latitude"].as_f64(), loc["longitude"].as_f64()),
                (Some(36.551), Some(136.647)),
                "{b}"
            );
            let addr = &loc["addresses"][0];
            assert_eq!(
                (addr["state_province"].as_str(), addr["city"].as_str(), addr["address_1"].as_str()),
                (Some("石川県"), Some("金沢市"), Some("寺町5-1")),
                "{b}"
            );
            assert_eq!(s["phones"][0]["number"], "076-241-0001", "{b}");
            let service = &s["services"][0];
            assert_eq!(service["name"], "短期入所生活介護", "{b}");
            assert_eq!(service["service_at_locations"][0]["location_id"], loc["id"], "{b}");
            let caps = service["capacities"].as_array().unwrap();
            let figures: Vec<(i64, i64)> = caps
                .iter()
                .map(|c| (c["available"].as_i64().unwrap(), c["maximum"].as_i64().unwrap()))
                .collect();
            assert_eq!(
                figures,
                vec![(2, 20), (3, 20)],
                "{b}: fresh figures only, the 72-hour-old one is stale"
            );
            assert!(caps.iter().all(|c| c["unit"]["name"] == "beds"), "{b}");

            let c = find(&clinic.id);
            let consultation: Vec<&Value> = c["services"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["alternate_name"] == "physician_consultation")
                .collect();
            match scope {
                ExportScope::Public => {
                    assert!(consultation.is_empty(), "{b}: consultation hours are for professionals");
                    assert!(!text.contains("要予約"), "{b}");
                }
                ExportScope::Professional => {
                    let sch = &consultation[0]["schedules"][0];
                    assert_eq!(
                        (sch["byday"].as_str(), sch["opens_at"].as_str(), sch["closes_at"].as_str()),
                        (Some("TU"), Some("13:00+09:00"), Some("15:00+09:00")),
                        "{b}"
                    );
                }
            }
            let attrs: Vec<(String, String)> = c["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["link_type"].as_str().unwrap().into(), a["value"].as_str().unwrap().into()))
                .collect();
            assert!(attrs.contains(&("tsunagu:capability".into(), "dementia".into())), "{b}: {attrs:?}");
            assert!(attrs.contains(&("tsunagu:district".into(), "寺町".into())), "{b}");
        }

        // The validator is not a formality: a capacity without its unit and an id that is no
        // UUID are refused.
        let bytes = w.app.export_directory_bytes(ExportFormat::Hsds, ExportScope::Public).await.unwrap();
        let mut orgs: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let s = orgs.iter_mut().find(|o| o["id"] == stay.id.as_str()).unwrap();
        s["services"][0]["capacities"][0].as_object_mut().unwrap().remove("unit");
        s["phones"][0]["id"] = "phone-1".into();
        let errors = schema_errors(&validator, s);
        assert_eq!(errors.len(), 2, "{b}: {errors:#?}");
    }
}

#[tokio::test]
async fn the_demo_region_exports_as_valid_hsds() {
    let validator = hsds_validator();
    for db in testing::all().await {
        let b = &format!("{:?}", db.backend);
        let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
        let app = App::new(db.store.clone(), Arc::new(FixedClock::at(START)), config);
        app.load_demo(PASSWORD).await.unwrap();
        let bytes = app.export_directory_bytes(ExportFormat::Hsds, ExportScope::Professional).await.unwrap();
        let orgs: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        assert!(orgs.len() > 20, "{b}: {}", orgs.len());
        for org in &orgs {
            let errors = schema_errors(&validator, org);
            assert!(errors.is_empty(), "{b}: {errors:#?}\n{org:#}");
        }
        let with = |key: &str| {
            orgs.iter()
                .filter(|o| o["services"].as_array().unwrap().iter().any(|s| s.get(key).is_some()))
                .count()
        };
        assert!(with("capacities") > 0, "{b}: the demo's short stays publish free beds");
        assert!(with("schedules") > 0, "{b}: the demo's physicians have consultation hours");
    }
}

#[tokio::test]
async fn the_csv_export_has_the_national_columns_first_and_imports_again_unchanged() {
    for w in worlds().await {
        let b = &w.name;
        let (clinic, _) = with_operator_data(&w).await;
        let bytes = w.app.export_directory_bytes(ExportFormat::Csv, ExportScope::Public).await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{b}: with a BOM like the national files");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(!text.contains("SECRET-"), "{b}");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(&header[..24], &NATIONAL_COLUMNS[..], "{b}");
        assert_eq!(&header[24..], &["kind", "district", "departments", "capabilities", "accepting"], "{b}");
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4, "{b}");
        let row = rows.iter().find(|r| &r[col::OFFICE_NO] == "1770100011").unwrap();
        assert_eq!(&row[col::SERVICE], "訪問介護", "{b}");
        assert_eq!(&row[col::PREFECTURE], "石川県", "{b}");
        assert_eq!(&row[col::CITY], "金沢市", "{b}");
        assert_eq!(
            (&row[24], &row[25], &row[26], &row[27]),
            ("home_help_provider", "寺町", "internal_medicine", "dementia"),
            "{b}"
        );

        // The export imports again and changes nothing; nor would it in another region.
        let before = by_office(&w.app, "1770100011").await;
        let report = import(&w, "export.csv", &bytes).await;
        assert_eq!(
            (report.rows, report.created, report.updated, report.unchanged),
            (4, 0, 0, 4),
            "{b}: {report:?}"
        );
        assert_eq!(by_office(&w.app, "1770100011").await, before, "{b}");
        assert_eq!(before.id, clinic.id, "{b}");
    }
}
