//! A station lane on a real PC/SC reader: `ecard station serve` with `encoder = "pcsc:<reader>"`,
//! a simulated blank behind pcscd's vpcd reader (`ecard sim serve`), one enrollment over HTTP;
//! the card the lane issued then passes `ecard check` (every checkpoint check, with Active
//! Authentication) through the same reader.
//!
//! Skipped (saying so) unless `ECARD_PCSC_TESTS=1`; with it, a missing pcscd fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ecard_system_tests::{SimServe, ecard_bin, pcsc_test, run, s, sample, test_vpcd_port};

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn http(addr: SocketAddr, token: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

#[test]
fn a_pcsc_lane_issues_a_card_that_passes_the_checkpoint() {
    let Some((_pcscd, reader)) = pcsc_test("a_pcsc_lane_issues_a_card_that_passes_the_checkpoint")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _card = SimServe::start(&d.join("card.img"), test_vpcd_port());
    std::fs::write(
        d.join("station.toml"),
        format!("[[lanes]]\nname = \"pcsc-1\"\nencoder = \"pcsc:{reader}\"\n"),
    )
    .unwrap();
    let mut daemon = Command::new(ecard_bin())
        .args([
            "station",
            "serve",
            "--config",
            "station.toml",
            "--data-dir",
            "data",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut addr = None;
    for line in BufReader::new(daemon.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = Some(
                rest.split('/')
                    .next()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap(),
            );
            break;
        }
    }
    let addr = addr.expect("the daemon prints its address");
    let token = std::fs::read_to_string(d.join("data/admin.token")).unwrap();
    let token = token.trim();

    let karimov = sample("karimov.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&karimov).unwrap()).unwrap();
    let base = karimov.parent().unwrap();
    for key in ["photo", "signature"] {
        let path = record[key]["path"].as_str().unwrap().to_string();
        record[key] =
            serde_json::json!({"base64": base64(&std::fs::read(base.join(path)).unwrap())});
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
            "--trust",
            s(&d.join("data/pki/csca.pem")),
        ],
    );
    r.assert_code(0).assert_line("PASS  Active Authentication");
}
