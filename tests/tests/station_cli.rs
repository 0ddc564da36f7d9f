//! The daemon binary's helper commands: `audit verify` on an intact and a tampered log, config
//! errors that name the key, `hash-token`, `blanks`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use ecard_station::store::{Actor, NewJob, StepInfo, Store};

fn ecard() -> Command {
    Command::new(ecard_system_tests::ecard_bin())
}

#[test]
fn audit_verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_sqlite(&dir.path().join("station.db")).unwrap();
        let actor = Actor::named("intake-1");
        for i in 0..3 {
            let new = NewJob {
                application_id: format!("MMC-{i}"),
                record_json: "{}".into(),
                chip_images_json: "{}".into(),
                late_notification: false,
                replaces: None,
            };
            let (j, _) = store.submit(&new, &actor, 1).unwrap();
            store
                .step(
                    j.id,
                    ecard_station::job::JobState::Validated,
                    &actor,
                    &StepInfo::default(),
                    2,
                )
                .unwrap();
        }
    }
    let run = || {
        let out = ecard()
            .args(["audit", "verify", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("audit log intact: 6 entries, 3 jobs; 1 chain(s): "),
        "{out}"
    );
    // Delete one entry in the middle with the sqlite3 library, as an intruder would.
    let conn = Store::open_sqlite(&dir.path().join("station.db")).unwrap();
    conn.exec_raw("DELETE FROM audit WHERE seq = 3").unwrap();
    drop(conn);
    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("audit log TAMPERED: audit entry 4 of chain ")
            && out.contains("the entry before it in that chain (entry 2; 0: none)")
            && out.contains("(an entry was edited, inserted or deleted)"),
        "{out}"
    );
    // No database at all: an error (exit 3), not a fresh empty log.
    let out = ecard()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path().join("elsewhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no station database there"));
}

#[test]
fn config_errors_name_the_key_and_helpers_work() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("station.toml");
    std::fs::write(&cfg, "[[lanes]]\nname = \"a\"\nencoder = \"usb:1\"\n").unwrap();
    let out = ecard()
        .args(["station", "serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lanes[0].encoder: \"usb:1\" must be \"sim:<folder of blank cards>\" or \"pcsc:<reader name>\""),
        "{err}"
    );
    let out = {
        use std::io::Write as _;
        let mut child = ecard()
            .args(["station", "hash-token"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let blanks = dir.path().join("blanks");
    let out = ecard()
        .args(["station", "blanks", "--count", "2", "--dir"])
        .arg(&blanks)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = std::fs::read_dir(&blanks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".img"))
        .collect();
    // The card maker's manifest comes with them: a header and one line per blank.
    let manifest = std::fs::read_to_string(blanks.join("manifest.csv")).unwrap();
    assert_eq!(manifest.lines().count(), 3, "{manifest}");
    names.sort();
    assert_eq!(names.len(), 2);
    assert!(names[0].starts_with("blank-000000-") && names[1].starts_with("blank-000001-"));
    // Each is a loadable blank card image.
    for n in names {
        ecard_sim::CardImage::load(blanks.join(n)).unwrap();
    }
}
