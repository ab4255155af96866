//! Unit tests of the writer's internals: bounded rehash steps, chunk and node copy-on-write accounting.

use super::rehash::{MIGRATE_PER_STEP, SCAN_PER_STEP};
use super::*;
use crate::DeterministicState;

type T = StateTable<u64, u32, u64, DeterministicState>;

fn table(buckets: usize) -> T {
    StateTable::with_capacity_and_hasher(buckets, DeterministicState::default())
}

#[test]
fn capacity_is_a_power_of_two_within_bounds() {
    assert_eq!(table(0).capacity(), MINIMUM_CAPACITY);
    assert_eq!(table(5).capacity(), 8);
    assert_eq!(table(1024).capacity(), 1024);
}

#[test]
fn growth_starts_an_incremental_rehash_that_moves_a_bounded_number_per_write() {
    let mut t = table(4);
    let mut k = 0;
    while !t.is_rehashing() {
        t.put(k, 0, k);
        k += 1;
    }
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
    let s = t.snapshot().unwrap();
    let before = t.cow_stats();
    *t.get_mut(&1, &0).unwrap() += 1;
    let after_one = t.cow_stats();
    assert_eq!(after_one.chunk_copies - before.chunk_copies, 1);
    assert_eq!(after_one.node_copies - before.node_copies, 1);
    *t.get_mut(&1, &0).unwrap() += 1;
    assert_eq!(
        t.cow_stats().node_copies,
        after_one.node_copies,
        "the copy is private now"
    );
    assert_eq!(s.iter().find(|(k, _, _)| **k == 1).map(|(_, _, v)| *v), Some(1));
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
