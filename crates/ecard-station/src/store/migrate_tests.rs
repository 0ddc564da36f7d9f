//! Schema migrations against databases made by release 0.1.0 (`tests/fixtures/`), on SQLite and
//! PostgreSQL: the upgrade keeps every job, number and audit entry; a database from a newer
//! release is refused untouched; a failed migration changes nothing.

use super::migrate::LATEST;
use super::*;
use crate::audit::{verify_chain, verify_jobs};
use crate::testutil;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What release 0.1.0 left in its fixture: two issued cards and an intact 14-entry audit chain.
fn assert_fixture_intact(s: &Store, numbers: [&str; 2]) {
    let jobs = s.list(None, 10).unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.state == JobState::Issued));
    let mut issued: Vec<String> = s
        .numbers()
        .unwrap()
        .into_iter()
        .filter(|n| n.status == "issued")
        .map(|n| n.document_number)
        .collect();
    issued.sort();
    assert_eq!(issued, numbers);
    let (entries, head, states) = s.audit_snapshot().unwrap();
    verify_jobs(&entries, &states).unwrap();
    assert_eq!(verify_chain(&entries, &head).unwrap(), 14);
    for j in &jobs {
        let (record, _) = s.inputs(j.id).unwrap();
        assert!(
            record.contains("application_id"),
            "job {} lost its record",
            j.id
        );
    }
}

#[test]
fn a_release_0_1_0_sqlite_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    std::fs::copy(fixture("station-v0.1.0.sqlite"), &path).unwrap();
    let s = Store::open_sqlite(&path).unwrap();
    let versions = s.schema_versions().unwrap();
    assert_eq!(
        versions.iter().map(|v| v.0).collect::<Vec<_>>(),
        (1..=LATEST).collect::<Vec<_>>()
    );
    assert!(
        versions.iter().all(|v| v.2 > 1_700_000_000_000),
        "{versions:?}"
    );
    assert_fixture_intact(&s, ["771000001", "771000002"]);
    // The series continues after the numbers the old release gave out.
    s.ensure_series(77).unwrap();
    drop(s);
    // A second open finds nothing to do.
    let s = Store::open_sqlite(&path).unwrap();
    assert_eq!(s.schema_versions().unwrap(), versions);
    assert_fixture_intact(&s, ["771000001", "771000002"]);
}

#[test]
fn a_sqlite_database_from_a_newer_release_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    let s = Store::open_sqlite(&path).unwrap();
    s.exec_raw("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (999, 'from the future', 1)")
        .unwrap();
    drop(s);
    match Store::open_sqlite(&path) {
        Err(StoreError::SchemaTooNew {
            store: "sqlite",
            found: 999,
            known,
        }) => assert_eq!(known, LATEST),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a database of schema version 999 was opened"),
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected: Vec<i64> = (1..=LATEST).collect();
    expected.push(999);
    assert_eq!(versions, expected);
}

#[test]
fn a_failed_migration_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    {
        // A `jobs` table that is not ours: the baseline's index on (state, id) cannot be made.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE jobs (something TEXT); INSERT INTO jobs VALUES ('x');")
            .unwrap();
    }
    let err = Store::open_sqlite(&path)
        .err()
        .expect("the migration must fail");
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["jobs"], "the failed migration left tables behind");
}

/// Loads the PostgreSQL fixture under a fresh schema name; `None` when PostgreSQL is absent
/// (and not demanded).
fn pg_fixture() -> Option<(String, String)> {
    let t = testutil::postgres()?;
    drop(t);
    let url = testutil::pg_url();
    let schema = format!("ecard_test_{:016x}", rand::random::<u64>());
    let sql = std::fs::read_to_string(fixture("station-v0.1.0.pg.sql"))
        .unwrap()
        .replace("fixture_v010", &schema);
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    client.batch_execute(&sql).unwrap();
    Some((url, schema))
}

#[test]
fn a_release_0_1_0_postgres_schema_is_upgraded_in_place() {
    let Some((url, schema)) = pg_fixture() else {
        return;
    };
    let outcome = std::panic::catch_unwind(|| {
        let s = Store::open_postgres(&url, &schema).unwrap();
        let versions = s.schema_versions().unwrap();
        assert_eq!(
            versions.iter().map(|v| v.0).collect::<Vec<_>>(),
            (1..=LATEST).collect::<Vec<_>>()
        );
        assert_fixture_intact(&s, ["770000001", "770000002"]);
        drop(s);
        // A second station opening the same schema finds it migrated.
        let peer = Store::open_postgres(&url, &schema).unwrap();
        assert_eq!(peer.schema_versions().unwrap(), versions);
        peer.exec_raw("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (999, 'from the future', 1)")
            .unwrap();
        drop(peer);
        match Store::open_postgres(&url, &schema) {
            Err(StoreError::SchemaTooNew {
                store: "postgresql",
                found: 999,
                ..
            }) => {}
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a schema of version 999 was opened"),
        }
    });
    let _ = Store::drop_pg_schema(&url, &schema);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
