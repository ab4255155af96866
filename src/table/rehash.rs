//! Incremental rehash (Flink `incrementalRehash`): two directories and a rehash index; every write operation
//! migrates a bounded number of entries from the old directory to the new one.
//!
//! Bounds per operation: at most [`MIGRATE_PER_STEP`] entries moved and at most [`SCAN_PER_STEP`] empty buckets
//! skipped, whatever the table's size or its chains' lengths. Entries leave old bucket `rh` one at a time from
//! its head, so a bucket may be half-migrated between two operations (I10 covers that case). The new directory
//! has `2C` buckets (growth) or `C/2` (shrink); the step only asks it for each entry's bucket.
//! Progress: a growth starts at `len > 3C/4` and the next one is due at `len > 3C/2`, i.e. after at least `3C/4`
//! inserts, each doing a step; the at most `3C/2` entries and `C` buckets of the old table need at most
//! `3C/8 + C/64` steps. A shrink starts at `len < C/8`; the old table's `< C/8` entries and `C` buckets need at
//! most `C/32 + C/64 = 3C/64` steps, after which `len < C/8 + 3C/64`, below the new growth threshold `3C/8`.

use super::directory::{Cow, Directory};
use super::node::{prefetch, Node};
use crate::snapshot::reclaim::{Garbage, RetireQueue};
use crate::sync::{Primitives, UnsafeCellOps};

/// Entries moved per step (the seed's `MIN_TRANSFERRED_PER_INCREMENTAL_REHASH`).
pub(crate) const MIGRATE_PER_STEP: usize = 4;
/// Empty buckets skipped per step at most.
pub(crate) const SCAN_PER_STEP: usize = 64;

/// The ongoing rehash: the new directory and the index of the next old bucket to migrate.
pub(crate) struct Rehash<K, N, S, P: Primitives> {
    pub(crate) new: Directory<K, N, S, P>,
    pub(crate) index: usize,
    /// Old buckets below this one have had their first node prefetched (a performance hint only).
    pub(crate) prefetched: usize,
    /// The new chunks that old buckets below this one map into are allocated (I10: `next_alloc > index`).
    next_alloc: usize,
}

impl<K, N, S, P: Primitives> Rehash<K, N, S, P> {
    /// Starts a rehash of a table of `old_capacity` buckets into a new directory of `capacity` buckets whose
    /// chunks are allocated as the rehash index reaches the old buckets that map into them (docs/DESIGN.md).
    /// Its chunks hold at most `2^max_chunk_bits` heads (the table's setting).
    pub(crate) fn start(old_capacity: usize, capacity: usize, version: u32, max_chunk_bits: u32) -> Self {
        let mut r = Rehash {
            new: Directory::new_unallocated(capacity, version, max_chunk_bits),
            index: 0,
            prefetched: 0,
            next_alloc: 0,
        };
        r.allocate_ahead(old_capacity, version);
        r
    }

    /// Allocates (at `version`) the new chunks that old buckets `<= index` map into (I10). Growth maps old bucket
    /// `i` to new buckets `i` and `i + C`, a shrink to `i mod C/2`; a new chunk spans `chunk_len` such buckets,
    /// so one call allocates at most two chunks unless the index jumped. Out of line: the caller checks
    /// `next_alloc <= index` first, which holds once per chunk of progress.
    #[cold]
    #[inline(never)]
    fn allocate_ahead(&mut self, old_capacity: usize, version: u32) {
        while self.next_alloc <= self.index && self.next_alloc < old_capacity {
            let (len, bits) = (self.new.chunk_len(), self.new.chunk_bits);
            if len > old_capacity {
                // Growth into a directory of one chunk: allocate it whole.
                self.new.ensure_chunk(0, version);
                self.next_alloc = old_capacity;
                return;
            }
            let x = self.next_alloc;
            self.new.ensure_chunk((x & (self.new.capacity - 1)) >> bits, version);
            if self.new.capacity > old_capacity {
                self.new.ensure_chunk((x + old_capacity) >> bits, version);
            }
            self.next_alloc = x + len;
        }
    }

    /// Moves the rehash index past the `by` old buckets from `index` on (now empty, all in one old chunk): gives
    /// up the old chunk it completes (I6) and allocates the new chunks the next bucket maps into (I10).
    #[inline]
    fn advance_by(
        &mut self,
        by: usize,
        old: &mut Directory<K, N, S, P>,
        cow: Cow,
        retired: &mut RetireQueue<K, N, S, P>,
    ) {
        debug_assert!(by >= 1 && (self.index & (old.chunk_len() - 1)) + by <= old.chunk_len());
        self.index += by;
        if self.index & (old.chunk_len() - 1) == 0 {
            // Once per old chunk of progress; `give_up_chunk` is out of line.
            old.give_up_chunk((self.index - 1) >> old.chunk_bits, cow, retired);
        }
        if self.next_alloc <= self.index {
            self.allocate_ahead(old.capacity, cow.version);
        }
    }
}

/// Migrates up to `MIGRATE_PER_STEP` entries from `old` to `rehash.new`. Returns `true` when the old
/// directory is empty and the rehash is complete.
pub(crate) fn step<K: Clone, N: Clone, S: Clone, P: Primitives>(
    old: &mut Directory<K, N, S, P>,
    rehash: &mut Rehash<K, N, S, P>,
    cow: Cow,
    retired: &mut RetireQueue<K, N, S, P>,
) -> bool {
    let mut moved = 0;
    let mut scanned = 0;
    while moved < MIGRATE_PER_STEP && scanned < SCAN_PER_STEP {
        if rehash.index == old.capacity {
            return true;
        }
        // SAFETY: old bucket `rh` (`< capacity`) is in a present chunk (I10: the old chunks holding a bucket
        // `>= rh` are).
        let node = unsafe { old.head(rehash.index) };
        if node.is_null() {
            // A run of empty buckets (within one old chunk, within this step's scan budget) in one go.
            // SAFETY: as above, the chunk of old bucket `rh` is present (I10).
            let run = unsafe { old.empty_run(rehash.index, SCAN_PER_STEP - scanned) };
            rehash.advance_by(run, old, cow, retired);
            scanned += run;
            continue;
        }
        // SAFETY: `node` is valid (I5); reading is always allowed.
        let (rest, hash, version) = unsafe { ((*node).next(), (*node).hash, (*node).version()) };
        let target = rehash.new.bucket(hash);
        // Both head cells are made writable first, each resolved once for its read and its write: the old one
        // (head of bucket `rh`) is unlinked below, the new one pushed onto. Either call may copy its chunk if a
        // live snapshot may see it (I3) — a private copy with the same heads, so nothing changes for anyone if
        // the node copy below then fails.
        // SAFETY: old bucket `rh` is in a present chunk (I10, as above); so is `target`, a new bucket that old bucket
        // `rh` maps into (I10: those chunks are allocated for every old bucket `<= rh`, `next_alloc > index`).
        let (old_link, new_link) = unsafe {
            (
                old.head_cell_for_write(rehash.index, cow, retired),
                rehash.new.head_cell_for_write(target, cow, retired),
            )
        };
        // SAFETY: a head cell of the writer's own chunk, private now (I3); only the writer writes it.
        let new_head = new_link.with(|p| unsafe { *p });
        // The node itself is written only if its `next` must change; then, if a live snapshot can see it, it is
        // copied instead (I3) — never relinked (mutant `rehash-relink`). The copy (user `Clone`, which may panic)
        // is built before anything is unlinked, so a panic leaves the table as it was.
        let relink = rest != new_head;
        //
        // A panic of that `Clone` must not wedge the table: the cursor's node would be copied again by every later
        // write (each one's step comes first) and fail again for as long as the snapshot lives, so no write could
        // succeed — not even the removal of that entry. The panic is therefore caught here (only `Node::copy`,
        // which clones and allocates and has changed nothing when it unwinds), the step stops, the write
        // operation goes on, and the next write retries the step (`CowStats::deferred_migration_steps`).
        let moving = if relink && cow.is_shared(version) && !cfg!(cow_mutant = "rehash-relink") {
            let arena = &mut retired.arena;
            // SAFETY: `node` is valid (I5); `copy` only reads it and allocates.
            let copied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                Node::copy(arena, node, None, cow.version)
            }));
            let Ok(copy) = copied else {
                retired.stats.deferred_migration_steps += 1;
                break;
            };
            retired.stats.state_clones += 1;
            // SAFETY: the copy is private, so setting its `next` is allowed.
            unsafe { (*copy).set_next(new_head) };
            copy
        } else {
            node
        };

        // Unlink the head of old bucket `rh`.
        // SAFETY: the cell belongs to a private chunk (`head_cell_for_write` above, I3).
        old_link.with_mut(|p| unsafe { *p = rest });
        if moving != node {
            retired.retire(cow.version, Garbage::Node(node));
            retired.stats.node_copies += 1;
        } else if relink {
            // SAFETY: the node is private (version >= R, I4) — or this is the planted mutant.
            unsafe { (*node).set_next(new_head) };
        }
        // Push it onto its new bucket.
        // SAFETY: the cell belongs to a private chunk (`head_cell_for_write` above, I3).
        new_link.with_mut(|p| unsafe { *p = moving });
        old.len -= 1;
        rehash.new.len += 1;
        moved += 1;
    }
    prefetch_ahead(old, rehash);
    rehash.index == old.capacity
}

/// How many old buckets ahead of the rehash index the first nodes are prefetched (about three steps' worth
/// of entries at the load a growth starts with).
const PREFETCH_DISTANCE: usize = 32;

/// Prefetches the first node of the old buckets up to `PREFETCH_DISTANCE` ahead of the rehash index, each once:
/// the steps to come read them to find their new bucket, and each would otherwise wait for a cache miss on a
/// node at a random address (the heads themselves are read in order). Reading the heads of the writer's own
/// directory is always allowed.
#[inline]
fn prefetch_ahead<K, N, S, P: Primitives>(old: &Directory<K, N, S, P>, rehash: &mut Rehash<K, N, S, P>) {
    let end = (rehash.index + PREFETCH_DISTANCE).min(old.capacity);
    // SAFETY: old buckets at or after the index are in present chunks (I10).
    unsafe {
        old.for_each_head(rehash.index.max(rehash.prefetched), end, |node| {
            if !node.is_null() {
                prefetch(node);
            }
        });
    }
    rehash.prefetched = end;
}
