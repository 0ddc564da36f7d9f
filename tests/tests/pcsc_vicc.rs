//! Interoperability with a card we did not write: vsmartcard's vicc (an independent ISO 7816-4
//! card in Python), started by the shared tool on vpcd port 35964 (`Virtual PCD 00 01`). With the
//! generic ISO 7816 profile `ecard` must create, write, read back and verify the LDS on it exactly
//! as on the simulator; vicc has no lock command, and the operator must be told so.
//!
//! Skipped (saying so) unless `ECARD_PCSC_TESTS=1`, and when the shared start script or the
//! vsmartcard-vpicc package is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ecard_system_tests::{
    pcsc_test, profile_atr, reader_state, run, s, sample, shared_dir, test_vpcd_port, wait_reader,
};

const SKIP: &str = "skipped: vicc not installed (../shared/tools/virtual-reader/start-virtual-reader.sh installs it)";

/// The shared tool folder, when the start script is there and vicc is installed.
/// The CAN the tests personalize their cards with (readers open the chip with it).
const CAN: &str = "864209";

fn vicc_tools() -> Option<PathBuf> {
    let tools = shared_dir()?.join("tools").join("virtual-reader");
    if !tools.join("start-virtual-reader.sh").is_file() {
        return None;
    }
    let installed = Command::new("dpkg")
        .args(["-s", "vsmartcard-vpicc"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("Status: install ok installed")
        });
    installed.then_some(tools)
}

/// vicc running in the test reader; stopped with the shared stop script when dropped (also on
/// panic), from the same private run dir, so exactly what was started is stopped.
struct Vicc {
    tools: PathBuf,
    run_dir: PathBuf,
    reader: String,
}

impl Vicc {
    fn script(&self, name: &str) -> std::process::Output {
        Command::new("bash")
            .arg(self.tools.join(name))
            .env("VSC_PORT", test_vpcd_port().to_string())
            .env("VSC_RUN_DIR", &self.run_dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
    }

    fn start(tools: PathBuf, run_dir: &Path, reader: &str) -> Vicc {
        let vicc = Vicc {
            tools,
            run_dir: run_dir.to_path_buf(),
            reader: reader.to_owned(),
        };
        let out = vicc.script("start-virtual-reader.sh");
        assert!(
            out.status.success(),
            "start-virtual-reader.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Err(st) = wait_reader(reader, true, Duration::from_secs(20)) {
            panic!("vicc did not appear in {reader:?}: {st:?}");
        }
        vicc
    }
}

impl Drop for Vicc {
    fn drop(&mut self) {
        let out = self.script("stop-virtual-reader.sh");
        if !out.status.success() {
            eprintln!(
                "stop-virtual-reader.sh failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = wait_reader(&self.reader, false, Duration::from_secs(5));
    }
}

#[test]
fn personalize_read_and_verify_the_vicc_card() {
    let Some(tools) = vicc_tools() else {
        // Even under ECARD_PCSC_TESTS=1: vicc is optional on a build machine, pcscd is not.
        eprintln!("{SKIP}");
        return;
    };
    let Some((_pcscd, reader)) = pcsc_test("personalize_read_and_verify_the_vicc_card") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["pki", "init", "--dir", "pki"]).assert_code(0);
    let vicc = Vicc::start(tools, &d.join("vicc-run"), &reader);

    // It is vicc in the reader, not our simulator.
    let st = reader_state(&vicc.reader).unwrap();
    assert!(st.card_present);
    assert_ne!(st.atr.as_deref(), Some(profile_atr("ecard-sim").as_str()));

    let r = run(
        d,
        &[
            "personalize",
            "--profile",
            "generic-iso7816",
            "--enrollment",
            s(&sample("wang.json")),
            "--pki",
            "pki",
            "--document-number",
            "771234573",
            "--reader",
            &reader,
        ],
    );
    r.assert_code(0)
        .assert_line("card 77 1234573 issued with profile generic-iso7816");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("  warning: card could not be locked")),
        "no warning that the card could not be locked: {r}"
    );

    let r = run(
        d,
        &["read", "--reader", &reader, "--can", CAN, "--out", "dump"],
    );
    r.assert_code(0);
    assert!(r.stdout.starts_with("read 7 files into dump ("), "{r}");
    let r = run(d, &["verify", "dump", "--trust", "pki/csca.pem"]);
    r.assert_code(0)
        .assert_line("card  IR 771234573 (RUS), holder WANG XIAOMING");
    assert_eq!(r.lines().last().copied(), Some("VALID"), "{r}");
    assert_eq!(r.checks("FAIL"), Vec::<&str>::new());

    let r = run(
        d,
        &[
            "check",
            "--reader",
            &reader,
            "--can",
            CAN,
            "--trust",
            "pki/csca.pem",
        ],
    );
    // No status list given: amber, revocation not checked (issue 13).
    r.assert_code(2);
    assert_eq!(
        r.lines().last().copied(),
        Some("AMBER: status list: revocation not checked: no status list was given or fetched"),
        "{r}"
    );
    drop(vicc);
    assert_eq!(
        reader_state(&reader).map(|s| s.card_present),
        Some(false),
        "vicc still in {reader:?} after the stop script"
    );
}
