//! The HTTP API under `/api/v1`: axum routes, one module per resource, JSON in and out.
//!
//! Every route but `/healthz` needs a bearer token with a role; errors are JSON
//! `{"error": ..., "problems": [...]}` with 400/401/403/404/409/413/422, and 503 when the store
//! fails or its connection pool stays full (then with `Retry-After`): a bad request never causes
//! a 500. Responses may echo the caller's own values; logs
//! carry ids and numbers only.

#[cfg(test)]
mod busy_tests;
mod enrollments;
mod events;
mod fleet;
mod jobs;
mod lanes;
mod metrics;
pub mod openapi;
mod phone;
pub mod qa;
mod statistics;
#[cfg(test)]
mod statistics_tests;
mod stock;

use std::collections::HashMap;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ecard_model::Problem;
use serde::Serialize;

use crate::auth::{AuthError, Role, TokenEntry};
use crate::server::Station;
use crate::store::{Actor, StoreError};

/// The name of the console's event-stream cookie.
pub(crate) fn events_cookie_name() -> &'static str {
    events::COOKIE
}

/// The routes, with the body size limit.
pub fn router(station: Station) -> Router {
    let limit = station.settings().body_limit;
    let api = Router::new()
        .route("/enrollments", post(enrollments::submit))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/{id}/void", post(jobs::void))
        .route("/jobs/{id}/confirm", post(jobs::confirm))
        .route("/lanes", get(lanes::list))
        .route("/fleet", get(fleet::fleet))
        .route("/cards/to-destroy", get(fleet::to_destroy))
        .route("/jobs/{id}/qa", post(qa::job_result))
        .route("/qa/results", post(qa::bare_result))
        .route("/qa/cards/{number}", get(qa::card))
        .route("/qa/report", get(qa::report_route))
        .route("/qa/queue", get(qa::queue))
        .route("/healthz", get(healthz))
        .route("/status-list", get(status_list))
        .route("/metrics", get(metrics::metrics))
        .route("/events", get(events::stream))
        .route("/stock", get(stock::report))
        .route("/statistics", get(statistics::statistics))
        .route("/openapi.json", get(openapi::serve));
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::console::routes())
        .merge(ecard_pwa::router(phone::source(station.clone())))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .with_state(station)
}

/// The signed card status list: public (no token), because it is signed and carries no personal
/// data. 503 when this station signs nothing.
async fn status_list(
    axum::extract::State(station): axum::extract::State<Station>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Some(pki) = station.status_signer().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this station does not publish a status list",
        ));
    };
    let now = time::OffsetDateTime::now_utc();
    let st = station.clone();
    let signed =
        tokio::task::spawn_blocking(move || st.status_cache().get(st.status_store(), &pki, now))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("status list task failed: {e}"),
                )
            })?
            .map_err(|e| {
                tracing::error!("status list: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot make the status list; see the station's log",
                )
            })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/cose; cose-type=\"cose-sign1\"",
        )],
        signed,
    )
        .into_response())
}

/// Liveness and the store: 200 `ok` when the database answers, 503 naming the store's trouble
/// otherwise (a PostgreSQL outage shows here while the station reconnects).
async fn healthz(
    axum::extract::State(station): axum::extract::State<Station>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ping =
        tokio::time::timeout(std::time::Duration::from_secs(5), station.db(|s| s.ping())).await;
    match ping {
        Ok(Ok(())) => "ok\n".into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store down: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store down: no answer within 5 s\n",
        )
            .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route; the API is under /api/v1",
    )
}

/// An error answer.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<Problem>,
    /// Problems found beyond the ones listed (a body can hold thousands).
    #[serde(skip_serializing_if = "Option::is_none")]
    problems_not_listed: Option<usize>,
    /// Seconds after which a retry may succeed: the `Retry-After` header and this field.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            problems: Vec::new(),
            problems_not_listed: None,
            retry_after_seconds: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(&self)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(secs) = self.retry_after_seconds {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        r
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::ApplicationRefused { field, reason } = &e {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "enrollment rejected with 1 problem; nothing was stored",
            );
            err.problems = vec![Problem {
                path: (*field).to_string(),
                message: reason.clone(),
            }];
            return err;
        }
        if let StoreError::Busy { connections, .. } = &e {
            // Overload, not a fault: a warning, and advice for the caller and the operator.
            tracing::warn!("store busy: {e}");
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the station is busy: {e}; nothing was done: retry after 1 s (Retry-After); if this persists, raise postgres_pool (now {connections}) in the [store] section of station.toml"
                ),
            );
            err.retry_after_seconds = Some(1);
            return err;
        }
        let status = match e {
            StoreError::ApplicationConflict { .. } => StatusCode::CONFLICT,
            StoreError::NoJob { .. } => StatusCode::NOT_FOUND,
            StoreError::WrongState { .. } | StoreError::NotYourJob { .. } => StatusCode::CONFLICT,
            _ => {
                tracing::error!("store failed: {e}");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// Checks the bearer token of a request for one of `roles` (admin always passes).
pub(crate) fn authorize(
    station: &Station,
    headers: &HeaderMap,
    roles: &[Role],
) -> Result<(TokenEntry, Actor), ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let entry = station.auth().check(header, roles)?.clone();
    let actor = Actor::named(&entry.name);
    Ok((entry, actor))
}

/// A job id from the path.
pub(crate) fn job_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("job id {text:?} is not a number"),
        )
    })
}

/// Refuses a query parameter other than `allowed`, naming it and the ones the route takes
/// ("unknown query parameter \"sort\"; use state, limit and q").
pub(crate) fn only_query_parameters(
    query: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    let Some(unknown) = query.keys().find(|k| !allowed.contains(&k.as_str())) else {
        return Ok(());
    };
    let takes = match allowed {
        [rest @ .., last] if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => allowed.join(""),
    };
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("unknown query parameter {unknown:?}; use {takes}"),
    ))
}

/// The `limit` query parameter of a list: 100 when absent, otherwise 1 to 10000.
pub(crate) fn query_limit(query: &HashMap<String, String>) -> Result<i64, ApiError> {
    match query.get("limit") {
        None => Ok(100),
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("limit {l:?} must be a number from 1 to 10000"),
            )),
        },
    }
}

#[cfg(test)]
mod tests;
