//! The default target: the keyed state backend ([`KeyedStateBackend`], Flink's `HeapKeyedStateBackend`) with
//! value states (even state indexes) and reducing states (odd ones, reduce = addition, namespaces merged with
//! `merge_namespaces`). Snapshots are the backend's checkpoints' synchronous parts ([`PendingCheckpoint`]);
//! readers verify one by writing its stream and decoding every state's key groups; the checkpointer writes it to
//! the backend's storage (memory or a directory), reads it back, restores it into fresh backends (every third
//! also into 2–4 instances' key-group ranges, whose checkpoints are then restored together into one instance
//! again: scale out, then in), checkpoints those again and verifies what they hold.

use super::checkpoint::{restore_targets, verify_restored, CheckpointStats, Storage, KEEP};
use super::model::{Capture, Cell};
use super::target::{KeyedTarget, OpResult};
use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, MemoryStorage};
use cow_state_table::backend::stream::StreamCheckpoint;
use cow_state_table::backend::{
    KeyedStateBackend, PendingCheckpoint, ReducingState, ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupContext;
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::DeterministicState;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub(super) type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;

enum Handle {
    Value(ValueState<u32, u64>),
    Reducing(ReducingState<u32, u64>),
}

/// The keyed state backend with `states` states.
pub struct BackendSet {
    backend: Backend,
    handles: Vec<Handle>,
}

impl std::fmt::Debug for BackendSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendSet")
            .field("states", &self.handles.len())
            .finish_non_exhaustive()
    }
}

const SERIALIZERS: Serializers<U64Serializer, U32Serializer, U64Serializer> = Serializers {
    key: U64Serializer,
    namespace: U32Serializer,
    state: U64Serializer,
};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A backend over `ctx` with the soak run's states registered.
fn backend(states: usize, ctx: KeyGroupContext) -> OpResult<(Backend, Vec<Handle>)> {
    let mut b = Backend::new(U64Serializer, ctx.max_parallelism(), ctx.range()).map_err(err)?;
    let mut handles = Vec::with_capacity(states);
    for i in 0..states {
        handles.push(if i % 2 == 0 {
            Handle::Value(
                b.register_value(ValueStateDescriptor::new(
                    format!("value-{i}"),
                    U32Serializer,
                    U64Serializer,
                ))
                .map_err(err)?,
            )
        } else {
            Handle::Reducing(
                b.register_reducing(ReducingStateDescriptor::new(
                    format!("sum-{i}"),
                    U32Serializer,
                    U64Serializer,
                    |a: u64, b: u64| a.wrapping_add(b),
                ))
                .map_err(err)?,
            )
        });
    }
    Ok((b, handles))
}

impl BackendSet {
    /// The backend (for the incremental soak's own checkpoints).
    pub(super) fn backend_mut(&mut self) -> &mut Backend {
        &mut self.backend
    }

    /// Sets the current key and the namespace of `state`'s handle.
    fn at(&mut self, state: usize, key: u64, ns: u32) -> OpResult<()> {
        self.backend.set_current_key(key).map_err(err)?;
        match &mut self.handles[state] {
            Handle::Value(h) => h.set_current_namespace(ns),
            Handle::Reducing(h) => h.set_current_namespace(ns),
        }
        Ok(())
    }

    fn get(&self, state: usize) -> OpResult<Option<u64>> {
        match &self.handles[state] {
            Handle::Value(h) => h.value(&self.backend).map(|v| v.copied()),
            Handle::Reducing(h) => h.get(&self.backend).map(|v| v.copied()),
        }
        .map_err(err)
    }

    fn set(&mut self, state: usize, value: Option<u64>) -> OpResult<()> {
        let BackendSet { backend, handles } = self;
        match (&handles[state], value) {
            (Handle::Value(h), Some(v)) => h.update(backend, v),
            (Handle::Value(h), None) => h.clear(backend),
            (Handle::Reducing(h), Some(v)) => h.clear(backend).and_then(|()| h.add(backend, v)),
            (Handle::Reducing(h), None) => h.clear(backend),
        }
        .map_err(err)
    }
}

/// Per state and key group, the cells of the entries of `stream` (a whole checkpoint stream).
fn cells_of_stream(bytes: &[u8], ctx: KeyGroupContext) -> OpResult<(Vec<Vec<Cell>>, u64)> {
    let stream = StreamCheckpoint::parse(bytes).map_err(err)?;
    let mut all = Vec::with_capacity(stream.states().len());
    let mut entries = 0u64;
    let mut out = Vec::new();
    for state in 0..stream.states().len() {
        out.clear();
        for kg in stream.key_groups() {
            stream.decode_into(state, kg, &SERIALIZERS, &mut out).map_err(err)?;
        }
        entries += out.len() as u64;
        all.push(super::model::cells_of(ctx, out.iter().map(|(k, n, s)| (k, n, s))));
    }
    Ok((all, entries))
}

fn lock(m: &Mutex<PendingCheckpoint>) -> MutexGuard<'_, PendingCheckpoint> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The checkpointer's storage.
pub enum Store {
    /// In memory (no size cap; old checkpoints removed).
    Memory(Arc<MemoryStorage>),
    /// A directory keeping the last few checkpoints.
    Dir(Arc<DirectoryStorage>),
}

impl Store {
    fn storage(&self) -> &dyn CheckpointStorage {
        match self {
            Store::Memory(m) => &**m,
            Store::Dir(d) => &**d,
        }
    }
}

impl KeyedTarget for BackendSet {
    /// `PendingCheckpoint` is `Send` but not `Sync`: the reader and the checkpointer take turns.
    type Snap = Mutex<PendingCheckpoint>;
    type Store = Store;
    const NAME: &'static str = "keyed state backend (value and reducing states)";

    fn new(states: usize, ctx: KeyGroupContext) -> OpResult<Self> {
        let (backend, handles) = backend(states, ctx)?;
        Ok(BackendSet { backend, handles })
    }
    fn put(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()> {
        self.at(state, key, ns)?;
        self.set(state, Some(value))
    }
    fn update(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(u64) -> u64) -> OpResult<Option<u64>> {
        self.at(state, key, ns)?;
        let old = self.get(state)?;
        if let Some(o) = old {
            self.set(state, Some(f(o)))?;
        }
        Ok(old)
    }
    fn add(&mut self, state: usize, key: u64, ns: u32, delta: u64) -> OpResult<Option<u64>> {
        self.at(state, key, ns)?;
        let old = self.get(state)?;
        let BackendSet { backend, handles } = self;
        match &handles[state] {
            Handle::Reducing(h) => h.add(backend, delta).map_err(err)?,
            Handle::Value(h) => h
                .update(backend, old.map_or(delta, |o| o.wrapping_add(delta)))
                .map_err(err)?,
        }
        Ok(old)
    }
    fn remove(&mut self, state: usize, key: u64, ns: u32) -> OpResult<Option<u64>> {
        self.at(state, key, ns)?;
        let old = self.get(state)?;
        self.set(state, None)?;
        Ok(old)
    }
    fn merge(&mut self, state: usize, key: u64, into: u32, sources: [u32; 2]) -> OpResult<Option<u64>> {
        self.at(state, key, into)?;
        if let Handle::Reducing(h) = &self.handles[state] {
            h.merge_namespaces(&mut self.backend, into, &sources).map_err(err)?;
        } else {
            for source in sources {
                if let Some(v) = self.remove(state, key, source)? {
                    self.add(state, key, into, v)?;
                }
            }
            self.at(state, key, into)?;
        }
        self.get(state)
    }
    fn inject(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()> {
        self.put(state, key, ns, value)
    }
    fn snapshot(&mut self, id: u64) -> OpResult<Mutex<PendingCheckpoint>> {
        self.backend.checkpoint(id).map(Mutex::new).map_err(err)
    }
    fn entries(&self) -> u64 {
        self.backend
            .state_names()
            .filter_map(|n| self.backend.state_len(n))
            .map(|n| n as u64)
            .sum()
    }
    fn copies(&self) -> Option<(u64, u64)> {
        None
    }

    fn read(snap: &Mutex<PendingCheckpoint>, ctx: KeyGroupContext) -> OpResult<(Vec<Vec<Cell>>, u64)> {
        let snap = lock(snap);
        let mut bytes = Vec::new();
        snap.write_to(&mut bytes).map_err(err)?;
        let (cells, entries) = cells_of_stream(&bytes, ctx)?;
        if entries != snap.entries() as u64 {
            return Err(format!(
                "the snapshots hold {} entries but their stream {entries}",
                snap.entries()
            ));
        }
        Ok((cells, entries))
    }

    fn open_store(storage: &Storage) -> OpResult<Store> {
        Ok(match storage {
            Storage::Memory => Store::Memory(Arc::new(MemoryStorage::with_max_size(u64::MAX))),
            Storage::Dir(dir) => Store::Dir(Arc::new(
                DirectoryStorage::open(dir, KEEP as usize).map_err(|e| format!("{}: {e}", dir.display()))?,
            )),
        })
    }

    fn checkpoint(
        snap: &Mutex<PendingCheckpoint>,
        id: u64,
        op: u64,
        capture: &Capture,
        ctx: KeyGroupContext,
        store: &mut Store,
        rescale: Option<u32>,
    ) -> OpResult<CheckpointStats> {
        let snap = lock(snap);
        let mut stats = CheckpointStats::default();
        let started = Instant::now();
        let storage = store.storage();
        let mut sink = storage.begin(id).map_err(|e| format!("checkpoint {id}: {e}"))?;
        let summary = snap.write_to(&mut sink).map_err(|e| format!("checkpoint {id}: {e}"))?;
        sink.commit().map_err(|e| format!("checkpoint {id}: commit: {e}"))?;
        stats.bytes = summary.bytes;
        stats.write = started.elapsed();
        let bytes = storage
            .read(id)
            .map_err(|e| format!("checkpoint {id}: read back: {e}"))?;
        if let Store::Memory(m) = store {
            if id >= KEEP {
                m.remove(id - KEEP);
            }
        }
        let started = Instant::now();
        stats.rescaled = rescale.is_some();
        stats.restored_bytes = restore_and_verify(&[&bytes], snap.states().len(), id, op, capture, ctx, rescale)?;
        stats.restore = started.elapsed();
        Ok(stats)
    }
}

/// Restores the chain `chain` (a full checkpoint, then its deltas in order; one checkpoint when full) of `states`
/// states into a fresh backend over `ctx` and, when `rescale` is `Some(parallelism)`, into each of that many
/// instances' key-group ranges, whose own checkpoints are then restored together into one instance again (scale
/// out, then in); verifies every restore against `capture`. Returns the bytes decoded.
pub(super) fn restore_and_verify(
    chain: &[&[u8]],
    states: usize,
    id: u64,
    op: u64,
    capture: &Capture,
    ctx: KeyGroupContext,
    rescale: Option<u32>,
) -> OpResult<u64> {
    let chain_bytes: u64 = chain.iter().map(|c| c.len() as u64).sum();
    let mut restored_bytes = 0;
    // The streams of the rescaled instances, for scaling back in.
    let mut parts = Vec::new();
    for (i, target) in restore_targets(ctx, rescale)?.into_iter().enumerate() {
        let (mut restored, _) = backend(states, target)?;
        restored.restore(chain).map_err(|e| {
            format!(
                "checkpoint {id} (taken after op {op}, a chain of {}): restore into {}: {e}",
                chain.len(),
                target.range()
            )
        })?;
        restored_bytes += chain_bytes;
        // Read back what the restored backend holds: checkpoint it and decode that stream.
        let mut again = Vec::new();
        restored
            .checkpoint(id)
            .map_err(err)?
            .write_to(&mut again)
            .map_err(err)?;
        let (got, _) = cells_of_stream(&again, ctx)?;
        verify_restored(id, op, target, capture, &got)?;
        if i > 0 {
            parts.push(again);
        }
    }
    if !parts.is_empty() {
        // Scale back in: one instance restored from the rescaled instances' checkpoints together.
        let (mut merged, _) = backend(states, ctx)?;
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        merged.restore(&slices).map_err(|e| {
            format!(
                "checkpoint {id} (taken after op {op}): restore from {} rescaled parts: {e}",
                parts.len()
            )
        })?;
        restored_bytes += parts.iter().map(|p| p.len() as u64).sum::<u64>();
        let mut again = Vec::new();
        merged.checkpoint(id).map_err(err)?.write_to(&mut again).map_err(err)?;
        let (got, _) = cells_of_stream(&again, ctx)?;
        verify_restored(id, op, ctx, capture, &got)?;
    }
    Ok(restored_bytes)
}
