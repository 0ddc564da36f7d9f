//! The printed faces of the e-card: front and back of an ID-1 card (85.60 x 53.98 mm) as 300 dpi
//! PNG pages and a two-page PDF at true size, laid out by a [`Template`] a designer edits.
//!
//! Front: portrait, names in Cyrillic (when given) and Latin, date of birth, sex, nationality,
//! series and number, expiry, signature, labels in Russian and English, and an optional box for the
//! QR seal. Back: date of issue, issuing authority and the TD1 MRZ in OCR-B at the Doc 9303 Part 5
//! position (see [`template::MrzSpec`]).
//!
//! This crate is pure: bytes and a template in, bytes out. It reads files only in
//! [`Fonts::load`], logs nothing, and never puts holder data in an error or in `Debug` output. A
//! value that does not fit its box is an error naming the field, never a clipped name.
//!
//! ```no_run
//! # fn demo(holder: &ecard_model::Holder, number: &ecard_model::DocumentNumber,
//! #         issue: ecard_model::time::Date, photo: &[u8], sig: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use ecard_face::{FaceData, Fonts, FontPaths, Template, render};
//! let expiry = ecard_model::dates::expiry_for(issue);
//! let mrz = ecard_model::mrz::Td1::for_card(holder, number, expiry).lines;
//! let data = FaceData {
//!     holder, document_number: number, date_of_issue: issue, date_of_expiry: expiry,
//!     issuing_authority: "ММЦ г. Москвы / MMC Moscow", mrz: &mrz, photo, signature: sig, qr: None, can: None,
//! };
//! let face = render(&data, &Template::builtin(), &Fonts::load(&FontPaths::default())?)?;
//! std::fs::write("front.png", &face.front_png)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod fonts;
mod images;
mod pdf;
mod raster;
pub mod template;

use ab_glyph::{Font, PxScale, ScaleFont, point};
use ecard_model::time::Date;
use ecard_model::{DocumentNumber, Holder, Sex};
use image::RgbImage;

pub use fonts::{FontError, FontPaths, Fonts};
pub use pdf::mm_to_pt;
pub use raster::PxRect;
pub use template::{Element, Face, Field, Template, TemplateError};

use images::{draw_photo, draw_qr, draw_signature};
use raster::{Canvas, FitError};
use template::{FieldSpec, Side, StaticText};

/// Largest photo or signature accepted, per side in pixels: a guard against decompression bombs.
pub const MAX_IMAGE_SIDE: u32 = 6000;

/// What goes on the card.
pub struct FaceData<'a> {
    /// The holder.
    pub holder: &'a Holder,
    /// Series and number.
    pub document_number: &'a DocumentNumber,
    /// Date of issue.
    pub date_of_issue: Date,
    /// Date of expiry.
    pub date_of_expiry: Date,
    /// Issuing authority as printed (may hold `\n` for a second line).
    pub issuing_authority: &'a str,
    /// The three TD1 MRZ lines, 30 characters each (`Td1::for_card(..).lines`).
    pub mrz: &'a [String; 3],
    /// The portrait as received, JPEG or PNG.
    pub photo: &'a [u8],
    /// The signature as received, JPEG or PNG, dark ink on a light background.
    pub signature: &'a [u8],
    /// The QR seal's modules, when issued (issue 7); drawn in the template's `front.qr` box.
    pub qr: Option<&'a QrMatrix>,
    /// The chip's card access number, printed labelled `CAN` (ECARD.md section 10); `None` for a
    /// card without access control.
    pub can: Option<&'a str>,
}

// Personal data: Debug shows nothing about the holder.
impl std::fmt::Debug for FaceData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceData")
            .field("photo_bytes", &self.photo.len())
            .field("signature_bytes", &self.signature.len())
            .field("qr", &self.qr.map(|q| q.width))
            .finish_non_exhaustive()
    }
}

/// A QR symbol as a square of modules (quiet zone not included; the renderer adds 4 modules).
#[derive(Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side.
    pub width: usize,
    /// `width * width` modules, row by row, `true` = dark.
    pub dark: Vec<bool>,
}

impl std::fmt::Debug for QrMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrMatrix({0}x{0})", self.width)
    }
}

/// The rendered card.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedFace {
    /// Front, PNG, 1011 x 638 px at 300 dpi (pHYs set, so it prints at true size).
    pub front_png: Vec<u8>,
    /// Back, PNG, same size.
    pub back_png: Vec<u8>,
    /// Both pages, front then back, each 85.60 x 53.98 mm.
    pub pdf: Vec<u8>,
}

impl std::fmt::Debug for RenderedFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedFace")
            .field("front_png_bytes", &self.front_png.len())
            .field("back_png_bytes", &self.back_png.len())
            .field("pdf_bytes", &self.pdf.len())
            .finish()
    }
}

/// Why a card face could not be rendered. Never carries holder data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The photo or signature cannot be used.
    #[error("{image}: {problem}")]
    Image {
        /// `photo` or `signature`.
        image: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A value or text is too long for its box even at the smallest size the template allows.
    #[error(
        "{element} on the {face} does not fit its {w_mm:.1} x {h_mm:.1} mm box even at {min_size_pt} pt; \
         enlarge the box or lower min_size_pt in the template"
    )]
    DoesNotFit {
        /// `front` or `back`.
        face: &'static str,
        /// The template element (`field surname`, `texts[1]`).
        element: String,
        /// Box width.
        w_mm: f32,
        /// Box height.
        h_mm: f32,
        /// The smallest size tried.
        min_size_pt: f32,
    },
    /// The MRZ lines are not a TD1 (3 lines of 30 characters from A-Z, 0-9, `<`).
    #[error("mrz line {line}: {problem}")]
    Mrz {
        /// 1-3.
        line: usize,
        /// What is wrong (shape only, never the content).
        problem: String,
    },
    /// The MRZ has the TD1 shape but does not verify (a check digit or field is wrong): printing
    /// it would make a card that no reader accepts.
    #[error("mrz does not verify as a TD1: {problem}")]
    MrzCheck {
        /// The parser's finding (field names and digits, never names or dates).
        problem: String,
    },
    /// The QR seal needs more room than its box gives at 4 pixels a module.
    #[error(
        "the QR seal of {modules} modules (plus an 8-module quiet zone) needs {needed_px} px at 4 px a module \
         but its box is {box_px} px; enlarge front.qr in the template"
    )]
    QrTooDense {
        /// Modules per side.
        modules: usize,
        /// Pixels needed.
        needed_px: u32,
        /// Pixels the box has (its shorter side).
        box_px: u32,
    },
    /// A QR seal was given but the template has no `front.qr` box.
    #[error("a QR seal was given but the template has no front.qr box")]
    NoQrBox,
    /// The QR matrix is not `width * width` modules.
    #[error("QR matrix of width {width} has {got} modules; expected {expected}")]
    QrShape {
        /// Declared width.
        width: usize,
        /// Modules given.
        got: usize,
        /// `width * width`.
        expected: usize,
    },
    /// PNG encoding failed (an internal fault, not the input's).
    #[error("encoding the {face} PNG failed: {problem}")]
    Encode {
        /// `front` or `back`.
        face: &'static str,
        /// The encoder's message.
        problem: String,
    },
}

/// Renders both faces as PNG and the two-page PDF.
pub fn render(data: &FaceData<'_>, t: &Template, fonts: &Fonts) -> Result<RenderedFace, FaceError> {
    let (front, back) = render_images(data, t, fonts)?;
    let front_png = encode_png(&front, t.card.dpi, "front")?;
    let back_png = encode_png(&back, t.card.dpi, "back")?;
    let pdf = pdf::pages(&[&front, &back], t.card.width_mm, t.card.height_mm);
    Ok(RenderedFace {
        front_png,
        back_png,
        pdf,
    })
}

/// Renders both faces as raster images (front, back), for callers that compose further.
pub fn render_images(
    data: &FaceData<'_>,
    t: &Template,
    fonts: &Fonts,
) -> Result<(RgbImage, RgbImage), FaceError> {
    check_mrz(data.mrz)?;
    if let Some(q) = data.qr
        && q.dark.len() != q.width * q.width
    {
        return Err(FaceError::QrShape {
            width: q.width,
            got: q.dark.len(),
            expected: q.width * q.width,
        });
    }
    if data.qr.is_some() && t.front.qr.is_none() {
        return Err(FaceError::NoQrBox);
    }
    let (w, h) = t.page_px();
    let mut front = Canvas::new(w, h, t.card.dpi, t.front.background);
    draw_side(&mut front, "front", &t.front, data, t, fonts)?;
    if let (Some(b), Some(q)) = (&t.front.qr, data.qr) {
        draw_qr(&mut front, t.px(b.box_mm), q)?;
    }
    let mut back = Canvas::new(w, h, t.card.dpi, t.back.background);
    draw_side(&mut back, "back", &t.back, data, t, fonts)?;
    draw_mrz(&mut back, data.mrz, t, fonts);
    Ok((front.img, back.img))
}

fn draw_side(
    c: &mut Canvas,
    face: &'static str,
    side: &Side,
    data: &FaceData<'_>,
    t: &Template,
    fonts: &Fonts,
) -> Result<(), FaceError> {
    for r in &side.rects {
        c.fill(t.px(r.box_mm), r.color);
    }
    for (i, s) in side.texts.iter().enumerate() {
        draw_static(c, face, i, s, t, fonts)?;
    }
    for f in &side.fields {
        draw_field(c, face, f, &field_text(f.field, data), t, fonts)?;
    }
    if let Some(b) = &side.photo {
        draw_photo(c, t.px(b.box_mm), data.photo)?;
    }
    if let Some(b) = &side.signature {
        draw_signature(c, t, b, data.signature)?;
    }
    Ok(())
}

fn draw_static(
    c: &mut Canvas,
    face: &'static str,
    i: usize,
    s: &StaticText,
    t: &Template,
    fonts: &Fonts,
) -> Result<(), FaceError> {
    let r = t.px(s.box_mm);
    let font = fonts.get(s.font);
    let min = s.min_size_pt.unwrap_or(s.size_pt);
    let laid = c
        .fit(font, &s.text, r.w as f32, r.h as f32, s.size_pt, min)
        .map_err(|e| no_fit(face, format!("texts[{i}]"), s.box_mm, e))?;
    c.draw_laid(font, &laid, r, s.color, s.align);
    Ok(())
}

fn draw_field(
    c: &mut Canvas,
    face: &'static str,
    f: &FieldSpec,
    value: &str,
    t: &Template,
    fonts: &Fonts,
) -> Result<(), FaceError> {
    let mut r = t.px(f.box_mm);
    let element = || format!("field {}", f.field.key());
    if let Some(label) = &f.label {
        let font = fonts.get(template::FontRole::Sans);
        // Labels are the designer's fixed text: they may shrink a little, never wrap.
        let laid = c
            .fit(
                font,
                label,
                r.w as f32,
                raster::pt_to_px(f.label_size_pt, c.dpi) * 1.2,
                f.label_size_pt,
                f.label_size_pt * 0.8,
            )
            .ok()
            .filter(|l| l.lines.len() == 1)
            .ok_or_else(|| {
                no_fit(
                    face,
                    format!("label of {}", element()),
                    f.box_mm,
                    FitError {
                        min_pt: f.label_size_pt * 0.8,
                    },
                )
            })?;
        c.draw_laid(font, &laid, r, f.label_color, f.align);
        let used = (laid.px * 1.12).ceil() as u32;
        r.y += used;
        r.h = r.h.saturating_sub(used);
    }
    if value.is_empty() {
        return Ok(());
    }
    let font = fonts.get(f.font);
    let laid = c
        .fit(
            font,
            value,
            r.w as f32,
            r.h as f32,
            f.size_pt,
            f.min_size_pt,
        )
        .map_err(|e| no_fit(face, element(), f.box_mm, e))?;
    c.draw_laid(font, &laid, r, f.color, f.align);
    Ok(())
}

fn no_fit(face: &'static str, element: String, b: [f32; 4], e: FitError) -> FaceError {
    FaceError::DoesNotFit {
        face,
        element,
        w_mm: b[2],
        h_mm: b[3],
        min_size_pt: e.min_pt,
    }
}

/// The printed text of a field: names Cyrillic over Latin, dates `DD.MM.YYYY` (Russian practice).
fn field_text(f: Field, d: &FaceData<'_>) -> String {
    let h = d.holder;
    let cyr = h.name_cyrillic();
    let two = |c: Option<&str>, l: &str| match c {
        Some(c) if !c.is_empty() => format!("{c}\n{l}"),
        _ => l.to_string(),
    };
    let date = |d: Date| format!("{:02}.{:02}.{:04}", d.day(), d.month() as u8, d.year());
    match f {
        Field::Surname => two(cyr.map(|c| c.surname.as_str()), h.surname()),
        Field::GivenNames => two(cyr.map(|c| c.given_names.as_str()), h.given_names()),
        Field::Patronymic => match h.patronymic() {
            Some(p) => two(cyr.and_then(|c| c.patronymic.as_deref()), p),
            None => String::new(),
        },
        Field::DateOfBirth => date(h.date_of_birth()),
        Field::Sex => match h.sex() {
            Sex::M => "МУЖ/M".into(),
            Sex::F => "ЖЕН/F".into(),
        },
        Field::Nationality => match ecard_model::nationality::lookup(h.nationality()) {
            Some(n) => format!("{} / {}", n.name.to_uppercase(), n.code),
            None => h.nationality().to_string(),
        },
        Field::DocumentNumber => d.document_number.to_string(),
        Field::DateOfExpiry => date(d.date_of_expiry),
        Field::DateOfIssue => date(d.date_of_issue),
        Field::IssuingAuthority => d.issuing_authority.to_string(),
        Field::Can => d.can.unwrap_or_default().to_string(),
    }
}

fn check_mrz(lines: &[String; 3]) -> Result<(), FaceError> {
    for (i, l) in lines.iter().enumerate() {
        let n = l.chars().count();
        if n != 30 {
            return Err(FaceError::Mrz {
                line: i + 1,
                problem: format!("has {n} characters; a TD1 line has 30"),
            });
        }
        if let Some(p) = l
            .chars()
            .position(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<'))
        {
            return Err(FaceError::Mrz {
                line: i + 1,
                problem: format!("position {} is not one of A-Z, 0-9, <", p + 1),
            });
        }
    }
    ecard_model::mrz::Td1::parse(&lines.concat()).map_err(|e| FaceError::MrzCheck {
        problem: e.to_string(),
    })?;
    Ok(())
}

/// The MRZ on its fixed grid: each character centred in a 2.54 mm cell from `left_mm`, lines on
/// reference centre lines `line_pitch_mm` apart, OCR-B scaled so its own advance is the pitch
/// (size 1 is the 10-per-inch size of the face).
fn draw_mrz(c: &mut Canvas, lines: &[String; 3], t: &Template, fonts: &Fonts) {
    let m = &t.mrz;
    let k = t.px_per_mm();
    c.fill(t.px(t.mrz_zone_mm()), m.background);
    let font = fonts.get(template::FontRole::Ocrb);
    let pitch = m.char_pitch_mm * k;
    let probe = 100.0;
    let adv = font
        .as_scaled(PxScale::from(probe))
        .h_advance(font.glyph_id('0'));
    let px = probe * pitch / adv;
    // Cap height measured on `H` at this size, to centre the capitals on the reference line.
    let cap = font
        .outline_glyph(
            font.glyph_id('H')
                .with_scale_and_position(PxScale::from(px), point(0.0, 0.0)),
        )
        .map(|o| -o.px_bounds().min.y)
        .unwrap_or(px * 0.7);
    for (i, line) in lines.iter().enumerate() {
        let centre_from_bottom = m.first_centre_from_bottom_mm - i as f32 * m.line_pitch_mm;
        let centre_y = (t.card.height_mm - centre_from_bottom) * k;
        c.draw_run(
            font,
            px,
            line,
            m.left_mm * k,
            centre_y + cap / 2.0,
            m.color,
            Some(pitch),
        );
    }
}

/// PNG with its physical resolution recorded (pHYs), so viewers and printers know the true size.
fn encode_png(img: &RgbImage, dpi: u32, face: &'static str) -> Result<Vec<u8>, FaceError> {
    let err = |e: png::EncodingError| FaceError::Encode {
        face,
        problem: e.to_string(),
    };
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let ppm = (dpi as f32 / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: ppm,
        yppu: ppm,
        unit: png::Unit::Meter,
    }));
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(img.as_raw()).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}
