//! Failure injection for tests: [`FailingStorage`] and [`FailingWriter`].

use super::error::StorageError;
use super::{CheckpointLocation, CheckpointSink, CheckpointStorage};
use std::io::{self, Write};

/// **Test utility.** A [`CheckpointStorage`] whose sinks accept the first `fail_after` bytes of a checkpoint and
/// then fail every write (an `io::Error` whose source is [`StorageError::Injected`]); such a sink cannot be
/// committed. Reads and listing go to the wrapped storage, so a test can show that a checkpoint that failed
/// mid-write leaves the earlier ones intact. With [`fail_on_commit`](Self::fail_on_commit) the writes pass and
/// the commit fails instead (before anything becomes visible).
///
/// Flink has no counterpart (its tests use blocking / failing stream factories).
///
/// ```
/// use cow_state_table::backend::storage::{CheckpointStorage, FailingStorage, MemoryStorage};
/// use std::io::Write;
///
/// let memory = MemoryStorage::new();
/// let storage = FailingStorage::new(memory.clone(), 4);
/// let mut sink = storage.begin(1).unwrap();
/// assert!(sink.write_all(b"abcdefgh").is_err()); // 4 bytes accepted, then the injected failure
/// assert!(sink.commit().is_err());
/// assert!(memory.list().unwrap().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct FailingStorage<S> {
    inner: S,
    fail_after: u64,
    on_commit: bool,
}

impl<S: CheckpointStorage> FailingStorage<S> {
    /// Wraps `inner`; each sink fails once `fail_after` bytes have been written to it.
    pub fn new(inner: S, fail_after: u64) -> Self {
        FailingStorage {
            inner,
            fail_after,
            on_commit: false,
        }
    }

    /// Wraps `inner`; writes pass, each commit fails.
    pub fn fail_on_commit(inner: S) -> Self {
        FailingStorage {
            inner,
            fail_after: u64::MAX,
            on_commit: true,
        }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: CheckpointStorage> CheckpointStorage for FailingStorage<S> {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        Ok(Box::new(FailingSink {
            inner: self.inner.begin(id)?,
            written: 0,
            fail_after: self.fail_after,
            on_commit: self.on_commit,
            failed: false,
        }))
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read(id)
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

struct FailingSink {
    inner: Box<dyn CheckpointSink>,
    written: u64,
    fail_after: u64,
    on_commit: bool,
    failed: bool,
}

impl Write for FailingSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.fail_after.saturating_sub(self.written);
        if self.failed || room == 0 && !data.is_empty() {
            self.failed = true;
            return Err(StorageError::Injected {
                after: self.written,
                what: "write",
            }
            .into_io());
        }
        let n = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.write(&data[..n])?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl CheckpointSink for FailingSink {
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        if self.failed || self.on_commit {
            // Dropping the inner sink discards what it holds.
            return Err(StorageError::Injected {
                after: self.written,
                what: if self.on_commit { "commit" } else { "write" },
            });
        }
        self.inner.commit()
    }
}

/// **Test utility.** A writer that accepts the first `fail_after` bytes (into a `Vec`) and then fails every
/// write with an `io::Error` whose source is [`StorageError::Injected`], e.g. to feed
/// [`write_stream`](crate::backend::stream::write_stream) directly.
///
/// ```
/// use cow_state_table::backend::storage::FailingWriter;
/// use std::io::Write;
/// let mut w = FailingWriter::new(3);
/// assert!(w.write_all(b"abcd").is_err());
/// assert_eq!(w.written(), b"abc");
/// ```
#[derive(Debug, Clone, Default)]
pub struct FailingWriter {
    buf: Vec<u8>,
    fail_after: usize,
}

impl FailingWriter {
    /// A writer that fails once `fail_after` bytes were written.
    pub fn new(fail_after: usize) -> Self {
        FailingWriter {
            buf: Vec::new(),
            fail_after,
        }
    }

    /// The bytes accepted.
    pub fn written(&self) -> &[u8] {
        &self.buf
    }
}

impl Write for FailingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.fail_after - self.buf.len();
        if room == 0 && !data.is_empty() {
            return Err(StorageError::Injected {
                after: self.buf.len() as u64,
                what: "write",
            }
            .into_io());
        }
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
