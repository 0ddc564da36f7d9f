//! CSCA and Document Signer certificates per Doc 9303-12, built with `x509-cert`'s builder in
//! manual profile (every extension is ours) and signed through [`Signer`], so that the key may live
//! in an HSM: `finalize` gives the bytes to sign, `assemble` attaches the signature.
//!
//! Times and serial numbers come from the caller; nothing here reads a clock.

use std::str::FromStr;

use const_oid::AssociatedOid;
use der::asn1::{GeneralizedTime, ObjectIdentifier, PrintableString, SetOfVec};
use der::referenced::OwnedToRef;
use der::{Decode, Encode, Sequence};
use p256::ecdsa::DerSignature;
use sha2::{Digest, Sha256};
use signature::Verifier;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::AsExtension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, PrivateKeyUsagePeriod,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::ec::{KeyError, public_key_from_spki, spki_explicit};
use super::signer::{Adapter, ECDSA_WITH_SHA256, Signer, SignerError};

/// id-icao-mrtd-security-extensions-documentTypeList (Doc 9303-12 7.1.1.3).
pub const ID_DOCUMENT_TYPE_LIST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.136.1.1.6.2");

/// ```text
/// DocumentTypeListSyntax ::= SEQUENCE {
///   version DocumentTypeListVersion,
///   docTypeList SET OF DocumentType }
/// DocumentTypeListVersion ::= INTEGER {v0(0)}
/// -- Document Type as contained in MRTD's MRZ, e.g. "P" or "ID" where a single letter
/// -- denotes all document types starting with that letter
/// DocumentType ::= PrintableString(1..2)
/// ```
/// (Doc 9303-12 7.1.1.3, extension of the Document Signer certificate.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct DocumentTypeList {
    /// Always 0.
    pub version: u8,
    /// The document types this signer may sign ("IR").
    pub doc_type_list: SetOfVec<PrintableString>,
}

impl AssociatedOid for DocumentTypeList {
    const OID: ObjectIdentifier = ID_DOCUMENT_TYPE_LIST;
}

impl AsExtension for DocumentTypeList {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// Why a certificate could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// A key in a certificate is not an acceptable P-256 key.
    #[error("{cert}: {source}")]
    Key {
        /// Which certificate ("CSCA", "DS").
        cert: &'static str,
        /// Why.
        source: KeyError,
    },
    /// A name, time or extension could not be encoded (a caller value out of range).
    #[error("{what}: {reason}")]
    Encoding {
        /// What was being built.
        what: &'static str,
        /// The encoder's words.
        reason: String,
    },
    /// The signer's key is not the one the certificate says signs.
    #[error("{cert}: the signer's public key is not the issuer's certificate key")]
    SignerMismatch {
        /// Which certificate was being issued.
        cert: &'static str,
    },
    /// A certificate signature does not verify.
    #[error("certificate {cert:?} signature does not verify with the issuer key")]
    BadSignature {
        /// The subject of the certificate.
        cert: String,
    },
    /// A certificate signature algorithm this product does not accept.
    #[error("certificate signature algorithm is {found}, expected ecdsa-with-SHA256")]
    Algorithm {
        /// The OID found.
        found: ObjectIdentifier,
    },
}

fn enc(what: &'static str) -> impl Fn(der::Error) -> PkiError {
    move |e| PkiError::Encoding {
        what,
        reason: e.to_string(),
    }
}

/// A subject or issuer name `C=.., O=.., [OU=..,] CN=..`, C as PrintableString, the rest UTF-8.
pub fn name(
    country: &str,
    organization: &str,
    unit: Option<&str>,
    common_name: &str,
) -> Result<Name, PkiError> {
    // RFC 4514 string form, with the special characters of the values escaped.
    let esc = |s: &str| {
        let mut o = String::new();
        for c in s.chars() {
            if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                o.push('\\');
            }
            o.push(c);
        }
        o
    };
    let mut parts = vec![format!("CN={}", esc(common_name))];
    if let Some(u) = unit {
        parts.push(format!("OU={}", esc(u)));
    }
    parts.push(format!("O={}", esc(organization)));
    parts.push(format!("C={}", esc(country)));
    Name::from_str(&parts.join(",")).map_err(enc("certificate name"))
}

/// An x509 time from a date-time (UTCTime before 2050, GeneralizedTime from 2050, as RFC 5280 asks;
/// the builder adjusts).
pub fn x509_time(t: time::OffsetDateTime) -> Result<Time, PkiError> {
    Ok(Time::GeneralTime(generalized(t)?))
}

fn generalized(t: time::OffsetDateTime) -> Result<GeneralizedTime, PkiError> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let dt = der::DateTime::new(
        u16::try_from(t.year()).map_err(|_| PkiError::Encoding {
            what: "certificate time",
            reason: format!("year {} is out of range", t.year()),
        })?,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .map_err(enc("certificate time"))?;
    Ok(GeneralizedTime::from_date_time(dt))
}

/// An x509 time as a date-time.
pub fn time_of(t: &Time) -> time::OffsetDateTime {
    let secs = t.to_unix_duration().as_secs();
    // Times in a decoded certificate are between 1970 and 9999, within OffsetDateTime's range.
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Adds calendar months, clamping the day to the target month's length (31 Jan + 1 month = 28/29 Feb).
pub fn add_months(t: time::OffsetDateTime, months: u32) -> time::OffsetDateTime {
    let total = t.year() * 12 + i32::from(u8::from(t.month())) - 1 + months as i32;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = time::Month::try_from(month0 as u8 + 1).unwrap_or(time::Month::January);
    let last = month.length(year);
    let date = time::Date::from_calendar_date(year, month, t.day().min(last)).unwrap_or(t.date());
    t.replace_date(date)
}

fn serial(bytes: &[u8]) -> Result<SerialNumber, PkiError> {
    SerialNumber::new(bytes).map_err(enc("serial number"))
}

/// Builds and signs: `finalize` (bytes to sign), the [`Signer`], `assemble`.
fn sign_builder(
    mut b: CertificateBuilder<'_, Adapter<'_>>,
    signer: &dyn Signer,
) -> Result<Certificate, PkiError> {
    let tbs = b.finalize().map_err(enc("TBSCertificate"))?;
    let sig = super::signer::sign_der(signer, &tbs)?;
    let bits = der::asn1::BitString::from_bytes(sig.as_bytes()).map_err(enc("signature"))?;
    b.assemble(bits).map_err(|e| PkiError::Encoding {
        what: "certificate",
        reason: e.to_string(),
    })
}

fn add<E: AsExtension>(b: &mut CertificateBuilder<'_, Adapter<'_>>, e: &E) -> Result<(), PkiError> {
    b.add_extension(e).map_err(|e| PkiError::Encoding {
        what: "certificate extension",
        reason: e.to_string(),
    })
}

/// Issues a self-signed CSCA certificate: basicConstraints critical cA pathLen 0, keyUsage
/// critical keyCertSign+cRLSign, subject and authority key identifiers, explicit EC parameters.
pub fn issue_csca(
    subject: Name,
    signer: &dyn Signer,
    serial_number: &[u8],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<Certificate, PkiError> {
    let spki = spki_explicit(&signer.public_key());
    let ski =
        SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(|e| PkiError::Encoding {
            what: "subject key identifier",
            reason: e.to_string(),
        })?;
    let adapter = Adapter::new(signer);
    let mut b = CertificateBuilder::new(
        Profile::Manual { issuer: None },
        serial(serial_number)?,
        Validity {
            not_before: x509_time(not_before)?,
            not_after: x509_time(not_after)?,
        },
        subject,
        spki,
        &adapter,
    )
    .map_err(|e| PkiError::Encoding {
        what: "CSCA certificate",
        reason: e.to_string(),
    })?;
    add(
        &mut b,
        &BasicConstraints {
            ca: true,
            path_len_constraint: Some(0),
        },
    )?;
    add(
        &mut b,
        &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
    )?;
    add(
        &mut b,
        &AuthorityKeyIdentifier {
            key_identifier: Some(ski.0.clone()),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?;
    add(&mut b, &ski)?;
    sign_builder(b, signer)
}

/// What a Document Signer certificate says beyond its key.
#[derive(Debug, Clone)]
pub struct DsTerms {
    /// Subject name.
    pub subject: Name,
    /// Serial number (positive, at most 20 bytes).
    pub serial_number: Vec<u8>,
    /// Start of validity and of the signing period.
    pub not_before: time::OffsetDateTime,
    /// End of the signing period (privateKeyUsagePeriod notAfter).
    pub signing_until: time::OffsetDateTime,
    /// End of validity: the signing period plus the card life plus a margin.
    pub not_after: time::OffsetDateTime,
    /// Document types this signer may sign ("IR").
    pub document_types: Vec<String>,
}

/// Issues a Document Signer certificate under `csca`, signed by `csca_signer`: keyUsage critical
/// digitalSignature only, AKI = the CSCA's SKI, privateKeyUsagePeriod, documentTypeList, explicit
/// EC parameters.
pub fn issue_ds(
    csca: &Certificate,
    csca_signer: &dyn Signer,
    ds_public_key: &p256::PublicKey,
    terms: &DsTerms,
) -> Result<Certificate, PkiError> {
    let csca_key =
        public_key_from_spki(&csca.tbs_certificate.subject_public_key_info).map_err(|source| {
            PkiError::Key {
                cert: "CSCA",
                source,
            }
        })?;
    if csca_key != csca_signer.public_key() {
        return Err(PkiError::SignerMismatch { cert: "DS" });
    }
    let aki = match subject_key_identifier(csca) {
        Some(k) => k,
        None => SubjectKeyIdentifier::try_from(
            csca.tbs_certificate.subject_public_key_info.owned_to_ref(),
        )
        .map_err(|e| PkiError::Encoding {
            what: "authority key identifier",
            reason: e.to_string(),
        })?
        .0
        .as_bytes()
        .to_vec(),
    };
    let spki = spki_explicit(ds_public_key);
    let ski =
        SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(|e| PkiError::Encoding {
            what: "subject key identifier",
            reason: e.to_string(),
        })?;
    let adapter = Adapter::new(csca_signer);
    let mut b = CertificateBuilder::new(
        Profile::Manual {
            issuer: Some(csca.tbs_certificate.subject.clone()),
        },
        serial(&terms.serial_number)?,
        Validity {
            not_before: x509_time(terms.not_before)?,
            not_after: x509_time(terms.not_after)?,
        },
        terms.subject.clone(),
        spki,
        &adapter,
    )
    .map_err(|e| PkiError::Encoding {
        what: "DS certificate",
        reason: e.to_string(),
    })?;
    add(&mut b, &KeyUsage(KeyUsages::DigitalSignature.into()))?;
    add(
        &mut b,
        &AuthorityKeyIdentifier {
            key_identifier: Some(
                der::asn1::OctetString::new(aki).map_err(enc("authority key identifier"))?,
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?;
    add(&mut b, &ski)?;
    add(
        &mut b,
        &PrivateKeyUsagePeriod {
            not_before: Some(generalized(terms.not_before)?),
            not_after: Some(generalized(terms.signing_until)?),
        },
    )?;
    let mut types = SetOfVec::new();
    for t in &terms.document_types {
        types
            .insert(PrintableString::new(t).map_err(enc("document type"))?)
            .map_err(enc("document type list"))?;
    }
    add(
        &mut b,
        &DocumentTypeList {
            version: 0,
            doc_type_list: types,
        },
    )?;
    sign_builder(b, csca_signer)
}

/// The decoded value of extension `oid`, if present and decodable.
pub fn extension<T: for<'a> Decode<'a>>(cert: &Certificate, oid: ObjectIdentifier) -> Option<T> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
}

/// The subject key identifier bytes, if the certificate has one.
pub fn subject_key_identifier(cert: &Certificate) -> Option<Vec<u8>> {
    extension::<SubjectKeyIdentifier>(cert, SubjectKeyIdentifier::OID)
        .map(|s| s.0.as_bytes().to_vec())
}

/// The private key usage period, if present: (notBefore, notAfter).
pub fn private_key_usage_period(
    cert: &Certificate,
) -> Option<(Option<time::OffsetDateTime>, Option<time::OffsetDateTime>)> {
    extension::<PrivateKeyUsagePeriod>(cert, PrivateKeyUsagePeriod::OID).map(|p| {
        let conv = |g: GeneralizedTime| time_of(&Time::GeneralTime(g));
        (p.not_before.map(conv), p.not_after.map(conv))
    })
}

/// The document types of a DS certificate's documentTypeList, if present.
pub fn document_types(cert: &Certificate) -> Option<Vec<String>> {
    extension::<DocumentTypeList>(cert, ID_DOCUMENT_TYPE_LIST)
        .map(|l| l.doc_type_list.iter().map(|s| s.to_string()).collect())
}

/// Verifies that `cert` is signed (ecdsa-with-SHA256) by `issuer_key`.
pub fn verify_signed_by(cert: &Certificate, issuer_key: &p256::PublicKey) -> Result<(), PkiError> {
    if cert.signature_algorithm.oid != ECDSA_WITH_SHA256 {
        return Err(PkiError::Algorithm {
            found: cert.signature_algorithm.oid,
        });
    }
    let bad = || PkiError::BadSignature {
        cert: cert.tbs_certificate.subject.to_string(),
    };
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(enc("TBSCertificate"))?;
    let sig = DerSignature::from_bytes(cert.signature.raw_bytes()).map_err(|_| bad())?;
    p256::ecdsa::VerifyingKey::from(issuer_key)
        .verify(&tbs, &sig)
        .map_err(|_| bad())
}

/// The first 8 bytes of SHA-256 over a certificate's DER (the kid of ECARD.md section 8).
pub fn certificate_kid(cert: &Certificate) -> Result<[u8; 8], PkiError> {
    let der = cert.to_der().map_err(enc("certificate"))?;
    let d = Sha256::digest(der);
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&d[..8]);
    Ok(kid)
}
