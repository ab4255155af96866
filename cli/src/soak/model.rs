//! The soak run's model: every state's values (a `HashMap`), and per state and key group an entry count and an
//! order-independent fingerprint, kept up to date on every write so that capturing the model at a snapshot is
//! a copy of `states x key groups` cells, not of the entries.

use cow_state_table::keygroup::KeyGroupContext;
use std::collections::HashMap;

/// Count and fingerprint of one key group of one state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// Entries.
    pub count: u64,
    /// Wrapping sum of [`mix`] over the entries.
    pub fingerprint: u64,
}

impl Cell {
    fn add(&mut self, key: u64, ns: u32, s: u64) {
        self.count += 1;
        self.fingerprint = self.fingerprint.wrapping_add(mix(key, ns, s));
    }
    fn sub(&mut self, key: u64, ns: u32, s: u64) {
        self.count -= 1;
        self.fingerprint = self.fingerprint.wrapping_sub(mix(key, ns, s));
    }
}

/// An entry's contribution to a fingerprint.
pub fn mix(key: u64, ns: u32, state: u64) -> u64 {
    let mut x = key ^ (u64::from(ns) << 40) ^ state.rotate_left(17);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The model at one instant: `cells[state][key_group]`.
pub type Capture = Vec<Vec<Cell>>;

/// Per-state cells of the entries of `entries`, grouped by key group of `ctx` (all key groups, not only the
/// context's range).
pub fn cells_of<'a>(ctx: KeyGroupContext, entries: impl Iterator<Item = (&'a u64, &'a u32, &'a u64)>) -> Vec<Cell> {
    let mut cells = vec![Cell::default(); ctx.max_parallelism() as usize];
    for (k, n, s) in entries {
        cells[ctx.key_group_of(k) as usize].add(*k, *n, *s);
    }
    cells
}

/// The model.
#[derive(Debug)]
pub struct Model {
    ctx: KeyGroupContext,
    values: Vec<HashMap<(u64, u32), u64>>,
    cells: Capture,
}

impl Model {
    /// An empty model of `states` states over `ctx`'s key groups.
    pub fn new(states: usize, ctx: KeyGroupContext) -> Self {
        Model {
            ctx,
            values: (0..states).map(|_| HashMap::new()).collect(),
            cells: vec![vec![Cell::default(); ctx.max_parallelism() as usize]; states],
        }
    }

    /// The state of `(key, ns)` in `state`.
    pub fn get(&self, state: usize, key: u64, ns: u32) -> Option<u64> {
        self.values[state].get(&(key, ns)).copied()
    }

    /// Sets `(key, ns)` to `value` (or removes it for `None`); returns the old state.
    pub fn set(&mut self, state: usize, key: u64, ns: u32, value: Option<u64>) -> Option<u64> {
        let kg = self.ctx.key_group_of(&key) as usize;
        let cell = &mut self.cells[state][kg];
        let old = match value {
            Some(v) => self.values[state].insert((key, ns), v),
            None => self.values[state].remove(&(key, ns)),
        };
        if let Some(o) = old {
            cell.sub(key, ns, o);
        }
        if let Some(v) = value {
            cell.add(key, ns, v);
        }
        old
    }

    /// The model now.
    pub fn capture(&self) -> Capture {
        self.cells.clone()
    }
}
