//! The chip's JPEGs: the face for DG2 (3:4 portrait, at least 240x320) and the signature for DG7
//! (greyscale), each the best quality that fits a byte budget.
//!
//! Quality: the highest that fits at the chosen size, found by [`crate::search`] (see there for
//! the exact guarantee: `q` was encoded and fits, `q + 1` was encoded and does not, unless `q` is
//! 95). The face's search is guided by encodes of a quarter of its rows and usually ends in two or
//! three full encodes; the signature's interpolates on sizes. Every returned JPEG is the one whose
//! length was compared with the budget. Must not: upscale, or return an image over budget.
//!
//! Size: the face is the largest of 480x640 ... 240x320 that fits at quality 70 or more, else
//! 240x320 at whatever quality fits. A width is rejected after its quality-70 JPEG was encoded and
//! found over budget, with one shortcut: JPEG size at a fixed quality shrinks at most about as fast
//! as the pixel count (a smaller image has more detail per pixel), so a width whose size predicted
//! from the last rejected one by pixel count is over [`SKIP_MARGIN`] times the budget is skipped
//! without resizing or encoding. The smallest width is always encoded.
//!
//! Encoder: `jpeg-encoder`'s files (baseline, Huffman tables of the standard), written by
//! [`crate::baseline`], which computes the DCT once per search and makes the same bytes.
//! The face is 4:2:0 (chroma at half resolution, box-averaged), as cameras and most passport chips
//! store portraits: at a fixed byte budget it leaves more bytes for the luminance that face
//! matching uses, and encodes in about 60% of the time of 4:4:4. The sampling is fixed for every
//! quality (the encoder's own default switches to 4:4:4 at 90, which would make size jump).

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_encoder::ColorType;

use crate::decode::decode_bounded;
use crate::planes::{Planes, ycbcr_420};
use crate::search::{FIRST_GUESS, Fit, Sampled, Start, best_fit, guess_from};
use crate::{ChipImage, ImageProblem, MIN_FACE_HEIGHT, MIN_FACE_WIDTH};

/// Face widths tried, largest first; heights are 4/3 of the width.
const FACE_WIDTHS: [u32; 5] = [480, 420, 360, 300, MIN_FACE_WIDTH];
/// Below this quality a larger face is not worth it: a smaller one is tried first.
const FACE_MIN_GOOD_QUALITY: u8 = 70;
/// The highest quality tried; above it the size grows with no visible gain.
const MAX_QUALITY: u8 = 95;
/// The lowest quality accepted for the smallest size.
const MIN_QUALITY: u8 = 5;
/// The signature's lowest quality: strokes blur into blocks below it.
const SIGNATURE_MIN_QUALITY: u8 = 30;
/// A face width is skipped unencoded when its predicted size at quality 70 exceeds the budget by
/// this factor (see the module docs). Measured: the real size at a smaller width is 0.95 to 1.3
/// times the pixel-count prediction on portraits; 1.5 leaves room for noisy images.
const SKIP_MARGIN: f64 = 1.5;
/// The face's quality search samples one band of 16 rows in this many.
const SAMPLE_EVERY: usize = 4;
/// The largest signature kept (the chip image is a small sample, not a scan).
const SIGNATURE_MAX: (u32, u32) = (480, 180);
/// Smallest signature that still shows a stroke.
const SIGNATURE_MIN: (u32, u32) = (60, 20);
/// Grey level below which a pixel counts as ink.
const INK: u8 = 160;

/// Pixels ready for the encoder: 8-bit RGB or grey, rows packed.
struct Raster {
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    color: ColorType,
}

impl Raster {
    /// The JPEG at `quality` (converting the pixels for the encoder first; a search converts
    /// once with [`Raster::planes`] and encodes from those). The tests' judge.
    #[cfg(test)]
    fn jpeg(&self, quality: u8) -> Result<Vec<u8>, ImageProblem> {
        self.planes()?.jpeg(quality)
    }

    /// The pixels as the encoder reads them, converted once for every quality a search tries.
    fn planes(&self) -> Result<Planes<'_>, ImageProblem> {
        let dimension = |v: u32| {
            u16::try_from(v).map_err(|_| ImageProblem::Encode {
                reason: format!("{v} px is over the JPEG limit"),
            })
        };
        let (width, height) = (dimension(self.width)?, dimension(self.height)?);
        // `crate::baseline` pads from the last row and column: there must be one (decoding
        // refuses empty images, so this is our bug if it happens, as jpeg-encoder said too).
        if width == 0 || height == 0 {
            return Err(ImageProblem::Encode {
                reason: format!("cannot encode a {width}x{height} px image"),
            });
        }
        Ok(match self.color {
            ColorType::Rgb => Planes::Ycbcr(ycbcr_420(&self.pixels, width, height)),
            _ => Planes::Grey {
                pixels: &self.pixels,
                width,
                height,
            },
        })
    }

    /// This raster scaled to `width`x`height` (never up: callers ask for smaller or equal), by
    /// `fast_image_resize` (SIMD convolution; `image`'s resize cost the signature as much as its
    /// encodes). `Triangle` is its bilinear filter, `CatmullRom` its bicubic one.
    fn scaled(&self, width: u32, height: u32, filter: FilterType) -> Result<Raster, ImageProblem> {
        use fast_image_resize as fir;
        if (width, height) == (self.width, self.height) {
            return Ok(Raster {
                pixels: self.pixels.clone(),
                width,
                height,
                color: self.color,
            });
        }
        let resize_failed = |e: &dyn std::fmt::Display| ImageProblem::Encode {
            reason: format!(
                "cannot scale {}x{} px to {width}x{height}: {e}",
                self.width, self.height
            ),
        };
        let pixel = if self.color == ColorType::Rgb {
            fir::PixelType::U8x3
        } else {
            fir::PixelType::U8
        };
        let src = fir::images::ImageRef::new(self.width, self.height, &self.pixels, pixel)
            .map_err(|e| resize_failed(&e))?;
        let mut dst = fir::images::Image::new(width, height, pixel);
        let kernel = match filter {
            FilterType::Triangle => fir::FilterType::Bilinear,
            _ => fir::FilterType::CatmullRom,
        };
        fir::Resizer::new()
            .resize(
                &src,
                &mut dst,
                &fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(kernel)),
            )
            .map_err(|e| resize_failed(&e))?;
        Ok(Raster {
            pixels: dst.into_vec(),
            width,
            height,
            color: self.color,
        })
    }

    /// The highest quality in `min..=MAX_QUALITY` that fits `budget`, starting the search at
    /// `guess`.
    fn best_fit(&self, budget: usize, min: u8, start: Start<'_>) -> Result<Fit, ImageProblem> {
        // The DCT does not depend on the quality: done once, each quality tried only quantizes
        // and entropy-codes (the same bytes as `jpeg-encoder`, see `crate::baseline`).
        let coefficients = self.planes()?.coefficients();
        best_fit(
            &mut |q| Ok(coefficients.jpeg(q)),
            budget,
            min,
            MAX_QUALITY,
            start,
        )
    }

    /// The same, guided by encodes of one band of rows in every [`SAMPLE_EVERY`] (see
    /// [`crate::search::Sampled`]). Bands are whole 16-row MCUs, so their blocks are the full
    /// image's blocks.
    fn best_fit_sampled(&self, budget: usize, min: u8) -> Result<Fit, ImageProblem> {
        let channels = if self.color == ColorType::Rgb { 3 } else { 1 };
        let row = self.width as usize * channels;
        let band = 16;
        let pixels: Vec<u8> = self
            .pixels
            .chunks(row * band)
            .step_by(SAMPLE_EVERY)
            .flatten()
            .copied()
            .collect();
        let sample = Raster {
            height: (pixels.len() / row) as u32,
            width: self.width,
            pixels,
            color: self.color,
        };
        let sample_coefficients = sample.planes()?.coefficients();
        let mut sample_size = |q| Ok(sample_coefficients.jpeg(q).len());
        let model = Sampled::new(
            &mut sample_size,
            f64::from(self.height) / f64::from(sample.height),
        );
        self.best_fit(budget, min, Start::Sampled(model))
    }
}

/// Blends a colour sample with alpha onto white paper.
fn blend(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a)) / 255) as u8
}

/// Transparent pixels on white: a PNG cut-out must not turn black when its alpha is dropped.
fn on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let pixels = rgba
        .as_raw()
        .chunks_exact(4)
        .flat_map(|p| [blend(p[0], p[3]), blend(p[1], p[3]), blend(p[2], p[3])])
        .collect();
    // The length is w * h * 3 by construction.
    RgbImage::from_raw(w, h, pixels).unwrap_or_else(|| RgbImage::new(w, h))
}

/// Grey on white paper, with `image`'s luma weights (Rec. 709, as `to_luma8`), in one pass.
fn grey_on_white(img: &DynamicImage) -> GrayImage {
    const LUMA: [u32; 3] = [2126, 7152, 722];
    let luma = |r: u8, g: u8, b: u8| {
        ((LUMA[0] * u32::from(r) + LUMA[1] * u32::from(g) + LUMA[2] * u32::from(b)) / 10_000) as u8
    };
    let (w, h) = (img.width(), img.height());
    let pixels: Vec<u8> = match img {
        DynamicImage::ImageLuma8(g) => return g.clone(),
        DynamicImage::ImageLumaA8(ga) => ga
            .as_raw()
            .chunks_exact(2)
            .map(|p| blend(p[0], p[1]))
            .collect(),
        DynamicImage::ImageRgb8(rgb) => rgb
            .as_raw()
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect(),
        // A signature scan with a transparent background usually is RGBA: read it in place.
        // Most of it is paper (alpha 0, white on white) or solid ink (alpha 255, the colour as
        // it is): the same values as the blend, without its three divisions.
        DynamicImage::ImageRgba8(rgba) => rgba
            .as_raw()
            .chunks_exact(4)
            .map(|p| match p[3] {
                0 => 255,
                255 => luma(p[0], p[1], p[2]),
                a => luma(blend(p[0], a), blend(p[1], a), blend(p[2], a)),
            })
            .collect(),
        other => other
            .to_rgba8()
            .as_raw()
            .chunks_exact(4)
            .map(|p| luma(blend(p[0], p[3]), blend(p[1], p[3]), blend(p[2], p[3])))
            .collect(),
    };
    // The length is w * h by construction.
    GrayImage::from_raw(w, h, pixels).unwrap_or_else(|| GrayImage::new(w, h))
}

/// The portrait decoded and cropped to 3:4 around the centre, on white, as RGB.
fn face_crop(bytes: &[u8]) -> Result<Raster, ImageProblem> {
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
    let (x, y) = ((w - cw) / 2, (h - ch) / 2);
    let pixels = match img {
        // Already 3:4 (a portrait crop usually is): the decoded pixels as they are.
        DynamicImage::ImageRgb8(rgb) if (cw, ch) == (w, h) => rgb.into_raw(),
        DynamicImage::ImageRgb8(rgb) => crop_rows(rgb.as_raw(), w, 3, (x, y, cw, ch)),
        other => on_white(&other.crop_imm(x, y, cw, ch)).into_raw(),
    };
    Ok(Raster {
        width: cw,
        height: ch,
        pixels,
        color: ColorType::Rgb,
    })
}

/// The rectangle `(x, y, width, height)` of packed rows `width_of_image` pixels wide, row by row
/// (`image`'s `SubImage::to_image` copies pixel by pixel, which cost as much as a decode).
fn crop_rows(
    pixels: &[u8],
    width_of_image: u32,
    channels: usize,
    rect: (u32, u32, u32, u32),
) -> Vec<u8> {
    let (x, y, w, h) = (
        rect.0 as usize,
        rect.1 as usize,
        rect.2 as usize,
        rect.3 as usize,
    );
    let stride = width_of_image as usize * channels;
    let mut out = Vec::with_capacity(w * h * channels);
    for row in pixels.chunks_exact(stride).skip(y).take(h) {
        out.extend_from_slice(&row[x * channels..(x + w) * channels]);
    }
    out
}

/// The DG2 face: cropped to 3:4 around the centre, scaled down to the largest of 480x640 ... 240x320
/// that fits `budget` at a good quality (or 240x320 at whatever quality fits), as a colour JPEG.
/// Rejects portraits under [`MIN_FACE_WIDTH`]x[`MIN_FACE_HEIGHT`].
pub fn face_jpeg(bytes: &[u8], budget: usize) -> Result<ChipImage, ImageProblem> {
    face_jpeg_from(bytes, budget, None)
}

/// [`face_jpeg`], with the quality search at the largest width starting at `start_quality`
/// instead of where a quick sample predicts. Photos from one capture station compress alike,
/// so the previous record's quality is usually right, and then two full encodes (that quality
/// fits, the next does not) end the search. The guarantee is the same from any start: the
/// quality returned fits and the next one up was encoded and does not.
pub fn face_jpeg_from(
    bytes: &[u8],
    budget: usize,
    start_quality: Option<u8>,
) -> Result<ChipImage, ImageProblem> {
    let crop = face_crop(bytes)?;
    let mut start_quality = start_quality;
    // The last rejected width and its size at the minimum quality, to predict the next.
    let mut rejected: Option<(u32, usize)> = None;
    let mut smallest = (usize::MAX, MIN_FACE_WIDTH, MIN_FACE_HEIGHT);
    for width in FACE_WIDTHS.into_iter().filter(|fw| *fw <= crop.width) {
        let height = width / 3 * 4;
        let min = if width == MIN_FACE_WIDTH {
            MIN_QUALITY
        } else {
            FACE_MIN_GOOD_QUALITY
        };
        if let Some((from, size)) = rejected {
            let predicted = size as f64 * f64::from(width * width) / f64::from(from * from);
            if width != MIN_FACE_WIDTH && predicted > budget as f64 * SKIP_MARGIN {
                continue;
            }
        }
        // The crop itself when it is already this size (a 480x640 portrait): no copy.
        let resized;
        let scaled = if (width, height) == (crop.width, crop.height) {
            &crop
        } else {
            resized = crop.scaled(width, height, FilterType::CatmullRom)?;
            &resized
        };
        // The hint is for the first width tried; a smaller one has another curve.
        let fit = match start_quality.take() {
            Some(q) => scaled.best_fit(budget, min, Start::Near(q))?,
            None => scaled.best_fit_sampled(budget, min)?,
        };
        match fit {
            Fit::Fits { quality, jpeg } => {
                return Ok(ChipImage {
                    jpeg,
                    width,
                    height,
                    quality,
                });
            }
            Fit::Over { size_at_min } => {
                rejected = Some((width, size_at_min));
                smallest = (size_at_min, width, height);
            }
        }
    }
    Err(ImageProblem::OverBudget {
        budget,
        smallest: smallest.0,
        width: smallest.1,
        height: smallest.2,
    })
}

/// The signature decoded, in grey on white, cropped to the ink with a margin.
fn signature_crop(bytes: &[u8]) -> Result<Raster, ImageProblem> {
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
    let grey = grey_on_white(&img);
    drop(img);
    let Some((x0, y0, x1, y1)) = ink_box(&grey) else {
        return Err(ImageProblem::Blank);
    };
    let margin = 8;
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    Ok(Raster {
        width: cw,
        height: ch,
        pixels: crop_rows(grey.as_raw(), w, 1, (x0, y0, cw, ch)),
        color: ColorType::Luma,
    })
}

/// The DG7 signature: greyscale, cropped to the ink with a small margin, scaled down to at most
/// 480x180 and further (by quarters) until a JPEG fits `budget`.
pub fn signature_jpeg(bytes: &[u8], budget: usize) -> Result<ChipImage, ImageProblem> {
    let crop = signature_crop(bytes)?;
    let (cw, ch) = (crop.width, crop.height);
    // Largest scale (never above 1) that fits the maximum box.
    let scale = (f64::from(SIGNATURE_MAX.0) / f64::from(cw))
        .min(f64::from(SIGNATURE_MAX.1) / f64::from(ch))
        .min(1.0);
    let mut smallest = (usize::MAX, cw, ch);
    // The last rejected size's pixel count and bytes at the minimum quality, to guess the next.
    let mut rejected: Option<(u32, usize)> = None;
    let mut factor = scale;
    loop {
        let (tw, th) = (
            ((f64::from(cw) * factor).round() as u32).max(1),
            ((f64::from(ch) * factor).round() as u32).max(1),
        );
        if tw < SIGNATURE_MIN.0 && th < SIGNATURE_MIN.1 {
            break;
        }
        let guess = match rejected {
            None => FIRST_GUESS,
            Some((pixels, size)) => {
                let predicted = size as f64 * f64::from(tw * th) / f64::from(pixels);
                if predicted > budget as f64 {
                    SIGNATURE_MIN_QUALITY
                } else {
                    guess_from(SIGNATURE_MIN_QUALITY, predicted, budget)
                }
            }
        };
        let scaled = crop.scaled(tw, th, FilterType::Triangle)?;
        match scaled.best_fit(budget, SIGNATURE_MIN_QUALITY, Start::At(guess))? {
            Fit::Fits { quality, jpeg } => {
                return Ok(ChipImage {
                    jpeg,
                    width: tw,
                    height: th,
                    quality,
                });
            }
            Fit::Over { size_at_min } => {
                rejected = Some((tw * th, size_at_min));
                smallest = (size_at_min, tw, th);
            }
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

/// The bounding box (inclusive) of the ink, or `None` for a blank image. Row by row: the first
/// and the last ink pixel of each row are all a box needs.
fn ink_box(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let width = img.width() as usize;
    if width == 0 {
        return None;
    }
    let mut bbox: Option<(u32, u32, u32, u32)> = None;
    for (y, row) in img.as_raw().chunks_exact(width).enumerate() {
        let Some(first) = row.iter().position(|p| *p < INK) else {
            continue;
        };
        // Some: `first` is ink.
        let last = row.iter().rposition(|p| *p < INK).unwrap_or(first);
        let (x0, x1, y) = (first as u32, last as u32, y as u32);
        bbox = Some(match bbox {
            None => (x0, y, x1, y),
            Some((a, b, c, d)) => (a.min(x0), b.min(y), c.max(x1), d.max(y)),
        });
    }
    bbox
}

#[cfg(test)]
mod sample_tests;

#[cfg(test)]
mod tests {
    //! The guarantees, with the encoder itself as the judge: never over budget, `q + 1` does not
    //! fit, no larger width would have fitted at quality 70 (so the skip shortcut never cost a
    //! width), and the JPEG decodes with `image` at the stated size.
    use super::*;
    use image::{ImageFormat, Rgb, RgbaImage};
    use proptest::prelude::*;

    fn karimov() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/karimov/photo.jpg"
        );
        std::fs::read(path).unwrap()
    }

    /// A photo-like PNG with fine noise (harder to compress than a portrait), `w`x`h`.
    fn noisy(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(97) % 41;
            Rgb([
                ((x * 200 / w) as u8).saturating_add(n as u8),
                ((y * 200 / h) as u8).saturating_add((n / 2) as u8),
                (((x / 7 + y / 5) % 2) * 90 + 60) as u8,
            ])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// Checks one face result against the encoder, returning its width.
    fn check_face(bytes: &[u8], budget: usize) -> Result<u32, ImageProblem> {
        check_face_from(bytes, budget, None).map(|c| c.width)
    }

    /// The same for a search started at `start`; returns the result.
    fn check_face_from(
        bytes: &[u8],
        budget: usize,
        start: Option<u8>,
    ) -> Result<ChipImage, ImageProblem> {
        let crop = face_crop(bytes).unwrap();
        let chip = face_jpeg_from(bytes, budget, start)?;
        assert!(chip.jpeg.len() <= budget, "{budget}: {chip:?}");
        assert!(chip.width <= crop.width, "upscaled: {chip:?}");
        assert_eq!(chip.width * 4, chip.height * 3);
        let back = image::load_from_memory_with_format(&chip.jpeg, ImageFormat::Jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (chip.width, chip.height));
        let min = if chip.width == MIN_FACE_WIDTH {
            MIN_QUALITY
        } else {
            FACE_MIN_GOOD_QUALITY
        };
        assert!((min..=MAX_QUALITY).contains(&chip.quality), "{chip:?}");
        let scaled = crop
            .scaled(chip.width, chip.height, FilterType::CatmullRom)
            .unwrap();
        assert_eq!(scaled.jpeg(chip.quality).unwrap(), chip.jpeg);
        if chip.quality < MAX_QUALITY {
            let next = scaled.jpeg(chip.quality + 1).unwrap().len();
            assert!(next > budget, "{budget}: {chip:?}, q+1 is {next} bytes");
        }
        for larger in FACE_WIDTHS
            .into_iter()
            .filter(|w| *w > chip.width && *w <= crop.width)
        {
            let at_min = crop
                .scaled(larger, larger / 3 * 4, FilterType::CatmullRom)
                .unwrap()
                .jpeg(FACE_MIN_GOOD_QUALITY)
                .unwrap()
                .len();
            assert!(
                at_min > budget,
                "{budget}: {larger} would fit ({at_min} bytes)"
            );
        }
        Ok(chip)
    }

    #[test]
    fn a_search_from_any_start_keeps_the_guarantees() {
        let sample = karimov();
        for budget in [20_000, 11_000, 3_500] {
            let plain = face_jpeg(&sample, budget).unwrap();
            for start in [
                None,
                Some(1),
                Some(50),
                Some(plain.quality),
                Some(90),
                Some(100),
            ] {
                let chip = check_face_from(&sample, budget, start).unwrap();
                // The start changes how many encodes are tried, not which size is chosen.
                assert_eq!(chip.width, plain.width, "{budget} from {start:?}");
            }
        }
    }

    #[test]
    fn the_face_is_the_best_fit_at_every_budget() {
        let sample = karimov();
        let mut widths = Vec::new();
        for budget in [80_000, 20_000, 15_000, 11_000, 8_000, 6_000, 3_500] {
            widths.push(check_face(&sample, budget).unwrap());
        }
        // The budgets reach every rung, down to the smallest width at a low quality.
        assert_eq!(widths.first(), Some(&480));
        assert!(widths.contains(&420) || widths.contains(&360), "{widths:?}");
        assert_eq!(widths.last(), Some(&MIN_FACE_WIDTH));
        let low = face_jpeg(&sample, 3_500).unwrap();
        assert!(low.quality < FACE_MIN_GOOD_QUALITY, "{low:?}");
    }

    #[test]
    fn a_noisy_or_large_photo_keeps_the_guarantees() {
        for (w, h) in [(480, 640), (1000, 1200), (300, 400)] {
            let bytes = noisy(w, h);
            for budget in [60_000, 30_000, 20_000, 12_000, 7_000] {
                match check_face(&bytes, budget) {
                    Ok(_) | Err(ImageProblem::OverBudget { .. }) => {}
                    Err(e) => panic!("{w}x{h} {budget}: {e}"),
                }
            }
        }
    }

    #[test]
    fn over_budget_names_the_smallest_face_at_the_lowest_quality() {
        let sample = karimov();
        let smallest = face_crop(&sample)
            .unwrap()
            .scaled(MIN_FACE_WIDTH, MIN_FACE_HEIGHT, FilterType::CatmullRom)
            .unwrap()
            .jpeg(MIN_QUALITY)
            .unwrap()
            .len();
        assert_eq!(
            face_jpeg(&sample, 300).unwrap_err(),
            ImageProblem::OverBudget {
                budget: 300,
                smallest,
                width: MIN_FACE_WIDTH,
                height: MIN_FACE_HEIGHT,
            }
        );
    }

    #[test]
    fn the_signature_is_the_best_fit() {
        let mut img = RgbaImage::from_pixel(800, 300, image::Rgba([0, 0, 0, 0]));
        for x in 100..700u32 {
            let y = 150.0 + 60.0 * (x as f32 / 40.0).sin();
            for dy in 0..4 {
                img.put_pixel(x, y as u32 + dy, image::Rgba([10, 20, 90, 255]));
            }
        }
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let png = png.into_inner();
        for budget in [6_000, 3_000, 1_500] {
            let chip = signature_jpeg(&png, budget).unwrap();
            assert!(chip.jpeg.len() <= budget, "{budget}: {chip:?}");
            let back = image::load_from_memory_with_format(&chip.jpeg, ImageFormat::Jpeg).unwrap();
            assert_eq!((back.width(), back.height()), (chip.width, chip.height));
            assert_eq!(back.color(), image::ColorType::L8);
            let scaled = signature_crop(&png)
                .unwrap()
                .scaled(chip.width, chip.height, FilterType::Triangle)
                .unwrap();
            assert_eq!(scaled.jpeg(chip.quality).unwrap(), chip.jpeg);
            if chip.quality < MAX_QUALITY {
                assert!(
                    scaled.jpeg(chip.quality + 1).unwrap().len() > budget,
                    "{chip:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Any budget: within it, or over budget only when even 240x320 at quality 5 is not.
        #[test]
        fn any_budget_keeps_the_guarantees(budget in 1_000usize..70_000) {
            match check_face(&karimov(), budget) {
                Ok(_) => {}
                Err(ImageProblem::OverBudget { smallest, .. }) => prop_assert!(smallest > budget),
                Err(e) => panic!("{budget}: {e}"),
            }
        }
    }
}
