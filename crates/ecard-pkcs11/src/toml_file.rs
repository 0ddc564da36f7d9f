//! `pki.toml`: what a PKI folder whose keys live in a token says about them. The folder holds
//! only certificates and this file; no key material, no PIN.

use std::path::{Path, PathBuf};

/// The file name inside a PKI folder.
pub const PKI_TOML: &str = "pki.toml";

/// The contents of `pki.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiToml {
    /// The PKCS#11 module (shared library) path.
    pub module: PathBuf,
    /// The token label.
    pub token: String,
    /// The CSCA key label.
    pub csca_key: String,
    /// The label of the Document Signer key that signs now.
    pub ds_key: String,
    /// A demo token's SoftHSM2 configuration, relative to the folder (absent for a real token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softhsm2_conf: Option<PathBuf>,
    /// A demo token's PIN file (mode 0600), relative to the folder (absent for a real token,
    /// whose PIN comes from `ECARD_PKCS11_PIN` or `--pin-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
}

/// Why `pki.toml` could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiTomlError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid `pki.toml`.
    #[error("{path}: not a valid pki.toml: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

impl PkiToml {
    /// Reads `dir/pki.toml`; `Ok(None)` when the folder has none (a file-key folder).
    pub fn read(dir: &Path) -> Result<Option<PkiToml>, PkiTomlError> {
        let path = dir.join(PKI_TOML);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PkiTomlError::Io { path, source }),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| PkiTomlError::Syntax {
                path,
                reason: e.to_string(),
            })
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# The keys of this PKI live in the PKCS#11 token named here; this folder holds only\n\
             # certificates. The PIN comes from ECARD_PKCS11_PIN or --pin-file (or pin_file for a demo token).\n{body}"
        )
    }

    /// Resolves a path of the file relative to the folder.
    pub fn resolve(dir: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            dir.join(p)
        }
    }
}
