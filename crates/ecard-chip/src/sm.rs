//! ICAO secure messaging (Doc 9303-11 section 9.8): the layer that protects any command and
//! response once PACE has agreed session keys, as pure functions of the keys and the send
//! sequence counter (SSC). No I/O: [`crate::access`] moves the bytes.
//!
//! Both sides live here so the reader and the simulated card OS cannot drift apart:
//! - reader: [`SecureMessaging::wrap`] a plain [`Command`], [`SecureMessaging::unwrap`] the card's
//!   protected [`Response`];
//! - card: [`SecureMessaging::unwrap_command`], [`SecureMessaging::wrap_response`].
//!
//! Data objects: `87` (padding-content indicator `01` and the cryptogram; `85` without the
//! indicator for odd INS), `97` (Le), `99` (the status word), `8E` (the MAC, 8 bytes). Padding is
//! ISO/IEC 9797-1 method 2 (`80 00 ..`). Every command and every response increments the SSC.
//!
//! Cipher suites: AES (128/192/256; IV = E(KS_enc, SSC), MAC = AES-CMAC over the padded input,
//! truncated to 8 bytes; SSC 16 bytes) as PACE agrees it, and two-key 3DES (IV zero, ISO/IEC
//! 9797-1 MAC algorithm 3; SSC 8 bytes) as BAC sessions use it, which lets the layer be checked
//! against the protected APDUs of Doc 9303-11 Appendix D.4 byte for byte.

// generic-array 0.14 is what the RustCrypto cipher 0.4 line takes; it is marked deprecated since
// 0.14.8 in favour of 1.x, which those crates do not accept yet.
#![allow(deprecated)]

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use cmac::Mac;
use subtle::ConstantTimeEq;

use crate::apdu::{Command, Response, StatusWord};

/// Length of the MAC in data object `8E`.
pub const MAC_LEN: usize = 8;

/// The most bytes the protection adds to a command's or response's data (DO headers, padding
/// indicator, a full padding block, `97`/`99` and `8E`): plain data of `n` bytes travels in at
/// most `n + OVERHEAD` bytes.
pub const OVERHEAD: usize = 40;

/// Why a protected command or response was refused. Each names the data object at fault; the
/// session is over after any of them (Doc 9303-11 section 9.8.7: the keys are dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    /// A mandatory data object is absent.
    #[error("secure messaging: data object {tag:02X} is missing")]
    Missing {
        /// The tag of the absent object.
        tag: u8,
    },
    /// The MAC in `8E` does not verify.
    #[error("secure messaging: the MAC in data object 8E does not verify")]
    BadMac,
    /// A data object is malformed (bad length, truncated, unexpected tag, bad padding).
    #[error("secure messaging: data object {tag:02X} is malformed: {detail}")]
    Malformed {
        /// The tag of the object.
        tag: u8,
        /// What is wrong, with the numbers.
        detail: String,
    },
    /// The card answered without protection: it has ended the session (`69 87`, `69 88`) or
    /// refused the command before secure messaging applied.
    #[error("secure messaging: the card answered {sw} without protection and ended the session")]
    Unprotected {
        /// The plain status word.
        sw: StatusWord,
    },
    /// The session was already ended by an earlier error.
    #[error("secure messaging: the session has ended; authenticate again")]
    Ended,
    /// Session keys of the wrong length for the cipher.
    #[error("secure messaging: a {cipher} key must be {expected} bytes, got {got}")]
    KeyLength {
        /// The cipher.
        cipher: &'static str,
        /// The length it needs.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The command cannot be protected (already has secure messaging bits, or is too long).
    #[error("secure messaging: cannot protect this command: {0}")]
    Unprotectable(String),
}

// The key schedules are large and a session holds one suite for its life: no boxing needed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Suite {
    Aes128(aes::Aes128, cmac::Cmac<aes::Aes128>),
    Aes192(aes::Aes192, cmac::Cmac<aes::Aes192>),
    Aes256(aes::Aes256, cmac::Cmac<aes::Aes256>),
    /// Two-key 3DES: (K1, K2) for the MAC's single-DES steps and the EDE cipher.
    Tdes {
        ede: des::TdesEde2,
        k1: des::Des,
        k2: des::Des,
    },
}

/// The state of one secure messaging session: the session keys and the SSC.
#[derive(Clone)]
pub struct SecureMessaging {
    suite: Suite,
    ssc: Vec<u8>,
    ended: bool,
}

impl std::fmt::Debug for SecureMessaging {
    // Keys never leave this struct, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureMessaging")
            .field("cipher", &self.cipher_name())
            .field("ended", &self.ended)
            .finish()
    }
}

fn key_len_err(cipher: &'static str, expected: usize, got: usize) -> SmError {
    SmError::KeyLength {
        cipher,
        expected,
        got,
    }
}

impl SecureMessaging {
    /// An AES session (PACE): `ks_enc` and `ks_mac` of 16, 24 or 32 bytes, SSC zero.
    pub fn aes(ks_enc: &[u8], ks_mac: &[u8]) -> Result<SecureMessaging, SmError> {
        if ks_enc.len() != ks_mac.len() {
            return Err(key_len_err("AES", ks_enc.len(), ks_mac.len()));
        }
        let suite = match ks_enc.len() {
            16 => Suite::Aes128(
                aes::Aes128::new(GenericArray::from_slice(ks_enc)),
                <cmac::Cmac<aes::Aes128> as KeyInit>::new(GenericArray::from_slice(ks_mac)),
            ),
            24 => Suite::Aes192(
                aes::Aes192::new(GenericArray::from_slice(ks_enc)),
                <cmac::Cmac<aes::Aes192> as KeyInit>::new(GenericArray::from_slice(ks_mac)),
            ),
            32 => Suite::Aes256(
                aes::Aes256::new(GenericArray::from_slice(ks_enc)),
                <cmac::Cmac<aes::Aes256> as KeyInit>::new(GenericArray::from_slice(ks_mac)),
            ),
            n => return Err(key_len_err("AES", 16, n)),
        };
        Ok(SecureMessaging {
            suite,
            ssc: vec![0; 16],
            ended: false,
        })
    }

    /// A two-key 3DES session (BAC) with 16-byte keys and the 8-byte SSC the key agreement made.
    pub fn tdes(ks_enc: &[u8], ks_mac: &[u8], ssc: [u8; 8]) -> Result<SecureMessaging, SmError> {
        if ks_enc.len() != 16 {
            return Err(key_len_err("3DES", 16, ks_enc.len()));
        }
        if ks_mac.len() != 16 {
            return Err(key_len_err("3DES", 16, ks_mac.len()));
        }
        let mut ede_key = [0u8; 16];
        ede_key.copy_from_slice(ks_enc);
        Ok(SecureMessaging {
            suite: Suite::Tdes {
                ede: des::TdesEde2::new(GenericArray::from_slice(&ede_key)),
                k1: des::Des::new(GenericArray::from_slice(&ks_mac[..8])),
                k2: des::Des::new(GenericArray::from_slice(&ks_mac[8..])),
            },
            ssc: ssc.to_vec(),
            ended: false,
        })
    }

    /// The cipher's name, for messages.
    pub fn cipher_name(&self) -> &'static str {
        match self.suite {
            Suite::Aes128(..) => "AES-128",
            Suite::Aes192(..) => "AES-192",
            Suite::Aes256(..) => "AES-256",
            Suite::Tdes { .. } => "3DES",
        }
    }

    /// The current send sequence counter.
    pub fn ssc(&self) -> &[u8] {
        &self.ssc
    }

    /// Whether an error has ended the session.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Ends the session (the keys stay in memory only until this value is dropped).
    pub fn end(&mut self) {
        self.ended = true;
    }

    fn block(&self) -> usize {
        match self.suite {
            Suite::Tdes { .. } => 8,
            _ => 16,
        }
    }

    fn increment_ssc(&mut self) {
        for b in self.ssc.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }

    fn pad(&self, data: &[u8]) -> Vec<u8> {
        pad(data, self.block())
    }

    fn iv(&self) -> Vec<u8> {
        if let Suite::Tdes { .. } = self.suite {
            return vec![0; 8];
        }
        let mut iv = GenericArray::clone_from_slice(&self.ssc);
        match &self.suite {
            Suite::Aes128(c, _) => c.encrypt_block(&mut iv),
            Suite::Aes192(c, _) => c.encrypt_block(&mut iv),
            Suite::Aes256(c, _) => c.encrypt_block(&mut iv),
            Suite::Tdes { .. } => return vec![0; 8],
        }
        iv.to_vec()
    }

    /// CBC encryption of already padded data.
    fn encrypt(&self, padded: &[u8]) -> Vec<u8> {
        let bs = self.block();
        let mut prev = self.iv();
        let mut out = Vec::with_capacity(padded.len());
        for chunk in padded.chunks(bs) {
            let mut blk: Vec<u8> = chunk.iter().zip(&prev).map(|(a, b)| a ^ b).collect();
            self.encrypt_block(&mut blk);
            out.extend_from_slice(&blk);
            prev = blk;
        }
        out
    }

    /// CBC decryption; `data` is a whole number of blocks (checked by the caller).
    fn decrypt(&self, data: &[u8]) -> Vec<u8> {
        let bs = self.block();
        let mut prev = self.iv();
        let mut out = Vec::with_capacity(data.len());
        for chunk in data.chunks(bs) {
            let mut blk = chunk.to_vec();
            self.decrypt_block(&mut blk);
            out.extend(blk.iter().zip(&prev).map(|(a, b)| a ^ b));
            prev = chunk.to_vec();
        }
        out
    }

    fn encrypt_block(&self, blk: &mut [u8]) {
        match &self.suite {
            Suite::Aes128(c, _) => c.encrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Aes192(c, _) => c.encrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Aes256(c, _) => c.encrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Tdes { ede, .. } => ede.encrypt_block(GenericArray::from_mut_slice(blk)),
        }
    }

    fn decrypt_block(&self, blk: &mut [u8]) {
        match &self.suite {
            Suite::Aes128(c, _) => c.decrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Aes192(c, _) => c.decrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Aes256(c, _) => c.decrypt_block(GenericArray::from_mut_slice(blk)),
            Suite::Tdes { ede, .. } => ede.decrypt_block(GenericArray::from_mut_slice(blk)),
        }
    }

    /// The 8-byte MAC over `SSC || input`, padded (Doc 9303-11 9.8.6.1: the MAC input is padded
    /// for both suites).
    fn mac(&self, input: &[u8]) -> [u8; MAC_LEN] {
        let mut n = self.ssc.clone();
        n.extend_from_slice(input);
        let n = self.pad(&n);
        let mut out = [0u8; MAC_LEN];
        match &self.suite {
            Suite::Aes128(_, m) => out.copy_from_slice(&mac_cmac(m, &n)[..MAC_LEN]),
            Suite::Aes192(_, m) => out.copy_from_slice(&mac_cmac(m, &n)[..MAC_LEN]),
            Suite::Aes256(_, m) => out.copy_from_slice(&mac_cmac(m, &n)[..MAC_LEN]),
            Suite::Tdes { k1, k2, .. } => out = retail_mac(k1, k2, &n),
        }
        out
    }

    fn check_mac(&self, input: &[u8], mac: &[u8]) -> Result<(), SmError> {
        let want = self.mac(input);
        if mac.len() == MAC_LEN && bool::from(want.ct_eq(mac)) {
            Ok(())
        } else {
            Err(SmError::BadMac)
        }
    }

    fn guard(&self) -> Result<(), SmError> {
        if self.ended {
            Err(SmError::Ended)
        } else {
            Ok(())
        }
    }

    /// Reader side: protects `cmd`. Increments the SSC. The protected command's Le is `00` (or
    /// `00 00` in extended form when the plain command needed extended length).
    pub fn wrap(&mut self, cmd: &Command) -> Result<Command, SmError> {
        self.guard()?;
        if cmd.cla & 0x0C != 0 {
            return Err(SmError::Unprotectable(format!(
                "CLA {:02X} already has secure messaging bits",
                cmd.cla
            )));
        }
        self.increment_ssc();
        let cla = cmd.cla | 0x0C;
        let odd = cmd.ins & 1 == 1;
        let mut dos = Vec::new();
        if !cmd.data.is_empty() {
            let crypt = self.encrypt(&self.pad(&cmd.data));
            if odd {
                push_do(&mut dos, 0x85, &crypt);
            } else {
                let mut v = Vec::with_capacity(crypt.len() + 1);
                v.push(0x01);
                v.extend_from_slice(&crypt);
                push_do(&mut dos, 0x87, &v);
            }
        }
        if let Some(ne) = cmd.le {
            let le = match ne {
                256 => vec![0x00],
                65536 => vec![0x00, 0x00],
                n if n < 256 => vec![n as u8],
                n if n < 65536 => (n as u16).to_be_bytes().to_vec(),
                n => return Err(SmError::Unprotectable(format!("Le {n} is over 65536"))),
            };
            push_do(&mut dos, 0x97, &le);
        }
        let mut input = self.pad(&[cla, cmd.ins, cmd.p1, cmd.p2]);
        input.extend_from_slice(&dos);
        let mac = self.mac(&input);
        push_do(&mut dos, 0x8E, &mac);
        let extended = cmd.needs_extended() || dos.len() > 255;
        Ok(Command {
            cla,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data: dos,
            le: Some(if extended { 65536 } else { 256 }),
        })
    }

    /// Reader side: checks and opens the card's protected answer to the last wrapped command.
    /// Increments the SSC. Any error ends the session.
    pub fn unwrap(&mut self, rsp: &Response) -> Result<Response, SmError> {
        self.guard()?;
        let out = self.unwrap_inner(rsp);
        if out.is_err() {
            self.ended = true;
        }
        out
    }

    fn unwrap_inner(&mut self, rsp: &Response) -> Result<Response, SmError> {
        self.increment_ssc();
        if rsp.data.is_empty() {
            // A card that detects an SM error answers 6987/6988 in plain and drops its keys; any
            // other unprotected answer is just as final for this session.
            return Err(SmError::Unprotected { sw: rsp.sw });
        }
        let dos = split_dos(&rsp.data)?;
        let mut crypt: Option<(u8, &[u8])> = None;
        let mut sw: Option<&[u8]> = None;
        let mut mac: Option<&[u8]> = None;
        let mut mac_input_end = 0;
        for (i, (tag, value, end)) in dos.iter().enumerate() {
            match tag {
                0x85 | 0x87 if i == 0 => crypt = Some((*tag, value)),
                0x99 if mac.is_none() && sw.is_none() => sw = Some(value),
                0x8E if mac.is_none() => {
                    if i + 1 != dos.len() {
                        return Err(SmError::Malformed {
                            tag: 0x8E,
                            detail: "data objects follow the MAC".into(),
                        });
                    }
                    mac = Some(value);
                    continue;
                }
                t => {
                    return Err(SmError::Malformed {
                        tag: *t,
                        detail: "unexpected or repeated data object in a protected response".into(),
                    });
                }
            }
            mac_input_end = *end;
        }
        let mac = mac.ok_or(SmError::Missing { tag: 0x8E })?;
        let sw = sw.ok_or(SmError::Missing { tag: 0x99 })?;
        self.check_mac(&rsp.data[..mac_input_end], mac)?;
        if sw.len() != 2 {
            return Err(SmError::Malformed {
                tag: 0x99,
                detail: format!("{} bytes, expected 2", sw.len()),
            });
        }
        let sw = StatusWord::from_u16(u16::from_be_bytes([sw[0], sw[1]]));
        let data = match crypt {
            None => Vec::new(),
            Some((tag, value)) => self.open_cryptogram(tag, value)?,
        };
        Ok(Response { data, sw })
    }

    fn open_cryptogram(&self, tag: u8, value: &[u8]) -> Result<Vec<u8>, SmError> {
        let body = if tag == 0x87 {
            match value.split_first() {
                Some((0x01, rest)) => rest,
                Some((ind, _)) => {
                    return Err(SmError::Malformed {
                        tag,
                        detail: format!("padding-content indicator {ind:02X}, expected 01"),
                    });
                }
                None => {
                    return Err(SmError::Malformed {
                        tag,
                        detail: "empty".into(),
                    });
                }
            }
        } else {
            value
        };
        let bs = self.block();
        if body.is_empty() || body.len() % bs != 0 {
            return Err(SmError::Malformed {
                tag,
                detail: format!(
                    "cryptogram of {} bytes is not a whole number of {bs}-byte blocks",
                    body.len()
                ),
            });
        }
        unpad(&self.decrypt(body)).ok_or_else(|| SmError::Malformed {
            tag,
            detail: "bad padding after decryption".into(),
        })
    }

    /// Card side: checks and opens a protected command. Increments the SSC. Any error ends the
    /// session (the card then answers `69 88`).
    pub fn unwrap_command(&mut self, cmd: &Command) -> Result<Command, SmError> {
        self.guard()?;
        let out = self.unwrap_command_inner(cmd);
        if out.is_err() {
            self.ended = true;
        }
        out
    }

    fn unwrap_command_inner(&mut self, cmd: &Command) -> Result<Command, SmError> {
        self.increment_ssc();
        if cmd.cla & 0x0C != 0x0C {
            return Err(SmError::Unprotectable(format!(
                "CLA {:02X} does not say secure messaging",
                cmd.cla
            )));
        }
        let dos = split_dos(&cmd.data)?;
        let mut crypt: Option<(u8, &[u8])> = None;
        let mut le: Option<&[u8]> = None;
        let mut mac: Option<&[u8]> = None;
        let mut mac_input_end = 0;
        for (i, (tag, value, end)) in dos.iter().enumerate() {
            match tag {
                0x85 | 0x87 if i == 0 => crypt = Some((*tag, value)),
                0x97 if le.is_none() && mac.is_none() => le = Some(value),
                0x8E if mac.is_none() && i + 1 == dos.len() => {
                    mac = Some(value);
                    continue;
                }
                t => {
                    return Err(SmError::Malformed {
                        tag: *t,
                        detail: "unexpected or repeated data object in a protected command".into(),
                    });
                }
            }
            mac_input_end = *end;
        }
        let mac = mac.ok_or(SmError::Missing { tag: 0x8E })?;
        let mut input = self.pad(&[cmd.cla, cmd.ins, cmd.p1, cmd.p2]);
        input.extend_from_slice(&cmd.data[..mac_input_end]);
        self.check_mac(&input, mac)?;
        let data = match crypt {
            None => Vec::new(),
            Some((tag, value)) => self.open_cryptogram(tag, value)?,
        };
        let le = match le {
            None => None,
            Some([0]) => Some(256),
            Some([0, 0]) => Some(65536),
            Some([n]) => Some(usize::from(*n)),
            Some([a, b]) => Some(usize::from(u16::from_be_bytes([*a, *b]))),
            Some(v) => {
                return Err(SmError::Malformed {
                    tag: 0x97,
                    detail: format!("{} bytes, expected 1 or 2", v.len()),
                });
            }
        };
        Ok(Command {
            cla: cmd.cla & !0x0C,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            le,
        })
    }

    /// Card side: protects the answer to the last unwrapped command (`odd` for an odd INS, whose
    /// data goes in `85`). Increments the SSC. Returns the R-APDU with `90 00` outside.
    pub fn wrap_response(&mut self, data: &[u8], sw: StatusWord, odd: bool) -> Vec<u8> {
        self.increment_ssc();
        let mut dos = Vec::new();
        if !data.is_empty() {
            let crypt = self.encrypt(&self.pad(data));
            if odd {
                push_do(&mut dos, 0x85, &crypt);
            } else {
                let mut v = Vec::with_capacity(crypt.len() + 1);
                v.push(0x01);
                v.extend_from_slice(&crypt);
                push_do(&mut dos, 0x87, &v);
            }
        }
        push_do(&mut dos, 0x99, &sw.to_u16().to_be_bytes());
        let mac = self.mac(&dos);
        push_do(&mut dos, 0x8E, &mac);
        dos.extend_from_slice(&[0x90, 0x00]);
        dos
    }
}

fn mac_cmac<M: Mac + Clone>(m: &M, data: &[u8]) -> Vec<u8> {
    let mut m = m.clone();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC") with single DES and output transform
/// `E(K1, D(K2, .))`, over data already padded to 8-byte blocks.
fn retail_mac(k1: &des::Des, k2: &des::Des, padded: &[u8]) -> [u8; 8] {
    let mut h = GenericArray::clone_from_slice(&[0u8; 8]);
    for chunk in padded.chunks(8) {
        for (a, b) in h.iter_mut().zip(chunk) {
            *a ^= b;
        }
        k1.encrypt_block(&mut h);
    }
    k2.decrypt_block(&mut h);
    k1.encrypt_block(&mut h);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h);
    out
}

/// One AES block encrypted or decrypted in place with a 16-, 24- or 32-byte key (the one-block
/// steps of PACE and SCP03); `Err` with the length of any other key.
pub(crate) fn aes_block(key: &[u8], b: &mut [u8; 16], encrypt: bool) -> Result<(), usize> {
    let blk = GenericArray::from_mut_slice(b);
    match key.len() {
        16 => {
            let c = aes::Aes128::new(GenericArray::from_slice(key));
            if encrypt {
                c.encrypt_block(blk)
            } else {
                c.decrypt_block(blk)
            }
        }
        24 => {
            let c = aes::Aes192::new(GenericArray::from_slice(key));
            if encrypt {
                c.encrypt_block(blk)
            } else {
                c.decrypt_block(blk)
            }
        }
        32 => {
            let c = aes::Aes256::new(GenericArray::from_slice(key));
            if encrypt {
                c.encrypt_block(blk)
            } else {
                c.decrypt_block(blk)
            }
        }
        n => return Err(n),
    }
    Ok(())
}

/// ISO/IEC 9797-1 padding method 2: `80` then zeros to a whole block (a full block when the data
/// already fills one).
pub fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + block);
    out.extend_from_slice(data);
    out.push(0x80);
    while out.len() % block != 0 {
        out.push(0);
    }
    out
}

/// Removes method-2 padding; `None` when it is not there.
pub fn unpad(data: &[u8]) -> Option<Vec<u8>> {
    let end = data.iter().rposition(|b| *b != 0)?;
    (data[end] == 0x80).then(|| data[..end].to_vec())
}

fn push_do(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    crate::tlv::encode_length(value.len(), out);
    out.extend_from_slice(value);
}

/// One SM data object: its tag, its value and the offset just past it.
type Do<'a> = (u8, &'a [u8], usize);

/// Splits SM data objects (one-byte tags, BER lengths).
fn split_dos(bytes: &[u8]) -> Result<Vec<Do<'_>>, SmError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let tag = bytes[pos];
        let malformed = |detail: String| SmError::Malformed { tag, detail };
        let (len, hdr) = match bytes.get(pos + 1) {
            None => return Err(malformed("truncated before its length".into())),
            Some(&n) if n < 0x80 => (usize::from(n), 2),
            Some(0x81) => match bytes.get(pos + 2) {
                Some(&n) if n >= 0x80 => (usize::from(n), 3),
                Some(_) => return Err(malformed("non-minimal length 81 xx".into())),
                None => return Err(malformed("truncated length".into())),
            },
            Some(0x82) => match (bytes.get(pos + 2), bytes.get(pos + 3)) {
                (Some(&a), Some(&b)) if a != 0 => (usize::from(u16::from_be_bytes([a, b])), 4),
                (Some(_), Some(_)) => return Err(malformed("non-minimal length 82 00 xx".into())),
                _ => return Err(malformed("truncated length".into())),
            },
            Some(n) => return Err(malformed(format!("unsupported length byte {n:02X}"))),
        };
        let start = pos + hdr;
        let end = start.checked_add(len).filter(|e| *e <= bytes.len());
        let Some(end) = end else {
            return Err(malformed(format!(
                "says {len} bytes but only {} follow",
                bytes.len().saturating_sub(start)
            )));
        };
        out.push((tag, &bytes[start..end], end));
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
