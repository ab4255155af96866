//! The copy-on-write cost contract, per write path (docs/DESIGN.md I3): under one live snapshot, each node the
//! snapshot reaches is copied — and its state cloned — at most once, and each chunk at most once, whatever the
//! write path: `put`, `put_and_get_old`, `transform`, `get_mut`, `remove_and_get_old`, chain prefixes (one
//! bucket chain), rehash migration (snapshot taken mid-rehash) and directory chunks (many chunks). A second
//! pass over the same keys copies and clones nothing. `check_invariants` (which checks that everything older
//! than the newest snapshot is still shared with it) runs after every operation.

use cow_state_table::{CowStats, DeterministicState, StateTable};
use cow_state_table_model::CollidingState;
use std::hash::BuildHasher;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Put,
    PutAndGetOld,
    Transform,
    GetMut,
    RemoveAndGetOld,
}

const PATHS: [Path; 5] = [
    Path::Put,
    Path::PutAndGetOld,
    Path::Transform,
    Path::GetMut,
    Path::RemoveAndGetOld,
];

fn apply<H: BuildHasher>(t: &mut StateTable<u32, u32, Vec<u32>, H>, path: Path, k: u32, v: u32) {
    match path {
        Path::Put => t.put(k, 0, vec![v]),
        Path::PutAndGetOld => {
            let _ = t.put_and_get_old(k, 0, vec![v]);
        }
        Path::Transform => t.transform(k, 0, v, |old, v| {
            let mut s = old.unwrap_or_default();
            s.push(v);
            s
        }),
        Path::GetMut => {
            if let Some(s) = t.get_mut(&k, &0) {
                s.push(v);
            }
        }
        Path::RemoveAndGetOld => {
            let _ = t.remove_and_get_old(&k, &0);
        }
    }
    t.check_invariants().expect("invariants after a write");
}

fn delta(a: CowStats, b: CowStats) -> (u64, u64, u64) {
    (
        b.node_copies - a.node_copies,
        b.state_clones - a.state_clones,
        b.chunk_copies - a.chunk_copies,
    )
}

/// Fills `n` keys, takes a snapshot (after `prepare`), writes every key with `path` twice over and checks the
/// contract. Returns the copies of the first pass.
fn contract<H: BuildHasher + Clone + Send + Sync + 'static>(
    mut t: StateTable<u32, u32, Vec<u32>, H>,
    n: u32,
    path: Path,
    prepare: impl FnOnce(&mut StateTable<u32, u32, Vec<u32>, H>),
) -> (u64, u64, u64) {
    for k in 0..n {
        t.put(k, 0, vec![k]);
    }
    prepare(&mut t);
    let snap = t.snapshot().expect("snapshot");
    let reachable = snap.len() as u64;
    let chunks = (t.buckets() as u64).div_ceil(512) * if snap.taken_during_rehash() { 2 } else { 1 };
    let frozen: Vec<_> = snap.iter().map(|(k, n, s)| (*k, *n, s.clone())).collect();
    let s0 = t.cow_stats();
    for k in 0..n {
        apply(&mut t, path, k, 1000 + k);
    }
    let first = delta(s0, t.cow_stats());
    assert!(
        first.0 <= reachable && first.1 <= reachable,
        "{path:?}: {} node copies / {} state clones for {reachable} shared nodes",
        first.0,
        first.1
    );
    // And at least once: these paths hand out or change every state the pass writes, so each shared one is
    // cloned exactly once (by the path itself, or earlier in the pass by a migration or a chain-prefix copy,
    // after which it is private). `put` replaces states without reading them: only copies clone there.
    if path != Path::Put {
        assert_eq!(
            first.1, reachable,
            "{path:?}: state clones counted for {reachable} shared states"
        );
    }
    // Likewise every shared node the pass writes is replaced by a private copy exactly once (removal unlinks
    // instead, copying only the nodes before it in its chain).
    if path != Path::RemoveAndGetOld {
        assert_eq!(
            first.0, reachable,
            "{path:?}: node copies counted for {reachable} shared nodes"
        );
    }
    assert!(
        first.2 <= chunks + 2,
        "{path:?}: {} chunk copies for {chunks} chunks",
        first.2
    );
    // Second pass (put-like paths re-insert what remove_and_get_old took; fresh nodes are private).
    let s1 = t.cow_stats();
    for k in 0..n {
        let p = match path {
            Path::RemoveAndGetOld => Path::Put,
            p => p,
        };
        apply(&mut t, p, k, 2000 + k);
    }
    for k in 0..n {
        apply(&mut t, path, k, 3000 + k);
    }
    let second = delta(s1, t.cow_stats());
    // Nodes the first pass left shared (relinked by migration without a copy, or untouched by get_mut of an
    // absent key) may be copied now, once; nothing is copied twice.
    let total = delta(s0, t.cow_stats());
    assert!(
        total.0 <= reachable && total.1 <= reachable,
        "{path:?}: a node was copied twice under one snapshot: {} copies / {} clones in total for {reachable} \
         shared nodes (first pass {first:?}, then {second:?})",
        total.0,
        total.1
    );
    assert!(
        total.2 <= chunks + 2,
        "{path:?}: {} chunk copies in total for {chunks} chunks",
        total.2
    );
    let seen: Vec<_> = snap.iter().map(|(k, n, s)| (*k, *n, s.clone())).collect();
    assert_eq!(seen, frozen, "{path:?}: the snapshot changed");
    first
}

#[test]
fn one_chain_every_path_copies_each_node_at_most_once() {
    for path in PATHS {
        // Every key in bucket 0: each write copies the chain prefix in front of its node the first time.
        let t = StateTable::with_buckets_and_hasher(64, CollidingState::new(0));
        let first = contract(t, 8, path, |_| {});
        assert!(
            first.0 > 0,
            "{path:?}: nothing was copied: the test would not see a second copy"
        );
    }
}

#[test]
fn spread_keys_every_path_copies_each_node_at_most_once() {
    for path in PATHS {
        let t = StateTable::with_buckets_and_hasher(64, DeterministicState::default());
        contract(t, 40, path, |_| {});
    }
}

#[test]
fn many_chunks_copy_each_chunk_at_most_once() {
    for path in PATHS {
        // 4096 buckets = 8 chunks of 512; keys spread over all of them.
        let t = StateTable::with_buckets_and_hasher(4096, DeterministicState::default());
        let first = contract(t, 600, path, |_| {});
        assert!(first.2 >= 2, "{path:?}: only {} chunk copies over many chunks", first.2);
    }
}

#[test]
fn rehash_migration_copies_each_node_at_most_once() {
    for path in PATHS {
        for mask in [0u64, 3] {
            // Capacity 4: the fifth insert starts a growth; the snapshot is taken mid-rehash, and the passes'
            // rehash steps migrate (copy or relink) the shared nodes.
            let t = StateTable::with_buckets_and_hasher(4, CollidingState::new(mask));
            contract(t, 5, path, |t| assert!(t.is_rehashing(), "not mid-rehash"));
        }
    }
}

#[test]
fn writes_without_a_snapshot_copy_nothing() {
    for path in PATHS {
        let mut t = StateTable::with_buckets_and_hasher(4, CollidingState::new(1));
        for k in 0..40 {
            t.put(k, 0, vec![k]);
        }
        let s0 = t.cow_stats();
        for k in 0..40 {
            apply(&mut t, path, k, k);
        }
        assert_eq!(
            delta(s0, t.cow_stats()),
            (0, 0, 0),
            "{path:?} copied without a live snapshot"
        );
    }
}
