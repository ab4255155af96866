//! The reader's side: [`Snapshot`] (Flink `CopyOnWriteStateTableSnapshot`).
//!
//! Taking a snapshot copies the table's chunk directory (both directories and the rehash index during a
//! rehash) and registers the snapshot's version; afterwards the writer never writes or frees anything the
//! snapshot can reach (I3, I7), so the snapshot can be read on any thread for as long as it lives.

pub mod diff;
pub(crate) mod reclaim;
pub(crate) mod versions;

use crate::hash::{erased_composite_hash, ErasedBuildHasher};
use crate::keygroup::{JavaHashCode, KeyGroupContext};
use crate::sync::{MutexOps, Primitives};
use crate::table::directory::{ChunkRef, DirView};
use crate::table::iter::{Entries, Namespace};
use crate::table::node::NodePtr;
use core::borrow::Borrow;
use core::fmt;
use core::hash::Hash;
use core::iter::FusedIterator;
use core::ptr::NonNull;
use std::sync::Arc;
use versions::Shared;

pub use diff::{Change, Diff, DiffError, DiffWalk};

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
    /// The table's `BuildHasher`, type-erased and shared by every snapshot of the table, for lookups
    /// (docs/DESIGN.md, "Snapshot lookups").
    pub(crate) hasher: Arc<dyn ErasedBuildHasher>,
}

impl<K, N, S, P: Primitives> View<K, N, S, P> {
    pub(crate) fn dir_views(&self) -> impl Iterator<Item = DirView<'_, K, N, S, P>> {
        self.dirs.iter().map(|(chunks, chunk_len)| DirView {
            chunks,
            chunk_len: *chunk_len,
        })
    }

    fn dir(&self, i: usize) -> Option<DirView<'_, K, N, S, P>> {
        self.dirs.get(i).map(|(chunks, chunk_len)| DirView {
            chunks,
            chunk_len: *chunk_len,
        })
    }

    /// Finds `(key, namespace)` as the table held it when the snapshot was taken: I10 for the rehash index
    /// recorded then says which directory holds it.
    fn find<Q, R>(&self, key: &Q, namespace: &R) -> NodePtr<K, N, S, P>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        let null = core::ptr::null_mut();
        let Some(old) = self.dir(0) else { return null };
        let old_capacity = old.capacity();
        if old_capacity == 0 {
            return null;
        }
        let hash = erased_composite_hash(&*self.hasher, key, namespace);
        let old_bucket = hash as usize & (old_capacity - 1);
        let new = self.dir(1).filter(|d| d.capacity() > 0);
        let (in_old, in_new) = match new {
            None => (true, false),
            Some(_) => (old_bucket >= self.rehash_index, old_bucket <= self.rehash_index),
        };
        let dirs = [(in_old, Some(old)), (in_new, new)];
        for (wanted, dir) in dirs {
            let (true, Some(dir)) = (wanted, dir) else { continue };
            let bucket = hash as usize & (dir.capacity() - 1);
            // SAFETY: the snapshot is live: its chunks and the nodes they reach stay valid and unwritten (I9).
            let mut n = unsafe { dir.bucket_head(bucket) };
            while !n.is_null() {
                // SAFETY: as above.
                let node = unsafe { &*n };
                if node.hash == hash && node.key.borrow() == key && node.namespace.borrow() == namespace {
                    return n;
                }
                n = node.next();
            }
        }
        null
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
///
/// Lookups hash with the table's `BuildHasher`, which the snapshot shares (type-erased, so the hasher is not
/// part of the snapshot's type); they take no lock and never wait for the writer:
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<String, String, u32> = StateTable::new();
/// table.put("alice".to_string(), "clicks".to_string(), 3);
/// let snap = table.snapshot().unwrap();
/// table.put("alice".to_string(), "clicks".to_string(), 4);
/// assert_eq!(snap.get("alice", "clicks"), Some(&3));
/// assert!(!snap.contains("bob", "clicks"));
/// ```
#[must_use = "a snapshot pins memory until it is dropped or released"]
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
    #[must_use]
    pub fn version(&self) -> u32 {
        self.view().version
    }

    /// Number of entries in the snapshot (0 once released).
    #[must_use]
    pub fn len(&self) -> usize {
        if self.released {
            0
        } else {
            self.view().len
        }
    }

    /// Whether the snapshot holds no entries (or was released).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`Snapshot::release`] was called.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Whether the snapshot was taken in the middle of an incremental rehash.
    #[must_use]
    pub fn taken_during_rehash(&self) -> bool {
        self.view().dirs.len() == 2
    }

    /// The rehash index when the snapshot was taken, if it was taken during an incremental rehash.
    #[must_use]
    pub fn rehash_index(&self) -> Option<usize> {
        self.taken_during_rehash().then_some(self.view().rehash_index)
    }

    /// Iterates over `(key, namespace, state)` as they were when the snapshot was taken, in bucket order.
    /// After [`release`](Snapshot::release) the iterator is empty.
    pub fn iter(&self) -> Entries<'_, K, N, S, P> {
        if self.released {
            return Entries::empty();
        }
        let view = self.view();
        match view.dir(0) {
            Some(first) => Entries::new(first, view.dir(1), view.len),
            None => Entries::empty(),
        }
    }

    /// The state of `(key, namespace)` as it was when the snapshot was taken; `None` once released.
    ///
    /// A lock-free read: the hash comes from the table's `BuildHasher` (shared with the snapshot) and the chain
    /// walk reads only what the writer never writes or frees while the snapshot lives (I9). Like
    /// [`StateTable::get`](crate::StateTable::get), the key and namespace may be borrowed forms (`&str` for a
    /// `String`).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 10);
    /// let snap = table.snapshot().unwrap();
    /// table.remove(&1, &0);
    /// assert_eq!(snap.get(&1, &0), Some(&10));
    /// assert_eq!(table.get(&1, &0), None);
    /// ```
    #[must_use]
    #[doc(alias = "get_state")]
    pub fn get<Q, R>(&self, key: &Q, namespace: &R) -> Option<&S>
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        if self.released {
            return None;
        }
        let n = self.view().find(key, namespace);
        // SAFETY: a node found in a live snapshot is valid and its state unwritten while `&self` lives (I9).
        (!n.is_null()).then(|| unsafe { (*n).state() })
    }

    /// Whether the snapshot holds `(key, namespace)` (false once released). Lock-free, as [`Snapshot::get`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// let empty = table.snapshot().unwrap();
    /// table.put(1, 0, 10);
    /// assert!(!empty.contains(&1, &0));
    /// assert!(table.snapshot().unwrap().contains(&1, &0));
    /// ```
    #[must_use]
    #[doc(alias = "contains_key")]
    pub fn contains<Q, R>(&self, key: &Q, namespace: &R) -> bool
    where
        K: Borrow<Q>,
        N: Borrow<R>,
        Q: Hash + Eq + ?Sized,
        R: Hash + Eq + ?Sized,
    {
        !self.released && !self.view().find(key, namespace).is_null()
    }

    /// Iterates over the `(key, state)` pairs of one namespace (a full scan, as Flink's per-namespace views).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, &str, u64> = StateTable::new();
    /// table.put(1, "a", 10);
    /// table.put(2, "b", 20);
    /// let snap = table.snapshot().unwrap();
    /// assert_eq!(snap.iter_namespace("b").collect::<Vec<_>>(), vec![(&2, &20)]);
    /// ```
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

    /// Iterates over the entries whose key falls into `key_group` under `context` (Flink
    /// `KeyGroupRangeAssignment.assignToKeyGroup`; a full scan). To visit every key group of a range once, a
    /// [`KeyGroupPartition`](crate::keygroup::KeyGroupPartition) groups the snapshot in one pass instead.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// for k in 0..100 { table.put(k, 0, k); }
    /// let snap = table.snapshot().unwrap();
    /// let ctx = KeyGroupContext::all(8).unwrap();
    /// let total: usize = (0..8).map(|kg| snap.iter_key_group(&ctx, kg).count()).sum();
    /// assert_eq!(total, 100);
    /// assert!(snap.iter_key_group(&ctx, 3).all(|(k, _, _)| ctx.key_group_of(k) == 3));
    /// ```
    pub fn iter_key_group(&self, context: &KeyGroupContext, key_group: u32) -> KeyGroupEntries<'_, K, N, S, P>
    where
        K: JavaHashCode,
    {
        KeyGroupEntries {
            entries: self.iter(),
            context: *context,
            key_group,
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

/// Iterator over the entries of one key group of a snapshot (made by [`Snapshot::iter_key_group`]).
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::keygroup::KeyGroupContext;
/// let mut table: StateTable<u64, u32, u64> = StateTable::new();
/// table.put(7, 0, 70);
/// let snap = table.snapshot().unwrap();
/// let ctx = KeyGroupContext::all(128).unwrap();
/// let kg = ctx.key_group_of(&7u64);
/// assert_eq!(snap.iter_key_group(&ctx, kg).count(), 1);
/// ```
#[derive(Clone)]
pub struct KeyGroupEntries<'a, K, N, S, P: Primitives> {
    entries: Entries<'a, K, N, S, P>,
    context: KeyGroupContext,
    key_group: u32,
}

impl<'a, K: JavaHashCode, N, S, P: Primitives> Iterator for KeyGroupEntries<'a, K, N, S, P> {
    type Item = (&'a K, &'a N, &'a S);
    fn next(&mut self) -> Option<Self::Item> {
        let (context, key_group) = (self.context, self.key_group);
        self.entries
            .by_ref()
            .find(|(k, _, _)| context.key_group_of(*k) == key_group)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.entries.size_hint().1)
    }
}

impl<K: JavaHashCode, N, S, P: Primitives> FusedIterator for KeyGroupEntries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> fmt::Debug for KeyGroupEntries<'_, K, N, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyGroupEntries")
            .field("key_group", &self.key_group)
            .field("entries", &self.entries)
            .finish()
    }
}
