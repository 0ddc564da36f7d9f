//! `ecard checkpoint serve` with a simulated card: the screen says VALID on green for a good card
//! and NOT VALID on red for a revoked one, both in the served HTML and, with ECARD_BROWSER_TESTS=1,
//! in a headless Chromium screenshot (kept under target/checkpoint-screenshots/ for a look).
//! Without a status list it is amber, "revocation not checked", never green (issue 13), and a
//! fetched list older than the one held is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod checkpoint_common;
mod demo_common;

use checkpoint_common::{TOKEN, enter_can, get, screen_in, serve, verdict};
use demo_common::Demo;

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
    let proxy = token_proxy();
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
        // The screen needs its token: a proxy in this test adds it, as a signed-in browser's
        // cookie would (a token never goes in a URL).
        .arg(format!("--proxy-server=http://{proxy}"))
        .arg("--proxy-bypass-list=<-loopback>")
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

/// A plain HTTP proxy on a free local port that forwards each request with the checkpoint token
/// added (`Authorization: Bearer`), one request a connection. Returns its address.
fn token_proxy() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let mut lines = head.split("\r\n");
                let first = lines.next().unwrap_or_default();
                let mut parts = first.splitn(3, ' ');
                let (method, target, version) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                let rest = target.strip_prefix("http://").unwrap_or(target);
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let Ok(mut server) = TcpStream::connect(host) else {
                    return;
                };
                let mut out = format!(
                    "{method} {} {version}\r\n",
                    if path.is_empty() { "/" } else { path }
                );
                for l in lines.filter(|l| !l.is_empty()) {
                    let lower = l.to_ascii_lowercase();
                    if !lower.starts_with("connection:") && !lower.starts_with("proxy-connection:")
                    {
                        out.push_str(l);
                        out.push_str("\r\n");
                    }
                }
                out.push_str(&format!(
                    "Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
                ));
                if server.write_all(out.as_bytes()).is_err() {
                    return;
                }
                let mut response = Vec::new();
                let _ = server.read_to_end(&mut response);
                let _ = client.write_all(&response);
            });
        }
    });
    addr
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

    // The chip is protected by PACE: the screen asks for the CAN printed on the card's front.
    let good = serve(&[
        "--sim",
        &p("cards/771000001/card.img"),
        "--trust",
        &p("pki/csca.pem"),
        "--status",
        &revoked,
    ]);
    let v = screen_in(&good.addr, "need_can");
    assert!(v["note"].as_str().unwrap().contains("CAN"), "{v}");
    assert!(get(&good.addr, "/").contains("id=\"canform\""));
    let wrong = if demo.can(1) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(enter_can(&good.addr, wrong), 200);
    let v = screen_in(&good.addr, "need_can");
    assert!(
        v["note"]
            .as_str()
            .unwrap()
            .contains("access denied: wrong CAN"),
        "{v}"
    );
    assert_eq!(enter_can(&good.addr, &demo.can(1)), 200);
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
        "--can",
        &demo.can(2),
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
        "--can",
        &demo.can(2),
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
        "--can",
        &demo.can(1),
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
    if let Some(png) = screenshot(&none.addr, "amber") {
        assert_eq!(band_rgb(&png), [0xd9, 0x8b, 0x00]);
    }

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
        "--can",
        &demo.can(2),
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
    drop(replayed);

    // The list held may come from --status: a fetched list older than that file's is refused too.
    let old_bytes = std::fs::read(&older).unwrap();
    let url = station([old_bytes.clone(), old_bytes]);
    let held = serve(&[
        "--sim",
        &p("cards/771000002/card.img"),
        "--can",
        &demo.can(2),
        "--trust",
        &p("pki/csca.pem"),
        "--ds",
        &p("pki/ds.pem"),
        "--status",
        &newer,
        "--status-url",
        &url,
        "--status-every",
        "1",
    ]);
    let start = Instant::now();
    loop {
        let v = verdict(&held.addr);
        let status = v["status"].as_str().unwrap_or_default().to_string();
        if status.contains("older than the one already held") {
            assert_eq!(v["verdict"], "red", "{v}");
            assert!(
                status.starts_with(&format!("status list from file {newer}, issued {later}, ")),
                "{status}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the older list was never refused: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
