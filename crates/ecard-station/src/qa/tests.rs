//! QA against cards issued by real sim lanes: a genuine card passes; each kind of bad card fails
//! for its own reason; the report counts what was recorded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ecard_chip::profile::Profile;
use ecard_chip::verify::{AaEvidence, AaOutcome};
use ecard_sim::{CardImage, SimTransport};

use super::{CardEvidence, Failure, LOCK_PROBE_EF, QaVerdict, inspect, record, report};
use crate::auth::Auth;
use crate::chip::{CardSource, ChipEncoder, Pki};
use crate::lane::{Lane, SimPrinter};
use crate::server::{LaneSet, Settings, Station};
use crate::store::{Actor, Store};
use crate::testutil;

const DG11: &str = "DG11";
/// Today in Moscow: the demo PKI is made at test time, so its certificates start today.
fn at() -> time::Date {
    ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc())
}

fn lane(name: &str, dir: &Path, pki: &Arc<Pki>, profile: &str, store: &Arc<Store>) -> Lane {
    Lane {
        name: name.into(),
        encoder: Box::new(
            ChipEncoder::new(
                name,
                CardSource::Sim {
                    blanks: dir.join("blanks").join(name),
                    make_blanks: true,
                },
                Profile::builtin(profile).unwrap(),
                pki.clone(),
                dir,
            )
            .with_qa(store.clone(), super::sampling::SamplingPlan::default()),
        ),
        printer: Box::new(SimPrinter {
            per_card: Duration::ZERO,
            output_dir: dir.join("cards"),
        }),
    }
}

/// Issues `n` cards on one lane of a station over `store`, numbered from `first_app`.
async fn issue(
    store: &Arc<Store>,
    dir: &Path,
    pki: &Arc<Pki>,
    lane_name: &str,
    profile: &str,
    apps: &[&str],
) {
    let station = Station::new(
        store.clone(),
        Settings {
            poll: Duration::from_millis(10),
            ..Settings::default()
        },
        Auth::default(),
    );
    for app in apps {
        station
            .submit(
                testutil::record_json(app).as_bytes(),
                &Actor::named("intake-1"),
            )
            .await
            .unwrap();
    }
    let lanes = LaneSet::start(&station, vec![lane(lane_name, dir, pki, profile, store)]).await;
    tokio::time::timeout(
        Duration::from_secs(120),
        station.wait_until_settled(Duration::from_millis(10)),
    )
    .await
    .unwrap()
    .unwrap();
    lanes.stop().await;
}

/// Reads a card image as the inspector does: files, AA on a fixed challenge, lock probe.
/// `opener` holds the CAN of the card's job (the station that issued it).
fn inspect_card(
    store: &Store,
    opener: &Store,
    card: &Path,
    trust: &[x509_cert::Certificate],
) -> QaVerdict {
    let mut t = SimTransport::new(CardImage::load(card).unwrap().into_card());
    let number = card
        .file_stem()
        .and_then(|s| s.to_str())
        .map(|s| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut chip = crate::testutil::open_issued(opener, &number, &mut t);
    let t = chip.transport();
    let (files, _) = ecard_chip::read::read_card(t).unwrap();
    let challenge = [1, 2, 3, 4, 5, 6, 7, 8];
    let active_auth = match ecard_chip::read::active_authentication(t, challenge) {
        Ok(sig) => AaEvidence::Performed(AaOutcome {
            challenge,
            response: sig.to_bytes().to_vec(),
        }),
        Err(_) => AaEvidence::NoAnswer,
    };
    let lock = ecard_chip::read::try_write_same_byte(t, LOCK_PROBE_EF);
    inspect(
        store,
        CardEvidence {
            files: &files,
            active_auth,
            lock,
        },
        trust,
        at(),
    )
    .unwrap()
}

fn checks(v: &QaVerdict) -> Vec<&str> {
    v.failures.iter().map(|f| f.check.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_passes_and_each_bad_card_fails_for_its_reason() {
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    issue(
        &t.store,
        dir.path(),
        &pki,
        "lane-1",
        "ecard-sim",
        &["QA-1", "QA-2", "QA-3"],
    )
    .await;
    issue(
        &t.store,
        dir.path(),
        &pki,
        "lane-2",
        "generic-iso7816",
        &["QA-4"],
    )
    .await;
    let card = |n: &str| dir.path().join("cards").join(format!("{n}.img"));
    let store = &t.store;
    let numbers = testutil::number_statuses(store);
    assert_eq!(
        numbers,
        ["770000001", "770000002", "770000003", "770000004"]
            .map(|n| (n.to_string(), "issued".to_string()))
            .to_vec()
    );
    let rec = store.issued_card("770000001").unwrap().unwrap();
    assert_eq!(rec.lane.as_deref(), Some("lane-1"));
    assert!(
        rec.lock_result.starts_with("refused:"),
        "{}",
        rec.lock_result
    );
    assert_eq!(
        store.issued_card("770000004").unwrap().unwrap().lock_result,
        "accepted"
    );

    // Genuine.
    let v = inspect_card(store, store, &card("770000001"), &pki.trust);
    assert_eq!(
        v,
        QaVerdict {
            document_number: Some("770000001".into()),
            job_id: Some(1),
            lane: Some("lane-1".into()),
            failures: vec![],
        }
    );
    record(store, &v, "inspector-1", 1_795_600_800_000).unwrap();

    // One EF differs from the record.
    let mut rec2 = store.issued_card("770000002").unwrap().unwrap();
    let mut hashes: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&rec2.ef_sha256_json).unwrap();
    hashes.insert(DG11.into(), "00".repeat(32));
    rec2.ef_sha256_json = serde_json::to_string(&hashes).unwrap();
    store.record_issued_card(&rec2, None).unwrap();
    let v = inspect_card(store, store, &card("770000002"), &pki.trust);
    assert_eq!(
        v.failures,
        vec![Failure {
            check: "ef_hashes".into(),
            reason: format!(
                "card does not hold what the station wrote under number 770000002: {DG11} differs"
            ),
        }]
    );
    record(store, &v, "inspector-1", 1_795_600_800_000).unwrap();

    // Revoked (an operator voided the issued job).
    store
        .void(3, &Actor::named("operator-1"), 1_795_600_800_000)
        .unwrap();
    let v = inspect_card(store, store, &card("770000003"), &pki.trust);
    assert_eq!(checks(&v), vec!["issued", "revoked"]);
    assert_eq!(v.failures[1].reason, "number 770000003 is revoked");
    record(store, &v, "inspector-2", 1_795_687_200_000).unwrap();

    // Unlocked (generic profile: no lock).
    let v = inspect_card(store, store, &card("770000004"), &pki.trust);
    assert_eq!(checks(&v), vec!["locked"]);
    assert_eq!(
        v.failures[0].reason,
        "card accepted a write of the same byte to DG1: it is not locked"
    );
    assert_eq!(v.lane.as_deref(), Some("lane-2"));
    record(store, &v, "inspector-2", 1_795_687_200_000).unwrap();

    // Another PKI under a number this station issued: a second station with its own PKI.
    let other = testutil::sqlite();
    let other_dir = tempfile::tempdir().unwrap();
    let other_pki = Arc::new(Pki::demo(&other_dir.path().join("pki")).unwrap());
    issue(
        &other.store,
        other_dir.path(),
        &other_pki,
        "lane-x",
        "ecard-sim",
        &["X-1"],
    )
    .await;
    let forged = other_dir.path().join("cards/770000001.img");
    let v = inspect_card(store, &other.store, &forged, &pki.trust);
    assert_eq!(checks(&v), vec!["ef_hashes", "checkpoint"]);
    assert!(
        v.failures[1]
            .reason
            .starts_with("checkpoint verdict invalid: "),
        "{}",
        v.failures[1].reason
    );
    record(store, &v, "inspector-2", 1_795_687_200_000).unwrap();

    // A number this station never issued: our genuine card shown to the other station.
    let empty = testutil::sqlite();
    let v = inspect_card(&empty.store, store, &card("770000002"), &pki.trust);
    assert_eq!(
        v.failures,
        vec![Failure {
            check: "issued".into(),
            reason: "number 770000002 was never issued by this station".into(),
        }]
    );
    record(store, &v, "inspector-2", 1_795_687_200_000).unwrap();

    // The report counts what was recorded.
    let rows = store.qa_results(0, i64::MAX).unwrap();
    assert_eq!(rows.len(), 6);
    let r = report::build(&rows, &store.voided_numbers(0, i64::MAX).unwrap());
    assert_eq!(r.spoiled_numbers, Vec::<String>::new());
    assert_eq!((r.inspected, r.passed, r.failed), (6, 1, 5));
    assert_eq!(r.by_lane.get("lane-1"), Some(&(4, 3)));
    assert_eq!(r.by_lane.get("lane-2"), Some(&(1, 1)));
    assert_eq!(r.by_lane.get("-"), Some(&(1, 1)));
    assert_eq!(r.by_day.get("2026-11-25"), Some(&(2, 1)));
    assert_eq!(r.by_day.get("2026-11-26"), Some(&(4, 4)));
    assert_eq!(
        r.by_reason
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![
            ("checkpoint", 1),
            ("ef_hashes", 2),
            ("issued", 2),
            ("locked", 1),
            ("revoked", 1)
        ]
    );
    assert_eq!(r.voided_numbers, vec!["770000003".to_string()]);
    let csv = report::csv(&r);
    assert!(csv.contains("\nlane,lane-1,4,3\n"), "{csv}");
    let html = report::html(&r, "2026-11-25", "2026-11-26");
    assert_eq!(html.matches("<rect ").count(), r.defects.len());
}

mod props {
    use ecard_chip::lds::{EfId, LdsFiles};
    use ecard_chip::read::WriteProbe;
    use proptest::prelude::*;

    use super::super::{CardEvidence, StationFacts, inspect_with};
    use super::at;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Arbitrary card files never panic the inspection, and never pass it.
        #[test]
        fn arbitrary_files_never_pass(
            files in proptest::collection::btree_map(
                proptest::sample::select(EfId::ALL.to_vec()),
                proptest::collection::vec(any::<u8>(), 0..64),
                0..9,
            ),
            issued in any::<bool>(),
        ) {
            let files: LdsFiles = files;
            let facts = StationFacts {
                document_number: "770000001".into(),
                owner: issued.then(|| (1, "issued".to_string())),
                revoked: false,
                record: None,
                can: None,
            };
            let card = CardEvidence {
                files: &files,
                active_auth: ecard_chip::verify::AaEvidence::NotPerformed,
                lock: Ok(WriteProbe::Refused(ecard_chip::apdu::StatusWord::from_u16(0x6982))),
            };
            let v = inspect_with(Some(&facts), card, &[], at()).unwrap();
            prop_assert!(!v.passed());
            prop_assert!(v.failures.iter().any(|f| f.check == "checkpoint"));
        }
    }
}
