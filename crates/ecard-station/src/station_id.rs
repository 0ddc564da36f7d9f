//! The guard on a station id: a daemon claims its id in the store before it starts lanes, keeps
//! a heartbeat on it, and releases it at a clean stop. A second daemon with the same id on the
//! same database is refused at start with a message that names the id and the daemon holding it
//! (two daemons with one id would take each other's leases). A claim left by a daemon that died
//! is taken over: at once when its process is gone from this host, otherwise once its heartbeat
//! has not moved for a lease's time.

use std::sync::Arc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};

use crate::store::stations::StationClaim;
use crate::store::{Store, StoreError};

/// Why a daemon may not run under this station id.
#[derive(Debug, thiserror::Error)]
pub enum StationIdError {
    /// Another daemon is running under the id.
    #[error(
        "station id {station:?} is in use by another running daemon (pid {pid} on {host}, heartbeat {age_s:.1} s ago); give each station its own station_id in its configuration, or stop the other daemon first"
    )]
    InUse {
        /// The id.
        station: String,
        /// The other daemon's host.
        host: String,
        /// Its pid.
        pid: i64,
        /// How old its last heartbeat was.
        age_s: f64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A claimed station id; [`StationGuard::release`] at a clean stop.
#[derive(Clone)]
pub struct StationGuard {
    store: Arc<Store>,
    station: String,
    instance: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .saturating_add(crate::server::test_clock_offset_ms())
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether process `pid` exists on this host (Linux `/proc`).
fn pid_alive(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Claims `station` in `store`, waiting up to `lease` to tell a live daemon from a dead one.
/// Blocking.
pub fn claim(
    store: Arc<Store>,
    station: &str,
    lease: Duration,
) -> Result<StationGuard, StationIdError> {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    let mine = |hb: i64| StationClaim {
        instance: hex::encode(bytes),
        host: host(),
        pid: i64::from(std::process::id()),
        heartbeat_ms: hb,
    };
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        let current = store.station_claim(station)?;
        let now = now_ms();
        let take = match &current {
            None => true,
            // Released by a clean stop, or silent for longer than a lease.
            Some(c) if c.heartbeat_ms == 0 || now - c.heartbeat_ms > lease_ms => true,
            // Its process is gone from this host: it crashed.
            Some(c) if c.host == host() && !pid_alive(c.pid) => true,
            Some(c) if c.host == host() && c.pid == i64::from(std::process::id()) => true,
            Some(c) => {
                // Watch its heartbeat for a lease: a live daemon renews it several times.
                let watch_until = std::time::Instant::now() + lease + Duration::from_millis(500);
                let mut moved = false;
                while std::time::Instant::now() < watch_until {
                    std::thread::sleep(Duration::from_millis(250));
                    match store.station_claim(station)? {
                        Some(n) if n.heartbeat_ms != c.heartbeat_ms && n.heartbeat_ms != 0 => {
                            moved = true;
                            break;
                        }
                        Some(n) if n.heartbeat_ms == 0 => break,
                        None => break,
                        _ => {}
                    }
                }
                if moved {
                    return Err(StationIdError::InUse {
                        station: station.to_string(),
                        host: c.host.clone(),
                        pid: c.pid,
                        age_s: (now_ms() - c.heartbeat_ms) as f64 / 1000.0,
                    });
                }
                // Silent for a lease: dead. Take it over if nobody else did meanwhile.
                let latest = store.station_claim(station)?;
                let me = mine(now_ms());
                if store.claim_station(station, &me, latest.as_ref())? {
                    return Ok(StationGuard {
                        store,
                        station: station.to_string(),
                        instance: me.instance,
                    });
                }
                continue;
            }
        };
        if take {
            let me = mine(now);
            if store.claim_station(station, &me, current.as_ref())? {
                return Ok(StationGuard {
                    store,
                    station: station.to_string(),
                    instance: me.instance,
                });
            }
        }
    }
}

impl std::fmt::Debug for StationGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationGuard")
            .field("station", &self.station)
            .field("instance", &self.instance)
            .finish()
    }
}

impl StationGuard {
    /// Renews the heartbeat every third of `lease` until the runtime stops; logs an error when
    /// another daemon has taken the id (this one should then be stopped by its operator).
    pub fn spawn_heartbeat(&self, lease: Duration) -> tokio::task::JoinHandle<()> {
        let guard = self.clone();
        tokio::spawn(async move {
            let every = (lease / 3).max(Duration::from_millis(200));
            loop {
                tokio::time::sleep(every).await;
                let g = guard.clone();
                let renewed = tokio::task::spawn_blocking(move || {
                    g.store.station_heartbeat(&g.station, &g.instance, now_ms())
                })
                .await;
                match renewed {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => tracing::error!(
                        station = %guard.station,
                        "another daemon took this station id over; stop this one and give each station its own station_id"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(station = %guard.station, "station heartbeat failed: {e}")
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// Releases the id (a clean stop), so the next daemon starts without waiting.
    pub fn release(&self) {
        if let Err(e) = self
            .store
            .release_station(&self.station, &self.instance, now_ms())
        {
            tracing::warn!(station = %self.station, "cannot release the station id: {e}");
        }
    }
}
