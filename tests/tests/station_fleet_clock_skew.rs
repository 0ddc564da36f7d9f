//! Issue 19: three station daemons on one PostgreSQL schema, one of them with its clock ten
//! minutes fast (`ECARD_TEST_CLOCK_OFFSET_MS`, the daemon's test-only clock shift). By its own
//! clock every other station's lease ran out long ago; fencing on the database server's clock
//! keeps that harmless: it takes no job from a live station, holds no lease longer than the
//! others, every job ends issued, numbers are unique and no job is issued twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ecard_station::store::Store;

mod fleet;

use fleet::{Daemon, check_batch, jobs};

const LEASE_SECONDS: u64 = 5;
const TEN_MINUTES_MS: i64 = 10 * 60 * 1000;

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[test]
fn a_station_ten_minutes_fast_takes_nothing_from_the_others() {
    let Some(pg) = ecard_system_tests::pg_schema() else {
        return;
    };
    let (url, schema) = (pg.url.clone(), pg.schema.clone());
    let tmp = tempfile::tempdir().unwrap();
    let daemons: Vec<Daemon> =
        fleet::three_stations(tmp.path(), "skew", &url, &schema, LEASE_SECONDS, |n| {
            // skew-3 runs ten minutes fast.
            if n == 3 {
                vec![("ECARD_TEST_CLOCK_OFFSET_MS", TEN_MINUTES_MS.to_string())]
            } else {
                Vec::new()
            }
        });

    let total = 60;
    let ids = fleet::submit_batch(&daemons, "SKW", total);

    // While the batch runs, the fast station's leases are as long as anyone's on the server's
    // clock (the test's clock is the server's: same machine).
    let store = Store::open_postgres(&url, &schema).unwrap();
    let mut longest_ahead_ms = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        for lease in store.leases().unwrap() {
            longest_ahead_ms = longest_ahead_ms.max(lease.until_ms - wall_ms());
        }
        let all = jobs(&daemons[0]).unwrap_or_default();
        let issued = fleet::issued_none_in_review(&all);
        if issued == total as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {issued} of {total} issued"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "longest lease ahead of the server's clock: {longest_ahead_ms} ms (lease {LEASE_SECONDS} s)"
    );
    assert!(
        longest_ahead_ms <= i64::try_from(LEASE_SECONDS).unwrap() * 1000 + 5_000,
        "a lease runs {longest_ahead_ms} ms ahead: the fast clock extended it"
    );

    // No station died, so no job may have moved between stations: a move would be the fast
    // station taking a lease it believed expired.
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let mut stations_of: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for e in &entries {
        if let Some(lane) = &e.lane {
            let station = lane.split('/').next().unwrap_or_default().to_string();
            stations_of.entry(e.job_id).or_default().insert(station);
        }
    }
    // The shift took: the fast station's audit entries are stamped ten minutes ahead.
    let ahead_min = entries
        .iter()
        .filter(|e| e.lane.as_deref().is_some_and(|l| l.starts_with("skew-3/")))
        .map(|e| {
            let at =
                time::OffsetDateTime::parse(&e.at, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap() - wall_ms()
        })
        .min()
        .expect("the fast station wrote audit entries");
    assert!(
        ahead_min > TEN_MINUTES_MS / 2,
        "skew-3's entries are only {ahead_min} ms ahead: the clock offset did not apply"
    );
    let moved: Vec<_> = stations_of.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(moved.is_empty(), "jobs moved between stations: {moved:?}");
    let fast_jobs = stations_of
        .values()
        .filter(|s| s.contains("skew-3"))
        .count();
    println!("cards issued by the fast station skew-3: {fast_jobs} of {total}");
    assert!(fast_jobs > 0, "the fast station issued nothing");
    drop(daemons);
    check_batch(&store, &ids);
}
