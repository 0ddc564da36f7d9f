//! Cards found in a lane's slot at start that no live job of that lane owns (issue 13 item 14):
//! a station killed while printing leaves its card in the slot; another station takes the job
//! over, and the card, locked and validly signed, would sit there unnoticed. They are recorded
//! here "to destroy" (and in the audit log) for the operator.

use serde::Serialize;

use super::backend::Val;
use super::rows::{insert_audit, lock_head, rfc3339_ms};
use super::{Store, StoreError};
use crate::audit::AuditEntry;

/// A card to destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardToDestroy {
    /// Where it was moved (under `DATA_DIR/to-destroy/`).
    pub path: String,
    /// The job whose card it was.
    pub job_id: i64,
    /// The number the card carries, as the audit log says.
    pub document_number: Option<String>,
    /// The station and lane whose slot held it.
    pub station: String,
    /// The lane.
    pub lane: String,
    /// When it was found, RFC 3339.
    pub found: String,
}

impl Store {
    /// The number job `job_id` had while on `station`/`lane` (its last audit entry there with a
    /// number), for a card found in that lane's slot.
    pub fn number_on_lane(
        &self,
        job_id: i64,
        station: &str,
        lane: &str,
    ) -> Result<Option<String>, StoreError> {
        self.db.with_tx(|tx| {
            Ok(tx
                .rows(
                    "SELECT document_number FROM audit WHERE job_id = ?1 AND lane = ?2 AND document_number IS NOT NULL ORDER BY seq DESC LIMIT 1",
                    &[job_id.into(), format!("{station}/{lane}").into()],
                )?
                .first()
                .and_then(|r| r.first())
                .and_then(Val::text))
        })
    }

    /// Records a card to destroy, with an audit entry (job id 0: a station event).
    pub fn record_card_to_destroy(
        &self,
        card: &CardToDestroy,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            tx.exec(
                "INSERT INTO cards_to_destroy (path, job_id, document_number, station, lane, found_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (path) DO NOTHING",
                &[
                    card.path.as_str().into(),
                    card.job_id.into(),
                    card.document_number.clone().into(),
                    card.station.as_str().into(),
                    card.lane.as_str().into(),
                    now_ms.into(),
                ],
            )?;
            let mut head = lock_head(tx, &self.chain)?;
            let entry = AuditEntry {
                seq: 0, // set by insert_audit, as are chain and prev_hash
                chain: String::new(),
                at: rfc3339_ms(now_ms),
                actor: format!("station:{}", card.station),
                job_id: 0,
                from_state: None,
                to_state: "card_to_destroy".into(),
                lane: Some(format!("{}/{}", card.station, card.lane)),
                document_number: card.document_number.clone(),
                ds_certificate: None,
                detail: Some(format!(
                    "a card of job {} was left in the lane's slot and no live job owns it; moved to {}: destroy it",
                    card.job_id, card.path
                )),
                prev_hash: String::new(),
                hash: String::new(),
            };
            insert_audit(tx, &mut head, entry)
        })
    }

    /// Every card recorded to destroy, newest first.
    pub fn cards_to_destroy(&self) -> Result<Vec<CardToDestroy>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT path, job_id, document_number, station, lane, found_ms FROM cards_to_destroy ORDER BY found_ms DESC",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| CardToDestroy {
                    path: r[0].text().unwrap_or_default(),
                    job_id: r[1].int().unwrap_or(0),
                    document_number: r[2].text(),
                    station: r[3].text().unwrap_or_default(),
                    lane: r[4].text().unwrap_or_default(),
                    found: rfc3339_ms(r[5].int().unwrap_or(0)),
                })
                .collect())
        })
    }
}

/// The table (schema migration 5).
pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS cards_to_destroy (
    path TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    document_number TEXT,
    station TEXT NOT NULL,
    lane TEXT NOT NULL,
    found_ms BIGINT NOT NULL
);
";
