//! `ecard qa` against a real station daemon (`ecard station serve` on 127.0.0.1:0, SQLite, one
//! simulated lane): a card it issued passes, through the API (recorded under the qa token's
//! name) and through the store (`--data-dir`, recorded under `--inspector`); once the job is
//! voided its revoked number fails; a blank card is a fail-with-error; the report counts what
//! was recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{enrollment_body, post, run, start_qa_station, text, today, wait_issued};

#[test]
fn qa_passes_issued_cards_fails_revoked_ones_and_reports_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_qa_station(dir.path());
    let mut ids = Vec::new();
    for app in ["CLI-QA-1", "CLI-QA-2"] {
        let (s, job) = post(&d, "/enrollments", enrollment_body(app));
        assert_eq!(s, 202, "{job}");
        ids.push(job["id"].as_i64().unwrap());
    }
    for id in &ids {
        wait_issued(&d, *id);
    }
    let card = |n: &str| dir.path().join("cards").join(format!("{n}.img"));
    let (c1, c2) = (card("770000001"), card("770000002"));
    let trust = dir.path().join("pki/csca.pem");
    let today = today();
    // `ecard qa` of a card image through the station's API, as the qa token.
    let number = |card: &Path| card.file_stem().unwrap().to_str().unwrap().to_string();
    let qa_through_api = |card: &Path| {
        run(&[
            "qa",
            "--sim",
            card.to_str().unwrap(),
            "--number",
            &number(card),
            "--station",
            &d.base,
            "--trust",
            trust.to_str().unwrap(),
            "--at",
            &today,
        ])
    };

    // Through the API, as the qa token.
    let out = qa_through_api(&c1);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("QA PASS"), "{}", text(&out));
    assert!(
        text(&out).contains("card 770000001, job 1, lane lane-1"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("recorded as qa-anna"), "{}", text(&out));

    // Through the store, as a named inspector; JSON verdict.
    let out = run(&[
        "qa",
        "--sim",
        c2.to_str().unwrap(),
        "--number",
        "770000002",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--inspector",
        "boris",
        "--json",
        "--at",
        &today,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failures"], serde_json::json!([]));
    assert_eq!(v["document_number"], "770000002");

    // Voided: the number is revoked.
    let (s, _) = post(&d, &format!("/jobs/{}/void", ids[1]), String::new());
    assert_eq!(s, 200);
    let out = qa_through_api(&c2);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("QA FAIL"), "{t}");
    assert!(
        t.contains("  revoked: number 770000002 is revoked\n"),
        "{t}"
    );
    assert!(
        t.contains("  issued: number 770000002 is voided (job 2), expected issued\n"),
        "{t}"
    );

    // A station URL without the CSCA is refused with the way out.
    let out = run(&["qa", "--sim", c1.to_str().unwrap(), "--station", &d.base]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--trust CSCA.pem"), "{}", text(&out));

    // A chip protected by PACE cannot be inspected without its number (the CAN comes from the
    // job record) ...
    let out = run(&[
        "qa",
        "--sim",
        c1.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--inspector",
        "boris",
        "--at",
        &today,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--number"), "{}", text(&out));

    // The report counts the three verdicts, both ways. The station's days are Moscow days, as
    // `today` is.
    let report = |format_and_source: &[&str]| {
        let mut args = vec!["qa", "report", "--from", &today, "--to", &today];
        args.extend(format_and_source);
        run(&args)
    };
    let expected = format!(
        "section,key,inspected,failed\ntotal,all,3,1\nlane,lane-1,3,1\nday,{today},3,1\nreason,issued,,1\nreason,revoked,,1\nvoided,770000002,,\n"
    );
    let out = report(&[
        "--format",
        "csv",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let out = report(&["--format", "csv", "--station", &d.base]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let out = report(&["--data-dir", dir.path().to_str().unwrap()]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg "),
        "{html}"
    );

    // ... and a card that refuses the CAN of the number's job record fails QA, saying so.
    let out = run(&[
        "qa",
        "--sim",
        c1.to_str().unwrap(),
        "--number",
        "770000002",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--inspector",
        "boris",
        "--at",
        &today,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the card refuses the CAN of its job record"),
        "{}",
        text(&out)
    );
}
