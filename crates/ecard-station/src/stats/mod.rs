//! Population statistics (ECARD.md section 13): what an analyst may ask, and the disclosure
//! control that decides which counts are published.
//!
//! The store keeps one de-identified fact row per card issued or spoiled (`store/stats.rs`). A
//! request names a period (`from`..`to`, whole months), up to [`MAX_KEYS`] dimensions to group
//! by, and filters `dimension:value`. This module is pure: it parses requests, builds the
//! suppression pattern of a period from its counts ([`disclosure`]), and shapes the answer as JSON
//! or CSV ([`shape`]). It reads no clock, no file and no database, and it never sees a person:
//! only counts of fact rows.
//!
//! # The disclosure rule
//!
//! Every request for a period is answered from ONE suppression pattern, computed over the whole
//! lattice of tables an analyst can request for that period: the grand total and every table
//! that crosses 1, 2 or 3 of the [`Dim`]s (a filter counts as a grouping: `by=sex&filter=
//! nationality:UZB` is a slice of the table `nationality x sex`). So two requests with different
//! groupings over the same period never see two different patterns. The pattern is:
//!
//! 1. **primary**: every cell counting 1 to 9 fact rows is suppressed;
//! 2. **complementary**, repeated until nothing changes: for every cell `c` of a table `T(R)`
//!    and every further dimension `d`, the cells of `T(R + d)` that add up to `c` (its *line*):
//!    - if `c` is published and exactly one cell of its line is suppressed, a second one is
//!      suppressed (the smallest published one; `c` itself when the line has no other cell), so
//!      `c` minus the published cells of the line gives only a sum of two or more unknowns;
//!    - if `c` is suppressed and every cell of its line is published, the smallest one is
//!      suppressed, so `c` cannot be recomputed by adding up a finer table.
//!
//! Why that defeats differencing: a published total, whether it is a row or column total of
//! the same answer, or a cell of a coarser table asked for in another request (`by=nationality`
//! then `by=nationality,sex`), or a cell of a finer one (`by=nationality,sex,age_band` to rebuild
//! a suppressed `nationality x sex` cell), is always the sum of one line of the lattice; the
//! pattern holds for every line of every table at once, so subtracting the published cells of a
//! line from its published total always leaves two or more suppressed cells, and adding up a
//! finer table never rebuilds a suppressed cell. `disclosure::tests` runs these attacks.
//!
//! Limits, said plainly: the guarantee is about one period. Two overlapping periods (January to
//! March, then January to February) are two lattices; an analyst who differences them acts on
//! months, and the month is itself a dimension here, so ask for `by=month` rather than
//! overlapping periods (the console does). Lines are checked one at a time: a pattern can in
//! theory be attacked by solving many lines of a 3-dimensional table together (linear
//! programming over the whole table); the rule does not claim to stop that. And a pattern is
//! of the facts present when it is built: a period that still gains facts (the current month)
//! gets a new pattern after each card, and two answers taken before and after one card differ
//! by that card; publish closed months.
//!
//! Cost: the first query of a period with 500,000 facts (92,000 combinations) reads the period's
//! cube rows and builds its pattern in about 0.14-0.25 s on SQLite or PostgreSQL on a loaded
//! 2-core machine (it was 0.36-0.82 s before the covering index, the packed read and the merged
//! counting); then queries of that period answer from the store's cache in a few milliseconds
//! until the next fact is written. The store keeps each month's cube rows too, so the first
//! query after one more card reads only that card's month and builds the pattern again: about
//! 70-115 ms (`docs/bench-stats.md`).

pub mod disclosure;
pub mod shape;

use std::collections::BTreeMap;

/// At most this many dimensions per request, groupings and filters together.
pub const MAX_KEYS: usize = 3;
/// The smallest count published.
pub const THRESHOLD: u64 = 10;
/// The longest period, in months.
pub const MAX_MONTHS: i64 = 120;

/// What a fact row records and a request may group or filter by, in the order of the fact
/// table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// Month of issue in Moscow, `YYYY-MM`.
    Month,
    /// The station that issued (or spoiled) the card.
    Station,
    /// Region of residence, ISO 3166-2:RU, or `unknown`.
    Region,
    /// Nationality, ICAO code.
    Nationality,
    /// Age on the day of issue: `14-17`, `18-24`, ..., `65+`.
    AgeBand,
    /// `M` or `F`.
    Sex,
    /// `first_issue` or `replacement`.
    Kind,
    /// Replacement cause, or `none` for a first issue.
    Cause,
    /// Late notification of a replacement: `true` or `false`.
    Late,
    /// `issued` or `spoiled`.
    Outcome,
}

/// Every dimension, in column order.
pub const DIMS: [Dim; 10] = [
    Dim::Month,
    Dim::Station,
    Dim::Region,
    Dim::Nationality,
    Dim::AgeBand,
    Dim::Sex,
    Dim::Kind,
    Dim::Cause,
    Dim::Late,
    Dim::Outcome,
];

impl Dim {
    /// The name in requests, JSON, CSV and the fact table.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Month => "month",
            Dim::Station => "station",
            Dim::Region => "region",
            Dim::Nationality => "nationality",
            Dim::AgeBand => "age_band",
            Dim::Sex => "sex",
            Dim::Kind => "kind",
            Dim::Cause => "cause",
            Dim::Late => "late_notification",
            Dim::Outcome => "outcome",
        }
    }

    /// The dimension of a name.
    pub fn parse(name: &str) -> Option<Dim> {
        DIMS.into_iter().find(|d| d.as_str() == name)
    }

    /// Index in [`DIMS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The names of every dimension, for error messages.
fn dim_list() -> String {
    DIMS.map(Dim::as_str).join(", ")
}

/// The age bands of ECARD.md section 13 (cards are issued from 14).
pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => "14-17",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
}

/// A month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month: u8 = m.parse().ok()?;
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// Months from `self` to `later`, both counted (1 for the same month).
    pub fn span_to(self, later: Month) -> i64 {
        (i64::from(later.year) - i64::from(self.year)) * 12 + i64::from(later.month)
            - i64::from(self.month)
            + 1
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One statistics request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// First month of the period.
    pub from: Month,
    /// Last month of the period (included).
    pub to: Month,
    /// Dimensions to group by, in the order asked.
    pub by: Vec<Dim>,
    /// Filters: dimension and the value it must have.
    pub filter: BTreeMap<Dim, String>,
}

/// A request an analyst must correct; names the parameter and says what to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct BadRequest {
    /// `from`, `to`, `by` or `filter`.
    pub parameter: &'static str,
    /// What is wrong and what to send instead.
    pub message: String,
}

fn bad(parameter: &'static str, message: String) -> BadRequest {
    BadRequest { parameter, message }
}

impl Request {
    /// Checks the parameters of `GET /api/v1/statistics` (and `ecard stats`): `by` is a comma
    /// list, `filter` a comma list of `dimension:value`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        by: Option<&str>,
        filter: Option<&str>,
    ) -> Result<Request, BadRequest> {
        let month = |name: &'static str, v: Option<&str>| -> Result<Month, BadRequest> {
            let v = v.ok_or_else(|| {
                bad(
                    name,
                    "is missing; give a month as YYYY-MM, e.g. 2026-11".into(),
                )
            })?;
            Month::parse(v.trim()).ok_or_else(|| {
                bad(
                    name,
                    format!("{v:?} is not a month; give it as YYYY-MM, e.g. 2026-11"),
                )
            })
        };
        let from = month("from", from)?;
        let to = month("to", to)?;
        if from > to {
            return Err(bad(
                "from",
                format!("{from} is after to {to}; give the earlier month as from"),
            ));
        }
        let span = from.span_to(to);
        if span > MAX_MONTHS {
            return Err(bad(
                "to",
                format!(
                    "the period {from} to {to} spans {span} months; at most {MAX_MONTHS} (10 years) are answered at once"
                ),
            ));
        }
        let mut dims = Vec::new();
        for name in by.unwrap_or_default().split(',').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let d = Dim::parse(name).ok_or_else(|| {
                bad(
                    "by",
                    format!("unknown grouping {name:?}; group by {}", dim_list()),
                )
            })?;
            if dims.contains(&d) {
                return Err(bad("by", format!("{name:?} is given twice")));
            }
            dims.push(d);
        }
        let mut filters = BTreeMap::new();
        for item in filter.unwrap_or_default().split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let Some((k, v)) = item.split_once(':') else {
                return Err(bad(
                    "filter",
                    format!("{item:?} is not dimension:value; e.g. filter=sex:F"),
                ));
            };
            let d = Dim::parse(k.trim()).ok_or_else(|| {
                bad(
                    "filter",
                    format!("unknown filter {:?}; filter by {}", k.trim(), dim_list()),
                )
            })?;
            if dims.contains(&d) {
                return Err(bad(
                    "filter",
                    format!(
                        "{:?} is also a grouping; group by it or filter by it, not both",
                        d.as_str()
                    ),
                ));
            }
            if v.trim().is_empty() || filters.insert(d, v.trim().to_string()).is_some() {
                return Err(bad(
                    "filter",
                    format!("{:?} needs exactly one non-empty value", d.as_str()),
                ));
            }
        }
        if dims.len() + filters.len() > MAX_KEYS {
            return Err(bad(
                "by",
                format!(
                    "{} groupings and {} filters cross {} dimensions; at most {MAX_KEYS} at once (filters count)",
                    dims.len(),
                    filters.len(),
                    dims.len() + filters.len()
                ),
            ));
        }
        Ok(Request {
            from,
            to,
            by: dims,
            filter: filters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(from: &str, to: &str, by: &str, filter: &str) -> Result<Request, BadRequest> {
        Request::parse(Some(from), Some(to), Some(by), Some(filter))
    }

    #[test]
    fn bad_input_names_the_parameter() {
        let r = p("2026-01", "2026-12", "nationality,age_band,sex", "").unwrap();
        assert_eq!(r.by, vec![Dim::Nationality, Dim::AgeBand, Dim::Sex]);
        assert_eq!(
            p("2026-1", "2026-12", "", "").unwrap_err().parameter,
            "from"
        );
        assert_eq!(p("2026-01", "2026-13", "", "").unwrap_err().parameter, "to");
        assert_eq!(
            p("2026-05", "2026-04", "", "").unwrap_err().parameter,
            "from"
        );
        let e = p("2016-01", "2026-01", "", "").unwrap_err();
        assert_eq!(e.parameter, "to");
        assert!(e.message.contains("121 months"), "{e}");
        assert!(p("2016-02", "2026-01", "", "").is_ok());
        assert_eq!(
            p("2026-01", "2026-01", "height", "").unwrap_err().parameter,
            "by"
        );
        assert_eq!(
            p("2026-01", "2026-01", "sex,sex", "")
                .unwrap_err()
                .parameter,
            "by"
        );
        let e = p("2026-01", "2026-01", "sex,region,kind,cause", "").unwrap_err();
        assert_eq!(e.parameter, "by");
        assert_eq!(
            p(
                "2026-01",
                "2026-01",
                "sex,region",
                "kind:replacement,cause:lost"
            )
            .unwrap_err()
            .parameter,
            "by"
        );
        assert_eq!(
            p("2026-01", "2026-01", "sex", "eyes:blue")
                .unwrap_err()
                .parameter,
            "filter"
        );
        assert_eq!(
            p("2026-01", "2026-01", "sex", "sex:F")
                .unwrap_err()
                .parameter,
            "filter"
        );
        assert_eq!(
            p("2026-01", "2026-01", "sex", "nationality")
                .unwrap_err()
                .parameter,
            "filter"
        );
        let r = p("2026-01", "2026-01", "sex", "nationality:UZB").unwrap();
        assert_eq!(
            r.filter.get(&Dim::Nationality).map(String::as_str),
            Some("UZB")
        );
        assert_eq!(
            Request::parse(None, Some("2026-01"), None, None)
                .unwrap_err()
                .parameter,
            "from"
        );
    }

    #[test]
    fn age_bands_follow_the_spec() {
        assert_eq!(age_band(14), "14-17");
        assert_eq!(age_band(17), "14-17");
        assert_eq!(age_band(18), "18-24");
        assert_eq!(age_band(34), "25-34");
        assert_eq!(age_band(64), "55-64");
        assert_eq!(age_band(65), "65+");
    }
}
