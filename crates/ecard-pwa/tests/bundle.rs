//! The trust bundle: a Document Signer is listed as trusted, with its key and dates as in the
//! certificate, only when it chains to a trusted CSCA, may sign and covers the e-card's document
//! code; otherwise it is listed refused, with the reason and no key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ecard_chip::pki::{self, DsTerms, Signer, SoftwareSigner};
use ecard_pwa::bundle::{DsEntry, ds_entry};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use time::macros::datetime;
use x509_cert::Certificate;

struct Ca {
    cert: Certificate,
    signer: SoftwareSigner,
}

fn csca(seed: u64, cn: &str) -> Ca {
    let signer = SoftwareSigner::generate(&mut ChaCha20Rng::seed_from_u64(seed));
    let cert = pki::issue_csca(
        pki::name("RU", "MMC Moscow", None, cn).unwrap(),
        &signer,
        &[seed as u8 + 1],
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2036-01-01 0:00 UTC),
    )
    .unwrap();
    Ca { cert, signer }
}

fn ds(ca: &Ca, seed: u64, types: &[&str]) -> (Certificate, SoftwareSigner) {
    let signer = SoftwareSigner::generate(&mut ChaCha20Rng::seed_from_u64(seed));
    let terms = DsTerms {
        subject: pki::name("RU", "MMC Moscow", Some("Residence cards"), "DS test").unwrap(),
        serial_number: vec![seed as u8 + 1],
        not_before: datetime!(2026-11-01 10:00 UTC),
        signing_until: datetime!(2027-02-01 10:00 UTC),
        not_after: datetime!(2032-05-01 10:00 UTC),
        document_types: types.iter().map(|t| t.to_string()).collect(),
    };
    let cert = pki::issue_ds(&ca.cert, &ca.signer, &signer.public_key(), &terms).unwrap();
    (cert, signer)
}

fn refused(e: &DsEntry, why: &str) {
    assert!(!e.trusted, "{e:?}");
    assert!(e.jwk.is_none());
    let p = e.problem.as_deref().unwrap();
    assert!(p.contains(why), "{p}");
}

#[test]
fn a_good_document_signer_is_trusted_with_its_key_and_dates() {
    let ca = csca(1, "CSCA test");
    let (cert, signer) = ds(&ca, 2, &["IR"]);
    let e = ds_entry(&cert, std::slice::from_ref(&ca.cert));
    assert!(e.trusted, "{:?}", e.problem);
    assert_eq!(e.problem, None);
    assert_eq!(
        e.kid,
        hex::encode(pki::certificate_kid(&cert).unwrap()),
        "the COSE kid"
    );
    assert_eq!(e.not_before, "2026-11-01T10:00:00Z");
    assert_eq!(e.not_after, "2032-05-01T10:00:00Z");
    assert_eq!(e.pkup_not_before.as_deref(), Some("2026-11-01T10:00:00Z"));
    assert_eq!(e.pkup_not_after.as_deref(), Some("2027-02-01T10:00:00Z"));
    let jwk = e.jwk.unwrap();
    let point = signer.public_key().to_encoded_point(false);
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["x"], URL_SAFE_NO_PAD.encode(point.x().unwrap()));
    assert_eq!(jwk["y"], URL_SAFE_NO_PAD.encode(point.y().unwrap()));
}

#[test]
fn a_one_letter_document_type_covers_the_e_card() {
    let ca = csca(3, "CSCA test");
    let (cert, _) = ds(&ca, 4, &["I"]);
    assert!(ds_entry(&cert, &[ca.cert]).trusted);
}

#[test]
fn a_signer_for_other_documents_is_refused() {
    let ca = csca(5, "CSCA test");
    let (cert, _) = ds(&ca, 6, &["P"]);
    refused(
        &ds_entry(&cert, &[ca.cert]),
        "documentTypeList [\"P\"] does not cover document code \"IR\"",
    );
}

#[test]
fn a_signer_of_an_untrusted_csca_is_refused() {
    let ca = csca(7, "CSCA test");
    let other = csca(8, "CSCA test");
    let (cert, _) = ds(&other, 9, &["IR"]);
    refused(
        &ds_entry(&cert, &[ca.cert]),
        "is not signed by any of the 1 trusted CSCA certificates",
    );
}

#[test]
fn the_bundle_lists_every_signer_and_where_the_list_is() {
    let ca = csca(10, "CSCA test");
    let (good, _) = ds(&ca, 11, &["IR"]);
    let (bad, _) = ds(&ca, 12, &["P"]);
    let b = ecard_pwa::make_bundle(
        std::slice::from_ref(&ca.cert),
        &[good, bad],
        datetime!(2026-12-04 05:00:00.5 UTC),
        "/api/v1/status-list",
    );
    assert_eq!(b.v, 1);
    assert_eq!(b.made, "2026-12-04T05:00:00Z");
    assert_eq!(b.csca.len(), 1);
    assert_eq!(b.csca[0].subject, "CN=CSCA test,O=MMC Moscow,C=RU");
    assert_eq!(
        b.ds.iter().map(|d| d.trusted).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(b.status_url, "/api/v1/status-list");
    // What the phone reads back is what was made.
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(
        serde_json::from_str::<ecard_pwa::TrustBundle>(&json).unwrap(),
        b
    );
}
