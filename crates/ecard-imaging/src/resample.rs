//! Downscaling for the chip images: a separable Catmull-Rom (Keys, a = -0.5) resampler in fixed
//! point, the same filter and sample positions as `image::imageops::resize` with
//! `FilterType::CatmullRom`, several times faster.
//!
//! Why not `image`'s: it converts every pixel to `f32` and back, recomputes the kernel per output
//! pixel and rounds with `roundf`; on a 480x640 crop it cost about as much as three JPEG encodes.
//! Here the weights are computed once per output column and row (14-bit fixed point, summing to
//! exactly 1), the horizontal pass writes 8-bit rows (as Pillow does) and the vertical pass runs
//! along whole rows, which the compiler vectorizes. Results differ from `image`'s by a level or two
//! of rounding, not in sharpness.
//!
//! Must not: read outside the source (edge taps are dropped and the rest renormalised, as
//! `image` does), or upscale (callers never ask; it would still work, with the kernel unscaled).

/// Fixed-point weights: 1.0 is `1 << PRECISION`.
const PRECISION: u32 = 14;

/// The resampling kernel, as `image`'s `FilterType` of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Linear (tent), support 1: soft, for line art such as signatures.
    Triangle,
    /// Keys cubic, support 2: sharp, for photos.
    CatmullRom,
}

impl Filter {
    /// How many source pixels either side the kernel reaches at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Triangle => 1.0,
            Filter::CatmullRom => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Triangle => (1.0 - x.abs()).max(0.0),
            Filter::CatmullRom => catmull_rom(x),
        }
    }
}

/// The Keys cubic with a = -0.5 (Catmull-Rom), as `image`'s `bc_cubic_spline(x, 0, 0.5)`.
fn catmull_rom(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        (1.5 * x - 2.5) * x * x + 1.0
    } else if x < 2.0 {
        ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    } else {
        0.0
    }
}

/// The source taps of one output sample: the first source index and one weight per tap.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Taps for every output position along one axis, from `src` samples to `dst`.
fn taps(src: u32, dst: u32, filter: Filter) -> Vec<Taps> {
    let ratio = f64::from(src) / f64::from(dst);
    // Downscaling widens the kernel so every source sample contributes (no aliasing).
    let stretch = ratio.max(1.0);
    let support = filter.support() * stretch;
    (0..dst)
        .map(|i| {
            // The output sample's centre in source coordinates.
            let centre = (f64::from(i) + 0.5) * ratio;
            let left = ((centre - support).floor().max(0.0)) as usize;
            let right = ((centre + support).ceil() as usize).min(src as usize);
            let raw: Vec<f64> = (left..right)
                .map(|j| filter.weight((j as f64 + 0.5 - centre) / stretch))
                .collect();
            let sum: f64 = raw.iter().sum();
            let one = f64::from(1u32 << PRECISION);
            let mut weights: Vec<i32> =
                raw.iter().map(|w| (w / sum * one).round() as i32).collect();
            // Rounding can leave the sum a unit off: put the difference on the largest weight, so
            // a flat area stays exactly flat.
            let error = (1i32 << PRECISION) - weights.iter().sum::<i32>();
            if let Some(max) = weights.iter_mut().max_by_key(|w| **w) {
                *max += error;
            }
            Taps {
                start: left,
                weights,
            }
        })
        .collect()
}

/// Back from fixed point to a sample: rounded and clamped (Catmull-Rom overshoots at edges).
fn to_u8(acc: i32) -> u8 {
    ((acc + (1 << (PRECISION - 1))) >> PRECISION).clamp(0, 255) as u8
}

/// Resizes interleaved 8-bit pixels with `C` channels from `(sw, sh)` to `(dw, dh)`.
///
/// `src` must hold `sw * sh * C` bytes; the result holds `dw * dh * C`.
pub(crate) fn resize<const C: usize>(
    src: &[u8],
    (sw, sh): (u32, u32),
    (dw, dh): (u32, u32),
    filter: Filter,
) -> Vec<u8> {
    let (sw_us, dw_us) = (sw as usize, dw as usize);
    debug_assert_eq!(src.len(), sw_us * sh as usize * C);
    // Horizontal pass: every source row to `dw` samples.
    let columns = taps(sw, dw, filter);
    let mut narrow = vec![0u8; dw_us * sh as usize * C];
    for (src_row, out_row) in src
        .chunks_exact(sw_us * C)
        .zip(narrow.chunks_exact_mut(dw_us * C))
    {
        for (tap, out) in columns.iter().zip(out_row.chunks_exact_mut(C)) {
            let mut acc = [0i32; C];
            let pixels = &src_row[tap.start * C..(tap.start + tap.weights.len()) * C];
            for (w, px) in tap.weights.iter().zip(pixels.chunks_exact(C)) {
                for c in 0..C {
                    acc[c] += w * i32::from(px[c]);
                }
            }
            for c in 0..C {
                out[c] = to_u8(acc[c]);
            }
        }
    }
    // Vertical pass: whole rows at a time.
    let rows = taps(sh, dh, filter);
    let stride = dw_us * C;
    let mut out = vec![0u8; stride * dh as usize];
    let mut acc = vec![0i32; stride];
    for (tap, out_row) in rows.iter().zip(out.chunks_exact_mut(stride)) {
        acc.fill(0);
        for (k, w) in tap.weights.iter().enumerate() {
            let row = &narrow[(tap.start + k) * stride..(tap.start + k + 1) * stride];
            for (a, p) in acc.iter_mut().zip(row) {
                *a += w * i32::from(*p);
            }
        }
        for (o, a) in out_row.iter_mut().zip(&acc) {
            *o = to_u8(*a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};
    use image::{ImageBuffer, Rgb, RgbImage};

    fn photo(w: u32, h: u32) -> RgbImage {
        ImageBuffer::from_fn(w, h, |x, y| {
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 23;
            Rgb([
                ((x * 255 / w) as u8).saturating_add(n as u8),
                ((y * 255 / h) as u8).saturating_sub(n as u8),
                (((x + y) * 7 % 256) as u8) / 2 + 40,
            ])
        })
    }

    #[test]
    fn weights_sum_to_one_and_stay_inside_the_source() {
        for (src, dst) in [
            (480, 420),
            (640, 560),
            (1200, 480),
            (481, 240),
            (7, 7),
            (5, 9),
        ] {
            for t in taps(src, dst, Filter::CatmullRom).into_iter().chain(taps(
                src,
                dst,
                Filter::Triangle,
            )) {
                assert_eq!(t.weights.iter().sum::<i32>(), 1 << PRECISION);
                assert!(t.start + t.weights.len() <= src as usize);
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let src = vec![77u8; 100 * 80 * 3];
        let out = resize::<3>(&src, (100, 80), (37, 29), Filter::CatmullRom);
        assert_eq!(out.len(), 37 * 29 * 3);
        assert!(out.iter().all(|&v| v == 77));
    }

    #[test]
    fn matches_image_within_rounding() {
        for ((sw, sh, dw, dh), (ours, theirs)) in [
            (480, 640, 420, 560),
            (480, 640, 240, 320),
            (900, 1200, 480, 640),
            (500, 140, 377, 105),
        ]
        .into_iter()
        .flat_map(|d| {
            [
                (Filter::CatmullRom, FilterType::CatmullRom),
                (Filter::Triangle, FilterType::Triangle),
            ]
            .map(|f| (d, f))
        }) {
            let src = photo(sw, sh);
            let ours = resize::<3>(src.as_raw(), (sw, sh), (dw, dh), ours);
            let theirs = imageops::resize(&src, dw, dh, theirs);
            let worst = ours
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            let mean = ours
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / ours.len() as f64;
            // 8-bit intermediate rows: a level of rounding per pass, a little more where the
            // kernel overshoots and one side clamps.
            assert!(
                worst <= 4 && mean < 0.6,
                "{sw}x{sh}->{dw}x{dh}: worst {worst}, mean {mean}"
            );
        }
    }
}
