//! Lists the PC/SC readers and, for one of them, connects exclusively and reports the ATR and the
//! APDU limits found by the extended-length probe (an extended SELECT of the MF: harmless on any
//! ISO 7816-4 card, blank or personalized). A first check of a new reader, before the station uses it.
//!
//! `cargo run -p ecard-transport --example pcsc_probe -- ["Reader Name 00 00"] [--wait SECONDS]`
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ecard_chip::transport::Transport;
use ecard_transport::pcsc::{
    ExtendedLength, PcscContext, PcscTransport, list_readers, wait_for_card,
};

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wait = args
        .iter()
        .position(|a| a == "--wait")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<u64>().map(Duration::from_secs))
        .transpose()?;
    let reader = args.first().filter(|a| !a.starts_with("--")).cloned();

    let ctx = PcscContext::establish()?;
    let readers = list_readers(&ctx)?;
    if readers.is_empty() {
        println!("no readers");
    }
    for r in &readers {
        match &r.atr {
            Some(atr) => println!("{:?}: card present, ATR {}", r.name, hex(atr)),
            None => println!("{:?}: empty", r.name),
        }
    }
    let Some(reader) = reader else { return Ok(()) };
    if let Some(wait) = wait {
        println!("waiting up to {wait:?} for a card in {reader:?}");
        wait_for_card(&ctx, &reader, Some(wait))?;
    }
    let t = PcscTransport::connect(&ctx, &reader, ExtendedLength::Probe)?;
    println!(
        "{:?}: connected exclusively, ATR {}, limits {:?}",
        t.reader_name(),
        hex(t.atr()),
        t.limits()
    );
    t.disconnect()?;
    Ok(())
}
