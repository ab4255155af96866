//! Asynchronous checkpoints (Flink: `HeapKeyedStateBackend.snapshot` with the async snapshot strategy of the
//! seed's `AsyncHeapKeyedStateBackend`, written into `AsyncMemoryStateBackend`'s memory streams): the synchronous
//! part takes one table snapshot per state (B7); the asynchronous part owns them and writes the stream (B8);
//! failures stay local (B9).

use super::error::{BackendError, CheckpointError};
use super::incremental::{completed, Incremental, RetainedBase};
use super::state::{GroupWriter, SnapshotPart, StateHasher, StateKey, StateType};
use super::storage::{CheckpointLocation, CheckpointStorage};
use super::stream::{write_delta_stream, write_stream, StateMeta, StreamFingerprint};
use super::KeyedStateBackend;
use crate::format::WriteError;
use crate::keygroup::KeyGroupContext;
use crate::serializer::TypeSerializer;
use crate::sync::{AtomicU64Ops, JoinOps, MutexOps, Primitives, StdSync};
use core::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// Restored states that are not registered yet are written as they were restored, after the registered ones
    /// (B23). The backend keeps track of the pending checkpoint, so that [`close`](Self::close) and drop can
    /// cancel it (B21, B22).
    ///
    /// Fails only if a table's snapshot versions are exhausted (I12); then no snapshot is kept. After
    /// [`close`](Self::close): [`BackendError::Closed`].
    pub fn checkpoint(&mut self, id: u64) -> Result<PendingCheckpoint<P>, BackendError> {
        self.check_open()?;
        let metas = self.state_metas();
        let mut parts = Vec::with_capacity(self.states.len() + self.restored.len());
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
        parts.extend(self.restored.iter().map(|r| r.part()));
        let flight = Arc::new(Flight::<P> {
            cancel: P::AtomicU64::new(0),
            parts: P::Mutex::new(Some(FlightParts {
                snapshots: parts,
                base: None,
            })),
        });
        // Forget the checkpoints that ended (their pending checkpoint was dropped), then track this one.
        self.flights.retain(|f| f.strong_count() > 0);
        self.flights.push(Arc::downgrade(&flight));
        Ok(PendingCheckpoint {
            id,
            context: self.context,
            key_serializer: self.key_serializer.identity(),
            metas,
            flight,
            incremental: None,
        })
    }
}

/// The snapshots of a pending checkpoint (`None` once released).
type Parts = Option<FlightParts>;

/// What a pending checkpoint holds of its backend's tables, released together (B8, B21, B22).
pub(crate) struct FlightParts {
    /// One snapshot per state.
    pub(crate) snapshots: Vec<Box<dyn SnapshotPart>>,
    /// The base a delta is written against (C6, C7): its snapshots are held while the checkpoint is pending.
    pub(crate) base: Option<Arc<RetainedBase>>,
}

/// The shared part of a pending checkpoint: its cancellation flag and its snapshots, which the backend reaches
/// through a `Weak` to cancel it (B21, B22). An asynchronous part holds `parts`' lock while it runs. Both are
/// the seam's primitives (B25), so the loom models interleave the lifecycle.
pub(crate) struct Flight<P: Primitives> {
    /// 1 once cancelled: by the backend, or by the handle of a spawned part.
    cancel: P::AtomicU64,
    parts: P::Mutex<Parts>,
}

impl<P: Primitives> Flight<P> {
    /// Runs `f` on the snapshots under the lock (entered even if poisoned: a serializer that panicked while the
    /// lock was held left the parts whole).
    fn with_parts<R>(&self, f: impl FnOnce(&mut Parts) -> R) -> R {
        self.parts.with_lock(f)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) != 0
    }

    /// Sets the flag only (a handle's `cancel` and drop, which then join the thread).
    fn cancel(&self) {
        self.cancel.store(1, Ordering::Relaxed);
    }

    /// B21: cancels, waits for a running asynchronous part to return (it holds the lock), releases the
    /// snapshots.
    pub(crate) fn cancel_and_join(&self) {
        self.cancel.store(1, Ordering::Relaxed);
        let parts = self.with_parts(Option::take);
        drop(parts);
    }

    /// B22: cancels; releases the snapshots only if no asynchronous part is running. Never blocks.
    pub(crate) fn cancel_and_detach(&self) {
        self.cancel.store(1, Ordering::Relaxed);
        let parts = self.parts.try_with_lock(Option::take).flatten();
        drop(parts);
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
    /// The stream's fingerprint: what a delta on top of it names (C7).
    pub fingerprint: StreamFingerprint,
    /// The checkpoint this one is a delta of (C7), `None` for a full checkpoint.
    pub base: Option<u64>,
    /// Where the storage keeps it (when written through a storage).
    pub location: Option<CheckpointLocation>,
}

/// A checkpoint whose synchronous part is done: it owns one snapshot per state (B8). `Send` (for the primitives
/// `P` of its backend: [`StdSync`] by default, B25); dropping it releases the snapshots.
///
/// Its backend can cancel it: [`close`](KeyedStateBackend::close) cancels it and releases its snapshots (waiting
/// for its asynchronous part if that is running, B21), dropping the backend cancels it (B22). Running a cancelled
/// pending checkpoint returns [`CheckpointError::Cancelled`] and leaves the storage untouched.
///
/// Flink: the `AsyncPartialSnapshot` / `SnapshotStrategy` result of `HeapKeyedStateBackend.snapshot`, before it
/// runs.
pub struct PendingCheckpoint<P: Primitives = StdSync> {
    id: u64,
    context: KeyGroupContext,
    key_serializer: String,
    metas: Vec<StateMeta>,
    flight: Arc<Flight<P>>,
    /// C6–C8: set by `checkpoint_with` in the incremental mode.
    pub(crate) incremental: Option<Incremental<P>>,
}

impl<P: Primitives> PendingCheckpoint<P> {
    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The meta entries (one per state, in id order).
    pub fn states(&self) -> &[StateMeta] {
        &self.metas
    }

    /// Entries held by the snapshots, over all states (0 once its backend's [`close`](KeyedStateBackend::close)
    /// released them).
    pub fn entries(&self) -> usize {
        self.flight.with_parts(|parts| {
            parts
                .as_ref()
                .map_or(0, |parts| parts.snapshots.iter().map(|p| p.len()).sum())
        })
    }

    /// Whether it was cancelled by its backend ([`close`](KeyedStateBackend::close) or drop, B21, B22).
    pub fn is_cancelled(&self) -> bool {
        self.flight.cancelled()
    }

    /// The checkpoint this one is a delta of (C7), `None` when it is written in full.
    pub fn base_id(&self) -> Option<u64> {
        self.incremental.as_ref()?.delta.map(|b| b.id)
    }

    /// Runs `f` on the snapshots (`None` once released), under the flight's lock.
    pub(crate) fn with_parts_mut<R>(&self, f: impl FnOnce(Option<&mut FlightParts>) -> R) -> R {
        self.flight.with_parts(|parts| f(parts.as_mut()))
    }

    /// The asynchronous part, writing the stream to `out` (Flink: the async part's loop over the key groups,
    /// `writeInt(keyGroupId)`, then per state `writeShort(kvStateId)` and `writeMappingsInKeyGroup`).
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<CheckpointSummary, CheckpointError> {
        self.write_cancellable(out, &AtomicBool::new(false))
    }

    /// [`write_to`](Self::write_to), checking `cancel` — and the backend's own flag (B21, B22) — before every
    /// state's key group (B8): once either is set the write stops with [`CheckpointError::Cancelled`].
    pub fn write_cancellable<W: Write + ?Sized>(
        &self,
        out: &mut W,
        cancel: &AtomicBool,
    ) -> Result<CheckpointSummary, CheckpointError> {
        self.flight
            .with_parts(|parts| self.write_locked(parts.as_ref(), out, cancel))
    }

    fn is_cancelled_by(&self, cancel: &AtomicBool) -> bool {
        cancel.load(Ordering::Relaxed) || self.flight.cancelled()
    }

    /// The write, with the flight's lock held by the caller (`parts` is `None` once released by `close`).
    fn write_locked<W: Write + ?Sized>(
        &self,
        parts: Option<&FlightParts>,
        out: &mut W,
        cancel: &AtomicBool,
    ) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        let Some(parts) = parts else {
            return Err(CheckpointError::Cancelled { id });
        };
        if self.is_cancelled_by(cancel) {
            return Err(CheckpointError::Cancelled { id });
        }
        let delta = parts.base.as_deref();
        let writers: Vec<Option<Box<dyn GroupWriter + '_>>> = match delta {
            // C7: each state's changes since its base; `checkpoint_with` checked that every state can be one.
            Some(base) => parts
                .snapshots
                .iter()
                .zip(&base.parts)
                .map(|(p, b)| p.delta_writer(&**b, self.context))
                .collect(),
            None => parts.snapshots.iter().map(|p| Some(p.writer(self.context))).collect(),
        };
        let mut body = |state: usize, key_group: u32, buf: &mut Vec<u8>| -> Result<(), WriteError> {
            if self.is_cancelled_by(cancel) {
                return Err(WriteError::Io(std::io::Error::other("checkpoint cancelled")));
            }
            match writers.get(state).and_then(Option::as_ref) {
                Some(writer) => writer.write(key_group, buf).map(|_| ()),
                None => Err(WriteError::Io(std::io::Error::other(
                    "no delta of this state from its base (C7)",
                ))),
            }
        };
        let result = match delta {
            Some(base) => write_delta_stream(
                id,
                base.fingerprint,
                self.context,
                &self.key_serializer,
                &self.metas,
                &mut body,
                out,
            ),
            None => write_stream(id, self.context, &self.key_serializer, &self.metas, &mut body, out),
        };
        if self.is_cancelled_by(cancel) {
            return Err(CheckpointError::Cancelled { id });
        }
        let stream = result.map_err(|source| CheckpointError::Stream { id, source })?;
        Ok(CheckpointSummary {
            id,
            entries: stream.entries,
            bytes: stream.bytes,
            key_groups: stream.key_groups,
            fingerprint: stream.fingerprint(id),
            base: delta.map(|b| b.fingerprint.id),
            location: None,
        })
    }

    /// The asynchronous part on the calling thread, into `storage` (B8, B9): begins checkpoint `id`, writes the
    /// stream, commits. On any error the sink is dropped uncommitted, so the storage keeps nothing of it. The
    /// snapshots are released when this returns.
    pub fn run(self, storage: &dyn CheckpointStorage) -> Result<CheckpointSummary, CheckpointError> {
        self.run_cancellable(storage, &AtomicBool::new(false))
    }

    /// [`run`](Self::run) with a cancellation flag, checked — with the backend's own flag (B21, B22) — before
    /// beginning, between key groups and before committing. A checkpoint cancelled before it began never touches
    /// the storage.
    pub fn run_cancellable(
        self,
        storage: &dyn CheckpointStorage,
        cancel: &AtomicBool,
    ) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        // Held from before `begin` to after `commit`: the backend's `close` joins this part by taking the lock.
        self.flight.with_parts(|parts| {
            if parts.is_none() || self.is_cancelled_by(cancel) {
                return Err(CheckpointError::Cancelled { id });
            }
            let mut sink = storage
                .begin(id)
                .map_err(|source| CheckpointError::Storage { id, source })?;
            let mut summary = self.write_locked(parts.as_ref(), &mut *sink, cancel)?;
            // Release the snapshots before the commit: the stream is complete. An incremental checkpoint keeps
            // them until its commit: they become the base if it completes (C8).
            let kept = parts.take().filter(|_| self.incremental.is_some()).map(|p| p.snapshots);
            sink.flush()
                .map_err(|e| CheckpointError::Stream { id, source: e.into() })?;
            if self.is_cancelled_by(cancel) {
                return Err(CheckpointError::Cancelled { id });
            }
            let committed = sink.commit();
            // C8: `Ok` and `NotDurable` both mean committed (B12); anything else leaves the base.
            let completed = completed(&committed);
            if let (true, Some(incremental), Some(parts)) = (completed, &self.incremental, kept) {
                incremental.slot.complete(
                    incremental.generation,
                    RetainedBase {
                        fingerprint: summary.fingerprint,
                        seq: incremental.seq,
                        chain_len: incremental.chain_len,
                        parts,
                        cow: incremental.cow.clone(),
                    },
                );
            }
            let location = committed.map_err(|source| CheckpointError::Storage { id, source })?;
            summary.location = Some(location);
            Ok(summary)
        })
    }

    /// Runs the asynchronous part on a new background thread (named `checkpoint-<id>`, started by `P`: std's by
    /// default) and returns its handle. If no thread can be started, nothing runs, the snapshots are released
    /// and the handle's [`wait`](CheckpointHandle::wait) reports [`CheckpointError::Spawn`] (B26); it never
    /// panics.
    pub fn spawn(self, storage: Arc<dyn CheckpointStorage>) -> CheckpointHandle<P>
    where
        Self: Send,
    {
        let id = self.id;
        let flight = self.flight.clone();
        // On an error the closure, and the pending checkpoint in it, is dropped; the snapshots live in the flight,
        // which the handle shares, so they are released here (B26). The handle cancels through the flight's flag,
        // the seam's atomic (B25).
        let (thread, spawn_error) = match P::spawn(format!("checkpoint-{id}"), move || self.run(&*storage)) {
            Ok(thread) => (Some(thread), None),
            Err(e) => {
                drop(flight.with_parts(Option::take));
                (None, Some(e))
            }
        };
        CheckpointHandle {
            id,
            flight,
            thread,
            spawn_error,
        }
    }
}

impl<P: Primitives> fmt::Debug for PendingCheckpoint<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingCheckpoint")
            .field("id", &self.id)
            .field("context", &self.context)
            .field("states", &self.metas)
            .field("incremental", &self.incremental)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A checkpoint whose asynchronous part runs on a background thread (Flink: the `RunnableFuture` of the async
/// snapshot). [`wait`](Self::wait) for its outcome; [`cancel`](Self::cancel) or drop it to stop it — both join the
/// thread, so the snapshots are released when they return (B8). A failure is reported by `wait` (B9).
///
/// Its backend's [`close`](KeyedStateBackend::close) cancels it and waits for the thread's part to stop (B21);
/// dropping the backend cancels it without waiting (B22). [`wait`](Self::wait) then reports
/// [`CheckpointError::Cancelled`] (or the summary if it committed first).
///
/// Dropping the handle, like [`cancel`](Self::cancel), sets its flag and joins the thread (B26): it returns once
/// the part reaches its next check — after the key-group body or the storage call under way. A serializer or a
/// storage that never returns therefore blocks the drop for ever, as it blocks [`close`](KeyedStateBackend::close)
/// (B21). Where that must not happen, check [`is_finished`](Self::is_finished) first and keep an unfinished
/// handle (or `std::mem::forget` it, which detaches the thread, leaking the handle's few bytes: the part runs on
/// to its end, or until its backend's `close` or drop cancels it, and releases its own snapshots).
pub struct CheckpointHandle<P: Primitives = StdSync> {
    id: u64,
    /// Shared with the part: the handle cancels through its flag.
    flight: Arc<Flight<P>>,
    thread: Option<P::JoinHandle<Result<CheckpointSummary, CheckpointError>>>,
    /// Why no thread was started (B26), reported by `wait` / `cancel`.
    spawn_error: Option<std::io::Error>,
}

impl<P: Primitives> CheckpointHandle<P> {
    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether it was cancelled: through this handle, or by its backend ([`close`](KeyedStateBackend::close) or
    /// drop, B21, B22).
    pub fn is_cancelled(&self) -> bool {
        self.flight.cancelled()
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
        self.flight.cancel();
        self.join()
    }

    fn join(&mut self) -> Result<CheckpointSummary, CheckpointError> {
        let id = self.id;
        match (self.thread.take(), self.spawn_error.take()) {
            (Some(t), _) => t.join().unwrap_or(Err(CheckpointError::Panicked { id })),
            (None, Some(source)) => Err(CheckpointError::Spawn { id, source }),
            (None, None) => Err(CheckpointError::Cancelled { id }),
        }
    }
}

impl<P: Primitives> Drop for CheckpointHandle<P> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.flight.cancel();
            let _ = self.join();
        }
    }
}

impl<P: Primitives> fmt::Debug for CheckpointHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointHandle")
            .field("id", &self.id)
            .field("cancelled", &self.is_cancelled())
            .field("finished", &self.is_finished())
            .finish()
    }
}
