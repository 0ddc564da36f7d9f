//! The pictures on the card: portrait, signature and QR seal, decoded with size limits and
//! scaled without distortion into their template boxes.
//!
//! Decoding is bounded ([`MAX_IMAGE_SIDE`]) because the bytes come from the enrollment record.
//! Nothing here logs or keeps the images.

use image::{GrayImage, imageops::FilterType};

use crate::raster::{Canvas, PxRect};
use crate::template::{Color, ImageBox, Template};
use crate::{FaceError, MAX_IMAGE_SIDE, QrMatrix};

fn decode(bytes: &[u8], which: &'static str) -> Result<image::DynamicImage, FaceError> {
    let err = |problem: String| FaceError::Image {
        image: which,
        problem,
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    match reader.format() {
        Some(image::ImageFormat::Jpeg | image::ImageFormat::Png) => {}
        _ => return Err(err("is neither JPEG nor PNG".into())),
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    reader.limits(limits);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| err(format!("cannot be read: {e}")))?;
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
        return Err(err(format!(
            "{w}x{h} px is over the {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} decode limit"
        )));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| err(format!("cannot be decoded: {e}")))
}

/// Scales the portrait to cover the box and crops the overflow evenly (Doc 9303-3 §3.9.1.3:
/// modifications by cropping, never by stretching).
pub(crate) fn draw_photo(c: &mut Canvas, r: PxRect, bytes: &[u8]) -> Result<(), FaceError> {
    let img = decode(bytes, "photo")?.to_rgb8();
    let (iw, ih) = img.dimensions();
    if iw == 0 || ih == 0 {
        return Err(FaceError::Image {
            image: "photo",
            problem: "has no pixels".into(),
        });
    }
    let s = (r.w as f32 / iw as f32).max(r.h as f32 / ih as f32);
    let sw = ((iw as f32 * s).ceil() as u32).max(r.w);
    let sh = ((ih as f32 * s).ceil() as u32).max(r.h);
    let scaled = image::imageops::resize(&img, sw, sh, FilterType::CatmullRom);
    let cropped =
        image::imageops::crop_imm(&scaled, (sw - r.w) / 2, (sh - r.h) / 2, r.w, r.h).to_image();
    c.blit(&cropped, r.x, r.y);
    Ok(())
}

/// Fits the signature inside its box keeping its aspect ratio (Doc 9303-3 §3.9.2), centred, and
/// prints it as ink (multiply) so its paper background disappears into the card's.
pub(crate) fn draw_signature(
    c: &mut Canvas,
    t: &Template,
    b: &ImageBox,
    bytes: &[u8],
) -> Result<(), FaceError> {
    let r = t.px(b.box_mm);
    let rgba = decode(bytes, "signature")?.to_rgba8();
    let (iw, ih) = rgba.dimensions();
    if iw == 0 || ih == 0 {
        return Err(FaceError::Image {
            image: "signature",
            problem: "has no pixels".into(),
        });
    }
    // Transparent pixels are paper: composite over white before taking the luma.
    let gray = GrayImage::from_fn(iw, ih, |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as f32 / 255.0;
        let l = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
        image::Luma([(l * a + 255.0 * (1.0 - a)).round() as u8])
    });
    let s = (r.w as f32 / iw as f32).min(r.h as f32 / ih as f32);
    let sw = ((iw as f32 * s).round() as u32).clamp(1, r.w);
    let sh = ((ih as f32 * s).round() as u32).clamp(1, r.h);
    let scaled = image::imageops::resize(&gray, sw, sh, FilterType::CatmullRom);
    c.multiply(&scaled, r.x + (r.w - sw) / 2, r.y + (r.h - sh) / 2);
    Ok(())
}

/// The QR seal, centred in its box on a white quiet zone of 4 modules, at the largest whole number
/// of pixels a module that fits (ECARD.md section 8: at least 4).
pub(crate) fn draw_qr(c: &mut Canvas, r: PxRect, q: &QrMatrix) -> Result<(), FaceError> {
    let total = q.width + 8;
    let side = r.w.min(r.h);
    let module = side / total as u32;
    if module < 4 {
        return Err(FaceError::QrTooDense {
            modules: q.width,
            needed_px: 4 * total as u32,
            box_px: side,
        });
    }
    let size = module * total as u32;
    let x0 = r.x + (r.w - size) / 2;
    let y0 = r.y + (r.h - size) / 2;
    c.fill(
        PxRect {
            x: x0,
            y: y0,
            w: size,
            h: size,
        },
        Color([255, 255, 255]),
    );
    for (i, &dark) in q.dark.iter().enumerate() {
        if dark {
            let (mx, my) = ((i % q.width) as u32 + 4, (i / q.width) as u32 + 4);
            c.fill(
                PxRect {
                    x: x0 + mx * module,
                    y: y0 + my * module,
                    w: module,
                    h: module,
                },
                Color([0, 0, 0]),
            );
        }
    }
    Ok(())
}
