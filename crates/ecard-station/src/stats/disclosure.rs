//! The suppression pattern of one period (the rule is in the parent module's doc): exact counts
//! of every cell of every table of up to [`MAX_KEYS`] dimensions, primary suppression below
//! [`THRESHOLD`], then complementary suppression over every line of the lattice until nothing
//! changes. Deterministic: the same fact rows give the same pattern, whatever is asked.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{DIMS, MAX_KEYS, Request, THRESHOLD};

const NONE: u32 = u32::MAX;

/// A cell of the lattice: which dimensions (a bit per [`Dim`]) and their values (interned, in
/// dimension order, unused slots `NONE`).
type Cell = (u16, [u32; MAX_KEYS]);

/// The counts and the pattern of one period.
#[derive(Debug, Default)]
pub struct Pattern {
    values: Vec<Vec<String>>,
    ids: Vec<HashMap<String, u32>>,
    counts: HashMap<Cell, u64>,
    suppressed: HashSet<Cell>,
    rows: u64,
}

/// One answered cell: its values (in the order of `Request::by`), the exact count (kept
/// internally for tests and benchmarks) and whether it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The grouping values, one per `by` dimension.
    pub keys: Vec<String>,
    /// Exact count; only shown when `!suppressed`.
    pub exact: u64,
    /// Whether the count is withheld.
    pub suppressed: bool,
}

/// An answered request: its cells (sorted by keys) and its total (the cell the filters select,
/// or the grand total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Cells with at least one fact row.
    pub cells: Vec<Answer>,
    /// The total's exact count.
    pub total_exact: u64,
    /// Whether the total is withheld.
    pub total_suppressed: bool,
}

fn masks() -> Vec<u16> {
    (0u16..(1 << DIMS.len()))
        .filter(|m| m.count_ones() as usize <= MAX_KEYS)
        .collect()
}

fn project(mask: u16, atom: &[u32]) -> Cell {
    let mut vals = [NONE; MAX_KEYS];
    let mut i = 0;
    for (d, v) in atom.iter().enumerate() {
        if mask & (1 << d) != 0 {
            vals[i] = *v;
            i += 1;
        }
    }
    (mask, vals)
}

/// Drops dimension `d` (which is in the cell's mask) from a cell.
fn parent(cell: Cell, d: usize) -> Cell {
    let (mask, vals) = cell;
    let mut out = [NONE; MAX_KEYS];
    let mut i = 0;
    let mut j = 0;
    for k in 0..DIMS.len() {
        if mask & (1 << k) != 0 {
            if k != d {
                out[i] = vals[j];
                i += 1;
            }
            j += 1;
        }
    }
    (mask & !(1 << d), out)
}

impl Pattern {
    /// Builds the pattern from the period's fact rows grouped by every dimension: each atom is
    /// one value per [`DIMS`] entry and the number of fact rows that have them.
    pub fn build<S: AsRef<str>>(atoms: &[(Vec<S>, u64)]) -> Pattern {
        Pattern::build_with(atoms, true)
    }

    /// [`Pattern::build`]; `complementary: false` stops after primary suppression (only for
    /// tests that show the attack it prevents).
    pub(crate) fn build_with<S: AsRef<str>>(
        atoms: &[(Vec<S>, u64)],
        complementary: bool,
    ) -> Pattern {
        let mut p = Pattern {
            values: vec![Vec::new(); DIMS.len()],
            ids: vec![HashMap::new(); DIMS.len()],
            ..Pattern::default()
        };
        let masks = masks();
        let mut interned = vec![0u32; DIMS.len()];
        for (vals, n) in atoms {
            if *n == 0 || vals.len() != DIMS.len() {
                continue;
            }
            for (d, v) in vals.iter().enumerate() {
                interned[d] = p.intern(d, v.as_ref());
            }
            p.rows += n;
            for &m in &masks {
                *p.counts.entry(project(m, &interned)).or_insert(0) += n;
            }
        }
        // Lines: (parent cell, dimension added) -> the cells of the finer table under it.
        let mut lines: BTreeMap<(Cell, usize), Vec<Cell>> = BTreeMap::new();
        for &cell in p.counts.keys() {
            for d in 0..DIMS.len() {
                if cell.0 & (1 << d) != 0 {
                    lines.entry((parent(cell, d), d)).or_default().push(cell);
                }
            }
        }
        for cells in lines.values_mut() {
            cells.sort();
        }
        // Primary suppression.
        p.suppressed = p
            .counts
            .iter()
            .filter(|(_, n)| **n < THRESHOLD)
            .map(|(c, _)| *c)
            .collect();
        // Complementary suppression, to a fixed point (the set only grows, so this ends).
        let mut changed = complementary;
        while changed {
            changed = false;
            for ((top, _), cells) in &lines {
                let top_hidden = p.suppressed.contains(top);
                let hidden = cells.iter().filter(|c| p.suppressed.contains(c)).count();
                let smallest_shown = cells
                    .iter()
                    .filter(|c| !p.suppressed.contains(c))
                    .min_by_key(|c| (p.counts.get(c).copied().unwrap_or(0), **c))
                    .copied();
                let add = if top_hidden && hidden == 0 {
                    smallest_shown
                } else if !top_hidden && hidden == 1 {
                    Some(smallest_shown.unwrap_or(*top))
                } else {
                    None
                };
                if let Some(c) = add {
                    p.suppressed.insert(c);
                    changed = true;
                }
            }
        }
        p
    }

    fn intern(&mut self, d: usize, v: &str) -> u32 {
        if let Some(id) = self.ids[d].get(v) {
            return *id;
        }
        let id = self.values[d].len() as u32;
        self.values[d].push(v.to_string());
        self.ids[d].insert(v.to_string(), id);
        id
    }

    /// The number of fact rows of the period.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Answers a request (its period must be the one the pattern was built for).
    pub fn answer(&self, req: &Request) -> Table {
        let mut mask = 0u16;
        for d in req.by.iter().chain(req.filter.keys()) {
            mask |= 1 << d.index();
        }
        let mut filter_mask = 0u16;
        let mut wanted: Vec<(usize, Option<u32>)> = Vec::new();
        for (d, v) in &req.filter {
            filter_mask |= 1 << d.index();
            wanted.push((d.index(), self.ids[d.index()].get(v).copied()));
        }
        // The total: the cell the filters select (the grand total without filters).
        let total_cell = {
            let mut atom = vec![NONE; DIMS.len()];
            for (d, id) in &wanted {
                atom[*d] = id.unwrap_or(NONE);
            }
            project(filter_mask, &atom)
        };
        let known = wanted.iter().all(|(_, id)| id.is_some());
        let total_exact = if known {
            self.counts.get(&total_cell).copied().unwrap_or(0)
        } else {
            0
        };
        let total_suppressed = known && self.suppressed.contains(&total_cell);
        let mut cells = Vec::new();
        if known {
            for (cell, n) in &self.counts {
                if cell.0 != mask {
                    continue;
                }
                let vals = self.unpack(*cell);
                if wanted.iter().any(|(d, id)| vals.get(d).copied() != *id) {
                    continue;
                }
                let keys = req
                    .by
                    .iter()
                    .map(|d| {
                        vals.get(&d.index())
                            .and_then(|id| self.values[d.index()].get(*id as usize))
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect();
                cells.push(Answer {
                    keys,
                    exact: *n,
                    suppressed: self.suppressed.contains(cell),
                });
            }
        }
        cells.sort_by(|a, b| a.keys.cmp(&b.keys));
        Table {
            cells,
            total_exact,
            total_suppressed,
        }
    }

    /// The dimension index → value id of a cell.
    fn unpack(&self, (mask, vals): Cell) -> BTreeMap<usize, u32> {
        let mut out = BTreeMap::new();
        let mut j = 0;
        for d in 0..DIMS.len() {
            if mask & (1 << d) != 0 {
                out.insert(d, vals[j]);
                j += 1;
            }
        }
        out
    }
}

/// Builds the dimension values of a fact for tests: month, station, region, nationality,
/// age band, sex, kind, cause, late, outcome.
#[cfg(test)]
pub(crate) fn atom(v: [&str; 10], n: u64) -> (Vec<String>, u64) {
    (v.iter().map(|s| s.to_string()).collect(), n)
}

#[cfg(test)]
#[path = "disclosure_tests.rs"]
mod tests;
