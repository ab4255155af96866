//! The typed halves of a delta (docs/DESIGN.md C7): [`DeltaWriter`] writes one state's changes since its base
//! per key group, [`Staged`] applies decoded deltas to a restore's decoded entries.

use crate::backend::state::GroupWriter;
use crate::format::WriteError;
use crate::keygroup::{EntryRef, KeyGroupContext};
use crate::serializer::{Serializers, TypeSerializer};
use crate::snapshot::{Change, DiffError, Snapshot};
use crate::sync::Primitives;
use core::hash::Hash;
use std::collections::HashMap;

/// One key group's changes: upserts and removed `(key, namespace)` pairs.
type Group<'s, K, N, S> = (Vec<EntryRef<'s, K, N, S>>, Vec<(&'s K, &'s N)>);

/// Writes one state's delta bodies (docs/FORMAT.md, "Delta streams"): the changes of `later.diff(&base)`
/// (C2, C3), partitioned by key group once, when the asynchronous part starts on the state.
pub(crate) struct DeltaWriter<'s, K, N, S, KS, NS, SS> {
    context: KeyGroupContext,
    groups: Vec<Group<'s, K, N, S>>,
    serializers: &'s Serializers<KS, NS, SS>,
}

impl<'s, K, N, S, KS, NS, SS> DeltaWriter<'s, K, N, S, KS, NS, SS>
where
    K: Hash + Eq + crate::keygroup::JavaHashCode,
    N: Hash + Eq,
{
    /// Walks the diff once (C4's cost) and partitions its changes by key group. Keys outside `context`'s range
    /// cannot be in the table (B1) and are skipped.
    pub(crate) fn new<P: Primitives>(
        later: &'s Snapshot<K, N, S, P>,
        base: &'s Snapshot<K, N, S, P>,
        context: KeyGroupContext,
        serializers: &'s Serializers<KS, NS, SS>,
    ) -> Result<Self, DiffError> {
        let diff = later.diff(base)?;
        let range = context.range();
        let mut groups: Vec<Group<'s, K, N, S>> = (0..range.number_of_key_groups())
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        for change in diff {
            let Some(at) = range.index_of(context.key_group_of(change.key())) else {
                continue;
            };
            let group = &mut groups[at as usize];
            match change {
                Change::Upsert { key, namespace, state } => group.0.push((key, namespace, state)),
                Change::Remove { key, namespace } => group.1.push((key, namespace)),
            }
        }
        Ok(DeltaWriter {
            context,
            groups,
            serializers,
        })
    }
}

fn count_i32(count: usize, key_group: u32) -> Result<[u8; 4], WriteError> {
    i32::try_from(count)
        .map(i32::to_be_bytes)
        .map_err(|_| WriteError::TooManyEntries { key_group, count })
}

impl<K, N, S, KS, NS, SS> GroupWriter for DeltaWriter<'_, K, N, S, KS, NS, SS>
where
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    /// The delta body of `key_group`: the upserts as a V2 body, then the removals' count and
    /// `namespace · key` records. Returns the upserts written.
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        let empty = (Vec::new(), Vec::new());
        let (upserts, removals) = match self.context.range().index_of(key_group) {
            Some(at) => &self.groups[at as usize],
            None => &empty,
        };
        let ser = |e| WriteError::Serialize { key_group, source: e };
        let s = self.serializers;
        out.extend_from_slice(&count_i32(upserts.len(), key_group)?);
        for &(k, n, v) in upserts {
            s.namespace.serialize(n, out).map_err(ser)?;
            s.key.serialize(k, out).map_err(ser)?;
            s.state.serialize(v, out).map_err(ser)?;
        }
        out.extend_from_slice(&count_i32(removals.len(), key_group)?);
        for &(k, n) in removals {
            s.namespace.serialize(n, out).map_err(ser)?;
            s.key.serialize(k, out).map_err(ser)?;
        }
        Ok(upserts.len())
    }
}

/// A restore's decoded entries of one state (B10: nothing is inserted into a table until every checkpoint is
/// decoded), with the changes of a chain's deltas kept apart (C7). Full bodies append to `entries`; each delta
/// body records its upserts and removals in `changes`, a later delta's change of a `(key, namespace)` replacing an
/// earlier one's in place. The table is built from `entries` and then `changes` applied to it in order
/// ([`into_parts`](Self::into_parts)): a restore pays for the changes only, never for an index of every entry
/// of the base.
///
/// Correct because a key group's entries come from one chain only (restore refuses a second owner, C8), so a
/// change never meets an entry of another chain, and within a chain applying the last change of each
/// `(key, namespace)` to the base equals applying every delta in turn.
pub(crate) struct Staged<K, N, S> {
    pub(crate) entries: Vec<(K, N, S)>,
    /// The deltas' changes, each `(key, namespace)` once, in the order first changed: `Some` an upsert, `None` a
    /// removal.
    changes: Vec<((K, N), Option<S>)>,
    /// Position of each changed `(key, namespace)` in `changes`.
    changed_at: HashMap<(K, N), usize>,
}

impl<K, N, S> Default for Staged<K, N, S> {
    fn default() -> Self {
        Staged {
            entries: Vec::new(),
            changes: Vec::new(),
            changed_at: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, N: Hash + Eq + Clone, S> Staged<K, N, S> {
    fn change(&mut self, key: (K, N), to: Option<S>) {
        if let Some(&i) = self.changed_at.get(&key) {
            self.changes[i].1 = to;
        } else {
            self.changed_at.insert(key.clone(), self.changes.len());
            self.changes.push((key, to));
        }
    }

    /// Records one delta body's changes: an upsert replaces (or adds) its entry, a removal drops it (C3: each
    /// `(key, namespace)` at most once per delta, so the order within one delta does not matter).
    pub(crate) fn apply(&mut self, upserts: Vec<(K, N, S)>, removals: Vec<(K, N)>) {
        for (k, n, s) in upserts {
            self.change((k, n), Some(s));
        }
        for key in removals {
            self.change(key, None);
        }
    }

    /// Entries the table will hold at most (its capacity before it is built).
    pub(crate) fn len(&self) -> usize {
        self.entries.len() + self.changes.len()
    }

    /// The full bodies' entries, then the deltas' changes in the order recorded, for the table to take the
    /// entries and then apply the changes (`Some`: put, `None`: remove).
    pub(crate) fn into_parts(self) -> (Vec<(K, N, S)>, Vec<((K, N), Option<S>)>) {
        (self.entries, self.changes)
    }
}
