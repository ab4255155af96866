//! Restore from one or several checkpoint streams into a backend's own key-group range (Flink:
//! `HeapRestoreOperation` / the seed's `AsyncHeapKeyedStateBackend.restorePartitionedState`), all or nothing
//! (B10).

use super::error::{BackendError, RestoreError, StateSignature};
use super::state::{StateHasher, StateKey, StateType};
use super::storage::CheckpointStorage;
use super::stream::StreamCheckpoint;
use super::KeyedStateBackend;
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::any::Any;
use std::collections::HashMap;

/// What a restore installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RestoreSummary {
    /// Checkpoints read.
    pub checkpoints: usize,
    /// Key groups of the backend's range found in some checkpoint.
    pub key_groups: u32,
    /// Entries installed, over all states.
    pub entries: u64,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Replaces the keyed state of every registered state by what `checkpoints` hold for this backend's key-group
    /// range (B10). The checkpoints may come from instances with other ranges (rescaling: one or several
    /// checkpoints, each contributing the key groups it holds that this backend owns).
    ///
    /// Every checkpoint is parsed and checksum-verified; its maximum parallelism, key serializer and every
    /// state's kind and serializers must match the registered state of that name (a state not registered is an
    /// error); a key group may be held by one checkpoint only. Every selected body is decoded, and every new
    /// table built, before anything changes, so on any error — and if user code (`Hash`, `Eq` of a key or
    /// namespace) panics while the tables are built — the backend is exactly as before. The new tables are then
    /// installed by moves only, and the old ones dropped last. Registered states that no checkpoint mentions end
    /// up empty. Snapshots of the old tables held by checkpoints in flight stay valid (I13).
    pub fn restore(&mut self, checkpoints: &[&[u8]]) -> Result<RestoreSummary, BackendError> {
        let target = self.context;
        let mut staged: Vec<Box<dyn Any + Send>> = self.states.iter().map(|s| s.codec.new_staged()).collect();
        let mut owner: HashMap<u32, usize> = HashMap::new();
        for (index, bytes) in checkpoints.iter().enumerate() {
            let stream = |source| RestoreError::Stream { index, source };
            let checkpoint = StreamCheckpoint::parse(bytes).map_err(stream)?;
            let found = checkpoint.context().max_parallelism();
            if found != target.max_parallelism() {
                return Err(RestoreError::MaxParallelismMismatch {
                    index,
                    expected: target.max_parallelism(),
                    found,
                }
                .into());
            }
            let expected = self.key_serializer.identity();
            if checkpoint.key_serializer() != expected {
                return Err(RestoreError::KeySerializerMismatch {
                    index,
                    expected,
                    found: checkpoint.key_serializer().to_string(),
                }
                .into());
            }
            let mut mapping = Vec::with_capacity(checkpoint.states().len());
            for meta in checkpoint.states() {
                let Some(&registered) = self.names.get(&meta.name) else {
                    return Err(RestoreError::UnknownState {
                        index,
                        name: meta.name.clone(),
                    }
                    .into());
                };
                let checkpointed = StateSignature {
                    kind: meta.kind,
                    namespace_serializer: meta.namespace_serializer.clone(),
                    state_serializer: meta.state_serializer.clone(),
                };
                let signature = &self.states[registered].signature;
                if *signature != checkpointed {
                    return Err(RestoreError::StateMismatch {
                        index,
                        name: meta.name.clone(),
                        registered: signature.clone(),
                        checkpointed,
                    }
                    .into());
                }
                mapping.push(registered);
            }
            for key_group in checkpoint.context().range().intersection(&target.range()) {
                if let Some(&first) = owner.get(&key_group) {
                    return Err(RestoreError::OverlappingKeyGroup {
                        key_group,
                        first,
                        second: index,
                    }
                    .into());
                }
                owner.insert(key_group, index);
                for (state_index, &registered) in mapping.iter().enumerate() {
                    let body = checkpoint.body(state_index, key_group).map_err(stream)?;
                    let slot = &self.states[registered];
                    slot.codec
                        .decode(body, key_group, target, &self.key_serializer, &mut *staged[registered])
                        .map_err(|source| RestoreError::Decode {
                            index,
                            name: slot.name.clone(),
                            source,
                        })?;
                }
            }
        }
        // Everything decoded: build every new table first. Building runs user code (`Hash`, `Eq`) and allocates;
        // if it panics, the tables built so far are dropped and no state has changed.
        let built: Vec<Box<dyn Any + Send>> = self
            .states
            .iter()
            .zip(staged)
            .map(|(slot, staged)| slot.codec.build(staged))
            .collect();
        let entries = self
            .states
            .iter()
            .zip(&built)
            .map(|(slot, table)| slot.codec.built_len(&**table) as u64)
            .sum();
        // Install by moves only (nothing below can fail or run user code), then drop the old tables: a panicking
        // `Drop` of an old state cannot leave the backend half restored.
        let mut old: Vec<Box<dyn Any + Send>> = Vec::with_capacity(built.len());
        for (slot, table) in self.states.iter_mut().zip(built) {
            old.push(slot.codec.install(&mut *slot.data, table));
        }
        drop(old);
        Ok(RestoreSummary {
            checkpoints: checkpoints.len(),
            key_groups: owner.len() as u32,
            entries,
        })
    }

    /// [`restore`](Self::restore) from the checkpoints `ids` of `storage` (Flink: restoring from the state
    /// handles of a completed checkpoint).
    pub fn restore_from(
        &mut self,
        storage: &dyn CheckpointStorage,
        ids: &[u64],
    ) -> Result<RestoreSummary, BackendError> {
        let mut all = Vec::with_capacity(ids.len());
        for (index, &id) in ids.iter().enumerate() {
            all.push(
                storage
                    .read(id)
                    .map_err(|source| RestoreError::Storage { index, source })?,
            );
        }
        let slices: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
        self.restore(&slices)
    }
}
