//! Router tests of the patient pages used at the bedside: "my patients" on the home page,
//! registering a patient (with the duplicate warning), the patient page with its write forms and
//! timeline (paging, filters, acknowledgements, corrections), and the one answer a non-member
//! gets. Each runs on every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use support::{Page, TestApp};
use tsunagu_app::sharing::{NewConsent, NewEntry, NewPatient, Registered, VisitData};
use tsunagu_app::{Actor, AuthVia};
use tsunagu_store::patients::EntryFilter;

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const FORBIDDEN_MESSAGE: &str = "この操作を行う権限がありません。";
const OUT_OF_RANGE: &str = "測定値としてありえない値です。単位と入力を確認してください。";

async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Session { token_hash: format!("test-{login}") }, None).await.expect("actor")
}

fn patient_input(name: &str, kana: &str, birth: &str) -> NewPatient {
    NewPatient {
        name: name.into(),
        name_kana: kana.into(),
        birth_date: birth.into(),
        sex: "female".into(),
        district: "松ヶ枝".into(),
        care_level: "care_2".into(),
        allergies: "ペニシリン".into(),
        ..Default::default()
    }
}

/// A patient of `physician`, registered through the use case (for tests about other pages).
async fn patient_of(t: &TestApp, physician: &str, name: &str, kana: &str) -> String {
    let a = actor(t, physician).await;
    match t.app.register_patient(&a, patient_input(name, kana, "1938-04-01")).await.expect("register") {
        Registered::Created(p) => p.id,
        Registered::LikelyDuplicates(d) => panic!("{}: unexpected duplicates {d:?}", t.name()),
    }
}

/// Records consent and admits `member` to the attending physician's patient.
async fn admit(t: &TestApp, physician: &str, patient: &str, member: &str) {
    let a = actor(t, physician).await;
    if t.app.store.active_consent(patient).await.unwrap().is_none() {
        let consent = NewConsent {
            consenter: "patient".into(),
            consented_on: "2026-11-20".into(),
            scope: "在宅医療・介護の関係者間での情報共有".into(),
            ..Default::default()
        };
        t.app.record_consent(&a, patient, consent).await.expect("consent");
    }
    t.app.add_member(&a, patient, member, "").await.expect("add member");
    let m = t.app.store.membership(patient, &t.user_id(member).await).await.unwrap().expect("membership");
    if m.status == "pending" {
        t.app.decide_member(&a, patient, &m.user_id, true).await.expect("approve");
    }
}

/// Every entry of a patient, newest first.
async fn entries(t: &TestApp, patient: &str) -> Vec<tsunagu_store::patients::EntryRow> {
    t.app.store.entries(patient, &EntryFilter { limit: 200, ..Default::default() }).await.expect("entries")
}

/// The patient id a registration redirected to.
#[track_caller]
fn registered_id(p: &Page) -> String {
    assert!(p.status.is_redirection(), "{}: {} answered {}:\n{}", p.backend, p.what, p.status, p.excerpt());
    let loc = p.header("location").expect("location");
    let id = loc.strip_prefix("/patients/").unwrap_or_else(|| panic!("{}: redirected to {loc}", p.backend));
    assert!(uuid::Uuid::try_parse(id).is_ok(), "{}: not a patient page: {loc}", p.backend);
    id.to_string()
}

/// The entry id a write redirected to (`/patients/{id}#entry-{entry}`).
#[track_caller]
fn written_id(p: &Page, patient: &str) -> String {
    assert!(p.status.is_redirection(), "{}: {} answered {}:\n{}", p.backend, p.what, p.status, p.excerpt());
    let loc = p.header("location").expect("location");
    let prefix = format!("/patients/{patient}#entry-");
    loc.strip_prefix(&prefix).unwrap_or_else(|| panic!("{}: redirected to {loc}", p.backend)).to_string()
}

fn assert_no_inline_script_or_style(p: &Page) {
    let b = &p.backend;
    assert_eq!(p.count("script:not([src])"), 0, "{b}: {}: an inline script", p.what);
    assert_eq!(p.count("style"), 0, "{b}: {}: an inline style sheet", p.what);
    assert_eq!(p.count("[style]"), 0, "{b}: {}: an inline style attribute", p.what);
    let html = p.html();
    for el in html.root_element().descendent_elements() {
        for (name, _) in el.value().attrs() {
            assert!(!name.starts_with("on"), "{b}: {}: an inline event handler {name}", p.what);
        }
    }
}

/// The home page's list item of one patient.
fn home_item(home: &Page, patient: &str) -> String {
    let all = home.texts(&format!(r#"#my-patients li.patient[data-id="{patient}"]"#));
    assert_eq!(all.len(), 1, "{}: patient {patient} is not once on the home list: {all:?}", home.backend);
    all[0].clone()
}

#[tokio::test]
async fn a_physician_registers_a_patient_who_then_appears_in_his_list() {
    for t in support::all().await {
        let b = t.name();
        let mut c = t.login("physician").await;
        let home = c.get("/").await;
        assert_eq!(home.attr("#register-patient", "href").as_deref(), Some("/patients/new"), "{b}");

        let form = c.get("/patients/new").await;
        form.assert_status(StatusCode::OK);
        assert_no_inline_script_or_style(&form);
        assert!(form.count("#districts option") >= 50, "{b}: the district list is missing");
        assert_eq!(form.count("#attending_login"), 0, "{b}: a physician need not name the attending");
        assert_eq!(form.attr("#birth_date", "type").as_deref(), Some("date"), "{b}");

        // Bad input: a kanji "kana", an impossible date. Nothing is registered.
        let before = t.app.store.count_patients().await.unwrap();
        let bad = c
            .post_form(
                "/patients/new",
                &[
                    ("name", "春日 トメ"),
                    ("name_kana", "春日"),
                    ("birth_date", "1938-02-30"),
                    ("sex", "female"),
                ],
            )
            .await;
        bad.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        let errors = bad.texts(".field-error");
        assert!(
            errors.contains(&"ひらがなまたはカタカナで入力してください。".to_string()),
            "{b}: {errors:?}"
        );
        assert!(
            errors.contains(&"正しい日付（例：2026-11-24）を入力してください。".to_string()),
            "{b}: {errors:?}"
        );
        assert_eq!(
            bad.attr("#name", "value").as_deref(),
            Some("春日 トメ"),
            "{b}: the form forgot the input"
        );
        assert_eq!(t.app.store.count_patients().await.unwrap(), before, "{b}: a refused patient was saved");

        let done = c
            .post_form(
                "/patients/new",
                &[
                    ("name", "春日 トメ"),
                    ("name_kana", "かすが とめ"),
                    ("birth_date", "1938-11-25"),
                    ("sex", "female"),
                    ("address", "石川県金沢市松ヶ枝町1-1"),
                    ("district", "松ヶ枝"),
                    ("phone", "076-111-2222"),
                    ("care_level", "care_3"),
                    ("insurance_number", "1234567890"),
                    ("key_person", "長男 春日 一郎"),
                    ("emergency_contacts", "長男 春日 一郎 090-0000-1111"),
                    ("conditions", "慢性心不全"),
                    ("allergies", "ペニシリン系抗菌薬"),
                    ("medications", "フロセミド 20mg 朝"),
                ],
            )
            .await;
        let id = registered_id(&done);

        let home = c.get("/").await;
        let item = home_item(&home, &id);
        assert!(
            item.contains("春日 トメ") && item.contains("かすが とめ") && item.contains("主治医"),
            "{b}: {item}"
        );
        assert_eq!(
            home.attr(&format!(r#"li.patient[data-id="{id}"] a"#), "href"),
            Some(format!("/patients/{id}")),
            "{b}"
        );

        let page = c.get(&format!("/patients/{id}")).await;
        page.assert_status(StatusCode::OK);
        assert_no_inline_script_or_style(&page);
        assert_eq!(page.text("#patient-name"), "春日 トメ", "{b}");
        assert_eq!(page.text("#patient-age"), "87歳", "{b}: born 1938-11-25, seen 2026-11-24");
        assert_eq!(page.text("#patient-care-level"), "要介護3", "{b}");
        assert!(page.text("#patient-allergies").contains("ペニシリン系抗菌薬"), "{b}");
        let center = t
            .app
            .support_centers()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.districts.iter().any(|d| d == "松ヶ枝"))
            .expect("the center of 松ヶ枝");
        assert_eq!(page.text("#patient-center"), center.org.name, "{b}");
        assert!(page.text("#consent-state").contains("有効な同意が記録されていません"), "{b}");
        for link in ["team", "vitals", "emergency", "access-log", "consent"] {
            assert_eq!(
                page.attr(&format!("#link-{link}"), "href"),
                Some(format!("/patients/{id}/{link}")),
                "{b}: the {link} link"
            );
        }
        assert_eq!(page.text("#no-entries"), "記録はまだありません。", "{b}");
        for form in ["#visit-form", "#vitals-form", "#message-form"] {
            assert_eq!(page.attr(form, "action"), Some(format!("/patients/{id}/entries")), "{b}: {form}");
        }
        assert_eq!(page.attr("#visit-occurred_at", "value").as_deref(), Some("2026-11-24T09:30"), "{b}");
        assert_eq!(page.attr("#vitals-temperature", "inputmode").as_deref(), Some("decimal"), "{b}");
    }
}

#[tokio::test]
async fn a_likely_duplicate_is_pointed_out_before_a_second_record_is_made() {
    for t in support::all().await {
        let b = t.name();
        let first = patient_of(&t, "physician", "秋山 ハル", "あきやま はる").await;
        let before = t.app.store.count_patients().await.unwrap();
        let mut c = t.login("physician").await;
        c.get("/patients/new").await;
        // The same kana, written in katakana, and the same birth date.
        let fields = [
            ("name", "秋山 はる"),
            ("name_kana", "アキヤマ ハル"),
            ("birth_date", "1938-04-01"),
            ("sex", "female"),
        ];
        let warned = c.post_form("/patients/new", &fields).await;
        warned.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(warned.text("#duplicates h2").contains("すでに登録されているかもしれません"), "{b}");
        assert_eq!(warned.attr("#duplicates a", "href"), Some(format!("/patients/{first}")), "{b}");
        assert_eq!(warned.text("#duplicates a"), "秋山 ハル", "{b}");
        assert_eq!(warned.count("#confirmed_not_duplicate"), 1, "{b}: no way to say it is another person");
        assert_eq!(warned.attr("#name_kana", "value").as_deref(), Some("アキヤマ ハル"), "{b}");
        assert_eq!(t.app.store.count_patients().await.unwrap(), before, "{b}: the warning saved a patient");

        let mut again = fields.to_vec();
        again.push(("confirmed_not_duplicate", "1"));
        let second = registered_id(&c.post_form("/patients/new", &again).await);
        assert_ne!(second, first, "{b}");

        // A physician of another clinic learns only that someone they cannot see matches.
        let mut other = t.login("physician2").await;
        other.get("/patients/new").await;
        let warned = other.post_form("/patients/new", &fields).await;
        warned.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(warned.count("#duplicates a"), 0, "{b}: a hidden patient was linked");
        assert_eq!(warned.text("#duplicates-hidden"), "あなたが閲覧できない患者：2人", "{b}");
        assert!(!warned.body.contains("秋山 ハル"), "{b}: a hidden patient's name was shown");
    }
}

#[tokio::test]
async fn staff_without_a_medical_affiliation_may_not_register_patients() {
    for t in support::all().await {
        let b = t.name();
        let before = t.app.store.count_patients().await.unwrap();
        for login in ["caremanager", "nurse", "admin", "city"] {
            let mut c = t.login(login).await;
            let home = c.get("/").await;
            assert_eq!(home.count("#register-patient"), 0, "{b}: {login} is offered registration");
            c.get("/patients/new").await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
            let p = c
                .post_form(
                    "/patients/new",
                    &[
                        ("name", "冬木 ナツ"),
                        ("name_kana", "ふゆき なつ"),
                        ("birth_date", "1941-01-01"),
                        ("sex", "female"),
                        ("attending_login", "physician"),
                    ],
                )
                .await;
            p.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        }
        assert_eq!(t.app.store.count_patients().await.unwrap(), before, "{b}");
        // Care staff who may not register still see their (empty) list.
        let home = t.login("caremanager").await.get("/").await;
        assert_eq!(home.count("#my-patients"), 1, "{b}");
        // An administrator does not.
        assert_eq!(t.login("admin").await.get("/").await.count("#my-patients"), 0, "{b}");
    }
}

#[tokio::test]
async fn the_attending_physician_writes_a_visit_with_vitals_and_sees_it() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "夏川 キヨ", "なつかわ きよ").await;
        let mut c = t.login("physician").await;
        c.get(&format!("/patients/{id}")).await.assert_status(StatusCode::OK);
        t.advance_minutes(20);
        let p = c
            .post_form(
                &format!("/patients/{id}/entries"),
                &[
                    ("kind", "visit"),
                    ("occurred_at", "2026-11-24T09:30"),
                    ("body", "食欲やや低下。\n下肢浮腫あり。"),
                    ("subjective", "息が少し苦しい"),
                    ("assessment", "心不全の増悪傾向"),
                    ("next_visit", "2026-12-01"),
                    ("policy_changed", "1"),
                    ("cautions", "水分摂取量を記録してください"),
                    ("systolic_bp", "128"),
                    ("diastolic_bp", "76"),
                    ("pulse", "88"),
                    ("temperature", "３６．８"),
                    ("spo2", "95"),
                    ("weight", "48.5"),
                ],
            )
            .await;
        let entry = written_id(&p, &id);

        let page = c.get(&format!("/patients/{id}")).await;
        let sel = format!("#entry-{entry}");
        let text = page.text(&sel);
        for want in [
            "訪問記録",
            "2026-11-24 09:30",
            "山田 太郎",
            "医師",
            "犀川ホームクリニック",
            "食欲やや低下。",
            "息が少し苦しい",
            "心不全の増悪傾向",
            "2026-12-01",
            "治療方針の変更あり",
            "水分摂取量を記録してください",
            "128/76 mmHg",
            "88 /分",
            "36.8 ℃",
            "95 %",
            "48.5 kg",
            // Written 20 minutes after the visit: both times are shown.
            "記録：2026-11-24 09:50",
        ] {
            assert!(text.contains(want), "{b}: the entry lacks {want:?}: {text}");
        }
        // The author has nothing to acknowledge and may correct.
        assert_eq!(page.count(&format!("{sel} form.ack")), 0, "{b}");
        assert_eq!(
            page.attr(&format!("{sel} a.correct"), "href"),
            Some(format!("/patients/{id}/entries/{entry}/correct")),
            "{b}"
        );
        let vitals = t.app.store.vitals(&id, 0, i64::MAX).await.unwrap();
        assert_eq!(vitals.len(), 6, "{b}: {vitals:?}");
    }
}

#[tokio::test]
async fn an_impossible_vital_sign_is_refused_next_to_its_field_and_nothing_is_written() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "冬野 サダ", "ふゆの さだ").await;
        let mut c = t.login("physician").await;
        c.get(&format!("/patients/{id}")).await;
        for kind in ["vitals", "visit"] {
            let p = c
                .post_form(
                    &format!("/patients/{id}/entries"),
                    &[("kind", kind), ("body", "発熱あり"), ("temperature", "365"), ("pulse", "80")],
                )
                .await;
            p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            assert_no_inline_script_or_style(&p);
            let msg = p.text("#entry-temperature-error");
            assert!(msg.starts_with(OUT_OF_RANGE), "{b}: {kind}: {msg}");
            assert!(msg.contains("30〜43 ℃"), "{b}: {kind}: the message does not say the range: {msg}");
            assert_eq!(
                p.attr("#entry-temperature", "value").as_deref(),
                Some("365"),
                "{b}: the input was lost"
            );
            assert_eq!(p.attr("#entry-temperature", "aria-invalid").as_deref(), Some("true"), "{b}");
            assert_eq!(p.attr("#entry-pulse", "value").as_deref(), Some("80"), "{b}");
            assert_eq!(p.count("#entry-pulse-error"), 0, "{b}: a good value was refused");
            assert!(p.text("#fix-errors").contains("何も保存されていません"), "{b}");
            assert_eq!(p.attr("#entry-form input[name=kind]", "value").as_deref(), Some(kind), "{b}");
        }
        assert!(entries(&t, &id).await.is_empty(), "{b}: a refused entry was written");
        assert!(t.app.store.vitals(&id, 0, i64::MAX).await.unwrap().is_empty(), "{b}");

        // A message needing a reply with nobody to reply: said next to the addressee.
        let p = c
            .post_form(
                &format!("/patients/{id}/entries"),
                &[("kind", "message"), ("body", "至急"), ("needs_reply", "1")],
            )
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.texts(".field-error").contains(&"入力してください。".to_string()), "{b}");
        assert!(entries(&t, &id).await.is_empty(), "{b}");
    }
}

/// Writes `n` entries through the use case, a minute apart; returns their ids, oldest first.
async fn write_many(t: &TestApp, who: &str, patient: &str, n: usize) -> Vec<String> {
    let a = actor(t, who).await;
    let mut ids = Vec::new();
    for i in 0..n {
        t.advance_minutes(1);
        let e = NewEntry {
            kind: "vitals".into(),
            vitals: vec![("pulse".into(), format!("{}", 60 + i))],
            ..Default::default()
        };
        ids.push(t.app.write_entry(&a, patient, e).await.expect("write").id);
    }
    ids
}

/// A link as a browser requests it (the fragment stays in the browser).
fn without_fragment(href: &str) -> &str {
    href.split('#').next().unwrap_or(href)
}

fn shown_ids(p: &Page) -> Vec<String> {
    let html = p.html();
    let sel = scraper::Selector::parse("#entries article.entry").unwrap();
    html.select(&sel)
        .map(|e| e.value().attr("id").unwrap().strip_prefix("entry-").unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_timeline_pages_twenty_entries_at_a_time() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "春野 ウメ", "はるの うめ").await;
        let written = write_many(&t, "physician", &id, 45).await;
        let newest_first: Vec<String> = written.iter().rev().cloned().collect();
        let mut c = t.login("physician").await;

        let first = c.get(&format!("/patients/{id}")).await;
        assert_eq!(shown_ids(&first), newest_first[..20], "{b}: the first page");
        let more = first.attr("#more", "href").expect("a more link");
        assert!(more.contains("before="), "{b}: {more}");

        let second = c.get(without_fragment(&more)).await;
        second.assert_status(StatusCode::OK);
        assert_eq!(shown_ids(&second), newest_first[20..40], "{b}: the second page");
        let third = c.get(without_fragment(&second.attr("#more", "href").expect("a second more link"))).await;
        assert_eq!(shown_ids(&third), newest_first[40..], "{b}: the last page");
        assert_eq!(third.count("#more"), 0, "{b}: a more link after the last entry");

        // A cursor that is not one starts from the newest, it does not fail.
        let odd = c.get(&format!("/patients/{id}?before=%27%3B--")).await;
        assert_eq!(shown_ids(&odd), newest_first[..20], "{b}");
    }
}

#[tokio::test]
async fn filters_narrow_the_timeline_by_kind_profession_date_and_text() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋田 フミ", "あきた ふみ").await;
        admit(&t, "physician", &id, "nurse").await;
        let doctor = actor(&t, "physician").await;
        let nurse = actor(&t, "nurse").await;
        let visit = NewEntry {
            kind: "visit".into(),
            body: "仙骨部に褥瘡あり".into(),
            visit: VisitData { plan: "体位変換を2時間ごと".into(), ..Default::default() },
            ..Default::default()
        };
        let v = t.app.write_entry(&doctor, &id, visit).await.unwrap().id;
        t.clock.advance_seconds(2 * 86_400);
        let msg = NewEntry {
            kind: "message".into(),
            body: "明日の訪問時間を変更します".into(),
            ..Default::default()
        };
        let m = t.app.write_entry(&nurse, &id, msg).await.unwrap().id;
        t.advance_minutes(1);
        let vit = NewEntry {
            kind: "vitals".into(),
            vitals: vec![("spo2".into(), "97".into())],
            ..Default::default()
        };
        let s = t.app.write_entry(&nurse, &id, vit).await.unwrap().id;

        let mut c = t.login("physician").await;
        let base = format!("/patients/{id}");
        let page = c.get(&base).await;
        assert_eq!(shown_ids(&page), [s.clone(), m.clone(), v.clone()], "{b}");
        let cases: Vec<(&str, Vec<&String>)> = vec![
            ("kind=message", vec![&m]),
            ("kind=vitals", vec![&s]),
            ("profession=nurse", vec![&s, &m]),
            ("profession=physician", vec![&v]),
            ("q=%E8%A4%A5%E7%98%A1", vec![&v]), // 褥瘡, in the body
            ("q=%E4%BD%93%E4%BD%8D%E5%A4%89%E6%8F%9B", vec![&v]), // 体位変換, in the visit's plan
            ("from=2026-11-26", vec![&s, &m]),
            ("to=2026-11-24", vec![&v]),
            ("from=2026-11-25&to=2026-11-25", vec![]),
            ("kind=message&profession=physician", vec![]),
        ];
        for (q, want) in cases {
            let p = c.get(&format!("{base}?{q}")).await;
            p.assert_status(StatusCode::OK);
            let want: Vec<String> = want.into_iter().cloned().collect();
            assert_eq!(shown_ids(&p), want, "{b}: ?{q}");
            if want.is_empty() {
                assert_eq!(p.text("#no-entries"), "条件に合う記録はありません。", "{b}: ?{q}");
            }
            assert_eq!(p.count("#filter-clear"), 1, "{b}: ?{q}: no way to clear the filter");
        }
        let kept = c.get(&format!("{base}?kind=vitals&q=x")).await;
        assert_eq!(kept.attr("#filter-kind option[selected]", "value").as_deref(), Some("vitals"), "{b}");
        assert_eq!(kept.attr("#filter-q", "value").as_deref(), Some("x"), "{b}");

        // A filter that is not one is said, and not applied.
        let p = c.get(&format!("{base}?kind=gossip&from=2026-02-30")).await;
        p.assert_status(StatusCode::OK);
        let errors = p.texts("#filter .field-error");
        assert_eq!(
            errors,
            ["選択肢にない値です。", "正しい日付（例：2026-11-24）を入力してください。"],
            "{b}"
        );
        assert_eq!(shown_ids(&p).len(), 3, "{b}");
    }
}

#[tokio::test]
async fn a_message_needing_a_reply_waits_on_the_addressees_list_until_acknowledged() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋月 マツ", "あきづき まつ").await;
        admit(&t, "physician", &id, "nurse").await;

        let mut doctor = t.login("physician").await;
        let page = doctor.get(&format!("/patients/{id}")).await;
        let options = page.texts("#message-addressee option");
        assert!(
            options.iter().any(|o| o.contains("中村 美穂")),
            "{b}: the nurse is not an addressee: {options:?}"
        );
        assert!(!options.iter().any(|o| o.contains("山田 太郎")), "{b}: the writer is offered as addressee");
        let p = doctor
            .post_form(
                &format!("/patients/{id}/entries"),
                &[
                    ("kind", "message"),
                    ("body", "本日夕方に状態を確認してください"),
                    ("addressee", "nurse"),
                    ("urgent", "1"),
                    ("needs_reply", "1"),
                ],
            )
            .await;
        let entry = written_id(&p, &id);

        let mut nurse = t.login("nurse").await;
        let home = nurse.get("/").await;
        let item = home_item(&home, &id);
        assert!(item.contains("未確認 1"), "{b}: {item}");
        assert!(item.contains("未読 1"), "{b}: {item}");
        assert!(item.contains("メンバー"), "{b}: {item}");

        let page = nurse.get(&format!("/patients/{id}")).await;
        let sel = format!("#entry-{entry}");
        let text = page.text(&sel);
        for want in ["緊急", "返信が必要", "宛先：中村 美穂", "未確認", "本日夕方に状態を確認してください"]
        {
            assert!(text.contains(want), "{b}: {want:?} missing: {text}");
        }
        assert_eq!(page.count(&format!("{sel} a.correct")), 0, "{b}: another's entry offered for correction");
        let ack = page.attr(&format!("{sel} form.ack"), "action").expect("an acknowledge button");
        assert_eq!(ack, format!("/patients/{id}/entries/{entry}/ack"), "{b}");

        // Reading cleared "unread"; the acknowledgement is still awaited.
        let item = home_item(&nurse.get("/").await, &id);
        assert!(!item.contains("未読") && item.contains("未確認 1"), "{b}: {item}");

        nurse.get(&format!("/patients/{id}")).await;
        nurse.post_form(&ack, &[]).await.assert_redirect(&format!("/patients/{id}#entry-{entry}"));
        // A second press (another device) changes nothing and does not fail.
        nurse.post_form(&ack, &[]).await.assert_redirect(&format!("/patients/{id}#entry-{entry}"));
        let item = home_item(&nurse.get("/").await, &id);
        assert!(!item.contains("未確認"), "{b}: still waiting after the acknowledgement: {item}");

        let page = doctor.get(&format!("/patients/{id}")).await;
        let text = page.text(&sel);
        assert!(text.contains("確認済み：中村 美穂（2026-11-24 09:30）"), "{b}: {text}");
        assert!(page.text(&format!("{sel} .read-by")).contains("中村 美穂"), "{b}: {text}");
        assert_eq!(page.count(&format!("{sel} form.ack")), 0, "{b}");
    }
}

#[tokio::test]
async fn a_correction_is_a_new_version_and_both_stay_visible() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋野 キク", "あきの きく").await;
        admit(&t, "physician", &id, "nurse").await;
        let mut c = t.login("physician").await;
        c.get(&format!("/patients/{id}")).await;
        let old = written_id(
            &c.post_form(
                &format!("/patients/{id}/entries"),
                &[
                    ("kind", "visit"),
                    ("body", "血圧高め。降圧薬を増量"),
                    ("systolic_bp", "168"),
                    ("diastolic_bp", "94"),
                ],
            )
            .await,
            &id,
        );
        t.advance_minutes(30);

        let form = c.get(&format!("/patients/{id}/entries/{old}/correct")).await;
        form.assert_status(StatusCode::OK);
        assert_no_inline_script_or_style(&form);
        assert_eq!(form.text("#entry-body"), "血圧高め。降圧薬を増量", "{b}: the form is not filled in");
        assert_eq!(form.attr("#entry-systolic_bp", "value").as_deref(), Some("168"), "{b}");
        assert_eq!(form.attr("#entry-form input[name=corrects_id]", "value"), Some(old.clone()), "{b}");
        assert!(
            form.text(&format!(".original #entry-{old}")).contains("血圧高め"),
            "{b}: the original is not shown"
        );

        let new = written_id(
            &c.post_form(
                &format!("/patients/{id}/entries"),
                &[
                    ("kind", "visit"),
                    ("corrects_id", &old),
                    ("body", "血圧高め。降圧薬は現状維持"),
                    ("systolic_bp", "158"),
                    ("diastolic_bp", "94"),
                ],
            )
            .await,
            &id,
        );
        let page = c.get(&format!("/patients/{id}")).await;
        assert_eq!(shown_ids(&page), [new.clone(), old.clone()], "{b}: both versions are shown");
        let old_sel = format!("#entry-{old}");
        let new_sel = format!("#entry-{new}");
        assert_eq!(page.text(&format!("{old_sel} .corrected-mark")), "訂正済み", "{b}");
        assert_eq!(page.attr(&format!("{old_sel} a.newer"), "href"), Some(new_sel.clone()), "{b}");
        assert_eq!(
            page.count(&format!("{old_sel} a.correct")),
            0,
            "{b}: a corrected entry offered for correction"
        );
        assert!(page.text(&old_sel).contains("降圧薬を増量"), "{b}: the old version changed");
        let corrects = page.text(&format!("{new_sel} .corrects"));
        assert_eq!(corrects, "2026-11-24 09:30の記録の訂正", "{b}");
        assert_eq!(
            page.attr(&format!("{new_sel} .corrects a"), "href"),
            Some(format!("#entry-{old}")),
            "{b}"
        );
        assert_eq!(page.count(&format!("{new_sel} a.correct")), 1, "{b}");

        // Seen from a page that shows only the old version, the link pages to the newer one.
        let paged = c.get(&format!("/patients/{id}?q=%E5%A2%97%E9%87%8F")).await; // 増量
        assert_eq!(shown_ids(&paged), std::slice::from_ref(&old), "{b}");
        let href = paged.attr(&format!("{old_sel} a.newer"), "href").expect("a link to the newer version");
        assert!(
            href.starts_with(&format!("/patients/{id}?before=")) && href.ends_with(&new_sel),
            "{b}: {href}"
        );
        assert!(
            shown_ids(&c.get(without_fragment(&href)).await).contains(&new),
            "{b}: the link does not reach it"
        );

        // Versions form a line: the old version is corrected through the newer one, never twice.
        c.get(&format!("/patients/{id}/entries/{old}/correct"))
            .await
            .assert_redirect(&format!("/patients/{id}/entries/{new}/correct"));
        let p = c
            .post_form(
                &format!("/patients/{id}/entries"),
                &[("kind", "visit"), ("corrects_id", &old), ("body", "再訂正")],
            )
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            p.text("#entry .field-error").contains("この記録はすでに訂正されています"),
            "{b}: {}",
            p.excerpt()
        );
        let p = c
            .post_form(
                &format!("/patients/{id}/entries"),
                &[("kind", "message"), ("corrects_id", &new), ("body", "種類違い")],
            )
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(entries(&t, &id).await.len(), 2, "{b}: a refused correction was written");

        // Only one's own entries are corrected: another member gets the not-found page.
        let mut nurse = t.login("nurse").await;
        nurse
            .get(&format!("/patients/{id}/entries/{old}/correct"))
            .await
            .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        nurse.get(&format!("/patients/{id}")).await;
        let p = nurse
            .post_form(
                &format!("/patients/{id}/entries"),
                &[("kind", "visit"), ("corrects_id", &new), ("body", "x")],
            )
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(entries(&t, &id).await.len(), 2, "{b}: an entry was corrected by someone else");
    }
}

#[tokio::test]
async fn non_members_get_the_same_not_found_page_as_for_no_patient_at_all() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋元 タケ", "あきもと たけ").await;
        admit(&t, "physician", &id, "nurse").await;
        let doctor = actor(&t, "physician").await;
        let entry = t
            .app
            .write_entry(
                &doctor,
                &id,
                NewEntry { kind: "message".into(), body: "申し送り".into(), ..Default::default() },
            )
            .await
            .unwrap()
            .id;
        // The pharmacist asked to join and waits: still nothing.
        t.app.request_to_join(&actor(&t, "pharmacist").await, &id).await.unwrap();

        let random = uuid::Uuid::now_v7().to_string();
        for login in ["caremanager", "admin", "city", "pharmacist", "er-physician", "physician2"] {
            let mut c = t.login(login).await;
            for target in [id.as_str(), random.as_str(), "not-a-patient", "1%27%20or%201=1"] {
                let p = c.get(&format!("/patients/{target}")).await;
                p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
                assert!(!p.body.contains("秋元"), "{b}: {login} sees the name of {target}");
                c.get(&format!("/patients/{target}/entries/{entry}/correct"))
                    .await
                    .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
                c.get("/").await;
                c.post_form(&format!("/patients/{target}/entries"), &[("kind", "message"), ("body", "x")])
                    .await
                    .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
                c.post_form(&format!("/patients/{target}/entries/{entry}/ack"), &[])
                    .await
                    .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
            }
        }
        assert_eq!(entries(&t, &id).await.len(), 1, "{b}: a non-member wrote");
        let refused = t
            .app
            .store
            .audit_events_for_patient(&id, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event.action == "access.refused")
            .count();
        assert!(refused >= 6 * 4, "{b}: refusals are not all audited: {refused}");
        // Anonymous visitors are sent to log in.
        t.client().get(&format!("/patients/{id}")).await.assert_redirect("/login");
    }
}

#[tokio::test]
async fn reading_and_writing_the_patient_page_is_in_the_audit_log() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋庭 シズ", "あきば しず").await;
        admit(&t, "physician", &id, "nurse").await;
        let nurse_id = t.user_id("nurse").await;
        let mut c = t.login("nurse").await;
        c.get(&format!("/patients/{id}")).await.assert_status(StatusCode::OK);
        written_id(
            &c.post_form(&format!("/patients/{id}/entries"), &[("kind", "vitals"), ("spo2", "96")]).await,
            &id,
        );
        let events = t.app.store.audit_events_for_patient(&id, 10_000).await.unwrap();
        let by_nurse: Vec<&str> = events
            .iter()
            .filter(|e| e.event.actor_id.as_deref() == Some(nurse_id.as_str()))
            .map(|e| e.event.action.as_str())
            .collect();
        for want in ["patient.read", "timeline.read", "entry.written"] {
            assert!(by_nurse.contains(&want), "{b}: no {want} by the nurse: {by_nurse:?}");
        }
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn a_pending_request_shows_on_the_home_list_without_counts_or_link() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_of(&t, "physician", "秋葉 ヨネ", "あきば よね").await;
        admit(&t, "physician", &id, "nurse").await;
        t.app.request_to_join(&actor(&t, "pharmacist").await, &id).await.unwrap();
        let doctor = actor(&t, "physician").await;
        t.app
            .write_entry(
                &doctor,
                &id,
                NewEntry { kind: "message".into(), body: "薬の変更".into(), ..Default::default() },
            )
            .await
            .unwrap();
        let home = t.login("pharmacist").await.get("/").await;
        let item = home_item(&home, &id);
        assert!(item.contains("承認待ち"), "{b}: {item}");
        assert!(
            !item.contains("未読") && !item.contains("未確認"),
            "{b}: a pending member sees counts: {item}"
        );
        assert_eq!(
            home.count(&format!(r#"li.patient[data-id="{id}"] a"#)),
            0,
            "{b}: a pending member gets a link"
        );
    }
}
