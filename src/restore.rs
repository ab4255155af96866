//! Restoring tables from checkpoints, for any key-group range: rescaling.
//!
//! Flink: `HeapRestoreOperation` / `HeapKeyedStateBackend.restore` — every state handle whose key-group range
//! intersects the backend's is read, and only the key groups in the intersection are inserted. Restoring the
//! checkpoints of `p` instances into the ranges of `q` instances rescales from `p` to `q`.

use crate::format::{Checkpoint, DecodedEntries, FormatError};
use crate::keygroup::{JavaHashCode, KeyGroupContext};
use crate::serializer::{KeySerializer, NamespaceSerializer, Serializers, TypeSerializer};
use crate::table::StateTable;
use core::hash::{BuildHasher, Hash};
use std::collections::HashMap;

/// Why a restore failed. The target table is unchanged (Flink: the exceptions of `HeapRestoreOperation`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Checkpoint number `index` (position in the slice given) could not be read.
    #[error("checkpoint {index}: {source}")]
    Checkpoint {
        /// Position of the checkpoint in the slice given.
        index: usize,
        /// What was wrong with it.
        source: FormatError,
    },
    /// A checkpoint written with another maximum parallelism (Flink refuses to change it on restore).
    #[error("checkpoint {index} has max parallelism {found}, the target has {expected}")]
    MaxParallelismMismatch {
        /// Position of the checkpoint.
        index: usize,
        /// The target's maximum parallelism.
        expected: u32,
        /// The checkpoint's.
        found: u32,
    },
    /// Two checkpoints both hold a key group that is being restored.
    #[error("key group {key_group} is in both checkpoint {first} and checkpoint {second}")]
    OverlappingKeyGroup {
        /// The key group.
        key_group: u32,
        /// The first checkpoint holding it.
        first: usize,
        /// The second.
        second: usize,
    },
}

/// What a restore inserted (Flink reports nothing; here for checks and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RestoreSummary {
    /// Key groups of the target range found in some checkpoint and restored.
    pub key_groups: u32,
    /// Entries inserted.
    pub entries: u64,
}

/// Restores the key groups of `target` from `checkpoints` into `table`.
///
/// Flink: `HeapRestoreOperation.restore` with `readStateHandleStateData` per key group of the backend's range.
///
/// Every checkpoint must have `target`'s maximum parallelism and the serializers' identities; a key group of the
/// target range may be in at most one checkpoint; key groups outside the target range are skipped without being
/// decoded. All the selected key groups are checked and decoded first, and only then inserted with
/// [`StateTable::put`], so a failed restore leaves `table` unchanged. Entries with the same `(key, namespace)`
/// as one already in `table` replace it.
///
/// The insertion runs user code (`Hash`, `Eq` of `K` and `N`). If that panics, `table` stays valid but keeps the
/// entries inserted before the panic: they go into the caller's table, which cannot be rebuilt aside (its hasher
/// is not `Clone`). [`restore`] builds a new table and has no such case; the keyed state backend's restore builds
/// every table before installing any (docs/DESIGN.md B10).
///
/// # Errors
/// [`RestoreError::Checkpoint`] (with the [`FormatError`] of the checkpoint that failed as source),
/// [`RestoreError::MaxParallelismMismatch`], or [`RestoreError::OverlappingKeyGroup`]; `table` is then unchanged.
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::format::{write_checkpoint, WriteOptions};
/// use cow_state_table::restore::restore_into;
/// use cow_state_table::keygroup::KeyGroupContext;
/// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
/// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
/// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
/// table.put("hello".to_string(), VoidNamespace, 7);
/// let ctx = KeyGroupContext::all(4)?;
/// let mut bytes = Vec::new();
/// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
/// let mut target: StateTable<String, VoidNamespace, u32> = StateTable::new();
/// assert_eq!(restore_into(&mut target, ctx, &[&bytes], &sers)?.entries, 1);
/// assert_eq!(target.get("hello", &VoidNamespace), Some(&7));
/// assert!(restore_into(&mut target, ctx, &[&bytes[..8]], &sers).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn restore_into<K, N, S, H, KS, NS, SS>(
    table: &mut StateTable<K, N, S, H>,
    target: KeyGroupContext,
    checkpoints: &[&[u8]],
    serializers: &Serializers<KS, NS, SS>,
) -> Result<RestoreSummary, RestoreError>
where
    K: JavaHashCode + Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let decoded = decode(target, checkpoints, serializers)?;
    let summary = RestoreSummary {
        key_groups: decoded.key_groups,
        entries: decoded.entries.len() as u64,
    };
    for (key, namespace, state) in decoded.entries {
        table.put(key, namespace, state);
    }
    Ok(summary)
}

/// Builds a new table (default hasher) holding the key groups of `target` from `checkpoints`; see
/// [`restore_into`] (Flink: a heap keyed-state backend built by `HeapRestoreOperation`).
///
/// # Errors
/// As [`restore_into`].
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::format::{write_checkpoint, WriteOptions};
/// use cow_state_table::restore::restore;
/// use cow_state_table::keygroup::KeyGroupContext;
/// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
/// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
/// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
/// table.put("hello".to_string(), VoidNamespace, 7);
/// let ctx = KeyGroupContext::all(4)?;
/// let mut bytes = Vec::new();
/// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
/// let restored: StateTable<String, VoidNamespace, u32> = restore(ctx, &[&bytes], &sers)?;
/// assert_eq!(restored.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn restore<K, N, S, KS, NS, SS>(
    target: KeyGroupContext,
    checkpoints: &[&[u8]],
    serializers: &Serializers<KS, NS, SS>,
) -> Result<StateTable<K, N, S>, RestoreError>
where
    K: JavaHashCode + Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let decoded = decode(target, checkpoints, serializers)?;
    let mut table = StateTable::with_capacity(decoded.entries.len());
    for (key, namespace, state) in decoded.entries {
        table.put(key, namespace, state);
    }
    Ok(table)
}

struct Decoded<KS: TypeSerializer, NS: TypeSerializer, SS: TypeSerializer> {
    key_groups: u32,
    entries: DecodedEntries<KS, NS, SS>,
}

fn decode<KS, NS, SS>(
    target: KeyGroupContext,
    checkpoints: &[&[u8]],
    serializers: &Serializers<KS, NS, SS>,
) -> Result<Decoded<KS, NS, SS>, RestoreError>
where
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    let mut owner: HashMap<u32, usize> = HashMap::new();
    let mut entries = Vec::new();
    let range = target.range();
    // Planted mutant (scripts/mutants.sh): the range's last key group taken as exclusive, so it is not restored.
    #[cfg(cow_mutant = "restore-range-off-by-one")]
    let range = crate::keygroup::KeyGroupRange::with_len(range.start(), range.number_of_key_groups().saturating_sub(1))
        .expect("a shorter range");
    for (index, bytes) in checkpoints.iter().enumerate() {
        let at = |source| RestoreError::Checkpoint { index, source };
        let checkpoint = Checkpoint::parse(bytes).map_err(at)?;
        let found = checkpoint.context().max_parallelism();
        if found != target.max_parallelism() {
            return Err(RestoreError::MaxParallelismMismatch {
                index,
                expected: target.max_parallelism(),
                found,
            });
        }
        checkpoint.check_serializers(serializers).map_err(at)?;
        for key_group in checkpoint.key_groups().intersection(&range) {
            if let Some(&first) = owner.get(&key_group) {
                return Err(RestoreError::OverlappingKeyGroup {
                    key_group,
                    first,
                    second: index,
                });
            }
            owner.insert(key_group, index);
            checkpoint
                .read_key_group_into(key_group, serializers, &mut entries)
                .map_err(at)?;
        }
    }
    Ok(Decoded {
        key_groups: owner.len() as u32,
        entries,
    })
}
