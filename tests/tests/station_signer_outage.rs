//! The Document Signer's token goes away while the station runs (ECARD.md section 12): the job
//! being personalized fails with "signer unavailable", is not counted against, and the lane
//! claims nothing more until the token is back; then the same job is issued. Nothing signed by
//! half reaches a card. SoftHSM2 keeps a token as a folder: moving it away is pulling it out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use ecard_system_tests::{Hsm, PIN, ecard_bin};

#[path = "../support/station.rs"]
mod station;

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(60), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_pulled_token_holds_the_job_until_it_is_back() {
    // A token of the test's own, and the PKI in it.
    let hsm = Hsm::new();
    hsm.init();
    let d = hsm.path();
    let tokens = d.join("tokens");
    let env = [
        ("SOFTHSM2_CONF", hsm.conf.as_str()),
        ("ECARD_PKCS11_PIN", PIN),
    ];
    // Personal data sealed with a key file here, so that only the signer goes away.
    ecard_station::vault::FileKek::create(&d.join("data.key")).unwrap();
    let config = d.join("station.toml");
    fs::write(
        &config,
        "station_id = \"outage\"\ntest_transport_key = true\nallow_file_keys = true\ndata_key_file = \"data.key\"\n\
         [pki]\ncsca = \"pki/csca.pem\"\nds_cert = \"pki/ds.pem\"\nds_key = \"pki/pki.toml\"\n\
         [[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\nprinter = \"sim\"\n",
    )
    .unwrap();
    let data = d.join("data");
    let mut cmd = Command::new(ecard_bin());
    cmd.env("ECARD_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (mut daemon, base) = station::serve_station(cmd, &data, Some(&config));
    let token = station::admin_token(&data);

    // Pulled.
    let away = d.join("tokens.away");
    fs::rename(&tokens, &away).unwrap();
    let mut r = ureq::post(&format!("{base}/api/v1/enrollments"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(station::sample_enrollment("MMC-OUTAGE").to_string())
        .unwrap();
    let job: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let id = job["id"].as_i64().unwrap();
    wait_for("the lane waits for the signer", || {
        station::get_json(&base, &token, "/lanes")["lanes"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["encoder_stage"] == "signer_unavailable"))
    });
    let job = station::get_json(&base, &token, &format!("/jobs/{id}"));
    assert_ne!(job["state"], "issued", "{job}");
    assert_eq!(
        job["attempts"], 0,
        "an outage is not the job's fault: {job}"
    );
    let history =
        station::get_json(&base, &token, &format!("/console/jobs/{id}"))["history"].clone();
    let spoiled: Vec<&serde_json::Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to_state"] == "spoiled")
        .collect();
    assert_eq!(
        spoiled.len(),
        1,
        "one card, then the lane waited: {history}"
    );
    assert!(
        spoiled[0]["detail"]
            .as_str()
            .unwrap()
            .contains("signer unavailable"),
        "{history}"
    );

    // Back: the same job is issued, its card verified by the lane.
    fs::rename(&away, &tokens).unwrap();
    let job = station::wait_until_issued(&base, &token, id);
    assert_eq!(job["attempts"], 0, "{job}");
    let _ = daemon.kill();
    let _ = daemon.wait();
}
