//! `ecard plan`: capacity planning for a print-and-encode line ([`ecard_plan`]): how many cards a
//! day with these lanes, or how many lanes for N cards a day, with a plot of cards a day against
//! lanes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ecard_plan::{LineParams, Outcome, closed_form, lanes_for, simulate, svg};

/// `ecard plan` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lanes in the line (each an encoder and a printer).
    #[arg(long, default_value_t = 2)]
    pub lanes: u32,
    /// Seconds to print one card.
    #[arg(long, default_value_t = 15.0)]
    pub print_seconds: f64,
    /// Seconds to encode one card (personalize, read back, verify); `ecard bench` measures it
    /// for a firmware profile's link model.
    #[arg(long, default_value_t = 6.0)]
    pub encode_seconds: f64,
    /// Share of encoded cards spoiled, e.g. 0.02.
    #[arg(long, default_value_t = 0.0)]
    pub spoil_rate: f64,
    /// Hours in the shift (one shift a day).
    #[arg(long, default_value_t = 8.0)]
    pub hours: f64,
    /// Blanks a hopper holds; 0: the hopper never runs out.
    #[arg(long, default_value_t = 0)]
    pub reload_every: u32,
    /// Seconds to reload one hopper.
    #[arg(long, default_value_t = 60.0)]
    pub reload_seconds: f64,
    /// Operators who reload hoppers, one at a time each.
    #[arg(long, default_value_t = 1)]
    pub operators: u32,
    /// Instead of --lanes: find the fewest lanes that make this many cards a day.
    #[arg(long, value_name = "N")]
    pub cards_per_day: Option<u64>,
    /// The most lanes --cards-per-day may propose, and the right end of the plot.
    #[arg(long, default_value_t = 64)]
    pub max_lanes: u32,
    /// Seed of the spoil draws (the same seed gives the same answer).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write an SVG plot of cards a day against lanes to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ecard plan`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let base = LineParams {
        lanes: args.lanes,
        print_seconds: args.print_seconds,
        encode_seconds: args.encode_seconds,
        spoil_rate: args.spoil_rate,
        hours: args.hours,
        reload_every: args.reload_every,
        reload_seconds: args.reload_seconds,
        operators: args.operators,
        seed: args.seed,
    };
    base.validate()?;
    let (params, outcome, target_met) = match args.cards_per_day {
        Some(target) => match lanes_for(&base, target, args.max_lanes)? {
            Some((lanes, out)) => (
                LineParams {
                    lanes,
                    ..base.clone()
                },
                out,
                Some(true),
            ),
            None => {
                let p = LineParams {
                    lanes: args.max_lanes,
                    ..base.clone()
                };
                let out = simulate(&p)?;
                (p, out, Some(false))
            }
        },
        None => {
            let out = simulate(&base)?;
            (base.clone(), out, None)
        }
    };
    let bound_per_day = closed_form(&params) * params.hours * 3600.0;
    if let Some(path) = &args.plot {
        let right = args.max_lanes.min((params.lanes * 2).max(8));
        let mut points = Vec::new();
        let mut bound = Vec::new();
        for lanes in 1..=right {
            let p = LineParams {
                lanes,
                ..params.clone()
            };
            points.push((lanes, simulate(&p)?.cards_per_day));
            bound.push((lanes, closed_form(&p) * p.hours * 3600.0));
        }
        let title = format!(
            "cards per day: print {} s, encode {} s, spoil {:.1}%, {} h shift",
            params.print_seconds,
            params.encode_seconds,
            params.spoil_rate * 100.0,
            params.hours
        );
        std::fs::write(path, svg::cards_per_day_plot(&title, &points, Some(&bound)))
            .with_context(|| format!("cannot write the plot {}", path.display()))?;
    }
    if args.json {
        let v = serde_json::json!({
            "params": params,
            "cards_per_day": outcome.cards_per_day,
            "outcome": outcome,
            "slowest_stage_cards_per_day": bound_per_day.floor(),
            "target_cards_per_day": args.cards_per_day,
            "target_met": target_met,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(
            &params,
            &outcome,
            bound_per_day,
            args.cards_per_day,
            target_met,
        );
        if let Some(path) = &args.plot {
            println!("plot of cards per day against lanes: {}", path.display());
        }
    }
    Ok(match target_met {
        Some(false) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn print_text(p: &LineParams, o: &Outcome, bound: f64, target: Option<u64>, met: Option<bool>) {
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    let hopper = if p.reload_every == 0 {
        "hoppers never run out".to_string()
    } else {
        format!(
            "hopper of {} blanks, reload {} s, {} operator{}",
            p.reload_every,
            p.reload_seconds,
            p.operators,
            if p.operators == 1 { "" } else { "s" }
        )
    };
    match (target, met) {
        (Some(t), Some(true)) => println!("{} lanes make {t} cards a day or more:", p.lanes),
        (Some(t), _) => println!(
            "even {} lanes do not make {t} cards a day (raise --max-lanes, or shorten the slowest stage):",
            p.lanes
        ),
        _ => {}
    }
    println!(
        "line: {} lanes, encode {} s, print {} s, spoil {}, {hopper}, {} h shift",
        p.lanes,
        p.encode_seconds,
        p.print_seconds,
        pct(p.spoil_rate),
        p.hours
    );
    println!(
        "cards per day: {} ({:.0} an hour); {} spoiled, {} blanks used; bottleneck: {}",
        o.cards_per_day, o.cards_per_hour, o.spoiled, o.blanks_used, o.bottleneck
    );
    println!(
        "  encoders: {} encoding, {} holding a card for the printer, {} waiting for blanks",
        pct(o.encoder_utilisation),
        pct(o.encoder_blocked),
        pct(o.encoder_waiting_for_blanks)
    );
    println!("  printers: {} printing", pct(o.printer_utilisation));
    if p.reload_every > 0 {
        println!(
            "  operators: {} reloading; an empty hopper waits {:.0} s for an operator on average",
            pct(o.operator_utilisation),
            o.mean_reload_wait
        );
    }
    println!(
        "  a card waits {:.1} s between encoding and printing on average",
        o.mean_print_queue_wait
    );
    println!(
        "the slowest stage alone would allow {:.0} cards a day",
        bound.floor()
    );
}
