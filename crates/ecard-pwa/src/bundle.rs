//! The trust bundle the phone verifies seals and status lists with: one entry per Document Signer
//! certificate the server was given, each already held by the server to the parts of the chip's
//! Document Signer policy that do not depend on the signing date (chain to a trusted CSCA, keyUsage
//! digitalSignature, documentTypeList covering "IR", a usable P-256 key), and carrying what the
//! phone needs for the rest: the kid, the public key as a JWK, and the validity and private key
//! usage period bounds, which depend on the seal's date of issue or the list's `iat` and on the
//! check date, and so are checked on the phone (`verify.js`, `dsTerms`), as
//! [`ecard_chip::verify::check_ds_terms`] does.
//!
//! Why a pre-verified bundle and not an X.509 parser in the browser: CSCA and DS keys carry
//! explicit EC domain parameters (Doc 9303-12), which WebCrypto cannot import, and a browser X.509
//! stack would be a second, weaker implementation of the policy the Rust code already enforces.
//! Why it is not signed: the bundle comes from the same origin, over the same session, as the
//! script that checks it; a signature by a key delivered on that channel adds nothing, and a
//! checkpoint does not hold a Document Signer's private key (ECARD.md section 12). A DS the server
//! refuses is listed with `trusted: false` and the reason, so the phone names it instead of
//! calling the kid unknown.
//!
//! Must not: list a key as trusted that did not pass the server's checks; read a clock (the time
//! the bundle was made is an argument).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::oid::AssociatedOid;
use ecard_chip::pki;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;

/// The document code the e-card's Document Signers must be allowed to sign.
const DOCUMENT_CODE: &str = "IR";

/// The bundle as served at `trust-bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustBundle {
    /// Format version, 1.
    pub v: u32,
    /// When the server made it (RFC 3339 UTC).
    pub made: String,
    /// The trusted CSCAs, for the screen: subject and SHA-256 of the DER.
    pub csca: Vec<CscaEntry>,
    /// One entry per Document Signer certificate given.
    pub ds: Vec<DsEntry>,
    /// Where the phone fetches the signed status list (relative to the app, or an absolute path
    /// on the same origin).
    pub status_url: String,
}

/// A trusted CSCA, named for the screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CscaEntry {
    /// Subject name.
    pub subject: String,
    /// SHA-256 of the certificate's DER, hex.
    pub sha256: String,
}

/// A Document Signer as the phone needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DsEntry {
    /// First 8 bytes of SHA-256 over the certificate's DER, hex (the COSE kid).
    pub kid: String,
    /// Subject name.
    pub subject: String,
    /// Whether the server's checks passed; when false, `problem` says why and `jwk` is absent.
    pub trusted: bool,
    /// Why the server refused this signer, as `ecard scan` words it.
    pub problem: Option<String>,
    /// The P-256 public key as a JWK (`kty`, `crv`, `x`, `y`), for WebCrypto.
    pub jwk: Option<serde_json::Value>,
    /// Validity notBefore (RFC 3339 UTC).
    pub not_before: String,
    /// Validity notAfter (RFC 3339 UTC).
    pub not_after: String,
    /// privateKeyUsagePeriod notBefore, when the extension gives one.
    pub pkup_not_before: Option<String>,
    /// privateKeyUsagePeriod notAfter, when the extension gives one.
    pub pkup_not_after: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The entry for one Document Signer certificate, checked against `csca`.
pub fn ds_entry(ds: &Certificate, csca: &[Certificate]) -> DsEntry {
    let tbs = &ds.tbs_certificate;
    let subject = tbs.subject.to_string();
    let kid = pki::certificate_kid(ds)
        .map(hex::encode)
        .unwrap_or_default();
    let (pnb, pna) = pki::private_key_usage_period(ds).unwrap_or((None, None));
    let mut entry = DsEntry {
        kid,
        subject: subject.clone(),
        trusted: false,
        problem: None,
        jwk: None,
        not_before: rfc3339(pki::time_of(&tbs.validity.not_before)),
        not_after: rfc3339(pki::time_of(&tbs.validity.not_after)),
        pkup_not_before: pnb.map(rfc3339),
        pkup_not_after: pna.map(rfc3339),
    };
    match server_checks(ds, csca) {
        Ok(jwk) => {
            entry.trusted = true;
            entry.jwk = Some(jwk);
        }
        Err(problem) => entry.problem = Some(problem),
    }
    entry
}

/// The date-free part of the DS policy, in the order `ecard scan` runs it; the JWK when it passes.
fn server_checks(ds: &Certificate, csca: &[Certificate]) -> Result<serde_json::Value, String> {
    let subject = ds.tbs_certificate.subject.to_string();
    ecard_chip::verify::check_ds_chain(ds, csca).map_err(|reason| {
        format!(
            "Document Signer {subject} is not signed by any of the {} trusted CSCA certificates: {reason}",
            csca.len()
        )
    })?;
    let policy = |reason: &str| format!("Document Signer {subject} not acceptable: {reason}");
    if let Some(ku) = pki::extension::<KeyUsage>(ds, KeyUsage::OID)
        && !ku.digital_signature()
    {
        return Err(policy("DS certificate keyUsage lacks digitalSignature"));
    }
    // Doc 9303-12 7.1.1.3: a one-letter entry covers every document code starting with it.
    if let Some(types) = pki::document_types(ds)
        && !types
            .iter()
            .any(|t| t == DOCUMENT_CODE || (t.len() == 1 && DOCUMENT_CODE.starts_with(t.as_str())))
    {
        return Err(policy(&format!(
            "DS certificate documentTypeList {types:?} does not cover document code {DOCUMENT_CODE:?}"
        )));
    }
    let key = pki::public_key_from_spki(&ds.tbs_certificate.subject_public_key_info)
        .map_err(|e| format!("Document Signer {subject}: {e}"))?;
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(format!(
            "Document Signer {subject}: the public key is the point at infinity"
        ));
    };
    Ok(serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
        "ext": true,
    }))
}

/// The bundle of `ds` checked against `csca`, made at `now`, pointing the phone at `status_url`.
pub fn make_bundle(
    csca: &[Certificate],
    ds: &[Certificate],
    now: OffsetDateTime,
    status_url: &str,
) -> TrustBundle {
    use der::Encode;
    use sha2::Digest;
    TrustBundle {
        v: 1,
        made: rfc3339(now),
        csca: csca
            .iter()
            .map(|c| CscaEntry {
                subject: c.tbs_certificate.subject.to_string(),
                sha256: c
                    .to_der()
                    .map(|d| hex::encode(sha2::Sha256::digest(d)))
                    .unwrap_or_default(),
            })
            .collect(),
        ds: ds.iter().map(|d| ds_entry(d, csca)).collect(),
        status_url: status_url.to_string(),
    }
}
