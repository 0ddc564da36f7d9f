//! The QA report: inspections counted by lane, by Moscow day and by failed check, plus the
//! numbers spoiled and voided, as CSV, JSON or HTML with an SVG bar chart of defects per lane and
//! day. Pure: it turns rows into text and reads no clock. It shows numbers and counts only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Failure;
use crate::store::QaResultRow;

/// Counts over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Numbers voided in the period because their card was spoiled.
    pub spoiled_numbers: Vec<String>,
    /// Numbers voided in the period by an operator voiding the job.
    pub voided_numbers: Vec<String>,
}

fn day(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    ecard_model::dates::moscow_date(t).to_string()
}

/// Counts `results`; `voided` are the period's voided numbers, `true` when an operator voided
/// the job (see `Store::voided_numbers`).
pub fn build(results: &[QaResultRow], voided: &[(String, bool)]) -> QaReport {
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
    for (n, by_operator) in voided {
        if *by_operator {
            r.voided_numbers.push(n.clone());
        } else {
            r.spoiled_numbers.push(n.clone());
        }
    }
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
    for n in &r.spoiled_numbers {
        let _ = writeln!(s, "spoiled,{n},,");
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
        "<h2>Defects by lane and day</h2>{}<h2>Spoiled numbers ({})</h2><p>{}</p><h2>Voided numbers ({})</h2><p>{}</p></body></html>",
        svg(r),
        r.spoiled_numbers.len(),
        esc(&r.spoiled_numbers.join(", ")),
        r.voided_numbers.len(),
        esc(&r.voided_numbers.join(", "))
    );
    s
}

/// The period from Moscow midnight starting `from` to Moscow midnight ending `to` (both days
/// included), in ms since the Unix epoch.
pub fn day_range_ms(from: time::Date, to: time::Date) -> (i64, i64) {
    let start = |d: time::Date| {
        let t = time::PrimitiveDateTime::new(d, time::Time::MIDNIGHT)
            .assume_offset(ecard_model::dates::MOSCOW_OFFSET);
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    };
    let end = to.next_day().map_or(i64::MAX, start);
    (start(from), end)
}

/// Parses a `YYYY-MM-DD` day.
pub fn parse_day(text: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| format!("{text:?} is not a date YYYY-MM-DD"))
}

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `text/html` with the SVG chart.
    Html,
    /// `text/csv`.
    Csv,
    /// `application/json`.
    Json,
}

impl Format {
    /// `html`, `csv` or `json`.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!("format {text:?} is not one of html, csv, json")),
        }
    }
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// The report in `format`.
pub fn render(r: &QaReport, format: Format, from: &str, to: &str) -> String {
    match format {
        Format::Html => html(r, from, to),
        Format::Csv => csv(r),
        // Maps of strings and counts always serialize; tuple keys are flattened first.
        Format::Json => {
            let defects: Vec<_> = r
                .defects
                .iter()
                .map(|((lane, day), n)| serde_json::json!({"lane": lane, "day": day, "failed": n}))
                .collect();
            serde_json::json!({
                "from": from, "to": to,
                "inspected": r.inspected, "passed": r.passed, "failed": r.failed,
                "by_lane": r.by_lane.iter().map(|(k, (i, f))| (k.clone(), serde_json::json!({"inspected": i, "failed": f}))).collect::<serde_json::Map<_, _>>(),
                "by_day": r.by_day.iter().map(|(k, (i, f))| (k.clone(), serde_json::json!({"inspected": i, "failed": f}))).collect::<serde_json::Map<_, _>>(),
                "by_reason": r.by_reason,
                "defects": defects,
                "spoiled_numbers": r.spoiled_numbers,
                "voided_numbers": r.voided_numbers,
            })
            .to_string()
        }
    }
}
