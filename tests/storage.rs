//! Checkpoint storage (src/backend/storage): the memory cap (size and limit named, nothing kept), the directory's
//! crash safety (temporary files never listed and cleaned, names only by rename, keep the last N), corruption
//! detected by the stream's checksums, injected failures leaving earlier checkpoints intact, one owner per
//! directory (B16), and errors after the rename (B12, B14). Crash consistency: tests/storage_crash.rs.

#[path = "common/sim_fs.rs"]
mod sim_fs;

use cow_state_table::backend::storage::{
    CheckpointSink, CheckpointStorage, DirectoryStorage, FailingStorage, MemoryStorage, StdFs, StorageError, StorageFs,
    DEFAULT_MAX_STATE_SIZE,
};
use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint, StreamError};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
use cow_state_table::serializer::{I32Serializer, I64Serializer, Serializers};
use cow_state_table::StateTable;
use sim_fs::SimFs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SERS: Serializers<I64Serializer, I32Serializer, I64Serializer> = Serializers {
    key: I64Serializer,
    namespace: I32Serializer,
    state: I64Serializer,
};

/// The lock file of a directory storage (left out of [`files`]).
const LOCK_FILE: &str = ".cowkeyed.lock";

/// A fresh directory under the target dir (removed first if a previous run left it).
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("storage-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect();
    names.sort();
    names
}

/// A table of `n` entries whose values depend on `seed`.
fn table(n: i64, seed: i64) -> StateTable<i64, i32, i64> {
    let mut t = StateTable::new();
    for k in 0..n {
        t.put(k, (k % 4) as i32, k * seed);
    }
    t
}

/// Writes checkpoint `id` of `t` into `storage`; the stream error if writing or committing failed.
fn checkpoint(storage: &dyn CheckpointStorage, id: u64, t: &mut StateTable<i64, i32, i64>) -> Result<u64, StreamError> {
    let context = KeyGroupContext::all(32).unwrap();
    let snapshot = t.snapshot().unwrap();
    let partition = KeyGroupPartition::new(&snapshot, context);
    let states = [StateMeta::new(0, "v", StateKind::Value, "i32", "i64")];
    let mut sink = storage
        .begin(id)
        .map_err(|e| StreamError::Io(std::io::Error::other(e)))?;
    let summary = write_stream(
        id,
        context,
        "i64",
        &states,
        &mut |_, kg, buf| partition.write_key_group(buf, kg, &SERS).map(|_| ()),
        &mut sink,
    )?;
    let location = sink.commit().map_err(|e| StreamError::Io(std::io::Error::other(e)))?;
    assert_eq!((location.id, location.bytes), (id, summary.bytes));
    Ok(summary.bytes)
}

/// Reads checkpoint `id` back and returns its entries, sorted.
fn restore(storage: &dyn CheckpointStorage, id: u64) -> Vec<(i64, i32, i64)> {
    let bytes = storage.read(id).unwrap();
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    assert_eq!(stream.checkpoint_id(), id);
    let mut out = Vec::new();
    for kg in stream.key_groups() {
        stream.decode_into(0, kg, &SERS, &mut out).unwrap();
    }
    out.sort_unstable();
    out
}

fn expected(n: i64, seed: i64) -> Vec<(i64, i32, i64)> {
    (0..n).map(|k| (k, (k % 4) as i32, k * seed)).collect()
}

#[test]
fn memory_cap_names_size_and_limit_and_keeps_nothing() {
    assert_eq!(MemoryStorage::new().max_size(), 5 * 1024 * 1024);
    assert_eq!(DEFAULT_MAX_STATE_SIZE, 5 * 1024 * 1024);
    let storage = MemoryStorage::with_max_size(4096);
    checkpoint(&storage, 1, &mut table(50, 3)).unwrap();
    let err = checkpoint(&storage, 2, &mut table(1000, 5)).unwrap_err();
    let StreamError::Io(io) = &err else { panic!("{err:?}") };
    let Some(&StorageError::TooLarge { size, limit }) = StorageError::from_io(io) else {
        panic!("{io:?}")
    };
    assert_eq!(limit, 4096);
    assert!(size > 4096, "{size}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{size} bytes")) && text.contains("4096 bytes"),
        "{text}"
    );
    // Nothing of checkpoint 2 is visible; checkpoint 1 is intact; id 2 can be retried.
    assert_eq!(storage.list().unwrap(), vec![1]);
    assert!(matches!(storage.read(2), Err(StorageError::NotFound { id: 2 })));
    assert_eq!(restore(&storage, 1), expected(50, 3));
    checkpoint(&storage, 2, &mut table(40, 5)).unwrap();
    assert_eq!(storage.list().unwrap(), vec![1, 2]);
    assert_eq!(restore(&storage, 2), expected(40, 5));
}

#[test]
fn memory_cap_boundary_and_sink_rules() {
    let storage = MemoryStorage::with_max_size(10);
    let mut sink = storage.begin(1).unwrap();
    sink.write_all(&[1; 10]).unwrap(); // exactly the limit
    assert_eq!(sink.commit().unwrap().bytes, 10);
    let mut sink = storage.begin(2).unwrap();
    sink.write_all(&[1; 10]).unwrap();
    let err = sink.write_all(&[1]).unwrap_err();
    assert!(matches!(
        StorageError::from_io(&err),
        Some(StorageError::TooLarge { size: 11, limit: 10 })
    ));
    // After a failure every write and the commit fail.
    assert!(sink.write(&[1]).is_err());
    assert!(matches!(sink.commit(), Err(StorageError::Failed { id: 2 })));
    // Dropped without commit: nothing.
    let mut sink = storage.begin(3).unwrap();
    sink.write_all(b"abc").unwrap();
    drop(sink);
    assert_eq!(storage.list().unwrap(), vec![1]);
    // An id that exists already.
    assert!(matches!(storage.begin(1), Err(StorageError::AlreadyExists { id: 1 })));
    // Shared between clones and threads.
    let clone = storage.clone();
    std::thread::spawn(move || {
        let mut s = clone.begin(4).unwrap();
        s.write_all(b"x").unwrap();
        s.commit().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(storage.list().unwrap(), vec![1, 4]);
    assert!(storage.remove(4));
    assert_eq!(storage.total_bytes(), 10);
}

#[test]
fn directory_round_trip_keep_last_and_listing() {
    let dir = temp_dir("keep");
    let storage = DirectoryStorage::open(&dir, 3).unwrap();
    assert_eq!(storage.keep_last(), 3);
    for id in 1..=5 {
        checkpoint(&storage, id * 10, &mut table(100, id as i64)).unwrap();
    }
    assert_eq!(storage.list().unwrap(), vec![30, 40, 50]);
    assert_eq!(
        files(&dir),
        vec![
            "chk-00000000000000000030.cowkeyed",
            "chk-00000000000000000040.cowkeyed",
            "chk-00000000000000000050.cowkeyed"
        ]
    );
    for id in [30, 40, 50] {
        assert_eq!(restore(&storage, id), expected(100, id as i64 / 10));
    }
    assert!(matches!(storage.read(10), Err(StorageError::NotFound { id: 10 })));
    assert!(matches!(
        storage.begin(50).err(),
        Some(StorageError::AlreadyExists { id: 50 })
    ));
    // Files of other shapes are not checkpoints.
    for name in [
        "chk-30.cowkeyed",
        "chk-0000000000000000003x.cowkeyed",
        "notes.txt",
        "chk-00000000000000000060.tmp",
    ] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    assert_eq!(storage.list().unwrap(), vec![30, 40, 50]);
    // keep_last = 0 keeps everything.
    let all = DirectoryStorage::open(temp_dir("all"), 0).unwrap();
    assert_eq!(all.keep_last(), 0);
    for id in 0..6 {
        checkpoint(&all, id, &mut table(5, 1)).unwrap();
    }
    assert_eq!(all.list().unwrap(), (0..6).collect::<Vec<_>>());
}

#[test]
fn directory_temp_files_never_listed_and_cleaned_on_open() {
    let dir = temp_dir("temp");
    let storage = DirectoryStorage::open(&dir, 2).unwrap();
    checkpoint(&storage, 1, &mut table(20, 1)).unwrap();
    let mut sink = storage.begin(2).unwrap();
    let bytes = storage.read(1).unwrap();
    sink.write_all(&bytes).unwrap();
    sink.flush().unwrap();
    // Written in full but not committed: a temporary file, not a checkpoint; flushed, so it holds every byte.
    let names = files(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    let temp = names
        .iter()
        .find(|n| n.starts_with(".chk-00000000000000000002.") && n.ends_with(".tmp"))
        .unwrap();
    assert_eq!(std::fs::read(dir.join(temp)).unwrap(), bytes);
    assert_eq!(storage.list().unwrap(), vec![1]);
    assert!(matches!(storage.read(2), Err(StorageError::NotFound { id: 2 })));
    // A second open meanwhile is refused, and deletes nothing (B16).
    assert!(matches!(
        DirectoryStorage::open(&dir, 2),
        Err(StorageError::Locked { .. })
    ));
    assert_eq!(files(&dir).len(), 2);
    // A crash: temporary files stay behind (here: copied under another writer's name before the sink and the
    // storage go away) ...
    std::fs::copy(dir.join(temp), dir.join(".chk-00000000000000000002.4242-0.tmp")).unwrap();
    std::fs::write(dir.join(".chk-00000000000000000009.77-0.tmp"), b"stale").unwrap();
    drop(sink);
    drop(storage);
    // Names with only the temporary prefix or only its suffix are someone else's files.
    std::fs::write(dir.join(".chk-notes"), b"keep").unwrap();
    std::fs::write(dir.join("draft.tmp"), b"keep").unwrap();
    assert_eq!(files(&dir).len(), 5);
    // ... and the next open deletes it, and only it.
    let reopened = DirectoryStorage::open(&dir, 2).unwrap();
    assert_eq!(
        files(&dir),
        vec![".chk-notes", "chk-00000000000000000001.cowkeyed", "draft.tmp"]
    );
    std::fs::remove_file(dir.join(".chk-notes")).unwrap();
    std::fs::remove_file(dir.join("draft.tmp")).unwrap();
    assert_eq!(reopened.list().unwrap(), vec![1]);
    // Dropping an uncommitted sink deletes its temporary file.
    let mut sink = reopened.begin(3).unwrap();
    sink.write_all(b"partial").unwrap();
    drop(sink);
    assert_eq!(files(&dir), vec!["chk-00000000000000000001.cowkeyed"]);
}

#[test]
fn directory_corrupted_file_detected_on_parse() {
    let dir = temp_dir("corrupt");
    let storage = DirectoryStorage::open(&dir, 5).unwrap();
    checkpoint(&storage, 7, &mut table(200, 2)).unwrap();
    let path = storage.path_of(7);
    let good = std::fs::read(&path).unwrap();
    for at in [0, 20, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let bytes = storage.read(7).unwrap();
        assert!(StreamCheckpoint::parse(&bytes).is_err(), "flip at {at} accepted");
    }
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(StreamCheckpoint::parse(&storage.read(7).unwrap()).is_err());
    std::fs::write(&path, &good).unwrap();
    assert_eq!(restore(&storage, 7), expected(200, 2));
}

#[test]
fn injected_write_failure_leaves_previous_checkpoint_intact() {
    for (name, inner) in [
        ("memory", Box::new(MemoryStorage::new()) as Box<dyn CheckpointStorage>),
        (
            "directory",
            Box::new(DirectoryStorage::open(temp_dir("inject"), 2).unwrap()),
        ),
    ] {
        let mut t = table(300, 1);
        let full = checkpoint(inner.as_ref(), 1, &mut t).unwrap();
        for fail_after in [0, 1, full / 3, full - 1] {
            let failing = FailingStorage::new(BoxedStorage(&*inner), fail_after);
            let err = checkpoint(&failing, 2, &mut table(300, 9)).unwrap_err();
            let StreamError::Io(io) = &err else {
                panic!("{name}: {err:?}")
            };
            assert!(
                matches!(
                    StorageError::from_io(io),
                    Some(StorageError::Injected { what: "write", .. })
                ),
                "{name}: {io:?}"
            );
            assert_eq!(inner.list().unwrap(), vec![1], "{name} after failing at {fail_after}");
            assert_eq!(restore(inner.as_ref(), 1), expected(300, 1), "{name}");
        }
        let failing = FailingStorage::fail_on_commit(BoxedStorage(&*inner));
        assert!(checkpoint(&failing, 2, &mut table(300, 9)).is_err());
        assert_eq!(inner.list().unwrap(), vec![1], "{name}");
        // Enough room: the checkpoint goes through the wrapper.
        let roomy = FailingStorage::new(BoxedStorage(&*inner), full * 2);
        checkpoint(&roomy, 2, &mut table(300, 9)).unwrap();
        assert_eq!(inner.list().unwrap(), vec![1, 2], "{name}");
        assert_eq!(restore(inner.as_ref(), 2), expected(300, 9));
    }
    assert_eq!(files(&temp_dir_path("inject")).len(), 2);
    assert!(!temp_dir_path("inject").join(LOCK_FILE).exists());
}

fn temp_dir_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("storage-{name}"))
}

/// A borrowed storage as a storage (to wrap the same one several times).
#[derive(Debug)]
struct BoxedStorage<'a>(&'a dyn CheckpointStorage);

impl CheckpointStorage for BoxedStorage<'_> {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        self.0.begin(id)
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.0.read(id)
    }
    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.0.list()
    }
}

#[test]
fn directory_concurrent_sinks() {
    let storage = DirectoryStorage::open(temp_dir("threads"), 0).unwrap();
    std::thread::scope(|s| {
        for id in 0..4u64 {
            let storage = storage.clone();
            s.spawn(move || checkpoint(&storage, id, &mut table(100, id as i64 + 1)).unwrap());
        }
    });
    assert_eq!(storage.list().unwrap(), vec![0, 1, 2, 3]);
    for id in 0..4 {
        assert_eq!(restore(&storage, id), expected(100, id as i64 + 1));
    }
}

#[test]
fn storages_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MemoryStorage>();
    send_sync::<DirectoryStorage>();
    send_sync::<FailingStorage<MemoryStorage>>();
    send_sync::<StorageError>();
    fn send<T: Send + ?Sized>() {}
    send::<Box<dyn CheckpointSink>>();
}

#[test]
fn directory_second_open_is_refused_while_a_checkpoint_is_in_flight() {
    let dir = temp_dir("lock");
    let storage = DirectoryStorage::open(&dir, 2).unwrap();
    let mut sink = storage.begin(1).unwrap();
    sink.write_all(b"in flight").unwrap();
    sink.flush().unwrap();
    // The second open fails (it used to delete the sink's temporary file) ...
    let err = DirectoryStorage::open(&dir, 2).unwrap_err();
    let StorageError::Locked { pid, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    assert!(err.to_string().contains("in use"), "{err}");
    assert_eq!(files(&dir).len(), 1);
    assert!(dir.join(LOCK_FILE).exists());
    // ... and the checkpoint in flight commits. The sink keeps the lock after the storage is dropped.
    drop(storage);
    assert!(matches!(
        DirectoryStorage::open(&dir, 2),
        Err(StorageError::Locked { .. })
    ));
    sink.commit().unwrap();
    assert!(!dir.join(LOCK_FILE).exists());
    let reopened = DirectoryStorage::open(&dir, 2).unwrap();
    assert_eq!(reopened.read(1).unwrap(), b"in flight");
    // Clones share the lock.
    let clone = reopened.clone();
    drop(reopened);
    assert!(matches!(
        DirectoryStorage::open(&dir, 2),
        Err(StorageError::Locked { .. })
    ));
    drop(clone);
    DirectoryStorage::open(&dir, 2).unwrap();
}

#[test]
fn directory_stale_lock_file_is_taken_over() {
    let dir = temp_dir("stale-lock");
    std::fs::create_dir_all(&dir).unwrap();
    // Left by an earlier process with this process's id (a restart), or torn by a crash: taken over.
    for content in [format!("pid {}\n", std::process::id()), String::new(), "garbage".into()] {
        std::fs::write(dir.join(LOCK_FILE), content).unwrap();
        let storage = DirectoryStorage::open(&dir, 2).unwrap();
        let held = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(held, format!("pid {}\n", std::process::id()));
        drop(storage);
        assert!(!dir.join(LOCK_FILE).exists());
    }
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        // A process that does not run: taken over. One that runs (pid 1 always does): refused.
        std::fs::write(dir.join(LOCK_FILE), format!("pid {}\n", u32::MAX)).unwrap();
        drop(DirectoryStorage::open(&dir, 2).unwrap());
        std::fs::write(dir.join(LOCK_FILE), "pid 1\n").unwrap();
        let err = DirectoryStorage::open(&dir, 2).unwrap_err();
        assert!(matches!(err, StorageError::Locked { pid: Some(1), .. }), "{err:?}");
        assert!(err.to_string().contains("process 1"), "{err}");
        assert!(dir.join(LOCK_FILE).exists());
    }
}

#[test]
fn directory_stale_lock_that_cannot_be_removed_is_an_error() {
    // A "lock file" that is a directory: stale (it names no process) but not removable. The error says so; it
    // is not reported as a lock held by someone.
    let dir = temp_dir("lock-dir");
    std::fs::create_dir_all(dir.join(LOCK_FILE)).unwrap();
    let err = DirectoryStorage::open(&dir, 2).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Io {
                op: "remove stale lock file",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn directory_where_no_lock_file_can_be_made_reports_the_creation() {
    // /proc takes no new files (the creation fails with `NotFound`): that error, not "locked by someone".
    if !(cfg!(target_os = "linux") && Path::new("/proc/self").exists()) {
        return;
    }
    let err = DirectoryStorage::open("/proc", 2).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Io {
                op: "create lock file",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn std_fs_reports_a_failed_directory_sync() {
    let dir = temp_dir("std-fs-sync");
    std::fs::create_dir_all(&dir).unwrap();
    StdFs.sync_dir(&dir).unwrap();
    let err = StdFs.sync_dir(&dir.join("missing")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

/// A stale lock file that another process removes first, between this open's look at it and its unlink: the
/// unlink's `NotFound` is that removal, and the open takes the lock. Made deterministic with a FIFO as the lock
/// file: reading it (to learn its holder) waits for the writer below, which unlinks it before it writes this
/// process's id (a stale holder: a restart with the same id) and closes it.
#[cfg(unix)]
#[test]
fn directory_stale_lock_removed_by_another_process_meanwhile_is_taken() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("lock-race");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join(LOCK_FILE);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !matches!(made, Ok(status) if status.success()) {
        eprintln!("no mkfifo here: the lock race is not checked");
        return;
    }
    let unlinked = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&unlinked).unwrap();
        std::fs::remove_file(&unlinked).unwrap();
        writeln!(pipe, "pid {}", std::process::id()).unwrap();
    });
    let storage = DirectoryStorage::open(&dir, 2);
    if std::fs::symlink_metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo()) {
        // The open never read the lock file: release the writer before failing.
        drop(std::fs::File::open(&fifo));
        writer.join().unwrap();
        panic!("the open did not read the lock file: {storage:?}");
    }
    writer.join().unwrap();
    let storage = storage.unwrap();
    assert_eq!(
        std::fs::read_to_string(&fifo).unwrap(),
        format!("pid {}\n", std::process::id())
    );
    drop(storage);
}

#[test]
fn directory_error_after_the_rename_says_committed_but_not_durable() {
    let fs = SimFs::new();
    let storage = DirectoryStorage::with_fs(Arc::new(fs.clone()), "/sim/d", 2).unwrap();
    // A new directory's entry is made durable too (its parent, and the parent's, were created and fsynced).
    let ops: Vec<String> = fs.history().into_iter().map(|(op, _)| op).collect();
    assert_eq!(ops, ["initial", "fsync directory /", "fsync directory /sim"]);
    let commit = |id: u64, bytes: &[u8]| {
        let mut sink = storage.begin(id).unwrap();
        sink.write_all(bytes).unwrap();
        sink.commit()
    };
    commit(1, b"one").unwrap();
    fs.fail_next("sync_dir");
    let err = commit(2, b"two").unwrap_err();
    let StorageError::NotDurable {
        id: 2,
        path,
        op: "fsync directory",
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*path, storage.path_of(2));
    assert!(err.to_string().contains("committed"), "{err}");
    // Committed: listed, readable, its id taken.
    assert_eq!(storage.list().unwrap(), vec![1, 2]);
    assert_eq!(storage.read(2).unwrap(), b"two");
    assert!(matches!(
        storage.begin(2).err(),
        Some(StorageError::AlreadyExists { id: 2 })
    ));
    // A failure to prune does not fail a durable commit: it is counted and retried.
    fs.fail_next("remove");
    let location = commit(3, b"three").unwrap();
    assert_eq!(location.id, 3);
    assert_eq!(storage.prune_failures(), 1);
    assert_eq!(storage.list().unwrap(), vec![1, 2, 3]);
    fs.fail_next("remove");
    assert!(matches!(
        storage.prune(),
        Err(StorageError::Io {
            op: "remove old checkpoint",
            ..
        })
    ));
    assert_eq!(storage.prune().unwrap(), 1);
    assert_eq!(storage.list().unwrap(), vec![2, 3]);
    commit(4, b"four").unwrap();
    assert_eq!(storage.list().unwrap(), vec![3, 4]);
    assert_eq!(storage.prune_failures(), 1);
    // An error before the rename leaves nothing: no name, no temporary file.
    fs.fail_next("fsync");
    assert!(matches!(commit(5, b"five"), Err(StorageError::Io { op: "fsync", .. })));
    assert_eq!(storage.list().unwrap(), vec![3, 4]);
    assert_eq!(fs.state().names(Path::new("/sim/d")).len(), 2);
    // A checkpoint that someone else removed first (listed, then gone before its unlink) counts as pruned, in a
    // commit's pruning and in an explicit one.
    fs.race_next_remove();
    commit(5, b"five").unwrap();
    assert_eq!(storage.prune_failures(), 1);
    assert_eq!(storage.list().unwrap(), vec![4, 5]);
    fs.fail_next("remove");
    commit(6, b"six").unwrap();
    assert_eq!(storage.prune_failures(), 2);
    fs.race_next_remove();
    assert_eq!(storage.prune().unwrap(), 1);
    assert_eq!(storage.list().unwrap(), vec![5, 6]);
}

#[test]
fn failing_storage_reads_lists_and_flushes_through_the_wrapped_storage() {
    let dir = temp_dir("failing-through");
    let inner = DirectoryStorage::open(&dir, 0).unwrap();
    for id in [3, 5] {
        checkpoint(&inner, id, &mut table(10, id as i64)).unwrap();
    }
    let failing = FailingStorage::new(inner.clone(), u64::MAX);
    assert_eq!(failing.list().unwrap(), vec![3, 5]);
    assert_eq!(failing.read(5).unwrap(), inner.read(5).unwrap());
    assert!(matches!(failing.read(4), Err(StorageError::NotFound { id: 4 })));
    // A flush reaches the wrapped sink: the bytes are in its temporary file before the commit.
    let mut sink = failing.begin(7).unwrap();
    sink.write_all(b"not yet committed").unwrap();
    sink.flush().unwrap();
    let temp = files(&dir).into_iter().find(|n| n.ends_with(".tmp")).unwrap();
    assert_eq!(std::fs::read(dir.join(temp)).unwrap(), b"not yet committed");
}
