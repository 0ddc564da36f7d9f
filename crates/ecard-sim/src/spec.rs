//! What kind of card to simulate: ATR, APDU limits, Active Authentication and lock support, and
//! the EEPROM and link timings. It comes from a firmware profile, so the simulator plays exactly
//! the card OS the personalizer was told about.

use ecard_chip::profile::{LockMethod, Profile};
use ecard_chip::transport::ApduLimits;
use serde::{Deserialize, Serialize};

/// The static description of a simulated card, stored in its image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimSpec {
    /// The profile this card plays.
    pub profile_name: String,
    /// Answer to reset.
    #[serde(with = "crate::hexser")]
    pub atr: Vec<u8>,
    /// Extended-length APDUs accepted.
    pub extended: bool,
    /// Most command data bytes in one APDU.
    pub max_command_data: usize,
    /// Most response data bytes in one APDU.
    pub max_response_data: usize,
    /// GENERATE ASYMMETRIC KEY PAIR and INTERNAL AUTHENTICATE are implemented.
    pub active_authentication: bool,
    /// ACTIVATE FILE is implemented.
    pub lock_supported: bool,
    /// EEPROM bytes for files.
    pub eeprom_size: usize,
    /// EEPROM page size.
    pub page_size: usize,
    /// Link bit rate, bit/s.
    pub link_bit_rate: u32,
    /// Per-APDU latency, microseconds.
    pub apdu_latency_us: u64,
    /// Page programming time, microseconds.
    pub page_write_us: u64,
    /// PACE protocols offered (parameterId, AES key bits), the default first; empty: the card
    /// has no EF.CardAccess and no access control. Older images have none.
    #[serde(default)]
    pub pace: Vec<(u8, u16)>,
    /// Blanks carry per-card SCP03 keys and accept perso commands only inside an SCP03 channel
    /// (ECARD.md section 11). Older images have no transport protection.
    #[serde(default)]
    pub scp03: bool,
    /// The key version of the SCP03 keys.
    #[serde(default)]
    pub scp03_key_version: u8,
}

impl SimSpec {
    /// The card a profile describes.
    pub fn from_profile(p: &Profile) -> SimSpec {
        SimSpec {
            profile_name: p.name.clone(),
            atr: p.atr.first().map(|a| a.pattern.clone()).unwrap_or_default(),
            extended: p.apdu.extended_length,
            max_command_data: p.apdu.max_command_data,
            max_response_data: p.apdu.max_response_data,
            active_authentication: p.security.active_authentication,
            lock_supported: p.security.lock == LockMethod::ActivateDf,
            eeprom_size: p.sim.eeprom_size,
            page_size: p.sim.eeprom_page_size.max(1),
            link_bit_rate: p.sim.link_bit_rate.max(1),
            apdu_latency_us: p.sim.apdu_latency_us,
            page_write_us: p.sim.page_write_us,
            scp03: p.transport.scp03,
            scp03_key_version: p.transport.key_version,
            pace: p
                .pace_infos()
                .iter()
                .map(|i| (i.curve.parameter_id(), (i.key_length.bytes() * 8) as u16))
                .collect(),
        }
    }

    /// The card the shipped `ecard-sim` firmware profile describes.
    pub fn ecard_sim() -> SimSpec {
        #[allow(clippy::expect_used)]
        let profile = Profile::builtin("ecard-sim")
            .expect("the embedded ecard-sim profile parses (tested in ecard-chip's profile tests)");
        SimSpec::from_profile(&profile)
    }

    /// The PACE protocols this card offers.
    pub fn pace_infos(&self) -> Vec<ecard_chip::pace::PaceInfo> {
        self.pace
            .iter()
            .filter_map(|(id, bits)| {
                Some(ecard_chip::pace::PaceInfo {
                    curve: ecard_chip::pace::Curve::from_parameter_id(*id)?,
                    key_length: ecard_chip::pace::KeyLength::from_bits(*bits)?,
                })
            })
            .collect()
    }

    /// The APDU limits of this card.
    pub fn limits(&self) -> ApduLimits {
        ApduLimits {
            extended: self.extended,
            max_command_data: self.max_command_data,
            max_response_data: self.max_response_data,
        }
    }
}
