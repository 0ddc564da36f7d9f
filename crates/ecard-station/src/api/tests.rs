//! API tests: auth and roles, every resource, malformed bodies (never a 500), and one run over a
//! real socket on 127.0.0.1:0 speaking raw HTTP/1.1 bytes, as mini-redis's server tests do.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::{Auth, Role};
use crate::server::{Settings, Station};
use crate::store::Actor;
use crate::testutil;

const INTAKE: &str = "t-intake";
const OPERATOR: &str = "t-operator";
const QA: &str = "t-qa";
const ADMIN: &str = "t-admin";
const SUPERVISOR: &str = "t-supervisor";

fn station(store: Arc<crate::store::Store>) -> Station {
    let mut auth = Auth::default();
    auth.add_token("intake-1", Role::Intake, INTAKE);
    auth.add_token("operator-1", Role::Operator, OPERATOR);
    auth.add_token("qa-1", Role::Qa, QA);
    auth.add_token("admin", Role::Admin, ADMIN);
    auth.add_token("vault-1", Role::Supervisor, SUPERVISOR);
    Station::new(
        store,
        Settings {
            body_limit: 2 * 1024 * 1024,
            ..Settings::default()
        },
        auth,
    )
}

async fn call(
    st: &Station,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if method == "POST" {
        req = req.header("content-type", "application/json");
    }
    let resp = crate::api::router(st.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        json,
        if ctype.is_empty() {
            text
        } else {
            format!("{ctype}\n{text}")
        },
    )
}

/// An intake clerk's `POST /api/v1/enrollments` of `body`.
async fn intake_submits(st: &Station, body: Vec<u8>) -> (StatusCode, Value, String) {
    call(st, "POST", "/api/v1/enrollments", Some(INTAKE), body).await
}

/// An operator's `POST /api/v1/jobs/{id}/{action}` (retry, void).
async fn operator_acts_on_job(st: &Station, id: i64, action: &str) -> (StatusCode, Value, String) {
    let uri = format!("/api/v1/jobs/{id}/{action}");
    call(st, "POST", &uri, Some(OPERATOR), vec![]).await
}

#[tokio::test]
async fn roles_and_tokens() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let (s, _, body) = call(&st, "GET", "/api/v1/healthz", None, vec![]).await;
    assert_eq!((s, body.ends_with("ok\n")), (StatusCode::OK, true));
    let (s, j, _) = call(&st, "GET", "/api/v1/jobs", None, vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        j["error"],
        "missing bearer token: send \"Authorization: Bearer <token>\""
    );
    let (s, j, _) = call(&st, "GET", "/api/v1/jobs", Some("wrong"), vec![]).await;
    assert_eq!(
        (s, j["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unknown bearer token"))
    );
    let (s, j, _) = call(&st, "GET", "/api/v1/jobs", Some(INTAKE), vec![]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        j["error"],
        "token \"intake-1\" has role intake; this needs qa or operator or admin"
    );
    let body = testutil::record_json("MMC-ROLE").into_bytes();
    let (s, _, _) = call(&st, "POST", "/api/v1/enrollments", Some(QA), body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&st, "POST", "/api/v1/jobs/1/retry", Some(QA), vec![]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&st, "GET", "/api/v1/lanes", Some(QA), vec![]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for token in [OPERATOR, ADMIN] {
        let (s, j, _) = call(&st, "GET", "/api/v1/lanes", Some(token), vec![]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(j["station"], "station-1");
    }
    for token in [QA, OPERATOR, ADMIN] {
        let (s, _, _) = call(&st, "GET", "/api/v1/jobs", Some(token), vec![]).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _, _) = call(&st, "POST", "/api/v1/enrollments", Some(ADMIN), body).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _, _) = call(&st, "GET", "/nope", Some(ADMIN), vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enrollments_jobs_retry_void() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let body = testutil::record_json("MMC-2026-0000777").into_bytes();
    let (s, j, _) = intake_submits(&st, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(j["state"], "validated");
    assert_eq!(j["application_id"], "MMC-2026-0000777");
    assert_eq!(j["document_number"], Value::Null);
    let id = j["id"].as_i64().unwrap();
    // The same application again: the existing job, nothing new.
    let (s, j2, _) = intake_submits(&st, body).await;
    assert_eq!((s, j2["id"].as_i64()), (StatusCode::OK, Some(id)));
    assert_eq!(t.store.list(None, 100).unwrap().len(), 1);

    let (s, j, _) = call(&st, "GET", &format!("/api/v1/jobs/{id}"), Some(QA), vec![]).await;
    assert_eq!(
        (s, j["state"].as_str()),
        (StatusCode::OK, Some("validated"))
    );
    let (s, j, _) = call(
        &st,
        "GET",
        "/api/v1/jobs?state=validated&limit=1",
        Some(QA),
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let jobs = j["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    for key in ["id", "application_id", "state", "document_number"] {
        assert!(jobs[0].get(key).is_some(), "{key}");
    }
    let (_, j, _) = call(&st, "GET", "/api/v1/jobs?state=issued", Some(QA), vec![]).await;
    assert_eq!(j["jobs"], serde_json::json!([]));
    // Search by application id, across every job.
    for (q, found) in [("mmc-2026-0000777", 1), ("0777", 1), ("nobody", 0), ("", 1)] {
        let (s, j, _) = call(&st, "GET", &format!("/api/v1/jobs?q={q}"), Some(QA), vec![]).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(j["jobs"].as_array().unwrap().len(), found, "{q}: {j}");
    }
    let long = "9".repeat(65);
    let (s, _, _) = call(
        &st,
        "GET",
        &format!("/api/v1/jobs?q={long}"),
        Some(QA),
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for (uri, msg) in [
        ("/api/v1/jobs?state=done", "unknown job state \"done\""),
        (
            "/api/v1/jobs?limit=0",
            "limit \"0\" must be a number from 1 to 10000",
        ),
        (
            "/api/v1/jobs?limit=x",
            "limit \"x\" must be a number from 1 to 10000",
        ),
        (
            "/api/v1/jobs?sort=id",
            "unknown query parameter \"sort\"; use state, limit and q",
        ),
        ("/api/v1/jobs/abc", "job id \"abc\" is not a number"),
        (
            "/api/v1/qa/queue?sort=id",
            "unknown query parameter \"sort\"; use limit",
        ),
        (
            "/api/v1/qa/queue?limit=10001",
            "limit \"10001\" must be a number from 1 to 10000",
        ),
        (
            "/api/v1/qa/report?sort=id",
            "unknown query parameter \"sort\"; use from, to and format",
        ),
    ] {
        let (s, j, _) = call(&st, "GET", uri, Some(QA), vec![]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(j["error"].as_str().unwrap().starts_with(msg), "{uri}: {j}");
    }
    let (s, j, _) = call(&st, "GET", "/api/v1/jobs/999", Some(QA), vec![]).await;
    assert_eq!(
        (s, j["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no job 999"))
    );

    // Retry needs a failed job: 409 with the reason.
    let (s, j, _) = operator_acts_on_job(&st, id, "retry").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        j["error"],
        format!("job {id} is validated; retry needs it to be failed")
    );
    // Make it fail on a lane, then retry it.
    let lane = Actor::lane("station-1", "lane-1");
    for _ in 0..3 {
        let c = t
            .store
            .claim("station-1", "lane-1", 77, 1, i64::MAX)
            .unwrap()
            .unwrap();
        t.store.spoil(c.id, &lane, "injected", true, 3, 2).unwrap();
    }
    let (_, j, _) = call(&st, "GET", &format!("/api/v1/jobs/{id}"), Some(QA), vec![]).await;
    assert_eq!(j["state"], "failed");
    let (s, j, _) = operator_acts_on_job(&st, id, "retry").await;
    assert_eq!(
        (s, j["state"].as_str(), j["attempts"].as_i64()),
        (StatusCode::OK, Some("validated"), Some(0))
    );
    let (s, j, _) = operator_acts_on_job(&st, id, "void").await;
    assert_eq!((s, j["state"].as_str()), (StatusCode::OK, Some("voided")));
    let (s, _, _) = operator_acts_on_job(&st, id, "void").await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (entries, _, _) = t.store.audit_snapshot().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.to_state.as_str()),
        ("operator-1", "voided")
    );

    let (s, _, text) = call(&st, "GET", "/api/v1/metrics", Some(QA), vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.starts_with("text/plain; version=0.0.4"), "{text}");
    assert!(
        text.contains("\necard_jobs{state=\"voided\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\necard_transitions_total{state=\"voided\"} 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_or_422_never_500() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let post = |body: Vec<u8>| {
        let st = st.clone();
        async move { intake_submits(&st, body).await }
    };
    let (s, j, _) = post(vec![0xFF, 0xFE, b'{']).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        j["error"],
        "the body is not UTF-8 text; send the record as JSON"
    );
    for body in ["", "{", "[]", "null", "{\"application_id\": 5}"] {
        let (s, j, _) = post(body.as_bytes().to_vec()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
        assert!(!j["problems"].as_array().unwrap().is_empty(), "{body:?}");
    }
    // Three problems at once, each with its path; nothing stored.
    let mut rec: Value = serde_json::from_str(&testutil::record_json("MMC-BAD")).unwrap();
    rec["date_of_birth"] = "2015-01-01".into();
    rec["sex"] = "X".into();
    rec["photo"] = serde_json::json!({"path": "photo.jpg"});
    let (s, j, _) = post(rec.to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["sex", "date_of_birth", "photo"]);
    assert_eq!(
        j["error"],
        "enrollment rejected with 3 problems; nothing was stored"
    );
    let photo = j["problems"][2]["message"].as_str().unwrap();
    assert!(photo.contains("the station takes images inline"), "{photo}");
    assert_eq!(t.store.list(None, 10).unwrap(), vec![]);
    // Over the body limit.
    let (s, _, _) = post(vec![b' '; 3 * 1024 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(t.store.audit_snapshot().unwrap().0.len(), 0);
}

#[tokio::test]
async fn replacement_rules_answer_422_and_409_and_keep_late_notice() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    // A card issued to the holder of MMC-ORIG-1 (through the store, as a lane would).
    let issue = |app: &str| {
        let (j, _) = t
            .store
            .submit(
                &crate::store::NewJob {
                    application_id: app.into(),
                    record_json: testutil::record_json(app),
                    chip_images_json: testutil::chip_images_json(),
                    late_notification: false,
                    replaces: None,
                },
                &Actor::named("intake-1"),
                1,
            )
            .unwrap();
        let s = &t.store;
        let info = crate::store::StepInfo::default();
        s.step(
            j.id,
            crate::job::JobState::Validated,
            &Actor::named("i"),
            &info,
            2,
        )
        .unwrap();
        let lane = Actor::lane("s1", "l1");
        let j = s.claim("s1", "l1", 77, 3, 60_000).unwrap().unwrap();
        for to in [
            crate::job::JobState::Encoding,
            crate::job::JobState::Verifying,
            crate::job::JobState::Printing,
            crate::job::JobState::Issued,
        ] {
            s.step(j.id, to, &lane, &info, 4).unwrap();
        }
        j.document_number.unwrap()
    };
    let revoked = issue("MMC-ORIG-1");
    t.store
        .exec_raw(&format!("INSERT INTO revocations (document_number, reason, since) VALUES ('{revoked}', 'lost', '2026-11-01')"))
        .unwrap();
    let replacement = |app: &str, holder: &str, number: &str, event: &str| {
        let mut rec: Value =
            serde_json::from_str(&testutil::record_json_holder(app, holder)).unwrap();
        rec["application"] = serde_json::json!({"kind": "replacement", "previous_document_number": number,
                                                "cause": "lost", "event_date": event});
        rec.to_string().into_bytes()
    };
    // Revoked already: 422 naming the field; nothing stored.
    let (s, j, _) = intake_submits(
        &st,
        replacement("MMC-REPL-1", "MMC-ORIG-1", &revoked, "2026-11-01"),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert_eq!(
        j["problems"][0]["path"],
        "application.previous_document_number"
    );
    assert!(
        j["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already revoked"),
        "{j}"
    );
    // Never issued here: 422.
    let (s, j, _) = intake_submits(
        &st,
        replacement("MMC-REPL-0", "MMC-ORIG-1", "770009999", "2026-11-20"),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert_eq!(t.store.search(None, "MMC-REPL", 10).unwrap(), vec![]);

    // A late notification of a good replacement is kept.
    let old = issue("MMC-ORIG-2");
    let (s, j, _) = intake_submits(
        &st,
        replacement("MMC-REPL-2", "MMC-ORIG-2", &old, "2026-11-01"),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{j}");
    assert_eq!(
        (j["state"].as_str(), j["late_notification"].as_bool()),
        (Some("validated"), Some(true))
    );
    assert_eq!(j["previous_document_number"], old.as_str());
    // The same number again: 409.
    let (s, j, _) = intake_submits(
        &st,
        replacement("MMC-REPL-3", "MMC-ORIG-2", &old, "2026-11-20"),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("already replaced"),
        "{j}"
    );
    // A first issue for a holder with a valid card: 409 naming the card.
    let (s, j, _) = intake_submits(
        &st,
        testutil::record_json_holder("MMC-DUP", "MMC-ORIG-2").into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{j}");
    // The holder's replacement is in progress (newest first): it is named.
    let error = j["error"].as_str().unwrap();
    assert!(error.contains("already in progress (MMC-REPL-2"), "{j}");
}

/// Raw bytes over a real socket: health, an authorised request, garbage, then graceful shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_raw_http_on_a_real_socket_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run(st, Vec::new(), listener, async move {
        let _ = stop_rx.await;
    }));
    let exchange = |raw: &'static [u8]| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let r = exchange(b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.ends_with("\r\n\r\nok\n"), "{r}");
    let r = exchange(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-qa\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.ends_with("{\"jobs\":[]}"), "{r}");
    let r = exchange(b"POST /api/v1/enrollments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-intake\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{\"a\":").await;
    assert!(
        r.starts_with("HTTP/1.1 422 Unprocessable Entity\r\n"),
        "{r}"
    );
    let r = exchange(b"BLAH\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever the body, intake answers 400, 413 or 422 and stores nothing.
    #[test]
    fn arbitrary_bodies_never_cause_a_500(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        text in "\\PC{0,200}",
        cut in 0usize..4000,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let t = testutil::sqlite();
        let st = station(t.store.clone());
        // A valid record cut short anywhere is malformed JSON.
        let mut truncated = testutil::record_json("MMC-CUT").into_bytes();
        truncated.truncate(cut.min(truncated.len().saturating_sub(1)));
        for body in [bytes, text.into_bytes(), truncated] {
            let (s, _, _) = rt.block_on(call(&st, "POST", "/api/v1/enrollments", Some(INTAKE), body));
            proptest::prop_assert!(
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&s),
                "status {}", s
            );
        }
        proptest::prop_assert_eq!(t.store.list(None, 10).unwrap().len(), 0);
    }
}

/// Issue 13 item 17: a body not declared as JSON is 415, whatever it holds; nothing is stored.
#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let record = testutil::record_json("MMC-415").into_bytes();
    for ctype in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("image/jpeg"),
    ] {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/v1/enrollments")
            .header("authorization", format!("Bearer {INTAKE}"));
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        let resp = crate::api::router(st.clone())
            .oneshot(req.body(Body::from(record.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{ctype:?}"
        );
    }
    assert_eq!(t.store.list(None, 10).unwrap(), vec![]);
    // With a charset parameter, and in any case, it is JSON.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/enrollments")
        .header("authorization", format!("Bearer {INTAKE}"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(Body::from(record))
        .unwrap();
    let resp = crate::api::router(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

/// Issue 13 item 16: a body with 10,000 unknown fields gets the first 50 problems and a count.
#[tokio::test]
async fn thousands_of_problems_are_capped() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let mut rec: Value = serde_json::from_str(&testutil::record_json("MMC-MANY")).unwrap();
    for i in 0..10_000 {
        rec[format!("unknown_field_{i}_{}", "x".repeat(60))] = Value::from(i);
    }
    let (s, j, text) = intake_submits(&st, rec.to_string().into_bytes()).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &text[..200.min(text.len())]
    );
    let problems = j["problems"].as_array().unwrap();
    assert_eq!(problems.len(), super::enrollments::MAX_LISTED);
    let listed = problems.len() as u64;
    let total = listed + j["problems_not_listed"].as_u64().unwrap();
    assert!(total >= 10_000, "{total}");
    assert!(text.len() < 60_000, "the answer is {} bytes", text.len());
    assert_eq!(t.store.list(None, 10).unwrap(), vec![]);
}

/// Issue 15: the blank-stock ledger is read by admin and supervisor; a supervisor token reads
/// nothing else, and the other roles cannot read the ledger.
#[tokio::test]
async fn the_stock_ledger_is_for_admin_and_supervisor_only() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let line = crate::stock::ManifestLine {
        serial: "00112233445566778899".into(),
        batch: "B1".into(),
        key_version: 0x30,
    };
    t.store
        .stock_import(&[line], "m.csv", &"cd".repeat(32), "test", 1_000)
        .unwrap();
    for token in [ADMIN, SUPERVISOR] {
        let (s, body, text) = call(&st, "GET", "/api/v1/stock", Some(token), vec![]).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert_eq!(body["total"]["received"], 1, "{text}");
        assert_eq!(body["reconciles"], true, "{text}");
    }
    for token in [INTAKE, OPERATOR, QA] {
        let (s, ..) = call(&st, "GET", "/api/v1/stock", Some(token), vec![]).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (s, ..) = call(&st, "GET", "/api/v1/jobs", Some(SUPERVISOR), vec![]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
