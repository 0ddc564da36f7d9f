//! Suppression on small hand-made tables, the differencing attacks (which must fail), and the
//! exactness property.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::stats::{DIMS, Dim};

type Key = BTreeSet<(Dim, String)>;

/// One fact with nationality, sex and age band given and every other dimension fixed.
fn fact(nat: &str, sex: &str, age: &str, n: u64) -> (Vec<String>, u64) {
    atom(
        [
            "2026-11",
            "st-1",
            "RU-MOW",
            nat,
            age,
            sex,
            "first_issue",
            "none",
            "false",
            "issued",
        ],
        n,
    )
}

fn req(by: &str, filter: &str) -> Request {
    Request::parse(Some("2026-11"), Some("2026-11"), Some(by), Some(filter)).unwrap()
}

fn cell<'a>(t: &'a Table, keys: &[&str]) -> &'a Answer {
    t.cells
        .iter()
        .find(|c| c.keys.iter().map(String::as_str).eq(keys.iter().copied()))
        .unwrap_or_else(|| panic!("no cell {keys:?} in {t:#?}"))
}

/// Every table an analyst can ask for (every set of at most 3 dimensions), answered.
fn every_table(p: &Pattern) -> Vec<(Vec<Dim>, Table)> {
    let mut out = Vec::new();
    for m in 0u16..(1 << DIMS.len()) {
        if m.count_ones() as usize > MAX_KEYS {
            continue;
        }
        let by: Vec<Dim> = DIMS
            .into_iter()
            .filter(|d| m & (1 << d.index()) != 0)
            .collect();
        let names: Vec<&str> = by.iter().map(|d| d.as_str()).collect();
        out.push((by, p.answer(&req(&names.join(","), ""))));
    }
    out
}

/// The attacker: takes every published count of every table, knows the structure (which cells
/// exist; absent ones are 0) and solves every line (a cell equals the sum of the cells of a finer
/// table under it) with one unknown, over and over. Returns the suppressed cells it recovered.
fn differencing_attack(p: &Pattern) -> Vec<(Key, u64)> {
    let tables = every_table(p);
    let mut exact: HashMap<Key, u64> = HashMap::new();
    let mut known: HashMap<Key, u64> = HashMap::new();
    for (by, t) in &tables {
        let key = |a: &Answer| -> Key { by.iter().copied().zip(a.keys.iter().cloned()).collect() };
        if by.is_empty() {
            exact.insert(Key::new(), t.total_exact);
            if !t.total_suppressed {
                known.insert(Key::new(), t.total_exact);
            }
        }
        for a in &t.cells {
            exact.insert(key(a), a.exact);
            if !a.suppressed {
                known.insert(key(a), a.exact);
            }
        }
    }
    // Lines: parent -> children per added dimension.
    let mut lines: HashMap<(Key, Dim), Vec<Key>> = HashMap::new();
    for k in exact.keys() {
        for (d, v) in k {
            let mut parent = k.clone();
            parent.remove(&(*d, v.clone()));
            lines.entry((parent, *d)).or_default().push(k.clone());
        }
    }
    let mut recovered = Vec::new();
    loop {
        let mut progress = false;
        for ((parent, _), children) in &lines {
            let unknown: Vec<&Key> = children
                .iter()
                .filter(|c| !known.contains_key(*c))
                .collect();
            let sum: u64 = children.iter().filter_map(|c| known.get(c)).sum();
            match (known.get(parent).copied(), unknown.as_slice()) {
                (Some(total), [one]) => {
                    let v = total - sum;
                    known.insert((*one).clone(), v);
                    recovered.push(((*one).clone(), v));
                    progress = true;
                }
                (None, []) => {
                    known.insert(parent.clone(), sum);
                    recovered.push((parent.clone(), sum));
                    progress = true;
                }
                _ => {}
            }
        }
        if !progress {
            break;
        }
    }
    recovered
}

fn hand_made() -> Vec<(Vec<String>, u64)> {
    vec![
        fact("UZB", "M", "25-34", 40),
        fact("UZB", "F", "25-34", 30),
        fact("UZB", "M", "35-44", 25),
        fact("UZB", "F", "35-44", 22),
        fact("TJK", "M", "25-34", 7), // the small cell
        fact("TJK", "F", "25-34", 12),
        fact("TJK", "M", "35-44", 11),
        fact("TJK", "F", "35-44", 14),
        fact("KGZ", "M", "18-24", 3), // KGZ is small everywhere
        fact("KGZ", "F", "18-24", 15),
    ]
}

#[test]
fn small_cells_are_suppressed_never_zero_and_big_ones_published() {
    let p = Pattern::build(&hand_made());
    assert_eq!(p.rows(), 179);
    let t = p.answer(&req("nationality,sex,age_band", ""));
    assert!(cell(&t, &["TJK", "M", "25-34"]).suppressed);
    assert!(cell(&t, &["KGZ", "M", "18-24"]).suppressed);
    // UZB M 25-34 (40) is big but goes too: with TJK M 25-34 (7) it is the whole line under
    // the published `age_band x sex` cell 25-34 M (47), which would give the 7 away.
    let by_age_sex = p.answer(&req("age_band,sex", ""));
    assert!(!cell(&by_age_sex, &["25-34", "M"]).suppressed);
    assert!(cell(&t, &["UZB", "M", "25-34"]).suppressed);
    // Coarser tables keep big cells.
    let by_nat_sex = p.answer(&req("nationality,sex", ""));
    assert_eq!(
        (
            cell(&by_nat_sex, &["UZB", "M"]).exact,
            cell(&by_nat_sex, &["UZB", "M"]).suppressed
        ),
        (65, false)
    );
    let by_nat = p.answer(&req("nationality", ""));
    assert!(by_nat.cells.iter().all(|c| !c.suppressed));
    for c in t
        .cells
        .iter()
        .chain(&by_nat_sex.cells)
        .chain(&by_age_sex.cells)
    {
        assert!(c.suppressed || c.exact >= THRESHOLD, "{c:?}");
    }
}

#[test]
fn two_requests_with_different_groupings_cannot_be_differenced() {
    let p = Pattern::build(&hand_made());
    // The attack of the issue: TJK by nationality, then TJK by nationality and sex.
    let by_nat = p.answer(&req("nationality", ""));
    let by_nat_sex = p.answer(&req("nationality,sex", ""));
    let tjk = cell(&by_nat, &["TJK"]);
    let tjk_m = cell(&by_nat_sex, &["TJK", "M"]);
    let tjk_f = cell(&by_nat_sex, &["TJK", "F"]);
    // TJK M is 18 people, but within nationality x sex x age band it holds the 7: its finer
    // line must keep a second suppressed cell, and nationality x sex must not show both TJK
    // cells next to a published TJK total with a single suppressed one.
    let hidden = [tjk.suppressed, tjk_m.suppressed, tjk_f.suppressed];
    assert_ne!(
        hidden.iter().filter(|h| **h).count(),
        1,
        "one suppressed cell in a published line: {hidden:?}"
    );
    // KGZ M (3) next to KGZ F (15) and KGZ (18): the total must not give it away.
    let kgz = cell(&by_nat, &["KGZ"]);
    let kgz_m = cell(&by_nat_sex, &["KGZ", "M"]);
    let kgz_f = cell(&by_nat_sex, &["KGZ", "F"]);
    assert!(kgz_m.suppressed);
    assert!(
        kgz_f.suppressed || kgz.suppressed,
        "KGZ {kgz:?} F {kgz_f:?}"
    );
    // And the full attacker, over every table of the period, recovers nothing.
    assert_eq!(differencing_attack(&p), Vec::new());
}

#[test]
fn without_complementary_suppression_the_attack_succeeds() {
    // Proof that the attacker is real: primary suppression alone leaks the small cells.
    let p = Pattern::build_with(&hand_made(), false);
    let got = differencing_attack(&p);
    let kgz_m: Key = [
        (Dim::Nationality, "KGZ".to_string()),
        (Dim::Sex, "M".to_string()),
    ]
    .into_iter()
    .collect();
    assert!(got.contains(&(kgz_m, 3)), "{got:?}");
}

#[test]
fn a_filter_is_a_slice_of_the_same_pattern() {
    let p = Pattern::build(&hand_made());
    let full = p.answer(&req("nationality,sex", ""));
    let slice = p.answer(&req("sex", "nationality:TJK"));
    for c in &slice.cells {
        let f = cell(&full, &["TJK", &c.keys[0]]);
        assert_eq!((c.exact, c.suppressed), (f.exact, f.suppressed));
    }
    let by_nat = p.answer(&req("nationality", ""));
    let tjk = cell(&by_nat, &["TJK"]);
    assert_eq!(
        (slice.total_exact, slice.total_suppressed),
        (tjk.exact, tjk.suppressed)
    );
    // An unknown filter value: nothing, total 0 (no one), not suppressed.
    let none = p.answer(&req("sex", "nationality:FRA"));
    assert!(none.cells.is_empty());
    assert_eq!((none.total_exact, none.total_suppressed), (0, false));
}

fn small_dataset() -> impl Strategy<Value = Vec<(Vec<String>, u64)>> {
    let one = (0..3usize, 0..2usize, 0..3usize, 0..2usize, 1u64..30).prop_map(
        |(nat, sex, age, kind, n)| {
            let nat = ["UZB", "TJK", "KGZ"][nat];
            let sex = ["M", "F"][sex];
            let age = ["18-24", "25-34", "35-44"][age];
            let (kind, cause) = [("first_issue", "none"), ("replacement", "lost")][kind];
            atom(
                [
                    "2026-11", "st-1", "RU-MOW", nat, age, sex, kind, cause, "false", "issued",
                ],
                n,
            )
        },
    );
    prop::collection::vec(one, 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn published_plus_suppressed_equals_the_fact_rows(atoms in small_dataset(), by in prop::sample::subsequence(vec!["nationality", "sex", "age_band", "kind"], 0..=3)) {
        let p = Pattern::build(&atoms);
        let rows: u64 = atoms.iter().map(|a| a.1).sum();
        prop_assert_eq!(p.rows(), rows);
        let t = p.answer(&req(&by.join(","), ""));
        let sum: u64 = t.cells.iter().map(|c| c.exact).sum();
        prop_assert_eq!(sum, rows);
        prop_assert_eq!(t.total_exact, rows);
        for c in &t.cells {
            prop_assert!(c.exact > 0);
            prop_assert!(c.suppressed || c.exact >= THRESHOLD);
        }
    }

    #[test]
    fn the_attacker_recovers_nothing_on_random_tables(atoms in small_dataset()) {
        let p = Pattern::build(&atoms);
        prop_assert_eq!(differencing_attack(&p), Vec::new());
    }
}

/// Atoms over several dimensions at once, in any order, with repeats and zero counts: what a
/// store may hand over.
fn varied_dataset() -> impl Strategy<Value = Vec<(Vec<String>, u64)>> {
    let one = (
        (0..3usize, 0..2usize, 0..3usize, 0..4usize),
        (0..3usize, 0..2usize, 0..2usize, 0..2usize),
        0u64..15,
    )
        .prop_map(|((month, st, region, nat), (age, sex, kind, outcome), n)| {
            let (kind, cause) = [("first_issue", "none"), ("replacement", "lost")][kind];
            atom(
                [
                    ["2026-10", "2026-11", "2026-12"][month],
                    ["st-2", "st-1"][st],
                    ["RU-MOS", "RU-MOW", "unknown"][region],
                    ["UZB", "TJK", "KGZ", "ARM"][nat],
                    ["35-44", "18-24", "25-34"][age],
                    ["M", "F"][sex],
                    kind,
                    cause,
                    "false",
                    ["issued", "spoiled"][outcome],
                ],
                n,
            )
        });
    prop::collection::vec(one, 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The counting shortcuts (narrow tables summed from wider ones, the previous atom's ids
    /// reused) give the counts and the value numbering of the plain way: every cell of every
    /// table hashed from every atom, values numbered as first met.
    #[test]
    fn lattice_counts_match_a_plain_count(atoms in varied_dataset()) {
        let p = Pattern::build(&atoms);
        let mut values: Vec<Vec<String>> = vec![Vec::new(); DIMS.len()];
        let mut plain: std::collections::BTreeMap<Cell, u64> = Default::default();
        for (vals, n) in &atoms {
            if *n == 0 {
                continue;
            }
            let mut ids = [0u32; DIMS.len()];
            for (d, v) in vals.iter().enumerate() {
                let id = match values[d].iter().position(|x| x == v) {
                    Some(i) => i,
                    None => {
                        values[d].push(v.clone());
                        values[d].len() - 1
                    }
                };
                ids[d] = id as u32;
            }
            for m in masks() {
                *plain.entry(project(m, &ids)).or_insert(0) += n;
            }
        }
        prop_assert_eq!(&p.values, &values);
        let counted: std::collections::BTreeMap<Cell, u64> =
            p.counts.iter().map(|(c, n)| (*c, *n)).collect();
        prop_assert_eq!(counted, plain);
    }
}
