//! One failing record per rule (asserting the exact path), and a record with many problems.

use serde_json::{Value, json};
use time::macros::date;

use super::*;
use crate::enrollment::{Application, ReplacementCause};
use crate::mrz::{Td3, Td3Fields};

const TODAY: Date = date!(2026 - 11 - 25);

fn passport_mrz() -> [String; 2] {
    Td3::build(&Td3Fields {
        document_code: "P".into(),
        issuing_state: "UZB".into(),
        primary_identifier: "KARIMOV".into(),
        secondary_identifier: "ALISHER".into(),
        document_number: "FA1234567".into(),
        nationality: "UZB".into(),
        date_of_birth: date!(1990 - 05 - 17),
        sex: 'M',
        date_of_expiry: date!(2030 - 01 - 01),
        personal_number: "31705901234567".into(),
    })
    .unwrap()
    .lines
}

fn base() -> Value {
    json!({
        "application_id": "MMC-2026-0000123",
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "name_cyrillic": {"surname": "КАРИМОВ", "given_names": "АЛИШЕР", "patronymic": "БАХОДИРОВИЧ"},
        "date_of_birth": "1990-05-17", "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": "FA1234567", "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01", "mrz": passport_mrz()},
        "photo": {"path": "photo.jpg"}, "signature": {"base64": "iVBORw0KGgo="},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
}

fn problems(v: &Value) -> Vec<Problem> {
    check_record(&v.to_string(), TODAY).expect_err("the record must be rejected")
}

/// The record fails with exactly one problem, at `path`.
fn only(v: &Value, path: &str) -> String {
    let p = problems(v);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].path, path, "{p:#?}");
    p[0].message.clone()
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap() {
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
        Value::Object(o) => {
            o.insert(key.to_string(), new);
        }
        _ => panic!("{pointer} is not in a container"),
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

#[test]
fn the_base_record_passes() {
    let r = check_record(&base().to_string(), TODAY).unwrap();
    assert_eq!(r.application_id, "MMC-2026-0000123");
    assert_eq!(r.application, Application::FirstIssue);
    assert!(!r.late_notification());
    // Without the optional fields, too.
    let mut v = base();
    remove(&mut v, "/patronymic");
    remove(&mut v, "/name_cyrillic");
    remove(&mut v, "/identity_document/mrz");
    assert!(check_record(&v.to_string(), TODAY).is_ok());
}

#[test]
fn not_json_and_not_an_object() {
    let p = check_record("{", TODAY).unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "record");
    let p = check_record("[1]", TODAY).unwrap_err();
    assert_eq!(
        p[0].to_string(),
        "record: must be a JSON object, got a list"
    );
}

#[test]
fn missing_unknown_and_mistyped_fields() {
    let mut v = base();
    remove(&mut v, "/surname");
    assert_eq!(only(&v, "surname"), "is missing; this field is required");
    let mut v = base();
    set(&mut v, "/identity_document/colour", json!("red"));
    only(&v, "identity_document.colour");
    let mut v = base();
    set(&mut v, "/date_of_birth", json!(19900517));
    assert_eq!(
        only(&v, "date_of_birth"),
        "must be a text string, got a number"
    );
    let mut v = base();
    set(
        &mut v,
        "/application/previous_document_number",
        json!("771234567"),
    );
    only(&v, "application.previous_document_number");
}

#[test]
fn name_rules() {
    let mut v = base();
    set(&mut v, "/given_names", json!("ALISHER2"));
    only(&v, "given_names");
    let mut v = base();
    set(&mut v, "/surname", json!("КАРИМОВ"));
    // The MRZ no longer agrees either: two problems, both named.
    let p = problems(&v);
    assert_eq!(p[0].path, "surname");
    assert_eq!(
        p.len(),
        1,
        "a broken surname is not compared with the MRZ: {p:#?}"
    );
    let mut v = base();
    set(&mut v, "/patronymic", json!(""));
    assert_eq!(
        only(&v, "patronymic"),
        "is empty; leave the field out when the holder has no patronymic"
    );
    let mut v = base();
    set(&mut v, "/surname", json!("A".repeat(81)));
    only(&v, "surname");
    let mut v = base();
    set(&mut v, "/name_cyrillic/surname", json!("KARIMOV"));
    only(&v, "name_cyrillic.surname");
    let mut v = base();
    remove(&mut v, "/name_cyrillic/patronymic");
    only(&v, "name_cyrillic.patronymic");
}

#[test]
fn date_rules() {
    let mut v = base();
    set(&mut v, "/date_of_birth", json!("1990-02-30"));
    assert_eq!(
        only(&v, "date_of_birth"),
        "1990-02-30 is not a real calendar date"
    );
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/date_of_birth", json!("2027-01-01"));
    only(&v, "date_of_birth");
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/date_of_birth", json!("1890-01-01"));
    only(&v, "date_of_birth");
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/date_of_birth", json!("2012-11-25"));
    assert_eq!(
        only(&v, "date_of_birth"),
        "the holder is 13 on the application date 2026-11-24; cards are issued from age 14"
    );
    let mut v = base();
    set(&mut v, "/applied_on", json!("2026-11-26"));
    only(&v, "applied_on");
}

#[test]
fn residence_region_is_optional_and_checked_against_iso_3166_2_ru() {
    // Absent or null: accepted, and the record carries None.
    let r = check_record(&base().to_string(), TODAY).unwrap();
    assert_eq!(r.residence_region, None);
    let mut v = base();
    set(&mut v, "/residence_region", json!(null));
    assert_eq!(
        check_record(&v.to_string(), TODAY)
            .unwrap()
            .residence_region,
        None
    );
    // Known codes pass through unchanged.
    for code in ["RU-MOW", "RU-MOS", "RU-KLU", "RU-YEV"] {
        let mut v = base();
        set(&mut v, "/residence_region", json!(code));
        let r = check_record(&v.to_string(), TODAY).unwrap();
        assert_eq!(r.residence_region.as_deref(), Some(code));
    }
    // Unknown, wrong case, missing prefix, wrong type: one problem naming the field.
    let mut v = base();
    set(&mut v, "/residence_region", json!("RU-ZZZ"));
    assert!(only(&v, "residence_region").contains("is not an ISO 3166-2 code of a Russian region"));
    let mut v = base();
    set(&mut v, "/residence_region", json!("UA-43"));
    only(&v, "residence_region");
    let mut v = base();
    set(&mut v, "/residence_region", json!("ru-mow"));
    assert!(only(&v, "residence_region").ends_with("write it in capitals: \"RU-MOW\""));
    let mut v = base();
    set(&mut v, "/residence_region", json!("MOS"));
    assert!(only(&v, "residence_region").ends_with("with the country prefix: \"RU-MOS\""));
    let mut v = base();
    set(&mut v, "/residence_region", json!(77));
    assert!(only(&v, "residence_region").starts_with("must be a text string"));
}

#[test]
fn status_nationality_and_document_rules() {
    let mut v = base();
    set(&mut v, "/residence_status", json!("permanent"));
    only(&v, "residence_status");
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/nationality", json!("uzb"));
    assert!(only(&v, "nationality").ends_with("write it in capitals: \"UZB\""));
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/nationality", json!("UZX"));
    only(&v, "nationality");
    let mut v = base();
    set(&mut v, "/sex", json!("X"));
    // The MRZ says M; the broken sex is not compared.
    only(&v, "sex");
    let mut v = base();
    set(&mut v, "/identity_document/kind", json!("travel_document"));
    only(&v, "identity_document.kind");
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(
        &mut v,
        "/identity_document/date_of_expiry",
        json!("2026-11-23"),
    );
    only(&v, "identity_document.date_of_expiry");
    let mut v = base();
    set(&mut v, "/identity_document/number", json!("fa 1234567"));
    only(&v, "identity_document.number");
    let mut v = base();
    set(&mut v, "/photo", json!({"path": "a.jpg", "base64": "AAAA"}));
    only(&v, "photo");
    let mut v = base();
    set(&mut v, "/signature", json!({"base64": "not base64!"}));
    only(&v, "signature.base64");
}

#[test]
fn mrz_rules() {
    let mut v = base();
    let mut l2 = passport_mrz()[1].clone();
    // Document number check digit: computed 7... replace it with another digit.
    let good = l2.as_bytes()[9];
    let bad = if good == b'3' { '4' } else { '3' };
    l2.replace_range(9..10, &bad.to_string());
    set(&mut v, "/identity_document/mrz/1", json!(l2));
    let m = only(&v, "identity_document.mrz[1]");
    assert_eq!(
        m,
        format!(
            "document number check digit should be {} but is {bad}; re-scan the identity document",
            char::from(good)
        )
    );
    let mut v = base();
    set(&mut v, "/identity_document/mrz/0", json!("P<UZBKARIMOV"));
    only(&v, "identity_document.mrz[0]");
    let mut v = base();
    set(&mut v, "/identity_document/mrz", json!(["x"]));
    only(&v, "identity_document.mrz");

    // Agreement: each field of the record against the MRZ.
    let mut v = base();
    set(&mut v, "/given_names", json!("ALISHEP"));
    set(&mut v, "/name_cyrillic/given_names", json!("АЛИШЕП"));
    only(&v, "identity_document.mrz[0]");
    let mut v = base();
    set(&mut v, "/date_of_birth", json!("1990-05-18"));
    only(&v, "identity_document.mrz[1]");
    let mut v = base();
    set(&mut v, "/sex", json!("F"));
    only(&v, "identity_document.mrz[1]");
    let mut v = base();
    set(&mut v, "/nationality", json!("TJK"));
    only(&v, "identity_document.mrz[1]");
    let mut v = base();
    set(&mut v, "/identity_document/number", json!("FA1234568"));
    only(&v, "identity_document.mrz[1]");
    let mut v = base();
    set(&mut v, "/identity_document/issuing_state", json!("TJK"));
    only(&v, "identity_document.mrz[0]");
}

#[test]
fn replacement_rules_and_late_notification() {
    let mut v = base();
    set(
        &mut v,
        "/application",
        json!({"kind": "replacement", "previous_document_number": "771234567",
               "cause": "lost", "event_date": "2026-11-20"}),
    );
    let r = check_record(&v.to_string(), TODAY).unwrap();
    assert!(matches!(
        r.application,
        Application::Replacement {
            cause: ReplacementCause::Lost,
            ..
        }
    ));
    assert!(!r.late_notification());
    set(&mut v, "/application/event_date", json!("2026-11-17"));
    assert!(
        !check_record(&v.to_string(), TODAY)
            .unwrap()
            .late_notification()
    );
    set(&mut v, "/application/event_date", json!("2026-11-16"));
    assert!(
        check_record(&v.to_string(), TODAY)
            .unwrap()
            .late_notification()
    );

    let mut w = v.clone();
    set(
        &mut w,
        "/application/previous_document_number",
        json!("77123456"),
    );
    only(&w, "application.previous_document_number");
    let mut w = v.clone();
    set(&mut w, "/application/cause", json!("stolen"));
    only(&w, "application.cause");
    let mut w = v.clone();
    set(&mut w, "/application/event_date", json!("2026-11-25"));
    only(&w, "application.event_date");
    let mut w = v.clone();
    set(&mut w, "/application/event_date", json!("2021-11-24"));
    only(&w, "application.event_date");
    let mut w = v.clone();
    set(&mut w, "/application/event_date", json!("2021-11-25"));
    assert!(
        check_record(&w.to_string(), TODAY)
            .unwrap()
            .late_notification()
    );
    let mut w = v.clone();
    set(&mut w, "/application/event_date", json!("2026-13-01"));
    only(&w, "application.event_date");
    let mut w = v.clone();
    set(&mut w, "/application/kind", json!("renewal"));
    only(&w, "application.kind");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut v = base();
    remove(&mut v, "/identity_document/mrz");
    set(&mut v, "/date_of_birth", json!("2014-01-01"));
    set(&mut v, "/surname", json!("KARIM0V"));
    set(&mut v, "/residence_status", json!("permanent"));
    set(&mut v, "/extra", json!(1));
    remove(&mut v, "/photo");
    set(&mut v, "/application/event_date", json!("2026-11-01"));
    let p = problems(&v);
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "extra",
            "surname",
            "residence_status",
            "photo",
            "application.event_date",
            "date_of_birth",
        ]
    );
    assert_eq!(
        p[5].to_string(),
        "date_of_birth: the holder is 12 on the application date 2026-11-24; cards are issued from age 14"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Every leaf path of the base record, as JSON pointers.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }

    fn junk() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,50}".prop_map(Value::from),
            Just(json!([])),
            Just(json!({"a": 1})),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let p = check_record(&s, TODAY).unwrap_err();
            prop_assert!(!p.is_empty());
        }

        #[test]
        fn a_replaced_field_is_reported_at_its_path_or_accepted(i in any::<prop::sample::Index>(), new in junk()) {
            let mut v = base();
            let mut all = Vec::new();
            leaves(&v, String::new(), &mut all);
            let pointer = all[i.index(all.len())].clone();
            set(&mut v, &pointer, new);
            match check_record(&v.to_string(), TODAY) {
                // Deserialization agrees with the walk: what passed is a record.
                Ok(r) => prop_assert_eq!(r.application_id.is_empty(), false),
                Err(problems) => {
                    prop_assert!(!problems.is_empty());
                    // Every path names a real place: a top-level field of the contract or `record`.
                    for p in &problems {
                        let top = p.path.split(['.', '[']).next().unwrap_or_default();
                        prop_assert!(TOP_FIELDS.contains(&top), "{}", p);
                    }
                }
            }
        }
    }
}
