//! Properties of the layers above the table for the bug classes that outside checks found unguarded (issue 22,
//! item 3; docs/DESIGN.md B1, B6, B8, B10; docs/MODEL_CHECKING.md "Mutants", the `backend` suite):
//!
//! 1. the memory storage's cap, at exactly the limit and one byte over (of a raw sink and of a whole checkpoint);
//! 2. state ids in the checkpoint stream independent of registration order and position;
//! 3. restore into every sub-range of key groups (single key groups at both ends included), through the backend
//!    and through the table-level `restore`, from one or several checkpoints;
//! 4. merge results independent of how many sources there are (reducing, aggregating, list);
//! 5. the serialized-value lookup reads the namespace it is asked for;
//! 6. a failed `set_current_key` leaves the whole key context (key, key group, namespace) unchanged;
//! 7. a dropped or cancelled checkpoint handle joins its thread, releases its snapshots, and leaves the others
//!    (and the backend) running.
//!
//! The runs are deterministic (a fixed proptest seed unless `PROPTEST_RNG_SEED` is set), so that "a planted
//! mutant is caught" does not depend on chance. Every property was shown to fail against a bug applied by hand
//! (docs/MODEL_CHECKING.md, "Mutants of the upper layers").

use cow_state_table::backend::storage::{
    CheckpointLocation, CheckpointSink, CheckpointStorage, MemoryStorage, StorageError,
};
use cow_state_table::backend::stream::StreamCheckpoint;
use cow_state_table::backend::{
    AggregateFunction, AggregatingState, AggregatingStateDescriptor, BackendError, CheckpointError, CheckpointHandle,
    KeyedStateBackend, ListState, ListStateDescriptor, PendingCheckpoint, ReducingState, ReducingStateDescriptor,
    StateType, ValueState, ValueStateDescriptor,
};
use cow_state_table::format::{write_checkpoint, WriteOptions};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
use cow_state_table::serializer::{Serializers, StringSerializer, TypeSerializer, U32Serializer, U64Serializer};
use cow_state_table::StateTable;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Backend = KeyedStateBackend<u64, U64Serializer>;
type Contents<S> = BTreeMap<(u64, u32), S>;

/// `cases` cases from a fixed seed (or `PROPTEST_RNG_SEED`), no regression files.
fn config(cases: u32) -> Config {
    let mut config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if let RngSeed::Random = config.rng_seed {
        config.rng_seed = RngSeed::Fixed(0x00c0_ffee_b0a2_d5e7);
    }
    config
}

fn backend(max: u32, range: KeyGroupRange) -> Backend {
    KeyedStateBackend::new(U64Serializer, max, range).unwrap()
}

fn full(max: u32) -> Backend {
    backend(max, KeyGroupRange::with_len(0, max).unwrap())
}

/// Every `(key, namespace, state)` of the state behind `table`, mapped by `f`.
fn dump<S, T>(table: &StateTable<u64, u32, S, impl core::hash::BuildHasher>, f: impl Fn(&S) -> T) -> Contents<T> {
    table.iter().map(|(k, n, s)| ((*k, *n), f(s))).collect()
}

fn value_dump(b: &Backend, h: &ValueState<u32, u64>) -> Contents<u64> {
    dump(b.state_table(h).unwrap(), |v| *v)
}

fn list_dump<V: StateType>(b: &Backend, h: &ListState<u32, V>) -> Contents<Vec<V>> {
    dump(b.state_table(h).unwrap(), |v| v.clone())
}

/// The `StorageError` somewhere in `err`'s source chain (directly or inside an `io::Error`).
fn storage_error_in<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e StorageError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(s) = e.downcast_ref::<StorageError>() {
            return Some(s);
        }
        if let Some(s) = e.downcast_ref::<io::Error>().and_then(StorageError::from_io) {
            return Some(s);
        }
        next = e.source();
    }
    None
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The memory cap at exactly the limit and one byte over.

/// Cut `total` bytes into chunks at the given cut points (empty chunks included).
fn chunks(total: usize, cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (total + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([total]) {
        out.push(at..c);
        at = c;
    }
    out
}

proptest! {
    #![proptest_config(config(64))]

    /// A sink of a storage capped at `limit` accepts exactly `limit` bytes, in any chunking, and commits them; one
    /// byte more fails at the write that crosses the limit (`TooLarge` naming the size reached and the limit),
    /// every later write and the commit fail, and nothing is listed.
    #[test]
    fn memory_cap_at_the_limit_and_one_over(limit in 0usize..300, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let storage = MemoryStorage::with_max_size(limit as u64);
        let at_limit: Vec<u8> = (0..limit).map(|i| i as u8).collect();
        let mut sink = storage.begin(1).unwrap();
        for r in chunks(limit, &cuts) {
            prop_assert_eq!(sink.write(&at_limit[r.clone()]).unwrap(), r.len());
        }
        let location = sink.commit().unwrap();
        prop_assert_eq!(location.bytes, limit as u64);
        prop_assert_eq!(storage.read(1).unwrap(), at_limit);

        let over: Vec<u8> = (0..=limit).map(|i| i as u8).collect();
        let mut sink = storage.begin(2).unwrap();
        let mut written = 0usize;
        let mut failed = false;
        for r in chunks(limit + 1, &cuts) {
            let result = sink.write(&over[r.clone()]);
            if failed {
                prop_assert!(result.is_err(), "a write after the failure succeeded");
                continue;
            }
            if written + r.len() <= limit {
                prop_assert_eq!(result.unwrap(), r.len());
                written += r.len();
            } else {
                let err = result.unwrap_err();
                let size = (written + r.len()) as u64;
                match StorageError::from_io(&err) {
                    Some(StorageError::TooLarge { size: s, limit: l }) => {
                        prop_assert_eq!((*s, *l), (size, limit as u64));
                    }
                    other => prop_assert!(false, "expected TooLarge, got {:?}", other),
                }
                failed = true;
            }
        }
        prop_assert!(failed, "{} bytes were accepted by a storage capped at {}", limit + 1, limit);
        prop_assert!(sink.commit().is_err());
        prop_assert_eq!(storage.list().unwrap(), vec![1]);
        prop_assert_eq!(storage.total_bytes(), limit as u64);
    }

    /// A checkpoint of exactly the cap is stored byte for byte; with a cap one byte smaller it fails with
    /// `TooLarge` naming that cap, stores nothing, and releases its snapshots.
    #[test]
    fn checkpoint_at_the_cap_and_one_over(entries in prop::collection::vec((0u64..500, any::<u64>()), 0..40)) {
        let mut b = full(8);
        let v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
        for &(k, x) in &entries {
            b.set_current_key(k).unwrap();
            v.update(&mut b, x).unwrap();
        }
        let mut bytes = Vec::new();
        b.checkpoint(1).unwrap().write_to(&mut bytes).unwrap();
        let size = bytes.len() as u64;

        let exact = MemoryStorage::with_max_size(size);
        let summary = b.checkpoint(1).unwrap().run(&exact).unwrap();
        prop_assert_eq!(summary.bytes, size);
        prop_assert_eq!(exact.read(1).unwrap(), bytes);

        let short = MemoryStorage::with_max_size(size - 1);
        let err = b.checkpoint(1).unwrap().run(&short).unwrap_err();
        prop_assert!(matches!(err, CheckpointError::Stream { id: 1, .. }), "{:?}", err);
        match storage_error_in(&err) {
            Some(StorageError::TooLarge { size: s, limit }) => {
                prop_assert_eq!(*limit, size - 1);
                prop_assert!(*s > size - 1 && *s <= size, "size reached {}", s);
            }
            other => prop_assert!(false, "expected TooLarge in {:?}, got {:?}", err, other),
        }
        prop_assert!(short.list().unwrap().is_empty());
        prop_assert_eq!(b.live_snapshots(), 0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. State ids independent of registration order and position.

/// A state of the registration property: value states share one signature, so that a restore matching states
/// by position rather than by name would not even be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Value,
    List,
    Reducing,
}

enum Any3 {
    Value(ValueState<u32, u64>),
    List(ListState<u32, u64>),
    Reducing(ReducingState<u32, u64>),
}

fn register(b: &mut Backend, name: &str, kind: Kind) -> Any3 {
    match kind {
        Kind::Value => Any3::Value(
            b.register_value(ValueStateDescriptor::new(name, U32Serializer, U64Serializer))
                .unwrap(),
        ),
        Kind::List => Any3::List(
            b.register_list(ListStateDescriptor::new(name, U32Serializer, U64Serializer))
                .unwrap(),
        ),
        Kind::Reducing => Any3::Reducing(
            b.register_reducing(ReducingStateDescriptor::new(
                name,
                U32Serializer,
                U64Serializer,
                u64::wrapping_add,
            ))
            .unwrap(),
        ),
    }
}

fn contents_of(b: &Backend, h: &Any3) -> Contents<Vec<u64>> {
    match h {
        Any3::Value(h) => dump(b.state_table(h).unwrap(), |v| vec![*v]),
        Any3::List(h) => list_dump(b, h),
        Any3::Reducing(h) => dump(b.state_table(h).unwrap(), |v| vec![*v]),
    }
}

fn kinds() -> impl Strategy<Value = Vec<Kind>> {
    prop::collection::vec(
        prop_oneof![3 => Just(Kind::Value), 1 => Just(Kind::List), 1 => Just(Kind::Reducing)],
        2..7,
    )
}

proptest! {
    #![proptest_config(config(48))]

    /// The same states registered in any order, in writer and reader, restore to the same contents: the stream
    /// numbers states by the writer's registration, and restore matches them by name. The pending checkpoint
    /// reports the id it was taken with (any `u64`) and, as `states()`, exactly the meta entries of its stream.
    #[test]
    fn state_ids_independent_of_registration_order(
        (kinds, writer_order, reader_order) in kinds().prop_flat_map(|k| {
            let n = k.len();
            let order: Vec<usize> = (0..n).collect();
            (Just(k), Just(order.clone()).prop_shuffle(), Just(order).prop_shuffle())
        }),
        ops in prop::collection::vec((any::<prop::sample::Index>(), 0u64..40, 0u32..3, 0u64..1000), 0..80),
        id in any::<u64>(),
    ) {
        let name = |i: usize| format!("s{i}");
        let mut w = full(16);
        let mut handles: Vec<Option<Any3>> = (0..kinds.len()).map(|_| None).collect();
        for &i in &writer_order {
            handles[i] = Some(register(&mut w, &name(i), kinds[i]));
        }
        let mut handles: Vec<Any3> = handles.into_iter().map(Option::unwrap).collect();
        let mut model: Vec<Contents<Vec<u64>>> = vec![BTreeMap::new(); kinds.len()];
        for &(state, key, ns, x) in &ops {
            let i = state.index(kinds.len());
            w.set_current_key(key).unwrap();
            let slot = model[i].entry((key, ns)).or_default();
            match &mut handles[i] {
                Any3::Value(h) => {
                    h.set_current_namespace(ns);
                    h.update(&mut w, x).unwrap();
                    *slot = vec![x];
                }
                Any3::List(h) => {
                    h.set_current_namespace(ns);
                    h.add(&mut w, x).unwrap();
                    slot.push(x);
                }
                Any3::Reducing(h) => {
                    h.set_current_namespace(ns);
                    h.add(&mut w, x).unwrap();
                    let old = slot.first().copied().unwrap_or(0);
                    *slot = vec![old.wrapping_add(x)];
                }
            }
        }
        let mut bytes = Vec::new();
        let pending = w.checkpoint(id).unwrap();
        let summary = pending.write_to(&mut bytes).unwrap();
        // The pending checkpoint reports the id it was taken with and the meta entries its stream carries.
        prop_assert_eq!(pending.id(), id);
        prop_assert_eq!(summary.id, id);
        // The stream numbers the states 0.. in the writer's registration order.
        let stream = StreamCheckpoint::parse(&bytes).unwrap();
        prop_assert_eq!(pending.states(), stream.states());
        let ids: Vec<(u16, String)> = stream.states().iter().map(|m| (m.id, m.name.clone())).collect();
        let expected: Vec<(u16, String)> =
            writer_order.iter().enumerate().map(|(id, &i)| (id as u16, name(i))).collect();
        prop_assert_eq!(ids, expected);
        drop(pending);

        let mut r = full(16);
        let mut read: Vec<Option<Any3>> = (0..kinds.len()).map(|_| None).collect();
        for &i in &reader_order {
            read[i] = Some(register(&mut r, &name(i), kinds[i]));
        }
        r.restore(&[&bytes]).unwrap();
        for (i, h) in read.iter().enumerate() {
            prop_assert_eq!(&contents_of(&r, h.as_ref().unwrap()), &model[i], "state {} ({:?})", name(i), kinds[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Restore into every sub-range.

proptest! {
    #![proptest_config(config(24))]

    /// Checkpoints of instances covering key groups `lo..=hi` (cut into one to three adjacent ranges), restored
    /// into every sub-range `a..=b` of `0..max` (single key groups at both ends and ranges reaching past the
    /// covered ones included), give exactly the entries whose key group is in `a..=b` — through the backend and
    /// through the table-level `restore`.
    #[test]
    fn restore_into_every_sub_range(
        max in 1u32..11,
        bounds in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        entries in prop::collection::vec((0u64..400, 0u32..2, 0u64..1000), 0..60),
    ) {
        let (x, y) = (bounds.0.index(max as usize) as u32, bounds.1.index(max as usize) as u32);
        let (lo, hi) = (x.min(y), x.max(y));
        let mut starts: BTreeSet<u32> = cuts.iter().map(|c| lo + c.index((hi - lo + 1) as usize) as u32).collect();
        starts.insert(lo);
        let starts: Vec<u32> = starts.into_iter().collect();
        let ranges: Vec<KeyGroupRange> = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| KeyGroupRange::of(s, starts.get(i + 1).map_or(hi, |n| n - 1)).unwrap())
            .collect();
        let all = KeyGroupContext::all(max).unwrap();
        let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);

        let mut values: Contents<u64> = BTreeMap::new();
        let mut lists: Contents<Vec<u64>> = BTreeMap::new();
        let mut backend_bytes = Vec::new();
        let mut table_bytes = Vec::new();
        for &range in &ranges {
            let mut w = backend(max, range);
            let mut v = w.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
            let mut l = w.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
            let mut table: StateTable<u64, u32, u64> = StateTable::new();
            for &(k, ns, x) in &entries {
                if !range.contains(all.key_group_of(&k)) {
                    continue;
                }
                w.set_current_key(k).unwrap();
                v.set_current_namespace(ns);
                v.update(&mut w, x).unwrap();
                l.set_current_namespace(ns);
                l.add(&mut w, x).unwrap();
                table.put(k, ns, x);
                values.insert((k, ns), x);
                lists.entry((k, ns)).or_default().push(x);
            }
            let mut bytes = Vec::new();
            w.checkpoint(5).unwrap().write_to(&mut bytes).unwrap();
            backend_bytes.push(bytes);
            let mut bytes = Vec::new();
            let ctx = KeyGroupContext::new(max, range).unwrap();
            write_checkpoint(&table.snapshot().unwrap(), ctx, &sers, WriteOptions::default(), &mut bytes).unwrap();
            table_bytes.push(bytes);
        }
        let backend_slices: Vec<&[u8]> = backend_bytes.iter().map(Vec::as_slice).collect();
        let table_slices: Vec<&[u8]> = table_bytes.iter().map(Vec::as_slice).collect();
        let covered = KeyGroupRange::of(lo, hi).unwrap();

        for a in 0..max {
            for b_ in a..max {
                let target = KeyGroupRange::of(a, b_).unwrap();
                let mine = |&(k, _): &(u64, u32)| target.contains(all.key_group_of(&k));
                let want_values: Contents<u64> =
                    values.iter().filter(|(kn, _)| mine(kn)).map(|(kn, x)| (*kn, *x)).collect();
                let want_lists: Contents<Vec<u64>> =
                    lists.iter().filter(|(kn, _)| mine(kn)).map(|(kn, x)| (*kn, x.clone())).collect();

                let mut r = backend(max, target);
                let v = r.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
                let l = r.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
                let summary = r.restore(&backend_slices).unwrap();
                let restored_groups = target.intersection(&covered).number_of_key_groups();
                prop_assert_eq!(summary.key_groups, restored_groups, "range {}..={}", a, b_);
                prop_assert_eq!(&value_dump(&r, &v), &want_values, "backend, range {}..={} of {}..={}", a, b_, lo, hi);
                prop_assert_eq!(&list_dump(&r, &l), &want_lists, "backend, range {}..={} of {}..={}", a, b_, lo, hi);

                let ctx = KeyGroupContext::new(max, target).unwrap();
                let table: StateTable<u64, u32, u64> =
                    cow_state_table::restore::restore(ctx, &table_slices, &sers).unwrap();
                prop_assert_eq!(&dump(&table, |x| *x), &want_values, "table, range {}..={} of {}..={}", a, b_, lo, hi);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Merge results independent of how many sources there are.

/// B6 on a model of one key's namespaces: present sources folded left to right (a repeated source counts once),
/// then combined with the target unless the target is itself a source.
fn model_merge<S: Clone>(m: &mut BTreeMap<u32, S>, target: u32, sources: &[u32], f: &impl Fn(S, S) -> S) {
    let mut seen = Vec::new();
    let mut merged: Option<S> = None;
    for s in sources {
        if seen.contains(s) {
            continue;
        }
        seen.push(*s);
        if let Some(v) = m.get(s) {
            merged = Some(match merged {
                Some(acc) => f(acc, v.clone()),
                None => v.clone(),
            });
        }
    }
    let Some(merged) = merged else { return };
    let old = if sources.contains(&target) {
        None
    } else {
        m.get(&target).cloned()
    };
    let new = match old {
        Some(t) => f(t, merged),
        None => merged,
    };
    for s in sources {
        m.remove(s);
    }
    m.insert(target, new);
}

struct Concat;
impl AggregateFunction<String, String, String> for Concat {
    fn create_accumulator(&self) -> String {
        String::new()
    }
    fn add(&self, value: String, acc: String) -> String {
        acc + &value
    }
    fn get_result(&self, acc: &String) -> String {
        acc.clone()
    }
    fn merge(&self, a: String, b: String) -> String {
        a + "|" + &b
    }
}

struct MergeStates {
    r: ReducingState<u32, String>,
    a: AggregatingState<u32, String, String, String>,
    l: ListState<u32, String>,
}

fn merge_states(b: &mut Backend) -> MergeStates {
    MergeStates {
        r: b.register_reducing(ReducingStateDescriptor::new(
            "r",
            U32Serializer,
            StringSerializer,
            |a: String, b: String| a + "+" + &b,
        ))
        .unwrap(),
        a: b.register_aggregating(AggregatingStateDescriptor::new(
            "a",
            U32Serializer,
            StringSerializer,
            Concat,
        ))
        .unwrap(),
        l: b.register_list(ListStateDescriptor::new("l", U32Serializer, StringSerializer))
            .unwrap(),
    }
}

/// The three states' contents per key: `(reducing, aggregating, list)`.
type MergeModel = BTreeMap<u64, (BTreeMap<u32, String>, BTreeMap<u32, String>, BTreeMap<u32, Vec<String>>)>;

fn merge_contents(b: &Backend, s: &MergeStates) -> MergeModel {
    let mut out = MergeModel::new();
    for ((k, n), v) in dump(b.state_table(&s.r).unwrap(), String::clone) {
        out.entry(k).or_default().0.insert(n, v);
    }
    for ((k, n), v) in dump(b.state_table(&s.a).unwrap(), String::clone) {
        out.entry(k).or_default().1.insert(n, v);
    }
    for ((k, n), v) in dump(b.state_table(&s.l).unwrap(), Vec::clone) {
        out.entry(k).or_default().2.insert(n, v);
    }
    out.retain(|_, (r, a, l)| !(r.is_empty() && a.is_empty() && l.is_empty()));
    out
}

fn model_merge_all(m: &mut MergeModel, key: u64, target: u32, sources: &[u32]) {
    if let Some((r, a, l)) = m.get_mut(&key) {
        model_merge(r, target, sources, &|x: String, y: String| x + "+" + &y);
        model_merge(a, target, sources, &|x: String, y: String| x + "|" + &y);
        model_merge(l, target, sources, &|mut x: Vec<String>, y: Vec<String>| {
            x.extend(y);
            x
        });
    }
}

fn merge_namespaces(b: &mut Backend, s: &MergeStates, target: u32, sources: &[u32]) {
    s.r.merge_namespaces(b, target, sources).unwrap();
    s.a.merge_namespaces(b, target, sources).unwrap();
    s.l.merge_namespaces(b, target, sources).unwrap();
}

proptest! {
    #![proptest_config(config(64))]

    /// Merging sources all at once and one by one gives what B6 says (sources deduplicated, absent ones skipped,
    /// folded left to right), for up to 40 sources (above the 16 where duplicates are found with a set), with
    /// and without a checkpoint in flight; when the target is not among the sources the two agree. Other keys
    /// are not touched, and a checkpoint in flight keeps the contents of before the merge.
    #[test]
    fn merge_independent_of_the_number_of_sources(
        fill in prop::collection::vec((0u64..3, 0u32..24, 0u8..3), 0..60),
        key in 0u64..3,
        target in 0u32..24,
        sources in prop::collection::vec(0u32..24, 0..40),
        in_flight in any::<bool>(),
    ) {
        let mut at_once = full(8);
        let mut one_by_one = full(8);
        let mut s1 = merge_states(&mut at_once);
        let mut s2 = merge_states(&mut one_by_one);
        for (i, &(k, ns, what)) in fill.iter().enumerate() {
            let v = format!("{k}.{ns}.{i}");
            for (b, s) in [(&mut at_once, &mut s1), (&mut one_by_one, &mut s2)] {
                b.set_current_key(k).unwrap();
                s.r.set_current_namespace(ns);
                s.a.set_current_namespace(ns);
                s.l.set_current_namespace(ns);
                match what {
                    0 => s.r.add(b, v.clone()).unwrap(),
                    1 => s.a.add(b, v.clone()).unwrap(),
                    _ => s.l.add(b, v.clone()).unwrap(),
                }
            }
        }
        let before = merge_contents(&at_once, &s1);
        prop_assert_eq!(&before, &merge_contents(&one_by_one, &s2));
        let pending = in_flight.then(|| at_once.checkpoint(1).unwrap());
        let pending2 = in_flight.then(|| one_by_one.checkpoint(1).unwrap());

        let mut want_at_once = before.clone();
        model_merge_all(&mut want_at_once, key, target, &sources);
        at_once.set_current_key(key).unwrap();
        merge_namespaces(&mut at_once, &s1, target, &sources);
        prop_assert_eq!(&merge_contents(&at_once, &s1), &want_at_once, "all at once");

        let mut want_one_by_one = before.clone();
        one_by_one.set_current_key(key).unwrap();
        for s in &sources {
            model_merge_all(&mut want_one_by_one, key, target, std::slice::from_ref(s));
            merge_namespaces(&mut one_by_one, &s2, target, std::slice::from_ref(s));
        }
        prop_assert_eq!(&merge_contents(&one_by_one, &s2), &want_one_by_one, "one by one");
        if !sources.contains(&target) {
            prop_assert_eq!(&want_at_once, &want_one_by_one);
        }

        for pending in [pending, pending2].into_iter().flatten() {
            let mut bytes = Vec::new();
            pending.write_to(&mut bytes).unwrap();
            drop(pending);
            let mut r = full(8);
            let s = merge_states(&mut r);
            r.restore(&[&bytes]).unwrap();
            prop_assert_eq!(&merge_contents(&r, &s), &before, "the checkpoint in flight");
        }
        prop_assert_eq!(at_once.live_snapshots() + one_by_one.live_snapshots(), 0);
        at_once.check_invariants().unwrap();
        one_by_one.check_invariants().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 5. The serialized-value lookup's namespace.

/// What the serialized-value lookup returns for one stored value (`u64`, big-endian by its serializer).
fn ser(x: u64) -> Vec<u8> {
    let mut out = Vec::new();
    U64Serializer.serialize(&x, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(config(64))]

    /// `serialized_value(key, namespace)` returns that key's and that namespace's state — not the current key's,
    /// nor the handle's current namespace's, nor the default namespace's — for every key and namespace, present
    /// or absent, and leaves the key context alone.
    #[test]
    fn serialized_lookup_reads_the_namespace_asked_for(
        entries in prop::collection::vec((0u64..12, 0u32..4, 0u64..1000), 0..50),
        current in (0u64..12, 0u32..5),
    ) {
        let mut b = full(16);
        let mut v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
        let mut l = b.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
        let mut r = b
            .register_reducing(ReducingStateDescriptor::new("r", U32Serializer, U64Serializer, u64::wrapping_add))
            .unwrap();
        let mut values: Contents<u64> = BTreeMap::new();
        let mut lists: Contents<Vec<u64>> = BTreeMap::new();
        let mut sums: Contents<u64> = BTreeMap::new();
        for &(k, ns, x) in &entries {
            b.set_current_key(k).unwrap();
            v.set_current_namespace(ns);
            l.set_current_namespace(ns);
            r.set_current_namespace(ns);
            v.update(&mut b, x).unwrap();
            l.add(&mut b, x).unwrap();
            r.add(&mut b, x).unwrap();
            values.insert((k, ns), x);
            lists.entry((k, ns)).or_default().push(x);
            let s = sums.entry((k, ns)).or_default();
            *s = s.wrapping_add(x);
        }
        b.set_current_key(current.0).unwrap();
        v.set_current_namespace(current.1);
        l.set_current_namespace(current.1);
        r.set_current_namespace(current.1);
        for k in 0..12u64 {
            for ns in 0..5u32 {
                let value = values.get(&(k, ns)).map(|&x| ser(x));
                prop_assert_eq!(v.serialized_value(&b, &k, &ns).unwrap(), value, "value ({}, {})", k, ns);
                let list = lists.get(&(k, ns)).map(|xs| xs.iter().map(|&x| ser(x)).collect::<Vec<_>>().join(&b','));
                prop_assert_eq!(l.serialized_value(&b, &k, &ns).unwrap(), list, "list ({}, {})", k, ns);
                let sum = sums.get(&(k, ns)).map(|&x| ser(x));
                prop_assert_eq!(r.serialized_value(&b, &k, &ns).unwrap(), sum, "reducing ({}, {})", k, ns);
            }
        }
        prop_assert_eq!(b.current_key(), Some(&current.0));
        let namespaces = (*v.current_namespace(), *l.current_namespace(), *r.current_namespace());
        prop_assert_eq!(namespaces, (current.1, current.1, current.1));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 6. A failed `set_current_key` leaves the key context unchanged.

#[derive(Debug, Clone)]
enum KeyOp {
    SetKey(u64),
    Namespace(u32),
    Update(u64),
    Clear,
}

fn key_ops() -> impl Strategy<Value = Vec<KeyOp>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u64..200).prop_map(KeyOp::SetKey),
            1 => (0u32..3).prop_map(KeyOp::Namespace),
            3 => (0u64..1000).prop_map(KeyOp::Update),
            1 => Just(KeyOp::Clear),
        ],
        0..60,
    )
}

proptest! {
    #![proptest_config(config(64))]

    /// Against a model of the key context: a key whose key group is outside the backend's range is refused with
    /// `KeyOutOfRange` (its key group and the range), and afterwards the current key, its key group and the
    /// handle's namespace are those of before — reads and writes still go to the previous key, or fail with
    /// `NoCurrentKey` if there was none.
    #[test]
    fn failed_set_current_key_leaves_the_context(
        max in 1u32..16,
        bounds in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        ops in key_ops(),
    ) {
        let (x, y) = (bounds.0.index(max as usize) as u32, bounds.1.index(max as usize) as u32);
        let range = KeyGroupRange::of(x.min(y), x.max(y)).unwrap();
        let mut b = backend(max, range);
        let ctx = b.key_group_context();
        let mut v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
        let mut key: Option<(u64, u32)> = None;
        let mut namespace = 0u32;
        let mut model: Contents<u64> = BTreeMap::new();
        for op in &ops {
            match *op {
                KeyOp::SetKey(k) => {
                    let kg = ctx.key_group_of(&k);
                    let result = b.set_current_key(k);
                    if range.contains(kg) {
                        prop_assert!(result.is_ok());
                        key = Some((k, kg));
                    } else {
                        match result {
                            Err(BackendError::KeyOutOfRange { key_group, range: r }) => {
                                prop_assert_eq!((key_group, r), (kg, range));
                            }
                            other => prop_assert!(false, "key {} of group {} outside {:?}: {:?}", k, kg, range, other),
                        }
                    }
                }
                KeyOp::Namespace(ns) => {
                    v.set_current_namespace(ns);
                    namespace = ns;
                }
                KeyOp::Update(x) => {
                    let result = v.update(&mut b, x);
                    match key {
                        Some((k, _)) => {
                            prop_assert!(result.is_ok());
                            model.insert((k, namespace), x);
                        }
                        None => prop_assert!(matches!(result, Err(BackendError::NoCurrentKey))),
                    }
                }
                KeyOp::Clear => {
                    b.clear_current_key();
                    key = None;
                }
            }
            prop_assert_eq!(b.current_key(), key.as_ref().map(|(k, _)| k), "after {:?}", op);
            prop_assert_eq!(b.current_key_group(), key.map(|(_, kg)| kg), "after {:?}", op);
            prop_assert_eq!(*v.current_namespace(), namespace, "after {:?}", op);
            match key {
                Some((k, _)) => prop_assert_eq!(v.value(&b).unwrap(), model.get(&(k, namespace)), "after {:?}", op),
                None => prop_assert!(matches!(v.value(&b), Err(BackendError::NoCurrentKey))),
            }
        }
        prop_assert_eq!(value_dump(&b, &v), model);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Dropped and cancelled checkpoint handles: what they join, what they release, what keeps running.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Began(u64),
    Committed(u64),
    /// The sink was dropped (after a commit, or without one): the asynchronous part is done with the storage.
    Ended(u64),
}

/// A memory storage whose sinks are slow (a pause per write) and report their lifecycle: a handle that returned
/// without joining its thread would leave its sink alive.
#[derive(Debug, Clone)]
struct Recording {
    inner: MemoryStorage,
    events: Arc<Mutex<Vec<Event>>>,
    pause: Duration,
}

impl Recording {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

struct RecordingSink {
    id: u64,
    inner: Option<Box<dyn CheckpointSink>>,
    events: Arc<Mutex<Vec<Event>>>,
    pause: Duration,
}

impl Write for RecordingSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        std::thread::sleep(self.pause);
        self.inner.as_mut().unwrap().write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().unwrap().flush()
    }
}

impl CheckpointSink for RecordingSink {
    fn commit(mut self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        let location = self.inner.take().unwrap().commit()?;
        self.events.lock().unwrap().push(Event::Committed(self.id));
        Ok(location)
    }
}

impl Drop for RecordingSink {
    fn drop(&mut self) {
        self.inner = None;
        self.events.lock().unwrap().push(Event::Ended(self.id));
    }
}

impl CheckpointStorage for Recording {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        let inner = self.inner.begin(id)?;
        self.events.lock().unwrap().push(Event::Began(id));
        Ok(Box::new(RecordingSink {
            id,
            inner: Some(inner),
            events: self.events.clone(),
            pause: self.pause,
        }))
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read(id)
    }
    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

#[derive(Debug, Clone)]
enum LifeOp {
    Write(u64, u64),
    /// Checkpoint and spawn its asynchronous part.
    Spawn,
    /// Checkpoint and keep the pending checkpoint.
    Pending,
    /// Spawn a kept pending checkpoint.
    SpawnPending(prop::sample::Index),
    /// Drop a kept pending checkpoint without running it.
    DropPending(prop::sample::Index),
    /// Run a kept pending checkpoint on this thread with the cancellation flag already set.
    RunCancelled(prop::sample::Index),
    Wait(prop::sample::Index),
    Cancel(prop::sample::Index),
    DropHandle(prop::sample::Index),
}

fn life_ops() -> impl Strategy<Value = Vec<LifeOp>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u64..30, 0u64..1000).prop_map(|(k, x)| LifeOp::Write(k, x)),
            3 => Just(LifeOp::Spawn),
            1 => Just(LifeOp::Pending),
            1 => any::<prop::sample::Index>().prop_map(LifeOp::SpawnPending),
            1 => any::<prop::sample::Index>().prop_map(LifeOp::DropPending),
            1 => any::<prop::sample::Index>().prop_map(LifeOp::RunCancelled),
            1 => any::<prop::sample::Index>().prop_map(LifeOp::Wait),
            2 => any::<prop::sample::Index>().prop_map(LifeOp::Cancel),
            2 => any::<prop::sample::Index>().prop_map(LifeOp::DropHandle),
        ],
        1..24,
    )
}

/// The state a checkpoint must restore to: per key, the value and the list.
type LifeModel = (BTreeMap<u64, u64>, BTreeMap<u64, Vec<u64>>);

fn restored(bytes: &[u8]) -> LifeModel {
    let mut r = full(16);
    let v = r
        .register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer))
        .unwrap();
    let l = r
        .register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer))
        .unwrap();
    r.restore(&[bytes]).unwrap();
    (
        value_dump(&r, &v).into_iter().map(|((k, _), x)| (k, x)).collect(),
        list_dump(&r, &l).into_iter().map(|((k, _), x)| (k, x)).collect(),
    )
}

/// Removes and returns the item `i` picks, if there is one.
fn pick<T>(items: &mut Vec<(u64, T)>, i: prop::sample::Index) -> Option<(u64, T)> {
    (!items.is_empty()).then(|| items.remove(i.index(items.len())))
}

proptest! {
    #![proptest_config(config(24))]

    /// Checkpoints spawned, kept pending, waited for, cancelled and dropped in any order while the backend keeps
    /// changing. When `cancel`, drop or `wait` of a handle returns, its thread is done with the storage (its
    /// sink ended, or it was cancelled before it opened one) and its snapshots are released; whether it committed is final (nothing commits after its
    /// handle returned), and a committed checkpoint restores the state of its synchronous part. A cancelled one
    /// that reports `Cancelled` stored nothing. A pending checkpoint dropped, or run with the flag set, stores
    /// nothing and releases its snapshots at once. The other checkpoints in flight complete; at the end no
    /// snapshot is held. Every pending checkpoint and handle reports the id it was taken with (numbered from any
    /// first id).
    #[test]
    fn dropped_or_cancelled_handles_join_and_release(ops in life_ops(), first_id in 0u64..u64::MAX / 2) {
        const STATES: usize = 2;
        let storage = Recording {
            inner: MemoryStorage::new(),
            events: Arc::default(),
            pause: Duration::from_micros(300),
        };
        let shared: Arc<dyn CheckpointStorage> = Arc::new(storage.clone());
        let mut b = full(16);
        let v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
        let l = b.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
        let mut model: LifeModel = Default::default();
        let mut at_sync: BTreeMap<u64, LifeModel> = BTreeMap::new();
        let mut handles: Vec<(u64, CheckpointHandle)> = Vec::new();
        let mut pendings: Vec<(u64, PendingCheckpoint)> = Vec::new();
        let mut committed: BTreeSet<u64> = BTreeSet::new();
        let mut next_id = first_id;

        // After a handle's `wait`, `cancel` or drop returned.
        let joined = |id: u64, outcome: Option<Result<u64, ()>>, handles: &Vec<(u64, CheckpointHandle)>,
                      pendings: &Vec<(u64, PendingCheckpoint)>, b: &Backend, committed: &mut BTreeSet<u64>,
                      at_sync: &BTreeMap<u64, LifeModel>| -> Result<(), TestCaseError> {
            let events = storage.events();
            // No sink of it is alive: it ended, or it never began (a part cancelled before the storage's `begin`,
            // B21, opens no sink).
            let (began, ended) = (events.contains(&Event::Began(id)), events.contains(&Event::Ended(id)));
            prop_assert!(!began || ended, "handle {} returned while its sink is alive: {:?}", id, events);
            let live = b.live_snapshots();
            let (pending, running) = (pendings.len(), handles.len());
            let (low, high) = (STATES * pending, STATES * (pending + running));
            prop_assert!(low <= live && live <= high, "{} snapshots, {} pending, {} running", live, pending, running);
            let listed = storage.list().unwrap().contains(&id);
            prop_assert_eq!(listed, events.contains(&Event::Committed(id)));
            match outcome {
                Some(Ok(_)) => prop_assert!(listed, "checkpoint {} reported Ok but is not stored", id),
                Some(Err(())) => prop_assert!(!listed, "checkpoint {} reported Cancelled but is stored", id),
                None => {}
            }
            if listed {
                prop_assert_eq!(&restored(&storage.read(id).unwrap()), &at_sync[&id], "checkpoint {}", id);
                committed.insert(id);
            }
            Ok(())
        };

        for op in &ops {
            match op {
                LifeOp::Write(k, x) => {
                    b.set_current_key(*k).unwrap();
                    v.update(&mut b, *x).unwrap();
                    l.add(&mut b, *x).unwrap();
                    model.0.insert(*k, *x);
                    model.1.entry(*k).or_default().push(*x);
                }
                LifeOp::Spawn | LifeOp::Pending => {
                    let id = next_id;
                    next_id += 1;
                    let before = b.live_snapshots();
                    let pending = b.checkpoint(id).unwrap();
                    prop_assert_eq!(pending.id(), id);
                    prop_assert_eq!(b.live_snapshots(), before + STATES);
                    at_sync.insert(id, model.clone());
                    match op {
                        LifeOp::Spawn => {
                            let h = pending.spawn(shared.clone());
                            prop_assert_eq!(h.id(), id);
                            handles.push((id, h));
                        }
                        _ => pendings.push((id, pending)),
                    }
                }
                LifeOp::SpawnPending(i) => {
                    if let Some((id, p)) = pick(&mut pendings, *i) {
                        let h = p.spawn(shared.clone());
                        prop_assert_eq!(h.id(), id);
                        handles.push((id, h));
                    }
                }
                LifeOp::DropPending(i) | LifeOp::RunCancelled(i) => {
                    if let Some((id, p)) = pick(&mut pendings, *i) {
                        if let LifeOp::RunCancelled(_) = op {
                            let outcome = p.run_cancellable(&storage, &AtomicBool::new(true));
                            let cancelled = matches!(outcome, Err(CheckpointError::Cancelled { id: c }) if c == id);
                            prop_assert!(cancelled, "{:?}", outcome);
                            // The flag is checked before the storage's `begin` (B21): no sink was opened.
                            prop_assert!(!storage.events().contains(&Event::Began(id)));
                        } else {
                            drop(p);
                        }
                        if handles.is_empty() {
                            prop_assert_eq!(b.live_snapshots(), STATES * pendings.len());
                        }
                        prop_assert!(!storage.list().unwrap().contains(&id));
                    }
                }
                LifeOp::Wait(i) => {
                    if let Some((id, h)) = pick(&mut handles, *i) {
                        prop_assert_eq!(h.id(), id);
                        let summary = h.wait().unwrap();
                        prop_assert_eq!(summary.id, id);
                        let want = &at_sync[&id];
                        prop_assert_eq!(summary.entries, (want.0.len() + want.1.len()) as u64);
                        joined(id, Some(Ok(id)), &handles, &pendings, &b, &mut committed, &at_sync)?;
                    }
                }
                LifeOp::Cancel(i) => {
                    if let Some((id, h)) = pick(&mut handles, *i) {
                        prop_assert_eq!(h.id(), id);
                        let outcome = match h.cancel() {
                            Ok(summary) => Ok(summary.id),
                            Err(CheckpointError::Cancelled { id: c }) if c == id => Err(()),
                            Err(e) => return Err(TestCaseError::fail(format!("cancel of {id}: {e:?}"))),
                        };
                        joined(id, Some(outcome), &handles, &pendings, &b, &mut committed, &at_sync)?;
                    }
                }
                LifeOp::DropHandle(i) => {
                    if let Some((id, h)) = pick(&mut handles, *i) {
                        prop_assert_eq!(h.id(), id);
                        drop(h);
                        joined(id, None, &handles, &pendings, &b, &mut committed, &at_sync)?;
                    }
                }
            }
        }
        // What keeps running: every handle left completes, whatever was cancelled or dropped before.
        while let Some((id, h)) = handles.pop() {
            prop_assert_eq!(h.id(), id);
            prop_assert!(h.wait().is_ok(), "checkpoint {} in flight failed", id);
            joined(id, Some(Ok(id)), &handles, &pendings, &b, &mut committed, &at_sync)?;
        }
        drop(pendings);
        prop_assert_eq!(b.live_snapshots(), 0);
        // Nothing committed after its handle returned.
        prop_assert_eq!(storage.list().unwrap().into_iter().collect::<BTreeSet<_>>(), committed);
        let events = storage.events();
        for e in &events {
            if let Event::Began(id) = e {
                prop_assert!(events.contains(&Event::Ended(*id)));
            }
        }
        b.check_invariants().unwrap();
    }
}
