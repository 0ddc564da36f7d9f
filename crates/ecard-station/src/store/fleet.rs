//! The fleet: every station that shares this store, its lanes' leases and its jobs, for
//! `GET /api/v1/fleet` (any station's API shows all of them).

use serde::Serialize;

use super::{Store, StoreError};

/// One lane of one station, as its lease row says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetLane {
    /// The lane's name.
    pub lane: String,
    /// Until when its lease runs, ms since the Unix epoch.
    pub lease_until_ms: i64,
    /// Whether the lease is still running (`false`: the lane stopped heartbeating).
    pub alive: bool,
}

/// One station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetStation {
    /// The station's id.
    pub station: String,
    /// Its lanes.
    pub lanes: Vec<FleetLane>,
    /// Whether any lane still heartbeats.
    pub alive: bool,
    /// Jobs on its lanes right now (numbered, encoding, verifying, printing).
    pub jobs_on_lanes: i64,
    /// Cards it issued.
    pub issued: i64,
}

impl Store {
    /// Every station with a lease row, its lanes (alive when the lease runs past `now_ms`) and
    /// its job counts.
    pub fn fleet(&self, now_ms: i64) -> Result<Vec<FleetStation>, StoreError> {
        self.db.with_tx(|tx| {
            let now_ms = super::rows::lease_now(tx, now_ms)?;
            let lanes = tx.rows(
                "SELECT station, lane, lease_until_ms FROM lanes ORDER BY station, lane",
                &[],
            )?;
            let counts = tx.rows(
                "SELECT station, state, COUNT(*) FROM jobs WHERE station IS NOT NULL AND state IN ('numbered', 'encoding', 'verifying', 'printing', 'issued') GROUP BY station, state",
                &[],
            )?;
            let mut out: Vec<FleetStation> = Vec::new();
            for r in &lanes {
                let (Some(station), Some(lane), Some(until)) = (r[0].text(), r[1].text(), r[2].int())
                else {
                    continue;
                };
                if out.last().map(|s| &s.station) != Some(&station) {
                    out.push(FleetStation {
                        station: station.clone(),
                        lanes: Vec::new(),
                        alive: false,
                        jobs_on_lanes: 0,
                        issued: 0,
                    });
                }
                if let Some(s) = out.last_mut() {
                    let alive = until >= now_ms;
                    s.alive |= alive;
                    s.lanes.push(FleetLane {
                        lane,
                        lease_until_ms: until,
                        alive,
                    });
                }
            }
            for r in &counts {
                let (Some(station), Some(state), Some(n)) =
                    (r[0].text(), r[1].text(), r[2].int().or_else(|| r[2].text().and_then(|t| t.parse().ok())))
                else {
                    continue;
                };
                if let Some(s) = out.iter_mut().find(|s| s.station == station) {
                    if state == "issued" {
                        s.issued += n;
                    } else {
                        s.jobs_on_lanes += n;
                    }
                }
            }
            Ok(out)
        })
    }
}
