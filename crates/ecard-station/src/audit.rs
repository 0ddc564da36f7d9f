//! The audit log: an append-only, hash-chained record of every job transition (who, when, lane,
//! number, DS certificate), and the check that finds any edit, insertion or deletion.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's fields in a fixed
//! JSON array, so changing, inserting or removing any entry breaks every later link. The head
//! (last sequence number and hash) is kept in its own row, so cutting entries off the end is
//! caught too, and every job's current state must be the target of its last entry. The store
//! appends entries in the same transaction as the transition they record. No personal data goes
//! in: job id, application id, number, states, lane, actor name, certificate hash.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... with no gap.
    pub seq: i64,
    /// RFC 3339 UTC time of the transition.
    pub at: String,
    /// Who caused it: a token's name, or `lane:<station>/<lane>`, or `station:<id>`.
    pub actor: String,
    /// The job.
    pub job_id: i64,
    /// State before (`None` when the job was created).
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// `station/lane` when a lane was involved.
    pub lane: Option<String>,
    /// The card number involved.
    pub document_number: Option<String>,
    /// SHA-256 (hex) of the DS certificate that signed the card.
    pub ds_certificate: Option<String>,
    /// A short reason (error kind, "operator retry"); never personal data.
    pub detail: Option<String>,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry must carry, computed from its fields and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let fields = serde_json::json!([
            self.seq,
            self.at,
            self.actor,
            self.job_id,
            self.from_state,
            self.to_state,
            self.lane,
            self.document_number,
            self.ds_certificate,
            self.detail,
        ]);
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(fields.to_string().as_bytes());
        hex::encode(h.finalize())
    }
}

/// What is wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A sequence number is missing or repeated: an entry was deleted or inserted.
    #[error(
        "audit entry {got} follows entry {previous}; expected {expected} (an entry was deleted or inserted)"
    )]
    Gap {
        /// The sequence number found.
        got: i64,
        /// The one before it.
        previous: i64,
        /// The one expected.
        expected: i64,
    },
    /// An entry's link to its predecessor does not match.
    #[error("audit entry {seq} links to hash {got}, but entry {} has hash {expected} (an entry was edited, inserted or deleted)", seq - 1)]
    BrokenLink {
        /// The entry.
        seq: i64,
        /// The `prev_hash` it carries.
        got: String,
        /// The predecessor's hash.
        expected: String,
    },
    /// An entry's fields do not give its hash.
    #[error("audit entry {seq} was edited: its fields hash to {computed}, it carries {stored}")]
    Edited {
        /// The entry.
        seq: i64,
        /// Hash of its fields now.
        computed: String,
        /// Hash stored with it.
        stored: String,
    },
    /// The head row does not name the last entry.
    #[error(
        "audit head says entry {head_seq} with hash {head_hash}, but the log ends at entry {last_seq} with hash {last_hash} (entries were cut off or appended)"
    )]
    Head {
        /// Sequence number in the head row.
        head_seq: i64,
        /// Hash in the head row.
        head_hash: String,
        /// Last entry found.
        last_seq: i64,
        /// Its hash.
        last_hash: String,
    },
    /// A job's state is not what its last audit entry says.
    #[error("job {job_id} is {state} but its last audit entry says {audited}")]
    JobMismatch {
        /// The job.
        job_id: i64,
        /// Its state in the jobs table.
        state: String,
        /// The target state of its last entry (`none` if it has none).
        audited: String,
    },
}

/// Checks the chain: contiguous sequence numbers from 1, each link, each hash, and the head.
/// Returns the number of entries.
pub fn verify_chain(entries: &[AuditEntry], head: (i64, &str)) -> Result<i64, AuditError> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_string();
    for e in entries {
        if e.seq != prev_seq + 1 {
            return Err(AuditError::Gap {
                got: e.seq,
                previous: prev_seq,
                expected: prev_seq + 1,
            });
        }
        if e.prev_hash != prev_hash {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                got: e.prev_hash.clone(),
                expected: prev_hash,
            });
        }
        let computed = e.compute_hash();
        if computed != e.hash {
            return Err(AuditError::Edited {
                seq: e.seq,
                computed,
                stored: e.hash.clone(),
            });
        }
        prev_seq = e.seq;
        prev_hash = e.hash.clone();
    }
    if head.0 != prev_seq || head.1 != prev_hash {
        return Err(AuditError::Head {
            head_seq: head.0,
            head_hash: head.1.to_string(),
            last_seq: prev_seq,
            last_hash: prev_hash,
        });
    }
    Ok(prev_seq)
}

/// Checks that every job's state is the target of its last entry.
pub fn verify_jobs(entries: &[AuditEntry], jobs: &[(i64, String)]) -> Result<(), AuditError> {
    let mut last = std::collections::HashMap::new();
    for e in entries {
        last.insert(e.job_id, e.to_state.as_str());
    }
    for (id, state) in jobs {
        let audited = last.get(id).copied().unwrap_or("none");
        if audited != state {
            return Err(AuditError::JobMismatch {
                job_id: *id,
                state: state.clone(),
                audited: audited.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: "2026-11-25T12:00:00Z".into(),
                    actor: "lane:s/l1".into(),
                    job_id: seq,
                    from_state: None,
                    to_state: "received".into(),
                    lane: None,
                    document_number: Some(format!("77{seq:07}")),
                    ds_certificate: None,
                    detail: None,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn detects_edit_insert_delete_and_truncation() {
        let c = chain(4);
        let head = (4, c[3].hash.clone());
        assert_eq!(verify_chain(&c, (head.0, &head.1)), Ok(4));

        let mut edited = c.clone();
        edited[1].document_number = Some("770000099".into());
        assert!(matches!(
            verify_chain(&edited, (head.0, &head.1)),
            Err(AuditError::Edited { seq: 2, .. })
        ));

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(
            verify_chain(&deleted, (head.0, &head.1)),
            Err(AuditError::Gap {
                got: 3,
                previous: 1,
                expected: 2
            })
        );

        // Deleting and renumbering still breaks the link.
        let mut renumbered = deleted.clone();
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        assert!(matches!(
            verify_chain(&renumbered, (head.0, &head.1)),
            Err(AuditError::BrokenLink { seq: 2, .. })
        ));

        let truncated = &c[..3];
        assert!(matches!(
            verify_chain(truncated, (head.0, &head.1)),
            Err(AuditError::Head {
                head_seq: 4,
                last_seq: 3,
                ..
            })
        ));

        assert_eq!(
            verify_jobs(&c, &[(1, "received".into()), (9, "issued".into())]),
            Err(AuditError::JobMismatch {
                job_id: 9,
                state: "issued".into(),
                audited: "none".into()
            })
        );
    }
}
