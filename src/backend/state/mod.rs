//! The state kinds (Flink: `HeapValueState`, `HeapListState`, `HeapReducingState`, `HeapFoldingState`,
//! `HeapAggregatingState`, `HeapMapState`) and the type-erased machinery that lets one backend hold tables of
//! different namespace and state types.
//!
//! A state *handle* (e.g. [`ValueState`]) holds the state's index, its backend's id and the current namespace
//! (B3); every operation takes the backend explicitly: `count.update(&mut backend, 5)`. Reads go through
//! `StateTable::get` and never copy (B4); writes go through the table's copy-on-write (B5).

mod access;
mod aggregating;
mod folding;
mod handle;
mod list;
mod map;
mod reducing;
mod register;
mod value;

pub use access::StateHandle;
pub use aggregating::{AggregateFunction, AggregatingState, AggregatingStateDescriptor};
#[allow(deprecated)]
pub use folding::{FoldingState, FoldingStateDescriptor};
pub use list::{ListState, ListStateDescriptor};
pub use map::{MapEntriesMut, MapState, MapStateDescriptor};
pub use reducing::{ReducingState, ReducingStateDescriptor};
pub use value::{ValueState, ValueStateDescriptor};

use crate::backend::incremental::delta::{DeltaWriter, Staged};
use crate::backend::stream::decode_delta_body;
use crate::backend::ttl::snapshot::{FilteredWriter, SnapshotFilter};
use crate::format::{decode_body, BodyFormat, FormatError, WriteError};
use crate::keygroup::{JavaHashCode, KeyGroupContext, KeyGroupPartition};
use crate::serializer::{Serializers, TypeSerializer};
use crate::snapshot::{DiffWalk, Snapshot};
use crate::sync::Primitives;
use crate::{SnapshotError, StateTable};
use core::any::Any;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use std::sync::Arc;

/// A serializer shared by a state's read paths (the serialized-value lookup); checkpoints use the typed one.
pub(crate) type DynSerializer<V> = Arc<dyn TypeSerializer<Value = V> + Send + Sync>;

/// Where a handle points: its backend and the state's index there (B3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HandleCore {
    pub(crate) backend: u64,
    pub(crate) index: u32,
}

/// One state's table and its kind-specific parts (default value, functions, serializers for lookups).
pub(crate) struct Data<K, N, S, H, P: Primitives, X> {
    pub(crate) table: StateTable<K, N, S, H, P>,
    pub(crate) extra: X,
}

/// The type-erased operations a checkpoint and a restore need of one state (implemented by [`TypedCodec`]).
pub(crate) trait Codec<K, KS, H, P>: Send + Sync {
    /// B7: one table snapshot, owned by the returned part together with the serializers.
    fn snapshot(&self, data: &mut (dyn Any + Send + Sync), key: &KS) -> Result<Box<dyn SnapshotPart>, SnapshotError>;
    /// An empty vector of decoded `(K, N, S)` entries.
    fn new_staged(&self) -> Box<dyn Any + Send>;
    /// Decodes one V2 body into `staged` (B10: nothing is inserted yet).
    fn decode(
        &self,
        body: &[u8],
        key_group: u32,
        context: KeyGroupContext,
        key: &KS,
        staged: &mut (dyn Any + Send),
    ) -> Result<(), FormatError>;
    /// A new table holding exactly `staged` (B10: built before any state is replaced; `Hash`, `Eq` and the
    /// allocator run here, so a panic leaves the backend unchanged).
    fn build(&self, staged: Box<dyn Any + Send>) -> Box<dyn Any + Send>;
    /// Entries of a table from [`build`](Codec::build).
    fn built_len(&self, built: &(dyn Any + Send)) -> usize;
    /// Swaps the state's table with `built` (from [`build`](Codec::build)) and returns the old one, for the
    /// caller to drop once every state is installed. Moves only: no user code runs.
    fn install(&self, data: &mut (dyn Any + Send + Sync), built: Box<dyn Any + Send>) -> Box<dyn Any + Send>;
    /// Entries in the live table.
    fn len(&self, data: &(dyn Any + Send + Sync)) -> usize;
    /// The live table's shape and copy-on-write counters (C6, C7).
    fn table_stats(&self, data: &(dyn Any + Send + Sync)) -> crate::TableStats;
    /// Decodes one delta body (docs/FORMAT.md, "Delta streams", at absolute offset `at`) and applies it to
    /// `staged` (C7; B10: nothing is inserted into a table yet).
    fn apply_delta(
        &self,
        body: &[u8],
        at: u64,
        key_group: u32,
        context: KeyGroupContext,
        key: &KS,
        staged: &mut (dyn Any + Send),
    ) -> Result<(), FormatError>;
    /// Live snapshots of the table.
    fn live_snapshots(&self, data: &(dyn Any + Send + Sync)) -> usize;
    /// Runs the table's invariant checker.
    fn check(&self, data: &(dyn Any + Send + Sync)) -> Result<(), crate::InvariantViolation>;
    /// Test knob: the live table's renormalisation threshold (I12, `StateTable::set_version_limit_for_test`).
    fn set_version_limit_for_test(&self, data: &mut (dyn Any + Send + Sync), limit: u32);
    /// Sets the filter the asynchronous part writes the state's entries through (TTL cleanup at snapshot,
    /// docs/DESIGN.md T5): an `Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>` of the state's types; anything else
    /// is ignored and `false` returned.
    fn set_snapshot_filter(&mut self, filter: Box<dyn Any + Send + Sync>) -> bool;
}

/// [`Codec`] for a state whose data is `Data<K, N, S, H, P, X>` with serializers `NS`, `SS`.
pub(crate) struct TypedCodec<N, S, NS, SS, X> {
    pub(crate) namespace: NS,
    pub(crate) state: SS,
    /// T5: the filter of the asynchronous part, for a TTL state with cleanup at snapshot: an
    /// `Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>` (the key, primitives and key serializer types are the
    /// backend's, which this type does not name), checked by `set_snapshot_filter`.
    filter: Option<Box<dyn Any + Send + Sync>>,
    _types: PhantomData<fn() -> (N, S, X)>,
}

impl<N, S, NS, SS, X> TypedCodec<N, S, NS, SS, X> {
    pub(crate) fn new(namespace: NS, state: SS) -> Self {
        TypedCodec {
            namespace,
            state,
            filter: None,
            _types: PhantomData,
        }
    }
}

/// The bounds every key type of a backend meets.
pub trait StateKey: JavaHashCode + Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: JavaHashCode + Hash + Eq + Clone + Send + Sync + 'static> StateKey for T {}

/// The bounds every namespace, state and serializer type meets.
pub trait StateType: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> StateType for T {}

/// The bounds of a backend's table hasher.
pub trait StateHasher: BuildHasher + Clone + Default + Send + Sync + 'static {}
impl<T: BuildHasher + Clone + Default + Send + Sync + 'static> StateHasher for T {}

fn downcast<T: 'static>(data: &(dyn Any + Send + Sync)) -> &T {
    data.downcast_ref::<T>()
        .expect("a codec is only called with its own state's data")
}

fn downcast_mut<T: 'static>(data: &mut (dyn Any + Send + Sync)) -> &mut T {
    data.downcast_mut::<T>()
        .expect("a codec is only called with its own state's data")
}

impl<K, KS, H, P, N, S, NS, SS, X> Codec<K, KS, H, P> for TypedCodec<N, S, NS, SS, X>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
    N: Hash + Eq + StateType,
    S: StateType,
    NS: TypeSerializer<Value = N> + StateType,
    SS: TypeSerializer<Value = S> + StateType,
    X: Send + Sync + 'static,
{
    fn snapshot(&self, data: &mut (dyn Any + Send + Sync), key: &KS) -> Result<Box<dyn SnapshotPart>, SnapshotError> {
        let data = downcast_mut::<Data<K, N, S, H, P, X>>(data);
        let snapshot = data.table.snapshot()?;
        Ok(Box::new(TypedSnapshot {
            snapshot,
            serializers: Serializers::new(key.clone(), self.namespace.clone(), self.state.clone()),
            filter: self
                .filter
                .as_ref()
                .and_then(|f| f.downcast_ref::<Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>>())
                .cloned(),
        }))
    }

    fn new_staged(&self) -> Box<dyn Any + Send> {
        Box::new(Staged::<K, N, S>::default())
    }

    fn decode(
        &self,
        body: &[u8],
        key_group: u32,
        context: KeyGroupContext,
        key: &KS,
        staged: &mut (dyn Any + Send),
    ) -> Result<(), FormatError> {
        let staged = staged
            .downcast_mut::<Staged<K, N, S>>()
            .expect("staged entries come from new_staged");
        let serializers = Serializers::new(key, &self.namespace, &self.state);
        decode_body(
            BodyFormat::V2,
            body,
            key_group,
            context,
            &serializers,
            &mut staged.entries,
        )?;
        Ok(())
    }

    fn apply_delta(
        &self,
        body: &[u8],
        at: u64,
        key_group: u32,
        context: KeyGroupContext,
        key: &KS,
        staged: &mut (dyn Any + Send),
    ) -> Result<(), FormatError> {
        let staged = staged
            .downcast_mut::<Staged<K, N, S>>()
            .expect("staged entries come from new_staged");
        let serializers = Serializers::new(key, &self.namespace, &self.state);
        let (upserts, removals) = decode_delta_body(body, at, key_group, context, &serializers)?;
        staged.apply(upserts, removals);
        Ok(())
    }

    fn build(&self, staged: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
        let staged = *staged
            .downcast::<Staged<K, N, S>>()
            .expect("staged entries come from new_staged");
        let mut table: StateTable<K, N, S, H, P> = StateTable::with_capacity_and_hasher(staged.len(), H::default());
        let (entries, changes) = staged.into_parts();
        for (k, n, s) in entries {
            table.put(k, n, s);
        }
        for ((k, n), change) in changes {
            match change {
                Some(s) => table.put(k, n, s),
                None => {
                    table.remove(&k, &n);
                }
            }
        }
        Box::new(table)
    }

    fn built_len(&self, built: &(dyn Any + Send)) -> usize {
        built
            .downcast_ref::<StateTable<K, N, S, H, P>>()
            .expect("built tables come from build")
            .len()
    }

    fn install(&self, data: &mut (dyn Any + Send + Sync), built: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
        let data = downcast_mut::<Data<K, N, S, H, P, X>>(data);
        let mut table = built
            .downcast::<StateTable<K, N, S, H, P>>()
            .expect("built tables come from build");
        // The old table goes back to the caller, which drops it once every state is installed; snapshots of it
        // still in flight keep what they see (I13).
        core::mem::swap(&mut data.table, &mut *table);
        table
    }

    fn len(&self, data: &(dyn Any + Send + Sync)) -> usize {
        downcast::<Data<K, N, S, H, P, X>>(data).table.len()
    }

    fn table_stats(&self, data: &(dyn Any + Send + Sync)) -> crate::TableStats {
        downcast::<Data<K, N, S, H, P, X>>(data).table.stats()
    }

    fn live_snapshots(&self, data: &(dyn Any + Send + Sync)) -> usize {
        downcast::<Data<K, N, S, H, P, X>>(data).table.live_snapshots()
    }

    fn set_version_limit_for_test(&self, data: &mut (dyn Any + Send + Sync), limit: u32) {
        downcast_mut::<Data<K, N, S, H, P, X>>(data)
            .table
            .set_version_limit_for_test(limit);
    }

    fn check(&self, data: &(dyn Any + Send + Sync)) -> Result<(), crate::InvariantViolation> {
        downcast::<Data<K, N, S, H, P, X>>(data).table.check_invariants()
    }

    fn set_snapshot_filter(&mut self, filter: Box<dyn Any + Send + Sync>) -> bool {
        let typed = filter.is::<Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>>();
        if typed {
            self.filter = Some(filter);
        }
        typed
    }
}

/// One state's part of a pending checkpoint: its snapshot and serializers (B8). `Send`, not generic.
pub(crate) trait SnapshotPart: Send + Sync {
    /// Entries in the snapshot.
    fn len(&self) -> usize;
    /// A writer of the snapshot's key groups under `context` (partitions lazily, on first use).
    fn writer<'s>(&'s self, context: KeyGroupContext) -> Box<dyn GroupWriter + 's>;
    /// The part as `Any`, for a delta to find its base's typed snapshot.
    fn as_any(&self) -> &dyn Any;
    /// The walk a delta of this part on top of `base` would take (C3–C5), or `None` if it cannot be a delta
    /// (another state, a snapshot filter, a restored state's bodies, a diff error: C7).
    fn delta_walk(&self, _base: &dyn SnapshotPart) -> Option<DiffWalk> {
        None
    }
    /// A writer of the delta bodies from `base` to this part (C7); `None` when [`delta_walk`](Self::delta_walk)
    /// is.
    fn delta_writer<'s>(
        &'s self,
        _base: &'s dyn SnapshotPart,
        _context: KeyGroupContext,
    ) -> Option<Box<dyn GroupWriter + 's>> {
        None
    }
}

/// Writes one key group's V2 body of one state.
pub(crate) trait GroupWriter {
    /// Appends the body of `key_group` to `out` (Flink `writeMappingsInKeyGroup`); returns the entries written.
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError>;
}

struct TypedSnapshot<K, N, S, P: Primitives, KS, NS, SS> {
    snapshot: Snapshot<K, N, S, P>,
    serializers: Serializers<KS, NS, SS>,
    filter: Option<Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>>,
}

struct TypedWriter<'s, K, N, S, P: Primitives, KS, NS, SS> {
    partition: KeyGroupPartition<'s, K, N, S, P>,
    serializers: &'s Serializers<KS, NS, SS>,
}

impl<K, N, S, P, KS, NS, SS> SnapshotPart for TypedSnapshot<K, N, S, P, KS, NS, SS>
where
    K: StateKey,
    N: Hash + Eq + StateType,
    S: StateType,
    P: Primitives,
    KS: TypeSerializer<Value = K> + StateType,
    NS: TypeSerializer<Value = N> + StateType,
    SS: TypeSerializer<Value = S> + StateType,
{
    fn len(&self) -> usize {
        self.snapshot.len()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn delta_walk(&self, base: &dyn SnapshotPart) -> Option<DiffWalk> {
        let base = base.as_any().downcast_ref::<Self>()?;
        if self.filter.is_some() {
            // T5 filters by time: an unchanged entry may expire between base and now, which no diff shows.
            return None;
        }
        self.snapshot.diff(&base.snapshot).ok().map(|d| d.walk())
    }

    fn delta_writer<'s>(
        &'s self,
        base: &'s dyn SnapshotPart,
        context: KeyGroupContext,
    ) -> Option<Box<dyn GroupWriter + 's>> {
        let base = base.as_any().downcast_ref::<Self>()?;
        let writer = DeltaWriter::new(&self.snapshot, &base.snapshot, context, &self.serializers).ok()?;
        Some(Box::new(writer))
    }

    fn writer<'s>(&'s self, context: KeyGroupContext) -> Box<dyn GroupWriter + 's> {
        if let Some(filter) = &self.filter {
            // T5: the clock is read once, when the asynchronous part starts writing this state.
            return Box::new(FilteredWriter {
                partition: KeyGroupPartition::new(&self.snapshot, context),
                serializers: &self.serializers,
                filter: &**filter,
                now: filter.now(),
            });
        }
        Box::new(TypedWriter {
            partition: KeyGroupPartition::new(&self.snapshot, context),
            serializers: &self.serializers,
        })
    }
}

impl<K, N, S, P, KS, NS, SS> GroupWriter for TypedWriter<'_, K, N, S, P, KS, NS, SS>
where
    K: StateKey,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        self.partition.write_key_group(out, key_group, self.serializers)
    }
}
