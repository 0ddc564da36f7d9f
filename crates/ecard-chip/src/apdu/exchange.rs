//! One logical command turned into the APDUs a card and reader need, without doing any I/O.
//!
//! The caller moves the bytes, as with rustls: [`Exchange::poll_transmit`] gives the next C-APDU,
//! [`Exchange::handle_response`] takes its R-APDU and, once the exchange is complete, returns the
//! logical [`Response`]. Handled here:
//! - command chaining (CLA bit `10`) when the data is over the link's limit;
//! - SW 61xx: GET RESPONSE until the card has no more, the data accumulated;
//! - SW 6Cxx: the same command again with Le set to xx (once; a second 6Cxx is returned as is).
//!
//! Both loops are bounded: at most [`MAX_ROUNDS`] extra APDUs (GET RESPONSE or 6Cxx re-issue) per
//! logical command and [`MAX_ACCUMULATED`] bytes gathered, so a card that answers `61 00` forever
//! fails with [`ApduError::TooManyRounds`] instead of hanging the reader.
//!
//! It must not interpret other status words: they are the caller's to judge.

use super::{ApduError, Command, Response, StatusWord};
use crate::transport::ApduLimits;

/// Cap on data gathered through GET RESPONSE, so a misbehaving card cannot make us loop forever.
pub const MAX_ACCUMULATED: usize = 65536 + 256;

/// Cap on the extra APDUs (GET RESPONSE, or the 6Cxx re-issue) one logical command may take: 64
/// rounds of 256 bytes carry 16 KB, more than any answer of the e-card's commands (file reads go in
/// READ BINARY slices, not one chain).
pub const MAX_ROUNDS: usize = 64;

/// The state of one logical command in flight.
pub struct Exchange {
    cmd: Command,
    /// Largest data field of one APDU on this link.
    segment: usize,
    /// Where the next chained segment starts.
    sent: usize,
    /// Data gathered from 61xx answers.
    acc: Vec<u8>,
    /// The APDU to send next, if any.
    pending: Option<Vec<u8>>,
    /// An APDU is in flight and its response is awaited.
    awaiting: bool,
    retried_le: bool,
    /// The last APDU sent, for the 6Cxx re-issue.
    last: Option<Command>,
    done: bool,
    apdus: usize,
    /// GET RESPONSE and 6Cxx re-issues sent so far.
    rounds: usize,
}

impl std::fmt::Debug for Exchange {
    // Pending APDUs and gathered answers may be holder data: sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("cmd", &self.cmd)
            .field("sent", &self.sent)
            .field("gathered", &self.acc.len())
            .field("pending", &self.pending.as_ref().map(Vec::len))
            .field("done", &self.done)
            .finish()
    }
}

impl Exchange {
    /// Plans `cmd` on a link with `limits`. Fails when the data needs extended length that the
    /// link does not pass and chaining cannot help (Le over 256 on a short link).
    pub fn new(cmd: Command, limits: ApduLimits) -> Result<Exchange, ApduError> {
        let segment = if limits.extended {
            limits.max_command_data.clamp(1, 65535)
        } else {
            limits.max_command_data.clamp(1, 255)
        };
        if let Some(ne) = cmd.le {
            if !(1..=65536).contains(&ne) {
                return Err(ApduError::BadLe { ne });
            }
            if ne > 256 && !limits.extended {
                return Err(ApduError::ExtendedNotAvailable { len: ne });
            }
        }
        let mut ex = Exchange {
            cmd,
            segment,
            sent: 0,
            acc: Vec::new(),
            pending: None,
            awaiting: false,
            retried_le: false,
            last: None,
            done: false,
            apdus: 0,
            rounds: 0,
        };
        ex.queue_next_segment()?;
        Ok(ex)
    }

    /// The command this exchange carries.
    pub fn command(&self) -> &Command {
        &self.cmd
    }

    /// How many APDUs this exchange has sent so far.
    pub fn apdus_sent(&self) -> usize {
        self.apdus
    }

    /// Whether the exchange has produced its response.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn queue_next_segment(&mut self) -> Result<(), ApduError> {
        let remaining = self.cmd.data.len() - self.sent;
        let mut c = self.cmd.clone();
        if remaining > self.segment {
            // Not the last segment: chaining bit set, no Le.
            c.cla |= 0x10;
            c.data = self.cmd.data[self.sent..self.sent + self.segment].to_vec();
            c.le = None;
            self.sent += self.segment;
        } else {
            c.data = self.cmd.data[self.sent..].to_vec();
            self.sent = self.cmd.data.len();
        }
        self.send(c)
    }

    fn send(&mut self, c: Command) -> Result<(), ApduError> {
        self.pending = Some(c.encode()?);
        self.last = Some(c);
        Ok(())
    }

    /// The next C-APDU to transmit, or `None` while a response is awaited or when done.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let apdu = self.pending.take()?;
        self.awaiting = true;
        self.apdus += 1;
        Some(apdu)
    }

    /// Takes the R-APDU of the last transmitted C-APDU. Returns the logical response when the
    /// exchange is complete, `None` when more APDUs must go out first.
    pub fn handle_response(&mut self, rapdu: &[u8]) -> Result<Option<Response>, ApduError> {
        if !self.awaiting || self.done {
            return Err(ApduError::NoCommandInFlight);
        }
        self.awaiting = false;
        let rsp = Response::parse(rapdu)?;
        let chaining = self.last.as_ref().is_some_and(|c| c.cla & 0x10 != 0);
        if chaining {
            if rsp.sw.is_ok() {
                self.queue_next_segment()?;
                return Ok(None);
            }
            return Ok(Some(self.finish(rsp)));
        }
        match rsp.sw {
            StatusWord::BytesAvailable(n) => {
                self.acc.extend_from_slice(&rsp.data);
                if self.acc.len() > MAX_ACCUMULATED {
                    return Err(ApduError::ResponseTooLong {
                        limit: MAX_ACCUMULATED,
                    });
                }
                self.next_round(n)?;
                let ne = if n == 0 { 256 } else { usize::from(n) };
                self.send(Command::get_response(ne))?;
                Ok(None)
            }
            StatusWord::WrongLe(n) if !self.retried_le => {
                // The card says how many bytes it has; ask again for exactly that many.
                self.retried_le = true;
                self.next_round(n)?;
                let ne = if n == 0 { 256 } else { usize::from(n) };
                let Some(mut again) = self.last.clone() else {
                    return Err(ApduError::NoCommandInFlight);
                };
                again.le = Some(ne);
                self.send(again)?;
                Ok(None)
            }
            _ => Ok(Some(self.finish(rsp))),
        }
    }

    /// Counts one more GET RESPONSE or re-issue; fails past [`MAX_ROUNDS`].
    fn next_round(&mut self, sw2: u8) -> Result<(), ApduError> {
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            self.done = true;
            return Err(ApduError::TooManyRounds {
                ins: self.cmd.ins,
                rounds: MAX_ROUNDS,
                last_sw2: sw2,
                gathered: self.acc.len(),
            });
        }
        Ok(())
    }

    fn finish(&mut self, rsp: Response) -> Response {
        self.done = true;
        let mut data = std::mem::take(&mut self.acc);
        data.extend_from_slice(&rsp.data);
        Response { data, sw: rsp.sw }
    }
}
