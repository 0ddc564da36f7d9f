//! Where bytes meet readers: the edge of ecard-station that talks to smart card hardware.
//!
//! Layout:
//! - [`pcsc`]: [`PcscTransport`], the chip crate's [`Transport`](ecard_chip::transport::Transport)
//!   over a real PC/SC reader, plus reader listing and waiting for a card.
//! - [`vpcd`]: puts a [`VirtualCard`] (the simulator, or a test card) behind a real pcscd through
//!   the vsmartcard `vpcd` reader driver, so that the whole PC/SC path can run without hardware.
//!
//! Everything here is blocking (the station calls it from `spawn_blocking`). This crate maps every
//! driver failure to a `TransportError` that names the reader; it holds no business logic and never
//! logs APDU data (only INS, SW and lengths, at debug level).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod pcsc;
pub mod vpcd;

pub use crate::pcsc::{
    ExtendedLength, PcscContext, PcscTransport, ReaderInfo, list_readers, wait_for_card,
    wait_for_removal,
};
pub use crate::vpcd::{ServeStats, StopHandle, VirtualCard, VpcdError, serve_card};
