//! `Snapshot::diff` against a model diff (docs/DESIGN.md, C1–C5): random writes, growths, shrinks and clears
//! between snapshots; every pair of live snapshots is diffed and the diff checked against the two models
//! recorded when they were taken:
//!
//! * applying the changes to the base's model gives the later one's (no change missed, none wrong);
//! * each `(key, namespace)` appears at most once (C3: the changes commute);
//! * an upsert that repeats the base's entry is a node copied since the base (C2): every write stores a fresh
//!   value, so such upserts number at most `CowStats::node_copies` between the two snapshots;
//! * a snapshot diffed with itself is empty, and a newer base is refused.
//!
//! `COW_CASES` sets the cases per test (default 256). The planted mutants `diff-skips-changed-chunk`,
//! `diff-shared-as-changed` and `diff-changed-as-shared` (scripts/mutants.sh) must fail this suite.

use cow_state_table::snapshot::{Change, DiffError, DiffWalk};
use cow_state_table::{DeterministicState, Snapshot, StateTable};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};

type Model = BTreeMap<(u32, u32), u64>;

/// A hasher with 8 hash values: long chains, so chain prefixes and shared suffixes are exercised.
#[derive(Clone, Default)]
struct Collide;
struct CollideHasher(u64);
impl Hasher for CollideHasher {
    fn finish(&self) -> u64 {
        self.0 % 8
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(*b));
        }
    }
}
impl BuildHasher for Collide {
    type Hasher = CollideHasher;
    fn build_hasher(&self) -> CollideHasher {
        CollideHasher(0)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(u32, u32),
    Remove(u32, u32),
    /// Puts keys 100.. : a growth (an incremental rehash) in the small tables.
    Grow(u32),
    /// Removes every key ≥ 16: a shrink.
    Shrink,
    Clear,
    Snap,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u32..24, 0u32..2).prop_map(|(k, n)| Op::Put(k, n)),
        5 => (0u32..24, 0u32..2).prop_map(|(k, n)| Op::Remove(k, n)),
        1 => (1u32..80).prop_map(Op::Grow),
        1 => Just(Op::Shrink),
        1 => Just(Op::Clear),
        4 => Just(Op::Snap),
    ]
}

struct Kept {
    snap: Snapshot<u32, u32, u64>,
    model: Model,
    copies: u64,
}

/// Checks `later.diff(&base)` against the two models; returns whether the bucket walk (C3) was used.
fn check_pair(base: &Kept, later: &Kept) -> Result<bool, TestCaseError> {
    let diff = later
        .snap
        .diff(&base.snap)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let buckets = diff.walk() == DiffWalk::Buckets;
    let mut model = base.model.clone();
    let mut seen = BTreeSet::new();
    let mut redundant = 0u64;
    for change in diff {
        let id = (*change.key(), *change.namespace());
        prop_assert!(seen.insert(id), "{id:?} changed twice in one diff");
        match change {
            Change::Upsert { state, .. } => {
                if base.model.get(&id) == Some(state) {
                    redundant += 1;
                }
                model.insert(id, *state);
            }
            Change::Remove { .. } => {
                prop_assert!(
                    base.model.contains_key(&id),
                    "removal of {id:?}, which the base did not hold"
                );
                prop_assert!(
                    !later.model.contains_key(&id),
                    "removal of {id:?}, which the later snapshot holds"
                );
                model.remove(&id);
            }
        }
    }
    prop_assert_eq!(&model, &later.model, "base + diff != later");
    let copies = later.copies - base.copies;
    prop_assert!(
        redundant <= copies,
        "{redundant} upserts repeat the base's entry but only {copies} nodes were copied since (C2)"
    );
    Ok(buckets)
}

fn run<H>(table: &mut StateTable<u32, u32, u64, H>, ops: &[Op]) -> Result<(usize, usize), TestCaseError>
where
    H: BuildHasher + Clone + Send + Sync + 'static,
{
    let mut model = Model::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut value = 0u64;
    let mut modes = (0, 0);
    for op in ops {
        value += 1;
        match *op {
            Op::Put(k, n) => {
                table.put(k, n, value);
                model.insert((k, n), value);
            }
            Op::Remove(k, n) => {
                table.remove(&k, &n);
                model.remove(&(k, n));
            }
            Op::Grow(count) => {
                for k in 100..100 + count {
                    value += 1;
                    table.put(k, 0, value);
                    model.insert((k, 0), value);
                }
            }
            Op::Shrink => {
                let gone: Vec<_> = model.keys().filter(|(k, _)| *k >= 16).copied().collect();
                for (k, n) in gone {
                    table.remove(&k, &n);
                    model.remove(&(k, n));
                }
            }
            Op::Clear => {
                table.clear();
                model.clear();
            }
            Op::Snap => {
                let snap = table.snapshot().map_err(|e| TestCaseError::fail(e.to_string()))?;
                let new = Kept {
                    snap,
                    model: model.clone(),
                    copies: table.cow_stats().node_copies,
                };
                prop_assert_eq!(new.snap.diff(&new.snap).map(Iterator::count), Ok(0));
                for base in &kept {
                    if check_pair(base, &new)? {
                        modes.0 += 1;
                    } else {
                        modes.1 += 1;
                    }
                    let refused = base.snap.diff(&new.snap).map(|_| ());
                    prop_assert_eq!(
                        refused,
                        Err(DiffError::BaseNewer {
                            base: new.snap.version(),
                            later: base.snap.version()
                        })
                    );
                }
                kept.push(new);
                if kept.len() > 4 {
                    kept.remove(0);
                }
            }
        }
    }
    Ok(modes)
}

fn cases() -> u32 {
    std::env::var("COW_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn diff_equals_model_diff(ops in prop::collection::vec(op(), 1..200), chunk_bits in prop::option::of(0u32..3)) {
        let mut table: StateTable<u32, u32, u64, DeterministicState> = StateTable::with_buckets_and_hasher(4, DeterministicState::default());
        if let Some(bits) = chunk_bits {
            table.set_chunk_bits_for_test(bits);
        }
        run(&mut table, &ops)?;
    }

    #[test]
    fn diff_equals_model_diff_with_long_chains(ops in prop::collection::vec(op(), 1..200), chunk_bits in prop::option::of(0u32..3)) {
        let mut table: StateTable<u32, u32, u64, Collide> = StateTable::with_buckets_and_hasher(4, Collide);
        if let Some(bits) = chunk_bits {
            table.set_chunk_bits_for_test(bits);
        }
        run(&mut table, &ops)?;
    }
}

/// Both walks are exercised and checked: a diff across a growth and a shrink (C5's lookup), and one with
/// a single directory of the same shape (C3's buckets).
#[test]
fn diff_across_a_rehash_and_a_shrink_uses_both_walks() {
    let mut table: StateTable<u32, u32, u64, DeterministicState> =
        StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    table.set_chunk_bits_for_test(1);
    let mut ops = vec![
        Op::Put(1, 0),
        Op::Put(2, 1),
        Op::Snap,
        Op::Put(1, 0),
        Op::Remove(2, 1),
        Op::Snap,
    ];
    ops.extend([Op::Grow(60), Op::Snap, Op::Put(3, 0), Op::Snap, Op::Shrink, Op::Snap]);
    let (buckets, lookups) = run(&mut table, &ops).unwrap();
    assert!(buckets > 0, "no diff used the bucket walk");
    assert!(lookups > 0, "no diff used the lookup walk");
}

#[test]
fn diff_refuses_released_and_foreign_snapshots() {
    let mut a: StateTable<u32, u32, u64> = StateTable::new();
    let mut b: StateTable<u32, u32, u64> = StateTable::new();
    a.put(1, 0, 1);
    let base = a.snapshot().unwrap();
    let foreign = b.snapshot().unwrap();
    let mut later = a.snapshot().unwrap();
    assert_eq!(later.diff(&foreign).map(|_| ()), Err(DiffError::OtherTable));
    later.release();
    assert_eq!(later.diff(&base).map(|_| ()), Err(DiffError::Released));
    assert_eq!(base.diff(&later).map(|_| ()), Err(DiffError::Released));
}

/// A diff is read on another thread, like any snapshot read: `Diff` is `Send` for `Send + Sync` types.
#[test]
fn diff_runs_on_another_thread() {
    let mut table: StateTable<u32, u32, u64> = StateTable::new();
    table.put(1, 0, 1);
    let base = table.snapshot().unwrap();
    table.put(1, 0, 2);
    table.put(2, 0, 3);
    let later = table.snapshot().unwrap();
    table.remove(&2, &0); // the writer goes on; the snapshots are frozen (I9)
    let mut seen: Vec<(u32, u64)> = std::thread::scope(|s| {
        let diff = later.diff(&base).unwrap();
        s.spawn(move || {
            diff.filter_map(|c| match c {
                Change::Upsert { key, state, .. } => Some((*key, *state)),
                Change::Remove { .. } => None,
            })
            .collect()
        })
        .join()
        .unwrap()
    });
    seen.sort_unstable();
    assert_eq!(seen, vec![(1, 2), (2, 3)]);
}

/// C3's walk over a table of many chunks (C4's scan): changes spread with several strides, from every bucket to
/// one in thousands, so that groups of eight slots with one or many differing slots, chunks that differ or not,
/// the ring of buckets read ahead and the batches of changes are all crossed many times; each diff is checked
/// against the models like the random cases.
#[test]
fn bucket_walk_over_many_chunks_equals_model_diff() {
    let mut table: StateTable<u32, u32, u64, DeterministicState> =
        StateTable::with_hasher(DeterministicState::default());
    let mut model = Model::new();
    // Under Miri (a minute for 300 entries) one chunk of 512 buckets: groups, ring and batches are still crossed.
    let n = if cfg!(miri) { 300u32 } else { 20_000 };
    let mut value = 0u64;
    // Two passes: the second finishes the incremental rehash the growth leaves running (C3 needs one directory).
    for _ in 0..2 {
        for k in 0..n {
            value += 1;
            table.put(k, k & 1, value);
            model.insert((k, k & 1), value);
        }
    }
    for stride in [1u32, 2, 3, 7, 8, 9, 64, 511, 4099] {
        let base = Kept {
            snap: table.snapshot().unwrap(),
            model: model.clone(),
            copies: table.cow_stats().node_copies,
        };
        for k in (0..n).step_by(stride as usize) {
            value += 1;
            // Updates, removals and inserts (a namespace not used before), a third each: the size stays put.
            let id = match (k / stride) % 3 {
                0 => (k, k & 1),
                1 => {
                    table.remove(&k, &(k & 1));
                    model.remove(&(k, k & 1));
                    continue;
                }
                _ => (k, 2),
            };
            table.put(id.0, id.1, value);
            model.insert(id, value);
        }
        let later = Kept {
            snap: table.snapshot().unwrap(),
            model: model.clone(),
            copies: table.cow_stats().node_copies,
        };
        assert!(
            check_pair(&base, &later).unwrap(),
            "stride {stride}: the diff took C5's lookup walk, not C3's bucket walk"
        );
    }
}
