//! Router tests of the time-series views and live updates (issue 3 §5–§6): the vital-sign
//! charts, the visit list by profession, and the server-sent event stream of a patient's
//! timeline (delivery to members within a second, the end of the stream when access ends, and
//! on PostgreSQL delivery across two server processes). Each runs on every backend the store
//! harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;
use support::{Client, Page, TestApp};
use tower::ServiceExt;
use tsunagu_app::sharing::{NewConsent, NewEntry, NewPatient, Registered, VisitData};
use tsunagu_app::{Actor, App, AppConfig, AuthVia};

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";

async fn actor(t: &TestApp, login: &str) -> Actor {
    let id = t.user_id(login).await;
    t.app.actor(&id, AuthVia::Cli, None).await.expect("actor")
}

/// A patient of `physician` with consent, and `members` admitted to the team.
async fn patient_with_team(t: &TestApp, name: &str, kana: &str, members: &[&str]) -> String {
    let doctor = actor(t, "physician").await;
    let input = NewPatient {
        name: name.into(),
        name_kana: kana.into(),
        birth_date: "1936-02-11".into(),
        sex: "male".into(),
        district: "松ヶ枝".into(),
        ..Default::default()
    };
    let id = match t.app.register_patient(&doctor, input).await.expect("register") {
        Registered::Created(p) => p.id,
        Registered::LikelyDuplicates(d) => panic!("{}: unexpected duplicates {d:?}", t.name()),
    };
    let consent = NewConsent {
        consenter: "patient".into(),
        consented_on: "2026-11-20".into(),
        scope: "在宅医療・介護の関係者間での情報共有".into(),
        ..Default::default()
    };
    t.app.record_consent(&doctor, &id, consent).await.expect("consent");
    for m in members {
        t.app.add_member(&doctor, &id, m, "").await.expect("add member");
        let uid = t.user_id(m).await;
        if t.app.store.membership(&id, &uid).await.unwrap().expect("membership").status == "pending" {
            t.app.decide_member(&doctor, &id, &uid, true).await.expect("approve");
        }
    }
    id
}

/// Records vital signs measured at `at` (Japan time, `YYYY-MM-DDTHH:MM`).
async fn vitals(t: &TestApp, who: &Actor, patient: &str, at: &str, values: &[(&str, &str)]) {
    let input = NewEntry {
        kind: "vitals".into(),
        occurred_at: at.into(),
        vitals: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    t.app
        .write_entry(who, patient, input)
        .await
        .unwrap_or_else(|e| panic!("{}: vitals at {at}: {e}", t.name()));
}

fn assert_no_inline_style_or_script(p: &Page) {
    let b = &p.backend;
    assert_eq!(p.count("script:not([src])"), 0, "{b}: {}: an inline script", p.what);
    assert_eq!(p.count("style"), 0, "{b}: {}: an inline style sheet", p.what);
    assert_eq!(p.count("[style]"), 0, "{b}: {}: an inline style attribute", p.what);
}

#[tokio::test]
async fn members_see_a_chart_per_vital_sign_over_the_chosen_weeks() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_with_team(&t, "浅野 勝", "あさの まさる", &["nurse"]).await;
        let nurse = actor(&t, "nurse").await;
        // The clock reads 2026-11-24 09:30 in Japan. Three measurements in the last four weeks,
        // one six weeks ago.
        vitals(&t, &nurse, &id, "2026-10-13T10:00", &[("temperature", "36.4"), ("pulse", "70")]).await;
        vitals(
            &t,
            &nurse,
            &id,
            "2026-11-10T10:00",
            &[("systolic_bp", "128"), ("diastolic_bp", "76"), ("temperature", "36.6"), ("spo2", "97")],
        )
        .await;
        vitals(
            &t,
            &nurse,
            &id,
            "2026-11-17T10:00",
            &[("systolic_bp", "152"), ("diastolic_bp", "88"), ("temperature", "38.2"), ("spo2", "93")],
        )
        .await;
        vitals(
            &t,
            &nurse,
            &id,
            "2026-11-24T09:00",
            &[("systolic_bp", "134"), ("diastolic_bp", "80"), ("temperature", "36.9")],
        )
        .await;

        for login in ["physician", "nurse"] {
            let mut c = t.login(login).await;
            let p = c.get(&format!("/patients/{id}/vitals")).await;
            p.assert_status(StatusCode::OK);
            assert_no_inline_style_or_script(&p);
            assert_eq!(p.text("#patient-name"), "浅野 勝", "{b}");
            assert_eq!(p.attr("#weeks option[selected]", "value").as_deref(), Some("4"), "{b}");
            // Every sign has its chart, blood pressure both pressures on one.
            for chart in
                ["systolic_bp", "pulse", "temperature", "spo2", "respiratory_rate", "weight", "glucose"]
            {
                let svg = format!("svg#chart-{chart}");
                assert_eq!(p.count(&svg), 1, "{b}: no chart {chart}");
                assert_eq!(p.attr(&svg, "role").as_deref(), Some("img"), "{b}");
                assert_eq!(p.attr(&svg, "width").as_deref(), Some("100%"), "{b}");
                assert!(p.attr(&svg, "viewBox").is_some(), "{b}");
                assert_eq!(p.count(&format!("{svg} > title")), 1, "{b}");
            }
            assert_eq!(p.count("svg#chart-temperature circle.pt"), 3, "{b}: the six-week-old one is outside");
            assert_eq!(p.count("svg#chart-systolic_bp circle.pt.s0"), 3, "{b}");
            assert_eq!(p.count("svg#chart-systolic_bp circle.pt.s1"), 3, "{b}");
            assert_eq!(p.count("svg#chart-spo2 circle.pt"), 2, "{b}");
            assert_eq!(p.count("svg#chart-temperature polyline"), 1, "{b}");
            // Out of the normal band: 38.2 ℃, 152 mmHg, SpO2 93 %.
            assert_eq!(p.count("svg#chart-temperature circle.pt.out"), 1, "{b}");
            assert_eq!(p.count("svg#chart-systolic_bp circle.pt.out"), 1, "{b}");
            assert_eq!(p.count("svg#chart-spo2 circle.pt.out"), 1, "{b}");
            assert_eq!(p.count("svg#chart-temperature rect.band"), 1, "{b}");
            assert_eq!(p.count("svg#chart-weight rect.band"), 0, "{b}: weight has no population norm");
            // Nothing measured: said in the chart and its label.
            assert_eq!(p.count("svg#chart-pulse circle"), 0, "{b}");
            assert_eq!(p.text("svg#chart-pulse text.empty"), "この期間の記録はありません", "{b}");
            assert_eq!(
                p.attr("svg#chart-pulse", "aria-label").as_deref(),
                Some("脈拍：この期間の記録はありません")
            );
            // The label reads the latest value and the range.
            let label = p.attr("svg#chart-temperature", "aria-label").unwrap();
            assert_eq!(
                label, "体温：最新 36.9℃（2026-11-24 09:00）、この期間の最低 36.6℃・最高 38.2℃、3件",
                "{b}"
            );
            let bp = p.attr("svg#chart-systolic_bp", "aria-label").unwrap();
            assert!(bp.starts_with("血圧：最新 134/80mmHg"), "{b}: {bp}");
            // Dates in Japan time under the axis, ending with today.
            let dates = p.texts("svg#chart-temperature text.date");
            assert_eq!(dates.last().map(String::as_str), Some("11/24"), "{b}: {dates:?}");
            // The plain table, newest first, with the out-of-band value marked.
            let cells = p.texts("#chart-temperature-card table.vital-values tbody td");
            assert_eq!(
                cells,
                ["2026-11-24 09:00", "36.9", "2026-11-17 10:00", "38.2 目安外", "2026-11-10 10:00", "36.6"],
                "{b}"
            );
            assert_eq!(p.count("#chart-temperature-card tbody tr.out"), 1, "{b}");
            let bp = p.texts("#chart-systolic_bp-card table.vital-values tbody td");
            assert_eq!(bp[3], "152/88 目安外", "{b}: {bp:?}");
            assert_eq!(p.count("#chart-temperature-card details > summary"), 1, "{b}");
            assert_eq!(p.text("#chart-temperature-card p.band"), "目安：36.0〜37.5 ℃", "{b}");
            assert_eq!(
                p.text("#chart-systolic_bp-card p.band"),
                "目安：収縮期（上） 90〜140、拡張期（下） 60〜90 mmHg",
                "{b}"
            );
            assert_eq!(p.count("#chart-weight-card p.band"), 0, "{b}");
        }

        // Twelve weeks reach the older measurement.
        let mut c = t.login("physician").await;
        let p = c.get(&format!("/patients/{id}/vitals?weeks=12")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("svg#chart-temperature circle.pt"), 4, "{b}");
        assert_eq!(p.count("svg#chart-pulse circle.pt"), 1, "{b}");
        assert_eq!(p.attr("#weeks option[selected]", "value").as_deref(), Some("12"), "{b}");
        // One week: only this week's.
        let p = c.get(&format!("/patients/{id}/vitals?weeks=1")).await;
        assert_eq!(p.count("svg#chart-temperature circle.pt"), 2, "{b}");
        // A period that is not offered: said next to the choice; the default period is shown.
        let p = c.get(&format!("/patients/{id}/vitals?weeks=3")).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#weeks-error"), "選択肢にない値です。", "{b}");
        assert_eq!(p.attr("#weeks option[selected]", "value").as_deref(), Some("4"), "{b}");
        assert_eq!(p.count("svg#chart-temperature circle.pt"), 3, "{b}");

        // The read is audited.
        let reads = t
            .app
            .store
            .audit_events_for_patient(&id, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event.action == "vitals.read")
            .count();
        assert!(reads >= 5, "{b}: chart reads are not audited ({reads})");
    }
}

#[tokio::test]
async fn non_members_get_the_not_found_page_for_charts_visits_and_live_updates() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_with_team(&t, "浅田 ミツ", "あさだ みつ", &["nurse"]).await;
        let pending = actor(&t, "pharmacist").await;
        t.app.request_to_join(&pending, &id).await.unwrap();
        let random = uuid::Uuid::now_v7().to_string();
        for login in ["caremanager", "pharmacist", "admin", "city", "er-physician", "physician2"] {
            let mut c = t.login(login).await;
            for target in [id.as_str(), random.as_str(), "not-a-patient"] {
                for view in ["vitals", "vitals?weeks=52", "visits", "visits?profession=nurse", "live"] {
                    let p = c.get(&format!("/patients/{target}/{view}")).await;
                    p.assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
                    assert!(!p.body.contains("浅田"), "{b}: {login} sees the name on {view}");
                }
            }
        }
        for view in ["vitals", "visits", "live"] {
            t.client().get(&format!("/patients/{id}/{view}")).await.assert_redirect("/login");
        }
    }
}

#[tokio::test]
async fn past_visits_are_listed_by_profession_with_the_fee_rule_fields() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_with_team(&t, "秋山 ハル", "あきやま はる", &["nurse"]).await;
        let doctor = actor(&t, "physician").await;
        let nurse = actor(&t, "nurse").await;
        let visit = |at: &str, body: &str, visit: VisitData| NewEntry {
            kind: "visit".into(),
            occurred_at: at.into(),
            body: body.into(),
            visit,
            ..Default::default()
        };
        t.app
            .write_entry(
                &doctor,
                &id,
                visit(
                    "2026-11-12T14:00",
                    "定期訪問。",
                    VisitData {
                        next_visit: Some("2026-11-26".into()),
                        policy_changed: true,
                        cautions: "降圧薬を減量。ふらつきに注意。".into(),
                        plan: "2週間後に再評価".into(),
                        ..Default::default()
                    },
                ),
            )
            .await
            .unwrap();
        t.app
            .write_entry(&nurse, &id, visit("2026-11-18T10:00", "入浴介助。", VisitData::default()))
            .await
            .unwrap();
        t.app
            .write_entry(
                &nurse,
                &id,
                visit(
                    "2026-11-21T10:00",
                    "褥瘡の処置。",
                    VisitData { next_visit: Some("2026-11-25".into()), ..Default::default() },
                ),
            )
            .await
            .unwrap();
        // Not a visit: not listed.
        vitals(&t, &nurse, &id, "2026-11-21T10:05", &[("temperature", "36.5")]).await;
        t.app
            .write_entry(
                &nurse,
                &id,
                NewEntry { kind: "message".into(), body: "連絡".into(), ..Default::default() },
            )
            .await
            .unwrap();

        let mut c = t.login("nurse").await;
        let p = c.get(&format!("/patients/{id}/visits")).await;
        p.assert_status(StatusCode::OK);
        assert_no_inline_style_or_script(&p);
        assert_eq!(p.count("li.visit"), 3, "{b}");
        assert_eq!(p.count("#group-physician li.visit"), 1, "{b}");
        assert_eq!(p.count("#group-nurse li.visit"), 2, "{b}");
        // Physicians first (the order professions are listed in), each group newest first.
        let headings = p.own_texts("section.visit-group h2");
        assert_eq!(headings, ["医師", "看護師"], "{b}");
        let when = p.texts("#group-nurse li.visit time.when");
        assert_eq!(when, ["2026-11-21 10:00", "2026-11-18 10:00"], "{b}");
        let doc = p.texts("#group-physician li.visit");
        let d = &doc[0];
        assert!(d.contains("2026-11-12 14:00") && d.contains("山田 太郎"), "{b}: {d}");
        assert_eq!(p.text("#group-physician .next-visit"), "2026-11-26", "{b}");
        assert_eq!(p.text("#group-physician .policy-changed"), "あり", "{b}");
        assert_eq!(p.text("#group-physician .cautions"), "降圧薬を減量。ふらつきに注意。", "{b}");
        assert_eq!(p.texts("#group-nurse .policy-changed"), ["なし", "なし"], "{b}");
        assert_eq!(p.texts("#group-nurse .next-visit"), ["2026-11-25", "—"], "{b}");

        // One profession only.
        let p = c.get(&format!("/patients/{id}/visits?profession=nurse")).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("section.visit-group"), 1, "{b}");
        assert_eq!(p.count("#group-nurse li.visit"), 2, "{b}");
        assert_eq!(p.attr("#profession option[selected]", "value").as_deref(), Some("nurse"), "{b}");
        let p = c.get(&format!("/patients/{id}/visits?profession=dietitian")).await;
        assert_eq!(p.text("#no-visits"), "訪問記録はまだありません。", "{b}");
        // An unknown profession is refused next to the choice; all visits are shown.
        let p = c.get(&format!("/patients/{id}/visits?profession=wizard")).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.text("#profession-error"), "選択肢にない値です。", "{b}");
        assert_eq!(p.count("li.visit"), 3, "{b}");
    }
}

// ---------------------------------------------------------------------------------------------
// Live updates

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: String,
    data: String,
}

#[derive(Debug)]
enum Next {
    Event(Sse),
    Ended,
    TimedOut,
}

/// An open event stream, read as a browser's EventSource would.
struct EventStream {
    body: axum::body::BodyDataStream,
    buf: String,
    backend: String,
}

impl EventStream {
    /// The next event (keep-alive comments skipped), the end of the stream, or nothing in time.
    async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse { event: "message".into(), id: String::new(), data: String::new() };
                let mut any = false;
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    any = true;
                    match k {
                        "event" => ev.event = v.to_string(),
                        "id" => ev.id = v.to_string(),
                        "data" => {
                            if !ev.data.is_empty() {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(v);
                        }
                        _ => {}
                    }
                }
                if any {
                    return Next::Event(ev);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Next::TimedOut,
                Ok(None) => return Next::Ended,
                Ok(Some(Err(e))) => panic!("{}: reading the event stream: {e}", self.backend),
                Ok(Some(Ok(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
            }
        }
    }

    /// The next event, which must come within `wait`.
    async fn expect_event(&mut self, wait: Duration, what: &str) -> Sse {
        match self.next(wait).await {
            Next::Event(e) => e,
            other => panic!("{}: {what}: expected an event, got {other:?}", self.backend),
        }
    }
}

/// Opens `path` as an event stream on `router` with the client's cookies (its session, its CSRF
/// token). `Err` carries the page answered instead.
async fn open_stream(router: &Router, c: &Client, path: &str) -> Result<EventStream, (StatusCode, String)> {
    let cookies: Vec<String> = ["tsunagu_session", tsunagu_web::csrf::COOKIE]
        .iter()
        .filter_map(|n| c.cookie(n).map(|v| format!("{n}={v}")))
        .collect();
    let req = Request::builder()
        .uri(path)
        .header(header::ACCEPT, "text/event-stream")
        .header(header::COOKIE, cookies.join("; "))
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    if res.status() != StatusCode::OK {
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        return Err((status, String::from_utf8_lossy(&body).into_owned()));
    }
    let ct = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("text/event-stream"), "{}: {path} is not an event stream: {ct}", c.backend);
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store", "{}", c.backend);
    Ok(EventStream {
        body: res.into_body().into_data_stream(),
        buf: String::new(),
        backend: c.backend.clone(),
    })
}

fn note(body: &str) -> NewEntry {
    NewEntry { kind: "message".into(), body: body.into(), ..Default::default() }
}

#[tokio::test]
async fn a_new_entry_reaches_members_watching_within_a_second_and_access_loss_ends_the_stream() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_with_team(&t, "浅井 トメ", "あさい とめ", &["nurse"]).await;
        let physician = t.login("physician").await;
        let nurse = t.login("nurse").await;
        let live = format!("/patients/{id}/live");
        let mut watching =
            open_stream(&t.router, &physician, &live).await.unwrap_or_else(|e| panic!("{b}: {e:?}"));
        let mut nurse_watching =
            open_stream(&t.router, &nurse, &live).await.unwrap_or_else(|e| panic!("{b}: {e:?}"));

        // The nurse writes; the physician's page hears of it at once.
        let start = Instant::now();
        let written =
            t.app.write_entry(&actor(&t, "nurse").await, &id, note("夜間に咳込みあり。")).await.unwrap();
        let ev = watching.expect_event(Duration::from_secs(5), "the nurse's entry").await;
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{b}: the entry took {took:?} to arrive");
        assert_eq!(ev.event, "entry", "{b}");
        assert_eq!(ev.id, written.id, "{b}");
        // The entry as the timeline renders it.
        let html = scraper::Html::parse_fragment(&ev.data);
        let article = scraper::Selector::parse(&format!("article#entry-{}", written.id)).unwrap();
        let el = html.select(&article).next().unwrap_or_else(|| panic!("{b}: not an entry: {}", ev.data));
        let text: String = el.text().collect();
        assert!(text.contains("夜間に咳込みあり。") && text.contains("中村 美穂"), "{b}: {text}");
        // The nurse's own stream carries it too (her other tabs).
        assert_eq!(nurse_watching.expect_event(Duration::from_secs(5), "own entry").await.id, written.id);
        // Delivered means shown: it is read, and the read audited.
        let reads = t.app.store.reads_of_entries(std::slice::from_ref(&written.id)).await.unwrap();
        assert!(reads.iter().any(|r| r.2 == "山田 太郎"), "{b}: {reads:?}");

        // An acknowledgement changes an entry: it comes again, to be replaced in place.
        let urgent = NewEntry {
            kind: "message".into(),
            body: "至急ご連絡ください".into(),
            urgent: true,
            needs_reply: true,
            addressee_login: "physician".into(),
            ..Default::default()
        };
        let m = t.app.write_entry(&actor(&t, "nurse").await, &id, urgent).await.unwrap();
        assert_eq!(watching.expect_event(Duration::from_secs(5), "urgent").await.id, m.id);
        assert_eq!(nurse_watching.expect_event(Duration::from_secs(5), "urgent").await.id, m.id);
        t.app.acknowledge(&actor(&t, "physician").await, &id, &m.id).await.unwrap();
        let again = watching.expect_event(Duration::from_secs(5), "acknowledged").await;
        assert_eq!(again.id, m.id, "{b}");
        assert!(again.data.contains("確認済み"), "{b}: {}", again.data);
        nurse_watching.expect_event(Duration::from_secs(5), "acknowledged").await;

        // Consent withdrawn: the nurse's stream ends on the next event without carrying it;
        // the attending physician's goes on.
        t.app.withdraw_consent(&actor(&t, "physician").await, &id, "本人の申し出").await.unwrap();
        let after =
            t.app.write_entry(&actor(&t, "physician").await, &id, note("同意撤回後の記録")).await.unwrap();
        assert_eq!(watching.expect_event(Duration::from_secs(5), "after withdrawal").await.id, after.id);
        match nurse_watching.next(Duration::from_secs(5)).await {
            Next::Ended => {}
            other => panic!("{b}: the nurse's stream goes on after the consent was withdrawn: {other:?}"),
        }
        // And she cannot start another.
        let again = open_stream(&t.router, &nurse, &live).await.err().expect("refused");
        assert_eq!(again.0, StatusCode::NOT_FOUND, "{b}");
        let audit = t.app.store.audit_events_for_patient(&id, 10_000).await.unwrap();
        let nurse_id = t.user_id("nurse").await;
        assert!(
            audit
                .iter()
                .any(|e| e.event.action == "timeline.read" && e.event.detail.as_deref() == Some("live")),
            "{b}: subscribing is not audited"
        );
        assert!(
            audit.iter().any(|e| e.event.action == "access.refused"
                && e.event.actor_id.as_deref() == Some(nurse_id.as_str())),
            "{b}: the refused delivery is not audited"
        );

        // Stopping the server ends every stream.
        t.app.live.close();
        match watching.next(Duration::from_secs(5)).await {
            Next::Ended => {}
            other => panic!("{b}: the stream outlives the server: {other:?}"),
        }
    }
}

#[tokio::test]
async fn removal_from_the_team_ends_the_stream_and_other_patients_events_are_not_sent() {
    for t in support::all().await {
        let b = t.name();
        let id = patient_with_team(&t, "朝倉 キヨ", "あさくら きよ", &["nurse"]).await;
        let other = patient_with_team(&t, "朝日 ヨシ", "あさひ よし", &[]).await;
        let nurse = t.login("nurse").await;
        let mut s = open_stream(&t.router, &nurse, &format!("/patients/{id}/live")).await.unwrap();
        // Another patient's entry is not this stream's business.
        t.app.write_entry(&actor(&t, "physician").await, &other, note("別の患者")).await.unwrap();
        assert!(matches!(s.next(Duration::from_millis(300)).await, Next::TimedOut), "{b}");
        // Removed: the next event ends the stream.
        let uid = t.user_id("nurse").await;
        t.app.end_membership(&actor(&t, "physician").await, &id, &uid, None).await.unwrap();
        t.app.write_entry(&actor(&t, "physician").await, &id, note("外した後の記録")).await.unwrap();
        assert!(matches!(s.next(Duration::from_secs(5)).await, Next::Ended), "{b}");
    }
}

#[tokio::test]
async fn on_postgresql_an_entry_written_through_one_process_reaches_a_subscriber_of_another() {
    let Some(db) = tsunagu_store::testing::postgres().await else { return };
    let url = db.url.clone();
    let t = TestApp::new(db).await;
    // A second server process: its own store (connections), app (hub) and router.
    let store = tsunagu_store::Store::open(&url, &tsunagu_store::OpenOptions::default()).await.unwrap();
    let config = AppConfig { argon2_memory_kib: 8, argon2_iterations: 1, ..Default::default() };
    let other = App::new(store, Arc::new(t.clock.clone()), config);
    let other_router = tsunagu_web::router(other.clone(), tsunagu_web::WebConfig::default());

    let id = patient_with_team(&t, "麻生 ツル", "あそう つる", &["nurse"]).await;
    let physician = t.login("physician").await;
    let live = format!("/patients/{id}/live");
    // The physician's page is served by the other process; another tab by this one.
    let mut there = open_stream(&other_router, &physician, &live).await.unwrap();
    let mut here = open_stream(&t.router, &physician, &live).await.unwrap();

    let start = Instant::now();
    let e = t.app.write_entry(&actor(&t, "nurse").await, &id, note("別プロセスへ")).await.unwrap();
    let ev = there.expect_event(Duration::from_secs(5), "across processes").await;
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    assert_eq!(ev.id, e.id);
    assert!(ev.data.contains("別プロセスへ"));
    // The writing process delivers it once (through its own listener), not twice.
    assert_eq!(here.expect_event(Duration::from_secs(5), "here").await.id, e.id);
    assert!(matches!(here.next(Duration::from_millis(500)).await, Next::TimedOut), "delivered twice");
    assert!(matches!(there.next(Duration::from_millis(100)).await, Next::TimedOut), "delivered twice");

    // And the other way round.
    let e2 = other.write_entry(&actor(&t, "nurse").await, &id, note("こちらから")).await.unwrap();
    assert_eq!(here.expect_event(Duration::from_secs(5), "back").await.id, e2.id);
    assert_eq!(there.expect_event(Duration::from_secs(5), "back there").await.id, e2.id);
    other.store.close().await;
}
