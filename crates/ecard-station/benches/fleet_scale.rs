//! The shared store under a fleet, printed as a table (no assertions): run with
//! `cargo bench -p ecard-station --bench fleet_scale` (PostgreSQL at `ECARD_TEST_PG_URL`, default
//! 127.0.0.1:5432 database `test`).
//!
//! For 1, 2, 5 and 10 stations of 4 lanes each on one PostgreSQL schema, every lane runs the
//! store's side of a card with zero device time (claim a job and its number, then verifying,
//! printing, issued), so the store is the bottleneck. Each station has its pool of connections
//! as the daemon does (lanes * 2 + 4 at most). Reported: claims a second, p50/p99 of a claim (claim + number + lease in one
//! transaction, including the wait for the station's connection) and of a state commit, and the
//! connections open. `--out DIR` also writes `fleet-scale.md` and `fleet-scale.svg` there.
//! `--device-ms E,P` gives every card an encode time of E ms (after the claim) and a print time
//! of P ms (before `issued`), a real line's times scaled down (100x: `60,150`); the files are then
//! `fleet-scale-E-P.*`.
//! `FLEET_POOL=N` sets every station's pool size instead (1: one connection, as before the pool).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecard_station::job::JobState;
use ecard_station::store::{Actor, NewJob, PgOptions, StepInfo, Store};

const LANES: usize = 4;
const JOBS_PER_LANE: usize = 25;
/// Cards of each lane not counted in the latencies: the pool's connections open and the
/// station's first number block is reserved while every lane starts at the same instant.
const WARMUP: usize = 2;

fn pg_url() -> String {
    std::env::var("ECARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Row {
    stations: usize,
    claims_per_s: f64,
    claim_p50: f64,
    claim_p99: f64,
    commit_p50: f64,
    commit_p99: f64,
    connections: i64,
}

fn connections(url: &str, schema: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    // Every store connection sets its search_path to the schema; count the backends that did.
    let row = c
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            &[],
        )
        .unwrap();
    let _ = schema;
    row.get::<_, i64>(0)
}

fn run(stations: usize, device: (Duration, Duration)) -> Row {
    let url = pg_url();
    let schema = format!("ecard_bench_{:016x}", rand::random::<u64>());
    let baseline = connections(&url, &schema);
    let first = Store::open_postgres(&url, &schema).unwrap();
    first.ensure_series(77).unwrap();
    let jobs = stations * LANES * JOBS_PER_LANE;
    let intake = Actor::named("bench-intake");
    for i in 0..jobs {
        let (job, _) = first
            .submit(
                &NewJob {
                    application_id: format!("BENCH-{i:06}"),
                    record_json: format!("{{\"application_id\":\"BENCH-{i:06}\"}}"),
                    chip_images_json: "{}".into(),
                    late_notification: false,
                    replaces: None,
                },
                &intake,
                now_ms(),
            )
            .unwrap();
        first
            .step(
                job.id,
                JobState::Validated,
                &intake,
                &StepInfo::default(),
                now_ms(),
            )
            .unwrap();
    }
    drop(first);
    let stores: Vec<Arc<Store>> = (0..stations)
        .map(|s| {
            let mut options = PgOptions::for_lanes(LANES);
            if let Some(n) = std::env::var("FLEET_POOL")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                options.pool = n;
            }
            Arc::new(
                Store::open_postgres_with(&url, &schema, &options)
                    .unwrap()
                    .for_station(&format!("bench-{s}")),
            )
        })
        .collect();
    let started = Instant::now();
    let mut handles = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for l in 0..LANES {
            let store = store.clone();
            handles.push(std::thread::spawn(move || {
                let station = format!("bench-{s}");
                let lane = format!("lane-{l}");
                let actor = Actor::lane(&station, &lane);
                let (mut claims, mut commits) = (Vec::new(), Vec::new());
                for card in 0.. {
                    let counted = card >= WARMUP;
                    let t = Instant::now();
                    let now = now_ms();
                    let claimed = store
                        .claim_to_encode(&station, &lane, 77, now, now + 30_000)
                        .unwrap();
                    if counted {
                        claims.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    let Some(c) = claimed else { break };
                    std::thread::sleep(device.0);
                    for to in [JobState::Verifying, JobState::Printing, JobState::Issued] {
                        if to == JobState::Issued {
                            std::thread::sleep(device.1);
                        }
                        let t = Instant::now();
                        store
                            .step(c.job.id, to, &actor, &StepInfo::default(), now_ms())
                            .unwrap();
                        if counted {
                            commits.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                }
                (claims, commits)
            }));
        }
    }
    // Connections while the lanes run.
    std::thread::sleep(Duration::from_millis(200));
    let used = connections(&url, &schema) - baseline;
    let (mut claims, mut commits) = (Vec::new(), Vec::new());
    for h in handles {
        let (c, m) = h.join().unwrap();
        claims.extend(c);
        commits.extend(m);
    }
    let took = started.elapsed();
    claims.sort_by(f64::total_cmp);
    commits.sort_by(f64::total_cmp);
    drop(stores);
    let _ = Store::drop_pg_schema(&url, &schema);
    Row {
        stations,
        claims_per_s: jobs as f64 / took.as_secs_f64(),
        claim_p50: pct(&claims, 0.5),
        claim_p99: pct(&claims, 0.99),
        commit_p50: pct(&commits, 0.5),
        commit_p99: pct(&commits, 0.99),
        connections: used,
    }
}

fn svg(rows: &[Row], device: &str) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 400.0, 70.0, 70.0, 40.0, 50.0);
    let max_x = 10.0f64;
    let max_rate = rows.iter().map(|r| r.claims_per_s).fold(1.0, f64::max) * 1.15;
    let max_ms = rows.iter().map(|r| r.claim_p99).fold(50.0, f64::max) * 1.15;
    let x = |v: f64| left + (w - left - right) * v / max_x;
    let yr = |v: f64| h - bottom - (h - top - bottom) * v / max_rate;
    let ym = |v: f64| h - bottom - (h - top - bottom) * v / max_ms;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="white"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">Stations of {LANES} lanes on one PostgreSQL{device}: claims/s (blue) and p99 claim ms (red)</text>"#,
        w / 2.0
    );
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{0}" stroke="#333"/><line x1="{1}" y1="{top}" x2="{1}" y2="{0}" stroke="#333"/>"##,
        h - bottom,
        w - right
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#1565c0">{:.0}</text><text x="{}" y="{:.1}" fill="#c62828">{:.0} ms</text>"##,
            left - 6.0,
            yr(max_rate * f) + 4.0,
            max_rate * f,
            w - right + 6.0,
            ym(max_ms * f) + 4.0,
            max_ms * f
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#c62828" stroke-dasharray="5 4"/><text x="{2}" y="{3:.1}" fill="#c62828" text-anchor="end">target p99 50 ms</text>"##,
        ym(50.0),
        w - right,
        w - right - 4.0,
        ym(50.0) - 4.0
    );
    for r in rows {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(r.stations as f64),
            h - bottom + 18.0,
            r.stations
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">stations ({LANES} lanes each)</text>"#,
        (left + w - right) / 2.0,
        h - 12.0
    );
    let line = |f: &dyn Fn(&Row) -> (f64, f64), color: &str| {
        let pts: Vec<String> = rows
            .iter()
            .map(|r| {
                let (a, b) = f(r);
                format!("{a:.1},{b:.1}")
            })
            .collect();
        format!(
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            pts.join(" ")
        )
    };
    s.push_str(&line(
        &|r| (x(r.stations as f64), yr(r.claims_per_s)),
        "#1565c0",
    ));
    s.push_str(&line(
        &|r| (x(r.stations as f64), ym(r.claim_p99)),
        "#c62828",
    ));
    s.push_str("</svg>\n");
    s
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing to run.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let device_ms: Option<(u64, u64)> = args
        .iter()
        .position(|a| a == "--device-ms")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            let (e, p) = v.split_once(',').expect("--device-ms ENCODE,PRINT");
            (e.parse().unwrap(), p.parse().unwrap())
        });
    let device = device_ms.map_or((Duration::ZERO, Duration::ZERO), |(e, p)| {
        (Duration::from_millis(e), Duration::from_millis(p))
    });
    if let Err(e) = postgres::Client::connect(&pg_url(), postgres::NoTls) {
        println!("skipped: PostgreSQL at {} unreachable: {e}", pg_url());
        return;
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| stations x lanes | claims/s | claim p50 ms | claim p99 ms | commit p50 ms | commit p99 ms | connections |"
    );
    let _ = writeln!(table, "|---|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for stations in [1, 2, 5, 10] {
        let r = run(stations, device);
        let _ = writeln!(
            table,
            "| {} x {LANES} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            r.stations,
            r.claims_per_s,
            r.claim_p50,
            r.claim_p99,
            r.commit_p50,
            r.commit_p99,
            r.connections
        );
        rows.push(r);
    }
    if let Some((e, p)) = device_ms {
        let _ = writeln!(
            table,
            "\nDevice times per card: encode {e} ms, print {p} ms (each lane: claim, encode, verifying, printing, print, issued)."
        );
    }
    print!("{table}");
    if let Some(last) = rows.last() {
        println!(
            "p99 claim at {} x {LANES}: {:.1} ms against the 50 ms target: ratio {:.2}",
            last.stations,
            last.claim_p99,
            last.claim_p99 / 50.0
        );
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).unwrap();
        let name = match device_ms {
            Some((e, p)) => format!("fleet-scale-{e}-{p}"),
            None => "fleet-scale".to_string(),
        };
        std::fs::write(format!("{dir}/{name}.md"), &table).unwrap();
        std::fs::write(
            format!("{dir}/{name}.svg"),
            svg(
                &rows,
                &match device_ms {
                    Some((e, p)) => format!(", encode {e} ms + print {p} ms a card"),
                    None => String::new(),
                },
            ),
        )
        .unwrap();
        println!("written: {dir}/{name}.md and {dir}/{name}.svg");
    }
}
