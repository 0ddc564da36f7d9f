//! Calendar rules of the scheme: the Moscow date of issue, the 5-year expiry, ages, and the strict
//! `YYYY-MM-DD` form of the enrollment record.
//!
//! No clock is read here: every function takes the instant or day it reasons about.

use time::{Date, Month, OffsetDateTime, UtcOffset};

/// Europe/Moscow as a fixed offset: UTC+3 all year. Russia abolished daylight saving time in 2011
/// and Moscow has stayed on UTC+3 since 26 October 2014, so no time-zone database is needed.
pub const MOSCOW_OFFSET: UtcOffset = match UtcOffset::from_hms(3, 0, 0) {
    Ok(offset) => offset,
    // Unreachable: 3 hours is inside the ±25 h range `from_hms` accepts; a const cannot `expect`.
    Err(_) => UtcOffset::UTC,
};

/// The calendar date in Moscow at instant `t` (the date of issue of a card personalized at `t`).
pub fn moscow_date(t: OffsetDateTime) -> Date {
    t.to_offset(MOSCOW_OFFSET).date()
}

/// The date of expiry of a card issued on `issue`: the same calendar day 5 years later, with
/// 29 February becoming 28 February when the later year is not a leap year.
pub fn expiry_for(issue: Date) -> Date {
    let year = issue.year() + 5;
    Date::from_calendar_date(year, issue.month(), issue.day())
        .or_else(|_| Date::from_calendar_date(year, issue.month(), issue.day() - 1))
        // Only 29 February can be missing in another year, and 28 February always exists; a year
        // 5 past a valid `Date` could only overflow at year 9995+, which no card reaches.
        .unwrap_or(issue)
}

/// Completed years of age on `day` of a person born on `dob` (0 when `day` is before `dob`).
/// A person born on 29 February becomes a year older on 1 March in common years.
pub fn age_on(dob: Date, day: Date) -> u32 {
    if day < dob {
        return 0;
    }
    let mut years = day.year() - dob.year();
    if (day.month() as u8, day.day()) < (dob.month() as u8, dob.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Why a text is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// Not of the form `YYYY-MM-DD` with digits.
    #[error("{got:?} is not a date of the form YYYY-MM-DD")]
    Form {
        /// The text given.
        got: String,
    },
    /// Of the right form, but no such day exists (month 13, 30 February, ...).
    #[error("{got} is not a real calendar date")]
    NotReal {
        /// The text given.
        got: String,
    },
}

/// Parses a strict `YYYY-MM-DD` date (four-digit year, two-digit month and day).
pub fn parse_date(text: &str) -> Result<Date, DateError> {
    let form = || DateError::Form {
        got: text.to_string(),
    };
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(form());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
        let s = &b[r];
        if !s.iter().all(u8::is_ascii_digit) {
            return Err(form());
        }
        Ok(s.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let not_real = || DateError::NotReal {
        got: text.to_string(),
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(not_real)?;
    // y < 10000 and d < 100 by the digit counts above, so the conversions cannot fail.
    let (y, d) = (
        i32::try_from(y).map_err(|_| form())?,
        u8::try_from(d).map_err(|_| form())?,
    );
    Date::from_calendar_date(y, month, d).map_err(|_| not_real())
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// Formats a date as the MRZ's `YYMMDD`.
pub fn mrz_date(d: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        d.year().rem_euclid(100),
        d.month() as u8,
        d.day()
    )
}

/// Serde for `Date` as `YYYY-MM-DD` (`#[serde(with = "ecard_model::dates::iso_date")]`).
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// Writes `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_date(*d))
    }

    /// Reads a strict `YYYY-MM-DD`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_date(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn moscow_is_utc_plus_three() {
        assert_eq!(
            moscow_date(datetime!(2026-11-24 20:59:59 UTC)),
            date!(2026 - 11 - 24)
        );
        assert_eq!(
            moscow_date(datetime!(2026-11-24 21:00:00 UTC)),
            date!(2026 - 11 - 25)
        );
        // Summer: no DST, still +3.
        assert_eq!(
            moscow_date(datetime!(2026-07-01 21:00:00 UTC)),
            date!(2026 - 07 - 02)
        );
    }

    #[test]
    fn expiry_is_five_years_and_leap_day_becomes_28_february() {
        assert_eq!(expiry_for(date!(2026 - 11 - 25)), date!(2031 - 11 - 25));
        assert_eq!(expiry_for(date!(2028 - 02 - 29)), date!(2033 - 02 - 28));
        assert_eq!(expiry_for(date!(2027 - 02 - 28)), date!(2032 - 02 - 28));
    }

    #[test]
    fn ages() {
        assert_eq!(age_on(date!(2012 - 11 - 25), date!(2026 - 11 - 24)), 13);
        assert_eq!(age_on(date!(2012 - 11 - 25), date!(2026 - 11 - 25)), 14);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2022 - 02 - 28)), 13);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2022 - 03 - 01)), 14);
        assert_eq!(age_on(date!(2030 - 01 - 01), date!(2026 - 01 - 01)), 0);
    }

    #[test]
    fn strict_dates() {
        assert_eq!(parse_date("2026-02-28"), Ok(date!(2026 - 02 - 28)));
        assert_eq!(
            parse_date("2026-02-30"),
            Err(DateError::NotReal {
                got: "2026-02-30".into()
            })
        );
        assert_eq!(
            parse_date("2026-13-01"),
            Err(DateError::NotReal {
                got: "2026-13-01".into()
            })
        );
        assert_eq!(
            parse_date("26-1-1"),
            Err(DateError::Form {
                got: "26-1-1".into()
            })
        );
        assert_eq!(mrz_date(date!(1974 - 08 - 12)), "740812");
        assert_eq!(format_date(date!(0999 - 01 - 02)), "0999-01-02");
    }
}
