//! Personalization with the generic profile against a third-party card: vsmartcard's vicc
//! `iso7816` card, spoken to directly over the vpcd socket protocol (no pcscd needed, so nothing
//! shared on the machine is touched).
//!
//! The vicc is the patched one from `shared/tools/virtual-reader/start-virtual-reader.sh`
//! (Debian 12's packaging bugs fixed at run time). When vicc or the script is absent the test
//! prints "skipped: vicc not present" and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod perso_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use ecard_chip::lds::EfId;
use ecard_chip::perso::{self, CardState, LockOutcome, Personalizer};
use ecard_chip::profile::{Profile, select_profile};
use ecard_chip::read::{self, WriteProbe};
use ecard_chip::transport::{ApduLimits, Transport, TransportError};
use perso_common::synthetic_files;

const SCRIPT: &str = "/work/shared/tools/virtual-reader/start-virtual-reader.sh";
const PYTHON: &str = "/usr/bin/python3";
const VICC_LIB: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
const CRYPTODOME: &str = "/usr/lib/python3/dist-packages/Cryptodome";

/// The vpcd side of the socket: 2-byte big-endian length, then a 1-byte control code or an APDU.
struct Vpcd {
    stream: TcpStream,
    atr: Vec<u8>,
    child: Child,
}

impl Vpcd {
    fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        let mut buf = (msg.len() as u16).to_be_bytes().to_vec();
        buf.extend_from_slice(msg);
        self.stream.write_all(&buf)
    }

    fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn io_err(&self, e: std::io::Error) -> TransportError {
        TransportError::Unresponsive {
            reader: self.reader_name().to_owned(),
            detail: e.to_string(),
        }
    }
}

impl Drop for Vpcd {
    fn drop(&mut self) {
        // Only the vicc this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Transport for Vpcd {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.send(capdu).map_err(|e| self.io_err(e))?;
        self.recv().map_err(|e| self.io_err(e))
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.send(&[2]).map_err(|e| self.io_err(e))?;
        Ok(self.atr.clone())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn limits(&self) -> ApduLimits {
        ApduLimits::SHORT
    }

    fn reader_name(&self) -> &str {
        "vicc iso7816 (vpcd socket)"
    }
}

fn start_vicc(dir: &Path) -> Option<Vpcd> {
    let script = std::fs::read_to_string(SCRIPT).ok()?;
    if !Path::new(PYTHON).exists() || !Path::new(VICC_LIB).exists() {
        return None;
    }
    let start = script.find("<<'VICC_FIXED_EOF'\n")? + "<<'VICC_FIXED_EOF'\n".len();
    let len = script[start..].find("\nVICC_FIXED_EOF")?;
    let vicc = dir.join("vicc_fixed.py");
    std::fs::write(&vicc, &script[start..start + len]).unwrap();
    let shim = dir.join("pyshim");
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(CRYPTODOME, shim.join("Crypto")).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let child = Process::new(PYTHON)
        .arg(&vicc)
        .args(["-t", "iso7816", "-H", "127.0.0.1", "-P", &port.to_string()])
        .env("PYTHONPATH", format!("{VICC_LIB}:{}", shim.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    listener.set_nonblocking(true).unwrap();
    let mut stream = None;
    for _ in 0..150 {
        if let Ok((s, _)) = listener.accept() {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stream = stream.expect("vicc did not connect within 15 s");
    stream.set_nonblocking(false).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut v = Vpcd {
        stream,
        atr: Vec::new(),
        child,
    };
    v.send(&[1]).unwrap(); // power on
    v.send(&[4]).unwrap(); // ATR request
    v.atr = v.recv().unwrap();
    Some(v)
}

#[test]
fn generic_profile_personalizes_the_vicc_iso7816_card() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut vicc) = start_vicc(dir.path()) else {
        eprintln!("skipped: vicc not present");
        return;
    };
    // The generic profile is chosen by the vicc's ATR.
    let profiles = Profile::builtins().unwrap();
    let profile = select_profile(&profiles, vicc.atr()).unwrap().clone();
    assert_eq!(profile.name, "generic-iso7816");

    let files = synthetic_files(15_000, None);
    let p = Personalizer::new(&profile, vicc.limits());
    let report = perso::run(&mut vicc, p, |key| {
        assert!(key.is_none());
        Ok::<_, String>(files.clone())
    })
    .unwrap();
    assert_eq!(report.card, CardState::Issued);
    assert_eq!(report.lock, LockOutcome::NotLockable);
    assert_eq!(report.files.len(), files.len());

    let (read, _) = read::read_card(&mut vicc).unwrap();
    assert_eq!(read, files);
    // No lock on this card OS: the write probe is accepted (and changes nothing).
    assert_eq!(
        read::try_write_same_byte(&mut vicc, EfId::Dg1).unwrap(),
        WriteProbe::Accepted
    );
    // A second run finds the application and refuses the card untouched.
    let p = Personalizer::new(&profile, vicc.limits());
    let err = perso::run(&mut vicc, p, |_| Ok::<_, String>(files.clone())).unwrap_err();
    assert_eq!(err.card, CardState::Blank);
    assert_eq!(
        err.kind,
        perso::PersoErrorKind::NotBlank(perso::NotBlank::ApplicationExists)
    );
}
