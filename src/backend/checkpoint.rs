//! Asynchronous checkpoints (Flink: `HeapKeyedStateBackend.snapshot` with the async snapshot strategy of the
//! seed's `AsyncHeapKeyedStateBackend`, written into `AsyncMemoryStateBackend`'s memory streams): the synchronous
//! part takes one table snapshot per state (B7); the asynchronous part owns them and writes the stream (B8);
//! failures stay local (B9).

use super::error::{BackendError, CheckpointError};
use super::state::{GroupWriter, SnapshotPart, StateHasher, StateKey, StateType};
use super::storage::{CheckpointLocation, CheckpointStorage};
use super::stream::{write_stream, StateMeta};
use super::KeyedStateBackend;
use crate::format::WriteError;
use crate::keygroup::KeyGroupContext;
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// The synchronous part of checkpoint `id` (B7; Flink `snapshot(checkpointId, …)` up to the point where it
    /// hands the async part to the executor): one table snapshot per registered state and the meta section's
    /// entries — nothing is serialized, no entry is visited. Run the returned [`PendingCheckpoint`] on a background
    /// thread with [`spawn`](PendingCheckpoint::spawn) or on a thread of your choice with
    /// [`run`](PendingCheckpoint::run) / [`write_to`](PendingCheckpoint::write_to).
    ///
    /// Fails only if a table's snapshot versions are exhausted (I12); then no snapshot is kept.
    pub fn checkpoint(&mut self, id: u64) -> Result<PendingCheckpoint, BackendError> {
        let metas = self.state_metas();
        let mut parts = Vec::with_capacity(self.states.len());
        for slot in &mut self.states {
            let part = slot
                .codec
                .snapshot(&mut *slot.data, &self.key_serializer)
                .map_err(|source| BackendError::Snapshot {
                    name: slot.name.as_str().into(),
                    source,
                })?;
            parts.push(part);
        }
        Ok(PendingCheckpoint {
            id,
            context: self.context,
            key_serializer: self.key_serializer.identity(),
            metas,
            parts,
        })
    }
}

/// What a finished asynchronous part wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointSummary {
    /// The checkpoint id.
    pub id: u64,
    /// Entries written, over all states.
    pub entries: u64,
    /// Bytes of the stream.
    pub bytes: u64,
    /// Key groups written (the backend's range).
    pub key_groups: u32,
    /// Where the storage keeps it (when written through a storage).
    pub location: Option<CheckpointLocation>,
}

/// A checkpoint whose synchronous part is done: it owns one snapshot per state (B8). `Send`; dropping it releases
/// the snapshots.
///
/// Flink: the `AsyncPartialSnapshot` / `SnapshotStrategy` result of `HeapKeyedStateBackend.snapshot`, before it
/// runs.
pub struct PendingCheckpoint {
    id: u64,
    context: KeyGroupContext,
    key_serializer: String,
    metas: Vec<StateMeta>,
    parts: Vec<Box<dyn SnapshotPart>>,
}

impl PendingCheckpoint {
    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The meta entries (one per state, in id order).
    pub fn states(&self) -> &[StateMeta] {
        &self.metas
    }

    /// Entries held by the snapshots, over all states.
    pub fn entries(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// The asynchronous part, writing the stream to `out` (Flink: the async part's loop over the key groups,
    /// `writeInt(keyGroupId)`, then per state `writeShort(kvStateId)` and `writeMappingsInKeyGroup`).
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<CheckpointSummary, CheckpointError> {
        self.write_cancellable(out, &AtomicBool::new(false))
    }

    /// [`write_to`](Self::write_to), checking `cancel` before every state's key group (B8): once it is set the
    /// write stops with [`CheckpointError::Cancelled`].
    pub fn write_cancellable<W: Write + ?Sized>(
        &self,
        out: &mut W,
        cancel: &AtomicBool,
    ) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        let writers: Vec<Box<dyn GroupWriter + '_>> = self.parts.iter().map(|p| p.writer(self.context)).collect();
        let mut body = |state: usize, key_group: u32, buf: &mut Vec<u8>| -> Result<(), WriteError> {
            if cancel.load(Ordering::Relaxed) {
                return Err(WriteError::Io(std::io::Error::other("checkpoint cancelled")));
            }
            writers[state].write(key_group, buf).map(|_| ())
        };
        let result = write_stream(id, self.context, &self.key_serializer, &self.metas, &mut body, out);
        if cancel.load(Ordering::Relaxed) {
            return Err(CheckpointError::Cancelled { id });
        }
        let stream = result.map_err(|source| CheckpointError::Stream { id, source })?;
        Ok(CheckpointSummary {
            id,
            entries: stream.entries,
            bytes: stream.bytes,
            key_groups: stream.key_groups,
            location: None,
        })
    }

    /// The asynchronous part on the calling thread, into `storage` (B8, B9): begins checkpoint `id`, writes the
    /// stream, commits. On any error the sink is dropped uncommitted, so the storage keeps nothing of it. The
    /// snapshots are released when this returns.
    pub fn run(self, storage: &dyn CheckpointStorage) -> Result<CheckpointSummary, CheckpointError> {
        self.run_cancellable(storage, &AtomicBool::new(false))
    }

    /// [`run`](Self::run) with a cancellation flag, checked between key groups and before committing.
    pub fn run_cancellable(
        self,
        storage: &dyn CheckpointStorage,
        cancel: &AtomicBool,
    ) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        let mut sink = storage
            .begin(id)
            .map_err(|source| CheckpointError::Storage { id, source })?;
        let mut summary = self.write_cancellable(&mut *sink, cancel)?;
        // Release the snapshots before the commit: the stream is complete.
        drop(self);
        sink.flush()
            .map_err(|e| CheckpointError::Stream { id, source: e.into() })?;
        if cancel.load(Ordering::Relaxed) {
            return Err(CheckpointError::Cancelled { id });
        }
        let location = sink
            .commit()
            .map_err(|source| CheckpointError::Storage { id, source })?;
        summary.location = Some(location);
        Ok(summary)
    }

    /// Runs the asynchronous part on a new background thread (std) and returns its handle.
    pub fn spawn(self, storage: Arc<dyn CheckpointStorage>) -> CheckpointHandle {
        let id = self.id;
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let thread = std::thread::Builder::new()
            .name(format!("checkpoint-{id}"))
            .spawn(move || self.run_cancellable(&*storage, &flag))
            .expect("spawning a checkpoint thread");
        CheckpointHandle {
            id,
            cancel,
            thread: Some(thread),
        }
    }
}

impl fmt::Debug for PendingCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingCheckpoint")
            .field("id", &self.id)
            .field("context", &self.context)
            .field("states", &self.metas)
            .field("entries", &self.entries())
            .finish()
    }
}

/// A checkpoint whose asynchronous part runs on a background thread (Flink: the `RunnableFuture` of the async
/// snapshot). [`wait`](Self::wait) for its outcome; [`cancel`](Self::cancel) or drop it to stop it — both join the
/// thread, so the snapshots are released when they return (B8). A failure is reported by `wait` (B9).
pub struct CheckpointHandle {
    id: u64,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<CheckpointSummary, CheckpointError>>>,
}

impl CheckpointHandle {
    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the asynchronous part has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the asynchronous part and returns its outcome.
    pub fn wait(mut self) -> Result<CheckpointSummary, CheckpointError> {
        self.join()
    }

    /// Cancels the asynchronous part and waits for it to stop. Returns its outcome: usually
    /// [`CheckpointError::Cancelled`], or the summary if it had already committed.
    pub fn cancel(mut self) -> Result<CheckpointSummary, CheckpointError> {
        self.cancel.store(true, Ordering::Relaxed);
        self.join()
    }

    fn join(&mut self) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Err(CheckpointError::Panicked { id })),
            None => Err(CheckpointError::Cancelled { id }),
        }
    }
}

impl Drop for CheckpointHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel.store(true, Ordering::Relaxed);
            let _ = self.join();
        }
    }
}

impl fmt::Debug for CheckpointHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointHandle")
            .field("id", &self.id)
            .field("cancelled", &self.cancel.load(Ordering::Relaxed))
            .field("finished", &self.is_finished())
            .finish()
    }
}
