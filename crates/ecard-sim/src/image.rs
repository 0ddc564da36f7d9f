//! The card image: everything a card keeps without power (its description, files, keys), as JSON
//! written atomically (temporary file, fsync, rename), so a crash never leaves half a card.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::card::Card;
use crate::fs::FileSystem;
use crate::spec::SimSpec;

/// The image format version this code writes and reads.
pub const IMAGE_VERSION: u32 = 1;

/// A card's persistent state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardImage {
    /// Format version ([`IMAGE_VERSION`]).
    pub version: u32,
    /// What card this is.
    pub spec: SimSpec,
    /// Its files and keys.
    pub fs: FileSystem,
}

/// Why an image could not be read or written. Names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Reading or writing the file failed.
    #[error("card image {path:?}: {source}")]
    Io {
        /// The image file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a card image.
    #[error("card image {path:?} is not valid: {source}")]
    Format {
        /// The image file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// An image of another format version.
    #[error("card image {path:?} has format version {got}, expected {expected}")]
    Version {
        /// The image file.
        path: PathBuf,
        /// Version in the file.
        got: u32,
        /// Version this code reads.
        expected: u32,
    },
    /// The file tree in the image is inconsistent (a dangling index, a cycle, an orphan).
    #[error("card image {path:?} has an inconsistent file tree")]
    Inconsistent {
        /// The image file.
        path: PathBuf,
    },
}

impl CardImage {
    /// Reads an image.
    pub fn load(path: impl AsRef<Path>) -> Result<CardImage, ImageError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_owned(),
            source,
        })?;
        let img: CardImage =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::Format {
                path: path.to_owned(),
                source,
            })?;
        if img.version != IMAGE_VERSION {
            return Err(ImageError::Version {
                path: path.to_owned(),
                got: img.version,
                expected: IMAGE_VERSION,
            });
        }
        if !img.fs.is_consistent() {
            return Err(ImageError::Inconsistent {
                path: path.to_owned(),
            });
        }
        Ok(img)
    }

    /// Writes the image atomically: a temporary file in the same directory, fsync, rename.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ImageError> {
        self.write(path.as_ref(), true)
    }

    /// Writes the image atomically but without fsync: the new image survives the writing process
    /// being killed (the page cache keeps it), not a power cut. `ecard sim serve` saves after every
    /// command that changes the card, where an fsync each time would cost milliseconds per APDU.
    pub fn save_unsynced(&self, path: impl AsRef<Path>) -> Result<(), ImageError> {
        self.write(path.as_ref(), false)
    }

    fn write(&self, path: &Path, durable: bool) -> Result<(), ImageError> {
        let io = |source| ImageError::Io {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|source| ImageError::Format {
            path: path.to_owned(),
            source,
        })?;
        let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        if durable {
            f.sync_all().map_err(io)?;
        }
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The card in this image, powered on; its RNG seeded from the OS.
    pub fn into_card(self) -> Card {
        Card::from_parts(self.spec, self.fs, ChaCha20Rng::from_entropy())
    }
}

impl FileSystem {
    /// The MF is node 0 and a DF; every other node's parent is an earlier DF that lists it as a
    /// child, exactly once. Parents always come first, so walking up can never loop.
    fn is_consistent(&self) -> bool {
        let n = self.nodes.len();
        let Some(mf) = self.nodes.first() else {
            return false;
        };
        if mf.parent.is_some() || !self.is_df(0) {
            return false;
        }
        let mut listed = vec![0usize; n];
        for (i, node) in self.nodes.iter().enumerate() {
            if i > 0 && !node.parent.is_some_and(|p| p < i && self.is_df(p)) {
                return false;
            }
            if let crate::fs::NodeKind::Df { children, .. } = &node.kind {
                for c in children {
                    match self.nodes.get(*c) {
                        Some(child) if child.parent == Some(i) => listed[*c] += 1,
                        _ => return false,
                    }
                }
            }
        }
        listed.iter().skip(1).all(|l| *l == 1)
    }
}

impl Card {
    /// The card's persistent state.
    pub fn image(&self) -> CardImage {
        let (spec, fs) = self.parts();
        CardImage {
            version: IMAGE_VERSION,
            spec: spec.clone(),
            fs: fs.clone(),
        }
    }
}
