//! Real readers through PC/SC (pcsclite on Linux, WinSCard on Windows), behind the chip crate's
//! [`Transport`] door.
//!
//! This module moves bytes and names failures; it must not interpret APDUs beyond the INS and SW it
//! logs at debug level (never command or response data: those carry holder data), and it must not
//! retry anything on its own except the acknowledgement of a card reset, which PC/SC demands before
//! the handle is usable again.
//!
//! # Exclusive access instead of a transaction
//!
//! A personalization must not be interleaved with another application's APDUs. PC/SC offers two
//! tools: connecting with `SCARD_SHARE_EXCLUSIVE`, and `SCardBeginTransaction` on a shared
//! connection. We connect exclusively for the whole life of a [`PcscTransport`]: pcsclite then refuses
//! every other connection to the reader (`SCARD_E_SHARING_VIOLATION`), which is at least what a
//! transaction would give, and it also keeps other applications from resetting the card. A
//! transaction on top would add nothing, and the `pcsc` crate's `Transaction` borrows the `Card`
//! mutably, so it could not live in the same struct without self-reference. When the exclusive
//! handle is dropped (or [`PcscTransport::disconnect`] is called) the card is reset and released.

use std::ffi::CString;
use std::time::{Duration, Instant};

use ::pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use ecard_chip::transport::{ApduLimits, Transport, TransportError};

/// A connection to the PC/SC service. Cheap to clone; all clones share one `SCardEstablishContext`.
///
/// pcsclite runs the calls on one context one at a time: while a thread blocks in
/// [`wait_for_card`] every other call on that context (and its clones) waits too. Give each
/// thread that waits for cards (each lane) its own context with [`PcscContext::establish`].
#[derive(Clone)]
pub struct PcscContext {
    ctx: Context,
}

impl std::fmt::Debug for PcscContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscContext")
    }
}

impl PcscContext {
    /// Connects to the PC/SC service (pcscd). Fails with [`TransportError::NoService`] when it is
    /// not running.
    pub fn establish() -> Result<PcscContext, TransportError> {
        Context::establish(Scope::User)
            .map(|ctx| PcscContext { ctx })
            .map_err(|e| map_error(e, "", "SCardEstablishContext"))
    }
}

/// One reader as PC/SC lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader's name, as to pass to [`PcscTransport::connect`].
    pub name: String,
    /// Whether a card is in the reader (and not mute).
    pub card_present: bool,
    /// The card's ATR, when a card is present.
    pub atr: Option<Vec<u8>>,
}

impl ReaderInfo {
    fn from_state(state: &ReaderState) -> ReaderInfo {
        let ev = state.event_state();
        let card_present = ev.contains(State::PRESENT) && !ev.contains(State::MUTE);
        ReaderInfo {
            name: state.name().to_string_lossy().into_owned(),
            card_present,
            atr: (card_present && !state.atr().is_empty()).then(|| state.atr().to_vec()),
        }
    }
}

/// Lists the readers with card presence and ATR. No reader at all is an empty list, not an error.
pub fn list_readers(ctx: &PcscContext) -> Result<Vec<ReaderInfo>, TransportError> {
    let names = match ctx.ctx.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(map_error(e, "", "SCardListReaders")),
    };
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut states: Vec<ReaderState> = names
        .into_iter()
        .map(|name| ReaderState::new(name, State::UNAWARE))
        .collect();
    // With every state UNAWARE the call returns at once with the current state of each reader.
    match ctx.ctx.get_status_change(Duration::ZERO, &mut states) {
        Ok(()) => {}
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(map_error(e, "", "SCardGetStatusChange")),
    }
    Ok(states.iter().map(ReaderInfo::from_state).collect())
}

/// Blocks until a (responsive) card is in `reader` and returns the reader's state with its ATR;
/// returns at once if a card is already there. `None` waits forever. Used by `--wait`.
pub fn wait_for_card(
    ctx: &PcscContext,
    reader: &str,
    timeout: Option<Duration>,
) -> Result<ReaderInfo, TransportError> {
    wait_until(ctx, reader, timeout, |s| {
        s.contains(State::PRESENT) && !s.contains(State::MUTE)
    })
}

/// Blocks until `reader` is empty (the operator took the card out); returns at once if it is.
pub fn wait_for_removal(
    ctx: &PcscContext,
    reader: &str,
    timeout: Option<Duration>,
) -> Result<(), TransportError> {
    wait_until(ctx, reader, timeout, |s| s.contains(State::EMPTY)).map(|_| ())
}

fn wait_until(
    ctx: &PcscContext,
    reader: &str,
    timeout: Option<Duration>,
    done: impl Fn(State) -> bool,
) -> Result<ReaderInfo, TransportError> {
    let unknown = || TransportError::UnknownReader {
        reader: reader.to_owned(),
    };
    let name = CString::new(reader).map_err(|_| unknown())?;
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match ctx.ctx.get_status_change(remaining, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => {
                return Err(TransportError::Timeout {
                    reader: reader.to_owned(),
                });
            }
            Err(e) => return Err(map_error(e, reader, "SCardGetStatusChange")),
        }
        let [state] = &mut states;
        let ev = state.event_state();
        if ev.contains(State::UNKNOWN) || ev.contains(State::IGNORE) {
            return Err(unknown());
        }
        if done(ev) {
            return Ok(ReaderInfo::from_state(state));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TransportError::Timeout {
                reader: reader.to_owned(),
            });
        }
        state.sync_current_state();
    }
}

/// Whether to use extended-length APDUs on a reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtendedLength {
    /// Send one harmless extended-length command at connection and fall back to short APDUs (with
    /// a warning) if the reader or card refuses it.
    #[default]
    Probe,
    /// Never send extended-length APDUs (for a reader known to choke on them).
    Never,
    /// Use extended-length APDUs without probing (for a reader known to pass them).
    Always,
}

/// The probe: SELECT the MF (3F00) without response data, as an extended-length case 3 APDU
/// (`00 | Lc = 00 00 02`). Every ISO 7816-4 card has an MF, blank or not, and selecting it changes
/// nothing but the current DF, which any session selects anew. A card or reader that only parses
/// short APDUs sees Lc = 00 followed by junk and answers 6700 (or the transmit fails).
const PROBE_SELECT_MF_EXTENDED: [u8; 9] = [0x00, 0xA4, 0x00, 0x0C, 0x00, 0x00, 0x02, 0x3F, 0x00];

/// Extended limits of the PC/SC API itself (pcsclite's `MAX_BUFFER_SIZE_EXTENDED`).
const PCSC_EXTENDED: ApduLimits = ApduLimits {
    extended: true,
    max_command_data: 65535,
    max_response_data: 65536,
};

/// Quirk of vsmartcard vpcd ("Virtual PCD" readers): one message on its socket carries at most
/// 65535 bytes, so an extended C-APDU (4 header + 3 Lc + 2 Le) holds at most 65526 data bytes and an
/// R-APDU at most 65533 data bytes before SW1 SW2.
const VPCD_EXTENDED: ApduLimits = ApduLimits {
    extended: true,
    max_command_data: 65535 - 9,
    max_response_data: 65535 - 2,
};

/// A card in a PC/SC reader, connected exclusively (see the module doc). Implements [`Transport`].
pub struct PcscTransport {
    ctx: PcscContext,
    card: pcsc::Card,
    reader: String,
    atr: Vec<u8>,
    limits: ApduLimits,
    /// Large enough for an extended R-APDU (65536 data bytes + SW), reused for every transmit.
    rbuf: Vec<u8>,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .field("atr_len", &self.atr.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connects exclusively (T=0 or T=1) to the card in `reader`, reads its ATR and settles the
    /// APDU limits as `extended` says. Errors: [`TransportError::NoCard`] when the reader is
    /// empty, [`TransportError::SharingViolation`] when another application holds the card,
    /// [`TransportError::UnknownReader`], [`TransportError::NoService`], and so on.
    pub fn connect(
        ctx: &PcscContext,
        reader: &str,
        extended: ExtendedLength,
    ) -> Result<PcscTransport, TransportError> {
        let name = CString::new(reader).map_err(|_| TransportError::UnknownReader {
            reader: reader.to_owned(),
        })?;
        let card = ctx
            .ctx
            .connect(&name, ShareMode::Exclusive, Protocols::T0 | Protocols::T1)
            .map_err(|e| map_error(e, reader, "SCardConnect"))?;
        let mut transport = PcscTransport {
            ctx: ctx.clone(),
            card,
            reader: reader.to_owned(),
            atr: Vec::new(),
            limits: ApduLimits::SHORT,
            rbuf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        };
        transport.atr = transport.read_atr()?;
        transport.limits = match extended {
            ExtendedLength::Never => ApduLimits::SHORT,
            ExtendedLength::Always => transport.extended_limits(),
            ExtendedLength::Probe => transport.probe_extended()?,
        };
        tracing::debug!(
            reader,
            atr_len = transport.atr.len(),
            extended = transport.limits.extended,
            "connected exclusively"
        );
        Ok(transport)
    }

    /// Releases the card, resetting it, and reports a failure to do so (dropping does the same
    /// silently).
    pub fn disconnect(self) -> Result<(), TransportError> {
        let reader = self.reader;
        self.card
            .disconnect(Disposition::ResetCard)
            .map_err(|(_, e)| map_error(e, &reader, "SCardDisconnect"))
    }

    fn extended_limits(&self) -> ApduLimits {
        if self.reader.starts_with("Virtual PCD") {
            VPCD_EXTENDED
        } else {
            PCSC_EXTENDED
        }
    }

    fn read_atr(&self) -> Result<Vec<u8>, TransportError> {
        self.card
            .status2_owned()
            .map(|status| status.atr().to_vec())
            .map_err(|e| map_error(e, &self.reader, "SCardStatus"))
    }

    fn probe_extended(&mut self) -> Result<ApduLimits, TransportError> {
        let len = PROBE_SELECT_MF_EXTENDED.len();
        let refusal = match self.transmit(&PROBE_SELECT_MF_EXTENDED) {
            Ok(rapdu) => match sw(&rapdu) {
                // Wrong length, INS or CLA not supported, or no diagnosis: the extended form was
                // not understood.
                Some(sw @ (0x6700 | 0x6D00 | 0x6E00 | 0x6F00)) => format!("SW {sw:04X}"),
                Some(_) => return Ok(self.extended_limits()),
                None => format!("a {}-byte answer without status word", rapdu.len()),
            },
            // The card left or was reset: that is not a refusal; let the caller start again.
            Err(
                e @ (TransportError::CardRemoved { .. }
                | TransportError::CardReset { .. }
                | TransportError::NoService { .. }),
            ) => return Err(e),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            reader = %self.reader,
            "reader {:?} refused a {len}-byte extended-length SELECT ({refusal}); continuing with \
             short APDUs of 255 bytes: several times more commands per card (a 15 KB EF.DG2 takes \
             61 UPDATE BINARY instead of 1)",
            self.reader
        );
        Ok(ApduLimits::SHORT)
    }

    /// Turns a transmit failure into the error to report, acknowledging a reset on the way and
    /// telling a removed card from a failing one.
    fn transmit_failed(&mut self, e: pcsc::Error) -> TransportError {
        match e {
            pcsc::Error::ResetCard => {
                // PC/SC keeps answering SCARD_W_RESET_CARD until the reset is acknowledged with
                // SCardReconnect; the session state on the card is gone either way, so the
                // caller must restart its session.
                match self.card.reconnect(
                    ShareMode::Exclusive,
                    Protocols::T0 | Protocols::T1,
                    Disposition::LeaveCard,
                ) {
                    Ok(()) => {
                        if let Ok(atr) = self.read_atr() {
                            self.atr = atr;
                        }
                        TransportError::CardReset {
                            reader: self.reader.clone(),
                        }
                    }
                    Err(e) => map_error(e, &self.reader, "SCardReconnect"),
                }
            }
            pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => TransportError::CardRemoved {
                reader: self.reader.clone(),
            },
            // Our own mistakes (an APDU longer than PC/SC carries, a bad parameter) say nothing
            // about the card; report them at once.
            pcsc::Error::InsufficientBuffer
            | pcsc::Error::InvalidParameter
            | pcsc::Error::InvalidValue => map_error(e, &self.reader, "SCardTransmit"),
            // A driver error can be a card pulled mid-APDU: vpcd (vsmartcard 3.3) reports a card
            // whose socket closed as SCARD_E_NOT_TRANSACTED, before pcscd's polling marks the
            // reader empty. Ask the reader before blaming the card.
            other => {
                if self.card_gone() {
                    TransportError::CardRemoved {
                        reader: self.reader.clone(),
                    }
                } else {
                    map_error(other, &self.reader, "SCardTransmit")
                }
            }
        }
    }

    /// Whether the reader is empty now or becomes empty within a moment: pcscd learns of a removal
    /// by polling the driver, so a transmit can fail before the reader state says "empty". Only
    /// called on the error path, where a short wait costs nothing.
    fn card_gone(&self) -> bool {
        const SETTLE: Duration = Duration::from_millis(1500);
        let Ok(name) = CString::new(self.reader.as_str()) else {
            return false;
        };
        let mut states = [ReaderState::new(name, State::UNAWARE)];
        let deadline = Instant::now() + SETTLE;
        let mut timeout = Duration::ZERO;
        loop {
            match self.ctx.ctx.get_status_change(timeout, &mut states) {
                Ok(()) => {}
                Err(_) => return false,
            }
            let [state] = &mut states;
            let ev = state.event_state();
            if ev.contains(State::EMPTY) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state.sync_current_state();
            timeout = deadline - now;
        }
    }
}

fn sw(rapdu: &[u8]) -> Option<u16> {
    match rapdu {
        [.., sw1, sw2] => Some(u16::from_be_bytes([*sw1, *sw2])),
        _ => None,
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let ins = capdu.get(1).copied().unwrap_or(0);
        tracing::debug!(reader = %self.reader, ins, len = capdu.len(), "C-APDU");
        let answer = self
            .card
            .transmit(capdu, &mut self.rbuf)
            .map(<[u8]>::to_vec);
        match answer {
            // Quirk: when the card leaves mid-APDU, pcscd with vpcd (vsmartcard 3.3) often
            // completes SCardTransmit with an empty answer. No card sends fewer than the two
            // status bytes, so treat it as the driver error it is: ask the reader first.
            Ok(rapdu) if rapdu.len() < 2 => {
                let err = if self.card_gone() {
                    TransportError::CardRemoved {
                        reader: self.reader.clone(),
                    }
                } else {
                    TransportError::Unresponsive {
                        reader: self.reader.clone(),
                        detail: format!(
                            "SCardTransmit returned a {}-byte answer, without a status word",
                            rapdu.len()
                        ),
                    }
                };
                tracing::debug!(reader = %self.reader, ins, error = %err, "transmit failed");
                Err(err)
            }
            Ok(rapdu) => {
                tracing::debug!(
                    reader = %self.reader,
                    ins,
                    sw = sw(&rapdu).unwrap_or(0),
                    len = rapdu.len(),
                    "R-APDU"
                );
                Ok(rapdu)
            }
            Err(e) => {
                let err = self.transmit_failed(e);
                tracing::debug!(reader = %self.reader, ins, error = %err, "transmit failed");
                Err(err)
            }
        }
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.card
            .reconnect(
                ShareMode::Exclusive,
                Protocols::T0 | Protocols::T1,
                Disposition::ResetCard,
            )
            .map_err(|e| map_error(e, &self.reader, "SCardReconnect"))?;
        self.atr = self.read_atr()?;
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

/// Maps a PC/SC error from `op` (the SCard function) on `reader` to a [`TransportError`].
/// `reader` is empty for calls that concern no reader (establishing the context, listing).
pub(crate) fn map_error(e: pcsc::Error, reader: &str, op: &str) -> TransportError {
    use pcsc::Error as E;
    let reader = reader.to_owned();
    let detail = format!("{op}: {}", scard_name(e));
    match e {
        E::NoService | E::ServiceStopped | E::Shutdown | E::NoReadersAvailable
            if reader.is_empty() =>
        {
            TransportError::NoService { detail }
        }
        E::NoService | E::ServiceStopped | E::Shutdown => TransportError::NoService {
            detail: format!("{detail} (reader {reader:?})"),
        },
        E::UnknownReader | E::NoReadersAvailable | E::ReaderUnavailable => {
            TransportError::UnknownReader { reader }
        }
        E::RemovedCard => TransportError::CardRemoved { reader },
        E::NoSmartcard => TransportError::NoCard { reader },
        E::ResetCard => TransportError::CardReset { reader },
        E::Timeout => TransportError::Timeout { reader },
        E::SharingViolation => TransportError::SharingViolation { reader },
        E::UnpoweredCard
        | E::UnresponsiveCard
        | E::UnsupportedCard
        | E::InvalidAtr
        | E::ProtoMismatch
        | E::NotTransacted
        | E::CommError
        | E::CommDataLost => TransportError::Unresponsive { reader, detail },
        _ => TransportError::Other { reader, detail },
    }
}

/// The PC/SC name of an error code, as pcsclite's `pcsc_stringify_error` and the logs of pcscd
/// spell it, so that a message can be searched for.
fn scard_name(e: pcsc::Error) -> String {
    use pcsc::Error as E;
    let name = match e {
        E::NoService => "SCARD_E_NO_SERVICE",
        E::ServiceStopped => "SCARD_E_SERVICE_STOPPED",
        E::Shutdown => "SCARD_P_SHUTDOWN",
        E::NoReadersAvailable => "SCARD_E_NO_READERS_AVAILABLE",
        E::UnknownReader => "SCARD_E_UNKNOWN_READER",
        E::ReaderUnavailable => "SCARD_E_READER_UNAVAILABLE",
        E::RemovedCard => "SCARD_W_REMOVED_CARD",
        E::ResetCard => "SCARD_W_RESET_CARD",
        E::NoSmartcard => "SCARD_E_NO_SMARTCARD",
        E::Timeout => "SCARD_E_TIMEOUT",
        E::SharingViolation => "SCARD_E_SHARING_VIOLATION",
        E::UnpoweredCard => "SCARD_W_UNPOWERED_CARD",
        E::UnresponsiveCard => "SCARD_W_UNRESPONSIVE_CARD",
        E::UnsupportedCard => "SCARD_W_UNSUPPORTED_CARD",
        E::InvalidAtr => "SCARD_E_INVALID_ATR",
        E::ProtoMismatch => "SCARD_E_PROTO_MISMATCH",
        E::NotTransacted => "SCARD_E_NOT_TRANSACTED",
        E::CommError => "SCARD_F_COMM_ERROR",
        E::CommDataLost => "SCARD_E_COMM_DATA_LOST",
        E::InsufficientBuffer => "SCARD_E_INSUFFICIENT_BUFFER",
        E::InvalidParameter => "SCARD_E_INVALID_PARAMETER",
        E::InvalidValue => "SCARD_E_INVALID_VALUE",
        E::InvalidHandle => "SCARD_E_INVALID_HANDLE",
        E::Cancelled => "SCARD_E_CANCELLED",
        E::UnknownError => "SCARD_F_UNKNOWN_ERROR",
        E::InternalError => "SCARD_F_INTERNAL_ERROR",
        other => return format!("{other:?} ({:#010X})", other as u32),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_reader_and_the_scard_code() {
        let r = "Lane 2 encoder 00 00";
        assert_eq!(
            map_error(pcsc::Error::RemovedCard, r, "SCardTransmit"),
            TransportError::CardRemoved { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::ResetCard, r, "SCardTransmit"),
            TransportError::CardReset { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::NoSmartcard, r, "SCardConnect"),
            TransportError::NoCard { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::SharingViolation, r, "SCardConnect"),
            TransportError::SharingViolation { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::Timeout, r, "SCardGetStatusChange"),
            TransportError::Timeout { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::UnknownReader, r, "SCardConnect"),
            TransportError::UnknownReader { reader: r.into() }
        );
        assert_eq!(
            map_error(pcsc::Error::NotTransacted, r, "SCardTransmit"),
            TransportError::Unresponsive {
                reader: r.into(),
                detail: "SCardTransmit: SCARD_E_NOT_TRANSACTED".into()
            }
        );
        assert_eq!(
            map_error(pcsc::Error::UnpoweredCard, r, "SCardTransmit"),
            TransportError::Unresponsive {
                reader: r.into(),
                detail: "SCardTransmit: SCARD_W_UNPOWERED_CARD".into()
            }
        );
        assert_eq!(
            map_error(pcsc::Error::NoService, "", "SCardEstablishContext"),
            TransportError::NoService {
                detail: "SCardEstablishContext: SCARD_E_NO_SERVICE".into()
            }
        );
        assert_eq!(
            map_error(pcsc::Error::InsufficientBuffer, r, "SCardTransmit"),
            TransportError::Other {
                reader: r.into(),
                detail: "SCardTransmit: SCARD_E_INSUFFICIENT_BUFFER".into()
            }
        );
        assert_eq!(
            map_error(pcsc::Error::WriteTooMany, r, "SCardTransmit").to_string(),
            format!("reader {r:?}: SCardTransmit: WriteTooMany (0x80100028)")
        );
    }

    #[test]
    fn handles_move_to_the_lane_threads() {
        fn send<T: Send>() {}
        send::<PcscContext>();
        send::<PcscTransport>();
        send::<ReaderInfo>();
        send::<crate::vpcd::StopHandle>();
    }

    #[test]
    fn probe_is_an_extended_case_3_select_of_the_mf() {
        let [cla, ins, p1, p2, b0, lc_hi, lc_lo, data @ ..] = PROBE_SELECT_MF_EXTENDED;
        assert_eq!((cla, ins, p1, p2), (0x00, 0xA4, 0x00, 0x0C));
        assert_eq!(b0, 0x00, "extended marker");
        assert_eq!(usize::from(u16::from_be_bytes([lc_hi, lc_lo])), data.len());
        assert_eq!(data, [0x3F, 0x00]);
    }
}
