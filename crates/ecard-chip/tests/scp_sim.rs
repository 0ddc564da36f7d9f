//! Secure personalization against the simulated card OS (ECARD.md section 11): a blank of the
//! ecard-sim profile takes perso commands only inside an SCP03 channel under its own keys
//! (diversified from the KMC over its serial); a wrong KMC leaves it untouched; three wrong host
//! cryptograms block it; a wrong R-MAC spoils the run; the CAN must come encrypted; after the lock
//! the channel is closed for good.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod perso_common;

use ecard_chip::apdu::{Command, Response, StatusWord};
use ecard_chip::perso::{self, CardState, PersoErrorKind, Personalizer, Step};
use ecard_chip::profile::Profile;
use ecard_chip::scp03::{InitializeUpdate, KmcKeys, Session, TEST_KMC, TransportKeys};
use ecard_chip::secure_perso::{self, ChannelError, PersoChannel};
use ecard_chip::transport::{Transport, TransportError};
use ecard_sim::{Card, Fault, SimSpec, SimTransport};
use perso_common::{CAN, synthetic_files};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const KMC: [u8; 16] = [
    0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2, 0xA6, 0xAB, 0xF7, 0x15, 0x88, 0x09, 0xCF, 0x4F, 0x3C,
];
const SERIAL: [u8; 10] = [0x45, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34];

fn blank() -> SimTransport {
    let profile = Profile::builtin("ecard-sim").unwrap();
    SimTransport::new(Card::new_blank_keyed(
        &SimSpec::from_profile(&profile),
        &KMC,
        &SERIAL,
    ))
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(5)
}

fn personalize(channel: &mut PersoChannel<'_>, profile: &Profile) -> Result<(), perso::PersoError> {
    let t = channel.transport();
    let p = Personalizer::new(profile, t.limits()).with_can(CAN);
    perso::run(t, p, |key| {
        Ok::<_, String>(synthetic_files(9_000, key.as_ref()))
    })
    .map(|_| ())
}

#[test]
fn a_blank_personalizes_only_inside_its_own_channel() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    // Without the channel: CREATE FILE of the application is refused, the blank untouched.
    let mut t = blank();
    let p = Personalizer::new(&profile, t.limits()).with_can(CAN);
    let err = perso::run(&mut t, p, |key| {
        Ok::<_, String>(synthetic_files(100, key.as_ref()))
    })
    .unwrap_err();
    assert_eq!(err.step, Step::CreateDf);
    assert_eq!(err.sw(), Some(StatusWord::SecurityStatusNotSatisfied));
    assert_eq!(err.card, CardState::Blank);

    // With the card's keys (diversified from the KMC over its serial): issued and locked.
    let keys = KmcKeys::new(&KMC).unwrap();
    let mut channel = secure_perso::open(&mut t, &profile, &keys, &mut rng()).unwrap();
    assert_eq!(channel.serial(), Some("45430000000000001234"));
    personalize(&mut channel, &profile).unwrap();
    drop(channel);
    // After the lock the channel is closed for good.
    assert!(matches!(
        secure_perso::open(&mut t, &profile, &keys, &mut rng()),
        Err(ChannelError::NotBlank { .. })
    ));
    // The card reads back through PACE with its CAN.
    let (files, _) = ecard_chip::read::read_card(perso_common::chip(&mut t).transport()).unwrap();
    assert_eq!(files.len(), 9);
}

#[test]
fn a_wrong_kmc_is_a_key_mismatch_and_leaves_the_blank_untouched() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank();
    let before = t.card().image();
    let err = secure_perso::open(&mut t, &profile, &KmcKeys::test_key(), &mut rng()).unwrap_err();
    assert!(err.is_key_mismatch(), "{err}");
    assert!(
        err.to_string()
            .starts_with("transport key mismatch (card cryptogram did not verify)"),
        "{err}"
    );
    assert_eq!(
        t.card().image(),
        before,
        "no failed authentication was counted"
    );
    // The right KMC still opens it.
    assert!(secure_perso::open(&mut t, &profile, &KmcKeys::new(&KMC).unwrap(), &mut rng()).is_ok());
}

fn send(t: &mut SimTransport, c: &Command) -> Response {
    Response::parse(&t.transmit(&c.encode().unwrap()).unwrap()).unwrap()
}

#[test]
fn three_wrong_host_cryptograms_block_the_keys() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank();
    let wrong = KmcKeys::test_key().card_keys(&SERIAL, 0x30).unwrap();
    for attempt in 1..=3 {
        let hc = [attempt as u8; 8];
        let r = send(&mut t, &InitializeUpdate::command(0x30, &hc));
        assert_eq!(r.sw, StatusWord::Ok);
        let hello = InitializeUpdate::parse(&r.data).unwrap();
        // A host that ignores the card cryptogram and authenticates with the wrong keys.
        let mut s = Session::new(&wrong, &hc, &hello.card_challenge).unwrap();
        let r = send(&mut t, &s.external_authenticate(0x33).unwrap());
        let want = if attempt < 3 {
            StatusWord::Other(0x6300)
        } else {
            StatusWord::AuthenticationBlocked
        };
        assert_eq!(r.sw, want, "attempt {attempt}");
    }
    let r = send(&mut t, &InitializeUpdate::command(0x30, &[9; 8]));
    assert_eq!(r.sw, StatusWord::AuthenticationBlocked);
    let err =
        secure_perso::open(&mut t, &profile, &KmcKeys::new(&KMC).unwrap(), &mut rng()).unwrap_err();
    assert!(matches!(err, ChannelError::Blocked { .. }), "{err}");
}

#[test]
fn a_wrong_r_mac_spoils_the_run_with_a_clear_reason() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let card = blank().into_card();
    let mut t = SimTransport::new(card).with_fault(Fault::ScpWrongRMac { nth: 8 });
    let mut channel =
        secure_perso::open(&mut t, &profile, &KmcKeys::new(&KMC).unwrap(), &mut rng()).unwrap();
    let err = personalize(&mut channel, &profile).unwrap_err();
    assert_eq!(err.card, CardState::Spoiled, "{err}");
    match &err.kind {
        PersoErrorKind::Transport(TransportError::SecureMessaging { detail, .. }) => {
            assert!(detail.contains("R-MAC"), "{detail}")
        }
        other => panic!("expected an R-MAC error, got {other:?}"),
    }
}

#[test]
fn the_can_is_refused_unless_encrypted() {
    let mut profile = Profile::builtin("ecard-sim").unwrap();
    profile.transport.security_level = 0x11; // C-MAC and R-MAC, no encryption
    let mut t = blank();
    let mut channel =
        secure_perso::open(&mut t, &profile, &KmcKeys::new(&KMC).unwrap(), &mut rng()).unwrap();
    let err = personalize(&mut channel, &profile).unwrap_err();
    assert_eq!(err.step, Step::SetCan, "{err}");
    assert_eq!(err.sw(), Some(StatusWord::SecurityStatusNotSatisfied));
}

#[test]
fn the_test_kmc_is_the_globalplatform_test_key() {
    assert_eq!(TEST_KMC[0], 0x40);
    assert_eq!(TEST_KMC[15], 0x4F);
    assert!(KmcKeys::test_key().is_test_key());
    assert!(!KmcKeys::new(&KMC).unwrap().is_test_key());
}
