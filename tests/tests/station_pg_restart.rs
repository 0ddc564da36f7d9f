//! Issue 13 item 9: a PostgreSQL restart in the middle of a batch. The test runs its own server
//! (initdb + pg_ctl on a free port, as the `postgres` user; the machine's server is left alone),
//! a station daemon on it, submits 20 enrollments, restarts the server while lanes work:
//! `/healthz` says the store is down meanwhile, the daemon reconnects by itself, and every job
//! ends issued once with its own number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ecard_station::store::Store;

mod fleet;
use fleet::station;

fn healthz(base: &str) -> u16 {
    match ureq::get(&format!("{base}/api/v1/healthz")).call() {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(c)) => c,
        Err(_) => 0,
    }
}

fn jobs(base: &str, token: &str) -> Option<Vec<serde_json::Value>> {
    let mut r = ureq::get(&format!("{base}/api/v1/jobs?limit=1000"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
    v["jobs"].as_array().cloned()
}

#[test]
fn a_postgres_restart_mid_batch_loses_and_doubles_nothing() {
    let Some(server) = fleet::own_server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir: &Path = tmp.path();
    std::fs::write(
        dir.join("station.toml"),
        format!(
            "station_id = \"restart-test\"\nlease_seconds = 5\ntest_transport_key = true\n[store]\npostgres = \"{}\"\npostgres_schema = \"ecard\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\nreal_time = true\nprint_ms = 200\n",
            server.url()
        ),
    )
    .unwrap();
    let mut ecard = Command::new(ecard_system_tests::ecard_bin());
    ecard.env("ECARD_LOG", "warn");
    let (mut daemon, base) = station::serve_station(ecard, dir, Some(&dir.join("station.toml")));
    let token = station::admin_token(dir);
    assert_eq!(healthz(&base), 200);
    let total = 20;
    let mut ids = BTreeSet::new();
    for n in 0..total {
        let body = station::sample_enrollment(&format!("MMC-PGR-{n:03}")).to_string();
        let mut r = ureq::post(&format!("{base}/api/v1/enrollments"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        let job: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        ids.insert(job["id"].as_i64().unwrap());
    }
    // Restart the server while the lane works: the store is down for a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while jobs(&base, &token)
        .unwrap_or_default()
        .iter()
        .filter(|j| j["state"] == "issued")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no card issued before the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
    let mut saw_down = false;
    for _ in 0..20 {
        if healthz(&base) == 503 {
            saw_down = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_down, "/healthz did not report the store down");
    std::thread::sleep(Duration::from_secs(2));
    server.start();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last: Vec<String> = Vec::new();
    loop {
        if let Some(all) = jobs(&base, &token) {
            last = all
                .iter()
                .map(|j| format!("{} {} {}", j["id"], j["state"], j["last_error"]))
                .collect();
            let issued = all.iter().filter(|j| j["state"] == "issued").count();
            let review: Vec<_> = all
                .iter()
                .filter(|j| j["state"] == "needs_review")
                .collect();
            assert!(review.is_empty(), "a card went to review: {review:?}");
            if issued == total as usize {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "jobs did not finish after the restart: {last:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(healthz(&base), 200);
    let _ = daemon.kill();
    let _ = daemon.wait();

    let store = Store::open_postgres(&server.url(), "ecard").unwrap();
    let all = store.list(None, 1000).unwrap();
    assert_eq!(all.len(), total as usize);
    let numbers = store.numbers().unwrap();
    let issued: Vec<_> = numbers.iter().filter(|n| n.status == "issued").collect();
    assert_eq!(issued.len(), total as usize, "one issued number per job");
    let jobs_with_number: BTreeSet<i64> = issued.iter().map(|n| n.job_id).collect();
    assert_eq!(jobs_with_number, ids);
    let (entries, head, states) = store.audit_snapshot().unwrap();
    ecard_station::audit::verify_chain(&entries, &head).unwrap();
    ecard_station::audit::verify_jobs(&entries, &states).unwrap();
    let issued_entries = entries.iter().filter(|e| e.to_state == "issued").count();
    assert_eq!(issued_entries, total as usize, "a job was issued twice");
    drop(store);
}
