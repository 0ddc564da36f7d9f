//! APDU encodings for every ISO/IEC 7816-4 case in short and extended form (exact bytes),
//! property tests for commands, responses and status words, and the Exchange's handling of
//! chaining, 61xx and 6Cxx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecard_chip::apdu::{ApduError, Command, Exchange, MAX_ROUNDS, Response, StatusWord};
use ecard_chip::transport::ApduLimits;
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn case_1() {
    let c = Command::new(0x00, 0x44, 0x00, 0x00);
    assert_eq!(c.encode().unwrap(), h("00 44 00 00"));
    assert_eq!(c.encode_extended().unwrap(), h("00 44 00 00"));
}

#[test]
fn case_2_short_and_extended() {
    let c = Command::new(0x00, 0xB0, 0x00, 0x00).with_le(8);
    assert_eq!(c.encode().unwrap(), h("00 B0 00 00 08"));
    assert_eq!(c.encode_extended().unwrap(), h("00 B0 00 00 00 00 08"));
    // Ne 256 is short 00; Ne 257 forces the extended form.
    assert_eq!(
        c.clone().with_le(256).encode().unwrap(),
        h("00 B0 00 00 00")
    );
    assert_eq!(
        c.clone().with_le(257).encode().unwrap(),
        h("00 B0 00 00 00 01 01")
    );
    // Ne 65536 is extended 0000.
    assert_eq!(
        c.clone().with_le(65536).encode().unwrap(),
        h("00 B0 00 00 00 00 00")
    );
    assert_eq!(c.with_le(4096).encode().unwrap(), h("00 B0 00 00 00 10 00"));
}

#[test]
fn case_3_short_and_extended() {
    let c = Command::new(0x00, 0xD6, 0x01, 0x02).with_data([0xAA, 0xBB]);
    assert_eq!(c.encode().unwrap(), h("00 D6 01 02 02 AA BB"));
    assert_eq!(
        c.encode_extended().unwrap(),
        h("00 D6 01 02 00 00 02 AA BB")
    );
    let big = Command::new(0x00, 0xD6, 0, 0).with_data(vec![0x11; 256]);
    let e = big.encode().unwrap();
    assert_eq!(&e[..7], &h("00 D6 00 00 00 01 00")[..]);
    assert_eq!(e.len(), 7 + 256);
    assert_eq!(big.encoded_len(), e.len());
}

#[test]
fn case_4_short_and_extended() {
    let c = Command::new(0x00, 0x88, 0x00, 0x00)
        .with_data([1, 2, 3, 4, 5, 6, 7, 8])
        .with_le(256);
    assert_eq!(c.encode().unwrap(), h("00 88 00 00 08 0102030405060708 00"));
    assert_eq!(
        c.encode_extended().unwrap(),
        h("00 88 00 00 00 00 08 0102030405060708 01 00")
    );
    let c = c.with_le(65536);
    assert_eq!(
        c.encode().unwrap(),
        h("00 88 00 00 00 00 08 0102030405060708 00 00")
    );
}

#[test]
fn helpers_build_the_iso_commands() {
    assert_eq!(
        Command::select_mf().encode().unwrap(),
        h("00 A4 00 0C 02 3F 00")
    );
    assert_eq!(
        Command::select_aid(&[0xA0, 0, 0, 2, 0x47, 0x10, 1], true)
            .encode()
            .unwrap(),
        h("00 A4 04 04 07 A0000002471001 00")
    );
    assert_eq!(
        Command::select_ef(0x011E).encode().unwrap(),
        h("00 A4 02 0C 02 01 1E")
    );
    assert_eq!(
        Command::read_binary(0x7FFF, 4).encode().unwrap(),
        h("00 B0 7F FF 04")
    );
    assert_eq!(
        Command::read_binary_odd(0x8000, 0x100).encode().unwrap(),
        h("00 B1 00 00 04 54 02 80 00 00")
    );
    assert_eq!(
        Command::update_binary_odd(0x012345, &[9, 9])
            .encode()
            .unwrap(),
        h("00 D7 00 00 09 54 03 01 23 45 53 02 09 09")
    );
    assert_eq!(Command::odd_ins_overhead(0x012345, 2), 7);
    assert_eq!(Command::odd_ins_overhead(0x8000, 200), 4 + 3);
    assert_eq!(
        Command::generate_key_pair(1).encode().unwrap(),
        h("00 46 00 01 00")
    );
    assert_eq!(
        Command::get_response(0x20).encode().unwrap(),
        h("00 C0 00 00 20")
    );
}

#[test]
fn bad_commands_are_refused() {
    let c = Command::new(0, 0xD6, 0, 0).with_data(vec![0; 65536]);
    assert_eq!(c.encode(), Err(ApduError::DataTooLong { len: 65536 }));
    let c = Command::new(0, 0xB0, 0, 0).with_le(0);
    assert_eq!(c.encode(), Err(ApduError::BadLe { ne: 0 }));
    assert_eq!(
        Command::parse(&[0, 1, 2]),
        Err(ApduError::CommandTooShort { len: 3 })
    );
    assert!(matches!(
        Command::parse(&h("00 D6 00 00 05 01 02")),
        Err(ApduError::BadLength { len: 7, .. })
    ));
    assert!(matches!(
        Command::parse(&h("00 D6 00 00 00 00 00 01")),
        Err(ApduError::BadLength { .. })
    ));
}

#[test]
fn status_words_have_iso_meanings() {
    assert_eq!(StatusWord::from_u16(0x9000), StatusWord::Ok);
    assert_eq!(StatusWord::from_u16(0x6A82), StatusWord::FileNotFound);
    assert_eq!(
        StatusWord::from_u16(0x6114),
        StatusWord::BytesAvailable(0x14)
    );
    assert_eq!(StatusWord::from_u16(0x6C08), StatusWord::WrongLe(8));
    assert_eq!(StatusWord::from_u16(0x63C2), StatusWord::Counter(2));
    assert_eq!(
        StatusWord::from_u16(0x6A84).to_string(),
        "6A84 (not enough memory space in the file)"
    );
    assert_eq!(
        StatusWord::from_u16(0x6982).to_string(),
        "6982 (security status not satisfied)"
    );
    assert_eq!(
        StatusWord::from_u16(0x6581).to_string(),
        "6581 (memory failure)"
    );
    assert_eq!(
        StatusWord::from_u16(0x6282).to_string(),
        "6282 (end of file or record reached before reading Ne bytes)"
    );
    assert_eq!(
        StatusWord::Other(0x9123).to_string(),
        "9123 (unknown status word)"
    );
    for (code, name) in [
        (0x6281, StatusWord::CorruptedData),
        (0x6700, StatusWord::WrongLength),
        (0x6985, StatusWord::ConditionsNotSatisfied),
        (0x6986, StatusWord::NoCurrentEf),
        (0x6A80, StatusWord::IncorrectData),
        (0x6A86, StatusWord::IncorrectP1P2),
        (0x6B00, StatusWord::WrongP1P2),
        (0x6D00, StatusWord::InsNotSupported),
        (0x6E00, StatusWord::ClaNotSupported),
        (0x6F00, StatusWord::NoPreciseDiagnosis),
    ] {
        assert_eq!(StatusWord::from_u16(code), name);
    }
}

#[test]
fn status_word_conversion_is_a_bijection() {
    for sw in 0..=u16::MAX {
        assert_eq!(StatusWord::from_u16(sw).to_u16(), sw);
    }
}

#[test]
fn debug_and_describe_never_show_data() {
    let c = Command::update_binary(0, b"SECRET-MRZ".to_vec());
    assert_eq!(
        format!("{c:?}"),
        "Command { 00 D6 00 00, data_len: 10, le: None }"
    );
    let bytes = c.encode().unwrap();
    assert_eq!(ecard_chip::apdu::describe(&bytes), "00 D6 00 00 (15 bytes)");
    let action = ecard_chip::perso::Action::Transmit(bytes);
    assert_eq!(format!("{action:?}"), "Transmit(00 D6 00 00 (15 bytes))");
}

#[test]
fn response_parse() {
    let r = Response::parse(&h("01 02 90 00")).unwrap();
    assert_eq!(r.data, vec![1, 2]);
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(
        Response::parse(&[0x90]),
        Err(ApduError::ResponseTooShort { len: 1 })
    );
    // Debug never shows data (it may be holder data).
    assert_eq!(format!("{r:?}"), "Response { data_len: 2, sw: Ok }");
}

fn ext_limits(max: usize) -> ApduLimits {
    ApduLimits {
        extended: true,
        max_command_data: max,
        max_response_data: max,
    }
}

#[test]
fn exchange_get_response_accumulates() {
    let mut ex = Exchange::new(Command::select_aid(&[1, 2, 3], true), ApduLimits::SHORT).unwrap();
    assert_eq!(ex.poll_transmit().unwrap(), h("00 A4 04 04 03 010203 00"));
    assert_eq!(ex.poll_transmit(), None);
    assert_eq!(ex.handle_response(&h("AA BB 61 02")).unwrap(), None);
    assert_eq!(ex.poll_transmit().unwrap(), h("00 C0 00 00 02"));
    let r = ex.handle_response(&h("CC DD 90 00")).unwrap().unwrap();
    assert_eq!(r.data, h("AA BB CC DD"));
    assert_eq!(r.sw, StatusWord::Ok);
    assert!(ex.is_done());
    assert_eq!(ex.apdus_sent(), 2);
    assert_eq!(
        ex.handle_response(&h("90 00")),
        Err(ApduError::NoCommandInFlight)
    );
}

#[test]
fn exchange_6cxx_reissues_with_exact_le_once() {
    let mut ex = Exchange::new(Command::read_binary(0, 256), ApduLimits::SHORT).unwrap();
    assert_eq!(ex.poll_transmit().unwrap(), h("00 B0 00 00 00"));
    assert_eq!(ex.handle_response(&h("6C 10")).unwrap(), None);
    assert_eq!(ex.poll_transmit().unwrap(), h("00 B0 00 00 10"));
    // A second 6Cxx is the caller's to judge.
    let r = ex.handle_response(&h("6C 05")).unwrap().unwrap();
    assert_eq!(r.sw, StatusWord::WrongLe(5));
}

#[test]
fn exchange_chains_long_data_on_short_links() {
    let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let cmd = Command::new(0x00, 0xD6, 0x00, 0x00).with_data(data.clone());
    let mut ex = Exchange::new(cmd, ApduLimits::SHORT).unwrap();
    let first = ex.poll_transmit().unwrap();
    assert_eq!(&first[..5], &h("10 D6 00 00 FF")[..]);
    assert_eq!(&first[5..], &data[..255]);
    assert_eq!(ex.handle_response(&h("90 00")).unwrap(), None);
    let second = ex.poll_transmit().unwrap();
    assert_eq!(&second[..5], &h("10 D6 00 00 FF")[..]);
    assert_eq!(ex.handle_response(&h("90 00")).unwrap(), None);
    let last = ex.poll_transmit().unwrap();
    assert_eq!(&last[..5], &h("00 D6 00 00 5A")[..]);
    assert_eq!(&last[5..], &data[510..]);
    let r = ex.handle_response(&h("90 00")).unwrap().unwrap();
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(ex.apdus_sent(), 3);
}

#[test]
fn exchange_chain_stops_at_first_refusal() {
    let cmd = Command::new(0, 0xD6, 0, 0).with_data(vec![0; 300]);
    let mut ex = Exchange::new(cmd, ApduLimits::SHORT).unwrap();
    ex.poll_transmit().unwrap();
    let r = ex.handle_response(&h("68 84")).unwrap().unwrap();
    assert_eq!(r.sw, StatusWord::ChainingNotSupported);
    assert_eq!(ex.poll_transmit(), None);
}

#[test]
fn exchange_refuses_extended_le_on_short_link() {
    assert_eq!(
        Exchange::new(Command::read_binary(0, 4096), ApduLimits::SHORT).unwrap_err(),
        ApduError::ExtendedNotAvailable { len: 4096 }
    );
    let mut ex = Exchange::new(Command::read_binary(0, 4096), ext_limits(4096)).unwrap();
    assert_eq!(ex.poll_transmit().unwrap(), h("00 B0 00 00 00 10 00"));
}

#[test]
fn exchange_caps_endless_get_response() {
    // 2 KB a round (a transport may hand back more than a short APDU's 256): the byte cap is hit
    // after 33 rounds, before the round cap of 64.
    let mut ex = Exchange::new(Command::get_challenge(8), ApduLimits::SHORT).unwrap();
    let mut answer = vec![0u8; 2048];
    answer.extend([0x61, 0x00]);
    let mut result = Ok(None);
    for _ in 0..400 {
        if ex.poll_transmit().is_none() {
            break;
        }
        result = ex.handle_response(&answer);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(ApduError::ResponseTooLong { limit: 65536 + 256 })
    );
}

/// Issue 13 item 3: a card answering `61 00` with no data, forever, used to loop without end.
#[test]
fn exchange_caps_get_response_rounds() {
    let mut ex = Exchange::new(Command::get_challenge(8), ApduLimits::SHORT).unwrap();
    let mut sent = 0;
    let mut result = Ok(None);
    while let Some(_apdu) = ex.poll_transmit() {
        sent += 1;
        assert!(sent < 10_000, "the exchange never gave up");
        result = ex.handle_response(&h("61 00"));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(ApduError::TooManyRounds {
            ins: 0x84,
            rounds: MAX_ROUNDS,
            last_sw2: 0,
            gathered: 0,
        })
    );
    // The command and 64 GET RESPONSEs went out; the 65th was refused.
    assert_eq!(sent, 1 + MAX_ROUNDS);
    assert_eq!(ex.poll_transmit(), None);
}

/// 61xx answered by 6Cxx answered by 61xx...: each re-issue counts as a round.
#[test]
fn exchange_caps_alternating_61_6c() {
    let mut ex = Exchange::new(Command::read_binary(0, 16), ApduLimits::SHORT).unwrap();
    let mut n = 0;
    let err = loop {
        let Some(_apdu) = ex.poll_transmit() else {
            panic!("exchange ended without an error after {n} APDUs");
        };
        n += 1;
        let answer = if n % 2 == 0 {
            h("6C 10")
        } else {
            h("AB 61 10")
        };
        match ex.handle_response(&answer) {
            Ok(None) => {}
            Ok(Some(r)) => break Ok(r.sw),
            Err(e) => break Err(e),
        }
    };
    // The single 6Cxx re-issue is allowed once; the second 6Cxx ends the exchange as is.
    assert_eq!(err, Ok(StatusWord::WrongLe(0x10)));
    assert!(n <= 1 + MAX_ROUNDS);
}

fn arb_command() -> impl Strategy<Value = Command> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            prop::collection::vec(any::<u8>(), 0..3000)
        ],
        prop_oneof![
            Just(None),
            (1usize..=65536).prop_map(Some),
            (1usize..=256).prop_map(Some)
        ],
    )
        .prop_map(|(cla, ins, p1, p2, data, le)| Command {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        })
}

proptest! {
    #[test]
    fn command_roundtrips_in_both_forms(c in arb_command()) {
        let short_or_ext = c.encode().unwrap();
        prop_assert_eq!(short_or_ext.len(), c.encoded_len());
        prop_assert_eq!(Command::parse(&short_or_ext).unwrap(), c.clone());
        let ext = c.encode_extended().unwrap();
        prop_assert_eq!(Command::parse(&ext).unwrap(), c.clone());
        // Canonical: re-encoding the parsed command gives the same bytes.
        prop_assert_eq!(Command::parse(&short_or_ext).unwrap().encode().unwrap(), short_or_ext);
    }

    #[test]
    fn command_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(c) = Command::parse(&bytes) {
            // Whatever parses re-encodes to a form that parses to the same command.
            let again = c.encode().unwrap();
            prop_assert_eq!(Command::parse(&again).unwrap(), c);
        }
    }

    #[test]
    fn response_roundtrips_and_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        match Response::parse(&bytes) {
            Ok(r) => {
                prop_assert_eq!(r.data.len() + 2, bytes.len());
                prop_assert_eq!(r.to_bytes(), bytes);
            }
            Err(e) => prop_assert_eq!(e, ApduError::ResponseTooShort { len: bytes.len() }),
        }
    }

    #[test]
    fn exchange_never_panics_on_any_answer(
        answers in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..20),
        data_len in 0usize..700,
    ) {
        let cmd = Command::new(0, 0xD6, 0, 0).with_data(vec![1; data_len]);
        let Ok(mut ex) = Exchange::new(cmd, ApduLimits::SHORT) else { return Ok(()) };
        for a in &answers {
            if ex.poll_transmit().is_none() {
                break;
            }
            match ex.handle_response(a) {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => {}
            }
        }
    }

    /// Issue 13 item 3: whatever a card keeps answering (61xx, 6Cxx or anything else, cycled
    /// forever), one exchange ends within its chained segments plus MAX_ROUNDS extra APDUs.
    #[test]
    fn exchange_always_ends_within_its_round_cap(
        answers in prop::collection::vec(
            prop_oneof![
                (any::<u8>(), 0usize..8).prop_map(|(n, d)| { let mut a = vec![0xAB; d]; a.extend([0x61, n]); a }),
                any::<u8>().prop_map(|n| vec![0x6C, n]),
                prop::collection::vec(any::<u8>(), 2..6),
            ],
            1..8,
        ),
        data_len in 0usize..700,
    ) {
        let cmd = Command::new(0, 0xD6, 0, 0).with_data(vec![1; data_len]).with_le(16);
        let Ok(mut ex) = Exchange::new(cmd, ApduLimits::SHORT) else { return Ok(()) };
        let segments = data_len.div_ceil(255).max(1);
        let mut sent = 0;
        for a in answers.iter().cycle() {
            if ex.poll_transmit().is_none() {
                break;
            }
            sent += 1;
            prop_assert!(sent <= segments + MAX_ROUNDS, "still going after {sent} APDUs");
            match ex.handle_response(a) {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => {}
            }
        }
    }
}
