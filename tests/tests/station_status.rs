//! A replacement through the station revokes the previous card: the status list the station
//! exports (and serves without a token) names the old number, and a checkpoint then says red for
//! the old card and green for the new one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ecard_system_tests::{ecard, ecard_bin, workspace_root};

struct Daemon {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Daemon {
    let mut child = Command::new(ecard_bin())
        .args(["station", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("ECARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        // "ecard station station-1 listening on http://127.0.0.1:35699/api/v1 (sqlite store, 2 lanes)"
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap_or_default();
            base = Some(url.trim_end_matches("/api/v1").to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    Daemon {
        child,
        base: base.expect("the daemon prints its address"),
        token,
    }
}

fn record(app: &str, application: serde_json::Value) -> String {
    let samples = workspace_root().join("samples/karimov");
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(samples.join(f)).unwrap())
    };
    serde_json::json!({
        "application_id": app,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": "1990-05-17", "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": "FA1234567", "issuing_state": "UZB",
                              "date_of_expiry": "2031-03-14"},
        "photo": {"base64": b64("photo.jpg")}, "signature": {"base64": b64("signature.png")},
        "application": application,
        "applied_on": today(),
    })
    .to_string()
}

fn today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Submits a record and waits until its job is issued; returns the card number.
fn issue(d: &Daemon, body: &str) -> String {
    let auth = format!("Bearer {}", d.token);
    let job: serde_json::Value = ureq::post(&format!("{}/api/v1/enrollments", d.base))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let id = job["id"].as_i64().expect("the job has an id");
    let started = Instant::now();
    loop {
        let job: serde_json::Value = ureq::get(&format!("{}/api/v1/jobs/{id}", d.base))
            .header("Authorization", &auth)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        if job["state"] == "issued" {
            return job["document_number"].as_str().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {id} not issued: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_replacement_revokes_the_old_card_on_the_exported_status_list() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let daemon = start(&data);
    let old = issue(
        &daemon,
        &record(
            "MMC-2026-0000900",
            serde_json::json!({"kind": "first_issue"}),
        ),
    );
    let replacement = serde_json::json!({
        "kind": "replacement", "previous_document_number": old, "cause": "lost", "event_date": today()
    });
    let new = issue(&daemon, &record("MMC-2026-0000901", replacement));
    assert_ne!(old, new);

    // Served without a token, and the same list as the exported one names the old number.
    let mut served = ureq::get(&format!("{}/api/v1/status-list", daemon.base))
        .call()
        .unwrap();
    assert_eq!(served.status(), 200);
    let served = served.body_mut().read_to_vec().unwrap();
    std::fs::write(tmp.path().join("served.cose"), served).unwrap();
    let d = tmp.path();
    let data_s = data.to_str().unwrap();
    let export = ecard(
        d,
        &[
            "status",
            "export",
            "--data-dir",
            data_s,
            "--out",
            "status.cose",
        ],
    );
    assert_eq!(
        export.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let csca = data.join("pki/csca.pem");
    let ds = data.join("pki/ds.pem");
    let (csca, ds) = (csca.to_str().unwrap(), ds.to_str().unwrap());
    for list in ["status.cose", "served.cose"] {
        let show = ecard(d, &["status", "show", list, "--trust", csca, "--ds", ds]);
        let text = String::from_utf8_lossy(&show.stdout).into_owned();
        assert_eq!(show.status.code(), Some(0), "{text}");
        assert!(
            text.contains(&old) && text.contains("lost"),
            "{list}: {text}"
        );
        assert!(!text.contains(&new), "{list}: {text}");
    }

    let card = |n: &str| data.join(format!("cards/{n}.img")).display().to_string();
    let check = |n: &str| {
        let out = ecard(
            d,
            &[
                "check",
                "--sim",
                &card(n),
                "--trust",
                csca,
                "--ds",
                ds,
                "--status",
                "status.cose",
            ],
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (code, last) = check(&old);
    assert_eq!(code, Some(1), "{last}");
    assert!(last.starts_with("RED: ") && last.contains("lost"), "{last}");
    let (code, last) = check(&new);
    assert_eq!((code, last.as_str()), (Some(0), "GREEN: valid"));
}
