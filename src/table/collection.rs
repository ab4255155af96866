//! Whole-table operations in std's shape: `clear`, `retain`, `drain`, `reserve`, `Extend`, `FromIterator`.
//!
//! Each is copy-on-write aware like the single-entry writes: a node a live snapshot can see is retired (I6),
//! never written or freed under a reader; a private one is freed (or moved out) at once.

use super::directory::{Cow, Directory, PresentChunks};
use super::node::Node;
use super::rehash;
use super::{buckets_for_entries, threshold_of, StateTable, Sub, MAXIMUM_CAPACITY};
use crate::snapshot::reclaim::{Garbage, RetireQueue};
use crate::sync::Primitives;
use core::hash::{BuildHasher, Hash};
use core::iter::FusedIterator;
use core::mem;

impl<K, N, S, H, P> StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// Takes both directories out of the live structure, leaving an empty directory of `buckets()` buckets
    /// (none if the table was never allocated) and no rehash. The grow threshold already follows `buckets()`
    /// (I10), so it stays.
    fn take_directories(&mut self) -> [Directory<K, N, S, P>; 2] {
        let buckets = self.buckets();
        let fresh = if buckets == 0 {
            Directory::empty()
        } else {
            Directory::new(buckets, self.version, self.chunk_bits)
        };
        let primary = mem::replace(&mut self.primary, fresh);
        let new = self.rehash.take().map_or_else(Directory::empty, |r| r.new);
        [primary, new]
    }

    /// Removes every entry, keeping the bucket count (as `HashMap::clear` keeps its capacity). With a live
    /// snapshot, the nodes and chunks it can see are retired, not freed (I6): the snapshot still reads them.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot().unwrap();
    /// table.clear();
    /// assert!(table.is_empty());
    /// assert_eq!(snap.len(), 100);
    /// assert_eq!(snap.get(&7, &0), Some(&7));
    /// ```
    pub fn clear(&mut self) {
        let cow = self.begin_write();
        for dir in self.take_directories() {
            // SAFETY: `dir` was just taken out of the live structure with `cow` read by this operation.
            unsafe { discard(dir, cow, &mut self.retired) };
        }
    }

    /// Test knob: from now on, directory chunks hold at most `2^bits` bucket heads (`bits <= 9`, the normal
    /// size), so that a table of a few dozen entries has many chunks and its rehashes allocate and give up chunks
    /// in steps (W1, I10). The table must be empty; its directory is rebuilt at once (as [`clear`](Self::clear)).
    #[doc(hidden)]
    pub fn set_chunk_bits_for_test(&mut self, bits: u32) {
        assert!(self.is_empty(), "set_chunk_bits_for_test on a table that holds entries");
        self.chunk_bits = bits.min(super::directory::CHUNK_BITS);
        self.clear();
    }

    /// Keeps only the entries for which `f(key, namespace, state)` returns `true` (as `HashMap::retain`), visiting
    /// each entry once. `f` gets a shared `&S`: handing out `&mut S` would force a copy of every entry a live
    /// snapshot can see, kept or not; modify kept entries with [`get_mut`](StateTable::get_mut) or
    /// [`entry`](StateTable::entry) instead. Removed entries a live snapshot can see are retired, never freed
    /// under a reader (I6). If `f` panics, the entries visited so far stay removed or kept and the table is
    /// valid.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = (0..10).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot().unwrap();
    /// table.retain(|k, _, _| k % 2 == 0);
    /// assert_eq!(table.len(), 5);
    /// assert!(!table.contains(&3, &0));
    /// assert_eq!(snap.get(&3, &0), Some(&3)); // retired, not freed
    /// ```
    pub fn retain(&mut self, mut f: impl FnMut(&K, &N, &S) -> bool) {
        let cow = self.begin_write();
        for sub in [Sub::Primary, Sub::New] {
            if matches!(sub, Sub::New) && self.rehash.is_none() {
                continue;
            }
            // The buckets of the present chunks only (W1): an empty slot of either directory has no heads to
            // read. The unlinks below copy chunks but never change which slots are present.
            let mut walk = PresentChunks::default();
            while let Some(buckets) = walk.next(self.dir_and_retired(sub).0) {
                // Planted mutant: every bucket of the directory in one go, empty slots included (the read W1 rules
                // out).
                #[cfg(cow_mutant = "retain-all-slots")]
                let buckets = 0..self.dir_and_retired(sub).0.capacity;
                for bucket in buckets {
                    // SAFETY: `bucket` comes from a W1 walk of the directory: its chunk is present.
                    let mut cur = unsafe { self.dir_and_retired(sub).0.head(bucket) };
                    while !cur.is_null() {
                        // SAFETY: `cur` is live in `bucket` of `sub` (I5); `&mut self` excludes other writes, and
                        // `f` cannot reach the table.
                        let (next, keep) = unsafe {
                            let node = &*cur;
                            (node.next(), f(&node.key, &node.namespace, node.state()))
                        };
                        if !keep {
                            // SAFETY: `cur` is live in `bucket` of `sub`; the unlink copies only nodes in front of
                            // it, so `next` stays in the chain.
                            drop(unsafe { self.unlink_found(sub, bucket, cur, false, cow) });
                        }
                        cur = next;
                    }
                }
                #[cfg(cow_mutant = "retain-all-slots")]
                break;
            }
        }
        self.shrink_if_sparse();
    }

    /// Removes every entry and returns them as owned `(key, namespace, state)` triples, keeping the bucket count.
    /// An entry a live snapshot can see is cloned (the snapshot keeps the original, retired); a private one is
    /// moved out. The entries are removed when `drain` is called, whether or not the iterator is consumed.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, String> = StateTable::new();
    /// table.put(1, 0, "a".to_string());
    /// let snap = table.snapshot().unwrap();
    /// let drained: Vec<_> = table.drain().collect();
    /// assert_eq!(drained, vec![(1, 0, "a".to_string())]);
    /// assert!(table.is_empty());
    /// assert_eq!(snap.get(&1, &0).map(String::as_str), Some("a"));
    /// ```
    pub fn drain(&mut self) -> Drain<K, N, S> {
        let cow = self.begin_write();
        let mut out = Vec::with_capacity(self.len());
        for dir in self.take_directories() {
            let retired = &mut self.retired;
            dir.for_each_node(|n| {
                // SAFETY: `n` was live in the directory just taken out of the live structure; it is owned here
                // (I5). A node a live snapshot can see is cloned and retired (I6); a private one is moved out.
                unsafe {
                    if cow.is_shared((*n).version()) {
                        let node = &*n;
                        out.push((node.key.clone(), node.namespace.clone(), node.state().clone()));
                        retired.retire(cow.version, Garbage::Node(n));
                    } else {
                        out.push(Node::into_parts(&mut retired.arena, n));
                    }
                }
            });
            dir.retire_chunks(cow, retired);
        }
        Drain(out.into_iter())
    }

    /// Makes room for at least `additional` more entries before the table grows again (as
    /// `HashMap::reserve`). A table not yet allocated allocates its buckets now; otherwise a rehash in progress
    /// is finished and, if the room is still short, the table rehashes into enough buckets at once (finished by
    /// the next writes, incrementally, as every rehash).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.reserve(5000);
    /// assert!(table.capacity() >= 5000);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len().saturating_add(additional);
        if needed <= self.capacity() {
            return;
        }
        let buckets = buckets_for_entries(needed);
        if self.primary.capacity == 0 {
            let buckets = buckets.max(self.min_capacity);
            self.primary = Directory::new(buckets, self.version, self.chunk_bits);
            self.threshold = threshold_of(buckets);
            return;
        }
        // Growth by whole doublings, each rehash run to its end: a rehash maps old bucket `i` to new buckets `i`
        // and `i + C` only (I10, and the chunks it allocates in steps follow that map, docs/DESIGN.md).
        let cow = self.begin_write();
        loop {
            while let Some(r) = &mut self.rehash {
                if rehash::step(&mut self.primary, r, cow, &mut self.retired) {
                    self.finish_rehash(cow);
                }
            }
            if self.primary.capacity >= buckets || self.primary.capacity >= MAXIMUM_CAPACITY {
                return;
            }
            self.start_rehash(self.primary.capacity * 2);
        }
    }
}

/// Frees or retires every node and chunk of `dir` (I6).
///
/// # Safety
/// `dir` was part of the live structure until now and is owned by the caller; `cow` was read by this write.
unsafe fn discard<K, N, S, P: Primitives>(dir: Directory<K, N, S, P>, cow: Cow, retired: &mut RetireQueue<K, N, S, P>) {
    dir.for_each_node(|n| {
        // SAFETY: `n` is owned here (I5); shared nodes may still be read by a live snapshot, so they are retired
        // (I6); private ones are invisible to every snapshot (I2) and freed.
        unsafe {
            if cow.is_shared((*n).version()) {
                retired.retire(cow.version, Garbage::Node(n));
            } else {
                Node::free(&mut retired.arena, n);
            }
        }
    });
    dir.retire_chunks(cow, retired);
}

/// The entries removed by [`StateTable::drain`], owned.
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<u64, u32, u64> = [(1, 0, 1)].into_iter().collect();
/// let mut drain = table.drain();
/// assert_eq!(drain.len(), 1);
/// assert_eq!(drain.next(), Some((1, 0, 1)));
/// ```
#[derive(Debug)]
pub struct Drain<K, N, S>(std::vec::IntoIter<(K, N, S)>);

impl<K, N, S> Iterator for Drain<K, N, S> {
    type Item = (K, N, S);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl<K, N, S> DoubleEndedIterator for Drain<K, N, S> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}
impl<K, N, S> ExactSizeIterator for Drain<K, N, S> {}
impl<K, N, S> FusedIterator for Drain<K, N, S> {}

/// Puts every `(key, namespace, state)` (later ones replace earlier ones with the same key and namespace).
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<u64, u32, u64> = StateTable::new();
/// table.extend([(1, 0, 1), (2, 0, 2), (1, 0, 3)]);
/// assert_eq!((table.len(), table.get(&1, &0)), (2, Some(&3)));
/// ```
impl<K, N, S, H, P> Extend<(K, N, S)> for StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    fn extend<I: IntoIterator<Item = (K, N, S)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        let (lower, _) = iter.size_hint();
        if self.is_empty() {
            self.reserve(lower);
        }
        for (k, n, s) in iter {
            self.put(k, n, s);
        }
    }
}

/// A table of the given entries, with the default hasher.
///
/// ```
/// use cow_state_table::StateTable;
/// let table: StateTable<&str, u32, u64> = [("a", 0, 1), ("b", 0, 2)].into_iter().collect();
/// assert_eq!(table.get(&"b", &0), Some(&2));
/// ```
impl<K, N, S, H, P> FromIterator<(K, N, S)> for StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher + Default,
    P: Primitives,
{
    fn from_iter<I: IntoIterator<Item = (K, N, S)>>(iter: I) -> Self {
        let mut table = StateTable::with_hasher(H::default());
        table.extend(iter);
        table
    }
}
