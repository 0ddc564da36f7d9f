//! The pixels as `jpeg-encoder` reads them, prepared once for all the encodes of a quality search.
//!
//! Why: a search encodes the same raster two to four times. Given RGB, `jpeg-encoder` converts
//! every row to YCbCr and box-averages the chroma for 4:2:0 on every encode, and its averaging is
//! scalar code that took a quarter of each encode (the conversion another tenth; callgrind on the
//! samples). Here both are done once: Y, Cb and Cr planes, with each 2x2 square of the chroma
//! planes already holding its average, so the encoder's plain sampling (which takes the top-left
//! sample of each square) reads exactly what its averaging would have computed. The conversion is
//! the encoder's own fixed-point formula and the averaging its rounding (libjpeg's, alternating the
//! bias by column), so the JPEG is byte for byte the one the encoder makes from RGB, for any image
//! whose width is a multiple of 16 (a test checks it). On the last MCU column of other widths, the
//! padding the decoder crops away may differ by one level.
//!
//! Since issue 19 the planes are encoded by [`crate::baseline`] (the DCT once per search, the same
//! bytes); `jpeg-encoder`'s path through `ImageBuffer` remains here, in the tests, as its judge.
//!
//! Must not: change what the encoder is asked for (quality, sampling, tables) between the two paths.

#[cfg(test)]
use jpeg_encoder::{
    ChromaSubsamplingMethod, ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor,
};

#[cfg(test)]
use crate::ImageProblem;
use crate::baseline::{Coefficients, Plane};

/// The face's chroma subsampling (see the `encode` module docs), as `jpeg-encoder` is asked for
/// it in the tests that judge [`crate::baseline`].
#[cfg(test)]
pub(crate) const FACE_SAMPLING: SamplingFactor = SamplingFactor::F_2_2;

/// Full-resolution Y, Cb and Cr planes; the chroma planes hold each 2x2 square's average.
pub(crate) struct Ycbcr {
    y: Vec<u8>,
    cb: Vec<u8>,
    cr: Vec<u8>,
    width: u16,
    height: u16,
}

/// What one search encodes from.
pub(crate) enum Planes<'a> {
    /// Colour, for 4:2:0.
    Ycbcr(Ycbcr),
    /// Grey, as it is.
    Grey {
        /// Rows packed.
        pixels: &'a [u8],
        /// Width.
        width: u16,
        /// Height.
        height: u16,
    },
}

impl Planes<'_> {
    /// The DCT coefficients, computed once for every quality a search tries.
    pub(crate) fn coefficients(&self) -> Coefficients {
        match self {
            Planes::Ycbcr(planes) => planes.coefficients(),
            Planes::Grey {
                pixels,
                width,
                height,
            } => Coefficients::grey(
                &Plane {
                    samples: pixels,
                    width: usize::from(*width),
                    height: usize::from(*height),
                },
                *width,
                *height,
            ),
        }
    }

    /// The JPEG at `quality`, by `jpeg-encoder` (the judge of [`crate::baseline`]'s bytes).
    #[cfg(test)]
    pub(crate) fn jpeg(&self, quality: u8) -> Result<Vec<u8>, ImageProblem> {
        // Room for a typical chip image, so the output is not regrown while encoding.
        let mut out = Vec::with_capacity(32 * 1024);
        let mut encoder = Encoder::new(&mut out, quality);
        let done = match self {
            Planes::Ycbcr(planes) => {
                encoder.set_sampling_factor(FACE_SAMPLING);
                // The averaging is done: sampling the squares reads the averages.
                encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Nearest);
                encoder.encode_image(planes)
            }
            Planes::Grey {
                pixels,
                width,
                height,
            } => encoder.encode(pixels, *width, *height, ColorType::Luma),
        };
        done.map_err(|e| ImageProblem::Encode {
            reason: e.to_string(),
        })?;
        Ok(out)
    }
}

impl Ycbcr {
    /// The DCT coefficients of the 4:2:0 scan, for [`crate::baseline`] to encode at any quality.
    pub(crate) fn coefficients(&self) -> Coefficients {
        let plane = |samples| Plane {
            samples,
            width: usize::from(self.width),
            height: usize::from(self.height),
        };
        Coefficients::ycbcr_420(
            &plane(&self.y),
            &plane(&self.cb),
            &plane(&self.cr),
            self.width,
            self.height,
        )
    }
}

#[cfg(test)]
impl ImageBuffer for &Ycbcr {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.width
    }
    fn height(&self) -> u16 {
        self.height
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = usize::from(self.width);
        let row = usize::from(y) * w..(usize::from(y) + 1) * w;
        buffers[0].extend_from_slice(&self.y[row.clone()]);
        buffers[1].extend_from_slice(&self.cb[row.clone()]);
        buffers[2].extend_from_slice(&self.cr[row]);
    }
}

/// `jpeg-encoder`'s RGB to YCbCr (JFIF, fixed point scaled by 2^16), the same integer formula as
/// its scalar and AVX2 paths.
fn ycbcr(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = 19595 * r + 38470 * g + 7471 * b;
    let cb = -11059 * r - 21709 * g + 32768 * b + (128 << 16);
    let cr = 32768 * r - 27439 * g - 5329 * b + (128 << 16);
    // Each is within 0..=255 << 16 by the coefficients, so the casts do not wrap.
    (
        ((y + 0x7FFF) >> 16) as u8,
        ((cb + 0x7FFF) >> 16) as u8,
        ((cr + 0x7FFF) >> 16) as u8,
    )
}

/// The planes of packed RGB `pixels` (`width` x `height`, both non-zero), chroma averaged over
/// each 2x2 square as `jpeg-encoder`'s `ChromaSubsamplingMethod::Average` does: the edge row and
/// column repeated where a square sticks out, and the rounding bias 1 on even output columns, 2 on
/// odd ones (libjpeg's `jcsample.c`).
pub(crate) fn ycbcr_420(pixels: &[u8], width: u16, height: u16) -> Ycbcr {
    let (w, h) = (usize::from(width), usize::from(height));
    let n = w * h;
    let (mut y, mut cb, mut cr) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
    // Sixteen pixels at a time with fixed-size arrays, so the compiler vectorizes the formula.
    const RUN: usize = 16;
    let runs = pixels[..n * 3]
        .chunks_exact(3 * RUN)
        .zip(y.chunks_exact_mut(RUN))
        .zip(cb.chunks_exact_mut(RUN).zip(cr.chunks_exact_mut(RUN)));
    for ((px, y), (cb, cr)) in runs {
        for i in 0..RUN {
            (y[i], cb[i], cr[i]) = ycbcr(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
        }
    }
    for i in n / RUN * RUN..n {
        let px = &pixels[3 * i..3 * i + 3];
        (y[i], cb[i], cr[i]) = ycbcr(px[0], px[1], px[2]);
    }
    average_squares(&mut cb, w, h);
    average_squares(&mut cr, w, h);
    Ycbcr {
        y,
        cb,
        cr,
        width,
        height,
    }
}

/// Replaces every sample of each 2x2 square of `plane` by the square's average (see
/// [`ycbcr_420`]).
fn average_squares(plane: &mut [u8], w: usize, h: usize) {
    // Below an even height the encoder repeats the last row and averages it with itself; it
    // reads those squares from the last row, which no square inside the image is read from.
    let below = h.is_multiple_of(2).then(|| {
        let mut row = plane[(h - 1) * w..][..w].to_vec();
        average_row_pair(&mut row.clone(), &mut row);
        row
    });
    let mut pairs = plane.chunks_exact_mut(2 * w);
    for pair in &mut pairs {
        let (top, bottom) = pair.split_at_mut(w);
        average_row_pair(top, bottom);
    }
    // An odd height: the last row pairs with itself.
    let last = pairs.into_remainder();
    if !last.is_empty() {
        let mut copy = last.to_vec();
        average_row_pair(&mut copy, last);
    }
    if let Some(row) = below {
        plane[(h - 1) * w..][..w].copy_from_slice(&row);
    }
}

/// Averages the 2x2 squares of two rows in place (the rounding bias 1 on even squares, 2 on odd
/// ones); an odd last column pairs with itself.
fn average_row_pair(top: &mut [u8], bottom: &mut [u8]) {
    let squares = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
    let mut k = 0u16;
    for (t, b) in squares {
        let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
        let avg = ((sum + 1 + (k & 1)) / 4) as u8;
        k = k.wrapping_add(1);
        (t[0], t[1], b[0], b[1]) = (avg, avg, avg, avg);
    }
    if !top.len().is_multiple_of(2) {
        let (t, b) = (top.len() - 1, bottom.len() - 1);
        let sum = 2 * (u16::from(top[t]) + u16::from(bottom[b]));
        let avg = ((sum + 1 + (k & 1)) / 4) as u8;
        (top[t], bottom[b]) = (avg, avg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the encoder makes from RGB itself, with its own averaging.
    fn from_rgb(pixels: &[u8], w: u16, h: u16, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, quality);
        encoder.set_sampling_factor(FACE_SAMPLING);
        encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
        encoder.encode(pixels, w, h, ColorType::Rgb).unwrap();
        out
    }

    fn noise(w: u16, h: u16, seed: u32) -> Vec<u8> {
        let n = u32::from(w) * u32::from(h) * 3;
        (0..n)
            .map(|i| {
                let x = (i ^ seed).wrapping_mul(2_654_435_761);
                ((x >> 13) % 256) as u8
            })
            .collect()
    }

    #[test]
    fn the_conversion_is_the_encoders_for_every_colour() {
        for r in 0..=255u8 {
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    assert_eq!(ycbcr(r, g, b), jpeg_encoder::rgb_to_ycbcr(r, g, b));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Widths that are whole MCUs: the same bytes as the encoder's own RGB path, at any
        /// height (odd ones included) and quality.
        #[test]
        fn whole_mcu_widths_give_the_encoders_bytes(
            mcus in 1u16..6,
            h in 1u16..70,
            quality in 1u8..=100,
            seed in any::<u32>(),
        ) {
            let w = mcus * 16;
            let rgb = noise(w, h, seed);
            let ours = Planes::Ycbcr(ycbcr_420(&rgb, w, h)).jpeg(quality).unwrap();
            prop_assert_eq!(ours, from_rgb(&rgb, w, h, quality));
        }

        /// Any size: a JPEG that decodes to the size asked and is as close to the image as the
        /// encoder's own (the padding, which decoders crop away, is the only place the two
        /// paths may differ; it reaches the visible pixels only through chroma upsampling).
        #[test]
        fn any_size_is_as_close_as_the_encoders(
            w in 1u16..90,
            h in 1u16..90,
            seed in any::<u32>(),
        ) {
            // A gradient with some noise: photo-like, not the worst case of pure noise.
            let rgb: Vec<u8> = noise(w, h, seed)
                .iter()
                .enumerate()
                .map(|(i, n)| ((i / 3) % usize::from(w) * 2 + usize::from(n % 16)).min(255) as u8)
                .collect();
            let error = |jpeg: &[u8]| {
                let back = image::load_from_memory(jpeg).unwrap().to_rgb8();
                assert_eq!(back.dimensions(), (u32::from(w), u32::from(h)));
                let total: u64 = back
                    .as_raw()
                    .iter()
                    .zip(&rgb)
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                total as f64 / rgb.len() as f64
            };
            let ours = error(&Planes::Ycbcr(ycbcr_420(&rgb, w, h)).jpeg(90).unwrap());
            let theirs = error(&from_rgb(&rgb, w, h, 90));
            prop_assert!(ours <= theirs + 0.5, "mean error {ours:.2} against {theirs:.2}");
        }
    }
}
