//! The keyed state layer: a backend for one operator instance over many named states, each backed by its own
//! [`StateTable`](crate::StateTable), checkpointed asynchronously.
//!
//! Flink: `HeapKeyedStateBackend`, `InternalKeyContext`, the heap states (`HeapValueState`, `HeapListState`,
//! `HeapReducingState`, `HeapFoldingState`, …) and `AsyncMemoryStateBackend`.
//!
//! This layer sits above the table, the snapshot, the key groups and the format; nothing below it imports it.
//! Its rules, **B1 … B20**, are written in docs/DESIGN.md ("The keyed state backend").
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
//!   all or nothing (B10).
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
mod keys;
mod merge;
mod restore;
pub mod state;
pub mod storage;
pub mod stream;

pub use checkpoint::{CheckpointHandle, CheckpointSummary, PendingCheckpoint};
pub use error::{BackendError, CheckpointError, RestoreError, StateMismatch, StateSignature};
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
use core::any::{Any, TypeId};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use state::{Codec, Data, HandleCore, TypedCodec};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use stream::{StateKind, StateMeta};

/// Ids of backends, so that a handle used with another backend is refused (B3).
static NEXT_BACKEND_ID: AtomicU64 = AtomicU64::new(1);

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
/// * Checkpoints (B7–B9): [`checkpoint`](Self::checkpoint). Restore (B10): [`restore`](Self::restore).
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
        })
    }

    /// Sets the key every state operation works on and computes its key group, once (B1; Flink
    /// `setCurrentKey`). A key whose key group is outside the range is refused with
    /// [`BackendError::KeyOutOfRange`] and the previous current key stays.
    #[inline]
    pub fn set_current_key(&mut self, key: K) -> Result<(), BackendError> {
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

    /// The meta entries a checkpoint of this backend writes (id = registration index).
    pub fn state_metas(&self) -> Vec<StateMeta> {
        self.states
            .iter()
            .enumerate()
            .map(|(id, s)| {
                StateMeta::new(
                    id as u16,
                    s.name.clone(),
                    s.signature.kind,
                    s.signature.namespace_serializer.clone(),
                    s.signature.state_serializer.clone(),
                )
            })
            .collect()
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

    /// Registers `name` or returns the existing state of that name (B2).
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
        if self.states.len() >= MAX_STATES {
            return Err(BackendError::TooManyStates { limit: MAX_STATES });
        }
        let index = self.states.len();
        self.states.push(Slot {
            name: name.clone(),
            signature: requested,
            data_type,
            data: Box::new(Data::<K, N, S, H, P, X> {
                table: crate::StateTable::with_hasher(H::default()),
                extra: extra(),
            }),
            codec: Box::new(TypedCodec::<N, S, NS, SS, X>::new(namespace, state)),
        });
        self.names.insert(name, index);
        Ok(self.core(index))
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
        let key = self.current_key.as_ref().ok_or(BackendError::NoCurrentKey)?;
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
        let key = self.current_key.as_ref().ok_or(BackendError::NoCurrentKey)?;
        if core.backend != self.id {
            return Err(BackendError::ForeignHandle);
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

    /// The slot of `core` if the handle belongs to this backend and its box holds a `T` (B3). One compare of a
    /// stored `TypeId` with a constant instead of `Any`'s virtual `type_id` call, on every operation.
    #[inline]
    fn slot<T: 'static>(&self, core: HandleCore) -> Result<&Slot<K, KS, H, P>, BackendError> {
        if core.backend != self.id {
            return Err(BackendError::ForeignHandle);
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
            .finish()
    }
}
