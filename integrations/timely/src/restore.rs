//! Restoring a worker's key groups from a complete checkpoint written by any number of workers (X5, X6).

use crate::error::ClusterError;
use crate::manifest::{CheckpointRoot, Manifest};
use cow_state_table::backend::{KeyedStateBackend, RestoreSummary, StateHasher, StateKey, StateType};
use cow_state_table::keygroup::compute_key_group_range_for_operator_index;
use cow_state_table::serializer::TypeSerializer;
use cow_state_table::sync::Primitives;

/// Restores into `backend` the key groups of its range from the checkpoint `manifest` describes: the parts of
/// the old workers whose ranges intersect the new one are read (their lengths checked against the manifest) and
/// handed together to the backend's multi-checkpoint restore, which keeps only the key groups of its range (X6).
///
/// Flink: `StateAssignmentOperation` choosing the `KeyGroupsStateHandle`s that intersect each new subtask's range,
/// then `HeapRestoreOperation` over them.
///
/// # Errors
/// [`ClusterError::MaxParallelismChanged`], [`ClusterError::BadPart`], or the backend's restore error (the
/// restore is all or nothing, B10).
pub fn restore_worker<K, KS, H, P>(
    root: &CheckpointRoot,
    manifest: &Manifest,
    backend: &mut KeyedStateBackend<K, KS, H, P>,
) -> Result<RestoreSummary, ClusterError>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    if manifest.max_parallelism != backend.max_parallelism() {
        return Err(ClusterError::MaxParallelismChanged {
            checkpoint: manifest.checkpoint,
            found: manifest.max_parallelism,
            expected: backend.max_parallelism(),
        });
    }
    let workers = u32::try_from(manifest.workers).unwrap_or(u32::MAX);
    let mine = backend.key_group_range();
    let mut bytes = Vec::new();
    for part in &manifest.parts {
        let old = compute_key_group_range_for_operator_index(manifest.max_parallelism, workers, part.worker as u32)?;
        if old.intersection(&mine).is_empty() {
            continue;
        }
        let path = root.path().join(&part.path);
        let data = std::fs::read(&path).map_err(|e| ClusterError::BadPart {
            checkpoint: manifest.checkpoint,
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if data.len() as u64 != part.len {
            return Err(ClusterError::BadPart {
                checkpoint: manifest.checkpoint,
                path,
                reason: format!("{} bytes, the manifest records {}", data.len(), part.len),
            });
        }
        bytes.push(data);
    }
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    Ok(backend.restore(&refs)?)
}
