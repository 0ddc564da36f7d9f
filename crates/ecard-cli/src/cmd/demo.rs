//! `ecard demo`: the whole issuance on simulated cards, with nothing to set up, through the same
//! station pipeline `ecard station serve` runs (in-process, without HTTP). It makes a demo PKI,
//! starts a station on embedded defaults under `OUT/station` (SQLite, two simulated lanes, faces
//! spooled when the fonts are installed), submits the sample records as an integrator would,
//! waits until every job is settled, then reads each issued card back and judges it as a
//! checkpoint would (Active Authentication included). It exits 0 only when every card was issued
//! and verified.
//!
//! Output: `OUT/pki/` (csca.pem is the trust anchor, ds.pem the signer of cards, seals and status
//! lists), `OUT/station/` (the station's data: `ecard audit verify --data-dir OUT/station` checks
//! its audit log), `OUT/cards/<document number>/` with the record as submitted
//! (`enrollment.json`, images beside it), `card.img` (the card the lane output), `chip/` (a
//! `read` dump), the printed face (`face-front.png`, `face-back.png`, `face.pdf`; when the fonts
//! are installed), the QR seal (`seal.txt`, `seal.png`: read off the printed face, or signed by
//! the demo over the DG2 read back when no face was printed), `OUT/status.cose` (the station's
//! signed card status list) and `OUT/report.json` (per card: job, lane, verdict, lock probe, what
//! personalization took).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ecard_chip::pki::PkiConfig;
use ecard_chip::verify::Outcome;
use ecard_imaging::PreparedEnrollment;
use ecard_model::number::DocumentNumber;
use ecard_seal::{Seal, SealPayload};
use ecard_station::cli::{Assembled, assemble};
use ecard_station::config::{PkiPaths, StationConfig};
use ecard_station::job::{Job, JobState};
use ecard_station::server::{LaneSet, Station};
use ecard_station::store::Actor;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::card::{CardArgs, CardSession, WaitArgs, choose_profile, create_dir};
use super::personalize::load_valid;
use super::pki::{CSCA_CERT, DocumentSigner, load_signer};
use super::verify::{TrustArgs, check_files};
use crate::output::WithHelp;

/// Arguments of `ecard demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many cards to issue (the sample records are used in turn).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    cards: u32,
    /// The output folder (a previous demo's output there is replaced).
    #[arg(long, value_name = "DIR", default_value = "demo-out")]
    out: PathBuf,
    /// The folder of sample enrollment records.
    #[arg(long, value_name = "DIR", default_value = "samples")]
    samples: PathBuf,
    /// Firmware profile of the simulated cards.
    #[arg(long, value_name = "NAME", default_value = "ecard-sim")]
    profile: String,
    /// Card series (2 digits).
    #[arg(long, default_value_t = 77, value_parser = clap::value_parser!(u8).range(0..=99))]
    series: u8,
    /// The first card number (7 digits) the demo's station hands out.
    #[arg(long, default_value_t = 1_000_001, value_parser = clap::value_parser!(u32).range(1..=9_999_999))]
    first_number: u32,
}

#[derive(Serialize)]
struct CardReport {
    document_number: String,
    application_id: String,
    job: i64,
    lane: Option<String>,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_failure: Option<String>,
    locked: bool,
    /// The station's lock probe after verification (`refused:<SW>` on a locked card).
    lock_probe: Option<String>,
    /// What the lane recorded in the audit log when it wrote the card.
    personalization: Option<String>,
    /// Cards spoiled before this one verified.
    spoiled: i64,
    /// How the chip is protected: `pace` (opened with the CAN printed on the front) or `none`.
    access_control: String,
    /// The card access number printed on the front (also in `cards/<number>/can.txt`).
    can: String,
}

/// A job that did not end issued.
#[derive(Serialize)]
struct NotIssued {
    application_id: String,
    job: i64,
    state: String,
    reason: Option<String>,
}

#[derive(Serialize)]
struct Report {
    cards: Vec<CardReport>,
    not_issued: Vec<NotIssued>,
    all_valid: bool,
    trust_anchor: String,
    station_data: String,
    audit_entries: i64,
}

/// A sample record, validated, with its images inline as the station takes them.
struct Sample {
    source: PathBuf,
    prepared: PreparedEnrollment,
    record: serde_json::Value,
}

/// One record the demo submits: a sample under its own application id. Its body is made when
/// it is sent, so a demo of thousands of cards holds each sample's images once.
struct Submission<'a> {
    sample: &'a Sample,
    application_id: String,
    /// A sample used again: sent for another person.
    reused: bool,
    /// Which use of the sample (1 the first).
    round: usize,
    /// The submission's position.
    index: usize,
}

impl Submission<'_> {
    /// The request body. The demo's station is new, so every record goes in as a first issue
    /// (a sample replacement names a card this station never issued, which it would refuse); a
    /// sample used again is another person (identity document number and birth day changed, its
    /// MRZ dropped), since a holder gets one valid card.
    fn body(&self) -> anyhow::Result<Vec<u8>> {
        let mut record = self.sample.record.clone();
        record["application_id"] = serde_json::json!(self.application_id);
        record["application"] = serde_json::json!({ "kind": "first_issue" });
        if self.reused {
            let round = self.round;
            if let Some(doc) = record["identity_document"].as_object_mut() {
                doc.remove("mrz");
                // Unique per submission, so no two demo holders share a document.
                doc.insert(
                    "number".into(),
                    serde_json::json!(format!("DM{:07}", self.index % 10_000_000)),
                );
            }
            if let Some(dob) = record["date_of_birth"].as_str().map(str::to_string)
                && let (Some(ym), Some(day)) = (dob.get(..8), dob.get(8..10))
                && let Ok(day) = day.parse::<u32>()
            {
                let day = (day + round as u32 - 1) % 28 + 1;
                record["date_of_birth"] = serde_json::json!(format!("{ym}{day:02}"));
            }
        }
        Ok(serde_json::to_vec(&record)?)
    }
}

/// Runs `ecard demo`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // The demo's keys live in a SoftHSM2 token under OUT/pki (issue 16).
    super::pki::reexec_for_new_token(&args.out.join("pki"))?;
    // Everything that can be wrong with the input is found before anything is written.
    let now = time::OffsetDateTime::now_utc();
    let today = ecard_model::dates::moscow_date(now);
    let samples = load_samples(&args.samples, today)?;
    let submissions: Vec<Submission> = (0..args.cards as usize)
        .map(|i| submission(&samples, i))
        .collect();
    let profile = choose_profile(Some(&args.profile), &[])?;
    prepare_out(&args.out)?;
    let pki_dir = args.out.join("pki");
    // The PKI is valid from this clock reading; the station signs each card later than that.
    super::pki::create_demo_token_pki(&pki_dir, &PkiConfig::default(), now)?;
    let signer = load_signer(&pki_dir)?;

    let station_dir = args.out.join("station");
    let mut config = StationConfig::defaults(&station_dir);
    config.pki = Some(PkiPaths {
        csca: pki_dir.join(CSCA_CERT),
        ds_cert: pki_dir.join("ds.pem"),
        ds_key: pki_dir.join(ecard_pkcs11::PKI_TOML),
    });
    config.settings.series = args.series;
    // A new store: the series starts where the demo was asked to.
    config.settings.first_number = args.first_number;
    config.settings.poll = Duration::from_millis(20);
    // The card maker delivers each lane's blanks with a manifest; the station imports it, so the
    // lanes take only blanks the stock ledger holds (ECARD.md section 11).
    let mut manifest = Vec::new();
    for lane in &mut config.lanes {
        lane.profile = profile.clone();
        if let ecard_station::chip::CardSource::Sim {
            blanks,
            make_blanks,
        } = &mut lane.source
        {
            *make_blanks = false;
            let spare = (args.cards as usize).div_ceil(2) + 2;
            manifest.extend(
                ecard_station::chip::make_blanks(blanks, args.cards as usize + spare, &profile)
                    .with_context(|| format!("cannot make blanks in {}", blanks.display()))?,
            );
        }
    }
    let Assembled {
        station,
        lanes,
        notes,
        ..
    } = assemble(&config).context("cannot start the demo's station")?;
    if !manifest.is_empty() {
        let text: String = manifest
            .iter()
            .map(|l| format!("{},{},{}\n", l.serial, l.batch, l.key_version))
            .collect();
        std::fs::write(station_dir.join("blanks-manifest.csv"), &text)
            .context("cannot write the blanks' manifest")?;
        // SHA-256 of the manifest, hex: the ledger refuses the same file twice.
        let sha = ecard_station::auth::hash_token(&text);
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        station
            .store()
            .stock_import(&manifest, "blanks-manifest.csv", &sha, "demo", now_ms)
            .context("cannot import the blanks' manifest")?;
    }
    // Lanes built alike have the same note: say it once.
    let mut said = std::collections::BTreeSet::new();
    for note in &notes {
        let what = note.split_once(": ").map_or(note.as_str(), |(_, w)| w);
        if said.insert(what.to_string()) {
            eprintln!("note: {what}");
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = std::time::Instant::now();
    let jobs = rt.block_on(issue_all(&station, lanes, &submissions))?;
    let took = started.elapsed();

    let trust = TrustArgs {
        trust: vec![pki_dir.join(CSCA_CERT)],
        at: Some(today),
        revoked: None,
        status: None,
        ds: vec![],
        strict: false,
        json: false,
    };
    let mut cards = Vec::new();
    let mut not_issued = Vec::new();
    let mut warned_seal = false;
    for (job, sub) in jobs.iter().zip(&submissions) {
        let number = match (&job.state, job.document_number.as_deref()) {
            (JobState::Issued, Some(n)) => n
                .parse::<DocumentNumber>()
                .with_context(|| format!("job {} was issued with a bad number {n}", job.id))?,
            _ => {
                eprintln!(
                    "job {} ({}): {}{}",
                    job.id,
                    job.application_id,
                    job.state.as_str(),
                    job.last_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                not_issued.push(NotIssued {
                    application_id: job.application_id.clone(),
                    job: job.id,
                    state: job.state.as_str().to_string(),
                    reason: job.last_error.clone(),
                });
                continue;
            }
        };
        let card = collect_card(
            &station,
            &args.out,
            job,
            sub,
            &number,
            &trust,
            &signer,
            &mut warned_seal,
        )?;
        if let Some(f) = &card.first_failure {
            eprintln!("card {number}: NOT VALID: {f}");
        }
        cards.push(card);
    }

    // The station's own list: what `GET /api/v1/status-list` serves.
    let status_path = args.out.join("status.cose");
    let pki = station
        .status_signer()
        .context("the demo's station has no Document Signer")?;
    let list = ecard_station::status::signed_list(station.store(), pki, now)
        .context("cannot sign the demo's status list")?;
    std::fs::write(&status_path, list)
        .with_context(|| format!("cannot write {}", status_path.display()))?;

    let (entries, head, states) = station.store().audit_snapshot()?;
    let audit_entries = ecard_station::audit::verify_chain(&entries, &head)
        .and_then(|n| ecard_station::audit::verify_jobs(&entries, &states).map(|()| n))
        .map_err(|e| anyhow::anyhow!("the demo station's audit log does not verify: {e}"))?;

    let all_valid = not_issued.is_empty() && cards.iter().all(|c| c.valid);
    let valid = cards.iter().filter(|c| c.valid).count();
    let report = Report {
        cards,
        not_issued,
        all_valid,
        trust_anchor: pki_dir.join(CSCA_CERT).display().to_string(),
        station_data: station_dir.display().to_string(),
        audit_entries,
    };
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    crate::out!(
        "{valid} of {} cards issued and verified; report in {}",
        submissions.len(),
        report_path.display()
    );
    crate::out!(
        "the station took {:.1} s from the first record to the last card ({:.1} cards/s, {} lanes, this build's speed)",
        took.as_secs_f64(),
        submissions.len() as f64 / took.as_secs_f64().max(1e-3),
        config.lanes.len()
    );
    crate::out!(
        "verify a card again: ecard verify {}/cards/<number>/chip --trust {} --status {}",
        args.out.display(),
        report.trust_anchor,
        status_path.display()
    );
    crate::out!(
        "scan a card's seal: ecard scan {0}/cards/<number>/{3} --trust {1} --ds {0}/pki/ds.pem --status {2}",
        args.out.display(),
        report.trust_anchor,
        status_path.display(),
        if warned_seal {
            "seal.png"
        } else {
            "face-front.png"
        }
    );
    crate::out!(
        "check the station's audit log ({audit_entries} entries): ecard audit verify --data-dir {}",
        station_dir.display()
    );
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The record of card `i`: the samples in turn. A record used again gets its own application id
/// (`<id>-2`, `-3`, ...: the station answers a known id with the existing job); a replacement used
/// again is sent as a first issue, because its first use revoked the card it replaces and the
/// station rightly rejects a second replacement of a revoked card.
fn submission(samples: &[Sample], i: usize) -> Submission<'_> {
    let sample = &samples[i % samples.len()];
    let round = i / samples.len() + 1;
    let id = &sample.prepared.record.application_id;
    Submission {
        sample,
        application_id: if round > 1 {
            format!("{id}-{round}")
        } else {
            id.clone()
        },
        reused: round > 1,
        round,
        index: i,
    }
}

/// Starts the lanes, submits every record, waits until every job is settled, stops the lanes;
/// returns the jobs in submission order.
async fn issue_all(
    station: &Station,
    lanes: Vec<ecard_station::lane::Lane>,
    submissions: &[Submission<'_>],
) -> anyhow::Result<Vec<Job>> {
    let bar = ProgressBar::new(submissions.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} issuing [{bar:30}] {pos}/{len} cards, {elapsed} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let set = LaneSet::start(station, lanes).await;
    let actor = Actor::named("demo");
    let mut ids = Vec::with_capacity(submissions.len());
    let mut failure = None;
    for sub in submissions {
        bar.set_message(format!("submitting {}", sub.application_id));
        match station.submit(&sub.body()?, &actor).await {
            Ok(s) => ids.push(s.job.id),
            Err(e) => {
                failure = Some(anyhow::Error::new(e).context(format!(
                    "the station did not take record {}",
                    sub.sample.source.display()
                )));
                break;
            }
        }
    }
    bar.set_message("");
    if failure.is_none() {
        loop {
            let counts = station.db(|s| s.counts()).await?;
            let settled: i64 = counts
                .iter()
                .filter(|(s, _)| s.terminal() || *s == JobState::Failed)
                .map(|(_, n)| n)
                .sum();
            bar.set_position(settled.max(0) as u64);
            if settled as usize >= ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    set.stop().await;
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        let job = station
            .db(move |s| s.get(id))
            .await?
            .with_context(|| format!("job {id} is gone from the demo's store"))?;
        jobs.push(job);
    }
    Ok(jobs)
}

/// Gathers one issued card into `OUT/cards/<number>/` and judges it as a checkpoint would.
#[allow(clippy::too_many_arguments)]
fn collect_card(
    station: &Station,
    out: &Path,
    job: &Job,
    sub: &Submission<'_>,
    number: &DocumentNumber,
    trust: &TrustArgs,
    signer: &DocumentSigner,
    warned_seal: &mut bool,
) -> anyhow::Result<CardReport> {
    let n = number.mrz_form();
    let station_dir = out.join("station");
    let dir = out.join("cards").join(&n);
    create_dir(&dir)?;
    write_record(sub, &dir)?;
    let image = dir.join("card.img");
    let issued = station_dir.join("cards").join(format!("{n}.img"));
    std::fs::copy(&issued, &image).with_context(|| {
        format!(
            "cannot copy card {n} from {} to {}",
            issued.display(),
            image.display()
        )
    })?;

    // Read it back from its image file, as a checkpoint would.
    let card_args = CardArgs {
        sim: Some(image),
        reader: None,
    };
    let no_wait = WaitArgs {
        wait: false,
        wait_timeout: None,
    };
    // The chip is opened with the CAN of its job record, as printed on the card's front.
    let can = station
        .store()
        .can(job.id)?
        .with_context(|| format!("job {} has no card access number", job.id))?;
    let password = ecard_chip::pace::Password::can(&can)?;
    let mut session = CardSession::open(&card_args, &no_wait)?;
    let read = super::check::read_and_authenticate(&mut session, Some(&password));
    session.close()?;
    let (files, aa, access) = read.with_context(|| format!("cannot read card {n} back"))?;
    // The card in hand carries its CAN on the printed front; the folder that stands for it too.
    std::fs::write(dir.join("can.txt"), format!("{can}\n"))
        .with_context(|| format!("cannot write {}", dir.join("can.txt").display()))?;
    super::read::write_dump(&dir.join("chip"), &files)?;
    let report = check_files(&files, trust, aa)?;
    let first_failure = report.first_failure().map(|c| match &c.outcome {
        Outcome::Fail(why) => format!("{}: {why}", c.name),
        _ => c.name.to_string(),
    });

    // The printed face, from the station's spool; the seal read off it.
    let spool = station_dir.join("print-spool");
    let stem = format!("job-{}_{n}", job.id);
    let mut printed = false;
    for (from, to) in [
        (format!("{stem}-front.png"), "face-front.png"),
        (format!("{stem}-back.png"), "face-back.png"),
        (format!("{stem}.pdf"), "face.pdf"),
    ] {
        // The station seals what it spools (personal data at rest); the demo's card folder,
        // which stands for the card in the holder's hand, gets the face in clear.
        let bytes = ecard_station::cli::read_spool_file(station.store().vault(), &spool, &from)?;
        if let Some(bytes) = bytes {
            std::fs::write(dir.join(to), bytes)
                .with_context(|| format!("cannot write {} in {}", to, dir.display()))?;
            printed = true;
        }
    }
    let seal = if printed {
        let front = std::fs::read(dir.join("face-front.png"))
            .with_context(|| format!("cannot read the face of card {n}"))?;
        ecard_seal::decode_qr_image(&front).ok().and_then(|texts| {
            texts
                .into_iter()
                .find(|t| t.starts_with(ecard_seal::SEAL_PREFIX))
        })
    } else {
        None
    };
    let seal = match seal {
        Some(s) => s,
        None => {
            // No face was printed (no fonts): the demo signs the seal the face would carry.
            *warned_seal = true;
            let dg2 = files
                .get(&ecard_chip::lds::EfId::Dg2)
                .with_context(|| format!("card {n} has no DG2"))?;
            // The dates the chip holds (DG12), so the seal agrees with the card in hand.
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let issue = report
                .holder
                .as_ref()
                .and_then(|h| h.date_of_issue.as_deref())
                .and_then(|d| time::Date::parse(d, &format).ok())
                .with_context(|| format!("card {n} holds no readable date of issue"))?;
            Seal::sign(
                &SealPayload::for_card(
                    &sub.sample.prepared.holder,
                    number,
                    issue,
                    ecard_model::dates::expiry_for(issue),
                    dg2,
                ),
                &signer.key,
                &signer.cert,
            )
            .with_context(|| format!("cannot sign the QR seal of card {n}"))?
            .to_string()
        }
    };
    super::seal_files::write(&dir, &seal)?;

    let id = job.id;
    let history = station.store().history(id)?;
    let personalization = history
        .iter()
        .rev()
        .find(|e| e.to_state == JobState::Verifying.as_str())
        .and_then(|e| e.detail.clone());
    let lock_probe = station.store().issued_card(&n)?.map(|r| r.lock_result);
    Ok(CardReport {
        document_number: n,
        application_id: job.application_id.clone(),
        job: job.id,
        lane: history.iter().rev().find_map(|e| e.lane.clone()),
        valid: report.is_valid(),
        first_failure,
        locked: lock_probe
            .as_deref()
            .is_some_and(|l| l.starts_with("refused:")),
        lock_probe,
        personalization,
        spoiled: history
            .iter()
            .filter(|e| e.to_state == JobState::Spoiled.as_str())
            .count() as i64,
        access_control: match access {
            ecard_chip::access::Access::None => "none".into(),
            _ => "pace".into(),
        },
        can,
    })
}

/// Makes `out` ready: creates it, or clears a previous demo's output (and nothing else).
fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let is_demo = out.join("report.json").exists() || out.join("pki").join(CSCA_CERT).exists();
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_demo && !empty {
            return Err(anyhow::anyhow!(
                "{} exists and is not a demo's output folder",
                out.display()
            ))
            .help("choose another --out, or remove the folder");
        }
        for file in ["status.cose", "report.json"] {
            let p = out.join(file);
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("cannot clear {}", p.display()))?;
            }
        }
        for sub in ["pki", "cards", "station"] {
            let p = out.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p)
                    .with_context(|| format!("cannot clear {}", p.display()))?;
            }
        }
    }
    create_dir(out)
}

/// Every `*.json` record in `dir`, validated, in file-name order, with its images inline.
fn load_samples(dir: &Path, today: time::Date) -> anyhow::Result<Vec<Sample>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the sample records in {}", dir.display()))
        .help("run the demo from the repository's root, or point --samples at a folder of enrollment records")?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("{} holds no enrollment records (*.json)", dir.display());
    }
    paths
        .into_iter()
        .map(|source| {
            use base64::Engine as _;
            let prepared = load_valid(&source, today)?;
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let mut record: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", source.display()))?;
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            record["photo"] = serde_json::json!({ "base64": b64(&prepared.photo_original) });
            record["signature"] =
                serde_json::json!({ "base64": b64(&prepared.signature_original) });
            Ok(Sample {
                source,
                prepared,
                record,
            })
        })
        .collect()
}

/// Writes the record as submitted, with its images beside it and the record pointing at them.
fn write_record(sub: &Submission<'_>, dir: &Path) -> anyhow::Result<()> {
    let mut record: serde_json::Value = serde_json::from_slice(&sub.body()?)?;
    for (field, bytes) in [
        ("photo", &sub.sample.prepared.photo_original),
        ("signature", &sub.sample.prepared.signature_original),
    ] {
        let name = format!(
            "{field}.{}",
            if bytes.starts_with(&[0xFF, 0xD8]) {
                "jpg"
            } else {
                "png"
            }
        );
        std::fs::write(dir.join(&name), bytes)
            .with_context(|| format!("cannot write {name} in {}", dir.display()))?;
        record[field] = serde_json::json!({ "path": name });
    }
    let path = dir.join("enrollment.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("cannot write {}", path.display()))
}
