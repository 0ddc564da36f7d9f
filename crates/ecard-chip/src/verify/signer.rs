//! The one trust policy for a Document Signer certificate, whatever it signed: the chip's EF.SOD,
//! the QR seal or the card status list (ECARD.md sections 6 to 8, issue 13). A DS is acceptable
//! when it is signed by a trusted CSCA of its issuer's name, the signature was made inside its
//! validity and private key usage period, it is not expired (nor not yet valid) at the check date,
//! its keyUsage allows digitalSignature, and its documentTypeList covers the document code.
//!
//! Must not: trust a key the signed object carries, or keep a second copy of these rules elsewhere;
//! `ecard-seal` calls [`check_document_signer`].

use const_oid::AssociatedOid;
use time::{Date, OffsetDateTime, UtcOffset};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;

use crate::pki;

/// When the object was signed, as far as it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedAt {
    /// An instant (EF.SOD signingTime, a status list's `iat`).
    Instant(OffsetDateTime),
    /// A calendar day in Moscow (a seal's date of issue): compared with the Moscow dates of the
    /// certificate's bounds.
    MoscowDay(Date),
}

const MOSCOW: UtcOffset = match UtcOffset::from_hms(3, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

impl SignedAt {
    fn before(self, bound: OffsetDateTime) -> bool {
        match self {
            SignedAt::Instant(t) => t < bound,
            SignedAt::MoscowDay(d) => d < bound.to_offset(MOSCOW).date(),
        }
    }
    fn after(self, bound: OffsetDateTime) -> bool {
        match self {
            SignedAt::Instant(t) => t > bound,
            SignedAt::MoscowDay(d) => d > bound.to_offset(MOSCOW).date(),
        }
    }
    fn day(self) -> Date {
        match self {
            SignedAt::Instant(t) => t.date(),
            SignedAt::MoscowDay(d) => d,
        }
    }
}

/// Whether `ds` is signed by a trusted CSCA named as its issuer.
pub fn check_ds_chain(ds: &Certificate, trust: &[Certificate]) -> Result<(), String> {
    let issuer = &ds.tbs_certificate.issuer;
    let named: Vec<&Certificate> = trust
        .iter()
        .filter(|c| &c.tbs_certificate.subject == issuer)
        .collect();
    if named.is_empty() {
        return Err(format!(
            "no trusted CSCA is named {issuer} ({} trusted)",
            trust.len()
        ));
    }
    let mut reasons = Vec::new();
    for csca in &named {
        match pki::public_key_from_spki(&csca.tbs_certificate.subject_public_key_info) {
            Err(e) => reasons.push(format!("CSCA key: {e}")),
            Ok(key) => match pki::verify_signed_by(ds, &key) {
                Ok(()) => return Ok(()),
                Err(e) => reasons.push(e.to_string()),
            },
        }
    }
    Err(format!(
        "DS certificate is not signed by any of the {} trusted CSCA named {issuer}: {}",
        named.len(),
        reasons.join("; ")
    ))
}

/// Whether `ds` may have signed `what` at `signed` and is still good on `at` for `document_code`.
pub fn check_ds_terms(
    what: &str,
    ds: &Certificate,
    signed: SignedAt,
    at: Date,
    document_code: Option<&str>,
) -> Result<(), String> {
    let v = &ds.tbs_certificate.validity;
    let (nb, na) = (pki::time_of(&v.not_before), pki::time_of(&v.not_after));
    if signed.before(nb) || signed.after(na) {
        return Err(format!(
            "{what} signed at {} outside the DS certificate validity {} .. {}",
            signed.day(),
            nb.date(),
            na.date()
        ));
    }
    if let Some((pnb, pna)) = pki::private_key_usage_period(ds)
        && (pnb.is_some_and(|b| signed.before(b)) || pna.is_some_and(|a| signed.after(a)))
    {
        return Err(format!(
            "{what} signed at {} outside the DS private key usage period",
            signed.day()
        ));
    }
    if at > na.date() {
        return Err(format!(
            "DS certificate expired on {}, check date {at}",
            na.date()
        ));
    }
    if at < nb.date() {
        return Err(format!(
            "DS certificate not valid before {}, check date {at}",
            nb.date()
        ));
    }
    if let Some(ku) = pki::extension::<KeyUsage>(ds, KeyUsage::OID)
        && !ku.digital_signature()
    {
        return Err("DS certificate keyUsage lacks digitalSignature".into());
    }
    // Doc 9303-12 7.1.1.3: a one-letter entry covers every document code starting with it.
    if let (Some(types), Some(code)) = (pki::document_types(ds), document_code)
        && !types
            .iter()
            .any(|t| code == t || (t.len() == 1 && code.starts_with(t.as_str())))
    {
        return Err(format!(
            "DS certificate documentTypeList {types:?} does not cover document code {code:?}"
        ));
    }
    Ok(())
}

/// The whole policy: [`check_ds_chain`], then [`check_ds_terms`]. The first reason it fails.
pub fn check_document_signer(
    what: &str,
    ds: &Certificate,
    trust: &[Certificate],
    signed: SignedAt,
    at: Date,
    document_code: Option<&str>,
) -> Result<(), String> {
    check_ds_chain(ds, trust)?;
    check_ds_terms(what, ds, signed, at, document_code)
}
