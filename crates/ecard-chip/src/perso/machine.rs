//! The [`Personalizer`] state machine: its state, getters, inputs and outputs. The plan of commands
//! lives in `plan.rs`, the judging of answers in `answers.rs`. See [`crate::perso`].

use std::collections::VecDeque;

use p256::PublicKey;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

use super::error::{CardState, NotBlank, PersoError, PersoErrorKind, Step};
use super::report::{Action, LockOutcome, PersoReport, PersoStats, WrittenFile};
use crate::apdu::{Command, Exchange, MAX_EVEN_INS_OFFSET, Response, StatusWord};
use crate::lds::{AID, EfId, LdsFiles};
use crate::profile::{CardHook, LargeOffsets, LockMethod, Profile, hook_for};
use crate::tlv;
use crate::transport::{ApduLimits, TransportError};

mod answers;
mod plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    SelectMf,
    CheckBlank,
    CheckNoCom,
    CreateDf,
    SelectDf,
    Generate,
    SetCan,
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
    can: Option<String>,
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
            can: None,
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

    /// The CAN to write (6 decimal digits; needed when the profile offers PACE). Never logged:
    /// the plan's debug output shows command sizes only.
    pub fn with_can(mut self, can: &str) -> Personalizer {
        self.can = Some(can.to_string());
        self
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
}

fn is_modifying(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::CreateDf
            | OpKind::Generate
            | OpKind::SetCan
            | OpKind::CreateEf
            | OpKind::Write
            | OpKind::Activate
            | OpKind::VerifyWrite
    )
}
