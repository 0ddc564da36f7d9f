//! Issue 13 item 13: a damaged image is an error, never a picture with a grey lower half. The
//! committed sample portrait (JPEG) and signature (PNG) cut in half, and with bytes flipped in the
//! middle of their compressed data, must fail to decode with `ImageProblem::Undecodable`, while the
//! whole files still decode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ecard_imaging::{ImageProblem, decode_bounded};

fn sample(rel: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn assert_undecodable(bytes: &[u8], what: &str) {
    match decode_bounded(bytes) {
        Err(ImageProblem::Undecodable { .. }) => {}
        Err(other) => panic!("{what}: expected Undecodable, got {other:?}"),
        Ok(img) => panic!(
            "{what}: a damaged image decoded to {}x{} px",
            img.width(),
            img.height()
        ),
    }
}

#[test]
fn whole_samples_decode() {
    decode_bounded(&sample("asanov/photo.jpg")).unwrap();
    decode_bounded(&sample("asanov/signature.png")).unwrap();
}

#[test]
fn jpeg_cut_in_half_is_undecodable() {
    let jpeg = sample("asanov/photo.jpg");
    assert_undecodable(&jpeg[..jpeg.len() / 2], "JPEG cut in half");
    assert_undecodable(&jpeg[..jpeg.len() * 9 / 10], "JPEG cut at 90%");
}

#[test]
fn png_cut_in_half_is_undecodable() {
    let png = sample("asanov/signature.png");
    assert_undecodable(&png[..png.len() / 2], "PNG cut in half");
    // Without its IEND chunk (12 bytes).
    assert_undecodable(&png[..png.len() - 12], "PNG without IEND");
}

#[test]
fn png_with_corrupt_data_is_undecodable() {
    let mut png = sample("asanov/signature.png");
    let mid = png.len() / 2;
    for b in &mut png[mid..mid + 16] {
        *b ^= 0x5A;
    }
    assert_undecodable(&png, "PNG with 16 flipped bytes");
}
