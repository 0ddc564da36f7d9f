//! `ecard validate FILE... [--json]`: the enrollment contract's gate. Every problem of every file is
//! listed as `FILE: <json path>: <message>`; exit 0 when all are valid, 1 when any is not.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::enrollment::{self, Loaded};

/// Arguments of `ecard validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Enrollment record files (JSON). Image paths inside are relative to each file.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Validate as of this date instead of today in Moscow (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = enrollment::parse_date)]
    today: Option<time::Date>,
}

#[derive(Serialize)]
struct FileResult {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    application_id: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    late_notification: bool,
    problems: Vec<ecard_model::validation::Problem>,
}

/// Runs `ecard validate`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let today = args.today.unwrap_or_else(enrollment::today_in_moscow);
    let mut results = Vec::new();
    for file in &args.files {
        let result = match enrollment::load(file, today)? {
            Loaded::Valid(p) => FileResult {
                file: file.display().to_string(),
                valid: true,
                application_id: Some(p.record.application_id.clone()),
                late_notification: p.late_notification,
                problems: Vec::new(),
            },
            Loaded::Invalid(problems) => FileResult {
                file: file.display().to_string(),
                valid: false,
                application_id: None,
                late_notification: false,
                problems,
            },
        };
        results.push(result);
    }
    let all_valid = results.iter().all(|r| r.valid);
    if args.json {
        crate::output::print_json(&results)?;
    } else {
        for r in &results {
            if r.valid {
                let late = if r.late_notification {
                    " (late notification: filed more than 7 days after the event)"
                } else {
                    ""
                };
                crate::out!("{}: valid{late}", r.file);
            }
            for p in &r.problems {
                crate::out!("{}: {}: {}", r.file, p.path, p.message);
            }
        }
        let invalid = results.iter().filter(|r| !r.valid).count();
        if invalid > 0 {
            eprintln!(
                "{invalid} of {} records rejected; nothing was stored",
                results.len()
            );
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
