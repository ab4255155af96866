//! The "incremental" section of `bench_report` (issue 23; docs/DESIGN.md C1–C5): what `Snapshot::diff` costs
//! next to a full checkpoint, and what keeping a base snapshot alive costs the writer.
//!
//! The "delta" figures of the table rows are the backend delta's lower bound: `later.diff(&base)` plus the V2
//! encoding of every change (key, namespace and, for an upsert, the state, behind a one-byte tag) into one
//! buffer — no key-group partitioning, framing or checksums. The full checkpoint is `write_checkpoint` (all of
//! that, for every entry), as in the checkpoint section. The backend's own delta checkpoint (C6–C9) and the
//! restore of a chain are the rows of `incremental_backend.rs`, added at the end of the section.

use super::*;
use cow_state_table::serializer::TypeSerializer;
use cow_state_table::snapshot::{Change, DiffWalk};

/// `later.diff(&base)`, each change encoded as a tag byte, the key, the namespace and (upserts) the state.
#[inline(never)]
fn measured_delta(
    later: &Snapshot<u64, u32, u64, StdSync>,
    base: &Snapshot<u64, u32, u64, StdSync>,
    sers: &IntSerializers,
) -> Vec<u8> {
    let mut out = Vec::new();
    for change in later.diff(base).expect("diff") {
        match change {
            Change::Upsert { key, namespace, state } => {
                out.push(1);
                sers.key.serialize(key, &mut out).expect("key");
                sers.namespace.serialize(namespace, &mut out).expect("namespace");
                sers.state.serialize(state, &mut out).expect("state");
            }
            Change::Remove { key, namespace } => {
                out.push(0);
                sers.key.serialize(key, &mut out).expect("key");
                sers.namespace.serialize(namespace, &mut out).expect("namespace");
            }
        }
    }
    out
}

/// `later.diff(&base)` alone, its changes counted: the walk's share of [`measured_delta`] (and what
/// `valgrind --tool=callgrind --toggle-collect='*measured_diff*'` counts).
#[inline(never)]
fn measured_diff(later: &Snapshot<u64, u32, u64, StdSync>, base: &Snapshot<u64, u32, u64, StdSync>) -> usize {
    later.diff(base).expect("diff").count()
}

/// Updates the first `count` entries of `order` (one `get_mut` each).
fn update_some(t: &mut Table<u64>, order: &[(u64, u32)], count: usize) {
    for (k, n) in &order[..count] {
        *t.get_mut(k, n).expect("present") += 1;
    }
}

pub(super) fn incremental_section(report: &mut Report, keys: &[(u64, u32)], reps: usize) {
    let n = keys.len();
    eprintln!("[incremental {}]", size_label(n));
    let order = shuffled(keys);
    let ctx = KeyGroupContext::all(128).expect("context");
    let sers: IntSerializers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    // (base taken in the steady state, or in the middle of the growth a build leaves running; % changed;
    // targets of time and bytes). A base taken mid-rehash has another shape than the later snapshot: C5's
    // fallback (a walk of both and a lookup per base entry).
    let runs: [(bool, usize, Option<f64>, Option<f64>); 3] = [
        (true, 1, Some(0.05), Some(0.02)),
        (true, 100, Some(1.3), None),
        (false, 1, None, None),
    ];
    for (steady, percent, limit_time, limit_bytes) in runs {
        let mut table: Table<u64> = if steady {
            settled::<u64, Table<u64>>(keys, &order).0
        } else {
            build(keys)
        };
        let base = table.snapshot().expect("snapshot");
        let full_bytes = measured_write(&base, ctx, &sers).len() as f64;
        let full_ns = measure(reps, || (), |_| drop(black_box(measured_write(&base, ctx, &sers))));
        let bytes_before = live_bytes();
        update_some(&mut table, &order, n * percent / 100);
        // What the live base costs the writer (C6): the nodes and chunks copied because it is live (the replaced
        // originals stay allocated for it), per entry updated.
        let retained = (live_bytes() - bytes_before) as f64 / (n * percent / 100) as f64;
        let copies = table.cow_stats();
        let later = table.snapshot().expect("snapshot");
        let walk = match later.diff(&base).expect("diff").walk() {
            DiffWalk::Buckets => "bucket walk, C3",
            _ => "lookup fallback, C5",
        };
        let bytes = measured_delta(&later, &base, &sers).len() as f64;
        let ns = measure(reps, || (), |_| drop(black_box(measured_delta(&later, &base, &sers))));
        let diff_ns = measure(
            reps,
            || (),
            |_| {
                black_box(measured_diff(&later, &base));
            },
        );
        let base_at = if steady { "" } else { ", base taken mid-rehash" };
        let mut row = ratio_row(
            "incremental",
            &format!("delta ({percent}% changed{base_at}) / full checkpoint: time"),
            n,
            "ms",
            vec![("delta".into(), ns / 1e6), ("full".into(), full_ns / 1e6)],
            limit_time.map(|l| target(l, &format!("≤ {l}×"))),
        );
        row.note = walk.into();
        report.rows.push(row);
        let mut row = ratio_row(
            "incremental",
            &format!("delta ({percent}% changed{base_at}) / full checkpoint: bytes"),
            n,
            "MB",
            vec![("delta".into(), bytes / 1e6), ("full".into(), full_bytes / 1e6)],
            limit_bytes.map(|l| target(l, &format!("≤ {l}×"))),
        );
        row.note = "diff + V2 encoding of the changes, no key-group framing (the backend rows below have it)".into();
        report.rows.push(row);
        let mut row = ratio_row(
            "incremental",
            &format!("diff alone ({percent}% changed{base_at}) / full checkpoint: time"),
            n,
            "ms",
            vec![("diff".into(), diff_ns / 1e6), ("full".into(), full_ns / 1e6)],
            None,
        );
        row.note = "the changes counted, not encoded".into();
        report.rows.push(row);
        if steady {
            report.rows.push(Row {
                section: "incremental".into(),
                op: format!("memory kept for the base per entry updated ({percent}% updated)"),
                n,
                unit: "bytes".into(),
                values: vec![("StateTable".into(), retained)],
                check: None,
                note: format!(
                    "{} node copies, {} chunk copies",
                    copies.node_copies, copies.chunk_copies
                ),
            });
        }
    }

    // The writer's side: an update pass over every entry, with no snapshot, right after a snapshot was taken
    // (each entry's first write copies its node, C2/I3), and a second pass under the same snapshot. The timed
    // passes without a snapshot and the second pass go in another shuffled order than the untimed passes before
    // them: the first pass's copies are allocated in its order, and a second pass in the same order would read
    // them one after the other in memory, flattering it.
    let timed = shuffled(&order);
    let in_place = measure(
        reps,
        || settled::<u64, Table<u64>>(keys, &order).0,
        |t| update_some(t, &timed, n),
    );
    let first = measure(
        reps,
        || {
            let mut t = settled::<u64, Table<u64>>(keys, &order).0;
            let s = t.snapshot().expect("snapshot");
            (t, s)
        },
        |(t, _)| update_some(t, &timed, n),
    );
    let later = measure(
        reps,
        || {
            let mut t = settled::<u64, Table<u64>>(keys, &order).0;
            let s = t.snapshot().expect("snapshot");
            update_some(&mut t, &order, n);
            (t, s)
        },
        |(t, _)| update_some(t, &timed, n),
    );
    let per = |ns: f64| ns / n as f64;
    for (op, ns, limit) in [
        ("first update after a base snapshot / in place", first, 3.0),
        ("later updates under the base / in place", later, 1.1),
    ] {
        report.rows.push(ratio_row(
            "incremental",
            op,
            n,
            "ns/op",
            vec![("with base".into(), per(ns)), ("in place".into(), per(in_place))],
            Some(target(limit, &format!("≤ {limit}×"))),
        ));
    }
    super::incremental_backend::backend_rows(report, keys, reps);
}
