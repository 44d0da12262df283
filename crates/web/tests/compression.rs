//! Pages travel compressed to clients that ask (issue 6: a timeline page ≤ 60 KB over the wire),
//! and uncompressed to those that do not.

// Failing loudly with a message is what a test is for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

#[tokio::test]
async fn pages_are_gzipped_when_asked_and_plain_otherwise() {
    for t in support::all().await {
        let who = t.name();
        let get = |gzip: bool| {
            let mut req = Request::builder().uri("/login");
            if gzip {
                req = req.header(header::ACCEPT_ENCODING, "gzip");
            }
            t.router.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let plain = get(false).await.unwrap();
        assert_eq!(plain.status(), StatusCode::OK, "{who}");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none(), "{who}");
        let plain_len = axum::body::to_bytes(plain.into_body(), usize::MAX).await.unwrap().len();

        let zipped = get(true).await.unwrap();
        assert_eq!(zipped.status(), StatusCode::OK, "{who}");
        assert_eq!(zipped.headers().get(header::CONTENT_ENCODING).unwrap(), "gzip", "{who}");
        let zipped_len = axum::body::to_bytes(zipped.into_body(), usize::MAX).await.unwrap().len();
        assert!(zipped_len < plain_len, "{who}: {zipped_len} of {plain_len} bytes");
    }
}
