//! Helpers for the system tests: find the `ecard` binary of this workspace, run it, and share the
//! one pcscd of the machine between tests.
//!
//! The binary is the one `cargo build --bin ecard` (or `cargo test --workspace`, which builds it for
//! the CLI crate's own tests) left in the target directory; these tests never build it themselves.
//! Nothing here knows the product's internals: the tests talk to `ecard` as an operator would,
//! through arguments, exit codes, printed lines and files.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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

/// Runs `ecard` with `args` in `dir` with extra environment variables (a token's
/// `SOFTHSM2_CONF`, `ECARD_PKCS11_PIN`).
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(ecard_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", ecard_bin().display()));
    Run::from_output(args, out)
}

/// One finished `ecard` run: exit code and both streams as text, kept together so that a failed
/// assertion can print everything the command said.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from_output(args: &[&str], out: Output) -> Run {
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, printing the whole run when it differs.
    ///
    /// # Panics
    /// When the exit code is not `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "unexpected exit code of {self}");
        self
    }

    /// The lines of standard output.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that standard output has exactly this line.
    ///
    /// # Panics
    /// When no line of standard output equals `line`.
    #[track_caller]
    pub fn assert_line(&self, line: &str) -> &Run {
        assert!(
            self.stdout.lines().any(|l| l == line),
            "no line {line:?} in the output of {self}"
        );
        self
    }

    /// The verification lines with this status word (`PASS`, `FAIL`, `WARN`, `SKIP`): the check
    /// names and their details, as `ecard verify` and `ecard check` print them.
    pub fn checks(&self, status: &str) -> Vec<&str> {
        let prefix = format!("{status}  ");
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
    }

    /// Asserts that exactly one check failed, that its line starts with `check` (the check's name),
    /// and that the last line is the `NOT VALID` verdict naming it.
    ///
    /// # Panics
    /// When the failing checks or the verdict differ.
    #[track_caller]
    pub fn assert_only_failure(&self, check: &str) -> &Run {
        let failed = self.checks("FAIL");
        assert_eq!(failed.len(), 1, "expected one FAIL line in {self}");
        assert!(
            failed[0] == check || failed[0].starts_with(&format!("{check}: ")),
            "expected the failing check {check:?}, got {:?} in {self}",
            failed[0]
        );
        // `verify` ends with `NOT VALID: <check>`, the checkpoint verdicts with `RED: <check>`.
        let last = self.stdout.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("NOT VALID: {check}"))
                || last.starts_with(&format!("RED: {check}")),
            "expected the verdict to name {check:?}, got {last:?} in {self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`ecard {}` (exit {:?})\n--- stdout\n{}--- stderr\n{}---",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `ecard` with `args` in `dir` and returns the run as text.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    Run::from_output(args, ecard(dir, args))
}

/// Starts `ecard` with `args` in `dir` without waiting for it, both streams piped.
pub fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(ecard_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", ecard_bin().display()))
}

/// Waits for a child started by [`spawn`] and returns its run.
///
/// # Panics
/// When waiting fails.
pub fn finish(args: &[&str], child: Child) -> Run {
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for `ecard {}`: {e}", args.join(" ")));
    Run::from_output(args, out)
}

/// A sample enrollment record of the repository, by file name (`karimov.json`,
/// `invalid/bad-mrz-and-replacement.json`).
pub fn sample(name: &str) -> PathBuf {
    workspace_root().join("samples").join(name)
}

/// The path as a `&str` for command lines (the temporary and workspace paths are UTF-8).
///
/// # Panics
/// When the path is not UTF-8.
pub fn s(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", p.display()))
}

/// The shared folder beside the checkout (design, vectors), when present.
pub fn shared_dir() -> Option<PathBuf> {
    let p = workspace_root().parent()?.join("shared");
    p.is_dir().then_some(p)
}

/// The shared ICAO LDS vectors (`../shared/vectors/icao-lds`), when present.
pub fn lds_vectors() -> Option<PathBuf> {
    let p = shared_dir()?.join("vectors").join("icao-lds");
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

/// The vpcd port the system tests insert their cards on: `$ECARD_VPCD_PORT`, default 35964, so
/// that the card `tools/virtual-reader.sh` keeps on 35963 is never touched.
pub fn test_vpcd_port() -> u16 {
    std::env::var("ECARD_VPCD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(35964)
}

/// The reader name vpcd gives the slot on `port`: 35963 is `Virtual PCD 00 00`, 35964 is
/// `Virtual PCD 00 01`.
pub fn vpcd_reader(port: u16) -> String {
    format!("Virtual PCD 00 {:02}", port.saturating_sub(35963))
}

/// One reader as `ecard readers --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderState {
    /// The reader's name.
    pub name: String,
    /// Whether a card is in it.
    pub card_present: bool,
    /// The card's ATR in hex, when a card is present.
    pub atr: Option<String>,
}

/// The readers `ecard readers --json` lists, or the failed run when it does not exit 0 (no
/// pcscd).
///
/// # Errors
/// The run, when `ecard readers --json` fails.
///
/// # Panics
/// When the output is not the documented JSON list.
pub fn readers() -> Result<Vec<ReaderState>, Run> {
    let r = run(&workspace_root(), &["readers", "--json"]);
    if r.code != Some(0) {
        return Err(r);
    }
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("readers --json is not JSON ({e}): {r}"));
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("readers --json is not a list: {r}"));
    Ok(list
        .iter()
        .map(|e| ReaderState {
            name: e["name"].as_str().unwrap_or_default().to_owned(),
            card_present: e["card_present"].as_bool().unwrap_or(false),
            atr: e["atr"].as_str().map(str::to_owned),
        })
        .collect())
}

/// The state of one reader, `None` when pcscd does not list it.
pub fn reader_state(name: &str) -> Option<ReaderState> {
    readers().ok()?.into_iter().find(|r| r.name == name)
}

/// Polls `ecard readers --json` until `reader` shows a card (`present`) or none, for at most
/// `timeout`; returns the last state seen.
///
/// # Errors
/// The last state seen (or `None`) when the timeout passed first.
pub fn wait_reader(
    reader: &str,
    present: bool,
    timeout: Duration,
) -> Result<ReaderState, Option<ReaderState>> {
    let start = Instant::now();
    loop {
        let st = reader_state(reader);
        if let Some(s) = &st
            && s.card_present == present
        {
            return Ok(s.clone());
        }
        if start.elapsed() >= timeout {
            return Err(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Decides whether a PC/SC test runs: `None` (after printing why) when it is to be skipped,
/// otherwise the pcscd lock and the test reader's name, with the reader checked empty.
///
/// # Panics
/// Under `ECARD_PCSC_TESTS=1` when pcscd is unreachable or the test reader is missing or holds a
/// card: the test must run and cannot.
pub fn pcsc_test(name: &str) -> Option<(MutexGuard<'static, ()>, String)> {
    if !pcsc_required() {
        eprintln!(
            "skipped: {name}: ECARD_PCSC_TESTS is not 1 (tools/test-all.sh runs the PC/SC tests)"
        );
        return None;
    }
    let guard = lock_pcscd();
    let reader = vpcd_reader(test_vpcd_port());
    match readers() {
        Err(r) => panic!("ECARD_PCSC_TESTS=1 but pcscd is unreachable: {r}"),
        Ok(list) => {
            assert!(
                list.iter().any(|r| r.name == reader),
                "ECARD_PCSC_TESTS=1 but pcscd has no reader {reader:?} (vpcd port {}): {list:?}",
                test_vpcd_port()
            );
        }
    }
    // A previous test's card may still be leaving: give pcscd a moment to see it go.
    if let Err(st) = wait_reader(&reader, false, Duration::from_secs(5)) {
        panic!("reader {reader:?} must be empty for {name}, but it is {st:?}");
    }
    Some((guard, reader))
}

/// A simulated card inserted into vpcd: an `ecard sim serve` child process, killed (SIGKILL) and
/// reaped when dropped, also when the test panics, so no process outlives a test.
#[derive(Debug)]
pub struct SimServe {
    child: Arc<Mutex<Option<Child>>>,
    /// The reader the card sits in.
    pub reader: String,
}

impl SimServe {
    /// Starts `ecard sim serve --port <port> --card <image>` (a blank ecard-sim card is created
    /// when the image does not exist) without waiting for the reader.
    pub fn start_no_wait(image: &Path, port: u16) -> SimServe {
        let port_s = port.to_string();
        let child = Command::new(ecard_bin())
            .args(["sim", "serve", "--port", &port_s, "--card", s(image)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ecard sim serve: {e}"));
        SimServe {
            child: Arc::new(Mutex::new(Some(child))),
            reader: vpcd_reader(port),
        }
    }

    /// Starts the card and waits (at most 10 s) until its reader shows it.
    ///
    /// # Panics
    /// When the reader does not show a card in time.
    pub fn start(image: &Path, port: u16) -> SimServe {
        let serve = SimServe::start_no_wait(image, port);
        if let Err(st) = wait_reader(&serve.reader, true, Duration::from_secs(10)) {
            panic!(
                "the card {} did not appear in {:?} within 10 s: {st:?}",
                image.display(),
                serve.reader
            );
        }
        serve
    }

    /// A handle that kills the card from another thread.
    pub fn killer(&self) -> Killer {
        Killer(Arc::clone(&self.child))
    }

    /// Pulls the card: SIGKILL, reap, and wait (at most 10 s) until the reader is empty.
    ///
    /// # Panics
    /// When the reader still shows a card after 10 s.
    pub fn kill(&self) {
        self.killer().kill();
        if let Err(st) = wait_reader(&self.reader, false, Duration::from_secs(10)) {
            panic!(
                "reader {:?} still shows a card 10 s after the kill: {st:?}",
                self.reader
            );
        }
    }
}

impl Drop for SimServe {
    fn drop(&mut self) {
        self.killer().kill();
        // Leave the reader empty for the next test; no panic in drop.
        let _ = wait_reader(&self.reader, false, Duration::from_secs(5));
    }
}

/// Kills an [`SimServe`]'s process (SIGKILL) and reaps it; doing it twice does nothing.
#[derive(Debug, Clone)]
pub struct Killer(Arc<Mutex<Option<Child>>>);

impl Killer {
    /// SIGKILL and reap; returns whether a process was killed by this call.
    pub fn kill(&self) -> bool {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.take() {
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                true
            }
            None => false,
        }
    }
}

/// The ATR pattern of a firmware profile in `firmware-profiles/<name>.toml`, as uppercase hex
/// without spaces (the form `ecard readers --json` prints).
///
/// # Panics
/// When the profile file or its `pattern = "..."` line is missing.
pub fn profile_atr(name: &str) -> String {
    let path = workspace_root()
        .join("firmware-profiles")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("pattern = \""))
        .unwrap_or_else(|| panic!("no ATR pattern in {}", path.display()));
    line.trim_end_matches('"')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// A fresh PostgreSQL schema `ecard_test_<random>` at `ECARD_TEST_PG_URL` (default the machine's
/// server, database `test`) for one test, dropped with this value.
pub struct PgSchema {
    /// Connection URL.
    pub url: String,
    /// The schema's name.
    pub schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = ecard_station::store::Store::drop_pg_schema(&self.url, &self.schema);
    }
}

/// A [`PgSchema`] made by opening a store in it; `None` (after printing "skipped: ...") when
/// PostgreSQL is unreachable, unless `ECARD_PG_TESTS=1` demands it (then the test fails).
///
/// # Panics
/// When PostgreSQL is unreachable and `ECARD_PG_TESTS=1`.
pub fn pg_schema() -> Option<PgSchema> {
    let url = std::env::var("ECARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("ecard_test_{:016x}", rand::random::<u64>());
    match ecard_station::store::Store::open_postgres(&url, &schema) {
        Ok(_) => Some(PgSchema { url, schema }),
        Err(e) => {
            assert!(
                std::env::var("ECARD_PG_TESTS").as_deref() != Ok("1"),
                "PostgreSQL at {url} is required (ECARD_PG_TESTS=1): {e}"
            );
            println!("skipped: PostgreSQL at {url} unreachable: {e}");
            None
        }
    }
}

/// Debian's SoftHSM2 module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of [`Hsm`]'s token.
pub const PIN: &str = "4711-0815";

/// A temporary folder with its own SoftHSM2 configuration and a token labelled "ecard".
pub struct Hsm {
    dir: tempfile::TempDir,
    /// Its `softhsm2.conf`, for `SOFTHSM2_CONF`.
    pub conf: String,
}

#[allow(clippy::unwrap_used, clippy::new_without_default)]
impl Hsm {
    /// Makes the folder, its configuration and the token (`softhsm2-util`).
    ///
    /// # Panics
    /// When SoftHSM2 is not installed.
    pub fn new() -> Hsm {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let conf = conf.to_str().unwrap().to_owned();
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", "ecard"])
            .args(["--pin", PIN, "--so-pin", "12345678"])
            .output()
            .expect("softhsm2-util missing: apt-get install softhsm2 (tools/install-deps.sh)");
        assert!(out.status.success(), "{out:?}");
        std::fs::write(dir.path().join("pin.txt"), PIN).unwrap();
        Hsm { dir, conf }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `ecard` in the folder with the token's configuration (and `pin` as
    /// `ECARD_PKCS11_PIN`).
    pub fn run(&self, args: &[&str], pin: Option<&str>) -> Run {
        let mut env = vec![("SOFTHSM2_CONF", self.conf.as_str())];
        if let Some(pin) = pin {
            env.push(("ECARD_PKCS11_PIN", pin));
        }
        run_env(self.path(), args, &env)
    }

    /// `ecard pki init` into `pki/`, keys in the token.
    ///
    /// # Panics
    /// When the command fails.
    pub fn init(&self) {
        self.run(
            &[
                "pki",
                "init",
                "--dir",
                "pki",
                "--pkcs11-module",
                SOFTHSM2_MODULE,
                "--token-label",
                "ecard",
                "--pin-file",
                "pin.txt",
            ],
            None,
        )
        .assert_code(0);
    }

    /// A new simulated card `card` personalized with the token's Document Signer.
    ///
    /// # Panics
    /// When the simulated card cannot be made.
    pub fn personalize(&self, card: &str, number: &str, pin: Option<&str>) -> Run {
        run(self.path(), &["sim", "new", card]).assert_code(0);
        self.run(
            &[
                "personalize",
                "--enrollment",
                s(&sample("karimov.json")),
                "--pki",
                "pki",
                "--document-number",
                number,
                "--sim",
                card,
                "--can",
                "102030",
            ],
            pin,
        )
    }

    /// Reads `card` back and verifies the dump with the existing verifier against the CSCA.
    ///
    /// # Panics
    /// When the card cannot be read.
    pub fn check(&self, card: &str) -> Run {
        let dump = format!("{card}.dump");
        run(
            self.path(),
            &["read", "--sim", card, "--can", "102030", "--out", &dump],
        )
        .assert_code(0);
        run(self.path(), &["verify", &dump, "--trust", "pki/csca.pem"])
    }
}

/// Runs the `openssl` command in `dir`; panics with its error output when it fails.
///
/// # Panics
/// When openssl is missing or fails.
#[allow(clippy::expect_used)]
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl missing: tools/install-deps.sh");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 test CA `name` (`name.pem`, `name.key`) in `dir`, valid two days.
pub fn test_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=ecard test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A TLS server certificate `server.pem` / `server.key` in `dir` for the subject alternative
/// names `san` (e.g. `DNS:localhost`), signed by the CA `ca` made by [`test_ca`].
///
/// # Panics
/// When openssl fails or the folder cannot be written.
#[allow(clippy::unwrap_used)]
pub fn test_server_cert(dir: &Path, ca: &str, san: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName = {san}\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}
