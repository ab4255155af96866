//! Checkpoint storage settings, what a checkpoint cost, and the restore targets of a (possibly rescaled)
//! restore.

use super::model::{Capture, Cell};
use super::verify::compare;
use cow_state_table::backend::storage::{CheckpointLocation, CheckpointSink, CheckpointStorage, StorageError};
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupContext};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A storage that times what is written through it: from each checkpoint's `begin` to its `commit`, which is the
/// asynchronous part's writing of the stream (serializing and storing it), for the soaks whose checkpoints run on
/// the backend's own thread (`PendingCheckpoint::spawn`). Reads and listings pass through.
#[derive(Debug)]
pub struct TimedStorage {
    inner: Arc<dyn CheckpointStorage>,
    committed: Arc<Mutex<(u64, Duration)>>,
}

impl TimedStorage {
    /// Times the checkpoints written to `inner`.
    pub fn new(inner: Arc<dyn CheckpointStorage>) -> Self {
        TimedStorage {
            inner,
            committed: Arc::default(),
        }
    }

    /// The bytes of the checkpoints committed so far and the time their writing took, from `begin` to `commit`.
    pub fn committed(&self) -> (u64, Duration) {
        *self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CheckpointStorage for TimedStorage {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        let started = Instant::now();
        Ok(Box::new(TimedSink {
            inner: self.inner.begin(id)?,
            started,
            bytes: 0,
            committed: self.committed.clone(),
        }))
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read(id)
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

/// The sink of a [`TimedStorage`]: counts the bytes written and adds the time to the storage's total on commit.
struct TimedSink {
    inner: Box<dyn CheckpointSink>,
    started: Instant,
    bytes: u64,
    committed: Arc<Mutex<(u64, Duration)>>,
}

impl std::io::Write for TimedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl CheckpointSink for TimedSink {
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        let TimedSink {
            inner,
            started,
            bytes,
            committed,
        } = *self;
        let location = inner.commit()?;
        let mut c = committed.lock().unwrap_or_else(|p| p.into_inner());
        c.0 += bytes;
        c.1 += started.elapsed();
        Ok(location)
    }
}

/// A rate in MB/s (10^6 bytes) of `bytes` moved in `took`; 0 when nothing was.
pub fn mb_per_sec((bytes, took): (u64, Duration)) -> f64 {
    if bytes == 0 {
        return 0.0;
    }
    bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9)
}
