//! Issue 13 item 8: two daemons with the same station id on one database are refused at start
//! (they would take each other's leases), naming the id and the daemon holding it; a daemon that
//! was killed leaves no lock behind; a clean stop releases the id at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ecard_station::store::Store;

#[path = "../support/station.rs"]
mod station;

fn config(url: &str, schema: &str) -> String {
    format!(
        "station_id = \"dup-1\"\nlease_seconds = 3\ntest_transport_key = true\n[store]\npostgres = \"{url}\"\npostgres_schema = \"{schema}\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\n"
    )
}

fn ecard() -> Command {
    let mut c = Command::new(ecard_system_tests::ecard_bin());
    c.env("ECARD_LOG", "warn");
    c
}

/// Runs `station serve` to its end (a refused start ends by itself) and returns its exit code,
/// output and how long it took.
fn refused_start(dir: &Path) -> (Option<i32>, String, Duration) {
    let t = Instant::now();
    let out = ecard()
        .args(["station", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("station.toml"))
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        t.elapsed(),
    )
}

#[test]
fn a_second_daemon_with_the_same_station_id_is_refused() {
    let Some(pg) = ecard_system_tests::pg_schema() else {
        return;
    };
    let (url, schema) = (pg.url.clone(), pg.schema.clone());
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("station.toml"), config(&url, &schema)).unwrap();
    }
    let (mut first, _) = station::serve_station(ecard(), &a, Some(&a.join("station.toml")));

    // The same id from another data folder (another machine, in real life): refused.
    let (code, out, took) = refused_start(&b);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("station id \"dup-1\" is in use by another running daemon"),
        "{out}"
    );
    assert!(out.contains(&format!("pid {}", first.id())), "{out}");
    assert!(took < Duration::from_secs(30), "{took:?}");

    // Killed with SIGKILL: its claim is stale at once on this host.
    first.kill().unwrap();
    first.wait().unwrap();
    let t = Instant::now();
    let (mut second, _) = station::serve_station(ecard(), &b, Some(&b.join("station.toml")));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    // A clean stop releases the id: the next start does not wait.
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = second.wait().unwrap();
    assert!(exit.success(), "the second daemon's clean stop: {exit:?}");
    let claim = Store::open_postgres(&url, &schema)
        .unwrap()
        .station_claim("dup-1")
        .unwrap()
        .unwrap();
    assert_eq!(claim.heartbeat_ms, 0, "a clean stop releases the id");
    let (mut third, _) = station::serve_station(ecard(), &a, Some(&a.join("station.toml")));
    let _ = third.kill();
    let _ = third.wait();
}

#[test]
fn two_daemons_on_one_sqlite_data_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut first, _) = station::serve_station(ecard(), dir, None);
    let t = Instant::now();
    let out = ecard()
        .args(["station", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("is in use by another running daemon"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
    let _ = first.kill();
    let _ = first.wait();
}
