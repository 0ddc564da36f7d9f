#![allow(clippy::unwrap_used, clippy::expect_used)]
//! EF.SOD built by us: its structure is what ECARD.md section 6 says, it parses back with the
//! hashes of exactly the bytes given, its signature verifies, and the signature really goes through
//! the digest-signing `Signer` trait (as a PKCS#11 token without CKM_ECDSA_SHA256 would sign).

use std::cell::RefCell;
use std::collections::BTreeSet;

use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNING_TIME};
use der::Encode;
use ecard_chip::lds::sod::{ID_LDS_SECURITY_OBJECT, SodBuildError};
use ecard_chip::lds::{EfId, LdsFiles, Sod};
use ecard_chip::pki::{self, GeneratedPki, PkiConfig, Signer, SignerError};
use ecard_chip::verify::{AaEvidence, CheckId, Outcome, VerifyOptions, verify};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

fn pki() -> GeneratedPki {
    pki::init(
        &PkiConfig::default(),
        time::macros::datetime!(2026-11-01 00:00:00 UTC),
        &mut ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap()
}

fn at() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-20 12:00:00 UTC)
}

/// A signer that only ever sees digests, and records them.
struct Recording<'a> {
    inner: &'a dyn Signer,
    seen: RefCell<Vec<[u8; 32]>>,
}

impl Signer for Recording<'_> {
    fn public_key(&self) -> p256::PublicKey {
        self.inner.public_key()
    }
    fn sign_sha256_digest(&self, d: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
        self.seen.borrow_mut().push(*d);
        self.inner.sign_sha256_digest(d)
    }
}

struct Locked(p256::PublicKey);

impl Signer for Locked {
    fn public_key(&self) -> p256::PublicKey {
        self.0
    }
    fn sign_sha256_digest(&self, _: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
        Err(SignerError::Failed {
            signer: "hsm".into(),
            reason: "token locked".into(),
        })
    }
}

fn files(dgs: &[(EfId, Vec<u8>)]) -> LdsFiles {
    dgs.iter().cloned().collect()
}

#[test]
fn structure_is_section_6() {
    let p = pki();
    let f = files(&[
        (EfId::Dg1, vec![0x61, 0x01, 0x00]),
        (EfId::Dg2, vec![0x75, 0x00]),
    ]);
    let rec = Recording {
        inner: &p.ds_key,
        seen: RefCell::new(Vec::new()),
    };
    let bytes = Sod::build(&f, &rec, &p.ds, at()).unwrap();
    assert_eq!(bytes[0], 0x77);
    let sod = Sod::parse(&bytes).unwrap();
    let sd = &sod.signed_data;
    assert_eq!(sd.version, cms::content_info::CmsVersion::V3);
    assert_eq!(sd.encap_content_info.econtent_type, ID_LDS_SECURITY_OBJECT);
    assert_eq!(sd.digest_algorithms.len(), 1);
    assert_eq!(
        sd.digest_algorithms.get(0).unwrap().oid,
        ecard_chip::lds::sod::ID_SHA256
    );
    assert_eq!(sod.ds_certificate.as_ref(), Some(&p.ds));
    let si = sod.signer_info().unwrap();
    assert_eq!(si.version, cms::content_info::CmsVersion::V1);
    assert_eq!(si.signature_algorithm.oid, pki::ECDSA_WITH_SHA256);
    let attrs = si.signed_attrs.as_ref().unwrap();
    let mut oids: Vec<_> = attrs.iter().map(|a| a.oid).collect();
    oids.sort();
    let mut want = vec![ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNING_TIME];
    want.sort();
    assert_eq!(oids, want);
    assert_eq!(sod.signing_time(), Some(at()));
    assert_eq!(
        sod.message_digest().unwrap(),
        Sha256::digest(&sod.econtent).to_vec()
    );
    let lso = &sod.lds_security_object;
    assert_eq!(lso.version, 0);
    let numbers: Vec<u8> = lso
        .data_group_hash_values
        .iter()
        .map(|h| h.data_group_number)
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(
        sod.hash_for(2).unwrap(),
        Sha256::digest([0x75, 0x00]).to_vec()
    );
    // The signer saw exactly one digest: SHA-256 of the DER signed attributes (RFC 5652 5.4).
    assert_eq!(
        *rec.seen.borrow(),
        vec![<[u8; 32]>::from(Sha256::digest(attrs.to_der().unwrap()))]
    );
}

#[test]
fn a_failing_signer_is_reported_as_itself() {
    let p = pki();
    let err = Sod::build(
        &files(&[(EfId::Dg1, vec![0x61, 0x00])]),
        &Locked(p.ds_key.public_key()),
        &p.ds,
        at(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        SodBuildError::Signer(SignerError::Failed { .. })
    ));
    assert_eq!(err.to_string(), "signer \"hsm\" failed: token locked");
}

fn dg_files() -> impl Strategy<Value = LdsFiles> {
    let dgs = vec![
        EfId::Dg1,
        EfId::Dg2,
        EfId::Dg7,
        EfId::Dg11,
        EfId::Dg12,
        EfId::Dg14,
        EfId::Dg15,
    ];
    prop::collection::btree_map(
        prop::sample::select(dgs),
        prop::collection::vec(any::<u8>(), 0..300),
        1..7,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn sod_round_trips_and_verifies(f in dg_files(), secs in 0i64..86_400) {
        let p = pki();
        let t = at() + time::Duration::seconds(secs);
        let bytes = Sod::build(&f, &p.ds_key, &p.ds, t).unwrap();
        let h = ecard_chip::tlv::parse_header(&bytes).unwrap();
        prop_assert_eq!(h.total_len(), bytes.len());
        let sod = Sod::parse(&bytes).unwrap();
        prop_assert_eq!(sod.lds_security_object.data_group_hash_values.len(), f.len());
        for (ef, content) in &f {
            let n = ef.dg_number().unwrap();
            prop_assert_eq!(sod.hash_for(n).unwrap().to_vec(), Sha256::digest(content).to_vec());
        }
        prop_assert_eq!(sod.signing_time(), Some(t));
        let mut all = f.clone();
        all.insert(EfId::Sod, bytes);
        let r = verify(&all, &VerifyOptions {
            trust: std::slice::from_ref(&p.csca),
            at: time::macros::date!(2026 - 11 - 25),
            strict: false,
            revoked: &BTreeSet::new(),
            active_auth: AaEvidence::NotPerformed,
        });
        prop_assert_eq!(r.outcome(CheckId::SodSignature), Some(&Outcome::Pass));
        prop_assert_eq!(r.outcome(CheckId::DataGroupHashes), Some(&Outcome::Pass));
        prop_assert_eq!(r.outcome(CheckId::DataGroupsSigned), Some(&Outcome::Pass));
        prop_assert_eq!(r.outcome(CheckId::DsChain), Some(&Outcome::Pass));
        prop_assert_eq!(r.outcome(CheckId::DsValidity), Some(&Outcome::Pass));
    }

    #[test]
    fn sod_parser_never_panics_on_mutations(i in any::<prop::sample::Index>(), x in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let p = pki();
        let mut bytes = Sod::build(&files(&[(EfId::Dg1, vec![0x61, 0x00])]), &p.ds_key, &p.ds, at()).unwrap();
        let k = i.index(bytes.len());
        bytes[k] ^= x;
        let _ = Sod::parse(&bytes);
        let _ = Sod::parse(&bytes[..cut.index(bytes.len())]);
    }
}
