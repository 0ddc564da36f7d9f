//! The holder: the person on the card, with names that passed the character rules and a nationality
//! from the table. Built from a validated enrollment record (or directly, in tests and tools).
//!
//! Everything here is personal data: `Debug` is redacted and nothing is logged. Names are kept in
//! upper case (the record is case-insensitive; the card prints capitals).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::enrollment::{CyrillicName, EnrollmentRecord};
use crate::mrz::transliterate;
use crate::nationality;

/// Sex as printed and in the MRZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    /// Male.
    M,
    /// Female.
    F,
}

impl Sex {
    /// `M` or `F`.
    pub fn as_char(self) -> char {
        match self {
            Sex::M => 'M',
            Sex::F => 'F',
        }
    }
}

/// Longest name part accepted, in characters. Real names run far shorter; the limit keeps a pasted
/// paragraph out of the card and the MRZ truncation rules meaningful.
pub const MAX_NAME_CHARS: usize = 80;

/// What is wrong with one name part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing but spaces.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("is {len} characters long; at most {max} are accepted")]
    TooLong {
        /// Characters given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A Cyrillic letter in a Latin field.
    #[error(
        "contains the Cyrillic letter {found:?}; write the Latin form as in the identity document"
    )]
    CyrillicInLatin {
        /// The letter.
        found: char,
    },
    /// A non-Cyrillic letter in a Cyrillic field.
    #[error("contains {found:?}, which is not a Cyrillic letter")]
    NotCyrillic {
        /// The character.
        found: char,
    },
    /// A digit, symbol or letter of another script.
    #[error(
        "contains {found:?}; only letters (with diacritics), space, hyphen and apostrophe are allowed"
    )]
    Character {
        /// The character.
        found: char,
    },
    /// Separators only, no letter.
    #[error("has no letter")]
    NoLetter,
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\'' | '’' | 'ʻ' | 'ʼ')
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

fn check_common(name: &str) -> Result<(), NameError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    let len = trimmed.chars().count();
    if len > MAX_NAME_CHARS {
        return Err(NameError::TooLong {
            len,
            max: MAX_NAME_CHARS,
        });
    }
    if !trimmed.chars().any(char::is_alphabetic) {
        return Err(NameError::NoLetter);
    }
    Ok(())
}

/// Checks a Latin name part: letters that Doc 9303 Part 3 can transliterate (A-Z with or without
/// diacritics), space, hyphen, apostrophe.
pub fn check_latin_name(name: &str) -> Result<(), NameError> {
    check_common(name)?;
    for c in name.trim().chars() {
        if is_separator(c) {
            continue;
        }
        if is_cyrillic(c) {
            return Err(NameError::CyrillicInLatin { found: c });
        }
        let ok = c.is_alphabetic() && transliterate(&c.to_string()).is_ok_and(|t| !t.is_empty());
        if !ok {
            return Err(NameError::Character { found: c });
        }
    }
    Ok(())
}

/// Checks a Cyrillic name part: Cyrillic letters, space, hyphen, apostrophe.
pub fn check_cyrillic_name(name: &str) -> Result<(), NameError> {
    check_common(name)?;
    for c in name.trim().chars() {
        if is_separator(c) {
            continue;
        }
        if !c.is_alphabetic() {
            return Err(NameError::Character { found: c });
        }
        if !is_cyrillic(c) {
            return Err(NameError::NotCyrillic { found: c });
        }
    }
    Ok(())
}

/// Upper case, trimmed, inner runs of spaces collapsed to one.
fn normalize(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The raw parts of a holder, to build one with [`Holder::new`].
#[derive(Clone, PartialEq, Eq)]
pub struct HolderFields {
    /// Surname, Latin.
    pub surname: String,
    /// Given names, Latin.
    pub given_names: String,
    /// Patronymic, Latin, when the holder has one.
    pub patronymic: Option<String>,
    /// The name in Cyrillic, when known.
    pub name_cyrillic: Option<CyrillicName>,
    /// Date of birth.
    pub date_of_birth: Date,
    /// Sex.
    pub sex: Sex,
    /// Nationality, an ICAO code.
    pub nationality: String,
}

// Personal data: Debug shows nothing of the content.
impl std::fmt::Debug for HolderFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HolderFields(<redacted>)")
    }
}

/// Why a holder cannot be built. The field is named as in the enrollment record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HolderError {
    /// A name part breaks the character rules.
    #[error("{field}: {problem}")]
    Name {
        /// `surname`, `given_names`, `patronymic`, `name_cyrillic.surname`, ...
        field: &'static str,
        /// What is wrong.
        problem: NameError,
    },
    /// A nationality not in the ICAO table.
    #[error("nationality: {code:?} is not an ICAO nationality code")]
    Nationality {
        /// The code given.
        code: String,
    },
    /// The Cyrillic name has a patronymic and the Latin one not, or the other way round.
    #[error(
        "name_cyrillic.patronymic: the Latin and Cyrillic names must both have a patronymic or both have none"
    )]
    PatronymicMismatch,
}

/// The validated holder.
#[derive(Clone, PartialEq, Eq)]
pub struct Holder {
    surname: String,
    given_names: String,
    patronymic: Option<String>,
    name_cyrillic: Option<CyrillicName>,
    date_of_birth: Date,
    sex: Sex,
    nationality: String,
}

// Personal data: Debug shows nothing that identifies the person.
impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Holder(<redacted>)")
    }
}

impl Holder {
    /// Checks the fields and builds a holder (names upper-cased, spaces collapsed).
    pub fn new(fields: HolderFields) -> Result<Holder, HolderError> {
        let name = |field: &'static str, value: &str, cyr: bool| {
            let r = if cyr {
                check_cyrillic_name(value)
            } else {
                check_latin_name(value)
            };
            r.map(|()| normalize(value))
                .map_err(|problem| HolderError::Name { field, problem })
        };
        let surname = name("surname", &fields.surname, false)?;
        let given_names = name("given_names", &fields.given_names, false)?;
        let patronymic = match &fields.patronymic {
            Some(p) => Some(name("patronymic", p, false)?),
            None => None,
        };
        let name_cyrillic = match &fields.name_cyrillic {
            Some(c) => {
                if c.patronymic.is_some() != patronymic.is_some() {
                    return Err(HolderError::PatronymicMismatch);
                }
                Some(CyrillicName {
                    surname: name("name_cyrillic.surname", &c.surname, true)?,
                    given_names: name("name_cyrillic.given_names", &c.given_names, true)?,
                    patronymic: match &c.patronymic {
                        Some(p) => Some(name("name_cyrillic.patronymic", p, true)?),
                        None => None,
                    },
                })
            }
            None => None,
        };
        if !nationality::is_known(&fields.nationality) {
            return Err(HolderError::Nationality {
                code: fields.nationality,
            });
        }
        Ok(Holder {
            surname,
            given_names,
            patronymic,
            name_cyrillic,
            date_of_birth: fields.date_of_birth,
            sex: fields.sex,
            nationality: fields.nationality,
        })
    }

    /// The holder of a record (normally one that passed [`crate::validation::check_record`]).
    pub fn from_record(record: &EnrollmentRecord) -> Result<Holder, HolderError> {
        Holder::new(HolderFields {
            surname: record.surname.clone(),
            given_names: record.given_names.clone(),
            patronymic: record.patronymic.clone(),
            name_cyrillic: record.name_cyrillic.clone(),
            date_of_birth: record.date_of_birth,
            sex: record.sex,
            nationality: record.nationality.clone(),
        })
    }

    /// Surname, Latin, upper case.
    pub fn surname(&self) -> &str {
        &self.surname
    }
    /// Given names, Latin, upper case.
    pub fn given_names(&self) -> &str {
        &self.given_names
    }
    /// Patronymic, Latin, upper case, when the holder has one.
    pub fn patronymic(&self) -> Option<&str> {
        self.patronymic.as_deref()
    }
    /// The Cyrillic name, upper case, when known.
    pub fn name_cyrillic(&self) -> Option<&CyrillicName> {
        self.name_cyrillic.as_ref()
    }
    /// Date of birth.
    pub fn date_of_birth(&self) -> Date {
        self.date_of_birth
    }
    /// Sex.
    pub fn sex(&self) -> Sex {
        self.sex
    }
    /// Nationality code.
    pub fn nationality(&self) -> &str {
        &self.nationality
    }

    /// The MRZ primary identifier: the surname transliterated (`<` between parts).
    pub fn mrz_primary(&self) -> String {
        // The names passed `check_latin_name`, which transliterates every character.
        transliterate(&self.surname).unwrap_or_default()
    }

    /// The MRZ secondary identifier: given names then patronymic, transliterated, `<` between parts.
    pub fn mrz_secondary(&self) -> String {
        let mut s = transliterate(&self.given_names).unwrap_or_default();
        if let Some(p) = &self.patronymic {
            s.push('<');
            s.push_str(&transliterate(p).unwrap_or_default());
        }
        s
    }

    /// The full name in Cyrillic as DG11 tag 5F0E holds it: `SURNAME<<GIVEN<PATRONYMIC`, spaces
    /// between name parts written as `<`. `None` when the record had no Cyrillic name.
    pub fn national_name(&self) -> Option<String> {
        let c = self.name_cyrillic.as_ref()?;
        let part = |s: &str| s.split(' ').collect::<Vec<_>>().join("<");
        let mut out = format!("{}<<{}", part(&c.surname), part(&c.given_names));
        if let Some(p) = &c.patronymic {
            out.push('<');
            out.push_str(&part(p));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn fields() -> HolderFields {
        HolderFields {
            surname: "Karimov".into(),
            given_names: "alisher  bek".into(),
            patronymic: Some("Bakhodirovich".into()),
            name_cyrillic: Some(CyrillicName {
                surname: "Каримов".into(),
                given_names: "Алишер Бек".into(),
                patronymic: Some("Баходирович".into()),
            }),
            date_of_birth: date!(1990 - 05 - 17),
            sex: Sex::M,
            nationality: "UZB".into(),
        }
    }

    #[test]
    fn builds_and_names() {
        let h = Holder::new(fields()).unwrap();
        assert_eq!(h.surname(), "KARIMOV");
        assert_eq!(h.given_names(), "ALISHER BEK");
        assert_eq!(h.mrz_secondary(), "ALISHER<BEK<BAKHODIROVICH");
        assert_eq!(
            h.national_name().as_deref(),
            Some("КАРИМОВ<<АЛИШЕР<БЕК<БАХОДИРОВИЧ")
        );
        assert_eq!(format!("{h:?}"), "Holder(<redacted>)");
    }

    #[test]
    fn rejects_bad_names() {
        let mut f = fields();
        f.surname = "Каримов".into();
        assert_eq!(
            Holder::new(f),
            Err(HolderError::Name {
                field: "surname",
                problem: NameError::CyrillicInLatin { found: 'К' }
            })
        );
        let mut f = fields();
        f.given_names = "R2D2".into();
        assert_eq!(
            Holder::new(f),
            Err(HolderError::Name {
                field: "given_names",
                problem: NameError::Character { found: '2' }
            })
        );
        let mut f = fields();
        f.patronymic = None;
        assert_eq!(Holder::new(f), Err(HolderError::PatronymicMismatch));
        let mut f = fields();
        f.nationality = "ABC".into();
        assert_eq!(
            Holder::new(f),
            Err(HolderError::Nationality { code: "ABC".into() })
        );
        assert_eq!(check_latin_name(" - "), Err(NameError::NoLetter));
        assert_eq!(check_latin_name("  "), Err(NameError::Empty));
        assert_eq!(
            check_cyrillic_name("Ivan"),
            Err(NameError::NotCyrillic { found: 'I' })
        );
        assert_eq!(check_latin_name("Nguyễn Thị"), Ok(()));
        assert_eq!(check_latin_name("D'Artagnan"), Ok(()));
    }
}
