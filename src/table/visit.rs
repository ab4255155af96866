//! A resumable, bounded visit of the live table that may remove or replace what it visits (Flink
//! `StateIncrementalVisitor` over `CopyOnWriteStateMap`): the walk of docs/DESIGN.md T6.
//!
//! The walk itself only reads (present chunks only, W1); the removals and replacements it collects are applied
//! afterwards with [`StateTable::remove`] and [`StateTable::get_mut`], so they copy and retire exactly as any
//! write does (I3, I6). The cursor is a position, never a pointer, and is re-checked against the directories
//! at every visit (I10), so rehashes between visits are harmless.

use super::directory::first_present_chunk;
use super::node::prefetch;
use super::StateTable;
use crate::sync::Primitives;
use core::hash::{BuildHasher, Hash};

/// What a visit does with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit<S> {
    /// Leave the entry as it is.
    Keep,
    /// Remove the entry.
    Remove,
    /// Replace the entry's state.
    Replace(S),
}

/// Where the next [`StateTable::visit_some`] starts: a directory (the primary one, or the new one of a rehash) and
/// a bucket. Plain data, so it may outlive any change of the table (T6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitCursor {
    /// In the new directory of a rehash (else the primary one).
    pub in_new: bool,
    /// The next bucket to visit.
    pub bucket: usize,
    /// Completed rounds (passes over every directory).
    pub rounds: u64,
}

/// What one [`StateTable::visit_some`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitSummary {
    /// Entries handed to the closure.
    pub visited: usize,
    /// Entries removed.
    pub removed: usize,
    /// States replaced.
    pub replaced: usize,
}

/// Heads tested per step of the visit's scan.
const GROUP: usize = 8;

impl<K, N, S, H, P> StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// Visits about `max_entries` entries from `cursor` on (whole buckets: a bucket's chain is finished), scanning
    /// at most `16 * max_entries + 64` buckets, and applies what `f` answers for each (docs/DESIGN.md T6). The
    /// cursor wraps around at the end of the table (`rounds` counts the passes), and a call that has scanned a
    /// bucket stops there: one call hands each entry to `f` at most once, so it may visit fewer entries at the end of
    /// a round. Removals and replacements go through [`remove`](Self::remove) and [`get_mut`](Self::get_mut): a
    /// live snapshot keeps what it saw.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::visit::{Visit, VisitCursor};
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot().unwrap();
    /// let mut cursor = VisitCursor::default();
    /// while cursor.rounds == 0 {
    ///     table.visit_some(&mut cursor, 8, |_, _, s| if s % 2 == 0 { Visit::Remove } else { Visit::Keep });
    /// }
    /// assert_eq!(table.len(), 50);
    /// assert_eq!(snap.len(), 100); // the snapshot still sees every entry (I9)
    /// ```
    pub fn visit_some(
        &mut self,
        cursor: &mut VisitCursor,
        max_entries: usize,
        mut f: impl FnMut(&K, &N, &S) -> Visit<S>,
    ) -> VisitSummary {
        let mut summary = VisitSummary::default();
        let mut actions: Vec<(K, N, Option<S>)> = Vec::new();
        let max_buckets = max_entries.saturating_mul(16).saturating_add(64);
        let mut scanned = 0usize;
        // One call ends where a round ends once it has scanned a bucket (T6): it never comes back to where it
        // started, so it hands no entry to `f` twice. A call that starts at the end of a round goes on into the next
        // one (up to that one's end).
        let mut wraps = 0u32;
        let mut round_ended = false;
        while summary.visited < max_entries && scanned < max_buckets && !round_ended {
            let dir = match (cursor.in_new, &self.rehash) {
                (false, _) => &self.primary,
                (true, Some(r)) => &r.new,
                (true, None) => {
                    // The rehash ended since the last visit: the round ends here (T6).
                    *cursor = VisitCursor {
                        in_new: false,
                        bucket: 0,
                        rounds: cursor.rounds + 1,
                    };
                    wraps += 1;
                    round_ended = scanned > 0 || wraps == 2;
                    continue;
                }
            };
            if cursor.bucket >= dir.capacity {
                if !cursor.in_new && self.rehash.is_some() {
                    cursor.in_new = true;
                    cursor.bucket = 0;
                } else {
                    *cursor = VisitCursor {
                        in_new: false,
                        bucket: 0,
                        rounds: cursor.rounds + 1,
                    };
                    wraps += 1;
                    round_ended = scanned > 0 || wraps == 2;
                }
                continue;
            }
            // W1: learn from `present_chunks` whether the cursor's chunk is present, else skip to the next one.
            let chunk = cursor.bucket >> dir.chunk_bits;
            let heads = match first_present_chunk(&dir.chunks, chunk) {
                None => {
                    cursor.bucket = dir.capacity;
                    continue;
                }
                Some((c, heads)) => {
                    if c != chunk {
                        cursor.bucket = c << dir.chunk_bits;
                    }
                    heads
                }
            };
            // The buckets of this chunk, scanned in one loop (the presence test above holds for all of them), up to
            // the bucket budget, eight at a time: which of the eight heads are non-null is computed without a branch
            // per head, and only those buckets are walked (half the buckets are empty at growth load, and a branch
            // on each head would be mispredicted about as often).
            let base = cursor.bucket & !(dir.chunk_len() - 1);
            let start = cursor.bucket - base;
            let stop = dir.chunk_len().min(start + (max_buckets - scanned));
            let mut slot = start;
            'scan: while slot < stop {
                let group_end = stop.min(slot + GROUP);
                // SAFETY: the chunk was just found present by the W1 walk's test (I10, W1) and `slot + j < group_end
                // <= stop <=` its length; nothing writes the table during this read-only walk (`&mut self`, `f`
                // cannot reach it).
                let occupied_at = |j: usize| u32::from(!unsafe { heads.head(slot + j) }.is_null()) << j;
                let mut occupied = if group_end - slot == GROUP {
                    for j in 0..GROUP {
                        // The group's first nodes, prefetched before any branch on them: their cache misses
                        // overlap (T6).
                        // SAFETY: the same reads as `occupied_at`'s: the chunk is present (I10, W1), `slot + j <
                        // group_end <= stop <=` its length, and nothing writes the table during the walk (I3).
                        prefetch(unsafe { heads.head(slot + j) });
                    }
                    (0..GROUP).fold(0, |m, j| m | occupied_at(j)) // a constant count: unrolled
                } else {
                    (0..group_end - slot).fold(0, |m, j| m | occupied_at(j))
                };
                while occupied != 0 {
                    let b = slot + occupied.trailing_zeros() as usize;
                    occupied &= occupied - 1;
                    // SAFETY: as above, `b < group_end <= stop`.
                    let mut cur = unsafe { heads.head(b) };
                    while !cur.is_null() {
                        // SAFETY: `cur` is live in this bucket (I5) and not written while the walk reads (see
                        // above): the writer holds `&mut self` and writes nothing until the walk ends (I3).
                        let (node, state) = unsafe { (&*cur, (*cur).state()) };
                        summary.visited += 1;
                        match f(&node.key, &node.namespace, state) {
                            Visit::Keep => {}
                            Visit::Remove => actions.push((node.key.clone(), node.namespace.clone(), None)),
                            Visit::Replace(s) => actions.push((node.key.clone(), node.namespace.clone(), Some(s))),
                        }
                        cur = node.next();
                    }
                    if summary.visited >= max_entries {
                        // Stop after the bucket in which the count was reached.
                        slot = b + 1;
                        break 'scan;
                    }
                }
                slot = group_end;
            }
            scanned += slot - start;
            cursor.bucket = base + slot;
        }
        // The writes, each an ordinary write operation (T6: I3, I6 as for any remove / get_mut).
        if !actions.is_empty() {
            self.apply_visit(actions, &mut summary);
        }
        summary
    }

    /// Applies a visit's removals and replacements, each an ordinary write (T6: I3, I6 as for any remove /
    /// get_mut). Out of line: most visits find nothing to change.
    #[inline(never)]
    fn apply_visit(&mut self, actions: Vec<(K, N, Option<S>)>, summary: &mut VisitSummary) {
        for (key, namespace, replacement) in actions {
            match replacement {
                None => {
                    if self.remove(&key, &namespace) {
                        summary.removed += 1;
                    }
                }
                Some(state) => {
                    if let Some(slot) = self.get_mut(&key, &namespace) {
                        *slot = state;
                        summary.replaced += 1;
                    }
                }
            }
        }
    }
}
