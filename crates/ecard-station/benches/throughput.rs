//! Station throughput, printed as numbers and ratios (no assertions): run with
//! `cargo bench -p ecard-station --bench throughput`.
//!
//! (a) Zero-latency simulated devices, durable SQLite (WAL, synchronous=FULL), two lanes on the
//!     real chip path (perso + read-back + checkpoint verification with AA per card): cards/s of
//!     the lanes alone (queue pre-filled), of intake alone (validation + image conversion), and
//!     end to end (submitters and lanes at once).
//! (b) Device times of a real line scaled down 100x (encode 6 s → 60 ms, print 15 s → 150 ms):
//!     the line's cards/s against its slowest stage (printing: lanes / 150 ms).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecard_chip::profile::Profile;
use ecard_station::auth::Auth;
use ecard_station::chip::{CardSource, ChipEncoder, Pki};
use ecard_station::job::JobState;
use ecard_station::lane::{CardEncoder, CardError, EncodeJob, EncodedCard, Lane, SimPrinter};
use ecard_station::server::{LaneSet, Settings, Station};
use ecard_station::store::{Actor, Store};

/// Pads the real encoder's `encode` to a fixed device time (a slower card OS).
struct Paced {
    inner: ChipEncoder,
    encode_time: Duration,
}

impl CardEncoder for Paced {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn ready(&mut self) -> Result<(), CardError> {
        self.inner.ready()
    }
    fn encode(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        let start = Instant::now();
        let r = self.inner.encode(job);
        if let Some(rest) = self.encode_time.checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
        r
    }
    fn verify(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<EncodedCard, CardError> {
        self.inner.verify(job, card)
    }
    fn recheck(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        self.inner.recheck(job)
    }
    fn reject(&mut self, job: &EncodeJob) -> Result<(), CardError> {
        self.inner.reject(job)
    }
}

fn record(app: &str) -> Vec<u8> {
    use base64::Engine as _;
    let samples = format!("{}/../../samples/karimov", env!("CARGO_MANIFEST_DIR"));
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(format!("{samples}/{f}")).unwrap())
    };
    serde_json::json!({
        "application_id": app,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": "1990-05-17", "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": "FA1234567", "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01"},
        "photo": {"base64": b64("photo.jpg")},
        "signature": {"base64": b64("signature.png")},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
    .to_string()
    .into_bytes()
}

struct Line {
    _dir: tempfile::TempDir,
    station: Station,
    lanes: Vec<Lane>,
}

fn line(lanes: usize, encode: Duration, print: Duration) -> Line {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("station.db")).unwrap();
    store.ensure_series(77).unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let station = Station::new(
        Arc::new(store),
        Settings {
            poll: Duration::from_millis(5),
            ..Settings::default()
        },
        Auth::default(),
    );
    let lanes = (1..=lanes)
        .map(|n| {
            let name = format!("lane-{n}");
            let inner = ChipEncoder::new(
                &name,
                CardSource::Sim {
                    blanks: dir.path().join("blanks"),
                    make_blanks: true,
                },
                Profile::builtin("ecard-sim").unwrap(),
                pki.clone(),
                dir.path(),
            );
            Lane {
                name,
                encoder: Box::new(Paced {
                    inner,
                    encode_time: encode,
                }),
                printer: Box::new(SimPrinter {
                    per_card: print,
                    output_dir: dir.path().join("cards"),
                }),
            }
        })
        .collect();
    Line {
        _dir: dir,
        station,
        lanes,
    }
}

async fn submit_all(station: &Station, prefix: &str, n: usize, submitters: usize) {
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let st = station.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::named("bench");
            for i in (s..n).step_by(submitters) {
                let r = st
                    .submit(&record(&format!("{prefix}-{i:06}")), &actor)
                    .await;
                assert_eq!(r.unwrap().job.state, JobState::Validated);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn wait_issued(station: &Station, n: i64) {
    loop {
        let st = station.clone();
        let issued = tokio::task::spawn_blocking(move || {
            st.store()
                .counts()
                .unwrap()
                .into_iter()
                .find(|(s, _)| *s == JobState::Issued)
                .map_or(0, |(_, n)| n)
        })
        .await
        .unwrap();
        if issued >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CPU time this process has used (user + system), from /proc/self/stat on Linux: the machine
/// is shared, so cards per CPU-second is the number that does not depend on other load.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the command name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn bench_a() {
    let n = 400;
    // Lanes alone: the queue is filled first.
    let Line {
        _dir,
        station,
        lanes,
        ..
    } = line(2, Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    submit_all(&station, "A", n, 2).await;
    let intake = t.elapsed();
    let t = Instant::now();
    let cpu0 = cpu_time();
    let set = LaneSet::start(&station, lanes).await;
    wait_issued(&station, n as i64).await;
    let pipeline = t.elapsed();
    let cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    set.stop().await;
    println!(
        "(a) lanes alone: {n} cards in {:.2} s = {:.0} cards/s (2 lanes, sim cards, durable SQLite)",
        pipeline.as_secs_f64(),
        rate(n, pipeline)
    );
    if let Some(cpu) = cpu {
        println!(
            "(a) lanes alone used {:.2} ms of CPU per card: {:.0} cards/s per fully available core",
            cpu.as_secs_f64() * 1000.0 / n as f64,
            rate(n, cpu)
        );
    }
    println!(
        "(a) intake alone: {n} records in {:.2} s = {:.0} records/s (validation + DG2/DG7 JPEGs, 2 submitters)",
        intake.as_secs_f64(),
        rate(n, intake)
    );
    // What intake costs without the station: ecard_imaging::prepare_enrollment on one core.
    let rec = String::from_utf8(record("P-1")).unwrap();
    let today = time::macros::date!(2026 - 11 - 25);
    let t = Instant::now();
    let m = 40;
    for _ in 0..m {
        let mut no_files =
            |_: &ecard_model::ImageRef| -> Result<Vec<u8>, String> { Err("inline only".into()) };
        ecard_imaging::prepare_enrollment(&rec, &mut no_files, today, Default::default()).unwrap();
    }
    let prep = t.elapsed();
    println!(
        "(a) of which ecard_imaging::prepare_enrollment alone: {:.1} ms per record on one core = {:.0} records/s",
        prep.as_secs_f64() * 1000.0 / m as f64,
        rate(m, prep)
    );
    // End to end: submitters and lanes share the 2 cores.
    let Line {
        _dir,
        station,
        lanes,
        ..
    } = line(2, Duration::ZERO, Duration::ZERO);
    let set = LaneSet::start(&station, lanes).await;
    let t = Instant::now();
    submit_all(&station, "E", n, 2).await;
    wait_issued(&station, n as i64).await;
    let e2e = t.elapsed();
    set.stop().await;
    println!(
        "(a) end to end: {n} records to issued cards in {:.2} s = {:.0} cards/s",
        e2e.as_secs_f64(),
        rate(n, e2e)
    );
}

async fn bench_b() {
    let (encode, print) = (Duration::from_millis(60), Duration::from_millis(150));
    let lanes = 2;
    let n = 80;
    let Line {
        _dir,
        station,
        lanes: l,
        ..
    } = line(lanes, encode, print);
    submit_all(&station, "B", n, 2).await;
    let t = Instant::now();
    let set = LaneSet::start(&station, l).await;
    wait_issued(&station, n as i64).await;
    let took = t.elapsed();
    set.stop().await;
    let measured = rate(n, took);
    // The slowest stage is printing: each lane prints one card per `print`.
    let bound = lanes as f64 / print.as_secs_f64();
    println!(
        "(b) scaled line (encode 60 ms, print 150 ms, {lanes} lanes): {n} cards in {:.2} s = {measured:.2} cards/s; slowest stage allows {bound:.2} cards/s; ratio {:.3}",
        took.as_secs_f64(),
        measured / bound
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing to run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        bench_a().await;
        bench_b().await;
    });
}
