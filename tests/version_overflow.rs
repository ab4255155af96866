//! Version renormalisation (I12) and exhaustion: with a small version limit, versions are reset whenever no
//! snapshot is live, snapshots stay isolated across the reset, and a counter that would pass `u32::MAX - 1`
//! while snapshots stay live makes `snapshot()` fail instead of wrapping.

use cow_state_table::{DeterministicState, Snapshot, SnapshotError, StateTable};
use cow_state_table_model::{ops, CollidingState, Config, HasherChoice, Runner, Teardown};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::hash::BuildHasher;

type Model = BTreeMap<(u32, u32), u64>;

fn contents(snap: &Snapshot<u32, u32, u64>) -> Model {
    let m: Model = snap.iter().map(|(k, n, s)| ((*k, *n), *s)).collect();
    assert_eq!(m.len(), snap.len(), "duplicate entries in snapshot {}", snap.version());
    m
}

fn live<H: BuildHasher>(t: &StateTable<u32, u32, u64, H>) -> Model {
    t.iter().map(|(k, n, s)| ((*k, *n), *s)).collect()
}

/// Writes that touch most entries (so shared nodes are copied) and grow the table now and then.
fn churn<H: BuildHasher>(t: &mut StateTable<u32, u32, u64, H>, model: &mut Model, round: u64) {
    for k in 0..24u32 {
        let key = (k * 7 + round as u32) % 40;
        match (k + round as u32) % 4 {
            0 => {
                t.put(key, 0, round);
                model.insert((key, 0), round);
            }
            1 => {
                if let Some(s) = t.get_mut(&key, &0) {
                    *s += 1;
                }
                if let Some(s) = model.get_mut(&(key, 0)) {
                    *s += 1;
                }
            }
            2 => {
                assert_eq!(t.remove(&key, &0), model.remove(&(key, 0)).is_some());
            }
            _ => {
                t.transform(key, 1, round, |old, v| {
                    old.unwrap_or(0).wrapping_mul(3).wrapping_add(v) % 1_000_003
                });
                let s = model.entry((key, 1)).or_insert(0);
                *s = s.wrapping_mul(3).wrapping_add(round) % 1_000_003;
            }
        }
    }
}

#[test]
fn versions_are_renormalised_and_snapshots_stay_isolated() {
    const LIMIT: u32 = 5;
    for hasher in [CollidingState::new(3), CollidingState::new(u64::MAX)] {
        let mut t: StateTable<u32, u32, u64, _> = StateTable::with_buckets_and_hasher(4, hasher);
        t.set_version_limit_for_test(LIMIT);
        let mut model = Model::new();
        let mut renormalisations = 0;
        let mut last = 0;
        let rounds: u64 = if cfg!(miri) { 12 } else { 200 };
        for round in 0..rounds {
            churn(&mut t, &mut model, round);
            // Two overlapping snapshots per round, released in alternating order.
            let a = t.snapshot().unwrap();
            let a_model = model.clone();
            if a.version() < last {
                renormalisations += 1;
                assert_eq!(a.version(), 1, "renormalised versions restart at 1");
            }
            churn(&mut t, &mut model, round + 1000);
            let b = t.snapshot().unwrap();
            let b_model = model.clone();
            assert_eq!(b.version(), a.version() + 1);
            last = b.version();
            assert!(t.version() <= LIMIT + 1, "version {} > limit + 1", t.version());
            churn(&mut t, &mut model, round + 2000);
            t.check_invariants().unwrap();
            assert_eq!(contents(&a), a_model);
            assert_eq!(contents(&b), b_model);
            if round % 2 == 0 {
                drop(a);
                churn(&mut t, &mut model, round + 3000);
                assert_eq!(contents(&b), b_model);
                drop(b);
            } else {
                drop(b);
                churn(&mut t, &mut model, round + 3000);
                assert_eq!(contents(&a), a_model);
                drop(a);
            }
            t.check_invariants().unwrap();
            assert_eq!(live(&t), model);
        }
        assert!(
            renormalisations >= rounds / 4,
            "only {renormalisations} renormalisations"
        );
        t.reclaim();
        assert_eq!(t.retired_len(), 0);
    }
}

#[test]
fn no_renormalisation_while_a_snapshot_is_live() {
    const LIMIT: u32 = 4;
    let mut t: StateTable<u32, u32, u64, _> = StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    t.set_version_limit_for_test(LIMIT);
    let mut model = Model::new();
    churn(&mut t, &mut model, 0);
    let old = t.snapshot().unwrap();
    let old_model = model.clone();
    // Versions pass the limit: `old` pins them.
    let rounds: u64 = if cfg!(miri) { 8 } else { 20 };
    for round in 1..rounds {
        churn(&mut t, &mut model, round);
        let s = t.snapshot().unwrap();
        assert_eq!(s.version(), round as u32 + 1);
        let s_model = model.clone();
        churn(&mut t, &mut model, round + 100);
        assert_eq!(contents(&s), s_model);
        assert_eq!(contents(&old), old_model);
        t.check_invariants().unwrap();
    }
    assert_eq!(t.version(), rounds as u32);
    assert_eq!(contents(&old), old_model);
    drop(old);
    // Now nothing is live: the next snapshot renormalises.
    churn(&mut t, &mut model, 99);
    let s = t.snapshot().unwrap();
    assert_eq!(s.version(), 1);
    assert_eq!(t.version(), 1);
    churn(&mut t, &mut model, 98);
    t.check_invariants().unwrap();
    assert_ne!(contents(&s), model);
    assert_eq!(live(&t), model);
}

#[test]
fn exhausted_versions_fail_instead_of_wrapping() {
    let mut t: StateTable<u32, u32, u64, _> = StateTable::with_buckets_and_hasher(4, CollidingState::new(1));
    let mut model = Model::new();
    churn(&mut t, &mut model, 0);
    let s1 = t.snapshot().unwrap();
    let m1 = model.clone();
    assert_eq!(s1.version(), 1);
    t.advance_version_for_test(u32::MAX - 2);
    assert_eq!(t.version(), u32::MAX - 2);
    churn(&mut t, &mut model, 1);
    // The last version a snapshot can get.
    let s2 = t.snapshot().unwrap();
    let m2 = model.clone();
    assert_eq!(s2.version(), u32::MAX - 1);
    churn(&mut t, &mut model, 2);
    t.check_invariants().unwrap();
    // Exhausted: an error, no wrap-around, no state change.
    for _ in 0..3 {
        assert_eq!(t.snapshot().unwrap_err(), SnapshotError::VersionsExhausted { live: 2 });
        assert_eq!(t.version(), u32::MAX - 1);
        assert_eq!(t.live_snapshots(), 2);
    }
    // The table keeps working and the live snapshots stay isolated.
    churn(&mut t, &mut model, 3);
    t.check_invariants().unwrap();
    assert_eq!(contents(&s1), m1);
    assert_eq!(contents(&s2), m2);
    assert_eq!(live(&t), model);
    drop(s1);
    assert_eq!(t.snapshot().unwrap_err(), SnapshotError::VersionsExhausted { live: 1 });
    churn(&mut t, &mut model, 4);
    assert_eq!(contents(&s2), m2);
    drop(s2);
    // Nothing live: the next snapshot renormalises and works.
    let s3 = t.snapshot().unwrap();
    assert_eq!(s3.version(), 1);
    let m3 = model.clone();
    churn(&mut t, &mut model, 5);
    t.check_invariants().unwrap();
    assert_eq!(contents(&s3), m3);
    assert_eq!(live(&t), model);
    drop(s3);
    t.reclaim();
    assert_eq!(t.retired_len(), 0);
    let s4 = t.snapshot().unwrap();
    assert_eq!(s4.version(), 2);
}

#[test]
fn advancing_with_no_live_snapshot_renormalises_at_the_next_snapshot() {
    let mut t: StateTable<u32, u32, u64, _> = StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    let mut model = Model::new();
    churn(&mut t, &mut model, 0);
    t.advance_version_for_test(u32::MAX - 2);
    let s = t.snapshot().unwrap();
    assert_eq!(s.version(), 1);
    churn(&mut t, &mut model, 1);
    assert_ne!(contents(&s), model);
    t.check_invariants().unwrap();
}

/// The differential runner with tiny version limits: it predicts every snapshot version, renormalisation and
/// exhaustion, and compares every live snapshot after every operation.
#[test]
fn differential_with_tiny_version_limits() {
    // At least 40 cases outside Miri: the coverage assertions at the end (a renormalisation happened, a released
    // handle outlived one) failed about one run in five with the 5 cases a `COW_CASES=100` run gave.
    let cases = std::env::var("COW_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|n: u32| (n / 20).max(if cfg!(miri) { 1 } else { 40 }))
        .unwrap_or(if cfg!(miri) { 1 } else { 300 });
    let max_ops = if cfg!(miri) { 40 } else { 300 };
    let mut runner = TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        ..PtConfig::default()
    });
    let hasher = prop_oneof![
        Just(HasherChoice::Deterministic),
        Just(HasherChoice::Colliding { mask: 1 }),
    ];
    let total = std::cell::Cell::new(0u64);
    let stale = std::cell::Cell::new(0u64);
    let result = runner.run(&(1u32..6, hasher, ops(max_ops)), |(limit, hasher, ops)| {
        let config = Config {
            version_limit: limit,
            teardown: Teardown::TableFirst,
            ..Config::default()
        };
        let stats = Runner::<u8, u8, u64, _>::with_config(hasher, config)
            .run_ops(&ops)
            .map_err(|d| TestCaseError::fail(d.to_string()))?;
        total.set(total.get() + stats.renormalisations);
        stale.set(stale.get() + stats.stale_handles_with_reused_version);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(cfg!(miri) || total.get() > 0, "no renormalisation happened");
    assert!(
        cfg!(miri) || stale.get() > 0,
        "no released handle outlived a renormalisation that reused its version"
    );
}

/// The handle lifecycle across renormalisation (I12): snapshots released (twice) on other threads are kept,
/// versions are renormalised and reused by new snapshots, and then the stale handles are released again and
/// dropped — on other threads too — while the snapshot that reuses their version is live. The new snapshot must
/// stay registered (bounds, live count, invariants) and keep reading its contents.
#[test]
fn stale_handles_across_renormalisation_on_other_threads() {
    let mut t: StateTable<u32, u32, u64> = StateTable::with_buckets(4);
    t.set_version_limit_for_test(3);
    let mut model = Model::new();
    for k in 0..20 {
        t.put(k, 0, u64::from(k));
        model.insert((k, 0), u64::from(k));
    }
    let mut stale: Vec<(Snapshot<u32, u32, u64>, u32)> = Vec::new();
    let mut reused = 0;
    let rounds = if cfg!(miri) { 8 } else { 60 };
    for round in 0..rounds {
        let s = t.snapshot().expect("snapshot");
        assert!(!s.is_released(), "a fresh snapshot reports itself released");
        let v = s.version();
        let s = std::thread::spawn(move || {
            let mut s = s;
            s.release();
            s.release();
            s
        })
        .join()
        .expect("release thread");
        assert!(s.is_released());
        assert_eq!(t.live_snapshots(), 0);
        stale.push((s, v));
        churn(&mut t, &mut model, round);
        let fresh = t.snapshot().expect("snapshot");
        let frozen = model.clone();
        // Every stale handle whose version the fresh snapshot reuses: release again and drop, on another thread.
        while let Some(pos) = stale.iter().position(|(_, sv)| *sv == fresh.version()) {
            let (h, _) = stale.swap_remove(pos);
            reused += 1;
            std::thread::spawn(move || {
                let mut h = h;
                h.release();
                drop(h);
            })
            .join()
            .expect("drop thread");
        }
        assert_eq!(
            t.live_snapshots(),
            1,
            "a stale handle unregistered the snapshot reusing its version"
        );
        t.check_invariants().expect("invariants with stale handles around");
        churn(&mut t, &mut model, round + 1000);
        t.check_invariants()
            .expect("invariants after writes under the fresh snapshot");
        assert_eq!(contents(&fresh), frozen, "the fresh snapshot changed");
        if round % 3 == 0 {
            // Some stale handles are dropped on this thread with the fresh snapshot still live.
            stale.truncate(stale.len() / 2);
            assert_eq!(t.live_snapshots(), 1);
        }
        drop(fresh);
    }
    assert!(reused > 0, "no new snapshot reused a stale handle's version");
    drop(t);
    drop(stale);
}
