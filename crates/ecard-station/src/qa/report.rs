//! The QA report: inspections counted by lane, by Moscow day and by failed check, plus the
//! numbers spoiled and voided, as CSV, JSON or HTML with an SVG bar chart of defects per lane and
//! day. Pure: it turns rows into text and reads no clock. It shows numbers and counts only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Failure;
use crate::store::{NumberRow, QaResultRow};

/// Counts over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QaReport {
    /// Inspections.
    pub inspected: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// `lane → (inspected, failed)`; `-` when the lane is unknown.
    pub by_lane: BTreeMap<String, (u64, u64)>,
    /// `YYYY-MM-DD (Moscow) → (inspected, failed)`.
    pub by_day: BTreeMap<String, (u64, u64)>,
    /// `(lane, day) → failed`.
    pub defects: BTreeMap<(String, String), u64>,
    /// Failed check name → count.
    pub by_reason: BTreeMap<String, u64>,
    /// Numbers voided (spoiled cards and operator voids) in the store.
    pub voided_numbers: Vec<String>,
}

fn day(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    ecard_model::dates::moscow_date(t).to_string()
}

/// Counts `results`; `numbers` gives the voided ones.
pub fn build(results: &[QaResultRow], numbers: &[NumberRow]) -> QaReport {
    let mut r = QaReport::default();
    for row in results {
        let failed = row.verdict != "pass";
        let lane = row.lane.clone().unwrap_or_else(|| "-".into());
        let d = day(row.at_ms);
        r.inspected += 1;
        let f = u64::from(failed);
        r.failed += f;
        r.passed += 1 - f;
        let e = r.by_lane.entry(lane.clone()).or_default();
        e.0 += 1;
        e.1 += f;
        let e = r.by_day.entry(d.clone()).or_default();
        e.0 += 1;
        e.1 += f;
        if failed {
            *r.defects.entry((lane, d)).or_default() += 1;
            let failures: Vec<Failure> =
                serde_json::from_str(&row.failures_json).unwrap_or_default();
            for fl in failures {
                *r.by_reason.entry(fl.check).or_default() += 1;
            }
        }
    }
    r.voided_numbers = numbers
        .iter()
        .filter(|n| n.status == "voided")
        .map(|n| n.document_number.clone())
        .collect();
    r
}

/// CSV: one `section,key,inspected,failed` line per count.
pub fn csv(r: &QaReport) -> String {
    let mut s = String::from("section,key,inspected,failed\n");
    let _ = writeln!(s, "total,all,{},{}", r.inspected, r.failed);
    for (k, (i, f)) in &r.by_lane {
        let _ = writeln!(s, "lane,{k},{i},{f}");
    }
    for (k, (i, f)) in &r.by_day {
        let _ = writeln!(s, "day,{k},{i},{f}");
    }
    for (k, f) in &r.by_reason {
        let _ = writeln!(s, "reason,{k},,{f}");
    }
    for n in &r.voided_numbers {
        let _ = writeln!(s, "voided,{n},,");
    }
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG bar chart: one bar per (lane, day) with its defect count.
pub fn svg(r: &QaReport) -> String {
    let bars: Vec<(&(String, String), &u64)> = r.defects.iter().collect();
    let max = bars.iter().map(|(_, n)| **n).max().unwrap_or(1).max(1);
    let (bw, gap, h) = (40u64, 20u64, 200u64);
    let width = 60 + (bw + gap) * bars.len() as u64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\"><title>defects by lane and day</title>",
        h + 60
    );
    for (i, ((lane, d), n)) in bars.iter().enumerate() {
        let x = 40 + (bw + gap) * i as u64;
        let bh = h * **n / max;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bw}\" height=\"{bh}\" fill=\"#c0392b\"><title>{} {}: {n}</title></rect><text x=\"{x}\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{x}\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{x}\" y=\"{}\" font-size=\"12\">{n}</text>",
            10 + h - bh,
            esc(lane),
            esc(d),
            h + 25,
            esc(lane),
            h + 40,
            esc(d.get(5..).unwrap_or(d)),
            5 + h - bh,
        );
    }
    s.push_str("</svg>");
    s
}

/// A standalone HTML page: the tables and the chart.
pub fn html(r: &QaReport, from: &str, to: &str) -> String {
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>QA report {f} to {t}</title></head><body><h1>QA report {f} to {t}</h1><p>{} inspected, {} passed, {} failed</p>",
        r.inspected,
        r.passed,
        r.failed,
        f = esc(from),
        t = esc(to)
    );
    let table = |s: &mut String, title: &str, rows: Vec<(String, String, String)>| {
        let _ = write!(
            s,
            "<h2>{title}</h2><table border=\"1\"><tr><th></th><th>inspected</th><th>failed</th></tr>"
        );
        for (k, i, f) in rows {
            let _ = write!(s, "<tr><td>{}</td><td>{i}</td><td>{f}</td></tr>", esc(&k));
        }
        s.push_str("</table>");
    };
    let pairs = |m: &BTreeMap<String, (u64, u64)>| {
        m.iter()
            .map(|(k, (i, f))| (k.clone(), i.to_string(), f.to_string()))
            .collect()
    };
    table(&mut s, "By lane", pairs(&r.by_lane));
    table(&mut s, "By day", pairs(&r.by_day));
    table(
        &mut s,
        "By failed check",
        r.by_reason
            .iter()
            .map(|(k, f)| (k.clone(), String::new(), f.to_string()))
            .collect(),
    );
    let _ = write!(
        s,
        "<h2>Defects by lane and day</h2>{}<h2>Spoiled and voided numbers ({})</h2><p>{}</p></body></html>",
        svg(r),
        r.voided_numbers.len(),
        esc(&r.voided_numbers.join(", "))
    );
    s
}
