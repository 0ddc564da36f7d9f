//! The audit log: an append-only, hash-chained record of every job transition (who, when, lane,
//! number, DS certificate), and the check that finds any edit, insertion or deletion.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's fields in a fixed
//! JSON array, so changing, inserting or removing any entry breaks every later link. The head
//! (last sequence number and hash) is kept in its own row, so cutting entries off the end is
//! caught too, and every job's current state must be the target of its last entry. The store
//! appends entries in the same transaction as the transition they record. No personal data goes
//! in: job id, application id, number, states, lane, actor name, certificate hash.
//!
//! The log is several chains, one per station (its `chain`; `""` holds what was written before
//! stations had their own, and what tools write), each with its own head: stations sharing one
//! database append without waiting for each other's commits. Sequence numbers are unique across
//! the whole log and rise in the order entries were appended, so a job's history reads in order
//! across chains; within a chain they rise but are not consecutive.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Unique over the log, rising in the order entries were appended.
    pub seq: i64,
    /// The chain the entry is linked into: the station that wrote it (`""`: before stations had
    /// chains of their own, or a tool without a station).
    pub chain: String,
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
    /// Entries of a chain that has no head row: the head was deleted, or entries were inserted.
    #[error(
        "audit entry {seq} is in chain {chain:?}, which has no head row (the head was deleted or the entry inserted)"
    )]
    NoHead {
        /// The first entry of that chain.
        seq: i64,
        /// The chain.
        chain: String,
    },
    /// An entry's link to its predecessor in its chain does not match.
    #[error(
        "audit entry {seq} of chain {chain:?} links to hash {got}, but the entry before it in that chain (entry {previous}; 0: none) has hash {expected} (an entry was edited, inserted or deleted)"
    )]
    BrokenLink {
        /// The entry.
        seq: i64,
        /// Its chain.
        chain: String,
        /// The entry before it in the chain (0: none).
        previous: i64,
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
    /// The head row does not name the last entry of its chain.
    #[error(
        "audit head of chain {chain:?} says entry {head_seq} with hash {head_hash}, but the chain ends at entry {last_seq} with hash {last_hash} (entries were cut off or appended)"
    )]
    Head {
        /// The chain.
        chain: String,
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

/// The head row of one chain: its last entry's sequence number and hash (0 and [`GENESIS`]
/// while it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChainHead {
    /// The chain (a station id, or `""`).
    pub chain: String,
    /// Sequence number of its last entry.
    pub seq: i64,
    /// Hash of its last entry.
    pub hash: String,
}

/// Checks every chain: each link and each hash, in sequence order, and each chain's head.
/// `entries` are the whole log in rising sequence order. Returns the number of entries.
pub fn verify_chain(entries: &[AuditEntry], heads: &[ChainHead]) -> Result<i64, AuditError> {
    use std::collections::BTreeMap;
    // Per chain: (last seq, last hash) so far.
    let mut tips: BTreeMap<&str, (i64, String)> = BTreeMap::new();
    let known: std::collections::BTreeSet<&str> = heads.iter().map(|h| h.chain.as_str()).collect();
    let mut count = 0;
    for e in entries {
        if !known.contains(e.chain.as_str()) {
            return Err(AuditError::NoHead {
                seq: e.seq,
                chain: e.chain.clone(),
            });
        }
        let tip = tips
            .entry(e.chain.as_str())
            .or_insert_with(|| (0, GENESIS.to_string()));
        if e.prev_hash != tip.1 || e.seq <= tip.0 {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                chain: e.chain.clone(),
                previous: tip.0,
                got: e.prev_hash.clone(),
                expected: tip.1.clone(),
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
        *tip = (e.seq, e.hash.clone());
        count += 1;
    }
    for h in heads {
        let (last_seq, last_hash) = tips
            .get(h.chain.as_str())
            .cloned()
            .unwrap_or_else(|| (0, GENESIS.to_string()));
        if h.seq != last_seq || h.hash != last_hash {
            return Err(AuditError::Head {
                chain: h.chain.clone(),
                head_seq: h.seq,
                head_hash: h.hash.clone(),
                last_seq,
                last_hash,
            });
        }
    }
    Ok(count)
}

/// One line about the heads, for reports: `2 chain(s): s1 at 14 <hash>, s2 at 12 <hash>`.
pub fn describe_heads(heads: &[ChainHead]) -> String {
    let chains: Vec<String> = heads
        .iter()
        .map(|h| {
            let name = if h.chain.is_empty() {
                "(station-less)"
            } else {
                h.chain.as_str()
            };
            format!("{name} at {} {}", h.seq, h.hash)
        })
        .collect();
    format!(
        "{} chain(s): {}",
        heads.len(),
        if chains.is_empty() {
            "none yet".to_string()
        } else {
            chains.join(", ")
        }
    )
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

    /// Entries `seqs` (rising) linked into `chain`.
    fn chain(name: &str, seqs: &[i64]) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        seqs.iter()
            .map(|&seq| {
                let mut e = AuditEntry {
                    seq,
                    chain: name.into(),
                    at: "2026-11-25T12:00:00Z".into(),
                    actor: format!("lane:{name}/l1"),
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

    fn head(c: &[AuditEntry], name: &str) -> ChainHead {
        c.iter()
            .rfind(|e| e.chain == name)
            .map(|e| ChainHead {
                chain: name.into(),
                seq: e.seq,
                hash: e.hash.clone(),
            })
            .unwrap_or(ChainHead {
                chain: name.into(),
                seq: 0,
                hash: GENESIS.into(),
            })
    }

    fn by_seq(mut c: Vec<AuditEntry>) -> Vec<AuditEntry> {
        c.sort_by_key(|e| e.seq);
        c
    }

    #[test]
    fn detects_edit_insert_delete_and_truncation() {
        let c = chain("", &[1, 2, 3, 4]);
        let heads = [head(&c, "")];
        assert_eq!(verify_chain(&c, &heads), Ok(4));

        let mut edited = c.clone();
        edited[1].document_number = Some("770000099".into());
        assert!(matches!(
            verify_chain(&edited, &heads),
            Err(AuditError::Edited { seq: 2, .. })
        ));

        let mut deleted = c.clone();
        deleted.remove(1);
        assert!(matches!(
            verify_chain(&deleted, &heads),
            Err(AuditError::BrokenLink {
                seq: 3,
                previous: 1,
                ..
            })
        ));

        // Deleting and renumbering still breaks the link.
        let mut renumbered = deleted.clone();
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        assert!(matches!(
            verify_chain(&renumbered, &heads),
            Err(AuditError::BrokenLink { seq: 2, .. })
        ));

        let truncated = &c[..3];
        assert!(matches!(
            verify_chain(truncated, &heads),
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

    /// Two stations' chains interleaved in one log: each checks on its own, and a change to one
    /// is found in that one.
    #[test]
    fn interleaved_chains_check_apart() {
        let a = chain("a", &[1, 3, 4, 8]);
        let b = chain("b", &[2, 5, 6, 7]);
        let heads = [head(&a, "a"), head(&b, "b")];
        let log = by_seq([a.clone(), b.clone()].concat());
        assert_eq!(verify_chain(&log, &heads), Ok(8));

        // An entry moved from one chain to the other breaks both.
        let mut moved = log.clone();
        moved[4].chain = "a".into(); // seq 5, of b
        assert!(matches!(
            verify_chain(&moved, &heads),
            Err(AuditError::BrokenLink { seq: 5, ref chain, previous: 4, .. }) if chain == "a"
        ));

        // A chain's last entry cut off, with the other chain intact.
        let cut: Vec<_> = log.iter().filter(|e| e.seq != 7).cloned().collect();
        assert!(matches!(
            verify_chain(&cut, &heads),
            Err(AuditError::Head { ref chain, head_seq: 7, last_seq: 6, .. }) if chain == "b"
        ));

        // A chain whose head row is gone.
        assert!(matches!(
            verify_chain(&log, &heads[..1]),
            Err(AuditError::NoHead { seq: 2, ref chain }) if chain == "b"
        ));

        // An empty chain's head is 0 and the genesis hash.
        let empty = ChainHead {
            chain: "c".into(),
            seq: 0,
            hash: GENESIS.into(),
        };
        let all = [heads[0].clone(), heads[1].clone(), empty];
        assert_eq!(verify_chain(&log, &all), Ok(8));
    }
}
