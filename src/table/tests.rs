//! Unit tests of the writer's internals: bounded rehash steps, chunk and node copy-on-write accounting.

use super::directory::{PresentChunks, CHUNK_BITS};
use super::rehash::{MIGRATE_PER_STEP, SCAN_PER_STEP};
use super::*;
use crate::DeterministicState;

type T = StateTable<u64, u32, u64, DeterministicState>;

fn table(buckets: usize) -> T {
    StateTable::with_buckets_and_hasher(buckets, DeterministicState::default())
}

/// A table of `buckets` buckets filled with `k → k` (namespace 0), `k = 0, 1, …`, until its growth starts;
/// returns it and the next key.
fn growing(buckets: usize) -> (T, u64) {
    let mut t = table(buckets);
    let mut k = 0;
    while !t.is_rehashing() {
        t.put(k, 0, k);
        k += 1;
    }
    (t, k)
}

/// Asserts that the checker reports a violation of `invariant` whose message contains `wording`.
fn assert_reported(t: &T, invariant: &str, wording: &str) {
    let err = t.check_invariants().unwrap_err();
    assert_eq!(err.invariant, invariant, "{err}");
    assert!(err.to_string().contains(wording), "{err}");
}

/// `n` entries in `buckets` buckets, a snapshot, and key `k` overwritten under it: the shared node is retired.
fn with_a_retired_node(buckets: usize, n: u64, k: u64) -> (T, crate::Snapshot<u64, u32, u64>) {
    let mut t = table(buckets);
    for k in 0..n {
        t.put(k, 0, k);
    }
    let snap = t.snapshot().unwrap();
    t.put(k, 0, k + 10); // retires the shared node
    t.check_invariants().unwrap();
    (t, snap)
}

#[test]
fn capacity_is_a_power_of_two_within_bounds() {
    assert_eq!(table(0).buckets(), MINIMUM_CAPACITY);
    assert_eq!(table(5).buckets(), 8);
    assert_eq!(table(1024).buckets(), 1024);
    let t: StateTable<u64, u32, u64> = StateTable::with_buckets(100);
    assert_eq!((t.buckets(), t.capacity()), (128, 96));
}

#[test]
fn growth_starts_an_incremental_rehash_that_moves_a_bounded_number_per_write() {
    let (mut t, mut k) = growing(4);
    assert_eq!(k, 5, "growth when len exceeds 3/4 of 4 buckets");
    while t.is_rehashing() {
        let before_old = t.primary.len;
        let before_index = t.rehash.as_ref().unwrap().index;
        t.put(k, 1, k);
        k += 1;
        if let Some(r) = &t.rehash {
            let moved = before_old + 1 - t.primary.len; // +1: the put may land in the old directory
            assert!(moved <= MIGRATE_PER_STEP + 1, "moved {moved}");
            assert!(r.index - before_index <= SCAN_PER_STEP + MIGRATE_PER_STEP);
        }
        t.check_invariants().unwrap();
    }
    for j in 0..k {
        assert!(t.contains(&j, &0) || t.contains(&j, &1));
    }
}

#[test]
fn reads_never_migrate() {
    let mut t = table(4);
    for k in 0..5 {
        t.put(k, 0, k);
    }
    assert!(t.is_rehashing());
    let index = t.rehash.as_ref().unwrap().index;
    for k in 0..5 {
        assert_eq!(t.get(&k, &0), Some(&k));
    }
    assert_eq!(t.rehash.as_ref().unwrap().index, index);
}

#[test]
fn a_snapshot_makes_the_first_write_to_a_chunk_copy_it_once() {
    let mut t = table(1024);
    for k in 0..100 {
        t.put(k, 0, k);
    }
    // A key at the head of its chain, so that exactly one node (no prefix) is copied.
    let key = (0..100u64)
        .find(|k| {
            // SAFETY: no rehash runs (100 entries in 1024 buckets): every chunk is present (I10); the head is a
            // live node of the table (the key is in it), read through `&t`.
            unsafe { (*t.primary.head(t.primary.bucket(t.hash(k, &0)))).key == *k }
        })
        .expect("some key heads its chain");
    let s = t.snapshot().unwrap();
    let before = t.cow_stats();
    *t.get_mut(&key, &0).unwrap() += 1;
    let after_one = t.cow_stats();
    assert_eq!(after_one.chunk_copies - before.chunk_copies, 1);
    assert_eq!(after_one.node_copies - before.node_copies, 1);
    *t.get_mut(&key, &0).unwrap() += 1;
    assert_eq!(
        t.cow_stats().node_copies,
        after_one.node_copies,
        "the copy is private now"
    );
    assert_eq!(s.iter().find(|(k, _, _)| **k == key).map(|(_, _, v)| *v), Some(key));
    drop(s);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
    t.check_invariants().unwrap();
}

#[test]
fn no_copy_without_a_live_snapshot() {
    let mut t = table(4);
    for k in 0..200 {
        t.put(k, 0, k);
        t.transform(k, 0, 1, |s, d| s.unwrap_or(0) + d);
    }
    for k in 0..100 {
        t.remove(&k, &0);
    }
    assert_eq!(t.cow_stats(), CowStats::default());
}

#[test]
fn renormalisation_resets_versions_when_no_snapshot_is_live() {
    let mut t = table(4);
    t.set_version_limit_for_test(3);
    for round in 0..10u64 {
        t.put(round, 0, round);
        let s = t.snapshot().unwrap();
        assert!(s.version() <= 4, "version {} after renormalisation", s.version());
        t.put(round, 0, round + 100);
        assert_eq!(s.iter().find(|(k, _, _)| **k == round).map(|(_, _, v)| *v), Some(round));
        t.check_invariants().unwrap();
    }
}

#[test]
fn the_checker_reports_a_node_the_arena_holds_but_nothing_owns() {
    let (mut t, snap) = with_a_retired_node(4, 20, 3);
    // A node stored in the arena but neither linked nor retired is a leak (I5).
    let stray = Node::alloc(&mut t.retired.arena, 99, 0, 0, 99, core::ptr::null_mut(), 0);
    let err = t.check_invariants().unwrap_err();
    assert_eq!(err.invariant, "I5", "{err}");
    // SAFETY: allocated just above, never linked, freed once.
    unsafe { Node::free(&mut t.retired.arena, stray) };
    t.check_invariants().unwrap();
    drop(snap);
}

/// The table on slab storage explicitly (Miri runs the rest of the suite on one `Box` per node): growth, copies
/// under snapshots, removals, reclamation, and the table dropped before a snapshot that still reads (I13).
#[test]
fn slab_storage_under_snapshots_and_teardown() {
    type R = StateTable<u64, u32, std::rc::Rc<u64>, DeterministicState>;
    let mut t = R::with_buckets_and_hasher(4, DeterministicState::default());
    t.retired.arena = super::arena::NodeArena::with_boxes(false);
    let mut snaps = Vec::new();
    let (n, every) = if cfg!(miri) { (40, 10) } else { (200, 40) };
    for k in 0..n {
        t.put(k % 50, (k % 3) as u32, std::rc::Rc::new(k));
        if k % every == 0 {
            snaps.push(t.snapshot().unwrap());
        }
        if k % 7 == 0 {
            t.remove(&(k % 50), &((k % 3) as u32));
        }
        if !cfg!(miri) || k % 4 == 0 {
            t.check_invariants().unwrap();
        }
    }
    drop(snaps.remove(1));
    drop(snaps.remove(0));
    t.reclaim();
    t.check_invariants().unwrap();
    let expected: Vec<u64> = snaps[0].iter().map(|(_, _, s)| **s).collect();
    drop(t);
    for snap in &snaps {
        assert!(!snap.is_empty());
        assert_eq!(
            snap.iter().count(),
            snap.len(),
            "a snapshot outliving the table reads all its entries"
        );
    }
    assert_eq!(snaps[0].iter().map(|(_, _, s)| **s).collect::<Vec<_>>(), expected);
}

#[test]
fn iterators_know_their_exact_length_also_during_a_rehash() {
    let (mut t, k) = growing(4);
    t.put(k, 1, k);
    assert!(t.is_rehashing());
    let snap = t.snapshot().unwrap();
    t.remove(&0, &0);
    for (mut it, len) in [(t.iter(), t.len()), (snap.iter(), snap.len())] {
        assert_eq!(it.len(), len);
        assert_eq!(format!("{it:?}"), format!("Entries {{ remaining: {len} }}"));
        let mut seen = 0;
        while it.next().is_some() {
            seen += 1;
            assert_eq!(it.size_hint(), (len - seen, Some(len - seen)));
        }
        assert_eq!(seen, len);
        assert_eq!(it.len(), 0);
    }
    assert_eq!(snap.len(), t.len() + 1);
    let mut released = snap;
    released.release();
    assert_eq!(released.iter().len(), 0);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the smallest case is a 1,024-bucket table (chunks of 512); the native and ASan runs cover it"
)]
fn iteration_skips_the_new_directorys_chunks_not_yet_allocated() {
    // 1,024 buckets grow into 2,048 in chunks of 512, allocated as the rehash index reaches the old buckets that
    // map into them (I10): just after the growth starts, most new chunks are absent and iteration skips them.
    let (mut t, k) = growing(1024);
    let new = &t.rehash.as_ref().unwrap().new;
    assert!(
        new.chunks.len() > 1 && new.chunks.iter().any(|c| !c.is_present()),
        "absent chunks"
    );
    let snap = t.snapshot().unwrap();
    let want: Vec<u64> = (0..k).collect();
    for entries in [t.iter(), snap.iter()] {
        let mut keys: Vec<u64> = entries.map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, want);
    }
    drop(snap);
}

#[test]
fn internal_iteration_yields_what_next_yields_from_any_point() {
    // `fold` (behind `for_each`, `count`, …) walks in batches of buckets; resumed after any number of `next`
    // calls — mid-chain, mid-batch, mid-chunk, in either directory — it yields exactly the rest, in order.
    let sizes: &[usize] = if cfg!(miri) { &[4] } else { &[4, 1024] };
    for &buckets in sizes {
        let (mut t, k) = growing(buckets);
        for j in k..k + 3 {
            t.put(j, 1, j);
        }
        assert!(t.is_rehashing());
        let snap = t.snapshot().unwrap();
        t.remove(&0, &0);
        for entries in [t.iter(), snap.iter()] {
            let all: Vec<_> = entries.clone().collect();
            assert_eq!(
                all.iter().filter(|(_, n, _)| **n == 1).count(),
                3,
                "namespace 1 holds the three last puts"
            );
            assert_eq!(entries.clone().count(), all.len());
            for split in 0..=all.len() {
                let mut it = entries.clone();
                it.by_ref().take(split).for_each(drop);
                let mut rest = Vec::new();
                it.clone().for_each(|e| rest.push(e));
                assert_eq!(rest, &all[split..], "{buckets} buckets, resumed after {split}");
                // The adapters walk the same way (`Keys`, `Values`, `Namespace` forward `fold`).
                let rest = &all[split..];
                let mut keys = Vec::new();
                iter::Keys(it.clone()).for_each(|k| keys.push(k));
                assert_eq!(keys, rest.iter().map(|&(k, n, _)| (k, n)).collect::<Vec<_>>());
                let mut values = Vec::new();
                iter::Values(it.clone()).for_each(|v| values.push(v));
                assert_eq!(values, rest.iter().map(|&(_, _, s)| s).collect::<Vec<_>>());
                let mut in_1 = Vec::new();
                iter::Namespace {
                    entries: it,
                    namespace: &1u32,
                }
                .for_each(|e| in_1.push(e));
                let want: Vec<_> = rest
                    .iter()
                    .filter(|(_, n, _)| **n == 1)
                    .map(|&(k, _, s)| (k, s))
                    .collect();
                assert_eq!(in_1, want);
            }
        }
        drop(snap);
    }
}

#[test]
fn keys_and_values_walk_every_entry_and_know_their_length() {
    let mut t = table(8);
    for k in 0..20 {
        t.put(k, (k % 2) as u32, k * 3);
    }
    let (keys, values) = (t.keys(), t.values());
    assert_eq!((keys.len(), keys.size_hint()), (20, (20, Some(20))));
    assert_eq!((values.len(), values.size_hint()), (20, (20, Some(20))));
    let mut keys: Vec<(u64, u32)> = t.keys().map(|(k, n)| (*k, *n)).collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..20).map(|k| (k, (k % 2) as u32)).collect::<Vec<_>>());
    let mut values: Vec<u64> = t.values().copied().collect();
    values.sort_unstable();
    assert_eq!(values, (0..20).map(|k| k * 3).collect::<Vec<_>>());
}

#[test]
fn a_namespace_iterator_bounds_its_length_by_the_entries_left_and_debug_prints_them() {
    let mut t = table(8);
    for k in 0..20 {
        t.put(k, (k % 2) as u32, k);
    }
    let mut odd = t.iter_namespace(&1);
    assert_eq!(
        odd.size_hint(),
        (0, Some(20)),
        "none promised, at most every entry left"
    );
    assert_eq!(
        format!("{odd:?}"),
        "Namespace { entries: Entries { remaining: 20 }, .. }"
    );
    let first = odd.next().expect("an odd key");
    assert_eq!(first.0 % 2, 1);
    let (lower, upper) = odd.size_hint();
    assert!(lower == 0 && upper.is_some_and(|u| u < 20), "{:?}", (lower, upper));
    assert_eq!(odd.count(), 9);
    assert_eq!(t.iter_namespace(&7).size_hint(), (0, Some(20)));
    assert_eq!(t.iter_namespace(&7).next(), None);
}

#[test]
fn a_sparse_table_shrinks_incrementally_but_never_below_its_initial_capacity() {
    // Under Miri: a smaller table, checked every 8th removal (the checker walks everything each time).
    let (n, check_every) = if cfg!(miri) { (40, 8) } else { (1000, 1) };
    let mut t = table(8);
    for k in 0..n {
        t.put(k, 0, k);
    }
    while t.is_rehashing() {
        t.put(0, 0, 0);
    }
    let grown = t.buckets();
    assert_eq!(grown, (n as usize * 4 / 3 + 1).next_power_of_two());
    let snap = t.snapshot().unwrap();
    let mut k = 0;
    let mut shrinks = 0;
    while k < n {
        let before = t.buckets();
        let index_before = t.rehash.as_ref().map(|r| r.index);
        t.remove(&k, &0);
        k += 1;
        if let (Some(r), Some(i)) = (&t.rehash, index_before) {
            assert!(
                r.index - i <= SCAN_PER_STEP + MIGRATE_PER_STEP,
                "bounded step while shrinking"
            );
        }
        if t.buckets() < before {
            shrinks += 1;
            assert!(t.len() < before / 8, "shrinks only below 1/8 load");
        }
        if k % check_every == 0 {
            t.check_invariants().unwrap();
        }
    }
    // Drive the last shrink to its end.
    while t.is_rehashing() {
        t.put(1, 1, 1);
        t.remove(&1, &1);
    }
    assert_eq!(1 << shrinks, grown / 8, "halved {shrinks} times from {grown}");
    assert_eq!(t.buckets(), 8, "never below the initial capacity");
    assert_eq!(snap.len(), n as usize, "the snapshot still sees every entry");
    assert_eq!(snap.iter().count(), n as usize);
    t.check_invariants().unwrap();
}

// ---- std-shaped API (issue 13) ----

#[test]
fn new_allocates_nothing_until_the_first_insert() {
    let mut t: StateTable<u64, u32, u64> = StateTable::new();
    assert_eq!((t.buckets(), t.capacity(), t.primary.chunks.len()), (0, 0, 0));
    assert_eq!(t.get(&1, &0), None);
    assert!(!t.remove(&1, &0));
    t.check_invariants().unwrap();
    let empty = t.snapshot().unwrap();
    assert_eq!((empty.len(), empty.get(&1, &0)), (0, None));
    t.check_invariants().unwrap();
    t.put(1, 0, 1);
    assert_eq!(t.buckets(), DEFAULT_CAPACITY);
    assert_eq!(empty.iter().count(), 0);
    t.check_invariants().unwrap();
}

#[test]
fn with_capacity_holds_that_many_entries_without_growing() {
    // Under Miri the two largest sizes are left out (the interpreter is slow; their filling is the same code).
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 3, 4, 7, 100]
    } else {
        &[1, 3, 4, 7, 100, 1000, 4096]
    };
    for &n in sizes {
        let mut t: T = StateTable::with_capacity_and_hasher(n, DeterministicState::default());
        assert!(t.capacity() >= n, "{n}: {}", t.capacity());
        let buckets = t.buckets();
        for k in 0..t.capacity() as u64 {
            t.put(k, 0, k);
        }
        assert!(!t.is_rehashing(), "{n}: grew before capacity() entries");
        assert_eq!(t.buckets(), buckets);
        // And no more than that: half as many buckets would not hold `n` entries.
        assert!(
            buckets == MINIMUM_CAPACITY || threshold_of(buckets / 2) < n,
            "{n}: {buckets} buckets"
        );
    }
    assert_eq!(table(4).capacity(), 3);
    let t: StateTable<u64, u32, u64> = StateTable::with_capacity(1000);
    assert!(t.capacity() >= 1000 && t.buckets() == 2048, "{}", t.buckets());
}

#[test]
fn reserve_makes_room_and_finishes_a_running_rehash() {
    let mut t = table(4);
    for k in 0..5 {
        t.put(k, 0, k);
    }
    assert!(t.is_rehashing());
    let snap = t.snapshot().unwrap();
    // Under Miri a smaller reservation (the interpreter is slow); it still grows the table several times over.
    let more: u64 = if cfg!(miri) { 200 } else { 1000 };
    t.reserve(more as usize);
    assert!(t.capacity() >= 5 + more as usize);
    t.check_invariants().unwrap();
    for k in 5..5 + more {
        t.put(k, 0, k);
    }
    assert_eq!(t.len(), 5 + more as usize);
    assert_eq!(snap.len(), 5);
    assert_eq!(snap.get(&4, &0), Some(&4));
    t.check_invariants().unwrap();
    let mut lazy: T = StateTable::with_hasher(DeterministicState::default());
    lazy.reserve(10);
    assert_eq!(lazy.buckets(), DEFAULT_CAPACITY, "never below the initial bucket count");
}

#[test]
fn clear_retires_what_a_live_snapshot_sees_and_frees_the_rest() {
    let mut t = table(4);
    for k in 0..40 {
        t.put(k, 0, k);
    }
    let snap = t.snapshot().unwrap();
    t.put(100, 0, 100); // private: freed by clear
    let buckets = t.buckets();
    let retired = t.cow_stats().retired;
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.buckets(), buckets, "clear keeps the bucket count");
    assert!(t.cow_stats().retired >= retired + 40, "every shared node retired");
    t.check_invariants().unwrap();
    for k in 0..40 {
        assert_eq!(snap.get(&k, &0), Some(&k));
    }
    assert_eq!(snap.get(&100, &0), None);
    drop(snap);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
    // Without a snapshot nothing is retired.
    t.put(1, 0, 1);
    let before = t.cow_stats();
    t.clear();
    assert_eq!(t.cow_stats(), before);
    t.check_invariants().unwrap();
}

#[test]
fn retain_visits_each_entry_once_and_keeps_snapshots_intact() {
    let mut t: T = StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    for k in 0..200 {
        t.put(k, (k % 3) as u32, k);
    }
    let snap = t.snapshot().unwrap();
    let mut seen = std::collections::HashSet::new();
    t.retain(|k, n, s| {
        assert!(seen.insert((*k, *n)), "visited twice");
        assert_eq!(s, k);
        k % 5 != 0
    });
    assert_eq!(seen.len(), 200);
    assert_eq!(t.len(), 160);
    t.check_invariants().unwrap();
    for k in 0..200 {
        assert_eq!(t.contains(&k, &((k % 3) as u32)), k % 5 != 0);
        assert_eq!(snap.get(&k, &((k % 3) as u32)), Some(&k));
    }
    // Removing almost everything starts a shrink.
    t.retain(|k, _, _| *k < 8);
    assert!(t.is_rehashing() || t.buckets() < 256);
    t.check_invariants().unwrap();
}

#[test]
fn drain_moves_private_entries_and_clones_shared_ones() {
    let mut t: StateTable<u64, u32, std::rc::Rc<u64>, DeterministicState> =
        StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    for k in 0..20 {
        t.put(k, 0, std::rc::Rc::new(k));
    }
    let snap_keep = t.snapshot().unwrap();
    t.put(50, 0, std::rc::Rc::new(50));
    let mut drained: Vec<_> = t.drain().collect();
    drained.sort_by_key(|e| e.0);
    assert_eq!(drained.len(), 21);
    for (k, _, s) in &drained {
        assert_eq!(**s, *k);
        // Shared states were cloned (the snapshot holds the other reference); the private one was moved.
        assert_eq!(std::rc::Rc::strong_count(s), if *k == 50 { 1 } else { 2 }, "key {k}");
    }
    assert!(t.is_empty());
    t.check_invariants().unwrap();
    assert_eq!(snap_keep.len(), 20);
    drop(snap_keep);
    drop(drained);
}

#[test]
fn entry_applies_copy_on_write_like_get_mut() {
    let mut t = table(4);
    t.put(1, 0, 10);
    let snap = t.snapshot().unwrap();
    let copies = t.cow_stats().node_copies;
    match t.entry(1, 0) {
        Entry::Occupied(e) => assert_eq!(*e.get(), 10),
        Entry::Vacant(_) => panic!("present"),
    }
    assert_eq!(t.cow_stats().node_copies, copies, "reading an entry copies nothing");
    *t.entry(1, 0).or_insert(0) += 1;
    assert_eq!(t.cow_stats().node_copies, copies + 1);
    assert_eq!((t.get(&1, &0), snap.get(&1, &0)), (Some(&11), Some(&10)));
    *t.entry(1, 0).or_insert(0) += 1; // private now: no further copy
    assert_eq!(t.cow_stats().node_copies, copies + 1);
    *t.entry(2, 0).or_default() += 5;
    assert_eq!(t.get(&2, &0), Some(&5));
    let Entry::Occupied(e) = t.entry(1, 0) else { panic!() };
    assert_eq!(e.remove(), 12);
    assert_eq!(snap.get(&1, &0), Some(&10));
    t.check_invariants().unwrap();
}

#[test]
fn snapshot_lookups_during_a_rehash_find_both_directories() {
    let (mut t, mut k) = growing(4);
    t.put(k, 0, k); // one step: the rehash index moves, entries sit in both directories
    k += 1;
    let snap = t.snapshot().unwrap();
    assert!(snap.taken_during_rehash());
    while t.is_rehashing() {
        t.put(k, 1, k);
        k += 1;
    }
    for j in 0..k {
        let expected = if snap.iter().any(|(kk, nn, _)| *kk == j && *nn == 0) {
            Some(&j)
        } else {
            None
        };
        assert_eq!(snap.get(&j, &0), expected, "key {j}");
        assert_eq!(snap.get(&j, &1), None, "key {j} ns 1");
    }
}

#[test]
fn iterators_are_send_and_sync_and_debug_prints_entries() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let mut t = table(4);
    t.put(1, 2, 3);
    send_sync(&t.iter());
    send_sync(&t.keys());
    send_sync(&t.values());
    send_sync(&t.iter_namespace(&2));
    let snap = t.snapshot().unwrap();
    send_sync(&snap.iter());
    assert_eq!(format!("{t:?}"), "{(1, 2): 3}");
    assert_eq!(t.stats().len, 1);
}

#[test]
fn borrowed_keys_and_namespaces() {
    let mut t: StateTable<String, String, u32> = StateTable::new();
    t.put("k".into(), "n".into(), 1);
    assert_eq!(t.get("k", "n"), Some(&1));
    *t.get_mut("k", "n").unwrap() += 1;
    assert!(t.contains("k", "n"));
    assert_eq!(t.size_of_namespace("n"), 1);
    assert_eq!(t.remove_and_get_old("k", "n"), Some(2));
    assert!(!t.remove("k", "n"));
}
fn present<K, N, S, P: Primitives>(d: &Directory<K, N, S, P>) -> usize {
    d.chunks.iter().filter(|c| c.is_present()).count()
}

/// docs/DESIGN.md: a rehash allocates the new directory's chunks as the rehash index reaches the old buckets
/// that map into them, and gives up each old chunk the index has passed; the checker insists on the chunks I10
/// needs.
#[test]
#[cfg_attr(
    miri,
    ignore = "a checker call per write over a 4096-bucket rehash; the native and ASan runs cover it"
)]
fn a_rehash_allocates_and_gives_up_chunks_in_steps() {
    for shrink in [false, true] {
        let (mut t, mut k) = growing(4096);
        if shrink {
            // Let the growth finish, then remove entries until a shrink starts.
            while t.is_rehashing() {
                t.put(0, 0, 0);
            }
            let mut j = 0;
            while !t.is_rehashing() {
                t.remove(&j, &0);
                j += 1;
            }
        }
        let (old_chunks, new_chunks) = (t.primary.chunks.len(), t.rehash.as_ref().unwrap().new.chunks.len());
        assert_eq!((old_chunks, new_chunks), if shrink { (16, 8) } else { (8, 16) });
        let r = t.rehash.as_ref().unwrap();
        assert!(
            present(&r.new) <= 2,
            "only the chunks bucket 0 maps into are allocated at the start"
        );
        t.check_invariants().unwrap();

        // An empty slot where an entry may be is reported.
        let saved = t.rehash.as_ref().unwrap().new.chunks[0].heads;
        t.rehash.as_mut().unwrap().new.chunks[0].heads = core::ptr::null_mut();
        let err = t.check_invariants().unwrap_err();
        assert_eq!(err.invariant, "I10", "{err:?}");
        t.rehash.as_mut().unwrap().new.chunks[0].heads = saved;

        while let Some(r) = &t.rehash {
            let (index, old_len) = (r.index, t.primary.chunk_len());
            let new_needed = (index / r.new.chunk_len().min(old_len) + 1) * if shrink { 1 } else { 2 };
            assert!(
                present(&r.new) <= new_needed.min(new_chunks),
                "new chunks allocated ahead of need"
            );
            assert_eq!(
                present(&t.primary),
                old_chunks - index / old_len,
                "old chunks behind the index are given up"
            );
            t.put(k, 1, k);
            k += 1;
            t.check_invariants().unwrap();
        }
        assert_eq!(present(&t.primary), t.primary.chunks.len());
    }
}

#[test]
fn a_snapshot_reports_the_rehash_index_it_was_taken_at() {
    let mut t = table(64);
    for k in 0..10 {
        t.put(k, 0, k);
    }
    let calm = t.snapshot().unwrap();
    assert!(!calm.taken_during_rehash());
    assert_eq!(calm.rehash_index(), None);
    drop(calm);
    let mut k = 10;
    while !t.is_rehashing() {
        t.put(k, 0, k);
        k += 1;
    }
    // A few more writes move the index well past the first buckets.
    for _ in 0..4 {
        t.put(k, 0, k);
        k += 1;
    }
    let index = t.rehash.as_ref().map(|r| r.index).expect("still rehashing");
    assert!(index > 1, "index {index}");
    let snap = t.snapshot().unwrap();
    assert_eq!(snap.rehash_index(), Some(index));
}

#[test]
fn the_checker_reports_a_capacity_below_the_initial_one() {
    let mut t = table(64);
    for k in 0..10 {
        t.put(k, 0, k);
    }
    t.check_invariants().unwrap();
    // The table never shrinks under the capacity it was created with (I10); claim a larger initial capacity.
    t.min_capacity = 128;
    assert_reported(&t, "I10", "below the initial");
    t.min_capacity = 64;
    t.check_invariants().unwrap();
}

#[test]
fn the_checker_reports_a_table_over_its_threshold_without_a_rehash() {
    let mut t = table(64);
    for k in 0..10 {
        t.put(k, 0, k);
    }
    t.check_invariants().unwrap();
    // More entries than the threshold (48 for 64 buckets) plus one, and no rehash started: the load factor
    // contract is broken (I10). The count is faked; the over-full check comes before the walk that would count.
    t.primary.len = 60;
    assert_reported(&t, "I10", "without a rehash");
    t.primary.len = 10;
    t.check_invariants().unwrap();
}

#[test]
fn the_checker_reports_entries_on_the_wrong_side_of_the_rehash_index() {
    let (mut t, _) = growing(64);
    t.check_invariants().unwrap();
    let rh = t.rehash.as_ref().unwrap().index;
    let b = (rh..t.primary.capacity)
        // SAFETY: old buckets `>= rh` are in present chunks (I10).
        .find(|&b| !unsafe { t.primary.head(b) }.is_null())
        .expect("entries left to migrate");
    // Move the rehash index past old bucket `b` without migrating it: its entries now sit in an old bucket the
    // rehash has passed, where no entry may be (I10).
    t.rehash.as_mut().unwrap().index = b + 1;
    assert_reported(&t, "I10", &format!("in primary bucket {b}"));
    t.rehash.as_mut().unwrap().index = rh;
    t.check_invariants().unwrap();

    // The other side: move the index back below an old bucket already migrated. Its entries, in the right new
    // bucket, now sit in the new directory ahead of the rehash, where no entry may be yet (I10).
    for j in 0..4 {
        t.put(1000 + j, 1, j); // each write migrates a few more
    }
    let rh = t.rehash.as_ref().expect("still rehashing").index;
    let new = &t.rehash.as_ref().unwrap().new;
    let mut walk = PresentChunks::default();
    let migrated = core::iter::from_fn(|| walk.next(new))
        .flatten()
        // SAFETY: `b` is in a present chunk (W1).
        .map(|b| unsafe { new.head(b) })
        .filter(|n| !n.is_null())
        // SAFETY: a live node of the table (I5); only its hash is read.
        .map(|n| unsafe { (*n).hash } as usize & (t.primary.capacity - 1))
        .find(|&old| old > 0)
        .expect("a migrated entry from an old bucket above 0");
    assert!(migrated <= rh, "old bucket {migrated} (rehash index {rh})");
    t.rehash.as_mut().unwrap().index = migrated - 1;
    assert_reported(&t, "I10", "in new bucket");
    t.rehash.as_mut().unwrap().index = rh;
    t.check_invariants().unwrap();
}

#[test]
fn the_checker_reports_a_retire_tag_above_the_version_and_a_node_retired_twice() {
    use crate::snapshot::reclaim::Garbage;
    let (mut t, snap) = with_a_retired_node(8, 6, 1);
    let v = t.version;

    // A retired object tagged after the table's version (I1).
    let stray = Node::alloc(&mut t.retired.arena, 99, 0, 0, 99, core::ptr::null_mut(), 0);
    t.retired.retire(v + 1, Garbage::Node(stray));
    assert_reported(&t, "I1", "out of order");
    assert!(matches!(t.retired.pop_back_for_test(), Some((_, Garbage::Node(n))) if n == stray));
    // SAFETY: allocated just above, no longer in the queue, never linked; freed once.
    unsafe { Node::free(&mut t.retired.arena, stray) };
    t.check_invariants().unwrap();

    // A node retired twice (I5): it would be freed twice.
    let mut retired_node = None;
    t.retired.for_each(|_, g| {
        if let Garbage::Node(n) = g {
            retired_node = Some(*n);
        }
    });
    let node = retired_node.expect("the put under the snapshot retired a node");
    t.retired.retire(v, Garbage::Node(node));
    assert_reported(&t, "I5", "retired twice");
    assert!(t.retired.pop_back_for_test().is_some()); // the duplicate; the first entry still owns the node
    t.check_invariants().unwrap();

    // A live node retired (I5): it would be freed while the table still links it.
    // SAFETY: the table is not rehashing, so every chunk is present (I10).
    let live = unsafe {
        t.primary
            .head(t.primary.bucket(composite_hash(&t.hash_builder, &2u64, &0u32)))
    };
    assert!(!live.is_null());
    t.retired.retire(v, Garbage::Node(live));
    assert_reported(&t, "I5", "is also live");
    assert!(t.retired.pop_back_for_test().is_some());
    t.check_invariants().unwrap();
    drop(snap);
}

#[test]
fn clear_and_drain_keep_the_bucket_count_and_its_threshold_unallocated_or_mid_rehash() {
    // Never allocated: both leave it unallocated, with the initial capacity's threshold (I10).
    let mut t: T = StateTable::with_hasher(DeterministicState::default());
    let threshold = t.threshold;
    t.clear();
    assert_eq!((t.buckets(), t.threshold), (0, threshold));
    t.check_invariants().unwrap();
    assert_eq!(t.drain().count(), 0);
    assert_eq!((t.buckets(), t.threshold), (0, threshold));
    t.check_invariants().unwrap();
    t.put(1, 0, 1);
    t.check_invariants().unwrap();
    // Mid-rehash: the fresh directory has the bucket count being built, and the threshold stays its 3/4.
    let (mut t, k) = growing(64);
    let (buckets, threshold) = (t.buckets(), t.threshold);
    assert_eq!(buckets, 128);
    t.clear();
    assert_eq!(
        (t.buckets(), t.threshold, t.is_rehashing()),
        (buckets, threshold, false)
    );
    t.check_invariants().unwrap();
    for k in 0..k {
        t.put(k, 0, k);
    }
    assert_eq!(t.drain().count(), k as usize);
    assert_eq!((t.buckets(), t.threshold), (buckets, threshold));
    t.check_invariants().unwrap();
}

#[test]
fn drain_is_exact_size_and_double_ended() {
    let mut t = table(8);
    for k in 0..5 {
        t.put(k, 0, k * 10);
    }
    let mut drain = t.drain();
    assert_eq!((drain.len(), drain.size_hint()), (5, (5, Some(5))));
    let last = drain.next_back().expect("a last entry");
    let first = drain.next().expect("a first entry");
    assert_ne!(first, last);
    assert_eq!(drain.size_hint(), (3, Some(3)));
    let mut all: Vec<_> = drain.chain([first, last]).collect();
    all.sort_unstable();
    assert_eq!(all, (0..5).map(|k| (k, 0, k * 10)).collect::<Vec<_>>());
    assert!(t.is_empty());
}

#[test]
fn reserve_on_an_allocated_table_grows_to_the_smallest_sufficient_size_even_under_a_snapshot() {
    let mut t = table(8);
    for k in 0..5 {
        t.put(k, 0, k);
    }
    let snap = t.snapshot().unwrap();
    let additional = if cfg!(miri) { 100 } else { 1000 };
    t.reserve(additional);
    let needed = 5 + additional;
    assert!(t.capacity() >= needed, "capacity {}", t.capacity());
    assert!(
        t.buckets() / 2 * 3 / 4 < needed,
        "{} buckets: more than the smallest sufficient",
        t.buckets()
    );
    assert!(!t.is_rehashing(), "reserve runs its rehashes to their end");
    t.check_invariants().unwrap();
    assert_eq!(snap.len(), 5);
    let buckets = t.buckets();
    for k in 5..needed as u64 {
        t.put(k, 0, k);
        assert!(!t.is_rehashing() && t.buckets() == buckets, "grew at the {k}th entry");
    }
    t.check_invariants().unwrap();
    drop(snap);
}

#[test]
fn extend_puts_in_order_and_entries_debug_print_what_they_hold() {
    let mut t = table(8);
    t.extend([(1, 0, 10), (2, 0, 20), (1, 0, 11)]);
    assert_eq!((t.len(), t.get(&1, &0), t.get(&2, &0)), (2, Some(&11), Some(&20)));
    let occupied = format!("{:?}", t.entry(1, 0));
    assert_eq!(occupied, "Occupied(OccupiedEntry { key: 1, namespace: 0, state: 11 })");
    let vacant = format!("{:?}", t.entry(3, 7));
    assert_eq!(vacant, "Vacant(VacantEntry { key: 3, namespace: 7 })");
}

#[test]
fn a_snapshot_splits_into_key_groups_exactly_and_debug_prints_its_shape() {
    use crate::keygroup::KeyGroupContext;
    let mut t = table(8);
    for k in 0..200u64 {
        t.put(k, (k % 3) as u32, k * 10);
    }
    let snap = t.snapshot().unwrap();
    let ctx = KeyGroupContext::all(16).unwrap();
    let mut seen = Vec::new();
    for kg in 0..16 {
        let it = snap.iter_key_group(&ctx, kg);
        // Nothing is known below; above, at most what the snapshot holds.
        assert_eq!(it.size_hint(), (0, Some(snap.len())), "key group {kg}");
        for (k, n, s) in it {
            assert_eq!(ctx.key_group_of(k), kg, "key {k} listed under key group {kg}");
            seen.push((*k, *n, *s));
        }
    }
    seen.sort_unstable();
    let mut all: Vec<_> = snap.iter().map(|(k, n, s)| (*k, *n, *s)).collect();
    all.sort_unstable();
    assert_eq!(seen, all, "the key groups together hold every entry once");
    let shown = format!("{snap:?}");
    assert!(shown.starts_with("Snapshot") && shown.contains("len: 200"), "{shown}");
    let group = format!("{:?}", snap.iter_key_group(&ctx, 5));
    assert_eq!(
        group,
        "KeyGroupEntries { key_group: 5, entries: Entries { remaining: 200 } }"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a checker call per write over a 4096-bucket rehash; the native and ASan runs cover it"
)]
fn a_rehash_step_skips_at_most_scan_per_step_empty_buckets() {
    // Ten entries in 4096 buckets, then a growth started by hand: the old directory is almost all empty runs.
    let mut t = table(4096);
    for k in 0..10 {
        t.put(k, 0, k);
    }
    t.start_rehash(8192);
    let mut widest = 0;
    let mut writes = 0;
    while let Some(r) = &t.rehash {
        let before = r.index;
        // A write that changes nothing: only its rehash step moves the index.
        assert!(t.get_mut(&1000, &0).is_none());
        writes += 1;
        let after = t.rehash.as_ref().map_or(4096, |r| r.index);
        assert!(
            after - before <= SCAN_PER_STEP,
            "one step skipped {} buckets",
            after - before
        );
        widest = widest.max(after - before);
        t.check_invariants().unwrap();
    }
    assert_eq!(
        widest, SCAN_PER_STEP,
        "long empty runs are skipped a full budget at a time"
    );
    assert!(writes <= 4096 / SCAN_PER_STEP + 10, "{writes} writes");
    for k in 0..10 {
        assert_eq!(t.get(&k, &0), Some(&k));
    }
}

#[test]
fn empty_runs_are_measured_as_a_scan_one_head_at_a_time_would() {
    // One chunk of 512 heads; a head is "occupied" when it holds a (never dereferenced) non-null marker.
    let d = Directory::<u64, u32, u64, StdSync>::new(512, 0, CHUNK_BITS);
    let marker = NonNull::<Node<u64, u32, u64, StdSync>>::dangling().as_ptr();
    let heads = d.chunks[0].heads;
    let set = |occupied: &[usize]| {
        for i in 0..512 {
            let h = if occupied.contains(&i) {
                marker
            } else {
                core::ptr::null_mut()
            };
            // SAFETY: `i < 512`; the chunk is this test's own (I5) and no snapshot or other thread reads it (I3).
            unsafe { (*heads.add(i)).with_mut(|p| *p = h) };
        }
    };
    // Occupied slots chosen around the group boundaries (4 single tests, then groups of 8), and the chunk's end.
    let patterns: [&[usize]; 7] = [
        &[],
        &[0],
        &[3, 4],
        &[5, 12, 13, 20],
        &[11, 19, 27, 100, 300],
        &[511],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 200, 207, 208, 215, 216, 503, 510],
    ];
    for occupied in patterns {
        set(occupied);
        let naive = |from: usize, end: usize| (from..end).find(|i| occupied.contains(i)).unwrap_or(end);
        // Under Miri: every 61st start and ends up to 12 past it (the interpreter is slow; the native runs try
        // every start and 40 ends, which cross several groups of 8).
        let (step, window) = if cfg!(miri) { (61, 12) } else { (1, 40) };
        for from in (0..512).step_by(step) {
            for end in (from..=512).filter(|e| e - from < window || e % 97 == 0 || *e == 512) {
                // SAFETY: the chunk is present, valid and not written meanwhile; `end <= 512`.
                let got = unsafe { d.chunks[0].first_non_null(from, end) };
                assert_eq!(got, naive(from, end), "{occupied:?} from {from} to {end}");
            }
            if !occupied.contains(&from) {
                for max in [1, 2, 5, 8, 13, 64, 600] {
                    let want = naive(from + 1, (from + max).min(512)) - from;
                    // SAFETY: the directory's one chunk is present.
                    let run = unsafe { d.empty_run(from, max) };
                    assert_eq!(run, want, "{occupied:?} run from {from}, max {max}");
                }
            }
        }
    }
    // SAFETY: the chunk came from `alloc_chunk(512)` and is freed once (I5); no snapshot exists (I7). The marker
    // heads point to no node, and freeing a chunk never touches its nodes.
    unsafe { directory::free_chunk::<u64, u32, u64, StdSync>(heads, 512) };
}
