//! `GET /fleet`: every station sharing this store, its lanes' heartbeats and its jobs; a station
//! whose lanes stopped heartbeating is flagged (`alive: false`), so any station's console shows
//! the whole fleet.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::server::Station;
use crate::store::fleet::FleetStation;

#[derive(Serialize)]
pub(super) struct Fleet {
    /// The station answering.
    this_station: String,
    stations: Vec<FleetStation>,
    /// Stations whose every lane stopped heartbeating.
    stopped: Vec<String>,
}

pub(super) async fn fleet(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Json<Fleet>, ApiError> {
    authorize(&station, &headers, &[Role::Operator, Role::Qa])?;
    let now = station.now_ms();
    let stations = station.db(move |s| s.fleet(now)).await?;
    let stopped = stations
        .iter()
        .filter(|s| !s.alive)
        .map(|s| s.station.clone())
        .collect();
    Ok(Json(Fleet {
        this_station: station.settings().station_id.clone(),
        stations,
        stopped,
    }))
}

/// `GET /cards/to-destroy`: cards found in lane slots at start that no live job owned, moved to
/// `DATA_DIR/to-destroy/` for the operator to destroy.
pub(super) async fn to_destroy(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::store::orphans::CardToDestroy>>, ApiError> {
    authorize(&station, &headers, &[Role::Operator, Role::Qa])?;
    Ok(Json(station.db(|s| s.cards_to_destroy()).await?))
}
