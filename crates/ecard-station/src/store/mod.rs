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
pub mod blocks;
mod cans;
pub mod fleet;
mod holders;
pub mod migrate;
#[cfg(test)]
mod migrate_tests;
pub mod orphans;
mod pg;
mod purge;
mod qa;
mod read;
pub mod restore;
mod revocations;
mod rows;
mod schema;
mod sealed;
pub mod stations;
pub mod stats;
pub mod stock;
#[cfg(test)]
mod stock_tests;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Mutex;

use backend::{Backend, Val};
use rows::{
    Entry, JOB_COLS, append_audit, check_step, job_from, load_job, lock_head, moscow_day_ms,
    set_state, upsert_lease, void_number,
};

pub use pg::{PgOptions, PgSslMode};
pub use qa::{IssuedCardRow, QaResultRow};
pub(crate) use rows::rfc3339_ms;

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
    /// The database cannot be reached (the connection dropped, the server is restarting); the
    /// store reconnects by itself, with backoff. A retry may succeed.
    #[error("{store} unreachable: {reason}")]
    Unreachable {
        /// `postgresql`.
        store: &'static str,
        /// What the driver said.
        reason: String,
    },
    /// Every connection of the store's pool stayed in use for the whole wait: the station is
    /// overloaded for a moment. Nothing was done; a retry a second later may succeed.
    #[error(
        "{store} busy: all {connections} connections of the pool stayed in use for {waited_ms} ms"
    )]
    Busy {
        /// `postgresql`.
        store: &'static str,
        /// The pool's size (`postgres_pool`).
        connections: u32,
        /// How long the call waited (`postgres_pool_wait_ms`).
        waited_ms: u64,
    },
    /// A thread panicked while holding the connection.
    #[error("store connection poisoned by a panic in another thread")]
    Poisoned,
    /// An application breaks a holder rule (ECARD.md section 2): a replacement of a card that
    /// was not issued, was voided, is revoked, or is another person's. Nothing was stored.
    #[error("{field}: {reason}")]
    ApplicationRefused {
        /// The record's field at fault (JSON path).
        field: &'static str,
        /// Why, in words a clerk can act on.
        reason: String,
    },
    /// An application conflicts with another: a number already replaced, or a holder who has a
    /// valid card or an application in progress. Nothing was stored.
    #[error("{reason}")]
    ApplicationConflict {
        /// Why, naming the other card or application.
        reason: String,
        /// The card concerned, when there is one.
        number: Option<String>,
    },
    /// The blank-stock ledger refuses: an unknown or used blank on a lane, a serial imported
    /// twice, a blank whose life already ended.
    #[error("blank {serial}: {reason}")]
    StockRefused {
        /// The blank's serial (empty when the refusal is about a whole file).
        serial: String,
        /// Why.
        reason: String,
    },
    /// A numbering rule after a restore cannot be applied as given.
    #[error("cannot secure the numbering: {what}")]
    BadNumbering {
        /// What is wrong with the rule.
        what: String,
    },
    /// Personal data could not be sealed or opened: the data key is unavailable, or a stored
    /// value was altered (the message names the field and the application or job).
    #[error("{0}")]
    Vault(#[from] crate::vault::VaultError),
    /// The database was written by a newer release of ecard (schema migrations).
    #[error(
        "the {store} database has schema version {found}, newer than this ecard knows (up to {known}); nothing was changed: run the release that wrote it, or a newer one"
    )]
    SchemaTooNew {
        /// `sqlite` or `postgresql`.
        store: &'static str,
        /// The newest version recorded in the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
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
    /// A reason, e.g. the error that spoiled the card (no personal data); also becomes the
    /// job's `last_error`.
    pub detail: Option<String>,
    /// A fact for the audit log only, e.g. what writing the card took; `last_error` is left
    /// alone (a card that wrote well has no error to show). `detail` wins when both are set.
    pub note: Option<String>,
}

impl StepInfo {
    /// A step with a reason (which also becomes the job's `last_error`).
    pub fn detail(reason: String) -> StepInfo {
        StepInfo {
            detail: Some(reason),
            ..StepInfo::default()
        }
    }
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

/// A job claimed for encoding, with its inputs (personal data: Debug shows the job only).
#[derive(Clone)]
pub struct Claimed {
    /// The job, now `encoding` on the claiming lane.
    pub job: Job,
    /// The enrollment record (JSON).
    pub record_json: String,
    /// The chip images (JSON).
    pub chip_images_json: String,
    /// Why the inputs could not be opened (then both are empty): the lane spoils the job with it.
    pub unreadable: Option<StoreError>,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
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
    /// The last statistics pattern built (store/stats.rs): its period and the facts' generation, so the
    /// console's several queries over one period build it once.
    stats_cache: stats::Cache,
    /// Seals personal data (records, chip images, CANs) before it is written, and opens it when
    /// read ([`Store::with_vault`]); `None` stores them as given (tools and tests).
    vault: Option<crate::vault::Vault>,
    /// The audit chain this handle appends to: its station's ([`Store::for_station`]), or `""`.
    chain: String,
}

impl Store {
    /// Opens (creating if needed) a SQLite store: WAL journal, `synchronous=FULL`, so a commit
    /// survives power loss, and a busy timeout so `ecard audit verify` can run beside the daemon.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(backend::sqlite_err)?;
        conn.execute_batch(
            // secure_delete: pages freed by a purge or a rewrite are zeroed, so no record
            // lingers in the file's free pages (ECARD.md section 12).
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;",
        )
        .map_err(backend::sqlite_err)?;
        let store = Store {
            db: Backend::Sqlite(Mutex::new(conn)),
            kind: "sqlite",
            stats_cache: stats::Cache::default(),
            vault: None,
            chain: String::new(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens a PostgreSQL store in `schema` (created if absent), for one or several stations,
    /// with the default [`PgOptions`] (a pool of 4).
    pub fn open_postgres(url: &str, schema: &str) -> Result<Store, StoreError> {
        Store::open_postgres_with(url, schema, &PgOptions::default())
    }

    /// Opens a PostgreSQL store in `schema` (created if absent) with a pool of
    /// `options.pool` connections.
    pub fn open_postgres_with(
        url: &str,
        schema: &str,
        options: &PgOptions,
    ) -> Result<Store, StoreError> {
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
        // Several stations may start at once: serialize schema creation on an advisory lock
        // (the migrations then serialize on a transaction-scoped one). The search path names
        // the schema before it exists; PostgreSQL allows that.
        let ddl = format!(
            "SELECT pg_advisory_lock(4711); CREATE SCHEMA IF NOT EXISTS {schema}; SELECT pg_advisory_unlock(4711);"
        );
        let pool = pg::PgPool::open(url, schema, options, |client| {
            client.batch_execute(&ddl).map_err(backend::pg_err)
        })?;
        let store = Store {
            db: Backend::Postgres(Box::new(pool)),
            kind: "postgresql",
            stats_cache: stats::Cache::default(),
            vault: None,
            chain: String::new(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the schema migrations this database lacks, in one transaction; refuses a
    /// database written by a newer release ([`StoreError::SchemaTooNew`]).
    fn migrate(&self) -> Result<migrate::Migrated, StoreError> {
        self.db.with_tx(migrate::migrate)
    }

    /// The schema version of this store's database and the migrations recorded in it
    /// (version, name, applied at ms), oldest first.
    pub fn schema_versions(&self) -> Result<Vec<(i64, String, i64)>, StoreError> {
        self.db.with_tx(|tx| {
            tx.rows(
                "SELECT version, name, applied_ms FROM schema_migrations ORDER BY version",
                &[],
            )?
            .into_iter()
            .map(|r| match r.as_slice() {
                [Val::Int(v), Val::Text(n), Val::Int(at)] => Ok((*v, n.clone(), *at)),
                _ => Err(StoreError::Corrupt {
                    what: "schema_migrations row is not (version, name, applied_ms)".into(),
                }),
            })
            .collect()
        })
    }

    /// `sqlite` or `postgresql`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Takes one connection of a PostgreSQL store's pool and keeps it until the result is
    /// dropped (tests of a full pool); `None` for SQLite.
    #[cfg(test)]
    pub(crate) fn hold_connection(
        &self,
    ) -> Result<Option<r2d2::PooledConnection<pg::Manager>>, StoreError> {
        match &self.db {
            Backend::Postgres(pool) => pool.hold().map(Some),
            Backend::Sqlite(_) => Ok(None),
        }
    }

    /// This handle appends its audit entries to `station`'s own chain, so the stations sharing
    /// a database do not wait on each other's audit appends (crate::audit).
    pub fn for_station(mut self, station: &str) -> Store {
        self.chain = station.to_string();
        self
    }

    /// Makes sure `series` exists, starting at number 1 (0000000 is never issued).
    pub fn ensure_series(&self, series: u8) -> Result<(), StoreError> {
        self.ensure_series_from(series, 1)
    }

    /// Makes sure `series` exists, its first number `first` (1 when 0 is given): for a new
    /// series only; a series already in the store keeps its next number, so a restart or a
    /// second station never hands out a number twice.
    pub fn ensure_series_from(&self, series: u8, first: u32) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            tx.exec(
                "INSERT INTO series (series, next) VALUES (?1, ?2) ON CONFLICT (series) DO NOTHING",
                &[i64::from(series).into(), i64::from(first.max(1)).into()],
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
        // Sealed before the transaction: the token call does not hold the database.
        let app = new.application_id.as_str();
        let record = self.seal_input(sealed::RECORD, app, &new.record_json)?;
        let images = self.seal_input(sealed::CHIP_IMAGES, app, &new.chip_images_json)?;
        // The holder's identity digests, keyed with the vault's pseudonym key when there is one.
        let keys = holders::HolderKeys::of_record(&new.record_json)
            .map(|k| match &self.vault {
                Some(v) => k.keyed(v),
                None => Ok(k),
            })
            .transpose()?;
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
            let existing = tx.rows(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE application_id = ?1"),
                &[new.application_id.as_str().into()],
            )?;
            if let Some(row) = existing.first() {
                return Ok((job_from(row)?, false));
            }
            if let Some(keys) = &keys {
                match &new.replaces {
                    Some((previous, _)) => holders::check_replacement(tx, previous, keys)?,
                    None => holders::check_first_issue(tx, keys)?,
                }
            }
            let (prev, cause) = match &new.replaces {
                Some((n, c)) => (Some(n.clone()), Some(c.clone())),
                None => (None, None),
            };
            let rows = tx.rows(
                "INSERT INTO jobs (application_id, state, attempts, late_notification, previous_number, replacement_cause, created_ms, updated_ms) VALUES (?1, 'received', 0, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                &[
                    new.application_id.as_str().into(),
                    i64::from(new.late_notification).into(),
                    prev.into(),
                    cause.into(),
                    now_ms.into(),
                ],
            )?;
            let id = rows
                .first()
                .and_then(|r| r.first())
                .and_then(Val::int)
                .ok_or_else(|| StoreError::Corrupt {
                    what: "INSERT INTO jobs returned no id".into(),
                })?;
            tx.exec(
                "INSERT INTO job_inputs (job_id, record, chip_images) VALUES (?1, ?2, ?3)",
                &[id.into(), record.as_str().into(), images.as_str().into()],
            )?;
            if let Some(keys) = &keys {
                holders::record(tx, id, keys)?;
            }
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
        self.tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
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
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
            claim_in(tx, &mut head, station, lane, series, now_ms, lease_until_ms)
        })
    }

    /// [`Store::claim`] and the step to `encoding` in one commit (both transitions and their
    /// audit entries are stored together), returning the job's inputs: what a lane does before
    /// it touches a card, in one round trip instead of three.
    pub fn claim_to_encode(
        &self,
        station: &str,
        lane: &str,
        series: u8,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<Claimed>, StoreError> {
        let actor = Actor::lane(station, lane);
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
            let Some(mut job) =
                claim_in(tx, &mut head, station, lane, series, now_ms, lease_until_ms)?
            else {
                return Ok(None);
            };
            check_step(&job, JobState::Encoding, &actor, "moving to encoding")?;
            set_state(
                tx,
                &mut head,
                &mut job,
                JobState::Encoding,
                &actor,
                &StepInfo::default(),
                now_ms,
            )?;
            let inputs = tx.rows(
                "SELECT record, chip_images FROM job_inputs WHERE job_id = ?1",
                &[job.id.into()],
            )?;
            let (record, images) = inputs
                .first()
                .and_then(|r| Some((r[0].text()?, r[1].text()?)))
                .ok_or(StoreError::NoJob { id: job.id })?;
            // Opened inside the claim: while the data key is unavailable (its token pulled) the
            // claim rolls back and the job keeps its place and its number. A record that does
            // not open is the job's fault: the claim stands and the lane spoils it, naming the
            // field.
            let app = job.application_id.clone();
            let opened = self
                .open_input(sealed::RECORD, &app, record)
                .and_then(|r| Ok((r, self.open_input(sealed::CHIP_IMAGES, &app, images)?)));
            match opened {
                Ok((record_json, chip_images_json)) => Ok(Some(Claimed {
                    job,
                    record_json,
                    chip_images_json,
                    unreadable: None,
                })),
                Err(e @ StoreError::Vault(crate::vault::VaultError::Unreadable { .. })) => {
                    Ok(Some(Claimed {
                        job,
                        record_json: String::new(),
                        chip_images_json: String::new(),
                        unreadable: Some(e),
                    }))
                }
                Err(e) => Err(e),
            }
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
        self.tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
            let mut job = load_job(tx, id, true)?;
            check_step(&job, JobState::Spoiled, actor, "spoiling the card")?;
            if let Some(n) = &job.document_number {
                void_number(tx, n, now_ms)?;
            }
            if count_attempt {
                job.attempts += 1;
            }
            let mut step = |job: &mut Job, to: JobState, detail: String| {
                let info = StepInfo::detail(detail);
                set_state(tx, &mut head, job, to, actor, &info, now_ms)
            };
            step(&mut job, JobState::Spoiled, reason.to_string())?;
            if job.attempts >= max_attempts {
                let why = format!("{} spoiled cards; an operator decides", job.attempts);
                step(&mut job, JobState::Failed, why)?;
            }
            Ok(job)
        })
    }

    /// Operator: puts a failed job back in the queue with its attempts reset.
    pub fn retry(&self, id: i64, actor: &Actor, now_ms: i64) -> Result<Job, StoreError> {
        self.db.with_tx(|tx| {
            let mut head = lock_head(tx, &self.chain)?;
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
            let info = StepInfo::detail("operator retry".into());
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
            let mut head = lock_head(tx, &self.chain)?;
            let mut job = load_job(tx, id, true)?;
            check_step(&job, JobState::Voided, actor, "void")?;
            if let Some(n) = &job.document_number {
                void_number(tx, n, now_ms)?;
            }
            let info = StepInfo::detail("operator void".into());
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

    /// Renews a lane's lease (its heartbeat) until `until_ms`, `now_ms` being the station's
    /// present (on PostgreSQL only the difference counts: leases run on the database's clock).
    pub fn heartbeat(
        &self,
        station: &str,
        lane: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.db
            .with_tx(|tx| upsert_lease(tx, station, lane, now_ms, until_ms))
    }

    /// Jobs left on lanes that nobody works: this station's own (after a restart), and other
    /// stations' whose lane lease ran out before `now_ms`.
    pub fn orphaned(&self, station: &str, now_ms: i64) -> Result<Vec<Job>, StoreError> {
        self.db.with_tx(|tx| {
            let now_ms = rows::lease_now(tx, now_ms)?;
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
            let now_ms = rows::lease_now(tx, now_ms)?;
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
            if holder.0 != station {
                // The station that left it is gone for now: the rest of its number blocks are
                // recorded as voided, so no gap in the numbers is left unexplained.
                blocks::void_recorded(
                    tx,
                    &self.chain,
                    Some(&holder.0),
                    &format!("station:{station}"),
                    &format!("its lane {} stopped renewing its lease", holder.1),
                    now_ms,
                )?;
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
}

/// The claim itself, inside the caller's transaction (the audit head already locked).
fn claim_in(
    tx: &mut dyn backend::Tx,
    head: &mut crate::audit::ChainHead,
    station: &str,
    lane: &str,
    series: u8,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Option<Job>, StoreError> {
    let actor = Actor::lane(station, lane);
    upsert_lease(tx, station, lane, now_ms, lease_until_ms)?;
    // SKIP LOCKED: a row another station's transaction holds is not waited for.
    let lock = if tx.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows = tx.rows(
        &format!(
            "SELECT {JOB_COLS} FROM jobs WHERE state IN ('validated', 'spoiled') ORDER BY id LIMIT 1{lock}"
        ),
        &[],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut job = job_from(row)?;
    let n = blocks::take(tx, station, series, now_ms)?;
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
        head,
        &mut job,
        JobState::Numbered,
        &actor,
        &StepInfo::default(),
        now_ms,
    )?;
    Ok(Some(job))
}
