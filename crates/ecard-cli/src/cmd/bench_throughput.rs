//! `ecard bench throughput`: issue 19's measurement, as `cargo bench -p ecard-station --bench
//! throughput` runs it (the same library function, `ecard_station::throughput::measure`), on the
//! installed binary: intake alone (records/s into the queue, validation and the chip JPEGs), the
//! lanes alone and end to end (cards/s, two lanes of zero-latency simulated devices, durable
//! SQLite), each with the CPU per record or card and the ratio to the 200/s targets.
//!
//! Numbers are measured, never asserted: on a shared machine the rates move, the CPU per card
//! much less. The default count takes a few seconds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ecard_station::throughput::{Stage, TARGET_RATE, measure, sample_records};
use serde::Serialize;

/// Arguments of `ecard bench throughput`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records submitted in each run (intake alone, then end to end).
    #[arg(long, default_value_t = 200)]
    records: usize,
    /// The sample records (their images are sent inline).
    #[arg(long, default_value = "samples")]
    samples: PathBuf,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct StageReport {
    count: usize,
    seconds: f64,
    per_second: f64,
    /// Process CPU per record or card, in milliseconds (absent without /proc).
    cpu_ms_each: Option<f64>,
    /// `per_second` against issue 19's 200/s.
    of_target: f64,
}

impl From<&Stage> for StageReport {
    fn from(s: &Stage) -> Self {
        StageReport {
            count: s.count,
            seconds: s.wall.as_secs_f64(),
            per_second: s.per_second(),
            cpu_ms_each: s.cpu_ms_each(),
            of_target: s.of_target(),
        }
    }
}

#[derive(Serialize)]
struct Report {
    target_per_second: f64,
    cores: usize,
    intake: StageReport,
    lanes: StageReport,
    end_to_end: StageReport,
}

/// Runs `ecard bench throughput`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.records > 0, "--records must be at least 1");
    let samples = sample_records(&args.samples).with_context(|| {
        format!(
            "cannot read the sample records in {} (run from the source tree, or pass --samples)",
            args.samples.display()
        )
    })?;
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let m = rt
        .block_on(measure(dir.path(), &samples, args.records))
        .context("the throughput measurement failed")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = Report {
        target_per_second: TARGET_RATE,
        cores,
        intake: (&m.intake).into(),
        lanes: (&m.lanes).into(),
        end_to_end: (&m.end_to_end).into(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cpu = |s: &StageReport, what: &str| {
        s.cpu_ms_each
            .map_or(String::new(), |ms| format!(", {ms:.2} ms CPU per {what}"))
    };
    println!(
        "throughput on {cores} cores, {} records, 2 lanes of simulated devices, durable SQLite:",
        args.records
    );
    println!(
        "  intake alone: {:.0} records/s{} ({:.2} of the {TARGET_RATE:.0}/s target)",
        report.intake.per_second,
        cpu(&report.intake, "record"),
        report.intake.of_target
    );
    println!(
        "  lanes alone:  {:.0} cards/s{}",
        report.lanes.per_second,
        cpu(&report.lanes, "card")
    );
    println!(
        "  end to end:   {:.0} cards/s{} ({:.2} of the {TARGET_RATE:.0}/s target)",
        report.end_to_end.per_second,
        cpu(&report.end_to_end, "card"),
        report.end_to_end.of_target
    );
    Ok(ExitCode::SUCCESS)
}
