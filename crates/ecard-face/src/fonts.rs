//! The three typefaces a face needs, loaded from files the operator's system provides.
//!
//! Fonts are not built into the binary: OCR-B is public domain (Debian `fonts-ocr-b`, see its
//! copyright file) and DejaVu is freely redistributable, but keeping them out of the repository
//! lets a site swap in its licensed typefaces by path. The defaults are Debian's paths; a missing
//! file is an error that names the file and the package that installs it. This module reads files
//! only when asked to ([`Fonts::load`]); [`Fonts::from_bytes`] takes bytes from the caller.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec};

use crate::template::FontRole;

/// Where to find each typeface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontPaths {
    /// Regular sans serif with Cyrillic.
    pub sans: PathBuf,
    /// Bold sans serif with Cyrillic.
    pub sans_bold: PathBuf,
    /// OCR-B.
    pub ocrb: PathBuf,
}

impl Default for FontPaths {
    /// Debian 12 paths: `fonts-dejavu-core` and `fonts-ocr-b`.
    fn default() -> Self {
        FontPaths {
            sans: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into(),
            sans_bold: "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf".into(),
            ocrb: "/usr/share/fonts/opentype/ocr-b/OCRB.otf".into(),
        }
    }
}

/// Why the fonts could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FontError {
    /// The file is not there.
    #[error(
        "font file {path} for {role} text is missing; install the Debian package {package} or set the path to another font"
    )]
    Missing {
        /// The role (`sans`, `sans_bold`, `ocrb`).
        role: &'static str,
        /// The path tried.
        path: PathBuf,
        /// The Debian package that installs the default.
        package: &'static str,
    },
    /// The file is there but could not be read.
    #[error("font file {path} for {role} text cannot be read: {source}")]
    Unreadable {
        /// The role.
        role: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a TrueType/OpenType font.
    #[error("font file {path} for {role} text is not a TrueType or OpenType font")]
    Invalid {
        /// The role.
        role: &'static str,
        /// The path (or `<bytes>`).
        path: PathBuf,
    },
    /// The font lacks a character the card needs.
    #[error("font {path} for {role} text has no glyph for {missing:?}")]
    MissingGlyph {
        /// The role.
        role: &'static str,
        /// The path (or `<bytes>`).
        path: PathBuf,
        /// The first missing character.
        missing: char,
    },
}

/// The loaded typefaces.
pub struct Fonts {
    sans: FontVec,
    sans_bold: FontVec,
    ocrb: FontVec,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fonts { sans, sans_bold, ocrb }")
    }
}

/// Characters each role must have: OCR-B the MRZ set, the sans faces Latin and Russian capitals.
const MRZ_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";
const TEXT_CHARS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ0123456789./-'";

impl Fonts {
    /// Loads the three fonts from `paths`.
    pub fn load(paths: &FontPaths) -> Result<Fonts, FontError> {
        let read = |role: &'static str, path: &Path, package: &'static str| {
            std::fs::read(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    FontError::Missing {
                        role,
                        path: path.to_path_buf(),
                        package,
                    }
                } else {
                    FontError::Unreadable {
                        role,
                        path: path.to_path_buf(),
                        source: e,
                    }
                }
            })
        };
        let sans = read("sans", &paths.sans, "fonts-dejavu-core")?;
        let bold = read("sans_bold", &paths.sans_bold, "fonts-dejavu-core")?;
        let ocrb = read("ocrb", &paths.ocrb, "fonts-ocr-b")?;
        Ok(Fonts {
            sans: parse("sans", &paths.sans, sans, TEXT_CHARS)?,
            sans_bold: parse("sans_bold", &paths.sans_bold, bold, TEXT_CHARS)?,
            ocrb: parse("ocrb", &paths.ocrb, ocrb, MRZ_CHARS)?,
        })
    }

    /// Builds the fonts from bytes the caller holds.
    pub fn from_bytes(
        sans: Vec<u8>,
        sans_bold: Vec<u8>,
        ocrb: Vec<u8>,
    ) -> Result<Fonts, FontError> {
        let p = Path::new("<bytes>");
        Ok(Fonts {
            sans: parse("sans", p, sans, TEXT_CHARS)?,
            sans_bold: parse("sans_bold", p, sans_bold, TEXT_CHARS)?,
            ocrb: parse("ocrb", p, ocrb, MRZ_CHARS)?,
        })
    }

    /// The font for a role.
    pub(crate) fn get(&self, role: FontRole) -> &FontVec {
        match role {
            FontRole::Sans => &self.sans,
            FontRole::SansBold => &self.sans_bold,
            FontRole::Ocrb => &self.ocrb,
        }
    }
}

fn parse(
    role: &'static str,
    path: &Path,
    bytes: Vec<u8>,
    needs: &str,
) -> Result<FontVec, FontError> {
    let font = FontVec::try_from_vec(bytes).map_err(|_| FontError::Invalid {
        role,
        path: path.to_path_buf(),
    })?;
    if let Some(missing) = needs.chars().find(|&c| font.glyph_id(c).0 == 0) {
        return Err(FontError::MissingGlyph {
            role,
            path: path.to_path_buf(),
            missing,
        });
    }
    Ok(font)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_font_names_file_and_package() {
        let paths = FontPaths {
            ocrb: "/nonexistent/OCRB.otf".into(),
            ..FontPaths::default()
        };
        if !FontPaths::default().sans.exists() {
            eprintln!("skipped: fonts-dejavu-core not installed");
            return;
        }
        let err = Fonts::load(&paths).unwrap_err();
        assert!(matches!(
            &err,
            FontError::Missing { role: "ocrb", package: "fonts-ocr-b", path } if path == Path::new("/nonexistent/OCRB.otf")
        ));
        assert_eq!(
            err.to_string(),
            "font file /nonexistent/OCRB.otf for ocrb text is missing; install the Debian package \
             fonts-ocr-b or set the path to another font"
        );
    }

    #[test]
    fn garbage_is_not_a_font() {
        let err = Fonts::from_bytes(vec![1, 2, 3], vec![], vec![]).unwrap_err();
        assert!(matches!(err, FontError::Invalid { role: "sans", .. }));
    }
}
