//! Issue 13 items 12 and 15: the admin token of a data folder is kept across starts and replaced
//! only by `ecard station token rotate`; a temporary card image a crash left behind is removed at
//! start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use ecard_system_tests::ecard_bin;

#[path = "../support/station.rs"]
mod station;

fn status(base: &str, token: &str) -> u16 {
    match ureq::get(&format!("{base}/api/v1/jobs"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("{e}"),
    }
}

fn ecard() -> Command {
    let mut c = Command::new(ecard_bin());
    c.env("ECARD_LOG", "warn");
    c
}

#[test]
fn the_admin_token_survives_a_restart_until_rotated_and_crash_leftovers_go() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (mut d, base) = station::serve_station(ecard(), &dir, None);
    let first = station::admin_token(&dir);
    assert_eq!(status(&base, &first), 200);
    d.kill().unwrap();
    d.wait().unwrap();

    // A write a crash interrupted, in a lane's blanks folder.
    let leftover = dir.join("blanks/lane-1/blank-x.img.tmp.4242");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"half a card").unwrap();

    let (mut d, base) = station::serve_station(ecard(), &dir, None);
    assert_eq!(
        station::admin_token(&dir),
        first,
        "a restart rotated the admin token"
    );
    assert_eq!(status(&base, &first), 200);
    assert!(
        !leftover.exists(),
        "the temporary card image is still there"
    );
    d.kill().unwrap();
    d.wait().unwrap();

    let out = ecard()
        .args(["station", "token", "rotate", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let second = station::admin_token(&dir);
    assert_ne!(second, first);
    let (mut d, base) = station::serve_station(ecard(), &dir, None);
    assert_eq!(status(&base, &first), 401);
    assert_eq!(status(&base, &second), 200);
    d.kill().unwrap();
    d.wait().unwrap();

    // A token is never an argument: hash-token reads standard input.
    let out = ecard()
        .args(["station", "hash-token", "secret"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
}
