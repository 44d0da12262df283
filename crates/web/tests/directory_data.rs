//! The directory's data in and out over HTTP (issue 4, point 7): the public exports (content
//! types, no professional-only value) and the coordinator's import page, on every backend.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::Value;
use support::TestApp;
use tsunagu_app::directory::import::{NATIONAL_COLUMNS, REASON_KEYS, col};
use tsunagu_store::directory::ProviderQuery;
use tsunagu_web::i18n::{Lang, Tr};

const BOUNDARY: &str = "----tsunagu-import-boundary-41c2";
const FORBIDDEN: &str = "この操作を行う権限がありません。";

/// A multipart body of CSV files: (file name, content).
fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// A national open-data file (BOM, CRLF) with these (office number, name, service) rows.
fn national_file(rows: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(NATIONAL_COLUMNS).unwrap();
    for (i, (no, name, service)) in rows.iter().enumerate() {
        let mut cells = vec![String::new(); 24];
        cells[col::NO] = (i + 1).to_string();
        cells[col::OFFICE_NO] = (*no).into();
        cells[col::NAME] = (*name).into();
        cells[col::SERVICE] = (*service).into();
        cells[col::ADDRESS] = "石川県金沢市広坂1-1-1".into();
        w.write_record(&cells).unwrap();
    }
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend(w.into_inner().unwrap());
    out
}

/// Gives every provider a contact route, person and time of its own that nobody but
/// professionals may see, and returns them: none may appear in an export.
async fn professional_only_values(t: &TestApp) -> Vec<String> {
    let all = t.app.store.search_providers(&ProviderQuery::default()).await.unwrap();
    assert!(!all.is_empty(), "{}: the demo has a directory", t.name());
    let mut secrets = Vec::new();
    let mut tx = t.app.store.begin().await.unwrap();
    for (i, p) in all.iter().enumerate() {
        let mut e = p.clone();
        e.contact_line = format!("099-000-{i:04}");
        e.contact_person = format!("専門職だけの担当者{i:04}");
        e.contact_hours = format!("専門職だけの時間帯{i:04}");
        e.version += 1;
        assert!(tx.update_provider(&e, p.version).await.unwrap());
        secrets.extend([e.contact_line, e.contact_person, e.contact_hours]);
    }
    tx.commit().await.unwrap();
    secrets
}

#[tokio::test]
async fn the_exports_are_public_with_their_content_types_and_show_no_professional_only_value() {
    for t in support::all().await {
        let b = t.name();
        let secrets = professional_only_values(&t).await;
        let providers = t.app.store.count_providers(&ProviderQuery::default()).await.unwrap();

        let mut anonymous = t.client();
        let csv = anonymous.get("/directory/export.csv").await;
        csv.assert_status(StatusCode::OK);
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"), "{b}");
        assert!(csv.header("content-disposition").is_some_and(|d| d.starts_with("attachment")), "{b}");
        assert!(
            csv.body.starts_with("\u{feff}都道府県コード又は市町村コード,No,都道府県名"),
            "{b}: {}",
            csv.excerpt()
        );
        let rows =
            csv::Reader::from_reader(csv.body.trim_start_matches('\u{feff}').as_bytes()).records().count();
        assert!(rows as i64 >= providers, "{b}: one line per provider and service: {rows} < {providers}");

        let json = anonymous.get("/directory/export.json").await;
        json.assert_status(StatusCode::OK);
        assert_eq!(json.header("content-type"), Some("application/json"), "{b}");
        let orgs: Vec<Value> = serde_json::from_str(&json.body).unwrap();
        assert_eq!(orgs.len() as i64, providers, "{b}");
        assert!(orgs.iter().all(|o| o["id"].is_string() && o["name"].is_string()), "{b}");
        let consultation = |body: &str| body.contains("\"physician_consultation\"");
        assert!(!consultation(&json.body), "{b}: consultation hours are for professionals");

        // A professional also gets the consultation hours, still no contact route.
        let mut cm = t.login("caremanager").await;
        let pro = cm.get("/directory/export.json").await;
        pro.assert_status(StatusCode::OK);
        assert!(consultation(&pro.body), "{b}: the demo has consultation hours");

        for body in [&csv.body, &json.body, &pro.body] {
            for s in &secrets {
                assert!(!body.contains(s.as_str()), "{b}: {s:?} is for professionals only");
            }
            for field in ["contact_line", "contact_person", "contact_method", "contact_hours"] {
                assert!(!body.contains(field), "{b}: {field}");
            }
        }
    }
}

#[tokio::test]
async fn the_coordinator_imports_several_files_and_sees_counts_and_rejected_rows_by_line() {
    for t in support::all().await {
        let b = t.name();
        let good = national_file(&[
            ("1770900011", "ヘルパーステーション試験", "訪問介護"),
            ("17709", "番号の短い事業所", "訪問介護"),
            ("1770900029", "ショートステイ試験", "短期入所生活介護"),
        ]);
        let wrong = "名前,住所\r\nどこか,金沢\r\n".as_bytes();

        // Others get the usual refusal, for the page and for the upload.
        let mut nurse = t.login("nurse").await;
        nurse.get("/directory/import").await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN);
        let token = nurse.csrf_token().await;
        let (ct, body) = multipart(&[("good.csv", &good)]);
        nurse
            .post_raw(&format!("/directory/import?csrf={token}"), &ct, body)
            .await
            .assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN);
        let anonymous = t.client().get("/directory/import").await;
        assert_ne!(anonymous.status, StatusCode::OK, "{b}");

        let mut c = t.login("coordinator").await;
        let page = c.get("/directory/import").await;
        page.assert_status(StatusCode::OK);
        let action = page.attr("#import-form", "action").unwrap();
        assert!(action.starts_with("/directory/import?csrf="), "{b}: {action}");
        assert_eq!(page.attr("#files", "multiple").as_deref(), Some(""), "{b}");
        assert_eq!(page.attr("#export-csv", "href").as_deref(), Some("/directory/export.csv"), "{b}");

        // Nothing chosen.
        let (ct, body) = multipart(&[]);
        let none = c.post_raw(&action, &ct, body).await;
        none.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(none.text("#files-error"), "取り込むCSVファイルを選んでください。", "{b}");

        let (ct, body) = multipart(&[("jigyosho_110.csv", &good), ("wrong.csv", wrong)]);
        let done = c.post_raw(&action, &ct, body).await;
        done.assert_status(StatusCode::OK);
        assert_eq!(done.text("#count-files"), "2", "{b}");
        assert_eq!(done.text("#count-rows"), "3", "{b}");
        assert_eq!(done.text("#count-created"), "2", "{b}");
        assert_eq!(done.text("#count-rejected"), "1", "{b}");
        assert_eq!(done.texts("#rejected-rows tbody tr .line"), vec!["3"], "{b}");
        assert_eq!(done.texts("#rejected-rows tbody tr .field"), vec!["事業所番号"], "{b}");
        assert_eq!(
            done.texts("#rejected-rows tbody tr .reason"),
            vec!["事業所番号は10桁の数字です。"],
            "{b}"
        );
        assert_eq!(done.texts("#refused-files tbody tr .file"), vec!["wrong.csv"], "{b}");
        assert!(done.text("#refused-files .reason").contains("事業所番号"), "{b}: names the missing columns");

        // The same files again, in English: nothing new.
        c.set_cookie("lang", "en");
        let page = c.get("/directory/import").await;
        let action = page.attr("#import-form", "action").unwrap();
        let (ct, body) = multipart(&[("jigyosho_110.csv", &good)]);
        let again = c.post_raw(&action, &ct, body).await;
        again.assert_status(StatusCode::OK);
        assert_eq!(
            (again.text("#count-created"), again.text("#count-unchanged")),
            ("0".into(), "2".into()),
            "{b}"
        );
        assert_eq!(
            again.texts("#rejected-rows .reason"),
            vec!["The office number (事業所番号) must be 10 digits."],
            "{b}"
        );

        // The imported offices are in the directory and its export.
        let csv = t.client().get("/directory/export.csv").await;
        assert!(csv.body.contains("1770900011") && csv.body.contains("ショートステイ試験"), "{b}");
    }
}

#[test]
fn every_import_reason_has_a_message_in_both_languages() {
    for key in REASON_KEYS {
        for lang in [Lang::Ja, Lang::En] {
            assert_ne!(Tr::new(lang).get(key), key, "{key} has no message in {lang:?}");
        }
    }
}
