//! The one COSE_Sign1 form of the seal and the status list (RFC 9052, ECARD.md section 8):
//! protected header `{1: -7}` (ES256) and `{4: kid}`, kid = the first 8 bytes of SHA-256 over the
//! Document Signer certificate's DER, no unprotected header, signature raw r||s (64 bytes).
//!
//! Signing hashes the Sig_structure here and hands the digest to [`Signer::sign_sha256_digest`], so
//! an HSM that only signs digests works. Verification finds the certificate by kid, checks that it
//! chains to a trusted CSCA and verifies the signature; it never trusts a key the input carries.

use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ecard_chip::pki::{Signer, certificate_kid, public_key_from_spki};
#[cfg(doc)]
use ecard_chip::verify::check_document_signer;
use ecard_chip::verify::{SignedAt, check_ds_chain, check_ds_terms};
use p256::ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// Why a COSE_Sign1 could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoseError {
    /// The bytes are not a COSE_Sign1 structure.
    #[error("{what}: not a COSE_Sign1 structure: {reason}")]
    Malformed {
        /// Which object ("seal", "status list").
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The headers are not the e-card's form.
    #[error("{what}: COSE header {header}: got {got}, expected {expected}")]
    Header {
        /// Which object.
        what: &'static str,
        /// Which header.
        header: &'static str,
        /// What was found.
        got: String,
        /// What the e-card's form requires.
        expected: &'static str,
    },
    /// No payload.
    #[error("{what}: COSE_Sign1 has no payload")]
    NoPayload {
        /// Which object.
        what: &'static str,
    },
    /// No Document Signer certificate among those given has this kid.
    #[error(
        "{what}: signed by an unknown Document Signer (kid {kid}); none of the {known} certificates given has it"
    )]
    UnknownKid {
        /// Which object.
        what: &'static str,
        /// The kid, hex.
        kid: String,
        /// How many DS certificates were given.
        known: usize,
    },
    /// The Document Signer is not signed by any trusted CSCA.
    #[error(
        "Document Signer {ds} is not signed by any of the {trusted} trusted CSCA certificates: {reason}"
    )]
    Untrusted {
        /// The DS subject.
        ds: String,
        /// How many CSCAs were trusted.
        trusted: usize,
        /// Why, as the chip's DS chain check words it.
        reason: String,
    },
    /// The Document Signer chains, but fails the rest of the policy the chip's EF.SOD is held to:
    /// signed outside its validity or private key usage period, expired at the check date, no
    /// digitalSignature key usage, or a document type list without the e-card's code.
    #[error("{what}: Document Signer {ds} not acceptable: {reason}")]
    DsPolicy {
        /// Which object.
        what: &'static str,
        /// The DS subject.
        ds: String,
        /// The failing rule, with its dates.
        reason: String,
    },
    /// The signature does not verify.
    #[error("{what}: ES256 signature does not verify with Document Signer {ds}")]
    BadSignature {
        /// Which object.
        what: &'static str,
        /// The DS subject.
        ds: String,
    },
    /// A certificate could not be read or used (bad key, encoding).
    #[error("{what}: {reason}")]
    Certificate {
        /// Which object.
        what: &'static str,
        /// The reason.
        reason: String,
    },
    /// The signer failed.
    #[error("{what}: signing failed: {reason}")]
    Signing {
        /// Which object.
        what: &'static str,
        /// The signer's error.
        reason: String,
    },
}

/// A decoded COSE_Sign1 in the e-card's form, signature not yet verified.
#[derive(Clone, PartialEq)]
pub struct SignedCose {
    /// The kid of the protected header.
    pub kid: [u8; 8],
    /// The payload bytes (CBOR).
    pub payload: Vec<u8>,
    sign1: CoseSign1,
}

impl std::fmt::Debug for SignedCose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCose")
            .field("kid", &self.kid)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Signs `payload` as a tagged COSE_Sign1 (tag 18) with `signer`, whose certificate is `ds`.
pub fn sign(
    what: &'static str,
    payload: Vec<u8>,
    signer: &dyn Signer,
    ds: &Certificate,
) -> Result<Vec<u8>, CoseError> {
    let kid = certificate_kid(ds).map_err(|e| CoseError::Certificate {
        what,
        reason: e.to_string(),
    })?;
    let protected = HeaderBuilder::new()
        .algorithm(coset::iana::Algorithm::ES256)
        .key_id(kid.to_vec())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(&[], |tbs| {
            let digest: [u8; 32] = Sha256::digest(tbs).into();
            signer
                .sign_sha256_digest(&digest)
                .map(|s| s.to_bytes().to_vec())
        })
        .map_err(|e| CoseError::Signing {
            what,
            reason: e.to_string(),
        })?
        .build();
    sign1.to_tagged_vec().map_err(|e| CoseError::Malformed {
        what,
        reason: e.to_string(),
    })
}

fn header_err(
    what: &'static str,
    header: &'static str,
    got: String,
    expected: &'static str,
) -> CoseError {
    CoseError::Header {
        what,
        header,
        got,
        expected,
    }
}

/// Decodes a COSE_Sign1 (tagged or not) and checks that its headers are the e-card's form.
pub fn decode(what: &'static str, bytes: &[u8]) -> Result<SignedCose, CoseError> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|e| CoseError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    let p = &sign1.protected.header;
    let es256 = Some(coset::RegisteredLabelWithPrivate::Assigned(
        coset::iana::Algorithm::ES256,
    ));
    if p.alg != es256 {
        return Err(header_err(
            what,
            "alg (1)",
            format!("{:?}", p.alg),
            "-7 (ES256)",
        ));
    }
    let kid: [u8; 8] = p.key_id.as_slice().try_into().map_err(|_| {
        header_err(
            what,
            "kid (4)",
            format!("{} bytes", p.key_id.len()),
            "8 bytes",
        )
    })?;
    let only_alg_kid = p.crit.is_empty()
        && p.content_type.is_none()
        && p.iv.is_empty()
        && p.partial_iv.is_empty()
        && p.counter_signatures.is_empty()
        && p.rest.is_empty();
    if !only_alg_kid {
        return Err(header_err(
            what,
            "protected",
            "more than alg and kid".into(),
            "alg and kid only",
        ));
    }
    if !sign1.unprotected.is_empty() {
        return Err(header_err(
            what,
            "unprotected",
            "a non-empty map".into(),
            "an empty map",
        ));
    }
    if sign1.signature.len() != 64 {
        return Err(header_err(
            what,
            "signature",
            format!("{} bytes", sign1.signature.len()),
            "64 bytes (raw r||s)",
        ));
    }
    let payload = sign1.payload.clone().ok_or(CoseError::NoPayload { what })?;
    Ok(SignedCose {
        kid,
        payload,
        sign1,
    })
}

impl SignedCose {
    /// The certificate among `ds_certs` whose kid is this one's.
    pub fn find_signer<'c>(
        &self,
        what: &'static str,
        ds_certs: &'c [Certificate],
    ) -> Result<&'c Certificate, CoseError> {
        ds_certs
            .iter()
            .find(|c| certificate_kid(c).is_ok_and(|k| k == self.kid))
            .ok_or_else(|| CoseError::UnknownKid {
                what,
                kid: self.kid.iter().map(|b| format!("{b:02x}")).collect(),
                known: ds_certs.len(),
            })
    }

    /// Verifies the ES256 signature with `ds`'s key.
    pub fn verify_signature(&self, what: &'static str, ds: &Certificate) -> Result<(), CoseError> {
        let subject = ds.tbs_certificate.subject.to_string();
        let key =
            public_key_from_spki(&ds.tbs_certificate.subject_public_key_info).map_err(|e| {
                CoseError::Certificate {
                    what,
                    reason: format!("Document Signer {subject}: {e}"),
                }
            })?;
        let bad = || CoseError::BadSignature {
            what,
            ds: subject.clone(),
        };
        let sig = Signature::from_slice(&self.sign1.signature).map_err(|_| bad())?;
        let digest = Sha256::digest(self.sign1.tbs_data(&[]));
        VerifyingKey::from(&key)
            .verify_prehash(&digest, &sig)
            .map_err(|_| bad())
    }
}

/// The document code the e-card's Document Signers must be allowed to sign (Doc 9303
/// documentTypeList): seals and status lists speak for these cards only.
pub const DOCUMENT_CODE: &str = "IR";

/// Holds `ds` to the same policy as the chip's EF.SOD ([`check_document_signer`]): chain to a
/// trusted CSCA of its issuer's name, `signed` inside its validity and private key usage period,
/// valid on `at`, keyUsage digitalSignature, documentTypeList covering [`DOCUMENT_CODE`].
pub fn check_ds(
    what: &'static str,
    ds: &Certificate,
    trust: &[Certificate],
    signed: SignedAt,
    at: time::Date,
) -> Result<(), CoseError> {
    let subject = || ds.tbs_certificate.subject.to_string();
    check_ds_chain(ds, trust).map_err(|reason| CoseError::Untrusted {
        ds: subject(),
        trusted: trust.len(),
        reason,
    })?;
    check_ds_terms(what, ds, signed, at, Some(DOCUMENT_CODE)).map_err(|reason| {
        CoseError::DsPolicy {
            what,
            ds: subject(),
            reason,
        }
    })
}
