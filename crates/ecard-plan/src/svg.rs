//! The planner's plot: cards a day against lanes, as a small standalone SVG (no script, no
//! external font), so it opens in any browser and can go into a report as it is.

use std::fmt::Write as _;

/// An SVG line chart of `(lanes, cards per day)` points, with the closed-form bound as a dashed
/// line when given, titled `title`.
pub fn cards_per_day_plot(
    title: &str,
    points: &[(u32, u64)],
    bound: Option<&[(u32, f64)]>,
) -> String {
    let (w, h) = (720.0_f64, 420.0_f64);
    let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0);
    let max_x = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let max_y_points = points.iter().map(|p| p.1 as f64).fold(1.0, f64::max);
    let max_y_bound = bound
        .map(|b| b.iter().map(|p| p.1).fold(1.0, f64::max))
        .unwrap_or(1.0);
    let max_y = nice_ceiling(max_y_points.max(max_y_bound));
    let x = |v: f64| left + (w - left - right) * (v - 1.0) / (max_x - 1.0).max(1.0);
    let y = |v: f64| h - bottom - (h - top - bottom) * v / max_y;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        w / 2.0,
        escape(title)
    );
    // Axes, ticks and grid.
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="#333"/>"##,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for i in 0..=5 {
        let v = max_y * f64::from(i) / 5.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            y(v),
            w - right,
            left - 6.0,
            y(v) + 4.0,
            v.round()
        );
    }
    let step = (max_x / 12.0).ceil().max(1.0) as u32;
    for lanes in (1..=max_x as u32).filter(|l| (l - 1) % step == 0) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{lanes}</text>"#,
            x(f64::from(lanes)),
            h - bottom + 18.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">lanes</text><text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">cards per day</text>"#,
        (left + w - right) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    if let Some(bound) = bound {
        let pts: Vec<String> = bound
            .iter()
            .map(|(l, v)| format!("{:.1},{:.1}", x(f64::from(*l)), y(*v)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#999" stroke-dasharray="6 4"/><text x="{}" y="{}" fill="#666" text-anchor="end">slowest stage (closed form)</text>"##,
            pts.join(" "),
            w - right - 4.0,
            top + 14.0
        );
    }
    let pts: Vec<String> = points
        .iter()
        .map(|(l, v)| format!("{:.1},{:.1}", x(f64::from(*l)), y(*v as f64)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1565c0" stroke-width="2"/>"##,
        pts.join(" ")
    );
    for (l, v) in points {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1565c0"><title>{l} lanes: {v} cards/day</title></circle>"##,
            x(f64::from(*l)),
            y(*v as f64)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
