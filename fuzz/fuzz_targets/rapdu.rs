//! R-APDUs as a card sends them: whatever parses re-encodes to the same bytes, and the status word
//! survives the round trip through its typed form.
#![no_main]

use ecard_chip::apdu::{Response, StatusWord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rsp) = Response::parse(data) {
        assert_eq!(rsp.to_bytes(), data);
        let sw = rsp.sw.to_u16();
        assert_eq!(StatusWord::from_u16(sw).to_u16(), sw);
        assert_eq!(rsp.data.len() + 2, data.len());
    }
});
