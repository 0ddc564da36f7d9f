//! The one door between `ecard-chip` and the world: a [`Transport`] moves one C-APDU to a card and
//! brings its R-APDU back. PC/SC readers and the card simulator implement it in other crates; the
//! protocol logic here never knows which one it talks to.

/// How large the APDUs this reader and card pass may be, as configured or probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApduLimits {
    /// Whether extended-length APDUs (Lc/Le up to 65535) pass end to end.
    pub extended: bool,
    /// The most command data bytes in one APDU (255 for short APDUs).
    pub max_command_data: usize,
    /// The most response data bytes in one APDU (256 for short APDUs).
    pub max_response_data: usize,
}

impl ApduLimits {
    /// Short APDUs only: 255 bytes of command data, 256 of response data.
    pub const SHORT: ApduLimits = ApduLimits {
        extended: false,
        max_command_data: 255,
        max_response_data: 256,
    };

    /// The tighter of two limits (a reader's and a card's).
    pub fn min(self, other: ApduLimits) -> ApduLimits {
        ApduLimits {
            extended: self.extended && other.extended,
            max_command_data: self.max_command_data.min(other.max_command_data),
            max_response_data: self.max_response_data.min(other.max_response_data),
        }
    }
}

/// Why a C-APDU did not reach the card or its answer did not come back. Every variant names the
/// reader, so the layer above can say which lane or desk to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card left the reader.
    #[error("card removed from reader {reader:?}")]
    CardRemoved {
        /// The reader's name.
        reader: String,
    },
    /// The card was reset (by another application or a power glitch); its session state is gone.
    #[error("card in reader {reader:?} was reset")]
    CardReset {
        /// The reader's name.
        reader: String,
    },
    /// There is no card in the reader.
    #[error("no card in reader {reader:?}")]
    NoCard {
        /// The reader's name.
        reader: String,
    },
    /// The card does not answer (mute) or answered garbage at the link layer.
    #[error("card in reader {reader:?} does not respond: {detail}")]
    Unresponsive {
        /// The reader's name.
        reader: String,
        /// What the driver reported.
        detail: String,
    },
    /// The reader refused an extended-length APDU.
    #[error("reader {reader:?} refused a {len}-byte extended-length APDU")]
    ExtendedRefused {
        /// The reader's name.
        reader: String,
        /// Size of the refused APDU.
        len: usize,
    },
    /// The PC/SC service is not running or cannot be reached.
    #[error("the PC/SC service is not available: {detail}")]
    NoService {
        /// What the driver reported.
        detail: String,
    },
    /// No reader of that name.
    #[error("no reader named {reader:?}")]
    UnknownReader {
        /// The name asked for.
        reader: String,
    },
    /// Another application holds the card.
    #[error("reader {reader:?} is in use by another application")]
    SharingViolation {
        /// The reader's name.
        reader: String,
    },
    /// Waiting for the card or the reader took too long.
    #[error("timed out waiting for reader {reader:?}")]
    Timeout {
        /// The reader's name.
        reader: String,
    },
    /// Secure messaging failed: a response's MAC did not verify, a data object is missing or
    /// malformed, or the card ended the session. The session is over; nothing of that response
    /// was used.
    #[error("reader {reader:?}: {detail}")]
    SecureMessaging {
        /// The reader's name.
        reader: String,
        /// Which data object and what was wrong.
        detail: String,
    },
    /// Anything else the driver reported.
    #[error("reader {reader:?}: {detail}")]
    Other {
        /// The reader's name.
        reader: String,
        /// What the driver reported.
        detail: String,
    },
}

/// A card behind a reader. Blocking; one C-APDU in flight at a time.
pub trait Transport {
    /// Sends one C-APDU and returns the R-APDU (data followed by SW1 SW2).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError>;
    /// Resets the card (warm reset) and returns its ATR.
    fn reset(&mut self) -> Result<Vec<u8>, TransportError>;
    /// The ATR seen at connection or at the last reset.
    fn atr(&self) -> &[u8];
    /// The largest APDUs that pass, as probed on this reader and card.
    fn limits(&self) -> ApduLimits;
    /// The reader's name, for messages.
    fn reader_name(&self) -> &str;
}

/// One logical command over `t` through an [`Exchange`](crate::apdu::Exchange) (chaining, GET
/// RESPONSE, 6Cxx): the drivers' common step. An APDU that cannot be planned or an exchange that
/// misbehaves is a [`TransportError::Other`] naming the reader.
pub fn transact(
    t: &mut dyn Transport,
    cmd: crate::apdu::Command,
) -> Result<crate::apdu::Response, TransportError> {
    let reader = t.reader_name().to_string();
    let mut ex =
        crate::apdu::Exchange::new(cmd, t.limits()).map_err(|e| TransportError::Other {
            reader: reader.clone(),
            detail: e.to_string(),
        })?;
    while let Some(capdu) = ex.poll_transmit() {
        let rapdu = t.transmit(&capdu)?;
        match ex.handle_response(&rapdu) {
            Ok(Some(rsp)) => return Ok(rsp),
            Ok(None) => {}
            Err(e) => {
                return Err(TransportError::Other {
                    reader,
                    detail: e.to_string(),
                });
            }
        }
    }
    Err(TransportError::Other {
        reader,
        detail: "exchange ended without a response".into(),
    })
}

/// A protection layer that wraps every command and opens every answer (PACE secure messaging,
/// SCP03): [`Layered`] is the one transport over any of them, so the readers and the
/// personalizer above never know which.
pub trait Layer {
    /// Protects a command; an error says what (it names no key).
    fn wrap(&mut self, cmd: &crate::apdu::Command) -> Result<crate::apdu::Command, String>;
    /// Checks and opens the answer to the last protected command.
    fn unwrap(&mut self, rsp: &crate::apdu::Response) -> Result<crate::apdu::Response, String>;
    /// Ends the session (the card was reset, so it ended its side too).
    fn end(&mut self);
    /// The most bytes the layer adds to a command's or an answer's data.
    fn overhead(&self) -> usize;
    /// The card OS's own APDU limits, when the layer knows them: the overhead comes off the
    /// tighter of these and the reader's.
    fn card_limits(&self) -> Option<ApduLimits> {
        None
    }
}

/// A transport whose every command goes through `L`.
pub struct Layered<'a, L> {
    inner: &'a mut dyn Transport,
    layer: L,
}

impl<L: std::fmt::Debug> std::fmt::Debug for Layered<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("reader", &self.inner.reader_name())
            .field("layer", &self.layer)
            .finish()
    }
}

impl<'a, L> Layered<'a, L> {
    /// `layer` over `inner`, its session established.
    pub fn new(inner: &'a mut dyn Transport, layer: L) -> Self {
        Layered { inner, layer }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

impl<L: Layer> Transport for Layered<'_, L> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let reader = || self.inner.reader_name().to_string();
        let cmd = crate::apdu::Command::parse(capdu).map_err(|e| TransportError::Other {
            reader: reader(),
            detail: format!("a command that does not parse cannot be protected: {e}"),
        })?;
        let protected =
            self.layer
                .wrap(&cmd)
                .map_err(|detail| TransportError::SecureMessaging {
                    reader: reader(),
                    detail,
                })?;
        let rsp = transact(self.inner, protected)?;
        let plain = self
            .layer
            .unwrap(&rsp)
            .map_err(|detail| TransportError::SecureMessaging {
                reader: self.inner.reader_name().to_string(),
                detail,
            })?;
        Ok(plain.to_bytes())
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.layer.end();
        self.inner.reset()
    }

    fn atr(&self) -> &[u8] {
        self.inner.atr()
    }

    fn limits(&self) -> ApduLimits {
        let mut l = self.inner.limits();
        if let Some(card) = self.layer.card_limits() {
            l = l.min(card);
        }
        let shrink = |n: usize| n.saturating_sub(self.layer.overhead()).max(16);
        ApduLimits {
            extended: l.extended,
            max_command_data: shrink(l.max_command_data),
            max_response_data: shrink(l.max_response_data),
        }
    }

    fn reader_name(&self) -> &str {
        self.inner.reader_name()
    }
}
