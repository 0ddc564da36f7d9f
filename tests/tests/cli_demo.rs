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
    assert_eq!(report["not_issued"], serde_json::json!([]));
    // Every transition of every job is in the station's audit log, and the log verifies.
    assert!(
        report["audit_entries"].as_u64().unwrap() >= 6 * cards as u64,
        "{report}"
    );
    let station = out.join("station");
    let r = run(
        &workspace_root(),
        &["audit", "verify", "--data-dir", s(&station)],
    );
    r.assert_code(0);
    let mut numbers = Vec::new();
    for c in list {
        assert_eq!(c["valid"], true, "{c}");
        assert_eq!(c["locked"], true, "{c}");
        // The lane's own record of the write, from the station's audit log.
        let perso = c["personalization"].as_str().unwrap();
        assert!(
            perso.contains("APDUs") && perso.ends_with("; locked"),
            "{c}"
        );
        assert!(c["lane"].as_str().unwrap().contains("lane-"), "{c}");
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
    // Issue 16: the demo's keys are in a SoftHSM2 token of its own, said in one line.
    assert!(
        r.stdout
            .starts_with("keys in a SoftHSM2 token made for this folder: "),
        "{r}"
    );
    assert!(
        r.lines()
            .iter()
            .any(|l| l.starts_with("3 of 3 cards issued and verified")),
        "{r}"
    );
    let numbers = assert_demo(&out, 3);
    // No private key in any file of the output (the token's own store is encrypted by SoftHSM2).
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
                    "{} holds a private key",
                    p.display()
                );
            }
        }
    }
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

#[test]
fn samples_used_again_get_their_own_applications() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let samples = fs::read_dir(workspace_root().join("samples"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    let cards = samples + 1;
    let r = demo(&out, &cards.to_string());
    r.assert_code(0);
    assert_demo(&out, cards);
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    let ids: Vec<&str> = report["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["application_id"].as_str().unwrap())
        .collect();
    // The first sample (a replacement) comes round again as its own first issue.
    assert_eq!(ids[cards - 1], format!("{}-2", ids[0]), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), cards, "{ids:?}");
    let again: serde_json::Value = serde_json::from_slice(
        &fs::read(
            out.join("cards")
                .join(
                    report["cards"][cards - 1]["document_number"]
                        .as_str()
                        .unwrap(),
                )
                .join("enrollment.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(again["application"]["kind"], "first_issue");
}
