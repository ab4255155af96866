//! What changed between two snapshots of one table: [`Snapshot::diff`] (docs/DESIGN.md, C1–C5).
//!
//! Flink has no counterpart for the heap backend (FLIP-151, incremental heap snapshots, was never finished); the
//! walk relies on the structural sharing of copy-on-write: a chunk or node that the base snapshot can reach is
//! never written while it lives (I3), so an identical pointer means identical contents.

use super::Snapshot;
use crate::sync::Primitives;
use crate::table::directory::{ChunkRef, DirView, Head};
use crate::table::node::{prefetch_line, Node, NodePtr};
use core::fmt;
use core::hash::Hash;
use core::iter::FusedIterator;
use core::ptr;

/// One change between a base snapshot and a later one of the same table (C3: each `(key, namespace)` at most
/// once per diff, so the changes may be applied in any order).
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::snapshot::Change;
/// let mut table: StateTable<u64, u32, u64> = StateTable::new();
/// table.put(1, 0, 10);
/// table.put(2, 0, 20);
/// let base = table.snapshot().unwrap();
/// table.put(1, 0, 11);
/// table.remove(&2, &0);
/// let later = table.snapshot().unwrap();
/// let mut changes: Vec<_> = later.diff(&base).unwrap().collect();
/// changes.sort_by_key(|c| *c.key());
/// assert_eq!(changes, vec![
///     Change::Upsert { key: &1, namespace: &0, state: &11 },
///     Change::Remove { key: &2, namespace: &0 },
/// ]);
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Change<'a, K, N, S> {
    /// The later snapshot holds `(key, namespace)` with `state`, and the base held it with another state, did
    /// not hold it, or held an equal state in a node copied since (C2: a redundant, correct upsert).
    Upsert {
        /// The key.
        key: &'a K,
        /// The namespace.
        namespace: &'a N,
        /// The state in the later snapshot.
        state: &'a S,
    },
    /// The base held `(key, namespace)`; the later snapshot does not.
    Remove {
        /// The key.
        key: &'a K,
        /// The namespace.
        namespace: &'a N,
    },
}

// By hand, not derived: a change holds references only, so it is `Copy` whatever `K`, `N` and `S` are.
impl<K, N, S> Clone for Change<'_, K, N, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, N, S> Copy for Change<'_, K, N, S> {}

impl<'a, K, N, S> Change<'a, K, N, S> {
    /// The key the change is about.
    #[must_use]
    pub fn key(&self) -> &'a K {
        match *self {
            Change::Upsert { key, .. } | Change::Remove { key, .. } => key,
        }
    }

    /// The namespace the change is about.
    #[must_use]
    pub fn namespace(&self) -> &'a N {
        match *self {
            Change::Upsert { namespace, .. } | Change::Remove { namespace, .. } => namespace,
        }
    }
}

/// Why two snapshots cannot be diffed (C1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// One of the two snapshots was released: what it saw may already be freed.
    #[error("cannot diff a released snapshot")]
    Released,
    /// The snapshots are of two different tables (or of a table and the one a restore replaced it with).
    #[error("the snapshots are of different tables")]
    OtherTable,
    /// The base was taken after the later snapshot.
    #[error("the base snapshot (version {base}) is newer than the later one (version {later})")]
    BaseNewer {
        /// The base's version.
        base: u32,
        /// The later snapshot's version.
        later: u32,
    },
}

impl<K, N, S, P: Primitives> Snapshot<K, N, S, P> {
    /// The changes from `base` to `self`: an upsert for every entry `self` holds that was inserted, written or
    /// copied since `base` was taken, and a removal for every entry `base` holds that `self` does not
    /// (docs/DESIGN.md, C1–C5). Applying them to `base`'s contents gives `self`'s.
    ///
    /// Lock-free like every snapshot read: both snapshots are live, so nothing they reach is written or freed
    /// (I9). **Cost** (C4): when both snapshots hold one directory of the same capacity, one compare per chunk
    /// (identical chunk pointers are skipped whole), a compare per bucket of a chunk that differs, eight at a
    /// time (identical heads are skipped), and the chain prefixes newer than `base` of the buckets that differ,
    /// whose head nodes are prefetched 16 buckets ahead — proportional to the change when it is clustered, to the
    /// capacity (a pointer compare per bucket) when it is spread over every chunk. At 1M entries a diff costs
    /// 3–4% of a full checkpoint's write with 1% of the entries changed, 0.6–0.8× with all of them changed
    /// (docs/PERFORMANCE.md). Otherwise (a rehash in flight in either snapshot, a different capacity) both
    /// snapshots are walked whole and each base entry is looked up in `self` (C5): the cost of a full walk,
    /// never more.
    ///
    /// # Errors
    /// [`DiffError`] if either snapshot is released, they are of different tables, or `base` is newer (C1).
    ///
    /// ```
    /// use cow_state_table::snapshot::Change;
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// for k in 0..1000 { table.put(k, 0, k); }
    /// let base = table.snapshot().unwrap();
    /// table.put(7, 0, 70);
    /// let later = table.snapshot().unwrap();
    /// // The upsert of key 7, and redundant upserts of the nodes copied with it, if any (the chain prefix in
    /// // front of it, a rehash step's migrations: C2). Which nodes those are depends on the hasher's seed.
    /// for change in later.diff(&base).unwrap() {
    ///     match change {
    ///         Change::Upsert { key: &7, state, .. } => assert_eq!(*state, 70),
    ///         Change::Upsert { key, state, .. } => assert_eq!(state, key), // an equal state, copied
    ///         Change::Remove { .. } => unreachable!("nothing was removed"),
    ///     }
    /// }
    /// assert!(later.diff(&base).unwrap().any(|c| *c.key() == 7));
    /// assert!(base.diff(&later).is_err());
    /// ```
    pub fn diff<'a>(&'a self, base: &'a Snapshot<K, N, S, P>) -> Result<Diff<'a, K, N, S, P>, DiffError>
    where
        K: Hash + Eq,
        N: Hash + Eq,
    {
        if self.released || base.released {
            return Err(DiffError::Released);
        }
        if !ptr::eq(&*self.shared, &*base.shared) {
            return Err(DiffError::OtherTable);
        }
        let (view, base_view) = (self.view(), base.view());
        if base_view.version > view.version {
            return Err(DiffError::BaseNewer {
                base: base_view.version,
                later: view.version,
            });
        }
        let mode = match (&view.dirs[..], &base_view.dirs[..]) {
            ([(later_chunks, later_len)], [(base_chunks, base_len)])
                if later_len == base_len && later_chunks.len() == base_chunks.len() =>
            {
                Mode::Buckets(Box::new(Buckets::new(
                    DirView {
                        chunks: later_chunks,
                        chunk_len: *later_len,
                    },
                    DirView {
                        chunks: base_chunks,
                        chunk_len: *base_len,
                    },
                )))
            }
            _ => Mode::Lookup {
                upserts: NodeWalk::new(view.dir_views().collect()),
                removals: NodeWalk::new(base_view.dir_views().collect()),
            },
        };
        Ok(Diff {
            later: self,
            base_version: base_view.version,
            mode,
        })
    }
}

/// Which walk a [`Diff`] makes (docs/DESIGN.md, C3–C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiffWalk {
    /// Both snapshots hold one directory of the same shape: identical chunks and chains are skipped (C3).
    Buckets,
    /// The shapes differ (a rehash in flight in either, another capacity): both snapshots are walked whole and
    /// each base entry is looked up in the later one (C5).
    Lookup,
}

/// Iterator over the [`Change`]s from a base snapshot to a later one (made by [`Snapshot::diff`]).
pub struct Diff<'a, K, N, S, P: Primitives> {
    later: &'a Snapshot<K, N, S, P>,
    base_version: u32,
    mode: Mode<'a, K, N, S, P>,
}

// SAFETY: the iterator reads two live snapshots (I9) and hands out `&K`, `&N`, `&S`, as `Entries` does (its batch
// of changes holds such references, nothing else: C4).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, P: Primitives> Send for Diff<'_, K, N, S, P> {}
// SAFETY: through `&Diff` only `walk` and `Debug` read it: plain fields and the later snapshot's version, which a
// live snapshot never changes (I9); every node, state and batched change is reached through `&mut self` (`next`).
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, P: Primitives> Sync for Diff<'_, K, N, S, P> {}

enum Mode<'a, K, N, S, P: Primitives> {
    /// C3: one directory of the same shape in both snapshots (boxed: its ring and batch make it the larger).
    Buckets(Box<Buckets<'a, K, N, S, P>>),
    /// C5: walk both whole; removals by lookup.
    Lookup {
        upserts: NodeWalk<'a, K, N, S, P>,
        removals: NodeWalk<'a, K, N, S, P>,
    },
}

/// How many differing buckets C3's scan finds ahead of the one being diffed: their head nodes, in both
/// snapshots, are prefetched when found, so the cache misses of up to this many buckets overlap (C4).
const AHEAD: usize = 16;

/// The heads of one bucket that differs, in `later` and in the base.
type Heads<K, N, S, P> = (NodePtr<K, N, S, P>, NodePtr<K, N, S, P>);

/// C3's walk: the scan (the next slot to compare), the differing buckets it found ahead, and the changes of
/// the buckets diffed last, handed out one by one.
struct Buckets<'a, K, N, S, P: Primitives> {
    later: DirView<'a, K, N, S, P>,
    base: DirView<'a, K, N, S, P>,
    chunk: usize,
    /// The next group of slots of chunk `chunk` to compare.
    slot: usize,
    /// The group last compared, and which of its slots differ and are not yet found (bit `j`: slot `group + j`).
    group: usize,
    mask: u32,
    /// A ring of the buckets found by the scan and not yet diffed: `found` of them from index `first` on.
    ahead: [Heads<K, N, S, P>; AHEAD],
    first: usize,
    found: usize,
    /// The changes of the buckets diffed last (at least [`BATCH`] unless the walk is over), from `pos` on not yet
    /// handed out.
    changes: Vec<Change<'a, K, N, S>>,
    pos: usize,
}

impl<'a, K, N, S, P: Primitives> Buckets<'a, K, N, S, P> {
    fn new(later: DirView<'a, K, N, S, P>, base: DirView<'a, K, N, S, P>) -> Self {
        Buckets {
            later,
            base,
            chunk: 0,
            slot: 0,
            group: 0,
            mask: 0,
            ahead: [(ptr::null_mut(), ptr::null_mut()); AHEAD],
            first: 0,
            found: 0,
            changes: Vec::new(),
            pos: 0,
        }
    }
}

/// Whether a node of the later snapshot is older than the base, hence unchanged and shared with it (C2).
#[inline]
fn is_shared<K, N, S, P: Primitives>(node: &Node<K, N, S, P>, base_version: u32) -> bool {
    #[cfg(not(any(cow_mutant = "diff-shared-as-changed", cow_mutant = "diff-changed-as-shared")))]
    {
        node.version() < base_version
    }
    // Planted mutant: every node counts as changed (the walk never stops at the shared suffix).
    #[cfg(cow_mutant = "diff-shared-as-changed")]
    {
        let _ = (node, base_version);
        false
    }
    // Planted mutant: the nodes written at the base's own version count as shared.
    #[cfg(cow_mutant = "diff-changed-as-shared")]
    {
        node.version() <= base_version
    }
}

/// Whether two directory slots can be skipped whole (C3: the same chunk pointer, or no chunk in either).
#[inline]
fn same_chunk<K, N, S, P: Primitives>(later: &ChunkRef<K, N, S, P>, base: &ChunkRef<K, N, S, P>) -> bool {
    #[cfg(not(cow_mutant = "diff-skips-changed-chunk"))]
    {
        later.heads == base.heads
    }
    // Planted mutant: a chunk whose first bucket is unchanged is skipped although its pointer differs.
    #[cfg(cow_mutant = "diff-skips-changed-chunk")]
    {
        later.heads == base.heads
            || (later.is_present()
                && base.is_present()
                // SAFETY: both chunks are present in live snapshots (I9).
                && unsafe { later.head(0) == base.head(0) })
    }
}

/// Slots compared per step of C3's scan: eight heads, one cache line of pointers.
const GROUP: usize = 8;

/// Head `slot` of a directory slot, or null if the slot holds no chunk (W1: an absent slot is read as empty
/// buckets, never through).
///
/// # Safety
/// The chunk, if present, is a chunk of a live snapshot (I9), and `slot` is below its length.
#[inline]
unsafe fn head_or_null<K, N, S, P: Primitives>(chunk: &ChunkRef<K, N, S, P>, slot: usize) -> NodePtr<K, N, S, P> {
    if chunk.is_present() {
        // SAFETY: per the caller (I9).
        unsafe { chunk.head(slot) }
    } else {
        ptr::null_mut()
    }
}

/// The first group of slots from `from` on (`from` a multiple of [`GROUP`] or of a smaller chunk length) in
/// which the two directory slots hold different heads, and which differ: bit `j` of the mask for slot
/// `group + j`; `(end, 0)` if none does (C3). Both present (the common case): eight compares without a branch per
/// group while all are equal — in a chunk that differs, most groups do not — and the mask only for a group that
/// differs. The same groups of the next chunks, `next_later` and `next_base` (null if none), are prefetched: a
/// chunk is an allocation of its own, where the processor's own read-ahead starts anew (C4).
///
/// # Safety
/// Each chunk, if present, is a chunk of a live snapshot (I9); `from <= end`, and `end` is at most their length.
#[inline]
unsafe fn next_differing<K, N, S, P: Primitives>(
    later: &ChunkRef<K, N, S, P>,
    base: &ChunkRef<K, N, S, P>,
    mut from: usize,
    end: usize,
    next_later: *mut Head<K, N, S, P>,
    next_base: *mut Head<K, N, S, P>,
) -> (usize, u32) {
    if later.is_present() && base.is_present() {
        while from + GROUP <= end {
            prefetch_line(next_later.wrapping_add(from));
            prefetch_line(next_base.wrapping_add(from));
            let mut differ = 0usize;
            for j in 0..GROUP {
                // SAFETY: per the caller, two present chunks of live snapshots (I9); `from + j < end`.
                let (l, b) = unsafe { (later.head(from + j), base.head(from + j)) };
                differ |= (l as usize) ^ (b as usize);
            }
            if differ != 0 {
                let mut mask = 0u32;
                for j in 0..GROUP {
                    // SAFETY: as above (I9).
                    let (l, b) = unsafe { (later.head(from + j), base.head(from + j)) };
                    mask |= u32::from(l != b) << j;
                }
                return (from, mask);
            }
            from += GROUP;
        }
    }
    // A chunk shorter than a group, or an absent slot on one side.
    while from < end {
        let mut mask = 0u32;
        for j in 0..GROUP.min(end - from) {
            // SAFETY: per the caller (I9, W1); `from + j < end`.
            let (l, b) = unsafe { (head_or_null(later, from + j), head_or_null(base, from + j)) };
            mask |= u32::from(l != b) << j;
        }
        if mask != 0 {
            return (from, mask);
        }
        from += GROUP.min(end - from);
    }
    (end, 0)
}

impl<'a, K: Eq, N: Eq, S, P: Primitives> Buckets<'a, K, N, S, P> {
    /// The heads of the next bucket that differs, in directory order, or `None` after the last (C3).
    #[inline]
    fn scan(&mut self) -> Option<Heads<K, N, S, P>> {
        let len = self.later.chunk_len;
        loop {
            if self.mask != 0 {
                let slot = self.group + self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                let (later, base) = (&self.later.chunks[self.chunk], &self.base.chunks[self.chunk]);
                // SAFETY: chunks of live snapshots (I9), `slot < len` (a bit of `next_differing`'s mask).
                return Some(unsafe { (head_or_null(later, slot), head_or_null(base, slot)) });
            }
            let later = self.later.chunks.get(self.chunk)?;
            let base = &self.base.chunks[self.chunk];
            if self.slot == len || (self.slot == 0 && same_chunk(later, base)) {
                self.chunk += 1;
                self.slot = 0;
                continue;
            }
            // The next slot's chunks, read ahead while this one is compared (C4), if they differ.
            let next = match (
                self.later.chunks.get(self.chunk + 1),
                self.base.chunks.get(self.chunk + 1),
            ) {
                (Some(l), Some(b)) if l.heads != b.heads => (l.heads, b.heads),
                _ => (ptr::null_mut(), ptr::null_mut()),
            };
            // SAFETY: chunks of live snapshots (I9), `slot < len`, their length.
            (self.group, self.mask) = unsafe { next_differing(later, base, self.slot, len, next.0, next.1) };
            self.slot = len.min(self.group + GROUP);
        }
    }

    /// The next change of C3's walk.
    #[inline]
    fn next(&mut self, base_version: u32) -> Option<Change<'a, K, N, S>> {
        if self.pos == self.changes.len() {
            self.fill(base_version);
        }
        let change = self.changes.get(self.pos).copied();
        self.pos += usize::from(change.is_some());
        change
    }

    /// Diffs buckets, in directory order, until [`BATCH`] changes are kept or the walk is over.
    fn fill(&mut self, base_version: u32) {
        self.changes.clear();
        self.pos = 0;
        while self.changes.len() < BATCH {
            // Keep the scan AHEAD buckets in front, prefetching the heads it finds (C4).
            while self.found < AHEAD {
                let Some(heads) = self.scan() else { break };
                prefetch_line(heads.0);
                prefetch_line(heads.1);
                self.ahead[(self.first + self.found) % AHEAD] = heads;
                self.found += 1;
            }
            if self.found == 0 {
                return;
            }
            let (later_head, base_head) = self.ahead[self.first];
            self.first = (self.first + 1) % AHEAD;
            self.found -= 1;
            // SAFETY: the heads of one bucket in two live snapshots of one shape (C3, I9).
            unsafe { diff_bucket(later_head, base_head, base_version, &mut self.changes) };
        }
    }
}

/// How many changes C3's walk finds before handing them out: the buckets are diffed in a tight loop, and a
/// change handed out is a copy from a buffer.
const BATCH: usize = 64;

/// Appends the changes of one bucket whose heads differ (C2, C3): `later`'s chain from `later_head` up to its
/// first node older than the base (`shared`, or null) holds the upserts; the base's chain from `base_head` up to
/// `shared` the removal candidates, each a removal unless its key and namespace is among the upserts.
///
/// # Safety
/// `later_head` and `base_head` are the heads of one bucket in two live snapshots of one shape, the later and the
/// base of version `base_version` (C3, I9), both borrowed for `'a`.
#[inline]
unsafe fn diff_bucket<'a, K: Eq, N: Eq, S, P: Primitives>(
    later_head: NodePtr<K, N, S, P>,
    base_head: NodePtr<K, N, S, P>,
    base_version: u32,
    out: &mut Vec<Change<'a, K, N, S>>,
) {
    let mut shared = later_head;
    while !shared.is_null() {
        // SAFETY: a node of the live later snapshot, valid and unwritten while it is borrowed ('a, I9).
        let node: &'a Node<K, N, S, P> = unsafe { &*shared };
        if is_shared(node, base_version) {
            break;
        }
        // SAFETY: as above; the state is unwritten while the snapshot lives (I9).
        let state = unsafe { node.state() };
        out.push(Change::Upsert {
            key: &node.key,
            namespace: &node.namespace,
            state,
        });
        shared = node.next();
    }
    let mut removal = base_head;
    while !removal.is_null() && removal != shared {
        // SAFETY: a node of the live base snapshot (I9), borrowed for 'a.
        let node: &'a Node<K, N, S, P> = unsafe { &*removal };
        removal = node.next();
        let mut n = later_head;
        let mut kept = false;
        while n != shared {
            // SAFETY: a node of the live later snapshot (I9).
            let other = unsafe { &*n };
            if other.hash == node.hash && other.key == node.key && other.namespace == node.namespace {
                kept = true;
                break;
            }
            n = other.next();
        }
        if !kept {
            out.push(Change::Remove {
                key: &node.key,
                namespace: &node.namespace,
            });
        }
    }
}

/// A walk over every node of one or two directories of a live snapshot (W1: present chunks only).
struct NodeWalk<'a, K, N, S, P: Primitives> {
    dirs: Vec<DirView<'a, K, N, S, P>>,
    dir: usize,
    chunk: usize,
    slot: usize,
    node: NodePtr<K, N, S, P>,
}

impl<'a, K, N, S, P: Primitives> NodeWalk<'a, K, N, S, P> {
    fn new(dirs: Vec<DirView<'a, K, N, S, P>>) -> Self {
        NodeWalk {
            dirs,
            dir: 0,
            chunk: 0,
            slot: 0,
            node: ptr::null_mut(),
        }
    }

    /// The next node, valid for 'a (the snapshot is live and borrowed, I9).
    fn next(&mut self) -> Option<&'a Node<K, N, S, P>> {
        while self.node.is_null() {
            let dir = self.dirs.get(self.dir)?;
            let Some(chunk) = dir.chunks.get(self.chunk) else {
                self.dir += 1;
                self.chunk = 0;
                continue;
            };
            if !chunk.is_present() || self.slot == dir.chunk_len {
                self.chunk += 1;
                self.slot = 0;
                continue;
            }
            // SAFETY: a present chunk of a live snapshot (W1, I9), `slot < chunk_len`.
            self.node = unsafe { chunk.head(self.slot) };
            self.slot += 1;
        }
        // SAFETY: a node of a live snapshot, valid and unwritten for 'a (I9).
        let node: &'a Node<K, N, S, P> = unsafe { &*self.node };
        self.node = node.next();
        Some(node)
    }
}

impl<'a, K: Hash + Eq, N: Hash + Eq, S, P: Primitives> Iterator for Diff<'a, K, N, S, P> {
    type Item = Change<'a, K, N, S>;

    fn next(&mut self) -> Option<Self::Item> {
        let base_version = self.base_version;
        match &mut self.mode {
            Mode::Buckets(buckets) => buckets.next(base_version),
            Mode::Lookup { upserts, removals } => {
                while let Some(node) = upserts.next() {
                    if !is_shared(node, base_version) {
                        // SAFETY: a node of the live later snapshot; its state is unwritten for 'a (I9).
                        let state = unsafe { node.state() };
                        return Some(Change::Upsert {
                            key: &node.key,
                            namespace: &node.namespace,
                            state,
                        });
                    }
                }
                let later = self.later.view();
                while let Some(node) = removals.next() {
                    if later.find(&node.key, &node.namespace).is_null() {
                        return Some(Change::Remove {
                            key: &node.key,
                            namespace: &node.namespace,
                        });
                    }
                }
                None
            }
        }
    }
}

impl<K: Hash + Eq, N: Hash + Eq, S, P: Primitives> FusedIterator for Diff<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> Diff<'_, K, N, S, P> {
    /// Which walk this diff makes: C3's, proportional to the chunks and buckets that differ, or C5's fallback,
    /// proportional to both snapshots' sizes (a caller may prefer a full checkpoint then, C7).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::snapshot::DiffWalk;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 1);
    /// let base = table.snapshot().unwrap();
    /// table.put(2, 0, 2);
    /// let later = table.snapshot().unwrap();
    /// assert_eq!(later.diff(&base).unwrap().walk(), DiffWalk::Buckets);
    /// for k in 3..2000 { table.put(k, 0, k); } // a growth: another shape
    /// let grown = table.snapshot().unwrap();
    /// assert_eq!(grown.diff(&base).unwrap().walk(), DiffWalk::Lookup);
    /// // keys 2..2000 are upserts; key 1 too if the growth copied its node (C2), so 1998 or 1999 changes.
    /// assert!((1998..=1999).contains(&grown.diff(&base).unwrap().count()));
    /// ```
    #[must_use]
    pub fn walk(&self) -> DiffWalk {
        match self.mode {
            Mode::Buckets(_) => DiffWalk::Buckets,
            Mode::Lookup { .. } => DiffWalk::Lookup,
        }
    }
}

impl<K, N, S, P: Primitives> fmt::Debug for Diff<'_, K, N, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diff")
            .field("base_version", &self.base_version)
            .field("later_version", &self.later.version())
            .field("walk", &self.walk())
            .finish()
    }
}
