//! Chip access control at the edge: the drivers that run PACE over a [`Transport`] and the
//! [`SecureTransport`] that puts secure messaging under every command of the readers above it
//! (`read_card`, Active Authentication, the write probe), so no reader path needs to know.
//!
//! [`open`] reads EF.CardAccess. A card without one offers no access control: the session is
//! plain and says so ([`Session::access`]), so QA and the checkpoint can report it instead of
//! treating it like a protected card. A card with one needs a password; PACE runs with the first
//! protocol the card lists that this reader supports.

use rand_core::CryptoRngCore;

use crate::apdu::{Command, StatusWord};
use crate::pace::{
    CARD_ACCESS_SFI, PaceAction, PaceError, PaceInfo, PaceReader, Password, parse_card_access,
};
use crate::sm::{OVERHEAD, SecureMessaging};
use crate::transport::{Layer, Layered, Transport, TransportError, transact};

/// Why a card could not be opened for reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The card protects its chip and no password was given.
    #[error(
        "the card in reader {reader:?} protects its chip with PACE: give its CAN (--can NNNNNN, printed on the card's front) or its MRZ key (--mrz-key DOCNUMBER,YYMMDD,YYMMDD)"
    )]
    PasswordNeeded {
        /// The reader.
        reader: String,
    },
    /// PACE failed.
    #[error("{source} (reader {reader:?})")]
    Pace {
        /// The reader.
        reader: String,
        /// What failed.
        source: PaceError,
    },
    /// The reader or link failed.
    #[error("{0}")]
    Transport(TransportError),
    /// EF.CardAccess could not be read.
    #[error("reading EF.CardAccess in reader {reader:?}: the card answered {sw}")]
    CardAccess {
        /// The reader.
        reader: String,
        /// The status word.
        sw: StatusWord,
    },
}

impl AccessError {
    /// Whether the password was wrong (or blocked): the caller exits with its own code.
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self,
            AccessError::Pace {
                source: PaceError::WrongPassword { .. }
                    | PaceError::BadToken { .. }
                    | PaceError::Blocked { .. },
                ..
            }
        )
    }
}

/// How the chip was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// The card has no EF.CardAccess: anyone can read it ("no access control").
    None,
    /// PACE with this protocol; everything after runs under secure messaging.
    Pace(PaceInfo),
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::None => f.write_str("no access control"),
            Access::Pace(i) => f.write_str(&i.describe()),
        }
    }
}

/// Reads EF.CardAccess (READ BINARY with SFI 1C from the MF); `None` when the card has none.
pub fn read_card_access(transport: &mut dyn Transport) -> Result<Option<Vec<u8>>, AccessError> {
    let reader = transport.reader_name().to_string();
    // EF.CardAccess lives in the MF; a card left inside its application (after personalization,
    // or by another reader) is brought back first. A card without SELECT by FID answers an error
    // here, which the READ BINARY below settles.
    transact(transport, Command::select_mf()).map_err(AccessError::Transport)?;
    let mut data = Vec::new();
    loop {
        let ne = 256.min(transport.limits().max_response_data.max(1));
        let cmd = if data.is_empty() {
            Command::new(0x00, 0xB0, 0x80 | CARD_ACCESS_SFI, 0x00).with_le(ne)
        } else {
            let off = u16::try_from(data.len()).unwrap_or(u16::MAX);
            Command::read_binary(off, ne)
        };
        let rsp = transact(transport, cmd).map_err(AccessError::Transport)?;
        match rsp.sw {
            StatusWord::FileNotFound if data.is_empty() => return Ok(None),
            StatusWord::Ok => {
                let got = rsp.data.len();
                data.extend_from_slice(&rsp.data);
                if got < ne || data.len() > 4096 {
                    return Ok(Some(data));
                }
            }
            StatusWord::EndOfFile => {
                data.extend_from_slice(&rsp.data);
                return Ok(Some(data));
            }
            StatusWord::WrongP1P2 | StatusWord::IncorrectP1P2 if !data.is_empty() => {
                data.extend_from_slice(&rsp.data);
                return Ok(Some(data));
            }
            sw => return Err(AccessError::CardAccess { reader, sw }),
        }
    }
}

/// Runs PACE with `info` and `password` over `transport`; returns the secure messaging session.
pub fn establish(
    transport: &mut dyn Transport,
    info: PaceInfo,
    password: &Password,
    rng: &mut dyn CryptoRngCore,
) -> Result<SecureMessaging, AccessError> {
    let reader = transport.reader_name().to_string();
    let pace_err = |source: PaceError| AccessError::Pace {
        reader: reader.clone(),
        source,
    };
    let mut pace = PaceReader::new(info, password, rng).map_err(pace_err)?;
    loop {
        match pace.poll() {
            PaceAction::Transmit(apdu) => {
                let rapdu = transport.transmit(&apdu).map_err(AccessError::Transport)?;
                pace.handle_response(&rapdu).map_err(pace_err)?;
            }
            PaceAction::Done => return pace.into_session().map_err(pace_err),
            PaceAction::Failed => {
                return Err(pace_err(
                    pace.error()
                        .cloned()
                        .unwrap_or(PaceError::ApiMisuse("failed without an error")),
                ));
            }
        }
    }
}

/// PACE's secure messaging as a [`Layer`]: the session and the protocol that made it.
pub struct PaceLayer {
    sm: SecureMessaging,
    info: PaceInfo,
}

impl std::fmt::Debug for PaceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceLayer")
            .field("protocol", &self.info.describe())
            .field("sm", &self.sm)
            .finish()
    }
}

impl PaceLayer {
    /// An established session of `info`.
    pub fn new(sm: SecureMessaging, info: PaceInfo) -> PaceLayer {
        PaceLayer { sm, info }
    }

    /// The protocol PACE ran.
    pub fn info(&self) -> PaceInfo {
        self.info
    }
}

impl Layer for PaceLayer {
    fn wrap(&mut self, cmd: &Command) -> Result<Command, String> {
        self.sm.wrap(cmd).map_err(|e| e.to_string())
    }

    fn unwrap(&mut self, rsp: &crate::apdu::Response) -> Result<crate::apdu::Response, String> {
        self.sm.unwrap(rsp).map_err(|e| e.to_string())
    }

    fn end(&mut self) {
        self.sm.end();
    }

    fn overhead(&self) -> usize {
        OVERHEAD
    }
}

/// A transport whose every command goes under PACE secure messaging.
pub type SecureTransport<'a> = Layered<'a, PaceLayer>;

/// A card opened for reading: plain when it has no access control, secure after PACE.
#[derive(Debug)]
pub enum Session<'a> {
    /// No EF.CardAccess: plain commands.
    Plain(&'a mut dyn Transport),
    /// PACE done: secure messaging.
    Secure(Box<SecureTransport<'a>>),
}

impl Session<'_> {
    /// How the chip was opened.
    pub fn access(&self) -> Access {
        match self {
            Session::Plain(_) => Access::None,
            Session::Secure(s) => Access::Pace(s.layer().info()),
        }
    }

    /// The transport to read through.
    pub fn transport(&mut self) -> &mut dyn Transport {
        match self {
            Session::Plain(t) => *t,
            Session::Secure(s) => s.as_mut(),
        }
    }
}

impl std::fmt::Debug for dyn Transport + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transport({:?})", self.reader_name())
    }
}

/// Opens the card behind `transport` for reading: reads EF.CardAccess and, when the card offers
/// PACE, runs it with `password` (an error when none was given). A card without EF.CardAccess
/// opens plain, whatever the password.
pub fn open<'a>(
    transport: &'a mut dyn Transport,
    password: Option<&Password>,
    rng: &mut dyn CryptoRngCore,
) -> Result<Session<'a>, AccessError> {
    let reader = transport.reader_name().to_string();
    let Some(card_access) = read_card_access(transport)? else {
        return Ok(Session::Plain(transport));
    };
    let infos = parse_card_access(&card_access).map_err(|source| AccessError::Pace {
        reader: reader.clone(),
        source,
    })?;
    let Some(info) = infos.first().copied() else {
        return Err(AccessError::Pace {
            reader,
            source: PaceError::Unsupported(
                "EF.CardAccess lists no ECDH Generic Mapping protocol on parameterId 12, 13, 15 or 16"
                    .into(),
            ),
        });
    };
    let Some(password) = password else {
        // A card without the e-card application (a blank) has nothing to protect: it opens
        // plain, and reading it says what it is.
        let rsp = transact(transport, Command::select_aid(&crate::lds::AID, false))
            .map_err(AccessError::Transport)?;
        if rsp.sw == StatusWord::FileNotFound {
            return Ok(Session::Plain(transport));
        }
        return Err(AccessError::PasswordNeeded { reader });
    };
    let sm = establish(transport, info, password, rng)?;
    Ok(Session::Secure(Box::new(Layered::new(
        transport,
        PaceLayer::new(sm, info),
    ))))
}
