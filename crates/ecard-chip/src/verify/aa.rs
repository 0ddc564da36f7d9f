//! Active Authentication (ECARD.md section 6): the chip's plain r||s ECDSA-SHA256 signature over
//! the checkpoint's 8-byte challenge, verified with the DG15 key. Sending the APDU is the reader's
//! business; this is the arithmetic only.

use signature::Verifier;

use crate::lds::Dg15;
use crate::pki::KeyError;

/// Why Active Authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AaError {
    /// DG15's key is not an acceptable P-256 key.
    #[error("DG15: {0}")]
    Key(KeyError),
    /// The answer is not a 64-byte r||s signature.
    #[error("INTERNAL AUTHENTICATE answer is {got} bytes, expected 64 (plain r||s)")]
    ResponseLength {
        /// Bytes received.
        got: usize,
    },
    /// The signature does not verify: the chip does not hold the DG15 key (cloned or fake chip).
    #[error(
        "INTERNAL AUTHENTICATE signature does not verify with the DG15 key: cloned or fake chip"
    )]
    BadSignature,
}

/// Verifies the chip's answer to INTERNAL AUTHENTICATE with `challenge`.
pub fn verify_active_authentication(
    dg15: &Dg15,
    challenge: &[u8; 8],
    response: &[u8],
) -> Result<(), AaError> {
    let key = dg15.public_key().map_err(AaError::Key)?;
    if response.len() != 64 {
        return Err(AaError::ResponseLength {
            got: response.len(),
        });
    }
    let sig = p256::ecdsa::Signature::from_slice(response).map_err(|_| AaError::BadSignature)?;
    p256::ecdsa::VerifyingKey::from(&key)
        .verify(challenge, &sig)
        .map_err(|_| AaError::BadSignature)
}
