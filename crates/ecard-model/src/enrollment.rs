//! The enrollment record: the JSON the MMC sends for one application (ECARD.md section 2).
//!
//! These types are the input contract, field for field, with `deny_unknown_fields`. They hold what
//! was sent, not what is true: use [`crate::validation::check_record`] to get a record that passed
//! every rule. Debug output is redacted: a record is personal data.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::dates::iso_date;
use crate::holder::Sex;
use crate::number::DocumentNumber;

/// One enrollment record, as ECARD.md section 2 defines it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRecord {
    /// The MMC's application id, e.g. `MMC-2026-0000123`.
    pub application_id: String,
    /// Surname in Latin letters.
    pub surname: String,
    /// Given names in Latin letters.
    pub given_names: String,
    /// Patronymic in Latin letters, only when the holder has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<String>,
    /// The name in Cyrillic, when the MMC has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_cyrillic: Option<CyrillicName>,
    /// Date of birth.
    #[serde(with = "iso_date")]
    pub date_of_birth: Date,
    /// Sex, `M` or `F`.
    pub sex: Sex,
    /// Nationality, an ICAO code (see [`crate::nationality`]).
    pub nationality: String,
    /// Residence status; only temporary residents get the card.
    pub residence_status: ResidenceStatus,
    /// The holder's region of residence, an ISO 3166-2:RU code (`RU-MOW` Moscow, `RU-MOS` Moscow
    /// Oblast; see [`crate::region`]), when the MMC has it. Statistics group by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_region: Option<String>,
    /// The passport or stateless person's document the details come from.
    pub identity_document: IdentityDocument,
    /// The portrait, JPEG or PNG.
    pub photo: ImageRef,
    /// The sample signature, JPEG or PNG.
    pub signature: ImageRef,
    /// First issue or replacement.
    pub application: Application,
    /// The application date.
    #[serde(with = "iso_date")]
    pub applied_on: Date,
}

impl EnrollmentRecord {
    /// Whether this is a replacement filed more than 7 calendar days after the event (the card is
    /// still issued; the MMC decides on sanctions).
    pub fn late_notification(&self) -> bool {
        match &self.application {
            Application::Replacement { event_date, .. } => {
                (self.applied_on - *event_date).whole_days() > crate::validation::NOTIFICATION_DAYS
            }
            Application::FirstIssue => false,
        }
    }
}

// A record is personal data: Debug shows the application id only.
impl std::fmt::Debug for EnrollmentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentRecord")
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// The holder's name in Cyrillic (what DG11 holds in national script).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyrillicName {
    /// Surname.
    pub surname: String,
    /// Given names.
    pub given_names: String,
    /// Patronymic, only when the holder has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<String>,
}

impl std::fmt::Debug for CyrillicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CyrillicName(<redacted>)")
    }
}

/// Residence status. Only `temporary` exists here: the card is for temporary residents, and a
/// record with any other status is rejected by validation with a message saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResidenceStatus {
    /// Temporarily resident in Russia.
    Temporary,
}

/// The identity document the card's details must match.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    /// Kind of document.
    pub kind: IdentityDocumentKind,
    /// Its number, as printed (A-Z, 0-9).
    pub number: String,
    /// Issuing state, an ICAO code.
    pub issuing_state: String,
    /// Its date of expiry.
    #[serde(with = "iso_date")]
    pub date_of_expiry: Date,
    /// The two 44-character lines of its TD3 MRZ, when scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrz: Option<[String; 2]>,
}

impl std::fmt::Debug for IdentityDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityDocument")
            .field("kind", &self.kind)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

/// Kinds of identity document the decree accepts.
///
/// There is deliberately no `travel_document`: the decree names a foreign passport or a stateless
/// person's document. A Convention travel document (1951 refugees, 1954 stateless persons) is
/// enrolled as `stateless_person_document`; validation says so when `travel_document` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityDocumentKind {
    /// A national passport.
    Passport,
    /// A stateless person's document (including Convention travel documents).
    StatelessPersonDocument,
}

/// An image: a file path relative to the record file, or the bytes inline in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageRef {
    /// `{"path": "photo.jpg"}`: relative to the record file; the caller reads it.
    #[serde(rename = "path")]
    Path(String),
    /// `{"base64": "..."}`: standard base64 (line breaks allowed).
    #[serde(rename = "base64")]
    Base64(String),
}

/// Inline image data that is not base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64: {reason}")]
pub struct Base64Error {
    /// The decoder's reason (position and character, no image content).
    pub reason: String,
}

impl ImageRef {
    /// The bytes of an inline image; `None` for a path (the caller reads files).
    pub fn decode_base64(&self) -> Option<Result<Vec<u8>, Base64Error>> {
        match self {
            ImageRef::Path(_) => None,
            ImageRef::Base64(text) => Some(decode_base64(text)),
        }
    }
}

/// Standard base64 with any ASCII whitespace in it skipped (mail and JSON tools wrap base64 at
/// 76 columns; whitespace carries nothing). Text without whitespace, as the station's clients
/// send it, is decoded in place, with no compacted copy of a photo-sized string.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    let decoded = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        engine.decode(compact)
    } else {
        engine.decode(text)
    };
    decoded.map_err(|e| Base64Error {
        reason: e.to_string(),
    })
}

// Inline images are photos: Debug gives the path or the length, never the content.
impl std::fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageRef::Path(p) => f.debug_tuple("Path").field(p).finish(),
            ImageRef::Base64(b) => write!(f, "Base64(<{} characters>)", b.len()),
        }
    }
}

/// First issue or replacement (ECARD.md section 2). Unknown fields beside `"kind":"first_issue"`
/// pass serde (it cannot deny them for a unit variant) but are reported by validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Application {
    /// The holder's first card.
    FirstIssue,
    /// A new card replacing a previous one, which becomes invalid.
    Replacement {
        /// The previous card's number (9 digits).
        previous_document_number: DocumentNumber,
        /// Why the card is replaced.
        cause: ReplacementCause,
        /// When the loss, damage or change happened.
        #[serde(with = "iso_date")]
        event_date: Date,
    },
}

/// Why a card is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplacementCause {
    /// The card was lost.
    Lost,
    /// The card was damaged.
    Damaged,
    /// The holder's details changed.
    DetailsChanged,
}

impl ReplacementCause {
    /// The JSON and status-list spelling (`lost`, `damaged`, `details_changed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ReplacementCause::Lost => "lost",
            ReplacementCause::Damaged => "damaged",
            ReplacementCause::DetailsChanged => "details_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs() {
        let p: ImageRef = serde_json::from_str(r#"{"path": "photo.jpg"}"#).unwrap();
        assert_eq!(p, ImageRef::Path("photo.jpg".into()));
        assert_eq!(p.decode_base64(), None);
        let b: ImageRef = serde_json::from_str(r#"{"base64": "/9j/\n4A=="}"#).unwrap();
        assert_eq!(b.decode_base64(), Some(Ok(vec![0xFF, 0xD8, 0xFF, 0xE0])));
        assert_eq!(format!("{b:?}"), "Base64(<9 characters>)");
        assert!(matches!(
            ImageRef::Base64("@@".into()).decode_base64(),
            Some(Err(Base64Error { .. }))
        ));
        assert!(serde_json::from_str::<ImageRef>(r#"{"url": "x"}"#).is_err());
    }

    /// The decoding before it skipped the compacted copy when there is no whitespace: the
    /// reference for the property below.
    fn decode_by_copy(text: &str) -> Result<Vec<u8>, Base64Error> {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| Base64Error {
                reason: e.to_string(),
            })
    }

    proptest::proptest! {
        /// Any text, base64 or not, wrapped or not: the same bytes or the same error as decoding
        /// a compacted copy.
        #[test]
        fn inline_decoding_matches_the_compacted_copy(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            wrap in proptest::option::of(1usize..80),
            junk in "[ -~\t\n\r\u{a0}\u{430}]{0,6}",
            at in 0usize..300,
        ) {
            let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            if let Some(w) = wrap {
                let chars: Vec<char> = text.chars().collect();
                text = chars.chunks(w).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("\r\n");
            }
            proptest::prop_assert_eq!(decode_base64(&text), Ok(bytes.clone()));
            proptest::prop_assert_eq!(decode_base64(&text), decode_by_copy(&text));
            // And with anything spliced in (a char boundary: ASCII only before it).
            let cut = text.char_indices().map(|(i, _)| i).find(|i| *i >= at.min(text.len())).unwrap_or(text.len());
            text.insert_str(cut, &junk);
            proptest::prop_assert_eq!(decode_base64(&text), decode_by_copy(&text));
        }
    }

    #[test]
    fn applications() {
        let a: Application = serde_json::from_str(r#"{"kind":"first_issue"}"#).unwrap();
        assert_eq!(a, Application::FirstIssue);
        let r: Application = serde_json::from_str(
            r#"{"kind":"replacement","previous_document_number":"771234567","cause":"lost","event_date":"2026-11-20"}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Application::Replacement {
                previous_document_number: DocumentNumber::new(77, 1_234_567).unwrap(),
                cause: ReplacementCause::Lost,
                event_date: time::macros::date!(2026 - 11 - 20),
            }
        );
        // serde cannot deny unknown fields beside the tag of a unit variant; the validation walk
        // reports them (validation::tests::missing_unknown_and_mistyped_fields).
        assert!(serde_json::from_str::<Application>(r#"{"kind":"replacement","x":1}"#).is_err());
    }
}
