//! `ecard readers`: the PC/SC readers this machine sees, with card presence and ATR.

use std::process::ExitCode;

use ecard_transport::{PcscContext, list_readers};
use serde::Serialize;

use crate::output::WithHelp;

/// Arguments of `ecard readers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Reader {
    name: String,
    card_present: bool,
    atr: Option<String>,
}

/// Runs `ecard readers`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let ctx = PcscContext::establish().help(
        "start the PC/SC service (`pcscd`, or `tools/virtual-reader.sh start` for the simulator)",
    )?;
    let readers: Vec<Reader> = list_readers(&ctx)?
        .into_iter()
        .map(|r| Reader {
            name: r.name,
            card_present: r.card_present,
            atr: r.atr.map(hex::encode_upper),
        })
        .collect();
    if args.json {
        crate::output::print_json(&readers)?;
    } else if readers.is_empty() {
        crate::out!(
            "no readers: connect a reader, or start the virtual one with `tools/virtual-reader.sh start`"
        );
    } else {
        for r in &readers {
            match (&r.atr, r.card_present) {
                (Some(atr), true) => crate::out!("{}\tcard present\tATR {atr}", r.name),
                _ => crate::out!("{}\tno card", r.name),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
