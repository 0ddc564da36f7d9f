//! Portrait and signature images for the chip: bounded decoding and JPEGs within a byte budget.
//!
//! Bytes in, bytes out: this crate reads no file (the caller's loader does, see [`prepare`]), and
//! keeps no original (the caller keeps the bytes it loaded, for printing). It must never decode an
//! image before checking its declared size: a 30000x30000 PNG of a few kilobytes would otherwise
//! ask for gigabytes. Images are personal data: `Debug` shows sizes only and nothing logs.
//!
//! Layout: [`decode`] checks the header and decodes within limits, [`encode`] makes the face
//! (DG2) and signature (DG7) JPEGs (with the private `search`, the quality search; downscaling
//! is `image`'s), [`prepare`] runs record validation and both images in one pass.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod baseline;
pub mod decode;
pub mod encode;
mod planes;
pub mod prepare;
mod search;

pub use decode::decode_bounded;
pub use encode::{face_jpeg, face_jpeg_from, signature_jpeg};
pub use prepare::{ImageBudgets, PreparedEnrollment, prepare_enrollment, prepare_enrollment_from};

/// Largest accepted input file, in bytes; a portrait crop is a few megabytes at most.
pub const MAX_INPUT_BYTES: usize = 30 * 1024 * 1024;
/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 6000;
/// Largest accepted pixel count (6000 x 6000).
pub const MAX_PIXELS: u64 = 36_000_000;
/// Memory the decoder may allocate: the pixels of the largest accepted RGBA image plus slack.
pub const MAX_DECODE_ALLOC: u64 = MAX_PIXELS * 4 + 16 * 1024 * 1024;
/// Smallest accepted portrait (ICAO: at least 240 pixels across the face image).
pub const MIN_FACE_WIDTH: u32 = 240;
/// Smallest accepted portrait height (3:4 of [`MIN_FACE_WIDTH`]).
pub const MIN_FACE_HEIGHT: u32 = 320;
/// Default budget for the DG2 face JPEG (ECARD.md section 4: normally 15-20 KB).
pub const DEFAULT_FACE_BUDGET: usize = 20_000;
/// Default budget for the DG7 signature JPEG (a few KB).
pub const DEFAULT_SIGNATURE_BUDGET: usize = 6_000;

/// A JPEG ready for the chip.
#[derive(Clone, PartialEq, Eq)]
pub struct ChipImage {
    /// The JPEG file.
    pub jpeg: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The JPEG quality (1-100) that fitted the budget.
    pub quality: u8,
}

// A face is personal data: Debug gives the size only.
impl std::fmt::Debug for ChipImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChipImage({}x{}, {} bytes, quality {})",
            self.width,
            self.height,
            self.jpeg.len(),
            self.quality
        )
    }
}

/// What is wrong with an image. Whose fault: [`ImageProblem::Encode`] is ours, the rest the input's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageProblem {
    /// The file is larger than [`MAX_INPUT_BYTES`].
    #[error("the file is {size} bytes, over the {max}-byte limit")]
    TooManyBytes {
        /// Bytes given.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not an image format we know at all.
    #[error("is not a JPEG or PNG image")]
    Unrecognized,
    /// A known image format other than JPEG and PNG.
    #[error("is a {format} image; only JPEG and PNG are accepted")]
    UnsupportedFormat {
        /// The format found (`Gif`, `WebP`, ...).
        format: String,
    },
    /// Declared dimensions over [`MAX_SIDE`] or [`MAX_PIXELS`]; nothing was decoded.
    #[error("{width}x{height} px is over the {max_side}x{max_side} decode limit")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The side limit.
        max_side: u32,
    },
    /// Smaller than the minimum for its use.
    #[error("{width}x{height} px is under the minimum {min_width}x{min_height}")]
    TooSmall {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Minimum width.
        min_width: u32,
        /// Minimum height.
        min_height: u32,
    },
    /// The decoder failed (truncated or corrupt data).
    #[error("cannot be decoded: {reason}")]
    Undecodable {
        /// The decoder's reason.
        reason: String,
    },
    /// Decoding would need more memory than [`MAX_DECODE_ALLOC`].
    #[error("decoding needs more than {max} bytes of memory")]
    MemoryLimit {
        /// The limit.
        max: u64,
    },
    /// A signature with no dark stroke on it.
    #[error("has no visible stroke (the image is blank)")]
    Blank,
    /// Even the smallest size at the lowest quality does not fit.
    #[error(
        "does not fit in {budget} bytes even at {width}x{height} px and the lowest quality ({smallest} bytes)"
    )]
    OverBudget {
        /// The budget.
        budget: usize,
        /// The smallest encoding reached.
        smallest: usize,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// The JPEG encoder failed (our fault, not the image's).
    #[error("the JPEG encoder failed: {reason}")]
    Encode {
        /// The encoder's reason.
        reason: String,
    },
}
