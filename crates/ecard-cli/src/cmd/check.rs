//! `ecard check (--sim CARD.img | --reader NAME) --trust CSCA.pem [--status FILE] [--seal IMAGE]`:
//! the checkpoint verdict on a card in hand: read every file, run Active Authentication on a fresh
//! random challenge where the card has DG15 (a cloned chip cannot answer it), then every check of
//! ECARD.md section 7, the status list and, with a photo of the card, its QR seal against the chip
//! (section 8). Exit 0 green, 1 red, 2 amber (revocation not checked: no status list given, or a
//! stale one).

use std::path::PathBuf;
use std::process::ExitCode;

use ecard_chip::lds::EfId;
use ecard_chip::read::{active_authentication, read_card_with};
use ecard_chip::verify::{AaEvidence, AaOutcome};
use rand_core::RngCore;

use super::card::{AccessArgs, CardArgs, CardSession, WaitArgs, open_chip};
use super::verify::{TrustArgs, check_card, print_outcome};
use crate::output::WithHelp;

/// Arguments of `ecard check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// A photo or scan of the card's front (PNG or JPEG): its QR seal is verified and compared
    /// with the chip (fields and DG2 hash).
    #[arg(long, value_name = "IMAGE")]
    seal: Option<PathBuf>,
}

/// Runs `ecard check`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let password = args.access.password()?;
    let mut session = CardSession::open(&args.card, &args.wait)?;
    let outcome = read_and_authenticate(&mut session, password.as_ref());
    session.close()?;
    let (files, aa, access) = match outcome {
        Ok(read) => read,
        // The card answered, but not as an e-card does (a blank, a foreign or a spoiled card):
        // that is a verdict on the card, not a failure of the check.
        Err(e) if is_card_fault(&e) => {
            if args.trust.json {
                crate::output::print_json(&serde_json::json!({
                    "verdict": "red",
                    "reason": format!("the chip could not be read as an e-card: {e}"),
                }))?;
            } else {
                crate::out!("RED: the chip could not be read as an e-card: {e}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            return Err(e)
                .help("keep the card in the reader until the verdict shows, then try again");
        }
    };
    let seal = match &args.seal {
        Some(p) => Some(super::scan::seal_text_from_image(p)?),
        None => None,
    };
    let outcome = check_card(
        &files,
        &args.trust,
        aa,
        seal.as_ref().map(|r| r.as_deref().map_err(Clone::clone)),
        Some(access),
    )?;
    print_outcome(&outcome, args.trust.json, true)?;
    Ok(ExitCode::from(outcome.verdict.exit_code()))
}

/// Whether a read failed because of what the card answered (a status word, a malformed answer),
/// rather than because the reader or the link failed.
fn is_card_fault(e: &anyhow::Error) -> bool {
    use ecard_chip::pace::PaceError;
    if let Some(ecard_chip::access::AccessError::Pace { source, .. }) =
        e.downcast_ref::<ecard_chip::access::AccessError>()
    {
        // The chip answered PACE, but not as a sound card does (a half-written card without its
        // CAN, a broken EF.CardAccess): a verdict on the card. A refused password is not.
        return matches!(
            source,
            PaceError::Card { .. }
                | PaceError::Malformed { .. }
                | PaceError::CardAccess(_)
                | PaceError::Unsupported(_)
        );
    }
    matches!(
        e.downcast_ref::<ecard_chip::read::ReadError>(),
        Some(
            ecard_chip::read::ReadError::Status { .. }
                | ecard_chip::read::ReadError::Malformed { .. }
        )
    )
}

/// Opens the chip (PACE with `password` where the card offers it), reads it and, where it has
/// DG15, asks it to sign 8 random bytes.
pub fn read_and_authenticate(
    session: &mut CardSession,
    password: Option<&ecard_chip::pace::Password>,
) -> anyhow::Result<(
    ecard_chip::lds::LdsFiles,
    AaEvidence,
    ecard_chip::access::Access,
)> {
    let opts = super::card::read_options(session.transport());
    let mut chip = open_chip(session.transport(), password)?;
    let (files, aa) = read_chip(&mut chip, opts)?;
    Ok((files, aa, chip.access()))
}

/// Reads every file of an opened chip and, where it has DG15, asks it to sign 8 random bytes.
pub fn read_chip(
    chip: &mut ecard_chip::access::Session<'_>,
    mut opts: ecard_chip::read::ReadOptions,
) -> anyhow::Result<(ecard_chip::lds::LdsFiles, AaEvidence)> {
    opts.limits = opts.limits.min(chip.transport().limits());
    let (files, _stats) = read_card_with(chip.transport(), opts)?;
    let aa = if files.contains_key(&EfId::Dg15) {
        let mut challenge = [0u8; 8];
        rand_core::OsRng.fill_bytes(&mut challenge);
        match active_authentication(chip.transport(), challenge) {
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
