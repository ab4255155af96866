//! Restore from one or several checkpoint streams into a backend's own key-group range (Flink:
//! `HeapRestoreOperation` / the seed's `AsyncHeapKeyedStateBackend.restorePartitionedState`), all or nothing
//! (B10). States of the checkpoints that are not registered are kept until they are registered (B23, B24).

use super::error::{BackendError, RestoreError, StateSignature};
use super::restored::{body_count, RestoredBody, RestoredState};
use super::state::{StateHasher, StateKey, StateType};
use super::storage::CheckpointStorage;
use super::stream::{StreamCheckpoint, StreamError, StreamFingerprint};
use super::{KeyedStateBackend, MAX_STATES};
use crate::format::FormatError;
use crate::keygroup::KeyGroupRange;
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a restore installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RestoreSummary {
    /// Checkpoints read.
    pub checkpoints: usize,
    /// Key groups of the backend's range found in some checkpoint.
    pub key_groups: u32,
    /// Entries installed into the registered states' tables.
    pub entries: u64,
    /// States of the checkpoints that are not registered: kept until they are registered (B23).
    pub unregistered_states: usize,
    /// Entries of those states.
    pub unregistered_entries: u64,
}

/// Where a checkpointed state goes: a registered state's index, or a restored state being built (B23).
#[derive(Clone, Copy)]
enum Target {
    Registered(usize),
    Unregistered(usize),
}

/// A restored state not registered, while the restore collects its bodies.
struct Collecting {
    name: String,
    signature: StateSignature,
    bodies: BTreeMap<u32, RestoredBody>,
    entries: u64,
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
    /// state's kind and serializers must match the registered state of that name; a key group may be held by
    /// one checkpoint only. Every selected body is decoded, and every new table built, before anything changes,
    /// so on any error — and if user code (`Hash`, `Eq` of a key or namespace) panics while the tables are
    /// built — the backend is exactly as before. The new tables are then installed by moves only, and the old
    /// ones dropped last. Registered states that no checkpoint mentions end up empty. Snapshots of the old
    /// tables held by checkpoints in flight stay valid (I13).
    ///
    /// A checkpointed state that is not registered is kept (B23; Flink keeps the restored meta information):
    /// its kind, serializer identities and checksum-verified bodies, replacing the restored states of any
    /// earlier restore. Registering it later with the same kind and serializers binds it with its data (B24);
    /// a checkpoint taken meanwhile writes it as restored.
    ///
    /// ```
    /// use cow_state_table::backend::{BackendError, KeyedStateBackend, ValueStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// let new = || -> KeyedStateBackend<u64, U64Serializer> {
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap()
    /// };
    /// let mut b = new();
    /// let v = b.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// b.set_current_key(1).unwrap();
    /// v.update(&mut b, 5).unwrap();
    /// let mut bytes = Vec::new();
    /// b.checkpoint(1).unwrap().write_to(&mut bytes).unwrap();
    ///
    /// // Restore before registering anything: "v" waits, with its entry.
    /// let mut r = new();
    /// let summary = r.restore(&[&bytes]).unwrap();
    /// assert_eq!((summary.unregistered_states, summary.unregistered_entries), (1, 1));
    /// assert_eq!(r.restored_unregistered().map(|(name, _)| name).collect::<Vec<_>>(), ["v"]);
    /// // Another value serializer: refused, "v" stays restored.
    /// let wrong = r.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U32Serializer));
    /// assert!(matches!(wrong, Err(BackendError::RestoredStateMismatch(_))));
    /// // The checkpointed serializers: bound with its data.
    /// let v = r.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// r.set_current_key(1).unwrap();
    /// assert_eq!(v.value(&r).unwrap(), Some(&5));
    /// assert_eq!(r.restored_unregistered().count(), 0);
    /// ```
    pub fn restore(&mut self, checkpoints: &[&[u8]]) -> Result<RestoreSummary, BackendError> {
        self.check_open()?;
        let target = self.context;
        let mut unregistered: Vec<Collecting> = Vec::new();
        let mut unregistered_names: HashMap<String, usize> = HashMap::new();
        let mut staged: Vec<Box<dyn Any + Send>> = self.states.iter().map(|s| s.codec.new_staged()).collect();
        let mut owner: HashMap<u32, usize> = HashMap::new();
        // The checkpoint before the current one in the list: a delta's base must be it (C8).
        let mut previous: Option<(StreamFingerprint, KeyGroupRange)> = None;
        for (index, bytes) in checkpoints.iter().enumerate() {
            let stream = |source| RestoreError::Stream { index, source };
            let checkpoint = StreamCheckpoint::parse(bytes).map_err(stream)?;
            let delta = checkpoint.is_delta();
            if let Some(base) = checkpoint.base() {
                match previous {
                    Some((found, _)) if found.id != base.id => {
                        return Err(RestoreError::DeltaBaseMissing {
                            index,
                            base: base.id,
                            found: Some(found.id),
                        }
                        .into())
                    }
                    None => {
                        return Err(RestoreError::DeltaBaseMissing {
                            index,
                            base: base.id,
                            found: None,
                        }
                        .into())
                    }
                    Some((found, range)) if found != base || range != checkpoint.key_groups() => {
                        return Err(RestoreError::DeltaLineage {
                            index,
                            expected: base,
                            found,
                        }
                        .into())
                    }
                    Some(_) => {}
                }
            }
            previous = Some((checkpoint.fingerprint(), checkpoint.key_groups()));
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
                let checkpointed = StateSignature {
                    kind: meta.kind,
                    namespace_serializer: meta.namespace_serializer.clone(),
                    state_serializer: meta.state_serializer.clone(),
                };
                let Some(&registered) = self.names.get(&meta.name) else {
                    // B23: kept until registered; every checkpoint naming it must agree on what it is.
                    if let Some(&at) = unregistered_names.get(&meta.name) {
                        let earlier = &unregistered[at].signature;
                        if *earlier != checkpointed {
                            return Err(RestoreError::RestoredStateConflict {
                                index,
                                name: meta.name.clone(),
                                earlier: earlier.clone(),
                                checkpointed,
                            }
                            .into());
                        }
                        mapping.push(Target::Unregistered(at));
                        continue;
                    }
                    if self.states.len() + unregistered.len() >= MAX_STATES {
                        return Err(BackendError::TooManyStates { limit: MAX_STATES });
                    }
                    unregistered_names.insert(meta.name.clone(), unregistered.len());
                    mapping.push(Target::Unregistered(unregistered.len()));
                    unregistered.push(Collecting {
                        name: meta.name.clone(),
                        signature: checkpointed,
                        bodies: BTreeMap::new(),
                        entries: 0,
                    });
                    continue;
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
                mapping.push(Target::Registered(registered));
            }
            for key_group in checkpoint.context().range().intersection(&target.range()) {
                if delta {
                    // C7: a delta's key groups are its base's (checked above), owned by its chain.
                    for (state_index, &to) in mapping.iter().enumerate() {
                        let body = checkpoint.body(state_index, key_group).map_err(stream)?;
                        let at = checkpoint.body_range(state_index, key_group).map_err(stream)?.start;
                        let Target::Registered(registered) = to else {
                            return Err(RestoreError::DeltaOfUnregisteredState {
                                index,
                                name: checkpoint.states()[state_index].name.clone(),
                            }
                            .into());
                        };
                        let slot = &self.states[registered];
                        slot.codec
                            .apply_delta(
                                body,
                                at,
                                key_group,
                                target,
                                &self.key_serializer,
                                &mut *staged[registered],
                            )
                            .map_err(|source| RestoreError::Decode {
                                index,
                                name: slot.name.clone(),
                                source,
                            })?;
                    }
                    continue;
                }
                if let Some(&first) = owner.get(&key_group) {
                    return Err(RestoreError::OverlappingKeyGroup {
                        key_group,
                        first,
                        second: index,
                    }
                    .into());
                }
                owner.insert(key_group, index);
                for (state_index, &to) in mapping.iter().enumerate() {
                    let body = checkpoint.body(state_index, key_group).map_err(stream)?;
                    let registered = match to {
                        Target::Registered(registered) => registered,
                        Target::Unregistered(at) => {
                            let count = body_count(body).ok_or_else(|| {
                                stream(StreamError::NotAV2Body {
                                    key_group,
                                    state: state_index,
                                    len: body.len(),
                                    reason: "no 4-byte count, or a negative one",
                                })
                            })?;
                            // B23: an empty body is not kept, so its bytes are checked now, as a registered
                            // state's decode checks them (a kept body is decoded at registration, B24).
                            if count == 0 && body.len() > 4 {
                                return Err(RestoreError::Decode {
                                    index,
                                    name: checkpoint.states()[state_index].name.clone(),
                                    source: FormatError::TrailingBytes {
                                        key_group,
                                        offset: 4,
                                        count: body.len() as u64 - 4,
                                    },
                                }
                                .into());
                            }
                            if count > 0 {
                                let collecting = &mut unregistered[at];
                                collecting.entries += u64::from(count);
                                collecting.bodies.insert(
                                    key_group,
                                    RestoredBody {
                                        checkpoint: index,
                                        count,
                                        bytes: body.into(),
                                    },
                                );
                            }
                            continue;
                        }
                    };
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
        let unregistered_entries = unregistered.iter().map(|c| c.entries).sum();
        let unregistered: Vec<RestoredState> = unregistered
            .into_iter()
            .map(|c| RestoredState {
                name: c.name,
                signature: c.signature,
                bodies: Arc::new(c.bodies),
                entries: c.entries,
            })
            .collect();
        let unregistered_states = unregistered.len();
        // Install by moves only (nothing below can fail or run user code), then drop the old tables and restored
        // states: a panicking `Drop` of an old state cannot leave the backend half restored.
        let mut old: Vec<Box<dyn Any + Send>> = Vec::with_capacity(built.len());
        for (slot, table) in self.states.iter_mut().zip(built) {
            old.push(slot.codec.install(&mut *slot.data, table));
        }
        let old_unregistered = core::mem::replace(&mut self.restored, unregistered);
        // C7: new tables, no base; the next incremental checkpoint is full.
        self.base.reset();
        drop(old);
        drop(old_unregistered);
        Ok(RestoreSummary {
            checkpoints: checkpoints.len(),
            key_groups: owner.len() as u32,
            entries,
            unregistered_states,
            unregistered_entries,
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
