//! Quality assurance of issued cards: what a lane records when it writes a card ([`capture`]), and
//! the inspection of a card in hand against that record ([`inspect`]).
//!
//! An inspection is pure over its inputs: the files read from the card, the Active Authentication
//! evidence and the lock probe are gathered by the caller (the CLI, over PC/SC or a simulated
//! card); the station's facts come from the [`Store`]. It names every failed check, not only the
//! first, so an inspector sees at once whether a card is a forgery, a mis-write or merely
//! unlocked. It must not write the card, and it holds no personal data: checks and reasons name
//! EFs, numbers and status words only.

#[cfg(test)]
mod api_tests;
pub mod report;
pub mod sampling;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use ecard_chip::apdu::StatusWord;
use ecard_chip::lds::{EfId, LdsFiles};
use ecard_chip::read::{ReadError, WriteProbe};
use ecard_chip::verify::{AaEvidence, Outcome, VerifyOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::store::{IssuedCardRow, QaResultRow, Store, StoreError};

/// The file a lock probe writes to: DG1 is on every card and small.
pub const LOCK_PROBE_EF: EfId = EfId::Dg1;

/// SHA-256 (hex) of every EF, keyed by its name (`EF.COM`, `EF.DG1`, ... `EF.SOD`).
pub fn ef_hashes(files: &LdsFiles) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(ef, bytes)| (ef.name().to_string(), hex::encode(Sha256::digest(bytes))))
        .collect()
}

/// The lock probe's answer in the store's words: `refused:<SW>`, `accepted`, or `error:<why>`.
pub fn lock_text(probe: &Result<WriteProbe, ReadError>) -> String {
    match probe {
        Ok(WriteProbe::Refused(sw)) => format!("refused:{}", sw_hex(*sw)),
        Ok(WriteProbe::Accepted) => "accepted".into(),
        Ok(other) => format!("error:unknown probe answer {other:?}"),
        Err(e) => format!("error:{e}"),
    }
}

fn sw_hex(sw: StatusWord) -> String {
    format!("{sw}")
}

/// What a lane records for QA when it has written and verified a card.
pub fn capture(
    job_id: i64,
    document_number: &str,
    lane: Option<&str>,
    files: &LdsFiles,
    ds_cert_der: &[u8],
    lock: &Result<WriteProbe, ReadError>,
    written_ms: i64,
) -> IssuedCardRow {
    IssuedCardRow {
        document_number: document_number.to_string(),
        job_id,
        lane: lane.map(str::to_string),
        // A map of strings always serializes.
        ef_sha256_json: serde_json::to_string(&ef_hashes(files)).unwrap_or_default(),
        sod_hex: files.get(&EfId::Sod).map(hex::encode).unwrap_or_default(),
        ds_cert_hex: hex::encode(ds_cert_der),
        lock_result: lock_text(lock),
        written_ms,
        sample: None,
    }
}

/// One failed QA check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// `issued`, `revoked`, `ef_hashes`, `checkpoint`, `locked`, or `read`.
    pub check: String,
    /// Why, in domain words.
    pub reason: String,
}

/// The outcome of inspecting one card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaVerdict {
    /// The number read from the card (DG1), when it parsed.
    pub document_number: Option<String>,
    /// The job that number was given to.
    pub job_id: Option<i64>,
    /// The lane that wrote the card.
    pub lane: Option<String>,
    /// Every failed check; empty means pass.
    pub failures: Vec<Failure>,
}

impl QaVerdict {
    /// No check failed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
    /// `pass` or `fail`.
    pub fn word(&self) -> &'static str {
        if self.passed() { "pass" } else { "fail" }
    }
}

/// The card as read by the inspector.
pub struct CardEvidence<'a> {
    /// Every file read.
    pub files: &'a LdsFiles,
    /// Active Authentication on a fresh challenge.
    pub active_auth: AaEvidence,
    /// The answer to `try_write_same_byte` on [`LOCK_PROBE_EF`].
    pub lock: Result<WriteProbe, ReadError>,
}

fn fail(check: &str, reason: impl Into<String>) -> Failure {
    Failure {
        check: check.into(),
        reason: reason.into(),
    }
}

/// What the station knows about one number: everything [`inspect`] compares a card against.
/// The CLI gets it from the store (`--data-dir`) or from `GET /api/v1/qa/cards/{number}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationFacts {
    /// The number.
    pub document_number: String,
    /// The job it was given to, and its status (`assigned`, `issued`, `voided`); `None`: never.
    pub owner: Option<(i64, String)>,
    /// On the revocation list.
    pub revoked: bool,
    /// What the lane wrote, when it recorded it.
    pub record: Option<IssuedCardRow>,
    /// The card access number of the job's card (QA opens the chip with it); older answers
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can: Option<String>,
}

impl StationFacts {
    /// Looks `number` up in the store.
    pub fn from_store(store: &Store, number: &str) -> Result<StationFacts, StoreError> {
        let owner = store.number_owner(number)?;
        let can = match &owner {
            Some((job, _)) => store.can(*job)?,
            None => None,
        };
        Ok(StationFacts {
            document_number: number.to_string(),
            owner,
            revoked: store.is_revoked(number)?,
            record: store.issued_card(number)?,
            can,
        })
    }
}

/// The document number on a card (DG1), if it parses; `at` settles a two-digit birth century.
pub fn card_number(files: &LdsFiles, at: time::Date) -> Option<String> {
    ecard_chip::verify::holder_summary(files, at).map(|h| h.document_number)
}

/// Inspects a card against what the station recorded, with the station's CSCA(s) as trust and
/// `at` as the check date.
pub fn inspect(
    store: &Store,
    card: CardEvidence<'_>,
    trust: &[Certificate],
    at: time::Date,
) -> Result<QaVerdict, StoreError> {
    let facts = match card_number(card.files, at) {
        Some(n) => Some(StationFacts::from_store(store, &n)?),
        None => None,
    };
    inspect_with(facts.as_ref(), card, trust, at).map_err(|what| StoreError::Corrupt { what })
}

/// [`inspect`] over facts gathered by the caller (`None`: the card has no readable number).
/// Fails only when the record itself is unreadable.
pub fn inspect_with(
    facts: Option<&StationFacts>,
    card: CardEvidence<'_>,
    trust: &[Certificate],
    at: time::Date,
) -> Result<QaVerdict, String> {
    let mut failures = Vec::new();
    let mut verdict = QaVerdict {
        document_number: facts.map(|f| f.document_number.clone()),
        job_id: None,
        lane: None,
        failures: Vec::new(),
    };
    let Some(facts) = facts else {
        verdict.failures.push(fail(
            "read",
            "DG1 is missing or does not parse: no document number to look up",
        ));
        return Ok(verdict);
    };
    let number = &facts.document_number;
    match &facts.owner {
        None => failures.push(fail(
            "issued",
            format!("number {number} was never issued by this station"),
        )),
        Some((job, status)) => {
            verdict.job_id = Some(*job);
            if status != "issued" {
                failures.push(fail(
                    "issued",
                    format!("number {number} is {status} (job {job}), expected issued"),
                ));
            }
        }
    }
    if facts.revoked {
        failures.push(fail("revoked", format!("number {number} is revoked")));
    }
    match &facts.record {
        None if verdict.job_id.is_some() => failures.push(fail(
            "ef_hashes",
            format!("the station has no record of the files written under number {number}"),
        )),
        None => {}
        Some(row) => {
            verdict.lane = row.lane.clone();
            let recorded: BTreeMap<String, String> = serde_json::from_str(&row.ef_sha256_json)
                .map_err(|e| format!("qa_cards.ef_sha256 of {number}: {e}"))?;
            let read = ef_hashes(card.files);
            let names: BTreeSet<&String> = recorded.keys().chain(read.keys()).collect();
            let differing: Vec<String> = names
                .into_iter()
                .filter_map(|n| match (recorded.get(n), read.get(n)) {
                    (Some(a), Some(b)) if a == b => None,
                    (Some(_), Some(_)) => Some(format!("{n} differs")),
                    (Some(_), None) => Some(format!("{n} missing on the card")),
                    (None, _) => Some(format!("{n} not written by the station")),
                })
                .collect();
            if !differing.is_empty() {
                failures.push(fail(
                    "ef_hashes",
                    format!(
                        "card does not hold what the station wrote under number {number}: {}",
                        differing.join(", ")
                    ),
                ));
            }
        }
    }
    // Revocation is its own check above; the checkpoint verdict judges the chip alone.
    let none = BTreeSet::new();
    let report = ecard_chip::verify::verify(
        card.files,
        &VerifyOptions {
            trust,
            at,
            strict: true,
            revoked: &none,
            active_auth: card.active_auth,
        },
    );
    if let Some(first) = report.first_failure() {
        let why = match &first.outcome {
            Outcome::Fail(r) => r.clone(),
            other => format!("{other:?}"),
        };
        failures.push(fail(
            "checkpoint",
            format!("checkpoint verdict invalid: {}: {why}", first.id.name()),
        ));
    }
    match &card.lock {
        Ok(WriteProbe::Refused(_)) => {}
        Ok(WriteProbe::Accepted) => failures.push(fail(
            "locked",
            format!(
                "card accepted a write of the same byte to {}: it is not locked",
                LOCK_PROBE_EF.name()
            ),
        )),
        other => failures.push(fail(
            "locked",
            format!("lock probe failed: {}", lock_text(other)),
        )),
    }
    verdict.failures = failures;
    Ok(verdict)
}

/// Records an inspection on its job (or on the bare number when no job has it).
pub fn record(
    store: &Store,
    verdict: &QaVerdict,
    inspector: &str,
    at_ms: i64,
) -> Result<i64, StoreError> {
    store.record_qa_result(&QaResultRow {
        seq: 0,
        job_id: verdict.job_id,
        document_number: verdict.document_number.clone().unwrap_or_default(),
        lane: verdict.lane.clone(),
        inspector: inspector.to_string(),
        verdict: verdict.word().to_string(),
        // Plain structs of strings always serialize.
        failures_json: serde_json::to_string(&verdict.failures).unwrap_or_default(),
        at_ms,
    })
}
