//! The drivers: the only code in this crate that calls a [`Transport`]. They move bytes between
//! a sans-I/O machine and a transport, and add nothing else (quinn's `ConnectionDriver`).

use p256::PublicKey;

use super::error::PersoError;
use super::machine::Personalizer;
use super::report::{Action, PersoReport};
use crate::lds::LdsFiles;
use crate::transport::Transport;

/// Runs `perso` to the end over `transport`. `provide` is called once, with the chip's Active
/// Authentication key when there is one, and returns the LDS files to write (DG15 and EF.SOD
/// built by the caller).
pub fn run<F, E>(
    transport: &mut dyn Transport,
    mut perso: Personalizer,
    provide: F,
) -> Result<PersoReport, PersoError>
where
    F: FnOnce(Option<PublicKey>) -> Result<LdsFiles, E>,
    E: std::fmt::Display,
{
    let mut provide = Some(provide);
    loop {
        match perso.poll() {
            Action::Transmit(capdu) => match transport.transmit(&capdu) {
                Ok(rapdu) => perso.handle_response(&rapdu)?,
                Err(e) => return Err(perso.handle_transport_error(e)),
            },
            Action::NeedFiles { aa_public_key } => {
                let Some(f) = provide.take() else {
                    return Err(perso.fail_provide("files were asked for twice".into()));
                };
                let files = f(aa_public_key).map_err(|e| perso.fail_provide(e.to_string()))?;
                perso.provide_files(files)?;
            }
            Action::Finished => {
                return perso
                    .report()
                    .ok_or_else(|| perso.fail_provide("finished without a report".into()));
            }
            Action::Failed => {
                return Err(perso
                    .error()
                    .cloned()
                    .unwrap_or_else(|| perso.fail_provide("failed without an error".into())));
            }
        }
    }
}
