#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests for every LDS file codec: parse(build(x)) == x, the outer length covers exactly
//! the bytes written, parse-then-build reproduces canonical bytes, and arbitrary or mutated bytes
//! never panic a parser (and whatever parses rebuilds to something that parses the same).

use ecard_chip::lds::dg2::BiometricHeader;
use ecard_chip::lds::{
    Com, DataGroupHash, Dg1, Dg2, Dg7, Dg11, Dg12, Dg14, Dg15, EfId, FaceImage, LdsError,
    LdsSecurityObject, Sod,
};
use ecard_chip::tlv;
use proptest::prelude::*;

fn mrz_char() -> impl Strategy<Value = char> {
    prop::sample::select(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
            .chars()
            .collect::<Vec<_>>(),
    )
}

fn text() -> impl Strategy<Value = String> {
    // Latin, Cyrillic, separators: what names and authorities hold.
    "[A-Za-zА-Яа-яЁё<' -]{1,40}"
}

fn digits_date() -> impl Strategy<Value = String> {
    (1900u32..2100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}{m:02}{d:02}"))
}

fn whole(bytes: &[u8]) {
    let h = tlv::parse_header(bytes).unwrap();
    assert_eq!(
        h.total_len(),
        bytes.len(),
        "outer length covers the file exactly"
    );
}

fn face() -> impl Strategy<Value = FaceImage> {
    (
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<[u8; 3]>(),
            any::<u16>(),
        ),
        (
            any::<[u8; 3]>(),
            any::<[u8; 3]>(),
            prop::collection::vec(any::<[u8; 8]>(), 0..3),
        ),
        (any::<u8>(), 0u8..=1, any::<u16>(), any::<u16>()),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        prop::collection::vec(any::<u8>(), 1..600),
    )
        .prop_map(|(a, b, c, d, image)| FaceImage {
            gender: a.0,
            eye_colour: a.1,
            hair_colour: a.2,
            feature_mask: a.3,
            expression: a.4,
            pose_angle: b.0,
            pose_angle_uncertainty: b.1,
            feature_points: b.2,
            face_image_type: c.0,
            image_data_type: c.1,
            width: c.2,
            height: c.3,
            colour_space: d.0,
            source_type: d.1,
            device_type: d.2,
            quality: d.3,
            image,
        })
}

fn header() -> impl Strategy<Value = BiometricHeader> {
    (
        prop::option::of(prop::collection::vec(any::<u8>(), 1..3)),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..3)),
        prop::collection::btree_map(
            0x82u8..=0x86,
            prop::collection::vec(any::<u8>(), 0..4),
            0..3,
        ),
        any::<[u8; 2]>(),
        any::<[u8; 2]>(),
    )
        .prop_map(|(version, biometric_type, other, o, t)| BiometricHeader {
            version,
            biometric_type,
            other: other.into_iter().collect(),
            format_owner: o.to_vec(),
            format_type: t.to_vec(),
        })
}

fn dg11() -> impl Strategy<Value = Dg11> {
    (
        prop::option::of(text()),
        prop::collection::vec(text(), 0..3),
        prop::option::of(text()),
        prop::option::of(digits_date()),
        prop::option::of(text()),
        prop::collection::btree_map(
            prop::sample::select(ecard_chip::lds::dg11::OTHER_TAGS.to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
            0..3,
        ),
    )
        .prop_map(
            |(full_name, other_names, personal_number, date_of_birth, place_of_birth, other)| {
                Dg11 {
                    full_name,
                    other_names,
                    personal_number,
                    date_of_birth,
                    place_of_birth,
                    other: other.into_iter().collect(),
                }
            },
        )
}

fn dg12() -> impl Strategy<Value = Dg12> {
    (
        prop::option::of(text()),
        prop::option::of(digits_date()),
        prop::option::of(
            (digits_date(), 0u32..24, 0u32..60, 0u32..60)
                .prop_map(|(d, h, m, s)| format!("{d}{h:02}{m:02}{s:02}")),
        ),
        prop::option::of("[A-Z0-9]{1,12}"),
        prop::collection::btree_map(
            prop::sample::select(ecard_chip::lds::dg12::OTHER_TAGS.to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
            0..2,
        ),
    )
        .prop_map(
            |(
                issuing_authority,
                date_of_issue,
                personalization_time,
                personalization_system,
                other,
            )| Dg12 {
                issuing_authority,
                date_of_issue,
                personalization_time,
                personalization_system,
                other: other.into_iter().collect(),
            },
        )
}

fn parse_any(ef: EfId, bytes: &[u8]) -> Result<Vec<u8>, LdsError> {
    Ok(match ef {
        EfId::Com => Com::parse(bytes)?.build(),
        EfId::Dg1 => Dg1::parse(bytes)?.build(),
        EfId::Dg2 => Dg2::parse(bytes)?.build(),
        EfId::Dg7 => Dg7::parse(bytes)?.build(),
        EfId::Dg11 => Dg11::parse(bytes)?.build(),
        EfId::Dg12 => Dg12::parse(bytes)?.build(),
        EfId::Dg14 => Dg14::parse(bytes)?.build(),
        EfId::Dg15 => Dg15::parse(bytes)?.build(),
        EfId::Sod => {
            Sod::parse(bytes)?;
            bytes.to_vec()
        }
    })
}

proptest! {
    #[test]
    fn com_round_trips(tags in prop::collection::btree_set(0x61u8..=0x7E, 0..16)) {
        let com = Com { lds_version: "0107".into(), unicode_version: "040000".into(), dg_tags: tags.into_iter().collect() };
        let bytes = com.build();
        whole(&bytes);
        prop_assert_eq!(Com::parse(&bytes).unwrap(), com);
    }

    #[test]
    fn dg1_round_trips(mrz in prop::collection::vec(mrz_char(), 90)) {
        let dg1 = Dg1 { mrz: mrz.into_iter().collect() };
        let bytes = dg1.build();
        whole(&bytes);
        prop_assert_eq!(bytes.len(), 95);
        prop_assert_eq!(Dg1::parse(&bytes).unwrap(), dg1);
    }

    #[test]
    fn dg2_round_trips(header in header(), face in face()) {
        let dg2 = Dg2 { header, face };
        let bytes = dg2.build();
        whole(&bytes);
        let record = dg2.face.record();
        prop_assert_eq!(u32::from_be_bytes(record[8..12].try_into().unwrap()) as usize, record.len());
        prop_assert_eq!(Dg2::parse(&bytes).unwrap(), dg2);
    }

    #[test]
    fn dg7_round_trips(images in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..3)) {
        let dg7 = Dg7 { images };
        let bytes = dg7.build();
        whole(&bytes);
        prop_assert_eq!(Dg7::parse(&bytes).unwrap(), dg7);
    }

    #[test]
    fn dg11_round_trips(d in dg11()) {
        let bytes = d.build();
        whole(&bytes);
        let back = Dg11::parse(&bytes).unwrap();
        prop_assert_eq!(back.build(), bytes);
        prop_assert_eq!(back, d);
    }

    #[test]
    fn dg12_round_trips(d in dg12()) {
        let bytes = d.build();
        whole(&bytes);
        let back = Dg12::parse(&bytes).unwrap();
        prop_assert_eq!(back.build(), bytes);
        prop_assert_eq!(back, d);
    }

    #[test]
    fn dg15_round_trips(seed in any::<u64>()) {
        use rand_core::SeedableRng;
        let key = p256::SecretKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed)).public_key();
        let d = Dg15::for_key(&key);
        let bytes = d.build();
        whole(&bytes);
        let back = Dg15::parse(&bytes).unwrap();
        prop_assert_eq!(back.public_key().unwrap(), key);
        prop_assert_eq!(back, d);
    }

    #[test]
    fn dg14_round_trips(infos in prop::collection::btree_map(
        prop::sample::select(vec!["2.23.136.1.1.5", "0.4.0.127.0.7.2.2.3.2.4", "0.4.0.127.0.7.2.2.4.2.2", "1.2.3.4"]),
        (any::<u8>(), prop::option::of(prop::sample::select(vec!["0.4.0.127.0.7.1.1.4.1.3", "1.2.840.10045.4.3.2"]))),
        1..4,
    )) {
        use ecard_chip::lds::SecurityInfo;
        let mut set = Vec::new();
        for (oid, (v, opt)) in infos {
            set.push(SecurityInfo {
                protocol: der::oid::ObjectIdentifier::new_unwrap(oid),
                required_data: der::Any::encode_from(&v).unwrap(),
                optional_data: opt.map(|o| der::Any::encode_from(&der::oid::ObjectIdentifier::new_unwrap(o)).unwrap()),
            });
        }
        let d = Dg14 { infos: der::asn1::SetOfVec::try_from(set).unwrap() };
        let bytes = d.build();
        whole(&bytes);
        let back = Dg14::parse(&bytes).unwrap();
        prop_assert_eq!(back.build(), bytes);
        prop_assert_eq!(back, d);
    }

    #[test]
    fn lds_security_object_round_trips(hashes in prop::collection::btree_map(1u8..=16, any::<[u8; 32]>(), 2..16)) {
        use der::{Decode, Encode};
        let lso = LdsSecurityObject {
            version: 0,
            hash_algorithm: ecard_chip::lds::sod::sha256_algorithm(),
            data_group_hash_values: hashes.iter().map(|(n, h)| DataGroupHash {
                data_group_number: *n,
                data_group_hash_value: der::asn1::OctetString::new(h.to_vec()).unwrap(),
            }).collect(),
            lds_version_info: None,
        };
        let der = lso.to_der().unwrap();
        prop_assert_eq!(der.len(), usize::try_from(lso.encoded_len().unwrap()).unwrap());
        prop_assert_eq!(LdsSecurityObject::from_der(&der).unwrap(), lso);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(ef in prop::sample::select(EfId::ALL.to_vec()), body in prop::collection::vec(any::<u8>(), 0..200)) {
        // With the right outer tag and length, so the parsers get past the first check.
        let mut bytes = tlv::tag(ef.tag()).to_bytes().to_vec();
        tlv::encode_length(body.len(), &mut bytes);
        bytes.extend_from_slice(&body);
        for input in [&bytes[..], &body[..]] {
            if let Ok(rebuilt) = parse_any(ef, input) {
                // Whatever parses rebuilds to bytes that parse to the same rebuild.
                prop_assert_eq!(parse_any(ef, &rebuilt).unwrap(), rebuilt);
            }
        }
    }
}

fn vector_or_own(ef: EfId) -> Vec<u8> {
    let path =
        std::path::Path::new("/work/shared/vectors/icao-lds/valid").join(ef.dump_file_name());
    std::fs::read(path).unwrap_or_else(|_| match ef {
        EfId::Dg11 => Dg11 {
            full_name: Some("ИВАНОВА<<ОЛЬГА".into()),
            other_names: vec!["OLGA".into()],
            date_of_birth: Some("19900101".into()),
            place_of_birth: Some("МОСКВА".into()),
            ..Default::default()
        }
        .build(),
        EfId::Dg12 => Dg12::new(
            "MMC",
            time::macros::date!(2026 - 11 - 20),
            time::macros::datetime!(2026-11-20 09:30:00),
        )
        .build(),
        EfId::Dg14 => Dg14::active_authentication_ecdsa().build(),
        _ => Com::for_files(&EfId::ALL).build(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn mutated_files_never_panic(ef in prop::sample::select(vec![EfId::Com, EfId::Dg11, EfId::Dg12, EfId::Dg14]), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        let mut bytes = vector_or_own(ef);
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        for input in [&bytes[..], &bytes[..cut.index(bytes.len())]] {
            if let Ok(rebuilt) = parse_any(ef, input) {
                prop_assert_eq!(parse_any(ef, &rebuilt).unwrap(), rebuilt);
            }
        }
    }
}

#[test]
fn errors_name_the_file_and_element() {
    let dg11 = |dob: &[u8]| {
        tlv::encode(&tlv::constructed(
            0x6B,
            vec![
                tlv::primitive(0x5C, vec![0x5F, 0x2B]),
                tlv::primitive(0x5F2B, dob.to_vec()),
            ],
        ))
    };
    assert_eq!(
        Dg11::parse(&dg11(b"1991031")).unwrap_err().to_string(),
        "DG11: element 5F2B (date of birth) is 7 bytes, expected 8"
    );
    assert_eq!(
        Dg11::parse(&dg11(b"19910231")).unwrap_err().to_string(),
        "DG11: element 5F2B (date of birth) is not a calendar date YYYYMMDD"
    );
    assert_eq!(
        Dg11::parse(&dg11(b"1991O314")).unwrap_err().to_string(),
        "DG11: element 5F2B (date of birth) is not 8 digits"
    );
    // A tag list that names an element which is absent.
    let listed_absent = tlv::encode(&tlv::constructed(
        0x6B,
        vec![tlv::primitive(0x5C, vec![0x5F, 0x2B, 0x5F, 0x0E])],
    ));
    assert_eq!(
        Dg11::parse(&listed_absent).unwrap_err().to_string(),
        "DG11: element 5C (tag list) lists element 5F2B that is absent"
    );
    assert_eq!(
        Dg1::parse(&[0x61, 0x03, 0x5F, 0x1F, 0x00]).unwrap_err(),
        LdsError::Element {
            file: EfId::Dg1,
            tag: 0x5F1F,
            name: "MRZ",
            problem: "is 0 bytes, expected 90 (TD1)".into()
        }
    );
    assert_eq!(
        Dg7::parse(
            &Dg1 {
                mrz: "<".repeat(90)
            }
            .build()
        )
        .unwrap_err()
        .to_string(),
        "DG7: outer tag is 61, expected 67"
    );
    let mut com = Com::for_files(&[EfId::Dg1]).build();
    com.push(0);
    assert_eq!(
        Com::parse(&com).unwrap_err().to_string(),
        "EF.COM: not one strict BER-TLV: 1 trailing bytes after the object, at byte 21"
    );
    assert_eq!(
        Sod::parse(&[0x77, 0x03, 0x30, 0x01, 0x00])
            .unwrap_err()
            .to_string()
            .split(':')
            .take(2)
            .collect::<Vec<_>>(),
        vec!["EF.SOD", " ContentInfo"]
    );
}

#[test]
fn holder_data_never_shows_in_debug() {
    let dg1 = Dg1 {
        mrz: format!("IRRUS771234567{}", "<".repeat(76)),
    };
    assert!(!format!("{dg1:?}").contains("771234567"));
    let dg11 = Dg11 {
        full_name: Some("ИВАНОВА<<ОЛЬГА".into()),
        date_of_birth: Some("19900101".into()),
        ..Default::default()
    };
    let text = format!("{dg11:?}");
    assert!(
        !text.contains("ИВАНОВА") && !text.contains("19900101"),
        "{text}"
    );
    let face = FaceImage::jpeg(vec![0xAB; 10], 240, 320, 'F');
    assert_eq!(
        format!("{face:?}"),
        "FaceImage { image_data_type: 0, width: 240, height: 320, image_len: 10, .. }"
    );
    assert_eq!(
        format!("{:?}", Dg7::one(vec![1, 2, 3])),
        "Dg7 { image_sizes: [3] }"
    );
}

#[test]
fn com_lists_data_groups_in_order() {
    let com = Com::for_files(&[EfId::Dg15, EfId::Sod, EfId::Dg1, EfId::Com, EfId::Dg2]);
    assert_eq!(
        com.build(),
        [
            0x60, 0x15, 0x5F, 0x01, 0x04, b'0', b'1', b'0', b'7', 0x5F, 0x36, 0x06, b'0', b'4',
            b'0', b'0', b'0', b'0', 0x5C, 0x03, 0x61, 0x75, 0x6F
        ]
    );
    assert_eq!(
        com.data_groups(),
        (vec![EfId::Dg1, EfId::Dg2, EfId::Dg15], vec![])
    );
}

#[test]
fn dg14_is_the_active_authentication_info_of_doc_9303() {
    let bytes = Dg14::active_authentication_ecdsa().build();
    assert_eq!(
        hex::encode(&bytes),
        "6e1b311930170606678108010105020101060a04007f00070101040103"
    );
    let info = Dg14::parse(&bytes)
        .unwrap()
        .active_authentication()
        .unwrap()
        .unwrap();
    assert_eq!(info.version, 1);
    assert_eq!(
        info.signature_algorithm,
        ecard_chip::lds::dg14::ECDSA_PLAIN_SHA256
    );
}
