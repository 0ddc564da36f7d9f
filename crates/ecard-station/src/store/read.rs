//! Read-only queries: jobs, numbers, revocations, leases and the audit log as stored.

use super::rows::{JOB_COLS, job_from, load_job};
use super::{LeaseRow, NumberRow, Store, StoreError, backend};
use crate::audit::{AuditEntry, ChainHead};
use crate::job::{Job, JobState};

impl Store {
    /// One job.
    pub fn get(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.db.with_tx(|tx| match load_job(tx, id, false) {
            Ok(j) => Ok(Some(j)),
            Err(StoreError::NoJob { .. }) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// Jobs, newest first, optionally in one state.
    pub fn list(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = match state {
                Some(s) => tx.rows(
                    &format!(
                        "SELECT {JOB_COLS} FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
                    ),
                    &[s.as_str().into(), limit.into()],
                )?,
                None => tx.rows(
                    &format!("SELECT {JOB_COLS} FROM jobs ORDER BY id DESC LIMIT ?1"),
                    &[limit.into()],
                )?,
            };
            rows.iter().map(|r| job_from(r)).collect()
        })
    }

    /// Jobs whose application id contains `text` (any case) or whose number contains its
    /// digits (`77 100` finds `771000123`), newest first, optionally in one state. Only ids
    /// and numbers are searched: no personal data leaves the store for a search.
    pub fn search(
        &self,
        state: Option<JobState>,
        text: &str,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        // LIKE with an escape character, so `%` and `_` in the text match themselves.
        let escaped = |t: &str| {
            let mut out = String::with_capacity(t.len() + 2);
            for c in t.chars() {
                if matches!(c, '%' | '_' | '!') {
                    out.push('!');
                }
                out.push(c);
            }
            format!("%{out}%")
        };
        let id_like = escaped(&text.trim().to_lowercase());
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        // No digits: a pattern no number matches (numbers are digits only).
        let number_like = if digits.is_empty() {
            "-".to_string()
        } else {
            format!("%{digits}%")
        };
        // PostgreSQL cannot type a bare `?4 IS NULL`: the state filter is in the text or not.
        let mut params: Vec<backend::Val> = vec![id_like.into(), number_like.into(), limit.into()];
        let in_state = match state {
            Some(st) => {
                params.push(st.as_str().into());
                "state = ?4 AND "
            }
            None => "",
        };
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE {in_state}\
             (LOWER(application_id) LIKE ?1 ESCAPE '!' OR document_number LIKE ?2) \
             ORDER BY id DESC LIMIT ?3"
        );
        self.db.with_tx(|tx| {
            let rows = tx.rows(&sql, &params)?;
            rows.iter().map(|r| job_from(r)).collect()
        })
    }

    /// The enrollment record and chip images of a job (JSON; personal data: never log them).
    pub fn inputs(&self, id: i64) -> Result<(String, String), StoreError> {
        let (app, record, images) = self.db.with_tx(|tx| {
            tx.rows(
                "SELECT COALESCE(j.application_id, ''), i.record, i.chip_images FROM job_inputs i LEFT JOIN jobs j ON j.id = i.job_id WHERE i.job_id = ?1",
                &[id.into()],
            )?
            .first()
            .and_then(|r| Some((r[0].text()?, r[1].text()?, r[2].text()?)))
            .ok_or(StoreError::NoJob { id })
        })?;
        Ok((
            self.open_input(super::sealed::RECORD, &app, record)?,
            self.open_input(super::sealed::CHIP_IMAGES, &app, images)?,
        ))
    }

    /// Whether a number is on the revocation list.
    pub fn is_revoked(&self, number: &str) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            Ok(!tx
                .rows(
                    "SELECT 1 FROM revocations WHERE document_number = ?1",
                    &[number.into()],
                )?
                .is_empty())
        })
    }

    /// Number of jobs in each state that has any.
    pub fn counts(&self) -> Result<Vec<(JobState, i64)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows("SELECT state, COUNT(*) FROM jobs GROUP BY state", &[])?;
            rows.iter()
                .map(|r| {
                    let state = r[0].text().unwrap_or_default();
                    let state = JobState::parse(&state).map_err(|e| StoreError::Corrupt {
                        what: format!("jobs.state: {e}"),
                    })?;
                    Ok((state, r[1].int().unwrap_or(0)))
                })
                .collect()
        })
    }

    /// Every number ever given out, in order.
    pub fn numbers(&self) -> Result<Vec<NumberRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT document_number, job_id, status FROM numbers ORDER BY document_number",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| NumberRow {
                    document_number: r[0].text().unwrap_or_default(),
                    job_id: r[1].int().unwrap_or(-1),
                    status: r[2].text().unwrap_or_default(),
                })
                .collect())
        })
    }

    /// The revocation list: `(number, reason, since)`.
    pub fn revocations(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT document_number, reason, since FROM revocations ORDER BY document_number",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        r[0].text().unwrap_or_default(),
                        r[1].text().unwrap_or_default(),
                        r[2].text().unwrap_or_default(),
                    )
                })
                .collect())
        })
    }

    /// Lane leases.
    pub fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT station, lane, lease_until_ms FROM lanes ORDER BY station, lane",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| LeaseRow {
                    station: r[0].text().unwrap_or_default(),
                    lane: r[1].text().unwrap_or_default(),
                    until_ms: r[2].int().unwrap_or(0),
                })
                .collect())
        })
    }

    /// The whole audit log in order, every chain's head row, and every job's state: what
    /// [`crate::audit`] checks. One snapshot, without locks: on PostgreSQL a repeatable-read
    /// transaction, so stations appending meanwhile neither wait nor tear the picture.
    #[allow(clippy::type_complexity)]
    pub fn audit_snapshot(
        &self,
    ) -> Result<(Vec<AuditEntry>, Vec<ChainHead>, Vec<(i64, String)>), StoreError> {
        self.db.with_tx(|tx| {
            if tx.is_postgres() {
                tx.batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
            }
            let heads = tx
                .rows(
                    "SELECT chain, seq, hash FROM audit_chains ORDER BY chain",
                    &[],
                )?
                .iter()
                .map(|r| ChainHead {
                    chain: r[0].text().unwrap_or_default(),
                    seq: r[1].int().unwrap_or(-1),
                    hash: r[2].text().unwrap_or_default(),
                })
                .collect();
            let rows = tx.rows(&format!("SELECT {AUDIT_COLS} FROM audit ORDER BY seq"), &[])?;
            let entries = rows.iter().map(|r| audit_from(r)).collect();
            let jobs = tx
                .rows("SELECT id, state FROM jobs ORDER BY id", &[])?
                .iter()
                .map(|r| (r[0].int().unwrap_or(-1), r[1].text().unwrap_or_default()))
                .collect();
            Ok((entries, heads, jobs))
        })
    }

    /// One job's audit entries, oldest first.
    pub fn history(&self, job_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.db.with_tx(|tx| {
            let rows = tx.rows(
                &format!("SELECT {AUDIT_COLS} FROM audit WHERE job_id = ?1 ORDER BY seq"),
                &[job_id.into()],
            )?;
            Ok(rows.iter().map(|r| audit_from(r)).collect())
        })
    }

    /// Runs raw SQL: for tests that tamper with the log. Not for production paths.
    #[doc(hidden)]
    pub fn exec_raw(&self, sql: &str) -> Result<u64, StoreError> {
        self.db.with_tx(|tx| tx.exec(sql, &[]))
    }

    /// Drops a PostgreSQL schema (test clean-up).
    #[doc(hidden)]
    pub fn drop_pg_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        let mut client =
            postgres::Client::connect(url, postgres::NoTls).map_err(backend::pg_err)?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(backend::pg_err)
    }
}

/// The audit columns [`audit_from`] reads, in its order.
const AUDIT_COLS: &str = "seq, chain, at, actor, job_id, from_state, to_state, lane, document_number, ds_cert, detail, prev_hash, hash";

/// An audit entry from a row of [`AUDIT_COLS`]; a missing value reads as empty and fails the
/// hash check, so a damaged row is reported, not hidden.
fn audit_from(r: &[backend::Val]) -> AuditEntry {
    AuditEntry {
        seq: r[0].int().unwrap_or(-1),
        chain: r[1].text().unwrap_or_default(),
        at: r[2].text().unwrap_or_default(),
        actor: r[3].text().unwrap_or_default(),
        job_id: r[4].int().unwrap_or(-1),
        from_state: r[5].text(),
        to_state: r[6].text().unwrap_or_default(),
        lane: r[7].text(),
        document_number: r[8].text(),
        ds_certificate: r[9].text(),
        detail: r[10].text(),
        prev_hash: r[11].text().unwrap_or_default(),
        hash: r[12].text().unwrap_or_default(),
    }
}
