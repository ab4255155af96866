//! Unit tests of the tricky paths of the copy-on-write table: shared chains, rehash under snapshots, snapshots
//! taken mid-rehash, release order, teardown order, and what is (and is not) copied.

use cow_state_table::hash::composite_hash;
use cow_state_table::{CowStats, DeterministicState, Snapshot, StateTable};
use cow_state_table_model::CollidingState;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::sync::Arc;

type Contents<S> = BTreeMap<(u32, u32), S>;

/// The entries of an iteration, checking that no `(key, namespace)` is yielded twice.
fn collect<'a, S: Clone + 'a>(it: impl Iterator<Item = (&'a u32, &'a u32, &'a S)>) -> Contents<S> {
    let mut map = BTreeMap::new();
    for (k, n, s) in it {
        assert!(map.insert((*k, *n), s.clone()).is_none(), "({k}, {n}) yielded twice");
    }
    map
}

fn table_contents<S: Clone, H: BuildHasher>(t: &StateTable<u32, u32, S, H>) -> Contents<S> {
    collect(t.iter())
}

fn snap_contents<S: Clone>(s: &Snapshot<u32, u32, S>) -> Contents<S> {
    let c = collect(s.iter());
    assert_eq!(c.len(), s.len(), "snapshot len() differs from its iteration");
    c
}

fn colliding_table<S>(capacity: usize) -> StateTable<u32, u32, S, CollidingState> {
    // Mask 0: every (key, namespace) has the same hash, so all entries share one chain.
    StateTable::with_buckets_and_hasher(capacity, CollidingState::new(0))
}

fn deterministic_table<S>(capacity: usize) -> StateTable<u32, u32, S, DeterministicState> {
    StateTable::with_buckets_and_hasher(capacity, DeterministicState::default())
}

fn copies(c: CowStats) -> (u64, u64, u64) {
    (c.node_copies, c.chunk_copies, c.retired)
}

#[test]
fn removal_from_the_middle_of_a_shared_chain() {
    let mut t = colliding_table::<u64>(4);
    for k in 0..3 {
        t.put(k, 0, u64::from(k) * 10);
    }
    assert!(!t.is_rehashing());
    // One chain; find its middle node in chain order.
    let chain: Vec<u32> = t.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(chain.len(), 3);
    let (front, middle) = (chain[0], chain[1]);
    let snap = t.snapshot().unwrap();
    let frozen = snap_contents(&snap);

    assert!(t.remove(&middle, &0));
    t.check_invariants().unwrap();
    // The snapshot still sees the whole chain, with the removed entry.
    assert_eq!(snap_contents(&snap), frozen);
    assert_eq!(frozen.len(), 3);
    let mut expected = frozen.clone();
    expected.remove(&(middle, 0));
    assert_eq!(table_contents(&t), expected);
    // The front node (the prefix) was copied, the removed node retired; the chunk was copied once.
    let stats = t.cow_stats();
    assert_eq!(stats.node_copies, 1, "{stats:?}");
    assert_eq!(stats.chunk_copies, 1, "{stats:?}");
    assert_eq!(stats.retired, 3, "prefix node, removed node and chunk: {stats:?}");
    // The snapshot's front node is the original, the table's a copy.
    let snap_front = snap.iter().find(|(k, _, _)| **k == front).unwrap().2 as *const u64;
    assert_ne!(snap_front, t.get(&front, &0).unwrap() as *const u64);

    // Remove the new middle (the old tail now follows the copied front) with the snapshot still live.
    let tail = chain[2];
    assert!(t.remove(&tail, &0));
    t.check_invariants().unwrap();
    assert_eq!(snap_contents(&snap), frozen);
    expected.remove(&(tail, 0));
    assert_eq!(table_contents(&t), expected);

    drop(snap);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
    t.check_invariants().unwrap();
}

#[test]
fn removal_from_the_middle_of_a_private_chain_copies_nothing() {
    let mut t = colliding_table::<u64>(4);
    for k in 0..3 {
        t.put(k, 0, 1);
    }
    let chain: Vec<u32> = t.iter().map(|(k, _, _)| *k).collect();
    drop(t.snapshot().unwrap());
    assert!(t.remove(&chain[1], &0));
    t.check_invariants().unwrap();
    assert_eq!(copies(t.cow_stats()), (0, 0, 0));
    assert_eq!(t.len(), 2);
}

#[test]
fn rehash_while_a_snapshot_is_live() {
    for colliding in [false, true] {
        let mut t = StateTable::<u32, u32, u64, _>::with_buckets_and_hasher(
            4,
            if colliding {
                CollidingState::new(3)
            } else {
                CollidingState::new(u64::MAX)
            },
        );
        for k in 0..3 {
            t.put(k, k % 2, u64::from(k));
        }
        let snap = t.snapshot().unwrap();
        let frozen = snap_contents(&snap);
        let mut model = frozen.clone();
        let mut saw_rehash = false;
        for k in 3..40u32 {
            t.put(k, k % 2, u64::from(k));
            model.insert((k, k % 2), u64::from(k));
            saw_rehash |= t.is_rehashing();
            if k % 3 == 0 {
                *t.get_mut(&(k / 2), &((k / 2) % 2)).unwrap() += 100;
                *model.get_mut(&(k / 2, (k / 2) % 2)).unwrap() += 100;
            }
            t.check_invariants().unwrap();
            assert_eq!(snap_contents(&snap), frozen);
        }
        assert!(saw_rehash, "no incremental rehash happened");
        assert!(t.buckets() >= 64, "capacity {}", t.buckets());
        // Let the last rehash finish.
        while t.is_rehashing() {
            t.remove(&1000, &0);
        }
        assert_eq!(snap_contents(&snap), frozen);
        assert_eq!(table_contents(&t), model);
        assert!(t.cow_stats().node_copies > 0 || colliding);
        drop(snap);
        t.reclaim();
        assert_eq!(t.retired_len(), 0);
        t.check_invariants().unwrap();
    }
}

#[test]
fn snapshot_taken_in_the_middle_of_a_rehash() {
    let mut t = deterministic_table::<u64>(64);
    // The 50th insert finds 49 > 3/4 * 64 entries and starts a rehash; each later write migrates a few entries.
    for k in 0..50 {
        t.put(k, 0, u64::from(k));
    }
    assert!(t.is_rehashing());
    // A few writes so that the rehash index has moved.
    for k in 0..3 {
        *t.get_mut(&k, &0).unwrap() += 1000;
    }
    assert!(t.is_rehashing());
    let snap = t.snapshot().unwrap();
    assert!(snap.taken_during_rehash());
    assert!(snap.rehash_index().unwrap() > 0, "{:?}", snap.rehash_index());
    let frozen = snap_contents(&snap);
    assert_eq!(frozen.len(), 50);
    let mut model = frozen.clone();

    // Finish the rehash under the snapshot with writes, removals and inserts; then keep going.
    let mut steps = 0;
    while t.is_rehashing() || steps < 40 {
        let k = steps % 60;
        match steps % 3 {
            0 => {
                *t.get_mut(&k, &0).unwrap_or(&mut 0) += 1;
                if let Some(s) = model.get_mut(&(k, 0)) {
                    *s += 1;
                }
            }
            1 => {
                assert_eq!(t.remove(&k, &0), model.remove(&(k, 0)).is_some());
            }
            _ => {
                t.put(k + 100, 0, 7);
                model.insert((k + 100, 0), 7);
            }
        }
        t.check_invariants().unwrap();
        assert_eq!(snap_contents(&snap), frozen);
        steps += 1;
    }
    assert_eq!(table_contents(&t), model);
    // A reader on another thread sees the same.
    let snap = std::thread::spawn(move || {
        assert_eq!(snap_contents(&snap), frozen);
        snap
    })
    .join()
    .unwrap();
    drop(snap);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
}

#[test]
fn out_of_order_release() {
    let mut t = colliding_table::<u64>(4);
    let mut snaps = Vec::new();
    for round in 0..3u64 {
        for k in 0..6 {
            t.put(k, 0, round * 100 + u64::from(k));
        }
        t.remove(&(round as u32), &0);
        let s = t.snapshot().unwrap();
        let c = snap_contents(&s);
        snaps.push(Some((s, c)));
    }
    // One more round of writes so that every snapshot's nodes are retired.
    for k in 0..6 {
        t.put(k, 0, 999);
    }
    assert_eq!(t.live_snapshots(), 3);
    for victim in [1usize, 0, 2] {
        let (s, _) = snaps[victim].take().unwrap();
        drop(s);
        t.reclaim();
        t.check_invariants().unwrap();
        for (s, c) in snaps.iter().flatten() {
            assert_eq!(&snap_contents(s), c);
        }
        // Something is kept while the oldest snapshot lives.
        if snaps[0].is_some() {
            assert!(t.retired_len() > 0);
        }
        // A write after each release.
        t.put(42, 0, victim as u64);
        t.check_invariants().unwrap();
    }
    assert_eq!(t.live_snapshots(), 0);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
    let stats = t.cow_stats();
    assert_eq!(stats.retired, stats.reclaimed);
}

#[test]
fn table_dropped_before_its_snapshots() {
    let mut t = colliding_table::<String>(4);
    for k in 0..20 {
        t.put(k, k % 3, format!("v{k}"));
    }
    let s1 = t.snapshot().unwrap();
    for k in 0..20 {
        t.transform(k, k % 3, k, |old, v| format!("{}+{v}", old.unwrap()));
    }
    let s2 = t.snapshot().unwrap();
    t.remove(&5, &2);
    let c1 = snap_contents(&s1);
    let c2 = snap_contents(&s2);
    assert_eq!(c1.len(), 20);
    assert_eq!(c2[&(7, 1)], "v7+7");
    drop(t);
    // Both snapshots stay readable, here and on other threads.
    assert_eq!(snap_contents(&s1), c1);
    let h = std::thread::spawn(move || {
        assert_eq!(snap_contents(&s2), c2);
        s2
    });
    let s2 = h.join().unwrap();
    drop(s1);
    // The first release did not free what the second snapshot reaches.
    let c2_again = snap_contents(&s2);
    assert_eq!(c2_again.len(), 20);
    assert_eq!(c2_again[&(7, 1)], "v7+7");
    drop(s2);
}

#[test]
fn releasing_twice_is_harmless() {
    let mut t = deterministic_table::<u64>(4);
    t.put(1, 0, 1);
    let mut s1 = t.snapshot().unwrap();
    let s2 = t.snapshot().unwrap();
    assert_eq!(t.live_snapshots(), 2);
    s1.release();
    s1.release();
    assert!(s1.is_released());
    assert_eq!(s1.len(), 0);
    assert!(s1.is_empty());
    assert_eq!(s1.iter().count(), 0);
    // The second release did not unregister s2.
    assert_eq!(t.live_snapshots(), 1);
    t.check_invariants().unwrap();
    // s2 still protects its entries: a write copies.
    *t.get_mut(&1, &0).unwrap() = 2;
    assert_eq!(t.cow_stats().node_copies, 1);
    assert_eq!(snap_contents(&s2)[&(1, 0)], 1);
    drop(s1); // Drop after release: no effect either.
    assert_eq!(t.live_snapshots(), 1);
    assert_eq!(snap_contents(&s2)[&(1, 0)], 1);
    drop(s2);
    assert_eq!(t.live_snapshots(), 0);
    t.check_invariants().unwrap();
}

#[test]
fn entries_untouched_since_the_snapshot_are_never_copied() {
    let hasher = DeterministicState::default();
    let mut t: StateTable<u32, u32, u64, _> = StateTable::with_buckets_and_hasher(1024, hasher.clone());
    for k in 0..600 {
        t.put(k, 0, u64::from(k));
    }
    assert!(!t.is_rehashing());
    let capacity = t.buckets();
    let bucket = |k: u32| composite_hash(&hasher, &k, &0u32) as usize & (capacity - 1);
    let snap = t.snapshot().unwrap();
    assert_eq!(copies(t.cow_stats()), (0, 0, 0), "taking a snapshot copies nothing");

    let written: Vec<u32> = (0..600).step_by(60).collect();
    for &k in &written {
        *t.get_mut(&k, &0).unwrap() += 1;
    }
    t.check_invariants().unwrap();
    let dirty_buckets: BTreeSet<usize> = written.iter().map(|&k| bucket(k)).collect();
    let in_dirty_chains = (0..600)
        .filter(|k| !written.contains(k) && dirty_buckets.contains(&bucket(*k)))
        .count() as u64;

    let stats = t.cow_stats();
    assert!(stats.node_copies >= written.len() as u64, "{stats:?}");
    assert!(
        stats.node_copies <= written.len() as u64 + in_dirty_chains,
        "more copies than written entries plus their chain prefixes: {stats:?}"
    );
    assert!(stats.chunk_copies <= 2, "{stats:?}");

    // Untouched entries outside the written chains are the very same objects in the snapshot and the table.
    let in_snapshot: BTreeMap<u32, *const u64> = snap.iter().map(|(k, _, s)| (*k, s as *const u64)).collect();
    let mut same = 0;
    for k in 0..600 {
        let live = t.get(&k, &0).unwrap() as *const u64;
        if written.contains(&k) {
            assert_ne!(live, in_snapshot[&k], "written entry {k} not copied");
        } else if !dirty_buckets.contains(&bucket(k)) {
            assert_eq!(live, in_snapshot[&k], "untouched entry {k} was copied");
            same += 1;
        }
    }
    assert!(same > 500, "{same}");
}

#[test]
fn after_all_snapshots_are_released_writes_are_in_place() {
    let mut t = colliding_table::<u64>(4);
    for k in 0..8 {
        t.put(k, 0, 1);
    }
    let s1 = t.snapshot().unwrap();
    let s2 = t.snapshot().unwrap();
    *t.get_mut(&3, &0).unwrap() += 1;
    drop(s2);
    *t.get_mut(&4, &0).unwrap() += 1; // s1 is still live: copies
    drop(s1);
    t.reclaim();
    let before = t.cow_stats();
    assert!(before.node_copies > 0);
    let addr = t.get(&5, &0).unwrap() as *const u64;
    for round in 0..10u64 {
        for k in 0..8 {
            *t.get_mut(&k, &0).unwrap() += 1;
            t.put(k, 1, round);
            t.transform(k, 0, round, |old, v| old.unwrap() + v);
            t.put_and_get_old(k, 1, round + 1);
        }
        t.remove(&(round as u32 % 8), &1);
    }
    t.check_invariants().unwrap();
    assert_eq!(
        copies(t.cow_stats()),
        copies(before),
        "writes copied with no live snapshot"
    );
    assert_eq!(t.retired_len(), 0);
    assert_eq!(
        t.get(&5, &0).unwrap() as *const u64,
        addr,
        "state moved although private"
    );
}

thread_local! {
    static CLONES: Cell<u64> = const { Cell::new(0) };
}

/// A state that counts its clones (per test thread).
#[derive(Debug, PartialEq, Eq)]
struct Tracked(u64);

impl Clone for Tracked {
    fn clone(&self) -> Self {
        CLONES.with(|c| c.set(c.get() + 1));
        Tracked(self.0)
    }
}

fn clones() -> u64 {
    CLONES.with(Cell::get)
}

#[test]
fn get_never_copies() {
    let mut t = colliding_table::<Tracked>(4);
    for k in 0..10 {
        t.put(k, 0, Tracked(u64::from(k)));
    }
    let snap = t.snapshot().unwrap();
    let stats = t.cow_stats();
    let retired = t.retired_len();
    let clones_before = clones();
    for _ in 0..3 {
        for k in 0..12 {
            let _ = t.get(&k, &0);
            let _ = t.contains(&k, &0);
        }
        assert_eq!(t.iter().count(), 10);
        assert_eq!(t.size_of_namespace(&0), 10);
        assert_eq!(t.len(), 10);
    }
    assert_eq!(t.cow_stats(), stats);
    assert_eq!(t.retired_len(), retired);
    assert_eq!(clones(), clones_before, "get cloned a state");
    // The table hands out the very state the snapshot sees.
    let shared: BTreeMap<u32, *const Tracked> = snap.iter().map(|(k, _, s)| (*k, s as *const Tracked)).collect();
    for k in 0..10 {
        assert_eq!(t.get(&k, &0).unwrap() as *const Tracked, shared[&k]);
    }
    drop(snap);
}

/// `n` keys (namespace 0) that sit alone in their buckets of a `capacity`-bucket deterministic table.
fn keys_in_distinct_buckets(n: usize, capacity: usize) -> Vec<u32> {
    let hasher = DeterministicState::default();
    let mut used = BTreeSet::new();
    (0..)
        .filter(|k: &u32| used.insert(composite_hash(&hasher, k, &0u32) as usize & (capacity - 1)))
        .take(n)
        .collect()
}

#[test]
fn put_does_not_clone_the_old_state() {
    // Every entry alone in its chain, so no chain-prefix copy (which clones states) interferes.
    let keys = keys_in_distinct_buckets(6, 1024);
    let mut t = deterministic_table::<Tracked>(1024);
    for (i, &k) in keys.iter().enumerate() {
        t.put(k, 0, Tracked(i as u64));
    }
    let snap = t.snapshot().unwrap();
    let c0 = clones();
    // Shared entries: put copies the node but not the state it replaces; remove never clones.
    t.put(keys[2], 0, Tracked(20));
    t.put(keys[0], 0, Tracked(10));
    assert!(t.remove(&keys[4], &0));
    assert_eq!(clones(), c0, "put/remove of a shared entry cloned a state");
    assert_eq!(t.cow_stats().node_copies, 2);
    // put_and_get_old / remove_and_get_old / transform of a shared entry clone exactly once.
    assert_eq!(t.put_and_get_old(keys[3], 0, Tracked(30)), Some(Tracked(3)));
    assert_eq!(clones(), c0 + 1);
    assert_eq!(t.remove_and_get_old(&keys[5], &0), Some(Tracked(5)));
    assert_eq!(clones(), c0 + 2);
    t.transform(keys[1], 0, 5, |old, v| Tracked(old.unwrap().0 + v));
    assert_eq!(clones(), c0 + 3);
    // Now-private entries: no clone at all.
    t.put(keys[2], 0, Tracked(21));
    assert_eq!(t.put_and_get_old(keys[3], 0, Tracked(31)), Some(Tracked(30)));
    t.transform(keys[1], 0, 5, |old, v| Tracked(old.unwrap().0 + v));
    assert_eq!(t.remove_and_get_old(&keys[1], &0), Some(Tracked(11)));
    assert_eq!(clones(), c0 + 3, "private entries were cloned");
    // The snapshot kept the originals.
    let seen: BTreeMap<u32, u64> = snap.iter().map(|(k, _, s)| (*k, s.0)).collect();
    let originals: BTreeMap<u32, u64> = keys.iter().enumerate().map(|(i, &k)| (k, i as u64)).collect();
    assert_eq!(seen, originals);
    drop(snap);
    let c1 = clones();
    for &k in &keys {
        t.put(k, 0, Tracked(0));
    }
    assert_eq!(clones(), c1);
    t.check_invariants().unwrap();
}

#[test]
fn chain_prefix_copies_clone_only_the_prefix() {
    // One chain: writing its tail copies (and clones the states of) every node in front of it.
    let mut t = colliding_table::<Tracked>(4);
    for k in 0..3 {
        t.put(k, 0, Tracked(u64::from(k)));
    }
    let chain: Vec<u32> = t.iter().map(|(k, _, _)| *k).collect();
    let snap = t.snapshot().unwrap();
    let c0 = clones();
    t.put(chain[2], 0, Tracked(99));
    assert_eq!(t.cow_stats().node_copies, 3, "two prefix nodes and the target");
    assert_eq!(clones(), c0 + 2, "only the prefix states are cloned");
    assert_eq!(snap.iter().filter(|(_, _, s)| s.0 == 99).count(), 0);
    t.check_invariants().unwrap();
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn snapshot_is_send_sync_and_iterable_on_other_threads() {
    assert_send_sync::<Snapshot<u32, u32, String>>();
    assert_send_sync::<Snapshot<String, u64, Vec<u8>>>();
    let mut t = deterministic_table::<String>(4);
    for k in 0..200 {
        t.put(k, k % 4, k.to_string());
    }
    let snap = Arc::new(t.snapshot().unwrap());
    let expected = snap_contents(&snap);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let snap = Arc::clone(&snap);
            let expected = expected.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    assert_eq!(snap_contents(&snap), expected);
                }
            })
        })
        .collect();
    // The writer rewrites everything meanwhile.
    for k in 0..200 {
        t.transform(k, k % 4, (), |old, ()| format!("{}!", old.unwrap()));
        if k % 7 == 0 {
            t.remove(&k, &(k % 4));
        }
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(snap_contents(&snap), expected);
    assert_eq!(t.get(&1, &1).map(String::as_str), Some("1!"));
    // Released from another thread.
    std::thread::spawn(move || drop(snap)).join().unwrap();
    assert_eq!(t.live_snapshots(), 0);
    t.check_invariants().unwrap();
}
