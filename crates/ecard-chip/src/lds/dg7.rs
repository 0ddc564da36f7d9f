//! DG7: the displayed signature (tag `67`): `02` image count, then one `5F43` per image.
//!
//! The images are opaque bytes here (JPEG on the e-card); Debug shows only their sizes.

use super::util::{outer, prim};
use super::{EfId, LdsError};
use crate::tlv::{self, constructed, primitive};

const FILE: EfId = EfId::Dg7;
const IMAGE_TAG: u32 = 0x5F43;

/// The content of DG7.
#[derive(Clone, PartialEq, Eq)]
pub struct Dg7 {
    /// The signature images, each non-empty (one on the e-card).
    pub images: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Dg7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<usize> = self.images.iter().map(Vec::len).collect();
        f.debug_struct("Dg7").field("image_sizes", &sizes).finish()
    }
}

impl Dg7 {
    /// DG7 with one signature image.
    pub fn one(image: Vec<u8>) -> Self {
        Dg7 {
            images: vec![image],
        }
    }

    /// The file's bytes: one TLV `67`. At most 255 images fit the one-byte count; more are a caller
    /// bug and are cut to 255.
    pub fn build(&self) -> Vec<u8> {
        let n = self.images.len().min(255);
        let mut kids = vec![primitive(0x02, vec![n as u8])];
        kids.extend(
            self.images[..n]
                .iter()
                .map(|i| primitive(IMAGE_TAG, i.clone())),
        );
        tlv::encode(&constructed(FILE.tag(), kids))
    }

    /// Parses DG7: a one-byte count followed by exactly that many non-empty images.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = outer(FILE, bytes)?;
        let (count, rest) = tlv::children(&t).split_first().ok_or(LdsError::Missing {
            file: FILE,
            tag: 0x02,
            name: "number of images",
        })?;
        if tlv::tag_number(count.tag()) != 0x02 {
            return Err(LdsError::Missing {
                file: FILE,
                tag: 0x02,
                name: "number of images",
            });
        }
        let n = match prim(FILE, count, "number of images")? {
            [n] => usize::from(*n),
            other => {
                return Err(LdsError::Element {
                    file: FILE,
                    tag: 0x02,
                    name: "number of images",
                    problem: format!("is {} bytes, expected 1", other.len()),
                });
            }
        };
        if n != rest.len() {
            return Err(LdsError::Element {
                file: FILE,
                tag: 0x02,
                name: "number of images",
                problem: format!("says {n}, the file holds {} elements", rest.len()),
            });
        }
        let mut images = Vec::with_capacity(n);
        for c in rest {
            let tag = tlv::tag_number(c.tag());
            if tag != IMAGE_TAG {
                return Err(LdsError::Unexpected { file: FILE, tag });
            }
            let v = prim(FILE, c, "displayed signature")?;
            if v.is_empty() {
                return Err(LdsError::Element {
                    file: FILE,
                    tag,
                    name: "displayed signature",
                    problem: "is empty".into(),
                });
            }
            images.push(v.to_vec());
        }
        Ok(Dg7 { images })
    }
}
