//! The card status list the station publishes (ECARD.md section 8): every revoked number, signed
//! by the Document Signer as a COSE_Sign1, so that checkpoints can trust it without a token.
//!
//! The revocations are the store's: a replacement revokes the previous number with its cause
//! (lost, damaged, details changed), a spoiled card's number is voided. Nothing personal is on the
//! list, only numbers, reasons and dates.

use std::str::FromStr;

use ecard_seal::StatusList;
use ecard_seal::status::{Reason, Revocation, StatusListPayload};
use time::OffsetDateTime;

use crate::chip::Pki;
use crate::store::{Store, StoreError};

/// Why the list could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusListError {
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A revocation row the list format cannot carry (a reason or date the station never writes).
    #[error("revocation of {number}: {problem}")]
    BadRow {
        /// The document number.
        number: String,
        /// What is wrong.
        problem: String,
    },
    /// Signing failed.
    #[error("cannot sign the status list: {0}")]
    Sign(String),
}

/// The store's revocations as list entries.
pub fn revocations(store: &Store) -> Result<Vec<Revocation>, StatusListError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    store
        .revocations()?
        .into_iter()
        .map(|(number, reason, since)| {
            let bad = |problem: String| StatusListError::BadRow {
                number: number.clone(),
                problem,
            };
            let reason = Reason::from_str(&reason).map_err(|e| bad(e.to_string()))?;
            let since = time::Date::parse(&since, &format)
                .map_err(|e| bad(format!("date {since:?}: {e}")))?;
            Ok(Revocation {
                document_number: number.clone(),
                reason,
                since,
            })
        })
        .collect()
}

/// The signed list as of `now` (next update 24 hours later), ready to serve or to write to a file.
pub fn signed_list(
    store: &Store,
    pki: &Pki,
    now: OffsetDateTime,
) -> Result<Vec<u8>, StatusListError> {
    let payload = StatusListPayload::new(now, revocations(store)?);
    let signing = pki.signing();
    StatusList::sign(&payload, &signing.ds_key, &signing.ds)
        .map_err(|e| StatusListError::Sign(e.to_string()))
}

/// The signed list, made once per change and served many times: `GET /status-list` is public and
/// a checkpoint fleet polls it, so signing per request would let anyone make the station sign
/// (and its store count) as fast as they can send. Revocations are only ever added, never removed
/// or edited, so their count tells whether the list changed; it is looked up at most once per
/// [`StatusCache::CHECK_EVERY`], and the list is signed again when it changed or when half of its
/// validity (12 of the 24 hours to `nxt`) has passed.
#[derive(Debug, Default)]
pub struct StatusCache {
    // std Mutex: held for a comparison and a clone of an Arc, never across an `.await`.
    cached: std::sync::Mutex<Option<Cached>>,
    signatures: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct Cached {
    count: i64,
    checked: std::time::Instant,
    signed_at: OffsetDateTime,
    bytes: bytes::Bytes,
}

impl StatusCache {
    /// How often the store is asked whether the list changed.
    pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
    /// A list is signed again after this long even when nothing changed (half its validity).
    pub const RESIGN_AFTER: time::Duration = time::Duration::hours(12);

    /// The current signed list.
    pub fn get(
        &self,
        store: &Store,
        pki: &Pki,
        now: OffsetDateTime,
    ) -> Result<bytes::Bytes, StatusListError> {
        let fresh = |c: &Cached| now - c.signed_at < Self::RESIGN_AFTER;
        if let Ok(guard) = self.cached.lock()
            && let Some(c) = guard.as_ref()
            && c.checked.elapsed() < Self::CHECK_EVERY
            && fresh(c)
        {
            return Ok(c.bytes.clone());
        }
        let count = store.revocation_count()?;
        if let Ok(mut guard) = self.cached.lock()
            && let Some(c) = guard.as_mut()
            && c.count == count
            && fresh(c)
        {
            c.checked = std::time::Instant::now();
            return Ok(c.bytes.clone());
        }
        let bytes = bytes::Bytes::from(signed_list(store, pki, now)?);
        self.signatures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some(Cached {
                count,
                checked: std::time::Instant::now(),
                signed_at: now,
                bytes: bytes.clone(),
            });
        }
        Ok(bytes)
    }

    /// How many lists this cache has signed (tests and benchmarks).
    pub fn signatures(&self) -> u64 {
        self.signatures.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 10: a thousand requests sign one list; a new revocation is on the next one
    /// after at most a check interval, signed once more.
    #[test]
    fn the_list_is_signed_once_per_change() {
        let t = crate::testutil::sqlite();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::demo(&dir.path().join("pki")).unwrap();
        let cache = StatusCache::default();
        let now = OffsetDateTime::now_utc();
        let first = cache.get(&t.store, &pki, now).unwrap();
        for _ in 0..1000 {
            assert_eq!(cache.get(&t.store, &pki, now).unwrap(), first);
        }
        assert_eq!(cache.signatures(), 1);
        t.store
            .exec_raw("INSERT INTO revocations (document_number, reason, since) VALUES ('770000042', 'lost', '2026-11-01')")
            .unwrap();
        std::thread::sleep(StatusCache::CHECK_EVERY + std::time::Duration::from_millis(50));
        let second = cache.get(&t.store, &pki, now).unwrap();
        assert_ne!(second, first);
        assert_eq!(cache.signatures(), 2);
        let list = StatusList::decode(&second).unwrap();
        assert_eq!(list.payload.rev[0].document_number, "770000042");
        // Half a validity later the same list is signed again (a fresh `iat`), once.
        let later = now + StatusCache::RESIGN_AFTER + time::Duration::minutes(1);
        let third = cache.get(&t.store, &pki, later).unwrap();
        assert_ne!(third, second);
        assert_eq!(cache.get(&t.store, &pki, later).unwrap(), third);
        assert_eq!(cache.signatures(), 3);
    }
}
