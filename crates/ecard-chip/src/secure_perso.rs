//! Personalization's secure channel at the edge (ECARD.md section 11): [`open`] runs INITIALIZE
//! UPDATE and EXTERNAL AUTHENTICATE with the card's own keys (from a [`TransportKeys`] source)
//! and hands back a transport that puts SCP03 under every command, so the [`Personalizer`] and
//! its plan are unchanged. A profile without SCP03 opens plain.
//!
//! [`Personalizer`]: crate::perso::Personalizer

use rand_core::CryptoRngCore;

use crate::apdu::{Command, StatusWord};
use crate::profile::Profile;
use crate::scp03::{InitializeUpdate, ScpError, Session, TransportKeys};
use crate::transport::{ApduLimits, Layer, Layered, Transport, TransportError, transact};

/// Why the channel did not open. The blank is untouched unless it says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The reader or link failed.
    #[error("{0}")]
    Transport(TransportError),
    /// The card refused INITIALIZE UPDATE or EXTERNAL AUTHENTICATE.
    #[error("the card in reader {reader:?} answered {sw} to {step}")]
    Card {
        /// The reader.
        reader: String,
        /// The command.
        step: &'static str,
        /// The status word.
        sw: StatusWord,
    },
    /// The card's channel is closed for good: it was personalized and locked already.
    #[error(
        "the card in reader {reader:?} is not blank: its transport channel is closed (it was personalized and locked)"
    )]
    NotBlank {
        /// The reader.
        reader: String,
    },
    /// The card's keys are blocked (three wrong host cryptograms): the blank is to be destroyed.
    #[error("the transport keys of the card in reader {reader:?} are blocked: destroy the blank")]
    Blocked {
        /// The reader.
        reader: String,
    },
    /// SCP03 itself: a key mismatch, a bad answer. The message says which.
    #[error(
        "{source} (card in reader {reader:?}; the blank was not touched: check the KMC and key version, do not retry this card without an operator's decision)"
    )]
    Scp {
        /// The reader.
        reader: String,
        /// What failed.
        source: ScpError,
    },
}

impl ChannelError {
    /// Whether the card was made with other transport keys (a wrong KMC or key version).
    pub fn is_key_mismatch(&self) -> bool {
        matches!(
            self,
            ChannelError::Scp {
                source: ScpError::CardCryptogram,
                ..
            }
        )
    }
}

/// The SCP03 channel as a [`Layer`]: the session, the card's serial and its own limits.
pub struct ScpLayer {
    session: Session,
    serial: String,
    /// The card OS's own APDU limits (the profile's).
    card: ApduLimits,
}

impl std::fmt::Debug for ScpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScpLayer")
            .field("session", &self.session)
            .finish()
    }
}

impl ScpLayer {
    /// The card's serial (its key diversification data, hex).
    pub fn serial(&self) -> &str {
        &self.serial
    }
}

impl Layer for ScpLayer {
    fn wrap(&mut self, cmd: &Command) -> Result<Command, String> {
        let mut wrapped = self.session.wrap(cmd).map_err(|e| e.to_string())?;
        // With R-MAC every answer carries data (the MAC): a command that expects none asks
        // for it in the same exchange instead of a GET RESPONSE. Le is outside the C-MAC; where
        // the command has one it keeps its meaning (the bytes to read), and the MAC and padding
        // on top of a full answer come with one GET RESPONSE.
        if wrapped.le.is_none() && self.session.level() & crate::scp03::R_MAC != 0 {
            wrapped.le = Some(256);
        }
        Ok(wrapped)
    }

    fn unwrap(&mut self, rsp: &crate::apdu::Response) -> Result<crate::apdu::Response, String> {
        self.session.unwrap(rsp).map_err(|e| e.to_string())
    }

    fn end(&mut self) {
        self.session.close();
    }

    fn overhead(&self) -> usize {
        // Padding (up to a block) and the 8-byte MAC, both ways.
        32
    }

    fn card_limits(&self) -> Option<ApduLimits> {
        Some(self.card)
    }
}

/// A transport whose every command goes through the SCP03 channel.
pub type ScpTransport<'a> = Layered<'a, ScpLayer>;

/// The card as personalization sees it: plain, or through its SCP03 channel.
#[derive(Debug)]
pub enum PersoChannel<'a> {
    /// A card OS without transport protection.
    Plain(&'a mut dyn Transport),
    /// SCP03 open under the card's own keys.
    Scp(Box<ScpTransport<'a>>),
}

impl PersoChannel<'_> {
    /// The transport to personalize through.
    pub fn transport(&mut self) -> &mut dyn Transport {
        match self {
            PersoChannel::Plain(t) => *t,
            PersoChannel::Scp(s) => s.as_mut(),
        }
    }

    /// The blank's serial, when the card OS has one (SCP03 cards).
    pub fn serial(&self) -> Option<&str> {
        match self {
            PersoChannel::Plain(_) => None,
            PersoChannel::Scp(s) => Some(s.layer().serial()),
        }
    }
}

/// Opens personalization's channel to the blank behind `t` as `profile` says: SCP03 at the
/// profile's level with the card's own keys from `keys`, or plain. The card's cryptogram is
/// checked before EXTERNAL AUTHENTICATE, so a wrong KMC leaves the blank untouched (no failed
/// authentication counted on the card).
pub fn open<'a>(
    t: &'a mut dyn Transport,
    profile: &Profile,
    keys: &dyn TransportKeys,
    rng: &mut dyn CryptoRngCore,
) -> Result<PersoChannel<'a>, ChannelError> {
    if !profile.transport.scp03 {
        return Ok(PersoChannel::Plain(t));
    }
    let reader = t.reader_name().to_string();
    let mut host_challenge = [0u8; 8];
    rng.fill_bytes(&mut host_challenge);
    let rsp = transact(
        t,
        InitializeUpdate::command(profile.transport.key_version, &host_challenge),
    )
    .map_err(ChannelError::Transport)?;
    let scp = |source: ScpError| ChannelError::Scp {
        reader: reader.clone(),
        source,
    };
    match rsp.sw {
        StatusWord::Ok => {}
        StatusWord::AuthenticationBlocked => return Err(ChannelError::Blocked { reader }),
        // The channel is closed for good once the card is locked: it is not a blank.
        StatusWord::ConditionsNotSatisfied => return Err(ChannelError::NotBlank { reader }),
        sw => {
            return Err(ChannelError::Card {
                reader,
                step: "INITIALIZE UPDATE",
                sw,
            });
        }
    }
    let hello = InitializeUpdate::parse(&rsp.data).map_err(scp)?;
    let card_keys = keys.card_keys(&hello.kdd, hello.kvn).map_err(scp)?;
    let mut session =
        Session::new(&card_keys, &host_challenge, &hello.card_challenge).map_err(scp)?;
    if !session.card_cryptogram_matches(&hello.card_cryptogram) {
        return Err(scp(ScpError::CardCryptogram));
    }
    let ea = session
        .external_authenticate(profile.transport.security_level)
        .map_err(scp)?;
    let rsp = transact(t, ea).map_err(ChannelError::Transport)?;
    match rsp.sw {
        StatusWord::Ok => {}
        StatusWord::AuthenticationBlocked => return Err(ChannelError::Blocked { reader }),
        sw => {
            return Err(ChannelError::Card {
                reader,
                step: "EXTERNAL AUTHENTICATE",
                sw,
            });
        }
    }
    Ok(PersoChannel::Scp(Box::new(Layered::new(
        t,
        ScpLayer {
            session,
            serial: hello.serial(),
            card: profile.limits(),
        },
    ))))
}
