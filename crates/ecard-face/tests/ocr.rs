//! The back face's MRZ read back by an independent OCR engine (Tesseract 5, `eng` model), compared
//! with the lines that were printed. Required when `ECARD_OCR_TESTS=1`; otherwise skipped (with a
//! "skipped:" line) when `tesseract` is not installed.
//!
//! What is asserted, and why not plain equality: Tesseract's general `eng` model reads every letter
//! and digit of our OCR-B MRZ correctly, but long runs of the filler `<` defeat it (it merges them,
//! drops some, or reads a few as `K`, `S`, `C`, `E`, `X` or a space; Debian ships no MRZ-trained
//! model). So the test asserts that each printed line is read as three lines whose *data tokens*
//! (the maximal runs of non-filler characters: document code, number and check digits, dates,
//! names) are exactly the printed ones, in order, and that a filler run is read wherever one was
//! printed. The count of fillers in a run is not asserted from OCR; the renderer test
//! `mrz_sits_in_the_doc9303_zone` checks the 30-cell grid geometrically instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use ecard_face::render_images;

fn tesseract_or_skip() -> bool {
    let ok = Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("ECARD_OCR_TESTS").as_deref() == Ok("1") {
            panic!(
                "tesseract required (ECARD_OCR_TESTS=1) but not runnable; apt-get install -y tesseract-ocr"
            );
        }
        eprintln!("skipped: tesseract not installed (apt-get install -y tesseract-ocr)");
    }
    ok
}

/// OCR of Zone VII of a back page (cropped, greyscale, at the printed 300 dpi), block mode, MRZ
/// alphabet only.
fn ocr_mrz(back: &image::RgbImage, zone_top: u32) -> Vec<String> {
    let (w, h) = back.dimensions();
    let crop = image::imageops::crop_imm(back, 0, zone_top, w, h - zone_top).to_image();
    let gray = image::DynamicImage::ImageRgb8(crop).to_luma8();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mrz.png");
    gray.save(&path).unwrap();
    let out = Command::new("tesseract")
        .arg(&path)
        .arg("-")
        .args(["--psm", "6"])
        .args([
            "-c",
            "tessedit_char_whitelist=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tesseract failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// A line as data tokens and filler runs: `Tok("KARIMOV"), Fill, Tok("ALISHER"), ...`.
#[derive(Debug, PartialEq)]
enum Piece {
    Tok(String),
    Fill,
}

/// Splits a printed line at its filler runs.
fn printed_pieces(line: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    for (i, tok) in line.split('<').enumerate() {
        if i > 0 && out.last() != Some(&Piece::Fill) {
            out.push(Piece::Fill);
        }
        if !tok.is_empty() {
            out.push(Piece::Tok(tok.to_string()));
        }
    }
    out
}

/// Splits an OCR'd line the same way, where a filler run is a run that starts with `<` and may
/// hold the characters Tesseract confuses with a `<` among others, up to the next `<`-free
/// stretch of at least two characters or the line's end.
fn read_pieces(line: &str) -> Vec<Piece> {
    const CONFUSED: &[char] = &['<', 'K', 'S', 'C', 'E', 'X', ' '];
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<' {
            // Extend over `<` and confusables as long as another `<` follows within 2 characters,
            // or to the end of the line when only confusables remain.
            let mut j = i + 1;
            while j < chars.len() && CONFUSED.contains(&chars[j]) {
                let rest_confused = chars[j..].iter().all(|c| CONFUSED.contains(c));
                let next_fill = chars[j..].iter().take(3).any(|&c| c == '<');
                if chars[j] == '<' || next_fill || rest_confused {
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(Piece::Fill);
            i = j;
        } else {
            let start = i;
            while i < chars.len() && chars[i] != '<' {
                i += 1;
            }
            let tok: String = chars[start..i].iter().filter(|c| **c != ' ').collect();
            out.push(Piece::Tok(tok));
        }
    }
    out
}

fn check_reads_back(o: &Owned) {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = template();
    let (_, back) = render_images(&o.data(), &t, &fonts).unwrap();
    let zone_top = ((t.card.height_mm - t.mrz.zone_height_mm) * t.px_per_mm()).floor() as u32;
    let read = ocr_mrz(&back, zone_top);
    assert_eq!(read.len(), 3, "OCR read {read:?}");
    for (printed, got) in o.mrz.iter().zip(&read) {
        assert_eq!(
            read_pieces(got),
            printed_pieces(printed),
            "printed {printed:?}, OCR read {got:?}"
        );
    }
}

#[test]
fn mrz_reads_back_by_ocr() {
    if !tesseract_or_skip() {
        return;
    }
    check_reads_back(&Owned::new(karimov()));
}

#[test]
fn mrz_without_patronymic_reads_back_by_ocr() {
    if !tesseract_or_skip() {
        return;
    }
    check_reads_back(&Owned::new(holder("O'NEIL-SMITH", "MARY ANN", None, false)));
}

#[test]
fn filler_normalisation_is_strict_about_data() {
    assert_eq!(
        read_pieces("KARIMOV<<ALISHER<K<BAKHODIROVICH"),
        printed_pieces("KARIMOV<<ALISHER<BAKHODIROVICH")
    );
    assert_eq!(
        read_pieces("IRRUS7712345678<<<<K<K<K<< KK KKK KK"),
        printed_pieces("IRRUS7712345678<<<<<<<<<<<<<<<")
    );
    // A misread data character, or a filler read as a letter between two names, must fail.
    assert_ne!(
        read_pieces("KARIMOV<<ALISHERSBAKHODIROVICH"),
        printed_pieces("KARIMOV<<ALISHER<BAKHODIROVICH")
    );
    assert_ne!(
        read_pieces("IRRUS7712345618<<<<<<<<<<"),
        printed_pieces("IRRUS7712345678<<<<<<<<<<<<<<<")
    );
}
