//! One lane: an encoder stage and a printer stage, each a task, so the next card is encoded while
//! the previous one prints.
//!
//! The encoder stage claims a job (the store gives it a number), encodes a blank card, reads it
//! back and verifies it as a checkpoint would, then hands it to the printer stage, which prints
//! and outputs it. Every step is persisted before the device is touched, so after a crash the
//! store says where each card was: a card that was being written is spoiled, a card that was
//! written is read back and verified again ([`CardEncoder::recheck`]) before it may be printed.
//! Device calls block (PC/SC, file I/O, printer drivers) and run inside `spawn_blocking`. This
//! module must not decide what is valid: the store enforces the transitions, the encoder's
//! verification is the checkpoint's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecard_model::{DocumentNumber, EnrollmentRecord};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::job::{Job, JobState};
use crate::server::Station;
use crate::shutdown::Shutdown;
use crate::store::{Actor, Claimed, StepInfo, StoreError};

mod face;
mod printer;
mod recover;

pub use face::FacePrinter;
pub use printer::SimPrinter;
use recover::recover;

/// What a lane needs to encode one card. Holds personal data: Debug shows ids only.
pub struct EncodeJob {
    /// The job.
    pub job_id: i64,
    /// The MMC's application id.
    pub application_id: String,
    /// The number the store gave this card.
    pub document_number: DocumentNumber,
    /// The validated record (personal data).
    pub record: EnrollmentRecord,
    /// The DG2 face JPEG made at intake.
    pub face: ecard_imaging::ChipImage,
    /// The DG7 signature JPEG made at intake.
    pub signature: ecard_imaging::ChipImage,
    /// When personalization starts: the date of issue is its Moscow date.
    pub personalized_at: OffsetDateTime,
    /// The card access number drawn for this card (written to a chip that offers PACE).
    pub can: Can,
}

/// A card access number: 6 random decimal digits from the OS's generator, drawn per card
/// (ECARD.md section 10). A secret of the card: Debug shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Can(pub String);

impl Can {
    /// A fresh CAN.
    pub fn random() -> Can {
        use rand::Rng;
        Can(format!(
            "{:06}",
            rand::rngs::OsRng.gen_range(0..1_000_000u32)
        ))
    }
}

impl std::fmt::Debug for Can {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Can(..)")
    }
}

impl std::fmt::Debug for EncodeJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodeJob")
            .field("job_id", &self.job_id)
            .field("document_number", &self.document_number.mrz_form())
            .finish_non_exhaustive()
    }
}

/// A card that was written (and, once verified, may be printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedCard {
    /// Where the card is now (a simulated card image file, or a reader name).
    pub location: String,
    /// SHA-256 (hex) of the Document Signer certificate in its EF.SOD, once known.
    pub ds_certificate: Option<String>,
    /// EF.DG2 as read back from the card, once verified: the printed QR seal binds to it.
    pub dg2: Option<WrittenDg2>,
    /// What writing the card took (APDUs, bytes, lock), for the audit log's `verifying` entry.
    pub personalization: Option<String>,
    /// The CAN the chip was given, when it offers PACE (printed on the front).
    pub can: Option<Can>,
}

/// The EF.DG2 file read back from a card (the holder's face: personal data, so Debug shows its
/// length only).
#[derive(Clone, PartialEq, Eq)]
pub struct WrittenDg2(pub Vec<u8>);

impl std::fmt::Debug for WrittenDg2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrittenDg2({} bytes)", self.0.len())
    }
}

/// Why a card could not be encoded or verified. Whose fault it is decides what the lane does:
/// a card fault spoils the card; no blank or a reader fault stops the lane before it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// A blank whose serial is not in stock (never received, or already used): put aside as
    /// `destroyed: unknown blank`; the job goes to the next blank.
    #[error(
        "lane {lane}: blank {serial} is refused by the stock ledger: {reason}; it is put aside to be destroyed"
    )]
    UnknownBlank {
        /// The lane.
        lane: String,
        /// The blank's serial.
        serial: String,
        /// What the ledger said.
        reason: String,
    },
    /// The lane has no blank card; nothing was touched.
    #[error("no blank card in lane {lane}: {reason}")]
    NoBlank {
        /// The lane.
        lane: String,
        /// What was looked at.
        reason: String,
    },
    /// The card refused or broke while being written.
    #[error("card for job {job} failed while {step}: {reason}")]
    Card {
        /// The job.
        job: i64,
        /// The step (e.g. "writing EF.DG2").
        step: String,
        /// What the card or reader said.
        reason: String,
    },
    /// The card was written but does not verify as a checkpoint would.
    #[error("card for job {job} failed verification: {check}: {reason}")]
    Verify {
        /// The job.
        job: i64,
        /// The first failing check.
        check: String,
        /// Why.
        reason: String,
    },
    /// After a crash, the job's card is not where the store says it was.
    #[error("card for job {job} not found at {looked}")]
    Missing {
        /// The job.
        job: i64,
        /// Where the lane looked.
        looked: String,
    },
    /// The input could not be turned into chip files (a bug or a record the checks missed).
    #[error("job {job} cannot be encoded: {reason}")]
    Input {
        /// The job.
        job: i64,
        /// Why.
        reason: String,
    },
    /// The lane's own software panicked while driving the device (a bug): the card is put aside,
    /// the job is spoiled with this message, and the lane goes on.
    #[error("the lane's software failed (panic: {message}); the card is put aside")]
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The Document Signer's token is unavailable (pulled, or its module failed): the job goes
    /// back to the queue without counting an attempt, and the lane claims nothing until a probe
    /// signature works again.
    #[error("lane {lane}: signer unavailable: {reason}")]
    SignerUnavailable {
        /// The lane.
        lane: String,
        /// What the token said.
        reason: String,
    },
}

/// A device call that panicked, with the panic's message.
pub(crate) struct DevicePanic(String);

impl From<DevicePanic> for CardError {
    fn from(p: DevicePanic) -> Self {
        CardError::Panicked { message: p.0 }
    }
}

impl From<DevicePanic> for PrintError {
    fn from(p: DevicePanic) -> Self {
        PrintError::Panicked { message: p.0 }
    }
}

/// Runs one device call, turning a panic inside it into the call's error: a bug in a driver must
/// fail that card and job, not kill the lane (the lane task would die holding its job's lease).
pub(crate) fn guarded<T, E: From<DevicePanic>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!("a lane device call panicked: {message}");
            Err(E::from(DevicePanic(message)))
        }
    }
}

/// Writes and verifies cards. Implementations: the chip path (`ChipEncoder`, simulated card
/// images or PC/SC readers); tests use a fault-injecting recorder.
pub trait CardEncoder: Send {
    /// A short description for `GET /lanes` (e.g. `sim:/var/blanks`).
    fn describe(&self) -> String;
    /// Whether a blank is ready; checked before the lane claims a job.
    fn ready(&mut self) -> Result<(), CardError>;
    /// Takes a blank and personalizes it for `job` (writes, reads back each file, locks).
    fn encode(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError>;
    /// Reads the card back and verifies it as a checkpoint would; returns it with its DS
    /// certificate hash.
    fn verify(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<EncodedCard, CardError>;
    /// After a crash: finds the job's card where the lane left it and verifies it again.
    fn recheck(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError>;
    /// Puts the job's card (if any) in the reject bin.
    fn reject(&mut self, job: &EncodeJob) -> Result<(), CardError>;
}

/// Why a card could not be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// The printer failed on this card; the card is spoiled.
    #[error("printer {printer} failed on job {job}: {reason}")]
    Failed {
        /// The printer.
        printer: String,
        /// The job.
        job: i64,
        /// What it said.
        reason: String,
    },
    /// The printer is in a state an operator fixes at the printer (no cards, ribbon out, jam,
    /// cover open, offline); the card is spoiled and the lane shows the fault.
    #[error("printer {printer} fault on job {job}: {fault}: {reason}")]
    Fault {
        /// The printer.
        printer: String,
        /// The job.
        job: i64,
        /// The fault as the lane status shows it (e.g. `no cards`).
        fault: String,
        /// What it said.
        reason: String,
    },
    /// The lane's print software panicked (a bug): the card is spoiled with this message.
    #[error("the lane's print software failed (panic: {message})")]
    Panicked {
        /// The panic's message.
        message: String,
    },
}

/// Prints a verified card and outputs it.
pub trait Printer: Send {
    /// A short description for `GET /lanes`.
    fn describe(&self) -> String;
    /// Prints the card's surface and outputs it; returns where the card went.
    fn print(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<String, PrintError>;
}

/// What `GET /lanes` shows for one lane.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LaneStatus {
    /// Lane name.
    pub name: String,
    /// Encoder description.
    pub encoder: String,
    /// Printer description.
    pub printer: String,
    /// `idle`, `encoding`, `verifying`, `no_blank`, `signer_unavailable`, `stopped`.
    pub encoder_stage: String,
    /// `idle`, `printing`, `stopped`, or `fault: <kind>` (e.g. `fault: no cards`) until the next
    /// card prints.
    pub printer_stage: String,
    /// Job being encoded.
    pub encoding_job: Option<i64>,
    /// Job being printed.
    pub printing_job: Option<i64>,
    /// Cards issued since start.
    pub issued: u64,
    /// Cards spoiled since start.
    pub spoiled: u64,
    /// The last error (no personal data).
    pub last_error: Option<String>,
}

/// A lane ready to run.
pub struct Lane {
    /// Lane name, unique within the station.
    pub name: String,
    /// Its encoder.
    pub encoder: Box<dyn CardEncoder>,
    /// Its printer.
    pub printer: Box<dyn Printer>,
}

type Status = Arc<Mutex<LaneStatus>>;

fn set_status(status: &Status, f: impl FnOnce(&mut LaneStatus)) {
    // A panic while the status was held leaves it poisoned; the status is plain data, still
    // good to update.
    let mut s = status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut s);
}

/// A card on its way from the encoder stage to the printer stage.
struct Handoff {
    job: EncodeJob,
    card: EncodedCard,
    /// Recorded with the `issued` entry (e.g. that the card was re-verified after a restart).
    note: Option<String>,
}

/// The audit note of a card read back and verified again after a restart.
pub const RECHECKED: &str = "read back and verified again after a restart";

/// Runs `f` on the blocking pool with the device, and gives the device back.
async fn on_device<D: Send + 'static, R: Send + 'static>(
    mut device: D,
    f: impl FnOnce(&mut D) -> R + Send + 'static,
) -> (D, R) {
    match tokio::task::spawn_blocking(move || {
        let r = f(&mut device);
        (device, r)
    })
    .await
    {
        Ok(out) => out,
        // A device driver panicked: that is our bug; let the lane task die loudly.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs one lane until shutdown: recovery of its own interrupted jobs, then the claim loop.
/// Holds `_done` so the server knows when the lane has stopped.
pub(crate) async fn run(
    station: Station,
    lane: Lane,
    status: Status,
    mut shutdown: Shutdown,
    _done: mpsc::Sender<()>,
) {
    let Lane {
        name,
        encoder,
        printer,
    } = lane;
    set_status(&status, |s| {
        s.name = name.clone();
        s.encoder = encoder.describe();
        s.printer = printer.describe();
        s.encoder_stage = "idle".into();
        s.printer_stage = "idle".into();
    });
    let (tx, rx) = mpsc::channel::<Handoff>(1);
    let printer_task = tokio::spawn(printer_stage(
        station.clone(),
        name.clone(),
        printer,
        rx,
        status.clone(),
    ));
    let heartbeat = tokio::spawn(heartbeat(station.clone(), name.clone()));
    encoder_stage(&station, &name, encoder, tx, &status, &mut shutdown).await;
    // The sender is dropped: the printer stage drains what it was handed and stops.
    if let Err(e) = printer_task.await {
        tracing::error!(lane = %name, "printer stage ended abnormally: {e}");
    }
    heartbeat.abort();
    set_status(&status, |s| {
        s.encoder_stage = "stopped".into();
        s.printer_stage = "stopped".into();
    });
    tracing::info!(lane = %name, "lane stopped");
}

async fn heartbeat(station: Station, lane: String) {
    let lease = station.settings().lease;
    let mut tick = tokio::time::interval(lease / 3);
    loop {
        tick.tick().await;
        let (st, ln) = (station.settings().station_id.clone(), lane.clone());
        let now = station.now_ms();
        let until = now + lease.as_millis() as i64;
        if let Err(e) = station.db(move |s| s.heartbeat(&st, &ln, now, until)).await {
            tracing::warn!(lane = %lane, "heartbeat failed: {e}");
        }
    }
}

async fn encoder_stage(
    station: &Station,
    name: &str,
    mut encoder: Box<dyn CardEncoder>,
    tx: mpsc::Sender<Handoff>,
    status: &Status,
    shutdown: &mut Shutdown,
) {
    let settings = station.settings().clone();
    let actor = Actor::lane(&settings.station_id, name);
    // At start this lane's own interrupted jobs are recovered; afterwards only jobs of dead
    // stations are looked for (this station's own on-lane jobs are in flight).
    encoder = recover(station, name, encoder, &tx, status, true).await;
    let mut next_orphan_check = tokio::time::Instant::now() + settings.lease / 2;
    while !shutdown.is_shutdown() {
        if tokio::time::Instant::now() >= next_orphan_check {
            encoder = recover(station, name, encoder, &tx, status, false).await;
            next_orphan_check = tokio::time::Instant::now() + settings.lease / 2;
        }
        let (enc, ready) = on_device(encoder, |e| guarded(|| e.ready())).await;
        encoder = enc;
        if let Err(e) = ready {
            let stage = match e {
                CardError::SignerUnavailable { .. } => "signer_unavailable",
                _ => "no_blank",
            };
            set_status(status, |s| {
                s.encoder_stage = stage.into();
                s.last_error = Some(e.to_string());
            });
            tokio::select! {
                _ = tokio::time::sleep(settings.poll) => {}
                _ = shutdown.recv() => {}
            }
            continue;
        }
        let (st, ln, series) = (
            settings.station_id.clone(),
            name.to_string(),
            settings.series,
        );
        let now = station.now_ms();
        let until = now + settings.lease.as_millis() as i64;
        let claimed = station
            .db(move |s| s.claim_to_encode(&st, &ln, series, now, until))
            .await;
        let claimed = match claimed {
            Ok(Some(c)) => c,
            Ok(None) => {
                set_status(status, |s| s.encoder_stage = "idle".into());
                tokio::select! {
                    _ = station.work_notified() => {}
                    _ = tokio::time::sleep(settings.poll) => {}
                    _ = shutdown.recv() => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!(lane = %name, "claim failed: {e}");
                set_status(status, |s| s.last_error = Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(settings.poll) => {}
                    _ = shutdown.recv() => {}
                }
                continue;
            }
        };
        station.note_transition(JobState::Numbered);
        station.note_transition(JobState::Encoding);
        encoder = encode_one(station, &actor, encoder, claimed, &tx, status).await;
    }
}

/// Builds the device's view of a job from the store.
async fn encode_job(station: &Station, job: &Job) -> Result<EncodeJob, CardError> {
    let id = job.id;
    let (record_json, images_json) =
        station
            .db(move |s| s.inputs(id))
            .await
            .map_err(|e| CardError::Input {
                job: id,
                reason: e.to_string(),
            })?;
    let mut ejob = build_encode_job(station, job, &record_json, &images_json)?;
    // A card already in hand (recovery, re-check) has the CAN stored before it was written.
    if let Ok(Some(can)) = station.db(move |s| s.can(id)).await {
        ejob.can = Can(can);
    }
    Ok(ejob)
}

/// The device's view of a job from its stored inputs.
fn build_encode_job(
    station: &Station,
    job: &Job,
    record_json: &str,
    images_json: &str,
) -> Result<EncodeJob, CardError> {
    let id = job.id;
    let input = |reason: String| CardError::Input { job: id, reason };
    let record: EnrollmentRecord =
        serde_json::from_str(record_json).map_err(|e| input(format!("stored record: {e}")))?;
    let images: crate::server::ChipImages =
        serde_json::from_str(images_json).map_err(|e| input(format!("stored chip images: {e}")))?;
    let (face, signature) = images.decode().map_err(input)?;
    let number: DocumentNumber = job
        .document_number
        .as_deref()
        .ok_or_else(|| input("no number".into()))?
        .parse()
        .map_err(|e: ecard_model::number::DocumentNumberError| input(e.to_string()))?;
    Ok(EncodeJob {
        job_id: id,
        application_id: job.application_id.clone(),
        document_number: number,
        record,
        face,
        signature,
        personalized_at: OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(station.now_ms()) * 1_000_000,
        )
        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        can: Can::random(),
    })
}

/// Whether a store error may pass by itself (an outage, a restart), so the lane retries.
fn transient(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database { .. } | StoreError::Unreachable { .. } | StoreError::Poisoned
    )
}

/// Records a lane's step, retrying while the store is unreachable (with backoff, about a minute
/// and a half): a card in the lane's hands is not abandoned because the database restarted. A
/// commit whose answer was lost may have been applied: a retry that finds the job already in
/// the target state takes that as done.
async fn step(
    station: &Station,
    id: i64,
    to: JobState,
    actor: &Actor,
    info: StepInfo,
) -> Result<Job, StoreError> {
    let mut wait = Duration::from_millis(100);
    let mut failed_once = false;
    for attempt in 1..=STORE_TRIES {
        let (a, i, now) = (actor.clone(), info.clone(), station.now_ms());
        let r = station.db(move |s| s.step(id, to, &a, &i, now)).await;
        match r {
            Ok(job) => {
                station.note_transition(to);
                return Ok(job);
            }
            Err(StoreError::WrongState { got, .. }) if failed_once && got == to => {
                if let Ok(Some(job)) = station.db(move |s| s.get(id)).await {
                    station.note_transition(to);
                    return Ok(job);
                }
            }
            Err(e) if transient(&e) && attempt < STORE_TRIES => {
                failed_once = true;
                tracing::warn!(job = id, attempt, state = %to, "store unreachable: {e}; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Database {
        store: station.store().kind(),
        reason: format!("job {id}: the store stayed unreachable"),
    })
}

/// How often a lane's step is tried while the store is unreachable.
const STORE_TRIES: u32 = 24;

async fn spoil(
    station: &Station,
    id: i64,
    actor: &Actor,
    reason: String,
    count: bool,
    status: &Status,
) {
    let (actor, now, max) = (
        actor.clone(),
        station.now_ms(),
        station.settings().max_attempts,
    );
    tracing::warn!(job = id, "card spoiled: {reason}");
    set_status(status, |s| {
        s.spoiled += 1;
        s.last_error = Some(reason.clone());
    });
    let mut wait = Duration::from_millis(100);
    let mut result = Err(StoreError::Poisoned);
    for attempt in 1..=STORE_TRIES {
        let (a, r) = (actor.clone(), reason.clone());
        result = station
            .db(move |s| s.spoil(id, &a, &r, count, max, now))
            .await;
        match &result {
            Err(e) if transient(e) && attempt < STORE_TRIES => {
                tracing::warn!(
                    job = id,
                    attempt,
                    "store unreachable while spoiling: {e}; retrying"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            _ => break,
        }
    }
    match result {
        Ok(job) => {
            station.note_transition(JobState::Spoiled);
            if job.state == JobState::Failed {
                station.note_transition(JobState::Failed);
                tracing::warn!(
                    job = id,
                    attempts = job.attempts,
                    "job failed; an operator decides"
                );
            }
            station.notify_work();
        }
        Err(e) => tracing::error!(job = id, "could not record the spoiled card: {e}"),
    }
}

/// Encodes, verifies and hands one claimed job (already `encoding`) to the printer stage.
async fn encode_one(
    station: &Station,
    actor: &Actor,
    encoder: Box<dyn CardEncoder>,
    claimed: Claimed,
    tx: &mpsc::Sender<Handoff>,
    status: &Status,
) -> Box<dyn CardEncoder> {
    let Claimed {
        job,
        record_json,
        chip_images_json,
        unreadable,
    } = claimed;
    let id = job.id;
    set_status(status, |s| {
        s.encoder_stage = "encoding".into();
        s.encoding_job = Some(id);
    });
    if let Some(e) = unreadable {
        // No card was touched. Spoiling counts an attempt, so a record that never opens ends
        // `failed` with this reason (which names the field and the application).
        tracing::error!(lane = %actor.name, job = id, "the job's inputs do not open: {e}");
        spoil(station, id, actor, e.to_string(), true, status).await;
        return encoder;
    }
    let ejob = match build_encode_job(station, &job, &record_json, &chip_images_json) {
        Ok(j) => j,
        Err(e) => {
            // No card was touched: nothing to reject.
            spoil(station, id, actor, e.to_string(), true, status).await;
            return encoder;
        }
    };
    // The CAN is stored before the chip gets it, so a card in hand is never without it.
    let can = ejob.can.0.clone();
    if let Err(e) = station.db(move |s| s.set_can(id, &can)).await {
        spoil(
            station,
            id,
            actor,
            format!("cannot store the card access number: {e}"),
            true,
            status,
        )
        .await;
        return encoder;
    }
    let (encoder, ejob, encoded) = {
        let (enc, (ej, r)) = on_device(encoder, move |e| {
            let r = guarded(|| e.encode(&ejob));
            (ejob, r)
        })
        .await;
        (enc, ej, r)
    };
    let card = match encoded {
        Ok(c) => c,
        Err(e) => {
            // A job is not counted against for its signer's outage.
            let count = !matches!(e, CardError::SignerUnavailable { .. });
            return reject(station, actor, encoder, ejob, e.to_string(), count, status).await;
        }
    };
    let info = StepInfo {
        note: card.personalization.clone(),
        ..StepInfo::default()
    };
    if let Err(e) = step(station, id, JobState::Verifying, actor, info).await {
        tracing::error!(job = id, "cannot start verifying: {e}");
        return encoder;
    }
    set_status(status, |s| s.encoder_stage = "verifying".into());
    verify_and_hand_off(station, actor, encoder, ejob, Some(card), tx, status).await
}

/// Verifies a written card (or, with `card: None`, finds and re-verifies it after a crash) and
/// hands it to the printer stage.
async fn verify_and_hand_off(
    station: &Station,
    actor: &Actor,
    encoder: Box<dyn CardEncoder>,
    ejob: EncodeJob,
    card: Option<EncodedCard>,
    tx: &mpsc::Sender<Handoff>,
    status: &Status,
) -> Box<dyn CardEncoder> {
    let id = ejob.job_id;
    let note = card.is_none().then(|| RECHECKED.to_string());
    let (encoder, (ejob, verified)) = on_device(encoder, move |e| {
        let r = guarded(|| match &card {
            Some(c) => e.verify(&ejob, c),
            None => e.recheck(&ejob),
        });
        (ejob, r)
    })
    .await;
    let card = match verified {
        Ok(c) => c,
        Err(e) => {
            // A job is not counted against for its signer's outage.
            let count = !matches!(e, CardError::SignerUnavailable { .. });
            return reject(station, actor, encoder, ejob, e.to_string(), count, status).await;
        }
    };
    let info = StepInfo {
        ds_certificate: card.ds_certificate.clone(),
        detail: note,
        ..StepInfo::default()
    };
    if let Err(e) = step(station, id, JobState::Printing, actor, info).await {
        tracing::error!(job = id, "cannot start printing: {e}");
        return encoder;
    }
    set_status(status, |s| {
        s.encoder_stage = "idle".into();
        s.encoding_job = None;
    });
    let handoff = Handoff {
        job: ejob,
        card,
        note: None,
    };
    if tx.send(handoff).await.is_err() {
        // The printer stage only stops after this sender is dropped; it cannot be gone here.
        tracing::error!(
            job = id,
            "printer stage gone; the job is recovered at the next start"
        );
    }
    encoder
}

async fn reject(
    station: &Station,
    actor: &Actor,
    encoder: Box<dyn CardEncoder>,
    ejob: EncodeJob,
    reason: String,
    count: bool,
    status: &Status,
) -> Box<dyn CardEncoder> {
    let id = ejob.job_id;
    let (encoder, r) = on_device(encoder, move |e| guarded(|| e.reject(&ejob))).await;
    if let Err(e) = r {
        tracing::warn!(job = id, "could not move the card to the reject bin: {e}");
    }
    spoil(station, id, actor, reason, count, status).await;
    set_status(status, |s| {
        s.encoder_stage = "idle".into();
        s.encoding_job = None;
    });
    encoder
}

async fn printer_stage(
    station: Station,
    name: String,
    mut printer: Box<dyn Printer>,
    mut rx: mpsc::Receiver<Handoff>,
    status: Status,
) {
    let actor = Actor::lane(&station.settings().station_id, &name);
    // The `issued` commit of one card overlaps the printing of the next (at most one pending):
    // the card is out of the printer either way, and a crash before the commit leaves the job
    // `printing`, which a restart re-verifies and finishes.
    let mut pending: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(Handoff { job, card, note }) = rx.recv().await {
        let id = job.job_id;
        set_status(&status, |s| {
            s.printer_stage = "printing".into();
            s.printing_job = Some(id);
        });
        let number = job.document_number.mrz_form();
        let (p, printed) = on_device(printer, move |p| guarded(|| p.print(&job, &card))).await;
        printer = p;
        if let Some(previous) = pending.take() {
            let _ = previous.await;
        }
        match printed {
            Ok(_) => {
                let info = StepInfo {
                    detail: note,
                    ..StepInfo::default()
                };
                let (station, actor, status, name) =
                    (station.clone(), actor.clone(), status.clone(), name.clone());
                pending = Some(tokio::spawn(async move {
                    // The card is printed and verified: `step` retries its `issued` commit while
                    // the store is unreachable; a restart's recovery re-reads the card or asks an
                    // operator if it never lands.
                    match step(&station, id, JobState::Issued, &actor, info).await {
                        Ok(_) => {
                            tracing::info!(job = id, number = %number, lane = %name, "card issued");
                            set_status(&status, |s| s.issued += 1);
                        }
                        Err(e) => tracing::error!(job = id, "cannot record the issued card: {e}"),
                    }
                }));
            }
            Err(e) => {
                // The fault shows before the spoil is recorded, and stays until the next card.
                if let PrintError::Fault { fault, .. } = &e {
                    tracing::warn!(lane = %name, "printer fault: {fault}");
                    set_status(&status, |s| {
                        s.printer_stage = format!("fault: {fault}");
                        s.printing_job = None;
                    });
                    spoil(&station, id, &actor, e.to_string(), true, &status).await;
                    continue;
                }
                spoil(&station, id, &actor, e.to_string(), true, &status).await;
            }
        }
        set_status(&status, |s| {
            s.printer_stage = "idle".into();
            s.printing_job = None;
        });
    }
    if let Some(previous) = pending.take() {
        let _ = previous.await;
    }
}
