//! The `ecard station ...` and `ecard audit ...` commands: argument types for clap and the code
//! that assembles a running station from a config (store, PKI, tokens, lanes, listener).
//!
//! Prints what an operator needs (listen address, admin token path, audit verdict) to stdout;
//! never prints or logs a token or personal data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::{Auth, Role, hash_token, new_token};
use crate::chip::{ChipEncoder, Pki, PkiLoadError, make_blanks};
use crate::config::{
    ConfigError, LaneConfig, PrinterChoice, StationConfig, StoreConfig, write_private,
};
use crate::lane::{FacePrinter, Lane, Printer, SimPrinter};
use crate::server::Station;
use crate::store::{Store, StoreError};

/// `ecard station ...`
#[derive(Debug, clap::Args)]
pub struct StationCommand {
    #[command(subcommand)]
    command: StationSub,
}

#[derive(Debug, clap::Subcommand)]
enum StationSub {
    /// Run the station daemon: HTTP API, job queue and lanes, until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Print the SHA-256 of a token read from standard input (`ecard station hash-token <
    /// token.txt`), for the `[[tokens]]` table of the config. Never the token as an argument.
    HashToken,
    /// Back up the station's SQLite database into an encrypted file, while lanes run.
    Backup(crate::backup::cli::BackupArgs),
    /// Restore a backup into an empty data folder; numbers issued after the backup are skipped.
    Restore(crate::backup::cli::RestoreArgs),
    /// Check a restored database (PostgreSQL after pg_restore, or SQLite) and make its numbering safe.
    RestoreCheck(crate::backup::cli::RestoreCheckArgs),
    /// Purge personal data past the retention period now (the daemon also does it hourly).
    Purge {
        /// The station's config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Days after a job ends until its personal data goes (default: the config's
        /// retention_days, 30).
        #[arg(long)]
        retention_days: Option<u32>,
    },
    /// Decrypt a sealed print-spool file (a card face) for the printer, with the station's data
    /// key; the output file is created 0600 and must not exist.
    Unseal {
        /// The sealed file (`<job>_<number>-front.png.sealed`, ...).
        file: PathBuf,
        /// Where to write the clear file.
        #[arg(long)]
        out: PathBuf,
        /// The station's config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Admin token of the embedded defaults (`DATA_DIR/admin.token`).
    #[command(subcommand)]
    Token(TokenSub),
    /// Write simulated blank cards into a folder, for `encoder = "sim:<folder>"` lanes.
    Blanks {
        /// The folder.
        #[arg(long)]
        dir: PathBuf,
        /// How many.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Firmware profile (built-in name).
        #[arg(long, default_value = "ecard-sim")]
        profile: String,
    },
}

/// `ecard station token ...`
#[derive(Debug, clap::Subcommand)]
enum TokenSub {
    /// Replace the admin token in DATA_DIR/admin.token (0600); a running station takes the new
    /// one at its next start.
    Rotate {
        /// Data folder.
        #[arg(long, default_value = "ecard-data")]
        data_dir: PathBuf,
    },
}

/// `ecard station serve` arguments.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML config; without it the embedded defaults run (SQLite, two simulated lanes, demo PKI).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data folder (SQLite file, admin token, demo PKI, issued card images).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080 (port 0 picks a free port, printed at start).
    /// Plain HTTP only on a loopback address; elsewhere give --tls-cert and --tls-key.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS with this PEM certificate chain.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// `ecard audit ...`
#[derive(Debug, clap::Args)]
pub struct AuditCommand {
    #[command(subcommand)]
    command: AuditSub,
}

#[derive(Debug, clap::Subcommand)]
enum AuditSub {
    /// Check the audit log's hash chain, its head and every job's last entry; exit 1 on tampering.
    Verify {
        /// The station's config (for a PostgreSQL store).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder holding station.db.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The PKI could not be loaded or made.
    #[error("pki: {0}")]
    Pki(#[from] PkiLoadError),
    /// A lane's printer cannot be used.
    #[error("lane {lane}: printer {printer}: {reason}")]
    Printer {
        /// The lane.
        lane: String,
        /// The printer spec.
        printer: String,
        /// Why.
        reason: String,
    },
    /// TLS could not be set up, or plain HTTP is refused.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A backup or restore did not happen (nothing was written).
    #[error("{0}")]
    Backup(Box<crate::backup::BackupError>),
    /// The command does not apply to this station as configured.
    #[error("{0}")]
    Unsupported(String),
    /// A file or socket operation failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        cause: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let what = what.into();
    move |cause| CliError::Io { what, cause }
}

/// Runs `ecard station ...`; returns the exit code (0 success).
pub fn run_station(cmd: &StationCommand) -> Result<u8, CliError> {
    match &cmd.command {
        StationSub::Serve(args) => serve(args).map(|()| 0),
        StationSub::Purge {
            config,
            data_dir,
            retention_days,
        } => {
            let config = resolve(config.as_deref(), data_dir.as_deref())?;
            let days = retention_days.unwrap_or(config.settings.retention_days);
            let store = open_store(&config.store)?;
            let (jobs, files) = crate::cleanup::purge_personal_data(
                &store,
                &config.data_dir,
                days,
                "station:purge",
            )
            .map_err(CliError::Unsupported)?;
            println!(
                "purged the records and images of {jobs} job(s) over for more than {days} days, and {files} print spool file(s); numbers, EF hashes, SOD and the audit log stay"
            );
            Ok(0)
        }
        StationSub::Unseal {
            file,
            out,
            config,
            data_dir,
        } => {
            let config = resolve(config.as_deref(), data_dir.as_deref())?;
            unseal(&config, file, out)?;
            println!("{} -> {}", file.display(), out.display());
            Ok(0)
        }
        StationSub::Token(TokenSub::Rotate { data_dir }) => {
            let path = data_dir.join("admin.token");
            write_admin_token(&path)?;
            println!(
                "new admin token in {} (mode 0600); the station uses it from its next start",
                path.display()
            );
            Ok(0)
        }
        StationSub::Backup(args) => crate::backup::cli::backup(args),
        StationSub::Restore(args) => crate::backup::cli::restore(args),
        StationSub::RestoreCheck(args) => crate::backup::cli::restore_check(args),
        StationSub::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .map_err(io("reading the token from standard input"))?;
            let token = token.trim();
            if token.is_empty() {
                return Err(CliError::Unsupported(
                    "no token on standard input; run: ecard station hash-token < token.txt".into(),
                ));
            }
            println!("{}", hash_token(token));
            Ok(0)
        }
        StationSub::Blanks {
            dir,
            count,
            profile,
        } => {
            let profile = ecard_chip::profile::Profile::builtin(profile).map_err(|e| {
                CliError::Config(ConfigError::Value {
                    file: "command line".into(),
                    key: "--profile".into(),
                    problem: e.to_string(),
                })
            })?;
            let manifest = make_blanks(dir, *count, &profile)
                .map_err(io(format!("writing blanks in {}", dir.display())))?;
            println!("wrote {count} blank cards in {}", dir.display());
            if !manifest.is_empty() {
                // The card maker's delivery note, for `ecard stock import`.
                let path = dir.join("manifest.csv");
                let mut text = String::from("serial,batch,key_version\n");
                for l in &manifest {
                    text.push_str(&format!("{},{},{}\n", l.serial, l.batch, l.key_version));
                }
                std::fs::write(&path, text)
                    .map_err(io(format!("writing the manifest {}", path.display())))?;
                println!("their manifest: {} (ecard stock import it)", path.display());
            }
            Ok(0)
        }
    }
}

/// Runs `ecard audit ...`; returns 0 when the log is intact, 1 when it was tampered with.
pub fn run_audit(cmd: &AuditCommand) -> Result<u8, CliError> {
    let AuditSub::Verify { config, data_dir } = &cmd.command;
    let config = resolve(config.as_deref(), data_dir.as_deref())?;
    if let StoreConfig::Sqlite(path) = &config.store
        && !path.is_file()
    {
        return Err(CliError::Io {
            what: format!("opening {}", path.display()),
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no station database there; pass the station's --data-dir or --config",
            ),
        });
    }
    let store = open_store(&config.store)?;
    let (entries, head, jobs) = store.audit_snapshot()?;
    let verdict = crate::audit::verify_chain(&entries, &head)
        .and_then(|n| crate::audit::verify_jobs(&entries, &jobs).map(|()| n));
    match verdict {
        Ok(n) => {
            println!(
                "audit log intact: {n} entries, {} jobs; {}",
                jobs.len(),
                crate::audit::describe_heads(&head)
            );
            Ok(0)
        }
        Err(e) => {
            println!("audit log TAMPERED: {e}");
            Ok(1)
        }
    }
}

pub(crate) fn resolve(
    config: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<StationConfig, CliError> {
    Ok(match config {
        Some(file) => StationConfig::load(file, data_dir)?,
        None => StationConfig::defaults(data_dir.unwrap_or(Path::new("ecard-data"))),
    })
}

/// Opens the configured store (creating the SQLite folder).
pub fn open_store(store: &StoreConfig) -> Result<Store, CliError> {
    match store {
        StoreConfig::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            }
            Ok(Store::open_sqlite(path)?)
        }
        StoreConfig::Postgres {
            url,
            schema,
            options,
        } => Ok(Store::open_postgres_with(url, schema, options)?),
    }
}

/// Opens the configured store with the station's data key, for tools that read sealed personal
/// data beside the daemon (`ecard qa --data-dir` reads a card's CAN). A data folder without a
/// PKI (nothing was ever sealed there) opens without one.
pub fn open_sealed_store(config: &StationConfig) -> Result<Store, CliError> {
    let pki = match &config.pki {
        Some(p) => Pki::load(&p.csca, &p.ds_cert, &p.ds_key)?,
        None => {
            let dir = config.data_dir.join("pki");
            if !dir.exists() {
                return open_store(&config.store);
            }
            crate::chip::reexec_for_folder_token(&dir)?;
            Pki::demo(&dir)?
        }
    };
    let vault = data_vault(config, &pki, &mut Vec::new())?;
    Ok(open_store(&config.store)?.with_vault(vault))
}

/// Everything `serve` assembles before it listens: usable in-process (benchmarks, the demo).
pub struct Assembled {
    /// The station handle.
    pub station: Station,
    /// Its lanes, not yet started.
    pub lanes: Vec<Lane>,
    /// The admin token file written, when one was generated.
    pub admin_token_file: Option<PathBuf>,
    /// What the operator should know at start (e.g. faces not printed for want of fonts).
    pub notes: Vec<String>,
}

/// The packages holding the fonts the card face needs (Debian names).
pub const FONT_PACKAGES: &str = "fonts-ocr-b fonts-dejavu-core";

/// Builds one lane's printer. `fonts` is loaded on first need and kept for the other lanes.
fn lane_printer(
    l: &LaneConfig,
    config: &StationConfig,
    pki: &Arc<Pki>,
    fonts: &mut Option<Result<Arc<ecard_face::Fonts>, String>>,
    vault: Option<&crate::vault::Vault>,
    notes: &mut Vec<String>,
) -> Result<Box<dyn Printer>, CliError> {
    let output_dir = config.data_dir.join("cards");
    let sim = || -> Box<dyn Printer> {
        Box::new(SimPrinter {
            per_card: l.print_time,
            output_dir: output_dir.clone(),
        })
    };
    let spec = match &l.printer {
        PrinterChoice::Sim => return Ok(sim()),
        PrinterChoice::Driver(spec) => spec.clone(),
        PrinterChoice::SpoolIfFonts(dir) => ecard_print::PrinterSpec::Spool { dir: dir.clone() },
    };
    let loaded = fonts
        .get_or_insert_with(|| {
            ecard_face::Fonts::load(&ecard_face::FontPaths::default())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone();
    let fonts = match (loaded, &l.printer) {
        (Ok(f), _) => f,
        (Err(e), PrinterChoice::SpoolIfFonts(_)) => {
            tracing::warn!(lane = %l.name, "card faces are not printed: {e}");
            notes.push(format!(
                "lane {}: printer sim (card faces not printed: {e}; install {FONT_PACKAGES} to spool faces into {spec})",
                l.name
            ));
            return Ok(sim());
        }
        (Err(e), _) => {
            return Err(CliError::Printer {
                lane: l.name.clone(),
                printer: spec.to_string(),
                reason: format!("the card face cannot be rendered: {e}; install {FONT_PACKAGES}"),
            });
        }
    };
    let driver: Box<dyn ecard_print::Printer> = match (&spec, vault) {
        // Spooled faces are personal data at rest: sealed by the station's vault, each bound to
        // its file name (`ecard station unseal` opens one).
        (ecard_print::PrinterSpec::Spool { dir }, Some(vault)) => {
            let vault = vault.clone();
            Box::new(ecard_print::spool::SpoolPrinter::sealed(
                dir.clone(),
                Arc::new(move |name: &str, bytes: &[u8]| {
                    vault
                        .seal(&spool_context(name), bytes)
                        .map_err(|e| e.to_string())
                }),
            ))
        }
        _ => spec.open().map_err(|e| CliError::Printer {
            lane: l.name.clone(),
            printer: spec.to_string(),
            reason: e.to_string(),
        })?,
    };
    if matches!(l.printer, PrinterChoice::SpoolIfFonts(_)) {
        notes.push(format!("lane {}: printing card faces to {spec}", l.name));
    }
    Ok(Box::new(FacePrinter::new(
        driver,
        fonts,
        pki.clone(),
        output_dir,
    )))
}

/// Opens the store, loads (or makes) the PKI, sets up tokens (generating an admin token into
/// `DATA_DIR/admin.token`, mode 0600, when the config names no admin) and builds the lanes.
pub fn assemble(config: &StationConfig) -> Result<Assembled, CliError> {
    // Created 0700 when new; refused when others can read it (ECARD.md section 12).
    crate::private::check_private_dir(&config.data_dir).map_err(CliError::Unsupported)?;
    let mut notes = Vec::new();
    let removed = crate::cleanup::remove_interrupted_writes(&config.data_dir);
    if !removed.is_empty() {
        tracing::info!(
            count = removed.len(),
            "removed card images a crash left half-written"
        );
        notes.push(format!(
            "removed {} temporary card image(s) a crash left behind (the cards themselves are untouched)",
            removed.len()
        ));
    }
    let store = open_store(&config.store)?;
    store.ensure_series_from(config.settings.series, config.settings.first_number)?;
    let pki = Arc::new(match &config.pki {
        Some(p) => Pki::load(&p.csca, &p.ds_cert, &p.ds_key)?,
        None => Pki::demo(&config.data_dir.join("pki"))?,
    });
    let mut notes = Vec::new();
    let ds_key = pki.signing().ds_key.clone();
    if ds_key.insecure() {
        match &config.pki {
            Some(p) if !config.allow_file_keys => {
                return Err(PkiLoadError::FileKeyRefused {
                    path: p.ds_key.clone(),
                }
                .into());
            }
            Some(_) => notes.push(format!("warning: signing with a {}", ds_key.describe())),
            None => tracing::warn!("demo PKI: signing with a {}", ds_key.describe()),
        }
    }
    let test = pki
        .self_test(time::OffsetDateTime::now_utc())
        .map_err(PkiLoadError::from)?;
    if test.ds_ends_soon() {
        let days = test.ds_days_left.unwrap_or(0);
        tracing::warn!(days_left = days, "Document Signer signing period ends soon");
        notes.push(format!(
            "warning: the Document Signer may sign for {days} more day(s); issue the next with `ecard pki rotate-ds`"
        ));
    }
    // After the signer's checks: the data key sits beside the signing keys.
    let vault = data_vault(config, &pki, &mut notes)?;
    // The station appends to its own audit chain: stations sharing a database never wait on
    // each other's audit appends.
    let store = Arc::new(
        store
            .with_vault(vault)
            .for_station(&config.settings.station_id),
    );
    seal_store(&store, &mut notes)?;
    let mut auth = Auth::new(config.tokens.clone());
    let mut admin_token_file = None;
    if !config.tokens.iter().any(|t| t.role == Role::Admin) {
        // The admin token of a data folder is kept across starts (`ecard station token rotate`
        // makes a new one); only its hash is held in memory.
        let path = config.data_dir.join("admin.token");
        let token = match read_admin_token(&path) {
            Some(t) => t,
            None => write_admin_token(&path)?,
        };
        auth.add_token("admin", Role::Admin, &token);
        admin_token_file = Some(path);
    }
    // The blanks' SCP03 transport keys (ECARD.md section 11): the configured KMC, else the
    // GlobalPlatform test key, which a configured station takes only when told so.
    let transport_keys: Arc<dyn ecard_chip::scp03::TransportKeys> =
        match (&config.kmc_label, &config.kmc_file) {
            (Some(label), _) => {
                // The KMC in the PKI's token: the folder of its pki.toml.
                let dir = config
                    .pki
                    .as_ref()
                    .and_then(|p| p.ds_key.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| config.data_dir.join("pki"));
                let (_, token) = ecard_pkcs11::open_folder(&dir, None)
                    .map_err(|e| CliError::Unsupported(format!("kmc_label = {label:?}: {e}")))?;
                Arc::new(token.kmc(label).map_err(|e| {
                    CliError::Unsupported(format!(
                        "kmc_label = {label:?}: {e}; import it with `ecard pki import-kmc`"
                    ))
                })?)
            }
            (None, Some(p)) => {
                Arc::new(crate::chip::load_kmc_file(p).map_err(CliError::Unsupported)?)
            }
            (None, None) => Arc::new(ecard_chip::scp03::KmcKeys::test_key()),
        };
    if config.lanes.iter().any(|l| l.profile.transport.scp03) && transport_keys.is_test_key() {
        if !config.test_transport_key {
            return Err(CliError::Unsupported(
                "the blanks' transport keys would be the GlobalPlatform test key: set kmc_file = \"FILE\" (the KMC in hex, mode 0600) in the configuration, or test_transport_key = true for demos and tests".into(),
            ));
        }
        tracing::warn!(
            "blanks' transport keys: the GlobalPlatform test key (test_transport_key = true)"
        );
        notes.push(
            "warning: blanks' transport keys are the GlobalPlatform test key (test_transport_key = true): demos and tests only".into(),
        );
    }
    let mut fonts = None;
    let mut lanes = Vec::new();
    for l in &config.lanes {
        let printer = lane_printer(l, config, &pki, &mut fonts, store.vault(), &mut notes)?;
        lanes.push(Lane {
            name: l.name.clone(),
            encoder: Box::new(
                ChipEncoder::new(
                    &l.name,
                    l.source.clone(),
                    l.profile.clone(),
                    pki.clone(),
                    &config.data_dir,
                )
                .with_real_time(l.real_time)
                .with_qa(store.clone(), config.qa.clone())
                .with_transport_keys(transport_keys.clone())
                .with_stock(store.clone(), &config.settings.station_id),
            ),
            printer,
        });
    }
    let station = Station::new(store, config.settings.clone(), auth);
    station.publish_status_list(pki);
    Ok(Assembled {
        station,
        lanes,
        admin_token_file,
        notes,
    })
}

/// The vault of personal data at rest (ECARD.md section 12): the KEK in the PKI's token (made
/// there on first use), or a 0600 key file for development.
fn data_vault(
    config: &StationConfig,
    pki: &Pki,
    notes: &mut Vec<String>,
) -> Result<crate::vault::Vault, CliError> {
    use crate::vault::{DEFAULT_KEK_LABEL, FileKek, KekSource, TokenKek, Vault};
    let source = config
        .data_key
        .clone()
        .unwrap_or_else(|| match pki.token() {
            Some(_) => KekSource::Token {
                label: DEFAULT_KEK_LABEL.into(),
            },
            None => KekSource::File(config.data_dir.join("data.key")),
        });
    let refused = |e: String| CliError::Unsupported(e);
    match source {
        KekSource::Token { label } => {
            let token = pki.token().ok_or_else(|| {
                refused(format!(
                    "data_key_label = {label:?}: the PKI's keys are not in a token; configure [pki] ds_key = \"DIR/pki.toml\" (`ecard pki init --pkcs11-module ...`)"
                ))
            })?;
            let key = match token.data_key(&label) {
                Ok(k) => k,
                Err(ecard_pkcs11::Pkcs11Error::NoKey { .. }) => {
                    let k = token
                        .generate_data_key(&label)
                        .map_err(|e| refused(format!("data key {label:?}: {e}")))?;
                    let line = format!(
                        "made the key that encrypts personal data at rest: {label:?} in token {:?}",
                        token.label()
                    );
                    tracing::info!("{line}");
                    notes.push(line);
                    k
                }
                Err(e) => return Err(refused(format!("data key {label:?}: {e}"))),
            };
            let mac = token
                .mac_key(&crate::vault::pseudonym_label(&label))
                .map_err(|e| refused(format!("data key {label:?}: {e}")))?;
            Ok(Vault::new(Arc::new(TokenKek::new(key, mac))))
        }
        KekSource::File(path) => {
            if config.pki.is_some() && !config.allow_file_keys {
                return Err(refused(format!(
                    "data_key_file = {:?}: a key file is insecure; use data_key_label (a key in the token) or set allow_file_keys = true for development",
                    path.display()
                )));
            }
            let kek = if path.exists() {
                FileKek::load(&path)
            } else {
                FileKek::create(&path)
            }
            .map_err(|e| refused(e.to_string()))?;
            let line = format!(
                "warning: personal data at rest is encrypted with a key file, {} (insecure, development only)",
                path.display()
            );
            tracing::warn!("{line}");
            notes.push(line);
            Ok(Vault::new(Arc::new(kek)))
        }
    }
}

/// The associated data of a sealed spool file: its name.
fn spool_context(name: &str) -> String {
    format!("print-spool/{name}")
}

/// The clear bytes of a sealed print-spool file (`<name>.sealed`), opened with `vault`.
pub fn open_spool_file(vault: &crate::vault::Vault, file: &Path) -> Result<Vec<u8>, CliError> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let sealed = std::fs::read(file).map_err(io(format!("reading {}", file.display())))?;
    vault
        .open(&spool_context(name), &sealed)
        .map_err(|e| CliError::Unsupported(format!("{}: {e}", file.display())))
}

/// Reads the statistics of the console's default period (the twelve months to this one), so
/// the store keeps its months' rows and pattern: the first query after a start is then as fast
/// as any other. A failure only means the first query reads them itself.
fn warm_statistics(store: &Store) {
    let today = ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc());
    let (y, m) = (today.year(), i32::from(u8::from(today.month())));
    let back = y * 12 + (m - 1) - 11;
    let from = format!("{:04}-{:02}", back.div_euclid(12), back.rem_euclid(12) + 1);
    let to = format!("{y:04}-{m:02}");
    let started = std::time::Instant::now();
    let warmed = crate::stats::Request::parse(Some(&from), Some(&to), Some("nationality"), None)
        .map_err(|e| e.to_string())
        .and_then(|req| store.statistics(&req).map_err(|e| e.to_string()));
    match warmed {
        Ok(_) => tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "statistics of {from}..{to} read ahead"
        ),
        Err(e) => tracing::warn!("statistics not read ahead: {e}"),
    }
}

/// The clear bytes of the spool file `name` in `spool`: its sealed form opened with `vault`, or
/// the file itself where a printer spooled in clear; `None` when neither is there.
pub fn read_spool_file(
    vault: Option<&crate::vault::Vault>,
    spool: &Path,
    name: &str,
) -> Result<Option<Vec<u8>>, CliError> {
    let sealed = spool.join(format!("{name}{}", ecard_print::spool::SEALED_SUFFIX));
    let clear = spool.join(name);
    match vault {
        Some(v) if sealed.is_file() => open_spool_file(v, &sealed).map(Some),
        _ if clear.is_file() => std::fs::read(&clear)
            .map(Some)
            .map_err(io(format!("reading {}", clear.display()))),
        _ => Ok(None),
    }
}

/// `ecard station unseal`: opens a sealed spool file with the station's data key.
fn unseal(config: &StationConfig, file: &Path, out: &Path) -> Result<(), CliError> {
    if !config.data_dir.is_dir() {
        return Err(CliError::Unsupported(format!(
            "{}: no station data folder there; pass the station's --data-dir or --config",
            config.data_dir.display()
        )));
    }
    let pki = match &config.pki {
        Some(p) => Pki::load(&p.csca, &p.ds_cert, &p.ds_key)?,
        None => {
            crate::chip::reexec_for_folder_token(&config.data_dir.join("pki"))?;
            Pki::demo(&config.data_dir.join("pki"))?
        }
    };
    let vault = data_vault(config, &pki, &mut Vec::new())?;
    file.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.ends_with(ecard_print::spool::SEALED_SUFFIX))
        .ok_or_else(|| {
            CliError::Unsupported(format!(
                "{}: not a sealed spool file (its name ends in {})",
                file.display(),
                ecard_print::spool::SEALED_SUFFIX
            ))
        })?;
    let plain = open_spool_file(&vault, file)?;
    crate::private::create_private_file(out, &plain).map_err(io(format!(
        "writing {} (it must not exist yet)",
        out.display()
    )))?;
    Ok(())
}

/// Checks that the store's sealed values open with this station's key (stations sharing a
/// database must share the data key), and seals what an older release left in clear.
fn seal_store(store: &Store, notes: &mut Vec<String>) -> Result<(), CliError> {
    store.check_vault()?;
    let sealed = store.seal_clear_rows()?;
    if sealed > 0 {
        let line =
            format!("sealed or keyed {sealed} value(s) an earlier release had stored in clear");
        tracing::info!("{line}");
        notes.push(line);
    }
    Ok(())
}

fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let mut config = resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    if config.pki.is_none() {
        crate::chip::reexec_for_folder_token(&config.data_dir.join("pki"))?;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => {
            crate::tls::check_plain_http(config.listen)?;
            None
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let Assembled {
        station,
        lanes,
        admin_token_file,
        notes,
    } = assemble(&config)?;
    // One running daemon per station id: refused here, before any lane takes a lease.
    let lease = station.settings().lease;
    let guard = crate::station_id::claim(
        station.store().clone(),
        &station.settings().station_id,
        lease,
    )
    .map_err(|e| CliError::Unsupported(e.to_string()))?;
    // Cards a dead run left in lane slots, whose jobs no lane of this station owns any more.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match crate::cleanup::sweep_orphan_cards(
        station.store(),
        &config.data_dir,
        &station.settings().station_id,
        now_ms,
    ) {
        Ok(cards) if !cards.is_empty() => println!(
            "{} card(s) left in lane slots belong to no live job; moved to {}: destroy them (GET /api/v1/cards/to-destroy lists them)",
            cards.len(),
            config.data_dir.join("to-destroy").display()
        ),
        Ok(_) => {}
        Err(e) => tracing::error!("cannot sweep the lane slots: {e}"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    let released = guard.clone();
    let served = rt.block_on(async move {
        let _heartbeat = guard.spawn_heartbeat(lease);
        // Retention: purge personal data past its period at start and every hour.
        let purger = {
            let (store, dir, days) = (
                station.store().clone(),
                config.data_dir.clone(),
                station.settings().retention_days,
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
                loop {
                    tick.tick().await;
                    let (store, dir) = (store.clone(), dir.clone());
                    let done = tokio::task::spawn_blocking(move || {
                        crate::cleanup::purge_personal_data(&store, &dir, days, "station:retention")
                    })
                    .await;
                    match done {
                        Ok(Ok((0, 0))) => {}
                        Ok(Ok((jobs, files))) => {
                            tracing::info!(jobs, files, "personal data past {days} days purged")
                        }
                        Ok(Err(e)) => tracing::error!("retention purge failed: {e}"),
                        Err(_) => {}
                    }
                }
            })
        };
        // The statistics page's default period (the last twelve months), read once now, so
        // that an analyst's first query finds its months' rows kept (ECARD.md section 13).
        {
            let store = station.store().clone();
            tokio::task::spawn_blocking(move || warm_statistics(&store));
        }
        let shutdown = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("listening on {}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(io("reading the listen address"))?;
        if let Some(path) = &admin_token_file {
            println!("admin token: {}", path.display());
        }
        for note in &notes {
            println!("{note}");
        }
        println!(
            "ecard station {} listening on {scheme}://{addr}/api/v1 ({} store, {} lanes)",
            station.settings().station_id,
            station.store().kind(),
            lanes.len()
        );
        let served = crate::server::run_with_tls(station, lanes, listener, tls, shutdown)
            .await
            .map_err(io("serving HTTP"));
        purger.abort();
        served
    });
    released.release();
    served
}

/// The admin token in `path`, when the file is there, private (0600) and holds a token.
fn read_admin_token(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by others (mode {:o}); a new admin token replaces it",
                path.display(),
                mode & 0o777
            );
            return None;
        }
    }
    let token = std::fs::read_to_string(path).ok()?.trim().to_string();
    (token.len() >= 32
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(token)
}

/// Writes a new admin token to `path` (0600) and returns it.
fn write_admin_token(path: &Path) -> Result<String, CliError> {
    let token = new_token();
    write_private(path, format!("{token}\n").as_bytes())
        .map_err(io(format!("writing {}", path.display())))?;
    Ok(token)
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a SIGTERM right after the "listening" line still stops the daemon cleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).ok()
    };
    async move {
        #[cfg(unix)]
        {
            if let Some(mut term) = term {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
