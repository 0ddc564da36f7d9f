//! PACE end to end against the simulated card OS (in memory): a locked ecard-sim card gives its
//! data only over PACE secure messaging, opened with the CAN written during personalization or
//! with the MRZ key; wrong passwords are refused with their own error; every secure messaging
//! fault is detected and named; a card of the generic profile opens plain as "no access
//! control".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod perso_common;

use ecard_chip::access::{self, Access, AccessError};
use ecard_chip::apdu::StatusWord;
use ecard_chip::lds::{EfId, LdsFiles};
use ecard_chip::pace::{Curve, KeyLength, PaceError, PaceInfo, Password};
use ecard_chip::perso::{self, Personalizer};
use ecard_chip::profile::Profile;
use ecard_chip::read::{self, ReadError, ReadStep, WriteProbe};
use ecard_chip::transport::{Transport, TransportError};
use ecard_sim::{Fault, SimTransport, SmFault};
use perso_common::{CAN, blank_transport, synthetic_files};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn issue(t: &mut SimTransport, profile: &Profile) -> LdsFiles {
    let mut channel = ecard_chip::secure_perso::open(
        t,
        profile,
        &ecard_chip::scp03::KmcKeys::test_key(),
        &mut rng(),
    )
    .unwrap();
    let t = channel.transport();
    let p = Personalizer::new(profile, t.limits()).with_can(CAN);
    let mut written = None;
    perso::run(t, p, |key| {
        let f = with_dg1(synthetic_files(12_000, key.as_ref()));
        written = Some(f.clone());
        Ok::<_, String>(f)
    })
    .unwrap();
    written.unwrap()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(99)
}

fn can() -> Password {
    Password::can(CAN).unwrap()
}

/// A DG1 holding a TD1 MRZ with document number 771234567, born 1990-01-01, expiring
/// 2031-01-01 (the card OS takes the MRZ key from it; check digits are the reader's business).
fn with_dg1(mut files: LdsFiles) -> LdsFiles {
    let mrz = format!(
        "{:<30}{:<30}{:<30}",
        "IRRUS7712345675", "9001015M3101012RUS", "KARIMOV<<ALISHER"
    )
    .replace(' ', "<");
    let mut dg1 = vec![0x61, 0x5D, 0x5F, 0x1F, 0x5A];
    dg1.extend_from_slice(mrz.as_bytes());
    files.insert(EfId::Dg1, dg1);
    files
}

#[test]
fn a_locked_card_refuses_plain_reads_and_opens_with_its_can() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank_transport(&profile, 1);
    let files = issue(&mut t, &profile);

    // Skimming: SELECT of the application stays open, everything inside answers 69 82.
    assert_eq!(
        read::read_card(&mut t).unwrap_err(),
        ReadError::Status {
            step: ReadStep::SelectFile,
            file: Some(EfId::Com),
            sw: StatusWord::SecurityStatusNotSatisfied
        }
    );
    assert!(matches!(
        read::active_authentication(&mut t, [1; 8]),
        Err(ReadError::Status {
            sw: StatusWord::SecurityStatusNotSatisfied,
            ..
        })
    ));

    let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
    assert_eq!(session.access(), Access::Pace(PaceInfo::DEFAULT));
    let (read, _) = read::read_card(session.transport()).unwrap();
    assert_eq!(read, files);
    let sig = read::active_authentication(session.transport(), [7; 8]).unwrap();
    assert_eq!(sig.to_bytes().len(), 64);
    assert_eq!(
        read::try_write_same_byte(session.transport(), EfId::Dg1).unwrap(),
        WriteProbe::Refused(StatusWord::SecurityStatusNotSatisfied)
    );
    drop(session);
    assert!(t.card().in_secure_session());
}

#[test]
fn the_mrz_key_opens_the_card_too() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank_transport(&profile, 2);
    let files = issue(&mut t, &profile);
    let key = Password::mrz_key("771234567,900101,310101").unwrap();
    let mut session = access::open(&mut t, Some(&key), &mut rng()).unwrap();
    let (read, _) = read::read_card(session.transport()).unwrap();
    assert_eq!(read, files);
}

#[test]
fn a_wrong_can_is_access_denied_and_no_password_says_what_to_give() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank_transport(&profile, 3);
    issue(&mut t, &profile);
    let wrong_mrz = Password::mrz_key("771234567,900101,310102").unwrap();
    let err = access::open(&mut t, Some(&wrong_mrz), &mut rng()).unwrap_err();
    assert!(
        err.to_string().starts_with("access denied: wrong MRZ key"),
        "{err}"
    );
    let before = t.apdu_count();
    let err =
        access::open(&mut t, Some(&Password::can("000000").unwrap()), &mut rng()).unwrap_err();
    assert!(err.is_access_denied(), "{err}");
    assert!(
        matches!(
            &err,
            AccessError::Pace {
                source: PaceError::WrongPassword { kind: "CAN", .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("access denied: wrong CAN"),
        "{err}"
    );
    // No retry storm: SELECT MF, READ EF.CardAccess, MSE:Set AT and four GENERAL AUTHENTICATE.
    assert_eq!(t.apdu_count() - before, 7);
    // The right CAN still works afterwards.
    assert!(access::open(&mut t, Some(&can()), &mut rng()).is_ok());

    let err = access::open(&mut t, None, &mut rng()).unwrap_err();
    assert!(matches!(err, AccessError::PasswordNeeded { .. }));
    assert!(err.to_string().contains("--can NNNNNN"), "{err}");
}

#[test]
fn every_secure_messaging_fault_is_detected_and_named() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    for (fault, names) in [
        (SmFault::WrongMac, "8E does not verify"),
        (SmFault::MissingMac, "8E is missing"),
        (SmFault::TruncatedCryptogram, "87"),
        (SmFault::DropSession, "6988"),
    ] {
        let mut t = blank_transport(&profile, 4);
        issue(&mut t, &profile);
        // The 3rd protected command of the read: SELECT EF.COM's READ BINARY.
        let mut t =
            SimTransport::new(t.into_card()).with_fault(Fault::SecureMessaging { nth: 3, fault });
        let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
        let err = read::read_card(session.transport()).unwrap_err();
        match &err {
            ReadError::Transport {
                source: TransportError::SecureMessaging { detail, .. },
                ..
            } => assert!(detail.contains(names), "{fault:?}: {detail}"),
            other => panic!("{fault:?}: expected a secure messaging error, got {other:?}"),
        }
        // The session is over on both sides: nothing more is read through it.
        assert!(read::read_card(session.transport()).is_err());
        drop(session);
        // A fresh PACE opens the card again.
        let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
        assert!(read::read_card(session.transport()).is_ok(), "{fault:?}");
    }
}

#[test]
fn every_offered_protocol_works_and_the_card_access_lists_them() {
    for (ids, bits, want) in [
        (
            vec![13],
            vec![128],
            (Curve::BrainpoolP256r1, KeyLength::Aes128),
        ),
        (vec![12], vec![256], (Curve::P256, KeyLength::Aes256)),
        (vec![15], vec![192], (Curve::P384, KeyLength::Aes192)),
        (
            vec![16],
            vec![256],
            (Curve::BrainpoolP384r1, KeyLength::Aes256),
        ),
    ] {
        let mut profile = Profile::builtin("ecard-sim").unwrap();
        profile.pace.parameter_ids = ids;
        profile.pace.key_bits = bits;
        let mut t = blank_transport(&profile, 5);
        let files = issue(&mut t, &profile);
        let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
        assert_eq!(
            session.access(),
            Access::Pace(PaceInfo {
                curve: want.0,
                key_length: want.1
            })
        );
        assert_eq!(read::read_card(session.transport()).unwrap().0, files);
    }
    // The shipped profile lists all four pairs, the default first.
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank_transport(&profile, 6);
    let listed =
        ecard_chip::pace::parse_card_access(&access::read_card_access(&mut t).unwrap().unwrap())
            .unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0], PaceInfo::DEFAULT);
}

#[test]
fn a_card_without_pace_opens_plain_as_no_access_control() {
    let profile = Profile::generic();
    let mut t = blank_transport(&profile, 7);
    let files = issue(&mut t, &profile);
    let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
    assert_eq!(session.access(), Access::None);
    assert_eq!(session.access().to_string(), "no access control");
    assert_eq!(read::read_card(session.transport()).unwrap().0, files);
}

#[test]
fn the_can_is_never_readable_and_cannot_be_changed_after_the_lock() {
    let profile = Profile::builtin("ecard-sim").unwrap();
    let mut t = blank_transport(&profile, 8);
    issue(&mut t, &profile);
    // The image keeps it as a key object; its debug output does not show it.
    let debug = format!("{:?}", t.card().image());
    assert!(!debug.contains(CAN), "{debug}");
    // CHANGE REFERENCE DATA after the lock, plain and under PACE: refused.
    let change = ecard_chip::apdu::Command::new(0x00, 0x24, 0x01, 0x02).with_data(*b"999999");
    let plain = t.transmit(&change.encode().unwrap()).unwrap();
    assert_ne!(&plain[plain.len() - 2..], [0x90, 0x00]);
    let mut session = access::open(&mut t, Some(&can()), &mut rng()).unwrap();
    let r = session
        .transport()
        .transmit(&change.encode().unwrap())
        .unwrap();
    assert_ne!(&r[r.len() - 2..], [0x90, 0x00]);
    drop(session);
    assert!(access::open(&mut t, Some(&can()), &mut rng()).is_ok());
}

#[test]
fn personalizing_a_pace_card_without_a_can_leaves_it_blank() {
    let profile = perso_common::sim_profile();
    let mut t = blank_transport(&profile, 9);
    let p = Personalizer::new(&profile, t.limits());
    let err = perso::run(&mut t, p, |key| {
        Ok::<_, String>(synthetic_files(100, key.as_ref()))
    })
    .unwrap_err();
    assert_eq!(err.card, perso::CardState::Blank);
    assert!(err.to_string().contains("CAN"), "{err}");
    // SELECT MF and the blank check only: nothing was written.
    assert_eq!(t.apdu_count(), 2);
}
