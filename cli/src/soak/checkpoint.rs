//! Checkpoint storage settings, what a checkpoint cost, and the restore targets of a (possibly rescaled)
//! restore.

use super::model::{Capture, Cell};
use super::verify::compare;
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupContext};
use std::path::PathBuf;
use std::time::Duration;

/// Checkpoints kept in storage (older ones are deleted).
pub const KEEP: u64 = 3;

/// Where checkpoints are stored.
#[derive(Debug, Clone)]
pub enum Storage {
    /// In memory.
    Memory,
    /// Files in a directory; the last few are kept.
    Dir(PathBuf),
}

/// What one checkpoint cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointStats {
    /// Bytes written over all states.
    pub bytes: u64,
    /// Time spent writing (serializing and storing) them.
    pub write: Duration,
    /// Time spent restoring them (all restores, rescaled ones included).
    pub restore: Duration,
    /// Bytes decoded by the restores.
    pub restored_bytes: u64,
    /// Whether it was also restored rescaled.
    pub rescaled: bool,
}

/// The contexts a checkpoint is restored into: the whole range, then, when rescaling to `parallelism`
/// instances, each instance's range (Flink `computeKeyGroupRangeForOperatorIndex`).
pub fn restore_targets(ctx: KeyGroupContext, rescale: Option<u32>) -> Result<Vec<KeyGroupContext>, String> {
    let mut targets = vec![ctx];
    if let Some(parallelism) = rescale {
        let mp = ctx.max_parallelism();
        for index in 0..parallelism.min(mp) {
            let range = compute_key_group_range_for_operator_index(mp, parallelism.min(mp), index)
                .map_err(|e| e.to_string())?;
            targets.push(KeyGroupContext::new(mp, range).map_err(|e| e.to_string())?);
        }
    }
    Ok(targets)
}

/// Verifies the cells read back from a restore into `target` against the capture of every state.
pub fn verify_restored(
    id: u64,
    op: u64,
    target: KeyGroupContext,
    capture: &Capture,
    got: &[Vec<Cell>],
) -> Result<(), String> {
    for (state, cells) in got.iter().enumerate() {
        let what = format!(
            "checkpoint {id} (taken after op {op}), state {state}, restored into key groups {}",
            target.range()
        );
        compare(&what, &capture[state], cells, target.range())?;
    }
    Ok(())
}
