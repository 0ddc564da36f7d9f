//! The quality search: the highest JPEG quality whose file fits a byte budget, in as few encodes as
//! the sizes allow.
//!
//! What is guaranteed (and tested, on synthetic size curves and on real encodes): the returned
//! quality `q` was encoded and fits; `q + 1` was encoded and did not fit, unless `q` is the maximum.
//! That is exactly what the former bisection guaranteed: JPEG size grows with quality nearly but
//! not strictly, so "highest that fits" means this local boundary. A search is rejected only when
//! the minimum quality itself was encoded and did not fit.
//!
//! How: JPEG size is close to linear in `ln(scale)` on a log scale, where `scale` is libjpeg's
//! quantisation factor for the quality (5000/q below 50, 200-2q above); the search predicts where
//! the size crosses the budget (from one size and a typical slope, or from the two sizes either
//! side), encodes the highest quality predicted to fit, and narrows the bracket. A prediction that
//! lands on a bracket end steps inward by one, so a good prediction ends in two encodes (q fits,
//! q+1 does not). After [`INTERPOLATED_STEPS`] encodes it falls back to bisection, so a size curve
//! with jumps (re-encoding an image near its original quality) costs at most a few more.
//!
//! For the face, where a full encode is the main cost, the prediction comes instead from
//! [`Sampled`]: encodes of a quarter of the image's rows, scaled by the ratio the latest full
//! encode showed. It follows jumps in the curve that interpolation cannot see.

use crate::ImageProblem;

/// A typical `d ln(size) / d ln(scale)`: sizes grow as the scale falls. Measured on portraits
/// between qualities 50 and 95 (-0.5 to -0.9); the search corrects it as soon as it has two sizes.
const PRIOR_SLOPE: f64 = -0.75;
/// Where a search starts when nothing is known yet about the image.
pub(crate) const FIRST_GUESS: u8 = 80;
/// Encodes guided by interpolation before the search falls back to bisection.
const INTERPOLATED_STEPS: u32 = 4;

/// libjpeg's quantisation scale, in percent of the base tables, as a log.
fn log_scale(quality: u8) -> f64 {
    let q = f64::from(quality.clamp(1, 99));
    let scale = if q < 50.0 {
        5000.0 / q
    } else {
        200.0 - 2.0 * q
    };
    scale.ln()
}

/// The (real-valued) quality whose log scale is `x`, the inverse of [`log_scale`].
fn quality_at(x: f64) -> f64 {
    let scale = x.exp();
    if scale <= 100.0 {
        (200.0 - scale) / 2.0
    } else {
        5000.0 / scale
    }
}

/// The quality at which a size curve through `(quality, size)` with `slope` reaches `budget`.
fn predict(quality: u8, size: usize, slope: f64, budget: usize) -> f64 {
    let x = log_scale(quality) + ((budget as f64).ln() - (size.max(1) as f64).ln()) / slope;
    quality_at(x)
}

/// A first quality to try, from a size `predicted` at `quality` (another size of the same image).
pub(crate) fn guess_from(quality: u8, predicted: f64, budget: usize) -> u8 {
    let x = log_scale(quality) + ((budget as f64).ln() - predicted.max(1.0).ln()) / PRIOR_SLOPE;
    quality_at(x).floor().clamp(1.0, 100.0) as u8
}

/// The slope between two measured points, if it is a plausible one (sizes grow with quality).
fn slope_between(a: (u8, usize), b: (u8, usize)) -> Option<f64> {
    let dx = log_scale(a.0) - log_scale(b.0);
    if dx.abs() < 1e-9 {
        return None;
    }
    let s = ((a.1.max(1) as f64).ln() - (b.1.max(1) as f64).ln()) / dx;
    (-4.0..-0.05).contains(&s).then_some(s)
}

/// The search's result.
#[derive(Debug)]
pub(crate) enum Fit {
    /// The highest quality that fits (see the module docs for what "highest" means), its bytes.
    Fits {
        /// The quality.
        quality: u8,
        /// The JPEG.
        jpeg: Vec<u8>,
    },
    /// Even the minimum quality is over budget: its size.
    Over {
        /// Bytes at the minimum quality.
        size_at_min: usize,
    },
}

/// A cheap model of the full encode: the JPEG sizes of a sample of the image (a band of rows in
/// every few), times the full-to-sample size ratio of the latest full encode. A sample encode costs
/// about a third of a full one, and after one full encode its prediction is within a few percent
/// near that quality, so the full encodes are mostly the two that prove the boundary.
pub(crate) struct Sampled<'a> {
    /// The size of the sample's JPEG at a quality.
    size: &'a mut dyn FnMut(u8) -> Result<usize, ImageProblem>,
    /// Sample sizes by quality (index 0 unused).
    sizes: Vec<Option<usize>>,
    /// Full size over sample size: the row ratio until a full encode calibrates it.
    ratio: f64,
}

impl<'a> Sampled<'a> {
    /// A model from the sample's encoder and the prior full-to-sample ratio (the row ratio).
    pub(crate) fn new(
        size: &'a mut dyn FnMut(u8) -> Result<usize, ImageProblem>,
        prior_ratio: f64,
    ) -> Self {
        Sampled {
            size,
            sizes: vec![None; 101],
            ratio: prior_ratio,
        }
    }

    fn at(&mut self, quality: u8) -> Result<usize, ImageProblem> {
        let slot = usize::from(quality.min(100));
        if let Some(size) = self.sizes[slot] {
            return Ok(size);
        }
        let size = (self.size)(quality)?;
        self.sizes[slot] = Some(size);
        Ok(size)
    }

    /// Calibrates the ratio on a full encode's size.
    fn calibrate(&mut self, quality: u8, full_size: usize) -> Result<(), ImageProblem> {
        self.ratio = full_size as f64 / self.at(quality)?.max(1) as f64;
        Ok(())
    }

    /// The highest quality in `low..=high` predicted to fit `budget`, or `low` if none is (a
    /// prediction: it assumes size grows with quality; the search proves the result). Gallops
    /// out from `near` (the latest full encode's quality), where the answer usually is, so a
    /// recalibration costs one or two sample encodes, not a new bisection.
    fn highest_fitting(
        &mut self,
        low: u8,
        high: u8,
        near: u8,
        budget: usize,
    ) -> Result<u8, ImageProblem> {
        let budget = budget as f64;
        let fits = |m: &mut Self, q: u8| -> Result<bool, ImageProblem> {
            Ok(m.at(q)? as f64 * m.ratio <= budget)
        };
        // Bracket [a, b]: a fits (or is `low`), everything above b is predicted not to.
        let near = near.clamp(low, high);
        let (mut a, mut b);
        if fits(self, near)? {
            a = near;
            b = high;
            let mut step = 1u8;
            while a < b {
                let probe = a.saturating_add(step).min(b);
                if fits(self, probe)? {
                    a = probe;
                    step = step.saturating_mul(2);
                } else {
                    b = probe - 1;
                    break;
                }
            }
        } else {
            // `near` does not fit: gallop down to a quality that does.
            if near == low {
                return Ok(low);
            }
            b = near - 1;
            let mut step = 1u8;
            loop {
                let probe = near.saturating_sub(step).max(low);
                if fits(self, probe)? {
                    a = probe;
                    break;
                }
                if probe == low {
                    return Ok(low);
                }
                b = probe - 1;
                step = step.saturating_mul(2);
            }
        }
        while a < b {
            let mid = a + (b - a).div_ceil(2);
            if fits(self, mid)? {
                a = mid;
            } else {
                b = mid - 1;
            }
        }
        Ok(a)
    }
}

/// Where the search starts and what predicts its next step.
pub(crate) enum Start<'a> {
    /// At this quality (clamped into the range), then by interpolating the sizes found.
    At(u8),
    /// At this quality, which is probably the answer (the previous record's: photos from one
    /// capture station compress alike), then at its neighbour on the side the size points to
    /// (`q + 1` if `q` fits, `q - 1` if not), so a right guess ends in the two encodes that prove
    /// it; then as [`Start::At`].
    Near(u8),
    /// Where the sample model predicts, then by the model calibrated on each full encode.
    Sampled(Sampled<'a>),
}

/// Searches `min..=max` for the highest quality whose `encode` output fits `budget`, as `start`
/// says. `encode` is called once per quality at most.
pub(crate) fn best_fit(
    encode: &mut dyn FnMut(u8) -> Result<Vec<u8>, ImageProblem>,
    budget: usize,
    min: u8,
    max: u8,
    start: Start<'_>,
) -> Result<Fit, ImageProblem> {
    debug_assert!(min <= max);
    // The bracket: `fits` is the highest quality known to fit, `over` the lowest known above it
    // that does not. Both are real encodes.
    let mut fits: Option<(u8, Vec<u8>)> = None;
    let mut over: Option<(u8, usize)> = None;
    let mut last: Option<(u8, usize)> = None;
    let mut steps = 0u32;
    let near = matches!(start, Start::Near(_));
    let (mut model, mut guess) = match start {
        Start::At(q) | Start::Near(q) => (None, q.clamp(min, max)),
        Start::Sampled(mut m) => {
            let q = m.highest_fitting(min, max, FIRST_GUESS, budget)?;
            (Some(m), q)
        }
    };
    loop {
        let bytes = encode(guess)?;
        steps += 1;
        let size = bytes.len();
        if let Some(m) = model.as_mut() {
            m.calibrate(guess, size)?;
        }
        let previous = last.replace((guess, size));
        let same_side = previous.is_some_and(|p| (p.1 <= budget) == (size <= budget));
        if size <= budget {
            fits = Some((guess, bytes));
        } else {
            over = Some((guess, size));
        }
        // The open interval still to search: (low, high), as i16 so min - 1 and max + 1 exist.
        let low = fits.as_ref().map_or(i16::from(min) - 1, |f| i16::from(f.0));
        let high = over.map_or(i16::from(max) + 1, |o| i16::from(o.0));
        if high - low <= 1 {
            return Ok(match fits {
                Some((quality, jpeg)) => Fit::Fits { quality, jpeg },
                // Nothing fits and the minimum was encoded: `over` is the minimum.
                None => Fit::Over {
                    size_at_min: over.map_or(size, |o| o.1),
                },
            });
        }
        let predicted = if steps >= INTERPOLATED_STEPS {
            None
        } else if near && steps == 1 {
            // The neighbour on the open side; the clamp below keeps it inside the bracket.
            Some(if size <= budget {
                f64::from(guess) + 1.0
            } else {
                f64::from(guess) - 1.0
            })
        } else if let Some(m) = model.as_mut() {
            // In range: low + 1 >= min >= 1 and high - 1 <= max <= 100.
            let q = m.highest_fitting((low + 1) as u8, (high - 1) as u8, guess, budget)?;
            Some(f64::from(q))
        } else if let (Some((fq, fbytes)), Some(o)) = (&fits, over) {
            // Both sides known: interpolate between them, unless the same end moved twice in a
            // row; then the curve bends (or jumps) there and interpolation would creep, one
            // quality at a time, so bisect once.
            if same_side {
                None
            } else {
                let f = (*fq, fbytes.len());
                slope_between(f, o).map(|s| predict(f.0, f.1, s, budget))
            }
        } else {
            // One side only: the latest two sizes give the local slope, else the typical one.
            let slope = previous
                .and_then(|p| slope_between(p, (guess, size)))
                .unwrap_or(PRIOR_SLOPE);
            Some(predict(guess, size, slope, budget))
        };
        let next = match predicted {
            // The highest quality predicted to fit, stepped inside the bracket.
            Some(q) if q.is_finite() => (q.floor() as i16).clamp(low + 1, high - 1),
            _ => low + (high - low) / 2,
        };
        // In 1..=100 by the clamp: low + 1 >= min and high - 1 <= max.
        guess = next as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs the search on a size table (index = quality), counting encodes and checking each
    /// quality is encoded once.
    fn run(sizes: &[usize; 101], budget: usize, min: u8, max: u8, guess: u8) -> (Fit, Vec<u8>) {
        let mut asked = Vec::new();
        let fit = best_fit(
            &mut |q| {
                asked.push(q);
                Ok(vec![0; sizes[usize::from(q)]])
            },
            budget,
            min,
            max,
            Start::At(guess),
        )
        .unwrap();
        (fit, asked)
    }

    /// The same with the sample model, whose sizes are `sample`; returns the sample's qualities.
    fn run_sampled(
        sizes: &[usize; 101],
        sample: &[usize; 101],
        budget: usize,
        min: u8,
    ) -> (Fit, Vec<u8>, Vec<u8>) {
        let (mut asked, mut sampled) = (Vec::new(), Vec::new());
        let mut sample_size = |q: u8| {
            sampled.push(q);
            Ok(sample[usize::from(q)])
        };
        let fit = best_fit(
            &mut |q| {
                asked.push(q);
                Ok(vec![0; sizes[usize::from(q)]])
            },
            budget,
            min,
            95,
            Start::Sampled(Sampled::new(&mut sample_size, 4.0)),
        )
        .unwrap();
        (fit, asked, sampled)
    }

    /// A portrait-like curve: `base * exp(slope * ln scale)`.
    fn smooth(base: f64, slope: f64) -> [usize; 101] {
        std::array::from_fn(|q| (base * (slope * log_scale(q.max(1) as u8)).exp()) as usize)
    }

    /// A smooth size curve with `noise` added at each quality: not monotonic.
    fn noisy(base: usize, noise: &[usize]) -> [usize; 101] {
        let mut sizes = smooth(base as f64, -0.8);
        for (s, n) in sizes.iter_mut().zip(noise) {
            *s += n;
        }
        sizes
    }

    fn check(sizes: &[usize; 101], budget: usize, min: u8, max: u8, fit: &Fit, asked: &[u8]) {
        let mut unique = asked.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            asked.len(),
            "a quality encoded twice: {asked:?}"
        );
        match fit {
            Fit::Fits { quality, jpeg } => {
                assert!((min..=max).contains(quality));
                assert!(asked.contains(quality));
                assert_eq!(jpeg.len(), sizes[usize::from(*quality)]);
                assert!(jpeg.len() <= budget);
                if *quality < max {
                    assert!(
                        asked.contains(&(quality + 1)),
                        "{quality}+1 not tried: {asked:?}"
                    );
                    assert!(sizes[usize::from(*quality) + 1] > budget);
                }
            }
            Fit::Over { size_at_min } => {
                assert!(asked.contains(&min));
                assert_eq!(*size_at_min, sizes[usize::from(min)]);
                assert!(*size_at_min > budget);
            }
        }
    }

    #[test]
    fn a_smooth_curve_takes_two_or_three_encodes() {
        let sizes = smooth(60_000.0, -0.8);
        for budget in [12_000, 15_000, 20_000, 25_000, 30_000] {
            let (fit, asked) = run(&sizes, budget, 70, 95, 75);
            check(&sizes, budget, 70, 95, &fit, &asked);
            assert!(asked.len() <= 3, "{budget}: {asked:?}");
        }
    }

    #[test]
    fn the_maximum_and_the_rejection_end_at_once() {
        let sizes = smooth(60_000.0, -0.8);
        let (fit, asked) = run(&sizes, 1_000_000, 70, 95, 95);
        assert!(matches!(fit, Fit::Fits { quality: 95, .. }));
        assert_eq!(asked, [95]);
        let (fit, asked) = run(&sizes, 100, 70, 95, 70);
        assert!(matches!(fit, Fit::Over { .. }));
        assert_eq!(asked, [70]);
    }

    #[test]
    fn a_jump_in_the_curve_still_ends_at_the_boundary() {
        // Re-encoding a JPEG near its own quality: sizes leap between 75 and 80.
        let mut sizes = smooth(40_000.0, -0.6);
        for s in &mut sizes[80..] {
            *s *= 2;
        }
        for budget in [15_000, 20_000, 30_000, 45_000] {
            let (fit, asked) = run(&sizes, budget, 70, 95, 75);
            check(&sizes, budget, 70, 95, &fit, &asked);
            assert!(asked.len() <= 8, "{budget}: {asked:?}");
        }
    }

    #[test]
    fn the_sample_model_needs_two_full_encodes_when_it_is_close() {
        // Sample sizes a quarter of the full ones, give or take 3%, with the jump at 80.
        let mut sizes = smooth(40_000.0, -0.6);
        for s in &mut sizes[80..] {
            *s *= 2;
        }
        let sample: [usize; 101] = std::array::from_fn(|q| sizes[q] * (97 + (q % 7)) / 400);
        for budget in [10_000, 15_000, 20_000, 30_000] {
            let (fit, asked, sampled) = run_sampled(&sizes, &sample, budget, 70);
            check(&sizes, budget, 70, 95, &fit, &asked);
            assert!(asked.len() <= 3, "{budget}: {asked:?}");
            let mut unique = sampled.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), sampled.len(), "sampled twice: {sampled:?}");
        }
    }

    /// The search from a `Start::Near` hint, counting encodes.
    fn run_near(sizes: &[usize; 101], budget: usize, min: u8, hint: u8) -> (Fit, Vec<u8>) {
        let mut asked = Vec::new();
        let fit = best_fit(
            &mut |q| {
                asked.push(q);
                Ok(vec![0; sizes[usize::from(q)]])
            },
            budget,
            min,
            95,
            Start::Near(hint),
        )
        .unwrap();
        (fit, asked)
    }

    #[test]
    fn a_right_hint_takes_the_two_encodes_that_prove_it() {
        // From about 10 kB at quality 50 to 60 kB at 95.
        let sizes = smooth(400_000.0, -0.8);
        for budget in [12_000, 15_000, 20_000, 25_000, 40_000] {
            // The answer, found the long way.
            let (Fit::Fits { quality, .. }, _) = run(&sizes, budget, 5, 95, 50) else {
                panic!("{budget} does not fit");
            };
            let (fit, asked) = run_near(&sizes, budget, 5, quality);
            check(&sizes, budget, 5, 95, &fit, &asked);
            assert_eq!(asked, [quality, quality + 1], "{budget}");
            // One off either way: three.
            let (fit, asked) = run_near(&sizes, budget, 5, quality + 1);
            check(&sizes, budget, 5, 95, &fit, &asked);
            assert_eq!(asked, [quality + 1, quality], "{budget}");
            let (fit, asked) = run_near(&sizes, budget, 5, quality - 1);
            check(&sizes, budget, 5, 95, &fit, &asked);
            assert!(asked.len() <= 3, "{budget}: {asked:?}");
        }
    }

    proptest! {
        /// A hint, right or wrong, never weakens the guarantee, on any curve.
        #[test]
        fn the_boundary_holds_from_any_hint(
            base in 1_000usize..80_000,
            noise in proptest::collection::vec(0usize..3_000, 101),
            budget in 500usize..100_000,
            min in 1u8..=95,
            hint in 0u8..=100,
        ) {
            let sizes = noisy(base, &noise);
            let (fit, asked) = run_near(&sizes, budget, min, hint);
            check(&sizes, budget, min, 95, &fit, &asked);
            prop_assert!(asked.len() <= INTERPOLATED_STEPS as usize + 8, "{:?}", asked);
        }

        /// Any curve, monotonic or not, any budget and start: the local guarantee holds, and the
        /// search never needs more encodes than interpolation plus a full bisection.
        #[test]
        fn the_boundary_holds_on_any_curve(
            base in 1_000usize..80_000,
            noise in proptest::collection::vec(0usize..3_000, 101),
            budget in 500usize..100_000,
            min in 1u8..=95,
            guess in 1u8..=100,
        ) {
            let sizes = noisy(base, &noise);
            let (fit, asked) = run(&sizes, budget, min, 95, guess);
            check(&sizes, budget, min, 95, &fit, &asked);
            prop_assert!(asked.len() <= INTERPOLATED_STEPS as usize + 8, "{:?}", asked);
        }

        /// The sample model, however wrong, never weakens the guarantee.
        #[test]
        fn a_wrong_sample_model_still_ends_at_the_boundary(
            base in 1_000usize..80_000,
            sample in proptest::collection::vec(1usize..40_000, 101),
            budget in 500usize..100_000,
            min in 1u8..=95,
        ) {
            let sizes = smooth(base as f64, -0.8);
            let sample: [usize; 101] = std::array::from_fn(|q| sample[q]);
            let (fit, asked, _) = run_sampled(&sizes, &sample, budget, min);
            check(&sizes, budget, min, 95, &fit, &asked);
            prop_assert!(asked.len() <= INTERPOLATED_STEPS as usize + 8, "{:?}", asked);
        }
    }
}
