//! [`KeyGroupPartition`]: a snapshot's entries grouped by key group, built lazily and once.

use super::context::KeyGroupContext;
use super::error::KeyGroupError;
use super::hash_code::JavaHashCode;
use crate::snapshot::Snapshot;
use crate::sync::{Primitives, StdSync};
use core::cell::OnceCell;
use core::fmt;

/// One entry of a snapshot, borrowed.
pub type EntryRef<'s, K, N, S> = (&'s K, &'s N, &'s S);

/// The entries of a snapshot grouped by key group, and the offsets of each group.
struct Grouped<'s, K, N, S> {
    entries: Vec<EntryRef<'s, K, N, S>>,
    /// `offsets[i]..offsets[i + 1]` are the entries of the `i`-th key group of the range.
    offsets: Vec<usize>,
}

/// A snapshot's entries partitioned by key group, for writing one key group at a time.
///
/// Flink: `CopyOnWriteStateTableSnapshot.partitionEntriesByKeyGroup` and `getKeyGroupWriter` /
/// `writeMappingsInKeyGroup`. The partition is computed on first use, once, on the thread that uses it
/// (the type is not `Sync`): one pass over the snapshot collects the entries with their key groups and counts
/// them per key group, a prefix sum turns the counts into offsets, and one scatter places every entry. Every
/// array is sized from the entries actually seen (the FLINK-9601 lesson), never from a size recorded elsewhere.
///
/// An entry whose key belongs to a key group outside the context's range is reported as
/// [`KeyGroupError::OutOfRange`].
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
/// let mut table: StateTable<u64, u32, u64> = StateTable::new();
/// for k in 0..100 { table.put(k, 0, k * 10); }
/// let snapshot = table.snapshot().unwrap();
/// let ctx = KeyGroupContext::all(16).unwrap();
/// let partition = KeyGroupPartition::new(&snapshot, ctx);
/// let total: usize = ctx.range().iter().map(|kg| partition.entries(kg).unwrap().len()).sum();
/// assert_eq!(total, 100);
/// for (k, _, _) in partition.entries(3).unwrap() { assert_eq!(ctx.key_group_of(*k), 3); }
/// ```
pub struct KeyGroupPartition<'s, K, N, S, P: Primitives = StdSync> {
    snapshot: &'s Snapshot<K, N, S, P>,
    context: KeyGroupContext,
    grouped: OnceCell<Result<Grouped<'s, K, N, S>, KeyGroupError>>,
}

impl<'s, K: JavaHashCode, N, S, P: Primitives> KeyGroupPartition<'s, K, N, S, P> {
    /// A lazy partition of `snapshot` over `context`'s key groups; nothing is computed yet.
    pub fn new(snapshot: &'s Snapshot<K, N, S, P>, context: KeyGroupContext) -> Self {
        KeyGroupPartition {
            snapshot,
            context,
            grouped: OnceCell::new(),
        }
    }

    /// The key-group context the snapshot is partitioned over.
    pub fn context(&self) -> KeyGroupContext {
        self.context
    }

    /// The snapshot being partitioned.
    pub fn snapshot(&self) -> &'s Snapshot<K, N, S, P> {
        self.snapshot
    }

    /// Partitions the snapshot now if that has not been done yet; fails if an entry's key group is outside the
    /// range.
    ///
    /// # Errors
    /// [`KeyGroupError::OutOfRange`] if an entry's key belongs to a key group outside the context's range (the
    /// error is remembered and returned by every later call).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot()?;
    /// let half = KeyGroupContext::new(8, KeyGroupRange::of(0, 3)?)?;
    /// let all = KeyGroupPartition::new(&snap, KeyGroupContext::all(8)?);
    /// let partial = KeyGroupPartition::new(&snap, half); // the snapshot holds keys of key groups 4..8 too
    /// all.prepare()?;
    /// assert!(partial.prepare().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prepare(&self) -> Result<(), KeyGroupError> {
        self.grouped().map(|_| ())
    }

    /// Total number of entries partitioned.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot()?;
    /// let half = KeyGroupContext::new(8, KeyGroupRange::of(0, 3)?)?;
    /// let all = KeyGroupPartition::new(&snap, KeyGroupContext::all(8)?);
    /// let partial = KeyGroupPartition::new(&snap, half); // the snapshot holds keys of key groups 4..8 too
    /// assert_eq!(all.len()?, 100);
    /// assert!(partial.len().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> Result<usize, KeyGroupError> {
        Ok(self.grouped()?.entries.len())
    }

    /// Whether the snapshot has no entries.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot()?;
    /// let half = KeyGroupContext::new(8, KeyGroupRange::of(0, 3)?)?;
    /// let all = KeyGroupPartition::new(&snap, KeyGroupContext::all(8)?);
    /// let partial = KeyGroupPartition::new(&snap, half); // the snapshot holds keys of key groups 4..8 too
    /// assert!(!all.is_empty()?);
    /// assert!(partial.is_empty().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, KeyGroupError> {
        Ok(self.len()? == 0)
    }

    /// The entries of `key_group`, in the snapshot's iteration order.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare), and [`KeyGroupError::OutOfRange`] if `key_group` is outside the range.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot()?;
    /// let half = KeyGroupContext::new(8, KeyGroupRange::of(0, 3)?)?;
    /// let all = KeyGroupPartition::new(&snap, KeyGroupContext::all(8)?);
    /// let partial = KeyGroupPartition::new(&snap, half); // the snapshot holds keys of key groups 4..8 too
    /// let total: usize = (0..8).map(|kg| all.entries(kg).map(<[_]>::len)).sum::<Result<usize, _>>()?;
    /// assert_eq!(total, 100);
    /// assert!(all.entries(8).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entries(&self, key_group: u32) -> Result<&[EntryRef<'s, K, N, S>], KeyGroupError> {
        let range = self.context.range();
        let index = range
            .index_of(key_group)
            .ok_or(KeyGroupError::OutOfRange { key_group, range })? as usize;
        let grouped = self.grouped()?;
        Ok(&grouped.entries[grouped.offsets[index]..grouped.offsets[index + 1]])
    }

    fn grouped(&self) -> Result<&Grouped<'s, K, N, S>, KeyGroupError> {
        self.grouped
            .get_or_init(|| partition(self.snapshot, self.context))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Count, prefix-sum, scatter.
fn partition<'s, K: JavaHashCode, N, S, P: Primitives>(
    snapshot: &'s Snapshot<K, N, S, P>,
    context: KeyGroupContext,
) -> Result<Grouped<'s, K, N, S>, KeyGroupError> {
    let range = context.range();
    let groups = range.number_of_key_groups() as usize;
    let mut offsets = vec![0usize; groups + 1];
    // 1) unfold the entries with their key groups and build the histogram (shifted by one).
    // The recorded size is only a capacity hint: every array below is sized from the entries seen.
    // `for_each`: the snapshot's walk that prefetches a batch of chains at a time.
    let mut unfolded: Vec<(u32, EntryRef<'s, K, N, S>)> = Vec::with_capacity(snapshot.len());
    let mut outside = None;
    snapshot.iter().for_each(|entry| {
        let key_group = context.key_group_of(entry.0);
        match range.index_of(key_group) {
            Some(index) => {
                offsets[index as usize + 1] += 1;
                unfolded.push((index, entry));
            }
            None => {
                outside.get_or_insert(KeyGroupError::OutOfRange { key_group, range });
            }
        }
    });
    if let Some(error) = outside {
        return Err(error);
    }
    // 2) prefix sum: offsets[i] is where key group i starts.
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    // 3) scatter, using a copy of the starts as write cursors.
    let Some(&(_, first)) = unfolded.first() else {
        return Ok(Grouped {
            entries: Vec::new(),
            offsets,
        });
    };
    let mut entries = vec![first; unfolded.len()];
    let mut cursor = offsets[..groups].to_vec();
    for (index, entry) in unfolded {
        let slot = &mut cursor[index as usize];
        entries[*slot] = entry;
        *slot += 1;
    }
    Ok(Grouped { entries, offsets })
}

impl<K, N, S, P: Primitives> fmt::Debug for KeyGroupPartition<'_, K, N, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyGroupPartition")
            .field("snapshot", self.snapshot)
            .field("context", &self.context)
            .field("partitioned", &self.grouped.get().is_some())
            .finish()
    }
}
