//! The checkpoint's verdict on a seal (ECARD.md section 8): green only if the seal verifies, the
//! card is not expired and its number is not on a fresh status list; red naming the first failing
//! check; amber when the only problem is that revocation could not be checked: the status list is
//! stale, or none was given or fetched ("revocation not checked"). Never green without a fresh,
//! verified status list.
//!
//! Pure: the QR text, trust anchors, Document Signer certificates, dates and the status list are
//! arguments. Reasons name checks and fields, never holder values.

use ecard_chip::lds::{Dg1, Dg12, EfId, LdsFiles};
use ecard_chip::verify::Outcome;
use x509_cert::Certificate;

use crate::seal::{Seal, SealPayload};
use crate::status::{StatusError, StatusList};

/// Green, amber or red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Valid.
    Green,
    /// Valid as far as checked, but revocation was not: the status list is stale, or none was
    /// given or fetched. The officer decides.
    Amber,
    /// Not valid: the first failing check says why.
    Red,
}

impl Verdict {
    /// The verdict of a list of checks: red on any failure, amber when the status list is missing
    /// or stale and nothing failed, green only when a fresh verified list was used.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a SealCheck>) -> Verdict {
        let mut v = Verdict::Green;
        let mut list_used = false;
        for c in checks {
            match (&c.outcome, c.id) {
                (Outcome::Fail(_), _) => return Verdict::Red,
                (
                    Outcome::Warn(_),
                    SealCheckId::StatusList | SealCheckId::StatusFresh | SealCheckId::AccessControl,
                ) => v = Verdict::Amber,
                (Outcome::Pass, SealCheckId::StatusFresh) => list_used = true,
                _ => {}
            }
        }
        if v == Verdict::Green && !list_used {
            // No status check ran at all: revocation was not checked.
            return Verdict::Amber;
        }
        v
    }

    /// The process exit code: 0 green, 1 red, 2 amber.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Green => 0,
            Verdict::Red => 1,
            Verdict::Amber => 2,
        }
    }
}

/// The seal and status checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SealCheckId {
    /// A QR code was found and holds an e-card seal of the right form.
    SealDecodes,
    /// The seal's kid names a known Document Signer, which chains to a trusted CSCA, and the
    /// signature verifies.
    SealSignature,
    /// The card is not expired (seal's date of expiry).
    SealNotExpired,
    /// A status list was given and verifies (a warning, "revocation not checked", when none was).
    StatusList,
    /// The status list is not past its next update.
    StatusFresh,
    /// The number is not on the status list.
    NotOnStatusList,
    /// The seal and the chip agree (fields and DG2 hash).
    SealMatchesChip,
    /// The chip was opened with PACE (ECARD.md section 10); a chip without access control is a
    /// warning: amber at most, never the same as a protected card.
    AccessControl,
}

impl SealCheckId {
    /// The check in words.
    pub fn name(self) -> &'static str {
        match self {
            SealCheckId::SealDecodes => "QR seal found and readable",
            SealCheckId::SealSignature => "QR seal signature",
            SealCheckId::SealNotExpired => "card not expired (seal)",
            SealCheckId::StatusList => "status list",
            SealCheckId::StatusFresh => "status list up to date",
            SealCheckId::NotOnStatusList => "card not on the status list",
            SealCheckId::SealMatchesChip => "QR seal and chip agree",
            SealCheckId::AccessControl => "chip access control (PACE)",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SealCheck {
    /// Which check.
    pub id: SealCheckId,
    /// In words.
    pub name: &'static str,
    /// The outcome (`"outcome": "fail", "reason": "..."` in JSON).
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl SealCheck {
    /// A check with its outcome.
    pub fn new(id: SealCheckId, outcome: Outcome) -> SealCheck {
        SealCheck {
            id,
            name: id.name(),
            outcome,
        }
    }
}

/// What the checkpoint trusts.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// Trusted CSCA certificates.
    pub csca: &'a [Certificate],
    /// Known Document Signer certificates (the seal carries only a kid).
    pub ds: &'a [Certificate],
}

/// The verdict on a seal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SealReport {
    /// Green, amber or red.
    pub verdict: Verdict,
    /// Every check run.
    pub checks: Vec<SealCheck>,
    /// What the seal says, when it decoded and its signature verified.
    pub holder: Option<SealPayload>,
}

impl SealReport {
    /// The first failing check (or the missing or stale list, for amber).
    pub fn first_problem(&self) -> Option<&SealCheck> {
        self.checks
            .iter()
            .find(|c| matches!(c.outcome, Outcome::Fail(_)))
            .or_else(|| {
                self.checks
                    .iter()
                    .find(|c| matches!(c.outcome, Outcome::Warn(_)))
            })
    }
}

/// Why revocation was not checked when no status list is at hand.
pub const NO_STATUS_LIST: &str = "revocation not checked: no status list was given or fetched";

/// The status checks for `document_number`: the list verifies, is fresh at `now`, and does not
/// name the number. `None` (no list given or fetched) is a warning, "revocation not checked",
/// which makes the verdict amber at best.
pub fn status_checks(
    document_number: Option<&str>,
    status: Option<&Result<StatusList, StatusError>>,
    now: time::OffsetDateTime,
) -> Vec<SealCheck> {
    let Some(status) = status else {
        return vec![SealCheck::new(
            SealCheckId::StatusList,
            Outcome::Warn(NO_STATUS_LIST.into()),
        )];
    };
    let list = match status {
        Ok(l) => l,
        Err(e) => {
            return vec![SealCheck::new(
                SealCheckId::StatusList,
                Outcome::Fail(e.to_string()),
            )];
        }
    };
    let mut out = vec![SealCheck::new(SealCheckId::StatusList, Outcome::Pass)];
    out.push(SealCheck::new(
        SealCheckId::StatusFresh,
        if list.is_stale(now) {
            Outcome::Warn(format!(
                "the status list is stale: its next update was due {}; refresh it from the station",
                list.payload
                    .nxt
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ))
        } else {
            Outcome::Pass
        },
    ));
    out.push(SealCheck::new(
        SealCheckId::NotOnStatusList,
        match document_number {
            None => Outcome::Skipped("no document number read".into()),
            Some(dn) => match list.find(dn) {
                Some(r) => Outcome::Fail(format!(
                    "the card is revoked on the status list: {} since {}",
                    r.reason, r.since
                )),
                None => Outcome::Pass,
            },
        },
    ));
    out
}

/// Checks the seal in QR `text` (`None`: no QR found, with the reason) against `trust`, on date
/// `at` (expiry, DS validity) and at time `now` (status list freshness).
pub fn check_seal(
    text: Result<&str, String>,
    trust: Trust<'_>,
    at: time::Date,
    now: time::OffsetDateTime,
    status: Option<&Result<StatusList, StatusError>>,
) -> SealReport {
    let mut checks = Vec::new();
    let seal = match text
        .map_err(|e| e.to_string())
        .and_then(|t| Seal::decode(t).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            checks.push(SealCheck::new(SealCheckId::SealDecodes, Outcome::Fail(e)));
            return SealReport {
                verdict: Verdict::Red,
                checks,
                holder: None,
            };
        }
    };
    checks.push(SealCheck::new(SealCheckId::SealDecodes, Outcome::Pass));
    if let Err(e) = seal.verify(trust.ds, trust.csca, at) {
        checks.push(SealCheck::new(
            SealCheckId::SealSignature,
            Outcome::Fail(e.to_string()),
        ));
        return SealReport {
            verdict: Verdict::Red,
            checks,
            holder: None,
        };
    }
    checks.push(SealCheck::new(SealCheckId::SealSignature, Outcome::Pass));
    let p = seal.payload;
    checks.push(SealCheck::new(
        SealCheckId::SealNotExpired,
        if at > p.doe {
            Outcome::Fail(format!("card expired on {}, check date {at}", p.doe))
        } else {
            Outcome::Pass
        },
    ));
    checks.extend(status_checks(Some(&p.dn), status, now));
    SealReport {
        verdict: Verdict::of(&checks),
        checks,
        holder: Some(p),
    }
}

/// Whether the seal and the chip's files agree: document number, names (as the MRZ would carry
/// them), date of birth, sex, nationality, dates of issue and expiry, and the DG2 hash.
pub fn cross_check(seal: &SealPayload, files: &LdsFiles) -> Outcome {
    use sha2::Digest;
    let Some(dg2) = files.get(&EfId::Dg2) else {
        return Outcome::Fail("the chip has no DG2, the seal vouches for one".into());
    };
    let dg2_hash: [u8; 32] = sha2::Sha256::digest(dg2).into();
    let Some(td1) = files
        .get(&EfId::Dg1)
        .and_then(|b| Dg1::parse(b).ok())
        .and_then(|d| d.td1().ok())
    else {
        return Outcome::Fail("the chip's DG1 does not parse; the seal cannot be compared".into());
    };
    let mut differs = Vec::new();
    if dg2_hash != seal.dg2 {
        differs.push("photo (DG2 SHA-256)");
    }
    if td1.document_number != seal.dn {
        differs.push("document number");
    }
    let yymmdd = |d: time::Date| {
        format!(
            "{:02}{:02}{:02}",
            d.year() % 100,
            u8::from(d.month()),
            d.day()
        )
    };
    if td1.date_of_birth != yymmdd(seal.dob) {
        differs.push("date of birth");
    }
    if td1.date_of_expiry != yymmdd(seal.doe) {
        differs.push("date of expiry");
    }
    if td1.sex.to_string() != seal.sex {
        differs.push("sex");
    }
    if td1.nationality != seal.nat {
        differs.push("nationality");
    }
    let names = seal_holder(seal).map(|h| {
        ecard_model::mrz::name_field(&h.mrz_primary(), &h.mrz_secondary(), td1.lines[2].len())
    });
    if names.as_deref() != Some(td1.lines[2].as_str()) {
        differs.push("name");
    }
    if let Some(doi) = files
        .get(&EfId::Dg12)
        .and_then(|b| Dg12::parse(b).ok())
        .and_then(|d| d.date_of_issue_date().ok().flatten())
        && doi != seal.doi
    {
        differs.push("date of issue");
    }
    if differs.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(format!(
            "the seal and the chip differ in: {}",
            differs.join(", ")
        ))
    }
}

fn seal_holder(seal: &SealPayload) -> Option<ecard_model::Holder> {
    let sex = match seal.sex.as_str() {
        "M" => ecard_model::Sex::M,
        "F" => ecard_model::Sex::F,
        _ => return None,
    };
    ecard_model::Holder::new(ecard_model::holder::HolderFields {
        surname: seal.sn.clone(),
        given_names: seal.gn.clone(),
        patronymic: seal.pn.clone(),
        name_cyrillic: None,
        date_of_birth: seal.dob,
        sex,
        nationality: seal.nat.clone(),
    })
    .ok()
}
