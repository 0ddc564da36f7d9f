//! Firmware profile TOML a user supplies: never a panic; an accepted profile has sane limits.
#![no_main]

use ecard_chip::profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Profile::from_toml(text, "fuzz.toml") {
        let l = p.limits();
        assert!(l.max_command_data >= 1 && l.max_response_data >= 1);
        assert!(l.extended || (l.max_command_data <= 255 && l.max_response_data <= 256));
    }
});
