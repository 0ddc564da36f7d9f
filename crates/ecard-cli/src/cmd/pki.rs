//! `ecard pki init --dir DIR`: a CSCA and a Document Signer per ECARD.md section 6, as files;
//! and the loading of those files for the commands that sign or verify.
//!
//! Private keys are PKCS#8 PEM files with mode 0600, created exclusively: an existing PKI is never
//! overwritten without `--force`, because a lost CSCA key strands every card it vouches for.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::pki::{self, PkiConfig, SoftwareSigner};
use x509_cert::Certificate;

use crate::output::WithHelp;

/// `ecard pki ...`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a CSCA and a Document Signer (certificates and PKCS#8 keys) in a folder.
    Init(InitArgs),
}

/// Arguments of `ecard pki init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder to write csca.pem, csca.key, ds.pem and ds.key into.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Country code of the CSCA and the Document Signer.
    #[arg(long, default_value = "RU")]
    country: String,
    /// Replace an existing PKI in the folder.
    #[arg(long)]
    force: bool,
}

/// File names inside a PKI folder.
pub const CSCA_CERT: &str = "csca.pem";
const CSCA_KEY: &str = "csca.key";
/// The Document Signer certificate's file name.
pub const DS_CERT: &str = "ds.pem";
const DS_KEY: &str = "ds.key";

/// Runs `ecard pki ...`.
pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Init(args) => {
            let config = PkiConfig {
                country: args.country.clone(),
                ..PkiConfig::default()
            };
            create(
                &args.dir,
                &config,
                time::OffsetDateTime::now_utc(),
                args.force,
            )?;
            crate::out!(
                "created a CSCA and a Document Signer in {}",
                args.dir.display()
            );
            crate::out!(
                "  trust anchor for checkpoints: {}",
                args.dir.join(CSCA_CERT).display()
            );
            crate::out!("  keep {} offline; {} signs cards", CSCA_KEY, DS_KEY);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Generates a PKI with `config`, valid from `now`, and writes it into `dir`.
pub fn create(
    dir: &Path,
    config: &PkiConfig,
    now: time::OffsetDateTime,
    force: bool,
) -> anyhow::Result<()> {
    crate::cmd::card::create_dir(dir)?;
    let generated =
        pki::init(config, now, &mut rand_core::OsRng).context("cannot create the PKI")?;
    write_file(
        &dir.join(CSCA_CERT),
        generated.csca_pem()?.as_bytes(),
        0o644,
        force,
    )?;
    write_file(
        &dir.join(DS_CERT),
        generated.ds_pem()?.as_bytes(),
        0o644,
        force,
    )?;
    write_file(
        &dir.join(CSCA_KEY),
        generated.csca_key.to_pkcs8_pem()?.as_bytes(),
        0o600,
        force,
    )?;
    write_file(
        &dir.join(DS_KEY),
        generated.ds_key.to_pkcs8_pem()?.as_bytes(),
        0o600,
        force,
    )?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
        .help("the folder already holds a PKI? use another --dir, or --force to replace it")?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The Document Signer of a PKI folder: its key and certificate.
pub struct DocumentSigner {
    /// The signing key.
    pub key: SoftwareSigner,
    /// Its certificate.
    pub cert: Certificate,
}

/// Loads the Document Signer from `dir`.
pub fn load_signer(dir: &Path) -> anyhow::Result<DocumentSigner> {
    let help = format!("create a PKI with `ecard pki init --dir {}`", dir.display());
    let key_path = dir.join(DS_KEY);
    let pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read the Document Signer key {}", key_path.display()))
        .help(help.clone())?;
    let key = SoftwareSigner::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not a PKCS#8 P-256 key", key_path.display()))?;
    let cert = load_certificate(&dir.join(DS_CERT)).help(help)?;
    Ok(DocumentSigner { key, cert })
}

/// Loads one certificate (PEM or DER).
pub fn load_certificate(path: &Path) -> anyhow::Result<Certificate> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read certificate {}", path.display()))?;
    pki::read_certificate(&bytes)
        .with_context(|| format!("{} is not an X.509 certificate", path.display()))
}

/// Loads trust anchors: every certificate in every file (PEM bundles allowed).
pub fn load_trust(paths: &[PathBuf]) -> anyhow::Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read trust anchor {}", path.display()))?;
        out.extend(
            pki::read_certificates(&bytes)
                .with_context(|| format!("{} holds no X.509 certificate", path.display()))?,
        );
    }
    Ok(out)
}
