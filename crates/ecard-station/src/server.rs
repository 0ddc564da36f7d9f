//! The `Station` handle (one cheap clone per task, as mini-redis's `Db`), intake of enrollments,
//! start-up recovery, and [`run`]: the HTTP listener plus one task per lane until shutdown.
//!
//! Intake validates the record, stores it as `received` (durably: only then does the API answer
//! 202), then runs the station's own checks and moves it to `validated` or `rejected`. Logs carry
//! application ids, job ids and numbers, never record fields.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecard_model::enrollment::Application;
use ecard_model::{ImageRef, Problem};

use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, mpsc};

use crate::auth::Auth;
use crate::job::{ALL_STATES, Job, JobState};
use crate::lane::{Lane, LaneStatus};
use crate::shutdown::Shutdown;
use crate::store::{Actor, NewJob, StepInfo, Store, StoreError};

/// Station-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This station's id (several stations may share one PostgreSQL store).
    pub station_id: String,
    /// The card series numbers come from.
    pub series: u8,
    /// The first number of a series new to the store (a series already there keeps its next).
    pub first_number: u32,
    /// Spoiled cards allowed per job before it fails.
    pub max_attempts: i64,
    /// Lane lease: a lane silent this long is dead and its jobs are taken over.
    pub lease: Duration,
    /// How often an idle lane looks at the queue (it is also woken on each submission).
    pub poll: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Days after a job ends (issued, rejected, voided) until its personal data is purged.
    pub retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            station_id: "station-1".into(),
            series: 77,
            first_number: 1,
            max_attempts: 3,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            body_limit: 8 * 1024 * 1024,
            retention_days: 30,
        }
    }
}

/// The state every task shares.
#[derive(Clone)]
pub struct Station {
    inner: Arc<Inner>,
}

struct Inner {
    /// Wall-clock ms and the monotonic instant at start: `now_ms` runs on tokio's clock from
    /// there, so leases never jump with the wall clock and tests can pause time.
    epoch: (i64, tokio::time::Instant),
    store: Arc<Store>,
    settings: Settings,
    auth: Auth,
    // std Mutex: held for a field update, never across an `.await`.
    lanes: Mutex<Vec<Arc<Mutex<LaneStatus>>>>,
    lane_names: Mutex<Vec<String>>,
    transitions: Mutex<HashMap<JobState, u64>>,
    work: Notify,
    // Set when shutdown begins: long-lived responses (the console's event streams) end on it,
    // or the HTTP server's graceful shutdown would wait for them forever.
    closing: tokio::sync::watch::Sender<bool>,
    // The Document Signer that signs the public status list; set once at start-up.
    status_signer: std::sync::OnceLock<Arc<crate::chip::Pki>>,
    // Bumped at every job transition this process makes: the console's event streams wake on
    // it instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
    // Whether the API is served over HTTPS (cookies are then `Secure`).
    serving_tls: std::sync::atomic::AtomicBool,
    // The status list as last signed: served until it changes.
    status_cache: crate::status::StatusCache,
    // The DG2 JPEG quality of the last record taken (0: none yet): where the next record's
    // quality search starts. Photos from one capture station compress alike.
    face_quality: std::sync::atomic::AtomicU8,
}

/// The chip JPEGs made at intake, stored with the job so lanes do no image work. Personal data:
/// Debug shows sizes only.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChipImages {
    /// DG2 face JPEG, base64.
    pub face: String,
    /// Face width in pixels.
    pub face_width: u32,
    /// Face height in pixels.
    pub face_height: u32,
    /// DG7 signature JPEG, base64.
    pub signature: String,
    /// Signature width in pixels.
    pub signature_width: u32,
    /// Signature height in pixels.
    pub signature_height: u32,
}

impl std::fmt::Debug for ChipImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChipImages(face {}x{}, {} base64 chars; signature {}x{}, {} base64 chars)",
            self.face_width,
            self.face_height,
            self.face.len(),
            self.signature_width,
            self.signature_height,
            self.signature.len()
        )
    }
}

impl ChipImages {
    fn from_prepared(p: &ecard_imaging::PreparedEnrollment) -> ChipImages {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        ChipImages {
            face: b64(&p.face.jpeg),
            face_width: p.face.width,
            face_height: p.face.height,
            signature: b64(&p.signature.jpeg),
            signature_width: p.signature.width,
            signature_height: p.signature.height,
        }
    }

    /// The two images back.
    pub fn decode(&self) -> Result<(ecard_imaging::ChipImage, ecard_imaging::ChipImage), String> {
        use base64::Engine as _;
        let d = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("stored chip image: {e}"))
        };
        Ok((
            ecard_imaging::ChipImage {
                jpeg: d(&self.face)?,
                width: self.face_width,
                height: self.face_height,
                quality: 0,
            },
            ecard_imaging::ChipImage {
                jpeg: d(&self.signature)?,
                width: self.signature_width,
                height: self.signature_height,
                quality: 0,
            },
        ))
    }
}

/// Why an enrollment was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The body is not UTF-8 text.
    #[error("the body is not UTF-8 text")]
    NotText,
    /// The record breaks rules: every problem, with its JSON path.
    #[error("enrollment rejected with {} problems; nothing was stored", .0.len())]
    Invalid(Vec<Problem>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What intake did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The job (validated or rejected when new).
    pub job: Job,
    /// `false`: the application id was already known and this is the existing job.
    pub created: bool,
}

impl Station {
    /// A station over `store`.
    pub fn new(store: Arc<Store>, settings: Settings, auth: Auth) -> Station {
        Station {
            inner: Arc::new(Inner {
                epoch: (wall_ms(), tokio::time::Instant::now()),
                store,
                settings,
                auth,
                lanes: Mutex::new(Vec::new()),
                lane_names: Mutex::new(Vec::new()),
                transitions: Mutex::new(HashMap::new()),
                work: Notify::new(),
                closing: tokio::sync::watch::Sender::new(false),
                status_signer: std::sync::OnceLock::new(),
                status_cache: crate::status::StatusCache::default(),
                changes: tokio::sync::watch::Sender::new(0),
                serving_tls: std::sync::atomic::AtomicBool::new(false),
                face_quality: std::sync::atomic::AtomicU8::new(0),
            }),
        }
    }

    /// Publishes the card status list at `GET /api/v1/status-list`, signed by `pki`'s Document
    /// Signer. Only the first call counts.
    pub fn publish_status_list(&self, pki: Arc<crate::chip::Pki>) {
        let _ = self.inner.status_signer.set(pki);
    }

    /// The Document Signer of the status list, when one is published.
    pub fn status_signer(&self) -> Option<&Arc<crate::chip::Pki>> {
        self.inner.status_signer.get()
    }

    /// The signed status list, made once per change.
    pub fn status_cache(&self) -> &crate::status::StatusCache {
        &self.inner.status_cache
    }

    /// The store.
    pub fn status_store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Tokens and roles.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The store (blocking calls: use [`Station::db`] from async code).
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Milliseconds since the Unix epoch: the wall clock at start plus tokio's monotonic time
    /// since (the store takes time as an argument; leases and audit times come from here).
    pub fn now_ms(&self) -> i64 {
        let (wall, start) = self.inner.epoch;
        wall + start.elapsed().as_millis() as i64
    }

    /// Runs a blocking store call on the blocking pool.
    pub async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.inner.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Becomes `true` when the station starts shutting down.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub(crate) fn notify_work(&self) {
        self.inner.work.notify_waiters();
        self.inner.work.notify_one();
    }

    pub(crate) async fn work_notified(&self) {
        self.inner.work.notified().await
    }

    pub(crate) fn note_transition(&self, to: JobState) {
        if let Ok(mut t) = self.inner.transitions.lock() {
            *t.entry(to).or_insert(0) += 1;
        }
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether the API is served over HTTPS.
    pub fn serving_tls(&self) -> bool {
        self.inner
            .serving_tls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wakes when this process changes a job (the console's event streams listen to it).
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Transitions into each state since start (for metrics).
    pub fn transitions(&self) -> Vec<(JobState, u64)> {
        let t = self
            .inner
            .transitions
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        ALL_STATES
            .iter()
            .map(|s| (*s, t.get(s).copied().unwrap_or(0)))
            .collect()
    }

    pub(crate) fn lane_names(&self) -> Vec<String> {
        self.inner
            .lane_names
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// What each lane is doing.
    pub fn lane_statuses(&self) -> Vec<LaneStatus> {
        let lanes = self
            .inner
            .lanes
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        lanes
            .iter()
            .filter_map(|l| l.lock().ok().map(|s| s.clone()))
            .collect()
    }

    /// Takes an enrollment record (the JSON body of `POST /enrollments`): validates it and its
    /// images (`ecard_imaging::prepare_enrollment`, which also makes the chip JPEGs), stores it,
    /// then runs the station's own checks.
    pub async fn submit(&self, body: &[u8], actor: &Actor) -> Result<Submitted, SubmitError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| SubmitError::NotText)?
            .to_string();
        let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
        use std::sync::atomic::Ordering::Relaxed;
        let start = Some(self.inner.face_quality.load(Relaxed)).filter(|q| *q > 0);
        // Image decoding and JPEG encoding are CPU work: keep them off the async workers.
        let prepared = tokio::task::spawn_blocking(move || {
            let mut inline_only = |_: &ImageRef| -> Result<Vec<u8>, String> {
                Err("the station takes images inline: send {\"base64\": ...}".into())
            };
            ecard_imaging::prepare_enrollment_from(
                &text,
                &mut inline_only,
                today,
                ecard_imaging::ImageBudgets::default(),
                start,
            )
        })
        .await
        .map_err(|e| std::panic::resume_unwind(e.into_panic()))
        .and_then(|r| r.map_err(SubmitError::Invalid))?;
        self.inner
            .face_quality
            .store(prepared.face.quality, Relaxed);
        let record = &prepared.record;
        let replaces = match &record.application {
            Application::Replacement {
                previous_document_number,
                cause,
                ..
            } => Some((
                previous_document_number.mrz_form(),
                cause.as_str().to_string(),
            )),
            Application::FirstIssue => None,
        };
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            what: format!("record does not serialize: {e}"),
        };
        let new = NewJob {
            application_id: record.application_id.clone(),
            record_json: serde_json::to_string(record).map_err(corrupt)?,
            chip_images_json: serde_json::to_string(&ChipImages::from_prepared(&prepared))
                .map_err(corrupt)?,
            late_notification: prepared.late_notification,
            replaces,
        };
        let (actor2, now) = (actor.clone(), self.now_ms());
        let (job, created) = self.db(move |s| s.submit(&new, &actor2, now)).await?;
        if !created {
            return Ok(Submitted { job, created });
        }
        self.note_transition(JobState::Received);
        tracing::info!(job = job.id, application = %job.application_id, "enrollment received");
        let job = self.validate(job, actor).await?;
        Ok(Submitted { job, created })
    }

    /// Station-level checks of a `received` job: a replacement must not replace a card already
    /// revoked, nor a number this station voided. Moves the job to `validated` or `rejected`.
    async fn validate(&self, job: Job, actor: &Actor) -> Result<Job, StoreError> {
        let id = job.id;
        let prev = job.previous_document_number.clone();
        let mut problems = Vec::new();
        if let Some(prev) = prev {
            let p = prev.clone();
            if self.db(move |s| s.is_revoked(&p)).await? {
                problems.push(format!(
                    "application.previous_document_number: card {prev} is already revoked; check the number on the holder's card"
                ));
            }
        }
        let (to, detail) = if problems.is_empty() {
            (JobState::Validated, None)
        } else {
            (JobState::Rejected, Some(problems.join("; ")))
        };
        let info = StepInfo {
            detail,
            ..StepInfo::default()
        };
        let (actor, now) = (actor.clone(), self.now_ms());
        let job = self.db(move |s| s.step(id, to, &actor, &info, now)).await?;
        self.note_transition(to);
        if to == JobState::Validated {
            self.notify_work();
        } else {
            tracing::info!(job = id, "enrollment rejected by station checks");
        }
        Ok(job)
    }

    /// Waits until no job is waiting or on a lane (every job issued, rejected, voided or
    /// failed), polling every `poll`; returns the jobs (newest first). For in-process drivers
    /// such as `ecard demo`.
    pub async fn wait_until_settled(&self, poll: Duration) -> Result<Vec<Job>, StoreError> {
        loop {
            let jobs = self.db(|s| s.list(None, i64::MAX)).await?;
            if jobs
                .iter()
                .all(|j| j.state.terminal() || j.state == JobState::Failed)
            {
                return Ok(jobs);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Validates jobs left `received` by a crash between storing and validating.
    pub async fn recover_received(&self) -> Result<usize, StoreError> {
        let jobs = self
            .db(|s| s.list(Some(JobState::Received), i64::MAX))
            .await?;
        let n = jobs.len();
        let actor = Actor::named(&format!("station:{}", self.settings().station_id));
        for job in jobs {
            self.validate(job, &actor).await?;
        }
        Ok(n)
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        .saturating_add(test_clock_offset_ms())
}

/// For tests only: `ECARD_TEST_CLOCK_OFFSET_MS` (signed milliseconds, read once) shifts the
/// daemon's wall clock ([`Station::now_ms`] and its station-id heartbeat), so that a system test
/// can run a station whose clock is wrong beside others and show that lease fencing, which the
/// store does on the database server's clock, keeps it harmless. 0 when unset or not a number;
/// never set it in production.
pub(crate) fn test_clock_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let offset = std::env::var("ECARD_TEST_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if offset != 0 {
            tracing::warn!("test clock offset: this daemon's clock runs {offset} ms off");
        }
        offset
    })
}

/// Runs the station: recovery, the lanes and the HTTP API on `listener`, until `shutdown`
/// completes; then stops accepting, lets each lane finish or spoil its card, and returns when
/// every lane has stopped.
pub async fn run(
    station: Station,
    lanes: Vec<Lane>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    run_with_tls(station, lanes, listener, None, shutdown).await
}

/// [`run`], serving HTTPS through `tls` when given (issue 16).
pub async fn run_with_tls(
    station: Station,
    lanes: Vec<Lane>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    start_lanes(&station, lanes, &notify_shutdown, &done_tx).await;
    drop(done_tx);

    station
        .inner
        .serving_tls
        .store(tls.is_some(), std::sync::atomic::Ordering::Relaxed);
    let app = crate::api::router(station.clone());
    let mut http_shutdown = Shutdown::new(notify_shutdown.subscribe());
    let stop = async move { http_shutdown.recv().await };
    let server: std::pin::Pin<Box<dyn Future<Output = Result<(), std::io::Error>> + Send>> =
        match tls {
            None => Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .into_future(),
            ),
            Some(acceptor) => Box::pin(crate::tls::serve(listener, acceptor, app, stop)),
        };
    let notify = notify_shutdown.clone();
    let closing = station.clone();
    tokio::spawn(async move {
        shutdown.await;
        closing.inner.closing.send_replace(true);
        tracing::info!("shutting down: lanes finish their cards");
        let _ = notify.send(());
    });
    let served = server.await;
    // Lanes hold a sender each; the channel closes when the last one stops.
    let _ = done_rx.recv().await;
    served
}

/// Recovers received jobs and spawns one task per lane (used by [`run`] and by in-process
/// drivers such as benchmarks and the demo).
pub(crate) async fn start_lanes(
    station: &Station,
    lanes: Vec<Lane>,
    notify_shutdown: &broadcast::Sender<()>,
    done: &mpsc::Sender<()>,
) {
    if let Ok(names) = station.inner.lane_names.lock().as_deref_mut() {
        *names = lanes.iter().map(|l| l.name.clone()).collect();
    }
    match station.recover_received().await {
        Ok(0) => {}
        Ok(n) => tracing::info!("validated {n} jobs received before a restart"),
        Err(e) => tracing::error!("cannot validate jobs received before a restart: {e}"),
    }
    for lane in lanes {
        let status = Arc::new(Mutex::new(LaneStatus::default()));
        if let Ok(mut l) = station.inner.lanes.lock() {
            l.push(status.clone());
        }
        tokio::spawn(crate::lane::run(
            station.clone(),
            lane,
            status,
            Shutdown::new(notify_shutdown.subscribe()),
            done.clone(),
        ));
    }
}

/// Lanes running in-process without HTTP (benchmarks, the demo, tests): stop them with
/// [`LaneSet::stop`], which waits until every lane has finished its cards.
pub struct LaneSet {
    notify: broadcast::Sender<()>,
    done: mpsc::Receiver<()>,
}

impl LaneSet {
    /// Starts `lanes` for `station`.
    pub async fn start(station: &Station, lanes: Vec<Lane>) -> LaneSet {
        let (notify, _) = broadcast::channel(1);
        let (done_tx, done) = mpsc::channel(1);
        start_lanes(station, lanes, &notify, &done_tx).await;
        LaneSet { notify, done }
    }

    /// Asks every lane to stop and waits until they have.
    pub async fn stop(mut self) {
        let _ = self.notify.send(());
        let _ = self.done.recv().await;
    }
}
