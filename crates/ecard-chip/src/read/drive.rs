//! The drivers that touch a [`Transport`]: reading a whole card, Active Authentication, and the
//! write probe. Each moves bytes between a transport and the sans-I/O pieces and adds nothing else.

use p256::ecdsa::Signature;

use super::{CardReader, ReadAction, ReadError, ReadOptions, ReadStats, ReadStep};
use crate::apdu::{Command, Exchange, Response, StatusWord};
use crate::lds::{AID, EfId, LdsFiles};
use crate::transport::Transport;

/// Reads every LDS file of the card behind `transport`, with odd-INS READ BINARY past offset 32767.
pub fn read_card(transport: &mut dyn Transport) -> Result<(LdsFiles, ReadStats), ReadError> {
    let opts = ReadOptions::new(transport.limits());
    read_card_with(transport, opts)
}

/// Reads every LDS file with explicit options (e.g. a profile's `read.large_offsets`).
pub fn read_card_with(
    transport: &mut dyn Transport,
    opts: ReadOptions,
) -> Result<(LdsFiles, ReadStats), ReadError> {
    let mut reader = CardReader::new(opts);
    loop {
        match reader.poll() {
            ReadAction::Transmit(capdu) => match transport.transmit(&capdu) {
                Ok(rapdu) => reader.handle_response(&rapdu)?,
                Err(e) => return Err(reader.handle_transport_error(e)),
            },
            ReadAction::Finished => {
                let stats = reader.stats();
                return Ok((reader.into_files(), stats));
            }
            ReadAction::Failed => {
                return Err(reader
                    .error()
                    .cloned()
                    .unwrap_or(ReadError::ApiMisuse("failed without an error")));
            }
        }
    }
}

/// INTERNAL AUTHENTICATE with an 8-byte challenge (Doc 9303-11 section 6.1), Le 256.
pub fn active_authentication_command(challenge: [u8; 8]) -> Command {
    Command::internal_authenticate(&challenge)
}

/// The ECDSA signature in an INTERNAL AUTHENTICATE answer: 64 bytes, r || s (plain format).
pub fn parse_active_authentication_response(rsp: &Response) -> Result<Signature, ReadError> {
    let step = ReadStep::InternalAuthenticate;
    if !rsp.sw.is_ok() {
        return Err(ReadError::Status {
            step,
            file: None,
            sw: rsp.sw,
        });
    }
    if rsp.data.len() != 64 {
        return Err(ReadError::Malformed {
            step,
            file: None,
            detail: format!(
                "signature has {} bytes, expected 64 (r || s)",
                rsp.data.len()
            ),
        });
    }
    Signature::from_slice(&rsp.data).map_err(|_| ReadError::Malformed {
        step,
        file: None,
        detail: "r or s is zero or not below the P-256 order".into(),
    })
}

/// One command through an [`Exchange`] over `transport`.
fn transact(
    transport: &mut dyn Transport,
    cmd: Command,
    step: ReadStep,
    file: Option<EfId>,
) -> Result<Response, ReadError> {
    let mut ex = Exchange::new(cmd, transport.limits()).map_err(|e| ReadError::Malformed {
        step,
        file,
        detail: e.to_string(),
    })?;
    while let Some(capdu) = ex.poll_transmit() {
        let rapdu = transport
            .transmit(&capdu)
            .map_err(|source| ReadError::Transport { step, file, source })?;
        match ex.handle_response(&rapdu) {
            Ok(Some(rsp)) => return Ok(rsp),
            Ok(None) => {}
            Err(e) => {
                return Err(ReadError::Malformed {
                    step,
                    file,
                    detail: e.to_string(),
                });
            }
        }
    }
    Err(ReadError::ApiMisuse("exchange ended without a response"))
}

fn require_ok(rsp: Response, step: ReadStep, file: Option<EfId>) -> Result<Response, ReadError> {
    if rsp.sw.is_ok() {
        Ok(rsp)
    } else {
        Err(ReadError::Status {
            step,
            file,
            sw: rsp.sw,
        })
    }
}

/// Selects the application and runs Active Authentication with `challenge`; returns the
/// signature for the verifier to check against DG15.
pub fn active_authentication(
    transport: &mut dyn Transport,
    challenge: [u8; 8],
) -> Result<Signature, ReadError> {
    let sel = ReadStep::SelectApplication;
    let rsp = transact(transport, Command::select_aid(&AID, false), sel, None)?;
    require_ok(rsp, sel, None)?;
    let rsp = transact(
        transport,
        active_authentication_command(challenge),
        ReadStep::InternalAuthenticate,
        None,
    )?;
    parse_active_authentication_response(&rsp)
}

/// What a write probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteProbe {
    /// The card accepted the write: it is not locked.
    Accepted,
    /// The card refused the write with this status word.
    Refused(StatusWord),
}

/// Proves whether the card refuses writes: reads the first byte of `ef` and writes the same byte
/// back (so an unlocked card is left unchanged).
pub fn try_write_same_byte(
    transport: &mut dyn Transport,
    ef: EfId,
) -> Result<WriteProbe, ReadError> {
    let sel = ReadStep::SelectApplication;
    let rsp = transact(transport, Command::select_aid(&AID, false), sel, None)?;
    require_ok(rsp, sel, None)?;
    let step = ReadStep::SelectFile;
    let rsp = transact(transport, Command::select_ef(ef.fid()), step, Some(ef))?;
    require_ok(rsp, step, Some(ef))?;
    let step = ReadStep::ReadHeader;
    let rsp = transact(transport, Command::read_binary(0, 1), step, Some(ef))?;
    let rsp = require_ok(rsp, step, Some(ef))?;
    let Some(byte) = rsp.data.first().copied() else {
        return Err(ReadError::Malformed {
            step,
            file: Some(ef),
            detail: "READ BINARY of 1 byte returned none".into(),
        });
    };
    let rsp = transact(
        transport,
        Command::update_binary(0, vec![byte]),
        ReadStep::WriteProbe,
        Some(ef),
    )?;
    Ok(if rsp.sw.is_ok() {
        WriteProbe::Accepted
    } else {
        WriteProbe::Refused(rsp.sw)
    })
}
