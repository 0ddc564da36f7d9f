//! Facts are written with the step that issues or spoils a card, outlive the purge, and are
//! backfilled by migration 7; migration 8 indexes the cube; on SQLite and on PostgreSQL.

use super::super::migrate::LATEST;
use super::super::{Actor, NewJob, StepInfo, Store};
use super::*;
use crate::testutil;

// 2026-11-20 12:00 UTC and 2026-12-31 22:00 UTC (already 2027-01-01 in Moscow).
const NOV: i64 = 1_795_176_000_000;
const NEW_YEAR_MOSCOW: i64 = 1_798_754_400_000;

fn submit(s: &Store, app: &str, region: Option<&str>, at: i64) -> i64 {
    let mut record: serde_json::Value = serde_json::from_str(&testutil::record_json(app)).unwrap();
    if let Some(r) = region {
        record["residence_region"] = r.into();
    }
    let (job, _) = s
        .submit(
            &NewJob {
                application_id: app.into(),
                record_json: record.to_string(),
                chip_images_json: testutil::chip_images_json(),
                late_notification: false,
                replaces: None,
            },
            &Actor::named("intake-1"),
            at,
        )
        .unwrap();
    s.step(
        job.id,
        JobState::Validated,
        &Actor::named("intake-1"),
        &StepInfo::default(),
        at,
    )
    .unwrap();
    job.id
}

/// Claims on `st/l1` and goes to `issued` at `at`, after `spoils` spoiled cards.
fn issue(s: &Store, id: i64, st: &str, spoils: usize, at: i64) {
    let lane = Actor::lane(st, "l1");
    for _ in 0..=spoils {
        let j = s.claim(st, "l1", 77, at, at + 60_000).unwrap().unwrap();
        assert_eq!(j.id, id);
        s.step(id, JobState::Encoding, &lane, &StepInfo::default(), at)
            .unwrap();
        if s.get(id).unwrap().unwrap().attempts < spoils as i64 {
            s.spoil(id, &lane, "card removed", true, 10, at).unwrap();
            continue;
        }
        for to in [JobState::Verifying, JobState::Printing, JobState::Issued] {
            s.step(id, to, &lane, &StepInfo::default(), at).unwrap();
        }
    }
}

fn facts(s: &Store) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> =
        s.db.with_tx(|tx| {
            tx.rows(
                &format!("SELECT {COLS} FROM stats_facts ORDER BY {COLS}"),
                &[],
            )
        })
        .unwrap()
        .into_iter()
        .map(|r| r.iter().map(|v| v.text().unwrap_or_default()).collect())
        .collect();
    rows.sort();
    rows
}

fn age_of(app: &str, day: time::Date) -> String {
    let v: serde_json::Value = serde_json::from_str(&testutil::record_json(app)).unwrap();
    let dob = parse_date(v["date_of_birth"].as_str().unwrap()).unwrap();
    age_band(age_on(dob, day)).to_string()
}

fn row(month: &str, st: &str, region: &str, age: &str, outcome: &str) -> Vec<String> {
    [
        month,
        st,
        region,
        "UZB",
        age,
        "M",
        "first_issue",
        "none",
        "false",
        outcome,
    ]
    .map(str::to_string)
    .to_vec()
}

fn written_in_the_step_and_outlive_the_purge(s: &Store) {
    let a = submit(s, "MMC-A", Some("RU-MOS"), NOV);
    let b = submit(s, "MMC-B", None, NOV);
    issue(s, a, "s1", 1, NOV);
    issue(s, b, "s2", 0, NEW_YEAR_MOSCOW);
    let nov = time::macros::date!(2026 - 11 - 20);
    let jan = time::macros::date!(2027 - 01 - 01);
    let mut want = vec![
        row("2026-11", "s1", "RU-MOS", &age_of("MMC-A", nov), "spoiled"),
        row("2026-11", "s1", "RU-MOS", &age_of("MMC-A", nov), "issued"),
        row("2027-01", "s2", UNKNOWN, &age_of("MMC-B", jan), "issued"),
    ];
    want.sort();
    assert_eq!(facts(s), want);
    let m = |t: &str| Month::parse(t).unwrap();
    assert_eq!(s.stats_fact_count(m("2026-11"), m("2026-12")).unwrap(), 2);
    let atoms = s.stats_atoms(m("2026-01"), m("2027-12")).unwrap();
    assert_eq!(atoms.iter().map(|a| a.1).sum::<u64>(), 3);
    // The purge removes the records; the facts stay, unchanged.
    let purged = s
        .purge_personal_data(NEW_YEAR_MOSCOW + 1, 0, "purge", NEW_YEAR_MOSCOW + 2)
        .unwrap();
    assert_eq!(purged.len(), 2);
    assert_eq!(facts(s), want);
}

/// Takes a store with one audit chain (`""`) back to before migrations 9 and 10, so an older
/// migration can be undone and applied again.
fn undo_audit_chains(tx: &mut dyn super::super::backend::Tx) -> Result<(), StoreError> {
    tx.batch(
        "CREATE TABLE stats_generation (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
         INSERT INTO stats_generation (id, n) SELECT id, CAST(SUM(n) AS BIGINT) FROM stats_generations GROUP BY id;
         DROP TABLE stats_generations;
         DROP TABLE number_blocks;
         DELETE FROM schema_migrations WHERE version = 10;
         CREATE TABLE audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
         INSERT INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit_chains WHERE chain = '';
         DROP TABLE audit_chains;
         ALTER TABLE audit DROP COLUMN chain;
         DELETE FROM schema_migrations WHERE version = 9",
    )?;
    if tx.is_postgres() {
        tx.batch("DROP SEQUENCE audit_seq")?;
    }
    Ok(())
}

/// A store as it was before migration 7: facts gone, migration unrecorded; reopening backfills.
fn backfilled_by_the_migration(s: &Store) {
    let a = submit(s, "MMC-A", Some("RU-MOW"), NOV);
    let b = submit(s, "MMC-B", Some("RU-MOS"), NOV);
    issue(s, a, "s1", 0, NOV);
    issue(s, b, "s1", 1, NOV);
    // b's record is purged before the upgrade: its personal dimensions become unknown.
    s.db.with_tx(|tx| {
        tx.exec("DELETE FROM job_inputs WHERE job_id = ?1", &[b.into()])?;
        undo_audit_chains(tx)?;
        tx.batch(
            "DROP TABLE stats_facts; DROP TABLE stats_cube; DROP TABLE stats_generation; DELETE FROM schema_migrations WHERE version >= 7",
        )
    })
    .unwrap();
    let m = s.migrate().unwrap();
    assert_eq!((m.from, m.to), (6, LATEST));
    let nov = time::macros::date!(2026 - 11 - 20);
    let unknown = |outcome: &str| {
        let mut r = row("2026-11", "s1", UNKNOWN, UNKNOWN, outcome);
        r[3] = UNKNOWN.into();
        r[5] = UNKNOWN.into();
        r
    };
    let mut want = vec![
        row("2026-11", "s1", "RU-MOW", &age_of("MMC-A", nov), "issued"),
        unknown("spoiled"),
        unknown("issued"),
    ];
    want.sort();
    assert_eq!(facts(s), want);
    // Once only: opening again changes nothing.
    let m = s.migrate().unwrap();
    assert_eq!((m.from, m.to), (LATEST, LATEST));
    assert_eq!(facts(s).len(), 3);
}

/// Whether the covering index of migration 8 exists.
fn has_covering_index(s: &Store) -> bool {
    let sql = if s.db.with_tx(|tx| Ok(tx.is_postgres())).unwrap() {
        "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'stats_cube_covering'"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'stats_cube_covering'"
    };
    s.db.with_tx(|tx| tx.rows(sql, &[])).unwrap()[0][0].int() == Some(1)
}

/// A store of version 7 with facts gains the covering index (migration 8); its counts are the
/// same read either way, and SQLite reads a period from the index alone.
fn covering_index_added_by_the_migration(s: &Store) {
    let f = |month: &str, nat: &str| {
        let mut a: [String; 10] = row(month, "s1", "RU-MOW", "25-34", "issued")
            .try_into()
            .unwrap();
        a[3] = nat.into();
        Fact(a)
    };
    let mut many = vec![f("2026-10", "UZB"); 12];
    many.extend(vec![f("2026-11", "UZB"); 20]);
    many.extend(vec![f("2026-11", "TJK"); 3]);
    many.extend(vec![f("2026-12", "KGZ"); 5]);
    s.stats_insert_facts(&many).unwrap();
    let (nov, dec) = (
        Month::parse("2026-11").unwrap(),
        Month::parse("2026-12").unwrap(),
    );
    let with_index = s.stats_atoms(nov, dec).unwrap();
    assert!(has_covering_index(s));
    s.db.with_tx(|tx| {
        undo_audit_chains(tx)?;
        tx.batch("DROP INDEX stats_cube_covering; DELETE FROM schema_migrations WHERE version = 8")
    })
    .unwrap();
    assert!(!has_covering_index(s));
    let mut without = s.stats_atoms(nov, dec).unwrap();
    let m = s.migrate().unwrap();
    assert_eq!((m.from, m.to), (7, LATEST));
    assert!(has_covering_index(s));
    let mut again = s.stats_atoms(nov, dec).unwrap();
    for a in [&mut without, &mut again] {
        a.sort();
    }
    let mut want = with_index.clone();
    want.sort();
    assert_eq!(without, want);
    assert_eq!(again, want);
    assert_eq!(want.iter().map(|a| a.1).sum::<u64>(), 28);
    if !s.db.with_tx(|tx| Ok(tx.is_postgres())).unwrap() {
        let plan = s
            .db
            .with_tx(|tx| {
                tx.rows(
                    &format!(
                        "EXPLAIN QUERY PLAN SELECT {COLS}, n FROM stats_cube WHERE month >= ?1 AND month <= ?2 ORDER BY {COLS}"
                    ),
                    &["2026-11".into(), "2026-12".into()],
                )
            })
            .unwrap();
        let detail: Vec<String> = plan.iter().filter_map(|r| r.last()?.text()).collect();
        assert!(
            detail
                .iter()
                .any(|d| d.contains("COVERING INDEX stats_cube_covering")),
            "{detail:?}"
        );
        assert!(
            !detail.iter().any(|d| d.contains("TEMP B-TREE")),
            "{detail:?}"
        );
    }
}

#[test]
fn sqlite_covering_index_added_by_the_migration() {
    covering_index_added_by_the_migration(&testutil::sqlite().store);
}

#[test]
fn postgres_covering_index_added_by_the_migration() {
    if let Some(t) = testutil::postgres() {
        covering_index_added_by_the_migration(&t.store);
    }
}

#[test]
fn sqlite_facts_written_in_the_step_and_outlive_the_purge() {
    written_in_the_step_and_outlive_the_purge(&testutil::sqlite().store);
}

#[test]
fn postgres_facts_written_in_the_step_and_outlive_the_purge() {
    if let Some(t) = testutil::postgres() {
        written_in_the_step_and_outlive_the_purge(&t.store);
    }
}

#[test]
fn sqlite_facts_backfilled_by_the_migration() {
    backfilled_by_the_migration(&testutil::sqlite().store);
}

#[test]
fn postgres_facts_backfilled_by_the_migration() {
    if let Some(t) = testutil::postgres() {
        backfilled_by_the_migration(&t.store);
    }
}

/// The bulk path writes the same facts and cube counts as one insert per fact.
fn bulk_insert_counts_like_single(s: &Store) {
    let f = |nat: &str| {
        Fact(
            row("2026-11", "s1", "RU-MOW", "25-34", "issued")
                .try_into()
                .map(|mut a: [String; 10]| {
                    a[3] = nat.into();
                    a
                })
                .unwrap(),
        )
    };
    let many: Vec<Fact> = (0..250)
        .map(|i| f(if i % 5 == 0 { "TJK" } else { "UZB" }))
        .collect();
    s.stats_insert_facts(&many).unwrap();
    s.db.with_tx(|tx| insert(tx, &f("TJK"))).unwrap();
    let m = Month::parse("2026-11").unwrap();
    assert_eq!(s.stats_fact_count(m, m).unwrap(), 251);
    let mut atoms = s.stats_atoms(m, m).unwrap();
    atoms.sort();
    let counts: Vec<(String, u64)> = atoms.into_iter().map(|(v, n)| (v[3].clone(), n)).collect();
    assert_eq!(
        counts,
        vec![("TJK".to_string(), 51), ("UZB".to_string(), 200)]
    );
}

#[test]
fn sqlite_bulk_insert_counts_like_single() {
    bulk_insert_counts_like_single(&testutil::sqlite().store);
}

#[test]
fn postgres_bulk_insert_counts_like_single() {
    if let Some(t) = testutil::postgres() {
        bulk_insert_counts_like_single(&t.store);
    }
}

/// A cached pattern is dropped when a fact is added, in any period.
fn a_new_fact_refreshes_the_answer(s: &Store) {
    let f = |nat: &str| {
        let mut a: [String; 10] = row("2026-11", "s1", "RU-MOW", "25-34", "issued")
            .try_into()
            .unwrap();
        a[3] = nat.into();
        Fact(a)
    };
    s.stats_insert_facts(&vec![f("UZB"); 30]).unwrap();
    let req =
        crate::stats::Request::parse(Some("2026-11"), Some("2026-11"), Some("nationality"), None)
            .unwrap();
    let before = s.statistics(&req).unwrap();
    assert_eq!((before.total_exact, before.cells.len()), (30, 1));
    assert_eq!(s.statistics(&req).unwrap(), before);
    s.db.with_tx(|tx| insert(tx, &f("TJK"))).unwrap();
    let after = s.statistics(&req).unwrap();
    assert_eq!((after.total_exact, after.cells.len()), (31, 2));
    assert!(after.cells.iter().all(|c| c.suppressed), "{after:?}");
}

#[test]
fn sqlite_a_new_fact_refreshes_the_answer() {
    a_new_fact_refreshes_the_answer(&testutil::sqlite().store);
}

#[test]
fn postgres_a_new_fact_refreshes_the_answer() {
    if let Some(t) = testutil::postgres() {
        a_new_fact_refreshes_the_answer(&t.store);
    }
}

/// The packed read gives the column read's rows (in the same order on SQLite, whose pattern
/// numbers values in that order); a value holding the separator makes [`unpack`] refuse, and
/// [`Store::statistics`] still counts it, column by column.
fn packed_rows_are_the_column_rows(s: &Store) {
    let f = |st: &str, nat: &str| {
        let mut a: [String; 10] = row("2026-11", st, "RU-MOW", "25-34", "issued")
            .try_into()
            .unwrap();
        a[3] = nat.into();
        Fact(a)
    };
    let mut many = vec![f("s2", "UZB"); 12];
    many.extend(vec![f("s1", "TJK"); 4]);
    many.extend(vec![f("s1", "UZB"); 15]);
    s.stats_insert_facts(&many).unwrap();
    let nov = Month::parse("2026-11").unwrap();
    let columns = s.stats_atoms(nov, nov).unwrap();
    let packed = s.stats_packed_atoms(nov, nov).unwrap();
    let mut unpacked: Vec<(Vec<String>, u64)> = unpack(&packed)
        .unwrap()
        .into_iter()
        .map(|(v, n)| (v.into_iter().map(str::to_string).collect(), n))
        .collect();
    let mut want = columns.clone();
    if s.db.with_tx(|tx| Ok(tx.is_postgres())).unwrap() {
        unpacked.sort();
        want.sort();
    }
    assert_eq!(unpacked, want);
    assert_eq!(unpacked.len(), 3);
    s.stats_insert_facts(&vec![f("s\u{1f}3", "UZB"); 10])
        .unwrap();
    assert!(unpack(&s.stats_packed_atoms(nov, nov).unwrap()).is_none());
    let req = crate::stats::Request::parse(Some("2026-11"), Some("2026-11"), Some("station"), None)
        .unwrap();
    let t = s.statistics(&req).unwrap();
    assert_eq!(t.total_exact, 41);
    let odd = t.cells.iter().find(|c| c.keys == ["s\u{1f}3"]).unwrap();
    assert_eq!(odd.exact, 10);
}

#[test]
fn sqlite_packed_rows_are_the_column_rows() {
    packed_rows_are_the_column_rows(&testutil::sqlite().store);
}

#[test]
fn postgres_packed_rows_are_the_column_rows() {
    if let Some(t) = testutil::postgres() {
        packed_rows_are_the_column_rows(&t.store);
    }
}

/// Every answer of a period from `statistics` (kept months and all) equals the answer of a
/// pattern built from one read of the whole period, as before the months were kept.
fn assert_answers_as_one_read(s: &Store, from: &str, to: &str) {
    let (f, t) = (Month::parse(from).unwrap(), Month::parse(to).unwrap());
    let packed = s.stats_packed_atoms(f, t).unwrap();
    let whole = match unpack(&packed) {
        Some(atoms) => Pattern::build(&atoms),
        None => Pattern::build(&s.stats_atoms(f, t).unwrap()),
    };
    for (by, filter) in [
        ("nationality", None),
        ("month", None),
        ("station,nationality", None),
        ("month,nationality", Some("outcome:issued")),
        ("", None),
    ] {
        let req = crate::stats::Request::parse(Some(from), Some(to), Some(by), filter).unwrap();
        assert_eq!(s.statistics(&req).unwrap(), whole.answer(&req), "by={by}");
    }
}

/// The months kept between queries: a new fact in the current month, a late one in a closed
/// month, and one whose month does not parse each give the answers of one read of the period.
fn kept_months_answer_as_one_read(s: &Store) {
    let f = |month: &str, st: &str, nat: &str| {
        let mut a: [String; 10] = row(month, st, "RU-MOW", "25-34", "issued")
            .try_into()
            .unwrap();
        a[3] = nat.into();
        Fact(a)
    };
    let mut many = Vec::new();
    for (month, k) in [("2026-09", 3), ("2026-10", 7), ("2026-11", 11)] {
        many.extend(vec![f(month, "s1", "UZB"); 12 + k]);
        many.extend(vec![f(month, "s2", "UZB"); k]);
        many.extend(vec![f(month, "s1", "TJK"); 20 - k]);
        many.extend(vec![f(month, "s2", "KGZ"); 4]);
    }
    s.stats_insert_facts(&many).unwrap();
    assert_answers_as_one_read(s, "2026-09", "2026-11");
    // Only November's generation moves: September and October are answered from kept rows.
    s.db.with_tx(|tx| insert(tx, &f("2026-11", "s2", "ARM")))
        .unwrap();
    assert_answers_as_one_read(s, "2026-09", "2026-11");
    // A late fact into a closed month.
    s.stats_insert_facts(&[f("2026-09", "s2", "KGZ"), f("2026-09", "s1", "ARM")])
        .unwrap();
    assert_answers_as_one_read(s, "2026-09", "2026-11");
    let req = crate::stats::Request::parse(Some("2026-09"), Some("2026-11"), Some("month"), None)
        .unwrap();
    assert_eq!(s.statistics(&req).unwrap().total_exact, 132);
    // Another period over some of the same months, and back.
    assert_answers_as_one_read(s, "2026-10", "2026-10");
    assert_answers_as_one_read(s, "2026-09", "2026-11");
    // A fact written as before the per-month rows (fact, cube, id 1 only), into a closed month.
    let params: Vec<Val> = f("2026-10", "s2", "ARM")
        .0
        .iter()
        .map(|v| Val::from(v.as_str()))
        .collect();
    s.db.with_tx(|tx| {
        tx.exec(
            &format!("INSERT INTO stats_facts ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            &params,
        )?;
        tx.exec(
            &format!(
                "INSERT INTO stats_cube ({COLS}, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1) \
                 ON CONFLICT ({COLS}) DO UPDATE SET n = stats_cube.n + 1"
            ),
            &params,
        )?;
        tx.exec(
            "UPDATE stats_generations SET n = n + 1 WHERE id = 1 AND station = 's1'",
            &[],
        )
    })
    .unwrap();
    assert_answers_as_one_read(s, "2026-09", "2026-11");
    assert_eq!(s.statistics(&req).unwrap().total_exact, 133);
    // A month that does not parse but sorts inside the period: read as one, and counted.
    s.db.with_tx(|tx| insert(tx, &f("2026-0x", "s1", "UZB")))
        .unwrap();
    assert_answers_as_one_read(s, "2026-01", "2026-11");
    let req = crate::stats::Request::parse(Some("2026-01"), Some("2026-11"), Some("month"), None)
        .unwrap();
    assert_eq!(s.statistics(&req).unwrap().total_exact, 134);
}

#[test]
fn sqlite_kept_months_answer_as_one_read() {
    kept_months_answer_as_one_read(&testutil::sqlite().store);
}

#[test]
fn postgres_kept_months_answer_as_one_read() {
    if let Some(t) = testutil::postgres() {
        kept_months_answer_as_one_read(&t.store);
    }
}

#[test]
fn months_of_a_period() {
    let m = |s: &str| Month::parse(s).unwrap();
    assert_eq!(
        months_of(m("2025-11"), m("2026-02")),
        vec![m("2025-11"), m("2025-12"), m("2026-01"), m("2026-02")]
    );
    assert_eq!(months_of(m("2026-03"), m("2026-03")), vec![m("2026-03")]);
    assert_eq!(month_generation_id("2026-03"), 202_603);
    assert_eq!(month_generation_id("2026-0x"), 0);
}
