//! The phone checkpoint's benchmark (issue 18), not a timed test: with ECARD_PWA_BENCH=1 it runs
//! headless Chromium with the fake camera playing the demo card's rendered face and prints, over
//! repeated scans, the time from grabbing the frame that holds the seal to the verdict painted
//! (QR decoding, verification, drawing), and verification alone over many runs in the page.
//! docs/pwa-benchmark.md records the numbers and how to read them.
//!
//! `ECARD_PWA_BENCH=1 cargo test -p ecard-cli --test bench_pwa -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "checkpoint_common/mod.rs"]
mod checkpoint_common;
#[path = "pwa_common/mod.rs"]
mod pwa_common;

use std::time::Duration;

use pwa_common::*;
use serde_json::{Value, json};

const SCANS: usize = 30;
const VERIFICATIONS: usize = 300;

fn stats(name: &str, mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "{name:<34} n={:<4} min {:>7.2} ms  median {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        v[0],
        q(0.5),
        q(0.95),
        v[v.len() - 1]
    )
}

const VERIFY_LOOP: &str = r#"
const [text, n, done] = arguments;
(async () => {
  const m = await import(new URL('verify.js', location.href).href);
  const bundle = await (await fetch('trust-bundle.json')).json();
  const bytes = new Uint8Array(await (await fetch('status-list')).arrayBuffer());
  const at = m.todayInMoscow();
  const status = await m.verifyStatusList(bytes, bundle, at);
  const times = [];
  let verdict = null;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await m.verifySeal(text, bundle, status, at, Date.now());
    times.push(performance.now() - t0);
    verdict = r.verdict;
  }
  done({ times, verdict });
})().catch((e) => done({ error: String(e) }));
"#;

#[test]
fn bench_phone_checkpoint() {
    if std::env::var("ECARD_PWA_BENCH").as_deref() != Ok("1") {
        eprintln!("skipped: phone checkpoint benchmark (set ECARD_PWA_BENCH=1)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(tmp.path());
    let p = |rel: &str| demo.join(rel).display().to_string();
    let card = blank_card(tmp.path());
    let srv = checkpoint_common::serve(&[
        "--sim",
        &card,
        "--trust",
        &p("pki/csca.pem"),
        "--ds",
        &p("pki/ds.pem"),
        "--status",
        &p("status.cose"),
    ]);
    let face = image::open(demo.join("cards/771000001/face-front.png"))
        .unwrap()
        .to_rgb8();
    let y4m = tmp.path().join("face.y4m");
    write_y4m(&face, &y4m);
    let browser = Browser::start(Some(&y4m));
    open_app(&browser, &srv.addr);

    let mut verdicts = Vec::new();
    for i in 0..SCANS {
        let v = browser.wait_for(
            &format!(
                "const v = document.getElementById('verdict'); \
                 return !v.hidden && window.__ecardPerf.length > {i} ? v.dataset.verdict : null;"
            ),
            Duration::from_secs(30),
        );
        verdicts.push(v.as_str().unwrap().to_string());
        browser.js("document.getElementById('next').click();", json!([]));
    }
    let perf = browser.js("return window.__ecardPerf;", json!([]));
    let perf = perf.as_array().unwrap();
    let col = |k: &str| -> Vec<f64> { perf.iter().map(|e| e[k].as_f64().unwrap()).collect() };
    let video = browser.js(
        "const v = document.getElementById('video'); return [v.videoWidth, v.videoHeight];",
        json!([]),
    );

    let seal = std::fs::read_to_string(demo.join("cards/771000001/seal.txt")).unwrap();
    let r: Value = browser.js_async(VERIFY_LOOP, json!([seal.trim(), VERIFICATIONS]));
    assert!(r["error"].is_null(), "{}", r["error"]);
    let times: Vec<f64> = r["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    println!(
        "phone checkpoint benchmark: headless Chromium, fake camera {}x{} px, {} CPUs ({cpu})",
        video[0],
        video[1],
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("verdicts on screen: {verdicts:?}");
    println!(
        "{}",
        stats("frame grabbed -> verdict painted", col("totalMs"))
    );
    println!(
        "{}",
        stats("  of which QR decoding (jsQR)", col("decodeMs"))
    );
    println!("{}", stats("  of which verification", col("verifyMs")));
    println!(
        "{}",
        stats(
            &format!(
                "verification alone ({})",
                r["verdict"].as_str().unwrap_or("?")
            ),
            times
        )
    );
    browser.screenshot("bench-last");
    assert!(verdicts.iter().all(|v| v == "green"), "{verdicts:?}");
}
