//! `ecard bench soak`: the station through a simulated day, sped up, watching for growth.
//!
//! The station runs in process as `ecard station serve` would (SQLite under `OUT/station`,
//! simulated lanes whose printers take the real print time divided by `--speedup`), and a
//! submitter sends the sample records at a steady rate for `--hours` simulated hours. Every
//! `--sample-seconds` the process's resident memory, open file descriptors, threads, live async
//! tasks and the database's size are recorded. The report (`OUT/soak.json`, `OUT/soak.md` and
//! `OUT/soak-rss.svg`) says whether memory stayed flat after warm-up (growth under 5% between the
//! end of the first quarter and the end): a leak shows as a slope, not as a number.
//! Numbers, not assertions: the machine is shared.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ecard_station::cli::{Assembled, assemble};
use ecard_station::config::StationConfig;
use ecard_station::job::JobState;
use ecard_station::server::{LaneSet, Station};
use ecard_station::store::Actor;
use serde::Serialize;

/// `ecard bench soak` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated hours of station time.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// How much faster than real time (print times and arrivals scale together).
    #[arg(long, default_value_t = 100.0)]
    pub speedup: f64,
    /// Lanes.
    #[arg(long, default_value_t = 4)]
    pub lanes: usize,
    /// Seconds to print a card on the real line.
    #[arg(long, default_value_t = 15.0)]
    pub print_seconds: f64,
    /// Enrollments arriving per simulated hour.
    #[arg(long, default_value_t = 300.0)]
    pub cards_per_hour: f64,
    /// Real seconds between two samples.
    #[arg(long, default_value_t = 2.0)]
    pub sample_seconds: f64,
    /// Folder of enrollment records to send (in turn, each under its own identity).
    #[arg(long, default_value = "samples")]
    pub samples: PathBuf,
    /// Output folder (created; must not exist or be empty).
    #[arg(long, default_value = "soak-out")]
    pub out: PathBuf,
}

/// One sample of the process.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Real seconds since the start.
    pub real_s: f64,
    /// Simulated hours since the start.
    pub sim_h: f64,
    /// Jobs submitted so far.
    pub submitted: u64,
    /// Jobs issued so far.
    pub issued: i64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// OS threads.
    pub threads: u64,
    /// Live tokio tasks.
    pub tasks: usize,
    /// Database bytes (main file and WAL).
    pub db_bytes: u64,
}

/// The soak's report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The parameters.
    pub hours: f64,
    /// Speed-up over real time.
    pub speedup: f64,
    /// Lanes.
    pub lanes: usize,
    /// Arrivals per simulated hour.
    pub cards_per_hour: f64,
    /// Real seconds the soak took.
    pub real_seconds: f64,
    /// Enrollments the arrival rate called for.
    pub arrivals: u64,
    /// Enrollments submitted.
    pub submitted: u64,
    /// Arrivals sent only after the day's end (intake could not keep up with the speed-up).
    pub late_arrivals: u64,
    /// Jobs issued in the end.
    pub issued: i64,
    /// Jobs in any other end state.
    pub not_issued: i64,
    /// RSS at the end of warm-up (the first quarter), KiB.
    pub rss_after_warmup_kib: u64,
    /// RSS at the end, KiB.
    pub rss_end_kib: u64,
    /// Growth from the end of warm-up to the end, percent.
    pub rss_growth_percent: f64,
    /// Whether the growth stayed under 5%.
    pub flat: bool,
    /// File descriptors at the end of warm-up and at the end.
    pub fds: (u64, u64),
    /// Live tasks at the end of warm-up and at the end.
    pub tasks: (usize, usize),
    /// Database bytes per issued job at the end.
    pub db_bytes_per_job: f64,
    /// Every sample.
    pub samples: Vec<Sample>,
}

fn proc_status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn count_dir(path: &str) -> u64 {
    std::fs::read_dir(path).map_or(0, |d| d.count() as u64)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Loads the sample records with their images inline, as the station takes them.
pub(crate) fn load_records(dir: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    use base64::Engine as _;
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the sample records in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    anyhow::ensure!(
        !paths.is_empty(),
        "{} holds no enrollment records (*.json); run from the repository's root or pass --samples",
        dir.display()
    );
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    paths
        .iter()
        .map(|source| {
            let prepared = super::personalize::load_valid(source, today)?;
            let text = std::fs::read_to_string(source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let mut record: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", source.display()))?;
            record["photo"] = serde_json::json!({ "base64": b64(&prepared.photo_original) });
            record["signature"] =
                serde_json::json!({ "base64": b64(&prepared.signature_original) });
            record["application"] = serde_json::json!({ "kind": "first_issue" });
            if let Some(id) = record.get_mut("identity_document") {
                // Each submission is another person: no MRZ to agree with the changed fields.
                if let Some(o) = id.as_object_mut() {
                    o.remove("mrz");
                }
            }
            record["applied_on"] = serde_json::json!(today.to_string());
            Ok(record)
        })
        .collect()
}

/// The `i`-th submission: a sample under its own application id and identity, so no two
/// submissions are the same holder.
fn submission(records: &[serde_json::Value], i: u64) -> Vec<u8> {
    submission_as(records, i, "SOAK")
}

/// The same, with application ids `<tag>-<i>`.
pub(crate) fn submission_as(records: &[serde_json::Value], i: u64, tag: &str) -> Vec<u8> {
    let mut r = records[(i % records.len() as u64) as usize].clone();
    r["application_id"] = serde_json::json!(format!("{tag}-{i:09}"));
    r["identity_document"]["number"] = serde_json::json!(format!("SK{i:07}"));
    r["date_of_birth"] = serde_json::json!(format!(
        "{}-{:02}-{:02}",
        1950 + i % 50,
        1 + (i / 50) % 12,
        1 + (i / 600) % 28
    ));
    serde_json::to_vec(&r).unwrap_or_default()
}

/// Runs the soak.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.hours > 0.0 && args.speedup >= 1.0 && args.cards_per_hour > 0.0 && args.lanes > 0,
        "--hours, --cards-per-hour and --lanes must be above 0 and --speedup at least 1"
    );
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{} is not empty; choose another --out or remove it",
            args.out.display()
        );
    }
    let records = load_records(&args.samples)?;
    let station_dir = args.out.join("station");
    let mut config = StationConfig::defaults(&station_dir);
    let print = Duration::from_secs_f64(args.print_seconds / args.speedup);
    let template = config.lanes[0].clone();
    config.lanes = (1..=args.lanes)
        .map(|n| {
            let mut l = template.clone();
            l.name = format!("lane-{n}");
            if let ecard_station::chip::CardSource::Sim { blanks, .. } = &mut l.source {
                *blanks = station_dir.join("blanks").join(&l.name);
            }
            l.printer = ecard_station::config::PrinterChoice::Sim;
            l.print_time = print;
            l
        })
        .collect();
    config.settings.poll = Duration::from_millis(20);
    let Assembled { station, lanes, .. } =
        assemble(&config).context("cannot start the soak's station")?;
    let db = station_dir.join("station.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(soak(args, &station, lanes, &records, &db))?;
    std::fs::write(
        args.out.join("soak.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("soak.md"), markdown(&report))?;
    std::fs::write(args.out.join("soak-rss.svg"), rss_svg(&report))?;
    println!(
        "soak: {:.1} simulated hours in {:.0} s, {} cards issued ({} not); RSS {} KiB after warm-up, {} KiB at the end ({:+.1}%: {}); fds {} -> {}; tasks {} -> {}; {:.0} database bytes per job",
        report.hours,
        report.real_seconds,
        report.issued,
        report.not_issued,
        report.rss_after_warmup_kib,
        report.rss_end_kib,
        report.rss_growth_percent,
        if report.flat { "flat" } else { "GROWING" },
        report.fds.0,
        report.fds.1,
        report.tasks.0,
        report.tasks.1,
        report.db_bytes_per_job
    );
    if report.late_arrivals > report.arrivals / 20 {
        eprintln!(
            "warning: intake fell behind: {} of {} arrivals were sent only after the day ended; lower --speedup or --cards-per-hour for a faithful day",
            report.late_arrivals, report.arrivals
        );
    }
    println!(
        "report: {} (and soak.md, soak-rss.svg beside it)",
        args.out.join("soak.json").display()
    );
    Ok(if report.flat {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn soak(
    args: &Args,
    station: &Station,
    lanes: Vec<ecard_station::lane::Lane>,
    records: &[serde_json::Value],
    db: &Path,
) -> anyhow::Result<Report> {
    let set = LaneSet::start(station, lanes).await;
    let actor = Actor::named("soak");
    let real_total = args.hours * 3600.0 / args.speedup;
    let interval = Duration::from_secs_f64(3600.0 / args.cards_per_hour / args.speedup);
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut submitted = 0u64;
    let mut next_sample = Duration::ZERO;
    let wal = db.with_extension("db-wal");
    loop {
        let elapsed = started.elapsed();
        if elapsed.as_secs_f64() >= real_total {
            break;
        }
        // Arrivals due by now (arrival i at i x interval).
        let due = ((elapsed.as_secs_f64() / interval.as_secs_f64()) as u64 + 1)
            .min((args.hours * args.cards_per_hour).round() as u64);
        while submitted < due {
            let body = submission(records, submitted);
            station
                .submit(&body, &actor)
                .await
                .with_context(|| format!("the station refused soak record {submitted}"))?;
            submitted += 1;
        }
        if elapsed >= next_sample {
            let issued = issued(station).await?;
            samples.push(Sample {
                real_s: elapsed.as_secs_f64(),
                sim_h: elapsed.as_secs_f64() * args.speedup / 3600.0,
                submitted,
                issued,
                rss_kib: proc_status_kib("VmRSS:"),
                fds: count_dir("/proc/self/fd"),
                threads: count_dir("/proc/self/task"),
                tasks: tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks(),
                db_bytes: file_len(db) + file_len(&wal),
            });
            next_sample += Duration::from_secs_f64(args.sample_seconds);
        }
        tokio::time::sleep(interval.min(Duration::from_millis(50))).await;
    }
    let on_time = submitted;
    // The day's last arrivals, due by its end, go in before the drain.
    let arrivals = (args.hours * args.cards_per_hour).round() as u64;
    while submitted < arrivals {
        let body = submission(records, submitted);
        station
            .submit(&body, &actor)
            .await
            .with_context(|| format!("the station refused soak record {submitted}"))?;
        submitted += 1;
    }
    // Let the queue drain (bounded), then stop the lanes.
    let drain_until = Instant::now() + Duration::from_secs(120);
    while issued(station).await? < submitted as i64 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    set.stop().await;
    let counts = station.db(|s| s.counts()).await?;
    let count = |want: JobState| {
        counts
            .iter()
            .find(|(s, _)| *s == want)
            .map_or(0, |(_, n)| *n)
    };
    let issued_n = count(JobState::Issued);
    let not_issued = counts.iter().map(|(_, n)| n).sum::<i64>() - issued_n;
    let warm = samples
        .get(samples.len() / 4)
        .or(samples.first())
        .cloned()
        .context("the soak took no sample; run it longer or sample more often")?;
    let end = samples.last().cloned().unwrap_or_else(|| warm.clone());
    let growth = (end.rss_kib as f64 - warm.rss_kib as f64) / (warm.rss_kib.max(1) as f64) * 100.0;
    Ok(Report {
        hours: args.hours,
        speedup: args.speedup,
        lanes: args.lanes,
        cards_per_hour: args.cards_per_hour,
        real_seconds: started.elapsed().as_secs_f64(),
        arrivals,
        submitted,
        late_arrivals: arrivals.saturating_sub(on_time),
        issued: issued_n,
        not_issued,
        rss_after_warmup_kib: warm.rss_kib,
        rss_end_kib: end.rss_kib,
        rss_growth_percent: growth,
        flat: growth < 5.0,
        fds: (warm.fds, end.fds),
        tasks: (warm.tasks, end.tasks),
        db_bytes_per_job: (file_len(db) + file_len(&wal)) as f64 / issued_n.max(1) as f64,
        samples,
    })
}

async fn issued(station: &Station) -> anyhow::Result<i64> {
    let counts = station.db(|s| s.counts()).await?;
    Ok(counts
        .iter()
        .find(|(s, _)| *s == JobState::Issued)
        .map_or(0, |(_, n)| *n))
}

fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Soak: {} simulated hours at {}x, {} lanes, {} cards an hour\n",
        r.hours, r.speedup, r.lanes, r.cards_per_hour
    );
    let _ = writeln!(
        s,
        "{} cards issued, {} not; RSS {} KiB after warm-up, {} KiB at the end ({:+.1}%, {}); \
         {:.0} database bytes per job.\n",
        r.issued,
        r.not_issued,
        r.rss_after_warmup_kib,
        r.rss_end_kib,
        r.rss_growth_percent,
        if r.flat { "flat" } else { "growing" },
        r.db_bytes_per_job
    );
    let _ = writeln!(
        s,
        "| simulated h | issued | RSS KiB | fds | threads | tasks | DB bytes | DB bytes/job |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let step = (r.samples.len() / 24).max(1);
    for (i, x) in r.samples.iter().enumerate() {
        if i % step != 0 && i + 1 != r.samples.len() {
            continue;
        }
        let _ = writeln!(
            s,
            "| {:.1} | {} | {} | {} | {} | {} | {} | {:.0} |",
            x.sim_h,
            x.issued,
            x.rss_kib,
            x.fds,
            x.threads,
            x.tasks,
            x.db_bytes,
            x.db_bytes as f64 / x.issued.max(1) as f64
        );
    }
    s
}

fn rss_svg(r: &Report) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 360.0, 70.0, 45.0, 35.0, 20.0);
    let max_x = r.samples.last().map_or(1.0, |s| s.sim_h).max(1e-9);
    let max_y = r.samples.iter().map(|s| s.rss_kib).max().unwrap_or(1) as f64 * 1.1 / 1024.0;
    let x = |v: f64| left + (w - left - right) * v / max_x;
    let y = |v: f64| h - bottom - (h - top - bottom) * v / max_y;
    let pts: Vec<String> = r
        .samples
        .iter()
        .map(|s| format!("{:.1},{:.1}", x(s.sim_h), y(s.rss_kib as f64 / 1024.0)))
        .collect();
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="white"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">Resident memory over {} simulated hours ({:+.1}% after warm-up)</text>"#,
        w / 2.0,
        r.hours,
        r.rss_growth_percent
    );
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{0}" stroke="#333"/>"##,
        h - bottom,
        w - right
    );
    for i in 0..=4 {
        let v = max_y * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end">{v:.0} MiB</text><line x1="{left}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#eee"/>"##,
            left - 6.0,
            y(v),
            w - right
        );
    }
    for i in 0..=4 {
        let v = max_x * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{v:.1} h</text>"#,
            x(v),
            h - bottom + 18.0
        );
    }
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#c62828" stroke-width="2"/></svg>"##,
        pts.join(" ")
    );
    s.push('\n');
    s
}
