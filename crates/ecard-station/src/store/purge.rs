//! Retention (ECARD.md section 12): a job's personal data (the enrollment record with its
//! original images, and the chip JPEGs) is deleted once the job has been over for the retention
//! period. What audit and QA need stays: the job row (number, dates, states), the numbers, the
//! EF hashes, SOD and seal of `qa_cards`, the audit log. Each purge is one audit entry, without
//! personal data.

use super::backend::Val;
use super::rows::{insert_audit, lock_head, rfc3339_ms};
use super::{Store, StoreError};
use crate::audit::AuditEntry;

impl Store {
    /// Deletes the inputs of every job issued, rejected or voided before `before_ms`, in one
    /// transaction with an audit entry (job id 0). Returns the jobs purged.
    pub fn purge_personal_data(
        &self,
        before_ms: i64,
        retention_days: u32,
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.db.with_tx(|tx| {
            let ids: Vec<i64> = tx
                .rows(
                    "SELECT j.id FROM jobs j JOIN job_inputs i ON i.job_id = j.id WHERE j.state IN ('issued', 'rejected', 'voided') AND j.updated_ms < ?1 ORDER BY j.id",
                    &[before_ms.into()],
                )?
                .iter()
                .filter_map(|r| r.first().and_then(Val::int))
                .collect();
            if ids.is_empty() {
                return Ok(ids);
            }
            for id in &ids {
                tx.exec("DELETE FROM job_inputs WHERE job_id = ?1", &[(*id).into()])?;
            }
            let mut head = lock_head(tx, &self.chain)?;
            let (first, last) = (ids[0], ids[ids.len() - 1]);
            let entry = AuditEntry {
                seq: 0, // set by insert_audit, as are chain and prev_hash
                chain: String::new(),
                at: rfc3339_ms(now_ms),
                actor: actor.to_string(),
                job_id: 0,
                from_state: None,
                to_state: "personal_data_purged".into(),
                lane: None,
                document_number: None,
                ds_certificate: None,
                detail: Some(format!(
                    "records and images of {} job(s) over for more than {retention_days} days purged (job ids {first} to {last})",
                    ids.len()
                )),
                prev_hash: String::new(),
                hash: String::new(),
            };
            insert_audit(tx, &mut head, entry)?;
            Ok(ids)
        })
    }

    /// Whether a job's personal data was purged (its row is there, its inputs are not).
    pub fn is_purged(&self, id: i64) -> Result<bool, StoreError> {
        self.db.with_tx(|tx| {
            let job = tx.rows("SELECT 1 FROM jobs WHERE id = ?1", &[id.into()])?;
            let inputs = tx.rows("SELECT 1 FROM job_inputs WHERE job_id = ?1", &[id.into()])?;
            Ok(!job.is_empty() && inputs.is_empty())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::job::JobState;
    use crate::store::{Actor, NewJob, StepInfo};
    use crate::testutil;

    fn issue(s: &crate::store::Store, app: &str, at: i64) -> i64 {
        let intake = Actor::named("intake");
        let (j, _) = s
            .submit(
                &NewJob {
                    application_id: app.into(),
                    record_json: testutil::record_json(app),
                    chip_images_json: testutil::chip_images_json(),
                    late_notification: false,
                    replaces: None,
                },
                &intake,
                at,
            )
            .unwrap();
        s.step(j.id, JobState::Validated, &intake, &StepInfo::default(), at)
            .unwrap();
        let lane = Actor::lane("s1", "l1");
        let j = s.claim("s1", "l1", 77, at, at + 60_000).unwrap().unwrap();
        for to in [
            JobState::Encoding,
            JobState::Verifying,
            JobState::Printing,
            JobState::Issued,
        ] {
            s.step(j.id, to, &lane, &StepInfo::default(), at).unwrap();
        }
        j.id
    }

    fn purge(s: &crate::store::Store) {
        let old = issue(s, "MMC-OLD", 1_000);
        let recent = issue(s, "MMC-RECENT", 5_000);
        let purged = s.purge_personal_data(2_000, 30, "purge", 6_000).unwrap();
        assert_eq!(purged, vec![old]);
        assert!(s.is_purged(old).unwrap());
        assert!(matches!(
            s.inputs(old),
            Err(crate::store::StoreError::NoJob { .. })
        ));
        assert!(s.inputs(recent).is_ok());
        // What audit and QA need stays.
        let job = s.get(old).unwrap().unwrap();
        assert_eq!(job.state, JobState::Issued);
        assert!(job.document_number.is_some());
        let (entries, head, jobs) = s.audit_snapshot().unwrap();
        crate::audit::verify_chain(&entries, &head).unwrap();
        crate::audit::verify_jobs(&entries, &jobs).unwrap();
        let last = entries.last().unwrap();
        assert_eq!(last.to_state, "personal_data_purged");
        assert!(!last.detail.as_deref().unwrap().contains("KARIMOV"));
        // Nothing left to purge.
        assert!(
            s.purge_personal_data(2_000, 30, "purge", 7_000)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn purge_removes_records_and_keeps_the_rest_sqlite() {
        purge(&testutil::sqlite().store);
    }

    #[test]
    fn purge_removes_records_and_keeps_the_rest_postgres() {
        if let Some(t) = testutil::postgres() {
            purge(&t.store);
        }
    }
}
