//! `ecard stock import | report | count | destroy`: the blank-stock ledger from the command line,
//! against the station's data folder or its PostgreSQL store.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::cli::{CliError, open_store, resolve};
use crate::store::stock::BlankEnd;

/// `ecard stock ...`
#[derive(Debug, clap::Args)]
pub struct StockCommand {
    /// The station's config (its store); without it the data folder's defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data folder holding station.db.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: StockSub,
}

#[derive(Debug, clap::Subcommand)]
enum StockSub {
    /// Import a card maker's manifest (CSV: serial,batch,key_version); all lines or none.
    Import {
        /// The manifest.
        file: PathBuf,
    },
    /// Received, issued, spoiled (by reason), destroyed and in stock, per batch and day, and every
    /// serial that does not reconcile; exit 1 when something does not add up.
    Report {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a physical count: a file of the serials found in the vault, one a line.
    Count {
        /// The serials found.
        file: PathBuf,
    },
    /// Destroy a blank (damaged, keys blocked, an unknown blank put aside), with the reason.
    Destroy {
        /// The blank's serial.
        serial: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn read(file: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(file).map_err(|cause| CliError::Io {
        what: format!("reading {}", file.display()),
        cause,
    })
}

/// Runs `ecard stock ...`; returns the exit code.
pub fn run(cmd: &StockCommand) -> Result<u8, CliError> {
    let config = resolve(cmd.config.as_deref(), cmd.data_dir.as_deref())?;
    let store = open_store(&config.store)?;
    let actor = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    match &cmd.command {
        StockSub::Import { file } => {
            let text = read(file)?;
            let lines = match super::parse_manifest(&text) {
                Ok(l) => l,
                Err(problems) => {
                    for p in problems.iter().take(50) {
                        eprintln!("{}: {p}", file.display());
                    }
                    if problems.len() > 50 {
                        eprintln!("... and {} more", problems.len() - 50);
                    }
                    eprintln!(
                        "{}: {} bad line(s); nothing imported: fix the manifest and import it again",
                        file.display(),
                        problems.len()
                    );
                    return Ok(1);
                }
            };
            let sha = hex::encode(Sha256::digest(text.as_bytes()));
            let name = file.display().to_string();
            let n = store.stock_import(&lines, &name, &sha, &actor, now_ms())?;
            println!("imported {n} blanks from {name}");
            Ok(0)
        }
        StockSub::Report { json } => {
            let report = store.stock_report()?;
            if *json {
                let mut v = serde_json::to_value(&report).unwrap_or_default();
                v["reconciles"] = serde_json::json!(report.reconciles());
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", super::text_report(&report));
            }
            Ok(if report.reconciles() { 0 } else { 1 })
        }
        StockSub::Count { file } => {
            let text = read(file)?;
            let found: Vec<String> = text
                .lines()
                .map(|l| l.trim().to_ascii_uppercase())
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            store.stock_count(&found, &actor, now_ms())?;
            let report = store.stock_report()?;
            let missing = report
                .discrepancies
                .iter()
                .filter(|d| d.kind == "missing_at_count")
                .count();
            println!(
                "count recorded: {} serials found; {missing} blank(s) in stock were not found",
                found.len()
            );
            Ok(if missing == 0 { 0 } else { 1 })
        }
        StockSub::Destroy { serial, reason } => {
            store.stock_end(
                &serial.to_ascii_uppercase(),
                &BlankEnd::Destroyed {
                    reason: reason.clone(),
                },
                &actor,
                now_ms(),
            )?;
            println!("blank {serial} recorded as destroyed: {reason}");
            Ok(0)
        }
    }
}
