//! The real printer stage: renders the card's face (the same holder, number, dates and MRZ as its
//! chip, and a QR seal signed by the station's Document Signer over the EF.DG2 read back from the
//! chip), prints it through an `ecard-print` driver (spool folder, IPP, simulator), then outputs
//! the card as [`super::SimPrinter`] does. It must not decide what is valid: the card was
//! verified before it got here; a printer fault is returned so the lane spoils the card.

use std::path::PathBuf;
use std::sync::Arc;

use ecard_face::{FaceData, Fonts, QrMatrix, Template};
use ecard_model::Holder;
use ecard_model::dates::{expiry_for, moscow_date};
use ecard_model::mrz::Td1;
use ecard_seal::{Seal, SealPayload};

use super::{EncodeJob, EncodedCard, PrintError, Printer, SimPrinter};
use crate::chip::{ISSUING_AUTHORITY, Pki};

/// Renders, prints through an `ecard-print` driver, and outputs the card.
pub struct FacePrinter {
    driver: Box<dyn ecard_print::Printer>,
    fonts: Arc<Fonts>,
    pki: Arc<Pki>,
    output: SimPrinter,
}

impl FacePrinter {
    /// A printer that renders with `fonts`, signs seals with `pki`'s DS, prints through `driver`
    /// and moves simulated cards to `output_dir` (`DATA_DIR/cards`).
    pub fn new(
        driver: Box<dyn ecard_print::Printer>,
        fonts: Arc<Fonts>,
        pki: Arc<Pki>,
        output_dir: PathBuf,
    ) -> FacePrinter {
        FacePrinter {
            driver,
            fonts,
            pki,
            output: SimPrinter {
                per_card: std::time::Duration::ZERO,
                output_dir,
            },
        }
    }

    fn failed(&self, job: &EncodeJob, reason: String) -> PrintError {
        PrintError::Failed {
            printer: self.driver.name(),
            job: job.job_id,
            reason,
        }
    }

    /// Renders the front, back and PDF of `job`'s card.
    fn render(
        &self,
        job: &EncodeJob,
        card: &EncodedCard,
    ) -> Result<ecard_face::RenderedFace, PrintError> {
        let fail = |r: String| self.failed(job, r);
        let holder = Holder::from_record(&job.record).map_err(|e| fail(e.to_string()))?;
        let issue = moscow_date(job.personalized_at);
        let expiry = expiry_for(issue);
        let td1 = Td1::for_card(&holder, &job.document_number, expiry);
        // The station takes images inline only (`Station::submit`), so the stored record keeps
        // the originals the face prints at full resolution.
        let original = |what: &str, r: &ecard_model::enrollment::ImageRef| match r.decode_base64() {
            Some(Ok(bytes)) => Ok(bytes),
            Some(Err(e)) => Err(fail(format!("stored {what}: {e}"))),
            None => Err(fail(format!(
                "the stored record has no inline {what}: the original is not kept"
            ))),
        };
        let photo = original("photo", &job.record.photo)?;
        let signature = original("signature", &job.record.signature)?;
        let dg2 = card
            .dg2
            .as_ref()
            .ok_or_else(|| fail("no EF.DG2 was read back from the card: cannot seal it".into()))?;
        let signing = self.pki.signing();
        let seal = Seal::sign(
            &SealPayload::for_card(&holder, &job.document_number, issue, expiry, &dg2.0),
            &signing.ds_key,
            &signing.ds,
        )
        .map_err(|e| fail(format!("cannot sign the QR seal: {e}")))?;
        let q = ecard_seal::encode_qr(&seal)
            .map_err(|e| fail(format!("cannot encode the QR seal: {e}")))?;
        let qr = QrMatrix {
            width: q.width,
            dark: q.dark,
        };
        let data = FaceData {
            holder: &holder,
            document_number: &job.document_number,
            date_of_issue: issue,
            date_of_expiry: expiry,
            issuing_authority: ISSUING_AUTHORITY,
            mrz: &td1.lines,
            photo: &photo,
            signature: &signature,
            qr: Some(&qr),
            can: card.can.as_ref().map(|c| c.0.as_str()),
        };
        // A face without its seal is not the card ECARD.md describes: no fallback here.
        ecard_face::render(&data, &Template::builtin(), &self.fonts)
            .map_err(|e| fail(format!("cannot render the face: {e}")))
    }
}

/// The lane status word of a printer fault (`GET /lanes` shows `fault: <word>`).
fn fault_kind(e: &ecard_print::PrintError) -> Option<&'static str> {
    use ecard_print::PrintError as E;
    Some(match e {
        E::Offline { .. } => "offline",
        E::NoCards { .. } => "no cards",
        E::RibbonOut { .. } => "ribbon out",
        E::Jammed { .. } => "jammed",
        E::CoverOpen { .. } => "cover open",
        _ => return None,
    })
}

impl Printer for FacePrinter {
    fn describe(&self) -> String {
        self.driver.name()
    }

    fn print(&mut self, job: &EncodeJob, card: &EncodedCard) -> Result<String, PrintError> {
        let face = self.render(job, card)?;
        let job_id = format!("job-{}", job.job_id);
        let print_job = ecard_print::PrintJob {
            job_id: &job_id,
            document_number: &job.document_number,
            front_png: &face.front_png,
            back_png: &face.back_png,
            pdf: &face.pdf,
        };
        if let Err(e) = self.driver.print(&print_job) {
            return Err(match fault_kind(&e) {
                Some(kind) => PrintError::Fault {
                    printer: self.driver.name(),
                    job: job.job_id,
                    fault: kind.into(),
                    reason: e.to_string(),
                },
                None => self.failed(job, e.to_string()),
            });
        }
        self.output.print(job, card)
    }
}
