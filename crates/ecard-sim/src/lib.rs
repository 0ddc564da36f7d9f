//! A simulated ISO/IEC 7816-4 contact card: a card OS that maps C-APDU to R-APDU
//! ([`Card::process`]), its state in a card image file ([`CardImage`]) so one card can travel from
//! the station to a checkpoint to QA, and a [`SimTransport`] with a timing model and fault
//! injection, in the spirit of quinn-proto's test `Pair`.
//!
//! It is a card, not a reader: it knows nothing of ICAO LDS files, only MF, DFs, EFs, keys and life
//! cycles. The card itself is sans-I/O; only [`CardImage::load`]/[`CardImage::save`] touch files.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod card;
pub mod fs;
mod hexser;
mod image;
mod spec;
mod transport;

pub use card::{Card, transport_keys};
pub use image::{CardImage, IMAGE_VERSION, ImageError};
pub use spec::SimSpec;
pub use transport::{Fault, SimTransport, SmFault, TimingModel};
