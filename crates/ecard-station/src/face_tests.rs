//! The lanes with the real printer stage: the face rendered with the QR seal over the chip's DG2,
//! printed to a spool folder, and printer faults spoiling the card. Needs the face fonts; skips
//! without them unless `ECARD_FACE_TESTS=1`.

use std::sync::Arc;
use std::time::Duration;

use ecard_chip::lds::EfId;
use ecard_chip::profile::Profile;
use ecard_sim::{CardImage, SimTransport};
use sha2::{Digest, Sha256};

use crate::chip::{CardSource, ChipEncoder, Pki};
use crate::job::JobState;
use crate::lane::{FacePrinter, Lane};
use crate::server::{LaneSet, Station};
use crate::testutil;

fn fonts_or_skip() -> Option<Arc<ecard_face::Fonts>> {
    match ecard_face::Fonts::load(&ecard_face::FontPaths::default()) {
        Ok(f) => Some(Arc::new(f)),
        Err(e) => {
            if std::env::var("ECARD_FACE_TESTS").as_deref() == Ok("1") {
                panic!("fonts required (ECARD_FACE_TESTS=1): {e}");
            }
            eprintln!("skipped: {e} (install fonts-ocr-b fonts-dejavu-core)");
            None
        }
    }
}

fn lane(
    dir: &std::path::Path,
    pki: &Arc<Pki>,
    fonts: Arc<ecard_face::Fonts>,
    driver: Box<dyn ecard_print::Printer>,
) -> Lane {
    Lane {
        name: "lane-1".into(),
        encoder: Box::new(ChipEncoder::new(
            "lane-1",
            CardSource::Sim {
                blanks: dir.join("blanks"),
                make_blanks: true,
            },
            Profile::builtin("ecard-sim").unwrap(),
            pki.clone(),
            dir,
        )),
        printer: Box::new(FacePrinter::new(
            driver,
            fonts,
            pki.clone(),
            dir.join("cards"),
        )),
    }
}

/// The lane statuses once the printer stage has finished its card (it records the spoil or the
/// issue before it shows its own stage).
async fn printer_done(station: &Station) -> Vec<crate::lane::LaneStatus> {
    for _ in 0..500 {
        let status = station.lane_statuses();
        if status.iter().all(|s| s.printing_job.is_none()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the printer stage did not finish: {:?}",
        station.lane_statuses()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_lane_prints_the_face_with_a_seal_over_the_chips_dg2() {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let spool = dir.path().join("print-spool");
    let driver = ecard_print::PrinterSpec::Spool { dir: spool.clone() }
        .open()
        .unwrap();
    let (station, id) = testutil::station_with_one_job(t.store.clone(), 3, "MMC-FACE-1").await;
    let lanes = LaneSet::start(&station, vec![lane(dir.path(), &pki, fonts, driver)]).await;
    testutil::settle(&station).await;
    lanes.stop().await;

    let job = t.store.get(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Issued, "{:?}", job.last_error);
    assert_eq!(job.document_number.as_deref(), Some("770000001"));
    let mut names: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "job-1_770000001-back.png",
            "job-1_770000001-front.png",
            "job-1_770000001.json",
            "job-1_770000001.pdf",
        ]
    );
    let ticket: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spool.join("job-1_770000001.json")).unwrap())
            .unwrap();
    assert_eq!(ticket["front_png"], "job-1_770000001-front.png");
    assert!(
        std::fs::read(spool.join("job-1_770000001.pdf"))
            .unwrap()
            .starts_with(b"%PDF-")
    );

    // The seal on the front decodes, verifies with the station's DS and binds the chip's DG2.
    let front = std::fs::read(spool.join("job-1_770000001-front.png")).unwrap();
    let texts = ecard_seal::decode_qr_image(&front).unwrap();
    assert_eq!(texts.len(), 1);
    let seal = ecard_seal::Seal::decode(&texts[0]).unwrap();
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    let signing = pki.signing();
    let signer = seal
        .verify(std::slice::from_ref(&signing.ds), &pki.trust, today)
        .unwrap();
    assert_eq!(signer, &signing.ds);
    assert_eq!(seal.payload.dn, "770000001");
    let card = dir.path().join("cards/770000001.img");
    let mut t2 = SimTransport::new(CardImage::load(&card).unwrap().into_card());
    let mut chip = crate::testutil::open_issued(&t.store, "770000001", &mut t2);
    let (files, _) = ecard_chip::read::read_card(chip.transport()).unwrap();
    let dg2: [u8; 32] = Sha256::digest(&files[&EfId::Dg2]).into();
    assert_eq!(seal.payload.dg2, dg2);
}

/// A printer that is always out of cards.
struct NoCards;

impl ecard_print::Printer for NoCards {
    fn name(&self) -> String {
        "test-no-cards".into()
    }
    fn ready(&mut self) -> Result<(), ecard_print::PrintError> {
        Ok(())
    }
    fn print(
        &mut self,
        _job: &ecard_print::PrintJob<'_>,
    ) -> Result<ecard_print::PrintReceipt, ecard_print::PrintError> {
        Err(ecard_print::PrintError::NoCards {
            printer: self.name(),
            reason: "hopper empty".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_fault_spoils_the_card_voids_its_number_and_requeues_the_job() {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let (station, id) = testutil::station_with_one_job(t.store.clone(), 2, "MMC-FACE-1").await;
    let lanes = LaneSet::start(
        &station,
        vec![lane(dir.path(), &pki, fonts, Box::new(NoCards))],
    )
    .await;
    testutil::settle(&station).await;
    let status = printer_done(&station).await;
    lanes.stop().await;
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].printer_stage, "fault: no cards");
    assert_eq!(status[0].spoiled, 2);
    assert_eq!(status[0].issued, 0);

    // Spoiled, re-queued, spoiled again: two numbers voided, then the job waits for an operator.
    let job = t.store.get(id).unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 2));
    let numbers = testutil::number_statuses(&t.store);
    assert_eq!(
        numbers,
        vec![
            ("770000001".to_string(), "voided".to_string()),
            ("770000002".into(), "voided".into()),
        ]
    );
    let (entries, _, _) = t.store.audit_snapshot().unwrap();
    let spoils: Vec<String> = entries
        .iter()
        .filter(|e| e.to_state == "spoiled")
        .map(|e| e.detail.clone().unwrap())
        .collect();
    assert_eq!(
        spoils[0],
        "printer test-no-cards fault on job 1: no cards: printer test-no-cards has no blank cards (hopper empty)"
    );
    assert_eq!(spoils.len(), 2);
    assert!(!dir.path().join("cards/770000001.img").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_folder_that_is_a_file_spoils_the_card() {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = testutil::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::demo(&dir.path().join("pki")).unwrap());
    let spool = dir.path().join("not-a-folder");
    std::fs::write(&spool, b"file").unwrap();
    let driver = ecard_print::PrinterSpec::Spool { dir: spool.clone() }
        .open()
        .unwrap();
    let (station, id) = testutil::station_with_one_job(t.store.clone(), 1, "MMC-FACE-1").await;
    let lanes = LaneSet::start(&station, vec![lane(dir.path(), &pki, fonts, driver)]).await;
    testutil::settle(&station).await;
    let status = printer_done(&station).await;
    lanes.stop().await;
    // Not a printer fault: the lane is idle again, the job failed after its one attempt.
    assert_eq!(status[0].printer_stage, "idle");
    let job = t.store.get(id).unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 1));
    let (entries, _, _) = t.store.audit_snapshot().unwrap();
    let spoil = entries
        .iter()
        .find(|e| e.to_state == "spoiled")
        .and_then(|e| e.detail.clone())
        .unwrap();
    let s = spool.display();
    assert_eq!(
        spoil,
        format!(
            "printer spool:{s} failed on job 1: printer spool:{s}: cannot write {s}: File exists (os error 17)"
        )
    );
}

#[test]
fn the_embedded_defaults_spool_faces_when_the_fonts_load() {
    let fonts = fonts_or_skip().is_some();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::StationConfig::defaults(dir.path());
    let assembled = crate::cli::assemble(&config).unwrap();
    let spool = dir.path().join("print-spool");
    let printers: Vec<String> = assembled
        .lanes
        .iter()
        .map(|l| l.printer.describe())
        .collect();
    if fonts {
        let want = format!("spool:{}", spool.display());
        assert_eq!(printers, vec![want.clone(), want.clone()]);
        // The data key's line (a key file here, as the test has no SoftHSM2 token) comes first.
        assert!(
            assembled.notes[0].contains("personal data at rest"),
            "{:?}",
            assembled.notes
        );
        assert_eq!(
            assembled.notes[1..],
            vec![
                // The embedded defaults' simulated lanes make their blanks with the test key.
                "warning: blanks' transport keys are the GlobalPlatform test key (test_transport_key = true): demos and tests only".to_string(),
                format!("lane lane-1: printing card faces to {want}"),
                format!("lane lane-2: printing card faces to {want}"),
            ]
        );
    } else {
        assert_eq!(printers, vec!["sim (0 ms per card)"; 2]);
        assert!(assembled.notes[2].contains(crate::cli::FONT_PACKAGES));
    }
}
