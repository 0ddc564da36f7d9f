//! `prepare_enrollment` with inline images, loader failures and mixed problems.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecard_imaging::{ImageBudgets, prepare_enrollment};
use ecard_model::enrollment::ImageRef;
use ecard_model::time::macros::date;
use image::{DynamicImage, ImageFormat, Luma, Rgb, RgbImage};

const TODAY: ecard_model::time::Date = date!(2026 - 11 - 25);

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Standard base64, written here so the test does not share the library's encoder.
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn photo() -> Vec<u8> {
    let img = RgbImage::from_fn(300, 400, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    encode(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)
}

fn signature() -> Vec<u8> {
    let img = image::GrayImage::from_fn(400, 120, |x, y| {
        if (y as i32 - 60 - ((x as f32 / 20.0).sin() * 30.0) as i32).abs() < 3 {
            Luma([0])
        } else {
            Luma([255])
        }
    });
    encode(DynamicImage::ImageLuma8(img), ImageFormat::Png)
}

fn record(photo: &str, signature: &str, surname: &str) -> String {
    format!(
        r#"{{"application_id": "MMC-2026-0000999", "surname": "{surname}", "given_names": "ANNA",
        "date_of_birth": "1980-01-01", "sex": "F", "nationality": "XXB", "residence_status": "temporary",
        "identity_document": {{"kind": "stateless_person_document", "number": "X123", "issuing_state": "D",
                               "date_of_expiry": "2031-01-01"}},
        "photo": {photo}, "signature": {signature},
        "application": {{"kind": "replacement", "previous_document_number": "77 0000001",
                         "cause": "damaged", "event_date": "2026-11-01"}},
        "applied_on": "2026-11-20"}}"#
    )
}

#[test]
fn inline_images_need_no_loader() {
    let json = record(
        &format!(r#"{{"base64": "{}"}}"#, b64(&photo())),
        &format!(r#"{{"base64": "{}"}}"#, b64(&signature())),
        "ERIKSSON",
    );
    let mut calls = 0;
    let mut load = |_: &ImageRef| {
        calls += 1;
        Err("no files here".to_string())
    };
    let p = prepare_enrollment(&json, &mut load, TODAY, ImageBudgets::default()).unwrap();
    assert_eq!(calls, 0);
    assert_eq!(p.photo_original, photo());
    assert_eq!(p.signature_original, signature());
    assert_eq!((p.face.width, p.face.height), (300, 400));
    // Filed 19 days after the damage: issued, but flagged.
    assert!(p.late_notification);
    assert_eq!(p.holder.surname(), "ERIKSSON");
    assert!(
        format!("{p:?}").starts_with("PreparedEnrollment { application_id: \"MMC-2026-0000999\"")
    );
    assert!(!format!("{p:?}").contains("ERIKSSON"));
}

#[test]
fn record_loader_and_image_problems_come_together() {
    let json = record(
        r#"{"path": "face.jpg"}"#,
        r#"{"path": "sig.png"}"#,
        "ERIKSS0N",
    );
    let mut load = |r: &ImageRef| match r {
        ImageRef::Path(p) if p == "sig.png" => Ok(b"GIF89a....".to_vec()),
        _ => Err("No such file or directory (os error 2)".to_string()),
    };
    let problems = prepare_enrollment(&json, &mut load, TODAY, ImageBudgets::default())
        .unwrap_err()
        .into_iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        problems,
        [
            "surname: contains '0'; only letters (with diacritics), space, hyphen and apostrophe are allowed",
            "photo: cannot read face.jpg: No such file or directory (os error 2)",
            "signature: is a Gif image; only JPEG and PNG are accepted; send a scan of the signature as a JPEG or PNG file",
        ]
    );
}

#[test]
fn a_broken_image_field_is_not_loaded() {
    let json = record(r#"{"url": "face.jpg"}"#, r#"{"path": ""}"#, "ERIKSSON");
    let mut calls = 0;
    let mut load = |_: &ImageRef| {
        calls += 1;
        Ok(Vec::new())
    };
    let problems =
        prepare_enrollment(&json, &mut load, TODAY, ImageBudgets::default()).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["photo.url", "signature.path"]);
    assert_eq!(calls, 0);
}

#[test]
fn a_small_budget_comes_from_the_caller() {
    let json = record(
        &format!(r#"{{"base64": "{}"}}"#, b64(&photo())),
        &format!(r#"{{"base64": "{}"}}"#, b64(&signature())),
        "ERIKSSON",
    );
    let mut load = |_: &ImageRef| Err(String::new());
    let budgets = ImageBudgets {
        face_bytes: 200,
        signature_bytes: 6_000,
    };
    let problems = prepare_enrollment(&json, &mut load, TODAY, budgets).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "photo");
    assert!(
        problems[0].message.starts_with("does not fit in 200 bytes"),
        "{}",
        problems[0]
    );
}
