//! Issue 19: three station daemons (three processes, data folders and station ids, one schema)
//! on a PostgreSQL server of the test's own, which is restarted (fast stop, then start) while
//! their lanes hold cards. Every daemon's pool loses all its connections at once: each says its
//! store is down meanwhile, reconnects by itself, and every job ends issued, with its own number,
//! none issued twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ecard_station::store::Store;

mod fleet;

use fleet::{Daemon, check_batch, http, jobs};

/// Longer than the outage, so that a lease does not run out while the server is away.
const LEASE_SECONDS: u64 = 10;

fn on_lane(j: &serde_json::Value) -> bool {
    matches!(
        j["state"].as_str(),
        Some("numbered" | "encoding" | "verifying" | "printing")
    )
}

#[test]
fn three_stations_ride_out_a_postgres_restart_mid_batch() {
    let Some(server) = fleet::own_server() else {
        return;
    };
    let (url, schema) = (server.url(), "fleet".to_string());
    let tmp = tempfile::tempdir().unwrap();
    let daemons: Vec<Daemon> =
        fleet::three_stations(tmp.path(), "pgr", &url, &schema, LEASE_SECONDS, |_| {
            Vec::new()
        });

    let total = 60;
    let ids = fleet::submit_batch(&daemons, "PGR", total);

    // Restart once every station's lanes hold cards and a few cards are out.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let all = jobs(&daemons[0]).unwrap_or_default();
        let busy: BTreeSet<&str> = all
            .iter()
            .filter(|j| on_lane(j))
            .filter_map(|j| j["station"].as_str())
            .collect();
        let issued = all.iter().filter(|j| j["state"] == "issued").count();
        if busy.len() == 3 && issued >= 3 {
            println!("restarting PostgreSQL with {issued} of {total} issued");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stations never all held cards"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
    let down_at = Instant::now();
    let mut saw_down = BTreeSet::new();
    while down_at.elapsed() < Duration::from_secs(2) {
        for (i, d) in daemons.iter().enumerate() {
            if http(d, "GET", "/api/v1/healthz", b"").0 == 503 {
                saw_down.insert(i);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.start();
    let outage = down_at.elapsed();
    assert_eq!(
        saw_down.len(),
        3,
        "every station's /healthz reports the store down during the outage"
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    let mut back = None;
    let mut last = String::new();
    loop {
        if let Some(all) = jobs(&daemons[1]) {
            back.get_or_insert_with(|| down_at.elapsed());
            let issued = fleet::issued_none_in_review(&all);
            last = format!("{issued} of {total} issued");
            if issued == total as usize {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "jobs did not finish after the restart: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for d in &daemons {
        assert_eq!(http(d, "GET", "/api/v1/healthz", b"").0, 200);
    }
    println!(
        "server down {:.1} s; a station answered from the store again {:.1} s after the stop",
        outage.as_secs_f64(),
        back.unwrap_or_default().as_secs_f64()
    );
    let store = Store::open_postgres(&url, &schema).unwrap();
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let by_station: Vec<usize> = (1..=3)
        .map(|n| {
            let prefix = format!("pgr-{n}/");
            entries
                .iter()
                .filter(|e| e.to_state == "issued")
                .filter(|e| e.lane.as_deref().is_some_and(|l| l.starts_with(&prefix)))
                .count()
        })
        .collect();
    println!("cards issued by pgr-1, pgr-2, pgr-3: {by_station:?}");
    drop(daemons);
    check_batch(&store, &ids);
}
