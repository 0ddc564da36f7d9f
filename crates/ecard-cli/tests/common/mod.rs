//! Shared by the `cli_qa*` tests: a real station daemon (`ecard station serve` on 127.0.0.1:0,
//! SQLite, one simulated lane, a qa token) and its API.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const QA_TOKEN: &str = "qa-secret-token-for-tests";

pub fn ecard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecard"));
    c.env("ECARD_LOG", "warn");
    c
}

pub fn run(args: &[&str]) -> Output {
    ecard().args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub struct Daemon {
    pub child: Child,
    pub base: String,
    pub admin: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(dir: &Path) -> Daemon {
    let hash = run(&["station", "hash-token", QA_TOKEN]);
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert_eq!(hash.len(), 64, "{hash}");
    std::fs::write(
        dir.join("station.toml"),
        format!(
            "station_id = \"qa-test\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\n[[tokens]]\nname = \"qa-anna\"\nrole = \"qa\"\nsha256 = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let mut child = ecard()
        .args(["station", "serve", "--config"])
        .arg(dir.join("station.toml"))
        .arg("--data-dir")
        .arg(dir)
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
            base = Some(rest.split("/api").next().unwrap().trim().to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    Daemon {
        child,
        base: base.expect("daemon printed its address"),
        admin,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn post(d: &Daemon, path: &str, body: String) -> (u16, serde_json::Value) {
    let mut r = agent()
        .post(&format!("{}/api/v1{path}", d.base))
        .header("Authorization", &format!("Bearer {}", d.admin))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

pub fn get(d: &Daemon, path: &str) -> serde_json::Value {
    let mut r = agent()
        .get(&format!("{}/api/v1{path}", d.base))
        .header("Authorization", &format!("Bearer {}", d.admin))
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

pub fn record(app: &str) -> String {
    use base64::Engine as _;
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/karimov");
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(samples.join(f)).unwrap())
    };
    serde_json::json!({
        "application_id": app,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": "1990-05-17", "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": "FA1234567", "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01"},
        "photo": {"base64": b64("photo.jpg")},
        "signature": {"base64": b64("signature.png")},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
    .to_string()
}

pub fn wait_issued(d: &Daemon, id: i64) {
    let t0 = Instant::now();
    loop {
        let job = get(d, &format!("/jobs/{id}"));
        if job["state"] == "issued" {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "job {id}: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Today in Moscow, as `--at` takes it: a station's demo PKI is made at test time, so its
/// certificates start today and a fixed check date would break when the calendar moves on.
pub fn today() -> String {
    ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc()).to_string()
}
