//! `ecard status sign --revoked FILE --pki DIR --out status.cose`: signs a card status list (ECARD.md
//! section 8) from a plain file of revoked numbers; `ecard status show FILE`: verifies and prints one.
//!
//! The station publishes the list from its own database (`GET /api/v1/status-list`); exporting it
//! from there belongs to the station. This command serves the demo, tests and offline checkpoints.
//!
//! Revocation file: TSV, one `NUMBER<TAB>REASON<TAB>SINCE` a line (`#` starts a comment; the number
//! may be written `77 1234567`), or JSON, an array of `{"document_number", "reason", "since"}`.
//! Reasons: replaced, lost, damaged, details_changed, voided.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_seal::status::StatusListPayload;
use ecard_seal::{Reason, Revocation, StatusList};
use time::format_description::well_known::Rfc3339;

use super::pki::{load_signer, load_trust};
use super::verify::{check_time, load_ds};
use crate::output::WithHelp;

/// `ecard status` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign a status list from a TSV or JSON file of revoked numbers.
    Sign(SignArgs),
    /// Verify a status list and print its entries.
    Show(ShowArgs),
    /// Export the station's status list (its revocations, signed by its Document Signer) to a file.
    Export(ExportArgs),
}

/// Arguments of `ecard status export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The file to write (COSE_Sign1).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The station's data folder (its store and, without a configuration, its demo PKI).
    #[arg(long, value_name = "DIR", default_value = "ecard-data")]
    data_dir: PathBuf,
    /// The station's configuration file (store and PKI), as `ecard station serve --config` takes.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Arguments of `ecard status sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Revoked numbers: `.tsv` (NUMBER, REASON, SINCE a line) or `.json` (array of objects).
    #[arg(long, value_name = "FILE.tsv|FILE.json")]
    revoked: PathBuf,
    /// The PKI folder with the Document Signer key and certificate (`ecard pki init`).
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,
    /// Where to write the signed list (COSE_Sign1 bytes).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Issued-at time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    iat: Option<String>,
    /// Hours until the next update is due; past it the list is stale (default 24).
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    valid_hours: u32,
}

/// Arguments of `ecard status show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The signed list.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Trusted CSCA certificates.
    #[arg(long, value_name = "CSCA.pem", required = true)]
    trust: Vec<PathBuf>,
    /// Known Document Signer certificates.
    #[arg(long, value_name = "DS.pem", required = true)]
    ds: Vec<PathBuf>,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `ecard status`.
pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Sign(a) => sign(a),
        Command::Show(a) => show(a),
        Command::Export(a) => export(a),
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    use ecard_station::config::StationConfig;
    let config = match &args.config {
        Some(file) => StationConfig::load(file, Some(&args.data_dir))
            .with_context(|| format!("cannot load the station configuration {}", file.display()))?,
        None => StationConfig::defaults(&args.data_dir),
    };
    if args.config.is_none() && !args.data_dir.is_dir() {
        return Err(anyhow::anyhow!(
            "{} is not a station's data folder",
            args.data_dir.display()
        ))
        .help("give the folder `ecard station serve --data-dir` uses, or --config");
    }
    let store =
        ecard_station::cli::open_store(&config.store).context("cannot open the station's store")?;
    let pki = match &config.pki {
        Some(p) => ecard_station::chip::Pki::load(&p.csca, &p.ds_cert, &p.ds_key),
        None => {
            // Never make a new demo PKI here: a list signed by a Document Signer no checkpoint
            // trusts would look valid to nobody.
            let dir = config.data_dir.join("pki");
            if !dir.join("ds.pem").exists() {
                return Err(anyhow::anyhow!("{} holds no station PKI", dir.display())).help(
                    "export from the data folder of a station that has run, or give --config",
                );
            }
            // A station's own SoftHSM2 token: run on with its SOFTHSM2_CONF (issue 16).
            ecard_station::chip::reexec_for_folder_token(&dir)
                .context("cannot open the station's token")?;
            ecard_station::chip::Pki::demo(&dir)
        }
    }
    .context("cannot load the station's Document Signer")?;
    let signed = ecard_station::status::signed_list(&store, &pki, time::OffsetDateTime::now_utc())?;
    std::fs::write(&args.out, &signed)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let entries = ecard_station::status::revocations(&store)?.len();
    crate::out!(
        "status list with {entries} revoked numbers written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let rev = load_revocations(&args.revoked)?;
    let signer = load_signer(&args.pki)?;
    let iat = match &args.iat {
        Some(t) => time::OffsetDateTime::parse(t, &Rfc3339)
            .with_context(|| format!("--iat {t:?} is not an RFC 3339 time"))
            .help("write it like 2026-11-25T06:00:00Z")?,
        None => time::OffsetDateTime::now_utc(),
    };
    let mut payload = StatusListPayload::new(iat, rev);
    payload.nxt = payload.iat + time::Duration::hours(i64::from(args.valid_hours));
    let n = payload.rev.len();
    write_signed(&args.out, &payload, &signer)?;
    crate::out!(
        "signed status list with {n} revoked numbers, next update due {}: {}",
        payload.nxt.format(&Rfc3339).unwrap_or_default(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs `payload` with `signer` and writes it to `out`.
pub fn write_signed(
    out: &Path,
    payload: &StatusListPayload,
    signer: &super::pki::DocumentSigner,
) -> anyhow::Result<()> {
    let bytes = StatusList::sign(payload, &signer.key, &signer.cert)?;
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let trust = load_trust(&args.trust)?;
    let ds = load_ds(&args.ds)?;
    let (at, now) = check_time(None);
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read status list {}", args.file.display()))?;
    let list = StatusList::verify(&bytes, &ds, &trust, at)
        .with_context(|| format!("status list {} does not verify", args.file.display()))?;
    let p = &list.payload;
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            iat: String,
            nxt: String,
            stale: bool,
            rev: &'a [Revocation],
        }
        crate::output::print_json(&Out {
            iat: p.iat.format(&Rfc3339)?,
            nxt: p.nxt.format(&Rfc3339)?,
            stale: list.is_stale(now),
            rev: &p.rev,
        })?;
    } else {
        crate::out!(
            "status list issued {}, next update due {}{}",
            p.iat.format(&Rfc3339)?,
            p.nxt.format(&Rfc3339)?,
            if list.is_stale(now) { " (STALE)" } else { "" }
        );
        for r in &p.rev {
            crate::out!("{}\t{}\t{}", r.document_number, r.reason, r.since);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a TSV or JSON file of revoked numbers; every bad line is reported at once.
pub fn load_revocations(path: &Path) -> anyhow::Result<Vec<Revocation>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read revoked numbers {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        let rev: Vec<Revocation> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array of revocations", path.display()))
            .help("each entry: {\"document_number\": \"771234567\", \"reason\": \"lost\", \"since\": \"2026-11-20\"}")?;
        for r in &rev {
            check_number(&r.document_number)
                .with_context(|| format!("{}: {:?}", path.display(), r.document_number))?;
        }
        return Ok(rev);
    }
    let mut rev = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').map(str::trim).collect();
        let parsed = (|| -> anyhow::Result<Revocation> {
            let [number, reason, since] = parts.as_slice() else {
                anyhow::bail!(
                    "{} fields, expected 3 (NUMBER, REASON, SINCE) separated by tabs",
                    parts.len()
                );
            };
            let number = number.replace(' ', "");
            check_number(&number)?;
            Ok(Revocation {
                document_number: number,
                reason: reason.parse::<Reason>()?,
                since: super::enrollment::parse_date(since).map_err(anyhow::Error::msg)?,
            })
        })();
        match parsed {
            Ok(r) => rev.push(r),
            Err(e) => problems.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "{} has {} bad lines:\n  {}",
            path.display(),
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(rev)
}

fn check_number(n: &str) -> anyhow::Result<()> {
    if n.len() != 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("document number is not 9 digits");
    }
    Ok(())
}
