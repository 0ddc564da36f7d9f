//! The card access number of each job's card (ECARD.md section 10): drawn by the lane before it
//! personalizes a card, printed on the card's front, and needed by QA to open the chip again. It
//! is kept apart from the job row so that no listing carries it by accident, is shown to the
//! operator and QA roles only, and is never logged. It outlives the retention purge: the number,
//! the EF hashes and the CAN are what QA needs to re-read an issued card.

use super::backend::Val;
use super::sealed::can_context;
use super::{Store, StoreError};

/// Migration 6.
pub(crate) const DDL: &str = "CREATE TABLE IF NOT EXISTS job_cans (
    job_id BIGINT PRIMARY KEY,
    can TEXT NOT NULL
)";

impl Store {
    /// Records the CAN of the card job `id` is about to get (a spoiled card's CAN is replaced by
    /// the next card's).
    pub fn set_can(&self, id: i64, can: &str) -> Result<(), StoreError> {
        let sealed = self.seal_value(&can_context(id), can)?;
        self.db.with_tx(|tx| {
            tx.exec(
                "INSERT INTO job_cans (job_id, can) VALUES (?1, ?2) ON CONFLICT (job_id) DO UPDATE SET can = excluded.can",
                &[id.into(), sealed.as_str().into()],
            )?;
            Ok(())
        })
    }

    /// The CAN of job `id`'s card, if one was drawn.
    pub fn can(&self, id: i64) -> Result<Option<String>, StoreError> {
        let stored = self.db.with_tx(|tx| {
            Ok(tx
                .rows("SELECT can FROM job_cans WHERE job_id = ?1", &[id.into()])?
                .first()
                .and_then(|r| r.first())
                .and_then(Val::text))
        })?;
        stored
            .map(|s| self.open_value(&can_context(id), s))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil;

    fn round_trip(s: &crate::store::Store) {
        assert_eq!(s.can(7).unwrap(), None);
        s.set_can(7, "123456").unwrap();
        assert_eq!(s.can(7).unwrap().as_deref(), Some("123456"));
        s.set_can(7, "654321").unwrap();
        assert_eq!(s.can(7).unwrap().as_deref(), Some("654321"));
    }

    #[test]
    fn can_is_kept_and_replaced_sqlite() {
        round_trip(&testutil::sqlite().store);
    }

    #[test]
    fn can_is_kept_and_replaced_postgres() {
        if let Some(t) = testutil::postgres() {
            round_trip(&t.store);
        }
    }
}
