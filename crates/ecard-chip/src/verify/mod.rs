//! The checkpoint's verdict on a card's files (ECARD.md section 7): every check run, each with an
//! outcome and a reason, in a [`Report`] that names the first failure.
//!
//! Pure: files, trust anchors, the check date, the revocation set and the Active Authentication
//! evidence are all arguments. It reads no card (the caller did, and ran INTERNAL AUTHENTICATE) and no
//! clock. Reasons name files, elements and certificates, never holder values.

mod aa;
mod checks;
mod holder;
mod signer;

pub use aa::{AaError, verify_active_authentication};
pub use holder::HolderSummary;
pub use signer::{SignedAt, check_document_signer, check_ds_chain, check_ds_terms};

use std::collections::BTreeSet;

use x509_cert::Certificate;

use crate::lds::{Com, Dg1, Dg2, Dg7, Dg11, Dg12, Dg14, Dg15, EfId, LdsError, LdsFiles, Sod};
use checks::{
    check_aa_info, check_chain, check_com, check_ds_validity, check_hashes, check_sod_signature,
};

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
    /// The Document Signer certificate was valid (and in its private key usage period) at signing
    /// time, is not expired at the check date, and may sign this document type.
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
            CheckId::DsValidity => "Document Signer valid for this signature",
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
        check_ds_validity(
            p.sod.as_ref(),
            ds,
            opts.at,
            p.dg1
                .as_ref()
                .and_then(|d| d.mrz.get(0..2))
                .map(|c| c.trim_end_matches('<')),
        ),
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

/// What the card says about its holder, as far as DG1 (and DG11, DG12 where present) parse; `at`
/// settles the century of a two-digit birth year when DG11 has no full date.
pub fn holder_summary(files: &LdsFiles, at: time::Date) -> Option<HolderSummary> {
    let dg1 = Dg1::parse(files.get(&EfId::Dg1)?).ok()?;
    let td1 = dg1.td1().ok()?;
    let dg11 = files.get(&EfId::Dg11).and_then(|b| Dg11::parse(b).ok());
    let dg12 = files.get(&EfId::Dg12).and_then(|b| Dg12::parse(b).ok());
    Some(HolderSummary::new(&td1, dg11.as_ref(), dg12.as_ref(), at))
}
