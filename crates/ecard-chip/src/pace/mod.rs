//! PACE v2 (Doc 9303-11 sections 4.4 and 9.2): password-authenticated key agreement with Generic
//! Mapping over ECDH and AES, sans-I/O like the rest of this crate.
//!
//! - [`PaceInfo`] and [`parse_card_access`]/[`build_card_access`]: what EF.CardAccess offers;
//! - [`Password`]: the CAN or the MRZ key, and `K_pi` from it;
//! - [`kdf`], [`encrypt_nonce`]/[`decrypt_nonce`], [`auth_token`], [`Curve`]: the primitives both
//!   sides use (the simulated card OS in `ecard-sim` plays the chip with them);
//! - [`PaceReader`]: the terminal's state machine; the caller moves its APDUs, like
//!   [`crate::apdu::Exchange`], and receives a [`SecureMessaging`] session at the end.
//!
//! The tests reproduce the ECDH Generic Mapping worked example of Doc 9303-11 Appendix G.1 step by
//! step.

use aes::cipher::KeyInit;
use cmac::Mac;
use rand_core::CryptoRngCore;
use sha1::Digest;
use subtle::ConstantTimeEq;

use crate::apdu::StatusWord;
use crate::sm::SecureMessaging;
use crate::tlv;

mod curve;
mod reader;

pub use curve::{Curve, CurveError};
pub use reader::{PaceAction, PaceReader, PaceStep};

/// The password reference of the MRZ key in MSE:Set AT (Doc 9303-11 Table 8).
pub const PASSWORD_MRZ: u8 = 0x01;
/// The password reference of the CAN.
pub const PASSWORD_CAN: u8 = 0x02;

/// FID of EF.CardAccess in the MF.
pub const CARD_ACCESS_FID: u16 = 0x011C;
/// Short EF identifier of EF.CardAccess.
pub const CARD_ACCESS_SFI: u8 = 0x1C;

/// `id-PACE-ECDH-GM-AES-CBC-CMAC-` prefix 0.4.0.127.0.7.2.2.4.2, DER content bytes; the last arc
/// is 2 (128), 3 (192) or 4 (256).
const OID_ECDH_GM_AES_PREFIX: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02];

/// The AES key length of a PACE protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyLength {
    /// AES-128 (`...-CMAC-128`).
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
}

impl KeyLength {
    /// Key bytes.
    pub fn bytes(self) -> usize {
        match self {
            KeyLength::Aes128 => 16,
            KeyLength::Aes192 => 24,
            KeyLength::Aes256 => 32,
        }
    }

    /// From key bits (128, 192, 256).
    pub fn from_bits(bits: u16) -> Option<KeyLength> {
        match bits {
            128 => Some(KeyLength::Aes128),
            192 => Some(KeyLength::Aes192),
            256 => Some(KeyLength::Aes256),
            _ => None,
        }
    }

    fn last_arc(self) -> u8 {
        match self {
            KeyLength::Aes128 => 2,
            KeyLength::Aes192 => 3,
            KeyLength::Aes256 => 4,
        }
    }
}

/// One PACE protocol a chip offers: ECDH Generic Mapping with AES, on a standardized curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaceInfo {
    /// AES key length of the protocol.
    pub key_length: KeyLength,
    /// The curve (from parameterId).
    pub curve: Curve,
}

impl PaceInfo {
    /// `id-PACE-ECDH-GM-AES-CBC-CMAC-128` on NIST P-256: the e-card's default.
    pub const DEFAULT: PaceInfo = PaceInfo {
        key_length: KeyLength::Aes128,
        curve: Curve::P256,
    };

    /// The protocol OID's DER content bytes.
    pub fn oid(&self) -> Vec<u8> {
        let mut v = OID_ECDH_GM_AES_PREFIX.to_vec();
        v.push(self.key_length.last_arc());
        v
    }

    /// The protocol's name, for messages.
    pub fn describe(&self) -> String {
        format!(
            "PACE ECDH-GM AES-{} on {}",
            self.key_length.bytes() * 8,
            self.curve.name()
        )
    }

    /// The DER PACEInfo: SEQUENCE { protocol, version 2, parameterId }.
    fn to_tlv(self) -> tlv::Tlv {
        tlv::constructed(
            0x30,
            vec![
                tlv::primitive(0x06, self.oid()),
                tlv::primitive(0x02, vec![2]),
                tlv::primitive(0x02, vec![self.curve.parameter_id()]),
            ],
        )
    }
}

/// Why PACE did not give a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaceError {
    /// The password was refused: mutual authentication failed.
    #[error("access denied: wrong {kind}{}", retries.map(|n| format!(" ({n} tries left)")).unwrap_or_default())]
    WrongPassword {
        /// "CAN" or "MRZ key".
        kind: &'static str,
        /// Tries left, when the card says (`63 Cx`).
        retries: Option<u8>,
    },
    /// The card has blocked the password.
    #[error("access denied: the card has blocked its {kind} ({sw})")]
    Blocked {
        /// "CAN" or "MRZ key".
        kind: &'static str,
        /// The status word.
        sw: StatusWord,
    },
    /// The card refused a PACE command.
    #[error("the card answered {sw} to {step}")]
    Card {
        /// The step.
        step: PaceStep,
        /// The status word.
        sw: StatusWord,
    },
    /// An answer that does not parse, or a point or nonce that is not acceptable.
    #[error("malformed answer to {step}: {detail}")]
    Malformed {
        /// The step.
        step: PaceStep,
        /// What is wrong.
        detail: String,
    },
    /// The chip's authentication token does not verify: the chip does not know the password
    /// (or is not genuine).
    #[error(
        "the chip's authentication token does not verify: wrong {kind} or a chip that is not genuine"
    )]
    BadToken {
        /// "CAN" or "MRZ key".
        kind: &'static str,
    },
    /// EF.CardAccess cannot be read as SecurityInfos.
    #[error("EF.CardAccess is malformed: {0}")]
    CardAccess(String),
    /// EF.CardAccess lists no PACE protocol this reader supports.
    #[error("the card offers no PACE protocol this reader supports ({0})")]
    Unsupported(String),
    /// A password that is not one (a CAN of other than 6 digits, a bad MRZ field).
    #[error("{0}")]
    BadPassword(String),
    /// Driven out of order (caller bug).
    #[error("PACE driven out of order: {0}")]
    ApiMisuse(&'static str),
}

/// The password PACE is run with.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// The card access number printed on the card: 6 decimal digits.
    Can(String),
    /// The MRZ key: document number, date of birth and date of expiry (YYMMDD) as in the MRZ.
    Mrz {
        /// Document number as in the MRZ (`<` fillers allowed).
        document_number: String,
        /// Date of birth, YYMMDD.
        date_of_birth: String,
        /// Date of expiry, YYMMDD.
        date_of_expiry: String,
    },
}

impl std::fmt::Debug for Password {
    // The password is a secret: its kind only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password({})", self.kind())
    }
}

impl Password {
    /// A CAN: exactly 6 decimal digits.
    pub fn can(can: &str) -> Result<Password, PaceError> {
        if can.len() == 6 && can.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Password::Can(can.to_string()))
        } else {
            Err(PaceError::BadPassword(
                "a CAN is 6 decimal digits, as printed on the card next to `CAN`".into(),
            ))
        }
    }

    /// An MRZ key from `DOCNUMBER,YYMMDD,YYMMDD` (birth, expiry).
    pub fn mrz_key(spec: &str) -> Result<Password, PaceError> {
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        let bad = |m: &str| {
            PaceError::BadPassword(format!(
                "MRZ key {m}: give DOCNUMBER,YYMMDD,YYMMDD (document number, date of birth, date of expiry)"
            ))
        };
        let [doc, dob, doe] = parts.as_slice() else {
            return Err(bad("needs three fields"));
        };
        let doc = doc.to_ascii_uppercase();
        if doc.is_empty() || !doc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'<') {
            return Err(bad(
                "has a document number with characters outside A-Z, 0-9, <",
            ));
        }
        for d in [dob, doe] {
            if d.len() != 6 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("has a date that is not YYMMDD"));
            }
        }
        Ok(Password::Mrz {
            document_number: doc,
            date_of_birth: dob.to_string(),
            date_of_expiry: doe.to_string(),
        })
    }

    /// "CAN" or "MRZ key", for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Password::Can(_) => "CAN",
            Password::Mrz { .. } => "MRZ key",
        }
    }

    /// The password reference of MSE:Set AT.
    pub fn reference(&self) -> u8 {
        match self {
            Password::Can(_) => PASSWORD_CAN,
            Password::Mrz { .. } => PASSWORD_MRZ,
        }
    }

    /// The shared secret `K` the password keys are derived from (Doc 9303-11 section 9.7.3): the
    /// CAN's ASCII digits, or SHA-1 of the MRZ information.
    pub fn secret(&self) -> Result<Vec<u8>, PaceError> {
        match self {
            Password::Can(c) => Ok(c.as_bytes().to_vec()),
            Password::Mrz {
                document_number,
                date_of_birth,
                date_of_expiry,
            } => {
                let info = mrz_information(document_number, date_of_birth, date_of_expiry)?;
                Ok(sha1::Sha1::digest(info.as_bytes()).to_vec())
            }
        }
    }

    /// `K_pi = KDF(K, 3)` for a protocol's key length.
    pub fn key(&self, key_length: KeyLength) -> Result<Vec<u8>, PaceError> {
        Ok(kdf(&self.secret()?, 3, key_length))
    }
}

/// The MRZ information (Doc 9303-11 section 9.7.2): document number (filled to 9 with `<`) and
/// its check digit, date of birth and check digit, date of expiry and check digit.
pub fn mrz_information(doc: &str, dob: &str, doe: &str) -> Result<String, PaceError> {
    let mut d = doc.to_string();
    while d.len() < 9 {
        d.push('<');
    }
    let cd = |f: &str| {
        ecard_model::mrz::check_digit(f)
            .map_err(|e| PaceError::BadPassword(format!("MRZ key field {f:?}: {e}")))
    };
    Ok(format!("{d}{}{dob}{}{doe}{}", cd(&d)?, cd(dob)?, cd(doe)?))
}

/// The key derivation function of Doc 9303-11 section 9.7.1: SHA-1 (AES-128) or SHA-256
/// (AES-192/256) over `K || counter`, truncated to the key length.
pub fn kdf(k: &[u8], counter: u32, key_length: KeyLength) -> Vec<u8> {
    let c = counter.to_be_bytes();
    let mut out = match key_length {
        KeyLength::Aes128 => {
            let mut h = sha1::Sha1::new();
            h.update(k);
            h.update(c);
            h.finalize().to_vec()
        }
        KeyLength::Aes192 | KeyLength::Aes256 => {
            let mut h = sha2::Sha256::new();
            h.update(k);
            h.update(c);
            h.finalize().to_vec()
        }
    };
    out.truncate(key_length.bytes());
    out
}

/// The chip's side of the nonce: `z = E(K_pi, s)`, AES in CBC mode with a zero IV over one block.
pub fn encrypt_nonce(k_pi: &[u8], s: &[u8; 16]) -> [u8; 16] {
    let mut b = *s;
    // A K_pi is 16, 24 or 32 bytes by construction (kdf); another length leaves the block.
    let _ = crate::sm::aes_block(k_pi, &mut b, true);
    b
}

/// The terminal's side: `s = D(K_pi, z)`.
pub fn decrypt_nonce(k_pi: &[u8], z: &[u8; 16]) -> [u8; 16] {
    let mut b = *z;
    let _ = crate::sm::aes_block(k_pi, &mut b, false);
    b
}

/// The public key data object `7F49 { 06 OID, 86 point }` a token is computed over.
pub fn public_key_object(info: &PaceInfo, point: &[u8]) -> Vec<u8> {
    tlv::encode(&tlv::constructed(
        0x7F49,
        vec![
            tlv::primitive(0x06, info.oid()),
            tlv::primitive(0x86, point.to_vec()),
        ],
    ))
}

/// The authentication token over the other side's ephemeral public key (Doc 9303-11 section
/// 4.4.3.4): AES-CMAC with `KS_mac` over its public key data object, first 8 bytes.
pub fn auth_token(ks_mac: &[u8], info: &PaceInfo, other_point: &[u8]) -> [u8; 8] {
    let data = public_key_object(info, other_point);
    let full = match ks_mac.len() {
        16 => cmac_of::<cmac::Cmac<aes::Aes128>>(ks_mac, &data),
        24 => cmac_of::<cmac::Cmac<aes::Aes192>>(ks_mac, &data),
        _ => cmac_of::<cmac::Cmac<aes::Aes256>>(ks_mac, &data),
    };
    let mut t = [0u8; 8];
    t.copy_from_slice(&full[..8]);
    t
}

fn cmac_of<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // Key lengths are fixed by the caller's match; a wrong one gives an all-zero MAC that can
    // never verify rather than a panic.
    let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
        return vec![0; 16];
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Compares two tokens in constant time.
pub fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The session keys from the shared secret's x-coordinate: `(KS_enc, KS_mac)`.
pub fn session_keys(shared_x: &[u8], key_length: KeyLength) -> (Vec<u8>, Vec<u8>) {
    (kdf(shared_x, 1, key_length), kdf(shared_x, 2, key_length))
}

/// The x-coordinate of an uncompressed point.
pub fn x_coordinate(point: &[u8]) -> &[u8] {
    let n = point.len().saturating_sub(1) / 2;
    point.get(1..1 + n).unwrap_or(&[])
}

/// The secure messaging session for agreed keys (SSC zero, Doc 9303-11 section 9.8.7.3).
pub fn session(ks_enc: &[u8], ks_mac: &[u8]) -> Result<SecureMessaging, PaceError> {
    SecureMessaging::aes(ks_enc, ks_mac)
        .map_err(|_| PaceError::ApiMisuse("session keys of a length AES does not take"))
}

/// The PACE protocols listed in EF.CardAccess (a DER `SET OF SecurityInfo`), in the card's order.
/// SecurityInfos of other protocols (Chip Authentication, Terminal Authentication, PACE with
/// another mapping or DH) are skipped; PACEInfos on a non-standard parameterId too.
pub fn parse_card_access(bytes: &[u8]) -> Result<Vec<PaceInfo>, PaceError> {
    let set = tlv::parse_strict(bytes).map_err(|e| PaceError::CardAccess(e.to_string()))?;
    if tlv::tag_number(set.tag()) != 0x31 {
        return Err(PaceError::CardAccess(format!(
            "starts with tag {:02X}, expected 31 (SET OF SecurityInfo)",
            tlv::tag_number(set.tag())
        )));
    }
    let mut out = Vec::new();
    for info in tlv::children(&set) {
        if tlv::tag_number(info.tag()) != 0x30 {
            return Err(PaceError::CardAccess(
                "a SecurityInfo that is not a SEQUENCE".into(),
            ));
        }
        let parts = tlv::children(info);
        let Some(oid) = parts.first().and_then(tlv::primitive_value) else {
            return Err(PaceError::CardAccess(
                "a SecurityInfo without its OID".into(),
            ));
        };
        let Some((last, prefix)) = oid.split_last() else {
            continue;
        };
        if prefix != OID_ECDH_GM_AES_PREFIX {
            continue;
        }
        let key_length = match last {
            2 => KeyLength::Aes128,
            3 => KeyLength::Aes192,
            4 => KeyLength::Aes256,
            _ => continue,
        };
        let int = |i: usize| -> Option<u8> {
            let v = parts.get(i).and_then(tlv::primitive_value)?;
            match v {
                [b] => Some(*b),
                _ => None,
            }
        };
        if int(1) != Some(2) {
            continue;
        }
        let Some(curve) = int(2).and_then(Curve::from_parameter_id) else {
            continue;
        };
        out.push(PaceInfo { key_length, curve });
    }
    Ok(out)
}

/// EF.CardAccess offering `infos` (DER: the SET's elements in ascending order of their encoding).
pub fn build_card_access(infos: &[PaceInfo]) -> Vec<u8> {
    let mut items: Vec<(Vec<u8>, tlv::Tlv)> = infos
        .iter()
        .map(|i| (tlv::encode(&i.to_tlv()), i.to_tlv()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.dedup_by(|a, b| a.0 == b.0);
    tlv::encode(&tlv::constructed(
        0x31,
        items.into_iter().map(|(_, t)| t).collect(),
    ))
}

/// Random bytes for a nonce.
pub fn random_nonce(rng: &mut dyn CryptoRngCore) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests;
