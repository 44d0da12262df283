//! Router tests of ACP (人生会議) records and of editing a patient's summary (issue 3 point 1):
//! the structured ACP entry, where the latest one shows (the summary, the emergency summary),
//! its refusals, and the summary's edit form with its history and version check. Every backend
//! the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::{StatusCode, header};
use support::{Page, TestApp};
use tsunagu_app::AuthVia;
use tsunagu_app::sharing::{NewPatient, Registered};

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const CONFLICT: &str = "他の人が先に更新しました。最新の内容を確認してください。";
const DNAR: &str = "心肺蘇生を希望しない（DNAR）";

/// Registers a patient of `physician` and returns their id.
async fn register(t: &TestApp, kana: &str) -> String {
    let id = t.user_id("physician").await;
    let doctor = t.app.actor(&id, AuthVia::Cli, None).await.expect("actor");
    let input = NewPatient {
        name: "金沢 花子".into(),
        name_kana: kana.into(),
        birth_date: "1938-04-12".into(),
        sex: "female".into(),
        address: "石川県金沢市野町1-2-3".into(),
        phone: "076-200-0000".into(),
        care_level: "care_3".into(),
        conditions: "心不全".into(),
        ..Default::default()
    };
    match t.app.register_patient(&doctor, input).await.expect("register") {
        Registered::Created(p) => p.id,
        Registered::LikelyDuplicates(_) => panic!("{}: a duplicate of {kana}", t.name()),
    }
}

/// The entry id a write redirected to.
fn entry_of(p: &Page) -> String {
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}: {}", p.what, p.excerpt());
    let to = p.header(header::LOCATION.as_str()).expect("location");
    to.split("#entry-").nth(1).expect("an entry anchor").to_string()
}

fn acp_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("kind", "acp"),
        ("discussed_on", "2026-11-20"),
        ("present", "本人、長女、主治医、訪問看護師"),
        ("resuscitation", "dnar"),
        ("care_place", "home"),
        ("death_place", "home"),
        ("death_place_note", "住み慣れた自宅の和室で"),
        ("other_wishes", "痛みは十分に取ってほしい"),
    ];
    for (k, v) in extra {
        f.retain(|(x, _)| x != k);
        f.push((k, v));
    }
    f
}

#[tokio::test]
async fn an_acp_record_shows_in_the_summary_the_timeline_and_the_emergency_summary() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "じんせい はなこ").await;
        let mut doc = t.login("physician").await;
        let p = doc.get(&format!("/patients/{id}")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#acp-form input[name=discussed_on]"), 1, "{b}");
        assert_eq!(p.count("#patient-acp"), 0, "{b}: no ACP yet");

        let entry = entry_of(&doc.post_form(&format!("/patients/{id}/entries"), &acp_form(&[])).await);
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-acp .acp-resuscitation-value"), DNAR, "{b}");
        assert_eq!(p.text("#patient-acp .acp-care-place"), "自宅", "{b}");
        assert_eq!(p.text("#patient-acp .acp-death-place"), "自宅（住み慣れた自宅の和室で）", "{b}");
        assert_eq!(p.text("#patient-acp .acp-present"), "本人、長女、主治医、訪問看護師", "{b}");
        assert_eq!(p.text("#patient-acp .acp-date"), "2026-11-20", "{b}");
        let sel = format!("#entry-{entry}");
        assert_eq!(p.text(&format!("{sel} .acp-resuscitation-value")), DNAR, "{b}");
        assert_eq!(p.text(&format!("{sel} .acp-other")), "痛みは十分に取ってほしい", "{b}");

        let e = doc.get(&format!("/patients/{id}/emergency")).await;
        e.assert_status(StatusCode::OK);
        assert_eq!(e.text("#acp .acp-resuscitation-value"), DNAR, "{b}");
        assert!(e.text("#acp .acp-present").contains("長女"), "{b}");

        // A correction is a new version, and the summary shows it.
        let c = doc.get(&format!("/patients/{id}/entries/{entry}/correct")).await;
        c.assert_status(StatusCode::OK);
        assert_eq!(
            c.attr("#entry-form input[name=discussed_on]", "value").as_deref(),
            Some("2026-11-20"),
            "{b}"
        );
        let newer = entry_of(
            &doc.post_form(
                &format!("/patients/{id}/entries"),
                &acp_form(&[("resuscitation", "wanted"), ("corrects_id", entry.as_str())]),
            )
            .await,
        );
        assert_ne!(newer, entry, "{b}");
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-acp .acp-resuscitation-value"), "心肺蘇生を希望する", "{b}");
        assert_eq!(p.count(&format!("#entry-{entry}.corrected")), 1, "{b}");
        let e = doc.get(&format!("/patients/{id}/emergency")).await;
        assert_eq!(e.text("#acp .acp-resuscitation-value"), "心肺蘇生を希望する", "{b}");

        // A later conversation is the current one; correcting the earlier one does not hide it.
        doc.get(&format!("/patients/{id}")).await;
        entry_of(
            &doc.post_form(
                &format!("/patients/{id}/entries"),
                &acp_form(&[("discussed_on", "2026-11-22"), ("resuscitation", "undecided")]),
            )
            .await,
        );
        entry_of(
            &doc.post_form(
                &format!("/patients/{id}/entries"),
                &acp_form(&[("other_wishes", "誤記を訂正"), ("corrects_id", newer.as_str())]),
            )
            .await,
        );
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-acp .acp-resuscitation-value"), "未定", "{b}");
        assert_eq!(p.text("#patient-acp .acp-date"), "2026-11-22", "{b}");
    }
}

#[tokio::test]
async fn an_acp_record_needs_a_past_date_and_who_was_present() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "じんせい たろう").await;
        let mut doc = t.login("physician").await;
        doc.get(&format!("/patients/{id}")).await;
        let path = format!("/patients/{id}/entries");
        for (extra, field, message) in [
            (("discussed_on", ""), "discussed_on", "入力してください。"),
            (("discussed_on", "2026-11-25"), "discussed_on", "未来の日時は指定できません。"),
            (("present", " "), "present", "入力してください。"),
            (("resuscitation", "maybe"), "resuscitation", "選択肢にない値です。"),
        ] {
            let p = doc.post_form(&path, &acp_form(&[extra])).await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            let sel = format!("#entry-{field} + .field-error");
            assert_eq!(p.text(&sel), message, "{b}: {extra:?}");
            assert_eq!(p.attr(&format!("#entry-{field}"), "aria-invalid").as_deref(), Some("true"), "{b}");
        }
        let p = doc.get(&format!("/patients/{id}?kind=acp")).await;
        assert_eq!(p.count(".entry-acp"), 0, "{b}: a refused ACP was written");
        assert_eq!(p.count("#patient-acp"), 0, "{b}");
    }
}

fn summary_form<'a>(version: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("name", "金沢 花子"),
        ("name_kana", "へんしゅう はなこ"),
        ("birth_date", "1938-04-12"),
        ("sex", "female"),
        ("address", "石川県金沢市野町1-2-3"),
        ("phone", "076-200-0000"),
        ("care_level", "care_3"),
        ("conditions", "心不全"),
        ("version", version),
    ];
    for (k, v) in extra {
        f.retain(|(x, _)| x != k);
        f.push((k, v));
    }
    f
}

#[tokio::test]
async fn the_summary_is_edited_with_a_history_and_a_version_check() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "へんしゅう はなこ").await;
        let edit = format!("/patients/{id}/edit");
        let mut doc = t.login("physician").await;
        let p = doc.get(&edit).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr("#edit input[name=version]", "value").as_deref(), Some("1"), "{b}");
        assert_eq!(p.attr("#address", "value").as_deref(), Some("石川県金沢市野町1-2-3"), "{b}");
        assert_eq!(p.count("#history .change"), 0, "{b}");

        let new_address = "石川県金沢市寺町5-6-7";
        doc.post_form(&edit, &summary_form("1", &[("address", new_address), ("allergies", "卵")]))
            .await
            .assert_redirect(&format!("/patients/{id}#summary"));
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-address"), new_address, "{b}");
        assert!(p.text("#patient-allergies").contains("卵"), "{b}");

        let p = doc.get(&edit).await;
        assert_eq!(p.attr("#edit input[name=version]", "value").as_deref(), Some("2"), "{b}");
        assert_eq!(p.count("#history .change"), 1, "{b}");
        assert_eq!(p.text("#history .change-fields"), "住所、アレルギー", "{b}");
        assert!(p.text("#history .change-who").contains("山田"), "{b}");

        // The change is audited by field name, never by value.
        let ev = t.audit().await;
        let updated: Vec<_> = ev.iter().filter(|e| e.event.action == "patient.updated").collect();
        assert_eq!(updated.len(), 1, "{b}");
        assert_eq!(updated[0].event.detail.as_deref(), Some("address,allergies"), "{b}");
        assert_eq!(updated[0].event.patient_id.as_deref(), Some(id.as_str()), "{b}");

        // A form read before that change is refused, and nothing changes.
        let p = doc.post_form(&edit, &summary_form("1", &[("phone", "076-999-9999")])).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#conflict"), CONFLICT, "{b}");
        assert_eq!(
            p.attr("#phone", "value").as_deref(),
            Some("076-999-9999"),
            "{b}: the typed input is kept"
        );
        // Bad input: the message next to the field, nothing changed.
        let p = doc.post_form(&edit, &summary_form("2", &[("phone", "abc"), ("name", "")])).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            p.text("#phone + .field-error"),
            "電話番号は半角数字とハイフンで入力してください。",
            "{b}"
        );
        assert_eq!(p.text("#name + .field-error"), "入力してください。", "{b}");
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-phone"), "076-200-0000", "{b}");
        assert_eq!(p.text("#patient-name"), "金沢 花子", "{b}");
        let p = doc.get(&edit).await;
        assert_eq!(p.attr("#edit input[name=version]", "value").as_deref(), Some("2"), "{b}");
        assert_eq!(p.count("#history .change"), 1, "{b}");

        // Someone not on the team: the page of a patient who does not exist.
        let mut cm = t.login("caremanager").await;
        cm.get(&edit).await.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        cm.get("/").await;
        cm.post_form(&edit, &summary_form("2", &[("address", "どこか")]))
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        let p = doc.get(&format!("/patients/{id}")).await;
        assert_eq!(p.text("#patient-address"), new_address, "{b}");
    }
}
