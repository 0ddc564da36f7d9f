//! The e-card's QR seal and card status list (ECARD.md section 8, issue 7).
//!
//! - [`seal`]: the seal's CBOR payload ([`SealPayload`]), signing it into the `EC1:` text
//!   ([`Seal::sign`]) and decoding that text back ([`Seal::decode`]).
//! - [`status`]: the signed card status list ([`StatusList`]): revoked numbers, issued-at and
//!   next-update times.
//! - [`cose`]: the one COSE_Sign1 form both use (ES256, protected `{1: -7, 4: kid}`, no unprotected
//!   header, raw r||s), signed through [`ecard_chip::pki::Signer`] and verified against Document
//!   Signer certificates that chain to a trusted CSCA.
//! - [`qr`]: the QR symbol for the card face (ECC level M) and QR decoding from a photo or scan.
//! - [`check`]: the checkpoint's seal verdict (green, amber, red) with the first failing check.
//!
//! Sans-I/O like `ecard-chip`: no files, no network, no clock (times are arguments). Seal payloads
//! are personal data: their Debug is redacted and no error message carries a holder value.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod check;
pub mod cose;
pub mod qr;
pub mod seal;
pub mod status;

pub use check::{
    SealCheck, SealCheckId, SealReport, Trust, Verdict, check_seal, cross_check, status_checks,
};
pub use cose::{CoseError, SignedCose};
pub use qr::{QrError, QrModules, decode_qr_image, decode_qr_luma, encode_qr, qr_image};
pub use seal::{SEAL_PREFIX, Seal, SealError, SealPayload};
pub use status::{Reason, Revocation, StatusError, StatusList, StatusListPayload};
