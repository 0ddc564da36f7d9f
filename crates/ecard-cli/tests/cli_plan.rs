//! `ecard plan`: the capacity planner's answers, JSON shape, plot and refusals, through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn plan(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ecard"))
        .arg("plan")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn cards_per_day_of_a_print_bound_line() {
    // 2 lanes, print 15 s: the printers are the bottleneck; the first card reaches a printer
    // after the 6 s encode, so each lane prints floor((28800 - 6) / 15) = 1919 cards in 8 h.
    let (code, out) = plan(&[
        "--lanes",
        "2",
        "--print-seconds",
        "15",
        "--encode-seconds",
        "6",
        "--hours",
        "8",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cards_per_day"], 3838);
    assert_eq!(v["outcome"]["bottleneck"], "printing");
    assert_eq!(v["slowest_stage_cards_per_day"], 3840.0);
    assert_eq!(v["params"]["lanes"], 2);
}

#[test]
fn lanes_for_a_daily_target_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plan.svg");
    let (code, out) = plan(&[
        "--cards-per-day",
        "5000",
        "--print-seconds",
        "15",
        "--encode-seconds",
        "6",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("3 lanes make 5000 cards a day"), "{out}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    // Unreachable with the lanes allowed: exit 1 and say what to change.
    let (code, out) = plan(&["--cards-per-day", "100000", "--max-lanes", "4"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("do not make 100000"), "{out}");
}

#[test]
fn a_bad_parameter_is_named() {
    for (args, flag) in [
        (vec!["--spoil-rate", "1.2"], "--spoil-rate"),
        (vec!["--lanes", "0"], "--lanes"),
        (vec!["--print-seconds", "0"], "--print-seconds"),
        (
            vec!["--reload-every", "10", "--operators", "0"],
            "--operators",
        ),
    ] {
        let (code, out) = plan(&args);
        assert_eq!(code, 3, "{args:?}: {out}");
        assert!(out.contains(flag), "{args:?}: {out}");
    }
}
