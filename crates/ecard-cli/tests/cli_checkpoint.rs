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

/// The checkpoint token the tests' screens are started with (through the environment).
const TOKEN: &str = "test-checkpoint-token-0123456789abcdef";

fn serve(args: &[&str]) -> Server {
    serve_with(args, Some(TOKEN)).0
}

/// Starts a screen; `token` goes in ECARD_CHECKPOINT_TOKEN (none: the screen makes one). Returns
/// the server and the second line it printed (where the token is).
fn serve_with(args: &[&str], token: Option<&str>) -> (Server, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecard"));
    cmd.args(["checkpoint", "serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("ECARD_CHECKPOINT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(t) = token {
        cmd.env("ECARD_CHECKPOINT_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let addr = first
        .trim()
        .strip_prefix("checkpoint screen on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (Server { child, addr }, second.trim().to_string())
}

/// One raw HTTP/1.1 request: (status code, head, body).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before the whole body is read: a refused upload.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

fn get(addr: &str, path: &str) -> String {
    let bearer = format!("Bearer {TOKEN}");
    request(addr, "GET", path, &[("Authorization", &bearer)], b"").2
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

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&(!crc).to_be_bytes());
}

/// A PNG that declares `w`x`h` RGB pixels and carries none (IHDR, an empty IDAT): a few dozen
/// bytes that would need w*h*3 bytes to decode.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &[]);
    png
}

/// Issue 13 item 11: the screen needs the checkpoint token, takes changes only from its own
/// origin, and refuses an oversized card photo before decoding it.
#[test]
fn checkpoint_screen_needs_its_token_and_its_own_origin() {
    let demo = Demo::new();
    let p = |rel: &str| demo.p(rel);
    let args = [
        "--sim",
        &p("cards/771000001/card.img"),
        "--trust",
        &p("pki/csca.pem"),
    ];
    let (srv, token_line) = serve_with(&args, Some(TOKEN));
    assert_eq!(token_line, "checkpoint token: from $ECARD_CHECKPOINT_TOKEN");
    let a = srv.addr.as_str();
    verdict(a);
    let bearer = format!("Bearer {TOKEN}");
    let own = format!("http://{a}");

    // No token, a wrong one, or the token in the URL: refused.
    assert_eq!(request(a, "GET", "/api/screen", &[], b"").0, 401);
    let (code, head, _) = request(a, "GET", "/", &[], b"");
    assert_eq!(code, 303);
    assert!(
        head.to_ascii_lowercase().contains("location: /login"),
        "{head}"
    );
    assert_eq!(
        request(
            a,
            "GET",
            "/api/screen",
            &[("Authorization", "Bearer nope")],
            b""
        )
        .0,
        401
    );
    assert_eq!(
        request(a, "GET", &format!("/api/screen?token={TOKEN}"), &[], b"").0,
        401
    );
    assert_eq!(
        request(a, "GET", "/api/screen", &[("Authorization", &bearer)], b"").0,
        200
    );

    // State changes: another origin is refused even with the token; our own is taken.
    let evil = [
        ("Authorization", bearer.as_str()),
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(request(a, "POST", "/api/rescan", &evil, b"").0, 403);
    let ours = [("Authorization", bearer.as_str()), ("Origin", own.as_str())];
    assert_eq!(request(a, "POST", "/api/rescan", &ours, b"").0, 200);

    // A browser signs in with the token in a form body and gets a session cookie.
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", own.as_str()),
    ];
    assert_eq!(request(a, "POST", "/login", &form, b"token=wrong").0, 401);
    let (code, head, _) = request(
        a,
        "POST",
        "/login",
        &form,
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(code, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"));
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let (code, _, html) = request(a, "GET", "/", &[("Cookie", &cookie)], b"");
    assert_eq!(code, 200);
    assert!(html.contains("class=\"verdict "), "{html}");
    // A cookie POST must say where it comes from.
    assert_eq!(
        request(a, "POST", "/api/rescan", &[("Cookie", &cookie)], b"").0,
        403
    );
    assert_eq!(
        request(
            a,
            "POST",
            "/api/rescan",
            &[("Cookie", &cookie), ("Origin", &own)],
            b""
        )
        .0,
        200
    );

    // Uploads: over 20 megapixels by the header alone (a few dozen bytes), and over 10 MB.
    let (code, _, body) = request(a, "POST", "/api/seal", &ours, &png_header(6000, 4000));
    assert_eq!(code, 413, "{body}");
    assert_eq!(
        body,
        "the card photo is 6000x4000 px, over the 20-megapixel limit; take it at a lower resolution"
    );
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    assert_eq!(request(a, "POST", "/api/seal", &ours, &big).0, 413);
    let (code, _, body) = request(a, "POST", "/api/seal", &ours, b"not an image");
    assert_eq!(code, 422, "{body}");
    // A real card photo (the seal) is still taken.
    let seal = std::fs::read(demo.card(1, "seal.png")).unwrap();
    assert_eq!(request(a, "POST", "/api/seal", &ours, &seal).0, 200);
    drop(srv);

    // Without a token given, the screen makes one in a 0600 file and says where.
    let (srv, token_line) = serve_with(&args, None);
    let path = token_line
        .strip_prefix("checkpoint token: new, in ")
        .and_then(|l| l.split_once(" (mode 0600)"))
        .unwrap_or_else(|| panic!("unexpected token line {token_line:?}"))
        .0
        .to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let made = std::fs::read_to_string(&path).unwrap();
    let bearer = format!("Bearer {}", made.trim());
    assert_eq!(
        request(
            &srv.addr,
            "GET",
            "/api/screen",
            &[("Authorization", &bearer)],
            b""
        )
        .0,
        200
    );
    drop(srv);
    let _ = std::fs::remove_file(&path);

    // A token file others may read is refused.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ecard"))
            .args([
                "checkpoint",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token-file",
            ])
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("is readable by others (mode 644)"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
