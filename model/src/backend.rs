//! The reference backend and the backend operation language (issue 10; docs/DESIGN.md B1–B10).
//!
//! * [`ModelBackend`] — per state a `BTreeMap<(key, namespace), state>` with the seed's semantics, the current
//!   key, and the key-group check of `set_current_key`.
//! * [`BackendOp`] — set key, per-kind operations of six states (value, list, reducing, folding, aggregating,
//!   map), merge, clear, checkpoint start / finish / cancel and restore, as data (`arbitrary` and proptest).
//! * [`BackendRunner`] — applies each operation to a real
//!   [`KeyedStateBackend`] and to the model and compares every
//!   result and, after every operation, the whole live state and the tables' invariants. A checkpoint's
//!   asynchronous part runs on a background thread from its start until its finish while later operations
//!   write the same keys; at its finish the stream is restored into a fresh backend of the same range and into
//!   two backends splitting the range (rescale 1 → 2), each compared with the model captured at the
//!   checkpoint's synchronous part.
//!
//! ```
//! use cow_state_table_model::backend::{BackendOp, BackendRunner};
//! let ops = [
//!     BackendOp::SetKey { key: 1 },
//!     BackendOp::ValueUpdate { ns: 0, value: Some(7) },
//!     BackendOp::CheckpointStart { slot: 0 },
//!     BackendOp::ValueUpdate { ns: 0, value: Some(8) },
//!     BackendOp::CheckpointFinish { slot: 0 },
//!     BackendOp::Restore { index: 0 },
//!     BackendOp::ValueGet { ns: 0 },
//! ];
//! let stats = BackendRunner::run(&ops).unwrap();
//! assert_eq!(stats.checkpoints_verified, 1);
//! ```

#![allow(deprecated)] // the folding state is deprecated as in Flink, and modelled all the same

use arbitrary::Arbitrary;
use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig, TtlValueState};
use cow_state_table::backend::{
    AggregateFunction, AggregatingState, AggregatingStateDescriptor, BackendError, CheckpointHandle, FoldingState,
    FoldingStateDescriptor, KeyedStateBackend, ListState, ListStateDescriptor, MapState, MapStateDescriptor,
    ReducingState, ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
use cow_state_table::serializer::{U32Serializer, U64Serializer, U8Serializer};
use cow_state_table::DeterministicState;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Keys are `0..BACKEND_KEYS` (about half of them in the backend's key-group range).
pub const BACKEND_KEYS: u64 = 16;
/// Namespaces are `0..BACKEND_NAMESPACES`.
pub const BACKEND_NAMESPACES: u32 = 4;
/// Checkpoints in flight at once.
pub const CHECKPOINT_SLOTS: usize = 3;
/// Maximum parallelism of the model's backends.
pub const MAX_PARALLELISM: u32 = 8;
/// The live backend's key groups: instance 0 of 2, i.e. 0..=3.
pub fn live_range() -> KeyGroupRange {
    KeyGroupRange::of(0, 3).expect("valid range")
}
/// Map-state user keys are `0..MAP_KEYS`.
pub const MAP_KEYS: u8 = 4;
/// The value state's default.
pub const VALUE_DEFAULT: u64 = 1000;
/// The folding state's initial accumulator.
pub const FOLD_INITIAL: u64 = 5;

/// The reduce function (not commutative, so merge order shows).
pub fn reduce(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}
/// The fold function.
pub fn fold(acc: u64, t: u64) -> u64 {
    acc.wrapping_mul(3).wrapping_add(t)
}

/// The aggregate function (accumulator `u64`; not commutative in `merge`).
#[derive(Debug, Clone, Copy)]
pub struct Agg;
impl AggregateFunction<u64, u64, u64> for Agg {
    fn create_accumulator(&self) -> u64 {
        1
    }
    fn add(&self, value: u64, acc: u64) -> u64 {
        acc.wrapping_mul(31).wrapping_add(value)
    }
    fn get_result(&self, acc: &u64) -> u64 {
        acc % 1000
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a.wrapping_mul(17).wrapping_add(b)
    }
}

/// Which mergeable state a [`BackendOp::Merge`] addresses (mod 3: list, reducing, aggregating).
pub type MergeTarget = u8;

/// One backend operation. Namespaces are reduced mod [`BACKEND_NAMESPACES`], keys mod [`BACKEND_KEYS`], user keys
/// mod [`MAP_KEYS`], slots mod [`CHECKPOINT_SLOTS`].
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum BackendOp {
    /// `set_current_key(key)` (B1).
    SetKey {
        /// The key.
        key: u8,
    },
    /// Value state `update(value)`; `None` clears.
    ValueUpdate {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// Value state `value()`.
    ValueGet {
        /// Namespace.
        ns: u8,
    },
    /// List state `add(value)`; `None` clears.
    ListAdd {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// List state `add_all(values)`.
    ListAddAll {
        /// Namespace.
        ns: u8,
        /// The values.
        values: Vec<u64>,
    },
    /// List state `update(values)` (empty clears).
    ListUpdate {
        /// Namespace.
        ns: u8,
        /// The values.
        values: Vec<u64>,
    },
    /// List state `get()`.
    ListGet {
        /// Namespace.
        ns: u8,
    },
    /// Reducing state `add(value)`; `None` clears.
    ReduceAdd {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// Reducing state `get()`.
    ReduceGet {
        /// Namespace.
        ns: u8,
    },
    /// Aggregating state `add(value)`; `None` clears.
    AggAdd {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// Aggregating state `get()`.
    AggGet {
        /// Namespace.
        ns: u8,
    },
    /// Folding state `add(value)`; `None` clears.
    FoldAdd {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// Folding state `get()`.
    FoldGet {
        /// Namespace.
        ns: u8,
    },
    /// Map state `put(user_key, value)`.
    MapPut {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
        /// Value.
        value: u64,
    },
    /// Map state `remove(user_key)` (an emptied map is removed).
    MapRemove {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
    },
    /// Map state `get(user_key)`.
    MapGet {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
    },
    /// `clear()` of state `state` (mod 6: value, list, reducing, aggregating, folding, map).
    Clear {
        /// Which state.
        state: u8,
        /// Namespace.
        ns: u8,
    },
    /// `merge_namespaces(target, sources)` of a mergeable state (B6).
    Merge {
        /// Which state (mod 3: list, reducing, aggregating).
        state: MergeTarget,
        /// Target namespace.
        target: u8,
        /// Source namespaces, in order.
        sources: Vec<u8>,
    },
    /// The synchronous part of a checkpoint (B7); its asynchronous part starts on a background thread at once.
    /// A checkpoint already in the slot is cancelled first.
    CheckpointStart {
        /// Slot.
        slot: u8,
    },
    /// Waits for the slot's checkpoint and verifies it (restored, it equals the model captured at its start).
    CheckpointFinish {
        /// Slot.
        slot: u8,
    },
    /// Cancels the slot's checkpoint (B8); if it had committed already, it is verified like a finished one.
    CheckpointCancel {
        /// Slot.
        slot: u8,
    },
    /// Restores the live backend from a finished checkpoint (index mod the number finished; nothing if none).
    Restore {
        /// Which finished checkpoint.
        index: u8,
    },
    /// TTL value state `update(value)` (docs/DESIGN.md T3: stamped with the clock); `None` clears.
    TtlUpdate {
        /// Namespace.
        ns: u8,
        /// The value.
        value: Option<u64>,
    },
    /// TTL value state `value()` (T4: an expired value reads as absent and is removed).
    TtlGet {
        /// Namespace.
        ns: u8,
    },
    /// Moves the TTL clock forward by `millis` (T2).
    AdvanceClock {
        /// Milliseconds.
        millis: u8,
    },
}

/// The TTL value state's time-to-live in the model, in milliseconds.
pub const TTL_MILLIS: i64 = 20;

/// The model's state: one ordered map per state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelStates {
    /// Value state.
    pub value: BTreeMap<(u64, u32), u64>,
    /// List state.
    pub list: BTreeMap<(u64, u32), Vec<u64>>,
    /// Reducing state.
    pub reducing: BTreeMap<(u64, u32), u64>,
    /// Aggregating state (accumulators).
    pub aggregating: BTreeMap<(u64, u32), u64>,
    /// Folding state.
    pub folding: BTreeMap<(u64, u32), u64>,
    /// Map state.
    pub map: BTreeMap<(u64, u32), BTreeMap<u8, u64>>,
    /// TTL value state: `(value, last access)`, expired entries included (compared with
    /// [`ModelStates::ttl_divergence`], not `==`: the backend's cleanups remove expired entries at times the
    /// model does not follow, T5, T6).
    pub ttl: BTreeMap<(u64, u32), (u64, i64)>,
}

impl ModelStates {
    /// Only the entries whose key is in `range` (under [`MAX_PARALLELISM`]).
    pub fn restricted(&self, range: KeyGroupRange) -> ModelStates {
        let ctx = KeyGroupContext::new(MAX_PARALLELISM, range).expect("valid");
        fn keep<V: Clone>(m: &BTreeMap<(u64, u32), V>, ctx: KeyGroupContext) -> BTreeMap<(u64, u32), V> {
            m.iter()
                .filter(|((k, _), _)| ctx.range().contains(ctx.key_group_of(k)))
                .map(|(k, v)| (*k, v.clone()))
                .collect()
        }
        ModelStates {
            value: keep(&self.value, ctx),
            list: keep(&self.list, ctx),
            reducing: keep(&self.reducing, ctx),
            aggregating: keep(&self.aggregating, ctx),
            folding: keep(&self.folding, ctx),
            map: keep(&self.map, ctx),
            ttl: keep(&self.ttl, ctx),
        }
    }

    /// The states without the TTL state (those compare with `==`).
    pub fn without_ttl(&self) -> ModelStates {
        ModelStates {
            ttl: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// Compares the TTL state of `self` (the backend's) with `model`'s: every entry of `self` is in `model` with
    /// the same value and stamp, and every entry of `model` unexpired at `unexpired_at` is in `self`; and no entry
    /// of `self` was expired at `expired_at` (T5: what a filtered checkpoint may hold). `None` if they agree.
    pub fn ttl_divergence(&self, model: &ModelStates, unexpired_at: i64, expired_at: Option<i64>) -> Option<String> {
        for (k, got) in &self.ttl {
            if model.ttl.get(k) != Some(got) {
                return Some(format!("ttl entry {k:?} = {got:?}, model {:?}", model.ttl.get(k)));
            }
            if let Some(at) = expired_at {
                if cow_state_table::backend::ttl::expired(got.1, TTL_MILLIS, at) {
                    return Some(format!("ttl entry {k:?} = {got:?} was expired at {at}"));
                }
            }
        }
        for (k, want) in &model.ttl {
            if !cow_state_table::backend::ttl::expired(want.1, TTL_MILLIS, unexpired_at) && !self.ttl.contains_key(k) {
                return Some(format!(
                    "ttl entry {k:?} = {want:?} (unexpired at {unexpired_at}) missing"
                ));
            }
        }
        None
    }
}

/// The reference backend: the states, the current key and the key-group range.
#[derive(Debug, Clone)]
pub struct ModelBackend {
    /// The states.
    pub states: ModelStates,
    /// The current key.
    pub current_key: Option<u64>,
    /// The TTL clock, in milliseconds.
    pub now: i64,
    context: KeyGroupContext,
}

/// The outcome of one operation, compared between model and backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done, nothing returned.
    Unit,
    /// A single value (or none).
    Value(Option<u64>),
    /// A list (or none).
    List(Option<Vec<u64>>),
    /// A boolean.
    Bool(bool),
    /// A refusal: `"no-key"` or `"out-of-range"`.
    Err(&'static str),
}

fn merge_model<V>(map: &mut BTreeMap<(u64, u32), V>, key: u64, target: u32, sources: &[u32], f: impl Fn(V, V) -> V) {
    let mut merged: Option<V> = None;
    for &s in sources {
        if let Some(v) = map.remove(&(key, s)) {
            merged = Some(match merged {
                Some(m) => f(m, v),
                None => v,
            });
        }
    }
    if let Some(m) = merged {
        let new = match map.remove(&(key, target)) {
            Some(t) => f(t, m),
            None => m,
        };
        map.insert((key, target), new);
    }
}

fn ns(n: u8) -> u32 {
    u32::from(n) % BACKEND_NAMESPACES
}

impl ModelBackend {
    /// An empty model over `range` of [`MAX_PARALLELISM`].
    pub fn new(range: KeyGroupRange) -> Self {
        ModelBackend {
            states: ModelStates::default(),
            current_key: None,
            now: 0,
            context: KeyGroupContext::new(MAX_PARALLELISM, range).expect("valid"),
        }
    }

    /// Applies a state operation (not the checkpoint ones) and returns its outcome.
    pub fn apply(&mut self, op: &BackendOp) -> Outcome {
        if let BackendOp::SetKey { key } = op {
            let key = u64::from(*key) % BACKEND_KEYS;
            if !self.context.range().contains(self.context.key_group_of(&key)) {
                return Outcome::Err("out-of-range");
            }
            self.current_key = Some(key);
            return Outcome::Unit;
        }
        if let BackendOp::AdvanceClock { millis } = op {
            self.now += i64::from(*millis);
            return Outcome::Unit;
        }
        let now = self.now;
        let Some(k) = self.current_key else {
            return Outcome::Err("no-key");
        };
        let s = &mut self.states;
        match op {
            BackendOp::TtlUpdate { ns: n, value } => {
                match value {
                    Some(v) => s.ttl.insert((k, ns(*n)), (*v, now)),
                    None => s.ttl.remove(&(k, ns(*n))),
                };
                Outcome::Unit
            }
            BackendOp::TtlGet { ns: n } => match s.ttl.get(&(k, ns(*n))) {
                Some(&(v, ts)) if !cow_state_table::backend::ttl::expired(ts, TTL_MILLIS, now) => {
                    Outcome::Value(Some(v))
                }
                Some(_) => {
                    s.ttl.remove(&(k, ns(*n)));
                    Outcome::Value(None)
                }
                None => Outcome::Value(None),
            },
            BackendOp::ValueUpdate { ns: n, value } => {
                match value {
                    Some(v) => s.value.insert((k, ns(*n)), *v),
                    None => s.value.remove(&(k, ns(*n))),
                };
                Outcome::Unit
            }
            BackendOp::ValueGet { ns: n } => {
                Outcome::Value(Some(s.value.get(&(k, ns(*n))).copied().unwrap_or(VALUE_DEFAULT)))
            }
            BackendOp::ListAdd { ns: n, value } => {
                match value {
                    Some(v) => s.list.entry((k, ns(*n))).or_default().push(*v),
                    None => {
                        s.list.remove(&(k, ns(*n)));
                    }
                }
                Outcome::Unit
            }
            BackendOp::ListAddAll { ns: n, values } => {
                if !values.is_empty() {
                    s.list.entry((k, ns(*n))).or_default().extend(values);
                }
                Outcome::Unit
            }
            BackendOp::ListUpdate { ns: n, values } => {
                if values.is_empty() {
                    s.list.remove(&(k, ns(*n)));
                } else {
                    s.list.insert((k, ns(*n)), values.clone());
                }
                Outcome::Unit
            }
            BackendOp::ListGet { ns: n } => Outcome::List(s.list.get(&(k, ns(*n))).cloned()),
            BackendOp::ReduceAdd { ns: n, value } => {
                match value {
                    Some(v) => {
                        let new = s.reducing.get(&(k, ns(*n))).map_or(*v, |o| reduce(*o, *v));
                        s.reducing.insert((k, ns(*n)), new);
                    }
                    None => {
                        s.reducing.remove(&(k, ns(*n)));
                    }
                }
                Outcome::Unit
            }
            BackendOp::ReduceGet { ns: n } => Outcome::Value(s.reducing.get(&(k, ns(*n))).copied()),
            BackendOp::AggAdd { ns: n, value } => {
                match value {
                    Some(v) => {
                        let acc = s.aggregating.get(&(k, ns(*n))).copied().unwrap_or(1);
                        s.aggregating.insert((k, ns(*n)), Agg.add(*v, acc));
                    }
                    None => {
                        s.aggregating.remove(&(k, ns(*n)));
                    }
                }
                Outcome::Unit
            }
            BackendOp::AggGet { ns: n } => Outcome::Value(s.aggregating.get(&(k, ns(*n))).map(|a| Agg.get_result(a))),
            BackendOp::FoldAdd { ns: n, value } => {
                match value {
                    Some(v) => {
                        let acc = s.folding.get(&(k, ns(*n))).copied().unwrap_or(FOLD_INITIAL);
                        s.folding.insert((k, ns(*n)), fold(acc, *v));
                    }
                    None => {
                        s.folding.remove(&(k, ns(*n)));
                    }
                }
                Outcome::Unit
            }
            BackendOp::FoldGet { ns: n } => Outcome::Value(s.folding.get(&(k, ns(*n))).copied()),
            BackendOp::MapPut { ns: n, user_key, value } => {
                s.map
                    .entry((k, ns(*n)))
                    .or_default()
                    .insert(user_key % MAP_KEYS, *value);
                Outcome::Unit
            }
            BackendOp::MapRemove { ns: n, user_key } => {
                let Some(m) = s.map.get_mut(&(k, ns(*n))) else {
                    return Outcome::Bool(false);
                };
                let removed = m.remove(&(user_key % MAP_KEYS)).is_some();
                if m.is_empty() {
                    s.map.remove(&(k, ns(*n)));
                }
                Outcome::Bool(removed)
            }
            BackendOp::MapGet { ns: n, user_key } => Outcome::Value(
                s.map
                    .get(&(k, ns(*n)))
                    .and_then(|m| m.get(&(user_key % MAP_KEYS)))
                    .copied(),
            ),
            BackendOp::Clear { state, ns: n } => {
                let key = (k, ns(*n));
                match state % 6 {
                    0 => drop(s.value.remove(&key)),
                    1 => drop(s.list.remove(&key)),
                    2 => drop(s.reducing.remove(&key)),
                    3 => drop(s.aggregating.remove(&key)),
                    4 => drop(s.folding.remove(&key)),
                    _ => drop(s.map.remove(&key)),
                }
                Outcome::Unit
            }
            BackendOp::Merge { state, target, sources } => {
                let sources: Vec<u32> = sources.iter().map(|n| ns(*n)).collect();
                match state % 3 {
                    0 => merge_model(&mut s.list, k, ns(*target), &sources, |mut a, b| {
                        a.extend(b);
                        a
                    }),
                    1 => merge_model(&mut s.reducing, k, ns(*target), &sources, reduce),
                    _ => merge_model(&mut s.aggregating, k, ns(*target), &sources, |a, b| Agg.merge(a, b)),
                }
                Outcome::Unit
            }
            _ => unreachable!("checkpoint operations are the runner's"),
        }
    }
}

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;

/// The real backend with its six state handles, registered as the model's states.
pub struct Subject {
    /// The backend.
    pub backend: Backend,
    value: ValueState<u32, u64>,
    list: ListState<u32, u64>,
    reducing: ReducingState<u32, u64>,
    aggregating: AggregatingState<u32, u64, u64, u64>,
    folding: FoldingState<u32, u64, u64>,
    map: MapState<u32, u8, u64>,
    ttl: TtlValueState<u32, u64>,
    /// The TTL state's clock.
    pub clock: Arc<ManualClock>,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject").field("backend", &self.backend).finish()
    }
}

fn err(e: BackendError) -> Outcome {
    match e {
        BackendError::NoCurrentKey => Outcome::Err("no-key"),
        BackendError::KeyOutOfRange { .. } => Outcome::Err("out-of-range"),
        other => panic!("unexpected backend error {other}"),
    }
}

impl Subject {
    /// A backend over `range` with the six states registered.
    pub fn new(range: KeyGroupRange) -> Self {
        let mut backend: Backend = KeyedStateBackend::new(U64Serializer, MAX_PARALLELISM, range).expect("valid");
        let value = backend
            .register_value(
                ValueStateDescriptor::new("value", U32Serializer, U64Serializer).with_default(VALUE_DEFAULT),
            )
            .expect("register");
        let list = backend
            .register_list(ListStateDescriptor::new("list", U32Serializer, U64Serializer))
            .expect("register");
        let reducing = backend
            .register_reducing(ReducingStateDescriptor::new(
                "reducing",
                U32Serializer,
                U64Serializer,
                reduce,
            ))
            .expect("register");
        let aggregating = backend
            .register_aggregating(AggregatingStateDescriptor::new(
                "aggregating",
                U32Serializer,
                U64Serializer,
                Agg,
            ))
            .expect("register");
        let folding = backend
            .register_folding(FoldingStateDescriptor::new(
                "folding",
                U32Serializer,
                U64Serializer,
                FOLD_INITIAL,
                fold,
            ))
            .expect("register");
        let map = backend
            .register_map(MapStateDescriptor::new(
                "map",
                U32Serializer,
                U8Serializer,
                U64Serializer,
            ))
            .expect("register");
        // T5 and T6 both on: checkpoints filter, and every TTL access visits two entries.
        let clock = Arc::new(ManualClock::new(0));
        let ttl_config = StateTtlConfig::new(std::time::Duration::from_millis(TTL_MILLIS as u64))
            .expect("valid")
            .cleanup_full_snapshot()
            .cleanup_incrementally(2, false)
            .expect("valid")
            .with_time_provider(clock.clone());
        let ttl = backend
            .register_ttl_value(
                ValueStateDescriptor::new("ttl", U32Serializer, U64Serializer),
                ttl_config,
            )
            .expect("register");
        Subject {
            backend,
            ttl,
            clock,
            value,
            list,
            reducing,
            aggregating,
            folding,
            map,
        }
    }

    /// Applies a state operation (not the checkpoint ones) and returns its outcome.
    pub fn apply(&mut self, op: &BackendOp) -> Outcome {
        self.try_apply(op).unwrap_or_else(err)
    }

    fn try_apply(&mut self, op: &BackendOp) -> Result<Outcome, BackendError> {
        let b = &mut self.backend;
        Ok(match op {
            BackendOp::SetKey { key } => {
                b.set_current_key(u64::from(*key) % BACKEND_KEYS)?;
                Outcome::Unit
            }
            BackendOp::ValueUpdate { ns: n, value } => {
                self.value.set_current_namespace(ns(*n));
                self.value.update(b, *value)?;
                Outcome::Unit
            }
            BackendOp::TtlUpdate { ns: n, value } => {
                self.ttl.set_current_namespace(ns(*n));
                self.ttl.update(b, *value)?;
                Outcome::Unit
            }
            BackendOp::TtlGet { ns: n } => {
                self.ttl.set_current_namespace(ns(*n));
                Outcome::Value(self.ttl.value(b)?.copied())
            }
            BackendOp::AdvanceClock { millis } => {
                self.clock.advance(i64::from(*millis));
                Outcome::Unit
            }
            BackendOp::ValueGet { ns: n } => {
                self.value.set_current_namespace(ns(*n));
                Outcome::Value(self.value.value(b)?.copied())
            }
            BackendOp::ListAdd { ns: n, value } => {
                self.list.set_current_namespace(ns(*n));
                self.list.add(b, *value)?;
                Outcome::Unit
            }
            BackendOp::ListAddAll { ns: n, values } => {
                self.list.set_current_namespace(ns(*n));
                self.list.add_all(b, values.iter().copied())?;
                Outcome::Unit
            }
            BackendOp::ListUpdate { ns: n, values } => {
                self.list.set_current_namespace(ns(*n));
                self.list.update(b, values.clone())?;
                Outcome::Unit
            }
            BackendOp::ListGet { ns: n } => {
                self.list.set_current_namespace(ns(*n));
                Outcome::List(self.list.get(b)?.map(<[u64]>::to_vec))
            }
            BackendOp::ReduceAdd { ns: n, value } => {
                self.reducing.set_current_namespace(ns(*n));
                self.reducing.add(b, *value)?;
                Outcome::Unit
            }
            BackendOp::ReduceGet { ns: n } => {
                self.reducing.set_current_namespace(ns(*n));
                Outcome::Value(self.reducing.get(b)?.copied())
            }
            BackendOp::AggAdd { ns: n, value } => {
                self.aggregating.set_current_namespace(ns(*n));
                self.aggregating.add(b, *value)?;
                Outcome::Unit
            }
            BackendOp::AggGet { ns: n } => {
                self.aggregating.set_current_namespace(ns(*n));
                Outcome::Value(self.aggregating.get(b)?)
            }
            BackendOp::FoldAdd { ns: n, value } => {
                self.folding.set_current_namespace(ns(*n));
                self.folding.add(b, *value)?;
                Outcome::Unit
            }
            BackendOp::FoldGet { ns: n } => {
                self.folding.set_current_namespace(ns(*n));
                Outcome::Value(self.folding.get(b)?.copied())
            }
            BackendOp::MapPut { ns: n, user_key, value } => {
                self.map.set_current_namespace(ns(*n));
                self.map.put(b, user_key % MAP_KEYS, *value)?;
                Outcome::Unit
            }
            BackendOp::MapRemove { ns: n, user_key } => {
                self.map.set_current_namespace(ns(*n));
                Outcome::Bool(self.map.remove(b, &(user_key % MAP_KEYS))?)
            }
            BackendOp::MapGet { ns: n, user_key } => {
                self.map.set_current_namespace(ns(*n));
                Outcome::Value(self.map.get(b, &(user_key % MAP_KEYS))?.copied())
            }
            BackendOp::Clear { state, ns: n } => {
                let n = ns(*n);
                match state % 6 {
                    0 => {
                        self.value.set_current_namespace(n);
                        self.value.clear(b)?
                    }
                    1 => {
                        self.list.set_current_namespace(n);
                        self.list.clear(b)?
                    }
                    2 => {
                        self.reducing.set_current_namespace(n);
                        self.reducing.clear(b)?
                    }
                    3 => {
                        self.aggregating.set_current_namespace(n);
                        self.aggregating.clear(b)?
                    }
                    4 => {
                        self.folding.set_current_namespace(n);
                        self.folding.clear(b)?
                    }
                    _ => {
                        self.map.set_current_namespace(n);
                        self.map.clear(b)?
                    }
                }
                Outcome::Unit
            }
            BackendOp::Merge { state, target, sources } => {
                let sources: Vec<u32> = sources.iter().map(|n| ns(*n)).collect();
                match state % 3 {
                    0 => self.list.merge_namespaces(b, ns(*target), &sources)?,
                    1 => self.reducing.merge_namespaces(b, ns(*target), &sources)?,
                    _ => self.aggregating.merge_namespaces(b, ns(*target), &sources)?,
                }
                Outcome::Unit
            }
            _ => unreachable!("checkpoint operations are the runner's"),
        })
    }

    /// Reads every state of every key of the range and namespace through the handles (B4: reads only) and
    /// returns them as a model; checks that the tables hold nothing else. The current key is restored after.
    pub fn contents(&mut self) -> Result<ModelStates, String> {
        let saved = self.backend.current_key().copied();
        let ctx = self.backend.key_group_context();
        let mut out = ModelStates::default();
        for k in (0..BACKEND_KEYS).filter(|k| ctx.range().contains(ctx.key_group_of(k))) {
            self.backend.set_current_key(k).map_err(|e| e.to_string())?;
            for n in 0..BACKEND_NAMESPACES {
                let b = &self.backend;
                self.value.set_current_namespace(n);
                self.list.set_current_namespace(n);
                self.reducing.set_current_namespace(n);
                self.aggregating.set_current_namespace(n);
                self.folding.set_current_namespace(n);
                self.map.set_current_namespace(n);
                let e = |e: BackendError| e.to_string();
                if let Some(v) = self.value.serialized_value(b, &k, &n).map_err(e)? {
                    out.value
                        .insert((k, n), u64::from_be_bytes(v.try_into().map_err(|_| "value bytes")?));
                }
                if let Some(l) = self.list.get(b).map_err(e)? {
                    out.list.insert((k, n), l.to_vec());
                }
                if let Some(v) = self.reducing.get(b).map_err(e)? {
                    out.reducing.insert((k, n), *v);
                }
                if let Some(v) = self.aggregating.accumulator(b).map_err(e)? {
                    out.aggregating.insert((k, n), *v);
                }
                if let Some(v) = self.folding.get(b).map_err(e)? {
                    out.folding.insert((k, n), *v);
                }
                if let Some(m) = self.map.map(b).map_err(e)? {
                    out.map.insert((k, n), m.iter().map(|(a, b)| (*a, *b)).collect());
                }
                // The stored form (T1): a big-endian i64 stamp, then the value; expired or not.
                if let Some(v) = self.ttl.stored().serialized_value(b, &k, &n).map_err(e)? {
                    let v: [u8; 16] = v.try_into().map_err(|_| "ttl bytes")?;
                    let ts = i64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
                    out.ttl
                        .insert((k, n), (u64::from_be_bytes(v[8..].try_into().expect("8 bytes")), ts));
                }
            }
        }
        let lens = [
            ("value", out.value.len()),
            ("list", out.list.len()),
            ("reducing", out.reducing.len()),
            ("aggregating", out.aggregating.len()),
            ("folding", out.folding.len()),
            ("map", out.map.len()),
            ("ttl", out.ttl.len()),
        ];
        for (name, seen) in lens {
            let len = self.backend.state_len(name).ok_or("state missing")?;
            if len != seen {
                return Err(format!("state {name} holds {len} entries, {seen} reachable in range"));
            }
        }
        match saved {
            Some(k) => self.backend.set_current_key(k).map_err(|e| e.to_string())?,
            None => self.backend.clear_current_key(),
        }
        self.backend.check_invariants().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

struct InFlight {
    id: u64,
    handle: CheckpointHandle,
    captured: ModelStates,
    /// The clock at the synchronous part: the filter reads it later (T5), so nothing expired by then is written.
    started_at: i64,
}

/// What a run did (to show that the workload reaches what it should).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Operations applied.
    pub ops: usize,
    /// Checkpoints started.
    pub checkpoints_started: usize,
    /// Checkpoints finished and verified (restored into the same range and rescaled into two halves).
    pub checkpoints_verified: usize,
    /// Checkpoints cancelled before they committed.
    pub checkpoints_cancelled: usize,
    /// Restores of the live backend.
    pub restores: usize,
    /// Writes made while at least one checkpoint was in flight.
    pub writes_during_checkpoint: usize,
    /// Verified checkpoints whose TTL filter had expired entries to drop (T5).
    pub ttl_filtered_checkpoints: usize,
}

/// A difference between backend and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendDivergence {
    /// Index of the operation (`ops.len()` for the end-of-run checks).
    pub index: usize,
    /// The operation.
    pub op: Option<BackendOp>,
    /// What differed.
    pub what: String,
}

impl fmt::Display for BackendDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op #{} {:?}: {}", self.index, self.op, self.what)
    }
}

impl std::error::Error for BackendDivergence {}

/// Runs operations against the real backend and the model (see the module docs).
pub struct BackendRunner {
    subject: Subject,
    model: ModelBackend,
    storage: Arc<MemoryStorage>,
    slots: Vec<Option<InFlight>>,
    finished: Vec<(u64, ModelStates)>,
    next_id: u64,
    stats: BackendStats,
}

impl fmt::Debug for BackendRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendRunner").field("stats", &self.stats).finish()
    }
}

impl Default for BackendRunner {
    fn default() -> Self {
        Self::new()
    }
}

/// Restores `bytes` into a fresh subject over `range` and compares it with `expected` restricted to `range`.
pub fn verify_restored(bytes: &[u8], range: KeyGroupRange, expected: &ModelStates) -> Result<(), String> {
    verify_restored_within(bytes, range, expected, (i64::MIN, i64::MIN))
}

/// [`verify_restored`] of a checkpoint whose TTL filter read the clock between `window.0` (its synchronous part)
/// and `window.1` (its end): the TTL state holds exactly the expected entries not expired at `window.0`, except
/// that those expired by `window.1` may be missing (T5).
pub fn verify_restored_within(
    bytes: &[u8],
    range: KeyGroupRange,
    expected: &ModelStates,
    window: (i64, i64),
) -> Result<(), String> {
    let mut fresh = Subject::new(range);
    fresh
        .backend
        .restore(&[bytes])
        .map_err(|e| format!("restore into {range}: {e}"))?;
    let got = fresh.contents()?;
    let want = expected.restricted(range);
    if got.without_ttl() != want.without_ttl() {
        return Err(format!("restored into {range}:\n  got  {got:?}\n  want {want:?}"));
    }
    let expired_at = (window.0 != i64::MIN).then_some(window.0);
    if let Some(what) = got.ttl_divergence(&want, window.1, expired_at) {
        return Err(format!("restored into {range}: {what}"));
    }
    Ok(())
}

impl BackendRunner {
    /// A runner over an empty backend of [`live_range`].
    pub fn new() -> Self {
        BackendRunner {
            subject: Subject::new(live_range()),
            model: ModelBackend::new(live_range()),
            storage: Arc::new(MemoryStorage::with_max_size(1 << 30)),
            slots: (0..CHECKPOINT_SLOTS).map(|_| None).collect(),
            finished: Vec::new(),
            next_id: 1,
            stats: BackendStats::default(),
        }
    }

    /// Runs `ops` on a new runner; the first difference is an error.
    pub fn run(ops: &[BackendOp]) -> Result<BackendStats, BackendDivergence> {
        let mut r = Self::new();
        for (index, op) in ops.iter().enumerate() {
            r.step(op).map_err(|what| BackendDivergence {
                index,
                op: Some(op.clone()),
                what,
            })?;
        }
        r.finish().map_err(|what| BackendDivergence {
            index: ops.len(),
            op: None,
            what,
        })
    }

    /// Applies one operation to both sides and compares.
    pub fn step(&mut self, op: &BackendOp) -> Result<(), String> {
        self.stats.ops += 1;
        match op {
            BackendOp::CheckpointStart { slot } => {
                let slot = usize::from(*slot) % CHECKPOINT_SLOTS;
                if let Some(old) = self.slots[slot].take() {
                    self.cancel(old)?;
                }
                let id = self.next_id;
                self.next_id += 1;
                let pending = self.subject.backend.checkpoint(id).map_err(|e| e.to_string())?;
                let storage: Arc<dyn CheckpointStorage> = self.storage.clone();
                self.slots[slot] = Some(InFlight {
                    id,
                    handle: pending.spawn(storage),
                    captured: self.model.states.clone(),
                    started_at: self.model.now,
                });
                self.stats.checkpoints_started += 1;
            }
            BackendOp::CheckpointFinish { slot } => {
                if let Some(f) = self.slots[usize::from(*slot) % CHECKPOINT_SLOTS].take() {
                    f.handle.wait().map_err(|e| format!("checkpoint {}: {e}", f.id))?;
                    self.verify(f.id, f.captured, f.started_at)?;
                }
            }
            BackendOp::CheckpointCancel { slot } => {
                if let Some(f) = self.slots[usize::from(*slot) % CHECKPOINT_SLOTS].take() {
                    self.cancel(f)?;
                }
            }
            BackendOp::Restore { index } => {
                if !self.finished.is_empty() {
                    let (id, captured) = self.finished[usize::from(*index) % self.finished.len()].clone();
                    let bytes = self.storage.read(id).map_err(|e| e.to_string())?;
                    self.subject
                        .backend
                        .restore(&[&bytes])
                        .map_err(|e| format!("restore {id}: {e}"))?;
                    self.model.states = captured;
                    self.stats.restores += 1;
                }
            }
            op => {
                let expected = self.model.apply(op);
                let got = self.subject.apply(op);
                if expected != got {
                    return Err(format!("outcome: model {expected:?}, backend {got:?}"));
                }
                if self.slots.iter().any(Option::is_some) && expected == Outcome::Unit {
                    self.stats.writes_during_checkpoint += 1;
                }
            }
        }
        let live = self.subject.contents()?;
        if live.without_ttl() != self.model.states.without_ttl() {
            return Err(format!(
                "live state:\n  backend {live:?}\n  model   {:?}",
                self.model.states
            ));
        }
        if let Some(what) = live.ttl_divergence(&self.model.states, self.model.now, None) {
            return Err(format!("live TTL state: {what}"));
        }
        Ok(())
    }

    fn cancel(&mut self, f: InFlight) -> Result<(), String> {
        match f.handle.cancel() {
            Ok(_) => self.verify(f.id, f.captured, f.started_at),
            Err(cow_state_table::backend::CheckpointError::Cancelled { .. }) => {
                self.stats.checkpoints_cancelled += 1;
                if self.storage.list().map_err(|e| e.to_string())?.contains(&f.id) {
                    return Err(format!("cancelled checkpoint {} is in storage", f.id));
                }
                Ok(())
            }
            Err(e) => Err(format!("cancel {}: {e}", f.id)),
        }
    }

    fn verify(&mut self, id: u64, captured: ModelStates, started_at: i64) -> Result<(), String> {
        let bytes = self.storage.read(id).map_err(|e| format!("checkpoint {id}: {e}"))?;
        let window = (started_at, self.model.now);
        let ttl = cow_state_table::backend::ttl::expired;
        if captured.ttl.values().any(|&(_, ts)| ttl(ts, TTL_MILLIS, started_at)) {
            self.stats.ttl_filtered_checkpoints += 1;
        }
        verify_restored_within(&bytes, live_range(), &captured, window)?;
        // Rescale 1 → 2: each half restores its key groups only.
        verify_restored_within(&bytes, KeyGroupRange::of(0, 1).expect("valid"), &captured, window)?;
        verify_restored_within(&bytes, KeyGroupRange::of(2, 3).expect("valid"), &captured, window)?;
        self.finished.push((id, captured));
        self.stats.checkpoints_verified += 1;
        Ok(())
    }

    /// Finishes the checkpoints still in flight (verifying each) and checks that every snapshot was released.
    pub fn finish(mut self) -> Result<BackendStats, String> {
        for slot in 0..CHECKPOINT_SLOTS {
            if let Some(f) = self.slots[slot].take() {
                f.handle.wait().map_err(|e| format!("checkpoint {}: {e}", f.id))?;
                self.verify(f.id, f.captured, f.started_at)?;
            }
        }
        let live = self.subject.backend.live_snapshots();
        if live != 0 {
            return Err(format!("{live} snapshots still live after every checkpoint ended"));
        }
        Ok(self.stats)
    }
}

fn small_ns() -> impl Strategy<Value = u8> {
    0u8..BACKEND_NAMESPACES as u8
}

fn opt_value() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![6 => (0u64..1000).prop_map(Some), 1 => Just(None)]
}

/// A proptest strategy for one backend operation: mostly writes on a few keys, checkpoints started often and
/// finished later (so writes run while their asynchronous parts do), some cancels and restores.
pub fn backend_op() -> impl Strategy<Value = BackendOp> {
    prop_oneof![
        8 => (0u8..BACKEND_KEYS as u8).prop_map(|key| BackendOp::SetKey { key }),
        6 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::ValueUpdate { ns, value }),
        2 => small_ns().prop_map(|ns| BackendOp::ValueGet { ns }),
        5 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::ListAdd { ns, value }),
        2 => (small_ns(), prop::collection::vec(0u64..100, 0..3)).prop_map(|(ns, values)| BackendOp::ListAddAll { ns, values }),
        1 => (small_ns(), prop::collection::vec(0u64..100, 0..3)).prop_map(|(ns, values)| BackendOp::ListUpdate { ns, values }),
        1 => small_ns().prop_map(|ns| BackendOp::ListGet { ns }),
        5 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::ReduceAdd { ns, value }),
        1 => small_ns().prop_map(|ns| BackendOp::ReduceGet { ns }),
        4 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::AggAdd { ns, value }),
        1 => small_ns().prop_map(|ns| BackendOp::AggGet { ns }),
        3 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::FoldAdd { ns, value }),
        1 => small_ns().prop_map(|ns| BackendOp::FoldGet { ns }),
        4 => (small_ns(), 0u8..MAP_KEYS, 0u64..1000).prop_map(|(ns, user_key, value)| BackendOp::MapPut { ns, user_key, value }),
        3 => (small_ns(), 0u8..MAP_KEYS).prop_map(|(ns, user_key)| BackendOp::MapRemove { ns, user_key }),
        1 => (small_ns(), 0u8..MAP_KEYS).prop_map(|(ns, user_key)| BackendOp::MapGet { ns, user_key }),
        2 => (0u8..6, small_ns()).prop_map(|(state, ns)| BackendOp::Clear { state, ns }),
        4 => (0u8..3, small_ns(), prop::collection::vec(small_ns(), 0..4))
            .prop_map(|(state, target, sources)| BackendOp::Merge { state, target, sources }),
        4 => (0u8..CHECKPOINT_SLOTS as u8).prop_map(|slot| BackendOp::CheckpointStart { slot }),
        3 => (0u8..CHECKPOINT_SLOTS as u8).prop_map(|slot| BackendOp::CheckpointFinish { slot }),
        1 => (0u8..CHECKPOINT_SLOTS as u8).prop_map(|slot| BackendOp::CheckpointCancel { slot }),
        1 => any::<u8>().prop_map(|index| BackendOp::Restore { index }),
        4 => (small_ns(), opt_value()).prop_map(|(ns, value)| BackendOp::TtlUpdate { ns, value }),
        2 => small_ns().prop_map(|ns| BackendOp::TtlGet { ns }),
        4 => (0u8..16).prop_map(|millis| BackendOp::AdvanceClock { millis }),
    ]
}

/// A proptest strategy for up to `max_len` backend operations.
pub fn backend_ops(max_len: usize) -> impl Strategy<Value = Vec<BackendOp>> {
    prop::collection::vec(backend_op(), 0..=max_len)
}
