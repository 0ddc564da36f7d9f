//! The `spool:<dir>` printer, the default: each card becomes files in a folder that a print
//! operator (or a card printer's own hot folder) picks up.
//!
//! Per card, named by job id and card number (`<job>_<771234567>`): `-front.png`, `-back.png`,
//! `.pdf`, and last a `.json` job ticket naming them, so a watcher that waits for tickets never
//! sees half a card. Each file is written to a `.tmp` name and renamed into place. The ticket
//! holds no holder data: job id, card number, file names, sizes and the print settings.
//!
//! A station keeps personal data encrypted at rest ([`SpoolPrinter::sealed`]): the pages and the
//! PDF are then written sealed by the station's vault as `<name>.sealed` (the ticket names those
//! files and says `sealed: true`), and `ecard station unseal` opens one for the print bridge.
//! Files are created 0600 and the folder 0700.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{PrintError, PrintJob, PrintReceipt, Printer};

/// Seals a spool file's bytes, given the file's name (its context): the station's vault.
pub type Sealer = std::sync::Arc<dyn Fn(&str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// The suffix of a sealed spool file.
pub const SEALED_SUFFIX: &str = ".sealed";

/// A printer that writes files.
#[derive(Clone)]
pub struct SpoolPrinter {
    dir: PathBuf,
    sealer: Option<Sealer>,
}

impl std::fmt::Debug for SpoolPrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolPrinter")
            .field("dir", &self.dir)
            .field("sealed", &self.sealer.is_some())
            .finish()
    }
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
    /// The pages and PDF are sealed (`ecard station unseal` opens them).
    #[serde(default)]
    pub sealed: bool,
}

impl SpoolPrinter {
    /// A spool printer writing into `dir` (created on first use).
    pub fn new(dir: PathBuf) -> SpoolPrinter {
        SpoolPrinter { dir, sealer: None }
    }

    /// A spool printer whose pages and PDF are sealed by `sealer` (personal data at rest).
    pub fn sealed(dir: PathBuf, sealer: Sealer) -> SpoolPrinter {
        SpoolPrinter {
            dir,
            sealer: Some(sealer),
        }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> PrintError {
        PrintError::Io {
            printer: self.name(),
            path: path.to_path_buf(),
            source,
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), PrintError> {
        use std::io::Write;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| self.io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.io(&path, e))
    }

    /// Writes a page or the PDF, sealed when the printer seals; returns the file's name.
    fn write_page(&self, name: String, bytes: &[u8]) -> Result<String, PrintError> {
        match &self.sealer {
            None => {
                self.write(&name, bytes)?;
                Ok(name)
            }
            Some(seal) => {
                let name = format!("{name}{SEALED_SUFFIX}");
                let sealed = seal(&name, bytes).map_err(|reason| PrintError::Protocol {
                    printer: self.name(),
                    detail: format!("cannot seal {name}: {reason}"),
                })?;
                self.write(&name, &sealed)?;
                Ok(name)
            }
        }
    }
}

impl Printer for SpoolPrinter {
    fn name(&self) -> String {
        format!("spool:{}", self.dir.display())
    }

    fn ready(&mut self) -> Result<(), PrintError> {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            folder.mode(0o700);
        }
        folder
            .create(&self.dir)
            .map_err(|e| self.io(&self.dir, e))?;
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
            front_png: self.write_page(format!("{stem}-front.png"), job.front_png)?,
            back_png: self.write_page(format!("{stem}-back.png"), job.back_png)?,
            pdf: self.write_page(format!("{stem}.pdf"), job.pdf)?,
            media_mm: [85.60, 53.98],
            dpi: 300,
            sides: "two-sided-long-edge".into(),
            sealed: self.sealer.is_some(),
        };
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
    fn a_sealed_spool_writes_no_page_in_clear_and_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        // A stand-in for the station's vault that shows what it was given: the file's name
        // (the context) and the bytes, reversed. The station's own vault is tested with it.
        let seal: Sealer = std::sync::Arc::new(|name: &str, bytes: &[u8]| {
            let mut out = name.as_bytes().to_vec();
            out.extend(bytes.iter().rev());
            Ok(out)
        });
        let mut p = SpoolPrinter::sealed(spool.clone(), seal);
        let n = DocumentNumber::new(77, 1234567).unwrap();
        let job = PrintJob {
            job_id: "4711",
            document_number: &n,
            front_png: b"front",
            back_png: b"back",
            pdf: b"%PDF-",
        };
        p.print(&job).unwrap();
        let t: Ticket =
            serde_json::from_slice(&std::fs::read(spool.join("4711_771234567.json")).unwrap())
                .unwrap();
        assert!(t.sealed);
        assert_eq!(t.front_png, "4711_771234567-front.png.sealed");
        assert_eq!(
            std::fs::read(spool.join(&t.front_png)).unwrap(),
            b"4711_771234567-front.png.sealedtnorf"
        );
        assert!(!spool.join("4711_771234567-front.png").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&spool), 0o700);
            assert_eq!(mode(&spool.join(&t.pdf)), 0o600);
            assert_eq!(mode(&spool.join("4711_771234567.json")), 0o600);
        }
        // A sealer that fails stops the print with its reason; no ticket is written.
        let failing: Sealer = std::sync::Arc::new(|_: &str, _: &[u8]| Err("token gone".into()));
        let other = DocumentNumber::new(77, 7654321).unwrap();
        let e = SpoolPrinter::sealed(spool.clone(), failing)
            .print(&PrintJob {
                document_number: &other,
                ..job
            })
            .unwrap_err();
        assert!(e.to_string().contains("token gone"), "{e}");
        assert!(!spool.join("4711_777654321.json").exists());
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
