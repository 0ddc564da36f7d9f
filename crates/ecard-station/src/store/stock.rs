//! The blank-stock ledger's rows: `stock_blanks` (one per serial, its state) and `stock_events`
//! (what happened to it, when, where). A lane takes a blank only if its serial is in stock and
//! unused; every blank ends issued, spoiled or destroyed; the report reconciles the two tables
//! and lists every serial that does not add up. See [`crate::stock`].

use std::collections::BTreeMap;

use super::backend::{Tx, Val};
use super::rows::moscow_day_ms;
use super::{Store, StoreError};
use crate::stock::{Discrepancy, ManifestLine, Report};

/// How a blank's life ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlankEnd {
    /// It became this card.
    Issued {
        /// The card's number.
        number: String,
    },
    /// Spoiled in production (the card goes to the reject bin).
    Spoiled {
        /// Why (a short code, e.g. `write failed`, `verification failed`).
        reason: String,
    },
    /// Destroyed: keys blocked, an unknown blank put aside, damaged.
    Destroyed {
        /// Why.
        reason: String,
    },
}

/// Where a lane is when it takes a blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlankUse<'a> {
    /// The station.
    pub station: &'a str,
    /// The lane.
    pub lane: &'a str,
    /// The job the blank is for.
    pub job_id: i64,
}

fn event(
    tx: &mut dyn Tx,
    serial: &str,
    kind: &str,
    at_ms: i64,
    place: Option<&BlankUse<'_>>,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO stock_events (serial, event, at_ms, station, lane, job_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            serial.into(),
            kind.into(),
            at_ms.into(),
            place.map(|p| p.station).into(),
            place.map(|p| p.lane).into(),
            place.map_or(Val::Null, |p| p.job_id.into()),
            detail.into(),
        ],
    )?;
    Ok(())
}

fn state_of(tx: &mut dyn Tx, serial: &str) -> Result<Option<String>, StoreError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    Ok(tx
        .rows(
            &format!("SELECT state FROM stock_blanks WHERE serial = ?1{lock}"),
            &[serial.into()],
        )?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::text))
}

impl Store {
    /// Whether this station keeps a blank-stock ledger (a manifest was ever imported).
    pub fn stock_kept(&self) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            Ok(!tx
                .rows("SELECT 1 FROM stock_blanks LIMIT 1", &[])?
                .is_empty())
        })
    }

    /// Imports a card maker's manifest whole, or nothing: a serial already in the ledger, or a
    /// file imported before (same SHA-256), refuses the import naming the serials.
    pub fn stock_import(
        &self,
        lines: &[ManifestLine],
        file: &str,
        sha256: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.db.with_tx(|tx| {
            let again = tx.rows(
                "SELECT file, at_ms FROM stock_imports WHERE sha256 = ?1",
                &[sha256.into()],
            )?;
            if let Some(r) = again.first() {
                return Err(StoreError::StockRefused {
                    serial: String::new(),
                    reason: format!(
                        "this manifest was imported before (as {}); nothing imported",
                        r[0].text().unwrap_or_default()
                    ),
                });
            }
            let mut present = Vec::new();
            for l in lines {
                if !tx
                    .rows(
                        "SELECT 1 FROM stock_blanks WHERE serial = ?1",
                        &[l.serial.as_str().into()],
                    )?
                    .is_empty()
                {
                    present.push(l.serial.clone());
                }
            }
            if !present.is_empty() {
                let shown: Vec<&str> = present.iter().take(20).map(String::as_str).collect();
                return Err(StoreError::StockRefused {
                    serial: present[0].clone(),
                    reason: format!(
                        "{} serial(s) already in stock ({}{}); nothing imported",
                        present.len(),
                        shown.join(", "),
                        if present.len() > 20 { ", ..." } else { "" }
                    ),
                });
            }
            tx.exec(
                "INSERT INTO stock_imports (sha256, file, lines, at_ms, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    sha256.into(),
                    file.into(),
                    (lines.len() as i64).into(),
                    now_ms.into(),
                    actor.into(),
                ],
            )?;
            for l in lines {
                tx.exec(
                    "INSERT INTO stock_blanks (serial, batch, key_version, received_ms, state, updated_ms) VALUES (?1, ?2, ?3, ?4, 'in_stock', ?4)",
                    &[
                        l.serial.as_str().into(),
                        l.batch.as_str().into(),
                        i64::from(l.key_version).into(),
                        now_ms.into(),
                    ],
                )?;
                event(tx, &l.serial, "received", now_ms, None, Some(&l.batch))?;
            }
            Ok(lines.len())
        })
    }

    /// A lane takes the blank `serial` for a job: allowed only when it is in stock. An unknown
    /// or already used blank is refused (and recorded, for the reconciliation).
    pub fn stock_take(
        &self,
        serial: &str,
        place: &BlankUse<'_>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // The refusal is recorded even though the take fails: two transactions.
        let refused = self.db.with_tx(|tx| {
            match state_of(tx, serial)?.as_deref() {
                Some("in_stock") => {
                    tx.exec(
                        "UPDATE stock_blanks SET state = 'in_use', job_id = ?2, station = ?3, lane = ?4, updated_ms = ?5 WHERE serial = ?1",
                        &[
                            serial.into(),
                            place.job_id.into(),
                            place.station.into(),
                            place.lane.into(),
                            now_ms.into(),
                        ],
                    )?;
                    event(tx, serial, "taken", now_ms, Some(place), None)?;
                    Ok(None)
                }
                None => {
                    event(tx, serial, "unknown_seen", now_ms, Some(place), None)?;
                    Ok(Some("is not in the stock ledger (never received)".to_string()))
                }
                Some(state) => {
                    event(tx, serial, "taken_again", now_ms, Some(place), Some(state))?;
                    Ok(Some(format!("was already used (it is {state})")))
                }
            }
        })?;
        match refused {
            None => Ok(()),
            Some(reason) => Err(StoreError::StockRefused {
                serial: serial.to_string(),
                reason,
            }),
        }
    }

    /// Ends a blank's life: issued, spoiled or destroyed. A blank that is not in use (or, for
    /// a destruction, in stock) is refused.
    pub fn stock_end(
        &self,
        serial: &str,
        end: &BlankEnd,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            let state = state_of(tx, serial)?;
            let allowed = match end {
                BlankEnd::Destroyed { .. } => {
                    matches!(state.as_deref(), Some("in_stock" | "in_use"))
                }
                _ => state.as_deref() == Some("in_use"),
            };
            if !allowed {
                return Err(StoreError::StockRefused {
                    serial: serial.to_string(),
                    reason: match state {
                        None => "is not in the stock ledger".into(),
                        Some(s) => format!("is {s}; its life already ended or it was never taken"),
                    },
                });
            }
            let (new_state, reason, number, kind) = match end {
                BlankEnd::Issued { number } => ("issued", None, Some(number.as_str()), "issued"),
                BlankEnd::Spoiled { reason } => {
                    ("spoiled", Some(reason.as_str()), None, "spoiled")
                }
                BlankEnd::Destroyed { reason } => {
                    ("destroyed", Some(reason.as_str()), None, "destroyed")
                }
            };
            tx.exec(
                "UPDATE stock_blanks SET state = ?2, reason = ?3, document_number = COALESCE(?4, document_number), updated_ms = ?5 WHERE serial = ?1",
                &[
                    serial.into(),
                    new_state.into(),
                    reason.into(),
                    number.into(),
                    now_ms.into(),
                ],
            )?;
            let detail = match (reason, number) {
                (Some(r), _) => format!("{r} ({actor})"),
                (None, Some(n)) => format!("card {n} ({actor})"),
                _ => actor.to_string(),
            };
            event(tx, serial, kind, now_ms, None, Some(&detail))
        })
    }

    /// Records a physical count of the vault: the serials found. Every blank the ledger holds as
    /// in stock but the count did not find is reported as missing until a later count finds it.
    pub fn stock_count(
        &self,
        found: &[String],
        actor: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.db.with_tx(|tx| {
            let count_id = now_ms;
            tx.exec(
                "INSERT INTO stock_counts (id, at_ms, actor, found) VALUES (?1, ?2, ?3, ?4)",
                &[count_id.into(), now_ms.into(), actor.into(), (found.len() as i64).into()],
            )?;
            for s in found {
                tx.exec(
                    "INSERT INTO stock_count_found (count_id, serial) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    &[count_id.into(), s.as_str().into()],
                )?;
            }
            Ok(count_id)
        })
    }

    /// The ledger's report: counts in total, per batch and per day, and every discrepancy.
    pub fn stock_report(&self) -> Result<Report, StoreError> {
        self.db.with_tx(|tx| {
            let mut report = Report::default();
            let blanks = tx.rows(
                "SELECT serial, batch, state, reason FROM stock_blanks ORDER BY serial",
                &[],
            )?;
            let mut batch_of = BTreeMap::new();
            for r in &blanks {
                let (serial, batch, state, reason) = (
                    r[0].text().unwrap_or_default(),
                    r[1].text().unwrap_or_default(),
                    r[2].text().unwrap_or_default(),
                    r[3].text(),
                );
                batch_of.insert(serial, batch.clone());
                for c in [&mut report.total, report.by_batch.entry(batch).or_default()] {
                    c.received += 1;
                    match state.as_str() {
                        "in_stock" => c.in_stock += 1,
                        "in_use" => c.in_use += 1,
                        "issued" => c.issued += 1,
                        "destroyed" => c.destroyed += 1,
                        _ => {
                            *c.spoiled
                                .entry(reason.clone().unwrap_or_else(|| "unknown".into()))
                                .or_default() += 1
                        }
                    }
                }
            }
            let events = tx.rows(
                "SELECT serial, event, at_ms, station, lane, job_id, detail FROM stock_events ORDER BY seq",
                &[],
            )?;
            for e in &events {
                let serial = e[0].text().unwrap_or_default();
                let kind = e[1].text().unwrap_or_default();
                let at = e[2].int().unwrap_or(0);
                let day = report.by_day.entry(moscow_day_ms(at)).or_default();
                match kind.as_str() {
                    "received" => day.received += 1,
                    "issued" => day.issued += 1,
                    "spoiled" => {
                        let reason = e[6]
                            .text()
                            .and_then(|d| d.split(" (").next().map(str::to_string))
                            .unwrap_or_else(|| "unknown".into());
                        *day.spoiled.entry(reason).or_default() += 1;
                    }
                    "destroyed" => day.destroyed += 1,
                    "unknown_seen" | "taken_again" => {
                        let place = format!(
                            "{}/{} for job {}",
                            e[3].text().unwrap_or_default(),
                            e[4].text().unwrap_or_default(),
                            e[5].int().unwrap_or(0)
                        );
                        report.discrepancies.push(Discrepancy {
                            serial: serial.clone(),
                            kind: if kind == "unknown_seen" {
                                "seen_never_received"
                            } else {
                                "used_twice"
                            },
                            detail: format!(
                                "seen on lane {place} at {}{}",
                                super::rows::rfc3339_ms(at),
                                e[6].text().map(|s| format!(" (it was {s})")).unwrap_or_default()
                            ),
                        });
                    }
                    _ => {}
                }
            }
            // The last count: what the ledger holds in stock and the count did not find.
            let last = tx.rows("SELECT id, at_ms FROM stock_counts ORDER BY id DESC LIMIT 1", &[])?;
            if let Some(r) = last.first() {
                let (id, at) = (r[0].int().unwrap_or(0), r[1].int().unwrap_or(0));
                let missing = tx.rows(
                    "SELECT serial FROM stock_blanks WHERE state = 'in_stock' AND received_ms <= ?2 AND serial NOT IN (SELECT serial FROM stock_count_found WHERE count_id = ?1) ORDER BY serial",
                    &[id.into(), at.into()],
                )?;
                for m in missing {
                    let serial = m[0].text().unwrap_or_default();
                    report.discrepancies.push(Discrepancy {
                        detail: format!(
                            "in stock (batch {}) but not found at the count of {}",
                            batch_of.get(&serial).cloned().unwrap_or_default(),
                            super::rows::rfc3339_ms(at)
                        ),
                        serial,
                        kind: "missing_at_count",
                    });
                }
            }
            Ok(report)
        })
    }
}

/// The ledger's tables after `stock_events`' key column, the same in both dialects.
macro_rules! stock_tables {
    ($seq:literal) => {
        concat!(
            "
CREATE TABLE IF NOT EXISTS stock_imports (
    sha256 TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    lines BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_blanks (
    serial TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    job_id BIGINT,
    document_number TEXT,
    station TEXT,
    lane TEXT,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_by_batch ON stock_blanks (batch, state);
CREATE TABLE IF NOT EXISTS stock_events (
    seq ",
            $seq,
            ",
    serial TEXT NOT NULL,
    event TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    station TEXT,
    lane TEXT,
    job_id BIGINT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS stock_events_by_serial ON stock_events (serial, seq);
CREATE TABLE IF NOT EXISTS stock_counts (id BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL, found BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS stock_count_found (count_id BIGINT NOT NULL, serial TEXT NOT NULL, PRIMARY KEY (count_id, serial));
"
        )
    };
}

/// The ledger's tables (schema migration 2) for SQLite.
pub(super) const SQLITE: &str = stock_tables!("INTEGER PRIMARY KEY AUTOINCREMENT");

/// PostgreSQL: the events' sequence number is an identity column.
pub(super) const POSTGRES: &str = stock_tables!("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY");
