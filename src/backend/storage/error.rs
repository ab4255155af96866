//! [`StorageError`].

use std::path::PathBuf;

/// Why a checkpoint could not be stored, found or read back.
///
/// Flink: the `IOException`s of `CheckpointStreamFactory` streams, e.g. `MemCheckpointStreamFactory`'s
/// "Size of the state is larger than the maximum permitted memory-backed state".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The checkpoint grew beyond the storage's maximum size; nothing of it is kept.
    #[error("checkpoint of at least {size} bytes is larger than the maximum of {limit} bytes permitted for memory-backed checkpoints")]
    TooLarge {
        /// Bytes the checkpoint reached (at least).
        size: u64,
        /// The maximum.
        limit: u64,
    },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done (`create`, `write`, `fsync`, `rename`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No completed checkpoint with this id.
    #[error("no completed checkpoint {id}")]
    NotFound {
        /// The id asked for.
        id: u64,
    },
    /// A completed checkpoint with this id exists already.
    #[error("checkpoint {id} exists already")]
    AlreadyExists {
        /// The id.
        id: u64,
    },
    /// The checkpoint **is committed** (renamed to its final name, listed and readable) but may not survive a
    /// crash: making the rename durable (fsync of the directory) failed (docs/DESIGN.md, B12). Retrying the
    /// same id fails with [`AlreadyExists`](Self::AlreadyExists); a later successful commit's directory fsync
    /// makes it durable too.
    #[error("checkpoint {id} is committed as {path} but may not be durable: {op} failed: {source}", path = path.display())]
    NotDurable {
        /// The id.
        id: u64,
        /// Its final file.
        path: PathBuf,
        /// What failed (`fsync directory`).
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// Another storage holds the checkpoint directory (docs/DESIGN.md, B16).
    #[error("checkpoint directory {dir} is in use by another storage{}", match pid { Some(p) => format!(" (process {p})"), None => String::new() }, dir = dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The process holding it, if known.
        pid: Option<u32>,
    },
    /// The sink failed earlier (a write error); it cannot be committed.
    #[error("checkpoint {id}: the sink failed earlier and cannot be committed")]
    Failed {
        /// The id.
        id: u64,
    },
    /// A failure injected by [`FailingStorage`](super::FailingStorage) (tests only).
    #[error("injected failure after {after} bytes ({what})")]
    Injected {
        /// Bytes accepted before the failure.
        after: u64,
        /// Where: `write` or `commit`.
        what: &'static str,
    },
}

impl StorageError {
    /// Wraps `self` in an `io::Error` (for `Write::write`), keeping it as the source.
    pub(crate) fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }

    /// The `StorageError` inside an `io::Error` returned by a sink's `write`, if there is one.
    ///
    /// ```
    /// use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage, StorageError};
    /// let storage = MemoryStorage::with_max_size(4);
    /// let mut sink = storage.begin(1).unwrap();
    /// let err = sink.write_all(b"too long").unwrap_err();
    /// assert!(matches!(StorageError::from_io(&err), Some(StorageError::TooLarge { size: 8, limit: 4 })));
    /// # use std::io::Write;
    /// ```
    pub fn from_io(error: &std::io::Error) -> Option<&StorageError> {
        error.get_ref().and_then(|e| e.downcast_ref::<StorageError>())
    }
}
