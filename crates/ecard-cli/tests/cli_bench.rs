//! `ecard bench` measures what it says: counts are checked here, times are only reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// `ecard ARGS` run from the repository root; exit 0 required; its standard output.
fn ecard_ok(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn bench_reports_apdu_and_link_ratios() {
    let v: serde_json::Value =
        serde_json::from_slice(&ecard_ok(&["bench", "--cards", "2", "--json"])).unwrap();
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

#[test]
fn bench_throughput_reports_rates_and_ratios_to_the_target() {
    let v: serde_json::Value = serde_json::from_slice(&ecard_ok(&[
        "bench",
        "throughput",
        "--records",
        "3",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["target_per_second"].as_f64(), Some(200.0));
    for stage in ["intake", "lanes", "end_to_end"] {
        let s = &v[stage];
        assert_eq!(s["count"].as_u64(), Some(3), "{stage}: {s}");
        let rate = s["per_second"].as_f64().unwrap();
        assert!(rate > 0.0, "{stage}: {s}");
        let ratio = s["of_target"].as_f64().unwrap();
        assert!((ratio - rate / 200.0).abs() < 1e-9, "{stage}: {s}");
        // CPU per item is there on Linux (from /proc) and positive or zero (10 ms ticks).
        assert!(
            s["cpu_ms_each"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{stage}: {s}"
        );
    }

    // The text form names both targets' ratios.
    let text = String::from_utf8(ecard_ok(&["bench", "throughput", "--records", "2"])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].contains("intake alone:") && lines[1].contains("records/s"));
    assert!(lines[1].contains("of the 200/s target"), "{text}");
    assert!(lines[2].contains("lanes alone:") && lines[2].contains("cards/s"));
    assert!(lines[3].contains("end to end:") && lines[3].contains("of the 200/s target"));
}
