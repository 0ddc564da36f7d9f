//! Row-level helpers shared by every store operation: decoding a job row, loading and locking,
//! the audit append, the transition check and the state write. Each runs inside a transaction
//! the caller opened; none commits.

use super::backend::{Tx, Val};
use super::{Actor, StepInfo, StoreError};
use crate::audit::{AuditEntry, ChainHead, GENESIS};
use crate::job::{Job, JobState};

pub(super) const JOB_COLS: &str = "id, application_id, state, document_number, attempts, station, lane, late_notification, previous_number, last_error, ds_cert, created_ms, updated_ms";

pub(super) fn job_from(row: &[Val]) -> Result<Job, StoreError> {
    let corrupt = |col: &str| StoreError::Corrupt {
        what: format!("jobs.{col} of row {row:?} has the wrong type"),
    };
    let int = |i: usize, col: &str| row.get(i).and_then(Val::int).ok_or_else(|| corrupt(col));
    let text = |i: usize| row.get(i).and_then(Val::text);
    let state_text = text(2).ok_or_else(|| corrupt("state"))?;
    Ok(Job {
        id: int(0, "id")?,
        application_id: text(1).ok_or_else(|| corrupt("application_id"))?,
        state: JobState::parse(&state_text).map_err(|e| StoreError::Corrupt {
            what: format!("jobs.state: {e}"),
        })?,
        document_number: text(3),
        attempts: int(4, "attempts")?,
        station: text(5),
        lane: text(6),
        late_notification: int(7, "late_notification")? != 0,
        previous_document_number: text(8),
        last_error: text(9),
        ds_certificate: text(10),
        created_ms: int(11, "created_ms")?,
        updated_ms: int(12, "updated_ms")?,
    })
}

/// RFC 3339 UTC text of a millisecond timestamp.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

pub(super) fn moscow_day_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    ecard_model::dates::format_date(ecard_model::dates::moscow_date(t))
}

pub(super) fn load_job(tx: &mut dyn Tx, id: i64, lock: bool) -> Result<Job, StoreError> {
    let lock = if lock && tx.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let rows = tx.rows(
        &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1{lock}"),
        &[id.into()],
    )?;
    rows.first()
        .map(|r| job_from(r))
        .unwrap_or(Err(StoreError::NoJob { id }))
}

/// Locks the head of `chain` (a station's own audit chain) and returns it, creating the chain
/// at its first entry. Writers of one chain serialize here (PostgreSQL; SQLite's IMMEDIATE
/// transaction already holds the only write lock); writers of other chains do not wait.
pub(super) fn lock_head(tx: &mut dyn Tx, chain: &str) -> Result<ChainHead, StoreError> {
    let sql = if tx.is_postgres() {
        "SELECT seq, hash FROM audit_chains WHERE chain = ?1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_chains WHERE chain = ?1"
    };
    for _ in 0..2 {
        let rows = tx.rows(sql, &[chain.into()])?;
        match rows.first().map(|r| (r[0].int(), r[1].text())) {
            Some((Some(seq), Some(hash))) => {
                return Ok(ChainHead {
                    chain: chain.to_string(),
                    seq,
                    hash,
                });
            }
            Some(_) => break,
            None => {
                tx.exec(
                    "INSERT INTO audit_chains (chain, seq, hash) VALUES (?1, 0, ?2) ON CONFLICT (chain) DO NOTHING",
                    &[chain.into(), GENESIS.into()],
                )?;
            }
        }
    }
    Err(StoreError::Corrupt {
        what: format!("audit_chains row {chain:?} is unreadable"),
    })
}

/// The next sequence number of the whole log: a PostgreSQL sequence, so stations appending to
/// their own chains do not wait for each other; SQLite has one writer at a time.
fn next_seq(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    let sql = if tx.is_postgres() {
        "SELECT nextval('audit_seq')"
    } else {
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM audit"
    };
    tx.rows(sql, &[])?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .ok_or_else(|| StoreError::Corrupt {
            what: "the audit log's next sequence number is unreadable".into(),
        })
}

pub(super) struct Entry<'a> {
    pub(super) actor: &'a Actor,
    pub(super) job_id: i64,
    pub(super) from: Option<JobState>,
    pub(super) to: JobState,
    pub(super) number: Option<String>,
    pub(super) info: &'a StepInfo,
}

pub(super) fn append_audit(
    tx: &mut dyn Tx,
    head: &mut ChainHead,
    now_ms: i64,
    e: Entry<'_>,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        seq: 0,
        chain: String::new(),
        at: rfc3339_ms(now_ms),
        actor: e.actor.name.clone(),
        job_id: e.job_id,
        from_state: e.from.map(|s| s.as_str().to_string()),
        to_state: e.to.as_str().to_string(),
        lane: e.actor.lane_label(),
        document_number: e.number,
        ds_certificate: e.info.ds_certificate.clone(),
        detail: e.info.detail.clone().or_else(|| e.info.note.clone()),
        prev_hash: String::new(),
        hash: String::new(),
    };
    insert_audit(tx, head, entry)
}

/// Gives `entry` the next sequence number, links it onto `head`'s chain, inserts it and moves
/// the head (the caller holds the head's lock): `entry`'s `seq`, `chain` and `prev_hash` are
/// set here. Job transitions and station events (a numbering reservation) both come through
/// here.
pub(super) fn insert_audit(
    tx: &mut dyn Tx,
    head: &mut ChainHead,
    mut entry: AuditEntry,
) -> Result<(), StoreError> {
    entry.seq = next_seq(tx)?;
    entry.chain = head.chain.clone();
    entry.prev_hash = head.hash.clone();
    entry.hash = entry.compute_hash();
    tx.exec(
        "INSERT INTO audit (seq, chain, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash) VALUES (?1, ?13, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &[
            entry.seq.into(),
            entry.at.clone().into(),
            entry.actor.clone().into(),
            entry.job_id.into(),
            entry.from_state.clone().into(),
            entry.to_state.clone().into(),
            entry.lane.clone().into(),
            entry.document_number.clone().into(),
            entry.ds_certificate.clone().into(),
            entry.detail.clone().into(),
            entry.prev_hash.clone().into(),
            entry.hash.clone().into(),
            entry.chain.clone().into(),
        ],
    )?;
    tx.exec(
        "UPDATE audit_chains SET seq = ?1, hash = ?2 WHERE chain = ?3",
        &[
            entry.seq.into(),
            entry.hash.clone().into(),
            entry.chain.clone().into(),
        ],
    )?;
    head.seq = entry.seq;
    head.hash = entry.hash;
    Ok(())
}

pub(super) fn check_step(
    job: &Job,
    to: JobState,
    actor: &Actor,
    action: &str,
) -> Result<(), StoreError> {
    if !job.state.can_go(to) {
        let expected: Vec<&str> = crate::job::ALL_STATES
            .iter()
            .filter(|s| s.can_go(to))
            .map(|s| s.as_str())
            .collect();
        return Err(StoreError::WrongState {
            id: job.id,
            got: job.state,
            action: action.to_string(),
            expected: expected.join(" or "),
        });
    }
    if job.state.on_lane() {
        let holder = (
            job.station.clone().unwrap_or_default(),
            job.lane.clone().unwrap_or_default(),
        );
        if actor.lane.as_ref() != Some(&holder) {
            return Err(StoreError::NotYourJob {
                id: job.id,
                holder: format!("{}/{}", holder.0, holder.1),
                lane: actor.lane_label().unwrap_or_else(|| actor.name.clone()),
            });
        }
    }
    Ok(())
}

/// Moves the job and records it; the caller has checked the step.
pub(super) fn set_state(
    tx: &mut dyn Tx,
    head: &mut ChainHead,
    job: &mut Job,
    to: JobState,
    actor: &Actor,
    info: &StepInfo,
    now_ms: i64,
) -> Result<(), StoreError> {
    let from = job.state;
    if matches!(to, JobState::Issued | JobState::Spoiled) {
        // The statistics fact (store/stats.rs), in this transaction: it exists iff the step does.
        let station = job
            .station
            .clone()
            .or_else(|| actor.lane.clone().map(|(s, _)| s));
        super::stats::record(tx, job.id, station, to, now_ms)?;
    }
    job.state = to;
    job.updated_ms = now_ms;
    if info.ds_certificate.is_some() {
        job.ds_certificate = info.ds_certificate.clone();
    }
    if info.detail.is_some() {
        job.last_error = info.detail.clone();
    }
    if !to.on_lane() {
        job.station = None;
        job.lane = None;
    }
    tx.exec(
        "UPDATE jobs SET state = ?1, updated_ms = ?2, ds_cert = ?3, last_error = ?4, station = ?5, lane = ?6, attempts = ?7, document_number = ?8 WHERE id = ?9",
        &[
            to.as_str().into(),
            now_ms.into(),
            job.ds_certificate.clone().into(),
            job.last_error.clone().into(),
            job.station.clone().into(),
            job.lane.clone().into(),
            job.attempts.into(),
            job.document_number.clone().into(),
            job.id.into(),
        ],
    )?;
    append_audit(
        tx,
        head,
        now_ms,
        Entry {
            actor,
            job_id: job.id,
            from: Some(from),
            to,
            number: job.document_number.clone(),
            info,
        },
    )
}

/// Voids a number (kept in `numbers`) and puts it on the revocation list as `voided`.
pub(super) fn void_number(tx: &mut dyn Tx, number: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE numbers SET status = 'voided', at_ms = ?2 WHERE document_number = ?1",
        &[number.into(), now_ms.into()],
    )?;
    tx.exec(
        "INSERT INTO revocations (document_number, reason, since) VALUES (?1, 'voided', ?2) ON CONFLICT (document_number) DO NOTHING",
        &[number.into(), moscow_day_ms(now_ms).into()],
    )?;
    Ok(())
}

/// PostgreSQL's clock in ms since the Unix epoch: the one clock every station sharing the
/// database agrees on, so leases hold whatever a station's own clock says.
pub(super) const PG_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Sets a lane's lease to run until `until_ms` (on the station's clock, whose present is
/// `now_ms`). On PostgreSQL the lease is kept on the database's clock: its length is added to
/// the database's now, so a station whose clock is off cannot extend (or cut) leases.
pub(super) fn upsert_lease(
    tx: &mut dyn Tx,
    station: &str,
    lane: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<(), StoreError> {
    if tx.is_postgres() {
        tx.exec(
            &format!(
                "INSERT INTO lanes (station, lane, lease_until_ms) VALUES (?1, ?2, {PG_NOW_MS} + ?3) ON CONFLICT (station, lane) DO UPDATE SET lease_until_ms = excluded.lease_until_ms"
            ),
            &[station.into(), lane.into(), (until_ms - now_ms).into()],
        )?;
    } else {
        tx.exec(
            "INSERT INTO lanes (station, lane, lease_until_ms) VALUES (?1, ?2, ?3) ON CONFLICT (station, lane) DO UPDATE SET lease_until_ms = excluded.lease_until_ms",
            &[station.into(), lane.into(), until_ms.into()],
        )?;
    }
    Ok(())
}

/// "Now" for comparing leases: the database's clock on PostgreSQL, the station's `now_ms` on
/// SQLite (one station, one writer).
pub(super) fn lease_now(tx: &mut dyn Tx, now_ms: i64) -> Result<i64, StoreError> {
    if !tx.is_postgres() {
        return Ok(now_ms);
    }
    Ok(tx
        .rows(&format!("SELECT {PG_NOW_MS}"), &[])?
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .unwrap_or(now_ms))
}
