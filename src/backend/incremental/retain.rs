//! The base the backend retains (C6), how a checkpoint chooses between a delta and a full stream (C7), and how
//! only a completed checkpoint advances the base (C8).

use super::{CheckpointMode, IncrementalPolicy};
use crate::backend::checkpoint::PendingCheckpoint;
use crate::backend::error::BackendError;
use crate::backend::state::{SnapshotPart, StateHasher, StateKey, StateType};
use crate::backend::storage::{CheckpointLocation, StorageError};
use crate::backend::stream::StreamFingerprint;
use crate::backend::KeyedStateBackend;
use crate::serializer::TypeSerializer;
use crate::snapshot::DiffWalk;
use crate::sync::{MutexOps, Primitives};
use crate::CowStats;
use core::fmt;
use std::sync::Arc;

/// The snapshots of the last completed incremental checkpoint, one per state (C6), and what a delta on top of
/// them names (C7).
pub(crate) struct RetainedBase {
    /// The completed checkpoint's stream.
    pub(crate) fingerprint: StreamFingerprint,
    /// The order its synchronous part ran in: a base is only replaced by a later one.
    pub(crate) seq: u64,
    /// Deltas between it and its chain's full checkpoint (0: it is the full checkpoint).
    pub(crate) chain_len: u32,
    /// One snapshot per state, in state order (no restored state is unregistered: C7).
    pub(crate) parts: Vec<Box<dyn SnapshotPart>>,
    /// Each state table's copy-on-write counters when its snapshot was taken (C6, C7's estimate).
    pub(crate) cow: Vec<CowStats>,
}

struct SlotState {
    /// Bumped whenever the states' tables change identity (registration, restore, close): a checkpoint taken
    /// before cannot become the base (its snapshots are of other tables or of fewer states).
    generation: u64,
    /// The next synchronous part's order.
    next_seq: u64,
    base: Option<Arc<RetainedBase>>,
}

/// The backend's base slot, shared with its pending incremental checkpoints (which advance it on completion,
/// C8). A lock of the primitives seam (B25).
pub(crate) struct BaseSlot<P: Primitives> {
    state: P::Mutex<SlotState>,
}

impl<P: Primitives> BaseSlot<P> {
    pub(crate) fn new() -> Self {
        BaseSlot {
            state: P::Mutex::new(SlotState {
                generation: 0,
                next_seq: 0,
                base: None,
            }),
        }
    }

    /// Drops the base and makes every checkpoint in flight unable to become one (the tables changed).
    pub(crate) fn reset(&self) {
        let old = self.state.with_lock(|s| {
            s.generation += 1;
            s.base.take()
        });
        // The snapshots are released outside the lock.
        drop(old);
    }

    fn begin(&self) -> (u64, u64, Option<Arc<RetainedBase>>) {
        self.state.with_lock(|s| {
            let seq = s.next_seq;
            s.next_seq += 1;
            (s.generation, seq, s.base.clone())
        })
    }

    pub(crate) fn base(&self) -> Option<Arc<RetainedBase>> {
        self.state.with_lock(|s| s.base.clone())
    }

    /// C8: `base` (a checkpoint that completed) becomes the base if its tables are still the backend's and it
    /// was taken after the current base. Returns whether it did.
    pub(crate) fn complete(&self, generation: u64, base: RetainedBase) -> bool {
        let mut base = Some(Arc::new(base));
        let old = self.state.with_lock(|s| {
            let newer = s
                .base
                .as_ref()
                .is_none_or(|b| b.seq < base.as_ref().map_or(0, |n| n.seq));
            if s.generation == generation && newer {
                core::mem::replace(&mut s.base, base.take())
            } else {
                None
            }
        });
        drop(old);
        base.is_none()
    }
}

/// C8: whether a commit's outcome completed the checkpoint: `Ok`, and `NotDurable` (B12: committed, listed and
/// readable, only a crash may lose it). Anything else leaves the base.
pub(crate) fn completed(committed: &Result<CheckpointLocation, StorageError>) -> bool {
    // Planted mutant (scripts/mutants.sh): a failed commit advances the base too (breaks C8).
    #[cfg(cow_mutant = "incr-failed-advances-base")]
    if committed.is_err() {
        return true;
    }
    matches!(committed, Ok(_) | Err(StorageError::NotDurable { .. }))
}

/// What an incremental pending checkpoint carries (C6–C8).
pub(crate) struct Incremental<P: Primitives> {
    pub(crate) slot: Arc<BaseSlot<P>>,
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    /// Its chain length once complete: 0 for a full checkpoint, the base's + 1 for a delta.
    pub(crate) chain_len: u32,
    pub(crate) cow: Vec<CowStats>,
    /// The base it is a delta of (its snapshots are held with the checkpoint's own, `FlightParts::base`);
    /// `None`: written in full.
    pub(crate) delta: Option<StreamFingerprint>,
}

impl<P: Primitives> fmt::Debug for Incremental<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incremental")
            .field("seq", &self.seq)
            .field("chain_len", &self.chain_len)
            .field("base", &self.delta)
            .finish()
    }
}

/// The retained base and what it costs (C6), from
/// [`KeyedStateBackend::incremental_stats`](crate::backend::KeyedStateBackend::incremental_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IncrementalStats {
    /// The id of the base: the last completed incremental checkpoint whose tables are still the backend's.
    pub base: Option<u64>,
    /// Deltas between the base and its chain's full checkpoint.
    pub chain_len: u32,
    /// Snapshots the base holds (one per state).
    pub base_snapshots: usize,
    /// Nodes the writer copied since the base was taken, over all states: each is a node (with a key,
    /// namespace and state clone) kept alive for the base or another live snapshot (C6). An upper bound of the
    /// entries the next delta holds beyond the new ones.
    pub node_copies_since_base: u64,
    /// Directory chunks copied since the base was taken (512 buckets each).
    pub chunk_copies_since_base: u64,
    /// The memory those copies cost, in bytes: per state, `node_copies × node_bytes + chunk_copies × chunk_bytes`
    /// of its table ([`TableStats`](crate::TableStats)). Each copy leaves its original retired for as long as
    /// a snapshot older than the copy is live, so this bounds from above what the base keeps alive beyond the
    /// live tables (C6; the figure includes copies made for checkpoints in flight, which they keep alive
    /// anyway). Inline bytes only: what a key, namespace or state owns on the heap (a `String`'s buffer) is
    /// not counted, as a node copy clones it too.
    pub bytes_copied_since_base: u64,
    /// Retired nodes and chunks the tables keep now for live snapshots (the base's and those of checkpoints in
    /// flight, I6, I7).
    pub retired: usize,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// The synchronous part of checkpoint `id` in `mode` (B7, C6, C7): one table snapshot per state, as
    /// [`checkpoint`](Self::checkpoint). With [`CheckpointMode::Incremental`], the checkpoint is a delta of the
    /// retained base when there is one and the policy allows (fewer than `full_every - 1` deltas on the chain, the
    /// estimated change at most `max_delta_fraction` of the entries, every state's diff a bucket walk — no
    /// rehash, growth or shrink since the base, C5 — no state with a snapshot filter, no restored state
    /// unregistered), else a full checkpoint; either way its snapshots become the base once its commit returns
    /// `Ok` or `NotDurable` ([`run`](PendingCheckpoint::run), [`spawn`](PendingCheckpoint::spawn)), and a failed,
    /// cancelled or dropped checkpoint leaves the base as it was (C8). [`write_to`](PendingCheckpoint::write_to)
    /// has no commit and never advances the base.
    ///
    /// ```
    /// use cow_state_table::backend::{CheckpointMode, IncrementalPolicy, KeyedStateBackend, ValueStateDescriptor};
    /// use cow_state_table::backend::storage::MemoryStorage;
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
    /// let new = || -> KeyedStateBackend<u64, U64Serializer> {
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap()
    /// };
    /// let mut b = new();
    /// let v = b.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// let storage = MemoryStorage::new();
    /// let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10));
    /// for k in 0..100 { b.set_current_key(k).unwrap(); v.update(&mut b, k).unwrap(); }
    /// b.checkpoint_with(1, mode).unwrap().run(&storage).unwrap(); // no base yet: full
    /// b.set_current_key(7).unwrap();
    /// v.update(&mut b, 70).unwrap();
    /// let delta = b.checkpoint_with(2, mode).unwrap();
    /// assert_eq!(delta.base_id(), Some(1));
    /// delta.run(&storage).unwrap();
    /// assert_eq!(b.incremental_stats().base, Some(2));
    ///
    /// // Restore the chain: the full checkpoint, then its deltas in order.
    /// let mut r = new();
    /// let v = r.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// r.restore_from(&storage, &[1, 2]).unwrap();
    /// r.set_current_key(7).unwrap();
    /// assert_eq!(v.value(&r).unwrap(), Some(&70));
    /// assert!(r.restore_from(&storage, &[2]).is_err()); // a delta without its base
    /// ```
    pub fn checkpoint_with(&mut self, id: u64, mode: CheckpointMode) -> Result<PendingCheckpoint<P>, BackendError> {
        let mut pending = self.checkpoint(id)?;
        let CheckpointMode::Incremental(policy) = mode else {
            return Ok(pending);
        };
        let cow: Vec<CowStats> = self.states.iter().map(|s| s.codec.table_stats(&*s.data).cow).collect();
        let entries: u64 = self.states.iter().map(|s| s.codec.len(&*s.data) as u64).sum();
        let (generation, seq, base) = self.base.begin();
        let delta = base.filter(|base| {
            self.restored.is_empty()
                && allows_delta(&policy, base, &cow, entries)
                && pending.with_parts_mut(|parts| {
                    parts.is_some_and(|parts| {
                        parts.snapshots.len() == base.parts.len()
                            && parts
                                .snapshots
                                .iter()
                                .zip(&base.parts)
                                .all(|(p, b)| p.delta_walk(&**b) == Some(DiffWalk::Buckets))
                    })
                })
        });
        let chain_len = delta.as_ref().map_or(0, |b| b.chain_len + 1);
        let fingerprint = delta.as_ref().map(|b| b.fingerprint);
        // B21, B22: the base's snapshots are held with the checkpoint's own, and released with them.
        pending.with_parts_mut(|parts| {
            if let Some(parts) = parts {
                parts.base = delta;
            }
        });
        pending.incremental = Some(Incremental {
            slot: Arc::clone(&self.base),
            generation,
            seq,
            chain_len,
            cow,
            delta: fingerprint,
        });
        Ok(pending)
    }

    /// The retained base and its cost (C6): which checkpoint it is, and the copies the writer made since it was
    /// taken (docs/PERFORMANCE.md, "Incremental checkpoints", gives the bytes per changed entry).
    pub fn incremental_stats(&self) -> IncrementalStats {
        let Some(base) = self.base.base() else {
            return IncrementalStats::default();
        };
        let mut stats = IncrementalStats {
            base: Some(base.fingerprint.id),
            chain_len: base.chain_len,
            base_snapshots: base.parts.len(),
            ..IncrementalStats::default()
        };
        for (slot, then) in self.states.iter().zip(&base.cow) {
            let now = slot.codec.table_stats(&*slot.data);
            let (nodes, chunks) = (
                now.cow.node_copies.saturating_sub(then.node_copies),
                now.cow.chunk_copies.saturating_sub(then.chunk_copies),
            );
            stats.node_copies_since_base += nodes;
            stats.chunk_copies_since_base += chunks;
            stats.bytes_copied_since_base += nodes * now.node_bytes as u64 + chunks * now.chunk_bytes as u64;
            stats.retired += now.retired;
        }
        stats
    }
}

/// C7's policy: the chain is shorter than `full_every` and the estimated change is small enough.
fn allows_delta(policy: &IncrementalPolicy, base: &RetainedBase, cow: &[CowStats], entries: u64) -> bool {
    if policy.full_every <= 1 || base.chain_len + 2 > policy.full_every || base.cow.len() != cow.len() {
        return false;
    }
    let copies: u64 = cow
        .iter()
        .zip(&base.cow)
        .map(|(now, then)| now.node_copies.saturating_sub(then.node_copies))
        .sum();
    (copies as f64) <= policy.max_delta_fraction * entries as f64
}
