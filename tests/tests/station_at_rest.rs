//! Personal data at rest (ECARD.md section 12), through `ecard station serve`:
//! - after a batch, no holder's surname is in clear in any file of the data folder (SQLite with
//!   its WAL, spool, tokens; the simulated cards, which stand for the cards handed to holders,
//!   excepted) nor in a dump of the PostgreSQL schema; no file holds a `PRIVATE KEY`;
//! - every file is 0600 and every folder 0700; a data folder in use that others can read is
//!   refused, naming it;
//! - a sealed spool face opens with `ecard station unseal` into the PNG that was printed;
//! - a record whose ciphertext was altered is never decoded: the job fails naming the field and
//!   the application;
//! - a station given another data key than the one its store was sealed with refuses to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ecard_station::store::{Actor, NewJob, Store};
use ecard_station::vault::{FileKek, Vault};
use ecard_system_tests::{ecard, ecard_bin};

#[path = "../support/station.rs"]
mod station;

/// The holders of the batch: one surname each, none of which may be found in clear.
const SURNAMES: [&str; 3] = ["KARIMOVA", "TOSHMATOVA", "YULDASHEVA"];

fn serve(data: &Path, config: Option<&Path>) -> (std::process::Child, String) {
    let mut cmd = Command::new(ecard_bin());
    cmd.env("ECARD_LOG", "warn");
    station::serve_station(cmd, data, config)
}

fn post(base: &str, token: &str, body: &serde_json::Value) -> i64 {
    let mut r = ureq::post(&format!("{base}/api/v1/enrollments"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let job: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    job["id"].as_i64().unwrap()
}

/// Submits one application per surname and waits until each is issued.
fn batch(base: &str, token: &str, prefix: &str) -> Vec<serde_json::Value> {
    let ids: Vec<i64> = SURNAMES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut rec = station::sample_enrollment(&format!("{prefix}-{i}"));
            rec["surname"] = serde_json::Value::from(*s);
            rec["sex"] = serde_json::Value::from("F");
            rec["patronymic"] = serde_json::Value::from("BAKHODIROVNA");
            post(base, token, &rec)
        })
        .collect();
    ids.iter()
        .map(|id| station::wait_until_issued(base, token, *id))
        .collect()
}

/// Every file under `dir`, the simulated cards' folders excepted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if d == dir && ["cards", "lanes", "blanks", "to-destroy"].contains(&name.as_str()) {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_nothing_in_clear(data: &Path) {
    let all = files(data);
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        for s in SURNAMES {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{s} in clear in {}",
                f.display()
            );
        }
        assert!(
            !contains(&bytes, b"PRIVATE KEY"),
            "a private key in {}",
            f.display()
        );
    }
}

fn assert_private(dir: &Path) {
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
                todo.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
    }
}

#[test]
fn a_batch_leaves_no_personal_data_in_clear_and_files_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut daemon, base) = serve(&data, None);
    let token = station::admin_token(&data);
    let jobs = batch(&base, &token, "MMC-REST");
    // The CAN is still shown to the operator (opened with the data key).
    let can = jobs[0]["can"].as_str().unwrap();
    assert_eq!(can.len(), 6, "{}", jobs[0]);
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    assert_nothing_in_clear(&data);
    assert_private(&data);
    assert!(data.join("station.db").is_file());

    // A spooled face opens with the station's key into the PNG that was printed.
    let sealed = std::fs::read_dir(data.join("print-spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-front.png.sealed"));
    if let Some(sealed) = sealed {
        let out_png = tmp.path().join("front.png");
        let data_s = data.to_str().unwrap();
        let out = ecard(
            tmp.path(),
            &[
                "station",
                "unseal",
                sealed.to_str().unwrap(),
                "--out",
                out_png.to_str().unwrap(),
                "--data-dir",
                data_s,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let png = std::fs::read(&out_png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            std::fs::metadata(&out_png).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A sealed file renamed (moved to another card) does not open.
        let moved = data.join("print-spool/1_770000009-front.png.sealed");
        std::fs::copy(&sealed, &moved).unwrap();
        let out = ecard(
            tmp.path(),
            &[
                "station",
                "unseal",
                moved.to_str().unwrap(),
                "--out",
                tmp.path().join("x.png").to_str().unwrap(),
                "--data-dir",
                data_s,
            ],
        );
        assert_ne!(out.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unreadable"),
            "{out:?}"
        );
        std::fs::remove_file(moved).unwrap();
    }

    // The station starts again with the key its token keeps (not a new one).
    let (mut again, base) = serve(&data, None);
    let job = station::wait_until_issued(&base, &token, jobs[1]["id"].as_i64().unwrap());
    assert_eq!(job["can"], jobs[1]["can"]);
    again.kill().unwrap();
    again.wait().unwrap();

    // Opened up to others, the folder in use is refused, by name.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(ecard_bin())
        .args(["station", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&data.display().to_string()) && said.contains("chmod 700"),
        "{said}"
    );
}

/// A configuration with the data key in a file (development), shared with the test, so that the
/// test can seal a record as the station would and then alter it.
fn file_key_config(dir: &Path, key: &Path, store: &str) -> PathBuf {
    let config = dir.join("station.toml");
    std::fs::write(
        &config,
        format!(
            "station_id = \"rest\"\ntest_transport_key = true\ndata_key_file = \"{}\"\n{store}\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\nprinter = \"sim\"\n",
            key.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn an_altered_record_fails_its_job_by_name_and_another_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = tmp.path().join("data.key");
    let vault = Vault::new(Arc::new(FileKek::create(&key).unwrap()));
    let config = file_key_config(
        tmp.path(),
        &key,
        &format!(
            "[store]\nsqlite = \"{}\"",
            data.join("station.db").display()
        ),
    );
    {
        // A job sealed as the station seals it, then one byte of its record's ciphertext changed.
        let store = Store::open_sqlite(&data.join("station.db"))
            .unwrap()
            .with_vault(vault);
        store.ensure_series(77).unwrap();
        let submit = |app: &str| {
            store
                .submit(
                    &NewJob {
                        application_id: app.into(),
                        record_json: station::sample_enrollment(app).to_string(),
                        chip_images_json: "{}".into(),
                        late_notification: false,
                        replaces: None,
                    },
                    &Actor::named("test"),
                    0,
                )
                .unwrap()
                .0
        };
        let job = submit("MMC-ALTERED");
        // A newer job left alone: the station's key opens it, so the station starts.
        submit("MMC-INTACT");
        store
            .exec_raw(&format!(
                "UPDATE job_inputs SET record = substr(record, 1, 200) || (CASE substr(record, 201, 1) WHEN 'A' THEN 'B' ELSE 'A' END) || substr(record, 202) WHERE job_id = {}",
                job.id
            ))
            .unwrap();
        assert_eq!(store.clear_rows().unwrap(), 0);
    }
    let (mut daemon, base) = serve(&data, Some(&config));
    let token = station::admin_token(&data);
    station::wait_for_state(&base, &token, 1, "failed");
    // The job beside it opens; its stand-in chip images then fail it, for another reason.
    station::wait_for_state(&base, &token, 2, "failed");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // Each attempt was spoiled with the reason, which names the field and the application.
    let store = Store::open_sqlite(&data.join("station.db")).unwrap();
    let reasons: Vec<String> = store
        .history(1)
        .unwrap()
        .into_iter()
        .filter(|e| e.to_state == "spoiled")
        .filter_map(|e| e.detail)
        .collect();
    assert!(!reasons.is_empty());
    for r in &reasons {
        assert!(
            r.contains("job_inputs.record of application MMC-ALTERED") && r.contains("unreadable"),
            "{r}"
        );
    }
    // The intact job opened: no "unreadable" among its reasons.
    let other: Vec<String> = store
        .history(2)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.detail)
        .collect();
    assert!(!other.is_empty());
    assert!(other.iter().all(|r| !r.contains("unreadable")), "{other:?}");
    drop(store);

    // Another key than the store's: refused at start, saying why.
    std::fs::remove_file(&key).unwrap();
    FileKek::create(&key).unwrap();
    let out = Command::new(ecard_bin())
        .args(["station", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("same data key"), "{said}");
}

#[test]
fn postgres_holds_no_surname_in_clear_after_a_batch() {
    let Some(pg) = ecard_system_tests::pg_schema() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("station.toml");
    std::fs::write(
        &config,
        format!(
            "station_id = \"rest-pg\"\ntest_transport_key = true\n[store]\npostgres = \"{}\"\npostgres_schema = \"{}\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\nprinter = \"sim\"\n",
            pg.url, pg.schema
        ),
    )
    .unwrap();
    let (mut daemon, base) = serve(&data, Some(&config));
    let token = station::admin_token(&data);
    batch(&base, &token, "MMC-PG-REST");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let dump = Command::new("pg_dump")
        .args(["--data-only", "--schema", &pg.schema, "--dbname", &pg.url])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    assert!(dump.stdout.len() > 10_000, "the dump holds the batch");
    for s in SURNAMES {
        assert!(
            !contains(&dump.stdout, s.as_bytes()),
            "{s} in clear in PostgreSQL"
        );
    }
    assert!(contains(&dump.stdout, b"enc1:"));
    assert_nothing_in_clear(&data);
}
