//! `ecard sim ...`: simulated cards. `new` makes a blank card image; `serve` puts a card image into
//! a real PC/SC reader through vsmartcard's vpcd driver, so that every PC/SC tool (ours, OpenSC,
//! pcsc_scan) sees it as a card in `Virtual PCD 00 00` (port 35963) or `Virtual PCD 00 01` (35964).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::profile::Profile;
use ecard_sim::{Card, CardImage, SimSpec};
use ecard_transport::{StopHandle, VirtualCard, VpcdError, serve_card};

use crate::output::WithHelp;

/// `ecard sim ...`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a blank simulated card (an image file) for a firmware profile.
    New(NewArgs),
    /// Insert a simulated card into the vpcd virtual reader of a running pcscd.
    Serve(ServeArgs),
}

/// Arguments of `ecard sim new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The card image file to create.
    #[arg(value_name = "CARD.img")]
    card: PathBuf,
    /// Firmware profile of the simulated card OS (ecard-sim, generic-iso7816, or a .toml file).
    #[arg(long, value_name = "NAME", default_value = "ecard-sim")]
    profile: String,
    /// Replace an existing image.
    #[arg(long)]
    force: bool,
    /// The issuer's master key (hex) the card maker diversifies the blank's SCP03 transport keys
    /// from, over the blank's serial. Default: the GlobalPlatform test key (demos and tests).
    #[arg(long, value_name = "HEX")]
    kmc: Option<String>,
    /// Append the blank's manifest line (`serial,batch,key_version`) to this file, as the card
    /// maker's delivery note (`ecard stock import` takes it).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// The production batch written to the manifest.
    #[arg(long, value_name = "NAME", default_value = "sim")]
    batch: String,
}

/// Arguments of `ecard sim serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// vpcd's port: 35963 is reader `Virtual PCD 00 00`, 35964 is `Virtual PCD 00 01`.
    #[arg(long, default_value_t = 35963)]
    port: u16,
    /// vpcd's host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The card image; a blank card is created there when the file does not exist.
    #[arg(long, value_name = "CARD.img")]
    card: PathBuf,
    /// Firmware profile for a card created here.
    #[arg(long, value_name = "NAME", default_value = "ecard-sim")]
    profile: String,
}

/// Runs `ecard sim ...`.
pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::New(args) => {
            if args.card.exists() && !args.force {
                return Err(anyhow::anyhow!("{} already exists", args.card.display()))
                    .help("choose another file name, or add --force to replace the card");
            }
            let kmc = match &args.kmc {
                Some(h) => {
                    let k = hex::decode(h.trim())
                        .context("--kmc is not hex")
                        .help("give the KMC as 32, 48 or 64 hex digits")?;
                    anyhow::ensure!(
                        matches!(k.len(), 16 | 24 | 32),
                        "--kmc is {} bytes; an AES key is 16, 24 or 32",
                        k.len()
                    );
                    k
                }
                None => ecard_chip::scp03::TEST_KMC.to_vec(),
            };
            let (serial, kvn) = new_blank_keyed(&args.card, &args.profile, &kmc)?;
            crate::out!("blank card ({}) in {}", args.profile, args.card.display());
            if let (Some(m), Some(serial)) = (&args.manifest, serial) {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(m)
                    .with_context(|| format!("cannot open the manifest {}", m.display()))?;
                writeln!(f, "{serial},{},{kvn}", args.batch)
                    .with_context(|| format!("cannot write the manifest {}", m.display()))?;
                crate::out!("  serial {serial} added to {}", m.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(args),
    }
}

/// Writes a blank card for `profile` to `path` whose SCP03 keys come from `kmc` over a random
/// serial; returns the serial (for a card OS with SCP03) and the key version.
pub fn new_blank_keyed(
    path: &Path,
    profile: &str,
    kmc: &[u8],
) -> anyhow::Result<(Option<String>, u8)> {
    use rand_core::RngCore;
    let profile: Profile = super::card::choose_profile(Some(profile), &[])?;
    let mut kdd = [0u8; 10];
    rand_core::OsRng.fill_bytes(&mut kdd);
    let card = Card::new_blank_keyed(&SimSpec::from_profile(&profile), kmc, &kdd);
    let serial = card.serial();
    card.image()
        .save(path)
        .with_context(|| format!("cannot write card image {}", path.display()))?;
    Ok((serial, profile.transport.key_version))
}

/// Writes a blank card for `profile` to `path` (transport keys from the test KMC).
pub fn new_blank(path: &Path, profile: &str) -> anyhow::Result<()> {
    let profile: Profile = super::card::choose_profile(Some(profile), &[])?;
    let card = Card::new_blank(&SimSpec::from_profile(&profile));
    card.image()
        .save(path)
        .with_context(|| format!("cannot write card image {}", path.display()))
}

/// The simulated card behind vpcd: every command that can change the card is followed by an
/// atomic save of the image, so a killed `serve` never leaves a card that differs from its file.
/// Those saves skip fsync (a killed process loses nothing in the page cache; an fsync per write
/// would cost milliseconds per APDU); power-off and removal save durably.
struct ServedCard {
    card: Card,
    path: PathBuf,
}

impl ServedCard {
    /// Saves the image; `durable` adds an fsync (on power-off and removal, not after every write).
    fn save(&self, durable: bool) {
        let image = self.card.image();
        let saved = if durable {
            image.save(&self.path)
        } else {
            image.save_unsynced(&self.path)
        };
        if let Err(e) = saved {
            // The card keeps answering: the reader's side must not see a storage problem as a
            // card fault. The operator sees this line and the file is stale until the next save.
            tracing::error!("cannot save card image {}: {e}", self.path.display());
            eprintln!("error: cannot save card image {}: {e}", self.path.display());
        }
    }
}

/// INS bytes after which the card may have changed: CREATE FILE, UPDATE BINARY (even and odd),
/// GENERATE ASYMMETRIC KEY PAIR, ACTIVATE FILE, DELETE FILE, ERASE BINARY.
const WRITING_INS: [u8; 7] = [0xE0, 0xD6, 0xD7, 0x46, 0x44, 0xE4, 0x0E];

impl VirtualCard for ServedCard {
    fn atr(&self) -> Vec<u8> {
        self.card.atr().to_vec()
    }
    fn power_on(&mut self) {
        self.card.power_on();
    }
    fn power_off(&mut self) {
        self.card.power_off();
        self.save(true);
    }
    fn reset(&mut self) {
        self.card.reset();
    }
    fn process(&mut self, capdu: &[u8]) -> Vec<u8> {
        let rapdu = self.card.process(capdu);
        if capdu.get(1).is_some_and(|ins| WRITING_INS.contains(ins)) {
            self.save(false);
        }
        rapdu
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("{}:{} is not a host address and port", args.host, args.port))?;
    if !args.card.exists() {
        new_blank(&args.card, &args.profile)?;
        eprintln!(
            "created a blank card ({}) in {}",
            args.profile,
            args.card.display()
        );
    }
    let image = CardImage::load(&args.card)
        .with_context(|| format!("cannot open card image {}", args.card.display()))?;
    let mut card = ServedCard {
        card: image.into_card(),
        path: args.card.clone(),
    };
    eprintln!(
        "serving {} to vpcd at {addr}; stop with Ctrl-C (the card is removed)",
        args.card.display()
    );
    loop {
        // A new handle for each insertion: a stopped handle stays stopped.
        let stop = StopHandle::new();
        match serve_card(addr, &mut card, &stop) {
            Ok(stats) => {
                card.save(true);
                eprintln!("card removed after {} APDUs", stats.apdus);
                return Ok(ExitCode::SUCCESS);
            }
            Err(VpcdError::ConnectionClosed { apdus, .. }) => {
                // pcscd stopped or restarted: insert the card again when vpcd listens again.
                eprintln!("vpcd closed the connection after {apdus} APDUs; reconnecting");
                card.save(true);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot serve the card to vpcd at {addr}"))
                    .help("start pcscd with the vpcd driver: `tools/virtual-reader.sh start --no-card`");
            }
        }
    }
}
