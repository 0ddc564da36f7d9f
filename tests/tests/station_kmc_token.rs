//! Issue 16 with issue 15: the KMC in the PKI's PKCS#11 token (SoftHSM2). `ecard pki import-kmc`
//! puts it in at a ceremony; a station configured with `kmc_label` derives each blank's SCP03 keys
//! inside the token and personalizes blanks the card maker made with that KMC, the stock ledger
//! on; a blank made with another KMC fails its card cryptogram and is put aside untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ecard_system_tests::{ecard_bin, run, s};

#[path = "../support/station.rs"]
mod station;

use station::http;

#[test]
fn a_station_with_the_kmc_in_its_token_personalizes_the_makers_blanks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A PKI whose keys are in a SoftHSM2 token in its folder (the demo makes one).
    run(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").as_path(),
        &["demo", "--cards", "1", "--out", s(&d.join("demo"))],
    )
    .assert_code(0);
    let pki = d.join("demo/pki");
    let kmc = "2B7E151628AED2A6ABF7158809CF4F3C";
    std::fs::write(d.join("kmc.hex"), kmc).unwrap();
    let r = run(
        d,
        &[
            "pki",
            "import-kmc",
            "--dir",
            s(&pki),
            "--kmc-file",
            "kmc.hex",
        ],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("kmc_label = \"ecard-kmc\""), "{r}");

    // The card maker's blanks: two with the KMC, their manifest; one of another maker.
    std::fs::create_dir_all(d.join("blanks")).unwrap();
    for n in ["b1", "b2"] {
        run(
            d,
            &[
                "sim",
                "new",
                &format!("blanks/{n}.img"),
                "--kmc",
                kmc,
                "--manifest",
                "manifest.csv",
            ],
        )
        .assert_code(0);
    }
    run(
        d,
        &[
            "sim",
            "new",
            "blanks/a0.img",
            "--kmc",
            "00112233445566778899AABBCCDDEEFF",
            "--manifest",
            "other.csv",
        ],
    )
    .assert_code(0);
    let stranger = std::fs::read(d.join("blanks/a0.img")).unwrap();
    std::fs::write(
        d.join("station.toml"),
        format!(
            "kmc_label = \"ecard-kmc\"\n[pki]\ncsca = \"{p}/csca.pem\"\nds_cert = \"{p}/ds.pem\"\nds_key = \"{p}/pki.toml\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks\"\n",
            p = pki.display()
        ),
    )
    .unwrap();
    run(
        d,
        &[
            "stock",
            "import",
            "manifest.csv",
            "--config",
            "station.toml",
            "--data-dir",
            "data",
        ],
    )
    .assert_code(0);

    let conf = ecard_pkcs11::folder_token_conf(&pki);
    let mut ecard = Command::new(ecard_bin());
    ecard.current_dir(d).env("SOFTHSM2_CONF", &conf);
    let (mut daemon, base) =
        station::serve_station(ecard, Path::new("data"), Some(Path::new("station.toml")));
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let token = station::admin_token(&d.join("data"));
    let body = station::sample_enrollment("KMC-TOKEN-1").to_string();
    let (status, answer) = http(addr, &token, "POST", "/api/v1/enrollments", body.as_bytes());
    assert_eq!(status, 202, "{answer}");
    let id = serde_json::from_str::<serde_json::Value>(&answer).unwrap()["id"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, body) = http(addr, &token, "GET", &format!("/api/v1/jobs/{id}"), b"");
        let job: serde_json::Value = serde_json::from_str(&body).unwrap();
        if job["state"] == "issued" || job["state"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job not done: {job}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["state"], "issued", "{job}");
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());
    // The stranger (another maker's KMC) failed its card cryptogram before anything was sent
    // to it: put aside with the rejects, byte for byte as it came, and not tried again.
    let rejects: Vec<_> = std::fs::read_dir(d.join("data/rejects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(std::fs::read(&rejects[0]).unwrap(), stranger);
    let report = run(
        d,
        &[
            "stock",
            "report",
            "--json",
            "--config",
            "station.toml",
            "--data-dir",
            "data",
        ],
    );
    report.assert_code(0);
    let r: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(r["total"]["received"], 2, "{r}");
    assert_eq!(r["total"]["issued"], 1, "{r}");
    assert_eq!(r["total"]["in_stock"], 1, "{r}");
}
