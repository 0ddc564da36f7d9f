//! SCP03 against published traces:
//! - osmocom pySim, `tests/unittests/test_globalplatform.py` (classes `SCP03_Test_AES{128,192,256}_{11,03,33}`):
//!   INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, a wrapped GET DATA (EID) and its protected answer,
//!   then four commands of ISO cases 1-4, in that order (the MAC chaining value and the
//!   encryption counter run on from one to the next), with keysets 00..0F/10..1F/20..2F (kvn 30,
//!   31, 32); replayed on the host side and, for the card side, checked the other way round;
//! - GlobalPlatformPro, `TestSCP03.testKDF3`: the SP 800-108 counter-mode KDF with AES-CMAC
//!   (AES-256 master key, KDD D9B1DE5D0362DEDCE4FB).
#![allow(clippy::unwrap_used)]

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

struct Trace {
    keys: StaticKeys,
    init_cmd: &'static str,
    init_rsp: &'static str,
    ext_auth: &'static str,
    eid_cmd: &'static str,
    eid_rsp: &'static str,
    cases: [&'static str; 4],
}

const EID_PLAIN: &str = "80E2910006BF3E035C015A00";
const EID_RSP_PLAIN: &str = "bf3e125a1089882119900000000000000000000005";
const CASES_PLAIN: [&str; 4] = [
    "80F22002",
    "80ca006600",
    "80F220020a4f0212345c054f9f70c5",
    "80f28002024f0000",
];

fn keyset(len: usize) -> StaticKeys {
    let k = |base: u8| (0..len).map(|i| base + (i % 16) as u8).collect::<Vec<u8>>();
    StaticKeys {
        enc: k(0x00),
        mac: k(0x10),
        dek: k(0x20),
    }
}

fn traces() -> Vec<Trace> {
    vec![
        Trace {
            keys: keyset(16),
            init_cmd: "8050300008b13e5f938fc108c400",
            init_rsp: "000000000000000000003003703eb51047495b249f66c484c1d2ef1948000002",
            ext_auth: "84821100107d5f5826a993ebc89eea24957fa0b3ce",
            eid_cmd: "84e291000ebf3e035c015a558d036518a2829700",
            eid_rsp: "bf3e125a1089882119900000000000000000000005971be68992dbbdfa",
            cases: [
                "84f220020863a63f8959827fb2",
                "84ca006608a0c6a4a74166f7ce00",
                "84f22002124f0212345c054f9f70c52249b50272656536",
                "84f280020a4f00e91443f6dce6b8ed00",
            ],
        },
        Trace {
            keys: keyset(16),
            init_cmd: "80503000088e1552d0513c60f300",
            init_rsp: "0000000000000000000030037030760cd2c47c1dd395065fe5ead8a9d7000001",
            ext_auth: "8482030010fd4721a14d9b07003c451d2f8ae6bb21",
            eid_cmd: "84e2910018ca9c00f6713d79bc8baa642bdff51c3f6a4082d3bd9ad26c00",
            eid_rsp: EID_RSP_PLAIN,
            cases: [
                "84f2200208c9811b11f1264cf1",
                "84ca006608e10ab60b3054798800",
                "84f22002184e2908bdb48b2315a55482e9e936ca122d6ecfae7d17416e",
                "84f28002180dd10a6b6193e5340b9e77d32d5a179cd710ac2773aefb2800",
            ],
        },
        Trace {
            keys: keyset(16),
            init_cmd: "8050300008fdf38259a1e0de4400",
            init_rsp: "000000000000000000003003703b1aca81e821f219081cdc01c26b372d000003",
            ext_auth: "84823300108c36f96bcc00724a4e13ad591d7da3f0",
            eid_cmd: "84e2910018267a85dfe4a98fca6fb0527e0dfecce4914e40401433c87f00",
            eid_rsp: "f3ba2b1013aa6224f5e1c138d71805c569e5439b47576260b75fc021b25097cb2e68f8a0144975b9",
            cases: [
                "84f2200208ac6a59024bed84cc",
                "84ca006608409912ad8fb7aed000",
                "84f22002185f3dafc3ac14c381536a488bf44e06d056df9d74dbd21e5a",
                "84f280021865165105be3373347d0424d4400af2ac393f569ec779389e00",
            ],
        },
        Trace {
            keys: keyset(24),
            init_cmd: "80503100087396430b768b085b00",
            init_rsp: "000000000000000000003103708cfc23522ffdbf1e5df5542cac8fd866000003",
            ext_auth: "84821100102145ed30b146f5db252fb7e624cec244",
            eid_cmd: "84e291000ebf3e035c015aff42cf801d14394400",
            eid_rsp: "bf3e125a1089882119900000000000000000000005162fbd33e04940a9",
            cases: [
                "84f22002084584e4f6784811ee",
                "84ca006608937776ebe190fa3000",
                "84f22002124f0212345c054f9f70c59a52bddf3040368c",
                "84f280020a4f009804b11411f7393d00",
            ],
        },
        Trace {
            keys: keyset(24),
            init_cmd: "805031000869c65da8202bf19f00",
            init_rsp: "00000000000000000000310370b570a67be38446717729d6dd3d2ec5b1000001",
            ext_auth: "848203001065df4f1a356a887905466516d9e5b7c1",
            eid_cmd: "84e2910018d2c6fb477c5d4afe4fd4d21f17eff10d3578ec1774a12a2d00",
            eid_rsp: EID_RSP_PLAIN,
            cases: [
                "84f2200208964e188f0b1bb697",
                "84ca006608f0820035a41d3e1800",
                "84f220021806b076ed452cd1fa84f77f5c08a146aa77a9286757dea791",
                "84f2800218d06527e39222dce091fabdb8e9b898417a67a6852d3577db00",
            ],
        },
        Trace {
            keys: keyset(24),
            init_cmd: "80503100089b3f2eef0e8c937400",
            init_rsp: "00000000000000000000310370f6bb305a15bae1a68f79fb08212fbed7000002",
            ext_auth: "84823300109100bc22d58b45b86a26365ce39ff3cf",
            eid_cmd: "84e29100188f7f946c84f70d17994bc6e8791251bb1bb1bf02cf8de58900",
            eid_rsp: "c05176c1b6f72aae50c32cbee63b0e95998928fd4dfb2be9f27ffde8c8476f5909b4805cc4039599",
            cases: [
                "84f2200208d5d97754b6b3d2ba",
                "84ca006608516c82b8e30adbeb00",
                "84f2200218cc247f4761e6944277a4e0d6e32e44025b1e31537e2fc668",
                "84f2800218ba22b63d509bef5d093b43e5eaed03ed23144ab2d9cb51de00",
            ],
        },
        Trace {
            keys: keyset(32),
            init_cmd: "805032000811666d57866c6f5400",
            init_rsp: "0000000000000000000032037053ea8847efa7674e41498a4d66cf0dee000003",
            ext_auth: "84821100102f2ad190eff2fafc4908996d1cebd310",
            eid_cmd: "84e291000ebf3e035c015af4b680372542b59d00",
            eid_rsp: "bf3e125a10898821199000000000000000000000058012dd7f01f1c4c1",
            cases: [
                "84f2200208d618b7da68d5fe52",
                "84ca0066088f3e055db23ad5e500",
                "84f22002124f0212345c054f9f70c5b6e15cc42404915e",
                "84f280020a4f00aa124aa74afe7f7500",
            ],
        },
        Trace {
            keys: keyset(32),
            init_cmd: "8050320008c6066990fc426e1d00",
            init_rsp: "000000000000000000003203708682cd81bbd8919f2de3f2664581f118000001",
            ext_auth: "848203001077c493b632edadaf865a1e64acc07ce9",
            eid_cmd: "84e29100183ddaa60594963befaada3525b492ede23c2ab2c1ce3afe4400",
            eid_rsp: EID_RSP_PLAIN,
            cases: [
                "84f2200208480ddc8e419da38d",
                "84ca0066083e9d6a6c0b2d732000",
                "84f22002183ebfef2da8b04af2a85f491f299b76973df76ff08a4031be",
                "84f2800218783fff80990f5585b1055010ea95094a26e4a8f1ef4b18e100",
            ],
        },
        Trace {
            keys: keyset(32),
            init_cmd: "805032000897b2055fe58599fd00",
            init_rsp: "00000000000000000000320370a8439a22cedf045fa9f1903b2834f26e000002",
            ext_auth: "8482330010508a0fd959d2e547c6b33154a6be2057",
            eid_cmd: "84e29100187a5ef717eaf1e135ae92fe54429d0e465decda65f5fe5aea00",
            eid_rsp: "ea90dbfa648a67c5eb6abc57f8530b97d0cd5647c5e8732016b55203b078dd2ace7f8bc5d1c1cd99",
            cases: [
                "84f2200208bcc5c17275545d93",
                "84ca00660804806aba9d543bb600",
                "84f2200218717222491556ec81a45f49ce48be33320024801a1c4cb0e0",
                "84f2800218561f105bccd3a1642904b251ccc1228beb80a82370a8637000",
            ],
        },
    ]
}

fn encode(c: &Command) -> String {
    hex::encode(c.encode().unwrap())
}

#[test]
fn host_side_replays_the_pysim_traces() {
    for t in traces() {
        let init = Command::parse(&h(t.init_cmd)).unwrap();
        let host_challenge: [u8; 8] = init.data.clone().try_into().unwrap();
        assert_eq!(
            encode(&InitializeUpdate::command(init.p1, &host_challenge)),
            t.init_cmd
        );
        let iu = InitializeUpdate::parse(&h(t.init_rsp)).unwrap();
        let mut s = Session::new(&t.keys, &host_challenge, &iu.card_challenge).unwrap();
        assert!(
            s.card_cryptogram_matches(&iu.card_cryptogram),
            "{}",
            t.init_rsp
        );
        let level = h(t.ext_auth)[2];
        assert_eq!(encode(&s.external_authenticate(level).unwrap()), t.ext_auth);
        let eid = s.wrap(&Command::parse(&h(EID_PLAIN)).unwrap()).unwrap();
        assert_eq!(encode(&eid), t.eid_cmd, "level {level:02X}");
        let rsp = Response {
            data: h(t.eid_rsp),
            sw: StatusWord::Ok,
        };
        assert_eq!(s.unwrap(&rsp).unwrap().data, h(EID_RSP_PLAIN));
        for (plain, wrapped) in CASES_PLAIN.iter().zip(t.cases) {
            let c = s.wrap(&Command::parse(&h(plain)).unwrap()).unwrap();
            assert_eq!(encode(&c), wrapped, "level {level:02X}: {plain}");
        }
    }
}

#[test]
fn card_side_checks_the_pysim_traces_the_other_way_round() {
    for t in traces() {
        let init = Command::parse(&h(t.init_cmd)).unwrap();
        let host_challenge: [u8; 8] = init.data.clone().try_into().unwrap();
        let iu = InitializeUpdate::parse(&h(t.init_rsp)).unwrap();
        let mut card = Session::new(&t.keys, &host_challenge, &iu.card_challenge).unwrap();
        assert_eq!(card.card_cryptogram(), iu.card_cryptogram);
        card.check_external_authenticate(&Command::parse(&h(t.ext_auth)).unwrap())
            .unwrap();
        let eid = card
            .unwrap_command(&Command::parse(&h(t.eid_cmd)).unwrap())
            .unwrap();
        assert_eq!(encode(&eid), hex::encode(h(EID_PLAIN)));
        let mut rsp = h(t.eid_rsp);
        rsp.extend_from_slice(&[0x90, 0x00]);
        assert_eq!(
            card.wrap_response(&h(EID_RSP_PLAIN), StatusWord::Ok)
                .unwrap(),
            rsp
        );
        for (plain, wrapped) in CASES_PLAIN.iter().zip(t.cases) {
            let c = card
                .unwrap_command(&Command::parse(&h(wrapped)).unwrap())
                .unwrap();
            assert_eq!(encode(&c), hex::encode(h(plain)));
        }
    }
}

#[test]
fn the_kdf_matches_globalplatformpro() {
    // GPPro's KDF3: no prefix, the counter first, then 00000001 00 || KDD.
    let master = h("8C72C72CF908411653018807950D82FBAD947562F0828A0B10B8B9606ABF3BCD");
    let mut suffix = h("0000000100");
    suffix.extend(h("D9B1DE5D0362DEDCE4FB"));
    assert_eq!(
        hex::encode_upper(sp800_108(&master, &[], &suffix, 32).unwrap()),
        "9AAC5D0B3601F89438A0D9D0B6B256CFB47E6462DFA5228D3420C4AC7C224781"
    );
}

#[test]
fn a_wrong_kmc_fails_the_card_cryptogram_and_bad_macs_close_the_channel() {
    let kdd = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let card_keys = KmcKeys::test_key().card_keys(&kdd, 0x30).unwrap();
    let other = KmcKeys::new(&[7u8; 16])
        .unwrap()
        .card_keys(&kdd, 0x30)
        .unwrap();
    assert_ne!(card_keys, other);
    let (hc, cc) = ([1u8; 8], [2u8; 8]);
    let card = Session::new(&card_keys, &hc, &cc).unwrap();
    let host = Session::new(&other, &hc, &cc).unwrap();
    assert!(!host.card_cryptogram_matches(&card.card_cryptogram()));

    let mut host = Session::new(&card_keys, &hc, &cc).unwrap();
    let mut card = Session::new(&card_keys, &hc, &cc).unwrap();
    let ea = host.external_authenticate(LEVEL_FULL).unwrap();
    card.check_external_authenticate(&ea).unwrap();
    let cmd = host
        .wrap(&Command::new(0x00, 0xD6, 0, 0).with_data(vec![5u8; 40]))
        .unwrap();
    let opened = card.unwrap_command(&cmd).unwrap();
    assert_eq!(opened.data, vec![5u8; 40]);
    let mut r = card.wrap_response(&[1, 2, 3], StatusWord::Ok).unwrap();
    let n = r.len();
    r[n - 3] ^= 1;
    assert_eq!(
        host.unwrap(&Response::parse(&r).unwrap()),
        Err(ScpError::RMac)
    );
    assert_eq!(
        host.wrap(&Command::new(0, 0xA4, 0, 0)),
        Err(ScpError::Closed)
    );
    // An error status word travels without protection.
    let plain = card
        .wrap_response(&[], StatusWord::SecurityStatusNotSatisfied)
        .unwrap();
    assert_eq!(plain, vec![0x69, 0x82]);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn unwrap_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120), sw in any::<u16>()) {
            let keys = keyset(16);
            let mut s = Session::new(&keys, &[1; 8], &[2; 8]).unwrap();
            s.external_authenticate(LEVEL_FULL).unwrap();
            let _ = s.unwrap(&Response { data, sw: StatusWord::from_u16(sw) });
        }

        #[test]
        fn round_trip_at_full_level(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let keys = keyset(32);
            let mut host = Session::new(&keys, &[3; 8], &[4; 8]).unwrap();
            let mut card = Session::new(&keys, &[3; 8], &[4; 8]).unwrap();
            card.check_external_authenticate(&host.external_authenticate(LEVEL_FULL).unwrap()).unwrap();
            let c = host.wrap(&Command::new(0, 0xD6, 0, 0).with_data(data.clone())).unwrap();
            prop_assert_eq!(card.unwrap_command(&c).unwrap().data, data.clone());
            let r = card.wrap_response(&data, StatusWord::Ok).unwrap();
            prop_assert_eq!(host.unwrap(&Response::parse(&r).unwrap()).unwrap().data, data);
        }
    }
}
