//! The asynchronous checkpointer of a soak run: writes every state of a snapshot set as a checkpoint, stores it
//! (memory or a directory), reads it back, restores it — every third one rescaled to 2, 3 or 4 instances — and
//! verifies what was restored against the model captured when the snapshots were taken.

use super::model::{cells_of, Capture};
use super::target::StateSnapshot;
use super::verify::compare;
use cow_state_table::format::{write_checkpoint, WriteOptions};
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupContext};
use cow_state_table::restore::restore;
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::StateTable;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Checkpoints kept in the directory (older ones are deleted).
const KEEP: u64 = 3;

/// Where checkpoints are stored.
#[derive(Debug, Clone)]
pub enum Storage {
    /// In memory (the last checkpoint is kept until the next one is verified).
    Memory,
    /// Files `chk-NNNNNN-state-S.cow` in a directory; the last few are kept.
    Dir(PathBuf),
}

/// What one checkpoint cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointStats {
    /// Bytes written over all states.
    pub bytes: u64,
    /// Time spent writing (serializing) them.
    pub write: Duration,
    /// Time spent restoring them (all restores, rescaled ones included).
    pub restore: Duration,
    /// Bytes decoded by the restores.
    pub restored_bytes: u64,
    /// Whether it was also restored rescaled.
    pub rescaled: bool,
}

/// Writes, stores, restores and verifies checkpoint `id` of `snapshots` (one per state), taken when the model
/// was `capture`. The snapshots are dropped as soon as they are written (released once the readers are done
/// with them too).
pub fn checkpoint(
    id: u64,
    op: u64,
    snapshots: Arc<Vec<StateSnapshot>>,
    capture: &Capture,
    ctx: KeyGroupContext,
    storage: &Storage,
) -> Result<CheckpointStats, String> {
    let serializers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    let mut stats = CheckpointStats::default();
    let started = Instant::now();
    let mut written = Vec::with_capacity(snapshots.len());
    for (state, snapshot) in snapshots.iter().enumerate() {
        let mut bytes = Vec::new();
        write_checkpoint(snapshot, ctx, &serializers, WriteOptions::default(), &mut bytes)
            .map_err(|e| format!("checkpoint {id}, state {state}: write failed: {e}"))?;
        stats.bytes += bytes.len() as u64;
        written.push(bytes);
    }
    drop(snapshots);
    stats.write = started.elapsed();
    let stored: Vec<Vec<u8>> = match storage {
        Storage::Memory => written,
        Storage::Dir(dir) => {
            let mut back = Vec::with_capacity(written.len());
            for (state, bytes) in written.into_iter().enumerate() {
                let path = dir.join(format!("chk-{id:06}-state-{state}.cow"));
                std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                back.push(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
                if id >= KEEP {
                    let _ = std::fs::remove_file(dir.join(format!("chk-{:06}-state-{state}.cow", id - KEEP)));
                }
            }
            back
        }
    };
    let started = Instant::now();
    let mut targets = vec![ctx];
    if id % 3 == 2 {
        stats.rescaled = true;
        let parallelism = 2 + (id / 3 % 3) as u32;
        for index in 0..parallelism {
            let range = compute_key_group_range_for_operator_index(ctx.max_parallelism(), parallelism, index)
                .map_err(|e| e.to_string())?;
            targets.push(KeyGroupContext::new(ctx.max_parallelism(), range).map_err(|e| e.to_string())?);
        }
    }
    for target in targets {
        for (state, bytes) in stored.iter().enumerate() {
            let table: StateTable<u64, u32, u64> = restore(target, &[bytes], &serializers)
                .map_err(|e| format!("checkpoint {id} (taken after op {op}), state {state}: restore failed: {e}"))?;
            stats.restored_bytes += bytes.len() as u64;
            let got = cells_of(ctx, table.iter());
            let what = format!(
                "checkpoint {id} (taken after op {op}), state {state}, restored into key groups {}",
                target.range()
            );
            compare(&what, &capture[state], &got, target.range())?;
        }
    }
    stats.restore = started.elapsed();
    Ok(stats)
}
