//! Procedural drawing: a shaded face-like portrait and a handwritten-looking signature, from a
//! seed, with no downloaded data. Good enough to exercise cropping, scaling and JPEG budgets; not
//! meant to pass a face detector.

use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// A small deterministic generator (xorshift64*), so samples are reproducible byte for byte.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [a, b).
    pub fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * self.f()
    }
}

/// What makes one portrait different from another.
pub struct Look {
    pub skin: [f32; 3],
    pub hair: [f32; 3],
    pub iris: [f32; 3],
    pub shirt: [f32; 3],
    pub background: [f32; 3],
    pub long_hair: bool,
    pub head_rx: f32,
    pub head_ry: f32,
    pub hairline: f32,
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// Blends `color` into the float canvas with coverage `a`.
fn put(canvas: &mut [[f32; 3]], w: u32, x: u32, y: u32, color: [f32; 3], a: f32) {
    let i = (y * w + x) as usize;
    canvas[i] = mix(canvas[i], color, a.clamp(0.0, 1.0));
}

/// Fills an ellipse with anti-aliased edges; `shade(u, v)` gives the colour from the normalized
/// position inside (u, v in -1..1).
#[allow(clippy::too_many_arguments)]
fn ellipse(
    canvas: &mut [[f32; 3]],
    w: u32,
    h: u32,
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
    shade: &dyn Fn(f32, f32) -> Option<[f32; 3]>,
) {
    let x0 = (cx - rx - 2.0).max(0.0) as u32;
    let x1 = ((cx + rx + 2.0) as u32).min(w - 1);
    let y0 = (cy - ry - 2.0).max(0.0) as u32;
    let y1 = ((cy + ry + 2.0) as u32).min(h - 1);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let u = (x as f32 + 0.5 - cx) / rx;
            let v = (y as f32 + 0.5 - cy) / ry;
            let d = (u * u + v * v).sqrt();
            // Distance to the edge in pixels, roughly; half a pixel of soft edge.
            let edge = (1.0 - d) * rx.min(ry);
            let a = (edge + 0.5).clamp(0.0, 1.0);
            if a > 0.0
                && let Some(c) = shade(u, v)
            {
                put(canvas, w, x, y, c, a);
            }
        }
    }
}

/// Lambert shading of a point on an ellipsoid, light from the upper left.
fn lit(u: f32, v: f32) -> f32 {
    let z = (1.0 - u * u - v * v).max(0.0).sqrt();
    let (lx, ly, lz) = (-0.45f32, -0.5f32, 0.74f32);
    let dot = (-u * lx - v * ly + z * lz).max(0.0);
    0.55 + 0.5 * dot
}

/// A 480x640 portrait.
pub fn portrait(look: &Look, rng: &mut Rng) -> RgbImage {
    let (w, h) = (480u32, 640u32);
    let mut c = vec![[0.0f32; 3]; (w * h) as usize];
    // Plain background with a gentle vertical gradient.
    for y in 0..h {
        let t = y as f32 / h as f32;
        for x in 0..w {
            c[(y * w + x) as usize] = scale(look.background, 1.04 - 0.1 * t);
        }
    }
    let (cx, cy) = (240.0f32, 290.0f32);
    let (rx, ry) = (look.head_rx, look.head_ry);
    // Long hair falls behind the head and onto the shoulders.
    if look.long_hair {
        let hair = look.hair;
        ellipse(
            &mut c,
            w,
            h,
            cx,
            cy + 90.0,
            rx + 38.0,
            ry + 120.0,
            &|u, v| Some(scale(hair, 0.75 + 0.25 * lit(u * 0.9, v * 0.9))),
        );
    }
    // Shoulders and shirt.
    let shirt = look.shirt;
    ellipse(&mut c, w, h, cx, 700.0, 235.0, 190.0, &|u, v| {
        Some(scale(shirt, 0.6 + 0.45 * lit(u, v * 0.6)))
    });
    // Neck, darker under the chin.
    let skin = look.skin;
    ellipse(
        &mut c,
        w,
        h,
        cx,
        cy + ry + 25.0,
        rx * 0.45,
        70.0,
        &|u, v| Some(scale(skin, 0.62 + 0.2 * lit(u, 0.0) + 0.08 * v)),
    );
    // Ears.
    for side in [-1.0f32, 1.0] {
        ellipse(
            &mut c,
            w,
            h,
            cx + side * (rx - 4.0),
            cy + 10.0,
            18.0,
            34.0,
            &|u, v| Some(scale(skin, 0.8 + 0.12 * lit(u, v))),
        );
    }
    // Head.
    ellipse(&mut c, w, h, cx, cy, rx, ry, &|u, v| {
        Some(scale(skin, lit(u, v)))
    });
    // Hair on top: above the hairline, inside a slightly larger ellipse.
    let (hair, hairline) = (look.hair, look.hairline);
    ellipse(&mut c, w, h, cx, cy - 6.0, rx + 10.0, ry + 12.0, &|u, v| {
        let line = hairline + 0.18 * (1.0 - (u * 2.2).cos()) + 0.05 * (u * 9.0).sin();
        (v < line).then(|| scale(hair, 0.7 + 0.35 * lit(u, v)))
    });
    // Eyes: whites, irises, pupils, a highlight; brows above.
    for side in [-1.0f32, 1.0] {
        let ex = cx + side * rx * 0.4;
        let ey = cy - ry * 0.05;
        ellipse(&mut c, w, h, ex, ey, 19.0, 9.5, &|_, v| {
            Some(scale([236.0, 232.0, 226.0], 0.92 + 0.08 * v))
        });
        let iris = look.iris;
        ellipse(&mut c, w, h, ex, ey, 8.5, 8.5, &|u, v| {
            Some(scale(iris, 0.7 + 0.3 * (u * u + v * v)))
        });
        ellipse(&mut c, w, h, ex, ey, 3.8, 3.8, &|_, _| {
            Some([15.0, 12.0, 12.0])
        });
        ellipse(&mut c, w, h, ex - 2.5, ey - 2.5, 1.6, 1.6, &|_, _| {
            Some([250.0, 250.0, 250.0])
        });
        let brow = scale(look.hair, 0.9);
        ellipse(
            &mut c,
            w,
            h,
            ex + side * 2.0,
            ey - 24.0,
            24.0,
            5.0,
            &|u, _| Some(scale(brow, 1.0 + 0.1 * u)),
        );
    }
    // Nose: a soft shadow on the side away from the light, and nostrils.
    let skin_dark = scale(look.skin, 0.72);
    ellipse(
        &mut c,
        w,
        h,
        cx + 7.0,
        cy + ry * 0.22,
        7.0,
        30.0,
        &|_, _| Some(skin_dark),
    );
    for side in [-1.0f32, 1.0] {
        ellipse(
            &mut c,
            w,
            h,
            cx + side * 9.0,
            cy + ry * 0.38,
            5.0,
            3.0,
            &|_, _| Some(scale(skin_dark, 0.8)),
        );
    }
    // Mouth.
    let lips = mix(look.skin, [170.0, 60.0, 70.0], 0.45);
    ellipse(&mut c, w, h, cx, cy + ry * 0.6, 30.0, 8.0, &|_, v| {
        Some(scale(lips, 0.85 + 0.15 * v))
    });
    // Sensor noise, so the JPEG has texture to compress like a photograph.
    let mut img = RgbImage::new(w, h);
    for (i, p) in img.pixels_mut().enumerate() {
        let n = rng.range(-4.0, 4.0);
        let q = c[i];
        *p = Rgb([
            (q[0] + n).clamp(0.0, 255.0) as u8,
            (q[1] + n).clamp(0.0, 255.0) as u8,
            (q[2] + n).clamp(0.0, 255.0) as u8,
        ]);
    }
    img
}

/// A 600x200 signature in dark blue ink on a transparent background: a run of cursive loops
/// (a prolate cycloid with a wandering baseline) and an underline flourish.
pub fn signature(rng: &mut Rng) -> RgbaImage {
    let (w, h) = (600u32, 200u32);
    let mut cover = vec![0.0f32; (w * h) as usize];
    let loops = rng.range(6.0, 9.0);
    let phase = rng.range(0.0, std::f32::consts::TAU);
    let slant = rng.range(0.15, 0.35);
    let amp = rng.range(32.0, 44.0);
    // Letter heights: one random value per loop, the first (the capital) tall.
    let heights: Vec<f32> = (0..12)
        .map(|i| if i == 0 { 2.1 } else { rng.range(0.45, 1.3) })
        .collect();
    // The pen lifts once, between the two "words".
    let gap = rng.range(0.45, 0.6);
    let mut points: Vec<Option<(f32, f32)>> = Vec::new();
    let steps = 2400;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        // Irregular letter spacing: the phase speeds up and slows down along the line.
        let a = std::f32::consts::TAU * loops * t + phase + 1.4 * (3.1 * t + phase).sin();
        let k = ((a - phase) / std::f32::consts::TAU).max(0.0);
        let letter = (k as usize).min(heights.len() - 1);
        let next = (letter + 1).min(heights.len() - 1);
        let frac = k.fract();
        let height = amp * (heights[letter] * (1.0 - frac) + heights[next] * frac);
        let s = a.sin();
        // Letters rise high above the baseline and dip a little below it.
        let y = 100.0 - height * if s > 0.0 { s } else { 0.45 * s } + 8.0 * (t * 5.0).sin();
        let x = 45.0 + 440.0 * t + 60.0 * f32::from(u8::from(t > gap)) - 18.0 * a.cos()
            + slant * (100.0 - y);
        let lifted = (t - gap).abs() < 0.012;
        points.push((!lifted).then_some((x, y)));
    }
    // The flourish: back under the name.
    for i in 0..=600 {
        let t = i as f32 / 600.0;
        let x = 580.0 - 520.0 * t;
        let y = 150.0 + 12.0 * (t * 3.1).sin() - 25.0 * (1.0 - t) * (1.0 - t);
        points.push(Some((x.min(560.0), y)));
    }
    for pair in points.windows(2) {
        let (Some((x0, y0)), Some((x1, y1))) = (pair[0], pair[1]) else {
            continue;
        };
        let speed = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        // A slower pen leaves a wider line.
        let r = (2.6 - speed * 0.9).clamp(1.2, 2.6);
        stamp(&mut cover, w, h, x1, y1, r);
    }
    let mut img = RgbaImage::new(w, h);
    for (i, p) in img.pixels_mut().enumerate() {
        let a = cover[i].clamp(0.0, 1.0);
        *p = Rgba([20, 30, 90, (a * 255.0) as u8]);
    }
    img
}

fn stamp(cover: &mut [f32], w: u32, h: u32, cx: f32, cy: f32, r: f32) {
    let x0 = (cx - r - 1.0).max(0.0) as u32;
    let y0 = (cy - r - 1.0).max(0.0) as u32;
    let x1 = ((cx + r + 1.0) as u32).min(w - 1);
    let y1 = ((cy + r + 1.0) as u32).min(h - 1);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let a = (r - d + 0.5).clamp(0.0, 1.0);
            let i = (y * w + x) as usize;
            cover[i] = cover[i].max(a);
        }
    }
}
