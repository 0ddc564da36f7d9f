//! `ecard bench`: the chip path's speed, as ratios measured in one run (so that a shared, noisy
//! machine changes the absolute numbers but hardly the ratios):
//! - building a card's LDS files and signing EF.SOD, against one bare P-256 signature;
//! - APDUs per card against the minimum the profile's largest APDU allows, and bytes on the wire
//!   against the bytes of the files;
//! - simulated encode time (the card OS's timing model) against the physical limit of the modelled
//!   link (the bytes on the wire at its bit rate), and our own software time against the chip time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ecard_chip::issue::{card_content, issue};
use ecard_chip::lds::{LdsFiles, build_card};
use ecard_chip::pki::{self, PkiConfig, Signer};
use ecard_chip::profile::Profile;
use ecard_chip::transport::{ApduLimits, Transport, TransportError};
use ecard_model::number::DocumentNumber;
use ecard_sim::{Card, SimSpec, SimTransport};
use serde::Serialize;

/// Arguments of `ecard bench`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// A longer measurement instead of the chip path's.
    #[command(subcommand)]
    pub sub: Option<BenchSub>,
    /// The enrollment record whose card is measured.
    #[arg(long, value_name = "FILE", default_value = "samples/karimov.json")]
    enrollment: PathBuf,
    /// How many cards to build for the LDS timing.
    #[arg(long, default_value_t = 200)]
    cards: u32,
    /// Also personalize the blank card in this PC/SC reader (e.g. one that `ecard sim serve` put
    /// there) and compare its time with the same personalization in process.
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Also time signatures by the Document Signer of this PKI folder (a token folder: through
    /// PKCS#11, e.g. SoftHSM2) against an in-memory key.
    #[arg(long, value_name = "DIR")]
    pki: Option<PathBuf>,
}

#[derive(Serialize)]
struct SignerBench {
    signer: String,
    signatures: u32,
    per_second: f64,
    software_per_second: f64,
    ratio_to_software: f64,
}

/// `ecard bench <what>`: measurements other than the chip path's.
#[derive(Debug, clap::Subcommand)]
pub enum BenchSub {
    /// Run the station through a simulated day, sped up, and report memory, descriptors,
    /// tasks and database size over time (flat after warm-up, or growing).
    Soak(super::soak::Args),
    /// Statistics on 1,000,000 generated fact rows: the console's queries on SQLite and PostgreSQL, and the fact row's cost when issuing.
    Stats(super::bench_stats::Args),
    /// Intake with personal data encrypted at rest against in clear, and signatures per second
    /// through the token (ECARD.md section 12).
    AtRest(super::bench_at_rest::Args),
    /// Issue 19's throughput: records/s of intake, cards/s of the lanes and end to end, CPU per
    /// record and card, against the 200/s targets (as `cargo bench --bench throughput`).
    Throughput(super::bench_throughput::Args),
}

#[derive(Serialize)]
struct LdsBench {
    cards: u32,
    build_and_sign_us: f64,
    one_signature_us: f64,
    ratio_to_one_signature: f64,
}

#[derive(Serialize)]
struct PersoBench {
    profile: String,
    extended: bool,
    max_command_data: usize,
    file_bytes: usize,
    apdus: u64,
    data_apdus: u64,
    data_apdus_minimum: u64,
    data_apdu_ratio: f64,
    bytes_on_wire: u64,
    wire_to_file_ratio: f64,
    simulated_chip_ms: f64,
    link_limit_ms: f64,
    chip_to_link_limit_ratio: f64,
    software_ms: f64,
    software_to_chip_ratio: f64,
}

#[derive(Serialize)]
struct ReaderBench {
    reader: String,
    profile: String,
    apdus: u64,
    through_reader_ms: f64,
    in_process_ms: f64,
    ratio: f64,
    per_apdu_us: f64,
}

/// Reading a card with PACE and secure messaging against the plain read of the same files
/// (issue 14): bytes on the wire and time in the simulator's link model.
#[derive(Serialize)]
struct PaceBench {
    protocol: String,
    plain_apdus: u64,
    plain_bytes: u64,
    plain_link_ms: f64,
    pace_apdus: u64,
    pace_bytes: u64,
    pace_link_ms: f64,
    bytes_ratio: f64,
    time_ratio: f64,
    /// PACE, every file, Active Authentication and the verdict: link model plus our software.
    verdict_ms: f64,
}

/// The same through a PC/SC reader: the wall time of a checkpoint verdict on its card.
#[derive(Serialize)]
struct ReaderPaceBench {
    reader: String,
    apdus: u64,
    pace_read_aa_verdict_ms: f64,
}

#[derive(Serialize)]
struct Results {
    lds: LdsBench,
    personalization: Vec<PersoBench>,
    pace: PaceBench,
    secure_perso: ScpBench,
    #[serde(skip_serializing_if = "Option::is_none")]
    reader_pace: Option<ReaderPaceBench>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reader: Option<ReaderBench>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<SignerBench>,
}

/// Signatures per second by the DS of `dir` and by an in-memory key (issue 16).
fn signer_bench(dir: &std::path::Path, n: u32) -> anyhow::Result<SignerBench> {
    let ds = super::pki::load_signer(dir)?;
    let software = pki::SoftwareSigner::generate(&mut rand_core::OsRng);
    let rate = |s: &dyn pki::Signer| -> anyhow::Result<f64> {
        let started = Instant::now();
        for i in 0..n {
            s.sign_sha256_digest(&[i as u8; 32])?;
        }
        Ok(f64::from(n) / started.elapsed().as_secs_f64().max(1e-9))
    };
    let per_second = rate(&ds.key)?;
    let software_per_second = rate(&software)?;
    Ok(SignerBench {
        signer: ds.key.describe(),
        signatures: n,
        per_second,
        software_per_second,
        ratio_to_software: per_second / software_per_second,
    })
}

/// Opens the chip with `can` (PACE where the card offers it), reads every file, runs Active
/// Authentication and verifies: a checkpoint's work on one card.
fn pace_verdict(
    t: &mut dyn Transport,
    can: &str,
    trust: &[x509_cert::Certificate],
    at: time::Date,
) -> anyhow::Result<(String, bool)> {
    let pw = ecard_chip::pace::Password::can(can)?;
    let mut chip = ecard_chip::access::open(t, Some(&pw), &mut rand_core::OsRng)?;
    let access = chip.access().to_string();
    let (files, _) = ecard_chip::read::read_card(chip.transport())?;
    let challenge = [7u8; 8];
    let sig = ecard_chip::read::active_authentication(chip.transport(), challenge)?;
    let report = ecard_chip::verify::verify(
        &files,
        &ecard_chip::verify::VerifyOptions {
            trust,
            at,
            strict: true,
            revoked: &Default::default(),
            active_auth: ecard_chip::verify::AaEvidence::Performed(ecard_chip::verify::AaOutcome {
                challenge,
                response: sig.to_bytes().to_vec(),
            }),
        },
    );
    Ok((access, report.is_valid()))
}

/// Personalizes the blank behind `t` as a lane does: through its SCP03 channel (test key) where
/// the profile has one.
fn issue_on(
    t: &mut dyn Transport,
    profile: &Profile,
    content: &ecard_chip::lds::CardContent,
    generated: &pki::GeneratedPki,
    now: time::OffsetDateTime,
) -> anyhow::Result<ecard_chip::issue::IssuedCard> {
    let mut channel = ecard_chip::secure_perso::open(
        t,
        profile,
        &ecard_chip::scp03::KmcKeys::test_key(),
        &mut rand_core::OsRng,
    )?;
    Ok(issue(
        channel.transport(),
        profile,
        content,
        &generated.ds_key,
        &generated.ds,
        now,
        profile.pace.offered.then_some(BENCH_CAN),
    )?)
}

/// Secure personalization (SCP03 at the profile's level) against plain personalization of the
/// same card: bytes on the wire and time in the simulator's link model (issue 15).
#[derive(Serialize)]
struct ScpBench {
    level: String,
    plain_apdus: u64,
    plain_bytes: u64,
    plain_link_ms: f64,
    scp_apdus: u64,
    scp_bytes: u64,
    scp_link_ms: f64,
    bytes_ratio: f64,
    time_ratio: f64,
}

fn scp_bench(
    content: &ecard_chip::lds::CardContent,
    generated: &pki::GeneratedPki,
    now: time::OffsetDateTime,
) -> anyhow::Result<ScpBench> {
    let scp = Profile::builtin("ecard-sim")?;
    let mut plain = scp.clone();
    plain.transport.scp03 = false;
    let mut out = Vec::new();
    for profile in [&plain, &scp] {
        let mut sim = SimTransport::new(Card::new_blank(&SimSpec::from_profile(profile)));
        let mut t = Counting::new(&mut sim);
        issue_on(&mut t, profile, content, generated, now)?;
        let (apdus, bytes) = (t.apdus, t.bytes);
        out.push((apdus, bytes, sim.elapsed().as_secs_f64()));
    }
    let ((pa, pb, pt), (sa, sb, st)) = (out[0], out[1]);
    Ok(ScpBench {
        level: format!("{:02X}", scp.transport.security_level),
        plain_apdus: pa,
        plain_bytes: pb,
        plain_link_ms: pt * 1e3,
        scp_apdus: sa,
        scp_bytes: sb,
        scp_link_ms: st * 1e3,
        bytes_ratio: sb as f64 / pb.max(1) as f64,
        time_ratio: st / pt.max(1e-9),
    })
}

/// PACE + secure messaging read against the plain read of the same content, in the link model.
fn pace_bench(
    content: &ecard_chip::lds::CardContent,
    generated: &pki::GeneratedPki,
    now: time::OffsetDateTime,
) -> anyhow::Result<PaceBench> {
    let with_pace = Profile::builtin("ecard-sim")?;
    let mut plain = with_pace.clone();
    plain.pace.offered = false;
    let mut cards = Vec::new();
    for profile in [&plain, &with_pace] {
        let mut sim = SimTransport::new(Card::new_blank(&SimSpec::from_profile(profile)));
        issue_on(&mut sim, profile, content, generated, now)
            .with_context(|| format!("personalization with profile {} failed", profile.name))?;
        cards.push(sim.into_card());
    }
    let mut pace_card = cards.pop().context("two cards")?;
    let plain_card = cards.pop().context("two cards")?;

    let mut sim = SimTransport::new(plain_card);
    let mut t = Counting::new(&mut sim);
    ecard_chip::read::read_card(&mut t)?;
    let (plain_apdus, plain_bytes) = (t.apdus, t.bytes);
    let plain_link = sim.elapsed().as_secs_f64();

    // A fresh session, as a reader meets the card.
    pace_card.power_on();
    let mut sim = SimTransport::new(pace_card);
    let mut t = Counting::new(&mut sim);
    let pw = ecard_chip::pace::Password::can(BENCH_CAN)?;
    let mut chip = ecard_chip::access::open(&mut t, Some(&pw), &mut rand_core::OsRng)?;
    let protocol = chip.access().to_string();
    ecard_chip::read::read_card(chip.transport())?;
    drop(chip);
    let (pace_apdus, pace_bytes) = (t.apdus, t.bytes);
    let pace_link = sim.elapsed().as_secs_f64();

    // The whole checkpoint verdict on the PACE card: link model time plus software time.
    let mut card = sim.into_card();
    card.power_on();
    let mut sim = SimTransport::new(card);
    let started = Instant::now();
    let trust = vec![generated.csca.clone()];
    let (_, valid) = pace_verdict(
        &mut sim,
        BENCH_CAN,
        &trust,
        ecard_model::dates::moscow_date(now),
    )?;
    anyhow::ensure!(valid, "the benchmark's PACE card does not verify");
    let verdict = started.elapsed().as_secs_f64() + sim.elapsed().as_secs_f64();
    Ok(PaceBench {
        protocol,
        plain_apdus,
        plain_bytes,
        plain_link_ms: plain_link * 1e3,
        pace_apdus,
        pace_bytes,
        pace_link_ms: pace_link * 1e3,
        bytes_ratio: pace_bytes as f64 / plain_bytes.max(1) as f64,
        time_ratio: pace_link / plain_link.max(1e-9),
        verdict_ms: verdict * 1e3,
    })
}

/// Counts the APDUs (by INS) and the bytes both ways on their way to the card.
struct Counting<'a> {
    inner: &'a mut dyn Transport,
    apdus: u64,
    bytes: u64,
    by_ins: [u64; 256],
}

impl<'a> Counting<'a> {
    fn new(inner: &'a mut dyn Transport) -> Counting<'a> {
        Counting {
            inner,
            apdus: 0,
            bytes: 0,
            by_ins: [0; 256],
        }
    }
}

impl Transport for Counting<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if let Some(ins) = capdu.get(1) {
            self.by_ins[usize::from(*ins)] += 1;
        }
        let r = self.inner.transmit(capdu)?;
        self.apdus += 1;
        self.bytes += (capdu.len() + r.len()) as u64;
        Ok(r)
    }
    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.reset()
    }
    fn atr(&self) -> &[u8] {
        self.inner.atr()
    }
    fn limits(&self) -> ApduLimits {
        self.inner.limits()
    }
    fn reader_name(&self) -> &str {
        self.inner.reader_name()
    }
}

fn us(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n.max(1))
}

/// Runs `ecard bench`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(BenchSub::Soak(soak)) = &args.sub {
        return super::soak::run(soak);
    }
    if let Some(BenchSub::Stats(stats)) = &args.sub {
        return super::bench_stats::run(stats);
    }
    if let Some(BenchSub::AtRest(a)) = &args.sub {
        return super::bench_at_rest::run(a);
    }
    if let Some(BenchSub::Throughput(t)) = &args.sub {
        return super::bench_throughput::run(t);
    }
    if let Some(dir) = &args.pki {
        // A folder token: run with its SOFTHSM2_CONF from the start, not after the other timings.
        super::pki::reexec_for_token(dir)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let prepared =
        super::personalize::load_valid(&args.enrollment, ecard_model::dates::moscow_date(now))?;
    let generated = pki::init(&PkiConfig::default(), now, &mut rand_core::OsRng)
        .context("cannot make a PKI")?;
    let number = DocumentNumber::new(77, 1_234_567).context("the bench's card number")?;
    let images = super::personalize::chip_images(&prepared);
    let content = card_content(
        &prepared.holder,
        &number,
        images,
        super::personalize::DEFAULT_AUTHORITY,
        now,
    );
    let aa_key = pki::SoftwareSigner::generate(&mut rand_core::OsRng).public_key();

    // LDS build + EF.SOD signature, against one signature over a digest.
    let started = Instant::now();
    for _ in 0..args.cards {
        let files: LdsFiles = build_card(
            &content,
            Some(&aa_key),
            &generated.ds_key,
            &generated.ds,
            now,
        )?;
        std::hint::black_box(files);
    }
    let build = started.elapsed();
    let started = Instant::now();
    for i in 0..args.cards {
        let digest = [i as u8; 32];
        generated.ds_key.sign_sha256_digest(&digest)?;
    }
    let sign = started.elapsed();
    let lds = LdsBench {
        cards: args.cards,
        build_and_sign_us: us(build, args.cards),
        one_signature_us: us(sign, args.cards),
        ratio_to_one_signature: build.as_secs_f64() / sign.as_secs_f64().max(1e-9),
    };

    let mut personalization = Vec::new();
    for name in ["ecard-sim", "generic-iso7816"] {
        let profile = Profile::builtin(name)?;
        let spec = SimSpec::from_profile(&profile);
        let mut sim = SimTransport::new(Card::new_blank(&spec));
        let mut counting = Counting::new(&mut sim);
        let started = Instant::now();
        let issued = issue_on(&mut counting, &profile, &content, &generated, now)
            .with_context(|| format!("personalization with profile {name} failed"))?;
        let software = started.elapsed();
        let by_ins = counting.by_ins;
        let limits = issued.report.limits;
        // Data-carrying APDUs: UPDATE BINARY (D6, D7) and READ BINARY (B0, B1); the read-back
        // reads each file whole, so the minimum is one write and one read per full APDU of data.
        let data_apdus = by_ins[0xD6] + by_ins[0xD7] + by_ins[0xB0] + by_ins[0xB1];
        let minimum: u64 = issued
            .files
            .values()
            .map(|f| {
                (f.len().div_ceil(limits.max_command_data)
                    + f.len().div_ceil(limits.max_response_data)) as u64
            })
            .sum();
        let file_bytes: usize = issued.files.values().map(Vec::len).sum();
        let stats = issued.report.stats;
        let wire = stats.bytes_sent + stats.bytes_received;
        let link_limit = wire as f64 * 10.0 / f64::from(profile.sim.link_bit_rate.max(1));
        let chip = sim.elapsed().as_secs_f64();
        personalization.push(PersoBench {
            profile: name.to_string(),
            extended: limits.extended,
            max_command_data: limits.max_command_data,
            file_bytes,
            apdus: stats.apdus,
            data_apdus,
            data_apdus_minimum: minimum,
            data_apdu_ratio: data_apdus as f64 / minimum.max(1) as f64,
            bytes_on_wire: wire,
            wire_to_file_ratio: wire as f64 / (2 * file_bytes).max(1) as f64,
            simulated_chip_ms: chip * 1e3,
            link_limit_ms: link_limit * 1e3,
            chip_to_link_limit_ratio: chip / link_limit.max(1e-9),
            software_ms: software.as_secs_f64() * 1e3,
            software_to_chip_ratio: software.as_secs_f64() / chip.max(1e-9),
        });
    }
    let pace = pace_bench(&content, &generated, now)?;
    let secure_perso = scp_bench(&content, &generated, now)?;
    let reader = match &args.reader {
        Some(name) => Some(bench_reader(
            name,
            &content,
            &generated,
            now,
            &personalization,
        )?),
        None => None,
    };
    // The card the reader bench just personalized, checked as a checkpoint does.
    let reader_pace = match &args.reader {
        Some(name) => {
            let card = super::card::CardArgs {
                sim: None,
                reader: Some(name.clone()),
            };
            let wait = super::card::WaitArgs {
                wait: false,
                wait_timeout: None,
            };
            let mut session = super::card::CardSession::open(&card, &wait)?;
            let mut t = Counting::new(session.transport());
            let trust = vec![generated.csca.clone()];
            let started = Instant::now();
            let (_, valid) = pace_verdict(
                &mut t,
                BENCH_CAN,
                &trust,
                ecard_model::dates::moscow_date(now),
            )?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let apdus = t.apdus;
            session.close()?;
            anyhow::ensure!(valid, "the card in {name:?} does not verify");
            Some(ReaderPaceBench {
                reader: name.clone(),
                apdus,
                pace_read_aa_verdict_ms: ms,
            })
        }
        None => None,
    };
    let signer = match &args.pki {
        Some(dir) => Some(signer_bench(dir, 500)?),
        None => None,
    };
    let results = Results {
        lds,
        personalization,
        pace,
        secure_perso,
        reader_pace,
        reader,
        signer,
    };
    if args.json {
        crate::output::print_json(&results)?;
    } else {
        print_text(&results);
    }
    Ok(ExitCode::SUCCESS)
}

/// The CAN the benchmark's cards get (they are thrown away).
const BENCH_CAN: &str = "271828";

/// Personalizes the blank card in `reader` and compares the wall time with the in-process run of
/// the same profile (the simulator's own transport): what pcscd and the reader add per card.
fn bench_reader(
    reader: &str,
    content: &ecard_chip::lds::CardContent,
    generated: &pki::GeneratedPki,
    now: time::OffsetDateTime,
    in_process: &[PersoBench],
) -> anyhow::Result<ReaderBench> {
    let card = super::card::CardArgs {
        sim: None,
        reader: Some(reader.to_string()),
    };
    let wait = super::card::WaitArgs {
        wait: false,
        wait_timeout: None,
    };
    let mut session = super::card::CardSession::open(&card, &wait)?;
    let profile = super::card::choose_profile(None, session.transport().atr())?;
    let started = Instant::now();
    let issued = issue_on(session.transport(), &profile, content, generated, now);
    let elapsed = started.elapsed();
    session.close()?;
    let issued = issued
        .with_context(|| format!("cannot personalize the card in {reader:?} (is it blank?)"))?;
    let same = in_process
        .iter()
        .find(|p| p.profile == issued.report.profile)
        .map(|p| p.software_ms)
        .unwrap_or(f64::NAN);
    let ms = elapsed.as_secs_f64() * 1e3;
    Ok(ReaderBench {
        reader: reader.to_string(),
        profile: issued.report.profile.clone(),
        apdus: issued.report.stats.apdus,
        through_reader_ms: ms,
        in_process_ms: same,
        ratio: ms / same,
        per_apdu_us: ms * 1e3 / issued.report.stats.apdus.max(1) as f64,
    })
}

fn print_text(r: &Results) {
    let l = &r.lds;
    crate::out!(
        "LDS build + EF.SOD signature: {:.0} us per card over {} cards; one P-256 signature {:.0} us -> {:.2}x",
        l.build_and_sign_us,
        l.cards,
        l.one_signature_us,
        l.ratio_to_one_signature
    );
    for p in &r.personalization {
        crate::out!(
            "{} ({} APDUs of up to {} bytes): {} APDUs; data APDUs {} vs minimum {} -> {:.3}; \
             {} bytes on the wire for 2 x {} bytes of files (written, read back) -> {:.3}",
            p.profile,
            if p.extended { "extended" } else { "short" },
            p.max_command_data,
            p.apdus,
            p.data_apdus,
            p.data_apdus_minimum,
            p.data_apdu_ratio,
            p.bytes_on_wire,
            p.file_bytes,
            p.wire_to_file_ratio
        );
        crate::out!(
            "  simulated chip time {:.0} ms vs link limit {:.0} ms (bytes x 10 bits at the modelled bit rate) -> {:.2}x; \
             our software {:.1} ms -> {:.3} of the chip time",
            p.simulated_chip_ms,
            p.link_limit_ms,
            p.chip_to_link_limit_ratio,
            p.software_ms,
            p.software_to_chip_ratio
        );
    }
    let p = &r.pace;
    crate::out!(
        "PACE ({}) + secure messaging read vs plain read of the same card: {} vs {} APDUs, \
         {} vs {} bytes -> {:.3}x; {:.1} vs {:.1} ms in the link model -> {:.3}x; \
         checkpoint verdict (PACE, every file, Active Authentication, checks) {:.0} ms",
        p.protocol,
        p.pace_apdus,
        p.plain_apdus,
        p.pace_bytes,
        p.plain_bytes,
        p.bytes_ratio,
        p.pace_link_ms,
        p.plain_link_ms,
        p.time_ratio,
        p.verdict_ms
    );
    let b = &r.secure_perso;
    crate::out!(
        "SCP03 personalization (level {}) vs plain personalization of the same card: {} vs {} APDUs, \
         {} vs {} bytes -> {:.3}x; {:.1} vs {:.1} ms in the link model -> {:.3}x",
        b.level,
        b.scp_apdus,
        b.plain_apdus,
        b.scp_bytes,
        b.plain_bytes,
        b.bytes_ratio,
        b.scp_link_ms,
        b.plain_link_ms,
        b.time_ratio
    );
    if let Some(b) = &r.reader_pace {
        crate::out!(
            "checkpoint verdict through reader {:?}: PACE, every file, Active Authentication and the checks in {:.0} ms ({} APDUs)",
            b.reader,
            b.pace_read_aa_verdict_ms,
            b.apdus
        );
    }
    if let Some(b) = &r.reader {
        crate::out!(
            "through reader {:?} ({}): {} APDUs in {:.1} ms ({:.0} us per APDU) vs {:.1} ms in process -> {:.1}x",
            b.reader,
            b.profile,
            b.apdus,
            b.through_reader_ms,
            b.per_apdu_us,
            b.in_process_ms,
            b.ratio
        );
    }
    if let Some(b) = &r.signer {
        crate::out!(
            "signatures: {:.0}/s by {} vs {:.0}/s by an in-memory key over {} signatures -> {:.2}x",
            b.per_second,
            b.signer,
            b.software_per_second,
            b.signatures,
            b.ratio_to_software
        );
    }
}
