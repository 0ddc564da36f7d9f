//! Retention: `ecard station purge` removes a finished job's record and images (and old print
//! spool files) once its retention period is over, and `ecard qa` of the issued card still passes
//! afterwards: numbers, EF hashes, SOD and the audit log stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use ecard_station::store::Store;
use ecard_system_tests::{ecard, ecard_bin};

#[path = "../support/station.rs"]
mod station;

#[test]
fn purge_past_retention_keeps_what_qa_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("data");
    let mut cmd = Command::new(ecard_bin());
    cmd.env("ECARD_LOG", "warn");
    let (mut daemon, base) = station::serve_station(cmd, &data, None);
    let token = station::admin_token(&data);
    let body = station::sample_enrollment("MMC-PURGE-1").to_string();
    let mut r = ureq::post(&format!("{base}/api/v1/enrollments"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let job: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let id = job["id"].as_i64().unwrap();
    let job = station::wait_until_issued(&base, &token, id);
    let number = job["document_number"].as_str().unwrap().to_string();
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    // A day later nothing is due; forty days later it is (the job's end moved back in time, a
    // spool file aged by touch).
    let data_s = data.to_str().unwrap();
    let out = ecard(d, &["station", "purge", "--data-dir", data_s]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("of 0 job(s)"),
        "{out:?}"
    );
    {
        let store = Store::open_sqlite(&data.join("station.db")).unwrap();
        store.exec_raw("UPDATE jobs SET updated_ms = 0").unwrap();
    }
    let spool = data.join("print-spool/old-face.png");
    std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
    std::fs::write(&spool, b"a face").unwrap();
    assert!(
        Command::new("touch")
            .args(["-d", "40 days ago"])
            .arg(&spool)
            .status()
            .unwrap()
            .success()
    );
    let out = ecard(d, &["station", "purge", "--data-dir", data_s]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("of 1 job(s)"), "{said}");
    assert!(!spool.exists(), "the old spool file is still there");
    let store = Store::open_sqlite(&data.join("station.db")).unwrap();
    assert!(store.is_purged(id).unwrap());
    drop(store);

    // QA of the issued card still passes: the station's facts about it were kept.
    let card = data.join(format!("cards/{number}.img"));
    let out = ecard(
        d,
        &[
            "qa",
            "--sim",
            card.to_str().unwrap(),
            "--number",
            &number,
            "--data-dir",
            data_s,
            "--inspector",
            "anna",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ecard(d, &["audit", "verify", "--data-dir", data_s]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
