//! The reader's side: [`Snapshot`] (Flink `CopyOnWriteStateTableSnapshot`).
//!
//! Taking a snapshot copies the table's chunk directory (both directories and the rehash index during a
//! rehash) and registers the snapshot's version; afterwards the writer never writes or frees anything the
//! snapshot can reach (I3, I7), so the snapshot can be read on any thread for as long as it lives.

pub(crate) mod reclaim;
pub(crate) mod versions;

use crate::sync::{MutexOps, Primitives};
use crate::table::directory::{ChunkRef, DirView};
use crate::table::iter::Entries;
use core::fmt;
use core::ptr::NonNull;
use versions::Shared;

/// A snapshot's copy of one directory: the chunk refs and the number of heads per chunk.
pub(crate) type DirCopy<K, N, S, P> = (Box<[ChunkRef<K, N, S, P>]>, usize);

/// What a snapshot saw: copies of the directories, the rehash index and the size at snapshot time.
pub(crate) struct View<K, N, S, P: Primitives> {
    pub(crate) version: u32,
    /// `[primary]`, or `[old, new]` during an incremental rehash.
    pub(crate) dirs: Vec<DirCopy<K, N, S, P>>,
    /// The rehash index when the snapshot was taken (0 without a rehash).
    pub(crate) rehash_index: usize,
    pub(crate) len: usize,
}

impl<K, N, S, P: Primitives> View<K, N, S, P> {
    pub(crate) fn dir_views(&self) -> impl Iterator<Item = DirView<'_, K, N, S, P>> {
        self.dirs.iter().map(|(chunks, chunk_len)| DirView {
            chunks,
            chunk_len: *chunk_len,
        })
    }
}

/// A frozen, read-only view of a [`StateTable`](crate::StateTable) at the moment it was taken.
///
/// Flink: `CopyOnWriteStateTableSnapshot` (`CopyOnWriteStateMapSnapshot` in later versions). Taking one costs a
/// copy of the chunk directory (one pointer per 512 buckets), never per-entry work. It owns what it needs
/// (`'static`), may outlive its table, is `Send` and `Sync` when the key, namespace and state types are, and can
/// be iterated on any thread while the writer keeps going. It is released by `Drop` or by the explicit,
/// idempotent [`Snapshot::release`] (Flink `releaseSnapshot`); snapshots may be released in any order from any
/// thread.
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<u64, u32, String> = StateTable::new();
/// table.put(1, 0, "a".to_string());
/// let snap = table.snapshot().unwrap();
/// table.put(1, 0, "b".to_string());
/// let seen: Vec<_> = std::thread::spawn(move || {
///     snap.iter().map(|(k, n, s)| (*k, *n, s.clone())).collect::<Vec<_>>()
/// }).join().unwrap();
/// assert_eq!(seen, vec![(1, 0, "a".to_string())]);
/// assert_eq!(table.get(&1, &0).map(String::as_str), Some("b"));
/// ```
pub struct Snapshot<K, N, S, P: Primitives = crate::sync::StdSync> {
    shared: P::Arc<Shared<K, N, S, P>>,
    /// Owned (from `Box::into_raw`, freed in `Drop`); a raw pointer rather than a `Box` because the registry
    /// holds a second pointer to it for the checker, which a `Box` move would invalidate.
    view: NonNull<View<K, N, S, P>>,
    released: bool,
}

// SAFETY: a snapshot hands out `&K`, `&N`, `&S` (needs Sync) and its release may drop the table's orphans, i.e.
// K, N, S values, on the releasing thread (needs Send). The raw pointers it holds stay valid while it is live
// (I7, I13); P's types are thread-safe by the `Primitives` contract.
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, P: Primitives> Send for Snapshot<K, N, S, P> {}
// SAFETY: `&Snapshot` only reads immutable data (I9); see `Send`.
unsafe impl<K: Send + Sync, N: Send + Sync, S: Send + Sync, P: Primitives> Sync for Snapshot<K, N, S, P> {}

impl<K, N, S, P: Primitives> Snapshot<K, N, S, P> {
    /// Wraps a view made by `Box::into_raw`; the snapshot owns it from now on.
    pub(crate) fn new(shared: P::Arc<Shared<K, N, S, P>>, view: NonNull<View<K, N, S, P>>) -> Self {
        Snapshot {
            shared,
            view,
            released: false,
        }
    }

    fn view(&self) -> &View<K, N, S, P> {
        // SAFETY: the view is owned by `self` and freed only in `Drop`; nobody writes it after creation.
        unsafe { self.view.as_ref() }
    }

    /// The snapshot's version (Flink `getSnapshotVersion`).
    pub fn version(&self) -> u32 {
        self.view().version
    }

    /// Number of entries in the snapshot (0 once released).
    pub fn len(&self) -> usize {
        if self.released {
            0
        } else {
            self.view().len
        }
    }

    /// Whether the snapshot holds no entries (or was released).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`Snapshot::release`] was called.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Whether the snapshot was taken in the middle of an incremental rehash.
    pub fn taken_during_rehash(&self) -> bool {
        self.view().dirs.len() == 2
    }

    /// The rehash index when the snapshot was taken, if it was taken during an incremental rehash.
    pub fn rehash_index(&self) -> Option<usize> {
        self.taken_during_rehash().then_some(self.view().rehash_index)
    }

    /// Iterates over `(key, namespace, state)` as they were when the snapshot was taken, in bucket order.
    /// After [`release`](Snapshot::release) the iterator is empty.
    pub fn iter(&self) -> Entries<'_, K, N, S, P> {
        if self.released {
            Entries::new(Vec::new(), 0)
        } else {
            Entries::new(self.view().dir_views().collect(), self.view().len)
        }
    }

    /// Releases the snapshot (Flink `releaseSnapshot`): the table may then write in place and free what only this
    /// snapshot could see. Idempotent; also done by `Drop`.
    pub fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        let version = self.view().version;
        let shared = &*self.shared;
        let orphans = shared.registry.with_lock(|registry| {
            registry.live.remove(&version);
            shared.publish(registry);
            if registry.live.is_empty() {
                registry.orphans.take()
            } else {
                None
            }
        });
        // The table is gone and this was the last live snapshot: free what it left behind (I13), outside the lock.
        drop(orphans);
    }
}

impl<K, N, S, P: Primitives> Drop for Snapshot<K, N, S, P> {
    fn drop(&mut self) {
        // A drop guard: the view is freed even if freeing the orphans in `release` unwinds from a user `Drop`
        // (the registry's pointer to it is removed before the orphans are freed).
        struct FreeView<K, N, S, P: Primitives>(NonNull<View<K, N, S, P>>);
        impl<K, N, S, P: Primitives> Drop for FreeView<K, N, S, P> {
            fn drop(&mut self) {
                // SAFETY: `release` removed the registry's pointer under the mutex, so this is the last pointer
                // to the view, which came from `Box::into_raw`.
                drop(unsafe { Box::from_raw(self.0.as_ptr()) });
            }
        }
        let _view = FreeView(self.view);
        self.release();
    }
}

impl<'a, K, N, S, P: Primitives> IntoIterator for &'a Snapshot<K, N, S, P> {
    type Item = (&'a K, &'a N, &'a S);
    type IntoIter = Entries<'a, K, N, S, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K, N, S, P: Primitives> fmt::Debug for Snapshot<K, N, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.view().version)
            .field("len", &self.len())
            .field("taken_during_rehash", &self.taken_during_rehash())
            .field("released", &self.released)
            .finish()
    }
}
