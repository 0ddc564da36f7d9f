#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Cards built by us, checked by us: a good card passes every check, and each way of breaking it
//! fails the check that should catch it. EF.SOD also goes through OpenSSL's CMS verifier.

use std::collections::BTreeSet;
use std::process::Command;

use ecard_chip::lds::{CardContent, Dg15, EfId, LdsFiles, Sod, build_card, parse_card};
use ecard_chip::pki::{self, GeneratedPki, PkiConfig, SoftwareSigner};
use ecard_chip::verify::{
    AaError, AaEvidence, AaOutcome, CheckId, Outcome, Report, VerifyOptions, verify,
    verify_active_authentication,
};
use ecard_model::mrz::{Td1, check_digit};
use p256::ecdsa::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use signature::Signer as _;

fn cd(s: &str) -> char {
    char::from(b'0' + check_digit(s).unwrap())
}

fn td1(doc: &str, dob: &str, exp: &str, name: &str) -> Td1 {
    let l1 = format!("IRRUS{doc}{}{}", cd(doc), "<".repeat(15));
    let l2a = format!("{dob}{}F{exp}{}UZB{}", cd(dob), cd(exp), "<".repeat(11));
    let composite = format!(
        "{}{}{}{}",
        &l1[5..30],
        &l2a[0..7],
        &l2a[8..15],
        &l2a[18..29]
    );
    let l2 = format!("{l2a}{}", cd(&composite));
    let l3 = format!("{name:<<30}");
    Td1::parse(&format!("{l1}\n{l2}\n{l3}")).unwrap()
}

struct Fixture {
    pki: GeneratedPki,
    aa: SigningKey,
    files: LdsFiles,
}

fn content() -> CardContent {
    CardContent {
        td1: td1(
            "771234567",
            "900517",
            "311124",
            "KARIMOVA<<DILNOZA<BAKHODIROVNA",
        ),
        name_national: Some("КАРИМОВА<<ДИЛНОЗА<БАХОДИРОВНА".into()),
        date_of_birth: time::macros::date!(1990 - 05 - 17),
        face_jpeg: vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 0xFF, 0xD9],
        face_width: 240,
        face_height: 320,
        signature_jpeg: vec![0xFF, 0xD8, 9, 9, 0xFF, 0xD9],
        issuing_authority: "MMC MOSCOW".into(),
        date_of_issue: time::macros::date!(2026 - 11 - 24),
        personalized_at: time::macros::datetime!(2026-11-24 10:15:30),
    }
}

fn fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let pki = pki::init(
        &PkiConfig::default(),
        time::macros::datetime!(2026-11-01 00:00:00 UTC),
        &mut rng,
    )
    .unwrap();
    let aa = SigningKey::random(&mut rng);
    let aa_public = p256::PublicKey::from(aa.verifying_key());
    let files = build_card(
        &content(),
        Some(&aa_public),
        &pki.ds_key,
        &pki.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap();
    Fixture { pki, aa, files }
}

fn run(f: &Fixture, files: &LdsFiles, aa: AaEvidence, revoked: &[&str]) -> Report {
    let revoked: BTreeSet<String> = revoked.iter().map(|s| s.to_string()).collect();
    verify(
        files,
        &VerifyOptions {
            trust: std::slice::from_ref(&f.pki.csca),
            at: time::macros::date!(2026 - 11 - 25),
            strict: true,
            revoked: &revoked,
            active_auth: aa,
        },
    )
}

fn answer(key: &SigningKey, challenge: [u8; 8]) -> AaEvidence {
    let sig: p256::ecdsa::Signature = key.sign(&challenge);
    AaEvidence::Performed(AaOutcome {
        challenge,
        response: sig.to_bytes().to_vec(),
    })
}

fn first(r: &Report) -> Option<CheckId> {
    r.first_failure().map(|c| c.id)
}

#[test]
fn our_card_passes_every_check() {
    let f = fixture();
    assert_eq!(
        f.files.keys().copied().collect::<Vec<_>>(),
        EfId::ALL.to_vec()
    );
    let r = run(
        &f,
        &f.files,
        answer(&f.aa, *b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        &[],
    );
    for c in &r.checks {
        assert_eq!(c.outcome, Outcome::Pass, "{:?}", c.id);
    }
    assert_eq!(r.checks.len(), 13);
    let h = r.holder.as_ref().unwrap();
    assert_eq!(h.document_number, "771234567");
    assert_eq!(h.date_of_birth.as_deref(), Some("1990-05-17"));
    assert_eq!(
        h.full_name_national.as_deref(),
        Some("КАРИМОВА ДИЛНОЗА БАХОДИРОВНА")
    );
    assert_eq!(h.date_of_issue.as_deref(), Some("2026-11-24"));
    // Debug of the summary carries no holder data.
    assert!(!format!("{h:?}").contains("771234567"));
    // The JSON report names checks and outcomes.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][0]["id"], "files_parse");
    assert_eq!(json["checks"][0]["outcome"], "pass");
    let r = run(&f, &f.files, AaEvidence::NoAnswer, &[]);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][12]["id"], "active_authentication");
    assert_eq!(json["checks"][12]["outcome"], "fail");
    assert_eq!(
        json["checks"][12]["reason"],
        "the chip did not answer INTERNAL AUTHENTICATE: cloned or fake chip"
    );

    let card = parse_card(&f.files).unwrap();
    assert_eq!(
        card.com.dg_tags,
        vec![0x61, 0x75, 0x67, 0x6B, 0x6C, 0x6E, 0x6F]
    );
    assert_eq!(card.sod.lds_security_object.data_group_hash_values.len(), 7);
    assert_eq!(
        card.sod.signing_time(),
        Some(time::macros::datetime!(2026-11-24 07:15:30 UTC))
    );
    assert_eq!(
        card.sod.signed_data.version,
        cms::content_info::CmsVersion::V3
    );
}

#[test]
fn without_an_aa_key_there_is_no_dg14_or_dg15() {
    let f = fixture();
    let files = build_card(
        &content(),
        None,
        &f.pki.ds_key,
        &f.pki.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap();
    assert!(!files.contains_key(&EfId::Dg14) && !files.contains_key(&EfId::Dg15));
    let r = run(&f, &files, AaEvidence::NotPerformed, &[]);
    assert!(r.is_valid());
    assert!(matches!(
        r.outcome(CheckId::ActiveAuthentication),
        Some(Outcome::Skipped(_))
    ));
    assert_eq!(
        parse_card(&files).unwrap().com.dg_tags,
        vec![0x61, 0x75, 0x67, 0x6B, 0x6C]
    );
}

#[test]
fn active_authentication_with_a_substituted_key_fails() {
    let f = fixture();
    let challenge = *b"abcdefgh";
    let clone = SigningKey::random(&mut ChaCha20Rng::seed_from_u64(5));
    let r = run(&f, &f.files, answer(&clone, challenge), &[]);
    assert_eq!(first(&r), Some(CheckId::ActiveAuthentication));
    let r = run(&f, &f.files, AaEvidence::NoAnswer, &[]);
    assert_eq!(first(&r), Some(CheckId::ActiveAuthentication));

    let dg15 = Dg15::parse(&f.files[&EfId::Dg15]).unwrap();
    let good: p256::ecdsa::Signature = f.aa.sign(&challenge);
    assert_eq!(
        verify_active_authentication(&dg15, &challenge, &good.to_bytes()),
        Ok(())
    );
    // The right key over another challenge, a wrong key, a DER signature: all refused.
    assert_eq!(
        verify_active_authentication(&dg15, b"abcdefgX", &good.to_bytes()),
        Err(AaError::BadSignature)
    );
    let bad: p256::ecdsa::Signature = clone.sign(&challenge);
    assert_eq!(
        verify_active_authentication(&dg15, &challenge, &bad.to_bytes()),
        Err(AaError::BadSignature)
    );
    let der = good.to_der();
    assert_eq!(
        verify_active_authentication(&dg15, &challenge, der.as_bytes()),
        Err(AaError::ResponseLength {
            got: der.as_bytes().len()
        })
    );
    // A DG15 holding the clone's key accepts the clone: the check is against DG15, which the SOD signs.
    let mut swapped = f.files.clone();
    swapped.insert(
        EfId::Dg15,
        Dg15::for_key(&p256::PublicKey::from(clone.verifying_key())).build(),
    );
    let r = run(&f, &swapped, answer(&clone, challenge), &[]);
    assert_eq!(first(&r), Some(CheckId::DataGroupHashes));
}

#[test]
fn each_tampering_fails_its_check() {
    let f = fixture();
    let aa = || answer(&f.aa, [7; 8]);

    // A flipped byte inside the face image.
    let mut t = f.files.clone();
    let dg2 = t.get_mut(&EfId::Dg2).unwrap();
    let n = dg2.len();
    dg2[n - 3] ^= 0x10;
    assert_eq!(
        first(&run(&f, &t, aa(), &[])),
        Some(CheckId::DataGroupHashes)
    );

    // A data group the SOD does not sign.
    let mut t = f.files.clone();
    t.remove(&EfId::Dg7);
    let r = run(&f, &t, aa(), &[]);
    assert_eq!(first(&r), Some(CheckId::ComMatchesFiles));
    assert!(
        matches!(r.outcome(CheckId::DataGroupsSigned), Some(Outcome::Fail(m)) if m.contains("DG7"))
    );

    // Revoked number.
    assert_eq!(
        first(&run(&f, &f.files, aa(), &["771234567"])),
        Some(CheckId::NotRevoked)
    );

    // A CSCA we do not trust.
    let other = pki::init(
        &PkiConfig::default(),
        time::macros::datetime!(2026-11-01 00:00:00 UTC),
        &mut ChaCha20Rng::seed_from_u64(43),
    )
    .unwrap();
    let r = verify(
        &f.files,
        &VerifyOptions {
            trust: std::slice::from_ref(&other.csca),
            at: time::macros::date!(2026 - 11 - 25),
            strict: true,
            revoked: &BTreeSet::new(),
            active_auth: aa(),
        },
    );
    assert_eq!(first(&r), Some(CheckId::DsChain));

    // Checked after the card's expiry (and the DS certificate's).
    let r = verify(
        &f.files,
        &VerifyOptions {
            trust: std::slice::from_ref(&f.pki.csca),
            at: time::macros::date!(2031 - 11 - 25),
            strict: true,
            revoked: &BTreeSet::new(),
            active_auth: aa(),
        },
    );
    assert!(matches!(
        r.outcome(CheckId::NotExpired),
        Some(Outcome::Fail(_))
    ));
    assert_eq!(r.outcome(CheckId::DsValidity), Some(&Outcome::Pass));

    // Signed with the wrong key: our builder refuses to sign with a key that is not the DS's.
    let wrong = SoftwareSigner::generate(&mut ChaCha20Rng::seed_from_u64(44));
    let err = build_card(
        &content(),
        None,
        &wrong,
        &f.pki.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "EF.SOD: the signer's public key is not the key of the DS certificate"
    );

    // A SOD signed after the DS signing period.
    let late = build_card(
        &content(),
        None,
        &f.pki.ds_key,
        &f.pki.ds,
        time::macros::datetime!(2027-03-01 00:00:00 UTC),
    )
    .unwrap();
    let r = run(&f, &late, AaEvidence::NotPerformed, &[]);
    assert_eq!(first(&r), Some(CheckId::DsValidity));

    // A DS that may sign passports only.
    let passports = pki::init(
        &PkiConfig {
            document_types: vec!["P".into()],
            ..PkiConfig::default()
        },
        time::macros::datetime!(2026-11-01 00:00:00 UTC),
        &mut ChaCha20Rng::seed_from_u64(45),
    )
    .unwrap();
    let files = build_card(
        &content(),
        None,
        &passports.ds_key,
        &passports.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap();
    let r = verify(
        &files,
        &VerifyOptions {
            trust: std::slice::from_ref(&passports.csca),
            at: time::macros::date!(2026 - 11 - 25),
            strict: true,
            revoked: &BTreeSet::new(),
            active_auth: AaEvidence::NotPerformed,
        },
    );
    assert_eq!(
        r.first_failure().map(|c| &c.outcome),
        Some(&Outcome::Fail(
            "DS certificate documentTypeList [\"P\"] does not cover document code \"IR\"".into()
        ))
    );

    // A truncated EF.SOD.
    let mut t = f.files.clone();
    t.get_mut(&EfId::Sod).unwrap().truncate(100);
    let r = run(&f, &t, aa(), &[]);
    assert_eq!(first(&r), Some(CheckId::FilesParse));
    assert!(matches!(
        r.outcome(CheckId::SodSignature),
        Some(Outcome::Skipped(_))
    ));
}

#[test]
fn inconsistent_content_is_refused() {
    let f = fixture();
    let mut c = content();
    c.date_of_birth = time::macros::date!(1990 - 05 - 18);
    let err = build_card(
        &c,
        None,
        &f.pki.ds_key,
        &f.pki.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "card content is inconsistent: MRZ date of birth differs from the full date of birth"
    );
    // A DG11 name that does not transliterate to the MRZ name.
    let mut c = content();
    c.name_national = Some("КАРИМОВА<<ЗУЛЬФИЯ".into());
    let files = build_card(
        &c,
        None,
        &f.pki.ds_key,
        &f.pki.ds,
        time::macros::datetime!(2026-11-24 07:15:30 UTC),
    )
    .unwrap();
    let r = run(&f, &files, AaEvidence::NotPerformed, &[]);
    // Passport spellings differ from Doc 9303 transliteration: a warning, not a failure.
    assert_eq!(first(&r), None);
    assert!(
        matches!(r.outcome(CheckId::Dg1Dg11Agree), Some(Outcome::Warn(w)) if w.contains("compare the two names by eye")),
        "{:?}",
        r.outcome(CheckId::Dg1Dg11Agree)
    );
}

/// `openssl cms -verify` of the DER SignedData `input` in `dir` (its signature only: `-noverify`
/// skips the certificate chain), writing the signed content to `content`.
fn openssl_cms_verify(dir: &std::path::Path, input: &str, content: &str) -> std::process::Output {
    Command::new("openssl")
        .args(["cms", "-verify", "-noverify", "-inform", "DER"])
        .args(["-in", input, "-out", content])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn openssl_verifies_our_sod() {
    if !Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: openssl not installed");
        return;
    }
    let f = fixture();
    let sod = &f.files[&EfId::Sod];
    let h = ecard_chip::tlv::parse_header(sod).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sod.der"), &sod[h.header_len..]).unwrap();
    let out = openssl_cms_verify(dir.path(), "sod.der", "lso.der");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Verification successful"), "{err}");
    // What OpenSSL extracts is exactly our LDSSecurityObject.
    let parsed = Sod::parse(sod).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("lso.der")).unwrap(),
        parsed.econtent
    );

    // One flipped bit in the signature: OpenSSL refuses too.
    let mut bad = sod[h.header_len..].to_vec();
    let n = bad.len();
    bad[n - 5] ^= 1;
    std::fs::write(dir.path().join("bad.der"), &bad).unwrap();
    let out = openssl_cms_verify(dir.path(), "bad.der", "x");
    assert!(!out.status.success());
}

/// Our own card's files rebuild byte for byte from their parse; with `ECARD_FUZZ_CORPUS=<dir>` set,
/// they are also written there as the fuzz seed corpus (`fuzz/corpus/{tlv,lds,sod}`).
#[test]
fn own_files_rebuild_exactly_and_seed_the_fuzz_corpus() {
    let f = fixture();
    let card = parse_card(&f.files).unwrap();
    assert_eq!(card.com.build(), f.files[&EfId::Com]);
    assert_eq!(card.dg1.build(), f.files[&EfId::Dg1]);
    assert_eq!(card.dg2.unwrap().build(), f.files[&EfId::Dg2]);
    assert_eq!(card.dg7.unwrap().build(), f.files[&EfId::Dg7]);
    assert_eq!(card.dg11.unwrap().build(), f.files[&EfId::Dg11]);
    assert_eq!(card.dg12.unwrap().build(), f.files[&EfId::Dg12]);
    assert_eq!(card.dg14.unwrap().build(), f.files[&EfId::Dg14]);
    assert_eq!(card.dg15.unwrap().build(), f.files[&EfId::Dg15]);

    let Ok(dir) = std::env::var("ECARD_FUZZ_CORPUS") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    for sub in ["tlv", "lds", "sod"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (i, ef) in EfId::ALL.iter().enumerate() {
        let bytes = &f.files[ef];
        let name = ef.dump_file_name().trim_end_matches(".bin").to_lowercase();
        if *ef == EfId::Sod {
            std::fs::write(dir.join("sod").join(&name), bytes).unwrap();
            continue;
        }
        // The lds target picks the file with its first byte: EfId::ALL[byte % 8].
        let mut picked = vec![i as u8];
        picked.extend_from_slice(bytes);
        std::fs::write(dir.join("lds").join(&name), picked).unwrap();
        if !matches!(ef, EfId::Dg14 | EfId::Dg15) {
            std::fs::write(dir.join("tlv").join(&name), bytes).unwrap();
        }
    }
}
