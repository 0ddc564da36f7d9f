//! The simulated card OS on its own: command by command with exact bytes, never panicking on any
//! input, image persistence, timing and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecard_chip::apdu::{Command, Response, StatusWord};
use ecard_chip::profile::Profile;
use ecard_chip::transport::Transport;
use ecard_sim::{Card, CardImage, Fault, SimSpec, SimTransport};
use proptest::prelude::*;

/// The ecard-sim card OS without PACE: these tests are about the plain ISO/IEC 7816-4 commands
/// (its access rule and secure messaging are tested in `sim_pace.rs`).
fn sim_spec() -> SimSpec {
    let mut spec = SimSpec::from_profile(&Profile::builtin("ecard-sim").unwrap());
    spec.pace.clear();
    spec.scp03 = false;
    spec
}

fn send(card: &mut Card, cmd: Command) -> Response {
    Response::parse(&card.process(&cmd.encode().unwrap())).unwrap()
}

fn sw(card: &mut Card, cmd: Command) -> StatusWord {
    send(card, cmd).sw
}

const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

fn h(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// MF / DF 0200 (AID) / EF 0101 of `size` bytes.
fn card_with_ef(size: u16) -> Card {
    let mut c = Card::new_blank_seeded(&sim_spec(), 42);
    let df = h("62 13 82 01 38 83 02 02 00 84 07 A0 00 00 02 47 10 01 8A 01 03");
    assert_eq!(sw(&mut c, Command::create_file(df)), StatusWord::Ok);
    let mut ef = h("62 11 80 02 00 00 82 01 01 83 02 01 01 88 01 08 8A 01 03");
    ef[4..6].copy_from_slice(&size.to_be_bytes());
    assert_eq!(sw(&mut c, Command::create_file(ef)), StatusWord::Ok);
    c
}

#[test]
fn select_variants_and_fcp() {
    let mut c = card_with_ef(100);
    assert_eq!(sw(&mut c, Command::select_mf()), StatusWord::Ok);
    let r = send(&mut c, Command::select_aid(&AID, true));
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(
        r.data,
        h("62 13 82 01 38 83 02 02 00 84 07 A0 00 00 02 47 10 01 8A 01 03")
    );
    let r = send(
        &mut c,
        Command::new(0, 0xA4, 0x02, 0x04)
            .with_data([1, 1])
            .with_le(256),
    );
    assert_eq!(
        r.data,
        h("62 11 80 02 00 64 82 01 01 83 02 01 01 88 01 08 8A 01 03")
    );
    // By path from the MF.
    let r = send(
        &mut c,
        Command::new(0, 0xA4, 0x08, 0x0C).with_data([2, 0, 1, 1]),
    );
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(
        sw(&mut c, Command::select_ef(0x0102)),
        StatusWord::FileNotFound
    );
    assert_eq!(
        sw(&mut c, Command::select_aid(&[1, 2, 3], false)),
        StatusWord::FileNotFound
    );
    assert_eq!(
        sw(&mut c, Command::new(0, 0xA4, 0x04, 0x01).with_data(AID)),
        StatusWord::IncorrectP1P2
    );
}

#[test]
fn select_with_fcp_but_no_le_answers_61xx_then_get_response() {
    let mut c = card_with_ef(100);
    let r = send(&mut c, Command::new(0, 0xA4, 0x04, 0x04).with_data(AID));
    assert_eq!(r.sw, StatusWord::BytesAvailable(0x15));
    assert!(r.data.is_empty());
    let r = send(&mut c, Command::get_response(0x15));
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(r.data.len(), 0x15);
}

#[test]
fn binary_even_odd_sfi_and_bounds() {
    let mut c = card_with_ef(40_000);
    assert_eq!(
        sw(&mut c, Command::update_binary(0, vec![1, 2, 3])),
        StatusWord::Ok
    );
    assert_eq!(send(&mut c, Command::read_binary(0, 3)).data, vec![1, 2, 3]);
    // SFI addressing in P1 (SFI 1 from FCP tag 88 value 08).
    let r = send(&mut c, Command::new(0, 0xB0, 0x81, 0x01).with_le(2));
    assert_eq!(r.data, vec![2, 3]);
    // Odd INS past 32767.
    assert_eq!(
        sw(&mut c, Command::update_binary_odd(35_000, &[9, 8, 7])),
        StatusWord::Ok
    );
    let r = send(&mut c, Command::read_binary_odd(35_000, 5));
    assert_eq!(r.data, h("53 03 09 08 07"));
    // Past the end: 6B00; short at the end: 6282; write past the end: 6A84.
    assert_eq!(
        sw(&mut c, Command::read_binary_odd(40_001, 5)),
        StatusWord::WrongP1P2
    );
    let r = send(&mut c, Command::read_binary_odd(39_998, 10));
    assert_eq!((r.data.len(), r.sw), (4, StatusWord::EndOfFile));
    assert_eq!(
        sw(&mut c, Command::update_binary_odd(39_999, &[1, 2])),
        StatusWord::NotEnoughMemory
    );
    // READ BINARY without Le is a wrong length.
    assert_eq!(
        sw(&mut c, Command::new(0, 0xB0, 0, 0)),
        StatusWord::WrongLength
    );
}

#[test]
fn no_current_ef_and_unknown_commands() {
    let mut c = Card::new_blank_seeded(&sim_spec(), 1);
    assert_eq!(
        sw(&mut c, Command::read_binary(0, 1)),
        StatusWord::NoCurrentEf
    );
    assert_eq!(
        sw(&mut c, Command::new(0, 0x12, 0, 0)),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        sw(&mut c, Command::new(0x80, 0xA4, 0, 0)),
        StatusWord::ClaNotSupported
    );
    assert_eq!(
        sw(&mut c, Command::new(0x0C, 0xA4, 0, 0)),
        StatusWord::SecureMessagingNotSupported
    );
    assert_eq!(c.process(&[0x00]), h("67 00"));
}

#[test]
fn duplicate_files_and_memory_exhaustion() {
    let mut c = card_with_ef(10);
    let ef = h("62 0E 80 02 00 0A 82 01 01 83 02 01 01 8A 01 03");
    assert_eq!(sw(&mut c, Command::create_file(ef)), StatusWord::FileExists);
    let huge = h("62 0E 80 02 F0 00 82 01 01 83 02 01 02 8A 01 03");
    assert_eq!(
        sw(&mut c, Command::create_file(huge.clone())),
        StatusWord::Ok
    );
    let mut huge2 = huge;
    huge2[12] = 0x03;
    assert_eq!(
        sw(&mut c, Command::create_file(huge2.clone())),
        StatusWord::Ok
    );
    huge2[12] = 0x04;
    assert_eq!(
        sw(&mut c, Command::create_file(huge2)),
        StatusWord::NotEnoughMemory
    );
}

#[test]
fn activation_locks_every_write_under_the_df() {
    let mut c = card_with_ef(10);
    assert_eq!(
        sw(&mut c, Command::update_binary(0, vec![5])),
        StatusWord::Ok
    );
    assert_eq!(sw(&mut c, Command::select_aid(&AID, false)), StatusWord::Ok);
    assert_eq!(sw(&mut c, Command::activate_current()), StatusWord::Ok);
    assert_eq!(sw(&mut c, Command::select_ef(0x0101)), StatusWord::Ok);
    assert_eq!(
        sw(&mut c, Command::update_binary(0, vec![6])),
        StatusWord::SecurityStatusNotSatisfied
    );
    assert_eq!(send(&mut c, Command::read_binary(0, 1)).data, vec![5]);
    assert_eq!(sw(&mut c, Command::select_aid(&AID, false)), StatusWord::Ok);
    let ef = h("62 0E 80 02 00 0A 82 01 01 83 02 01 09 8A 01 03");
    assert_eq!(
        sw(&mut c, Command::create_file(ef)),
        StatusWord::SecurityStatusNotSatisfied
    );
    assert_eq!(
        sw(&mut c, Command::generate_key_pair(1)),
        StatusWord::SecurityStatusNotSatisfied
    );
}

#[test]
fn generic_card_has_no_keys_no_lock_no_extended() {
    let spec = SimSpec::from_profile(&Profile::generic());
    let mut c = Card::new_blank_seeded(&spec, 1);
    assert_eq!(c.atr(), &h("3B 95 13 81 01 80 73 FF 01 00 0B")[..]);
    assert_eq!(
        sw(&mut c, Command::generate_key_pair(1)),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        sw(&mut c, Command::activate_current()),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        c.process(&Command::read_binary(0, 4096).encode().unwrap()),
        h("67 00")
    );
}

#[test]
fn key_generation_and_internal_authenticate() {
    use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier};
    let mut c = card_with_ef(10);
    assert_eq!(
        sw(&mut c, Command::internal_authenticate(&[0; 8])),
        StatusWord::ReferenceNotFound
    );
    assert_eq!(sw(&mut c, Command::select_aid(&AID, false)), StatusWord::Ok);
    let r = send(&mut c, Command::generate_key_pair(1));
    assert_eq!(r.sw, StatusWord::Ok);
    assert_eq!(&r.data[..5], &h("7F 49 43 86 41")[..]);
    assert_eq!(r.data.len(), 70);
    let key = VerifyingKey::from_sec1_bytes(&r.data[5..]).unwrap();
    // A second generation for the same reference is refused: the key never changes.
    assert_eq!(
        sw(&mut c, Command::generate_key_pair(1)),
        StatusWord::ConditionsNotSatisfied
    );
    let r = send(&mut c, Command::internal_authenticate(b"12345678"));
    assert_eq!(r.data.len(), 64);
    let sig = Signature::from_slice(&r.data).unwrap();
    assert!(key.verify(b"12345678", &sig).is_ok());
    // No command reveals the private key: the image has it, nothing on the wire does.
    let scalar = match &c.image().fs.nodes[1].kind {
        ecard_sim::fs::NodeKind::Df { keys, .. } => keys[0].scalar.clone(),
        _ => unreachable!(),
    };
    for cmd in [
        Command::select_aid(&AID, true),
        Command::get_challenge(32),
        Command::new(0, 0xCA, 0, 0).with_le(256),
        Command::internal_authenticate(&[0; 32]),
    ] {
        let out = c.process(&cmd.encode().unwrap());
        assert!(!out.windows(32).any(|w| w == &scalar[..]));
    }
}

#[test]
fn command_chaining_gathers_data() {
    let mut c = card_with_ef(600);
    let data: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
    let mut first = Command::update_binary(0, data[..300].to_vec());
    first.cla = 0x10;
    assert_eq!(sw(&mut c, first), StatusWord::Ok);
    assert_eq!(
        sw(&mut c, Command::update_binary(0, data[300..].to_vec())),
        StatusWord::Ok
    );
    assert_eq!(send(&mut c, Command::read_binary(0, 600)).data, data);
}

#[test]
fn image_survives_save_and_load() {
    let mut c = card_with_ef(20);
    assert_eq!(
        sw(&mut c, Command::update_binary(0, vec![0xAB; 20])),
        StatusWord::Ok
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    c.image().save(&path).unwrap();
    let loaded = CardImage::load(&path).unwrap();
    assert_eq!(loaded, c.image());
    let mut again = loaded.into_card();
    assert_eq!(
        sw(&mut again, Command::select_aid(&AID, false)),
        StatusWord::Ok
    );
    assert_eq!(sw(&mut again, Command::select_ef(0x0101)), StatusWord::Ok);
    assert_eq!(
        send(&mut again, Command::read_binary(0, 20)).data,
        vec![0xAB; 20]
    );
    // Debug output never shows file content (it is holder data on a real card).
    let debug = format!("{:?}", c.image());
    assert!(!debug.contains("171"), "{debug}");
    assert!(debug.contains("size: 20"), "{debug}");
    assert_eq!(
        SimSpec::ecard_sim(),
        SimSpec::from_profile(&Profile::builtin("ecard-sim").unwrap())
    );
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    std::fs::write(&path, b"{\"version\": 7}").unwrap();
    assert!(matches!(
        CardImage::load(&path),
        Err(ecard_sim::ImageError::Format { .. })
    ));
    let mut img = c.image();
    img.version = 9;
    img.save(&path).unwrap();
    assert!(matches!(
        CardImage::load(&path),
        Err(ecard_sim::ImageError::Version {
            got: 9,
            expected: 1,
            ..
        })
    ));
}

#[test]
fn timing_accumulates_without_sleeping() {
    let c = card_with_ef(1000);
    let mut t = SimTransport::new(c);
    let before = std::time::Instant::now();
    t.transmit(&Command::update_binary(0, vec![1; 1000]).encode().unwrap())
        .unwrap();
    // 1000 bytes from offset 0 over 128-byte pages touch 8 pages at 2.5 ms each, plus 1 ms
    // latency, plus (1007 + 2) bytes * 10 bits at 1 Mbit/s.
    let expected = std::time::Duration::from_micros(8 * 2500 + 1000 + 10_090);
    assert_eq!(t.elapsed(), expected);
    assert!(before.elapsed() < expected);
}

#[test]
fn faults_status_on_ins_and_removal() {
    let mut t = SimTransport::new(card_with_ef(10)).with_fault(Fault::StatusOnIns {
        ins: 0xB0,
        nth: 2,
        sw: 0x6F00,
    });
    let read = Command::read_binary(0, 1).encode().unwrap();
    assert_eq!(t.transmit(&read).unwrap(), h("00 90 00"));
    assert_eq!(t.transmit(&read).unwrap(), h("6F 00"));
    assert_eq!(t.transmit(&read).unwrap(), h("00 90 00"));

    let mut t = SimTransport::new(card_with_ef(10)).with_fault(Fault::RemoveAfterApdus(1));
    assert!(t.transmit(&read).is_ok());
    assert!(t.transmit(&read).is_err());
    assert!(t.is_removed());
    t.reinsert();
    assert_eq!(
        t.transmit(&Command::select_mf().encode().unwrap()).unwrap(),
        h("90 00")
    );
}

#[test]
fn tear_leaves_a_partial_write() {
    let mut t = SimTransport::new(card_with_ef(10)).with_fault(Fault::TearAfterBytes(3));
    let err = t
        .transmit(&Command::update_binary(0, vec![7; 10]).encode().unwrap())
        .unwrap_err();
    assert!(matches!(
        err,
        ecard_chip::transport::TransportError::CardRemoved { .. }
    ));
    let card = t.into_card();
    assert_eq!(
        card.ef_content(&[0x0200, 0x0101]).unwrap(),
        &[7, 7, 7, 0, 0, 0, 0, 0, 0, 0]
    );
}

fn arb_apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        // Well-formed headers with the implemented INS values and random bodies.
        (
            prop::sample::select(vec![0x00u8, 0x10, 0x0C, 0xFF]),
            prop::sample::select(vec![
                0xA4u8, 0xE0, 0xB0, 0xB1, 0xD6, 0xD7, 0x44, 0x46, 0x88, 0x84, 0xC0
            ]),
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..80),
            prop::option::of(1usize..=65536),
        )
            .prop_map(|(cla, ins, p1, p2, data, le)| {
                let mut c = Command::new(cla, ins, p1, p2).with_data(data);
                c.le = le;
                c.encode().unwrap()
            }),
    ]
}

proptest! {
    #[test]
    fn process_never_panics_and_always_ends_with_a_status_word(
        apdus in prop::collection::vec(arb_apdu(), 1..30)
    ) {
        let mut c = card_with_ef(300);
        for a in &apdus {
            let out = c.process(a);
            prop_assert!(out.len() >= 2);
            prop_assert!(out.len() <= 4096 + 2);
        }
        // Whatever state it reached, its image round-trips through JSON.
        let img = c.image();
        let json = serde_json::to_string(&img).unwrap();
        let back: CardImage = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, img);
    }
}

#[test]
fn inconsistent_images_are_refused() {
    let c = card_with_ef(10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    // A parent cycle: the DF claims the EF as its parent.
    let mut img = c.image();
    img.fs.nodes[1].parent = Some(2);
    img.save(&path).unwrap();
    assert!(matches!(
        CardImage::load(&path),
        Err(ecard_sim::ImageError::Inconsistent { .. })
    ));
    // A dangling child.
    let mut img = c.image();
    if let ecard_sim::fs::NodeKind::Df { children, .. } = &mut img.fs.nodes[0].kind {
        children.push(99);
    }
    img.save(&path).unwrap();
    assert!(matches!(
        CardImage::load(&path),
        Err(ecard_sim::ImageError::Inconsistent { .. })
    ));
    c.image().save(&path).unwrap();
    assert!(CardImage::load(&path).is_ok());
}
