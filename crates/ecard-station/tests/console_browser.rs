//! The console in a real browser: headless Chromium driven by chromedriver over WebDriver (HTTP +
//! JSON, with ureq). Signs in through the form, submits the sample record through the upload
//! form, and waits (bounded) for its row to show `issued` without the page reloading; saves a
//! screenshot to `target/test-artifacts/console-issued.png`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install -y chromium chromium-driver`).
//! Runs only with `ECARD_BROWSER_TESTS=1`; otherwise it prints "skipped: ..." and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        call(
            &self.agent,
            method,
            &format!("{}/session/{}{path}", self.base, self.session),
            body,
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn script(&self, js: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    fn wait_for(&self, what: &str, js: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.script(js);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Value) -> Value {
    let resp = match method {
        "GET" => agent.get(url).call(),
        _ => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {url}: {status} {text}");
    v["value"].clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn console_signs_in_submits_and_watches_a_card_issued() {
    if std::env::var("ECARD_BROWSER_TESTS").as_deref() != Ok("1") {
        println!("skipped: set ECARD_BROWSER_TESTS=1 to run the headless Chromium test");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let station = rt.block_on(console_common::start());
    let work = tempfile::tempdir().unwrap();
    let record_file = work.path().join("MMC-2026-0000777.json");
    std::fs::write(&record_file, console_common::record("MMC-2026-0000777")).unwrap();

    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: apt-get install -y chromium chromium-driver");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while agent.get(&format!("{base}/status")).call().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = work.path().join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", format!("--user-data-dir={}", profile.display()),
                     "--window-size=1400,900"]
        }
    }}});
    let session = call(&agent, "POST", &format!("{base}/session"), caps);
    let mut d = Driver {
        child,
        base,
        agent,
        session: String::new(),
    };
    d.session = session["sessionId"].as_str().unwrap().to_string();

    d.cmd(
        "POST",
        "/url",
        json!({"url": format!("http://{}/", station.addr)}),
    );
    // Sign in through the form.
    let token = d.find("#token");
    d.cmd(
        "POST",
        &format!("/element/{token}/value"),
        json!({"text": station.admin}),
    );
    let button = d.find("#sign-in-form button");
    d.cmd("POST", &format!("/element/{button}/click"), json!({}));
    d.wait_for(
        "signed in and live",
        "return document.getElementById('live').textContent === 'live' && !document.getElementById('console').hidden",
        Duration::from_secs(20),
    );
    assert_eq!(
        d.script("return document.getElementById('who').textContent"),
        json!("admin (admin)")
    );
    // A mark in this page's window: it is gone if the page reloads.
    d.script("window.notReloaded = 'yes'; return null");

    // Submit the sample record through the upload form.
    let file = d.find("#record-file");
    d.cmd(
        "POST",
        &format!("/element/{file}/value"),
        json!({"text": record_file.display().to_string()}),
    );
    let send = d.find("#submit-form button");
    d.cmd("POST", &format!("/element/{send}/click"), json!({}));
    let accepted = d.wait_for(
        "submit answered",
        "const t = document.getElementById('submit-result').textContent; return t.startsWith('accepted') ? t : null",
        Duration::from_secs(30),
    );
    assert!(
        accepted
            .as_str()
            .unwrap()
            .starts_with("accepted as job 1 ("),
        "{accepted}"
    );

    // Its row reaches issued live.
    let row = "[...document.querySelectorAll('#jobs tbody tr')].find(r => r.cells[1].textContent === 'MMC-2026-0000777')";
    d.wait_for(
        "row shows issued",
        &format!(
            "const r = {row}; return r && r.dataset.state === 'issued' && r.cells[3].textContent"
        ),
        Duration::from_secs(90),
    );
    assert_eq!(d.script("return window.notReloaded || null"), json!("yes"));
    let number = d.script(&format!("return {row}.cells[3].textContent"));
    assert_eq!(number.as_str().unwrap().len(), 9, "{number}");
    assert!(number.as_str().unwrap().starts_with("77"), "{number}");

    // Open the detail: chip photo, passed verification, history; then the screenshot.
    let tr = d.find("#jobs tbody tr[data-job='1']");
    d.cmd("POST", &format!("/element/{tr}/click"), json!({}));
    d.wait_for(
        "detail with chip photo",
        "const i = document.querySelector('#detail-body img'); return !!(i && i.complete && i.naturalWidth > 0)",
        Duration::from_secs(20),
    );
    assert_eq!(
        d.script("return document.querySelector('#detail .verdict').textContent"),
        json!("passed")
    );
    assert_eq!(
        d.script("return document.querySelectorAll('#detail .history li').length"),
        json!(7)
    );
    assert_eq!(
        d.script("return [document.getElementById('retry').disabled, document.getElementById('void').disabled]"),
        json!([true, false])
    );
    let png = d.cmd("GET", "/screenshot", Value::Null);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap())
        .unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let out = artifacts().join("console-issued.png");
    std::fs::write(&out, &bytes).unwrap();
    println!("screenshot: {}", out.display());
    drop(d);
    rt.block_on(station.stop());
}
