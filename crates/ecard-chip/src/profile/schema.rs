//! The typed shape of a profile and its TOML parsing with error positions.
//!
//! Each section is declared once through `section!`, which makes both the complete struct and a
//! "patch" twin whose fields are all optional (`deny_unknown_fields`). A file is parsed into
//! patches, so toml reports unknown keys and wrong types with their position in *that* file; the
//! patch is then applied over the generic profile. Lists (ATR patterns) replace the base list whole.

use serde::Deserialize;

use super::ProfileError;

macro_rules! section {
    ($(#[$m:meta])* $name:ident / $patch:ident, $key:literal {
        $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name { $( $(#[$fm])* pub $field: $ty, )* }

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $patch { $( #[serde(default)] $field: Option<$ty>, )* }

        impl $patch {
            fn apply(self, base: &mut $name) {
                $( if let Some(v) = self.$field { base.$field = v; } )*
            }

            fn complete(self, source: &str) -> Result<$name, ProfileError> {
                Ok($name { $( $field: self.$field.ok_or_else(|| ProfileError::Missing {
                    source_name: source.to_owned(),
                    key: format!("{}.{}", $key, stringify!($field)),
                })?, )* })
            }
        }
    };
}

section! {
    /// `[apdu]`: what the card OS accepts.
    ApduSection / ApduPatch, "apdu" {
        /// Extended-length APDUs (Lc and Le of up to 65535).
        extended_length: bool,
        /// Most command data bytes in one APDU.
        max_command_data: usize,
        /// Most response data bytes in one APDU.
        max_response_data: usize,
    }
}

section! {
    /// `[filesystem]`: how the application DF and its EFs come to exist.
    FilesystemSection / FilesystemPatch, "filesystem" {
        /// Create the application DF with CREATE FILE (false: it exists from the factory).
        create_app_df: bool,
        /// The application DF's file id (tag 83 of its FCP).
        df_fid: u16,
        /// Put a life cycle status byte (tag 8A) in the FCP of created files.
        fcp_life_cycle: bool,
        /// The life cycle status given at creation (03: initialisation).
        life_cycle_on_create: u8,
        /// Put the short EF id (tag 88) in the FCP of created EFs.
        fcp_sfi: bool,
        /// SELECT each file after CREATE FILE (for card OSes that do not make it current).
        select_after_create: bool,
        /// Bytes of slack over each file's content when sizing its EF.
        file_slack: usize,
        /// The largest EF this card OS can create.
        max_file_size: usize,
    }
}

section! {
    /// `[security]`: Active Authentication and locking.
    SecuritySection / SecurityPatch, "security" {
        /// The chip generates and keeps a P-256 key (GENERATE ASYMMETRIC KEY PAIR) and answers
        /// INTERNAL AUTHENTICATE.
        active_authentication: bool,
        /// Key reference (P2) for key generation.
        aa_key_ref: u8,
        /// How the card is locked after the files are written and checked.
        lock: LockMethod,
    }
}

section! {
    /// `[pace]`: chip access control (ECARD.md section 10). A card OS that offers PACE gets the
    /// CAN written during personalization, lists these protocols in EF.CardAccess and, once
    /// locked, answers every command inside the application only under PACE secure messaging.
    PaceSection / PacePatch, "pace" {
        /// The card OS offers PACE (ECDH Generic Mapping, AES secure messaging).
        offered: bool,
        /// Standardized domain parameter ids offered (12 P-256, 13 brainpoolP256r1, 15 P-384,
        /// 16 brainpoolP384r1); the first is the card's default.
        parameter_ids: Vec<u8>,
        /// AES key lengths offered in bits (128, 192, 256); the first is the default.
        key_bits: Vec<u16>,
    }
}

section! {
    /// `[transport]`: how a blank is protected before personalization (ECARD.md section 11).
    TransportSection / TransportPatch, "transport" {
        /// Blanks come with per-card SCP03 keys and accept perso commands only inside an SCP03
        /// channel.
        scp03: bool,
        /// The SCP03 security level personalization asks for (`0x33`: C-MAC, C-DECRYPTION,
        /// R-MAC, R-ENCRYPTION).
        security_level: u8,
        /// The transport key version the card maker uses (INITIALIZE UPDATE's P1; 0: any).
        key_version: u8,
    }
}

section! {
    /// `[read]`: how READ BINARY and UPDATE BINARY reach offsets over 32767.
    ReadSection / ReadPatch, "read" {
        /// The method for large offsets.
        large_offsets: LargeOffsets,
    }
}

section! {
    /// `[sim]`: the simulator's memory and timing model for this card OS.
    SimSection / SimPatch, "sim" {
        /// EEPROM bytes available for files.
        eeprom_size: usize,
        /// EEPROM page size in bytes; writes cost one page-write time per page touched.
        eeprom_page_size: usize,
        /// Link bit rate (bits per second) between reader and card.
        link_bit_rate: u32,
        /// Fixed cost of one APDU round trip, microseconds.
        apdu_latency_us: u64,
        /// Time to program one EEPROM page, microseconds.
        page_write_us: u64,
    }
}

/// How the card is locked once personalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LockMethod {
    /// ACTIVATE FILE (INS 44) on the application DF: life cycle operational-activated, after
    /// which the card OS refuses every write under the DF.
    ActivateDf,
    /// The card OS has no lock (the vicc `iso7816` card): personalization reports "card could
    /// not be locked" instead of failing.
    None,
}

/// How offsets over 32767 are reached by READ BINARY and UPDATE BINARY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LargeOffsets {
    /// Odd INS B1/D7 with the offset in data object 54 (ISO/IEC 7816-4 11.3.3).
    OddIns,
    /// Not supported: files must stay within 32768 bytes.
    None,
}

/// An ATR pattern with a mask, as pcsc-tools writes them: a byte matches when
/// `atr & mask == pattern & mask`; the lengths must be equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtrPattern {
    /// The ATR bytes expected.
    pub pattern: Vec<u8>,
    /// Which bits count (same length as `pattern`).
    pub mask: Vec<u8>,
}

impl AtrPattern {
    /// Whether `atr` matches.
    pub fn matches(&self, atr: &[u8]) -> bool {
        atr.len() == self.pattern.len()
            && atr
                .iter()
                .zip(self.pattern.iter().zip(&self.mask))
                .all(|(a, (p, m))| a & m == p & m)
    }
}

impl<'de> Deserialize<'de> for AtrPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            pattern: String,
            mask: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        let pattern = parse_hex(&raw.pattern).map_err(serde::de::Error::custom)?;
        let mask = match raw.mask {
            Some(m) => parse_hex(&m).map_err(serde::de::Error::custom)?,
            None => vec![0xFF; pattern.len()],
        };
        if mask.len() != pattern.len() {
            return Err(serde::de::Error::custom(format!(
                "ATR mask has {} bytes but the pattern has {}",
                mask.len(),
                pattern.len()
            )));
        }
        Ok(AtrPattern { pattern, mask })
    }
}

/// Hex bytes written "3B 8F 01", "3B:8F:01" or "3B8F01".
fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("hex string {s:?} has an odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = pair[0].to_digit(16);
            let lo = pair[1].to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!(
                    "{:?} in {s:?} is not a hex byte",
                    pair.iter().collect::<String>()
                )),
            }
        })
        .collect()
}

/// A firmware profile: everything the personalizer and the simulator need to know about one
/// card operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// Short name (`ecard-sim`), used to pick the profile and in reports.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// ATR patterns that select this profile.
    pub atr: Vec<AtrPattern>,
    /// `[apdu]`.
    pub apdu: ApduSection,
    /// `[filesystem]`.
    pub filesystem: FilesystemSection,
    /// `[security]`.
    pub security: SecuritySection,
    /// `[pace]`.
    pub pace: PaceSection,
    /// `[transport]`.
    pub transport: TransportSection,
    /// `[read]`.
    pub read: ReadSection,
    /// `[sim]`.
    pub sim: SimSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilePatch {
    name: Option<String>,
    description: Option<String>,
    atr: Option<Vec<AtrPattern>>,
    #[serde(default)]
    apdu: ApduPatch,
    #[serde(default)]
    filesystem: FilesystemPatch,
    #[serde(default)]
    security: SecurityPatch,
    #[serde(default)]
    pace: PacePatch,
    #[serde(default)]
    transport: TransportPatch,
    #[serde(default)]
    read: ReadPatch,
    #[serde(default)]
    sim: SimPatch,
}

fn parse_patch(text: &str, source: &str) -> Result<ProfilePatch, ProfileError> {
    toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line_text = text[line_start..].lines().next().unwrap_or("");
        // The key is left of `=` on the error's line (a wrong value), or the span itself (an
        // unknown key points at the key).
        let key = match line_text.split_once('=') {
            Some((k, _)) => Some(k.trim().to_owned()),
            None => text
                .get(span.clone())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        };
        ProfileError::Parse {
            source_name: source.to_owned(),
            line,
            column,
            key_text: key
                .as_ref()
                .map(|k| format!("key `{k}`: "))
                .unwrap_or_default(),
            key,
            message: e.message().trim_end_matches('\n').to_owned(),
        }
    })
}

/// Parses the generic profile, which must set every key.
pub(super) fn parse_base(text: &str, source: &str) -> Result<Profile, ProfileError> {
    let p = parse_patch(text, source)?;
    let missing = |key: &str| ProfileError::Missing {
        source_name: source.to_owned(),
        key: key.to_owned(),
    };
    let profile = Profile {
        name: p.name.ok_or_else(|| missing("name"))?,
        description: p.description.ok_or_else(|| missing("description"))?,
        atr: p.atr.ok_or_else(|| missing("atr"))?,
        apdu: p.apdu.complete(source)?,
        filesystem: p.filesystem.complete(source)?,
        security: p.security.complete(source)?,
        pace: p.pace.complete(source)?,
        transport: p.transport.complete(source)?,
        read: p.read.complete(source)?,
        sim: p.sim.complete(source)?,
    };
    validate(&profile, source)?;
    Ok(profile)
}

/// Parses a card OS profile over `base`; `name` is required, everything else defaults to base.
pub(super) fn parse_overlay(
    mut base: Profile,
    text: &str,
    source: &str,
) -> Result<Profile, ProfileError> {
    let p = parse_patch(text, source)?;
    base.name = p.name.ok_or_else(|| ProfileError::Missing {
        source_name: source.to_owned(),
        key: "name".to_owned(),
    })?;
    if let Some(d) = p.description {
        base.description = d;
    }
    if let Some(a) = p.atr {
        base.atr = a;
    }
    p.apdu.apply(&mut base.apdu);
    p.filesystem.apply(&mut base.filesystem);
    p.security.apply(&mut base.security);
    p.pace.apply(&mut base.pace);
    p.transport.apply(&mut base.transport);
    p.read.apply(&mut base.read);
    p.sim.apply(&mut base.sim);
    validate(&base, source)?;
    Ok(base)
}

fn validate(p: &Profile, source: &str) -> Result<(), ProfileError> {
    let invalid = |key: &str, reason: String| {
        Err(ProfileError::Invalid {
            source_name: source.to_owned(),
            key: key.to_owned(),
            reason,
        })
    };
    let (max_c, max_r) = if p.apdu.extended_length {
        (65535, 65536)
    } else {
        (255, 256)
    };
    if !(1..=max_c).contains(&p.apdu.max_command_data) {
        return invalid(
            "apdu.max_command_data",
            format!("{} is outside 1..={max_c}", p.apdu.max_command_data),
        );
    }
    if !(1..=max_r).contains(&p.apdu.max_response_data) {
        return invalid(
            "apdu.max_response_data",
            format!("{} is outside 1..={max_r}", p.apdu.max_response_data),
        );
    }
    if p.pace.offered {
        if p.pace.parameter_ids.is_empty() {
            return invalid(
                "pace.parameter_ids",
                "empty; a card that offers PACE lists at least one (12 for NIST P-256)".into(),
            );
        }
        if let Some(id) = p
            .pace
            .parameter_ids
            .iter()
            .find(|id| crate::pace::Curve::from_parameter_id(**id).is_none())
        {
            return invalid(
                "pace.parameter_ids",
                format!("{id} is not one of 12, 13, 15, 16"),
            );
        }
        if p.pace.key_bits.is_empty() {
            return invalid(
                "pace.key_bits",
                "empty; a card that offers PACE lists at least one (128)".into(),
            );
        }
        if let Some(b) = p
            .pace
            .key_bits
            .iter()
            .find(|b| crate::pace::KeyLength::from_bits(**b).is_none())
        {
            return invalid("pace.key_bits", format!("{b} is not one of 128, 192, 256"));
        }
    }
    if p.sim.eeprom_page_size == 0 {
        return invalid(
            "sim.eeprom_page_size",
            "0 bytes; a page holds at least one byte".into(),
        );
    }
    if p.sim.link_bit_rate == 0 {
        return invalid(
            "sim.link_bit_rate",
            "0 bit/s; the link must move bits".into(),
        );
    }
    if p.filesystem.max_file_size > 0xFFFF {
        return invalid(
            "filesystem.max_file_size",
            format!(
                "{} is over the 65535 bytes tag 80 carries here",
                p.filesystem.max_file_size
            ),
        );
    }
    if p.read.large_offsets == LargeOffsets::None && p.filesystem.max_file_size > 0x8000 {
        return invalid(
            "filesystem.max_file_size",
            format!(
                "{} needs offsets over 32767 but read.large_offsets is \"none\"",
                p.filesystem.max_file_size
            ),
        );
    }
    if p.atr.is_empty() {
        return invalid(
            "atr",
            "no ATR pattern; the profile could never be selected".into(),
        );
    }
    Ok(())
}
