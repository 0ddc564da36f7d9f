//! Bytes as one hex string in the JSON card image (a 20 KB file stays readable and compact).

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    s.serialize_str(&out)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    if !s.len().is_multiple_of(2) {
        return Err(serde::de::Error::custom("hex string of odd length"));
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let digit = |c: u8| char::from(c).to_digit(16);
            match (digit(p[0]), digit(p[1])) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(serde::de::Error::custom("invalid hex digit")),
            }
        })
        .collect()
}
