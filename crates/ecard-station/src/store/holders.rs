//! Who holds which card (ECARD.md section 2): a replacement may revoke only a card this system
//! issued, not voided, not yet revoked, of the same holder; a number is replaced once; one valid
//! card (or application in progress) per holder.
//!
//! The rules need to compare holders without reading records, so each job keeps SHA-256 digests
//! of its holder's normalised identity (`job_holders`): the identity document number, the full
//! Latin name, date of birth and sex, and nationality. The checks run inside the submit
//! transaction, which holds the audit head's lock (PostgreSQL) or SQLite's single write lock, so
//! two concurrent submissions of one replacement or one holder are decided one after the other:
//! exactly one wins.
//!
//! With a vault (every station), the digests are keyed: what the table holds is an AES-CMAC of
//! each digest under a key in the token (`k1:` and hex), so the table cannot be searched for a
//! guessed name and birth date without the token. Unkeyed digests an earlier release stored are
//! keyed at start.

use sha2::{Digest, Sha256};

use super::StoreError;
use super::backend::{Tx, Val};
use crate::vault::Vault;

/// The holder digests of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HolderKeys {
    /// The identity document number.
    pub(crate) document: String,
    /// The full Latin name (surname, given names, patronymic).
    pub(crate) name: String,
    /// Date of birth and sex.
    pub(crate) birth_sex: String,
    /// Nationality.
    pub(crate) nationality: String,
}

fn digest(domain: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"ecard-holder-v1\0");
    h.update(domain.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

impl HolderKeys {
    /// The digests of an enrollment record (JSON as the store keeps it); `None` when it lacks
    /// the fields (a record this code never wrote).
    pub(crate) fn of_record(record_json: &str) -> Option<HolderKeys> {
        let r: serde_json::Value = serde_json::from_str(record_json).ok()?;
        let text = |v: &serde_json::Value| v.as_str().map(norm);
        let document = text(&r["identity_document"]["number"])?
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>();
        let surname = text(&r["surname"])?;
        let given = text(&r["given_names"]).unwrap_or_default();
        let patronymic = text(&r["patronymic"]).unwrap_or_default();
        let dob = text(&r["date_of_birth"])?;
        let sex = text(&r["sex"])?;
        let nationality = text(&r["nationality"])?;
        Some(HolderKeys {
            document: digest("document", &[&document]),
            name: digest("name", &[&surname, &given, &patronymic]),
            birth_sex: digest("birth-sex", &[&dob, &sex]),
            nationality: digest("nationality", &[&nationality]),
        })
    }
}

/// The prefix of a keyed holder digest.
pub(crate) const KEYED: &str = "k1:";

/// A digest (hex) as the store keeps it with a vault: `k1:` and the hex of its keyed pseudonym
/// (AES-CMAC in the token). Without the token a guessed name and birth date cannot be checked
/// against the table. An already keyed value is returned as it is.
pub(crate) fn keyed_digest(vault: &Vault, digest: &str) -> Result<String, StoreError> {
    if digest.starts_with(KEYED) {
        return Ok(digest.to_string());
    }
    let raw = hex::decode(digest).map_err(|_| StoreError::Corrupt {
        what: "a holder digest that is not hex".into(),
    })?;
    Ok(format!("{KEYED}{}", hex::encode(vault.pseudonym(&raw)?)))
}

impl HolderKeys {
    /// The keyed form of every digest ([`keyed_digest`]).
    pub(crate) fn keyed(self, vault: &Vault) -> Result<HolderKeys, StoreError> {
        Ok(HolderKeys {
            document: keyed_digest(vault, &self.document)?,
            name: keyed_digest(vault, &self.name)?,
            birth_sex: keyed_digest(vault, &self.birth_sex)?,
            nationality: keyed_digest(vault, &self.nationality)?,
        })
    }
}

/// Keys the digests an earlier release (or migration 4's backfill) stored unkeyed, a hundred
/// jobs a transaction; returns how many jobs' digests it keyed.
pub(super) fn key_stored(db: &super::backend::Backend, vault: &Vault) -> Result<usize, StoreError> {
    let mut done = 0;
    loop {
        let n = db.with_tx(|tx| {
            let rows = tx.rows(
                "SELECT job_id, document_key, name_key, birth_sex_key, nationality_key FROM job_holders \
                 WHERE document_key NOT LIKE 'k1:%' OR name_key NOT LIKE 'k1:%' OR birth_sex_key NOT LIKE 'k1:%' OR nationality_key NOT LIKE 'k1:%' \
                 ORDER BY job_id LIMIT 100",
                &[],
            )?;
            for r in &rows {
                let text = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
                let Some(id) = r[0].int() else { continue };
                tx.exec(
                    "UPDATE job_holders SET document_key = ?2, name_key = ?3, birth_sex_key = ?4, nationality_key = ?5 WHERE job_id = ?1",
                    &[
                        id.into(),
                        keyed_digest(vault, &text(1))?.into(),
                        keyed_digest(vault, &text(2))?.into(),
                        keyed_digest(vault, &text(3))?.into(),
                        keyed_digest(vault, &text(4))?.into(),
                    ],
                )?;
            }
            Ok(rows.len())
        })?;
        if n == 0 {
            return Ok(done);
        }
        done += n;
    }
}

/// Records `keys` for job `id`.
pub(super) fn record(tx: &mut dyn Tx, id: i64, keys: &HolderKeys) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO job_holders (job_id, document_key, name_key, birth_sex_key, nationality_key) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_id) DO NOTHING",
        &[
            id.into(),
            keys.document.as_str().into(),
            keys.name.as_str().into(),
            keys.birth_sex.as_str().into(),
            keys.nationality.as_str().into(),
        ],
    )?;
    Ok(())
}

fn refused(reason: String) -> StoreError {
    StoreError::ApplicationRefused {
        field: "application.previous_document_number",
        reason,
    }
}

/// The replacement rules for a new job replacing `previous` for the holder `keys`.
pub(super) fn check_replacement(
    tx: &mut dyn Tx,
    previous: &str,
    keys: &HolderKeys,
) -> Result<(), StoreError> {
    let number = tx.rows(
        "SELECT status, job_id FROM numbers WHERE document_number = ?1",
        &[previous.into()],
    )?;
    let Some(row) = number.first() else {
        return Err(refused(format!(
            "card {previous} was not issued by this system; check the number on the holder's card"
        )));
    };
    let status = row[0].text().unwrap_or_default();
    let old_job = row[1].int().unwrap_or(0);
    match status.as_str() {
        "issued" => {}
        "voided" => {
            return Err(refused(format!(
                "number {previous} was voided (its card was never delivered); a replacement needs a card that was issued"
            )));
        }
        _ => {
            return Err(refused(format!(
                "card {previous} is still in production, not issued; wait for it, or void its job"
            )));
        }
    }
    // Replaced already (or being replaced): the first replacement wins.
    let other = tx.rows(
        "SELECT application_id, state FROM jobs WHERE previous_number = ?1 AND state NOT IN ('rejected', 'voided')",
        &[previous.into()],
    )?;
    if let Some(o) = other.first() {
        return Err(StoreError::ApplicationConflict {
            reason: format!(
                "card {previous} is already replaced by application {} ({}); a number is replaced once",
                o[0].text().unwrap_or_default(),
                o[1].text().unwrap_or_default()
            ),
            number: Some(previous.to_string()),
        });
    }
    let revoked = tx.rows(
        "SELECT reason FROM revocations WHERE document_number = ?1",
        &[previous.into()],
    )?;
    if let Some(r) = revoked.first() {
        return Err(refused(format!(
            "card {previous} is already revoked ({}); check the number on the holder's card",
            r[0].text().unwrap_or_default()
        )));
    }
    let holder = tx.rows(
        "SELECT document_key, name_key, birth_sex_key FROM job_holders WHERE job_id = ?1",
        &[old_job.into()],
    )?;
    let Some(h) = holder.first() else {
        return Err(refused(format!(
            "the holder of card {previous} is not on record; this station cannot check that the replacement is for the same person"
        )));
    };
    let same = |i: usize, k: &str| h[i].text().as_deref() == Some(k);
    if !same(2, &keys.birth_sex) {
        return Err(refused(format!(
            "card {previous} belongs to someone with another date of birth or sex; a replacement is for the same holder"
        )));
    }
    if !same(0, &keys.document) && !same(1, &keys.name) {
        return Err(refused(format!(
            "card {previous} belongs to a holder with another identity document and another name; a replacement may change one of them, not both"
        )));
    }
    Ok(())
}

/// One valid card per holder: a first issue for a holder (same identity document, or same full
/// name, date of birth, sex and nationality) who holds a valid card, or whose application is in
/// progress, is a conflict naming that card.
pub(super) fn check_first_issue(tx: &mut dyn Tx, keys: &HolderKeys) -> Result<(), StoreError> {
    let rows = tx.rows(
        "SELECT j.application_id, j.state, j.document_number FROM job_holders h JOIN jobs j ON j.id = h.job_id \
         WHERE (h.document_key = ?1 OR (h.name_key = ?2 AND h.birth_sex_key = ?3 AND h.nationality_key = ?4)) \
         AND j.state NOT IN ('rejected', 'voided') \
         AND NOT (j.state = 'issued' AND EXISTS (SELECT 1 FROM revocations r WHERE r.document_number = j.document_number)) \
         ORDER BY j.id DESC LIMIT 1",
        &[
            keys.document.as_str().into(),
            keys.name.as_str().into(),
            keys.birth_sex.as_str().into(),
            keys.nationality.as_str().into(),
        ],
    )?;
    if let Some(r) = rows.first() {
        let app = r[0].text().unwrap_or_default();
        let state = r[1].text().unwrap_or_default();
        let number = r[2].text();
        let reason = match (&number, state.as_str()) {
            (Some(n), "issued") => format!(
                "this holder already has a valid card, {n} (application {app}); a second card goes through a replacement of {n}"
            ),
            _ => format!(
                "an application for this holder is already in progress ({app}, {state}); wait for it, or void it"
            ),
        };
        return Err(StoreError::ApplicationConflict {
            reason,
            number: number.filter(|_| state == "issued"),
        });
    }
    Ok(())
}

/// Fills `job_holders` for jobs stored before it existed (schema migration 4).
pub(super) fn backfill(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let rows = tx.rows(
        "SELECT i.job_id, i.record FROM job_inputs i LEFT JOIN job_holders h ON h.job_id = i.job_id WHERE h.job_id IS NULL",
        &[],
    )?;
    for r in rows {
        let (Some(id), Some(record)) = (r[0].int(), r.get(1).and_then(Val::text)) else {
            continue;
        };
        if let Some(keys) = HolderKeys::of_record(&record) {
            self::record(tx, id, &keys)?;
        }
    }
    Ok(())
}

/// The table (schema migration 4).
pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS job_holders (
    job_id BIGINT PRIMARY KEY,
    document_key TEXT NOT NULL,
    name_key TEXT NOT NULL,
    birth_sex_key TEXT NOT NULL,
    nationality_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_holders_by_document ON job_holders (document_key);
CREATE INDEX IF NOT EXISTS job_holders_by_name ON job_holders (name_key, birth_sex_key);
CREATE INDEX IF NOT EXISTS jobs_by_previous ON jobs (previous_number);
";

#[cfg(test)]
mod keyed_tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::store::{Actor, NewJob, Store};
    use crate::testutil;
    use crate::vault::FileKek;

    fn job(app: &str, holder_of: &str) -> NewJob {
        NewJob {
            application_id: app.into(),
            record_json: testutil::record_json_holder(app, holder_of),
            chip_images_json: testutil::chip_images_json(),
            late_notification: false,
            replaces: None,
        }
    }

    #[test]
    fn keyed_digests_hide_the_plain_digest_and_keep_the_one_card_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.db");
        let actor = Actor::named("test");
        // An earlier release stored the digests unkeyed.
        {
            let s = Store::open_sqlite(&path).unwrap();
            s.ensure_series(77).unwrap();
            s.submit(&job("MMC-A", "MMC-A"), &actor, 0).unwrap();
        }
        let kek = FileKek::create(&dir.path().join("data.key")).unwrap();
        let s = Store::open_sqlite(&path)
            .unwrap()
            .with_vault(Vault::new(Arc::new(kek)));
        assert!(s.seal_clear_rows().unwrap() >= 2, "record and digests");
        s.submit(&job("MMC-B", "MMC-B"), &actor, 0).unwrap();
        let plain = HolderKeys::of_record(&testutil::record_json_holder("MMC-A", "MMC-A")).unwrap();
        let stored = s
            .db
            .with_tx(|tx| {
                tx.rows(
                    "SELECT document_key, name_key, birth_sex_key, nationality_key FROM job_holders ORDER BY job_id",
                    &[],
                )
            })
            .unwrap();
        assert_eq!(stored.len(), 2);
        for row in &stored {
            for v in row {
                let v = v.text().unwrap();
                assert!(v.starts_with(KEYED), "{v}");
                for d in [
                    &plain.document,
                    &plain.name,
                    &plain.birth_sex,
                    &plain.nationality,
                ] {
                    assert!(!v.contains(d.as_str()), "a plain digest is stored");
                }
            }
        }
        // The rules compare keyed with keyed: the same holder again is refused.
        let e = s.submit(&job("MMC-C", "MMC-A"), &actor, 0).unwrap_err();
        assert!(matches!(e, StoreError::ApplicationConflict { .. }), "{e}");
        // Keying is deterministic under one key, and another key gives other pseudonyms.
        let v = s.vault().unwrap();
        assert_eq!(
            keyed_digest(v, &plain.name).unwrap(),
            keyed_digest(v, &plain.name).unwrap()
        );
        let other = Vault::new(Arc::new(
            FileKek::create(&dir.path().join("other.key")).unwrap(),
        ));
        assert_ne!(
            keyed_digest(v, &plain.name).unwrap(),
            keyed_digest(&other, &plain.name).unwrap()
        );
    }

    /// The same data key with another pseudonym key (a replica that copied only the data key).
    struct OtherPseudonyms(FileKek, FileKek);

    impl crate::vault::Kek for OtherPseudonyms {
        fn id(&self) -> &str {
            self.0.id()
        }
        fn wrap(&self, aad: &[u8], dek: &[u8; 32]) -> Result<Vec<u8>, crate::vault::VaultError> {
            self.0.wrap(aad, dek)
        }
        fn unwrap_key(
            &self,
            aad: &[u8],
            wrapped: &[u8],
        ) -> Result<zeroize::Zeroizing<[u8; 32]>, crate::vault::VaultError> {
            self.0.unwrap_key(aad, wrapped)
        }
        fn insecure(&self) -> bool {
            true
        }
        fn pseudonym(&self, data: &[u8]) -> Result<Vec<u8>, crate::vault::VaultError> {
            self.1.pseudonym(data)
        }
    }

    #[test]
    fn a_station_with_another_pseudonym_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.db");
        let key = dir.path().join("data.key");
        let s = Store::open_sqlite(&path)
            .unwrap()
            .with_vault(Vault::new(Arc::new(FileKek::create(&key).unwrap())));
        s.ensure_series(77).unwrap();
        s.submit(&job("MMC-A", "MMC-A"), &Actor::named("test"), 0)
            .unwrap();
        assert!(s.check_vault().is_ok());
        drop(s);
        let replica = OtherPseudonyms(
            FileKek::load(&key).unwrap(),
            FileKek::create(&dir.path().join("other.key")).unwrap(),
        );
        let s = Store::open_sqlite(&path)
            .unwrap()
            .with_vault(Vault::new(Arc::new(replica)));
        let e = s.check_vault().unwrap_err().to_string();
        assert!(e.contains("pseudonym key") && e.contains("MMC-A"), "{e}");
    }
}
