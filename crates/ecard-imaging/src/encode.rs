//! The chip's JPEGs: the face for DG2 (3:4 portrait, at least 240x320) and the signature for DG7
//! (greyscale), each the best quality that fits a byte budget.
//!
//! Quality is found by binary search: JPEG size grows with quality (not strictly, but nearly), so
//! the search finds the highest quality whose output fits; the result is re-checked against the
//! budget, never assumed. Must not: upscale, or return an image over budget.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, Pixel, PixelWithColorType, Rgb, RgbImage};

use crate::decode::decode_bounded;
use crate::{ChipImage, ImageProblem, MIN_FACE_HEIGHT, MIN_FACE_WIDTH};

/// Face widths tried, largest first; heights are 4/3 of the width.
const FACE_WIDTHS: [u32; 5] = [480, 420, 360, 300, MIN_FACE_WIDTH];
/// Below this quality a larger face is not worth it: a smaller one is tried first.
const FACE_MIN_GOOD_QUALITY: u8 = 70;
/// The highest quality tried; above it the size grows with no visible gain.
const MAX_QUALITY: u8 = 95;
/// The lowest quality accepted for the smallest size.
const MIN_QUALITY: u8 = 5;
/// The largest signature kept (the chip image is a small sample, not a scan).
const SIGNATURE_MAX: (u32, u32) = (480, 180);
/// Smallest signature that still shows a stroke.
const SIGNATURE_MIN: (u32, u32) = (60, 20);
/// Grey level below which a pixel counts as ink.
const INK: u8 = 160;

fn jpeg<P>(img: &ImageBuffer<P, Vec<u8>>, quality: u8) -> Result<Vec<u8>, ImageProblem>
where
    P: Pixel<Subpixel = u8> + PixelWithColorType,
{
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| ImageProblem::Encode {
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// The highest quality in `min..=MAX_QUALITY` whose JPEG fits `budget`, with its bytes; `Err` with
/// the size at `min` when even that does not fit.
fn best_fit<P>(
    img: &ImageBuffer<P, Vec<u8>>,
    budget: usize,
    min: u8,
) -> Result<Result<(u8, Vec<u8>), usize>, ImageProblem>
where
    P: Pixel<Subpixel = u8> + PixelWithColorType,
{
    let low = jpeg(img, min)?;
    if low.len() > budget {
        return Ok(Err(low.len()));
    }
    let (mut lo, mut best) = (min, low);
    let mut hi = MAX_QUALITY;
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let bytes = jpeg(img, mid)?;
        if bytes.len() <= budget {
            lo = mid;
            best = bytes;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Ok((lo, best)))
}

/// Transparent pixels on white: a PNG cut-out must not turn black when its alpha is dropped.
fn on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// The DG2 face: cropped to 3:4 around the centre, scaled down to the largest of 480x640 ... 240x320
/// that fits `budget` at a good quality (or 240x320 at whatever quality fits), as a colour JPEG.
/// Rejects portraits under [`MIN_FACE_WIDTH`]x[`MIN_FACE_HEIGHT`].
pub fn face_jpeg(bytes: &[u8], budget: usize) -> Result<ChipImage, ImageProblem> {
    let img = decode_bounded(bytes)?;
    let (w, h) = (img.width(), img.height());
    if w < MIN_FACE_WIDTH || h < MIN_FACE_HEIGHT {
        return Err(ImageProblem::TooSmall {
            width: w,
            height: h,
            min_width: MIN_FACE_WIDTH,
            min_height: MIN_FACE_HEIGHT,
        });
    }
    // Crop to 3:4 (too wide loses the sides, too tall loses top and bottom evenly) before any
    // conversion, so a large original is copied once at most.
    let (cw, ch) = if u64::from(w) * 4 > u64::from(h) * 3 {
        (h / 4 * 3, h / 4 * 4)
    } else {
        (w / 3 * 3, w / 3 * 4)
    };
    let crop = on_white(&img.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch));
    let mut smallest = (usize::MAX, MIN_FACE_WIDTH, MIN_FACE_HEIGHT);
    for width in FACE_WIDTHS.into_iter().filter(|fw| *fw <= cw) {
        let height = width / 3 * 4;
        let scaled = if width == cw {
            crop.clone()
        } else {
            imageops::resize(&crop, width, height, FilterType::CatmullRom)
        };
        let min = if width == MIN_FACE_WIDTH {
            MIN_QUALITY
        } else {
            FACE_MIN_GOOD_QUALITY
        };
        match best_fit(&scaled, budget, min)? {
            Ok((quality, jpeg)) => {
                return Ok(ChipImage {
                    jpeg,
                    width,
                    height,
                    quality,
                });
            }
            Err(size) => smallest = (size, width, height),
        }
    }
    Err(ImageProblem::OverBudget {
        budget,
        smallest: smallest.0,
        width: smallest.1,
        height: smallest.2,
    })
}

/// The DG7 signature: greyscale, cropped to the ink with a small margin, scaled down to at most
/// 480x180 and further (by quarters) until a JPEG fits `budget`.
pub fn signature_jpeg(bytes: &[u8], budget: usize) -> Result<ChipImage, ImageProblem> {
    let img = decode_bounded(bytes)?;
    let (w, h) = (img.width(), img.height());
    if w < SIGNATURE_MIN.0 || h < SIGNATURE_MIN.1 {
        return Err(ImageProblem::TooSmall {
            width: w,
            height: h,
            min_width: SIGNATURE_MIN.0,
            min_height: SIGNATURE_MIN.1,
        });
    }
    let grey: GrayImage = DynamicImage::ImageRgb8(on_white(&img)).to_luma8();
    let Some((x0, y0, x1, y1)) = ink_box(&grey) else {
        return Err(ImageProblem::Blank);
    };
    let margin = 8;
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
    let crop = imageops::crop_imm(&grey, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (cw, ch) = crop.dimensions();
    // Largest scale (never above 1) that fits the maximum box.
    let scale = (f64::from(SIGNATURE_MAX.0) / f64::from(cw))
        .min(f64::from(SIGNATURE_MAX.1) / f64::from(ch))
        .min(1.0);
    let mut smallest = (usize::MAX, cw, ch);
    let mut factor = scale;
    loop {
        let (tw, th) = (
            ((f64::from(cw) * factor).round() as u32).max(1),
            ((f64::from(ch) * factor).round() as u32).max(1),
        );
        if tw < SIGNATURE_MIN.0 && th < SIGNATURE_MIN.1 {
            break;
        }
        let scaled: ImageBuffer<Luma<u8>, Vec<u8>> = if (tw, th) == (cw, ch) {
            crop.clone()
        } else {
            imageops::resize(&crop, tw, th, FilterType::Triangle)
        };
        match best_fit(&scaled, budget, 30)? {
            Ok((quality, jpeg)) => {
                return Ok(ChipImage {
                    jpeg,
                    width: tw,
                    height: th,
                    quality,
                });
            }
            Err(size) => smallest = (size, tw, th),
        }
        factor *= 0.75;
    }
    Err(ImageProblem::OverBudget {
        budget,
        smallest: smallest.0,
        width: smallest.1,
        height: smallest.2,
    })
}

/// The bounding box (inclusive) of the ink, or `None` for a blank image.
fn ink_box(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let mut bbox: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] < INK {
            bbox = Some(match bbox {
                None => (x, y, x, y),
                Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
            });
        }
    }
    bbox
}
