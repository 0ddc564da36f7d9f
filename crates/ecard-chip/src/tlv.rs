//! BER-TLV as ISO/IEC 7816-4 uses it, through `iso7816-tlv`, made strict for what comes off a card.
//!
//! The crate builds and walks the tree; this module adds what it lacks for untrusted input and for
//! writing files whose bytes are hashed:
//! - parsing is strict: definite, minimal lengths only, at most 4 length bytes, tags of 1 to 3 bytes,
//!   constructed values filled exactly by their children, no trailing bytes;
//! - encoding writes minimal (DER) lengths. The crate writes a length of 127 as `81 7F` and reads
//!   `04 80` (indefinite) as an empty value; `Tlv::length()` is the whole TLV's size, not the value's.
//!   We never call its writer or trust its length reader on card data.

pub use iso7816_tlv::ber::{Tag, Tlv, Value};

/// Why bytes are not one strict BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The input ends inside a tag, a length or a value.
    #[error("truncated at byte {offset}: {needed} more bytes needed, {available} present")]
    Truncated {
        /// Where the missing part starts.
        offset: usize,
        /// How many bytes the encoding asks for.
        needed: usize,
        /// How many there are.
        available: usize,
    },
    /// A tag that is not a valid ISO/IEC 7816-4 tag of 1 to 3 bytes.
    #[error("invalid tag at byte {offset}")]
    BadTag {
        /// Offset of the tag's first byte.
        offset: usize,
    },
    /// Length byte `80`: indefinite lengths are not allowed on a card.
    #[error("indefinite length at byte {offset}")]
    IndefiniteLength {
        /// Offset of the length byte.
        offset: usize,
    },
    /// A length written with more bytes than needed (e.g. `81 05`).
    #[error("non-minimal length encoding at byte {offset}")]
    NonMinimalLength {
        /// Offset of the length's first byte.
        offset: usize,
    },
    /// A length of more than 4 bytes.
    #[error("length field at byte {offset} is longer than 4 bytes")]
    LengthTooLarge {
        /// Offset of the length's first byte.
        offset: usize,
    },
    /// Bytes after the end of the object.
    #[error("{count} trailing bytes after the object, at byte {offset}")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// The children of a constructed object do not fill it exactly, or the crate refused the tree.
    #[error("inconsistent constructed object at byte {offset}")]
    Inconsistent {
        /// Offset of the object's tag.
        offset: usize,
    },
}

/// The header of one TLV: enough to know a file's full size from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The tag as a number (`0x5F1F` for a two-byte tag).
    pub tag: u32,
    /// Whether the tag says constructed.
    pub constructed: bool,
    /// Bytes of tag plus length.
    pub header_len: usize,
    /// Bytes of value.
    pub value_len: usize,
}

impl Header {
    /// Tag, length and value: the whole object's size.
    pub fn total_len(&self) -> usize {
        self.header_len + self.value_len
    }
}

/// Reads one strict header at the start of `bytes` (the value need not be present).
pub fn parse_header(bytes: &[u8]) -> Result<Header, TlvError> {
    header_at(bytes, 0)
}

fn header_at(bytes: &[u8], offset: usize) -> Result<Header, TlvError> {
    let at = |i: usize| -> Result<u8, TlvError> {
        bytes.get(offset + i).copied().ok_or(TlvError::Truncated {
            offset: offset + i,
            needed: 1,
            available: 0,
        })
    };
    let first = at(0)?;
    if first == 0x00 || first == 0xFF {
        return Err(TlvError::BadTag { offset });
    }
    let mut tag = u32::from(first);
    let mut i = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = at(i)?;
            // ISO/IEC 7816-4 calls '01' to '1E' invalid as the second byte, but ICAO Doc 9303
            // uses exactly those (EF.COM's 5F01 LDS version, DG11's 5F0E..5F11, DG12's 5F19):
            // accept them and refuse only '00' and '80', which no tag number can need.
            if i == 1 && (b == 0x00 || b == 0x80) {
                return Err(TlvError::BadTag { offset });
            }
            tag = (tag << 8) | u32::from(b);
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i == 3 {
                return Err(TlvError::BadTag { offset });
            }
        }
    }
    let constructed = first & 0x20 != 0;
    let len_offset = offset + i;
    let l0 = at(i)?;
    i += 1;
    let value_len = match l0 {
        0x00..=0x7F => usize::from(l0),
        0x80 => return Err(TlvError::IndefiniteLength { offset: len_offset }),
        0x81..=0x84 => {
            let n = usize::from(l0 & 0x7F);
            let mut v = 0usize;
            for k in 0..n {
                v = (v << 8) | usize::from(at(i + k)?);
            }
            i += n;
            // Minimal: one length byte below 128, otherwise the fewest bytes that hold the value.
            let minimal_bytes = match v {
                0..=0x7F => 0,
                0x80..=0xFF => 1,
                0x100..=0xFFFF => 2,
                0x1_0000..=0xFF_FFFF => 3,
                _ => 4,
            };
            if n != minimal_bytes {
                return Err(TlvError::NonMinimalLength { offset: len_offset });
            }
            v
        }
        _ => return Err(TlvError::LengthTooLarge { offset: len_offset }),
    };
    Ok(Header {
        tag,
        constructed,
        header_len: i,
        value_len,
    })
}

/// Validates one object at `offset` and returns its total size.
fn walk(bytes: &[u8], offset: usize, depth: usize) -> Result<usize, TlvError> {
    let h = header_at(bytes, offset)?;
    let start = offset + h.header_len;
    let available = bytes.len().saturating_sub(start);
    if h.value_len > available {
        return Err(TlvError::Truncated {
            offset: start,
            needed: h.value_len,
            available,
        });
    }
    if h.constructed {
        // Deeper than any file this product reads: refuse rather than recurse without bound.
        if depth > 16 {
            return Err(TlvError::Inconsistent { offset });
        }
        let end = start + h.value_len;
        let mut pos = start;
        while pos < end {
            pos += walk(&bytes[..end], pos, depth + 1)?;
        }
        if pos != end {
            return Err(TlvError::Inconsistent { offset });
        }
    }
    Ok(h.total_len())
}

/// Parses exactly one strict BER-TLV; no trailing bytes.
pub fn parse_strict(bytes: &[u8]) -> Result<Tlv, TlvError> {
    let (tlv, used) = parse_strict_prefix(bytes)?;
    if used != bytes.len() {
        return Err(TlvError::TrailingBytes {
            offset: used,
            count: bytes.len() - used,
        });
    }
    Ok(tlv)
}

/// Parses one strict BER-TLV at the start of `bytes`; returns it and its size.
pub fn parse_strict_prefix(bytes: &[u8]) -> Result<(Tlv, usize), TlvError> {
    let used = walk(bytes, 0, 0)?;
    // The walk has proven the encoding strict, so the crate's lenient reader sees only good input.
    let tlv = Tlv::from_bytes(&bytes[..used]).map_err(|_| TlvError::Inconsistent { offset: 0 })?;
    Ok((tlv, used))
}

/// Parses a concatenation of strict BER-TLVs that fills `bytes` exactly (an FCP template's content,
/// a constructed value's children).
pub fn parse_all_strict(bytes: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (tlv, used) = parse_strict_prefix(&bytes[pos..]).map_err(|e| shift(e, pos))?;
        out.push(tlv);
        pos += used;
    }
    Ok(out)
}

fn shift(e: TlvError, by: usize) -> TlvError {
    match e {
        TlvError::Truncated {
            offset,
            needed,
            available,
        } => TlvError::Truncated {
            offset: offset + by,
            needed,
            available,
        },
        TlvError::BadTag { offset } => TlvError::BadTag {
            offset: offset + by,
        },
        TlvError::IndefiniteLength { offset } => TlvError::IndefiniteLength {
            offset: offset + by,
        },
        TlvError::NonMinimalLength { offset } => TlvError::NonMinimalLength {
            offset: offset + by,
        },
        TlvError::LengthTooLarge { offset } => TlvError::LengthTooLarge {
            offset: offset + by,
        },
        TlvError::TrailingBytes { offset, count } => TlvError::TrailingBytes {
            offset: offset + by,
            count,
        },
        TlvError::Inconsistent { offset } => TlvError::Inconsistent {
            offset: offset + by,
        },
    }
}

/// The tag with number `t` (`0x5F1F`). For the constants of this crate's formats only.
///
/// # Panics
/// When `t` is not a valid tag: a programming error in a constant, never reachable from card data.
pub fn tag(t: u32) -> Tag {
    #[allow(clippy::expect_used)]
    Tag::try_from(u64::from(t)).expect("tag constants in this crate are valid ISO/IEC 7816-4 tags")
}

/// The tag's number (`0x5F1F`), the inverse of [`tag`].
pub fn tag_number(t: &Tag) -> u32 {
    t.to_bytes()
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

/// A primitive object.
pub fn primitive(t: u32, value: impl Into<Vec<u8>>) -> Tlv {
    #[allow(clippy::expect_used)]
    Tlv::new(tag(t), Value::Primitive(value.into()))
        .expect("primitive() is called with primitive tag constants only")
}

/// A constructed object.
pub fn constructed(t: u32, children: Vec<Tlv>) -> Tlv {
    #[allow(clippy::expect_used)]
    Tlv::new(tag(t), Value::Constructed(children))
        .expect("constructed() is called with constructed tag constants only")
}

/// The minimal length field for a value of `len` bytes.
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Size of the value of `tlv` as [`encode`] writes it.
pub fn value_len(tlv: &Tlv) -> usize {
    match tlv.value() {
        Value::Primitive(v) => v.len(),
        Value::Constructed(children) => children.iter().map(encoded_len).sum(),
    }
}

/// Size of `tlv` as [`encode`] writes it.
pub fn encoded_len(tlv: &Tlv) -> usize {
    let v = value_len(tlv);
    let mut len = Vec::with_capacity(5);
    encode_length(v, &mut len);
    tlv.tag().to_bytes().len() + len.len() + v
}

/// Encodes with minimal lengths.
pub fn encode(tlv: &Tlv) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(tlv));
    encode_into(tlv, &mut out);
    out
}

fn encode_into(tlv: &Tlv, out: &mut Vec<u8>) {
    out.extend_from_slice(tlv.tag().to_bytes());
    encode_length(value_len(tlv), out);
    match tlv.value() {
        Value::Primitive(v) => out.extend_from_slice(v),
        Value::Constructed(children) => children.iter().for_each(|c| encode_into(c, out)),
    }
}

/// The value bytes of a primitive object, or `None` for a constructed one.
pub fn primitive_value(tlv: &Tlv) -> Option<&[u8]> {
    match tlv.value() {
        Value::Primitive(v) => Some(v),
        Value::Constructed(_) => None,
    }
}

/// The children of a constructed object (empty for a primitive one).
pub fn children(tlv: &Tlv) -> &[Tlv] {
    match tlv.value() {
        Value::Constructed(c) => c,
        Value::Primitive(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn icao_two_byte_tags_below_1f_parse() {
        let com_version = primitive(0x5F01, b"0107".to_vec());
        let bytes = encode(&com_version);
        assert_eq!(bytes, [0x5F, 0x01, 0x04, b'0', b'1', b'0', b'7']);
        assert_eq!(parse_strict(&bytes), Ok(com_version));
        assert_eq!(
            parse_strict(&[0x5F, 0x80, 0x00]),
            Err(TlvError::BadTag { offset: 0 })
        );
    }

    #[test]
    fn crate_quirks_are_not_ours() {
        let v127 = primitive(0x04, vec![0xAA; 127]);
        let enc = encode(&v127);
        assert_eq!(&enc[..2], &[0x04, 0x7F], "127 is a one-byte length");
        assert_eq!(encoded_len(&v127), 129);
        assert_eq!(
            parse_strict(&[0x04, 0x80]),
            Err(TlvError::IndefiniteLength { offset: 1 })
        );
        assert_eq!(
            parse_strict(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]),
            Err(TlvError::NonMinimalLength { offset: 1 })
        );
        assert_eq!(
            parse_strict(&[0x04, 0x01, 0xAA, 0x00]),
            Err(TlvError::TrailingBytes {
                offset: 3,
                count: 1
            })
        );
        assert_eq!(
            parse_strict(&[0x04, 0x05, 1, 2]),
            Err(TlvError::Truncated {
                offset: 2,
                needed: 5,
                available: 2
            })
        );
        // A constructed object whose child overruns it.
        assert!(parse_strict(&[0x61, 0x03, 0x04, 0x03, 1, 2, 3]).is_err());
    }

    fn arb_tlv() -> impl Strategy<Value = Tlv> {
        let leaf = (
            prop::sample::select(vec![0x04u32, 0x5F1F, 0x80, 0x9F7F, 0x5F2E]),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(t, v)| primitive(t, v));
        leaf.prop_recursive(3, 24, 4, |inner| {
            (
                prop::sample::select(vec![0x61u32, 0x7F61, 0xA1, 0x30]),
                prop::collection::vec(inner, 0..4),
            )
                .prop_map(|(t, c)| constructed(t, c))
        })
    }

    proptest! {
        #[test]
        fn encode_then_parse_is_identity(t in arb_tlv()) {
            let bytes = encode(&t);
            prop_assert_eq!(bytes.len(), encoded_len(&t));
            let back = parse_strict(&bytes).expect("our own encoding parses");
            prop_assert_eq!(encode(&back), bytes);
            prop_assert_eq!(&back, &t);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(t) = parse_strict(&bytes) {
                prop_assert_eq!(encode(&t), bytes);
            }
        }
    }
}
