//! Retired nodes and chunks, freed when no live snapshot can see them (I6, I7, I13).
//!
//! This is what the JVM's garbage collector did for the seed. Reclamation is per snapshot version, not per
//! entry: each retired object carries the table version `e` at which it left the live structure; tags only
//! grow (I1), so the queue is FIFO and the writer frees from its front while `tag < O` (oldest live snapshot).

use crate::sync::Primitives;
use crate::table::arena::NodeArena;
use crate::table::directory::{free_chunk, Head};
use crate::table::node::{Node, NodePtr};
use std::collections::VecDeque;

/// One retired allocation.
pub(crate) enum Garbage<K, N, S, P: Primitives> {
    /// A node unlinked from the live structure; owns its key, namespace and state.
    Node(NodePtr<K, N, S, P>),
    /// A replaced chunk of bucket heads (`len` heads); owns no node.
    Chunk(*mut Head<K, N, S, P>, usize),
}

impl<K, N, S, P: Primitives> Garbage<K, N, S, P> {
    /// # Safety
    /// No live snapshot can reach it (I7); freed once (I5); a node came from `arena`.
    unsafe fn free(self, arena: &mut NodeArena<K, N, S, P>) {
        match self {
            // SAFETY: per the caller.
            Garbage::Node(n) => unsafe { Node::free(arena, n) },
            // SAFETY: per the caller.
            Garbage::Chunk(heads, len) => unsafe { free_chunk::<K, N, S, P>(heads, len) },
        }
    }
}

/// Counters of the copy-on-write work done, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CowStats {
    /// Nodes copied because a live snapshot could see them (entry copies, chain-prefix copies, rehash copies).
    pub node_copies: u64,
    /// Chunks of the bucket directory copied because a live snapshot could see them.
    pub chunk_copies: u64,
    /// Objects retired (kept for live snapshots instead of freed at once).
    pub retired: u64,
    /// Retired objects freed so far.
    pub reclaimed: u64,
    /// States cloned by the table: by node copies that keep the state (entry, chain-prefix and rehash copies)
    /// and for shared states handed to the caller (`transform`'s closure, `put_and_get_old`,
    /// `remove_and_get_old`). A state replaced by a write is not cloned.
    pub state_clones: u64,
    /// Rehash steps stopped because a user `Clone` panicked while copying the shared node at the migration
    /// cursor; the step is retried by the next write (docs/DESIGN.md, "Panics in user code").
    pub deferred_migration_steps: u64,
}

/// The writer's FIFO of retired objects, and the node arena that every node — live or retired — comes from and
/// is freed into (I5). The two travel together: into the orphans when the table is dropped first (I13).
pub(crate) struct RetireQueue<K, N, S, P: Primitives> {
    items: VecDeque<(u32, Garbage<K, N, S, P>)>,
    /// The tag of the front item, `u32::MAX` when the queue is empty: kept beside the queue so that every write
    /// can tell whether reclamation has work with one compare (I7), without touching the queue's buffer.
    first_tag: u32,
    pub(crate) stats: CowStats,
    pub(crate) arena: NodeArena<K, N, S, P>,
}

impl<K, N, S, P: Primitives> RetireQueue<K, N, S, P> {
    pub(crate) fn new() -> Self {
        RetireQueue {
            items: VecDeque::new(),
            first_tag: u32::MAX,
            stats: CowStats::default(),
            arena: NodeArena::new(),
        }
    }

    /// Retires `g` at table version `tag` (I6).
    #[inline]
    pub(crate) fn retire(&mut self, tag: u32, g: Garbage<K, N, S, P>) {
        debug_assert!(
            self.items.back().is_none_or(|(t, _)| *t <= tag),
            "retire tags must not decrease (I1)"
        );
        if self.items.is_empty() {
            self.first_tag = tag;
        }
        self.items.push_back((tag, g));
        self.stats.retired += 1;
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether [`reclaim`](Self::reclaim)`(oldest)` would free anything: the front item's tag is below `oldest`
    /// (I7; tags never decrease, so the front is the oldest). One compare against a cached tag.
    #[inline(always)]
    pub(crate) fn has_reclaimable(&self, oldest: u32) -> bool {
        #[cfg(cow_mutant = "free-too-early")]
        let reclaimable = self.first_tag <= oldest && !self.items.is_empty();
        #[cfg(not(cow_mutant = "free-too-early"))]
        let reclaimable = self.first_tag < oldest;
        reclaimable
    }

    /// Re-reads the cached tag after the front item left the queue.
    #[inline]
    fn refresh_first_tag(&mut self) {
        self.first_tag = self.items.front().map_or(u32::MAX, |(tag, _)| *tag);
    }

    /// The cached tag of the front item (`u32::MAX` when empty), for the invariant checker.
    pub(crate) fn first_tag(&self) -> u32 {
        self.first_tag
    }

    /// Frees every retired object whose tag is below `oldest`, the oldest live snapshot version (I7).
    ///
    /// The caller must have read `oldest` with an `Acquire` load of the bounds (or under the mutex), so that the
    /// releasing threads' reads happen-before these frees (I8).
    pub(crate) fn reclaim(&mut self, oldest: u32) {
        while let Some((tag, _)) = self.items.front() {
            #[cfg(cow_mutant = "free-too-early")]
            let reachable = *tag > oldest;
            #[cfg(not(cow_mutant = "free-too-early"))]
            let reachable = *tag >= oldest;
            if reachable {
                break;
            }
            let (_, g) = self.items.pop_front().expect("front exists");
            self.refresh_first_tag();
            // Counted first: `g` has left the queue even if a user `Drop` inside it panics (its slot is still
            // released, see `Node::free`), so the counters keep matching the queue.
            self.stats.reclaimed += 1;
            // SAFETY: every snapshot that could reach `g` has version <= tag < oldest, so it is released (I7);
            // the queue owns `g` (I5); nodes come from the queue's arena.
            unsafe { g.free(&mut self.arena) };
        }
    }

    /// Frees every item (teardown, I13). If a user `Drop` panics, a guard frees the rest while the panic
    /// unwinds (a second panic then aborts, as in std's collections), so nothing is leaked.
    fn free_all(&mut self) {
        struct Rest<'a, K, N, S, P: Primitives>(&'a mut RetireQueue<K, N, S, P>);
        impl<K, N, S, P: Primitives> Drop for Rest<'_, K, N, S, P> {
            fn drop(&mut self) {
                self.0.free_all();
            }
        }
        self.first_tag = u32::MAX;
        while let Some((_, g)) = self.items.pop_front() {
            let rest = Rest(self);
            // SAFETY: the queue is dropped by the table only when no snapshot is live, or as part of the orphans
            // freed by the last release (I13): nothing in it is reachable any more; it owns each item (I5).
            unsafe { g.free(&mut rest.0.arena) };
            core::mem::forget(rest);
        }
    }

    /// Takes the last retired object back (tests that corrupt the queue on purpose undo it with this).
    #[cfg(test)]
    pub(crate) fn pop_back_for_test(&mut self) -> Option<(u32, Garbage<K, N, S, P>)> {
        let last = self.items.pop_back();
        self.refresh_first_tag();
        last
    }

    /// Calls `f` on every retired object with its tag (for the invariant checker).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, &Garbage<K, N, S, P>)) {
        for (tag, g) in &self.items {
            f(*tag, g);
        }
    }
}

impl<K, N, S, P: Primitives> Drop for RetireQueue<K, N, S, P> {
    fn drop(&mut self) {
        // The arena (a field) is dropped after this body, i.e. after every node.
        self.free_all();
    }
}
