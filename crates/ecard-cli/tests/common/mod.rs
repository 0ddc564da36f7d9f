//! Shared by the `cli_qa*` tests: a real station daemon (`ecard station serve` on 127.0.0.1:0,
//! SQLite, one simulated lane, a qa token) and its API.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output};

#[path = "../../../../tests/support/station.rs"]
mod station;

pub const QA_TOKEN: &str = "qa-secret-token-for-tests";

/// `ecard`, with the qa token in its environment (`ECARD_TOKEN`: never on the command line).
pub fn ecard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecard"));
    c.env("ECARD_LOG", "warn").env("ECARD_TOKEN", QA_TOKEN);
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

/// Starts a station daemon in `dir` with one simulated lane and the qa token [`QA_TOKEN`]
/// (named `qa-anna`); the returned [`Daemon`] is killed when dropped.
pub fn start_qa_station(dir: &Path) -> Daemon {
    let hash = {
        use std::io::Write as _;
        let mut child = ecard()
            .args(["station", "hash-token"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{QA_TOKEN}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert_eq!(hash.len(), 64, "{hash}");
    std::fs::write(
        dir.join("station.toml"),
        format!(
            "station_id = \"qa-test\"\ntest_transport_key = true\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\n[[tokens]]\nname = \"qa-anna\"\nrole = \"qa\"\nsha256 = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let (child, base) = station::serve_station(ecard(), dir, Some(&dir.join("station.toml")));
    Daemon {
        child,
        base,
        admin: station::admin_token(dir),
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

/// The sample enrollment (KARIMOV, first issue) as a request body.
pub fn enrollment_body(application_id: &str) -> String {
    station::sample_enrollment(application_id).to_string()
}

/// Waits until job `id` is issued (at most a minute).
pub fn wait_issued(d: &Daemon, id: i64) {
    station::wait_until_issued(&d.base, &d.admin, id);
}

/// Today in Moscow, as `--at` takes it: a station's demo PKI is made at test time, so its
/// certificates start today and a fixed check date would break when the calendar moves on.
pub fn today() -> String {
    ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc()).to_string()
}
