//! `ecard bench soak` on a short test profile: the station runs, cards are issued, and the report
//! has its samples, its verdict and its plot. (How flat memory stays is measured by a long run,
//! never asserted here: the machine is shared.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn a_short_soak_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    let sample_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples");
    let run = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args([
            "bench",
            "soak",
            "--hours",
            "0.25",
            "--speedup",
            "900",
            "--lanes",
            "2",
        ])
        .args([
            "--cards-per-hour",
            "100",
            "--sample-seconds",
            "0.1",
            "--samples",
            sample_dir,
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // 0 flat, 1 growing: both are answers; 3 would be an error.
    assert!(matches!(run.status.code(), Some(0 | 1)), "{text}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("soak.json")).unwrap()).unwrap();
    // 0.25 h at 100 an hour: 25 arrivals, every one submitted and issued after the drain.
    assert_eq!(report["arrivals"], 25, "{text}");
    assert_eq!(report["submitted"], 25, "{text}");
    assert_eq!(report["issued"], 25, "{text}");
    assert_eq!(report["not_issued"], 0, "{text}");
    let samples = report["samples"].as_array().unwrap();
    // About 10 samples in the run's second; a machine busy with other builds may starve the
    // sampler of a few.
    assert!(samples.len() >= 3, "{}", samples.len());
    assert!(samples.iter().all(|s| s["rss_kib"].as_u64().unwrap() > 0));
    assert!(report["db_bytes_per_job"].as_f64().unwrap() > 0.0);
    assert!(
        std::fs::read_to_string(out.join("soak-rss.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    assert!(
        std::fs::read_to_string(out.join("soak.md"))
            .unwrap()
            .contains("| simulated h |")
    );
    // A second run into the same folder is refused, naming it.
    let again = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(["bench", "soak", "--samples", sample_dir])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
}
