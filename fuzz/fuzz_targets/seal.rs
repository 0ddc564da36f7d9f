//! QR text: whatever decodes is an `EC1:` text whose payload re-encodes to the bytes it was read
//! from and reads back equal.
#![no_main]

use ecard_seal::{Seal, SealPayload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(seal) = Seal::decode(&text) {
        assert!(text.starts_with("EC1:"));
        let again =
            SealPayload::from_cbor(&seal.payload.to_cbor()).expect("re-encoded payload reads");
        assert_eq!(again, seal.payload);
    }
});
