//! TD3 (passport) MRZ: two lines of 44 characters, parsed with every check digit verified, and
//! built (for samples and tests) with the same rules.
//!
//! Positions (0-based) per Doc 9303 Part 4, 4.2.2: line 1: document code 0..2, issuing state 2..5,
//! name 5..44; line 2: document number 0..9, check 9, nationality 10..13, date of birth 13..19,
//! check 19, sex 20, date of expiry 21..27, check 27, personal number 28..42, check 42, composite 43
//! over 0..10, 13..20 and 21..43.

use time::Date;

use super::check::check_digit_value;
use super::names::{name_field, split_name_field};
use super::td1::{MrzError, digit, field, name_part, trim_fillers, verify};
use crate::dates::mrz_date;

/// A parsed TD3 MRZ. Fields keep the MRZ's own characters (fillers trimmed where noted).
#[derive(Clone, PartialEq, Eq)]
pub struct Td3 {
    /// The two lines as given.
    pub lines: [String; 2],
    /// Document code, fillers trimmed (`P`, `PO`, ...).
    pub document_code: String,
    /// Issuing state or organization, fillers trimmed.
    pub issuing_state: String,
    /// Primary identifier (surname), `<` between its parts.
    pub primary_identifier: String,
    /// Secondary identifier (given names), `<` between its parts.
    pub secondary_identifier: String,
    /// The name field as given, 39 characters with fillers (for truncation-aware comparison).
    pub name_field: String,
    /// Document number, fillers trimmed.
    pub document_number: String,
    /// Nationality, fillers trimmed.
    pub nationality: String,
    /// Date of birth, YYMMDD (may hold `<` for unknown parts).
    pub date_of_birth: String,
    /// `M`, `F`, or `<`/`X` (unspecified).
    pub sex: char,
    /// Date of expiry, YYMMDD.
    pub date_of_expiry: String,
    /// Personal number or other optional data, fillers trimmed.
    pub personal_number: String,
}

// An MRZ is personal data: Debug shows the shape only.
impl std::fmt::Debug for Td3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Td3")
            .field("document_code", &self.document_code)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

/// The fields of a TD3 to build, in MRZ characters; see [`Td3::build`].
#[derive(Clone, PartialEq, Eq)]
pub struct Td3Fields {
    /// Document code, 1-2 characters (`P`, `PO`, ...).
    pub document_code: String,
    /// Issuing state, 1-3 characters.
    pub issuing_state: String,
    /// Primary identifier in MRZ form.
    pub primary_identifier: String,
    /// Secondary identifier in MRZ form; may be empty.
    pub secondary_identifier: String,
    /// Document number, 1-9 characters.
    pub document_number: String,
    /// Nationality, 1-3 characters.
    pub nationality: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// `M`, `F` or `<`.
    pub sex: char,
    /// Date of expiry.
    pub date_of_expiry: Date,
    /// Personal number, at most 14 characters; may be empty.
    pub personal_number: String,
}

// Personal data: Debug shows nothing of the content.
impl std::fmt::Debug for Td3Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Td3Fields(<redacted>)")
    }
}

impl Td3 {
    /// Parses a TD3 MRZ from its 88 characters, with or without a line break between the lines,
    /// and verifies the document number, date of birth, date of expiry, personal number and
    /// composite check digits.
    pub fn parse(text: &str) -> Result<Self, MrzError> {
        let joined: String = text.split(['\n', '\r']).collect();
        let count = joined.chars().count();
        if count != 88 {
            return Err(MrzError::Shape {
                lines: 2,
                width: 44,
                got: format!("{count} characters"),
            });
        }
        for (i, c) in joined.chars().enumerate() {
            if check_digit_value(c).is_none() {
                return Err(MrzError::Charset {
                    line: i / 44 + 1,
                    position: i % 44 + 1,
                    found: c,
                });
            }
        }
        // Every character is ASCII from here on, so byte slicing is character slicing.
        let l1 = &joined[0..44];
        let l2 = &joined[44..88];
        let ch = |s: &str, i: usize| char::from(s.as_bytes()[i]);

        verify("document number", &l2[0..9], ch(l2, 9))?;
        verify("date of birth", &l2[13..19], ch(l2, 19))?;
        verify("date of expiry", &l2[21..27], ch(l2, 27))?;
        let personal = &l2[28..42];
        // Part 4 note: an empty personal number may carry `<` (or 0) as its check digit.
        let personal_empty = personal.bytes().all(|b| b == b'<');
        if !(personal_empty && matches!(ch(l2, 42), '<' | '0')) {
            verify("personal number", personal, ch(l2, 42))?;
        }
        let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
        verify("composite", &composite, ch(l2, 43))?;

        let sex = ch(l2, 20);
        if !matches!(sex, 'M' | 'F' | '<' | 'X') {
            return Err(MrzError::Field {
                field: "sex",
                problem: format!("{sex:?} is not M, F, X or <"),
            });
        }
        if !l2[21..27].bytes().all(|b| b.is_ascii_digit()) {
            return Err(MrzError::Field {
                field: "date of expiry",
                problem: "must be six digits YYMMDD".into(),
            });
        }
        if ch(l1, 0) != 'P' {
            return Err(MrzError::Field {
                field: "document code",
                problem: format!("{:?} is not a passport code (P...)", &l1[0..2]),
            });
        }
        let (primary, secondary) = split_name_field(&l1[5..44]);
        Ok(Td3 {
            lines: [l1.to_string(), l2.to_string()],
            document_code: trim_fillers(&l1[0..2]),
            issuing_state: trim_fillers(&l1[2..5]),
            primary_identifier: primary,
            secondary_identifier: secondary,
            name_field: l1[5..44].to_string(),
            document_number: trim_fillers(&l2[0..9]),
            nationality: trim_fillers(&l2[10..13]),
            date_of_birth: l2[13..19].to_string(),
            sex,
            date_of_expiry: l2[21..27].to_string(),
            personal_number: trim_fillers(personal),
        })
    }

    /// Builds a TD3 from its fields, computing every check digit, and returns it as [`Td3::parse`]
    /// reads it back.
    pub fn build(f: &Td3Fields) -> Result<Td3, MrzError> {
        field("document code", &f.document_code, 2)?;
        field("issuing state", &f.issuing_state, 3)?;
        field("document number", &f.document_number, 9)?;
        field("nationality", &f.nationality, 3)?;
        field("personal number", &f.personal_number, 14)?;
        name_part("primary identifier", &f.primary_identifier)?;
        name_part("secondary identifier", &f.secondary_identifier)?;
        if !f.document_code.starts_with('P') {
            return Err(MrzError::Field {
                field: "document code",
                problem: format!("{:?} is not a passport code (P...)", f.document_code),
            });
        }
        if !matches!(f.sex, 'M' | 'F' | '<') {
            return Err(MrzError::Field {
                field: "sex",
                problem: format!("{:?} is not M, F or <", f.sex),
            });
        }
        let line1 = format!(
            "{:<<2}{:<<3}{}",
            f.document_code,
            f.issuing_state,
            name_field(&f.primary_identifier, &f.secondary_identifier, 39)
        );
        let number = format!("{:<<9}", f.document_number);
        let dob = mrz_date(f.date_of_birth);
        let doe = mrz_date(f.date_of_expiry);
        let personal = format!("{:<<14}", f.personal_number);
        let personal_check = if f.personal_number.is_empty() {
            '<'
        } else {
            digit("personal number", &personal)?
        };
        let head = format!(
            "{number}{}{:<<3}{dob}{}{}{doe}{}{personal}{personal_check}",
            digit("document number", &number)?,
            f.nationality,
            digit("date of birth", &dob)?,
            f.sex,
            digit("date of expiry", &doe)?,
        );
        let composite = format!("{}{}{}", &head[0..10], &head[13..20], &head[21..43]);
        let line2 = format!("{head}{}", digit("composite", &composite)?);
        Td3::parse(&format!("{line1}{line2}"))
    }

    /// The two lines joined by `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The TD3 specimen of Doc 9303 Part 4, Appendix A.
    const L1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    const L2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn parses_the_doc9303_specimen() {
        let td3 = Td3::parse(&format!("{L1}\n{L2}")).unwrap();
        assert_eq!(td3.document_code, "P");
        assert_eq!(td3.issuing_state, "UTO");
        assert_eq!(td3.primary_identifier, "ERIKSSON");
        assert_eq!(td3.secondary_identifier, "ANNA<MARIA");
        assert_eq!(td3.document_number, "L898902C3");
        assert_eq!(td3.nationality, "UTO");
        assert_eq!(td3.date_of_birth, "740812");
        assert_eq!(td3.sex, 'F');
        assert_eq!(td3.date_of_expiry, "120415");
        assert_eq!(td3.personal_number, "ZE184226B");
    }

    #[test]
    fn rebuilds_the_specimen_byte_for_byte() {
        let td3 = Td3::build(&Td3Fields {
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            primary_identifier: "ERIKSSON".into(),
            secondary_identifier: "ANNA<MARIA".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            date_of_birth: time::macros::date!(1974 - 08 - 12),
            sex: 'F',
            date_of_expiry: time::macros::date!(2012 - 04 - 15),
            personal_number: "ZE184226B".into(),
        })
        .unwrap();
        assert_eq!(td3.lines, [L1.to_string(), L2.to_string()]);
    }

    #[test]
    fn each_check_digit_is_verified() {
        let cases = [
            (9, '7', "document number", '6'),
            (19, '3', "date of birth", '2'),
            (27, '8', "date of expiry", '9'),
            (42, '9', "personal number", '1'),
            (43, '1', "composite", '0'),
        ];
        for (pos, bad, field, expected) in cases {
            let mut l2 = L2.to_string();
            l2.replace_range(pos..pos + 1, &bad.to_string());
            assert_eq!(
                Td3::parse(&format!("{L1}{l2}")),
                Err(MrzError::CheckDigit {
                    field,
                    expected,
                    found: bad
                }),
                "{field}"
            );
        }
        assert_eq!(
            Td3::parse(L1),
            Err(MrzError::Shape {
                lines: 2,
                width: 44,
                got: "44 characters".into()
            })
        );
    }
}
