//! Property tests: the seal and status-list parsers never panic on arbitrary input, and payloads
//! round trip through CBOR byte for byte.

#![allow(clippy::unwrap_used)]

use ecard_seal::status::StatusListPayload;
use ecard_seal::{Reason, Revocation, Seal, SealPayload, StatusList};
use proptest::prelude::*;

const B45: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

fn date() -> impl Strategy<Value = time::Date> {
    (1900i32..2100, 1u32..=365)
        .prop_map(|(y, d)| time::Date::from_ordinal_date(y, d as u16).unwrap())
}

fn payload() -> impl Strategy<Value = SealPayload> {
    (
        "[0-9]{9}",
        "[A-Z '-]{1,40}",
        "[A-Z ]{1,40}",
        proptest::option::of("[A-Z]{1,30}"),
        (date(), date(), date()),
        prop_oneof![Just("M"), Just("F")],
        "[A-Z]{3}",
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(dn, sn, gn, pn, (dob, doi, doe), sex, nat, dg2)| SealPayload {
                iss: "RUS".into(),
                dn,
                sn,
                gn,
                pn,
                dob,
                doi,
                doe,
                sex: sex.into(),
                nat,
                dg2,
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in ".*") {
        let _ = Seal::decode(&s);
        let _ = Seal::decode(&format!("EC1:{s}"));
    }

    #[test]
    fn arbitrary_base45_never_panics(s in proptest::collection::vec(proptest::sample::select(B45.chars().collect::<Vec<_>>()), 0..400)) {
        let text: String = s.into_iter().collect();
        let seal = format!("EC1:{text}");
        prop_assert!(Seal::decode(&seal).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = StatusList::decode(&b);
        let _ = SealPayload::from_cbor(&b);
        let _ = Seal::decode(&format!("EC1:{}", base45::encode(miniz_oxide::deflate::compress_to_vec_zlib(&b, 6))));
    }

    #[test]
    fn payload_round_trips(p in payload()) {
        let cbor = p.to_cbor();
        let back = SealPayload::from_cbor(&cbor).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.to_cbor(), cbor);
    }

    #[test]
    fn status_payload_round_trips(
        secs in 1_700_000_000i64..2_500_000_000,
        rev in proptest::collection::vec(("[0-9]{9}", 0usize..5, date()), 0..20),
    ) {
        let reasons = [Reason::Replaced, Reason::Lost, Reason::Damaged, Reason::DetailsChanged, Reason::Voided];
        let rev: Vec<Revocation> = rev.into_iter().map(|(dn, r, since)| Revocation { document_number: dn, reason: reasons[r], since }).collect();
        let p = StatusListPayload::new(time::OffsetDateTime::from_unix_timestamp(secs).unwrap(), rev);
        let cbor = p.to_cbor();
        let back = StatusListPayload::from_cbor(&cbor).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.to_cbor(), cbor);
    }
}
