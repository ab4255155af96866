//! Where checkpoint streams are kept (Flink: `MemCheckpointStreamFactory` of `AsyncMemoryStateBackend`, and a
//! file-system checkpoint directory): in memory with a size cap ([`MemoryStorage`]), or in a directory
//! ([`DirectoryStorage`]: temporary file, fsync, atomic rename, fsync of the directory, keep the last N; one
//! owner at a time), written through a small file-system seam ([`StorageFs`], [`StdFs`] by default).
//!
//! A checkpoint is written through a [`CheckpointSink`] obtained from [`CheckpointStorage::begin`] and becomes
//! visible only when the sink is [committed](CheckpointSink::commit); a sink dropped without commit, or one whose
//! write failed, leaves nothing that [`list`](CheckpointStorage::list) or [`read`](CheckpointStorage::read)
//! would return. Storage does not look inside the bytes: checksums are verified by
//! [`StreamCheckpoint::parse`](crate::backend::stream::StreamCheckpoint::parse).
//!
//! [`FailingStorage`] (a test utility) wraps a storage so that writing fails after a chosen number of bytes.

mod directory;
mod error;
mod failing;
mod fs;
mod lock;
mod memory;

pub use directory::DirectoryStorage;
pub use error::StorageError;
pub use failing::{FailingStorage, FailingWriter};
pub use fs::{DirLock, StdFs, StorageFile, StorageFs};
pub use memory::{MemoryStorage, DEFAULT_MAX_STATE_SIZE};

use std::path::PathBuf;

/// Where finished checkpoint streams are kept. Object safe; `Send + Sync` (sinks are written from background
/// threads).
///
/// Flink: `CheckpointStreamFactory` (creating the output stream of a checkpoint) together with the
/// `StreamStateHandle`s it returns (reading it back).
pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    /// Starts writing checkpoint `id`; its bytes go to the returned sink. Fails if a completed checkpoint `id`
    /// exists already.
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError>;

    /// The bytes of the completed checkpoint `id` ([`StorageError::NotFound`] if there is none).
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError>;

    /// Ids of the completed checkpoints, ascending.
    fn list(&self) -> Result<Vec<u64>, StorageError>;
}

/// The output of one checkpoint being written.
///
/// Flink: `CheckpointStreamFactory.CheckpointStateOutputStream` (`closeAndGetHandle`).
pub trait CheckpointSink: std::io::Write + Send {
    /// Makes the checkpoint visible atomically (directory: fsync, rename, fsync of the directory; memory:
    /// insert). Before commit nothing of it is visible; dropping a sink without commit discards everything
    /// written. Fails if a write failed before.
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError>;
}

/// Where a committed checkpoint is (Flink: the `StreamStateHandle` of a completed checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CheckpointLocation {
    /// The checkpoint id.
    pub id: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its file, for a [`DirectoryStorage`].
    pub path: Option<PathBuf>,
}
