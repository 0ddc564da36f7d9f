//! The card OS: one C-APDU in, one R-APDU out, like a chip behind its contacts.
//!
//! Implemented: SELECT (FID, child DF/EF, parent, AID, path; P2 0C, 04 and 00), CREATE FILE with
//! an FCP template, UPDATE/READ BINARY (even INS with offsets up to 32767 or SFI in P1; odd INS
//! with DO 54/53), command chaining, GET RESPONSE, GET CHALLENGE, GENERATE ASYMMETRIC KEY PAIR
//! (P-256), INTERNAL AUTHENTICATE (ECDSA-SHA256, r||s) and ACTIVATE FILE. After activation every
//! write under the DF is refused with 6982: the card's fixed access rule is "write never once
//! operational". No command returns a private key.
//!
//! [`Card::process`] never panics, whatever the bytes: every failure is a status word.

use ecard_chip::apdu::{Command, StatusWord, ins};
use ecard_chip::tlv;
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::fs::{FileSystem, Key, LCS_ACTIVATED, LCS_INITIALISATION, NodeKind};
use crate::spec::SimSpec;

type Answer = Result<Vec<u8>, StatusWord>;

/// Most bytes a chain of commands may gather.
const MAX_CHAIN: usize = 65535;

/// A simulated contact card.
pub struct Card {
    spec: SimSpec,
    fs: FileSystem,
    powered: bool,
    current_df: usize,
    current_ef: Option<usize>,
    chain: Option<(u8, u8, u8, Vec<u8>)>,
    pending: Vec<u8>,
    rng: ChaCha20Rng,
    write_budget: Option<usize>,
    torn: bool,
    pages_last: usize,
    bytes_written: usize,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("profile", &self.spec.profile_name)
            .field("files", &self.fs.nodes.len())
            .field("powered", &self.powered)
            .finish()
    }
}

impl Card {
    /// A factory-fresh card (only the MF), its key RNG seeded from the OS.
    pub fn new_blank(spec: &SimSpec) -> Card {
        Card::from_parts(
            spec.clone(),
            FileSystem::default(),
            ChaCha20Rng::from_entropy(),
        )
    }

    /// A factory-fresh card with a seeded key RNG (tests: the same seed gives the same keys).
    pub fn new_blank_seeded(spec: &SimSpec, seed: u64) -> Card {
        Card::from_parts(
            spec.clone(),
            FileSystem::default(),
            ChaCha20Rng::seed_from_u64(seed),
        )
    }

    pub(crate) fn from_parts(spec: SimSpec, fs: FileSystem, rng: ChaCha20Rng) -> Card {
        Card {
            spec,
            fs,
            powered: true,
            current_df: 0,
            current_ef: None,
            chain: None,
            pending: Vec::new(),
            rng,
            write_budget: None,
            torn: false,
            pages_last: 0,
            bytes_written: 0,
        }
    }

    pub(crate) fn parts(&self) -> (&SimSpec, &FileSystem) {
        (&self.spec, &self.fs)
    }

    /// The card's description.
    pub fn spec(&self) -> &SimSpec {
        &self.spec
    }

    /// The answer to reset.
    pub fn atr(&self) -> &[u8] {
        &self.spec.atr
    }

    /// Contacts powered: session state starts fresh at the MF.
    pub fn power_on(&mut self) -> &[u8] {
        self.powered = true;
        self.reset_session();
        &self.spec.atr
    }

    /// Power removed: session state is lost, files stay.
    pub fn power_off(&mut self) {
        self.powered = false;
        self.reset_session();
    }

    /// Warm reset.
    pub fn reset(&mut self) -> &[u8] {
        self.power_on()
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    fn reset_session(&mut self) {
        self.current_df = 0;
        self.current_ef = None;
        self.chain = None;
        self.pending.clear();
    }

    /// Fault injection: at most `bytes` more bytes reach EEPROM; the write that would pass the
    /// budget stops part-way and the card is torn (see [`Card::take_torn`]).
    pub fn set_write_budget(&mut self, bytes: Option<usize>) {
        self.write_budget = bytes;
    }

    /// Whether the last command was torn by the write budget (and clears the flag).
    pub fn take_torn(&mut self) -> bool {
        std::mem::take(&mut self.torn)
    }

    /// EEPROM pages programmed by the last command.
    pub fn pages_written_by_last_command(&self) -> usize {
        self.pages_last
    }

    /// EEPROM bytes written since power-up of this object.
    pub fn bytes_written(&self) -> usize {
        self.bytes_written
    }

    /// The content of the EF with file id path `path` from the MF (for tests and QA tools that
    /// inspect an image; a real card has no such door).
    pub fn ef_content(&self, path: &[u16]) -> Option<&[u8]> {
        let mut cur = 0;
        for fid in path {
            cur = self.fs.child_by_fid(cur, *fid)?;
        }
        match &self.fs.get(cur)?.kind {
            NodeKind::Ef { data, .. } => Some(data),
            NodeKind::Df { .. } => None,
        }
    }

    /// Processes one C-APDU and returns the R-APDU (data, SW1, SW2).
    pub fn process(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.pages_last = 0;
        if !self.powered {
            return sw_only(StatusWord::NoPreciseDiagnosis);
        }
        let (data, sw) = match self.dispatch(capdu) {
            Ok((data, sw)) => (data, sw),
            Err(sw) => (Vec::new(), sw),
        };
        let mut out = data;
        out.extend_from_slice(&sw.to_u16().to_be_bytes());
        out
    }

    fn dispatch(&mut self, capdu: &[u8]) -> Result<(Vec<u8>, StatusWord), StatusWord> {
        let Ok(mut cmd) = Command::parse(capdu) else {
            return Err(StatusWord::WrongLength);
        };
        let extended = capdu.len() >= 7 && capdu[4] == 0;
        if extended && !self.spec.extended {
            return Err(StatusWord::WrongLength);
        }
        if cmd.cla & 0xEF != 0x00 {
            return Err(if cmd.cla & 0x0C != 0 && cmd.cla & 0xE0 == 0 {
                StatusWord::SecureMessagingNotSupported
            } else {
                StatusWord::ClaNotSupported
            });
        }
        if cmd.data.len() > self.spec.max_command_data {
            return Err(StatusWord::WrongLength);
        }
        if cmd.ins != ins::GET_RESPONSE {
            self.pending.clear();
        }
        // Command chaining: gather the data until the last command of the chain.
        if cmd.cla & 0x10 != 0 {
            let (ci, p1, p2, mut buf) =
                self.chain
                    .take()
                    .unwrap_or((cmd.ins, cmd.p1, cmd.p2, Vec::new()));
            if (ci, p1, p2) != (cmd.ins, cmd.p1, cmd.p2) {
                return Err(StatusWord::LastCommandOfChainExpected);
            }
            if buf.len() + cmd.data.len() > MAX_CHAIN {
                return Err(StatusWord::WrongLength);
            }
            buf.extend_from_slice(&cmd.data);
            self.chain = Some((ci, p1, p2, buf));
            return Ok((Vec::new(), StatusWord::Ok));
        }
        if let Some((ci, p1, p2, mut buf)) = self.chain.take() {
            if (ci, p1, p2) != (cmd.ins, cmd.p1, cmd.p2) {
                return Err(StatusWord::LastCommandOfChainExpected);
            }
            buf.extend_from_slice(&cmd.data);
            cmd.data = buf;
        }
        let ne = cmd.le.unwrap_or(0).min(self.spec.max_response_data);
        let data = match cmd.ins {
            ins::SELECT => self.select(&cmd)?,
            ins::CREATE_FILE => self.create_file(&cmd)?,
            ins::READ_BINARY | ins::READ_BINARY_ODD => return self.read_binary(&cmd, ne),
            ins::UPDATE_BINARY | ins::UPDATE_BINARY_ODD => self.update_binary(&cmd)?,
            ins::ACTIVATE_FILE => self.activate(&cmd)?,
            ins::GENERATE_ASYMMETRIC_KEY_PAIR => self.generate(&cmd)?,
            ins::INTERNAL_AUTHENTICATE => self.internal_authenticate(&cmd)?,
            ins::GET_CHALLENGE => self.get_challenge(&cmd, ne)?,
            ins::GET_RESPONSE => {
                if cmd.p1 != 0 || cmd.p2 != 0 {
                    return Err(StatusWord::IncorrectP1P2);
                }
                if self.pending.is_empty() {
                    return Err(StatusWord::ConditionsNotSatisfied);
                }
                std::mem::take(&mut self.pending)
            }
            _ => return Err(StatusWord::InsNotSupported),
        };
        // More data than Ne (or a case 3 command that produced data, as on T=0): hand out what
        // fits and keep the rest for GET RESPONSE, with 61xx saying how much is left.
        if data.len() > ne {
            let rest = data[ne..].to_vec();
            let head = data[..ne].to_vec();
            let left = rest.len().min(255) as u8;
            self.pending = rest;
            let sw = if left == 0 || self.pending.len() > 255 {
                StatusWord::BytesAvailable(0)
            } else {
                StatusWord::BytesAvailable(left)
            };
            return Ok((head, sw));
        }
        Ok((data, StatusWord::Ok))
    }

    fn select(&mut self, cmd: &Command) -> Answer {
        if !matches!(cmd.p2, 0x00 | 0x04 | 0x0C) {
            return Err(StatusWord::IncorrectP1P2);
        }
        let d = &cmd.data;
        let fid_at =
            |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?])) };
        let target = match cmd.p1 {
            0x00 if d.is_empty() => Some(0),
            0x00..=0x02 => {
                if d.len() != 2 {
                    return Err(StatusWord::WrongLength);
                }
                let fid = fid_at(0).ok_or(StatusWord::WrongLength)?;
                let found = if fid == 0x3F00 && cmd.p1 == 0x00 {
                    Some(0)
                } else {
                    self.fs.child_by_fid(self.current_df, fid)
                };
                found.filter(|f| match cmd.p1 {
                    0x01 => self.fs.is_df(*f),
                    0x02 => !self.fs.is_df(*f),
                    _ => true,
                })
            }
            0x03 => {
                if !d.is_empty() {
                    return Err(StatusWord::WrongLength);
                }
                self.fs.get(self.current_df).and_then(|n| n.parent)
            }
            0x04 => self.fs.df_by_name(d),
            0x08 | 0x09 => {
                if d.is_empty() || !d.len().is_multiple_of(2) {
                    return Err(StatusWord::WrongLength);
                }
                let mut cur = Some(if cmd.p1 == 0x08 { 0 } else { self.current_df });
                for i in (0..d.len()).step_by(2) {
                    cur = match (cur, fid_at(i)) {
                        (Some(c), Some(fid)) if self.fs.is_df(c) => self.fs.child_by_fid(c, fid),
                        _ => None,
                    };
                }
                cur
            }
            _ => return Err(StatusWord::IncorrectP1P2),
        };
        let target = target.ok_or(StatusWord::FileNotFound)?;
        if self.fs.is_df(target) {
            self.current_df = target;
            self.current_ef = None;
        } else {
            self.current_df = self.fs.get(target).and_then(|n| n.parent).unwrap_or(0);
            self.current_ef = Some(target);
        }
        if cmd.p2 == 0x0C {
            Ok(Vec::new())
        } else {
            Ok(self.fcp(target))
        }
    }

    fn fcp(&self, i: usize) -> Vec<u8> {
        let Some(n) = self.fs.get(i) else {
            return Vec::new();
        };
        let mut objs = Vec::new();
        match &n.kind {
            NodeKind::Ef { sfi, data } => {
                objs.push(tlv::primitive(0x80, (data.len() as u16).to_be_bytes()));
                objs.push(tlv::primitive(0x82, [0x01]));
                objs.push(tlv::primitive(0x83, n.fid.to_be_bytes()));
                if let Some(s) = sfi {
                    objs.push(tlv::primitive(0x88, [*s << 3]));
                }
            }
            NodeKind::Df { name, .. } => {
                objs.push(tlv::primitive(0x82, [0x38]));
                objs.push(tlv::primitive(0x83, n.fid.to_be_bytes()));
                if !name.is_empty() {
                    objs.push(tlv::primitive(0x84, name.clone()));
                }
            }
        }
        objs.push(tlv::primitive(0x8A, [n.lcs]));
        tlv::encode(&tlv::constructed(0x62, objs))
    }

    fn create_file(&mut self, cmd: &Command) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let fcp = tlv::parse_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
        if tlv::tag_number(fcp.tag()) != 0x62 {
            return Err(StatusWord::IncorrectData);
        }
        let mut size = None;
        let mut descriptor = None;
        let mut fid = None;
        let mut name = Vec::new();
        let mut sfi: Option<Option<u8>> = None;
        let mut lcs = LCS_INITIALISATION;
        for o in tlv::children(&fcp) {
            let v = tlv::primitive_value(o).ok_or(StatusWord::IncorrectData)?;
            match tlv::tag_number(o.tag()) {
                0x80 | 0x81 if !v.is_empty() && v.len() <= 3 => {
                    size = Some(v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)));
                }
                0x82 if !v.is_empty() => descriptor = Some(v[0]),
                0x83 if v.len() == 2 => fid = Some(u16::from_be_bytes([v[0], v[1]])),
                0x84 if !v.is_empty() && v.len() <= 16 => name = v.to_vec(),
                // 88 with no value: no short id; one byte: the SFI in bits 8 to 4 (ISO/IEC 7816-4
                // table 12), bits 3 to 1 zero.
                0x88 if v.is_empty() => sfi = Some(None),
                0x88 if v.len() == 1 => {
                    let s = v[0] >> 3;
                    if v[0] & 0x07 != 0 || s == 0 || s > 30 {
                        return Err(StatusWord::IncorrectData);
                    }
                    sfi = Some(Some(s));
                }
                0x8A if v.len() == 1 => lcs = v[0],
                0x80..=0x8F => return Err(StatusWord::IncorrectData),
                _ => {}
            }
        }
        let fid = fid.ok_or(StatusWord::IncorrectData)?;
        if matches!(fid, 0x3F00 | 0x3FFF | 0xFFFF) {
            return Err(StatusWord::IncorrectData);
        }
        let parent = self.current_df;
        if parent != 0 && !self.fs.writable(parent) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if self.fs.child_by_fid(parent, fid).is_some() {
            return Err(StatusWord::FileExists);
        }
        let idx = match descriptor {
            Some(0x38) => {
                if self.fs.df_by_name(&name).is_some() {
                    return Err(StatusWord::DfNameExists);
                }
                self.reserve(crate::fs::DF_OVERHEAD + name.len())?;
                let idx = self.fs.add(
                    parent,
                    fid,
                    lcs,
                    NodeKind::Df {
                        name,
                        children: Vec::new(),
                        keys: Vec::new(),
                    },
                );
                self.current_df = idx;
                self.current_ef = None;
                idx
            }
            Some(0x01) => {
                let size = size.ok_or(StatusWord::IncorrectData)?;
                let sfi = sfi.unwrap_or(Some((fid & 0x1F) as u8)).filter(|s| *s != 0);
                if let Some(s) = sfi
                    && self.fs.child_by_sfi(parent, s).is_some()
                {
                    return Err(StatusWord::FileExists);
                }
                self.reserve(size)?;
                let idx = self.fs.add(
                    parent,
                    fid,
                    lcs,
                    NodeKind::Ef {
                        sfi,
                        data: vec![0; size],
                    },
                );
                self.current_ef = Some(idx);
                idx
            }
            _ => return Err(StatusWord::IncorrectData),
        };
        let _ = idx;
        Ok(Vec::new())
    }

    fn reserve(&self, bytes: usize) -> Result<(), StatusWord> {
        if self.fs.used().saturating_add(bytes) > self.spec.eeprom_size {
            Err(StatusWord::NotEnoughMemory)
        } else {
            Ok(())
        }
    }

    /// The EF a READ/UPDATE BINARY addresses and the offset: even INS uses P1-P2 (SFI when bit 8
    /// of P1 is set); odd INS uses P1-P2 for the file and DO 54 for the offset.
    fn binary_target(&mut self, cmd: &Command) -> Result<(usize, usize, Vec<u8>), StatusWord> {
        let odd = cmd.ins & 1 == 1;
        let (ef, offset, payload) = if !odd {
            if cmd.p1 & 0x80 != 0 {
                if cmd.p1 & 0x60 != 0 {
                    return Err(StatusWord::IncorrectP1P2);
                }
                let ef = self
                    .fs
                    .child_by_sfi(self.current_df, cmd.p1 & 0x1F)
                    .ok_or(StatusWord::FileNotFound)?;
                (ef, usize::from(cmd.p2), cmd.data.clone())
            } else {
                let ef = self.current_ef.ok_or(StatusWord::NoCurrentEf)?;
                (
                    ef,
                    usize::from(u16::from_be_bytes([cmd.p1, cmd.p2])),
                    cmd.data.clone(),
                )
            }
        } else {
            let ef = match (cmd.p1, cmd.p2) {
                (0, 0) => self.current_ef.ok_or(StatusWord::NoCurrentEf)?,
                (0, s) if s <= 0x1F => self
                    .fs
                    .child_by_sfi(self.current_df, s)
                    .ok_or(StatusWord::FileNotFound)?,
                (a, b) => self
                    .fs
                    .child_by_fid(self.current_df, u16::from_be_bytes([a, b]))
                    .filter(|f| !self.fs.is_df(*f))
                    .ok_or(StatusWord::FileNotFound)?,
            };
            let objs = tlv::parse_all_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
            let mut offset = 0usize;
            let mut payload = Vec::new();
            for o in &objs {
                let v = tlv::primitive_value(o).ok_or(StatusWord::IncorrectData)?;
                match tlv::tag_number(o.tag()) {
                    0x54 if !v.is_empty() && v.len() <= 3 => {
                        offset = v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
                    }
                    0x53 => payload = v.to_vec(),
                    _ => return Err(StatusWord::IncorrectData),
                }
            }
            (ef, offset, payload)
        };
        if self.fs.is_df(ef) {
            return Err(StatusWord::NoCurrentEf);
        }
        self.current_ef = Some(ef);
        Ok((ef, offset, payload))
    }

    fn read_binary(
        &mut self,
        cmd: &Command,
        ne: usize,
    ) -> Result<(Vec<u8>, StatusWord), StatusWord> {
        let odd = cmd.ins & 1 == 1;
        let asked = cmd.le.ok_or(StatusWord::WrongLength)?;
        let (ef, offset, _) = self.binary_target(cmd)?;
        let Some(NodeKind::Ef { data, .. }) = self.fs.get(ef).map(|n| &n.kind) else {
            return Err(StatusWord::NoCurrentEf);
        };
        if offset > data.len() {
            return Err(StatusWord::WrongP1P2);
        }
        let avail = data.len() - offset;
        let room = if odd {
            // DO 53 header inside Ne: tag, and a length of 1 to 3 bytes.
            let hdr = |n: usize| {
                1 + if n < 0x80 {
                    1
                } else if n < 0x100 {
                    2
                } else {
                    3
                }
            };
            let mut n = ne.saturating_sub(2);
            while n > 0 && n + hdr(n) > ne {
                n -= 1;
            }
            n
        } else {
            ne
        };
        let n = room.min(avail);
        let chunk = data[offset..offset + n].to_vec();
        let sw = if n == avail && n < room.min(asked) {
            StatusWord::EndOfFile
        } else {
            StatusWord::Ok
        };
        let out = if odd {
            tlv::encode(&tlv::primitive(0x53, chunk))
        } else {
            chunk
        };
        Ok((out, sw))
    }

    fn update_binary(&mut self, cmd: &Command) -> Answer {
        let (ef, offset, payload) = self.binary_target(cmd)?;
        if payload.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        if !self.fs.writable(ef) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let page = self.spec.page_size.max(1);
        let budget = self.write_budget;
        let Some(crate::fs::Node {
            kind: NodeKind::Ef { data, .. },
            ..
        }) = self.fs.nodes.get_mut(ef)
        else {
            return Err(StatusWord::NoCurrentEf);
        };
        let end = offset
            .checked_add(payload.len())
            .ok_or(StatusWord::WrongP1P2)?;
        if end > data.len() {
            return Err(StatusWord::NotEnoughMemory);
        }
        // A tear leaves the bytes before it written, as an EEPROM does when power goes mid-write.
        let n = budget.map_or(payload.len(), |b| b.min(payload.len()));
        data[offset..offset + n].copy_from_slice(&payload[..n]);
        if n > 0 {
            self.pages_last = (offset + n - 1) / page - offset / page + 1;
        }
        self.bytes_written += n;
        if let Some(b) = budget {
            self.write_budget = Some(b - n);
            if n < payload.len() {
                self.torn = true;
                self.powered = false;
                return Err(StatusWord::MemoryFailure);
            }
        }
        Ok(Vec::new())
    }

    fn activate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.lock_supported {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 || cmd.p2 != 0 || !cmd.data.is_empty() {
            return Err(StatusWord::IncorrectP1P2);
        }
        let target = self.current_ef.unwrap_or(self.current_df);
        if target == 0 {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        if let Some(n) = self.fs.nodes.get_mut(target) {
            n.lcs = LCS_ACTIVATED;
        }
        Ok(Vec::new())
    }

    fn generate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.active_authentication {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 || cmd.p2 == 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let df = self.current_df;
        if df == 0 || !self.fs.writable(df) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let secret = p256::SecretKey::random(&mut self.rng);
        let point = secret.public_key().to_sec1_bytes();
        let Some(crate::fs::Node {
            kind: NodeKind::Df { keys, .. },
            ..
        }) = self.fs.nodes.get_mut(df)
        else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        if keys.iter().any(|k| k.reference == cmd.p2) {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        keys.push(Key {
            reference: cmd.p2,
            scalar: secret.to_bytes().to_vec(),
        });
        Ok(tlv::encode(&tlv::constructed(
            0x7F49,
            vec![tlv::primitive(0x86, point.to_vec())],
        )))
    }

    fn internal_authenticate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.active_authentication {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        if cmd.data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let key = self
            .fs
            .find_key(self.current_df, cmd.p2)
            .ok_or(StatusWord::ReferenceNotFound)?;
        let signing = SigningKey::from_slice(&key.scalar).map_err(|_| StatusWord::MemoryFailure)?;
        let sig: Signature = signing.sign(&cmd.data);
        Ok(sig.to_bytes().to_vec())
    }

    fn get_challenge(&mut self, cmd: &Command, ne: usize) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        if ne == 0 {
            return Err(StatusWord::WrongLength);
        }
        let mut out = vec![0; ne];
        self.rng.fill_bytes(&mut out);
        Ok(out)
    }
}

fn sw_only(sw: StatusWord) -> Vec<u8> {
    sw.to_u16().to_be_bytes().to_vec()
}
