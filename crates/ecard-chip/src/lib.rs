//! The e-card chip: everything between a holder record and the bytes on a contact chip, and back.
//!
//! Layout (one concept per module):
//! - [`apdu`]: ISO/IEC 7816-4 commands, responses and status words, short and extended length,
//!   chaining, GET RESPONSE on 61xx and re-issue on 6Cxx;
//! - [`tlv`]: strict BER-TLV over `iso7816-tlv`;
//! - [`lds`]: one module per ICAO LDS file (EF.COM, DG1 ... DG15, EF.SOD), built from the model and
//!   parsed from card bytes;
//! - [`pki`]: CSCA and Document Signer certificates, the [`pki::Signer`] trait;
//! - [`profile`]: firmware profiles (TOML text in, typed [`profile::Profile`] out; the caller reads files);
//! - [`perso`]: the personalization state machine; [`read`]: reading a card back;
//! - [`verify`]: the checkpoint's checks on a set of LDS files (ECARD.md section 7);
//! - [`issue`]: one card end to end (content from the model, perso, signed files), shared by the
//!   station's lanes and `ecard personalize`;
//! - [`pace`] and [`sm`]: chip access control (PACE, ICAO secure messaging) as pure state
//!   machines and functions; [`access`]: the drivers that open a card with them;
//! - [`transport`]: the one door to the world, implemented by PC/SC and the simulator elsewhere.
//!
//! Like `quinn-proto`, this crate performs no I/O whatsoever: no files, no sockets, no clock (times
//! are arguments), and randomness comes from a caller-supplied RNG.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod apdu;
pub mod issue;
pub mod lds;
pub mod pace;
pub mod perso;
pub mod pki;
pub mod profile;
pub mod read;
pub mod scp03;
pub mod secure_perso;
pub mod sm;
pub mod tlv;
pub mod transport;
pub mod verify;
