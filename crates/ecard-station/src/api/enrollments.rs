//! `POST /enrollments`: takes a record with inline images; 202 with the new job, 200 with the
//! existing job for a known `application_id`, 422 listing every problem (nothing stored).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::server::{Station, SubmitError};

pub(super) async fn submit(
    State(station): State<Station>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, actor) = authorize(&station, &headers, &[Role::Intake])?;
    match station.submit(&body, &actor).await {
        Ok(s) => {
            let status = if s.created {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(s.job)).into_response())
        }
        Err(SubmitError::NotText) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text; send the record as JSON",
        )),
        Err(SubmitError::Invalid(problems)) => {
            // Field names only: the values are the holder's.
            let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
            tracing::info!(problems = ?paths, "enrollment refused");
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "enrollment rejected with {} problems; nothing was stored",
                    problems.len()
                ),
            );
            e.problems = problems;
            Err(e)
        }
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}
