//! [`DirectoryStorage`]: completed checkpoints as files in one directory.

use super::error::StorageError;
use super::{CheckpointLocation, CheckpointSink, CheckpointStorage};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const PREFIX: &str = "chk-";
const SUFFIX: &str = ".cowkeyed";
const TEMP_PREFIX: &str = ".chk-";
const TEMP_SUFFIX: &str = ".tmp";
const ID_DIGITS: usize = 20;

/// Completed checkpoints as files `chk-<id, 20 digits>.cowkeyed` in one directory, written crash-safely.
///
/// Flink: a file-system checkpoint directory (`FsCheckpointStreamFactory`) with retention of the last N
/// completed checkpoints. A checkpoint is written to a temporary file `.chk-<id>.<pid>-<n>.tmp` in the same
/// directory; [`commit`](CheckpointSink::commit) flushes it, fsyncs the file, renames it to its final name
/// (atomic on POSIX file systems), fsyncs the directory, and then deletes the oldest completed checkpoints beyond
/// the last `keep_last` (0 keeps all). The final name therefore appears only by rename of a complete, synced
/// file: a crash or an error mid-write leaves at most a temporary file, which [`list`](CheckpointStorage::list)
/// and [`read`](CheckpointStorage::read) ignore and [`open`](Self::open) deletes. A sink dropped without commit
/// deletes its temporary file. One storage (one process) should own a directory at a time.
///
/// ```
/// use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage};
/// use std::io::Write;
///
/// let dir = std::env::temp_dir().join(format!("cow-doc-{}", std::process::id()));
/// let storage = DirectoryStorage::open(&dir, 2).unwrap();
/// for id in 1..=3 {
///     let mut sink = storage.begin(id).unwrap();
///     sink.write_all(format!("checkpoint {id}").as_bytes()).unwrap();
///     sink.commit().unwrap();
/// }
/// let mut abandoned = storage.begin(4).unwrap();
/// abandoned.write_all(b"half").unwrap();
/// assert_eq!(storage.list().unwrap(), vec![2, 3]); // keep the last 2; 4 is not committed
/// drop(abandoned);
/// assert_eq!(storage.read(3).unwrap(), b"checkpoint 3");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    keep_last: usize,
    next_temp: AtomicU64,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { op, path, source }
}

/// The id of a completed checkpoint's file name, or `None` for any other name.
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

impl DirectoryStorage {
    /// Opens (creating it if needed) the directory `dir`, keeping the last `keep_last` completed checkpoints
    /// (0 keeps all), and deletes temporary files that a crashed writer left behind.
    pub fn open(dir: impl AsRef<Path>, keep_last: usize) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            if entry.file_name().to_str().is_some_and(is_temp) {
                let path = entry.path();
                fs::remove_file(&path).map_err(io_err("remove stale temporary file", &path))?;
            }
        }
        Ok(DirectoryStorage {
            inner: Arc::new(Inner {
                dir,
                keep_last,
                next_temp: AtomicU64::new(0),
            }),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many completed checkpoints are kept (0: all).
    pub fn keep_last(&self) -> usize {
        self.inner.keep_last
    }

    /// The file of completed checkpoint `id` (whether or not it exists).
    pub fn path_of(&self, id: u64) -> PathBuf {
        self.inner.path_of(id)
    }
}

impl Inner {
    fn path_of(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{id:0ID_DIGITS$}{SUFFIX}"))
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))? {
            let entry = entry.map_err(io_err("read directory", &self.dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(parse_name) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Deletes the oldest completed checkpoints beyond the last `keep_last`.
    fn prune(&self) -> Result<(), StorageError> {
        if self.keep_last == 0 {
            return Ok(());
        }
        let ids = self.list()?;
        let excess = ids.len().saturating_sub(self.keep_last);
        for &id in &ids[..excess] {
            let path = self.path_of(id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove old checkpoint", &path)(e)),
            }
        }
        if excess > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl CheckpointStorage for DirectoryStorage {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        let inner = &self.inner;
        if inner.path_of(id).exists() {
            return Err(StorageError::AlreadyExists { id });
        }
        let n = inner.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = inner.dir.join(format!(
            "{TEMP_PREFIX}{id:0ID_DIGITS$}.{}-{n}{TEMP_SUFFIX}",
            std::process::id()
        ));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        Ok(Box::new(DirectorySink {
            storage: Arc::clone(inner),
            id,
            temp,
            file: Some(BufWriter::with_capacity(1 << 16, file)),
            bytes: 0,
            failed: false,
        }))
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        let path = self.inner.path_of(id);
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound { id },
            _ => io_err("read", &path)(e),
        })
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

/// The sink of one [`DirectoryStorage`] checkpoint: a temporary file until commit.
#[derive(Debug)]
struct DirectorySink {
    storage: Arc<Inner>,
    id: u64,
    temp: PathBuf,
    /// `None` once committed (the temporary file has been renamed) or discarded.
    file: Option<BufWriter<File>>,
    bytes: u64,
    failed: bool,
}

impl Write for DirectorySink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut().filter(|_| !self.failed) else {
            return Err(StorageError::Failed { id: self.id }.into_io());
        };
        match file.write(data) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl DirectorySink {
    fn finish(&mut self) -> Result<CheckpointLocation, StorageError> {
        if self.failed {
            return Err(StorageError::Failed { id: self.id });
        }
        let file = self.file.take().ok_or(StorageError::Failed { id: self.id })?;
        let file = file
            .into_inner()
            .map_err(|e| io_err("write", &self.temp)(e.into_error()))?;
        file.sync_all().map_err(io_err("fsync", &self.temp))?;
        drop(file);
        let target = self.storage.path_of(self.id);
        if target.exists() {
            return Err(StorageError::AlreadyExists { id: self.id });
        }
        fs::rename(&self.temp, &target).map_err(io_err("rename", &self.temp))?;
        // The rename happened: the temporary file no longer exists, whatever follows.
        self.temp = PathBuf::new();
        sync_dir(&self.storage.dir)?;
        self.storage.prune()?;
        Ok(CheckpointLocation {
            id: self.id,
            bytes: self.bytes,
            path: Some(target),
        })
    }
}

impl CheckpointSink for DirectorySink {
    fn commit(mut self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        self.finish()
    }
}

impl Drop for DirectorySink {
    fn drop(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            // Best effort: a temporary file left behind is ignored by list/read and deleted by the next open.
            let _ = fs::remove_file(&self.temp);
        }
    }
}
