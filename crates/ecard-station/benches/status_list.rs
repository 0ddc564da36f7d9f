//! `GET /api/v1/status-list` under load, printed as numbers (no assertions): run with
//! `cargo bench -p ecard-station --bench status_list`.
//!
//! The station's router on a real socket at 127.0.0.1, 100 revocations in SQLite, client threads
//! sending keep-alive requests for a few seconds: requests a second with the list signed once per
//! change (as served), against signing it per request (what the route did before), and how many
//! signatures each made. Then 50 idle console event streams held open for 10 s: the process's CPU
//! time over that window, as a share of one core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ecard_station::auth::Auth;
use ecard_station::chip::Pki;
use ecard_station::server::{Settings, Station};
use ecard_station::store::Store;

const CLIENTS: usize = 4;
const SECONDS: u64 = 4;

/// Keep-alive GETs of `path` until `stop`; returns how many answered 200.
fn client(addr: SocketAddr, path: &'static str, stop: Arc<AtomicBool>, n: Arc<AtomicU64>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    while !stop.load(Ordering::Relaxed) {
        s.write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut len = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
        n.fetch_add(1, Ordering::Relaxed);
    }
}

fn load(addr: SocketAddr, path: &'static str) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, n) = (stop.clone(), n.clone());
            std::thread::spawn(move || client(addr, path, stop, n))
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(SECONDS));
    stop.store(true, Ordering::Relaxed);
    let took = t.elapsed();
    for h in handles {
        h.join().unwrap();
    }
    n.load(Ordering::Relaxed) as f64 / took.as_secs_f64()
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Opens `n` event streams, reads their first event, then holds them idle for `window`; returns
/// the CPU used meanwhile as a share of one core.
fn idle_streams(addr: SocketAddr, n: usize, window: Duration) -> f64 {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bench-operator-token\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while !line.starts_with("event: snapshot") {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        streams.push((s, r));
    }
    let (t, cpu) = (Instant::now(), cpu_seconds());
    std::thread::sleep(window);
    let used = cpu_seconds() - cpu;
    drop(streams);
    used / t.elapsed().as_secs_f64()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_sqlite(&dir.path().join("station.db")).unwrap());
    for i in 0..100 {
        store
            .exec_raw(&format!(
                "INSERT INTO revocations (document_number, reason, since) VALUES ('77{i:07}', 'lost', '2026-11-01')"
            ))
            .unwrap();
    }
    // 500 jobs: what a console's stream reads at each wake-up.
    for i in 0..500 {
        store
            .submit(
                &ecard_station::store::NewJob {
                    application_id: format!("BENCH-{i:04}"),
                    record_json: "{}".into(),
                    chip_images_json: "{}".into(),
                    late_notification: false,
                    replaces: None,
                },
                &ecard_station::store::Actor::named("bench"),
                i,
            )
            .unwrap();
    }
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut auth = Auth::default();
    auth.add_token(
        "console",
        ecard_station::auth::Role::Operator,
        "bench-operator-token",
    );
    let station = Station::new(store.clone(), Settings::default(), auth);
    station.publish_status_list(pki.clone());
    // The route as it was: a fresh signature per request, for comparison.
    let uncached = {
        let (store, pki) = (store.clone(), pki.clone());
        axum::Router::new().route(
            "/uncached",
            axum::routing::get(move || {
                let (store, pki) = (store.clone(), pki.clone());
                async move {
                    tokio::task::spawn_blocking(move || {
                        ecard_station::status::signed_list(
                            &store,
                            &pki,
                            time::OffsetDateTime::now_utc(),
                        )
                        .unwrap()
                    })
                    .await
                    .unwrap()
                }
            }),
        )
    };
    let app = ecard_station::api::router(station.clone()).merge(uncached);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    std::thread::sleep(Duration::from_millis(100));
    let served = load(addr, "/api/v1/status-list");
    let signed = station.status_cache().signatures();
    let per_request = load(addr, "/uncached");
    let idle = idle_streams(addr, 50, Duration::from_secs(10));
    println!(
        "50 idle console event streams over 500 jobs for 10 s: {:.2}% of one core (target under 5%)",
        idle * 100.0
    );
    println!(
        "status list, {CLIENTS} keep-alive clients, {SECONDS} s each, 100 revocations: {served:.0} requests/s signed once per change ({signed} signature(s)) against {per_request:.0} requests/s signed per request: {:.1}x; target 5000 requests/s: {:.2} of it",
        served / per_request.max(1.0),
        served / 5000.0
    );
}
