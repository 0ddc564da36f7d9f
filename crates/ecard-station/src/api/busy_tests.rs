//! A full PostgreSQL pool: a request waits for the pool's wait, then gets a 503 with
//! `Retry-After` and a JSON error that says what to do, never a hang (issue 19).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use crate::auth::{Auth, Role};
use crate::server::{Settings, Station};
use crate::store::{PgOptions, Store, StoreError};
use crate::testutil;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_full_pool_gets_503_with_retry_after() {
    let url = testutil::pg_url();
    let schema = format!("ecard_test_{:016x}", rand::random::<u64>());
    let mut options = PgOptions::for_lanes(0);
    options.pool = 1;
    options.pool_wait = Duration::from_millis(300);
    let opened = tokio::task::block_in_place(|| Store::open_postgres_with(&url, &schema, &options));
    let store = match opened {
        Ok(s) => Arc::new(s),
        Err(e) => {
            if std::env::var("ECARD_PG_TESTS").as_deref() == Ok("1") {
                panic!("PostgreSQL at {url} is required (ECARD_PG_TESTS=1): {e}");
            }
            println!("skipped: PostgreSQL at {url} unreachable: {e}");
            return;
        }
    };
    let mut auth = Auth::default();
    auth.add_token("operator-1", Role::Operator, "t-operator");
    let station = Station::new(store.clone(), Settings::default(), auth);
    let get_jobs = || async {
        let req = Request::builder()
            .uri("/api/v1/jobs")
            .header("authorization", "Bearer t-operator")
            .body(Body::empty())
            .unwrap();
        crate::api::router(station.clone())
            .oneshot(req)
            .await
            .unwrap()
    };

    let held = tokio::task::block_in_place(|| store.hold_connection())
        .unwrap()
        .expect("a PostgreSQL store has a pool");
    // The store itself says why, in its own words.
    let direct = tokio::task::block_in_place(|| store.list(None, 10));
    assert_eq!(
        direct,
        Err(StoreError::Busy {
            store: "postgresql",
            connections: 1,
            waited_ms: 300
        })
    );
    let resp = get_jobs().await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json["error"],
        "the station is busy: postgresql busy: all 1 connections of the pool stayed in use for 300 ms; nothing was done: retry after 1 s (Retry-After); if this persists, raise postgres_pool (now 1) in the [store] section of station.toml"
    );
    assert_eq!(json["retry_after_seconds"], 1);

    // The connection back in the pool, the same request succeeds.
    tokio::task::block_in_place(|| drop(held));
    let resp = get_jobs().await;
    assert_eq!(resp.status(), StatusCode::OK);
    drop(station);
    tokio::task::block_in_place(|| {
        drop(store);
        let _ = Store::drop_pg_schema(&url, &schema);
    });
}
