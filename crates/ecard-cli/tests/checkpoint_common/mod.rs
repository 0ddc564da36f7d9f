//! Shared by the checkpoint screen tests: start `ecard checkpoint serve` on a free port with the
//! test token, raw HTTP requests, and waiting for a verdict.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The checkpoint token the tests' screens are started with (through the environment).
pub const TOKEN: &str = "test-checkpoint-token-0123456789abcdef";

pub fn serve(args: &[&str]) -> Server {
    serve_with(args, Some(TOKEN)).0
}

/// Starts a screen; `token` goes in ECARD_CHECKPOINT_TOKEN (none: the screen makes one). Returns
/// the server and the second line it printed (where the token is).
pub fn serve_with(args: &[&str], token: Option<&str>) -> (Server, String) {
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
pub fn request(
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

pub fn get(addr: &str, path: &str) -> String {
    let bearer = format!("Bearer {TOKEN}");
    request(addr, "GET", path, &[("Authorization", &bearer)], b"").2
}

/// Waits until the screen is in `state` and returns it.
pub fn screen_in(addr: &str, state: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let body = get(addr, "/api/screen");
        let json = body
            .find('{')
            .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
            .unwrap_or("{}");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        if v["state"] == state {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never {state}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Types `can` into the screen, as the officer does (same origin, with the token).
pub fn enter_can(addr: &str, can: &str) -> u16 {
    let bearer = format!("Bearer {TOKEN}");
    let origin = format!("http://{addr}");
    request(
        addr,
        "POST",
        "/api/can",
        &[("Authorization", &bearer), ("Origin", &origin)],
        can.as_bytes(),
    )
    .0
}

/// Waits until the screen shows a verdict and returns it.
pub fn verdict(addr: &str) -> serde_json::Value {
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
