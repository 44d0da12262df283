//! Router tests of the directory pages residents and professionals use (issue 4, points 3–5):
//! the search with its filters, paging and map, a provider's page in its public and
//! professional views, "which center serves my district?", and the patient's home location the
//! "near my patient" search starts from. Each runs on every backend the store harness finds.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use support::{Page, TestApp};
use tsunagu_app::AuthVia;
use tsunagu_store::directory::{ProviderQuery, ProviderRow};

const NOT_FOUND_MESSAGE: &str = "ページが見つかりません。";
const RANDOM_ID: &str = "0190d1c4-7b5e-7c3a-9f10-2b4c6d8e0a12";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A demo provider with a contact route none of whose values shows anywhere in its public
/// fields (so a public page that contains one of them has leaked it).
async fn provider_with_contact_route(t: &TestApp) -> ProviderRow {
    let all = t.app.store.search_providers(&ProviderQuery::default()).await.unwrap();
    all.into_iter()
        .find(|p| {
            let public =
                [&p.name, &p.address, &p.address_extra, &p.phone, &p.fax, &p.description, &p.website];
            !p.contact_person.is_empty()
                && !p.contact_line.is_empty()
                && !p.contact_hours.is_empty()
                && [&p.contact_person, &p.contact_line, &p.contact_hours]
                    .iter()
                    .all(|secret| public.iter().all(|f| !f.contains(secret.as_str())))
        })
        .unwrap_or_else(|| panic!("{}: no demo provider has a contact route", t.name()))
}

/// The names of the providers listed.
fn listed(p: &Page) -> Vec<String> {
    p.texts("#results li.provider a.provider-name")
}

#[tokio::test]
async fn anyone_searches_the_directory_without_logging_in() {
    for t in support::all().await {
        let b = t.name();
        let mut anon = t.client();
        // The form alone, nothing listed until something is asked; the map helper is set up
        // to show the results and to pick the point.
        let p = anon.get("/directory").await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#search"), 1, "{b}");
        assert_eq!(p.count("#results"), 0, "{b}");
        assert_eq!(p.attr("#map", "data-markers").as_deref(), Some("#results"), "{b}");
        assert_eq!(p.attr("#map", "data-pick").as_deref(), Some("near"), "{b}");
        assert_eq!(
            p.count("input[name=capability]"),
            tsunagu_domain::directory::Capability::ALL.len(),
            "{b}"
        );
        // Residents are not offered what only professionals may filter by.
        assert_eq!(p.count("#consult_now"), 0, "{b}");
        assert_eq!(p.count("#near_patient"), 0, "{b}");

        // きしかわ in any script and width: the same one center.
        for q in ["きしかわ", "キシカワ", "ｷｼｶﾜ"] {
            let p = anon.get(&format!("/directory?q={}", enc(q))).await;
            p.assert_status(StatusCode::OK);
            assert_eq!(listed(&p), vec!["地域包括支援センターきしかわ"], "{b}: {q}");
            let href = p.attr("#results li.provider a.provider-name", "href").unwrap();
            assert_eq!(p.attr("#results li.provider", "data-href"), Some(href.clone()), "{b}");
            anon.get(&href).await.assert_status(StatusCode::OK);
        }
        // Every name listed for 病院 contains it (the demo has several hospitals).
        let p = anon.get(&format!("/directory?q={}", enc("病院"))).await;
        let names = listed(&p);
        assert!(names.len() >= 2 && names.iter().all(|n| n.contains("病院")), "{b}: {names:?}");
        // Each result carries what the map needs.
        for css in ["data-lat", "data-lon", "data-name", "data-href"] {
            assert!(p.attr("#results li.provider", css).is_some(), "{b}: no {css}");
        }

        // A filter by kind: only that kind.
        let p = anon.get("/directory?kind=pharmacy").await;
        let kinds = p.texts("#results li.provider .tag.kind");
        assert!(!kinds.is_empty() && kinds.iter().all(|k| k == "薬局"), "{b}: {kinds:?}");
        assert_eq!(p.attr("#kind option[selected]", "value").as_deref(), Some("pharmacy"), "{b}");
    }
}

#[tokio::test]
async fn a_radius_search_lists_the_nearest_first_with_distances_and_pages_keep_the_query() {
    for t in support::all().await {
        let b = t.name();
        let mut anon = t.client();
        let p = anon.get("/directory?near=36.5613%2C136.6562&radius=3").await;
        p.assert_status(StatusCode::OK);
        let d: Vec<f64> = p
            .texts("#results li.provider .distance")
            .iter()
            .map(|s| s.trim_end_matches(" km").parse::<f64>().unwrap())
            .collect();
        assert!(!d.is_empty(), "{b}: nothing within 3 km of the city center");
        assert!(d.windows(2).all(|w| w[0] <= w[1]) && d.iter().all(|x| *x <= 3.0), "{b}: {d:?}");
        assert_eq!(p.attr("#map", "data-circle").as_deref(), Some("36.5613,136.6562,3"), "{b}");
        assert!(p.text("#results-summary").contains("3 km"), "{b}");

        // More than a page: the links keep every filter.
        let q = "/directory?q=%E9%87%91%E6%B2%A2&capability=&accepting=";
        let first = anon.get(q).await;
        assert_eq!(first.count("#results li.provider"), 20, "{b}");
        assert_eq!(first.count("#prev-page"), 0, "{b}");
        let next = first.attr("#next-page", "href").expect("a next page");
        assert!(
            next.starts_with("/directory?q=%E9%87%91%E6%B2%A2&") && next.contains("page=2"),
            "{b}: {next}"
        );
        let second = anon.get(&next).await;
        second.assert_status(StatusCode::OK);
        assert!(second.count("#results li.provider") >= 1, "{b}");
        assert!(listed(&second).iter().all(|n| !listed(&first).contains(n)), "{b}: page 2 repeats page 1");
        assert_eq!(second.attr("#q", "value").as_deref(), Some("金沢"), "{b}");
        assert!(second.attr("#prev-page", "href").is_some_and(|h| !h.contains("page=")), "{b}");
    }
}

#[tokio::test]
async fn bad_search_input_is_shown_next_to_its_field() {
    for t in support::all().await {
        let b = t.name();
        let mut anon = t.client();
        let p = anon.get("/directory?near=36.56&radius=0&vacancy_on=2026-13-40&kind=spaceship").await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.count("#fix-errors"), 1, "{b}");
        for field in ["near", "radius", "vacancy_on", "kind"] {
            assert_eq!(p.attr(&format!("#{field}"), "aria-invalid").as_deref(), Some("true"), "{b}: {field}");
        }
        assert_eq!(p.count(".field-error"), 4, "{b}");
        assert_eq!(p.count("#results"), 0, "{b}");
        // What was typed stays.
        assert_eq!(p.attr("#near", "value").as_deref(), Some("36.56"), "{b}");
        // The "more filters" part opens to show its error.
        assert!(p.attr("#more-filters", "open").is_some(), "{b}");
    }
}

#[tokio::test]
async fn residents_never_see_the_contact_route_and_professionals_do() {
    for t in support::all().await {
        let b = t.name();
        let pr = provider_with_contact_route(&t).await;
        let page = format!("/directory/{}", pr.id);
        let secrets = [&pr.contact_person, &pr.contact_line, &pr.contact_hours];

        let mut anon = t.client();
        let p = anon.get(&page).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#provider-name"), pr.name, "{b}");
        assert_eq!(p.text("#provider-phone"), pr.phone, "{b}");
        for s in secrets {
            assert!(!p.body.contains(s.as_str()), "{b}: a resident sees {s}");
        }
        // Not even the heading of what they may not see: neither the contact route nor the
        // physicians' consultation hours.
        assert_eq!(p.count("#contact-route"), 0, "{b}");
        assert_eq!(p.count("#consultation-hours"), 0, "{b}");
        assert!(!p.body.contains("専門職向けの連絡窓口"), "{b}");
        assert_eq!(p.count("#edit-provider"), 0, "{b}");
        // The result list is public too.
        let list = anon.get(&format!("/directory?q={}", enc(&pr.name))).await;
        assert_eq!(listed(&list).first(), Some(&pr.name), "{b}");
        for s in secrets {
            assert!(!list.body.contains(s.as_str()), "{b}: the result list shows {s}");
        }

        let mut nurse = t.login("nurse").await;
        let p = nurse.get(&page).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.text("#contact-person"), pr.contact_person, "{b}");
        assert_eq!(p.text("#contact-line"), pr.contact_line, "{b}");
        assert_eq!(p.count("#contact-hours"), 1, "{b}");
        assert_eq!(p.count("#consultation-hours"), 1, "{b}");
        assert_eq!(p.count("#edit-provider"), 0, "{b}: the nurse does not keep this entry");
        // The coordinator keeps every entry.
        let p = t.login("coordinator").await.get(&page).await;
        assert_eq!(p.attr("#edit-provider", "href"), Some(format!("{page}/edit")), "{b}");
    }
}

#[tokio::test]
async fn a_provider_page_shows_its_public_fields_its_center_and_its_map() {
    for t in support::all().await {
        let b = t.name();
        let all = t.app.store.search_providers(&ProviderQuery::default()).await.unwrap();
        let pr = all
            .iter()
            .find(|p| p.district.is_some() && p.latitude.is_some() && p.kind == "home_care_support_clinic")
            .unwrap_or_else(|| panic!("{b}: no demo provider with a district and a place"))
            .clone();
        let center = t.app.store.center_for_district(pr.district.as_deref().unwrap()).await.unwrap().unwrap();
        let p = t.client().get(&format!("/directory/{}", pr.id)).await;
        p.assert_status(StatusCode::OK);
        assert!(p.text("#provider-address").contains(&pr.address), "{b}");
        assert_eq!(p.text("#provider-center"), center.name, "{b}");
        let href = p.attr("#provider-center", "href").unwrap();
        assert_eq!(
            href,
            format!("/directory/centers?district={}", enc(pr.district.as_deref().unwrap())),
            "{b}"
        );
        assert_eq!(p.attr("#provider-location", "data-lat"), pr.latitude.map(|x| x.to_string()), "{b}");
        assert_eq!(p.attr("#map", "data-markers").as_deref(), Some("#provider-location"), "{b}");
        assert!(p.attr("#map", "data-pick").is_none(), "{b}");
        assert_eq!(p.count("#vacancies"), 0, "{b}: {} takes no short-stay guests", pr.name);

        // A short-stay facility's page shows its vacancy board to anyone.
        let ss = all.iter().find(|p| p.kind == "short_stay_facility").expect("a short-stay facility");
        let p = t.client().get(&format!("/directory/{}", ss.id)).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.attr("#vacancies", "data-facility").as_deref(), Some(ss.id.as_str()), "{b}");
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_provider_is_the_same_not_found_page() {
    for t in support::all().await {
        let mut anon = t.client();
        let mut nurse = t.login("nurse").await;
        for id in [RANDOM_ID, "not-an-id", "0190d1c4", "%27%20or%201%3D1"] {
            anon.get(&format!("/directory/{id}"))
                .await
                .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
            nurse
                .get(&format!("/directory/{id}"))
                .await
                .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        }
    }
}

#[tokio::test]
async fn which_center_serves_my_district() {
    for t in support::all().await {
        let b = t.name();
        let mut anon = t.client();
        let p = anon.get("/directory/centers").await;
        p.assert_status(StatusCode::OK);
        // The city's 19 centers and 2 branches, each with its districts.
        assert_eq!(p.count("#all-centers li.center"), 21, "{b}");
        assert_eq!(p.count("#all-centers li.center.branch"), 2, "{b}");
        assert_eq!(p.count("#answer"), 0, "{b}");
        // The district select is grouped by center.
        assert_eq!(p.count("#district optgroup"), 19, "{b}");

        for path in [
            format!("/directory/centers?district={}", enc("犀川")),
            format!("/directory/centers?q={}", enc("犀川")),
            format!("/directory/centers?q={}", enc("犀川校下")),
        ] {
            let p = anon.get(&path).await;
            p.assert_status(StatusCode::OK);
            assert_eq!(p.text("#answer-name"), "地域包括支援センターたがみ", "{b}: {path}");
            assert_eq!(p.text("#answer-phone"), "076-231-8025", "{b}");
            assert!(p.text("#answer-address").contains("田上本町"), "{b}");
            assert_eq!(p.text("#answer-districts"), "犀川、湯涌、浅川", "{b}");
            // Its branch, and its place on the map.
            assert!(p.text("#answer .branches").contains("たがみブランチ"), "{b}");
            assert_eq!(p.attr("#map", "data-markers").as_deref(), Some("#answer"), "{b}");
            assert!(p.attr("#answer-center", "data-lat").is_some(), "{b}: the center has no place");
            assert_eq!(p.attr("#district option[selected]", "value").as_deref(), Some("犀川"), "{b}");
        }

        // Text matching several districts offers them; nothing matching says so.
        let p = anon.get(&format!("/directory/centers?q={}", enc("西南"))).await;
        assert_eq!(p.count("#answer"), 0, "{b}");
        assert_eq!(p.texts("#candidates li"), vec!["西", "西南部"], "{b}");
        let to = p.attr("#candidates li a", "href").unwrap();
        assert_eq!(anon.get(&to).await.text("#answer-name"), "地域包括支援センターひろおか", "{b}");
        let p = anon.get(&format!("/directory/centers?q={}", enc("東京"))).await;
        p.assert_status(StatusCode::OK);
        assert_eq!(p.count("#no-match"), 1, "{b}");
        // A district that is not on the list is refused on its field.
        let p = anon.get(&format!("/directory/centers?district={}", enc("梅田"))).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.attr("#district", "aria-invalid").as_deref(), Some("true"), "{b}");
    }
}

#[tokio::test]
async fn a_care_manager_searches_near_their_patient() {
    for t in support::all().await {
        let b = t.name();
        let mut cm = t.login("caremanager").await;
        let p = cm.get("/directory").await;
        // Their one patient, and the filter by consultation hours.
        let options = p.texts("#near_patient option");
        assert_eq!(options, vec!["選ばない", "森 正雄"], "{b}");
        assert_eq!(p.count("#consult_now"), 1, "{b}");
        let mori = p.attr("#near_patient option:nth-child(2)", "value").unwrap();

        let p = cm.get(&format!("/directory?near_patient={mori}&radius=3")).await;
        p.assert_status(StatusCode::OK);
        let d: Vec<f64> = p
            .texts("#results li.provider .distance")
            .iter()
            .map(|s| s.trim_end_matches(" km").parse::<f64>().unwrap())
            .collect();
        assert!(!d.is_empty() && d.windows(2).all(|w| w[0] <= w[1]), "{b}: {d:?}");
        assert_eq!(p.attr("#near_patient option[selected]", "value"), Some(mori.clone()), "{b}");
        let circle = p.attr("#map", "data-circle").unwrap();
        assert!(circle.starts_with("36.5549,136.6705,"), "{b}: {circle}");

        // Another's patient: the page of a patient who does not exist.
        let physician = t.user_id("physician").await;
        let physician =
            t.app.actor(&physician, AuthVia::Session { token_hash: "test".into() }, None).await.unwrap();
        let theirs = t.app.my_patients(&physician).await.unwrap();
        let kitamura = theirs.iter().find(|p| p.name == "北村 トメ").unwrap().id.clone();
        for id in [kitamura.as_str(), RANDOM_ID] {
            cm.get(&format!("/directory?near_patient={id}"))
                .await
                .assert_error_page(StatusCode::NOT_FOUND, NOT_FOUND_MESSAGE);
        }
        // Nobody logged in is asked to.
        t.client().get(&format!("/directory?near_patient={mori}")).await.assert_redirect("/login");
    }
}

#[tokio::test]
async fn a_patients_home_location_is_entered_with_the_summary() {
    for t in support::all().await {
        let b = t.name();
        let mut doc = t.login("physician").await;
        let p = doc.get("/patients/new").await;
        assert_eq!(p.attr("#map", "data-pick").as_deref(), Some("location"), "{b}");
        let form = |location: &'static str| {
            vec![
                ("name", "位置 ハナ"),
                ("name_kana", "いち はな"),
                ("birth_date", "1941-02-03"),
                ("sex", "female"),
                ("location", location),
            ]
        };
        let p = doc.post_form("/patients/new", &form("36.56")).await;
        p.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.attr("#location", "aria-invalid").as_deref(), Some("true"), "{b}");
        assert_eq!(p.attr("#location", "value").as_deref(), Some("36.56"), "{b}");

        let p = doc.post_form("/patients/new", &form("36.5601,136.6502")).await;
        let to = p.header("location").unwrap().to_string();
        let id = to.trim_start_matches("/patients/").to_string();
        let edit = doc.get(&format!("/patients/{id}/edit")).await;
        assert_eq!(edit.attr("#location", "value").as_deref(), Some("36.5601,136.6502"), "{b}");

        // Changed through the edit form: kept in the history like any field.
        let version = edit.attr("#edit input[name=version]", "value").unwrap();
        let mut fields = form("36.57,136.64");
        fields.push(("version", version.as_str()));
        doc.post_form(&format!("/patients/{id}/edit"), &fields)
            .await
            .assert_redirect(&format!("/patients/{id}#summary"));
        let edit = doc.get(&format!("/patients/{id}/edit")).await;
        assert_eq!(edit.attr("#location", "value").as_deref(), Some("36.57,136.64"), "{b}");
        assert_eq!(edit.texts("#history .change-fields"), vec!["自宅の位置（緯度,経度）"], "{b}");
    }
}
