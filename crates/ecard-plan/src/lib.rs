//! Capacity planning for print-and-encode lines: "how many cards a day with this line?" and "how
//! many lanes for N cards a day?".
//!
//! [`simulate`] is a discrete-event simulation of a line as the station runs it: each lane has an
//! encoder (personalize, read back, verify) and a printer, joined by a hand-off of one card (the
//! lane's channel of capacity 1); the encoder takes blanks from a hopper of `reload_every` cards,
//! and when it is empty waits for an operator, who reloads one hopper at a time in
//! `reload_seconds`; a card spoiled at encoding (`spoil_rate`) goes to the reject bin and costs
//! the encoder's time and a blank, never the printer's. Work never runs out (the queue is full all
//! shift), so the answer is the line's capacity. Time is simulated, not read from a clock, and the
//! spoils come from a seeded RNG, so a run is repeatable.
//!
//! [`closed_form`] gives the throughput of the slowest stage for the cases where one stage alone
//! limits the line (no operator contention); the tests hold the simulation to it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub mod svg;

/// What describes a line and a shift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineParams {
    /// Lanes (each an encoder and a printer).
    pub lanes: u32,
    /// Seconds to print one card.
    pub print_seconds: f64,
    /// Seconds to encode one card (personalize, read back, verify).
    pub encode_seconds: f64,
    /// Share of encoded cards that are spoiled (0 to below 1).
    pub spoil_rate: f64,
    /// Length of the shift, hours (one shift a day).
    pub hours: f64,
    /// Blanks a hopper holds; 0 means the hopper never runs out.
    pub reload_every: u32,
    /// Seconds an operator needs to reload one hopper.
    pub reload_seconds: f64,
    /// Operators who reload hoppers (one hopper at a time each).
    pub operators: u32,
    /// Seed of the spoil draws.
    pub seed: u64,
}

impl Default for LineParams {
    fn default() -> Self {
        LineParams {
            lanes: 2,
            print_seconds: 15.0,
            encode_seconds: 6.0,
            spoil_rate: 0.0,
            hours: 8.0,
            reload_every: 0,
            reload_seconds: 0.0,
            operators: 1,
            seed: 1,
        }
    }
}

/// A parameter out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--{flag} {value}: {problem}")]
pub struct ParamError {
    /// The flag, without dashes.
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl LineParams {
    /// Checks every parameter; the error names the flag.
    pub fn validate(&self) -> Result<(), ParamError> {
        let bad = |flag, value: String, problem| {
            Err(ParamError {
                flag,
                value,
                problem,
            })
        };
        if self.lanes == 0 || self.lanes > 10_000 {
            return bad("lanes", self.lanes.to_string(), "must be from 1 to 10000");
        }
        for (flag, v) in [
            ("print-seconds", self.print_seconds),
            ("encode-seconds", self.encode_seconds),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 86_400.0) {
                return bad(flag, v.to_string(), "must be a number of seconds above 0");
            }
        }
        if !(self.spoil_rate.is_finite() && (0.0..0.99).contains(&self.spoil_rate)) {
            return bad(
                "spoil-rate",
                self.spoil_rate.to_string(),
                "must be from 0 to below 0.99 (a share, e.g. 0.02)",
            );
        }
        if !(self.hours.is_finite() && self.hours > 0.0 && self.hours <= 24.0 * 31.0) {
            return bad(
                "hours",
                self.hours.to_string(),
                "must be above 0 and at most 744",
            );
        }
        if !(self.reload_seconds.is_finite() && self.reload_seconds >= 0.0) {
            return bad(
                "reload-seconds",
                self.reload_seconds.to_string(),
                "must be 0 or more",
            );
        }
        if self.reload_every > 0 && self.operators == 0 {
            return bad(
                "operators",
                "0".into(),
                "someone must reload the hoppers: at least 1",
            );
        }
        Ok(())
    }
}

/// What a shift produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Good cards printed within the shift.
    pub cards_per_day: u64,
    /// The same, per hour of the shift.
    pub cards_per_hour: f64,
    /// Cards spoiled at encoding.
    pub spoiled: u64,
    /// Blanks used (good and spoiled).
    pub blanks_used: u64,
    /// Share of the shift the encoders were encoding (mean over lanes).
    pub encoder_utilisation: f64,
    /// Share of the shift the encoders held a finished card with nowhere to put it.
    pub encoder_blocked: f64,
    /// Share of the shift the encoders waited for a hopper reload (operator queue and reload).
    pub encoder_waiting_for_blanks: f64,
    /// Share of the shift the printers were printing.
    pub printer_utilisation: f64,
    /// Share of the shift the operators were reloading.
    pub operator_utilisation: f64,
    /// Mean seconds a good card waited between encoding and printing.
    pub mean_print_queue_wait: f64,
    /// Mean seconds an empty hopper waited for an operator to start reloading it.
    pub mean_reload_wait: f64,
    /// Which stage limits the line: `printing`, `encoding`, or `blanks`.
    pub bottleneck: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
/// What happened, to which lane.
enum Kind {
    Encoded(usize),
    Printed(usize),
    Reloaded(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    at: f64,
    seq: u64,
    kind: Kind,
}

impl Eq for Event {}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        // Earliest first (BinaryHeap is a max-heap), ties in scheduling order.
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Default)]
struct Lane {
    blanks: u32,
    encoding: bool,
    /// A good card the encoder holds because the hand-off is full (since when).
    blocked_since: Option<f64>,
    /// Cards in the hand-off (at most one), with when each was put there.
    handoff: Option<f64>,
    printing: bool,
    /// Waiting for an operator or being reloaded, since when.
    starved_since: Option<f64>,
    encode_busy: f64,
    blocked: f64,
    starved: f64,
    print_busy: f64,
}

struct Sim<'a> {
    p: &'a LineParams,
    end: f64,
    now: f64,
    seq: u64,
    events: BinaryHeap<Event>,
    lanes: Vec<Lane>,
    free_operators: u32,
    reload_queue: VecDeque<(usize, f64)>,
    rng: ChaCha8Rng,
    done: u64,
    spoiled: u64,
    blanks_used: u64,
    operator_busy: f64,
    print_waits: (f64, u64),
    reload_waits: (f64, u64),
}

impl Sim<'_> {
    fn at(&mut self, delay: f64, kind: Kind) {
        self.seq += 1;
        self.events.push(Event {
            at: self.now + delay,
            seq: self.seq,
            kind,
        });
    }

    /// Time within the shift of an interval that started at `since` and ends now.
    fn within(&self, since: f64) -> f64 {
        (self.now.min(self.end) - since.min(self.end)).max(0.0)
    }

    fn start_encode(&mut self, l: usize) {
        let lane = &mut self.lanes[l];
        if lane.encoding || lane.blocked_since.is_some() || lane.starved_since.is_some() {
            return;
        }
        if self.p.reload_every > 0 && lane.blanks == 0 {
            lane.starved_since = Some(self.now);
            self.reload_queue.push_back((l, self.now));
            self.serve_reloads();
            return;
        }
        if self.p.reload_every > 0 {
            lane.blanks -= 1;
        }
        lane.encoding = true;
        self.blanks_used += 1;
        let start = self.now;
        // Only the part inside the shift counts towards utilisation.
        let busy = (start + self.p.encode_seconds).min(self.end) - start.min(self.end);
        self.lanes[l].encode_busy += busy.max(0.0);
        self.at(self.p.encode_seconds, Kind::Encoded(l));
    }

    fn serve_reloads(&mut self) {
        while self.free_operators > 0 {
            let Some((l, since)) = self.reload_queue.pop_front() else {
                break;
            };
            self.free_operators -= 1;
            self.reload_waits.0 += self.now - since;
            self.reload_waits.1 += 1;
            let busy = (self.now + self.p.reload_seconds).min(self.end) - self.now.min(self.end);
            self.operator_busy += busy.max(0.0);
            self.at(self.p.reload_seconds, Kind::Reloaded(l));
        }
    }

    fn start_print(&mut self, l: usize) {
        let lane = &mut self.lanes[l];
        if lane.printing {
            return;
        }
        let Some(put_at) = lane.handoff.take() else {
            return;
        };
        lane.printing = true;
        self.print_waits.0 += self.now - put_at;
        self.print_waits.1 += 1;
        let busy = (self.now + self.p.print_seconds).min(self.end) - self.now.min(self.end);
        self.lanes[l].print_busy += busy.max(0.0);
        self.at(self.p.print_seconds, Kind::Printed(l));
        // The hand-off has room again: a blocked encoder puts its card there.
        if let Some(since) = self.lanes[l].blocked_since.take() {
            let blocked = self.within(since);
            self.lanes[l].blocked += blocked;
            self.lanes[l].handoff = Some(self.now);
            self.start_encode(l);
        }
    }

    fn handle(&mut self, e: Event) {
        self.now = e.at;
        match e.kind {
            Kind::Encoded(l) => {
                self.lanes[l].encoding = false;
                if self.rng.gen_bool(self.p.spoil_rate) {
                    self.spoiled += 1;
                } else if self.lanes[l].handoff.is_none() {
                    self.lanes[l].handoff = Some(self.now);
                    self.start_print(l);
                } else {
                    self.lanes[l].blocked_since = Some(self.now);
                    return;
                }
                self.start_encode(l);
            }
            Kind::Printed(l) => {
                self.lanes[l].printing = false;
                if self.now <= self.end + 1e-9 {
                    self.done += 1;
                }
                self.start_print(l);
            }
            Kind::Reloaded(l) => {
                self.free_operators += 1;
                if let Some(since) = self.lanes[l].starved_since.take() {
                    let starved = self.within(since);
                    self.lanes[l].starved += starved;
                }
                self.lanes[l].blanks = self.p.reload_every;
                self.start_encode(l);
                self.serve_reloads();
            }
        }
    }
}

/// Runs one shift of the line and reports what it produced.
pub fn simulate(p: &LineParams) -> Result<Outcome, ParamError> {
    p.validate()?;
    let end = p.hours * 3600.0;
    let lanes = p.lanes as usize;
    let mut sim = Sim {
        p,
        end,
        now: 0.0,
        seq: 0,
        events: BinaryHeap::new(),
        lanes: vec![
            Lane {
                blanks: p.reload_every,
                ..Lane::default()
            };
            lanes
        ],
        free_operators: p.operators,
        reload_queue: VecDeque::new(),
        rng: ChaCha8Rng::seed_from_u64(p.seed),
        done: 0,
        spoiled: 0,
        blanks_used: 0,
        operator_busy: 0.0,
        print_waits: (0.0, 0),
        reload_waits: (0.0, 0),
    };
    for l in 0..lanes {
        sim.start_encode(l);
    }
    while let Some(e) = sim.events.pop() {
        if e.at > end {
            sim.now = end;
            break;
        }
        sim.handle(e);
    }
    sim.now = end;
    // Close the intervals still open at the end of the shift.
    for l in 0..lanes {
        if let Some(since) = sim.lanes[l].blocked_since {
            let d = sim.within(since);
            sim.lanes[l].blocked += d;
        }
        if let Some(since) = sim.lanes[l].starved_since {
            let d = sim.within(since);
            sim.lanes[l].starved += d;
        }
    }
    let per_lane = end * lanes as f64;
    let sum = |f: fn(&Lane) -> f64| sim.lanes.iter().map(f).sum::<f64>() / per_lane;
    let encoder_utilisation = sum(|l| l.encode_busy);
    let printer_utilisation = sum(|l| l.print_busy);
    let encoder_waiting_for_blanks = sum(|l| l.starved);
    let bottleneck = if printer_utilisation >= encoder_utilisation.max(0.0) - 1e-9
        && printer_utilisation > 0.95
    {
        "printing"
    } else if encoder_waiting_for_blanks > 0.05 {
        "blanks"
    } else {
        "encoding"
    };
    let mean = |(sum, n): (f64, u64)| if n == 0 { 0.0 } else { sum / n as f64 };
    Ok(Outcome {
        cards_per_day: sim.done,
        cards_per_hour: sim.done as f64 / p.hours,
        spoiled: sim.spoiled,
        blanks_used: sim.blanks_used,
        encoder_utilisation,
        encoder_blocked: sum(|l| l.blocked),
        encoder_waiting_for_blanks,
        printer_utilisation,
        operator_utilisation: if p.reload_every > 0 {
            sim.operator_busy / (end * f64::from(p.operators))
        } else {
            0.0
        },
        mean_print_queue_wait: mean(sim.print_waits),
        mean_reload_wait: mean(sim.reload_waits),
        bottleneck,
    })
}

/// Good cards per second of the slowest stage, when no operator is ever the constraint (enough
/// operators, or no reloads): each lane prints at most `1 / print` cards a second, and its encoder
/// yields `(1 - spoil) * K / (K * encode + reload)` good cards a second (`K` blanks per hopper;
/// `(1 - spoil) / encode` without reloads).
pub fn closed_form(p: &LineParams) -> f64 {
    let printer = 1.0 / p.print_seconds;
    let encoder = if p.reload_every == 0 {
        (1.0 - p.spoil_rate) / p.encode_seconds
    } else {
        let k = f64::from(p.reload_every);
        (1.0 - p.spoil_rate) * k / (k * p.encode_seconds + p.reload_seconds)
    };
    f64::from(p.lanes) * printer.min(encoder)
}

/// The smallest number of lanes (up to `max_lanes`) whose shift yields at least `cards` cards,
/// with the outcome; `None` when even `max_lanes` lanes do not.
pub fn lanes_for(
    base: &LineParams,
    cards: u64,
    max_lanes: u32,
) -> Result<Option<(u32, Outcome)>, ParamError> {
    // Capacity grows with lanes (more lanes never print less); bisect on it.
    let run = |lanes: u32| {
        simulate(&LineParams {
            lanes,
            ..base.clone()
        })
    };
    let top = run(max_lanes)?;
    if top.cards_per_day < cards {
        return Ok(None);
    }
    let (mut lo, mut hi, mut best) = (1u32, max_lanes, top);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let out = run(mid)?;
        if out.cards_per_day >= cards {
            hi = mid;
            best = out;
        } else {
            lo = mid + 1;
        }
    }
    // `best` is the outcome of `hi` each time `hi` moves, and of `max_lanes` at the start.
    Ok(Some((hi, best)))
}

#[cfg(test)]
mod tests;
