//! Card printers behind one trait: a spool folder (the default), IPP to CUPS, and a simulator that
//! only takes time.
//!
//! The station hands a rendered card ([`PrintJob`]: front and back PNG, the two-page PDF, job id
//! and card number) to whichever [`Printer`] the operator configured with a [`PrinterSpec`]
//! (`spool:/dir`, `ipp://localhost:631/printers/X`, `sim`, `sim:1500ms`). Printer faults are typed
//! ([`PrintError::NoCards`], [`PrintError::RibbonOut`], [`PrintError::Offline`], ...) so the
//! station can show them as lane states and tell the operator what to do.
//!
//! Drivers are blocking (the station calls them from `spawn_blocking`). They log nothing and never
//! see holder data other than the pixels they print; errors name the printer and the card number,
//! never a name.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod ipp;
pub mod sim;
pub mod spool;

use std::path::PathBuf;
use std::time::Duration;

use ecard_model::DocumentNumber;

/// A rendered card ready to print.
#[derive(Clone, Copy)]
pub struct PrintJob<'a> {
    /// The station's job id: `[A-Za-z0-9_-]`, at most 64 characters (it names spool files).
    pub job_id: &'a str,
    /// The card's series and number.
    pub document_number: &'a DocumentNumber,
    /// Front, PNG at 300 dpi.
    pub front_png: &'a [u8],
    /// Back, PNG at 300 dpi.
    pub back_png: &'a [u8],
    /// Both faces as a two-page PDF at true size (what IPP printers get).
    pub pdf: &'a [u8],
}

// The pages are personal data; Debug shows ids and sizes only.
impl std::fmt::Debug for PrintJob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrintJob")
            .field("job_id", &self.job_id)
            .field("document_number", &self.document_number.to_string())
            .field("pdf_bytes", &self.pdf.len())
            .finish_non_exhaustive()
    }
}

impl PrintJob<'_> {
    /// Checks the job id (it becomes part of file names and IPP job names).
    pub fn check(&self) -> Result<(), PrintError> {
        let ok = !self.job_id.is_empty()
            && self.job_id.len() <= 64
            && self
                .job_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(())
        } else {
            Err(PrintError::BadJob {
                problem: format!(
                    "job id {:?} must be 1-64 characters of A-Z, a-z, 0-9, '-' and '_'",
                    self.job_id
                ),
            })
        }
    }
}

/// What a printer did with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintReceipt {
    /// The printer, as its spec prints (`spool:/var/spool/ecard`).
    pub printer: String,
    /// Where the job went: the ticket path (spool), the IPP job URI or id, `sim`.
    pub reference: String,
}

/// A card printer.
pub trait Printer: Send {
    /// The printer as its spec prints, for messages.
    fn name(&self) -> String;

    /// Whether the printer can take a card now; a fault is the typed error it would fail with.
    fn ready(&mut self) -> Result<(), PrintError>;

    /// Prints one card (both faces) and returns when the printer has taken the job.
    fn print(&mut self, job: &PrintJob<'_>) -> Result<PrintReceipt, PrintError>;
}

/// Why a card was not printed. Variants other than `BadJob`, `Io` and `Protocol` are printer
/// states an operator can fix at the printer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// The printer cannot be reached or is stopped.
    #[error("printer {printer} is offline: {detail}")]
    Offline {
        /// The printer.
        printer: String,
        /// What was seen (`connection refused`, `printer-state stopped`, ...).
        detail: String,
    },
    /// The card hopper is empty.
    #[error("printer {printer} has no blank cards ({reason})")]
    NoCards {
        /// The printer.
        printer: String,
        /// The printer's own reason keyword.
        reason: String,
    },
    /// The ribbon (or other marker supply) is used up.
    #[error("printer {printer} has no ribbon left ({reason})")]
    RibbonOut {
        /// The printer.
        printer: String,
        /// The printer's own reason keyword.
        reason: String,
    },
    /// A card is stuck in the printer.
    #[error("printer {printer} has a card jam ({reason})")]
    Jammed {
        /// The printer.
        printer: String,
        /// The printer's own reason keyword.
        reason: String,
    },
    /// A door or cover is open.
    #[error("printer {printer} has a cover open ({reason})")]
    CoverOpen {
        /// The printer.
        printer: String,
        /// The printer's own reason keyword.
        reason: String,
    },
    /// The printer refused or aborted the job.
    #[error("printer {printer} refused job {job_id}: {detail}")]
    Rejected {
        /// The printer.
        printer: String,
        /// The job.
        job_id: String,
        /// The IPP status or job state reason.
        detail: String,
    },
    /// The job itself is malformed (a caller bug).
    #[error("print job refused before printing: {problem}")]
    BadJob {
        /// What is wrong.
        problem: String,
    },
    /// Writing the spool folder failed.
    #[error("printer {printer}: cannot write {path}: {source}")]
    Io {
        /// The printer.
        printer: String,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The printer answered something the driver does not understand.
    #[error("printer {printer} answered unexpectedly: {detail}")]
    Protocol {
        /// The printer.
        printer: String,
        /// What was wrong.
        detail: String,
    },
}

impl PrintError {
    /// Whether an operator can clear the fault at the printer and retry the same card.
    pub fn is_printer_fault(&self) -> bool {
        matches!(
            self,
            PrintError::Offline { .. }
                | PrintError::NoCards { .. }
                | PrintError::RibbonOut { .. }
                | PrintError::Jammed { .. }
                | PrintError::CoverOpen { .. }
        )
    }
}

/// Which printer to use, as written in station.toml or on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrinterSpec {
    /// `spool:<dir>`: PNG, PDF and a JSON ticket per card in a folder.
    Spool {
        /// The folder.
        dir: PathBuf,
    },
    /// `ipp://host[:port]/printers/<queue>` (or `ipp:` followed by an `ipp://` or `http://` URI).
    Ipp {
        /// The printer URI.
        uri: String,
    },
    /// `sim` or `sim:<n>ms` / `sim:<n>s`: takes the time and prints nothing.
    Sim {
        /// Time per card.
        per_card: Duration,
    },
}

/// Time per card of `sim` without a duration: about a duplex card printer's pace for small batches.
pub const DEFAULT_SIM_TIME: Duration = Duration::from_millis(1500);

/// Default spool folder, relative to the station's working directory.
pub const DEFAULT_SPOOL_DIR: &str = "print-spool";

impl Default for PrinterSpec {
    fn default() -> Self {
        PrinterSpec::Spool {
            dir: DEFAULT_SPOOL_DIR.into(),
        }
    }
}

/// A printer spec that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "printer {spec:?}: {problem}; expected spool:<dir>, ipp://<host>[:port]/printers/<queue>, sim or sim:<n>ms"
)]
pub struct SpecError {
    /// The text given.
    pub spec: String,
    /// What is wrong.
    pub problem: String,
}

impl PrinterSpec {
    /// Parses `spool:/dir`, `ipp://localhost:631/printers/X`, `ipp:http://host:631/printers/X`,
    /// `sim`, `sim:1500ms` or `sim:2s`.
    pub fn parse(s: &str) -> Result<PrinterSpec, SpecError> {
        let err = |problem: &str| SpecError {
            spec: s.to_string(),
            problem: problem.to_string(),
        };
        if let Some(dir) = s.strip_prefix("spool:") {
            if dir.is_empty() {
                return Err(err("the spool folder is empty"));
            }
            return Ok(PrinterSpec::Spool { dir: dir.into() });
        }
        if s.starts_with("ipp://") || s.starts_with("ipp:") || s.starts_with("ipps://") {
            let uri = if s.starts_with("ipp://") || s.starts_with("ipps://") {
                s
            } else {
                &s["ipp:".len()..]
            };
            if uri.starts_with("ipps://") || uri.starts_with("https://") {
                return Err(err(
                    "ipps/https is not supported: this build speaks IPP over plain HTTP to a local CUPS",
                ));
            }
            let rest = uri
                .strip_prefix("ipp://")
                .or_else(|| uri.strip_prefix("http://"))
                .ok_or_else(|| err("the IPP URI must start with ipp:// or http://"))?;
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            if host.is_empty() || path.is_empty() {
                return Err(err("the IPP URI needs a host and a printer path"));
            }
            if uri.parse::<::ipp::prelude::Uri>().is_err() {
                return Err(err("the IPP URI is not a valid URI"));
            }
            return Ok(PrinterSpec::Ipp {
                uri: uri.to_string(),
            });
        }
        if s == "sim" {
            return Ok(PrinterSpec::Sim {
                per_card: DEFAULT_SIM_TIME,
            });
        }
        if let Some(t) = s.strip_prefix("sim:") {
            let (digits, unit) = if let Some(n) = t.strip_suffix("ms") {
                (n, 1)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1000)
            } else {
                return Err(err("the simulator time needs a unit, ms or s"));
            };
            let n: u64 = digits
                .parse()
                .map_err(|_| err("the simulator time is not a whole number"))?;
            let ms = n
                .checked_mul(unit)
                .filter(|ms| *ms <= 3_600_000)
                .ok_or_else(|| err("the simulator time is over an hour"))?;
            return Ok(PrinterSpec::Sim {
                per_card: Duration::from_millis(ms),
            });
        }
        Err(err("unknown printer kind"))
    }

    /// Opens the printer. Opening checks nothing remote: call [`Printer::ready`] for that.
    pub fn open(&self) -> Result<Box<dyn Printer>, PrintError> {
        Ok(match self {
            PrinterSpec::Spool { dir } => Box::new(spool::SpoolPrinter::new(dir.clone())),
            PrinterSpec::Ipp { uri } => Box::new(ipp::IppPrinter::new(uri)?),
            PrinterSpec::Sim { per_card } => Box::new(sim::SimPrinter::new(*per_card)),
        })
    }
}

impl std::fmt::Display for PrinterSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrinterSpec::Spool { dir } => write!(f, "spool:{}", dir.display()),
            PrinterSpec::Ipp { uri } if uri.starts_with("ipp://") => f.write_str(uri),
            PrinterSpec::Ipp { uri } => write!(f, "ipp:{uri}"),
            PrinterSpec::Sim { per_card } => write!(f, "sim:{}ms", per_card.as_millis()),
        }
    }
}

impl std::str::FromStr for PrinterSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PrinterSpec::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            PrinterSpec::parse("spool:/var/spool/ecard").unwrap(),
            PrinterSpec::Spool {
                dir: "/var/spool/ecard".into()
            }
        );
        assert_eq!(
            PrinterSpec::parse("ipp://localhost:631/printers/X").unwrap(),
            PrinterSpec::Ipp {
                uri: "ipp://localhost:631/printers/X".into()
            }
        );
        assert_eq!(
            PrinterSpec::parse("ipp:http://localhost:631/printers/X").unwrap(),
            PrinterSpec::Ipp {
                uri: "http://localhost:631/printers/X".into()
            }
        );
        assert_eq!(
            PrinterSpec::parse("sim").unwrap(),
            PrinterSpec::Sim {
                per_card: Duration::from_millis(1500)
            }
        );
        assert_eq!(
            PrinterSpec::parse("sim:250ms").unwrap(),
            PrinterSpec::Sim {
                per_card: Duration::from_millis(250)
            }
        );
        assert_eq!(
            PrinterSpec::parse("sim:2s").unwrap(),
            PrinterSpec::Sim {
                per_card: Duration::from_secs(2)
            }
        );
        assert_eq!(PrinterSpec::default().to_string(), "spool:print-spool");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "spool:/tmp/x",
            "ipp://localhost:631/printers/X",
            "ipp:http://h:631/printers/Y",
            "sim:1500ms",
        ] {
            let spec = PrinterSpec::parse(s).unwrap();
            assert_eq!(PrinterSpec::parse(&spec.to_string()).unwrap(), spec);
            assert_eq!(spec.to_string(), s);
        }
    }

    #[test]
    fn bad_specs_say_why() {
        let e = |s: &str| PrinterSpec::parse(s).unwrap_err().problem;
        assert_eq!(e("spool:"), "the spool folder is empty");
        assert_eq!(e("sim:15"), "the simulator time needs a unit, ms or s");
        assert_eq!(e("sim:fast"), "the simulator time needs a unit, ms or s");
        assert_eq!(e("sim:xms"), "the simulator time is not a whole number");
        assert_eq!(e("sim:99999999999s"), "the simulator time is over an hour");
        assert_eq!(
            e("ipp://localhost:631"),
            "the IPP URI needs a host and a printer path"
        );
        assert!(e("ipps://h/printers/x").starts_with("ipps/https is not supported"));
        assert_eq!(e("lp:foo"), "unknown printer kind");
        assert_eq!(
            PrinterSpec::parse("lp:foo").unwrap_err().to_string(),
            "printer \"lp:foo\": unknown printer kind; expected spool:<dir>, \
             ipp://<host>[:port]/printers/<queue>, sim or sim:<n>ms"
        );
    }

    #[test]
    fn job_ids_are_checked() {
        let n = DocumentNumber::new(77, 1).unwrap();
        let job = |id| PrintJob {
            job_id: id,
            document_number: &n,
            front_png: b"",
            back_png: b"",
            pdf: b"",
        };
        assert!(job("job-4711_a").check().is_ok());
        for bad in ["", "../etc", "a b", &"x".repeat(65)] {
            assert!(
                matches!(job(bad).check(), Err(PrintError::BadJob { .. })),
                "{bad}"
            );
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn spec() -> impl Strategy<Value = PrinterSpec> {
            prop_oneof![
                "[a-zA-Z0-9_./-]{1,40}".prop_map(|d| PrinterSpec::Spool { dir: d.into() }),
                ("[a-z0-9.-]{1,20}", 1u16..65535, "[a-zA-Z0-9_-]{1,20}").prop_map(|(h, p, q)| {
                    PrinterSpec::Ipp {
                        uri: format!("ipp://{h}:{p}/printers/{q}"),
                    }
                }),
                (0u64..3_600_000).prop_map(|ms| PrinterSpec::Sim {
                    per_card: Duration::from_millis(ms)
                }),
            ]
        }

        proptest! {
            #[test]
            fn display_then_parse_is_identity(s in spec()) {
                prop_assert_eq!(PrinterSpec::parse(&s.to_string()).unwrap(), s);
            }

            #[test]
            fn parsing_anything_never_panics(s in "\\PC{0,80}") {
                let _ = PrinterSpec::parse(&s);
            }

            #[test]
            fn parsing_prefixed_garbage_never_panics(
                p in prop::sample::select(vec!["spool:", "ipp:", "ipp://", "sim:", "sim", "ipp:http://"]),
                s in "\\PC{0,40}",
            ) {
                let _ = PrinterSpec::parse(&format!("{p}{s}"));
            }
        }
    }
}
