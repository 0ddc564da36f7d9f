//! The schema, once per dialect. The two differ only in how an id is generated; every other
//! column is BIGINT or TEXT so one set of queries serves both. Idempotent: run at every start.

/// Every table after the jobs table's id column, the same in both dialects.
macro_rules! tables {
    () => {
        "    application_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    document_number TEXT,
    attempts BIGINT NOT NULL,
    station TEXT,
    lane TEXT,
    late_notification BIGINT NOT NULL,
    previous_number TEXT,
    replacement_cause TEXT,
    last_error TEXT,
    ds_cert TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
-- A job's record (with its original images) and chip JPEGs: some 100 kB, written once. Apart from
-- the jobs row, so that a state change rewrites a small row, not the record with it (in SQLite an
-- UPDATE rewrites the whole row, and every transition is a durable commit).
CREATE TABLE IF NOT EXISTS job_inputs (
    job_id BIGINT PRIMARY KEY,
    record TEXT NOT NULL,
    chip_images TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS series (series BIGINT PRIMARY KEY, next BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS numbers (
    document_number TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    document_number TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    job_id BIGINT
);
CREATE TABLE IF NOT EXISTS lanes (
    station TEXT NOT NULL,
    lane TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    PRIMARY KEY (station, lane)
);
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    job_id BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    lane TEXT,
    document_number TEXT,
    ds_cert TEXT,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- A job's history (console detail, demo report) without reading the whole log.
CREATE INDEX IF NOT EXISTS audit_by_job ON audit (job_id, seq);
CREATE TABLE IF NOT EXISTS audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qa_cards (
    document_number TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    lane TEXT,
    ef_sha256 TEXT NOT NULL,
    sod TEXT NOT NULL,
    ds_cert TEXT NOT NULL,
    lock_result TEXT NOT NULL,
    written_ms BIGINT NOT NULL,
    sample TEXT
);
CREATE TABLE IF NOT EXISTS qa_results (
    seq BIGINT PRIMARY KEY,
    job_id BIGINT,
    document_number TEXT NOT NULL,
    lane TEXT,
    inspector TEXT NOT NULL,
    verdict TEXT NOT NULL,
    failures TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
"
    };
}

/// SQLite. `AUTOINCREMENT` so an id is never reused even after the last row's deletion.
pub(super) const SQLITE: &str = concat!(
    "\nCREATE TABLE IF NOT EXISTS jobs (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n",
    tables!()
);

/// PostgreSQL (run with `search_path` set to the store's schema).
pub(super) const POSTGRES: &str = concat!(
    "\nCREATE TABLE IF NOT EXISTS jobs (\n    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n",
    tables!()
);

/// Migration 9, both stores: the audit log becomes one chain per station. The one chain so far
/// keeps its entries and head as chain `""`.
macro_rules! audit_chains {
    () => {
        "
ALTER TABLE audit ADD COLUMN chain TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS audit_chains (chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_chains (chain, seq, hash) SELECT '', seq, hash FROM audit_head WHERE id = 1 AND seq > 0;
DROP TABLE audit_head;
"
    };
}

/// Migration 9, SQLite (one writer at a time: the next sequence number is the highest + 1).
pub(super) const AUDIT_CHAINS_SQLITE: &str = audit_chains!();

/// Migration 9, PostgreSQL: the sequence numbers come from a sequence, which no writer waits on.
pub(super) const AUDIT_CHAINS_POSTGRES: &str = concat!(
    audit_chains!(),
    "CREATE SEQUENCE IF NOT EXISTS audit_seq;
SELECT setval('audit_seq', COALESCE((SELECT MAX(seq) FROM audit), 0) + 1, false);
"
);

/// Migration 10, both stores: number blocks ([`super::blocks`]) and the statistics' generations
/// counted per station ([`super::stats`]).
pub(super) const FLEET_ROWS: &str = "
CREATE TABLE IF NOT EXISTS number_blocks (
    station TEXT NOT NULL,
    series BIGINT NOT NULL,
    next BIGINT NOT NULL,
    last BIGINT NOT NULL,
    reserved_ms BIGINT NOT NULL,
    PRIMARY KEY (station, series)
);
CREATE TABLE IF NOT EXISTS stats_generations (id BIGINT NOT NULL, station TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (id, station));
INSERT INTO stats_generations (id, station, n) SELECT id, '', n FROM stats_generation WHERE true
    ON CONFLICT (id, station) DO UPDATE SET n = stats_generations.n + excluded.n;
DROP TABLE stats_generation;
";
