//! The card's series and number: 2 + 7 digits, printed `77 1234567`, `771234567` on the chip and
//! in the MRZ (ECARD.md section 3).
//!
//! This module only knows the form of a number; allocating numbers (each at most once, ever) is the
//! station's job.

use std::fmt;
use std::str::FromStr;

/// A card number: series (2 digits) and number (7 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentNumber {
    series: u8,
    number: u32,
}

/// What is wrong with a card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentNumberError {
    /// Not 9 digits, nor 2 digits, a space and 7 digits.
    #[error(
        "card number {got:?} must be 9 digits (\"771234567\") or series and number (\"77 1234567\")"
    )]
    Form {
        /// The text given.
        got: String,
    },
    /// A series above 99.
    #[error("card series {got} is over 99")]
    Series {
        /// The series given.
        got: u8,
    },
    /// A number above 9999999.
    #[error("card number {got} is over 9999999")]
    Number {
        /// The number given.
        got: u32,
    },
}

impl DocumentNumber {
    /// A number from its parts: `series` 0-99, `number` 0-9999999.
    pub fn new(series: u8, number: u32) -> Result<Self, DocumentNumberError> {
        if series > 99 {
            return Err(DocumentNumberError::Series { got: series });
        }
        if number > 9_999_999 {
            return Err(DocumentNumberError::Number { got: number });
        }
        Ok(DocumentNumber { series, number })
    }

    /// The series, 0-99.
    pub fn series(&self) -> u8 {
        self.series
    }

    /// The number within the series, 0-9999999.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The 9 digits as written on the chip and in the MRZ: `771234567`.
    pub fn mrz_form(&self) -> String {
        format!("{:02}{:07}", self.series, self.number)
    }
}

/// The printed form: `77 1234567`.
impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02} {:07}", self.series, self.number)
    }
}

/// Accepts `771234567` and `77 1234567`.
impl FromStr for DocumentNumber {
    type Err = DocumentNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = || DocumentNumberError::Form { got: s.to_string() };
        let b = s.as_bytes();
        let (series, number) = match b.len() {
            9 => (&b[0..2], &b[2..9]),
            10 if b[2] == b' ' => (&b[0..2], &b[3..10]),
            _ => return Err(form()),
        };
        let value = |d: &[u8]| -> Option<u32> {
            d.iter().try_fold(0u32, |acc, c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let series = value(series).ok_or_else(form)?;
        let number = value(number).ok_or_else(form)?;
        // Two digits are below 100, so the series fits a u8.
        DocumentNumber::new(u8::try_from(series).map_err(|_| form())?, number)
    }
}

impl serde::Serialize for DocumentNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.mrz_form())
    }
}

impl<'de> serde::Deserialize<'de> for DocumentNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        let n = DocumentNumber::new(77, 1_234_567).unwrap();
        assert_eq!(n.to_string(), "77 1234567");
        assert_eq!(n.mrz_form(), "771234567");
        assert_eq!("771234567".parse(), Ok(n));
        assert_eq!("77 1234567".parse(), Ok(n));
        assert_eq!(
            DocumentNumber::new(5, 42).unwrap().to_string(),
            "05 0000042"
        );
        assert_eq!(
            "77-1234567".parse::<DocumentNumber>(),
            Err(DocumentNumberError::Form {
                got: "77-1234567".into()
            })
        );
        assert_eq!(
            "77123456".parse::<DocumentNumber>(),
            Err(DocumentNumberError::Form {
                got: "77123456".into()
            })
        );
        assert_eq!(
            "7712345６7".parse::<DocumentNumber>(),
            Err(DocumentNumberError::Form {
                got: "7712345６7".into()
            })
        );
        assert_eq!(
            DocumentNumber::new(100, 1),
            Err(DocumentNumberError::Series { got: 100 })
        );
        assert_eq!(
            DocumentNumber::new(1, 10_000_000),
            Err(DocumentNumberError::Number { got: 10_000_000 })
        );
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"771234567\"");
    }

    proptest! {
        #[test]
        fn round_trips(series in 0u8..100, number in 0u32..10_000_000) {
            let n = DocumentNumber::new(series, number).unwrap();
            prop_assert_eq!(n.mrz_form().len(), 9);
            prop_assert_eq!(n.mrz_form().parse::<DocumentNumber>(), Ok(n));
            prop_assert_eq!(n.to_string().parse::<DocumentNumber>(), Ok(n));
        }

        #[test]
        fn parsing_anything_never_panics(s in "\\PC{0,12}") {
            let _ = s.parse::<DocumentNumber>();
        }
    }
}
