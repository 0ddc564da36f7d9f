//! The blank-card stock ledger (ECARD.md section 11): every blank from the card maker's manifest
//! to its end (`issued`, `spoiled` with a reason, or `destroyed`), so that a missing or doubly
//! used blank is seen.
//!
//! This module holds what needs no database: the manifest's parsing (every bad line named at once,
//! nothing imported from a bad file) and the report's shape. The rows and their transitions live
//! in [`crate::store::stock`], in the same transactions as the rest of the store.

use serde::Serialize;

pub mod cli;

/// One line of a card maker's manifest: `serial,batch,key_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestLine {
    /// The card's serial as the maker prints it and the card reports it (hex, upper case).
    pub serial: String,
    /// The production batch.
    pub batch: String,
    /// The transport key version (the KMC's) the blank was made with.
    pub key_version: u8,
}

/// A manifest line that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineProblem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and what was expected.
    pub problem: String,
}

/// Most lines one manifest may hold.
pub const MAX_LINES: usize = 1_000_000;

/// Parses a manifest (CSV, `serial,batch,key_version`, an optional header line starting with
/// `serial`, `#` comments and blank lines ignored). Returns every line's problem, or none and the
/// lines: a manifest is taken whole or not at all.
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestLine>, Vec<LineProblem>> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if n == 1 && line.to_ascii_lowercase().starts_with("serial") {
            continue;
        }
        if lines.len() + problems.len() >= MAX_LINES {
            problems.push(LineProblem {
                line: n,
                problem: format!("more than {MAX_LINES} lines; split the manifest"),
            });
            break;
        }
        let mut bad = |problem: String| problems.push(LineProblem { line: n, problem });
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 3 {
            bad(format!(
                "{} fields; expected 3: serial,batch,key_version",
                fields.len()
            ));
            continue;
        }
        let serial = fields[0].to_ascii_uppercase();
        if serial.is_empty()
            || serial.len() > 40
            || !serial.len().is_multiple_of(2)
            || !serial.bytes().all(|b| b.is_ascii_hexdigit())
        {
            bad(format!(
                "serial {:?} is not hex (an even number of 0-9 A-F, at most 40)",
                truncate(fields[0])
            ));
            continue;
        }
        let batch = fields[1];
        if batch.is_empty()
            || batch.len() > 64
            || !batch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        {
            bad(format!(
                "batch {:?} must be 1-64 letters, digits, - _ . /",
                truncate(batch)
            ));
            continue;
        }
        let Ok(key_version) = fields[2].parse::<u8>() else {
            bad(format!(
                "key_version {:?} is not a number from 0 to 255",
                truncate(fields[2])
            ));
            continue;
        };
        if let Some(first) = seen.insert(serial.clone(), n) {
            bad(format!("serial {serial} is already on line {first}"));
            continue;
        }
        lines.push(ManifestLine {
            serial,
            batch: batch.to_string(),
            key_version,
        });
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One batch's (or day's) counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Blanks received (imported).
    pub received: i64,
    /// Blanks that became issued cards.
    pub issued: i64,
    /// Blanks spoiled in production, by reason.
    pub spoiled: std::collections::BTreeMap<String, i64>,
    /// Blanks destroyed (blocked keys, unknown blanks put aside, damaged in the vault).
    pub destroyed: i64,
    /// Blanks on a lane right now.
    pub in_use: i64,
    /// Blanks received and not yet used.
    pub in_stock: i64,
}

/// A serial that does not add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// The serial.
    pub serial: String,
    /// `seen_never_received`, `used_twice` or `missing_at_count`.
    pub kind: &'static str,
    /// What was seen, where and when (no personal data).
    pub detail: String,
}

/// The stock report (`ecard stock report`, `GET /api/v1/stock`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Counts over everything.
    pub total: Counts,
    /// Counts per batch.
    pub by_batch: std::collections::BTreeMap<String, Counts>,
    /// Events per day (Moscow date): received, issued, spoiled, destroyed.
    pub by_day: std::collections::BTreeMap<String, Counts>,
    /// Every serial that does not reconcile.
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    /// Whether every blank is accounted for: received = issued + spoiled + destroyed + in use +
    /// in stock, and no discrepancy.
    pub fn reconciles(&self) -> bool {
        let t = &self.total;
        let spoiled: i64 = t.spoiled.values().sum();
        self.discrepancies.is_empty()
            && t.received == t.issued + spoiled + t.destroyed + t.in_use + t.in_stock
    }
}

/// The report as text for `ecard stock report`.
pub fn text_report(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let line = |s: &mut String, name: &str, c: &Counts| {
        let spoiled: i64 = c.spoiled.values().sum();
        let reasons: Vec<String> = c.spoiled.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            s,
            "{name:<24} received {:>6}  issued {:>6}  spoiled {:>5}{}  destroyed {:>5}  on a lane {:>3}  in stock {:>6}",
            c.received,
            c.issued,
            spoiled,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            },
            c.destroyed,
            c.in_use,
            c.in_stock
        );
    };
    line(&mut s, "all batches", &r.total);
    for (batch, c) in &r.by_batch {
        line(&mut s, &format!("batch {batch}"), c);
    }
    for (day, c) in &r.by_day {
        line(&mut s, &format!("day {day}"), c);
    }
    if r.discrepancies.is_empty() {
        let _ = writeln!(s, "every blank reconciles");
    } else {
        let _ = writeln!(s, "{} serial(s) do not reconcile:", r.discrepancies.len());
        for d in &r.discrepancies {
            let _ = writeln!(s, "  {} {}: {}", d.serial, d.kind, d.detail);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_manifest_with_header_and_comments() {
        let m = parse_manifest(
            "serial,batch,key_version\n# batch of 2026-12\n0011223344556677889A,B-2026-12,1\n\n0011223344556677889b , B-2026-12 , 1\n",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].serial, "0011223344556677889B");
        assert_eq!(m[1].batch, "B-2026-12");
        assert_eq!(m[1].key_version, 1);
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_taken() {
        let problems =
            parse_manifest("00AA,B1,1\nZZ11,B1,1\n00AA,B1,1\n00BB,B 1,1\n00CC,B1,300\n00DD,B1\n")
                .unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6]);
        assert!(problems[0].problem.contains("not hex"));
        assert!(problems[1].problem.contains("already on line 1"));
        assert!(problems[2].problem.contains("batch"));
        assert!(problems[3].problem.contains("key_version"));
        assert!(problems[4].problem.contains("2 fields"));
    }
}
