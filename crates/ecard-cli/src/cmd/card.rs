//! Reaching a card: a simulated card image file (`--sim CARD.img`) or a PC/SC reader
//! (`--reader NAME`, optionally `--wait` for a card), and picking its firmware profile.
//!
//! A simulated card lives in a file so that one card can travel from the station to a checkpoint
//! and to QA; the image is saved when the session ends, whatever happened to the card (a spoiled
//! card is a real outcome and must stay spoiled).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ecard_chip::access::Session;
use ecard_chip::pace::Password;
use ecard_chip::profile::{Profile, select_profile};
use ecard_chip::read::ReadOptions;
use ecard_chip::transport::Transport;
use ecard_sim::{CardImage, SimTransport};
use ecard_transport::{ExtendedLength, PcscContext, PcscTransport, wait_for_card};

use crate::output::WithHelp;

/// Where the card is.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct CardArgs {
    /// A simulated card: its image file (make a blank one with `ecard sim new`).
    #[arg(long, value_name = "CARD.img")]
    pub sim: Option<PathBuf>,
    /// A PC/SC reader, by the name `ecard readers` shows.
    #[arg(long, value_name = "NAME")]
    pub reader: Option<String>,
}

/// Waiting for a card in a reader.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// With --reader: wait until a card is inserted instead of failing on an empty reader.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (default: wait for ever).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub wait_timeout: Option<u64>,
}

/// The chip's access password (ECARD.md section 10), for every command that reads a card.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AccessArgs {
    /// The card access number printed on the card's front (6 digits), for a chip protected by
    /// PACE.
    #[arg(long, value_name = "NNNNNN", conflicts_with = "mrz_key")]
    pub can: Option<String>,
    /// Instead of the CAN: the MRZ key, DOCNUMBER,YYMMDD,YYMMDD (document number, date of birth,
    /// date of expiry, as in the MRZ on the card's back).
    #[arg(long, value_name = "DOC,BIRTH,EXPIRY")]
    pub mrz_key: Option<String>,
}

impl AccessArgs {
    /// The password given, if any.
    pub fn password(&self) -> anyhow::Result<Option<Password>> {
        Ok(match (&self.can, &self.mrz_key) {
            (Some(c), _) => Some(Password::can(c).context("--can")?),
            (None, Some(m)) => Some(Password::mrz_key(m).context("--mrz-key")?),
            (None, None) => None,
        })
    }
}

/// Opens the chip behind `t` for reading: PACE with `password` on a card that offers it, plain
/// on one without access control.
pub fn open_chip<'a>(
    t: &'a mut dyn Transport,
    password: Option<&Password>,
) -> anyhow::Result<Session<'a>> {
    Ok(ecard_chip::access::open(
        t,
        password,
        &mut rand_core::OsRng,
    )?)
}

/// An open card, behind the one [`Transport`] door.
pub enum CardSession {
    /// A simulated card; saved back to `path` on [`CardSession::close`].
    Sim {
        /// The transport holding the card.
        transport: Box<SimTransport>,
        /// Its image file.
        path: PathBuf,
    },
    /// A card in a PC/SC reader.
    Reader(Box<PcscTransport>),
}

impl CardSession {
    /// Opens the card `args` name.
    pub fn open(args: &CardArgs, wait: &WaitArgs) -> anyhow::Result<CardSession> {
        if let Some(path) = &args.sim {
            let image = CardImage::load(path)
                .with_context(|| format!("cannot open the simulated card {}", path.display()))
                .help(format!(
                    "make a blank card with `ecard sim new {}`",
                    path.display()
                ))?;
            let transport = SimTransport::new(image.into_card())
                .with_reader_name(&format!("sim:{}", path.display()));
            return Ok(CardSession::Sim {
                transport: Box::new(transport),
                path: path.clone(),
            });
        }
        let Some(reader) = &args.reader else {
            anyhow::bail!("name a card with --sim CARD.img or --reader NAME");
        };
        let ctx = PcscContext::establish()
            .help("start the PC/SC service (`pcscd`), or `tools/virtual-reader.sh start` for the simulator")?;
        if wait.wait {
            eprintln!("waiting for a card in reader {reader:?} ...");
            wait_for_card(&ctx, reader, wait.wait_timeout.map(Duration::from_secs))
                .help("insert a card, or check the reader name with `ecard readers`")?;
        }
        let transport = PcscTransport::connect(&ctx, reader, ExtendedLength::Probe).help(
            "check the reader name with `ecard readers`, insert a card, or add --wait to wait for one",
        )?;
        Ok(CardSession::Reader(Box::new(transport)))
    }

    /// The card's transport.
    pub fn transport(&mut self) -> &mut dyn Transport {
        match self {
            CardSession::Sim { transport, .. } => transport.as_mut(),
            CardSession::Reader(t) => t.as_mut(),
        }
    }

    /// Ends the session: saves a simulated card's image, releases a reader's card.
    pub fn close(self) -> anyhow::Result<()> {
        match self {
            CardSession::Sim { transport, path } => {
                let card = transport.into_card();
                card.image()
                    .save(&path)
                    .with_context(|| format!("cannot save the simulated card {}", path.display()))
            }
            CardSession::Reader(t) => {
                let name = t.reader_name().to_string();
                t.disconnect()
                    .with_context(|| format!("cannot release the card in {name:?}"))
            }
        }
    }
}

/// The firmware profile: the one `name` gives (a built-in name or a `.toml` file), else the one
/// whose ATR pattern matches `atr`.
pub fn choose_profile(name: Option<&str>, atr: &[u8]) -> anyhow::Result<Profile> {
    match name {
        Some(n) if n.ends_with(".toml") || n.contains('/') => {
            let text =
                std::fs::read_to_string(n).with_context(|| format!("cannot read profile {n}"))?;
            Ok(Profile::from_toml(&text, n)?)
        }
        Some(n) => Ok(Profile::builtin(n).help(
            "built-in profiles: generic-iso7816, ecard-sim; or give the path of a .toml profile",
        )?),
        None => {
            let builtins = Profile::builtins()?;
            select_profile(&builtins, atr).cloned().ok_or_else(|| {
                anyhow::anyhow!("no firmware profile matches the card's ATR {}", hex::encode_upper(atr))
            })
            .help("name one with --profile (generic-iso7816 works with most ISO/IEC 7816-4 cards)")
        }
    }
}

/// How to read the card: the transport's limits, tightened by the built-in profile that matches the
/// card's ATR (a reader may pass more than the card's own buffer holds).
pub fn read_options(transport: &dyn Transport) -> ReadOptions {
    let mut opts = ReadOptions::new(transport.limits());
    if let Ok(builtins) = Profile::builtins()
        && let Some(p) = select_profile(&builtins, transport.atr())
    {
        opts.limits = opts.limits.min(p.limits());
        opts.large_offsets = p.read.large_offsets;
    }
    opts
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))
}
