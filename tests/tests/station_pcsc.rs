//! A station lane on a real PC/SC reader: `ecard station serve` with `encoder = "pcsc:<reader>"`,
//! a simulated blank behind pcscd's vpcd reader (`ecard sim serve`), one enrollment over HTTP;
//! the card the lane issued then passes `ecard check` (every checkpoint check, with Active
//! Authentication) through the same reader.
//!
//! Skipped (saying so) unless `ECARD_PCSC_TESTS=1`; with it, a missing pcscd fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use ecard_system_tests::{SimServe, ecard_bin, pcsc_test, run, s, sample, test_vpcd_port};

#[path = "../support/station.rs"]
mod station;

use station::http;

#[test]
fn a_pcsc_lane_issues_a_card_that_passes_the_checkpoint() {
    let Some((_pcscd, reader)) = pcsc_test("a_pcsc_lane_issues_a_card_that_passes_the_checkpoint")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The blank as the card maker makes it: SCP03 keys from the issuer's KMC, which the
    // station is configured with (not the test key).
    let kmc = "8C72C72CF908411653018807950D82FB";
    std::fs::write(d.join("kmc.hex"), kmc).unwrap();
    let made = Command::new(ecard_bin())
        .current_dir(d)
        .args(["sim", "new", "card.img", "--kmc", kmc])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let _card = SimServe::start(&d.join("card.img"), test_vpcd_port());
    std::fs::write(
        d.join("station.toml"),
        format!(
            "kmc_file = \"kmc.hex\"\n[[lanes]]\nname = \"pcsc-1\"\nencoder = \"pcsc:{reader}\"\n"
        ),
    )
    .unwrap();
    let mut ecard = Command::new(ecard_bin());
    ecard.current_dir(d);
    let (mut daemon, base) =
        station::serve_station(ecard, Path::new("data"), Some(Path::new("station.toml")));
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let token = station::admin_token(&d.join("data"));
    let token = token.as_str();

    let karimov = sample("karimov.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&karimov).unwrap()).unwrap();
    // The sample is a replacement of a card this new station never issued: send it as a first
    // issue (a station refuses to replace a number it did not issue).
    record["application"] = serde_json::json!({"kind": "first_issue"});
    let base = karimov.parent().unwrap();
    for key in ["photo", "signature"] {
        let path = record[key]["path"].as_str().unwrap().to_string();
        let image = std::fs::read(base.join(path)).unwrap();
        record[key] = serde_json::json!({"base64": STANDARD.encode(image)});
    }
    let (status, body) = http(
        addr,
        token,
        "POST",
        "/api/v1/enrollments",
        record.to_string().as_bytes(),
    );
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, body) = http(addr, token, "GET", &format!("/api/v1/jobs/{id}"), b"");
        let job: serde_json::Value = serde_json::from_str(&body).unwrap();
        if job["state"] == "issued" || job["state"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job not done: {job}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["state"], "issued", "{job}");
    assert_eq!(job["document_number"], "770000001");
    // The job record gives the card's CAN (operator and QA roles), 6 digits as printed.
    let can = job["can"].as_str().unwrap().to_string();
    assert!(
        can.len() == 6 && can.bytes().all(|b| b.is_ascii_digit()),
        "{job}"
    );
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());

    // The checkpoint's view of the card in the reader.
    let r = run(
        d,
        &[
            "check",
            "--reader",
            &reader,
            "--can",
            &can,
            "--trust",
            s(&d.join("data/pki/csca.pem")),
        ],
    );
    // No status list given: amber, revocation not checked (issue 13).
    r.assert_code(2).assert_line("PASS  Active Authentication");
}
