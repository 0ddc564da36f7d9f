//! The job state machine: which states exist and which transitions are allowed.
//!
//! This module is pure: the store persists every transition and enforces this table inside the same
//! transaction, so no code path (API, lane, recovery) can skip a step, e.g. mark a card issued that
//! was not verified. It holds no personal data: a job names its application id and number only.

use serde::Serialize;

/// Where a job is. The happy path is received → validated → numbered → encoding → verifying →
/// printing → issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Stored (the API answered 202); station-level checks not yet run.
    Received,
    /// Passed every check; waiting for a lane.
    Validated,
    /// A lane claimed it and the store gave it a number.
    Numbered,
    /// The chip is being written.
    Encoding,
    /// The chip is being read back and verified as a checkpoint would.
    Verifying,
    /// The verified card is being printed.
    Printing,
    /// Done: the card left the lane, verified and printed. Terminal.
    Issued,
    /// The record failed a station-level check; never numbered. Terminal.
    Rejected,
    /// The card failed; its number is voided and the job waits for a new blank.
    Spoiled,
    /// Attempts used up; an operator retries or voids it.
    Failed,
    /// An operator cancelled the job; its number, if any, is voided. Terminal.
    Voided,
}

/// Every state, in pipeline order (for metrics and listings).
pub const ALL_STATES: [JobState; 11] = [
    JobState::Received,
    JobState::Validated,
    JobState::Numbered,
    JobState::Encoding,
    JobState::Verifying,
    JobState::Printing,
    JobState::Issued,
    JobState::Rejected,
    JobState::Spoiled,
    JobState::Failed,
    JobState::Voided,
];

/// A state name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job state {got:?}; expected one of received, validated, numbered, encoding, verifying, printing, issued, rejected, spoiled, failed, voided"
)]
pub struct UnknownState {
    /// The text given.
    pub got: String,
}

impl JobState {
    /// The spelling in the database, the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Received => "received",
            JobState::Validated => "validated",
            JobState::Numbered => "numbered",
            JobState::Encoding => "encoding",
            JobState::Verifying => "verifying",
            JobState::Printing => "printing",
            JobState::Issued => "issued",
            JobState::Rejected => "rejected",
            JobState::Spoiled => "spoiled",
            JobState::Failed => "failed",
            JobState::Voided => "voided",
        }
    }

    /// Parses [`JobState::as_str`]'s spelling.
    pub fn parse(text: &str) -> Result<JobState, UnknownState> {
        ALL_STATES
            .iter()
            .copied()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownState {
                got: text.to_string(),
            })
    }

    /// States a lane owns: the job is tied to one station and lane, under that lane's lease.
    pub fn on_lane(self) -> bool {
        matches!(
            self,
            JobState::Numbered | JobState::Encoding | JobState::Verifying | JobState::Printing
        )
    }

    /// States a lane may claim from.
    pub fn claimable(self) -> bool {
        matches!(self, JobState::Validated | JobState::Spoiled)
    }

    /// Whether the job is finished for good.
    pub fn terminal(self) -> bool {
        matches!(
            self,
            JobState::Issued | JobState::Rejected | JobState::Voided
        )
    }

    /// Whether `self → to` is a transition of the machine. The store refuses any other.
    pub fn can_go(self, to: JobState) -> bool {
        use JobState::*;
        match (self, to) {
            (Received, Validated | Rejected) => true,
            (Validated | Spoiled, Numbered) => true,
            (Numbered, Encoding) => true,
            (Encoding, Verifying) => true,
            (Verifying, Printing) => true,
            // Only a printed card is issued, and only a verified card is printed.
            (Printing, Issued) => true,
            // Any step on a lane can spoil the card (crash recovery spoils a numbered job too:
            // its number was handed out, so it is voided, never reused).
            (Numbered | Encoding | Verifying | Printing, Spoiled) => true,
            (Spoiled, Failed) => true,
            // Operator actions.
            (Failed, Validated) => true,
            (Validated | Spoiled | Failed | Issued, Voided) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored: no personal data (the record stays in the store, see [`crate::store::Store::inputs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Store-assigned id.
    pub id: i64,
    /// The MMC's application id.
    pub application_id: String,
    /// Current state.
    pub state: JobState,
    /// The 9-digit number, once numbered (kept after a spoil until the next claim).
    pub document_number: Option<String>,
    /// Spoiled cards so far in this round (reset by an operator retry).
    pub attempts: i64,
    /// The station holding the job while it is on a lane.
    pub station: Option<String>,
    /// The lane holding the job.
    pub lane: Option<String>,
    /// A replacement filed more than 7 days after the event.
    pub late_notification: bool,
    /// The number a replacement revokes when issued.
    pub previous_document_number: Option<String>,
    /// Why the last step failed (no personal data), or the rejection problems.
    pub last_error: Option<String>,
    /// SHA-256 (hex) of the Document Signer certificate that signed the card.
    pub ds_certificate: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ALL_STATES {
            assert_eq!(JobState::parse(s.as_str()), Ok(s));
        }
        assert_eq!(
            JobState::parse("done"),
            Err(UnknownState { got: "done".into() })
        );
    }

    #[test]
    fn issued_only_after_printing_and_printing_only_after_verifying() {
        let into = |to: JobState| -> Vec<JobState> {
            ALL_STATES
                .iter()
                .copied()
                .filter(|s| s.can_go(to))
                .collect()
        };
        assert_eq!(into(JobState::Issued), vec![JobState::Printing]);
        assert_eq!(into(JobState::Printing), vec![JobState::Verifying]);
        assert_eq!(into(JobState::Verifying), vec![JobState::Encoding]);
        assert_eq!(
            into(JobState::Numbered),
            vec![JobState::Validated, JobState::Spoiled]
        );
        assert_eq!(into(JobState::Rejected), vec![JobState::Received]);
        for s in ALL_STATES {
            assert!(!JobState::Issued.can_go(s) || s == JobState::Voided);
            assert!(!JobState::Rejected.can_go(s));
            assert!(!JobState::Voided.can_go(s));
        }
    }
}
