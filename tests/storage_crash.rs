//! Crash consistency of `DirectoryStorage` (docs/DESIGN.md, B11–B17; docs/MODEL_CHECKING.md, "Crash consistency
//! of the storage"): each workload runs once on a simulated file system (tests/common/sim_fs.rs) that records
//! every operation; then, for every prefix of those operations (every crash point) and every state a POSIX file
//! system may be in after a crash there (unsynced names lost or kept, unsynced data lost, kept, torn or
//! zero-filled), a new storage opens the result and must find:
//!
//! * the latest checkpoint whose commit returned `Ok` listed, and every checkpoint retention promised to keep
//!   (a committed checkpoint may be missing only if `keep_last` newer ones are listed);
//! * every listed checkpoint reading back exactly the bytes written for it (no torn, partial, zero-filled or
//!   overwritten file is ever listed or read);
//! * no temporary file left once open returns, and a new checkpoint committing and reading back;
//! * the same again after a second crash at any step of that recovery (open's cleanup, the new commit).

#[path = "common/sim_fs.rs"]
mod sim_fs;

use cow_state_table::backend::storage::{CheckpointSink, CheckpointStorage, DirectoryStorage, StorageError};
use sim_fs::{crash_states, SimFs, State};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const DIR: &str = "/sim/checkpoints";

/// The bytes of checkpoint `id` written by attempt `attempt`: distinct per id and attempt, of varying length.
fn content(id: u64, attempt: u8) -> Vec<u8> {
    let len = 150 + (id as usize * 37) % 200;
    (0..len)
        .map(|i| (i as u64 * 31 + id * 7 + u64::from(attempt) * 101) as u8 | 1)
        .collect()
}

fn final_path(id: u64) -> PathBuf {
    Path::new(DIR).join(format!("chk-{id:020}.cowkeyed"))
}

fn temp_path(id: u64, owner: &str) -> PathBuf {
    Path::new(DIR).join(format!(".chk-{id:020}.{owner}.tmp"))
}

/// A sink of `storage` for `id` holding attempt `attempt`'s bytes, written in two flushed parts (two writes).
fn written(storage: &DirectoryStorage, id: u64, attempt: u8) -> Result<Box<dyn CheckpointSink>, StorageError> {
    let bytes = content(id, attempt);
    let mut sink = storage.begin(id)?;
    let (a, b) = bytes.split_at(bytes.len() / 3);
    sink.write_all(a).unwrap();
    sink.flush().unwrap();
    sink.write_all(b).unwrap();
    Ok(sink)
}

/// One recorded run: the file system's history; for each commit that returned `Ok`, the number of operations
/// done by then and the id; what the workload saw go wrong without a crash.
struct Run {
    keep_last: usize,
    history: Vec<(String, State)>,
    committed: Vec<(usize, u64)>,
    violations: Vec<String>,
}

/// What a workload reports while it runs.
struct Log<'a> {
    fs: &'a SimFs,
    storage: &'a DirectoryStorage,
    committed: Vec<(usize, u64)>,
    violations: Vec<String>,
}

impl Log<'_> {
    /// Commits attempt 0 of `id` and records it as committed after the operations done so far.
    fn commit(&mut self, id: u64) {
        let location = written(self.storage, id, 0).unwrap().commit().unwrap();
        assert_eq!((location.id, location.bytes), (id, content(id, 0).len() as u64));
        self.committed.push((self.fs.ops(), id));
    }
}

/// Runs `workload` on a recording file system starting in `initial`, where `already` are committed.
fn record(initial: State, already: &[u64], keep_last: usize, workload: impl FnOnce(&mut Log<'_>)) -> Run {
    let fs = SimFs::from_state(initial, true);
    let storage = DirectoryStorage::with_fs(Arc::new(fs.clone()), DIR, keep_last).unwrap();
    let mut log = Log {
        fs: &fs,
        storage: &storage,
        committed: already.iter().map(|&id| (0, id)).collect(),
        violations: Vec::new(),
    };
    workload(&mut log);
    let (committed, violations) = (log.committed, log.violations);
    drop(storage);
    Run {
        keep_last,
        history: fs.history(),
        committed,
        violations,
    }
}

/// What a storage opened on `state` must show, given the checkpoints committed (`Ok` returned) before the crash.
/// With `again`, the recovery itself (open's cleanup, a new commit) is crashed at every step and checked too;
/// the number of crash states checked.
fn check_recovery(state: State, keep_last: usize, committed: &[u64], again: bool) -> Result<usize, String> {
    let fs = SimFs::from_state(state, again);
    let storage = DirectoryStorage::with_fs(Arc::new(fs.clone()), DIR, keep_last)
        .map_err(|e| format!("open after the crash failed: {e}"))?;
    let temps: Vec<String> = fs
        .state()
        .names(Path::new(DIR))
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    if !temps.is_empty() {
        return Err(format!("temporary files left after open: {temps:?}"));
    }
    let listed = storage.list().map_err(|e| e.to_string())?;
    for &id in &listed {
        let bytes = storage.read(id).map_err(|e| format!("listed {id} unreadable: {e}"))?;
        if bytes != content(id, 0) {
            return Err(format!(
                "checkpoint {id} listed but not as committed: {} bytes, expected {} ({})",
                bytes.len(),
                content(id, 0).len(),
                if bytes == content(id, 1) {
                    "overwritten by a later attempt"
                } else {
                    "torn or partial"
                }
            ));
        }
    }
    if let Some(&latest) = committed.last() {
        if !listed.contains(&latest) {
            return Err(format!("latest committed checkpoint {latest} lost; listed {listed:?}"));
        }
    }
    // Retention deletes a committed checkpoint only once `keep_last` newer ones exist (durably: pruning follows
    // the directory fsync of the commit that triggers it).
    for &id in committed {
        let newer = listed.iter().filter(|&&l| l > id).count();
        if !listed.contains(&id) && (keep_last == 0 || newer < keep_last) {
            return Err(format!(
                "checkpoint {id} lost although retention keeps it (committed {committed:?}, listed {listed:?})"
            ));
        }
    }
    // The recovered storage works: a new checkpoint commits and reads back.
    // (A second recovery may find the first one's checkpoint, committed or not: it uses another id.)
    let next = if again { 1000 } else { 1001 };
    let location = written(&storage, next, 0)
        .and_then(|sink| sink.commit())
        .map_err(|e| format!("commit after recovery failed: {e}"))?;
    if location.id != next || storage.read(next).map_err(|e| e.to_string())? != content(next, 0) {
        return Err("checkpoint committed after recovery does not read back".into());
    }
    let ok_at = fs.ops();
    drop(storage);
    let mut states = 1;
    if again {
        for (point, (op, state)) in fs.history().iter().enumerate().skip(1) {
            let mut committed = committed.to_vec();
            if point >= ok_at {
                committed.push(next);
            }
            for (outcome, recovered) in crash_states(state) {
                states += check_recovery(recovered, keep_last, &committed, false)
                    .map_err(|why| format!("second crash after recovery op {point} ({op}), {outcome}: {why}"))?;
            }
        }
    }
    Ok(states)
}

/// Crashes `run` after every prefix of its operations, checks every possible outcome, and crashes each
/// recovery again at every step; the number of crash states checked. Panics listing the first failures.
fn crash_everywhere(name: &str, run: &Run) -> usize {
    let start = Instant::now();
    let (mut first, mut states) = (0, 0);
    // Failures found after one crash, and (for outcomes that pass those checks) after a second one.
    let (mut failures, mut second) = (Vec::new(), 0);
    for (point, (op, state)) in run.history.iter().enumerate() {
        let committed: Vec<u64> = run
            .committed
            .iter()
            .filter(|&&(ops, _)| ops <= point)
            .map(|&(_, id)| id)
            .collect();
        for (outcome, recovered) in crash_states(state) {
            first += 1;
            let at = format!("crash after op {point} ({op}), {outcome}");
            if let Err(why) = check_recovery(recovered.clone(), run.keep_last, &committed, false) {
                failures.push(format!("{at}: {why}"));
                continue;
            }
            match check_recovery(recovered, run.keep_last, &committed, true) {
                Ok(n) => states += n - 1,
                Err(why) => {
                    second += 1;
                    failures.push(format!("{at}: {why}"));
                }
            }
        }
    }
    eprintln!(
        "{name}: {} crash points, {first} first crash states, {} states in all, {} failures ({second} only after \
         a second crash), {:.2?}",
        run.history.len(),
        first + states,
        failures.len(),
        start.elapsed()
    );
    if !failures.is_empty() || !run.violations.is_empty() {
        let ops: Vec<String> = run
            .history
            .iter()
            .enumerate()
            .map(|(i, (op, _))| format!("{i}: {op}"))
            .collect();
        panic!(
            "{name}: without a crash: {:?}; {} of {first} first crash states fail ({second} only after a second \
             crash); first ones:\n{}\noperations:\n{}",
            run.violations,
            failures.len(),
            failures.iter().take(8).cloned().collect::<Vec<_>>().join("\n"),
            ops.join("\n")
        );
    }
    first + states
}

/// Commits, an abandoned sink, attempts to replace a completed checkpoint (a second begin of its id; two sinks
/// of one id committed one after the other), and retention, from an empty directory.
fn commits_and_retention(keep_last: usize) -> Run {
    record(State::default(), &[], keep_last, |log| {
        for id in 1..=3 {
            log.commit(id);
        }
        drop(written(log.storage, 4, 0).unwrap()); // abandoned: its temporary file is removed
                                                   // B13: no commit replaces a completed checkpoint. begin refuses the id; if it did not, the commit must.
        if let Ok(sink) = written(log.storage, 3, 1) {
            if sink.commit().is_ok() {
                log.violations.push("checkpoint 3 committed a second time".into());
            }
        }
        let first = written(log.storage, 5, 0).unwrap();
        let second = written(log.storage, 5, 1); // may be refused while the first is in flight
        first.commit().unwrap();
        log.committed.push((log.fs.ops(), 5));
        if let Ok(second) = second {
            if !matches!(second.commit(), Err(StorageError::AlreadyExists { id: 5 })) {
                log.violations
                    .push("the second sink of checkpoint 5 did not fail with AlreadyExists".into());
            }
        }
        log.commit(6);
        let expected: Vec<u64> = if keep_last == 0 {
            vec![1, 2, 3, 5, 6]
        } else {
            vec![5, 6]
        };
        assert_eq!(log.storage.list().unwrap(), expected);
        assert_eq!(log.storage.prune_failures(), 0);
    })
}

#[test]
fn crash_during_commits_and_retention() {
    let total = crash_everywhere("keep_last 2", &commits_and_retention(2))
        + crash_everywhere("keep_last 0", &commits_and_retention(0));
    assert!(total > 500, "{total}");
}

#[test]
fn crash_during_stale_temp_cleanup_at_open() {
    // Checkpoints 1 and 2 and a stranger's file are durable; temporary files of a crashed writer (one complete,
    // one torn) are left over.
    let (one, two, three, seven) = (content(1, 0), content(2, 0), content(3, 0), content(7, 0));
    let initial = State::with_files([
        (final_path(1), &one[..]),
        (final_path(2), &two[..]),
        (temp_path(3, "4242-0"), &three[..]),
        (temp_path(7, "4242-1"), &seven[..20]),
        (Path::new(DIR).join("notes.txt"), &b"not a checkpoint"[..]),
    ]);
    let run = record(initial, &[1, 2], 2, |log| {
        assert_eq!(log.storage.list().unwrap(), vec![1, 2]);
        log.commit(3);
        log.commit(4);
        assert_eq!(log.storage.list().unwrap(), vec![3, 4]);
    });
    // The crash points include the removals done by open (the run's first operations).
    assert!(run
        .history
        .iter()
        .take(3)
        .all(|(op, _)| op == "initial" || op.starts_with("unlink .chk-")));
    crash_everywhere("stale temporaries", &run);
    let names: BTreeSet<String> = run
        .history
        .last()
        .unwrap()
        .1
        .names(Path::new(DIR))
        .into_iter()
        .collect();
    assert!(names.contains("notes.txt"), "{names:?}");
}

#[test]
fn the_simulation_tears_what_is_not_synced() {
    // Self-check of the model: a file created (name synced), then written and renamed without fsync may come
    // back under either name, both or none, with its data lost, torn or zero-filled; after both fsyncs, only
    // one state remains.
    let fs = SimFs::from_state(State::with_files([(final_path(1), &b"one"[..])]), true);
    use cow_state_table::backend::storage::StorageFs;
    let (temp, target) = (temp_path(2, "x"), final_path(2));
    let mut file = fs.create_new(&temp).unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    assert_eq!(crash_states(&fs.state()).len(), 1);
    file.write_all(b"abcdef").unwrap();
    fs.rename(&temp, &target).unwrap();
    let outcomes = crash_states(&fs.state());
    let seen: BTreeSet<(bool, bool, Vec<u8>)> = outcomes
        .iter()
        .map(|(_, s)| {
            let data = s
                .live
                .get(&target)
                .or(s.live.get(&temp))
                .map(|&i| s.inodes[i].data.clone());
            (
                s.live.contains_key(&temp),
                s.live.contains_key(&target),
                data.unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        (false, false, vec![]),
        (true, false, vec![]),
        (true, false, b"abcdef".to_vec()),
        (false, true, vec![]),
        (false, true, b"abc".to_vec()),
        (false, true, b"abcde".to_vec()),
        (false, true, vec![0; 6]),
        (true, true, b"abcdef".to_vec()),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not among {seen:?}");
    }
    file.sync_all().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    let outcomes = crash_states(&fs.state());
    assert_eq!(outcomes.len(), 1);
    let s = &outcomes[0].1;
    assert_eq!(s.inodes[s.live[&target]].data, b"abcdef");
    assert!(!s.live.contains_key(&temp));
    assert_eq!(s.inodes[s.live[&final_path(1)]].data, b"one");
}
