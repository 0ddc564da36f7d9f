//! Rules for `identity_document`: its fields, its expiry, and, when the TD3 MRZ is given, the MRZ's
//! check digits and its agreement with the record (names, date of birth, sex, nationality, number).
//!
//! Only fields that passed their own checks are compared, so one typing error gives one problem.

use serde_json::{Map, Value};
use time::Date;

use super::{Walker, kind};
use crate::dates::{format_date, mrz_date};
use crate::mrz::{MrzError, Td3, name_field_agrees, transliterate};
use crate::nationality;

/// The record fields the identity document is compared with (`None` where they had problems).
pub(super) struct Record<'a> {
    pub surname: Option<&'a str>,
    pub given_names: Option<&'a str>,
    pub patronymic: Option<&'a str>,
    pub date_of_birth: Option<Date>,
    pub sex: Option<&'a str>,
    pub nationality: Option<&'a str>,
    pub applied_on: Option<Date>,
}

const FIELDS: &[&str] = &["kind", "number", "issuing_state", "date_of_expiry", "mrz"];
const P: &str = "identity_document";
const RESCAN: &str = "re-scan the identity document";

pub(super) fn check(w: &mut Walker, obj: &Map<String, Value>, rec: &Record<'_>) {
    let Some(doc) = w.object(obj, "", P, true) else {
        return;
    };
    w.unknown_fields(doc, P, FIELDS);
    if let Some(k) = w.string(doc, P, "kind", true) {
        match k {
            "passport" | "stateless_person_document" => {}
            "travel_document" => w.add(
                "identity_document.kind",
                "\"travel_document\" is not a kind; enroll a Convention travel document as \"stateless_person_document\"",
            ),
            other => w.add(
                "identity_document.kind",
                format!("{other:?} is not a kind; use \"passport\" or \"stateless_person_document\""),
            ),
        }
    }
    let number = w.string(doc, P, "number", true).filter(|n| {
        let ok = !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            w.add(
                "identity_document.number",
                format!("{n:?} must be 1 to 20 capital letters A-Z and digits, as printed in the document (no spaces)"),
            );
        }
        ok
    });
    let issuing_state = w.string(doc, P, "issuing_state", true).filter(|s| {
        let ok = nationality::is_known(s);
        if !ok {
            w.nationality_code("identity_document.issuing_state", s);
        }
        ok
    });
    let expiry = w.date(doc, P, "date_of_expiry", true);
    if let (Some(e), Some(a)) = (expiry, rec.applied_on)
        && e < a
    {
        w.add(
                "identity_document.date_of_expiry",
                format!(
                    "the identity document expired on {}, before the application date {}; the holder must bring a valid one",
                    format_date(e),
                    format_date(a)
                ),
            );
    }
    let Some(mrz) = w.get(doc, P, "mrz", false) else {
        return;
    };
    let Some(td3) = parse_mrz(w, mrz) else {
        return;
    };
    agree(w, &td3, rec, number, issuing_state, expiry);
}

/// Checks the shape of `mrz` and parses it; problems go to `mrz`, `mrz[0]` or `mrz[1]`.
fn parse_mrz(w: &mut Walker, mrz: &Value) -> Option<Td3> {
    let path = "identity_document.mrz";
    let Value::Array(lines) = mrz else {
        w.add(
            path,
            format!("must be a list of the 2 MRZ lines, got {}", kind(mrz)),
        );
        return None;
    };
    if lines.len() != 2 {
        w.add(
            path,
            format!(
                "must be the 2 lines of a passport MRZ (TD3), got {} lines",
                lines.len()
            ),
        );
        return None;
    }
    let mut ok = true;
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        match line {
            Value::String(s) if s.chars().count() == 44 => text.push_str(s),
            Value::String(s) => {
                ok = false;
                w.add(
                    format!("{path}[{i}]"),
                    format!("must be 44 characters, got {}; {RESCAN}", s.chars().count()),
                );
            }
            other => {
                ok = false;
                w.add(
                    format!("{path}[{i}]"),
                    format!("must be a text string, got {}", kind(other)),
                );
            }
        }
    }
    if !ok {
        return None;
    }
    match Td3::parse(&text) {
        Ok(td3) => Some(td3),
        Err(e) => {
            let line = match &e {
                MrzError::Charset { line, .. } => line - 1,
                MrzError::Field {
                    field: "document code",
                    ..
                } => 0,
                _ => 1,
            };
            w.add(format!("{path}[{line}]"), format!("{e}; {RESCAN}"));
            None
        }
    }
}

fn agree(
    w: &mut Walker,
    td3: &Td3,
    rec: &Record<'_>,
    number: Option<&str>,
    issuing_state: Option<&str>,
    expiry: Option<Date>,
) {
    let l0 = "identity_document.mrz[0]";
    let l1 = "identity_document.mrz[1]";
    let fix = "correct the record or re-scan the identity document";
    if let (Some(s), Some(g)) = (rec.surname, rec.given_names) {
        let primary = transliterate(s).unwrap_or_default();
        let given = transliterate(g).unwrap_or_default();
        let mut candidates = vec![given.clone()];
        if let Some(p) = rec.patronymic {
            candidates.push(format!("{given}<{}", transliterate(p).unwrap_or_default()));
        }
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        if !name_field_agrees(&td3.name_field, &primary, &refs) {
            w.add(
                l0,
                format!(
                    "the name in the MRZ ({}<<{}) does not match the record ({}<<{}); {fix}",
                    td3.primary_identifier,
                    td3.secondary_identifier,
                    primary,
                    candidates.last().map(String::as_str).unwrap_or_default()
                ),
            );
        }
    }
    if let Some(state) = issuing_state
        && !nationality::same_state(&td3.issuing_state, state)
    {
        w.add(
                l0,
                format!(
                    "issuing state in the MRZ is {} but identity_document.issuing_state is {state}; {fix}",
                    td3.issuing_state
                ),
            );
    }
    if let Some(n) = number
        && td3.document_number != n
    {
        w.add(
            l1,
            format!(
                "document number in the MRZ is {} but identity_document.number is {n}; {fix}",
                td3.document_number
            ),
        );
    }
    if let Some(d) = rec.date_of_birth
        && td3.date_of_birth != mrz_date(d)
    {
        w.add(
            l1,
            format!(
                "date of birth in the MRZ is {} (YYMMDD) but date_of_birth is {}; {fix}",
                td3.date_of_birth,
                format_date(d)
            ),
        );
    }
    if let Some(s) = rec.sex
        && td3.sex.to_string() != s
    {
        w.add(
            l1,
            format!("sex in the MRZ is {} but sex is {s}; {fix}", td3.sex),
        );
    }
    if let Some(n) = rec.nationality
        && !nationality::same_state(&td3.nationality, n)
    {
        w.add(
            l1,
            format!(
                "nationality in the MRZ is {} but nationality is {n}; {fix}",
                td3.nationality
            ),
        );
    }
    if let Some(e) = expiry
        && td3.date_of_expiry != mrz_date(e)
    {
        w.add(
                l1,
                format!(
                    "date of expiry in the MRZ is {} (YYMMDD) but identity_document.date_of_expiry is {}; {fix}",
                    td3.date_of_expiry,
                    format_date(e)
                ),
            );
    }
}
