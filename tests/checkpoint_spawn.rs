//! `CheckpointError::Spawn` (docs/DESIGN.md B26): when the asynchronous part's thread cannot be started,
//! `PendingCheckpoint::spawn` runs nothing, releases the snapshots, never panics, and the handle's `wait` /
//! `cancel` report the builder's error. The failure is injected through the primitives seam (B25): `NoThreads` is
//! `StdSync` in every type, but its `spawn` refuses, as `std::thread::Builder::spawn` does when the system is out
//! of threads or memory.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::{CheckpointError, KeyedStateBackend, ValueState, ValueStateDescriptor};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::sync::{Primitives, StdSync};
use cow_state_table::DeterministicState;
use std::sync::Arc;

/// `StdSync` whose `spawn` always fails.
#[derive(Debug)]
struct NoThreads;

const REFUSAL: &str = "no thread for you";

// SAFETY: every associated type is `StdSync`'s, which meets items 1–5 of the trait's contract (src/sync/mod.rs);
// item 6 holds vacuously, since `spawn` never starts a thread and so never hands out a `JoinHandle` (B25).
unsafe impl Primitives for NoThreads {
    type AtomicU64 = <StdSync as Primitives>::AtomicU64;
    type Mutex<T> = <StdSync as Primitives>::Mutex<T>;
    type Arc<T> = <StdSync as Primitives>::Arc<T>;
    type UnsafeCell<T> = <StdSync as Primitives>::UnsafeCell<T>;
    type JoinHandle<T: Send + 'static> = <StdSync as Primitives>::JoinHandle<T>;

    fn spawn<F, T>(_name: String, _f: F) -> std::io::Result<Self::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, REFUSAL))
    }
}

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState, NoThreads>;

fn filled() -> (Backend, ValueState<u32, u64>) {
    let mut b: Backend = KeyedStateBackend::new(U64Serializer, 4, KeyGroupRange::of(0, 3).unwrap()).unwrap();
    let v = b
        .register_value(ValueStateDescriptor::new("value", U32Serializer, U64Serializer))
        .unwrap();
    for key in 0..8u64 {
        b.set_current_key(key).unwrap();
        v.update(&mut b, key * 10).unwrap();
    }
    (b, v)
}

fn assert_spawn_error(outcome: Result<impl std::fmt::Debug, CheckpointError>, id: u64) {
    match outcome {
        Err(CheckpointError::Spawn { id: got, ref source }) => {
            assert_eq!(got, id);
            assert_eq!(source.kind(), std::io::ErrorKind::OutOfMemory);
            assert_eq!(source.to_string(), REFUSAL);
            let message = outcome.as_ref().unwrap_err().to_string();
            assert!(message.contains(&format!("checkpoint {id}")), "{message}");
            assert!(message.contains(REFUSAL), "{message}");
        }
        other => panic!("expected CheckpointError::Spawn for checkpoint {id}, got {other:?}"),
    }
}

/// B26: the failed spawn releases the snapshots at once, commits nothing, and `wait` reports it; the backend
/// goes on (a checkpoint run on the caller's thread succeeds).
#[test]
fn failed_spawn_is_reported_by_wait_and_releases_the_snapshots() {
    let (mut b, v) = filled();
    let storage = Arc::new(MemoryStorage::new());
    let pending = b.checkpoint(1).unwrap();
    assert_eq!(b.live_snapshots(), 1);
    let handle = pending.spawn(storage.clone());
    assert_eq!(b.live_snapshots(), 0, "the pending checkpoint was dropped");
    assert_eq!(handle.id(), 1);
    assert!(handle.is_finished(), "nothing runs");
    assert!(!handle.is_cancelled());
    assert_spawn_error(handle.wait(), 1);
    assert!(storage.list().unwrap().is_empty(), "nothing was committed");

    // The writer is unaffected: it updates in place (no snapshot shares the entry) and checkpoints again.
    b.set_current_key(3).unwrap();
    v.update(&mut b, 99).unwrap();
    b.checkpoint(2).unwrap().run(&*storage).unwrap();
    assert_eq!(storage.list().unwrap(), vec![2]);
    let mut r: KeyedStateBackend<u64, U64Serializer, DeterministicState, StdSync> =
        KeyedStateBackend::new(U64Serializer, 4, KeyGroupRange::of(0, 3).unwrap()).unwrap();
    let rv = r
        .register_value(ValueStateDescriptor::new("value", U32Serializer, U64Serializer))
        .unwrap();
    r.restore_from(&*storage as &dyn CheckpointStorage, &[2]).unwrap();
    for key in 0..8u64 {
        r.set_current_key(key).unwrap();
        let want = if key == 3 { 99 } else { key * 10 };
        assert_eq!(rv.value(&r).unwrap(), Some(&want), "key {key}");
    }
}

/// B26: `cancel` of a handle whose thread never started reports the spawn failure (not `Cancelled`: the part
/// never ran), and so does a handle that outlives its backend.
#[test]
fn failed_spawn_is_reported_by_cancel_and_after_the_backend_is_gone() {
    let (mut b, _v) = filled();
    let storage = Arc::new(MemoryStorage::new());
    let handle = b.checkpoint(7).unwrap().spawn(storage.clone());
    assert_spawn_error(handle.cancel(), 7);

    let handle = b.checkpoint(8).unwrap().spawn(storage.clone());
    drop(b);
    assert!(!format!("{handle:?}").is_empty());
    assert_spawn_error(handle.wait(), 8);
    assert!(storage.list().unwrap().is_empty());
}

/// B26: dropping the handle of a failed spawn neither panics nor blocks, and releases nothing twice.
#[test]
fn failed_spawn_handle_drops_quietly() {
    let (mut b, _v) = filled();
    let storage = Arc::new(MemoryStorage::new());
    drop(b.checkpoint(1).unwrap().spawn(storage.clone()));
    assert_eq!(b.live_snapshots(), 0);
    b.close();
    assert!(storage.list().unwrap().is_empty());
}
