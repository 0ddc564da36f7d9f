//! Where bytes meet readers (placeholder: filled in by its owner).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
