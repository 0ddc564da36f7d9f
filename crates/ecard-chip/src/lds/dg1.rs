//! DG1: the TD1 MRZ, 90 characters in `5F1F` (tag `61`).
//!
//! Parsing checks the shape (90 MRZ characters) but not the check digits: a wrong check digit is a
//! verdict of its own at the checkpoint ("MRZ check digits"), not a file that fails to parse. Debug
//! never shows the MRZ.

use super::util::{outer, prim};
use super::{EfId, LdsError};
use crate::tlv::{self, constructed, primitive};
use ecard_model::mrz::{MrzError, Td1};

const FILE: EfId = EfId::Dg1;
const MRZ_TAG: u32 = 0x5F1F;

/// The content of DG1: the MRZ as stored, three lines of 30 characters without line breaks.
#[derive(Clone, PartialEq, Eq)]
pub struct Dg1 {
    /// The 90 MRZ characters (0-9, A-Z, `<`).
    pub mrz: String,
}

impl std::fmt::Debug for Dg1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dg1")
            .field(
                "mrz",
                &format_args!("<{} characters redacted>", self.mrz.len()),
            )
            .finish()
    }
}

impl Dg1 {
    /// DG1 for a parsed TD1 MRZ.
    pub fn from_td1(td1: &Td1) -> Self {
        Dg1 {
            mrz: td1.lines.concat(),
        }
    }

    /// The MRZ parsed as TD1, check digits verified.
    pub fn td1(&self) -> Result<Td1, MrzError> {
        Td1::parse(&self.mrz)
    }

    /// The file's bytes: `61 { 5F1F mrz }`.
    pub fn build(&self) -> Vec<u8> {
        tlv::encode(&constructed(
            FILE.tag(),
            vec![primitive(MRZ_TAG, self.mrz.as_bytes().to_vec())],
        ))
    }

    /// Parses DG1: exactly one `5F1F` of 90 MRZ characters.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = outer(FILE, bytes)?;
        let kids = tlv::children(&t);
        let first = kids.first().ok_or(LdsError::Missing {
            file: FILE,
            tag: MRZ_TAG,
            name: "MRZ",
        })?;
        if let Some(extra) = kids.get(1) {
            return Err(LdsError::Unexpected {
                file: FILE,
                tag: tlv::tag_number(extra.tag()),
            });
        }
        let tag = tlv::tag_number(first.tag());
        if tag != MRZ_TAG {
            return Err(LdsError::Unexpected { file: FILE, tag });
        }
        let v = prim(FILE, first, "MRZ")?;
        if v.len() != 90 {
            return Err(LdsError::Element {
                file: FILE,
                tag: MRZ_TAG,
                name: "MRZ",
                problem: format!("is {} bytes, expected 90 (TD1)", v.len()),
            });
        }
        if let Some(pos) = v
            .iter()
            .position(|b| !(b.is_ascii_digit() || b.is_ascii_uppercase() || *b == b'<'))
        {
            return Err(LdsError::Element {
                file: FILE,
                tag: MRZ_TAG,
                name: "MRZ",
                problem: format!(
                    "has a character outside 0-9, A-Z and < at line {} position {}",
                    pos / 30 + 1,
                    pos % 30 + 1
                ),
            });
        }
        Ok(Dg1 {
            mrz: v.iter().map(|b| char::from(*b)).collect(),
        })
    }
}
