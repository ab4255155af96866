//! State TTL's merge and map API (docs/DESIGN.md T9, T10) and the shared read (T3, T4): merging namespaces of
//! TTL list, reducing and aggregating states with expired operands, the TTL map's keys / values / cursor under
//! both visibilities and with a checkpoint in flight, and a read under `OnReadAndWrite` that never revives an
//! expired element.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::ttl::{
    IncrementalCleanup, ManualClock, StateTtlConfig, StateVisibility, SystemClock, TtlTimeProvider, TtlValue,
    UpdateType,
};
use cow_state_table::backend::{
    AggregateFunction, AggregatingStateDescriptor, BackendError, KeyedStateBackend, ListStateDescriptor,
    MapStateDescriptor, ReducingStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
use std::panic::{catch_unwind, AssertUnwindSafe};
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

fn sorted<T: Ord + Clone>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = it.collect();
    v.sort();
    v
}

/// T9: reducing merge — an expired source or target is absent, every source goes, the result is stamped now;
/// a panicking reduce changes nothing.
#[test]
fn reducing_merge_skips_expired_operands_and_stamps_now() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let reduce = |a: u64, b: u64| {
        assert!(a != 666 && b != 666, "reduce fails");
        a * 10 + b
    };
    let mut s = b
        .register_ttl_reducing(
            ReducingStateDescriptor::new("r", U32Serializer, U64Serializer, reduce),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(7).unwrap();
    let put = |b: &mut Backend, s: &mut _, ns: u32, v: u64| {
        let s: &mut cow_state_table::backend::ttl::TtlReducingState<u32, u64> = s;
        s.set_current_namespace(ns);
        s.add(b, v).unwrap();
    };
    put(&mut b, &mut s, 0, 9); // target, stamped 0: expired at 10
    put(&mut b, &mut s, 1, 1); // stamped 0: expired at 10
    clock.set(4);
    put(&mut b, &mut s, 2, 2);
    put(&mut b, &mut s, 3, 3);
    clock.set(10);
    s.merge_namespaces(&mut b, 0, &[1, 2, 3, 2]).unwrap();
    assert_eq!(b.num_state_entries(), 1, "every source removed, the expired one too");
    let stored = s.stored().clone();
    let mut stored = stored;
    stored.set_current_namespace(0);
    assert_eq!(
        stored.get(&b).unwrap(),
        Some(&TtlValue::new(23, 10)),
        "expired target and source absent: 2 ⊕ 3, stamped now (T9)"
    );
    // Unexpired target: merged in front.
    put(&mut b, &mut s, 4, 4);
    s.merge_namespaces(&mut b, 0, &[4]).unwrap();
    s.set_current_namespace(0);
    assert_eq!(s.get(&mut b).unwrap(), Some(&234));
    // Only expired sources: they go, the target stays.
    put(&mut b, &mut s, 5, 5); // stamped 10
    clock.set(19);
    put(&mut b, &mut s, 0, 1); // target: 2341 stamped 19
    clock.set(25);
    s.merge_namespaces(&mut b, 0, &[5]).unwrap();
    assert_eq!(b.num_state_entries(), 1);
    s.set_current_namespace(0);
    assert_eq!(s.get(&mut b).unwrap(), Some(&2341));
    // A panicking reduce leaves source and target, with a checkpoint in flight.
    put(&mut b, &mut s, 6, 666);
    let pending = b.checkpoint(1).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| s.merge_namespaces(&mut b, 0, &[6])));
    assert!(r.is_err());
    assert_eq!(b.num_state_entries(), 2);
    s.set_current_namespace(6);
    assert_eq!(s.get(&mut b).unwrap(), Some(&666));
    drop(pending);
    b.check_invariants().unwrap();
}

struct Sum;
impl AggregateFunction<u64, u64, u64> for Sum {
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, v: u64, acc: u64) -> u64 {
        acc + v
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a * 100 + b
    }
}

/// T9: aggregating merge by the function's `merge`, over the unexpired accumulators only.
#[test]
fn aggregating_merge_skips_expired_operands() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let mut s = b
        .register_ttl_aggregating(
            AggregatingStateDescriptor::new("a", U32Serializer, U64Serializer, Sum),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(1).unwrap();
    for (ns, v, at) in [(1u32, 1u64, 0i64), (2, 2, 5), (3, 3, 5), (0, 7, 6)] {
        clock.set(at);
        s.set_current_namespace(ns);
        s.add(&mut b, v).unwrap();
    }
    clock.set(12); // 1 expired
    s.merge_namespaces(&mut b, 0, &[3, 1, 2]).unwrap();
    s.set_current_namespace(0);
    assert_eq!(
        s.get(&mut b).unwrap(),
        Some(1002),
        "merge(7, merge(3, 2)) = 7·100 + 3·100 + 2"
    );
    clock.set(21); // stamped 12 by the merge: alive until 22
    assert_eq!(s.get(&mut b).unwrap(), Some(1002));
    clock.set(22);
    assert_eq!(s.get(&mut b).unwrap(), None);
    assert_eq!(b.num_state_entries(), 0);
}

/// T9: the list merge is the plain one; elements keep their stamps.
#[test]
fn list_merge_keeps_each_elements_stamp() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let mut l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", U32Serializer, U64Serializer),
            config(&clock, 10),
        )
        .unwrap();
    b.set_current_key(1).unwrap();
    for (ns, v, at) in [(0u32, 10u64, 0i64), (1, 11, 3), (2, 12, 6), (1, 13, 6)] {
        clock.set(at);
        l.set_current_namespace(ns);
        l.add(&mut b, v).unwrap();
    }
    l.merge_namespaces(&mut b, 0, &[1, 2]).unwrap();
    assert_eq!(b.num_state_entries(), 1);
    l.set_current_namespace(0);
    let stamps: Vec<(u64, i64)> = l
        .stored()
        .get(&b)
        .unwrap()
        .unwrap()
        .iter()
        .map(|e| (e.user_value, e.last_access))
        .collect();
    assert_eq!(stamps, [(10, 0), (11, 3), (13, 6), (12, 6)]);
    clock.set(13);
    assert_eq!(l.get(&mut b).unwrap().unwrap().copied().collect::<Vec<_>>(), [13, 12]);
}

fn map_state(
    b: &mut Backend,
    clock: &Arc<ManualClock>,
    visibility: StateVisibility,
    update_type: UpdateType,
) -> cow_state_table::backend::ttl::TtlMapState<cow_state_table::serializer::VoidNamespace, u32, u64> {
    b.register_ttl_map(
        MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer),
        config(clock, 10)
            .with_state_visibility(visibility)
            .with_update_type(update_type),
    )
    .unwrap()
}

/// T10: keys, values and is_empty never show an expired entry under NeverReturnExpired, and do under
/// ReturnExpiredIfNotCleanedUp.
#[test]
fn map_views_hide_expired_entries_by_visibility() {
    for visibility in [
        StateVisibility::NeverReturnExpired,
        StateVisibility::ReturnExpiredIfNotCleanedUp,
    ] {
        let clock = Arc::new(ManualClock::new(0));
        let mut b = backend();
        let m = map_state(&mut b, &clock, visibility, UpdateType::OnCreateAndWrite);
        b.set_current_key(1).unwrap();
        m.put_all(&mut b, [(1, 10), (2, 20)]).unwrap();
        clock.set(5);
        m.put(&mut b, 3, 30).unwrap();
        clock.set(10);
        let hidden = visibility == StateVisibility::NeverReturnExpired;
        let (keys, values) = if hidden {
            (vec![3], vec![30])
        } else {
            (vec![1, 2, 3], vec![10, 20, 30])
        };
        assert_eq!(sorted(m.keys(&mut b).unwrap().copied()), keys, "{visibility:?}");
        assert_eq!(sorted(m.values(&mut b).unwrap().copied()), values, "{visibility:?}");
        assert!(m.contains(&mut b, &3).unwrap());
        assert_eq!(m.contains(&mut b, &1).unwrap(), !hidden, "{visibility:?}");
        assert!(!m.contains(&mut b, &4).unwrap(), "never put");
        assert!(!m.is_empty(&mut b).unwrap());
        clock.set(15);
        assert_eq!(m.is_empty(&mut b).unwrap(), hidden, "{visibility:?}");
        assert_eq!(m.keys(&mut b).unwrap().count(), if hidden { 0 } else { 3 });
        assert_eq!(b.num_state_entries(), usize::from(!hidden), "an emptied map is removed");
    }
}

/// T10: the cursor hands out no expired entry, its writes stamp (copy-on-write under a checkpoint in flight,
/// which keeps the old map), its reads do not.
#[test]
fn map_cursor_skips_expired_and_its_writes_stamp_under_a_checkpoint() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let m = map_state(
        &mut b,
        &clock,
        StateVisibility::NeverReturnExpired,
        UpdateType::OnCreateAndWrite,
    );
    b.set_current_key(1).unwrap();
    m.put_all(&mut b, [(1, 10), (2, 20)]).unwrap();
    clock.set(5);
    m.put_all(&mut b, [(3, 30), (4, 40), (5, 50)]).unwrap();
    clock.set(10); // 1 and 2 expired
    let pending = b.checkpoint(1).unwrap();
    let mut seen = Vec::new();
    {
        let mut cursor = m.entries_mut(&mut b).unwrap();
        assert!(matches!(cursor.set_value(0), Err(BackendError::NoCurrentEntry)));
        assert_eq!((cursor.key(), cursor.value()), (None, None));
        let text = format!("{cursor:?}");
        assert!(
            text.starts_with("TtlMapEntriesMut { inner: ") && text.contains(", now: 10, .. }"),
            "{text}"
        );
        while let Some((&k, &v)) = cursor.next_entry() {
            seen.push((k, v));
            assert_eq!((cursor.key(), cursor.value()), (Some(&k), Some(&v)));
            match k {
                3 => {
                    assert_eq!(cursor.set_value(33).unwrap(), 30);
                }
                4 => {
                    *cursor.value_mut().unwrap() += 4;
                }
                _ => {
                    assert_eq!(cursor.remove().unwrap(), 50);
                    assert!(cursor.remove().is_err());
                }
            }
        }
    }
    seen.sort();
    assert_eq!(seen, [(3, 30), (4, 40), (5, 50)], "no expired entry handed out");
    let stamps = sorted(
        m.stored()
            .map(&b)
            .unwrap()
            .unwrap()
            .iter()
            .map(|(k, tv)| (*k, tv.last_access)),
    );
    assert_eq!(stamps, [(3, 10), (4, 10)], "the writes stamped now");
    // The checkpoint in flight keeps the map of before the cursor (and its expired entries: no cleanup at
    // snapshot configured).
    let storage = MemoryStorage::new();
    pending.run(&storage).unwrap();
    let mut r = backend();
    let rm = map_state(
        &mut r,
        &clock,
        StateVisibility::ReturnExpiredIfNotCleanedUp,
        UpdateType::OnCreateAndWrite,
    );
    r.restore(&[&storage.read(1).unwrap()]).unwrap();
    r.set_current_key(1).unwrap();
    let restored = sorted(rm.entries(&mut r).unwrap().map(|(k, v)| (*k, *v)));
    assert_eq!(restored, [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]);
    clock.set(19);
    assert_eq!(
        sorted(m.entries(&mut b).unwrap().map(|(k, v)| (*k, *v))),
        [(3, 33), (4, 44)]
    );
    clock.set(20);
    assert!(m.is_empty(&mut b).unwrap());
    b.check_invariants().unwrap();
}

/// T3, T10: under `Disabled` a cursor write keeps an unexpired entry's stamp.
#[test]
fn map_cursor_write_under_disabled_keeps_the_stamp() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let m = map_state(
        &mut b,
        &clock,
        StateVisibility::NeverReturnExpired,
        UpdateType::Disabled,
    );
    b.set_current_key(1).unwrap();
    m.put(&mut b, 1, 10).unwrap();
    clock.set(5);
    let mut cursor = m.entries_mut(&mut b).unwrap();
    cursor.next_entry().unwrap();
    cursor.set_value(11).unwrap();
    drop(cursor);
    let tv = m.stored().map(&b).unwrap().unwrap()[&1].clone();
    assert_eq!(tv, TtlValue::new(11, 0));
}

/// T3: under `Disabled` a `put` or `put_all` over an unexpired entry keeps its stamp (as `update` and the cursor
/// do); over an expired or absent one it stamps `now`.
#[test]
fn map_put_under_disabled_keeps_an_unexpired_stamp() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let m = map_state(
        &mut b,
        &clock,
        StateVisibility::ReturnExpiredIfNotCleanedUp,
        UpdateType::Disabled,
    );
    b.set_current_key(1).unwrap();
    m.put(&mut b, 1, 10).unwrap();
    m.put(&mut b, 2, 20).unwrap();
    clock.set(5);
    m.put(&mut b, 1, 11).unwrap();
    m.put_all(&mut b, [(2, 21), (3, 30)]).unwrap();
    let stored = |b: &_| {
        let mut v: Vec<(u32, TtlValue<u64>)> = m
            .stored()
            .map(b)
            .unwrap()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        v.sort_by_key(|e| e.0);
        v
    };
    assert_eq!(
        stored(&b),
        [
            (1, TtlValue::new(11, 0)),
            (2, TtlValue::new(21, 0)),
            (3, TtlValue::new(30, 5))
        ]
    );
    clock.set(12); // 1 and 2 expired (stamped 0, ttl 10), 3 not
    m.put(&mut b, 1, 12).unwrap();
    m.put_all(&mut b, [(2, 22), (3, 31)]).unwrap();
    assert_eq!(
        stored(&b),
        [
            (1, TtlValue::new(12, 12)),
            (2, TtlValue::new(22, 12)),
            (3, TtlValue::new(31, 5))
        ]
    );
}

/// T3: a read under `OnReadAndWrite` with `ReturnExpiredIfNotCleanedUp` returns the expired elements but stamps
/// only the unexpired ones: it never revives what expired (Flink stamps only what `getUnexpired` returns).
#[test]
fn read_stamps_only_unexpired_elements() {
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let l = b
        .register_ttl_list(
            ListStateDescriptor::new("l", VoidNamespaceSerializer, U64Serializer),
            config(&clock, 10)
                .with_state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp)
                .with_update_type(UpdateType::OnReadAndWrite),
        )
        .unwrap();
    b.set_current_key(1).unwrap();
    l.add(&mut b, 1).unwrap();
    clock.set(5);
    l.add(&mut b, 2).unwrap();
    clock.set(12); // 1 expired, 2 not
    assert_eq!(l.get(&mut b).unwrap().unwrap().copied().collect::<Vec<_>>(), [1, 2]);
    let stamps: Vec<i64> = l
        .stored()
        .get(&b)
        .unwrap()
        .unwrap()
        .iter()
        .map(|e| e.last_access)
        .collect();
    assert_eq!(stamps, [0, 12]);
    assert!(l.cleanup_full(&mut b).unwrap() > 0);
    let stored: Vec<TtlValue<u64>> = l.stored().get(&b).unwrap().unwrap().to_vec();
    assert_eq!(stored, [TtlValue::new(2, 12)], "the expired element was not revived");
    assert_eq!(l.cleanup_full(&mut b).unwrap(), 0);
}

/// T3, T5 for the folding state: an expired accumulator folds from the initial one; a read under
/// `OnReadAndWrite` refreshes it; cleanup at snapshot drops it.
#[test]
#[allow(deprecated)]
fn folding_state_expires_refreshes_and_is_filtered() {
    use cow_state_table::backend::FoldingStateDescriptor;
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let f = b
        .register_ttl_folding(
            FoldingStateDescriptor::new("f", U32Serializer, U64Serializer, 100, |acc: u64, v: u64| acc * 10 + v),
            config(&clock, 10)
                .with_update_type(UpdateType::OnReadAndWrite)
                .cleanup_full_snapshot(),
        )
        .unwrap();
    b.set_current_key(1).unwrap();
    f.add(&mut b, 1).unwrap();
    f.add(&mut b, 2).unwrap();
    clock.set(9);
    assert_eq!(f.get(&mut b).unwrap(), Some(&10012), "read at 9: stamped 9");
    clock.set(18);
    assert_eq!(f.get(&mut b).unwrap(), Some(&10012), "alive until 19 after the read");
    clock.set(28);
    f.add(&mut b, 3).unwrap();
    assert_eq!(
        f.get(&mut b).unwrap(),
        Some(&1003),
        "expired at 28: folded from the initial 100"
    );
    b.set_current_key(2).unwrap();
    f.add(&mut b, 4).unwrap();
    clock.set(38); // key 1 stamped 28 expired; key 2 stamped 28 too: both expired
    b.set_current_key(3).unwrap();
    f.add(&mut b, 5).unwrap();
    let storage = MemoryStorage::new();
    let summary = b.checkpoint(1).unwrap().run(&storage).unwrap();
    assert_eq!(
        summary.entries, 1,
        "the filter dropped the two expired accumulators (T5)"
    );
    assert_eq!(
        b.num_state_entries(),
        3,
        "the live table keeps them until a read or cleanup"
    );
}

/// The configuration reads back what was set (and Flink's defaults when nothing was); the system clock is the
/// wall clock in milliseconds.
#[test]
fn ttl_config_reads_back_its_settings_and_the_system_clock_is_the_wall_clock() {
    let clock = Arc::new(ManualClock::new(0));
    let set = StateTtlConfig::new(Duration::from_millis(1234))
        .unwrap()
        .with_update_type(UpdateType::OnReadAndWrite)
        .with_state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp)
        .cleanup_full_snapshot()
        .cleanup_incrementally(7, true)
        .unwrap()
        .with_time_provider(clock.clone());
    assert_eq!(set.ttl_millis(), 1234);
    assert_eq!(set.update_type(), UpdateType::OnReadAndWrite);
    assert_eq!(set.state_visibility(), StateVisibility::ReturnExpiredIfNotCleanedUp);
    assert!(set.is_cleanup_in_full_snapshot());
    assert_eq!(
        set.incremental_cleanup(),
        Some(IncrementalCleanup {
            visit_count: 7,
            run_for_every_record: true
        })
    );
    clock.set(77);
    assert_eq!(set.now(), 77);
    let defaults = StateTtlConfig::new(Duration::from_secs(2)).unwrap();
    assert_eq!(defaults.ttl_millis(), 2000);
    assert_eq!(defaults.update_type(), UpdateType::OnCreateAndWrite);
    assert_eq!(defaults.state_visibility(), StateVisibility::NeverReturnExpired);
    assert!(!defaults.is_cleanup_in_full_snapshot());
    assert_eq!(defaults.incremental_cleanup(), None);
    let wall = || {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        i64::try_from(since.as_millis()).unwrap()
    };
    let before = wall();
    let now = SystemClock.current_timestamp();
    assert!(before <= now && now <= wall(), "{before} <= {now}");
    assert!(before <= defaults.now() && defaults.now() <= wall());
}

/// Each TTL handle's `Debug` names its type, the plain handle it wraps and its TTL configuration.
#[test]
#[allow(deprecated)]
fn ttl_handles_debug_their_handle_and_configuration() {
    use cow_state_table::backend::{FoldingStateDescriptor, ValueStateDescriptor};
    let clock = Arc::new(ManualClock::new(0));
    let mut b = backend();
    let c = || config(&clock, 10);
    let texts = [
        format!(
            "{:?}",
            b.register_ttl_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer), c())
                .unwrap()
        ),
        format!(
            "{:?}",
            b.register_ttl_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer), c())
                .unwrap()
        ),
        format!(
            "{:?}",
            b.register_ttl_reducing(
                ReducingStateDescriptor::new("r", U32Serializer, U64Serializer, |a: u64, b: u64| a + b),
                c()
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            b.register_ttl_aggregating(
                AggregatingStateDescriptor::new("a", U32Serializer, U64Serializer, Sum),
                c()
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            b.register_ttl_folding(
                FoldingStateDescriptor::new("f", U32Serializer, U64Serializer, 0, |acc: u64, v: u64| acc + v),
                c()
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            b.register_ttl_map(
                MapStateDescriptor::new("m", U32Serializer, U32Serializer, U64Serializer),
                c()
            )
            .unwrap()
        ),
    ];
    let kinds = ["Value", "List", "Reducing", "Aggregating", "Folding", "Map"];
    for (text, kind) in texts.iter().zip(kinds) {
        let head = format!("Ttl{kind}State {{ inner: ");
        assert!(text.starts_with(&head), "{text}");
        assert!(text.contains(", ttl: StateTtlConfig { ttl: 10, "), "{text}");
    }
}
