//! The QR symbol (ISO/IEC 18004) of the seal: encoding for the card face at error correction
//! level M, and finding and decoding QR codes in a photo or scan of a card.
//!
//! Encoding returns modules only; the face renderer chooses pixels per module and draws the quiet
//! zone. Decoding accepts PNG or JPEG of bounded size and returns every QR text found; which of
//! them is a seal is for [`crate::Seal::decode`] to say.

use image::imageops::FilterType;
use qrcode::{Color, EcLevel, QrCode};

/// Larger images are refused rather than decoded (a phone photo is about 4000 x 3000).
const MAX_SIDE: u32 = 12_000;

/// Why no QR text came out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit any QR version at level M.
    #[error("a {len}-character text does not fit a QR code at error correction level M")]
    TooLong {
        /// The text's length.
        len: usize,
    },
    /// The image could not be decoded.
    #[error("image is not a readable PNG or JPEG: {reason}")]
    Image {
        /// What the decoder said.
        reason: String,
    },
    /// The image is too large.
    #[error("image is {width}x{height} px, over the {MAX_SIDE}x{MAX_SIDE} limit")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// No QR code was found (or none decoded).
    #[error("no QR code found in the image ({found} candidate symbols, none decoded{detail})")]
    NotFound {
        /// Symbols located but not decoded.
        found: usize,
        /// The last decoding error, as `: ...`.
        detail: String,
    },
}

/// A QR symbol as modules (no quiet zone).
#[derive(Clone, PartialEq, Eq)]
pub struct QrModules {
    /// Modules per side.
    pub width: usize,
    /// `width * width` modules, row by row, `true` = dark.
    pub dark: Vec<bool>,
}

impl std::fmt::Debug for QrModules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrModules({0}x{0})", self.width)
    }
}

/// Encodes `text` at error correction level M (the smallest version that holds it). The seal's
/// alphabet is base45's, which is QR's alphanumeric mode, so the encoder packs 2 characters in 11 bits.
pub fn encode_qr(text: &str) -> Result<QrModules, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| QrError::TooLong { len: text.len() })?;
    Ok(QrModules {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

/// Tries after the image as it is: upscale factor and unsharp-mask sigma. A card photographed
/// from afar, or a scan at half resolution, has 2 px a module or less, which rqrr's binarizer
/// loses; upscaling and sharpening restores the module edges (measured on a 4 px-a-module
/// symbol scaled to half size with Gaussian blur up to sigma 0.8, alone and on a rendered face).
const LADDER: [(u32, f32, FilterType); 4] = [
    (2, 2.0, FilterType::Lanczos3),
    (3, 2.0, FilterType::Lanczos3),
    (3, 3.0, FilterType::CatmullRom),
    (4, 2.0, FilterType::CatmullRom),
];

/// Upscaled images stay under this side.
const MAX_UPSCALED_SIDE: u32 = 6_000;

fn detect(img: &image::GrayImage) -> (Vec<String>, usize, String) {
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    let mut texts = Vec::new();
    let mut last_err = String::new();
    for g in &grids {
        match g.decode() {
            Ok((_, text)) => texts.push(text),
            Err(e) => last_err = format!(": {e}"),
        }
    }
    (texts, grids.len(), last_err)
}

/// Every QR text found in a greyscale image.
pub fn decode_qr_luma(img: &image::GrayImage) -> Result<Vec<String>, QrError> {
    let (texts, mut found, mut detail) = detect(img);
    if !texts.is_empty() {
        return Ok(texts);
    }
    for (k, sigma, filter) in LADDER {
        if img.width().max(img.height()) * k > MAX_UPSCALED_SIDE {
            break;
        }
        let up = image::imageops::resize(img, img.width() * k, img.height() * k, filter);
        let sharp = image::imageops::unsharpen(&up, sigma, 0);
        let (texts, f, d) = detect(&sharp);
        if !texts.is_empty() {
            return Ok(texts);
        }
        found = found.max(f);
        if !d.is_empty() {
            detail = d;
        }
    }
    Err(QrError::NotFound { found, detail })
}

/// Every QR text found in a PNG or JPEG photo or scan.
pub fn decode_qr_image(bytes: &[u8]) -> Result<Vec<String>, QrError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| QrError::Image {
            reason: e.to_string(),
        })?;
    let (width, height) = reader.into_dimensions().map_err(|e| QrError::Image {
        reason: e.to_string(),
    })?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(QrError::TooLarge { width, height });
    }
    let img = image::load_from_memory(bytes).map_err(|e| QrError::Image {
        reason: e.to_string(),
    })?;
    decode_qr_luma(&img.to_luma8())
}

/// The symbol as a greyscale image at `px` pixels a module with its quiet zone of 4 modules (a
/// stand-alone seal to print or attach; the card face draws its own).
pub fn qr_image(q: &QrModules, px: u32) -> image::GrayImage {
    let px = px.max(1);
    let total = q.width as u32 + 8;
    image::GrayImage::from_fn(total * px, total * px, |x, y| {
        let (mx, my) = ((x / px) as usize, (y / px) as usize);
        let dark = (4..q.width + 4).contains(&mx)
            && (4..q.width + 4).contains(&my)
            && q.dark.get((my - 4) * q.width + (mx - 4)) == Some(&true);
        image::Luma([if dark { 0 } else { 255 }])
    })
}
