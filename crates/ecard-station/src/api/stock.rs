//! `GET /stock`: the blank-stock ledger's report (received, issued, spoiled by reason, destroyed,
//! in stock, per batch and day, and the serials that do not reconcile). Admin (and supervisor).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use super::{ApiError, authorize};
use crate::server::Station;
use crate::stock::Report;

#[derive(Serialize)]
pub(super) struct StockReport {
    #[serde(flatten)]
    report: Report,
    reconciles: bool,
}

pub(super) async fn report(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Json<StockReport>, ApiError> {
    authorize(&station, &headers, &crate::auth::STOCK_ROLES)?;
    let report = station.db(|s| s.stock_report()).await?;
    Ok(Json(StockReport {
        reconciles: report.reconciles(),
        report,
    }))
}
