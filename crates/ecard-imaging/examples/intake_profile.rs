//! A driver for profiling intake under `valgrind --tool=callgrind`: the seven samples with their
//! images inline in base64, as the station takes them, through `prepare_enrollment_from` with the
//! previous record's face quality (as `Station::submit` runs it), then the two serialisations the
//! station stores (the record as JSON, the chip JPEGs in base64).
//!
//! ```text
//! cargo build --release -p ecard-imaging --example intake_profile
//! valgrind --tool=callgrind target/release/examples/intake_profile 14
//! ```
//! The argument is the number of records (default 14: each sample twice). Prints each record's
//! face quality and sizes, so two builds can be checked to give the same JPEGs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use ecard_imaging::{ImageBudgets, prepare_enrollment_from};
use ecard_model::enrollment::ImageRef;
use ecard_model::time::macros::date;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(14);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<String> = paths
        .iter()
        .map(|p| {
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            for field in ["photo", "signature"] {
                let rel = v[field]["path"].as_str().unwrap().to_string();
                let bytes = std::fs::read(dir.join(rel)).unwrap();
                v[field] = serde_json::json!({ "base64": b64.encode(bytes) });
            }
            v["application"] = serde_json::json!({"kind": "first_issue"});
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    let mut inline_only = |_: &ImageRef| -> Result<Vec<u8>, String> { Err("inline only".into()) };
    let mut start = None;
    for i in 0..n {
        let p = prepare_enrollment_from(
            &records[i % records.len()],
            &mut inline_only,
            date!(2026 - 11 - 25),
            ImageBudgets::default(),
            start,
        )
        .unwrap();
        start = Some(p.face.quality);
        // What the station stores besides: the record and the chip images.
        let record = serde_json::to_string(&p.record).unwrap();
        let face = b64.encode(&p.face.jpeg);
        let signature = b64.encode(&p.signature.jpeg);
        println!(
            "{i}: face {:?} signature {:?} ({} + {} + {} chars stored)",
            p.face,
            p.signature,
            record.len(),
            face.len(),
            signature.len()
        );
    }
}
