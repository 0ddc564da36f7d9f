//! `ecard qa --face`: the printed QR seal is judged against the chip in hand. A demo card's own
//! face passes the seal check; another card's face fails it, naming what differs. (Demo cards are
//! not the station's, so both verdicts also fail `issued`: the seal check stands on its own.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn failures(v: &serde_json::Value) -> Vec<(String, String)> {
    v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_printed_seal_must_match_the_chip() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let station = tmp.path().join("station");
    std::fs::create_dir_all(&station).unwrap();
    let ecard = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ecard"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap()
    };
    let out = ecard(&["demo", "--cards", "2", "--out", demo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let front = |n: &str| demo.join(format!("cards/{n}/face-front.png"));
    if !front("771000001").exists() {
        // The demo renders faces only where the fonts are installed.
        assert_ne!(
            std::env::var("ECARD_FACE_TESTS").as_deref(),
            Ok("1"),
            "the demo rendered no face"
        );
        eprintln!("skipped: no card faces (install fonts-ocr-b fonts-dejavu-core)");
        return;
    }
    let can = std::fs::read_to_string(demo.join("cards/771000001/can.txt"))
        .unwrap()
        .trim()
        .to_string();
    let qa = |face: &Path| {
        let out = ecard(&[
            "qa",
            "--sim",
            demo.join("cards/771000001/card.img").to_str().unwrap(),
            // This station never issued the card: the inspector types the CAN printed on it.
            "--can",
            &can,
            "--data-dir",
            station.to_str().unwrap(),
            "--trust",
            demo.join("pki/csca.pem").to_str().unwrap(),
            "--inspector",
            "test",
            "--face",
            face.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        failures(&serde_json::from_slice(&out.stdout).unwrap())
    };
    let own = qa(&front("771000001"));
    assert_eq!(
        own.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["issued"],
        "{own:?}"
    );
    let other = qa(&front("771000002"));
    assert_eq!(
        other.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["issued", "seal"],
        "{other:?}"
    );
    assert!(
        other[1].1.contains("disagree") && other[1].1.contains("document number"),
        "{other:?}"
    );
}
