//! PACE against ICAO Doc 9303 Part 11 (8th edition, 2021):
//! - Appendix D.2 (BAC worked example): the MRZ information and the SHA-1 key seed, which the MRZ
//!   password of PACE is made from;
//! - Appendix G.1 "ECDH based example" (Generic Mapping, brainpoolP256r1, AES-128, MRZ password
//!   T22000129 / 640812 / 101031): K, K_pi, the nonce, the mapping keys, H, the mapped generator,
//!   the ephemeral keys, the shared secret, KS_enc, KS_mac, both authentication tokens and the
//!   whole APDU transcript, byte for byte.
//!
//! The hex values are the appendix's (also used by the independent gmrtd and jmrtd test suites).
#![allow(clippy::unwrap_used)]

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

const CARD_ACCESS: &str = "31143012060A04007F0007020204020202010202010D";
const K: &str = "7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD";
const K_PI: &str = "89DED1B26624EC1E634C1989302849DD";
const Z: &str = "95A3A016522EE98D01E76CB6B98B42C3";
const S: &str = "3F00C4D39D153F2B2A214A078D899B22";
const SK_MAP_IFD: &str = "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99";
const PK_MAP_IFD: &str = "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D";
const SK_MAP_IC: &str = "498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560";
const PK_MAP_IC: &str = "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54";
const H_POINT: &str = "0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD50840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181";
const G_MAPPED: &str = "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E28C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522";
const SK_DH_IFD: &str = "A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595";
const PK_DH_IFD: &str = "042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462";
const PK_DH_IC: &str = "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094";
const SHARED: &str = "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925";
const KS_ENC: &str = "F5F0E35C0D7161EE6724EE513A0D9A7F";
const KS_MAC: &str = "FE251C7858B356B24514B3BD5F4297D1";
const T_IFD: &str = "C2B0BD78D94BA866";
const T_IC: &str = "3ABB9674BCE93C08";

fn g1_info() -> PaceInfo {
    PaceInfo {
        key_length: KeyLength::Aes128,
        curve: Curve::BrainpoolP256r1,
    }
}

fn g1_password() -> Password {
    Password::mrz_key("T22000129,640812,101031").unwrap()
}

#[test]
fn mrz_information_and_key_seed_match_appendix_d2() {
    let info = mrz_information("L898902C<", "690806", "940623").unwrap();
    assert_eq!(info, "L898902C<369080619406236");
    let seed = sha1::Sha1::digest(info.as_bytes());
    assert_eq!(
        hex::encode_upper(&seed[..16]),
        "239AB9CB282DAF66231DC5A4DF6BFBAE"
    );
    // A document number of more than 9 characters (D.2's second example).
    assert_eq!(
        mrz_information("D23145890734", "340712", "950712").unwrap(),
        "D23145890734934071279507122"
    );
}

#[test]
fn card_access_of_appendix_g1_parses() {
    assert_eq!(parse_card_access(&h(CARD_ACCESS)).unwrap(), vec![g1_info()]);
    assert_eq!(build_card_access(&[g1_info()]), h(CARD_ACCESS));
}

#[test]
fn password_key_and_nonce_match_appendix_g1() {
    let p = g1_password();
    assert_eq!(p.secret().unwrap(), h(K));
    let k_pi = p.key(KeyLength::Aes128).unwrap();
    assert_eq!(k_pi, h(K_PI));
    let z: [u8; 16] = h(Z).try_into().unwrap();
    let s = decrypt_nonce(&k_pi, &z);
    assert_eq!(s.to_vec(), h(S));
    assert_eq!(encrypt_nonce(&k_pi, &s).to_vec(), h(Z));
}

#[test]
fn mapping_and_key_agreement_match_appendix_g1() {
    let c = Curve::BrainpoolP256r1;
    assert_eq!(c.mul(&h(SK_MAP_IFD), None).unwrap(), h(PK_MAP_IFD));
    assert_eq!(c.mul(&h(SK_MAP_IC), None).unwrap(), h(PK_MAP_IC));
    let hp = c.mul(&h(SK_MAP_IFD), Some(&h(PK_MAP_IC))).unwrap();
    assert_eq!(hp, h(H_POINT));
    // The chip reaches the same H from its side.
    assert_eq!(
        c.mul(&h(SK_MAP_IC), Some(&h(PK_MAP_IFD))).unwrap(),
        h(H_POINT)
    );
    assert_eq!(c.map_generic(&h(S), &hp).unwrap(), h(G_MAPPED));
    assert_eq!(
        c.mul(&h(SK_DH_IFD), Some(&h(G_MAPPED))).unwrap(),
        h(PK_DH_IFD)
    );
    let k = c.mul(&h(SK_DH_IFD), Some(&h(PK_DH_IC))).unwrap();
    assert_eq!(x_coordinate(&k), h(SHARED));
    let (enc, mac) = session_keys(&h(SHARED), KeyLength::Aes128);
    assert_eq!(enc, h(KS_ENC));
    assert_eq!(mac, h(KS_MAC));
    assert_eq!(
        auth_token(&mac, &g1_info(), &h(PK_DH_IC)).to_vec(),
        h(T_IFD)
    );
    assert_eq!(
        auth_token(&mac, &g1_info(), &h(PK_DH_IFD)).to_vec(),
        h(T_IC)
    );
}

#[test]
fn the_reader_state_machine_reproduces_the_g1_transcript() {
    let mut r =
        PaceReader::with_keys(g1_info(), &g1_password(), h(SK_MAP_IFD), h(SK_DH_IFD)).unwrap();
    let script = [
        (
            "0022C1A412800A04007F0007020204020283010184010D",
            "9000".to_string(),
        ),
        ("10860000027C0000", format!("7C128010{Z}9000")),
        (
            &*format!("10860000457C438141{PK_MAP_IFD}00"),
            format!("7C438241{PK_MAP_IC}9000"),
        ),
        (
            &*format!("10860000457C438341{PK_DH_IFD}00"),
            format!("7C438441{PK_DH_IC}9000"),
        ),
        (
            &*format!("008600000C7C0A8508{T_IFD}00"),
            format!("7C0A8608{T_IC}9000"),
        ),
    ]
    .map(|(c, r)| (c.to_string(), r));
    for (cmd, answer) in script {
        let PaceAction::Transmit(apdu) = r.poll() else {
            panic!("expected a command, got {:?}", r.error());
        };
        assert_eq!(hex::encode_upper(&apdu), cmd);
        r.handle_response(&h(&answer)).unwrap();
    }
    assert_eq!(r.poll(), PaceAction::Done);
    let (enc, mac) = r.session_keys().unwrap();
    assert_eq!((enc.to_vec(), mac.to_vec()), (h(KS_ENC), h(KS_MAC)));
    assert_eq!(r.into_session().unwrap().ssc(), [0u8; 16]);
}

#[test]
fn a_refused_token_is_a_wrong_password_and_a_bad_chip_token_too() {
    let run_to_last = || {
        let mut r =
            PaceReader::with_keys(g1_info(), &g1_password(), h(SK_MAP_IFD), h(SK_DH_IFD)).unwrap();
        for answer in [
            "9000".to_string(),
            format!("7C128010{Z}9000"),
            format!("7C438241{PK_MAP_IC}9000"),
            format!("7C438441{PK_DH_IC}9000"),
        ] {
            assert!(matches!(r.poll(), PaceAction::Transmit(_)));
            r.handle_response(&h(&answer)).unwrap();
        }
        assert!(matches!(r.poll(), PaceAction::Transmit(_)));
        r
    };
    let mut r = run_to_last();
    assert_eq!(
        r.handle_response(&h("63C2")),
        Err(PaceError::WrongPassword {
            kind: "MRZ key",
            retries: Some(2)
        })
    );
    assert_eq!(r.poll(), PaceAction::Failed);
    let mut r = run_to_last();
    assert_eq!(
        r.handle_response(&h("7C0A86080000000000000000 9000")),
        Err(PaceError::BadToken { kind: "MRZ key" })
    );
    let mut r = run_to_last();
    assert!(matches!(
        r.handle_response(&h("7C03860100 9000")),
        Err(PaceError::BadToken { .. })
    ));
}

#[test]
fn points_off_the_curve_and_echoes_are_refused() {
    let mut r =
        PaceReader::with_keys(g1_info(), &g1_password(), h(SK_MAP_IFD), h(SK_DH_IFD)).unwrap();
    for answer in ["9000".to_string(), format!("7C128010{Z}9000")] {
        r.poll();
        r.handle_response(&h(&answer)).unwrap();
    }
    r.poll();
    let mut bad = h(PK_MAP_IC);
    bad[40] ^= 1;
    let answer = [h("7C438241"), bad, h("9000")].concat();
    assert!(matches!(
        r.handle_response(&answer),
        Err(PaceError::Malformed {
            step: PaceStep::Mapping,
            ..
        })
    ));
    let mut r =
        PaceReader::with_keys(g1_info(), &g1_password(), h(SK_MAP_IFD), h(SK_DH_IFD)).unwrap();
    for answer in ["9000".to_string(), format!("7C128010{Z}9000")] {
        r.poll();
        r.handle_response(&h(&answer)).unwrap();
    }
    r.poll();
    assert!(matches!(
        r.handle_response(&h(&format!("7C438241{PK_MAP_IFD}9000"))),
        Err(PaceError::Malformed { .. })
    ));
}

#[test]
fn every_curve_and_key_length_agrees_with_itself() {
    // No published vectors for these combinations: both sides computed independently here must
    // agree (the G.1 tests above pin the arithmetic itself).
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    for curve in [
        Curve::P256,
        Curve::BrainpoolP256r1,
        Curve::P384,
        Curve::BrainpoolP384r1,
    ] {
        let a = curve.random_scalar(&mut rng);
        let b = curve.random_scalar(&mut rng);
        let pa = curve.mul(&a, None).unwrap();
        let pb = curve.mul(&b, None).unwrap();
        assert_eq!(pa.len(), 1 + 2 * curve.field_len());
        assert_eq!(
            curve.mul(&a, Some(&pb)).unwrap(),
            curve.mul(&b, Some(&pa)).unwrap()
        );
        assert_eq!(Curve::from_parameter_id(curve.parameter_id()), Some(curve));
    }
    for kl in [KeyLength::Aes128, KeyLength::Aes192, KeyLength::Aes256] {
        assert_eq!(kdf(b"123456", 3, kl).len(), kl.bytes());
    }
}

#[test]
fn passwords_are_checked() {
    assert!(Password::can("123456").is_ok());
    for bad in ["12345", "1234567", "12345a", ""] {
        assert!(Password::can(bad).is_err(), "{bad}");
    }
    assert!(Password::mrz_key("771234567,900101,310101").is_ok());
    for bad in [
        "771234567,900101",
        "771234567,9001011,310101",
        "77-12,900101,310101",
    ] {
        assert!(Password::mrz_key(bad).is_err(), "{bad}");
    }
    assert_eq!(
        format!("{:?}", Password::can("123456").unwrap()),
        "Password(CAN)"
    );
}

use rand_core::SeedableRng;

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn card_access_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_card_access(&bytes);
        }

        #[test]
        fn reader_never_panics_on_any_answer(answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..150), 1..6)) {
            let mut r = PaceReader::with_keys(g1_info(), &g1_password(), h(SK_MAP_IFD), h(SK_DH_IFD)).unwrap();
            for a in answers {
                match r.poll() {
                    PaceAction::Transmit(_) => { let _ = r.handle_response(&a); }
                    _ => break,
                }
            }
        }
    }
}
