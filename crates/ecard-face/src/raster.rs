//! Drawing on one raster page: filled boxes, text that must stay inside its box, images scaled
//! without distortion, and the MRZ on its fixed grid.
//!
//! Everything here works in pixels; the template converts millimetres. Text fitting never clips:
//! it shrinks, then wraps, and reports [`FitError`] when even that fails, so a card never leaves
//! the printer with half a name. Nothing here knows what a field means.

use ab_glyph::{Font, FontVec, GlyphId, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

use crate::template::{Align, Color};

/// A rectangle in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PxRect {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl PxRect {
    /// Whether the pixel lies inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
}

/// Text that fits nowhere between the largest and smallest allowed size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FitError {
    pub min_pt: f32,
}

/// Points to pixels at `dpi`.
pub(crate) fn pt_to_px(pt: f32, dpi: u32) -> f32 {
    pt / 72.0 * dpi as f32
}

/// Line height as a multiple of the type size: tight, as on identity documents.
const LINE_HEIGHT: f32 = 1.12;

pub(crate) struct Canvas {
    pub img: RgbImage,
    pub dpi: u32,
}

/// A laid-out block of text: the lines and the size they fit at.
pub(crate) struct Laid {
    pub lines: Vec<String>,
    pub px: f32,
}

impl Canvas {
    pub fn new(w: u32, h: u32, dpi: u32, bg: Color) -> Canvas {
        Canvas {
            img: RgbImage::from_pixel(w, h, Rgb(bg.0)),
            dpi,
        }
    }

    pub fn fill(&mut self, r: PxRect, c: Color) {
        for y in r.y..(r.y + r.h).min(self.img.height()) {
            for x in r.x..(r.x + r.w).min(self.img.width()) {
                self.img.put_pixel(x, y, Rgb(c.0));
            }
        }
    }

    /// Lays `text` (hard lines split at `\n`) into a box `w` x `h` px: the largest size from
    /// `max_pt` down to `min_pt` (quarter-point steps) at which the lines, wrapped at spaces, fit;
    /// at `min_pt` words longer than the box are broken between characters as a last resort.
    pub fn fit(
        &self,
        font: &FontVec,
        text: &str,
        w: f32,
        h: f32,
        max_pt: f32,
        min_pt: f32,
    ) -> Result<Laid, FitError> {
        let mut pt = max_pt;
        loop {
            let px = pt_to_px(pt, self.dpi);
            let last = pt <= min_pt;
            if let Some(lines) = wrap(font, px, text, w, last)
                && lines.len() as f32 * px * LINE_HEIGHT <= h + 0.5
            {
                return Ok(Laid { lines, px });
            }
            if last {
                return Err(FitError { min_pt });
            }
            pt = (pt - 0.25).max(min_pt);
        }
    }

    /// Draws laid-out text from the top of `r`, each line aligned within the box.
    pub fn draw_laid(
        &mut self,
        font: &FontVec,
        laid: &Laid,
        r: PxRect,
        color: Color,
        align: Align,
    ) {
        let scaled = font.as_scaled(PxScale::from(laid.px));
        let line_h = laid.px * LINE_HEIGHT;
        // Baseline of the first line: the ascent, centred in the line height.
        let mut baseline =
            r.y as f32 + (line_h - (scaled.ascent() - scaled.descent())) / 2.0 + scaled.ascent();
        for line in &laid.lines {
            let width = text_width(font, laid.px, line);
            let x = match align {
                Align::Left => r.x as f32,
                Align::Center => r.x as f32 + (r.w as f32 - width) / 2.0,
                Align::Right => r.x as f32 + r.w as f32 - width,
            };
            self.draw_run(font, laid.px, line, x, baseline, color, None);
            baseline += line_h;
        }
    }

    /// Draws one run of text with its left edge at `x` and baseline at `y`. With `pitch`, glyph
    /// origins sit on a fixed grid (the MRZ); otherwise the font's advances and kerning apply.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_run(
        &mut self,
        font: &FontVec,
        px: f32,
        text: &str,
        x: f32,
        y: f32,
        color: Color,
        pitch: Option<f32>,
    ) {
        let scaled = font.as_scaled(PxScale::from(px));
        let mut caret = x;
        let mut prev: Option<GlyphId> = None;
        for (i, c) in text.chars().enumerate() {
            let id = font.glyph_id(c);
            let origin = match pitch {
                Some(p) => {
                    // Centre each glyph in its cell, as a fixed-pitch printer does.
                    let adv = scaled.h_advance(id);
                    x + i as f32 * p + (p - adv) / 2.0
                }
                None => {
                    if let Some(p) = prev {
                        caret += scaled.kern(p, id);
                    }
                    caret
                }
            };
            let glyph = id.with_scale_and_position(PxScale::from(px), point(origin, y));
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    let px_x = b.min.x as i64 + gx as i64;
                    let px_y = b.min.y as i64 + gy as i64;
                    self.blend(px_x, px_y, color, cov);
                });
            }
            caret += scaled.h_advance(id);
            prev = Some(id);
        }
    }

    fn blend(&mut self, x: i64, y: i64, c: Color, cov: f32) {
        if x < 0 || y < 0 || x >= self.img.width() as i64 || y >= self.img.height() as i64 {
            return;
        }
        let a = cov.clamp(0.0, 1.0);
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for k in 0..3 {
            p.0[k] = (p.0[k] as f32 * (1.0 - a) + c.0[k] as f32 * a).round() as u8;
        }
    }

    /// Copies `src` into `r` at its top-left, cropping what does not fit.
    pub fn blit(&mut self, src: &RgbImage, x: u32, y: u32) {
        for (sx, sy, p) in src.enumerate_pixels() {
            let (dx, dy) = (x + sx, y + sy);
            if dx < self.img.width() && dy < self.img.height() {
                self.img.put_pixel(dx, dy, *p);
            }
        }
    }

    /// Darkens the page with a greyscale ink image (multiply), so a signature on white paper
    /// prints as ink on the card's background.
    pub fn multiply(&mut self, ink: &image::GrayImage, x: u32, y: u32) {
        for (sx, sy, p) in ink.enumerate_pixels() {
            let (dx, dy) = (x + sx, y + sy);
            if dx < self.img.width() && dy < self.img.height() {
                let d = self.img.get_pixel_mut(dx, dy);
                for k in 0..3 {
                    d.0[k] = ((d.0[k] as u16 * p.0[0] as u16) / 255) as u8;
                }
            }
        }
    }
}

/// Width of a run in pixels, with kerning.
pub(crate) fn text_width(font: &FontVec, px: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            w += scaled.kern(p, id);
        }
        w += scaled.h_advance(id);
        prev = Some(id);
    }
    w
}

/// Greedy word wrap of each hard line. `None` when a word is wider than the box and `break_words`
/// is off; with it on, such a word is split between characters.
fn wrap(font: &FontVec, px: f32, text: &str, w: f32, break_words: bool) -> Option<Vec<String>> {
    let fits = |s: &str| text_width(font, px, s) <= w;
    let mut out = Vec::new();
    for hard in text.split('\n') {
        let mut line = String::new();
        for word in hard.split(' ').filter(|s| !s.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if fits(&candidate) {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            if fits(word) {
                line = word.to_string();
            } else if break_words {
                for c in word.chars() {
                    let mut next = line.clone();
                    next.push(c);
                    if fits(&next) || line.is_empty() {
                        line = next;
                    } else {
                        out.push(std::mem::take(&mut line));
                        line.push(c);
                    }
                }
            } else {
                return None;
            }
        }
        out.push(line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::FontPaths;
    use proptest::prelude::*;

    fn sans() -> Option<FontVec> {
        let bytes = std::fs::read(FontPaths::default().sans_bold).ok()?;
        FontVec::try_from_vec(bytes).ok()
    }

    fn squash(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    proptest! {
        /// Whatever the text and box, a laid-out text stays inside the box and loses no letter;
        /// words are only split when the smallest size is reached.
        #[test]
        fn fitted_text_stays_in_its_box_and_keeps_every_letter(
            words in prop::collection::vec("[A-ZА-Я'-]{1,18}", 1..10),
            w in 60f32..500.0,
            h in 15f32..200.0,
            max_pt in 4f32..10.0,
            shrink in 0f32..4.0,
        ) {
            let Some(font) = sans() else { return Ok(()) };
            let canvas = Canvas::new(1, 1, 300, Color([255, 255, 255]));
            let text = words.join(" ");
            let min_pt = (max_pt - shrink).max(3.0);
            match canvas.fit(&font, &text, w, h, max_pt, min_pt) {
                Ok(laid) => {
                    prop_assert!(laid.lines.len() as f32 * laid.px * LINE_HEIGHT <= h + 0.5);
                    prop_assert!(laid.px <= pt_to_px(max_pt, 300) + 0.01);
                    prop_assert!(laid.px >= pt_to_px(min_pt, 300) - 0.01);
                    for l in &laid.lines {
                        // A single character wider than the box is the one thing that may overhang.
                        prop_assert!(text_width(&font, laid.px, l) <= w || l.chars().count() == 1);
                    }
                    prop_assert_eq!(squash(&laid.lines.concat()), squash(&text));
                    if laid.px > pt_to_px(min_pt, 300) + 0.01 {
                        prop_assert_eq!(laid.lines.join(" "), text.clone());
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e.min_pt, min_pt);
                    let px = pt_to_px(min_pt, 300);
                    let lines = wrap(&font, px, &text, w, true).unwrap();
                    prop_assert!(lines.len() as f32 * px * LINE_HEIGHT > h + 0.5);
                }
            }
        }
    }
}
