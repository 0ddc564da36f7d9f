//! Issue 19's throughput measurement, shared by `cargo bench -p ecard-station --bench
//! throughput` and `ecard bench throughput`: the station on zero-latency simulated cards and
//! printers over durable SQLite, fed the sample records with their images inline (as the HTTP
//! API takes them), two lanes and two submitters on whatever cores the machine gives.
//!
//! [`measure`] times intake alone (validation and the chip JPEGs, the queue filling up), the
//! lanes alone (that queue emptied), and end to end (submitters and lanes at once), each with the
//! process's CPU time, so a loaded machine changes the rates but hardly the CPU per card.
//!
//! Must not: assert a speed (callers print numbers and ratios), or run outside the folder the
//! caller gives it (every store, PKI and card image lives there).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ecard_chip::profile::Profile;

use crate::auth::Auth;
use crate::chip::{CardSource, ChipEncoder, Pki};
use crate::job::JobState;
use crate::lane::{CardEncoder, CardError, EncodeJob, EncodedCard, Lane, SimPrinter};
use crate::server::{LaneSet, Settings, Station};
use crate::store::{Actor, Store};

/// Issue 19's target on 2 cores: records per second into the queue (validation included), and
/// cards per second end to end.
pub const TARGET_RATE: f64 = 200.0;

/// Why a measurement could not run (never a slow result: that is a number, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThroughputError {
    /// A sample record or one of its images could not be read.
    #[error("sample {path}: {reason}")]
    Sample {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The samples folder holds no record.
    #[error("no sample records (*.json) in {0}")]
    NoSamples(PathBuf),
    /// The line (store, PKI, card profile) could not be set up.
    #[error("cannot set up the measured line: {0}")]
    Setup(String),
    /// The station refused a record it should take: the samples or the station are broken.
    #[error("record {index} was not taken: {reason}")]
    Submit {
        /// Its index in the run.
        index: usize,
        /// The station's answer.
        reason: String,
    },
    /// A submitter task died.
    #[error("a submitter stopped: {0}")]
    Task(String),
}

/// The sample records of `dir` (`*.json`, sorted by name), their images inline in base64 as the
/// API takes them, each made a first issue (a replacement sent again would rightly be refused).
pub fn sample_records(dir: &Path) -> Result<Vec<serde_json::Value>, ThroughputError> {
    let sample = |path: &Path, reason: String| ThroughputError::Sample {
        path: path.to_path_buf(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| sample(dir, e.to_string()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| sample(dir, e.to_string()))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(ThroughputError::NoSamples(dir.to_path_buf()));
    }
    let mut records = Vec::with_capacity(paths.len());
    for path in &paths {
        let text = std::fs::read(path).map_err(|e| sample(path, e.to_string()))?;
        let mut v: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| sample(path, e.to_string()))?;
        for field in ["photo", "signature"] {
            let Some(rel) = v[field]["path"].as_str().map(str::to_owned) else {
                return Err(sample(path, format!("{field}.path is missing")));
            };
            let bytes =
                std::fs::read(dir.join(&rel)).map_err(|e| sample(path, format!("{rel}: {e}")))?;
            v[field] = serde_json::json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(bytes)
            });
        }
        v["application"] = serde_json::json!({"kind": "first_issue"});
        records.push(v);
    }
    Ok(records)
}

/// `n` request bodies, the samples in turn, each with its own application id (`prefix-000001`)
/// and its own holder: the store allows one application in progress per holder, so each gets
/// its own identity document number (without the MRZ, which would have to agree with it) and a
/// date of birth `i` days earlier.
pub fn bodies(
    samples: &[serde_json::Value],
    prefix: &str,
    n: usize,
) -> Result<Vec<Vec<u8>>, ThroughputError> {
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let broken = |i: usize, reason: String| ThroughputError::Sample {
        path: PathBuf::from(format!("sample {}", i % samples.len().max(1))),
        reason,
    };
    if samples.is_empty() {
        return Err(ThroughputError::NoSamples(PathBuf::new()));
    }
    (0..n)
        .map(|i| {
            let mut v = samples[i % samples.len()].clone();
            v["application_id"] = serde_json::json!(format!("{prefix}-{i:06}"));
            let doc = v["identity_document"]
                .as_object_mut()
                .ok_or_else(|| broken(i, "identity_document is not an object".into()))?;
            doc.remove("mrz");
            doc.insert("number".into(), serde_json::json!(format!("BENCH{i:06}")));
            let born = v["date_of_birth"]
                .as_str()
                .ok_or_else(|| broken(i, "date_of_birth is missing".into()))?;
            let born = time::Date::parse(born, iso)
                .map_err(|e| broken(i, format!("date_of_birth: {e}")))?;
            let born = born - time::Duration::days(i as i64);
            let born = born
                .format(iso)
                .map_err(|e| broken(i, format!("date_of_birth: {e}")))?;
            v["date_of_birth"] = serde_json::json!(born);
            serde_json::to_vec(&v).map_err(|e| broken(i, e.to_string()))
        })
        .collect()
}

/// Pads a real encoder's `encode` to a fixed device time (a slower card OS).
pub struct Paced {
    /// The encoder doing the work.
    pub inner: ChipEncoder,
    /// The device time each `encode` takes at least.
    pub encode_time: Duration,
}

impl CardEncoder for Paced {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn ready(&mut self) -> Result<(), CardError> {
        self.inner.ready()
    }
    fn encode(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        let start = Instant::now();
        let r = self.inner.encode(job);
        if let Some(rest) = self.encode_time.checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
        r
    }
    fn verify(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<EncodedCard, CardError> {
        self.inner.verify(job, card)
    }
    fn recheck(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        self.inner.recheck(job)
    }
    fn reject(&mut self, job: &EncodeJob) -> Result<(), CardError> {
        self.inner.reject(job)
    }
}

/// A station on a fresh SQLite store in `dir` with `lanes` lanes on simulated cards (the real
/// chip path: perso, read-back, checkpoint verification with AA) and printers, their device
/// times `encode` and `print`. The lanes are not started.
pub fn line(
    dir: &Path,
    lanes: usize,
    encode: Duration,
    print: Duration,
) -> Result<(Station, Vec<Lane>), ThroughputError> {
    let setup = |e: &dyn std::fmt::Display| ThroughputError::Setup(e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| setup(&e))?;
    let store = Store::open_sqlite(&dir.join("station.db")).map_err(|e| setup(&e))?;
    store.ensure_series(77).map_err(|e| setup(&e))?;
    let pki = Arc::new(Pki::demo(&dir.join("pki")).map_err(|e| setup(&e))?);
    let profile = Profile::builtin("ecard-sim").map_err(|e| setup(&e))?;
    let station = Station::new(
        Arc::new(store),
        Settings {
            poll: Duration::from_millis(5),
            ..Settings::default()
        },
        Auth::default(),
    );
    let lanes = (1..=lanes)
        .map(|n| {
            let name = format!("lane-{n}");
            let inner = ChipEncoder::new(
                &name,
                CardSource::Sim {
                    blanks: dir.join("blanks"),
                    make_blanks: true,
                },
                profile.clone(),
                pki.clone(),
                dir,
            );
            Lane {
                name,
                encoder: Box::new(Paced {
                    inner,
                    encode_time: encode,
                }),
                printer: Box::new(SimPrinter {
                    per_card: print,
                    output_dir: dir.join("cards"),
                }),
            }
        })
        .collect();
    Ok((station, lanes))
}

/// Submits every body through `Station::submit` from `submitters` tasks, as the API's callers
/// would; each must be taken.
pub async fn submit_all(
    station: &Station,
    bodies: Vec<Vec<u8>>,
    submitters: usize,
) -> Result<(), ThroughputError> {
    let bodies = Arc::new(bodies);
    let submitters = submitters.max(1);
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let (st, bodies) = (station.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let actor = Actor::named("bench");
            for i in (s..bodies.len()).step_by(submitters) {
                let r = st.submit(&bodies[i], &actor).await;
                match r {
                    Ok(s) if s.job.state == JobState::Validated => {}
                    Ok(s) => {
                        return Err(ThroughputError::Submit {
                            index: i,
                            reason: format!("taken as {:?}, not validated", s.job.state),
                        });
                    }
                    Err(e) => {
                        return Err(ThroughputError::Submit {
                            index: i,
                            reason: e.to_string(),
                        });
                    }
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| ThroughputError::Task(e.to_string()))??;
    }
    Ok(())
}

/// Waits until `n` jobs are issued.
pub async fn wait_issued(station: &Station, n: i64) -> Result<(), ThroughputError> {
    loop {
        let st = station.clone();
        let issued = tokio::task::spawn_blocking(move || {
            st.store().counts().map(|c| {
                c.into_iter()
                    .find(|(s, _)| *s == JobState::Issued)
                    .map_or(0, |(_, n)| n)
            })
        })
        .await
        .map_err(|e| ThroughputError::Task(e.to_string()))?
        .map_err(|e| ThroughputError::Setup(e.to_string()))?;
        if issued >= n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CPU time this process has used (user + system), from /proc/self/stat on Linux: the machine
/// is shared, so cards per CPU-second is the number that does not depend on other load.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the command name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// One stage's count, wall time and process CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    /// Records or cards.
    pub count: usize,
    /// Wall time.
    pub wall: Duration,
    /// CPU time of the whole process meanwhile (`None` where /proc is absent).
    pub cpu: Option<Duration>,
}

impl Stage {
    /// Items per second of wall time.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    /// Milliseconds of CPU per item.
    pub fn cpu_ms_each(&self) -> Option<f64> {
        self.cpu
            .map(|c| c.as_secs_f64() * 1000.0 / self.count.max(1) as f64)
    }
    /// The rate against [`TARGET_RATE`].
    pub fn of_target(&self) -> f64 {
        self.per_second() / TARGET_RATE
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Intake into an idle station (validation, the chip JPEGs, the store's commit).
    pub intake: Stage,
    /// The lanes emptying the queue intake filled.
    pub lanes: Stage,
    /// Records submitted while the lanes run, to issued cards.
    pub end_to_end: Stage,
}

/// Runs issue 19's measurement with `n` records (the `samples` in turn), two lanes of
/// zero-latency simulated devices and two submitters, in `dir`.
pub async fn measure(
    dir: &Path,
    samples: &[serde_json::Value],
    n: usize,
) -> Result<Measurement, ThroughputError> {
    // Intake alone, then the lanes alone on the queue it filled.
    let (station, lanes) = line(&dir.join("alone"), 2, Duration::ZERO, Duration::ZERO)?;
    let input = bodies(samples, "A", n)?;
    let (t, cpu0) = (Instant::now(), cpu_time());
    submit_all(&station, input, 2).await?;
    let intake = stage(n, t, cpu0);
    let (t, cpu0) = (Instant::now(), cpu_time());
    let set = LaneSet::start(&station, lanes).await;
    let issued = wait_issued(&station, n as i64).await;
    let lanes = stage(n, t, cpu0);
    set.stop().await;
    issued?;
    // End to end: submitters and lanes share the cores.
    let (station, lanes_e2e) = line(&dir.join("e2e"), 2, Duration::ZERO, Duration::ZERO)?;
    let input = bodies(samples, "E", n)?;
    let set = LaneSet::start(&station, lanes_e2e).await;
    let (t, cpu0) = (Instant::now(), cpu_time());
    let run = async {
        submit_all(&station, input, 2).await?;
        wait_issued(&station, n as i64).await
    }
    .await;
    let end_to_end = stage(n, t, cpu0);
    set.stop().await;
    run?;
    Ok(Measurement {
        intake,
        lanes,
        end_to_end,
    })
}

fn stage(count: usize, started: Instant, cpu0: Option<Duration>) -> Stage {
    Stage {
        count,
        wall: started.elapsed(),
        cpu: cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
    }
}
