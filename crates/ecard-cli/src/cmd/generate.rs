//! `ecard generate man --out DIR`: the man pages, one per command and subcommand, generated from the
//! same clap definitions as `--help` (as ripgrep does), so they never drift from the binary. The
//! Debian package (`tools/package-deb.sh`) runs this to fill `/usr/share/man/man1`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// What to generate.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a roff man page for `ecard` and each of its subcommands into a folder.
    Man {
        /// The folder for the pages (created if missing): ecard.1, ecard-station-serve.1, ...
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the station's HTTP API as an OpenAPI 3.1 document (what `/api/v1/openapi.json` serves).
    Openapi,
}

/// Runs the command against the binary's own clap definition.
pub fn run(command: &Command, cli: clap::Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Man { out } => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create the man page folder {}", out.display()))?;
            clap_mangen::generate_to(cli, out)
                .with_context(|| format!("cannot write man pages into {}", out.display()))?;
            let pages = std::fs::read_dir(out)
                .with_context(|| format!("cannot list {}", out.display()))?
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
                .count();
            println!("{pages} man pages in {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            let doc = ecard_station::api::openapi::document()
                .to_pretty_json()
                .context("cannot serialize the OpenAPI document")?;
            println!("{doc}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
