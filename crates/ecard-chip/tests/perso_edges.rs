//! Personalization edge cases: a card OS whose application DF exists from the factory, cards
//! that are not blank in each way, and the state machine fed arbitrary answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod perso_common;

use ecard_chip::apdu::Command;
use ecard_chip::lds::{AID, EfId};
use ecard_chip::perso::{self, Action, CardState, NotBlank, PersoErrorKind, Personalizer, Step};
use ecard_chip::profile::Profile;
use ecard_chip::read;
use ecard_chip::transport::{ApduLimits, Transport};
use ecard_sim::{Card, SimSpec, SimTransport};
use perso_common::synthetic_files;
use proptest::prelude::*;

/// A card OS whose application DF comes from the factory: the profile does not create it.
fn factory_df_profile() -> Profile {
    Profile::from_toml(
        "name = \"factory-df\"\n[[atr]]\npattern = \"3B 00\"\n[filesystem]\ncreate_app_df = false\n",
        "factory-df.toml",
    )
    .unwrap()
}

fn factory_card(profile: &Profile) -> SimTransport {
    let mut spec = SimSpec::from_profile(&Profile::generic());
    spec.atr = profile.atr[0].pattern.clone();
    let mut card = Card::new_blank_seeded(&spec, 3);
    let mut fcp = vec![
        0x62, 0x10, 0x82, 0x01, 0x38, 0x83, 0x02, 0x02, 0x00, 0x84, 0x07,
    ];
    fcp.extend(AID);
    fcp.extend([0x8A, 0x01, 0x03]);
    fcp[1] = (fcp.len() - 2) as u8;
    let out = card.process(&Command::create_file(fcp).encode().unwrap());
    assert_eq!(out, vec![0x90, 0x00]);
    card.power_on();
    SimTransport::new(card)
}

fn run(t: &mut SimTransport, profile: &Profile) -> Result<perso::PersoReport, perso::PersoError> {
    let p = Personalizer::new(profile, t.limits()).with_can(perso_common::CAN);
    perso::run(t, p, |key| {
        Ok::<_, String>(synthetic_files(3000, key.as_ref()))
    })
}

#[test]
fn factory_df_is_used_and_a_second_run_is_refused() {
    let profile = factory_df_profile();
    let mut t = factory_card(&profile);
    let report = run(&mut t, &profile).unwrap();
    assert_eq!(report.card, CardState::Issued);
    let (files, _) = read::read_card(perso_common::chip(&mut t).transport()).unwrap();
    assert_eq!(files, synthetic_files(3000, None));
    let err = run(&mut t, &profile).unwrap_err();
    assert_eq!(err.kind, PersoErrorKind::NotBlank(NotBlank::HasFiles));
    assert_eq!(
        (err.step, err.file, err.card),
        (Step::CheckBlank, Some(EfId::Com), CardState::Blank)
    );
}

#[test]
fn factory_df_already_locked_is_refused() {
    let profile = factory_df_profile();
    let mut t = factory_card(&profile);
    let mut spec_locking = t.card().spec().clone();
    spec_locking.lock_supported = true;
    let mut card = ecard_sim::CardImage {
        version: 1,
        spec: spec_locking,
        fs: t.card().image().fs,
    }
    .into_card();
    for c in [
        Command::select_aid(&AID, false),
        Command::activate_current(),
    ] {
        assert_eq!(card.process(&c.encode().unwrap()), vec![0x90, 0x00]);
    }
    t = SimTransport::new(card);
    let err = run(&mut t, &profile).unwrap_err();
    assert_eq!(err.kind, PersoErrorKind::NotBlank(NotBlank::Locked));
    assert_eq!(err.card, CardState::Blank);
    assert_eq!(
        err.to_string(),
        "card is not blank: the e-card application is already locked while checking that the card is blank; the card is unchanged (nothing was written to it)"
    );
}

#[test]
fn missing_files_and_wrong_tags_are_the_callers_fault() {
    let profile = Profile::generic();
    let mut p = Personalizer::new(&profile, ApduLimits::SHORT).with_can(perso_common::CAN);
    let mut files = synthetic_files(100, None);
    files.remove(&EfId::Sod);
    let err = p.provide_files(files).unwrap_err();
    assert_eq!(
        err.kind,
        PersoErrorKind::InvalidFiles {
            reason: "EF.SOD is missing".into()
        }
    );
    assert_eq!(err.card, CardState::Blank);

    let mut p = Personalizer::new(&profile, ApduLimits::SHORT).with_can(perso_common::CAN);
    let mut files = synthetic_files(100, None);
    files.insert(EfId::Dg7, vec![0x61, 0x00]);
    let err = p.provide_files(files).unwrap_err();
    assert_eq!(
        err.kind,
        PersoErrorKind::InvalidFiles {
            reason: "DG7 has tag 61, expected 67".into()
        }
    );

    let mut p = Personalizer::new(&profile, ApduLimits::SHORT).with_can(perso_common::CAN);
    let mut files = synthetic_files(100, None);
    files.insert(EfId::Dg1, vec![0x61, 0x02, 0x00]);
    let err = p.provide_files(files).unwrap_err();
    assert_eq!(
        err.kind,
        PersoErrorKind::InvalidFiles {
            reason: "DG1 is 3 bytes but its TLV says 4".into()
        }
    );

    let mut p = Personalizer::new(&profile, ApduLimits::SHORT).with_can(perso_common::CAN);
    let files = synthetic_files(40_000, None);
    let err = p.provide_files(files).unwrap_err();
    assert!(
        matches!(&err.kind, PersoErrorKind::InvalidFiles { reason } if reason.contains("over the profile's 32767-byte file limit")),
        "{err}"
    );
}

#[test]
fn provide_failure_stops_with_the_callers_message() {
    let profile = perso_common::sim_profile();
    let mut t = perso_common::blank_transport(&profile, 21);
    let p = Personalizer::new(&profile, t.limits()).with_can(perso_common::CAN);
    let err = perso::run(&mut t, p, |_| {
        Err::<ecard_chip::lds::LdsFiles, _>("signer offline")
    })
    .unwrap_err();
    assert_eq!(
        err.kind,
        PersoErrorKind::Provide {
            reason: "signer offline".into()
        }
    );
    assert_eq!((err.step, err.card), (Step::AwaitFiles, CardState::Spoiled));
}

#[test]
fn files_before_key_generation_are_refused_for_aa_profiles() {
    let profile = perso_common::sim_profile();
    let mut p = Personalizer::new(&profile, ApduLimits::SHORT).with_can(perso_common::CAN);
    let err = p.provide_files(synthetic_files(10, None)).unwrap_err();
    assert!(matches!(err.kind, PersoErrorKind::ApiMisuse(_)));
    assert_eq!(p.poll(), Action::Failed);
}

#[test]
fn counters_add_up_to_what_crossed_the_link() {
    let profile = Profile::generic();
    let mut t = perso_common::blank_transport(&profile, 22);
    let mut p = Personalizer::new(&profile, t.limits()).with_can(perso_common::CAN);
    p.provide_files(synthetic_files(2000, None)).unwrap();
    let (mut sent, mut received, mut n) = (0u64, 0u64, 0u64);
    while let Some(c) = p.next_command() {
        let r = t.transmit(&c).unwrap();
        sent += c.len() as u64;
        received += r.len() as u64;
        n += 1;
        p.handle_response(&r).unwrap();
    }
    let s = p.stats();
    assert_eq!(
        (s.apdus, s.bytes_sent, s.bytes_received),
        (n, sent, received)
    );
    assert_eq!(p.card_state(), CardState::Issued);
}

proptest! {
    #[test]
    fn arbitrary_answers_never_panic_and_errors_stick(
        answers in prop::collection::vec(
            prop_oneof![
                Just(vec![0x90, 0x00]),
                Just(vec![0x6A, 0x82]),
                prop::collection::vec(any::<u8>(), 0..80),
            ],
            1..40,
        )
    ) {
        let profile = perso_common::sim_profile();
        let mut p = Personalizer::new(&profile, profile.limits()).with_can(perso_common::CAN);
        for a in &answers {
            match p.poll() {
                Action::Transmit(_) => {
                    if p.handle_response(a).is_err() {
                        prop_assert_eq!(p.poll(), Action::Failed);
                        prop_assert!(p.error().is_some());
                        break;
                    }
                }
                Action::NeedFiles { .. } | Action::Finished | Action::Failed => break,
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}

struct ProprietaryCla;
impl ecard_chip::profile::CardHook for ProprietaryCla {
    fn adjust_command(&self, mut cmd: Command) -> Command {
        cmd.cla = 0x80;
        cmd
    }
}

struct ExtraFcp;
impl ecard_chip::profile::CardHook for ExtraFcp {
    fn extra_fcp(&self, _ef: Option<EfId>) -> Vec<u8> {
        // Proprietary information (tag 85), which the simulator does not accept.
        vec![0x85, 0x01, 0x00]
    }
}

struct QuietLock;
impl ecard_chip::profile::CardHook for QuietLock {
    fn map_status(
        &self,
        ins: u8,
        sw: ecard_chip::apdu::StatusWord,
    ) -> ecard_chip::apdu::StatusWord {
        // A card OS that reports "locked" as 6985 where the standard says 6982.
        if ins == 0xD6 && sw == ecard_chip::apdu::StatusWord::SecurityStatusNotSatisfied {
            ecard_chip::apdu::StatusWord::ConditionsNotSatisfied
        } else {
            sw
        }
    }
}

#[test]
fn card_hooks_shape_commands_and_answers() {
    let profile = perso_common::sim_profile();

    let mut t = perso_common::blank_transport(&profile, 31);
    let p = Personalizer::new(&profile, t.limits())
        .with_hook(Box::new(ProprietaryCla))
        .with_can(perso_common::CAN);
    let err = perso::run(&mut t, p, |_| Ok::<_, String>(synthetic_files(10, None))).unwrap_err();
    assert_eq!(
        (err.step, err.card, err.sw()),
        (
            Step::SelectMf,
            CardState::Blank,
            Some(ecard_chip::apdu::StatusWord::ClaNotSupported)
        )
    );

    let mut t = perso_common::blank_transport(&profile, 32);
    let p = Personalizer::new(&profile, t.limits())
        .with_hook(Box::new(ExtraFcp))
        .with_can(perso_common::CAN);
    let err = perso::run(&mut t, p, |_| Ok::<_, String>(synthetic_files(10, None))).unwrap_err();
    assert_eq!(
        (err.step, err.card, err.sw()),
        (
            Step::CreateDf,
            CardState::Blank,
            Some(ecard_chip::apdu::StatusWord::IncorrectData)
        )
    );

    // The write probe is what the hook reshapes: a card OS without PACE (a PACE card refuses
    // even the SELECT before it once locked).
    let profile = perso_common::plain_sim_profile();
    let mut t = perso_common::blank_transport(&profile, 33);
    let p = Personalizer::new(&profile, t.limits())
        .with_hook(Box::new(QuietLock))
        .with_can(perso_common::CAN);
    let report = perso::run(&mut t, p, |key| {
        Ok::<_, String>(synthetic_files(10, key.as_ref()))
    })
    .unwrap();
    assert_eq!(
        report.lock,
        perso::LockOutcome::Locked {
            write_refused_with: ecard_chip::apdu::StatusWord::ConditionsNotSatisfied
        }
    );
}
