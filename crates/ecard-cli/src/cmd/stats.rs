//! `ecard stats --from YYYY-MM --to YYYY-MM [--by ...] [--filter ...] [--json|--csv]`: the
//! station's de-identified statistics (ECARD.md section 13), offline against a data folder
//! (SQLite) or the PostgreSQL store named by `--config`. The same request, the same suppression
//! pattern and the same shapes as `GET /api/v1/statistics`: no exact count of a suppressed cell
//! is printed, with any flag.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ecard_station::stats::{Request, THRESHOLD, shape};

use crate::output::WithHelp;

/// Arguments of `ecard stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First month of the period, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    from: String,
    /// Last month of the period (included), YYYY-MM; at most 120 months after --from.
    #[arg(long, value_name = "YYYY-MM")]
    to: String,
    /// Groupings, comma-separated: month, station, region, nationality, age_band, sex, kind,
    /// cause, late_notification, outcome.
    #[arg(long, value_name = "DIM,...")]
    by: Option<String>,
    /// Filters `dimension:value`, comma-separated; groupings and filters together at most 3.
    #[arg(long, value_name = "DIM:VALUE,...")]
    filter: Option<String>,
    /// The station's data folder (its SQLite store).
    #[arg(long, value_name = "DIR", default_value = "ecard-data")]
    data_dir: PathBuf,
    /// The station's configuration file (its store: SQLite or PostgreSQL).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the API's JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (`<10` for a suppressed count).
    #[arg(long)]
    csv: bool,
}

/// Runs `ecard stats`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    use ecard_station::config::StationConfig;
    let req = Request::parse(
        Some(&args.from),
        Some(&args.to),
        args.by.as_deref(),
        args.filter.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .help(
        "e.g. ecard stats --from 2026-01 --to 2026-12 --by nationality,sex --filter outcome:issued",
    )?;
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
    let table = store
        .statistics(&req)
        .context("cannot read the statistics")?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&shape::to_json(&req, &table))?
        );
    } else if args.csv {
        print!("{}", shape::to_csv(&req, &table));
    } else {
        let names: Vec<&str> = req.by.iter().map(|d| d.as_str()).collect();
        println!(
            "{} to {}, by {}",
            req.from,
            req.to,
            if names.is_empty() {
                "nothing (total only)".to_string()
            } else {
                names.join(", ")
            }
        );
        for c in &table.cells {
            let count = if c.suppressed {
                format!("<{THRESHOLD}")
            } else {
                c.exact.to_string()
            };
            println!("  {:<40} {count:>8}", c.keys.join(" / "));
        }
        let total = if table.total_suppressed {
            format!("<{THRESHOLD}")
        } else {
            table.total_exact.to_string()
        };
        println!("  {:<40} {total:>8}", "total");
    }
    Ok(ExitCode::SUCCESS)
}
