//! `ecard checkpoint serve` with a simulated card: the screen says VALID on green for a good card
//! and NOT VALID on red for a revoked one, both in the served HTML and, with ECARD_BROWSER_TESTS=1,
//! in a headless Chromium screenshot (kept under target/checkpoint-screenshots/ for a look).
//! Without a status list it is amber, "revocation not checked", never green (issue 13), and a
//! fetched list older than the one held is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod demo_common;

use demo_common::Demo;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(["checkpoint", "serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("checkpoint screen on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    Server { child, addr }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default()
}

/// Waits until the screen shows a verdict and returns it.
fn verdict(addr: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let body = get(addr, "/api/screen");
        // The body may be chunked; the JSON object is the part between the outer braces.
        let json = body
            .find('{')
            .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
            .unwrap_or("{}");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        if v["state"] == "verdict" {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no verdict: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn screenshot(addr: &str, name: &str) -> Option<PathBuf> {
    if std::env::var("ECARD_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: browser screenshot (set ECARD_BROWSER_TESTS=1 to run headless Chromium)"
        );
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/checkpoint-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,800")
        .arg(format!("http://{addr}/"))
        .output()
        .expect("ECARD_BROWSER_TESTS=1 needs chromium (apt-get install -y chromium)");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("screenshot: {}", png.display());
    Some(png)
}

/// The colour at the top-left of the screenshot: the verdict band.
fn band_rgb(png: &Path) -> [u8; 3] {
    let img = image::open(png).unwrap().to_rgb8();
    img.get_pixel(10, 10).0
}

#[test]
fn checkpoint_screen_is_green_for_a_good_card_and_red_for_a_revoked_one() {
    let demo = Demo::new();
    let p = |rel: &str| demo.p(rel);
    let revoked = demo.sign_status("771000002\treplaced\t2026-11-20\n", "revoked", &[]);

    let good = serve(&[
        "--sim",
        &p("cards/771000001/card.img"),
        "--trust",
        &p("pki/csca.pem"),
        "--status",
        &revoked,
    ]);
    let v = verdict(&good.addr);
    assert_eq!(v["verdict"], "green", "{v}");
    let html = get(&good.addr, "/");
    assert!(html.contains("class=\"verdict green\""));
    assert!(html.contains(">VALID<"));
    assert!(html.contains("src=\"data:image/jpeg;base64,"));
    if let Some(png) = screenshot(&good.addr, "green") {
        assert_eq!(band_rgb(&png), [0x0a, 0x7d, 0x2c]);
    }

    let bad = serve(&[
        "--sim",
        &p("cards/771000002/card.img"),
        "--trust",
        &p("pki/csca.pem"),
        "--status",
        &revoked,
    ]);
    let v = verdict(&bad.addr);
    assert_eq!(v["verdict"], "red", "{v}");
    assert_eq!(
        v["problem"],
        "card not on the status list: the card is revoked on the status list: replaced since 2026-11-20"
    );
    let html = get(&bad.addr, "/");
    assert!(html.contains("class=\"verdict red\""));
    assert!(html.contains(">NOT VALID<"));
    assert!(html.contains("card not on the status list: the card is revoked on the status list: replaced since 2026-11-20"));
    if let Some(png) = screenshot(&bad.addr, "red") {
        assert_eq!(band_rgb(&png), [0xc0, 0x11, 0x1f]);
    }

    // The same revoked card, with the list fetched from a station URL instead of a file.
    let list = std::fs::read(&revoked).unwrap();
    let station = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/v1/status-list",
        station.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for conn in station.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/cose\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                list.len()
            );
            let _ = conn.write_all(&list);
        }
    });
    let fetched = serve(&[
        "--sim",
        &p("cards/771000002/card.img"),
        "--trust",
        &p("pki/csca.pem"),
        "--status-url",
        &url,
    ]);
    let start = Instant::now();
    loop {
        let v = verdict(&fetched.addr);
        if v["verdict"] == "red" {
            assert_eq!(
                v["problem"],
                "card not on the status list: the card is revoked on the status list: replaced since 2026-11-20"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "list never fetched: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A station stand-in serving `lists[0]` to the first request and `lists[1]` to every later one.
fn station(lists: [Vec<u8>; 2]) -> String {
    let station = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/v1/status-list",
        station.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for (n, conn) in station.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let list = &lists[n.min(1)];
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/cose\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                list.len()
            );
            let _ = conn.write_all(list);
        }
    });
    url
}

#[test]
fn checkpoint_is_amber_without_a_status_list_and_refuses_an_older_one() {
    let demo = Demo::new();
    let p = |rel: &str| demo.p(rel);

    // No --status, no --status-url: amber, and the screen says why.
    let none = serve(&[
        "--sim",
        &p("cards/771000001/card.img"),
        "--trust",
        &p("pki/csca.pem"),
    ]);
    let v = verdict(&none.addr);
    assert_eq!(v["verdict"], "amber", "{v}");
    assert_eq!(
        v["problem"],
        "status list: revocation not checked: no status list was given or fetched"
    );
    assert_eq!(
        v["status"],
        "revocation not checked: no status list configured (--status or --status-url)"
    );
    let html = get(&none.addr, "/");
    assert!(html.contains("class=\"verdict amber\""), "{html}");
    assert!(html.contains("revocation not checked"));

    // A station that serves a newer list revoking card 2, then an older one that does not: the
    // older one is refused and the card stays red.
    let older = demo.sign_status("", "older", &[]);
    let later = (time::OffsetDateTime::now_utc() + time::Duration::minutes(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let newer = demo.sign_status("771000002\tlost\t2026-11-20\n", "newer", &["--iat", &later]);
    let url = station([
        std::fs::read(&newer).unwrap(),
        std::fs::read(&older).unwrap(),
    ]);
    let replayed = serve(&[
        "--sim",
        &p("cards/771000002/card.img"),
        "--trust",
        &p("pki/csca.pem"),
        "--ds",
        &p("pki/ds.pem"),
        "--status-url",
        &url,
        "--status-every",
        "1",
    ]);
    let start = Instant::now();
    loop {
        let v = verdict(&replayed.addr);
        let status = v["status"].as_str().unwrap_or_default().to_string();
        if status.contains("older than the one already held") {
            assert_eq!(v["verdict"], "red", "{v}");
            assert!(
                status.starts_with(&format!("status list issued {later}, next update due ")),
                "{status}"
            );
            assert!(status.contains(", last fetched "), "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the older list was never refused: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
