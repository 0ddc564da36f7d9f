//! What personalization hands back: the next [`Action`], and once finished a [`PersoReport`] with
//! the lock outcome, the files as written and checked, and the APDU counters. Plain data, no logic.

use p256::PublicKey;

use super::error::CardState;
use crate::apdu::StatusWord;
use crate::lds::EfId;
use crate::transport::ApduLimits;

/// What the caller must do next.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send this C-APDU and give the R-APDU to [`Personalizer::handle_response`](crate::perso::Personalizer::handle_response).
    Transmit(Vec<u8>),
    /// Build the LDS files (DG15 from this key, when there is one, then EF.SOD over the DGs) and
    /// give them to [`Personalizer::provide_files`](crate::perso::Personalizer::provide_files).
    NeedFiles {
        /// The chip's Active Authentication public key, if the profile has one.
        aa_public_key: Option<PublicKey>,
    },
    /// Finished: [`Personalizer::report`](crate::perso::Personalizer::report) has the result.
    Finished,
    /// Stopped: [`Personalizer::error`](crate::perso::Personalizer::error) says why. Errors are sticky.
    Failed,
}

impl std::fmt::Debug for Action {
    // An APDU may carry holder data being written: show its header and size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Transmit(apdu) => write!(f, "Transmit({})", crate::apdu::describe(apdu)),
            Action::NeedFiles { aa_public_key } => f
                .debug_struct("NeedFiles")
                .field("aa_public_key", &aa_public_key.is_some())
                .finish(),
            Action::Finished => f.write_str("Finished"),
            Action::Failed => f.write_str("Failed"),
        }
    }
}

/// Whether the card could be locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockOutcome {
    /// Locked, and a write attempt afterwards was refused with this status word.
    Locked {
        /// The refusal.
        write_refused_with: StatusWord,
    },
    /// The profile has no lock method (e.g. the vicc `iso7816` card).
    NotLockable,
}

impl std::fmt::Display for LockOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockOutcome::Locked { write_refused_with } => {
                write!(f, "card locked (a test write was refused with {write_refused_with})")
            }
            LockOutcome::NotLockable => f.write_str(
                "card could not be locked: its firmware profile has no lock method, so its files stay writable",
            ),
        }
    }
}

/// APDU counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersoStats {
    /// C-APDUs sent.
    pub apdus: u64,
    /// C-APDU bytes sent.
    pub bytes_sent: u64,
    /// R-APDU bytes received.
    pub bytes_received: u64,
}

/// One file as written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Which file.
    pub ef: EfId,
    /// Content bytes.
    pub len: usize,
    /// EF size created on the card (content plus slack).
    pub ef_size: usize,
    /// SHA-256 of the content, equal to the SHA-256 of what was read back.
    pub sha256: [u8; 32],
}

/// The result of a finished personalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersoReport {
    /// The profile used.
    pub profile: String,
    /// [`CardState::Issued`].
    pub card: CardState,
    /// Whether the card is locked.
    pub lock: LockOutcome,
    /// The chip's Active Authentication key, if generated.
    pub aa_public_key: Option<PublicKey>,
    /// Files written, in order.
    pub files: Vec<WrittenFile>,
    /// Counters.
    pub stats: PersoStats,
    /// The link limits used.
    pub limits: ApduLimits,
}
