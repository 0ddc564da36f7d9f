//! Secure messaging from the outside: a card's protected answer (reader side) and a reader's
//! protected command (card side) of any bytes. Unwrapping never panics, a forged answer never
//! verifies (the MAC key is secret to this harness), and after any error the session stays ended.
#![no_main]

use ecard_chip::apdu::{Command, Response};
use ecard_chip::sm::{SecureMessaging, SmError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let enc = [0x11u8; 16];
    let mac = [0x22u8; 16];
    let Ok(mut reader) = SecureMessaging::aes(&enc, &mac) else {
        return;
    };
    if reader.wrap(&Command::read_binary(0, 64)).is_err() {
        return;
    }
    if let Ok(rsp) = Response::parse(data) {
        let r = reader.unwrap(&rsp);
        assert!(r.is_err(), "a forged answer verified");
        assert_eq!(reader.wrap(&Command::read_binary(0, 1)), Err(SmError::Ended));
    }
    let Ok(mut card) = SecureMessaging::aes(&enc, &mac) else {
        return;
    };
    if let Ok(cmd) = Command::parse(data) {
        let _ = card.unwrap_command(&cmd);
    }
});
