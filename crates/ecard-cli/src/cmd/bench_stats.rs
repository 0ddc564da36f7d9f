//! `ecard bench stats`: the statistics on a generated population (ECARD.md section 13, issue
//! 17). Writes N de-identified fact rows (default 1,000,000, over 24 months, with skewed
//! distributions like the pilot's: most holders in Moscow and the Moscow Oblast, a few
//! nationalities dominant) into a fresh SQLite store and a fresh PostgreSQL schema, then times
//! every query the console's statistics page makes, cold (first query of a period, nothing
//! kept), warm, and after one more card (the store keeps the other months' rows), and the cost of the fact row in the issuing transaction.
//!
//! Numbers are measured, never asserted; the generator is seeded, so two runs see the same rows.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ecard_station::job::JobState;
use ecard_station::stats::Request;
use ecard_station::stats::disclosure::Pattern;
use ecard_station::store::stats::{Fact, unpack};
use ecard_station::store::{Actor, NewJob, StepInfo, Store};
use serde::Serialize;

/// Arguments of `ecard bench stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fact rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// PostgreSQL to measure too (a schema is made and dropped); `none` skips it.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pg_url: String,
    /// Jobs to issue for the issuing-cost measurement.
    #[arg(long, default_value_t = 300)]
    jobs: usize,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct QueryTime {
    query: String,
    cold_ms: f64,
    warm_ms: f64,
    /// The same query right after one more fact in the period's last month (a card issued):
    /// the pattern is built again, the other months' rows are the store's kept ones.
    after_card_ms: f64,
    cells: usize,
}

#[derive(Serialize)]
struct StoreResult {
    store: &'static str,
    rows: usize,
    insert_s: f64,
    atoms_in_period: usize,
    /// Where a cold query's time goes: reading the period's counts from the store, building the
    /// suppression pattern from them (medians of 5).
    cold_read_ms: f64,
    cold_build_ms: f64,
    queries: Vec<QueryTime>,
    issue_step_median_ms: f64,
    printing_step_median_ms: f64,
    fact_write_median_ms: f64,
}

/// xorshift64*: a few lines, seeded, enough to shape a population.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// An index drawn with the given weights.
    fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = self.next() % total.max(1);
        for (i, w) in weights.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        weights.len() - 1
    }
}

const NATIONALITIES: [&str; 20] = [
    "UZB", "TJK", "KGZ", "ARM", "AZE", "MDA", "UKR", "KAZ", "CHN", "VNM", "TUR", "IND", "GEO",
    "TKM", "BLR", "SYR", "AFG", "EGY", "IRN", "XXA",
];
const REGIONS: [&str; 10] = [
    "RU-MOW", "RU-MOS", "RU-KLU", "RU-TUL", "RU-VLA", "RU-TVE", "RU-YAR", "RU-RYA", "RU-SMO",
    "unknown",
];
const AGES: [&str; 7] = ["14-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"];

fn generate(n: usize) -> Vec<Fact> {
    let mut rng = Rng(0x5EED_0017_CAFE_F00D);
    let nat_w: Vec<u32> = (0..NATIONALITIES.len() as u32)
        .map(|i| 1000 / (i + 1))
        .collect();
    (0..n)
        .map(|_| {
            let m = rng.pick(&[1; 24]);
            let month = format!("{}-{:02}", 2025 + m / 12, m % 12 + 1);
            let kind = rng.pick(&[85, 15]);
            let (kind, cause) = if kind == 0 {
                ("first_issue", "none")
            } else {
                (
                    "replacement",
                    ["lost", "damaged", "details_changed"][rng.pick(&[5, 2, 3])],
                )
            };
            let late = kind == "replacement" && rng.pick(&[4, 1]) == 1;
            Fact([
                month,
                ["st-1", "st-2", "st-3"][rng.pick(&[5, 3, 2])].to_string(),
                REGIONS[rng.pick(&[55, 30, 3, 3, 2, 2, 1, 1, 1, 2])].to_string(),
                NATIONALITIES[rng.pick(&nat_w)].to_string(),
                AGES[rng.pick(&[2, 20, 35, 25, 12, 5, 1])].to_string(),
                ["M", "F"][rng.pick(&[6, 4])].to_string(),
                kind.to_string(),
                cause.to_string(),
                late.to_string(),
                ["issued", "spoiled"][rng.pick(&[97, 3])].to_string(),
            ])
        })
        .collect()
}

/// The console page's queries for its default view (the last 12 months, issued cards): each
/// grouping of its first menu, a few second groupings, and the monthly series.
fn console_queries() -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = [
        "nationality",
        "region",
        "age_band",
        "sex",
        "kind",
        "cause",
        "late_notification",
        "station",
        "nationality,sex",
        "age_band,sex",
        "region,nationality",
        "month",
    ]
    .iter()
    .map(|b| (b.to_string(), "outcome:issued".to_string()))
    .collect();
    q.push(("outcome".into(), String::new()));
    q
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn measure(
    store: &Store,
    kind: &'static str,
    facts: &[Fact],
    jobs: usize,
) -> anyhow::Result<StoreResult> {
    let t = Instant::now();
    store
        .stats_insert_facts(facts)
        .context("cannot write the generated facts")?;
    let insert_s = t.elapsed().as_secs_f64();
    let period = |by: &str, filter: &str| {
        Request::parse(Some("2026-01"), Some("2026-12"), Some(by), Some(filter))
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let whole = period("", "")?;
    let atoms_in_period = store.stats_atoms(whole.from, whole.to)?.len();
    let (mut reads, mut builds) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let packed = store.stats_packed_atoms(whole.from, whole.to)?;
        reads.push(ms(t.elapsed()));
        let t = Instant::now();
        let atoms = unpack(&packed).context("a generated value holds the separator")?;
        let pattern = Pattern::build(&atoms);
        builds.push(ms(t.elapsed()));
        drop(pattern);
    }
    let mut queries = Vec::new();
    for (by, filter) in console_queries() {
        let req = period(&by, &filter)?;
        store.stats_forget_cache();
        let t = Instant::now();
        let cold = store.statistics(&req)?;
        let cold_ms = ms(t.elapsed());
        let t = Instant::now();
        let warm = store.statistics(&req)?;
        let warm_ms = ms(t.elapsed());
        anyhow::ensure!(cold == warm, "cold and warm answers differ for by={by}");
        let mut card = facts
            .first()
            .context("no facts generated; give --rows 1 or more")?
            .clone();
        card.0[0] = "2026-12".into();
        store.stats_insert_facts(std::slice::from_ref(&card))?;
        let t = Instant::now();
        store.statistics(&req)?;
        let after_card_ms = ms(t.elapsed());
        queries.push(QueryTime {
            query: format!("from=2026-01&to=2026-12&by={by}&filter={filter}"),
            cold_ms,
            warm_ms,
            after_card_ms,
            cells: cold.cells.len(),
        });
    }
    // Issuing: the step to `issued` (which writes the fact in its transaction) against the fact
    // write alone in a transaction of its own.
    store.ensure_series(77)?;
    let intake = Actor::named("bench");
    let lane = Actor::lane("bench", "l1");
    let record = include_str!("../../../../samples/karimov.json");
    let mut steps = Vec::new();
    let mut printing = Vec::new();
    for i in 0..jobs {
        let app = format!("BENCH-{i}");
        let mut v: serde_json::Value = serde_json::from_str(record)?;
        v["application_id"] = app.clone().into();
        v["identity_document"]["number"] = format!("BN{i:07}").into();
        // A holder of their own (one valid card per holder): a surname per job.
        let surname: String = format!("{i:06}")
            .bytes()
            .map(|d| char::from(b'A' + (d - b'0')))
            .collect();
        v["surname"] = format!("BENCH{surname}").into();
        v["residence_region"] = "RU-MOW".into();
        let now = 1_795_176_000_000 + i as i64;
        let (job, _) = store.submit(
            &NewJob {
                application_id: app,
                record_json: v.to_string(),
                chip_images_json: "{}".into(),
                late_notification: false,
                replaces: None,
            },
            &intake,
            now,
        )?;
        store.step(
            job.id,
            JobState::Validated,
            &intake,
            &StepInfo::default(),
            now,
        )?;
        let j = store
            .claim("bench", "l1", 77, now, now + 60_000)?
            .context("the job just validated is not in the queue")?;
        for to in [JobState::Encoding, JobState::Verifying] {
            store.step(j.id, to, &lane, &StepInfo::default(), now)?;
        }
        // The step before, the same kind of transaction without a fact: the baseline.
        let t = Instant::now();
        store.step(j.id, JobState::Printing, &lane, &StepInfo::default(), now)?;
        printing.push(ms(t.elapsed()));
        let t = Instant::now();
        store.step(j.id, JobState::Issued, &lane, &StepInfo::default(), now)?;
        steps.push(ms(t.elapsed()));
    }
    let mut writes = Vec::new();
    for f in facts.iter().take(jobs) {
        let t = Instant::now();
        store.stats_insert_facts(std::slice::from_ref(f))?;
        writes.push(ms(t.elapsed()));
    }
    Ok(StoreResult {
        store: kind,
        rows: facts.len(),
        insert_s,
        atoms_in_period,
        cold_read_ms: median(reads),
        cold_build_ms: median(builds),
        queries,
        issue_step_median_ms: median(steps),
        printing_step_median_ms: median(printing),
        fact_write_median_ms: median(writes),
    })
}

/// Runs `ecard bench stats`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let facts = generate(args.rows);
    let mut results = Vec::new();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("ecard-bench-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let sqlite = Store::open_sqlite(&dir.join("station.db")).context("cannot open SQLite")?;
    let r = measure(&sqlite, "sqlite", &facts, args.jobs);
    drop(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    results.push(r?);
    if args.pg_url != "none" {
        let schema = format!("ecard_bench_stats_{}", std::process::id());
        let pg = Store::open_postgres(&args.pg_url, &schema)
            .context("cannot open PostgreSQL; give --pg-url, or --pg-url none to skip it")?;
        let r = measure(&pg, "postgresql", &facts, args.jobs);
        drop(pg);
        let _ = Store::drop_pg_schema(&args.pg_url, &schema);
        results.push(r?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &results {
        println!(
            "{}: {} fact rows written in {:.1} s; {} distinct combinations in 2026",
            r.store, r.rows, r.insert_s, r.atoms_in_period
        );
        println!(
            "  a cold query of 2026: read the period's counts {:.1} ms, build its pattern {:.1} ms (medians of 5)",
            r.cold_read_ms, r.cold_build_ms
        );
        for q in &r.queries {
            println!(
                "  {:<70} cold {:>8.1} ms  warm {:>7.1} ms  after a card {:>7.1} ms  {:>4} cells",
                q.query, q.cold_ms, q.warm_ms, q.after_card_ms, q.cells
            );
        }
        println!(
            "  issuing: step to issued (with its fact) median {:.2} ms; step to printing (no fact) median {:.2} ms; the fact write alone in its own transaction median {:.2} ms",
            r.issue_step_median_ms, r.printing_step_median_ms, r.fact_write_median_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}
