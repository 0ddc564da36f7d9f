//! The Grafana dashboard in `docs/` queries only metrics that `GET /metrics` writes: a renamed or
//! removed metric breaks this test, not an operator's dashboard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("ecard_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        names.insert(text[start..end].to_string());
        i = end;
    }
    names
}

#[test]
fn every_metric_the_dashboard_queries_is_exposed() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let exposed = metric_names(include_str!("../src/api/metrics.rs"));
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queried.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    assert!(queried.len() >= 3, "{queried:?}");
    for name in &queried {
        assert!(
            exposed.contains(name),
            "the dashboard queries {name}, which /metrics does not write (it writes {exposed:?})"
        );
    }
}
