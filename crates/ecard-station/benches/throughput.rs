//! Station throughput, printed as numbers and ratios (no assertions): run with
//! `cargo bench -p ecard-station --bench throughput`.
//!
//! (a) Zero-latency simulated devices, durable SQLite (WAL, synchronous=FULL), two lanes on the
//!     real chip path (perso + read-back + checkpoint verification with AA per card): cards/s of
//!     the lanes alone (queue pre-filled), of intake alone (validation + image conversion), and
//!     end to end (submitters and lanes at once), with CPU per card. The records are the seven
//!     samples in turn. The measurement is `ecard_station::throughput::measure`, which
//!     `ecard bench throughput` runs too.
//! (b) Device times of a real line scaled down 100x (encode 6 s → 60 ms, print 15 s → 150 ms):
//!     the line's cards/s against its slowest stage (printing: lanes / 150 ms).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ecard_station::server::LaneSet;
use ecard_station::throughput::{
    TARGET_RATE, bodies, line, measure, sample_records, submit_all, wait_issued,
};

fn samples() -> Vec<serde_json::Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    sample_records(&dir).unwrap()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn bench_a() {
    let n = 400;
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let m = measure(dir.path(), &samples, n).await.unwrap();
    println!(
        "(a) lanes alone: {n} cards in {:.2} s = {:.0} cards/s (2 lanes, sim cards, durable SQLite)",
        m.lanes.wall.as_secs_f64(),
        m.lanes.per_second()
    );
    if let (Some(ms), Some(cpu)) = (m.lanes.cpu_ms_each(), m.lanes.cpu) {
        println!(
            "(a) lanes alone used {ms:.2} ms of CPU per card: {:.0} cards/s per fully available core",
            rate(n, cpu)
        );
    }
    println!(
        "(a) intake alone: {n} records in {:.2} s = {:.0} records/s (validation + DG2/DG7 JPEGs, 2 submitters)",
        m.intake.wall.as_secs_f64(),
        m.intake.per_second()
    );
    if let Some(ms) = m.intake.cpu_ms_each() {
        println!("(a) intake used {ms:.2} ms of CPU per record");
    }
    println!(
        "(a) intake against issue 19's target of {TARGET_RATE:.0} records/s on 2 cores: {:.2}",
        m.intake.of_target()
    );
    // What intake costs without the station: ecard_imaging::prepare_enrollment on one core.
    let recs: Vec<String> = bodies(&samples, "P", 7)
        .unwrap()
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    let t = Instant::now();
    let k = 42;
    for i in 0..k {
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
        prep.as_secs_f64() * 1000.0 / k as f64,
        rate(k, prep)
    );
    // As the station runs it: the face's search starts at the previous record's quality.
    let t = Instant::now();
    let mut start = None;
    for i in 0..k {
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
        hinted.as_secs_f64() * 1000.0 / k as f64,
        rate(k, hinted),
        prep.as_secs_f64() / hinted.as_secs_f64()
    );
    println!(
        "(a) end to end: {n} records to issued cards in {:.2} s = {:.0} cards/s",
        m.end_to_end.wall.as_secs_f64(),
        m.end_to_end.per_second()
    );
    if let (Some(ms), Some(cpu)) = (m.end_to_end.cpu_ms_each(), m.end_to_end.cpu) {
        println!(
            "(a) end to end used {ms:.2} ms of CPU per card: {:.0} cards/s per fully available core; a 3,000 cards/hour line needs 0.83",
            rate(n, cpu)
        );
    }
    println!(
        "(a) end to end against issue 19's target of {TARGET_RATE:.0} cards/s on 2 cores: {:.2}",
        m.end_to_end.of_target()
    );
}

async fn bench_b() {
    let (encode, print) = (Duration::from_millis(60), Duration::from_millis(150));
    let lanes = 2;
    let n = 80;
    let dir = tempfile::tempdir().unwrap();
    let (station, l) = line(dir.path(), lanes, encode, print).unwrap();
    submit_all(&station, bodies(&samples(), "B", n).unwrap(), 2)
        .await
        .unwrap();
    let t = Instant::now();
    let set = LaneSet::start(&station, l).await;
    wait_issued(&station, n as i64).await.unwrap();
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
