//! Station backups and restores (SQLite; PostgreSQL is backed up with `pg_dump` and checked with
//! `ecard station restore-check`).
//!
//! A backup is a consistent copy of the live database (SQLite's online backup API, so lanes keep
//! running), encrypted and authenticated with AES-256-GCM in the STREAM construction (1 MiB
//! segments, each sealed with its index, the last one marked): an edited, reordered or truncated
//! backup fails authentication and is refused before anything is written. The file is
//!
//! ```text
//! "ECARD-BACKUP\0\0v1" | header length (u32 BE) | header JSON (format, cipher, nonce)
//!   | segments: ciphertext of [manifest length (u32 BE) | manifest JSON | database bytes]
//! ```
//!
//! with the clear header as associated data of every segment. The manifest carries the audit
//! chain's head, the schema version and the highest number of each series, so a restore can check
//! the copy and knows where numbering stood.
//!
//! A restore never hands out a number twice: the backup does not know the numbers issued after it
//! was taken, so before the restored station can issue, every series skips a block (or continues
//! after a high-water mark the operator names), recorded in the numbers table and the audit log
//! ([`crate::store::restore`]). It works in a staging folder beside the target and moves it into
//! place only when everything checked out.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{ChainHead, verify_chain, verify_jobs};

pub mod cli;
use crate::store::restore::{NumberingRule, ReservedBlock};
use crate::store::{Store, StoreError};

const MAGIC: &[u8; 16] = b"ECARD-BACKUP\0\0v1";
const SEGMENT: usize = 1 << 20;
const TAG: usize = 16;
/// STREAM-BE32 takes a 7-byte nonce prefix (12 bytes less the counter and the last-block flag).
const NONCE_PREFIX: usize = 7;
/// A header larger than this is not ours.
const MAX_HEADER: u32 = 4096;
/// A manifest larger than this is not ours.
const MAX_MANIFEST: u32 = 1 << 20;

/// Why a backup or a restore did not happen. Nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The backup key file is missing or malformed.
    #[error("backup key {path}: {problem}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The file is not an ecard backup, or not one this release reads.
    #[error("{path} is not an ecard backup: {problem}")]
    NotABackup {
        /// The file.
        path: String,
        /// What was found.
        problem: String,
    },
    /// Authentication failed: wrong key, or the file was edited or cut short.
    #[error(
        "{path} failed authentication at segment {segment}: the file was truncated or altered, or the key is not the one it was made with; nothing was restored"
    )]
    Tampered {
        /// The file.
        path: String,
        /// The segment that did not verify (0 is the first).
        segment: u64,
    },
    /// The decrypted copy does not hold together (hash, audit chain).
    #[error("{path}: the restored database does not check out: {problem}; nothing was restored")]
    Inconsistent {
        /// The backup file.
        path: String,
        /// What did not match.
        problem: String,
    },
    /// The target data directory holds files.
    #[error(
        "the data directory {path} is not empty; restore into an empty one, or pass --force to keep the old one aside as {aside}"
    )]
    NotEmpty {
        /// The target.
        path: String,
        /// Where --force would move it.
        aside: String,
    },
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The 256-bit key that encrypts backups, kept in a 0600 file of 64 hex digits, away from the
/// data directory (a backup with its key beside it protects nothing).
pub struct BackupKey([u8; 32]);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(..)")
    }
}

impl BackupKey {
    /// Reads a key file.
    pub fn load(path: &Path) -> Result<BackupKey, BackupError> {
        let bad = |problem: String| BackupError::Key {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let bytes = hex::decode(text.trim())
            .map_err(|e| bad(format!("not hex ({e}); it must hold 64 hex digits")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            bad(format!(
                "{} bytes; it must hold 32 (64 hex digits)",
                b.len()
            ))
        })?;
        Ok(BackupKey(key))
    }

    /// Makes a new random key and writes it to `path` (created 0600; an existing file is kept
    /// and refused, so a key is never overwritten).
    pub fn create(path: &Path) -> Result<BackupKey, BackupError> {
        if path.exists() {
            return Err(BackupError::Key {
                path: path.display().to_string(),
                problem: "already exists; a key file is never overwritten".into(),
            });
        }
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        crate::config::write_private(path, format!("{}\n", hex::encode(key)).as_bytes())
            .map_err(io(path))?;
        Ok(BackupKey(key))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0))
    }
}

/// The clear header: what a reader needs before decrypting.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    cipher: String,
    nonce: String,
}

/// What a backup holds, inside the encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// 1.
    pub format: u32,
    /// When it was taken, RFC 3339 UTC.
    pub created: String,
    /// The station whose database it is.
    pub station_id: String,
    /// The schema version of the copy.
    pub schema_version: i64,
    /// Each audit chain's head (last sequence number and hash).
    #[serde(default)]
    pub audit_heads: Vec<ChainHead>,
    /// A backup taken before the audit log had a chain per station: its one head, which is
    /// chain `""` once restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<(i64, String)>,
    /// Jobs in the copy.
    pub jobs: usize,
    /// Per series: the highest number given out (9 digits), if any.
    pub highest_numbers: Vec<(u8, Option<String>)>,
    /// SHA-256 (hex) of the database bytes.
    pub database_sha256: String,
    /// Size of the database, bytes.
    pub database_bytes: u64,
}

impl Manifest {
    /// The audit heads the backed-up database must have once opened (and so migrated).
    pub fn expected_heads(&self) -> Vec<ChainHead> {
        match &self.audit_head {
            Some((seq, hash)) if *seq > 0 => vec![ChainHead {
                chain: String::new(),
                seq: *seq,
                hash: hash.clone(),
            }],
            Some(_) => Vec::new(),
            None => self.audit_heads.clone(),
        }
    }
}

/// What [`describe`] reads: schema version, audit heads, job count, highest number per series.
type Description = (i64, Vec<ChainHead>, usize, Vec<(u8, Option<String>)>);

/// Checks a store's audit chain and reads what a manifest records.
fn describe(store: &Store) -> Result<Description, String> {
    let versions = store.schema_versions().map_err(|e| e.to_string())?;
    let version = versions.last().map_or(0, |v| v.0);
    let (entries, head, jobs) = store.audit_snapshot().map_err(|e| e.to_string())?;
    verify_chain(&entries, &head).map_err(|e| format!("audit log: {e}"))?;
    verify_jobs(&entries, &jobs).map_err(|e| format!("audit log: {e}"))?;
    let highest = store
        .series_state()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(s, high, _)| (s, high.map(|h| format!("{s:02}{h:07}"))))
        .collect();
    Ok((version, head, jobs.len(), highest))
}

/// Takes a backup of the SQLite database `db` into `out` (written to a temporary name and
/// renamed, mode 0600). The copy is made through SQLite's online backup API into a private
/// folder beside the database, checked (audit chain), encrypted, and deleted.
pub fn backup_sqlite(
    db: &Path,
    out: &Path,
    key: &BackupKey,
    station_id: &str,
    created: &str,
) -> Result<Manifest, BackupError> {
    let dir = db.parent().unwrap_or(Path::new("."));
    let staging = private_dir(dir, ".backup")?;
    let result = (|| {
        let copy = staging.join("station.db");
        {
            let src = rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| sqlite(db, e))?;
            let mut dst = rusqlite::Connection::open(&copy).map_err(|e| sqlite(&copy, e))?;
            let backup =
                rusqlite::backup::Backup::new(&src, &mut dst).map_err(|e| sqlite(db, e))?;
            backup
                .run_to_completion(1024, std::time::Duration::ZERO, None)
                .map_err(|e| sqlite(db, e))?;
        }
        // The copy is a database in its own right: leave it in rollback-journal mode, one file.
        let (version, head, jobs, highest) = {
            let store = Store::open_sqlite(&copy)?;
            describe(&store).map_err(|problem| BackupError::Inconsistent {
                path: db.display().to_string(),
                problem,
            })?
        };
        checkpoint_single_file(&copy)?;
        let (sha, size) = sha256_file(&copy)?;
        let manifest = Manifest {
            format: 1,
            created: created.to_string(),
            station_id: station_id.to_string(),
            schema_version: version,
            audit_heads: head,
            audit_head: None,
            jobs,
            highest_numbers: highest,
            database_sha256: sha,
            database_bytes: size,
        };
        let tmp = out.with_extension("tmp-backup");
        let written = write_encrypted(&copy, &manifest, key, &tmp);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, out).map_err(io(out))?;
        Ok(manifest)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn sqlite(path: &Path, e: rusqlite::Error) -> BackupError {
    BackupError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Folds a copy's WAL into its main file, so the database is one file.
fn checkpoint_single_file(copy: &Path) -> Result<(), BackupError> {
    let conn = rusqlite::Connection::open(copy).map_err(|e| sqlite(copy, e))?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
        .map_err(|e| sqlite(copy, e))?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = BufReader::new(File::open(path).map_err(io(path))?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}

/// A folder `<parent>/<prefix>-<random>` created 0700.
fn private_dir(parent: &Path, prefix: &str) -> Result<PathBuf, BackupError> {
    let dir = parent.join(format!("{prefix}-{:016x}", OsRng.next_u64()));
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(&dir).map_err(io(&dir))?;
    Ok(dir)
}

fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(io(path))
}

fn write_encrypted(
    db: &Path,
    manifest: &Manifest,
    key: &BackupKey,
    out: &Path,
) -> Result<(), BackupError> {
    let mut nonce = [0u8; NONCE_PREFIX];
    OsRng.fill_bytes(&mut nonce);
    let header = serde_json::to_vec(&Header {
        format: 1,
        cipher: "AES-256-GCM STREAM-BE32, 1 MiB segments".into(),
        nonce: hex::encode(nonce),
    })
    .map_err(|e| BackupError::Io {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;
    let manifest_json = serde_json::to_vec(manifest).map_err(|e| BackupError::Io {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut w = BufWriter::new(create_private(out)?);
    w.write_all(MAGIC).map_err(io(out))?;
    w.write_all(&(header.len() as u32).to_be_bytes())
        .map_err(io(out))?;
    w.write_all(&header).map_err(io(out))?;

    let mut enc = EncryptorBE32::from_aead(key.cipher(), nonce.as_slice().into());
    let mut plain = Vec::with_capacity(4 + manifest_json.len());
    plain.extend_from_slice(&(manifest_json.len() as u32).to_be_bytes());
    plain.extend_from_slice(&manifest_json);
    let mut src = BufReader::new(File::open(db).map_err(io(db))?);
    let mut buf = vec![0u8; SEGMENT];
    let mut pending: Vec<u8> = plain;
    loop {
        // Fill one segment; a segment is sealed as "last" only when the input is exhausted.
        while pending.len() < SEGMENT {
            let want = SEGMENT - pending.len();
            let n = src.read(&mut buf[..want]).map_err(io(db))?;
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
        }
        if pending.len() < SEGMENT {
            let sealed = enc
                .encrypt_last(Payload {
                    msg: &pending,
                    aad: &header,
                })
                .map_err(|_| encrypt_failed(out))?;
            w.write_all(&sealed).map_err(io(out))?;
            break;
        }
        // A full segment: it is the last one if nothing follows.
        let n = src.read(&mut buf[..1]).map_err(io(db))?;
        if n == 0 {
            let sealed = enc
                .encrypt_last(Payload {
                    msg: &pending,
                    aad: &header,
                })
                .map_err(|_| encrypt_failed(out))?;
            w.write_all(&sealed).map_err(io(out))?;
            break;
        }
        let sealed = enc
            .encrypt_next(Payload {
                msg: &pending,
                aad: &header,
            })
            .map_err(|_| encrypt_failed(out))?;
        w.write_all(&sealed).map_err(io(out))?;
        pending.clear();
        pending.push(buf[0]);
    }
    let f = w.into_inner().map_err(|e| BackupError::Io {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;
    f.sync_all().map_err(io(out))
}

fn encrypt_failed(out: &Path) -> BackupError {
    BackupError::Io {
        path: out.display().to_string(),
        reason: "encryption failed (segment too large)".into(),
    }
}

/// Decrypts `file` into `db` (created 0600) and returns its manifest; on any failure `db` is
/// removed.
fn read_encrypted(file: &Path, key: &BackupKey, db: &Path) -> Result<Manifest, BackupError> {
    let not_ours = |problem: &str| BackupError::NotABackup {
        path: file.display().to_string(),
        problem: problem.to_string(),
    };
    let mut r = BufReader::new(File::open(file).map_err(io(file))?);
    let mut magic = [0u8; 16];
    r.read_exact(&mut magic)
        .map_err(|_| not_ours("shorter than the header"))?;
    if &magic != MAGIC {
        return Err(not_ours(
            "the file does not start with the ecard backup mark",
        ));
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|_| not_ours("shorter than the header"))?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER {
        return Err(not_ours("the header is too long"));
    }
    let mut header = vec![0u8; len as usize];
    r.read_exact(&mut header)
        .map_err(|_| not_ours("the header is cut short"))?;
    let h: Header =
        serde_json::from_slice(&header).map_err(|_| not_ours("the header is not readable"))?;
    if h.format != 1 {
        return Err(not_ours(&format!(
            "format {} (this release reads format 1)",
            h.format
        )));
    }
    let nonce: [u8; NONCE_PREFIX] = hex::decode(&h.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| not_ours("the header's nonce is malformed"))?;
    let mut dec = DecryptorBE32::from_aead(key.cipher(), nonce.as_slice().into());
    let mut out = BufWriter::new(create_private(db)?);
    let mut manifest: Option<Manifest> = None;
    let mut head_buf: Vec<u8> = Vec::new();
    let mut segment = 0u64;
    let mut current = read_chunk(&mut r, SEGMENT + TAG).map_err(io(file))?;
    let tampered = |segment| BackupError::Tampered {
        path: file.display().to_string(),
        segment,
    };
    loop {
        if current.is_empty() {
            return Err(tampered(segment));
        }
        let next = if current.len() == SEGMENT + TAG {
            read_chunk(&mut r, SEGMENT + TAG).map_err(io(file))?
        } else {
            Vec::new()
        };
        let payload = Payload {
            msg: &current,
            aad: &header,
        };
        let last = next.is_empty();
        let plain = if last {
            // `decrypt_last` consumes the decryptor; the loop ends here either way.
            let d = std::mem::replace(
                &mut dec,
                DecryptorBE32::from_aead(key.cipher(), nonce.as_slice().into()),
            );
            d.decrypt_last(payload).map_err(|_| tampered(segment))?
        } else {
            dec.decrypt_next(payload).map_err(|_| tampered(segment))?
        };
        let mut body: &[u8] = &plain;
        if manifest.is_none() {
            head_buf.extend_from_slice(body);
            body = &[];
            if head_buf.len() >= 4 {
                let mlen = u32::from_be_bytes([head_buf[0], head_buf[1], head_buf[2], head_buf[3]]);
                if mlen > MAX_MANIFEST {
                    return Err(not_ours("the manifest is too long"));
                }
                let mlen = mlen as usize;
                if head_buf.len() >= 4 + mlen {
                    manifest = Some(
                        serde_json::from_slice(&head_buf[4..4 + mlen])
                            .map_err(|_| not_ours("the manifest is not readable"))?,
                    );
                    out.write_all(&head_buf[4 + mlen..]).map_err(io(db))?;
                    head_buf.clear();
                }
            }
        }
        out.write_all(body).map_err(io(db))?;
        if last {
            break;
        }
        current = next;
        segment += 1;
    }
    let f = out.into_inner().map_err(|e| BackupError::Io {
        path: db.display().to_string(),
        reason: e.to_string(),
    })?;
    f.sync_all().map_err(io(db))?;
    manifest.ok_or_else(|| not_ours("no manifest"))
}

fn read_chunk(r: &mut impl Read, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The skipped number blocks.
    pub blocks: Vec<ReservedBlock>,
    /// Where an old data directory was moved (with `--force`).
    pub old_kept_at: Option<PathBuf>,
}

/// Restores `file` into the data directory `data_dir` (SQLite: `station.db`), applying `rule`
/// to the numbering before the database is put in place.
pub fn restore_sqlite(
    file: &Path,
    key: &BackupKey,
    data_dir: &Path,
    rule: &NumberingRule,
    force: bool,
    now_ms: i64,
) -> Result<Restored, BackupError> {
    let aside = data_dir.with_file_name(format!(
        "{}.before-restore-{now_ms}",
        data_dir
            .file_name()
            .map_or_else(|| "data".into(), |n| n.to_string_lossy())
    ));
    let occupied = data_dir.exists()
        && std::fs::read_dir(data_dir)
            .map_err(io(data_dir))?
            .next()
            .is_some();
    if occupied && !force {
        return Err(BackupError::NotEmpty {
            path: data_dir.display().to_string(),
            aside: aside.display().to_string(),
        });
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = private_dir(&parent, ".ecard-restore")?;
    let result = (|| {
        let db = staging.join("station.db");
        let manifest = read_encrypted(file, key, &db)?;
        let inconsistent = |problem: String| BackupError::Inconsistent {
            path: file.display().to_string(),
            problem,
        };
        let (sha, size) = sha256_file(&db)?;
        if sha != manifest.database_sha256 || size != manifest.database_bytes {
            return Err(inconsistent(format!(
                "the database's SHA-256 is {sha} ({size} bytes), the manifest says {} ({} bytes)",
                manifest.database_sha256, manifest.database_bytes
            )));
        }
        let store = Store::open_sqlite(&db)?;
        let (_, head, _, _) = describe(&store).map_err(inconsistent)?;
        let expected = manifest.expected_heads();
        if head != expected {
            return Err(inconsistent(format!(
                "the audit heads are {}, the manifest says {}",
                crate::audit::describe_heads(&head),
                crate::audit::describe_heads(&expected)
            )));
        }
        let why = format!(
            "restored from the backup of station {} taken {}",
            manifest.station_id, manifest.created
        );
        let blocks = store.secure_numbering(rule, &why, "station:restore", now_ms)?;
        drop(store);
        Ok((manifest, blocks))
    })();
    let (manifest, blocks) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let old_kept_at = if occupied {
        std::fs::rename(data_dir, &aside).map_err(io(data_dir))?;
        Some(aside)
    } else {
        if data_dir.exists() {
            std::fs::remove_dir(data_dir).map_err(io(data_dir))?;
        }
        None
    };
    std::fs::rename(&staging, data_dir).map_err(io(data_dir))?;
    Ok(Restored {
        manifest,
        blocks,
        old_kept_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A station database of about 3 MiB (several segments), its backup, and the key.
    fn big_backup(dir: &Path) -> (PathBuf, BackupKey, Vec<u8>) {
        let db = dir.join("station.db");
        let store = Store::open_sqlite(&db).unwrap();
        store.ensure_series(77).unwrap();
        store
            .exec_raw("INSERT INTO job_inputs (job_id, record, chip_images) VALUES (999, hex(randomblob(1600000)), '')")
            .unwrap();
        drop(store);
        let key = BackupKey::create(&dir.join("key")).unwrap();
        let out = dir.join("b");
        let m = backup_sqlite(&db, &out, &key, "s-1", "2026-12-04T00:00:00Z").unwrap();
        assert!(
            m.database_bytes > 3 * SEGMENT as u64,
            "{}",
            m.database_bytes
        );
        let bytes = std::fs::read(&out).unwrap();
        (out, key, bytes)
    }

    /// A manifest written before the audit log had a chain per station names one head; once
    /// restored (and migrated) that log is chain `""`, which is what is then expected.
    #[test]
    fn a_manifest_of_one_audit_head_expects_chain_empty() {
        let json = r#"{"format":1,"created":"2026-12-01T00:00:00Z","station_id":"s-1","schema_version":8,
            "audit_head":[14,"ab"],"jobs":3,"highest_numbers":[[77,"770000003"]],
            "database_sha256":"00","database_bytes":1}"#;
        let m: Manifest = serde_json::from_str(json).unwrap();
        assert_eq!(
            m.expected_heads(),
            vec![ChainHead {
                chain: String::new(),
                seq: 14,
                hash: "ab".into()
            }]
        );
        let empty: Manifest = serde_json::from_str(&json.replace("[14,", "[0,")).unwrap();
        assert_eq!(empty.expected_heads(), vec![]);
    }

    fn header_end(bytes: &[u8]) -> usize {
        16 + 4 + u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize
    }

    #[test]
    fn a_multi_segment_backup_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (out, key, _) = big_backup(dir.path());
        let target = dir.path().join("restored");
        let r = restore_sqlite(&out, &key, &target, &NumberingRule::Reserve(5), false, 1).unwrap();
        assert_eq!(r.blocks.len(), 1);
        assert_eq!(r.blocks[0].first.as_deref(), Some("770000001"));
        assert_eq!(r.blocks[0].next, "770000006");
        let store = Store::open_sqlite(&target.join("station.db")).unwrap();
        assert_eq!(store.inputs(999).unwrap().0.len(), 3_200_000);
    }

    #[test]
    fn dropped_or_reordered_segments_fail_authentication() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key, bytes) = big_backup(dir.path());
        let start = header_end(&bytes);
        let seg = SEGMENT + TAG;
        assert!(bytes.len() > start + 3 * seg);
        let cut_at_boundary = bytes[..start + 2 * seg].to_vec();
        let mut swapped = bytes.clone();
        let (a, b) = swapped[start..].split_at_mut(seg);
        a.swap_with_slice(&mut b[..seg]);
        for (what, damaged, segment) in [
            ("cut after two whole segments", cut_at_boundary, 1),
            ("first two segments swapped", swapped, 0),
        ] {
            let file = dir.path().join("damaged");
            std::fs::write(&file, &damaged).unwrap();
            let target = dir.path().join("never");
            match restore_sqlite(&file, &key, &target, &NumberingRule::Reserve(1), false, 1) {
                Err(BackupError::Tampered { segment: s, .. }) => assert_eq!(s, segment, "{what}"),
                other => panic!("{what}: {other:?}"),
            }
            assert!(!target.exists(), "{what}");
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".ecard-restore")
                })
                .collect();
            assert!(leftovers.is_empty(), "{what}: staging left behind");
        }
    }
}
