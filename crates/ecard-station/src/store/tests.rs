//! The store conformance suite: every case runs against SQLite and PostgreSQL.

use super::*;
use crate::audit::{verify_chain, verify_jobs};
use crate::testutil;

const MAX: i64 = 3;

fn new_job(app: &str) -> NewJob {
    NewJob {
        application_id: app.into(),
        record_json: testutil::record_json(app),
        chip_images_json: testutil::chip_images_json(),
        late_notification: false,
        replaces: None,
    }
}

fn new_job_holder(app: &str, holder_of: &str) -> NewJob {
    NewJob {
        record_json: testutil::record_json_holder(app, holder_of),
        ..new_job(app)
    }
}

fn intake() -> Actor {
    Actor::named("intake-1")
}

/// Submits `app` at `at` and validates it a millisecond later.
fn validated(s: &Store, app: &str, at: i64) -> Job {
    let (job, _) = s.submit(&new_job(app), &intake(), at).unwrap();
    s.step(
        job.id,
        JobState::Validated,
        &intake(),
        &StepInfo::default(),
        at + 1,
    )
    .unwrap()
}

fn verified_log(s: &Store) -> i64 {
    let (entries, head, jobs) = s.audit_snapshot().unwrap();
    verify_jobs(&entries, &jobs).unwrap();
    verify_chain(&entries, &head).unwrap()
}

/// received → validated → numbered → encoding → verifying → printing → issued.
fn happy_path(s: &Store) {
    let (job, created) = s.submit(&new_job("MMC-1"), &intake(), 1_000).unwrap();
    assert!(created);
    assert_eq!(job.state, JobState::Received);
    assert_eq!(job.document_number, None);
    let (again, created) = s.submit(&new_job("MMC-1"), &intake(), 1_001).unwrap();
    assert!(!created);
    assert_eq!(again.id, job.id);

    let j = s
        .step(
            job.id,
            JobState::Validated,
            &Actor::named("station:s1"),
            &StepInfo::default(),
            1_002,
        )
        .unwrap();
    assert_eq!(j.state, JobState::Validated);
    let lane = Actor::lane("s1", "lane-1");
    let j = s.claim("s1", "lane-1", 77, 1_003, 60_000).unwrap().unwrap();
    assert_eq!(j.state, JobState::Numbered);
    assert_eq!(j.document_number.as_deref(), Some("770000001"));
    assert_eq!(
        (j.station.as_deref(), j.lane.as_deref()),
        (Some("s1"), Some("lane-1"))
    );
    assert_eq!(s.claim("s1", "lane-2", 77, 1_003, 60_000).unwrap(), None);

    // Skipping verification is refused.
    assert_eq!(
        s.step(j.id, JobState::Printing, &lane, &StepInfo::default(), 1_004),
        Err(StoreError::WrongState {
            id: j.id,
            got: JobState::Numbered,
            action: "moving to printing".into(),
            expected: "verifying".into(),
        })
    );
    // Another lane may not move it.
    assert!(matches!(
        s.step(
            j.id,
            JobState::Encoding,
            &Actor::lane("s1", "lane-2"),
            &StepInfo::default(),
            1_004
        ),
        Err(StoreError::NotYourJob { .. })
    ));
    for to in [JobState::Encoding, JobState::Verifying, JobState::Printing] {
        assert_eq!(
            s.step(j.id, to, &lane, &StepInfo::default(), 1_005)
                .unwrap()
                .state,
            to
        );
    }
    let info = StepInfo {
        ds_certificate: Some("ab".repeat(32)),
        ..StepInfo::default()
    };
    let j = s.step(j.id, JobState::Issued, &lane, &info, 1_006).unwrap();
    assert_eq!(j.state, JobState::Issued);
    assert_eq!(j.station, None);
    assert_eq!(j.ds_certificate, Some("ab".repeat(32)));
    assert_eq!(s.get(j.id).unwrap(), Some(j.clone()));
    assert_eq!(
        s.numbers().unwrap(),
        vec![NumberRow {
            document_number: "770000001".into(),
            job_id: j.id,
            status: "issued".into()
        }]
    );
    assert_eq!(verified_log(s), 7);
    let (entries, _, _) = s.audit_snapshot().unwrap();
    let states: Vec<_> = entries.iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(
        states,
        [
            "received",
            "validated",
            "numbered",
            "encoding",
            "verifying",
            "printing",
            "issued"
        ]
    );
    assert_eq!(entries[6].ds_certificate, Some("ab".repeat(32)));
    assert_eq!(entries[6].lane.as_deref(), Some("s1/lane-1"));
    assert_eq!(entries[0].actor, "intake-1");
}

/// Spoiled cards void their numbers; the job gets a new number; attempts run out into failed;
/// an operator retries or voids.
fn spoil_retry_void(s: &Store) {
    let job = validated(s, "MMC-2", 1);
    let lane = Actor::lane("s1", "l1");
    let mut numbers = Vec::new();
    for attempt in 1..=MAX {
        let j = s.claim("s1", "l1", 77, 3, 60_000).unwrap().unwrap();
        numbers.push(j.document_number.clone().unwrap());
        s.step(j.id, JobState::Encoding, &lane, &StepInfo::default(), 4)
            .unwrap();
        let j = s.spoil(j.id, &lane, "card removed", true, MAX, 5).unwrap();
        assert_eq!(j.attempts, attempt);
        let expected = if attempt < MAX {
            JobState::Spoiled
        } else {
            JobState::Failed
        };
        assert_eq!(j.state, expected);
        assert_eq!(j.station, None);
    }
    assert_eq!(numbers, ["770000001", "770000002", "770000003"]);
    assert_eq!(s.claim("s1", "l1", 77, 6, 60_000).unwrap(), None);
    let revoked = s.revocations().unwrap();
    assert_eq!(revoked.len(), 3);
    assert!(revoked.iter().all(|(_, reason, _)| reason == "voided"));
    assert!(s.numbers().unwrap().iter().all(|n| n.status == "voided"));

    let op = Actor::named("operator-1");
    let j = s.retry(job.id, &op, 7).unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Validated, 0));
    assert!(matches!(
        s.retry(job.id, &op, 8),
        Err(StoreError::WrongState {
            got: JobState::Validated,
            ..
        })
    ));
    let j = s.claim("s1", "l1", 77, 9, 60_000).unwrap().unwrap();
    assert_eq!(j.document_number.as_deref(), Some("770000004"));
    // Void is refused on a lane, allowed once back in the queue.
    assert!(matches!(
        s.void(j.id, &op, 10),
        Err(StoreError::WrongState {
            got: JobState::Numbered,
            ..
        })
    ));
    let j = s.spoil(j.id, &lane, "printer jam", true, MAX, 11).unwrap();
    assert_eq!(j.state, JobState::Spoiled);
    let j = s.void(j.id, &op, 12).unwrap();
    assert_eq!(j.state, JobState::Voided);
    assert!(s.void(j.id, &op, 13).is_err());
    assert_eq!(verified_log(s), 16);
}

/// Submits `app` for the holder of `holder_of`, validates it, and runs it to issued on lane
/// s1/l1; returns its number.
fn issue_for(s: &Store, app: &str, holder_of: &str, replaces: Option<&str>, at: i64) -> String {
    let mut new = new_job(app);
    new.record_json = testutil::record_json_holder(app, holder_of);
    new.replaces = replaces.map(|n| (n.to_string(), "lost".to_string()));
    new.late_notification = replaces.is_some();
    let (j, _) = s.submit(&new, &intake(), at).unwrap();
    s.step(
        j.id,
        JobState::Validated,
        &intake(),
        &StepInfo::default(),
        at + 1,
    )
    .unwrap();
    let lane = Actor::lane("s1", "l1");
    let j = s
        .claim("s1", "l1", 77, at + 2, at + 60_000)
        .unwrap()
        .unwrap();
    for to in [
        JobState::Encoding,
        JobState::Verifying,
        JobState::Printing,
        JobState::Issued,
    ] {
        s.step(j.id, to, &lane, &StepInfo::default(), at + 3)
            .unwrap();
    }
    j.document_number.unwrap()
}

/// A rejected job never gets a number; a replacement revokes the previous number when issued,
/// and only a card this system issued to the same holder, once (issue 13 item 4).
fn reject_and_replacement(s: &Store) {
    let (bad, _) = s.submit(&new_job("MMC-BAD"), &intake(), 1).unwrap();
    let info = StepInfo {
        detail: Some("application.previous_document_number: already revoked".into()),
        ..StepInfo::default()
    };
    let j = s
        .step(bad.id, JobState::Rejected, &intake(), &info, 2)
        .unwrap();
    assert_eq!(j.state, JobState::Rejected);
    assert_eq!(s.claim("s1", "l1", 77, 3, 60_000).unwrap(), None);

    // A number this system never issued: refused, nothing stored.
    let mut stray = new_job("MMC-STRAY");
    stray.replaces = Some(("770000042".into(), "lost".into()));
    let e = s.submit(&stray, &intake(), 4).unwrap_err();
    assert!(
        matches!(&e, StoreError::ApplicationRefused { field: "application.previous_document_number", reason } if reason.contains("not issued by this system")),
        "{e}"
    );
    assert!(s.search(None, "MMC-STRAY", 10).unwrap().is_empty());

    let old = issue_for(s, "MMC-ORIG", "MMC-ORIG", None, 10);
    // The same holder again as a first issue: a conflict naming the card.
    let e = s
        .submit(&new_job_holder("MMC-AGAIN", "MMC-ORIG"), &intake(), 20)
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::ApplicationConflict { number: Some(n), .. } if *n == old),
        "{e}"
    );
    // Another person may not replace it.
    let mut other = new_job("MMC-OTHER");
    other.replaces = Some((old.clone(), "lost".into()));
    let e = s.submit(&other, &intake(), 21).unwrap_err();
    assert!(
        e.to_string().contains("another date of birth or sex"),
        "{e}"
    );

    assert!(!s.is_revoked(&old).unwrap());
    let new = issue_for(s, "MMC-REPL", "MMC-ORIG", Some(&old), 30);
    assert_ne!(new, old);
    assert!(s.is_revoked(&old).unwrap());
    assert_eq!(
        s.revocations().unwrap(),
        vec![(old.clone(), "lost".into(), "1970-01-01".into())]
    );
    // A second replacement of the same number: a conflict.
    let mut twice = new_job_holder("MMC-REPL-2", "MMC-ORIG");
    twice.replaces = Some((old.clone(), "lost".into()));
    let e = s.submit(&twice, &intake(), 40).unwrap_err();
    assert!(matches!(e, StoreError::ApplicationConflict { .. }), "{e}");
    let (entries, _, _) = s.audit_snapshot().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.detail.as_deref() == Some("late_notification"))
    );
    verified_log(s);
}

/// Two replacements of one number submitted at once from two handles: exactly one is stored.
fn concurrent_replacements(s: &Store, peer: &Store) {
    let old = issue_for(s, "MMC-C-ORIG", "MMC-C-ORIG", None, 1);
    let submit = |store: &Store, app: &str| {
        let mut n = new_job_holder(app, "MMC-C-ORIG");
        n.replaces = Some((old.clone(), "damaged".into()));
        store.submit(&n, &intake(), 50)
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| submit(s, "MMC-C-1"));
        let b = sc.spawn(|| submit(peer, "MMC-C-2"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.is_ok() ^ b.is_ok(), "{a:?} / {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(StoreError::ApplicationConflict { .. })));
}

#[test]
fn concurrent_replacements_one_wins_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    let s = Store::open_sqlite(&path).unwrap();
    s.ensure_series(77).unwrap();
    let peer = Store::open_sqlite(&path).unwrap();
    concurrent_replacements(&s, &peer);
}

#[test]
fn concurrent_replacements_one_wins_postgres() {
    if let Some(t) = testutil::postgres() {
        let peer = testutil::postgres_peer(&t);
        concurrent_replacements(&t.store, &peer);
    }
}

/// A dead station's lease runs out; another station takes its job over and spoils the card.
fn lease_takeover(s: &Store, peer: &Store) {
    validated(s, "MMC-3", 1);
    // On PostgreSQL leases run on the database's clock: the 300 ms lease below really runs out
    // (the test sleeps past it); SQLite takes the station's `now_ms` as given.
    let j = s.claim("dead", "l1", 77, 1_000, 1_300).unwrap().unwrap();
    s.step(
        j.id,
        JobState::Encoding,
        &Actor::lane("dead", "l1"),
        &StepInfo::default(),
        1_001,
    )
    .unwrap();
    // Lease still running: nothing is orphaned for the other station.
    assert_eq!(peer.orphaned("alive", 1_200).unwrap(), vec![]);
    assert!(matches!(
        peer.take_over(j.id, "alive", "l9", 1_200),
        Err(StoreError::NotYourJob { .. })
    ));
    if s.kind() == "postgresql" {
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    // After it: the job is the other station's to spoil.
    let orphans = peer.orphaned("alive", 31_001).unwrap();
    assert_eq!(orphans.iter().map(|j| j.id).collect::<Vec<_>>(), vec![j.id]);
    let taken = peer.take_over(j.id, "alive", "l9", 31_001).unwrap();
    assert_eq!(taken.lane.as_deref(), Some("l9"));
    let j = peer
        .spoil(
            j.id,
            &Actor::lane("alive", "l9"),
            "lane lease expired",
            false,
            MAX,
            31_002,
        )
        .unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Spoiled, 0));
    // The dead station comes back and tries to continue: refused.
    assert!(matches!(
        s.step(
            j.id,
            JobState::Verifying,
            &Actor::lane("dead", "l1"),
            &StepInfo::default(),
            31_003
        ),
        Err(StoreError::WrongState { .. })
    ));
    let j = peer
        .claim("alive", "l9", 77, 31_004, 61_000)
        .unwrap()
        .unwrap();
    if s.kind() == "postgresql" {
        // The dead station's block (770000001 to 770000010): the spoiled card's number voided
        // by the spoil, the rest at the takeover, with an audit entry; the live station's own
        // block starts after it.
        assert_eq!(j.document_number.as_deref(), Some("770000011"));
        let statuses = testutil::number_statuses(s);
        let voided: Vec<_> = statuses
            .iter()
            .filter(|(_, st)| st == "voided")
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(voided.len(), 10, "{statuses:?}");
        assert_eq!((voided[0], voided[9]), ("770000001", "770000010"));
        let (entries, _, _) = s.audit_snapshot().unwrap();
        assert!(entries.iter().any(|e| {
            e.to_state == blocks::NUMBERS_VOIDED
                && e.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("770000002 to 770000010 reserved for dead"))
        }));
    } else {
        assert_eq!(j.document_number.as_deref(), Some("770000002"));
    }
    assert_eq!(s.orphaned("alive", 31_005).unwrap().len(), 1);
    verified_log(s);
}

/// Several lanes (threads) claiming at once never share a number or a job.
fn concurrent_claims(s: &Arc<Store>, peer: &Arc<Store>) {
    let n = 40;
    for i in 0..n {
        validated(s, &format!("MMC-C{i}"), 1);
    }
    let mut handles = Vec::new();
    for (k, store) in [s.clone(), peer.clone(), s.clone(), peer.clone()]
        .into_iter()
        .enumerate()
    {
        handles.push(std::thread::spawn(move || {
            let lane = format!("l{k}");
            let mut got = Vec::new();
            while let Some(j) = store.claim("s", &lane, 77, 3, 60_000).unwrap() {
                got.push((j.id, j.document_number.unwrap()));
            }
            got
        }));
    }
    let mut all: Vec<(i64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(all.len(), n);
    all.sort();
    let mut ids: Vec<_> = all.iter().map(|a| a.0).collect();
    ids.dedup();
    let mut nums: Vec<_> = all.iter().map(|a| a.1.clone()).collect();
    nums.sort();
    nums.dedup();
    assert_eq!((ids.len(), nums.len()), (n, n));
    assert_eq!(nums.first().map(String::as_str), Some("770000001"));
    assert_eq!(nums.last().map(String::as_str), Some("770000040"));
    verified_log(s);
}

/// Editing, deleting or cutting off audit rows is detected.
fn audit_tamper(s: &Store) {
    for i in 0..3 {
        validated(s, &format!("MMC-A{i}"), 1);
    }
    assert_eq!(verified_log(s), 6);
    let check = |s: &Store| {
        let (entries, head, jobs) = s.audit_snapshot().unwrap();
        verify_chain(&entries, &head).and_then(|_| verify_jobs(&entries, &jobs))
    };
    s.exec_raw("UPDATE audit SET actor = 'someone-else' WHERE seq = 3")
        .unwrap();
    assert!(matches!(
        check(s),
        Err(crate::audit::AuditError::Edited { seq: 3, .. })
    ));
    s.exec_raw("UPDATE audit SET actor = 'intake-1' WHERE seq = 3")
        .unwrap();
    assert_eq!(check(s), Ok(()));
    s.exec_raw("DELETE FROM audit WHERE seq = 6").unwrap();
    assert!(matches!(
        check(s),
        Err(crate::audit::AuditError::Head {
            head_seq: 6,
            last_seq: 5,
            ..
        })
    ));
    s.exec_raw("UPDATE audit_chains SET seq = 5, hash = (SELECT hash FROM audit WHERE seq = 5)")
        .unwrap();
    assert!(
        matches!(check(s), Err(crate::audit::AuditError::JobMismatch { state, .. }) if state == "validated")
    );
    s.exec_raw("INSERT INTO audit (seq, chain, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash) SELECT 7, chain, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash FROM audit WHERE seq = 5").unwrap();
    assert!(matches!(
        check(s),
        Err(crate::audit::AuditError::BrokenLink {
            seq: 7,
            previous: 5,
            ..
        })
    ));
}

/// A lane's claim and its step to encoding in one commit, with the job's inputs.
fn claim_to_encode(s: &Store) {
    assert_eq!(
        s.claim_to_encode("s1", "l1", 77, 1, 60_000)
            .unwrap()
            .map(|c| c.job),
        None
    );
    let job = validated(s, "MMC-CTE", 1);
    let c = s
        .claim_to_encode("s1", "l1", 77, 3, 60_000)
        .unwrap()
        .unwrap();
    assert_eq!(c.job.state, JobState::Encoding);
    assert_eq!(c.job.document_number.as_deref(), Some("770000001"));
    assert_eq!(c.record_json, testutil::record_json("MMC-CTE"));
    assert_eq!(c.chip_images_json, testutil::chip_images_json());
    assert_eq!(s.get(job.id).unwrap(), Some(c.job.clone()));
    let (entries, _, _) = s.audit_snapshot().unwrap();
    let tail: Vec<_> = entries[2..]
        .iter()
        .map(|e| {
            (
                e.from_state.as_deref(),
                e.to_state.as_str(),
                e.lane.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            (Some("validated"), "numbered", Some("s1/l1")),
            (Some("numbered"), "encoding", Some("s1/l1"))
        ]
    );
    assert!(!format!("{c:?}").contains("KARIMOV"));
    verified_log(s);
}

/// Search by application id (any case, `%` and `_` literal) or by the digits of a number.
fn search(s: &Store) {
    // A series of its own: 77 exists already and keeps its next number.
    s.ensure_series_from(78, 1_000_120).unwrap();
    s.ensure_series_from(78, 5).unwrap();
    for app in ["MMC-2026-0000001", "mmc-2026-0000002", "X_%-1", "XA%-2"] {
        validated(s, app, 1);
    }
    // The first job is numbered from the series' first number.
    let c = s.claim("s1", "l1", 78, 3, 60_000).unwrap().unwrap();
    assert_eq!(c.document_number.as_deref(), Some("781000120"));
    let ids = |state: Option<JobState>, text: &str| -> Vec<String> {
        s.search(state, text, 10)
            .unwrap()
            .into_iter()
            .map(|j| j.application_id)
            .collect()
    };
    assert_eq!(
        ids(None, "MMC-2026"),
        ["mmc-2026-0000002", "MMC-2026-0000001"]
    );
    assert_eq!(ids(None, "78 1000120"), ["MMC-2026-0000001"]);
    assert_eq!(ids(None, "0001"), ["MMC-2026-0000001"]);
    assert_eq!(ids(None, "x_%"), ["X_%-1"]);
    assert_eq!(ids(None, "%"), ["XA%-2", "X_%-1"]);
    assert_eq!(ids(Some(JobState::Validated), "mmc"), ["mmc-2026-0000002"]);
    assert!(ids(None, "nobody").is_empty());
    assert_eq!(s.search(None, "MMC", 1).unwrap().len(), 1);
}

macro_rules! both_stores {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(#[test] fn $name() { let t = testutil::sqlite(); let peer = t.store.clone(); let f: &dyn Fn(&Arc<Store>, &Arc<Store>) = &$body; f(&t.store, &peer); })*
        }
        mod postgres {
            use super::*;
            $(#[test] fn $name() {
                let Some(t) = testutil::postgres() else { return };
                let peer = Arc::new(testutil::postgres_peer(&t));
                let f: &dyn Fn(&Arc<Store>, &Arc<Store>) = &$body;
                f(&t.store, &peer);
            })*
        }
    };
}

use std::sync::Arc;

both_stores! {
    every_happy_transition => |s, _| happy_path(s);
    spoil_void_retry_fail => |s, _| spoil_retry_void(s);
    reject_and_replacement_revokes => |s, _| reject_and_replacement(s);
    dead_station_lease_is_taken_over => |s, p| lease_takeover(s, p);
    concurrent_claims_never_share_a_number => |s, p| concurrent_claims(s, p);
    audit_tampering_is_detected => |s, _| audit_tamper(s);
    claim_to_encode_is_one_commit => |s, _| claim_to_encode(s);
    search_by_application_id_and_number => |s, _| search(s);
}

/// A SQLite store made before job inputs had their own table opens with its records intact.
#[test]
fn an_older_sqlite_store_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, application_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL, record TEXT NOT NULL, chip_images TEXT NOT NULL, document_number TEXT, attempts BIGINT NOT NULL, station TEXT, lane TEXT, late_notification BIGINT NOT NULL, previous_number TEXT, replacement_cause TEXT, last_error TEXT, ds_cert TEXT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
             INSERT INTO jobs (application_id, state, record, chip_images, attempts, late_notification, created_ms, updated_ms) VALUES ('MMC-OLD', 'validated', '{\"r\":1}', '{\"c\":2}', 0, 0, 1, 1);",
        )
        .unwrap();
    }
    let s = Store::open_sqlite(&path).unwrap();
    assert_eq!(
        s.inputs(1).unwrap(),
        ("{\"r\":1}".to_string(), "{\"c\":2}".to_string())
    );
    // Opening again finds nothing left to move; new jobs go in as usual.
    drop(s);
    let s = Store::open_sqlite(&path).unwrap();
    let (job, created) = s.submit(&new_job("MMC-NEW"), &intake(), 2).unwrap();
    assert!(created);
    assert_eq!(
        s.inputs(job.id).unwrap().0,
        testutil::record_json("MMC-NEW")
    );
    assert_eq!(s.get(1).unwrap().unwrap().application_id, "MMC-OLD");
}

/// The same for a PostgreSQL schema made before job inputs had their own table.
#[test]
fn an_older_postgres_store_keeps_its_records() {
    // A fresh schema through the usual helper proves PostgreSQL is there (or skips).
    let Some(t) = testutil::postgres() else {
        return;
    };
    drop(t);
    let url = testutil::pg_url();
    let schema = format!("ecard_test_{:016x}", rand::random::<u64>());
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema};
             CREATE TABLE jobs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, application_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL, record TEXT NOT NULL, chip_images TEXT NOT NULL, document_number TEXT, attempts BIGINT NOT NULL, station TEXT, lane TEXT, late_notification BIGINT NOT NULL, previous_number TEXT, replacement_cause TEXT, last_error TEXT, ds_cert TEXT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
             INSERT INTO jobs (application_id, state, record, chip_images, attempts, late_notification, created_ms, updated_ms) VALUES ('MMC-OLD', 'validated', 'r1', 'c2', 0, 0, 1, 1);"
        ))
        .unwrap();
    let opened = Store::open_postgres(&url, &schema);
    let inputs = opened.as_ref().map(|s| s.inputs(1));
    let _ = Store::drop_pg_schema(&url, &schema);
    assert_eq!(
        inputs.unwrap().unwrap(),
        ("r1".to_string(), "c2".to_string())
    );
}

/// Issue 13 item 6: on PostgreSQL a lease runs on the database's clock. A station whose clock is
/// ten minutes fast cannot hold a lane past its lease length: another station sees the lease run
/// out after the lease's real length, whatever clock either station has.
#[test]
fn a_station_with_a_clock_ten_minutes_fast_holds_no_lease_longer_postgres() {
    let Some(t) = testutil::postgres() else {
        return;
    };
    let peer = testutil::postgres_peer(&t);
    let s = &t.store;
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let skewed = real_now + 600_000;
    validated(s, "MMC-SKEW", 1);
    let j = s
        .claim("fast-clock", "l1", 77, skewed, skewed + 500)
        .unwrap()
        .unwrap();
    // Within the lease: held, whatever the other station's clock says.
    assert_eq!(peer.orphaned("alive", real_now).unwrap(), vec![]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    // Past its real length: taken over, although the fast clock's lease "runs" ten more minutes.
    let orphans = peer.orphaned("alive", real_now).unwrap();
    assert_eq!(orphans.iter().map(|j| j.id).collect::<Vec<_>>(), vec![j.id]);
    peer.take_over(j.id, "alive", "l9", real_now).unwrap();
    // And the fast station can no longer commit on it.
    assert!(matches!(
        s.step(
            j.id,
            JobState::Encoding,
            &Actor::lane("fast-clock", "l1"),
            &StepInfo::default(),
            skewed + 1
        ),
        Err(StoreError::NotYourJob { .. })
    ));
}

/// Two stations on one database append to chains of their own; a job's history reads in order
/// across them, the whole log verifies, and a cut in one chain is found in that chain.
fn stations_chain_apart(a: &Store, b: &Store) {
    let (one, _) = a.submit(&new_job("MMC-CHAIN-1"), &intake(), 1).unwrap();
    let two = validated(b, "MMC-CHAIN-2", 3);
    // Job one moves on at station b: its history spans both chains.
    b.step(
        one.id,
        JobState::Validated,
        &intake(),
        &StepInfo::default(),
        5,
    )
    .unwrap();
    let (entries, heads, jobs) = a.audit_snapshot().unwrap();
    assert_eq!(
        heads.iter().map(|h| h.chain.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(verify_chain(&entries, &heads), Ok(4));
    verify_jobs(&entries, &jobs).unwrap();
    let history: Vec<_> = a
        .history(one.id)
        .unwrap()
        .into_iter()
        .map(|e| (e.chain, e.to_state))
        .collect();
    assert_eq!(
        history,
        [
            ("a".to_string(), "received".to_string()),
            ("b".into(), "validated".into())
        ]
    );
    assert_eq!(b.history(two.id).unwrap().len(), 2);
    // Station b's last entry cut off (and its job's state with it): b's head says so.
    let last_b = heads.iter().find(|h| h.chain == "b").unwrap().seq;
    a.exec_raw(&format!("DELETE FROM audit WHERE seq = {last_b}"))
        .unwrap();
    a.exec_raw(&format!(
        "UPDATE jobs SET state = 'received' WHERE id = {}",
        one.id
    ))
    .unwrap();
    let (entries, heads, _) = b.audit_snapshot().unwrap();
    assert!(matches!(
        verify_chain(&entries, &heads),
        Err(crate::audit::AuditError::Head { chain, head_seq, .. }) if chain == "b" && head_seq == last_b
    ));
}

#[test]
fn stations_chain_apart_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    let a = Store::open_sqlite(&path).unwrap().for_station("a");
    let b = Store::open_sqlite(&path).unwrap().for_station("b");
    stations_chain_apart(&a, &b);
}

#[test]
fn stations_chain_apart_postgres() {
    let Some(t) = testutil::postgres() else {
        return;
    };
    let a = testutil::postgres_peer(&t).for_station("a");
    let b = testutil::postgres_peer(&t).for_station("b");
    stations_chain_apart(&a, &b);
}

/// Issue 19: a station's audit append does not wait for another station's open transaction.
/// Station a holds its chain's head (as a transaction between its append and its commit does)
/// while station b submits and validates a job; b finishes before a lets go, and both commit.
/// With one head row for the whole log, b would wait for a, and the wait below would run out.
#[test]
fn a_station_appends_while_another_holds_its_chain_postgres() {
    let Some(t) = testutil::postgres() else {
        return;
    };
    let a = testutil::postgres_peer(&t).for_station("a");
    let b = Arc::new(testutil::postgres_peer(&t).for_station("b"));
    validated(&a, "MMC-HOLD-0", 1);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waited = a.db.with_tx(|tx| {
        let head = super::rows::lock_head(tx, "a")?;
        let b = b.clone();
        let worker = std::thread::spawn(move || {
            let _ = done_tx.send(
                b.submit(&new_job("MMC-HOLD-1"), &intake(), 2)
                    .map(|(j, _)| j.id),
            );
        });
        let got = done_rx.recv_timeout(std::time::Duration::from_secs(30));
        Ok((head, got, worker))
    });
    let (head, got, worker) = waited.unwrap();
    worker.join().unwrap();
    let id = got
        .expect("station b waited for station a's open transaction")
        .unwrap();
    assert_eq!(head.chain, "a");
    assert_eq!(b.get(id).unwrap().unwrap().state, JobState::Received);
    assert_eq!(verified_log(&a), 3);
}

/// Issue 19: on PostgreSQL a station takes its numbers from a block of its own; a clean stop
/// records what is left of it as voided (with an audit entry), and the next start takes a new
/// block, so every number is given out or voided and none twice.
#[test]
fn a_clean_stop_voids_the_rest_of_the_station_block_postgres() {
    let Some(t) = testutil::postgres() else {
        return;
    };
    let a = testutil::postgres_peer(&t).for_station("a");
    let b = testutil::postgres_peer(&t).for_station("b");
    for i in 0..3 {
        validated(&a, &format!("MMC-BLOCK-{i}"), 1);
    }
    let claim = stations::StationClaim {
        instance: "run-1".into(),
        host: "h".into(),
        pid: 1,
        heartbeat_ms: 1,
    };
    assert!(a.claim_station("a", &claim, None).unwrap());
    let first = a.claim("a", "l1", 77, 2, 60_000).unwrap().unwrap();
    let other = b.claim("b", "l1", 77, 2, 60_000).unwrap().unwrap();
    assert_eq!(first.document_number.as_deref(), Some("770000001"));
    assert_eq!(other.document_number.as_deref(), Some("770000011"));
    // A release by another run of "a" is not this run's stop: nothing is voided.
    a.release_station("a", "run-0", 3).unwrap();
    assert!(
        testutil::number_statuses(&a)
            .iter()
            .all(|(_, s)| s != "voided")
    );
    a.release_station("a", "run-1", 3).unwrap();
    let voided: Vec<String> = testutil::number_statuses(&a)
        .into_iter()
        .filter(|(_, s)| s == "voided")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(voided.len(), 9);
    assert_eq!(
        (voided[0].as_str(), voided[8].as_str()),
        ("770000002", "770000010")
    );
    // Started again: a new block after b's.
    let again = a.claim("a", "l1", 77, 4, 60_000).unwrap().unwrap();
    assert_eq!(again.document_number.as_deref(), Some("770000021"));
    let (entries, heads, jobs) = a.audit_snapshot().unwrap();
    assert_eq!(verify_chain(&entries, &heads).map(|_| ()), Ok(()));
    verify_jobs(&entries, &jobs).unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.to_state == blocks::NUMBERS_VOIDED)
            .map(|e| e.chain.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
}
