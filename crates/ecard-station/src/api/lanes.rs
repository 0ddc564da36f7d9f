//! `GET /lanes`: what each lane of this station is doing, and the leases of every station.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::lane::LaneStatus;
use crate::server::Station;

#[derive(Serialize)]
pub(super) struct Lanes {
    station: String,
    lanes: Vec<LaneStatus>,
    leases: Vec<Lease>,
}

#[derive(Serialize)]
struct Lease {
    station: String,
    lane: String,
    until: String,
}

pub(super) async fn list(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Json<Lanes>, ApiError> {
    authorize(&station, &headers, &[Role::Operator])?;
    let leases = station
        .db(|s| s.leases())
        .await?
        .into_iter()
        .map(|l| Lease {
            station: l.station,
            lane: l.lane,
            until: crate::store::rfc3339_ms(l.until_ms),
        })
        .collect();
    Ok(Json(Lanes {
        station: station.settings().station_id.clone(),
        lanes: station.lane_statuses(),
        leases,
    }))
}
