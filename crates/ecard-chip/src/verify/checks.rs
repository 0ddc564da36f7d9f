//! The individual checks of [`super::verify`] that look at signatures, certificates and the file
//! set. Each returns an [`Outcome`] and never panics on what a card holds.

use std::collections::BTreeSet;

use der::Encode;
use p256::ecdsa::DerSignature;
use sha2::{Digest, Sha256};
use signature::Verifier;
use x509_cert::Certificate;

use super::{Outcome, skipped};
use crate::lds::sod::{ID_LDS_SECURITY_OBJECT, ID_SHA256};
use crate::lds::{Com, Dg14, EfId, LdsFiles, Sod};
use crate::pki::{self, ECDSA_WITH_SHA256};

/// The data group number of an LDS outer tag (`0x63` is DG3), per Doc 9303-10 table 35.
fn dg_of_tag(tag: u8) -> Option<u8> {
    match tag {
        0x61 => Some(1),
        0x75 => Some(2),
        0x63 => Some(3),
        0x76 => Some(4),
        0x65..=0x70 => Some(tag - 0x65 + 5),
        _ => None,
    }
}

pub(super) fn check_com(com: Option<&Com>, present: &BTreeSet<EfId>) -> Outcome {
    let Some(com) = com else {
        return skipped("EF.COM did not parse");
    };
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for t in &com.dg_tags {
        match EfId::from_tag(u32::from(*t)).filter(|f| f.dg_number().is_some()) {
            Some(ef) if present.contains(&ef) => {
                listed.insert(ef);
            }
            Some(ef) => problems.push(format!("lists {ef} (tag {t:02X}) which is absent")),
            None => problems.push(match dg_of_tag(*t) {
                Some(n) => format!("lists DG{n} (tag {t:02X}) which is absent"),
                None => format!("lists tag {t:02X} which is no data group"),
            }),
        }
    }
    for ef in present.difference(&listed) {
        problems.push(format!("does not list {ef} which is present"));
    }
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(format!("EF.COM {}", problems.join("; ")))
    }
}

pub(super) fn check_hashes(
    files: &LdsFiles,
    sod: Option<&Sod>,
    present: &BTreeSet<EfId>,
) -> (Outcome, Outcome) {
    let Some(sod) = sod else {
        return (
            skipped("EF.SOD did not parse"),
            skipped("EF.SOD did not parse"),
        );
    };
    let lso = &sod.lds_security_object;
    if lso.hash_algorithm.oid != ID_SHA256 {
        let f = Outcome::Fail(format!(
            "EF.SOD hash algorithm is {}, expected SHA-256",
            lso.hash_algorithm.oid
        ));
        return (f.clone(), f);
    }
    let mut mismatched = Vec::new();
    let mut unsigned = Vec::new();
    for ef in present {
        let Some(n) = ef.dg_number() else { continue };
        match sod.hash_for(n) {
            None => unsigned.push(format!("{ef} is present but has no hash in EF.SOD")),
            Some(h) => {
                let actual: [u8; 32] = Sha256::digest(&files[ef]).into();
                if h != actual {
                    mismatched.push(format!(
                        "{ef} hash {} differs from EF.SOD's {}",
                        short_hex(&actual),
                        short_hex(h)
                    ));
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    for h in &lso.data_group_hash_values {
        if !seen.insert(h.data_group_number) {
            unsigned.push(format!("EF.SOD lists DG{} twice", h.data_group_number));
            continue;
        }
        let is_present =
            EfId::from_dg_number(h.data_group_number).is_some_and(|ef| present.contains(&ef));
        if !is_present {
            unsigned.push(format!(
                "EF.SOD signs DG{} which is absent",
                h.data_group_number
            ));
        }
    }
    let verdict = |v: Vec<String>| {
        if v.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(v.join("; "))
        }
    };
    (verdict(mismatched), verdict(unsigned))
}

fn short_hex(b: &[u8]) -> String {
    let mut s: String = b.iter().take(4).map(|x| format!("{x:02x}")).collect();
    s.push_str("...");
    s
}

pub(super) fn check_sod_signature(sod: Option<&Sod>) -> Outcome {
    let Some(sod) = sod else {
        return skipped("EF.SOD did not parse");
    };
    let Some(ds) = &sod.ds_certificate else {
        return Outcome::Fail("EF.SOD carries no Document Signer certificate".into());
    };
    let Some(si) = sod.signer_info() else {
        return Outcome::Fail("EF.SOD has no SignerInfo".into());
    };
    if si.digest_alg.oid != ID_SHA256 {
        return Outcome::Fail(format!(
            "SignerInfo digest algorithm is {}, expected SHA-256",
            si.digest_alg.oid
        ));
    }
    if si.signature_algorithm.oid != ECDSA_WITH_SHA256 {
        return Outcome::Fail(format!(
            "SignerInfo signature algorithm is {}, expected ecdsa-with-SHA256",
            si.signature_algorithm.oid
        ));
    }
    if let cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(ias) = &si.sid
        && (ias.issuer != ds.tbs_certificate.issuer
            || ias.serial_number != ds.tbs_certificate.serial_number)
    {
        return Outcome::Fail(
            "SignerInfo names a signer other than the included DS certificate".into(),
        );
    }
    let Some(attrs) = &si.signed_attrs else {
        return Outcome::Fail("SignerInfo has no signed attributes".into());
    };
    match sod.signed_attribute(const_oid::db::rfc5911::ID_CONTENT_TYPE) {
        Some(v)
            if v.decode_as::<der::asn1::ObjectIdentifier>().ok()
                == Some(ID_LDS_SECURITY_OBJECT) => {}
        _ => {
            return Outcome::Fail(
                "signed attribute contentType is missing or is not id-ldsSecurityObject".into(),
            );
        }
    }
    match sod.message_digest() {
        Some(d) if d[..] == <[u8; 32]>::from(Sha256::digest(&sod.econtent))[..] => {}
        Some(_) => {
            return Outcome::Fail(
                "signed attribute messageDigest differs from the LDSSecurityObject's SHA-256"
                    .into(),
            );
        }
        None => return Outcome::Fail("signed attribute messageDigest is missing".into()),
    }
    let key = match pki::public_key_from_spki(&ds.tbs_certificate.subject_public_key_info) {
        Ok(k) => k,
        Err(e) => return Outcome::Fail(format!("DS certificate: {e}")),
    };
    let Ok(signed) = attrs.to_der() else {
        return Outcome::Fail("signed attributes do not re-encode".into());
    };
    let Ok(sig) = DerSignature::from_bytes(si.signature.as_bytes()) else {
        return Outcome::Fail("SignerInfo signature is not a DER ECDSA signature".into());
    };
    match p256::ecdsa::VerifyingKey::from(&key).verify(&signed, &sig) {
        Ok(()) => Outcome::Pass,
        Err(_) => {
            Outcome::Fail("EF.SOD signature does not verify with the DS certificate key".into())
        }
    }
}

pub(super) fn check_chain(ds: Option<&Certificate>, trust: &[Certificate]) -> Outcome {
    let Some(ds) = ds else {
        return skipped("no DS certificate");
    };
    match super::signer::check_ds_chain(ds, trust) {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

pub(super) fn check_ds_validity(
    sod: Option<&Sod>,
    ds: Option<&Certificate>,
    at: time::Date,
    document_code: Option<&str>,
) -> Outcome {
    let (Some(sod), Some(ds)) = (sod, ds) else {
        return skipped("no DS certificate");
    };
    let Some(st) = sod.signing_time() else {
        return Outcome::Fail(
            "EF.SOD has no signingTime: validity at signing cannot be shown".into(),
        );
    };
    match super::signer::check_ds_terms(
        "EF.SOD",
        ds,
        super::signer::SignedAt::Instant(st),
        at,
        document_code,
    ) {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

pub(super) fn check_aa_info(
    has15: bool,
    has14: bool,
    dg14: Option<&Dg14>,
    strict: bool,
) -> Outcome {
    if !has15 {
        return skipped("no DG15");
    }
    let warn = |why: &str| {
        if strict {
            Outcome::Fail(format!("{why} (strict mode)"))
        } else {
            Outcome::Warn(why.to_string())
        }
    };
    if !has14 {
        return warn(
            "DG15 holds an EC key but there is no DG14 with ActiveAuthenticationInfo (Doc 9303-11)",
        );
    }
    let Some(dg14) = dg14 else {
        return skipped("DG14 did not parse");
    };
    match dg14.active_authentication() {
        None => warn("DG14 has no ActiveAuthenticationInfo for the DG15 EC key"),
        Some(Err(e)) => Outcome::Fail(e.to_string()),
        Some(Ok(info)) if info.version != 1 => Outcome::Fail(format!(
            "DG14: ActiveAuthenticationInfo version is {}, expected 1",
            info.version
        )),
        Some(Ok(info)) if info.signature_algorithm != crate::lds::dg14::ECDSA_PLAIN_SHA256 => {
            Outcome::Fail(format!(
                "DG14: Active Authentication algorithm is {}, expected ecdsa-plain-SHA256",
                info.signature_algorithm
            ))
        }
        Some(Ok(_)) => Outcome::Pass,
    }
}
