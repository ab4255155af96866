//! The inverse of the targets' input decoding: bytes that `arbitrary` decodes to a chosen value. Used to write
//! seeds from op sequences chosen on purpose (or drawn from the model's proptest strategy). Every encoding is
//! checked by decoding it again (see `examples/gen_seeds.rs` and `tests/seeds.rs`), so a change in the
//! model's `Op` shows up there rather than as silently useless seeds.

use crate::{roundtrip, schedules, table_ops};
use cow_state_table_model::{HasherChoice, Op, Teardown};

/// Bytes of a derived enum's variant choice: a little-endian `u32` `x` with `(x * count) >> 32 == index`.
pub fn variant(index: u32, count: u32, out: &mut Vec<u8>) {
    let x = ((u64::from(index) << 32) + u64::from(count) - 1) / u64::from(count);
    let x = x as u32;
    debug_assert_eq!((u64::from(x) * u64::from(count)) >> 32, u64::from(index));
    out.extend_from_slice(&x.to_le_bytes());
}

/// Number of variants of [`Op`].
const OP_VARIANTS: u32 = 26;

/// Bytes of one [`Op`].
pub fn op(op: &Op, out: &mut Vec<u8>) {
    let v = |i, out: &mut Vec<u8>| variant(i, OP_VARIANTS, out);
    match *op {
        Op::Put { key, ns, value } => {
            v(0, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::PutAndGetOld { key, ns, value } => {
            v(1, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::Get { key, ns } => {
            v(2, out);
            out.extend([key, ns]);
        }
        Op::GetMut { key, ns, value } => {
            v(3, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::Contains { key, ns } => {
            v(4, out);
            out.extend([key, ns]);
        }
        Op::Remove { key, ns } => {
            v(5, out);
            out.extend([key, ns]);
        }
        Op::RemoveAndGetOld { key, ns } => {
            v(6, out);
            out.extend([key, ns]);
        }
        Op::Transform { key, ns, value } => {
            v(7, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::TransformPanic { key, ns } => {
            v(8, out);
            out.extend([key, ns]);
        }
        Op::Len => v(9, out),
        Op::Iterate => v(10, out),
        Op::SizeOfNamespace { ns } => {
            v(11, out);
            out.push(ns);
        }
        Op::TakeSnapshot { slot } => {
            v(12, out);
            out.push(slot);
        }
        Op::ReleaseSnapshot { slot, explicit } => {
            v(13, out);
            out.extend([slot, u8::from(explicit)]);
        }
        Op::ReadSnapshot { slot } => {
            v(14, out);
            out.push(slot);
        }
        Op::Reclaim => v(15, out),
        Op::Check => v(16, out),
        Op::AdvanceVersion { back_off } => {
            v(17, out);
            out.push(back_off);
        }
        Op::DropTable => v(18, out),
        Op::EntryUpsert { key, ns, value } => {
            v(19, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::EntryInsert { key, ns, value } => {
            v(20, out);
            out.extend([key, ns]);
            out.extend(value.to_le_bytes());
        }
        Op::EntryRemove { key, ns } => {
            v(21, out);
            out.extend([key, ns]);
        }
        Op::Retain { ns, parity } => {
            v(22, out);
            out.extend([ns, parity]);
        }
        Op::Clear => v(23, out),
        Op::Drain => v(24, out),
        Op::SnapshotGet { slot, key, ns } => {
            v(25, out);
            out.extend([slot, key, ns]);
        }
    }
}

/// Bytes of a [`HasherChoice`].
pub fn hasher(h: HasherChoice, out: &mut Vec<u8>) {
    match h {
        HasherChoice::Deterministic => variant(0, 2, out),
        HasherChoice::Colliding { mask } => {
            variant(1, 2, out);
            out.push(mask);
        }
    }
}

/// Bytes of a [`Teardown`].
pub fn teardown(t: Teardown, out: &mut Vec<u8>) {
    variant(
        match t {
            Teardown::TableFirst => 0,
            Teardown::SnapshotsFirst => 1,
        },
        2,
        out,
    );
}

/// Ops as the last field of a struct decoded with `arbitrary_take_rest`: each op behind a `true` byte.
pub fn ops_take_rest(ops: &[Op], out: &mut Vec<u8>) {
    for o in ops {
        out.push(1);
        op(o, out);
    }
}

/// Bytes of a `table_ops` input.
pub fn table_ops_input(input: &table_ops::Input) -> Vec<u8> {
    let mut out = vec![input.version_limit, input.colliding];
    hasher(input.case.hasher, &mut out);
    teardown(input.case.teardown, &mut out);
    ops_take_rest(&input.case.ops, &mut out);
    out
}

/// Bytes of a `checkpoint_roundtrip` input.
pub fn roundtrip_input(input: &roundtrip::Input) -> Vec<u8> {
    let mut out = Vec::new();
    hasher(input.hasher, &mut out);
    out.extend([
        input.max_parallelism,
        input.writers,
        input.readers,
        u8::from(input.v1),
        u8::from(input.canonical),
    ]);
    ops_take_rest(&input.ops, &mut out);
    out
}

/// Bytes of a `schedules` input: the workload (at most [`schedules::MAX_SCHEDULE_OPS`] ops; `version_limit`
/// in `2..=16`), then the schedule bytes.
pub fn schedules_input(workload: &schedules::Workload, schedule: &[u8]) -> Vec<u8> {
    assert!(workload.ops.len() <= schedules::MAX_SCHEDULE_OPS);
    assert!((2..=16).contains(&workload.version_limit));
    let mut out = Vec::new();
    hasher(workload.hasher, &mut out);
    out.push((workload.version_limit - 2) as u8);
    out.push(workload.ops.len() as u8);
    for o in &workload.ops {
        op(o, &mut out);
    }
    out.extend_from_slice(schedule);
    out
}
