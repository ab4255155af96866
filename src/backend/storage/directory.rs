//! [`DirectoryStorage`]: completed checkpoints as files in one directory.

use super::error::StorageError;
use super::fs::{DirLock, StdFs, StorageFile, StorageFs};
use super::{CheckpointLocation, CheckpointSink, CheckpointStorage};
use crate::backend::stream::{peek_base_id, PEEK_LEN};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const PREFIX: &str = "chk-";
const SUFFIX: &str = ".cowkeyed";
const TEMP_PREFIX: &str = ".chk-";
const TEMP_SUFFIX: &str = ".tmp";
const ID_DIGITS: usize = 20;

/// Completed checkpoints as files `chk-<id, 20 digits>.cowkeyed` in one directory, written crash-safely.
///
/// Flink: a file-system checkpoint directory (`FsCheckpointStreamFactory`) with retention of the last N
/// completed checkpoints (`CheckpointsCleaner` / `state.checkpoints.num-retained`).
///
/// **Commit** (docs/DESIGN.md, B11–B15). A checkpoint is written to a temporary file `.chk-<id>.<pid>-<n>.tmp`
/// in the same directory; [`commit`](CheckpointSink::commit) flushes it, fsyncs the file, renames it to its
/// final name (atomic on POSIX file systems; never over an existing id), fsyncs the directory, and only then
/// returns `Ok`: a checkpoint whose commit returned `Ok` survives a crash. The final name appears only by
/// rename of a complete, synced file: a crash or an error mid-write leaves at most a temporary file, which
/// [`list`](CheckpointStorage::list) and [`read`](CheckpointStorage::read) ignore and [`open`](Self::open)
/// deletes. A sink dropped without commit deletes its temporary file. If the directory fsync after the rename
/// fails, commit returns [`StorageError::NotDurable`]: the checkpoint is committed (listed, readable, its id
/// taken) but a crash may lose it.
///
/// **Retention.** After a durable commit, the oldest completed checkpoints beyond the last `keep_last` are
/// deleted (0 keeps all), except every checkpoint the chain of a kept delta reaches back to (docs/DESIGN.md
/// C9: each of the last `keep_last` stays restorable; the base id is read from the stream's header, learned at
/// commit or read once from the file). A failure to delete does not fail the commit: it is counted
/// ([`prune_failures`](Self::prune_failures)) and retried by the next commit, or by [`prune`](Self::prune),
/// which reports the error. A crash may bring back a deleted checkpoint (an unlink is durable only with the
/// next directory fsync); it is complete and older than the kept ones.
///
/// **One owner** (B16). A storage locks its directory until it and all its sinks are dropped; a second
/// [`open`](Self::open) of the directory meanwhile, from this process or another, fails with
/// [`StorageError::Locked`] instead of deleting the temporary files of checkpoints in flight. With [`StdFs`]
/// the lock is a file `.cowkeyed.lock` holding the owner's process id. A lock file left behind by a crashed
/// process is taken over when it names this process's id (it is not this process's: a restart with the same
/// id), or, on Linux, when no process with its id runs; elsewhere, delete it by hand once sure no process uses
/// the directory.
///
/// All file-system operations go through a [`StorageFs`] ([`StdFs`] for [`open`](Self::open),
/// any for [`with_fs`](Self::with_fs)); tests/storage_crash.rs crashes a simulated one at every step (B17).
///
/// ```
/// use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, StorageError};
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
/// // One owner at a time: a second open waits until this storage (and its sinks) are dropped.
/// assert!(matches!(DirectoryStorage::open(&dir, 2), Err(StorageError::Locked { .. })));
/// drop(storage);
/// assert_eq!(DirectoryStorage::open(&dir, 2).unwrap().list().unwrap(), vec![2, 3]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fs: Arc<dyn StorageFs>,
    dir: PathBuf,
    keep_last: usize,
    next_temp: AtomicU64,
    /// Held from the existence check of a final name to the end of pruning (B13, B14).
    commit: Mutex<()>,
    prune_failures: AtomicU64,
    /// C9: the base id each completed checkpoint names (`None`: a full checkpoint), learned from the sink's
    /// first bytes at commit or read from the file once, for retention to keep every chain it retains.
    bases: Mutex<HashMap<u64, Option<u64>>>,
    /// Dropped last, with the storage and all its sinks (B16).
    _lock: Box<dyn DirLock>,
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

/// Creates `dir` and its missing parents, and fsyncs the parent of each one created: a checkpoint committed
/// into a new directory must not be lost with the directory's own entry (B12).
fn create_dir_durably(fs: &dyn StorageFs, dir: &Path) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty()) {
        if fs.exists(d).map_err(io_err("check", d))? {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    fs.create_dir_all(dir).map_err(io_err("create directory", dir))?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            fs.sync_dir(parent).map_err(io_err("fsync directory", parent))?;
        }
    }
    Ok(())
}

impl DirectoryStorage {
    /// Opens (creating it if needed) the directory `dir` on the real file system ([`StdFs`]), keeping the last
    /// `keep_last` completed checkpoints (0 keeps all): locks it ([`StorageError::Locked`] if another storage
    /// holds it) and deletes temporary files that a crashed writer left behind.
    pub fn open(dir: impl AsRef<Path>, keep_last: usize) -> Result<Self, StorageError> {
        Self::with_fs(Arc::new(StdFs), dir, keep_last)
    }

    /// [`open`](Self::open) on the file system `fs`.
    pub fn with_fs(fs: Arc<dyn StorageFs>, dir: impl AsRef<Path>, keep_last: usize) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(fs.as_ref(), &dir)?;
        // Lock first: the temporary files of a live owner are not stale (B16).
        let lock = fs.lock(&dir)?;
        // Removals need no directory fsync: a temporary file that comes back after a crash is ignored and
        // deleted again (B15).
        for name in fs.list(&dir).map_err(io_err("read directory", &dir))? {
            if name.to_str().is_some_and(is_temp) {
                let path = dir.join(name);
                fs.remove_file(&path)
                    .map_err(io_err("remove stale temporary file", &path))?;
            }
        }
        Ok(DirectoryStorage {
            inner: Arc::new(Inner {
                fs,
                dir,
                keep_last,
                next_temp: AtomicU64::new(0),
                commit: Mutex::new(()),
                prune_failures: AtomicU64::new(0),
                bases: Mutex::new(HashMap::new()),
                _lock: lock,
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

    /// How many times deleting old checkpoints after a commit failed (the commits themselves succeeded; each
    /// later commit tries again).
    pub fn prune_failures(&self) -> u64 {
        self.inner.prune_failures.load(Ordering::Relaxed)
    }

    /// Deletes the oldest completed checkpoints beyond the last `keep_last` now (what every commit does after
    /// making itself durable); how many were deleted, or the first error.
    pub fn prune(&self) -> Result<usize, StorageError> {
        let _commit = self.inner.commit_lock();
        self.inner.prune()
    }
}

impl Inner {
    fn path_of(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{id:0ID_DIGITS$}{SUFFIX}"))
    }

    fn commit_lock(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, only the order of file-system operations.
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exists(&self, id: u64) -> Result<bool, StorageError> {
        let path = self.path_of(id);
        self.fs.exists(&path).map_err(io_err("check", &path))
    }

    fn list(&self) -> Result<Vec<u64>, StorageError> {
        let names = self.fs.list(&self.dir).map_err(io_err("read directory", &self.dir))?;
        let mut ids: Vec<u64> = names.iter().filter_map(|n| n.to_str().and_then(parse_name)).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The base id checkpoint `id` names (C9), from the cache or from its file's header.
    fn base_of(&self, id: u64) -> Result<Option<u64>, StorageError> {
        let cached = self.bases.lock().unwrap_or_else(|e| e.into_inner()).get(&id).copied();
        if let Some(base) = cached {
            return Ok(base);
        }
        let path = self.path_of(id);
        let bytes = self.fs.read(&path).map_err(io_err("read", &path))?;
        let base = peek_base_id(&bytes);
        self.bases.lock().unwrap_or_else(|e| e.into_inner()).insert(id, base);
        Ok(base)
    }

    /// Deletes the oldest completed checkpoints beyond the last `keep_last` (B14), except those the chain of a
    /// retained delta needs (C9: the last `keep_last` stay restorable). No directory fsync: an unlink lost in a
    /// crash brings back an older complete checkpoint, and the next commit's fsync makes it durable.
    fn prune(&self) -> Result<usize, StorageError> {
        if self.keep_last == 0 {
            return Ok(0);
        }
        let ids = self.list()?;
        let excess = ids.len().saturating_sub(self.keep_last);
        if excess == 0 {
            return Ok(0);
        }
        let mut keep: BTreeSet<u64> = ids[excess..].iter().copied().collect();
        let mut todo: Vec<u64> = keep.iter().copied().collect();
        while let Some(id) = todo.pop() {
            if let Some(base) = self.base_of(id)? {
                if ids.binary_search(&base).is_ok() && keep.insert(base) {
                    todo.push(base);
                }
            }
        }
        let mut deleted = 0;
        for &id in ids[..excess].iter().filter(|id| !keep.contains(id)) {
            let path = self.path_of(id);
            match self.fs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove old checkpoint", &path)(e)),
            }
            self.bases.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            deleted += 1;
        }
        Ok(deleted)
    }
}

impl CheckpointStorage for DirectoryStorage {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        let inner = &self.inner;
        if inner.exists(id)? {
            return Err(StorageError::AlreadyExists { id });
        }
        let n = inner.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = inner.dir.join(format!(
            "{TEMP_PREFIX}{id:0ID_DIGITS$}.{}-{n}{TEMP_SUFFIX}",
            std::process::id()
        ));
        let file = inner.fs.create_new(&temp).map_err(io_err("create", &temp))?;
        Ok(Box::new(DirectorySink {
            storage: Arc::clone(inner),
            id,
            temp,
            file: Some(BufWriter::with_capacity(1 << 16, file)),
            bytes: 0,
            failed: false,
            head: Vec::new(),
        }))
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        let path = self.inner.path_of(id);
        self.inner.fs.read(&path).map_err(|e| match e.kind() {
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
    file: Option<BufWriter<Box<dyn StorageFile>>>,
    bytes: u64,
    failed: bool,
    /// The stream's first bytes (up to `PEEK_LEN`): its base id, for retention (C9).
    head: Vec<u8>,
}

impl Write for DirectorySink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut().filter(|_| !self.failed) else {
            return Err(StorageError::Failed { id: self.id }.into_io());
        };
        match file.write(data) {
            Ok(n) => {
                let room = PEEK_LEN.saturating_sub(self.head.len()).min(n);
                self.head.extend_from_slice(&data[..room]);
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
        let mut file = file
            .into_inner()
            .map_err(|e| io_err("write", &self.temp)(e.into_error()))?;
        // B11: the data is durable before the final name can exist.
        #[cfg(not(cow_mutant = "rename-before-sync"))]
        {
            file.sync_all().map_err(io_err("fsync", &self.temp))?;
            drop(file);
        }
        let storage = Arc::clone(&self.storage);
        let target = storage.path_of(self.id);
        // B13: the check and the rename under one mutex, so no commit of this storage replaces a checkpoint
        // (rename would, silently); the directory lock (B16) excludes every other storage.
        let _commit = storage.commit_lock();
        if storage.exists(self.id)? {
            return Err(StorageError::AlreadyExists { id: self.id });
        }
        storage
            .fs
            .rename(&self.temp, &target)
            .map_err(io_err("rename", &self.temp))?;
        // The rename happened: the temporary file no longer exists, and the checkpoint is visible.
        self.temp = PathBuf::new();
        storage
            .bases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, peek_base_id(&self.head));
        // Planted mutant (scripts/mutants.sh): the data synced only after the final name exists (breaks B11).
        #[cfg(cow_mutant = "rename-before-sync")]
        {
            file.sync_all().map_err(io_err("fsync", &target))?;
            drop(file);
        }
        // B12: durable before Ok; an error from here on says the checkpoint is committed.
        if let Err(source) = storage.fs.sync_dir(&storage.dir) {
            return Err(StorageError::NotDurable {
                id: self.id,
                path: target,
                op: "fsync directory",
                source,
            });
        }
        // B14: retention never fails a durable commit.
        if storage.prune().is_err() {
            storage.prune_failures.fetch_add(1, Ordering::Relaxed);
        }
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
            let _ = self.storage.fs.remove_file(&self.temp);
        }
    }
}
