//! Small shared pieces of the LDS codecs: the outer TLV, tag lists, typed element values.
//!
//! It knows nothing of any one file; each file module says which element is which.

use super::{EfId, LdsError};
use crate::tlv::{self, Tlv};

/// Parses `bytes` as exactly one strict BER-TLV with the file's outer tag.
pub(crate) fn outer(file: EfId, bytes: &[u8]) -> Result<Tlv, LdsError> {
    let t = tlv::parse_strict(bytes).map_err(|source| LdsError::Tlv { file, source })?;
    let found = tlv::tag_number(t.tag());
    if found != file.tag() {
        return Err(LdsError::OuterTag {
            file,
            found,
            expected: file.tag(),
        });
    }
    Ok(t)
}

/// For files whose value is DER (DG14, DG15, EF.SOD): checks the outer tag and length and returns
/// the value. The value is left to the DER decoder; the BER-TLV walker is not used on it because DER
/// nests deeper than any LDS template.
pub(crate) fn outer_der(file: EfId, bytes: &[u8]) -> Result<&[u8], LdsError> {
    let h = tlv::parse_header(bytes).map_err(|source| LdsError::Tlv { file, source })?;
    if h.tag != file.tag() {
        return Err(LdsError::OuterTag {
            file,
            found: h.tag,
            expected: file.tag(),
        });
    }
    let total = h.total_len();
    if total > bytes.len() {
        return Err(LdsError::Tlv {
            file,
            source: tlv::TlvError::Truncated {
                offset: h.header_len,
                needed: h.value_len,
                available: bytes.len() - h.header_len,
            },
        });
    }
    if total < bytes.len() {
        return Err(LdsError::Tlv {
            file,
            source: tlv::TlvError::TrailingBytes {
                offset: total,
                count: bytes.len() - total,
            },
        });
    }
    Ok(&bytes[h.header_len..total])
}

/// Wraps DER content in the file's outer tag with a minimal length.
pub(crate) fn wrap_der(file: EfId, der: &[u8]) -> Vec<u8> {
    let mut out = tlv::tag(file.tag()).to_bytes().to_vec();
    tlv::encode_length(der.len(), &mut out);
    out.extend_from_slice(der);
    out
}

/// The bytes of a tag (`0x5F1F` -> `5F 1F`).
pub(crate) fn tag_bytes(t: u32) -> Vec<u8> {
    tlv::tag(t).to_bytes().to_vec()
}

/// Encodes a `5C` tag list.
pub(crate) fn tag_list(tags: &[u32]) -> Vec<u8> {
    tags.iter().flat_map(|t| tag_bytes(*t)).collect()
}

/// Decodes a `5C` tag list: tags of one to three bytes, back to back.
pub(crate) fn parse_tag_list(file: EfId, bytes: &[u8]) -> Result<Vec<u32>, LdsError> {
    let bad = |problem: &str| LdsError::Element {
        file,
        tag: 0x5C,
        name: "tag list",
        problem: problem.to_string(),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let first = bytes[i];
        let mut t = u32::from(first);
        i += 1;
        if first & 0x1F == 0x1F {
            let mut n = 0;
            loop {
                let b = *bytes.get(i).ok_or_else(|| bad("ends inside a tag"))?;
                t = (t << 8) | u32::from(b);
                i += 1;
                n += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if n == 2 {
                    return Err(bad("holds a tag longer than 3 bytes"));
                }
            }
        }
        if tlv::Tag::try_from(u64::from(t)).is_err() {
            return Err(bad("holds an invalid tag"));
        }
        out.push(t);
    }
    Ok(out)
}

/// The value of a primitive element, or an error naming it when it is constructed.
pub(crate) fn prim<'a>(file: EfId, t: &'a Tlv, name: &'static str) -> Result<&'a [u8], LdsError> {
    tlv::primitive_value(t).ok_or_else(|| LdsError::Element {
        file,
        tag: tlv::tag_number(t.tag()),
        name,
        problem: "is constructed, expected primitive".into(),
    })
}

/// A UTF-8 text element.
pub(crate) fn utf8(file: EfId, tag: u32, name: &'static str, v: &[u8]) -> Result<String, LdsError> {
    String::from_utf8(v.to_vec()).map_err(|e| LdsError::Element {
        file,
        tag,
        name,
        problem: format!(
            "is not UTF-8 (invalid byte at {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// A text element of exactly `n` ASCII digits.
pub(crate) fn digits(
    file: EfId,
    tag: u32,
    name: &'static str,
    v: &[u8],
    n: usize,
) -> Result<String, LdsError> {
    if v.len() != n {
        return Err(LdsError::Element {
            file,
            tag,
            name,
            problem: format!("is {} bytes, expected {n}", v.len()),
        });
    }
    if !v.iter().all(u8::is_ascii_digit) {
        return Err(LdsError::Element {
            file,
            tag,
            name,
            problem: format!("is not {n} digits"),
        });
    }
    // All ASCII digits, so valid UTF-8.
    Ok(v.iter().map(|b| char::from(*b)).collect())
}

/// A `YYYYMMDD` date as a calendar date.
pub(crate) fn yyyymmdd(
    file: EfId,
    tag: u32,
    name: &'static str,
    s: &str,
) -> Result<time::Date, LdsError> {
    let bad = || LdsError::Element {
        file,
        tag,
        name,
        problem: "is not a calendar date YYYYMMDD".into(),
    };
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (y, m, d) = (
        num(0..4).ok_or_else(bad)?,
        num(4..6).ok_or_else(bad)?,
        num(6..8).ok_or_else(bad)?,
    );
    let month = time::Month::try_from(m as u8).map_err(|_| bad())?;
    time::Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| bad())
}

/// `YYYYMMDD` text of a date (years 0..9999).
pub(crate) fn date_text(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A `5C`-listed file (DG11, DG12): `elements` (the tag the list names, and the element) in
/// their order, then those of `other` whose tag is in `other_tags` (any other tag is not an
/// element of the file and is left out), after a `5C` tag list naming them all, in one TLV of
/// `file`'s tag.
pub(crate) fn build_listed(
    file: EfId,
    mut elements: Vec<(u32, Tlv)>,
    other: &[(u32, Vec<u8>)],
    other_tags: &[u32],
) -> Vec<u8> {
    elements.extend(
        other
            .iter()
            .filter(|(t, _)| other_tags.contains(t))
            .map(|(t, v)| (*t, tlv::primitive(*t, v.clone()))),
    );
    let tags: Vec<u32> = elements.iter().map(|(t, _)| *t).collect();
    let mut kids = vec![tlv::primitive(0x5C, tag_list(&tags))];
    kids.extend(elements.into_iter().map(|(_, e)| e));
    tlv::encode(&tlv::constructed(file.tag(), kids))
}

/// A UTF-8 text element to build, when it has a value.
pub(crate) fn text_element(tag: u32, value: &Option<String>) -> Option<(u32, Tlv)> {
    value
        .as_ref()
        .map(|v| (tag, tlv::primitive(tag, v.as_bytes().to_vec())))
}

/// The value of the primitive UTF-8 text element `t`.
pub(crate) fn parse_text(
    file: EfId,
    tag: u32,
    name: &'static str,
    t: &Tlv,
) -> Result<String, LdsError> {
    utf8(file, tag, name, prim(file, t, name)?)
}

/// The value of the primitive `YYYYMMDD` date element `t`, checked to be a calendar date.
pub(crate) fn parse_date(
    file: EfId,
    tag: u32,
    name: &'static str,
    t: &Tlv,
) -> Result<String, LdsError> {
    let s = digits(file, tag, name, prim(file, t, name)?, 8)?;
    yyyymmdd(file, tag, name, &s)?;
    Ok(s)
}

/// The elements of a template that starts with a `5C` tag list (DG11, DG12), in file order, after
/// checking that the list names exactly the elements present, each once. `alias` maps a wrapping
/// template tag to the tag the list uses for it (DG11 lists `5F0F` for its `A0` other-names template).
pub(crate) fn listed_elements<'a>(
    file: EfId,
    t: &'a Tlv,
    alias: &[(u32, u32)],
) -> Result<Vec<(u32, &'a Tlv)>, LdsError> {
    let kids = tlv::children(t);
    let (list, rest) = kids.split_first().ok_or(LdsError::Missing {
        file,
        tag: 0x5C,
        name: "tag list",
    })?;
    if tlv::tag_number(list.tag()) != 0x5C {
        return Err(LdsError::Missing {
            file,
            tag: 0x5C,
            name: "tag list",
        });
    }
    let mut listed = parse_tag_list(file, prim(file, list, "tag list")?)?;
    let mut out = Vec::with_capacity(rest.len());
    for c in rest {
        let raw = tlv::tag_number(c.tag());
        let tag = alias
            .iter()
            .find(|(from, _)| *from == raw)
            .map_or(raw, |(_, to)| *to);
        if out.iter().any(|(seen, _)| *seen == tag) {
            return Err(LdsError::Element {
                file,
                tag,
                name: "element",
                problem: "appears twice".into(),
            });
        }
        match listed.iter().position(|l| *l == tag) {
            Some(i) => {
                listed.remove(i);
            }
            None => {
                return Err(LdsError::Element {
                    file,
                    tag: 0x5C,
                    name: "tag list",
                    problem: format!("does not list element {tag:02X} that is present"),
                });
            }
        }
        out.push((tag, c));
    }
    if let Some(missing) = listed.first() {
        return Err(LdsError::Element {
            file,
            tag: 0x5C,
            name: "tag list",
            problem: format!("lists element {missing:02X} that is absent"),
        });
    }
    Ok(out)
}
