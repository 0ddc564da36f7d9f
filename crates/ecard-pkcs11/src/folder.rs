//! A PKI folder whose keys live in a token: `pki.toml` plus certificates. [`open_folder`] reads
//! `pki.toml`, finds the PIN (the folder's demo PIN file, `--pin-file`, or `ECARD_PKCS11_PIN`)
//! and logs in; [`needs_softhsm_conf`] tells a process that it must run with `SOFTHSM2_CONF`
//! pointing at the folder's demo token first.

use std::path::{Path, PathBuf};

use crate::{Pkcs11Error, PkiToml, PkiTomlError, Token};

/// The environment variable holding the token PIN.
pub const PIN_ENV: &str = "ECARD_PKCS11_PIN";

/// Why a token folder could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// `pki.toml` is unreadable or invalid.
    #[error(transparent)]
    Toml(#[from] PkiTomlError),
    /// The folder has no `pki.toml`.
    #[error("{dir}: no pki.toml (keys are not in a token)")]
    NotToken {
        /// The folder.
        dir: PathBuf,
    },
    /// No PIN was given.
    #[error(
        "token {token:?} of {dir}: no PIN; set {PIN_ENV} or pass --pin-file FILE (never the PIN itself)"
    )]
    NoPin {
        /// The folder.
        dir: PathBuf,
        /// The token label.
        token: String,
    },
    /// The PIN file could not be read.
    #[error("PIN file {path}: {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The demo token needs `SOFTHSM2_CONF` set before the module loads.
    #[error("the SoftHSM2 token of {dir} needs SOFTHSM2_CONF={conf}")]
    Conf {
        /// The folder.
        dir: PathBuf,
        /// The configuration file.
        conf: PathBuf,
    },
    /// The token refused.
    #[error(transparent)]
    Token(#[from] Pkcs11Error),
}

/// The `SOFTHSM2_CONF` the process must run with for `dir`'s demo token, when it does not yet.
pub fn needs_softhsm_conf(dir: &Path) -> Result<Option<PathBuf>, PkiTomlError> {
    let Some(toml) = PkiToml::read(dir)? else {
        return Ok(None);
    };
    let Some(conf) = toml.softhsm2_conf.as_deref() else {
        return Ok(None);
    };
    let conf = PkiToml::resolve(dir, conf);
    let conf = std::fs::canonicalize(&conf).unwrap_or(conf);
    let current = std::env::var_os("SOFTHSM2_CONF")
        .map(PathBuf::from)
        .map(|c| std::fs::canonicalize(&c).unwrap_or(c));
    if current.as_deref() == Some(conf.as_path()) {
        Ok(None)
    } else {
        Ok(Some(conf))
    }
}

/// Reads the PIN for `toml`'s token: its own PIN file (demo token), `pin_file`, or
/// `ECARD_PKCS11_PIN`.
pub fn read_pin(
    dir: &Path,
    toml: &PkiToml,
    pin_file: Option<&Path>,
) -> Result<String, FolderError> {
    let file = toml
        .pin_file
        .as_deref()
        .map(|p| PkiToml::resolve(dir, p))
        .or_else(|| pin_file.map(Path::to_owned));
    if let Some(path) = file {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|source| FolderError::PinFile { path, source });
    }
    std::env::var(PIN_ENV).map_err(|_| FolderError::NoPin {
        dir: dir.to_owned(),
        token: toml.token.clone(),
    })
}

/// Opens the token named by `dir/pki.toml` and logs in.
pub fn open_folder(dir: &Path, pin_file: Option<&Path>) -> Result<(PkiToml, Token), FolderError> {
    let toml = PkiToml::read(dir)?.ok_or_else(|| FolderError::NotToken {
        dir: dir.to_owned(),
    })?;
    if let Some(conf) = needs_softhsm_conf(dir)? {
        return Err(FolderError::Conf {
            dir: dir.to_owned(),
            conf,
        });
    }
    let pin = read_pin(dir, &toml, pin_file)?;
    let token = Token::open(&toml.module, &toml.token, &pin)?;
    Ok((toml, token))
}
