//! The station's TOML configuration, and the embedded defaults used without one.
//!
//! Parsing is strict (`deny_unknown_fields`); every error names the file, the key
//! (`lanes[1].encoder`) and the problem. Tokens appear only as SHA-256 hashes. This module reads
//! the config file and firmware profile files, and writes nothing but [`write_private`]'s files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ecard_chip::profile::Profile;
use serde::Deserialize;

use crate::auth::{Role, TokenEntry};
use crate::chip::CardSource;
use crate::server::Settings;

/// A configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        reason: String,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("config {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (with line, column and key).
        message: String,
    },
    /// A key's value is not acceptable.
    #[error("config {file}: {key}: {problem}")]
    Value {
        /// The file.
        file: String,
        /// The key, e.g. `lanes[1].encoder`.
        key: String,
        /// What is wrong and what is expected.
        problem: String,
    },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    station_id: Option<String>,
    data_dir: Option<PathBuf>,
    series: Option<u8>,
    max_attempts: Option<i64>,
    lease_seconds: Option<u64>,
    body_limit_bytes: Option<usize>,
    retention_days: Option<u32>,
    store: Option<RawStore>,
    pki: Option<RawPki>,
    allow_file_keys: Option<bool>,
    kmc_file: Option<PathBuf>,
    kmc_label: Option<String>,
    data_key_label: Option<String>,
    data_key_file: Option<PathBuf>,
    test_transport_key: Option<bool>,
    #[serde(default)]
    lanes: Vec<RawLane>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    qa: Option<crate::qa::sampling::RawQa>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
    postgres_schema: Option<String>,
    postgres_pool: Option<u32>,
    postgres_pool_wait_ms: Option<u64>,
    postgres_statement_timeout_ms: Option<u64>,
    postgres_sslmode: Option<String>,
    postgres_ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPki {
    csca: PathBuf,
    ds_cert: PathBuf,
    ds_key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLane {
    name: String,
    encoder: String,
    #[serde(default)]
    make_blanks: bool,
    #[serde(default)]
    real_time: bool,
    profile: Option<String>,
    printer: Option<String>,
    print_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    role: Role,
    sha256: String,
}

/// Where the queue lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreConfig {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by several stations.
    Postgres {
        /// Connection URL.
        url: String,
        /// Schema holding the tables.
        schema: String,
        /// Pool, waits and timeouts.
        options: crate::store::PgOptions,
    },
}

/// PKI files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiPaths {
    /// CSCA certificate(s), PEM.
    pub csca: PathBuf,
    /// DS certificate.
    pub ds_cert: PathBuf,
    /// DS private key: a token folder's `pki.toml`, or (insecure) a PKCS#8 PEM file.
    pub ds_key: PathBuf,
}

/// One lane.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    /// Unique name.
    pub name: String,
    /// Where blanks come from.
    pub source: CardSource,
    /// The card OS profile.
    pub profile: Profile,
    /// Which printer the lane prints with.
    pub printer: PrinterChoice,
    /// Simulated printer time per card (`printer = "sim"`).
    pub print_time: Duration,
    /// Simulated cards take their timing model's time while written.
    pub real_time: bool,
}

/// Which printer a lane prints with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrinterChoice {
    /// `printer = "sim"`: takes `print_ms` and renders nothing.
    Sim,
    /// `printer = "spool:<dir>"` or `"ipp:<uri>"`: the face is rendered and printed through the
    /// driver; the station will not start without the face fonts.
    Driver(ecard_print::PrinterSpec),
    /// The embedded default: spool into this folder when the face fonts load, else `Sim` (the
    /// start-up output says which).
    SpoolIfFonts(PathBuf),
}

/// A resolved configuration.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Data folder (SQLite file, admin token, demo PKI, cards).
    pub data_dir: PathBuf,
    /// Station settings.
    pub settings: Settings,
    /// The store.
    pub store: StoreConfig,
    /// PKI files; `None` uses the demo PKI under `DATA_DIR/pki`.
    pub pki: Option<PkiPaths>,
    /// `allow_file_keys = true`: a configured `[pki]` may sign with a PEM key file (insecure,
    /// development only); otherwise `station serve` refuses it and wants a token's `pki.toml`.
    pub allow_file_keys: bool,
    /// `kmc_file = "FILE"`: the issuer's master key of the blanks' SCP03 transport keys, hex in a
    /// 0600 file (ECARD.md section 11). Without it the GlobalPlatform test key is used, which a
    /// configured station refuses unless `test_transport_key = true`.
    pub kmc_file: Option<PathBuf>,
    /// `kmc_label = "LABEL"`: the KMC is the AES key with this label in the PKI's token
    /// (`ecard pki import-kmc`); the card keys are derived inside the token.
    pub kmc_label: Option<String>,
    /// Where the key-encryption key of personal data at rest comes from (ECARD.md section 12):
    /// `data_key_label = "LABEL"`, an AES-256 key in the PKI's token (made there on first use),
    /// or `data_key_file = "FILE"`, a 0600 key file (development; needs allow_file_keys).
    /// Neither: the token's `ecard-data-kek` when the PKI is in a token, else
    /// `DATA_DIR/data.key` (insecure, file-key PKIs only).
    pub data_key: Option<crate::vault::KekSource>,
    /// `test_transport_key = true`: blanks made with the GlobalPlatform test key are accepted
    /// (demos and tests only). The embedded defaults (no configuration file) allow it: their
    /// simulated lanes make their own blanks.
    pub test_transport_key: bool,
    /// Lanes.
    pub lanes: Vec<LaneConfig>,
    /// Known tokens (hashes).
    pub tokens: Vec<TokenEntry>,
    /// Which issued cards QA must inspect (`[qa]`).
    pub qa: crate::qa::sampling::SamplingPlan,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl StationConfig {
    /// The embedded defaults: SQLite under `data_dir`, two simulated lanes making their own
    /// blanks with no artificial delay, the demo PKI, no tokens (the caller adds the admin token).
    pub fn defaults(data_dir: &Path) -> StationConfig {
        let lane = |n: usize| LaneConfig {
            name: format!("lane-{n}"),
            source: CardSource::Sim {
                blanks: data_dir.join("blanks").join(format!("lane-{n}")),
                make_blanks: true,
            },
            profile: builtin_sim_profile(),
            printer: PrinterChoice::SpoolIfFonts(data_dir.join("print-spool")),
            print_time: Duration::ZERO,
            real_time: false,
        };
        StationConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: data_dir.to_owned(),
            settings: Settings::default(),
            store: StoreConfig::Sqlite(data_dir.join("station.db")),
            pki: None,
            allow_file_keys: false,
            kmc_file: None,
            kmc_label: None,
            data_key: None,
            test_transport_key: true,
            lanes: vec![lane(1), lane(2)],
            tokens: Vec::new(),
            qa: crate::qa::sampling::SamplingPlan::default(),
        }
    }

    /// Reads a config file; `data_dir` (from the command line) overrides the file's.
    pub fn load(file: &Path, data_dir: Option<&Path>) -> Result<StationConfig, ConfigError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Read {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        StationConfig::parse(&text, &name, base, data_dir)
    }

    /// Parses config text; relative paths are relative to `base` (the config file's folder).
    pub fn parse(
        text: &str,
        file: &str,
        base: &Path,
        data_dir: Option<&Path>,
    ) -> Result<StationConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let value = |key: &str, problem: String| ConfigError::Value {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let data_dir = match (data_dir, &raw.data_dir) {
            (Some(d), _) => d.to_owned(),
            (None, Some(d)) => rel(d),
            (None, None) => PathBuf::from("ecard-data"),
        };
        let mut c = StationConfig::defaults(&data_dir);
        if let Some(l) = &raw.listen {
            c.listen = l.parse().map_err(|e| {
                value(
                    "listen",
                    format!("{l:?} is not an address like \"127.0.0.1:8080\": {e}"),
                )
            })?;
        }
        if let Some(id) = raw.station_id {
            if id.is_empty() || id.len() > 64 || id.contains('/') {
                return Err(value(
                    "station_id",
                    format!("{id:?} must be 1-64 characters without '/'"),
                ));
            }
            c.settings.station_id = id;
        }
        if let Some(s) = raw.series {
            if s > 99 {
                return Err(value(
                    "series",
                    format!("{s} is over 99; a series is 2 digits"),
                ));
            }
            c.settings.series = s;
        }
        if let Some(m) = raw.max_attempts {
            if !(1..=100).contains(&m) {
                return Err(value("max_attempts", format!("{m} must be from 1 to 100")));
            }
            c.settings.max_attempts = m;
        }
        if let Some(l) = raw.lease_seconds {
            if !(3..=3600).contains(&l) {
                return Err(value(
                    "lease_seconds",
                    format!("{l} must be from 3 to 3600"),
                ));
            }
            c.settings.lease = Duration::from_secs(l);
        }
        if let Some(d) = raw.retention_days {
            if !(1..=3650).contains(&d) {
                return Err(value(
                    "retention_days",
                    format!("{d} must be from 1 to 3650"),
                ));
            }
            c.settings.retention_days = d;
        }
        if let Some(b) = raw.body_limit_bytes {
            if b < 1024 {
                return Err(value("body_limit_bytes", format!("{b} is under 1024")));
            }
            c.settings.body_limit = b;
        }
        // The pool's default size follows the lanes, known only once they are read.
        let mut pool_size = None;
        if let Some(s) = raw.store {
            let pg_keys = [
                ("postgres_schema", s.postgres_schema.is_some()),
                ("postgres_pool", s.postgres_pool.is_some()),
                ("postgres_pool_wait_ms", s.postgres_pool_wait_ms.is_some()),
                (
                    "postgres_statement_timeout_ms",
                    s.postgres_statement_timeout_ms.is_some(),
                ),
                ("postgres_sslmode", s.postgres_sslmode.is_some()),
                ("postgres_ca_file", s.postgres_ca_file.is_some()),
            ];
            c.store = match (s.sqlite, s.postgres) {
                (Some(_), Some(_)) => {
                    return Err(value(
                        "store",
                        "names both sqlite and postgres; choose one".into(),
                    ));
                }
                (Some(p), None) => {
                    if let Some((key, _)) = pg_keys.iter().find(|(_, set)| *set) {
                        return Err(value(
                            &format!("store.{key}"),
                            "applies to postgres = \"URL\" only, not to a sqlite store".into(),
                        ));
                    }
                    StoreConfig::Sqlite(rel(&p))
                }
                (None, Some(url)) => {
                    let mut options = crate::store::PgOptions::default();
                    if let Some(n) = s.postgres_pool {
                        if !(1..=1000).contains(&n) {
                            return Err(value(
                                "store.postgres_pool",
                                format!("{n} must be from 1 to 1000 connections"),
                            ));
                        }
                        pool_size = Some(n);
                    }
                    if let Some(ms) = s.postgres_pool_wait_ms {
                        if !(1..=600_000).contains(&ms) {
                            return Err(value(
                                "store.postgres_pool_wait_ms",
                                format!("{ms} must be from 1 to 600000 (10 minutes)"),
                            ));
                        }
                        options.pool_wait = Duration::from_millis(ms);
                    }
                    if let Some(ms) = s.postgres_statement_timeout_ms {
                        if !(100..=3_600_000).contains(&ms) {
                            return Err(value(
                                "store.postgres_statement_timeout_ms",
                                format!("{ms} must be from 100 to 3600000 (an hour)"),
                            ));
                        }
                        options.statement_timeout = Duration::from_millis(ms);
                    }
                    use crate::store::PgSslMode;
                    if let Some(mode) = &s.postgres_sslmode {
                        options.ssl_mode = PgSslMode::parse(mode).ok_or_else(|| {
                            value(
                                "store.postgres_sslmode",
                                format!(
                                    "{mode:?} must be \"disable\", \"require\" or \"verify-full\""
                                ),
                            )
                        })?;
                    }
                    options.ca_file = s.postgres_ca_file.as_deref().map(rel);
                    match (options.ssl_mode, &options.ca_file) {
                        (PgSslMode::VerifyFull, None) => {
                            return Err(value(
                                "store.postgres_ca_file",
                                "is needed with postgres_sslmode = \"verify-full\": the PEM file of the CA that issued the server's certificate".into(),
                            ));
                        }
                        (PgSslMode::Disable | PgSslMode::Require, Some(_)) => {
                            return Err(value(
                                "store.postgres_ca_file",
                                format!(
                                    "applies to postgres_sslmode = \"verify-full\" only, not {:?}",
                                    options.ssl_mode.as_str()
                                ),
                            ));
                        }
                        _ => {}
                    }
                    StoreConfig::Postgres {
                        url,
                        schema: s.postgres_schema.unwrap_or_else(|| "ecard".into()),
                        options,
                    }
                }
                (None, None) => {
                    return Err(value(
                        "store",
                        "needs sqlite = \"FILE\" or postgres = \"URL\"".into(),
                    ));
                }
            };
        }
        if let Some(q) = raw.qa {
            c.qa = q.resolve().map_err(|(k, p)| value(&k, p))?;
        }
        c.allow_file_keys = raw.allow_file_keys.unwrap_or(false);
        c.kmc_file = raw.kmc_file.map(|p| rel(&p));
        c.kmc_label = raw.kmc_label;
        c.data_key = match (raw.data_key_label, raw.data_key_file) {
            (Some(_), Some(_)) => {
                return Err(value(
                    "data_key_file",
                    "data_key_label and data_key_file are both set; choose one".into(),
                ));
            }
            (Some(label), None) if label.is_empty() => {
                return Err(value("data_key_label", "is empty".into()));
            }
            (Some(label), None) => Some(crate::vault::KekSource::Token { label }),
            (None, Some(f)) => Some(crate::vault::KekSource::File(rel(&f))),
            (None, None) => None,
        };
        c.test_transport_key = raw.test_transport_key.unwrap_or(false);
        c.pki = raw.pki.map(|p| PkiPaths {
            csca: rel(&p.csca),
            ds_cert: rel(&p.ds_cert),
            ds_key: rel(&p.ds_key),
        });
        if !raw.lanes.is_empty() {
            c.lanes.clear();
        }
        for (i, l) in raw.lanes.into_iter().enumerate() {
            let key = |k: &str| format!("lanes[{i}].{k}");
            if l.name.is_empty() || l.name.contains('/') || l.name.contains(['\\', '.']) {
                return Err(value(
                    &key("name"),
                    format!("{:?} must be non-empty, without '/', '\\\\' or '.'", l.name),
                ));
            }
            if c.lanes.iter().any(|x| x.name == l.name) {
                return Err(value(
                    &key("name"),
                    format!("{:?} is used by another lane", l.name),
                ));
            }
            let source = if let Some(dir) = l.encoder.strip_prefix("sim:") {
                CardSource::Sim {
                    blanks: rel(Path::new(dir)),
                    make_blanks: l.make_blanks,
                }
            } else if let Some(reader) = l.encoder.strip_prefix("pcsc:") {
                CardSource::Pcsc {
                    reader: reader.to_string(),
                }
            } else {
                return Err(value(
                    &key("encoder"),
                    format!(
                        "{:?} must be \"sim:<folder of blank cards>\" or \"pcsc:<reader name>\"",
                        l.encoder
                    ),
                ));
            };
            let profile = match l.profile.as_deref() {
                None | Some("ecard-sim") => builtin_sim_profile(),
                Some(p) if p.ends_with(".toml") => {
                    let path = rel(Path::new(p));
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        value(
                            &key("profile"),
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                    Profile::from_toml(&text, &path.display().to_string())
                        .map_err(|e| value(&key("profile"), e.to_string()))?
                }
                Some(p) => {
                    Profile::builtin(p).map_err(|e| value(&key("profile"), e.to_string()))?
                }
            };
            let (printer, print_time) = match l.printer.as_deref() {
                None | Some("sim") => (
                    PrinterChoice::Sim,
                    Duration::from_millis(l.print_ms.unwrap_or(0)),
                ),
                Some(text) => match ecard_print::PrinterSpec::parse(text) {
                    Ok(ecard_print::PrinterSpec::Sim { per_card }) => (
                        PrinterChoice::Sim,
                        l.print_ms.map_or(per_card, Duration::from_millis),
                    ),
                    Ok(_) if l.print_ms.is_some() => {
                        return Err(value(
                            &key("print_ms"),
                            format!("applies to printer = \"sim\" only, not {text:?}"),
                        ));
                    }
                    Ok(ecard_print::PrinterSpec::Spool { dir }) => (
                        PrinterChoice::Driver(ecard_print::PrinterSpec::Spool { dir: rel(&dir) }),
                        Duration::ZERO,
                    ),
                    Ok(spec) => (PrinterChoice::Driver(spec), Duration::ZERO),
                    Err(e) => return Err(value(&key("printer"), e.to_string())),
                },
            };
            c.lanes.push(LaneConfig {
                name: l.name,
                source,
                profile,
                printer,
                print_time,
                real_time: l.real_time,
            });
        }
        if let StoreConfig::Postgres { options, .. } = &mut c.store {
            options.pool =
                pool_size.unwrap_or(crate::store::PgOptions::for_lanes(c.lanes.len()).pool);
        }
        for (i, t) in raw.tokens.into_iter().enumerate() {
            let hash = hex::decode(&t.sha256)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    value(
                        &format!("tokens[{i}].sha256"),
                        "must be 64 hex digits: the SHA-256 of the token (`ecard station hash-token`)".into(),
                    )
                })?;
            c.tokens.push(TokenEntry {
                name: t.name,
                role: t.role,
                sha256: hash,
            });
        }
        Ok(c)
    }
}

fn builtin_sim_profile() -> Profile {
    // The embedded ecard-sim profile parses: ecard-chip's profile tests load every builtin.
    Profile::builtin("ecard-sim").unwrap_or_else(|_| Profile::generic())
}

/// Writes a file readable by its owner only (mode 0600 on Unix), replacing any previous one.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StationConfig, ConfigError> {
        StationConfig::parse(text, "station.toml", Path::new("/etc/ecard"), None)
    }

    #[test]
    fn full_config() {
        let c = parse(&format!(
            r#"
listen = "0.0.0.0:9000"
station_id = "mmc-2"
series = 78
max_attempts = 5
lease_seconds = 10
[store]
postgres = "postgres://postgres@127.0.0.1/test"
[pki]
csca = "pki/csca.pem"
ds_cert = "/keys/ds.pem"
ds_key = "/keys/ds.key"
[[lanes]]
name = "a"
encoder = "sim:blanks"
real_time = true
print_ms = 150
[[lanes]]
name = "b"
encoder = "pcsc:ACS ACR39U 00 00"
profile = "generic-iso7816"
[[tokens]]
name = "intake-1"
role = "intake"
sha256 = "{}"
"#,
            crate::auth::hash_token("secret")
        ))
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.settings.station_id, "mmc-2");
        assert_eq!((c.settings.series, c.settings.max_attempts), (78, 5));
        assert_eq!(c.settings.lease, Duration::from_secs(10));
        assert_eq!(
            c.store,
            StoreConfig::Postgres {
                url: "postgres://postgres@127.0.0.1/test".into(),
                schema: "ecard".into(),
                options: crate::store::PgOptions::for_lanes(2),
            }
        );
        match &c.store {
            StoreConfig::Postgres { options, .. } => assert_eq!(
                (options.pool, options.pool_wait, options.statement_timeout),
                (8, Duration::from_secs(3), Duration::from_secs(10)),
                "two lanes: 2 * 2 + 4 connections"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.pki.unwrap().csca,
            PathBuf::from("/etc/ecard/pki/csca.pem")
        );
        assert_eq!(c.lanes.len(), 2);
        assert_eq!(
            c.lanes[0].source,
            CardSource::Sim {
                blanks: "/etc/ecard/blanks".into(),
                make_blanks: false
            }
        );
        assert_eq!(c.lanes[0].print_time, Duration::from_millis(150));
        assert!(c.lanes[0].real_time && !c.lanes[1].real_time);
        assert_eq!(
            c.lanes[1].source,
            CardSource::Pcsc {
                reader: "ACS ACR39U 00 00".into()
            }
        );
        assert_eq!(c.tokens[0].role, Role::Intake);
        assert_eq!(c.data_dir, PathBuf::from("ecard-data"));
    }

    #[test]
    fn postgres_pool_and_tls_keys() {
        let c = parse(
            "[store]\npostgres = \"host=db\"\npostgres_pool = 3\npostgres_pool_wait_ms = 500\npostgres_statement_timeout_ms = 2000\npostgres_sslmode = \"verify-full\"\npostgres_ca_file = \"pg-ca.pem\"\n",
        )
        .unwrap();
        let StoreConfig::Postgres { options, .. } = &c.store else {
            panic!("{:?}", c.store);
        };
        assert_eq!(options.pool, 3);
        assert_eq!(options.pool_wait, Duration::from_millis(500));
        assert_eq!(options.statement_timeout, Duration::from_secs(2));
        assert_eq!(options.ssl_mode, crate::store::PgSslMode::VerifyFull);
        assert_eq!(options.ca_file, Some(PathBuf::from("/etc/ecard/pg-ca.pem")));
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            err("[store]\npostgres = \"host=db\"\npostgres_sslmode = \"verify-full\"\n"),
            "config station.toml: store.postgres_ca_file: is needed with postgres_sslmode = \"verify-full\": the PEM file of the CA that issued the server's certificate"
        );
        assert_eq!(
            err("[store]\npostgres = \"host=db\"\npostgres_sslmode = \"prefer\"\n"),
            "config station.toml: store.postgres_sslmode: \"prefer\" must be \"disable\", \"require\" or \"verify-full\""
        );
        assert_eq!(
            err("[store]\nsqlite = \"s.db\"\npostgres_pool = 3\n"),
            "config station.toml: store.postgres_pool: applies to postgres = \"URL\" only, not to a sqlite store"
        );
        assert_eq!(
            err("[store]\npostgres = \"host=db\"\npostgres_pool = 0\n"),
            "config station.toml: store.postgres_pool: 0 must be from 1 to 1000 connections"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            err("[[lanes]]\nname = \"a\"\nencoder = \"usb:1\"\n"),
            "config station.toml: lanes[0].encoder: \"usb:1\" must be \"sim:<folder of blank cards>\" or \"pcsc:<reader name>\""
        );
        assert_eq!(
            err("series = 120\n"),
            "config station.toml: series: 120 is over 99; a series is 2 digits"
        );
        assert_eq!(
            err("[[tokens]]\nname = \"x\"\nrole = \"qa\"\nsha256 = \"abc\"\n"),
            "config station.toml: tokens[0].sha256: must be 64 hex digits: the SHA-256 of the token (`ecard station hash-token`)"
        );
        assert_eq!(
            err("[store]\n"),
            "config station.toml: store: needs sqlite = \"FILE\" or postgres = \"URL\""
        );
        assert_eq!(
            err("listen = \"nowhere\"\n"),
            "config station.toml: listen: \"nowhere\" is not an address like \"127.0.0.1:8080\": invalid socket address syntax"
        );
        let unknown = err("lisen = \"x\"\n");
        assert!(unknown.contains("unknown field `lisen`"), "{unknown}");
        assert!(unknown.contains("line 1"), "{unknown}");
        let role = err("[[tokens]]\nname = \"x\"\nrole = \"root\"\nsha256 = \"\"\n");
        assert!(role.contains("unknown variant `root`"), "{role}");
        let lane = err("[[lanes]]\nname = \"a\"\nencoder = \"sim:x\"\nprofile = \"nokia\"\n");
        assert!(
            lane.starts_with("config station.toml: lanes[0].profile: "),
            "{lane}"
        );
    }

    #[test]
    fn printer_key_picks_the_driver() {
        let lanes = |printer: &str| {
            parse(&format!(
                "[[lanes]]\nname = \"a\"\nencoder = \"sim:x\"\n{printer}"
            ))
        };
        let one = |printer: &str| {
            let c = lanes(printer).unwrap();
            (c.lanes[0].printer.clone(), c.lanes[0].print_time)
        };
        assert_eq!(one(""), (PrinterChoice::Sim, Duration::ZERO));
        assert_eq!(
            one("printer = \"sim\"\nprint_ms = 40\n"),
            (PrinterChoice::Sim, Duration::from_millis(40))
        );
        assert_eq!(
            one("printer = \"sim:2s\"\n"),
            (PrinterChoice::Sim, Duration::from_secs(2))
        );
        assert_eq!(
            one("printer = \"spool:out\"\n"),
            (
                PrinterChoice::Driver(ecard_print::PrinterSpec::Spool {
                    dir: "/etc/ecard/out".into()
                }),
                Duration::ZERO
            )
        );
        assert_eq!(
            one("printer = \"ipp://localhost:631/printers/card\"\n"),
            (
                PrinterChoice::Driver(ecard_print::PrinterSpec::Ipp {
                    uri: "ipp://localhost:631/printers/card".into()
                }),
                Duration::ZERO
            )
        );
        let err = |printer: &str| lanes(printer).unwrap_err().to_string();
        assert_eq!(
            err("printer = \"usb\"\n"),
            format!(
                "config station.toml: lanes[0].printer: {}",
                ecard_print::PrinterSpec::parse("usb").unwrap_err()
            )
        );
        assert!(
            err("printer = \"spool:\"\n")
                .starts_with("config station.toml: lanes[0].printer: printer \"spool:\": the spool folder is empty"),
            "{}",
            err("printer = \"spool:\"\n")
        );
        assert_eq!(
            err("printer = \"spool:out\"\nprint_ms = 5\n"),
            "config station.toml: lanes[0].print_ms: applies to printer = \"sim\" only, not \"spool:out\""
        );
    }

    #[test]
    fn defaults_spool_faces_when_fonts_allow() {
        let c = StationConfig::defaults(Path::new("d"));
        assert!(
            c.lanes
                .iter()
                .all(|l| l.printer == PrinterChoice::SpoolIfFonts(PathBuf::from("d/print-spool")))
        );
    }

    #[test]
    fn defaults_have_two_sim_lanes_and_sqlite() {
        let c = StationConfig::defaults(Path::new("d"));
        assert_eq!(c.store, StoreConfig::Sqlite("d/station.db".into()));
        assert_eq!(c.lanes.len(), 2);
        assert!(c.lanes.iter().all(|l| l.print_time.is_zero()));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }
}
