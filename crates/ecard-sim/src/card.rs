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

mod binary;
mod files;
mod pace;
mod scp;
mod security;

pub use scp::transport_keys;

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
    /// PACE in progress (transient: lost at reset).
    pace: Option<pace::PaceState>,
    /// Ne of the last plain command, for the 61xx split of its answer.
    last_ne: usize,
    /// The secure messaging session PACE established (transient).
    sm: Option<ecard_chip::sm::SecureMessaging>,
    /// The SCP03 channel of personalization (transient).
    scp: Option<scp::Channel>,
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
        let mut rng = ChaCha20Rng::from_entropy();
        let mut kdd = [0u8; 10];
        rng.fill_bytes(&mut kdd);
        let fs = factory_fs(spec, &ecard_chip::scp03::TEST_KMC, &kdd);
        Card::from_parts(spec.clone(), fs, rng)
    }

    /// A factory-fresh card with a seeded key RNG (tests: the same seed gives the same keys).
    pub fn new_blank_seeded(spec: &SimSpec, seed: u64) -> Card {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut kdd = [0u8; 10];
        rng.fill_bytes(&mut kdd);
        let fs = factory_fs(spec, &ecard_chip::scp03::TEST_KMC, &kdd);
        Card::from_parts(spec.clone(), fs, rng)
    }

    /// A factory-fresh card whose SCP03 transport keys are diversified from `kmc` over its
    /// serial `kdd` (a card OS without SCP03 ignores both).
    pub fn new_blank_keyed(spec: &SimSpec, kmc: &[u8], kdd: &[u8; 10]) -> Card {
        Card::from_parts(
            spec.clone(),
            factory_fs(spec, kmc, kdd),
            ChaCha20Rng::from_entropy(),
        )
    }

    /// The card's serial (its SCP03 key diversification data, upper-case hex), if it has one.
    pub fn serial(&self) -> Option<String> {
        self.fs
            .transport
            .as_ref()
            .map(|t| t.kdd.iter().map(|b| format!("{b:02X}")).collect())
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
            pace: None,
            last_ne: 0,
            sm: None,
            scp: None,
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
        self.pace = None;
        self.sm = None;
        self.scp = None;
    }

    /// Ends the secure messaging session, as the card OS does on an error (fault injection).
    pub fn end_secure_session(&mut self) {
        self.sm = None;
        self.pace = None;
    }

    /// Whether a PACE secure messaging session is open (tests and the link model).
    pub fn in_secure_session(&self) -> bool {
        self.sm.is_some()
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
        // GlobalPlatform's class bytes for SCP03's own commands (80 INITIALIZE UPDATE, 84
        // EXTERNAL AUTHENTICATE).
        let gp = matches!((cmd.cla, cmd.ins), (0x80, 0x50) | (0x84, 0x82));
        if cmd.cla & 0xE3 != 0x00 && !gp {
            return Err(StatusWord::ClaNotSupported);
        }
        if cmd.data.len() > self.spec.max_command_data {
            return Err(StatusWord::WrongLength);
        }
        if cmd.ins != ins::GET_RESPONSE {
            self.pending.clear();
        }
        // Secure messaging (ECARD.md section 10): a protected command is opened with the
        // session's keys; any fault ends the session with 69 88. A plain command other than GET
        // RESPONSE ends a session too (Doc 9303-11 section 9.8.7).
        let outer_ne = cmd.le.unwrap_or(0).min(self.spec.max_response_data);
        if gp {
            let data = if cmd.ins == 0x50 {
                self.initialize_update(&cmd)?
            } else {
                self.external_authenticate(&cmd)?
            };
            return Ok((data, StatusWord::Ok));
        }
        // GlobalPlatform secure messaging (SCP03, CLA bit 3 alone): personalization's channel.
        if cmd.cla & 0x0C == 0x04 {
            let Some((plain, level)) = self.scp_unwrap(&cmd) else {
                return Err(StatusWord::SecurityStatusNotSatisfied);
            };
            let activate = plain.ins == ins::ACTIVATE_FILE;
            let (data, sw) = match self.execute(plain, false, Some(level)) {
                Ok(r) => r,
                Err(sw) => (Vec::new(), sw),
            };
            let mut r = self.scp_wrap(&data, sw);
            if activate && sw.is_ok() {
                self.close_channel_for_good();
            }
            let n = r.len();
            let sw = u16::from_be_bytes([r[n - 2], r[n - 1]]);
            r.truncate(n - 2);
            return self.split_for_ne(r, StatusWord::from_u16(sw), outer_ne);
        }
        let secure = cmd.cla & 0x0C == 0x0C;
        if secure {
            if self.spec.pace.is_empty() {
                return Err(StatusWord::SecureMessagingNotSupported);
            }
            let Some(sm) = self.sm.as_mut() else {
                return Err(SM_ERROR);
            };
            match sm.unwrap_command(&cmd) {
                Ok(plain) => cmd = plain,
                Err(_) => {
                    self.sm = None;
                    return Err(SM_ERROR);
                }
            }
        } else if cmd.cla & 0x0C != 0 {
            return Err(StatusWord::SecureMessagingNotSupported);
        } else if cmd.ins != ins::GET_RESPONSE {
            self.sm = None;
        }
        let odd = cmd.ins & 1 == 1;
        let result = self.execute(cmd, secure, None);
        let (data, sw) = if secure {
            let (data, sw) = match result {
                Ok(r) => r,
                Err(sw) => (Vec::new(), sw),
            };
            let Some(sm) = self.sm.as_mut() else {
                return Err(SM_ERROR);
            };
            let mut r = sm.wrap_response(&data, sw, odd);
            r.truncate(r.len() - 2);
            (r, StatusWord::Ok)
        } else {
            result?
        };
        let ne = if secure { outer_ne } else { self.last_ne };
        self.split_for_ne(data, sw, ne)
    }

    /// More data than Ne (or a case 3 command that produced data, as on T=0): hands out what
    /// fits and keeps the rest for GET RESPONSE, with 61xx saying how much is left.
    fn split_for_ne(
        &mut self,
        data: Vec<u8>,
        sw: StatusWord,
        ne: usize,
    ) -> Result<(Vec<u8>, StatusWord), StatusWord> {
        if data.len() > ne && sw == StatusWord::Ok {
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
        Ok((data, sw))
    }

    /// One plain command (already opened from secure messaging when `secure`).
    fn execute(
        &mut self,
        mut cmd: Command,
        secure: bool,
        scp_level: Option<u8>,
    ) -> Result<(Vec<u8>, StatusWord), StatusWord> {
        // Command chaining: gather the data until the last command of the chain. PACE's GENERAL
        // AUTHENTICATE uses the chaining bit for its steps and is answered step by step.
        if cmd.cla & 0x10 != 0 && cmd.ins != ins::GENERAL_AUTHENTICATE {
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
            self.last_ne = 0;
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
        self.last_ne = ne;
        if !secure && self.guarded(&cmd) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        // A blank in transport state takes perso commands only inside its SCP03 channel, and
        // the CAN only encrypted (ECARD.md section 11).
        if scp_level.is_none() && self.needs_channel(cmd.ins) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if cmd.ins == ins::CHANGE_REFERENCE_DATA
            && self.spec.scp03
            && scp_level.is_some_and(|l| l & ecard_chip::scp03::C_DECRYPTION == 0)
        {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let data = match cmd.ins {
            ins::SELECT => self.select(&cmd)?,
            ins::CREATE_FILE => self.create_file(&cmd)?,
            ins::READ_BINARY | ins::READ_BINARY_ODD => return self.read_binary(&cmd, ne),
            ins::UPDATE_BINARY | ins::UPDATE_BINARY_ODD => self.update_binary(&cmd)?,
            ins::ACTIVATE_FILE => self.activate(&cmd)?,
            ins::GENERATE_ASYMMETRIC_KEY_PAIR => self.generate(&cmd)?,
            ins::INTERNAL_AUTHENTICATE => self.internal_authenticate(&cmd)?,
            ins::GET_CHALLENGE => self.get_challenge(&cmd, ne)?,
            ins::CHANGE_REFERENCE_DATA => self.change_reference_data(&cmd)?,
            ins::MANAGE_SECURITY_ENVIRONMENT => self.mse_set_at(&cmd)?,
            ins::GENERAL_AUTHENTICATE => self.general_authenticate(&cmd)?,
            ins::GET_RESPONSE => {
                if cmd.p1 != 0 || cmd.p2 != 0 {
                    return Err(StatusWord::IncorrectP1P2);
                }
                if self.pending.is_empty() {
                    return Err(StatusWord::ConditionsNotSatisfied);
                }
                self.last_ne = cmd.le.unwrap_or(0).min(self.spec.max_response_data);
                std::mem::take(&mut self.pending)
            }
            _ => return Err(StatusWord::InsNotSupported),
        };
        Ok((data, StatusWord::Ok))
    }

    /// The access rule of a PACE card (ECARD.md section 10): once the application is locked,
    /// every command inside it without secure messaging is refused; SELECT of the application
    /// itself stays open.
    fn guarded(&self, cmd: &Command) -> bool {
        if self.spec.pace.is_empty() || cmd.ins == ins::GET_RESPONSE {
            return false;
        }
        let locked = |i: usize| i != 0 && self.fs.get(i).is_some_and(|n| n.lcs == LCS_ACTIVATED);
        // SELECT of the application by AID, and of the MF, stay open.
        if cmd.ins == ins::SELECT
            && (cmd.p1 == 0x04 || (cmd.p1 == 0x00 && matches!(cmd.data[..], [] | [0x3F, 0x00])))
        {
            return false;
        }
        if locked(self.current_df) {
            return true;
        }
        // Reaching into a locked DF from outside (SELECT by path or FID of one of its files).
        cmd.ins == ins::SELECT
            && matches!(cmd.p1, 0x08 | 0x09)
            && self
                .fs
                .nodes
                .iter()
                .enumerate()
                .any(|(i, n)| n.parent == Some(0) && locked(i))
    }
}

/// The answer to a secure messaging fault (Doc 9303-11 section 9.8.7): the session ends.
const SM_ERROR: StatusWord = StatusWord::Other(0x6988);

/// The file system a card leaves the factory with: the MF and, on a card OS that offers PACE,
/// EF.CardAccess listing its protocols (readable by anyone, as Doc 9303-10 requires).
fn factory_fs(spec: &SimSpec, kmc: &[u8], kdd: &[u8; 10]) -> FileSystem {
    let mut fs = FileSystem::default();
    if spec.scp03 {
        fs.transport = scp::transport_keys(kmc, kdd, spec.scp03_key_version);
    }
    let infos = spec.pace_infos();
    if !infos.is_empty() {
        fs.add(
            0,
            ecard_chip::pace::CARD_ACCESS_FID,
            LCS_ACTIVATED,
            NodeKind::Ef {
                sfi: Some(ecard_chip::pace::CARD_ACCESS_SFI),
                data: ecard_chip::pace::build_card_access(&infos),
            },
        );
    }
    fs
}

fn sw_only(sw: StatusWord) -> Vec<u8> {
    sw.to_u16().to_be_bytes().to_vec()
}
