//! `ecard verify DIR --trust CSCA.pem`: the checkpoint's checks (ECARD.md section 7) on a folder of
//! chip files, offline: a line per check, exit 0 only when the card is valid, 1 when it is not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::verify::{AaEvidence, Outcome, Report, VerifyOptions, verify};

use super::enrollment::parse_date;
use super::pki::load_trust;
use super::read::read_dump;

/// What every verifying command takes besides the card.
#[derive(Debug, clap::Args)]
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
    let report = check_files(&files, &args.trust, AaEvidence::NotPerformed)?;
    print_report(&report, args.trust.json)?;
    Ok(exit_code(&report))
}

/// Runs the checks on `files` with the trust, date and revocations of `args`.
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

/// Prints a line per check and the verdict, or the report as JSON.
pub fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            valid: bool,
            #[serde(flatten)]
            report: &'a Report,
        }
        return crate::output::print_json(&Out {
            valid: report.is_valid(),
            report,
        });
    }
    for c in &report.checks {
        match &c.outcome {
            Outcome::Pass => println!("PASS  {}", c.name),
            Outcome::Warn(why) => println!("WARN  {}: {why}", c.name),
            Outcome::Fail(why) => println!("FAIL  {}: {why}", c.name),
            Outcome::Skipped(why) => println!("SKIP  {}: {why}", c.name),
        }
    }
    if let Some(h) = &report.holder {
        println!(
            "card  {} {} ({}), holder {} {}",
            h.document_code, h.document_number, h.issuing_state, h.surname, h.given_names
        );
    }
    match report.first_failure() {
        None => println!("VALID"),
        Some(c) => {
            let why = match &c.outcome {
                Outcome::Fail(why) => why.as_str(),
                _ => "",
            };
            println!("NOT VALID: {}: {why}", c.name);
        }
    }
    Ok(())
}

/// 0 valid, 1 not valid.
pub fn exit_code(report: &Report) -> ExitCode {
    if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
