//! A PKI whose keys are generated inside a token: CSCA and DS keys made by the token, their
//! certificates issued through the `Signer` trait, and only
//! certificates and `pki.toml` written into the folder. A folder token ([`folder_token_pki`])
//! is the same inside a SoftHSM2 token made for the folder (demo, a first station).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ecard_chip::pki::{self, PkiConfig};

use crate::softhsm::{SOFTHSM2_MODULE, SoftHsmError, init_token};
use crate::{PKI_TOML, Pkcs11Error, PkiToml, Token};

/// The CSCA key's label in a token.
pub const CSCA_LABEL: &str = "ecard-csca";
/// The first Document Signer key's label in a token.
pub const DS_LABEL: &str = "ecard-ds-1";
/// The token label of a folder's own SoftHSM2 token.
pub const FOLDER_TOKEN: &str = "ecard-demo";

/// Why a token PKI could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The token refused.
    #[error(transparent)]
    Token(#[from] Pkcs11Error),
    /// The SoftHSM2 token could not be made.
    #[error(transparent)]
    SoftHsm(#[from] SoftHsmError),
    /// A certificate could not be issued.
    #[error("cannot issue the certificates: {0}")]
    Pki(#[from] pki::PkiError),
    /// A file could not be written (an existing PKI is never overwritten without force).
    #[error("cannot create {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` with `mode`; refuses an existing file unless `force`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), CreateError> {
    let io = |source| CreateError::Io {
        path: path.to_owned(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)
}

/// Generates the keys `toml` labels inside the logged-in `token`, issues CSCA and DS
/// certificates and writes `csca.pem`, `ds.pem` and `pki.toml` into `dir`.
pub fn token_pki(
    dir: &Path,
    config: &PkiConfig,
    now: time::OffsetDateTime,
    toml: &PkiToml,
    token: &Token,
    force: bool,
) -> Result<(), CreateError> {
    let csca_key = token.generate(&toml.csca_key)?;
    let ds_key = token.generate(&toml.ds_key)?;
    let (csca, ds) = pki::init_with(config, now, &mut rand_core::OsRng, &csca_key, &ds_key)?;
    write_file(
        &dir.join("csca.pem"),
        pki::cert_pem(&csca)?.as_bytes(),
        0o644,
        force,
    )?;
    write_file(
        &dir.join("ds.pem"),
        pki::cert_pem(&ds)?.as_bytes(),
        0o644,
        force,
    )?;
    write_file(&dir.join(PKI_TOML), toml.to_text().as_bytes(), 0o644, force)
}

/// The `SOFTHSM2_CONF` of the folder token under `pki_dir` (absolute).
pub fn folder_token_conf(pki_dir: &Path) -> PathBuf {
    std::path::absolute(pki_dir)
        .unwrap_or_else(|_| pki_dir.to_owned())
        .join("token")
        .join("softhsm2.conf")
}

/// True when this process runs with `SOFTHSM2_CONF` naming `pki_dir`'s folder token.
pub fn runs_with_folder_token(pki_dir: &Path) -> bool {
    std::env::var_os("SOFTHSM2_CONF").map(PathBuf::from) == Some(folder_token_conf(pki_dir))
}

/// Makes a SoftHSM2 token in `pki_dir/token` (0700, PIN in a 0600 file) and a PKI in it. The
/// process must run with [`folder_token_conf`] in `SOFTHSM2_CONF`.
pub fn folder_token_pki(
    pki_dir: &Path,
    config: &PkiConfig,
    now: time::OffsetDateTime,
) -> Result<(), CreateError> {
    std::fs::create_dir_all(pki_dir).map_err(|source| CreateError::Io {
        path: pki_dir.to_owned(),
        source,
    })?;
    let made = init_token(&pki_dir.join("token"), FOLDER_TOKEN)?;
    let toml = PkiToml {
        module: SOFTHSM2_MODULE.into(),
        token: made.label.clone(),
        csca_key: CSCA_LABEL.into(),
        ds_key: DS_LABEL.into(),
        softhsm2_conf: Some(PathBuf::from("token/softhsm2.conf")),
        pin_file: Some(PathBuf::from("token/token.pin")),
    };
    let pin = crate::read_pin(pki_dir, &toml, None).map_err(|e| match e {
        crate::FolderError::PinFile { path, source } => CreateError::Io { path, source },
        other => CreateError::Io {
            path: made.pin_file.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    let token = Token::open(&toml.module, &toml.token, &pin)?;
    token_pki(pki_dir, config, now, &toml, &token, false)
}
