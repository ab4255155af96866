//! The backend's typed errors.

use crate::backend::storage::StorageError;
use crate::backend::stream::{StateKind, StreamError};
use crate::format::FormatError;
use crate::keygroup::{KeyGroupError, KeyGroupRange};
use crate::serializer::SerializeError;
use crate::SnapshotError;

/// What a state was registered (or checkpointed) as: its kind and its serializers' identities.
///
/// Flink: the parts of `RegisteredKeyValueStateBackendMetaInfo` compared when a state is registered again or
/// restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSignature {
    /// The state's kind.
    pub kind: StateKind,
    /// Identity of the namespace serializer.
    pub namespace_serializer: String,
    /// Identity of the state serializer.
    pub state_serializer: String,
}

impl core::fmt::Display for StateSignature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} (namespace {}, state {})",
            self.kind, self.namespace_serializer, self.state_serializer
        )
    }
}

/// An error of the keyed state backend (Flink: the `IllegalStateException`s, `StateMigrationException`s and
/// `IOException`s of `HeapKeyedStateBackend` and its states). Every variant leaves the backend as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A state operation ran before any `set_current_key` (B1).
    #[error("no current key is set")]
    NoCurrentKey,
    /// The key's key group is not in the backend's range (B1).
    #[error("key group {key_group} of the key is outside this backend's key-group range {range}")]
    KeyOutOfRange {
        /// The key's key group.
        key_group: u32,
        /// The backend's range.
        range: KeyGroupRange,
    },
    /// A name was registered again with a different kind, serializers or types (B2).
    #[error(transparent)]
    StateMismatch(Box<StateMismatch>),
    /// A handle used with a backend that did not create it, or with the wrong state type (B3).
    #[error("the state handle does not belong to this backend")]
    ForeignHandle,
    /// A map cursor's `set_value`, `value_mut` or `remove` without a current entry: before the first
    /// `next_entry`, after a `remove` or at the end (Java's `IllegalStateException` of `Iterator.remove`, B19).
    #[error("the map cursor has no current entry")]
    NoCurrentEntry,
    /// More states than a checkpoint stream can number: at most [`MAX_STATES`](crate::backend::MAX_STATES) =
    /// 32,767, as the stream writes the count and the ids as non-negative Java `short`s (Flink's `short` ids).
    #[error("too many states: at most {limit}")]
    TooManyStates {
        /// The limit.
        limit: usize,
    },
    /// The key-group context could not be built.
    #[error(transparent)]
    KeyGroup(#[from] KeyGroupError),
    /// Taking a table snapshot failed (version counter exhausted, I12).
    #[error("state {name:?}: {source}")]
    Snapshot {
        /// The state.
        name: Box<str>,
        /// The table's error.
        source: SnapshotError,
    },
    /// Serializing a state for the serialized-value lookup failed.
    #[error(transparent)]
    Serialize(Box<SerializeError>),
    /// A restore failed; the backend is unchanged (B10). Also returned by a registration that binds a restored
    /// state whose kept bodies do not decode (B24); the state stays restored and unregistered.
    #[error(transparent)]
    Restore(Box<RestoreError>),
    /// A registration whose kind or serializers differ from those of the restored state of that name (B24). The
    /// state stays restored and unregistered, its data kept for a registration that matches.
    #[error(transparent)]
    RestoredStateMismatch(Box<RestoredStateMismatch>),
    /// The backend was closed ([`close`](crate::backend::KeyedStateBackend::close), B21): its states are gone
    /// and every operation fails.
    #[error("the keyed state backend is closed")]
    Closed,
}

impl From<SerializeError> for BackendError {
    fn from(e: SerializeError) -> Self {
        BackendError::Serialize(Box::new(e))
    }
}

impl From<RestoreError> for BackendError {
    fn from(e: RestoreError) -> Self {
        BackendError::Restore(Box::new(e))
    }
}

/// A state registered again under its name with another kind, serializers or types (B2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state {name:?} is registered as {registered}, requested as {requested}")]
pub struct StateMismatch {
    /// The state's name.
    pub name: String,
    /// What it is registered as.
    pub registered: StateSignature,
    /// What was asked for (for a type mismatch with equal identities, the same signature).
    pub requested: StateSignature,
}

/// A registration of a restored, not yet registered state with another kind or serializers (B24).
///
/// Flink: the `StateMigrationException` of an incompatible serializer when a restored state is first requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state {name:?} was restored as {restored}, requested as {requested}")]
pub struct RestoredStateMismatch {
    /// The state's name.
    pub name: String,
    /// What the checkpoint says it is.
    pub restored: StateSignature,
    /// What the registration asked for.
    pub requested: StateSignature,
}

/// Why a restore was refused (B10). The backend is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Checkpoint `index` could not be read from storage.
    #[error("checkpoint {index}: {source}")]
    Storage {
        /// Position in the list of checkpoints.
        index: usize,
        /// The storage error.
        source: StorageError,
    },
    /// Checkpoint `index` is not a valid stream (checksums, framing, meta section).
    #[error("checkpoint {index}: {source}")]
    Stream {
        /// Position in the list of checkpoints.
        index: usize,
        /// The stream error.
        source: StreamError,
    },
    /// Checkpoint `index` has another maximum parallelism.
    #[error("checkpoint {index} has max parallelism {found}, this backend {expected}")]
    MaxParallelismMismatch {
        /// Position in the list of checkpoints.
        index: usize,
        /// This backend's.
        expected: u32,
        /// The checkpoint's.
        found: u32,
    },
    /// Checkpoint `index` has another key serializer.
    #[error("checkpoint {index} has key serializer {found:?}, this backend {expected:?}")]
    KeySerializerMismatch {
        /// Position in the list of checkpoints.
        index: usize,
        /// This backend's.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// Checkpoint `index` holds a state under a registered name with another kind or serializers.
    #[error("checkpoint {index}: state {name:?} is registered as {registered}, checkpointed as {checkpointed}")]
    StateMismatch {
        /// Position in the list of checkpoints.
        index: usize,
        /// The state's name.
        name: String,
        /// What it is registered as.
        registered: StateSignature,
        /// What the checkpoint says.
        checkpointed: StateSignature,
    },
    /// Checkpoint `index` holds a state that is not registered with another kind or serializers than an earlier
    /// checkpoint of the same restore (B23).
    #[error(
        "checkpoint {index}: state {name:?} is checkpointed as {checkpointed}, in an earlier checkpoint as {earlier}"
    )]
    RestoredStateConflict {
        /// Position in the list of checkpoints.
        index: usize,
        /// The state's name.
        name: String,
        /// What the earlier checkpoint says.
        earlier: StateSignature,
        /// What checkpoint `index` says.
        checkpointed: StateSignature,
    },
    /// Two checkpoints hold the same key group.
    #[error("key group {key_group} is in checkpoints {first} and {second}")]
    OverlappingKeyGroup {
        /// The key group.
        key_group: u32,
        /// The first checkpoint holding it.
        first: usize,
        /// The second.
        second: usize,
    },
    /// A state's body in a key group did not decode.
    #[error("checkpoint {index}, state {name:?}: {source}")]
    Decode {
        /// Position in the list of checkpoints.
        index: usize,
        /// The state's name.
        name: String,
        /// The decoding error (names the key group and offset).
        source: FormatError,
    },
    /// Checkpoint `index` is a delta whose base is not the checkpoint right before it in the list (C8): a chain
    /// is restored as its full checkpoint followed by its deltas, in order.
    #[error("checkpoint {index} is a delta of checkpoint {base}, which does not precede it (found: {found:?})")]
    DeltaBaseMissing {
        /// Position in the list of checkpoints.
        index: usize,
        /// The base id the delta names.
        base: u64,
        /// The id of the checkpoint before it in the list, if any.
        found: Option<u64>,
    },
    /// Checkpoint `index` is a delta whose base has the right id but is another stream (another lineage: its
    /// length, trailer checksum or key-group range differ, C8).
    #[error("checkpoint {index} is a delta of {expected}, but the checkpoint before it is {found}")]
    DeltaLineage {
        /// Position in the list of checkpoints.
        index: usize,
        /// The base the delta names.
        expected: crate::backend::stream::StreamFingerprint,
        /// The checkpoint before it in the list.
        found: crate::backend::stream::StreamFingerprint,
    },
    /// Checkpoint `index` is a delta for a state that is not registered: deltas are applied to decoded tables,
    /// so the state must be registered before a chain holding a delta of it is restored.
    #[error("checkpoint {index} is a delta of state {name:?}, which is not registered")]
    DeltaOfUnregisteredState {
        /// Position in the list of checkpoints.
        index: usize,
        /// The state's name.
        name: String,
    },
}

/// Why an asynchronous checkpoint part failed (B9). Earlier checkpoints are untouched; storage keeps nothing of
/// this one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Cancelled before it committed.
    #[error("checkpoint {id} was cancelled")]
    Cancelled {
        /// The checkpoint id.
        id: u64,
    },
    /// Writing the stream failed: a state's body (serializer error, `StreamError::Body`) or the sink's I/O
    /// (e.g. the memory cap: `StreamError::Io` whose source is `StorageError::TooLarge`).
    #[error("checkpoint {id}: {source}")]
    Stream {
        /// The checkpoint id.
        id: u64,
        /// The stream writer's error.
        source: StreamError,
    },
    /// The storage refused to begin or commit the checkpoint.
    #[error("checkpoint {id}: {source}")]
    Storage {
        /// The checkpoint id.
        id: u64,
        /// The storage error.
        source: StorageError,
    },
    /// The background thread panicked (a serializer panicked).
    #[error("checkpoint {id}: the asynchronous part panicked")]
    Panicked {
        /// The checkpoint id.
        id: u64,
    },
    /// No thread could be started for the asynchronous part (`PendingCheckpoint::spawn`, B26): nothing ran and
    /// its snapshots were released.
    #[error("checkpoint {id}: the asynchronous part's thread could not be started: {source}")]
    Spawn {
        /// The checkpoint id.
        id: u64,
        /// The error of the thread builder.
        source: std::io::Error,
    },
}
