//! The e-card's data model: the enrollment record the MMC sends, its validation, the holder, the MRZ,
//! card numbers and dates.
//!
//! This crate performs no I/O and reads no clock: "today" is always a parameter, images arrive as bytes
//! decoded elsewhere, and nothing here logs. Every other crate of the station stands on it.
//!
//! Layout: [`enrollment`] is the JSON input contract, [`validation`] checks it and reports every
//! problem with its JSON path, [`holder`] is the validated person, [`mrz`] builds and parses machine
//! readable zones, [`number`] is the card's series and number, [`dates`] the calendar rules and
//! [`nationality`] the ICAO code table.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod dates;
pub mod enrollment;
pub mod holder;
pub mod mrz;
pub mod nationality;
pub mod number;
pub mod region;
pub mod validation;

pub use enrollment::{EnrollmentRecord, ImageRef};
pub use holder::{Holder, Sex};
pub use number::DocumentNumber;
pub use validation::{Problem, check_record};

/// The `time` crate this model speaks, so callers name the same `Date` type.
pub use time;
