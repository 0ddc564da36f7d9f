//! The statistics facts (ECARD.md section 13): one de-identified row per card issued or spoiled,
//! written by [`record`] inside the transaction that moves the job to `issued` or `spoiled`, and
//! a pre-aggregated cube of the same rows that the statistics queries read.
//!
//! A fact row holds month of issue (Moscow), station, region of residence, nationality, age band,
//! sex, application kind and cause, late notification and outcome: no job id, name, number, date
//! or free text, so it cannot be joined back to a job, and the personal-data purge
//! (`store/purge.rs`) does not touch it. The cube `stats_cube` holds the same rows counted per
//! distinct combination (`n`), kept in step by the same statement pair, so a query over a period
//! reads at most one row per combination and month instead of one per card. `stats_generation`
//! counts the facts ever written (bumped by the same statements), so a cached suppression
//! pattern knows when it is out of date without counting rows. Schema migration 8 indexes the
//! cube on every column and `n`, so a period's rows are one ordered scan of that index; they are
//! read packed, one text per row (see [`unpack`]).
//!
//! Backfill (schema migration 7): every `issued` and `spoiled` step in the audit log becomes a
//! fact, with the month of that step and the station of the lane that did it. The personal
//! dimensions come from the job's stored record; for a job whose record was already purged
//! they are `unknown` (region, nationality, age band, sex), while kind, cause, late
//! notification, station, month and outcome come from the job row and the audit log, which the
//! purge keeps.

use ecard_model::dates::{age_on, moscow_date, parse_date};

use super::StoreError;
use super::backend::{Tx, Val};
use crate::job::JobState;
use crate::stats::disclosure::Pattern;
use crate::stats::{DIMS, Month, age_band};

/// The value of a dimension the station does not know.
pub const UNKNOWN: &str = "unknown";

/// Period and generation.
type CacheKey = (Month, Month, u64);

/// One suppression pattern and what it was built from.
#[derive(Default)]
pub(super) struct Cache(std::sync::Mutex<Option<(CacheKey, std::sync::Arc<Pattern>)>>);

impl Cache {
    // std Mutex: held only to clone an Arc or swap it, never across a query.
    fn get(&self, key: CacheKey) -> Option<std::sync::Arc<Pattern>> {
        let guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
    }
    fn put(&self, key: CacheKey, p: std::sync::Arc<Pattern>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((key, p));
    }
    fn clear(&self) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// Tables and indexes (schema migration 7). Same text for both databases.
pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS stats_facts (
    month TEXT NOT NULL,
    station TEXT NOT NULL,
    region TEXT NOT NULL,
    nationality TEXT NOT NULL,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    kind TEXT NOT NULL,
    cause TEXT NOT NULL,
    late_notification TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stats_facts_by_month ON stats_facts (month);
CREATE TABLE IF NOT EXISTS stats_cube (
    month TEXT NOT NULL,
    station TEXT NOT NULL,
    region TEXT NOT NULL,
    nationality TEXT NOT NULL,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    kind TEXT NOT NULL,
    cause TEXT NOT NULL,
    late_notification TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (month, station, region, nationality, age_band, sex, kind, cause, late_notification, outcome)
);
CREATE TABLE IF NOT EXISTS stats_generation (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO stats_generation (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
";

/// Schema migration 8: the cube's rows of a period read from one index alone. SQLite keeps a
/// table apart from its primary key's index, so a range of the key cost one table lookup per
/// row (about 130-300 ms for a year of 92,000 combinations); with `n` in an index of its own the
/// range is one ordered index scan (about 20-30 ms). PostgreSQL may use it as an index-only
/// scan. Same text for both databases; nothing to backfill (an index is built from the rows).
pub(super) const DDL_COVERING: &str = "
CREATE INDEX IF NOT EXISTS stats_cube_covering ON stats_cube
    (month, station, region, nationality, age_band, sex, kind, cause, late_notification, outcome, n);
";

const COLS: &str =
    "month, station, region, nationality, age_band, sex, kind, cause, late_notification, outcome";

/// One fact row, every dimension as text, in [`DIMS`] order.
#[derive(Clone, PartialEq, Eq)]
pub struct Fact(pub [String; 10]);

impl std::fmt::Debug for Fact {
    // Only counts leave this module in logs; a fact is de-identified but still not logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fact(..)")
    }
}

/// The personal dimensions of a stored record (region, nationality, age band, sex), age taken
/// on `day`; `unknown` for what the record lacks.
fn from_record(record_json: Option<&str>, day: time::Date) -> [String; 4] {
    let v: serde_json::Value = record_json
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    let age = v
        .get("date_of_birth")
        .and_then(|x| x.as_str())
        .and_then(|d| parse_date(d).ok())
        .map(|dob| age_band(age_on(dob, day)).to_string())
        .unwrap_or_else(|| UNKNOWN.to_string());
    [
        text("residence_region"),
        text("nationality"),
        age,
        text("sex"),
    ]
}

fn moscow_day(ms: i64) -> time::Date {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    moscow_date(t)
}

/// Builds the fact of job `job_id` reaching `outcome` at `at_ms` on `station`, from what the
/// store holds about it (its record while not purged, its job row).
fn build(
    tx: &mut dyn Tx,
    job_id: i64,
    station: Option<String>,
    outcome: JobState,
    at_ms: i64,
) -> Result<Fact, StoreError> {
    let day = moscow_day(at_ms);
    let month = Month {
        year: day.year(),
        month: u8::from(day.month()),
    };
    let job = tx.rows(
        "SELECT previous_number, replacement_cause, late_notification, application_id FROM jobs WHERE id = ?1",
        &[job_id.into()],
    )?;
    let row = job.first().ok_or(StoreError::NoJob { id: job_id })?;
    let replacement = row[0].text().is_some();
    let cause = row[1].text().filter(|_| replacement);
    let late = row[2].int().unwrap_or(0) != 0;
    let record = tx
        .rows(
            "SELECT record FROM job_inputs WHERE job_id = ?1",
            &[job_id.into()],
        )?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::text);
    // A sealed record is opened with the transaction's vault; one that does not open gives a
    // fact with unknown person dimensions rather than stopping the step.
    let app = row[3].text().unwrap_or_default();
    let record = record.and_then(|r| {
        super::sealed::open_in_tx(tx, super::sealed::RECORD, &app, r)
            .map_err(|e| tracing::warn!(job = job_id, "statistics fact without the record: {e}"))
            .ok()
    });
    let station = match station {
        Some(s) => Some(s),
        None => tx
            .rows(
                "SELECT lane FROM audit WHERE job_id = ?1 AND lane IS NOT NULL ORDER BY seq DESC LIMIT 1",
                &[job_id.into()],
            )?
            .first()
            .and_then(|r| r[0].text())
            .map(|l| l.split('/').next().unwrap_or_default().to_string()),
    };
    let [region, nationality, age, sex] = from_record(record.as_deref(), day);
    Ok(Fact([
        month.to_string(),
        station.unwrap_or_else(|| UNKNOWN.to_string()),
        region,
        nationality,
        age,
        sex,
        if replacement {
            "replacement"
        } else {
            "first_issue"
        }
        .to_string(),
        cause.unwrap_or_else(|| "none".to_string()),
        late.to_string(),
        outcome.as_str().to_string(),
    ]))
}

/// Writes one fact row and counts it in the cube.
pub(super) fn insert(tx: &mut dyn Tx, fact: &Fact) -> Result<(), StoreError> {
    let params: Vec<Val> = fact.0.iter().map(|s| Val::from(s.as_str())).collect();
    tx.exec(
        &format!(
            "INSERT INTO stats_facts ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        &params,
    )?;
    tx.exec(
        &format!(
            "INSERT INTO stats_cube ({COLS}, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1) \
             ON CONFLICT ({COLS}) DO UPDATE SET n = stats_cube.n + 1"
        ),
        &params,
    )?;
    tx.exec("UPDATE stats_generation SET n = n + 1 WHERE id = 1", &[])?;
    Ok(())
}

/// [`insert`] for many facts in one transaction.
fn insert_many(tx: &mut dyn Tx, facts: &[Fact]) -> Result<(), StoreError> {
    const PER_STATEMENT: usize = 100;
    let width = DIMS.len();
    for rows in facts.chunks(PER_STATEMENT) {
        let values: Vec<String> = (0..rows.len())
            .map(|r| {
                let ps: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let params: Vec<Val> = rows
            .iter()
            .flat_map(|f| f.0.iter().map(|v| Val::from(v.as_str())))
            .collect();
        tx.exec(
            &format!(
                "INSERT INTO stats_facts ({COLS}) VALUES {}",
                values.join(", ")
            ),
            &params,
        )?;
    }
    let mut counted: std::collections::BTreeMap<&[String; 10], i64> = Default::default();
    for f in facts {
        *counted.entry(&f.0).or_insert(0) += 1;
    }
    // Multi-row upserts: the keys of one statement are distinct (counted above), as
    // PostgreSQL's ON CONFLICT requires.
    let counted: Vec<(&[String; 10], i64)> = counted.into_iter().collect();
    for rows in counted.chunks(PER_STATEMENT) {
        let values: Vec<String> = (0..rows.len())
            .map(|r| {
                let ps: Vec<String> = (1..=width + 1)
                    .map(|c| format!("?{}", r * (width + 1) + c))
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let params: Vec<Val> = rows
            .iter()
            .flat_map(|(dims, n)| {
                dims.iter()
                    .map(|v| Val::from(v.as_str()))
                    .chain([Val::from(*n)])
            })
            .collect();
        tx.exec(
            &format!(
                "INSERT INTO stats_cube ({COLS}, n) VALUES {} \
                 ON CONFLICT ({COLS}) DO UPDATE SET n = stats_cube.n + excluded.n",
                values.join(", ")
            ),
            &params,
        )?;
    }
    tx.exec(
        "UPDATE stats_generation SET n = n + ?1 WHERE id = 1",
        &[i64::try_from(facts.len()).unwrap_or(i64::MAX).into()],
    )?;
    Ok(())
}

/// The fact of a job reaching `issued` or `spoiled` now: called by the store's state change,
/// inside its transaction, so the fact exists exactly when the step does.
pub(super) fn record(
    tx: &mut dyn Tx,
    job_id: i64,
    station: Option<String>,
    outcome: JobState,
    now_ms: i64,
) -> Result<(), StoreError> {
    let fact = build(tx, job_id, station, outcome, now_ms)?;
    insert(tx, &fact)
}

/// Schema migration 7: a fact for every `issued` and `spoiled` step already in the audit log.
pub(super) fn backfill(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let steps = tx.rows(
        "SELECT job_id, to_state, at, lane FROM audit WHERE to_state IN ('issued', 'spoiled') ORDER BY seq",
        &[],
    )?;
    let mut done = 0u64;
    for s in steps {
        let (Some(job_id), Some(state), Some(at)) = (s[0].int(), s[1].text(), s[2].text()) else {
            continue;
        };
        let outcome = if state == "issued" {
            JobState::Issued
        } else {
            JobState::Spoiled
        };
        let Ok(t) =
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        else {
            continue;
        };
        let at_ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let station = s[3]
            .text()
            .map(|l| l.split('/').next().unwrap_or_default().to_string());
        let fact = build(tx, job_id, station, outcome, at_ms)?;
        insert(tx, &fact)?;
        done += 1;
    }
    if done > 0 {
        tracing::info!(
            facts = done,
            "statistics facts backfilled from the audit log"
        );
    }
    Ok(())
}

/// The period's facts counted per distinct combination of every dimension (the input of
/// [`crate::stats::disclosure::Pattern::build`]).
///
/// The cube's primary key is every dimension, so its rows are already one per combination: no
/// GROUP BY (PostgreSQL hashed all 92,000 rows of a year again for it, and spilled to disk). On
/// SQLite the range is read from the covering index of migration 8 alone instead of the primary
/// key's index and one table lookup per row.
pub(super) fn atoms(
    tx: &mut dyn Tx,
    from: Month,
    to: Month,
) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
    // SQLite: in key order, which the index gives for free and the GROUP BY of the first
    // version gave too (the pattern numbers values in the order it meets them). PostgreSQL
    // returned its hash aggregate's order before and returns the heap's now: unordered both times.
    let order = if tx.is_postgres() {
        String::new()
    } else {
        format!(" ORDER BY {COLS}")
    };
    let rows = tx.rows(
        &format!("SELECT {COLS}, n FROM stats_cube WHERE month >= ?1 AND month <= ?2{order}"),
        &[from.to_string().into(), to.to_string().into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut vals = Vec::with_capacity(DIMS.len());
        let mut n = 0;
        for (i, v) in r.into_iter().enumerate() {
            match (i < DIMS.len(), v) {
                (true, Val::Text(s)) => vals.push(s),
                (true, _) => vals.push(UNKNOWN.to_string()),
                (false, v) => n = v.int().unwrap_or(0),
            }
        }
        out.push((vals, u64::try_from(n).unwrap_or(0)));
    }
    Ok(out)
}

/// Joins the dimensions of a packed cube row (U+001F, the unit separator).
const SEP: char = '\u{1f}';

/// [`atoms`] with every row's dimensions joined into one text by the database: one string per
/// row for the driver to make instead of ten (the conversion, not the scan, was most of a cold
/// read: about 1,000,000 strings for a year). Same rows, same order.
fn packed_atoms(tx: &mut dyn Tx, from: Month, to: Month) -> Result<Vec<(String, u64)>, StoreError> {
    // PostgreSQL: `concat_ws`. SQLite (whose `concat_ws` is newer than some systems' library):
    // one `printf` makes the text at once, where nine `||` made nine growing copies.
    let (joined, order) = if tx.is_postgres() {
        (format!("concat_ws(chr(31), {COLS})"), String::new())
    } else {
        (format!("printf(?3, {COLS})"), format!(" ORDER BY {COLS}"))
    };
    let format = vec!["%s"; DIMS.len()].join(&SEP.to_string());
    let mut params: Vec<Val> = vec![from.to_string().into(), to.to_string().into()];
    if !tx.is_postgres() {
        params.push(format.into());
    }
    let rows = tx.rows(
        &format!("SELECT {joined}, n FROM stats_cube WHERE month >= ?1 AND month <= ?2{order}"),
        &params,
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut r = r.into_iter();
        let dims = match r.next() {
            Some(Val::Text(s)) => s,
            _ => String::new(),
        };
        let n = r.next().and_then(|v| v.int()).unwrap_or(0);
        out.push((dims, u64::try_from(n).unwrap_or(0)));
    }
    Ok(out)
}

/// Splits packed cube rows into their dimensions; `None` when a row does not split into one
/// value per dimension (a value holding the separator).
pub fn unpack(packed: &[(String, u64)]) -> Option<Vec<(Vec<&str>, u64)>> {
    packed
        .iter()
        .map(|(dims, n)| {
            let vals: Vec<&str> = dims.split(SEP).collect();
            (vals.len() == DIMS.len()).then_some((vals, *n))
        })
        .collect()
}

/// The number of fact rows in a period (for tests, benchmarks and `ecard stats`' check).
pub(super) fn fact_count(tx: &mut dyn Tx, from: Month, to: Month) -> Result<u64, StoreError> {
    let n = tx
        .rows(
            "SELECT COUNT(*) FROM stats_facts WHERE month >= ?1 AND month <= ?2",
            &[from.to_string().into(), to.to_string().into()],
        )?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

impl super::Store {
    /// The period's facts grouped by every dimension, from the cube.
    pub fn stats_atoms(
        &self,
        from: Month,
        to: Month,
    ) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
        self.db.with_tx(|tx| atoms(tx, from, to))
    }

    /// [`Store::stats_atoms`] with each row's dimensions joined by U+001F (split them with
    /// [`unpack`]): what [`Store::statistics`] reads.
    pub fn stats_packed_atoms(
        &self,
        from: Month,
        to: Month,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.db.with_tx(|tx| packed_atoms(tx, from, to))
    }

    /// The number of fact rows in a period.
    pub fn stats_fact_count(&self, from: Month, to: Month) -> Result<u64, StoreError> {
        self.db.with_tx(|tx| fact_count(tx, from, to))
    }

    /// Answers a statistics request: the period's counts from the cube, the period's one
    /// suppression pattern ([`crate::stats::disclosure`]), the requested slice of it.
    ///
    /// Facts are only ever added, and every addition bumps `stats_generation` in its
    /// transaction, so the generation says whether the pattern built last is still the period's:
    /// the cache holds one pattern, keyed by period and generation.
    pub fn statistics(
        &self,
        req: &crate::stats::Request,
    ) -> Result<crate::stats::disclosure::Table, StoreError> {
        let count = self.db.with_tx(|tx| {
            let n = tx
                .rows("SELECT n FROM stats_generation WHERE id = 1", &[])?
                .first()
                .and_then(|r| r.first())
                .and_then(Val::int)
                .unwrap_or(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })?;
        let key = (req.from, req.to, count);
        if let Some(p) = self.stats_cache.get(key) {
            return Ok(p.answer(req));
        }
        let packed = self.stats_packed_atoms(req.from, req.to)?;
        let pattern = match unpack(&packed) {
            Some(atoms) => Pattern::build(&atoms),
            // A value holding the separator (no validated dimension does): read column by column.
            None => Pattern::build(&self.stats_atoms(req.from, req.to)?),
        };
        let pattern = std::sync::Arc::new(pattern);
        self.stats_cache.put(key, pattern.clone());
        Ok(pattern.answer(req))
    }

    /// Drops the cached pattern (benchmarks time a cold query with it).
    pub fn stats_forget_cache(&self) {
        self.stats_cache.clear();
    }

    /// Writes many facts (benchmarks, tests, imports), 5,000 a transaction: the facts in
    /// multi-row inserts, the cube counted in memory first and upserted once per combination.
    /// The same rows as that many [`record`] calls.
    pub fn stats_insert_facts(&self, facts: &[Fact]) -> Result<(), StoreError> {
        for chunk in facts.chunks(5000) {
            self.db.with_tx(|tx| insert_many(tx, chunk))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
