//! The upkeep pages of the directory (issue 4 §1, §6) through the router, on every backend: the
//! edit form's round trip (prefilled, saved, refused with field errors, a stale version), the
//! history, the consultation-hours page, the refusal for people who do not keep the entry, and
//! the home page's flag for operators and the coordinator.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use scraper::{Html, Selector};
use support::{DEMO_PASSWORD, Page, TestApp};
use tsunagu_app::admin::{NewOrganisation, NewPerson};

/// A clinic of its own and its operator `op-one` (password: the demo's); returns the clinic's id.
async fn clinic_with_operator(t: &TestApp) -> String {
    let u = t.app.store.user_by_login("admin").await.unwrap().unwrap();
    let admin = t.app.actor(&u.id, tsunagu_app::AuthVia::Cli, None).await.unwrap();
    let org = t
        .app
        .create_organisation(
            &admin,
            NewOrganisation {
                kind: "home_care_support_clinic".into(),
                name: "つなぐ在宅クリニック".into(),
                name_kana: "つなぐざいたくくりにっく".into(),
                address: "石川県金沢市広坂1-1".into(),
                phone: "076-000-0000".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.app
        .add_person_with_password(
            NewPerson {
                login: "op-one".into(),
                display_name: "運営 一郎".into(),
                display_name_kana: "うんえい いちろう".into(),
                profession: "clerk".into(),
                duties: vec!["provider_operator".into()],
                organisation_ids: vec![org.id.clone()],
                ..Default::default()
            },
            DEMO_PASSWORD,
        )
        .await
        .unwrap();
    org.id
}

/// The fields a browser would send for the form `css` as it stands on the page: inputs (checked
/// checkboxes only), selected options and textareas. The CSRF field is left to the client.
fn form_values(page: &Page, css: &str) -> Vec<(String, String)> {
    let html = Html::parse_document(&page.body);
    let form = html.select(&Selector::parse(css).unwrap()).next().expect("the form");
    let mut out = Vec::new();
    for e in form.select(&Selector::parse("input[name], select[name], textarea[name]").unwrap()) {
        let v = e.value();
        let name = v.attr("name").unwrap().to_string();
        if name == "csrf" {
            continue;
        }
        match v.name() {
            "input" if matches!(v.attr("type"), Some("checkbox" | "radio")) => {
                if v.attr("checked").is_some() {
                    out.push((name, v.attr("value").unwrap_or("on").to_string()));
                }
            }
            "input" => out.push((name, v.attr("value").unwrap_or("").to_string())),
            "textarea" => out.push((name, e.text().collect())),
            _ => {
                let selected = e
                    .select(&Selector::parse("option[selected]").unwrap())
                    .next()
                    .or_else(|| e.select(&Selector::parse("option").unwrap()).next());
                out.push((name, selected.and_then(|o| o.value().attr("value")).unwrap_or("").to_string()));
            }
        }
    }
    out
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(n, _)| n != name);
    fields.push((name.to_string(), value.to_string()));
}

fn as_refs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// No catalog key shows through as text (a missing message renders as its key).
fn assert_no_raw_keys(page: &Page) {
    for key in ["directory_upkeep.", "error.directory_upkeep", "error.schedule"] {
        assert!(!page.body.contains(key), "{}: {} shows a raw catalog key {key}", page.backend, page.what);
    }
}

#[tokio::test]
async fn the_edit_form_round_trips_and_refuses_bad_input_with_field_errors() {
    for t in support::all().await {
        let n = t.name();
        let id = clinic_with_operator(&t).await;
        let mut c = t.login("op-one").await;
        let edit = format!("/directory/{id}/edit");
        let page = c.get(&edit).await;
        page.assert_status(StatusCode::OK);
        assert_no_raw_keys(&page);
        assert_eq!(page.attr("#name", "value").as_deref(), Some("つなぐ在宅クリニック"), "{n}");
        assert_eq!(page.attr("input[name=version]", "value").as_deref(), Some("1"), "{n}");
        assert!(page.count("#capabilities input[type=checkbox]") >= 20, "{n}: capabilities as checkboxes");
        assert_eq!(page.count("#needs-confirmation"), 1, "{n}: a new entry was never confirmed");

        let mut fields = form_values(&page, "#edit");
        set(&mut fields, "phone", "076-222-3333");
        set(&mut fields, "contact_person", "地域連携室 佐々木");
        set(&mut fields, "location", "36.5613,136.6562");
        fields.push(("capabilities".into(), "house_calls".into()));
        fields.push(("capabilities".into(), "home_oxygen".into()));
        let r = c.post_form(&edit, &as_refs(&fields)).await;
        r.assert_redirect(&format!("/directory/{id}/edit?done=saved"));
        let page = c.get(&format!("/directory/{id}/edit?done=saved")).await;
        assert!(!page.text("#done").is_empty(), "{n}");
        assert_eq!(page.attr("#phone", "value").as_deref(), Some("076-222-3333"), "{n}");
        assert_eq!(page.attr("#location", "value").as_deref(), Some("36.5613,136.6562"), "{n}");
        assert_eq!(page.attr("input[name=version]", "value").as_deref(), Some("2"), "{n}");
        let checked: Vec<String> = Html::parse_document(&page.body)
            .select(&Selector::parse("#capabilities input[checked]").unwrap())
            .map(|e| e.value().attr("value").unwrap().to_string())
            .collect();
        assert_eq!(checked, vec!["house_calls", "home_oxygen"], "{n}");
        assert_eq!(page.count("#needs-confirmation"), 0, "{n}: an edit confirms");

        // Bad input: 422, the form again with what was typed and each field's message.
        let mut bad = form_values(&page, "#edit");
        set(&mut bad, "name_kana", "漢字");
        set(&mut bad, "website", "javascript:alert(1)");
        set(&mut bad, "district", "どこにもない");
        let r = c.post_form(&edit, &as_refs(&bad)).await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_no_raw_keys(&r);
        assert_eq!(r.count("#fix-errors"), 1, "{n}");
        assert_eq!(r.text("#name_kana-error"), "ひらがなまたはカタカナで入力してください。", "{n}");
        assert!(r.text("#website-error").contains("https://"), "{n}");
        assert_eq!(r.count("#district-error"), 1, "{n}");
        assert_eq!(r.attr("#website", "value").as_deref(), Some("javascript:alert(1)"), "{n}: kept as typed");
        assert_eq!(r.attr("#name_kana", "aria-invalid").as_deref(), Some("true"), "{n}");

        // A form read before someone else saved: the conflict, nothing changed.
        let mut stale = form_values(&page, "#edit");
        set(&mut stale, "version", "1");
        set(&mut stale, "fax", "076-111-2222");
        let r = c.post_form(&edit, &as_refs(&stale)).await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#conflict"), "他の人が先に更新しました。最新の内容を確認してください。", "{n}");
        assert_eq!(
            r.attr("input[name=version]", "value").as_deref(),
            Some("2"),
            "{n}: now based on the latest"
        );
        assert_eq!(t.app.store.provider(&id).await.unwrap().unwrap().fax, "", "{n}");

        // The same form unchanged: nothing written, said so.
        let r = c.post_form(&edit, &as_refs(&form_values(&page, "#edit"))).await;
        r.assert_redirect(&format!("/directory/{id}/edit?done=unchanged"));

        // The history names who changed what, old and new.
        let h = c.get(&format!("/directory/{id}/history")).await;
        h.assert_status(StatusCode::OK);
        assert_no_raw_keys(&h);
        assert_eq!(h.count("li.change"), 1, "{n}");
        assert_eq!(h.text("li.change .change-who"), "運営 一郎", "{n}");
        let fields = h.texts("li.change .change-field");
        assert!(fields.contains(&"電話番号".to_string()), "{n}: {fields:?}");
        let news = h.texts("li.change .change-new");
        assert!(news.contains(&"076-222-3333".to_string()), "{n}: {news:?}");
        assert!(h.texts("li.change .change-old").contains(&"076-000-0000".to_string()), "{n}");
    }
}

#[tokio::test]
async fn people_who_do_not_keep_the_entry_are_refused() {
    for t in support::all().await {
        let n = t.name();
        let id = clinic_with_operator(&t).await;
        let mut nurse = t.login("nurse").await;
        for path in ["edit", "history", "hours"] {
            nurse
                .get(&format!("/directory/{id}/{path}"))
                .await
                .assert_error_page(StatusCode::FORBIDDEN, "この操作を行う権限がありません。");
        }
        nurse
            .post_form(
                &format!("/directory/{id}/edit"),
                &[("name", "乗っ取り"), ("kind", "clinic"), ("version", "1")],
            )
            .await
            .assert_status(StatusCode::FORBIDDEN);
        nurse.post_form(&format!("/directory/{id}/confirm"), &[]).await.assert_status(StatusCode::FORBIDDEN);
        nurse
            .post_form(
                &format!("/directory/{id}/hours"),
                &[("action", "add_slot"), ("weekday", "1"), ("start", "14:00"), ("end", "16:00")],
            )
            .await
            .assert_status(StatusCode::FORBIDDEN);
        nurse.get("/directory/unconfirmed").await.assert_status(StatusCode::FORBIDDEN);
        let row = t.app.store.provider(&id).await.unwrap().unwrap();
        assert_eq!(
            (row.name.as_str(), row.version, row.confirmed_at),
            ("つなぐ在宅クリニック", 1, None),
            "{n}"
        );
        assert!(t.app.store.consultation_slots(&id).await.unwrap().is_empty(), "{n}");
        // Not logged in: to the login page.
        let mut anon = t.client();
        anon.get(&format!("/directory/{id}/edit")).await.assert_redirect("/login");
        // The coordinator may.
        let mut coord = t.login("coordinator").await;
        coord.get(&format!("/directory/{id}/edit")).await.assert_status(StatusCode::OK);
        // An unknown entry is not found.
        coord
            .get("/directory/0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12/edit")
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_home_page_flags_unconfirmed_entries_with_a_one_tap_confirmation() {
    for t in support::all().await {
        let n = t.name();
        let id = clinic_with_operator(&t).await;
        let mut op = t.login("op-one").await;
        let home = op.get("/").await;
        home.assert_status(StatusCode::OK);
        assert_no_raw_keys(&home);
        assert_eq!(home.count("#upkeep-notice"), 1, "{n}");
        assert_eq!(
            home.attr("#upkeep-notice li.upkeep-entry", "data-id").as_deref(),
            Some(id.as_str()),
            "{n}"
        );
        assert_eq!(
            home.attr("#upkeep-notice a.upkeep-edit", "href"),
            Some(format!("/directory/{id}/edit")),
            "{n}: links to the entry's edit page"
        );
        assert!(home.text("#upkeep-notice p").contains("180"), "{n}: says how old is too old");
        assert_eq!(home.count("#upkeep-region"), 0, "{n}: operators get no region count");

        // The coordinator sees a count linking to the list.
        let mut coord = t.login("coordinator").await;
        let ch = coord.get("/").await;
        assert_eq!(ch.attr("#unconfirmed-link", "href").as_deref(), Some("/directory/unconfirmed"), "{n}");
        let before = t.app.now().plus_seconds(-t.app.config.directory_confirm_days * 86_400).micros();
        let total = t.app.store.count_unconfirmed_providers(before).await.unwrap();
        assert!(total >= 1, "{n}");
        assert!(
            ch.text("#unconfirmed-link").contains(&total.to_string()),
            "{n}: {}",
            ch.text("#unconfirmed-link")
        );
        let list = coord.get("/directory/unconfirmed").await;
        list.assert_status(StatusCode::OK);
        assert_no_raw_keys(&list);
        assert!(list.count("#unconfirmed li.provider") >= 1, "{n}");
        assert!(
            list.html()
                .select(&Selector::parse("#unconfirmed li.provider").unwrap())
                .any(|e| e.value().attr("data-id") == Some(id.as_str())),
            "{n}"
        );

        // One tap: confirmed, back home, no longer flagged.
        op.post_form(&format!("/directory/{id}/confirm"), &[("back", "home")]).await.assert_redirect("/");
        assert_eq!(op.get("/").await.count("#upkeep-notice"), 0, "{n}");
        assert!(t.app.store.provider(&id).await.unwrap().unwrap().confirmed_at.is_some(), "{n}");
        let after = coord.get("/").await;
        assert!(after.text("#unconfirmed-link").contains(&(total - 1).to_string()), "{n}");
        // Someone who keeps no entry sees neither.
        let nurse_home = t.login("nurse").await.get("/").await;
        assert_eq!(nurse_home.count("#upkeep-notice") + nurse_home.count("#upkeep-region"), 0, "{n}");
        // From the edit page, the confirmation returns there.
        op.get(&format!("/directory/{id}/edit")).await;
        op.post_form(&format!("/directory/{id}/confirm"), &[])
            .await
            .assert_redirect(&format!("/directory/{id}/edit?done=confirmed"));
    }
}

#[tokio::test]
async fn the_hours_page_adds_and_removes_slots_and_days() {
    for t in support::all().await {
        let n = t.name();
        let id = clinic_with_operator(&t).await;
        let mut op = t.login("op-one").await;
        let hours = format!("/directory/{id}/hours");
        let page = op.get(&hours).await;
        page.assert_status(StatusCode::OK);
        assert_no_raw_keys(&page);
        assert_eq!(page.count("#no-slots"), 1, "{n}");
        assert_eq!(page.count("#weekday option"), 7, "{n}");
        // The preview of the partial: no hours yet.
        assert_eq!(page.count("#consultation-hours #no-hours"), 1, "{n}");

        // Tuesday 09:00–12:00 (the clock stands at Tuesday 09:30).
        op.post_form(
            &hours,
            &[
                ("action", "add_slot"),
                ("weekday", "1"),
                ("start", "０９：００"),
                ("end", "1200"),
                ("physician", "山田 太郎"),
            ],
        )
        .await
        .assert_redirect(&format!("{hours}?done=add_slot"));
        let page = op.get(&format!("{hours}?done=add_slot")).await;
        assert_no_raw_keys(&page);
        assert_eq!(page.count("#slot-list li.slot-row"), 1, "{n}");
        assert!(page.text("#slot-list li.slot-row").contains("09:00–12:00"), "{n}");
        assert_eq!(page.attr("#consult-now", "data-open").as_deref(), Some("true"), "{n}");
        assert_eq!(page.text("#weekly-hours tr[data-weekday='1'] td"), "09:00–12:00 山田 太郎", "{n}");

        // A bad slot: 422 with the field's message in the slot form.
        let r = op
            .post_form(
                &hours,
                &[("action", "add_slot"), ("weekday", "1"), ("start", "16:00"), ("end", "14:00")],
            )
            .await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.text("#end-error"), "終了時刻は開始時刻より後にしてください。", "{n}");
        assert_eq!(r.attr("#start", "value").as_deref(), Some("16:00"), "{n}");

        // Closed today: not possible now; listed with its note.
        op.post_form(
            &hours,
            &[("action", "add_exception"), ("ex_day", "2026-11-24"), ("ex_closed", "1"), ("ex_note", "学会")],
        )
        .await
        .assert_redirect(&format!("{hours}?done=add_exception"));
        let page = op.get(&hours).await;
        assert_eq!(page.attr("#consult-now", "data-open").as_deref(), Some("false"), "{n}");
        assert_eq!(page.count("#exception-list li.exception-row"), 1, "{n}");
        let ex_id = page.attr("#exception-list li.exception-row", "data-id").unwrap();
        assert!(page.text("#next-open").contains("2026-12-01"), "{n}: {}", page.text("#next-open"));
        // A past day is refused in the exception form.
        let r = op
            .post_form(&hours, &[("action", "add_exception"), ("ex_day", "2026-11-01"), ("ex_closed", "1")])
            .await;
        r.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.count("#ex_day-error"), 1, "{n}");

        // The holiday switch, and removing what was added.
        op.post_form(&hours, &[("action", "holidays"), ("on", "1")])
            .await
            .assert_redirect(&format!("{hours}?done=holidays"));
        assert!(t.app.store.provider(&id).await.unwrap().unwrap().consult_on_holidays, "{n}");
        op.post_form(&hours, &[("action", "remove_exception"), ("exception_id", &ex_id)]).await;
        let page = op.get(&hours).await;
        let slot_id = page.attr("#slot-list li.slot-row", "data-id").unwrap();
        assert_eq!(page.attr("#holidays-on", "checked").as_deref(), Some(""), "{n}");
        op.post_form(&hours, &[("action", "remove_slot"), ("slot_id", &slot_id)]).await;
        let page = op.get(&hours).await;
        assert_eq!(
            page.count("#slot-list li.slot-row") + page.count("#exception-list li.exception-row"),
            0,
            "{n}"
        );
        // Each hours edit is in the history.
        let h = op.get(&format!("/directory/{id}/history")).await;
        assert_eq!(h.count("li.change[data-source=hours]"), 5, "{n}");
        assert_no_raw_keys(&h);
    }
}
