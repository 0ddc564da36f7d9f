//! The ICAO Doc 9303 LDS 1.7 files of the e-card (ECARD.md section 4), one module per file.
//!
//! Each file is exactly one BER-TLV with minimal lengths. Builders take model values and return the
//! bytes to write; parsers take the bytes read from a card and return typed values or an error that
//! names the file and the element.

mod card;
pub mod com;
pub mod dg1;
pub mod dg11;
pub mod dg12;
pub mod dg14;
pub mod dg15;
pub mod dg2;
pub mod dg7;
mod error;
pub mod sod;
mod util;

pub use card::{BuildError, CardContent, ParsedCard, build_card, parse_card};
pub use com::Com;
pub use dg1::Dg1;
pub use dg2::{BiometricHeader, Dg2, FaceImage};
pub use dg7::Dg7;
pub use dg11::Dg11;
pub use dg12::Dg12;
pub use dg14::{ActiveAuthenticationInfo, Dg14, SecurityInfo};
pub use dg15::Dg15;
pub use error::LdsError;
pub use sod::{DataGroupHash, LdsSecurityObject, Sod, SodBuildError};

/// The elementary files of the e-card application, with their file ids, short EF ids and tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EfId {
    /// EF.COM: LDS version and the list of data groups present.
    Com,
    /// DG1: the MRZ.
    Dg1,
    /// DG2: the face image.
    Dg2,
    /// DG7: the signature image.
    Dg7,
    /// DG11: additional personal details.
    Dg11,
    /// DG12: additional document details.
    Dg12,
    /// DG14: security infos (Active Authentication).
    Dg14,
    /// DG15: the Active Authentication public key.
    Dg15,
    /// EF.SOD: the document security object.
    Sod,
}

impl EfId {
    /// Every file, in the order they are written to a card (EF.SOD last).
    pub const ALL: [EfId; 9] = [
        EfId::Com,
        EfId::Dg1,
        EfId::Dg2,
        EfId::Dg7,
        EfId::Dg11,
        EfId::Dg12,
        EfId::Dg14,
        EfId::Dg15,
        EfId::Sod,
    ];

    /// The file identifier under the application DF.
    pub fn fid(self) -> u16 {
        match self {
            EfId::Com => 0x011E,
            EfId::Dg1 => 0x0101,
            EfId::Dg2 => 0x0102,
            EfId::Dg7 => 0x0107,
            EfId::Dg11 => 0x010B,
            EfId::Dg12 => 0x010C,
            EfId::Dg14 => 0x010E,
            EfId::Dg15 => 0x010F,
            EfId::Sod => 0x011D,
        }
    }

    /// The short EF identifier (1..30).
    pub fn sfi(self) -> u8 {
        (self.fid() & 0x1F) as u8
    }

    /// The outer tag of the file's single TLV.
    pub fn tag(self) -> u32 {
        match self {
            EfId::Com => 0x60,
            EfId::Dg1 => 0x61,
            EfId::Dg2 => 0x75,
            EfId::Dg7 => 0x67,
            EfId::Dg11 => 0x6B,
            EfId::Dg12 => 0x6C,
            EfId::Dg14 => 0x6E,
            EfId::Dg15 => 0x6F,
            EfId::Sod => 0x77,
        }
    }

    /// The data group number (1..16), or `None` for EF.COM and EF.SOD.
    pub fn dg_number(self) -> Option<u8> {
        match self {
            EfId::Com | EfId::Sod => None,
            other => Some((other.fid() & 0xFF) as u8),
        }
    }

    /// The file for a data group number, where the e-card has it.
    pub fn from_dg_number(n: u8) -> Option<EfId> {
        EfId::ALL.into_iter().find(|ef| ef.dg_number() == Some(n))
    }

    /// The file whose single TLV has outer tag `tag`.
    pub fn from_tag(tag: u32) -> Option<EfId> {
        EfId::ALL.into_iter().find(|ef| ef.tag() == tag)
    }

    /// The name used in messages ("EF.COM", "DG1", "EF.SOD").
    pub fn name(self) -> &'static str {
        match self {
            EfId::Com => "EF.COM",
            EfId::Dg1 => "DG1",
            EfId::Dg2 => "DG2",
            EfId::Dg7 => "DG7",
            EfId::Dg11 => "DG11",
            EfId::Dg12 => "DG12",
            EfId::Dg14 => "DG14",
            EfId::Dg15 => "DG15",
            EfId::Sod => "EF.SOD",
        }
    }

    /// The dump file name used by `ecard read` and the shared vectors ("EF.COM.bin", "DG1.bin", "SOD.bin").
    pub fn dump_file_name(self) -> &'static str {
        match self {
            EfId::Com => "EF.COM.bin",
            EfId::Dg1 => "DG1.bin",
            EfId::Dg2 => "DG2.bin",
            EfId::Dg7 => "DG7.bin",
            EfId::Dg11 => "DG11.bin",
            EfId::Dg12 => "DG12.bin",
            EfId::Dg14 => "DG14.bin",
            EfId::Dg15 => "DG15.bin",
            EfId::Sod => "SOD.bin",
        }
    }
}

impl std::fmt::Display for EfId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The application identifier of the e-card's LDS application DF.
pub const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// The raw files of one card, as written or as read back: the unit that personalization writes and
/// verification checks.
pub type LdsFiles = std::collections::BTreeMap<EfId, Vec<u8>>;
