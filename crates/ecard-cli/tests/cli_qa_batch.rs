//! `ecard qa batch` through the real pcscd: three cards issued by a station daemon are served one
//! after the other by `ecard sim serve` into vpcd's second reader (`Virtual PCD 00 01`, port
//! 35964); the batch waits for each, judges it, waits for its removal (the serving process ends),
//! and prints a summary. The chips are protected by PACE: for each the batch asks for the number
//! printed on the card (typed on its standard input here) and opens the chip with the CAN of
//! that number's job record. Needs pcscd with vpcd (`tools/virtual-reader.sh start --no-card`):
//! required with `ECARD_PCSC_TESTS=1`, skipped with a message otherwise. One test in this binary,
//! so nothing else here touches the reader meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{enrollment_body, post, start_qa_station, today, wait_issued};

const READER: &str = "Virtual PCD 00 01";
const PORT: &str = "35964";

/// `None`: skip (with the reason printed).
fn reader_ready() -> Option<()> {
    let required = std::env::var("ECARD_PCSC_TESTS").as_deref() == Ok("1");
    let found = ecard_transport::PcscContext::establish()
        .map_err(|e| e.to_string())
        .and_then(|ctx| ecard_transport::list_readers(&ctx).map_err(|e| e.to_string()))
        .and_then(|readers| match readers.iter().find(|r| r.name == READER) {
            None => Err(format!("pcscd has no reader {READER:?}: {readers:?}")),
            Some(r) if r.card_present => Err(format!("reader {READER:?} already holds a card")),
            Some(_) => Ok(()),
        });
    match found {
        Ok(()) => Some(()),
        Err(e) if required => panic!("ECARD_PCSC_TESTS=1 but pcscd with vpcd is not usable: {e}"),
        Err(e) => {
            println!(
                "skipped: set ECARD_PCSC_TESTS=1 with pcscd running (tools/virtual-reader.sh start --no-card): {e}"
            );
            None
        }
    }
}

#[test]
fn batch_judges_three_cards_through_pcscd_and_sums_up() {
    if reader_ready().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start_qa_station(dir.path());
    for app in ["BATCH-1", "BATCH-2", "BATCH-3"] {
        let (s, job) = post(&d, "/enrollments", enrollment_body(app));
        assert_eq!(s, 202, "{job}");
    }
    for id in 1..=3 {
        wait_issued(&d, id);
    }
    // The third card's job is voided: its number is revoked, so QA fails it.
    assert_eq!(post(&d, "/jobs/3/void", String::new()).0, 200);

    let mut batch = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args([
            "qa",
            "batch",
            "--reader",
            READER,
            "--count",
            "3",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--inspector", "batch-test", "--at", &today()])
        .env("ECARD_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut keyboard = batch.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out = batch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut until = |needle: &str| {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| {
                    panic!("no {needle:?} from the batch ({e}); so far: {seen:#?}")
                });
            seen.push(line.clone());
            if line.contains(needle) {
                return;
            }
        }
    };
    for n in ["770000001", "770000002", "770000003"] {
        until("insert a card");
        let card = dir.path().join("cards").join(format!("{n}.img"));
        let mut serve = Command::new(env!("CARGO_BIN_EXE_ecard"))
            .args(["sim", "serve", "--port", PORT, "--card"])
            .arg(&card)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The chips are protected by PACE: the inspector types the number printed on the card.
        until("the chip is protected");
        use std::io::Write;
        writeln!(keyboard, "{n}").unwrap();
        until("remove the card");
        // Ending the virtual card's connection is the card leaving the reader.
        serve.kill().unwrap();
        serve.wait().unwrap();
    }
    let status = batch.wait().unwrap();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    assert_eq!(all.matches("QA PASS").count(), 2, "{all}");
    assert_eq!(all.matches("QA FAIL").count(), 1, "{all}");
    assert!(
        all.contains("  revoked: number 770000003 is revoked"),
        "{all}"
    );
    assert!(
        all.contains("summary: 3 cards, 2 passed, 1 failed, 0 not judged\n  failed 770000003: issued, revoked"),
        "{all}"
    );

    // Ctrl-C (SIGINT) while waiting for a card ends the batch with its summary.
    let mut batch = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .args(["qa", "batch", "--reader", READER, "--data-dir"])
        .arg(dir.path())
        .args(["--inspector", "batch-test"])
        .env("ECARD_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(batch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("insert a card"), "{first}");
    let kill = Command::new("kill")
        .args(["-INT", &batch.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = batch.wait().unwrap();
    assert_eq!(
        rest,
        vec!["summary: 0 cards, 0 passed, 0 failed, 0 not judged".to_string()]
    );
    assert_eq!(status.code(), Some(0));
}
