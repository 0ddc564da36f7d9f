//! Helpers for the system tests: find the `ecard` binary of this workspace, run it, and share the
//! one pcscd of the machine between tests.
//!
//! The binary is the one `cargo build --bin ecard` (or `cargo test --workspace`, which builds it for
//! the CLI crate's own tests) left in the target directory; these tests never build it themselves.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `ecard` binary: `$ECARD_BIN`, or `target/debug/ecard` under the target directory.
///
/// # Panics
/// When the binary is missing: the message says how to build it.
pub fn ecard_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ECARD_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug").join("ecard");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin ecard` first (tools/test-all.sh does)",
        bin.display()
    );
    bin
}

/// Runs `ecard` with `args` in `dir` and returns its output.
pub fn ecard(dir: &Path, args: &[&str]) -> Output {
    Command::new(ecard_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", ecard_bin().display()))
}

/// The shared folder beside the checkout (design, vectors), when present.
pub fn shared_dir() -> Option<PathBuf> {
    let p = workspace_root().parent()?.join("shared");
    p.is_dir().then_some(p)
}

static PCSCD: Mutex<()> = Mutex::new(());

/// Whether the PC/SC tests must run (`ECARD_PCSC_TESTS=1`, set by tools/test-all.sh). When not set
/// they print why they are skipped and return; when set, a missing pcscd is a failure.
pub fn pcsc_required() -> bool {
    std::env::var("ECARD_PCSC_TESTS").is_ok_and(|v| v == "1")
}

/// Holds the machine's one pcscd for the duration of a test: tests that use it run one at a time.
pub fn lock_pcscd() -> MutexGuard<'static, ()> {
    PCSCD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
