//! The TTL differential runner: a real backend with TTL list, map, reducing and aggregating states against
//! [`TtlModel`].

use super::model::{agg_add, agg_merge, agg_result, reduce, TtlModel, TtlStates, AGG_START};
use super::op::{TtlMode, TtlOp, TtlOutcome, TTL_KEYS, TTL_MAP_KEYS, TTL_MILLIS, TTL_NAMESPACES, TTL_SLOTS};
use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::ttl::{
    ManualClock, StateTtlConfig, StateVisibility, TtlAggregatingState, TtlListState, TtlMapState, TtlReducingState,
};
use cow_state_table::backend::{
    AggregateFunction, AggregatingStateDescriptor, BackendError, KeyedStateBackend, ListStateDescriptor,
    MapStateDescriptor, PendingCheckpoint, ReducingStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer, U8Serializer};
use cow_state_table::DeterministicState;
use std::fmt;
use std::sync::Arc;

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;

const MAX_PARALLELISM: u32 = 8;

/// The aggregating state's function ([`agg_add`], [`agg_merge`], [`agg_result`] from [`AGG_START`]).
struct Agg;

impl AggregateFunction<u64, u64, u64> for Agg {
    fn create_accumulator(&self) -> u64 {
        AGG_START
    }
    fn add(&self, value: u64, acc: u64) -> u64 {
        agg_add(value, acc)
    }
    fn get_result(&self, acc: &u64) -> u64 {
        agg_result(*acc)
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        agg_merge(a, b)
    }
}

/// The real backend with the four TTL states.
struct Subject {
    backend: Backend,
    list: TtlListState<u32, u64>,
    map: TtlMapState<u32, u8, u64>,
    reducing: TtlReducingState<u32, u64>,
    aggregating: TtlAggregatingState<u32, u64, u64, u64>,
    /// `ReturnExpiredIfNotCleanedUp`: a cleanup step between two reads may remove an expired entry.
    return_expired: bool,
}

fn ns(n: u8) -> u32 {
    u32::from(n) % TTL_NAMESPACES
}

impl Subject {
    fn new(mode: TtlMode, clock: &Arc<ManualClock>) -> Self {
        let range = KeyGroupRange::of(0, MAX_PARALLELISM - 1).expect("valid");
        let mut backend: Backend = KeyedStateBackend::new(U64Serializer, MAX_PARALLELISM, range).expect("valid");
        let mut config = StateTtlConfig::new(std::time::Duration::from_millis(TTL_MILLIS as u64))
            .expect("valid")
            .with_update_type(mode.update)
            .with_state_visibility(if mode.return_expired {
                StateVisibility::ReturnExpiredIfNotCleanedUp
            } else {
                StateVisibility::NeverReturnExpired
            })
            .with_time_provider(clock.clone());
        if mode.full_snapshot {
            config = config.cleanup_full_snapshot();
        }
        if let Some(count) = mode.incremental {
            config = config
                .cleanup_incrementally(usize::from(count), mode.every_record)
                .expect("valid");
        }
        let list = backend
            .register_ttl_list(
                ListStateDescriptor::new("list", U32Serializer, U64Serializer),
                config.clone(),
            )
            .expect("register");
        let map = backend
            .register_ttl_map(
                MapStateDescriptor::new("map", U32Serializer, U8Serializer, U64Serializer),
                config.clone(),
            )
            .expect("register");
        let reducing = backend
            .register_ttl_reducing(
                ReducingStateDescriptor::new("reducing", U32Serializer, U64Serializer, reduce),
                config.clone(),
            )
            .expect("register");
        let aggregating = backend
            .register_ttl_aggregating(
                AggregatingStateDescriptor::new("aggregating", U32Serializer, U64Serializer, Agg),
                config,
            )
            .expect("register");
        Subject {
            backend,
            list,
            map,
            reducing,
            aggregating,
            return_expired: mode.return_expired,
        }
    }

    fn apply(&mut self, op: &TtlOp, clock: &ManualClock) -> Result<TtlOutcome, String> {
        match self.try_apply(op, clock) {
            Ok(outcome) => Ok(outcome),
            Err(BackendError::NoCurrentKey) => Ok(TtlOutcome::Err("no-key")),
            Err(e) => Err(format!("unexpected backend error {e}")),
        }
    }

    fn try_apply(&mut self, op: &TtlOp, clock: &ManualClock) -> Result<TtlOutcome, BackendError> {
        let b = &mut self.backend;
        let unit = TtlOutcome::Unit;
        Ok(match op {
            TtlOp::SetKey { key } => {
                b.set_current_key(u64::from(*key) % TTL_KEYS)?;
                unit
            }
            TtlOp::Advance { millis } => {
                clock.advance(i64::from(*millis));
                unit
            }
            TtlOp::ListAdd { ns: n, value } => {
                self.list.set_current_namespace(ns(*n));
                self.list.add(b, *value)?;
                unit
            }
            TtlOp::ListUpdate { ns: n, values } => {
                self.list.set_current_namespace(ns(*n));
                self.list.update(b, values.clone())?;
                unit
            }
            TtlOp::ListGet { ns: n } => {
                self.list.set_current_namespace(ns(*n));
                TtlOutcome::List(self.list.get(b)?.map(|l| l.copied().collect()))
            }
            TtlOp::ListMerge { target, sources } => {
                let sources: Vec<u32> = sources.iter().map(|n| ns(*n)).collect();
                self.list.merge_namespaces(b, ns(*target), &sources)?;
                unit
            }
            TtlOp::MapPut { ns: n, user_key, value } => {
                self.map.set_current_namespace(ns(*n));
                self.map.put(b, user_key % TTL_MAP_KEYS, *value)?;
                unit
            }
            TtlOp::MapRemove { ns: n, user_key } => {
                self.map.set_current_namespace(ns(*n));
                self.map.remove(b, &(user_key % TTL_MAP_KEYS))?;
                unit
            }
            TtlOp::MapGet { ns: n, user_key } => {
                self.map.set_current_namespace(ns(*n));
                TtlOutcome::Value(self.map.get(b, &(user_key % TTL_MAP_KEYS))?.copied())
            }
            TtlOp::MapEntries { ns: n } => {
                self.map.set_current_namespace(ns(*n));
                let mut entries: Vec<(u8, u64)> = self.map.entries(b)?.map(|(k, v)| (*k, *v)).collect();
                entries.sort_unstable();
                // The other views must agree with `entries` (read again: a second read stamps the same; only an
                // expired entry, visible under `ReturnExpiredIfNotCleanedUp`, may be cleaned up in between).
                let mut keys: Vec<u8> = self.map.keys(b)?.copied().collect();
                keys.sort_unstable();
                let mut values: Vec<u64> = self.map.values(b)?.copied().collect();
                values.sort_unstable();
                let empty = self.map.is_empty(b)?;
                let mut want_values: Vec<u64> = entries.iter().map(|e| e.1).collect();
                want_values.sort_unstable();
                let want_keys: Vec<u8> = entries.iter().map(|e| e.0).collect();
                let agree = if self.return_expired {
                    keys.iter().all(|k| want_keys.contains(k)) && values.iter().all(|v| want_values.contains(v))
                } else {
                    keys == want_keys && values == want_values && empty == entries.is_empty()
                };
                if !agree {
                    panic!("map views disagree: entries {entries:?}, keys {keys:?}, values {values:?}, empty {empty}");
                }
                TtlOutcome::Entries(entries)
            }
            TtlOp::MapCursor { ns: n } => {
                self.map.set_current_namespace(ns(*n));
                let mut seen = Vec::new();
                let mut cursor = self.map.entries_mut(b)?;
                while let Some((&k, &v)) = cursor.next_entry() {
                    seen.push((k, v));
                    if v % 2 == 1 {
                        cursor.remove()?;
                    } else {
                        cursor.set_value(v + 1)?;
                    }
                }
                seen.sort_unstable();
                TtlOutcome::Entries(seen)
            }
            TtlOp::ReduceAdd { ns: n, value } => {
                self.reducing.set_current_namespace(ns(*n));
                self.reducing.add(b, *value)?;
                unit
            }
            TtlOp::ReduceGet { ns: n } => {
                self.reducing.set_current_namespace(ns(*n));
                TtlOutcome::Value(self.reducing.get(b)?.copied())
            }
            TtlOp::ReduceMerge { target, sources } => {
                let sources: Vec<u32> = sources.iter().map(|n| ns(*n)).collect();
                self.reducing.merge_namespaces(b, ns(*target), &sources)?;
                unit
            }
            TtlOp::AggAdd { ns: n, value } => {
                self.aggregating.set_current_namespace(ns(*n));
                self.aggregating.add(b, *value)?;
                unit
            }
            TtlOp::AggGet { ns: n } => {
                self.aggregating.set_current_namespace(ns(*n));
                TtlOutcome::Value(self.aggregating.get(b)?)
            }
            TtlOp::AggMerge { target, sources } => {
                let sources: Vec<u32> = sources.iter().map(|n| ns(*n)).collect();
                self.aggregating.merge_namespaces(b, ns(*target), &sources)?;
                unit
            }
            TtlOp::Clear { state, ns: n } => {
                match state % 4 {
                    0 => {
                        self.list.set_current_namespace(ns(*n));
                        self.list.clear(b)?;
                    }
                    1 => {
                        self.map.set_current_namespace(ns(*n));
                        self.map.clear(b)?;
                    }
                    2 => {
                        self.reducing.set_current_namespace(ns(*n));
                        self.reducing.clear(b)?;
                    }
                    _ => {
                        self.aggregating.set_current_namespace(ns(*n));
                        self.aggregating.clear(b)?;
                    }
                }
                unit
            }
            TtlOp::CleanupFull { state } => {
                match state % 4 {
                    0 => self.list.cleanup_full(b)?,
                    1 => self.map.cleanup_full(b)?,
                    2 => self.reducing.cleanup_full(b)?,
                    _ => self.aggregating.cleanup_full(b)?,
                };
                unit
            }
            TtlOp::RecordProcessed { state } => {
                match state % 4 {
                    0 => self.list.record_processed(b)?,
                    1 => self.map.record_processed(b)?,
                    2 => self.reducing.record_processed(b)?,
                    _ => self.aggregating.record_processed(b)?,
                }
                unit
            }
            _ => unreachable!("checkpoint operations are the runner's"),
        })
    }

    /// The stored state of the four tables (stamps included; nothing is read through a handle, so nothing is
    /// stamped or cleaned) and the tables' invariants.
    fn contents(&self) -> Result<TtlStates, String> {
        let b = &self.backend;
        let e = |e: BackendError| e.to_string();
        let mut out = TtlStates::default();
        for (k, n, l) in b.state_table(self.list.stored()).map_err(e)?.iter() {
            out.list
                .insert((*k, *n), l.iter().map(|e| (e.user_value, e.last_access)).collect());
        }
        for (k, n, m) in b.state_table(self.map.stored()).map_err(e)?.iter() {
            out.map.insert(
                (*k, *n),
                m.iter().map(|(uk, e)| (*uk, (e.user_value, e.last_access))).collect(),
            );
        }
        for (k, n, v) in b.state_table(self.reducing.stored()).map_err(e)?.iter() {
            out.reducing.insert((*k, *n), (v.user_value, v.last_access));
        }
        for (k, n, v) in b.state_table(self.aggregating.stored()).map_err(e)?.iter() {
            out.aggregating.insert((*k, *n), (v.user_value, v.last_access));
        }
        b.check_invariants().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlStats {
    /// Operations applied.
    pub ops: usize,
    /// Checkpoints verified.
    pub checkpoints_verified: usize,
    /// Verified checkpoints whose filter dropped something (T5).
    pub checkpoints_filtered: usize,
    /// Restores of the live backend.
    pub restores: usize,
    /// Operations after which the backend's cleanups had removed something the model still held (T6, T7).
    pub cleanups_seen: usize,
    /// Reads that returned something expired (`ReturnExpiredIfNotCleanedUp`, T4).
    pub expired_reads: usize,
}

/// A difference between backend and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtlDivergence {
    /// Index of the operation (`ops.len()` for the end-of-run checks).
    pub index: usize,
    /// The operation.
    pub op: Option<TtlOp>,
    /// What differed.
    pub what: String,
}

impl fmt::Display for TtlDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op #{} {:?}: {}", self.index, self.op, self.what)
    }
}

impl std::error::Error for TtlDivergence {}

/// Runs operations against a backend with TTL list, map, reducing and aggregating states and against [`TtlModel`] (see the
/// module docs).
pub struct TtlRunner {
    clock: Arc<ManualClock>,
    subject: Subject,
    model: TtlModel,
    storage: MemoryStorage,
    slots: Vec<Option<(u64, PendingCheckpoint, TtlStates)>>,
    finished: Vec<(u64, TtlStates)>,
    next_id: u64,
    stats: TtlStats,
}

impl fmt::Debug for TtlRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlRunner")
            .field("mode", &self.model.mode)
            .field("stats", &self.stats)
            .finish()
    }
}

impl TtlRunner {
    /// A runner over an empty backend, the clock at 0.
    pub fn new(mode: TtlMode) -> Self {
        let clock = Arc::new(ManualClock::new(0));
        TtlRunner {
            subject: Subject::new(mode, &clock),
            clock,
            model: TtlModel::new(mode),
            storage: MemoryStorage::new(),
            slots: (0..TTL_SLOTS).map(|_| None).collect(),
            finished: Vec::new(),
            next_id: 1,
            stats: TtlStats::default(),
        }
    }

    /// Runs `ops` on a new runner; the first difference is an error.
    pub fn run(mode: TtlMode, ops: &[TtlOp]) -> Result<TtlStats, TtlDivergence> {
        let mut r = Self::new(mode);
        for (index, op) in ops.iter().enumerate() {
            r.step(op).map_err(|what| TtlDivergence {
                index,
                op: Some(op.clone()),
                what,
            })?;
        }
        r.finish().map_err(|what| TtlDivergence {
            index: ops.len(),
            op: None,
            what,
        })
    }

    /// Applies one operation to both sides and compares.
    pub fn step(&mut self, op: &TtlOp) -> Result<(), String> {
        self.stats.ops += 1;
        match op {
            TtlOp::CheckpointStart { slot } => {
                let id = self.next_id;
                self.next_id += 1;
                let pending = self.subject.backend.checkpoint(id).map_err(|e| e.to_string())?;
                // A checkpoint already in the slot is dropped: cancelled, nothing of it stored (B8).
                self.slots[usize::from(*slot) % TTL_SLOTS] = Some((id, pending, self.model.states.clone()));
            }
            TtlOp::CheckpointFinish { slot } => {
                if let Some((id, pending, captured)) = self.slots[usize::from(*slot) % TTL_SLOTS].take() {
                    self.finish_checkpoint(id, pending, captured)?;
                }
            }
            TtlOp::Restore { index } => {
                if !self.finished.is_empty() {
                    let (id, expected) = self.finished[usize::from(*index) % self.finished.len()].clone();
                    let bytes = self.storage.read(id).map_err(|e| e.to_string())?;
                    self.subject
                        .backend
                        .restore(&[&bytes])
                        .map_err(|e| format!("restore {id}: {e}"))?;
                    self.model.states = expected;
                    self.stats.restores += 1;
                }
            }
            op => {
                let before = self.model.states.clone();
                let got = self.subject.apply(op, &self.clock)?;
                let post = self.subject.contents()?;
                self.model.apply(op, &got, &post)?;
                if self.model.mode.return_expired && self.read_expired(op, &got, &before) {
                    self.stats.expired_reads += 1;
                }
            }
        }
        let live = self.subject.contents()?;
        self.model.states.check_cleaned(&live, self.model.now)?;
        if live != self.model.states {
            self.stats.cleanups_seen += 1;
            self.model.states = live;
        }
        Ok(())
    }

    /// Whether a read returned a value or element that the model held as expired.
    fn read_expired(&self, op: &TtlOp, got: &TtlOutcome, before: &TtlStates) -> bool {
        let now = self.model.now;
        let exp = |ts: i64| cow_state_table::backend::ttl::expired(ts, TTL_MILLIS, now);
        let Some(k) = self.model.current_key else {
            return false;
        };
        match (op, got) {
            (TtlOp::ListGet { ns: n }, TtlOutcome::List(Some(l))) => {
                let held = before
                    .list
                    .get(&(k, ns(*n)))
                    .map_or(0, |m| m.iter().filter(|e| exp(e.1)).count());
                held > 0 && l.len() > before.list[&(k, ns(*n))].iter().filter(|e| !exp(e.1)).count()
            }
            (TtlOp::ReduceGet { ns: n }, TtlOutcome::Value(Some(_))) => {
                before.reducing.get(&(k, ns(*n))).is_some_and(|e| exp(e.1))
            }
            (TtlOp::AggGet { ns: n }, TtlOutcome::Value(Some(_))) => {
                before.aggregating.get(&(k, ns(*n))).is_some_and(|e| exp(e.1))
            }
            _ => false,
        }
    }

    fn finish_checkpoint(&mut self, id: u64, pending: PendingCheckpoint, captured: TtlStates) -> Result<(), String> {
        pending
            .run(&self.storage)
            .map_err(|e| format!("checkpoint {id}: {e}"))?;
        // T5: the filter read the clock now; without it, the checkpoint holds what the synchronous part saw.
        let now = self.model.now;
        let expected = if self.model.mode.full_snapshot {
            captured.filtered(now)
        } else {
            captured.clone()
        };
        if expected != captured {
            self.stats.checkpoints_filtered += 1;
        }
        let bytes = self.storage.read(id).map_err(|e| e.to_string())?;
        let mut fresh = Subject::new(self.model.mode, &self.clock);
        fresh
            .backend
            .restore(&[&bytes])
            .map_err(|e| format!("restore {id}: {e}"))?;
        let got = fresh.contents()?;
        if got != expected {
            return Err(format!(
                "checkpoint {id} restored:\n  got  {got:?}\n  want {expected:?}"
            ));
        }
        self.finished.push((id, expected));
        self.stats.checkpoints_verified += 1;
        Ok(())
    }

    /// Finishes the checkpoints still in flight (verifying each) and checks that no snapshot is left.
    pub fn finish(mut self) -> Result<TtlStats, String> {
        for slot in 0..TTL_SLOTS {
            if let Some((id, pending, captured)) = self.slots[slot].take() {
                self.finish_checkpoint(id, pending, captured)?;
            }
        }
        let live = self.subject.backend.live_snapshots();
        if live != 0 {
            return Err(format!("{live} snapshots still live after every checkpoint ended"));
        }
        Ok(self.stats)
    }
}
