//! Shared by the seal and checkpoint tests: the output of `ecard demo --cards 2` (PKI, cards
//! 771000001 and 771000002, status list) in a temporary folder, and status lists signed with its
//! PKI.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `ecard` from the workspace root.
pub fn ecard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

pub struct Demo {
    _tmp: tempfile::TempDir,
    out: PathBuf,
}

impl Demo {
    /// Runs `ecard demo --cards 2` into a new temporary folder.
    pub fn new() -> Demo {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("demo");
        let o = ecard(&["demo", "--cards", "2", "--out", out.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        Demo { _tmp: tmp, out }
    }

    /// A path in the demo's output.
    pub fn p(&self, rel: &str) -> String {
        self.out.join(rel).display().to_string()
    }

    /// A file of card `77100000{n}` (`card.img`, `seal.png`, …).
    pub fn card(&self, n: u32, file: &str) -> String {
        self.p(&format!("cards/77100000{n}/{file}"))
    }

    /// The CAN printed on card `77100000{n}` (the demo writes it beside the card).
    pub fn can(&self, n: u32) -> String {
        std::fs::read_to_string(self.card(n, "can.txt"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `ecard status sign` of the revocations `tsv`, written to `NAME.tsv`, into `NAME.cose`.
    pub fn run_status_sign(&self, tsv: &str, name: &str, extra: &[&str]) -> Output {
        let rev = self.p(&format!("{name}.tsv"));
        std::fs::write(&rev, tsv).unwrap();
        let out = self.p(&format!("{name}.cose"));
        let pki = self.p("pki");
        let mut args = vec![
            "status",
            "sign",
            "--revoked",
            &rev,
            "--pki",
            &pki,
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        ecard(&args)
    }

    /// [`Self::run_status_sign`] that must succeed; the signed list's path.
    pub fn sign_status(&self, tsv: &str, name: &str, extra: &[&str]) -> String {
        let o = self.run_status_sign(tsv, name, extra);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        self.p(&format!("{name}.cose"))
    }
}
