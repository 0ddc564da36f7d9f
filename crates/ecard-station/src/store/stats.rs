//! The statistics facts (ECARD.md section 13): one de-identified row per card issued or spoiled,
//! written by [`record`] inside the transaction that moves the job to `issued` or `spoiled`, and
//! a pre-aggregated cube of the same rows that the statistics queries read.
//!
//! A fact row holds month of issue (Moscow), station, region of residence, nationality, age band,
//! sex, application kind and cause, late notification and outcome: no job id, name, number, date
//! or free text, so it cannot be joined back to a job, and the personal-data purge
//! (`store/purge.rs`) does not touch it. The cube `stats_cube` holds the same rows counted per
//! distinct combination (`n`), kept in step by the same statement pair, so a query over a period
//! reads at most one row per combination and month instead of one per card. `stats_generations`
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

/// Packed cube rows ([`packed_atoms`]), shared between the cache and a query.
type Rows = std::sync::Arc<Vec<(String, u64)>>;

/// Months just read: the month, the generations read with it ([`MonthRows::key`]), its rows.
type ReadMonths = Vec<(Month, (u64, u64), Rows)>;

/// One month's packed cube rows ([`packed_atoms`] order) and the generations they were read at.
struct MonthRows {
    /// The month's own generation (its `stats_generations` rows, 0 while it has none) and the
    /// facts counted in no month's row ([`unaccounted`]): the rows are the month's while both
    /// are unchanged.
    key: (u64, u64),
    rows: Rows,
}

/// At most this many cube rows are kept across months, about 45 MB (a row is about 110 bytes: a
/// text of some 65 bytes with its allocation, and 32 in the vector; some 10 MB for the 92,000
/// rows of a year of 500,000 facts); months outside the last period asked go first.
const MONTH_ROWS_LIMIT: usize = 400_000;

/// What the statistics queries keep between requests: the last suppression pattern built, and
/// the cube rows of each month read, so that after one more card a query re-reads only the
/// months whose generation moved (the current one) instead of the whole period.
#[derive(Default)]
pub(super) struct Cache {
    pattern: std::sync::Mutex<Option<(CacheKey, std::sync::Arc<Pattern>)>>,
    months: std::sync::Mutex<std::collections::BTreeMap<Month, MonthRows>>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cache {
    // std Mutex: held only to clone an Arc or swap it, never across a query.
    fn get(&self, key: CacheKey) -> Option<std::sync::Arc<Pattern>> {
        lock(&self.pattern)
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
    }
    fn put(&self, key: CacheKey, p: std::sync::Arc<Pattern>) {
        *lock(&self.pattern) = Some((key, p));
    }
    fn clear(&self) {
        *lock(&self.pattern) = None;
        lock(&self.months).clear();
    }
    /// The month's rows if they were read at these generations.
    fn month(&self, m: Month, key: (u64, u64)) -> Option<Rows> {
        lock(&self.months)
            .get(&m)
            .filter(|r| r.key == key)
            .map(|r| r.rows.clone())
    }
    /// Keeps the rows of the months just read; then drops months outside `from..=to`, oldest
    /// first, while more than [`MONTH_ROWS_LIMIT`] rows are kept.
    fn put_months(&self, read: ReadMonths, from: Month, to: Month) {
        let mut months = lock(&self.months);
        for (m, key, rows) in read {
            months.insert(m, MonthRows { key, rows });
        }
        let mut total: usize = months.values().map(|r| r.rows.len()).sum();
        let outside: Vec<Month> = months
            .keys()
            .filter(|m| **m < from || **m > to)
            .copied()
            .collect();
        for m in outside {
            if total <= MONTH_ROWS_LIMIT {
                break;
            }
            if let Some(r) = months.remove(&m) {
                total -= r.rows.len();
            }
        }
    }
}

/// The id of a month's generation in `stats_generations` (id 1 counts every fact): `YYYYMM`, or 0 for a
/// fact whose month does not parse.
fn month_generation_id(month: &str) -> i64 {
    Month::parse(month).map_or(0, |m| i64::from(m.year) * 100 + i64::from(m.month))
}

/// Adds `n` facts to generation `id` (1: every fact; `YYYYMM`: a month) in `station`'s own row
/// (made at its first fact): stations sharing a database never wait on each other's counter.
/// A generation is the sum of its stations' rows ([`generations`]).
fn bump(tx: &mut dyn Tx, id: i64, station: &str, n: i64) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO stats_generations (id, station, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id, station) DO UPDATE SET n = stats_generations.n + excluded.n",
        &[id.into(), station.into(), n.into()],
    )?;
    Ok(())
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
-- Since migration 10 the generations are counted here, per station; the backfill below (run
-- with this migration) writes here already, and migration 10 folds the old table in.
CREATE TABLE IF NOT EXISTS stats_generations (id BIGINT NOT NULL, station TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (id, station));
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
    let station = fact.0[1].as_str();
    bump(tx, 1, station, 1)?;
    bump(tx, month_generation_id(&fact.0[0]), station, 1)
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
    let mut per_generation: std::collections::BTreeMap<(i64, &str), i64> = Default::default();
    for f in facts {
        let station = f.0[1].as_str();
        *per_generation.entry((1, station)).or_insert(0) += 1;
        *per_generation
            .entry((month_generation_id(&f.0[0]), station))
            .or_insert(0) += 1;
    }
    for ((id, station), n) in per_generation {
        bump(tx, id, station, n)?;
    }
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

/// What one transaction of [`super::Store::statistics`] found.
enum Read {
    /// The period's pattern, current.
    Pattern(std::sync::Arc<Pattern>),
    /// Every month's packed rows in month order, and those just read (to keep).
    Rows(Vec<Rows>, ReadMonths),
    /// A month that does not parse: read the period whole.
    Whole,
}

/// The months of a period, in order.
fn months_of(from: Month, to: Month) -> Vec<Month> {
    let mut out = Vec::new();
    let mut m = from;
    while m <= to {
        out.push(m);
        m = if m.month == 12 {
            Month {
                year: m.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: m.year,
                month: m.month + 1,
            }
        };
    }
    out
}

/// Every generation of `stats_generations`, summed over stations (one per month with facts since the per-month rows, and two
/// more): id 1 counts every fact, id `YYYYMM` the facts of that month; a missing row is 0.
fn generations(tx: &mut dyn Tx) -> Result<std::collections::BTreeMap<i64, u64>, StoreError> {
    let rows = tx.rows(
        "SELECT id, CAST(SUM(n) AS BIGINT) FROM stats_generations GROUP BY id",
        &[],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let id = r.first()?.int()?;
            let n = r.get(1)?.int()?;
            Some((id, u64::try_from(n).unwrap_or(0)))
        })
        .collect())
}

/// The facts counted in no month's row: those written before the per-month rows, those whose
/// month does not parse (id 0), and any written by a program that bumps only id 1. A kept month
/// is valid only while this is unchanged too, so such a fact, in whatever month, makes every
/// month read again.
fn unaccounted(gens: &std::collections::BTreeMap<i64, u64>) -> u64 {
    let total = gens.get(&1).copied().unwrap_or(0);
    let months: u64 = gens
        .iter()
        .filter(|(id, _)| **id > 1)
        .map(|(_, n)| *n)
        .sum();
    total.wrapping_sub(months)
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
    /// Facts are only ever added, and every addition bumps `stats_generations` in its
    /// transaction (row 1 for every fact, row `YYYYMM` for the fact's month), so the generations
    /// say whether what was read before is still current: the cache holds one pattern, keyed by
    /// period and generation, and each month's cube rows, keyed by that month's generation. After
    /// one more card only its month's rows are read again; the pattern is built again from them
    /// and the other months' kept rows, in the order one read of the period gives (month first),
    /// so it is the pattern a read of the whole period would give. The generations, the pattern
    /// check and the rows are read in one transaction.
    pub fn statistics(
        &self,
        req: &crate::stats::Request,
    ) -> Result<crate::stats::disclosure::Table, StoreError> {
        let (from, to) = (req.from, req.to);
        let months = months_of(from, to);
        let cache = &self.stats_cache;
        let (key, read) = self.db.with_tx(|tx| {
            let gens = generations(tx)?;
            let other = unaccounted(&gens);
            let g = |id: i64| gens.get(&id).copied().unwrap_or(0);
            let key = (from, to, g(1));
            if let Some(p) = cache.get(key) {
                return Ok((key, Read::Pattern(p)));
            }
            let mut kept = Vec::with_capacity(months.len());
            let mut missing = Vec::new();
            for m in &months {
                let mk = (g(month_generation_id(&m.to_string())), other);
                let rows = cache.month(*m, mk);
                if rows.is_none() {
                    missing.push((*m, mk));
                }
                kept.push(rows);
            }
            let (Some(lo), Some(hi)) = (missing.first(), missing.last()) else {
                return Ok((
                    key,
                    Read::Rows(kept.into_iter().flatten().collect(), Vec::new()),
                ));
            };
            let mut buckets: std::collections::BTreeMap<Month, Vec<(String, u64)>> =
                missing.iter().map(|(m, _)| (*m, Vec::new())).collect();
            for (dims, n) in packed_atoms(tx, lo.0, hi.0)? {
                // A month that does not parse sorts among the others: read the whole period
                // as one, as before this cache.
                let Some(m) = dims.split(SEP).next().and_then(Month::parse) else {
                    return Ok((key, Read::Whole));
                };
                // Months kept from before fall between the missing ones: skipped.
                if let Some(b) = buckets.get_mut(&m) {
                    b.push((dims, n));
                }
            }
            let mut fresh = Vec::with_capacity(missing.len());
            let mut all = Vec::with_capacity(months.len());
            for (m, rows) in months.iter().zip(kept) {
                let rows = match rows {
                    Some(r) => r,
                    None => {
                        let r = std::sync::Arc::new(buckets.remove(m).unwrap_or_default());
                        let mk = missing
                            .iter()
                            .find(|(x, _)| x == m)
                            .map_or((0, 0), |(_, k)| *k);
                        fresh.push((*m, mk, r.clone()));
                        r
                    }
                };
                all.push(rows);
            }
            Ok((key, Read::Rows(all, fresh)))
        })?;
        let pattern = match read {
            Read::Pattern(p) => return Ok(p.answer(req)),
            Read::Rows(rows, fresh) => {
                cache.put_months(fresh, from, to);
                let atoms: Option<Vec<(Vec<&str>, u64)>> = rows
                    .iter()
                    .map(|r| unpack(r))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.into_iter().flatten().collect());
                match atoms {
                    Some(atoms) => Pattern::build(&atoms),
                    // A value holding the separator (no validated dimension does): read column
                    // by column.
                    None => Pattern::build(&self.stats_atoms(from, to)?),
                }
            }
            Read::Whole => {
                let packed = self.stats_packed_atoms(from, to)?;
                match unpack(&packed) {
                    Some(atoms) => Pattern::build(&atoms),
                    None => Pattern::build(&self.stats_atoms(from, to)?),
                }
            }
        };
        let pattern = std::sync::Arc::new(pattern);
        cache.put(key, pattern.clone());
        Ok(pattern.answer(req))
    }

    /// Drops the cached pattern and the kept months' rows (benchmarks time a cold query with it).
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
