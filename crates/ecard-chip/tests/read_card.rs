//! Reading cards back: header first, the files EF.COM lists, Active Authentication answers, and
//! a card that travels as an image file from the station to a checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod perso_common;

use ecard_chip::apdu::{Response, StatusWord};
use ecard_chip::lds::{EfId, LdsFiles};
use ecard_chip::perso::{self, Personalizer};
use ecard_chip::profile::Profile;
use ecard_chip::read::{
    self, CardReader, ReadAction, ReadError, ReadOptions, ReadStep, WriteProbe,
};
use ecard_chip::transport::Transport;
use ecard_sim::{CardImage, SimTransport};
use perso_common::{blank_transport, synthetic_files};

fn issue(t: &mut SimTransport, profile: &Profile, dg2: usize) -> LdsFiles {
    let p = Personalizer::new(profile, t.limits()).with_can(perso_common::CAN);
    let mut written = None;
    perso::run(t, p, |key| {
        let f = synthetic_files(dg2, key.as_ref());
        written = Some(f.clone());
        Ok::<_, String>(f)
    })
    .unwrap();
    written.unwrap()
}

#[test]
fn read_counts_header_first_then_exact_chunks() {
    let profile = perso_common::plain_sim_profile();
    let mut t = blank_transport(&profile, 11);
    let files = issue(&mut t, &profile, 18_000);
    let (read, stats) = read::read_card(&mut t).unwrap();
    assert_eq!(read, files);
    // SELECT AID, then per file SELECT + 8-byte header read + ceil((len - 8) / 4096) body reads
    // (none when the header read got the whole file).
    let expected: usize = 1 + files
        .values()
        .map(|f| 2 + f.len().saturating_sub(8).div_ceil(4096))
        .sum::<usize>();
    assert_eq!(stats.apdus as usize, expected);
}

#[test]
fn a_card_travels_as_an_image_file() {
    let profile = perso_common::sim_profile();
    let mut t = blank_transport(&profile, 12);
    let files = issue(&mut t, &profile, 15_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card-771234567.json");
    t.into_card().image().save(&path).unwrap();

    // At the checkpoint: the same card, read through a short-APDU reader.
    let card = CardImage::load(&path).unwrap().into_card();
    let mut t = SimTransport::new(card).with_limits(ecard_chip::transport::ApduLimits::SHORT);
    let (read, _) = read::read_card(perso_common::chip(&mut t).transport()).unwrap();
    assert_eq!(read, files);
    let sig = read::active_authentication(perso_common::chip(&mut t).transport(), [9; 8]).unwrap();
    assert_eq!(sig.to_bytes().len(), 64);
    assert_eq!(
        read::try_write_same_byte(perso_common::chip(&mut t).transport(), EfId::Sod).unwrap(),
        WriteProbe::Refused(StatusWord::SecurityStatusNotSatisfied)
    );
}

#[test]
fn a_reader_that_passes_more_than_the_card_buffers_still_reads_everything() {
    // vpcd passes 65533-byte answers; the ecard-sim card OS answers at most 4096 bytes with 9000.
    let profile = perso_common::plain_sim_profile();
    let mut t = blank_transport(&profile, 14);
    let files = issue(&mut t, &profile, 40_000);
    let wide = ecard_chip::transport::ApduLimits {
        extended: true,
        max_command_data: 65526,
        max_response_data: 65533,
    };
    let mut t = SimTransport::new(t.into_card()).with_limits(wide);
    let (read, stats) = read::read_card(&mut t).unwrap();
    assert_eq!(read, files);
    // One short answer per large file teaches the reader the card's size; the rest of the file is
    // read in 4096-byte answers: no more APDUs than a reader that knew the size from the start
    // plus one re-planned tail read per file.
    let known: usize = 1 + files
        .values()
        .map(|f| 2 + f.len().saturating_sub(8).div_ceil(4096))
        .sum::<usize>();
    assert!(
        stats.apdus as usize <= known + files.len(),
        "{} APDUs, {known} expected at most",
        stats.apdus
    );
}

#[test]
fn blank_card_has_no_application() {
    let profile = perso_common::sim_profile();
    let mut t = blank_transport(&profile, 13);
    assert_eq!(
        read::read_card(&mut t).unwrap_err(),
        ReadError::Status {
            step: ReadStep::SelectApplication,
            file: None,
            sw: StatusWord::FileNotFound
        }
    );
    assert_eq!(
        read::read_card(&mut t).unwrap_err().to_string(),
        "card answered 6A82 (file or application not found) while selecting the e-card application"
    );
}

/// Drives a CardReader against scripted answers.
fn scripted(answers: &[&[u8]]) -> Result<LdsFiles, ReadError> {
    let mut r = CardReader::new(ReadOptions::new(ecard_chip::transport::ApduLimits::SHORT));
    let mut answers = answers.iter();
    loop {
        match r.poll() {
            ReadAction::Transmit(_) => {
                let a = answers.next().expect("script ran out of answers");
                r.handle_response(a)?;
            }
            ReadAction::Finished => return Ok(r.into_files()),
            ReadAction::Failed => return Err(r.error().cloned().unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn com_listing_an_unknown_data_group_is_refused() {
    // EF.COM: 60 { 5F01 "0107", 5C [61 63] }: tag 63 (DG3) is no e-card data group.
    let com: &[u8] = &[
        0x60, 0x0B, 0x5F, 0x01, 0x04, b'0', b'1', b'0', b'7', 0x5C, 0x02, 0x61, 0x63, 0x90, 0x00,
    ];
    let err = scripted(&[&[0x90, 0x00], &[0x90, 0x00], com]).unwrap_err();
    assert_eq!(err, ReadError::UnknownDataGroup { tag: 0x63 });
}

#[test]
fn short_file_ends_early_with_6282_and_is_read_whole() {
    let com: &[u8] = &[0x60, 0x05, 0x5C, 0x03, 0x61, 0x61, 0x61, 0x62, 0x82];
    // Header read returns the whole 7-byte EF.COM with 6282; DG1 (listed thrice, read once) and
    // EF.SOD follow.
    let dg1: &[u8] = &[0x61, 0x03, 0x5F, 0x1F, 0x00, 0x62, 0x82];
    let sod: &[u8] = &[0x77, 0x02, 0x30, 0x00, 0x62, 0x82];
    let files = scripted(&[
        &[0x90, 0x00],
        &[0x90, 0x00],
        com,
        &[0x90, 0x00],
        dg1,
        &[0x90, 0x00],
        sod,
    ])
    .unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[&EfId::Dg1], &dg1[..5]);
    assert_eq!(files[&EfId::Sod], &sod[..4]);
}

#[test]
fn header_claiming_too_much_is_refused() {
    // 60 83 FFFFFF: 16 MB claimed.
    let com: &[u8] = &[0x60, 0x83, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x90, 0x00];
    let err = scripted(&[&[0x90, 0x00], &[0x90, 0x00], com]).unwrap_err();
    assert_eq!(
        err,
        ReadError::TooLarge {
            file: EfId::Com,
            size: 0xFFFFFF + 5
        }
    );
}

#[test]
fn a_short_body_answer_is_learned_and_an_empty_one_is_malformed() {
    // EF.COM of 300 bytes: the body read asks 256 and gets 10, so the reader re-plans in reads of
    // 10; the next answer is empty, which moves nothing and cannot be right.
    let header = vec![0x60, 0x82, 0x01, 0x28, 0x5C, 0x01, 0x61, 0x00, 0x90, 0x00];
    let mut short = vec![0u8; 10];
    short.extend([0x90, 0x00]);
    let err =
        scripted(&[&[0x90, 0x00], &[0x90, 0x00], &header, &short, &[0x90, 0x00]]).unwrap_err();
    assert_eq!(
        err,
        ReadError::Malformed {
            step: ReadStep::ReadBody,
            file: Some(EfId::Com),
            detail: "READ BINARY returned 0 bytes, asked for 10".into()
        }
    );
}

#[test]
fn active_authentication_command_and_answers() {
    let c = read::active_authentication_command([1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        c.encode().unwrap(),
        vec![0x00, 0x88, 0x00, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00]
    );
    let refused = Response::status(StatusWord::InsNotSupported);
    assert_eq!(
        read::parse_active_authentication_response(&refused).unwrap_err(),
        ReadError::Status {
            step: ReadStep::InternalAuthenticate,
            file: None,
            sw: StatusWord::InsNotSupported
        }
    );
    let short = Response {
        data: vec![1; 63],
        sw: StatusWord::Ok,
    };
    assert!(matches!(
        read::parse_active_authentication_response(&short),
        Err(ReadError::Malformed { detail, .. }) if detail == "signature has 63 bytes, expected 64 (r || s)"
    ));
    let zero = Response {
        data: vec![0; 64],
        sw: StatusWord::Ok,
    };
    assert!(matches!(
        read::parse_active_authentication_response(&zero),
        Err(ReadError::Malformed { .. })
    ));
}

#[test]
fn generic_card_has_no_active_authentication() {
    let profile = Profile::generic();
    let mut t = blank_transport(&profile, 14);
    issue(&mut t, &profile, 5_000);
    assert_eq!(
        read::active_authentication(perso_common::chip(&mut t).transport(), [0; 8]).unwrap_err(),
        ReadError::Status {
            step: ReadStep::InternalAuthenticate,
            file: None,
            sw: StatusWord::InsNotSupported
        }
    );
}

#[test]
fn reader_errors_are_sticky_and_misuse_is_reported() {
    let mut r = CardReader::new(ReadOptions::new(ecard_chip::transport::ApduLimits::SHORT));
    assert_eq!(
        r.handle_response(&[0x90, 0x00]).unwrap_err(),
        ReadError::ApiMisuse("handle_response() without a transmitted command")
    );
    assert_eq!(r.poll(), ReadAction::Failed);
    // A raw transport error is named with its step.
    let mut r = CardReader::new(ReadOptions::new(ecard_chip::transport::ApduLimits::SHORT));
    assert!(matches!(r.poll(), ReadAction::Transmit(_)));
    let e = r.handle_transport_error(ecard_chip::transport::TransportError::CardRemoved {
        reader: "r".into(),
    });
    assert_eq!(
        e.to_string(),
        "card removed from reader \"r\" while selecting the e-card application"
    );
}

#[test]
fn large_file_without_large_offsets_is_too_large() {
    let profile = perso_common::plain_sim_profile();
    let mut t = blank_transport(&profile, 16);
    let files = issue(&mut t, &profile, 40_000);
    let opts = ReadOptions {
        limits: t.limits(),
        large_offsets: ecard_chip::profile::LargeOffsets::None,
    };
    assert_eq!(
        read::read_card_with(&mut t, opts).unwrap_err(),
        ReadError::TooLarge {
            file: EfId::Dg2,
            size: files[&EfId::Dg2].len()
        }
    );
    let opts = ReadOptions::new(t.limits());
    let (read, _) = read::read_card_with(&mut t, opts).unwrap();
    assert_eq!(read, files);
}

/// Issue 13 item 3: a card (or reader) that answers `61 00` to everything, forever.
struct Forever61 {
    sent: usize,
}

impl Transport for Forever61 {
    fn transmit(
        &mut self,
        _capdu: &[u8],
    ) -> Result<Vec<u8>, ecard_chip::transport::TransportError> {
        self.sent += 1;
        assert!(self.sent < 10_000, "the reader never gave up");
        Ok(vec![0x61, 0x00])
    }
    fn reset(&mut self) -> Result<Vec<u8>, ecard_chip::transport::TransportError> {
        Ok(vec![0x3B, 0x00])
    }
    fn atr(&self) -> &[u8] {
        &[0x3B, 0x00]
    }
    fn limits(&self) -> ecard_chip::transport::ApduLimits {
        ecard_chip::transport::ApduLimits::SHORT
    }
    fn reader_name(&self) -> &str {
        "forever 61xx"
    }
}

#[test]
fn a_card_answering_61xx_forever_fails_instead_of_hanging() {
    let mut t = Forever61 { sent: 0 };
    let err = read::read_card(&mut t).unwrap_err();
    match &err {
        ReadError::Malformed { step, detail, .. } => {
            assert_eq!(*step, ReadStep::SelectApplication, "{err}");
            assert!(detail.contains("64 rounds without an end"), "{detail}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(t.sent, 1 + ecard_chip::apdu::MAX_ROUNDS);

    let mut t = Forever61 { sent: 0 };
    assert!(matches!(
        read::active_authentication(&mut t, [1; 8]),
        Err(ReadError::Malformed { .. })
    ));
    assert_eq!(t.sent, 1 + ecard_chip::apdu::MAX_ROUNDS);
}
