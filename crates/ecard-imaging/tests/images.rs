//! Bounded decoding and the chip JPEGs, on images made here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecard_imaging::decode::probe;
use ecard_imaging::{
    ChipImage, DEFAULT_FACE_BUDGET, DEFAULT_SIGNATURE_BUDGET, ImageProblem, MAX_SIDE,
    decode_bounded, face_jpeg, signature_jpeg,
};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use proptest::prelude::*;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header declares `w`x`h` RGB pixels, followed by a few KB of stored-deflate zeros:
/// decoding it would need w*h*3 bytes.
fn bomb(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // zlib header, then one stored block of 4000 zero bytes (not final).
    let mut idat = vec![0x78, 0x01, 0x00];
    idat.extend_from_slice(&4000u16.to_le_bytes());
    idat.extend_from_slice(&(!4000u16).to_le_bytes());
    idat.extend(std::iter::repeat_n(0u8, 4000));
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A photo-like test image: smooth gradients plus deterministic noise.
fn photo(w: u32, h: u32) -> RgbImage {
    let mut seed = 0x1234_5678u32;
    RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 24) as u8;
        let r = (x * 200 / w) as u8;
        let g = (y * 200 / h) as u8;
        Rgb([
            r.saturating_add(n),
            g.saturating_add(n),
            120u8.saturating_add(n),
        ])
    })
}

fn decodes_as_jpeg(chip: &ChipImage) -> DynamicImage {
    assert_eq!(image::guess_format(&chip.jpeg).unwrap(), ImageFormat::Jpeg);
    let img = image::load_from_memory(&chip.jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (chip.width, chip.height));
    img
}

#[test]
fn a_pixel_bomb_is_rejected_from_its_header() {
    let png = bomb(30_000, 30_000);
    assert!(png.len() < 5_000, "the bomb is {} bytes", png.len());
    // The header is read correctly...
    assert_eq!(probe(&png).unwrap(), (ImageFormat::Png, 30_000, 30_000));
    // ...and decoding stops there: 2.7 GB of pixels are never asked for.
    assert_eq!(
        decode_bounded(&png).unwrap_err(),
        ImageProblem::TooLarge {
            width: 30_000,
            height: 30_000,
            max_side: MAX_SIDE
        }
    );
    assert_eq!(
        face_jpeg(&png, DEFAULT_FACE_BUDGET)
            .unwrap_err()
            .to_string(),
        "30000x30000 px is over the 6000x6000 decode limit"
    );
    // One side over the limit, and a pixel count over 36 Mpx with both sides within it.
    assert!(matches!(
        decode_bounded(&bomb(6001, 10)),
        Err(ImageProblem::TooLarge { width: 6001, .. })
    ));
    assert!(matches!(
        decode_bounded(&bomb(6000, 6000)),
        Err(ImageProblem::Undecodable { .. })
    ));
}

#[test]
fn only_jpeg_and_png_are_decoded() {
    assert_eq!(
        decode_bounded(b"hello, world").unwrap_err(),
        ImageProblem::Unrecognized
    );
    assert_eq!(
        decode_bounded(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap_err(),
        ImageProblem::UnsupportedFormat {
            format: "Gif".into()
        }
    );
    let jpeg = encode(&DynamicImage::ImageRgb8(photo(300, 400)), ImageFormat::Jpeg);
    // Cut inside the header: no frame to decode. (zune-jpeg fills a JPEG cut in its scan data
    // with grey rather than failing, so only a header cut is sure to fail.)
    assert!(matches!(
        decode_bounded(&jpeg[..100]),
        Err(ImageProblem::Undecodable { .. })
    ));
    let png = encode(&DynamicImage::ImageRgb8(photo(300, 400)), ImageFormat::Png);
    assert!(matches!(
        decode_bounded(&png[..png.len() / 2]),
        Err(ImageProblem::Undecodable { .. })
    ));
    assert_eq!(decode_bounded(&jpeg).unwrap().width(), 300);
}

#[test]
fn the_face_fits_its_budget_at_3_to_4() {
    for (w, h, format) in [
        (480, 640, ImageFormat::Jpeg),
        (1200, 1000, ImageFormat::Png),
        (240, 320, ImageFormat::Png),
        (2000, 4000, ImageFormat::Jpeg),
    ] {
        let bytes = encode(&DynamicImage::ImageRgb8(photo(w, h)), format);
        let chip = face_jpeg(&bytes, DEFAULT_FACE_BUDGET).unwrap();
        assert!(chip.jpeg.len() <= DEFAULT_FACE_BUDGET, "{w}x{h}: {chip:?}");
        assert!(chip.width >= 240 && chip.height >= 320, "{w}x{h}: {chip:?}");
        assert_eq!(chip.width * 4, chip.height * 3, "{w}x{h}: {chip:?}");
        let back = decodes_as_jpeg(&chip);
        assert!(back.color().has_color());
    }
}

#[test]
fn a_smaller_budget_gives_a_smaller_face() {
    let bytes = encode(&DynamicImage::ImageRgb8(photo(600, 800)), ImageFormat::Png);
    let big = face_jpeg(&bytes, 60_000).unwrap();
    let small = face_jpeg(&bytes, 9_000).unwrap();
    assert!(small.jpeg.len() <= 9_000);
    assert!(small.width * small.height <= big.width * big.height);
    // Debug shows the size, never the pixels.
    assert_eq!(
        format!("{small:?}"),
        format!(
            "ChipImage({}x{}, {} bytes, quality {})",
            small.width,
            small.height,
            small.jpeg.len(),
            small.quality
        )
    );
    assert!(matches!(
        face_jpeg(&bytes, 300),
        Err(ImageProblem::OverBudget {
            budget: 300,
            width: 240,
            height: 320,
            ..
        })
    ));
}

#[test]
fn a_small_photo_is_rejected() {
    let bytes = encode(&DynamicImage::ImageRgb8(photo(239, 400)), ImageFormat::Png);
    assert_eq!(
        face_jpeg(&bytes, DEFAULT_FACE_BUDGET).unwrap_err(),
        ImageProblem::TooSmall {
            width: 239,
            height: 400,
            min_width: 240,
            min_height: 320
        }
    );
}

/// A transparent PNG with a dark stroke, as a signature pad exports it.
fn signature_png(blank: bool) -> Vec<u8> {
    let mut img = RgbaImage::from_pixel(800, 300, Rgba([0, 0, 0, 0]));
    if !blank {
        for x in 100..700u32 {
            let y = 150.0 + 60.0 * (x as f32 / 40.0).sin();
            for dy in 0..4 {
                img.put_pixel(x, y as u32 + dy, Rgba([10, 20, 90, 255]));
            }
        }
    }
    encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png)
}

#[test]
fn the_signature_is_a_greyscale_jpeg_within_budget() {
    let chip = signature_jpeg(&signature_png(false), DEFAULT_SIGNATURE_BUDGET).unwrap();
    assert!(chip.jpeg.len() <= DEFAULT_SIGNATURE_BUDGET, "{chip:?}");
    let back = decodes_as_jpeg(&chip);
    assert_eq!(back.color(), image::ColorType::L8);
    // Cropped to the ink: the stroke spans 600 x ~124 px, plus margins, scaled into 480x180.
    assert!(chip.width <= 480 && chip.height <= 180, "{chip:?}");
    // Transparency became white paper, not black.
    let corner = back.to_luma8().get_pixel(0, 0).0[0];
    assert!(corner > 200, "corner is {corner}");
    assert_eq!(
        signature_jpeg(&signature_png(true), DEFAULT_SIGNATURE_BUDGET).unwrap_err(),
        ImageProblem::Blank
    );
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = decode_bounded(&bytes);
    }

    #[test]
    fn decoding_mangled_pngs_never_panics(pos in 0usize..200, byte in any::<u8>()) {
        let mut png = encode(&DynamicImage::ImageRgb8(photo(16, 16)), ImageFormat::Png);
        let i = pos % png.len();
        png[i] = byte;
        let _ = decode_bounded(&png);
    }
}
