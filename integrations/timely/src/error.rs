//! The errors of the integration.

use cow_state_table::backend::storage::StorageError;
use cow_state_table::backend::{BackendError, CheckpointError};
use cow_state_table::keygroup::KeyGroupError;
use std::path::PathBuf;

/// Everything that can fail in the integration: bad parameters, the backend, the storage, manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Maximum parallelism or worker count out of range (Flink's parallelism preconditions).
    #[error("key groups: {0}")]
    KeyGroup(#[from] KeyGroupError),
    /// The keyed state backend refused an operation.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// A checkpoint's asynchronous part failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A file-system operation on the checkpoint root failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest under its final name does not parse (X4: manifests are written whole or not at all, so this
    /// is corruption, never a crash mid-write).
    #[error("manifest {path} is malformed: {reason}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A part named by a manifest is missing or has another length than the manifest records.
    #[error("checkpoint {checkpoint}: part {path} is missing or damaged: {reason}")]
    BadPart {
        /// The checkpoint id.
        checkpoint: u64,
        /// The part file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The job restarts with another maximum parallelism than its checkpoint's (key groups cannot be split).
    #[error("checkpoint {checkpoint} has max parallelism {found}, the job {expected}")]
    MaxParallelismChanged {
        /// The checkpoint id.
        checkpoint: u64,
        /// The checkpoint's maximum parallelism.
        found: u32,
        /// The job's.
        expected: u32,
    },
    /// A run id was used before: its worker directory holds checkpoints already (X2).
    #[error("run {run}: worker directory {path} already holds checkpoints (every start needs a fresh run id)")]
    RunReused {
        /// The run id.
        run: u64,
        /// The worker directory.
        path: PathBuf,
    },
    /// Not every worker's part of a checkpoint appeared in time (the committer gave up waiting).
    #[error("checkpoint {checkpoint}: parts of workers {missing:?} did not appear in time")]
    CommitTimeout {
        /// The checkpoint id.
        checkpoint: u64,
        /// Worker indexes whose part is missing.
        missing: Vec<usize>,
    },
    /// timely failed to start or a worker thread panicked.
    #[error("timely: {0}")]
    Timely(String),
}

impl ClusterError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ClusterError {
        let path = path.into();
        move |source| ClusterError::Io { op, path, source }
    }
}
