//! The blank's transport protection (ECARD.md section 11): GlobalPlatform SCP03 with per-card
//! keys. INITIALIZE UPDATE is accepted right after reset; EXTERNAL AUTHENTICATE opens the channel
//! at the level the host asks for; three wrong host cryptograms block the keys (`69 83`); every
//! perso command outside the channel answers `69 82`; the CAN must come C-DECRYPTED; ACTIVATE
//! FILE closes the channel for good. The cryptography is `ecard_chip::scp03`'s.

use ecard_chip::scp03::{self, InitializeUpdate, Session, StaticKeys};

use super::*;

/// Three failed EXTERNAL AUTHENTICATEs block the keys.
const MAX_FAILURES: u8 = 3;

/// An SCP03 channel on the card: pending (after INITIALIZE UPDATE) or open.
pub(crate) struct Channel {
    session: Session,
    open: bool,
}

impl Card {
    fn static_keys(&self) -> Option<StaticKeys> {
        let t = self.fs.transport.as_ref()?;
        Some(StaticKeys {
            enc: t.enc.clone(),
            mac: t.mac.clone(),
            dek: t.dek.clone(),
        })
    }

    pub(super) fn initialize_update(&mut self, cmd: &Command) -> Answer {
        if !self.spec.scp03 {
            return Err(StatusWord::InsNotSupported);
        }
        self.scp = None;
        let Some(t) = self.fs.transport.as_ref() else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        if t.closed {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        if t.failures >= MAX_FAILURES {
            return Err(StatusWord::AuthenticationBlocked);
        }
        if cmd.p1 != 0 && cmd.p1 != t.kvn {
            return Err(StatusWord::ReferenceNotFound);
        }
        let host: [u8; 8] = cmd
            .data
            .as_slice()
            .try_into()
            .map_err(|_| StatusWord::WrongLength)?;
        let (kdd, kvn) = (t.kdd.clone(), t.kvn);
        let keys = self
            .static_keys()
            .ok_or(StatusWord::ConditionsNotSatisfied)?;
        let mut card_challenge = [0u8; 8];
        self.rng.fill_bytes(&mut card_challenge);
        let session =
            Session::new(&keys, &host, &card_challenge).map_err(|_| StatusWord::MemoryFailure)?;
        let answer = InitializeUpdate {
            kdd: kdd
                .as_slice()
                .try_into()
                .map_err(|_| StatusWord::MemoryFailure)?,
            kvn,
            i: 0x00,
            card_challenge,
            card_cryptogram: session.card_cryptogram(),
        };
        self.scp = Some(Channel {
            session,
            open: false,
        });
        Ok(answer.to_bytes())
    }

    pub(super) fn external_authenticate(&mut self, cmd: &Command) -> Answer {
        let Some(mut ch) = self.scp.take().filter(|c| !c.open) else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        let Some(t) = self.fs.transport.as_mut() else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        if t.failures >= MAX_FAILURES {
            return Err(StatusWord::AuthenticationBlocked);
        }
        match ch.session.check_external_authenticate(cmd) {
            Ok(()) => {
                t.failures = 0;
                ch.open = true;
                self.scp = Some(ch);
                Ok(Vec::new())
            }
            Err(_) => {
                t.failures += 1;
                self.bytes_written += 1;
                if t.failures >= MAX_FAILURES {
                    Err(StatusWord::AuthenticationBlocked)
                } else {
                    Err(StatusWord::Other(0x6300))
                }
            }
        }
    }

    /// Opens a command that came under the channel (CLA with the GP SM bit); `None` when the
    /// channel cannot take it (the card then answers `69 82` and closes it).
    pub(super) fn scp_unwrap(&mut self, cmd: &Command) -> Option<(Command, u8)> {
        let ch = self.scp.as_mut().filter(|c| c.open)?;
        match ch.session.unwrap_command(cmd) {
            Ok(plain) => Some((plain, ch.session.level())),
            Err(_) => {
                self.scp = None;
                None
            }
        }
    }

    /// Protects the answer to a command that came under the channel.
    pub(super) fn scp_wrap(&mut self, data: &[u8], sw: StatusWord) -> Vec<u8> {
        match self.scp.as_mut() {
            Some(ch) => ch
                .session
                .wrap_response(data, sw)
                .unwrap_or_else(|_| sw_only(StatusWord::MemoryFailure)),
            None => sw_only(sw),
        }
    }

    /// Whether `ins` is a personalization command that a blank in transport state takes only
    /// inside the channel.
    pub(super) fn needs_channel(&self, ins_byte: u8) -> bool {
        self.spec.scp03
            && self.fs.transport.as_ref().is_some_and(|t| !t.closed)
            && matches!(
                ins_byte,
                ins::CREATE_FILE
                    | ins::UPDATE_BINARY
                    | ins::UPDATE_BINARY_ODD
                    | ins::GENERATE_ASYMMETRIC_KEY_PAIR
                    | ins::CHANGE_REFERENCE_DATA
                    | ins::ACTIVATE_FILE
                    | 0xDA
            )
    }

    /// After the lock the channel is closed for good.
    pub(super) fn close_channel_for_good(&mut self) {
        self.scp = None;
        if let Some(t) = self.fs.transport.as_mut() {
            t.closed = true;
        }
    }
}

/// A blank's transport keys from the issuer's master key and its serial (`kdd`).
pub fn transport_keys(kmc: &[u8], kdd: &[u8; 10], kvn: u8) -> Option<crate::fs::TransportKeys> {
    let k = scp03::diversify(kmc, kdd).ok()?;
    Some(crate::fs::TransportKeys {
        kdd: kdd.to_vec(),
        kvn,
        enc: k.enc,
        mac: k.mac,
        dek: k.dek,
        failures: 0,
        closed: false,
    })
}
