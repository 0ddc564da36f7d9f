//! Personal data in the store is sealed (ECARD.md section 12): a job's enrollment record and
//! chip images (`job_inputs`) and its card's CAN (`job_cans`) are written as envelopes of
//! [`crate::vault`], each bound to its field and its application or job, so a value moved to
//! another row does not open. What queries need (state, number, dates, lane) stays in clear
//! columns of `jobs`.
//!
//! A database written before encryption holds those columns in clear; [`Store::seal_clear_rows`]
//! seals them once at start. SQLite runs with `secure_delete`, so the clear pages a rewrite or a
//! purge frees are zeroed rather than left in the file.

use super::backend::{Tx, Val};
use super::{Store, StoreError};
use crate::vault::{Vault, VaultError, is_sealed_text};

/// `job_inputs.record`.
pub(crate) const RECORD: &str = "job_inputs.record";
/// `job_inputs.chip_images`.
pub(crate) const CHIP_IMAGES: &str = "job_inputs.chip_images";
/// `job_cans.can`.
pub(crate) const CAN: &str = "job_cans.can";

/// The associated data of a job input: the field and the application it belongs to.
fn input_context(field: &str, application_id: &str) -> String {
    format!("{field} of application {application_id}")
}

/// The associated data of a CAN: the field and the job.
pub(crate) fn can_context(job_id: i64) -> String {
    format!("{CAN} of job {job_id}")
}

impl Store {
    /// Seals personal data with `vault` from now on (and opens what it sealed).
    pub fn with_vault(mut self, vault: Vault) -> Store {
        self.vault = Some(vault);
        self
    }

    /// The vault personal data is sealed with, when there is one.
    pub fn vault(&self) -> Option<&Vault> {
        self.vault.as_ref()
    }

    /// Seals a value for `field` of `application_id` (as given when the store has no vault).
    pub(crate) fn seal_input(
        &self,
        field: &str,
        application_id: &str,
        plain: &str,
    ) -> Result<String, StoreError> {
        self.seal_value(&input_context(field, application_id), plain)
    }

    /// Opens a stored value of `field` of `application_id`.
    pub(crate) fn open_input(
        &self,
        field: &str,
        application_id: &str,
        stored: String,
    ) -> Result<String, StoreError> {
        self.open_value(&input_context(field, application_id), stored)
    }

    pub(crate) fn seal_value(&self, context: &str, plain: &str) -> Result<String, StoreError> {
        match &self.vault {
            Some(v) => Ok(v.seal_text(context, plain)?),
            None => Ok(plain.to_string()),
        }
    }

    /// A clear value (a database from before encryption, not yet sealed) is returned as it is.
    pub(crate) fn open_value(&self, context: &str, stored: String) -> Result<String, StoreError> {
        if !is_sealed_text(&stored) {
            return Ok(stored);
        }
        match &self.vault {
            Some(v) => Ok(v.open_text(context, &stored)?),
            None => Err(VaultError::KeyUnavailable {
                kek: "(none)".into(),
                reason: format!(
                    "{context} is encrypted and this store was opened without the station's data key"
                ),
            }
            .into()),
        }
    }

    /// Seals every job input and CAN still stored in clear (a database from before
    /// encryption) and keys the holder digests stored unkeyed, a hundred jobs per transaction;
    /// returns how many it sealed or keyed. A no-op without a vault.
    pub fn seal_clear_rows(&self) -> Result<usize, StoreError> {
        let Some(vault) = &self.vault else {
            return Ok(0);
        };
        let mut sealed = 0;
        loop {
            let batch = self.db.with_tx(|tx| {
                let rows = tx.rows(
                    "SELECT i.job_id, j.application_id, i.record, i.chip_images FROM job_inputs i JOIN jobs j ON j.id = i.job_id \
                     WHERE i.record NOT LIKE 'enc1:%' OR i.chip_images NOT LIKE 'enc1:%' ORDER BY i.job_id LIMIT 100",
                    &[],
                )?;
                let mut n = 0;
                for r in &rows {
                    let (Some(id), Some(app), Some(record), Some(images)) =
                        (r[0].int(), r[1].text(), r[2].text(), r[3].text())
                    else {
                        return Err(StoreError::Corrupt {
                            what: "a job_inputs row without its job".into(),
                        });
                    };
                    let seal = |field: &str, v: String| -> Result<String, StoreError> {
                        if is_sealed_text(&v) {
                            Ok(v)
                        } else {
                            Ok(vault.seal_text(&input_context(field, &app), &v)?)
                        }
                    };
                    tx.exec(
                        "UPDATE job_inputs SET record = ?2, chip_images = ?3 WHERE job_id = ?1",
                        &[
                            id.into(),
                            seal(RECORD, record)?.into(),
                            seal(CHIP_IMAGES, images)?.into(),
                        ],
                    )?;
                    n += 1;
                }
                let cans = tx.rows(
                    "SELECT job_id, can FROM job_cans WHERE can NOT LIKE 'enc1:%' ORDER BY job_id LIMIT 100",
                    &[],
                )?;
                for r in &cans {
                    let (Some(id), Some(can)) = (r[0].int(), r[1].text()) else {
                        continue;
                    };
                    tx.exec(
                        "UPDATE job_cans SET can = ?2 WHERE job_id = ?1",
                        &[id.into(), vault.seal_text(&can_context(id), &can)?.into()],
                    )?;
                    n += 1;
                }
                Ok(n)
            })?;
            if batch == 0 {
                break;
            }
            sealed += batch;
        }
        Ok(sealed + super::holders::key_stored(&self.db, vault)?)
    }

    /// Opens the newest sealed record with this store's vault: refuses a vault that is not the
    /// one the store's data was sealed with (a station given another data key than the others
    /// sharing its database would fail every job it took over).
    pub fn check_vault(&self) -> Result<(), StoreError> {
        if self.vault.is_none() {
            return Ok(());
        }
        // The newest few: one altered record alone does not stop the station (its job fails
        // by itself); a key that opens none of them is the wrong key.
        let newest = self.db.with_tx(|tx| {
            Ok(tx
                .rows(
                    "SELECT j.application_id, i.record, h.document_key FROM job_inputs i JOIN jobs j ON j.id = i.job_id \
                     LEFT JOIN job_holders h ON h.job_id = i.job_id \
                     WHERE i.record LIKE 'enc1:%' ORDER BY i.job_id DESC LIMIT 5",
                    &[],
                )?
                .into_iter()
                .filter_map(|r| Some((r[0].text()?, r[1].text()?, r[2].text())))
                .collect::<Vec<_>>())
        })?;
        let mut first_error = None;
        for (app, record, stored_key) in newest {
            match self.open_input(RECORD, &app, record) {
                Ok(plain) => return self.check_pseudonyms(&app, &plain, stored_key),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(StoreError::Vault(VaultError::Unreadable { context, reason })) => {
                Err(StoreError::Vault(VaultError::Unreadable {
                    context,
                    reason: format!(
                        "{reason}; no recent record opens with this station's data key: every station sharing this database must use the same data key (data_key_label in a shared token, or data_key_file)"
                    ),
                }))
            }
            Some(other) => Err(other),
        }
    }

    /// The holder pseudonyms of a record that opened must be this station's: a station with
    /// another pseudonym key would not see the other stations' holders in the one-card rule.
    fn check_pseudonyms(
        &self,
        app: &str,
        record: &str,
        stored: Option<String>,
    ) -> Result<(), StoreError> {
        let (Some(vault), Some(stored)) = (&self.vault, stored) else {
            return Ok(());
        };
        if !stored.starts_with(super::holders::KEYED) {
            return Ok(());
        }
        let Some(keys) = super::holders::HolderKeys::of_record(record) else {
            return Ok(());
        };
        if keys.keyed(vault)?.document == stored {
            return Ok(());
        }
        Err(StoreError::Vault(VaultError::Unreadable {
            context: format!("job_holders of application {app}"),
            reason: "the holder pseudonyms were made with another pseudonym key; every station sharing this database must use the same data key and pseudonym key (data_key_label in a shared token, or data_key_file)".into(),
        }))
    }

    /// How many job inputs and CANs are stored in clear (0 once [`Store::seal_clear_rows`] ran).
    pub fn clear_rows(&self) -> Result<i64, StoreError> {
        self.db.with_tx(|tx| {
            let mut count = |sql: &str| -> Result<i64, StoreError> {
                Ok(tx
                    .rows(sql, &[])?
                    .first()
                    .and_then(|r| r.first())
                    .and_then(Val::int)
                    .unwrap_or(0))
            };
            let inputs = count(
                "SELECT COUNT(*) FROM job_inputs WHERE record NOT LIKE 'enc1:%' OR chip_images NOT LIKE 'enc1:%'",
            )?;
            Ok(inputs + count("SELECT COUNT(*) FROM job_cans WHERE can NOT LIKE 'enc1:%'")?)
        })
    }
}

/// A transaction that can open sealed values ([`Tx::vault`]): what a state change needs when it
/// writes the statistics fact of a job from its record.
struct VaultTx<'a> {
    inner: &'a mut dyn Tx,
    vault: Option<&'a Vault>,
}

impl Tx for VaultTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        self.inner.exec(sql, params)
    }
    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError> {
        self.inner.rows(sql, params)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.inner.batch(sql)
    }
    fn is_postgres(&self) -> bool {
        self.inner.is_postgres()
    }
    fn vault(&self) -> Option<&Vault> {
        self.vault
    }
}

impl Store {
    /// One transaction whose [`Tx::vault`] is this store's vault.
    pub(crate) fn tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let vault = self.vault.as_ref();
        self.db.with_tx(|tx| f(&mut VaultTx { inner: tx, vault }))
    }
}

/// Opens a job input read inside a transaction: clear values as they are, sealed ones with the
/// transaction's vault.
pub(crate) fn open_in_tx(
    tx: &dyn Tx,
    field: &str,
    application_id: &str,
    stored: String,
) -> Result<String, StoreError> {
    if !is_sealed_text(&stored) {
        return Ok(stored);
    }
    let context = input_context(field, application_id);
    match tx.vault() {
        Some(v) => Ok(v.open_text(&context, &stored)?),
        None => Err(VaultError::KeyUnavailable {
            kek: "(none)".into(),
            reason: format!("{context} is encrypted and no data key is at hand"),
        }
        .into()),
    }
}
