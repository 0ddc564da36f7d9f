//! Station throughput, printed as numbers and ratios (no assertions): run with
//! `cargo bench -p ecard-station --bench throughput`.
//!
//! (a) Zero-latency simulated devices, durable SQLite (WAL, synchronous=FULL), two lanes on the
//!     real chip path (perso + read-back + checkpoint verification with AA per card): cards/s of
//!     the lanes alone (queue pre-filled), of intake alone (validation + image conversion), and
//!     end to end (submitters and lanes at once), with CPU per card. The records are the seven
//!     samples in turn.
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

/// The sample records (`samples/*.json`, seven people with seven photos and signatures), with
/// their images inline as the station takes them: a bench over one photo would flatter the
/// image work, whose cost depends on the picture.
fn samples() -> Vec<serde_json::Value> {
    use base64::Engine as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            for field in ["photo", "signature"] {
                let rel = v[field]["path"].as_str().unwrap().to_string();
                let bytes = std::fs::read(dir.join(rel)).unwrap();
                v[field] = serde_json::json!({
                    "base64": base64::engine::general_purpose::STANDARD.encode(bytes)
                });
            }
            // Every record a first issue: a replacement used again would (rightly) be rejected.
            v["application"] = serde_json::json!({"kind": "first_issue"});
            v
        })
        .collect()
}

/// `n` request bodies, the samples in turn, each with its own application id and its own holder:
/// the store allows one application in progress per holder (same identity document, or same
/// name, date of birth, sex and nationality), so each gets its own document number (without the
/// MRZ, which would have to agree with it) and a date of birth `i` days earlier.
fn bodies(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    let samples = samples();
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    (0..n)
        .map(|i| {
            let mut v = samples[i % samples.len()].clone();
            v["application_id"] = serde_json::json!(format!("{prefix}-{i:06}"));
            let doc = v["identity_document"].as_object_mut().unwrap();
            doc.remove("mrz");
            doc.insert("number".into(), serde_json::json!(format!("BENCH{i:06}")));
            let born = time::Date::parse(v["date_of_birth"].as_str().unwrap(), iso).unwrap();
            let born = born - time::Duration::days(i as i64);
            v["date_of_birth"] = serde_json::json!(born.format(iso).unwrap());
            serde_json::to_vec(&v).unwrap()
        })
        .collect()
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

async fn submit_all(station: &Station, bodies: Vec<Vec<u8>>, submitters: usize) {
    let bodies = Arc::new(bodies);
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let st = station.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::named("bench");
            for i in (s..bodies.len()).step_by(submitters) {
                let r = st.submit(&bodies[i], &actor).await;
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

/// Issue 19's target on 2 cores, for intake (records/s, with validation) and end to end
/// (cards/s). Before the intake work of December 2026 this bench measured 81 records/s intake
/// (19 ms of CPU per record) and 58-63 cards/s end to end; see the README's benchmark section.
const TARGET_RATE: f64 = 200.0;

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
    let input = bodies("A", n);
    let t = Instant::now();
    let cpu0 = cpu_time();
    submit_all(&station, input, 2).await;
    let intake = t.elapsed();
    let intake_cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
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
    if let Some(cpu) = intake_cpu {
        println!(
            "(a) intake used {:.2} ms of CPU per record",
            cpu.as_secs_f64() * 1000.0 / n as f64
        );
    }
    println!(
        "(a) intake against issue 19's target of {TARGET_RATE:.0} records/s on 2 cores: {:.2}",
        rate(n, intake) / TARGET_RATE
    );
    // What intake costs without the station: ecard_imaging::prepare_enrollment on one core.
    let recs: Vec<String> = bodies("P", 7)
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    let t = Instant::now();
    let m = 42;
    for i in 0..m {
        let mut no_files =
            |_: &ecard_model::ImageRef| -> Result<Vec<u8>, String> { Err("inline only".into()) };
        ecard_imaging::prepare_enrollment(
            &recs[i % recs.len()],
            &mut no_files,
            today,
            Default::default(),
        )
        .unwrap();
    }
    let prep = t.elapsed();
    println!(
        "(a) of which ecard_imaging::prepare_enrollment alone: {:.1} ms per record on one core = {:.0} records/s",
        prep.as_secs_f64() * 1000.0 / m as f64,
        rate(m, prep)
    );
    // As the station runs it: the face's search starts at the previous record's quality.
    let t = Instant::now();
    let mut start = None;
    for i in 0..m {
        let mut no_files =
            |_: &ecard_model::ImageRef| -> Result<Vec<u8>, String> { Err("inline only".into()) };
        let p = ecard_imaging::prepare_enrollment_from(
            &recs[i % recs.len()],
            &mut no_files,
            today,
            Default::default(),
            start,
        )
        .unwrap();
        start = Some(p.face.quality);
    }
    let hinted = t.elapsed();
    println!(
        "(a) the same starting at the previous record's face quality: {:.1} ms per record = {:.0} records/s ({:.2}x)",
        hinted.as_secs_f64() * 1000.0 / m as f64,
        rate(m, hinted),
        prep.as_secs_f64() / hinted.as_secs_f64()
    );
    // End to end: submitters and lanes share the 2 cores.
    let Line {
        _dir,
        station,
        lanes,
        ..
    } = line(2, Duration::ZERO, Duration::ZERO);
    let input = bodies("E", n);
    let set = LaneSet::start(&station, lanes).await;
    let t = Instant::now();
    let cpu0 = cpu_time();
    submit_all(&station, input, 2).await;
    wait_issued(&station, n as i64).await;
    let e2e = t.elapsed();
    let e2e_cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    set.stop().await;
    println!(
        "(a) end to end: {n} records to issued cards in {:.2} s = {:.0} cards/s",
        e2e.as_secs_f64(),
        rate(n, e2e)
    );
    if let Some(cpu) = e2e_cpu {
        println!(
            "(a) end to end used {:.2} ms of CPU per card: {:.0} cards/s per fully available core; a 3,000 cards/hour line needs 0.83",
            cpu.as_secs_f64() * 1000.0 / n as f64,
            rate(n, cpu)
        );
    }
    println!(
        "(a) end to end against issue 19's target of {TARGET_RATE:.0} cards/s on 2 cores: {:.2}",
        rate(n, e2e) / TARGET_RATE
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
    submit_all(&station, bodies("B", n), 2).await;
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
    // The capacity planner (`ecard plan`) on the same line, for the same time: its discrete-event
    // model of the lanes against the lanes themselves.
    let plan = ecard_plan::simulate(&ecard_plan::LineParams {
        lanes: lanes as u32,
        encode_seconds: encode.as_secs_f64(),
        print_seconds: print.as_secs_f64(),
        hours: took.as_secs_f64() / 3600.0,
        ..ecard_plan::LineParams::default()
    })
    .unwrap();
    println!(
        "(b) ecard plan predicts {} cards in those {:.2} s; measured/predicted {:.3} (the planner is validated when within 0.95-1.05)",
        plan.cards_per_day,
        took.as_secs_f64(),
        n as f64 / plan.cards_per_day.max(1) as f64
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
