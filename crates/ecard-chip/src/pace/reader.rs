//! The terminal's side of PACE as a state machine: MSE:Set AT, then four GENERAL AUTHENTICATE
//! steps (encrypted nonce, mapping, key agreement, mutual authentication). No I/O: call
//! [`PaceReader::poll`], send the APDU, pass the answer to [`PaceReader::handle_response`], until
//! `Done` (take the session with [`PaceReader::into_session`]) or `Failed`.

use rand_core::CryptoRngCore;

use super::{
    PaceError, PaceInfo, Password, auth_token, decrypt_nonce, session, session_keys, tokens_equal,
    x_coordinate,
};
use crate::apdu::{Command, Response, StatusWord};
use crate::sm::SecureMessaging;
use crate::tlv;

/// A step of PACE, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaceStep {
    /// MSE:Set AT (protocol and password).
    SetAt,
    /// GENERAL AUTHENTICATE 1: the encrypted nonce.
    Nonce,
    /// GENERAL AUTHENTICATE 2: the mapping keys.
    Mapping,
    /// GENERAL AUTHENTICATE 3: the ephemeral keys.
    KeyAgreement,
    /// GENERAL AUTHENTICATE 4: the authentication tokens.
    MutualAuthentication,
}

impl std::fmt::Display for PaceStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PaceStep::SetAt => "PACE MSE:Set AT",
            PaceStep::Nonce => "PACE GENERAL AUTHENTICATE (encrypted nonce)",
            PaceStep::Mapping => "PACE GENERAL AUTHENTICATE (mapping)",
            PaceStep::KeyAgreement => "PACE GENERAL AUTHENTICATE (key agreement)",
            PaceStep::MutualAuthentication => "PACE GENERAL AUTHENTICATE (mutual authentication)",
        })
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaceAction {
    /// Send this C-APDU and pass the answer to [`PaceReader::handle_response`].
    Transmit(Vec<u8>),
    /// PACE succeeded: [`PaceReader::into_session`] gives the secure messaging session.
    Done,
    /// PACE failed: [`PaceReader::error`] says why.
    Failed,
}

/// Most GET RESPONSE rounds for one PACE answer (they are under 200 bytes).
const MAX_GET_RESPONSE: usize = 4;

/// The terminal's PACE run.
pub struct PaceReader {
    info: PaceInfo,
    kind: &'static str,
    password_ref: u8,
    k_pi: Vec<u8>,
    sk_map: Vec<u8>,
    sk_eph: Vec<u8>,
    step: PaceStep,
    pending: Option<Vec<u8>>,
    awaiting: bool,
    gathered: Vec<u8>,
    rounds: usize,
    pk_map: Vec<u8>,
    generator: Vec<u8>,
    pk_eph: Vec<u8>,
    keys: Option<(Vec<u8>, Vec<u8>)>,
    done: bool,
    error: Option<PaceError>,
}

impl std::fmt::Debug for PaceReader {
    // Keys and the password stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceReader")
            .field("protocol", &self.info.describe())
            .field("password", &self.kind)
            .field("step", &self.step)
            .field("done", &self.done)
            .finish()
    }
}

fn ga(chained: bool, inner: Vec<tlv::Tlv>) -> Command {
    let data = tlv::encode(&tlv::constructed(0x7C, inner));
    Command::new(if chained { 0x10 } else { 0x00 }, 0x86, 0x00, 0x00)
        .with_data(data)
        .with_le(256)
}

impl PaceReader {
    /// Starts PACE with `info` (from EF.CardAccess) and `password`; the ephemeral keys come from
    /// `rng`.
    pub fn new(
        info: PaceInfo,
        password: &Password,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<PaceReader, PaceError> {
        let sk_map = info.curve.random_scalar(rng);
        let sk_eph = info.curve.random_scalar(rng);
        PaceReader::with_keys(info, password, sk_map, sk_eph)
    }

    /// Starts PACE with given ephemeral private keys (the worked examples of Doc 9303-11 fix
    /// them; production code uses [`PaceReader::new`]).
    pub fn with_keys(
        info: PaceInfo,
        password: &Password,
        sk_map: Vec<u8>,
        sk_eph: Vec<u8>,
    ) -> Result<PaceReader, PaceError> {
        for k in [&sk_map, &sk_eph] {
            info.curve
                .check_scalar(k)
                .map_err(|_| PaceError::ApiMisuse("an ephemeral key that is no scalar"))?;
        }
        let mut r = PaceReader {
            info,
            kind: password.kind(),
            password_ref: password.reference(),
            k_pi: password.key(info.key_length)?,
            sk_map,
            sk_eph,
            step: PaceStep::SetAt,
            pending: None,
            awaiting: false,
            gathered: Vec::new(),
            rounds: 0,
            pk_map: Vec::new(),
            generator: Vec::new(),
            pk_eph: Vec::new(),
            keys: None,
            done: false,
            error: None,
        };
        let mut data = tlv::encode(&tlv::primitive(0x80, info.oid()));
        data.extend(tlv::encode(&tlv::primitive(0x83, vec![r.password_ref])));
        data.extend(tlv::encode(&tlv::primitive(
            0x84,
            vec![info.curve.parameter_id()],
        )));
        r.queue(Command::new(0x00, 0x22, 0xC1, 0xA4).with_data(data));
        Ok(r)
    }

    fn queue(&mut self, c: Command) {
        match c.encode() {
            Ok(b) => self.pending = Some(b),
            Err(_) => self.fail(PaceError::ApiMisuse("a PACE command that does not encode")),
        }
    }

    fn fail(&mut self, e: PaceError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.pending = None;
    }

    /// The protocol being run.
    pub fn info(&self) -> &PaceInfo {
        &self.info
    }

    /// Why PACE failed, once it has.
    pub fn error(&self) -> Option<&PaceError> {
        self.error.as_ref()
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> PaceAction {
        if self.error.is_some() {
            return PaceAction::Failed;
        }
        if self.done {
            return PaceAction::Done;
        }
        match self.pending.take() {
            Some(apdu) => {
                self.awaiting = true;
                PaceAction::Transmit(apdu)
            }
            None => PaceAction::Failed,
        }
    }

    /// Takes the answer to the APDU last given by [`PaceReader::poll`].
    pub fn handle_response(&mut self, rapdu: &[u8]) -> Result<(), PaceError> {
        if !self.awaiting || self.error.is_some() || self.done {
            return Err(PaceError::ApiMisuse(
                "a response without a command in flight",
            ));
        }
        self.awaiting = false;
        let out = self.step_with(rapdu);
        if let Err(e) = &out {
            self.fail(e.clone());
        }
        out
    }

    fn malformed(&self, detail: impl Into<String>) -> PaceError {
        PaceError::Malformed {
            step: self.step,
            detail: detail.into(),
        }
    }

    fn step_with(&mut self, rapdu: &[u8]) -> Result<(), PaceError> {
        let rsp = Response::parse(rapdu).map_err(|e| self.malformed(e.to_string()))?;
        if let StatusWord::BytesAvailable(n) = rsp.sw {
            self.rounds += 1;
            if self.rounds > MAX_GET_RESPONSE {
                return Err(self.malformed("the card keeps answering 61xx"));
            }
            self.gathered.extend_from_slice(&rsp.data);
            self.queue(Command::get_response(if n == 0 {
                256
            } else {
                usize::from(n)
            }));
            return Ok(());
        }
        let mut data = std::mem::take(&mut self.gathered);
        data.extend_from_slice(&rsp.data);
        self.rounds = 0;
        match rsp.sw {
            StatusWord::Ok => {}
            StatusWord::AuthenticationBlocked | StatusWord::ReferenceDataNotUsable => {
                return Err(PaceError::Blocked {
                    kind: self.kind,
                    sw: rsp.sw,
                });
            }
            StatusWord::Counter(n) if self.step == PaceStep::MutualAuthentication => {
                return Err(PaceError::WrongPassword {
                    kind: self.kind,
                    retries: Some(n),
                });
            }
            sw if self.step == PaceStep::MutualAuthentication && sw.to_u16() >> 8 == 0x63 => {
                return Err(PaceError::WrongPassword {
                    kind: self.kind,
                    retries: None,
                });
            }
            sw => {
                return Err(PaceError::Card {
                    step: self.step,
                    sw,
                });
            }
        }
        match self.step {
            PaceStep::SetAt => {
                self.step = PaceStep::Nonce;
                self.queue(ga(true, vec![]));
            }
            PaceStep::Nonce => {
                let z = self.dynamic(&data, 0x80)?;
                let z: [u8; 16] = z
                    .try_into()
                    .map_err(|_| self.malformed("the encrypted nonce is not 16 bytes"))?;
                let s = decrypt_nonce(&self.k_pi, &z);
                self.pk_map = self
                    .info
                    .curve
                    .mul(&self.sk_map, None)
                    .map_err(|e| self.malformed(e.to_string()))?;
                // Keep the nonce until the chip's mapping key arrives.
                self.generator = s.to_vec();
                self.step = PaceStep::Mapping;
                let pk = self.pk_map.clone();
                self.queue(ga(true, vec![tlv::primitive(0x81, pk)]));
            }
            PaceStep::Mapping => {
                let pk_ic = self.dynamic(&data, 0x82)?;
                let curve = self.info.curve;
                curve
                    .check_point(&pk_ic)
                    .map_err(|e| self.malformed(format!("the chip's mapping key: {e}")))?;
                if pk_ic == self.pk_map {
                    return Err(self.malformed("the chip echoed the terminal's mapping key"));
                }
                let h = curve
                    .mul(&self.sk_map, Some(&pk_ic))
                    .map_err(|e| self.malformed(e.to_string()))?;
                let s = std::mem::take(&mut self.generator);
                self.generator = curve
                    .map_generic(&s, &h)
                    .map_err(|e| self.malformed(format!("mapping: {e}")))?;
                self.pk_eph = curve
                    .mul(&self.sk_eph, Some(&self.generator))
                    .map_err(|e| self.malformed(e.to_string()))?;
                self.step = PaceStep::KeyAgreement;
                let pk = self.pk_eph.clone();
                self.queue(ga(true, vec![tlv::primitive(0x83, pk)]));
            }
            PaceStep::KeyAgreement => {
                let pk_ic = self.dynamic(&data, 0x84)?;
                let curve = self.info.curve;
                curve
                    .check_point(&pk_ic)
                    .map_err(|e| self.malformed(format!("the chip's ephemeral key: {e}")))?;
                if pk_ic == self.pk_eph {
                    return Err(self.malformed("the chip echoed the terminal's ephemeral key"));
                }
                let k = curve
                    .mul(&self.sk_eph, Some(&pk_ic))
                    .map_err(|e| self.malformed(e.to_string()))?;
                let (ks_enc, ks_mac) = session_keys(x_coordinate(&k), self.info.key_length);
                let t = auth_token(&ks_mac, &self.info, &pk_ic);
                self.keys = Some((ks_enc, ks_mac));
                self.step = PaceStep::MutualAuthentication;
                self.queue(ga(false, vec![tlv::primitive(0x85, t.to_vec())]));
            }
            PaceStep::MutualAuthentication => {
                let t_ic = self.dynamic(&data, 0x86)?;
                let Some((_, ks_mac)) = &self.keys else {
                    return Err(PaceError::ApiMisuse("no session keys at the last step"));
                };
                let want = auth_token(ks_mac, &self.info, &self.pk_eph);
                if !tokens_equal(&want, &t_ic) {
                    return Err(PaceError::BadToken { kind: self.kind });
                }
                self.done = true;
            }
        }
        Ok(())
    }

    /// The value of `tag` inside the dynamic authentication data `7C`.
    fn dynamic(&self, data: &[u8], tag: u32) -> Result<Vec<u8>, PaceError> {
        let t = tlv::parse_strict(data)
            .map_err(|e| self.malformed(format!("dynamic authentication data: {e}")))?;
        if tlv::tag_number(t.tag()) != 0x7C {
            return Err(self.malformed(format!(
                "tag {:02X} where 7C (dynamic authentication data) belongs",
                tlv::tag_number(t.tag())
            )));
        }
        tlv::children(&t)
            .iter()
            .find(|c| tlv::tag_number(c.tag()) == tag)
            .and_then(tlv::primitive_value)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| self.malformed(format!("no data object {tag:02X} in 7C")))
    }

    /// The session keys `(KS_enc, KS_mac)` once agreed (tests check them against the worked
    /// example).
    pub fn session_keys(&self) -> Option<(&[u8], &[u8])> {
        self.keys
            .as_ref()
            .map(|(e, m)| (e.as_slice(), m.as_slice()))
    }

    /// The secure messaging session, once PACE is done.
    pub fn into_session(self) -> Result<SecureMessaging, PaceError> {
        if !self.done {
            return Err(self
                .error
                .unwrap_or(PaceError::ApiMisuse("PACE is not finished")));
        }
        let Some((ks_enc, ks_mac)) = &self.keys else {
            return Err(PaceError::ApiMisuse("no session keys"));
        };
        session(ks_enc, ks_mac)
    }
}
