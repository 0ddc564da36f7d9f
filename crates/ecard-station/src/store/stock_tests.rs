//! The blank-stock ledger on SQLite and PostgreSQL: a round trip that reconciles to zero, and
//! every way a blank can fail to add up.

use super::stock::{BlankEnd, BlankUse};
use super::*;
use crate::stock::{ManifestLine, parse_manifest};
use crate::testutil;

fn manifest(serials: &[&str], batch: &str) -> Vec<ManifestLine> {
    serials
        .iter()
        .map(|s| ManifestLine {
            serial: s.to_string(),
            batch: batch.into(),
            key_version: 1,
        })
        .collect()
}

fn lane(job: i64) -> BlankUse<'static> {
    BlankUse {
        station: "s-1",
        lane: "lane-1",
        job_id: job,
    }
}

fn round_trip(s: &Store) {
    let m = manifest(&["A1", "A2", "A3", "A4", "A5"], "B-1");
    assert_eq!(s.stock_import(&m, "m1.csv", "sha-1", "ops", 1).unwrap(), 5);
    // Issue one, spoil one, destroy one, leave one on a lane, one in stock.
    s.stock_take("A1", &lane(1), 10).unwrap();
    s.stock_end(
        "A1",
        &BlankEnd::Issued {
            number: "770000001".into(),
        },
        "lane",
        11,
    )
    .unwrap();
    s.stock_take("A2", &lane(2), 12).unwrap();
    s.stock_end(
        "A2",
        &BlankEnd::Spoiled {
            reason: "write failed".into(),
        },
        "lane",
        13,
    )
    .unwrap();
    s.stock_end(
        "A3",
        &BlankEnd::Destroyed {
            reason: "damaged in the vault".into(),
        },
        "ops",
        14,
    )
    .unwrap();
    s.stock_take("A4", &lane(3), 15).unwrap();
    let r = s.stock_report().unwrap();
    assert_eq!(r.total.received, 5);
    assert_eq!(r.total.issued, 1);
    assert_eq!(r.total.spoiled.get("write failed"), Some(&1));
    assert_eq!(r.total.destroyed, 1);
    assert_eq!(r.total.in_use, 1);
    assert_eq!(r.total.in_stock, 1);
    assert_eq!(r.by_batch["B-1"], r.total);
    assert!(r.reconciles(), "{r:?}");
    // A blank's life ends once.
    assert!(matches!(
        s.stock_end("A1", &BlankEnd::Spoiled { reason: "x".into() }, "lane", 16),
        Err(StoreError::StockRefused { .. })
    ));
}

fn discrepancies(s: &Store) {
    s.stock_import(
        &manifest(&["C1", "C2", "C3"], "B-2"),
        "m2.csv",
        "sha-2",
        "ops",
        1,
    )
    .unwrap();
    // Never received: refused and listed.
    let e = s.stock_take("FF00", &lane(7), 5).unwrap_err();
    assert!(
        matches!(&e, StoreError::StockRefused { serial, reason } if serial == "FF00" && reason.contains("never received")),
        "{e}"
    );
    // Used twice: refused and listed.
    s.stock_take("C1", &lane(8), 6).unwrap();
    let e = s.stock_take("C1", &lane(9), 7).unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    // A count that does not find C3.
    s.stock_count(&["C2".to_string()], "ops", 8).unwrap();
    let r = s.stock_report().unwrap();
    let kinds: Vec<(&str, &str)> = r
        .discrepancies
        .iter()
        .map(|d| (d.serial.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("FF00", "seen_never_received"),
            ("C1", "used_twice"),
            ("C3", "missing_at_count")
        ]
    );
    assert!(!r.reconciles());
    // Importing a serial already in stock, or the same file again: nothing imported.
    let e = s
        .stock_import(&manifest(&["C9", "C2"], "B-3"), "m3.csv", "sha-3", "ops", 9)
        .unwrap_err();
    assert!(e.to_string().contains("already in stock (C2)"), "{e}");
    let e = s
        .stock_import(&manifest(&["D1"], "B-3"), "m2-again.csv", "sha-2", "ops", 9)
        .unwrap_err();
    assert!(e.to_string().contains("imported before"), "{e}");
    let r = s.stock_report().unwrap();
    assert_eq!(r.total.received, 3, "a refused import changed the ledger");
}

fn concurrent_takes(s: &Store, peer: &Store) {
    s.stock_import(&manifest(&["E1"], "B-4"), "m4.csv", "sha-4", "ops", 1)
        .unwrap();
    let a = s.stock_take("E1", &lane(1), 2);
    let b = peer.stock_take("E1", &lane(2), 2);
    assert!(a.is_ok() ^ b.is_ok(), "{a:?} {b:?}");
}

#[test]
fn stock_round_trip_reconciles_sqlite() {
    round_trip(&testutil::sqlite().store);
}

#[test]
fn stock_round_trip_reconciles_postgres() {
    if let Some(t) = testutil::postgres() {
        round_trip(&t.store);
    }
}

#[test]
fn stock_discrepancies_sqlite() {
    discrepancies(&testutil::sqlite().store);
}

#[test]
fn stock_discrepancies_postgres() {
    if let Some(t) = testutil::postgres() {
        discrepancies(&t.store);
    }
}

#[test]
fn one_blank_goes_to_one_lane_postgres() {
    if let Some(t) = testutil::postgres() {
        let peer = testutil::postgres_peer(&t);
        concurrent_takes(&t.store, &peer);
    }
}

#[test]
fn a_parsed_manifest_imports() {
    let t = testutil::sqlite();
    let m = parse_manifest("serial,batch,key_version\n0A0B,B-9,2\n0A0C,B-9,2\n").unwrap();
    assert_eq!(t.store.stock_import(&m, "f", "h", "ops", 1).unwrap(), 2);
    assert_eq!(t.store.stock_report().unwrap().by_batch["B-9"].in_stock, 2);
}
