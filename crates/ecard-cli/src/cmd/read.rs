//! `ecard read (--sim CARD.img | --reader NAME) --out DIR`: every file of a card into a folder,
//! named as the ICAO vectors name them, plus the holder, photo and signature for people to look at.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ecard_chip::lds::{Dg2, Dg7, EfId, LdsFiles};
use ecard_chip::read::read_card_with;

use super::card::{AccessArgs, CardArgs, CardSession, WaitArgs, create_dir, open_chip};

/// Arguments of `ecard read`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    access: AccessArgs,
    /// The folder to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `ecard read`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let password = args.access.password()?;
    let mut session = CardSession::open(&args.card, &args.wait)?;
    let opts = super::card::read_options(session.transport());
    let read = open_chip(session.transport(), password.as_ref()).and_then(|mut chip| {
        if chip.access() == ecard_chip::access::Access::None {
            crate::out!("note: the card has no access control: anyone can read its chip");
        }
        let mut opts = opts;
        opts.limits = opts.limits.min(chip.transport().limits());
        Ok(read_card_with(chip.transport(), opts)?)
    });
    session.close()?;
    let (files, stats) = read.context("cannot read the card")?;
    write_dump(&args.out, &files)?;
    crate::out!(
        "read {} files into {} ({} APDUs, {} bytes received)",
        files.len(),
        args.out.display(),
        stats.apdus,
        stats.bytes_received
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the raw files, `holder.json`, `photo.jpg` and `signature.jpg` into `dir`.
pub fn write_dump(dir: &Path, files: &LdsFiles) -> anyhow::Result<()> {
    create_dir(dir)?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    for (ef, bytes) in files {
        write(ef.dump_file_name(), bytes)?;
    }
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    if let Some(holder) = ecard_chip::verify::holder_summary(files, today) {
        write(
            "holder.json",
            serde_json::to_string_pretty(&holder)?.as_bytes(),
        )?;
    }
    if let Some(dg2) = files.get(&EfId::Dg2).and_then(|b| Dg2::parse(b).ok()) {
        write("photo.jpg", &dg2.face.image)?;
    }
    if let Some(image) = files
        .get(&EfId::Dg7)
        .and_then(|b| Dg7::parse(b).ok())
        .and_then(|d| d.images.into_iter().next())
    {
        write("signature.jpg", &image)?;
    }
    Ok(())
}

/// Reads the raw files of a dump folder (those present).
pub fn read_dump(dir: &Path) -> anyhow::Result<LdsFiles> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder of chip files (as `ecard read --out` writes)",
            dir.display()
        );
    }
    let mut files = LdsFiles::new();
    for ef in EfId::ALL {
        let path = dir.join(ef.dump_file_name());
        match std::fs::read(&path) {
            Ok(bytes) => {
                files.insert(ef, bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    if files.is_empty() {
        anyhow::bail!(
            "{} holds none of EF.COM.bin, DG1.bin ... SOD.bin",
            dir.display()
        );
    }
    Ok(files)
}
