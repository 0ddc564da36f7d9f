//! The public contract of `ecard validate` and `ecard mrz`, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ecard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_samples_are_valid() {
    let samples: Vec<String> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(samples.len() >= 6, "samples: {samples:?}");
    let mut args = vec!["validate", "--today", "2026-11-25"];
    args.extend(samples.iter().map(String::as_str));
    let out = ecard(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.ends_with(": valid"))
            .count(),
        samples.len()
    );
}

#[test]
fn an_invalid_record_lists_every_problem_with_its_path_and_exits_1() {
    let out = ecard(&[
        "validate",
        "--today",
        "2026-11-25",
        "samples/invalid/minor-expired-permanent.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let paths: Vec<&str> = text
        .lines()
        .map(|l| l.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "phone",
            "residence_status",
            "date_of_birth",
            "identity_document.date_of_expiry"
        ],
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.starts_with("samples/invalid/minor-expired-permanent.json: "))
    );
}

#[test]
fn json_output_carries_the_same_problems() {
    let out = ecard(&[
        "validate",
        "--json",
        "--today",
        "2026-11-25",
        "samples/karimov.json",
        "samples/invalid/bad-mrz-and-replacement.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["valid"], true);
    assert_eq!(v[0]["application_id"], "MMC-2026-0000123");
    assert_eq!(v[1]["valid"], false);
    let paths: Vec<&str> = v[1]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"identity_document.mrz[1]"), "{paths:?}");
    assert!(paths.contains(&"photo"), "{paths:?}");
}

#[test]
fn a_missing_file_is_an_error_not_a_verdict() {
    let out = ecard(&["validate", "no-such-record.json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-record.json"));
}

#[test]
fn mrz_prints_the_three_td1_lines() {
    let out = ecard(&[
        "mrz",
        "--enrollment",
        "samples/karimov.json",
        "--document-number",
        "77 1234567",
        "--issued",
        "2026-11-25",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "IRRUS7712345678<<<<<<<<<<<<<<<\n9005178M3111253UZB<<<<<<<<<<<6\nKARIMOV<<ALISHER<BAKHODIROVICH\n"
    );
}
