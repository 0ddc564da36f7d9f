//! The console over real HTTP on 127.0.0.1:0, in process: the page at `/` is self-contained, the
//! event stream carries a submitted job to `issued`, and the stream keeps the role rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_common;

use std::time::Duration;

use console_common::{Running, record, request, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_is_the_console_with_no_external_urls() {
    let s = start().await;
    let (status, head, body) = request(s.addr, "GET", "/", None, None).await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("content-security-policy: default-src 'self'"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains(r#"<script src="/console.js" defer></script>"#));
    for asset in ["/", "/console.js", "/console.css"] {
        let (status, _, body) = request(s.addr, "GET", asset, None, None).await;
        assert_eq!(status, 200, "{asset}");
        let text = String::from_utf8(body).unwrap();
        for external in ["http://", "https://", "//cdn", "@import"] {
            assert!(!text.contains(external), "{asset} contains {external:?}");
        }
    }
    let (status, head, _) = request(s.addr, "GET", "/console.js", None, None).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript; charset=utf-8"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_need_a_reading_role() {
    let s = start().await;
    let status = |r: (u16, String, Vec<u8>)| r.0;
    // No token, unknown token (header and query), intake: refused before any stream starts.
    assert_eq!(
        status(request(s.addr, "GET", "/api/v1/events", None, None).await),
        401
    );
    assert_eq!(
        status(request(s.addr, "GET", "/api/v1/events?token=nope", None, None).await),
        401
    );
    assert_eq!(
        status(request(s.addr, "GET", "/api/v1/events", Some("nope"), None).await),
        401
    );
    let (code, head, body) = request(s.addr, "GET", "/api/v1/events", Some(&s.intake), None).await;
    assert_eq!(code, 403);
    assert!(head.contains("content-type: application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"],
        "token \"intake-1\" has role intake; this needs qa or operator or admin"
    );
    // A token is never taken from a URL (issue 13 item 12): the stream answers 401.
    let q = format!("/api/v1/events?token={}", s.operator);
    assert_eq!(status(request(s.addr, "GET", &q, None, None).await), 401);
    // The console signs in once: its token becomes an HttpOnly cookie for the stream alone.
    let (code, head, _) =
        request(s.addr, "POST", "/api/v1/console/session", Some(&s.qa), None).await;
    assert_eq!(code, 200);
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        cookie.contains(&format!("ecard_console={}", s.qa.to_lowercase())),
        "{cookie}"
    );
    for attr in ["httponly", "samesite=strict", "path=/api/v1/events"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // qa may watch jobs but gets no lane events (`GET /lanes` is operator-only).
    let snap = first_event(&s, "/api/v1/events", &s.qa).await;
    assert!(snap.starts_with("event: snapshot\ndata: "), "{snap}");
    assert!(snap.contains(r#""lanes":null"#), "{snap}");
    let snap = first_event(&s, "/api/v1/events", &s.operator).await;
    assert!(snap.contains(r#""lanes":[{"name":"lane-"#), "{snap}");
    // The console's own routes: session for any role, detail for readers only.
    let (code, _, body) = request(
        s.addr,
        "GET",
        "/api/v1/console/session",
        Some(&s.intake),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"name": "intake-1", "role": "intake", "station": "console-test", "warnings": []})
    );
    let (code, _, _) = request(
        s.addr,
        "GET",
        "/api/v1/console/jobs/1",
        Some(&s.intake),
        None,
    )
    .await;
    assert_eq!(code, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_job_streams_to_issued() {
    let s = start().await;
    let mut sse = TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        s.operator
    );
    sse.write_all(req.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut sse, &mut seen, "event: snapshot").await;
    assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");

    let (code, _, body) = request(
        s.addr,
        "POST",
        "/api/v1/enrollments",
        Some(&s.intake),
        Some(record("MMC-2026-0000901")),
    )
    .await;
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let issued = format!(r#""id":{id},"application_id":"MMC-2026-0000901","state":"issued""#);
    read_until(&mut sse, &mut seen, &issued).await;
    // Every step on the way came as its own event, in order (a poll may merge fast steps, so
    // only the order is checked, and that issued came last).
    let states: Vec<&str> = seen
        .split("event: job\ndata: ")
        .skip(1)
        .filter(|e| e.contains(&format!(r#""id":{id},"#)))
        .filter_map(|e| e.split(r#""state":""#).nth(1)?.split('"').next())
        .collect();
    let order = [
        "validated",
        "numbered",
        "encoding",
        "verifying",
        "printing",
        "issued",
    ];
    let pos: Vec<usize> = states
        .iter()
        .map(|st| order.iter().position(|o| o == st).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{states:?}");
    assert_eq!(states.last(), Some(&"issued"));
    assert!(
        !seen.contains("KARIMOV"),
        "personal data in the event stream"
    );

    // The detail has the holder, the chip photo and a passed verification.
    let (code, _, body) = request(
        s.addr,
        "GET",
        &format!("/api/v1/console/jobs/{id}"),
        Some(&s.qa),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let d: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(d["holder"]["surname"], "KARIMOV");
    assert!(
        d["chip_photo"]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,/9j/")
    );
    assert_eq!(d["verification"]["outcome"], "passed");
    let hist: Vec<String> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hist,
        [
            "received",
            "validated",
            "numbered",
            "encoding",
            "verifying",
            "printing",
            "issued"
        ]
    );
    s.stop().await;
}

/// The first event of the stream at `path`, authenticated by the console's cookie.
async fn first_event(s: &Running, path: &str, token: &str) -> String {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nCookie: ecard_console={token}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    read_until(&mut c, &mut seen, "\n\n").await;
    let body = seen
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut rest = seen.clone();
    if !body.contains("\n\n") {
        read_until(&mut c, &mut rest, "\n\n").await;
    }
    // Chunked framing: the event is the text from "event:" to its blank line.
    let start = rest.find("event: ").unwrap();
    let end = rest[start..].find("\n\n").unwrap();
    rest[start..start + end].to_string()
}

/// Reads until `needle` has been seen, for at most 60 s.
async fn read_until(c: &mut TcpStream, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut buf = vec![0u8; 65536];
    while !seen.contains(needle) {
        let n = tokio::time::timeout_at(deadline, c.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 60 s; got {seen}"))
            .unwrap();
        assert!(n > 0, "stream closed before {needle:?}; got {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}
