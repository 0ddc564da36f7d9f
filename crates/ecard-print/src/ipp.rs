//! The `ipp://` printer: IPP/1.1 over HTTP (RFC 8010/8011) to CUPS or an IPP Everywhere printer.
//!
//! One card is one Print-Job with the two-page PDF and the job template attributes a card needs:
//! `media` ID-1 as a PWG custom size (`custom_85.6x53.98mm_85.6x53.98mm`), `sides`
//! `two-sided-long-edge`, and `orientation-requested` portrait, which for a PDF means "no rotation":
//! the pages are already laid out landscape on landscape media (checked against CUPS with cups-pdf:
//! `landscape` turns the card upside down). The driver then follows the job to a final state, so a
//! printer that runs out of cards mid-job is reported as such, and a job that will not print is
//! cancelled rather than left to print later, when the station has already moved on.
//!
//! Printer faults come from `printer-state` and `printer-state-reasons` (RFC 8011 §5.4.11-12,
//! PWG 5100.9): `media-empty`/`media-needed` → no cards, `marker-supply-empty`/`toner-empty` →
//! ribbon out, `media-jam` → jam, `door-open`/`cover-open` → cover open, `offline`, `shutdown`,
//! `paused`, a stopped printer or one not accepting jobs → offline; a refused connection is offline
//! too. Reasons with a `-warning` or `-report` suffix are not faults. Only `ipp://` and `http://`
//! are spoken (no TLS): CUPS on the station's own host.

use std::io::Cursor;
use std::time::{Duration, Instant};

use ::ipp::prelude::*;

use crate::{PrintError, PrintJob, PrintReceipt, Printer};

/// ID-1 as a PWG 5101.1 self-describing custom media name, landscape as the pages are.
pub const MEDIA: &str = "custom_85.6x53.98mm_85.6x53.98mm";
/// Both faces, the back turned over the long edge.
pub const SIDES: &str = "two-sided-long-edge";
/// `orientation-requested` portrait (3): print the landscape pages as they are.
pub const ORIENTATION: i32 = 3;
/// The user CUPS sees; the holder's name never goes into IPP attributes.
pub const USER: &str = "ecard-station";

/// A printer reached over IPP.
#[derive(Debug, Clone)]
pub struct IppPrinter {
    uri: String,
    parsed: Uri,
    /// How long to wait for a job to reach a final state.
    job_timeout: Duration,
    /// How often to ask.
    poll: Duration,
}

/// Job states (RFC 8011 §5.3.7).
const JOB_CANCELED: i32 = 7;
const JOB_ABORTED: i32 = 8;
const JOB_COMPLETED: i32 = 9;

impl IppPrinter {
    /// A printer at `uri` (`ipp://host[:port]/printers/queue` or `http://...`).
    pub fn new(uri: &str) -> Result<IppPrinter, PrintError> {
        let parsed: Uri = uri.parse().map_err(|e| PrintError::Protocol {
            printer: uri.to_string(),
            detail: format!("not a valid printer URI: {e}"),
        })?;
        Ok(IppPrinter {
            uri: uri.to_string(),
            parsed,
            job_timeout: Duration::from_secs(120),
            poll: Duration::from_millis(250),
        })
    }

    /// Sets how long [`Printer::print`] waits for the job to finish (default 120 s).
    pub fn with_job_timeout(mut self, t: Duration) -> IppPrinter {
        self.job_timeout = t;
        self
    }

    fn client(&self) -> IppClient {
        IppClient::builder(self.parsed.clone())
            .request_timeout(Duration::from_secs(30))
            .build()
    }

    fn send(&self, op: impl Into<IppRequestResponse>) -> Result<IppRequestResponse, PrintError> {
        self.client().send(op).map_err(|e| self.transport(e))
    }

    /// Transport failures: the printer is unreachable, which the operator sees as offline.
    fn transport(&self, e: IppError) -> PrintError {
        match e {
            IppError::ClientError(ureq::Error::StatusCode(404)) => PrintError::Offline {
                printer: self.uri.clone(),
                detail: "no such printer queue (HTTP 404)".into(),
            },
            IppError::ClientError(ureq::Error::StatusCode(code)) | IppError::RequestError(code) => {
                PrintError::Protocol {
                    printer: self.uri.clone(),
                    detail: format!("HTTP status {code}"),
                }
            }
            IppError::ParseError(p) => PrintError::Protocol {
                printer: self.uri.clone(),
                detail: format!("malformed IPP response: {p}"),
            },
            other => PrintError::Offline {
                printer: self.uri.clone(),
                detail: other.to_string(),
            },
        }
    }

    fn build_err(&self, e: impl std::fmt::Display) -> PrintError {
        PrintError::Protocol {
            printer: self.uri.clone(),
            detail: format!("cannot build the IPP request: {e}"),
        }
    }

    fn printer_status(&self) -> Result<PrinterStatus, PrintError> {
        let op = IppOperationBuilder::get_printer_attributes(self.parsed.clone())
            .attributes([
                "printer-state",
                "printer-state-reasons",
                "printer-is-accepting-jobs",
            ])
            .build()
            .map_err(|e| self.build_err(e))?;
        let resp = self.send(op)?;
        let status = resp.header().status_code();
        if status == StatusCode::ClientErrorNotFound {
            return Err(PrintError::Offline {
                printer: self.uri.clone(),
                detail: "no such printer queue (IPP client-error-not-found)".into(),
            });
        }
        if !status.is_success() {
            return Err(PrintError::Protocol {
                printer: self.uri.clone(),
                detail: format!("Get-Printer-Attributes answered {status:?}"),
            });
        }
        let group = resp
            .attributes()
            .groups_of(DelimiterTag::PrinterAttributes)
            .next();
        let get = |name: &str| group.and_then(|g| g.get(name)).map(|a| a.value().clone());
        Ok(PrinterStatus {
            state: match get("printer-state") {
                Some(IppValue::Enum(s)) => s,
                _ => 0,
            },
            reasons: get("printer-state-reasons")
                .map(keywords)
                .unwrap_or_default(),
            accepting: !matches!(
                get("printer-is-accepting-jobs"),
                Some(IppValue::Boolean(false))
            ),
        })
    }

    fn job_state(&self, job_id: i32) -> Result<(i32, Vec<String>), PrintError> {
        let op = IppOperationBuilder::get_job_attributes(self.parsed.clone(), job_id)
            .build()
            .map_err(|e| self.build_err(e))?;
        let resp = self.send(op)?;
        let group = resp
            .attributes()
            .groups_of(DelimiterTag::JobAttributes)
            .next();
        let get = |name: &str| group.and_then(|g| g.get(name)).map(|a| a.value().clone());
        let state = match get("job-state") {
            Some(IppValue::Enum(s)) => s,
            _ => {
                return Err(PrintError::Protocol {
                    printer: self.uri.clone(),
                    detail: format!("job {job_id} has no job-state"),
                });
            }
        };
        Ok((
            state,
            get("job-state-reasons").map(keywords).unwrap_or_default(),
        ))
    }

    /// Best effort: a job that cannot print now must not print later by surprise.
    fn cancel(&self, job_id: i32) {
        if let Ok(op) = IppOperationBuilder::cancel_job(self.parsed.clone(), job_id)
            .user_name(USER)
            .build()
        {
            let _ = self.send(op);
        }
    }
}

/// What the printer says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterStatus {
    /// `printer-state`: 3 idle, 4 processing, 5 stopped (0 when absent).
    pub state: i32,
    /// `printer-state-reasons` keywords.
    pub reasons: Vec<String>,
    /// `printer-is-accepting-jobs`.
    pub accepting: bool,
}

fn keywords(v: IppValue) -> Vec<String> {
    match v {
        IppValue::Array(a) => a.into_iter().map(|v| v.to_string()).collect(),
        other => vec![other.to_string()],
    }
}

/// Maps a printer's state to a fault, if it has one. Pure, so every mapping is tested without a
/// printer.
pub fn fault(printer: &str, s: &PrinterStatus) -> Result<(), PrintError> {
    let p = || printer.to_string();
    for raw in &s.reasons {
        // RFC 8011 §5.4.12: a `-report` or `-warning` suffix is informational; `-error` or none is not.
        if raw.ends_with("-warning") || raw.ends_with("-report") {
            continue;
        }
        let reason = raw.strip_suffix("-error").unwrap_or(raw);
        let r = || raw.clone();
        match reason {
            "media-empty" | "media-needed" | "input-tray-missing" => {
                return Err(PrintError::NoCards {
                    printer: p(),
                    reason: r(),
                });
            }
            "marker-supply-empty" | "toner-empty" | "marker-supply-missing" | "ribbon-empty" => {
                return Err(PrintError::RibbonOut {
                    printer: p(),
                    reason: r(),
                });
            }
            "media-jam" => {
                return Err(PrintError::Jammed {
                    printer: p(),
                    reason: r(),
                });
            }
            "door-open" | "cover-open" | "interlock-open" => {
                return Err(PrintError::CoverOpen {
                    printer: p(),
                    reason: r(),
                });
            }
            "offline" | "shutdown" | "paused" | "stopped" | "connecting-to-device" => {
                return Err(PrintError::Offline {
                    printer: p(),
                    detail: format!("printer-state-reasons {raw}"),
                });
            }
            _ => {}
        }
    }
    if s.state == PrinterState::Stopped as i32 {
        return Err(PrintError::Offline {
            printer: p(),
            detail: "printer-state stopped".into(),
        });
    }
    if !s.accepting {
        return Err(PrintError::Offline {
            printer: p(),
            detail: "printer-is-accepting-jobs false".into(),
        });
    }
    Ok(())
}

impl Printer for IppPrinter {
    fn name(&self) -> String {
        self.uri.clone()
    }

    fn ready(&mut self) -> Result<(), PrintError> {
        let s = self.printer_status()?;
        fault(&self.uri, &s)
    }

    fn print(&mut self, job: &PrintJob<'_>) -> Result<PrintReceipt, PrintError> {
        job.check()?;
        self.ready()?;
        let attrs = [
            IppValue::new_keyword(MEDIA).and_then(|v| IppAttribute::with_name("media", v)),
            IppValue::new_keyword(SIDES).and_then(|v| IppAttribute::with_name("sides", v)),
            IppAttribute::with_name("orientation-requested", IppValue::Enum(ORIENTATION)),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| self.build_err(e))?;
        let op = IppOperationBuilder::print_job(
            self.parsed.clone(),
            IppPayload::new(Cursor::new(job.pdf.to_vec())),
        )
        .user_name(USER)
        .job_title(format!(
            "ecard {} {}",
            job.job_id,
            job.document_number.mrz_form()
        ))
        .document_format("application/pdf")
        .attributes(attrs)
        .build()
        .map_err(|e| self.build_err(e))?;
        let resp = self.send(op)?;
        let status = resp.header().status_code();
        if !status.is_success() {
            // The printer may refuse because of a fault; report the fault when there is one.
            self.ready()?;
            return Err(PrintError::Rejected {
                printer: self.uri.clone(),
                job_id: job.job_id.to_string(),
                detail: format!("Print-Job answered {status:?}"),
            });
        }
        let job_ipp_id = resp
            .attributes()
            .groups_of(DelimiterTag::JobAttributes)
            .next()
            .and_then(|g| g.get("job-id"))
            .and_then(|a| match a.value() {
                IppValue::Integer(i) => Some(*i),
                _ => None,
            })
            .ok_or_else(|| PrintError::Protocol {
                printer: self.uri.clone(),
                detail: "Print-Job answer has no job-id".into(),
            })?;
        let started = Instant::now();
        loop {
            let (state, reasons) = self.job_state(job_ipp_id)?;
            match state {
                JOB_COMPLETED => {
                    return Ok(PrintReceipt {
                        printer: self.uri.clone(),
                        reference: format!("{}/jobs/{job_ipp_id}", self.uri),
                    });
                }
                JOB_ABORTED | JOB_CANCELED => {
                    self.ready()?;
                    return Err(PrintError::Rejected {
                        printer: self.uri.clone(),
                        job_id: job.job_id.to_string(),
                        detail: format!(
                            "IPP job {job_ipp_id} {} ({})",
                            if state == JOB_ABORTED {
                                "aborted"
                            } else {
                                "canceled"
                            },
                            reasons.join(", ")
                        ),
                    });
                }
                _ => {}
            }
            // Pending or processing: a printer fault now means this card will not come out.
            if let Err(e) = self.ready() {
                self.cancel(job_ipp_id);
                return Err(e);
            }
            if started.elapsed() > self.job_timeout {
                self.cancel(job_ipp_id);
                return Err(PrintError::Rejected {
                    printer: self.uri.clone(),
                    job_id: job.job_id.to_string(),
                    detail: format!(
                        "IPP job {job_ipp_id} not finished after {} s ({}); cancelled",
                        self.job_timeout.as_secs(),
                        reasons.join(", ")
                    ),
                });
            }
            std::thread::sleep(self.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: i32, reasons: &[&str], accepting: bool) -> PrinterStatus {
        PrinterStatus {
            state,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            accepting,
        }
    }

    #[test]
    fn printer_states_map_to_faults() {
        let f = |s: PrinterStatus| fault("ipp://h/printers/p", &s);
        assert!(f(status(3, &["none"], true)).is_ok());
        assert!(
            f(status(
                4,
                &["media-low-warning", "marker-supply-low-report"],
                true
            ))
            .is_ok()
        );
        assert!(matches!(
            f(status(5, &["media-empty-error"], true)),
            Err(PrintError::NoCards { reason, .. }) if reason == "media-empty-error"
        ));
        assert!(matches!(
            f(status(3, &["media-needed"], true)),
            Err(PrintError::NoCards { .. })
        ));
        assert!(matches!(
            f(status(5, &["marker-supply-empty-error"], true)),
            Err(PrintError::RibbonOut { .. })
        ));
        assert!(matches!(
            f(status(5, &["media-jam"], true)),
            Err(PrintError::Jammed { .. })
        ));
        assert!(matches!(
            f(status(5, &["door-open"], true)),
            Err(PrintError::CoverOpen { .. })
        ));
        assert!(matches!(
            f(status(5, &["offline-report", "offline"], true)),
            Err(PrintError::Offline { detail, .. }) if detail == "printer-state-reasons offline"
        ));
        assert!(matches!(
            f(status(5, &["none"], true)),
            Err(PrintError::Offline { detail, .. }) if detail == "printer-state stopped"
        ));
        assert!(matches!(
            f(status(3, &["none"], false)),
            Err(PrintError::Offline { detail, .. }) if detail == "printer-is-accepting-jobs false"
        ));
    }

    #[test]
    fn faults_read_as_operator_messages() {
        let e = fault(
            "ipp://h/printers/p",
            &status(5, &["media-empty-error"], true),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "printer ipp://h/printers/p has no blank cards (media-empty-error)"
        );
        assert!(e.is_printer_fault());
    }

    #[test]
    fn refused_connection_is_offline() {
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        let mut p = IppPrinter::new("ipp://127.0.0.1:9/printers/none").unwrap();
        let err = p.ready().unwrap_err();
        assert!(matches!(err, PrintError::Offline { .. }), "{err}");
    }
}
