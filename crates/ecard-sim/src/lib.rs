//! A simulated ISO/IEC 7816-4 contact card OS (placeholder: filled in by its owner).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
