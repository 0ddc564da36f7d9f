#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ecard pki init` in memory: the CSCA and DS profiles of Doc 9303-12, explicit EC parameters that
//! round-trip, signatures that verify here and in OpenSSL.

use std::process::Command;

use const_oid::AssociatedOid;
use der::{Decode, Encode, Tagged};
use ecard_chip::pki::ec::{EcParameters, p256_explicit_parameters};
use ecard_chip::pki::{
    self, GeneratedPki, KeyError, PkiConfig, Signer, document_types, private_key_usage_period,
    public_key_from_spki, spki_explicit, spki_named, subject_key_identifier, verify_signed_by,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages};

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-01 09:30:00 UTC)
}

fn generated() -> GeneratedPki {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    pki::init(&PkiConfig::default(), now(), &mut rng).unwrap()
}

fn critical(cert: &Certificate, oid: der::oid::ObjectIdentifier) -> Option<bool> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.critical)
}

#[test]
fn csca_profile() {
    let p = generated();
    let c = &p.csca;
    assert_eq!(c.tbs_certificate.issuer, c.tbs_certificate.subject);
    assert_eq!(
        c.tbs_certificate.subject.to_string(),
        "CN=CSCA RU e-card,O=MMC Moscow,C=RU"
    );
    // RFC 5280 / Doc 9303-12: countryName is a PrintableString, the other attributes UTF8String.
    let tags: Vec<(String, der::Tag)> = c
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|atv| (atv.oid.to_string(), atv.value.tag()))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("2.5.4.6".to_string(), der::Tag::PrintableString),
            ("2.5.4.10".to_string(), der::Tag::Utf8String),
            ("2.5.4.3".to_string(), der::Tag::Utf8String),
        ]
    );
    let bc: BasicConstraints = pki::extension(c, BasicConstraints::OID).unwrap();
    assert_eq!((bc.ca, bc.path_len_constraint), (true, Some(0)));
    assert_eq!(critical(c, BasicConstraints::OID), Some(true));
    let ku: KeyUsage = pki::extension(c, KeyUsage::OID).unwrap();
    assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    assert_eq!(critical(c, KeyUsage::OID), Some(true));
    assert_eq!(subject_key_identifier(c).unwrap().len(), 20);
    let v = &c.tbs_certificate.validity;
    assert_eq!(pki::time_of(&v.not_before), now());
    assert_eq!(
        pki::time_of(&v.not_after),
        time::macros::datetime!(2041-11-01 09:30:00 UTC)
    );
    // Self-signed, with explicit parameters in the key.
    let key = public_key_from_spki(&c.tbs_certificate.subject_public_key_info).unwrap();
    assert_eq!(key, p.csca_key.public_key());
    verify_signed_by(c, &key).unwrap();
    let params = c
        .tbs_certificate
        .subject_public_key_info
        .algorithm
        .parameters
        .as_ref()
        .unwrap();
    assert_eq!(params.tag(), der::Tag::Sequence);
}

#[test]
fn ds_profile() {
    let p = generated();
    let d = &p.ds;
    assert_eq!(d.tbs_certificate.issuer, p.csca.tbs_certificate.subject);
    let ku: KeyUsage = pki::extension(d, KeyUsage::OID).unwrap();
    assert!(ku.digital_signature() && !ku.non_repudiation() && !ku.key_cert_sign());
    assert!(!ku.key_encipherment() && !ku.crl_sign());
    assert_eq!(critical(d, KeyUsage::OID), Some(true));
    assert_eq!(critical(d, BasicConstraints::OID), None);
    let aki: AuthorityKeyIdentifier = pki::extension(d, AuthorityKeyIdentifier::OID).unwrap();
    assert_eq!(
        aki.key_identifier.unwrap().as_bytes(),
        subject_key_identifier(&p.csca).unwrap().as_slice()
    );
    assert_eq!(document_types(d), Some(vec!["IR".to_string()]));
    let (pnb, pna) = private_key_usage_period(d).unwrap();
    assert_eq!(pnb, Some(now()));
    assert_eq!(pna, Some(time::macros::datetime!(2027-02-01 09:30:00 UTC)));
    // Validity: signing period + 5 years of card life + 31 days.
    assert_eq!(
        pki::time_of(&d.tbs_certificate.validity.not_after),
        time::macros::datetime!(2032-03-03 09:30:00 UTC)
    );
    let csca_key = public_key_from_spki(&p.csca.tbs_certificate.subject_public_key_info).unwrap();
    verify_signed_by(d, &csca_key).unwrap();
    // A certificate signed by another key does not verify.
    let other = pki::SoftwareSigner::generate(&mut ChaCha20Rng::seed_from_u64(99));
    assert!(matches!(
        verify_signed_by(d, &other.public_key()),
        Err(pki::PkiError::BadSignature { .. })
    ));
    // The DER re-decodes to the same certificate.
    assert_eq!(&Certificate::from_der(&d.to_der().unwrap()).unwrap(), d);
}

#[test]
fn pem_bundles_read_back() {
    let p = generated();
    let bundle = format!("{}{}", p.csca_pem().unwrap(), p.ds_pem().unwrap());
    let certs = pki::read_certificates(bundle.as_bytes()).unwrap();
    assert_eq!(certs, vec![p.csca.clone(), p.ds.clone()]);
    let der = p.csca.to_der().unwrap();
    assert_eq!(pki::read_certificates(&der).unwrap(), vec![p.csca.clone()]);
    assert!(matches!(
        pki::read_certificate(&der[..der.len() - 1]),
        Err(pki::PkiError::Encoding {
            what: "certificate",
            ..
        })
    ));
}

#[test]
fn keys_round_trip_through_pkcs8() {
    let p = generated();
    let pem = p.ds_key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back = pki::SoftwareSigner::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(back.public_key(), p.ds_key.public_key());
    let der = p.csca_key.to_pkcs8_der().unwrap();
    let back = pki::SoftwareSigner::from_pkcs8_der(&der).unwrap();
    assert_eq!(back.public_key(), p.csca_key.public_key());
    assert!(matches!(
        pki::SoftwareSigner::from_pkcs8_der(&der[1..]),
        Err(pki::SignerError::BadKey { .. })
    ));
    // Debug never shows key material.
    assert_eq!(format!("{:?}", p.ds_key), "SoftwareSigner { .. }");
}

#[test]
fn explicit_parameters_round_trip_and_are_checked() {
    let key = pki::SoftwareSigner::generate(&mut ChaCha20Rng::seed_from_u64(1)).public_key();
    let spki = spki_explicit(&key);
    let der = spki.to_der().unwrap();
    let back = spki::SubjectPublicKeyInfoOwned::from_der(&der).unwrap();
    assert_eq!(back.to_der().unwrap(), der);
    assert_eq!(public_key_from_spki(&back).unwrap(), key);
    let params =
        EcParameters::from_der(&back.algorithm.parameters.unwrap().to_der().unwrap()).unwrap();
    assert_eq!(params, p256_explicit_parameters());
    assert_eq!(public_key_from_spki(&spki_named(&key)).unwrap(), key);

    // A different coefficient b is another curve: refused.
    let mut bad = p256_explicit_parameters();
    let mut b = bad.curve.b.as_bytes().to_vec();
    b[31] ^= 1;
    bad.curve.b = der::asn1::OctetString::new(b).unwrap();
    let mut forged = spki_explicit(&key);
    forged.algorithm.parameters = Some(der::Any::encode_from(&bad).unwrap());
    assert_eq!(
        public_key_from_spki(&forged),
        Err(KeyError::ExplicitNotP256 {
            field: "coefficient b"
        })
    );
    // Another named curve (secp384r1) is refused.
    let mut p384 = spki_named(&key);
    p384.algorithm.parameters = Some(
        der::Any::encode_from(&der::oid::ObjectIdentifier::new_unwrap("1.3.132.0.34")).unwrap(),
    );
    assert!(matches!(
        public_key_from_spki(&p384),
        Err(KeyError::OtherCurve { .. })
    ));
}

fn openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: openssl not installed");
    }
    ok
}

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn openssl_verifies_the_chain() {
    if !openssl() {
        return;
    }
    let p = generated();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("csca.pem"), p.csca_pem().unwrap()).unwrap();
    std::fs::write(d.join("ds.pem"), p.ds_pem().unwrap()).unwrap();
    std::fs::write(d.join("ds.sig"), p.ds.signature.raw_bytes()).unwrap();

    // OpenSSL 3.0 `verify` refuses any leaf with explicit EC parameters (error 94) before it looks at
    // signatures, for the shared vectors' DS exactly as for ours; that refusal is its only complaint.
    let (ok, text) = run(
        d,
        &[
            "verify",
            "-attime",
            "1795000000",
            "-CAfile",
            "csca.pem",
            "ds.pem",
        ],
    );
    assert!(!ok);
    assert!(
        text.contains(
            "error 94 at 0 depth lookup: Certificate public key has explicit ECC parameters"
        ),
        "{text}"
    );
    assert_eq!(text.matches("error ").count(), 2, "{text}");

    // So the signature is checked with OpenSSL's primitives: the TBS as OpenSSL cuts it from the
    // PEM, the CSCA key as OpenSSL reads it (explicit parameters) from the CSCA certificate.
    let (ok, text) = run(
        d,
        &[
            "asn1parse",
            "-in",
            "ds.pem",
            "-strparse",
            "4",
            "-noout",
            "-out",
            "tbs.der",
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = run(
        d,
        &[
            "x509", "-in", "csca.pem", "-pubkey", "-noout", "-out", "csca.pub",
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = run(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "csca.pub",
            "-signature",
            "ds.sig",
            "tbs.der",
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "Verified OK");
    // The control: the DS's own key did not sign its certificate.
    let (_, text) = run(
        d,
        &[
            "x509", "-in", "ds.pem", "-pubkey", "-noout", "-out", "ds.pub",
        ],
    );
    assert_eq!(text, "");
    let (ok, text) = run(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "ds.pub",
            "-signature",
            "ds.sig",
            "tbs.der",
        ],
    );
    assert!(!ok);
    assert!(text.contains("Verification failure"), "{text}");

    // OpenSSL prints the explicit parameters and the documentTypeList it read.
    let (_, text) = run(d, &["x509", "-in", "ds.pem", "-noout", "-text"]);
    assert!(text.contains("Field Type: prime-field"), "{text}");
    assert!(text.contains("2.23.136.1.1.6.2"), "{text}");
    assert!(text.contains("X509v3 Private Key Usage Period"), "{text}");
}
