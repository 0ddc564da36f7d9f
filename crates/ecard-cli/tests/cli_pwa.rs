//! The offline phone checkpoint (issue 18), served by `ecard checkpoint serve` under /checkpoint/:
//! the app shell and trust bundle behind the checkpoint's sign-in; with ECARD_BROWSER_TESTS=1, in
//! headless Chromium: the shared seal corpus gives the same verdict and the same first failing
//! check in the browser's verifier as in `ecard scan`, and the fake camera playing a card shows
//! green for a good card, red for a forged one, and green again with the server gone (offline,
//! from the service worker's cache). Screenshots are kept under target/pwa-screenshots/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "checkpoint_common/mod.rs"]
mod checkpoint_common;
#[path = "pwa_common/mod.rs"]
mod pwa_common;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use checkpoint_common::{TOKEN, request, serve};
use pwa_common::*;
use serde_json::{Value, json};

/// The verdict and first problem (`check id`) of `ecard scan --json`.
fn scan(
    image: &Path,
    trust: &[&Path],
    ds: &[&Path],
    status: Option<&Path>,
    at: &str,
) -> (String, Option<String>) {
    let mut args: Vec<String> = vec![
        "scan".into(),
        image.display().to_string(),
        "--json".into(),
        "--at".into(),
        at.into(),
    ];
    for t in trust {
        args.extend(["--trust".into(), t.display().to_string()]);
    }
    for d in ds {
        args.extend(["--ds".into(), d.display().to_string()]);
    }
    if let Some(s) = status {
        args.extend(["--status".into(), s.display().to_string()]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = ecard(&argv);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "ecard scan printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let checks = v["checks"].as_array().unwrap();
    let first = checks
        .iter()
        .find(|c| c["outcome"] == "fail")
        .or_else(|| checks.iter().find(|c| c["outcome"] == "warn"))
        .map(|c| c["id"].as_str().unwrap().to_string());
    (v["verdict"].as_str().unwrap().to_string(), first)
}

const BROWSER_VERIFY: &str = r#"
const [text, statusB64, at, nowMs, done] = arguments;
(async () => {
  const m = await import(new URL('verify.js', location.href).href);
  const bundle = await (await fetch('trust-bundle.json')).json();
  let status = null;
  if (statusB64 !== null) {
    const bytes = Uint8Array.from(atob(statusB64), (c) => c.charCodeAt(0));
    status = await m.verifyStatusList(bytes, bundle, at);
  }
  const r = await m.verifySeal(text, bundle, status, at, nowMs);
  const p = m.firstProblem(r.checks);
  done({ verdict: r.verdict, first: p ? p.id : null, reason: p ? p.reason : null });
})().catch((e) => done({ error: String(e) }));
"#;

#[test]
fn the_app_is_served_behind_the_checkpoint_sign_in_with_a_checked_trust_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Pki::init(&tmp.path().join("a"));
    let b = Pki::init(&tmp.path().join("b"));
    let list = tmp.path().join("status.cose");
    let bytes = a.status(&list_payload(&[], time::Duration::days(1)));
    std::fs::write(&list, &bytes).unwrap();
    let card = blank_card(tmp.path());
    let (csca, ds_a, ds_b) = (
        a.csca_pem.display().to_string(),
        a.ds_pem.display().to_string(),
        b.ds_pem.display().to_string(),
    );
    let srv = serve(&[
        "--sim",
        &card,
        "--trust",
        &csca,
        "--ds",
        &ds_a,
        "--ds",
        &ds_b,
        "--status",
        list.to_str().unwrap(),
    ]);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];

    // Without the token: refused, like the rest of the screen.
    let (code, _, _) = request(&srv.addr, "GET", "/checkpoint/trust-bundle.json", &[], b"");
    assert_eq!(code, 401);

    let (code, head, page) = request(&srv.addr, "GET", "/checkpoint/", &auth, b"");
    assert_eq!(code, 200, "{head}");
    assert!(
        page.contains("id=\"verdict\"") && page.contains("data-verdict"),
        "{page}"
    );
    assert!(page.contains("accept=\"image/*\""));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'self'")
    );

    let (_, _, body) = request(
        &srv.addr,
        "GET",
        "/checkpoint/trust-bundle.json",
        &auth,
        b"",
    );
    let bundle: Value = serde_json::from_str(body.trim()).unwrap();
    let ds = bundle["ds"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    let kid =
        |c: &x509_cert::Certificate| hex::encode(ecard_chip::pki::certificate_kid(c).unwrap());
    assert_eq!(ds[0]["kid"], kid(&a.ds));
    assert_eq!(ds[0]["trusted"], true);
    assert_eq!(ds[0]["jwk"]["crv"], "P-256");
    // B's Document Signer does not chain to A's CSCA: listed as refused, with the reason, no key.
    assert_eq!(ds[1]["kid"], kid(&b.ds));
    assert_eq!(ds[1]["trusted"], false);
    assert!(ds[1]["jwk"].is_null());
    assert!(
        ds[1]["problem"]
            .as_str()
            .unwrap()
            .contains("is not signed by any of the 1 trusted CSCA"),
        "{}",
        ds[1]["problem"]
    );
    assert_eq!(bundle["status_url"], "status-list");

    // The status list bytes, exactly as in the file.
    let mut s = std::net::TcpStream::connect(&srv.addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /checkpoint/status-list HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(String::from_utf8_lossy(&raw[..split]).contains("application/cose"));
    assert_eq!(&raw[split..], &bytes[..]);

    // The service worker names this build's assets; the vendored decoder comes with its licence.
    let (_, _, sw) = request(&srv.addr, "GET", "/checkpoint/sw.js", &auth, b"");
    assert!(!sw.contains("__ECARD_PWA_VERSION__"));
    assert!(sw.contains(ecard_pwa::version()));
    let (code, _, lic) = request(
        &srv.addr,
        "GET",
        "/checkpoint/vendor/jsqr/LICENSE",
        &auth,
        b"",
    );
    assert_eq!(code, 200);
    assert!(lic.contains("Apache License"));
}

/// One seal of the shared corpus: what `ecard scan` and the browser both get, and the colour and
/// first failing check both must give.
struct Case {
    name: &'static str,
    text: String,
    status: Option<std::path::PathBuf>,
    verdict: &'static str,
    first: Option<&'static str>,
}

#[test]
fn the_seal_corpus_gets_the_same_verdict_in_the_browser_as_in_ecard_scan() {
    if !browser_tests_enabled("phone checkpoint seal corpus") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = Pki::init(&dir.join("a"));
    let b = Pki::init(&dir.join("b")); // a DS given but not chaining to a trusted CSCA
    let c = Pki::init(&dir.join("c")); // a DS nobody was told about
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let fresh = write(
        "fresh.cose",
        &a.status(&list_payload(&["771000009"], time::Duration::days(7))),
    );
    let stale = write(
        "stale.cose",
        &a.status(&list_payload(&[], time::Duration::hours(1))),
    );
    let foreign_list = write(
        "foreign.cose",
        &c.status(&list_payload(&[], time::Duration::days(7))),
    );

    let good = a.seal(&payload("771000001"));
    let mut expired = payload("771000002");
    expired.doe = expired.doi.next_day().unwrap();
    let mut altered = payload("771000003");
    altered.sn = "PETROVA".into();
    // A forger's key under A's kid: the signature cannot verify.
    let forged = ecard_seal::Seal::sign(&altered, &b.signer, &a.ds).unwrap();
    let mut damaged: Vec<char> = good.chars().collect();
    let mid = damaged.len() / 2;
    damaged[mid] = if damaged[mid] == 'A' { 'B' } else { 'A' };
    let cases = vec![
        Case { name: "good", text: good.clone(), status: Some(fresh.clone()), verdict: "green", first: None },
        Case { name: "forged", text: forged, status: Some(fresh.clone()), verdict: "red", first: Some("seal_signature") },
        Case { name: "revoked", text: a.seal(&payload("771000009")), status: Some(fresh.clone()), verdict: "red", first: Some("not_on_status_list") },
        Case { name: "expired", text: a.seal(&expired), status: Some(fresh.clone()), verdict: "red", first: Some("seal_not_expired") },
        Case { name: "unknown-kid", text: c.seal(&payload("771000004")), status: Some(fresh.clone()), verdict: "red", first: Some("seal_signature") },
        Case { name: "untrusted-ds", text: b.seal(&payload("771000005")), status: Some(fresh.clone()), verdict: "red", first: Some("seal_signature") },
        Case { name: "stale-list", text: good.clone(), status: Some(stale), verdict: "amber", first: Some("status_fresh") },
        Case { name: "no-list", text: good.clone(), status: None, verdict: "amber", first: Some("status_list") },
        Case { name: "list-from-unknown-signer", text: good.clone(), status: Some(foreign_list), verdict: "red", first: Some("status_list") },
        Case { name: "truncated", text: good[..good.len() * 3 / 5].to_string(), status: Some(fresh.clone()), verdict: "red", first: Some("seal_decodes") },
        Case { name: "damaged", text: damaged.into_iter().collect(), status: Some(fresh.clone()), verdict: "red", first: Some("seal_decodes") },
        Case { name: "non-seal-qr", text: "https://example.org/checkin?id=42".into(), status: Some(fresh.clone()), verdict: "red", first: Some("seal_decodes") },
        Case {
            name: "another-system",
            text: "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOK.IR9B+9G4G50PHZF0AT4V22F/8X*G3M9JUPY0BX/KR96R/S09T./0LWTKD33236J3TA3M*4VV2 73-E3GG396B-43O058YIB73A*G3W19UEBY5:PI0EGSP4*2DN43U*0CEBQ/GXQFY73CIBC:G 7376BXBJBAJ UNFMJCRN0H3PQN*E33H3OA70M3FMJIJN523.K5QZ4A+2XEN QT QTHC31M3+E32R44$28A9H0D3ZCL4JMYAZ+S-A5$XKX6T2YC 35H/ITX8GL2-LH/CJTK96L6SR9MU9RFGJA6Q3QR$P2OIC0JVLA8J3ET3:H3A+2+33U SAAUOT3TPTO4UBZIC0JKQTL*QDKBO.AI9BVYTOCFOPS4IJCOT0$89NT2V457U8+9W2KQ-7LF9-DF07U$B97JJ1D7WKP/HLIJLRKF1MFHJP7NVDEBU1J*Z222E.GJF67Z JA6B.38O4BH*HB0EGLE2%V -3O9J0M0Q.BE8PBH2Q3B:A9JA3C4SO8O3:9LU5A7G5R*P1/OQ6L7N76OLTVG3ZMJX8RX6IV4K6CF7GW3UOIR6M0BYS:RJD0ANI1BQLQVSKOHS7O5FAU4V8S*L3:D-1E64EOXI0YT*$OJOS-FG9%10*N%JSZ:HT4B6L$NRY6EA3".into(),
            status: Some(fresh.clone()),
            verdict: "red",
            first: Some("seal_decodes"),
        },
    ];

    // The checkpoint trusts A's CSCA and knows A's and B's Document Signers (not C's).
    let card = blank_card(dir);
    let csca = a.csca_pem.display().to_string();
    let (ds_a, ds_b) = (
        a.ds_pem.display().to_string(),
        b.ds_pem.display().to_string(),
    );
    let srv = serve(&[
        "--sim", &card, "--trust", &csca, "--ds", &ds_a, "--ds", &ds_b,
    ]);
    let browser = Browser::start(None);
    open_app(&browser, &srv.addr);

    let at_date = moscow_today() + time::Duration::days(2);
    let at = at_date.to_string();
    // `ecard scan --at D` checks the list's freshness at 09:00 UTC that day; so does the browser.
    let now_ms = (at_date
        .with_time(time::macros::time!(9:00))
        .assume_utc()
        .unix_timestamp()
        * 1000) as f64;
    let mut rows = Vec::new();
    for case in &cases {
        let png = dir.join(format!("{}.png", case.name));
        qr_png(&case.text, &png);
        let (scan_verdict, scan_first) = scan(
            &png,
            &[&a.csca_pem],
            &[&a.ds_pem, &b.ds_pem],
            case.status.as_deref(),
            &at,
        );
        let status_b64 = case
            .status
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap()));
        let js = browser.js_async(BROWSER_VERIFY, json!([case.text, status_b64, at, now_ms]));
        assert!(
            js["error"].is_null(),
            "{}: the browser's verifier threw: {}",
            case.name,
            js["error"]
        );
        let (js_verdict, js_first) = (
            js["verdict"].as_str().unwrap().to_string(),
            js["first"].as_str().map(str::to_string),
        );
        rows.push(format!(
            "{:<26} scan {scan_verdict:<5} {:<20} browser {js_verdict:<5} {:<20} {}",
            case.name,
            scan_first.clone().unwrap_or_default(),
            js_first.clone().unwrap_or_default(),
            js["reason"].as_str().unwrap_or("")
        ));
        assert_eq!(
            (scan_verdict.as_str(), scan_first.as_deref()),
            (case.verdict, case.first),
            "{}: ecard scan",
            case.name
        );
        assert_eq!(
            (js_verdict.as_str(), js_first.as_deref()),
            (case.verdict, case.first),
            "{}: browser ({})",
            case.name,
            js["reason"]
        );
    }
    eprintln!("{}", rows.join("\n"));
}

/// The checkpoint for the camera tests: the demo's PKI trusted, its fresh status list.
fn camera_fixture(dir: &Path) -> (std::path::PathBuf, checkpoint_common::Server) {
    let demo = demo(dir);
    let p = |rel: &str| demo.join(rel).display().to_string();
    let card = blank_card(dir);
    let srv = serve(&[
        "--sim",
        &card,
        "--trust",
        &p("pki/csca.pem"),
        "--ds",
        &p("pki/ds.pem"),
        "--status",
        &p("status.cose"),
    ]);
    (demo, srv)
}

/// Waits for the full-screen verdict and returns (verdict, first check, screen text).
/// A browser whose fake camera films `qr` on a card (`<dir>/<name>.y4m`), with the phone
/// checkpoint of the server at `addr` open in it.
fn camera_on(dir: &Path, name: &str, qr: &image::GrayImage, addr: &str) -> Browser {
    let y4m = dir.join(format!("{name}.y4m"));
    write_y4m(&on_card(qr), &y4m);
    let browser = Browser::start(Some(&y4m));
    open_app(&browser, addr);
    browser
}

fn camera_verdict(b: &Browser) -> (String, String, String) {
    let v = b.wait_for(
        "const v = document.getElementById('verdict'); \
         return v.hidden ? null : [v.dataset.verdict, v.dataset.check, v.innerText];",
        Duration::from_secs(30),
    );
    (
        v[0].as_str().unwrap().into(),
        v[1].as_str().unwrap().into(),
        v[2].as_str().unwrap().into(),
    )
}

#[test]
fn the_fake_camera_shows_green_for_a_good_card_then_offline_too() {
    if !browser_tests_enabled("phone checkpoint camera, good card and offline") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (demo, mut srv) = camera_fixture(tmp.path());
    let face = image::open(demo.join("cards/771000001/face-front.png"))
        .unwrap()
        .to_rgb8();
    let y4m = tmp.path().join("good.y4m");
    write_y4m(&face, &y4m);
    let browser = Browser::start(Some(&y4m));
    open_app(&browser, &srv.addr);
    let (verdict, check, text) = camera_verdict(&browser);
    browser.screenshot("camera-good");
    assert_eq!(verdict, "green", "{check}: {text}");
    assert!(
        text.contains("VALID") && text.contains("771000001"),
        "{text}"
    );
    assert!(text.contains("Status list issued"), "{text}");
    // One column on a 360 px screen: nothing wider than the screen.
    let widths = browser.js(
        "return [innerWidth, document.documentElement.scrollWidth];",
        json!([]),
    );
    assert_eq!(widths, json!([360, 360]));

    // Wait until the service worker controls the page and holds the bundle and the list.
    browser.wait_for(
        "if (!navigator.serviceWorker.controller) return null; \
         if (!window.__swPoll) window.__swPoll = caches.open('ecard-pwa-data') \
           .then((c) => c.keys()).then((k) => { window.__swKeys = k.length; window.__swPoll = null; }); \
         return window.__swKeys >= 2 || null;",
        Duration::from_secs(20),
    );
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    assert!(
        std::net::TcpStream::connect(&srv.addr).is_err(),
        "the server still answers"
    );

    browser.goto(&format!("http://{}/checkpoint/", srv.addr));
    browser.wait_for(
        "return document.body.dataset.ready || null",
        Duration::from_secs(20),
    );
    let (verdict, check, text) = camera_verdict(&browser);
    browser.screenshot("camera-good-offline");
    assert_eq!(verdict, "green", "offline: {check}: {text}");
    assert!(
        text.contains("offline"),
        "the list line says the list is the phone's copy: {text}"
    );
}

#[test]
fn the_fake_camera_shows_red_for_a_forged_card() {
    if !browser_tests_enabled("phone checkpoint camera, forged card") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (demo, srv) = camera_fixture(tmp.path());
    // The card's own seal, its surname changed and signed with a forger's key under the issuer's kid.
    let seal = std::fs::read_to_string(demo.join("cards/771000001/seal.txt")).unwrap();
    let mut p = ecard_seal::Seal::decode(seal.trim()).unwrap().payload;
    p.sn = "PETROVA".into();
    let ds = ecard_chip::pki::read_certificates(&std::fs::read(demo.join("pki/ds.pem")).unwrap())
        .unwrap()
        .remove(0);
    let forger = Pki::init(&tmp.path().join("forger"));
    let text = ecard_seal::Seal::sign(&p, &forger.signer, &ds).unwrap();
    let qr = ecard_seal::qr_image(&ecard_seal::encode_qr(&text).unwrap(), 4);
    let browser = camera_on(tmp.path(), "forged", &qr, &srv.addr);
    let (verdict, check, text) = camera_verdict(&browser);
    browser.screenshot("camera-forged");
    assert_eq!(
        (verdict.as_str(), check.as_str()),
        ("red", "seal_signature"),
        "{text}"
    );
    assert!(
        text.contains("NOT VALID") && text.contains("signature does not verify"),
        "{text}"
    );
}

#[test]
fn the_fake_camera_on_a_non_seal_qr_says_what_it_saw_and_keeps_scanning() {
    if !browser_tests_enabled("phone checkpoint camera, a QR that is not a seal") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_demo, srv) = camera_fixture(tmp.path());
    let qr = ecard_seal::qr_image(
        &ecard_seal::encode_qr("https://example.org/ticket/42").unwrap(),
        4,
    );
    let browser = camera_on(tmp.path(), "other", &qr, &srv.addr);
    let seen = browser.wait_for(
        "const s = document.getElementById('seen'); return s.dataset.verdict === 'red' ? s.innerText : null;",
        Duration::from_secs(30),
    );
    browser.screenshot("camera-not-a-seal");
    let seen = seen.as_str().unwrap();
    assert!(
        seen.contains("not an e-card seal") && seen.contains("Still scanning"),
        "{seen}"
    );
    let state = browser.js(
        "const v = document.getElementById('verdict'); return [v.hidden, v.dataset.verdict, v.dataset.check];",
        json!([]),
    );
    assert_eq!(
        state,
        json!([true, "red", "seal_decodes"]),
        "no full-screen verdict, never green"
    );
}

#[test]
fn a_photo_from_the_gallery_is_checked_when_there_is_no_camera() {
    if !browser_tests_enabled("phone checkpoint gallery photo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (demo, srv) = camera_fixture(tmp.path());
    // No fake camera: the app says so and offers the gallery.
    let browser = Browser::start(None);
    open_app(&browser, &srv.addr);
    let seen = browser.wait_for(
        "const t = document.getElementById('seen').innerText; return t.includes('Choose a photo') ? t : null;",
        Duration::from_secs(20),
    );
    assert!(
        seen.as_str().unwrap().contains("camera is not available"),
        "{seen}"
    );
    browser.upload("#photo", &demo.join("cards/771000001/face-front.png"));
    let (verdict, check, text) = camera_verdict(&browser);
    browser.screenshot("gallery-good");
    assert_eq!(verdict, "green", "{check}: {text}");
    assert!(text.contains("771000001"), "{text}");

    // A photo with no QR code in it: red, saying so.
    browser.js("document.getElementById('next').click();", json!([]));
    let blank = tmp.path().join("blank.png");
    image::RgbImage::from_pixel(640, 400, image::Rgb([200, 200, 200]))
        .save(&blank)
        .unwrap();
    browser.upload("#photo", &blank);
    let (verdict, check, text) = camera_verdict(&browser);
    assert_eq!(
        (verdict.as_str(), check.as_str()),
        ("red", "seal_decodes"),
        "{text}"
    );
    assert!(text.contains("no QR code found"), "{text}");
}

/// RFC 9285 section 4.3 and RFC 8949 appendix A examples, and what a strict decoder must refuse.
const CODEC_VECTORS: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const m = await import(new URL('verify.js', location.href).href);
  const hex = (s) => Uint8Array.from(s.match(/../g) || [], (b) => parseInt(b, 16));
  const txt = (b) => new TextDecoder().decode(b);
  const out = {};
  for (const [enc, plain] of [['BB8', 'AB'], ['%69 VD92EX0', 'Hello!!'], ['UJCLQE7W581', 'base-45'], ['QED8WEX0', 'ietf!']]) {
    out['b45 ' + enc] = txt(m.base45Decode(enc)) === plain;
  }
  for (const bad of ['GGW', 'A', ':::']) {
    try { m.base45Decode(bad); out['b45 refuses ' + bad] = false; } catch { out['b45 refuses ' + bad] = true; }
  }
  const same = (a, b) => JSON.stringify(a, (k, v) => (v instanceof Uint8Array ? Array.from(v) : typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(b);
  const cases = [
    ['00', 0], ['17', 23], ['1818', 24], ['1903e8', 1000], ['1b000000e8d4a51000', 1000000000000],
    ['1bffffffffffffffff', '18446744073709551615'], ['20', -1], ['3863', -100], ['3903e7', -1000],
    ['4401020304', [1, 2, 3, 4]], ['6449455446', 'IETF'], ['62c3bc', 'ü'], ['83010203', [1, 2, 3]],
    ['a201020304', { map: [[1, 2], [3, 4]] }], ['d818456449455446', { tag: 24, value: [0x64, 0x49, 0x45, 0x54, 0x46] }],
    ['f93c00', { float: 1 }], ['fb3ff199999999999a', { float: 1.1 }], ['f4', { simple: 20 }], ['f6', { simple: 22 }],
  ];
  for (const [h, want] of cases) {
    try { out['cbor ' + h] = same(m.cborDecode(hex(h)), want); } catch (e) { out['cbor ' + h] = String(e); }
  }
  for (const bad of ['5f42010243030405ff', '9fff', 'bf616101ff', '0000', '62c3', '1c', '6261']) {
    try { m.cborDecode(hex(bad)); out['cbor refuses ' + bad] = false; } catch { out['cbor refuses ' + bad] = true; }
  }
  done(out);
})().catch((e) => done({ error: String(e) }));
"#;

#[test]
fn the_browser_codecs_meet_the_rfc_examples_and_refuse_what_is_not_strict() {
    if !browser_tests_enabled("phone checkpoint codecs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = Pki::init(&tmp.path().join("a"));
    let card = blank_card(tmp.path());
    let (csca, ds) = (
        a.csca_pem.display().to_string(),
        a.ds_pem.display().to_string(),
    );
    let srv = serve(&["--sim", &card, "--trust", &csca, "--ds", &ds]);
    let browser = Browser::start(None);
    open_app(&browser, &srv.addr);
    let out = browser.js_async(CODEC_VECTORS, json!([]));
    let out = out.as_object().unwrap();
    assert!(out.len() > 30, "{out:?}");
    let failed: Vec<_> = out
        .iter()
        .filter(|(_, v)| **v != Value::Bool(true))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn the_status_list_is_fetched_from_the_station_url_when_the_phone_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Pki::init(&tmp.path().join("a"));
    let bytes = a.status(&list_payload(&["771000007"], time::Duration::days(1)));
    // A station stand-in answering every request with the list.
    let station = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/v1/status-list",
        station.local_addr().unwrap()
    );
    let served = bytes.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in station.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/cose\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                served.len()
            );
            let _ = c.write_all(&served);
        }
    });
    let card = blank_card(tmp.path());
    let (csca, ds) = (
        a.csca_pem.display().to_string(),
        a.ds_pem.display().to_string(),
    );
    let srv = serve(&[
        "--sim",
        &card,
        "--trust",
        &csca,
        "--ds",
        &ds,
        "--status-url",
        &url,
    ]);
    let mut s = std::net::TcpStream::connect(&srv.addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /checkpoint/status-list HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        String::from_utf8_lossy(&raw[..split]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw[..split])
    );
    assert_eq!(&raw[split..], &bytes[..]);
}

#[test]
fn the_fake_camera_on_a_blurred_seal_asks_to_hold_still_and_shows_no_verdict() {
    if !browser_tests_enabled("phone checkpoint camera, a blurred seal") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (demo, srv) = camera_fixture(tmp.path());
    let seal = std::fs::read_to_string(demo.join("cards/771000001/seal.txt")).unwrap();
    let qr = ecard_seal::qr_image(&ecard_seal::encode_qr(seal.trim()).unwrap(), 4);
    let blurred = image::imageops::blur(&qr, 6.0);
    let browser = camera_on(tmp.path(), "blurred", &blurred, &srv.addr);
    let seen = browser.wait_for(
        "const s = document.getElementById('seen'); return s.dataset.verdict === 'hint' ? s.innerText : null;",
        Duration::from_secs(30),
    );
    browser.screenshot("camera-blurred");
    assert!(
        seen.as_str().unwrap().contains("No readable QR seal"),
        "{seen}"
    );
    let state = browser.js(
        "const v = document.getElementById('verdict'); return [v.hidden, v.dataset.verdict, window.__ecardPerf.length];",
        json!([]),
    );
    assert_eq!(
        state,
        json!([true, "", 0]),
        "nothing decoded, nothing judged"
    );
}

/// `ecard checkpoint serve` on a fixed address (the phone's storage belongs to the origin, so a
/// restarted checkpoint must come back on the same port).
fn serve_at(addr: &str, args: &[&str]) -> checkpoint_common::Server {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(["checkpoint", "serve", "--listen", addr])
        .args(args)
        .env("ECARD_CHECKPOINT_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "checkpoint did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    checkpoint_common::Server {
        child,
        addr: addr.to_string(),
    }
}

#[test]
fn an_older_status_list_offered_later_is_refused_and_the_newer_one_kept() {
    if !browser_tests_enabled("phone checkpoint status list replay") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = Pki::init(&tmp.path().join("a"));
    let old = list_payload(&[], time::Duration::days(7));
    let mut new = old.clone();
    new.iat += time::Duration::minutes(5);
    new.nxt += time::Duration::minutes(5);
    let (old_path, new_path) = (tmp.path().join("old.cose"), tmp.path().join("new.cose"));
    std::fs::write(&old_path, a.status(&old)).unwrap();
    std::fs::write(&new_path, a.status(&new)).unwrap();
    let iso = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let card = blank_card(tmp.path());
    let (csca, ds) = (
        a.csca_pem.display().to_string(),
        a.ds_pem.display().to_string(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let args = |list: &Path| -> Vec<String> {
        [
            "--sim",
            &card,
            "--trust",
            &csca,
            "--ds",
            &ds,
            "--status",
            list.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let list_line = "return document.getElementById('list').innerText;";

    let first_args = args(&new_path);
    let mut first = serve_at(
        &addr,
        &first_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let browser = Browser::start(None);
    open_app(&browser, &addr);
    let line = browser.js(list_line, json!([]));
    assert!(line.as_str().unwrap().contains(&iso(new.iat)), "{line}");
    let _ = first.child.kill();
    let _ = first.child.wait();

    // The same checkpoint restarted with an older list (a replay): the phone keeps the newer one.
    let second_args = args(&old_path);
    let _second = serve_at(
        &addr,
        &second_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    open_app(&browser, &addr);
    let line = browser.wait_for(
        "const t = document.getElementById('list').innerText; return t.includes('older than the one held') ? t : null;",
        Duration::from_secs(20),
    );
    browser.screenshot("status-list-replay-refused");
    let line = line.as_str().unwrap();
    assert!(
        line.contains(&iso(new.iat)),
        "the newer list stays in use: {line}"
    );
    assert!(
        line.contains(&iso(old.iat)),
        "the refusal names the offered list: {line}"
    );
}
