//! The Document Signer a station signs with now ([`DsSigning`]), and its rotation: when the
//! PKI is a token folder, each [`crate::chip::Pki::signing`] call looks at `pki.toml`, and when
//! `ecard pki rotate-ds` has named a new DS key there, the next job signs with it (its
//! certificate from `ds.pem`, its key from the already open token), after the same self-test
//! the station ran at start. A new DS that fails the self-test is not used: the old one goes
//! on and the problem is logged.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ecard_chip::pki::{self, Signer};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// One Document Signer: certificate, key and the certificate's hash for the audit log.
pub struct DsSigning {
    /// The Document Signer certificate put in EF.SOD.
    pub ds: Certificate,
    /// Its private key: in a PKCS#11 token, or (insecure, development) a file key.
    pub ds_key: Arc<dyn Signer + Send + Sync>,
    /// SHA-256 (hex) of the DS certificate's DER, for the audit log.
    pub ds_sha256: String,
}

impl DsSigning {
    /// Pairs a certificate with its key.
    pub fn new(ds: Certificate, ds_key: Arc<dyn Signer + Send + Sync>) -> Result<Self, String> {
        use der::Encode;
        let der = ds
            .to_der()
            .map_err(|e| format!("certificate does not re-encode: {e}"))?;
        Ok(DsSigning {
            ds,
            ds_key,
            ds_sha256: hex::encode(Sha256::digest(&der)),
        })
    }
}

/// Where a token folder's next DS comes from.
pub(crate) struct Rotation {
    pub(crate) dir: PathBuf,
    pub(crate) token: ecard_pkcs11::Token,
    /// The DS key label in use.
    pub(crate) label: Mutex<String>,
}

impl Rotation {
    /// The new DS when `pki.toml` names another key than the one in use and it passes the
    /// self-test; `None` otherwise (a failure is logged, the label remembered so it is not
    /// retried for every job).
    pub(crate) fn next(&self, trust: &[Certificate]) -> Option<DsSigning> {
        let toml = ecard_pkcs11::PkiToml::read(&self.dir).ok().flatten()?;
        let mut label = self.label.lock().unwrap_or_else(|p| p.into_inner());
        if toml.ds_key == *label {
            return None;
        }
        let old = std::mem::replace(&mut *label, toml.ds_key.clone());
        let loaded = (|| {
            let bytes = std::fs::read(self.dir.join("ds.pem")).map_err(|e| e.to_string())?;
            let ds = pki::read_certificate(&bytes).map_err(|e| e.to_string())?;
            let key = self.token.signer(&toml.ds_key).map_err(|e| e.to_string())?;
            pki::self_test(trust, &ds, &key, time::OffsetDateTime::now_utc())
                .map_err(|e| e.to_string())?;
            DsSigning::new(ds, Arc::new(key))
        })();
        match loaded {
            Ok(next) => {
                tracing::info!(from = %old, to = %toml.ds_key, "Document Signer rotated");
                Some(next)
            }
            Err(e) => {
                tracing::error!(label = %toml.ds_key, "the next Document Signer is not used: {e}");
                None
            }
        }
    }
}
