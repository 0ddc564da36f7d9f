//! The sampling plan: which issued cards QA must inspect. The `[qa]` table of station.toml:
//!
//! ```toml
//! [qa]
//! first_per_lane_per_shift = true   # the first card of each lane in each shift
//! shift_hours = 8                   # shifts start at Moscow midnight: 00-08, 08-16, 16-24
//! one_in = 20                       # and about one card in 20 (0: none)
//! seed = 0                          # which ones: SHA-256(seed, number), so a replay picks the same
//! ```
//!
//! Pure: the store decides with the counts it holds (see `Store::record_issued_card`); no clock,
//! no randomness besides the seeded hash, so the choice is reproducible and auditable.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingPlan {
    /// Inspect the first card of each lane in each shift.
    pub first_per_lane_per_shift: bool,
    /// Shift length, 1 to 24 hours, dividing 24.
    pub shift_hours: u32,
    /// Inspect about one card in this many (0: no random sample).
    pub one_in: u32,
    /// Seed of the random sample.
    pub seed: u64,
}

impl Default for SamplingPlan {
    fn default() -> Self {
        SamplingPlan {
            first_per_lane_per_shift: true,
            shift_hours: 8,
            one_in: 20,
            seed: 0,
        }
    }
}

/// `[qa]` as written in station.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQa {
    first_per_lane_per_shift: Option<bool>,
    shift_hours: Option<u32>,
    one_in: Option<u32>,
    seed: Option<u64>,
}

impl RawQa {
    /// The plan, or `(key, problem)`.
    pub fn resolve(self) -> Result<SamplingPlan, (String, String)> {
        let d = SamplingPlan::default();
        let plan = SamplingPlan {
            first_per_lane_per_shift: self
                .first_per_lane_per_shift
                .unwrap_or(d.first_per_lane_per_shift),
            shift_hours: self.shift_hours.unwrap_or(d.shift_hours),
            one_in: self.one_in.unwrap_or(d.one_in),
            seed: self.seed.unwrap_or(d.seed),
        };
        if !(1..=24).contains(&plan.shift_hours) || 24 % plan.shift_hours != 0 {
            return Err((
                "qa.shift_hours".into(),
                format!(
                    "{} must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)",
                    plan.shift_hours
                ),
            ));
        }
        Ok(plan)
    }
}

const MOSCOW_MS: i64 = 3 * 3_600_000;

impl SamplingPlan {
    /// Start (ms since the Unix epoch) of the shift holding `ms`.
    pub fn shift_start_ms(&self, ms: i64) -> i64 {
        let len = i64::from(self.shift_hours) * 3_600_000;
        (ms + MOSCOW_MS).div_euclid(len) * len - MOSCOW_MS
    }

    /// Whether the seeded hash picks `number`.
    pub fn picked(&self, number: &str) -> bool {
        if self.one_in == 0 {
            return false;
        }
        let h = Sha256::new()
            .chain_update(self.seed.to_be_bytes())
            .chain_update(number.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first) % u64::from(self.one_in) == 0
    }

    /// Why a card must be inspected (empty: it need not). `earlier_in_shift` is how many cards
    /// its lane recorded earlier in the same shift.
    pub fn reasons(&self, number: &str, earlier_in_shift: i64) -> Vec<String> {
        let mut r = Vec::new();
        if self.first_per_lane_per_shift && earlier_in_shift == 0 {
            r.push("first_of_shift".to_string());
        }
        if self.picked(number) {
            r.push(format!("one_in_{}", self.one_in));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_start_at_moscow_midnight() {
        let p = SamplingPlan::default();
        // 2026-11-25 05:00 UTC = 08:00 Moscow: a shift starts.
        let t = 1_795_582_800_000;
        assert_eq!(p.shift_start_ms(t), t);
        assert_eq!(p.shift_start_ms(t - 1), t - 8 * 3_600_000);
        assert_eq!(p.shift_start_ms(t + 8 * 3_600_000 - 1), t);
    }

    #[test]
    fn one_in_n_picks_about_that_share_and_is_reproducible() {
        let p = SamplingPlan {
            one_in: 20,
            ..SamplingPlan::default()
        };
        let picked = (1..=10_000)
            .filter(|n| p.picked(&format!("77{n:07}")))
            .count();
        assert!((400..=600).contains(&picked), "{picked}");
        let again = (1..=10_000)
            .filter(|n| p.picked(&format!("77{n:07}")))
            .count();
        assert_eq!(picked, again);
        let none = SamplingPlan {
            one_in: 0,
            ..SamplingPlan::default()
        };
        assert_eq!(none.reasons("770000001", 3), Vec::<String>::new());
        assert_eq!(none.reasons("770000001", 0), vec!["first_of_shift"]);
    }

    #[test]
    fn shift_hours_must_divide_a_day() {
        let raw = RawQa {
            shift_hours: Some(7),
            ..RawQa::default()
        };
        assert_eq!(
            raw.resolve(),
            Err((
                "qa.shift_hours".into(),
                "7 must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)".into()
            ))
        );
    }

    #[test]
    fn station_toml_qa_table() {
        let base = std::path::Path::new("/");
        let c = crate::config::StationConfig::parse(
            "[qa]\nfirst_per_lane_per_shift = false\nshift_hours = 12\none_in = 5\nseed = 7\n",
            "station.toml",
            base,
            None,
        )
        .unwrap();
        assert_eq!(
            c.qa,
            SamplingPlan {
                first_per_lane_per_shift: false,
                shift_hours: 12,
                one_in: 5,
                seed: 7
            }
        );
        let e = crate::config::StationConfig::parse(
            "[qa]\nshift_hours = 5\n",
            "station.toml",
            base,
            None,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "config station.toml: qa.shift_hours: 5 must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)"
        );
        let e =
            crate::config::StationConfig::parse("[qa]\nevery = 3\n", "station.toml", base, None)
                .unwrap_err()
                .to_string();
        assert!(e.contains("unknown field `every`"), "{e}");
    }
}
