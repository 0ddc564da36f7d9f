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
