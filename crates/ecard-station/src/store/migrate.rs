//! Versioned schema migrations, the same list for SQLite and PostgreSQL.
//!
//! The table `schema_migrations` records every migration applied (version, name, when). At open
//! the store applies the missing ones in order, all in ONE transaction with the schema's record,
//! so a crash or an error half-way leaves the database exactly as it was (both databases run DDL
//! inside transactions). A database whose newest recorded version is above [`LATEST`] was written
//! by a newer release: it is refused, untouched, because this binary cannot know what the newer
//! columns mean. Several stations opening one PostgreSQL schema at once serialize on a
//! transaction-scoped advisory lock, so each migration runs once.
//!
//! Release 0.1.0 had no `schema_migrations` table; its databases (kept as fixtures in
//! `tests/fixtures/`) are recognised by their tables and get version 1, whose DDL is idempotent.
//!
//! To change the schema: append a [`Migration`] with the next version; never edit one that has
//! shipped.

use super::StoreError;
use super::backend::{Tx, Val};
use super::schema;

/// A data move run inside a migration's transaction.
pub(crate) type DataMove = fn(&mut dyn Tx) -> Result<(), StoreError>;

/// One step of the schema's history.
pub(crate) struct Migration {
    /// 1, 2, 3 ... without gaps.
    pub(crate) version: i64,
    /// What it does, as recorded in `schema_migrations`.
    pub(crate) name: &'static str,
    /// DDL for SQLite (a batch of statements).
    pub(crate) sqlite: &'static str,
    /// DDL for PostgreSQL (run with `search_path` set to the store's schema).
    pub(crate) postgres: &'static str,
    /// Data moves that DDL alone cannot express, run after the DDL in the same transaction.
    pub(crate) data: Option<DataMove>,
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "release 0.1.0: jobs, job inputs, numbers, revocations, lanes, audit log, QA",
        sqlite: schema::SQLITE,
        postgres: schema::POSTGRES,
        data: Some(move_inputs_out_of_jobs),
    },
    Migration {
        version: 2,
        name: "blank-stock ledger: imports, blanks, events, counts",
        sqlite: super::stock::SQLITE,
        postgres: super::stock::POSTGRES,
        data: None,
    },
    Migration {
        version: 3,
        name: "stations: one running daemon per station id",
        sqlite: super::stations::DDL,
        postgres: super::stations::DDL,
        data: None,
    },
    Migration {
        version: 4,
        name: "job holders: identity digests for the replacement and one-card rules",
        sqlite: super::holders::DDL,
        postgres: super::holders::DDL,
        data: Some(super::holders::backfill),
    },
    Migration {
        version: 5,
        name: "cards to destroy: cards left in lane slots that no live job owns",
        sqlite: super::orphans::DDL,
        postgres: super::orphans::DDL,
        data: None,
    },
    Migration {
        version: 6,
        name: "card access numbers: the PACE password of each job's card",
        sqlite: super::cans::DDL,
        postgres: super::cans::DDL,
        data: None,
    },
    Migration {
        version: 7,
        name: "statistics: de-identified facts of cards issued or spoiled, and their cube",
        sqlite: super::stats::DDL,
        postgres: super::stats::DDL,
        data: Some(super::stats::backfill),
    },
    Migration {
        version: 8,
        name: "statistics: a covering index on the cube, so a period is read from one index",
        sqlite: super::stats::DDL_COVERING,
        postgres: super::stats::DDL_COVERING,
        data: None,
    },
    Migration {
        version: 9,
        name: "audit chains: one hash chain per station, so stations do not wait on each other's commits",
        sqlite: schema::AUDIT_CHAINS_SQLITE,
        postgres: schema::AUDIT_CHAINS_POSTGRES,
        data: None,
    },
    Migration {
        version: 10,
        name: "a fleet without hot rows: number blocks per station, statistics generations per station",
        sqlite: schema::FLEET_ROWS,
        postgres: schema::FLEET_ROWS,
        data: None,
    },
];

/// The newest schema version this binary knows.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What [`migrate`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The version the database had (0: new or a release-0.1.0 database).
    pub from: i64,
    /// The version it has now ([`LATEST`]).
    pub to: i64,
}

const RECORD_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
)";

/// Brings the database to [`LATEST`] inside `tx` (the caller commits), or refuses one that is
/// newer than this binary. Each migration is recorded with the database's own clock (the store
/// reads none).
pub(crate) fn migrate(tx: &mut dyn Tx) -> Result<Migrated, StoreError> {
    let store = if tx.is_postgres() {
        // Held to the end of this transaction: a second station opening the same schema waits
        // here and then finds the migrations done.
        tx.batch("SELECT pg_advisory_xact_lock(4711)")?;
        "postgresql"
    } else {
        "sqlite"
    };
    tx.batch(RECORD_TABLE)?;
    let from = tx
        .rows(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .unwrap_or(0);
    if from > LATEST {
        return Err(StoreError::SchemaTooNew {
            store,
            found: from,
            known: LATEST,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch(if tx.is_postgres() {
            m.postgres
        } else {
            m.sqlite
        })?;
        if let Some(data) = m.data {
            data(tx)?;
        }
        let now_ms = if tx.is_postgres() {
            "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
        } else {
            "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        };
        tx.exec(
            &format!(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, {now_ms})"
            ),
            &[m.version.into(), m.name.into()],
        )?;
        if from > 0 || m.version > 1 {
            tracing::info!(
                version = m.version,
                name = m.name,
                "schema migration applied"
            );
        }
    }
    Ok(Migrated { from, to: LATEST })
}

/// A store made before job inputs had their own table keeps them in `jobs.record` and
/// `jobs.chip_images`: they move to `job_inputs`, so no record is lost and a half-done move
/// cannot be seen (it is part of the migration's transaction).
fn move_inputs_out_of_jobs(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let has_old_columns = if tx.is_postgres() {
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name = 'record'"
    } else {
        "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'record'"
    };
    let old = tx
        .rows(has_old_columns, &[])?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .unwrap_or(0);
    if old > 0 {
        tx.exec(
            "INSERT INTO job_inputs (job_id, record, chip_images) SELECT id, record, chip_images FROM jobs WHERE true ON CONFLICT (job_id) DO NOTHING",
            &[],
        )?;
        tx.exec("ALTER TABLE jobs DROP COLUMN record", &[])?;
        tx.exec("ALTER TABLE jobs DROP COLUMN chip_images", &[])?;
        tracing::info!("moved job inputs out of the jobs table");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {:?}", m.name);
        }
        assert_eq!(LATEST, MIGRATIONS.len() as i64);
    }
}
