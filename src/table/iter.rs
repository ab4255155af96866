//! Iteration over the chains of one or two directories: the live table's or a snapshot's.
//!
//! During an incremental rehash both directories are walked completely: buckets of the old table below the
//! rehash index are empty and the bucket being migrated holds each entry in exactly one of the two (I10), so
//! every entry is yielded once (the FLINK-7683 lesson: a full iteration must cover both tables).

use super::directory::DirView;
use super::node::NodePtr;
use crate::sync::Primitives;
use core::iter::FusedIterator;
use core::ptr;

/// Iterator over `(key, namespace, state)` entries of a table or a snapshot.
pub struct Entries<'a, K, N, S, P: Primitives> {
    dirs: Vec<DirView<'a, K, N, S, P>>,
    dir: usize,
    chunk: usize,
    slot: usize,
    node: NodePtr<K, N, S, P>,
    /// Entries not yet yielded (the directories hold `len` entries in all, I9/I10).
    remaining: usize,
}

impl<'a, K, N, S, P: Primitives> Entries<'a, K, N, S, P> {
    /// Iterates over `dirs`, which hold `len` entries in all.
    pub(crate) fn new(dirs: Vec<DirView<'a, K, N, S, P>>, len: usize) -> Self {
        Entries {
            dirs,
            dir: 0,
            chunk: 0,
            slot: 0,
            node: ptr::null_mut(),
            remaining: len,
        }
    }
}

impl<'a, K, N, S, P: Primitives> Iterator for Entries<'a, K, N, S, P> {
    type Item = (&'a K, &'a N, &'a S);

    fn next(&mut self) -> Option<Self::Item> {
        while self.node.is_null() {
            let dir = self.dirs.get(self.dir)?;
            if self.chunk == dir.chunks.len() {
                self.dir += 1;
                self.chunk = 0;
                continue;
            }
            if !dir.chunks[self.chunk].is_present() {
                // An empty slot: a chunk of empty buckets (I10).
                self.chunk += 1;
                self.slot = 0;
                continue;
            }
            // SAFETY: the directories borrowed for 'a are the live table's (writer borrowed) or a live snapshot's,
            // whose present chunks stay valid and unwritten (I3, I7, I9).
            self.node = unsafe { dir.head(self.chunk, self.slot) };
            self.slot += 1;
            if self.slot == dir.chunk_len {
                self.slot = 0;
                self.chunk += 1;
            }
        }
        // SAFETY: as above, the node is valid and unwritten for 'a.
        let node = unsafe { &*self.node };
        self.node = node.next();
        debug_assert!(
            self.remaining > 0,
            "more entries than the directories were counted to hold (I9/I10)"
        );
        self.remaining = self.remaining.saturating_sub(1);
        // SAFETY: as above.
        Some((&node.key, &node.namespace, unsafe { node.state() }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, N, S, P: Primitives> ExactSizeIterator for Entries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> FusedIterator for Entries<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> core::fmt::Debug for Entries<'_, K, N, S, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entries").field("remaining", &self.remaining).finish()
    }
}
