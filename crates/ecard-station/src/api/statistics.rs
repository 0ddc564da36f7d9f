//! `GET /api/v1/statistics`: de-identified counts for analysts (ECARD.md section 13), JSON or
//! CSV. Only the `analyst` role (and admin) may call it, and an analyst may call nothing else.
//! Every answer goes through the period's suppression pattern (`crate::stats`); the exact count
//! of a suppressed cell never leaves the store's thread.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, authorize, only_query_parameters};
use crate::auth::Role;
use crate::server::Station;
use crate::stats::{Request, shape};

/// Who may read statistics besides admin.
pub(crate) const ROLES: &[Role] = &[Role::Analyst];

pub(super) async fn statistics(
    State(station): State<Station>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&station, &headers, ROLES)?;
    only_query_parameters(&q, &["from", "to", "by", "filter", "format"])?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let req = Request::parse(get("from"), get("to"), get("by"), get("filter"))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let csv = match get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("format: {other:?} is not a format; use json or csv"),
            ));
        }
    };
    let r = req.clone();
    let table = station.db(move |s| s.statistics(&r)).await?;
    tracing::debug!(
        by = ?req.by,
        cells = table.cells.len(),
        "statistics answered"
    );
    Ok(if csv {
        let name = format!(
            "attachment; filename=\"ecard-statistics-{}-{}.csv\"",
            req.from, req.to
        );
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            shape::to_csv(&req, &table),
        )
            .into_response()
    } else {
        axum::Json(shape::to_json(&req, &table)).into_response()
    })
}
