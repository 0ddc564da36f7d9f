//! The e-card PKI (Doc 9303-12, ECARD.md section 6): CSCA and Document Signer certificates with
//! explicit EC domain parameters, and the [`Signer`] trait through which their keys sign.
//!
//! `ecard pki init` is [`init`] plus file writing in the CLI: this module returns certificates and
//! PKCS#8 keys as values and never touches files, a clock (times are arguments) or an OS RNG (the
//! caller passes one).

mod certs;
pub mod ec;
mod selftest;
mod signer;

pub use certs::{
    DocumentTypeList, DsTerms, ID_DOCUMENT_TYPE_LIST, PkiError, add_months, certificate_kid,
    document_types, extension, issue_csca, issue_ds, name, private_key_usage_period,
    subject_key_identifier, time_of, verify_signed_by, x509_time,
};
pub use ec::{KeyError, public_key_from_spki, spki_explicit, spki_named};
pub use selftest::{DS_WARNING_DAYS, SelfTest, SelfTestError, self_test};
pub(crate) use signer::Adapter as SignerAdapter;
pub use signer::{ECDSA_WITH_SHA256, INSECURE_FILE_KEY, Signer, SignerError, SoftwareSigner};

/// The `cms` builder's view of a [`Signer`].
pub(crate) fn signer_adapter(s: &dyn Signer) -> SignerAdapter<'_> {
    SignerAdapter::new(s)
}

use der::EncodePem;
use x509_cert::Certificate;

/// What `ecard pki init` asks for. [`PkiConfig::default`] gives the e-card's values.
#[derive(Debug, Clone)]
pub struct PkiConfig {
    /// Country of CSCA and DS, two letters ("RU").
    pub country: String,
    /// Organization in both names.
    pub organization: String,
    /// CSCA common name.
    pub csca_common_name: String,
    /// DS organizational unit.
    pub ds_unit: Option<String>,
    /// DS common name.
    pub ds_common_name: String,
    /// CSCA validity in years.
    pub csca_years: u32,
    /// DS signing period (privateKeyUsagePeriod) in months.
    pub ds_signing_months: u32,
    /// Card validity in years, added to the signing period for the DS validity.
    pub card_years: u32,
    /// Extra days of DS validity after the last card it signed expires.
    pub ds_margin_days: u32,
    /// Document types the DS may sign.
    pub document_types: Vec<String>,
}

impl Default for PkiConfig {
    fn default() -> Self {
        PkiConfig {
            country: "RU".into(),
            organization: "MMC Moscow".into(),
            csca_common_name: "CSCA RU e-card".into(),
            ds_unit: Some("Residence cards".into()),
            ds_common_name: "Document Signer RU e-card 01".into(),
            csca_years: 15,
            ds_signing_months: 3,
            card_years: 5,
            ds_margin_days: 31,
            document_types: vec!["IR".into()],
        }
    }
}

/// A CSCA and a Document Signer with their keys, fresh from [`init`].
#[derive(Debug, Clone)]
pub struct GeneratedPki {
    /// The CSCA certificate.
    pub csca: Certificate,
    /// The CSCA private key.
    pub csca_key: SoftwareSigner,
    /// The Document Signer certificate.
    pub ds: Certificate,
    /// The Document Signer private key.
    pub ds_key: SoftwareSigner,
}

impl GeneratedPki {
    /// The CSCA certificate as PEM.
    pub fn csca_pem(&self) -> Result<String, PkiError> {
        cert_pem(&self.csca)
    }

    /// The DS certificate as PEM.
    pub fn ds_pem(&self) -> Result<String, PkiError> {
        cert_pem(&self.ds)
    }
}

/// A certificate as PEM ("CERTIFICATE").
pub fn cert_pem(cert: &Certificate) -> Result<String, PkiError> {
    cert.to_pem(der::pem::LineEnding::LF)
        .map_err(|e| PkiError::Encoding {
            what: "certificate PEM",
            reason: e.to_string(),
        })
}

/// Reads one certificate from PEM or DER bytes.
pub fn read_certificate(bytes: &[u8]) -> Result<Certificate, PkiError> {
    use der::{Decode, DecodePem};
    let r = if bytes.starts_with(b"-----") {
        Certificate::from_pem(bytes)
    } else {
        Certificate::from_der(bytes)
    };
    r.map_err(|e| PkiError::Encoding {
        what: "certificate",
        reason: e.to_string(),
    })
}

/// Reads every certificate of a PEM bundle (a trust list of several CSCAs), or one DER certificate.
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    if bytes.starts_with(b"-----") {
        Certificate::load_pem_chain(bytes).map_err(|e| PkiError::Encoding {
            what: "certificate PEM bundle",
            reason: e.to_string(),
        })
    } else {
        read_certificate(bytes).map(|c| vec![c])
    }
}

fn random_serial(rng: &mut impl rand_core::CryptoRngCore) -> Vec<u8> {
    let mut s = vec![0u8; 12];
    rng.fill_bytes(&mut s);
    // Positive and without a leading zero byte, so the DER INTEGER is exactly 12 bytes.
    s[0] = (s[0] & 0x7F) | 0x40;
    s
}

/// Generates a CSCA and a Document Signer (`ecard pki init`) with keys in memory. `now` starts
/// both validities and the signing period; keys and serial numbers come from `rng`.
pub fn init(
    config: &PkiConfig,
    now: time::OffsetDateTime,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<GeneratedPki, PkiError> {
    let csca_key = SoftwareSigner::generate(rng);
    let ds_key = SoftwareSigner::generate(rng);
    let (csca, ds) = init_with(config, now, rng, &csca_key, &ds_key)?;
    Ok(GeneratedPki {
        csca,
        csca_key,
        ds,
        ds_key,
    })
}

/// Issues the CSCA and Document Signer certificates for keys that already exist (in a PKCS#11
/// token, say): the CSCA self-signed by `csca_key`, the DS for `ds_key`'s public key signed by
/// `csca_key`. Returns (CSCA, DS).
pub fn init_with(
    config: &PkiConfig,
    now: time::OffsetDateTime,
    rng: &mut impl rand_core::CryptoRngCore,
    csca_key: &dyn Signer,
    ds_key: &dyn Signer,
) -> Result<(Certificate, Certificate), PkiError> {
    let now = utc_seconds(now);
    let csca = issue_csca(
        name(
            &config.country,
            &config.organization,
            None,
            &config.csca_common_name,
        )?,
        csca_key,
        &random_serial(rng),
        now,
        add_months(now, config.csca_years * 12),
    )?;
    let ds = next_ds(config, &csca, csca_key, &ds_key.public_key(), now, rng)?;
    Ok((csca, ds))
}

fn utc_seconds(now: time::OffsetDateTime) -> time::OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(now)
}

/// Issues a Document Signer certificate under `csca` for `ds_public_key`, its signing period
/// starting at `now` (`ecard pki init`, and `ecard pki rotate-ds` for the next DS).
pub fn next_ds(
    config: &PkiConfig,
    csca: &Certificate,
    csca_key: &dyn Signer,
    ds_public_key: &p256::PublicKey,
    now: time::OffsetDateTime,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Certificate, PkiError> {
    let now = utc_seconds(now);
    let signing_until = add_months(now, config.ds_signing_months);
    let terms = DsTerms {
        subject: name(
            &config.country,
            &config.organization,
            config.ds_unit.as_deref(),
            &config.ds_common_name,
        )?,
        serial_number: random_serial(rng),
        not_before: now,
        signing_until,
        not_after: add_months(signing_until, config.card_years * 12)
            + time::Duration::days(i64::from(config.ds_margin_days)),
        document_types: config.document_types.clone(),
    };
    issue_ds(csca, csca_key, ds_public_key, &terms)
}
