//! Keys in a PKCS#11 token (ECARD.md section 12) through the `ecard` binary and a real SoftHSM2
//! token (Debian's `softhsm2`): `pki init` in the token leaves no private key in the folder, a
//! simulated card personalized with the token's Document Signer verifies with the existing
//! verifier, `pki rotate-ds` issues the next DS, and a wrong PIN, a missing PIN, a missing token
//! or a missing key are refused naming module, token and label.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use ecard_system_tests::{Hsm, PIN, Run, SOFTHSM2_MODULE, run, sample};

#[test]
fn a_card_signed_in_the_token_verifies_and_no_private_key_is_on_disk() {
    let hsm = Hsm::new();
    hsm.init();
    let mut names: Vec<String> = fs::read_dir(hsm.path().join("pki"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["csca.pem", "ds.pem", "pki.toml"]);
    for name in &names {
        let text = fs::read_to_string(hsm.path().join("pki").join(name)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{name}: {text}");
        assert!(!text.contains(PIN), "{name} holds the PIN");
    }
    let toml = fs::read_to_string(hsm.path().join("pki/pki.toml")).unwrap();
    assert!(toml.contains("token = \"ecard\""), "{toml}");
    assert!(toml.contains("ds_key = \"ecard-ds-1\""), "{toml}");

    hsm.personalize("card.img", "771234567", Some(PIN))
        .assert_code(0)
        .assert_line("card 77 1234567 issued with profile ecard-sim");
    let r = hsm.check("card.img");
    r.assert_code(0);
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());
}

#[test]
fn rotate_ds_issues_the_next_signer_and_keeps_the_old_certificate() {
    let hsm = Hsm::new();
    hsm.init();
    let old = fs::read(hsm.path().join("pki/ds.pem")).unwrap();
    hsm.run(&["pki", "rotate-ds", "--dir", "pki"], Some(PIN))
        .assert_code(0);
    assert_eq!(
        fs::read(hsm.path().join("pki/ds-ecard-ds-1.pem")).unwrap(),
        old
    );
    let new = fs::read(hsm.path().join("pki/ds.pem")).unwrap();
    assert_ne!(new, old);
    let toml = fs::read_to_string(hsm.path().join("pki/pki.toml")).unwrap();
    assert!(toml.contains("ds_key = \"ecard-ds-2\""), "{toml}");
    // The next card is signed by the new DS and still chains to the same CSCA.
    hsm.personalize("card2.img", "771234568", Some(PIN))
        .assert_code(0);
    let r = hsm.check("card2.img");
    r.assert_code(0);
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
}

#[test]
fn token_faults_are_refused_naming_module_token_and_label() {
    let hsm = Hsm::new();
    hsm.init();
    let before = fs::read(hsm.path().join("pki/ds.pem")).unwrap();

    let r = hsm.personalize("a.img", "771234567", Some("wrong-pin"));
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("login refused"), "{r}");
    assert!(
        r.stderr.contains("\"ecard\"") && r.stderr.contains(SOFTHSM2_MODULE),
        "{r}"
    );

    let r = hsm.personalize("b.img", "771234567", None);
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("ECARD_PKCS11_PIN"), "{r}");

    let toml = hsm.path().join("pki/pki.toml");
    let text = fs::read_to_string(&toml).unwrap();
    fs::write(&toml, text.replace("ecard-ds-1", "ecard-ds-9")).unwrap();
    let r = hsm.personalize("c.img", "771234567", Some(PIN));
    assert_ne!(r.code, Some(0), "{r}");
    assert!(
        r.stderr.contains("no private key labelled \"ecard-ds-9\""),
        "{r}"
    );

    fs::write(
        &toml,
        text.replace("token = \"ecard\"", "token = \"absent\""),
    )
    .unwrap();
    let r = hsm.personalize("d.img", "771234567", Some(PIN));
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("no token labelled \"absent\""), "{r}");

    // Nothing was signed: the folder is as it was.
    assert_eq!(fs::read(hsm.path().join("pki/ds.pem")).unwrap(), before);
}

/// `ecard station serve --config` with a `[pki]` section (DS certificate and key), with `pin`;
/// asserts that the daemon refuses to start and returns the run.
fn serve_refused(hsm: &Hsm, ds_cert: &str, ds_key: &str, extra: &str, pin: &str) -> Run {
    fs::write(
        hsm.path().join("station.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{extra}\n[pki]\ncsca = \"pki/csca.pem\"\nds_cert = \"{ds_cert}\"\nds_key = \"{ds_key}\"\n"
        ),
    )
    .unwrap();
    let r = hsm.run(&["station", "serve", "--config", "station.toml"], Some(pin));
    assert_ne!(r.code, Some(0), "{r}");
    r
}

#[test]
fn the_station_refuses_a_bad_signer_at_start() {
    let hsm = Hsm::new();
    hsm.init();
    // Wrong PIN: names module and token.
    let r = serve_refused(&hsm, "pki/ds.pem", "pki/pki.toml", "", "wrong");
    assert!(
        r.stderr.contains("login refused") && r.stderr.contains("\"ecard\""),
        "{r}"
    );
    // A file key without allow_file_keys.
    run(hsm.path(), &["pki", "init", "--dir", "files"]).assert_code(0);
    let r = serve_refused(&hsm, "files/ds.pem", "files/ds.key", "", PIN);
    assert!(
        r.stderr.contains("a private key in a file is insecure"),
        "{r}"
    );
    // Allowed file keys, but a DS of another CSCA than the trusted one: the self-test refuses.
    let r = serve_refused(
        &hsm,
        "files/ds.pem",
        "files/ds.key",
        "allow_file_keys = true",
        PIN,
    );
    assert!(r.stderr.contains("does not chain to any"), "{r}");
}

/// A station's loaded PKI (token folder) signs the next job with the DS `ecard pki rotate-ds`
/// issued while it ran. SoftHSM2 reads `SOFTHSM2_CONF` when it loads, so the in-process part
/// runs in a child of this test binary with that variable set.
#[test]
fn a_running_station_picks_up_the_rotated_ds() {
    const CHILD_DIR: &str = "ECARD_TEST_ROTATE_DIR";
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let dir = Path::new(&dir);
        let pki_dir = dir.join("pki");
        let pki = ecard_station::chip::Pki::load(
            &pki_dir.join("csca.pem"),
            &pki_dir.join("ds.pem"),
            &pki_dir.join("pki.toml"),
        )
        .unwrap();
        let before = pki.signing();
        let out = std::process::Command::new(ecard_system_tests::ecard_bin())
            .args(["pki", "rotate-ds", "--dir", "pki"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let after = pki.signing();
        assert_ne!(after.ds_sha256, before.ds_sha256);
        let new_pem = fs::read(pki_dir.join("ds.pem")).unwrap();
        assert_eq!(
            after.ds,
            ecard_chip::pki::read_certificate(&new_pem).unwrap()
        );
        assert!(pki.self_test(time_now()).is_ok());
        return;
    }
    let hsm = Hsm::new();
    hsm.init();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_running_station_picks_up_the_rotated_ds",
            "--exact",
            "--nocapture",
        ])
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("ECARD_PKCS11_PIN", PIN)
        .env(CHILD_DIR, hsm.path())
        .status()
        .unwrap();
    assert!(status.success());
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `ecard bench at-rest` runs on a token folder and reports intake with and without encryption
/// and the token's signing rate (the numbers themselves belong to the bench, not to a test).
#[test]
fn the_at_rest_bench_reports_both_modes_and_the_signing_rate() {
    let hsm = Hsm::new();
    hsm.init();
    let samples = sample("karimov.json");
    let samples = samples.parent().unwrap().to_str().unwrap().to_owned();
    let r = hsm.run(
        &[
            "bench",
            "at-rest",
            "--pki",
            "pki",
            "--records",
            "4",
            "--rounds",
            "1",
            "--signatures",
            "10",
            "--samples",
            &samples,
            "--json",
        ],
        Some(PIN),
    );
    r.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for k in [
        "intake_off_per_second",
        "intake_on_per_second",
        "seal_us_per_record",
        "signatures_per_second",
    ] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
}
