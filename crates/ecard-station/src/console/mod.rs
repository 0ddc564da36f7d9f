//! The operator console: one page served at `/` (HTML, CSS and JS embedded in the binary, no
//! external URL, no framework), plus the two API routes only it needs: who am I (so it shows the
//! buttons a role may press) and a job's detail (holder, chip photo, verification, history).
//!
//! The page does everything through the public API with the signed-in bearer token; it has no
//! route of its own that skips a role check and no test-only switch. Personal data leaves the
//! station only in the detail answer, which needs a reading role; this module never logs it.
//!
//! Face preview: the station does not render card faces (the lanes print on a simulated
//! printer), so the detail shows the chip photo, the DG2 JPEG made at intake and written to the
//! card.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

use crate::api::{ApiError, authorize, job_id};
use crate::audit::AuditEntry;
use crate::auth::Role;
use crate::job::Job;
use crate::server::{ChipImages, Station};

mod statistics;

const INDEX_HTML: &str = include_str!("index.html");
const CONSOLE_CSS: &str = include_str!("console.css");
const CONSOLE_JS: &str = include_str!("console.js");

/// The page and its assets at `/`, and the console's API routes under `/api/v1/console`.
pub fn routes() -> Router<Station> {
    Router::new()
        .route("/", get(index))
        .route("/console.css", get(css))
        .route("/console.js", get(js))
        .route("/api/v1/console/session", get(session).post(sign_in))
        .route("/api/v1/console/jobs/{id}", get(detail))
        .merge(statistics::routes())
}

/// The page may load only itself: no CDN, no inline script, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

/// `GET /api/v1/console/session`: the token's name and role (any role).
#[derive(Serialize)]
struct Session {
    name: String,
    role: Role,
    station: String,
    /// What an operator must act on, shown as a banner: the Document Signer's signing period
    /// ending within 14 days (ECARD.md section 12).
    warnings: Vec<String>,
}

/// The console's warnings now.
fn warnings(station: &Station) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    ds_warning(station.status_signer().and_then(|p| p.ds_days_left(now)))
}

/// The warning for a Document Signer that may sign for `days` more days.
fn ds_warning(days: Option<i64>) -> Vec<String> {
    match days {
        Some(d) if d <= ecard_chip::pki::DS_WARNING_DAYS => vec![format!(
            "The Document Signer may sign for {} more day(s): issue the next one with `ecard pki rotate-ds` (the station picks it up without a restart).",
            d.max(0)
        )],
        _ => Vec::new(),
    }
}

async fn session(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Json<Session>, ApiError> {
    let all = [
        Role::Intake,
        Role::Operator,
        Role::Qa,
        Role::Supervisor,
        Role::Analyst,
        Role::Admin,
    ];
    let (entry, _) = authorize(&station, &headers, &all)?;
    Ok(Json(Session {
        name: entry.name,
        role: entry.role,
        station: station.settings().station_id.clone(),
        warnings: warnings(&station),
    }))
}

/// `POST /api/v1/console/session`: checks the bearer token and sets it as the console's HttpOnly
/// cookie for the event stream (an `EventSource` cannot send headers; a token never goes in a
/// URL). SameSite=Strict and limited to the event stream's path.
async fn sign_in(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let all = [
        Role::Intake,
        Role::Operator,
        Role::Qa,
        Role::Supervisor,
        Role::Analyst,
        Role::Admin,
    ];
    let (entry, _) = authorize(&station, &headers, &all)?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/api/v1/events{}",
        crate::api::events_cookie_name(),
        if station.serving_tls() {
            "; Secure"
        } else {
            ""
        }
    );
    let mut r = Json(Session {
        name: entry.name,
        role: entry.role,
        station: station.settings().station_id.clone(),
        warnings: warnings(&station),
    })
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `GET /api/v1/console/jobs/{id}`: one job with its holder (personal data), chip photo,
/// verification outcome and audit history.
#[derive(Serialize)]
struct Detail {
    job: Job,
    /// A few record fields, as stored.
    holder: serde_json::Map<String, serde_json::Value>,
    /// `data:image/jpeg;base64,...` of the DG2 face written to the chip.
    chip_photo: Option<String>,
    verification: Verification,
    history: Vec<AuditEntry>,
    /// The card access number printed on the card (PACE password), once drawn.
    can: Option<String>,
}

/// What the lane's read-back check said, from the audit log.
#[derive(Serialize, PartialEq, Eq, Debug)]
struct Verification {
    /// `passed` (verifying → printing), `failed` (a spoil after encoding), `pending`.
    outcome: &'static str,
    /// The audit detail of that step, if any.
    detail: Option<String>,
    /// SHA-256 of the DS certificate that signed the card.
    ds_certificate: Option<String>,
}

const HOLDER_FIELDS: &[&str] = &[
    "purged",
    "application_id",
    "surname",
    "given_names",
    "patronymic",
    "date_of_birth",
    "sex",
    "nationality",
    "residence_status",
    "identity_document",
    "application",
];

async fn detail(
    State(station): State<Station>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    authorize(&station, &headers, &[Role::Qa, Role::Operator])?;
    let id = job_id(&id)?;
    let Some(job) = station.db(move |s| s.get(id)).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")));
    };
    // After the retention period the record and images are purged: the detail says so.
    let (record, images) = match station.db(move |s| s.inputs(id)).await {
        Ok(inputs) => inputs,
        Err(crate::store::StoreError::NoJob { .. }) => {
            (r#"{"purged": true}"#.to_string(), String::new())
        }
        Err(e) => return Err(e.into()),
    };
    let history: Vec<AuditEntry> = station.db(move |s| s.history(id)).await?;
    let can = station.db(move |s| s.can(id)).await?;
    let holder = match serde_json::from_str::<serde_json::Value>(&record) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter(|(k, _)| HOLDER_FIELDS.contains(&k.as_str()))
            .collect(),
        _ => {
            tracing::warn!(job = id, "stored record is not a JSON object");
            Default::default()
        }
    };
    let chip_photo = serde_json::from_str::<ChipImages>(&images)
        .ok()
        .map(|i| format!("data:image/jpeg;base64,{}", i.face));
    Ok(Json(Detail {
        can,
        verification: verification(&job, &history),
        job,
        holder,
        chip_photo,
        history,
    }))
}

/// The verification outcome of the latest attempt, from the job's audit entries (oldest first).
fn verification(job: &Job, history: &[AuditEntry]) -> Verification {
    let last = history.iter().rev().find(|e| {
        (e.from_state.as_deref() == Some("verifying") && e.to_state == "printing")
            || (e.to_state == "spoiled"
                && matches!(e.from_state.as_deref(), Some("verifying" | "encoding")))
    });
    match last {
        Some(e) if e.to_state == "printing" => Verification {
            outcome: "passed",
            detail: e.detail.clone(),
            ds_certificate: e.ds_certificate.clone().or(job.ds_certificate.clone()),
        },
        Some(e) => Verification {
            outcome: "failed",
            detail: e.detail.clone(),
            ds_certificate: e.ds_certificate.clone(),
        },
        None => Verification {
            outcome: "pending",
            detail: None,
            ds_certificate: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;

    #[test]
    fn the_ds_warning_starts_fourteen_days_before_the_end() {
        assert!(ds_warning(None).is_empty());
        assert!(ds_warning(Some(15)).is_empty());
        let w = ds_warning(Some(14));
        assert!(
            w[0].contains("14 more day(s)") && w[0].contains("rotate-ds"),
            "{w:?}"
        );
        assert!(ds_warning(Some(-3))[0].contains("0 more day(s)"));
    }

    fn job() -> Job {
        Job {
            id: 4,
            application_id: "MMC-2026-0000004".into(),
            state: JobState::Spoiled,
            document_number: Some("770000002".into()),
            attempts: 1,
            station: None,
            lane: None,
            late_notification: false,
            previous_document_number: None,
            last_error: None,
            ds_certificate: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn entry(from: Option<&str>, to: &str, detail: Option<&str>, ds: Option<&str>) -> AuditEntry {
        AuditEntry {
            chain: "s1".into(),
            seq: 1,
            at: "2026-11-25T10:00:00.000Z".into(),
            actor: "lane:s/lane-1".into(),
            job_id: 4,
            from_state: from.map(Into::into),
            to_state: to.into(),
            lane: None,
            document_number: None,
            ds_certificate: ds.map(Into::into),
            detail: detail.map(Into::into),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn verification_is_the_latest_read_back_outcome() {
        let spoiled = entry(
            Some("verifying"),
            "spoiled",
            Some("ef.sod signature invalid"),
            None,
        );
        let passed = entry(Some("verifying"), "printing", None, Some("ab12"));
        assert_eq!(
            verification(&job(), &[]),
            Verification {
                outcome: "pending",
                detail: None,
                ds_certificate: None
            }
        );
        assert_eq!(
            verification(&job(), &[passed.clone(), spoiled.clone()]),
            Verification {
                outcome: "failed",
                detail: Some("ef.sod signature invalid".into()),
                ds_certificate: None
            }
        );
        assert_eq!(
            verification(&job(), &[spoiled, passed]),
            Verification {
                outcome: "passed",
                detail: None,
                ds_certificate: Some("ab12".into())
            }
        );
        // A spoil while printing says nothing about the chip.
        let print_spoil = entry(Some("printing"), "spoiled", Some("printer jam"), None);
        assert_eq!(verification(&job(), &[print_spoil]).outcome, "pending");
    }
}
