//! `ecard demo`: issues cards end to end on simulated cards and writes a report; each card's chip
//! dump must verify on its own against the demo's CSCA, a rerun replaces the output, and a folder
//! that is not a demo's output is refused without being touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use ecard_system_tests::{run, s, workspace_root};

fn demo(out: &Path, cards: &str) -> ecard_system_tests::Run {
    let samples = workspace_root().join("samples");
    run(
        &workspace_root(),
        &[
            "demo",
            "--cards",
            cards,
            "--out",
            s(out),
            "--samples",
            s(&samples),
        ],
    )
}

/// Asserts the report and every card of a demo output folder; returns the card numbers.
fn assert_demo(out: &Path, cards: usize) -> Vec<String> {
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    let list = report["cards"].as_array().unwrap();
    assert_eq!(list.len(), cards, "{report}");
    assert_eq!(report["all_valid"], true);
    let mut numbers = Vec::new();
    for c in list {
        assert_eq!(c["valid"], true, "{c}");
        assert_eq!(c["locked"], true, "{c}");
        assert!(c["perso_apdus"].as_u64().unwrap() > 0, "{c}");
        numbers.push(c["document_number"].as_str().unwrap().to_owned());
    }
    let mut on_disk: Vec<String> = fs::read_dir(out.join("cards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted, "cards/ holds other cards than the report");

    let trust = out.join("pki").join("csca.pem");
    for n in &numbers {
        let chip = out.join("cards").join(n).join("chip");
        let r = run(
            &workspace_root(),
            &["verify", s(&chip), "--trust", s(&trust)],
        );
        r.assert_code(0);
        assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
        let holder: serde_json::Value =
            serde_json::from_slice(&fs::read(chip.join("holder.json")).unwrap()).unwrap();
        assert_eq!(holder["document_number"].as_str(), Some(n.as_str()));
    }
    numbers
}

#[test]
fn demo_issues_three_valid_cards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let r = demo(&out, "3");
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("3 of 3 cards issued and verified"),
        "{r}"
    );
    let numbers = assert_demo(&out, 3);
    assert_eq!(numbers, ["771000001", "771000002", "771000003"]);
}

#[test]
fn a_second_demo_replaces_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    demo(&out, "3").assert_code(0);
    let old_csca = fs::read(out.join("pki/csca.pem")).unwrap();

    let r = demo(&out, "2");
    r.assert_code(0);
    // Exactly the second run's cards, all verifying with the second run's CSCA.
    assert_demo(&out, 2);
    assert!(!out.join("cards/771000003").exists());
    let new_csca = fs::read(out.join("pki/csca.pem")).unwrap();
    assert_ne!(new_csca, old_csca, "the second run kept the first PKI");
}

#[test]
fn a_foreign_folder_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), b"keep me").unwrap();

    let r = demo(&out, "2");
    r.assert_code(3);
    assert!(r.stderr.contains("is not a demo's output folder"), "{r}");
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["notes.txt"]);
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"keep me");
}
