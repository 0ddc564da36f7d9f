//! `ecard station serve` over HTTPS (issue 16, ECARD.md section 12): a test CA and a server
//! certificate made here with the openssl command, a TLS round trip with curl that trusts only
//! that CA (and fails without it), and the refusal of plain HTTP on a non-loopback address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use ecard_system_tests::{ecard_bin, run};

/// ca.pem (a test CA) and server.pem / server.key for 127.0.0.1, signed by it.
fn test_ca(dir: &Path) {
    ecard_system_tests::test_ca(dir, "ca");
    ecard_system_tests::test_server_cert(dir, "ca", "IP:127.0.0.1,DNS:localhost");
}

fn curl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl missing")
}

#[test]
fn https_round_trip_with_a_test_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    test_ca(d);
    let mut child = Command::new(ecard_bin())
        .args([
            "station",
            "serve",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--tls-cert", "server.pem", "--tls-key", "server.key"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split(' ').next().map(str::to_owned);
            break;
        }
        said.push(line);
    }
    let Some(base) = base else {
        let _ = child.kill();
        panic!("the station did not start: {said:?}");
    };
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let url = format!("{base}/status-list");
    let ok = curl(
        d,
        &[
            "--cacert",
            "ca.pem",
            "-o",
            "list.cose",
            "-w",
            "%{http_code}",
            &url,
        ],
    );
    let token = std::fs::read_to_string(d.join("data/admin.token")).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let metrics = curl(
        d,
        &[
            "--cacert",
            "ca.pem",
            "-H",
            &auth,
            &format!("{base}/metrics"),
        ],
    );
    // The console's sign-in over HTTPS: its cookie is Secure.
    let session = curl(
        d,
        &[
            "--cacert",
            "ca.pem",
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-H",
            &auth,
            &format!("{base}/console/session"),
        ],
    );
    let untrusted = curl(d, &["-o", "/dev/null", &url]);
    let plain = curl(d, &["-o", "/dev/null", &url.replace("https://", "http://")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{ok:?}");
    assert!(!std::fs::read(d.join("list.cose")).unwrap().is_empty());
    // curl exit 60: the peer's certificate is not trusted without the test CA.
    assert_eq!(untrusted.status.code(), Some(60), "{untrusted:?}");
    assert!(
        !plain.status.success(),
        "plain HTTP answered on the TLS port"
    );
    let headers = String::from_utf8_lossy(&session.stdout).to_lowercase();
    let cookie = headers
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(
        cookie.contains("httponly") && cookie.contains("; secure"),
        "{headers}"
    );
    // The DS signing period (three months from now) as a gauge.
    let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
    let days: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ecard_ds_signing_days_left "))
        .unwrap_or_else(|| panic!("no DS gauge in {metrics}"))
        .parse()
        .unwrap();
    assert!((85..=92).contains(&days), "{days}");
    // The first start made the station's own token and said so.
    assert!(
        said.iter()
            .any(|l| l.starts_with("keys in a SoftHSM2 token made for this data directory")),
        "{said:?}"
    );
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "station",
            "serve",
            "--data-dir",
            "data",
            "--listen",
            "0.0.0.0:0",
        ],
    );
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("refusing plain HTTP on 0.0.0.0:0"), "{r}");
}
