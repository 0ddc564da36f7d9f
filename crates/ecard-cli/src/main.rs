//! `ecard`: one binary for everyone who touches an e-card.
//!
//! Personalization operators run `demo`, `personalize` and (later) the station; checkpoint officers
//! run `check` and `verify`; QA inspectors `read` and `verify`; integrators `validate`. Every
//! subcommand is a thin layer over the library crates: it reads files, talks to readers, prints, and
//! adds the "what to do now" advice that only this layer can give. No logic lives here that the
//! tests cannot reach through a library.
//!
//! Exit codes, the same for every subcommand: 0 success (valid, green), 1 a negative answer (invalid
//! record, card not valid, red), 2 amber (reserved for checkpoint verdicts), 3 an error that stopped
//! the command (bad arguments, missing file, reader gone). Errors print with their whole cause chain.

mod cmd;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Issue, read and verify Moscow e-cards for foreign residents (ICAO Doc 9303 LDS on a contact chip).
#[derive(Debug, Parser)]
#[command(
    name = "ecard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Log more (-v: info, -vv: debug). Personal data is logged at debug level only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check enrollment records against the scheme's rules and list every problem (integrators, MMC clerks).
    Validate(cmd::validate::Args),
    /// Print the three TD1 MRZ lines a card would carry for an enrollment record.
    Mrz(cmd::mrz::Args),
    /// Create the signing PKI: a CSCA and a Document Signer (certificates and keys).
    #[command(subcommand)]
    Pki(cmd::pki::Command),
    /// Write an enrollment's data and a signed security object to a blank card, then lock it (operators).
    Personalize(cmd::personalize::Args),
    /// Read every file of a card into a folder (QA inspectors).
    Read(cmd::read::Args),
    /// Verify a folder of chip files offline, a line per check (QA inspectors, checkpoints).
    Verify(cmd::verify::Args),
    /// Give the checkpoint verdict on a card, with Active Authentication (checkpoint officers).
    Check(cmd::check::Args),
    /// The checkpoint device's screen: reader, card photo and verdict in a browser (checkpoint officers).
    #[command(subcommand)]
    Checkpoint(cmd::checkpoint::Command),
    /// Give the checkpoint verdict from a photo or scan of a card: its QR seal (checkpoint officers).
    Scan(cmd::scan::Args),
    /// Card status lists: sign one from a file of revoked numbers, or verify and show one.
    #[command(subcommand)]
    Status(cmd::status::Command),
    /// De-identified statistics with disclosure control, offline from a station's store (analysts).
    Stats(cmd::stats::Args),
    /// List PC/SC readers with card presence and ATR (operators, checkpoints).
    Readers(cmd::readers::Args),
    /// Simulated cards: make a blank one, or insert one into the vpcd virtual reader.
    #[command(subcommand)]
    Sim(cmd::sim::Command),
    /// Issue demo cards end to end on simulated cards and verify each as a checkpoint would.
    Demo(cmd::demo::Args),
    /// Measure the chip path: LDS build and signing, APDUs per card, encode time against the link's limit.
    Bench(cmd::bench::Args),
    /// Plan a line's capacity: cards a day with N lanes, or lanes for N cards a day (planners).
    Plan(cmd::plan::Args),
    /// Run the station daemon (`ecard station serve`) and its helpers (operators).
    Station(ecard_station::cli::StationCommand),
    /// Inspect an issued card against what the station wrote and record the verdict; batch and report (QA inspectors).
    Qa(Box<cmd::qa::Args>),
    /// Check the station's hash-chained audit log (`ecard audit verify`; QA, auditors).
    Audit(ecard_station::cli::AuditCommand),
    /// The blank-card stock ledger: import a manifest, report, count, destroy (supervisors).
    Stock(ecard_station::stock::cli::StockCommand),
    /// Generate the man pages from these definitions (packagers).
    #[command(subcommand, hide = true)]
    Generate(cmd::generate::Command),
}

/// Exit code for an error that stopped the command.
const EXIT_ERROR: u8 = 3;
/// Exit code when the chip refused the password (wrong CAN or MRZ key, or a blocked one).
const EXIT_ACCESS_DENIED: u8 = 4;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    // Everything ecard writes (keys, card images, the station's database and spool, reports of
    // holders) is private to its user from creation: files 0600, folders 0700 (ECARD.md 12).
    ecard_station::private::restrict_umask();
    let result = match &cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Mrz(args) => cmd::mrz::run(args),
        Command::Pki(c) => cmd::pki::run(c),
        Command::Personalize(args) => cmd::personalize::run(args),
        Command::Read(args) => cmd::read::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Checkpoint(c) => cmd::checkpoint::run(c),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Status(c) => cmd::status::run(c),
        Command::Qa(args) => cmd::qa::run(args),
        Command::Stats(args) => cmd::stats::run(args),
        Command::Readers(args) => cmd::readers::run(args),
        Command::Sim(c) => cmd::sim::run(c),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Station(args) => ecard_station::cli::run_station(args)
            .map(ExitCode::from)
            .map_err(anyhow::Error::from),
        Command::Audit(args) => ecard_station::cli::run_audit(args)
            .map(ExitCode::from)
            .map_err(anyhow::Error::from),
        Command::Stock(args) => ecard_station::stock::cli::run(args)
            .map(ExitCode::from)
            .map_err(anyhow::Error::from),
        Command::Generate(c) => cmd::generate::run(c, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            let denied = e.chain().any(|c| {
                c.downcast_ref::<ecard_chip::access::AccessError>()
                    .is_some_and(|a| a.is_access_denied())
            });
            ExitCode::from(if denied {
                EXIT_ACCESS_DENIED
            } else {
                EXIT_ERROR
            })
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
