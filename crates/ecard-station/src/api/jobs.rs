//! `GET /jobs`, `GET /jobs/{id}`, `POST /jobs/{id}/retry`, `POST /jobs/{id}/void`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::{ApiError, authorize, job_id, only_query_parameters, query_limit};
use crate::auth::Role;
use crate::job::{Job, JobState};
use crate::server::Station;
use crate::store::{Actor, Store, StoreError};

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
    only_query_parameters(&q, &["state", "limit", "q"])?;
    let state = match q.get("state").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            JobState::parse(s)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?,
        ),
    };
    let limit = query_limit(&q)?;
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

/// One job with its card's access number (the operator prints it, QA opens the chip with it;
/// only the reader roles see it, and it is never logged).
#[derive(Serialize)]
pub(super) struct JobDetail {
    #[serde(flatten)]
    job: Job,
    /// The card access number of the job's card, once one was drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    can: Option<String>,
}

pub(super) async fn get(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    authorize(&station, &headers, READERS)?;
    let id = job_id(&id)?;
    match station.db(move |s| Ok((s.get(id)?, s.can(id)?))).await? {
        (Some(job), can) => Ok(Json(JobDetail { job, can })),
        (None, _) => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

pub(super) async fn retry(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = operator_change(&station, &headers, &id, Store::retry).await?;
    station.note_transition(JobState::Validated);
    station.notify_work();
    tracing::info!(job = job.id, "operator retry");
    Ok(Json(job))
}

pub(super) async fn void(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = operator_change(&station, &headers, &id, Store::void).await?;
    station.note_transition(JobState::Voided);
    tracing::info!(job = job.id, number = ?job.document_number, "operator void");
    Ok(Json(job))
}

/// `POST /jobs/{id}/confirm`: an operator confirms that the card of a `needs_review` job was
/// delivered: the job is issued (its number issued, a replaced card revoked).
pub(super) async fn confirm(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = operator_change(&station, &headers, &id, |s, id, actor, now| {
        let info =
            crate::store::StepInfo::detail("operator confirmed the card was delivered".into());
        s.step(id, JobState::Issued, actor, &info, now)
    })
    .await?;
    station.note_transition(JobState::Issued);
    tracing::info!(job = job.id, number = ?job.document_number, "operator confirmed delivery");
    Ok(Json(job))
}

/// An operator's change (retry, void) to the job with id `id` from the path, made on the store
/// in the operator's name, now.
async fn operator_change(
    station: &Station,
    headers: &HeaderMap,
    id: &str,
    change: fn(&Store, i64, &Actor, i64) -> Result<Job, StoreError>,
) -> Result<Job, ApiError> {
    let (_, actor) = authorize(station, headers, &[Role::Operator])?;
    let id = job_id(id)?;
    let now = station.now_ms();
    Ok(station.db(move |s| change(s, id, &actor, now)).await?)
}
