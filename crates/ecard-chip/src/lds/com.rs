//! EF.COM: the LDS and Unicode versions and the list of data groups present (tag `60`).
//!
//! EF.COM is not hashed in EF.SOD, so nothing here is trusted: the verifier compares the list with
//! the files actually present. The parser keeps tags of data groups the e-card never has (DG3) so
//! that the verifier can name them.

use super::util::{outer, parse_tag_list, prim};
use super::{EfId, LdsError};
use crate::tlv::{self, constructed, primitive};

const FILE: EfId = EfId::Com;

/// The content of EF.COM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Com {
    /// LDS version, 4 digits `aabb` ("0107" for LDS 1.7).
    pub lds_version: String,
    /// Unicode version, 6 digits `aabbcc` ("040000").
    pub unicode_version: String,
    /// The outer tags of the data groups present, as listed (`0x61` for DG1, `0x63` for DG3...).
    pub dg_tags: Vec<u8>,
}

impl Com {
    /// EF.COM for LDS 1.7, Unicode 4.0.0, listing `files` (EF.COM and EF.SOD are skipped, the rest
    /// are listed in data group order).
    pub fn for_files(files: &[EfId]) -> Self {
        let mut dgs: Vec<EfId> = files
            .iter()
            .copied()
            .filter(|f| f.dg_number().is_some())
            .collect();
        dgs.sort();
        dgs.dedup();
        Com {
            lds_version: "0107".into(),
            unicode_version: "040000".into(),
            // Data group tags are all one byte (0x61..0x77).
            dg_tags: dgs.iter().map(|f| f.tag() as u8).collect(),
        }
    }

    /// The listed data groups the e-card knows, and the listed tags it does not know.
    pub fn data_groups(&self) -> (Vec<EfId>, Vec<u8>) {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for t in &self.dg_tags {
            match EfId::from_tag(u32::from(*t)).filter(|f| f.dg_number().is_some()) {
                Some(f) => known.push(f),
                None => unknown.push(*t),
            }
        }
        (known, unknown)
    }

    /// The file's bytes: one TLV `60`.
    pub fn build(&self) -> Vec<u8> {
        // Data group tags are one byte each, so the list is the bytes themselves.
        tlv::encode(&constructed(
            FILE.tag(),
            vec![
                primitive(0x5F01, self.lds_version.as_bytes().to_vec()),
                primitive(0x5F36, self.unicode_version.as_bytes().to_vec()),
                primitive(0x5C, self.dg_tags.clone()),
            ],
        ))
    }

    /// Parses EF.COM. Versions must be digits of the right length; the tag list must hold one-byte
    /// application tags (`0x61`..`0x7F`), each at most once.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = outer(FILE, bytes)?;
        let mut lds = None;
        let mut uni = None;
        let mut list = None;
        for c in tlv::children(&t) {
            let tag = tlv::tag_number(c.tag());
            let slot = match tag {
                0x5F01 => &mut lds,
                0x5F36 => &mut uni,
                0x5C => &mut list,
                _ => return Err(LdsError::Unexpected { file: FILE, tag }),
            };
            if slot.is_some() {
                return Err(LdsError::Element {
                    file: FILE,
                    tag,
                    name: name(tag),
                    problem: "appears twice".into(),
                });
            }
            *slot = Some(prim(FILE, c, name(tag))?.to_vec());
        }
        let lds = lds.ok_or(LdsError::Missing {
            file: FILE,
            tag: 0x5F01,
            name: name(0x5F01),
        })?;
        let uni = uni.ok_or(LdsError::Missing {
            file: FILE,
            tag: 0x5F36,
            name: name(0x5F36),
        })?;
        let list = list.ok_or(LdsError::Missing {
            file: FILE,
            tag: 0x5C,
            name: name(0x5C),
        })?;
        let lds_version = super::util::digits(FILE, 0x5F01, name(0x5F01), &lds, 4)?;
        let unicode_version = super::util::digits(FILE, 0x5F36, name(0x5F36), &uni, 6)?;
        let tags = parse_tag_list(FILE, &list)?;
        let mut dg_tags = Vec::with_capacity(tags.len());
        for t in tags {
            if !(0x61..=0x7F).contains(&t) {
                return Err(LdsError::Element {
                    file: FILE,
                    tag: 0x5C,
                    name: name(0x5C),
                    problem: format!("lists tag {t:02X}, expected data group tags 61..7F"),
                });
            }
            let t = t as u8;
            if dg_tags.contains(&t) {
                return Err(LdsError::Element {
                    file: FILE,
                    tag: 0x5C,
                    name: name(0x5C),
                    problem: format!("lists tag {t:02X} twice"),
                });
            }
            dg_tags.push(t);
        }
        Ok(Com {
            lds_version,
            unicode_version,
            dg_tags,
        })
    }
}

fn name(tag: u32) -> &'static str {
    match tag {
        0x5F01 => "LDS version",
        0x5F36 => "Unicode version",
        _ => "data group tag list",
    }
}
