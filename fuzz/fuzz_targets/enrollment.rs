//! Enrollment JSON from the MMC: never a panic; a record is accepted with no problem listed, a
//! rejection always lists at least one problem, each with a path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(today) = ecard_model::time::Date::from_calendar_date(2026, ecard_model::time::Month::November, 25) else {
        return;
    };
    if let Err(problems) = ecard_model::check_record(text, today) {
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| !p.message.is_empty()));
    }
});
