//! The suppression pattern of one period (the rule is in the parent module's doc): exact counts
//! of every cell of every table of up to [`MAX_KEYS`] dimensions, primary suppression below
//! [`THRESHOLD`], then complementary suppression over every line of the lattice until nothing
//! changes. Deterministic: the same fact rows give the same pattern, whatever is asked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hasher (the Fx hash of rustc) for the pattern's maps: their keys are small
/// integers made here, never outside input, so a DoS-resistant hash buys nothing and costs a lot.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<Fx>>;

use super::{DIMS, MAX_KEYS, Request, THRESHOLD};

const NONE: u32 = u32::MAX;
/// Atoms are also merged over the first 1, 2 and 3 dimensions for the tables that lack them.
const LEVELS: usize = 3;
/// A table with more possible cells than this is counted in a hash map instead.
const DENSE_LIMIT: usize = 1 << 24;

/// A cell of the lattice: which dimensions (a bit per [`Dim`]) and their values (interned, in
/// dimension order, unused slots `NONE`).
type Cell = (u16, [u32; MAX_KEYS]);

/// The counts and the pattern of one period.
#[derive(Debug, Default)]
pub struct Pattern {
    values: Vec<Vec<String>>,
    ids: Vec<HashMap<String, u32>>,
    counts: FastMap<Cell, u64>,
    suppressed: FastSet<Cell>,
    /// The cells of each table (by dimension mask), sorted.
    by_mask: FastMap<u16, Vec<Cell>>,
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
        // Atoms as value ids, numbered in the order first met. The maps borrow the atoms' text
        // (no string made per lookup), and a value equal to the previous atom's in the same
        // dimension (common: the store returns atoms in key order) skips the map.
        let mut coded: Vec<([u32; DIMS.len()], u64)> = Vec::with_capacity(atoms.len());
        {
            let mut seen: Vec<FastMap<&str, u32>> = vec![FastMap::default(); DIMS.len()];
            let mut prev: Option<&[S]> = None;
            for (vals, n) in atoms {
                if *n == 0 || vals.len() != DIMS.len() {
                    continue;
                }
                let mut ids = [0u32; DIMS.len()];
                for (d, v) in vals.iter().enumerate() {
                    let v = v.as_ref();
                    let same = prev.is_some_and(|pv| pv[d].as_ref() == v);
                    ids[d] = match (same, coded.last()) {
                        (true, Some((last, _))) => last[d],
                        _ => {
                            let next = seen[d].len() as u32;
                            let id = *seen[d].entry(v).or_insert(next);
                            if id == next {
                                p.values[d].push(v.to_string());
                            }
                            id
                        }
                    };
                }
                p.rows += n;
                coded.push((ids, *n));
                prev = Some(vals);
            }
        }
        for (d, vals) in p.values.iter().enumerate() {
            p.ids[d] = vals
                .iter()
                .enumerate()
                .map(|(i, v)| (v.clone(), i as u32))
                .collect();
        }
        let card: Vec<usize> = p.values.iter().map(|v| v.len().max(1)).collect();
        // Each table counted in a dense array (a table crosses at most 3 dimensions of a few
        // dozen values each, so it is small and stays in cache), many times faster than hashing
        // every cell of every atom. Only the widest tables are counted from the atoms; a
        // narrower one is summed from a counted table one dimension wider (a few thousand
        // cells instead of every atom again).
        let dims_of =
            |m: u16| -> Vec<usize> { (0..DIMS.len()).filter(|d| m & (1 << d) != 0).collect() };
        let size_of = |m: u16| -> usize { dims_of(m).iter().map(|d| card[*d]).product() };
        // And a table that does not cross the first k dimensions (month, station, region) is
        // counted from the atoms merged over them: a third of the atoms without the month, fewer
        // again without station and region.
        let mut levels: Vec<Vec<([u32; DIMS.len()], u64)>> = vec![coded];
        for k in 1..=LEVELS {
            let mut merged: FastMap<[u32; DIMS.len()], u64> = FastMap::default();
            for (ids, n) in &levels[k - 1] {
                let mut key = *ids;
                key[k - 1] = 0;
                *merged.entry(key).or_insert(0) += n;
            }
            levels.push(merged.into_iter().collect());
        }
        let atoms_of = |m: u16| &levels[(m.trailing_zeros() as usize).min(LEVELS)];
        let mut dense: FastMap<u16, Vec<u64>> = FastMap::default();
        let mut by_width: Vec<u16> = masks();
        by_width.sort_by_key(|m| std::cmp::Reverse(m.count_ones()));
        for &m in &by_width {
            let ds = dims_of(m);
            let size = size_of(m);
            if size > DENSE_LIMIT {
                for (ids, n) in atoms_of(m) {
                    *p.counts.entry(project(m, ids)).or_insert(0) += n;
                }
                continue;
            }
            let mut table = vec![0u64; size];
            let wider = (0..DIMS.len())
                .filter(|d| m & (1 << d) == 0)
                .map(|d| m | (1 << d))
                .find(|w| dense.contains_key(w));
            match wider.and_then(|w| dense.get(&w).map(|t| (w, t))) {
                Some((w, from)) => {
                    // Sum out the one dimension of `w` that `m` lacks.
                    let wds = dims_of(w);
                    for (mut i, n) in from.iter().enumerate() {
                        if *n == 0 {
                            continue;
                        }
                        let mut vals = [0usize; MAX_KEYS];
                        for (k, d) in wds.iter().enumerate().rev() {
                            vals[k] = i % card[*d];
                            i /= card[*d];
                        }
                        let mut j = 0usize;
                        for (k, d) in wds.iter().enumerate() {
                            if m & (1 << d) != 0 {
                                j = j * card[*d] + vals[k];
                            }
                        }
                        table[j] += n;
                    }
                }
                None => {
                    for (ids, n) in atoms_of(m) {
                        let mut i = 0usize;
                        for d in &ds {
                            i = i * card[*d] + ids[*d] as usize;
                        }
                        table[i] += n;
                    }
                }
            }
            for (mut i, n) in table.iter().copied().enumerate() {
                if n == 0 {
                    continue;
                }
                let mut vals = [NONE; MAX_KEYS];
                for (k, d) in ds.iter().enumerate().rev() {
                    vals[k] = (i % card[*d]) as u32;
                    i /= card[*d];
                }
                p.counts.insert((m, vals), n);
            }
            dense.insert(m, table);
        }
        drop(dense);
        // Every cell gets an index (sorted, so the pattern does not depend on hash order).
        let mut cells: Vec<Cell> = p.counts.keys().copied().collect();
        cells.sort_unstable();
        let index: FastMap<Cell, u32> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u32))
            .collect();
        let count: Vec<u64> = cells
            .iter()
            .map(|c| p.counts.get(c).copied().unwrap_or(0))
            .collect();
        // Lines: (parent cell, dimension added) -> the cells of the finer table under it.
        let mut line_of: FastMap<(u32, u8), u32> = FastMap::default();
        let mut lines: Vec<(u32, Vec<u32>)> = Vec::new();
        for (i, &cell) in cells.iter().enumerate() {
            for d in 0..DIMS.len() {
                if cell.0 & (1 << d) == 0 {
                    continue;
                }
                let Some(&top) = index.get(&parent(cell, d)) else {
                    continue;
                };
                let l = *line_of.entry((top, d as u8)).or_insert_with(|| {
                    lines.push((top, Vec::new()));
                    (lines.len() - 1) as u32
                });
                lines[l as usize].1.push(i as u32);
            }
        }
        drop(line_of);
        // Children smallest first (ties by cell): the first published one is the one to add.
        for (_, children) in &mut lines {
            children.sort_unstable_by_key(|c| (count[*c as usize], *c));
        }
        let mut child_in: Vec<Vec<u32>> = vec![Vec::new(); cells.len()];
        let mut parent_of: Vec<Vec<u32>> = vec![Vec::new(); cells.len()];
        for (l, (top, children)) in lines.iter().enumerate() {
            parent_of[*top as usize].push(l as u32);
            for c in children {
                child_in[*c as usize].push(l as u32);
            }
        }
        // Primary suppression.
        let mut hidden_cell: Vec<bool> = count.iter().map(|n| *n < THRESHOLD).collect();
        let mut hidden_in_line: Vec<u32> = lines
            .iter()
            .map(|(_, ch)| ch.iter().filter(|c| hidden_cell[**c as usize]).count() as u32)
            .collect();
        // Complementary suppression: a work list of lines to check; a newly suppressed cell puts
        // back every line it belongs to, as child or as total. The set only grows, so this ends.
        if complementary {
            let mut queued = vec![true; lines.len()];
            let mut work: std::collections::VecDeque<u32> = (0..lines.len() as u32).collect();
            while let Some(l) = work.pop_front() {
                queued[l as usize] = false;
                let (top, children) = &lines[l as usize];
                let top_hidden = hidden_cell[*top as usize];
                let hidden = hidden_in_line[l as usize];
                let smallest_shown = children
                    .iter()
                    .find(|c| !hidden_cell[**c as usize])
                    .copied();
                let add = if top_hidden && hidden == 0 {
                    smallest_shown
                } else if !top_hidden && hidden == 1 {
                    Some(smallest_shown.unwrap_or(*top))
                } else {
                    None
                };
                let Some(c) = add else { continue };
                hidden_cell[c as usize] = true;
                for &m in &child_in[c as usize] {
                    hidden_in_line[m as usize] += 1;
                }
                for &m in child_in[c as usize].iter().chain(&parent_of[c as usize]) {
                    if !queued[m as usize] {
                        queued[m as usize] = true;
                        work.push_back(m);
                    }
                }
            }
        }
        p.suppressed = cells
            .iter()
            .zip(&hidden_cell)
            .filter(|(_, h)| **h)
            .map(|(c, _)| *c)
            .collect();
        for c in cells {
            p.by_mask.entry(c.0).or_default().push(c);
        }
        p
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
            for cell in self
                .by_mask
                .get(&mask)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let n = &self.counts.get(cell).copied().unwrap_or(0);
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
