//! Incremental checkpoints (docs/DESIGN.md C6–C9; docs/FORMAT.md "Delta streams"):
//!
//! 1. a model-based proptest over three states checkpointed together — a value state, a list state and a
//!    reducing state (by a function neither commutative nor associative) — and interleavings of writes (puts,
//!    updates and removes of values; appends to lists, reductions, clears of both; `merge_namespaces(target,
//!    sources)` of the list and the reducing state for a key, as a session-window merge, with the model doing
//!    B6's merge: the present sources removed and folded in order, a source listed twice counted once, the
//!    target combined with the result), growth and shrink of every table (rehashes between base and now), full
//!    and incremental checkpoints, checkpoints held in flight across writes, and checkpoints that fail (in the
//!    write, at the commit), are cancelled or dropped, and version renormalisation (I12) at a drawn threshold
//!    before the first base (never while one is retained): restoring any completed checkpoint's chain — into the
//!    whole range and split over two sub-ranges — equals the model of all three states captured at its
//!    synchronous part, and every delta names the last completed incremental checkpoint whose tables are still
//!    the backend's (C8);
//! 2. corruption of a delta stream (every byte flipped, every prefix): a typed error, never a panic or a wrong
//!    state;
//! 3. the chain checks of restore: a delta without its base, with a base of another lineage;
//! 4. `DirectoryStorage` retention keeps the chain of every retained checkpoint (C9).
//!
//! The runs are deterministic (a fixed proptest seed unless `PROPTEST_RNG_SEED` is set), so that the planted
//! mutant `incr-failed-advances-base` (scripts/mutants.sh) is caught every time.

use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, FailingStorage, MemoryStorage};
use cow_state_table::backend::stream::{peek_base_id, StreamCheckpoint};
use cow_state_table::backend::{
    BackendError, CheckpointMode, IncrementalPolicy, KeyedStateBackend, ListState, ListStateDescriptor,
    PendingCheckpoint, ReducingState, ReducingStateDescriptor, RestoreError, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

type Backend = KeyedStateBackend<u64, U64Serializer>;
type Model = BTreeMap<(u64, u32), u64>;
type Handle = ValueState<u32, u64>;
type ListHandle = ListState<u32, u64>;
type ReduceHandle = ReducingState<u32, u64>;

/// The reducing state's function: neither commutative nor associative, so that the order B6 merges in shows.
fn mix(a: u64, b: u64) -> u64 {
    a.wrapping_mul(1_000_003).wrapping_add(b)
}

/// The states of the model proptest, checkpointed together.
struct States {
    v: Handle,
    l: ListHandle,
    r: ReduceHandle,
}

/// The model of the three states: values, lists and reduced values.
#[derive(Debug, Clone, Default, PartialEq)]
struct Models {
    values: Model,
    lists: BTreeMap<(u64, u32), Vec<u64>>,
    reduced: Model,
}

impl Models {
    /// B6, written from DESIGN.md, for both merging states: the present sources, in the given order (one listed
    /// twice counts once: its second removal finds nothing), are removed and folded left to right
    /// (`merged = merge(merged, source)`: lists appended, values `mix`ed); if any was present, the target becomes
    /// `merge(target, merged)`, or `merged` if it is absent or was itself among the sources (removed with them).
    fn merge(&mut self, key: u64, target: u32, sources: &[u32]) {
        let mut merged: Option<Vec<u64>> = None;
        for &source in sources {
            if let Some(list) = self.lists.remove(&(key, source)) {
                merged.get_or_insert_with(Vec::new).extend(list);
            }
        }
        if let Some(merged) = merged {
            self.lists.entry((key, target)).or_default().extend(merged);
        }
        let mut merged: Option<u64> = None;
        for &source in sources {
            if let Some(x) = self.reduced.remove(&(key, source)) {
                merged = Some(merged.map_or(x, |m| mix(m, x)));
            }
        }
        if let Some(merged) = merged {
            let now = self.reduced.get(&(key, target)).map_or(merged, |&t| mix(t, merged));
            self.reduced.insert((key, target), now);
        }
    }

    fn reduce(&mut self, key: u64, ns: u32, x: u64) {
        let now = self.reduced.get(&(key, ns)).map_or(x, |&old| mix(old, x));
        self.reduced.insert((key, ns), now);
    }
}

const MAX: u32 = 16;
/// Entries of each state before the ops run.
const PREFILL: u64 = 64;

fn config(cases: u32) -> Config {
    let mut config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if let RngSeed::Random = config.rng_seed {
        config.rng_seed = RngSeed::Fixed(0x00c0_ffee_0023_0023);
    }
    config
}

fn backend(range: KeyGroupRange) -> (Backend, Handle) {
    let mut b = KeyedStateBackend::new(U64Serializer, MAX, range).unwrap();
    let v = b
        .register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer))
        .unwrap();
    (b, v)
}

/// A backend with the value state `v`, the list state `l` and the reducing state `r` (by `mix`).
fn backend3(range: KeyGroupRange) -> (Backend, States) {
    let (mut b, v) = backend(range);
    let l = b
        .register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer))
        .unwrap();
    let r = b
        .register_reducing(ReducingStateDescriptor::new("r", U32Serializer, U64Serializer, mix))
        .unwrap();
    (b, States { v, l, r })
}

fn contents3(b: &Backend, s: &States) -> Models {
    Models {
        values: contents(b, &s.v),
        lists: b
            .state_table(&s.l)
            .unwrap()
            .iter()
            .map(|(k, n, s)| ((*k, *n), s.clone()))
            .collect(),
        reduced: b
            .state_table(&s.r)
            .unwrap()
            .iter()
            .map(|(k, n, s)| ((*k, *n), *s))
            .collect(),
    }
}

fn contents(b: &Backend, v: &Handle) -> Model {
    b.state_table(v)
        .unwrap()
        .iter()
        .map(|(k, n, s)| ((*k, *n), *s))
        .collect()
}

/// A backend over every key group whose value state holds keys `0..n` (value = key, namespace 0).
fn filled(n: u64) -> (Backend, Handle) {
    let (mut b, mut v) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    for k in 0..n {
        put(&mut b, &mut v, k, 0, Some(k));
    }
    (b, v)
}

fn put(b: &mut Backend, v: &mut Handle, key: u64, ns: u32, value: Option<u64>) {
    b.set_current_key(key).unwrap();
    v.set_current_namespace(ns);
    v.update(b, value).unwrap();
}

/// Appends `value` to the list of `(key, ns)`, or clears it (`None`).
fn add(b: &mut Backend, l: &mut ListHandle, key: u64, ns: u32, value: Option<u64>) {
    b.set_current_key(key).unwrap();
    l.set_current_namespace(ns);
    l.add(b, value).unwrap();
}

/// Reduces `value` into `(key, ns)`, or clears it (`None`).
fn reduce(b: &mut Backend, r: &mut ReduceHandle, key: u64, ns: u32, value: Option<u64>) {
    b.set_current_key(key).unwrap();
    r.set_current_namespace(ns);
    r.add(b, value).unwrap();
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Complete,
    FailWrite,
    FailCommit,
    Cancel,
    Drop,
}

#[derive(Debug, Clone)]
enum Op {
    Put(u64, u32, u64),
    Remove(u64, u32),
    /// Appends to the list state.
    Add(u64, u32, u64),
    /// Clears a list.
    ClearList(u64, u32),
    /// Reduces into the reducing state.
    Reduce(u64, u32, u64),
    /// Clears a reduced value.
    ClearReduced(u64, u32),
    /// `merge_namespaces(target, sources)` of both merging states for a key (B6; a session-window merge).
    Merge(u64, u32, Vec<u32>),
    /// Inserts many fresh keys (a growth: a rehash between base and now, C5).
    Grow(u64),
    /// Removes what `Grow` inserted.
    Shrink,
    /// Takes a checkpoint (incremental or full) and keeps it in flight.
    Take(bool),
    /// Ends the oldest checkpoint in flight.
    Finish(Outcome),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..48, 0u32..3, 0u64..1000).prop_map(|(k, n, v)| Op::Put(k, n, v)),
        3 => (0u64..48, 0u32..3).prop_map(|(k, n)| Op::Remove(k, n)),
        5 => (0u64..24, 0u32..4, 0u64..1000).prop_map(|(k, n, v)| Op::Add(k, n, v)),
        1 => (0u64..24, 0u32..4).prop_map(|(k, n)| Op::ClearList(k, n)),
        4 => (0u64..24, 0u32..4, 0u64..1000).prop_map(|(k, n, v)| Op::Reduce(k, n, v)),
        1 => (0u64..24, 0u32..4).prop_map(|(k, n)| Op::ClearReduced(k, n)),
        3 => (0u64..24, 0u32..4, proptest::collection::vec(0u32..4, 0..4)).prop_map(|(k, t, s)| Op::Merge(k, t, s)),
        // Many sources, each namespace listed several times (B6: a source listed twice counts once; above 16
        // sources the reducing merge finds repeats with a set).
        1 => (0u64..24, 0u32..4, proptest::collection::vec(0u32..4, 17..21)).prop_map(|(k, t, s)| Op::Merge(k, t, s)),
        1 => (50u64..400).prop_map(Op::Grow),
        1 => Just(Op::Shrink),
        3 => any::<bool>().prop_map(Op::Take),
        3 => prop_oneof![
            5 => Just(Outcome::Complete),
            1 => Just(Outcome::FailWrite),
            1 => Just(Outcome::FailCommit),
            1 => Just(Outcome::Cancel),
            1 => Just(Outcome::Drop),
        ]
        .prop_map(Op::Finish),
    ]
}

/// The checkpoint ids of `id`'s chain, full checkpoint first (C7: each delta names its base).
fn chain(storage: &MemoryStorage, id: u64) -> Vec<u64> {
    let mut ids = vec![id];
    let mut at = id;
    while let Some(base) = peek_base_id(&storage.read(at).unwrap()) {
        ids.push(base);
        at = base;
    }
    ids.reverse();
    ids
}

fn restored(storage: &MemoryStorage, ids: &[u64], range: KeyGroupRange) -> Result<Models, BackendError> {
    let (mut b, s) = backend3(range);
    b.restore_from(storage, ids)?;
    Ok(contents3(&b, &s))
}

struct Run {
    storage: MemoryStorage,
    /// The model at each completed checkpoint's synchronous part.
    completed: BTreeMap<u64, Models>,
    /// Whether each completed checkpoint was incremental, and the base its delta named.
    bases: BTreeMap<u64, Option<u64>>,
    /// Checkpoints whose snapshots renormalised the tables' versions first (I12).
    renormalisations: usize,
}

/// Runs `ops`; the tables renormalise their versions (I12) once they reach `version_limit` with no snapshot live.
fn run(ops: &[Op], policy: IncrementalPolicy, version_limit: u32) -> Run {
    let (mut b, s) = backend3(KeyGroupRange::with_len(0, MAX).unwrap());
    b.set_version_limit_for_test(version_limit);
    let mut renormalisations = 0;
    let States { mut v, mut l, mut r } = s;
    let storage = MemoryStorage::new();
    let mut model = Models::default();
    // Entries in each table from the start, outside the keys the ops touch: a checkpoint whose base saw a table
    // still empty is always a full one (the diff of a table's first entries is no bucket walk, C5), and so is one
    // whose writes copied more nodes than the tables hold (`max_delta_fraction` 1.0).
    for k in 5000..5000 + PREFILL {
        put(&mut b, &mut v, k, 0, Some(k));
        add(&mut b, &mut l, k, 0, Some(k));
        reduce(&mut b, &mut r, k, 0, Some(k));
        model.values.insert((k, 0), k);
        model.lists.insert((k, 0), vec![k]);
        model.reduced.insert((k, 0), k);
    }
    let mut in_flight: Vec<(PendingCheckpoint, Models, bool)> = Vec::new();
    let mut completed = BTreeMap::new();
    let mut bases = BTreeMap::new();
    // The id of the last completed incremental checkpoint: the base the next delta must name (C8).
    let mut expected_base: Option<u64> = None;
    let mut next_id = 1u64;
    let mut grown: Vec<u64> = Vec::new();
    for op in ops {
        match *op {
            Op::Put(k, n, x) => {
                put(&mut b, &mut v, k, n, Some(x));
                model.values.insert((k, n), x);
            }
            Op::Remove(k, n) => {
                put(&mut b, &mut v, k, n, None);
                model.values.remove(&(k, n));
            }
            Op::Add(k, n, x) => {
                add(&mut b, &mut l, k, n, Some(x));
                model.lists.entry((k, n)).or_default().push(x);
            }
            Op::ClearList(k, n) => {
                add(&mut b, &mut l, k, n, None);
                model.lists.remove(&(k, n));
            }
            Op::Reduce(k, n, x) => {
                reduce(&mut b, &mut r, k, n, Some(x));
                model.reduce(k, n, x);
            }
            Op::ClearReduced(k, n) => {
                reduce(&mut b, &mut r, k, n, None);
                model.reduced.remove(&(k, n));
            }
            Op::Merge(k, target, ref sources) => {
                b.set_current_key(k).unwrap();
                l.merge_namespaces(&mut b, target, sources).unwrap();
                r.merge_namespaces(&mut b, target, sources).unwrap();
                model.merge(k, target, sources);
            }
            Op::Grow(count) => {
                // Every table grows: each new key gets a value, one in two a list of two elements, one in three a
                // reduced value.
                for k in 1000..1000 + count {
                    put(&mut b, &mut v, k, 0, Some(k));
                    model.values.insert((k, 0), k);
                    if k % 2 == 0 {
                        add(&mut b, &mut l, k, 1, Some(k));
                        add(&mut b, &mut l, k, 1, Some(k + 1));
                        model.lists.entry((k, 1)).or_default().extend([k, k + 1]);
                    }
                    if k % 3 == 0 {
                        reduce(&mut b, &mut r, k, 2, Some(k));
                        model.reduce(k, 2, k);
                    }
                    grown.push(k);
                }
            }
            Op::Shrink => {
                for k in grown.drain(..) {
                    put(&mut b, &mut v, k, 0, None);
                    add(&mut b, &mut l, k, 1, None);
                    reduce(&mut b, &mut r, k, 2, None);
                    model.values.remove(&(k, 0));
                    model.lists.remove(&(k, 1));
                    model.reduced.remove(&(k, 2));
                }
            }
            Op::Take(incremental) => {
                if in_flight.len() >= 2 {
                    continue;
                }
                let mode = if incremental {
                    CheckpointMode::Incremental(policy)
                } else {
                    CheckpointMode::Full
                };
                let version = b.state_table(&v).unwrap().stats().version;
                let pending = b.checkpoint_with(next_id, mode).unwrap();
                next_id += 1;
                if b.state_table(&v).unwrap().stats().version <= version {
                    // I12: only with no snapshot live — no base retained, no checkpoint in flight (C6).
                    assert!(
                        expected_base.is_none() && in_flight.is_empty(),
                        "versions renormalised under a live snapshot"
                    );
                    renormalisations += 1;
                }
                if let Some(base) = pending.base_id() {
                    assert_eq!(Some(base), expected_base, "a delta names the last completed base (C8)");
                }
                in_flight.push((pending, model.clone(), incremental));
            }
            Op::Finish(outcome) => {
                if in_flight.is_empty() {
                    continue;
                }
                let (pending, at_sync, incremental) = in_flight.remove(0);
                let id = pending.id();
                let base = pending.base_id();
                let ok = match outcome {
                    Outcome::Complete => pending.run(&storage).is_ok(),
                    Outcome::FailWrite => pending.run(&FailingStorage::new(storage.clone(), 40)).is_ok(),
                    Outcome::FailCommit => pending.run(&FailingStorage::fail_on_commit(storage.clone())).is_ok(),
                    Outcome::Cancel => pending.run_cancellable(&storage, &AtomicBool::new(true)).is_ok(),
                    Outcome::Drop => {
                        drop(pending);
                        false
                    }
                };
                assert_eq!(ok, matches!(outcome, Outcome::Complete), "{outcome:?}");
                if ok {
                    completed.insert(id, at_sync);
                    bases.insert(id, base);
                    if incremental {
                        expected_base = Some(id);
                    }
                }
                assert_eq!(b.incremental_stats().base, expected_base);
            }
        }
    }
    drop(in_flight);
    // The retained base: one snapshot per state (three states).
    assert_eq!(b.live_snapshots(), 3 * usize::from(expected_base.is_some()));
    b.check_invariants().unwrap();
    Run {
        storage,
        completed,
        bases,
        renormalisations,
    }
}

fn check_restores(run: &Run) {
    let mid = MAX / 2;
    let low = KeyGroupRange::of(0, mid - 1).unwrap();
    let high = KeyGroupRange::of(mid, MAX - 1).unwrap();
    for (&id, model) in &run.completed {
        let ids = chain(&run.storage, id);
        assert_eq!(
            ids.len() > 1,
            run.bases[&id].is_some(),
            "checkpoint {id}: chain {ids:?}"
        );
        let whole = restored(&run.storage, &ids, KeyGroupRange::with_len(0, MAX).unwrap());
        assert_eq!(whole.as_ref().ok(), Some(model), "checkpoint {id}, chain {ids:?}");
        // Rescaled: the chain split over two instances.
        let mut split = restored(&run.storage, &ids, low).unwrap();
        let high = restored(&run.storage, &ids, high).unwrap();
        split.values.extend(high.values);
        split.lists.extend(high.lists);
        split.reduced.extend(high.reduced);
        assert_eq!(&split, model, "checkpoint {id} split at key group {mid}, chain {ids:?}");
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn restoring_any_completed_chain_equals_the_model(
        ops in proptest::collection::vec(op(), 1..130),
        full_every in 2u32..6,
        version_limit in prop_oneof![Just(u32::MAX), 2u32..6],
    ) {
        let run = run(&ops, IncrementalPolicy::every(full_every).with_max_delta_fraction(1.0), version_limit);
        check_restores(&run);
    }
}

/// A fixed history that exercises every outcome in order: a failed, a cancelled and a dropped incremental
/// checkpoint between two completed ones leave the base where it was (C8).
#[test]
fn failed_cancelled_and_dropped_checkpoints_leave_the_base() {
    let mut ops = vec![Op::Put(1, 0, 1), Op::Take(true), Op::Finish(Outcome::Complete)];
    for outcome in [Outcome::FailWrite, Outcome::FailCommit, Outcome::Cancel, Outcome::Drop] {
        ops.extend([
            Op::Put(2, 1, 2),
            Op::Add(2, 1, 2),
            Op::Reduce(2, 1, 2),
            Op::Take(true),
            Op::Finish(outcome),
        ]);
    }
    ops.extend([
        Op::Put(3, 2, 3),
        Op::Reduce(2, 0, 7),
        Op::Merge(2, 0, vec![1]),
        Op::Take(true),
        Op::Finish(Outcome::Complete),
    ]);
    let run = run(
        &ops,
        IncrementalPolicy::every(10).with_max_delta_fraction(1.0),
        u32::MAX,
    );
    assert_eq!(run.completed.keys().copied().collect::<Vec<_>>(), vec![1, 6]);
    assert_eq!(run.bases[&6], Some(1));
    // Without the prefilled entries (keys from 5000).
    let at_6 = &run.completed[&6];
    let lists: BTreeMap<_, _> = at_6.lists.range(..(5000, 0)).map(|(k, l)| (*k, l.clone())).collect();
    assert_eq!(lists, BTreeMap::from([((2, 0), vec![2; 4])]));
    // The target's 7, then the source's four 2s reduced: `mix(7, mix(mix(mix(2, 2), 2), 2))`.
    let source = [2; 3].into_iter().fold(2, mix);
    let reduced: BTreeMap<_, _> = at_6.reduced.range(..(5000, 0)).map(|(k, x)| (*k, *x)).collect();
    assert_eq!(reduced, BTreeMap::from([((2, 0), mix(7, source))]));
    check_restores(&run);
}

/// Renormalisation between checkpoints (I12, C1, C6): full checkpoints completed before the first incremental one
/// leave no snapshot live, so the tables renormalise their versions at the limit; the base taken after it, and the
/// deltas on that base, restore exactly. Once a base is retained no renormalisation runs (`run` asserts it).
#[test]
fn renormalisation_before_the_base_leaves_every_chain_exact() {
    let mut ops = Vec::new();
    for i in 0..6 {
        ops.extend([
            Op::Put(i, 0, i),
            Op::Add(i, 1, i),
            Op::Take(false),
            Op::Finish(Outcome::Complete),
        ]);
    }
    for i in 0..4 {
        ops.extend([
            Op::Put(i, 0, 10 + i),
            Op::Remove(i + 1, 0),
            Op::Reduce(i, 2, i),
            Op::Merge(i, 1, vec![0]),
            Op::Take(true),
            Op::Finish(Outcome::Complete),
        ]);
    }
    let run = run(&ops, IncrementalPolicy::every(10).with_max_delta_fraction(1.0), 3);
    assert!(run.renormalisations >= 2, "{} renormalisations", run.renormalisations);
    let deltas = run.bases.values().filter(|b| b.is_some()).count();
    assert_eq!(
        deltas, 3,
        "the incremental checkpoints after the first are deltas: {:?}",
        run.bases
    );
    check_restores(&run);
}

/// A store with a small delta: the delta stream is smaller than the full one, and names its base.
fn small_chain() -> (MemoryStorage, Vec<u8>, Vec<u8>) {
    let (mut b, mut v) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    for k in 0..200 {
        put(&mut b, &mut v, k, (k % 3) as u32, Some(k));
    }
    let storage = MemoryStorage::new();
    let mode = CheckpointMode::Incremental(IncrementalPolicy::default());
    b.checkpoint_with(1, mode).unwrap().run(&storage).unwrap();
    put(&mut b, &mut v, 7, 1, Some(70));
    put(&mut b, &mut v, 8, 2, None);
    put(&mut b, &mut v, 500, 0, Some(5));
    let summary = b.checkpoint_with(2, mode).unwrap().run(&storage).unwrap();
    assert_eq!(summary.base, Some(1));
    let (full, delta) = (storage.read(1).unwrap(), storage.read(2).unwrap());
    assert!(
        delta.len() < full.len() / 2,
        "delta {} bytes, full {}",
        delta.len(),
        full.len()
    );
    (storage, full, delta)
}

#[test]
fn every_flipped_byte_and_every_prefix_of_a_delta_is_a_typed_error() {
    let (_, full, delta) = small_chain();
    let (mut b, v) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    b.restore(&[&full, &delta]).unwrap();
    let good = contents(&b, &v);
    for at in 0..delta.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = delta.clone();
            bad[at] ^= bit;
            let (mut r, rv) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
            match r.restore(&[&full, &bad]) {
                Err(BackendError::Restore(_)) => assert!(contents(&r, &rv).is_empty(), "byte {at}: changed state"),
                Err(e) => panic!("byte {at}: unexpected error {e}"),
                Ok(_) => panic!(
                    "byte {at} ^ {bit:#x}: accepted (restored {:?})",
                    contents(&r, &rv) == good
                ),
            }
        }
    }
    for len in 0..delta.len() {
        let (mut r, rv) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
        assert!(
            matches!(r.restore(&[&full, &delta[..len]]), Err(BackendError::Restore(_))),
            "prefix {len}"
        );
        assert!(contents(&r, &rv).is_empty());
    }
}

#[test]
fn a_delta_without_its_base_or_of_another_lineage_is_refused() {
    let (storage, full, delta) = small_chain();
    let (mut b, _) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    let err = b.restore(&[&delta]).unwrap_err();
    assert!(
        matches!(&err, BackendError::Restore(e) if matches!(**e, RestoreError::DeltaBaseMissing { index: 0, base: 1, found: None })),
        "{err}"
    );
    // Another stream of id 1 (another lineage): same id, other bytes.
    let (mut other, mut ov) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    put(&mut other, &mut ov, 1, 0, Some(1));
    let mut other_full = Vec::new();
    other.checkpoint(1).unwrap().write_to(&mut other_full).unwrap();
    let err = b.restore(&[&other_full, &delta]).unwrap_err();
    assert!(
        matches!(&err, BackendError::Restore(e) if matches!(**e, RestoreError::DeltaLineage { index: 1, .. })),
        "{err}"
    );
    // The message names both streams by id, length and trailer checksum (the stream's last four bytes).
    let fingerprint = |s: &[u8]| {
        let crc = u32::from_be_bytes(s[s.len() - 4..].try_into().unwrap());
        format!("checkpoint 1 ({} bytes, trailer CRC32C {crc:#010x})", s.len())
    };
    let text = err.to_string();
    let want = format!(
        "is a delta of {}, but the checkpoint before it is {}",
        fingerprint(&full),
        fingerprint(&other_full)
    );
    assert!(text.contains(&want), "{text}\nwants {want}");
    // The base, but not right before the delta: two full checkpoints of the same key groups overlap.
    let err = b.restore(&[&full, &other_full, &delta]).unwrap_err();
    assert!(
        matches!(&err, BackendError::Restore(e)
            if matches!(**e, RestoreError::OverlappingKeyGroup { key_group: 0, first: 0, second: 1 })),
        "{err}"
    );
    // A checkpoint of another id right before the delta: its base is missing there, and the error names both ids
    // (not a lineage mismatch, which is about a checkpoint of the base's id).
    let mut seven = Vec::new();
    other.checkpoint(7).unwrap().write_to(&mut seven).unwrap();
    let err = b.restore(&[&seven, &delta]).unwrap_err();
    assert!(
        matches!(&err, BackendError::Restore(e)
            if matches!(**e, RestoreError::DeltaBaseMissing { index: 1, base: 1, found: Some(7) })),
        "{err}"
    );
    assert_eq!(StreamCheckpoint::parse(&delta).unwrap().base().map(|b| b.id), Some(1));
    assert_eq!(chain(&storage, 2), vec![1, 2]);
}

#[test]
fn directory_retention_keeps_the_chain_of_every_retained_checkpoint() {
    let dir = std::env::temp_dir().join(format!("cow-incr-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = DirectoryStorage::open(&dir, 2).unwrap();
    let (mut b, mut v) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(4).with_max_delta_fraction(1.0));
    let mut models = BTreeMap::new();
    for id in 1..=9u64 {
        put(&mut b, &mut v, id, 0, Some(id));
        let summary = b.checkpoint_with(id, mode).unwrap().run(&storage).unwrap();
        // Full at 1, 5, 9; deltas between.
        assert_eq!(summary.base.is_none(), id % 4 == 1, "checkpoint {id}");
        models.insert(id, contents(&b, &v));
        let listed = storage.list().unwrap();
        // The last two, and every checkpoint their chains reach back to.
        let keep_from = |last: u64| (last - 1) / 4 * 4 + 1;
        let first = keep_from(id.saturating_sub(1).max(1));
        assert_eq!(listed, (first..=id).collect::<Vec<_>>(), "after {id}");
    }
    for &id in &storage.list().unwrap() {
        let mut ids = vec![id];
        while let Some(base) = peek_base_id(&storage.read(*ids.last().unwrap()).unwrap()) {
            ids.push(base);
        }
        ids.reverse();
        let (mut r, rv) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
        r.restore_from(&storage, &ids).unwrap();
        assert_eq!(contents(&r, &rv), models[&id]);
    }
    drop(storage);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The delta seed of the `stream_decode` fuzz target was written byte by byte from docs/FORMAT.md §11 (not by
/// this crate's writer): it parses, names its base, decodes to what the bytes say, and the writer reproduces it.
#[test]
fn a_delta_stream_written_from_the_spec_decodes() {
    use cow_state_table::backend::stream::{decode_delta_body, write_delta_stream, StreamFingerprint};
    use cow_state_table::serializer::{I32Serializer, I64Serializer, Serializers};
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/seeds/stream_decode/delta-s1-m0"
    ))
    .unwrap();
    let bytes = &seed[1..]; // the fuzz target's mode byte
    let stream = StreamCheckpoint::parse(bytes).unwrap();
    let base = StreamFingerprint {
        id: 1,
        len: 100,
        trailer_crc: 0xdead_beef,
    };
    assert_eq!((stream.checkpoint_id(), stream.base()), (2, Some(base)));
    assert_eq!(peek_base_id(bytes), Some(1));
    let ser = Serializers::new(I64Serializer, I32Serializer, I64Serializer);
    let at = stream.body_range(0, 0).unwrap().start;
    let (upserts, removals) = decode_delta_body(stream.body(0, 0).unwrap(), at, 0, stream.context(), &ser).unwrap();
    assert_eq!(upserts, vec![(5, 0, 50), (-3, 1, 7)]);
    assert_eq!(removals, vec![(9, 2)]);
    let mut again = Vec::new();
    write_delta_stream(
        2,
        base,
        stream.context(),
        stream.key_serializer(),
        stream.states(),
        &mut |i, kg, buf| {
            buf.extend_from_slice(stream.body(i, kg).unwrap());
            Ok(())
        },
        &mut again,
    )
    .unwrap();
    assert_eq!(again, bytes);
}

/// C6: the memory cost of the retained base. Updating entries after the base copies their nodes (and the chunks
/// of their buckets), each original kept for the base; `incremental_stats` reports the copies and their bytes,
/// per the table's `node_bytes` and `chunk_bytes`, and the next completed checkpoint (the new base) starts at 0.
#[test]
fn the_retained_base_reports_the_bytes_it_keeps_alive() {
    let (mut b, v) = backend(KeyGroupRange::of(0, MAX - 1).unwrap());
    let storage = MemoryStorage::new();
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10));
    for k in 0..2000 {
        b.set_current_key(k).unwrap();
        v.update(&mut b, k).unwrap();
    }
    assert_eq!(b.incremental_stats().bytes_copied_since_base, 0, "no base yet");
    b.checkpoint_with(1, mode).unwrap().run(&storage).unwrap();
    let stats = b.incremental_stats();
    assert_eq!(
        (stats.base, stats.node_copies_since_base, stats.bytes_copied_since_base),
        (Some(1), 0, 0)
    );
    for k in 0..100 {
        b.set_current_key(k * 7).unwrap();
        v.update(&mut b, k + 1).unwrap();
    }
    let table = b.state_table(&v).unwrap().stats();
    assert!(
        table.node_bytes >= 8 + 4 + 8,
        "a node holds at least its key, namespace and state"
    );
    assert!(table.chunk_bytes > 0);
    let stats = b.incremental_stats();
    assert!(
        stats.node_copies_since_base >= 100,
        "each first update after the base copies its node: {stats:?}"
    );
    assert!(stats.chunk_copies_since_base >= 1, "{stats:?}");
    assert_eq!(
        stats.bytes_copied_since_base,
        stats.node_copies_since_base * table.node_bytes as u64
            + stats.chunk_copies_since_base * table.chunk_bytes as u64
    );
    assert!(stats.retired > 0, "the originals are kept for the base");
    // Later updates of the same entries copy nothing more (the copies are the writer's own).
    for k in 0..100 {
        b.set_current_key(k * 7).unwrap();
        v.update(&mut b, k + 2).unwrap();
    }
    assert_eq!(
        b.incremental_stats().bytes_copied_since_base,
        stats.bytes_copied_since_base
    );
    // The next completed checkpoint is the base: nothing copied since.
    b.checkpoint_with(2, mode).unwrap().run(&storage).unwrap();
    let stats = b.incremental_stats();
    assert_eq!((stats.base, stats.bytes_copied_since_base), (Some(2), 0));
}

/// C6, C7: the retained base goes when the tables change — a registration, a restore, a close — so the next
/// incremental checkpoint is full, and its snapshots are released at once (B21: none is held once closed). A
/// checkpoint taken before the change and completed after it does not become the base (C8: its snapshots are of
/// the old tables).
#[test]
fn registration_restore_and_close_drop_the_base() {
    let storage = MemoryStorage::new();
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10).with_max_delta_fraction(1.0));
    let (mut b, mut v) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    put(&mut b, &mut v, 1, 0, Some(1));
    b.checkpoint_with(1, mode).unwrap().run(&storage).unwrap();
    assert_eq!(b.incremental_stats().base, Some(1));
    assert_eq!(b.live_snapshots(), 1, "the base's snapshot");
    // `change` (named `what`) between the synchronous part of checkpoint `stale` and its run drops the base,
    // keeps `stale` from becoming it, and makes checkpoint `next` full; `next` is the base after.
    let drops_the_base = |b: &mut Backend, what: &str, change: &dyn Fn(&mut Backend), stale: u64, next: u64| {
        let stale = b.checkpoint_with(stale, mode).unwrap();
        change(b);
        assert_eq!(b.incremental_stats().base, None, "after a {what}");
        stale.run(&storage).unwrap();
        assert_eq!(b.incremental_stats().base, None, "taken before the {what}");
        assert_eq!(b.live_snapshots(), 0);
        let pending = b.checkpoint_with(next, mode).unwrap();
        assert_eq!(pending.base_id(), None, "full after a {what}");
        pending.run(&storage).unwrap();
        assert_eq!(b.incremental_stats().base, Some(next));
    };
    let register = |b: &mut Backend| {
        b.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer))
            .map(drop)
            .unwrap();
    };
    drops_the_base(&mut b, "registration", &register, 10, 2);
    // A restore (of checkpoint 2: the same contents, other tables).
    let checkpoint_2 = storage.read(2).unwrap();
    drops_the_base(
        &mut b,
        "restore",
        &|b| {
            b.restore(&[&checkpoint_2]).unwrap();
        },
        11,
        3,
    );
    // A close.
    b.close();
    assert_eq!(b.incremental_stats().base, None, "after close");
}

/// C7: a delta only over a bucket walk. A growth since the base (a rehash: another capacity, C5's lookup walk)
/// makes the next checkpoint full, where a few updates make a delta. `incremental_stats` names the base, its
/// chain length and the snapshots it holds; a pending incremental checkpoint's `Debug` shows its place in the
/// chain.
#[test]
fn a_growth_since_the_base_makes_the_next_checkpoint_full() {
    let storage = MemoryStorage::new();
    let (mut b, mut v) = filled(10);
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10).with_max_delta_fraction(1.0));
    let first = b.checkpoint_with(1, mode).unwrap();
    let text = format!("{first:?}");
    assert!(text.contains(", chain_len: 0, base: None })"), "{text}");
    assert_eq!(first.run(&storage).unwrap().base, None);
    let stats = b.incremental_stats();
    assert_eq!((stats.base, stats.chain_len, stats.base_snapshots), (Some(1), 0, 1));
    put(&mut b, &mut v, 3, 0, Some(33));
    let second = b.checkpoint_with(2, mode).unwrap();
    let text = format!("{second:?}");
    assert!(
        text.contains(", chain_len: 1, base: Some(StreamFingerprint { id: 1, "),
        "{text}"
    );
    assert_eq!(second.run(&storage).unwrap().base, Some(1), "a few updates: a delta");
    let stats = b.incremental_stats();
    assert_eq!((stats.base, stats.chain_len, stats.base_snapshots), (Some(2), 1, 1));
    for k in 10..5_000 {
        put(&mut b, &mut v, k, 0, Some(k));
    }
    let third = b.checkpoint_with(3, mode).unwrap().run(&storage).unwrap();
    assert_eq!(third.base, None, "the table grew since the base: full");
    assert_eq!(b.incremental_stats().chain_len, 0);
    let (mut r, rv) = backend(KeyGroupRange::with_len(0, MAX).unwrap());
    r.restore_from(&storage, &[3]).unwrap();
    assert_eq!(contents(&r, &rv), contents(&b, &v));
}

/// C7: `IncrementalPolicy::every(n)` writes a full checkpoint, then `n - 1` deltas, for any `n` (a chain holds at
/// most `n - 1` deltas); `every(1)` writes only full checkpoints.
#[test]
fn every_n_writes_a_full_checkpoint_then_n_minus_one_deltas() {
    for n in [1u64, 2, 3, 5, 7] {
        let storage = MemoryStorage::new();
        let (mut b, mut v) = filled(100);
        let mode = CheckpointMode::Incremental(IncrementalPolicy::every(n as u32).with_max_delta_fraction(1.0));
        for id in 1..=2 * n + 1 {
            put(&mut b, &mut v, id, 0, Some(id * 10));
            let summary = b.checkpoint_with(id, mode).unwrap().run(&storage).unwrap();
            assert_eq!(summary.base.is_none(), id % n == 1 % n, "every({n}), checkpoint {id}");
        }
    }
}

/// C7: the estimated change decides too. Updating more than `max_delta_fraction` of the entries since the base
/// makes the next checkpoint full; updating fewer makes a delta.
#[test]
fn a_change_above_the_delta_fraction_makes_the_next_checkpoint_full() {
    let storage = MemoryStorage::new();
    let (mut b, mut v) = filled(100);
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(10).with_max_delta_fraction(0.2));
    let checkpoint = |b: &mut Backend, id: u64| b.checkpoint_with(id, mode).unwrap().run(&storage).unwrap().base;
    assert_eq!(checkpoint(&mut b, 1), None);
    for k in 0..10 {
        put(&mut b, &mut v, k, 0, Some(k + 1));
    }
    assert_eq!(checkpoint(&mut b, 2), Some(1), "10 of 100 entries changed: a delta");
    for k in 0..50 {
        put(&mut b, &mut v, k, 0, Some(k + 2));
    }
    assert_eq!(checkpoint(&mut b, 3), None, "50 of 100 entries changed: full");
}
