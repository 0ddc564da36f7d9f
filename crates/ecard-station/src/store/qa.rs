//! What QA needs from the store: for each issued card, the facts the lane recorded when it wrote
//! it (`qa_cards`), and the inspections done afterwards (`qa_results`). Same SQL for both
//! databases. No personal data: EF hashes, EF.SOD and the DS certificate only (EF.SOD holds
//! hashes, not the holder's data). This module does not judge a card: `crate::qa` does.

use super::backend::Val;
use super::{Store, StoreError};
use crate::qa::sampling::SamplingPlan;

/// One card as its lane wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IssuedCardRow {
    /// The 9 digits.
    pub document_number: String,
    /// The job.
    pub job_id: i64,
    /// The lane that wrote it.
    pub lane: Option<String>,
    /// JSON object: EF name → SHA-256 (hex) of the bytes written.
    pub ef_sha256_json: String,
    /// EF.SOD as written (hex).
    pub sod_hex: String,
    /// The DS certificate in EF.SOD (DER, hex).
    pub ds_cert_hex: String,
    /// What the lock probe answered after writing (`refused:6982`, `accepted`, or an error).
    pub lock_result: String,
    /// When it was written, ms since the Unix epoch.
    pub written_ms: i64,
    /// Why QA must inspect it (`first_of_shift`, `one_in_20`, comma-separated); `None`: not sampled.
    pub sample: Option<String>,
}

/// One QA inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaResultRow {
    /// Order of recording.
    pub seq: i64,
    /// The job inspected, when the number belongs to one.
    pub job_id: Option<i64>,
    /// The number read from the card.
    pub document_number: String,
    /// The lane that wrote the card, when known.
    pub lane: Option<String>,
    /// Who inspected (token name or user).
    pub inspector: String,
    /// `pass` or `fail`.
    pub verdict: String,
    /// JSON array of `{check, reason}`.
    pub failures_json: String,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
}

fn issued_from(r: &[Val]) -> IssuedCardRow {
    IssuedCardRow {
        document_number: r[0].text().unwrap_or_default(),
        job_id: r[1].int().unwrap_or(-1),
        lane: r[2].text(),
        ef_sha256_json: r[3].text().unwrap_or_default(),
        sod_hex: r[4].text().unwrap_or_default(),
        ds_cert_hex: r[5].text().unwrap_or_default(),
        lock_result: r[6].text().unwrap_or_default(),
        written_ms: r[7].int().unwrap_or(0),
        sample: r[8].text(),
    }
}

const ISSUED_COLS: &str =
    "document_number, job_id, lane, ef_sha256, sod, ds_cert, lock_result, written_ms, sample";

impl Store {
    /// Records what a lane wrote on a card (replacing an earlier record of the same number,
    /// which only a re-verification after a crash writes again). With a `plan`, decides in the
    /// same transaction whether QA must inspect it (counting the lane's earlier cards of the
    /// shift); without, keeps `row.sample`. Returns the row as stored.
    pub fn record_issued_card(
        &self,
        row: &IssuedCardRow,
        plan: Option<&SamplingPlan>,
    ) -> Result<IssuedCardRow, StoreError> {
        self.db.with_tx(|tx| {
            let mut row = row.clone();
            tx.exec(
                "DELETE FROM qa_cards WHERE document_number = ?1",
                &[row.document_number.as_str().into()],
            )?;
            if let Some(plan) = plan {
                let earlier = tx
                    .rows(
                        "SELECT COUNT(*) FROM qa_cards WHERE lane = ?1 AND written_ms >= ?2 AND written_ms < ?3",
                        &[
                            row.lane.clone().into(),
                            plan.shift_start_ms(row.written_ms).into(),
                            row.written_ms.into(),
                        ],
                    )?
                    .first()
                    .and_then(|r| r[0].int())
                    .unwrap_or(0);
                let reasons = plan.reasons(&row.document_number, earlier);
                row.sample = (!reasons.is_empty()).then(|| reasons.join(","));
            }
            tx.exec(
                &format!(
                    "INSERT INTO qa_cards ({ISSUED_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                &[
                    row.document_number.as_str().into(),
                    row.job_id.into(),
                    row.lane.clone().into(),
                    row.ef_sha256_json.as_str().into(),
                    row.sod_hex.as_str().into(),
                    row.ds_cert_hex.as_str().into(),
                    row.lock_result.as_str().into(),
                    row.written_ms.into(),
                    row.sample.clone().into(),
                ],
            )?;
            Ok(row)
        })
    }

    /// Sampled cards of issued numbers that no inspection has recorded yet, oldest first.
    pub fn qa_queue(&self, limit: i64) -> Result<Vec<IssuedCardRow>, StoreError> {
        self.db.with_tx(|tx| {
            let cols = ISSUED_COLS
                .split(", ")
                .map(|c| format!("c.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = tx.rows(
                &format!(
                    "SELECT {cols} FROM qa_cards c JOIN numbers n ON n.document_number = c.document_number WHERE c.sample IS NOT NULL AND n.status = 'issued' AND NOT EXISTS (SELECT 1 FROM qa_results r WHERE r.document_number = c.document_number) ORDER BY c.written_ms, c.document_number LIMIT ?1"
                ),
                &[limit.into()],
            )?;
            Ok(rows.iter().map(|r| issued_from(r)).collect())
        })
    }

    /// The record of a number, if a lane wrote a card with it.
    pub fn issued_card(&self, number: &str) -> Result<Option<IssuedCardRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                &format!("SELECT {ISSUED_COLS} FROM qa_cards WHERE document_number = ?1"),
                &[number.into()],
            )?;
            Ok(rows.first().map(|r| issued_from(r)))
        })
    }

    /// Records an inspection; returns its sequence number.
    pub fn record_qa_result(&self, row: &QaResultRow) -> Result<i64, StoreError> {
        self.db.with_tx(|tx| {
            let seq = tx
                .rows("SELECT COALESCE(MAX(seq), 0) + 1 FROM qa_results", &[])?
                .first()
                .and_then(|r| r[0].int())
                .ok_or_else(|| StoreError::Corrupt {
                    what: "qa_results: MAX(seq) returned no row".into(),
                })?;
            tx.exec(
                "INSERT INTO qa_results (seq, job_id, document_number, lane, inspector, verdict, failures, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    seq.into(),
                    row.job_id.map_or(Val::Null, Val::Int),
                    row.document_number.as_str().into(),
                    row.lane.clone().into(),
                    row.inspector.as_str().into(),
                    row.verdict.as_str().into(),
                    row.failures_json.as_str().into(),
                    row.at_ms.into(),
                ],
            )?;
            Ok(seq)
        })
    }

    /// Inspections recorded from `from_ms` (inclusive) to `to_ms` (exclusive), in order.
    pub fn qa_results(&self, from_ms: i64, to_ms: i64) -> Result<Vec<QaResultRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT seq, job_id, document_number, lane, inspector, verdict, failures, at_ms FROM qa_results WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY seq",
                &[from_ms.into(), to_ms.into()],
            )?;
            Ok(rows
                .iter()
                .map(|r| QaResultRow {
                    seq: r[0].int().unwrap_or(-1),
                    job_id: r[1].int(),
                    document_number: r[2].text().unwrap_or_default(),
                    lane: r[3].text(),
                    inspector: r[4].text().unwrap_or_default(),
                    verdict: r[5].text().unwrap_or_default(),
                    failures_json: r[6].text().unwrap_or_default(),
                    at_ms: r[7].int().unwrap_or(0),
                })
                .collect())
        })
    }

    /// The job a number was given to, and the number's status (`assigned`, `issued`, `voided`).
    pub fn number_owner(&self, number: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT job_id, status FROM numbers WHERE document_number = ?1",
                &[number.into()],
            )?;
            Ok(rows
                .first()
                .map(|r| (r[0].int().unwrap_or(-1), r[1].text().unwrap_or_default())))
        })
    }

    /// Numbers voided from `from_ms` (inclusive) to `to_ms` (exclusive), in order, each with
    /// whether an operator voided its job (`true`) or its card was spoiled (`false`).
    pub fn voided_numbers(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT n.document_number, j.state, j.document_number FROM numbers n LEFT JOIN jobs j ON j.id = n.job_id WHERE n.status = 'voided' AND n.at_ms >= ?1 AND n.at_ms < ?2 ORDER BY n.document_number",
                &[from_ms.into(), to_ms.into()],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    let n = r[0].text().unwrap_or_default();
                    let by_operator =
                        r[1].text().as_deref() == Some("voided") && r[2].text().as_deref() == Some(n.as_str());
                    (n, by_operator)
                })
                .collect())
        })
    }
}
