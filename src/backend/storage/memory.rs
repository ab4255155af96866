//! [`MemoryStorage`]: completed checkpoints in memory, each below a maximum size.

use super::error::StorageError;
use super::{CheckpointLocation, CheckpointSink, CheckpointStorage};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

/// The seed's default maximum size of one checkpoint (`AsyncMemoryStateBackend.DEFAULT_MAX_STATE_SIZE`, 5 MiB).
pub const DEFAULT_MAX_STATE_SIZE: u64 = 5 * 1024 * 1024;

/// Completed checkpoints kept in memory; a checkpoint larger than the maximum size fails.
///
/// Flink: `MemCheckpointStreamFactory` of `AsyncMemoryStateBackend` (`maxStateSize`, default 5 MiB). A sink
/// buffers its checkpoint privately; the write that would take it beyond the maximum fails with an `io::Error`
/// whose source is [`StorageError::TooLarge`] (naming the size reached and the limit), the buffer is dropped at
/// once, and the sink can no longer be committed. Only [`commit`](CheckpointSink::commit) makes a checkpoint
/// visible, so a failed or abandoned checkpoint leaves nothing behind. Cloning shares the storage.
///
/// ```
/// use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage, StorageError};
/// use std::io::Write;
///
/// let storage = MemoryStorage::with_max_size(16);
/// let mut sink = storage.begin(1).unwrap();
/// sink.write_all(b"checkpoint one").unwrap();
/// sink.commit().unwrap();
///
/// let mut sink = storage.begin(2).unwrap();
/// let err = sink.write_all(b"a checkpoint that is too large").unwrap_err();
/// assert!(err.to_string().contains("30 bytes") && err.to_string().contains("16 bytes"));
/// assert!(sink.commit().is_err());
/// assert_eq!(storage.list().unwrap(), vec![1]);
/// assert_eq!(storage.read(1).unwrap(), b"checkpoint one");
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_size: u64,
    checkpoints: Mutex<BTreeMap<u64, Arc<[u8]>>>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// A storage whose checkpoints may take up to [`DEFAULT_MAX_STATE_SIZE`] (5 MiB) each.
    pub fn new() -> Self {
        Self::with_max_size(DEFAULT_MAX_STATE_SIZE)
    }

    /// A storage whose checkpoints may take up to `max_size` bytes each.
    pub fn with_max_size(max_size: u64) -> Self {
        MemoryStorage {
            inner: Arc::new(Inner {
                max_size,
                checkpoints: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The maximum size of one checkpoint.
    pub fn max_size(&self) -> u64 {
        self.inner.max_size
    }

    /// Removes checkpoint `id`; whether it was there.
    pub fn remove(&self, id: u64) -> bool {
        self.inner.lock().remove(&id).is_some()
    }

    /// Total bytes of the completed checkpoints held.
    pub fn total_bytes(&self) -> u64 {
        self.inner.lock().values().map(|c| c.len() as u64).sum()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<[u8]>>> {
        // A panic while holding the lock cannot leave the map half-updated (single insert/remove calls).
        self.checkpoints.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CheckpointStorage for MemoryStorage {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        if self.inner.lock().contains_key(&id) {
            return Err(StorageError::AlreadyExists { id });
        }
        Ok(Box::new(MemorySink {
            storage: Arc::clone(&self.inner),
            id,
            buf: Vec::new(),
            failed: false,
        }))
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner
            .lock()
            .get(&id)
            .map(|c| c.to_vec())
            .ok_or(StorageError::NotFound { id })
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        Ok(self.inner.lock().keys().copied().collect())
    }
}

/// The sink of one [`MemoryStorage`] checkpoint.
#[derive(Debug)]
struct MemorySink {
    storage: Arc<Inner>,
    id: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl Write for MemorySink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(StorageError::Failed { id: self.id }.into_io());
        }
        let size = self.buf.len() as u64 + data.len() as u64;
        if size > self.storage.max_size {
            self.failed = true;
            self.buf = Vec::new();
            return Err(StorageError::TooLarge {
                size,
                limit: self.storage.max_size,
            }
            .into_io());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CheckpointSink for MemorySink {
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        if self.failed {
            return Err(StorageError::Failed { id: self.id });
        }
        let mut map = self.storage.lock();
        if map.contains_key(&self.id) {
            return Err(StorageError::AlreadyExists { id: self.id });
        }
        let bytes = self.buf.len() as u64;
        map.insert(self.id, self.buf.into());
        Ok(CheckpointLocation {
            id: self.id,
            bytes,
            path: None,
        })
    }
}
