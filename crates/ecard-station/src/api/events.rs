//! `GET /events`: server-sent events for the operator console, so it shows jobs and lanes
//! changing without reloading.
//!
//! A stream wakes when this process changes a job (the station's change notification: the API,
//! every lane and crash recovery all note their transitions), then reads the newest jobs from the
//! store and sends the ones whose state or update time changed. Other stations sharing a
//! PostgreSQL store change jobs too, unseen by that notification: a stream also reads the store
//! every [`FALLBACK`]. An idle console thus costs a wake-up every few seconds, not four reads a
//! second. It sends jobs as `GET /jobs` does (no personal data) and lanes as `GET /lanes` does,
//! the latter only to roles that may read `/lanes`.
//!
//! Auth: an `EventSource` cannot set headers, so this route also takes the token from the
//! console's HttpOnly cookie (set by `POST /api/v1/console/session`). A token is never taken
//! from the URL, where proxies and browser histories keep it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;

use super::{ApiError, authorize};
use crate::auth::Role;
use crate::job::{Job, JobState};
use crate::lane::LaneStatus;
use crate::server::Station;

/// How often a stream reads the store when nothing in this process changed (other stations).
pub const FALLBACK: Duration = Duration::from_secs(3);

/// A burst of changes is read once: a stream waits this long after a wake-up.
pub const SETTLE: Duration = Duration::from_millis(50);

/// The console's cookie (HttpOnly, SameSite=Strict, path /api/v1/events).
pub const COOKIE: &str = "ecard_console";

/// How many of the newest jobs a stream watches (the console lists as many).
pub const WINDOW: i64 = 500;

/// The first event: everything the console shows, so nothing is missed between a page load and
/// the stream opening.
#[derive(Serialize)]
struct Snapshot<'a> {
    station: &'a str,
    jobs: &'a [Job],
    lanes: Option<&'a [LaneStatus]>,
}

struct Watch {
    station: Station,
    lanes_visible: bool,
    seen: HashMap<i64, (JobState, i64)>,
    lanes: String,
    started: bool,
    closing: tokio::sync::watch::Receiver<bool>,
    changes: tokio::sync::watch::Receiver<u64>,
    pending: std::collections::VecDeque<Event>,
}

/// The token in the console's cookie, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

pub(super) async fn stream(
    State(station): State<Station>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut headers = headers;
    if let Some(t) = cookie_token(&headers).as_deref()
        && !headers.contains_key(axum::http::header::AUTHORIZATION)
    {
        // Not a valid header value (a control character): the check answers 401 as for no token.
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("Bearer {t}")) {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
    }
    let (entry, _) = authorize(&station, &headers, &[Role::Qa, Role::Operator])?;
    let lanes_visible = matches!(entry.role, Role::Operator | Role::Admin);
    let watch = Watch {
        station: station.clone(),
        lanes_visible,
        seen: HashMap::new(),
        lanes: String::new(),
        started: false,
        closing: station.closing(),
        changes: station.changes(),
        pending: Default::default(),
    };
    let events = futures_util::stream::unfold(watch, |mut w| async move {
        loop {
            if let Some(e) = w.pending.pop_front() {
                return Some((Ok(e), w));
            }
            // The stream ends when the station shuts down (the console reconnects).
            if *w.closing.borrow() {
                return None;
            }
            if w.started {
                tokio::select! {
                    changed = w.changes.changed() => {
                        if changed.is_ok() {
                            tokio::time::sleep(SETTLE).await;
                            w.changes.borrow_and_update();
                        }
                    }
                    _ = tokio::time::sleep(FALLBACK) => {}
                    _ = w.closing.changed() => continue,
                }
            }
            w.poll().await;
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

impl Watch {
    /// Reads the store and the lanes once and queues what changed.
    async fn poll(&mut self) {
        let jobs = match self.station.db(|s| s.list(None, WINDOW)).await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!("event stream cannot read the store: {e}");
                self.started = true;
                self.pending
                    .push_back(Event::default().event("trouble").data(e.to_string()));
                return;
            }
        };
        let lanes = self.station.lane_statuses();
        let lanes_json = serde_json::to_string(&lanes).unwrap_or_default();
        if !self.started {
            self.started = true;
            let snap = Snapshot {
                station: &self.station.settings().station_id,
                jobs: &jobs,
                lanes: self.lanes_visible.then_some(&lanes[..]),
            };
            if let Ok(e) = Event::default().event("snapshot").json_data(&snap) {
                self.pending.push_back(e);
            }
        } else {
            // Oldest first, so the console sees transitions in order.
            for job in jobs.iter().rev() {
                if self.seen.get(&job.id) != Some(&(job.state, job.updated_ms))
                    && let Ok(e) = Event::default().event("job").json_data(job)
                {
                    self.pending.push_back(e);
                }
            }
            if self.lanes_visible && lanes_json != self.lanes {
                self.pending
                    .push_back(Event::default().event("lanes").data(lanes_json.clone()));
            }
        }
        self.seen = jobs
            .iter()
            .map(|j| (j.id, (j.state, j.updated_ms)))
            .collect();
        self.lanes = lanes_json;
    }
}
