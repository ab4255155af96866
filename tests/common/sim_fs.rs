//! A simulated file system for crash tests of `DirectoryStorage` (docs/DESIGN.md, B17; docs/MODEL_CHECKING.md,
//! "Crash consistency of the storage"), in the manner of SQLite's crash VFS and CrashMonkey.
//!
//! Every mutating operation (create, write, file fsync, rename, directory fsync, unlink) is recorded with the
//! state after it, so a test runs a workload once and then "crashes" after any prefix of its operations. A
//! crash keeps only what POSIX promises: file data as of the file's last fsync, directory entries as of the
//! directory's last fsync. [`crash_states`] enumerates what a recovering process may find instead:
//!
//! * each name whose entry changed since its directory's last fsync (created, renamed to or from, unlinked) is
//!   independently in its old or its new state (so a rename may be lost, kept, or seen half: both names or
//!   neither);
//! * each file whose data changed since its last fsync holds, independently, its synced data, all its data, a
//!   torn prefix (half of the unsynced part, or all but the last byte), or its full length with the unsynced
//!   part zero-filled (a size update without its data blocks).
//!
//! Directories themselves are assumed to exist durably once created (the simulation does not model the
//! parent's fsync of a newly created directory; the storage does one, see tests/storage.rs). Locks live in memory and vanish with the crash, as an advisory lock does.
//! [`SimFs::fail_next`] makes the next operation of a kind fail with an I/O error instead.
#![allow(dead_code)]

use cow_state_table::backend::storage::{DirLock, StorageError, StorageFile, StorageFs};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A file's content: what processes read, and what is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inode {
    /// The content processes see.
    pub data: Vec<u8>,
    /// The content as of the last fsync (what survives a crash for sure).
    pub synced: Vec<u8>,
}

/// The file system's state: inodes, names as processes see them, names as of the last directory fsync.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Every file ever created (unlinked ones stay, unreachable).
    pub inodes: Vec<Inode>,
    /// Path -> inode, as processes see it.
    pub live: BTreeMap<PathBuf, usize>,
    /// Path -> inode, as of the last fsync of the path's directory.
    pub durable: BTreeMap<PathBuf, usize>,
    /// Existing directories (durable by assumption).
    pub dirs: BTreeSet<PathBuf>,
}

impl State {
    /// A state in which `files` exist durably (data synced, names synced) in their directories.
    pub fn with_files<'a>(files: impl IntoIterator<Item = (PathBuf, &'a [u8])>) -> State {
        let mut state = State::default();
        for (path, data) in files {
            state.dirs.insert(path.parent().unwrap().to_path_buf());
            state.inodes.push(Inode {
                data: data.to_vec(),
                synced: data.to_vec(),
            });
            state.live.insert(path.clone(), state.inodes.len() - 1);
            state.durable.insert(path, state.inodes.len() - 1);
        }
        state
    }

    /// The names of `dir`'s entries as processes see them.
    pub fn names(&self, dir: &Path) -> Vec<String> {
        self.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }
}

/// How the unsynced part of one file's data came out of a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// Only the synced data.
    Synced,
    /// All of it.
    Full,
    /// A prefix: the synced part and half of the rest.
    Half,
    /// All but the last byte.
    OneShort,
    /// Its full length, the unsynced part zero-filled.
    Zeroed,
}

const TORN: [Torn; 5] = [Torn::Synced, Torn::Full, Torn::Half, Torn::OneShort, Torn::Zeroed];

fn torn(inode: &Inode, how: Torn) -> Vec<u8> {
    let common = inode.data.iter().zip(&inode.synced).take_while(|(a, b)| a == b).count();
    match how {
        Torn::Synced => inode.synced.clone(),
        Torn::Full => inode.data.clone(),
        Torn::Half => inode.data[..common + (inode.data.len() - common) / 2].to_vec(),
        Torn::OneShort => inode.data[..inode.data.len().saturating_sub(1).max(common)].to_vec(),
        Torn::Zeroed => {
            let mut d = inode.data.clone();
            d[common..].fill(0);
            d
        }
    }
}

/// At most this many data combinations per name combination; beyond it every dirty file is torn the same way.
const MAX_DATA_COMBINATIONS: usize = 125;

/// Every state a process may find after a crash in `state` (see the module docs), each with a description.
/// Each returned state is all durable (nothing pending).
pub fn crash_states(state: &State) -> Vec<(String, State)> {
    let dirty: Vec<&PathBuf> = state
        .live
        .keys()
        .chain(state.durable.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|p| state.live.get(*p) != state.durable.get(*p))
        .collect();
    assert!(dirty.len() <= 12, "too many unsynced names: {dirty:?}");
    let mut out = Vec::new();
    for mask in 0u32..1 << dirty.len() {
        let mut names = state.durable.clone();
        let mut label = String::new();
        for (i, path) in dirty.iter().enumerate() {
            let name = path.file_name().unwrap().to_string_lossy();
            let kept = mask >> i & 1 == 1;
            let chosen = if kept {
                state.live.get(*path)
            } else {
                state.durable.get(*path)
            };
            match chosen {
                Some(&inode) => names.insert((*path).clone(), inode),
                None => names.remove(*path),
            };
            label += &format!("{}{name} ", if kept { "new:" } else { "old:" });
        }
        let reachable: BTreeSet<usize> = names.values().copied().collect();
        let unsynced: Vec<usize> = reachable
            .into_iter()
            .filter(|&i| state.inodes[i].data != state.inodes[i].synced)
            .collect();
        let combos = TORN.len().pow(unsynced.len() as u32);
        let combos: Vec<Vec<Torn>> = if combos <= MAX_DATA_COMBINATIONS {
            (0..combos)
                .map(|mut c| {
                    (0..unsynced.len())
                        .map(|_| {
                            let t = TORN[c % TORN.len()];
                            c /= TORN.len();
                            t
                        })
                        .collect()
                })
                .collect()
        } else {
            TORN.iter().map(|&t| vec![t; unsynced.len()]).collect()
        };
        for combo in combos {
            let mut inodes = state.inodes.clone();
            let mut data_label = String::new();
            for (&i, &how) in unsynced.iter().zip(&combo) {
                let d = torn(&state.inodes[i], how);
                data_label += &format!(
                    "inode {i}: {how:?} ({} of {} bytes) ",
                    d.len(),
                    state.inodes[i].data.len()
                );
                inodes[i] = Inode {
                    data: d.clone(),
                    synced: d,
                };
            }
            out.push((
                format!("names [{}] data [{}]", label.trim_end(), data_label.trim_end()),
                State {
                    inodes,
                    live: names.clone(),
                    durable: names.clone(),
                    dirs: state.dirs.clone(),
                },
            ));
        }
    }
    out
}

#[derive(Debug, Default)]
struct Sim {
    state: State,
    /// `(operation, state after it)`; entry 0 is the initial state.
    history: Vec<(String, State)>,
    record: bool,
    locked: BTreeSet<PathBuf>,
    /// Kinds whose next operation fails.
    fail: Vec<&'static str>,
    /// The next `remove_file` finds its file already gone.
    remove_raced: bool,
}

/// The simulated file system (a shared handle: clones see the same state).
#[derive(Debug, Clone, Default)]
pub struct SimFs(Arc<Mutex<Sim>>);

fn injected(kind: &str) -> io::Error {
    io::Error::other(format!("injected {kind} failure"))
}

impl SimFs {
    /// An empty file system that records every operation.
    pub fn new() -> SimFs {
        SimFs::from_state(State::default(), true)
    }

    /// A file system in `state`, recording every operation or not.
    pub fn from_state(state: State, record: bool) -> SimFs {
        let sim = Sim {
            history: vec![("initial".to_string(), state.clone())],
            state,
            record,
            ..Sim::default()
        };
        SimFs(Arc::new(Mutex::new(sim)))
    }

    fn sim(&self) -> MutexGuard<'_, Sim> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded `(operation, state after it)` pairs, the initial state first.
    pub fn history(&self) -> Vec<(String, State)> {
        self.sim().history.clone()
    }

    /// The number of operations recorded so far (a crash "after `ops()` operations" is `history()[ops()]`).
    pub fn ops(&self) -> usize {
        self.sim().history.len() - 1
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.sim().state.clone()
    }

    /// The next operation of `kind` (`create`, `write`, `fsync`, `rename`, `remove`, `sync_dir`) fails.
    pub fn fail_next(&self, kind: &'static str) {
        self.sim().fail.push(kind);
    }

    /// The next `remove_file` loses a race: another process unlinks the file just before it (unrecorded), so
    /// the call fails with `NotFound` and the file is gone.
    pub fn race_next_remove(&self) {
        self.sim().remove_raced = true;
    }

    /// Runs `op` on the state (failing it if injected), then records it.
    fn mutate<T>(
        &self,
        kind: &'static str,
        what: impl FnOnce() -> String,
        op: impl FnOnce(&mut State) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut sim = self.sim();
        if let Some(at) = sim.fail.iter().position(|k| *k == kind) {
            sim.fail.remove(at);
            return Err(injected(kind));
        }
        let out = op(&mut sim.state)?;
        if sim.record {
            let state = sim.state.clone();
            sim.history.push((what(), state));
        }
        Ok(out)
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

fn short(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

impl StorageFs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut sim = self.sim();
        sim.state.dirs.extend(dir.ancestors().map(Path::to_path_buf));
        Ok(())
    }

    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>, StorageError> {
        if !self.sim().locked.insert(dir.to_path_buf()) {
            return Err(StorageError::Locked {
                dir: dir.to_path_buf(),
                pid: None,
            });
        }
        Ok(Box::new(SimLock {
            fs: self.clone(),
            dir: dir.to_path_buf(),
        }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let sim = self.sim();
        if !sim.state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(sim.state.names(dir).into_iter().map(OsString::from).collect())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let sim = self.sim();
        Ok(sim.state.live.contains_key(path) || sim.state.dirs.contains(path))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let inode = self.mutate(
            "create",
            || format!("create {}", short(path)),
            |s| {
                if !s.dirs.contains(path.parent().unwrap()) {
                    return Err(not_found(path));
                }
                if s.live.contains_key(path) {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
                }
                s.inodes.push(Inode::default());
                s.live.insert(path.to_path_buf(), s.inodes.len() - 1);
                Ok(s.inodes.len() - 1)
            },
        )?;
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
            name: short(path),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let sim = self.sim();
        let inode = sim.state.live.get(path).ok_or_else(|| not_found(path))?;
        Ok(sim.state.inodes[*inode].data.clone())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.mutate(
            "rename",
            || format!("rename {} -> {}", short(from), short(to)),
            |s| {
                let inode = s.live.remove(from).ok_or_else(|| not_found(from))?;
                s.live.insert(to.to_path_buf(), inode);
                Ok(())
            },
        )
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        {
            let mut sim = self.sim();
            if std::mem::take(&mut sim.remove_raced) {
                sim.state.live.remove(path);
            }
        }
        self.mutate(
            "remove",
            || format!("unlink {}", short(path)),
            |s| s.live.remove(path).map(drop).ok_or_else(|| not_found(path)),
        )
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.mutate(
            "sync_dir",
            || format!("fsync directory {}", dir.display()),
            |s| {
                s.durable.retain(|p, _| p.parent() != Some(dir));
                let entries: Vec<_> = s.live.iter().filter(|(p, _)| p.parent() == Some(dir)).collect();
                let entries: Vec<(PathBuf, usize)> = entries.into_iter().map(|(p, i)| (p.clone(), *i)).collect();
                s.durable.extend(entries);
                Ok(())
            },
        )
    }
}

/// An open simulated file (appends only, as the storage writes).
#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    inode: usize,
    name: String,
}

impl Write for SimFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let inode = self.inode;
        self.fs.mutate(
            "write",
            || format!("write {} bytes to {}", data.len(), self.name),
            |s| {
                s.inodes[inode].data.extend_from_slice(data);
                Ok(data.len())
            },
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn sync_all(&mut self) -> io::Result<()> {
        let inode = self.inode;
        self.fs.mutate(
            "fsync",
            || format!("fsync {}", self.name),
            |s| {
                let node = &mut s.inodes[inode];
                node.synced = node.data.clone();
                Ok(())
            },
        )
    }
}

#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    dir: PathBuf,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.sim().locked.remove(&self.dir);
    }
}
