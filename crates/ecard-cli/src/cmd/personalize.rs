//! `ecard personalize`: one enrollment onto one blank card, as a lane does it.

use std::path::PathBuf;
use std::process::ExitCode;

use ecard_chip::issue::{ChipImages, IssuedCard, card_content, issue};
use ecard_chip::lds::CardContent;
use ecard_chip::perso::{CardState, LockOutcome, PersoError};
use ecard_chip::profile::Profile;
use ecard_imaging::PreparedEnrollment;
use ecard_model::number::DocumentNumber;

use super::card::{CardArgs, CardSession, WaitArgs, choose_profile};
use super::enrollment::{self, Loaded};
use super::pki::{DocumentSigner, load_signer};
use crate::output::WithHelp;

/// The issuing authority written to DG12 unless `--issuing-authority` says otherwise.
pub const DEFAULT_AUTHORITY: &str = "MMC MOSCOW";

/// Arguments of `ecard personalize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The enrollment record (JSON); image paths are relative to it.
    #[arg(long, value_name = "FILE")]
    enrollment: PathBuf,
    /// The PKI folder made by `ecard pki init` (its Document Signer signs EF.SOD).
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,
    /// The card's document number: 9 digits, series then number.
    #[arg(long, value_name = "N")]
    document_number: DocumentNumber,
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// Firmware profile: a built-in name (ecard-sim, generic-iso7816) or a .toml file; default: by ATR.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Issuing authority for DG12.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_AUTHORITY)]
    issuing_authority: String,
    /// The card access number the chip gets (6 digits; print it on the card's front). Default:
    /// drawn at random from the OS's generator. Ignored by a card OS without PACE.
    #[arg(long, value_name = "NNNNNN")]
    can: Option<String>,
    /// Print the result as JSON (with the CAN as `"can"`).
    #[arg(long)]
    json: bool,
    /// The issuer's master key of the blanks' SCP03 transport keys: a file holding it in hex
    /// (mode 0600). Default: the GlobalPlatform test key, with a warning.
    #[arg(long, value_name = "FILE")]
    kmc_file: Option<PathBuf>,
}

/// The blanks' transport keys: the KMC file, else the test key with a one-line warning.
pub fn transport_keys(
    kmc_file: Option<&std::path::Path>,
) -> anyhow::Result<ecard_chip::scp03::KmcKeys> {
    match kmc_file {
        Some(p) => ecard_station::chip::load_kmc_file(p)
            .map_err(anyhow::Error::msg)
            .help("write the KMC as hex into a file only you can read (chmod 600)"),
        None => {
            eprintln!(
                "warning: blanks' transport keys from the GlobalPlatform test key (give --kmc-file for real blanks)"
            );
            Ok(ecard_chip::scp03::KmcKeys::test_key())
        }
    }
}

/// A random card access number from the OS's generator.
pub fn random_can() -> String {
    use rand_core::RngCore;
    // Rejection sampling keeps the 6 digits uniform.
    loop {
        let v = rand_core::OsRng.next_u32();
        if v < 4_294_000_000 {
            return format!("{:06}", v % 1_000_000);
        }
    }
}

/// Runs `ecard personalize`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let now = time::OffsetDateTime::now_utc();
    let prepared = load_valid(&args.enrollment, ecard_model::dates::moscow_date(now))?;
    let signer = load_signer(&args.pki)?;
    let can = match &args.can {
        Some(c) => {
            ecard_chip::pace::Password::can(c).help("give --can as 6 decimal digits")?;
            c.clone()
        }
        None => random_can(),
    };
    let mut session = CardSession::open(&args.card, &args.wait)?;
    let profile = choose_profile(args.profile.as_deref(), session.transport().atr())?;
    let keys = if profile.transport.scp03 {
        Some(transport_keys(args.kmc_file.as_deref())?)
    } else {
        None
    };
    let result = issue_one(
        &mut session,
        keys.as_ref(),
        &profile,
        &prepared,
        &args.document_number,
        &signer,
        &args.issuing_authority,
        now,
        &can,
    );
    let closed = session.close();
    let (issued, _content) = result.map_err(|e| spoiled_error(e, &args.document_number))?;
    closed?;
    let can = profile.pace.offered.then_some(can);
    if args.json {
        crate::output::print_json(&serde_json::json!({
            "document_number": args.document_number.mrz_form(),
            "profile": issued.report.profile,
            "can": can,
            "access_control": if can.is_some() { "pace" } else { "none" },
            "locked": matches!(issued.report.lock, LockOutcome::Locked { .. }),
            "files": issued.report.files.iter().map(|f| serde_json::json!({
                "ef": f.ef.name(),
                "len": f.len,
                "sha256": hex::encode(f.sha256),
            })).collect::<Vec<_>>(),
            "apdus": issued.report.stats.apdus,
            "bytes_sent": issued.report.stats.bytes_sent,
            "bytes_received": issued.report.stats.bytes_received,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!(
        "card {} issued with profile {}",
        args.document_number,
        issued.report.profile
    );
    match &can {
        Some(c) => crate::out!("  CAN {c}: print it on the card's front; readers need it"),
        None => crate::out!("  no access control: this card OS has no PACE"),
    }
    for f in &issued.report.files {
        crate::out!(
            "  {:<6} {:>6} bytes  sha256 {}",
            f.ef.name(),
            f.len,
            hex::encode(f.sha256)
        );
    }
    match &issued.report.lock {
        LockOutcome::Locked { .. } => crate::out!("  locked: a test write was refused"),
        other => crate::out!("  warning: {other}"),
    }
    let s = &issued.report.stats;
    crate::out!(
        "  {} APDUs, {} bytes sent, {} bytes received",
        s.apdus,
        s.bytes_sent,
        s.bytes_received
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads `path` as a valid enrollment, or fails listing every problem.
pub fn load_valid(path: &std::path::Path, today: time::Date) -> anyhow::Result<PreparedEnrollment> {
    match enrollment::load(path, today)? {
        Loaded::Valid(p) => Ok(*p),
        Loaded::Invalid(problems) => {
            let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            Err(anyhow::anyhow!(
                "enrollment {} rejected with {} problems; nothing was written\n{}",
                path.display(),
                problems.len(),
                list.join("\n")
            ))
            .help(format!(
                "fix the record; `ecard validate {}` lists the same problems",
                path.display()
            ))
        }
    }
}

/// Issues `prepared` as card `number` on the open card; returns what was written and the content
/// it was built from (the printed face shows the same dates and MRZ). `can` goes to a chip that
/// offers PACE.
#[allow(clippy::too_many_arguments)]
pub fn issue_one(
    session: &mut CardSession,
    keys: Option<&ecard_chip::scp03::KmcKeys>,
    profile: &Profile,
    prepared: &PreparedEnrollment,
    number: &DocumentNumber,
    signer: &DocumentSigner,
    authority: &str,
    now: time::OffsetDateTime,
    can: &str,
) -> Result<(IssuedCard, CardContent), PersoError> {
    let content = card_content(
        &prepared.holder,
        number,
        chip_images(prepared),
        authority,
        now,
    );
    // Every perso command through the blank's SCP03 channel under its own keys.
    let test = ecard_chip::scp03::KmcKeys::test_key();
    let keys = keys.unwrap_or(&test);
    let mut channel =
        ecard_chip::secure_perso::open(session.transport(), profile, keys, &mut rand_core::OsRng)
            .map_err(channel_error)?;
    let issued = issue(
        channel.transport(),
        profile,
        &content,
        &signer.key,
        &signer.cert,
        now,
        profile.pace.offered.then_some(can),
    )?;
    Ok((issued, content))
}

/// A channel that did not open, as a personalization error: nothing was written.
fn channel_error(e: ecard_chip::secure_perso::ChannelError) -> PersoError {
    let kind = match &e {
        ecard_chip::secure_perso::ChannelError::NotBlank { .. } => {
            ecard_chip::perso::PersoErrorKind::NotBlank(ecard_chip::perso::NotBlank::Locked)
        }
        _ => ecard_chip::perso::PersoErrorKind::Channel {
            reason: e.to_string(),
        },
    };
    PersoError {
        step: ecard_chip::perso::Step::SelectMf,
        file: None,
        offset: None,
        file_size: None,
        card: CardState::Blank,
        kind,
    }
}

/// The chip's images of a prepared enrollment.
pub fn chip_images(prepared: &PreparedEnrollment) -> ChipImages {
    // ecard-imaging makes chip faces of at most 480x640 pixels, so both sides fit DG2's u16 fields.
    #[allow(clippy::expect_used)]
    let side = |px: u32| u16::try_from(px).expect("chip faces are at most 480x640 pixels");
    ChipImages {
        face_jpeg: prepared.face.jpeg.clone(),
        face_width: side(prepared.face.width),
        face_height: side(prepared.face.height),
        signature_jpeg: prepared.signature.jpeg.clone(),
    }
}

/// The personalization error with what happened to the card and what to do.
pub fn spoiled_error(e: PersoError, number: &DocumentNumber) -> anyhow::Error {
    let help = match e.card {
        CardState::Spoiled => format!(
            "card {number} is spoiled: its chip is partly written and not locked; put it in the reject bin, \
             void number {number}, and personalize a new blank with a new number"
        ),
        CardState::Blank => {
            "the card was not changed; check the reader and the card, then try again".to_string()
        }
        _ => format!(
            "card {number} was written, but the run did not finish cleanly; check it with `ecard check`"
        ),
    };
    anyhow::Error::new(e).context(crate::output::Help(help))
}
