//! Portrait and signature images (placeholder: filled in by its owner).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
