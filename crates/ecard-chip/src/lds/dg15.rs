//! DG15: the chip's Active Authentication public key (tag `6F`), a DER SubjectPublicKeyInfo.
//!
//! The e-card's chip holds a P-256 key; both the named curve and explicit parameters are read, and
//! anything that is not P-256 is refused when the key is asked for, not when the file is parsed.

use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;

use super::util::{outer_der, wrap_der};
use super::{EfId, LdsError};
use crate::pki::{KeyError, public_key_from_spki, spki_named};

const FILE: EfId = EfId::Dg15;

/// The content of DG15.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Dg15 {
    /// The Active Authentication public key.
    pub spki: SubjectPublicKeyInfoOwned,
}

impl Dg15 {
    /// DG15 for a P-256 key, named curve.
    pub fn for_key(key: &p256::PublicKey) -> Self {
        Dg15 {
            spki: spki_named(key),
        }
    }

    /// The P-256 key.
    pub fn public_key(&self) -> Result<p256::PublicKey, KeyError> {
        public_key_from_spki(&self.spki)
    }

    /// The file's bytes: `6F` around the DER SubjectPublicKeyInfo.
    pub fn build(&self) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        let der = self
            .spki
            .to_der()
            .expect("a decoded or built SubjectPublicKeyInfo re-encodes");
        wrap_der(FILE, &der)
    }

    /// Parses DG15.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let value = outer_der(FILE, bytes)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(value).map_err(|e| LdsError::Asn1 {
            file: FILE,
            what: "SubjectPublicKeyInfo",
            problem: e.to_string(),
        })?;
        Ok(Dg15 { spki })
    }
}
