//! The `spool:<dir>` printer, the default: each card becomes files in a folder that a print
//! operator (or a card printer's own hot folder) picks up.
//!
//! Per card, named by job id and card number (`<job>_<771234567>`): `-front.png`, `-back.png`,
//! `.pdf`, and last a `.json` job ticket naming them, so a watcher that waits for tickets never
//! sees half a card. Each file is written to a `.tmp` name and renamed into place. The ticket
//! holds no holder data: job id, card number, file names, sizes and the print settings.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{PrintError, PrintJob, PrintReceipt, Printer};

/// A printer that writes files.
#[derive(Debug, Clone)]
pub struct SpoolPrinter {
    dir: PathBuf,
}

/// The JSON job ticket, one per card.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Ticket {
    /// Ticket format version, 1.
    pub version: u32,
    /// The station's job id.
    pub job_id: String,
    /// Card number as printed, `77 1234567`.
    pub document_number: String,
    /// Front page file name (in the same folder).
    pub front_png: String,
    /// Back page file name.
    pub back_png: String,
    /// Two-page PDF file name.
    pub pdf: String,
    /// Card size, mm (ID-1).
    pub media_mm: [f32; 2],
    /// Raster resolution of the PNGs.
    pub dpi: u32,
    /// IPP `sides` keyword: the back is printed flipped on the long edge.
    pub sides: String,
}

impl SpoolPrinter {
    /// A spool printer writing into `dir` (created on first use).
    pub fn new(dir: PathBuf) -> SpoolPrinter {
        SpoolPrinter { dir }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> PrintError {
        PrintError::Io {
            printer: self.name(),
            path: path.to_path_buf(),
            source,
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), PrintError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| self.io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.io(&path, e))
    }
}

impl Printer for SpoolPrinter {
    fn name(&self) -> String {
        format!("spool:{}", self.dir.display())
    }

    fn ready(&mut self) -> Result<(), PrintError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let meta = std::fs::metadata(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        if meta.permissions().readonly() {
            return Err(self.io(
                &self.dir,
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, "folder is read-only"),
            ));
        }
        Ok(())
    }

    fn print(&mut self, job: &PrintJob<'_>) -> Result<PrintReceipt, PrintError> {
        job.check()?;
        self.ready()?;
        let stem = format!("{}_{}", job.job_id, job.document_number.mrz_form());
        let ticket = Ticket {
            version: 1,
            job_id: job.job_id.to_string(),
            document_number: job.document_number.to_string(),
            front_png: format!("{stem}-front.png"),
            back_png: format!("{stem}-back.png"),
            pdf: format!("{stem}.pdf"),
            media_mm: [85.60, 53.98],
            dpi: 300,
            sides: "two-sided-long-edge".into(),
        };
        self.write(&ticket.front_png, job.front_png)?;
        self.write(&ticket.back_png, job.back_png)?;
        self.write(&ticket.pdf, job.pdf)?;
        let json = serde_json::to_vec_pretty(&ticket).map_err(|e| PrintError::Protocol {
            printer: self.name(),
            detail: format!("ticket not serializable: {e}"),
        })?;
        let ticket_name = format!("{stem}.json");
        self.write(&ticket_name, &json)?;
        Ok(PrintReceipt {
            printer: self.name(),
            reference: self.dir.join(ticket_name).display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecard_model::DocumentNumber;

    #[test]
    fn writes_pages_pdf_and_ticket_last() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let mut p = SpoolPrinter::new(spool.clone());
        let n = DocumentNumber::new(77, 1234567).unwrap();
        let job = PrintJob {
            job_id: "4711",
            document_number: &n,
            front_png: b"front",
            back_png: b"back",
            pdf: b"%PDF-",
        };
        let r = p.print(&job).unwrap();
        assert_eq!(
            r.reference,
            spool.join("4711_771234567.json").display().to_string()
        );
        assert_eq!(
            std::fs::read(spool.join("4711_771234567-front.png")).unwrap(),
            b"front"
        );
        assert_eq!(
            std::fs::read(spool.join("4711_771234567-back.png")).unwrap(),
            b"back"
        );
        assert_eq!(
            std::fs::read(spool.join("4711_771234567.pdf")).unwrap(),
            b"%PDF-"
        );
        let t: Ticket =
            serde_json::from_slice(&std::fs::read(spool.join("4711_771234567.json")).unwrap())
                .unwrap();
        assert_eq!(t.document_number, "77 1234567");
        assert_eq!(t.pdf, "4711_771234567.pdf");
        assert_eq!(t.sides, "two-sided-long-edge");
        let mut names: Vec<_> = std::fs::read_dir(&spool)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "4711_771234567-back.png",
                "4711_771234567-front.png",
                "4711_771234567.json",
                "4711_771234567.pdf"
            ]
        );
    }

    #[test]
    fn unwritable_folder_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let mut p = SpoolPrinter::new(file.clone());
        let err = p.ready().unwrap_err();
        assert!(
            matches!(&err, PrintError::Io { path, .. } if path == &file),
            "{err}"
        );
    }
}
