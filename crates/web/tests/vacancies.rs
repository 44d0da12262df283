//! Router tests of short-stay vacancies and inquiries (issue 4, point 2): the operator's phone
//! page round trip, the public board and overview (figures, stale marks, no inquiry form for
//! visitors), and an inquiry sent by a care manager, answered by the facility and withdrawn.
//! Each runs on every backend the store harness finds. The facilities and their operators are
//! made here through the app, not taken from the demo.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use support::{DEMO_PASSWORD, TestApp};
use tsunagu_app::admin::{NewOrganisation, NewPerson};
use tsunagu_app::{Actor, AuthVia};

const FORBIDDEN_MESSAGE: &str = "この操作を行う権限がありません。";
const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";

async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.expect("actor")
}

/// A short-stay facility with an operator account (`login`), made through the app.
async fn facility(t: &TestApp, name: &str, login: &str) -> String {
    let admin = actor(t, "admin").await;
    let id = t
        .app
        .create_organisation(
            &admin,
            NewOrganisation {
                kind: "short_stay_facility".into(),
                name: name.into(),
                name_kana: "しょーとすてい てすと".into(),
                address: "石川県金沢市東兼六町1-1".into(),
                phone: "076-200-0000".into(),
                parent_id: None,
                is_emergency_hospital: false,
            },
        )
        .await
        .expect("facility")
        .id;
    t.app
        .add_person_with_password(
            NewPerson {
                login: login.into(),
                display_name: format!("{name} 係"),
                display_name_kana: "かかり".into(),
                profession: "social_worker".into(),
                email: String::new(),
                duties: vec!["provider_operator".into()],
                organisation_ids: vec![id.clone()],
            },
            DEMO_PASSWORD,
        )
        .await
        .expect("operator");
    id
}

/// Today plus `n` days in Japan.
fn day(t: &TestApp, n: i64) -> String {
    tsunagu_app::directory::format_day(t.app.now().in_jst().date() + time::Duration::days(n))
}

async fn count(t: &TestApp, action: &str) -> usize {
    t.audit().await.iter().filter(|e| e.event.action == action).count()
}

#[tokio::test]
async fn the_operator_sets_and_confirms_vacancies_on_the_phone_page() {
    for t in support::all().await {
        let b = t.name();
        let id = facility(&t, "ショートステイ試験の里", "ss-web-op").await;
        let (d0, d1, d2) = (day(&t, 0), day(&t, 1), day(&t, 2));
        let mut op = t.login("ss-web-op").await;
        let url = format!("/directory/{id}/vacancies");
        let p = op.get(&url).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("form#vacancy-form li.vrow"), 14, "{b}: two weeks of days");
        assert_eq!(p.attr(&format!("#beds-{d0}"), "inputmode").as_deref(), Some("numeric"), "{b}");
        assert_eq!(p.attr(&format!("#beds-{d0}"), "min").as_deref(), Some("0"), "{b}");
        assert_eq!(p.attr(&format!("#beds-{d0}"), "value").as_deref(), Some(""), "{b}: no figure yet");
        assert_eq!(p.attr(&format!("#vrow-{d0}"), "data-state").as_deref(), Some("none"), "{b}");
        // The −/+ buttons wait for JavaScript; the label names the weekday in Japanese.
        assert_eq!(p.count("button.step[hidden]"), 28, "{b}");
        assert!(p.text(&format!("#vrow-{d0} .vrow-date")).starts_with("11/24（火）"), "{b}");
        assert_eq!(p.attr("script[src='/static/vacancies.js']", "defer").as_deref(), Some(""), "{b}");
        assert_eq!(p.count("#save-vacancies"), 1, "{b}");

        // Every row posts its day and its number; empty rows are left alone.
        let mut fields: Vec<(String, String)> = Vec::new();
        for i in 0..14 {
            let beds = match i {
                0 => "3",
                1 => "0",
                _ => "",
            };
            fields.push(("day".into(), day(&t, i)));
            fields.push(("beds".into(), beds.into()));
        }
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        op.post_form(&url, &refs).await.assert_redirect(&format!("{url}?saved=1"));
        let p = op.get(&format!("{url}?saved=1")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#saved"), 1, "{b}");
        assert_eq!(p.attr(&format!("#beds-{d0}"), "value").as_deref(), Some("3"), "{b}");
        assert_eq!(p.attr(&format!("#beds-{d1}"), "value").as_deref(), Some("0"), "{b}");
        assert_eq!(p.attr(&format!("#vrow-{d0}"), "data-state").as_deref(), Some("fresh"), "{b}");
        assert!(p.text(&format!("#conf-{d0}")).contains("2026-11-24 09:30"), "{b}: when it was confirmed");
        assert_eq!(p.attr(&format!("#vrow-{d2}"), "data-state").as_deref(), Some("none"), "{b}");
        assert_eq!(count(&t, "vacancy.updated").await, 1, "{b}");

        // A wrong number marks its row, keeps what was typed, and changes nothing.
        let p = op.post_form(&url, &[("day", &d0), ("beds", "5"), ("day", &d1), ("beds", "1000")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#fix-errors"), 1, "{b}");
        assert_eq!(p.attr(&format!("#vrow-{d1}"), "class").map(|c| c.contains("invalid")), Some(true), "{b}");
        assert!(p.text(&format!("#err-{d1}")).contains("999"), "{b}: {}", p.text(&format!("#err-{d1}")));
        assert_eq!(p.attr(&format!("#beds-{d1}"), "value").as_deref(), Some("1000"), "{b}: kept as typed");
        assert_eq!(p.attr(&format!("#beds-{d0}"), "value").as_deref(), Some("5"), "{b}: kept as typed");
        let stored = t.app.store.vacancies(&id, &d0, &d1).await.unwrap();
        assert_eq!(stored.iter().map(|r| r.free_beds).collect::<Vec<_>>(), [3, 0], "{b}: nothing written");
        assert_eq!(count(&t, "vacancy.updated").await, 1, "{b}");

        // Later the operator confirms everything as it stands: the time moves on (20 minutes:
        // within the session's idle limit).
        t.advance_minutes(20);
        let p = op.get(&url).await;
        let values: Vec<(String, String)> = (0..14)
            .map(|i| {
                let d = day(&t, i);
                let v = p.attr(&format!("#beds-{d}"), "value").unwrap_or_default();
                (d, v)
            })
            .collect();
        let mut refs: Vec<(&str, &str)> = Vec::new();
        for (d, v) in &values {
            refs.push(("day", d));
            refs.push(("beds", v));
        }
        op.post_form(&url, &refs).await.assert_redirect(&format!("{url}?saved=1"));
        let p = op.get(&url).await;
        assert!(p.text(&format!("#conf-{d0}")).contains("2026-11-24 09:50"), "{b}: re-confirmed");
        assert_eq!(p.text("#vacancy-last-confirmed"), "2026-11-24 09:50", "{b}");
    }
}

#[tokio::test]
async fn visitors_see_figures_and_stale_marks_but_no_inquiry_form_and_cannot_set_figures() {
    for t in support::all().await {
        let b = t.name();
        let id = facility(&t, "ショートステイ公開の里", "ss-web-op2").await;
        let (d1, d2) = (day(&t, 1), day(&t, 2));
        let op = actor(&t, "ss-web-op2").await;
        t.app
            .set_vacancies(&op, &id, vec![(d1.clone(), "2".into()), (d2.clone(), "0".into())])
            .await
            .unwrap();

        let mut anon = t.client();
        let p = anon.get(&format!("/directory/{id}/vacancies")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#vacancy-form"), 0, "{b}: no editing for visitors");
        assert_eq!(p.count("#vacancies li.vday"), 21, "{b}: three weeks");
        assert_eq!(p.attr(&format!("#vday-{d1}"), "data-beds").as_deref(), Some("2"), "{b}");
        assert_eq!(p.attr(&format!("#vday-{d1}"), "data-state").as_deref(), Some("fresh"), "{b}");
        assert_eq!(p.text(&format!("#vday-{d2} .vday-beds")), "満床", "{b}");
        assert_eq!(p.count("#inquiry-form"), 0, "{b}: no inquiry form for visitors");
        assert_eq!(p.count("#inquiry-login"), 1, "{b}");
        assert_eq!(p.count("#vacancy-update"), 0, "{b}");

        // The provider's own page carries the same board (the partial).
        let p = anon.get(&format!("/directory/{id}")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr(&format!("#vacancies #vday-{d1}"), "data-beds").as_deref(), Some("2"), "{b}");
        assert_eq!(p.count("#inquiry-form"), 0, "{b}: no inquiry form for visitors");

        let p = anon.get("/directory/vacancies").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr(&format!("#cell-{id}-{d1}"), "data-beds").as_deref(), Some("2"), "{b}");
        assert_eq!(p.count("form[action$='/inquiries']"), 0, "{b}");
        assert_eq!(p.count("#vacancy-overview thead th.vhead"), 14, "{b}");

        // A day later the figures are stale: marked, with their time, and not given as true.
        t.advance_minutes(25 * 60);
        let p = anon.get(&format!("/directory/{id}/vacancies")).await;
        assert_eq!(p.attr(&format!("#vday-{d1}"), "data-state").as_deref(), Some("stale"), "{b}");
        assert_eq!(p.attr(&format!("#vday-{d1}"), "data-beds"), None, "{b}");
        assert_eq!(p.text(&format!("#vday-{d1} .vday-stale")), "古い情報", "{b}");
        assert!(p.text(&format!("#vday-{d1} .vday-old")).contains("2026-11-24 09:30"), "{b}");
        let p = anon.get("/directory/vacancies").await;
        assert_eq!(p.attr(&format!("#cell-{id}-{d1}"), "data-state").as_deref(), Some("stale"), "{b}");
        // A bad start day is explained, and the overview from today is shown.
        let p = anon.get("/directory/vacancies?from=2020-01-01").await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#from-error"), 1, "{b}");

        // Setting figures needs a login; a care manager may not; CSRF is checked as everywhere.
        let url = format!("/directory/{id}/vacancies");
        anon.post_form(&url, &[("day", &d1), ("beds", "9")]).await.assert_redirect("/login");
        let mut cm = t.login("caremanager").await;
        let p = cm.get(&url).await;
        assert_eq!(p.count("#vacancy-form"), 0, "{b}: a care manager sees the public board");
        assert_eq!(p.count("#inquiry-form"), 1, "{b}: and may ask");
        let p = cm.get(&format!("/directory/{id}")).await;
        assert_eq!(p.attr("#inquiry-form", "action"), Some(format!("/directory/{id}/inquiries")), "{b}");
        cm.post_form(&url, &[("day", &d1), ("beds", "9")])
            .await
            .assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        let p = cm.post_form_as_is(&url, &[("day", &d1), ("beds", "9")]).await;
        p.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(t.app.store.vacancies(&id, &d1, &d1).await.unwrap()[0].free_beds, 2, "{b}");
        anon.get("/directory/0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12/vacancies")
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
    }
}

#[tokio::test]
async fn a_care_manager_sends_an_inquiry_the_facility_answers_and_both_see_it() {
    for t in support::all().await {
        let b = t.name();
        let id = facility(&t, "ショートステイ問合せの里", "ss-web-op3").await;
        let other = facility(&t, "ショートステイ別の里", "ss-web-op4").await;
        let (d3, d6) = (day(&t, 3), day(&t, 6));
        let mut cm = t.login("caremanager").await;
        let p = cm.get(&format!("/directory/{id}/vacancies")).await;
        assert_eq!(p.count("#inquiry-form #inquiry-not-record"), 1, "{b}: says it is not a patient record");
        assert_eq!(p.attr("#inquiry-first-day", "min").as_deref(), Some(day(&t, 0).as_str()), "{b}");

        // A refused inquiry is shown again with its errors and what was typed.
        let post = format!("/directory/{id}/inquiries");
        let p = cm
            .post_form(&post, &[("first_day", &d3), ("last_day", &d6), ("beds", "0"), ("note", "平日午後")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#beds-error"), 1, "{b}");
        assert_eq!(p.text("#inquiry-note"), "平日午後", "{b}");
        assert!(
            t.app.store.inquiries_by_sender(&t.user_id("caremanager").await, 10).await.unwrap().is_empty()
        );

        let p = cm
            .post_form(
                &post,
                &[
                    ("first_day", &d3),
                    ("last_day", &d6),
                    ("beds", "1"),
                    ("note", "要介護2、平日午後に連絡ください"),
                ],
            )
            .await;
        let loc = p.header("location").expect("redirect").to_string();
        assert!(loc.starts_with("/directory/inquiries?sent=1#inquiry-"), "{b}: {loc}");
        let iid = loc.rsplit("#inquiry-").next().unwrap().to_string();
        let p = cm.get("/directory/inquiries?sent=1").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#sent"), 1, "{b}");
        let li = format!("#inquiry-{iid}");
        assert_eq!(p.attr(&li, "data-status").as_deref(), Some("open"), "{b}");
        assert_eq!(p.text(&format!("{li} .inquiry-period")), "11/27（金） – 11/30（月）", "{b}");
        assert_eq!(p.count(&format!("#withdraw-{iid}")), 1, "{b}: an open inquiry can be withdrawn");

        // The facility's inbox; other people get no inbox and no answer.
        cm.get(&post).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        let mut op4 = t.login("ss-web-op4").await;
        op4.get(&post).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        op4.get(&format!("/directory/{other}/inquiries")).await.assert_status(StatusCode::OK);
        op4.post_form(&format!("/directory/inquiries/{iid}/answer"), &[("status", "accepted")])
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        let mut op = t.login("ss-web-op3").await;
        let p = op.get(&post).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#open-count"), "1", "{b}");
        assert_eq!(p.text(&format!("{li} .inquiry-sender")), "田中 由美", "{b}");
        assert_eq!(p.count(&format!("#answer-{iid} button[name=status]")), 3, "{b}");
        // No choice is no answer.
        let p = op.post_form(&format!("/directory/inquiries/{iid}/answer"), &[("answer_note", "x")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#answer-error"), 1, "{b}");
        t.advance_minutes(5);
        op.post_form(
            &format!("/directory/inquiries/{iid}/answer"),
            &[("status", "call_me"), ("answer_note", "076-200-0000 へお電話ください")],
        )
        .await
        .assert_redirect(&format!("/directory/{id}/inquiries?answered=1#inquiry-{iid}"));
        let p = op.get(&format!("{post}?answered=1")).await;
        assert_eq!(p.attr(&li, "data-status").as_deref(), Some("call_me"), "{b}");
        assert_eq!(p.count(&format!("#answer-{iid}")), 0, "{b}: answered once");

        let p = cm.get("/directory/inquiries").await;
        assert_eq!(p.attr(&li, "data-status").as_deref(), Some("call_me"), "{b}");
        assert_eq!(p.text(&format!("{li} .inquiry-status")), "電話をください", "{b}");
        assert_eq!(p.text(&format!("{li} .inquiry-answer-note")), "076-200-0000 へお電話ください", "{b}");
        assert!(p.text(&format!("{li} .inquiry-answered")).contains("2026-11-24 09:35"), "{b}");
        assert_eq!(p.count(&format!("#withdraw-{iid}")), 0, "{b}");
        let p = cm.post_form(&format!("/directory/inquiries/{iid}/withdraw"), &[]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#withdraw-error"), 1, "{b}");

        // A second inquiry, withdrawn by its sender.
        let p =
            cm.post_form(&post, &[("first_day", &d3), ("last_day", &d3), ("beds", "2"), ("note", "")]).await;
        let loc = p.header("location").expect("redirect").to_string();
        let second = loc.rsplit("#inquiry-").next().unwrap().to_string();
        cm.get("/directory/inquiries").await;
        cm.post_form(&format!("/directory/inquiries/{second}/withdraw"), &[])
            .await
            .assert_redirect(&format!("/directory/inquiries?withdrawn=1#inquiry-{second}"));
        let p = op.get(&post).await;
        assert_eq!(p.attr(&format!("#inquiry-{second}"), "data-status").as_deref(), Some("withdrawn"), "{b}");
        let actions: Vec<String> = t.audit().await.into_iter().map(|e| e.event.action).collect();
        for a in ["inquiry.sent", "inquiry.answered", "inquiry.withdrawn"] {
            assert!(actions.iter().any(|x| x == a), "{b}: no {a} event");
        }
    }
}
