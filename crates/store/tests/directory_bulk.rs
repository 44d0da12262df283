//! The bulk reads and writes of the open-data import and the export (`directory::bulk`), on
//! every backend the harness finds: multi-row inserts across their chunk boundaries, look-ups
//! by office number, services added once, the keyset walk over every provider, the batch
//! reads of consultation hours and fresh vacancies, and the search's reads (every match's point
//! in one row, whole rows with their codes for a page).

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use tsunagu_store::directory::hours::ConsultationSlotRow;
use tsunagu_store::directory::vacancies::VacancyRow;
use tsunagu_store::directory::{ProviderQuery, ProviderRow};
use tsunagu_store::testing;

const T0: i64 = 1_795_480_200_000_000;

fn provider(i: usize) -> ProviderRow {
    ProviderRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: "home_help_provider".to_string(),
        name: format!("事業所{i}"),
        name_kana: format!("じぎょうしょ{i}"),
        parent_id: None,
        city_no: None,
        address: "石川県金沢市広坂1-1-1".to_string(),
        phone: "076-220-0001".to_string(),
        jurisdiction: String::new(),
        operator_name: "社会福祉法人".to_string(),
        is_emergency_hospital: false,
        created_at: T0,
        updated_at: T0,
        postal_code: String::new(),
        address_extra: String::new(),
        latitude: Some(36.5 + i as f64 / 10_000.0),
        longitude: Some(136.6),
        district: None,
        fax: String::new(),
        website: String::new(),
        corporate_number: String::new(),
        office_no: Some(format!("17{i:08}")),
        capacity: Some(i as i64),
        open_days: String::new(),
        open_days_note: String::new(),
        accepting: "unknown".to_string(),
        description: String::new(),
        contact_line: String::new(),
        contact_person: String::new(),
        contact_method: String::new(),
        contact_hours: String::new(),
        consult_on_holidays: false,
        search_text: format!("事業所{i}"),
        confirmed_at: None,
        version: 1,
        manual_fields: String::new(),
    }
}

#[tokio::test]
async fn bulk_writes_and_reads_agree_with_the_row_at_a_time_ones() {
    for db in testing::all().await {
        let b = db.backend;
        let store = &db.store;
        // 60 rows: two full multi-row inserts of 25 and a partial one.
        let rows: Vec<ProviderRow> = (0..60).map(provider).collect();
        let mut tx = store.begin().await.unwrap();
        tx.insert_providers(&rows).await.unwrap();
        tx.insert_providers(&[]).await.unwrap();
        let pairs: Vec<(String, String)> =
            rows.iter().map(|r| (r.id.clone(), "home_help".to_string())).collect();
        tx.add_provider_services(&pairs).await.unwrap();
        // Again, plus one new: the pairs already there are left alone.
        let mut more = pairs.clone();
        more.push((rows[7].id.clone(), "visiting_nursing".to_string()));
        tx.add_provider_services(&more).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(store.count_providers(&ProviderQuery::default()).await.unwrap(), 60, "{b:?}");
        for r in [&rows[0], &rows[24], &rows[25], &rows[59]] {
            assert_eq!(store.provider(&r.id).await.unwrap().as_ref(), Some(r), "{b:?}: the row as written");
        }

        let mut tx = store.begin().await.unwrap();
        let nos =
            vec![rows[3].office_no.clone().unwrap(), rows[7].office_no.clone().unwrap(), "1799999999".into()];
        let mut found = tx.providers_by_office_nos(&nos).await.unwrap();
        found.sort_by(|a, b| a.office_no.cmp(&b.office_no));
        assert_eq!(found, vec![rows[3].clone(), rows[7].clone()], "{b:?}");
        let services = tx.services_of(&[rows[7].id.clone(), rows[8].id.clone()]).await.unwrap();
        let mut want = vec![
            (rows[7].id.clone(), "home_help".to_string()),
            (rows[7].id.clone(), "visiting_nursing".to_string()),
            (rows[8].id.clone(), "home_help".to_string()),
        ];
        want.sort();
        assert_eq!(services, want, "{b:?}");
        tx.insert_consultation_slot(&ConsultationSlotRow {
            id: uuid::Uuid::now_v7().to_string(),
            organisation_id: rows[1].id.clone(),
            physician: String::new(),
            weekday: 2,
            start_minute: 600,
            end_minute: 660,
            note: String::new(),
            created_at: T0,
        })
        .await
        .unwrap();
        for (day, confirmed_at) in [("2026-11-24", T0), ("2026-11-25", T0 - 100), ("2026-12-30", T0)] {
            tx.upsert_vacancy(&VacancyRow {
                organisation_id: rows[2].id.clone(),
                day: day.into(),
                free_beds: 3,
                confirmed_at,
                confirmed_by: None,
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();

        // The keyset walk visits every provider once, in id order.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.providers_after(after.as_deref(), 17).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|p| p.id.clone());
            seen.extend(page.into_iter().map(|p| p.id));
        }
        let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        assert_eq!(seen, ids, "{b:?}");

        let all: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let slots = store.consultation_slots_of(&all).await.unwrap();
        assert_eq!(
            slots.iter().map(|s| s.organisation_id.as_str()).collect::<Vec<_>>(),
            vec![rows[1].id.as_str()],
            "{b:?}"
        );
        let fresh = store.fresh_vacancies_of(&all, "2026-11-24", "2026-12-07", T0 - 50).await.unwrap();
        assert_eq!(
            fresh.iter().map(|v| v.day.as_str()).collect::<Vec<_>>(),
            vec!["2026-11-24"],
            "{b:?}: fresh, in range"
        );
    }
}

/// A radius search reads every match's point as one JSON row and whole rows only for its page
/// (`search_provider_points`, `providers_with_codes`): the points carry the exact coordinates
/// (SQLite writes a real in JSON with 15 digits, which does not always read back the same) and
/// what `search_providers` finds, and the page carries each provider's own codes, in order.
#[tokio::test]
async fn search_points_are_exact_and_pages_carry_their_own_codes() {
    use tsunagu_store::directory::CodeSet;
    for db in testing::all().await {
        let b = db.backend;
        let mut rows: Vec<ProviderRow> = (0..40).map(provider).collect();
        // Coordinates that 15 significant digits do not give back.
        rows[0].latitude = Some(36.56130000000001);
        rows[1].latitude = Some(0.1 + 0.2 + 36.0);
        rows[2].longitude = Some(136.60000000000002);
        rows[3].latitude = None;
        rows[3].longitude = None;
        rows[4].name = "引用符\"と\\バックスラッシュ".to_string();
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_providers(&rows).await.unwrap();
        tx.set_provider_codes(
            &rows[5].id,
            CodeSet::Capabilities,
            &["tube_feeding".into(), "house_calls".into()],
        )
        .await
        .unwrap();
        tx.set_provider_codes(&rows[5].id, CodeSet::Services, &["home_help".into()]).await.unwrap();
        tx.set_provider_codes(&rows[6].id, CodeSet::Departments, &["internal_medicine".into()])
            .await
            .unwrap();
        tx.commit().await.unwrap();

        for q in [
            ProviderQuery { kinds: vec!["home_help_provider".into()], ..ProviderQuery::default() },
            ProviderQuery {
                kinds: vec!["home_help_provider".into()],
                bbox: Some((36.0, 37.0, 136.0, 137.0)),
                ..ProviderQuery::default()
            },
        ] {
            let mut want: Vec<(String, String, Option<f64>, Option<f64>)> = db
                .store
                .search_providers(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id, r.name, r.latitude, r.longitude))
                .collect();
            let mut got: Vec<(String, String, Option<f64>, Option<f64>)> = db
                .store
                .search_provider_points(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.id, p.name, p.latitude, p.longitude))
                .collect();
            if q.bbox.is_some() {
                // In no particular order with a box: the app sorts by distance.
                want.sort_by(|a, b| a.0.cmp(&b.0));
                got.sort_by(|a, b| a.0.cmp(&b.0));
            }
            assert_eq!(got, want, "{b:?}: {q:?}");
            assert_eq!(got.len(), if q.bbox.is_some() { 39 } else { 40 }, "{b:?}");
        }
        let none = ProviderQuery { kinds: vec!["pharmacy".into()], ..ProviderQuery::default() };
        assert!(db.store.search_provider_points(&none).await.unwrap().is_empty(), "{b:?}");

        // A page: whole rows with their codes, in the order asked, an unknown id left out.
        let ids = vec![rows[6].id.clone(), "no-such-id".to_string(), rows[5].id.clone(), rows[7].id.clone()];
        let page = db.store.providers_with_codes(&ids).await.unwrap();
        let got: Vec<&str> = page.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(got, [rows[6].id.as_str(), rows[5].id.as_str(), rows[7].id.as_str()], "{b:?}");
        assert_eq!(page[0].0, rows[6], "{b:?}");
        assert_eq!(page[0].1.departments, ["internal_medicine"], "{b:?}");
        assert_eq!(page[1].1.capabilities, ["house_calls", "tube_feeding"], "{b:?}");
        assert_eq!(page[1].1.services, ["home_help"], "{b:?}");
        assert!(page[2].1 == Default::default(), "{b:?}");
        let one_by_one = db.store.provider_codes_of(&[rows[5].id.clone(), rows[6].id.clone()]).await.unwrap();
        assert_eq!(
            (one_by_one[0].1.clone(), one_by_one[1].1.clone()),
            (page[1].1.clone(), page[0].1.clone())
        );

        // The codes read are the copy the database keeps (migration 0010): a replaced set
        // shows at once, and the copy equals the code tables.
        let mut tx = db.store.begin().await.unwrap();
        tx.set_provider_codes(&rows[5].id, CodeSet::Capabilities, &["ventilator".into()]).await.unwrap();
        tx.commit().await.unwrap();
        let page = db.store.providers_with_codes(&[rows[5].id.clone()]).await.unwrap();
        assert_eq!(page[0].1.capabilities, ["ventilator"], "{b:?}");
        assert_eq!(page[0].1.services, ["home_help"], "{b:?}");
        let copy = db.store.provider_codes_of(&[rows[5].id.clone(), "no-such-id".into()]).await.unwrap();
        assert_eq!(copy[0].1, page[0].1, "{b:?}");
        assert_eq!(copy[1].1, Default::default(), "{b:?}");
        // The record: the code tables, as a transaction reads them.
        let mut tx = db.store.begin().await.unwrap();
        for r in &rows[..8] {
            let record = tx.provider_codes(&r.id).await.unwrap();
            let copy = db.store.provider_codes_of(std::slice::from_ref(&r.id)).await.unwrap();
            assert_eq!(copy[0].1, record, "{b:?}");
        }
        tx.commit().await.unwrap();
    }
}
