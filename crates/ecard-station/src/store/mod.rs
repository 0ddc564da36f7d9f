//! The durable queue: jobs, card numbers, revocations, lane leases and the audit log, in SQLite or
//! PostgreSQL, with the same rules for both.
//!
//! Every public method is one transaction: it checks the transition against [`JobState::can_go`]
//! and the lane's ownership, changes the rows, and appends the audit entry, all committed together
//! or not at all. A number comes from the `series` row exactly once and is never deleted: voided
//! numbers stay in `numbers`. Calls block (SQLite and the sync PostgreSQL client); async code calls
//! them inside `spawn_blocking`. No clock is read here: `now_ms` is a parameter, so lease expiry is
//! testable without waiting. Records (personal data) are stored but never logged.

mod backend;
mod schema;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Mutex;

use backend::{Backend, Tx, Val};

use crate::audit::{AuditEntry, GENESIS};
use crate::job::{Job, JobState};

/// What went wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed (our side or the server's).
    #[error("{store} error: {reason}")]
    Database {
        /// `sqlite` or `postgresql`.
        store: &'static str,
        /// The driver's message.
        reason: String,
    },
    /// No such job.
    #[error("no job {id}")]
    NoJob {
        /// The id asked for.
        id: i64,
    },
    /// The job is not in a state that allows this step.
    #[error("job {id} is {got}; {action} needs it to be {expected}")]
    WrongState {
        /// The job.
        id: i64,
        /// Its state.
        got: JobState,
        /// What was attempted.
        action: String,
        /// The states that allow it.
        expected: String,
    },
    /// The job is on another lane (another station took it over after this lane's lease ran out).
    #[error("job {id} is held by {holder}, not {lane}")]
    NotYourJob {
        /// The job.
        id: i64,
        /// `station/lane` holding it.
        holder: String,
        /// `station/lane` that tried.
        lane: String,
    },
    /// Every number of the series was given out.
    #[error("series {series:02} has no number left (9999999 were issued); configure a new series")]
    SeriesExhausted {
        /// The series.
        series: u8,
    },
    /// A row holds something this code never writes.
    #[error("store holds unexpected data: {what}")]
    Corrupt {
        /// What and where.
        what: String,
    },
    /// A thread panicked while holding the connection.
    #[error("store connection poisoned by a panic in another thread")]
    Poisoned,
}

/// Who performs a step: written to the audit log, and checked against the job's lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Token name, `lane:<station>/<lane>` or `station:<id>`.
    pub name: String,
    /// The lane, when a lane acts: `(station, lane)`.
    pub lane: Option<(String, String)>,
}

impl Actor {
    /// A lane of a station.
    pub fn lane(station: &str, lane: &str) -> Actor {
        Actor {
            name: format!("lane:{station}/{lane}"),
            lane: Some((station.to_string(), lane.to_string())),
        }
    }
    /// A person or process named by a token or role.
    pub fn named(name: &str) -> Actor {
        Actor {
            name: name.to_string(),
            lane: None,
        }
    }
    fn lane_label(&self) -> Option<String> {
        self.lane.as_ref().map(|(s, l)| format!("{s}/{l}"))
    }
}

/// A new application for [`Store::submit`].
#[derive(Clone)]
pub struct NewJob {
    /// The MMC's application id.
    pub application_id: String,
    /// The validated enrollment record (JSON; personal data).
    pub record_json: String,
    /// The chip images made at intake (JSON, see [`crate::server::ChipImages`]; personal data).
    pub chip_images_json: String,
    /// A replacement filed late.
    pub late_notification: bool,
    /// For a replacement: the number it revokes, and why (`lost`, `damaged`, `details_changed`).
    pub replaces: Option<(String, String)>,
}

impl std::fmt::Debug for NewJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewJob")
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// Extra facts recorded with a step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepInfo {
    /// SHA-256 (hex) of the DS certificate that signed the card.
    pub ds_certificate: Option<String>,
    /// A reason, e.g. the error that spoiled the card (no personal data).
    pub detail: Option<String>,
}

/// A number in the `numbers` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRow {
    /// The 9 digits.
    pub document_number: String,
    /// The job it was given to.
    pub job_id: i64,
    /// `assigned`, `issued` or `voided`.
    pub status: String,
}

/// A lane lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Station id.
    pub station: String,
    /// Lane name.
    pub lane: String,
    /// Lease end, ms since the Unix epoch.
    pub until_ms: i64,
}

/// The store: one handle, cheap to share behind an `Arc`.
pub struct Store {
    db: Backend,
    kind: &'static str,
}

const JOB_COLS: &str = "id, application_id, state, document_number, attempts, station, lane, late_notification, previous_number, last_error, ds_cert, created_ms, updated_ms";

fn job_from(row: &[Val]) -> Result<Job, StoreError> {
    let corrupt = |col: &str| StoreError::Corrupt {
        what: format!("jobs.{col} of row {row:?} has the wrong type"),
    };
    let int = |i: usize, col: &str| row.get(i).and_then(Val::int).ok_or_else(|| corrupt(col));
    let text = |i: usize| row.get(i).and_then(Val::text);
    let state_text = text(2).ok_or_else(|| corrupt("state"))?;
    Ok(Job {
        id: int(0, "id")?,
        application_id: text(1).ok_or_else(|| corrupt("application_id"))?,
        state: JobState::parse(&state_text).map_err(|e| StoreError::Corrupt {
            what: format!("jobs.state: {e}"),
        })?,
        document_number: text(3),
        attempts: int(4, "attempts")?,
        station: text(5),
        lane: text(6),
        late_notification: int(7, "late_notification")? != 0,
        previous_document_number: text(8),
        last_error: text(9),
        ds_certificate: text(10),
        created_ms: int(11, "created_ms")?,
        updated_ms: int(12, "updated_ms")?,
    })
}

/// RFC 3339 UTC text of a millisecond timestamp.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

fn moscow_day_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    ecard_model::dates::format_date(ecard_model::dates::moscow_date(t))
}

fn load_job(tx: &mut dyn Tx, id: i64, lock: bool) -> Result<Job, StoreError> {
    let lock = if lock && tx.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let rows = tx.rows(
        &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1{lock}"),
        &[id.into()],
    )?;
    rows.first()
        .map(|r| job_from(r))
        .unwrap_or(Err(StoreError::NoJob { id }))
}

/// Serializes every writer on the audit head (PostgreSQL; SQLite's IMMEDIATE transaction already
/// holds the only write lock) and returns the last sequence number and hash.
fn lock_head(tx: &mut dyn Tx) -> Result<(i64, String), StoreError> {
    let sql = if tx.is_postgres() {
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    };
    let rows = tx.rows(sql, &[])?;
    match rows.first().map(|r| (r[0].int(), r[1].text())) {
        Some((Some(seq), Some(hash))) => Ok((seq, hash)),
        _ => Err(StoreError::Corrupt {
            what: "audit_head row 1 is missing".into(),
        }),
    }
}

struct Entry<'a> {
    actor: &'a Actor,
    job_id: i64,
    from: Option<JobState>,
    to: JobState,
    number: Option<String>,
    info: &'a StepInfo,
}

fn append_audit(
    tx: &mut dyn Tx,
    head: &mut (i64, String),
    now_ms: i64,
    e: Entry<'_>,
) -> Result<(), StoreError> {
    let mut entry = AuditEntry {
        seq: head.0 + 1,
        at: rfc3339_ms(now_ms),
        actor: e.actor.name.clone(),
        job_id: e.job_id,
        from_state: e.from.map(|s| s.as_str().to_string()),
        to_state: e.to.as_str().to_string(),
        lane: e.actor.lane_label(),
        document_number: e.number,
        ds_certificate: e.info.ds_certificate.clone(),
        detail: e.info.detail.clone(),
        prev_hash: head.1.clone(),
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    tx.exec(
        "INSERT INTO audit (seq, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &[
            entry.seq.into(),
            entry.at.clone().into(),
            entry.actor.clone().into(),
            entry.job_id.into(),
            entry.from_state.clone().into(),
            entry.to_state.clone().into(),
            entry.lane.clone().into(),
            entry.document_number.clone().into(),
            entry.ds_certificate.clone().into(),
            entry.detail.clone().into(),
            entry.prev_hash.clone().into(),
            entry.hash.clone().into(),
        ],
    )?;
    tx.exec(
        "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
        &[entry.seq.into(), entry.hash.clone().into()],
    )?;
    *head = (entry.seq, entry.hash);
    Ok(())
}

fn check_step(job: &Job, to: JobState, actor: &Actor, action: &str) -> Result<(), StoreError> {
    if !job.state.can_go(to) {
        let expected: Vec<&str> = crate::job::ALL_STATES
            .iter()
            .filter(|s| s.can_go(to))
            .map(|s| s.as_str())
            .collect();
        return Err(StoreError::WrongState {
            id: job.id,
            got: job.state,
            action: action.to_string(),
            expected: expected.join(" or "),
        });
    }
    if job.state.on_lane() {
        let holder = (
            job.station.clone().unwrap_or_default(),
            job.lane.clone().unwrap_or_default(),
        );
        if actor.lane.as_ref() != Some(&holder) {
            return Err(StoreError::NotYourJob {
                id: job.id,
                holder: format!("{}/{}", holder.0, holder.1),
                lane: actor.lane_label().unwrap_or_else(|| actor.name.clone()),
            });
        }
    }
    Ok(())
}

/// Moves the job and records it; the caller has checked the step.
fn set_state(
    tx: &mut dyn Tx,
    head: &mut (i64, String),
    job: &mut Job,
    to: JobState,
    actor: &Actor,
    info: &StepInfo,
    now_ms: i64,
) -> Result<(), StoreError> {
    let from = job.state;
    job.state = to;
    job.updated_ms = now_ms;
    if info.ds_certificate.is_some() {
        job.ds_certificate = info.ds_certificate.clone();
    }
    if info.detail.is_some() {
        job.last_error = info.detail.clone();
    }
    if !to.on_lane() {
        job.station = None;
        job.lane = None;
    }
    tx.exec(
        "UPDATE jobs SET state = ?1, updated_ms = ?2, ds_cert = ?3, last_error = ?4, station = ?5, lane = ?6, attempts = ?7, document_number = ?8 WHERE id = ?9",
        &[
            to.as_str().into(),
            now_ms.into(),
            job.ds_certificate.clone().into(),
            job.last_error.clone().into(),
            job.station.clone().into(),
            job.lane.clone().into(),
            job.attempts.into(),
            job.document_number.clone().into(),
            job.id.into(),
        ],
    )?;
    append_audit(
        tx,
        head,
        now_ms,
        Entry {
            actor,
            job_id: job.id,
            from: Some(from),
            to,
            number: job.document_number.clone(),
            info,
        },
    )
}

/// Voids a number (kept in `numbers`) and puts it on the revocation list as `voided`.
fn void_number(tx: &mut dyn Tx, number: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE numbers SET status = 'voided', at_ms = ?2 WHERE document_number = ?1",
        &[number.into(), now_ms.into()],
    )?;
    tx.exec(
        "INSERT INTO revocations (document_number, reason, since) VALUES (?1, 'voided', ?2) ON CONFLICT (document_number) DO NOTHING",
        &[number.into(), moscow_day_ms(now_ms).into()],
    )?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) a SQLite store: WAL journal, `synchronous=FULL`, so a commit
    /// survives power loss, and a busy timeout so `ecard audit verify` can run beside the daemon.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(backend::sqlite_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
        )
        .map_err(backend::sqlite_err)?;
        conn.execute_batch(schema::SQLITE)
            .map_err(backend::sqlite_err)?;
        let store = Store {
            db: Backend::Sqlite(Mutex::new(conn)),
            kind: "sqlite",
        };
        store.init_head()?;
        Ok(store)
    }

    /// Opens a PostgreSQL store in `schema` (created if absent), for one or several stations.
    pub fn open_postgres(url: &str, schema: &str) -> Result<Store, StoreError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StoreError::Database {
                store: "postgresql",
                reason: format!("schema name {schema:?} must be lowercase letters, digits and _"),
            });
        }
        let mut client =
            postgres::Client::connect(url, postgres::NoTls).map_err(backend::pg_err)?;
        // Several stations may start at once: serialize schema creation on an advisory lock.
        let ddl = format!(
            "SELECT pg_advisory_lock(4711); CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}; {} SELECT pg_advisory_unlock(4711);",
            schema::POSTGRES
        );
        client.batch_execute(&ddl).map_err(backend::pg_err)?;
        let store = Store {
            db: Backend::Postgres(Mutex::new(backend::PgClient::new(client))),
            kind: "postgresql",
        };
        store.init_head()?;
        Ok(store)
    }

    /// `sqlite` or `postgresql`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn init_head(&self) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            tx.exec(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?1) ON CONFLICT (id) DO NOTHING",
                &[GENESIS.into()],
            )?;
            Ok(())
        })
    }

    /// Makes sure `series` exists, starting at number 1 (0000000 is never issued).
    pub fn ensure_series(&self, series: u8) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            tx.exec(
                "INSERT INTO series (series, next) VALUES (?1, 1) ON CONFLICT (series) DO NOTHING",
                &[i64::from(series).into()],
            )?;
            Ok(())
        })
    }

    /// Stores a new application as `received`, or returns the job that already has this
    /// `application_id` (`false`: nothing was stored).
    pub fn submit(
        &self,
        new: &NewJob,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<(Job, bool), StoreError> {
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            let existing = tx.rows(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE application_id = ?1"),
                &[new.application_id.as_str().into()],
            )?;
            if let Some(row) = existing.first() {
                return Ok((job_from(row)?, false));
            }
            let (prev, cause) = match &new.replaces {
                Some((n, c)) => (Some(n.clone()), Some(c.clone())),
                None => (None, None),
            };
            let rows = tx.rows(
                "INSERT INTO jobs (application_id, state, record, chip_images, attempts, late_notification, previous_number, replacement_cause, created_ms, updated_ms) VALUES (?1, 'received', ?2, ?7, 0, ?3, ?4, ?5, ?6, ?6) RETURNING id",
                &[
                    new.application_id.as_str().into(),
                    new.record_json.as_str().into(),
                    i64::from(new.late_notification).into(),
                    prev.into(),
                    cause.into(),
                    now_ms.into(),
                    new.chip_images_json.as_str().into(),
                ],
            )?;
            let id = rows
                .first()
                .and_then(|r| r.first())
                .and_then(Val::int)
                .ok_or_else(|| StoreError::Corrupt {
                    what: "INSERT INTO jobs returned no id".into(),
                })?;
            append_audit(
                tx,
                &mut head,
                now_ms,
                Entry {
                    actor,
                    job_id: id,
                    from: None,
                    to: JobState::Received,
                    number: None,
                    info: &StepInfo {
                        detail: new.late_notification.then(|| "late_notification".to_string()),
                        ..StepInfo::default()
                    },
                },
            )?;
            Ok((load_job(tx, id, false)?, true))
        })
    }

    /// One step of the machine (validate, reject, encoding, verifying, printing, issued), checked
    /// against the table and the lane holding the job. Issuing a replacement revokes the
    /// previous number in the same transaction.
    pub fn step(
        &self,
        id: i64,
        to: JobState,
        actor: &Actor,
        info: &StepInfo,
        now_ms: i64,
    ) -> Result<Job, StoreError> {
        if matches!(
            to,
            JobState::Spoiled | JobState::Numbered | JobState::Voided
        ) {
            return Err(StoreError::WrongState {
                id,
                got: to,
                action: "step".into(),
                expected:
                    "a target other than spoiled, numbered or voided (use spoil, claim, void)"
                        .into(),
            });
        }
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            let mut job = load_job(tx, id, true)?;
            check_step(&job, to, actor, &format!("moving to {to}"))?;
            if to == JobState::Issued {
                if let Some(n) = &job.document_number {
                    tx.exec(
                        "UPDATE numbers SET status = 'issued', at_ms = ?2 WHERE document_number = ?1",
                        &[n.as_str().into(), now_ms.into()],
                    )?;
                }
                if let Some(prev) = &job.previous_document_number {
                    let cause = tx
                        .rows(
                            "SELECT replacement_cause FROM jobs WHERE id = ?1",
                            &[id.into()],
                        )?
                        .first()
                        .and_then(|r| r[0].text())
                        .unwrap_or_else(|| "replaced".into());
                    tx.exec(
                        "INSERT INTO revocations (document_number, reason, since, job_id) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (document_number) DO NOTHING",
                        &[
                            prev.as_str().into(),
                            cause.into(),
                            moscow_day_ms(now_ms).into(),
                            id.into(),
                        ],
                    )?;
                }
            }
            set_state(tx, &mut head, &mut job, to, actor, info, now_ms)?;
            Ok(job)
        })
    }

    /// Takes the oldest waiting job for `station`/`lane`, gives it the next number of `series`
    /// and renews the lane's lease to `lease_until_ms`. `None` when the queue is empty.
    pub fn claim(
        &self,
        station: &str,
        lane: &str,
        series: u8,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<Job>, StoreError> {
        let actor = Actor::lane(station, lane);
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            upsert_lease(tx, station, lane, lease_until_ms)?;
            // SKIP LOCKED: a row another station's transaction holds is not waited for.
            let lock = if tx.is_postgres() {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            };
            let rows = tx.rows(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE state IN ('validated', 'spoiled') ORDER BY id LIMIT 1{lock}"),
                &[],
            )?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let mut job = job_from(row)?;
            let next = tx.rows(
                "UPDATE series SET next = next + 1 WHERE series = ?1 RETURNING next - 1",
                &[i64::from(series).into()],
            )?;
            let n = next
                .first()
                .and_then(|r| r[0].int())
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("series {series:02} is not in the series table"),
                })?;
            if n > 9_999_999 {
                return Err(StoreError::SeriesExhausted { series });
            }
            let number = format!("{series:02}{n:07}");
            // The primary key makes a second use of a number fail the whole transaction.
            tx.exec(
                "INSERT INTO numbers (document_number, job_id, status, at_ms) VALUES (?1, ?2, 'assigned', ?3)",
                &[number.as_str().into(), job.id.into(), now_ms.into()],
            )?;
            check_step(&job, JobState::Numbered, &actor, "claim")?;
            job.document_number = Some(number);
            job.station = Some(station.to_string());
            job.lane = Some(lane.to_string());
            set_state(
                tx,
                &mut head,
                &mut job,
                JobState::Numbered,
                &actor,
                &StepInfo::default(),
                now_ms,
            )?;
            Ok(Some(job))
        })
    }

    /// The card of a job on a lane failed: its number is voided, and the job waits for a new
    /// blank, or becomes `failed` when `max_attempts` spoiled cards were counted.
    /// `count_attempt` is false when the card was lost to a crash rather than to its own fault.
    #[allow(clippy::too_many_arguments)]
    pub fn spoil(
        &self,
        id: i64,
        actor: &Actor,
        reason: &str,
        count_attempt: bool,
        max_attempts: i64,
        now_ms: i64,
    ) -> Result<Job, StoreError> {
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            let mut job = load_job(tx, id, true)?;
            check_step(&job, JobState::Spoiled, actor, "spoiling the card")?;
            if let Some(n) = &job.document_number {
                void_number(tx, n, now_ms)?;
            }
            if count_attempt {
                job.attempts += 1;
            }
            let info = StepInfo {
                detail: Some(reason.to_string()),
                ..StepInfo::default()
            };
            set_state(
                tx,
                &mut head,
                &mut job,
                JobState::Spoiled,
                actor,
                &info,
                now_ms,
            )?;
            if job.attempts >= max_attempts {
                let info = StepInfo {
                    detail: Some(format!(
                        "{} spoiled cards; an operator decides",
                        job.attempts
                    )),
                    ..StepInfo::default()
                };
                set_state(
                    tx,
                    &mut head,
                    &mut job,
                    JobState::Failed,
                    actor,
                    &info,
                    now_ms,
                )?;
            }
            Ok(job)
        })
    }

    /// Operator: puts a failed job back in the queue with its attempts reset.
    pub fn retry(&self, id: i64, actor: &Actor, now_ms: i64) -> Result<Job, StoreError> {
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            let mut job = load_job(tx, id, true)?;
            if job.state != JobState::Failed {
                return Err(StoreError::WrongState {
                    id,
                    got: job.state,
                    action: "retry".into(),
                    expected: "failed".into(),
                });
            }
            check_step(&job, JobState::Validated, actor, "retry")?;
            job.attempts = 0;
            let info = StepInfo {
                detail: Some("operator retry".into()),
                ..StepInfo::default()
            };
            set_state(
                tx,
                &mut head,
                &mut job,
                JobState::Validated,
                actor,
                &info,
                now_ms,
            )?;
            Ok(job)
        })
    }

    /// Operator: cancels a job that is not on a lane; a number it holds is voided and revoked
    /// (an issued card becomes invalid).
    pub fn void(&self, id: i64, actor: &Actor, now_ms: i64) -> Result<Job, StoreError> {
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx)?;
            let mut job = load_job(tx, id, true)?;
            check_step(&job, JobState::Voided, actor, "void")?;
            if let Some(n) = &job.document_number {
                void_number(tx, n, now_ms)?;
            }
            let info = StepInfo {
                detail: Some("operator void".into()),
                ..StepInfo::default()
            };
            set_state(
                tx,
                &mut head,
                &mut job,
                JobState::Voided,
                actor,
                &info,
                now_ms,
            )?;
            Ok(job)
        })
    }

    /// Renews a lane's lease (its heartbeat).
    pub fn heartbeat(&self, station: &str, lane: &str, until_ms: i64) -> Result<(), StoreError> {
        self.db
            .with_tx(|tx| upsert_lease(tx, station, lane, until_ms))
    }

    /// Jobs left on lanes that nobody works: this station's own (after a restart), and other
    /// stations' whose lane lease ran out before `now_ms`.
    pub fn orphaned(&self, station: &str, now_ms: i64) -> Result<Vec<Job>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                &format!(
                    "SELECT {} FROM jobs j WHERE j.state IN ('numbered', 'encoding', 'verifying', 'printing') AND (j.station = ?1 OR NOT EXISTS (SELECT 1 FROM lanes l WHERE l.station = j.station AND l.lane = j.lane AND l.lease_until_ms >= ?2)) ORDER BY j.id",
                    JOB_COLS.split(", ").map(|c| format!("j.{c}")).collect::<Vec<_>>().join(", ")
                ),
                &[station.into(), now_ms.into()],
            )?;
            rows.iter().map(|r| job_from(r)).collect()
        })
    }

    /// Moves a job another station abandoned (lease expired) to this lane, so this lane may
    /// spoil it. Fails when the lease was renewed meanwhile.
    pub fn take_over(
        &self,
        id: i64,
        station: &str,
        lane: &str,
        now_ms: i64,
    ) -> Result<Job, StoreError> {
        self.db.with_tx(|tx| {
            let mut job = load_job(tx, id, true)?;
            let holder = (
                job.station.clone().unwrap_or_default(),
                job.lane.clone().unwrap_or_default(),
            );
            let alive = tx.rows(
                "SELECT 1 FROM lanes WHERE station = ?1 AND lane = ?2 AND lease_until_ms >= ?3",
                &[
                    holder.0.as_str().into(),
                    holder.1.as_str().into(),
                    now_ms.into(),
                ],
            )?;
            if !job.state.on_lane() || (holder.0 != station && !alive.is_empty()) {
                return Err(StoreError::NotYourJob {
                    id,
                    holder: format!("{}/{}", holder.0, holder.1),
                    lane: format!("{station}/{lane}"),
                });
            }
            tx.exec(
                "UPDATE jobs SET station = ?1, lane = ?2 WHERE id = ?3",
                &[station.into(), lane.into(), id.into()],
            )?;
            job.station = Some(station.to_string());
            job.lane = Some(lane.to_string());
            Ok(job)
        })
    }

    /// One job.
    pub fn get(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.db.with_tx(|tx| match load_job(tx, id, false) {
            Ok(j) => Ok(Some(j)),
            Err(StoreError::NoJob { .. }) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// Jobs, newest first, optionally in one state.
    pub fn list(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = match state {
                Some(s) => tx.rows(
                    &format!(
                        "SELECT {JOB_COLS} FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
                    ),
                    &[s.as_str().into(), limit.into()],
                )?,
                None => tx.rows(
                    &format!("SELECT {JOB_COLS} FROM jobs ORDER BY id DESC LIMIT ?1"),
                    &[limit.into()],
                )?,
            };
            rows.iter().map(|r| job_from(r)).collect()
        })
    }

    /// The enrollment record and chip images of a job (JSON; personal data: never log them).
    pub fn inputs(&self, id: i64) -> Result<(String, String), StoreError> {
        self.db.with_tx(|tx| {
            tx.rows(
                "SELECT record, chip_images FROM jobs WHERE id = ?1",
                &[id.into()],
            )?
            .first()
            .and_then(|r| Some((r[0].text()?, r[1].text()?)))
            .ok_or(StoreError::NoJob { id })
        })
    }

    /// Whether a number is on the revocation list.
    pub fn is_revoked(&self, number: &str) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            Ok(!tx
                .rows(
                    "SELECT 1 FROM revocations WHERE document_number = ?1",
                    &[number.into()],
                )?
                .is_empty())
        })
    }

    /// Number of jobs in each state that has any.
    pub fn counts(&self) -> Result<Vec<(JobState, i64)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows("SELECT state, COUNT(*) FROM jobs GROUP BY state", &[])?;
            rows.iter()
                .map(|r| {
                    let state = r[0].text().unwrap_or_default();
                    let state = JobState::parse(&state).map_err(|e| StoreError::Corrupt {
                        what: format!("jobs.state: {e}"),
                    })?;
                    Ok((state, r[1].int().unwrap_or(0)))
                })
                .collect()
        })
    }

    /// Every number ever given out, in order.
    pub fn numbers(&self) -> Result<Vec<NumberRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT document_number, job_id, status FROM numbers ORDER BY document_number",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| NumberRow {
                    document_number: r[0].text().unwrap_or_default(),
                    job_id: r[1].int().unwrap_or(-1),
                    status: r[2].text().unwrap_or_default(),
                })
                .collect())
        })
    }

    /// The revocation list: `(number, reason, since)`.
    pub fn revocations(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT document_number, reason, since FROM revocations ORDER BY document_number",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        r[0].text().unwrap_or_default(),
                        r[1].text().unwrap_or_default(),
                        r[2].text().unwrap_or_default(),
                    )
                })
                .collect())
        })
    }

    /// Lane leases.
    pub fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT station, lane, lease_until_ms FROM lanes ORDER BY station, lane",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| LeaseRow {
                    station: r[0].text().unwrap_or_default(),
                    lane: r[1].text().unwrap_or_default(),
                    until_ms: r[2].int().unwrap_or(0),
                })
                .collect())
        })
    }

    /// The whole audit log in order, the head row, and every job's state: what
    /// [`crate::audit`] checks.
    #[allow(clippy::type_complexity)]
    pub fn audit_snapshot(
        &self,
    ) -> Result<(Vec<AuditEntry>, (i64, String), Vec<(i64, String)>), StoreError> {
        self.db.with_tx(|tx| {
            let head = lock_head(tx)?;
            let rows = tx.rows(
                "SELECT seq, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash FROM audit ORDER BY seq",
                &[],
            )?;
            let entries = rows
                .iter()
                .map(|r| AuditEntry {
                    seq: r[0].int().unwrap_or(-1),
                    at: r[1].text().unwrap_or_default(),
                    actor: r[2].text().unwrap_or_default(),
                    job_id: r[3].int().unwrap_or(-1),
                    from_state: r[4].text(),
                    to_state: r[5].text().unwrap_or_default(),
                    lane: r[6].text(),
                    document_number: r[7].text(),
                    ds_certificate: r[8].text(),
                    detail: r[9].text(),
                    prev_hash: r[10].text().unwrap_or_default(),
                    hash: r[11].text().unwrap_or_default(),
                })
                .collect();
            let jobs = tx
                .rows("SELECT id, state FROM jobs ORDER BY id", &[])?
                .iter()
                .map(|r| (r[0].int().unwrap_or(-1), r[1].text().unwrap_or_default()))
                .collect();
            Ok((entries, head, jobs))
        })
    }

    /// Runs raw SQL: for tests that tamper with the log. Not for production paths.
    #[doc(hidden)]
    pub fn exec_raw(&self, sql: &str) -> Result<u64, StoreError> {
        self.db.with_tx(|tx| tx.exec(sql, &[]))
    }

    /// Drops a PostgreSQL schema (test clean-up).
    #[doc(hidden)]
    pub fn drop_pg_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        let mut client =
            postgres::Client::connect(url, postgres::NoTls).map_err(backend::pg_err)?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(backend::pg_err)
    }
}

fn upsert_lease(
    tx: &mut dyn Tx,
    station: &str,
    lane: &str,
    until_ms: i64,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO lanes (station, lane, lease_until_ms) VALUES (?1, ?2, ?3) ON CONFLICT (station, lane) DO UPDATE SET lease_until_ms = excluded.lease_until_ms",
        &[station.into(), lane.into(), until_ms.into()],
    )?;
    Ok(())
}
