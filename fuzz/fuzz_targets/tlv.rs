//! Strict BER-TLV: whatever parses is canonical, so encoding it gives back exactly the input.
#![no_main]

use ecard_chip::tlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tlv::parse_strict(data) {
        assert_eq!(tlv::encode(&t), data);
        assert_eq!(tlv::encoded_len(&t), data.len());
    }
});
