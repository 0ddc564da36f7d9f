//! `ecard-stationd`: the station daemon on its own (the same commands as `ecard station` and
//! `ecard audit`), for service units and the crash tests, without the rest of the `ecard` CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ecard_station::cli::{AuditCommand, StationCommand, run_audit, run_station};

#[derive(Debug, Parser)]
#[command(name = "ecard-stationd", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The station daemon and its helpers.
    Station(StationCommand),
    /// The audit log.
    Audit(AuditCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let result = match &cli.command {
        Command::Station(c) => run_station(c),
        Command::Audit(c) => run_audit(c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
