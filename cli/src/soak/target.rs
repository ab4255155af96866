//! What the soak run drives: a keyed-state target with several named states, snapshotted all at once.
//!
//! Today the target is [`TableSet`], one [`StateTable`] per state (the heap backend's layout: Flink's
//! `HeapKeyedStateBackend` keeps one `CopyOnWriteStateTable` per registered state). The keyed state backend
//! (`src/backend`) replaces it by implementing [`KeyedTarget`]; the writer, the readers, the checkpointer and
//! the verification stay as they are.

use cow_state_table::{DeterministicState, Snapshot, SnapshotError, StateTable};

/// One state's snapshot, readable and checkpointable on any thread.
pub type StateSnapshot = Snapshot<u64, u32, u64>;

/// A keyed-state target with `states()` named states of `(u64 key, u32 namespace) -> u64`.
pub trait KeyedTarget: Send {
    /// Number of states.
    fn states(&self) -> usize;
    /// `put`.
    fn put(&mut self, state: usize, key: u64, ns: u32, value: u64);
    /// In-place update `s = f(s)` of an existing state; returns the old state.
    fn update(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(u64) -> u64) -> Option<u64>;
    /// `transform`: the state becomes `f(old)`; returns `old`.
    fn transform(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(Option<u64>) -> u64) -> Option<u64>;
    /// `remove`; returns the removed state.
    fn remove(&mut self, state: usize, key: u64, ns: u32) -> Option<u64>;
    /// Snapshots every state at one instant (the writer does nothing in between).
    fn snapshot(&mut self) -> Result<Vec<StateSnapshot>, SnapshotError>;
    /// Entries over all states.
    fn entries(&self) -> u64;
    /// Copy-on-write copies so far (nodes, chunks).
    fn copies(&self) -> (u64, u64);
}

/// One [`StateTable`] per state.
#[derive(Debug)]
pub struct TableSet {
    tables: Vec<StateTable<u64, u32, u64, DeterministicState>>,
}

impl TableSet {
    /// `states` empty tables.
    pub fn new(states: usize) -> Self {
        TableSet {
            tables: (0..states)
                .map(|_| StateTable::with_capacity_and_hasher(1024, DeterministicState::default()))
                .collect(),
        }
    }

    /// Puts `(key, ns) -> value` into `state` behind the model's back (fault injection for testing the soak run's
    /// own verification).
    pub fn inject(&mut self, state: usize, key: u64, ns: u32, value: u64) {
        self.tables[state].put(key, ns, value);
    }
}

impl KeyedTarget for TableSet {
    fn states(&self) -> usize {
        self.tables.len()
    }
    fn put(&mut self, state: usize, key: u64, ns: u32, value: u64) {
        self.tables[state].put(key, ns, value);
    }
    fn update(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(u64) -> u64) -> Option<u64> {
        let s = self.tables[state].get_mut(&key, &ns)?;
        let old = *s;
        *s = f(old);
        Some(old)
    }
    fn transform(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(Option<u64>) -> u64) -> Option<u64> {
        let mut seen = None;
        self.tables[state].transform(key, ns, (), |old, ()| {
            seen = old;
            f(old)
        });
        seen
    }
    fn remove(&mut self, state: usize, key: u64, ns: u32) -> Option<u64> {
        self.tables[state].remove_and_get_old(&key, &ns)
    }
    fn snapshot(&mut self) -> Result<Vec<StateSnapshot>, SnapshotError> {
        self.tables.iter_mut().map(StateTable::snapshot).collect()
    }
    fn entries(&self) -> u64 {
        self.tables.iter().map(|t| t.len() as u64).sum()
    }
    fn copies(&self) -> (u64, u64) {
        self.tables.iter().fold((0, 0), |(n, c), t| {
            let s = t.cow_stats();
            (n + s.node_copies, c + s.chunk_copies)
        })
    }
}
