//! The signer self-test a station runs before it signs anything (ECARD.md section 12): the
//! Document Signer chains to a trusted CSCA, a test signature by the signer verifies with the DS
//! certificate's key, and the DS's private-key usage period covers `now`. Pure: the time is an
//! argument.

use p256::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};
use signature::hazmat::PrehashVerifier;
use x509_cert::Certificate;

use super::{Signer, private_key_usage_period, public_key_from_spki, verify_signed_by};

/// Days before the end of the DS signing period from which a station warns.
pub const DS_WARNING_DAYS: i64 = 14;

/// What a passed self-test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTest {
    /// Whole days until the DS's private-key usage period ends (`None`: no end stated).
    pub ds_days_left: Option<i64>,
}

impl SelfTest {
    /// True when the DS signing period ends within [`DS_WARNING_DAYS`].
    pub fn ds_ends_soon(&self) -> bool {
        self.ds_days_left.is_some_and(|d| d <= DS_WARNING_DAYS)
    }
}

/// Why the signer failed its self-test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelfTestError {
    /// The DS certificate is not signed by any trusted CSCA.
    #[error(
        "signer self-test: the Document Signer certificate does not chain to any of the {trusted} trusted CSCA certificate(s); issue a DS under this CSCA"
    )]
    Chain {
        /// How many CSCAs were tried.
        trusted: usize,
    },
    /// The signer's key is not the DS certificate's key, or the token signed wrongly.
    #[error(
        "signer self-test: a test signature by {signer} does not verify with the Document Signer certificate ({reason}); pki.toml or ds.key names another key than ds.pem"
    )]
    Signature {
        /// The signer.
        signer: String,
        /// What went wrong.
        reason: String,
    },
    /// The DS may not sign today.
    #[error(
        "signer self-test: the Document Signer's private-key usage period ({from} .. {until}) does not cover now ({now}); issue the next DS with `ecard pki rotate-ds`"
    )]
    Period {
        /// Start of the period.
        from: String,
        /// End of the period.
        until: String,
        /// The time of the test.
        now: String,
    },
}

/// Runs the self-test of `signer` with its certificate `ds` against `trust` at `now`.
pub fn self_test(
    trust: &[Certificate],
    ds: &Certificate,
    signer: &dyn Signer,
    now: time::OffsetDateTime,
) -> Result<SelfTest, SelfTestError> {
    let chains = trust.iter().any(|csca| {
        public_key_from_spki(&csca.tbs_certificate.subject_public_key_info)
            .is_ok_and(|k| verify_signed_by(ds, &k).is_ok())
    });
    if !chains {
        return Err(SelfTestError::Chain {
            trusted: trust.len(),
        });
    }
    let bad = |reason: String| SelfTestError::Signature {
        signer: signer.describe(),
        reason,
    };
    let ds_key = public_key_from_spki(&ds.tbs_certificate.subject_public_key_info)
        .map_err(|e| bad(e.to_string()))?;
    let digest: [u8; 32] = Sha256::digest(b"ecard signer self-test").into();
    let sig = signer
        .sign_sha256_digest(&digest)
        .map_err(|e| bad(e.to_string()))?;
    VerifyingKey::from(&ds_key)
        .verify_prehash(&digest, &sig)
        .map_err(|_| bad("the signature does not match the certificate's key".into()))?;
    let (from, until) = private_key_usage_period(ds).unwrap_or((None, None));
    let show = |t: Option<time::OffsetDateTime>| t.map_or("-".to_string(), |t| t.to_string());
    let covered = from.is_none_or(|f| f <= now) && until.is_none_or(|u| now <= u);
    if !covered {
        return Err(SelfTestError::Period {
            from: show(from),
            until: show(until),
            now: now.to_string(),
        });
    }
    Ok(SelfTest {
        ds_days_left: until.map(|u| (u - now).whole_days()),
    })
}
