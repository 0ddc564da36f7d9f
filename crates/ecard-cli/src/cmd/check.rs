//! `ecard check (--sim CARD.img | --reader NAME) --trust CSCA.pem`: the checkpoint verdict on a card
//! in hand: read every file, run Active Authentication on a fresh random challenge where the card has
//! DG15 (a cloned chip cannot answer it), then every check of ECARD.md section 7.

use std::process::ExitCode;

use ecard_chip::lds::EfId;
use ecard_chip::read::{active_authentication, read_card_with};
use ecard_chip::verify::{AaEvidence, AaOutcome};
use rand_core::RngCore;

use super::card::{CardArgs, CardSession, WaitArgs};
use super::verify::{TrustArgs, check_files, exit_code, print_report};
use crate::output::WithHelp;

/// Arguments of `ecard check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    trust: TrustArgs,
}

/// Runs `ecard check`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut session = CardSession::open(&args.card, &args.wait)?;
    let outcome = read_and_authenticate(&mut session);
    session.close()?;
    let (files, aa) =
        outcome.help("keep the card in the reader until the verdict shows, then try again")?;
    let report = check_files(&files, &args.trust, aa)?;
    print_report(&report, args.trust.json)?;
    Ok(exit_code(&report))
}

/// Reads the card and, where it has DG15, asks it to sign 8 random bytes.
pub fn read_and_authenticate(
    session: &mut CardSession,
) -> anyhow::Result<(ecard_chip::lds::LdsFiles, AaEvidence)> {
    let opts = super::card::read_options(session.transport());
    let (files, _stats) = read_card_with(session.transport(), opts)?;
    let aa = if files.contains_key(&EfId::Dg15) {
        let mut challenge = [0u8; 8];
        rand_core::OsRng.fill_bytes(&mut challenge);
        match active_authentication(session.transport(), challenge) {
            Ok(sig) => AaEvidence::Performed(AaOutcome {
                challenge,
                response: sig.to_bytes().to_vec(),
            }),
            Err(e) => {
                tracing::info!("active authentication got no answer: {e}");
                AaEvidence::NoAnswer
            }
        }
    } else {
        AaEvidence::NotPerformed
    };
    Ok((files, aa))
}
