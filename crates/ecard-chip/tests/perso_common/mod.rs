//! Synthetic LDS files for personalization and reading tests: right outer tags, real-life sizes,
//! deterministic pseudo-random content (no holder data).
#![allow(dead_code)]

use ecard_chip::lds::{EfId, LdsFiles};
use ecard_chip::profile::Profile;
use ecard_chip::tlv::{constructed, encode, primitive};

use ecard_sim::{Card, SimSpec, SimTransport};
use p256::pkcs8::EncodePublicKey;
use rand_chacha::rand_core::SeedableRng;

/// Deterministic filler bytes.
pub fn filler(seed: u8, len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

/// A card's files: DG2 of `dg2_image` bytes of "JPEG", DG15 from `aa_key` when given.
pub fn synthetic_files(dg2_image: usize, aa_key: Option<&p256::PublicKey>) -> LdsFiles {
    let mut dgs: Vec<u8> = vec![0x61, 0x75, 0x67, 0x6B, 0x6C];
    if aa_key.is_some() {
        dgs.extend([0x6E, 0x6F]);
    }
    let mut files = LdsFiles::new();
    // EF.COM by hand: its tag 5F01 is refused by the strict TLV builder (see read.rs).
    let mut com_value = vec![0x5F, 0x01, 0x04];
    com_value.extend_from_slice(b"0107");
    com_value.extend_from_slice(&[0x5F, 0x36, 0x06]);
    com_value.extend_from_slice(b"040000");
    com_value.extend_from_slice(&[0x5C, dgs.len() as u8]);
    com_value.extend_from_slice(&dgs);
    let mut com = vec![0x60, com_value.len() as u8];
    com.extend(com_value);
    files.insert(EfId::Com, com);
    files.insert(
        EfId::Dg1,
        encode(&constructed(0x61, vec![primitive(0x5F1F, vec![b'<'; 90])])),
    );
    files.insert(
        EfId::Dg2,
        encode(&constructed(
            0x75,
            vec![constructed(
                0x7F61,
                vec![
                    primitive(0x02, vec![1]),
                    constructed(
                        0x7F60,
                        vec![
                            constructed(
                                0xA1,
                                vec![primitive(0x87, vec![1, 1]), primitive(0x88, vec![0, 8])],
                            ),
                            primitive(0x5F2E, filler(2, dg2_image)),
                        ],
                    ),
                ],
            )],
        )),
    );
    files.insert(
        EfId::Dg7,
        encode(&constructed(
            0x67,
            vec![primitive(0x02, vec![1]), primitive(0x5F43, filler(7, 2500))],
        )),
    );
    files.insert(
        EfId::Dg11,
        encode(&constructed(
            0x6B,
            vec![
                primitive(0x5C, vec![0x5F, 0x0E, 0x5F, 0x2B]),
                primitive(0x5F0E, b"SYNTHETIC<<TEST".to_vec()),
                primitive(0x5F2B, b"19900101".to_vec()),
            ],
        )),
    );
    files.insert(
        EfId::Dg12,
        encode(&constructed(
            0x6C,
            vec![
                primitive(0x5C, vec![0x5F, 0x19, 0x5F, 0x26]),
                primitive(0x5F19, b"TEST AUTHORITY".to_vec()),
                primitive(0x5F26, b"20261125".to_vec()),
            ],
        )),
    );
    if let Some(key) = aa_key {
        files.insert(
            EfId::Dg14,
            encode(&constructed(
                0x6E,
                vec![constructed(0x31, vec![primitive(0x02, vec![1])])],
            )),
        );
        let spki = key.to_public_key_der().unwrap();
        // 6F is a constructed tag; its value is the SPKI's DER.
        let mut dg15 = vec![0x6F];
        ecard_chip::tlv::encode_length(spki.as_bytes().len(), &mut dg15);
        dg15.extend_from_slice(spki.as_bytes());
        files.insert(EfId::Dg15, dg15);
    }
    files.insert(
        EfId::Sod,
        encode(&constructed(
            0x77,
            vec![constructed(0x30, vec![primitive(0x04, filler(29, 1800))])],
        )),
    );
    files
}

/// A blank simulated card of `profile` in a reader, key RNG seeded.
pub fn blank_transport(profile: &Profile, seed: u64) -> SimTransport {
    SimTransport::new(Card::new_blank_seeded(
        &SimSpec::from_profile(profile),
        seed,
    ))
}

/// Total bytes of a set of files.
pub fn total_len(files: &LdsFiles) -> usize {
    files.values().map(Vec::len).sum()
}

/// The CAN the tests' PACE cards get.
pub const CAN: &str = "123456";

/// The ecard-sim card OS without PACE: for tests of reading mechanics (APDU counts, chunk sizes)
/// that are about the plain protocol; PACE has its own tests (`pace_sim.rs`).
pub fn plain_sim_profile() -> Profile {
    let mut p = sim_profile();
    p.pace.offered = false;
    p
}

/// The ecard-sim card OS without SCP03 transport keys: for tests of personalization's own
/// mechanics (plans, APDU counts, faults); the secure channel has its own tests (`scp_sim.rs`).
pub fn sim_profile() -> Profile {
    let mut p = Profile::builtin("ecard-sim").expect("the built-in profile parses");
    p.transport.scp03 = false;
    p
}

/// Opens personalization's SCP03 channel with the GlobalPlatform test key, as a lane does.
pub fn scp(
    t: &mut dyn ecard_chip::transport::Transport,
) -> ecard_chip::secure_perso::PersoChannel<'_> {
    let profile = Profile::builtin("ecard-sim").expect("the built-in profile parses");
    ecard_chip::secure_perso::open(
        t,
        &profile,
        &ecard_chip::scp03::KmcKeys::test_key(),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(2),
    )
    .expect("the blank's channel opens with the test key")
}

/// Opens a card for reading as every reader path does: PACE with [`CAN`] where offered.
pub fn chip(t: &mut dyn ecard_chip::transport::Transport) -> ecard_chip::access::Session<'_> {
    let pw = ecard_chip::pace::Password::can(CAN).expect("a 6-digit CAN");
    ecard_chip::access::open(
        t,
        Some(&pw),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(1),
    )
    .expect("the card opens with its CAN")
}
