//! The writer's side: [`StateTable`] (Flink `CopyOnWriteStateTable`, later `CopyOnWriteStateMap`).

pub(crate) mod arena;
pub(crate) mod chain;
mod collection;
pub(crate) mod directory;
pub mod entry;
pub mod iter;
pub(crate) mod node;
pub(crate) mod rehash;
pub mod visit;

use crate::error::SnapshotError;
use crate::hash::{composite_hash, ErasedBuildHasher};
use crate::snapshot::reclaim::{CowStats, Garbage, RetireQueue};
use crate::snapshot::versions::{Orphans, Shared};
use crate::snapshot::{Snapshot, View};
use crate::sync::{ArcOps, MutexOps, Primitives, StdSync, UnsafeCellOps};
use chain::{privatize_prefix, replace_shared, unlink};
pub use collection::Drain;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::mem;
use core::ptr::NonNull;
use directory::{Cow, Directory};
pub use entry::{Entry, OccupiedEntry, VacantEntry};
pub use iter::{Entries, Keys, Namespace, Values};
use node::{Node, NodePtr};
use rehash::Rehash;
use std::collections::hash_map::RandomState;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// Smallest number of buckets (Flink `MINIMUM_CAPACITY`).
pub const MINIMUM_CAPACITY: usize = 4;
/// Largest number of buckets (Flink `MAXIMUM_CAPACITY`); the table keeps accepting entries beyond 3/4 of it,
/// with longer chains.
pub const MAXIMUM_CAPACITY: usize = 1 << 30;
/// Buckets of a table made by [`StateTable::new`] (Flink's default of 1024), allocated on the first insert.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Versions are renormalised (I12) once the table version reaches this and no snapshot is live.
pub const DEFAULT_VERSION_LIMIT: u32 = 1 << 31;
/// The largest version a snapshot can get; `u32::MAX` stands for "no live snapshot" in the bounds word.
const MAX_SNAPSHOT_VERSION: u32 = u32::MAX - 1;

/// Where `find` located an entry: its directory, its bucket and its node.
type Found<K, N, S, P> = (Sub, usize, NodePtr<K, N, S, P>);

/// What a write into one directory needs: the directory and the retire queue.
type WriteParts<'a, K, N, S, P> = (&'a mut Directory<K, N, S, P>, &'a mut RetireQueue<K, N, S, P>);

/// Which directory an entry was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sub {
    /// The primary directory (the old one during a rehash).
    Primary,
    /// The new directory of an ongoing rehash.
    New,
}

/// A hash table from `(key, namespace)` to state whose snapshots are nearly free.
///
/// Flink: `CopyOnWriteStateTable` (1.3) / `CopyOnWriteStateMap` (1.10+). One writer owns the table (`&mut self`
/// for every write); [`snapshot`](StateTable::snapshot) returns a [`Snapshot`] that other threads may read while
/// the writer goes on. After a snapshot, the writer copies a directory chunk, a node, the chain prefix in front
/// of a node or a state only when a live snapshot can see it (docs/DESIGN.md, I2–I4); once every snapshot is
/// released, writes happen in place again.
///
/// * `K`, `N`: key and namespace — `Hash + Eq + Clone` (a node copy clones them).
/// * `S`: the state — `Clone` (copy-on-write of a state is a clone, Flink `TypeSerializer#copy`).
/// * `H`: how `(key, namespace)` is hashed; the default resists hash flooding, [`DeterministicState`](crate::DeterministicState)
///   gives reproducible placement.
/// * `P`: the synchronization primitives ([`StdSync`], or loom's / shuttle's for model checking).
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<&str, u32, Vec<u32>> = StateTable::new();
/// table.put("alice", 0, vec![1]);
/// table.transform("alice", 0, 2, |old, v| { let mut s = old.unwrap_or_default(); s.push(v); s });
/// let snap = table.snapshot().unwrap();
/// table.get_mut(&"alice", &0).unwrap().push(3); // copies the state: the snapshot can see it
/// assert_eq!(table.get(&"alice", &0), Some(&vec![1, 2, 3]));
/// assert_eq!(snap.iter().next().map(|(_, _, s)| s.clone()), Some(vec![1, 2]));
/// ```
pub struct StateTable<K, N, S, H = RandomState, P: Primitives = StdSync> {
    /// The primary directory; the old one during an incremental rehash.
    pub(crate) primary: Directory<K, N, S, P>,
    /// The new directory and rehash index while an incremental rehash runs.
    pub(crate) rehash: Option<Rehash<K, N, S, P>>,
    /// The table version `V` (Flink `stateTableVersion`).
    pub(crate) version: u32,
    version_limit: u32,
    /// Grow when `len() > threshold` (3/4 of the newest directory's capacity).
    pub(crate) threshold: usize,
    /// The capacity the table was created with: it never shrinks below it.
    pub(crate) min_capacity: usize,
    /// log2 of the most bucket heads a directory chunk holds: [`CHUNK_BITS`](directory::CHUNK_BITS), or less in
    /// tests that want many chunks in a small table ([`StateTable::set_chunk_bits_for_test`]).
    pub(crate) chunk_bits: u32,
    pub(crate) hash_builder: H,
    /// A type-erased clone of `hash_builder`, made by the first snapshot and shared by all of them.
    snapshot_hasher: Option<Arc<dyn ErasedBuildHasher>>,
    pub(crate) shared: P::Arc<Shared<K, N, S, P>>,
    pub(crate) retired: RetireQueue<K, N, S, P>,
}

// SAFETY: the table owns K, N, S values that live snapshots on other threads may read (Sync) and that its drop
// may hand to another thread's release (Send, I13); its raw pointers are owned (I5).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, H: Send, P: Primitives> Send for StateTable<K, N, S, H, P> {}
// SAFETY: `&StateTable` only reads (no `&self` method writes, not even a rehash step).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, H: Sync, P: Primitives> Sync for StateTable<K, N, S, H, P> {}

pub(crate) fn threshold_of(capacity: usize) -> usize {
    (capacity >> 1) + (capacity >> 2)
}

fn capacity_for(requested: usize) -> usize {
    requested.clamp(MINIMUM_CAPACITY, MAXIMUM_CAPACITY).next_power_of_two()
}

/// The number of buckets that holds `entries` entries without growing: the smallest power of two whose 3/4
/// is at least `entries` (within `[4, 2^30]`).
fn buckets_for_entries(entries: usize) -> usize {
    // `threshold_of(c) = 3c/4 >= entries` exactly when `c >= ceil(4 * entries / 3) = entries + ceil(entries / 3)`.
    capacity_for(entries.saturating_add(entries.div_ceil(3)))
}

impl<K, N, S> StateTable<K, N, S> {
    /// An empty table with a flood-resistant hasher. It allocates nothing until the first insert, which
    /// allocates [`DEFAULT_CAPACITY`] buckets (Flink's default).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(table.capacity(), 0); // nothing allocated yet
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(RandomState::new())
    }

    /// An empty table with room for at least `capacity` entries before it grows (as
    /// `HashMap::with_capacity`); see [`StateTable::capacity`]. `with_capacity(0)` allocates nothing.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let table: StateTable<u64, u32, u64> = StateTable::with_capacity(1000);
    /// assert!(table.capacity() >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, RandomState::new())
    }

    /// An empty table with at least `buckets` buckets (rounded up to a power of two in `[4, 2^30]`), allocated
    /// now. Flink: `CopyOnWriteStateTable(keyContext, metaInfo, capacity)`, whose capacity counts buckets.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let table: StateTable<u64, u32, u64> = StateTable::with_buckets(5);
    /// assert_eq!(table.buckets(), 8);
    /// ```
    pub fn with_buckets(buckets: usize) -> Self {
        Self::with_buckets_and_hasher(buckets, RandomState::new())
    }
}

impl<K, N, S> Default for StateTable<K, N, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, N, S, H, P: Primitives> StateTable<K, N, S, H, P> {
    /// An empty table with the given hasher; allocates nothing until the first insert, which allocates
    /// [`DEFAULT_CAPACITY`] buckets.
    ///
    /// ```
    /// use cow_state_table::{DeterministicState, StateTable};
    /// let mut table: StateTable<u64, u32, u64, DeterministicState> = StateTable::with_hasher(DeterministicState::default());
    /// table.put(1, 0, 1);
    /// assert_eq!(table.buckets(), cow_state_table::table::DEFAULT_CAPACITY);
    /// ```
    pub fn with_hasher(hash_builder: H) -> Self {
        Self::build(DEFAULT_CAPACITY, false, hash_builder)
    }

    /// An empty table with room for at least `capacity` entries before it grows, and the given hasher (as
    /// `HashMap::with_capacity_and_hasher`). `capacity` 0 allocates nothing until the first insert.
    ///
    /// ```
    /// use cow_state_table::{DeterministicState, StateTable};
    /// let table: StateTable<u64, u32, u64, DeterministicState> =
    ///     StateTable::with_capacity_and_hasher(100, DeterministicState::default());
    /// assert!(table.capacity() >= 100);
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hash_builder: H) -> Self {
        if capacity == 0 {
            return Self::build(MINIMUM_CAPACITY, false, hash_builder);
        }
        Self::build(buckets_for_entries(capacity), true, hash_builder)
    }

    /// An empty table with at least `buckets` buckets (rounded up to a power of two in `[4, 2^30]`), allocated
    /// now, and the given hasher. The table grows above 3/4 load and shrinks below 1/8 load, never under this
    /// number of buckets.
    ///
    /// ```
    /// use cow_state_table::{DeterministicState, StateTable};
    /// let table: StateTable<u64, u32, u64, DeterministicState> =
    ///     StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    /// assert_eq!((table.buckets(), table.capacity()), (4, 3));
    /// ```
    pub fn with_buckets_and_hasher(buckets: usize, hash_builder: H) -> Self {
        Self::build(capacity_for(buckets), true, hash_builder)
    }

    fn build(buckets: usize, allocate: bool, hash_builder: H) -> Self {
        debug_assert!(buckets.is_power_of_two());
        StateTable {
            primary: if allocate {
                Directory::new(buckets, 0, directory::CHUNK_BITS)
            } else {
                Directory::empty()
            },
            rehash: None,
            version: 0,
            version_limit: DEFAULT_VERSION_LIMIT,
            threshold: threshold_of(buckets),
            min_capacity: buckets,
            chunk_bits: directory::CHUNK_BITS,
            hash_builder,
            snapshot_hasher: None,
            shared: P::Arc::new(Shared::new()),
            retired: RetireQueue::new(),
        }
    }

    /// Number of entries (Flink `size`): the sum over both directories during a rehash.
    #[must_use]
    #[doc(alias = "size")]
    pub fn len(&self) -> usize {
        self.primary.len + self.rehash.as_ref().map_or(0, |r| r.new.len)
    }

    /// Whether the table has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries the table holds before it grows (starts an incremental rehash into twice the buckets):
    /// 3/4 of [`buckets`](StateTable::buckets), 0 before the first allocation. As with `HashMap::capacity`, a
    /// lower bound: at the largest bucket count the table keeps accepting entries, with longer chains.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::with_capacity(10);
    /// let room = table.capacity();
    /// assert!(room >= 10);
    /// for k in 0..room as u64 { table.put(k, 0, k); }
    /// assert!(!table.is_rehashing());
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        if self.buckets() == 0 {
            0
        } else {
            self.threshold
        }
    }

    /// Number of buckets (of the new directory during a rehash; 0 before the first allocation). Flink's
    /// `capacity` counts these.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// assert_eq!(StateTable::<u64, u32, u64>::with_buckets(1000).buckets(), 1024);
    /// ```
    #[must_use]
    pub fn buckets(&self) -> usize {
        self.rehash.as_ref().map_or(self.primary.capacity, |r| r.new.capacity)
    }

    /// Whether an incremental rehash is in progress (Flink `isRehashing`).
    #[must_use]
    pub fn is_rehashing(&self) -> bool {
        self.rehash.is_some()
    }

    /// The table version `V` (Flink `getStateTableVersion`): the version of the newest snapshot taken.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Number of unreleased snapshots of this table.
    #[must_use]
    pub fn live_snapshots(&self) -> usize {
        self.shared.registry.with_lock(|r| r.live.len())
    }

    /// Number of retired nodes and chunks still kept for live (or not yet noticed as released) snapshots.
    #[must_use]
    pub fn retired_len(&self) -> usize {
        self.retired.len()
    }

    /// What copy-on-write has cost so far.
    #[must_use]
    pub fn cow_stats(&self) -> CowStats {
        self.retired.stats
    }

    /// The table's shape and bookkeeping in one value (what `Debug` leaves out: it prints the entries).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 1);
    /// let stats = table.stats();
    /// assert_eq!((stats.len, stats.live_snapshots), (1, 0));
    /// ```
    #[must_use]
    pub fn stats(&self) -> TableStats {
        TableStats {
            len: self.len(),
            capacity: self.capacity(),
            buckets: self.buckets(),
            rehashing: self.is_rehashing(),
            version: self.version,
            live_snapshots: self.live_snapshots(),
            retired: self.retired.len(),
            cow: self.retired.stats,
            node_bytes: mem::size_of::<Node<K, N, S, P>>(),
            chunk_bytes: self.buckets().min(1 << self.chunk_bits) * mem::size_of::<directory::Head<K, N, S, P>>(),
        }
    }

    /// The hasher the table places entries with.
    #[must_use]
    pub fn hasher(&self) -> &H {
        &self.hash_builder
    }

    /// Iterates over `(key, namespace, state)` in bucket order, covering both directories during a rehash.
    /// Flink: `iterator()`. Allocates nothing.
    pub fn iter(&self) -> Entries<'_, K, N, S, P> {
        Entries::new(
            self.primary.view(),
            self.rehash.as_ref().map(|r| r.new.view()),
            self.len(),
        )
    }

    /// Iterates over the `(key, namespace)` pairs (Flink `getKeys` without the namespace filter).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 10);
    /// assert_eq!(table.keys().collect::<Vec<_>>(), vec![(&1, &0)]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, N, S, P> {
        Keys(self.iter())
    }

    /// Iterates over the states.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 10);
    /// table.put(2, 0, 20);
    /// assert_eq!(table.values().sum::<u64>(), 30);
    /// ```
    pub fn values(&self) -> Values<'_, K, N, S, P> {
        Values(self.iter())
    }

    /// Iterates over the `(key, state)` pairs of one namespace (a full scan, as Flink's `getKeys(namespace)`
    /// and `sizeOfNamespace`).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, String, u64> = StateTable::new();
    /// table.put(1, "window-1".to_string(), 10);
    /// table.put(2, "window-2".to_string(), 20);
    /// assert_eq!(table.iter_namespace("window-2").collect::<Vec<_>>(), vec![(&2, &20)]);
    /// ```
    #[doc(alias = "getKeys")]
    pub fn iter_namespace<'q, R>(&self, namespace: &'q R) -> Namespace<'_, 'q, K, N, S, P, R>
    where
        N: Borrow<R>,
        R: PartialEq + ?Sized,
    {
        Namespace {
            entries: self.iter(),
            namespace,
        }
    }

    /// Frees every retired node and chunk that no live snapshot can see any more. Write operations do this on
    /// their own; call it after releasing snapshots to give memory back while the writer is idle.
    pub fn reclaim(&mut self) {
        let bounds = self.shared.load_bounds();
        self.retired.reclaim(bounds.oldest);
    }

    /// Test knob for version renormalisation (I12): lowers the version at which versions are renormalised.
    #[doc(hidden)]
    pub fn set_version_limit_for_test(&mut self, limit: u32) {
        self.version_limit = limit;
    }

    /// Test knob: jumps the table version forward to `version` (never back), as if that many snapshots had been
    /// taken and released. Safe at any time: every recorded version stays `<= V` (I1).
    #[doc(hidden)]
    pub fn advance_version_for_test(&mut self, version: u32) {
        self.version = self.version.max(version.min(MAX_SNAPSHOT_VERSION));
    }

    /// Renormalises versions (I12). Call only with no live snapshot, seen under the registry mutex.
    fn renormalise(&mut self) {
        // Nothing is reachable from a snapshot: free all retired objects.
        self.retired.reclaim(u32::MAX);
        let dirs = core::iter::once(&mut self.primary).chain(self.rehash.as_mut().map(|r| &mut r.new));
        for dir in dirs {
            for chunk in &mut dir.chunks {
                chunk.version = 0;
            }
            // SAFETY: no snapshot is live, so every node is private (I12).
            dir.for_each_node(|n| unsafe { (*n).set_version(0) });
        }
        self.version = 0;
    }

    fn dir_and_retired(&mut self, sub: Sub) -> WriteParts<'_, K, N, S, P> {
        match sub {
            Sub::Primary => (&mut self.primary, &mut self.retired),
            Sub::New => (
                &mut self.rehash.as_mut().expect("rehash in progress").new,
                &mut self.retired,
            ),
        }
    }
}

impl<K, N, S, H, P> StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    #[inline]
    fn hash<Q: Hash + ?Sized, R: Hash + ?Sized>(&self, key: &Q, namespace: &R) -> u32 {
        composite_hash(&self.hash_builder, key, namespace)
    }

    /// Finds `(key, namespace)` for a write operation: the directory, the bucket and the node (I10 says where
    /// to look). The rehash case is out of line (a write then also does a rehash step), so that `get_mut`
    /// and the others inline small.
    #[inline(always)]
    fn find<Q, R>(&self, hash: u32, key: &Q, namespace: &R) -> Option<Found<K, N, S, P>>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Eq + ?Sized,
        R: Eq + ?Sized,
    {
        if self.rehash.is_some() {
            return out_of_line(|| self.find_inline(hash, key, namespace));
        }
        self.find_inline(hash, key, namespace)
    }

    /// Finds `(key, namespace)`, all inline: for the read operations (`get`, `contains`), which do no rehash
    /// step and so are as fast during a rehash as the two lookups it needs, and for `put`, which is not
    /// inlined into its callers anyway and runs during growth, when a rehash often runs.
    #[inline(always)]
    fn find_inline<Q, R>(&self, hash: u32, key: &Q, namespace: &R) -> Option<Found<K, N, S, P>>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Eq + ?Sized,
        R: Eq + ?Sized,
    {
        if self.primary.capacity == 0 {
            return None; // not allocated yet (no rehash can be running either)
        }
        let old_bucket = self.primary.bucket(hash);
        let Some(r) = &self.rehash else {
            let n = find_in(&self.primary, old_bucket, hash, key, namespace);
            return (!n.is_null()).then_some((Sub::Primary, old_bucket, n));
        };
        let (in_old, in_new) = (old_bucket >= r.index, old_bucket <= r.index);
        if in_old {
            let n = find_in(&self.primary, old_bucket, hash, key, namespace);
            if !n.is_null() {
                return Some((Sub::Primary, old_bucket, n));
            }
        }
        if in_new {
            let b = r.new.bucket(hash);
            let n = find_in(&r.new, b, hash, key, namespace);
            if !n.is_null() {
                return Some((Sub::New, b, n));
            }
        }
        None
    }

    /// The start of every write operation: read the bounds (I8), free what became free (I7), do a rehash step.
    ///
    /// Inlined into every write: with nothing to free (no retired object's tag below `O`) and no rehash running
    /// it is one atomic load and two tests; the rest is out of line in [`StateTable::write_housekeeping`].
    #[inline(always)]
    fn begin_write(&mut self) -> Cow {
        let bounds = self.shared.load_bounds();
        let cow = Cow {
            required: bounds.highest,
            version: self.version,
        };
        if self.retired.has_reclaimable(bounds.oldest) || self.rehash.is_some() {
            self.write_housekeeping(bounds.oldest, cow);
        }
        cow
    }

    /// The slow part of [`StateTable::begin_write`]: free what became free (I7), then a rehash step.
    #[inline(never)]
    fn write_housekeeping(&mut self, oldest: u32, cow: Cow) {
        if self.retired.has_reclaimable(oldest) {
            self.retired.reclaim(oldest);
        }
        if let Some(r) = &mut self.rehash {
            if rehash::step(&mut self.primary, r, cow, &mut self.retired) {
                self.finish_rehash(cow);
            }
        }
    }

    fn finish_rehash(&mut self, cow: Cow) {
        let r = self.rehash.take().expect("rehash in progress");
        let old = mem::replace(&mut self.primary, r.new);
        debug_assert_eq!(old.len, 0);
        old.retire_chunks(cow, &mut self.retired);
        // A rehash that had to wait (deferred steps, docs/DESIGN.md) may end over the new threshold: grow on.
        if self.len() > self.threshold && self.primary.capacity < MAXIMUM_CAPACITY {
            self.start_rehash(self.primary.capacity * 2);
        }
    }

    /// Returns the state of `(key, namespace)` without copying it (Flink `get(key, namespace)`, which had to
    /// copy a shared state before handing it out; a shared `&S` needs no copy).
    ///
    /// The key and the namespace may be any borrowed form of `K` and `N` (`&str` for `String`), as with
    /// `HashMap::get`; their `Hash` and `Eq` must agree with `K`'s and `N`'s.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<String, String, u32> = StateTable::new();
    /// table.put("alice".to_string(), "clicks".to_string(), 3);
    /// assert_eq!(table.get("alice", "clicks"), Some(&3));
    /// assert_eq!(table.get("bob", "clicks"), None);
    /// ```
    #[inline(always)]
    #[must_use]
    pub fn get<Q, R>(&self, key: &Q, namespace: &R) -> Option<&S>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        let (_, _, node) = self.find_inline(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `&self` excludes writes; the node is live (I5).
        Some(unsafe { (*node).state() })
    }

    /// Whether `(key, namespace)` has a state (Flink `containsKey`). Takes borrowed forms as [`StateTable::get`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<String, u32, u32> = StateTable::new();
    /// table.put("alice".to_string(), 0, 3);
    /// assert!(table.contains("alice", &0));
    /// assert!(!table.contains("alice", &1));
    /// ```
    #[must_use]
    #[doc(alias = "containsKey")]
    #[doc(alias = "contains_key")]
    pub fn contains<Q, R>(&self, key: &Q, namespace: &R) -> bool
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        self.find_inline(self.hash(key, namespace), key, namespace).is_some()
    }

    /// Returns the state of `(key, namespace)` for in-place modification (Flink `get(key, namespace)`): if a live
    /// snapshot can see it, the node and the chain prefix in front of it are copied first (I3). Takes borrowed
    /// forms as [`StateTable::get`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<String, u32, Vec<u32>> = StateTable::new();
    /// table.put("alice".to_string(), 0, vec![1]);
    /// let snap = table.snapshot().unwrap();
    /// table.get_mut("alice", &0).unwrap().push(2); // copies: the snapshot sees the state
    /// assert_eq!(table.get("alice", &0), Some(&vec![1, 2]));
    /// assert_eq!(snap.get("alice", &0), Some(&vec![1]));
    /// ```
    #[inline(always)]
    pub fn get_mut<Q, R>(&mut self, key: &Q, namespace: &R) -> Option<&mut S>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        let cow = self.begin_write();
        let (sub, bucket, node) = self.find(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `node` is live in `bucket` of `sub`.
        let node = unsafe { self.make_private(sub, bucket, node, cow) };
        // SAFETY: the node is private and `&mut self` is held for the returned lifetime.
        Some(unsafe { (*node).state_mut() })
    }

    /// Maps `(key, namespace)` to `state` (Flink `put`). The old state, if any, is dropped — or kept for the
    /// snapshots that can see it — but never copied.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 10);
    /// table.put(1, 0, 11);
    /// assert_eq!(table.get(&1, &0), Some(&11));
    /// ```
    #[doc(alias = "insert")]
    pub fn put(&mut self, key: K, namespace: N, state: S) {
        self.put_inner(key, namespace, state, false);
    }

    /// Maps `(key, namespace)` to `state` and returns the old state (Flink `putAndGetOld`). The old state is
    /// cloned only when a live snapshot can see it; otherwise it is moved out. The std name is `insert`.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(table.put_and_get_old(1, 0, 10), None);
    /// assert_eq!(table.put_and_get_old(1, 0, 11), Some(10));
    /// ```
    #[doc(alias = "insert")]
    #[doc(alias = "putAndGetOld")]
    pub fn put_and_get_old(&mut self, key: K, namespace: N, state: S) -> Option<S> {
        self.put_inner(key, namespace, state, true)
    }

    fn put_inner(&mut self, key: K, namespace: N, state: S, want_old: bool) -> Option<S> {
        let cow = self.begin_write();
        let hash = self.hash(&key, &namespace);
        match self.find_inline(hash, &key, &namespace) {
            None => {
                self.insert_new(hash, key, namespace, state, cow);
                None
            }
            // SAFETY: `node` is live in `bucket` of `sub`.
            Some((sub, bucket, node)) => unsafe { self.replace_state(sub, bucket, node, state, want_old, cow) },
        }
    }

    /// Removes `(key, namespace)` (Flink `remove`); returns whether it was present. Never copies the state.
    /// Takes borrowed forms as [`StateTable::get`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<String, u32, u64> = StateTable::new();
    /// table.put("a".to_string(), 0, 1);
    /// assert!(table.remove("a", &0));
    /// assert!(!table.remove("a", &0));
    /// ```
    pub fn remove<Q, R>(&mut self, key: &Q, namespace: &R) -> bool
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        self.remove_inner(key, namespace, false).is_some()
    }

    /// Removes `(key, namespace)` and returns its state (Flink `removeAndGetOld`), cloned only when a live
    /// snapshot can see it. The std name is `HashMap::remove`. Takes borrowed forms as [`StateTable::get`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<String, u32, u64> = StateTable::new();
    /// table.put("a".to_string(), 0, 1);
    /// assert_eq!(table.remove_and_get_old("a", &0), Some(1));
    /// assert_eq!(table.remove_and_get_old("a", &0), None);
    /// ```
    #[doc(alias = "removeAndGetOld")]
    #[doc(alias = "take")]
    pub fn remove_and_get_old<Q, R>(&mut self, key: &Q, namespace: &R) -> Option<S>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        self.remove_inner(key, namespace, true).flatten()
    }

    /// Sets the state of `(key, namespace)` to `f(old, value)` (Flink `transform`). `old` is `None` when absent.
    /// When a live snapshot can see the old state, `f` gets a clone; otherwise the state itself.
    ///
    /// If `f` panics the panic propagates; the table stays valid: an absent entry stays absent, a shared entry
    /// stays as it was, and a private entry — whose state `f` consumed — is removed (docs/DESIGN.md).
    ///
    /// The std-shaped equivalent is [`entry`](StateTable::entry) with
    /// [`and_modify`](entry::Entry::and_modify) / [`or_insert_with`](entry::Entry::or_insert_with).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<&str, u32, u64> = StateTable::new();
    /// table.transform("clicks", 0, 5, |old, v| old.unwrap_or(0) + v);
    /// table.transform("clicks", 0, 2, |old, v| old.unwrap_or(0) + v);
    /// assert_eq!(table.get(&"clicks", &0), Some(&7));
    /// ```
    #[doc(alias = "entry")]
    #[doc(alias = "and_modify")]
    pub fn transform<T>(&mut self, key: K, namespace: N, value: T, f: impl FnOnce(Option<S>, T) -> S) {
        let cow = self.begin_write();
        let hash = self.hash(&key, &namespace);
        let Some((sub, bucket, node)) = self.find(hash, &key, &namespace) else {
            let state = f(None, value);
            self.insert_new(hash, key, namespace, state, cow);
            return;
        };
        // SAFETY: `node` is live in `bucket` of `sub` throughout; `f` cannot touch the table.
        unsafe {
            if cow.is_shared((*node).version()) && !cfg!(cow_mutant = "skip-state-copy") {
                let shared_state = (*node).state().clone();
                self.retired.stats.state_clones += 1;
                let state = f(Some(shared_state), value);
                self.replace_state(sub, bucket, node, state, false, cow);
                return;
            }
            // Private: make the prefix private first, so that the panic path below runs no user code.
            let (dir, retired) = self.dir_and_retired(sub);
            let link = privatize_prefix(dir, bucket, node, cow, retired);
            let old = (*node).take_state();
            match panic::catch_unwind(AssertUnwindSafe(|| f(Some(old), value))) {
                Ok(state) => (*node).restore_state(state),
                Err(payload) => {
                    unlink(link, node);
                    dir.len -= 1;
                    Node::free_without_state(&mut retired.arena, node);
                    panic::resume_unwind(payload);
                }
            }
        }
    }

    /// Number of entries in `namespace` (Flink `sizeOfNamespace`; a full scan, as in Flink).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let table: StateTable<u64, u32, u64> = [(1, 0, 1), (2, 0, 2), (3, 1, 3)].into_iter().collect();
    /// assert_eq!(table.size_of_namespace(&0), 2);
    /// ```
    #[must_use]
    #[doc(alias = "sizeOfNamespace")]
    pub fn size_of_namespace<R>(&self, namespace: &R) -> usize
    where
        N: Borrow<R>,
        R: PartialEq + ?Sized,
    {
        self.iter_namespace(namespace).count()
    }

    /// Makes `node` private: if a live snapshot can see it, replaces it with a copy (and copies the prefix).
    ///
    /// # Safety
    /// `node` is live in `bucket` of `sub`.
    #[inline(always)]
    unsafe fn make_private(
        &mut self,
        sub: Sub,
        bucket: usize,
        node: NodePtr<K, N, S, P>,
        cow: Cow,
    ) -> NodePtr<K, N, S, P> {
        // SAFETY: `node` is valid (caller).
        if !cow.is_shared(unsafe { (*node).version() }) || cfg!(cow_mutant = "skip-state-copy") {
            return node;
        }
        // SAFETY: per the caller.
        unsafe { self.copy_shared(sub, bucket, node, cow) }
    }

    /// The copying half of [`StateTable::make_private`], out of line so that the private case stays small
    /// enough to inline into `get_mut`.
    ///
    /// # Safety
    /// `node` is live in `bucket` of `sub` and shared (version `< R`).
    #[inline(never)]
    unsafe fn copy_shared(
        &mut self,
        sub: Sub,
        bucket: usize,
        node: NodePtr<K, N, S, P>,
        cow: Cow,
    ) -> NodePtr<K, N, S, P> {
        let (dir, retired) = self.dir_and_retired(sub);
        // SAFETY: per the caller; the prefix is made private before the copy is built (a panicking clone then
        // leaves an equivalent, valid chain).
        unsafe {
            let link = privatize_prefix(dir, bucket, node, cow, retired);
            let copy = Node::copy(&mut retired.arena, node, None, cow.version);
            retired.stats.state_clones += 1;
            replace_shared(link, node, copy, cow, retired);
            copy
        }
    }

    /// # Safety
    /// `node` is live in `bucket` of `sub`.
    unsafe fn replace_state(
        &mut self,
        sub: Sub,
        bucket: usize,
        node: NodePtr<K, N, S, P>,
        state: S,
        want_old: bool,
        cow: Cow,
    ) -> Option<S> {
        // SAFETY: `node` is valid (caller) and, in the second branch, private (I4).
        unsafe {
            if cow.is_shared((*node).version()) {
                let old = if want_old { Some((*node).state().clone()) } else { None };
                self.retired.stats.state_clones += u64::from(want_old);
                let (dir, retired) = self.dir_and_retired(sub);
                let link = privatize_prefix(dir, bucket, node, cow, retired);
                let copy = Node::copy(&mut retired.arena, node, Some(state), cow.version);
                replace_shared(link, node, copy, cow, retired);
                old
            } else {
                let old = (*node).replace_state(state);
                want_old.then_some(old)
            }
        }
    }

    fn remove_inner<Q, R>(&mut self, key: &Q, namespace: &R, want_old: bool) -> Option<Option<S>>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        let cow = self.begin_write();
        let (sub, bucket, node) = self.find(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `node` is live in `bucket` of `sub`.
        let removed = unsafe { self.unlink_found(sub, bucket, node, want_old, cow) };
        self.shrink_if_sparse();
        Some(removed)
    }

    /// Starts shrinking to half the capacity when fewer than 1/8 of the buckets' worth of entries remain (and
    /// the table is above the capacity it was created with). Improves on the seed, whose table only grew (its
    /// note 6). The halving runs as an incremental rehash like growth (I10 for any new capacity); it needs at
    /// most `3C/64` further writes to finish, too few to fill the new directory past its growth threshold.
    fn shrink_if_sparse(&mut self) {
        let capacity = self.primary.capacity;
        if self.rehash.is_none() && capacity > self.min_capacity && self.len() < capacity / 8 {
            self.start_rehash(capacity / 2);
        }
    }

    /// Starts an incremental rehash into a new directory of `capacity` buckets (growth or shrink).
    fn start_rehash(&mut self, capacity: usize) {
        self.rehash = Some(Rehash::start(
            self.primary.capacity,
            capacity,
            self.version,
            self.chunk_bits,
        ));
        self.threshold = threshold_of(capacity);
    }

    /// Unlinks `node` and retires it (if a live snapshot can see it) or frees it; returns its state if
    /// `want_old` (cloned if shared).
    ///
    /// # Safety
    /// `node` is live in `bucket` of `sub`, and `cow` was read by this write operation.
    unsafe fn unlink_found(
        &mut self,
        sub: Sub,
        bucket: usize,
        node: NodePtr<K, N, S, P>,
        want_old: bool,
        cow: Cow,
    ) -> Option<S> {
        // SAFETY: per the caller; after the unlink the node is owned here until retired or freed.
        unsafe {
            let shared = cow.is_shared((*node).version());
            // Clone before unlinking: a panicking clone leaves the table unchanged.
            let old = if shared && want_old {
                self.retired.stats.state_clones += 1;
                Some((*node).state().clone())
            } else {
                None
            };
            let (dir, retired) = self.dir_and_retired(sub);
            let link = privatize_prefix(dir, bucket, node, cow, retired);
            unlink(link, node);
            dir.len -= 1;
            if shared {
                retired.retire(cow.version, Garbage::Node(node));
                old
            } else if want_old {
                let state = (*node).take_state();
                Node::free_without_state(&mut retired.arena, node);
                Some(state)
            } else {
                Node::free(&mut retired.arena, node);
                None
            }
        }
    }

    /// Links a new node for `(key, namespace)`, which is absent, and returns it; allocates the first directory
    /// or starts a growth first if due.
    fn insert_new(&mut self, hash: u32, key: K, namespace: N, state: S, cow: Cow) -> NodePtr<K, N, S, P> {
        if self.primary.capacity == 0 {
            // The first insert of a table made without allocating (new, with_hasher, with_capacity(0), clear):
            // chunks created at V are invisible to every live snapshot (I2).
            self.primary = Directory::new(self.min_capacity, self.version, self.chunk_bits);
            self.threshold = threshold_of(self.min_capacity);
        }
        if self.rehash.is_none() && self.len() > self.threshold && self.primary.capacity < MAXIMUM_CAPACITY {
            self.start_rehash(self.primary.capacity * 2);
        }
        let sub = match &self.rehash {
            Some(r) if self.primary.bucket(hash) <= r.index => Sub::New,
            _ => Sub::Primary,
        };
        let (dir, retired) = self.dir_and_retired(sub);
        let bucket = dir.bucket(hash);
        // SAFETY: the bucket of an entry's hash in the sub-table I10 places it in is in a present chunk (I10).
        let cell = unsafe { dir.head_cell_for_write(bucket, cow, retired) };
        // SAFETY: the cell belongs to a private chunk (I3).
        let head = cell.with(|p| unsafe { *p });
        let node = Node::alloc(&mut retired.arena, key, namespace, hash, state, head, cow.version);
        // SAFETY: as above.
        cell.with_mut(|p| unsafe { *p = node });
        dir.len += 1;
        node
    }

    /// Takes a snapshot (Flink `createSnapshot` / `stateSnapshot`): bumps the version, copies the chunk
    /// directory (both directories and the rehash index during a rehash) and registers the snapshot. The cost is
    /// one pointer pair per 512 buckets — no per-entry work and no per-entry atomic operation.
    ///
    /// Fails only if the version counter is exhausted while snapshots have been continuously live for about
    /// 2^32 snapshots; whenever no snapshot is live, versions are renormalised instead (I12).
    ///
    /// The snapshot shares a type-erased clone of the table's hasher (made by the first snapshot) for its
    /// lookups, hence `H: Clone + Send + Sync + 'static` (docs/DESIGN.md, "Snapshot lookups").
    ///
    /// # Errors
    /// [`SnapshotError::VersionsExhausted`] when the version counter reached `u32::MAX - 1` while snapshots stayed
    /// live since the last renormalisation; releasing them lets the next call succeed.
    ///
    /// ```
    /// use cow_state_table::{SnapshotError, StateTable};
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 1);
    /// let snap = table.snapshot()?;
    /// assert_eq!(snap.get(&1, &0), Some(&1));
    /// # Ok::<(), SnapshotError>(())
    /// ```
    #[doc(alias = "stateSnapshot")]
    #[doc(alias = "createSnapshot")]
    pub fn snapshot(&mut self) -> Result<Snapshot<K, N, S, P>, SnapshotError>
    where
        H: Clone + Send + Sync + 'static,
    {
        if self.version >= self.version_limit && self.shared.registry.with_lock(|r| r.live.is_empty()) {
            self.renormalise();
        }
        if self.version >= MAX_SNAPSHOT_VERSION {
            return Err(SnapshotError::VersionsExhausted {
                live: self.live_snapshots(),
            });
        }
        self.version += 1;
        let version = self.version;
        let mut dirs = vec![(self.primary.chunks.clone().into_boxed_slice(), self.primary.chunk_len())];
        let mut rehash_index = 0;
        if let Some(r) = &self.rehash {
            if !cfg!(cow_mutant = "snapshot-skips-rehash-table") {
                dirs.push((r.new.chunks.clone().into_boxed_slice(), r.new.chunk_len()));
            }
            rehash_index = r.index;
        }
        let hasher = match &self.snapshot_hasher {
            Some(h) => h.clone(),
            None => {
                let h: Arc<dyn ErasedBuildHasher> = Arc::new(self.hash_builder.clone());
                self.snapshot_hasher = Some(h.clone());
                h
            }
        };
        let view = Box::into_raw(Box::new(View {
            version,
            dirs,
            rehash_index,
            len: self.len(),
            hasher,
        }));
        // SAFETY: `Box::into_raw` never returns null.
        let view = unsafe { NonNull::new_unchecked(view) };
        let shared = &*self.shared;
        shared.registry.with_lock(|registry| {
            registry.live.insert(version, view.as_ptr().cast_const());
            shared.publish(registry);
        });
        Ok(Snapshot::new(self.shared.clone(), view))
    }
}

/// Runs `f` in a function of its own: keeps a rare path's code out of an inlined caller.
#[inline(never)]
fn out_of_line<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Walks the chain of `bucket` in `dir` for `(key, namespace)`; null if absent.
#[inline(always)]
fn find_in<K, N, S, P, Q, R>(
    dir: &Directory<K, N, S, P>,
    bucket: usize,
    hash: u32,
    key: &Q,
    namespace: &R,
) -> NodePtr<K, N, S, P>
where
    K: Borrow<Q>,
    N: Borrow<R>,
    Q: Eq + ?Sized,
    R: Eq + ?Sized,
    P: Primitives,
{
    // SAFETY: the callers pass the bucket of `hash` in a sub-table I10 says may hold the entry: its chunk is
    // present (I10).
    let mut n = unsafe { dir.head(bucket) };
    while !n.is_null() {
        // SAFETY: live nodes are valid (I5) and the writer (us) is not writing.
        let node = unsafe { &*n };
        if node.hash == hash && node.key.borrow() == key && node.namespace.borrow() == namespace {
            return n;
        }
        n = node.next();
    }
    n
}

impl<K, N, S, H, P: Primitives> Drop for StateTable<K, N, S, H, P> {
    fn drop(&mut self) {
        let mut dirs = vec![mem::replace(&mut self.primary, Directory::empty())];
        if let Some(r) = self.rehash.take() {
            dirs.push(r.new);
        }
        let orphans = Orphans {
            dirs,
            retired: mem::replace(&mut self.retired, RetireQueue::new()),
        };
        // I13: with snapshots live, the last release frees the structure; otherwise free it now.
        let leftover = self.shared.registry.with_lock(|registry| {
            if registry.live.is_empty() {
                Some(orphans)
            } else {
                registry.orphans = Some(orphans);
                None
            }
        });
        drop(leftover);
    }
}

impl<'a, K, N, S, H, P: Primitives> IntoIterator for &'a StateTable<K, N, S, H, P> {
    type Item = (&'a K, &'a N, &'a S);
    type IntoIter = Entries<'a, K, N, S, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Prints the entries as a map from `(key, namespace)` to state, in bucket order, as std's maps do; the table's
/// shape and bookkeeping are in [`StateTable::stats`].
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<&str, u32, u64> = StateTable::new();
/// table.put("a", 0, 1);
/// assert_eq!(format!("{table:?}"), r#"{("a", 0): 1}"#);
/// ```
impl<K: fmt::Debug, N: fmt::Debug, S: fmt::Debug, H, P: Primitives> fmt::Debug for StateTable<K, N, S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, n, s)| ((k, n), s))).finish()
    }
}

/// A table's shape and bookkeeping, from [`StateTable::stats`]. More fields may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStats {
    /// Entries ([`StateTable::len`]).
    pub len: usize,
    /// Entries held before the next growth ([`StateTable::capacity`]).
    pub capacity: usize,
    /// Buckets ([`StateTable::buckets`]).
    pub buckets: usize,
    /// Whether an incremental rehash is in progress.
    pub rehashing: bool,
    /// The table version `V`.
    pub version: u32,
    /// Unreleased snapshots.
    pub live_snapshots: usize,
    /// Retired nodes and chunks kept for snapshots.
    pub retired: usize,
    /// Copy-on-write work so far.
    pub cow: CowStats,
    /// Bytes of one node — key, namespace, state, hash and link, inline; what the key, namespace or state own on
    /// the heap is not included: what one node copy ([`CowStats::node_copies`]) keeps alive for a snapshot.
    pub node_bytes: usize,
    /// Bytes of one directory chunk of bucket heads (512 heads, or every bucket of a smaller table): what one
    /// chunk copy ([`CowStats::chunk_copies`]) keeps alive for a snapshot.
    pub chunk_bytes: usize,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod walk_tests;
