//! `ecard mrz --enrollment FILE --document-number N --issued DATE`: the TD1 MRZ a card would carry.

use std::path::PathBuf;
use std::process::ExitCode;

use ecard_model::mrz::Td1;
use ecard_model::number::DocumentNumber;

use super::enrollment::{self, Loaded};
use crate::output::WithHelp;

/// Arguments of `ecard mrz`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The enrollment record (JSON).
    #[arg(long, value_name = "FILE")]
    enrollment: PathBuf,
    /// The card's document number: 9 digits, series then number (771234567 or "77 1234567").
    #[arg(long, value_name = "N")]
    document_number: DocumentNumber,
    /// The date of issue (YYYY-MM-DD); the expiry is 5 years later.
    #[arg(long, value_name = "DATE", value_parser = enrollment::parse_date)]
    issued: time::Date,
}

/// Runs `ecard mrz`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let prepared = match enrollment::load(&args.enrollment, args.issued)? {
        Loaded::Valid(p) => p,
        Loaded::Invalid(problems) => {
            let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            return Err(anyhow::anyhow!(
                "enrollment {} is not valid ({} problems):\n{}",
                args.enrollment.display(),
                problems.len(),
                list.join("\n")
            ))
            .help(format!(
                "run `ecard validate {}` and fix the record first",
                args.enrollment.display()
            ));
        }
    };
    let expiry = ecard_model::dates::expiry_for(args.issued);
    let td1 = Td1::for_card(&prepared.holder, &args.document_number, expiry);
    crate::out!("{}", td1.text());
    Ok(ExitCode::SUCCESS)
}
