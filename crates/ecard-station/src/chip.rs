//! The real card path of a lane: [`ChipEncoder`] personalizes a blank through `ecard_chip::perso`
//! (a simulated card image from `ecard-sim`, or a card in a PC/SC reader), reads it back and runs
//! the checkpoint's checks (`ecard_chip::verify`) with Active Authentication; and [`Pki`], the
//! Document Signer that signs EF.SOD (a demo PKI is generated under the data dir when none is
//! configured).
//!
//! Simulated cards move through folders the way cards move through a machine: a blank is taken
//! from the blanks folder into the lane's slot (`DATA_DIR/lanes/<lane>/job-<id>.img`), the printer
//! moves it to `DATA_DIR/cards/<number>.img`, a spoiled card goes to `DATA_DIR/rejects/`. So after
//! a crash the card of a job is where its last persisted state says. This module logs no holder
//! data, and never reports a card as verified that did not pass every check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecard_chip::issue::{ChipImages, card_content, issue};
use ecard_chip::lds::{CardContent, LdsFiles};
use ecard_chip::perso::{LockOutcome, PersoReport};
use ecard_chip::pki::{self, PkiConfig, SelfTest, SelfTestError, Signer, SoftwareSigner};
use ecard_chip::profile::Profile;
use ecard_chip::transport::Transport;
use ecard_chip::verify::{AaEvidence, AaOutcome, Outcome, VerifyOptions};
use ecard_model::Holder;
use ecard_model::dates::moscow_date;
use ecard_sim::{Card, CardImage, SimSpec, SimTransport};
use x509_cert::Certificate;

use crate::lane::{CardEncoder, CardError, EncodeJob, EncodedCard, WrittenDg2};
use crate::signing::{DsSigning, Rotation};

/// The signing side: the trusted CSCA(s) and the Document Signer ([`Pki::signing`]; a token
/// folder's DS follows `ecard pki rotate-ds` from the next job on).
pub struct Pki {
    /// Trust anchors the lane's verification uses.
    pub trust: Vec<Certificate>,
    pub(crate) current: std::sync::RwLock<Arc<DsSigning>>,
    pub(crate) rotation: Option<Rotation>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ds_sha256", &self.signing().ds_sha256)
            .finish_non_exhaustive()
    }
}

/// Why the PKI could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiLoadError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: {reason}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The token of a `pki.toml` folder refused (names module, token, label).
    #[error("{0}")]
    Token(#[from] ecard_pkcs11::FolderError),
    /// A configured PEM key file while the configuration does not allow file keys.
    #[error(
        "{path}: a private key in a file is insecure; put the keys in a token (`ecard pki init --pkcs11-module ...`, then ds_key = \"DIR/pki.toml\") or set allow_file_keys = true for development"
    )]
    FileKeyRefused {
        /// The key file.
        path: PathBuf,
    },
    /// The signer failed its start-up self-test.
    #[error("{0}")]
    SelfTest(#[from] SelfTestError),
}

fn read(path: &Path) -> Result<Vec<u8>, PkiLoadError> {
    std::fs::read(path).map_err(|source| PkiLoadError::Io {
        path: path.to_owned(),
        source,
    })
}

impl Pki {
    /// Loads a CSCA bundle (trust), a DS certificate and the DS key: a PKCS#8 PEM file
    /// (insecure), or, when `ds_key` is a `pki.toml`, the key it names in its PKCS#11 token
    /// (PIN from the folder's demo PIN file or `ECARD_PKCS11_PIN`).
    pub fn load(csca: &Path, ds_cert: &Path, ds_key: &Path) -> Result<Pki, PkiLoadError> {
        let content = |path: &Path, reason: String| PkiLoadError::Content {
            path: path.to_owned(),
            reason,
        };
        let trust =
            pki::read_certificates(&read(csca)?).map_err(|e| content(csca, e.to_string()))?;
        let ds =
            pki::read_certificate(&read(ds_cert)?).map_err(|e| content(ds_cert, e.to_string()))?;
        if ds_key.file_name() == Some(std::ffi::OsStr::new(ecard_pkcs11::PKI_TOML)) {
            let dir = ds_key.parent().unwrap_or(Path::new("."));
            let (toml, token) = ecard_pkcs11::open_folder(dir, None)?;
            let signer = token
                .signer(&toml.ds_key)
                .map_err(ecard_pkcs11::FolderError::from)?;
            let mut pki = Pki::new(trust, ds, Arc::new(signer)).map_err(|r| content(ds_cert, r))?;
            pki.rotation = Some(Rotation {
                dir: dir.to_owned(),
                token,
                label: std::sync::Mutex::new(toml.ds_key),
            });
            return Ok(pki);
        }
        let key_pem = String::from_utf8(read(ds_key)?)
            .map_err(|_| content(ds_key, "is not PEM text".into()))?;
        let ds_key_signer =
            SoftwareSigner::from_pkcs8_pem(&key_pem).map_err(|e| content(ds_key, e.to_string()))?;
        Pki::new(trust, ds, Arc::new(ds_key_signer)).map_err(|r| content(ds_cert, r))
    }

    /// The PKCS#11 token holding the keys, when they are in one (`pki.toml`).
    pub fn token(&self) -> Option<&ecard_pkcs11::Token> {
        self.rotation.as_ref().map(|r| &r.token)
    }

    /// Whole days until the DS's private-key usage period ends (`None`: no end stated); the
    /// `ecard_ds_signing_days_left` gauge of `/metrics`.
    pub fn ds_days_left(&self, now: time::OffsetDateTime) -> Option<i64> {
        let (_, until) = pki::private_key_usage_period(&self.signing().ds)?;
        until.map(|u| (u - now).whole_days())
    }

    /// The start-up self-test (ECARD.md section 12): DS chains to a trusted CSCA, a test
    /// signature verifies with the DS certificate, the signing period covers `now`.
    pub fn self_test(&self, now: time::OffsetDateTime) -> Result<SelfTest, SelfTestError> {
        let s = self.signing();
        pki::self_test(&self.trust, &s.ds, s.ds_key.as_ref(), now)
    }

    /// The Document Signer to sign with now: for a token folder, the one `pki.toml` names
    /// (after `ecard pki rotate-ds`, the new one, once it passed the self-test).
    pub fn signing(&self) -> Arc<DsSigning> {
        if let Some(next) = self.rotation.as_ref().and_then(|r| r.next(&self.trust)) {
            let mut w = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *w = Arc::new(next);
        }
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every Document Signer certificate this station has signed with: the current one and those
    /// `ecard pki rotate-ds` kept in the token folder (`ds-<label>.pem`). A verifier given only
    /// the current one would call the cards of the previous signer unknown.
    pub fn document_signers(&self) -> Vec<Certificate> {
        use der::DecodePem;
        let mut out = vec![self.signing().ds.clone()];
        let Some(r) = &self.rotation else {
            return out;
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(&r.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ds-") && n.ends_with(".pem"))
            })
            .collect();
        names.sort();
        for p in names {
            match std::fs::read_to_string(&p).map(|t| Certificate::from_pem(t.as_bytes())) {
                Ok(Ok(c)) if !out.contains(&c) => out.push(c),
                Ok(Ok(_)) => {}
                _ => {
                    tracing::warn!(file = %p.display(), "an earlier Document Signer certificate does not load")
                }
            }
        }
        out
    }

    fn new(
        trust: Vec<Certificate>,
        ds: Certificate,
        ds_key: Arc<dyn Signer + Send + Sync>,
    ) -> Result<Pki, String> {
        Ok(Pki {
            trust,
            current: std::sync::RwLock::new(Arc::new(DsSigning::new(ds, ds_key)?)),
            rotation: None,
        })
    }

    /// The demo PKI under `dir` (`csca.pem`, `ds.pem`, `ds.key`): loaded when present, generated
    /// otherwise (key file mode 0600). For trials and tests, not for issuing real cards.
    pub fn demo(dir: &Path) -> Result<Pki, PkiLoadError> {
        let (csca, ds, key) = (dir.join("csca.pem"), dir.join("ds.pem"), dir.join("ds.key"));
        let toml = dir.join(ecard_pkcs11::PKI_TOML);
        if csca.exists() && ds.exists() && toml.exists() {
            return Pki::load(&csca, &ds, &toml);
        }
        if csca.exists() && ds.exists() && key.exists() {
            return Pki::load(&csca, &ds, &key);
        }
        if ecard_pkcs11::runs_with_folder_token(dir) {
            ecard_pkcs11::folder_token_pki(
                dir,
                &PkiConfig::default(),
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| PkiLoadError::Content {
                path: dir.to_owned(),
                reason: e.to_string(),
            })?;
            println!(
                "keys in a SoftHSM2 token made for this data directory: {} (PIN in token/token.pin, mode 0600)",
                dir.join("token").display()
            );
            return Pki::load(&csca, &ds, &toml);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| PkiLoadError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let content = |reason: String| PkiLoadError::Content {
            path: dir.to_owned(),
            reason,
        };
        let generated = pki::init(
            &PkiConfig::default(),
            time::OffsetDateTime::now_utc(),
            &mut rand_core::OsRng,
        )
        .map_err(|e| content(e.to_string()))?;
        let csca_pem = generated.csca_pem().map_err(|e| content(e.to_string()))?;
        let ds_pem = generated.ds_pem().map_err(|e| content(e.to_string()))?;
        let key_pem = generated
            .ds_key
            .to_pkcs8_pem()
            .map_err(|e| content(e.to_string()))?;
        crate::config::write_private(&key, key_pem.as_bytes()).map_err(io(&key))?;
        std::fs::write(&ds, ds_pem).map_err(io(&ds))?;
        std::fs::write(&csca, csca_pem).map_err(io(&csca))?;
        Pki::new(
            vec![generated.csca],
            generated.ds,
            Arc::new(generated.ds_key),
        )
        .map_err(content)
    }
}

/// For a station without a configured PKI whose `dir` holds no file-key PKI: fails when
/// SoftHSM2 is missing (naming the package), and otherwise, unless this process already runs
/// with the folder token's `SOFTHSM2_CONF` (SoftHSM2 reads it when it loads, and a program
/// cannot safely set its own environment), runs the same command again with it in its place
/// (exec).
pub fn reexec_for_folder_token(dir: &Path) -> Result<(), PkiLoadError> {
    let file_pki = dir.join("ds.key").exists() && dir.join("csca.pem").exists();
    if file_pki || ecard_pkcs11::runs_with_folder_token(dir) {
        return Ok(());
    }
    let content = |reason: String| PkiLoadError::Content {
        path: dir.to_owned(),
        reason,
    };
    let module = ecard_pkcs11::softhsm::SOFTHSM2_MODULE;
    if !Path::new(module).exists() {
        return Err(content(format!(
            "the station keeps its keys in a SoftHSM2 token, and SoftHSM2 is not installed ({module} missing): install it with `apt-get install softhsm2`, or configure [pki]"
        )));
    }
    if std::env::var_os("ECARD_REEXEC").is_some() {
        return Err(content(
            "SOFTHSM2_CONF does not name the folder token".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(|e| content(e.to_string()))?;
    // exec: the same process (pid, signals) goes on with the variable set.
    let e = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("SOFTHSM2_CONF", ecard_pkcs11::folder_token_conf(dir))
            .env("ECARD_REEXEC", "1"),
    );
    Err(content(format!(
        "cannot run the station again with SOFTHSM2_CONF: {e}"
    )))
}

/// Where a lane's cards come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardSource {
    /// Simulated card images (`sim:<dir>`): blanks are `*.img` files in `blanks`. With
    /// `make_blanks`, an empty folder gets a fresh simulated blank of the lane's profile (the
    /// embedded defaults do this so `ecard station serve` works out of the box).
    Sim {
        /// The blanks folder.
        blanks: PathBuf,
        /// Make a blank when the folder is empty.
        make_blanks: bool,
    },
    /// A PC/SC reader (`pcsc:<reader name>`): the operator puts a blank in, takes the card out.
    Pcsc {
        /// The reader's name.
        reader: String,
    },
}

/// The issuing authority written to EF.DG12 and printed on the card's face.
pub const ISSUING_AUTHORITY: &str = "MMC MOSCOW";

/// The chip path of one lane.
pub struct ChipEncoder {
    lane: String,
    source: CardSource,
    profile: Profile,
    pki: Arc<Pki>,
    data_dir: PathBuf,
    issuing_authority: String,
    real_time: bool,
    qa_store: Option<(Arc<crate::store::Store>, crate::qa::sampling::SamplingPlan)>,
    /// Where the blanks' SCP03 keys come from (ECARD.md section 11).
    transport_keys: Arc<dyn ecard_chip::scp03::TransportKeys>,
    /// The blank-stock ledger and this station's id, when the ledger is kept.
    stock: Option<(Arc<crate::store::Store>, String)>,
    /// The signer failed on the last card: no job is claimed until a probe signature works.
    signer_down: std::sync::atomic::AtomicBool,
}

/// A signer that remembers why it failed, so the lane can tell the signer's outage from the
/// card's fault without reading error texts.
struct WatchedSigner<'a> {
    inner: &'a (dyn Signer + Send + Sync),
    failed: std::cell::RefCell<Option<String>>,
}

impl Signer for WatchedSigner<'_> {
    fn public_key(&self) -> p256::PublicKey {
        self.inner.public_key()
    }
    fn sign_sha256_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, ecard_chip::pki::SignerError> {
        self.inner.sign_sha256_digest(digest).inspect_err(|e| {
            self.failed.replace(Some(e.to_string()));
        })
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn insecure(&self) -> bool {
        self.inner.insecure()
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Loads the issuer's master key of the blanks' transport keys from `path`: hex (32, 48 or 64
/// digits), whitespace ignored. The error names the file and what is wrong.
pub fn load_kmc_file(path: &Path) -> Result<ecard_chip::scp03::KmcKeys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the KMC file {}: {e}", path.display()))?;
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&hex).map_err(|e| {
        format!(
            "the KMC file {} is not hex: {e}; it holds the key as 32, 48 or 64 hex digits",
            path.display()
        )
    })?;
    ecard_chip::scp03::KmcKeys::new(&bytes).map_err(|_| {
        format!(
            "the KMC file {} holds {} bytes; an AES key is 16, 24 or 32",
            path.display(),
            bytes.len()
        )
    })
}

fn card_err(job: i64, step: &str, reason: impl std::fmt::Display) -> CardError {
    CardError::Card {
        job,
        step: step.to_string(),
        reason: reason.to_string(),
    }
}

impl ChipEncoder {
    /// A lane's encoder. Cards go through `data_dir/lanes/<lane>`, `data_dir/cards`,
    /// `data_dir/rejects`.
    pub fn new(
        lane: &str,
        source: CardSource,
        profile: Profile,
        pki: Arc<Pki>,
        data_dir: &Path,
    ) -> ChipEncoder {
        ChipEncoder {
            lane: lane.to_string(),
            source,
            profile,
            pki,
            data_dir: data_dir.to_owned(),
            issuing_authority: ISSUING_AUTHORITY.into(),
            real_time: false,
            qa_store: None,
            transport_keys: Arc::new(ecard_chip::scp03::KmcKeys::test_key()),
            stock: None,
            signer_down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The source of the blanks' SCP03 keys (default: the GlobalPlatform test key).
    pub fn with_transport_keys(
        mut self,
        keys: Arc<dyn ecard_chip::scp03::TransportKeys>,
    ) -> ChipEncoder {
        self.transport_keys = keys;
        self
    }

    /// Keeps the blank-stock ledger in `store`: a blank is taken only when its serial is in
    /// stock and unused, and ends issued or spoiled (ECARD.md section 11). A station whose ledger
    /// holds no blank at all has not started one: its blanks are not checked.
    pub fn with_stock(mut self, store: Arc<crate::store::Store>, station: &str) -> ChipEncoder {
        self.stock = Some((store, station.to_string()));
        self
    }

    /// Simulated cards take the time their profile's timing model says (EEPROM page writes,
    /// link speed, APDU latency) while being written, instead of none.
    pub fn with_real_time(mut self, on: bool) -> ChipEncoder {
        self.real_time = on;
        self
    }

    /// Records what each verified card holds (EF hashes, EF.SOD, DS certificate, lock probe) in
    /// `store` for QA (see [`crate::qa`]), marking the cards `plan` samples for inspection.
    pub fn with_qa(
        mut self,
        store: Arc<crate::store::Store>,
        plan: crate::qa::sampling::SamplingPlan,
    ) -> ChipEncoder {
        self.qa_store = Some((store, plan));
        self
    }

    fn slot(&self, job: i64) -> PathBuf {
        self.data_dir
            .join("lanes")
            .join(&self.lane)
            .join(format!("job-{job}.img"))
    }

    fn output(&self, job: &EncodeJob) -> PathBuf {
        self.data_dir
            .join("cards")
            .join(format!("{}.img", job.document_number.mrz_form()))
    }

    /// Moves a blank the ledger refused from the job's slot to `DATA_DIR/to-destroy/`.
    fn put_aside_unknown(&self, job: i64, slot: &Path, serial: &str) -> Result<(), CardError> {
        let dir = self.data_dir.join("to-destroy");
        std::fs::create_dir_all(&dir).map_err(|e| card_err(job, "putting a blank aside", e))?;
        let dst = dir.join(format!("unknown-blank-{serial}.img"));
        std::fs::rename(slot, &dst).map_err(|e| card_err(job, "putting a blank aside", e))?;
        tracing::warn!(lane = %self.lane, serial, "blank not in stock: put aside to be destroyed");
        Ok(())
    }

    /// Moves a blank into the job's slot (rename: two lanes sharing a folder never take the same
    /// blank) and loads it, or makes a fresh one in memory (saved to the slot once written).
    fn take_blank(
        &self,
        job: i64,
        blanks: &Path,
        make: bool,
    ) -> Result<(PathBuf, Card), CardError> {
        let slot = self.slot(job);
        if let Some(dir) = slot.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| card_err(job, "preparing the lane slot", e))?;
        }
        for blank in list_blanks(blanks) {
            if std::fs::rename(&blank, &slot).is_ok() {
                let image =
                    CardImage::load(&slot).map_err(|e| card_err(job, "loading the blank", e))?;
                return Ok((slot, image.into_card()));
            }
        }
        if make {
            let card = Card::new_blank(&SimSpec::from_profile(&self.profile));
            // This lane plays the card maker too: a blank it makes enters the ledger as delivered.
            if let (Some((store, _)), Some(serial)) = (&self.stock, card.serial())
                && store.stock_kept().unwrap_or(false)
            {
                let line = crate::stock::ManifestLine {
                    serial,
                    batch: format!("made-by-{}", self.lane),
                    key_version: self.profile.transport.key_version,
                };
                let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!(
                    "{},{},{}",
                    line.serial, line.batch, line.key_version
                )));
                let file = format!("made by lane {}", self.lane);
                store
                    .stock_import(&[line], &file, &sha, &self.lane, now_ms())
                    .map_err(|e| card_err(job, "recording a blank the lane made", e))?;
            }
            return Ok((slot, card));
        }
        Err(CardError::NoBlank {
            lane: self.lane.clone(),
            reason: format!("no *.img in {}", blanks.display()),
        })
    }

    /// The card's content: the same `ecard_chip::issue::card_content` as `ecard personalize`.
    fn content(&self, job: &EncodeJob) -> Result<CardContent, CardError> {
        let input = |reason: String| CardError::Input {
            job: job.job_id,
            reason,
        };
        let holder = Holder::from_record(&job.record).map_err(|e| input(e.to_string()))?;
        let size = |v: u32, what: &str| {
            u16::try_from(v).map_err(|_| input(format!("face {what} {v} is over 65535")))
        };
        let images = ChipImages {
            face_jpeg: job.face.jpeg.clone(),
            face_width: size(job.face.width, "width")?,
            face_height: size(job.face.height, "height")?,
            signature_jpeg: job.signature.jpeg.clone(),
        };
        Ok(card_content(
            &holder,
            &job.document_number,
            images,
            &self.issuing_authority,
            job.personalized_at,
        ))
    }

    /// Personalizes the card through `ecard_chip::issue` (the path `ecard personalize` takes);
    /// returns what the audit log keeps of it (counts and the lock, no holder data).
    fn personalize(&self, job: &EncodeJob, t: &mut dyn Transport) -> Result<String, CardError> {
        let content = self.content(job)?;
        let signing = self.pki.signing();
        // Every perso command goes through the blank's SCP03 channel under its own keys.
        let mut channel = ecard_chip::secure_perso::open(
            t,
            &self.profile,
            self.transport_keys.as_ref(),
            &mut rand::rngs::OsRng,
        )
        .map_err(|e| card_err(job.job_id, "opening the blank's secure channel", e))?;
        let serial = channel.serial().map(str::to_string);
        let ledger = match (&self.stock, &serial) {
            (Some((store, station)), Some(serial)) if store.stock_kept().unwrap_or(false) => {
                let place = crate::store::stock::BlankUse {
                    station,
                    lane: &self.lane,
                    job_id: job.job_id,
                };
                store.stock_take(serial, &place, now_ms()).map_err(|e| {
                    CardError::UnknownBlank {
                        lane: self.lane.clone(),
                        serial: serial.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Some((store.clone(), serial.clone()))
            }
            _ => None,
        };
        let t = channel.transport();
        // The Document Signer, watched: a failure of its token is told apart from the card's.
        let watched = WatchedSigner {
            inner: signing.ds_key.as_ref(),
            failed: std::cell::RefCell::new(None),
        };
        let issued = issue(
            t,
            &self.profile,
            &content,
            &watched,
            &signing.ds,
            job.personalized_at,
            self.profile.pace.offered.then_some(job.can.0.as_str()),
        );
        if let Some((store, serial)) = &ledger {
            let end = match &issued {
                Ok(_) => crate::store::stock::BlankEnd::Issued {
                    number: job.document_number.mrz_form(),
                },
                Err(e) => crate::store::stock::BlankEnd::Spoiled {
                    reason: format!("{}", e.step),
                },
            };
            if let Err(e) = store.stock_end(serial, &end, &self.lane, now_ms()) {
                tracing::warn!(lane = %self.lane, "blank ledger: {e}");
            }
        }
        let issued = issued.map_err(|e| match watched.failed.take() {
            // The Document Signer's token failed while the card waited for its files: nothing
            // signed reached it (its Active Authentication key was made, so it is spoiled); the
            // job waits for the token, not counted against it.
            Some(reason) => CardError::SignerUnavailable {
                lane: self.lane.clone(),
                reason,
            },
            None => card_err(job.job_id, "personalizing", e),
        });
        if matches!(issued, Err(CardError::SignerUnavailable { .. })) {
            self.signer_down
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(perso_summary(&issued?.report))
    }

    /// Reads the card back and runs every checkpoint check, with Active Authentication; returns
    /// the EF.DG2 read back (the printed QR seal binds to it).
    fn check(&self, job: &EncodeJob, t: &mut dyn Transport) -> Result<WrittenDg2, CardError> {
        let id = job.job_id;
        let verify_err = |check: &str, reason: String| CardError::Verify {
            job: id,
            check: check.to_string(),
            reason,
        };
        // The read-back goes through the access control every reader uses: PACE with the CAN
        // just written on a card that offers it, plain on one that does not.
        let password = ecard_chip::pace::Password::can(&job.can.0)
            .map_err(|e| verify_err("access", e.to_string()))?;
        let mut session = ecard_chip::access::open(t, Some(&password), &mut rand::rngs::OsRng)
            .map_err(|e| verify_err("access", e.to_string()))?;
        if self.profile.pace.offered && session.access() == ecard_chip::access::Access::None {
            return Err(verify_err(
                "access",
                format!(
                    "profile {} offers PACE but the card has no EF.CardAccess",
                    self.profile.name
                ),
            ));
        }
        let t = session.transport();
        let (files, _) =
            ecard_chip::read::read_card(t).map_err(|e| verify_err("read_back", e.to_string()))?;
        let aa = aa_evidence(&files, t);
        // The card's own number was just allocated: it cannot be on the revocation list.
        let revoked = BTreeSet::new();
        let report = ecard_chip::verify::verify(
            &files,
            &VerifyOptions {
                trust: &self.pki.trust,
                at: moscow_date(time::OffsetDateTime::now_utc()),
                strict: true,
                revoked: &revoked,
                active_auth: aa,
            },
        );
        if let Some(failed) = report.first_failure() {
            let reason = match &failed.outcome {
                Outcome::Fail(r) => r.clone(),
                other => format!("{other:?}"),
            };
            return Err(verify_err(failed.id.name(), reason));
        }
        let number = report.holder.as_ref().map(|h| h.document_number.clone());
        if number.as_deref() != Some(job.document_number.mrz_form().as_str()) {
            return Err(verify_err(
                "document_number",
                format!(
                    "the chip holds number {}, expected {}",
                    number.unwrap_or_else(|| "none".into()),
                    job.document_number.mrz_form()
                ),
            ));
        }
        let dg2 = files
            .get(&ecard_chip::lds::EfId::Dg2)
            .cloned()
            .ok_or_else(|| verify_err("read_back", "the card has no EF.DG2".into()))?;
        self.record_for_qa(job, &files, t)?;
        Ok(WrittenDg2(dg2))
    }

    /// Probes the lock and stores what QA compares cards against, with the probe's answer (QA
    /// fails a card whose record says it accepted the write).
    fn record_for_qa(
        &self,
        job: &EncodeJob,
        files: &ecard_chip::lds::LdsFiles,
        t: &mut dyn Transport,
    ) -> Result<(), CardError> {
        let Some((store, plan)) = &self.qa_store else {
            return Ok(());
        };
        use der::Encode;
        let lock = ecard_chip::read::try_write_same_byte(t, crate::qa::LOCK_PROBE_EF);
        let ds = self.pki.signing().ds.to_der().unwrap_or_default();
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let row = crate::qa::capture(
            job.job_id,
            &job.document_number.mrz_form(),
            Some(&self.lane),
            files,
            &ds,
            &lock,
            now_ms,
        );
        store
            .record_issued_card(&row, Some(plan))
            .map(|_| ())
            .map_err(|e| CardError::Verify {
                job: job.job_id,
                check: "qa_record".into(),
                reason: e.to_string(),
            })
    }

    fn sim_check(&self, job: &EncodeJob, path: &Path) -> Result<EncodedCard, CardError> {
        let image = CardImage::load(path).map_err(|e| CardError::Verify {
            job: job.job_id,
            check: "read_back".into(),
            reason: e.to_string(),
        })?;
        let mut t = SimTransport::new(image.into_card()).with_reader_name(&self.lane);
        let dg2 = self.check(job, &mut t)?;
        Ok(EncodedCard {
            location: path.display().to_string(),
            ds_certificate: Some(self.pki.signing().ds_sha256.clone()),
            dg2: Some(dg2),
            personalization: None,
            can: self.profile.pace.offered.then(|| job.can.clone()),
        })
    }

    fn pcsc(&self, job: i64, reader: &str) -> Result<ecard_transport::PcscTransport, CardError> {
        let ctx = ecard_transport::PcscContext::establish()
            .map_err(|e| card_err(job, "connecting", e))?;
        ecard_transport::PcscTransport::connect(
            &ctx,
            reader,
            ecard_transport::ExtendedLength::Probe,
        )
        .map_err(|e| card_err(job, "connecting", e))
    }
}

/// One line for the audit log's `verifying` entry: what personalization took, whether it locked.
/// Measured numbers only: no file content, no holder data.
pub fn perso_summary(r: &PersoReport) -> String {
    let lock = match &r.lock {
        LockOutcome::Locked { .. } => "locked".to_string(),
        LockOutcome::NotLockable => "not lockable".to_string(),
        other => other.to_string(),
    };
    format!(
        "personalized with profile {}: {} APDUs, {} bytes sent, {} bytes received; {lock}",
        r.profile, r.stats.apdus, r.stats.bytes_sent, r.stats.bytes_received
    )
}

/// Runs Active Authentication when the card has DG15; a transport failure is a missing answer.
fn aa_evidence(files: &LdsFiles, t: &mut dyn Transport) -> AaEvidence {
    if !files.contains_key(&ecard_chip::lds::EfId::Dg15) {
        return AaEvidence::NotPerformed;
    }
    let challenge: [u8; 8] = rand::random();
    match ecard_chip::read::active_authentication(t, challenge) {
        Ok(sig) => AaEvidence::Performed(AaOutcome {
            challenge,
            response: sig.to_bytes().to_vec(),
        }),
        Err(_) => AaEvidence::NoAnswer,
    }
}

/// `*.img` files of a folder, sorted (the oldest blank name first).
fn list_blanks(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .collect();
    v.sort();
    v
}

/// Writes `count` simulated blank cards of `profile` into `dir` (`blank-<n>.img`), their SCP03
/// keys from the test KMC; returns the card maker's manifest lines of those that have a serial.
pub fn make_blanks(
    dir: &Path,
    count: usize,
    profile: &Profile,
) -> Result<Vec<crate::stock::ManifestLine>, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let spec = SimSpec::from_profile(profile);
    let start = list_blanks(dir).len();
    let mut manifest = Vec::new();
    for i in 0..count {
        let path = dir.join(format!(
            "blank-{:06}-{:08x}.img",
            start + i,
            rand::random::<u32>()
        ));
        let card = Card::new_blank(&spec);
        if let Some(serial) = card.serial() {
            manifest.push(crate::stock::ManifestLine {
                serial,
                batch: format!(
                    "sim-{}",
                    dir.file_name().and_then(|n| n.to_str()).unwrap_or("blanks")
                ),
                key_version: profile.transport.key_version,
            });
        }
        card.image().save(&path).map_err(std::io::Error::other)?;
    }
    Ok(manifest)
}

impl CardEncoder for ChipEncoder {
    fn describe(&self) -> String {
        match &self.source {
            CardSource::Sim { blanks, .. } => {
                format!("sim:{} ({})", blanks.display(), self.profile.name)
            }
            CardSource::Pcsc { reader } => format!("pcsc:{reader} ({})", self.profile.name),
        }
    }

    fn ready(&mut self) -> Result<(), CardError> {
        if self.signer_down.load(std::sync::atomic::Ordering::Relaxed) {
            // One probe signature: the token came back, or the lane keeps waiting for it.
            let probe = [0x5a_u8; 32];
            self.pki
                .signing()
                .ds_key
                .sign_sha256_digest(&probe)
                .map_err(|e| CardError::SignerUnavailable {
                    lane: self.lane.clone(),
                    reason: e.to_string(),
                })?;
            tracing::info!(lane = %self.lane, "the Document Signer is available again");
            self.signer_down
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        match &self.source {
            CardSource::Sim {
                make_blanks: true, ..
            } => Ok(()),
            CardSource::Sim { blanks, .. } => {
                if list_blanks(blanks).is_empty() {
                    Err(CardError::NoBlank {
                        lane: self.lane.clone(),
                        reason: format!("no *.img in {}", blanks.display()),
                    })
                } else {
                    Ok(())
                }
            }
            CardSource::Pcsc { reader } => {
                let ctx =
                    ecard_transport::PcscContext::establish().map_err(|e| CardError::NoBlank {
                        lane: self.lane.clone(),
                        reason: e.to_string(),
                    })?;
                let readers =
                    ecard_transport::list_readers(&ctx).map_err(|e| CardError::NoBlank {
                        lane: self.lane.clone(),
                        reason: e.to_string(),
                    })?;
                match readers.iter().find(|r| &r.name == reader) {
                    Some(r) if r.card_present => Ok(()),
                    Some(_) => Err(CardError::NoBlank {
                        lane: self.lane.clone(),
                        reason: format!("no card in reader {reader:?}"),
                    }),
                    None => Err(CardError::NoBlank {
                        lane: self.lane.clone(),
                        reason: format!("reader {reader:?} not found"),
                    }),
                }
            }
        }
    }

    fn encode(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        match self.source.clone() {
            CardSource::Sim {
                blanks,
                make_blanks,
            } => {
                // A blank the stock ledger refuses is put aside to be destroyed and the next one
                // is taken (a few times at most: a whole folder of strangers is an operator's
                // problem).
                let mut tries = 0;
                let (slot, t, written) = loop {
                    let (slot, card) = self.take_blank(job.job_id, &blanks, make_blanks)?;
                    let mut t = SimTransport::new(card)
                        .with_reader_name(&self.lane)
                        .real_time(self.real_time);
                    let written = self.personalize(job, &mut t);
                    match written {
                        Err(CardError::UnknownBlank { serial, .. }) if tries < 8 => {
                            tries += 1;
                            self.put_aside_unknown(job.job_id, &slot, &serial)?;
                        }
                        written => break (slot, t, written),
                    }
                };
                // The card keeps what was written, even half-way: save it either way.
                t.card()
                    .image()
                    .save(&slot)
                    .map_err(|e| card_err(job.job_id, "saving the card image", e))?;
                let summary = written?;
                Ok(EncodedCard {
                    location: slot.display().to_string(),
                    ds_certificate: None,
                    dg2: None,
                    personalization: Some(summary),
                    can: self.profile.pace.offered.then(|| job.can.clone()),
                })
            }
            CardSource::Pcsc { reader } => {
                let mut t = self.pcsc(job.job_id, &reader)?;
                let summary = self.personalize(job, &mut t)?;
                Ok(EncodedCard {
                    location: format!("pcsc:{reader}"),
                    ds_certificate: None,
                    dg2: None,
                    personalization: Some(summary),
                    can: self.profile.pace.offered.then(|| job.can.clone()),
                })
            }
        }
    }

    fn verify(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<EncodedCard, CardError> {
        match self.source.clone() {
            CardSource::Sim { .. } => self.sim_check(job, Path::new(&card.location)),
            CardSource::Pcsc { reader } => {
                let mut t = self.pcsc(job.job_id, &reader)?;
                let dg2 = self.check(job, &mut t)?;
                Ok(EncodedCard {
                    location: card.location.clone(),
                    ds_certificate: Some(self.pki.signing().ds_sha256.clone()),
                    dg2: Some(dg2),
                    personalization: None,
                    can: self.profile.pace.offered.then(|| job.can.clone()),
                })
            }
        }
    }

    fn recheck(&mut self, job: &EncodeJob) -> Result<EncodedCard, CardError> {
        match self.source.clone() {
            CardSource::Sim { .. } => {
                let (slot, out) = (self.slot(job.job_id), self.output(job));
                let path = [slot.clone(), out.clone()]
                    .into_iter()
                    .find(|p| p.is_file())
                    .ok_or_else(|| CardError::Missing {
                        job: job.job_id,
                        looked: format!("{} and {}", slot.display(), out.display()),
                    })?;
                self.sim_check(job, &path)
            }
            CardSource::Pcsc { reader } => {
                let mut t = self.pcsc(job.job_id, &reader)?;
                let dg2 = self.check(job, &mut t)?;
                Ok(EncodedCard {
                    location: format!("pcsc:{reader}"),
                    ds_certificate: Some(self.pki.signing().ds_sha256.clone()),
                    dg2: Some(dg2),
                    personalization: None,
                    can: self.profile.pace.offered.then(|| job.can.clone()),
                })
            }
        }
    }

    fn reject(&mut self, job: &EncodeJob) -> Result<(), CardError> {
        if let CardSource::Sim { .. } = self.source {
            let slot = self.slot(job.job_id);
            if slot.is_file() {
                let dir = self.data_dir.join("rejects");
                std::fs::create_dir_all(&dir).map_err(|e| card_err(job.job_id, "rejecting", e))?;
                let dst = dir.join(format!(
                    "{}-job-{}.img",
                    job.document_number.mrz_form(),
                    job.job_id
                ));
                std::fs::rename(&slot, &dst).map_err(|e| card_err(job.job_id, "rejecting", e))?;
            }
        }
        // A PC/SC card stays in the reader: the operator takes it to the reject bin.
        Ok(())
    }
}
