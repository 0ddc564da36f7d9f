//! Secure messaging against published values.
//!
//! - 3DES: ICAO Doc 9303 Part 11 (8th edition, 2021), Appendix D.4 "Secure Messaging" of the BAC
//!   worked example: session keys and SSC from D.3, the protected SELECT EF.COM and two READ
//!   BINARY commands and the chip's protected answers, byte for byte, on both sides.
//! - AES: Appendix D.4 fixes the data-object layout and SSC rules; the AES-specific parts are the
//!   IV `E(KS_enc, SSC)` and AES-CMAC. AES-CMAC is checked against RFC 4493 section 4, and the
//!   whole AES wrap against the vector published with the independent Java implementation
//!   `jcexpress` (IcaoAppendixG1PaceTest: SELECT of the eMRTD application under the session keys
//!   of Doc 9303-11 Appendix G.1, SSC 0), which that project generated from its own reference
//!   written from section 9.8, not from this code.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::apdu::Command;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn resp(s: &str) -> Response {
    Response::parse(&h(s)).unwrap()
}

const D3_KS_ENC: &str = "979EC13B1CBFE9DCD01AB0FED307EAE5";
const D3_KS_MAC: &str = "F1CB1F1FB5ADF208806B89DC579DC1F8";
const D3_SSC: [u8; 8] = [0x88, 0x70, 0x22, 0x12, 0x0C, 0x06, 0xC2, 0x26];

/// The three D.4 exchanges: plain command, protected command, protected answer, plain answer.
fn d4() -> Vec<(Command, &'static str, &'static str, Vec<u8>)> {
    vec![
        (
            Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(h("011E")),
            "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
            "990290008E08FA855A5D4C50A8ED9000",
            vec![],
        ),
        (
            Command::new(0x00, 0xB0, 0x00, 0x00).with_le(4),
            "0CB000000D9701048E08ED6705417E96BA5500",
            "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
            h("60145F01"),
        ),
        (
            Command::new(0x00, 0xB0, 0x00, 0x04).with_le(0x12),
            "0CB000040D9701128E082EA28A70F3C7B53500",
            "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
            h("04303130365F36063034303030305C026175"),
        ),
    ]
}

#[test]
fn reader_side_reproduces_icao_appendix_d4() {
    let mut sm = SecureMessaging::tdes(&h(D3_KS_ENC), &h(D3_KS_MAC), D3_SSC).unwrap();
    for (plain, protected, answer, data) in d4() {
        let wrapped = sm.wrap(&plain).unwrap();
        assert_eq!(hex::encode_upper(wrapped.encode().unwrap()), protected);
        let opened = sm.unwrap(&resp(answer)).unwrap();
        assert_eq!(opened.data, data);
        assert_eq!(opened.sw, StatusWord::Ok);
    }
    // D.4 ends with SSC = 887022120C06C22C.
    assert_eq!(sm.ssc(), h("887022120C06C22C"));
}

#[test]
fn card_side_reproduces_icao_appendix_d4() {
    let mut card = SecureMessaging::tdes(&h(D3_KS_ENC), &h(D3_KS_MAC), D3_SSC).unwrap();
    for (plain, protected, answer, data) in d4() {
        let cmd = Command::parse(&h(protected)).unwrap();
        let opened = card.unwrap_command(&cmd).unwrap();
        assert_eq!(
            (opened.ins, opened.p1, opened.p2),
            (plain.ins, plain.p1, plain.p2)
        );
        assert_eq!(opened.data, plain.data);
        assert_eq!(opened.le, plain.le);
        let r = card.wrap_response(&data, StatusWord::Ok, false);
        assert_eq!(hex::encode_upper(r), answer);
    }
}

#[test]
fn aes_cmac_matches_rfc_4493() {
    // RFC 4493 section 4, Examples 1-4 (AES-128 key 2b7e1516 28aed2a6 abf71588 09cf4f3c).
    let key = h("2b7e151628aed2a6abf7158809cf4f3c");
    let msg = h(
        "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
    );
    let m = <cmac::Cmac<aes::Aes128> as KeyInit>::new(GenericArray::from_slice(&key));
    for (len, tag) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        assert_eq!(
            hex::encode(mac_cmac(&m, &msg[..len])),
            tag,
            "RFC 4493 Mlen {len}"
        );
    }
}

const G1_KS_ENC: &str = "F5F0E35C0D7161EE6724EE513A0D9A7F";
const G1_KS_MAC: &str = "FE251C7858B356B24514B3BD5F4297D1";

#[test]
fn aes_wrap_of_select_matches_the_published_vector() {
    let mut sm = SecureMessaging::aes(&h(G1_KS_ENC), &h(G1_KS_MAC)).unwrap();
    let select = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(h("A0000002471001"));
    let w = sm.wrap(&select).unwrap();
    assert_eq!(
        hex::encode_upper(w.encode().unwrap()),
        "0CA4040C1D871101752F676B09FAC86A87D632749A49C7CC8E08C18BA1FCE707BD9F00"
    );
    let r = sm
        .unwrap(&resp("990290008E08BEA7B381C494A0799000"))
        .unwrap();
    assert_eq!(r.sw, StatusWord::Ok);
    let mut ssc = vec![0u8; 16];
    ssc[15] = 2;
    assert_eq!(sm.ssc(), ssc);
}

fn pair(key_len: usize) -> (SecureMessaging, SecureMessaging) {
    let enc: Vec<u8> = (0..key_len as u8).collect();
    let mac: Vec<u8> = (0..key_len as u8).map(|b| b ^ 0x5A).collect();
    (
        SecureMessaging::aes(&enc, &mac).unwrap(),
        SecureMessaging::aes(&enc, &mac).unwrap(),
    )
}

#[test]
fn aes_round_trips_at_every_key_length_and_odd_ins() {
    for key_len in [16, 24, 32] {
        let (mut reader, mut card) = pair(key_len);
        for (cmd, answer) in [
            (
                Command::select_aid(&[0xA0, 0, 0, 2, 0x47, 0x10, 0x01], false),
                vec![],
            ),
            (Command::read_binary(0, 200), (0..200u8).collect::<Vec<_>>()),
            (Command::read_binary_odd(40000, 16), vec![0x53, 0x10]),
            (Command::update_binary(0, vec![7u8; 300]), vec![]),
        ] {
            let w = reader.wrap(&cmd).unwrap();
            let opened = card.unwrap_command(&w).unwrap();
            assert_eq!(opened.data, cmd.data);
            assert_eq!(opened.le, cmd.le);
            let odd = cmd.ins & 1 == 1;
            let r = card.wrap_response(&answer, StatusWord::EndOfFile, odd);
            let back = reader.unwrap(&Response::parse(&r).unwrap()).unwrap();
            assert_eq!(back.data, answer);
            assert_eq!(back.sw, StatusWord::EndOfFile);
        }
    }
}

#[test]
fn every_fault_names_its_data_object_and_ends_the_session() {
    let select = Command::select_ef(0x0101);
    // A wrong MAC.
    let (mut reader, mut card) = pair(16);
    card.unwrap_command(&reader.wrap(&select).unwrap()).unwrap();
    let mut r = card.wrap_response(&[1, 2, 3], StatusWord::Ok, false);
    let n = r.len();
    r[n - 3] ^= 1;
    assert_eq!(
        reader.unwrap(&Response::parse(&r).unwrap()),
        Err(SmError::BadMac)
    );
    assert_eq!(reader.wrap(&select), Err(SmError::Ended));

    // A missing 8E.
    let (mut reader, mut card) = pair(16);
    card.unwrap_command(&reader.wrap(&select).unwrap()).unwrap();
    let r = card.wrap_response(&[], StatusWord::Ok, false);
    let cut = Response {
        data: r[..4].to_vec(),
        sw: StatusWord::Ok,
    };
    assert_eq!(reader.unwrap(&cut), Err(SmError::Missing { tag: 0x8E }));

    // A truncated 87.
    let (mut reader, mut card) = pair(16);
    card.unwrap_command(&reader.wrap(&select).unwrap()).unwrap();
    let r = card.wrap_response(&[9; 20], StatusWord::Ok, false);
    let cut = Response {
        data: r[..10].to_vec(),
        sw: StatusWord::Ok,
    };
    assert!(matches!(
        reader.unwrap(&cut),
        Err(SmError::Malformed { tag: 0x87, .. })
    ));

    // The card drops SM and answers 6988 in plain.
    let (mut reader, _) = pair(16);
    reader.wrap(&select).unwrap();
    assert_eq!(
        reader.unwrap(&Response::status(StatusWord::Other(0x6988))),
        Err(SmError::Unprotected {
            sw: StatusWord::Other(0x6988)
        })
    );

    // The card side refuses a replayed command (the SSC moved on) and a plain one.
    let (mut reader, mut card) = pair(16);
    let w = reader.wrap(&select).unwrap();
    card.unwrap_command(&w).unwrap();
    card.wrap_response(&[], StatusWord::Ok, false);
    assert_eq!(card.unwrap_command(&w), Err(SmError::BadMac));
    let (_, mut card) = pair(16);
    assert!(card.unwrap_command(&select).is_err());
}

#[test]
fn padding_is_method_2() {
    assert_eq!(pad(&[], 8), h("8000000000000000"));
    assert_eq!(pad(&[1; 8], 8).len(), 16);
    assert_eq!(unpad(&h("0102800000")), Some(vec![1, 2]));
    assert_eq!(unpad(&h("0102000000")), None);
    assert_eq!(unpad(&[]), None);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever bytes arrive as a protected response, unwrap answers with a value or an
        /// error, never a panic, and never returns data when the MAC was not checked.
        #[test]
        fn unwrap_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), sw in any::<u16>()) {
            let (mut reader, _) = pair(16);
            reader.wrap(&Command::read_binary(0, 16)).unwrap();
            let r = reader.unwrap(&Response { data, sw: StatusWord::from_u16(sw) });
            prop_assert!(r.is_err());
        }

        #[test]
        fn unwrap_command_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (_, mut card) = pair(32);
            let cmd = Command::new(0x0C, 0xB0, 0, 0).with_data(data);
            prop_assert!(card.unwrap_command(&cmd).is_err());
        }

        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..400), le in 1usize..=256) {
            let (mut reader, mut card) = pair(24);
            let cmd = Command::new(0, 0xD6, 0, 0).with_data(data.clone()).with_le(le);
            let opened = card.unwrap_command(&reader.wrap(&cmd).unwrap()).unwrap();
            prop_assert_eq!(opened.data, data.clone());
            let r = card.wrap_response(&data, StatusWord::Ok, false);
            let back = reader.unwrap(&Response::parse(&r).unwrap()).unwrap();
            prop_assert_eq!(back.data, data);
        }
    }
}
