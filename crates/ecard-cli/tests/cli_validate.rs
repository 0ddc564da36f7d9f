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

/// Issue 13 item 13: a portrait JPEG or a signature PNG cut in half is rejected naming the field,
/// not validated and issued with a flat grey lower half.
#[test]
fn a_photo_or_signature_cut_in_half_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("samples");
    let record = std::fs::read_to_string(samples.join("asanov.json")).unwrap();
    let photo = std::fs::read(samples.join("asanov/photo.jpg")).unwrap();
    let signature = std::fs::read(samples.join("asanov/signature.png")).unwrap();
    std::fs::create_dir(dir.path().join("asanov")).unwrap();
    let cases = [
        ("photo", &photo[..photo.len() / 2], &signature[..]),
        ("signature", &photo[..], &signature[..signature.len() / 2]),
    ];
    for (field, p, s) in cases {
        std::fs::write(dir.path().join("asanov/photo.jpg"), p).unwrap();
        std::fs::write(dir.path().join("asanov/signature.png"), s).unwrap();
        let file = dir.path().join(format!("cut-{field}.json"));
        std::fs::write(&file, &record).unwrap();
        let out = ecard(&[
            "validate",
            "--today",
            "2026-11-25",
            "--json",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{field}: {}", stdout(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = v[0]["problems"].as_array().unwrap();
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, [field], "{v}");
    }
    // The whole files, same copy: valid.
    std::fs::write(dir.path().join("asanov/photo.jpg"), &photo).unwrap();
    std::fs::write(dir.path().join("asanov/signature.png"), &signature).unwrap();
    let file = dir.path().join("whole.json");
    std::fs::write(&file, &record).unwrap();
    let out = ecard(&["validate", "--today", "2026-11-25", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
