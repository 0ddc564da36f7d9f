//! The layout of both faces as data: a TOML file a designer edits without touching code.
//!
//! Units are millimetres from the card's top-left corner (boxes are `box_mm = [x, y, width, height]`)
//! and points for type sizes, so the file reads like a print layout, not like pixels. The caller
//! reads the file; this module only parses text (serde, `deny_unknown_fields`) and checks the
//! result: every box on the card, nothing in the MRZ zone or over the chip contacts, every field the
//! decree requires placed somewhere, the MRZ where Doc 9303 puts it. It must not read files or
//! fonts, and it must not silently accept a key it does not know.

use serde::Deserialize;

use crate::raster::PxRect;

/// The template shipped with the station (`templates/default.toml`).
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/default.toml");

/// A parsed and checked face template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Card size and raster resolution.
    pub card: Card,
    /// The front face.
    pub front: Side,
    /// The back face.
    pub back: Side,
    /// The machine readable zone on the back.
    pub mrz: MrzSpec,
}

/// Card size and raster resolution.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Width, ID-1: 85.60.
    pub width_mm: f32,
    /// Height, ID-1: 53.98.
    pub height_mm: f32,
    /// Raster resolution of the PNG pages, dots per inch.
    pub dpi: u32,
}

/// One face of the card.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// Background colour of the whole face.
    #[serde(default = "white")]
    pub background: Color,
    /// Plain filled rectangles (bands, rules), drawn first in file order.
    #[serde(default)]
    pub rects: Vec<RectSpec>,
    /// Fixed text (titles, the signature caption), drawn after the rectangles.
    #[serde(default)]
    pub texts: Vec<StaticText>,
    /// Holder and document data, each with its own label.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// The portrait (Doc 9303 Zone V); scaled to cover the box and cropped, never stretched.
    pub photo: Option<ImageBox>,
    /// The holder's signature (Zone IV); scaled to fit inside the box, never stretched.
    pub signature: Option<ImageBox>,
    /// Room for the QR seal (ECARD.md section 8); left empty when no seal is given.
    pub qr: Option<ImageBox>,
    /// An area nothing may be drawn on: the chip contacts (ISO/IEC 7816-2) on the front.
    pub keep_out: Option<ImageBox>,
}

/// A filled rectangle.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RectSpec {
    /// `[x, y, width, height]` in mm.
    pub box_mm: [f32; 4],
    /// Fill colour.
    pub color: Color,
}

/// A box for an image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBox {
    /// `[x, y, width, height]` in mm.
    pub box_mm: [f32; 4],
}

/// Fixed text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticText {
    /// The text; `\n` starts a new line.
    pub text: String,
    /// `[x, y, width, height]` in mm; the text shrinks or wraps to stay inside.
    pub box_mm: [f32; 4],
    /// Largest type size, points.
    pub size_pt: f32,
    /// Smallest type size it may shrink to, points (default: `size_pt`).
    pub min_size_pt: Option<f32>,
    /// Typeface.
    #[serde(default)]
    pub font: FontRole,
    /// Text colour.
    #[serde(default = "black")]
    pub color: Color,
    /// Horizontal alignment.
    #[serde(default)]
    pub align: Align,
}

/// A data field and its label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Which datum.
    pub field: Field,
    /// The caption above the value, e.g. "Фамилия / Surname"; none when absent.
    pub label: Option<String>,
    /// `[x, y, width, height]` in mm: label and value together.
    pub box_mm: [f32; 4],
    /// Label size, points.
    #[serde(default = "default_label_pt")]
    pub label_size_pt: f32,
    /// Largest value size, points.
    #[serde(default = "default_value_pt")]
    pub size_pt: f32,
    /// Smallest size a long value may shrink to before it wraps, points.
    #[serde(default = "default_min_pt")]
    pub min_size_pt: f32,
    /// Value typeface.
    #[serde(default = "bold")]
    pub font: FontRole,
    /// Value colour.
    #[serde(default = "black")]
    pub color: Color,
    /// Label colour.
    #[serde(default = "grey")]
    pub label_color: Color,
    /// Horizontal alignment of label and value.
    #[serde(default)]
    pub align: Align,
}

/// The data a field shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Field {
    /// Surname: Cyrillic (when given) above Latin.
    Surname,
    /// Given names: Cyrillic (when given) above Latin.
    GivenNames,
    /// Patronymic: Cyrillic (when given) above Latin; blank when the holder has none.
    Patronymic,
    /// Date of birth.
    DateOfBirth,
    /// Sex, `МУЖ/M` or `ЖЕН/F` (the Russian abbreviations, then the Doc 9303 letter).
    Sex,
    /// Nationality: English name and ICAO code.
    Nationality,
    /// Series and number, `77 1234567`.
    DocumentNumber,
    /// Date of expiry.
    DateOfExpiry,
    /// Date of issue.
    DateOfIssue,
    /// Issuing authority.
    IssuingAuthority,
    /// The card access number (PACE password, ECARD.md section 10); blank for a card without
    /// access control.
    Can,
}

impl Field {
    /// The key as written in the template.
    pub fn key(self) -> &'static str {
        match self {
            Field::Surname => "surname",
            Field::GivenNames => "given_names",
            Field::Patronymic => "patronymic",
            Field::DateOfBirth => "date_of_birth",
            Field::Sex => "sex",
            Field::Nationality => "nationality",
            Field::DocumentNumber => "document_number",
            Field::DateOfExpiry => "date_of_expiry",
            Field::DateOfIssue => "date_of_issue",
            Field::IssuingAuthority => "issuing_authority",
            Field::Can => "can",
        }
    }

    /// Every field the decree (ECARD.md section 1) and Doc 9303 require on the card.
    pub const REQUIRED: [Field; 10] = [
        Field::Surname,
        Field::GivenNames,
        Field::Patronymic,
        Field::DateOfBirth,
        Field::Sex,
        Field::Nationality,
        Field::DocumentNumber,
        Field::DateOfExpiry,
        Field::DateOfIssue,
        Field::IssuingAuthority,
    ];
}

/// The typefaces a template may name; [`crate::Fonts`] maps them to files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FontRole {
    /// Regular sans serif with Cyrillic (DejaVu Sans).
    #[default]
    Sans,
    /// Bold sans serif with Cyrillic (DejaVu Sans Bold).
    SansBold,
    /// OCR-B, for the MRZ (and any text meant for machines).
    Ocrb,
}

/// Horizontal alignment inside a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    /// Flush left.
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Where and how the MRZ is printed on the back.
///
/// Doc 9303 references (8th edition, 2021):
/// - Part 3 §4.4: OCR-B, size 1, constant stroke width, fixed pitch 2.54 mm (10 per 25.4 mm).
/// - Part 5 §4.2.1.3: the left-hand edge of the first character 5.0 ± 1.0 mm from the left edge.
/// - Part 5 Figure 6: three reference centre lines 4.23 mm (0.167 in) apart, Zone VII along the
///   bottom edge; the zone is kept clear of other printing (17.9 mm here, so that the three lines,
///   their 2.0 mm edge margin (Part 5 §2.3) and the reader's effective reading zone height of
///   17.0 mm (Part 3 §4.5) all fit in it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MrzSpec {
    /// Left edge of each line's first character cell, mm from the card's left edge.
    pub left_mm: f32,
    /// Reference centre line of the first line, mm from the card's bottom edge.
    pub first_centre_from_bottom_mm: f32,
    /// Distance between reference centre lines, mm.
    pub line_pitch_mm: f32,
    /// Character pitch, mm.
    pub char_pitch_mm: f32,
    /// Height of Zone VII from the bottom edge, kept free of every other element, mm.
    pub zone_height_mm: f32,
    /// Ink colour of the MRZ (black reads best in B900).
    #[serde(default = "black")]
    pub color: Color,
    /// Background of the zone.
    #[serde(default = "white")]
    pub background: Color,
}

/// An sRGB colour, written `"#RRGGBB"` in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub [u8; 3]);

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_color(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("colour {s:?} is not of the form \"#RRGGBB\""))
        })
    }
}

fn parse_color(s: &str) -> Option<Color> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(Color([byte(0)?, byte(2)?, byte(4)?]))
}

fn white() -> Color {
    Color([255, 255, 255])
}
fn black() -> Color {
    Color([0, 0, 0])
}
fn grey() -> Color {
    Color([90, 90, 90])
}
fn bold() -> FontRole {
    FontRole::SansBold
}
fn default_label_pt() -> f32 {
    4.5
}
fn default_value_pt() -> f32 {
    7.0
}
fn default_min_pt() -> f32 {
    4.5
}

/// Why a template was refused. `file` names the file (or "built-in template").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Not valid TOML, or a key, type or value the template does not know; the message carries the
    /// line and column.
    #[error("face template {file}: {message}")]
    Syntax {
        /// File name as given by the caller.
        file: String,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// Valid TOML whose layout cannot be printed.
    #[error("face template {file}: {element}: {problem}")]
    Layout {
        /// File name as given by the caller.
        file: String,
        /// The element, as a TOML path (`front.fields[2]`, `mrz.left_mm`).
        element: String,
        /// What is wrong, with the numbers.
        problem: String,
    },
}

/// Which face an element is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    /// The front.
    Front,
    /// The back.
    Back,
}

/// An element whose box tests and later issues need to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Element {
    /// A data field (label and value).
    Field(Field),
    /// The portrait.
    Photo,
    /// The signature.
    Signature,
    /// The QR seal.
    Qr,
    /// Zone VII, the MRZ (always on the back).
    MrzZone,
}

impl Template {
    /// The built-in template.
    pub fn builtin() -> Template {
        #[allow(clippy::expect_used)]
        Template::parse(DEFAULT_TEMPLATE, "built-in template")
            .expect("templates/default.toml is checked by the test builtin_template_is_valid")
    }

    /// Parses and checks a template; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Template, TemplateError> {
        let t: Template = toml::from_str(text).map_err(|e| TemplateError::Syntax {
            file: source.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        t.check()
            .map_err(|(element, problem)| TemplateError::Layout {
                file: source.to_string(),
                element,
                problem,
            })?;
        Ok(t)
    }

    /// Pixels per millimetre at the template's resolution.
    pub fn px_per_mm(&self) -> f32 {
        self.card.dpi as f32 / 25.4
    }

    /// Size of each raster page in pixels (1011 x 638 for ID-1 at 300 dpi).
    pub fn page_px(&self) -> (u32, u32) {
        (
            (self.card.width_mm * self.px_per_mm()).round() as u32,
            (self.card.height_mm * self.px_per_mm()).round() as u32,
        )
    }

    /// A box in mm as whole pixels (outward rounding: the box never shrinks).
    pub fn px(&self, b: [f32; 4]) -> PxRect {
        let k = self.px_per_mm();
        let x0 = (b[0] * k).floor().max(0.0) as u32;
        let y0 = (b[1] * k).floor().max(0.0) as u32;
        let x1 = ((b[0] + b[2]) * k).ceil().max(0.0) as u32;
        let y1 = ((b[1] + b[3]) * k).ceil().max(0.0) as u32;
        PxRect {
            x: x0,
            y: y0,
            w: x1.saturating_sub(x0),
            h: y1.saturating_sub(y0),
        }
    }

    /// Zone VII in mm: `[x, y, w, h]`, the full width along the bottom edge.
    pub fn mrz_zone_mm(&self) -> [f32; 4] {
        [
            0.0,
            self.card.height_mm - self.mrz.zone_height_mm,
            self.card.width_mm,
            self.mrz.zone_height_mm,
        ]
    }

    /// Where an element is drawn, in pixels; `None` when the template does not place it.
    pub fn element_px(&self, face: Face, element: Element) -> Option<PxRect> {
        let side = match face {
            Face::Front => &self.front,
            Face::Back => &self.back,
        };
        let b = match element {
            Element::Field(f) => side.fields.iter().find(|s| s.field == f)?.box_mm,
            Element::Photo => side.photo.as_ref()?.box_mm,
            Element::Signature => side.signature.as_ref()?.box_mm,
            Element::Qr => side.qr.as_ref()?.box_mm,
            Element::MrzZone => match face {
                Face::Back => self.mrz_zone_mm(),
                Face::Front => return None,
            },
        };
        Some(self.px(b))
    }

    fn check(&self) -> Result<(), (String, String)> {
        let c = &self.card;
        if !(c.width_mm > 0.0 && c.height_mm > 0.0 && (72..=1200).contains(&c.dpi)) {
            return Err((
                "card".into(),
                format!(
                    "size {} x {} mm at {} dpi is not printable; expected positive sizes and 72-1200 dpi",
                    c.width_mm, c.height_mm, c.dpi
                ),
            ));
        }
        let m = &self.mrz;
        // Doc 9303 Part 5 §4.2.1.3: first character 5.0 ± 1.0 mm from the left edge.
        if !(4.0..=6.0).contains(&m.left_mm) {
            return Err((
                "mrz.left_mm".into(),
                format!(
                    "is {} mm; Doc 9303 Part 5 requires 4.0 to 6.0 mm",
                    m.left_mm
                ),
            ));
        }
        if (m.char_pitch_mm - 2.54).abs() > 0.01 {
            return Err((
                "mrz.char_pitch_mm".into(),
                format!(
                    "is {} mm; OCR-B size 1 is 2.54 mm (10 per inch)",
                    m.char_pitch_mm
                ),
            ));
        }
        // ISO 1831 §6.13: OCR-B size 1 lines at least 4.20 mm apart.
        if !(4.2..=6.35).contains(&m.line_pitch_mm) {
            return Err((
                "mrz.line_pitch_mm".into(),
                format!(
                    "is {} mm; expected 4.20 to 6.35 mm (nominal 4.23)",
                    m.line_pitch_mm
                ),
            ));
        }
        let right = m.left_mm + 30.0 * m.char_pitch_mm;
        if right > c.width_mm - 2.0 {
            return Err((
                "mrz.left_mm".into(),
                format!(
                    "30 characters end at {right:.2} mm, inside the 2.0 mm edge margin of a {} mm card",
                    c.width_mm
                ),
            ));
        }
        // Half a character cell (cap height about 2.46 mm) above the first and below the last line.
        let top = m.first_centre_from_bottom_mm + 1.5;
        let bottom = m.first_centre_from_bottom_mm - 2.0 * m.line_pitch_mm - 1.5;
        if top > m.zone_height_mm || bottom < 2.0 {
            return Err((
                "mrz.first_centre_from_bottom_mm".into(),
                format!(
                    "puts the lines between {bottom:.2} and {top:.2} mm from the bottom edge; \
                     they must stay inside the {} mm zone and above the 2.0 mm margin",
                    m.zone_height_mm
                ),
            ));
        }
        for (name, side) in [("front", &self.front), ("back", &self.back)] {
            self.check_side(name, side)?;
        }
        for f in Field::REQUIRED {
            let n = self.front.fields.iter().filter(|s| s.field == f).count()
                + self.back.fields.iter().filter(|s| s.field == f).count();
            if n == 0 {
                return Err((
                    "fields".into(),
                    format!(
                        "{} is placed on neither face; the card must show it",
                        f.key()
                    ),
                ));
            }
        }
        if self.front.photo.is_none() || self.front.signature.is_none() {
            return Err((
                "front".into(),
                "the front must place the photo and the signature".into(),
            ));
        }
        if let Some(p) = &self.front.photo {
            // Doc 9303 Part 5 §4.1.1.1, field 13/V: the portrait is 26-35 mm wide, 32-45 mm high.
            let [_, _, w, h] = p.box_mm;
            if !((25.99..=35.01).contains(&w) && (31.99..=45.01).contains(&h)) {
                return Err((
                    "front.photo".into(),
                    format!(
                        "is {w} x {h} mm; Doc 9303 Part 5 wants a portrait 26-35 mm wide and 32-45 mm high"
                    ),
                ));
            }
        }
        if self.back.qr.is_some() || self.back.photo.is_some() {
            return Err((
                "back".into(),
                "the photo and the QR seal belong on the front".into(),
            ));
        }
        Ok(())
    }

    fn check_side(&self, name: &str, side: &Side) -> Result<(), (String, String)> {
        let mut boxes: Vec<(String, [f32; 4])> = Vec::new();
        for (i, r) in side.rects.iter().enumerate() {
            self.check_box(&format!("{name}.rects[{i}]"), r.box_mm)?;
        }
        for (i, t) in side.texts.iter().enumerate() {
            let el = format!("{name}.texts[{i}]");
            check_sizes(&el, t.size_pt, t.min_size_pt.unwrap_or(t.size_pt))?;
            boxes.push((el, t.box_mm));
        }
        for (i, f) in side.fields.iter().enumerate() {
            let el = format!("{name}.fields[{i}] ({})", f.field.key());
            check_sizes(&el, f.size_pt, f.min_size_pt)?;
            check_sizes(&el, f.label_size_pt, f.label_size_pt)?;
            if side.fields[..i].iter().any(|g| g.field == f.field) {
                return Err((el, "the field is placed twice on this face".into()));
            }
            boxes.push((el, f.box_mm));
        }
        for (what, b) in [
            ("photo", &side.photo),
            ("signature", &side.signature),
            ("qr", &side.qr),
        ] {
            if let Some(b) = b {
                boxes.push((format!("{name}.{what}"), b.box_mm));
            }
        }
        for (el, b) in &boxes {
            self.check_box(el, *b)?;
            if let Some(k) = &side.keep_out
                && overlaps(*b, k.box_mm)
            {
                return Err((
                    el.clone(),
                    format!("box {b:?} overlaps the keep-out area {:?}", k.box_mm),
                ));
            }
            if name == "back" && overlaps(*b, self.mrz_zone_mm()) {
                return Err((
                    el.clone(),
                    format!(
                        "box {b:?} reaches into the MRZ zone (the bottom {} mm), which must stay clear",
                        self.mrz.zone_height_mm
                    ),
                ));
            }
        }
        if let Some(k) = &side.keep_out {
            self.check_box(&format!("{name}.keep_out"), k.box_mm)?;
        }
        Ok(())
    }

    fn check_box(&self, el: &str, b: [f32; 4]) -> Result<(), (String, String)> {
        let [x, y, w, h] = b;
        let ok = b.iter().all(|v| v.is_finite())
            && w > 0.0
            && h > 0.0
            && x >= 0.0
            && y >= 0.0
            && x + w <= self.card.width_mm + 0.001
            && y + h <= self.card.height_mm + 0.001;
        if ok {
            Ok(())
        } else {
            Err((
                el.to_string(),
                format!(
                    "box {b:?} is not inside the {} x {} mm card",
                    self.card.width_mm, self.card.height_mm
                ),
            ))
        }
    }
}

fn check_sizes(el: &str, max: f32, min: f32) -> Result<(), (String, String)> {
    if min > 0.0 && max >= min && max <= 72.0 {
        Ok(())
    } else {
        Err((
            el.to_string(),
            format!("type sizes {min} to {max} pt are not usable; expected 0 < min <= max <= 72"),
        ))
    }
}

fn overlaps(a: [f32; 4], b: [f32; 4]) -> bool {
    a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
