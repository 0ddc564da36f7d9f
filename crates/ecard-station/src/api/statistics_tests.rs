//! `GET /api/v1/statistics`: the analyst role and its separation, the JSON and CSV shapes,
//! 400 naming the parameter.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::{Auth, Role};
use crate::server::{Settings, Station};
use crate::store::stats::Fact;
use crate::testutil;

const ANALYST: &str = "t-analyst";

fn station(store: std::sync::Arc<crate::store::Store>) -> Station {
    let mut auth = Auth::default();
    auth.add_token("analyst-1", Role::Analyst, ANALYST);
    auth.add_token("qa-1", Role::Qa, "t-qa");
    auth.add_token("operator-1", Role::Operator, "t-operator");
    auth.add_token("intake-1", Role::Intake, "t-intake");
    auth.add_token("admin", Role::Admin, "t-admin");
    Station::new(store, Settings::default(), auth)
}

async fn get(st: &Station, method: &str, uri: &str, token: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let resp = crate::api::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn fact(month: &str, nat: &str, sex: &str) -> Fact {
    Fact(
        [
            month,
            "s1",
            "RU-MOW",
            nat,
            "25-34",
            sex,
            "first_issue",
            "none",
            "false",
            "issued",
        ]
        .map(str::to_string),
    )
}

/// UZB: 30 M + 25 F in November; TJK: 12 M + 4 F; one KGZ F in December.
fn facts() -> Vec<Fact> {
    let mut out = Vec::new();
    for (nat, sex, n) in [
        ("UZB", "M", 30),
        ("UZB", "F", 25),
        ("TJK", "M", 12),
        ("TJK", "F", 4),
    ] {
        out.extend(std::iter::repeat_n(fact("2026-11", nat, sex), n));
    }
    out.push(fact("2026-12", "KGZ", "F"));
    out
}

#[tokio::test]
async fn analyst_reads_statistics_json_and_csv() {
    let t = testutil::sqlite();
    t.store.stats_insert_facts(&facts()).unwrap();
    let st = station(t.store.clone());
    let (s, body) = get(
        &st,
        "GET",
        "/api/v1/statistics?from=2026-11&to=2026-11&by=nationality,sex",
        ANALYST,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let j: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        j,
        json!({"from": "2026-11", "to": "2026-11", "by": ["nationality", "sex"], "cells": [
            {"nationality": "TJK", "sex": "F", "count": null, "suppressed": true},
            {"nationality": "TJK", "sex": "M", "count": null, "suppressed": true},
            {"nationality": "UZB", "sex": "F", "count": null, "suppressed": true},
            {"nationality": "UZB", "sex": "M", "count": null, "suppressed": true},
        ], "total": 71})
    );
    let (s, body) = get(
        &st,
        "GET",
        "/api/v1/statistics?from=2026-11&to=2026-12&by=month&format=csv",
        "t-admin",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        "month,count,suppressed\n2026-11,<10,true\n2026-12,<10,true\n"
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    for (query, parameter) in [
        ("from=2026-11&to=2026-10", "from"),
        ("from=2016-01&to=2026-01", "to"),
        ("from=2026-11&to=2026-11&by=name", "by"),
        (
            "from=2026-11&to=2026-11&by=sex,nationality,region,kind",
            "by",
        ),
        ("from=2026-11&to=2026-11&filter=eyes:blue", "filter"),
        ("from=2026-11", "to"),
        ("from=2026-11&to=2026-11&format=xml", "format"),
        ("from=2026-11&to=2026-11&sort=count", "sort"),
    ] {
        let (s, body) = get(&st, "GET", &format!("/api/v1/statistics?{query}"), ANALYST).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {body}");
        let j: Value = serde_json::from_str(&body).unwrap();
        let e = j["error"].as_str().unwrap();
        assert!(e.contains(parameter), "{query}: {e}");
    }
}

#[tokio::test]
async fn an_analyst_sees_nothing_else_and_others_see_no_statistics() {
    let t = testutil::sqlite();
    let st = station(t.store.clone());
    let mut checked = 0;
    for r in crate::api::openapi::ROUTES {
        if matches!(r.roles, "public" | "any signed-in role") || r.path == "/api/v1/statistics" {
            continue;
        }
        let path = r.path.replace("{id}", "1").replace("{number}", "770000001");
        let (s, body) = get(&st, r.method, &path, ANALYST).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{} {path}: {body}", r.method);
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} routes checked");
    for token in ["t-qa", "t-operator", "t-intake"] {
        let (s, _) = get(
            &st,
            "GET",
            "/api/v1/statistics?from=2026-11&to=2026-11",
            token,
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{token}");
    }
    let (s, _) = get(
        &st,
        "GET",
        "/api/v1/statistics?from=2026-11&to=2026-11",
        ANALYST,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}
