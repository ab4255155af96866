//! Every whole-table walk at every stage of a growth and of a shrink of multi-chunk tables (W1).
//!
//! A directory slot may hold no chunk during a rehash: the new directory's chunks are allocated as the rehash
//! index reaches the old buckets that map into them, and the old directory's chunks are given up behind it (I10).
//! A walk over a whole directory must skip those slots (W1); `retain` once read through them (a null chunk
//! pointer: SIGSEGV in a release build). Here each walk — `retain`, `drain`, `clear`, `extend`, iteration and its
//! adapters, `size_of_namespace`, snapshot iteration and lookups, the checkpoint writer and restore, the
//! teardown — runs at each stage of the rehashes of tables of at least four chunks, with and without a live
//! snapshot, and is compared with a `BTreeMap` model and checked by `check_invariants`. Chunks of 4 heads (a
//! test knob) put many chunks in small tables, which is also what Miri runs; the native run adds tables of the
//! real chunk size (512 heads: 1024 and 2048 buckets).

use super::directory::CHUNK_BITS;
use super::*;
use crate::format::{write_checkpoint, WriteOptions};
use crate::keygroup::KeyGroupContext;
use crate::restore::restore_into;
use crate::serializer::{Serializers, U32Serializer, U64Serializer};
use crate::DeterministicState;
use std::collections::BTreeMap;

type T = StateTable<u64, u32, u64, DeterministicState>;
type Model = BTreeMap<(u64, u32), u64>;

/// How a stage is reached.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Filled until a growth starts, then `writes` more inserts (each one a rehash step).
    Growth { writes: usize },
    /// Grown to 4× its initial buckets, emptied until a shrink starts, then `writes` more removals.
    Shrink { writes: usize },
}

/// A table of `buckets` initial buckets in chunks of at most `2^chunk_bits` heads, brought to the start of the
/// rehash `phase` names and then given at most `phase`'s number of writes while the rehash runs (all of them
/// with `to_the_end`); returns it, the model of its contents and the writes done.
fn advance(buckets: usize, chunk_bits: u32, phase: Phase, to_the_end: bool) -> (T, Model, usize) {
    let mut t: T = StateTable::with_buckets_and_hasher(buckets, DeterministicState::default());
    t.set_chunk_bits_for_test(chunk_bits);
    let mut m = Model::new();
    let mut next = 0u64;
    let mut put = |t: &mut T, m: &mut Model| {
        let (k, n) = (next, (next % 3) as u32);
        t.put(k, n, k * 10);
        m.insert((k, n), k * 10);
        next += 1;
    };
    let (Phase::Growth { writes: max } | Phase::Shrink { writes: max }) = phase;
    let max = if to_the_end { usize::MAX } else { max };
    let mut done = 0;
    match phase {
        Phase::Growth { .. } => {
            while !t.is_rehashing() {
                put(&mut t, &mut m);
            }
            while done < max && t.is_rehashing() {
                put(&mut t, &mut m);
                done += 1;
            }
        }
        Phase::Shrink { .. } => {
            while t.buckets() < 4 * buckets || t.is_rehashing() {
                put(&mut t, &mut m);
            }
            let mut keys = m.keys().copied().collect::<Vec<_>>().into_iter();
            let mut remove = |t: &mut T, m: &mut Model| {
                let (k, n) = keys.next().expect("entries left to remove");
                assert!(t.remove(&k, &n));
                m.remove(&(k, n));
            };
            while !t.is_rehashing() {
                remove(&mut t, &mut m);
            }
            while done < max && t.is_rehashing() {
                remove(&mut t, &mut m);
                done += 1;
            }
        }
    }
    t.check_invariants().unwrap();
    (t, m, done)
}

/// The table of [`advance`] at the stage `phase` names, which must be one of its rehash.
fn stage(buckets: usize, chunk_bits: u32, phase: Phase) -> (T, Model) {
    let (t, m, _) = advance(buckets, chunk_bits, phase, false);
    assert!(t.is_rehashing(), "{phase:?} of {buckets} buckets is past the rehash");
    (t, m)
}

/// Stages of the growth and of the shrink of a table of `buckets` initial buckets in chunks of `2^chunk_bits`
/// heads: one in `every` (by the number of writes since the rehash started), and always the first and the last
/// (under Miri only the middle one of the growth).
fn stages(buckets: usize, chunk_bits: u32, every: usize) -> Vec<(Phase, T, Model)> {
    let mut out = Vec::new();
    let phases: &[fn(usize) -> Phase] = if cfg!(miri) {
        // Under Miri (slow): the growth only (a shrink first grows the table to four times its buckets).
        &[|writes| Phase::Growth { writes }]
    } else {
        &[|writes| Phase::Growth { writes }, |writes| Phase::Shrink { writes }]
    };
    for &make in phases {
        // After `total` writes the rehash has ended: stages are 0..total writes.
        let (_, _, total) = advance(buckets, chunk_bits, make(0), true);
        let chosen: Vec<usize> = if cfg!(miri) {
            // Under Miri (slow): the middle stage only, where both directories have empty slots.
            vec![total / 2]
        } else {
            (0..total).filter(|w| w % every == 0 || *w == total - 1).collect()
        };
        out.extend(chosen.into_iter().map(|w| {
            let (t, m) = stage(buckets, chunk_bits, make(w));
            (make(w), t, m)
        }));
    }
    out
}

fn sorted(t: &T) -> Model {
    t.iter().map(|(k, n, s)| ((*k, *n), *s)).collect()
}

/// Every read-only walk of the table and of a snapshot of it agrees with `m`.
fn assert_walks(t: &mut T, m: &Model, at: &str) {
    assert_eq!(sorted(t), *m, "iter at {at}");
    assert_eq!(t.iter().len(), m.len(), "iter len at {at}");
    // Internal iteration (the batched walk) from the start and resumed after some `next` calls.
    assert_eq!(t.iter().fold(0, |c, _| c + 1), m.len(), "fold at {at}");
    let mut it = t.iter();
    let firsts = it.by_ref().take(m.len() / 2).count();
    assert_eq!(firsts + it.count(), m.len(), "resumed fold at {at}");
    let mut keys: Vec<_> = t.keys().map(|(k, n)| (*k, *n)).collect();
    keys.sort_unstable();
    assert_eq!(keys, m.keys().copied().collect::<Vec<_>>(), "keys at {at}");
    assert_eq!(
        t.values().copied().sum::<u64>(),
        m.values().sum::<u64>(),
        "values at {at}"
    );
    for ns in 0..3u32 {
        let want = m.keys().filter(|(_, n)| *n == ns).count();
        assert_eq!(t.size_of_namespace(&ns), want, "size_of_namespace({ns}) at {at}");
        assert_eq!(t.iter_namespace(&ns).count(), want, "iter_namespace({ns}) at {at}");
    }
    assert_eq!(format!("{t:?}").matches(':').count(), m.len(), "Debug at {at}");

    // A snapshot: iteration, lookups, and the checkpoint writer's walk restored into a fresh table.
    let snap = t.snapshot().unwrap();
    let seen: Model = snap.iter().map(|(k, n, s)| ((*k, *n), *s)).collect();
    assert_eq!(seen, *m, "snapshot iter at {at}");
    for (&(k, n), s) in m {
        assert_eq!(snap.get(&k, &n), Some(s), "snapshot get({k}, {n}) at {at}");
    }
    if !cfg!(miri) {
        let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
        let ctx = KeyGroupContext::all(128).unwrap();
        let mut bytes = Vec::new();
        write_checkpoint(&snap, ctx, &sers, WriteOptions::default(), &mut bytes).unwrap();
        let mut restored: StateTable<u64, u32, u64> = StateTable::new();
        restore_into(&mut restored, ctx, &[&bytes], &sers).unwrap();
        let back: Model = restored.iter().map(|(k, n, s)| ((*k, *n), *s)).collect();
        assert_eq!(back, *m, "checkpoint written and restored at {at}");
    }
    drop(snap);
    t.check_invariants().unwrap();
}

/// What a whole-table write does to the model: `retain`'s predicate, or everything removed.
fn kept(k: u64, n: u32) -> bool {
    (k + u64::from(n)) % 3 != 0
}

/// Runs each whole-table write on a fresh copy of the stage, with and without a live snapshot: the table
/// follows the model, the checker passes, the snapshot still reads the contents it was taken with, and the
/// table takes further writes (the rehash goes on to its end).
fn assert_writes(buckets: usize, chunk_bits: u32, phase: Phase) {
    // Under Miri (slow): with a live snapshot only, and fewer writes after the walk.
    let (snapshots, after): (&[bool], u64) = if cfg!(miri) { (&[true], 8) } else { (&[false, true], 64) };
    for &with_snapshot in snapshots {
        for op in ["retain", "drain", "clear", "extend", "teardown"] {
            let (mut t, mut m) = stage(buckets, chunk_bits, phase);
            let at = format!(
                "{op} at {phase:?} of {buckets} buckets, chunks of {}, snapshot {with_snapshot}",
                1 << chunk_bits
            );
            let snap = with_snapshot.then(|| t.snapshot().unwrap());
            let before = m.clone();
            match op {
                "retain" => {
                    let mut visited = 0;
                    t.retain(|k, n, _| {
                        visited += 1;
                        kept(*k, *n)
                    });
                    assert_eq!(visited, before.len(), "retain visits each entry once, at {at}");
                    m.retain(|&(k, n), _| kept(k, n));
                }
                "drain" => {
                    let drained: Model = t.drain().map(|(k, n, s)| ((k, n), s)).collect();
                    assert_eq!(drained, before, "drained at {at}");
                    m.clear();
                }
                "clear" => {
                    t.clear();
                    m.clear();
                }
                "extend" => {
                    let new = (1_000_000..1_000_040u64).map(|k| (k, 1u32, k));
                    t.extend(new.clone());
                    m.extend(new.map(|(k, n, s)| ((k, n), s)));
                }
                _ => {
                    // The table's drop frees (or, with the snapshot live, hands over, I13) both directories.
                    drop(t);
                    if let Some(snap) = snap {
                        let seen: Model = snap.iter().map(|(k, n, s)| ((*k, *n), *s)).collect();
                        assert_eq!(seen, before, "snapshot after the table's drop, at {at}");
                    }
                    continue;
                }
            }
            t.check_invariants().unwrap_or_else(|e| panic!("{e} after {at}"));
            assert_eq!(sorted(&t), m, "contents after {at}");
            if let Some(snap) = &snap {
                let seen: Model = snap.iter().map(|(k, n, s)| ((*k, *n), *s)).collect();
                assert_eq!(seen, before, "the snapshot taken before {at}");
            }
            // More writes: whatever rehash is left runs on over the walked directories.
            for k in 0..after {
                t.put(k, 2, k);
                m.insert((k, 2), k);
            }
            t.check_invariants()
                .unwrap_or_else(|e| panic!("{e} after {at} and {after} puts"));
            assert_eq!(sorted(&t), m, "contents after {at} and {after} puts");
            drop(snap);
        }
    }
}

/// Chunks of 4 heads, 64 initial buckets: 16 chunks at the start, 32 to 64 during the rehashes; every stage.
/// Under Miri (slow): chunks of 2 heads, 16 initial buckets (8 to 16 chunks), the middle stage of the growth,
/// where both directories have empty slots.
#[test]
fn whole_table_walks_at_every_stage_of_a_rehash_of_small_chunks() {
    let (buckets, chunk_bits, every) = if cfg!(miri) { (16, 1, 1) } else { (64, 2, 1) };
    let all = stages(buckets, chunk_bits, every);
    assert!(all.len() >= if cfg!(miri) { 1 } else { 10 }, "{} stages", all.len());
    for (phase, mut t, m) in all {
        assert_walks(&mut t, &m, &format!("{phase:?}"));
        assert_writes(buckets, chunk_bits, phase);
    }
}

/// The table of the report (1024 buckets, two chunks of 512 heads, growing into four) and one of four chunks
/// (2048 buckets, shrinking from eight), at a sample of stages: right after the start, past the first old
/// chunk, and near the end.
#[test]
#[cfg_attr(
    miri,
    ignore = "thousands of entries: too slow under Miri (the small-chunk test covers it)"
)]
fn whole_table_walks_at_stages_of_a_rehash_of_real_chunks() {
    for buckets in [1024, 2048] {
        let all = stages(buckets, CHUNK_BITS, 37);
        assert!(all.len() >= 5, "{} stages of {buckets}", all.len());
        for (phase, mut t, m) in all {
            assert_walks(&mut t, &m, &format!("{phase:?} of {buckets}"));
            if matches!(phase, Phase::Growth { writes } | Phase::Shrink { writes } if writes % 74 == 0 || writes < 2) {
                assert_writes(buckets, CHUNK_BITS, phase);
            }
        }
    }
}

/// The stages above do reach directories with empty slots on both sides (else the tests would prove nothing).
#[test]
fn the_stages_reach_empty_slots_in_both_directories() {
    let count_empty = |d: &Directory<u64, u32, u64, StdSync>| d.chunks.iter().filter(|c| !c.is_present()).count();
    let tables: &[(usize, u32)] = if cfg!(miri) {
        &[(16, 1)]
    } else {
        &[(16, 1), (64, 2), (1024, CHUNK_BITS)]
    };
    for &(buckets, bits) in tables {
        let (mut new_empty, mut old_empty) = (false, false);
        for (_, t, _) in stages(buckets, bits, if bits == CHUNK_BITS { 37 } else { 1 }) {
            let r = t.rehash.as_ref().unwrap();
            assert!(t.primary.chunks.len() >= 4 || r.new.chunks.len() >= 4);
            new_empty |= count_empty(&r.new) > 0;
            old_empty |= count_empty(&t.primary) > 0;
        }
        assert!(
            new_empty && old_empty,
            "{buckets} buckets: new {new_empty}, old {old_empty}"
        );
    }
}
