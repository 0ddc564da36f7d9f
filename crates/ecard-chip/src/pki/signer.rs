//! The [`Signer`] trait: the one door through which CSCA and Document Signer keys sign.
//!
//! It signs a SHA-256 digest, not a message, because that is what every key store can do: SoftHSM
//! has CKM_ECDSA but no CKM_ECDSA_SHA256, so a PKCS#11 signer receives the digest. The trait returns
//! the raw P-256 signature (r||s); callers encode it. Nothing here reads key files or a clock.

use std::cell::RefCell;

use der::asn1::ObjectIdentifier;
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use signature::hazmat::PrehashSigner;
use spki::AlgorithmIdentifierRef;

/// ecdsa-with-SHA256 (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Why a signer could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The key store refused or failed (an HSM error, a locked token).
    #[error("signer {signer:?} failed: {reason}")]
    Failed {
        /// Which signer ("software", a token label).
        signer: String,
        /// What it said.
        reason: String,
    },
    /// The key bytes given are not a P-256 PKCS#8 private key.
    #[error("private key is not a P-256 PKCS#8 key: {reason}")]
    BadKey {
        /// What the decoder said.
        reason: String,
    },
}

/// A P-256 key that signs SHA-256 digests: the CSCA key, the Document Signer key.
pub trait Signer {
    /// The public key of the signing key.
    fn public_key(&self) -> p256::PublicKey;

    /// Signs the SHA-256 `digest` of a message with ECDSA and returns the raw signature (r||s).
    fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError>;

    /// Signs `message` (SHA-256 computed here, on the host) and returns the DER ECDSA signature.
    fn sign_message_der(&self, message: &[u8]) -> Result<DerSignature, SignerError> {
        let digest: [u8; 32] = Sha256::digest(message).into();
        Ok(self.sign_sha256_digest(&digest)?.to_der())
    }

    /// What the key is, for logs and error messages ("PKCS#11 key ... in token ...").
    fn describe(&self) -> String {
        "signer".into()
    }

    /// True when the private key lies in a file or in memory (development only): a station
    /// refuses such a signer unless its configuration allows file keys.
    fn insecure(&self) -> bool {
        false
    }
}

/// How a [`SoftwareSigner`] introduces itself.
pub const INSECURE_FILE_KEY: &str = "file key (INSECURE: the private key lies in a file; for development only, use a PKCS#11 token)";

/// A private key held in memory (tests, demo, and a station without an HSM).
#[derive(Clone)]
pub struct SoftwareSigner {
    key: SigningKey,
}

// A private key never shows in Debug.
impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner").finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// A fresh key from the caller's RNG.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        SoftwareSigner {
            key: SigningKey::random(rng),
        }
    }

    /// Wraps an existing key.
    pub fn new(key: SigningKey) -> Self {
        SoftwareSigner { key }
    }

    /// Reads a PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignerError> {
        SigningKey::from_pkcs8_der(der)
            .map(Self::new)
            .map_err(|e| SignerError::BadKey {
                reason: e.to_string(),
            })
    }

    /// Reads a PKCS#8 PEM private key ("PRIVATE KEY").
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SignerError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self::new)
            .map_err(|e| SignerError::BadKey {
                reason: e.to_string(),
            })
    }

    /// The key as PKCS#8 DER (the caller writes it with mode 0600).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, SignerError> {
        self.key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| SignerError::BadKey {
                reason: e.to_string(),
            })
    }

    /// The key as PKCS#8 PEM (the caller writes it with mode 0600).
    pub fn to_pkcs8_pem(&self) -> Result<String, SignerError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.as_str().to_string())
            .map_err(|e| SignerError::BadKey {
                reason: e.to_string(),
            })
    }
}

impl Signer for SoftwareSigner {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.key.verifying_key())
    }

    fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        // RFC 6979 deterministic nonce: no RNG needed, and equal inputs give equal signatures.
        self.key
            .sign_prehash(digest)
            .map_err(|e| SignerError::Failed {
                signer: "software".into(),
                reason: e.to_string(),
            })
    }

    fn describe(&self) -> String {
        INSECURE_FILE_KEY.into()
    }

    fn insecure(&self) -> bool {
        true
    }
}

impl std::fmt::Display for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(INSECURE_FILE_KEY)
    }
}

/// Adapts a [`Signer`] to the RustCrypto traits the `cms` builder needs (it hashes, we sign the
/// digest). A signer error is kept, because the builder would flatten it into a DER error.
pub(crate) struct Adapter<'a> {
    inner: &'a dyn Signer,
    verifying: VerifyingKey,
    pub(crate) error: RefCell<Option<SignerError>>,
}

impl<'a> Adapter<'a> {
    pub(crate) fn new(inner: &'a dyn Signer) -> Self {
        Adapter {
            inner,
            verifying: VerifyingKey::from(&inner.public_key()),
            error: RefCell::new(None),
        }
    }
}

impl signature::Keypair for Adapter<'_> {
    type VerifyingKey = VerifyingKey;
    fn verifying_key(&self) -> VerifyingKey {
        self.verifying
    }
}

impl spki::SignatureAlgorithmIdentifier for Adapter<'_> {
    type Params = der::AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifierRef<'static> =
        AlgorithmIdentifierRef {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        };
}

impl signature::Signer<DerSignature> for Adapter<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        let digest: [u8; 32] = Sha256::digest(msg).into();
        match self.inner.sign_sha256_digest(&digest) {
            Ok(sig) => Ok(sig.to_der()),
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                Err(signature::Error::new())
            }
        }
    }
}

/// Signs `message` (SHA-256 first) with `signer` and returns the DER ECDSA signature.
pub(crate) fn sign_der(signer: &dyn Signer, message: &[u8]) -> Result<DerSignature, SignerError> {
    signer.sign_message_der(message)
}

macro_rules! delegate_signer {
    ($($ptr:ident)::+) => {
        impl<S: Signer + ?Sized> Signer for $($ptr)::+<S> {
            fn public_key(&self) -> p256::PublicKey {
                (**self).public_key()
            }
            fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
                (**self).sign_sha256_digest(digest)
            }
            fn sign_message_der(&self, message: &[u8]) -> Result<DerSignature, SignerError> {
                (**self).sign_message_der(message)
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
            fn insecure(&self) -> bool {
                (**self).insecure()
            }
        }
    };
}

// A boxed or shared signer (a file key or a token key chosen at run time) is a signer.
delegate_signer!(Box);
delegate_signer!(std::sync::Arc);
