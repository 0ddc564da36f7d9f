//! The QA routes over both stores: roles, recording under the token's name, the job/number
//! consistency check, and the report counting exactly what was recorded.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::{Auth, Role};
use crate::server::{Settings, Station};
use crate::store::{IssuedCardRow, Store};
use crate::testutil;

async fn call(
    st: &Station,
    method: &str,
    uri: &str,
    token: &str,
    body: Value,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        }))
        .unwrap();
    let resp = crate::api::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn seed(store: &Store) {
    // 770000002 was voided now (its job is not in the store: counted as spoiled).
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    store
        .exec_raw(&format!("INSERT INTO numbers (document_number, job_id, status, at_ms) VALUES ('770000001', 1, 'issued', 0), ('770000002', 2, 'voided', {now})"))
        .unwrap();
    store
        .record_issued_card(
            &IssuedCardRow {
                document_number: "770000001".into(),
                job_id: 1,
                lane: Some("lane-1".into()),
                ef_sha256_json: "{\"DG1\":\"00\"}".into(),
                sod_hex: "77".into(),
                ds_cert_hex: "30".into(),
                lock_result: "refused:6982".into(),
                written_ms: 5,
                sample: Some("first_of_shift".into()),
            },
            None,
        )
        .unwrap();
}

/// Blocking store calls, off the runtime's workers (the sync PostgreSQL client refuses them).
async fn blocking<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> R + Send + 'static,
) -> R {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap()
}

async fn run(store: Arc<Store>) {
    blocking(&store, seed).await;
    let mut auth = Auth::default();
    auth.add_token("qa-anna", Role::Qa, "t-qa");
    auth.add_token("operator-1", Role::Operator, "t-op");
    let st = Station::new(store.clone(), Settings::default(), auth);

    let (s, body) = call(
        &st,
        "GET",
        "/api/v1/qa/cards/770000001",
        "t-qa",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let facts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(facts["owner"], json!([1, "issued"]));
    assert_eq!(facts["revoked"], json!(false));
    assert_eq!(facts["record"]["lock_result"], json!("refused:6982"));
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/qa/cards/770000001",
        "t-op",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&st, "GET", "/api/v1/qa/cards/77", "t-qa", Value::Null).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, body) = call(&st, "GET", "/api/v1/qa/queue", "t-qa", Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let q: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        q,
        json!({"cards": [{"document_number": "770000001", "job_id": 1, "lane": "lane-1", "written_ms": 5, "reasons": ["first_of_shift"]}]})
    );
    let (s, _) = call(&st, "GET", "/api/v1/qa/queue", "t-op", Value::Null).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let pass = json!({"document_number": "770000001", "failures": []});
    let (s, body) = call(&st, "POST", "/api/v1/jobs/1/qa", "t-qa", pass.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let rec: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (rec["verdict"].clone(), rec["inspector"].clone()),
        (json!("pass"), json!("qa-anna"))
    );
    let (_, body) = call(&st, "GET", "/api/v1/qa/queue", "t-qa", Value::Null).await;
    assert_eq!(body, r#"{"cards":[]}"#);
    let (s, body) = call(&st, "POST", "/api/v1/jobs/2/qa", "t-qa", pass).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("belongs to job 1, not job 2"), "{body}");
    let voided = json!({"document_number": "770000002", "failures": [{"check": "issued", "reason": "number 770000002 is voided (job 2), expected issued"}]});
    let (s, _) = call(&st, "POST", "/api/v1/jobs/2/qa", "t-qa", voided).await;
    assert_eq!(s, StatusCode::OK);
    let never = json!({"document_number": "780000001", "failures": [{"check": "issued", "reason": "never"}]});
    let (s, _) = call(&st, "POST", "/api/v1/qa/results", "t-qa", never.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&st, "POST", "/api/v1/jobs/1/qa", "t-op", never).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let rows = blocking(&store, |s| s.qa_results(0, i64::MAX).unwrap()).await;
    assert_eq!(
        rows.iter()
            .map(|r| (
                r.job_id,
                r.document_number.as_str(),
                r.lane.as_deref(),
                r.inspector.as_str(),
                r.verdict.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            (Some(1), "770000001", Some("lane-1"), "qa-anna", "pass"),
            (Some(2), "770000002", None, "qa-anna", "fail"),
            (None, "780000001", None, "qa-anna", "fail"),
        ]
    );
    let day = crate::qa::report::parse_day(
        &ecard_model::dates::moscow_date(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(rows[0].at_ms) * 1_000_000)
                .unwrap(),
        )
        .to_string(),
    )
    .unwrap();
    let uri = format!("/api/v1/qa/report?from={day}&to={day}&format=csv");
    let (s, body) = call(&st, "GET", &uri, "t-qa", Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!(
            "section,key,inspected,failed\ntotal,all,3,2\nlane,-,2,2\nlane,lane-1,1,0\nday,{day},3,2\nreason,issued,,2\nspoiled,770000002,,\n"
        )
    );
    let prev = day.previous_day().unwrap();
    let (s, body) = call(
        &st,
        "GET",
        &format!("/api/v1/qa/report?from={prev}&to={prev}"),
        "t-qa",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let j: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["inspected"], json!(0));
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/qa/report?from=2026-13-01&to=2026-11-01",
        "t-qa",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qa_routes_on_sqlite() {
    let t = testutil::sqlite();
    run(t.store.clone()).await;
}

#[test]
fn qa_routes_on_postgres() {
    let Some(t) = testutil::postgres() else {
        eprintln!(
            "skipped: PostgreSQL not reachable at {}",
            testutil::pg_url()
        );
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(t.store.clone()));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Arbitrary bodies to the QA routes answer 200 or a 4xx, never a 5xx, and only a 200
        /// records anything.
        #[test]
        fn arbitrary_qa_bodies_never_fail_the_server(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                ("[0-9]{0,12}", proptest::collection::vec(("[a-z_]{0,10}", ".{0,20}"), 0..3)).prop_map(|(n, f)| {
                    json!({"document_number": n, "failures": f.iter().map(|(c, r)| json!({"check": c, "reason": r})).collect::<Vec<_>>()}).to_string()
                }),
            ],
            job in prop_oneof![Just("1".to_string()), Just("2".to_string()), "[a-z0-9-]{0,5}"],
        ) {
            let t = testutil::sqlite();
            seed(&t.store);
            let mut auth = Auth::default();
            auth.add_token("qa-anna", Role::Qa, "t-qa");
            let st = Station::new(t.store.clone(), Settings::default(), auth);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            for uri in [format!("/api/v1/jobs/{job}/qa"), "/api/v1/qa/results".to_string()] {
                let req = Request::builder()
                    .method("POST")
                    .uri(&uri)
                    .header("authorization", "Bearer t-qa")
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap();
                let before = t.store.qa_results(0, i64::MAX).unwrap().len();
                let status = rt.block_on(async { crate::api::router(st.clone()).oneshot(req).await.unwrap().status() });
                let after = t.store.qa_results(0, i64::MAX).unwrap().len();
                prop_assert!(status == StatusCode::OK || status.is_client_error(), "{uri}: {status}");
                prop_assert_eq!(after - before, usize::from(status == StatusCode::OK));
            }
        }
    }
}
