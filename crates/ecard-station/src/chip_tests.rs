//! The lanes on the real chip path: simulated card images personalized by `ecard_chip::perso`,
//! read back and verified with the checkpoint's checks.

use std::sync::Arc;
use std::time::Duration;

use ecard_chip::profile::Profile;
use ecard_chip::verify::{AaEvidence, VerifyOptions};
use ecard_sim::{CardImage, SimTransport};

use crate::auth::Auth;
use crate::chip::{CardSource, ChipEncoder, Pki, make_blanks};
use crate::job::JobState;
use crate::lane::{Lane, SimPrinter};
use crate::server::{LaneSet, Settings, Station};
use crate::store::Actor;
use crate::testutil;

fn lane(name: &str, dir: &std::path::Path, pki: &Arc<Pki>, source: CardSource) -> Lane {
    Lane {
        name: name.into(),
        encoder: Box::new(ChipEncoder::new(
            name,
            source,
            Profile::builtin("ecard-sim").unwrap(),
            pki.clone(),
            dir,
        )),
        printer: Box::new(SimPrinter {
            per_card: Duration::ZERO,
            output_dir: dir.join("cards"),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_lanes_issue_cards_a_checkpoint_accepts() {
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    // The demo PKI is kept: a second start loads the same DS.
    assert_eq!(
        Pki::demo(&dir.path().join("pki"))
            .unwrap()
            .signing()
            .ds_sha256,
        pki.signing().ds_sha256
    );
    let blanks = dir.path().join("blanks");
    make_blanks(&blanks, 3, &Profile::builtin("ecard-sim").unwrap()).unwrap();
    // One blank is broken: its card cannot be loaded, so it is spoiled and the job takes another.
    std::fs::write(blanks.join("a-broken.img"), b"not a card").unwrap();
    let station = Station::new(
        t.store.clone(),
        Settings {
            poll: Duration::from_millis(20),
            ..Settings::default()
        },
        Auth::default(),
    );
    let mut ids = Vec::new();
    for i in 0..2 {
        let body = testutil::record_json(&format!("MMC-CHIP-{i}"));
        let s = station
            .submit(body.as_bytes(), &Actor::named("intake-1"))
            .await
            .unwrap();
        ids.push(s.job.id);
    }
    let source = CardSource::Sim {
        blanks: blanks.clone(),
        make_blanks: false,
    };
    let lanes = LaneSet::start(&station, vec![lane("lane-1", dir.path(), &pki, source)]).await;
    let settled = tokio::time::timeout(
        Duration::from_secs(60),
        station.wait_until_settled(Duration::from_millis(10)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(settled.len(), 2);
    lanes.stop().await;

    let store = station.store();
    let numbers = testutil::number_statuses(store);
    assert_eq!(
        numbers,
        vec![
            ("770000001".to_string(), "voided".to_string()),
            ("770000002".into(), "issued".into()),
            ("770000003".into(), "issued".into()),
        ]
    );
    assert_eq!(
        std::fs::read_dir(&blanks).unwrap().count(),
        1,
        "one good blank left"
    );
    assert!(dir.path().join("rejects/770000001-job-1.img").is_file());
    for (id, number) in ids.iter().zip(["770000002", "770000003"]) {
        let job = store.get(*id).unwrap().unwrap();
        assert_eq!(job.state, JobState::Issued);
        assert_eq!(
            job.ds_certificate.as_deref(),
            Some(pki.signing().ds_sha256.as_str())
        );
        // Read the issued card independently and verify it.
        let path = dir.path().join("cards").join(format!("{number}.img"));
        let mut t = SimTransport::new(CardImage::load(&path).unwrap().into_card());
        let mut chip = crate::testutil::open_issued(store, number, &mut t);
        let (files, _) = ecard_chip::read::read_card(chip.transport()).unwrap();
        let revoked = Default::default();
        let report = ecard_chip::verify::verify(
            &files,
            &VerifyOptions {
                trust: &pki.trust,
                // The demo PKI was made now: its certificates start today.
                at: ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc()),
                strict: true,
                revoked: &revoked,
                active_auth: AaEvidence::NotPerformed,
            },
        );
        assert!(report.is_valid(), "{:?}", report.first_failure());
        assert_eq!(report.holder.unwrap().document_number, number);
    }
    let (entries, _, _) = store.audit_snapshot().unwrap();
    let issued: Vec<_> = entries.iter().filter(|e| e.to_state == "issued").collect();
    assert_eq!(issued.len(), 2);
    let printing: Vec<_> = entries
        .iter()
        .filter(|e| e.to_state == "printing")
        .collect();
    assert!(
        printing
            .iter()
            .all(|e| e.ds_certificate.as_deref() == Some(pki.signing().ds_sha256.as_str()))
    );
    // Each job's history (the per-job query) says what writing its card took.
    for job in store.list(None, 10).unwrap() {
        // A note for the log, not an error: it never becomes the job's last error (job 1's is
        // the broken blank's).
        assert!(
            !job.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("personalized")),
            "job {}: {:?}",
            job.id,
            job.last_error
        );
        let history = store.history(job.id).unwrap();
        assert!(history.iter().all(|e| e.job_id == job.id));
        assert_eq!(
            history.iter().map(|e| e.seq).collect::<Vec<_>>(),
            entries
                .iter()
                .filter(|e| e.job_id == job.id)
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        );
        let verifying = history.iter().find(|e| e.to_state == "verifying").unwrap();
        let perso = verifying.detail.as_deref().unwrap();
        assert!(
            perso.starts_with("personalized with profile ecard-sim: ")
                && perso.contains(" APDUs, ")
                && perso.ends_with("; locked"),
            "{perso}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_fails_verification_is_never_issued() {
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    // The lane signs with one PKI but trusts another: every card fails the chain check.
    let signing = Pki::demo(&dir.path().join("pki-a")).unwrap();
    let other = Pki::demo(&dir.path().join("pki-b")).unwrap();
    let pki = Arc::new(Pki {
        trust: other.trust,
        ..signing
    });
    let (station, id) = testutil::station_with_one_job(t.store.clone(), 2, "MMC-UNTRUSTED").await;
    let source = CardSource::Sim {
        blanks: dir.path().join("blanks"),
        make_blanks: true,
    };
    let lanes = LaneSet::start(&station, vec![lane("lane-1", dir.path(), &pki, source)]).await;
    testutil::settle(&station).await;
    lanes.stop().await;
    let job = t.store.get(id).unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 2));
    let err = job.last_error.unwrap();
    assert!(err.contains("2 spoiled cards"), "{err}");
    let (entries, _, _) = t.store.audit_snapshot().unwrap();
    let spoils: Vec<_> = entries
        .iter()
        .filter(|e| e.to_state == "spoiled")
        .map(|e| e.detail.clone().unwrap())
        .collect();
    assert_eq!(spoils.len(), 2);
    assert!(spoils[0].contains("failed verification"), "{}", spoils[0]);
    assert!(!entries.iter().any(|e| e.to_state == "printing"));
    assert_eq!(
        std::fs::read_dir(dir.path().join("rejects"))
            .unwrap()
            .count(),
        2
    );
}

/// Issue 15: with a stock ledger kept, a lane takes only blanks whose serial is in stock; a blank
/// that was never received is put aside to be destroyed and the job goes to the next blank; the
/// ledger then reconciles, the stranger listed as seen but never received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_refuses_a_blank_that_is_not_in_stock() {
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let blanks = dir.path().join("blanks");
    let profile = Profile::builtin("ecard-sim").unwrap();
    let manifest = make_blanks(&blanks, 2, &profile).unwrap();
    assert_eq!(manifest.len(), 2);
    t.store
        .stock_import(&manifest, "manifest.csv", &"ab".repeat(32), "test", 1_000)
        .unwrap();
    // A stranger that sorts first: made like the others, but not on the manifest.
    let stranger = ecard_sim::Card::new_blank(&ecard_sim::SimSpec::from_profile(&profile));
    let stranger_serial = stranger.serial().unwrap();
    stranger
        .image()
        .save(blanks.join("a-stranger.img"))
        .unwrap();
    let station = Station::new(
        t.store.clone(),
        Settings {
            poll: Duration::from_millis(20),
            ..Settings::default()
        },
        Auth::default(),
    );
    let body = testutil::record_json("MMC-STOCK-1");
    let id = station
        .submit(body.as_bytes(), &Actor::named("intake-1"))
        .await
        .unwrap()
        .job
        .id;
    let mut l = lane(
        "lane-1",
        dir.path(),
        &pki,
        CardSource::Sim {
            blanks: blanks.clone(),
            make_blanks: false,
        },
    );
    l.encoder = Box::new(
        ChipEncoder::new(
            "lane-1",
            CardSource::Sim {
                blanks: blanks.clone(),
                make_blanks: false,
            },
            profile.clone(),
            pki.clone(),
            dir.path(),
        )
        .with_stock(t.store.clone(), "st-1"),
    );
    let lanes = LaneSet::start(&station, vec![l]).await;
    tokio::time::timeout(
        Duration::from_secs(60),
        station.wait_until_settled(Duration::from_millis(10)),
    )
    .await
    .unwrap()
    .unwrap();
    lanes.stop().await;
    assert_eq!(t.store.get(id).unwrap().unwrap().state, JobState::Issued);
    assert!(
        dir.path()
            .join(format!("to-destroy/unknown-blank-{stranger_serial}.img"))
            .is_file()
    );
    let report = t.store.stock_report().unwrap();
    let text = serde_json::to_string(&report).unwrap();
    assert!(text.contains(&stranger_serial), "{text}");
    assert!(text.contains("\"issued\":1"), "{text}");
}
