//! Three station daemons (three processes, three data folders, three station ids) share one
//! PostgreSQL schema. 60 enrollments go to all three; one daemon is killed with SIGKILL while its
//! lanes hold cards and is not restarted: the other two take its jobs over once its leases run
//! out, every job ends issued, no number is issued twice, and the takeover comes within the lease
//! plus 5 s. The fleet view of a surviving station flags the dead one. Restarting the killed
//! daemon then changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ecard_station::store::Store;

#[path = "../support/station.rs"]
mod station;

const LEASE_SECONDS: u64 = 5;

struct Daemon {
    child: Child,
    addr: SocketAddr,
    token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key`: the data key all three share (stations on one database open each other's records).
fn config(id: &str, url: &str, schema: &str, key: &Path) -> String {
    let lane = |n: u32| {
        format!(
            "[[lanes]]\nname = \"lane-{n}\"\nencoder = \"sim:blanks/lane-{n}\"\nmake_blanks = true\nreal_time = true\nprint_ms = 300\n"
        )
    };
    format!(
        "station_id = \"{id}\"\nlease_seconds = {LEASE_SECONDS}\ntest_transport_key = true\ndata_key_file = \"{}\"\n[store]\npostgres = \"{url}\"\npostgres_schema = \"{schema}\"\n{}{}",
        key.display(),
        lane(1),
        lane(2)
    )
}

fn start(dir: &Path) -> Daemon {
    let mut ecard = Command::new(ecard_system_tests::ecard_bin());
    ecard.env("ECARD_LOG", "warn");
    let (child, base) = station::serve_station(ecard, dir, Some(&dir.join("station.toml")));
    Daemon {
        child,
        addr: base.trim_start_matches("http://").parse().unwrap(),
        token: station::admin_token(dir),
    }
}

fn http(d: &Daemon, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        d.token,
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The `n`-th enrollment: its own application and holder (identity document, birth date).
fn record(n: u32) -> Vec<u8> {
    let mut r = station::sample_enrollment(&format!("MMC-FLEET-{n:04}"));
    r["identity_document"]["number"] = format!("FL{n:07}").into();
    r["date_of_birth"] = format!("{}-{:02}-{:02}", 1960 + n % 40, 1 + n % 12, 1 + n % 28).into();
    r.to_string().into_bytes()
}

fn jobs(d: &Daemon) -> Vec<serde_json::Value> {
    let (status, list) = http(d, "GET", "/api/v1/jobs?limit=1000", b"");
    assert_eq!(status, 200, "{list}");
    list["jobs"].as_array().unwrap().clone()
}

fn on_lane(j: &serde_json::Value) -> bool {
    matches!(
        j["state"].as_str(),
        Some("numbered" | "encoding" | "verifying" | "printing")
    )
}

#[test]
fn a_killed_station_s_jobs_are_finished_by_the_others() {
    let Some(pg) = ecard_system_tests::pg_schema() else {
        return;
    };
    let (url, schema) = (pg.url.clone(), pg.schema.clone());
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("data.key");
    ecard_station::vault::FileKek::create(&key).unwrap();
    let dirs: Vec<_> = (1..=3)
        .map(|n| {
            let d = tmp.path().join(format!("station-{n}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("station.toml"),
                config(&format!("fleet-{n}"), &url, &schema, &key),
            )
            .unwrap();
            d
        })
        .collect();
    let mut daemons: Vec<Option<Daemon>> = dirs.iter().map(|d| Some(start(d))).collect();

    let total = 60;
    let mut ids = BTreeSet::new();
    for n in 0..total {
        let d = daemons[(n % 3) as usize].as_ref().unwrap();
        let (status, job) = http(d, "POST", "/api/v1/enrollments", &record(n));
        assert_eq!(status, 202, "enrollment {n}: {job}");
        ids.insert(job["id"].as_i64().unwrap());
    }

    // Kill fleet-2 while its lanes hold cards.
    let survivor = daemons[0].take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let held: BTreeSet<i64> = loop {
        let held: BTreeSet<i64> = jobs(&survivor)
            .iter()
            .filter(|j| j["station"] == "fleet-2" && on_lane(j))
            .map(|j| j["id"].as_i64().unwrap())
            .collect();
        if !held.is_empty() {
            break held;
        }
        assert!(Instant::now() < deadline, "fleet-2 never took a job");
        std::thread::sleep(Duration::from_millis(50));
    };
    let victim = daemons[1].take().unwrap();
    let mut child = kill9_keep(victim);
    let killed_at = Instant::now();

    // The first of its jobs to move again marks the takeover.
    let mut takeover = None;
    let mut reviewed = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let all = jobs(&survivor);
        if takeover.is_none()
            && all
                .iter()
                .any(|j| held.contains(&j["id"].as_i64().unwrap()) && j["station"] != "fleet-2")
        {
            takeover = Some(killed_at.elapsed());
        }
        // A card the dead station had verified and was printing may have been delivered: it
        // waits for an operator, who here confirms it (the card is in the dead lane's folder).
        for j in all.iter().filter(|j| j["state"] == "needs_review") {
            let path = format!("/api/v1/jobs/{}/confirm", j["id"]);
            let (status, body) = http(&survivor, "POST", &path, b"");
            assert_eq!(status, 200, "{body}");
            reviewed += 1;
        }
        let issued = all.iter().filter(|j| j["state"] == "issued").count();
        if issued == total as usize && takeover.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {issued} of {total} issued, takeover {takeover:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover = takeover.unwrap();
    println!(
        "takeover {:.2} s after the kill (lease {LEASE_SECONDS} s); {reviewed} printed card(s) confirmed after review",
        takeover.as_secs_f64()
    );
    assert!(
        takeover <= Duration::from_secs(LEASE_SECONDS + 5),
        "takeover took {takeover:?}, more than the lease + 5 s"
    );

    // The fleet view of a survivor flags the dead station.
    let (status, fleet) = http(&survivor, "GET", "/api/v1/fleet", b"");
    assert_eq!(status, 200, "{fleet}");
    assert_eq!(fleet["stopped"], serde_json::json!(["fleet-2"]), "{fleet}");
    assert_eq!(fleet["stations"].as_array().unwrap().len(), 3, "{fleet}");

    // Invariants from the store itself.
    let store = Store::open_postgres(&url, &schema).unwrap();
    let check = |store: &Store| {
        let all = store.list(None, 10_000).unwrap();
        assert_eq!(all.len(), total as usize);
        assert!(all.iter().all(|j| j.state.as_str() == "issued"));
        let numbers = store.numbers().unwrap();
        let issued: Vec<_> = numbers.iter().filter(|n| n.status == "issued").collect();
        assert_eq!(issued.len(), total as usize, "one issued number per job");
        let jobs_with_number: BTreeSet<i64> = issued.iter().map(|n| n.job_id).collect();
        assert_eq!(jobs_with_number, ids);
        assert!(
            numbers
                .iter()
                .all(|n| n.status == "issued" || n.status == "voided"),
            "a number was left assigned"
        );
        let (entries, head, states) = store.audit_snapshot().unwrap();
        ecard_station::audit::verify_chain(&entries, (head.0, &head.1)).unwrap();
        ecard_station::audit::verify_jobs(&entries, &states).unwrap();
        let mut issued_entries: BTreeMap<i64, usize> = BTreeMap::new();
        for e in entries.iter().filter(|e| e.to_state == "issued") {
            *issued_entries.entry(e.job_id).or_default() += 1;
        }
        assert!(
            issued_entries.values().all(|n| *n == 1),
            "a job was issued twice"
        );
        numbers
            .iter()
            .map(|n| (n.document_number.clone(), n.status.clone()))
            .collect::<Vec<_>>()
    };
    let before = check(&store);
    let taken_by_others = store
        .list(None, 10_000)
        .unwrap()
        .into_iter()
        .filter(|j| held.contains(&j.id))
        .all(|j| j.station.as_deref() != Some("fleet-2"));
    assert!(
        taken_by_others,
        "a job of the dead station was issued by it"
    );

    // Restart the killed daemon: nothing changes.
    let _ = child.wait();
    let back = start(&dirs[1]);
    std::thread::sleep(Duration::from_secs(3));
    let (status, _) = http(&back, "GET", "/api/v1/healthz", b"");
    assert_eq!(status, 200);
    assert_eq!(
        check(&store),
        before,
        "the restarted station changed jobs or numbers"
    );
    drop(back);
    drop(survivor);
}

/// SIGKILL (std's `Child::kill` on Unix), keeping the child to reap later.
fn kill9_keep(mut d: Daemon) -> Child {
    d.child.kill().unwrap();
    let placeholder = Command::new("true").spawn().unwrap();
    std::mem::replace(&mut d.child, placeholder)
}
