#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shared vectors of an independent implementation (/work/shared/vectors/icao-lds): valid*/
//! accepted, each broken/NN_*/ rejected by the check its WHY.txt names, expect.json equal to what we
//! parse. Skipped with a message when the folder is absent.
//!
//! Provenance: the files were written by an independent implementation (ECARD.md section 9) and are
//! read in place, never copied into this repository. Trust anchors: `pki/csca.pem` (explicit EC
//! parameters) for every folder, and `valid_named_curve/csca.pem` (the same key with the named curve)
//! for that folder too; check date 2026-11-25. Every vector is met; none is disabled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use der::Tagged;
use ecard_chip::lds::{EfId, LdsFiles, parse_card};
use ecard_chip::pki::read_certificate;
use ecard_chip::verify::{AaEvidence, CheckId, Outcome, Report, VerifyOptions, verify};
use x509_cert::Certificate;

fn root() -> Option<PathBuf> {
    let p = PathBuf::from("/work/shared/vectors/icao-lds");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: vectors not present");
        None
    }
}

fn load(dir: &Path) -> LdsFiles {
    let mut files = LdsFiles::new();
    for ef in EfId::ALL {
        if let Ok(b) = std::fs::read(dir.join(ef.dump_file_name())) {
            files.insert(ef, b);
        }
    }
    files
}

fn cert(path: &Path) -> Certificate {
    read_certificate(&std::fs::read(path).unwrap()).unwrap()
}

fn check(dir: &Path, trust: &Certificate, strict: bool) -> Report {
    let revoked = BTreeSet::new();
    verify(
        &load(dir),
        &VerifyOptions {
            trust: std::slice::from_ref(trust),
            at: time::macros::date!(2026 - 11 - 25),
            strict,
            revoked: &revoked,
            active_auth: AaEvidence::NotPerformed,
        },
    )
}

#[test]
fn valid_vectors_are_accepted() {
    let Some(root) = root() else { return };
    let csca = cert(&root.join("pki/csca.pem"));
    let r = check(&root.join("valid"), &csca, true);
    assert!(r.is_valid(), "{:#?}", r.checks);
    assert_eq!(r.outcome(CheckId::DsChain), Some(&Outcome::Pass));
    assert_eq!(
        r.outcome(CheckId::ActiveAuthenticationInfo),
        Some(&Outcome::Pass)
    );
    assert!(matches!(
        r.outcome(CheckId::ActiveAuthentication),
        Some(Outcome::Skipped(_))
    ));

    let named = cert(&root.join("valid_named_curve/csca.pem"));
    let r = check(&root.join("valid_named_curve"), &named, true);
    assert!(r.is_valid(), "{:#?}", r.checks);
    // The named-curve CSCA really is encoded with the named curve, the other with explicit parameters.
    let params = |c: &Certificate| {
        c.tbs_certificate
            .subject_public_key_info
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .tag()
    };
    assert_eq!(params(&named), der::Tag::ObjectIdentifier);
    assert_eq!(params(&csca), der::Tag::Sequence);
}

#[test]
fn valid_no_dg14_warns_and_fails_in_strict_mode() {
    let Some(root) = root() else { return };
    let csca = cert(&root.join("pki/csca.pem"));
    let r = check(&root.join("valid_no_dg14"), &csca, false);
    assert!(r.is_valid(), "{:#?}", r.checks);
    assert!(matches!(
        r.outcome(CheckId::ActiveAuthenticationInfo),
        Some(Outcome::Warn(_))
    ));
    let r = check(&root.join("valid_no_dg14"), &csca, true);
    assert!(!r.is_valid());
    assert_eq!(
        r.first_failure().map(|c| c.id),
        Some(CheckId::ActiveAuthenticationInfo)
    );
}

#[test]
fn broken_vectors_fail_for_their_reason() {
    let Some(root) = root() else { return };
    let csca = cert(&root.join("pki/csca.pem"));
    let cases = [
        ("01_dg2_flipped_byte", CheckId::DataGroupHashes, "DG2"),
        (
            "02_mrz_bad_check_digit",
            CheckId::MrzCheckDigits,
            "date of birth",
        ),
        ("03_sod_rogue_signer", CheckId::DsChain, "not signed"),
        ("04_dg7_missing_from_sod", CheckId::DataGroupsSigned, "DG7"),
        ("05_com_lists_absent_dg3", CheckId::ComMatchesFiles, "DG3"),
        ("06_ds_cert_expired", CheckId::DsValidity, "outside"),
    ];
    for (dir, id, word) in cases {
        let r = check(&root.join("broken").join(dir), &csca, false);
        let first = r
            .first_failure()
            .unwrap_or_else(|| panic!("{dir} accepted"));
        assert_eq!(first.id, id, "{dir}: {:#?}", r.checks);
        let Outcome::Fail(reason) = &first.outcome else {
            unreachable!()
        };
        assert!(
            reason.contains(word),
            "{dir}: reason {reason:?} lacks {word:?}"
        );
        eprintln!("{dir}: {}: {reason}", first.name);
    }
}

/// Compares expect.json with what we parse; returns the names of the fields that differ.
fn differences(expect: &serde_json::Value, r: &Report) -> Vec<&'static str> {
    let h = r.holder.as_ref().unwrap();
    let s = |k: &str| expect[k].as_str().unwrap_or_default().to_string();
    let mut diff = Vec::new();
    let upper = |x: &str| x.to_uppercase();
    let given = format!("{} {}", s("given_names"), s("patronymic"));
    let pairs: [(&'static str, String, Option<String>); 12] = [
        ("surname", upper(&s("surname")), Some(h.surname.clone())),
        (
            "given_names",
            upper(given.trim()),
            Some(h.given_names.clone()),
        ),
        ("date_of_birth", s("date_of_birth"), h.date_of_birth.clone()),
        ("sex", s("sex"), Some(h.sex.clone())),
        ("nationality", s("nationality"), Some(h.nationality.clone())),
        (
            "document_number",
            s("document_number"),
            Some(h.document_number.clone()),
        ),
        (
            "date_of_expiry",
            s("date_of_expiry"),
            h.date_of_expiry.clone(),
        ),
        (
            "issuing_state",
            s("issuing_state"),
            Some(h.issuing_state.clone()),
        ),
        (
            "document_code",
            s("document_code"),
            Some(h.document_code.clone()),
        ),
        (
            "full_name_national",
            s("full_name_national"),
            h.full_name_national.clone(),
        ),
        (
            "issuing_authority",
            s("issuing_authority"),
            h.issuing_authority.clone(),
        ),
        ("date_of_issue", s("date_of_issue"), h.date_of_issue.clone()),
    ];
    for (name, want, got) in pairs {
        if Some(want) != got {
            diff.push(name);
        }
    }
    diff
}

#[test]
fn expect_json_matches_and_the_wrong_one_does_not() {
    let Some(root) = root() else { return };
    let csca = cert(&root.join("pki/csca.pem"));
    for dir in ["valid", "valid_named_curve", "valid_no_dg14"] {
        let r = check(&root.join(dir), &csca, false);
        let expect: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(dir).join("expect.json")).unwrap())
                .unwrap();
        assert_eq!(differences(&expect, &r), Vec::<&str>::new(), "{dir}");
    }
    let r = check(&root.join("valid"), &csca, false);
    let wrong: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("expect_wrong.json")).unwrap()).unwrap();
    assert_eq!(
        differences(&wrong, &r),
        vec!["given_names", "date_of_birth", "document_number"]
    );
}

#[test]
fn vector_files_parse_and_rebuild_byte_for_byte() {
    let Some(root) = root() else { return };
    let files = load(&root.join("valid"));
    let card = parse_card(&files).unwrap();
    assert_eq!(card.com.build(), files[&EfId::Com]);
    assert_eq!(card.dg1.build(), files[&EfId::Dg1]);
    assert_eq!(card.dg2.as_ref().unwrap().build(), files[&EfId::Dg2]);
    assert_eq!(card.dg7.as_ref().unwrap().build(), files[&EfId::Dg7]);
    assert_eq!(card.dg11.as_ref().unwrap().build(), files[&EfId::Dg11]);
    assert_eq!(card.dg12.as_ref().unwrap().build(), files[&EfId::Dg12]);
    assert_eq!(card.dg14.as_ref().unwrap().build(), files[&EfId::Dg14]);
    assert_eq!(card.dg15.as_ref().unwrap().build(), files[&EfId::Dg15]);
    let face = &card.dg2.as_ref().unwrap().face;
    assert_eq!(
        (face.width, face.height, face.image_data_type),
        (240, 320, 0)
    );
    assert_eq!(card.dg11.as_ref().unwrap().other_names.len(), 1);
    assert!(card.dg11.as_ref().unwrap().place_of_birth.is_some());
    assert_eq!(card.sod.lds_security_object.data_group_hash_values.len(), 7);
}
