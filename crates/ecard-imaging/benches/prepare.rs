//! Enrollment intake speed on each committed sample: ms per record and records/s for the DG2
//! face, the DG7 signature and the whole `prepare_enrollment` (validation and both images).
//!
//! Run with `cargo bench -p ecard-imaging --bench prepare` (release profile). Plain `std::time`:
//! the numbers are for comparing changes on one machine, not for assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ecard_imaging::{
    DEFAULT_FACE_BUDGET, DEFAULT_SIGNATURE_BUDGET, ImageBudgets, face_jpeg, prepare_enrollment,
    signature_jpeg,
};
use ecard_model::enrollment::ImageRef;
use ecard_model::time::macros::date;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

/// This thread's time on a CPU so far (Linux `schedstat`, nanoseconds), if readable: on a busy
/// machine it is steadier than wall time.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` for a short warm-up, then for about `for_time`, and prints the mean per call: wall
/// time and, where the OS tells, CPU time.
fn measure(name: &str, for_time: Duration, mut f: impl FnMut()) {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f();
    }
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let mut n = 0u32;
    while start.elapsed() < for_time {
        f();
        n += 1;
    }
    let per = start.elapsed().as_secs_f64() / f64::from(n);
    let cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => format!(
            ", CPU {:.2} ms/record",
            (b - a).as_secs_f64() * 1e3 / f64::from(n)
        ),
        _ => String::new(),
    };
    println!(
        "{name:<20} {:>8.2} ms/record {:>8.1} records/s  ({n} runs{cpu})",
        per * 1e3,
        1.0 / per
    );
}

fn main() {
    let dir = samples();
    let secs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    let for_time = Duration::from_secs_f64(secs);
    // Every sample: the search's cost depends on the picture (how many sizes and qualities it
    // tries before one fits).
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    for name in names {
        let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let photo = std::fs::read(dir.join(&name).join("photo.jpg")).unwrap();
        let signature = std::fs::read(dir.join(&name).join("signature.png")).unwrap();
        let face = face_jpeg(&photo, DEFAULT_FACE_BUDGET).unwrap();
        let sig = signature_jpeg(&signature, DEFAULT_SIGNATURE_BUDGET).unwrap();
        println!("{name}: face {face:?}, signature {sig:?}");
        measure("  face_jpeg", for_time, || {
            black_box(face_jpeg(black_box(&photo), DEFAULT_FACE_BUDGET).unwrap());
        });
        measure("  signature_jpeg", for_time, || {
            black_box(signature_jpeg(black_box(&signature), DEFAULT_SIGNATURE_BUDGET).unwrap());
        });
        measure("  prepare_enrollment", for_time, || {
            let mut load = |r: &ImageRef| match r {
                ImageRef::Path(p) if p.ends_with("photo.jpg") => Ok(photo.clone()),
                ImageRef::Path(_) => Ok(signature.clone()),
                ImageRef::Base64(_) => Err("not in the sample".to_string()),
            };
            black_box(
                prepare_enrollment(
                    black_box(&json),
                    &mut load,
                    date!(2026 - 11 - 25),
                    ImageBudgets::default(),
                )
                .unwrap(),
            );
        });
    }
}
