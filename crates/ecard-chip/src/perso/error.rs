//! What personalization reports when it stops: the step, file and offset it was at, what went
//! wrong (split by whose fault it is), and what state the card is left in.

use crate::apdu::{ApduError, StatusWord};
use crate::lds::EfId;
use crate::transport::TransportError;

/// Where personalization is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// SELECT MF.
    SelectMf,
    /// SELECT of the application DF to see whether the card is blank.
    CheckBlank,
    /// CREATE FILE of the application DF.
    CreateDf,
    /// SELECT of the application DF.
    SelectDf,
    /// GENERATE ASYMMETRIC KEY PAIR.
    GenerateKey,
    /// CHANGE REFERENCE DATA of the CAN (PACE password).
    SetCan,
    /// Waiting for the caller's LDS files.
    AwaitFiles,
    /// CREATE FILE of an EF.
    CreateEf,
    /// SELECT of an EF.
    SelectEf,
    /// UPDATE BINARY.
    Write,
    /// READ BINARY of what was written.
    ReadBack,
    /// Locking the card.
    Lock,
    /// Checking that a write now fails.
    VerifyLock,
    /// Finished.
    Done,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::SelectMf => "selecting the MF",
            Step::CheckBlank => "checking that the card is blank",
            Step::CreateDf => "creating the application DF",
            Step::SelectDf => "selecting the application DF",
            Step::GenerateKey => "generating the Active Authentication key",
            Step::SetCan => "writing the CAN",
            Step::AwaitFiles => "waiting for the LDS files",
            Step::CreateEf => "creating",
            Step::SelectEf => "selecting",
            Step::Write => "writing",
            Step::ReadBack => "reading back",
            Step::Lock => "locking the card",
            Step::VerifyLock => "checking the lock",
            Step::Done => "finishing",
        })
    }
}

/// What state a card is in after personalization stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CardState {
    /// Nothing was written: the card can be used again.
    Blank,
    /// Partly written or not locked: the card must be voided.
    Spoiled,
    /// Written, checked and locked (or, for a card OS without a lock, written and checked).
    Issued,
}

impl std::fmt::Display for CardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CardState::Blank => "unchanged (nothing was written to it)",
            CardState::Spoiled => "spoiled",
            CardState::Issued => "issued",
        })
    }
}

/// Why a card is not blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotBlank {
    /// The application DF exists although the profile says it must be created.
    ApplicationExists,
    /// The application DF is already operational (locked).
    Locked,
    /// The application DF already holds EF.COM.
    HasFiles,
}

impl std::fmt::Display for NotBlank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotBlank::ApplicationExists => "the e-card application already exists",
            NotBlank::Locked => "the e-card application is already locked",
            NotBlank::HasFiles => "the e-card application already holds EF.COM",
        })
    }
}

/// What went wrong, by whose fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersoErrorKind {
    /// The card refused a command (card).
    #[error("card answered {sw} to INS {ins:02X}")]
    Status {
        /// The instruction refused.
        ins: u8,
        /// The status word.
        sw: StatusWord,
    },
    /// The reader or the link failed (reader).
    #[error("{0}")]
    Transport(TransportError),
    /// The card is not blank (card; nothing was written).
    #[error("card is not blank: {0}")]
    NotBlank(NotBlank),
    /// An answer that does not parse (card).
    #[error("malformed answer from the card: {detail}")]
    Malformed {
        /// What was wrong, with the numbers.
        detail: String,
    },
    /// What was read back differs from what was written (card).
    #[error(
        "read back {got_len} bytes with SHA-256 {got_sha256} but wrote {expected_len} bytes with SHA-256 {expected_sha256}"
    )]
    ReadBackMismatch {
        /// Bytes written.
        expected_len: usize,
        /// Their SHA-256, hex.
        expected_sha256: String,
        /// Bytes read.
        got_len: usize,
        /// Their SHA-256, hex.
        got_sha256: String,
    },
    /// The card accepted a write after it was locked (card).
    #[error("card accepted a write after locking (answered {sw}); the lock does not hold")]
    LockNotEffective {
        /// The status word of the write.
        sw: StatusWord,
    },
    /// The files given do not fit this card or each other (input).
    #[error("invalid LDS files: {reason}")]
    InvalidFiles {
        /// What is wrong, with the numbers.
        reason: String,
    },
    /// The caller could not build the files (input).
    #[error("the LDS files could not be built: {reason}")]
    Provide {
        /// The caller's message.
        reason: String,
    },
    /// A command could not be encoded for this link (us or the profile).
    #[error("{0}")]
    Apdu(ApduError),
    /// The blank's SCP03 channel did not open (wrong KMC, blocked keys): nothing was written.
    #[error("the blank's secure channel did not open: {reason}")]
    Channel {
        /// What failed.
        reason: String,
    },
    /// The profile offers PACE but no CAN was given (input; nothing was written).
    #[error(
        "the card OS of profile {profile} protects its chip with PACE: a 6-digit CAN must be given"
    )]
    MissingCan {
        /// The profile.
        profile: String,
    },
    /// The state machine was driven out of order (caller bug, never card data).
    #[error("personalizer driven out of order: {0}")]
    ApiMisuse(&'static str),
}

/// Personalization stopped. Names the step, file and offset, the cause and the card's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersoError {
    /// The step at which it stopped.
    pub step: Step,
    /// The file being handled, if any.
    pub file: Option<EfId>,
    /// The offset in that file, if any.
    pub offset: Option<usize>,
    /// The file's size, if known (for "8192 of 15360 bytes").
    pub file_size: Option<usize>,
    /// The card's state now.
    pub card: CardState,
    /// The cause.
    pub kind: PersoErrorKind,
}

impl PersoError {
    /// The status word, when the card refused a command.
    pub fn sw(&self) -> Option<StatusWord> {
        match &self.kind {
            PersoErrorKind::Status { sw, .. } | PersoErrorKind::LockNotEffective { sw } => {
                Some(*sw)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for PersoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} while {}", self.kind, self.step)?;
        if let Some(file) = self.file {
            write!(f, " {file}")?;
        }
        match (self.offset, self.file_size) {
            (Some(o), Some(s)) => write!(f, " ({o} of {s} bytes)")?,
            (Some(o), None) => write!(f, " at offset {o}")?,
            _ => {}
        }
        write!(f, "; the card is {}", self.card)
    }
}

impl std::error::Error for PersoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            PersoErrorKind::Transport(e) => Some(e),
            PersoErrorKind::Apdu(e) => Some(e),
            _ => None,
        }
    }
}
