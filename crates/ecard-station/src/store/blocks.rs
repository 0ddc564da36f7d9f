//! Numbers for stations sharing PostgreSQL: each station takes its numbers from a block of
//! [`BLOCK`] reserved for it, so the fleet's claims do not queue on a series' row (every claim
//! held that row until its commit). The series' row is locked once per block.
//!
//! Every number of a block is either given out by its station or recorded as `voided` in
//! `numbers`: when the station stops cleanly, when another station takes over a job of its
//! (its lease ran out), and when a restored database's numbering is made safe. A station that
//! restarts after a crash goes on with its block. SQLite has one station and one writer: it
//! takes numbers from the series directly, as before.

use super::StoreError;
use super::backend::{Tx, Val};

/// Numbers per block.
pub(crate) const BLOCK: i64 = 10;

/// The highest number of a series (seven digits).
const LAST_OF_SERIES: i64 = 9_999_999;

/// The next number (seven digits) for `station` in `series`, inside the claim's transaction.
pub(super) fn take(
    tx: &mut dyn Tx,
    station: &str,
    series: u8,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let series_id = i64::from(series);
    if !tx.is_postgres() {
        return from_series(tx, series, 1);
    }
    let own = tx.rows(
        "UPDATE number_blocks SET next = next + 1 WHERE station = ?1 AND series = ?2 AND next <= last RETURNING next - 1",
        &[station.into(), series_id.into()],
    )?;
    if let Some(n) = own.first().and_then(|r| r.first()).and_then(Val::int) {
        return Ok(n);
    }
    let first = from_series(tx, series, BLOCK)?;
    let last = (first + BLOCK - 1).min(LAST_OF_SERIES);
    tx.exec(
        "INSERT INTO number_blocks (station, series, next, last, reserved_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (station, series) DO UPDATE SET next = excluded.next, last = excluded.last, reserved_ms = excluded.reserved_ms",
        &[
            station.into(),
            series_id.into(),
            (first + 1).into(),
            last.into(),
            now_ms.into(),
        ],
    )?;
    Ok(first)
}

/// Moves `series` on by `n` numbers and returns the first of them.
fn from_series(tx: &mut dyn Tx, series: u8, n: i64) -> Result<i64, StoreError> {
    let next = tx.rows(
        "UPDATE series SET next = next + ?2 WHERE series = ?1 RETURNING next - ?2",
        &[i64::from(series).into(), n.into()],
    )?;
    let first = next
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("series {series:02} is not in the series table"),
        })?;
    if first > LAST_OF_SERIES {
        return Err(StoreError::SeriesExhausted { series });
    }
    Ok(first)
}

/// Records the numbers `range` (seven digits) of `series` as voided unused (job 0: no card
/// carries them, so they are not revoked); a number already recorded keeps its record.
pub(super) fn record_voided(
    tx: &mut dyn Tx,
    series: i64,
    range: std::ops::RangeInclusive<i64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    for n in range {
        tx.exec(
            "INSERT INTO numbers (document_number, job_id, status, at_ms) VALUES (?1, 0, 'voided', ?2) ON CONFLICT (document_number) DO NOTHING",
            &[format!("{series:02}{n:07}").into(), now_ms.into()],
        )?;
    }
    Ok(())
}

/// Records the numbers left in `station`'s blocks (every station's, for `None`) as voided and
/// closes the blocks. Returns the ranges voided, as nine-digit numbers (first, last).
pub(super) fn void(
    tx: &mut dyn Tx,
    station: Option<&str>,
    now_ms: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let open = match station {
        Some(s) => tx.rows(
            &format!(
                "SELECT station, series, next, last FROM number_blocks WHERE station = ?1 AND next <= last ORDER BY series{lock}"
            ),
            &[s.into()],
        )?,
        None => tx.rows(
            &format!(
                "SELECT station, series, next, last FROM number_blocks WHERE next <= last ORDER BY station, series{lock}"
            ),
            &[],
        )?,
    };
    let mut voided = Vec::new();
    for row in open {
        let (Some(owner), Some(series), Some(next), Some(last)) = (
            row.first().and_then(Val::text),
            row.get(1).and_then(Val::int),
            row.get(2).and_then(Val::int),
            row.get(3).and_then(Val::int),
        ) else {
            return Err(StoreError::Corrupt {
                what: format!("number_blocks row {row:?} has the wrong types"),
            });
        };
        record_voided(tx, series, next..=last, now_ms)?;
        tx.exec(
            "UPDATE number_blocks SET next = last + 1 WHERE station = ?1 AND series = ?2",
            &[owner.as_str().into(), series.into()],
        )?;
        voided.push((
            format!("{series:02}{next:07}"),
            format!("{series:02}{last:07}"),
        ));
    }
    Ok(voided)
}

/// The audit log's `to_state` of an entry recording voided block numbers (job id 0).
pub const NUMBERS_VOIDED: &str = "numbers_voided";

/// [`void`], with one audit entry in `chain` naming the ranges and `why`, when any was voided.
pub(super) fn void_recorded(
    tx: &mut dyn Tx,
    chain: &str,
    station: Option<&str>,
    actor: &str,
    why: &str,
    now_ms: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let voided = void(tx, station, now_ms)?;
    if voided.is_empty() {
        return Ok(voided);
    }
    let ranges: Vec<String> = voided.iter().map(|(f, l)| format!("{f} to {l}")).collect();
    let mut head = super::rows::lock_head(tx, chain)?;
    let entry = crate::audit::AuditEntry {
        seq: 0, // set by insert_audit, as are chain and prev_hash
        chain: String::new(),
        at: super::rows::rfc3339_ms(now_ms),
        actor: actor.to_string(),
        job_id: 0,
        from_state: None,
        to_state: NUMBERS_VOIDED.to_string(),
        lane: None,
        document_number: None,
        ds_certificate: None,
        detail: Some(format!(
            "numbers {} reserved for {} voided unused: {why}",
            ranges.join(", "),
            station.unwrap_or("the stations")
        )),
        prev_hash: String::new(),
        hash: String::new(),
    };
    super::rows::insert_audit(tx, &mut head, entry)?;
    Ok(voided)
}
