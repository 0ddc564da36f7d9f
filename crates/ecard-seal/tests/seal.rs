//! The seal and the status list end to end: signing, decoding, verification and every bad input of
//! issue 7 (another system's QR, truncated or altered seals, unknown kid, untrusted signer, expired
//! card, revoked number, stale list), each with its exact error or verdict.

#![allow(clippy::unwrap_used)]

use ecard_chip::pki::{self, GeneratedPki, PkiConfig, certificate_kid};
use ecard_chip::verify::Outcome;
use ecard_model::holder::HolderFields;
use ecard_model::{DocumentNumber, Holder, Sex};
use ecard_seal::cose::CoseError;
use ecard_seal::status::StatusListPayload;
use ecard_seal::{
    Reason, Revocation, Seal, SealCheckId, SealError, SealPayload, StatusList, Trust, Verdict,
    check_seal,
};
use rand_core::SeedableRng;
use time::macros::{date, datetime};

fn make_pki(seed: u64) -> GeneratedPki {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    pki::init(
        &PkiConfig::default(),
        datetime!(2026-11-01 09:00 UTC),
        &mut rng,
    )
    .unwrap()
}

fn holder(patronymic: Option<&str>) -> Holder {
    Holder::new(HolderFields {
        surname: "KARIMOV".into(),
        given_names: "ALISHER".into(),
        patronymic: patronymic.map(str::to_string),
        name_cyrillic: None,
        date_of_birth: date!(1990 - 05 - 17),
        sex: Sex::M,
        nationality: "UZB".into(),
    })
    .unwrap()
}

fn payload(patronymic: Option<&str>) -> SealPayload {
    SealPayload::for_card(
        &holder(patronymic),
        &DocumentNumber::new(77, 1_234_567).unwrap(),
        date!(2026 - 11 - 24),
        date!(2031 - 11 - 24),
        b"\x75\x03DG2",
    )
}

const AT: time::Date = date!(2026 - 11 - 25);
const NOW: time::OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

#[test]
fn seal_round_trips_and_verifies() {
    let pki = make_pki(1);
    for pn in [Some("BAKHODIROVICH"), None] {
        let p = payload(pn);
        let text = Seal::sign(&p, &pki.ds_key, &pki.ds).unwrap();
        assert!(text.starts_with("EC1:"));
        assert!(
            text[4..]
                .chars()
                .all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c))
        );
        let seal = Seal::decode(&text).unwrap();
        assert_eq!(seal.payload, p);
        assert_eq!(seal.cose.kid, certificate_kid(&pki.ds).unwrap());
        let ds = [pki.ds.clone()];
        let signer = seal
            .verify(&ds, std::slice::from_ref(&pki.csca), AT)
            .unwrap();
        assert_eq!(signer, &pki.ds);
        // The payload is re-encoded byte for byte: the map form is canonical.
        assert_eq!(p.to_cbor(), seal.cose.payload);
    }
}

#[test]
fn seal_bytes_have_the_exact_cose_form() {
    let pki = make_pki(2);
    let p = payload(None);
    let text = Seal::sign(&p, &pki.ds_key, &pki.ds).unwrap();
    let z = base45::decode(&text[4..]).unwrap();
    let cose = miniz_oxide::inflate::decompress_to_vec_zlib(&z).unwrap();
    let kid = certificate_kid(&pki.ds).unwrap();
    // Tag 18, array of 4, protected bstr {1: -7, 4: h'kid'}, unprotected {}.
    let mut head = vec![0xD2, 0x84, 0x4D, 0xA2, 0x01, 0x26, 0x04, 0x48];
    head.extend_from_slice(&kid);
    head.push(0xA0);
    assert_eq!(&cose[..head.len()], head.as_slice());
    // ... payload bstr, then the 64-byte raw signature.
    assert_eq!(&cose[cose.len() - 66..cose.len() - 64], &[0x58, 0x40]);
    let cbor = p.to_cbor();
    // Map of 11 (no pn), first key "v" = 1.
    assert_eq!(&cbor[..5], &[0xAB, 0x61, b'v', 0x01, 0x63]);
    // Without a patronymic the seal is QR version 11 at level M (61 modules): with the quiet zone,
    // 69 modules, 276 px at 4 px a module (23.4 mm at 300 dpi).
    assert_eq!(text.len(), 4 + 360);
    let qr = ecard_seal::encode_qr(&text).unwrap();
    assert_eq!(qr.width, 61);
}

#[test]
fn another_systems_qr_is_not_a_seal() {
    for text in [
        "https://example.com/card?id=1",
        "HC1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N",
        "",
        "ec1:ABC",
    ] {
        assert_eq!(
            Seal::decode(text).unwrap_err(),
            SealError::NotASeal {
                got: text.chars().take(8).collect()
            }
        );
    }
}

/// Bytes appended after the zlib stream are refused, as the phone checkpoint refuses them (the
/// two verifiers give the same verdict on such a seal).
#[test]
fn bytes_after_the_zlib_stream_are_refused() {
    let pki = make_pki(4);
    let text = Seal::sign(&payload(None), &pki.ds_key, &pki.ds).unwrap();
    let mut z = base45::decode(&text[4..]).unwrap();
    assert!(Seal::decode(&text).is_ok());
    z.push(0x00);
    let padded = format!("EC1:{}", base45::encode(&z));
    match Seal::decode(&padded).unwrap_err() {
        SealError::Zlib { reason } => assert!(reason.contains("after the end"), "{reason}"),
        other => panic!("expected a zlib error, got {other:?}"),
    }
}

#[test]
fn truncated_seal_fails_to_decode() {
    let pki = make_pki(3);
    let text = Seal::sign(&payload(None), &pki.ds_key, &pki.ds).unwrap();
    // Cut at a base45 group boundary: valid base45, but the zlib stream ends early.
    let cut = &text[..4 + (text.len() - 4) / 3 / 2 * 3];
    assert!(matches!(
        Seal::decode(cut).unwrap_err(),
        SealError::Zlib { .. }
    ));
    // Cut inside a group (3k + 1 characters): not base45 at all.
    let n = text.len() - 4;
    let cut = &text[..4 + n - n % 3 - 2];
    assert!(matches!(
        Seal::decode(cut).unwrap_err(),
        SealError::Base45 { .. }
    ));
}

#[test]
fn altered_payload_fails_the_signature() {
    let pki = make_pki(4);
    let p = payload(None);
    let text = Seal::sign(&p, &pki.ds_key, &pki.ds).unwrap();
    let z = base45::decode(&text[4..]).unwrap();
    let mut cose = miniz_oxide::inflate::decompress_to_vec_zlib(&z).unwrap();
    // Change one letter of the surname in the signed payload.
    let at = cose.windows(7).position(|w| w == b"KARIMOV").unwrap();
    cose[at] = b'X';
    let forged = format!(
        "EC1:{}",
        base45::encode(miniz_oxide::deflate::compress_to_vec_zlib(&cose, 9))
    );
    let seal = Seal::decode(&forged).unwrap();
    assert_eq!(seal.payload.sn, "XARIMOV");
    let err = seal
        .verify(
            std::slice::from_ref(&pki.ds),
            std::slice::from_ref(&pki.csca),
            AT,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        SealError::Cose(CoseError::BadSignature { what: "seal", .. })
    ));
}

#[test]
fn unknown_kid_and_untrusted_signer_are_named() {
    let pki = make_pki(5);
    let other = make_pki(6);
    let text = Seal::sign(&payload(None), &pki.ds_key, &pki.ds).unwrap();
    let seal = Seal::decode(&text).unwrap();
    let err = seal
        .verify(
            std::slice::from_ref(&other.ds),
            std::slice::from_ref(&pki.csca),
            AT,
        )
        .unwrap_err();
    let kid = hex::encode(certificate_kid(&pki.ds).unwrap());
    assert_eq!(
        err,
        SealError::Cose(CoseError::UnknownKid {
            what: "seal",
            kid,
            known: 1
        })
    );
    let err = seal
        .verify(
            std::slice::from_ref(&pki.ds),
            std::slice::from_ref(&other.csca),
            AT,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        SealError::Cose(CoseError::Untrusted { trusted: 1, .. })
    ));
}

fn list(pki: &GeneratedPki, rev: Vec<Revocation>) -> Result<StatusList, ecard_seal::StatusError> {
    let bytes = StatusList::sign(
        &StatusListPayload::new(datetime!(2026-11-25 06:00:00.123 UTC), rev),
        &pki.ds_key,
        &pki.ds,
    )
    .unwrap();
    StatusList::verify(
        &bytes,
        std::slice::from_ref(&pki.ds),
        std::slice::from_ref(&pki.csca),
        AT,
    )
}

#[test]
fn status_list_round_trips_with_default_next_update() {
    let pki = make_pki(7);
    let rev = vec![Revocation {
        document_number: "771234567".into(),
        reason: Reason::DetailsChanged,
        since: date!(2026 - 11 - 20),
    }];
    let l = list(&pki, rev.clone()).unwrap();
    assert_eq!(l.payload.iat, datetime!(2026-11-25 06:00 UTC));
    assert_eq!(l.payload.nxt, datetime!(2026-11-26 06:00 UTC));
    assert_eq!(l.payload.rev, rev);
    assert!(!l.is_stale(datetime!(2026-11-26 06:00 UTC)));
    assert!(l.is_stale(datetime!(2026-11-26 06:00:01 UTC)));
    let text = String::from_utf8_lossy(&l.cose.payload).to_string();
    assert!(text.contains("2026-11-25T06:00:00Z"), "{text:?}");
}

fn verdict_of(
    pki: &GeneratedPki,
    text: &str,
    at: time::Date,
    now: time::OffsetDateTime,
    status: Option<&Result<StatusList, ecard_seal::StatusError>>,
) -> ecard_seal::SealReport {
    check_seal(
        Ok(text),
        Trust {
            csca: std::slice::from_ref(&pki.csca),
            ds: std::slice::from_ref(&pki.ds),
        },
        at,
        now,
        status,
    )
}

#[test]
fn verdicts_green_red_amber() {
    let pki = make_pki(8);
    let text = Seal::sign(&payload(None), &pki.ds_key, &pki.ds).unwrap();
    let fresh = list(&pki, vec![]);
    let r = verdict_of(&pki, &text, AT, NOW, Some(&fresh));
    assert_eq!(r.verdict, Verdict::Green);
    assert!(r.first_problem().is_none());

    // Revoked.
    let revoked = list(
        &pki,
        vec![Revocation {
            document_number: "771234567".into(),
            reason: Reason::Lost,
            since: date!(2026 - 11 - 24),
        }],
    );
    let r = verdict_of(&pki, &text, AT, NOW, Some(&revoked));
    assert_eq!(r.verdict, Verdict::Red);
    let p = r.first_problem().unwrap();
    assert_eq!(p.id, SealCheckId::NotOnStatusList);
    assert_eq!(
        p.outcome,
        Outcome::Fail("the card is revoked on the status list: lost since 2026-11-24".into())
    );

    // Stale list, number not on it: amber.
    let late = datetime!(2026-11-27 10:00 UTC);
    let r = verdict_of(&pki, &text, AT, late, Some(&fresh));
    assert_eq!(r.verdict, Verdict::Amber);
    assert_eq!(r.first_problem().unwrap().id, SealCheckId::StatusFresh);
    // Stale and revoked: red all the same.
    let r = verdict_of(&pki, &text, AT, late, Some(&revoked));
    assert_eq!(r.verdict, Verdict::Red);

    // Expired card.
    let r = verdict_of(&pki, &text, date!(2031 - 11 - 25), NOW, None);
    assert_eq!(r.verdict, Verdict::Red);
    assert_eq!(
        r.first_problem().unwrap().outcome,
        Outcome::Fail("card expired on 2031-11-24, check date 2031-11-25".into())
    );

    // A status list signed by an unknown DS: red, the list is not trusted.
    let other = make_pki(9);
    let bytes = StatusList::sign(
        &StatusListPayload::new(NOW, vec![]),
        &other.ds_key,
        &other.ds,
    )
    .unwrap();
    let bad = StatusList::verify(
        &bytes,
        std::slice::from_ref(&pki.ds),
        std::slice::from_ref(&pki.csca),
        AT,
    );
    let r = verdict_of(&pki, &text, AT, NOW, Some(&bad));
    assert_eq!(r.verdict, Verdict::Red);
    assert_eq!(r.first_problem().unwrap().id, SealCheckId::StatusList);

    // No QR at all.
    let r = check_seal(
        Err("no QR code found".into()),
        Trust { csca: &[], ds: &[] },
        AT,
        NOW,
        None,
    );
    assert_eq!(r.verdict, Verdict::Red);
    assert_eq!(r.first_problem().unwrap().id, SealCheckId::SealDecodes);
}

#[test]
fn unknown_reason_is_refused() {
    assert_eq!(
        "stolen".parse::<Reason>().unwrap_err(),
        ecard_seal::StatusError::UnknownReason {
            got: "stolen".into()
        }
    );
}

#[test]
fn revocations_read_and_write_dates_as_text_in_json() {
    let r: Revocation = serde_json::from_str(
        r#"{"document_number": "771234567", "reason": "details_changed", "since": "2026-11-20"}"#,
    )
    .unwrap();
    assert_eq!(
        r,
        Revocation {
            document_number: "771234567".into(),
            reason: Reason::DetailsChanged,
            since: date!(2026 - 11 - 20),
        }
    );
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"document_number":"771234567","reason":"details_changed","since":"2026-11-20"}"#
    );
    let v = serde_json::to_value(payload(Some("B"))).unwrap();
    assert_eq!(v["dob"], "1990-05-17");
    assert_eq!(v["pn"], "B");
}
