//! `ecard verify` against the shared ICAO LDS vectors made by an independent implementation:
//! every `valid*/` folder is accepted and every `broken/NN_*/` folder is rejected for the reason its
//! WHY.txt gives, named as the one failing check. Checked as of 2026-11-25, the vectors' check date.
//! Without `../shared/vectors/icao-lds` each test says "skipped: vectors not present" and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ecard_system_tests::{Run, lds_vectors, run, s, workspace_root};

const AT: &str = "2026-11-25";

fn vectors() -> Option<PathBuf> {
    let v = lds_vectors();
    if v.is_none() {
        eprintln!("skipped: vectors not present");
    }
    v
}

fn verify(folder: &Path, trust: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["verify", s(folder), "--trust", s(trust), "--at", AT];
    args.extend_from_slice(extra);
    run(&workspace_root(), &args)
}

/// The holder line every vector carries (they are one holder, variously broken).
const HOLDER: &str = "card  IR RZ4817263 (UTO), holder ZHUKOVA IULIIA PETROVNA";

#[test]
fn valid_is_valid() {
    let Some(v) = vectors() else { return };
    let r = verify(&v.join("valid"), &v.join("pki/csca.pem"), &[]);
    r.assert_code(0).assert_line(HOLDER);
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());
    assert_eq!(r.checks("WARN"), Vec::<&str>::new());
}

#[test]
fn valid_named_curve_is_valid_with_its_own_csca() {
    let Some(v) = vectors() else { return };
    let folder = v.join("valid_named_curve");
    let r = verify(&folder, &folder.join("csca.pem"), &[]);
    r.assert_code(0).assert_line(HOLDER);
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());
}

#[test]
fn valid_no_dg14_warns_and_fails_when_strict() {
    let Some(v) = vectors() else { return };
    let folder = v.join("valid_no_dg14");
    let trust = v.join("pki/csca.pem");
    let r = verify(&folder, &trust, &[]);
    r.assert_code(0);
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
    let warns = r.checks("WARN");
    assert_eq!(warns.len(), 1, "{r}");
    assert!(
        warns[0].starts_with("DG14 announces Active Authentication: "),
        "{r}"
    );

    let r = verify(&folder, &trust, &["--strict"]);
    r.assert_code(1)
        .assert_only_failure("DG14 announces Active Authentication");
}

/// Each broken vector, the check its WHY.txt is about, and a word of WHY.txt that says so (so a
/// renamed or re-made vector cannot silently keep an outdated expectation).
const BROKEN: [(&str, &str, &str); 6] = [
    (
        "01_dg2_flipped_byte",
        "data group hashes match EF.SOD",
        "DG2 hash mismatch",
    ),
    ("02_mrz_bad_check_digit", "MRZ check digits", "check digit"),
    (
        "03_sod_rogue_signer",
        "Document Signer chains to a trusted CSCA",
        "rogue",
    ),
    (
        "04_dg7_missing_from_sod",
        "every data group is signed in EF.SOD",
        "without a DataGroupHash for DG7",
    ),
    (
        "05_com_lists_absent_dg3",
        "EF.COM lists the data groups present",
        "EF.COM tag list contains 0x63",
    ),
    (
        "06_ds_cert_expired",
        "Document Signer valid for this signature",
        "DS certificate notAfter",
    ),
];

#[test]
fn every_broken_vector_fails_for_its_reason() {
    let Some(v) = vectors() else { return };
    let trust = v.join("pki/csca.pem");
    let mut present: Vec<String> = std::fs::read_dir(v.join("broken"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    let known: Vec<&str> = BROKEN.iter().map(|b| b.0).collect();
    assert_eq!(
        present, known,
        "the broken vectors changed: give each new one its expected failing check here"
    );
    for (name, check, why) in BROKEN {
        let folder = v.join("broken").join(name);
        let text = std::fs::read_to_string(folder.join("WHY.txt")).unwrap();
        assert!(
            text.contains(why),
            "{name}/WHY.txt no longer says {why:?}: {text}"
        );
        let r = verify(&folder, &trust, &[]);
        r.assert_code(1).assert_only_failure(check);
    }
}

#[test]
fn broken_details_name_the_culprit() {
    let Some(v) = vectors() else { return };
    let trust = v.join("pki/csca.pem");
    let fail = |name: &str| {
        let r = verify(&v.join("broken").join(name), &trust, &[]);
        r.checks("FAIL")[0].to_owned()
    };
    assert!(fail("01_dg2_flipped_byte").starts_with("data group hashes match EF.SOD: DG2 hash "));
    assert_eq!(
        fail("02_mrz_bad_check_digit"),
        "MRZ check digits: DG1: date of birth check digit should be 4 but is 5"
    );
    assert_eq!(
        fail("04_dg7_missing_from_sod"),
        "every data group is signed in EF.SOD: DG7 is present but has no hash in EF.SOD"
    );
    assert_eq!(
        fail("05_com_lists_absent_dg3"),
        "EF.COM lists the data groups present: EF.COM lists DG3 (tag 63) which is absent"
    );
    assert!(fail("06_ds_cert_expired").contains("2025-12-31"));
}
