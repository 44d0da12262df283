//! Router tests of the care-team pages (issue 3 §2, §3, §7, §8): consent, the physician-admitted
//! team, asking to join, the emergency view and search, and the disclosure printout. Each test
//! drives the whole router with browser-like clients on every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use support::{Client, Page, TestApp};
use tsunagu_app::sharing::{NewEntry, NewPatient, Registered};
use tsunagu_app::{Actor, AppError, AuthVia};

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const FORBIDDEN_MESSAGE: &str = "この操作を行う権限がありません。";
const JOIN_DONE: &str = "申請を受け付けました（承認されるまで内容は表示されません）";
const ALLERGY: &str = "ペニシリン系抗菌薬（発疹）";

/// An actor for a demo account, as the app layer sees them (for setting up data).
async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Cli, None).await.expect("actor")
}

/// Registers a patient of `physician` through the use case and returns their id.
async fn register(t: &TestApp, kana: &str) -> String {
    let doctor = actor(t, "physician").await;
    let input = NewPatient {
        name: "金沢 花子".into(),
        name_kana: kana.into(),
        birth_date: "1938-04-12".into(),
        sex: "female".into(),
        address: "石川県金沢市野町1-2-3".into(),
        phone: "076-200-0000".into(),
        care_level: "care_3".into(),
        key_person: "金沢 一郎（長男）".into(),
        emergency_contacts: "金沢 一郎（長男）090-0000-0000".into(),
        conditions: "心不全、2型糖尿病".into(),
        allergies: ALLERGY.into(),
        medications: "フロセミド 20mg 朝".into(),
        ..Default::default()
    };
    match t.app.register_patient(&doctor, input).await.expect("register") {
        Registered::Created(p) => p.id,
        Registered::LikelyDuplicates(_) => panic!("{}: a duplicate of {kana}", t.name()),
    }
}

/// Records a valid consent through the page.
async fn consent(c: &mut Client, id: &str) {
    c.get(&format!("/patients/{id}/consent")).await.assert_status(StatusCode::OK);
    c.post_form(
        &format!("/patients/{id}/consent"),
        &[("consenter", "patient"), ("consented_on", "2026-11-20"), ("scope", "多職種による情報共有")],
    )
    .await
    .assert_redirect(&format!("/patients/{id}/consent?done=consent_recorded"));
}

/// The page is the 404 page, exactly as for a patient that does not exist.
#[track_caller]
fn assert_not_found(p: &Page) {
    p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
}

/// The names of the active members on a team page (the attending physician first).
fn member_names(p: &Page) -> Vec<String> {
    p.texts("#members li.member .member-name")
}

fn pending_names(p: &Page) -> Vec<String> {
    p.texts("#pending li.pending-member .member-name")
}

/// Refusals of `login` about patient `id` in the audit log.
async fn refusals(t: &TestApp, login: &str, id: &str) -> usize {
    t.audit()
        .await
        .iter()
        .filter(|e| {
            e.event.actor_login.as_deref() == Some(login)
                && e.event.outcome == "refused"
                && e.event.patient_id.as_deref() == Some(id)
        })
        .count()
}

#[tokio::test]
async fn consent_is_recorded_by_the_attending_physician_and_bad_input_changes_nothing() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "どういち はなこ").await;
        let mut doc = t.login("physician").await;
        let p = doc.get(&format!("/patients/{id}/consent")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#patient-name"), "金沢 花子", "{b}");
        assert!(p.text("#consent-state").contains("有効な同意がありません"), "{b}");
        assert_eq!(p.count("#no-consents"), 1, "{b}");
        // The form: consenter, proxy, a required date, a default scope, the note on the form.
        assert_eq!(p.attr("#consented_on", "type").as_deref(), Some("date"), "{b}");
        assert!(p.attr("#consented_on", "required").is_some(), "{b}");
        assert!(p.text("#scope").contains("多職種"), "{b}: the default scope");
        assert_eq!(p.count(r#"input[name="consenter"][type="radio"]"#), 2, "{b}");
        // The signed form is attached with the file upload (tested with the attachments).
        assert_eq!(p.count(r#"#consent-form input[type="file"]"#), 1, "{b}: no field for the signed form");
        assert_eq!(p.count("#withdraw-form"), 0, "{b}: nothing to withdraw yet");

        // A missing date: its own message next to the field, nothing recorded.
        let url = format!("/patients/{id}/consent");
        let p =
            doc.post_form(&url, &[("consenter", "patient"), ("consented_on", ""), ("scope", "共有")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            p.text("#consented_on-error"),
            "同意日を入力してください（同意書に記載された日付）。",
            "{b}"
        );
        assert_eq!(p.text("#scope"), "共有", "{b}: the typed scope is kept");
        // A date in the future (Japan time: today is 2026-11-24).
        let p = doc
            .post_form(&url, &[("consenter", "patient"), ("consented_on", "2026-11-25"), ("scope", "共有")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#consented_on-error"), "未来の日時は指定できません。", "{b}");
        // A date that does not exist.
        let p = doc
            .post_form(&url, &[("consenter", "patient"), ("consented_on", "2026-02-30"), ("scope", "共有")])
            .await;
        assert_eq!(p.text("#consented_on-error"), "正しい日付（例：2026-11-24）を入力してください。", "{b}");
        // A proxy needs a name and a relation; an unknown consenter is refused.
        let p = doc
            .post_form(&url, &[("consenter", "proxy"), ("consented_on", "2026-11-20"), ("scope", "共有")])
            .await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#proxy_name-error"), "入力してください。", "{b}");
        assert_eq!(p.text("#proxy_relation-error"), "入力してください。", "{b}");
        let p = doc
            .post_form(&url, &[("consenter", "cat"), ("consented_on", "2026-11-20"), ("scope", "共有")])
            .await;
        assert_eq!(p.text("#consenter-error"), "選択肢にない値です。", "{b}");
        assert!(t.app.store.consents(&id).await.unwrap().is_empty(), "{b}: bad input recorded a consent");

        // A proxy's consent, recorded.
        let p = doc
            .post_form(
                &url,
                &[
                    ("consenter", "proxy"),
                    ("proxy_name", "金沢 一郎"),
                    ("proxy_relation", "長男"),
                    ("consented_on", "2026-11-24"),
                    ("scope", "在宅医療・介護の多職種による情報共有"),
                ],
            )
            .await;
        p.assert_redirect(&format!("/patients/{id}/consent?done=consent_recorded"));
        let p = doc.get(&format!("/patients/{id}/consent?done=consent_recorded")).await;
        assert_eq!(p.text("#done"), "同意を記録しました。", "{b}");
        assert!(p.text("#consent-state").contains("有効な同意があります"), "{b}");
        assert_eq!(p.text(".consent .consenter"), "代理人：金沢 一郎（長男）", "{b}");
        assert_eq!(p.text(".consent .consented-on"), "2026-11-24", "{b}");
        assert_eq!(p.text(".consent .scope"), "在宅医療・介護の多職種による情報共有", "{b}");
        assert_eq!(
            p.text(".consent .recorded"),
            "山田 太郎（医師・犀川ホームクリニック） 2026-11-24 09:30",
            "{b}"
        );
        assert_eq!(p.count("#withdraw-form"), 1, "{b}");

        // Someone not on the team gets the 404 page, as for a patient that does not exist.
        let mut nurse = t.login("nurse").await;
        assert_not_found(&nurse.get(&format!("/patients/{id}/consent")).await);
        assert_not_found(&nurse.get("/patients/0192f1e2-3b4c-7d5e-8f60-718293a4b5c6/consent").await);
        let before = t.app.store.consents(&id).await.unwrap().len();
        assert_not_found(
            &nurse
                .post_form(&url, &[("consenter", "patient"), ("consented_on", "2026-11-20"), ("scope", "x")])
                .await,
        );
        assert_eq!(t.app.store.consents(&id).await.unwrap().len(), before, "{b}");
        assert!(refusals(&t, "nurse", &id).await >= 2, "{b}: the nurse's refusals are not in the audit log");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn the_team_is_admitted_by_physicians_and_pending_people_see_nothing() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "ちーむ はなこ").await;
        let team = format!("/patients/{id}/team");
        let mut doc = t.login("physician").await;
        let mut nurse = t.login("nurse").await;

        // Before consent, asking to join records nothing (and says the same as always).
        nurse.get(&format!("/patients/{id}/join")).await.assert_status(StatusCode::OK);
        let p = nurse.post_form(&format!("/patients/{id}/join"), &[]).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#join-done"), JOIN_DONE, "{b}");
        let p = doc.get(&team).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(pending_names(&p), Vec::<String>::new(), "{b}: a request without consent");
        assert!(p.text("#no-consent").contains("有効な同意がない"), "{b}");
        assert_eq!(p.count("#add-form"), 0, "{b}: no one can be added without consent");
        consent(&mut doc, &id).await;

        // The nurse asks to join with the link the physician hands out: pending, and the
        // patient is still a 404 to her.
        let link = doc.get(&team).await.text("#join-url");
        assert_eq!(link, format!("http://localhost:8080/patients/{id}/join"), "{b}");
        nurse.get("/").await;
        let p = nurse.post_form("/join", &[("patient", &link)]).await;
        assert_eq!(p.text("#join-done"), JOIN_DONE, "{b}");
        assert_not_found(&nurse.get(&team).await);
        assert_not_found(&nurse.get(&format!("/patients/{id}/emergency")).await);
        let p = doc.get(&team).await;
        assert_eq!(pending_names(&p), ["中村 美穂"], "{b}");
        let nurse_id = t.user_id("nurse").await;
        assert_eq!(
            p.text(&format!("#pending-{nurse_id} .member-who")),
            "看護師・兼六訪問看護ステーション",
            "{b}"
        );
        assert!(p.text(&format!("#pending-{nurse_id}")).contains("本人が参加を申請"), "{b}");
        assert_eq!(p.count(&format!("#pending-{nurse_id} .approve-form")), 1, "{b}");
        // The attending physician is shown with how to reach them.
        assert_eq!(member_names(&p), ["山田 太郎"], "{b}");
        assert_eq!(p.texts("#members li.member .role")[0], "主治医", "{b}");
        assert!(p.texts("#members li.member .phone")[0].contains("076-241-3300"), "{b}");

        // Approved: the nurse sees the patient on her next request.
        doc.post_form(&format!("{team}/{nurse_id}/approve"), &[])
            .await
            .assert_redirect(&format!("{team}?done=member_approved"));
        let p = nurse.get(&team).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(member_names(&p), ["山田 太郎", "中村 美穂"], "{b}");
        assert_eq!(p.text(&format!("#member-{nurse_id} .role")), "メンバー", "{b}");
        assert!(p.text(&format!("#member-{nurse_id} .phone")).contains("076-231-5522"), "{b}");
        // A member is no manager: no approve buttons, no role choice, and the consent read-only.
        assert_eq!(p.count("#role"), 0, "{b}");
        assert_eq!(p.count("#join-link"), 0, "{b}");
        let c = nurse.get(&format!("/patients/{id}/consent")).await;
        c.assert_status(StatusCode::OK);
        assert_eq!(
            c.count("#consent-form") + c.count("#withdraw-form"),
            0,
            "{b}: a member sees the history only"
        );
        assert_eq!(c.count("#managers-only"), 1, "{b}");

        // The nurse proposes the care manager: pending until a physician approves.
        nurse.get(&team).await;
        nurse
            .post_form(&format!("{team}/add"), &[("login", "caremanager")])
            .await
            .assert_redirect(&format!("{team}?done=member_added"));
        let mut cm = t.login("caremanager").await;
        assert_not_found(&cm.get(&team).await);
        let p = nurse.get(&team).await;
        assert_eq!(pending_names(&p), ["田中 由美"], "{b}");
        let cm_id = t.user_id("caremanager").await;
        assert!(p.text(&format!("#pending-{cm_id}")).contains("提案： 中村 美穂"), "{b}");
        assert_eq!(p.count(".approve-form"), 0, "{b}: a nurse cannot approve");
        // … and cannot approve by posting either.
        nurse
            .post_form(&format!("{team}/{cm_id}/approve"), &[])
            .await
            .assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        assert_not_found(&cm.get(&team).await);
        // Nor can a nurse make anyone sub-attending.
        nurse.get(&team).await;
        let p = nurse
            .post_form(&format!("{team}/add"), &[("login", "physician2"), ("role", "sub_attending")])
            .await;
        p.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);

        // physician2, invited as sub-attending, joins at once and can approve.
        doc.get(&team).await;
        let p = doc.post_form(&format!("{team}/add"), &[("login", "nobody-here"), ("role", "member")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#login-error"), "その利用者は見つかりません。", "{b}");
        assert_eq!(p.attr("#login", "value").as_deref(), Some("nobody-here"), "{b}");
        let p = doc.post_form(&format!("{team}/add"), &[("login", "nurse"), ("role", "sub_attending")]).await;
        assert_eq!(p.text("#role-error"), "副主治医は医師でなければなりません。", "{b}");
        doc.post_form(&format!("{team}/add"), &[("login", "physician2"), ("role", "sub_attending")])
            .await
            .assert_redirect(&format!("{team}?done=member_added"));
        let mut doc2 = t.login("physician2").await;
        let p = doc2.get(&team).await;
        p.assert_status(StatusCode::OK);
        let doc2_id = t.user_id("physician2").await;
        assert_eq!(p.text(&format!("#member-{doc2_id} .role")), "副主治医", "{b}");
        assert_eq!(p.count(&format!("#pending-{cm_id} .approve-form")), 1, "{b}");
        doc2.post_form(&format!("{team}/{cm_id}/approve"), &[])
            .await
            .assert_redirect(&format!("{team}?done=member_approved"));
        cm.get(&team).await.assert_status(StatusCode::OK);

        // Approving again is refused with a message, and changes nothing.
        let p = doc2.post_form(&format!("{team}/{cm_id}/approve"), &[]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#team-error"), "承認待ちの申請ではありません。", "{b}");

        // A refusal takes effect on the next request.
        let mut ph = t.login("pharmacist").await;
        ph.post_form(&format!("/patients/{id}/join"), &[]).await.assert_status(StatusCode::OK);
        let ph_id = t.user_id("pharmacist").await;
        doc.get(&team).await;
        doc.post_form(&format!("{team}/{ph_id}/refuse"), &[])
            .await
            .assert_redirect(&format!("{team}?done=member_refused"));
        assert_not_found(&ph.get(&team).await);
        let p = doc.get(&team).await;
        assert_eq!(p.text(&format!("#former-{ph_id} .tag")), "却下", "{b}");

        // A removal too.
        doc.post_form(&format!("{team}/{cm_id}/remove"), &[])
            .await
            .assert_redirect(&format!("{team}?done=member_removed"));
        assert_not_found(&cm.get(&team).await);

        // An end date: the nurse sees the patient until that day begins (Japan time).
        let p = doc.post_form(&format!("{team}/{nurse_id}/end"), &[("ends_on", "")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text(&format!("#member-{nurse_id} .field-error")), "入力してください。", "{b}");
        doc.post_form(&format!("{team}/{nurse_id}/end"), &[("ends_on", "2026-11-26")])
            .await
            .assert_redirect(&format!("{team}?done=member_end_set"));
        let p = nurse.get(&team).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text(&format!("#member-{nurse_id} .member-ends")), "終了予定日： 2026-11-26", "{b}");
        t.advance_minutes(2 * 24 * 60);
        let mut nurse = t.login("nurse").await;
        assert_not_found(&nurse.get(&team).await);

        // physician2 leaves the team by themselves.
        let mut doc2 = t.login("physician2").await;
        let p = doc2.get(&team).await;
        assert_eq!(p.count("#leave-form"), 1, "{b}");
        doc2.post_form(&format!("{team}/leave"), &[]).await.assert_redirect("/");
        assert_not_found(&doc2.get(&team).await);

        // The history names who did what, when.
        let mut doc = t.login("physician").await;
        let p = doc.get(&team).await;
        let history = p.texts("#history li.team-event").join("\n");
        for line in [
            "参加の申請：中村 美穂",
            "参加：中村 美穂（操作： 山田 太郎）",
            "参加の提案：田中 由美（操作： 中村 美穂）",
            "参加：田中 由美（操作： 佐藤 健一）",
            "参加の却下：小林 直子（操作： 山田 太郎）",
            "チームから除外：田中 由美（操作： 山田 太郎）",
            "終了日の設定：中村 美穂（操作： 山田 太郎）",
            "チームから退出：佐藤 健一",
        ] {
            assert!(history.contains(line), "{b}: the history lacks {line:?}:\n{history}");
        }
        // Every refusal was audited.
        for who in ["nurse", "caremanager", "pharmacist", "physician2"] {
            assert!(refusals(&t, who, &id).await >= 1, "{b}: no refusal of {who} in the audit log");
        }
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn withdrawing_consent_locks_out_the_team_at_once_but_not_the_attending_physician() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "てっかい はなこ").await;
        let team = format!("/patients/{id}/team");
        let mut doc = t.login("physician").await;
        consent(&mut doc, &id).await;
        doc.get(&team).await;
        for login in ["nurse", "physician2"] {
            let role = if login == "physician2" { "sub_attending" } else { "member" };
            doc.post_form(&format!("{team}/add"), &[("login", login), ("role", role)])
                .await
                .assert_redirect(&format!("{team}?done=member_added"));
        }
        let mut nurse = t.login("nurse").await;
        let mut doc2 = t.login("physician2").await;
        nurse.get(&team).await.assert_status(StatusCode::OK);
        doc2.get(&team).await.assert_status(StatusCode::OK);

        // Without a reason and the confirmation: both messages, nothing withdrawn.
        let url = format!("/patients/{id}/consent/withdraw");
        doc.get(&format!("/patients/{id}/consent")).await;
        let p = doc.post_form(&url, &[("reason", "  ")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#reason-error"), "入力してください。", "{b}");
        assert_eq!(p.text("#confirm-error"), "撤回の影響を確認したら、チェックを入れてください。", "{b}");
        let p = doc.post_form(&url, &[("reason", "本人の希望により")]).await;
        assert_eq!(p.count("#reason-error"), 0, "{b}");
        assert_eq!(p.count("#confirm-error"), 1, "{b}");
        assert_eq!(p.text("#reason"), "本人の希望により", "{b}: the typed reason is kept");
        nurse.get(&team).await.assert_status(StatusCode::OK);
        // A member who is not a manager cannot withdraw.
        nurse.get(&format!("/patients/{id}/consent")).await;
        nurse
            .post_form(&url, &[("reason", "x"), ("confirm", "1")])
            .await
            .assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);

        doc.post_form(&url, &[("reason", "本人の希望により"), ("confirm", "1")])
            .await
            .assert_redirect(&format!("/patients/{id}/consent?done=consent_withdrawn"));
        assert_not_found(&nurse.get(&team).await);
        assert_not_found(&doc2.get(&team).await);
        assert_not_found(&doc2.get(&format!("/patients/{id}/consent")).await);
        let p = doc.get(&format!("/patients/{id}/consent")).await;
        p.assert_status(StatusCode::OK);
        assert!(p.text("#consent-state").contains("有効な同意がありません"), "{b}");
        assert_eq!(p.text(".consent .withdrawal-reason"), "本人の希望により", "{b}");
        assert!(p.text(".consent .withdrawal").starts_with("山田 太郎（医師・犀川ホームクリニック）"), "{b}");
        assert_eq!(p.count("#withdraw-form"), 0, "{b}");
        doc.get(&team).await.assert_status(StatusCode::OK);
        // Nothing to withdraw any more.
        doc.get(&format!("/patients/{id}/consent")).await;
        let p = doc.post_form(&url, &[("reason", "もう一度"), ("confirm", "1")]).await;
        assert_eq!(
            p.text("#reason-error"),
            "有効な同意が記録されていません。先に同意を記録してください。",
            "{b}"
        );
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn asking_to_join_answers_the_same_whether_or_not_the_patient_exists() {
    for t in support::all().await {
        let b = t.name();
        let real = register(&t, "さんか はなこ").await;
        let mut doc = t.login("physician").await;
        consent(&mut doc, &real).await;
        let mut nurse = t.login("nurse").await;
        let home = nurse.get("/").await;
        assert_eq!(home.count(r#"#join-form input[name="patient"]"#), 1, "{b}: the home page's join form");
        let random = "0192f1e2-3b4c-7d5e-8f60-718293a4b5c6";
        let mut answers = Vec::new();
        for (path, fields) in [
            (format!("/patients/{random}/join"), vec![]),
            (format!("/patients/{real}/join"), vec![]),
            ("/join".to_string(), vec![("patient", random.to_string())]),
            ("/join".to_string(), vec![("patient", format!("https://example.jp/patients/{real}/join"))]),
            ("/join".to_string(), vec![("patient", "not-a-patient".to_string())]),
        ] {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let p = nurse.post_form(&path, &fields).await;
            p.assert_status(StatusCode::OK);
            answers.push((p.text("main"), p.text("#join-done"), p.count("form")));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{b}: the answers differ: {answers:?}");
        assert_eq!(answers[0].1, JOIN_DONE, "{b}");
        // An empty field is a typing mistake, said so.
        let p = nurse.post_form("/join", &[("patient", " ")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#patient-error"), "患者IDを入力してください。", "{b}");
        // The real request waits for approval; the others were refused in the audit log.
        let m = t.app.store.membership(&real, &t.user_id("nurse").await).await.unwrap().expect("membership");
        assert_eq!(m.status, "pending", "{b}");
        let refused: Vec<_> = t
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "team.requested" && e.event.outcome == "refused")
            .collect();
        assert!(refused.len() >= 3, "{b}: the refused requests are not all audited: {refused:?}");
        t.assert_audit_chain_intact().await;
    }
}

/// Vital signs and an ACP entry by the attending physician.
async fn write_summary_entries(t: &TestApp, id: &str) {
    let doc = actor(t, "physician").await;
    let vitals = NewEntry {
        kind: "vitals".into(),
        vitals: vec![("temperature".into(), "37.8".into()), ("spo2".into(), "94".into())],
        ..Default::default()
    };
    t.app.write_entry(&doc, id, vitals).await.expect("vitals");
    let acp = NewEntry {
        kind: "acp".into(),
        body: "自宅で最期を迎えたい。心肺蘇生は希望しない（本人・長男同席）。".into(),
        acp: tsunagu_app::sharing::AcpData {
            discussed_on: "2026-01-10".into(),
            present: "本人、長男、主治医".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    t.app.write_entry(&doc, id, acp).await.expect("acp");
}

#[tokio::test]
async fn an_emergency_physician_reads_the_summary_only_after_stating_a_reason_for_24_hours() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "きゅうきゅう はなこ").await;
        let mut doc = t.login("physician").await;
        consent(&mut doc, &id).await;
        write_summary_entries(&t, &id).await;
        let summary = format!("/patients/{id}/emergency");

        // Before a reason: the form, and nothing about the patient.
        let mut er = t.login("er-physician").await;
        let p = er.get(&summary).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#reason-form textarea#reason"), 1, "{b}");
        assert!(
            !p.body.contains("金沢 花子") && !p.body.contains(ALLERGY),
            "{b}: the form shows the patient"
        );
        let er_actor = actor(&t, "er-physician").await;
        assert!(matches!(t.app.emergency_summary(&er_actor, &id).await, Err(AppError::NotFound)), "{b}");
        assert_not_found(&er.get(&format!("/patients/{id}/team")).await);
        // The same form for a patient that does not exist.
        let other = er.get("/patients/0192f1e2-3b4c-7d5e-8f60-718293a4b5c6/emergency").await;
        assert_eq!(other.texts("main h1, main p, main label"), p.texts("main h1, main p, main label"), "{b}");

        // A reason is required, and must say something.
        let p = er.post_form(&summary, &[("reason", "")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#reason-error"), "入力してください。", "{b}");
        let p = er.post_form(&summary, &[("reason", "救急")]).await;
        assert_eq!(p.text("#reason-error"), "理由を具体的に入力してください（4文字以上）。", "{b}");
        assert!(matches!(t.app.emergency_summary(&er_actor, &id).await, Err(AppError::NotFound)), "{b}");

        er.post_form(&summary, &[("reason", "救急搬送（意識障害）のため既往歴と服薬を確認")])
            .await
            .assert_redirect(&summary);
        let p = er.get(&summary).await;
        p.assert_status(StatusCode::OK);
        assert!(p.text("#read-only").contains("閲覧のみ"), "{b}");
        assert_eq!(p.text("#expires"), "2026-11-25 09:30", "{b}");
        assert_eq!(p.text("#allergies p"), ALLERGY, "{b}");
        assert_eq!(p.text("#conditions p"), "心不全、2型糖尿病", "{b}");
        assert_eq!(p.text("#medications p"), "フロセミド 20mg 朝", "{b}");
        assert!(p.text("#acp").contains("心肺蘇生は希望しない"), "{b}");
        assert!(p.text("#contacts").contains("090-0000-0000"), "{b}");
        assert_eq!(p.texts("#vitals .vital-value"), ["37.8 ℃", "94 %"], "{b}");
        assert!(p.text("#team").contains("山田 太郎") && p.text("#team").contains("076-241-3300"), "{b}");
        assert_eq!(p.count("#consent-form, #add-form, #withdraw-form"), 0, "{b}");

        // Read-only: every write and the full record stay a 404.
        let entry = NewEntry { kind: "message".into(), body: "書き込み".into(), ..Default::default() };
        assert!(matches!(t.app.write_entry(&er_actor, &id, entry).await, Err(AppError::NotFound)), "{b}");
        assert_not_found(
            &er.post_form(&format!("/patients/{id}/entries"), &[("kind", "message"), ("body", "x")]).await,
        );
        assert_not_found(
            &er.post_form(
                &format!("/patients/{id}/consent"),
                &[("consenter", "patient"), ("consented_on", "2026-11-20"), ("scope", "x")],
            )
            .await,
        );
        assert_not_found(&er.post_form(&format!("/patients/{id}/team/add"), &[("login", "nurse")]).await);
        assert_not_found(&er.get(&format!("/patients/{id}/team")).await);
        assert_not_found(&er.get(&format!("/patients/{id}/access-log")).await);
        assert_not_found(&er.get(&format!("/patients/{id}")).await);

        // The attending physician sees the notice.
        let p = doc.get(&format!("/patients/{id}/team")).await;
        let notice = p.text("#emergency-notices");
        assert!(notice.contains("高橋 誠") && notice.contains("金沢中央総合病院"), "{b}: {notice}");
        assert!(notice.contains("救急搬送（意識障害）のため既往歴と服薬を確認"), "{b}: {notice}");
        assert!(notice.contains("2026-11-24 09:30"), "{b}: {notice}");
        // ... on the patient page too, where they open the record.
        let p = doc.get(&format!("/patients/{id}")).await;
        let notice = p.text("#emergency-notices");
        assert!(notice.contains("高橋 誠") && notice.contains("救急搬送（意識障害）"), "{b}: {notice}");

        // A second before 24 hours the summary is still there; at 24 h + 1 s it is gone.
        t.advance_minutes(24 * 60);
        t.clock.advance_seconds(-1);
        let mut er = t.login("er-physician").await;
        let p = er.get(&summary).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#allergies p"), ALLERGY, "{b}: the view ended early");
        t.clock.advance_seconds(2);
        let p = er.get(&summary).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#reason-form"), 1, "{b}: the view did not expire");
        assert!(!p.body.contains(ALLERGY), "{b}: the summary is still shown after 24 h");
        assert!(matches!(t.app.emergency_summary(&er_actor, &id).await, Err(AppError::NotFound)), "{b}");
        t.assert_audit_chain_intact().await;
    }
}

#[tokio::test]
async fn no_one_but_an_emergency_hospital_physician_can_open_an_emergency_view() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "ひじょう はなこ").await;
        let summary = format!("/patients/{id}/emergency");
        for login in ["nurse", "physician2", "caremanager", "admin", "city"] {
            let mut c = t.login(login).await;
            assert_not_found(&c.get(&summary).await);
            c.get("/").await;
            assert_not_found(&c.post_form(&summary, &[("reason", "救急搬送のため確認したい")]).await);
        }
        assert!(t.app.store.emergency_accesses(&id).await.unwrap().is_empty(), "{b}: a view was opened");
        let refused = t
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.outcome == "refused" && e.event.detail.as_deref() == Some("emergency view"))
            .count();
        assert!(refused >= 5, "{b}: the refused openings are not audited ({refused})");
        // A member reads the summary (read-only banner, no expiry).
        let mut doc = t.login("physician").await;
        let p = doc.get(&summary).await;
        p.assert_status(StatusCode::OK);
        assert!(p.text("#read-only").contains("閲覧のみ"), "{b}");
        assert_eq!(p.count("#expires"), 0, "{b}");
    }
}

#[tokio::test]
async fn the_emergency_search_needs_the_kana_name_and_the_birth_date_and_serves_emergency_physicians_only() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "さがす はなこ").await;
        let mut er = t.login("er-physician").await;
        let home = er.get("/").await;
        assert_eq!(home.count(r#"#emergency-search-link a[href="/emergency"]"#), 1, "{b}");
        er.get("/emergency").await.assert_status(StatusCode::OK);
        let p = er.post_form("/emergency", &[("name_kana", "サガス ハナコ"), ("birth_date", "")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#birth_date-error"), "入力してください。", "{b}");
        assert_eq!(p.count("#results"), 0, "{b}");
        let p = er.post_form("/emergency", &[("name_kana", ""), ("birth_date", "1938-04-12")]).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#name_kana-error"), "入力してください。", "{b}");
        let p = er.post_form("/emergency", &[("name_kana", "さがす"), ("birth_date", "1938-04-12")]).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#no-results"), 1, "{b}: a part of the name found someone");
        let p =
            er.post_form("/emergency", &[("name_kana", "さがす はなこ"), ("birth_date", "1938-04-13")]).await;
        assert_eq!(p.count("#no-results"), 1, "{b}");
        // Katakana and full-width spaces fold to the stored kana.
        let p = er
            .post_form("/emergency", &[("name_kana", "サガス　ハナコ"), ("birth_date", "1938-04-12")])
            .await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr("#results a", "href"), Some(format!("/patients/{id}/emergency")), "{b}");
        assert!(p.text("#results").contains("金沢 花子"), "{b}");
        let searched = t
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "emergency.searched" && e.event.patient_id.as_deref() == Some(&id))
            .count();
        assert_eq!(searched, 1, "{b}: the finding search is not on the patient's record");

        for login in ["physician", "nurse", "admin"] {
            let mut c = t.login(login).await;
            assert_not_found(&c.get("/emergency").await);
            c.get("/").await;
            let p = c
                .post_form("/emergency", &[("name_kana", "さがす はなこ"), ("birth_date", "1938-04-12")])
                .await;
            assert_not_found(&p);
            assert!(!p.body.contains(&id), "{b}: {login} found the patient");
            assert_eq!(
                t.app.emergency_search(&actor(&t, login).await, "さがす はなこ", "1938-04-12").await.unwrap(),
                vec![],
                "{b}: {login}"
            );
            let refused = t
                .audit()
                .await
                .into_iter()
                .filter(|e| {
                    e.event.actor_login.as_deref() == Some(login)
                        && e.event.detail.as_deref() == Some("emergency search")
                })
                .count();
            assert!(refused >= 2, "{b}: {login}'s searches are not audited");
        }
    }
}

#[tokio::test]
async fn the_attending_physician_prints_the_access_log_with_every_read_and_write() {
    for t in support::all().await {
        let b = t.name();
        let id = register(&t, "かいじ はなこ").await;
        let mut doc = t.login("physician").await;
        consent(&mut doc, &id).await;
        let team = format!("/patients/{id}/team");
        doc.get(&team).await;
        doc.post_form(&format!("{team}/add"), &[("login", "nurse")])
            .await
            .assert_redirect(&format!("{team}?done=member_added"));
        let mut nurse = t.login("nurse").await;
        nurse.get(&team).await.assert_status(StatusCode::OK);
        let mut er = t.login("er-physician").await;
        er.get(&format!("/patients/{id}/emergency")).await;
        er.post_form(&format!("/patients/{id}/emergency"), &[("reason", "救急搬送のため服薬を確認")]).await;
        er.get(&format!("/patients/{id}/emergency")).await.assert_status(StatusCode::OK);
        let mut cm = t.login("caremanager").await;
        assert_not_found(&cm.get(&team).await);
        t.advance_minutes(5);

        let log = format!("/patients/{id}/access-log");
        // Only the attending physician prints it: a member is told it is not theirs to see,
        // anyone else gets the 404 page.
        nurse.get(&log).await.assert_error_page(StatusCode::FORBIDDEN, FORBIDDEN_MESSAGE);
        for login in ["er-physician", "caremanager", "admin", "physician2"] {
            let mut c = t.login(login).await;
            assert_not_found(&c.get(&log).await);
        }
        let p = doc.get(&log).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#log-patient"), "金沢 花子（かいじ はなこ）", "{b}");
        assert_eq!(p.text("#log-birth-date"), "1938-04-12", "{b}");
        assert_eq!(p.text("#log-period"), "2026-11-24 〜 2026-11-24", "{b}");
        assert_eq!(p.count("button[data-print]"), 1, "{b}: the print button");
        let actions = p.texts("tr.log-line .log-action");
        assert_eq!(actions.first().map(String::as_str), Some("患者の登録"), "{b}: oldest first");
        for want in [
            "同意の記録",
            "チームへの招待",
            "患者情報の閲覧",
            "救急時閲覧の開始",
            "救急サマリーの閲覧（救急時閲覧）",
            "アクセスの拒否",
        ] {
            assert!(actions.iter().any(|a| a == want), "{b}: the log lacks {want}: {actions:?}");
        }
        let rows = p.texts("tr.log-line");
        let er_row = rows.iter().find(|r| r.contains("救急時閲覧の開始")).expect("the emergency row");
        assert!(er_row.contains("高橋 誠") && er_row.contains("医師・金沢中央総合病院"), "{b}: {er_row}");
        assert!(er_row.contains("理由：救急搬送のため服薬を確認"), "{b}: {er_row}");
        assert!(er_row.contains("2026-11-24 09:30") && er_row.contains("成功"), "{b}: {er_row}");
        assert!(er_row.contains(&er.address.unwrap().ip().to_string()), "{b}: {er_row}");
        let invited = rows.iter().find(|r| r.contains("チームへの招待")).expect("the invitation row");
        assert!(invited.contains("対象：中村 美穂"), "{b}: {invited}");
        let refused =
            rows.iter().find(|r| r.contains("アクセスの拒否") && r.contains("田中 由美")).expect("a refusal");
        assert!(refused.contains("拒否"), "{b}: {refused}");
        let whens = p.texts("tr.log-line .log-when");
        let mut sorted = whens.clone();
        sorted.sort();
        assert_eq!(whens, sorted, "{b}: not oldest first");
        // The page itself is printable: print CSS, no inline script or style.
        assert_eq!(p.count("script:not([src])") + p.count("style") + p.count("[style]"), 0, "{b}");
        let css = doc.get("/static/style.css").await;
        assert!(css.body.contains("@media print"), "{b}: no print style sheet");

        // A period: later events only; an inverted period is refused next to the field.
        let p = doc.get(&format!("{log}?from=2026-11-25&to=2026-11-30")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("tr.log-line"), 0, "{b}");
        assert_eq!(p.count("#no-lines"), 1, "{b}");
        let p = doc.get(&format!("{log}?from=2026-11-25&to=2026-11-01")).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#to-error"), "終了日は開始日以降の日付にしてください。", "{b}");
        let p = doc.get(&format!("{log}?from=2026-13-01")).await;
        assert_eq!(p.text("#from-error"), "正しい日付（例：2026-11-24）を入力してください。", "{b}");
        // Reading the log is itself on the log.
        let p = doc.get(&log).await;
        assert!(p.texts("tr.log-line .log-action").iter().any(|a| a == "アクセス記録の閲覧"), "{b}");
        t.assert_audit_chain_intact().await;
    }
}
