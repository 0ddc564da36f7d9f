//! Personal data at rest (ECARD.md section 12): envelope encryption with AES-256-GCM.
//!
//! Every value holding personal data (a job's enrollment record and chip images, its CAN, a
//! spooled card face) is sealed under a data key of its own, 32 random bytes used once. The data
//! key is wrapped by the key-encryption key (KEK): an AES-256 key inside the PKCS#11 token
//! ([`ecard_pkcs11::TokenDataKey`], `CKM_AES_GCM`) or, for development, a 0600 key file
//! ([`FileKek`], named insecure). A sealed value is
//!
//! ```text
//! "ECV1" | KEK id length (u8) | KEK id | wrapped data key length (u16 BE) | wrapped data key
//!        | nonce (12) | ciphertext and tag (16)
//! ```
//!
//! Both the wrap and the data carry a *context* as associated data (`job_inputs.record` and the
//! job's application id, say), so a ciphertext moved to another row or field does not open. Text
//! columns hold `enc1:` and the envelope in base64. A changed byte, a wrong key or a moved value
//! is reported as [`VaultError::Unreadable`] naming what was being read: never decoded into
//! garbage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// The first bytes of a sealed value.
const MAGIC: &[u8; 4] = b"ECV1";
/// The prefix of a sealed value in a text column.
pub const TEXT_PREFIX: &str = "enc1:";
const NONCE: usize = 12;
const TAG: usize = 16;

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The key-encryption key is unavailable: the token refused or is gone.
    #[error("the data key-encryption key {kek} is unavailable: {reason}")]
    KeyUnavailable {
        /// Which KEK.
        kek: String,
        /// What the token or file said.
        reason: String,
    },
    /// A sealed value does not open: altered, cut, moved from another field, or sealed under
    /// another key. Nothing of it is used.
    #[error(
        "{context}: the encrypted data is unreadable ({reason}); it was altered or sealed under another data key"
    )]
    Unreadable {
        /// What was being read (field and job).
        context: String,
        /// Which check failed.
        reason: String,
    },
    /// The key file is missing, not private or malformed.
    #[error("data key file {path}: {problem}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// A key-encryption key: wraps and unwraps 32-byte data keys, authenticating a context.
pub trait Kek: Send + Sync {
    /// A short name stored in every envelope (`token:<token>/<label>`, `file:<fingerprint>`).
    fn id(&self) -> &str;
    /// Encrypts a data key.
    fn wrap(&self, aad: &[u8], dek: &[u8; 32]) -> Result<Vec<u8>, VaultError>;
    /// Decrypts a data key.
    fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, VaultError>;
    /// True for a key kept in a file (development only).
    fn insecure(&self) -> bool;
    /// A keyed, deterministic pseudonym of `data` (AES-CMAC under a key of its own): what the
    /// store keeps of a holder's identity digests.
    fn pseudonym(&self, data: &[u8]) -> Result<Vec<u8>, VaultError>;
}

/// The KEK inside a PKCS#11 token, with the token's pseudonym key beside it.
pub struct TokenKek {
    key: ecard_pkcs11::TokenDataKey,
    mac: ecard_pkcs11::TokenMacKey,
    id: String,
}

impl TokenKek {
    /// Wraps a token's data key and pseudonym key.
    pub fn new(key: ecard_pkcs11::TokenDataKey, mac: ecard_pkcs11::TokenMacKey) -> TokenKek {
        let id = format!("token:{}/{}", key.token_label(), key.label());
        TokenKek { key, mac, id }
    }
}

impl Kek for TokenKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, aad: &[u8], dek: &[u8; 32]) -> Result<Vec<u8>, VaultError> {
        self.key
            .encrypt(aad, dek)
            .map_err(|e| VaultError::KeyUnavailable {
                kek: self.id.clone(),
                reason: e.to_string(),
            })
    }

    fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let plain = Zeroizing::new(self.key.decrypt(aad, wrapped).map_err(|e| {
            // Tokens differ in how they report a tag that does not verify (SoftHSM2 answers
            // CKR_GENERAL_ERROR): a round trip of a probe tells a bad value from a token that
            // is gone.
            let probe = [0x5a_u8; 32];
            let works = self
                .key
                .encrypt(b"ecard-kek-probe", &probe)
                .and_then(|c| self.key.decrypt(b"ecard-kek-probe", &c))
                .is_ok_and(|p| p == probe);
            if works {
                VaultError::Unreadable {
                    context: String::new(),
                    reason: "the data key's tag does not verify".into(),
                }
            } else {
                VaultError::KeyUnavailable {
                    kek: self.id.clone(),
                    reason: e.to_string(),
                }
            }
        })?);
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(VaultError::Unreadable {
                context: String::new(),
                reason: format!("a data key of {} bytes", plain.len()),
            });
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }

    fn insecure(&self) -> bool {
        false
    }

    fn pseudonym(&self, data: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.mac.cmac(data).map_err(|e| VaultError::KeyUnavailable {
            kek: self.id.clone(),
            reason: e.to_string(),
        })
    }
}

/// A KEK kept in a 0600 file of 64 hex digits: for development and tests, insecure (whoever
/// copies the file reads every record).
pub struct FileKek {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl FileKek {
    /// Reads the key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<FileKek, VaultError> {
        let err = |problem: String| VaultError::KeyFile {
            path: path.display().to_string(),
            problem,
        };
        crate::private::check_private_file(path).map_err(err)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| err("is not 64 hexadecimal digits".into()))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(err(format!(
                "holds {} bytes; a data key is 32 bytes (64 hex digits)",
                bytes.len()
            )));
        }
        key.copy_from_slice(&bytes);
        Ok(FileKek::from_key(key))
    }

    /// Makes a new key file (0600, never overwriting one) and returns its key.
    pub fn create(path: &Path) -> Result<FileKek, VaultError> {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
        crate::private::create_private_file(path, text.as_bytes()).map_err(|e| {
            VaultError::KeyFile {
                path: path.display().to_string(),
                problem: e.to_string(),
            }
        })?;
        Ok(FileKek::from_key(key))
    }

    fn from_key(key: Zeroizing<[u8; 32]>) -> FileKek {
        use sha2::Digest;
        let fp = sha2::Sha256::digest(b"ecard-data-kek-id\0")
            .iter()
            .zip(sha2::Sha256::digest(key.as_ref()))
            .map(|(a, b)| a ^ b)
            .take(8)
            .collect::<Vec<u8>>();
        FileKek {
            id: format!("file:{}", hex::encode(fp)),
            key,
        }
    }
}

impl Kek for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, aad: &[u8], dek: &[u8; 32]) -> Result<Vec<u8>, VaultError> {
        Ok(gcm_seal(&self.key, aad, dek))
    }

    fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let plain = Zeroizing::new(gcm_open(&self.key, aad, wrapped).ok_or_else(|| {
            VaultError::Unreadable {
                context: String::new(),
                reason: "the data key's tag does not verify".into(),
            }
        })?);
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Unreadable {
                context: String::new(),
                reason: format!("a data key of {} bytes", plain.len()),
            })?;
        Ok(Zeroizing::new(key))
    }

    fn insecure(&self) -> bool {
        true
    }

    fn pseudonym(&self, data: &[u8]) -> Result<Vec<u8>, VaultError> {
        use cmac::Mac;
        use sha2::Digest;
        // A key of its own, derived from the file's key with a label.
        let mut derive = sha2::Sha256::new();
        derive.update(b"ecard-holder-pseudonym\0");
        derive.update(self.key.as_ref());
        let key = Zeroizing::new(<[u8; 32]>::from(derive.finalize()));
        let mut mac = <cmac::Cmac<aes::Aes256> as cmac::digest::KeyInit>::new(&(*key).into());
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

/// nonce || AES-256-GCM(key, nonce, aad, plain).
fn gcm_seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE];
    OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    // Encryption fails only for inputs over 64 GiB, which no record comes near.
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn gcm_open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE + TAG {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().ok()?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
        .ok()
}

/// Seals and opens personal data under one KEK. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    kek: Arc<dyn Kek>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("kek", &self.kek.id())
            .finish()
    }
}

impl Vault {
    /// A vault over `kek`.
    pub fn new(kek: Arc<dyn Kek>) -> Vault {
        Vault { kek }
    }

    /// The KEK's id.
    pub fn kek_id(&self) -> &str {
        self.kek.id()
    }

    /// A keyed pseudonym of `data` (deterministic; the same KEK gives the same pseudonym).
    pub fn pseudonym(&self, data: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.kek.pseudonym(data)
    }

    /// True when the KEK is a key file (development only).
    pub fn insecure(&self) -> bool {
        self.kek.insecure()
    }

    /// Seals `plain` under a new data key, bound to `context`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut dek = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(dek.as_mut());
        let id = self.kek.id().as_bytes();
        let wrapped = self.kek.wrap(&wrap_aad(id, context), &dek)?;
        let (Ok(id_len), Ok(wrapped_len)) = (u8::try_from(id.len()), u16::try_from(wrapped.len()))
        else {
            return Err(VaultError::KeyUnavailable {
                kek: self.kek.id().to_string(),
                reason: "the KEK's id or wrapped key is too long for the envelope".into(),
            });
        };
        let mut out = Vec::with_capacity(plain.len() + 128);
        out.extend_from_slice(MAGIC);
        out.push(id_len);
        out.extend_from_slice(id);
        out.extend_from_slice(&wrapped_len.to_be_bytes());
        out.extend_from_slice(&wrapped);
        let header_len = out.len();
        let aad = data_aad(&out[..header_len], context);
        out.extend_from_slice(&gcm_seal(&dek, &aad, plain));
        Ok(out)
    }

    /// Opens what [`Vault::seal`] made with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let bad = |reason: String| VaultError::Unreadable {
            context: context.to_string(),
            reason,
        };
        let rest = sealed
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad("not an ecard envelope".into()))?;
        let (&id_len, rest) = rest.split_first().ok_or_else(|| bad("cut short".into()))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + 2 {
            return Err(bad("cut short".into()));
        }
        let (id, rest) = rest.split_at(id_len);
        if id != self.kek.id().as_bytes() {
            return Err(VaultError::Unreadable {
                context: context.to_string(),
                reason: format!(
                    "sealed under key {:?}, this station holds {:?}",
                    String::from_utf8_lossy(id),
                    self.kek.id()
                ),
            });
        }
        let wrapped_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let rest = &rest[2..];
        if rest.len() < wrapped_len + NONCE + TAG {
            return Err(bad("cut short".into()));
        }
        let (wrapped, body) = rest.split_at(wrapped_len);
        let header_len = sealed.len() - body.len();
        let dek = self
            .kek
            .unwrap_key(&wrap_aad(id, context), wrapped)
            .map_err(|e| match e {
                VaultError::Unreadable { reason, .. } => bad(reason),
                other => other,
            })?;
        gcm_open(&dek, &data_aad(&sealed[..header_len], context), body)
            .ok_or_else(|| bad("the data's tag does not verify".into()))
    }

    /// [`Vault::seal`] for a text column: `enc1:` and base64.
    pub fn seal_text(&self, context: &str, plain: &str) -> Result<String, VaultError> {
        let sealed = self.seal(context, plain.as_bytes())?;
        Ok(format!(
            "{TEXT_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
        ))
    }

    /// Opens a text column written by [`Vault::seal_text`].
    pub fn open_text(&self, context: &str, stored: &str) -> Result<String, VaultError> {
        let bad = |reason: &str| VaultError::Unreadable {
            context: context.to_string(),
            reason: reason.to_string(),
        };
        let b64 = stored
            .strip_prefix(TEXT_PREFIX)
            .ok_or_else(|| bad("stored in clear where an envelope was expected"))?;
        let sealed = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| bad("not base64"))?;
        String::from_utf8(self.open(context, &sealed)?).map_err(|_| bad("not UTF-8 text"))
    }
}

/// True when a text column holds an envelope.
pub fn is_sealed_text(stored: &str) -> bool {
    stored.starts_with(TEXT_PREFIX)
}

fn wrap_aad(kek_id: &[u8], context: &str) -> Vec<u8> {
    let mut aad = b"ecard-dek-v1\0".to_vec();
    aad.extend_from_slice(kek_id);
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

fn data_aad(header: &[u8], context: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// Where a station's KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// The AES key with this label in the PKI's token (generated there on first use).
    Token {
        /// The key label.
        label: String,
    },
    /// A 0600 key file (development; made on first use).
    File(PathBuf),
}

/// The label of the data KEK a station makes in its token when the configuration names none.
pub const DEFAULT_KEK_LABEL: &str = "ecard-data-kek";

/// The label of the pseudonym key beside it (holder digests): `<data key label>-pseudonym`.
pub fn pseudonym_label(kek_label: &str) -> String {
    format!("{kek_label}-pseudonym")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let kek = FileKek::create(&dir.path().join("data.key")).unwrap();
        (dir, Vault::new(Arc::new(kek)))
    }

    #[test]
    fn a_value_round_trips_and_its_bytes_are_not_in_the_envelope() {
        let (_d, v) = vault();
        let plain = br#"{"surname":"KARIMOVA"}"#;
        let sealed = v.seal("job_inputs.record/A-1", plain).unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"KARIMOVA"));
        assert_eq!(v.open("job_inputs.record/A-1", &sealed).unwrap(), plain);
        let text = v.seal_text("c", "KARIMOVA").unwrap();
        assert!(text.starts_with("enc1:") && !text.contains("KARIMOVA"));
        assert_eq!(v.open_text("c", &text).unwrap(), "KARIMOVA");
        // A fresh data key and nonce each time.
        assert_ne!(v.seal("c", plain).unwrap(), v.seal("c", plain).unwrap());
    }

    #[test]
    fn tampering_moving_and_another_key_are_refused_with_the_context() {
        let (_d, v) = vault();
        let sealed = v.seal("job_inputs.record/A-1", b"data").unwrap();
        let moved = v.open("job_inputs.record/A-2", &sealed).unwrap_err();
        assert!(matches!(moved, VaultError::Unreadable { .. }));
        assert!(
            moved.to_string().contains("job_inputs.record/A-2"),
            "{moved}"
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert!(
                v.open("job_inputs.record/A-1", &bad).is_err(),
                "byte {i} changed and still opened"
            );
        }
        for n in 0..sealed.len() {
            assert!(v.open("job_inputs.record/A-1", &sealed[..n]).is_err());
        }
        let (_d2, other) = vault();
        let e = other.open("job_inputs.record/A-1", &sealed).unwrap_err();
        assert!(e.to_string().contains("sealed under key"), "{e}");
        assert!(v.open_text("c", "plain text").is_err());
        assert!(v.open_text("c", "enc1:!!!").is_err());
    }

    #[test]
    fn a_key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.key");
        let made = FileKek::create(&path).unwrap();
        assert!(FileKek::create(&path).is_err());
        let loaded = FileKek::load(&path).unwrap();
        assert_eq!(made.id(), loaded.id());
        assert!(loaded.insecure());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = FileKek::load(&path).err().unwrap().to_string();
            assert!(e.contains("data.key") && e.contains("chmod"), "{e}");
        }
        std::fs::write(dir.path().join("short.key"), "abcd").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("short.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        assert!(FileKek::load(&dir.path().join("short.key")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_open_to_an_error_not_a_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let dir = tempfile::tempdir().unwrap();
            let v = Vault::new(Arc::new(FileKek::create(&dir.path().join("k")).unwrap()));
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            proptest::prop_assert!(v.open("c", &bytes).is_err());
            proptest::prop_assert!(v.open("c", &framed).is_err());
        }
    }
}
