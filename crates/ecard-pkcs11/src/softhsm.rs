//! A SoftHSM2 token inside a folder: its own `softhsm2.conf` and token directory (mode 0700), a
//! random PIN in a 0600 file. For the demo, tests and a first station; a production station
//! names a real module and token in `pki.toml`.
//!
//! SoftHSM2 reads its configuration from `SOFTHSM2_CONF` when the module loads, so a process
//! that uses such a token must have that variable set before it starts (the CLI re-runs itself
//! with it); [`init_token`] runs `softhsm2-util` with it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Debian's SoftHSM2 module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Why a SoftHSM2 token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoftHsmError {
    /// SoftHSM2 is not installed.
    #[error(
        "SoftHSM2 is not installed ({what} missing); install it with `apt-get install softhsm2`"
    )]
    NotInstalled {
        /// The missing module or program.
        what: String,
    },
    /// A file or folder could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `softhsm2-util` failed.
    #[error("softhsm2-util --init-token failed for token {token:?}: {reason}")]
    Init {
        /// The token label.
        token: String,
        /// What it printed.
        reason: String,
    },
}

/// A token made by [`init_token`].
#[derive(Debug, Clone)]
pub struct FolderToken {
    /// The `softhsm2.conf` to put in `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The file holding the user PIN (0600).
    pub pin_file: PathBuf,
    /// The token label.
    pub label: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SoftHsmError + '_ {
    move |source| SoftHsmError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SoftHsmError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(path))
}

/// Makes a SoftHSM2 token labelled `label` under `dir` (`softhsm2.conf`, `tokens/` 0700,
/// `token.pin` 0600), with a random user PIN and a random SO PIN that is not kept.
pub fn init_token(dir: &Path, label: &str) -> Result<FolderToken, SoftHsmError> {
    if !Path::new(SOFTHSM2_MODULE).exists() {
        return Err(SoftHsmError::NotInstalled {
            what: SOFTHSM2_MODULE.into(),
        });
    }
    let tokens = dir.join("tokens");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&tokens)
        .map_err(io(&tokens))?;
    let conf = dir.join("softhsm2.conf");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
        tokens.display()
    );
    write_new(&conf, text.as_bytes(), 0o600)?;
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let pin = hex::encode(&bytes[..8]);
    let so_pin = hex::encode(&bytes[8..]);
    let pin_file = dir.join("token.pin");
    write_new(&pin_file, pin.as_bytes(), 0o600)?;
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", label, "--pin", &pin])
        .args(["--so-pin", &so_pin])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SoftHsmError::NotInstalled {
                what: "softhsm2-util".into(),
            },
            _ => SoftHsmError::Init {
                token: label.into(),
                reason: e.to_string(),
            },
        })?;
    if !out.status.success() {
        return Err(SoftHsmError::Init {
            token: label.into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(FolderToken {
        conf,
        pin_file,
        label: label.into(),
    })
}
