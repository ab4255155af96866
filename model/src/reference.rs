//! The reference model: an ordered map for the live table, a frozen copy of it per snapshot, and the table's
//! version counter (so snapshot versions, renormalisation and exhaustion can be predicted exactly).

use crate::op::SLOTS;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// The largest version a snapshot can get (the core reserves `u32::MAX`).
pub const MAX_SNAPSHOT_VERSION: u32 = u32::MAX - 1;

/// A state type the model can drive: built from a seed, modified in place, combined by `transform`.
pub trait ModelState: Clone + PartialEq + Debug {
    /// A fresh state from a seed (what `put` stores).
    fn from_seed(seed: u32) -> Self;
    /// The in-place modification applied through `get_mut`.
    fn modify(&mut self, arg: u32);
    /// The `transform` closure: the new state from the old one (if any) and the argument.
    fn combine(old: Option<Self>, arg: u32) -> Self;
}

impl ModelState for u64 {
    fn from_seed(seed: u32) -> Self {
        u64::from(seed)
    }
    fn modify(&mut self, arg: u32) {
        *self = self.wrapping_mul(31).wrapping_add(u64::from(arg) + 1);
    }
    fn combine(old: Option<Self>, arg: u32) -> Self {
        old.map_or(u64::from(arg) << 8, |o| o.wrapping_add(u64::from(arg) + 1))
    }
}

/// At most this many elements are kept in a `Vec` state (older ones are dropped first).
const VEC_STATE_MAX: usize = 4;

impl ModelState for Vec<u32> {
    fn from_seed(seed: u32) -> Self {
        vec![seed]
    }
    fn modify(&mut self, arg: u32) {
        if self.len() >= VEC_STATE_MAX {
            self.remove(0);
        }
        self.push(arg);
    }
    fn combine(old: Option<Self>, arg: u32) -> Self {
        let mut s = old.unwrap_or_default();
        s.modify(arg);
        s
    }
}

/// The model of one table: `BTreeMap<(K, N), S>` for the live contents plus the table's version counter.
#[derive(Debug, Clone)]
pub struct Reference<K, N, S> {
    /// The live contents.
    pub live: BTreeMap<(K, N), S>,
    /// The frozen contents of the snapshot in each slot, with its expected version.
    pub snapshots: [Option<Frozen<K, N, S>>; SLOTS],
    /// The table version `V` the model predicts.
    pub version: u32,
    /// The version at which the table renormalises (when no snapshot of it is live).
    pub version_limit: u32,
    /// Which table (incremented by [`Reference::restart`]) the model's version counter belongs to.
    pub generation: u64,
}

/// A snapshot's contents, frozen when it was taken.
#[derive(Debug, Clone)]
pub struct Frozen<K, N, S> {
    /// The table contents at snapshot time.
    pub contents: BTreeMap<(K, N), S>,
    /// The version the snapshot must report.
    pub version: u32,
    /// The table generation the snapshot belongs to.
    pub generation: u64,
}

/// What [`Reference::take_snapshot`] predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// A snapshot with this version.
    Taken {
        /// The expected version.
        version: u32,
        /// Whether versions were renormalised first.
        renormalised: bool,
    },
    /// `SnapshotError::VersionsExhausted` with this many live snapshots.
    Exhausted {
        /// Live snapshots of the table.
        live: usize,
    },
}

impl<K: Ord + Clone, N: Ord + Clone, S: ModelState> Reference<K, N, S> {
    /// An empty model whose table renormalises at `version_limit`.
    pub fn new(version_limit: u32) -> Self {
        Reference {
            live: BTreeMap::new(),
            snapshots: Default::default(),
            version: 0,
            version_limit,
            generation: 0,
        }
    }

    /// `put`: returns the old state.
    pub fn put(&mut self, key: K, ns: N, state: S) -> Option<S> {
        self.live.insert((key, ns), state)
    }

    /// `get`.
    pub fn get(&self, key: &K, ns: &N) -> Option<&S> {
        self.live.get(&(key.clone(), ns.clone()))
    }

    /// `get_mut`.
    pub fn get_mut(&mut self, key: &K, ns: &N) -> Option<&mut S> {
        self.live.get_mut(&(key.clone(), ns.clone()))
    }

    /// `remove` / `remove_and_get_old`: returns the removed state.
    pub fn remove(&mut self, key: &K, ns: &N) -> Option<S> {
        self.live.remove(&(key.clone(), ns.clone()))
    }

    /// `transform` with [`ModelState::combine`]; returns the `old` argument the closure must receive.
    pub fn transform(&mut self, key: K, ns: N, arg: u32) -> Option<S> {
        let entry = (key, ns);
        let old = self.live.remove(&entry);
        self.live.insert(entry, S::combine(old.clone(), arg));
        old
    }

    /// `entry(key, ns).and_modify(modify(arg)).or_insert_with(from_seed(arg))`: returns the resulting state.
    pub fn upsert(&mut self, key: K, ns: N, arg: u32) -> S {
        let state = self
            .live
            .entry((key, ns))
            .and_modify(|s| s.modify(arg))
            .or_insert_with(|| S::from_seed(arg));
        state.clone()
    }

    /// `retain(f)`.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &N, &S) -> bool) {
        self.live.retain(|(k, n), s| keep(k, n, s));
    }

    /// `clear` / `drain`: returns the removed contents.
    pub fn clear(&mut self) -> BTreeMap<(K, N), S> {
        std::mem::take(&mut self.live)
    }

    /// `len`.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether the live table is empty.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// `size_of_namespace`.
    pub fn size_of_namespace(&self, ns: &N) -> usize {
        self.live.keys().filter(|(_, n)| n == ns).count()
    }

    /// Live snapshots of the current table.
    pub fn live_snapshots(&self) -> usize {
        self.snapshots
            .iter()
            .flatten()
            .filter(|f| f.generation == self.generation)
            .count()
    }

    /// The highest version among the live snapshots of the current table (`R`; 0 if none).
    pub fn highest_live_version(&self) -> u32 {
        self.snapshots
            .iter()
            .flatten()
            .filter(|f| f.generation == self.generation)
            .map(|f| f.version)
            .max()
            .unwrap_or(0)
    }

    /// The frozen contents of the newest live snapshot of the current table, if any.
    pub fn newest_live_snapshot(&self) -> Option<&Frozen<K, N, S>> {
        self.snapshots
            .iter()
            .flatten()
            .filter(|f| f.generation == self.generation)
            .max_by_key(|f| f.version)
    }

    /// Drops the snapshot in `slot` (if any).
    pub fn release(&mut self, slot: usize) -> Option<Frozen<K, N, S>> {
        self.snapshots[slot].take()
    }

    /// `snapshot()` into `slot`: the snapshot previously in the slot is released first (as the runner drops
    /// it), then versions are renormalised if due, then either a snapshot is taken or the versions are
    /// exhausted.
    pub fn take_snapshot(&mut self, slot: usize) -> SnapshotOutcome {
        self.release(slot);
        let mut renormalised = false;
        if self.version >= self.version_limit && self.live_snapshots() == 0 {
            self.version = 0;
            renormalised = true;
        }
        if self.version >= MAX_SNAPSHOT_VERSION {
            return SnapshotOutcome::Exhausted {
                live: self.live_snapshots(),
            };
        }
        self.version += 1;
        self.snapshots[slot] = Some(Frozen {
            contents: self.live.clone(),
            version: self.version,
            generation: self.generation,
        });
        SnapshotOutcome::Taken {
            version: self.version,
            renormalised,
        }
    }

    /// `advance_version_for_test(to)`.
    pub fn advance_version(&mut self, to: u32) {
        self.version = self.version.max(to.min(MAX_SNAPSHOT_VERSION));
    }

    /// The table was dropped and replaced by a new one with the same contents: the version restarts at 0.
    /// Snapshots of the old table stay live (and keep their frozen contents).
    pub fn restart(&mut self) {
        self.generation += 1;
        self.version = 0;
    }
}
