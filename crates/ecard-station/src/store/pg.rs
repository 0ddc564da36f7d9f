//! The PostgreSQL connections of one store: a pool per daemon, so that its requests read beside
//! its lanes' writes instead of queueing behind one client (a station's writes take turns through
//! [`PgPool::write_gate`], as its own audit chain would make them anyway), over plain TCP or
//! rustls.
//!
//! r2d2 keeps the connections; the manager here opens them (with the schema's search path and the
//! session's timeouts), and tells a lost one from a sound one without a round trip to the server.
//! A checkout waits at most [`PgOptions::pool_wait`]: then the caller gets
//! [`StoreError::Busy`] (every connection in use) or [`StoreError::Unreachable`] (the server is
//! gone), never a hang. While the server is known to be down, calls fail at once for a backoff
//! that doubles from 250 ms to 10 s, and r2d2 keeps reconnecting in the background; the first
//! connection that opens again ends the outage. TLS ([`PgSslMode`]) is decided here, once per
//! store; a refused handshake names the server and the CA file. This module holds no queue rules
//! and no SQL but the session's settings.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::StoreError;
use super::backend::pg_err;

/// How a store uses PostgreSQL: the `postgres_*` keys of the `[store]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Connections in the pool (at most; one stays open while idle).
    pub pool: u32,
    /// How long a transaction waits for a free connection before [`StoreError::Busy`].
    pub pool_wait: Duration,
    /// The server cancels a statement that runs longer (`statement_timeout`).
    pub statement_timeout: Duration,
    /// TLS to the server (`postgres_sslmode`).
    pub ssl_mode: PgSslMode,
    /// The CA certificates (PEM) that verify the server under [`PgSslMode::VerifyFull`]
    /// (`postgres_ca_file`).
    pub ca_file: Option<PathBuf>,
}

/// TLS to the PostgreSQL server, as libpq names the modes (the store's own setting: an
/// `sslmode` in the URL is overridden).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PgSslMode {
    /// Plain TCP: for a server on this host or a trusted network.
    #[default]
    Disable,
    /// Encrypted, the server's certificate not checked: protects against a listener, not
    /// against an impostor.
    Require,
    /// Encrypted, the server's certificate checked against `postgres_ca_file` and the host name
    /// of the URL.
    VerifyFull,
}

impl PgSslMode {
    /// `disable`, `require` or `verify-full`.
    pub fn parse(text: &str) -> Option<PgSslMode> {
        match text {
            "disable" => Some(PgSslMode::Disable),
            "require" => Some(PgSslMode::Require),
            "verify-full" => Some(PgSslMode::VerifyFull),
            _ => None,
        }
    }

    /// The name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Require => "require",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

impl Default for PgOptions {
    /// A pool for a store without lanes (a CLI command, a benchmark): 4 connections, a 3 s wait,
    /// a 10 s statement timeout.
    fn default() -> PgOptions {
        PgOptions::for_lanes(0)
    }
}

impl PgOptions {
    /// The defaults for a station with `lanes` lanes: two connections per lane (its claim and its
    /// heartbeat may overlap) and four for the API, recovery and the purge task.
    pub fn for_lanes(lanes: usize) -> PgOptions {
        PgOptions {
            pool: u32::try_from(lanes.saturating_mul(2).saturating_add(4)).unwrap_or(u32::MAX),
            pool_wait: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            ssl_mode: PgSslMode::Disable,
            ca_file: None,
        }
    }
}

/// Every session: the store's schema, and timeouts so that no statement or lock wait hangs a lane
/// or a request (an unresponsive server is an error after seconds, not a hang).
fn session_setup(schema: &str, options: &PgOptions) -> String {
    let statement = options.statement_timeout.as_millis().max(1);
    let lock = statement.min(10_000);
    format!(
        "SET search_path TO {schema}; SET statement_timeout = '{statement}ms'; SET lock_timeout = '{lock}ms'; SET idle_in_transaction_session_timeout = '60s';"
    )
}

/// The sync PostgreSQL client runs a small runtime of its own, which tokio refuses to start or
/// block on inside another runtime's worker, including when the client is closed on drop. The
/// station drops its store when `run` returns, inside its runtime: so closing happens on a
/// thread of its own there.
fn drop_client(client: postgres::Client) {
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::spawn(move || drop(client)).join();
    } else {
        drop(client);
    }
}

/// One pooled connection.
pub(crate) struct Conn {
    client: Option<postgres::Client>,
    /// The [`Health::generation`] it was opened in.
    generation: u64,
}

impl Conn {
    /// The client.
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client, StoreError> {
        self.client.as_mut().ok_or(StoreError::Poisoned)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop_client(client);
        }
    }
}

/// What the pool knows of the server.
#[derive(Debug)]
struct Health {
    /// Bumped when a connection is found lost: every connection opened before is retired too
    /// (after a server restart they are all dead, and the client only notices at its next use).
    generation: u64,
    /// Set while connecting fails.
    down: Option<Down>,
    /// The backoff of the next failed attempt.
    backoff: Duration,
}

#[derive(Debug)]
struct Down {
    /// Before this, calls fail at once.
    until: Instant,
    /// The last connection error.
    reason: String,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const LAST_BACKOFF: Duration = Duration::from_secs(10);

/// Opens connections for r2d2.
pub(crate) struct Manager {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// What a TLS failure names: mode, server and CA file.
    tls_context: String,
    setup: String,
    health: Arc<Mutex<Health>>,
}

fn lock(health: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    // Health is a few plain fields, consistent after any statement: a panic cannot tear it.
    health.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Manager {
    fn open(&self) -> Result<postgres::Client, StoreError> {
        let connected = match &self.tls {
            None => self.config.connect(postgres::NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        };
        let mut client = connected.map_err(|e| self.name_tls_failure(pg_err(e)))?;
        if let Err(e) = client.batch_execute(&self.setup) {
            drop_client(client);
            return Err(pg_err(e));
        }
        Ok(client)
    }

    /// A refusal that TLS explains gets the mode, the server and the CA file named, and a plain
    /// connection that the server refuses for want of encryption gets the key to set.
    fn name_tls_failure(&self, e: StoreError) -> StoreError {
        let StoreError::Database { store, reason } = e else {
            return e;
        };
        let tls_fault = reason.contains("TLS") || reason.contains("certificate");
        let reason = if self.tls.is_some() && tls_fault {
            format!("{reason} ({})", self.tls_context)
        } else if self.tls.is_none() && reason.contains("no encryption") {
            format!(
                "{reason}; the server accepts TLS connections only: set postgres_sslmode = \"verify-full\" and postgres_ca_file in [store]"
            )
        } else {
            reason
        };
        StoreError::Database { store, reason }
    }
}

/// The server named as a person would: `host:port`.
fn server_name(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The rustls connector for `options`, or `None` for plain TCP.
fn tls_connector(
    options: &PgOptions,
    server: &str,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, StoreError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let refuse = |reason: String| StoreError::Database {
        store: "postgresql",
        reason,
    };
    let builder = match options.ssl_mode {
        PgSslMode::Disable => return Ok(None),
        _ => rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| refuse(format!("TLS to {server}: {e}")))?,
    };
    let config = match options.ssl_mode {
        PgSslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        _ => {
            let Some(ca) = &options.ca_file else {
                return Err(refuse(format!(
                    "sslmode verify-full for {server} needs postgres_ca_file: the CA that issued the server's certificate"
                )));
            };
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .map_err(|e| refuse(format!("cannot read the CA file {}: {e}", ca.display())))?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| refuse(format!("the CA file {} is not PEM: {e}", ca.display())))?;
                roots.add(cert).map_err(|e| {
                    refuse(format!(
                        "the CA file {} holds a bad certificate: {e}",
                        ca.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(refuse(format!(
                    "the CA file {} holds no certificate",
                    ca.display()
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// `sslmode = require`: the channel is encrypted and the handshake's signatures are checked,
/// but any certificate is taken, as libpq does without a root certificate.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = StoreError;

    fn connect(&self) -> Result<Conn, StoreError> {
        let generation = lock(&self.health).generation;
        match self.open() {
            Ok(client) => {
                let mut h = lock(&self.health);
                if h.down.take().is_some() {
                    tracing::info!("reconnected to PostgreSQL");
                }
                h.backoff = FIRST_BACKOFF;
                Ok(Conn {
                    client: Some(client),
                    generation,
                })
            }
            Err(e) => {
                let e = match e {
                    StoreError::Database { store, reason } => {
                        StoreError::Unreachable { store, reason }
                    }
                    other => other,
                };
                let mut h = lock(&self.health);
                if h.down.is_none() {
                    tracing::warn!("cannot connect to PostgreSQL: {e}");
                }
                let backoff = h.backoff;
                h.down = Some(Down {
                    until: Instant::now() + backoff,
                    reason: e.to_string(),
                });
                h.backoff = (backoff * 2).min(LAST_BACKOFF);
                Err(e)
            }
        }
    }

    /// No round trip: a connection is sound unless it closed or was retired.
    fn is_valid(&self, conn: &mut Conn) -> Result<(), StoreError> {
        if self.has_broken(conn) {
            return Err(StoreError::Unreachable {
                store: "postgresql",
                reason: "connection closed".into(),
            });
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.as_ref().is_none_or(postgres::Client::is_closed)
            || conn.generation < lock(&self.health).generation
    }
}

/// The pool of one store.
pub(crate) struct PgPool {
    pool: r2d2::Pool<Manager>,
    options: PgOptions,
    health: Arc<Mutex<Health>>,
    write_gate: Mutex<()>,
}

impl PgPool {
    /// Connects once (so that a wrong URL, password or certificate is an error now, with the
    /// server's words), runs `first` on that connection (schema creation), then starts the pool.
    pub(crate) fn open(
        url: &str,
        schema: &str,
        options: &PgOptions,
        first: impl FnOnce(&mut postgres::Client) -> Result<(), StoreError>,
    ) -> Result<PgPool, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(pg_err)?;
        let server = server_name(&config);
        let tls = tls_connector(options, &server)?;
        config.ssl_mode(match options.ssl_mode {
            PgSslMode::Disable => postgres::config::SslMode::Disable,
            _ => postgres::config::SslMode::Require,
        });
        let tls_context = match (&options.ssl_mode, &options.ca_file) {
            (PgSslMode::VerifyFull, Some(ca)) => format!(
                "sslmode verify-full: the certificate of {server} was checked against the CA file {} and the host name",
                ca.display()
            ),
            (mode, _) => format!("sslmode {} to {server}", mode.as_str()),
        };
        let health = Arc::new(Mutex::new(Health {
            generation: 0,
            down: None,
            backoff: FIRST_BACKOFF,
        }));
        let manager = Manager {
            config,
            tls,
            tls_context,
            setup: session_setup(schema, options),
            health: health.clone(),
        };
        let mut conn = r2d2::ManageConnection::connect(&manager)?;
        first(conn.client()?)?;
        drop(conn);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.pool_wait.max(Duration::from_millis(1)))
            .test_on_check_out(true)
            // Connection errors are logged once per outage by the manager, not per attempt.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Ok(PgPool {
            pool,
            options: options.clone(),
            health,
            write_gate: Mutex::new(()),
        })
    }

    /// A connection, within the pool wait.
    pub(crate) fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        let down = |h: &Health| {
            h.down.as_ref().map(|d| StoreError::Unreachable {
                store: "postgresql",
                reason: d.reason.clone(),
            })
        };
        {
            let h = lock(&self.health);
            if let Some(d) = &h.down {
                let now = Instant::now();
                if now < d.until && self.pool.state().idle_connections == 0 {
                    return Err(StoreError::Unreachable {
                        store: "postgresql",
                        reason: format!(
                            "{}; reconnecting in {} ms",
                            d.reason,
                            (d.until - now).as_millis()
                        ),
                    });
                }
            }
        }
        self.pool
            .get_timeout(self.options.pool_wait)
            .map_err(|_| match down(&lock(&self.health)) {
                Some(e) => e,
                None => StoreError::Busy {
                    store: "postgresql",
                    connections: self.options.pool,
                    waited_ms: u64::try_from(self.options.pool_wait.as_millis())
                        .unwrap_or(u64::MAX),
                },
            })
    }

    /// One writing transaction of this daemon at a time; reads run beside it on the other
    /// connections. Every write locks the audit chain's head row first, so writers of the whole
    /// fleet take turns on that row anyway: letting all of a daemon's lanes queue for it inside
    /// the server only added waiters there (measured in docs/scale: p99 claim 3 times worse at
    /// 10 stations x 4 lanes than with one writer per daemon). Taken by the transaction adapter
    /// (store/backend.rs) before its first statement that may lock a row.
    pub(crate) fn write_gate(&self) -> &Mutex<()> {
        &self.write_gate
    }

    /// `conn` broke (the server went away): retire it and every connection opened before it.
    pub(crate) fn lost(&self, conn: &mut Conn) {
        let mut h = lock(&self.health);
        h.generation = h.generation.max(conn.generation + 1);
        tracing::warn!("a PostgreSQL connection was lost; the pool reconnects");
    }
}

#[cfg(test)]
impl PgPool {
    /// A connection held until dropped: tests fill the pool with it.
    pub(crate) fn hold(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.checkout()
    }
}
