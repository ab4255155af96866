//! The keyed state backend's rules (docs/DESIGN.md B1–B24), one test per rule or edge case.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::{
    AggregateFunction, AggregatingStateDescriptor, BackendError, CheckpointError, KeyedStateBackend,
    ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor, RestoreError, ValueStateDescriptor,
};
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupRange};
use cow_state_table::serializer::{
    I32Serializer, I64Serializer, StringSerializer, U32Serializer, U64Serializer, VoidNamespaceSerializer,
};
use cow_state_table::DeterministicState;
use std::sync::Arc;

type Backend = KeyedStateBackend<u64, U64Serializer>;

const MAX_PAR: u32 = 128;

fn backend(range: KeyGroupRange) -> Backend {
    KeyedStateBackend::new(U64Serializer, MAX_PAR, range).unwrap()
}

fn full() -> Backend {
    backend(KeyGroupRange::of(0, MAX_PAR - 1).unwrap())
}

fn range_of(index: u32, parallelism: u32) -> KeyGroupRange {
    compute_key_group_range_for_operator_index(MAX_PAR, parallelism, index).unwrap()
}

fn value_desc() -> ValueStateDescriptor<U32Serializer, U64Serializer> {
    ValueStateDescriptor::new("v", U32Serializer, U64Serializer)
}

fn list_desc() -> ListStateDescriptor<U32Serializer, StringSerializer> {
    ListStateDescriptor::new("l", U32Serializer, StringSerializer)
}

fn sum_desc() -> ReducingStateDescriptor<U32Serializer, U64Serializer> {
    ReducingStateDescriptor::new("r", U32Serializer, U64Serializer, |a, b| a + b)
}

/// B1: the key group is computed at set_current_key; a key outside the range is refused and the old key stays.
#[test]
fn b1_key_context_and_range() {
    let mut b = backend(range_of(0, 2));
    let v = b.register_value(value_desc()).unwrap();
    assert!(matches!(v.value(&b), Err(BackendError::NoCurrentKey)));
    assert!(matches!(v.update(&mut b, 1), Err(BackendError::NoCurrentKey)));
    let ctx = b.key_group_context();
    assert_eq!(b.max_parallelism(), MAX_PAR);
    let inside = (0..1000u64)
        .find(|k| b.key_group_range().contains(ctx.key_group_of(k)))
        .unwrap();
    let outside = (0..1000u64)
        .find(|k| !b.key_group_range().contains(ctx.key_group_of(k)))
        .unwrap();
    b.set_current_key(inside).unwrap();
    assert_eq!(b.current_key_group(), Some(ctx.key_group_of(&inside)));
    let err = b.set_current_key(outside).unwrap_err();
    match err {
        BackendError::KeyOutOfRange { key_group, range } => {
            assert_eq!(key_group, ctx.key_group_of(&outside));
            assert_eq!(range, b.key_group_range());
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(b.current_key(), Some(&inside));
}

/// B2: same name and signature → the same state; another kind, serializer or type → a typed error.
#[test]
fn b2_registry_same_state_or_mismatch() {
    let mut b = full();
    let v1 = b.register_value(value_desc()).unwrap();
    let v2 = b.register_value(value_desc().with_default(7)).unwrap();
    b.set_current_key(1).unwrap();
    v1.update(&mut b, 5).unwrap();
    assert_eq!(v2.value(&b).unwrap(), Some(&5));
    assert_eq!(b.state_names().collect::<Vec<_>>(), ["v"]);
    // Another kind under the same name.
    let e = b
        .register_reducing(ReducingStateDescriptor::new(
            "v",
            U32Serializer,
            U64Serializer,
            |a, b| a + b,
        ))
        .unwrap_err();
    assert!(matches!(&e, BackendError::StateMismatch(m) if m.name == "v"), "{e:?}");
    // Another state serializer.
    let e = b
        .register_value(ValueStateDescriptor::new("v", U32Serializer, I64Serializer))
        .unwrap_err();
    assert!(
        matches!(&e, BackendError::StateMismatch(m) if m.requested.state_serializer == "i64"),
        "{e:?}"
    );
    // The message names both signatures: kind, namespace and state serializer.
    assert_eq!(
        e.to_string(),
        "state \"v\" is registered as value (namespace u32, state u64), requested as value (namespace u32, state i64)"
    );
    // Another namespace serializer.
    assert!(b
        .register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer))
        .is_err());
    assert_eq!(b.state_names().count(), 1);
    // Another serializer of the same Rust type: the identities differ, the stored types do not.
    use cow_state_table::serializer::{FlinkStringSerializer, StringSerializer};
    b.register_value(ValueStateDescriptor::new("text", U32Serializer, StringSerializer))
        .unwrap();
    let e = b
        .register_value(ValueStateDescriptor::new("text", U32Serializer, FlinkStringSerializer))
        .unwrap_err();
    assert!(
        matches!(&e, BackendError::StateMismatch(m) if m.requested.state_serializer == "flink_string"),
        "{e:?}"
    );
    assert_eq!(b.state_names().count(), 2);
}

/// B3: a handle of another backend is refused, never served from the wrong state.
#[test]
fn b3_foreign_handle() {
    let mut a = full();
    let mut b = full();
    let va = a.register_value(value_desc()).unwrap();
    let _vb = b.register_value(value_desc()).unwrap();
    b.set_current_key(1).unwrap();
    assert!(matches!(va.value(&b), Err(BackendError::ForeignHandle)));
    assert!(matches!(va.update(&mut b, 1), Err(BackendError::ForeignHandle)));
}

/// The seed's edge cases: update(None) clears, add(None) clears a list, absent reads the default.
#[test]
fn seed_edge_cases() {
    let mut b = full();
    let mut v = b.register_value(value_desc().with_default(42)).unwrap();
    let l = b.register_list(list_desc()).unwrap();
    let r = b.register_reducing(sum_desc()).unwrap();
    b.set_current_key(9).unwrap();
    assert_eq!(v.value(&b).unwrap(), Some(&42));
    v.update(&mut b, 1).unwrap();
    v.set_current_namespace(1);
    assert_eq!(v.value(&b).unwrap(), Some(&42), "namespaces are apart");
    v.set_current_namespace(0);
    assert_eq!(v.value(&b).unwrap(), Some(&1));
    v.update(&mut b, None).unwrap();
    assert_eq!(v.value(&b).unwrap(), Some(&42));
    assert_eq!(b.state_len("v"), Some(0));

    l.add(&mut b, "a".to_string()).unwrap();
    l.add_all(&mut b, Vec::<String>::new()).unwrap();
    assert_eq!(l.get(&b).unwrap().unwrap().len(), 1);
    l.add(&mut b, None).unwrap();
    assert_eq!(l.get(&b).unwrap(), None);
    l.update(&mut b, vec!["x".into(), "y".into()]).unwrap();
    assert_eq!(l.get(&b).unwrap().unwrap(), ["x", "y"]);
    l.update(&mut b, vec![]).unwrap();
    assert_eq!(l.get(&b).unwrap(), None);

    r.add(&mut b, 3).unwrap();
    r.add(&mut b, 4).unwrap();
    assert_eq!(r.get(&b).unwrap(), Some(&7));
    r.add(&mut b, None).unwrap();
    assert_eq!(r.get(&b).unwrap(), None);
}

/// The seed's getSerializedValue: a list's elements with exactly one ',' byte between two; absent → None.
#[test]
fn serialized_value_lookup() {
    let mut b = full();
    let l = b.register_list(list_desc()).unwrap();
    let v = b.register_value(value_desc()).unwrap();
    b.set_current_key(3).unwrap();
    l.add(&mut b, "ab".to_string()).unwrap();
    l.add(&mut b, "c".to_string()).unwrap();
    v.update(&mut b, 258).unwrap();
    let expected: Vec<u8> = [&[0, 0, 0, 2, b'a', b'b'][..], b",", &[0, 0, 0, 1, b'c']].concat();
    assert_eq!(l.serialized_value(&b, &3, &0).unwrap(), Some(expected));
    assert_eq!(l.serialized_value(&b, &4, &0).unwrap(), None);
    assert_eq!(
        v.serialized_value(&b, &3, &0).unwrap(),
        Some(258u64.to_be_bytes().to_vec())
    );
    // One element: no separator.
    l.update(&mut b, vec!["z".into()]).unwrap();
    assert_eq!(l.serialized_value(&b, &3, &0).unwrap(), Some(vec![0, 0, 0, 1, b'z']));
}

struct Avg;
impl AggregateFunction<u64, (u64, u64), u64> for Avg {
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, v: u64, a: (u64, u64)) -> (u64, u64) {
        (a.0 + v, a.1 + 1)
    }
    fn get_result(&self, a: &(u64, u64)) -> u64 {
        a.0 / a.1.max(1)
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// B6 through the handles: List, Reducing, Aggregating merge in the seed's order.
#[test]
fn b6_merge_namespaces_through_handles() {
    let mut b = full();
    let mut l = b.register_list(list_desc()).unwrap();
    let mut r = b.register_reducing(sum_desc()).unwrap();
    let mut a = b
        .register_aggregating(AggregatingStateDescriptor::new(
            "a",
            U32Serializer,
            (U64Serializer, U64Serializer),
            Avg,
        ))
        .unwrap();
    b.set_current_key(5).unwrap();
    for ns in [1u32, 2, 3] {
        l.set_current_namespace(ns);
        r.set_current_namespace(ns);
        a.set_current_namespace(ns);
        l.add(&mut b, format!("n{ns}")).unwrap();
        r.add(&mut b, u64::from(ns) * 10).unwrap();
        a.add(&mut b, u64::from(ns) * 10).unwrap();
    }
    l.merge_namespaces(&mut b, 2, &[3, 9, 1]).unwrap();
    r.merge_namespaces(&mut b, 2, &[3, 9, 1]).unwrap();
    a.merge_namespaces(&mut b, 2, &[3, 9, 1]).unwrap();
    l.set_current_namespace(2);
    r.set_current_namespace(2);
    a.set_current_namespace(2);
    assert_eq!(l.get(&b).unwrap().unwrap(), ["n2", "n3", "n1"]);
    assert_eq!(r.get(&b).unwrap(), Some(&60));
    assert_eq!(a.get(&b).unwrap(), Some(20));
    assert_eq!(a.accumulator(&b).unwrap(), Some(&(60, 3)));
    for name in ["l", "r", "a"] {
        assert_eq!(b.state_len(name), Some(1), "{name}: sources removed");
    }
}

/// Map state: put/get/remove/contains/entries; remove of the last key removes the entry.
#[test]
fn map_state_ops() {
    let mut b = full();
    let m = b
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            StringSerializer,
            U64Serializer,
        ))
        .unwrap();
    b.set_current_key(2).unwrap();
    assert!(m.is_empty(&b).unwrap());
    assert!(!m.remove(&mut b, &"x".to_string()).unwrap());
    assert_eq!(b.state_len("m"), Some(0));
    m.put_all(&mut b, [("x".to_string(), 1), ("y".to_string(), 2)]).unwrap();
    assert!(m.contains(&b, &"x".to_string()).unwrap());
    assert!(!m.contains(&b, &"z".to_string()).unwrap(), "a user key never put");
    let mut e: Vec<_> = m.entries(&b).unwrap().map(|(k, v)| (k.clone(), *v)).collect();
    e.sort();
    assert_eq!(e, [("x".to_string(), 1), ("y".to_string(), 2)]);
    assert!(m.remove(&mut b, &"x".to_string()).unwrap());
    assert_eq!(b.state_len("m"), Some(1));
    assert!(m.remove(&mut b, &"y".to_string()).unwrap());
    assert_eq!(b.state_len("m"), Some(0));
}

/// A backend whose tables place entries the same way in every run, so that its checkpoints can be compared byte
/// for byte.
type StableBackend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;

fn stable() -> StableBackend {
    KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap()
}

/// The whole checkpoint stream of a backend holding one map state whose maps got the user keys `user_keys`, in
/// that order, for the keys `0..20`.
fn map_checkpoint(user_keys: &[i32]) -> Vec<u8> {
    let mut b = stable();
    let m = b
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            I32Serializer,
            StringSerializer,
        ))
        .unwrap();
    for key in 0..20u64 {
        b.set_current_key(key).unwrap();
        for &u in user_keys {
            m.put(&mut b, u, format!("{key}:{u}")).unwrap();
        }
    }
    let mut bytes = Vec::new();
    b.checkpoint(7).unwrap().write_to(&mut bytes).unwrap();
    bytes
}

/// Map values are written in the canonical order of docs/FORMAT.md §3 (`map<K, V>`): the same map state built
/// twice, its user keys inserted in different orders into fresh backends (and so into maps with different hash
/// seeds), checkpoints to the same bytes.
#[test]
fn map_checkpoints_are_reproducible() {
    let ascending: Vec<i32> = (-40..40).collect();
    let mut scrambled = ascending.clone();
    scrambled.reverse();
    scrambled.rotate_left(17);
    let first = map_checkpoint(&ascending);
    let same = |other: Vec<u8>, what: &str| {
        let at = first.iter().zip(&other).position(|(a, b)| a != b);
        assert!(
            at.is_none() && first.len() == other.len(),
            "{what}: the streams differ at byte {at:?} (lengths {} and {})",
            first.len(),
            other.len()
        );
    };
    same(map_checkpoint(&scrambled), "user keys in another order");
    same(map_checkpoint(&ascending), "the same order, other hash seeds");
    // The stream restores to the same contents.
    let mut r = stable();
    let m = r
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            I32Serializer,
            StringSerializer,
        ))
        .unwrap();
    r.restore(&[&first]).unwrap();
    r.set_current_key(3).unwrap();
    assert_eq!(m.map(&r).unwrap().unwrap().len(), 80);
    assert_eq!(m.get(&r, &-40).unwrap(), Some(&"3:-40".to_string()));
}

fn fill(
    b: &mut Backend,
    keys: impl Iterator<Item = u64>,
) -> (
    cow_state_table::backend::ValueState<u32, u64>,
    cow_state_table::backend::ListState<u32, String>,
) {
    let v = b.register_value(value_desc()).unwrap();
    let l = b.register_list(list_desc()).unwrap();
    for k in keys {
        if b.set_current_key(k).is_err() {
            continue;
        }
        v.update(b, k * 3).unwrap();
        l.add(b, format!("k{k}")).unwrap();
    }
    (v, l)
}

/// B7/B8: the checkpoint sees the state at its synchronous part, not later writes; drop releases snapshots.
#[test]
fn b7_b8_checkpoint_isolation_and_release() {
    let mut b = full();
    let (v, l) = fill(&mut b, 0..500);
    let pending = b.checkpoint(1).unwrap();
    assert_eq!(b.live_snapshots(), 2, "one snapshot per state");
    assert_eq!(pending.entries(), 1000);
    for k in 0..500 {
        b.set_current_key(k).unwrap();
        v.update(&mut b, 0).unwrap();
        l.add(&mut b, "later".to_string()).unwrap();
    }
    let mut bytes = Vec::new();
    let summary = pending.write_to(&mut bytes).unwrap();
    assert_eq!(summary.entries, 1000);
    assert_eq!(summary.bytes, bytes.len() as u64);
    drop(pending);
    assert_eq!(b.live_snapshots(), 0);
    let mut r = full();
    let (rv, rl) = fill(&mut r, std::iter::empty());
    r.restore(&[&bytes]).unwrap();
    for k in 0..500 {
        r.set_current_key(k).unwrap();
        assert_eq!(rv.value(&r).unwrap(), Some(&(k * 3)));
        assert_eq!(rl.get(&r).unwrap().unwrap(), [format!("k{k}")]);
    }
    r.check_invariants().unwrap();
}

/// B8: several in flight on background threads; cancel and drop release their snapshots.
#[test]
fn b8_several_in_flight_cancel_and_drop() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::with_max_size(64 << 20));
    let mut b = full();
    let (v, _) = fill(&mut b, 0..20_000);
    let h1 = b.checkpoint(1).unwrap().spawn(storage.clone());
    b.set_current_key(1).unwrap();
    v.update(&mut b, 1).unwrap();
    let h2 = b.checkpoint(2).unwrap().spawn(storage.clone());
    let h3 = b.checkpoint(3).unwrap().spawn(storage.clone());
    let h4 = b.checkpoint(4).unwrap().spawn(storage.clone());
    let outcome = h3.cancel();
    assert!(matches!(outcome, Err(CheckpointError::Cancelled { id: 3 })) || outcome.is_ok());
    drop(h4);
    assert_eq!(h1.wait().unwrap().entries, 40_000);
    assert_eq!(h2.wait().unwrap().entries, 40_000);
    assert_eq!(b.live_snapshots(), 0, "all released");
    let listed = storage.list().unwrap();
    assert!(listed.starts_with(&[1, 2]), "{listed:?}");
    let mut r = full();
    let (rv, _) = fill(&mut r, std::iter::empty());
    r.restore_from(&*storage, &[2]).unwrap();
    r.set_current_key(1).unwrap();
    assert_eq!(rv.value(&r).unwrap(), Some(&1));
    r.restore_from(&*storage, &[1]).unwrap();
    r.set_current_key(1).unwrap();
    assert_eq!(rv.value(&r).unwrap(), Some(&3));
}

/// B9: a checkpoint over the memory cap fails with the size and limit, keeps nothing; the earlier one stays.
#[test]
fn b9_memory_cap_failure_is_local() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::with_max_size(64 << 10));
    let mut b = full();
    let (v, _) = fill(&mut b, 0..100);
    b.checkpoint(1).unwrap().spawn(storage.clone()).wait().unwrap();
    let (_, _) = fill(&mut b, 100..10_000);
    let err = b.checkpoint(2).unwrap().spawn(storage.clone()).wait().unwrap_err();
    let text = format!("{err}");
    assert!(matches!(err, CheckpointError::Stream { id: 2, .. }), "{err:?}");
    assert!(text.contains("65536"), "names the limit: {text}");
    assert_eq!(storage.list().unwrap(), [1]);
    assert_eq!(b.live_snapshots(), 0);
    let mut r = full();
    let (rv, _) = fill(&mut r, std::iter::empty());
    r.restore_from(&*storage, &[1]).unwrap();
    r.set_current_key(99).unwrap();
    assert_eq!(rv.value(&r).unwrap(), Some(&297));
    r.set_current_key(100).unwrap();
    assert_eq!(rv.value(&r).unwrap(), None);
    let _ = v;
}

fn checkpoint_bytes(b: &mut Backend, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    b.checkpoint(id).unwrap().write_to(&mut out).unwrap();
    out
}

/// B10 + rescaling: 1 → 2, 2 → 1, 3 → 5 instances hold exactly their key groups' entries.
#[test]
fn b10_rescale() {
    const KEYS: u64 = 3000;
    let check = |from: u32, to: u32| {
        let mut sources: Vec<Vec<u8>> = Vec::new();
        for i in 0..from {
            let mut b = backend(range_of(i, from));
            fill(&mut b, 0..KEYS);
            sources.push(checkpoint_bytes(&mut b, 7));
        }
        let slices: Vec<&[u8]> = sources.iter().map(Vec::as_slice).collect();
        let mut total = 0;
        for j in 0..to {
            let mut r = backend(range_of(j, to));
            let (rv, rl) = fill(&mut r, std::iter::empty());
            let summary = r.restore(&slices).unwrap();
            assert_eq!(summary.key_groups, r.key_group_range().number_of_key_groups());
            let ctx = r.key_group_context();
            for k in 0..KEYS {
                let mine = r.key_group_range().contains(ctx.key_group_of(&k));
                if mine {
                    r.set_current_key(k).unwrap();
                    assert_eq!(rv.value(&r).unwrap(), Some(&(k * 3)), "{from}->{to} key {k}");
                    assert_eq!(rl.get(&r).unwrap().unwrap(), [format!("k{k}")]);
                    total += 1;
                }
            }
            let owned = (0..KEYS)
                .filter(|k| r.key_group_range().contains(ctx.key_group_of(k)))
                .count();
            assert_eq!(r.state_len("v"), Some(owned), "nothing outside the range");
            assert_eq!(r.state_len("l"), Some(owned));
        }
        assert_eq!(total, KEYS);
    };
    check(1, 2);
    check(2, 1);
    check(3, 5);
}

/// B10: every refusal leaves the backend unchanged.
#[test]
fn b10_refusals_leave_backend_unchanged() {
    let mut src = full();
    fill(&mut src, 0..200);
    let good = checkpoint_bytes(&mut src, 1);

    let mut target = full();
    let (v, _) = fill(&mut target, 1000..1100);
    let before = (target.state_len("v"), target.state_len("l"));
    let assert_unchanged = |t: &mut Backend| {
        assert_eq!((t.state_len("v"), t.state_len("l")), before);
        t.set_current_key(1000).unwrap();
        assert_eq!(v.value(t).unwrap(), Some(&3000));
    };

    // Corrupted / truncated stream.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    assert!(
        matches!(target.restore(&[&bad]), Err(BackendError::Restore(e)) if matches!(*e, RestoreError::Stream { .. }))
    );
    assert!(target.restore(&[&good[..good.len() - 3]]).is_err());
    assert_unchanged(&mut target);

    // Overlap: the same checkpoint twice.
    assert!(
        matches!(target.restore(&[&good, &good]), Err(BackendError::Restore(e)) if matches!(*e, RestoreError::OverlappingKeyGroup { .. }))
    );
    assert_unchanged(&mut target);

    // Meta mismatch: a state of another kind under a registered name.
    let mut other = full();
    other
        .register_reducing(ReducingStateDescriptor::new(
            "v",
            U32Serializer,
            U64Serializer,
            |a, b| a + b,
        ))
        .unwrap();
    other.register_list(list_desc()).unwrap();
    let mismatched = checkpoint_bytes(&mut other, 2);
    assert!(
        matches!(target.restore(&[&good, &mismatched]), Err(BackendError::Restore(e)) if matches!(*e, RestoreError::StateMismatch { .. }))
    );
    assert_unchanged(&mut target);

    // A state that is not registered is kept (B23), but two checkpoints must agree on what it is.
    let mut half0 = backend(range_of(0, 2));
    half0.register_reducing(sum_desc()).unwrap();
    let mut half1 = backend(range_of(1, 2));
    half1
        .register_value(ValueStateDescriptor::new("r", U32Serializer, U64Serializer))
        .unwrap();
    let (r0, r1) = (checkpoint_bytes(&mut half0, 3), checkpoint_bytes(&mut half1, 3));
    assert!(
        matches!(target.restore(&[&r0, &r1]), Err(BackendError::Restore(e)) if matches!(*e, RestoreError::RestoredStateConflict { index: 1, ref name, .. } if name == "r"))
    );
    assert_unchanged(&mut target);
    assert_eq!(target.restored_unregistered().count(), 0);

    // Another max parallelism / key serializer.
    let mut mp: Backend = KeyedStateBackend::new(U64Serializer, 64, KeyGroupRange::of(0, 63).unwrap()).unwrap();
    fill(&mut mp, 0..10);
    let mp_bytes = checkpoint_bytes(&mut mp, 4);
    assert!(
        matches!(target.restore(&[&mp_bytes]), Err(BackendError::Restore(e)) if matches!(*e, RestoreError::MaxParallelismMismatch { .. }))
    );
    assert_unchanged(&mut target);

    // And a good restore replaces everything.
    target.restore(&[&good]).unwrap();
    assert_eq!(target.state_len("v"), Some(200));
}

/// B9: a writer that fails after N bytes (and a commit that fails) mid-checkpoint: typed error through the handle,
/// storage keeps nothing of it, the previous checkpoint stays intact and restorable.
#[test]
fn b9_injected_write_failure_keeps_previous() {
    use cow_state_table::backend::storage::FailingStorage;
    let mut b = full();
    let (v, _) = fill(&mut b, 0..2000);
    let memory = MemoryStorage::with_max_size(64 << 20);
    b.checkpoint(1).unwrap().run(&memory).unwrap();
    let good = memory.read(1).unwrap();
    for fail_after in [0u64, 1, 100, good.len() as u64 / 2, good.len() as u64 - 1] {
        let failing: Arc<dyn CheckpointStorage> = Arc::new(FailingStorage::new(memory.clone(), fail_after));
        b.set_current_key(7).unwrap();
        v.update(&mut b, fail_after).unwrap();
        let err = b.checkpoint(2).unwrap().spawn(failing).wait().unwrap_err();
        assert!(
            matches!(err, CheckpointError::Stream { id: 2, .. }),
            "{fail_after}: {err:?}"
        );
        assert_eq!(
            memory.list().unwrap(),
            [1],
            "{fail_after}: nothing of checkpoint 2 kept"
        );
        assert_eq!(b.live_snapshots(), 0);
    }
    let err = b
        .checkpoint(3)
        .unwrap()
        .run(&FailingStorage::fail_on_commit(memory.clone()))
        .unwrap_err();
    assert!(matches!(err, CheckpointError::Storage { id: 3, .. }), "{err:?}");
    assert_eq!(memory.list().unwrap(), [1]);
    assert_eq!(memory.read(1).unwrap(), good);
    let mut r = full();
    let (rv, _) = fill(&mut r, std::iter::empty());
    r.restore_from(&memory, &[1]).unwrap();
    r.set_current_key(7).unwrap();
    assert_eq!(rv.value(&r).unwrap(), Some(&21));
    assert_eq!(r.state_len("v"), Some(2000));
    // The wrapped storage is the same storage: a write that does not reach the failure point lands in it.
    b.checkpoint(4)
        .unwrap()
        .run(&FailingStorage::new(memory.clone(), u64::MAX))
        .unwrap();
    assert_eq!(memory.list().unwrap(), [1, 4]);
}

/// The value a user function of the panic tests refuses (it panics when it sees it).
const FAIL: u64 = 666;

/// Runs `op`, which must panic in a user function; the tables stay valid.
fn panics_in_user_code(b: &mut Backend, op: impl FnOnce(&mut Backend)) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(b)));
    assert!(r.is_err(), "the user function should have panicked");
    b.check_invariants().unwrap();
}

/// A sum whose `add` and `merge` panic on [`FAIL`].
struct FailingSum;
impl AggregateFunction<u64, u64, u64> for FailingSum {
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, v: u64, acc: u64) -> u64 {
        assert_ne!(v, FAIL, "add fails");
        acc + v
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        assert!(a != FAIL && b != FAIL, "merge fails");
        a + b
    }
}

fn failing_reduce(a: u64, b: u64) -> u64 {
    assert!(a != FAIL && b != FAIL, "reduce fails");
    a + b
}

/// B5: a reduce, aggregate or fold function that panics leaves the state as it was, whether the entry is
/// private (no checkpoint) or shared with a checkpoint in flight; the checkpoint keeps what it saw.
#[test]
#[allow(deprecated)]
fn b5_panicking_add_keeps_the_state() {
    for in_flight in [false, true] {
        let mut b = full();
        let mut r = b
            .register_reducing(ReducingStateDescriptor::new(
                "r",
                U32Serializer,
                U64Serializer,
                failing_reduce,
            ))
            .unwrap();
        let mut a = b
            .register_aggregating(AggregatingStateDescriptor::new(
                "a",
                U32Serializer,
                U64Serializer,
                FailingSum,
            ))
            .unwrap();
        let mut f = b
            .register_folding(cow_state_table::backend::FoldingStateDescriptor::new(
                "f",
                U32Serializer,
                U64Serializer,
                100,
                |acc: u64, v: u64| {
                    assert_ne!(v, FAIL, "fold fails");
                    acc + v
                },
            ))
            .unwrap();
        b.set_current_key(5).unwrap();
        r.set_current_namespace(1);
        a.set_current_namespace(1);
        f.set_current_namespace(1);
        r.add(&mut b, 10).unwrap();
        a.add(&mut b, 20).unwrap();
        f.add(&mut b, 30).unwrap();
        let pending = in_flight.then(|| b.checkpoint(1).unwrap());
        assert_eq!(b.live_snapshots(), if in_flight { 3 } else { 0 });
        panics_in_user_code(&mut b, |b| drop(r.add(b, FAIL)));
        panics_in_user_code(&mut b, |b| drop(a.add(b, FAIL)));
        panics_in_user_code(&mut b, |b| drop(f.add(b, FAIL)));
        assert_eq!(
            r.get(&b).unwrap(),
            Some(&10),
            "reducing, checkpoint in flight: {in_flight}"
        );
        assert_eq!(
            a.accumulator(&b).unwrap(),
            Some(&20),
            "aggregating, in flight: {in_flight}"
        );
        assert_eq!(f.get(&b).unwrap(), Some(&130), "folding, in flight: {in_flight}");
        // Absent: the function panics on the first value; nothing is inserted.
        for ns in [2, 3] {
            r.set_current_namespace(ns);
            a.set_current_namespace(ns);
            f.set_current_namespace(ns);
        }
        panics_in_user_code(&mut b, |b| drop(a.add(b, FAIL)));
        panics_in_user_code(&mut b, |b| drop(f.add(b, FAIL)));
        assert_eq!((a.get(&b).unwrap(), f.get(&b).unwrap()), (None, None));
        // The states keep working.
        r.set_current_namespace(1);
        r.add(&mut b, 1).unwrap();
        assert_eq!(r.get(&b).unwrap(), Some(&11));
        if let Some(pending) = pending {
            let mut bytes = Vec::new();
            assert_eq!(pending.write_to(&mut bytes).unwrap().entries, 3);
        }
        assert_eq!(b.live_snapshots(), 0);
        assert_eq!(
            (b.state_len("r"), b.state_len("a"), b.state_len("f")),
            (Some(1), Some(1), Some(1))
        );
        b.check_invariants().unwrap();
    }
}

/// B6: a merge function that panics (on a source or on the target) leaves every source and the target as they
/// were, with or without a checkpoint in flight.
#[test]
fn b6_panicking_merge_keeps_sources_and_target() {
    for in_flight in [false, true] {
        for failing in [0u32, 2] {
            let mut b = full();
            let mut r = b
                .register_reducing(ReducingStateDescriptor::new(
                    "r",
                    U32Serializer,
                    U64Serializer,
                    failing_reduce,
                ))
                .unwrap();
            let mut a = b
                .register_aggregating(AggregatingStateDescriptor::new(
                    "a",
                    U32Serializer,
                    U64Serializer,
                    FailingSum,
                ))
                .unwrap();
            b.set_current_key(5).unwrap();
            // Target 0, sources 1..=3; the namespace `failing` holds FAIL (added to an absent state: no call).
            let value = |ns: u32| if ns == failing { FAIL } else { u64::from(ns) + 10 };
            for ns in 0..=3u32 {
                r.set_current_namespace(ns);
                r.add(&mut b, value(ns)).unwrap();
                a.set_current_namespace(ns);
                if ns == failing {
                    a.add(&mut b, FAIL - 1).unwrap();
                    a.add(&mut b, 1).unwrap();
                } else {
                    a.add(&mut b, value(ns)).unwrap();
                }
            }
            let pending = in_flight.then(|| b.checkpoint(1).unwrap());
            panics_in_user_code(&mut b, |b| drop(r.merge_namespaces(b, 0, &[1, 2, 3])));
            panics_in_user_code(&mut b, |b| drop(a.merge_namespaces(b, 0, &[1, 2, 3])));
            for ns in 0..=3u32 {
                r.set_current_namespace(ns);
                a.set_current_namespace(ns);
                let what = format!("namespace {ns}, failing {failing}, in flight {in_flight}");
                assert_eq!(r.get(&b).unwrap(), Some(&value(ns)), "reducing, {what}");
                assert_eq!(a.accumulator(&b).unwrap(), Some(&value(ns)), "aggregating, {what}");
            }
            assert_eq!((b.state_len("r"), b.state_len("a")), (Some(4), Some(4)));
            if let Some(pending) = pending {
                let mut bytes = Vec::new();
                assert_eq!(pending.write_to(&mut bytes).unwrap().entries, 8);
            }
            b.check_invariants().unwrap();
        }
    }
}

/// A `u64` key whose `Hash` panics on one chosen value (per thread), with a `u64` key serializer.
mod panicking_key {
    use cow_state_table::keygroup::JavaHashCode;
    use cow_state_table::serializer::{DecodeError, Input, SerializeError, TypeSerializer, U64Serializer};
    use std::cell::Cell;
    use std::hash::{Hash, Hasher};

    thread_local! {
        /// The key whose `Hash` panics on this thread, if any.
        pub static HASH_PANICS_ON: Cell<Option<u64>> = const { Cell::new(None) };
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Key(pub u64);

    impl Hash for Key {
        fn hash<H: Hasher>(&self, state: &mut H) {
            assert_ne!(HASH_PANICS_ON.get(), Some(self.0), "Hash fails");
            self.0.hash(state);
        }
    }

    impl JavaHashCode for Key {
        fn java_hash_code(&self) -> i32 {
            self.0.java_hash_code()
        }
    }

    #[derive(Clone, Debug)]
    pub struct KeySerializer;

    impl TypeSerializer for KeySerializer {
        type Value = Key;
        fn identity(&self) -> String {
            U64Serializer.identity()
        }
        fn min_len(&self) -> usize {
            U64Serializer.min_len()
        }
        fn serialize(&self, value: &Key, out: &mut Vec<u8>) -> Result<(), SerializeError> {
            U64Serializer.serialize(&value.0, out)
        }
        fn deserialize(&self, input: &mut Input<'_>) -> Result<Key, DecodeError> {
            U64Serializer.deserialize(input).map(Key)
        }
    }
}

/// B10: a key's `Hash` panicking while the restored tables are built (after the first state's table is complete)
/// leaves the backend exactly as it was; the same restore then succeeds.
#[test]
fn b10_panic_while_installing_leaves_backend_unchanged() {
    use panicking_key::{Key, KeySerializer, HASH_PANICS_ON};
    type Keyed = KeyedStateBackend<Key, KeySerializer>;
    let new = || {
        let mut b: Keyed =
            KeyedStateBackend::new(KeySerializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
        let first = b
            .register_value(ValueStateDescriptor::new(
                "first",
                VoidNamespaceSerializer,
                U64Serializer,
            ))
            .unwrap();
        let second = b
            .register_value(ValueStateDescriptor::new(
                "second",
                VoidNamespaceSerializer,
                U64Serializer,
            ))
            .unwrap();
        (b, first, second)
    };
    // Key 7 is only in the second state, so the first state's table is built (and, before B10 built every
    // table first, installed) before the panic.
    let (mut src, first, second) = new();
    for k in 0..50 {
        src.set_current_key(Key(k)).unwrap();
        if k != 7 {
            first.update(&mut src, k).unwrap();
        }
        second.update(&mut src, k + 1000).unwrap();
    }
    let mut bytes = Vec::new();
    src.checkpoint(1).unwrap().write_to(&mut bytes).unwrap();

    let (mut target, first, second) = new();
    for k in 100..110 {
        target.set_current_key(Key(k)).unwrap();
        first.update(&mut target, k * 2).unwrap();
        second.update(&mut target, k * 3).unwrap();
    }
    let unchanged = |t: &mut Keyed| {
        assert_eq!((t.state_len("first"), t.state_len("second")), (Some(10), Some(10)));
        for k in 100..110 {
            t.set_current_key(Key(k)).unwrap();
            assert_eq!(first.value(t).unwrap(), Some(&(k * 2)));
            assert_eq!(second.value(t).unwrap(), Some(&(k * 3)));
        }
        t.set_current_key(Key(1)).unwrap();
        assert_eq!((first.value(t).unwrap(), second.value(t).unwrap()), (None, None));
        t.check_invariants().unwrap();
    };
    HASH_PANICS_ON.set(Some(7));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.restore(&[&bytes])));
    HASH_PANICS_ON.set(None);
    assert!(r.is_err(), "Hash should have panicked");
    unchanged(&mut target);

    target.restore(&[&bytes]).unwrap();
    assert_eq!(
        (target.state_len("first"), target.state_len("second")),
        (Some(49), Some(50))
    );
    target.set_current_key(Key(7)).unwrap();
    assert_eq!(second.value(&target).unwrap(), Some(&1007));
    target.check_invariants().unwrap();
}

/// B2 and the stream: 32,767 states (a Java `short`) register, checkpoint and restore; the 32,768th is refused
/// at registration with a typed error, not at the checkpoint.
#[test]
fn max_states_is_what_the_stream_numbers() {
    use cow_state_table::backend::MAX_STATES;
    assert_eq!(MAX_STATES, 32_767);
    assert_eq!(MAX_STATES, cow_state_table::backend::stream::MAX_STATES);
    // One key group keeps the stream small (one body per state).
    let mut b: Backend = KeyedStateBackend::new(U64Serializer, 1, KeyGroupRange::of(0, 0).unwrap()).unwrap();
    let desc = |i: usize| ValueStateDescriptor::new(format!("s{i}"), VoidNamespaceSerializer, U64Serializer);
    let handles: Vec<_> = (0..MAX_STATES).map(|i| b.register_value(desc(i)).unwrap()).collect();
    let err = b.register_value(desc(MAX_STATES)).unwrap_err();
    assert!(matches!(err, BackendError::TooManyStates { limit: 32_767 }), "{err:?}");
    // A registered name is still found.
    b.register_value(desc(MAX_STATES - 1)).unwrap();
    b.set_current_key(1).unwrap();
    handles[0].update(&mut b, 5).unwrap();
    handles[MAX_STATES - 1].update(&mut b, 6).unwrap();
    let bytes = checkpoint_bytes(&mut b, 1);
    let parsed = cow_state_table::backend::stream::StreamCheckpoint::parse(&bytes).unwrap();
    assert_eq!(parsed.states().len(), MAX_STATES);
    handles[0].update(&mut b, 7).unwrap();
    assert_eq!(b.restore(&[&bytes]).unwrap().entries, 2);
    assert_eq!(handles[0].value(&b).unwrap(), Some(&5));
    assert_eq!(handles[MAX_STATES - 1].value(&b).unwrap(), Some(&6));
    // The limit counts the restored states not yet registered (B23): a fresh backend restored from the checkpoint
    // holds all of them, so a new name is refused while a restored one still binds.
    let mut fresh: Backend = KeyedStateBackend::new(U64Serializer, 1, KeyGroupRange::of(0, 0).unwrap()).unwrap();
    fresh.restore(&[&bytes]).unwrap();
    let err = fresh.register_value(desc(MAX_STATES)).unwrap_err();
    assert!(matches!(err, BackendError::TooManyStates { limit: 32_767 }), "{err:?}");
    let last = fresh.register_value(desc(MAX_STATES - 1)).unwrap();
    fresh.set_current_key(1).unwrap();
    assert_eq!(last.value(&fresh).unwrap(), Some(&6));
    // Registered and restored states count together: with one other state registered, the 32,767 restored ones
    // are one too many, and the restore changes nothing.
    let mut one: Backend = KeyedStateBackend::new(U64Serializer, 1, KeyGroupRange::of(0, 0).unwrap()).unwrap();
    let other = one
        .register_value(ValueStateDescriptor::new(
            "other",
            VoidNamespaceSerializer,
            U64Serializer,
        ))
        .unwrap();
    one.set_current_key(1).unwrap();
    other.update(&mut one, 9).unwrap();
    let err = one.restore(&[&bytes]).unwrap_err();
    assert!(matches!(err, BackendError::TooManyStates { limit: 32_767 }), "{err:?}");
    assert_eq!(one.restored_unregistered().count(), 0);
    assert_eq!(one.state_names().collect::<Vec<_>>(), ["other"]);
    assert_eq!(other.value(&one).unwrap(), Some(&9));
}

/// B19: a map cursor's writes (set_value, value_mut, remove) under a checkpoint in flight copy the map once; the
/// checkpoint keeps seeing the old map, the backend the new one; a cursor that only reads copies nothing.
#[test]
fn b19_map_cursor_copy_on_write() {
    let mut b = full();
    let m = b
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            U32Serializer,
            U64Serializer,
        ))
        .unwrap();
    let old: Vec<(u32, u64)> = (0..10).map(|i| (i, u64::from(i) * 10)).collect();
    for key in [1u64, 2] {
        b.set_current_key(key).unwrap();
        m.put_all(&mut b, old.iter().copied()).unwrap();
    }
    let pending = b.checkpoint(1).unwrap();
    b.set_current_key(1).unwrap();
    let before = m.map(&b).unwrap().unwrap() as *const _;

    // Reading through the cursor copies nothing (the map stays where the snapshot sees it).
    let mut cursor = m.entries_mut(&mut b).unwrap();
    assert!(matches!(cursor.remove(), Err(BackendError::NoCurrentEntry)));
    assert_eq!(
        format!("{cursor:?}"),
        "MapEntriesMut { current: None, remaining: 10, .. }"
    );
    let mut seen = 0;
    while let Some((&k, &v)) = cursor.next_entry() {
        assert_eq!(u64::from(k) * 10, v);
        assert_eq!((cursor.key(), cursor.value()), (Some(&k), Some(&v)));
        if seen == 0 {
            assert_eq!(
                format!("{cursor:?}"),
                format!("MapEntriesMut {{ current: Some({k}), remaining: 9, .. }}")
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 10);
    assert!(
        matches!(cursor.set_value(0), Err(BackendError::NoCurrentEntry)),
        "no current entry at the end"
    );
    assert!(
        std::ptr::eq(m.map(&b).unwrap().unwrap(), before),
        "a reading cursor does not copy"
    );

    // Writes: odd user keys get a new value, multiples of 3 are removed, 4 is changed in place.
    let mut cursor = m.entries_mut(&mut b).unwrap();
    while let Some((&k, &v)) = cursor.next_entry() {
        if k % 3 == 0 {
            assert_eq!(cursor.remove().unwrap(), v);
            assert!(
                matches!(cursor.remove(), Err(BackendError::NoCurrentEntry)),
                "removed: no current entry"
            );
        } else if k % 2 == 1 {
            assert_eq!(cursor.set_value(v + 1).unwrap(), v);
            assert_eq!(cursor.value(), Some(&(v + 1)));
        } else if k == 4 {
            *cursor.value_mut().unwrap() = 444;
        }
    }
    drop(cursor);
    assert!(
        !std::ptr::eq(m.map(&b).unwrap().unwrap(), before),
        "the first write copied the shared map"
    );
    let mut now: Vec<(u32, u64)> = m.entries(&b).unwrap().map(|(k, v)| (*k, *v)).collect();
    now.sort();
    assert_eq!(now, [(1, 11), (2, 20), (4, 444), (5, 51), (7, 71), (8, 80)]);

    // Key 2: the cursor removes everything, so the state entry goes, as MapState::remove does it.
    b.set_current_key(2).unwrap();
    let mut cursor = m.entries_mut(&mut b).unwrap();
    while cursor.next_entry().is_some() {
        cursor.remove().unwrap();
    }
    drop(cursor);
    assert!(m.map(&b).unwrap().is_none());
    assert_eq!(b.state_len("m"), Some(1));
    b.check_invariants().unwrap();

    // The checkpoint in flight still holds both old maps.
    let mut bytes = Vec::new();
    pending.write_to(&mut bytes).unwrap();
    drop(pending);
    let mut r = full();
    let rm = r
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            U32Serializer,
            U64Serializer,
        ))
        .unwrap();
    r.restore(&[&bytes]).unwrap();
    for key in [1u64, 2] {
        r.set_current_key(key).unwrap();
        let mut got: Vec<(u32, u64)> = rm.entries(&r).unwrap().map(|(k, v)| (*k, *v)).collect();
        got.sort();
        assert_eq!(got, old, "key {key}: the checkpoint sees the map as it was");
    }
    // An absent map: an empty cursor.
    b.set_current_key(99).unwrap();
    assert!(m.entries_mut(&mut b).unwrap().next_entry().is_none());
}

/// B18: the map state's serialized-value lookup (Flink `KvStateSerializer.serializeMap`: no count) writes the
/// entries in the checkpoint's canonical order, whatever order they were put in.
#[test]
fn b18_map_serialized_value_is_canonical() {
    let mut bytes = Vec::new();
    for order in [[3i32, -1, 0, 2], [2, 0, -1, 3]] {
        let mut b = full();
        let m = b
            .register_map(MapStateDescriptor::new(
                "m",
                U32Serializer,
                I32Serializer,
                U64Serializer,
            ))
            .unwrap();
        b.set_current_key(9).unwrap();
        for u in order {
            m.put(&mut b, u, 7).unwrap();
        }
        bytes.push(m.serialized_value(&b, &9, &0).unwrap().unwrap());
    }
    assert_eq!(bytes[0], bytes[1]);
    let keys: Vec<i32> = bytes[0]
        .chunks(13)
        .map(|e| i32::from_be_bytes(e[..4].try_into().unwrap()))
        .collect();
    assert_eq!(keys, [0, 2, 3, -1], "ascending key bytes: the negative key (FF…) last");
}

/// Map state: keys, values, contains, is_empty, and absent versus empty through `map`.
#[test]
fn map_state_keys_values() {
    let mut b = full();
    let m = b
        .register_map(MapStateDescriptor::new(
            "m",
            U32Serializer,
            StringSerializer,
            U64Serializer,
        ))
        .unwrap();
    b.set_current_key(4).unwrap();
    assert_eq!(m.keys(&b).unwrap().count(), 0);
    assert_eq!(m.values(&b).unwrap().count(), 0);
    assert!(m.map(&b).unwrap().is_none());
    m.put_all(
        &mut b,
        [("a".to_string(), 1), ("b".to_string(), 2), ("c".to_string(), 3)],
    )
    .unwrap();
    let mut keys: Vec<&String> = m.keys(&b).unwrap().collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(m.values(&b).unwrap().sum::<u64>(), 6);
    assert!(m.contains(&b, &"b".to_string()).unwrap());
    assert!(!m.is_empty(&b).unwrap());
}

/// B20: keys, keys_and_namespaces and num_state_entries against a BTreeMap model, after every write of a run that
/// grows the table several times (each write migrates at most 4 entries, so the checks fall inside incremental
/// rehashes; asserted through `state_table`) and shrinks it again by removals.
#[test]
fn b20_keys_match_a_model_through_rehashes() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut b = full();
    let mut v = b.register_value(value_desc()).unwrap();
    let l = b.register_list(list_desc()).unwrap();
    let mut model: BTreeMap<(u64, u32), u64> = BTreeMap::new();
    let check = |b: &Backend, v: &cow_state_table::backend::ValueState<u32, u64>, model: &BTreeMap<(u64, u32), u64>| {
        let pairs: Vec<(u64, u32)> = b.keys_and_namespaces(v).unwrap().map(|(k, n)| (*k, *n)).collect();
        let set: BTreeSet<(u64, u32)> = pairs.iter().copied().collect();
        assert_eq!(pairs.len(), set.len(), "each pair once");
        assert!(set.iter().eq(model.keys()), "keys_and_namespaces");
        for ns in 0..3u32 {
            let keys: BTreeSet<u64> = b.keys(v, &ns).unwrap().copied().collect();
            let want: BTreeSet<u64> = model.keys().filter(|(_, n)| *n == ns).map(|(k, _)| *k).collect();
            assert_eq!(keys, want, "keys of namespace {ns}");
        }
        assert_eq!(
            b.num_state_entries(),
            model.len() + 1,
            "plus the list state's one entry"
        );
    };
    b.set_current_key(0).unwrap();
    l.add(&mut b, "x".to_string()).unwrap();
    check(&b, &v, &model);
    let mut rehashing_seen = 0;
    for i in 0..1500u64 {
        let (key, ns) = (i / 3, (i % 3) as u32);
        b.set_current_key(key).unwrap();
        v.set_current_namespace(ns);
        v.update(&mut b, i).unwrap();
        model.insert((key, ns), i);
        if i % 7 == 0 || b.state_table(&v).unwrap().is_rehashing() {
            rehashing_seen += usize::from(b.state_table(&v).unwrap().is_rehashing());
            check(&b, &v, &model);
        }
    }
    assert!(rehashing_seen > 0, "some checks ran mid-rehash");
    // Removals of nine entries in ten: below 1/8 load the table shrinks, by an incremental rehash too.
    let grown = b.state_table(&v).unwrap().buckets();
    let all: Vec<(u64, u32)> = model.keys().copied().collect();
    for (j, (key, ns)) in all.into_iter().enumerate() {
        if j % 10 == 0 {
            continue;
        }
        b.set_current_key(key).unwrap();
        v.set_current_namespace(ns);
        v.clear(&mut b).unwrap();
        model.remove(&(key, ns));
        if j % 11 == 0 || b.state_table(&v).unwrap().is_rehashing() {
            check(&b, &v, &model);
        }
    }
    check(&b, &v, &model);
    assert!(b.state_table(&v).unwrap().buckets() < grown, "the table shrank");
    b.check_invariants().unwrap();
    // A handle of another backend is refused.
    let mut other = full();
    let foreign = other.register_value(value_desc()).unwrap();
    assert!(matches!(b.keys(&foreign, &0), Err(BackendError::ForeignHandle)));
    assert!(matches!(
        b.keys_and_namespaces(&foreign),
        Err(BackendError::ForeignHandle)
    ));
    assert!(matches!(b.state_table(&foreign), Err(BackendError::ForeignHandle)));
}

/// A serializer of `u64` whose `serialize` blocks until its gate opens (and says when it is entered): holds a
/// checkpoint's asynchronous part in the middle of a key-group body.
#[derive(Clone)]
struct Gated(Arc<Gate>);

#[derive(Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    changed: std::sync::Condvar,
    entered: std::sync::atomic::AtomicBool,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Waits for the checkpoint's part to enter the gated serializer. Bounded, so that a checkpoint that fails
    /// before its bodies (a broken header writer) fails the test instead of hanging it.
    fn wait_entered(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.entered.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "the checkpoint never reached the gated state's serializer"
            );
            std::thread::yield_now();
        }
    }
}

impl cow_state_table::serializer::TypeSerializer for Gated {
    type Value = u64;
    fn identity(&self) -> String {
        "gated-u64".into()
    }
    fn serialize(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), cow_state_table::serializer::SerializeError> {
        self.0.entered.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut open = self.0.open.lock().unwrap();
        while !*open {
            open = self.0.changed.wait(open).unwrap();
        }
        U64Serializer.serialize(value, out)
    }
    fn deserialize(
        &self,
        input: &mut cow_state_table::serializer::Input<'_>,
    ) -> Result<u64, cow_state_table::serializer::DecodeError> {
        U64Serializer.deserialize(input)
    }
}

/// A backend with 1000 keys in a value state and 1000 in a gated state, and the gate.
fn gated_backend() -> (Backend, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let mut b = full();
    fill(&mut b, 0..1000);
    let g = b
        .register_value(ValueStateDescriptor::new("gated", U32Serializer, Gated(gate.clone())))
        .unwrap();
    for k in 0..1000 {
        b.set_current_key(k).unwrap();
        g.update(&mut b, k).unwrap();
    }
    (b, gate)
}

/// B21: close cancels a checkpoint whose asynchronous part is running on its own thread and waits for it: close
/// cannot return while the part is inside a body (the part holds its checkpoint's lock), and when it returns the
/// part has ended, cancelled, its sink uncommitted, and every snapshot is released.
#[test]
fn b21_close_cancels_and_joins_a_running_checkpoint() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::with_max_size(64 << 20));
    let (mut b, gate) = gated_backend();
    let handle = b.checkpoint(1).unwrap().spawn(storage.clone());
    gate.wait_entered();
    assert_eq!(b.live_snapshots(), 3, "one per state");
    std::thread::scope(|scope| {
        let closer = scope.spawn(|| b.close());
        while !handle.is_cancelled() {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!closer.is_finished(), "close waits for the part stuck in a serializer");
        gate.open();
        closer.join().unwrap();
    });
    assert!(storage.list().unwrap().is_empty(), "nothing committed");
    assert!(b.is_closed());
    assert_eq!(b.live_snapshots(), 0);
    let outcome = handle.wait();
    assert!(
        matches!(outcome, Err(CheckpointError::Cancelled { id: 1 })),
        "{outcome:?}"
    );
    assert!(storage.list().unwrap().is_empty());
}

/// B21: close releases the snapshots of pending checkpoints that are not running (running them later is
/// `Cancelled` and touches no storage), leaves a checkpoint that ended before it alone, and afterwards every
/// operation fails with `Closed`; close is idempotent.
#[test]
fn b21_close_releases_pending_and_refuses_everything() {
    let storage = MemoryStorage::with_max_size(64 << 20);
    let shared: Arc<dyn CheckpointStorage> = Arc::new(storage.clone());
    let mut b = full();
    let (mut v, l) = fill(&mut b, 0..100);
    b.checkpoint(1).unwrap().spawn(shared).wait().unwrap();
    let pending = b.checkpoint(2).unwrap();
    let also = b.checkpoint(3).unwrap();
    assert_eq!(b.live_snapshots(), 4);
    assert_eq!(pending.entries(), 200);
    assert!(!pending.is_cancelled());

    b.close();
    assert!(pending.is_cancelled() && also.is_cancelled());
    assert_eq!(pending.entries(), 0, "its snapshots were released");
    assert_eq!(also.entries(), 0);
    assert_eq!(b.live_snapshots(), 0);
    let mut out = Vec::new();
    assert!(matches!(
        also.write_to(&mut out),
        Err(CheckpointError::Cancelled { id: 3 })
    ));
    assert!(out.is_empty(), "nothing written");
    assert!(matches!(
        pending.run(&storage),
        Err(CheckpointError::Cancelled { id: 2 })
    ));
    assert_eq!(
        storage.list().unwrap(),
        [1],
        "only the checkpoint that ended before close"
    );

    let closed = |r: Result<(), BackendError>| matches!(r, Err(BackendError::Closed));
    assert!(closed(b.set_current_key(1)));
    assert!(closed(v.value(&b).map(drop)));
    assert!(closed(v.update(&mut b, 1)));
    assert!(closed(v.clear(&mut b)));
    v.set_current_namespace(1);
    assert!(closed(l.add(&mut b, "x".to_string())));
    assert!(closed(l.get(&b).map(drop)));
    assert!(closed(b.register_value(value_desc()).map(drop)));
    assert!(closed(b.register_reducing(sum_desc()).map(drop)));
    assert!(closed(b.keys(&v, &0).map(drop)));
    assert!(closed(b.keys_and_namespaces(&l).map(drop)));
    assert!(closed(b.state_table(&v).map(drop)));
    assert!(closed(b.checkpoint(4).map(drop)));
    let good = storage.read(1).unwrap();
    assert!(closed(b.restore(&[&good]).map(drop)));
    assert!(closed(b.restore_from(&storage, &[1]).map(drop)));
    assert_eq!(b.num_state_entries(), 0);
    assert_eq!(b.state_names().count(), 0);
    assert_eq!(b.state_len("v"), None);
    b.close();
    assert!(b.is_closed());
    assert!(closed(b.set_current_key(1)));
    b.check_invariants().unwrap();
}

/// B22: dropping the backend cancels its checkpoints without waiting: it returns while a part is stuck in a
/// serializer; that part then stops at its next check and commits nothing; a pending checkpoint that is not
/// running is released at once.
#[test]
fn b22_drop_cancels_without_blocking() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::with_max_size(64 << 20));
    let (mut b, gate) = gated_backend();
    let handle = b.checkpoint(1).unwrap().spawn(storage.clone());
    let idle = b.checkpoint(2).unwrap();
    gate.wait_entered();
    drop(b);
    assert!(handle.is_cancelled() && idle.is_cancelled());
    assert!(!handle.is_finished(), "still inside the serializer");
    assert_eq!(idle.entries(), 0, "not running: released by the drop");
    gate.open();
    let outcome = handle.wait();
    assert!(
        matches!(outcome, Err(CheckpointError::Cancelled { id: 1 })),
        "{outcome:?}"
    );
    assert!(matches!(idle.run(&*storage), Err(CheckpointError::Cancelled { id: 2 })));
    assert!(storage.list().unwrap().is_empty(), "nothing committed");
}

/// A source with the value and list states of `fill` and a reducing state "r" (sum of the key), keys `keys`.
fn three_states(range: KeyGroupRange, keys: std::ops::Range<u64>) -> Backend {
    let mut b = backend(range);
    fill(&mut b, keys.clone());
    let r = b.register_reducing(sum_desc()).unwrap();
    for k in keys {
        if b.set_current_key(k).is_ok() {
            r.add(&mut b, k).unwrap();
            r.add(&mut b, 1).unwrap();
        }
    }
    b
}

/// Every key of `keys` has the contents `three_states` gave it, in all three states of `b`.
fn assert_three_states(b: &mut Backend, keys: std::ops::Range<u64>) {
    let (v, l) = fill(b, std::iter::empty());
    let r = b.register_reducing(sum_desc()).unwrap();
    for k in keys {
        b.set_current_key(k).unwrap();
        assert_eq!(v.value(b).unwrap(), Some(&(k * 3)), "key {k}");
        assert_eq!(l.get(b).unwrap().unwrap(), [format!("k{k}")]);
        assert_eq!(r.get(b).unwrap(), Some(&(k + 1)));
    }
    b.check_invariants().unwrap();
}

/// B23, B24: restore keeps the states that are not registered; registering one with another kind or serializers
/// is refused naming both and changes nothing; the matching registration binds it with its data.
#[test]
fn b23_b24_restore_keeps_unregistered_and_binds_on_registration() {
    let bytes = checkpoint_bytes(&mut three_states(range_of(0, 1), 0..300), 1);
    let mut t = full();
    let v = t.register_value(value_desc()).unwrap();
    let summary = t.restore(&[&bytes]).unwrap();
    assert_eq!(summary.entries, 300);
    assert_eq!((summary.unregistered_states, summary.unregistered_entries), (2, 600));
    let names: Vec<&str> = t.restored_unregistered().map(|(name, _)| name).collect();
    assert_eq!(names, ["l", "r"]);
    assert_eq!(t.num_state_entries(), 900, "restored entries count");
    assert_eq!(t.state_len("l"), None, "not registered");
    t.set_current_key(5).unwrap();
    assert_eq!(v.value(&t).unwrap(), Some(&15));

    // Another element serializer for the list: refused, naming both signatures.
    let err = t
        .register_list(ListStateDescriptor::new("l", U32Serializer, I64Serializer))
        .unwrap_err();
    let BackendError::RestoredStateMismatch(ref m) = err else {
        panic!("{err:?}");
    };
    assert_eq!(m.name, "l");
    assert_ne!(m.restored.state_serializer, m.requested.state_serializer);
    let text = err.to_string();
    assert!(
        text.contains(&m.restored.to_string()) && text.contains(&m.requested.to_string()),
        "{text}"
    );
    // Another kind for "r".
    let err = t
        .register_value(ValueStateDescriptor::new("r", U32Serializer, U64Serializer))
        .unwrap_err();
    assert!(
        matches!(err, BackendError::RestoredStateMismatch(ref m) if m.name == "r" && m.restored.kind != m.requested.kind),
        "{err:?}"
    );
    // Nothing changed.
    assert_eq!(t.restored_unregistered().count(), 2);
    assert_eq!(t.state_names().collect::<Vec<_>>(), ["v"]);
    assert_eq!(t.num_state_entries(), 900);

    // The matching registrations bind the data.
    assert_three_states(&mut t, 0..300);
    assert_eq!(t.restored_unregistered().count(), 0);
    assert_eq!(t.num_state_entries(), 900);
    assert_eq!((t.state_len("l"), t.state_len("r")), (Some(300), Some(300)));
}

/// B23, B24: a body must hold exactly its entries whether or not its state is registered. A body with a count of 0
/// and bytes after it is refused with `TrailingBytes` by a restore that keeps the state for a later registration,
/// as by one that decodes it at once (it used to be dropped unread when the state was not registered).
#[test]
fn b23_trailing_bytes_after_an_empty_body_are_refused_registered_or_not() {
    use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta};
    use cow_state_table::format::FormatError;
    use cow_state_table::serializer::TypeSerializer;
    let context = full().key_group_context();
    let states = [StateMeta::new(
        0,
        "v",
        StateKind::Value,
        U32Serializer.identity(),
        U64Serializer.identity(),
    )];
    let mut forged = Vec::new();
    write_stream(
        1,
        context,
        &U64Serializer.identity(),
        &states,
        &mut |_, key_group, body| {
            body.extend_from_slice(&0i32.to_be_bytes());
            if key_group == 5 {
                body.extend_from_slice(&[0xAB, 0xCD]);
            }
            Ok(())
        },
        &mut forged,
    )
    .unwrap();
    let good = checkpoint_bytes(&mut three_states(range_of(0, 1), 0..50), 1);
    for registered in [true, false] {
        let mut t = full();
        if registered {
            t.register_value(value_desc()).unwrap();
        }
        t.restore(&[&good]).unwrap();
        let before = (t.num_state_entries(), t.restored_unregistered().count());
        match t.restore(&[&forged]) {
            Err(BackendError::Restore(e)) => match *e {
                RestoreError::Decode {
                    index: 0,
                    ref name,
                    source:
                        FormatError::TrailingBytes {
                            key_group: 5,
                            offset: 4,
                            count: 2,
                        },
                } if name == "v" => {}
                other => panic!("registered {registered}: {other:?}"),
            },
            other => panic!("registered {registered}: {other:?}"),
        }
        assert_eq!(
            (t.num_state_entries(), t.restored_unregistered().count()),
            before,
            "B10: the refused restore changed nothing"
        );
    }
}

/// B23: a checkpoint taken before the restored states are registered contains them, their bodies byte for byte
/// as restored; a backend with nothing registered checkpoints exactly the bytes it restored.
#[test]
fn b23_checkpoint_before_registration_contains_them_all() {
    use cow_state_table::backend::stream::StreamCheckpoint;
    let bytes = checkpoint_bytes(&mut three_states(range_of(0, 1), 0..300), 1);
    let mut t = full();
    let v = t.register_value(value_desc()).unwrap();
    t.restore(&[&bytes]).unwrap();
    t.set_current_key(0).unwrap();
    v.update(&mut t, 7).unwrap();
    // The pending checkpoint counts the restored states' entries with the registered one's.
    assert_eq!(t.checkpoint(2).unwrap().entries(), 900);
    let again = checkpoint_bytes(&mut t, 2);
    let (a, b) = (
        StreamCheckpoint::parse(&bytes).unwrap(),
        StreamCheckpoint::parse(&again).unwrap(),
    );
    assert_eq!(b.states().len(), 3);
    for name in ["l", "r"] {
        let (ia, ib) = (a.state_index(name).unwrap(), b.state_index(name).unwrap());
        for kg in 0..MAX_PAR {
            assert_eq!(
                a.body(ia, kg).unwrap(),
                b.body(ib, kg).unwrap(),
                "{name}, key group {kg}"
            );
        }
    }
    // Restored with everything registered: all the data, and the later write.
    let mut r = full();
    r.restore(&[&again]).unwrap();
    assert_three_states(&mut r, 1..300);
    r.set_current_key(0).unwrap();
    let rv = r.register_value(value_desc()).unwrap();
    assert_eq!(rv.value(&r).unwrap(), Some(&7));

    // Nothing registered: the checkpoint is the restored one, byte for byte.
    let mut none = full();
    let summary = none.restore(&[&again]).unwrap();
    assert_eq!((summary.unregistered_states, summary.unregistered_entries), (3, 900));
    assert_eq!(none.checkpoint(2).unwrap().entries(), 900);
    assert_eq!(checkpoint_bytes(&mut none, 2), again);
    assert_eq!(none.live_snapshots(), 0, "restored bodies need no snapshot");
}

/// B23 with B10: restored states come from several checkpoints (rescaling), a failed restore keeps the previous
/// set, and every restore replaces it.
#[test]
fn b23_rescaled_and_all_or_nothing() {
    let halves: Vec<Vec<u8>> = (0..2)
        .map(|i| checkpoint_bytes(&mut three_states(range_of(i, 2), 0..400), 1))
        .collect();
    let mut t = full();
    let summary = t.restore(&[&halves[0], &halves[1]]).unwrap();
    assert_eq!((summary.unregistered_states, summary.unregistered_entries), (3, 1200));
    let before: Vec<String> = t.restored_unregistered().map(|(n, _)| n.to_string()).collect();

    let mut bad = halves[1].clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    assert!(t.restore(&[&halves[0], &bad]).is_err());
    let after: Vec<String> = t.restored_unregistered().map(|(n, _)| n.to_string()).collect();
    assert_eq!(before, after, "a failed restore keeps the restored states");
    assert_eq!(t.num_state_entries(), 1200);

    // Restoring one half into an instance of the other half's range: its key groups only.
    let mut other = backend(range_of(1, 2));
    let s = other.restore(&[&halves[0], &halves[1]]).unwrap();
    assert_eq!(
        s.unregistered_entries,
        t.num_state_entries() as u64 - {
            let mut zero = backend(range_of(0, 2));
            zero.restore(&[&halves[0]]).unwrap().unregistered_entries
        }
    );

    assert_three_states(&mut t, 0..400);

    // A restore replaces the restored states too: a checkpoint of "v" only leaves none.
    let mut only_v = full();
    only_v.register_value(value_desc()).unwrap();
    let v_only = checkpoint_bytes(&mut only_v, 3);
    let mut u = full();
    u.restore(&[&halves[0], &halves[1]]).unwrap();
    assert_eq!(u.restored_unregistered().count(), 3);
    u.restore(&[&v_only]).unwrap();
    assert_eq!(u.restored_unregistered().map(|(n, _)| n).collect::<Vec<_>>(), ["v"]);
    assert_eq!(u.num_state_entries(), 0);
}

/// A serializer with `u64`'s identity that reads 16 bytes: a restored body does not decode with it.
#[derive(Clone)]
struct Wide;

impl cow_state_table::serializer::TypeSerializer for Wide {
    type Value = u64;
    fn identity(&self) -> String {
        U64Serializer.identity()
    }
    fn serialize(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), cow_state_table::serializer::SerializeError> {
        U64Serializer.serialize(value, out)?;
        U64Serializer.serialize(value, out)
    }
    fn deserialize(
        &self,
        input: &mut cow_state_table::serializer::Input<'_>,
    ) -> Result<u64, cow_state_table::serializer::DecodeError> {
        U64Serializer.deserialize(input)?;
        U64Serializer.deserialize(input)
    }
}

/// B24: a registration whose kept bodies do not decode fails with a decode error and leaves the state restored
/// and unregistered; a correct registration then binds all its data.
#[test]
fn b24_decode_error_keeps_the_state_restored() {
    let bytes = checkpoint_bytes(&mut three_states(range_of(0, 1), 0..50), 1);
    let mut t = full();
    t.restore(&[&bytes]).unwrap();
    let err = t
        .register_value(ValueStateDescriptor::new("v", U32Serializer, Wide))
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Restore(ref e) if matches!(**e, RestoreError::Decode { index: 0, ref name, .. } if name == "v")),
        "{err:?}"
    );
    assert_eq!(t.restored_unregistered().count(), 3);
    assert_eq!(t.state_names().count(), 0);
    assert_three_states(&mut t, 0..50);
}

/// The backend's `Debug` names its key serializer, its key context and its states (by name and signature).
#[test]
fn backend_debug_names_its_key_context_and_states() {
    let mut b = full();
    b.register_value(value_desc()).unwrap();
    b.set_current_key(1).unwrap();
    let text = format!("{b:?}");
    assert!(text.starts_with("KeyedStateBackend {"), "{text}");
    for part in [
        "key_serializer: U64Serializer",
        "has_current_key: true",
        "states: [(\"v\"",
        "closed: false",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    b.close();
    let text = format!("{b:?}");
    assert!(text.contains("closed: true"), "{text}");
}

/// A pending checkpoint's `Debug` names its id, its key-group context, its states and whether it was cancelled;
/// a spawned checkpoint's handle names its id and whether it was cancelled. Both see the backend's `close`.
#[test]
fn checkpoint_debug_names_its_id_states_and_cancellation() {
    let mut b = full();
    b.register_value(value_desc()).unwrap();
    let pending = b.checkpoint(42).unwrap();
    let text = format!("{pending:?}");
    assert!(text.starts_with("PendingCheckpoint {"), "{text}");
    for part in ["id: 42", "context: ", "states: [", "name: \"v\"", "cancelled: false"] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::new());
    let handle = b.checkpoint(43).unwrap().spawn(storage);
    let text = format!("{handle:?}");
    assert!(text.starts_with("CheckpointHandle {"), "{text}");
    for part in ["id: 43", "cancelled: false", "finished: "] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    b.close();
    assert!(format!("{pending:?}").contains("cancelled: true"), "{pending:?}");
    assert!(format!("{handle:?}").contains("cancelled: true"), "{handle:?}");
}

/// A namespace that counts its equality comparisons (in `NS_EQ`), serialized as a `u32`.
#[derive(Clone, Debug, Default)]
struct CountedNs(u32);

impl std::hash::Hash for CountedNs {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

static NS_EQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl PartialEq for CountedNs {
    fn eq(&self, other: &Self) -> bool {
        NS_EQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0 == other.0
    }
}

impl Eq for CountedNs {}

#[derive(Clone)]
struct CountedNsSerializer;

impl cow_state_table::serializer::TypeSerializer for CountedNsSerializer {
    type Value = CountedNs;
    fn identity(&self) -> String {
        "counted-u32".into()
    }
    fn serialize(
        &self,
        value: &CountedNs,
        out: &mut Vec<u8>,
    ) -> Result<(), cow_state_table::serializer::SerializeError> {
        U32Serializer.serialize(&value.0, out)
    }
    fn deserialize(
        &self,
        input: &mut cow_state_table::serializer::Input<'_>,
    ) -> Result<CountedNs, cow_state_table::serializer::DecodeError> {
        U32Serializer.deserialize(input).map(CountedNs)
    }
}

/// B6 with many sources, each listed twice: each counts once, and finding the repeated ones costs a bounded
/// number of namespace comparisons per source (a set above a handful of sources), not one per earlier source.
#[test]
fn b6_merge_of_many_sources_compares_each_a_bounded_number_of_times() {
    use std::sync::atomic::Ordering::Relaxed;
    const N: u32 = 4096;
    let mut b = full();
    let mut r = b
        .register_reducing(ReducingStateDescriptor::new(
            "r",
            CountedNsSerializer,
            U64Serializer,
            |a, b| a + b,
        ))
        .unwrap();
    b.set_current_key(3).unwrap();
    for ns in 0..N {
        r.set_current_namespace(CountedNs(ns));
        r.add(&mut b, u64::from(ns)).unwrap();
    }
    let sources: Vec<CountedNs> = (0..N).chain(0..N).map(CountedNs).collect();
    NS_EQ.store(0, Relaxed);
    r.merge_namespaces(&mut b, CountedNs(N), &sources).unwrap();
    let compared = NS_EQ.load(Relaxed);
    // The table's lookups and removals compare a few times per source; a scan of the earlier sources would
    // compare about sources.len()² / 4 = 16.8 million times.
    assert!(
        compared <= 16 * sources.len(),
        "{compared} comparisons for {} sources",
        sources.len()
    );
    r.set_current_namespace(CountedNs(N));
    assert_eq!(r.get(&b).unwrap(), Some(&(u64::from(N) * u64::from(N - 1) / 2)));
    assert_eq!(b.state_len("r"), Some(1), "sources removed");
}

/// B10: a restore builds each table at its final size (the decoded entries are counted before the table is
/// made): no growth, no incremental rehash left in progress, the buckets a table made for that many entries has.
#[test]
fn b10_restored_tables_are_built_at_their_size() {
    use cow_state_table::StateTable;
    for n in [1u64, 2, 3, 4, 7, 13, 50, 97, 200, 385, 700, 1000, 1537, 3000] {
        let mut src = full();
        let v = src.register_value(value_desc()).unwrap();
        for k in 0..n {
            src.set_current_key(k).unwrap();
            v.update(&mut src, k).unwrap();
        }
        let bytes = checkpoint_bytes(&mut src, 1);
        let mut r = full();
        let rv = r.register_value(value_desc()).unwrap();
        r.restore(&[&bytes]).unwrap();
        let stats = r.state_table(&rv).unwrap().stats();
        let sized: StateTable<u64, u32, u64, DeterministicState> =
            StateTable::with_capacity_and_hasher(n as usize, DeterministicState::default());
        assert_eq!(stats.len, n as usize);
        assert!(!stats.rehashing, "{n} entries: a rehash in progress");
        assert_eq!(
            (stats.buckets, stats.capacity),
            (sized.buckets(), sized.capacity()),
            "{n} entries"
        );
    }
}

/// The descriptors' `Debug` names the state and its serializers (the functions are not `Debug`).
#[test]
#[allow(deprecated)] // FoldingStateDescriptor, deprecated as in Flink
fn descriptors_debug_their_name_and_serializers() {
    let folding = cow_state_table::backend::FoldingStateDescriptor::new(
        "f",
        U32Serializer,
        U64Serializer,
        0u64,
        |acc: u64, v: u64| acc + v,
    );
    let aggregating = AggregatingStateDescriptor::new("a", U32Serializer, (U64Serializer, U64Serializer), Avg);
    assert_eq!(
        [
            format!("{folding:?}"),
            format!("{aggregating:?}"),
            format!("{:?}", sum_desc())
        ],
        [
            r#"FoldingStateDescriptor { name: "f", namespace_serializer: U32Serializer, accumulator_serializer: U64Serializer, .. }"#,
            r#"AggregatingStateDescriptor { name: "a", namespace_serializer: U32Serializer, accumulator_serializer: (U64Serializer, U64Serializer), .. }"#,
            r#"ReducingStateDescriptor { name: "r", namespace_serializer: U32Serializer, value_serializer: U64Serializer, .. }"#,
        ]
    );
}

/// A handle's `Debug` names its kind, its state's index and its namespace.
#[test]
fn handles_debug_their_kind_index_and_namespace() {
    let mut b = full();
    let v = b.register_value(value_desc()).unwrap();
    let l = b.register_list(list_desc()).unwrap();
    assert_eq!(
        [format!("{v:?}"), format!("{l:?}")],
        [
            "ValueState { index: 0, namespace: 0 }",
            "ListState { index: 1, namespace: 0 }"
        ]
    );
}
