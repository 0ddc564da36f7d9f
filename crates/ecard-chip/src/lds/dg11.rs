//! DG11: additional personal details (tag `6B`): the full name in national script and the full
//! date of birth, which the MRZ holds only transliterated and with a two-digit year.
//!
//! Elements follow a `5C` tag list that must name exactly the elements present. Other names may be
//! wrapped in an `A0` template with a count (Doc 9303-10) or stand alone; both parse, the builder
//! writes the template. Debug never shows values.

use super::util::{
    build_listed, listed_elements, parse_date, parse_text, prim, text_element, utf8, yyyymmdd,
};
use super::{EfId, LdsError};
use crate::tlv::{self, Tlv, constructed, primitive};

const FILE: EfId = EfId::Dg11;

/// Elements of DG11 kept as bytes: address, telephone, profession, title, personal summary, proof
/// of citizenship, other valid TD numbers, custody information.
pub const OTHER_TAGS: [u32; 8] = [
    0x5F42, 0x5F12, 0x5F13, 0x5F14, 0x5F15, 0x5F16, 0x5F17, 0x5F18,
];

/// The content of DG11.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Dg11 {
    /// `5F0E`: full name, `SURNAME<<GIVEN<PATRONYMIC`, UTF-8 (Cyrillic on the e-card).
    pub full_name: Option<String>,
    /// `5F0F`: other names.
    pub other_names: Vec<String>,
    /// `5F10`: personal number.
    pub personal_number: Option<String>,
    /// `5F2B`: date of birth, 8 digits `YYYYMMDD`.
    pub date_of_birth: Option<String>,
    /// `5F11`: place of birth.
    pub place_of_birth: Option<String>,
    /// The other elements in [`OTHER_TAGS`], as stored, in file order (the builder skips any other tag).
    pub other: Vec<(u32, Vec<u8>)>,
}

impl std::fmt::Debug for Dg11 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dg11")
            .field("full_name", &self.full_name.as_ref().map(|_| "<redacted>"))
            .field("other_names", &self.other_names.len())
            .field(
                "date_of_birth",
                &self.date_of_birth.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

fn name(tag: u32) -> &'static str {
    match tag {
        0x5F0E => "full name",
        0x5F0F => "other names",
        0x5F10 => "personal number",
        0x5F2B => "date of birth",
        0x5F11 => "place of birth",
        _ => "personal detail",
    }
}

impl Dg11 {
    /// The date of birth as a calendar date, when present.
    pub fn date_of_birth_date(&self) -> Result<Option<time::Date>, LdsError> {
        self.date_of_birth
            .as_deref()
            .map(|s| yyyymmdd(FILE, 0x5F2B, name(0x5F2B), s))
            .transpose()
    }

    /// The file's bytes: one TLV `6B`, the tag list naming the elements present in this order:
    /// `5F0E`, `5F0F` (in `A0`), `5F10`, `5F2B`, `5F11`, then the others.
    pub fn build(&self) -> Vec<u8> {
        let mut elements: Vec<(u32, Tlv)> = Vec::new();
        elements.extend(text_element(0x5F0E, &self.full_name));
        if !self.other_names.is_empty() {
            let n = self.other_names.len().min(255);
            let mut inner = vec![primitive(0x02, vec![n as u8])];
            inner.extend(
                self.other_names[..n]
                    .iter()
                    .map(|o| primitive(0x5F0F, o.as_bytes().to_vec())),
            );
            elements.push((0x5F0F, constructed(0xA0, inner)));
        }
        elements.extend(text_element(0x5F10, &self.personal_number));
        elements.extend(text_element(0x5F2B, &self.date_of_birth));
        elements.extend(text_element(0x5F11, &self.place_of_birth));
        build_listed(FILE, elements, &self.other, &OTHER_TAGS)
    }

    /// Parses DG11.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = super::util::outer(FILE, bytes)?;
        let mut d = Dg11::default();
        for (tag, c) in listed_elements(FILE, &t, &[(0xA0, 0x5F0F)])? {
            match tag {
                0x5F0F if tlv::tag_number(c.tag()) == 0xA0 => {
                    d.other_names = other_names(c)?;
                }
                0x5F0F => {
                    d.other_names = vec![parse_text(FILE, tag, name(tag), c)?];
                }
                0x5F0E | 0x5F10 | 0x5F11 => {
                    let v = Some(parse_text(FILE, tag, name(tag), c)?);
                    match tag {
                        0x5F0E => d.full_name = v,
                        0x5F10 => d.personal_number = v,
                        _ => d.place_of_birth = v,
                    }
                }
                0x5F2B => d.date_of_birth = Some(parse_date(FILE, tag, name(tag), c)?),
                t if OTHER_TAGS.contains(&t) => {
                    d.other.push((t, prim(FILE, c, name(t))?.to_vec()));
                }
                _ => return Err(LdsError::Unexpected { file: FILE, tag }),
            }
        }
        Ok(d)
    }
}

fn other_names(a0: &Tlv) -> Result<Vec<String>, LdsError> {
    let kids = tlv::children(a0);
    let bad = |problem: String| LdsError::Element {
        file: FILE,
        tag: 0xA0,
        name: "other names template",
        problem,
    };
    let (count, rest) = kids
        .split_first()
        .ok_or_else(|| bad("is empty, expected a count and names".into()))?;
    if tlv::tag_number(count.tag()) != 0x02 {
        return Err(bad("does not start with a count (02)".into()));
    }
    let n = match prim(FILE, count, "number of other names")? {
        [n] => usize::from(*n),
        _ => return Err(bad("has a count that is not one byte".into())),
    };
    if n != rest.len() || n == 0 {
        return Err(bad(format!("says {n} names, holds {}", rest.len())));
    }
    rest.iter()
        .map(|c| {
            let tag = tlv::tag_number(c.tag());
            if tag != 0x5F0F {
                return Err(LdsError::Unexpected { file: FILE, tag });
            }
            utf8(FILE, tag, name(tag), prim(FILE, c, name(tag))?)
        })
        .collect()
}
