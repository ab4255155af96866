//! The keyed state layer: a backend for one operator instance over many named states, each backed by its own
//! [`StateTable`](crate::StateTable), checkpointed asynchronously.
//!
//! Flink: `HeapKeyedStateBackend`, `InternalKeyContext`, the heap states (`HeapValueState`, `HeapListState`,
//! `HeapReducingState`, `HeapFoldingState`, …) and `AsyncMemoryStateBackend`.
//!
//! This layer sits above the table, the snapshot, the key groups and the format; nothing below it imports it.
//! Its rules, **B1 … B24**, are written in docs/DESIGN.md ("The keyed state backend").
//!
//! * [`KeyedStateBackend`] — the key context (B1) and the registry of named states (B2).
//! * [`state`] — the state kinds and their handles: [`ValueState`], [`ListState`], [`ReducingState`],
//!   [`FoldingState`] (deprecated, as in Flink), [`AggregatingState`], [`MapState`]; namespace merging (B6).
//! * [`keys`](KeyedStateBackend::keys), [`keys_and_namespaces`](KeyedStateBackend::keys_and_namespaces),
//!   [`num_state_entries`](KeyedStateBackend::num_state_entries) — lazy walks over a state's table and the entry
//!   count (B20), the state named by its [`StateHandle`].
//! * [`checkpoint`](KeyedStateBackend::checkpoint) — the synchronous part (one snapshot per state, B7) returning a
//!   [`PendingCheckpoint`], whose asynchronous part runs on a background thread ([`CheckpointHandle`]) or on any
//!   thread the caller chooses (B8, B9).
//! * [`restore`](KeyedStateBackend::restore) — from one or several checkpoints, into any key-group range,
//!   all or nothing (B10); states of the checkpoints that are not registered are kept and bound when they are
//!   registered (B23, B24).
//! * [`close`](KeyedStateBackend::close) — cancels and joins every checkpoint in flight and drops the states
//!   (B21); dropping the backend cancels without waiting (B22).
//! * [`stream`] — the checkpoint stream of many states: the backport's key-group framing, the meta section,
//!   key-group offsets and checksums (docs/FORMAT.md).
//! * [`storage`] — where checkpoint streams go: memory with a size cap, or a directory.
//!
//! ```
//! use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor, ListStateDescriptor,
//!     ReducingStateDescriptor};
//! use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
//! use cow_state_table::keygroup::KeyGroupRange;
//! use cow_state_table::serializer::{U64Serializer, U32Serializer, VoidNamespaceSerializer};
//! use std::sync::Arc;
//!
//! // One operator instance owning all 128 key groups, keys of type u64.
//! let mut backend: KeyedStateBackend<u64, U64Serializer> =
//!     KeyedStateBackend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).unwrap()).unwrap();
//! let count = backend
//!     .register_value(ValueStateDescriptor::new("count", VoidNamespaceSerializer, U64Serializer).with_default(0))
//!     .unwrap();
//! let mut sum = backend
//!     .register_reducing(ReducingStateDescriptor::new("sum", U32Serializer, U64Serializer, |a, b| a + b))
//!     .unwrap();
//! let seen = backend.register_list(ListStateDescriptor::new("seen", VoidNamespaceSerializer, U64Serializer))
//!     .unwrap();
//!
//! for event in 0..1000u64 {
//!     backend.set_current_key(event % 10).unwrap();        // the key group is computed once, here
//!     let n = *count.value(&backend).unwrap().unwrap();     // absent: the descriptor's default
//!     count.update(&mut backend, n + 1).unwrap();
//!     sum.set_current_namespace((event / 100) as u32);       // e.g. a window
//!     sum.add(&mut backend, event).unwrap();
//!     if event < 20 { seen.add(&mut backend, event).unwrap(); }
//! }
//!
//! // Checkpoint: the synchronous part takes one snapshot per state; the rest runs on a background thread
//! // while processing goes on.
//! let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::new());
//! let handle = backend.checkpoint(1).unwrap().spawn(storage.clone());
//! backend.set_current_key(3).unwrap();
//! count.update(&mut backend, 0).unwrap();                   // not in checkpoint 1
//! handle.wait().unwrap();
//!
//! // Restore into a fresh backend with the same states registered.
//! let mut restored: KeyedStateBackend<u64, U64Serializer> =
//!     KeyedStateBackend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).unwrap()).unwrap();
//! let count2 = restored
//!     .register_value(ValueStateDescriptor::new("count", VoidNamespaceSerializer, U64Serializer).with_default(0))
//!     .unwrap();
//! restored.register_reducing(ReducingStateDescriptor::new("sum", U32Serializer, U64Serializer, |a, b| a + b))
//!     .unwrap();
//! restored.register_list(ListStateDescriptor::new("seen", VoidNamespaceSerializer, U64Serializer)).unwrap();
//! restored.restore(&[&storage.read(1).unwrap()]).unwrap();
//! restored.set_current_key(3).unwrap();
//! assert_eq!(count2.value(&restored).unwrap(), Some(&100));
//! ```

// Handles and erased states name many type parameters; factoring them into aliases would hide them.
#![allow(clippy::type_complexity)]

mod checkpoint;
mod error;
mod incremental;
mod keys;
mod merge;
mod restore;
mod restored;
pub mod state;
pub mod storage;
pub mod stream;
pub mod ttl;

pub use checkpoint::{CheckpointHandle, CheckpointSummary, PendingCheckpoint};
pub use error::{BackendError, CheckpointError, RestoreError, RestoredStateMismatch, StateMismatch, StateSignature};
pub use incremental::{CheckpointMode, IncrementalPolicy, IncrementalStats};
pub use restore::RestoreSummary;
#[allow(deprecated)]
pub use state::{
    AggregateFunction, AggregatingState, AggregatingStateDescriptor, FoldingState, FoldingStateDescriptor, ListState,
    ListStateDescriptor, MapEntriesMut, MapState, MapStateDescriptor, ReducingState, ReducingStateDescriptor,
    StateHandle, StateHasher, StateKey, StateType, ValueState, ValueStateDescriptor,
};

use crate::keygroup::{KeyGroupContext, KeyGroupRange};
use crate::serializer::TypeSerializer;
use crate::sync::{Primitives, StdSync};
use checkpoint::Flight;
use core::any::{Any, TypeId};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use restored::RestoredState;
use state::{Codec, Data, HandleCore, TypedCodec};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use stream::{StateKind, StateMeta};

/// Ids of backends, so that a handle used with another backend is refused (B3).
static NEXT_BACKEND_ID: AtomicU64 = AtomicU64::new(1);

/// The id of a closed backend (B21): no handle carries it (ids start at 1), so every state operation fails B3's
/// id compare and its error path reports [`BackendError::Closed`].
const CLOSED_ID: u64 = 0;

/// The most states a backend holds (32,767): the one limit registration and the checkpoint stream's writer and
/// reader share ([`stream::MAX_STATES`]), so every registered state fits a checkpoint.
pub use stream::MAX_STATES;

/// One registered state.
pub(crate) struct Slot<K, KS, H, P> {
    pub(crate) name: String,
    pub(crate) signature: StateSignature,
    /// `TypeId` of the value in `data` (B3: set with it at registration, never changed).
    pub(crate) data_type: TypeId,
    pub(crate) data: Box<dyn Any + Send + Sync>,
    pub(crate) codec: Box<dyn Codec<K, KS, H, P>>,
}

/// The keyed state backend of one operator instance: its key context and its named states.
///
/// Flink: `HeapKeyedStateBackend` (the seed's `AsyncHeapKeyedStateBackend`) together with its
/// `InternalKeyContext`. Type parameters: the key `K` and its serializer `KS`; the tables' hasher `H` (std's
/// keyed `RandomState` by default, [`DeterministicState`](crate::DeterministicState) for reproducible runs) and
/// the synchronization primitives `P` ([`StdSync`]; `ShuttleSync` under the `shuttle` feature).
///
/// * Key context (B1): [`set_current_key`](Self::set_current_key) computes the key's key group once and refuses
///   a key outside the backend's [`KeyGroupRange`].
/// * States (B2, B3): `register_value`, `register_list`, … return handles; each state has its own table.
/// * Checkpoints (B7–B9): [`checkpoint`](Self::checkpoint). Restore (B10, B23, B24): [`restore`](Self::restore).
/// * Lifecycle (B21, B22): [`close`](Self::close) cancels and joins every checkpoint in flight; dropping the
///   backend cancels them without waiting.
///
/// The backend is `Send` and `Sync` (reads through `&self` are shared-safe); state operations take `&mut self`
/// for writes, like Flink's single-threaded operator access.
pub struct KeyedStateBackend<K, KS, H = RandomState, P: Primitives = StdSync> {
    id: u64,
    key_serializer: KS,
    context: KeyGroupContext,
    current_key: Option<K>,
    current_key_group: u32,
    states: Vec<Slot<K, KS, H, P>>,
    names: HashMap<String, usize>,
    /// Restored states not registered yet (B23), in the order the checkpoints name them.
    restored: Vec<RestoredState>,
    /// The pending checkpoints taken, for `close` and drop to cancel (B21, B22); dead ones are pruned at each
    /// checkpoint.
    flights: Vec<Weak<Flight<P>>>,
    /// The base of incremental checkpoints (C6), shared with the pending ones that may advance it (C8).
    base: Arc<incremental::BaseSlot<P>>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// A backend for keys serialized by `key_serializer`, with `max_parallelism` key groups of which it owns
    /// `range` (Flink: `AsyncMemoryStateBackend.createKeyedStateBackend(…, keySerializer, numberOfKeyGroups,
    /// keyGroupRange, …)`). Fails if the range does not fit the maximum parallelism.
    pub fn new(key_serializer: KS, max_parallelism: u32, range: KeyGroupRange) -> Result<Self, BackendError> {
        Ok(KeyedStateBackend {
            id: NEXT_BACKEND_ID.fetch_add(1, Ordering::Relaxed),
            key_serializer,
            context: KeyGroupContext::new(max_parallelism, range)?,
            current_key: None,
            current_key_group: 0,
            states: Vec::new(),
            names: HashMap::new(),
            restored: Vec::new(),
            flights: Vec::new(),
            base: Arc::new(incremental::BaseSlot::new()),
        })
    }

    /// Closes the backend (Flink `HeapKeyedStateBackend#dispose`, B21): cancels every checkpoint in flight and
    /// waits for each running asynchronous part to stop, releases the snapshots of those not running, then
    /// drops every state's table and the restored states not registered. Afterwards every operation returning a
    /// `Result` fails with [`BackendError::Closed`]. Idempotent.
    ///
    /// Each asynchronous part checks for cancellation before every state's key-group body and before its commit,
    /// so the wait lasts at most one body's serialization and one storage call (a serializer or storage that
    /// never returns keeps `close` waiting; dropping the backend instead never waits, B22). A checkpoint whose
    /// commit had begun before it was cancelled completes; every other ends with
    /// [`CheckpointError::Cancelled`], leaving nothing in storage.
    ///
    /// ```
    /// use cow_state_table::backend::{BackendError, CheckpointError, KeyedStateBackend, ValueStateDescriptor};
    /// use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let v = b.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// b.set_current_key(1).unwrap();
    /// v.update(&mut b, 5).unwrap();
    /// let pending = b.checkpoint(1).unwrap();
    /// assert_eq!(b.live_snapshots(), 1);
    ///
    /// b.close();
    /// assert_eq!(pending.entries(), 0, "its snapshot was released");
    /// let storage = MemoryStorage::new();
    /// assert!(matches!(pending.run(&storage), Err(CheckpointError::Cancelled { id: 1 })));
    /// assert!(storage.list().unwrap().is_empty());
    /// assert!(matches!(v.value(&b), Err(BackendError::Closed)));
    /// assert!(matches!(b.set_current_key(1), Err(BackendError::Closed)));
    /// b.close(); // idempotent
    /// ```
    pub fn close(&mut self) {
        for flight in self.flights.drain(..) {
            if let Some(flight) = flight.upgrade() {
                flight.cancel_and_join();
            }
        }
        // C6: the base's snapshots go with the checkpoints' (B21: none is held once closed).
        self.base.reset();
        self.id = CLOSED_ID;
        self.current_key = None;
        self.names.clear();
        // The restored states and the tables last: snapshots of the tables are released above.
        self.restored.clear();
        self.states.clear();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.id == CLOSED_ID
    }

    /// `Err(Closed)` once closed (B21).
    #[inline]
    fn check_open(&self) -> Result<(), BackendError> {
        if self.is_closed() {
            Err(BackendError::Closed)
        } else {
            Ok(())
        }
    }

    /// The error of an operation without a current key: `Closed` if closed (B21), else `NoCurrentKey`.
    #[cold]
    fn no_key_error(&self) -> BackendError {
        self.closed_or(BackendError::NoCurrentKey)
    }

    /// The error of a handle whose backend id does not match: `Closed` if closed (B21), else `ForeignHandle`.
    #[cold]
    fn foreign_error(&self) -> BackendError {
        self.closed_or(BackendError::ForeignHandle)
    }

    /// `Closed` if the backend is closed (B21: every operation then says so), else `error`.
    fn closed_or(&self, error: BackendError) -> BackendError {
        if self.is_closed() {
            BackendError::Closed
        } else {
            error
        }
    }

    /// Sets the key every state operation works on and computes its key group, once (B1; Flink
    /// `setCurrentKey`). A key whose key group is outside the range is refused with
    /// [`BackendError::KeyOutOfRange`] and the previous current key stays. After [`close`](Self::close):
    /// [`BackendError::Closed`].
    #[inline]
    pub fn set_current_key(&mut self, key: K) -> Result<(), BackendError> {
        self.check_open()?;
        let key_group = self.context.key_group_of(&key);
        if !self.context.range().contains(key_group) {
            return Err(BackendError::KeyOutOfRange {
                key_group,
                range: self.context.range(),
            });
        }
        self.current_key = Some(key);
        self.current_key_group = key_group;
        Ok(())
    }

    /// Unsets the current key: state operations fail with [`BackendError::NoCurrentKey`] until the next
    /// [`set_current_key`](Self::set_current_key).
    pub fn clear_current_key(&mut self) {
        self.current_key = None;
    }

    /// The current key (Flink `InternalKeyContext.getCurrentKey`), if one is set.
    pub fn current_key(&self) -> Option<&K> {
        self.current_key.as_ref()
    }

    /// The current key's key group (Flink `getCurrentKeyGroupIndex`), if a key is set.
    pub fn current_key_group(&self) -> Option<u32> {
        self.current_key.as_ref().map(|_| self.current_key_group)
    }

    /// Number of key groups, i.e. the maximum parallelism (Flink `getNumberOfKeyGroups`).
    pub fn max_parallelism(&self) -> u32 {
        self.context.max_parallelism()
    }

    /// The key groups this backend owns (Flink `getKeyGroupRange`).
    pub fn key_group_range(&self) -> KeyGroupRange {
        self.context.range()
    }

    /// Maximum parallelism and range together.
    pub fn key_group_context(&self) -> KeyGroupContext {
        self.context
    }

    /// The key serializer (Flink `getKeySerializer`).
    pub fn key_serializer(&self) -> &KS {
        &self.key_serializer
    }

    /// Names of the registered states, in registration (= id) order.
    pub fn state_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.states.iter().map(|s| s.name.as_str())
    }

    /// The meta entries a checkpoint of this backend writes: the registered states (id = registration index),
    /// then the restored states not registered yet (B23).
    pub fn state_metas(&self) -> Vec<StateMeta> {
        let registered = self.states.iter().map(|s| (&s.name, &s.signature));
        let restored = self.restored.iter().map(|r| (&r.name, &r.signature));
        registered
            .chain(restored)
            .enumerate()
            .map(|(id, (name, signature))| {
                StateMeta::new(
                    id as u16,
                    name.clone(),
                    signature.kind,
                    signature.namespace_serializer.clone(),
                    signature.state_serializer.clone(),
                )
            })
            .collect()
    }

    /// The restored states not registered yet, with what they were checkpointed as (B23): registering one of
    /// these names with a matching kind and serializers binds it with its restored data (B24).
    pub fn restored_unregistered(&self) -> impl Iterator<Item = (&str, &StateSignature)> + '_ {
        self.restored.iter().map(|r| (r.name.as_str(), &r.signature))
    }

    /// Entries of the state named `name` over all keys and namespaces, if registered.
    pub fn state_len(&self, name: &str) -> Option<usize> {
        let slot = &self.states[*self.names.get(name)?];
        Some(slot.codec.len(&*slot.data))
    }

    /// Snapshots still held, summed over every state's table (each pending checkpoint holds one per state).
    pub fn live_snapshots(&self) -> usize {
        self.states.iter().map(|s| s.codec.live_snapshots(&*s.data)).sum()
    }

    /// Runs every table's invariant checker (I1–I13).
    pub fn check_invariants(&self) -> Result<(), crate::InvariantViolation> {
        self.states.iter().try_for_each(|s| s.codec.check(&*s.data))
    }

    /// Test knob: lowers the version at which every registered state's table renormalises its versions (I12;
    /// `StateTable::set_version_limit_for_test`), so that tests reach renormalisation between checkpoints.
    #[doc(hidden)]
    pub fn set_version_limit_for_test(&mut self, limit: u32) {
        for s in &mut self.states {
            s.codec.set_version_limit_for_test(&mut *s.data, limit);
        }
    }

    /// Registers `name` or returns the existing state of that name (B2), binding the restored state of that name
    /// if there is one (B24).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn register<N, S, NS, SS, X>(
        &mut self,
        name: String,
        kind: StateKind,
        namespace: NS,
        state: SS,
        extra: impl FnOnce() -> X,
    ) -> Result<HandleCore, BackendError>
    where
        N: core::hash::Hash + Eq + StateType,
        S: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        SS: TypeSerializer<Value = S> + StateType,
        X: Send + Sync + 'static,
    {
        self.check_open()?;
        let requested = StateSignature {
            kind,
            namespace_serializer: namespace.identity(),
            state_serializer: state.identity(),
        };
        let data_type = TypeId::of::<Data<K, N, S, H, P, X>>();
        if let Some(&index) = self.names.get(&name) {
            let slot = &self.states[index];
            if slot.signature != requested || slot.data_type != data_type {
                return Err(BackendError::StateMismatch(Box::new(StateMismatch {
                    name,
                    registered: slot.signature.clone(),
                    requested,
                })));
            }
            return Ok(self.core(index));
        }
        let codec = TypedCodec::<N, S, NS, SS, X>::new(namespace, state);
        let restored = self.restored.iter().position(|r| r.name == name);
        let built = match restored {
            Some(at) => Some(self.bind_restored::<N, S, NS, SS, X>(&self.restored[at], &codec, &requested)?),
            None if self.states.len() + self.restored.len() >= MAX_STATES => {
                return Err(BackendError::TooManyStates { limit: MAX_STATES });
            }
            None => None,
        };
        let index = self.states.len();
        let mut data = Box::new(Data::<K, N, S, H, P, X> {
            table: crate::StateTable::with_hasher(H::default()),
            extra: extra(),
        });
        if let Some(built) = built {
            // A move (no user code): the empty table comes back and is dropped.
            drop(Codec::<K, KS, H, P>::install(&codec, &mut *data, built));
        }
        self.states.push(Slot {
            name: name.clone(),
            signature: requested,
            data_type,
            data,
            codec: Box::new(codec),
        });
        self.names.insert(name, index);
        // C7: a new state has no base; the next incremental checkpoint is full.
        self.base.reset();
        if let Some(at) = restored {
            self.restored.remove(at);
        }
        Ok(self.core(index))
    }

    /// B24: checks a registration against the restored state of its name and builds its table from the kept
    /// bodies. Changes nothing: on any error (or a panic of `Hash` / `Eq` while building) the state stays
    /// restored and unregistered.
    fn bind_restored<N, S, NS, SS, X>(
        &self,
        restored: &RestoredState,
        codec: &TypedCodec<N, S, NS, SS, X>,
        requested: &StateSignature,
    ) -> Result<Box<dyn Any + Send>, BackendError>
    where
        N: core::hash::Hash + Eq + StateType,
        S: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        SS: TypeSerializer<Value = S> + StateType,
        X: Send + Sync + 'static,
    {
        if restored.signature != *requested {
            return Err(BackendError::RestoredStateMismatch(Box::new(RestoredStateMismatch {
                name: restored.name.clone(),
                restored: restored.signature.clone(),
                requested: requested.clone(),
            })));
        }
        let codec: &dyn Codec<K, KS, H, P> = codec;
        let mut staged = codec.new_staged();
        for (&key_group, body) in restored.bodies.iter() {
            codec
                .decode(&body.bytes, key_group, self.context, &self.key_serializer, &mut *staged)
                .map_err(|source| RestoreError::Decode {
                    index: body.checkpoint,
                    name: restored.name.clone(),
                    source,
                })?;
        }
        Ok(codec.build(staged))
    }

    /// T5: makes the checkpoints of the state at `core` write its entries through `filter` (an
    /// `Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>>` of the state's types); whether it was installed.
    pub(crate) fn set_snapshot_filter(&mut self, core: HandleCore, filter: Box<dyn Any + Send + Sync>) -> bool {
        core.backend == self.id
            && self
                .states
                .get_mut(core.index as usize)
                .is_some_and(|slot| slot.codec.set_snapshot_filter(filter))
    }

    fn core(&self, index: usize) -> HandleCore {
        HandleCore {
            backend: self.id,
            index: index as u32,
        }
    }

    /// The current key and the state's data, for a read (B3, B4).
    #[inline]
    pub(crate) fn read<N: 'static, S: 'static, X: 'static>(
        &self,
        core: HandleCore,
    ) -> Result<(&K, &Data<K, N, S, H, P, X>), BackendError> {
        let Some(key) = self.current_key.as_ref() else {
            return Err(self.no_key_error());
        };
        Ok((key, self.data(core)?))
    }

    /// The state's data, without a current key (serialized-value lookup).
    #[inline]
    pub(crate) fn data<N: 'static, S: 'static, X: 'static>(
        &self,
        core: HandleCore,
    ) -> Result<&Data<K, N, S, H, P, X>, BackendError> {
        let slot = self.slot::<Data<K, N, S, H, P, X>>(core)?;
        // SAFETY: `slot` checked that the box holds a `Data<K, N, S, H, P, X>` (B3).
        Ok(unsafe { &*(&*slot.data as *const (dyn Any + Send + Sync) as *const Data<K, N, S, H, P, X>) })
    }

    /// The current key and the state's data, for a write (B3, B5).
    #[inline]
    pub(crate) fn write<N: 'static, S: 'static, X: 'static>(
        &mut self,
        core: HandleCore,
    ) -> Result<(&K, &mut Data<K, N, S, H, P, X>), BackendError> {
        let Some(key) = self.current_key.as_ref() else {
            return Err(self.no_key_error());
        };
        if core.backend != self.id {
            return Err(self.foreign_error());
        }
        let slot = match self.states.get_mut(core.index as usize) {
            Some(slot) if slot.data_type == TypeId::of::<Data<K, N, S, H, P, X>>() => slot,
            _ => return Err(BackendError::ForeignHandle),
        };
        let data = &mut *slot.data as *mut (dyn Any + Send + Sync) as *mut Data<K, N, S, H, P, X>;
        // SAFETY: the slot's `data_type` is the `TypeId` of the value in its box (B3: both are set together at
        // registration and never changed), so the box holds a `Data<K, N, S, H, P, X>`; the pointer comes from a
        // unique borrow of the box held for the returned lifetime.
        Ok((key, unsafe { &mut *data }))
    }

    /// The state's data for a write, without a current key (TTL cleanup, docs/DESIGN.md T6, T7).
    pub(crate) fn data_mut<N: 'static, S: 'static, X: 'static>(
        &mut self,
        core: HandleCore,
    ) -> Result<&mut Data<K, N, S, H, P, X>, BackendError> {
        self.slot::<Data<K, N, S, H, P, X>>(core)?;
        let slot = &mut self.states[core.index as usize];
        Ok(slot
            .data
            .downcast_mut::<Data<K, N, S, H, P, X>>()
            .expect("`slot` checked the type (B3)"))
    }

    /// The slot of `core` if the handle belongs to this backend and its box holds a `T` (B3). One compare of a
    /// stored `TypeId` with a constant instead of `Any`'s virtual `type_id` call, on every operation.
    #[inline]
    fn slot<T: 'static>(&self, core: HandleCore) -> Result<&Slot<K, KS, H, P>, BackendError> {
        if core.backend != self.id {
            return Err(self.foreign_error());
        }
        match self.states.get(core.index as usize) {
            Some(slot) if slot.data_type == TypeId::of::<T>() => {
                debug_assert!(slot.data.is::<T>());
                Ok(slot)
            }
            _ => Err(BackendError::ForeignHandle),
        }
    }
}

impl<K, KS: fmt::Debug, H, P: Primitives> fmt::Debug for KeyedStateBackend<K, KS, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedStateBackend")
            .field("key_serializer", &self.key_serializer)
            .field("context", &self.context)
            .field("has_current_key", &self.current_key.is_some())
            .field("current_key_group", &self.current_key_group)
            .field(
                "states",
                &self.states.iter().map(|s| (&s.name, &s.signature)).collect::<Vec<_>>(),
            )
            .field(
                "restored_unregistered",
                &self
                    .restored
                    .iter()
                    .map(|r| (&r.name, &r.signature))
                    .collect::<Vec<_>>(),
            )
            .field("closed", &(self.id == CLOSED_ID))
            .finish()
    }
}

/// B22: cancels every checkpoint in flight and releases the snapshots of those whose asynchronous part is not
/// running, without waiting for the running ones (they stop at their next key-group body or before their commit,
/// commit nothing, and release their own snapshots). Never blocks; [`close`](KeyedStateBackend::close) first to
/// wait.
impl<K, KS, H, P: Primitives> Drop for KeyedStateBackend<K, KS, H, P> {
    fn drop(&mut self) {
        for flight in self.flights.drain(..) {
            if let Some(flight) = flight.upgrade() {
                flight.cancel_and_detach();
            }
        }
    }
}
