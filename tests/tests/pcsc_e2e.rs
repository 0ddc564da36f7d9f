//! The issuance through the real PC/SC stack: `ecard sim serve` puts a card image behind pcscd's
//! vpcd reader (`Virtual PCD 00 01`, port `$ECARD_VPCD_PORT`, default 35964), and `ecard` talks to
//! it with `--reader` as it would to hardware. Also: every write reaches the image file (SIGKILL the
//! card and check the file), a card pulled mid-personalization, and waiting for a card.
//!
//! Skipped (saying so) unless `ECARD_PCSC_TESTS=1`; with it, a missing pcscd fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use ecard_system_tests::{
    ReaderState, SimServe, finish, pcsc_test, profile_atr, reader_state, run, s, sample, spawn,
    test_vpcd_port,
};

/// The CAN the tests personalize their cards with (readers open the chip with it).
const CAN: &str = "864209";

fn pki_and_blank(d: &Path) {
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    // A blank whose SCP03 transport keys are diversified from the issuer's KMC (not the test key).
    std::fs::write(d.join("kmc.hex"), format!("{KMC}\n")).unwrap();
    run(
        d,
        &[
            "sim",
            "new",
            "card.img",
            "--kmc",
            KMC,
            "--manifest",
            "manifest.csv",
        ],
    )
    .assert_code(0);
}

/// The issuer's master key the tests' blanks are made with.
const KMC: &str = "8C72C72CF908411653018807950D82FB";

fn personalize_args<'a>(
    record: &'a str,
    reader: &'a str,
    number: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "personalize",
        "--enrollment",
        record,
        "--pki",
        "pki",
        "--document-number",
        number,
        "--reader",
        reader,
        "--can",
        CAN,
        "--kmc-file",
        "kmc.hex",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn personalize_read_verify_and_check_through_pcscd() {
    let Some((_pcscd, reader)) = pcsc_test("personalize_read_verify_and_check_through_pcscd")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki_and_blank(d);
    let record = sample("karimov.json");
    let serve = SimServe::start(&d.join("card.img"), test_vpcd_port());

    // The reader lists the card with the ATR of the ecard-sim profile.
    let st = reader_state(&reader).unwrap();
    assert!(st.card_present);
    assert_eq!(st.atr.as_deref(), Some(profile_atr("ecard-sim").as_str()));

    // No --profile: chosen by ATR.
    let r = run(d, &personalize_args(s(&record), &reader, "771234567", &[]));
    r.assert_code(0)
        .assert_line("card 77 1234567 issued with profile ecard-sim")
        .assert_line("  locked: a test write was refused");

    let r = run(
        d,
        &["read", "--reader", &reader, "--can", CAN, "--out", "dump"],
    );
    r.assert_code(0);
    assert!(r.stdout.starts_with("read 9 files into dump ("), "{r}");
    // Issue 14 through pcscd: no password, a wrong CAN, then the MRZ key from the card's data.
    let r = run(d, &["read", "--reader", &reader, "--out", "nopw"]);
    r.assert_code(3);
    assert!(r.stderr.contains("protects its chip with PACE"), "{r}");
    let r = run(
        d,
        &[
            "read", "--reader", &reader, "--can", "000001", "--out", "wrong",
        ],
    );
    r.assert_code(4);
    assert!(r.stderr.contains("access denied: wrong CAN"), "{r}");
    let holder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("dump/holder.json")).unwrap())
            .unwrap();
    let yymmdd = |v: &serde_json::Value| v.as_str().unwrap().replace('-', "")[2..].to_string();
    let key = format!(
        "771234567,{},{}",
        yymmdd(&holder["date_of_birth"]),
        yymmdd(&holder["date_of_expiry"])
    );
    let r = run(
        d,
        &[
            "read",
            "--reader",
            &reader,
            "--mrz-key",
            &key,
            "--out",
            "bymrz",
        ],
    );
    r.assert_code(0);
    assert_eq!(
        std::fs::read(d.join("bymrz/DG2.bin")).unwrap(),
        std::fs::read(d.join("dump/DG2.bin")).unwrap()
    );

    let r = run(d, &["verify", "dump", "--trust", "pki/csca.pem"]);
    r.assert_code(0)
        .assert_line("card  IR 771234567 (RUS), holder KARIMOV ALISHER BAKHODIROVICH");
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");

    let r = run(
        d,
        &[
            "check",
            "--reader",
            &reader,
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    // No status list given: amber, revocation not checked (issue 13).
    r.assert_code(2).assert_line("PASS  Active Authentication");
    assert_eq!(
        r.lines().last().copied(),
        Some("AMBER: status list: revocation not checked: no status list was given or fetched"),
        "{r}"
    );
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());

    // SIGKILL the card: what is on disk must be the whole personalized card.
    serve.kill();
    let r = run(
        d,
        &[
            "check",
            "--sim",
            "card.img",
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    r.assert_code(2)
        .assert_line("PASS  Active Authentication")
        .assert_line("card  IR 771234567 (RUS), holder KARIMOV ALISHER BAKHODIROVICH");
    assert_eq!(
        r.lines().last().copied(),
        Some("AMBER: status list: revocation not checked: no status list was given or fetched"),
        "{r}"
    );
    // And it reads back the same bytes as through pcscd.
    run(
        d,
        &["read", "--sim", "card.img", "--can", CAN, "--out", "dump2"],
    )
    .assert_code(0);
    for f in [
        "EF.COM.bin",
        "DG1.bin",
        "DG2.bin",
        "DG7.bin",
        "DG11.bin",
        "DG12.bin",
        "DG14.bin",
        "DG15.bin",
        "SOD.bin",
    ] {
        assert_eq!(
            fs::read(d.join("dump").join(f)).unwrap(),
            fs::read(d.join("dump2").join(f)).unwrap(),
            "{f} differs between the pcscd read and the image file"
        );
    }
}

/// A fingerprint of a file that changes on every save (content, size, inode for renames).
fn fingerprint(p: &Path) -> Option<(u64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).ok()?;
    let bytes = fs::read(p).ok()?;
    Some((m.ino(), bytes))
}

#[test]
fn pulling_the_card_mid_personalization_spoils_it() {
    let Some((_pcscd, reader)) = pcsc_test("pulling_the_card_mid_personalization_spoils_it") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki_and_blank(d);
    let record = sample("karimov.json");
    let image = d.join("card.img");
    let serve = SimServe::start(&image, test_vpcd_port());

    // The simulator saves the image after each write command: pull the card at the third save,
    // i.e. after the personalization has written something and long before it ends.
    let killer = serve.killer();
    let watched = image.clone();
    let watcher = thread::spawn(move || {
        let mut last = fingerprint(&watched);
        let mut changes = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let now = fingerprint(&watched);
            if now.is_some() && now != last {
                changes += 1;
                last = now;
                if changes == 3 {
                    return killer.kill();
                }
            }
            thread::sleep(Duration::from_micros(200));
        }
        false
    });
    let args = personalize_args(s(&record), &reader, "771234567", &[]);
    let r = finish(&args, spawn(d, &args));
    let killed = watcher.join().unwrap();
    assert!(
        killed,
        "the card was never pulled (fewer than 3 saves?): {r}"
    );

    r.assert_code(3);
    // (A warning may come first: a PKI folder with a file key says it is insecure.)
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(first.contains("the card is spoiled"), "{r}");
    assert!(
        first.contains(&format!("reader \"{reader}\"")),
        "the error does not name the reader {reader:?}: {r}"
    );
    assert!(
        r.stderr.contains("card 77 1234567 is spoiled"),
        "the help does not tell which number to void: {r}"
    );
    drop(serve);

    // What the card holds is not a valid card.
    let r = run(
        d,
        &[
            "check",
            "--sim",
            "card.img",
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    assert_eq!(r.code, Some(1), "a spoiled card must be red: {r}");
    assert!(
        r.stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("RED: ")),
        "{r}"
    );
}

#[test]
fn personalize_wait_waits_for_the_card() {
    let Some((_pcscd, reader)) = pcsc_test("personalize_wait_waits_for_the_card") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki_and_blank(d);
    let record = sample("karimov.json");

    let args = personalize_args(
        s(&record),
        &reader,
        "771234568",
        &["--wait", "--wait-timeout", "30"],
    );
    let mut child = spawn(d, &args);
    thread::sleep(Duration::from_secs(1));
    let early = child.try_wait().unwrap();
    if early.is_some() {
        let r = finish(&args, child);
        panic!("personalize --wait did not wait for the card: {r}");
    }
    let serve = SimServe::start_no_wait(&d.join("card.img"), test_vpcd_port());
    let r = finish(&args, child);
    r.assert_code(0)
        .assert_line("card 77 1234568 issued with profile ecard-sim");
    assert!(
        r.stderr
            .contains(&format!("waiting for a card in reader \"{reader}\"")),
        "{r}"
    );
    serve.kill();
    let r = run(
        d,
        &[
            "check",
            "--sim",
            "card.img",
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    r.assert_code(2)
        .assert_line("card  IR 771234568 (RUS), holder KARIMOV ALISHER BAKHODIROVICH");
}

#[test]
fn check_on_an_empty_reader_fails_or_times_out() {
    let Some((_pcscd, reader)) = pcsc_test("check_on_an_empty_reader_fails_or_times_out") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    // `readers --json` lists the empty reader without an ATR.
    assert_eq!(
        reader_state(&reader),
        Some(ReaderState {
            name: reader.clone(),
            card_present: false,
            atr: None,
        })
    );

    let r = run(
        d,
        &[
            "check",
            "--reader",
            &reader,
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    r.assert_code(3);
    assert!(
        r.stderr
            .contains(&format!("error: no card in reader \"{reader}\"")),
        "{r}"
    );

    let start = Instant::now();
    let r = run(
        d,
        &[
            "check",
            "--reader",
            &reader,
            "--can",
            CAN,
            "--wait",
            "--wait-timeout",
            "1",
            "--trust",
            "pki/csca.pem",
        ],
    );
    let took = start.elapsed();
    r.assert_code(3);
    assert!(
        r.stderr
            .contains(&format!("error: timed out waiting for reader \"{reader}\"")),
        "{r}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "waited {took:?} for a 1 s timeout"
    );
}
