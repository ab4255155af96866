//! The lock file of [`StdFs`](super::StdFs) (docs/DESIGN.md, B16).
//!
//! std offers no advisory file lock at the crate's minimum Rust version (`File::lock` is 1.89), so the lock is
//! a file `.cowkeyed.lock` created with `create_new` and holding the owner's process id. Within a process a
//! registry of the directories held decides; a lock file left behind by a crashed process is taken over when
//! its process id is this process's (a restart that got the same id, common in containers: this process does
//! not hold the directory, so the file is stale) or, where `/proc` shows the processes (Linux), when no process
//! with that id runs. Anything else is [`StorageError::Locked`].

use super::error::StorageError;
use super::fs::DirLock;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The name of the lock file in a checkpoint directory.
pub(crate) const LOCK_FILE: &str = ".cowkeyed.lock";

/// The directories (canonical paths) locked by this process.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn held() -> MutexGuard<'static, Vec<PathBuf>> {
    // Every critical section below leaves the list consistent (single push / remove calls).
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// A held lock file; dropping it deletes the file.
#[derive(Debug)]
pub(crate) struct LockFile {
    dir: PathBuf,
    path: PathBuf,
}

impl DirLock for LockFile {}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { op, path, source }
}

/// The process id in a lock file, if it can be read.
fn holder(path: &Path) -> Option<u32> {
    let text = fs::read_to_string(path).ok()?;
    text.trim().strip_prefix("pid ")?.parse().ok()
}

/// Whether a lock file naming `pid` (not held by this process) was left behind by a process that is gone.
fn stale(pid: Option<u32>) -> bool {
    let Some(pid) = pid else {
        // Unreadable or torn (a crash between creating and writing it): no owner can be named. The window in
        // which a live owner's file is still empty is the few instructions between create and write.
        return true;
    };
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    cfg!(target_os = "linux") && proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

impl LockFile {
    /// Takes the lock of `dir`, or fails with [`StorageError::Locked`].
    pub(crate) fn acquire(dir: &Path) -> Result<Self, StorageError> {
        let dir = fs::canonicalize(dir).map_err(io_err("lock", dir))?;
        let path = dir.join(LOCK_FILE);
        let mut held = held();
        if held.contains(&dir) {
            return Err(StorageError::Locked {
                dir,
                pid: Some(std::process::id()),
            });
        }
        let mut pid = None;
        for _ in 0..2 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let written = writeln!(file, "pid {}", std::process::id());
                    if let Err(e) = written {
                        let _ = fs::remove_file(&path);
                        return Err(io_err("write lock file", &path)(e));
                    }
                    held.push(dir.clone());
                    return Ok(LockFile { dir, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    pid = holder(&path);
                    if !stale(pid) {
                        break;
                    }
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err("remove stale lock file", &path)(e)),
                    }
                }
                Err(e) => return Err(io_err("create lock file", &path)(e)),
            }
        }
        Err(StorageError::Locked { dir, pid })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Under the registry's mutex, so that no other storage of this process takes the directory over between
        // the two steps (it would find our file, judge it stale and have it deleted by us).
        let mut held = held();
        // Best effort: a file left behind names this process; this process takes it over on its next open, another
        // process once this one is gone.
        let _ = fs::remove_file(&self.path);
        held.retain(|d| *d != self.dir);
    }
}
