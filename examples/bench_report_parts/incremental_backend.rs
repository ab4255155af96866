//! The backend rows of the "incremental" section of `bench_report` (issue 23; docs/DESIGN.md C6–C9): the delta
//! checkpoint as the backend writes it (key-group framing, checksums, the chain's ids) against the full one, and
//! the restore of a chain (a full checkpoint and 10 deltas) against the restore of one full checkpoint of the
//! same state.
//!
//! One value state `(u64, u32) → u64` over 128 key groups; the keys changed are a fresh uniform sample for each
//! delta. The tables are settled (a write to every entry after the load finishes the growth's rehash) before the
//! base is taken: a base taken mid-rehash is written in full (C5, C7).

use super::*;
use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::{
    CheckpointMode, IncrementalPolicy, KeyedStateBackend, PendingCheckpoint, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;

type Backend = KeyedStateBackend<u64, U64Serializer>;

const MAX_PARALLELISM: u32 = 128;

/// Deltas only (no full checkpoint forced by the count or by the size of the change) for the timed runs.
fn deltas_only() -> CheckpointMode {
    CheckpointMode::Incremental(IncrementalPolicy::every(u32::MAX).with_max_delta_fraction(1.0))
}

fn fresh() -> (Backend, ValueState<u32, u64>) {
    let range = KeyGroupRange::with_len(0, MAX_PARALLELISM).expect("range");
    let mut b = Backend::new(U64Serializer, MAX_PARALLELISM, range).expect("backend");
    let v = b
        .register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer))
        .expect("register");
    (b, v)
}

fn write(b: &mut Backend, v: &mut ValueState<u32, u64>, keys: &[(u64, u32)], value: u64) {
    for &(k, n) in keys {
        b.set_current_key(k).expect("key");
        v.set_current_namespace(n);
        v.update(b, Some(value ^ k)).expect("update");
    }
}

/// The checkpoint's asynchronous part into a buffer, untimed here: what [`measure`] times.
#[inline(never)]
fn measured_backend_write(p: &PendingCheckpoint) -> Vec<u8> {
    let mut out = Vec::new();
    p.write_to(&mut out).expect("write");
    out
}

fn run(b: &mut Backend, storage: &MemoryStorage, id: u64, mode: CheckpointMode) -> Option<u64> {
    let p = b.checkpoint_with(id, mode).expect("checkpoint");
    let base = p.base_id();
    p.run(storage).expect("commit");
    base
}

pub(super) fn backend_rows(report: &mut Report, keys: &[(u64, u32)], reps: usize) {
    let n = keys.len();
    let order = shuffled(keys);
    let changed = (n / 100).max(1);
    let (mut b, mut v) = fresh();
    write(&mut b, &mut v, keys, 0);
    write(&mut b, &mut v, &order, 1);
    // A full checkpoint of 1M entries is over the default 5 MiB of `MemoryStorage`.
    let storage = MemoryStorage::with_max_size(u64::MAX);
    assert_eq!(
        run(&mut b, &storage, 1, deltas_only()),
        None,
        "the first checkpoint of a chain is full"
    );

    // The delta of 1% (the base is checkpoint 1) against a full checkpoint of the same state, both written by the
    // backend's asynchronous part; neither is committed, so the base stays checkpoint 1 for every rep.
    write(&mut b, &mut v, &shuffled(&order)[..changed], 2);
    let full = b.checkpoint_with(2, CheckpointMode::Full).expect("full");
    let delta = b.checkpoint_with(3, deltas_only()).expect("delta");
    assert_eq!(delta.base_id(), Some(1), "a settled base gives a delta (C7)");
    let full_bytes = measured_backend_write(&full).len() as f64;
    let delta_bytes = measured_backend_write(&delta).len() as f64;
    let full_ns = measure(reps, || (), |_| drop(black_box(measured_backend_write(&full))));
    let delta_ns = measure(reps, || (), |_| drop(black_box(measured_backend_write(&delta))));
    drop((full, delta));
    for (what, unit, delta, full, limit) in [
        ("time", "ms", delta_ns / 1e6, full_ns / 1e6, 0.05),
        ("bytes", "MB", delta_bytes / 1e6, full_bytes / 1e6, 0.02),
    ] {
        let mut row = ratio_row(
            "incremental",
            &format!("backend delta checkpoint (1% changed) / full checkpoint: {what}"),
            n,
            unit,
            vec![("delta".into(), delta), ("full".into(), full)],
            Some(target(limit, &format!("≤ {limit}×"))),
        );
        row.note = "the asynchronous part into a buffer: key-group framing and checksums included".into();
        report.rows.push(row);
    }

    // A chain of checkpoint 1 and 10 completed deltas of 1% each (ids 4..=13), against one full checkpoint of
    // the state the chain ends in (id 14), each restored into a fresh backend.
    let mut chain = vec![1];
    for (i, id) in (4..14u64).enumerate() {
        let sample = shuffled(&order);
        write(&mut b, &mut v, &sample[..changed], 10 + i as u64);
        assert_eq!(
            run(&mut b, &storage, id, deltas_only()),
            chain.last().copied(),
            "a delta on the last one"
        );
        chain.push(id);
    }
    run(&mut b, &storage, 14, CheckpointMode::Full);
    let restore = |ids: &[u64]| {
        measure(reps, fresh, |(r, _)| {
            black_box(r.restore_from(&storage, ids).expect("restore"));
        })
    };
    let chain_ns = restore(&chain);
    let full_ns = restore(&[14]);
    let (mut r, mut rv) = fresh();
    r.restore_from(&storage, &chain).expect("restore");
    assert_eq!(r.num_state_entries(), n, "the chain restores every entry");
    for &(k, ns) in &order[..changed] {
        r.set_current_key(k).expect("key");
        rv.set_current_namespace(ns);
        b.set_current_key(k).expect("key");
        v.set_current_namespace(ns);
        assert_eq!(
            rv.value(&r).expect("value"),
            v.value(&b).expect("value"),
            "the chain restores the last value"
        );
    }
    let mut row = ratio_row(
        "incremental",
        "restore of a full checkpoint + 10 deltas (1% each) / restore of a full checkpoint",
        n,
        "ms",
        vec![("chain".into(), chain_ns / 1e6), ("full".into(), full_ns / 1e6)],
        Some(target(1.5, "≤ 1.5×")),
    );
    row.note = format!(
        "{} bytes read for the chain, {} for the full checkpoint",
        chain
            .iter()
            .map(|id| storage.read(*id).expect("read").len())
            .sum::<usize>(),
        storage.read(14).expect("read").len()
    );
    report.rows.push(row);
}
