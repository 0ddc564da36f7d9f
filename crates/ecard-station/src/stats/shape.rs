//! The published shapes of an answer: JSON (API and `ecard stats --json`) and CSV. Only what
//! the pattern publishes leaves here: a suppressed count is `null` with `"suppressed": true` in
//! JSON and `<10` in CSV, never 0 and never the exact number.

use serde_json::{Map, Value, json};

use super::disclosure::Table;
use super::{Request, THRESHOLD};

/// `{"from","to","by":[...],"cells":[{<keys>,"count","suppressed"}],"total"}`.
pub fn to_json(req: &Request, t: &Table) -> Value {
    let cells: Vec<Value> = t
        .cells
        .iter()
        .map(|c| {
            let mut o = Map::new();
            for (d, v) in req.by.iter().zip(&c.keys) {
                o.insert(d.as_str().to_string(), Value::String(v.clone()));
            }
            o.insert(
                "count".into(),
                if c.suppressed {
                    Value::Null
                } else {
                    json!(c.exact)
                },
            );
            o.insert("suppressed".into(), Value::Bool(c.suppressed));
            Value::Object(o)
        })
        .collect();
    json!({
        "from": req.from.to_string(),
        "to": req.to.to_string(),
        "by": req.by.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "cells": cells,
        "total": if t.total_suppressed { Value::Null } else { json!(t.total_exact) },
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The same columns as the JSON cells (`<keys>,count,suppressed`), one row per cell, `<10` for a
/// suppressed count.
pub fn to_csv(req: &Request, t: &Table) -> String {
    let mut out = String::new();
    let header: Vec<&str> = req
        .by
        .iter()
        .map(|d| d.as_str())
        .chain(["count", "suppressed"])
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for c in &t.cells {
        let mut row: Vec<String> = c.keys.iter().map(|k| csv_field(k)).collect();
        row.push(if c.suppressed {
            format!("<{THRESHOLD}")
        } else {
            c.exact.to_string()
        });
        row.push(c.suppressed.to_string());
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::disclosure::{Pattern, atom};

    #[test]
    fn json_and_csv_shapes() {
        let base = |sex: &str, n| {
            atom(
                [
                    "2026-11",
                    "st-1",
                    "RU-MOW",
                    "UZB",
                    "25-34",
                    sex,
                    "first_issue",
                    "none",
                    "false",
                    "issued",
                ],
                n,
            )
        };
        let p = Pattern::build(&[base("M", 25), base("F", 4), base("X", 30)]);
        let req = Request::parse(Some("2026-11"), Some("2026-11"), Some("sex"), None).unwrap();
        let t = p.answer(&req);
        let j = to_json(&req, &t);
        assert_eq!(
            j,
            json!({"from": "2026-11", "to": "2026-11", "by": ["sex"], "cells": [
                {"sex": "F", "count": null, "suppressed": true},
                {"sex": "M", "count": null, "suppressed": true},
                {"sex": "X", "count": 30, "suppressed": false},
            ], "total": 59})
        );
        assert_eq!(
            to_csv(&req, &t),
            "sex,count,suppressed\nF,<10,true\nM,<10,true\nX,30,false\n"
        );
    }
}
