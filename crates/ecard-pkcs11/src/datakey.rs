//! The key-encryption key of personal data at rest (ECARD.md section 12) held in the token: an
//! AES-256 key generated inside it, sensitive and not extractable, used only to encrypt and
//! decrypt the station's per-record data keys with `CKM_AES_GCM`. The records themselves are
//! encrypted on the host with those data keys; only 32-byte keys cross into the token, so a
//! record costs one token call to seal and one to open.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use rand_core::{OsRng, RngCore};

use crate::{KeyRef, Pkcs11Error, Token};

/// What a generated AES key may do: encrypt and decrypt, or sign (CMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AesUse {
    Encrypt,
    Mac,
}

/// Bytes of the GCM nonce the token is given.
const IV: usize = 12;
/// Bits of the GCM tag.
const TAG_BITS: u64 = 128;

/// The data key-encryption key inside a token.
pub struct TokenDataKey {
    token: Token,
    key: KeyRef,
    label: String,
}

impl std::fmt::Debug for TokenDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenDataKey")
            .field("token", &self.token.label())
            .field("label", &self.label)
            .finish()
    }
}

impl Token {
    /// Generates an AES-256 key labelled `label` inside the token: persistent, private,
    /// sensitive, not extractable, usable only to encrypt and decrypt. Refuses a label in use.
    pub fn generate_data_key(&self, label: &str) -> Result<TokenDataKey, Pkcs11Error> {
        self.generate_aes(label, AesUse::Encrypt, "generate the data key")?;
        self.data_key(label)
    }

    /// Generates an AES-256 key labelled `label` inside the token (persistent, private,
    /// sensitive, not extractable) for one use only; refuses a label in use.
    fn generate_aes(
        &self,
        label: &str,
        usage: AesUse,
        operation: &'static str,
    ) -> Result<(), Pkcs11Error> {
        let session = self.session()?;
        self.label_free(&session, ObjectClass::SECRET_KEY, label)?;
        let crypt = usage == AesUse::Encrypt;
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(crypt),
                    Attribute::Decrypt(crypt),
                    Attribute::Sign(!crypt),
                    Attribute::Wrap(false),
                    Attribute::Unwrap(false),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .map_err(self.op(label, operation))?;
        Ok(())
    }

    /// The data key labelled `label`.
    pub fn data_key(&self, label: &str) -> Result<TokenDataKey, Pkcs11Error> {
        Ok(TokenDataKey {
            token: self.clone(),
            key: self.secret_key(label, "secret key (data key-encryption key)")?,
            label: label.to_string(),
        })
    }
}

impl TokenDataKey {
    /// The key's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        self.token.label()
    }

    /// Encrypts `plain` (a data key) inside the token with AES-256-GCM under a fresh random
    /// nonce, authenticating `aad`: returns nonce || ciphertext || tag.
    pub fn encrypt(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let mut iv = [0u8; IV];
        OsRng.fill_bytes(&mut iv);
        let sealed = self.token.use_key(&self.key, "AES-GCM encrypt", |s, key| {
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, aad, TAG_BITS.into())?;
            s.encrypt(&Mechanism::AesGcm(params), key, plain)
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`TokenDataKey::encrypt`] made with the same `aad`. A changed byte, another
    /// `aad` or another key is refused by the token (the tag does not verify).
    pub fn decrypt(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        if sealed.len() < IV + 16 {
            return Err(Pkcs11Error::Operation {
                module: self.token.module().to_owned(),
                token: self.token.label().to_string(),
                label: self.label.clone(),
                operation: "AES-GCM decrypt",
                reason: format!("{} bytes are too short for nonce and tag", sealed.len()),
            });
        }
        let (iv, body) = sealed.split_at(IV);
        let iv = <[u8; IV]>::try_from(iv).unwrap_or([0; IV]);
        self.token.use_key(&self.key, "AES-GCM decrypt", |s, key| {
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, aad, TAG_BITS.into())?;
            s.decrypt(&Mechanism::AesGcm(params), key, body)
        })
    }
}

/// A keyed pseudonym function inside the token: an AES-256 key used only with `CKM_AES_CMAC`,
/// generated there (sensitive, not extractable). The station keys its holder digests with it, so
/// that a digest of a guessed name and birth date cannot be checked against the database without
/// the token.
pub struct TokenMacKey {
    token: Token,
    key: KeyRef,
}

impl std::fmt::Debug for TokenMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMacKey")
            .field("token", &self.token.label())
            .field("label", &self.key.label)
            .finish()
    }
}

impl Token {
    /// The CMAC key labelled `label`, generated in the token when it is not there yet.
    pub fn mac_key(&self, label: &str) -> Result<TokenMacKey, Pkcs11Error> {
        let what = "secret key (holder pseudonyms)";
        match self.secret_key(label, what) {
            Ok(key) => Ok(TokenMacKey {
                token: self.clone(),
                key,
            }),
            Err(Pkcs11Error::NoKey { .. }) => {
                self.generate_aes(label, AesUse::Mac, "generate the pseudonym key")?;
                Ok(TokenMacKey {
                    token: self.clone(),
                    key: self.secret_key(label, what)?,
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl TokenMacKey {
    /// AES-CMAC of `data`, computed inside the token.
    pub fn cmac(&self, data: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        self.token.use_key(&self.key, "AES-CMAC", |s, key| {
            s.sign(&Mechanism::AesCMac, key, data)
        })
    }
}
