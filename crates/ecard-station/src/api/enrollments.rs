//! `POST /enrollments`: takes a record with inline images; 202 with the new job, 200 with the
//! existing job for a known `application_id`, 422 listing the problems (the first
//! [`MAX_LISTED`] and a count of the rest; nothing stored), 415 for a body that is not declared
//! `application/json`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::server::{Station, SubmitError};

/// Problems listed in a 422; the rest are counted.
pub(crate) const MAX_LISTED: usize = 50;
/// Field paths named in the log line of a refusal, and the characters kept of each: the names
/// are the client's choice, so a log line stays short whatever the body.
const LOGGED_PATHS: usize = 10;
const LOGGED_PATH_CHARS: usize = 64;

/// Whether the request declares a JSON body: `application/json`, parameters (charset) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) async fn submit(
    State(station): State<Station>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, actor) = authorize(&station, &headers, &[Role::Intake])?;
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an enrollment is JSON: send it with Content-Type: application/json",
        ));
    }
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
        Err(SubmitError::Invalid(mut problems)) => {
            // Field names only (the values are the holder's), few and short (the names are
            // the client's).
            let paths: Vec<String> = problems
                .iter()
                .take(LOGGED_PATHS)
                .map(|p| p.path.chars().take(LOGGED_PATH_CHARS).collect())
                .collect();
            tracing::info!(count = problems.len(), first = ?paths, "enrollment refused");
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "enrollment rejected with {} problems; nothing was stored",
                    problems.len()
                ),
            );
            if problems.len() > MAX_LISTED {
                e.problems_not_listed = Some(problems.len() - MAX_LISTED);
                problems.truncate(MAX_LISTED);
            }
            e.problems = problems;
            Err(e)
        }
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}
