//! Machine-readable zones per ICAO Doc 9303: check digits and transliteration (Part 3), TD1 (Part 5)
//! built for the card and parsed back, TD3 (Part 4) parsed from the holder's passport, and the
//! agreement of an MRZ name field with a record's names.
//!
//! An MRZ is personal data: every type here has a redacted `Debug`, and nothing logs.

mod check;
mod names;
mod td1;
mod td3;
mod translit;

pub use check::{CheckDigitError, check_digit, check_digit_value};
pub use names::{name_field, name_field_agrees, split_name_field};
pub use td1::{MrzError, Td1, Td1Fields};
pub use td3::{Td3, Td3Fields};
pub use translit::{TransliterationError, transliterate};

#[cfg(test)]
mod tests;
