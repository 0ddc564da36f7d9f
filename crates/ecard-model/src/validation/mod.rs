//! Validation of an enrollment record: every rule of ECARD.md section 2, every problem reported in
//! one pass with the JSON path of the field and a sentence a clerk can act on.
//!
//! The record is first read as a JSON tree and walked against the expected shape, so that unknown,
//! missing and mistyped fields are reported together with the rule breaches; only a record with no
//! problem is deserialized into [`EnrollmentRecord`]. Messages may echo the record's own values (they
//! go back to the sender); this module must never log them, and it does not log at all.

use serde::Serialize;
use serde_json::{Map, Value};
use time::Date;

use crate::dates::{age_on, format_date, parse_date};
use crate::enrollment::EnrollmentRecord;
use crate::holder::{check_cyrillic_name, check_latin_name};
use crate::nationality;
use crate::number::DocumentNumber;
use crate::region;

mod identity;
#[cfg(test)]
mod tests;

/// One problem of a record: where (`date_of_birth`, `identity_document.mrz[1]`, ...) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The JSON path of the field; `record` for the document as a whole.
    pub path: String,
    /// What is wrong, in words a clerk can act on (lowercase, no final period).
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The oldest age accepted as real; an older date of birth is a typing error.
pub const MAX_AGE: u32 = 130;
/// The youngest age at which the card is issued (on the application date).
pub const MIN_AGE: u32 = 14;
/// Years a card is valid; a replacement's event cannot be older.
pub const CARD_YEARS: u32 = 5;
/// Days after the event within which a replacement must be requested.
pub const NOTIFICATION_DAYS: i64 = 7;

const TOP_FIELDS: &[&str] = &[
    "application_id",
    "surname",
    "given_names",
    "patronymic",
    "name_cyrillic",
    "date_of_birth",
    "sex",
    "nationality",
    "residence_status",
    "residence_region",
    "identity_document",
    "photo",
    "signature",
    "application",
    "applied_on",
];

/// Checks a record against every rule, with `today` as the current date in Moscow.
///
/// Returns the record when it passed, or every problem found. Whether a replacement was notified
/// late is not a problem: see [`EnrollmentRecord::late_notification`].
pub fn check_record(json: &str, today: Date) -> Result<EnrollmentRecord, Vec<Problem>> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        vec![Problem {
            path: "record".into(),
            message: format!("is not valid JSON ({e}); send the record as one JSON object"),
        }]
    })?;
    let Some(obj) = value.as_object() else {
        return Err(vec![Problem {
            path: "record".into(),
            message: format!("must be a JSON object, got {}", kind(&value)),
        }]);
    };
    let mut w = Walker::default();
    w.unknown_fields(obj, "", TOP_FIELDS);

    if let Some(id) = w.string(obj, "", "application_id", true) {
        check_application_id(&mut w, id);
    }
    let surname = w.latin_name(obj, "", "surname", true);
    let given_names = w.latin_name(obj, "", "given_names", true);
    let patronymic = w.latin_name(obj, "", "patronymic", false);
    let patronymic_given = obj.get("patronymic").is_some_and(|v| !v.is_null());
    w.name_cyrillic(obj, patronymic_given);
    let dob = w.date(obj, "", "date_of_birth", true);
    let sex = w.string(obj, "", "sex", true).filter(|s| {
        let ok = matches!(*s, "M" | "F");
        if !ok {
            w.add("sex", format!("must be \"M\" or \"F\", got {s:?}"));
        }
        ok
    });
    let nat = w.string(obj, "", "nationality", true).filter(|code| {
        w.nationality_code("nationality", code);
        nationality::is_known(code)
    });
    if let Some(status) = w.string(obj, "", "residence_status", true)
        && status != "temporary"
    {
        w.add(
            "residence_status",
            format!(
                "is {status:?}; the card is issued only to temporary residents (\"temporary\")"
            ),
        );
    }
    if let Some(code) = w.string(obj, "", "residence_region", false) {
        w.region_code("residence_region", code);
    }
    w.image(obj, "photo");
    w.image(obj, "signature");
    let applied_on = w.date(obj, "", "applied_on", true);
    let event_date = w.application(obj);

    // Date rules.
    if let Some(a) = applied_on
        && a > today
    {
        w.add(
            "applied_on",
            format!(
                "{} is after today ({}); give the date the application was made",
                format_date(a),
                format_date(today)
            ),
        );
    }
    if let Some(d) = dob {
        if d > today {
            w.add(
                "date_of_birth",
                format!(
                    "{} is in the future (today is {}); check the date of birth",
                    format_date(d),
                    format_date(today)
                ),
            );
        } else if age_on(d, today) > MAX_AGE {
            w.add(
                "date_of_birth",
                format!(
                    "{} would make the holder {} years old; check the year",
                    format_date(d),
                    age_on(d, today)
                ),
            );
        } else if let Some(a) = applied_on {
            let age = age_on(d, a);
            if age < MIN_AGE {
                w.add(
                    "date_of_birth",
                    format!(
                        "the holder is {age} on the application date {}; cards are issued from age {MIN_AGE}",
                        format_date(a)
                    ),
                );
            }
        }
    }
    if let Some(e) = event_date {
        let limit = applied_on.unwrap_or(today);
        if e > limit {
            w.add(
                "application.event_date",
                format!(
                    "{} is after the application date {}; give the day the card was lost, damaged or the details changed",
                    format_date(e),
                    format_date(limit)
                ),
            );
        } else if age_on(e, limit) >= CARD_YEARS {
            // A card lives 5 years: an event before that cannot concern a valid card.
            w.add(
                "application.event_date",
                format!(
                    "{} is {CARD_YEARS} or more years before the application date {}; a card is valid for {CARD_YEARS} years, so check the year",
                    format_date(e),
                    format_date(limit)
                ),
            );
        }
    }
    identity::check(
        &mut w,
        obj,
        &identity::Record {
            surname,
            given_names,
            patronymic,
            date_of_birth: dob,
            sex,
            nationality: nat,
            applied_on,
        },
    );

    if !w.problems.is_empty() {
        return Err(w.problems);
    }
    serde_json::from_value(value).map_err(|e| {
        // Unreachable when the walk above mirrors the types; kept as a problem, not a panic.
        vec![Problem {
            path: "record".into(),
            message: format!("does not fit the record format: {e}"),
        }]
    })
}

fn check_application_id(w: &mut Walker, id: &str) {
    let len = id.chars().count();
    if id.trim().is_empty() {
        w.add("application_id", "is empty; give the MMC application id");
    } else if len > 64 {
        w.add(
            "application_id",
            format!("is {len} characters long; at most 64 are accepted"),
        );
    } else if let Some(c) = id.chars().find(|c| c.is_control()) {
        w.add(
            "application_id",
            format!("contains the control character {c:?}; give the MMC application id"),
        );
    }
}

/// The JSON type of a value, in words.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a text string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Collects problems while walking the JSON tree.
#[derive(Default)]
pub(crate) struct Walker {
    problems: Vec<Problem>,
}

impl Walker {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn unknown_fields(
        &mut self,
        obj: &Map<String, Value>,
        prefix: &str,
        allowed: &[&str],
    ) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.add(
                    join(prefix, key),
                    format!(
                        "is not a field of the {}; expected one of: {}",
                        if prefix.is_empty() { "record" } else { prefix },
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// The value at `key`; a missing or null required field is reported.
    pub(crate) fn get<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Value> {
        match obj.get(key) {
            Some(Value::Null) | None => {
                if required {
                    self.add(join(prefix, key), "is missing; this field is required");
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    pub(crate) fn string<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        match self.get(obj, prefix, key, required)? {
            Value::String(s) => Some(s),
            other => {
                self.add(
                    join(prefix, key),
                    format!("must be a text string, got {}", kind(other)),
                );
                None
            }
        }
    }

    pub(crate) fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match self.get(obj, prefix, key, required)? {
            Value::Object(o) => Some(o),
            other => {
                self.add(
                    join(prefix, key),
                    format!("must be an object, got {}", kind(other)),
                );
                None
            }
        }
    }

    pub(crate) fn date(
        &mut self,
        obj: &Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<Date> {
        let text = self.string(obj, prefix, key, required)?;
        match parse_date(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.add(join(prefix, key), e.to_string());
                None
            }
        }
    }

    fn latin_name<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        let name = self.string(obj, prefix, key, required)?;
        match check_latin_name(name) {
            Ok(()) => Some(name),
            Err(e) => {
                let hint = if key == "patronymic" && name.trim().is_empty() {
                    "; leave the field out when the holder has no patronymic"
                } else {
                    ""
                };
                self.add(join(prefix, key), format!("{e}{hint}"));
                None
            }
        }
    }

    fn name_cyrillic(&mut self, obj: &Map<String, Value>, patronymic_given: bool) {
        let Some(c) = self.object(obj, "", "name_cyrillic", false) else {
            return;
        };
        let prefix = "name_cyrillic";
        self.unknown_fields(c, prefix, &["surname", "given_names", "patronymic"]);
        for (key, required) in [
            ("surname", true),
            ("given_names", true),
            ("patronymic", false),
        ] {
            if let Some(name) = self.string(c, prefix, key, required)
                && let Err(e) = check_cyrillic_name(name)
            {
                self.add(join(prefix, key), e.to_string());
            }
        }
        let cyr_patronymic = c.get("patronymic").is_some_and(|v| !v.is_null());
        if patronymic_given && !cyr_patronymic {
            self.add(
                "name_cyrillic.patronymic",
                "is missing while the Latin patronymic is given; add the patronymic in Cyrillic",
            );
        } else if cyr_patronymic && !patronymic_given {
            self.add(
                "name_cyrillic.patronymic",
                "is given but the Latin patronymic is not; add patronymic as in the identity document or remove this one",
            );
        }
    }

    pub(crate) fn nationality_code(&mut self, path: &str, code: &str) {
        if nationality::is_known(code) {
            return;
        }
        let upper = code.to_uppercase();
        let hint = if upper != code && nationality::is_known(&upper) {
            format!("; write it in capitals: {upper:?}")
        } else {
            "; use the ICAO code (ISO 3166-1 alpha-3, or XXA stateless, XXB/XXC refugee, XXX unspecified)"
                .to_string()
        };
        self.add(
            path,
            format!("{code:?} is not an ICAO nationality code{hint}"),
        );
    }

    fn region_code(&mut self, path: &str, code: &str) {
        if region::is_known(code) {
            return;
        }
        let upper = code.trim().to_uppercase();
        let hint = if region::is_known(&upper) {
            format!("; write it in capitals: {upper:?}")
        } else if region::is_known(&format!("RU-{upper}")) {
            format!("; write it with the country prefix: \"RU-{upper}\"")
        } else {
            "; use the ISO 3166-2:RU code of a Russian federal subject, e.g. \"RU-MOW\" (Moscow) or \"RU-MOS\" (Moscow Oblast), or leave the field out".to_string()
        };
        self.add(
            path,
            format!("{code:?} is not an ISO 3166-2 code of a Russian region{hint}"),
        );
    }

    fn image(&mut self, obj: &Map<String, Value>, key: &str) {
        let Some(img) = self.object(obj, "", key, true) else {
            return;
        };
        self.unknown_fields(img, key, &["path", "base64"]);
        let has = |k: &str| img.contains_key(k);
        if has("path") && has("base64") {
            self.add(key, "gives both path and base64; give one of them");
            return;
        }
        if !has("path") && !has("base64") {
            if img.keys().all(|k| k == "path" || k == "base64") {
                self.add(key, "must be {\"path\": ...} or {\"base64\": ...}");
            }
            return;
        }
        // Exactly one of the two keys is present here; a null value is as good as missing.
        if let Some(p) = self.string(img, key, "path", has("path"))
            && p.trim().is_empty()
        {
            self.add(join(key, "path"), "is empty; give the image file name");
        }
        if let Some(b) = self.string(img, key, "base64", has("base64"))
            && let Err(e) = crate::enrollment::decode_base64(b)
        {
            self.add(join(key, "base64"), e.to_string());
        }
    }

    /// Checks `application`; returns the replacement's event date when valid.
    fn application(&mut self, obj: &Map<String, Value>) -> Option<Date> {
        let app = self.object(obj, "", "application", true)?;
        let prefix = "application";
        let kind = self.string(app, prefix, "kind", true);
        match kind {
            Some("first_issue") => {
                self.unknown_fields(app, prefix, &["kind"]);
                None
            }
            Some("replacement") => {
                self.unknown_fields(
                    app,
                    prefix,
                    &["kind", "previous_document_number", "cause", "event_date"],
                );
                if let Some(n) = self.string(app, prefix, "previous_document_number", true)
                    && n.parse::<DocumentNumber>().is_err()
                {
                    self.add(
                            "application.previous_document_number",
                            format!(
                                "{n:?} is not a card number; give the 9 digits of the previous card, e.g. \"771234567\""
                            ),
                        );
                }
                if let Some(c) = self.string(app, prefix, "cause", true)
                    && !matches!(c, "lost" | "damaged" | "details_changed")
                {
                    self.add(
                            "application.cause",
                            format!(
                                "{c:?} is not a replacement cause; use \"lost\", \"damaged\" or \"details_changed\""
                            ),
                        );
                }
                self.date(app, prefix, "event_date", true)
            }
            Some(other) => {
                self.add(
                    "application.kind",
                    format!("{other:?} is not an application kind; use \"first_issue\" or \"replacement\""),
                );
                None
            }
            None => None,
        }
    }
}
