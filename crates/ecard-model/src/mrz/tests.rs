//! The Doc 9303 specimens byte for byte, the card's own TD1, and property tests for check digits
//! and the TD1/TD3 round trips.

use proptest::prelude::*;
use time::Date;
use time::macros::date;

use super::*;
use crate::enrollment::CyrillicName;
use crate::holder::{Holder, HolderFields, Sex};
use crate::number::DocumentNumber;

/// The fields of the Doc 9303 Part 5 TD1 specimen (ERIKSSON ANNA MARIA of Utopia) with the
/// document number `document_number`.
fn specimen_td1(document_number: &str) -> Td1Fields {
    Td1Fields {
        document_code: "I".into(),
        issuing_state: "UTO".into(),
        document_number: document_number.into(),
        optional_data_1: String::new(),
        date_of_birth: date!(1974 - 08 - 12),
        sex: 'F',
        date_of_expiry: date!(2012 - 04 - 15),
        nationality: "UTO".into(),
        optional_data_2: String::new(),
        primary_identifier: "ERIKSSON".into(),
        secondary_identifier: "ANNA<MARIA".into(),
    }
}

#[test]
fn builds_the_doc9303_part5_td1_specimen_byte_for_byte() {
    let td1 = Td1::build(&specimen_td1("D23145890")).unwrap();
    assert_eq!(
        td1.text(),
        "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
    );
}

#[test]
fn a_long_document_number_overflows_into_the_optional_data() {
    // Doc 9303 Part 5 note j, with the Part 5 example number D23145890734 (check digit 9).
    let td1 = Td1::build(&specimen_td1("D23145890734")).unwrap();
    assert_eq!(td1.lines[0], "I<UTOD23145890<7349<<<<<<<<<<<");
    assert_eq!(td1.document_number, "D23145890734");
}

fn holder(patronymic: bool) -> Holder {
    Holder::new(HolderFields {
        surname: "Karimov".into(),
        given_names: "Alisher".into(),
        patronymic: patronymic.then(|| "Bakhodirovich".into()),
        name_cyrillic: Some(CyrillicName {
            surname: "Каримов".into(),
            given_names: "Алишер".into(),
            patronymic: patronymic.then(|| "Баходирович".into()),
        }),
        date_of_birth: date!(1990 - 05 - 17),
        sex: Sex::M,
        nationality: "UZB".into(),
    })
    .unwrap()
}

#[test]
fn the_cards_td1() {
    let n = DocumentNumber::new(77, 1_234_567).unwrap();
    let td1 = Td1::for_card(&holder(true), &n, date!(2031 - 11 - 25));
    assert_eq!(
        td1.lines,
        [
            "IRRUS7712345678<<<<<<<<<<<<<<<".to_string(),
            "9005178M3111253UZB<<<<<<<<<<<6".to_string(),
            "KARIMOV<<ALISHER<BAKHODIROVICH".to_string(),
        ]
    );
    let td1 = Td1::for_card(&holder(false), &n, date!(2031 - 11 - 25));
    assert_eq!(td1.lines[2], "KARIMOV<<ALISHER<<<<<<<<<<<<<<");
    assert_eq!(
        format!("{td1:?}"),
        "Td1 { document_code: \"IR\", issuing_state: \"RUS\", .. }"
    );
}

#[test]
fn the_cards_td1_truncates_a_long_name() {
    let h = Holder::new(HolderFields {
        surname: "Abdurakhmonov".into(),
        given_names: "Muhammadali Shukhratjon".into(),
        patronymic: Some("Abdulazizovich".into()),
        name_cyrillic: None,
        date_of_birth: date!(1985 - 01 - 02),
        sex: Sex::M,
        nationality: "TJK".into(),
    })
    .unwrap();
    let td1 = Td1::for_card(
        &h,
        &DocumentNumber::new(77, 1).unwrap(),
        date!(2031 - 01 - 01),
    );
    assert_eq!(td1.lines[2], "ABDURAKHMONOV<<MUHAMMADALI<SHU");
    assert!(name_field_agrees(
        &td1.lines[2],
        "ABDURAKHMONOV",
        &["MUHAMMADALI<SHUKHRATJON<ABDULAZIZOVICH"]
    ));
}

fn mrz_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Z0-9<]{{0,{max}}}")).unwrap()
}

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Z]{1,12}(<[A-Z]{1,10}){0,3}").unwrap()
}

fn date() -> impl Strategy<Value = Date> {
    (1930i32..2060, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
        Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
    })
}

fn sex() -> impl Strategy<Value = char> {
    prop_oneof![Just('M'), Just('F'), Just('<')]
}

proptest! {
    #[test]
    fn check_digit_is_a_digit_and_fillers_add_nothing(s in mrz_text(40)) {
        let d = check_digit(&s).unwrap();
        prop_assert!(d <= 9);
        prop_assert_eq!(check_digit(&format!("{s}<<<")).unwrap(), d);
    }

    #[test]
    fn check_digit_catches_every_single_digit_change(
        s in proptest::string::string_regex("[0-9]{1,20}").unwrap(),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..10,
    ) {
        let i = pos.index(s.len());
        let old = s.as_bytes()[i] - b'0';
        let new = (old + delta) % 10;
        let mut t = s.clone().into_bytes();
        t[i] = b'0' + new;
        let t = String::from_utf8(t).unwrap();
        // Weights 7, 3 and 1 are all prime to 10, so one changed digit always changes the sum mod 10.
        prop_assert_ne!(check_digit(&s).unwrap(), check_digit(&t).unwrap());
    }

    #[test]
    fn check_digit_rejects_other_characters(s in mrz_text(10), c in "[^A-Z0-9<]") {
        let text = format!("{s}{c}");
        prop_assert_eq!(
            check_digit(&text),
            Err(CheckDigitError { found: c.chars().next().unwrap(), position: s.len() })
        );
    }

    #[test]
    fn td1_round_trips(
        code in "[A-Z][A-Z<]?", state in "[A-Z]{3}", number in "[A-Z0-9]{1,9}",
        dob in date(), sex in sex(), doe in date(), nat in "[A-Z]{3}",
        primary in name(), secondary in name(),
    ) {
        let built = Td1::build(&Td1Fields {
            document_code: code.clone(), issuing_state: state.clone(), document_number: number.clone(),
            optional_data_1: String::new(), date_of_birth: dob, sex, date_of_expiry: doe,
            nationality: nat.clone(), optional_data_2: String::new(),
            primary_identifier: primary.clone(), secondary_identifier: secondary.clone(),
        }).unwrap();
        let text = built.text();
        prop_assert_eq!(text.len(), 92);
        let parsed = Td1::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &built);
        prop_assert_eq!(parsed.document_code, code.trim_end_matches('<'));
        prop_assert_eq!(parsed.issuing_state, state);
        prop_assert_eq!(parsed.document_number, number);
        prop_assert_eq!(parsed.date_of_birth, crate::dates::mrz_date(dob));
        prop_assert_eq!(parsed.sex, sex);
        prop_assert_eq!(parsed.nationality, nat);
        prop_assert!(name_field_agrees(&built.lines[2], &primary, &[&secondary]));
        if primary.len() + secondary.len() + 2 <= 30 {
            prop_assert_eq!(parsed.primary_identifier, primary);
            prop_assert_eq!(parsed.secondary_identifier, secondary);
        }
    }

    #[test]
    fn td3_round_trips(
        state in "[A-Z]{3}", number in "[A-Z0-9]{1,9}", dob in date(), sex in sex(),
        doe in date(), nat in "[A-Z]{3}", personal in "[A-Z0-9]{0,14}",
        primary in name(), secondary in name(),
    ) {
        let built = Td3::build(&Td3Fields {
            document_code: "P".into(), issuing_state: state.clone(),
            primary_identifier: primary.clone(), secondary_identifier: secondary.clone(),
            document_number: number.clone(), nationality: nat.clone(), date_of_birth: dob, sex,
            date_of_expiry: doe, personal_number: personal.clone(),
        }).unwrap();
        let text = built.text();
        prop_assert_eq!(text.len(), 89);
        let parsed = Td3::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &built);
        prop_assert_eq!(parsed.document_number, number);
        prop_assert_eq!(parsed.personal_number, personal);
        prop_assert_eq!(parsed.date_of_expiry, crate::dates::mrz_date(doe));
        prop_assert!(name_field_agrees(&parsed.name_field, &primary, &[&secondary]));
    }

    #[test]
    fn name_fields_have_their_width_and_show_truncation(
        primary in name(), secondary in name(), width in 10usize..45,
    ) {
        let field = name_field(&primary, &secondary, width);
        prop_assert_eq!(field.len(), width);
        let full = primary.len() + 2 + secondary.len();
        if full > width {
            // Truncated: the last character is a letter (Doc 9303 Part 3) unless the cut falls
            // right after a one-letter part, which has nothing left to shorten; and the field
            // still agrees with the names it came from.
            let no_initials = primary.split('<').chain(secondary.split('<')).all(|p| p.len() > 1);
            if no_initials {
                prop_assert!(field.ends_with(|c: char| c.is_ascii_uppercase()), "{}", field);
            }
            prop_assert!(name_field_agrees(&field, &primary, &[&secondary]));
        } else {
            prop_assert_eq!(split_name_field(&field), (primary, secondary));
        }
    }

    #[test]
    fn parsing_anything_never_panics(s in "\\PC{0,100}", m in mrz_text(90)) {
        let _ = Td1::parse(&s);
        let _ = Td3::parse(&s);
        let _ = Td1::parse(&m);
        let _ = Td3::parse(&format!("P{m}"));
        let _ = transliterate(&s);
    }

    #[test]
    fn transliteration_yields_mrz_characters(s in "[\\p{L} '-]{0,30}") {
        if let Ok(t) = transliterate(&s) {
            prop_assert!(t.chars().all(|c| matches!(c, 'A'..='Z' | '<')));
            prop_assert!(!t.starts_with('<') && !t.ends_with('<') && !t.contains("<<"));
        }
    }
}
