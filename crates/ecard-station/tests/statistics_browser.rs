//! The analysts' statistics page in a real browser: headless Chromium driven by chromedriver over
//! WebDriver. A station on 127.0.0.1:0 holds generated fact rows; the analyst signs in through
//! the form, the page draws its bars and monthly series as SVG with withheld cells as `<10`, and
//! its CSV download answers; a screenshot goes to `target/test-artifacts/statistics.png`.
//!
//! Needs `chromium` and `chromedriver`. Runs only with `ECARD_BROWSER_TESTS=1`; otherwise it
//! prints "skipped: ..." and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ecard_station::auth::{Role, TokenEntry, hash_token};
use ecard_station::cli::{Assembled, assemble};
use ecard_station::config::StationConfig;
use ecard_station::store::stats::Fact;
use serde_json::{Value, json};

mod webdriver;
use webdriver::{Driver, artifacts};

const ANALYST: &str = "analyst-1-secret-token";

/// Facts for 2026: UZB and TJK in every month (big), one KGZ holder in March (small).
fn facts() -> Vec<Fact> {
    let mut out = Vec::new();
    for m in 1..=12 {
        let month = format!("2026-{m:02}");
        for (nat, sex, n) in [
            ("UZB", "M", 20 + m),
            ("UZB", "F", 15 + m),
            ("TJK", "M", 12),
            ("TJK", "F", 11),
        ] {
            let f = Fact(
                [
                    &month,
                    "console-test",
                    "RU-MOW",
                    nat,
                    "25-34",
                    sex,
                    "first_issue",
                    "none",
                    "false",
                    "issued",
                ]
                .map(|s| s.to_string()),
            );
            out.extend(std::iter::repeat_n(f, n));
        }
    }
    out.push(Fact(
        [
            "2026-03",
            "console-test",
            "RU-MOS",
            "KGZ",
            "18-24",
            "F",
            "first_issue",
            "none",
            "false",
            "issued",
        ]
        .map(|s| s.to_string()),
    ));
    out
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StationConfig::defaults(dir.path());
    config.settings.station_id = "console-test".into();
    config.tokens = vec![TokenEntry {
        name: "analyst-1".into(),
        role: Role::Analyst,
        sha256: hex::decode(hash_token(ANALYST))
            .unwrap()
            .try_into()
            .unwrap(),
    }];
    let Assembled { station, lanes, .. } = tokio::task::spawn_blocking(move || assemble(&config))
        .await
        .unwrap()
        .unwrap();
    station
        .db(|s| s.stats_insert_facts(&facts()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        ecard_station::server::run(station, lanes, listener, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        addr,
        stop,
        done,
        _dir: dir,
    }
}

#[test]
fn analyst_sees_charts_and_downloads_csv() {
    if std::env::var("ECARD_BROWSER_TESTS").as_deref() != Ok("1") {
        println!("skipped: set ECARD_BROWSER_TESTS=1 to run the headless Chromium test");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let station = rt.block_on(start());
    let work = tempfile::tempdir().unwrap();
    let d = Driver::launch(work.path(), "1200,1100");
    d.cmd(
        "POST",
        "/url",
        json!({"url": format!("http://{}/statistics", station.addr)}),
    );
    let token = d.find("#token");
    d.cmd(
        "POST",
        &format!("/element/{token}/value"),
        json!({"text": ANALYST}),
    );
    let button = d.find("#sign-in-form button");
    d.cmd("POST", &format!("/element/{button}/click"), json!({}));
    d.wait_for(
        "signed in",
        "return !document.getElementById('stats').hidden",
        Duration::from_secs(20),
    );
    assert_eq!(
        d.script("return document.getElementById('who').textContent"),
        json!("analyst-1 (analyst)")
    );
    // The year 2026, by nationality, issued cards.
    d.script(
        "document.getElementById('from').value = '2026-01'; document.getElementById('to').value = '2026-12'; return null",
    );
    let show = d.find("#query-form button[type=submit]");
    d.cmd("POST", &format!("/element/{show}/click"), json!({}));
    let labels = d.wait_for(
        "bars drawn",
        "const t = [...document.querySelectorAll('#groups-chart svg text')].map(e => e.textContent); return t.length >= 6 && t.includes('UZB') ? t : null",
        Duration::from_secs(20),
    );
    // Three nationalities: KGZ (1 holder) withheld; TJK (276) withheld too, since the
    // published total less UZB would give KGZ away; UZB published.
    assert_eq!(labels, json!(["KGZ", "<10", "TJK", "<10", "UZB", "576"]));
    assert_eq!(
        d.script("return document.querySelectorAll('#groups-chart rect.withheld').length"),
        json!(2)
    );
    // The monthly series: twelve months, each a point.
    assert_eq!(
        d.script("return document.querySelectorAll('#months-chart circle').length"),
        json!(12)
    );
    assert!(
        d.script("return document.getElementById('groups-total').textContent")
            .as_str()
            .unwrap()
            .starts_with("Total 2026-01 to 2026-12: ")
    );
    // The CSV download: fetched with the token (not in the URL), offered as a file.
    let csv = d.cmd(
        "POST",
        "/execute/async",
        json!({"script": "const done = arguments[arguments.length - 1]; fetch('/api/v1/statistics?from=2026-01&to=2026-12&by=nationality&filter=outcome:issued&format=csv', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('ecard-station-token')}}).then(r => r.text()).then(done)", "args": []}),
    );
    assert_eq!(
        csv,
        json!("nationality,count,suppressed\nKGZ,<10,true\nTJK,<10,true\nUZB,576,false\n")
    );
    let png = d.cmd("GET", "/screenshot", Value::Null);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap())
        .unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let out = artifacts().join("statistics.png");
    std::fs::write(&out, &bytes).unwrap();
    println!("screenshot: {}", out.display());
    drop(d);
    let _ = station.stop.send(());
    rt.block_on(station.done).unwrap();
}
