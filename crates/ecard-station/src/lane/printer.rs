//! The simulated printer: it takes the configured time per card and outputs a simulated card
//! image as `DATA_DIR/cards/<number>.img`. It renders nothing; [`super::FacePrinter`] renders and
//! prints the face, then outputs the card through this one.

use std::time::Duration;

use super::{EncodeJob, EncodedCard, PrintError, Printer};

/// The simulated printer: time only. When the card is a simulated
/// card image, it is moved to the output folder as `<document number>.img`.
pub struct SimPrinter {
    /// Time to print one card.
    pub per_card: Duration,
    /// Where finished cards go (`DATA_DIR/cards`).
    pub output_dir: std::path::PathBuf,
}

impl Printer for SimPrinter {
    fn describe(&self) -> String {
        format!("sim ({} ms per card)", self.per_card.as_millis())
    }

    fn print(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<String, PrintError> {
        if !self.per_card.is_zero() {
            std::thread::sleep(self.per_card);
        }
        let src = std::path::Path::new(&card.location);
        if !src.is_file() {
            // A PC/SC card is not a file: nothing to move.
            return Ok(card.location.clone());
        }
        let fail = |reason: String| PrintError::Failed {
            printer: "sim".into(),
            job: job.job_id,
            reason,
        };
        std::fs::create_dir_all(&self.output_dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", self.output_dir.display())))?;
        let dst = self
            .output_dir
            .join(format!("{}.img", job.document_number.mrz_form()));
        std::fs::rename(src, &dst).map_err(|e| {
            fail(format!(
                "cannot move {} to {}: {e}",
                src.display(),
                dst.display()
            ))
        })?;
        Ok(dst.display().to_string())
    }
}
