//! ISO/IEC 7816-4 APDUs: commands ([`Command`], cases 1 to 4, short and extended length), responses
//! ([`Response`] with a typed [`StatusWord`]) and the sans-I/O [`Exchange`] that turns one logical
//! command into the APDUs a card needs (command chaining, GET RESPONSE on 61xx, re-issue on 6Cxx).
//!
//! This module only shapes bytes. It never talks to a reader and never decides what a status word
//! means for personalization or reading: the callers do.

mod command;
mod exchange;
mod status;

pub use command::{Command, MAX_EVEN_INS_OFFSET, ins};
pub use exchange::{Exchange, MAX_ACCUMULATED, MAX_ROUNDS};
pub use status::StatusWord;

/// A C-APDU for logs and Debug output: header and size, never the data (it may be holder data).
pub fn describe(capdu: &[u8]) -> String {
    match capdu {
        [cla, ins, p1, p2, ..] => format!(
            "{cla:02X} {ins:02X} {p1:02X} {p2:02X} ({} bytes)",
            capdu.len()
        ),
        _ => format!("({} bytes)", capdu.len()),
    }
}

/// A response APDU: the data field and the status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The response data (may be empty).
    pub data: Vec<u8>,
    /// SW1-SW2.
    pub sw: StatusWord,
}

impl std::fmt::Debug for Response {
    // The data may be holder data read from a card: show only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("data_len", &self.data.len())
            .field("sw", &self.sw)
            .finish()
    }
}

impl Response {
    /// Splits an R-APDU into data and status word.
    pub fn parse(rapdu: &[u8]) -> Result<Response, ApduError> {
        let Some(split) = rapdu.len().checked_sub(2) else {
            return Err(ApduError::ResponseTooShort { len: rapdu.len() });
        };
        let sw = u16::from_be_bytes([rapdu[split], rapdu[split + 1]]);
        Ok(Response {
            data: rapdu[..split].to_vec(),
            sw: StatusWord::from_u16(sw),
        })
    }

    /// The R-APDU bytes: data followed by SW1 SW2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_u16().to_be_bytes());
        out
    }

    /// A response with no data.
    pub fn status(sw: StatusWord) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }
}

/// Why bytes are not a valid APDU, or a command cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    /// An R-APDU shorter than its two status bytes.
    #[error("response APDU of {len} bytes is shorter than the 2 status bytes")]
    ResponseTooShort {
        /// Bytes received.
        len: usize,
    },
    /// A C-APDU shorter than its 4-byte header.
    #[error("command APDU of {len} bytes is shorter than the 4-byte header")]
    CommandTooShort {
        /// Bytes received.
        len: usize,
    },
    /// The length fields do not add up to the APDU's size.
    #[error("command APDU of {len} bytes does not match its length fields ({detail})")]
    BadLength {
        /// Bytes received.
        len: usize,
        /// Which rule was broken.
        detail: &'static str,
    },
    /// Command data longer than one extended APDU can carry.
    #[error("command data of {len} bytes is over the 65535-byte limit of one APDU")]
    DataTooLong {
        /// Data length asked for.
        len: usize,
    },
    /// Le (Ne) outside 1..=65536.
    #[error("expected response length {ne} is outside 1..=65536")]
    BadLe {
        /// The Ne asked for.
        ne: usize,
    },
    /// An extended APDU is needed but the link carries short APDUs only.
    #[error("a {len}-byte command needs extended length, which this reader and card do not pass")]
    ExtendedNotAvailable {
        /// Data length of the command.
        len: usize,
    },
    /// The card kept answering 61xx beyond any sensible response size.
    #[error("card sent more than {limit} bytes through GET RESPONSE")]
    ResponseTooLong {
        /// The cap that was hit.
        limit: usize,
    },
    /// The card kept answering 61xx (or 6Cxx) past [`MAX_ROUNDS`] extra APDUs for one
    /// command: a misbehaving card or reader, stopped rather than looped on.
    #[error(
        "card kept asking for GET RESPONSE on INS {ins:02X}: {rounds} rounds without an end (last SW2 {last_sw2:02X}, {gathered} bytes gathered); the card or reader is misbehaving: take the card out and try another reader or card"
    )]
    TooManyRounds {
        /// The command's INS.
        ins: u8,
        /// The cap that was hit.
        rounds: usize,
        /// SW2 of the last 61xx/6Cxx answer.
        last_sw2: u8,
        /// Bytes gathered so far.
        gathered: usize,
    },
    /// A response arrived when the exchange had no command in flight (a caller bug).
    #[error("response given to an exchange with no command in flight")]
    NoCommandInFlight,
}
