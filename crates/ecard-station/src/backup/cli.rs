//! `ecard station backup | restore | restore-check`: the operator's side of [`crate::backup`].

use std::path::PathBuf;

use crate::cli::{CliError, open_store, resolve};
use crate::config::StoreConfig;
use crate::store::restore::{NumberingRule, ReservedBlock};

use super::{BackupError, BackupKey};

/// `ecard station backup`
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The station's config (its store and station id); without it the data folder's defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data folder holding station.db.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The backup file to write (mode 0600).
    #[arg(long)]
    pub out: PathBuf,
    /// The backup key: a file of 64 hex digits, kept away from the data folder. Made (0600) when
    /// it does not exist yet; the same key restores the backup.
    #[arg(long)]
    pub key_file: PathBuf,
}

/// `ecard station restore`
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The data folder to restore into (must be empty unless --force).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The key file the backup was made with.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Skip this many numbers in every series above the backup's highest, so numbers issued
    /// after the backup are never issued again.
    #[arg(long, default_value_t = 10_000, conflicts_with = "numbers_after")]
    pub reserve: u32,
    /// Instead of --reserve: continue after this number (9 digits), the highest ever issued in
    /// its series, read off the audit log copy or the latest status list.
    #[arg(long, value_name = "NUMBER")]
    pub numbers_after: Option<String>,
    /// Restore over a data folder that is not empty, keeping the old one aside.
    #[arg(long)]
    pub force: bool,
}

/// `ecard station restore-check`
#[derive(Debug, clap::Args)]
pub struct RestoreCheckArgs {
    /// The station's config (a PostgreSQL store restored with pg_restore, or SQLite).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data folder holding station.db.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Make the numbering safe: skip this many numbers in every series.
    #[arg(long, conflicts_with = "numbers_after")]
    pub reserve: Option<u32>,
    /// Make the numbering safe: continue after this number (9 digits).
    #[arg(long, value_name = "NUMBER")]
    pub numbers_after: Option<String>,
}

fn backup_err(e: BackupError) -> CliError {
    CliError::Backup(Box::new(e))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn print_blocks(blocks: &[ReservedBlock]) {
    for b in blocks {
        match (&b.first, &b.last) {
            (Some(f), Some(l)) => println!(
                "series {:02}: numbers {f} to {l} voided unused; the next card gets {}",
                b.series, b.next
            ),
            _ => println!(
                "series {:02}: nothing to skip; the next card gets {}",
                b.series, b.next
            ),
        }
    }
}

/// Takes a backup; returns the exit code.
pub fn backup(args: &BackupArgs) -> Result<u8, CliError> {
    let config = resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    let StoreConfig::Sqlite(db) = &config.store else {
        return Err(CliError::Unsupported(
            "this station's store is PostgreSQL: back it up with pg_dump (see the README, \"Backup and restore\") and check a restored database with `ecard station restore-check`".into(),
        ));
    };
    if !db.is_file() {
        return Err(CliError::Unsupported(format!(
            "no station database at {}; pass the station's --data-dir or --config",
            db.display()
        )));
    }
    let key = if args.key_file.exists() {
        BackupKey::load(&args.key_file).map_err(backup_err)?
    } else {
        let key = BackupKey::create(&args.key_file).map_err(backup_err)?;
        println!(
            "new backup key in {} (mode 0600): keep it apart from the data folder and the backups; without it no backup can be restored",
            args.key_file.display()
        );
        key
    };
    let m = super::backup_sqlite(
        db,
        &args.out,
        &key,
        &config.settings.station_id,
        &now_rfc3339(),
    )
    .map_err(backup_err)?;
    let highest: Vec<String> = m
        .highest_numbers
        .iter()
        .map(|(s, n)| format!("series {s:02}: {}", n.as_deref().unwrap_or("none yet")))
        .collect();
    println!(
        "backup of station {} written to {}: {} jobs, audit {}, schema version {}, highest numbers {}",
        m.station_id,
        args.out.display(),
        m.jobs,
        crate::audit::describe_heads(&m.audit_heads),
        m.schema_version,
        highest.join(", ")
    );
    Ok(0)
}

/// Restores a backup; returns the exit code.
pub fn restore(args: &RestoreArgs) -> Result<u8, CliError> {
    let key = BackupKey::load(&args.key_file).map_err(backup_err)?;
    let rule = match &args.numbers_after {
        Some(n) => NumberingRule::After(n.clone()),
        None => NumberingRule::Reserve(args.reserve),
    };
    let r = super::restore_sqlite(
        &args.file,
        &key,
        &args.data_dir,
        &rule,
        args.force,
        now_ms(),
    )
    .map_err(backup_err)?;
    println!(
        "restored the backup of station {} taken {} into {}: {} jobs, audit log intact ({} before the restore)",
        r.manifest.station_id,
        r.manifest.created,
        args.data_dir.display(),
        r.manifest.jobs,
        crate::audit::describe_heads(&r.manifest.expected_heads())
    );
    print_blocks(&r.blocks);
    if let Some(old) = &r.old_kept_at {
        println!("the old data folder is kept at {}", old.display());
    }
    Ok(0)
}

/// Checks a restored database (and makes its numbering safe when asked); 0 when it is ready to
/// issue, 1 when it is not.
pub fn restore_check(args: &RestoreCheckArgs) -> Result<u8, CliError> {
    let config = resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    if let StoreConfig::Sqlite(path) = &config.store
        && !path.is_file()
    {
        return Err(CliError::Unsupported(format!(
            "no station database at {}; pass the station's --data-dir or --config",
            path.display()
        )));
    }
    let store = open_store(&config.store)?;
    let (entries, head, jobs) = store.audit_snapshot()?;
    let chain = crate::audit::verify_chain(&entries, &head)
        .and_then(|n| crate::audit::verify_jobs(&entries, &jobs).map(|()| n));
    let n = match chain {
        Ok(n) => n,
        Err(e) => {
            println!("NOT READY: the audit log does not verify: {e}");
            return Ok(1);
        }
    };
    let versions = store.schema_versions()?;
    println!(
        "audit log intact: {n} entries, {} jobs; schema version {}",
        jobs.len(),
        versions.last().map_or(0, |v| v.0)
    );
    let mut bad = Vec::new();
    for (series, high, next) in store.series_state()? {
        if let Some(h) = high
            && next <= h
        {
            bad.push(format!(
                "series {series:02} would give out {series:02}{next:07} next, but {series:02}{h:07} is already taken"
            ));
        }
    }
    if !bad.is_empty() {
        for b in &bad {
            println!("NOT READY: {b}");
        }
        return Ok(1);
    }
    let rule = match (&args.numbers_after, args.reserve) {
        (Some(n), _) => Some(NumberingRule::After(n.clone())),
        (None, Some(r)) => Some(NumberingRule::Reserve(r)),
        (None, None) => None,
    };
    if let Some(rule) = rule {
        let blocks = store.secure_numbering(
            &rule,
            "restore-check after a database restore",
            "station:restore-check",
            now_ms(),
        )?;
        print_blocks(&blocks);
    }
    if store.numbering_secured_last()? {
        println!("READY: numbering made safe after the restore, nothing issued since");
        Ok(0)
    } else {
        println!(
            "NOT READY: the numbering was not made safe since the last card; run again with --reserve N or --numbers-after NUMBER before any station issues from this database"
        );
        Ok(1)
    }
}
