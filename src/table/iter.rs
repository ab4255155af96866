//! Iteration over the chains of one or two directories: the live table's or a snapshot's.
//!
//! During an incremental rehash both directories are walked completely: buckets of the old table below the
//! rehash index are empty and the bucket being migrated holds each entry in exactly one of the two (I10), so
//! every entry is yielded once (the FLINK-7683 lesson: a full iteration must cover both tables).
//!
//! The iterators borrow the directories they walk and allocate nothing.

use super::directory::{first_present_chunk, DirView};
use super::node::{prefetch, Node, NodePtr};
use crate::sync::Primitives;
use core::fmt;
use core::iter::FusedIterator;
use core::ptr;

/// Iterator over `(key, namespace, state)` entries of a table or a snapshot (Flink: `StateEntryIterator`).
///
/// Made by [`StateTable::iter`](crate::StateTable::iter) and [`Snapshot::iter`](crate::Snapshot::iter); it
/// allocates nothing and is `Send`/`Sync` when the key, namespace and state types are `Sync` (it hands out
/// shared references only).
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<u32, u32, u32> = StateTable::new();
/// table.put(1, 0, 10);
/// let entries = table.iter();
/// assert_eq!(entries.len(), 1);
/// assert_eq!(entries.collect::<Vec<_>>(), vec![(&1, &0, &10)]);
/// ```
pub struct Entries<'a, K, N, S, P: Primitives> {
    dirs: [DirView<'a, K, N, S, P>; 2],
    dir: usize,
    chunk: usize,
    slot: usize,
    node: NodePtr<K, N, S, P>,
    /// Entries not yet yielded (the directories hold `len` entries in all, I9/I10).
    remaining: usize,
}

// SAFETY: the iterator is a shared borrow of nodes that nobody writes while it lives (the table is borrowed, or
// the snapshot is live: I3, I9); it hands out `&K`, `&N`, `&S`, which may cross threads when those are `Sync`.
unsafe impl<K: Sync, N: Sync, S: Sync, P: Primitives> Send for Entries<'_, K, N, S, P> {}
// SAFETY: `&Entries` gives access to nothing (every method takes `&mut self` or reads plain counters).
unsafe impl<K: Sync, N: Sync, S: Sync, P: Primitives> Sync for Entries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> Clone for Entries<'_, K, N, S, P> {
    fn clone(&self) -> Self {
        Entries { ..*self }
    }
}

impl<'a, K, N, S, P: Primitives> Entries<'a, K, N, S, P> {
    /// Iterates over `dirs` (one or two directories; a missing one is empty), which hold `len` entries in all.
    pub(crate) fn new(first: DirView<'a, K, N, S, P>, second: Option<DirView<'a, K, N, S, P>>, len: usize) -> Self {
        Entries {
            dirs: [first, second.unwrap_or_else(DirView::empty)],
            dir: 0,
            chunk: 0,
            slot: 0,
            node: ptr::null_mut(),
            remaining: len,
        }
    }

    /// The first node of the next non-empty bucket, or `None` after the last directory.
    #[inline]
    fn next_chain(&mut self) -> Option<NodePtr<K, N, S, P>> {
        loop {
            let dir = self.dirs.get(self.dir)?;
            // The present chunk at or after `chunk` (W1: an empty slot is a chunk of empty buckets, I10, with
            // nothing to scan). Mid-chunk (`slot > 0`) this is the chunk being scanned.
            let Some((c, chunk)) = first_present_chunk(dir.chunks, self.chunk) else {
                self.dir += 1;
                self.chunk = 0;
                self.slot = 0;
                continue;
            };
            if c != self.chunk {
                self.chunk = c;
                self.slot = 0;
            }
            while self.slot < dir.chunk_len {
                // SAFETY: the chunk is present, borrowed for 'a from the live table (writer borrowed) or a live
                // snapshot, so valid and unwritten (I3, I7, I9); `slot < chunk_len`, the chunk's length.
                let head = unsafe { chunk.head(self.slot) };
                self.slot += 1;
                if !head.is_null() {
                    return Some(head);
                }
            }
            self.chunk += 1;
            self.slot = 0;
        }
    }

    /// An iterator over nothing.
    pub(crate) fn empty() -> Self {
        Self::new(DirView::empty(), None, 0)
    }
}

impl<'a, K, N, S, P: Primitives> Iterator for Entries<'a, K, N, S, P> {
    type Item = (&'a K, &'a N, &'a S);

    fn next(&mut self) -> Option<Self::Item> {
        if self.node.is_null() {
            self.node = self.next_chain()?;
        }
        // SAFETY: the directories borrowed for 'a are the live table's (writer borrowed) or a live snapshot's,
        // whose nodes stay valid and unwritten for 'a (I3, I7, I9).
        let node = unsafe { &*self.node };
        self.node = node.next();
        debug_assert!(
            self.remaining > 0,
            "more entries than the directories were counted to hold (I9/I10)"
        );
        self.remaining = self.remaining.saturating_sub(1);
        // SAFETY: as above.
        Some(unsafe { entry(node) })
    }

    /// Internal iteration (`for_each`, `count`, `fold`, and the adapters built on them): the entries `next`
    /// would yield, in the same order, but the heads of up to 32 buckets are gathered first and their
    /// first nodes prefetched together, so a walk of a large table waits for many nodes at once instead of one
    /// after the other (and the test for an empty bucket does not branch).
    ///
    /// `#[inline]`: without it the compiler stopped inlining this walk into the checkpoint writer once a binary
    /// also held `Snapshot::diff`, and the full checkpoint of 1M entries took 166.0M instructions instead of
    /// 144.6M (docs/PERFORMANCE.md, "Incremental checkpoints").
    #[inline]
    fn fold<B, F: FnMut(B, Self::Item) -> B>(self, init: B, mut f: F) -> B {
        // The directories borrowed for 'a are the live table's (writer borrowed) or a live snapshot's: their
        // present chunks and the nodes their chains reach stay valid (I5, I7) and unwritten (I3, I9) for 'a.
        let mut chain = |mut node: NodePtr<K, N, S, P>, mut acc: B| {
            while !node.is_null() {
                // SAFETY: a node of a chain of a borrowed directory, valid and unwritten for 'a (I3, I5, I7, I9).
                let n: &'a Node<K, N, S, P> = unsafe { &*node };
                node = n.next();
                // SAFETY: as for `n`: nothing writes its state while 'a lasts (I3, I9).
                acc = f(acc, unsafe { entry(n) });
            }
            acc
        };
        let mut acc = chain(self.node, init);
        for (d, dir) in self.dirs.iter().enumerate().skip(self.dir) {
            let resume = d == self.dir;
            // Present chunks only (W1): an empty slot is a chunk of empty buckets (I10). The test `present_chunks`
            // makes, written into this loop: with the adapter (or a closure) here the batched walk compiled to
            // 2–14% more instructions for the one-pass checkpoint writer (`bench_report --only write`, callgrind).
            for (c, chunk) in dir.chunks.iter().enumerate().skip(if resume { self.chunk } else { 0 }) {
                if !chunk.is_present() {
                    continue;
                }
                let mut slot = if resume && c == self.chunk { self.slot } else { 0 };
                while slot < dir.chunk_len {
                    let end = dir.chunk_len.min(slot + BATCH);
                    let mut firsts: [NodePtr<K, N, S, P>; BATCH] = [ptr::null_mut(); BATCH];
                    let mut found = 0;
                    for s in slot..end {
                        // SAFETY: a present chunk of a borrowed directory (I5, I7, unwritten: I3), `s < chunk_len`.
                        let head = unsafe { chunk.head(s) };
                        // `found <= s - slot < BATCH`: the mask never changes the index.
                        firsts[found & (BATCH - 1)] = head;
                        found += usize::from(!head.is_null());
                    }
                    for &first in &firsts[..found] {
                        prefetch(first);
                    }
                    for &first in &firsts[..found] {
                        acc = chain(first, acc);
                    }
                    slot = end;
                }
            }
        }
        acc
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Buckets whose heads [`Entries::fold`] gathers before walking their chains (a power of two).
const BATCH: usize = 32;

/// The entry a node holds.
///
/// # Safety
/// Nothing writes the node's state while the borrow lasts: the node is reachable from a directory borrowed as
/// long (the live table's with the writer borrowed, or a live snapshot's: I3, I7, I9).
#[inline(always)]
unsafe fn entry<K, N, S, P: Primitives>(node: &Node<K, N, S, P>) -> (&K, &N, &S) {
    // SAFETY: per the caller, no write to the state happens while the borrow lasts.
    (&node.key, &node.namespace, unsafe { node.state() })
}

impl<K, N, S, P: Primitives> ExactSizeIterator for Entries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> FusedIterator for Entries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> fmt::Debug for Entries<'_, K, N, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries").field("remaining", &self.remaining).finish()
    }
}

/// Iterator over the `(key, namespace)` pairs of a table (made by [`StateTable::keys`](crate::StateTable::keys)).
///
/// ```
/// use cow_state_table::StateTable;
/// let table: StateTable<&str, u8, u32> = [("a", 0, 1)].into_iter().collect();
/// assert_eq!(table.keys().collect::<Vec<_>>(), vec![(&"a", &0)]);
/// ```
#[derive(Clone, Debug)]
pub struct Keys<'a, K, N, S, P: Primitives>(pub(crate) Entries<'a, K, N, S, P>);

impl<'a, K, N, S, P: Primitives> Iterator for Keys<'a, K, N, S, P> {
    type Item = (&'a K, &'a N);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, n, _)| (k, n))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
    /// The entries' batched walk (`Entries::fold`).
    fn fold<B, F: FnMut(B, Self::Item) -> B>(self, init: B, mut f: F) -> B {
        self.0.fold(init, |acc, (k, n, _)| f(acc, (k, n)))
    }
}
impl<K, N, S, P: Primitives> ExactSizeIterator for Keys<'_, K, N, S, P> {}
impl<K, N, S, P: Primitives> FusedIterator for Keys<'_, K, N, S, P> {}

/// Iterator over the states of a table (made by [`StateTable::values`](crate::StateTable::values)).
///
/// ```
/// use cow_state_table::StateTable;
/// let table: StateTable<&str, u8, u32> = [("a", 0, 1), ("b", 0, 2)].into_iter().collect();
/// assert_eq!(table.values().sum::<u32>(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Values<'a, K, N, S, P: Primitives>(pub(crate) Entries<'a, K, N, S, P>);

impl<'a, K, N, S, P: Primitives> Iterator for Values<'a, K, N, S, P> {
    type Item = &'a S;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(_, _, s)| s)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
    /// The entries' batched walk (`Entries::fold`).
    fn fold<B, F: FnMut(B, Self::Item) -> B>(self, init: B, mut f: F) -> B {
        self.0.fold(init, |acc, (_, _, s)| f(acc, s))
    }
}
impl<K, N, S, P: Primitives> ExactSizeIterator for Values<'_, K, N, S, P> {}
impl<K, N, S, P: Primitives> FusedIterator for Values<'_, K, N, S, P> {}

/// Iterator over the `(key, state)` pairs of one namespace of a table or snapshot (made by
/// [`StateTable::iter_namespace`](crate::StateTable::iter_namespace) and
/// [`Snapshot::iter_namespace`](crate::Snapshot::iter_namespace)). A full scan, as Flink's
/// `sizeOfNamespace` and `getKeys(namespace)` are.
///
/// ```
/// use cow_state_table::StateTable;
/// let table: StateTable<&str, u8, u32> = [("a", 0, 1), ("b", 1, 2)].into_iter().collect();
/// assert_eq!(table.iter_namespace(&1).collect::<Vec<_>>(), vec![(&"b", &2)]);
/// ```
pub struct Namespace<'a, 'q, K, N, S, P: Primitives, R: ?Sized> {
    pub(crate) entries: Entries<'a, K, N, S, P>,
    pub(crate) namespace: &'q R,
}

impl<'a, K, N, S, P, R> Iterator for Namespace<'a, '_, K, N, S, P, R>
where
    N: core::borrow::Borrow<R>,
    R: PartialEq + ?Sized,
    P: Primitives,
{
    type Item = (&'a K, &'a S);
    fn next(&mut self) -> Option<Self::Item> {
        let wanted = self.namespace;
        self.entries
            .by_ref()
            .find(|(_, n, _)| (*n).borrow() == wanted)
            .map(|(k, _, s)| (k, s))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.entries.size_hint().1)
    }
    /// The entries' batched walk (`Entries::fold`), keeping those of the namespace.
    fn fold<B, F: FnMut(B, Self::Item) -> B>(self, init: B, mut f: F) -> B {
        let wanted = self.namespace;
        self.entries.fold(
            init,
            |acc, (k, n, s)| {
                if n.borrow() == wanted {
                    f(acc, (k, s))
                } else {
                    acc
                }
            },
        )
    }
}

impl<K, N, S, P, R> FusedIterator for Namespace<'_, '_, K, N, S, P, R>
where
    N: core::borrow::Borrow<R>,
    R: PartialEq + ?Sized,
    P: Primitives,
{
}

impl<K, N, S, P: Primitives, R: ?Sized> Clone for Namespace<'_, '_, K, N, S, P, R> {
    fn clone(&self) -> Self {
        Namespace {
            entries: self.entries.clone(),
            namespace: self.namespace,
        }
    }
}

impl<K, N, S, P: Primitives, R: ?Sized> fmt::Debug for Namespace<'_, '_, K, N, S, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}
