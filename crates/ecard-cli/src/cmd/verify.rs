//! `ecard verify DIR --trust CSCA.pem [--status status.cose]`: the checkpoint's checks (ECARD.md
//! section 7) on a folder of chip files, offline: a line per check, exit 0 only when the card is
//! valid, 1 when it is not (a stale status list is a warning here and a missing one is skipped;
//! `ecard check` makes both amber).
//!
//! Also home of what every verifying command shares: trust, Document Signers, the status list and
//! the printed verdict.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::verify::{AaEvidence, Outcome, Report, VerifyOptions, verify};
use ecard_seal::{SealCheck, SealCheckId, StatusError, StatusList, Verdict};
use x509_cert::Certificate;

use super::enrollment::parse_date;
use super::pki::load_trust;
use super::read::read_dump;
use crate::output::WithHelp;

/// What every verifying command takes besides the card.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// Trusted CSCA certificates (PEM or DER; a PEM file may hold several).
    #[arg(long, value_name = "CSCA.pem", required = true)]
    pub trust: Vec<PathBuf>,
    /// Check as of this date instead of today in Moscow (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub at: Option<time::Date>,
    /// Revoked document numbers: a text file, one number per line.
    #[arg(long, value_name = "FILE")]
    pub revoked: Option<PathBuf>,
    /// The signed card status list (`status.cose`, as the station publishes it). Without it
    /// revocation is not checked: `check` and the checkpoint answer amber at best.
    #[arg(long, value_name = "FILE")]
    pub status: Option<PathBuf>,
    /// Known Document Signer certificates (signers of QR seals and status lists; the card's own
    /// DS, from its EF.SOD, is known too).
    #[arg(long, value_name = "DS.pem")]
    pub ds: Vec<PathBuf>,
    /// Treat warnings as failures (e.g. DG15 without DG14).
    #[arg(long)]
    pub strict: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ecard verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder of chip files (EF.COM.bin, DG1.bin ... SOD.bin), as `ecard read --out` writes.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
}

/// Runs `ecard verify`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let files = read_dump(&args.dir)?;
    let mut outcome = check_card(&files, &args.trust, AaEvidence::NotPerformed, None, None)?;
    if args.trust.status.is_none() {
        // The files' own checks (section 7), offline: without a list, revocation is simply not
        // part of this check. `check`, `scan` and the checkpoint make it amber instead.
        for c in &mut outcome.checkpoint {
            if c.id == SealCheckId::StatusList {
                c.outcome = Outcome::Skipped("no status list given".into());
            }
        }
        if outcome.verdict == Verdict::Amber
            && !outcome
                .checkpoint
                .iter()
                .any(|c| matches!(c.outcome, Outcome::Warn(_)))
        {
            outcome.verdict = Verdict::Green;
        }
    }
    print_outcome(&outcome, args.trust.json, false)?;
    Ok(if outcome.verdict == Verdict::Red {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The check date and time: `--at` (noon in Moscow that day) or now.
pub fn check_time(at: Option<time::Date>) -> (time::Date, time::OffsetDateTime) {
    match at {
        Some(at) => (at, at.with_time(time::macros::time!(9:00)).assume_utc()),
        None => (
            super::enrollment::today_in_moscow(),
            time::OffsetDateTime::now_utc(),
        ),
    }
}

/// Loads every `--ds` certificate (PEM bundles allowed).
pub fn load_ds(paths: &[PathBuf]) -> anyhow::Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| {
            format!("cannot read Document Signer certificate {}", path.display())
        })?;
        out.extend(
            ecard_chip::pki::read_certificates(&bytes)
                .with_context(|| format!("{} holds no X.509 certificate", path.display()))?,
        );
    }
    Ok(out)
}

/// Reads and verifies the status list at `path`: a list that does not verify is returned as its
/// error (the verdict turns red and names it); a file that cannot be read stops the command.
pub fn load_status(
    path: &Path,
    ds: &[Certificate],
    trust: &[Certificate],
    at: time::Date,
) -> anyhow::Result<Result<StatusList, StatusError>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read status list {}", path.display()))
        .help("give the status.cose the station publishes (GET /api/v1/status-list), or `ecard status sign` makes one")?;
    Ok(StatusList::verify(&bytes, ds, trust, at))
}

/// A card's checks: the chip report, the status and seal checks, and the verdict.
#[derive(serde::Serialize)]
pub struct CardOutcome {
    /// Green, amber or red.
    pub verdict: Verdict,
    /// The chip's checks.
    #[serde(flatten)]
    pub report: Report,
    /// Status list and seal checks.
    pub checkpoint: Vec<SealCheck>,
}

/// Runs the chip checks on `files`, the status list checks when `--status` is given, and the seal
/// checks when a seal's QR text (or why none was read) is given.
pub fn check_card(
    files: &ecard_chip::lds::LdsFiles,
    args: &TrustArgs,
    active_auth: AaEvidence,
    seal: Option<Result<&str, String>>,
    access: Option<ecard_chip::access::Access>,
) -> anyhow::Result<CardOutcome> {
    let trust = load_trust(&args.trust)?;
    let mut ds = load_ds(&args.ds)?;
    if let Some(card_ds) = files
        .get(&ecard_chip::lds::EfId::Sod)
        .and_then(|b| ecard_chip::lds::Sod::parse(b).ok())
        .and_then(|s| s.ds_certificate)
    {
        ds.push(card_ds);
    }
    let (at, now) = check_time(args.at);
    let status = match &args.status {
        Some(p) => Some(load_status(p, &ds, &trust, at)?),
        None => None,
    };
    // The status list is judged by its own checks below (with the reason and date of the
    // revocation); the chip's "card not revoked" covers the plain --revoked file.
    let revoked = match &args.revoked {
        Some(p) => load_revoked(p)?,
        None => BTreeSet::new(),
    };
    let report = verify(
        files,
        &VerifyOptions {
            trust: &trust,
            at,
            strict: args.strict,
            revoked: &revoked,
            active_auth,
        },
    );
    let number = report.holder.as_ref().map(|h| h.document_number.clone());
    let mut checkpoint: Vec<SealCheck> =
        ecard_seal::check::status_checks(number.as_deref(), status.as_ref(), now);
    if let Some(text) = seal {
        let seal_report = ecard_seal::check_seal(
            text,
            ecard_seal::Trust {
                csca: &trust,
                ds: &ds,
            },
            at,
            now,
            None,
        );
        // The seal's own status checks were skipped (no list passed): the card's cover them.
        checkpoint.extend(seal_report.checks.into_iter().filter(|c| {
            !matches!(
                c.id,
                SealCheckId::StatusList | SealCheckId::StatusFresh | SealCheckId::NotOnStatusList
            )
        }));
        checkpoint.push(SealCheck::new(
            SealCheckId::SealMatchesChip,
            match &seal_report.holder {
                Some(p) => ecard_seal::cross_check(p, files),
                None => Outcome::Skipped("the seal did not verify".into()),
            },
        ));
    }
    if let Some(access) = access {
        checkpoint.push(SealCheck::new(
            SealCheckId::AccessControl,
            match access {
                ecard_chip::access::Access::None => Outcome::Warn(
                    "no access control: the chip can be read by anyone (a card OS without PACE)"
                        .into(),
                ),
                _ => Outcome::Pass,
            },
        ));
    }
    let verdict = if report.is_valid() {
        Verdict::of(&checkpoint)
    } else {
        Verdict::Red
    };
    Ok(CardOutcome {
        verdict,
        report,
        checkpoint,
    })
}

/// Prints a line per check and the verdict (`verdicts`: GREEN/AMBER/RED, else VALID/NOT VALID),
/// or everything as JSON.
pub fn print_outcome(o: &CardOutcome, json: bool, verdicts: bool) -> anyhow::Result<()> {
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            valid: bool,
            #[serde(flatten)]
            outcome: &'a CardOutcome,
        }
        return crate::output::print_json(&Out {
            valid: o.verdict != Verdict::Red,
            outcome: o,
        });
    }
    for c in &o.report.checks {
        print_line(c.name, &c.outcome);
    }
    for c in &o.checkpoint {
        print_line(c.name, &c.outcome);
    }
    if let Some(h) = &o.report.holder {
        crate::out!(
            "card  {} {} ({}), holder {} {}",
            h.document_code,
            h.document_number,
            h.issuing_state,
            h.surname,
            h.given_names
        );
    }
    let problem = o
        .report
        .first_failure()
        .map(|c| (c.name, &c.outcome))
        .or_else(|| {
            o.checkpoint
                .iter()
                .find(|c| matches!(c.outcome, Outcome::Fail(_)))
                .or_else(|| {
                    o.checkpoint
                        .iter()
                        .find(|c| matches!(c.outcome, Outcome::Warn(_)))
                })
                .map(|c| (c.name, &c.outcome))
        });
    let why = |p: Option<(&str, &Outcome)>| match p {
        Some((name, Outcome::Fail(why) | Outcome::Warn(why))) => format!("{name}: {why}"),
        Some((name, _)) => name.to_string(),
        None => String::new(),
    };
    match (o.verdict, verdicts) {
        (Verdict::Green, true) => crate::out!("GREEN: valid"),
        (Verdict::Amber, true) => crate::out!("AMBER: {}", why(problem)),
        (Verdict::Red, true) => crate::out!("RED: {}", why(problem)),
        (Verdict::Green, false) => crate::out!("VALID"),
        (Verdict::Amber, false) => crate::out!("VALID (warning: {})", why(problem)),
        (Verdict::Red, false) => crate::out!("NOT VALID: {}", why(problem)),
    }
    Ok(())
}

fn print_line(name: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Pass => crate::out!("PASS  {name}"),
        Outcome::Warn(why) => crate::out!("WARN  {name}: {why}"),
        Outcome::Fail(why) => crate::out!("FAIL  {name}: {why}"),
        Outcome::Skipped(why) => crate::out!("SKIP  {name}: {why}"),
    }
}

/// Runs the chip checks on `files` with the trust, date and revocations of `args` (no status list,
/// no seal: the demo's own check right after issuing).
pub fn check_files(
    files: &ecard_chip::lds::LdsFiles,
    args: &TrustArgs,
    active_auth: AaEvidence,
) -> anyhow::Result<Report> {
    let trust = load_trust(&args.trust)?;
    let revoked = match &args.revoked {
        Some(p) => load_revoked(p)?,
        None => BTreeSet::new(),
    };
    let at = args.at.unwrap_or_else(super::enrollment::today_in_moscow);
    Ok(verify(
        files,
        &VerifyOptions {
            trust: &trust,
            at,
            strict: args.strict,
            revoked: &revoked,
            active_auth,
        },
    ))
}

fn load_revoked(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read revocation list {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().replace(' ', ""))
        .filter(|l| !l.is_empty())
        .collect())
}
