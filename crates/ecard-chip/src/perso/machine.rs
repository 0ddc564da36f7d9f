//! The [`Personalizer`] state machine. See the module documentation of [`crate::perso`].

use std::collections::VecDeque;

use p256::PublicKey;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

use super::error::{CardState, NotBlank, PersoError, PersoErrorKind, Step};
use crate::apdu::{Command, Exchange, MAX_EVEN_INS_OFFSET, Response, StatusWord};
use crate::lds::{AID, EfId, LdsFiles};
use crate::profile::{CardHook, LargeOffsets, LockMethod, Profile, hook_for};
use crate::tlv;
use crate::transport::{ApduLimits, TransportError};

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send this C-APDU and give the R-APDU to [`Personalizer::handle_response`].
    Transmit(Vec<u8>),
    /// Build the LDS files (DG15 from this key, when there is one, then EF.SOD over the DGs) and
    /// give them to [`Personalizer::provide_files`].
    NeedFiles {
        /// The chip's Active Authentication public key, if the profile has one.
        aa_public_key: Option<PublicKey>,
    },
    /// Finished: [`Personalizer::report`] has the result.
    Finished,
    /// Stopped: [`Personalizer::error`] says why. Errors are sticky.
    Failed,
}

/// Whether the card could be locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockOutcome {
    /// Locked, and a write attempt afterwards was refused with this status word.
    Locked {
        /// The refusal.
        write_refused_with: StatusWord,
    },
    /// The profile has no lock method (e.g. the vicc `iso7816` card).
    NotLockable,
}

impl std::fmt::Display for LockOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockOutcome::Locked { write_refused_with } => {
                write!(f, "card locked (a test write was refused with {write_refused_with})")
            }
            LockOutcome::NotLockable => f.write_str(
                "card could not be locked: its firmware profile has no lock method, so its files stay writable",
            ),
        }
    }
}

/// APDU counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersoStats {
    /// C-APDUs sent.
    pub apdus: u64,
    /// C-APDU bytes sent.
    pub bytes_sent: u64,
    /// R-APDU bytes received.
    pub bytes_received: u64,
}

/// One file as written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Which file.
    pub ef: EfId,
    /// Content bytes.
    pub len: usize,
    /// EF size created on the card (content plus slack).
    pub ef_size: usize,
    /// SHA-256 of the content, equal to the SHA-256 of what was read back.
    pub sha256: [u8; 32],
}

/// The result of a finished personalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersoReport {
    /// The profile used.
    pub profile: String,
    /// [`CardState::Issued`].
    pub card: CardState,
    /// Whether the card is locked.
    pub lock: LockOutcome,
    /// The chip's Active Authentication key, if generated.
    pub aa_public_key: Option<PublicKey>,
    /// Files written, in order.
    pub files: Vec<WrittenFile>,
    /// Counters.
    pub stats: PersoStats,
    /// The link limits used.
    pub limits: ApduLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    SelectMf,
    CheckBlank,
    CheckNoCom,
    CreateDf,
    SelectDf,
    Generate,
    CreateEf,
    SelectEf,
    Write,
    Read { len: usize },
    SelectForLock,
    Activate,
    SelectForVerify,
    VerifyWrite,
}

#[derive(Debug)]
struct Op {
    kind: OpKind,
    step: Step,
    file: Option<EfId>,
    offset: Option<usize>,
    cmd: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Checking,
    Setup,
    AwaitFiles,
    Writing,
    Reading,
    Locking,
    Verifying,
    Done,
}

/// The personalization state machine: performs no I/O (see [`crate::perso`]).
pub struct Personalizer {
    profile: Profile,
    limits: ApduLimits,
    hook: Box<dyn CardHook>,
    files: Option<LdsFiles>,
    ef_sizes: Vec<(EfId, usize)>,
    aa_key: Option<PublicKey>,
    phase: Phase,
    ops: VecDeque<Op>,
    current: Option<(Op, Exchange)>,
    in_flight: bool,
    readback: Vec<u8>,
    written: Vec<WrittenFile>,
    touched: bool,
    lock: Option<LockOutcome>,
    error: Option<PersoError>,
    stats: PersoStats,
    last_step: Step,
}

impl std::fmt::Debug for Personalizer {
    // Never prints file content: it is holder data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personalizer")
            .field("profile", &self.profile.name)
            .field("phase", &self.phase)
            .field("step", &self.step())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Personalizer {
    /// A personalizer for a card of `profile` behind a link with `link` limits (the transport's);
    /// the tighter of the two is used.
    pub fn new(profile: &Profile, link: ApduLimits) -> Personalizer {
        let mut p = Personalizer {
            profile: profile.clone(),
            limits: profile.limits().min(link),
            hook: hook_for(profile),
            files: None,
            ef_sizes: Vec::new(),
            aa_key: None,
            phase: Phase::Checking,
            ops: VecDeque::new(),
            current: None,
            in_flight: false,
            readback: Vec::new(),
            written: Vec::new(),
            touched: false,
            lock: None,
            error: None,
            stats: PersoStats::default(),
            last_step: Step::SelectMf,
        };
        p.push(
            OpKind::SelectMf,
            Step::SelectMf,
            None,
            None,
            Command::select_mf(),
        );
        p.push(
            OpKind::CheckBlank,
            Step::CheckBlank,
            None,
            None,
            Command::select_aid(&AID, true),
        );
        p
    }

    /// Replaces the profile's hook (for a card OS quirk under test).
    pub fn with_hook(mut self, hook: Box<dyn CardHook>) -> Personalizer {
        self.hook = hook;
        self
    }

    // ---- getters ----

    /// The step in progress (or the one that failed).
    pub fn step(&self) -> Step {
        match (&self.current, self.ops.front(), self.phase) {
            (Some((op, _)), _, _) => op.step,
            (None, _, Phase::AwaitFiles) => Step::AwaitFiles,
            (None, _, Phase::Done) => Step::Done,
            (None, Some(op), _) => op.step,
            (None, None, _) => self.last_step,
        }
    }

    /// The file in progress, if any.
    pub fn file(&self) -> Option<EfId> {
        self.current.as_ref().and_then(|(op, _)| op.file)
    }

    /// The card's state as far as this machine knows.
    pub fn card_state(&self) -> CardState {
        if self.phase == Phase::Done && self.error.is_none() {
            CardState::Issued
        } else if self.touched {
            CardState::Spoiled
        } else {
            CardState::Blank
        }
    }

    /// APDU counters so far.
    pub fn stats(&self) -> PersoStats {
        self.stats
    }

    /// The link limits in use.
    pub fn limits(&self) -> ApduLimits {
        self.limits
    }

    /// The chip's Active Authentication key, once generated.
    pub fn aa_public_key(&self) -> Option<&PublicKey> {
        self.aa_key.as_ref()
    }

    /// The error that stopped the run, if any.
    pub fn error(&self) -> Option<&PersoError> {
        self.error.as_ref()
    }

    /// The report, once [`Action::Finished`].
    pub fn report(&self) -> Option<PersoReport> {
        if self.phase != Phase::Done || self.error.is_some() {
            return None;
        }
        Some(PersoReport {
            profile: self.profile.name.clone(),
            card: CardState::Issued,
            lock: self.lock.unwrap_or(LockOutcome::NotLockable),
            aa_public_key: self.aa_key,
            files: self.written.clone(),
            stats: self.stats,
            limits: self.limits,
        })
    }

    // ---- outputs ----

    /// What to do next. Call after construction, after every input, until `Finished` or `Failed`.
    pub fn poll(&mut self) -> Action {
        if self.error.is_some() {
            return Action::Failed;
        }
        if self.in_flight {
            return self.fail(
                None,
                PersoErrorKind::ApiMisuse("poll() while a response is awaited"),
            );
        }
        loop {
            if let Some((_, ex)) = &mut self.current {
                if let Some(apdu) = ex.poll_transmit() {
                    self.in_flight = true;
                    self.stats.apdus += 1;
                    self.stats.bytes_sent += apdu.len() as u64;
                    return Action::Transmit(apdu);
                }
                return self.fail(
                    None,
                    PersoErrorKind::ApiMisuse("exchange has nothing to send"),
                );
            }
            if let Some(op) = self.ops.pop_front() {
                let cmd = self.hook.adjust_command(op.cmd.clone());
                match Exchange::new(cmd, self.limits) {
                    Ok(ex) => {
                        self.last_step = op.step;
                        self.current = Some((op, ex));
                        continue;
                    }
                    Err(e) => {
                        let (file, offset) = (op.file, op.offset);
                        self.last_step = op.step;
                        return self.fail_at(op.step, file, offset, PersoErrorKind::Apdu(e));
                    }
                }
            }
            match self.phase {
                Phase::AwaitFiles => {
                    return Action::NeedFiles {
                        aa_public_key: self.aa_key,
                    };
                }
                Phase::Done => return Action::Finished,
                _ => {
                    if let Err(kind) = self.advance() {
                        return self.fail(None, kind);
                    }
                }
            }
        }
    }

    /// The next C-APDU to send, or `None` when the machine waits for files, is finished or has
    /// failed (then call [`Personalizer::poll`] to learn which).
    pub fn next_command(&mut self) -> Option<Vec<u8>> {
        match self.poll() {
            Action::Transmit(apdu) => Some(apdu),
            _ => None,
        }
    }

    // ---- inputs ----

    /// Takes the R-APDU of the last [`Action::Transmit`].
    pub fn handle_response(&mut self, rapdu: &[u8]) -> Result<(), PersoError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.in_flight {
            return Err(self.fail_err(PersoErrorKind::ApiMisuse(
                "handle_response() without a transmitted command",
            )));
        }
        self.in_flight = false;
        self.stats.bytes_received += rapdu.len() as u64;
        let Some((op, mut ex)) = self.current.take() else {
            return Err(self.fail_err(PersoErrorKind::ApiMisuse("no command in flight")));
        };
        match ex.handle_response(rapdu) {
            Ok(None) => {
                self.current = Some((op, ex));
                Ok(())
            }
            Ok(Some(mut rsp)) => {
                rsp.sw = self.hook.map_status(op.cmd.ins, rsp.sw);
                self.last_step = op.step;
                match self.on_response(&op, rsp) {
                    Ok(()) => Ok(()),
                    Err(kind) => Err(self.fail_at_err(op.step, op.file, op.offset, kind)),
                }
            }
            Err(e) => Err(self.fail_at_err(
                op.step,
                op.file,
                op.offset,
                PersoErrorKind::Malformed {
                    detail: e.to_string(),
                },
            )),
        }
    }

    /// Records that the last transmission failed at the link; returns the (sticky) error with
    /// the step, file and offset it happened at. A write whose outcome is unknown spoils the card.
    pub fn handle_transport_error(&mut self, err: TransportError) -> PersoError {
        if let Some(e) = &self.error {
            return e.clone();
        }
        self.in_flight = false;
        let (step, file, offset, modifying) = match self.current.take() {
            Some((op, _)) => (op.step, op.file, op.offset, is_modifying(op.kind)),
            None => (self.step(), None, None, false),
        };
        if modifying {
            self.touched = true;
        }
        self.fail_at_err(step, file, offset, PersoErrorKind::Transport(err))
    }

    /// Gives the LDS files to write (any time before they are needed; once only). They are
    /// checked: one strict TLV each with the file's tag, EF.COM, DG1 and EF.SOD present, sizes
    /// within the profile, and DG15 holding the key the chip generated.
    pub fn provide_files(&mut self, files: LdsFiles) -> Result<(), PersoError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.files.is_some() {
            return Err(self.fail_err(PersoErrorKind::ApiMisuse("provide_files() called twice")));
        }
        if self.profile.security.active_authentication && self.aa_key.is_none() {
            return Err(self.fail_err(PersoErrorKind::ApiMisuse(
                "files given before the chip generated its key; wait for Action::NeedFiles",
            )));
        }
        if let Err(kind) = self.check_files(&files) {
            return Err(self.fail_at_err(Step::AwaitFiles, kind.0, None, kind.1));
        }
        self.files = Some(files);
        if self.phase == Phase::AwaitFiles {
            self.plan_writes();
        }
        Ok(())
    }

    /// Stops the run because the caller could not build the files.
    pub fn fail_provide(&mut self, reason: String) -> PersoError {
        self.fail_at_err(
            Step::AwaitFiles,
            None,
            None,
            PersoErrorKind::Provide { reason },
        )
    }

    // ---- internals ----

    fn push(
        &mut self,
        kind: OpKind,
        step: Step,
        file: Option<EfId>,
        offset: Option<usize>,
        cmd: Command,
    ) {
        self.ops.push_back(Op {
            kind,
            step,
            file,
            offset,
            cmd,
        });
    }

    fn fail(&mut self, file: Option<EfId>, kind: PersoErrorKind) -> Action {
        let step = self.step();
        self.fail_at(step, file, None, kind)
    }

    fn fail_at(
        &mut self,
        step: Step,
        file: Option<EfId>,
        offset: Option<usize>,
        kind: PersoErrorKind,
    ) -> Action {
        self.fail_at_err(step, file, offset, kind);
        Action::Failed
    }

    fn fail_err(&mut self, kind: PersoErrorKind) -> PersoError {
        let step = self.step();
        self.fail_at_err(step, None, None, kind)
    }

    fn fail_at_err(
        &mut self,
        step: Step,
        file: Option<EfId>,
        offset: Option<usize>,
        kind: PersoErrorKind,
    ) -> PersoError {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let file_size = file.and_then(|f| self.files.as_ref()?.get(&f).map(Vec::len));
        let err = PersoError {
            step,
            file,
            offset,
            file_size: offset.and(file_size),
            card: if self.touched {
                CardState::Spoiled
            } else {
                CardState::Blank
            },
            kind,
        };
        self.current = None;
        self.ops.clear();
        self.error = Some(err.clone());
        err
    }

    fn advance(&mut self) -> Result<(), PersoErrorKind> {
        match self.phase {
            Phase::Checking => {
                self.phase = Phase::Setup;
                if self.profile.security.active_authentication {
                    self.push(
                        OpKind::Generate,
                        Step::GenerateKey,
                        None,
                        None,
                        Command::generate_key_pair(self.profile.security.aa_key_ref),
                    );
                }
            }
            Phase::Setup => {
                self.phase = Phase::AwaitFiles;
                if self.files.is_some() {
                    self.plan_writes();
                }
            }
            Phase::AwaitFiles => {}
            Phase::Writing => self.plan_reads(),
            Phase::Reading => match self.profile.security.lock {
                LockMethod::ActivateDf => {
                    self.phase = Phase::Locking;
                    self.push(
                        OpKind::SelectForLock,
                        Step::Lock,
                        None,
                        None,
                        Command::select_aid(&AID, false),
                    );
                    self.push(
                        OpKind::Activate,
                        Step::Lock,
                        None,
                        None,
                        Command::activate_current(),
                    );
                }
                LockMethod::None => {
                    self.lock = Some(LockOutcome::NotLockable);
                    self.phase = Phase::Done;
                }
            },
            Phase::Locking => {
                self.phase = Phase::Verifying;
                let probe = self
                    .files
                    .as_ref()
                    .and_then(|f| f.get(&EfId::Com))
                    .and_then(|c| c.first().copied())
                    .unwrap_or(0x60);
                let f = Some(EfId::Com);
                self.push(
                    OpKind::SelectForVerify,
                    Step::VerifyLock,
                    f,
                    None,
                    Command::select_ef(EfId::Com.fid()),
                );
                self.push(
                    OpKind::VerifyWrite,
                    Step::VerifyLock,
                    f,
                    Some(0),
                    Command::update_binary(0, vec![probe]),
                );
            }
            Phase::Verifying => self.phase = Phase::Done,
            Phase::Done => {}
        }
        Ok(())
    }

    fn ef_size(&self, len: usize) -> usize {
        len.saturating_add(self.profile.filesystem.file_slack)
            .min(self.profile.filesystem.max_file_size)
            .max(len)
    }

    fn check_files(&self, files: &LdsFiles) -> Result<(), (Option<EfId>, PersoErrorKind)> {
        let invalid =
            |ef: Option<EfId>, reason: String| (ef, PersoErrorKind::InvalidFiles { reason });
        for required in [EfId::Com, EfId::Dg1, EfId::Sod] {
            if !files.contains_key(&required) {
                return Err(invalid(Some(required), format!("{required} is missing")));
            }
        }
        for (ef, bytes) in files {
            // Only the outer TLV is checked here (tag, one object, exact length): the content is
            // the LDS builder's and the verifier's business. A deep strict parse would also
            // refuse EF.COM, whose ICAO tag 5F01 is outside ISO/IEC 7816-4's tag rules.
            let h = tlv::parse_header(bytes).map_err(|e| {
                invalid(
                    Some(*ef),
                    format!("{ef} does not start with a TLV header: {e}"),
                )
            })?;
            if h.tag != ef.tag() {
                return Err(invalid(
                    Some(*ef),
                    format!("{ef} has tag {:02X}, expected {:02X}", h.tag, ef.tag()),
                ));
            }
            if h.total_len() != bytes.len() {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} is {} bytes but its TLV says {}",
                        bytes.len(),
                        h.total_len()
                    ),
                ));
            }
            let max = self.profile.filesystem.max_file_size;
            if bytes.len() > max {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} has {} bytes, over the profile's {max}-byte file limit",
                        bytes.len()
                    ),
                ));
            }
            if bytes.len() > MAX_EVEN_INS_OFFSET + 1
                && self.profile.read.large_offsets == LargeOffsets::None
            {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} has {} bytes but the profile cannot reach offsets over 32767",
                        bytes.len()
                    ),
                ));
            }
        }
        match (&self.aa_key, files.get(&EfId::Dg15)) {
            (Some(key), Some(dg15)) => {
                // DG15 = 6F { SubjectPublicKeyInfo }: the value is the SPKI's DER.
                let in_file = tlv::parse_header(dg15)
                    .ok()
                    .and_then(|h| dg15.get(h.header_len..))
                    .and_then(|der| PublicKey::from_public_key_der(der).ok());
                if in_file.as_ref() != Some(key) {
                    return Err(invalid(
                        Some(EfId::Dg15),
                        "DG15 does not hold the public key the chip generated".into(),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid(
                    Some(EfId::Dg15),
                    "DG15 is missing but the chip holds an Active Authentication key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    Some(EfId::Dg15),
                    "DG15 is present but this card OS holds no Active Authentication key".into(),
                ));
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn plan_writes(&mut self) {
        self.phase = Phase::Writing;
        let Some(files) = self.files.take() else {
            return;
        };
        let fs = self.profile.filesystem.clone();
        let max_c = self.limits.max_command_data.max(1);
        for ef in EfId::ALL {
            let Some(content) = files.get(&ef) else {
                continue;
            };
            let size = self.ef_size(content.len());
            self.ef_sizes.push((ef, size));
            let mut fcp = vec![
                tlv::primitive(0x80, (size as u16).to_be_bytes()),
                tlv::primitive(0x82, [0x01]),
                tlv::primitive(0x83, ef.fid().to_be_bytes()),
            ];
            if fs.fcp_sfi {
                // SFI in bits 8..4 (ISO/IEC 7816-4 table 12).
                fcp.push(tlv::primitive(0x88, [ef.sfi() << 3]));
            }
            if fs.fcp_life_cycle {
                fcp.push(tlv::primitive(0x8A, [fs.life_cycle_on_create]));
            }
            let mut fcp = tlv::encode(&tlv::constructed(0x62, fcp));
            let extra = self.hook.extra_fcp(Some(ef));
            if !extra.is_empty() {
                // Re-wrap so the extra objects sit inside the template.
                fcp = wrap_fcp(&fcp, &extra);
            }
            self.push(
                OpKind::CreateEf,
                Step::CreateEf,
                Some(ef),
                None,
                Command::create_file(fcp),
            );
            if fs.select_after_create {
                self.push(
                    OpKind::SelectEf,
                    Step::SelectEf,
                    Some(ef),
                    None,
                    Command::select_ef(ef.fid()),
                );
            }
            let mut offset = 0;
            while offset < content.len() {
                let remaining = content.len() - offset;
                let (cmd, n) = if offset <= MAX_EVEN_INS_OFFSET {
                    let n = remaining.min(max_c);
                    let chunk = content[offset..offset + n].to_vec();
                    (Command::update_binary(offset as u16, chunk), n)
                } else {
                    // Odd INS: DO 54 and the DO 53 header share the data field with the chunk.
                    let mut n = remaining.min(max_c);
                    while n > 1 && n + Command::odd_ins_overhead(offset, n) > max_c {
                        n -= 1;
                    }
                    (
                        Command::update_binary_odd(offset, &content[offset..offset + n]),
                        n,
                    )
                };
                self.push(OpKind::Write, Step::Write, Some(ef), Some(offset), cmd);
                offset += n;
            }
        }
        self.files = Some(files);
    }

    fn plan_reads(&mut self) {
        self.phase = Phase::Reading;
        let Some(files) = self.files.take() else {
            return;
        };
        let max_r = self.limits.max_response_data.max(3);
        for ef in EfId::ALL {
            let Some(content) = files.get(&ef) else {
                continue;
            };
            self.push(
                OpKind::SelectEf,
                Step::ReadBack,
                Some(ef),
                None,
                Command::select_ef(ef.fid()),
            );
            let mut offset = 0;
            while offset < content.len() {
                let remaining = content.len() - offset;
                let (cmd, n) = if offset <= MAX_EVEN_INS_OFFSET {
                    let n = remaining.min(max_r);
                    (Command::read_binary(offset as u16, n), n)
                } else {
                    let mut n = remaining.min(max_r);
                    while n > 1 && n + do53_header(n) > max_r {
                        n -= 1;
                    }
                    (Command::read_binary_odd(offset, n + do53_header(n)), n)
                };
                self.push(
                    OpKind::Read { len: n },
                    Step::ReadBack,
                    Some(ef),
                    Some(offset),
                    cmd,
                );
                offset += n;
            }
        }
        self.files = Some(files);
    }

    fn on_response(&mut self, op: &Op, rsp: Response) -> Result<(), PersoErrorKind> {
        let status = |rsp: &Response| PersoErrorKind::Status {
            ins: op.cmd.ins,
            sw: rsp.sw,
        };
        match op.kind {
            OpKind::CheckBlank => match rsp.sw {
                StatusWord::FileNotFound if self.profile.filesystem.create_app_df => {
                    let fcp = tlv::encode(&tlv::constructed(0x62, {
                        let mut v = vec![
                            tlv::primitive(0x82, [0x38]),
                            tlv::primitive(0x83, self.profile.filesystem.df_fid.to_be_bytes()),
                            tlv::primitive(0x84, AID.to_vec()),
                        ];
                        if self.profile.filesystem.fcp_life_cycle {
                            v.push(tlv::primitive(
                                0x8A,
                                [self.profile.filesystem.life_cycle_on_create],
                            ));
                        }
                        v
                    }));
                    let extra = self.hook.extra_fcp(None);
                    let fcp = if extra.is_empty() {
                        fcp
                    } else {
                        wrap_fcp(&fcp, &extra)
                    };
                    self.push(
                        OpKind::CreateDf,
                        Step::CreateDf,
                        None,
                        None,
                        Command::create_file(fcp),
                    );
                    if self.profile.filesystem.select_after_create {
                        self.push(
                            OpKind::SelectDf,
                            Step::SelectDf,
                            None,
                            None,
                            Command::select_aid(&AID, false),
                        );
                    }
                    Ok(())
                }
                StatusWord::Ok if self.profile.filesystem.create_app_df => {
                    Err(PersoErrorKind::NotBlank(NotBlank::ApplicationExists))
                }
                StatusWord::Ok => {
                    if fcp_life_cycle(&rsp.data).is_some_and(|lcs| lcs >= 0x04) {
                        return Err(PersoErrorKind::NotBlank(NotBlank::Locked));
                    }
                    self.push(
                        OpKind::CheckNoCom,
                        Step::CheckBlank,
                        Some(EfId::Com),
                        None,
                        Command::select_ef(EfId::Com.fid()),
                    );
                    Ok(())
                }
                _ => Err(status(&rsp)),
            },
            OpKind::CheckNoCom => match rsp.sw {
                StatusWord::FileNotFound => Ok(()),
                StatusWord::Ok => Err(PersoErrorKind::NotBlank(NotBlank::HasFiles)),
                _ => Err(status(&rsp)),
            },
            OpKind::Read { len } => {
                if !rsp.sw.is_ok() && rsp.sw != StatusWord::EndOfFile {
                    return Err(status(&rsp));
                }
                let data = if op.cmd.ins & 1 == 1 {
                    let t =
                        tlv::parse_strict(&rsp.data).map_err(|e| PersoErrorKind::Malformed {
                            detail: format!("READ BINARY answer is not one DO 53: {e}"),
                        })?;
                    tlv::primitive_value(&t)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default()
                } else {
                    rsp.data
                };
                if data.len() != len {
                    return Err(PersoErrorKind::Malformed {
                        detail: format!(
                            "READ BINARY returned {} bytes, asked for {len}",
                            data.len()
                        ),
                    });
                }
                self.readback.extend_from_slice(&data);
                self.check_readback(op.file)
            }
            OpKind::VerifyWrite => {
                if rsp.sw.is_ok() {
                    return Err(PersoErrorKind::LockNotEffective { sw: rsp.sw });
                }
                self.lock = Some(LockOutcome::Locked {
                    write_refused_with: rsp.sw,
                });
                Ok(())
            }
            OpKind::Generate => {
                if !rsp.sw.is_ok() {
                    return Err(status(&rsp));
                }
                self.touched = true;
                self.aa_key = Some(parse_7f49(&rsp.data)?);
                Ok(())
            }
            kind => {
                if !rsp.sw.is_ok() {
                    return Err(status(&rsp));
                }
                if is_modifying(kind) {
                    self.touched = true;
                }
                Ok(())
            }
        }
    }

    fn check_readback(&mut self, file: Option<EfId>) -> Result<(), PersoErrorKind> {
        let Some(ef) = file else {
            return Ok(());
        };
        let Some(expected) = self.files.as_ref().and_then(|f| f.get(&ef)) else {
            return Ok(());
        };
        if self.readback.len() < expected.len() {
            return Ok(());
        }
        let got = std::mem::take(&mut self.readback);
        let want = Sha256::digest(expected);
        let have = Sha256::digest(&got);
        if want != have {
            return Err(PersoErrorKind::ReadBackMismatch {
                expected_len: expected.len(),
                expected_sha256: hex(&want),
                got_len: got.len(),
                got_sha256: hex(&have),
            });
        }
        let ef_size = self
            .ef_sizes
            .iter()
            .find(|(e, _)| *e == ef)
            .map_or(expected.len(), |(_, s)| *s);
        self.written.push(WrittenFile {
            ef,
            len: expected.len(),
            ef_size,
            sha256: want.into(),
        });
        Ok(())
    }
}

fn is_modifying(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::CreateDf
            | OpKind::Generate
            | OpKind::CreateEf
            | OpKind::Write
            | OpKind::Activate
            | OpKind::VerifyWrite
    )
}

fn do53_header(n: usize) -> usize {
    1 + if n < 0x80 {
        1
    } else if n < 0x100 {
        2
    } else {
        3
    }
}

fn wrap_fcp(fcp: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut inner = match tlv::parse_strict(fcp) {
        Ok(t) => tlv::children(&t)
            .iter()
            .flat_map(tlv::encode)
            .collect::<Vec<u8>>(),
        Err(_) => Vec::new(),
    };
    inner.extend_from_slice(extra);
    let mut out = vec![0x62];
    tlv::encode_length(inner.len(), &mut out);
    out.extend(inner);
    out
}

fn fcp_life_cycle(fcp: &[u8]) -> Option<u8> {
    let t = tlv::parse_strict(fcp).ok()?;
    tlv::children(&t)
        .iter()
        .find(|c| tlv::tag_number(c.tag()) == 0x8A)
        .and_then(|c| tlv::primitive_value(c)?.first().copied())
}

fn parse_7f49(data: &[u8]) -> Result<PublicKey, PersoErrorKind> {
    let malformed = |detail: String| PersoErrorKind::Malformed { detail };
    let t = tlv::parse_strict(data)
        .map_err(|e| malformed(format!("key answer is not one TLV: {e}")))?;
    if tlv::tag_number(t.tag()) != 0x7F49 {
        return Err(malformed(format!(
            "key answer has tag {:X}, expected 7F49",
            tlv::tag_number(t.tag())
        )));
    }
    let point = tlv::children(&t)
        .iter()
        .find(|c| tlv::tag_number(c.tag()) == 0x86)
        .and_then(tlv::primitive_value)
        .ok_or_else(|| malformed("key answer 7F49 has no point (tag 86)".into()))?;
    if point.len() != 65 || point[0] != 0x04 {
        return Err(malformed(format!(
            "key point has {} bytes, expected a 65-byte uncompressed P-256 point",
            point.len()
        )));
    }
    PublicKey::from_sec1_bytes(point).map_err(|_| malformed("key point is not on P-256".into()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
