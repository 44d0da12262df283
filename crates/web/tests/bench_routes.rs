//! The load benchmark's baseline routes (`/bench/hello`, `/bench/rows/{patient_id}`): absent
//! unless the configuration turns them on, and when on, the bare read returns the patient's
//! newest entries without writing an audit event.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::fhir::demo_patient;
use tower::ServiceExt;
use tsunagu_web::WebConfig;

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    let req = Request::builder().uri(path).body(Body::empty()).expect("request");
    let res = router.clone().oneshot(req).await.expect("router");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn bench_routes_are_404_unless_configured() {
    for t in support::all().await {
        let b = t.name();
        let patient = demo_patient(&t, "北村 トメ").await;
        let rows_path = format!("/bench/rows/{patient}");

        // Off (the default): the routes do not exist.
        assert_eq!(get(&t.router, "/bench/hello").await.0, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(get(&t.router, &rows_path).await.0, StatusCode::NOT_FOUND, "{b}");

        // On: hello answers, the bare read returns at most 20 of the patient's entries, newest
        // first, and writes no audit event.
        let on = tsunagu_web::router(t.app.clone(), WebConfig { bench_routes: true, ..WebConfig::default() });
        let (status, body) = get(&on, "/bench/hello").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "hello\n"), "{b}");
        let before = t.audit().await.len();
        let (status, body) = get(&on, &rows_path).await;
        assert_eq!(status, StatusCode::OK, "{b}: {body}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON array");
        assert!(!rows.is_empty() && rows.len() <= 20, "{b}: {} rows", rows.len());
        let times: Vec<i64> = rows.iter().map(|r| r["created_at"].as_i64().expect("created_at")).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{b}: not newest first: {times:?}");
        assert_eq!(t.audit().await.len(), before, "{b}: the bare read wrote an audit event");
    }
}
