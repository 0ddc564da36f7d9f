//! The PostgreSQL connections of one store: a pool per daemon, so that its lanes and requests run
//! their transactions side by side instead of queueing behind one client.
//!
//! r2d2 keeps the connections; the manager here opens them (with the schema's search path and the
//! session's timeouts), and tells a lost one from a sound one without a round trip to the server.
//! A checkout waits at most [`PgOptions::pool_wait`]: then the caller gets
//! [`StoreError::Busy`] (every connection in use) or [`StoreError::Unreachable`] (the server is
//! gone), never a hang. While the server is known to be down, calls fail at once for a backoff
//! that doubles from 250 ms to 10 s, and r2d2 keeps reconnecting in the background; the first
//! connection that opens again ends the outage. This module holds no queue rules and no SQL but
//! the session's settings.

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
    setup: String,
    health: Arc<Mutex<Health>>,
}

fn lock(health: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    // Health is a few plain fields, consistent after any statement: a panic cannot tear it.
    health.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Manager {
    fn open(&self) -> Result<postgres::Client, StoreError> {
        let mut client = self.config.connect(postgres::NoTls).map_err(pg_err)?;
        if let Err(e) = client.batch_execute(&self.setup) {
            drop_client(client);
            return Err(pg_err(e));
        }
        Ok(client)
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
        let config: postgres::Config = url.parse().map_err(pg_err)?;
        let health = Arc::new(Mutex::new(Health {
            generation: 0,
            down: None,
            backoff: FIRST_BACKOFF,
        }));
        let manager = Manager {
            config,
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
