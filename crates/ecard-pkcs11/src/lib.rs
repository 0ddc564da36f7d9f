//! The e-card's keys inside a PKCS#11 token (ECARD.md section 12): [`Token`] opens a module and
//! logs in, [`Token::generate`] makes a P-256 key pair inside the token (sensitive, never
//! extractable, persistent, labelled), [`Token::signer`] finds one by label, and
//! [`Pkcs11Signer`] implements the chip crate's [`Signer`]: `CKM_ECDSA` over a SHA-256 digest
//! computed on the host (SoftHSM2 has no `CKM_ECDSA_SHA256`), the token's r||s checked against
//! the public key before it is handed out, so nothing half-signed reaches a card.
//!
//! [`softhsm`] makes a SoftHSM2 token inside a folder for the demo and a fresh station, and
//! [`PkiToml`] is the small `pki.toml` that names module, token and key labels. Every error
//! names the module, the token and (where one is involved) the key label.

mod create;
mod datakey;
mod folder;
mod kmc;
pub mod softhsm;

pub use datakey::{TokenDataKey, TokenMacKey};
pub use kmc::TokenKmc;
mod toml_file;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ecard_chip::pki::{Signer, SignerError};
use p256::ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier};

pub use create::{
    CSCA_LABEL, CreateError, DS_LABEL, FOLDER_TOKEN, folder_token_conf, folder_token_pki,
    runs_with_folder_token, token_pki, write_file,
};
pub use folder::{FolderError, PIN_ENV, needs_softhsm_conf, open_folder, read_pin};
pub use toml_file::{PKI_TOML, PkiToml, PkiTomlError};

/// DER of the OID prime256v1 (1.2.840.10045.3.1.7), the `CKA_EC_PARAMS` of every e-card key.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// What went wrong with a token. Every variant names module and token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The module could not be loaded or initialised.
    #[error(
        "PKCS#11 module {module}: cannot load it ({reason}); is the package installed (SoftHSM2: `apt-get install softhsm2`)?"
    )]
    Module {
        /// The module path.
        module: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// No slot holds a token with that label.
    #[error(
        "PKCS#11 module {module}: no token labelled {token:?} (tokens present: {present:?}); plug it in or create it"
    )]
    NoToken {
        /// The module path.
        module: PathBuf,
        /// The label asked for.
        token: String,
        /// The labels that are there.
        present: Vec<String>,
    },
    /// Login failed: wrong PIN, PIN locked, token not initialised.
    #[error("PKCS#11 module {module}, token {token:?}: login refused ({reason}); check the PIN")]
    Login {
        /// The module path.
        module: PathBuf,
        /// The token label.
        token: String,
        /// What the token said.
        reason: String,
    },
    /// The token has no key with that label.
    #[error(
        "PKCS#11 module {module}, token {token:?}: no {what} labelled {label:?}; run `ecard pki init` for this token or fix pki.toml"
    )]
    NoKey {
        /// The module path.
        module: PathBuf,
        /// The token label.
        token: String,
        /// The key label.
        label: String,
        /// "private key" or "public key".
        what: &'static str,
    },
    /// A key with that label already exists (generation refuses to shadow it).
    #[error(
        "PKCS#11 module {module}, token {token:?}: a key labelled {label:?} already exists; choose another label"
    )]
    KeyExists {
        /// The module path.
        module: PathBuf,
        /// The token label.
        token: String,
        /// The key label.
        label: String,
    },
    /// Any other token operation failed.
    #[error(
        "PKCS#11 module {module}, token {token:?}, key {label:?}: {operation} failed: {reason}"
    )]
    Operation {
        /// The module path.
        module: PathBuf,
        /// The token label.
        token: String,
        /// The key label ("" when none).
        label: String,
        /// What was attempted.
        operation: &'static str,
        /// What the token said.
        reason: String,
    },
}

/// A loaded module with one logged-in session on the token.
struct Conn {
    // Kept so the library stays loaded and logged in while signers live.
    ctx: Pkcs11,
    session: Session,
    /// Which connection this is: key handles found on an earlier one are stale.
    generation: u64,
}

struct Inner {
    module: PathBuf,
    token: String,
    // Kept to log in again after the token came back (an HSM client holds its PIN the same way).
    pin: zeroize::Zeroizing<String>,
    // One logged-in session; PKCS#11 sessions are not for concurrent use, so signing takes turns.
    // `None` after the token went away, until it is back.
    conn: Mutex<Option<Conn>>,
}

/// A key of the token named by class and label, with its handle on the current connection.
struct KeyRef {
    class: ObjectClass,
    label: String,
    what: &'static str,
    handle: Mutex<Option<(u64, ObjectHandle)>>,
}

impl KeyRef {
    fn new(
        class: ObjectClass,
        label: &str,
        what: &'static str,
        found: (u64, ObjectHandle),
    ) -> KeyRef {
        KeyRef {
            class,
            label: label.to_string(),
            what,
            handle: Mutex::new(Some(found)),
        }
    }
}

/// Errors after which the session or the key handle cannot be trusted: the token was pulled,
/// the module lost it, or another user of the module re-initialised it.
fn token_gone(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The session of a connected token, held for one operation.
struct SessionGuard<'a>(std::sync::MutexGuard<'a, Option<Conn>>);

impl SessionGuard<'_> {
    fn generation(&self) -> u64 {
        self.0.as_ref().map_or(0, |c| c.generation)
    }
}

impl std::ops::Deref for SessionGuard<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        // A guard is only made over a connected token (see `Token::session`).
        match &*self.0 {
            Some(c) => &c.session,
            None => unreachable!("a SessionGuard holds a connected token"),
        }
    }
}

/// A logged-in token. Cheap to clone; signers keep it alive.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.inner.module)
            .field("token", &self.inner.token)
            .finish_non_exhaustive()
    }
}

fn find_slot(ctx: &Pkcs11, module: &Path, token: &str) -> Result<Slot, Pkcs11Error> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| Pkcs11Error::Module {
            module: module.to_owned(),
            reason: e.to_string(),
        })?;
    let mut present = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if info.label().trim_end() == token {
            return Ok(slot);
        }
        if info.token_initialized() {
            present.push(info.label().trim_end().to_string());
        }
    }
    Err(Pkcs11Error::NoToken {
        module: module.to_owned(),
        token: token.to_string(),
        present,
    })
}

/// Loads `module` and initialises it (once per process).
pub(crate) fn load(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let err = |reason: String| Pkcs11Error::Module {
        module: module.to_owned(),
        reason,
    };
    let ctx = Pkcs11::new(module).map_err(|e| err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Loads `module` (initialising it), opens a session on the token labelled `token` and logs in.
fn connect(module: &Path, token: &str, pin: &str) -> Result<Conn, Pkcs11Error> {
    let ctx = load(module)?;
    let slot = find_slot(&ctx, module, token)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| Pkcs11Error::Operation {
            module: module.to_owned(),
            token: token.to_string(),
            label: String::new(),
            operation: "open session",
            reason: e.to_string(),
        })?;
    match session.login(UserType::User, Some(&AuthPin::from(pin.to_string()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => {
            return Err(Pkcs11Error::Login {
                module: module.to_owned(),
                token: token.to_string(),
                reason: e.to_string(),
            });
        }
    }
    Ok(Conn {
        ctx,
        session,
        generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    })
}

impl Token {
    /// Loads `module`, finds the token labelled `token` and logs in as user with `pin`.
    pub fn open(module: &Path, token: &str, pin: &str) -> Result<Token, Pkcs11Error> {
        let conn = connect(module, token, pin)?;
        Ok(Token {
            inner: Arc::new(Inner {
                module: module.to_owned(),
                token: token.to_string(),
                pin: zeroize::Zeroizing::new(pin.to_string()),
                conn: Mutex::new(Some(conn)),
            }),
        })
    }

    /// The module path.
    pub fn module(&self) -> &Path {
        &self.inner.module
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.inner.token
    }

    fn op(&self, label: &str, operation: &'static str) -> impl Fn(CkError) -> Pkcs11Error + '_ {
        let label = label.to_string();
        move |e| Pkcs11Error::Operation {
            module: self.inner.module.clone(),
            token: self.inner.token.clone(),
            label: label.clone(),
            operation,
            reason: e.to_string(),
        }
    }

    /// The logged-in session, connecting again first when the token had gone away.
    fn session(&self) -> Result<SessionGuard<'_>, Pkcs11Error> {
        // A panic while signing poisons nothing that matters: the session has no host-side state.
        let mut guard = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(connect(
                &self.inner.module,
                &self.inner.token,
                &self.inner.pin,
            )?);
        }
        Ok(SessionGuard(guard))
    }

    /// Drops the connection (the module is finalised, so that it looks for the token again) and
    /// connects anew; `Err` while the token is still away.
    fn reconnect(&self, guard: &mut Option<Conn>) -> Result<(), Pkcs11Error> {
        if let Some(old) = guard.take() {
            drop(old.session);
            // Finalising makes the module forget the slots it saw; the next initialise finds
            // the token again. Another handle on the module re-initialises it the same way.
            let _ = old.ctx.finalize();
        }
        *guard = Some(connect(
            &self.inner.module,
            &self.inner.token,
            &self.inner.pin,
        )?);
        Ok(())
    }

    /// Runs `op` with `key`'s handle on the logged-in session. When the token went away (pulled,
    /// restarted, re-initialised), connects again and tries once more, so that a token that came
    /// back serves the next operation; while it is away the error says "signer unavailable".
    fn use_key<R>(
        &self,
        key: &KeyRef,
        operation: &'static str,
        op: impl Fn(&Session, ObjectHandle) -> Result<R, CkError>,
    ) -> Result<R, Pkcs11Error> {
        let unavailable = |reason: String| Pkcs11Error::Operation {
            module: self.inner.module.clone(),
            token: self.inner.token.clone(),
            label: key.label.clone(),
            operation,
            reason: format!("signer unavailable: {reason}"),
        };
        let mut guard = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut last = String::new();
        for attempt in 0..2 {
            if guard.is_none() || attempt == 1 {
                self.reconnect(&mut guard)
                    .map_err(|e| unavailable(e.to_string()))?;
            }
            let Some(conn) = guard.as_ref() else {
                continue;
            };
            let mut cached = key
                .handle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let handle = match *cached {
                Some((generation, h)) if generation == conn.generation => h,
                _ => {
                    let found = conn
                        .session
                        .find_objects(&[
                            Attribute::Class(key.class),
                            Attribute::Label(key.label.as_bytes().to_vec()),
                        ])
                        .map_err(|e| unavailable(e.to_string()))?;
                    let h = found.into_iter().next().ok_or_else(|| Pkcs11Error::NoKey {
                        module: self.inner.module.clone(),
                        token: self.inner.token.clone(),
                        label: key.label.clone(),
                        what: key.what,
                    })?;
                    *cached = Some((conn.generation, h));
                    h
                }
            };
            match op(&conn.session, handle) {
                Ok(r) => return Ok(r),
                Err(e) if token_gone(&e) => last = e.to_string(),
                Err(e) => return Err(self.op(&key.label, operation)(e)),
            }
        }
        Err(unavailable(last))
    }

    fn find(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> Result<Option<ObjectHandle>, Pkcs11Error> {
        let found = session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(self.op(label, "find key"))?;
        Ok(found.into_iter().next())
    }

    /// The secret key labelled `label` (`what` names it in the error when it is absent).
    fn secret_key(&self, label: &str, what: &'static str) -> Result<KeyRef, Pkcs11Error> {
        let session = self.session()?;
        let key = self
            .find(&session, ObjectClass::SECRET_KEY, label)?
            .ok_or_else(|| Pkcs11Error::NoKey {
                module: self.inner.module.clone(),
                token: self.inner.token.clone(),
                label: label.to_string(),
                what,
            })?;
        Ok(KeyRef::new(
            ObjectClass::SECRET_KEY,
            label,
            what,
            (session.generation(), key),
        ))
    }

    /// Refuses a label already in use by a key of `class` (a new key never shadows one).
    fn label_free(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> Result<(), Pkcs11Error> {
        match self.find(session, class, label)? {
            Some(_) => Err(Pkcs11Error::KeyExists {
                module: self.inner.module.clone(),
                token: self.inner.token.clone(),
                label: label.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Generates a P-256 key pair labelled `label` inside the token: persistent (`CKA_TOKEN`),
    /// private, `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`. Refuses a label already in use.
    pub fn generate(&self, label: &str) -> Result<Pkcs11Signer, Pkcs11Error> {
        {
            let session = self.session()?;
            self.label_free(&session, ObjectClass::PRIVATE_KEY, label)?;
            let id = label.as_bytes().to_vec();
            let public = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(P256_PARAMS.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
            ];
            let private = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::KeyType(KeyType::EC),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id),
            ];
            session
                .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                .map_err(self.op(label, "generate key pair"))?;
        }
        self.signer(label)
    }

    /// The signer of the key labelled `label`.
    pub fn signer(&self, label: &str) -> Result<Pkcs11Signer, Pkcs11Error> {
        let session = self.session()?;
        let no_key = |what| Pkcs11Error::NoKey {
            module: self.inner.module.clone(),
            token: self.inner.token.clone(),
            label: label.to_string(),
            what,
        };
        let key = self
            .find(&session, ObjectClass::PRIVATE_KEY, label)?
            .ok_or_else(|| no_key("private key"))?;
        let public_handle = self
            .find(&session, ObjectClass::PUBLIC_KEY, label)?
            .ok_or_else(|| no_key("public key"))?;
        let attrs = session
            .get_attributes(public_handle, &[AttributeType::EcPoint])
            .map_err(self.op(label, "read public key"))?;
        let point = attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| no_key("public key"))?;
        let public = decode_ec_point(&point).ok_or_else(|| Pkcs11Error::Operation {
            module: self.inner.module.clone(),
            token: self.inner.token.clone(),
            label: label.to_string(),
            operation: "read public key",
            reason: format!("CKA_EC_POINT is not a P-256 point ({} bytes)", point.len()),
        })?;
        let generation = session.generation();
        drop(session);
        Ok(Pkcs11Signer {
            token: self.clone(),
            key: KeyRef::new(
                ObjectClass::PRIVATE_KEY,
                label,
                "private key",
                (generation, key),
            ),
            label: label.to_string(),
            public,
        })
    }
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the uncompressed point (PKCS#11 2.40 section
/// 2.3.3); some modules give the bare point.
fn decode_ec_point(bytes: &[u8]) -> Option<p256::PublicKey> {
    let raw = match bytes {
        [0x04, 0x41, rest @ ..] if rest.len() == 0x41 => rest,
        _ => bytes,
    };
    p256::PublicKey::from_sec1_bytes(raw).ok()
}

/// A key inside a token, signing through it.
pub struct Pkcs11Signer {
    token: Token,
    key: KeyRef,
    label: String,
    public: p256::PublicKey,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.token.inner.module)
            .field("token", &self.token.inner.token)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PKCS#11 key {:?} in token {:?} ({})",
            self.label,
            self.token.inner.token,
            self.token.inner.module.display()
        )
    }
}

impl Pkcs11Signer {
    /// The key label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> p256::PublicKey {
        self.public
    }

    fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        let failed = |reason: String| SignerError::Failed {
            signer: self.to_string(),
            reason,
        };
        let raw = self
            .token
            .use_key(&self.key, "sign", |s, key| {
                s.sign(&Mechanism::Ecdsa, key, digest)
            })
            .map_err(|e| failed(e.to_string()))?;
        let sig = Signature::from_slice(&raw)
            .map_err(|_| failed(format!("token returned {} bytes, not r||s", raw.len())))?;
        VerifyingKey::from(&self.public)
            .verify_prehash(digest, &sig)
            .map_err(|_| failed("token's signature does not verify with its public key".into()))?;
        Ok(sig)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}
