//! The e-card's data model: the enrollment record the MMC sends, its validation, the holder, the MRZ,
//! card numbers and dates.
//!
//! This crate performs no I/O and reads no clock: "today" is always a parameter, images arrive as bytes
//! decoded elsewhere, and nothing here logs. Every other crate of the station stands on it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod mrz;
