//! Printing through a real CUPS with the cups-pdf queue that `tools/cups-pdf.sh start` creates.
//!
//! Required when `ECARD_CUPS_TESTS=1` (then an unreachable CUPS fails the test); otherwise each
//! test prints "skipped: ..." and returns. `ECARD_CUPS_URI` (default
//! `ipp://localhost:631/printers/ecard-pdf`) and `ECARD_CUPS_OUT` (default
//! `/var/spool/cups-pdf/ANONYMOUS`, and `$HOME/PDF` is searched too) come from the script's output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ecard_face::{FaceData, FontPaths, Fonts, Template, render};
use ecard_model::holder::HolderFields;
use ecard_model::mrz::Td1;
use ecard_model::time::{Date, Month};
use ecard_model::{DocumentNumber, Holder, Sex};
use ecard_print::{PrintError, PrintJob, PrinterSpec};

/// The tests share one queue and one of them disables it for a moment: they take turns.
static QUEUE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cups_or_skip() -> Option<String> {
    if std::env::var("ECARD_CUPS_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set ECARD_CUPS_TESTS=1 after `eval \"$(tools/cups-pdf.sh start)\"`");
        return None;
    }
    Some(
        std::env::var("ECARD_CUPS_URI")
            .unwrap_or_else(|_| "ipp://localhost:631/printers/ecard-pdf".into()),
    )
}

fn out_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(
        std::env::var("ECARD_CUPS_OUT").unwrap_or_else(|_| "/var/spool/cups-pdf/ANONYMOUS".into()),
    )];
    if let Ok(home) = std::env::var("HOME") {
        dirs.push(Path::new(&home).join("PDF"));
    }
    dirs
}

/// The PDF cups-pdf wrote for IPP job `id` (its names end in `job_<id>.pdf`).
fn wait_for_output(id: &str) -> PathBuf {
    let suffix = format!("job_{id}.pdf");
    let start = Instant::now();
    loop {
        for d in out_dirs() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.ends_with(&suffix) {
                        return e.path();
                    }
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no cups-pdf output ending in {suffix} in {:?}",
            out_dirs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn media_boxes(pdf: &[u8]) -> Vec<Vec<f32>> {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/MediaBox")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let open = rest.find('[').unwrap();
            let close = rest.find(']').unwrap();
            rest[open + 1..close]
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect()
}

fn card() -> (Vec<u8>, Vec<u8>, Vec<u8>, DocumentNumber) {
    let fonts = Fonts::load(&FontPaths::default()).expect("fonts for the CUPS test");
    let holder = Holder::new(HolderFields {
        surname: "KARIMOV".into(),
        given_names: "ALISHER".into(),
        patronymic: None,
        name_cyrillic: None,
        date_of_birth: Date::from_calendar_date(1990, Month::May, 17).unwrap(),
        sex: Sex::M,
        nationality: "UZB".into(),
    })
    .unwrap();
    let number = DocumentNumber::new(77, 1234567).unwrap();
    let issue = Date::from_calendar_date(2026, Month::November, 25).unwrap();
    let expiry = ecard_model::dates::expiry_for(issue);
    let mrz = Td1::for_card(&holder, &number, expiry).lines;
    let photo = {
        let img = image::RgbImage::from_pixel(240, 320, image::Rgb([200, 180, 160]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let data = FaceData {
        holder: &holder,
        document_number: &number,
        date_of_issue: issue,
        date_of_expiry: expiry,
        issuing_authority: "ММЦ г. Москвы / MMC Moscow",
        mrz: &mrz,
        photo: &photo,
        signature: &photo,
        qr: None,
        can: Some("123456"),
    };
    let f = render(&data, &Template::builtin(), &fonts).unwrap();
    (f.front_png, f.back_png, f.pdf, number)
}

#[test]
fn prints_a_card_sized_two_page_pdf_through_cups() {
    let Some(uri) = cups_or_skip() else { return };
    let _turn = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    let (front, back, pdf, number) = card();
    let mut printer = PrinterSpec::parse(&uri).unwrap().open().unwrap();
    printer
        .ready()
        .unwrap_or_else(|e| panic!("CUPS not ready (run tools/cups-pdf.sh start): {e}"));
    let receipt = printer
        .print(&PrintJob {
            job_id: "cups-test",
            document_number: &number,
            front_png: &front,
            back_png: &back,
            pdf: &pdf,
        })
        .unwrap();
    let id = receipt.reference.rsplit('/').next().unwrap();
    let out = wait_for_output(id);
    let bytes = std::fs::read(&out).unwrap();
    let boxes = media_boxes(&bytes);
    assert_eq!(boxes.len(), 2, "two pages expected in {}", out.display());
    for b in boxes {
        // 85.60 x 53.98 mm = 242.65 x 153.01 pt; cups-pdf writes whole points.
        assert!(
            (b[2] - b[0] - 242.65).abs() < 1.0 && (b[3] - b[1] - 153.01).abs() < 1.0,
            "page {b:?} is not card size in {}",
            out.display()
        );
    }
}

#[test]
fn missing_queue_is_offline() {
    let Some(uri) = cups_or_skip() else { return };
    let _turn = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    let base = uri.rsplit_once('/').unwrap().0;
    let mut printer = PrinterSpec::parse(&format!("{base}/no-such-queue"))
        .unwrap()
        .open()
        .unwrap();
    let err = printer.ready().unwrap_err();
    assert!(
        matches!(&err, PrintError::Offline { detail, .. } if detail.contains("no such printer queue")),
        "{err}"
    );
}

#[test]
fn a_disabled_queue_is_offline() {
    let Some(uri) = cups_or_skip() else { return };
    let _turn = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    let queue = uri.rsplit('/').next().unwrap().to_string();
    let run = |cmd: &str| {
        let ok = std::process::Command::new(cmd)
            .arg(&queue)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{cmd} {queue} failed");
    };
    run("cupsdisable");
    let err = PrinterSpec::parse(&uri).unwrap().open().unwrap().ready();
    run("cupsenable");
    let err = err.unwrap_err();
    assert!(
        matches!(&err, PrintError::Offline { detail, .. } if detail.contains("stopped") || detail.contains("paused")),
        "{err}"
    );
}
