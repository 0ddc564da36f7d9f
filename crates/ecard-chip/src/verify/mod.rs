//! The checkpoint's verdict on a card's files (ECARD.md section 7): every check run, each with an
//! outcome and a reason, in a [`Report`] that names the first failure.
//!
//! Pure: files, trust anchors, the check date, the revocation set and the Active Authentication
//! evidence are all arguments. It reads no card (the caller did, and ran INTERNAL AUTHENTICATE) and no
//! clock. Reasons name files, elements and certificates, never holder values.

mod aa;
mod holder;

pub use aa::{AaError, verify_active_authentication};
pub use holder::HolderSummary;

use std::collections::BTreeSet;

use der::Encode;
use p256::ecdsa::DerSignature;
use sha2::{Digest, Sha256};
use signature::Verifier;
use x509_cert::Certificate;

use crate::lds::sod::{ID_LDS_SECURITY_OBJECT, ID_SHA256};
use crate::lds::{Com, Dg1, Dg2, Dg7, Dg11, Dg12, Dg14, Dg15, EfId, LdsError, LdsFiles, Sod};
use crate::pki::{self, ECDSA_WITH_SHA256};

/// The checks, in the order they run and are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckId {
    /// Every file parses; EF.COM, DG1 and EF.SOD are present.
    FilesParse,
    /// EF.COM lists exactly the data groups present.
    ComMatchesFiles,
    /// Every data group's SHA-256 equals the one in EF.SOD.
    DataGroupHashes,
    /// Every data group present is in EF.SOD, and every one EF.SOD lists is present.
    DataGroupsSigned,
    /// The EF.SOD signature verifies with the Document Signer certificate it carries.
    SodSignature,
    /// The Document Signer certificate is signed by a trusted CSCA.
    DsChain,
    /// The Document Signer certificate was valid at signing time and is not expired at the check date.
    DsValidity,
    /// The MRZ check digits hold.
    MrzCheckDigits,
    /// DG1 and DG11 agree on name and date of birth.
    Dg1Dg11Agree,
    /// The card is not expired at the check date.
    NotExpired,
    /// The document number is not revoked.
    NotRevoked,
    /// DG15 comes with a DG14 ActiveAuthenticationInfo.
    ActiveAuthenticationInfo,
    /// The chip proved it holds the DG15 key.
    ActiveAuthentication,
}

impl CheckId {
    /// The check in words.
    pub fn name(self) -> &'static str {
        match self {
            CheckId::FilesParse => "every file parses",
            CheckId::ComMatchesFiles => "EF.COM lists the data groups present",
            CheckId::DataGroupHashes => "data group hashes match EF.SOD",
            CheckId::DataGroupsSigned => "every data group is signed in EF.SOD",
            CheckId::SodSignature => "EF.SOD signature",
            CheckId::DsChain => "Document Signer chains to a trusted CSCA",
            CheckId::DsValidity => "Document Signer validity",
            CheckId::MrzCheckDigits => "MRZ check digits",
            CheckId::Dg1Dg11Agree => "DG1 and DG11 agree",
            CheckId::NotExpired => "card not expired",
            CheckId::NotRevoked => "card not revoked",
            CheckId::ActiveAuthenticationInfo => "DG14 announces Active Authentication",
            CheckId::ActiveAuthentication => "Active Authentication",
        }
    }
}

/// What one check concluded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Passed with a reservation (the card is still valid).
    Warn(String),
    /// Failed: the card is not valid.
    Fail(String),
    /// Not run, and why.
    Skipped(String),
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Which check.
    pub id: CheckId,
    /// The check in words.
    pub name: &'static str,
    /// Its outcome (flattened in JSON: `"outcome": "fail", "reason": "..."`).
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The verdict on a card.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Every check, in [`CheckId`] order.
    pub checks: Vec<Check>,
    /// What the card says about its holder, as far as it parsed.
    pub holder: Option<HolderSummary>,
}

impl Report {
    /// Valid when no check failed (warnings and skipped checks do not invalidate).
    pub fn is_valid(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The first failing check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| matches!(c.outcome, Outcome::Fail(_)))
    }

    /// The outcome of one check.
    pub fn outcome(&self, id: CheckId) -> Option<&Outcome> {
        self.checks.iter().find(|c| c.id == id).map(|c| &c.outcome)
    }
}

/// What the chip answered to INTERNAL AUTHENTICATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaOutcome {
    /// The 8 random bytes sent.
    pub challenge: [u8; 8],
    /// The chip's answer.
    pub response: Vec<u8>,
}

/// Whether Active Authentication was run against the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AaEvidence {
    /// Not run (files checked without the chip, e.g. from a dump).
    NotPerformed,
    /// Sent, and the chip gave no answer or an error status.
    NoAnswer,
    /// Sent and answered.
    Performed(AaOutcome),
}

/// What the verifier needs besides the files.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    /// Trusted CSCA certificates.
    pub trust: &'a [Certificate],
    /// The check date.
    pub at: time::Date,
    /// Strict mode: warnings become failures (DG15 without DG14).
    pub strict: bool,
    /// Revoked document numbers.
    pub revoked: &'a BTreeSet<String>,
    /// Active Authentication evidence.
    pub active_auth: AaEvidence,
}

/// The files that parsed, and the errors of those that did not.
struct Parsed {
    com: Option<Com>,
    dg1: Option<Dg1>,
    dg11: Option<Dg11>,
    dg12: Option<Dg12>,
    dg14: Option<Dg14>,
    dg15: Option<Dg15>,
    sod: Option<Sod>,
    errors: Vec<LdsError>,
}

fn parse_each(files: &LdsFiles) -> Parsed {
    let mut errors = Vec::new();
    fn one<T>(
        files: &LdsFiles,
        ef: EfId,
        f: fn(&[u8]) -> Result<T, LdsError>,
        errors: &mut Vec<LdsError>,
    ) -> Option<T> {
        match f(files.get(&ef)?) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }
    for ef in [EfId::Com, EfId::Dg1, EfId::Sod] {
        if !files.contains_key(&ef) {
            errors.push(LdsError::Absent { file: ef });
        }
    }
    let com = one(files, EfId::Com, Com::parse, &mut errors);
    let dg1 = one(files, EfId::Dg1, Dg1::parse, &mut errors);
    one(files, EfId::Dg2, Dg2::parse, &mut errors);
    one(files, EfId::Dg7, Dg7::parse, &mut errors);
    let dg11 = one(files, EfId::Dg11, Dg11::parse, &mut errors);
    let dg12 = one(files, EfId::Dg12, Dg12::parse, &mut errors);
    let dg14 = one(files, EfId::Dg14, Dg14::parse, &mut errors);
    let dg15 = one(files, EfId::Dg15, Dg15::parse, &mut errors);
    let sod = one(files, EfId::Sod, Sod::parse, &mut errors);
    Parsed {
        com,
        dg1,
        dg11,
        dg12,
        dg14,
        dg15,
        sod,
        errors,
    }
}

fn skipped(why: &str) -> Outcome {
    Outcome::Skipped(why.to_string())
}

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

/// Runs every check of ECARD.md section 7 on `files`.
pub fn verify(files: &LdsFiles, opts: &VerifyOptions<'_>) -> Report {
    let p = parse_each(files);
    let present: BTreeSet<EfId> = files
        .keys()
        .copied()
        .filter(|ef| ef.dg_number().is_some())
        .collect();
    let mut checks = Vec::new();
    let mut push = |id: CheckId, outcome: Outcome| {
        checks.push(Check {
            id,
            name: id.name(),
            outcome,
        })
    };

    push(
        CheckId::FilesParse,
        if p.errors.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(
                p.errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        },
    );
    push(
        CheckId::ComMatchesFiles,
        check_com(p.com.as_ref(), &present),
    );
    let (hashes, signed) = check_hashes(files, p.sod.as_ref(), &present);
    push(CheckId::DataGroupHashes, hashes);
    push(CheckId::DataGroupsSigned, signed);
    push(CheckId::SodSignature, check_sod_signature(p.sod.as_ref()));
    let ds = p.sod.as_ref().and_then(|s| s.ds_certificate.as_ref());
    push(CheckId::DsChain, check_chain(ds, opts.trust));
    push(
        CheckId::DsValidity,
        check_ds_validity(p.sod.as_ref(), ds, opts.at),
    );
    let td1 = p.dg1.as_ref().map(Dg1::td1);
    push(
        CheckId::MrzCheckDigits,
        match &td1 {
            None => skipped("DG1 did not parse"),
            Some(Ok(_)) => Outcome::Pass,
            Some(Err(e)) => Outcome::Fail(format!("DG1: {e}")),
        },
    );
    let td1 = td1.and_then(Result::ok);
    push(
        CheckId::Dg1Dg11Agree,
        holder::check_dg1_dg11(
            td1.as_ref(),
            p.dg11.as_ref(),
            files.contains_key(&EfId::Dg11),
        ),
    );
    push(
        CheckId::NotExpired,
        match &td1 {
            None => skipped("no MRZ with valid check digits"),
            Some(t) => match holder::expiry(t) {
                None => Outcome::Fail("DG1: date of expiry is not a calendar date".into()),
                Some(exp) if opts.at > exp => {
                    Outcome::Fail(format!("card expired on {exp}, check date {}", opts.at))
                }
                Some(_) => Outcome::Pass,
            },
        },
    );
    push(
        CheckId::NotRevoked,
        match &td1 {
            None => skipped("no MRZ with valid check digits"),
            Some(t) if opts.revoked.contains(&t.document_number) => {
                Outcome::Fail("the document number is on the revocation list".into())
            }
            Some(_) => Outcome::Pass,
        },
    );
    push(
        CheckId::ActiveAuthenticationInfo,
        check_aa_info(
            files.contains_key(&EfId::Dg15),
            files.contains_key(&EfId::Dg14),
            p.dg14.as_ref(),
            opts.strict,
        ),
    );
    push(
        CheckId::ActiveAuthentication,
        match (files.contains_key(&EfId::Dg15), &p.dg15, &opts.active_auth) {
            (false, _, _) => skipped("no DG15: the chip holds no Active Authentication key"),
            (true, None, _) => skipped("DG15 did not parse"),
            (true, Some(_), AaEvidence::NotPerformed) => {
                skipped("not performed: the files were checked without the chip")
            }
            (true, Some(_), AaEvidence::NoAnswer) => Outcome::Fail(
                "the chip did not answer INTERNAL AUTHENTICATE: cloned or fake chip".into(),
            ),
            (true, Some(dg15), AaEvidence::Performed(o)) => {
                match verify_active_authentication(dg15, &o.challenge, &o.response) {
                    Ok(()) => Outcome::Pass,
                    Err(e) => Outcome::Fail(e.to_string()),
                }
            }
        },
    );
    let holder = td1
        .as_ref()
        .map(|t| HolderSummary::new(t, p.dg11.as_ref(), p.dg12.as_ref(), opts.at));
    Report { checks, holder }
}

fn check_com(com: Option<&Com>, present: &BTreeSet<EfId>) -> Outcome {
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

fn check_hashes(
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

fn check_sod_signature(sod: Option<&Sod>) -> Outcome {
    let Some(sod) = sod else {
        return skipped("EF.SOD did not parse");
    };
    let Some(ds) = &sod.ds_certificate else {
        return Outcome::Fail("EF.SOD carries no Document Signer certificate".into());
    };
    let si = sod.signer_info();
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

fn check_chain(ds: Option<&Certificate>, trust: &[Certificate]) -> Outcome {
    let Some(ds) = ds else {
        return skipped("no DS certificate");
    };
    let issuer = &ds.tbs_certificate.issuer;
    let named: Vec<&Certificate> = trust
        .iter()
        .filter(|c| &c.tbs_certificate.subject == issuer)
        .collect();
    if named.is_empty() {
        return Outcome::Fail(format!(
            "no trusted CSCA is named {issuer} ({} trusted)",
            trust.len()
        ));
    }
    let mut reasons = Vec::new();
    for csca in &named {
        match pki::public_key_from_spki(&csca.tbs_certificate.subject_public_key_info) {
            Err(e) => reasons.push(format!("CSCA key: {e}")),
            Ok(key) => match pki::verify_signed_by(ds, &key) {
                Ok(()) => return Outcome::Pass,
                Err(e) => reasons.push(e.to_string()),
            },
        }
    }
    Outcome::Fail(format!(
        "DS certificate is not signed by any of the {} trusted CSCA named {issuer}: {}",
        named.len(),
        reasons.join("; ")
    ))
}

fn check_ds_validity(sod: Option<&Sod>, ds: Option<&Certificate>, at: time::Date) -> Outcome {
    let (Some(sod), Some(ds)) = (sod, ds) else {
        return skipped("no DS certificate");
    };
    let v = &ds.tbs_certificate.validity;
    let (nb, na) = (pki::time_of(&v.not_before), pki::time_of(&v.not_after));
    let Some(st) = sod.signing_time() else {
        return Outcome::Fail(
            "EF.SOD has no signingTime: validity at signing cannot be shown".into(),
        );
    };
    if st < nb || st > na {
        return Outcome::Fail(format!(
            "EF.SOD signed at {} outside the DS certificate validity {} .. {}",
            st.date(),
            nb.date(),
            na.date()
        ));
    }
    if let Some((pnb, pna)) = pki::private_key_usage_period(ds)
        && (pnb.is_some_and(|b| st < b) || pna.is_some_and(|a| st > a))
    {
        return Outcome::Fail(format!(
            "EF.SOD signed at {} outside the DS private key usage period",
            st.date()
        ));
    }
    if at > na.date() {
        return Outcome::Fail(format!(
            "DS certificate expired on {}, check date {at}",
            na.date()
        ));
    }
    if at < nb.date() {
        return Outcome::Fail(format!(
            "DS certificate not valid before {}, check date {at}",
            nb.date()
        ));
    }
    Outcome::Pass
}

fn check_aa_info(has15: bool, has14: bool, dg14: Option<&Dg14>, strict: bool) -> Outcome {
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
