//! Shuttle model of the keyed state backend's asynchronous checkpoints (issue 10; docs/DESIGN.md B7–B9): the
//! writer (the test's main thread) and two checkpoint threads in flight at once, plus a third checkpoint that is
//! cancelled mid-way, all on `ShuttleSync` tables, so every atomic of the tables' copy-on-write is a scheduling
//! point. Every checkpoint that commits is restored and must equal the model captured at its synchronous part;
//! a cancelled one must leave nothing in storage; when all threads are joined, every snapshot is released.
//!
//! A second scenario runs a TTL value state (docs/DESIGN.md T5, T6): its checkpoint is taken while the table
//! grows (an incremental rehash in progress), the asynchronous part filters expired entries while the writer
//! goes on, the incremental cleanup removes expired entries during the rehash with the checkpoint live, and the
//! clock moves while the filter may be reading it. A third runs a TTL list and a TTL map state the same way
//! (T5, T6, T10): the filter trims lists and maps in the asynchronous part while the writer's reads trim them,
//! its appends and cursor writes change them, under the live snapshot.
//!
//! A fourth checks incremental checkpoints (docs/DESIGN.md C6, C8; C7's naming of the base): a writer, two
//! deltas in flight and a third checkpoint cancelled (or failing its commit); only a completed checkpoint
//! advances the base, the chain ending at each completed checkpoint restores to the model at its synchronous
//! part, and the next delta names the base the cancelled one left.
//!
//! Run: `CARGO_TARGET_DIR=target/shuttle cargo test --release --features shuttle --test shuttle_backend`.
//! `SHUTTLE_ITERATIONS=<n>` sets the schedules per scheduler (random, PCT; default 5,000).

use cow_state_table::backend::storage::{CheckpointStorage, FailingStorage, MemoryStorage};
use cow_state_table::backend::ttl::{expired, ManualClock, StateTtlConfig, TtlValueState};
use cow_state_table::backend::{
    CheckpointError, CheckpointMode, IncrementalPolicy, KeyedStateBackend, ListState, ListStateDescriptor,
    ReducingState, ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::sync::ShuttleSync;
use cow_state_table::DeterministicState;
use shuttle::thread;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

const KEYS: u64 = 24;
const MAX_PAR: u32 = 8;
const PCT_DEPTH: usize = 3;

/// Checkpoints verified and cancelled before commit, over all schedules (reported and checked for reach).
static VERIFIED: AtomicUsize = AtomicUsize::new(0);
static CANCELLED: AtomicUsize = AtomicUsize::new(0);

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState, ShuttleSync>;

struct States {
    value: ValueState<u32, u64>,
    list: ListState<u32, u64>,
    sum: ReducingState<u32, u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    value: BTreeMap<u64, u64>,
    list: BTreeMap<u64, Vec<u64>>,
    sum: BTreeMap<u64, u64>,
}

fn backend() -> (Backend, States) {
    let mut b: Backend =
        KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
    let s = States {
        value: b
            .register_value(ValueStateDescriptor::new("value", U32Serializer, U64Serializer))
            .unwrap(),
        list: b
            .register_list(ListStateDescriptor::new("list", U32Serializer, U64Serializer))
            .unwrap(),
        sum: b
            .register_reducing(ReducingStateDescriptor::new(
                "sum",
                U32Serializer,
                U64Serializer,
                |a, b| a + b,
            ))
            .unwrap(),
    };
    (b, s)
}

/// One write of each state for `key`, on both sides.
fn write(b: &mut Backend, s: &States, m: &mut Model, key: u64, x: u64) {
    b.set_current_key(key).unwrap();
    s.value.update(b, x).unwrap();
    m.value.insert(key, x);
    if x % 5 == 0 {
        s.list.clear(b).unwrap();
        m.list.remove(&key);
    } else {
        s.list.add(b, x).unwrap();
        m.list.entry(key).or_default().push(x);
    }
    s.sum.add(b, x).unwrap();
    *m.sum.entry(key).or_default() += x;
}

fn verify(storage: &MemoryStorage, id: u64, expected: &Model) {
    verify_chain(storage, &[id], expected);
    VERIFIED.fetch_add(1, Relaxed);
}

/// Restores the chain `ids` (a full checkpoint, then its deltas in order) and compares it with `expected`.
fn verify_chain(storage: &MemoryStorage, ids: &[u64], expected: &Model) {
    let id = *ids.last().unwrap();
    let (mut r, s) = backend();
    r.restore_from(storage, ids)
        .unwrap_or_else(|e| panic!("checkpoint {id}: restore of the chain {ids:?}: {e}"));
    for key in 0..KEYS {
        r.set_current_key(key).unwrap();
        assert_eq!(
            s.value.value(&r).unwrap(),
            expected.value.get(&key),
            "checkpoint {id}, key {key}: value"
        );
        assert_eq!(
            s.list.get(&r).unwrap(),
            expected.list.get(&key).map(Vec::as_slice),
            "checkpoint {id}: list"
        );
        assert_eq!(
            s.sum.get(&r).unwrap(),
            expected.sum.get(&key),
            "checkpoint {id}, key {key}: sum"
        );
    }
    assert_eq!(r.state_len("value"), Some(expected.value.len()));
    assert_eq!(r.state_len("list"), Some(expected.list.len()));
    assert_eq!(r.state_len("sum"), Some(expected.sum.len()));
    r.check_invariants().unwrap();
}

fn scenario() {
    let storage = Arc::new(MemoryStorage::with_max_size(1 << 20));
    let (mut b, s) = backend();
    let mut m = Model::default();
    for key in 0..KEYS {
        write(&mut b, &s, &mut m, key, key + 1);
    }
    // Checkpoint 1 in flight.
    let p1 = b.checkpoint(1).unwrap();
    let m1 = m.clone();
    let st = storage.clone();
    let t1 = thread::spawn(move || p1.run(&*st));
    for key in (0..KEYS).step_by(2) {
        write(&mut b, &s, &mut m, key, key * 7 + 3);
    }
    // Checkpoint 2 in flight with 1.
    let p2 = b.checkpoint(2).unwrap();
    let m2 = m.clone();
    let st = storage.clone();
    let t2 = thread::spawn(move || p2.run(&*st));
    // Checkpoint 3, cancelled while the writer goes on.
    let p3 = b.checkpoint(3).unwrap();
    let m3 = m.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let (st, flag) = (storage.clone(), cancel.clone());
    let t3 = thread::spawn(move || p3.run_cancellable(&*st, &flag));
    for key in 0..KEYS {
        write(&mut b, &s, &mut m, key, key * 11 + 5);
        if key == KEYS / 3 {
            cancel.store(true, Relaxed);
        }
    }
    b.check_invariants().unwrap();
    let r1 = t1.join().unwrap().unwrap();
    let r2 = t2.join().unwrap().unwrap();
    assert_eq!((r1.id, r2.id), (1, 2));
    verify(&storage, 1, &m1);
    verify(&storage, 2, &m2);
    match t3.join().unwrap() {
        Ok(_) => verify(&storage, 3, &m3),
        Err(CheckpointError::Cancelled { id: 3 }) => {
            assert!(
                !storage.list().unwrap().contains(&3),
                "a cancelled checkpoint left bytes in storage"
            );
            CANCELLED.fetch_add(1, Relaxed);
        }
        Err(e) => panic!("checkpoint 3: {e}"),
    }
    assert_eq!(
        b.live_snapshots(),
        0,
        "every snapshot released once the checkpoint threads ended"
    );
    // The live backend still equals the model.
    for key in 0..KEYS {
        b.set_current_key(key).unwrap();
        assert_eq!(s.value.value(&b).unwrap(), m.value.get(&key));
        assert_eq!(s.sum.get(&b).unwrap(), m.sum.get(&key));
    }
}

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

#[test]
fn writer_two_checkpoints_in_flight_and_a_cancel() {
    let n = iterations();
    shuttle::check_random(scenario, n);
    shuttle::check_pct(scenario, n, PCT_DEPTH);
    let (verified, cancelled) = (VERIFIED.load(Relaxed), CANCELLED.load(Relaxed));
    eprintln!(
        "{} schedules: {verified} checkpoints verified, {cancelled} cancelled before commit",
        2 * n
    );
    assert!(verified >= 4 * n, "every schedule verifies checkpoints 1 and 2");
    assert!(cancelled > 0, "no schedule cancelled checkpoint 3 before it committed");
}

static INCR_VERIFIED: AtomicUsize = AtomicUsize::new(0);
static INCR_CANCELLED: AtomicUsize = AtomicUsize::new(0);
static INCR_FAILED: AtomicUsize = AtomicUsize::new(0);
static INCR_SECOND_BASE: AtomicUsize = AtomicUsize::new(0);

/// The chain ending at `id` in `bases` (each checkpoint's base, `None` for a full one): full first.
fn chain_of(bases: &BTreeMap<u64, Option<u64>>, id: u64) -> Vec<u64> {
    let mut chain = vec![id];
    while let Some(&Some(base)) = bases.get(chain.last().unwrap()) {
        chain.push(base);
    }
    chain.reverse();
    chain
}

/// Incremental checkpoints in flight (docs/DESIGN.md C6, C8; C7's naming of the base): after a full checkpoint 1
/// (the base), the writer takes delta 2 and runs it on a thread, writes on, takes checkpoint 3 (a delta of 1, or
/// of 2 if 2 already completed) on another thread, writes on, and takes checkpoint 4 into a storage whose commit
/// fails, cancelled while the writer goes on: 4 ends cancelled or with a failed commit, never completed. C8: the
/// base is then 3 (the later completed checkpoint, whichever of 2 and 3 committed first), never 4; restoring the
/// chain ending at 2 and at 3 (read from the storage, following each delta's base) equals the model at its
/// synchronous part; and a checkpoint 5 taken now is a delta of 3 whose chain restores to the model now.
fn incremental_scenario() {
    let storage = Arc::new(MemoryStorage::with_max_size(1 << 20));
    let (mut b, s) = backend();
    let mut m = Model::default();
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10).with_max_delta_fraction(f64::MAX));
    let mut bases: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    for key in 0..KEYS {
        write(&mut b, &s, &mut m, key, key + 1);
    }
    let p1 = b.checkpoint_with(1, mode).unwrap();
    assert_eq!(p1.base_id(), None, "no base yet: checkpoint 1 is full");
    p1.run(&*storage).unwrap();
    bases.insert(1, None);
    for key in (0..KEYS).step_by(2) {
        write(&mut b, &s, &mut m, key, key * 7 + 3);
    }
    // Checkpoint 2, a delta of 1, in flight.
    let p2 = b.checkpoint_with(2, mode).unwrap();
    assert_eq!(p2.base_id(), Some(1));
    bases.insert(2, Some(1));
    let m2 = m.clone();
    let st = storage.clone();
    let t2 = thread::spawn(move || p2.run(&*st));
    for key in (1..KEYS).step_by(3) {
        write(&mut b, &s, &mut m, key, key * 5 + 1);
    }
    // Checkpoint 3 in flight with 2: a delta of whichever completed checkpoint is the base now.
    let p3 = b.checkpoint_with(3, mode).unwrap();
    let base3 = p3.base_id();
    assert!(matches!(base3, Some(1 | 2)), "checkpoint 3 is a delta of {base3:?}");
    if base3 == Some(2) {
        INCR_SECOND_BASE.fetch_add(1, Relaxed);
    }
    bases.insert(3, base3);
    let m3 = m.clone();
    let st = storage.clone();
    let t3 = thread::spawn(move || p3.run(&*st));
    for key in 0..KEYS / 2 {
        write(&mut b, &s, &mut m, key, key * 13 + 2);
    }
    // Checkpoint 4: cancelled while the writer goes on, and its commit fails if it gets that far.
    let p4 = b.checkpoint_with(4, mode).unwrap();
    assert!(matches!(p4.base_id(), Some(1..=3)));
    let failing = Arc::new(FailingStorage::fail_on_commit(MemoryStorage::new()));
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let t4 = thread::spawn(move || p4.run_cancellable(&*failing, &flag));
    for key in 0..KEYS {
        write(&mut b, &s, &mut m, key, key * 11 + 5);
        if key == KEYS / 3 {
            cancel.store(true, Relaxed);
        }
    }
    b.check_invariants().unwrap();
    let r2 = t2.join().unwrap().unwrap();
    let r3 = t3.join().unwrap().unwrap();
    assert_eq!((r2.base, r3.base), (Some(1), base3));
    match t4.join().unwrap() {
        Err(CheckpointError::Cancelled { id: 4 }) => INCR_CANCELLED.fetch_add(1, Relaxed),
        Err(CheckpointError::Storage { id: 4, .. }) => INCR_FAILED.fetch_add(1, Relaxed),
        other => panic!("checkpoint 4 was cancelled or its commit failed, yet: {other:?}"),
    };
    assert_eq!(
        b.incremental_stats().base,
        Some(3),
        "C8: the base is the later completed checkpoint, 3 (checkpoint 4 did not complete)"
    );
    verify_chain(&storage, &chain_of(&bases, 2), &m2);
    verify_chain(&storage, &chain_of(&bases, 3), &m3);
    // The base the cancelled and failed checkpoint left is the one the next delta names, and its chain restores.
    let p5 = b.checkpoint_with(5, mode).unwrap();
    assert_eq!(p5.base_id(), Some(3), "C8: checkpoint 5 is a delta of the base, 3");
    bases.insert(5, Some(3));
    p5.run(&*storage).unwrap();
    verify_chain(&storage, &chain_of(&bases, 5), &m);
    INCR_VERIFIED.fetch_add(3, Relaxed);
}

/// C6, C8 under concurrency: a writer, two incremental checkpoints in flight and a third cancelled (or failing
/// its commit); only a completed checkpoint advances the base ([`incremental_scenario`]).
#[test]
fn incremental_checkpoints_in_flight_advance_the_base_only_on_completion() {
    // Half the schedules of the other scenarios (three chain restores per schedule): 2.5 s at the default.
    let n = (iterations() / 2).max(1);
    shuttle::check_random(incremental_scenario, n);
    shuttle::check_pct(incremental_scenario, n, PCT_DEPTH);
    let (verified, cancelled, failed, second) = (
        INCR_VERIFIED.load(Relaxed),
        INCR_CANCELLED.load(Relaxed),
        INCR_FAILED.load(Relaxed),
        INCR_SECOND_BASE.load(Relaxed),
    );
    eprintln!(
        "{} schedules: {verified} chains verified; checkpoint 4 cancelled {cancelled}, its commit failed {failed}; \
         checkpoint 3 a delta of 2 in {second}",
        2 * n
    );
    assert_eq!(verified, 3 * 2 * n, "every schedule verifies the chains of 2, 3 and 5");
    assert!(cancelled > 0, "no schedule cancelled checkpoint 4 before its commit");
    assert!(failed > 0, "no schedule reached checkpoint 4's failing commit");
    assert!(
        second > 0,
        "checkpoint 2 never completed before checkpoint 3's synchronous part"
    );
}

const TTL_KEYS: u64 = 770;
const TTL: i64 = 30;
static TTL_REHASHING_CHECKPOINTS: AtomicUsize = AtomicUsize::new(0);

fn ttl_backend(clock: &Arc<ManualClock>) -> (Backend, TtlValueState<u32, u64>) {
    let mut b: Backend =
        KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
    let config = StateTtlConfig::new(std::time::Duration::from_millis(TTL as u64))
        .unwrap()
        .cleanup_full_snapshot()
        .cleanup_incrementally(3, false)
        .unwrap()
        .with_time_provider(clock.clone());
    let v = b
        .register_ttl_value(ValueStateDescriptor::new("ttl", U32Serializer, U64Serializer), config)
        .unwrap();
    (b, v)
}

/// The stored `(key → (value, stamp))` of the TTL state, expired or not (T1).
fn stored(b: &Backend, v: &TtlValueState<u32, u64>) -> BTreeMap<u64, (u64, i64)> {
    b.state_table(v.stored())
        .unwrap()
        .iter()
        .map(|(k, _, tv)| (*k, (tv.user_value, tv.last_access)))
        .collect()
}

fn ttl_scenario() {
    let clock = Arc::new(ManualClock::new(0));
    let storage = Arc::new(MemoryStorage::with_max_size(1 << 20));
    let (mut b, v) = ttl_backend(&clock);
    for key in 0..TTL_KEYS {
        b.set_current_key(key).unwrap();
        v.update(&mut b, key).unwrap();
    }
    clock.set(5);
    for key in TTL_KEYS..TTL_KEYS + 4 {
        b.set_current_key(key).unwrap();
        v.update(&mut b, key).unwrap();
    }
    clock.set(32); // keys < TTL_KEYS (stamped 0) expired; the 4 stamped 5 expire at 35
    let rehashing = b.state_table(v.stored()).unwrap().is_rehashing();
    let captured = stored(&b, &v);
    let p1 = b.checkpoint(1).unwrap();
    let st = storage.clone();
    let t1 = thread::spawn(move || p1.run(&*st));
    // The writer goes on: accesses run the incremental cleanup (removals under the live snapshot, rehash steps),
    // new keys are written, and the clock passes the second expiry while the filter may be reading it.
    for i in 0..40u64 {
        let key = TTL_KEYS + i % 4;
        b.set_current_key(key).unwrap();
        let got = v.value(&mut b).unwrap().copied();
        let now = cow_state_table::backend::ttl::TtlTimeProvider::current_timestamp(&*clock);
        assert_eq!(got, (!expired(5, TTL, now)).then_some(key), "key {key} at {now}");
        if i == 20 {
            clock.set(40);
        }
        b.set_current_key(200 + i).unwrap();
        v.update(&mut b, i).unwrap();
    }
    b.check_invariants().unwrap();
    t1.join().unwrap().unwrap();
    let (start, end) = (32, 40);
    // Restore: exactly the captured entries, minus those expired by the time the filter read the clock.
    let restore_clock = Arc::new(ManualClock::new(0));
    let (mut r, rv) = ttl_backend(&restore_clock);
    r.restore_from(&*storage, &[1]).unwrap();
    let got = stored(&r, &rv);
    for (k, e) in &got {
        assert_eq!(captured.get(k), Some(e), "restored key {k} not as captured");
        assert!(
            !expired(e.1, TTL, start),
            "restored key {k} was expired at the synchronous part"
        );
    }
    for (k, e) in &captured {
        if !expired(e.1, TTL, end) {
            assert!(got.contains_key(k), "unexpired key {k} missing from the checkpoint");
        }
    }
    assert!(captured.len() as u64 == TTL_KEYS + 4);
    // The live table: every unexpired entry is there; the cleanup removed most expired ones.
    let live = stored(&b, &v);
    assert!((200..240).all(|k| live.contains_key(&k)));
    assert!(
        live.len() < captured.len() + 40,
        "the incremental cleanup removed nothing"
    );
    assert_eq!(b.live_snapshots(), 0);
    if rehashing {
        TTL_REHASHING_CHECKPOINTS.fetch_add(1, Relaxed);
    }
}

#[test]
fn ttl_filter_in_the_async_part_and_incremental_cleanup_during_a_rehash() {
    let n = (iterations() / 10).max(1);
    shuttle::check_random(ttl_scenario, n);
    shuttle::check_pct(ttl_scenario, n, PCT_DEPTH);
    let rehashing = TTL_REHASHING_CHECKPOINTS.load(Relaxed);
    eprintln!(
        "{} TTL schedules, {rehashing} with the checkpoint taken during a rehash",
        2 * n
    );
    assert_eq!(rehashing, 2 * n, "the checkpoint is taken while the table rehashes");
}

/// Keys of the list and map scenario: the first 766 get an element stamped 0, all 770 one stamped 20, so that
/// the tables pass 768 entries (and start an incremental rehash) just before the checkpoint, as `TTL_KEYS`.
const COLLECTION_KEYS: u64 = 770;
static COLLECTION_REHASHING: AtomicUsize = AtomicUsize::new(0);

type TtlList = cow_state_table::backend::ttl::TtlListState<u32, u64>;
type TtlMap = cow_state_table::backend::ttl::TtlMapState<u32, u64, u64>;

fn collections_backend(clock: &Arc<ManualClock>) -> (Backend, TtlList, TtlMap) {
    let mut b: Backend =
        KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
    let config = StateTtlConfig::new(std::time::Duration::from_millis(TTL as u64))
        .unwrap()
        .cleanup_full_snapshot()
        .cleanup_incrementally(3, false)
        .unwrap()
        .with_time_provider(clock.clone());
    let l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", U32Serializer, U64Serializer),
            config.clone(),
        )
        .unwrap();
    let m = b
        .register_ttl_map(
            cow_state_table::backend::MapStateDescriptor::new("m", U32Serializer, U64Serializer, U64Serializer),
            config,
        )
        .unwrap();
    (b, l, m)
}

/// The stored values of every list and map, stamps dropped.
type Collections = (BTreeMap<u64, Vec<u64>>, BTreeMap<u64, BTreeMap<u64, u64>>);

fn collections(b: &Backend, l: &TtlList, m: &TtlMap) -> Collections {
    let lists = b.state_table(l.stored()).unwrap().iter();
    let maps = b.state_table(m.stored()).unwrap().iter();
    (
        lists
            .map(|(k, _, l)| (*k, l.iter().map(|e| e.user_value).collect()))
            .collect(),
        maps.map(|(k, _, m)| (*k, m.iter().map(|(uk, e)| (*uk, e.user_value)).collect()))
            .collect(),
    )
}

/// T5, T6, T10 for the per-element and per-entry forms: every key's list and map hold one element / entry
/// stamped 0 (all but the last four keys) and one stamped 20; the checkpoint is taken at 32 (the first expired, the second alive until 50)
/// while the table may rehash, and the writer goes on while its asynchronous part runs: reads trim lists and
/// maps under the live snapshot, appends and cursor writes change them, incremental cleanup runs, the clock
/// moves to 40. The checkpoint must hold exactly every key's second element and entry, nothing the writer did.
fn ttl_collections_scenario() {
    let clock = Arc::new(ManualClock::new(0));
    let storage = Arc::new(MemoryStorage::with_max_size(1 << 20));
    let (mut b, l, m) = collections_backend(&clock);
    for (at, offset, keys) in [(0, 0, COLLECTION_KEYS - 4), (20, 1000, COLLECTION_KEYS)] {
        clock.set(at);
        for key in 0..keys {
            b.set_current_key(key).unwrap();
            l.add(&mut b, key + offset).unwrap();
            m.put(&mut b, offset, key + offset).unwrap();
        }
    }
    clock.set(32);
    let rehashing = b.state_table(l.stored()).unwrap().is_rehashing();
    let p1 = b.checkpoint(1).unwrap();
    let st = storage.clone();
    let t1 = thread::spawn(move || p1.run(&*st));
    for i in 0..40u64 {
        let key = i % COLLECTION_KEYS;
        b.set_current_key(key).unwrap();
        let got: Vec<u64> = l.get(&mut b).unwrap().unwrap().copied().collect();
        assert_eq!(
            got,
            [key + 1000],
            "list of key {key}: the expired element is never returned (T4)"
        );
        l.add(&mut b, 7777).unwrap();
        let mut cursor = m.entries_mut(&mut b).unwrap();
        let mut seen = Vec::new();
        while let Some((&uk, &v)) = cursor.next_entry() {
            seen.push((uk, v));
            cursor.set_value(7777).unwrap();
        }
        assert_eq!(seen, [(1000, key + 1000)], "map of key {key} (T10)");
        if i == 20 {
            clock.set(40);
        }
    }
    b.check_invariants().unwrap();
    t1.join().unwrap().unwrap();
    let restore_clock = Arc::new(ManualClock::new(0));
    let (mut r, rl, rm) = collections_backend(&restore_clock);
    r.restore_from(&*storage, &[1]).unwrap();
    let (lists, maps) = collections(&r, &rl, &rm);
    assert_eq!(lists.len() as u64, COLLECTION_KEYS);
    assert_eq!(maps.len() as u64, COLLECTION_KEYS);
    for key in 0..COLLECTION_KEYS {
        assert_eq!(
            lists[&key],
            [key + 1000],
            "restored list of key {key}: trimmed by the filter (T5)"
        );
        assert_eq!(
            maps[&key],
            BTreeMap::from([(1000, key + 1000)]),
            "restored map of key {key}"
        );
    }
    let (live_lists, live_maps) = collections(&b, &l, &m);
    for key in 0..40 {
        assert_eq!(live_lists[&key], [key + 1000, 7777]);
        assert_eq!(live_maps[&key], BTreeMap::from([(1000, 7777)]));
    }
    assert_eq!(b.live_snapshots(), 0);
    if rehashing {
        COLLECTION_REHASHING.fetch_add(1, Relaxed);
    }
}

#[test]
fn ttl_lists_and_maps_filtered_in_the_async_part_while_the_writer_trims_and_writes() {
    let n = (iterations() / 10).max(1);
    shuttle::check_random(ttl_collections_scenario, n);
    shuttle::check_pct(ttl_collections_scenario, n, PCT_DEPTH);
    let rehashing = COLLECTION_REHASHING.load(Relaxed);
    eprintln!(
        "{} TTL list and map schedules, {rehashing} with the checkpoint taken during a rehash",
        2 * n
    );
    assert_eq!(
        rehashing,
        2 * n,
        "the checkpoint is taken while the list table rehashes"
    );
}
