//! TD1 (ID-1 card) MRZ: three lines of 30 characters, parsed with every check digit verified.
//!
//! Positions (0-based) per Doc 9303 Part 5, 4.2.2:
//! line 1: document code 0..2, issuing state 2..5, document number 5..14, check 14, optional data 15..30;
//! line 2: date of birth 0..6, check 6, sex 7, date of expiry 8..14, check 14, nationality 15..18,
//! optional data 18..29, composite check 29; line 3: name 0..30.

use time::Date;

use super::check::{check_digit, check_digit_value};
use super::names::name_field;
use crate::dates::mrz_date;
use crate::holder::Holder;
use crate::number::DocumentNumber;

/// What is wrong with an MRZ. Messages name the field and give expected versus found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MrzError {
    /// The text does not have the line structure of the format.
    #[error("MRZ must be {lines} lines of {width} characters, got {got}")]
    Shape {
        /// Lines the format has.
        lines: usize,
        /// Characters per line.
        width: usize,
        /// What was found, in words.
        got: String,
    },
    /// A character outside 0-9, A-Z and `<`.
    #[error(
        "MRZ line {line} position {position}: character {found:?} is not allowed (only 0-9, A-Z and <)"
    )]
    Charset {
        /// Line, from 1.
        line: usize,
        /// Position in the line, from 1.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// A check digit that does not match its field.
    #[error("{field} check digit should be {expected} but is {found}")]
    CheckDigit {
        /// The checked field, in words ("document number", "date of birth", ...).
        field: &'static str,
        /// The digit computed over the field.
        expected: char,
        /// The digit found in the MRZ.
        found: char,
    },
    /// A field whose content is not of its form (a date that is not YYMMDD digits, a sex not M/F/<).
    #[error("{field}: {problem}")]
    Field {
        /// The field, in words.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// A parsed TD1 MRZ. Fields keep the MRZ's own characters (fillers trimmed where noted).
#[derive(Clone, PartialEq, Eq)]
pub struct Td1 {
    /// The three lines as given.
    pub lines: [String; 3],
    /// Document code, fillers trimmed ("I", "IR", "ID", ...).
    pub document_code: String,
    /// Issuing state or organization, 3 characters.
    pub issuing_state: String,
    /// Document number, fillers trimmed.
    pub document_number: String,
    /// Date of birth, YYMMDD (may hold `<` for unknown parts).
    pub date_of_birth: String,
    /// Sex: `M`, `F` or `<` (unspecified).
    pub sex: char,
    /// Date of expiry, YYMMDD.
    pub date_of_expiry: String,
    /// Nationality, 3 characters.
    pub nationality: String,
    /// Primary identifier (surname), `<` between its parts as in the MRZ.
    pub primary_identifier: String,
    /// Secondary identifier (given names), `<` between its parts as in the MRZ.
    pub secondary_identifier: String,
}

// An MRZ is personal data: Debug shows the shape only, never the content.
impl std::fmt::Debug for Td1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Td1")
            .field("document_code", &self.document_code)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

pub(super) fn trim_fillers(s: &str) -> String {
    s.trim_end_matches('<').to_string()
}

pub(super) fn verify(field: &'static str, data: &str, check: char) -> Result<(), MrzError> {
    let expected = check_digit(data)
        .map(|d| char::from(b'0' + d))
        .map_err(|e| MrzError::Field {
            field,
            problem: e.to_string(),
        })?;
    // Doc 9303 Part 3 allows `<` as the check digit of an all-filler optional field only; a field
    // with content must carry a digit.
    if check == expected {
        Ok(())
    } else {
        Err(MrzError::CheckDigit {
            field,
            expected,
            found: check,
        })
    }
}

/// The fields of a TD1 to build, in MRZ characters (A-Z, 0-9, `<`); see [`Td1::build`].
#[derive(Clone, PartialEq, Eq)]
pub struct Td1Fields {
    /// Document code, 1-2 characters (`I`, `IR`, ...).
    pub document_code: String,
    /// Issuing state or organization, 1-3 characters.
    pub issuing_state: String,
    /// Document number; over 9 characters it continues in the optional data (Part 5 note j).
    pub document_number: String,
    /// Optional data of line 1 (after the number's overflow, if any).
    pub optional_data_1: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// `M`, `F` or `<`.
    pub sex: char,
    /// Date of expiry.
    pub date_of_expiry: Date,
    /// Nationality, 1-3 characters.
    pub nationality: String,
    /// Optional data of line 2, at most 11 characters.
    pub optional_data_2: String,
    /// Primary identifier (surname) in MRZ form.
    pub primary_identifier: String,
    /// Secondary identifier (given names) in MRZ form; may be empty.
    pub secondary_identifier: String,
}

// Personal data: Debug shows nothing of the content.
impl std::fmt::Debug for Td1Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Td1Fields(<redacted>)")
    }
}

/// Checks that `value` has at most `max` MRZ characters.
pub(super) fn field(name: &'static str, value: &str, max: usize) -> Result<(), MrzError> {
    if let Some(c) = value.chars().find(|c| check_digit_value(*c).is_none()) {
        return Err(MrzError::Field {
            field: name,
            problem: format!("character {c:?} is not allowed (only 0-9, A-Z and <)"),
        });
    }
    if value.len() > max {
        return Err(MrzError::Field {
            field: name,
            problem: format!("{} characters do not fit in {max}", value.len()),
        });
    }
    Ok(())
}

/// Checks a name identifier: A-Z and `<` only.
pub(super) fn name_part(name: &'static str, value: &str) -> Result<(), MrzError> {
    match value.chars().find(|c| !matches!(c, 'A'..='Z' | '<')) {
        Some(c) => Err(MrzError::Field {
            field: name,
            problem: format!("character {c:?} is not allowed in a name (only A-Z and <)"),
        }),
        None => Ok(()),
    }
}

pub(super) fn digit(field_name: &'static str, data: &str) -> Result<char, MrzError> {
    check_digit(data)
        .map(|d| char::from(b'0' + d))
        .map_err(|e| MrzError::Field {
            field: field_name,
            problem: e.to_string(),
        })
}

impl Td1 {
    /// Builds a TD1 from its fields: pads with `<`, computes every check digit, truncates the
    /// name per Doc 9303 Part 3, and returns the result as [`Td1::parse`] reads it back.
    pub fn build(f: &Td1Fields) -> Result<Td1, MrzError> {
        field("document code", &f.document_code, 2)?;
        field("issuing state", &f.issuing_state, 3)?;
        field("document number", &f.document_number, 9 + 13)?;
        field("nationality", &f.nationality, 3)?;
        field("optional data", &f.optional_data_2, 11)?;
        name_part("primary identifier", &f.primary_identifier)?;
        name_part("secondary identifier", &f.secondary_identifier)?;
        if !matches!(f.sex, 'M' | 'F' | '<') {
            return Err(MrzError::Field {
                field: "sex",
                problem: format!("{:?} is not M, F or <", f.sex),
            });
        }
        if f.document_number.is_empty() {
            return Err(MrzError::Field {
                field: "document number",
                problem: "is empty".into(),
            });
        }
        let number_check = digit("document number", &f.document_number)?;
        let (number_part, optional_1) = if f.document_number.len() <= 9 {
            (
                format!("{:<<9}{number_check}", f.document_number),
                f.optional_data_1.clone(),
            )
        } else {
            // Part 5 note j: the first 9 characters, `<` for the check digit, then the rest of the
            // number and its check digit in the optional data, closed by a filler.
            let (head, rest) = f.document_number.split_at(9);
            (
                format!("{head}<"),
                format!("{rest}{number_check}<{}", f.optional_data_1),
            )
        };
        field("optional data", &optional_1, 15)?;
        let line1 = format!(
            "{:<<2}{:<<3}{number_part}{optional_1:<<15}",
            f.document_code, f.issuing_state
        );
        let dob = mrz_date(f.date_of_birth);
        let doe = mrz_date(f.date_of_expiry);
        let head2 = format!(
            "{dob}{}{}{doe}{}{:<<3}{:<<11}",
            digit("date of birth", &dob)?,
            f.sex,
            digit("date of expiry", &doe)?,
            f.nationality,
            f.optional_data_2
        );
        let composite = format!(
            "{}{}{}{}",
            &line1[5..30],
            &head2[0..7],
            &head2[8..15],
            &head2[18..29]
        );
        let line2 = format!("{head2}{}", digit("composite", &composite)?);
        let line3 = name_field(&f.primary_identifier, &f.secondary_identifier, 30);
        Td1::parse(&format!("{line1}{line2}{line3}"))
    }

    /// The MRZ of an e-card (ECARD.md section 5): `IR`, `RUS`, the 9-digit number, the holder's
    /// date of birth, sex and nationality, the expiry, and `SURNAME<<GIVEN<NAMES<PATRONYMIC`.
    pub fn for_card(holder: &Holder, number: &DocumentNumber, expiry: Date) -> Td1 {
        let fields = Td1Fields {
            document_code: "IR".into(),
            issuing_state: "RUS".into(),
            document_number: number.mrz_form(),
            optional_data_1: String::new(),
            date_of_birth: holder.date_of_birth(),
            sex: holder.sex().as_char(),
            date_of_expiry: expiry,
            nationality: holder.nationality().to_string(),
            optional_data_2: String::new(),
            primary_identifier: holder.mrz_primary(),
            secondary_identifier: holder.mrz_secondary(),
        };
        #[allow(clippy::expect_used)]
        Td1::build(&fields).expect(
            "a Holder's names transliterate to A-Z and <, its nationality is a table code of at \
             most 3 letters, and a DocumentNumber is 9 digits, so every field fits",
        )
    }

    /// The three lines joined by `\n` (90 characters and two line breaks).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Parses a TD1 MRZ from its 90 characters, with or without line breaks between the lines, and
    /// verifies the document number, date of birth, date of expiry and composite check digits.
    pub fn parse(text: &str) -> Result<Self, MrzError> {
        let joined: String = text.split(['\n', '\r']).collect();
        if joined.chars().count() != 90 {
            return Err(MrzError::Shape {
                lines: 3,
                width: 30,
                got: format!("{} characters", joined.chars().count()),
            });
        }
        for (i, c) in joined.chars().enumerate() {
            if check_digit_value(c).is_none() {
                return Err(MrzError::Charset {
                    line: i / 30 + 1,
                    position: i % 30 + 1,
                    found: c,
                });
            }
        }
        // All characters are ASCII from here on, so byte slicing is character slicing.
        let l1 = &joined[0..30];
        let l2 = &joined[30..60];
        let l3 = &joined[60..90];
        let ch = |s: &str, i: usize| s.as_bytes()[i] as char;

        // Doc 9303 Part 5 note j: a document number longer than 9 characters continues in the
        // optional data after a `<` in the check-digit position.
        let (document_number_field, number_check) = if ch(l1, 14) == '<' && ch(l1, 15) != '<' {
            let rest = &l1[15..30];
            let end = rest.find('<').unwrap_or(rest.len());
            if end == 0 {
                return Err(MrzError::Field {
                    field: "document number",
                    problem: "overflow marker without a continued number".into(),
                });
            }
            let (tail, check) = rest[..end].split_at(end - 1);
            (
                format!("{}{}", &l1[5..14], tail),
                check.chars().next().unwrap_or('<'),
            )
        } else {
            (l1[5..14].to_string(), ch(l1, 14))
        };
        verify("document number", &document_number_field, number_check)?;
        verify("date of birth", &l2[0..6], ch(l2, 6))?;
        verify("date of expiry", &l2[8..14], ch(l2, 14))?;
        let composite = format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]);
        verify("composite", &composite, ch(l2, 29))?;

        let sex = ch(l2, 7);
        if !matches!(sex, 'M' | 'F' | '<') {
            return Err(MrzError::Field {
                field: "sex",
                problem: format!("{sex:?} is not M, F or <"),
            });
        }
        for (field, value) in [("date of expiry", &l2[8..14])] {
            if !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MrzError::Field {
                    field,
                    problem: "must be six digits YYMMDD".into(),
                });
            }
        }
        let name = l3.trim_end_matches('<');
        let (primary, secondary) = match name.split_once("<<") {
            Some((p, s)) => (p.to_string(), s.trim_start_matches('<').to_string()),
            None => (name.to_string(), String::new()),
        };
        Ok(Td1 {
            lines: [l1.to_string(), l2.to_string(), l3.to_string()],
            document_code: trim_fillers(&l1[0..2]),
            issuing_state: l1[2..5].to_string(),
            document_number: trim_fillers(&document_number_field),
            date_of_birth: l2[0..6].to_string(),
            sex,
            date_of_expiry: l2[8..14].to_string(),
            nationality: l2[15..18].to_string(),
            primary_identifier: primary,
            secondary_identifier: secondary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The TD1 specimen of Doc 9303 Part 5, Appendix A.
    const SPECIMEN: &str = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<";

    #[test]
    fn parses_the_doc9303_specimen() {
        let td1 = Td1::parse(SPECIMEN).expect("the specimen is valid");
        assert_eq!(td1.document_code, "I");
        assert_eq!(td1.issuing_state, "UTO");
        assert_eq!(td1.document_number, "D23145890");
        assert_eq!(td1.date_of_birth, "740812");
        assert_eq!(td1.sex, 'F');
        assert_eq!(td1.date_of_expiry, "120415");
        assert_eq!(td1.nationality, "UTO");
        assert_eq!(td1.primary_identifier, "ERIKSSON");
        assert_eq!(td1.secondary_identifier, "ANNA<MARIA");
    }

    #[test]
    fn a_changed_date_of_birth_fails_its_check_digit() {
        let bad = SPECIMEN.replacen("7408122", "7408132", 1);
        assert_eq!(
            Td1::parse(&bad),
            Err(MrzError::CheckDigit {
                field: "date of birth",
                expected: '3',
                found: '2'
            })
        );
    }
}
