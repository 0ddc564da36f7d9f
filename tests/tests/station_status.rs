//! A replacement through the station revokes the previous card: the status list the station
//! exports (and serves without a token) names the old number, and a checkpoint then says red for
//! the old card and green for the new one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command};

use ecard_system_tests::{ecard, ecard_bin};

#[path = "../support/station.rs"]
mod station;

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

/// Starts the daemon with its embedded defaults on the data directory `dir`.
fn start(dir: &Path) -> Daemon {
    let mut ecard = Command::new(ecard_bin());
    ecard.env("ECARD_LOG", "warn");
    let (child, base) = station::serve_station(ecard, dir, None);
    Daemon {
        child,
        base,
        token: station::admin_token(dir),
    }
}

/// The sample enrollment as `application` (a first issue or a replacement) applied for today,
/// with an identity document valid until 2031-03-14.
fn record(app: &str, application: serde_json::Value) -> String {
    // Every application here is by the holder of the first one (a replacement is the same person).
    let mut record = station::sample_enrollment_holder(app, "MMC-2026-0000900");
    record["identity_document"]["date_of_expiry"] = "2031-03-14".into();
    record["application"] = application;
    record["applied_on"] = today().into();
    record.to_string()
}

fn today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Submits a record and waits until its job is issued; returns the card number and its CAN.
fn issue(d: &Daemon, body: &str) -> (String, String) {
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
    let job = station::wait_until_issued(&d.base, &d.token, id);
    (
        job["document_number"].as_str().unwrap().to_string(),
        job["can"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_replacement_revokes_the_old_card_on_the_exported_status_list() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let daemon = start(&data);
    let (old, old_can) = issue(
        &daemon,
        &record(
            "MMC-2026-0000900",
            serde_json::json!({"kind": "first_issue"}),
        ),
    );
    let replacement = serde_json::json!({
        "kind": "replacement", "previous_document_number": old, "cause": "lost", "event_date": today()
    });
    let (new, new_can) = issue(&daemon, &record("MMC-2026-0000901", replacement));
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
    // The chips are opened with the CANs the station's job records hold (sealed in its store;
    // the API shows them to the operator).
    let can_of = |n: &str| {
        if n == old {
            old_can.clone()
        } else {
            assert_eq!(n, new);
            new_can.clone()
        }
    };
    let check = |n: &str| {
        let can = can_of(n);
        let out = ecard(
            d,
            &[
                "check",
                "--sim",
                &card(n),
                "--can",
                &can,
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
