//! `ecard qa` against a real station daemon (`ecard station serve` on 127.0.0.1:0, SQLite, one
//! simulated lane): a card it issued passes, through the API (recorded under the qa token's
//! name) and through the store (`--data-dir`, recorded under `--inspector`); once the job is
//! voided its revoked number fails; a blank card is a fail-with-error; the report counts what
//! was recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const QA_TOKEN: &str = "qa-secret-token-for-tests";

fn ecard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecard"));
    c.env("ECARD_LOG", "warn");
    c
}

fn run(args: &[&str]) -> Output {
    ecard().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Daemon {
    child: Child,
    base: String,
    admin: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Daemon {
    let hash = run(&["station", "hash-token", QA_TOKEN]);
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert_eq!(hash.len(), 64, "{hash}");
    std::fs::write(
        dir.join("station.toml"),
        format!(
            "station_id = \"qa-test\"\n[[lanes]]\nname = \"lane-1\"\nencoder = \"sim:blanks/lane-1\"\nmake_blanks = true\n[[tokens]]\nname = \"qa-anna\"\nrole = \"qa\"\nsha256 = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let mut child = ecard()
        .args(["station", "serve", "--config"])
        .arg(dir.join("station.toml"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = Some(rest.split("/api").next().unwrap().trim().to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    Daemon {
        child,
        base: base.expect("daemon printed its address"),
        admin,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(d: &Daemon, path: &str, body: String) -> (u16, serde_json::Value) {
    let mut r = agent()
        .post(&format!("{}/api/v1{path}", d.base))
        .header("Authorization", &format!("Bearer {}", d.admin))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

fn get(d: &Daemon, path: &str) -> serde_json::Value {
    let mut r = agent()
        .get(&format!("{}/api/v1{path}", d.base))
        .header("Authorization", &format!("Bearer {}", d.admin))
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn record(app: &str) -> String {
    use base64::Engine as _;
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/karimov");
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(samples.join(f)).unwrap())
    };
    serde_json::json!({
        "application_id": app,
        "surname": "KARIMOV", "given_names": "ALISHER", "patronymic": "BAKHODIROVICH",
        "date_of_birth": "1990-05-17", "sex": "M", "nationality": "UZB",
        "residence_status": "temporary",
        "identity_document": {"kind": "passport", "number": "FA1234567", "issuing_state": "UZB",
                              "date_of_expiry": "2030-01-01"},
        "photo": {"base64": b64("photo.jpg")},
        "signature": {"base64": b64("signature.png")},
        "application": {"kind": "first_issue"},
        "applied_on": "2026-11-24"
    })
    .to_string()
}

fn wait_issued(d: &Daemon, id: i64) {
    let t0 = Instant::now();
    loop {
        let job = get(d, &format!("/jobs/{id}"));
        if job["state"] == "issued" {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "job {id}: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn qa_passes_issued_cards_fails_revoked_ones_and_reports_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut ids = Vec::new();
    for app in ["CLI-QA-1", "CLI-QA-2"] {
        let (s, job) = post(&d, "/enrollments", record(app));
        assert_eq!(s, 202, "{job}");
        ids.push(job["id"].as_i64().unwrap());
    }
    for id in &ids {
        wait_issued(&d, *id);
    }
    let card = |n: &str| dir.path().join("cards").join(format!("{n}.img"));
    let (c1, c2) = (card("770000001"), card("770000002"));
    let trust = dir.path().join("pki/csca.pem");
    let at = ["--at", "2026-11-25"];

    // Through the API, as the qa token.
    let mut args = vec![
        "qa",
        "--sim",
        c1.to_str().unwrap(),
        "--station",
        &d.base,
        "--token",
        QA_TOKEN,
        "--trust",
        trust.to_str().unwrap(),
    ];
    args.extend(at);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("QA PASS"), "{}", text(&out));
    assert!(
        text(&out).contains("card 770000001, job 1, lane lane-1"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("recorded as qa-anna"), "{}", text(&out));

    // Through the store, as a named inspector; JSON verdict.
    let mut args = vec![
        "qa",
        "--sim",
        c2.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--inspector",
        "boris",
        "--json",
    ];
    args.extend(at);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failures"], serde_json::json!([]));
    assert_eq!(v["document_number"], "770000002");

    // Voided: the number is revoked.
    let (s, _) = post(&d, &format!("/jobs/{}/void", ids[1]), String::new());
    assert_eq!(s, 200);
    let mut args = vec![
        "qa",
        "--sim",
        c2.to_str().unwrap(),
        "--station",
        &d.base,
        "--token",
        QA_TOKEN,
        "--trust",
        trust.to_str().unwrap(),
    ];
    args.extend(at);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("QA FAIL"), "{t}");
    assert!(
        t.contains("  revoked: number 770000002 is revoked\n"),
        "{t}"
    );
    assert!(
        t.contains("  issued: number 770000002 is voided (job 2), expected issued\n"),
        "{t}"
    );

    // A station URL without the CSCA is refused with the way out.
    let out = run(&[
        "qa",
        "--sim",
        c1.to_str().unwrap(),
        "--station",
        &d.base,
        "--token",
        QA_TOKEN,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--trust CSCA.pem"), "{}", text(&out));

    // The report counts the three verdicts, both ways.
    let today = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 3 * 3600;
        let days = now.div_euclid(86400);
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
    };
    let expected = format!(
        "section,key,inspected,failed\ntotal,all,3,1\nlane,lane-1,3,1\nday,{today},3,1\nreason,issued,,1\nreason,revoked,,1\nvoided,770000002,,\n"
    );
    let out = run(&[
        "qa",
        "report",
        "--from",
        &today,
        "--to",
        &today,
        "--format",
        "csv",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let out = run(&[
        "qa",
        "report",
        "--from",
        &today,
        "--to",
        &today,
        "--format",
        "csv",
        "--station",
        &d.base,
        "--token",
        QA_TOKEN,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let out = run(&[
        "qa",
        "report",
        "--from",
        &today,
        "--to",
        &today,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg "),
        "{html}"
    );
}
