//! EF.SOD: the document security object (tag `77`), a CMS SignedData over the LDSSecurityObject
//! that holds a SHA-256 hash of every data group (Doc 9303-10 4.6.2, ECARD.md section 6).
//!
//! Built with `cms`'s `SignedDataBuilder` and `SignerInfoBuilder`; the signature comes through
//! [`crate::pki::Signer`]. Parsing decodes the structures and pulls out what a verifier needs; it
//! checks no signature (that is `verify`'s job) and trusts nothing.

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use der::asn1::{ObjectIdentifier, OctetString, PrintableString, SetOfVec};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use p256::ecdsa::DerSignature;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use super::util::{outer_der, wrap_der};
use super::{EfId, LdsError, LdsFiles};
use crate::pki::{Signer, SignerError, public_key_from_spki, time_of, x509_time};

const FILE: EfId = EfId::Sod;

/// id-icao-mrtd-security-ldsSecurityObject.
pub const ID_LDS_SECURITY_OBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.1");
/// id-sha256.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// ```text
/// LDSSecurityObject ::= SEQUENCE {
///   version LDSSecurityObjectVersion,
///   hashAlgorithm DigestAlgorithmIdentifier,
///   dataGroupHashValues SEQUENCE SIZE (2..ub-DataGroups) OF DataGroupHash,
///   ldsVersionInfo LDSVersionInfo OPTIONAL
///   -- If present, version MUST be V1 }
/// LDSSecurityObjectVersion ::= INTEGER {V0(0), V1(1)}
/// ```
/// (Doc 9303-10 4.6.2.2.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct LdsSecurityObject {
    /// 0, or 1 with `lds_version_info`.
    pub version: u8,
    /// The hash algorithm of every data group hash (SHA-256 on the e-card).
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// One hash per data group.
    pub data_group_hash_values: Vec<DataGroupHash>,
    /// LDS and Unicode versions (LDS 1.8).
    #[asn1(optional = "true")]
    pub lds_version_info: Option<LdsVersionInfo>,
}

/// ```text
/// DataGroupHash ::= SEQUENCE {
///   dataGroupNumber DataGroupNumber,
///   dataGroupHashValue OCTET STRING }
/// DataGroupNumber ::= INTEGER {dataGroup1(1), ..., dataGroup16(16)}
/// ```
/// (Doc 9303-10 4.6.2.2.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct DataGroupHash {
    /// 1..16.
    pub data_group_number: u8,
    /// Hash over the whole data group file.
    pub data_group_hash_value: OctetString,
}

/// ```text
/// LDSVersionInfo ::= SEQUENCE {
///   ldsVersion PRINTABLE STRING
///   unicodeVersion PRINTABLE STRING }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct LdsVersionInfo {
    /// "aabb".
    pub lds_version: PrintableString,
    /// "aabbcc".
    pub unicode_version: PrintableString,
}

/// A parsed EF.SOD.
#[derive(Clone, Debug)]
pub struct Sod {
    /// The SignedData as decoded.
    pub signed_data: SignedData,
    /// The eContent octets exactly as in the file (what the messageDigest attribute covers).
    pub econtent: Vec<u8>,
    /// The decoded LDSSecurityObject.
    pub lds_security_object: LdsSecurityObject,
    /// The Document Signer certificate, when the SignedData carries one.
    pub ds_certificate: Option<Certificate>,
}

fn asn1(what: &'static str) -> impl Fn(der::Error) -> LdsError {
    move |e| LdsError::Asn1 {
        file: FILE,
        what,
        problem: e.to_string(),
    }
}

fn structure(what: &'static str, problem: &str) -> LdsError {
    LdsError::Asn1 {
        file: FILE,
        what,
        problem: problem.to_string(),
    }
}

/// Why EF.SOD (or a card) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SodBuildError {
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The signer's key is not the DS certificate's key.
    #[error("EF.SOD: the signer's public key is not the key of the DS certificate")]
    SignerMismatch,
    /// The DS certificate's key is not an acceptable P-256 key.
    #[error("EF.SOD: DS certificate key: {0}")]
    DsKey(crate::pki::KeyError),
    /// A structure could not be encoded.
    #[error("EF.SOD: {what}: {reason}")]
    Encoding {
        /// What was being built.
        what: &'static str,
        /// The encoder's words.
        reason: String,
    },
}

fn benc<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> SodBuildError {
    move |e| SodBuildError::Encoding {
        what,
        reason: e.to_string(),
    }
}

/// The SHA-256 algorithm identifier (parameters absent, RFC 5754).
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    }
}

impl LdsSecurityObject {
    /// Version 0, SHA-256, a hash of every data group in `files` (EF.COM and EF.SOD skipped), over
    /// the file's exact bytes, in data group order.
    pub fn over(files: &LdsFiles) -> Self {
        let data_group_hash_values = files
            .iter()
            .filter_map(|(ef, bytes)| {
                let n = ef.dg_number()?;
                #[allow(clippy::expect_used)]
                let hash = OctetString::new(Sha256::digest(bytes).to_vec())
                    .expect("a 32-byte hash is a valid OCTET STRING");
                Some(DataGroupHash {
                    data_group_number: n,
                    data_group_hash_value: hash,
                })
            })
            .collect();
        LdsSecurityObject {
            version: 0,
            hash_algorithm: sha256_algorithm(),
            data_group_hash_values,
            lds_version_info: None,
        }
    }
}

impl Sod {
    /// The SignerInfo (a parsed EF.SOD has exactly one).
    pub fn signer_info(&self) -> Option<&SignerInfo> {
        self.signed_data.signer_infos.0.get(0)
    }

    /// The hash listed for data group `n`.
    pub fn hash_for(&self, n: u8) -> Option<&[u8]> {
        self.lds_security_object
            .data_group_hash_values
            .iter()
            .find(|h| h.data_group_number == n)
            .map(|h| h.data_group_hash_value.as_bytes())
    }

    /// The single value of signed attribute `oid`, when present exactly once with one value.
    pub fn signed_attribute(&self, oid: ObjectIdentifier) -> Option<&Any> {
        let attrs = self.signer_info()?.signed_attrs.as_ref()?;
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let a = found.next()?;
        if found.next().is_some() || a.values.len() != 1 {
            return None;
        }
        a.values.get(0)
    }

    /// The signingTime signed attribute.
    pub fn signing_time(&self) -> Option<time::OffsetDateTime> {
        let v = self.signed_attribute(ID_SIGNING_TIME)?;
        let t = Time::from_der(&v.to_der().ok()?).ok()?;
        Some(time_of(&t))
    }

    /// The messageDigest signed attribute.
    pub fn message_digest(&self) -> Option<Vec<u8>> {
        let v = self.signed_attribute(ID_MESSAGE_DIGEST)?;
        v.decode_as::<OctetString>()
            .ok()
            .map(|o| o.as_bytes().to_vec())
    }

    /// Parses EF.SOD.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let value = outer_der(FILE, bytes)?;
        let ci = ContentInfo::from_der(value).map_err(asn1("ContentInfo"))?;
        if ci.content_type != ID_SIGNED_DATA {
            return Err(structure("ContentInfo", "content type is not signedData"));
        }
        let signed_data: SignedData = ci.content.decode_as().map_err(asn1("SignedData"))?;
        let eci = &signed_data.encap_content_info;
        if eci.econtent_type != ID_LDS_SECURITY_OBJECT {
            return Err(structure(
                "EncapsulatedContentInfo",
                &format!(
                    "eContentType is {}, expected 2.23.136.1.1.1",
                    eci.econtent_type
                ),
            ));
        }
        let econtent = eci
            .econtent
            .as_ref()
            .ok_or_else(|| structure("EncapsulatedContentInfo", "eContent is absent"))?;
        if econtent.tag() != Tag::OctetString {
            return Err(structure(
                "EncapsulatedContentInfo",
                "eContent is not an OCTET STRING",
            ));
        }
        let econtent = econtent.value().to_vec();
        let lds_security_object =
            LdsSecurityObject::from_der(&econtent).map_err(asn1("LDSSecurityObject"))?;
        let n = signed_data.signer_infos.0.len();
        if n != 1 {
            return Err(structure(
                "SignedData",
                &format!("holds {n} SignerInfos, expected 1"),
            ));
        }
        let ds_certificate = signed_data.certificates.as_ref().and_then(|set| {
            set.0.iter().find_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c.clone()),
                _ => None,
            })
        });
        Ok(Sod {
            signed_data,
            econtent,
            lds_security_object,
            ds_certificate,
        })
    }

    /// Builds EF.SOD over the data groups in `files`, signed by `signer` whose certificate is
    /// `ds_cert`, with signingTime `signing_time`.
    pub fn build(
        files: &LdsFiles,
        signer: &dyn Signer,
        ds_cert: &Certificate,
        signing_time: time::OffsetDateTime,
    ) -> Result<Vec<u8>, SodBuildError> {
        let ds_key = public_key_from_spki(&ds_cert.tbs_certificate.subject_public_key_info)
            .map_err(SodBuildError::DsKey)?;
        if ds_key != signer.public_key() {
            return Err(SodBuildError::SignerMismatch);
        }
        let lso = LdsSecurityObject::over(files);
        let econtent = lso.to_der().map_err(benc("LDSSecurityObject"))?;
        let eci = EncapsulatedContentInfo {
            econtent_type: ID_LDS_SECURITY_OBJECT,
            econtent: Some(Any::new(Tag::OctetString, econtent).map_err(benc("eContent"))?),
        };
        let adapter = crate::pki::signer_adapter(signer);
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: ds_cert.tbs_certificate.issuer.clone(),
            serial_number: ds_cert.tbs_certificate.serial_number.clone(),
        });
        let mut sib = SignerInfoBuilder::new(&adapter, sid, sha256_algorithm(), &eci, None)
            .map_err(benc("SignerInfo"))?;
        // The builder adds messageDigest over the eContent octets (RFC 5652 5.4) and contentType
        // from eContentType. Adding contentType ourselves trips a check in cms 0.2.3 that compares
        // the attribute's type (id-contentType) with eContentType, so we leave it to the builder.
        sib.add_signed_attribute(signing_time_attribute(signing_time)?)
            .map_err(benc("signingTime attribute"))?;
        let mut sdb = SignedDataBuilder::new(&eci);
        sdb.add_digest_algorithm(sha256_algorithm())
            .map_err(benc("digestAlgorithms"))?
            .add_certificate(CertificateChoices::Certificate(ds_cert.clone()))
            .map_err(benc("certificates"))?;
        let added = sdb.add_signer_info::<_, DerSignature>(sib);
        if let Some(e) = adapter.error.borrow_mut().take() {
            return Err(SodBuildError::Signer(e));
        }
        added.map_err(benc("SignerInfo"))?;
        let ci = sdb.build().map_err(benc("SignedData"))?;
        let der = ci.to_der().map_err(benc("ContentInfo"))?;
        Ok(wrap_der(FILE, &der))
    }
}

/// signingTime (RFC 5652 11.3): UTCTime through 2049, GeneralizedTime after.
fn signing_time_attribute(t: time::OffsetDateTime) -> Result<Attribute, SodBuildError> {
    let time = match x509_time(t).map_err(|e| SodBuildError::Encoding {
        what: "signingTime",
        reason: e.to_string(),
    })? {
        Time::GeneralTime(g) if g.to_date_time().year() < 2050 => Time::UtcTime(
            der::asn1::UtcTime::from_date_time(g.to_date_time()).map_err(benc("signingTime"))?,
        ),
        other => other,
    };
    let value = Any::encode_from(&time).map_err(benc("signingTime"))?;
    let mut values = SetOfVec::new();
    values.insert(value).map_err(benc("signingTime"))?;
    Ok(Attribute {
        oid: ID_SIGNING_TIME,
        values,
    })
}
