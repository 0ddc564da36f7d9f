//! `ecard bench at-rest`: what key custody and personal data at rest cost (ECARD.md section
//! 12), measured in one run.
//!
//! - Intake with encryption off and on, side by side: the station's own `submit` (validation,
//!   image preparation, the store's commit) over a fresh SQLite store, with and without a vault
//!   whose key-encryption key is in the token. Rounds alternate off/on so that the machine's
//!   noise falls on both; the best round of each is kept.
//! - Signatures per second through the token's Document Signer, and what that gives in cards
//!   per second (each card: EF.SOD and the printed seal, two signatures) against what a
//!   four-lane station needs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ecard_chip::pki::Signer;
use ecard_station::auth::Auth;
use ecard_station::server::{Settings, Station};
use ecard_station::store::{Actor, Store};
use ecard_station::vault::{TokenKek, Vault};
use serde::Serialize;

/// The label of the data key this bench makes in (or takes from) the token.
const BENCH_KEK: &str = "ecard-bench-data-kek";

/// `ecard bench at-rest` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A PKI folder whose keys are in a PKCS#11 token (its `pki.toml`; e.g. a station's
    /// `DATA_DIR/pki`, or `ecard pki init --pkcs11-module ...`): the data key is made there.
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,
    /// Records submitted per round and mode.
    #[arg(long, default_value_t = 200)]
    records: u64,
    /// Rounds (each: encryption off, then on).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Concurrent submitters (as the HTTP API's callers would be).
    #[arg(long, default_value_t = 2)]
    submitters: u64,
    /// Signatures timed through the token.
    #[arg(long, default_value_t = 500)]
    signatures: u32,
    /// The sample records (their images are sent inline).
    #[arg(long, default_value = "samples")]
    samples: PathBuf,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    records_per_round: u64,
    rounds: u32,
    intake_off_per_second: f64,
    intake_on_per_second: f64,
    /// 1 - on/off: the share of intake throughput encryption costs (noisy: the rounds'
    /// difference is mostly the machine's).
    encryption_cost: f64,
    /// Sealing one record as the store does (record and chip images, each under its own data
    /// key wrapped in the token), in microseconds.
    seal_us_per_record: f64,
    /// That time as a share of one record's intake time (clear).
    seal_share_of_intake: f64,
    signatures_per_second: f64,
    /// Cards per second the signer alone allows (two signatures a card).
    signing_cards_per_second: f64,
    /// Cards per second of four lanes at 3,000 cards an hour each.
    four_lanes_cards_per_second: f64,
}

/// One round: `records` submissions through `Station::submit`; returns records per second.
fn intake(
    records: &[serde_json::Value],
    vault: Option<&Vault>,
    n: u64,
    submitters: u64,
    tag: &str,
) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let mut store = Store::open_sqlite(&dir.path().join("station.db"))
        .context("cannot open the bench's SQLite store")?;
    if let Some(v) = vault {
        store = store.with_vault(v.clone());
    }
    store.ensure_series(77)?;
    let station = Station::new(Arc::new(store), Settings::default(), Auth::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| super::soak::submission_as(records, i, tag))
        .collect();
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..submitters.max(1) {
            let (station, bodies) = (station.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                let actor = Actor::named("bench");
                let mut i = k as usize;
                while i < bodies.len() {
                    station
                        .submit(&bodies[i], &actor)
                        .await
                        .map_err(|e| anyhow::anyhow!("record {i}: {e}"))?;
                    i += submitters.max(1) as usize;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await.context("a submitter panicked")??;
        }
        anyhow::Ok(())
    })?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn token_parts(dir: &Path) -> anyhow::Result<(Arc<dyn Signer + Send + Sync>, Vault)> {
    let (toml, token) = ecard_pkcs11::open_folder(dir, None)
        .with_context(|| format!("cannot open the token of {}", dir.display()))?;
    let signer = token
        .signer(&toml.ds_key)
        .context("the token has no Document Signer key")?;
    let key = match token.data_key(BENCH_KEK) {
        Ok(k) => k,
        Err(ecard_pkcs11::Pkcs11Error::NoKey { .. }) => token
            .generate_data_key(BENCH_KEK)
            .context("cannot make the bench's data key in the token")?,
        Err(e) => return Err(e).context("cannot find the bench's data key"),
    };
    let mac = token
        .mac_key(&ecard_station::vault::pseudonym_label(BENCH_KEK))
        .context("cannot make the bench's pseudonym key")?;
    Ok((
        Arc::new(signer),
        Vault::new(Arc::new(TokenKek::new(key, mac))),
    ))
}

/// Runs `ecard bench at-rest`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::pki::reexec_for_token(&args.pki)?;
    let (signer, vault) = token_parts(&args.pki)?;
    let records = super::soak::load_records(&args.samples)?;
    let (mut off, mut on) = (0f64, 0f64);
    for round in 0..args.rounds.max(1) {
        let a = intake(
            &records,
            None,
            args.records,
            args.submitters,
            &format!("OFF{round}"),
        )?;
        let b = intake(
            &records,
            Some(&vault),
            args.records,
            args.submitters,
            &format!("ON{round}"),
        )?;
        if !args.json {
            println!("round {round}: intake {a:.1} records/s clear, {b:.1} records/s encrypted");
        }
        off = off.max(a);
        on = on.max(b);
    }
    // Sealing alone, the part of intake that encryption adds: a submission's bytes stand for
    // the stored record, and are sealed twice (record, chip images) like the store does.
    let body = super::soak::submission_as(&records, 0, "SEAL");
    let seals = 100u32;
    let started = Instant::now();
    for i in 0..seals {
        vault.seal(&format!("job_inputs.record of application SEAL-{i}"), &body)?;
        vault.seal(
            &format!("job_inputs.chip_images of application SEAL-{i}"),
            &body,
        )?;
    }
    let seal_us_per_record = started.elapsed().as_secs_f64() * 1e6 / f64::from(seals);
    let started = Instant::now();
    for i in 0..args.signatures.max(1) {
        let mut digest = [0u8; 32];
        digest[..4].copy_from_slice(&i.to_be_bytes());
        signer
            .sign_sha256_digest(&digest)
            .context("the token refused to sign")?;
    }
    let per_sig = started.elapsed().max(Duration::from_nanos(1));
    let signatures_per_second = f64::from(args.signatures.max(1)) / per_sig.as_secs_f64();
    let report = Report {
        records_per_round: args.records,
        rounds: args.rounds.max(1),
        intake_off_per_second: off,
        intake_on_per_second: on,
        encryption_cost: 1.0 - on / off.max(f64::MIN_POSITIVE),
        seal_us_per_record,
        seal_share_of_intake: seal_us_per_record / 1e6 * off,
        signatures_per_second,
        signing_cards_per_second: signatures_per_second / 2.0,
        four_lanes_cards_per_second: 4.0 * 3000.0 / 3600.0,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "intake, best of {} rounds of {} records: {:.1} records/s clear, {:.1} records/s encrypted (AES-256-GCM, data keys wrapped in the token): encryption costs {:.1}% of intake throughput",
        report.rounds,
        report.records_per_round,
        report.intake_off_per_second,
        report.intake_on_per_second,
        report.encryption_cost * 100.0
    );
    println!(
        "sealing one record ({} kB, twice: record and chip images): {:.0} us, {:.1}% of a record's intake time",
        body.len() / 1000,
        report.seal_us_per_record,
        report.seal_share_of_intake * 100.0
    );
    println!(
        "signing through {}: {:.0} signatures/s, {:.0} cards/s (EF.SOD and seal), {:.0}x what four lanes at 3,000 cards/h need ({:.2} cards/s)",
        signer.describe(),
        report.signatures_per_second,
        report.signing_cards_per_second,
        report.signing_cards_per_second / report.four_lanes_cards_per_second,
        report.four_lanes_cards_per_second
    );
    Ok(ExitCode::SUCCESS)
}
