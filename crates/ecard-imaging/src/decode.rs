//! Bounded decoding: the format and declared dimensions are read from the header and checked
//! before a single pixel is allocated, and the decoder then runs under [`image::Limits`].
//!
//! Must not: decode anything but JPEG and PNG, or decode before the size check.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::{ImageProblem, MAX_DECODE_ALLOC, MAX_INPUT_BYTES, MAX_PIXELS, MAX_SIDE};

/// The declared format and dimensions, from the header only.
pub fn probe(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), ImageProblem> {
    let (format, decoder) = open(bytes)?;
    let (w, h) = decoder.dimensions();
    Ok((format, w, h))
}

fn open(bytes: &[u8]) -> Result<(ImageFormat, impl ImageDecoder + '_), ImageProblem> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ImageProblem::TooManyBytes {
            size: bytes.len(),
            max: MAX_INPUT_BYTES,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        // Reading from a slice cannot fail with an I/O error; report it as undecodable anyway.
        .map_err(|e| ImageProblem::Undecodable {
            reason: e.to_string(),
        })?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        Some(other) => {
            return Err(ImageProblem::UnsupportedFormat {
                format: format!("{other:?}"),
            });
        }
        None => return Err(ImageProblem::Unrecognized),
    };
    // Width and height are checked by `check_dimensions` with our own error; the allocation limit
    // is the decoder's second line of defence.
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    // Building the decoder reads the header (PNG: up to the first IDAT; JPEG: up to SOF).
    let decoder = reader.into_decoder().map_err(problem)?;
    Ok((format, decoder))
}

fn check_dimensions(width: u32, height: u32) -> Result<(), ImageProblem> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageProblem::TooLarge {
            width,
            height,
            max_side: MAX_SIDE,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageProblem::Undecodable {
            reason: format!("declares {width}x{height} px"),
        });
    }
    Ok(())
}

fn problem(e: ImageError) -> ImageProblem {
    match e {
        ImageError::Limits(_) => ImageProblem::MemoryLimit {
            max: MAX_DECODE_ALLOC,
        },
        ImageError::Unsupported(u) => ImageProblem::Undecodable {
            reason: u.to_string(),
        },
        other => ImageProblem::Undecodable {
            reason: other.to_string(),
        },
    }
}

/// Decodes a JPEG or PNG after checking its declared size against [`MAX_SIDE`] and [`MAX_PIXELS`],
/// and turns it upright per its EXIF orientation (phone photos are often stored sideways).
pub fn decode_bounded(bytes: &[u8]) -> Result<DynamicImage, ImageProblem> {
    let (_, mut decoder) = open(bytes)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h)?;
    let orientation = decoder.orientation().map_err(problem)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(problem)?;
    image.apply_orientation(orientation);
    Ok(image)
}
