//! PACE from the outside: EF.CardAccess of any bytes, and any answers to the terminal's PACE
//! commands. Parsing and the state machine never panic, and no session comes out of answers that
//! do not carry the chip's token for the agreed keys.
#![no_main]

use ecard_chip::pace::{PaceAction, PaceInfo, PaceReader, Password, parse_card_access};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_card_access(data);
    let Ok(pw) = Password::can("123456") else {
        return;
    };
    // Fixed ephemeral keys: the harness is deterministic.
    let k = vec![0x01u8; 32];
    let Ok(mut r) = PaceReader::with_keys(PaceInfo::DEFAULT, &pw, k.clone(), k) else {
        return;
    };
    for answer in data.split(|b| *b == 0xFF) {
        match r.poll() {
            PaceAction::Transmit(_) => {
                let _ = r.handle_response(answer);
            }
            _ => break,
        }
    }
    if r.poll() == PaceAction::Done {
        panic!("PACE finished on answers made without the chip's keys");
    }
});
