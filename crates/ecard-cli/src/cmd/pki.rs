//! `ecard pki init --dir DIR`: a CSCA and a Document Signer per ECARD.md sections 6 and 12, and
//! the loading of a PKI folder for the commands that sign or verify.
//!
//! With `--pkcs11-module` and `--token-label` the keys are generated inside the token and the
//! folder receives only certificates and `pki.toml` (module, token, key labels); `ecard pki
//! rotate-ds` adds the next Document Signer. Without them the keys are PKCS#8 PEM files (mode
//! 0600): insecure, for development, and every signing command says so. Files are created
//! exclusively: an existing PKI is never overwritten without `--force`, because a lost CSCA key
//! strands every card it vouches for.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::pki::{self, PkiConfig, Signer, SoftwareSigner};
use ecard_pkcs11::{PKI_TOML, PkiToml, Token};
use x509_cert::Certificate;

use crate::output::WithHelp;

/// `ecard pki ...`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a CSCA and a Document Signer: keys in a PKCS#11 token (--pkcs11-module,
    /// --token-label) or, for development only, PKCS#8 key files.
    Init(InitArgs),
    /// Issue the next Document Signer: a new key in the token, a new ds.pem; the old DS
    /// certificates stay in the folder (ds-<label>.pem).
    RotateDs(RotateArgs),
    /// Import the issuer's master key of the blanks' SCP03 transport keys (KMC) into the
    /// folder's token at a key ceremony: sensitive, not extractable, used only for AES-CMAC.
    ImportKmc(ImportKmcArgs),
}

/// Arguments of `ecard pki import-kmc`.
#[derive(Debug, clap::Args)]
pub struct ImportKmcArgs {
    /// The PKI folder (with pki.toml).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// A file holding the KMC in hex (32 digits; mode 0600). Shred it after the ceremony.
    #[arg(long, value_name = "FILE")]
    kmc_file: PathBuf,
    /// The key's label in the token (the station's `kmc_label`).
    #[arg(long, value_name = "LABEL", default_value = "ecard-kmc")]
    label: String,
    /// A file holding the token PIN (else ECARD_PKCS11_PIN).
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
}

/// Arguments of `ecard pki rotate-ds`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The PKI folder (with pki.toml).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// A file holding the token PIN (else ECARD_PKCS11_PIN).
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
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
    /// The PKCS#11 module (shared library) whose token holds the keys.
    #[arg(long, value_name = "PATH", requires = "token_label")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token to create the keys in.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    token_label: Option<String>,
    /// A file holding the token PIN (else ECARD_PKCS11_PIN). Never the PIN itself.
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
}

pub use ecard_pkcs11::{CSCA_LABEL, DS_LABEL};

/// File names inside a PKI folder.
pub const CSCA_CERT: &str = "csca.pem";
const CSCA_KEY: &str = "csca.key";
/// The Document Signer certificate's file name.
pub const DS_CERT: &str = "ds.pem";
const DS_KEY: &str = "ds.key";

/// Runs `ecard pki ...`.
pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::ImportKmc(args) => {
            reexec_for_token(&args.dir)?;
            let kmc =
                ecard_station::chip::load_kmc_file(&args.kmc_file).map_err(anyhow::Error::msg)?;
            let bytes = kmc.value_for_import();
            let (_, token) = ecard_pkcs11::open_folder(&args.dir, args.pin_file.as_deref())?;
            token.import_kmc(&args.label, &bytes)?;
            crate::out!(
                "imported the KMC into token {:?} as {:?}; set kmc_label = {:?} in station.toml",
                token.label(),
                args.label,
                args.label
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::RotateDs(args) => {
            let label = rotate_ds(
                &args.dir,
                args.pin_file.as_deref(),
                &PkiConfig::default(),
                time::OffsetDateTime::now_utc(),
            )?;
            crate::out!(
                "issued the next Document Signer (key {label:?} in the token), {}",
                args.dir.join(DS_CERT).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            let config = PkiConfig {
                country: args.country.clone(),
                ..PkiConfig::default()
            };
            if let (Some(module), Some(token)) = (&args.pkcs11_module, &args.token_label) {
                let toml = PkiToml {
                    module: module.clone(),
                    token: token.clone(),
                    csca_key: CSCA_LABEL.into(),
                    ds_key: DS_LABEL.into(),
                    softhsm2_conf: None,
                    pin_file: None,
                };
                create_in_token(
                    &args.dir,
                    &config,
                    time::OffsetDateTime::now_utc(),
                    &toml,
                    args.pin_file.as_deref(),
                    args.force,
                )?;
                crate::out!(
                    "created a CSCA and a Document Signer in token {token:?}; certificates and {PKI_TOML} in {}",
                    args.dir.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            crate::out!(
                "WARNING: {}; use --pkcs11-module and --token-label",
                pki::INSECURE_FILE_KEY
            );
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

/// Generates CSCA and DS keys inside the token `toml` names (labels from `toml`) and writes the
/// certificates and `pki.toml` into `dir`. No key material touches the folder.
pub fn create_in_token(
    dir: &Path,
    config: &PkiConfig,
    now: time::OffsetDateTime,
    toml: &PkiToml,
    pin_file: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    crate::cmd::card::create_dir(dir)?;
    let pin = ecard_pkcs11::read_pin(dir, toml, pin_file)?;
    let token = Token::open(&toml.module, &toml.token, &pin)?;
    ecard_pkcs11::token_pki(dir, config, now, toml, &token, force)
        .help("the folder already holds a PKI? use another --dir, or --force to replace it")?;
    Ok(())
}

/// Where a folder token's SoftHSM2 configuration lives under a PKI folder.
pub fn demo_token_conf(pki_dir: &Path) -> PathBuf {
    ecard_pkcs11::folder_token_conf(pki_dir)
}

/// Before anything else of a command that will make a folder token under `pki_dir`: fails when
/// SoftHSM2 is missing (naming the package), and runs this command again with `SOFTHSM2_CONF`
/// pointing at the token-to-be when it is not set so (SoftHSM2 reads it when it loads).
pub fn reexec_for_new_token(pki_dir: &Path) -> anyhow::Result<()> {
    if !Path::new(ecard_pkcs11::softhsm::SOFTHSM2_MODULE).exists() {
        anyhow::bail!(
            "SoftHSM2 is not installed ({} missing): the demo keeps its keys in a SoftHSM2 token; install it with `apt-get install softhsm2`",
            ecard_pkcs11::softhsm::SOFTHSM2_MODULE
        );
    }
    let conf = demo_token_conf(pki_dir);
    if std::env::var_os("SOFTHSM2_CONF")
        .map(PathBuf::from)
        .as_deref()
        == Some(conf.as_path())
    {
        return Ok(());
    }
    reexec_with(&conf)
}

/// Makes a SoftHSM2 token in `pki_dir/token` (0700, PIN in a 0600 file) and a PKI in it:
/// certificates and `pki.toml` only in `pki_dir`. The process must run with
/// [`demo_token_conf`] in `SOFTHSM2_CONF` ([`reexec_for_new_token`]).
pub fn create_demo_token_pki(
    pki_dir: &Path,
    config: &PkiConfig,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    ecard_pkcs11::folder_token_pki(pki_dir, config, now)?;
    crate::out!(
        "keys in a SoftHSM2 token made for this folder: {} (PIN in token/token.pin, mode 0600)",
        pki_dir.join("token").display()
    );
    Ok(())
}

/// `ecard pki rotate-ds`: a new DS key in the token (label `ecard-ds-<n+1>`), its certificate
/// under the folder's CSCA; the current ds.pem is kept as `ds-<old label>.pem`, then ds.pem and
/// pki.toml are replaced (each by a rename, so a station reading the folder sees old or new).
pub fn rotate_ds(
    dir: &Path,
    pin_file: Option<&Path>,
    config: &PkiConfig,
    now: time::OffsetDateTime,
) -> anyhow::Result<String> {
    reexec_for_token(dir)?;
    let (mut toml, token) = ecard_pkcs11::open_folder(dir, pin_file)
        .help("rotate-ds needs a PKI folder whose keys are in a token (ecard pki init --pkcs11-module ...)")?;
    let csca = load_certificate(&dir.join(CSCA_CERT))?;
    let csca_key = token.signer(&toml.csca_key)?;
    let next = next_label(&toml.ds_key);
    let ds_key = token.generate(&next)?;
    let ds = pki::next_ds(
        config,
        &csca,
        &csca_key,
        &ds_key.public_key(),
        now,
        &mut rand_core::OsRng,
    )
    .context("cannot issue the next Document Signer")?;
    let old = dir.join(format!("ds-{}.pem", toml.ds_key));
    std::fs::copy(dir.join(DS_CERT), &old)
        .with_context(|| format!("cannot keep the old DS certificate as {}", old.display()))?;
    toml.ds_key = next.clone();
    replace_file(&dir.join(DS_CERT), pki::cert_pem(&ds)?.as_bytes())?;
    replace_file(&dir.join(PKI_TOML), toml.to_text().as_bytes())?;
    Ok(next)
}

fn next_label(label: &str) -> String {
    let digits = label.len() - label.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, n) = label.split_at(label.len() - digits);
    match n.parse::<u64>() {
        Ok(n) => format!("{stem}{}", n + 1),
        Err(_) => format!("{label}-2"),
    }
}

fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_file(&tmp, bytes, 0o644, false)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// When `dir` holds a demo SoftHSM2 token and this process runs without its `SOFTHSM2_CONF`,
/// runs this same command again with it in its place (exec; SoftHSM2 reads the variable when
/// the module loads, and a Rust program cannot safely set its own environment).
pub fn reexec_for_token(dir: &Path) -> anyhow::Result<()> {
    let Some(conf) = ecard_pkcs11::needs_softhsm_conf(dir)? else {
        return Ok(());
    };
    if std::env::var_os("ECARD_REEXEC").is_some() {
        anyhow::bail!(
            "the SoftHSM2 token of {} needs SOFTHSM2_CONF={}",
            dir.display(),
            conf.display()
        );
    }
    reexec_with(&conf)
}

fn reexec_with(conf: &Path) -> anyhow::Result<()> {
    if std::env::var_os("ECARD_REEXEC").is_some() {
        anyhow::bail!("SOFTHSM2_CONF must be {}", conf.display());
    }
    let exe = std::env::current_exe().context("cannot find the ecard binary to run again")?;
    // exec: the same process (pid, signals, exit code) goes on with the variable set.
    let e = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("SOFTHSM2_CONF", conf)
            .env("ECARD_REEXEC", "1"),
    );
    Err(e).context("cannot run ecard again with SOFTHSM2_CONF")
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
    /// The signing key (in a token, or an insecure file key).
    pub key: Box<dyn Signer + Send + Sync>,
    /// Its certificate.
    pub cert: Certificate,
}

/// Loads the Document Signer from `dir`: from the token `pki.toml` names (PIN from the folder's
/// demo PIN file or `ECARD_PKCS11_PIN`), or from `ds.key` (insecure, said on stderr).
pub fn load_signer(dir: &Path) -> anyhow::Result<DocumentSigner> {
    let help = format!("create a PKI with `ecard pki init --dir {}`", dir.display());
    let cert = load_certificate(&dir.join(DS_CERT)).help(help.clone())?;
    if dir.join(PKI_TOML).exists() {
        reexec_for_token(dir)?;
        let (toml, token) = ecard_pkcs11::open_folder(dir, None)?;
        let key = token.signer(&toml.ds_key)?;
        return Ok(DocumentSigner {
            key: Box::new(key),
            cert,
        });
    }
    let key_path = dir.join(DS_KEY);
    let pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read the Document Signer key {}", key_path.display()))
        .help(help)?;
    let key = SoftwareSigner::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not a PKCS#8 P-256 key", key_path.display()))?;
    eprintln!("warning: signing with {}: {key}", key_path.display());
    Ok(DocumentSigner {
        key: Box::new(key),
        cert,
    })
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
