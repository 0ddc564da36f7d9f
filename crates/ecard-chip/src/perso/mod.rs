//! Personalization: writing one card from blank to issued, as a sans-I/O state machine.
//!
//! [`Personalizer`] performs no I/O whatsoever, like quinn-proto's `Connection`: it never sees a
//! reader, a clock or a file. It turns a firmware [`Profile`](crate::profile::Profile) and the
//! caller's LDS files into C-APDUs and judges the R-APDUs. [`run`] is the only loop that touches a
//! [`Transport`](crate::transport::Transport).
//!
//! # The plan
//! 1. SELECT MF, then SELECT the application by AID: a card whose application exists (when the
//!    profile creates it), is locked, or already holds EF.COM is refused with
//!    [`NotBlank`] and left untouched ([`CardState::Blank`]);
//! 2. CREATE FILE of the application DF (FCP `62 {82 38, 83 FID, 84 AID, 8A}`);
//! 3. with Active Authentication: GENERATE ASYMMETRIC KEY PAIR, the answer `7F49 {86 point}`;
//! 4. [`Action::NeedFiles`]: the caller builds DG15 from that key, signs EF.SOD and calls
//!    [`Personalizer::provide_files`];
//! 5. for each file: CREATE FILE (`62 {80 size, 82 01, 83 FID, 88 SFI, 8A}`, size = content plus
//!    the profile's slack), then UPDATE BINARY in chunks of the largest APDU the profile and the
//!    link allow (odd INS D7 with DO 54 beyond offset 32767);
//! 6. READ BINARY of every file and a SHA-256 comparison with what was meant;
//! 7. lock (ACTIVATE FILE on the DF) and a test write that must now fail. A profile without a lock
//!    finishes with [`LockOutcome::NotLockable`] ("card could not be locked") rather than failing.
//!
//! The first failure stops the run with a sticky [`PersoError`] naming the step, the file, the
//! offset, the status word, and whether the card is still [`CardState::Blank`] or
//! [`CardState::Spoiled`].
//!
//! # Using a `Personalizer`
//! - getters: [`step`](Personalizer::step), [`file`](Personalizer::file),
//!   [`card_state`](Personalizer::card_state), [`stats`](Personalizer::stats),
//!   [`aa_public_key`](Personalizer::aa_public_key), [`error`](Personalizer::error),
//!   [`report`](Personalizer::report);
//! - inputs: [`handle_response`](Personalizer::handle_response) for each R-APDU,
//!   [`handle_transport_error`](Personalizer::handle_transport_error) when the link fails,
//!   [`provide_files`](Personalizer::provide_files) when asked;
//! - output: [`poll`](Personalizer::poll) (or [`next_command`](Personalizer::next_command)).
//!
//! Call `poll` first and after every input. On [`Action::Transmit`] send the bytes and feed the
//! answer to `handle_response` before polling again; on [`Action::NeedFiles`] call
//! `provide_files`; stop on [`Action::Finished`] or [`Action::Failed`].
//!
//! ```
//! use ecard_chip::lds::LdsFiles;
//! use ecard_chip::perso::{PersoError, PersoReport, Personalizer};
//! use ecard_chip::transport::Transport;
//!
//! // For a profile without a chip key the files can be given up front; otherwise use
//! // `perso::run`, which answers `Action::NeedFiles` through its closure.
//! fn write_card(
//!     transport: &mut dyn Transport,
//!     mut perso: Personalizer,
//!     files: LdsFiles,
//! ) -> Result<Option<PersoReport>, PersoError> {
//!     perso.provide_files(files)?;
//!     while let Some(cmd) = perso.next_command() {
//!         match transport.transmit(&cmd) {
//!             Ok(rsp) => perso.handle_response(&rsp)?,
//!             Err(e) => return Err(perso.handle_transport_error(e)),
//!         }
//!     }
//!     Ok(perso.report())
//! }
//! ```

mod error;
mod machine;
mod report;
mod run;

pub use error::{CardState, NotBlank, PersoError, PersoErrorKind, Step};
pub use machine::Personalizer;
pub use report::{Action, LockOutcome, PersoReport, PersoStats, WrittenFile};
pub use run::run;
