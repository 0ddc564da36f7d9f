//! The one error type of LDS parsing: it names the file and the element, never a holder's value.

use super::EfId;
use crate::tlv::TlvError;

/// Why bytes are not a well-formed LDS file. Display names the file ("DG11") and the element by tag
/// and in words, states what was found against what was expected, and never quotes holder data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdsError {
    /// The file is not one strict BER-TLV.
    #[error("{file}: not one strict BER-TLV: {source}")]
    Tlv {
        /// The file.
        file: EfId,
        /// What the TLV reader found.
        source: TlvError,
    },
    /// The file's single TLV has the wrong outer tag.
    #[error("{file}: outer tag is {found:02X}, expected {expected:02X}")]
    OuterTag {
        /// The file.
        file: EfId,
        /// Tag found.
        found: u32,
        /// Tag the file must have.
        expected: u32,
    },
    /// A mandatory element is absent.
    #[error("{file}: element {tag:02X} ({name}) is missing")]
    Missing {
        /// The file.
        file: EfId,
        /// The element's tag.
        tag: u32,
        /// The element in words.
        name: &'static str,
    },
    /// An element is present but malformed: wrong size, wrong characters, unexpected structure.
    #[error("{file}: element {tag:02X} ({name}) {problem}")]
    Element {
        /// The file.
        file: EfId,
        /// The element's tag.
        tag: u32,
        /// The element in words.
        name: &'static str,
        /// What is wrong, got versus expected (no holder values).
        problem: String,
    },
    /// An element this file may not contain.
    #[error("{file}: unexpected element {tag:02X}")]
    Unexpected {
        /// The file.
        file: EfId,
        /// The element's tag.
        tag: u32,
    },
    /// The ASN.1 (DER) content of DG14, DG15 or EF.SOD does not decode or is not what Doc 9303 asks.
    #[error("{file}: {what}: {problem}")]
    Asn1 {
        /// The file.
        file: EfId,
        /// The structure in words ("SignedData", "LDSSecurityObject").
        what: &'static str,
        /// What the decoder or the check found.
        problem: String,
    },
    /// A file the card must have was not among the files given.
    #[error("{file}: file is absent")]
    Absent {
        /// The file.
        file: EfId,
    },
}
