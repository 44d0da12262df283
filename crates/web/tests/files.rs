//! Router tests of photos and files: a member's upload shows on the timeline with its thumbnail,
//! files are served to members only (with headers that keep browsers from guessing or caching),
//! anyone else gets the page of a patient who does not exist, a fake or oversized file or an
//! upload without the CSRF token is refused and leaves nothing behind, and the signed consent
//! form is linked from the consent page. Each runs on every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use support::{Client, Page, TINY_PNG, TestApp};
use tsunagu_app::sharing::{NewConsent, NewPatient, Registered};
use tsunagu_app::{Actor, AuthVia};
use tsunagu_store::patients::EntryFilter;

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const FAKE_FILE: &str = "このファイルは登録できません。写真（JPEG・PNG・WebP）またはPDFのみ登録できます（ファイル名ではなく中身で判定しています）。";
const TOO_LARGE: &str = "ファイルが大きすぎます。10 MB までのファイルにしてください。";
const EMPTY: &str = "ファイルを選んでください（空のファイルは登録できません）。";
const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";
const BOUNDARY: &str = "----tsunagu-test-boundary-7f3a";

async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.expect("actor")
}

/// A patient of `physician` with `nurse` on the team; with consent unless `consent` is false.
async fn patient(t: &TestApp, consent: bool) -> String {
    let doctor = actor(t, "physician").await;
    let input = NewPatient {
        name: "写真 花子".into(),
        name_kana: "しゃしん はなこ".into(),
        birth_date: "1938-04-01".into(),
        sex: "female".into(),
        confirmed_not_duplicate: true,
        ..Default::default()
    };
    let Registered::Created(p) = t.app.register_patient(&doctor, input).await.expect("register") else {
        panic!("{}: not registered", t.name())
    };
    if consent {
        let c = NewConsent {
            consenter: "patient".into(),
            consented_on: "2026-11-20".into(),
            scope: "在宅医療・介護の関係者間での情報共有".into(),
            ..Default::default()
        };
        t.app.record_consent(&doctor, &p.id, c).await.expect("consent");
        t.app.add_member(&doctor, &p.id, "nurse", "").await.expect("add nurse");
    }
    p.id
}

/// A multipart body: (name, file name for a file part, content).
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body
                .extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// Uploads `content` as `name` from the patient page's form (its action carries the token).
async fn upload(c: &mut Client, id: &str, name: &str, content: &[u8], caption: &str) -> Page {
    let page = c.get(&format!("/patients/{id}")).await;
    page.assert_status(StatusCode::OK);
    let action = page.attr("#file-form", "action").expect("the patient page has an upload form");
    assert_eq!(page.attr("#file-form", "enctype").as_deref(), Some("multipart/form-data"));
    let (ct, body) = multipart(&[("file", Some(name), content), ("caption", None, caption.as_bytes())]);
    c.post_raw(&action, &ct, body).await
}

async fn file_entries(t: &TestApp, id: &str) -> usize {
    let all = t.app.store.entries(id, &EntryFilter { limit: 200, ..Default::default() }).await.unwrap();
    all.iter().filter(|e| e.kind == "file").count()
}

fn files_in_folder(t: &TestApp) -> Vec<String> {
    match std::fs::read_dir(t.files.path()) {
        Ok(d) => d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Nothing of a refused upload is left: no entry, no row, no file.
async fn assert_nothing_stored(t: &TestApp, id: &str) {
    assert_eq!(file_entries(t, id).await, 0, "{}: a file entry was written", t.name());
    assert_eq!(t.app.store.count_attachments().await.unwrap(), 0, "{}: a row was stored", t.name());
    assert!(files_in_folder(t).is_empty(), "{}: files were left: {:?}", t.name(), files_in_folder(t));
}

fn without_request_id(body: &str) -> String {
    let mut out = body.to_string();
    while let (Some(a), Some(b)) = (out.find("<code>"), out.find("</code>")) {
        if b < a {
            break;
        }
        out.replace_range(a..b + "</code>".len(), "");
    }
    out
}

#[tokio::test]
async fn a_members_photo_shows_on_the_timeline_with_a_thumbnail_and_is_served_to_members() {
    for t in support::all().await {
        let b = t.name();
        let id = patient(&t, true).await;
        let mut nurse = t.login("nurse").await;
        let r = upload(&mut nurse, &id, "褥瘡 1.png", TINY_PNG, "仙骨部の褥瘡").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{b}: {}", r.excerpt());
        let to = r.header("location").unwrap().to_string();
        assert!(to.starts_with(&format!("/patients/{id}#entry-")), "{b}: redirected to {to}");

        let rows = t.app.store.attachments_of_patient(&id).await.unwrap();
        assert_eq!(rows.len(), 1, "{b}");
        let a = &rows[0];
        assert_eq!(a.content_type, "image/png", "{b}");
        assert_eq!(a.original_name, "褥瘡 1.png", "{b}");
        assert_eq!(a.size, TINY_PNG.len() as i64, "{b}");
        assert_eq!(a.sha256, hex::encode(Sha256::digest(TINY_PNG)), "{b}");
        assert_eq!(
            std::fs::read(t.files.path().join(&a.stored_path)).unwrap(),
            TINY_PNG,
            "{b}: the stored file"
        );
        assert!(a.thumbnail_path.is_some(), "{b}: no thumbnail");

        let page = nurse.get(&to).await;
        page.assert_status(StatusCode::OK);
        let entry = format!("#entry-{}", to.rsplit("#entry-").next().unwrap());
        let thumb = format!("/patients/{id}/files/{}/thumb", a.id);
        assert_eq!(page.attr(&format!("{entry} img.thumb"), "src").as_deref(), Some(thumb.as_str()), "{b}");
        assert_eq!(page.attr(&format!("{entry} img.thumb"), "alt").as_deref(), Some("褥瘡 1.png"), "{b}");
        assert_eq!(page.text(&format!("{entry} .entry-body")), "仙骨部の褥瘡", "{b}");

        // Served to members, the attending physician too, with headers that keep it private.
        let mut doctor = t.login("physician").await;
        for c in [&mut nurse, &mut doctor] {
            let f = c.get(&format!("/patients/{id}/files/{}", a.id)).await;
            f.assert_status(StatusCode::OK);
            assert_eq!(f.header("content-type"), Some("image/png"), "{b}");
            assert_eq!(f.header("x-content-type-options"), Some("nosniff"), "{b}");
            assert_eq!(f.header("cache-control"), Some("private, no-store"), "{b}");
            let cd = f.header("content-disposition").unwrap();
            assert!(cd.starts_with("inline; filename="), "{b}: {cd}");
            assert!(cd.contains("filename*=UTF-8''%E8%A4%A5%E7%98%A1%201.png"), "{b}: {cd}");
            assert!(f.body.contains("IHDR"), "{b}: not the image");
            let th = c.get(&thumb).await;
            th.assert_status(StatusCode::OK);
            assert_eq!(th.header("content-type"), Some("image/jpeg"), "{b}");
            assert_eq!(th.header("cache-control"), Some("private, no-store"), "{b}");
        }
        let reads = t.audit().await.iter().filter(|e| e.event.action == "file.read").count();
        assert_eq!(reads, 4, "{b}: each read is audited");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn anyone_but_a_member_gets_the_page_of_a_patient_who_does_not_exist() {
    for t in support::all().await {
        let b = t.name();
        let id = patient(&t, true).await;
        let nurse = actor(&t, "nurse").await;
        let up = tsunagu_app::attachments::Upload { name: "a.png".into(), bytes: TINY_PNG.to_vec() };
        let e = t.app.upload_file(&nurse, &id, up, "").await.unwrap();
        let file = tsunagu_app::attachments::file_of(&e).unwrap().attachment_id;

        let mut cm = t.login("caremanager").await;
        let hidden = cm.get(&format!("/patients/{id}/files/{file}")).await;
        hidden.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        for other in
            [format!("/patients/{RANDOM_ID}/files/{file}"), format!("/patients/{id}/files/{file}/thumb")]
        {
            let o = cm.get(&other).await;
            assert_eq!(o.status, hidden.status, "{b}: {other}");
            assert_eq!(without_request_id(&o.body), without_request_id(&hidden.body), "{b}: {other} differs");
        }
        // A member asking for a file that is not there, or is another patient's, gets it too.
        let other_patient = patient(&t, true).await;
        let mut n = t.login("nurse").await;
        for path in
            [format!("/patients/{id}/files/{RANDOM_ID}"), format!("/patients/{other_patient}/files/{file}")]
        {
            n.get(&path).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        }
        // Anonymous visitors go to the login page.
        let a = t.client().get(&format!("/patients/{id}/files/{file}")).await;
        assert_eq!(a.header("location"), Some("/login"), "{b}");
    }
}

#[tokio::test]
async fn a_text_file_named_jpg_is_refused_with_a_message_and_nothing_is_stored() {
    for t in support::all().await {
        let id = patient(&t, true).await;
        let mut nurse = t.login("nurse").await;
        let r = upload(&mut nurse, &id, "photo.jpg", b"this is just text, not a photo", "fake").await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#file-error"), FAKE_FILE, "{}", t.name());
        assert_eq!(r.text("#caption"), "fake", "{}: the caption is kept", t.name());
        assert_nothing_stored(&t, &id).await;

        // PNG magic bytes on something that is not an image are refused too.
        let r = upload(&mut nurse, &id, "x.png", b"\x89PNG\r\n\x1a\nnot an image at all", "").await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.count("#file-error") == 1, "{}", t.name());
        // An empty file is refused.
        let r = upload(&mut nurse, &id, "empty.png", b"", "").await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#file-error"), EMPTY, "{}", t.name());
        assert_nothing_stored(&t, &id).await;
    }
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_and_nothing_is_stored() {
    for t in support::all().await {
        let id = patient(&t, true).await;
        let mut nurse = t.login("nurse").await;
        let mut big = TINY_PNG.to_vec();
        big.resize(10 * 1024 * 1024 + 1, 0);
        let r = upload(&mut nurse, &id, "big.png", &big, "").await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#file-error"), TOO_LARGE, "{}", t.name());
        assert_nothing_stored(&t, &id).await;
    }
}

#[tokio::test]
async fn an_upload_without_the_csrf_token_in_its_address_is_refused() {
    for t in support::all().await {
        let id = patient(&t, true).await;
        let mut nurse = t.login("nurse").await;
        let token = nurse.csrf_token().await;
        // No token at all; the token only inside the multipart body (not read); a wrong token.
        let (ct, body) = multipart(&[("csrf", None, token.as_bytes()), ("file", Some("a.png"), TINY_PNG)]);
        for path in
            [format!("/patients/{id}/files"), format!("/patients/{id}/files?csrf=wrong-{}", &token[6..])]
        {
            let r = nurse.post_raw(&path, &ct, body.clone()).await;
            r.assert_status(StatusCode::FORBIDDEN);
        }
        // The query token is taken for multipart only: a plain form needs it in its body.
        let r = nurse
            .post_raw(
                &format!("/patients/{id}/files?csrf={token}"),
                "application/x-www-form-urlencoded",
                b"caption=x".to_vec(),
            )
            .await;
        r.assert_status(StatusCode::FORBIDDEN);
        assert_nothing_stored(&t, &id).await;
    }
}

#[tokio::test]
async fn the_signed_consent_form_is_attached_to_the_consent_and_linked_from_its_page() {
    for t in support::all().await {
        let b = t.name();
        let id = patient(&t, false).await;
        let mut doctor = t.login("physician").await;
        let page = doctor.get(&format!("/patients/{id}/consent")).await;
        let action = page.attr("#consent-form", "action").unwrap();
        assert_eq!(page.attr("#consent-form", "enctype").as_deref(), Some("multipart/form-data"), "{b}");
        let fields = |form: &'static [u8]| {
            multipart(&[
                ("consenter", None, b"patient"),
                ("consented_on", None, b"2026-11-20"),
                ("scope", None, "在宅医療・介護の関係者間での情報共有".as_bytes()),
                ("form", Some("同意書.pdf"), form),
            ])
        };
        // A fake form is refused next to its field; nothing is recorded.
        let (ct, body) = fields(b"not a pdf");
        let r = doctor.post_raw(&action, &ct, body).await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#form-error"), FAKE_FILE, "{b}");
        assert!(t.app.store.consents(&id).await.unwrap().is_empty(), "{b}: a consent was recorded");
        assert_nothing_stored(&t, &id).await;

        let pdf: &'static [u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
        let (ct, body) = fields(pdf);
        let r = doctor.post_raw(&action, &ct, body).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{b}: {}", r.excerpt());
        let consent = t.app.store.consents(&id).await.unwrap().remove(0);
        let form_id = consent.form_attachment_id.clone().expect("the consent names its form");
        let row = t.app.store.attachment(&form_id).await.unwrap().unwrap();
        assert_eq!(row.consent_id.as_deref(), Some(consent.id.as_str()), "{b}");
        assert_eq!(row.content_type, "application/pdf", "{b}");
        assert_eq!(row.thumbnail_path, None, "{b}");

        let page = doctor.get(&format!("/patients/{id}/consent")).await;
        let href = page.attr(".consent-form-link", "href").expect("a link to the form");
        assert_eq!(href, format!("/patients/{id}/files/{form_id}"), "{b}");
        let f = doctor.get(&href).await;
        f.assert_status(StatusCode::OK);
        assert_eq!(f.header("content-type"), Some("application/pdf"), "{b}");
        assert_eq!(f.body.as_bytes(), pdf, "{b}");

        // A member sees the link too; a non-member gets the not-found page.
        t.app.add_member(&actor(&t, "physician").await, &id, "nurse", "").await.unwrap();
        let mut nurse = t.login("nurse").await;
        nurse.get(&href).await.assert_status(StatusCode::OK);
        let mut cm = t.login("caremanager").await;
        cm.get(&href).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
    }
}
