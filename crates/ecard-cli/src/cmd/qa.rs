//! `ecard qa`: a QA inspector checks an issued card against what the station wrote, and records
//! the verdict on its job. `ecard qa batch` does it card after card at a reader; `ecard qa report`
//! counts the recorded verdicts.
//!
//! The judging lives in `ecard_station::qa` (so the tests reach it); this module only gathers the
//! evidence (files, Active Authentication, the lock probe) and the station's facts (from the store
//! with `--data-dir`, over HTTP with `--station`), prints, and maps the verdict to the exit code:
//! 0 pass, 1 fail, 3 error. It prints numbers and check names, never holder data.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use ecard_chip::read::try_write_same_byte;
use ecard_station::qa::{self, CardEvidence, QaVerdict, StationFacts, report};
use ecard_station::store::Store;
use x509_cert::Certificate;

use super::card::{CardArgs, CardSession, WaitArgs};
use crate::output::WithHelp;

/// Where the station's facts come from and where the verdict goes.
#[derive(Debug, Clone, clap::Args)]
pub struct StationArgs {
    /// The station's API base URL (plain http), e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", conflicts_with_all = ["data_dir", "config"])]
    pub station: Option<String>,
    /// A file holding a bearer token with role qa (the verdict is recorded under its name); else
    /// the environment variable ECARD_TOKEN. Never the token itself on the command line, where
    /// every user of the machine can read it.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The station's data directory: read and write its store directly.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The station's config file (its store and PKI), with --data-dir or alone.
    #[arg(long, value_name = "station.toml")]
    pub config: Option<PathBuf>,
    /// Trusted CSCA certificates (default with --data-dir: the station's CSCA).
    #[arg(long, value_name = "CSCA.pem")]
    pub trust: Vec<PathBuf>,
    /// Who inspects, with --data-dir (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub inspector: Option<String>,
    /// Check as of this date instead of today in Moscow (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = super::enrollment::parse_date)]
    pub at: Option<time::Date>,
}

/// Arguments of `ecard qa`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    card: Option<CardArgs>,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    station: StationArgs,
    /// A photo or scan of the card's printed front: its QR seal must verify and match the chip.
    #[arg(long, value_name = "IMAGE")]
    face: Option<PathBuf>,
    /// The card number printed on the front: the chip is opened with the CAN of that number's
    /// job record (a chip protected by PACE cannot be read without it).
    #[arg(long, value_name = "N")]
    number: Option<String>,
    /// Or open the chip with the CAN (or MRZ key) printed on the card instead of the job record's.
    #[command(flatten)]
    access: super::card::AccessArgs,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Inspect card after card at a reader until Ctrl-C or --count cards.
    Batch(BatchArgs),
    /// Count recorded verdicts by lane, day and failed check.
    Report(ReportArgs),
}

/// Arguments of `ecard qa batch`.
#[derive(Debug, clap::Args)]
struct BatchArgs {
    /// The PC/SC reader.
    #[arg(long, value_name = "NAME")]
    reader: String,
    /// Stop after this many cards.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    station: StationArgs,
}

/// Arguments of `ecard qa report`.
#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// First day (Moscow), YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    from: String,
    /// Last day (Moscow), YYYY-MM-DD, included.
    #[arg(long, value_name = "DATE")]
    to: String,
    /// html, csv or json.
    #[arg(long, default_value = "html")]
    format: String,
    #[command(flatten)]
    station: StationArgs,
}

/// The station, as the inspector reaches it.
enum Station {
    Local {
        store: Box<Store>,
        trust: Vec<Certificate>,
        inspector: String,
    },
    Remote {
        base: String,
        token: String,
        trust: Vec<Certificate>,
        agent: ureq::Agent,
    },
}

impl StationArgs {
    /// The token for `--station`: from `--token-file`, else `ECARD_TOKEN`.
    fn token(&self) -> anyhow::Result<String> {
        if let Some(file) = &self.token_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            let token = text.trim().to_string();
            anyhow::ensure!(
                !token.is_empty(),
                "the token file {} is empty",
                file.display()
            );
            return Ok(token);
        }
        match std::env::var("ECARD_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
            _ => Err(anyhow::anyhow!("--station needs a qa token")).help(
                "add --token-file FILE (the token in a file only you can read), or set ECARD_TOKEN",
            ),
        }
    }
}

impl Station {
    fn open(args: &StationArgs) -> anyhow::Result<Station> {
        if let Some(url) = &args.station {
            let trust = super::pki::load_trust(&args.trust)?;
            if trust.is_empty() {
                return Err(anyhow::anyhow!("--station needs the trusted CSCA"))
                    .help("add --trust CSCA.pem (the station's CSCA certificate)");
            }
            return Ok(Station::remote(url, &args.token()?, trust));
        }
        let config = station_config(args)?;
        // With the data key: a card's CAN is sealed in the store.
        let store = ecard_station::cli::open_sealed_store(&config)?;
        let trust = if args.trust.is_empty() {
            let csca = match &config.pki {
                Some(p) => p.csca.clone(),
                None => config.data_dir.join("pki").join("csca.pem"),
            };
            super::pki::load_trust(&[csca])?
        } else {
            super::pki::load_trust(&args.trust)?
        };
        let inspector = match &args.inspector {
            Some(n) => n.clone(),
            None => std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| anyhow::anyhow!("no inspector name: $USER is not set"))
                .help("add --inspector NAME")?,
        };
        Ok(Station::Local {
            store: Box::new(store),
            trust,
            inspector,
        })
    }

    /// The station's API at `url` (30 s per call; any status comes back as an answer).
    fn remote(url: &str, token: &str, trust: Vec<Certificate>) -> Station {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Station::Remote {
            base: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            trust,
            agent,
        }
    }

    fn trust(&self) -> &[Certificate] {
        match self {
            Station::Local { trust, .. } | Station::Remote { trust, .. } => trust,
        }
    }

    fn get(&self, path: &str) -> anyhow::Result<String> {
        self.call(path, None)
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<String> {
        self.call(path, Some(body))
    }

    /// One call to a remote station's API: a GET without a body, a POST with a JSON one. The
    /// answer's body when the station says 200; otherwise an error naming the method and URL.
    fn call(&self, path: &str, body: Option<&serde_json::Value>) -> anyhow::Result<String> {
        let Station::Remote {
            base, token, agent, ..
        } = self
        else {
            anyhow::bail!("internal: HTTP call on a local station");
        };
        let url = format!("{base}/api/v1{path}");
        let auth = format!("Bearer {token}");
        let (method, sent) = match body {
            None => ("GET", agent.get(&url).header("Authorization", &auth).call()),
            Some(body) => (
                "POST",
                agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
            ),
        };
        let mut resp = sent.with_context(|| format!("cannot reach the station at {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            anyhow::bail!(
                "station answered {status} to {method} {url}: {}",
                text.trim()
            );
        }
        Ok(text)
    }

    fn facts(&self, number: &str) -> anyhow::Result<StationFacts> {
        match self {
            Station::Local { store, .. } => Ok(StationFacts::from_store(store, number)?),
            Station::Remote { .. } => {
                let body = self.get(&format!("/qa/cards/{number}"))?;
                serde_json::from_str(&body).context("the station's answer is not QA facts")
            }
        }
    }

    /// Records the verdict; returns who it was recorded as.
    fn record(&self, verdict: &QaVerdict) -> anyhow::Result<String> {
        match self {
            Station::Local {
                store, inspector, ..
            } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                qa::record(store, verdict, inspector, now as i64)?;
                Ok(inspector.clone())
            }
            Station::Remote { .. } => {
                let number = verdict.document_number.clone().unwrap_or_default();
                let body =
                    serde_json::json!({"document_number": number, "failures": verdict.failures});
                let path = match verdict.job_id {
                    Some(id) => format!("/jobs/{id}/qa"),
                    None => "/qa/results".into(),
                };
                let answer: serde_json::Value = serde_json::from_str(&self.post(&path, &body)?)
                    .context("the station's answer is not JSON")?;
                Ok(answer["inspector"].as_str().unwrap_or("?").to_string())
            }
        }
    }
}

fn today(at: Option<time::Date>) -> time::Date {
    at.unwrap_or_else(|| ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc()))
}

/// Reads the card in `session`, judges it and records the verdict (when the card has a number).
/// With `number` (printed on the card), the chip is opened with the CAN of that number's job
/// (or with `typed`, the CAN or MRZ key given on the command line): a card that refuses the job's
/// CAN fails QA.
fn inspect_session(
    session: &mut CardSession,
    station: &Station,
    at: time::Date,
    face: Option<&std::path::Path>,
    number: Option<&str>,
    typed: Option<ecard_chip::pace::Password>,
) -> anyhow::Result<(QaVerdict, Option<String>)> {
    let hinted = match number {
        Some(n) => Some(station.facts(n)?),
        None => None,
    };
    let from_record = typed.is_none() && hinted.as_ref().is_some_and(|f| f.can.is_some());
    let password = match (typed, hinted.as_ref().and_then(|f| f.can.as_deref())) {
        (Some(p), _) => Some(p),
        (None, Some(can)) => Some(
            ecard_chip::pace::Password::can(can)
                .context("the job record's card access number is not 6 digits")?,
        ),
        (None, None) => None,
    };
    // One PACE session serves the read, Active Authentication and the lock probe.
    let opts = super::card::read_options(session.transport());
    let mut chip = match super::card::open_chip(session.transport(), password.as_ref()) {
        Ok(chip) => chip,
        Err(e) => {
            let denied = e
                .downcast_ref::<ecard_chip::access::AccessError>()
                .map(|a| {
                    (
                        a.is_access_denied(),
                        matches!(a, ecard_chip::access::AccessError::PasswordNeeded { .. }),
                    )
                });
            match (denied, &hinted) {
                (Some((true, _)), Some(f)) if from_record => {
                    let verdict = QaVerdict {
                        document_number: Some(f.document_number.clone()),
                        job_id: f.owner.as_ref().map(|o| o.0),
                        lane: None,
                        failures: vec![qa::Failure {
                            check: "access".into(),
                            reason: format!("the card refuses the CAN of its job record: {e}"),
                        }],
                    };
                    let recorded = Some(station.record(&verdict)?);
                    return Ok((verdict, recorded));
                }
                (Some((_, true)), _) => {
                    return Err(e).help(
                        "the chip is protected by PACE: give --number with the card number printed on its front (the CAN comes from its job record)",
                    );
                }
                _ => return Err(e),
            }
        }
    };
    let (files, active_auth) = super::check::read_chip(&mut chip, opts)?;
    if chip.access() == ecard_chip::access::Access::None {
        eprintln!(
            "note: the card has no access control (a card OS without PACE): anyone can read its chip"
        );
    }
    let lock = try_write_same_byte(chip.transport(), qa::LOCK_PROBE_EF);
    drop(chip);
    let facts = match qa::card_number(&files, at) {
        Some(n) => Some(station.facts(&n)?),
        None => None,
    };
    let evidence = CardEvidence {
        files: &files,
        active_auth,
        lock,
    };
    let mut verdict = qa::inspect_with(facts.as_ref(), evidence, station.trust(), at)
        .map_err(anyhow::Error::msg)?;
    if let Some(face) = face
        && let Some(reason) = seal_problem(face, &files, station.trust(), at)?
    {
        verdict.failures.push(qa::Failure {
            check: "seal".into(),
            reason,
        });
    }
    let recorded = match verdict.document_number {
        Some(_) => Some(station.record(&verdict)?),
        None => None,
    };
    Ok((verdict, recorded))
}

/// What is wrong with the printed seal on `face` against the chip's `files`, if anything: it must
/// be found, verify with the Document Signer in the chip's EF.SOD (chained to `trust`), and agree
/// with the chip's fields and DG2.
fn seal_problem(
    face: &std::path::Path,
    files: &ecard_chip::lds::LdsFiles,
    trust: &[Certificate],
    at: time::Date,
) -> anyhow::Result<Option<String>> {
    let text = match super::scan::seal_text_from_image(face)? {
        Ok(t) => t,
        Err(why) => {
            return Ok(Some(format!(
                "no QR seal read from {}: {why}",
                face.display()
            )));
        }
    };
    let seal = match ecard_seal::Seal::decode(&text) {
        Ok(s) => s,
        Err(e) => return Ok(Some(format!("the QR seal does not decode: {e}"))),
    };
    let ds: Vec<Certificate> = ecard_chip::lds::parse_card(files)
        .ok()
        .and_then(|c| c.sod.ds_certificate)
        .into_iter()
        .collect();
    if let Err(e) = seal.verify(&ds, trust, at) {
        return Ok(Some(format!(
            "the QR seal does not verify with the chip's Document Signer: {e}"
        )));
    }
    Ok(match ecard_seal::cross_check(&seal.payload, files) {
        ecard_chip::verify::Outcome::Fail(why) => {
            Some(format!("the QR seal and the chip disagree: {why}"))
        }
        _ => None,
    })
}

fn print_verdict(v: &QaVerdict, recorded: Option<&str>, json: bool) -> anyhow::Result<()> {
    if json {
        return crate::output::print_json(v);
    }
    let number = v.document_number.as_deref().unwrap_or("(unreadable)");
    let banner = if v.passed() {
        "==========  QA PASS  =========="
    } else {
        "##########  QA FAIL  ##########"
    };
    crate::out!("{banner}");
    crate::out!(
        "card {number}{}",
        match (v.job_id, &v.lane) {
            (Some(j), Some(l)) => format!(", job {j}, lane {l}"),
            (Some(j), None) => format!(", job {j}"),
            _ => String::new(),
        }
    );
    for f in &v.failures {
        crate::out!("  {}: {}", f.check, f.reason);
    }
    match recorded {
        Some(who) => crate::out!("recorded as {who}"),
        None => crate::out!("not recorded: the card has no readable number"),
    }
    Ok(())
}

fn code(v: &QaVerdict) -> ExitCode {
    ExitCode::from(u8::from(!v.passed()))
}

/// Runs `ecard qa`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(Sub::Batch(b)) => return batch(b),
        Some(Sub::Report(r)) => return report_cmd(r),
        None => {}
    }
    let Some(card) = &args.card else {
        anyhow::bail!("name a card with --sim CARD.img or --reader NAME");
    };
    let station = Station::open(&args.station)?;
    let typed = args.access.password()?;
    let mut session = CardSession::open(card, &args.wait)?;
    let outcome = inspect_session(
        &mut session,
        &station,
        today(args.station.at),
        args.face.as_deref(),
        args.number.as_deref(),
        typed,
    );
    session.close()?;
    let (verdict, recorded) =
        outcome.help("keep the card in the reader until the verdict shows, then try again")?;
    print_verdict(&verdict, recorded.as_deref(), args.json)?;
    Ok(code(&verdict))
}

fn batch(args: &BatchArgs) -> anyhow::Result<ExitCode> {
    let station = Station::open(&args.station)?;
    let ctx = ecard_transport::PcscContext::establish().help(
        "start the PC/SC service (`pcscd`), or `tools/virtual-reader.sh start` for the simulator",
    )?;
    let (mut passed, mut failed, mut errors) = (0u64, 0u64, 0u64);
    let mut failures: Vec<String> = Vec::new();
    let card = CardArgs {
        sim: None,
        reader: Some(args.reader.clone()),
    };
    let no_wait = WaitArgs {
        wait: false,
        wait_timeout: None,
    };
    let stop = stop_on_ctrl_c();
    let mut n = 0u64;
    while args.count.is_none_or(|c| n < c) {
        crate::out!("insert a card in {:?} (Ctrl-C to stop)", args.reader);
        if !wait_or_stop(&stop, |t| {
            ecard_transport::wait_for_card(&ctx, &args.reader, Some(t)).map(|_| ())
        })? {
            break;
        }
        n += 1;
        let inspect = |number: Option<&str>, typed: Option<ecard_chip::pace::Password>| {
            CardSession::open(&card, &no_wait).and_then(|mut s| {
                let r = inspect_session(
                    &mut s,
                    &station,
                    today(args.station.at),
                    None,
                    number,
                    typed,
                );
                s.close()?;
                r
            })
        };
        let mut result = inspect(None, None);
        if let Err(e) = &result
            && needs_password(e)
        {
            // A chip protected by PACE: the inspector types what is printed on the card.
            crate::out!(
                "the chip is protected: type the card number (9 digits) or its CAN (6 digits) printed on the front"
            );
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the card number from the keyboard")?;
            let typed = line.trim().replace(' ', "");
            result = if typed.len() == 6 {
                ecard_chip::pace::Password::can(&typed)
                    .map_err(anyhow::Error::from)
                    .and_then(|p| inspect(None, Some(p)))
            } else {
                inspect(Some(&typed), None)
            };
        }
        match result {
            Ok((v, recorded)) => {
                print_verdict(&v, recorded.as_deref(), false)?;
                if v.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                    failures.push(format!(
                        "{}: {}",
                        v.document_number.as_deref().unwrap_or("(unreadable)"),
                        v.failures
                            .iter()
                            .map(|f| f.check.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            Err(e) => {
                errors += 1;
                crate::out!(
                    "!!!!!!!!!!  QA ERROR  !!!!!!!!!!\n  {e:#}\n  the card was not judged; insert it again"
                );
            }
        }
        crate::out!("remove the card");
        let removed = wait_or_stop(&stop, |t| {
            ecard_transport::wait_for_removal(&ctx, &args.reader, Some(t))
        })?;
        crate::out!("so far: {passed} passed, {failed} failed, {errors} not judged\n");
        if !removed {
            break;
        }
    }
    crate::out!("summary: {n} cards, {passed} passed, {failed} failed, {errors} not judged");
    for f in &failures {
        crate::out!("  failed {f}");
    }
    Ok(ExitCode::from(u8::from(failed + errors > 0)))
}

/// Whether an inspection stopped because the chip needs a password nobody gave.
fn needs_password(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ecard_chip::access::AccessError>(),
            Some(ecard_chip::access::AccessError::PasswordNeeded { .. })
        )
    })
}

/// A flag Ctrl-C sets: the batch finishes the card in hand, then prints its summary. Without a
/// handler (no signal support) Ctrl-C ends the process as usual.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        let flag = stop.clone();
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        {
            // `signal` installs the handler when called (inside the runtime), so a Ctrl-C from
            // here on is caught; the thread only waits for it.
            let installed = {
                let _guard = rt.enter();
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            };
            if let Ok(mut sigint) = installed {
                std::thread::spawn(move || {
                    if rt.block_on(sigint.recv()).is_some() {
                        flag.store(true, Ordering::SeqCst);
                    }
                });
            }
        }
    }
    stop
}

/// Runs a reader wait in short slices so Ctrl-C is noticed; `false` when it was pressed.
fn wait_or_stop(
    stop: &AtomicBool,
    mut wait: impl FnMut(Duration) -> Result<(), ecard_chip::transport::TransportError>,
) -> anyhow::Result<bool> {
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match wait(Duration::from_millis(300)) {
            // The card in hand is finished even when Ctrl-C comes meanwhile.
            Ok(()) => return Ok(true),
            Err(ecard_chip::transport::TransportError::Timeout { .. }) => {}
            Err(e) => {
                return Err(anyhow::Error::from(e))
                    .help("check the reader name with `ecard readers`");
            }
        }
    }
}

fn report_cmd(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = report::Format::parse(&args.format)
        .map_err(anyhow::Error::msg)
        .help("use --format html, csv or json")?;
    let from = report::parse_day(&args.from).map_err(anyhow::Error::msg)?;
    let to = report::parse_day(&args.to).map_err(anyhow::Error::msg)?;
    let text = match &args.station.station {
        Some(url) => {
            // The report needs no CSCA; the connection is the same as an inspection's.
            let station = Station::remote(url, &args.station.token()?, Vec::new());
            station.get(&format!(
                "/qa/report?from={from}&to={to}&format={}",
                args.format
            ))?
        }
        None => {
            let store = local_store(&args.station)?;
            let (a, b) = report::day_range_ms(from, to);
            let r = report::build(&store.qa_results(a, b)?, &store.voided_numbers(a, b)?);
            report::render(&r, format, &from.to_string(), &to.to_string())
        }
    };
    print!("{text}");
    if !text.ends_with('\n') {
        crate::out!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The station's configuration: `--config` (with `--data-dir` over its data directory) or the
/// embedded defaults on `--data-dir`.
fn station_config(args: &StationArgs) -> anyhow::Result<ecard_station::config::StationConfig> {
    match (&args.config, &args.data_dir) {
        (Some(file), dir) => Ok(ecard_station::config::StationConfig::load(
            file,
            dir.as_deref(),
        )?),
        (None, Some(dir)) => Ok(ecard_station::config::StationConfig::defaults(dir)),
        (None, None) => Err(anyhow::anyhow!("no station named"))
            .help("add --station URL (with --token-file FILE or ECARD_TOKEN), or --data-dir DIR of the station"),
    }
}

fn local_store(args: &StationArgs) -> anyhow::Result<Store> {
    Ok(ecard_station::cli::open_store(
        &station_config(args)?.store,
    )?)
}
