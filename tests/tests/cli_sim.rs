//! The whole issuance on a simulated card image, through the `ecard` binary only: PKI, blank card,
//! personalization, read-back, offline verification and the checkpoint verdict, and each way the
//! verdict must turn negative (other PKI, revocation, expiry, a tampered data group), plus the
//! refusals that must leave cards and keys untouched. No pcscd: `--sim` opens the image directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use ecard_system_tests::{Run, run, s, sample};

const NUMBER: &str = "771234567";

/// The CAN the tests' cards get (printed on the card's front in real life).
const CAN: &str = "246810";

/// A tempdir with a PKI and a card personalized with karimov.json and [`NUMBER`].
struct Issued {
    dir: tempfile::TempDir,
}

impl Issued {
    fn new() -> Issued {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
        let r = run(d, &["sim", "new", "card.img"]);
        r.assert_code(0)
            .assert_line("blank card (ecard-sim) in card.img");
        let r = run(
            d,
            &[
                "personalize",
                "--enrollment",
                s(&sample("karimov.json")),
                "--pki",
                "pki",
                "--document-number",
                NUMBER,
                "--sim",
                "card.img",
                "--can",
                CAN,
            ],
        );
        r.assert_code(0)
            .assert_line("card 77 1234567 issued with profile ecard-sim")
            .assert_line("  locked: a test write was refused");
        Issued { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `ecard read --sim card.img --out <name>`, asserted to succeed.
    fn dump(&self, name: &str) -> PathBuf {
        let r = run(
            self.path(),
            &["read", "--sim", "card.img", "--can", CAN, "--out", name],
        );
        r.assert_code(0);
        assert!(
            r.stdout.starts_with(&format!("read 9 files into {name} (")),
            "{r}"
        );
        self.path().join(name)
    }

    fn verify(&self, dump: &str, extra: &[&str]) -> Run {
        let mut args = vec!["verify", dump, "--trust", "pki/csca.pem"];
        args.extend_from_slice(extra);
        run(self.path(), &args)
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

const ALL_CHECKS: [&str; 12] = [
    "every file parses",
    "EF.COM lists the data groups present",
    "data group hashes match EF.SOD",
    "every data group is signed in EF.SOD",
    "EF.SOD signature",
    "Document Signer chains to a trusted CSCA",
    "Document Signer valid for this signature",
    "MRZ check digits",
    "DG1 and DG11 agree",
    "card not expired",
    "card not revoked",
    "DG14 announces Active Authentication",
];

#[test]
fn issue_read_verify_and_check_a_simulated_card() {
    let card = Issued::new();
    let dump = card.dump("dump");

    let mut expected = [
        "EF.COM.bin",
        "DG1.bin",
        "DG2.bin",
        "DG7.bin",
        "DG11.bin",
        "DG12.bin",
        "DG14.bin",
        "DG15.bin",
        "SOD.bin",
        "holder.json",
        "photo.jpg",
        "signature.jpg",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.sort();
    assert_eq!(file_names(&dump), expected);

    let holder: serde_json::Value =
        serde_json::from_slice(&fs::read(dump.join("holder.json")).unwrap()).unwrap();
    assert_eq!(holder["document_number"], NUMBER);
    assert_eq!(holder["surname"], "KARIMOV");
    // The portrait on the chip is a JPEG (SOI marker), and DG2 carries exactly those bytes.
    let photo = fs::read(dump.join("photo.jpg")).unwrap();
    assert_eq!(&photo[..2], &[0xFF, 0xD8]);
    let dg2 = fs::read(dump.join("DG2.bin")).unwrap();
    assert!(dg2.windows(photo.len()).any(|w| w == photo.as_slice()));

    let r = card.verify("dump", &[]);
    r.assert_code(0);
    assert_eq!(r.checks("PASS"), ALL_CHECKS.to_vec(), "{r}");
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());
    assert_eq!(
        r.checks("SKIP"),
        vec![
            "Active Authentication: not performed: the files were checked without the chip",
            "status list: no status list given"
        ]
    );
    assert_eq!(r.lines().last().copied(), Some("VALID"));
    r.assert_line("card  IR 771234567 (RUS), holder KARIMOV ALISHER BAKHODIROVICH");

    let r = run(
        card.path(),
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
    r.assert_code(2).assert_line("PASS  Active Authentication");
    assert_eq!(
        r.lines().last().copied(),
        Some("AMBER: status list: revocation not checked: no status list was given or fetched")
    );
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());
}

#[test]
fn a_personalized_card_is_refused_and_left_unchanged() {
    let card = Issued::new();
    let before = fs::read(card.path().join("card.img")).unwrap();
    let r = run(
        card.path(),
        &[
            "personalize",
            "--enrollment",
            s(&sample("wang.json")),
            "--pki",
            "pki",
            "--document-number",
            "771234568",
            "--sim",
            "card.img",
        ],
    );
    r.assert_code(3);
    assert!(r.stderr.contains("card is not blank"), "{r}");
    assert!(r.stderr.contains("the card is unchanged"), "{r}");
    assert_eq!(fs::read(card.path().join("card.img")).unwrap(), before);
    // Still the first holder's valid card.
    let r = run(
        card.path(),
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
        .assert_line("card  IR 771234567 (RUS), holder KARIMOV ALISHER BAKHODIROVICH");
}

#[test]
fn a_card_of_another_pki_does_not_chain() {
    let card = Issued::new();
    run(card.path(), &["pki", "init", "--dir", "other"]).assert_code(0);
    let r = run(
        card.path(),
        &[
            "check",
            "--sim",
            "card.img",
            "--can",
            CAN,
            "--trust",
            "other/csca.pem",
        ],
    );
    r.assert_code(1)
        .assert_only_failure("Document Signer chains to a trusted CSCA");
    // The chip itself is sound: its Active Authentication still passes.
    r.assert_line("PASS  Active Authentication");
}

#[test]
fn a_revoked_number_is_not_valid() {
    let card = Issued::new();
    card.dump("dump");
    fs::write(card.path().join("other.txt"), "771234568\n771000001\n").unwrap();
    let r = card.verify("dump", &["--revoked", "other.txt"]);
    r.assert_code(0).assert_line("PASS  card not revoked");

    fs::write(
        card.path().join("revoked.txt"),
        format!("771234568\n{NUMBER}\n"),
    )
    .unwrap();
    let r = card.verify("dump", &["--revoked", "revoked.txt"]);
    r.assert_code(1).assert_only_failure("card not revoked");
}

/// The day after a `YYYY-MM-DD` date (Gregorian).
fn next_day(date: &str) -> String {
    let mut it = date.split('-').map(|p| p.parse::<u32>().unwrap());
    let (mut y, mut m, mut d) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    d += 1;
    if d > days[(m - 1) as usize] {
        d = 1;
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn next_day_rolls_over() {
    assert_eq!(next_day("2031-11-25"), "2031-11-26");
    assert_eq!(next_day("2028-02-28"), "2028-02-29");
    assert_eq!(next_day("2031-02-28"), "2031-03-01");
    assert_eq!(next_day("2031-12-31"), "2032-01-01");
}

#[test]
fn a_card_is_valid_on_its_expiry_day_and_expired_the_day_after() {
    let card = Issued::new();
    let dump = card.dump("dump");
    let holder: serde_json::Value =
        serde_json::from_slice(&fs::read(dump.join("holder.json")).unwrap()).unwrap();
    let expiry = holder["date_of_expiry"].as_str().unwrap().to_owned();

    let r = card.verify("dump", &["--at", &expiry]);
    r.assert_code(0).assert_line("PASS  card not expired");

    let after = next_day(&expiry);
    let r = card.verify("dump", &["--at", &after]);
    r.assert_code(1).assert_only_failure("card not expired");
    r.assert_line(&format!(
        "FAIL  card not expired: card expired on {expiry}, check date {after}"
    ));
}

#[test]
fn one_flipped_byte_in_dg2_breaks_the_hash() {
    let card = Issued::new();
    let dump = card.dump("dump");
    let path = dump.join("DG2.bin");
    let mut dg2 = fs::read(&path).unwrap();
    let mid = dg2.len() / 2;
    dg2[mid] ^= 0x01;
    fs::write(&path, &dg2).unwrap();

    let r = card.verify("dump", &[]);
    r.assert_code(1)
        .assert_only_failure("data group hashes match EF.SOD");
    let fail = r.checks("FAIL")[0];
    assert!(
        fail.starts_with("data group hashes match EF.SOD: DG2 hash "),
        "{r}"
    );
}

#[test]
fn an_invalid_record_is_refused_with_every_problem_and_the_card_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    run(d, &["sim", "new", "card.img"]).assert_code(0);
    let before = fs::read(d.join("card.img")).unwrap();
    let record = sample("invalid/bad-mrz-and-replacement.json");

    // The problems as `ecard validate --json` lists them.
    let v = run(d, &["validate", "--json", s(&record)]);
    v.assert_code(1);
    let report: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    let problems = report[0]["problems"].as_array().unwrap().clone();
    assert!(problems.len() >= 2, "{v}");

    let r = run(
        d,
        &[
            "personalize",
            "--enrollment",
            s(&record),
            "--pki",
            "pki",
            "--document-number",
            "771234569",
            "--sim",
            "card.img",
        ],
    );
    r.assert_code(3);
    assert!(
        r.stderr.contains(&format!(
            "rejected with {} problems; nothing was written",
            problems.len()
        )),
        "{r}"
    );
    for p in &problems {
        let line = format!(
            "  {}: {}",
            p["path"].as_str().unwrap(),
            p["message"].as_str().unwrap()
        );
        assert!(
            r.stderr.lines().any(|l| l == line),
            "personalize does not list {line:?}: {r}"
        );
    }
    assert_eq!(fs::read(d.join("card.img")).unwrap(), before);
}

#[test]
fn pki_init_refuses_to_overwrite_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    let files = ["csca.key", "csca.pem", "ds.key", "ds.pem"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(d.join("pki").join(f)).unwrap())
        .collect();
    for key in ["csca.key", "ds.key"] {
        let mode = fs::metadata(d.join("pki").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key} has mode {:o}", mode & 0o777);
    }

    let r = run(d, &["pki", "init", "--dir", "pki"]);
    r.assert_code(3);
    assert!(r.stderr.contains("--force"), "{r}");
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(d.join("pki").join(f)).unwrap())
        .collect();
    assert_eq!(after, before, "pki init without --force changed the PKI");

    // --force replaces it: new keys, still private.
    run(d, &["pki", "init", "--dir", "pki", "--force"]).assert_code(0);
    for (f, old) in files.iter().zip(&before) {
        let new = fs::read(d.join("pki").join(f)).unwrap();
        assert_ne!(&new, old, "{f} not replaced by --force");
    }
    for key in ["csca.key", "ds.key"] {
        let mode = fs::metadata(d.join("pki").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "{key} has mode {:o} after --force",
            mode & 0o777
        );
    }
}

/// Issue 14: the chip of an issued card is readable only through PACE: with its CAN or its MRZ
/// key; without either the reader says what to give, a wrong one is "access denied" with its own
/// exit code (4), and `personalize --json` gives a random CAN when none is set.
#[test]
fn an_issued_chip_opens_only_with_its_can_or_mrz_key() {
    let card = Issued::new();
    let d = card.path();
    let r = run(d, &["read", "--sim", "card.img", "--out", "none"]);
    r.assert_code(3);
    assert!(r.stderr.contains("--can NNNNNN"), "{r}");
    let r = run(
        d,
        &[
            "read", "--sim", "card.img", "--can", "135790", "--out", "wrong",
        ],
    );
    r.assert_code(4);
    assert!(r.stderr.contains("access denied: wrong CAN"), "{r}");
    let r = run(
        d,
        &[
            "check",
            "--sim",
            "card.img",
            "--mrz-key",
            "771234567,900101,310101",
            "--trust",
            "pki/csca.pem",
        ],
    );
    r.assert_code(4);
    assert!(r.stderr.contains("access denied: wrong MRZ key"), "{r}");
    // The MRZ key as printed on the card's back opens it (DG1 holds the same MRZ).
    let dump = card.dump("plain");
    let mrz = fs::read_to_string(dump.join("holder.json")).unwrap();
    let holder: serde_json::Value = serde_json::from_str(&mrz).unwrap();
    let yymmdd = |v: &serde_json::Value| {
        let t = v.as_str().unwrap().replace('-', "");
        t[2..].to_string()
    };
    let key = format!(
        "{},{},{}",
        NUMBER,
        yymmdd(&holder["date_of_birth"]),
        yymmdd(&holder["date_of_expiry"])
    );
    let r = run(
        d,
        &[
            "read",
            "--sim",
            "card.img",
            "--mrz-key",
            &key,
            "--out",
            "by-mrz",
        ],
    );
    r.assert_code(0);
    // PACE is part of the verdict: the check says so.
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
    r.assert_line("PASS  chip access control (PACE)");

    // A new card with no --can: a random one, given in the JSON.
    run(d, &["sim", "new", "card2.img"]).assert_code(0);
    let r = run(
        d,
        &[
            "personalize",
            "--enrollment",
            s(&sample("wang.json")),
            "--pki",
            "pki",
            "--document-number",
            "771234568",
            "--sim",
            "card2.img",
            "--json",
        ],
    );
    r.assert_code(0);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let can = out["can"].as_str().unwrap().to_string();
    assert!(
        can.len() == 6 && can.bytes().all(|b| b.is_ascii_digit()),
        "{r}"
    );
    assert_eq!(out["access_control"], "pace");
    run(
        d,
        &["read", "--sim", "card2.img", "--can", &can, "--out", "two"],
    )
    .assert_code(0);
}

/// Issue 15: a blank made by the card maker with the issuer's KMC is personalized only with that
/// KMC; the test key is a key mismatch that leaves the blank as it was.
#[test]
fn a_blank_of_another_kmc_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    let kmc = "2B7E151628AED2A6ABF7158809CF4F3C";
    std::fs::write(d.join("kmc.hex"), kmc).unwrap();
    let r = run(
        d,
        &[
            "sim",
            "new",
            "card.img",
            "--kmc",
            kmc,
            "--manifest",
            "manifest.csv",
            "--batch",
            "B7",
        ],
    );
    r.assert_code(0);
    let manifest = fs::read_to_string(d.join("manifest.csv")).unwrap();
    let line = manifest.lines().next().unwrap();
    assert!(line.ends_with(",B7,48"), "{line}");
    let before = fs::read(d.join("card.img")).unwrap();
    let record = sample("karimov.json");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "personalize",
            "--enrollment",
            s(&record),
            "--pki",
            "pki",
            "--document-number",
            NUMBER,
            "--sim",
            "card.img",
            "--can",
            CAN,
        ];
        a.extend_from_slice(extra);
        a
    };
    let r = run(d, &args(&[]));
    r.assert_code(3);
    assert!(
        r.stderr
            .contains("transport key mismatch (card cryptogram did not verify)"),
        "{r}"
    );
    assert!(r.stderr.contains("GlobalPlatform test key"), "{r}");
    assert_eq!(fs::read(d.join("card.img")).unwrap(), before);
    let r = run(d, &args(&["--kmc-file", "kmc.hex"]));
    r.assert_code(0)
        .assert_line("card 77 1234567 issued with profile ecard-sim");
}
