//! `ecard scan IMAGE --trust CSCA.pem --ds DS.pem [--status FILE] [--json] [--at DATE]`: the
//! checkpoint verdict from a photo or scan of a card alone: find the QR seal, verify it (kid → DS
//! certificate, DS → trusted CSCA, ES256 signature), the expiry and the status list. Exit 0 green,
//! 1 red, 2 amber (revocation not checked: no status list given, or a stale one). A photo without
//! a QR, another system's QR or a bad seal is a red verdict naming why, not an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::verify::Outcome;
use ecard_seal::{SealReport, Verdict};

use super::enrollment::parse_date;
use super::pki::load_trust;
use super::verify::{load_ds, load_status};

/// Arguments of `ecard scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A photo or scan of the card's front, PNG or JPEG.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// Trusted CSCA certificates (PEM or DER; a PEM file may hold several).
    #[arg(long, value_name = "CSCA.pem", required = true)]
    trust: Vec<PathBuf>,
    /// Known Document Signer certificates: the seal names its signer by kid only.
    #[arg(long, value_name = "DS.pem", required = true)]
    ds: Vec<PathBuf>,
    /// The signed card status list (`status.cose`). Without it revocation is not checked and the
    /// verdict is amber at best.
    #[arg(long, value_name = "FILE")]
    status: Option<PathBuf>,
    /// Check as of this date instead of today in Moscow (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    at: Option<time::Date>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

/// The seal's QR text in a card image: `Ok(text)` (an `EC1:` text when there is one), or
/// `Err(why)` when the image holds no readable QR. An unreadable file is an error.
pub fn seal_text_from_image(path: &Path) -> anyhow::Result<Result<String, String>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    Ok(seal_text_from_bytes(&bytes))
}

/// As [`seal_text_from_image`], from the image's bytes.
pub fn seal_text_from_bytes(bytes: &[u8]) -> Result<String, String> {
    match ecard_seal::decode_qr_image(bytes) {
        Ok(texts) => {
            let seal = texts
                .iter()
                .find(|t| t.starts_with(ecard_seal::SEAL_PREFIX))
                .or_else(|| texts.first());
            seal.cloned().ok_or_else(|| "no QR code found".to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `ecard scan`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let trust = load_trust(&args.trust)?;
    let ds = load_ds(&args.ds)?;
    let (at, now) = super::verify::check_time(args.at);
    let status = match &args.status {
        Some(p) => Some(load_status(p, &ds, &trust, at)?),
        None => None,
    };
    let text = seal_text_from_image(&args.image)?;
    let report = ecard_seal::check_seal(
        text.as_deref().map_err(Clone::clone),
        ecard_seal::Trust {
            csca: &trust,
            ds: &ds,
        },
        at,
        now,
        status.as_ref(),
    );
    print_seal_report(&report, args.json)?;
    Ok(ExitCode::from(report.verdict.exit_code()))
}

/// Prints a line per check, the holder as the seal states it, and the verdict; or JSON.
pub fn print_seal_report(r: &SealReport, json: bool) -> anyhow::Result<()> {
    if json {
        return crate::output::print_json(r);
    }
    for c in &r.checks {
        match &c.outcome {
            Outcome::Pass => crate::out!("PASS  {}", c.name),
            Outcome::Warn(why) => crate::out!("WARN  {}: {why}", c.name),
            Outcome::Fail(why) => crate::out!("FAIL  {}: {why}", c.name),
            Outcome::Skipped(why) => crate::out!("SKIP  {}: {why}", c.name),
        }
    }
    if let Some(h) = &r.holder {
        crate::out!(
            "card  {} (RUS), holder {} {}{}, born {}, {} {}, issued {}, expires {}",
            h.dn,
            h.sn,
            h.gn,
            h.pn.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
            h.dob,
            h.sex,
            h.nat,
            h.doi,
            h.doe
        );
    }
    let why = r
        .first_problem()
        .map(|c| match &c.outcome {
            Outcome::Fail(w) | Outcome::Warn(w) => format!("{}: {w}", c.name),
            _ => c.name.to_string(),
        })
        .unwrap_or_default();
    match r.verdict {
        Verdict::Green => crate::out!("GREEN: valid"),
        Verdict::Amber => crate::out!("AMBER: {why}"),
        Verdict::Red => crate::out!("RED: {why}"),
    }
    Ok(())
}
