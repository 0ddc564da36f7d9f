//! Backup and restore of a running station never hand out a number twice: issue, back up while
//! the daemon runs, issue more, restore the backup elsewhere, issue: the new numbers are above
//! every number ever issued. A tampered or truncated backup is refused and writes nothing; a
//! restore over a data folder in use needs --force and keeps the old one aside.
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

/// Copies the PKI folder (its SoftHSM2 token holds the data key) of station `from` to `to`.
fn with_token_of(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from.join("pki"))
        .arg(to.join("pki"))
        .status()
        .unwrap();
    assert!(status.success());
    // The copied token's configuration names its own folder: point it at the new place.
    let conf = to.join("pki/token/softhsm2.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace(
            &from.join("pki").display().to_string(),
            &to.join("pki").display().to_string(),
        ),
    )
    .unwrap();
}

fn today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Issues a first card for the `n`-th synthetic holder (own identity document and birth date,
/// so no two are the same person) and returns its number.
fn issue(d: &Daemon, n: u32) -> String {
    let mut record = station::sample_enrollment(&format!("MMC-2026-{:07}", 5000 + n));
    record["identity_document"]["number"] = format!("FB{:07}", 1000 + n).into();
    record["identity_document"]["date_of_expiry"] = "2031-03-14".into();
    record["date_of_birth"] = format!("1980-01-{:02}", 1 + n % 28).into();
    record["applied_on"] = today().into();
    let job: serde_json::Value = ureq::post(&format!("{}/api/v1/enrollments", d.base))
        .header("Authorization", &format!("Bearer {}", d.token))
        .header("Content-Type", "application/json")
        .send(record.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let id = job["id"].as_i64().expect("the job has an id");
    let job = station::wait_until_issued(&d.base, &d.token, id);
    job["document_number"].as_str().unwrap().to_string()
}

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = ecard(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_restored_station_issues_above_every_number_ever_issued() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let live = d.join("live");
    let daemon = start(&live);
    let before: Vec<String> = (0..2).map(|n| issue(&daemon, n)).collect();

    // Backup while the daemon (and its lanes) run; a new key is made on first use.
    let (code, out) = run(
        d,
        &[
            "station",
            "backup",
            "--data-dir",
            live.to_str().unwrap(),
            "--out",
            "station.backup",
            "--key-file",
            "backup.key",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("new backup key"), "{out}");
    let backup = std::fs::read(d.join("station.backup")).unwrap();
    // Encrypted: no record field of the sample holder in the file.
    assert!(
        !backup.windows(7).any(|w| w == b"KARIMOV") && !backup.windows(7).any(|w| w == b"ALISHER"),
        "the backup holds personal data in clear"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("station.backup"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(d.join("backup.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The live station goes on issuing after the backup: these numbers are unknown to it.
    let after: Vec<String> = (2..4).map(|n| issue(&daemon, n)).collect();
    drop(daemon);

    // Restore elsewhere (the live station's disk "died"), then issue.
    let restored = d.join("restored");
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "station.backup",
            "--data-dir",
            restored.to_str().unwrap(),
            "--key-file",
            "backup.key",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("voided unused"), "{out}");
    let (code, out) = run(
        d,
        &["audit", "verify", "--data-dir", restored.to_str().unwrap()],
    );
    assert_eq!(code, 0, "the restored audit log must verify: {out}");

    // The records in the backup are sealed under the station's data key, which lives in its
    // token, not in the backup: the restored station is given the same token.
    with_token_of(&live, &restored);
    let daemon = start(&restored);
    let new = issue(&daemon, 4);
    drop(daemon);
    for old in before.iter().chain(&after) {
        assert!(
            new > *old,
            "restored station issued {new}, not above {old} (issued before the restore)"
        );
    }
    // The default reserve is 10,000 numbers above the backup's highest.
    let highest_in_backup: u64 = before.iter().max().unwrap().parse().unwrap();
    assert!(
        new.parse::<u64>().unwrap() > highest_in_backup + 10_000,
        "{new}"
    );

    // restore-check on the restored database: nothing to fix, but cards were issued since the
    // numbering was secured, so it asks for a rule again (a fresh pg_restore would).
    let (code, out) = run(
        d,
        &[
            "station",
            "restore-check",
            "--data-dir",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT READY"), "{out}");
    let (code, out) = run(
        d,
        &[
            "station",
            "restore-check",
            "--data-dir",
            restored.to_str().unwrap(),
            "--numbers-after",
            &format!("{}", new.parse::<u64>().unwrap() + 5),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("READY"), "{out}");
}

#[test]
fn numbers_after_continues_from_the_operators_high_water_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let live = d.join("live");
    let daemon = start(&live);
    let first = issue(&daemon, 10);
    let (code, out) = run(
        d,
        &[
            "station",
            "backup",
            "--data-dir",
            live.to_str().unwrap(),
            "--out",
            "b",
            "--key-file",
            "k",
        ],
    );
    assert_eq!(code, 0, "{out}");
    drop(daemon);
    let mark = format!("{}", first.parse::<u64>().unwrap() + 40);
    // A mark below the backup's own highest number is refused.
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "b",
            "--data-dir",
            "r1",
            "--key-file",
            "k",
            "--numbers-after",
            "770000000",
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("below"), "{out}");
    assert!(
        !d.join("r1").exists(),
        "a refused restore wrote the data folder"
    );
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "b",
            "--data-dir",
            "r2",
            "--key-file",
            "k",
            "--numbers-after",
            &mark,
        ],
    );
    assert_eq!(code, 0, "{out}");
    with_token_of(&live, &d.join("r2"));
    let daemon = start(&d.join("r2"));
    let next = issue(&daemon, 11);
    assert_eq!(
        next.parse::<u64>().unwrap(),
        mark.parse::<u64>().unwrap() + 1
    );
}

#[test]
fn a_damaged_backup_or_a_used_folder_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let live = d.join("live");
    let daemon = start(&live);
    issue(&daemon, 20);
    let (code, out) = run(
        d,
        &[
            "station",
            "backup",
            "--data-dir",
            live.to_str().unwrap(),
            "--out",
            "b",
            "--key-file",
            "k",
        ],
    );
    assert_eq!(code, 0, "{out}");
    drop(daemon);
    let good = std::fs::read(d.join("b")).unwrap();

    let attempts: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 100].to_vec()),
        ("cut at a segment end", good[..good.len() / 2].to_vec()),
        ("bit flipped", {
            let mut b = good.clone();
            let i = b.len() - 40;
            b[i] ^= 0x01;
            b
        }),
        ("header edited", {
            let mut b = good.clone();
            // The header's JSON follows the 16-byte mark and the 4-byte length.
            let i = 16 + 4 + 2;
            b[i] ^= 0x20;
            b
        }),
        ("not a backup", b"SQLite format 3\0 and then some".to_vec()),
    ];
    for (what, bytes) in attempts {
        std::fs::write(d.join("bad"), &bytes).unwrap();
        let target = d.join(format!("r-{}", what.replace(' ', "-")));
        let (code, out) = run(
            d,
            &[
                "station",
                "restore",
                "bad",
                "--data-dir",
                target.to_str().unwrap(),
                "--key-file",
                "k",
            ],
        );
        assert_eq!(code, 3, "{what}: {out}");
        assert!(
            out.contains("failed authentication") || out.contains("not an ecard backup"),
            "{what}: {out}"
        );
        assert!(
            !target.exists(),
            "{what}: the refused restore wrote {}",
            target.display()
        );
    }
    // Another key: refused the same way.
    std::fs::write(d.join("k2"), format!("{}\n", "ab".repeat(32))).unwrap();
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "b",
            "--data-dir",
            "r-key",
            "--key-file",
            "k2",
        ],
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("failed authentication"), "{out}");

    // Over a folder in use: refused without --force; with it the old folder is kept aside.
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "b",
            "--data-dir",
            live.to_str().unwrap(),
            "--key-file",
            "k",
        ],
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("not empty"), "{out}");
    let (code, out) = run(
        d,
        &[
            "station",
            "restore",
            "b",
            "--data-dir",
            live.to_str().unwrap(),
            "--key-file",
            "k",
            "--force",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("kept at"), "{out}");
    let aside: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("live.before-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(aside[0].path().join("station.db").is_file());
}
