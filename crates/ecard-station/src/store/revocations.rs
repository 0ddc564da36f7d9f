//! Cheap questions about the revocation list (the status list's source).

use super::{Store, StoreError};

impl Store {
    /// How many numbers are revoked. Revocations are only ever added, so a change of the list
    /// shows as a change of this count.
    pub fn revocation_count(&self) -> Result<i64, StoreError> {
        self.db.with_tx(|tx| {
            Ok(tx
                .rows("SELECT COUNT(*) FROM revocations", &[])?
                .first()
                .and_then(|r| r.first())
                .and_then(|v| v.int().or_else(|| v.text().and_then(|t| t.parse().ok())))
                .unwrap_or(0))
        })
    }
}

impl Store {
    /// Whether the database answers (`/healthz`): one trivial query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.with_tx(|tx| tx.rows("SELECT 1", &[]).map(|_| ()))
    }
}
