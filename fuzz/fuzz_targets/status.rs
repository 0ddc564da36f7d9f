//! Status list bytes: whatever decodes has `iat <= nxt`, 9-digit numbers, and a payload that
//! reads back equal after re-encoding.
#![no_main]

use ecard_seal::StatusList;
use ecard_seal::status::StatusListPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = StatusList::decode(data) {
        assert!(list.payload.iat <= list.payload.nxt);
        assert!(
            list.payload
                .rev
                .iter()
                .all(|r| r.document_number.len() == 9)
        );
        let again =
            StatusListPayload::from_cbor(&list.payload.to_cbor()).expect("re-encoded list reads");
        assert_eq!(again.rev, list.payload.rev);
    }
});
