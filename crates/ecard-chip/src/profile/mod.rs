//! Firmware profiles: what differs between card operating systems, as data (STYLE.md, OpenSC
//! `pkcs15init`). A profile says how large the APDUs may be, how the application DF and its EFs
//! are created, whether the chip keeps an Active Authentication key, how the card is locked, how
//! READ BINARY reaches offsets over 32767, and the simulator's timings.
//!
//! `generic-iso7816` holds the defaults and is loaded first; a card OS file overrides only the keys
//! that differ (like OpenSC's `pkcs15.profile` + `myeid.profile`). TOML text comes in, a typed
//! [`Profile`] goes out: this module reads no files (the caller does) and the shipped profiles are
//! embedded, so a binary works without the `firmware-profiles/` folder.

mod hooks;
mod schema;

pub use hooks::{CardHook, NoHook, hook_for};
pub use schema::{
    ApduSection, AtrPattern, FilesystemSection, LargeOffsets, LockMethod, PaceSection, Profile,
    ReadSection, SecuritySection, SimSection,
};

use crate::transport::ApduLimits;

/// The shipped profiles: (name, TOML text). The generic one must come first.
const BUILTIN: [(&str, &str); 2] = [
    (
        "generic-iso7816",
        include_str!("../../../../firmware-profiles/generic-iso7816.toml"),
    ),
    (
        "ecard-sim",
        include_str!("../../../../firmware-profiles/ecard-sim.toml"),
    ),
];

/// The name of the profile every other one starts from.
pub const GENERIC: &str = "generic-iso7816";

/// Why a profile could not be loaded. Every variant names the source (file name) it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// TOML syntax error, unknown key or wrong value type.
    #[error("{source_name}:{line}:{column}: {key_text}{message}")]
    Parse {
        /// The file (or built-in name) parsed.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key at fault, where known.
        key: Option<String>,
        /// `key `name`: ` prefix for Display (empty when the key is unknown).
        key_text: String,
        /// What toml or the field's parser said.
        message: String,
    },
    /// The generic profile lacks a key that every profile needs.
    #[error("{source_name}: key {key:?} is missing; the generic profile must set every key")]
    Missing {
        /// The file parsed.
        source_name: String,
        /// Dotted key path.
        key: String,
    },
    /// Values that parse but contradict each other.
    #[error("{source_name}: key {key:?}: {reason}")]
    Invalid {
        /// The file parsed.
        source_name: String,
        /// Dotted key path.
        key: String,
        /// What is wrong, with the numbers.
        reason: String,
    },
    /// No shipped profile of that name.
    #[error("no built-in firmware profile named {name:?} (built-in: generic-iso7816, ecard-sim)")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
    },
}

impl Profile {
    /// The PACE protocols this card OS offers, the default first; empty when it offers none.
    pub fn pace_infos(&self) -> Vec<crate::pace::PaceInfo> {
        if !self.pace.offered {
            return Vec::new();
        }
        let mut out = Vec::new();
        for bits in &self.pace.key_bits {
            for id in &self.pace.parameter_ids {
                if let (Some(key_length), Some(curve)) = (
                    crate::pace::KeyLength::from_bits(*bits),
                    crate::pace::Curve::from_parameter_id(*id),
                ) {
                    out.push(crate::pace::PaceInfo { key_length, curve });
                }
            }
        }
        out
    }

    /// The generic ISO/IEC 7816-4 profile: short APDUs, no Active Authentication, no lock.
    pub fn generic() -> Profile {
        #[allow(clippy::expect_used)]
        Profile::builtin(GENERIC).expect("the embedded generic profile is tested to parse")
    }

    /// A shipped profile by name (`generic-iso7816`, `ecard-sim`).
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
            return Err(ProfileError::UnknownBuiltin {
                name: name.to_owned(),
            });
        };
        if name == GENERIC {
            schema::parse_base(text, &format!("{name}.toml"))
        } else {
            Profile::from_toml(text, &format!("{name}.toml"))
        }
    }

    /// Every shipped profile, card OS profiles first and the generic fallback last, the order
    /// [`select_profile`] should see them in.
    pub fn builtins() -> Result<Vec<Profile>, ProfileError> {
        let mut out: Vec<Profile> = BUILTIN
            .iter()
            .skip(1)
            .map(|(n, _)| Profile::builtin(n))
            .collect::<Result<_, _>>()?;
        out.push(Profile::builtin(GENERIC)?);
        Ok(out)
    }

    /// Parses a user-supplied profile over the generic defaults. `source_name` (the file name)
    /// appears in every error.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Profile, ProfileError> {
        let base = schema::parse_base(BUILTIN[0].1, "generic-iso7816.toml")?;
        schema::parse_overlay(base, text, source_name)
    }

    /// The APDU limits this card OS allows (before the reader's own limits are applied).
    pub fn limits(&self) -> ApduLimits {
        ApduLimits {
            extended: self.apdu.extended_length,
            max_command_data: self.apdu.max_command_data,
            max_response_data: self.apdu.max_response_data,
        }
    }

    /// Whether any ATR pattern of this profile matches `atr`.
    pub fn matches_atr(&self, atr: &[u8]) -> bool {
        self.atr.iter().any(|p| p.matches(atr))
    }
}

/// The first profile whose ATR patterns match `atr` (put specific profiles before generic ones).
pub fn select_profile<'a>(profiles: &'a [Profile], atr: &[u8]) -> Option<&'a Profile> {
    profiles.iter().find(|p| p.matches_atr(atr))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
