//! DG12: additional document details (tag `6C`): issuing authority, date of issue and the
//! personalization time.
//!
//! Elements follow a `5C` tag list that must name exactly the elements present. The "other persons"
//! template (`A0`) and the document images are not part of the e-card and are refused.

use super::util::{
    build_listed, digits, listed_elements, parse_date, parse_text, prim, text_element, yyyymmdd,
};
use super::{EfId, LdsError};

const FILE: EfId = EfId::Dg12;

/// Elements of DG12 kept as bytes: endorsements/observations and tax/exit requirements.
pub const OTHER_TAGS: [u32; 2] = [0x5F1B, 0x5F1C];

/// The content of DG12.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dg12 {
    /// `5F19`: issuing authority, UTF-8.
    pub issuing_authority: Option<String>,
    /// `5F26`: date of issue, `YYYYMMDD`.
    pub date_of_issue: Option<String>,
    /// `5F55`: date and time of personalization, `YYYYMMDDhhmmss`.
    pub personalization_time: Option<String>,
    /// `5F56`: serial number of the personalization system.
    pub personalization_system: Option<String>,
    /// The other elements in [`OTHER_TAGS`], as stored, in file order (the builder skips any other tag).
    pub other: Vec<(u32, Vec<u8>)>,
}

fn name(tag: u32) -> &'static str {
    match tag {
        0x5F19 => "issuing authority",
        0x5F26 => "date of issue",
        0x5F55 => "personalization time",
        0x5F56 => "personalization system serial number",
        _ => "document detail",
    }
}

impl Dg12 {
    /// DG12 as the station writes it.
    pub fn new(
        issuing_authority: &str,
        date_of_issue: time::Date,
        personalized_at: time::PrimitiveDateTime,
    ) -> Self {
        Dg12 {
            issuing_authority: Some(issuing_authority.to_string()),
            date_of_issue: Some(super::util::date_text(date_of_issue)),
            personalization_time: Some(format!(
                "{}{:02}{:02}{:02}",
                super::util::date_text(personalized_at.date()),
                personalized_at.hour(),
                personalized_at.minute(),
                personalized_at.second()
            )),
            personalization_system: None,
            other: Vec::new(),
        }
    }

    /// The date of issue as a calendar date, when present.
    pub fn date_of_issue_date(&self) -> Result<Option<time::Date>, LdsError> {
        self.date_of_issue
            .as_deref()
            .map(|s| yyyymmdd(FILE, 0x5F26, name(0x5F26), s))
            .transpose()
    }

    /// The file's bytes: one TLV `6C` with the elements present in the order `5F19`, `5F26`,
    /// `5F55`, `5F56`, then the others.
    pub fn build(&self) -> Vec<u8> {
        let elements = [
            (0x5F19, &self.issuing_authority),
            (0x5F26, &self.date_of_issue),
            (0x5F55, &self.personalization_time),
            (0x5F56, &self.personalization_system),
        ]
        .into_iter()
        .filter_map(|(t, v)| text_element(t, v))
        .collect();
        build_listed(FILE, elements, &self.other, &OTHER_TAGS)
    }

    /// Parses DG12.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = super::util::outer(FILE, bytes)?;
        let mut d = Dg12::default();
        for (tag, c) in listed_elements(FILE, &t, &[])? {
            match tag {
                0x5F19 | 0x5F56 => {
                    let v = Some(parse_text(FILE, tag, name(tag), c)?);
                    if tag == 0x5F19 {
                        d.issuing_authority = v;
                    } else {
                        d.personalization_system = v;
                    }
                }
                0x5F26 => d.date_of_issue = Some(parse_date(FILE, tag, name(tag), c)?),
                0x5F55 => {
                    let s = digits(FILE, tag, name(tag), prim(FILE, c, name(tag))?, 14)?;
                    yyyymmdd(FILE, tag, name(tag), &s[..8])?;
                    let hms = |r: std::ops::Range<usize>| s[r].parse::<u8>().unwrap_or(99);
                    if hms(8..10) > 23 || hms(10..12) > 59 || hms(12..14) > 59 {
                        return Err(LdsError::Element {
                            file: FILE,
                            tag,
                            name: name(tag),
                            problem: "has a time of day outside 000000..235959".into(),
                        });
                    }
                    d.personalization_time = Some(s);
                }
                t if OTHER_TAGS.contains(&t) => {
                    d.other.push((t, prim(FILE, c, name(t))?.to_vec()));
                }
                _ => return Err(LdsError::Unexpected { file: FILE, tag }),
            }
        }
        Ok(d)
    }
}
