//! The set of live snapshot versions and the bounds the writer reads (I4, I8).
//!
//! `bounds` packs `O` (oldest live version, `u32::MAX` if none) in the high half and `R` (highest live
//! version, 0 if none; Flink `highestRequiredSnapshotVersion`) in the low half, so the writer reads a consistent
//! pair with one load.

use crate::snapshot::reclaim::RetireQueue;
use crate::snapshot::View;
use crate::sync::{AtomicU64Ops, MutexOps, Ordering, Primitives};
use crate::table::directory::Directory;
use std::collections::BTreeMap;

/// `O` and `R` as the writer sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Oldest live snapshot version; `u32::MAX` if none is live.
    pub(crate) oldest: u32,
    /// Highest live snapshot version; 0 if none is live.
    pub(crate) highest: u32,
}

impl Bounds {
    pub(crate) const NONE_LIVE: Bounds = Bounds {
        oldest: u32::MAX,
        highest: 0,
    };

    fn pack(self) -> u64 {
        (u64::from(self.oldest) << 32) | u64::from(self.highest)
    }

    fn unpack(w: u64) -> Bounds {
        Bounds {
            oldest: (w >> 32) as u32,
            highest: w as u32,
        }
    }
}

/// What the table left behind when it was dropped with snapshots live (I13).
pub(crate) struct Orphans<K, N, S, P: Primitives> {
    pub(crate) dirs: Vec<Directory<K, N, S, P>>,
    /// The retire queue and the node arena; freed after the directories' nodes went back to the arena.
    pub(crate) retired: RetireQueue<K, N, S, P>,
}

impl<K, N, S, P: Primitives> Drop for Orphans<K, N, S, P> {
    fn drop(&mut self) {
        for dir in self.dirs.drain(..) {
            // SAFETY: orphans are dropped only when no snapshot is live (I13); the table gave up ownership (I5);
            // the nodes came from the table's arena, which is `retired.arena`.
            unsafe { dir.destroy(&mut self.retired.arena) };
        }
        // `retired` frees its items, then its arena, on drop.
    }
}

/// The mutex-protected part of the shared state.
pub(crate) struct Registry<K, N, S, P: Primitives> {
    /// Live snapshot versions, each with a pointer to its view (read by the checker under this mutex).
    pub(crate) live: BTreeMap<u32, *const View<K, N, S, P>>,
    /// Set when the table was dropped while snapshots were live.
    pub(crate) orphans: Option<Orphans<K, N, S, P>>,
}

impl<K, N, S, P: Primitives> Registry<K, N, S, P> {
    pub(crate) fn bounds(&self) -> Bounds {
        match (self.live.keys().next(), self.live.keys().next_back()) {
            (Some(&oldest), Some(&highest)) => Bounds { oldest, highest },
            _ => Bounds::NONE_LIVE,
        }
    }
}

/// State shared by the table and all its snapshots.
pub(crate) struct Shared<K, N, S, P: Primitives> {
    bounds: P::AtomicU64,
    pub(crate) registry: P::Mutex<Registry<K, N, S, P>>,
}

impl<K, N, S, P: Primitives> Shared<K, N, S, P> {
    pub(crate) fn new() -> Self {
        Shared {
            bounds: P::AtomicU64::new(Bounds::NONE_LIVE.pack()),
            registry: P::Mutex::new(Registry {
                live: BTreeMap::new(),
                orphans: None,
            }),
        }
    }

    /// The writer's read of the bounds at the start of a write operation.
    #[inline]
    pub(crate) fn load_bounds(&self) -> Bounds {
        // Acquire pairs with the Release store in `publish`: every read a released snapshot made happens-before the
        // writer's in-place writes (I3) and frees (I7) that rely on the lowered bounds (I8).
        #[cfg(cow_mutant = "relaxed-release")]
        let order = Ordering::Relaxed;
        #[cfg(not(cow_mutant = "relaxed-release"))]
        let order = Ordering::Acquire;
        Bounds::unpack(self.bounds.load(order))
    }

    /// Publishes the bounds of `registry`; called with the mutex held, after each change of the live set.
    pub(crate) fn publish(&self, registry: &Registry<K, N, S, P>) {
        // Release: see `load_bounds` (I8). The mutex orders concurrent publishers; the last store wins and is the
        // bounds of the last live set.
        #[cfg(cow_mutant = "relaxed-release")]
        let order = Ordering::Relaxed;
        #[cfg(not(cow_mutant = "relaxed-release"))]
        let order = Ordering::Release;
        self.bounds.store(registry.bounds().pack(), order);
    }
}
