//! GlobalPlatform SCP03 (GPC 2.3 Amendment D) for secure personalization (ECARD.md section 11):
//! the key derivation function, per-card key diversification from the issuer's master key (KMC),
//! session keys, card and host cryptograms, and the secure channel as pure wrap/unwrap functions
//! for both sides (host: [`Session::wrap`], [`Session::unwrap`]; card: [`Session::unwrap_command`],
//! [`Session::wrap_response`]). S8 mode; security levels up to `33` (C-MAC, C-DECRYPTION, R-MAC,
//! R-ENCRYPTION). No I/O: [`crate::access`] holds the driver that opens a channel.
//!
//! The tests replay the SCP03 traces of osmocom pySim's GlobalPlatform unit tests (AES-128, -192,
//! -256 at levels 11, 03 and 33) and GlobalPlatformPro's KDF vector.

// generic-array 0.14 is what the RustCrypto cipher 0.4 line takes (see sm.rs).
#![allow(deprecated)]

use aes::cipher::KeyInit;
use cmac::Mac;
use subtle::ConstantTimeEq;

use crate::apdu::{Command, Response, StatusWord};

/// C-MAC in the security level.
pub const C_MAC: u8 = 0x01;
/// C-DECRYPTION (command data encrypted).
pub const C_DECRYPTION: u8 = 0x02;
/// R-MAC.
pub const R_MAC: u8 = 0x10;
/// R-ENCRYPTION (response data encrypted).
pub const R_ENCRYPTION: u8 = 0x20;
/// Every protection: the level ECARD.md section 11 asks for.
pub const LEVEL_FULL: u8 = 0x33;

/// Length of a MAC and of a cryptogram in S8 mode.
pub const S8: usize = 8;

/// The GlobalPlatform test key `40 41 .. 4F`: demos and tests only.
pub const TEST_KMC: [u8; 16] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
];

/// Derivation constants of Amendment D Table 4-1.
mod constant {
    pub const CARD_CRYPTOGRAM: u8 = 0x00;
    pub const HOST_CRYPTOGRAM: u8 = 0x01;
    pub const S_ENC: u8 = 0x04;
    pub const S_MAC: u8 = 0x06;
    pub const S_RMAC: u8 = 0x07;
}

/// Why SCP03 failed. Each says which check and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScpError {
    /// A key of a length AES does not take.
    #[error("SCP03: a key must be 16, 24 or 32 bytes, got {0}")]
    KeyLength(usize),
    /// The card's cryptogram did not verify: the card was made with another KMC (or key version).
    #[error("transport key mismatch (card cryptogram did not verify)")]
    CardCryptogram,
    /// The host's cryptogram or a C-MAC did not verify (card side).
    #[error("SCP03: the host cryptogram or C-MAC does not verify")]
    HostAuthentication,
    /// The R-MAC of a response does not verify.
    #[error("SCP03: the R-MAC of the card's answer does not verify")]
    RMac,
    /// A response or command that is not what SCP03 frames (too short, bad padding).
    #[error("SCP03: {0}")]
    Malformed(String),
    /// The channel was closed by an earlier error or by the card.
    #[error("SCP03: the secure channel is closed; open a new one")]
    Closed,
}

/// A card's static keys (ENC, MAC, DEK).
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKeys {
    /// Key-ENC.
    pub enc: Vec<u8>,
    /// Key-MAC.
    pub mac: Vec<u8>,
    /// Key-DEK.
    pub dek: Vec<u8>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticKeys(AES-{})", self.enc.len() * 8)
    }
}

fn cmac(key: &[u8], data: &[u8]) -> Result<[u8; 16], ScpError> {
    let out = match key.len() {
        16 => run_cmac::<cmac::Cmac<aes::Aes128>>(key, data),
        24 => run_cmac::<cmac::Cmac<aes::Aes192>>(key, data),
        32 => run_cmac::<cmac::Cmac<aes::Aes256>>(key, data),
        n => return Err(ScpError::KeyLength(n)),
    };
    let mut o = [0u8; 16];
    o.copy_from_slice(&out[..16]);
    Ok(o)
}

fn run_cmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
        return vec![0; 16];
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// NIST SP 800-108 in counter mode with AES-CMAC as PRF: blocks of `CMAC(key, prefix || i ||
/// suffix)` for i = 1, 2, ... until `out_len` bytes.
pub fn sp800_108(
    key: &[u8],
    prefix: &[u8],
    suffix: &[u8],
    out_len: usize,
) -> Result<Vec<u8>, ScpError> {
    let mut out = Vec::with_capacity(out_len + 16);
    let mut i: u8 = 1;
    while out.len() < out_len {
        let mut input = prefix.to_vec();
        input.push(i);
        input.extend_from_slice(suffix);
        out.extend_from_slice(&cmac(key, &input)?);
        i = i.wrapping_add(1);
    }
    out.truncate(out_len);
    Ok(out)
}

/// The SCP03 data derivation function (Amendment D section 4.1.5): label of 11 zero bytes and
/// the derivation `constant`, a `00` separator, L (`l_bits`, 2 bytes), the counter, the context.
pub fn kdf(key: &[u8], constant: u8, context: &[u8], l_bits: u16) -> Result<Vec<u8>, ScpError> {
    let mut prefix = vec![0u8; 11];
    prefix.push(constant);
    prefix.push(0x00);
    prefix.extend_from_slice(&l_bits.to_be_bytes());
    sp800_108(key, &prefix, context, usize::from(l_bits / 8))
}

/// The card's static keys diversified from the issuer's master key (ECARD.md section 11):
/// [`kdf`] keyed with the KMC, constants 01 (ENC), 02 (MAC), 03 (DEK), context = the 10-byte key
/// diversification data, keys as long as the KMC.
pub fn diversify(kmc: &[u8], kdd: &[u8]) -> Result<StaticKeys, ScpError> {
    let bits = u16::try_from(kmc.len() * 8).map_err(|_| ScpError::KeyLength(kmc.len()))?;
    if !matches!(kmc.len(), 16 | 24 | 32) {
        return Err(ScpError::KeyLength(kmc.len()));
    }
    Ok(StaticKeys {
        enc: kdf(kmc, 0x01, kdd, bits)?,
        mac: kdf(kmc, 0x02, kdd, bits)?,
        dek: kdf(kmc, 0x03, kdd, bits)?,
    })
}

/// Where a card's static keys come from. The file KMC ([`KmcKeys`]) is one; the key-custody work
/// moves the KMC into the PKCS#11 token behind the same trait.
pub trait TransportKeys: Send + Sync {
    /// The static keys of the card with key diversification data `kdd` and key version `kvn`.
    fn card_keys(&self, kdd: &[u8], kvn: u8) -> Result<StaticKeys, ScpError>;
    /// Whether these are the GlobalPlatform test keys (demos and tests only).
    fn is_test_key(&self) -> bool;
}

/// Card keys derived from a KMC held in memory (a 0600 file, or the test key).
#[derive(Clone)]
pub struct KmcKeys {
    kmc: Vec<u8>,
}

impl std::fmt::Debug for KmcKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KmcKeys(AES-{}{})",
            self.kmc.len() * 8,
            if self.is_test_key() { ", test key" } else { "" }
        )
    }
}

impl KmcKeys {
    /// A KMC of 16, 24 or 32 bytes.
    pub fn new(kmc: &[u8]) -> Result<KmcKeys, ScpError> {
        if !matches!(kmc.len(), 16 | 24 | 32) {
            return Err(ScpError::KeyLength(kmc.len()));
        }
        Ok(KmcKeys { kmc: kmc.to_vec() })
    }

    /// The key's bytes, for moving it into a token at a key ceremony (`ecard pki import-kmc`).
    pub fn value_for_import(&self) -> Vec<u8> {
        self.kmc.clone()
    }

    /// The GlobalPlatform test key.
    pub fn test_key() -> KmcKeys {
        KmcKeys {
            kmc: TEST_KMC.to_vec(),
        }
    }
}

impl TransportKeys for KmcKeys {
    fn card_keys(&self, kdd: &[u8], _kvn: u8) -> Result<StaticKeys, ScpError> {
        diversify(&self.kmc, kdd)
    }

    fn is_test_key(&self) -> bool {
        self.kmc == TEST_KMC
    }
}

fn encrypt_cbc(key: &[u8], iv: [u8; 16], data: &[u8]) -> Result<Vec<u8>, ScpError> {
    let mut prev = iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut b = [0u8; 16];
        for (i, x) in chunk.iter().enumerate() {
            b[i] = x ^ prev[i];
        }
        aes_block(key, &mut b, true)?;
        out.extend_from_slice(&b);
        prev = b;
    }
    Ok(out)
}

fn decrypt_cbc(key: &[u8], iv: [u8; 16], data: &[u8]) -> Result<Vec<u8>, ScpError> {
    let mut prev = iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut b = [0u8; 16];
        b.copy_from_slice(chunk);
        let c = b;
        aes_block(key, &mut b, false)?;
        out.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev = c;
    }
    Ok(out)
}

fn aes_block(key: &[u8], b: &mut [u8; 16], encrypt: bool) -> Result<(), ScpError> {
    crate::sm::aes_block(key, b, encrypt).map_err(|_| ScpError::KeyLength(key.len()))
}

/// An SCP03 session: the session keys, the MAC chaining value and the encryption counter.
#[derive(Clone)]
pub struct Session {
    s_enc: Vec<u8>,
    s_mac: Vec<u8>,
    s_rmac: Vec<u8>,
    chain: [u8; 16],
    counter: u128,
    level: u8,
    card_cryptogram: [u8; S8],
    host_cryptogram: [u8; S8],
    closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("level", &format_args!("{:02X}", self.level))
            .field("counter", &self.counter)
            .field("closed", &self.closed)
            .finish()
    }
}

fn sw_is_success(sw: StatusWord) -> bool {
    let v = sw.to_u16();
    v == 0x9000 || v >> 8 == 0x62 || v >> 8 == 0x63
}

impl Session {
    /// Derives the session of `keys` for the two challenges (Amendment D section 6.2.1), at
    /// security level `level` (set at EXTERNAL AUTHENTICATE; the caller may change it with
    /// [`Session::set_level`] before).
    pub fn new(
        keys: &StaticKeys,
        host_challenge: &[u8; 8],
        card_challenge: &[u8; 8],
    ) -> Result<Session, ScpError> {
        let mut context = host_challenge.to_vec();
        context.extend_from_slice(card_challenge);
        let bits = |k: &[u8]| u16::try_from(k.len() * 8).map_err(|_| ScpError::KeyLength(k.len()));
        let s_enc = kdf(&keys.enc, constant::S_ENC, &context, bits(&keys.enc)?)?;
        let s_mac = kdf(&keys.mac, constant::S_MAC, &context, bits(&keys.mac)?)?;
        let s_rmac = kdf(&keys.mac, constant::S_RMAC, &context, bits(&keys.mac)?)?;
        let mut card = [0u8; S8];
        card.copy_from_slice(&kdf(&s_mac, constant::CARD_CRYPTOGRAM, &context, 64)?);
        let mut host = [0u8; S8];
        host.copy_from_slice(&kdf(&s_mac, constant::HOST_CRYPTOGRAM, &context, 64)?);
        Ok(Session {
            s_enc,
            s_mac,
            s_rmac,
            chain: [0; 16],
            counter: 0,
            level: C_MAC,
            card_cryptogram: card,
            host_cryptogram: host,
            closed: false,
        })
    }

    /// The card cryptogram this session expects.
    pub fn card_cryptogram(&self) -> [u8; S8] {
        self.card_cryptogram
    }

    /// The host cryptogram this session sends.
    pub fn host_cryptogram(&self) -> [u8; S8] {
        self.host_cryptogram
    }

    /// Whether `got` is the card cryptogram (constant time).
    pub fn card_cryptogram_matches(&self, got: &[u8]) -> bool {
        got.len() == S8 && bool::from(self.card_cryptogram.ct_eq(got))
    }

    /// The security level in force.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Ends the channel.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Host side: the EXTERNAL AUTHENTICATE command at `level` (C-MAC, no encryption); the level
    /// is in force from the next command on.
    pub fn external_authenticate(&mut self, level: u8) -> Result<Command, ScpError> {
        let mut cmd = Command::new(0x84, 0x82, level, 0x00);
        cmd.data = self.host_cryptogram.to_vec();
        let crypt = self.host_cryptogram;
        let mac = self.c_mac(&cmd, &crypt)?;
        cmd.data.extend_from_slice(&mac);
        self.level = level;
        Ok(cmd)
    }

    /// Card side: checks EXTERNAL AUTHENTICATE; on success the level in P1 is in force.
    pub fn check_external_authenticate(&mut self, cmd: &Command) -> Result<(), ScpError> {
        if cmd.data.len() != 2 * S8 {
            return Err(ScpError::HostAuthentication);
        }
        let (crypt, mac) = cmd.data.split_at(S8);
        let want = self.c_mac(cmd, crypt)?;
        let ok = bool::from(self.host_cryptogram.ct_eq(crypt)) & bool::from(want.ct_eq(mac));
        if !ok {
            return Err(ScpError::HostAuthentication);
        }
        self.level = cmd.p1;
        Ok(())
    }

    /// The C-MAC over `cmd`'s header with the SM class byte and the length of `data` plus the
    /// MAC, chained with the previous MAC (Amendment D 6.2.4). Updates the chaining value.
    fn c_mac(&mut self, cmd: &Command, data: &[u8]) -> Result<[u8; S8], ScpError> {
        let mut input = self.chain.to_vec();
        input.extend_from_slice(&[(cmd.cla & 0xF0) | 0x04, cmd.ins, cmd.p1, cmd.p2]);
        let lc = data.len() + S8;
        if lc > 255 {
            input.push(0);
            input.extend_from_slice(
                &u16::try_from(lc)
                    .map_err(|_| ScpError::Malformed(format!("command data of {lc} bytes")))?
                    .to_be_bytes(),
            );
        } else {
            input.push(lc as u8);
        }
        input.extend_from_slice(data);
        self.chain = cmac(&self.s_mac, &input)?;
        let mut m = [0u8; S8];
        m.copy_from_slice(&self.chain[..S8]);
        Ok(m)
    }

    fn icv(&self, response: bool) -> Result<[u8; 16], ScpError> {
        let mut b = self.counter.to_be_bytes();
        if response {
            b[0] = 0x80;
        }
        aes_block(&self.s_enc, &mut b, true)?;
        Ok(b)
    }

    /// Host side: protects `cmd` at the session's level. The class byte gets the GP secure
    /// messaging bit; Le is kept.
    pub fn wrap(&mut self, cmd: &Command) -> Result<Command, ScpError> {
        if self.closed {
            return Err(ScpError::Closed);
        }
        let mut data = cmd.data.clone();
        if self.level & C_DECRYPTION != 0 {
            self.counter += 1;
            if !data.is_empty() {
                data = encrypt_cbc(&self.s_enc, self.icv(false)?, &crate::sm::pad(&data, 16))?;
            }
        }
        let mac = self.c_mac(cmd, &data)?;
        data.extend_from_slice(&mac);
        Ok(Command {
            cla: (cmd.cla & 0xF0) | 0x04 | (cmd.cla & 0x03),
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            le: cmd.le,
        })
    }

    /// Host side: checks and opens the answer to the last wrapped command. An error status word
    /// comes without protection and is returned as it is.
    pub fn unwrap(&mut self, rsp: &Response) -> Result<Response, ScpError> {
        if self.closed {
            return Err(ScpError::Closed);
        }
        if self.level & R_MAC == 0 || !sw_is_success(rsp.sw) {
            return Ok(rsp.clone());
        }
        let out = self.unwrap_inner(rsp);
        if out.is_err() {
            self.closed = true;
        }
        out
    }

    fn unwrap_inner(&mut self, rsp: &Response) -> Result<Response, ScpError> {
        let Some(split) = rsp.data.len().checked_sub(S8) else {
            return Err(ScpError::Malformed(format!(
                "an answer of {} bytes has no room for its R-MAC",
                rsp.data.len()
            )));
        };
        let (body, mac) = rsp.data.split_at(split);
        let want = self.r_mac(body, rsp.sw)?;
        if !bool::from(want.ct_eq(mac)) {
            return Err(ScpError::RMac);
        }
        let data = if self.level & R_ENCRYPTION != 0 && !body.is_empty() {
            if body.len() % 16 != 0 {
                return Err(ScpError::Malformed(format!(
                    "encrypted answer of {} bytes is not whole AES blocks",
                    body.len()
                )));
            }
            let plain = decrypt_cbc(&self.s_enc, self.icv(true)?, body)?;
            crate::sm::unpad(&plain)
                .ok_or_else(|| ScpError::Malformed("bad padding in the answer".into()))?
        } else {
            body.to_vec()
        };
        Ok(Response { data, sw: rsp.sw })
    }

    fn r_mac(&self, body: &[u8], sw: StatusWord) -> Result<[u8; S8], ScpError> {
        let mut input = self.chain.to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(&sw.to_u16().to_be_bytes());
        let full = cmac(&self.s_rmac, &input)?;
        let mut m = [0u8; S8];
        m.copy_from_slice(&full[..S8]);
        Ok(m)
    }

    /// Card side: checks the C-MAC of a protected command and decrypts its data. Any failure
    /// closes the channel.
    pub fn unwrap_command(&mut self, cmd: &Command) -> Result<Command, ScpError> {
        if self.closed {
            return Err(ScpError::Closed);
        }
        let out = self.unwrap_command_inner(cmd);
        if out.is_err() {
            self.closed = true;
        }
        out
    }

    fn unwrap_command_inner(&mut self, cmd: &Command) -> Result<Command, ScpError> {
        let Some(split) = cmd.data.len().checked_sub(S8) else {
            return Err(ScpError::HostAuthentication);
        };
        let (body, mac) = cmd.data.split_at(split);
        let want = self.c_mac(cmd, body)?;
        if !bool::from(want.ct_eq(mac)) {
            return Err(ScpError::HostAuthentication);
        }
        let mut data = body.to_vec();
        if self.level & C_DECRYPTION != 0 {
            self.counter += 1;
            if !data.is_empty() {
                if data.len() % 16 != 0 {
                    return Err(ScpError::Malformed(
                        "encrypted data is not whole AES blocks".into(),
                    ));
                }
                let plain = decrypt_cbc(&self.s_enc, self.icv(false)?, &data)?;
                data = crate::sm::unpad(&plain)
                    .ok_or_else(|| ScpError::Malformed("bad padding in the command".into()))?;
            }
        }
        Ok(Command {
            cla: cmd.cla & !0x04,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            le: cmd.le,
        })
    }

    /// Card side: protects an answer (R-ENCRYPTION, R-MAC as the level says; an error status
    /// word goes without protection). Returns the R-APDU.
    pub fn wrap_response(&mut self, data: &[u8], sw: StatusWord) -> Result<Vec<u8>, ScpError> {
        let mut out = Vec::new();
        if self.level & R_MAC != 0 && sw_is_success(sw) {
            let body = if self.level & R_ENCRYPTION != 0 && !data.is_empty() {
                encrypt_cbc(&self.s_enc, self.icv(true)?, &crate::sm::pad(data, 16))?
            } else {
                data.to_vec()
            };
            let mac = self.r_mac(&body, sw)?;
            out.extend_from_slice(&body);
            out.extend_from_slice(&mac);
        } else if sw_is_success(sw) {
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&sw.to_u16().to_be_bytes());
        Ok(out)
    }
}

/// What INITIALIZE UPDATE answered (Amendment D 7.1.1.6, S8 mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitializeUpdate {
    /// The key diversification data (the card's serial).
    pub kdd: [u8; 10],
    /// The key version the card used.
    pub kvn: u8,
    /// The SCP's "i" parameter.
    pub i: u8,
    /// The card challenge.
    pub card_challenge: [u8; 8],
    /// The card cryptogram.
    pub card_cryptogram: [u8; 8],
}

impl InitializeUpdate {
    /// The command with `host_challenge`, for key version `kvn` (0: any).
    pub fn command(kvn: u8, host_challenge: &[u8; 8]) -> Command {
        Command::new(0x80, 0x50, kvn, 0x00)
            .with_data(host_challenge.to_vec())
            .with_le(256)
    }

    /// Parses the answer's data (29 or 32 bytes).
    pub fn parse(data: &[u8]) -> Result<InitializeUpdate, ScpError> {
        if !matches!(data.len(), 29 | 32) {
            return Err(ScpError::Malformed(format!(
                "INITIALIZE UPDATE answered {} bytes, expected 29 or 32 (S8 mode)",
                data.len()
            )));
        }
        if data[11] != 0x03 {
            return Err(ScpError::Malformed(format!(
                "the card speaks SCP{:02X}, not SCP03",
                data[11]
            )));
        }
        let mut kdd = [0u8; 10];
        kdd.copy_from_slice(&data[..10]);
        let mut card_challenge = [0u8; 8];
        card_challenge.copy_from_slice(&data[13..21]);
        let mut card_cryptogram = [0u8; 8];
        card_cryptogram.copy_from_slice(&data[21..29]);
        Ok(InitializeUpdate {
            kdd,
            kvn: data[10],
            i: data[12],
            card_challenge,
            card_cryptogram,
        })
    }

    /// The answer's data, as a card sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.kdd.to_vec();
        v.extend_from_slice(&[self.kvn, 0x03, self.i]);
        v.extend_from_slice(&self.card_challenge);
        v.extend_from_slice(&self.card_cryptogram);
        v
    }

    /// The card serial for the stock ledger: the diversification data in upper-case hex.
    pub fn serial(&self) -> String {
        self.kdd.iter().map(|b| format!("{b:02X}")).collect()
    }
}

#[cfg(test)]
mod tests;
