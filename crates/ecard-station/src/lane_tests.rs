//! Lane pipeline tests with the recording encoder: every lane transition, spoils, attempts,
//! recovery after a crash and takeover of a dead station's jobs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit::{verify_chain, verify_jobs};
use crate::auth::Auth;
use crate::job::JobState;
use crate::lane::Lane;
use crate::server::{LaneSet, Settings, Station};
use crate::store::{Actor, NewJob, StepInfo, Store};
use crate::testutil::{self, RecordingEncoder, RecordingPrinter, Script};

struct Rig {
    station: Station,
    script: Arc<Mutex<Script>>,
    printed: Arc<Mutex<(Vec<String>, usize)>>,
}

fn settings(station_id: &str) -> Settings {
    Settings {
        station_id: station_id.into(),
        poll: Duration::from_millis(20),
        ..Settings::default()
    }
}

fn rig(store: Arc<Store>, station_id: &str) -> Rig {
    rig_with(store, settings(station_id))
}

fn rig_with(store: Arc<Store>, settings: Settings) -> Rig {
    Rig {
        station: Station::new(store, settings, Auth::default()),
        script: Arc::new(Mutex::new(Script::default())),
        printed: Arc::new(Mutex::new((Vec::new(), 0))),
    }
}

impl Rig {
    fn lanes(&self, names: &[&str]) -> Vec<Lane> {
        names
            .iter()
            .map(|n| Lane {
                name: n.to_string(),
                encoder: Box::new(RecordingEncoder(self.script.clone())),
                printer: Box::new(RecordingPrinter(self.printed.clone())),
            })
            .collect()
    }

    async fn submit(&self, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..n {
            let body = testutil::record_json(&format!("MMC-2026-{i:07}"));
            let s = self
                .station
                .submit(body.as_bytes(), &Actor::named("intake-1"))
                .await
                .unwrap();
            assert!(s.created);
            assert_eq!(s.job.state, JobState::Validated);
            ids.push(s.job.id);
        }
        ids
    }

    async fn settle(&self) {
        testutil::settle(&self.station).await;
    }

    /// Starts lanes `names` on the station, waits until every job is done, and stops them.
    async fn run_lanes_until_settled(&self, names: &[&str]) {
        let lanes = LaneSet::start(&self.station, self.lanes(names)).await;
        self.settle().await;
        lanes.stop().await;
    }

    fn check_invariants(&self) {
        tokio::task::block_in_place(|| self.check_invariants_blocking())
    }

    fn check_invariants_blocking(&self) {
        let store = self.station.store();
        let (entries, head, jobs) = store.audit_snapshot().unwrap();
        verify_chain(&entries, &head).unwrap();
        verify_jobs(&entries, &jobs).unwrap();
        // Each issued job went through verifying just before printing, on its final number.
        // (A card an operator confirmed after review has needs_review between.)
        for job in store.list(Some(JobState::Issued), 10_000).unwrap() {
            let mine: Vec<_> = entries
                .iter()
                .filter(|e| e.job_id == job.id && e.to_state != "needs_review")
                .collect();
            let n = mine.len();
            assert_eq!(mine[n - 1].to_state, "issued");
            assert_eq!(mine[n - 2].to_state, "printing");
            assert_eq!(mine[n - 3].to_state, "verifying");
            assert_eq!(mine[n - 1].document_number, job.document_number);
        }
    }
}

fn assert_all_issued(store: &Store, ids: &[i64]) {
    for id in ids {
        let state = store.get(*id).unwrap().unwrap().state;
        assert_eq!(state, JobState::Issued, "job {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lanes_issue_every_card_once() {
    let t = testutil::sqlite();
    let r = rig(t.store.clone(), "s1");
    let ids = r.submit(6).await;
    r.run_lanes_until_settled(&["lane-1", "lane-2"]).await;
    let store = r.station.store();
    for id in &ids {
        let j = store.get(*id).unwrap().unwrap();
        assert_eq!(j.state, JobState::Issued);
        assert_eq!(j.ds_certificate, Some("d5".repeat(32)));
    }
    let expected: Vec<(String, String)> = (1..=6)
        .map(|i| (format!("77{i:07}"), "issued".to_string()))
        .collect();
    assert_eq!(testutil::number_statuses(store), expected);
    let calls = r.script.lock().unwrap().calls.clone();
    assert_eq!(calls.iter().filter(|c| c.starts_with("encode")).count(), 6);
    assert_eq!(calls.iter().filter(|c| c.starts_with("verify")).count(), 6);
    assert_eq!(r.printed.lock().unwrap().0.len(), 6);
    let lanes = r.station.lane_statuses();
    assert_eq!(lanes.iter().map(|l| l.issued).sum::<u64>(), 6);
    assert!(lanes.iter().all(|l| l.encoder_stage == "stopped"));
    r.check_invariants();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_cards_void_their_numbers() {
    let t = testutil::sqlite();
    let r = rig_with(
        t.store.clone(),
        Settings {
            max_attempts: 5,
            ..settings("s1")
        },
    );
    let ids = r.submit(2).await;
    {
        let mut s = r.script.lock().unwrap();
        s.fail_encodes = 1;
        s.fail_verifies = 1;
    }
    r.printed.lock().unwrap().1 = 1;
    r.run_lanes_until_settled(&["lane-1"]).await;
    let store = r.station.store();
    // Encode fault (1), verify fault (2), print jam (3) on the first job: three spoiled numbers,
    // then both issued.
    assert_eq!(
        testutil::number_statuses(store),
        vec![
            ("770000001".to_string(), "voided".to_string()),
            ("770000002".into(), "voided".into()),
            ("770000003".into(), "voided".into()),
            ("770000004".into(), "issued".into()),
            ("770000005".into(), "issued".into()),
        ]
    );
    let calls = r.script.lock().unwrap().calls.clone();
    assert_eq!(calls.iter().filter(|c| c.starts_with("reject")).count(), 2);
    assert_all_issued(store, &ids);
    assert_eq!(store.revocations().unwrap().len(), 3);
    r.check_invariants();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_run_out_into_failed() {
    let t = testutil::sqlite();
    let r = rig(t.store.clone(), "s1");
    let ids = r.submit(1).await;
    r.script.lock().unwrap().fail_encodes = 3;
    r.run_lanes_until_settled(&["lane-1"]).await;
    let j = r.station.store().get(ids[0]).unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Failed, 3));
    assert_eq!(r.printed.lock().unwrap().0.len(), 0);
    r.check_invariants();
}

/// Issue 13 item 7: a panic in a lane's device call fails that card (the job is spoiled with the
/// panic's message and gets a new blank), the lane goes on, and the store stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_driver_spoils_its_card_and_the_lane_goes_on() {
    let t = testutil::sqlite();
    let r = rig(t.store.clone(), "s1");
    let ids = r.submit(2).await;
    r.script.lock().unwrap().panic_encodes = 1;
    r.run_lanes_until_settled(&["lane-1"]).await;
    for id in &ids {
        let j = r.station.store().get(*id).unwrap().unwrap();
        assert_eq!(j.state, JobState::Issued, "job {id}: {:?}", j.last_error);
    }
    let history = r.station.store().history(ids[0]).unwrap();
    let spoiled = history
        .iter()
        .find(|e| e.to_state == "spoiled")
        .expect("the panicking card was spoiled");
    let detail = spoiled.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("panic: injected driver bug on job"),
        "{detail}"
    );
    assert_eq!(r.printed.lock().unwrap().0.len(), 2);
    r.check_invariants();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_blank_means_no_claim() {
    let t = testutil::sqlite();
    let r = rig(t.store.clone(), "s1");
    let ids = r.submit(1).await;
    r.script.lock().unwrap().no_blank = true;
    let lanes = LaneSet::start(&r.station, r.lanes(&["lane-1"])).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(r.station.lane_statuses()[0].encoder_stage, "no_blank");
    let j = r.station.store().get(ids[0]).unwrap().unwrap();
    assert_eq!((j.state, j.document_number), (JobState::Validated, None));
    r.script.lock().unwrap().no_blank = false;
    r.settle().await;
    lanes.stop().await;
    assert_eq!(
        r.station.store().get(ids[0]).unwrap().unwrap().state,
        JobState::Issued
    );
}

/// The sample enrollment `app` as intake stores it: the record checked (on 2026-11-25), with
/// placeholder chip images.
fn checked_job(app: &str) -> NewJob {
    NewJob {
        application_id: app.into(),
        record_json: serde_json::to_string(
            &ecard_model::check_record(
                &testutil::record_json(app),
                time::macros::date!(2026 - 11 - 25),
            )
            .unwrap(),
        )
        .unwrap(),
        chip_images_json: testutil::chip_images_json(),
        late_notification: false,
        replaces: None,
    }
}

/// Puts jobs in the states a crash leaves them in, as lane `lane-1` of station `s1`.
fn crashed_jobs(store: &Store, station: &str) -> Vec<i64> {
    let lane = Actor::lane(station, "lane-1");
    let intake = Actor::named("intake-1");
    let targets: [&[JobState]; 4] = [
        &[],
        &[JobState::Encoding],
        &[JobState::Encoding, JobState::Verifying],
        &[JobState::Encoding, JobState::Verifying, JobState::Printing],
    ];
    let mut ids = Vec::new();
    for (i, path) in targets.iter().enumerate() {
        let app = format!("MMC-CRASH-{i}");
        let (j, _) = store.submit(&checked_job(&app), &intake, 1).unwrap();
        store
            .step(j.id, JobState::Validated, &intake, &StepInfo::default(), 2)
            .unwrap();
        let j = store.claim(station, "lane-1", 77, 3, 4).unwrap().unwrap();
        for to in path.iter() {
            store
                .step(j.id, *to, &lane, &StepInfo::default(), 5)
                .unwrap();
        }
        ids.push(j.id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rechecks_written_cards_and_spoils_the_rest() {
    let t = testutil::sqlite();
    let ids = crashed_jobs(&t.store, "s1");
    let r = rig(t.store.clone(), "s1");
    r.run_lanes_until_settled(&["lane-1"]).await;
    let store = r.station.store();
    let nums: Vec<String> = ids
        .iter()
        .map(|id| store.get(*id).unwrap().unwrap())
        .inspect(|j| assert_eq!(j.state, JobState::Issued))
        .map(|j| j.document_number.unwrap())
        .collect();
    // Numbered and encoding: spoiled, new numbers 5 and 6. Verifying and printing: read back,
    // verified again, issued on their own numbers.
    assert_eq!(nums, ["770000005", "770000006", "770000003", "770000004"]);
    let calls = r.script.lock().unwrap().calls.clone();
    assert!(calls.contains(&format!("recheck {} 770000003", ids[2])));
    assert!(calls.contains(&format!("recheck {} 770000004", ids[3])));
    assert!(calls.contains(&format!("reject {}", ids[1])));
    // Crash losses do not count as attempts.
    assert_eq!(store.get(ids[1]).unwrap().unwrap().attempts, 0);
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let rechecked: Vec<i64> = entries
        .iter()
        .filter(|e| e.detail.as_deref() == Some(crate::lane::RECHECKED))
        .map(|e| e.job_id)
        .collect();
    assert_eq!(rechecked, [ids[2], ids[3]]);
    r.check_invariants();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_recheck_spoils_instead_of_issuing() {
    let t = testutil::sqlite();
    let ids = crashed_jobs(&t.store, "s1");
    let r = rig(t.store.clone(), "s1");
    r.script.lock().unwrap().fail_rechecks = true;
    r.run_lanes_until_settled(&["lane-1"]).await;
    let store = r.station.store();
    // The printing job's card passed verification and is gone from the lane: it may be in the
    // holder's hands, so it waits for an operator with its number intact (issue 13 item 5).
    let printing = store.get(ids[3]).unwrap().unwrap();
    assert_eq!(printing.state, JobState::NeedsReview);
    assert!(!store.is_revoked("770000004").unwrap());
    confirm_delivered(store, ids[3]);
    assert_all_issued(store, &ids);
    let voided: Vec<String> = testutil::number_statuses(store)
        .into_iter()
        .filter(|(_, s)| s == "voided")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(voided, ["770000001", "770000002", "770000003"]);
    r.check_invariants();
}

/// An operator confirms that a `needs_review` job's card was delivered.
fn confirm_delivered(store: &Store, id: i64) {
    let op = Actor::named("operator-1");
    let info = StepInfo::detail("operator confirmed the card was delivered".into());
    let j = store.step(id, JobState::Issued, &op, &info, 100).unwrap();
    assert_eq!(j.state, JobState::Issued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_stations_jobs_are_taken_over_after_its_lease() {
    let t = testutil::sqlite();
    // Station "dead" held a job, its lease ran out long ago (lease until ms 4).
    let ids = crashed_jobs(&t.store, "dead");
    let r = rig(t.store.clone(), "alive");
    r.run_lanes_until_settled(&["lane-a"]).await;
    let store = r.station.store();
    // All four cards were out of reach, never rechecked here. Three were unfinished: voided.
    // The printing one passed verification and may have been delivered: an operator decides.
    let calls = r.script.lock().unwrap().calls.clone();
    assert!(!calls.iter().any(|c| c.starts_with("recheck")));
    assert_eq!(store.revocations().unwrap().len(), 3);
    assert_eq!(
        store.get(ids[3]).unwrap().unwrap().state,
        JobState::NeedsReview
    );
    confirm_delivered(store, ids[3]);
    assert_all_issued(store, &ids);
    r.check_invariants();
}

/// Two stations on one PostgreSQL database share the queue: every job issued once, numbers
/// unique, both stations take part.
#[test]
fn two_stations_share_one_postgres_queue() {
    let Some(t) = testutil::postgres() else {
        return;
    };
    let peer = Arc::new(testutil::postgres_peer(&t));
    // The sync PostgreSQL client runs its own runtime: open and drop stores outside ours.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(two_stations(t.store.clone(), peer));
}

async fn two_stations(store_a: Arc<Store>, store_b: Arc<Store>) {
    let a = rig(store_a, "station-a");
    let b = rig(store_b, "station-b");
    let ids = a.submit(12).await;
    let lanes_a = LaneSet::start(&a.station, a.lanes(&["lane-1"])).await;
    let lanes_b = LaneSet::start(&b.station, b.lanes(&["lane-1"])).await;
    a.settle().await;
    lanes_a.stop().await;
    lanes_b.stop().await;
    tokio::task::block_in_place(|| check_two_stations(&a, &ids));
    a.check_invariants();
}

fn check_two_stations(a: &Rig, ids: &[i64]) {
    let store = a.station.store();
    assert_all_issued(store, ids);
    let numbers = testutil::number_statuses(store);
    assert_eq!(numbers.len(), 12);
    assert!(numbers.iter().all(|(_, s)| s == "issued"));
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let issuers: std::collections::BTreeSet<String> = entries
        .iter()
        .filter(|e| e.to_state == "issued")
        .map(|e| e.lane.clone().unwrap())
        .collect();
    assert_eq!(
        issuers.into_iter().collect::<Vec<_>>(),
        ["station-a/lane-1", "station-b/lane-1"]
    );
}

/// A station that died with a card on its lane: nothing happens while its lease runs, and once
/// it has run out another station's lane takes the job over, spoils the unreachable card and
/// issues the job on a new number. Time is tokio's, paused: 30 s pass in no time.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn lease_expiry_hands_a_dead_stations_job_over() {
    let t = testutil::sqlite();
    let r = rig(t.store.clone(), "alive");
    let store = t.store.clone();
    // "dead" claimed a job and started encoding; its lease ends 30 s from now.
    let ids = {
        let now = r.station.now_ms();
        let s = &store;
        let intake = Actor::named("intake-1");
        let (j, _) = s.submit(&checked_job("MMC-LEASE"), &intake, now).unwrap();
        s.step(
            j.id,
            JobState::Validated,
            &intake,
            &StepInfo::default(),
            now,
        )
        .unwrap();
        let j = s
            .claim("dead", "lane-1", 77, now, now + 30_000)
            .unwrap()
            .unwrap();
        s.step(
            j.id,
            JobState::Encoding,
            &Actor::lane("dead", "lane-1"),
            &StepInfo::default(),
            now,
        )
        .unwrap();
        vec![j.id]
    };
    let lanes = LaneSet::start(&r.station, r.lanes(&["lane-a"])).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    let j = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(
        (j.state, j.station.as_deref()),
        (JobState::Encoding, Some("dead"))
    );
    // The lane looks for orphans every lease/2 = 15 s: by 45 s it has taken the job over.
    tokio::time::sleep(Duration::from_secs(16)).await;
    for _ in 0..200 {
        if store.get(ids[0]).unwrap().unwrap().state == JobState::Issued {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lanes.stop().await;
    let j = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(j.state, JobState::Issued);
    assert_eq!(j.document_number.as_deref(), Some("770000002"));
    assert_eq!(
        testutil::number_statuses(&store),
        vec![
            ("770000001".to_string(), "voided".to_string()),
            ("770000002".into(), "issued".into())
        ]
    );
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let spoil = entries.iter().find(|e| e.to_state == "spoiled").unwrap();
    assert_eq!(spoil.lane.as_deref(), Some("alive/lane-a"));
    assert_eq!(
        spoil.detail.as_deref(),
        Some("lane dead/lane-1 stopped with the card on it")
    );
}
