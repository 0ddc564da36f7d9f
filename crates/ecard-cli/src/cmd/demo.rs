//! `ecard demo`: the whole issuance on simulated cards, with nothing to set up. It makes a demo PKI,
//! takes the sample records, numbers the cards, personalizes blank simulated cards, then reads each
//! one back and judges it as a checkpoint would (Active Authentication included). It exits 0 only
//! when every card verified.
//!
//! Output: `OUT/pki/` (csca.pem is the trust anchor, ds.pem the signer of seals and status lists),
//! `OUT/cards/<document number>/` with the record as used (`enrollment.json`, images beside it),
//! `card.img`, `chip/` (a `read` dump), the QR seal (`seal.txt`, `seal.png`; signed after
//! personalization over the DG2 written), the printed face with the seal (`face-front.png`,
//! `face-back.png`, `face.pdf`; when the fonts are installed), `OUT/status.cose` (the demo's signed
//! card status list: one entry, the number after the last card's, "voided" as a card spoiled in
//! production would be, so that no demo card is revoked and the list is not empty), and
//! `OUT/report.json` (per card: verdict, APDUs, bytes, simulated chip time).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ecard_chip::pki::PkiConfig;
use ecard_chip::verify::Outcome;
use ecard_imaging::PreparedEnrollment;
use ecard_model::number::DocumentNumber;
use ecard_seal::status::StatusListPayload;
use ecard_seal::{Reason, Revocation, Seal, SealPayload};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::card::{CardArgs, CardSession, WaitArgs, choose_profile, create_dir};
use super::personalize::{DEFAULT_AUTHORITY, issue_one, load_valid, spoiled_error};
use super::pki::{CSCA_CERT, create, load_signer};
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
    /// The first card number (7 digits) of the demo.
    #[arg(long, default_value_t = 1_000_001)]
    first_number: u32,
}

#[derive(Serialize)]
struct CardReport {
    document_number: String,
    application_id: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_failure: Option<String>,
    profile: String,
    locked: bool,
    perso_apdus: u64,
    perso_bytes_sent: u64,
    perso_bytes_received: u64,
    simulated_chip_ms: f64,
}

#[derive(Serialize)]
struct Report {
    cards: Vec<CardReport>,
    all_valid: bool,
    trust_anchor: String,
}

/// Runs `ecard demo`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Everything that can be wrong with the input is found before anything is written.
    let now = time::OffsetDateTime::now_utc();
    let today = ecard_model::dates::moscow_date(now);
    let samples = load_samples(&args.samples, today)?;
    let profile = choose_profile(Some(&args.profile), &[])?;
    prepare_out(&args.out)?;
    let pki_dir = args.out.join("pki");
    // The PKI and every signature share one clock reading: a DS certificate valid from a later
    // second than the demo's signing time would not be valid for its own cards.
    create(&pki_dir, &PkiConfig::default(), now, false)?;
    let signer = load_signer(&pki_dir)?;
    let trust = TrustArgs {
        trust: vec![pki_dir.join(CSCA_CERT)],
        at: Some(today),
        revoked: None,
        status: None,
        ds: vec![],
        strict: false,
        json: false,
    };

    let fonts = match ecard_face::Fonts::load(&ecard_face::FontPaths::default()) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("warning: card faces are not rendered: {e}");
            eprintln!(
                "help: install the fonts with `apt-get install fonts-ocr-b fonts-dejavu-core`; the chips are issued all the same"
            );
            None
        }
    };

    let bar = ProgressBar::new(u64::from(args.cards));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} issuing [{bar:30}] {pos}/{len} cards, {elapsed} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut cards = Vec::new();
    let mut warned_seal = false;
    for i in 0..args.cards {
        let (record_path, prepared) = &samples[i as usize % samples.len()];
        let number = DocumentNumber::new(args.series, args.first_number + i)
            .with_context(|| format!("card {} of the demo has no valid number", i + 1))
            .help("choose a --first-number so that every card's number has 7 digits")?;
        bar.set_message(number.to_string());
        let dir = args.out.join("cards").join(number.mrz_form());
        create_dir(&dir)?;
        write_record(record_path, prepared, &dir)?;

        // Personalize a blank card.
        let image = dir.join("card.img");
        super::sim::new_blank(&image, &args.profile)?;
        let card_args = CardArgs {
            sim: Some(image.clone()),
            reader: None,
        };
        let no_wait = WaitArgs {
            wait: false,
            wait_timeout: None,
        };
        let mut session = CardSession::open(&card_args, &no_wait)?;
        let issued = issue_one(
            &mut session,
            &profile,
            prepared,
            &number,
            &signer,
            DEFAULT_AUTHORITY,
            now,
        );
        let perso_time = session.simulated_time().unwrap_or_default();
        session.close()?;
        let (issued, content) = issued.map_err(|e| spoiled_error(e, &number))?;
        let dg2 = issued
            .files
            .get(&ecard_chip::lds::EfId::Dg2)
            .with_context(|| format!("card {number} was issued without DG2"))?;
        let seal = Seal::sign(
            &SealPayload::for_card(
                &prepared.holder,
                &number,
                content.date_of_issue,
                ecard_model::dates::expiry_for(content.date_of_issue),
                dg2,
            ),
            &signer.key,
            &signer.cert,
        )
        .with_context(|| format!("cannot sign the QR seal of card {number}"))?;
        if let Some(fonts) = &fonts {
            let missing =
                super::face::write_faces(&dir, fonts, prepared, &number, &content, Some(&seal))?;
            if let Some(why) = missing
                && !warned_seal
            {
                warned_seal = true;
                // Not bar.println: indicatif drops it when stderr is not a terminal.
                bar.suspend(|| {
                    eprintln!(
                        "warning: the QR seal is not printed on the faces (it is in each card's seal.png): {why}"
                    )
                });
            }
        } else {
            let q = ecard_seal::encode_qr(&seal)?;
            std::fs::write(dir.join("seal.txt"), format!("{seal}\n"))?;
            ecard_seal::qr_image(&q, 4)
                .save_with_format(dir.join("seal.png"), image::ImageFormat::Png)?;
        }

        // Read it back from its image file, as a checkpoint would.
        let mut session = CardSession::open(&card_args, &no_wait)?;
        let read = super::check::read_and_authenticate(&mut session);
        let read_time = session.simulated_time().unwrap_or_default();
        session.close()?;
        let (files, aa) = read.with_context(|| format!("cannot read card {number} back"))?;
        super::read::write_dump(&dir.join("chip"), &files)?;
        let report = check_files(&files, &trust, aa)?;
        let first_failure = report.first_failure().map(|c| match &c.outcome {
            Outcome::Fail(why) => format!("{}: {why}", c.name),
            _ => c.name.to_string(),
        });
        if let Some(f) = &first_failure {
            bar.suspend(|| eprintln!("card {number}: NOT VALID: {f}"));
        }
        let stats = issued.report.stats;
        cards.push(CardReport {
            document_number: number.mrz_form(),
            application_id: prepared.record.application_id.clone(),
            valid: report.is_valid(),
            first_failure,
            profile: issued.report.profile.clone(),
            locked: matches!(
                issued.report.lock,
                ecard_chip::perso::LockOutcome::Locked { .. }
            ),
            perso_apdus: stats.apdus,
            perso_bytes_sent: stats.bytes_sent,
            perso_bytes_received: stats.bytes_received,
            simulated_chip_ms: millis(perso_time + read_time),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();

    // The demo's status list: the number after the last card's, voided.
    let mut rev = Vec::new();
    if let Ok(voided) = DocumentNumber::new(args.series, args.first_number + args.cards) {
        rev.push(Revocation {
            document_number: voided.mrz_form(),
            reason: Reason::Voided,
            since: today,
        });
    }
    let status_path = args.out.join("status.cose");
    super::status::write_signed(&status_path, &StatusListPayload::new(now, rev), &signer)?;

    let all_valid = cards.iter().all(|c| c.valid);
    let valid = cards.iter().filter(|c| c.valid).count();
    let report = Report {
        cards,
        all_valid,
        trust_anchor: pki_dir.join(CSCA_CERT).display().to_string(),
    };
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    crate::out!(
        "{valid} of {} cards issued and verified; report in {}",
        report.cards.len(),
        report_path.display()
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
        if warned_seal || fonts.is_none() {
            "seal.png"
        } else {
            "face-front.png"
        }
    );
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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
        let status = out.join("status.cose");
        if status.exists() {
            std::fs::remove_file(&status)
                .with_context(|| format!("cannot clear {}", status.display()))?;
        }
        for sub in ["pki", "cards"] {
            let p = out.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p)
                    .with_context(|| format!("cannot clear {}", p.display()))?;
            }
        }
        let report = out.join("report.json");
        if report.exists() {
            std::fs::remove_file(&report)
                .with_context(|| format!("cannot clear {}", report.display()))?;
        }
    }
    create_dir(out)
}

/// Every `*.json` record in `dir`, validated, in file-name order.
fn load_samples(
    dir: &Path,
    today: time::Date,
) -> anyhow::Result<Vec<(PathBuf, PreparedEnrollment)>> {
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
        .map(|p| load_valid(&p, today).map(|prepared| (p, prepared)))
        .collect()
}

/// Writes the record as used, with its images copied beside it and the paths made valid there.
fn write_record(source: &Path, prepared: &PreparedEnrollment, dir: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let mut record: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", source.display()))?;
    for (field, bytes) in [
        ("photo", &prepared.photo_original),
        ("signature", &prepared.signature_original),
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
