//! A real station daemon for the integration tests of several packages: start `ecard station
//! serve` on 127.0.0.1:0 and learn its address, read its admin token, submit the sample
//! enrollment (KARIMOV, photo and signature from `samples/karimov` inline as base64) and wait for
//! its job to be issued.
//!
//! Integration tests of different packages cannot share a module through a dependency without
//! making it part of a published API, so each test crate includes this one file:
//! `#[path = "<relative path to>/tests/support/station.rs"] mod station;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `ecard` (a command for the binary, with whatever environment the caller wants) as
/// `station serve --listen 127.0.0.1:0 --data-dir DATA_DIR [--config CONFIG]` and waits for
/// its "… listening on http://ADDR/api/v1 (…)" line.
///
/// Returns the running daemon and its base URL `http://ADDR`. Its stdout keeps being drained so
/// that it never blocks on a full pipe; its stderr is dropped.
pub fn serve_station(
    mut ecard: Command,
    data_dir: &Path,
    config: Option<&Path>,
) -> (Child, String) {
    ecard.args(["station", "serve"]);
    if let Some(config) = config {
        ecard.arg("--config").arg(config);
    }
    let mut child = ecard
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap_or_default();
            base = Some(url.trim_end_matches("/api/v1").to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, base.expect("the daemon prints its address"))
}

/// The admin token a station writes into its data directory on first start.
pub fn admin_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string()
}

/// The sample person's folder, `samples/karimov`, found above the including package.
fn karimov_samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("samples/karimov"))
        .find(|dir| dir.is_dir())
        .expect("samples/karimov above the package")
}

/// A valid first-issue enrollment of the sample person KARIMOV with the application number
/// `application_id`, photo and signature inline as base64, for a holder of its own: the identity
/// document number and birth date derive from `application_id` (one valid card per holder).
/// Tests that need another kind of application or date change those fields of the returned
/// value; a replacement uses [`sample_enrollment_holder`] to be the same holder.
pub fn sample_enrollment(application_id: &str) -> serde_json::Value {
    sample_enrollment_holder(application_id, application_id)
}

/// The same, for the holder of the application `holder_of`.
pub fn sample_enrollment_holder(application_id: &str, holder_of: &str) -> serde_json::Value {
    use base64::Engine as _;
    let samples = karimov_samples();
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(samples.join(f)).unwrap())
    };
    // FNV-1a: a stable number per holder, without a hashing crate in every includer.
    let n = holder_of.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    serde_json::json!({
        "application_id": application_id,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": format!("{}-{:02}-{:02}", 1950 + n % 50, 1 + (n / 50) % 12, 1 + (n / 600) % 28),
        "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": format!("FA{:07}", n % 10_000_000), "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01"},
        "photo": {"base64": b64("photo.jpg")},
        "signature": {"base64": b64("signature.png")},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
}

/// Polls `GET /api/v1/jobs/{id}` of the station at `base` until the job is issued and returns
/// it; fails the test when it is not issued within a minute.
pub fn wait_until_issued(base: &str, token: &str, id: i64) -> serde_json::Value {
    wait_for_state(base, token, id, "issued")
}

/// `GET {base}/api/v1{path}` with the bearer `token`, its JSON body (any status but an error).
pub fn get_json(base: &str, token: &str, path: &str) -> serde_json::Value {
    let body = ureq::get(&format!("{base}/api/v1{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// The same for any `state` (`failed`, `needs_review`, ...).
pub fn wait_for_state(base: &str, token: &str, id: i64, state: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let job = get_json(base, token, &format!("/jobs/{id}"));
        if job["state"] == state {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {id} not {state}: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One raw HTTP/1.1 request with a bearer token: (status, body).
pub fn http(addr: SocketAddr, token: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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
