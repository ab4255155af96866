//! State TTL (docs/DESIGN.md T1–T7): expiry and visibility per kind, stamping, cleanup at snapshot in the
//! asynchronous part while the writer goes on, incremental cleanup across rehashes with a live checkpoint, and
//! the stored form's bytes.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::ttl::{
    ManualClock, StateTtlConfig, StateVisibility, TtlSerializer, TtlValue, TtlValueState, UpdateType,
};
use cow_state_table::backend::{
    AggregateFunction, AggregatingStateDescriptor, BackendError, KeyedStateBackend, ListStateDescriptor,
    MapStateDescriptor, ReducingStateDescriptor, StateHandle, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{
    StringSerializer, U32Serializer, U64Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::table::visit::{Visit, VisitCursor};
use cow_state_table::StateTable;
use std::sync::Arc;
use std::time::Duration;

type Backend = KeyedStateBackend<u64, U64Serializer>;

fn backend() -> Backend {
    KeyedStateBackend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).unwrap()).unwrap()
}

fn config(clock: &Arc<ManualClock>, ttl_ms: u64) -> StateTtlConfig {
    StateTtlConfig::new(Duration::from_millis(ttl_ms))
        .unwrap()
        .with_time_provider(clock.clone())
}

fn value_desc(name: &str) -> ValueStateDescriptor<VoidNamespaceSerializer, U64Serializer> {
    ValueStateDescriptor::new(name, VoidNamespaceSerializer, U64Serializer)
}

#[test]
fn value_expires_exactly_at_ttl_and_default_applies() {
    let clock = Arc::new(ManualClock::new(1_000));
    let mut b = backend();
    let v = b
        .register_ttl_value(value_desc("v").with_default(42), config(&clock, 100))
        .unwrap();
    b.set_current_key(1).unwrap();
    assert_eq!(v.value(&mut b).unwrap(), Some(&42), "absent: the default");
    v.update(&mut b, 7).unwrap();
    clock.set(1_099);
    assert_eq!(v.value(&mut b).unwrap(), Some(&7));
    clock.set(1_100);
    assert_eq!(
        v.value(&mut b).unwrap(),
        Some(&42),
        "expired at ts + ttl (T2): the default"
    );
    assert_eq!(b.num_state_entries(), 0, "the read removed it (T4)");
}

/// A backend with one TTL value state (ttl 10 ms, `update_type`) and key 3 current.
fn value_at_key_3(clock: &Arc<ManualClock>, update_type: UpdateType) -> (Backend, TtlValueState<VoidNamespace, u64>) {
    let mut b = backend();
    let v = b
        .register_ttl_value(value_desc("v"), config(clock, 10).with_update_type(update_type))
        .unwrap();
    b.set_current_key(3).unwrap();
    (b, v)
}

/// Sets the value state `v` of each key in `keys` to the key itself.
fn update_each_key_to_itself(b: &mut Backend, v: &TtlValueState<VoidNamespace, u64>, keys: std::ops::Range<u64>) {
    for k in keys {
        b.set_current_key(k).unwrap();
        v.update(b, k).unwrap();
    }
}

/// The nodes the table of `state` has copied for the snapshots alive (copy-on-write, I9).
fn node_copies<S: StateHandle>(b: &Backend, state: &S) -> u64 {
    b.state_table(state).unwrap().stats().cow.node_copies
}

/// `OnReadAndWrite` and `ReturnExpiredIfNotCleanedUp`: reads stamp, expired values are returned.
fn read_stamping_returning_expired(clock: &Arc<ManualClock>) -> StateTtlConfig {
    config(clock, 10)
        .with_update_type(UpdateType::OnReadAndWrite)
        .with_state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp)
}

#[test]
fn on_create_and_write_reads_do_not_refresh_but_on_read_and_write_do() {
    for (update_type, alive_after) in [
        (UpdateType::OnCreateAndWrite, false),
        (UpdateType::OnReadAndWrite, true),
    ] {
        let clock = Arc::new(ManualClock::new(0));
        let (mut b, v) = value_at_key_3(&clock, update_type);
        v.update(&mut b, 1).unwrap();
        clock.set(8);
        assert_eq!(v.value(&mut b).unwrap(), Some(&1));
        clock.set(15); // 15 after the write, 7 after the read
        assert_eq!(v.value(&mut b).unwrap().is_some(), alive_after, "{update_type:?}");
    }
}

#[test]
fn disabled_update_type_keeps_the_creation_stamp() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let v = b
        .register_ttl_value(
            value_desc("v"),
            config(&clock, 10).with_update_type(UpdateType::Disabled),
        )
        .unwrap();
    b.set_current_key(3).unwrap();
    v.update(&mut b, 1).unwrap();
    clock.set(5);
    v.update(&mut b, 2).unwrap();
    clock.set(10);
    assert_eq!(v.value(&mut b).unwrap(), None, "the second write did not refresh");
}

/// T3: a write over a stored value stamps it, except under `Disabled`, where only an expired one is stamped
/// (it is a new value).
#[test]
fn a_write_over_a_value_stamps_it_unless_disabled_keeps_an_unexpired_stamp() {
    for update_type in [
        UpdateType::OnCreateAndWrite,
        UpdateType::OnReadAndWrite,
        UpdateType::Disabled,
    ] {
        let clock = Arc::new(ManualClock::new(0));
        let (mut b, v) = value_at_key_3(&clock, update_type);
        v.update(&mut b, 1).unwrap();
        clock.set(5);
        v.update(&mut b, 2).unwrap(); // unexpired: stamped 5 unless Disabled
        let stamp = if update_type == UpdateType::Disabled { 0 } else { 5 };
        assert_eq!(
            v.stored().value(&b).unwrap(),
            Some(&TtlValue::new(2, stamp)),
            "{update_type:?}"
        );
        clock.set(25); // expired, not read (so not cleaned up): the write stamps it under every update type
        v.update(&mut b, 3).unwrap();
        assert_eq!(
            v.stored().value(&b).unwrap(),
            Some(&TtlValue::new(3, 25)),
            "{update_type:?}"
        );
    }
}

#[test]
fn return_expired_if_not_cleaned_up_returns_it_until_a_cleanup() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let cfg = config(&clock, 10).with_state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp);
    let v = b.register_ttl_value(value_desc("v"), cfg).unwrap();
    b.set_current_key(3).unwrap();
    v.update(&mut b, 1).unwrap();
    clock.set(50);
    assert_eq!(v.value(&mut b).unwrap(), Some(&1));
    assert_eq!(v.cleanup_full(&mut b).unwrap(), 1);
    assert_eq!(v.value(&mut b).unwrap(), None);
}

#[test]
fn list_expires_per_element() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", VoidNamespaceSerializer, U64Serializer),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(9).unwrap();
    l.add(&mut b, 1).unwrap();
    clock.set(4);
    l.add_all(&mut b, [2, 3]).unwrap();
    clock.set(10);
    let got: Vec<u64> = l.get(&mut b).unwrap().unwrap().copied().collect();
    assert_eq!(got, [2, 3]);
    // The expired element left the table, not just the answer (T4).
    let stored = b
        .state_table(l.stored())
        .unwrap()
        .get(&9, &Default::default())
        .unwrap()
        .clone();
    assert_eq!(stored, vec![TtlValue::new(2, 4), TtlValue::new(3, 4)]);
    clock.set(14);
    assert!(l.get(&mut b).unwrap().is_none());
    assert_eq!(b.num_state_entries(), 0);
    l.update(&mut b, vec![5]).unwrap();
    assert_eq!(l.get(&mut b).unwrap().unwrap().copied().collect::<Vec<_>>(), [5]);
    l.update(&mut b, vec![]).unwrap();
    assert!(l.get(&mut b).unwrap().is_none());
}

#[test]
fn map_expires_per_entry() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let m = b
        .register_ttl_map(
            MapStateDescriptor::new("m", VoidNamespaceSerializer, StringSerializer, U32Serializer),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(2).unwrap();
    m.put(&mut b, "a".into(), 1).unwrap();
    clock.set(5);
    m.put(&mut b, "b".into(), 2).unwrap();
    clock.set(10);
    assert_eq!(m.get(&mut b, "a").unwrap(), None);
    assert_eq!(m.get(&mut b, "b").unwrap(), Some(&2));
    assert!(m.contains(&mut b, "b").unwrap());
    let entries: Vec<(String, u32)> = m.entries(&mut b).unwrap().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(entries, [("b".to_string(), 2)]);
    clock.set(15);
    assert!(m.is_empty(&mut b).unwrap());
    assert_eq!(b.num_state_entries(), 0, "an emptied map leaves the table");
    m.put(&mut b, "c".into(), 3).unwrap();
    m.remove(&mut b, &"c".to_string()).unwrap();
    assert!(m.is_empty(&mut b).unwrap());
}

#[test]
fn reducing_and_aggregating_start_over_after_expiry() {
    struct Count;
    impl AggregateFunction<u64, u64, u64> for Count {
        fn create_accumulator(&self) -> u64 {
            0
        }
        fn add(&self, _: u64, acc: u64) -> u64 {
            acc + 1
        }
        fn get_result(&self, acc: &u64) -> u64 {
            *acc
        }
        fn merge(&self, a: u64, b: u64) -> u64 {
            a + b
        }
    }
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let sum = b
        .register_ttl_reducing(
            ReducingStateDescriptor::new("sum", VoidNamespaceSerializer, U64Serializer, |a, b| a + b),
            config(&clock, 10),
        )
        .unwrap();
    let count = b
        .register_ttl_aggregating(
            AggregatingStateDescriptor::new("count", VoidNamespaceSerializer, U64Serializer, Count),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(4).unwrap();
    for x in [1, 2, 3] {
        sum.add(&mut b, x).unwrap();
        count.add(&mut b, x).unwrap();
    }
    assert_eq!(sum.get(&mut b).unwrap(), Some(&6));
    assert_eq!(count.get(&mut b).unwrap(), Some(3));
    clock.set(9);
    sum.add(&mut b, 10).unwrap(); // refreshes the stamp (T3)
    clock.set(12);
    assert_eq!(sum.get(&mut b).unwrap(), Some(&16));
    assert_eq!(count.get(&mut b).unwrap(), None);
    count.add(&mut b, 0).unwrap();
    assert_eq!(
        count.get(&mut b).unwrap(),
        Some(1),
        "the expired accumulator counted as absent"
    );
    clock.set(30);
    sum.add(&mut b, 5).unwrap();
    assert_eq!(sum.get(&mut b).unwrap(), Some(&5), "the expired sum counted as absent");
}

#[test]
fn ttl_and_plain_registrations_of_one_name_do_not_bind() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    b.register_value(value_desc("v")).unwrap();
    let err = b.register_ttl_value(value_desc("v"), config(&clock, 10)).unwrap_err();
    assert!(matches!(err, BackendError::StateMismatch(_)), "{err:?}");
}

/// Counts, per key, the stored entries of a checkpoint restored into a backend that registers the state
/// with a TTL long enough that nothing is hidden.
fn restored_keys(bytes: &[u8]) -> Vec<u64> {
    let clock = Arc::new(ManualClock::new(0));
    let mut r = backend();
    let v = r.register_ttl_value(value_desc("v"), config(&clock, 1 << 40)).unwrap();
    r.restore(&[bytes]).unwrap();
    let mut keys: Vec<u64> = r.keys(v.stored(), &Default::default()).unwrap().copied().collect();
    keys.sort_unstable();
    keys
}

#[test]
fn cleanup_at_snapshot_filters_in_the_async_part_and_leaves_table_and_snapshot_alone() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let v = b
        .register_ttl_value(value_desc("v"), config(&clock, 100).cleanup_full_snapshot())
        .unwrap();
    for k in 0..100u64 {
        clock.set(if k % 10 == 0 { 0 } else { 50 });
        b.set_current_key(k).unwrap();
        v.update(&mut b, k).unwrap();
    }
    clock.set(120); // the 10 keys written at 0 are expired, the others not
    let pending = b.checkpoint(1).unwrap();
    assert_eq!(pending.entries(), 100, "the synchronous part is unchanged (T5)");
    // The writer goes on: these changes are after the checkpoint and must not reach it.
    b.set_current_key(1).unwrap();
    v.update(&mut b, None).unwrap();
    b.set_current_key(500).unwrap();
    v.update(&mut b, 1).unwrap();
    let storage = MemoryStorage::new();
    let summary = pending.run(&storage).unwrap();
    assert_eq!(summary.entries, 90, "the filter dropped the 10 expired entries");
    assert_eq!(
        b.num_state_entries(),
        100,
        "the live table is untouched: 99 old + 1 new"
    );
    let expected: Vec<u64> = (0..100).filter(|k| k % 10 != 0).collect();
    assert_eq!(restored_keys(&storage.read(1).unwrap()), expected);
    b.check_invariants().unwrap();
}

#[test]
fn without_cleanup_at_snapshot_expired_entries_are_written() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let v = b.register_ttl_value(value_desc("v"), config(&clock, 100)).unwrap();
    update_each_key_to_itself(&mut b, &v, 0..20);
    clock.set(1_000);
    let storage = MemoryStorage::new();
    let summary = b.checkpoint(1).unwrap().run(&storage).unwrap();
    assert_eq!(summary.entries, 20);
    assert_eq!(restored_keys(&storage.read(1).unwrap()).len(), 20);
}

#[test]
fn cleanup_at_snapshot_trims_lists_and_maps() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", VoidNamespaceSerializer, U64Serializer),
            config(&clock, 10).cleanup_full_snapshot(),
        )
        .unwrap();
    let m = b
        .register_ttl_map(
            MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U32Serializer),
            config(&clock, 10).cleanup_full_snapshot(),
        )
        .unwrap();
    b.set_current_key(1).unwrap();
    l.add(&mut b, 1).unwrap();
    m.put(&mut b, 1, 1).unwrap();
    b.set_current_key(2).unwrap();
    l.add(&mut b, 2).unwrap();
    m.put(&mut b, 2, 2).unwrap();
    clock.set(5);
    l.add(&mut b, 3).unwrap();
    m.put(&mut b, 3, 3).unwrap();
    clock.set(12);
    let storage = MemoryStorage::new();
    let summary = b.checkpoint(1).unwrap().run(&storage).unwrap();
    assert_eq!(
        summary.entries, 2,
        "key 1's list and map are empty once filtered: not written"
    );
    // Read back with a TTL that hides nothing.
    let clock2 = Arc::new(ManualClock::new(0));
    let mut r = backend();
    let l2 = r
        .register_ttl_list(
            ListStateDescriptor::new("l", VoidNamespaceSerializer, U64Serializer),
            config(&clock2, 10).cleanup_full_snapshot(),
        )
        .unwrap();
    let m2 = r
        .register_ttl_map(
            MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U32Serializer),
            config(&clock2, 10).cleanup_full_snapshot(),
        )
        .unwrap();
    r.restore(&[&storage.read(1).unwrap()]).unwrap();
    r.set_current_key(2).unwrap();
    assert_eq!(l2.get(&mut r).unwrap().unwrap().copied().collect::<Vec<_>>(), [3]);
    assert_eq!(
        m2.entries(&mut r).unwrap().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
        [(3, 3)]
    );
    r.set_current_key(1).unwrap();
    assert!(l2.get(&mut r).unwrap().is_none());
    // The live table still holds every element (T5).
    b.set_current_key(2).unwrap();
    let stored = b
        .state_table(l.stored())
        .unwrap()
        .get(&2, &Default::default())
        .unwrap()
        .len();
    assert_eq!(stored, 2);
}

#[test]
fn stored_bytes_are_flinks_ttl_serializer_layout() {
    let clock = Arc::new(ManualClock::new(0x0102_0304));
    let mut b = backend();
    let v = b.register_ttl_value(value_desc("v"), config(&clock, 10)).unwrap();
    b.set_current_key(1).unwrap();
    v.update(&mut b, 0x55).unwrap();
    let bytes = v
        .stored()
        .serialized_value(&b, &1, &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(bytes, [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0x55]);
    use cow_state_table::serializer::TypeSerializer;
    assert_eq!(TtlSerializer(U64Serializer).identity(), "ttl<u64>");
}

/// T6: `cleanup_rounds` counts the incremental cleanup's completed passes over the table from 0. The cursor
/// starts at the table's first bucket: on a full table (restored, so no access has moved the cursor yet) a first
/// access that visits one entry completes no pass, and a pass takes about one access per occupied bucket.
#[test]
fn incremental_cleanup_counts_its_passes_from_the_start_of_the_table() {
    let clock = Arc::new(ManualClock::new(0));
    let mut source = backend();
    let filled = source.register_ttl_value(value_desc("v"), config(&clock, 10)).unwrap();
    update_each_key_to_itself(&mut source, &filled, 0..1_000);
    let storage = MemoryStorage::new();
    source.checkpoint(1).unwrap().run(&storage).unwrap();
    let mut b = backend();
    let v = b
        .register_ttl_value(
            value_desc("v"),
            config(&clock, 10).cleanup_incrementally(1, false).unwrap(),
        )
        .unwrap();
    b.restore(&[&storage.read(1).unwrap()]).unwrap();
    assert_eq!(v.cleanup_rounds(), 0);
    b.set_current_key(7).unwrap();
    assert_eq!(v.value(&mut b).unwrap(), Some(&7));
    assert_eq!(
        v.cleanup_rounds(),
        0,
        "one entry visited from the first bucket: no pass completed"
    );
    let mut accesses = 1;
    while v.cleanup_rounds() == 0 {
        v.value(&mut b).unwrap();
        accesses += 1;
        assert!(accesses <= 2_000, "the cursor does not progress");
    }
    assert_eq!(v.cleanup_rounds(), 1);
    assert!(
        accesses >= 100,
        "a pass over 1,000 entries took {accesses} accesses of one entry each"
    );
}

#[test]
fn incremental_cleanup_removes_expired_entries_a_few_per_access_with_a_live_checkpoint() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let v = b
        .register_ttl_value(
            value_desc("v"),
            config(&clock, 10).cleanup_incrementally(5, false).unwrap(),
        )
        .unwrap();
    update_each_key_to_itself(&mut b, &v, 0..2_000);
    clock.set(5);
    update_each_key_to_itself(&mut b, &v, 2_000..2_100);
    clock.set(12); // keys < 2000 expired, the 100 others not
    let pending = b.checkpoint(7).unwrap();
    let mut accesses = 0;
    while b.num_state_entries() > 100 {
        b.set_current_key(2_000 + accesses % 100).unwrap();
        assert!(v.value(&mut b).unwrap().is_some(), "an unexpired value was removed");
        accesses += 1;
        assert!(accesses < 10_000, "the cleanup does not progress");
        if accesses % 97 == 0 {
            b.check_invariants().unwrap();
        }
    }
    // About 5 entries visited per access: 2,000 expired entries take far fewer than 2,000 accesses.
    assert!(accesses < 1_000, "{accesses} accesses");
    assert!(v.cleanup_rounds() >= 1);
    let storage = MemoryStorage::new();
    assert_eq!(
        pending.run(&storage).unwrap().entries,
        2_100,
        "the checkpoint kept what it saw (I9)"
    );
    b.check_invariants().unwrap();
}

#[test]
fn record_processed_runs_only_with_the_flag() {
    for flag in [false, true] {
        let clock = Arc::new(ManualClock::new(0));
        let mut b = backend();
        let v = b
            .register_ttl_value(
                value_desc("v"),
                config(&clock, 10).cleanup_incrementally(1_000, flag).unwrap(),
            )
            .unwrap();
        update_each_key_to_itself(&mut b, &v, 0..100);
        clock.set(10);
        v.record_processed(&mut b).unwrap();
        assert_eq!(b.num_state_entries(), if flag { 0 } else { 100 }, "flag {flag}");
    }
}

/// T6 at table level: the visitor's cursor survives growth and shrink rehashes interleaved with its visits, with
/// a snapshot live throughout; it never removes what it should keep; it ends up removing all it should.
#[test]
fn visitor_is_correct_across_rehashes_with_a_live_snapshot() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    table.set_chunk_bits_for_test(1);
    for k in 0..64 {
        table.put(k, 0, k);
    }
    let snap = table.snapshot().unwrap();
    let mut cursor = VisitCursor::default();
    let mut saw_rehash = false;
    // Grow while visiting: odd values are "expired".
    for k in 64..2_000u64 {
        table.put(k, 0, k);
        saw_rehash |= table.is_rehashing();
        table.visit_some(
            &mut cursor,
            3,
            |_, _, s| if s % 2 == 1 { Visit::Remove } else { Visit::Keep },
        );
        if k % 101 == 0 {
            table.check_invariants().unwrap();
        }
    }
    assert!(saw_rehash);
    // Finish: whole rounds until one removes nothing.
    loop {
        let start = cursor.rounds;
        let mut removed = 0;
        while cursor.rounds == start {
            removed += table
                .visit_some(
                    &mut cursor,
                    7,
                    |_, _, s| if s % 2 == 1 { Visit::Remove } else { Visit::Keep },
                )
                .removed;
        }
        if removed == 0 {
            break;
        }
    }
    assert_eq!(table.len(), 1_000);
    assert!((0..2_000u64).all(|k| table.contains(&k, &0) == (k % 2 == 0)));
    // Shrink while visiting (removals start shrink rehashes), with replacements copied under the snapshot.
    let snap2 = table.snapshot().unwrap();
    let mut saw_shrink = false;
    while cursor.rounds < 40 {
        table.visit_some(&mut cursor, 5, |_, _, s| {
            if s % 8 == 2 {
                Visit::Replace(s + 1)
            } else if s % 2 == 0 {
                Visit::Remove
            } else {
                Visit::Keep
            }
        });
        saw_shrink |= table.is_rehashing();
    }
    assert!(saw_shrink, "the removals started a shrink");
    assert_eq!(table.len(), 250);
    assert!((0..2_000u64).all(|k| table.get(&k, &0).copied() == (k % 8 == 2).then_some(k + 1)));
    assert_eq!(snap.len(), 64);
    assert!((0..64u64).all(|k| snap.get(&k, &0) == Some(&k)));
    assert_eq!(snap2.len(), 1_000);
    table.check_invariants().unwrap();
}

/// T6: one `visit_some` hands each entry to the visitor at most once and counts each once, even when it starts in
/// the middle of a round and asks for more entries than the table holds: it stops where the round ends. A call
/// that starts at the end of a round goes on into the next one.
#[test]
fn one_visit_never_sees_an_entry_twice() {
    let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    let mut cursor = VisitCursor::default();
    let first = table.visit_some(&mut cursor, 8, |_, _, _| Visit::Keep);
    assert!(first.visited >= 8 && cursor.rounds == 0, "{first:?} {cursor:?}");
    let mut seen = std::collections::BTreeMap::new();
    let rest = table.visit_some(&mut cursor, 10_000, |k, _, s| {
        *seen.entry(*k).or_insert(0) += 1;
        Visit::Replace(s + 1)
    });
    assert!(seen.values().all(|&n| n == 1), "an entry visited twice in one call");
    assert_eq!(rest.visited, 100 - first.visited, "the call stops where the round ends");
    assert_eq!(rest.replaced, rest.visited);
    assert_eq!(cursor.rounds, 1);
    assert!(
        table
            .iter()
            .all(|(k, _, s)| *s == if seen.contains_key(k) { k + 1 } else { *k }),
        "each replacement applied once"
    );
    // Starting at the round's start, one call visits all, once each.
    let all = table.visit_some(&mut cursor, 10_000, |_, _, _| Visit::Keep);
    assert_eq!((all.visited, cursor.rounds), (100, 2));
}

/// T6: a call scans at most `16 * max_entries + 64` buckets, empty ones included, and stops after the bucket in
/// which it reached `max_entries`: on a sparse table a call that finds nothing moves the cursor by exactly its
/// budget; one that finds an entry stops right after that entry's bucket. Over a round, every entry is visited
/// once whatever the calls' sizes.
#[test]
fn a_visit_keeps_to_its_bucket_budget() {
    let mut table: StateTable<u64, u32, u64> = StateTable::with_capacity(50_000);
    for k in 0..40u64 {
        table.put(k, 0, k);
    }
    let buckets = table.buckets();
    assert!(buckets >= 50_000, "{buckets}");
    let budget = 16 + 64;
    let mut cursor = VisitCursor::default();
    let (mut calls, mut visited, mut empty_calls) = (0usize, 0usize, 0usize);
    while cursor.rounds == 0 {
        let before = cursor.bucket;
        let s = table.visit_some(&mut cursor, 1, |_, _, _| Visit::Keep);
        calls += 1;
        visited += s.visited;
        if cursor.rounds == 0 {
            let moved = cursor.bucket - before;
            assert!((1..=budget).contains(&moved), "moved {moved} buckets: {s:?}");
            if s.visited == 0 {
                assert_eq!(moved, budget, "a call that finds nothing scans its whole budget");
                empty_calls += 1;
            }
        }
    }
    assert_eq!(visited, 40, "each entry once per round");
    assert!(
        calls >= buckets / budget && empty_calls > 0,
        "{calls} calls, {empty_calls} empty"
    );
    // With a larger count the same round takes fewer calls, and still visits each entry once.
    let mut cursor = VisitCursor::default();
    let (mut calls8, mut visited8) = (0, 0);
    while cursor.rounds == 0 {
        visited8 += table.visit_some(&mut cursor, 8, |_, _, _| Visit::Keep).visited;
        calls8 += 1;
    }
    assert_eq!(visited8, 40);
    assert!(calls8 < calls, "{calls8} vs {calls}");
}

/// T2: `expired` is Flink's `TtlUtils.expired` — `ts + min(ttl, i64::MAX - ts)` for a positive `ts`, else
/// `ts + ttl` (Java's wrapping add) — at every combination of the edges of `i64`.
#[test]
fn expired_is_flinks_formula_at_the_edges() {
    use cow_state_table::backend::ttl::expired;
    let flink = |ts: i64, ttl: i64, now: i64| {
        let ttl = if ts > 0 { ttl.min(i64::MAX - ts) } else { ttl };
        ts.wrapping_add(ttl) <= now
    };
    let edges = [
        i64::MIN,
        i64::MIN + 1,
        -1_000,
        -1,
        0,
        1,
        1_000,
        i64::MAX - 1_000,
        i64::MAX - 1,
        i64::MAX,
    ];
    for ts in edges {
        for ttl in edges {
            for now in edges {
                assert_eq!(
                    expired(ts, ttl, now),
                    flink(ts, ttl, now),
                    "ts {ts}, ttl {ttl}, now {now}"
                );
            }
        }
    }
}

/// T1: the stored form's shortest encoding is the stamp's 8 bytes and the user value's shortest one.
#[test]
fn ttl_serializer_min_len_is_the_stamp_and_the_shortest_user_value() {
    use cow_state_table::serializer::TypeSerializer;
    let ints = TtlSerializer(U32Serializer);
    assert_eq!(ints.min_len(), 12);
    let strings = TtlSerializer(StringSerializer);
    let mut out = Vec::new();
    strings.serialize(&TtlValue::new(String::new(), 0), &mut out).unwrap();
    assert_eq!(strings.min_len(), out.len());
    assert_eq!(strings.min_len(), 8 + StringSerializer.min_len());
}

/// T3, T8: a read that stamps nothing writes nothing. Under `OnReadAndWrite` with `ReturnExpiredIfNotCleanedUp`
/// an expired value is returned unstamped, without the write (and, with a checkpoint in flight, the node copy)
/// that stamping an unexpired value costs.
#[test]
fn a_read_of_an_expired_value_it_does_not_stamp_copies_nothing() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let v = b
        .register_ttl_value(value_desc("v"), read_stamping_returning_expired(&clock))
        .unwrap();
    update_each_key_to_itself(&mut b, &v, 0..2);
    let _pending = b.checkpoint(1).unwrap();
    let before = node_copies(&b, v.stored());
    clock.set(5);
    b.set_current_key(0).unwrap();
    assert_eq!(v.value(&mut b).unwrap(), Some(&0));
    assert_eq!(
        node_copies(&b, v.stored()),
        before + 1,
        "an unexpired value read is stamped: its node is copied"
    );
    clock.set(10);
    b.set_current_key(1).unwrap();
    assert_eq!(v.value(&mut b).unwrap(), Some(&1), "expired, not cleaned up: returned");
    assert_eq!(
        node_copies(&b, v.stored()),
        before + 1,
        "an expired value read is not stamped: nothing copied"
    );
    assert_eq!(v.stored().value(&b).unwrap(), Some(&TtlValue::new(1, 0)));
    // The same for a list whose elements all expired.
    let l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", VoidNamespaceSerializer, U64Serializer),
            read_stamping_returning_expired(&clock),
        )
        .unwrap();
    l.add(&mut b, 7).unwrap();
    let _pending = b.checkpoint(2).unwrap();
    let before = node_copies(&b, l.stored());
    clock.set(20);
    assert_eq!(l.get(&mut b).unwrap().unwrap().copied().collect::<Vec<_>>(), [7]);
    assert_eq!(
        node_copies(&b, l.stored()),
        before,
        "no element to stamp: nothing copied"
    );
    // And for a map whose entries all expired.
    let m = b
        .register_ttl_map(
            MapStateDescriptor::new("m", VoidNamespaceSerializer, StringSerializer, U32Serializer),
            read_stamping_returning_expired(&clock),
        )
        .unwrap();
    m.put(&mut b, "a".to_string(), 1).unwrap();
    let _pending = b.checkpoint(3).unwrap();
    let before = node_copies(&b, m.stored());
    clock.set(30);
    let entries: Vec<(String, u32)> = m.entries(&mut b).unwrap().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(entries, [("a".to_string(), 1)]);
    assert_eq!(node_copies(&b, m.stored()), before, "no entry to stamp: nothing copied");
}
