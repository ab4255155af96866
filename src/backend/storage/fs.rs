//! The file-system seam of [`DirectoryStorage`](super::DirectoryStorage): [`StorageFs`], [`StorageFile`],
//! [`DirLock`], and [`StdFs`] (std::fs, the default).

use super::error::StorageError;
use super::lock;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// The file-system operations a [`DirectoryStorage`](super::DirectoryStorage) uses, and nothing else. The
/// default is [`StdFs`]; a test can pass a simulated file system to
/// [`DirectoryStorage::with_fs`](super::DirectoryStorage::with_fs) that records every operation and crashes
/// between any two of them (tests/storage_crash.rs; docs/DESIGN.md, B17).
///
/// Flink: `org.apache.flink.core.fs.FileSystem` (the abstraction its checkpoint streams write through).
pub trait StorageFs: Send + Sync + fmt::Debug {
    /// Creates `dir` and its missing parents (`std::fs::create_dir_all`).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Takes the exclusive lock of `dir` for one storage; it is held until the returned guard is dropped, and
    /// a second `lock` of the same directory fails with [`StorageError::Locked`] meanwhile (B16).
    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>, StorageError>;

    /// The names of the entries of `dir`, in any order.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;

    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;

    /// Creates the file `path`, failing if it exists (`OpenOptions::create_new`), for writing.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;

    /// The whole content of the file `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// Renames `from` to `to` (atomic, replacing `to`, as POSIX `rename`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the entries of `dir` (creations, renames, removals) durable: fsync of the directory.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file being written through a [`StorageFs`].
///
/// Flink: `FSDataOutputStream` (`sync`).
pub trait StorageFile: Write + Send + fmt::Debug {
    /// Makes the data written so far durable (`File::sync_all`, fsync). Does not make the file's name durable:
    /// that takes [`StorageFs::sync_dir`].
    fn sync_all(&mut self) -> io::Result<()>;
}

/// The guard of a directory lock taken with [`StorageFs::lock`]; dropping it releases the lock.
///
/// Flink has no counterpart (its checkpoint directories are owned by one job by convention).
pub trait DirLock: Send + Sync + fmt::Debug {}

/// The real file system (`std::fs`), used by [`DirectoryStorage::open`](super::DirectoryStorage::open). Its
/// lock is a lock file (see [`DirectoryStorage`](super::DirectoryStorage), "One owner").
///
/// Flink: `LocalFileSystem`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl Write for StdFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl StorageFile for StdFile {
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl StorageFs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>, StorageError> {
        Ok(Box::new(lock::LockFile::acquire(dir)?))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let file = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(StdFile(file)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
