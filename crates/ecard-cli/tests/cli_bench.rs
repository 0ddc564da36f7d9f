//! `ecard bench` measures what it says: counts are checked here, times are only reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn bench_reports_apdu_and_link_ratios() {
    let out = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(["bench", "--cards", "2", "--json"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let perso = v["personalization"].as_array().unwrap();
    assert_eq!(perso.len(), 2);
    for p in perso {
        let ratio = p["data_apdu_ratio"].as_f64().unwrap();
        assert!(
            (1.0..=1.05).contains(&ratio),
            "{}: data APDU ratio {ratio}",
            p["profile"]
        );
        // The timing model adds latency and EEPROM time to the link's transfer time, never less.
        assert!(p["chip_to_link_limit_ratio"].as_f64().unwrap() >= 1.0);
        assert!(p["bytes_on_wire"].as_u64().unwrap() > 2 * p["file_bytes"].as_u64().unwrap());
    }
    assert_eq!(perso[0]["profile"], "ecard-sim");
    assert_eq!(perso[0]["extended"], true);
    assert_eq!(perso[1]["extended"], false);
}
