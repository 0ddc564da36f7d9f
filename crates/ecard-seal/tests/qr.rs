//! The QR symbol: a seal encoded at level M, drawn at 4 px a module (the face's minimum at 300 dpi)
//! with a quiet zone of 4, decodes from the image, and still decodes at half size with blur; an
//! image without a QR code says so.

#![allow(clippy::unwrap_used)]

use ecard_seal::{QrError, decode_qr_image, decode_qr_luma, encode_qr};
use image::{GrayImage, Luma, imageops};

fn draw(text: &str, px: u32) -> GrayImage {
    let q = encode_qr(text).unwrap();
    let side = (q.width as u32 + 8) * px;
    // A card-like background around the symbol.
    let mut img = GrayImage::from_pixel(side + 200, side + 120, Luma([200]));
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = ((x / px) as i64 - 4, (y / px) as i64 - 4);
            let w = q.width as i64;
            let dark =
                (0..w).contains(&mx) && (0..w).contains(&my) && q.dark[(my * w + mx) as usize];
            img.put_pixel(x + 100, y + 60, Luma([if dark { 0 } else { 255 }]));
        }
    }
    img
}

fn seal_like_text() -> String {
    // 372 characters of base45, the size of a real seal with a patronymic.
    let mut s = String::from("EC1:");
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    for i in 0..372 {
        s.push(char::from(alphabet[(i * 7 + i / 3) % 45]));
    }
    s
}

#[test]
fn encodes_at_level_m_and_decodes() {
    let text = seal_like_text();
    let q = encode_qr(&text).unwrap();
    assert_eq!(q.dark.len(), q.width * q.width);
    // 376 alphanumeric characters at level M need version 12: 65 modules.
    assert_eq!(q.width, 65);
    let img = draw(&text, 4);
    assert_eq!(decode_qr_luma(&img).unwrap(), vec![text]);
}

#[test]
fn decodes_at_half_size_with_blur() {
    let text = seal_like_text();
    let img = draw(&text, 4);
    let half = imageops::resize(
        &img,
        img.width() / 2,
        img.height() / 2,
        imageops::FilterType::Triangle,
    );
    let blurred = imageops::blur(&half, 0.8);
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(blurred)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(decode_qr_image(&png).unwrap(), vec![text]);
}

#[test]
fn no_qr_and_not_an_image_are_named() {
    let blank = GrayImage::from_pixel(300, 200, Luma([230]));
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(blank)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(
        decode_qr_image(&png).unwrap_err(),
        QrError::NotFound {
            found: 0,
            detail: String::new()
        }
    );
    assert!(matches!(
        decode_qr_image(b"not an image").unwrap_err(),
        QrError::Image { .. }
    ));
}
