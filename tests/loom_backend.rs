//! Loom models of the keyed state backend's checkpoint lifecycle (issue 22, item 4; docs/DESIGN.md B8, B21, B22,
//! B25, B26): the backend on `LoomSync` tables, its pending checkpoints' lock and flag and the asynchronous part's
//! thread on the same seam (B25), so every lock, try-lock, flag access, spawn and join of the lifecycle — and every
//! atomic of the tables' copy-on-write under it — is an interleaving point. Each model is exhaustive at the
//! preemption bound (3 by default; `LOOM_MAX_PREEMPTIONS` overrides it, `scripts/loom_backend.sh` runs 16).
//!
//! What each model asserts after its threads are joined: a checkpoint that committed restores exactly the contents
//! captured at its synchronous part; one that did not left nothing in storage; nothing is committed after `close`
//! or a handle's drop / cancel returned; no snapshot is held once every party has let go (`live_snapshots`, and
//! loom's own leak check of the tables' registries, which the snapshots share). Reach counters (over all
//! interleavings) make sure both outcomes of each race were explored.
//!
//! Run: `CARGO_TARGET_DIR=target/loom cargo test --release --features loom --test loom_backend`
//! (`-- --nocapture --test-threads=1` prints the interleaving counts).

use cow_state_table::backend::storage::{
    CheckpointLocation, CheckpointSink, CheckpointStorage, MemoryStorage, StorageError,
};
use cow_state_table::backend::{CheckpointError, KeyedStateBackend, ValueState, ValueStateDescriptor};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::sync::{LoomSync, Primitives, StdSync};
use cow_state_table::DeterministicState;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

const PREEMPTION_BOUND: usize = 3;
/// Two key groups, both owned: the asynchronous part checks its flags before each and before the commit.
const MAX_PAR: u32 = 2;
const KEYS: u64 = 2;

fn model<F>(name: &str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
    }
    let iterations = Arc::new(AtomicUsize::new(0));
    let count = iterations.clone();
    builder.check(move || {
        count.fetch_add(1, Relaxed);
        f()
    });
    println!(
        "{name}: explored {} interleavings (preemption bound {:?})",
        iterations.load(Relaxed),
        builder.preemption_bound
    );
}

type Backend<P> = KeyedStateBackend<u64, U64Serializer, DeterministicState, P>;
type Model = BTreeMap<u64, u64>;

fn backend<P: Primitives>() -> (Backend<P>, ValueState<u32, u64>) {
    let mut b: Backend<P> =
        KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
    let v = b
        .register_value(ValueStateDescriptor::new("value", U32Serializer, U64Serializer))
        .unwrap();
    (b, v)
}

fn write(b: &mut Backend<LoomSync>, v: &ValueState<u32, u64>, m: &mut Model, key: u64, x: u64) {
    b.set_current_key(key).unwrap();
    v.update(b, x).unwrap();
    m.insert(key, x);
}

/// A backend holding `key → key + 1` for every key, and its model.
fn filled() -> (Backend<LoomSync>, ValueState<u32, u64>, Model) {
    let (mut b, v) = backend::<LoomSync>();
    let mut m = Model::new();
    for key in 0..KEYS {
        write(&mut b, &v, &mut m, key, key + 1);
    }
    (b, v, m)
}

/// Restores checkpoint `id` (on std primitives: the restore is single-threaded) and compares it with `expected`.
fn verify(storage: &dyn CheckpointStorage, id: u64, expected: &Model) {
    let (mut r, v) = backend::<StdSync>();
    r.restore_from(storage, &[id]).unwrap();
    for key in 0..KEYS {
        r.set_current_key(key).unwrap();
        assert_eq!(v.value(&r).unwrap(), expected.get(&key), "checkpoint {id}, key {key}");
    }
    assert_eq!(r.state_len("value"), Some(expected.len()), "checkpoint {id}");
}

/// What storage holds after checkpoint `id` ended with `outcome`: the checkpoint, restoring to `expected`, if it
/// committed; nothing of it otherwise. Counts the outcome in `reach`.
fn check_outcome(
    storage: &dyn CheckpointStorage,
    id: u64,
    outcome: Result<(), CheckpointError>,
    expected: &Model,
    reach: &Reach,
) {
    match outcome {
        Ok(()) => {
            assert_eq!(storage.list().unwrap(), vec![id]);
            verify(storage, id, expected);
            reach.committed.fetch_add(1, Relaxed);
        }
        Err(CheckpointError::Cancelled { id: got }) => {
            assert_eq!(got, id);
            assert!(
                storage.list().unwrap().is_empty(),
                "a cancelled checkpoint left bytes in storage"
            );
            reach.cancelled.fetch_add(1, Relaxed);
        }
        Err(e) => panic!("checkpoint {id}: {e}"),
    }
}

/// Outcomes over all interleavings of one model.
#[derive(Debug)]
struct Reach {
    committed: AtomicUsize,
    cancelled: AtomicUsize,
    /// Cancelled after the storage's `begin`: the sink was dropped uncommitted.
    abandoned_sinks: AtomicUsize,
}

impl Reach {
    const fn new() -> Self {
        Reach {
            committed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            abandoned_sinks: AtomicUsize::new(0),
        }
    }

    fn assert_both(&self, name: &str) {
        let (c, x) = (self.committed.load(Relaxed), self.cancelled.load(Relaxed));
        println!(
            "{name}: {c} committed, {x} cancelled ({} after begin)",
            self.abandoned_sinks.load(Relaxed)
        );
        assert!(c > 0, "{name}: no interleaving committed");
        assert!(x > 0, "{name}: no interleaving cancelled");
    }
}

/// A memory storage whose sinks count, in `reach`, being dropped uncommitted (a cancel after `begin`).
#[derive(Debug)]
struct Probe {
    inner: MemoryStorage,
    reach: &'static Reach,
}

impl Probe {
    fn new(reach: &'static Reach) -> Arc<Self> {
        Arc::new(Probe {
            inner: MemoryStorage::new(),
            reach,
        })
    }
}

impl CheckpointStorage for Probe {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        Ok(Box::new(ProbeSink {
            inner: Some(self.inner.begin(id)?),
            reach: self.reach,
        }))
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read(id)
    }
    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

struct ProbeSink {
    inner: Option<Box<dyn CheckpointSink>>,
    reach: &'static Reach,
}

impl Write for ProbeSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.as_mut().expect("sink in use").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.as_mut().expect("sink in use").flush()
    }
}

impl CheckpointSink for ProbeSink {
    fn commit(mut self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        self.inner.take().expect("sink in use").commit()
    }
}

impl Drop for ProbeSink {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.reach.abandoned_sinks.fetch_add(1, Relaxed);
        }
    }
}

/// B8: the pending checkpoint moved to another thread, which runs it (or only drops it) while the writer updates a
/// key its snapshot shares; the snapshot is released from that thread either way.
#[test]
fn pending_snapshots_released_from_another_thread() {
    for run in [true, false] {
        model(&format!("released from another thread (run: {run})"), move || {
            let (mut b, v, mut m) = filled();
            let pending = b.checkpoint(1).unwrap();
            let expected = m.clone();
            assert_eq!(b.live_snapshots(), 1);
            let storage = Arc::new(MemoryStorage::new());
            let st = storage.clone();
            let t = loom::thread::spawn(move || {
                if run {
                    pending.run(&*st).map(|_| ())
                } else {
                    drop(pending);
                    Ok(())
                }
            });
            write(&mut b, &v, &mut m, 0, 20); // copy-on-write, or in place once released
            let outcome = t.join().unwrap();
            assert_eq!(b.live_snapshots(), 0, "the other thread released the snapshot");
            if run {
                outcome.unwrap();
                verify(&*storage, 1, &expected);
            } else {
                assert!(storage.list().unwrap().is_empty());
            }
            for (key, x) in &m {
                b.set_current_key(*key).unwrap();
                assert_eq!(v.value(&b).unwrap(), Some(x), "the writer's own state");
            }
        });
    }
}

/// B26: the handle's `cancel` racing the asynchronous part's key groups (two) and its commit. Either the part
/// committed first (the checkpoint restores exactly) or it stopped (storage keeps nothing); either way nothing is
/// committed after `cancel` returned and no snapshot is held.
#[test]
fn cancel_races_the_last_key_group() {
    static REACH: Reach = Reach::new();
    model("cancel races the last key group", || {
        let (mut b, v, mut m) = filled();
        let expected = m.clone();
        let storage = Probe::new(&REACH);
        let handle = b.checkpoint(1).unwrap().spawn(storage.clone());
        write(&mut b, &v, &mut m, 1, 30);
        let outcome = handle.cancel().map(|_| ());
        assert_eq!(b.live_snapshots(), 0, "cancel returned with the snapshot held");
        check_outcome(&*storage, 1, outcome, &expected, &REACH);
    });
    REACH.assert_both("cancel races the last key group");
    assert!(
        REACH.abandoned_sinks.load(Relaxed) > 0,
        "no interleaving cancelled the part between its begin and its commit"
    );
}

/// Who lets go of a spawned checkpoint first.
#[derive(Debug, Clone, Copy)]
enum Order {
    BackendThenHandle,
    HandleThenBackend,
    /// The handle dropped on another thread while the backend is dropped on this one.
    Concurrently,
}

/// B22, B26: the backend and the handle of a spawned checkpoint dropped in every order, the part running all the
/// while. Dropping the handle joins (after it nothing changes in storage, no snapshot is held); dropping the backend
/// cancels without waiting. Afterwards the checkpoint either committed exactly or left nothing; loom's leak check
/// sees every table registry freed, so no snapshot outlived both.
#[test]
fn backend_and_handle_dropped_in_every_order() {
    static REACH: [Reach; 3] = [Reach::new(), Reach::new(), Reach::new()];
    for (i, order) in [Order::BackendThenHandle, Order::HandleThenBackend, Order::Concurrently]
        .into_iter()
        .enumerate()
    {
        let name = format!("dropped in order {order:?}");
        model(&name, move || {
            let reach = &REACH[i];
            let (mut b, v, mut m) = filled();
            let expected = m.clone();
            let storage = Probe::new(reach);
            let handle = b.checkpoint(1).unwrap().spawn(storage.clone());
            write(&mut b, &v, &mut m, 0, 40);
            match order {
                Order::BackendThenHandle => {
                    drop(b);
                    drop(handle);
                }
                Order::HandleThenBackend => {
                    drop(handle);
                    assert_eq!(
                        b.live_snapshots(),
                        0,
                        "the handle's drop returned with the snapshot held"
                    );
                    let after = storage.list().unwrap();
                    drop(b);
                    assert_eq!(storage.list().unwrap(), after);
                }
                Order::Concurrently => {
                    let t = loom::thread::spawn(move || drop(handle));
                    drop(b);
                    t.join().unwrap();
                }
            }
            // Every party has let go and the part's thread is joined (the handle's drop).
            let outcome = match storage.list().unwrap().as_slice() {
                [] => Err(CheckpointError::Cancelled { id: 1 }),
                _ => Ok(()),
            };
            check_outcome(&*storage, 1, outcome, &expected, reach);
        });
        REACH[i].assert_both(&name);
    }
}

/// B21: `close` racing a spawned part. When `close` returns the part has ended: nothing is committed after it, no
/// snapshot is held, and the handle reports what happened.
#[test]
fn close_joins_the_spawned_part() {
    static REACH: Reach = Reach::new();
    model("close joins the spawned part", || {
        let (mut b, v, mut m) = filled();
        let expected = m.clone();
        let storage = Probe::new(&REACH);
        let handle = b.checkpoint(1).unwrap().spawn(storage.clone());
        write(&mut b, &v, &mut m, 1, 50);
        b.close();
        assert_eq!(b.live_snapshots(), 0);
        let after = storage.list().unwrap();
        let outcome = handle.wait().map(|_| ());
        assert_eq!(
            storage.list().unwrap(),
            after,
            "a checkpoint committed after close returned"
        );
        check_outcome(&*storage, 1, outcome, &expected, &REACH);
    });
    REACH.assert_both("close joins the spawned part");
}
