//! Machine-readable zones per ICAO Doc 9303: check digits (Part 3), TD1 (Part 5) and TD3 (Part 4).

mod check;
mod td1;
mod translit;

pub use check::{CheckDigitError, check_digit, check_digit_value};
pub use td1::{MrzError, Td1};
pub use translit::{TransliterationError, transliterate};
