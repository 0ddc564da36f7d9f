//! One running daemon per station id. Two daemons with the same id on one database would corrupt
//! each other's leases, so a daemon claims its id at start (a row with its instance, host, pid and
//! heartbeat), keeps the heartbeat fresh, and releases the id when it stops. The decision whether
//! an existing claim is stale belongs to the caller (`crate::cli`): it can see whether a pid on
//! its own host is alive, and it can watch a heartbeat for a lease's time.

use super::backend::Val;
use super::{Store, StoreError};

/// Who holds a station id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationClaim {
    /// Random id of the daemon process's run.
    pub instance: String,
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: i64,
    /// Last heartbeat, ms since the Unix epoch (0: released by a clean stop).
    pub heartbeat_ms: i64,
}

impl Store {
    /// The claim on `station`, if any.
    pub fn station_claim(&self, station: &str) -> Result<Option<StationClaim>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT instance, host, pid, heartbeat_ms FROM stations WHERE station = ?1",
                &[station.into()],
            )?;
            Ok(rows.first().map(|r| StationClaim {
                instance: r[0].text().unwrap_or_default(),
                host: r[1].text().unwrap_or_default(),
                pid: r[2].int().unwrap_or(0),
                heartbeat_ms: r[3].int().unwrap_or(0),
            }))
        })
    }

    /// Claims `station` for `mine` if the current claim is still `expected` (or there is none):
    /// `false` when another daemon claimed or heartbeated meanwhile.
    pub fn claim_station(
        &self,
        station: &str,
        mine: &StationClaim,
        expected: Option<&StationClaim>,
    ) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
            let current = tx.rows(
                &format!(
                    "SELECT instance, heartbeat_ms FROM stations WHERE station = ?1{lock}"
                ),
                &[station.into()],
            )?;
            let unchanged = match (current.first(), expected) {
                (None, _) => true,
                (Some(r), Some(e)) => {
                    r[0].text().as_deref() == Some(e.instance.as_str())
                        && r[1].int() == Some(e.heartbeat_ms)
                }
                (Some(_), None) => false,
            };
            if !unchanged {
                return Ok(false);
            }
            let params: [Val; 6] = [
                station.into(),
                mine.instance.as_str().into(),
                mine.host.as_str().into(),
                mine.pid.into(),
                mine.heartbeat_ms.into(),
                mine.heartbeat_ms.into(),
            ];
            tx.exec(
                "INSERT INTO stations (station, instance, host, pid, heartbeat_ms, started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (station) DO UPDATE SET instance = ?2, host = ?3, pid = ?4, heartbeat_ms = ?5, started_ms = ?6",
                &params,
            )?;
            Ok(true)
        })
    }

    /// Renews the heartbeat of `instance`'s claim on `station`; `false` when the id is no longer
    /// this instance's (another daemon took it over).
    pub fn station_heartbeat(
        &self,
        station: &str,
        instance: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            Ok(tx.exec(
                "UPDATE stations SET heartbeat_ms = ?3 WHERE station = ?1 AND instance = ?2",
                &[station.into(), instance.into(), now_ms.into()],
            )? == 1)
        })
    }

    /// Releases the claim at a clean stop, so the next daemon starts at once, and records the
    /// numbers left in the station's blocks as voided ([`super::blocks`]).
    pub fn release_station(
        &self,
        station: &str,
        instance: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db.with_tx(|tx| {
            let released = tx.exec(
                "UPDATE stations SET heartbeat_ms = 0 WHERE station = ?1 AND instance = ?2",
                &[station.into(), instance.into()],
            )?;
            if released == 1 {
                super::blocks::void_recorded(
                    tx,
                    &self.chain,
                    Some(station),
                    &format!("station:{station}"),
                    "the station stopped",
                    now_ms,
                )?;
            }
            Ok(())
        })
    }
}

/// The table (schema migration 3).
pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS stations (
    station TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    started_ms BIGINT NOT NULL
);
";
