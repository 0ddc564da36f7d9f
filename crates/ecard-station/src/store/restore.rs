//! Numbering after a restore: a database brought back from a backup does not know the numbers
//! issued after the backup was taken, so before it issues anything every series skips a block
//! of numbers (or up to a high-water mark the operator read off the audit log copy or the
//! status list). The skipped numbers are recorded as `voided` in `numbers` (never on the
//! revocation list: cards with those numbers may be real cards in holders' hands) and one audit
//! entry per series says which and why. ECARD.md section 3: a number is issued at most once, ever.

use super::backend::{Tx, Val};
use super::rows::{insert_audit, lock_head, rfc3339_ms};
use super::{Store, StoreError};
use crate::audit::AuditEntry;

/// The audit log's `to_state` of a numbering entry (job id 0: it concerns no job).
pub const NUMBERS_RESERVED: &str = "numbers_reserved";

/// How a restored database makes its numbering safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberingRule {
    /// Skip this many numbers above the highest one in the database, in every series.
    Reserve(u32),
    /// Continue after this 9-digit number (series and number), which the operator knows to be
    /// the highest ever issued in its series.
    After(String),
}

/// One series' skipped block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedBlock {
    /// The series.
    pub series: u8,
    /// The first skipped number (9 digits); `None` when nothing needed skipping.
    pub first: Option<String>,
    /// The last skipped number (9 digits).
    pub last: Option<String>,
    /// The next number the series will issue (9 digits).
    pub next: String,
}

/// Why a numbering rule cannot be applied.
fn bad_rule(what: String) -> StoreError {
    StoreError::BadNumbering { what }
}

impl Store {
    /// The highest number each series has given out (assigned, issued or voided), and its next.
    pub fn series_state(&self) -> Result<Vec<(u8, Option<i64>, i64)>, StoreError> {
        self.db.with_tx(series_state)
    }

    /// Applies `rule` in one transaction: moves each series' next number past the block, records
    /// the skipped numbers as voided, and appends an audit entry per series with `why`.
    pub fn secure_numbering(
        &self,
        rule: &NumberingRule,
        why: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<ReservedBlock>, StoreError> {
        self.db.with_tx(|tx| {
            // Numbers the stations held in blocks may have been issued after the copy was
            // taken: never given out again, they are voided with the rest.
            super::blocks::void_recorded(tx, &self.chain, None, actor, why, now_ms)?;
            let mut head = lock_head(tx, &self.chain)?;
            let state = series_state(tx)?;
            let targets: Vec<(u8, i64, i64)> = match rule {
                NumberingRule::Reserve(n) => state
                    .iter()
                    .map(|(s, high, next)| {
                        let from = high.map_or(*next, |h| (h + 1).max(*next));
                        (*s, from, from + i64::from(*n))
                    })
                    .collect(),
                NumberingRule::After(number) => {
                    let (series, n) = parse_number(number)?;
                    let Some((_, high, next)) = state.iter().find(|(s, _, _)| *s == series) else {
                        return Err(bad_rule(format!(
                            "series {series:02} of {number} is not in this database"
                        )));
                    };
                    if let Some(h) = high
                        && n < *h
                    {
                        return Err(bad_rule(format!(
                            "{number} is below {series:02}{h:07}, the highest number this database gave out; name the highest number ever issued"
                        )));
                    }
                    let from = high.map_or(*next, |h| (h + 1).max(*next));
                    vec![(series, from, (n + 1).max(from))]
                }
            };
            let mut blocks = Vec::new();
            for (series, from, new_next) in targets {
                if new_next > 10_000_000 {
                    return Err(StoreError::SeriesExhausted { series });
                }
                super::blocks::record_voided(tx, i64::from(series), from..=new_next - 1, now_ms)?;
                tx.exec(
                    "UPDATE series SET next = ?2 WHERE series = ?1",
                    &[i64::from(series).into(), new_next.into()],
                )?;
                let block = ReservedBlock {
                    series,
                    first: (new_next > from).then(|| format!("{series:02}{from:07}")),
                    last: (new_next > from).then(|| format!("{series:02}{:07}", new_next - 1)),
                    next: format!("{series:02}{new_next:07}"),
                };
                let skipped = match (&block.first, &block.last) {
                    (Some(f), Some(l)) => format!("numbers {f} to {l} voided unused"),
                    _ => "no number needed skipping".to_string(),
                };
                append_station_entry(
                    tx,
                    &mut head,
                    now_ms,
                    actor,
                    &format!("{why}; series {series:02}: {skipped}; next {}", block.next),
                )?;
                blocks.push(block);
            }
            Ok(blocks)
        })
    }

    /// Whether the newest audit entry is a numbering reservation: nothing was issued since the
    /// numbering was last made safe (what `restore-check` asks of a restored database).
    pub fn numbering_secured_last(&self) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows("SELECT to_state FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
            Ok(rows
                .first()
                .and_then(|r| r.first())
                .and_then(Val::text)
                .is_some_and(|s| s == NUMBERS_RESERVED))
        })
    }
}

fn series_state(tx: &mut dyn Tx) -> Result<Vec<(u8, Option<i64>, i64)>, StoreError> {
    let series = tx.rows("SELECT series, next FROM series ORDER BY series", &[])?;
    let mut out = Vec::new();
    for r in series {
        let (Some(s), Some(next)) = (r[0].int(), r[1].int()) else {
            return Err(StoreError::Corrupt {
                what: "a series row is not (series, next)".into(),
            });
        };
        let s = u8::try_from(s).map_err(|_| StoreError::Corrupt {
            what: format!("series {s} is not two digits"),
        })?;
        let prefix = format!("{s:02}%");
        let high = tx
            .rows(
                "SELECT MAX(document_number) FROM numbers WHERE document_number LIKE ?1",
                &[prefix.into()],
            )?
            .first()
            .and_then(|r| r.first())
            .and_then(Val::text)
            .and_then(|n| n.get(2..).and_then(|d| d.parse::<i64>().ok()));
        out.push((s, high, next));
    }
    Ok(out)
}

fn parse_number(number: &str) -> Result<(u8, i64), StoreError> {
    if number.len() != 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_rule(format!(
            "{number:?} is not a 9-digit card number like 771234567"
        )));
    }
    let series = number[..2].parse::<u8>().unwrap_or(0);
    let n = number[2..].parse::<i64>().unwrap_or(0);
    Ok((series, n))
}

/// An audit entry about the station, not a job (job id 0).
fn append_station_entry(
    tx: &mut dyn Tx,
    head: &mut crate::audit::ChainHead,
    now_ms: i64,
    actor: &str,
    detail: &str,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        seq: 0, // set by insert_audit, as are chain and prev_hash
        chain: String::new(),
        at: rfc3339_ms(now_ms),
        actor: actor.to_string(),
        job_id: 0,
        from_state: None,
        to_state: NUMBERS_RESERVED.to_string(),
        lane: None,
        document_number: None,
        ds_certificate: None,
        detail: Some(detail.to_string()),
        prev_hash: String::new(),
        hash: String::new(),
    };
    insert_audit(tx, head, entry)
}
