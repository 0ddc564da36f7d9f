//! `GET /jobs`, `GET /jobs/{id}`, `POST /jobs/{id}/retry`, `POST /jobs/{id}/void`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::{ApiError, authorize, job_id};
use crate::auth::Role;
use crate::job::{Job, JobState};
use crate::server::Station;

const READERS: &[Role] = &[Role::Qa, Role::Operator];

#[derive(Serialize)]
pub(super) struct JobList {
    jobs: Vec<Job>,
}

pub(super) async fn list(
    State(station): State<Station>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<JobList>, ApiError> {
    authorize(&station, &headers, READERS)?;
    if let Some(k) = q
        .keys()
        .find(|k| !["state", "limit", "q"].contains(&k.as_str()))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown query parameter {k:?}; use state, limit and q"),
        ));
    }
    let state = match q.get("state").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            JobState::parse(s)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?,
        ),
    };
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit {l:?} must be a number from 1 to 10000"),
                ));
            }
        },
    };
    let jobs = match q.get("q").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        Some(text) if text.chars().count() > 64 => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "q is over 64 characters; search by application id or card number",
            ));
        }
        Some(text) => {
            let text = text.to_string();
            station.db(move |s| s.search(state, &text, limit)).await?
        }
        None => station.db(move |s| s.list(state, limit)).await?,
    };
    Ok(Json(JobList { jobs }))
}

pub(super) async fn get(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    authorize(&station, &headers, READERS)?;
    let id = job_id(&id)?;
    match station.db(move |s| s.get(id)).await? {
        Some(job) => Ok(Json(job)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

pub(super) async fn retry(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let (_, actor) = authorize(&station, &headers, &[Role::Operator])?;
    let id = job_id(&id)?;
    let now = station.now_ms();
    let job = station.db(move |s| s.retry(id, &actor, now)).await?;
    station.note_transition(JobState::Validated);
    station.notify_work();
    tracing::info!(job = id, "operator retry");
    Ok(Json(job))
}

pub(super) async fn void(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let (_, actor) = authorize(&station, &headers, &[Role::Operator])?;
    let id = job_id(&id)?;
    let now = station.now_ms();
    let job = station.db(move |s| s.void(id, &actor, now)).await?;
    station.note_transition(JobState::Voided);
    tracing::info!(job = id, number = ?job.document_number, "operator void");
    Ok(Json(job))
}
