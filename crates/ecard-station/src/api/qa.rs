//! QA routes (role qa): `GET /qa/cards/{number}` (what the station wrote under a number),
//! `POST /jobs/{id}/qa` and `POST /qa/results` (an inspector's verdict, recorded under the
//! token's name), `GET /qa/report`.
//!
//! The inspector's CLI reads the card and judges it (`crate::qa::inspect_with`); the station
//! records the verdict and serves the facts. Verdicts are derived from the failures sent, so a
//! result can never say `pass` with failures attached.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::{ApiError, authorize, job_id, only_query_parameters, query_limit};
use crate::auth::Role;
use crate::qa::{Failure, QaVerdict, StationFacts, report};
use crate::server::Station;

/// The body of `POST /jobs/{id}/qa` and `POST /qa/results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaSubmission {
    /// The number read from the card.
    pub document_number: String,
    /// Every failed check; empty: pass.
    pub failures: Vec<Failure>,
}

/// The answer: the recorded verdict and its sequence number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QaRecorded {
    /// Order of recording.
    pub seq: i64,
    /// `pass` or `fail`.
    pub verdict: String,
    /// Who inspected (the token's name).
    pub inspector: String,
}

fn number_ok(n: &str) -> Result<(), ApiError> {
    if n.len() == 9 && n.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("document number {n:?} must be 9 digits"),
        ))
    }
}

pub(super) async fn card(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Json<StationFacts>, ApiError> {
    authorize(&station, &headers, &[Role::Qa])?;
    number_ok(&number)?;
    let facts = station
        .db(move |s| StationFacts::from_store(s, &number))
        .await?;
    Ok(Json(facts))
}

async fn record(
    station: &Station,
    headers: &HeaderMap,
    job: Option<i64>,
    body: QaSubmission,
) -> Result<Json<QaRecorded>, ApiError> {
    let (entry, _) = authorize(station, headers, &[Role::Qa])?;
    number_ok(&body.document_number)?;
    let number = body.document_number.clone();
    let facts = station
        .db(move |s| StationFacts::from_store(s, &number))
        .await?;
    let owner = facts.owner.as_ref().map(|(j, _)| *j);
    if owner != job {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            match (job, owner) {
                (Some(j), Some(o)) => format!(
                    "number {} belongs to job {o}, not job {j}; post to /api/v1/jobs/{o}/qa",
                    body.document_number
                ),
                (Some(j), None) => format!(
                    "number {} was never issued, so not to job {j}; post to /api/v1/qa/results",
                    body.document_number
                ),
                // `owner != job` leaves only a number some job holds, sent without its job.
                (None, _) => format!(
                    "number {} belongs to job {}; post to /api/v1/jobs/{}/qa",
                    body.document_number,
                    owner.unwrap_or_default(),
                    owner.unwrap_or_default()
                ),
            },
        ));
    }
    let verdict = QaVerdict {
        document_number: Some(body.document_number.clone()),
        job_id: job,
        lane: facts.record.as_ref().and_then(|r| r.lane.clone()),
        failures: body.failures,
    };
    let inspector = entry.name.clone();
    let now = station.now_ms();
    let word = verdict.word().to_string();
    let who = inspector.clone();
    let seq = station
        .db(move |s| crate::qa::record(s, &verdict, &who, now))
        .await?;
    tracing::info!(job = ?job, number = %body.document_number, verdict = %word, "qa result recorded");
    Ok(Json(QaRecorded {
        seq,
        verdict: word,
        inspector,
    }))
}

pub(super) async fn job_result(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<QaSubmission>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<QaRecorded>, ApiError> {
    let body = qa_body(&station, &headers, body)?;
    let id = job_id(&id)?;
    record(&station, &headers, Some(id), body).await
}

pub(super) async fn bare_result(
    State(station): State<Station>,
    headers: HeaderMap,
    body: Result<Json<QaSubmission>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<QaRecorded>, ApiError> {
    let body = qa_body(&station, &headers, body)?;
    record(&station, &headers, None, body).await
}

/// The role is checked before the body is read: a token without the QA role gets 403 whatever
/// it sends, not a complaint about the body.
fn qa_body(
    station: &Station,
    headers: &HeaderMap,
    body: Result<Json<QaSubmission>, axum::extract::rejection::JsonRejection>,
) -> Result<QaSubmission, ApiError> {
    authorize(station, headers, &[Role::Qa])?;
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::new(e.status(), e.body_text()))
}

pub(super) async fn report_route(
    State(station): State<Station>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&station, &headers, &[Role::Qa])?;
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, e);
    only_query_parameters(&q, &["from", "to", "format"])?;
    let day = |k: &str| -> Result<time::Date, ApiError> {
        let text = q
            .get(k)
            .ok_or_else(|| bad(format!("{k}=YYYY-MM-DD is required")))?;
        report::parse_day(text).map_err(bad)
    };
    let (from, to) = (day("from")?, day("to")?);
    let format =
        report::Format::parse(q.get("format").map_or("json", String::as_str)).map_err(bad)?;
    let (a, b) = report::day_range_ms(from, to);
    let (rows, numbers) = station
        .db(move |s| Ok((s.qa_results(a, b)?, s.voided_numbers(a, b)?)))
        .await?;
    let r = report::build(&rows, &numbers);
    let body = report::render(&r, format, &from.to_string(), &to.to_string());
    Ok(([(header::CONTENT_TYPE, format.content_type())], body))
}

/// One card in the QA queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedCard {
    /// The number.
    pub document_number: String,
    /// The job.
    pub job_id: i64,
    /// The lane that wrote it.
    pub lane: Option<String>,
    /// When it was written, ms since the Unix epoch.
    pub written_ms: i64,
    /// Why it was sampled.
    pub reasons: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Queue {
    cards: Vec<QueuedCard>,
}

pub(super) async fn queue(
    State(station): State<Station>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Queue>, ApiError> {
    authorize(&station, &headers, &[Role::Qa])?;
    only_query_parameters(&q, &["limit"])?;
    let limit = query_limit(&q)?;
    let rows = station.db(move |s| s.qa_queue(limit)).await?;
    let cards = rows
        .into_iter()
        .map(|r| QueuedCard {
            document_number: r.document_number,
            job_id: r.job_id,
            lane: r.lane,
            written_ms: r.written_ms,
            reasons: r
                .sample
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
        .collect();
    Ok(Json(Queue { cards }))
}
