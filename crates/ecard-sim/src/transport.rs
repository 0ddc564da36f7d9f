//! [`SimTransport`]: a [`Transport`] over a simulated [`Card`], with a timing model and fault
//! injection, so personalization can be run deterministically in memory (quinn-proto's `Pair`).
//!
//! Time is simulated: each APDU adds its link time, latency and EEPROM page writes to a counter.
//! Nothing sleeps unless [`SimTransport::real_time`] is asked for.

use std::time::Duration;

use ecard_chip::apdu::{StatusWord, ins};
use ecard_chip::transport::{ApduLimits, Transport, TransportError};

use crate::card::Card;
use crate::spec::SimSpec;

/// Costs of moving and storing bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingModel {
    /// Link bit rate, bit/s; each byte costs 10 bits (start, 8 data, stop: ISO/IEC 7816-3 character frame).
    pub link_bit_rate: u32,
    /// Fixed cost per APDU round trip.
    pub apdu_latency: Duration,
    /// Cost per EEPROM page programmed.
    pub page_write: Duration,
}

impl TimingModel {
    /// The timings of a card spec.
    pub fn from_spec(spec: &SimSpec) -> TimingModel {
        TimingModel {
            link_bit_rate: spec.link_bit_rate.max(1),
            apdu_latency: Duration::from_micros(spec.apdu_latency_us),
            page_write: Duration::from_micros(spec.page_write_us),
        }
    }

    /// Time for one APDU round trip of `bytes` bytes on the link that programmed `pages` pages.
    pub fn cost(&self, bytes: usize, pages: usize) -> Duration {
        let bits = bytes as u64 * 10;
        let link =
            Duration::from_nanos(bits * 1_000_000_000 / u64::from(self.link_bit_rate.max(1)));
        link + self.apdu_latency + self.page_write * pages as u32
    }
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The card is pulled after `n` more bytes reach its EEPROM: the write in progress stops
    /// part-way and the transport reports the card removed.
    TearAfterBytes(usize),
    /// The card is pulled after APDU number `n` (1-based) was answered; APDU `n + 1` fails.
    RemoveAfterApdus(u64),
    /// The `nth` (1-based) command with instruction `ins` is answered `sw` without being executed.
    StatusOnIns {
        /// Instruction byte to match.
        ins: u8,
        /// Which occurrence.
        nth: u32,
        /// SW1-SW2 to answer.
        sw: u16,
    },
    /// The `nth` (1-based) write command (UPDATE BINARY, CREATE FILE) fails with 6581 (memory
    /// failure), as worn EEPROM does.
    EepromFailure {
        /// Which write command.
        nth_write: u32,
    },
    /// The answer to the `nth` (1-based) command under secure messaging is damaged on its way
    /// to the reader, or the card drops the session there.
    SecureMessaging {
        /// Which protected command.
        nth: u64,
        /// What happens to its answer.
        fault: SmFault,
    },
    /// The R-MAC of the answer to the `nth` (1-based) command under the SCP03 channel has a bit
    /// flipped on its way to the host.
    ScpWrongRMac {
        /// Which command under the channel.
        nth: u64,
    },
}

/// A secure messaging fault (ECARD.md section 10, issue tests): what the reader must detect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmFault {
    /// One bit of the MAC in `8E` flipped.
    WrongMac,
    /// The `8E` object left out.
    MissingMac,
    /// The answer cut inside its `87` object.
    TruncatedCryptogram,
    /// The card ends the session and answers `69 88` in plain.
    DropSession,
}

/// A transport to a simulated card.
#[derive(Debug)]
pub struct SimTransport {
    card: Card,
    reader: String,
    limits: ApduLimits,
    timing: TimingModel,
    real_time: bool,
    elapsed: Duration,
    faults: Vec<Fault>,
    apdus: u64,
    ins_seen: [u32; 256],
    writes_seen: u32,
    protected_seen: u64,
    scp_seen: u64,
    removed: bool,
    atr: Vec<u8>,
}

impl SimTransport {
    /// A reader named "ecard-sim 00 00" holding `card`, limits and timings from the card's spec.
    pub fn new(card: Card) -> SimTransport {
        let limits = card.spec().limits();
        let timing = TimingModel::from_spec(card.spec());
        let atr = card.atr().to_vec();
        SimTransport {
            card,
            reader: "ecard-sim 00 00".to_owned(),
            limits,
            timing,
            real_time: false,
            elapsed: Duration::ZERO,
            faults: Vec::new(),
            apdus: 0,
            ins_seen: [0; 256],
            writes_seen: 0,
            protected_seen: 0,
            scp_seen: 0,
            removed: false,
            atr,
        }
    }

    /// Names the reader (for messages).
    pub fn with_reader_name(mut self, name: &str) -> SimTransport {
        self.reader = name.to_owned();
        self
    }

    /// Caps the limits as a reader would (e.g. a short-APDU-only reader).
    pub fn with_limits(mut self, limits: ApduLimits) -> SimTransport {
        self.limits = self.limits.min(limits);
        self
    }

    /// Replaces the timing model.
    pub fn with_timing(mut self, timing: TimingModel) -> SimTransport {
        self.timing = timing;
        self
    }

    /// Sleeps for the simulated time of each APDU (demos); off by default.
    pub fn real_time(mut self, on: bool) -> SimTransport {
        self.real_time = on;
        self
    }

    /// Adds a fault to inject.
    pub fn with_fault(mut self, fault: Fault) -> SimTransport {
        if let Fault::TearAfterBytes(n) = fault {
            self.card.set_write_budget(Some(n));
        }
        self.faults.push(fault);
        self
    }

    /// Simulated time spent so far.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// APDUs that reached the card.
    pub fn apdu_count(&self) -> u64 {
        self.apdus
    }

    /// Whether the card has been pulled by a fault.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The card, to change it between runs.
    pub fn card_mut(&mut self) -> &mut Card {
        &mut self.card
    }

    /// Takes the card out of the reader.
    pub fn into_card(self) -> Card {
        self.card
    }

    /// Puts the pulled card back: faults cleared, card powered on.
    pub fn reinsert(&mut self) {
        self.faults.clear();
        self.card.set_write_budget(None);
        self.removed = false;
        self.atr = self.card.power_on().to_vec();
    }

    fn removed_error(&self) -> TransportError {
        TransportError::CardRemoved {
            reader: self.reader.clone(),
        }
    }

    fn injected_status(&mut self, ins_byte: u8, is_write: bool) -> Option<u16> {
        let seen = self.ins_seen[usize::from(ins_byte)];
        let writes = self.writes_seen;
        self.faults.iter().find_map(|f| match *f {
            Fault::StatusOnIns { ins, nth, sw } if ins == ins_byte && nth == seen => Some(sw),
            Fault::EepromFailure { nth_write } if is_write && nth_write == writes => {
                Some(StatusWord::MemoryFailure.to_u16())
            }
            _ => None,
        })
    }
}

/// Damages a protected answer (data objects, then `90 00`) as `f` says.
fn damage(rapdu: &mut Vec<u8>, f: SmFault) {
    let n = rapdu.len();
    match f {
        SmFault::WrongMac if n >= 3 => rapdu[n - 3] ^= 0x01,
        SmFault::MissingMac if n >= 12 => {
            rapdu.drain(n - 12..n - 2);
        }
        SmFault::TruncatedCryptogram if n > 12 && rapdu.first() == Some(&0x87) => {
            let sw = rapdu.split_off(n - 2);
            rapdu.truncate(8);
            rapdu.extend(sw);
        }
        _ => {}
    }
}

impl Transport for SimTransport {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(self.removed_error());
        }
        let limit_hit = self
            .faults
            .iter()
            .any(|f| matches!(f, Fault::RemoveAfterApdus(n) if self.apdus >= *n));
        if limit_hit {
            self.removed = true;
            self.card.power_off();
            return Err(self.removed_error());
        }
        self.apdus += 1;
        let ins_byte = capdu.get(1).copied().unwrap_or(0);
        let is_write = matches!(
            ins_byte,
            ins::UPDATE_BINARY | ins::UPDATE_BINARY_ODD | ins::CREATE_FILE
        );
        self.ins_seen[usize::from(ins_byte)] += 1;
        if is_write {
            self.writes_seen += 1;
        }
        let protected = capdu.first().is_some_and(|c| c & 0x0C == 0x0C);
        if protected {
            self.protected_seen += 1;
        }
        let gp = capdu.first().is_some_and(|c| c & 0x0C == 0x04);
        if gp {
            self.scp_seen += 1;
        }
        let flip_rmac = gp
            && self
                .faults
                .iter()
                .any(|f| matches!(f, Fault::ScpWrongRMac { nth } if *nth == self.scp_seen));
        let sm_fault = self.faults.iter().find_map(|f| match *f {
            Fault::SecureMessaging { nth, fault } if protected && nth == self.protected_seen => {
                Some(fault)
            }
            _ => None,
        });
        let mut rapdu = match self.injected_status(ins_byte, is_write) {
            Some(sw) => sw.to_be_bytes().to_vec(),
            None if sm_fault == Some(SmFault::DropSession) => {
                self.card.end_secure_session();
                vec![0x69, 0x88]
            }
            None => self.card.process(capdu),
        };
        if let Some(f) = sm_fault {
            damage(&mut rapdu, f);
        }
        if flip_rmac && rapdu.len() >= 10 {
            let n = rapdu.len();
            rapdu[n - 3] ^= 0x01;
        }
        let cost = self.timing.cost(
            capdu.len() + rapdu.len(),
            self.card.pages_written_by_last_command(),
        );
        self.elapsed += cost;
        if self.real_time {
            std::thread::sleep(cost);
        }
        if self.card.take_torn() {
            self.removed = true;
            self.card.power_off();
            return Err(self.removed_error());
        }
        Ok(rapdu)
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(self.removed_error());
        }
        self.atr = self.card.reset().to_vec();
        Ok(self.atr.clone())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn limits(&self) -> ApduLimits {
        self.limits
    }

    fn reader_name(&self) -> &str {
        &self.reader
    }
}
