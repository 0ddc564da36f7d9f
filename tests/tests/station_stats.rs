//! Statistics end to end: a card issued by `ecard station serve` (a record with
//! `residence_region`) becomes one fact; the API answers it to admin with its one cell
//! suppressed (one person), `ecard stats` offline on the data folder prints the same JSON and
//! CSV, and after `ecard station purge` removed the record the fact and the answers are unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use ecard_station::store::Store;
use ecard_system_tests::{ecard, ecard_bin};

#[path = "../support/station.rs"]
mod station;

fn this_month() -> String {
    let now =
        time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(3, 0, 0).unwrap());
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

#[test]
fn an_issued_card_is_one_suppressed_fact_before_and_after_the_purge() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("data");
    let mut cmd = Command::new(ecard_bin());
    cmd.env("ECARD_LOG", "warn");
    let (mut daemon, base) = station::serve_station(cmd, &data, None);
    let token = station::admin_token(&data);
    let mut record = station::sample_enrollment("MMC-STATS-1");
    record["residence_region"] = "RU-MOS".into();
    let mut r = ureq::post(&format!("{base}/api/v1/enrollments"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(record.to_string())
        .unwrap();
    let job: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let id = job["id"].as_i64().unwrap();
    station::wait_until_issued(&base, &token, id);
    let month = this_month();
    let want = serde_json::json!({
        "from": month, "to": month, "by": ["region"],
        "cells": [{"region": "RU-MOS", "count": null, "suppressed": true}],
        "total": null,
    });
    let mut r = ureq::get(&format!(
        "{base}/api/v1/statistics?from={month}&to={month}&by=region"
    ))
    .header("Authorization", &format!("Bearer {token}"))
    .call()
    .unwrap();
    let api: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(api, want);
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let data_s = data.to_str().unwrap();
    let stats = |format: &str| {
        let out = ecard(
            d,
            &[
                "stats",
                "--data-dir",
                data_s,
                "--from",
                &month,
                "--to",
                &month,
                "--by",
                "region",
                format,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let offline: serde_json::Value = serde_json::from_str(&stats("--json")).unwrap();
    assert_eq!(offline, want);
    assert_eq!(stats("--csv"), "region,count,suppressed\nRU-MOS,<10,true\n");
    // A bad parameter: exit 3, naming it.
    let out = ecard(
        d,
        &[
            "stats",
            "--data-dir",
            data_s,
            "--from",
            &month,
            "--to",
            &month,
            "--by",
            "eyes",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("by: unknown grouping \"eyes\""),
        "{out:?}"
    );

    // Past retention: the record goes, the fact stays.
    {
        let store = Store::open_sqlite(&data.join("station.db")).unwrap();
        store.exec_raw("UPDATE jobs SET updated_ms = 0").unwrap();
    }
    let out = ecard(d, &["station", "purge", "--data-dir", data_s]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let store = Store::open_sqlite(&data.join("station.db")).unwrap();
    assert!(store.is_purged(id).unwrap());
    let m = ecard_station::stats::Month::parse(&month).unwrap();
    assert_eq!(store.stats_fact_count(m, m).unwrap(), 1);
    drop(store);
    let after: serde_json::Value = serde_json::from_str(&stats("--json")).unwrap();
    assert_eq!(after, want);
}
