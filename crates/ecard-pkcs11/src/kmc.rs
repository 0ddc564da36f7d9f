//! The issuer's master key of the blanks' SCP03 transport keys (ECARD.md sections 11 and 12) held
//! in the token: an AES key, sensitive and not extractable, used only through `CKM_AES_CMAC`.
//! The per-card key derivation (the SCP03 KDF, one CMAC block per key for AES-128) runs inside
//! the token, so the KMC never leaves it; [`TokenKmc`] is the token's
//! [`ecard_chip::scp03::TransportKeys`], a swap for the file KMC.
//!
//! The KMC is shared with the card maker (who makes the blanks' keys from it), so it is imported
//! at a key ceremony rather than generated here.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use ecard_chip::scp03::{ScpError, StaticKeys, TransportKeys};

use crate::{KeyRef, Pkcs11Error, Token};

/// The KMC inside a token.
pub struct TokenKmc {
    token: Token,
    key: KeyRef,
    label: String,
}

impl std::fmt::Debug for TokenKmc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKmc")
            .field("token", &self.token.label())
            .field("label", &self.label)
            .finish()
    }
}

impl Token {
    /// Imports a 16-byte KMC under `label`: persistent, private, sensitive, not extractable,
    /// usable only to sign (CMAC). Refuses a label already in use.
    pub fn import_kmc(&self, label: &str, kmc: &[u8]) -> Result<TokenKmc, Pkcs11Error> {
        if kmc.len() != 16 {
            return Err(Pkcs11Error::Operation {
                module: self.inner.module.clone(),
                token: self.inner.token.clone(),
                label: label.to_string(),
                operation: "import the KMC",
                reason: format!("{} bytes; the token KMC is an AES-128 key", kmc.len()),
            });
        }
        {
            let session = self.session()?;
            self.label_free(&session, ObjectClass::SECRET_KEY, label)?;
            session
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Encrypt(false),
                    Attribute::Decrypt(false),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Value(kmc.to_vec()),
                ])
                .map_err(self.op(label, "import the KMC"))?;
        }
        self.kmc(label)
    }

    /// The KMC labelled `label`.
    pub fn kmc(&self, label: &str) -> Result<TokenKmc, Pkcs11Error> {
        Ok(TokenKmc {
            token: self.clone(),
            key: self.secret_key(label, "secret key (KMC)")?,
            label: label.to_string(),
        })
    }
}

impl TokenKmc {
    /// AES-CMAC of `data` under the KMC, computed inside the token.
    pub fn cmac(&self, data: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        self.token.use_key(&self.key, "AES-CMAC", |s, key| {
            s.sign(&Mechanism::AesCMac, key, data)
        })
    }
}

impl TransportKeys for TokenKmc {
    fn card_keys(&self, kdd: &[u8], _kvn: u8) -> Result<StaticKeys, ScpError> {
        // The SCP03 KDF (ECARD.md section 11): 11 zero bytes, the constant, 00, L = 0080,
        // counter 01, the KDD; one 16-byte CMAC block is the whole AES-128 key.
        let derive = |constant: u8| -> Result<Vec<u8>, ScpError> {
            let mut input = vec![0u8; 11];
            input.extend_from_slice(&[constant, 0x00, 0x00, 0x80, 0x01]);
            input.extend_from_slice(kdd);
            let mac = self
                .cmac(&input)
                .map_err(|e| ScpError::Malformed(format!("the token could not derive: {e}")))?;
            if mac.len() != 16 {
                return Err(ScpError::Malformed(format!(
                    "the token's AES-CMAC gave {} bytes",
                    mac.len()
                )));
            }
            Ok(mac)
        };
        Ok(StaticKeys {
            enc: derive(0x01)?,
            mac: derive(0x02)?,
            dek: derive(0x03)?,
        })
    }

    fn is_test_key(&self) -> bool {
        false
    }
}
