//! Shared by the phone checkpoint tests and the benchmark: file-key PKIs made by `ecard pki init`,
//! seals and status lists signed with them through `ecard_seal`, QR and y4m images, and a small
//! WebDriver client that drives headless Chromium through chromedriver (plain HTTP and JSON).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use ecard_chip::pki::SoftwareSigner;
use ecard_seal::{Seal, SealPayload, StatusList, StatusListPayload};
use serde_json::{Value, json};
use x509_cert::Certificate;

use super::checkpoint_common::request;

/// Whether the browser tests run (test-all sets ECARD_BROWSER_TESTS=1); prints the skip otherwise.
pub fn browser_tests_enabled(what: &str) -> bool {
    if std::env::var("ECARD_BROWSER_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: {what} (set ECARD_BROWSER_TESTS=1 to run headless Chromium)");
    false
}

/// Runs `ecard` with `args` from the workspace root (the demo reads `samples/`).
pub fn ecard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .unwrap()
}

/// `ecard demo --cards 1` into `dir`: a token PKI (`pki/csca.pem`, `pki/ds.pem`), the station's
/// fresh `status.cose`, and card 771000001 with its rendered face (`face-front.png`) and seal.
pub fn demo(dir: &Path) -> PathBuf {
    let out = dir.join("demo");
    let o = ecard(&["demo", "--cards", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A PKI made by `ecard pki init` (file keys): its certificates and the DS signer.
pub struct Pki {
    pub dir: PathBuf,
    pub csca_pem: PathBuf,
    pub ds_pem: PathBuf,
    pub ds: Certificate,
    pub signer: SoftwareSigner,
}

impl Pki {
    pub fn init(dir: &Path) -> Pki {
        let o = ecard(&["pki", "init", "--dir", dir.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let ds_pem = dir.join("ds.pem");
        let ds = ecard_chip::pki::read_certificates(&std::fs::read(&ds_pem).unwrap())
            .unwrap()
            .remove(0);
        let key = std::fs::read_to_string(dir.join("ds.key")).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            csca_pem: dir.join("csca.pem"),
            ds_pem,
            ds,
            signer: SoftwareSigner::from_pkcs8_pem(&key).unwrap(),
        }
    }

    pub fn seal(&self, p: &SealPayload) -> String {
        Seal::sign(p, &self.signer, &self.ds).unwrap()
    }

    pub fn status(&self, p: &StatusListPayload) -> Vec<u8> {
        StatusList::sign(p, &self.signer, &self.ds).unwrap()
    }
}

/// Today in Moscow, the date the seals are issued on.
pub fn moscow_today() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+3))
        .date()
}

/// A holder's seal payload issued today, valid for five years.
pub fn payload(dn: &str) -> SealPayload {
    let doi = moscow_today();
    SealPayload {
        iss: "RUS".into(),
        dn: dn.into(),
        sn: "IVANOVA".into(),
        gn: "ANNA MARIA".into(),
        pn: Some("SERGEEVNA".into()),
        dob: time::macros::date!(1990 - 03 - 14),
        doi,
        doe: doi.replace_year(doi.year() + 5).unwrap(),
        sex: "F".into(),
        nat: "UZB".into(),
        dg2: [0x5a; 32],
    }
}

/// A status list issued now, revoking `revoked`, next update after `valid`.
pub fn list_payload(revoked: &[&str], valid: time::Duration) -> StatusListPayload {
    let mut p = StatusListPayload::new(
        time::OffsetDateTime::now_utc(),
        revoked
            .iter()
            .map(|dn| ecard_seal::Revocation {
                document_number: dn.to_string(),
                reason: ecard_seal::Reason::Lost,
                since: moscow_today(),
            })
            .collect(),
    );
    p.nxt = p.iat + valid;
    p
}

/// The QR of `text` as a PNG (4 pixels a module, quiet zone included).
pub fn qr_png(text: &str, path: &Path) {
    let q = ecard_seal::encode_qr(text).unwrap();
    ecard_seal::qr_image(&q, 4).save(path).unwrap();
}

/// `img` centred on a white card-sized canvas (even sizes, as 4:2:0 needs).
pub fn on_card(img: &image::GrayImage) -> image::RgbImage {
    let (w, h) = (1012.max(img.width() + 40), 640.max(img.height() + 40));
    let mut card = image::RgbImage::from_pixel(w & !1, h & !1, image::Rgb([250, 250, 245]));
    let (x0, y0) = ((w - img.width()) / 2, (h - img.height()) / 2);
    for (x, y, p) in img.enumerate_pixels() {
        card.put_pixel(x0 + x, y0 + y, image::Rgb([p[0], p[0], p[0]]));
    }
    card
}

/// Writes `img` as a one-frame YUV4MPEG2 (4:2:0, BT.601 full range) video, the fake camera's
/// input; Chromium plays it in a loop.
pub fn write_y4m(img: &image::RgbImage, path: &Path) {
    let (w, h) = (img.width() & !1, img.height() & !1);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    let px = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
    };
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.push(
                (0.299 * r + 0.587 * g + 0.114 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    let mut u = Vec::new();
    let mut v = Vec::new();
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let (r, g, b) = px(x, y);
            u.push(
                (128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
            v.push(
                (128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    out.extend(u);
    out.extend(v);
    std::fs::write(path, out).unwrap();
}

/// Where the screenshots are kept.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("pwa-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver and one headless Chromium session.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

/// One HTTP/1.1 request to chromedriver, which keeps the connection open: the answer is read up
/// to its Content-Length.
fn driver_request(addr: &str, method: &str, path: &str, body: &[u8]) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap();
        }
    }
    let mut out = vec![0; len];
    r.read_exact(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = driver_request(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            b"",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn json_body(body: &str) -> Value {
    // chromedriver answers with Content-Length; the JSON is the whole body.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .unwrap_or("null");
    serde_json::from_str(json).unwrap_or(Value::Null)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium 360 px wide, its camera playing `y4m` (if any).
    pub fn start(y4m: Option<&Path>) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "ECARD_BROWSER_TESTS=1 needs chromedriver (apt-get install -y chromium-driver)",
            );
        let addr = format!("127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=360,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--use-fake-ui-for-media-stream".into(),
        ];
        if let Some(y) = y4m {
            args.push("--use-fake-device-for-media-stream".into());
            args.push(format!("--use-file-for-fake-video-capture={}", y.display()));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let v = b.raw("POST", "/session", &caps);
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        b.cmd(
            "POST",
            "timeouts",
            &json!({"script": 60_000, "pageLoad": 30_000}),
        );
        // A 360 px wide phone screen (headless windows are at least 500 px wide).
        b.cmd(
            "POST",
            "goog/cdp/execute",
            &json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": true}}),
        );
        b
    }

    fn raw(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        json_body(&driver_request(&self.addr, method, path, &body))
    }

    /// One WebDriver command of this session; panics on a WebDriver error.
    pub fn cmd(&self, method: &str, what: &str, body: &Value) -> Value {
        let v = self.raw(method, &format!("/session/{}/{what}", self.session), body);
        if let Some(err) = v["value"]["error"].as_str() {
            panic!("WebDriver {what}: {err}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "url", &json!({ "url": url }));
    }

    pub fn add_cookie(&self, name: &str, value: &str) {
        self.cmd(
            "POST",
            "cookie",
            &json!({"cookie": {"name": name, "value": value, "path": "/"}}),
        );
    }

    /// Runs `script` (a function body; `arguments` as given) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            &json!({"script": script, "args": args}),
        )
    }

    /// Runs `script`, whose last argument is the callback to call with the result.
    pub fn js_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "execute/async",
            &json!({"script": script, "args": args}),
        )
    }

    /// Waits until `script` returns something other than null or false, and returns it.
    pub fn wait_for(&self, script: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, json!([]));
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for: {script}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Gives the file input matched by `css` the file at `path` (the gallery pick).
    pub fn upload(&self, css: &str, path: &Path) {
        let el = self.cmd(
            "POST",
            "element",
            &json!({"using": "css selector", "value": css}),
        );
        let id = el["element-6066-11e4-a52e-4f735466cecf"].as_str().unwrap();
        self.cmd(
            "POST",
            &format!("element/{id}/value"),
            &json!({"text": path.display().to_string()}),
        );
    }

    /// Saves a screenshot as `name`.png under target/pwa-screenshots/.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.cmd("GET", "screenshot", &Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// Signs in to a checkpoint screen with the test token and returns the session cookie's value.
pub fn session_cookie(addr: &str) -> String {
    let body = format!("token={}", super::checkpoint_common::TOKEN);
    let (code, head, _) = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(code, 303, "sign-in refused: {head}");
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l.split_once(':').unwrap().1.trim().to_string())
        })
        .and_then(|c| c.split(';').next().map(str::to_string))
        .and_then(|kv| kv.split_once('=').map(|(_, v)| v.to_string()))
        .expect("no session cookie")
}

/// Opens the app in `b` on the checkpoint at `addr` (signed in), and waits until it is ready.
pub fn open_app(b: &Browser, addr: &str) {
    let cookie = session_cookie(addr);
    b.goto(&format!("http://{addr}/login"));
    b.add_cookie("ecard_checkpoint_session", &cookie);
    b.goto(&format!("http://{addr}/checkpoint/"));
    b.wait_for(
        "return document.body.dataset.ready || null",
        Duration::from_secs(20),
    );
}

/// A blank simulated card for `ecard checkpoint serve --sim` (the phone app needs no card).
pub fn blank_card(dir: &Path) -> String {
    let p = dir.join("blank.img");
    let o = ecard(&["sim", "new", p.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    p.display().to_string()
}
