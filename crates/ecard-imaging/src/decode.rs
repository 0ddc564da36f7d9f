//! Bounded decoding: the format and declared dimensions are read from the header and checked
//! before a single pixel is allocated, and the decoder then runs under [`image::Limits`].
//!
//! Decoding is strict (issue 13): a truncated or corrupt file is [`ImageProblem::Undecodable`],
//! never a picture with its missing part filled in. PNG: the `png` decoder already refuses a short
//! or corrupt IDAT stream. JPEG: `image` runs zune-jpeg in its lenient mode, which paints a cut-off
//! scan flat grey, so JPEG pixels come from zune-jpeg in strict mode instead.
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
    let (format, mut decoder) = open(bytes)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h)?;
    let orientation = decoder.orientation().map_err(problem)?;
    let mut image = if format == ImageFormat::Jpeg {
        drop(decoder);
        decode_jpeg_strict(bytes, w, h)?
    } else {
        DynamicImage::from_decoder(decoder).map_err(problem)?
    };
    image.apply_orientation(orientation);
    Ok(image)
}

/// The JPEG's pixels, decoded by zune-jpeg in strict mode: a premature end of the entropy-coded
/// data or a marker inside it is an error. Greyscale stays greyscale; everything else is RGB, as
/// `image`'s own JPEG path gives. `w`x`h` were checked against the limits from the header.
fn decode_jpeg_strict(bytes: &[u8], w: u32, h: u32) -> Result<DynamicImage, ImageProblem> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    let undecodable = |reason: String| ImageProblem::Undecodable { reason };
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| undecodable(format!("{e:?}")))?;
    let grey = matches!(decoder.input_colorspace(), Some(ColorSpace::Luma));
    let out = if grey {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(options.jpeg_set_out_colorspace(out));
    let pixels = decoder
        .decode()
        .map_err(|e| undecodable(format!("JPEG data is truncated or corrupt: {e:?}")))?;
    let wrong_size = || undecodable("JPEG decoded to an unexpected number of samples".into());
    Ok(if grey {
        DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).ok_or_else(wrong_size)?)
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).ok_or_else(wrong_size)?)
    })
}
