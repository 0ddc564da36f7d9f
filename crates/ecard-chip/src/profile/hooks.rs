//! Per-card-OS hooks for the rare quirk that data cannot express (OpenSC's
//! `sc_pkcs15init_operations`: most entries NULL). Every method has a default that does the
//! standard ISO/IEC 7816-4 thing, so a card OS without quirks needs no code at all.
//!
//! A hook must not do I/O or keep state between cards.

use super::Profile;
use crate::apdu::{Command, StatusWord};
use crate::lds::EfId;

/// Quirks of one card operating system. All methods have standard defaults.
pub trait CardHook: Send + Sync {
    /// Rewrites a command before it goes to the card (e.g. a proprietary CLA byte).
    fn adjust_command(&self, cmd: Command) -> Command {
        cmd
    }

    /// Maps a non-standard status word to the standard one for the same condition.
    fn map_status(&self, _ins: u8, sw: StatusWord) -> StatusWord {
        sw
    }

    /// Extra FCP data objects (already encoded) to append in CREATE FILE for `ef`
    /// (`None` for the application DF).
    fn extra_fcp(&self, _ef: Option<EfId>) -> Vec<u8> {
        Vec::new()
    }
}

/// The hook of a card OS that behaves as ISO/IEC 7816-4 says.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl CardHook for NoHook {}

/// The hook for a profile. Neither shipped card OS needs one: the vicc `iso7816` card's gaps (no
/// ACTIVATE FILE, no key generation) are expressed as data in `generic-iso7816.toml`.
pub fn hook_for(_profile: &Profile) -> Box<dyn CardHook> {
    Box::new(NoHook)
}
