//! Test helpers: fresh stores of both kinds, and a sample record. Test-only.

use std::sync::Arc;
use std::time::Duration;

use crate::job::JobState;
use crate::server::Station;
use crate::store::Store;

/// A store under test and what to clean up afterwards.
pub(crate) struct TestStore {
    pub store: Arc<Store>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg {
            let _ = Store::drop_pg_schema(url, schema);
        }
    }
}

pub(crate) fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("station.db")).unwrap();
    store.ensure_series(77).unwrap();
    TestStore {
        store: Arc::new(store),
        _dir: Some(dir),
        pg: None,
    }
}

pub(crate) fn pg_url() -> String {
    std::env::var("ECARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A store in a fresh schema `ecard_test_<random>`, dropped at the end; `None` (after printing
/// "skipped: ...") when PostgreSQL is unreachable, unless ECARD_PG_TESTS=1 demands it.
pub(crate) fn postgres() -> Option<TestStore> {
    let url = pg_url();
    let schema = format!("ecard_test_{:016x}", rand::random::<u64>());
    match Store::open_postgres(&url, &schema) {
        Ok(store) => {
            store.ensure_series(77).unwrap();
            Some(TestStore {
                store: Arc::new(store),
                _dir: None,
                pg: Some((url, schema)),
            })
        }
        Err(e) => {
            if std::env::var("ECARD_PG_TESTS").as_deref() == Ok("1") {
                panic!("PostgreSQL at {url} is required (ECARD_PG_TESTS=1): {e}");
            }
            println!("skipped: PostgreSQL at {url} unreachable: {e}");
            None
        }
    }
}

/// A second store handle on the same PostgreSQL schema (another station).
pub(crate) fn postgres_peer(t: &TestStore) -> Store {
    let (url, schema) = t.pg.as_ref().unwrap();
    Store::open_postgres(url, schema).unwrap()
}

fn sample_b64(file: &str) -> String {
    use base64::Engine as _;
    let path = format!(
        "{}/../../samples/karimov/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&path).unwrap())
}

/// The synthetic sample portrait and signature (from `samples/`), base64, read once.
pub(crate) fn sample_images() -> &'static (String, String) {
    static IMAGES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    IMAGES.get_or_init(|| (sample_b64("photo.jpg"), sample_b64("signature.png")))
}

/// Chip images for jobs put into a store directly (the recording encoder does not look at them).
pub(crate) fn chip_images_json() -> String {
    serde_json::json!({"face": "/9j/2Q==", "face_width": 240, "face_height": 320,
                       "signature": "/9j/2Q==", "signature_width": 200, "signature_height": 80})
    .to_string()
}

/// A valid enrollment record with the sample images inline, for a holder of its own: the identity
/// document and birth date derive from `application_id`, so two applications are two people
/// (one valid card per holder).
pub(crate) fn record_json(application_id: &str) -> String {
    record_json_holder(application_id, application_id)
}

/// A valid record for application `application_id` by the same holder as `holder_of` (a
/// replacement names its holder's earlier application).
pub(crate) fn record_json_holder(application_id: &str, holder_of: &str) -> String {
    let (photo, signature) = sample_images();
    record_json_full(application_id, holder_of, photo, signature)
}

fn record_json_full(application_id: &str, holder_of: &str, photo: &str, signature: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(holder_of.as_bytes());
    let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    serde_json::json!({
        "application_id": application_id,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": format!("{}-{:02}-{:02}", 1950 + n % 50, 1 + (n / 50) % 12, 1 + (n / 600) % 28),
        "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": format!("FA{:07}", n % 10_000_000), "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01"},
        "photo": {"base64": photo},
        "signature": {"base64": signature},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
    .to_string()
}

use std::sync::Mutex;

use crate::lane::{CardEncoder, CardError, EncodeJob, EncodedCard};

/// What the recording encoder was asked, and the faults it is told to inject.
#[derive(Debug, Default)]
pub(crate) struct Script {
    /// Every call: `encode 77000001`, `verify ...`, `recheck ...`, `reject ...`.
    pub calls: Vec<String>,
    /// The next n encodes fail (card fault).
    pub fail_encodes: usize,
    /// The next n verifies fail (checkpoint check).
    pub fail_verifies: usize,
    /// Rechecks after a crash fail.
    pub fail_rechecks: bool,
    /// No blank card in the lane.
    pub no_blank: bool,
    /// The next n encodes panic (a driver bug).
    pub panic_encodes: usize,
}

/// A test-only encoder: it records each call and fails when told to. It writes no card: the
/// real chip path is `ChipEncoder`.
pub(crate) struct RecordingEncoder(pub Arc<Mutex<Script>>);

impl CardEncoder for RecordingEncoder {
    fn describe(&self) -> String {
        "recording (test)".into()
    }
    fn ready(&mut self) -> Result<(), CardError> {
        if self.0.lock().unwrap().no_blank {
            return Err(CardError::NoBlank {
                lane: "test".into(),
                reason: "told to have none".into(),
            });
        }
        Ok(())
    }
    fn encode(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        let mut s = self.0.lock().unwrap();
        let n = job.document_number.mrz_form();
        s.calls.push(format!("encode {} {n}", job.job_id));
        if s.panic_encodes > 0 {
            s.panic_encodes -= 1;
            drop(s);
            panic!("injected driver bug on job {}", job.job_id);
        }
        if s.fail_encodes > 0 {
            s.fail_encodes -= 1;
            return Err(CardError::Card {
                job: job.job_id,
                step: "writing EF.DG2".into(),
                reason: "injected 6A84".into(),
            });
        }
        Ok(EncodedCard {
            location: format!("slot:{n}"),
            ds_certificate: None,
            dg2: None,
            personalization: None,
            can: None,
        })
    }
    fn verify(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<EncodedCard, CardError> {
        let mut s = self.0.lock().unwrap();
        s.calls
            .push(format!("verify {} {}", job.job_id, card.location));
        if s.fail_verifies > 0 {
            s.fail_verifies -= 1;
            return Err(CardError::Verify {
                job: job.job_id,
                check: "sod_signature".into(),
                reason: "injected".into(),
            });
        }
        Ok(EncodedCard {
            location: card.location.clone(),
            ds_certificate: Some("d5".repeat(32)),
            dg2: None,
            personalization: None,
            can: None,
        })
    }
    fn recheck(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        let mut s = self.0.lock().unwrap();
        let n = job.document_number.mrz_form();
        s.calls.push(format!("recheck {} {n}", job.job_id));
        if s.fail_rechecks {
            return Err(CardError::Missing {
                job: job.job_id,
                looked: "slot".into(),
            });
        }
        Ok(EncodedCard {
            location: format!("slot:{n}"),
            ds_certificate: Some("d5".repeat(32)),
            dg2: None,
            personalization: None,
            can: None,
        })
    }
    fn reject(&mut self, job: &EncodeJob) -> Result<(), CardError> {
        self.0
            .lock()
            .unwrap()
            .calls
            .push(format!("reject {}", job.job_id));
        Ok(())
    }
}

/// A test-only printer that records and can fail its next n cards.
pub(crate) struct RecordingPrinter(pub Arc<Mutex<(Vec<String>, usize)>>);

impl crate::lane::Printer for RecordingPrinter {
    fn describe(&self) -> String {
        "recording (test)".into()
    }
    fn print(
        &mut self,
        job: &EncodeJob,
        card: &EncodedCard,
    ) -> Result<String, crate::lane::PrintError> {
        let mut s = self.0.lock().unwrap();
        s.0.push(format!("print {} {}", job.job_id, card.location));
        if s.1 > 0 {
            s.1 -= 1;
            return Err(crate::lane::PrintError::Failed {
                printer: "test".into(),
                job: job.job_id,
                reason: "injected jam".into(),
            });
        }
        Ok(card.location.clone())
    }
}

/// Waits (real time, at most a minute) until no job of the station is queued or on a lane: every
/// one is done, rejected, voided or failed. Needs a multi-threaded runtime: the store is read
/// with `block_in_place`, since the sync PostgreSQL client must not run on an async worker.
pub(crate) async fn settle(station: &Station) {
    for _ in 0..3000 {
        let counts = tokio::task::block_in_place(|| station.store().counts().unwrap());
        if counts.iter().all(|(s, n)| {
            *n == 0 || s.terminal() || matches!(s, JobState::Failed | JobState::NeedsReview)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("jobs did not settle: {:?}", station.store().counts());
}

/// Every card number the store gave out, with its status (`issued`, `voided`, …), in number order.
pub(crate) fn number_statuses(store: &Store) -> Vec<(String, String)> {
    store
        .numbers()
        .unwrap()
        .into_iter()
        .map(|n| (n.document_number, n.status))
        .collect()
}

/// A station on `store` (no tokens, polling every 20 ms, `max_attempts` cards per job) with the
/// sample record `application_id` submitted by `intake-1`, and that job's id.
pub(crate) async fn station_with_one_job(
    store: Arc<Store>,
    max_attempts: i64,
    application_id: &str,
) -> (Station, i64) {
    let station = Station::new(
        store,
        crate::server::Settings {
            poll: Duration::from_millis(20),
            max_attempts,
            ..crate::server::Settings::default()
        },
        crate::auth::Auth::default(),
    );
    let body = record_json(application_id);
    let id = station
        .submit(body.as_bytes(), &crate::store::Actor::named("intake-1"))
        .await
        .unwrap()
        .job
        .id;
    (station, id)
}

/// Opens an issued card for reading as every reader does: PACE with the CAN its job's record
/// holds (the job that number `number` was given to), plain for a card without access control.
pub(crate) fn open_issued<'a>(
    store: &Store,
    number: &str,
    t: &'a mut dyn ecard_chip::transport::Transport,
) -> ecard_chip::access::Session<'a> {
    let can = store
        .number_owner(number)
        .unwrap()
        .and_then(|(job, _)| store.can(job).unwrap())
        .unwrap_or_else(|| "000000".into());
    let pw = ecard_chip::pace::Password::can(&can).unwrap();
    ecard_chip::access::open(t, Some(&pw), &mut rand::rngs::OsRng).unwrap()
}
