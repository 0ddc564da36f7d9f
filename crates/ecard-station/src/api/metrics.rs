//! `GET /metrics`: Prometheus text exposition (version 0.0.4), written by hand: a few gauges
//! and counters do not need a metrics library.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::job::ALL_STATES;
use crate::server::Station;

pub(super) async fn metrics(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&station, &headers, &[Role::Qa, Role::Operator])?;
    let counts = station.db(|s| s.counts()).await?;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP ecard_jobs Jobs in each state, in the store.");
    let _ = writeln!(out, "# TYPE ecard_jobs gauge");
    for s in ALL_STATES {
        let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "ecard_jobs{{state=\"{s}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP ecard_transitions_total Transitions into each state made by this process."
    );
    let _ = writeln!(out, "# TYPE ecard_transitions_total counter");
    for (s, n) in station.transitions() {
        let _ = writeln!(out, "ecard_transitions_total{{state=\"{s}\"}} {n}");
    }
    let lanes = station.lane_statuses();
    let _ = writeln!(
        out,
        "# HELP ecard_lane_cards_total Cards issued and spoiled by each lane since start."
    );
    let _ = writeln!(out, "# TYPE ecard_lane_cards_total counter");
    for l in &lanes {
        let _ = writeln!(
            out,
            "ecard_lane_cards_total{{lane=\"{}\",outcome=\"issued\"}} {}",
            l.name, l.issued
        );
        let _ = writeln!(
            out,
            "ecard_lane_cards_total{{lane=\"{}\",outcome=\"spoiled\"}} {}",
            l.name, l.spoiled
        );
    }
    // Issue 16: how long the Document Signer may still sign (a warning from 14 days).
    let now = time::OffsetDateTime::now_utc();
    if let Some(days) = station.status_signer().and_then(|p| p.ds_days_left(now)) {
        let _ = writeln!(
            out,
            "# HELP ecard_ds_signing_days_left Days until the Document Signer's private-key usage period ends; rotate (ecard pki rotate-ds) before 0."
        );
        let _ = writeln!(out, "# TYPE ecard_ds_signing_days_left gauge");
        let _ = writeln!(out, "ecard_ds_signing_days_left {days}");
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
