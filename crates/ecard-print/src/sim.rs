//! The `sim` printer: takes a configurable time per card and prints nothing, so a station can be
//! run and measured without hardware. It must not write files or pretend to fail.

use std::time::Duration;

use crate::{PrintError, PrintJob, PrintReceipt, Printer};

/// A printer that only sleeps.
#[derive(Debug, Clone)]
pub struct SimPrinter {
    per_card: Duration,
    printed: u64,
}

impl SimPrinter {
    /// A simulator taking `per_card` for each card.
    pub fn new(per_card: Duration) -> SimPrinter {
        SimPrinter {
            per_card,
            printed: 0,
        }
    }

    /// Cards "printed" so far.
    pub fn printed(&self) -> u64 {
        self.printed
    }
}

impl Printer for SimPrinter {
    fn name(&self) -> String {
        format!("sim:{}ms", self.per_card.as_millis())
    }

    fn ready(&mut self) -> Result<(), PrintError> {
        Ok(())
    }

    fn print(&mut self, job: &PrintJob<'_>) -> Result<PrintReceipt, PrintError> {
        job.check()?;
        std::thread::sleep(self.per_card);
        self.printed += 1;
        Ok(PrintReceipt {
            printer: self.name(),
            reference: format!("sim card {}", self.printed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecard_model::DocumentNumber;

    #[test]
    fn counts_cards_and_checks_jobs() {
        let n = DocumentNumber::new(77, 1).unwrap();
        let mut p = SimPrinter::new(Duration::from_millis(1));
        let job = PrintJob {
            job_id: "j1",
            document_number: &n,
            front_png: b"",
            back_png: b"",
            pdf: b"",
        };
        assert_eq!(p.print(&job).unwrap().reference, "sim card 1");
        assert_eq!(p.print(&job).unwrap().reference, "sim card 2");
        assert_eq!(p.printed(), 2);
        assert_eq!(p.name(), "sim:1ms");
        let bad = PrintJob {
            job_id: "a/b",
            ..job
        };
        assert!(matches!(p.print(&bad), Err(PrintError::BadJob { .. })));
        assert_eq!(p.printed(), 2);
    }

    #[test]
    fn spec_opens_the_simulator() {
        let p = crate::PrinterSpec::parse("sim:1500ms")
            .unwrap()
            .open()
            .unwrap();
        assert_eq!(p.name(), "sim:1500ms");
    }
}
