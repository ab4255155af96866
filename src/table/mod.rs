//! The writer's side: [`StateTable`] (Flink `CopyOnWriteStateTable`, later `CopyOnWriteStateMap`).

pub(crate) mod arena;
pub(crate) mod chain;
pub(crate) mod directory;
pub(crate) mod iter;
pub(crate) mod node;
pub(crate) mod rehash;

use crate::error::SnapshotError;
use crate::hash::composite_hash;
use crate::snapshot::reclaim::{CowStats, Garbage, RetireQueue};
use crate::snapshot::versions::{Orphans, Shared};
use crate::snapshot::{Snapshot, View};
use crate::sync::{ArcOps, MutexOps, Primitives, StdSync, UnsafeCellOps};
use chain::{privatize_prefix, replace_shared, unlink};
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::mem;
use core::ptr::NonNull;
use directory::{Cow, Directory};
use iter::Entries;
use node::{Node, NodePtr};
use rehash::Rehash;
use std::collections::hash_map::RandomState;
use std::panic::{self, AssertUnwindSafe};

/// Smallest number of buckets (Flink `MINIMUM_CAPACITY`).
pub const MINIMUM_CAPACITY: usize = 4;
/// Largest number of buckets (Flink `MAXIMUM_CAPACITY`); the table keeps accepting entries beyond 3/4 of it,
/// with longer chains.
pub const MAXIMUM_CAPACITY: usize = 1 << 30;
/// Buckets of a table made by [`StateTable::new`] (Flink's default of 1024).
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
    threshold: usize,
    /// The capacity the table was created with: it never shrinks below it.
    min_capacity: usize,
    pub(crate) hash_builder: H,
    pub(crate) shared: P::Arc<Shared<K, N, S, P>>,
    pub(crate) retired: RetireQueue<K, N, S, P>,
}

// SAFETY: the table owns K, N, S values that live snapshots on other threads may read (Sync) and that its drop
// may hand to another thread's release (Send, I13); its raw pointers are owned (I5).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, H: Send, P: Primitives> Send for StateTable<K, N, S, H, P> {}
// SAFETY: `&StateTable` only reads (no `&self` method writes, not even a rehash step).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, H: Sync, P: Primitives> Sync for StateTable<K, N, S, H, P> {}

fn threshold_of(capacity: usize) -> usize {
    (capacity >> 1) + (capacity >> 2)
}

fn capacity_for(requested: usize) -> usize {
    requested.clamp(MINIMUM_CAPACITY, MAXIMUM_CAPACITY).next_power_of_two()
}

impl<K, N, S> StateTable<K, N, S> {
    /// An empty table with [`DEFAULT_CAPACITY`] buckets and a flood-resistant hasher.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty table with at least `buckets` buckets (rounded up to a power of two in `[4, 2^30]`).
    pub fn with_capacity(buckets: usize) -> Self {
        Self::with_capacity_and_hasher(buckets, RandomState::new())
    }
}

impl<K, N, S> Default for StateTable<K, N, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, N, S, H, P: Primitives> StateTable<K, N, S, H, P> {
    /// An empty table with [`DEFAULT_CAPACITY`] buckets and the given hasher.
    pub fn with_hasher(hash_builder: H) -> Self {
        Self::with_capacity_and_hasher(DEFAULT_CAPACITY, hash_builder)
    }

    /// An empty table with at least `buckets` buckets (rounded up to a power of two in `[4, 2^30]`) and the
    /// given hasher. The table grows above 3/4 load and shrinks below 1/8 load, never under this capacity.
    pub fn with_capacity_and_hasher(buckets: usize, hash_builder: H) -> Self {
        let capacity = capacity_for(buckets);
        StateTable {
            primary: Directory::new(capacity, 0),
            rehash: None,
            version: 0,
            version_limit: DEFAULT_VERSION_LIMIT,
            threshold: threshold_of(capacity),
            min_capacity: capacity,
            hash_builder,
            shared: P::Arc::new(Shared::new()),
            retired: RetireQueue::new(),
        }
    }

    /// Number of entries (Flink `size`): the sum over both directories during a rehash.
    pub fn len(&self) -> usize {
        self.primary.len + self.rehash.as_ref().map_or(0, |r| r.new.len)
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets (of the new directory during a rehash).
    pub fn capacity(&self) -> usize {
        self.rehash.as_ref().map_or(self.primary.capacity, |r| r.new.capacity)
    }

    /// Whether an incremental rehash is in progress (Flink `isRehashing`).
    pub fn is_rehashing(&self) -> bool {
        self.rehash.is_some()
    }

    /// The table version `V` (Flink `getStateTableVersion`): the version of the newest snapshot taken.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Number of unreleased snapshots of this table.
    pub fn live_snapshots(&self) -> usize {
        self.shared.registry.with_lock(|r| r.live.len())
    }

    /// Number of retired nodes and chunks still kept for live (or not yet noticed as released) snapshots.
    pub fn retired_len(&self) -> usize {
        self.retired.len()
    }

    /// What copy-on-write has cost so far.
    pub fn cow_stats(&self) -> CowStats {
        self.retired.stats
    }

    /// Iterates over `(key, namespace, state)` in bucket order, covering both directories during a rehash.
    /// Flink: `iterator()`.
    pub fn iter(&self) -> Entries<'_, K, N, S, P> {
        let mut dirs = vec![self.primary.view()];
        if let Some(r) = &self.rehash {
            dirs.push(r.new.view());
        }
        Entries::new(dirs, self.len())
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
    fn hash(&self, key: &K, namespace: &N) -> u32 {
        composite_hash(&self.hash_builder, key, namespace)
    }

    /// Finds `(key, namespace)`: the directory, the bucket and the node (I10 says where to look).
    #[inline(always)]
    fn find(&self, hash: u32, key: &K, namespace: &N) -> Option<Found<K, N, S, P>> {
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
    fn begin_write(&mut self) -> Cow {
        let bounds = self.shared.load_bounds();
        if !self.retired.is_empty() {
            self.retired.reclaim(bounds.oldest);
        }
        let cow = Cow {
            required: bounds.highest,
            version: self.version,
        };
        if let Some(r) = &mut self.rehash {
            if rehash::step(&mut self.primary, r, cow, &mut self.retired) {
                self.finish_rehash(cow);
            }
        }
        cow
    }

    fn finish_rehash(&mut self, cow: Cow) {
        let r = self.rehash.take().expect("rehash in progress");
        let old = mem::replace(&mut self.primary, r.new);
        debug_assert_eq!(old.len, 0);
        old.retire_chunks(cow, &mut self.retired);
    }

    /// Returns the state of `(key, namespace)` without copying it (Flink `get(key, namespace)`, which had to
    /// copy a shared state before handing it out; a shared `&S` needs no copy).
    #[inline]
    pub fn get(&self, key: &K, namespace: &N) -> Option<&S> {
        let (_, _, node) = self.find(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `&self` excludes writes; the node is live (I5).
        Some(unsafe { (*node).state() })
    }

    /// Whether `(key, namespace)` has a state (Flink `containsKey`).
    pub fn contains(&self, key: &K, namespace: &N) -> bool {
        self.find(self.hash(key, namespace), key, namespace).is_some()
    }

    /// Returns the state of `(key, namespace)` for in-place modification (Flink `get(key, namespace)`): if a live
    /// snapshot can see it, the node and the chain prefix in front of it are copied first (I3).
    pub fn get_mut(&mut self, key: &K, namespace: &N) -> Option<&mut S> {
        let cow = self.begin_write();
        let (sub, bucket, node) = self.find(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `node` is live in `bucket` of `sub`.
        let node = unsafe { self.make_private(sub, bucket, node, cow) };
        // SAFETY: the node is private and `&mut self` is held for the returned lifetime.
        Some(unsafe { (*node).state_mut() })
    }

    /// Maps `(key, namespace)` to `state` (Flink `put`). The old state, if any, is dropped — or kept for the
    /// snapshots that can see it — but never copied.
    pub fn put(&mut self, key: K, namespace: N, state: S) {
        self.put_inner(key, namespace, state, false);
    }

    /// Maps `(key, namespace)` to `state` and returns the old state (Flink `putAndGetOld`). The old state is
    /// cloned only when a live snapshot can see it; otherwise it is moved out.
    pub fn put_and_get_old(&mut self, key: K, namespace: N, state: S) -> Option<S> {
        self.put_inner(key, namespace, state, true)
    }

    fn put_inner(&mut self, key: K, namespace: N, state: S, want_old: bool) -> Option<S> {
        let cow = self.begin_write();
        let hash = self.hash(&key, &namespace);
        match self.find(hash, &key, &namespace) {
            None => {
                self.insert_new(hash, key, namespace, state, cow);
                None
            }
            // SAFETY: `node` is live in `bucket` of `sub`.
            Some((sub, bucket, node)) => unsafe { self.replace_state(sub, bucket, node, state, want_old, cow) },
        }
    }

    /// Removes `(key, namespace)` (Flink `remove`); returns whether it was present. Never copies the state.
    pub fn remove(&mut self, key: &K, namespace: &N) -> bool {
        self.remove_inner(key, namespace, false).is_some()
    }

    /// Removes `(key, namespace)` and returns its state (Flink `removeAndGetOld`), cloned only when a live
    /// snapshot can see it.
    pub fn remove_and_get_old(&mut self, key: &K, namespace: &N) -> Option<S> {
        self.remove_inner(key, namespace, true).flatten()
    }

    /// Sets the state of `(key, namespace)` to `f(old, value)` (Flink `transform`). `old` is `None` when absent.
    /// When a live snapshot can see the old state, `f` gets a clone; otherwise the state itself.
    ///
    /// If `f` panics the panic propagates; the table stays valid: an absent entry stays absent, a shared entry
    /// stays as it was, and a private entry — whose state `f` consumed — is removed (docs/DESIGN.md).
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
            if cow.is_shared((*node).version()) && !cfg!(feature = "mutant-skip-state-copy") {
                let state = f(Some((*node).state().clone()), value);
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
    pub fn size_of_namespace(&self, namespace: &N) -> usize {
        self.iter().filter(|(_, n, _)| *n == namespace).count()
    }

    /// Makes `node` private: if a live snapshot can see it, replaces it with a copy (and copies the prefix).
    ///
    /// # Safety
    /// `node` is live in `bucket` of `sub`.
    unsafe fn make_private(
        &mut self,
        sub: Sub,
        bucket: usize,
        node: NodePtr<K, N, S, P>,
        cow: Cow,
    ) -> NodePtr<K, N, S, P> {
        // SAFETY: `node` is valid (caller).
        if !cow.is_shared(unsafe { (*node).version() }) || cfg!(feature = "mutant-skip-state-copy") {
            return node;
        }
        let (dir, retired) = self.dir_and_retired(sub);
        // SAFETY: per the caller; the prefix is made private before the copy is built (a panicking clone then
        // leaves an equivalent, valid chain).
        unsafe {
            let link = privatize_prefix(dir, bucket, node, cow, retired);
            let copy = Node::copy(&mut retired.arena, node, None, cow.version);
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

    fn remove_inner(&mut self, key: &K, namespace: &N, want_old: bool) -> Option<Option<S>> {
        let removed = self.unlink_entry(key, namespace, want_old)?;
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
        self.rehash = Some(Rehash::start(self.primary.capacity, capacity, self.version));
        self.threshold = threshold_of(capacity);
    }

    fn unlink_entry(&mut self, key: &K, namespace: &N, want_old: bool) -> Option<Option<S>> {
        let cow = self.begin_write();
        let (sub, bucket, node) = self.find(self.hash(key, namespace), key, namespace)?;
        // SAFETY: `node` is live in `bucket` of `sub`; after the unlink it is owned here until retired or freed.
        unsafe {
            let shared = cow.is_shared((*node).version());
            // Clone before unlinking: a panicking clone leaves the table unchanged.
            let old = if shared && want_old {
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
                Some(old)
            } else if want_old {
                let state = (*node).take_state();
                Node::free_without_state(&mut retired.arena, node);
                Some(Some(state))
            } else {
                Node::free(&mut retired.arena, node);
                Some(None)
            }
        }
    }

    fn insert_new(&mut self, hash: u32, key: K, namespace: N, state: S, cow: Cow) {
        if self.rehash.is_none() && self.len() > self.threshold && self.primary.capacity < MAXIMUM_CAPACITY {
            self.start_rehash(self.primary.capacity * 2);
        }
        let sub = match &self.rehash {
            Some(r) if self.primary.bucket(hash) <= r.index => Sub::New,
            _ => Sub::Primary,
        };
        let (dir, retired) = self.dir_and_retired(sub);
        let bucket = dir.bucket(hash);
        let cell = dir.head_cell_for_write(bucket, cow, retired);
        // SAFETY: the cell belongs to a private chunk (I3).
        let head = cell.with(|p| unsafe { *p });
        let node = Node::alloc(&mut retired.arena, key, namespace, hash, state, head, cow.version);
        // SAFETY: as above.
        cell.with_mut(|p| unsafe { *p = node });
        dir.len += 1;
    }

    /// Takes a snapshot (Flink `createSnapshot` / `stateSnapshot`): bumps the version, copies the chunk
    /// directory (both directories and the rehash index during a rehash) and registers the snapshot. The cost is
    /// one pointer pair per 512 buckets — no per-entry work and no per-entry atomic operation.
    ///
    /// Fails only if the version counter is exhausted while snapshots have been continuously live for about
    /// 2^32 snapshots; whenever no snapshot is live, versions are renormalised instead (I12).
    pub fn snapshot(&mut self) -> Result<Snapshot<K, N, S, P>, SnapshotError> {
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
            if !cfg!(feature = "mutant-snapshot-skips-rehash-table") {
                dirs.push((r.new.chunks.clone().into_boxed_slice(), r.new.chunk_len()));
            }
            rehash_index = r.index;
        }
        let view = Box::into_raw(Box::new(View {
            version,
            dirs,
            rehash_index,
            len: self.len(),
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

/// Walks the chain of `bucket` in `dir` for `(key, namespace)`; null if absent.
#[inline(always)]
fn find_in<K: Eq, N: Eq, S, P: Primitives>(
    dir: &Directory<K, N, S, P>,
    bucket: usize,
    hash: u32,
    key: &K,
    namespace: &N,
) -> NodePtr<K, N, S, P> {
    let mut n = dir.head(bucket);
    while !n.is_null() {
        // SAFETY: live nodes are valid (I5) and the writer (us) is not writing.
        let node = unsafe { &*n };
        if node.hash == hash && node.key == *key && node.namespace == *namespace {
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

impl<K, N, S, H, P: Primitives> fmt::Debug for StateTable<K, N, S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTable")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("rehashing", &self.is_rehashing())
            .field("version", &self.version)
            .field("retired", &self.retired.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
