//! The console in a real browser: headless Chromium driven by chromedriver over WebDriver (HTTP +
//! JSON, with ureq). Signs in through the form, submits the sample record through the upload
//! form, and waits (bounded) for its row to show `issued` without the page reloading; saves a
//! screenshot to `target/test-artifacts/console-issued.png`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install -y chromium chromium-driver`).
//! Runs only with `ECARD_BROWSER_TESTS=1`; otherwise it prints "skipped: ..." and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_common;

use std::time::Duration;

use serde_json::{Value, json};

mod webdriver;
use webdriver::{Driver, artifacts};

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

    let d = Driver::launch(work.path(), "1400,900");

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
