//! `checkpoint_roundtrip`: the model's ops and snapshots on a job of `p` instances (each key lives in the
//! instance owning its key group, every table with 4 initial buckets and the input's hasher), each snapshot
//! written by key group (one checkpoint per instance, V1 or V2, snapshot or canonical order) and restored into
//! the ranges of `q` instances and into one table holding every key group; each restored table must equal the
//! model's contents at snapshot time, restricted to its key groups.
//!
//! The expected contents are the reference model's frozen snapshots ([`Reference::take_snapshot`]). A snapshot
//! is checked when the op sequence reads it ([`Op::ReadSnapshot`]), and every live snapshot plus one fresh one
//! at the end.

use crate::MAX_OPS;
use arbitrary::Arbitrary;
use cow_state_table::format::{write_checkpoint, BodyFormat, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{
    compute_key_group_range_for_operator_index, compute_operator_index_for_key_group, KeyGroupContext,
};
use cow_state_table::restore::{restore, restore_into};
use cow_state_table::{Snapshot, StateTable};
use cow_state_table_model::{HasherChoice, ModelState, Op, Reference, KEYS, NAMESPACES, SLOTS};
use std::collections::BTreeMap;

type Table = StateTable<u8, u8, Vec<u32>, HasherChoice>;
type Contents = BTreeMap<(u8, u8), Vec<u32>>;

/// Maximum parallelisms to choose from: tiny ones put many keys into one key group; 128 is Flink's default.
const MAX_PARALLELISMS: [u32; 8] = [1, 2, 3, 4, 5, 8, 16, 128];
/// At most this many instances before and after rescaling.
const MAX_INSTANCES: u32 = 4;

/// The input of `checkpoint_roundtrip`.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Input {
    /// Hasher of every instance's table.
    pub hasher: HasherChoice,
    /// Index into the maximum parallelisms (`MAX_PARALLELISMS`).
    pub max_parallelism: u8,
    /// Parallelism of the job that writes: `1 + raw % min(M, 4)`.
    pub writers: u8,
    /// Parallelism of the job that restores: `1 + raw % min(M, 4)`.
    pub readers: u8,
    /// Body format: V1 if set, else V2.
    pub v1: bool,
    /// Canonical entry order (V2 only; V1 is always canonical).
    pub canonical: bool,
    /// The ops (the model's op language).
    pub ops: Vec<Op>,
}

struct Job {
    max: u32,
    instances: Vec<Table>,
    hasher: HasherChoice,
}

fn context(max: u32, p: u32, i: u32) -> KeyGroupContext {
    let range = compute_key_group_range_for_operator_index(max, p, i).expect("valid operator index");
    KeyGroupContext::new(max, range).expect("valid context")
}

impl Job {
    fn new(max: u32, p: u32, hasher: HasherChoice) -> Self {
        Job {
            max,
            instances: (0..p).map(|_| Table::with_buckets_and_hasher(4, hasher)).collect(),
            hasher,
        }
    }

    fn owner(&mut self, key: u8) -> &mut Table {
        let p = self.instances.len() as u32;
        let kg = KeyGroupContext::all(self.max).expect("valid max").key_group_of(&key);
        let i = compute_operator_index_for_key_group(self.max, p, kg).expect("valid key group");
        &mut self.instances[i as usize]
    }
}

/// Runs the input; panics on any difference.
pub fn fuzz(input: &Input) {
    let max = MAX_PARALLELISMS[usize::from(input.max_parallelism) % MAX_PARALLELISMS.len()];
    let bound = max.min(MAX_INSTANCES);
    let p = 1 + u32::from(input.writers) % bound;
    let q = 1 + u32::from(input.readers) % bound;
    let options = WriteOptions::new(
        if input.v1 { BodyFormat::V1 } else { BodyFormat::V2 },
        if input.canonical {
            EntryOrder::Canonical
        } else {
            EntryOrder::Snapshot
        },
    );
    let mut job = Job::new(max, p, input.hasher);
    let mut model: Reference<u8, u8, Vec<u32>> = Reference::new(u32::MAX);
    let mut slots: [Option<Vec<Snapshot<u8, u8, Vec<u32>>>>; SLOTS] = Default::default();
    let key = |raw: u8| raw % KEYS;
    let ns = |raw: u8| raw % NAMESPACES;
    let slot = |raw: u8| usize::from(raw) % SLOTS;

    for &op in input.ops.iter().take(MAX_OPS) {
        match op {
            Op::Put { key: k, ns: n, value } | Op::PutAndGetOld { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let old = job.owner(k).put_and_get_old(k, n, Vec::from_seed(value));
                assert_eq!(old, model.put(k, n, Vec::from_seed(value)), "put_and_get_old");
            }
            Op::GetMut { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                if let Some(s) = job.owner(k).get_mut(&k, &n) {
                    s.modify(value);
                }
                if let Some(s) = model.get_mut(&k, &n) {
                    s.modify(value);
                }
            }
            Op::Remove { key: k, ns: n } | Op::RemoveAndGetOld { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                let old = job.owner(k).remove_and_get_old(&k, &n);
                assert_eq!(old, model.remove(&k, &n), "remove_and_get_old");
            }
            Op::Transform { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                job.owner(k).transform(k, n, value, |old, v| Vec::combine(old, v));
                model.transform(k, n, value);
            }
            Op::TakeSnapshot { slot: s } => {
                let s = slot(s);
                slots[s] = None;
                model.take_snapshot(s);
                let snaps = job
                    .instances
                    .iter_mut()
                    .map(|t| t.snapshot().expect("snapshot"))
                    .collect();
                slots[s] = Some(snaps);
            }
            Op::ReleaseSnapshot { slot: s, explicit } => {
                let s = slot(s);
                if let (Some(snaps), true) = (&mut slots[s], explicit) {
                    snaps.iter_mut().for_each(Snapshot::release);
                }
                slots[s] = None;
                model.release(s);
            }
            Op::ReadSnapshot { slot: s } => {
                let s = slot(s);
                if let (Some(snaps), Some(frozen)) = (&slots[s], &model.snapshots[s]) {
                    check(max, snaps, &frozen.contents, q, options, input.hasher);
                }
            }
            Op::Reclaim => job.instances.iter_mut().for_each(Table::reclaim),
            Op::DropTable => {
                // Drop every instance (their snapshots stay readable) and rebuild it from its contents.
                for t in &mut job.instances {
                    let mut fresh = Table::with_buckets_and_hasher(4, job.hasher);
                    for (k, n, s) in t.iter() {
                        fresh.put(*k, *n, s.clone());
                    }
                    *t = fresh;
                }
                model.restart();
            }
            Op::EntryUpsert { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let got = job
                    .owner(k)
                    .entry(k, n)
                    .and_modify(|s| s.modify(value))
                    .or_insert_with(|| Vec::from_seed(value))
                    .clone();
                assert_eq!(got, model.upsert(k, n, value), "entry upsert");
            }
            Op::EntryInsert { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let old = job.owner(k).put_and_get_old(k, n, Vec::from_seed(value));
                assert_eq!(old, model.put(k, n, Vec::from_seed(value)), "entry insert");
            }
            Op::EntryRemove { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                let old = match job.owner(k).entry(k, n) {
                    cow_state_table::table::Entry::Occupied(e) => Some(e.remove()),
                    cow_state_table::table::Entry::Vacant(_) => None,
                };
                assert_eq!(old, model.remove(&k, &n), "entry remove");
            }
            Op::Retain { ns: n, parity } => {
                let (n, parity) = (ns(n), parity % 2);
                let doomed = move |k: &u8, kn: &u8| *kn == n && k % 2 == parity;
                job.instances
                    .iter_mut()
                    .for_each(|t| t.retain(|k, kn, _| !doomed(k, kn)));
                model.retain(|k, kn, _| !doomed(k, kn));
            }
            Op::Clear | Op::Drain => {
                job.instances.iter_mut().for_each(Table::clear);
                model.clear();
            }
            Op::SnapshotGet { .. }
            | Op::Get { .. }
            | Op::Contains { .. }
            | Op::TransformPanic { .. }
            | Op::Len
            | Op::Iterate
            | Op::SizeOfNamespace { .. }
            | Op::Check
            | Op::AdvanceVersion { .. } => {}
        }
    }
    for s in 0..SLOTS {
        if let (Some(snaps), Some(frozen)) = (&slots[s], &model.snapshots[s]) {
            check(max, snaps, &frozen.contents, q, options, input.hasher);
        }
    }
    let snaps: Vec<_> = job
        .instances
        .iter_mut()
        .map(|t| t.snapshot().expect("snapshot"))
        .collect();
    check(max, &snaps, &model.live, q, options, input.hasher);
}

fn contents<H>(table: &StateTable<u8, u8, Vec<u32>, H>) -> Contents {
    let mut out = Contents::new();
    for (k, n, s) in table.iter() {
        assert!(
            out.insert((*k, *n), s.clone()).is_none(),
            "duplicate ({k}, {n}) in a restored table"
        );
    }
    out
}

/// Writes each instance's snapshot for its key groups, restores into the `q` ranges and into every key group,
/// and compares with `expected`.
fn check(
    max: u32,
    snaps: &[Snapshot<u8, u8, Vec<u32>>],
    expected: &Contents,
    q: u32,
    options: WriteOptions,
    hasher: HasherChoice,
) {
    let sers = crate::decode::model_serializers();
    let p = snaps.len() as u32;
    let checkpoints: Vec<Vec<u8>> = snaps
        .iter()
        .enumerate()
        .map(|(i, snap)| {
            let mut bytes = Vec::new();
            let summary = write_checkpoint(snap, context(max, p, i as u32), &sers, options, &mut bytes)
                .expect("write_checkpoint");
            assert_eq!(summary.bytes, bytes.len() as u64);
            assert_eq!(summary.entries, snap.len() as u64);
            bytes
        })
        .collect();
    let refs: Vec<&[u8]> = checkpoints.iter().map(Vec::as_slice).collect();
    let all = KeyGroupContext::all(max).expect("valid max");

    let mut union = Contents::new();
    for j in 0..q {
        let ctx = context(max, q, j);
        let table: StateTable<u8, u8, Vec<u32>> = restore(ctx, &refs, &sers).expect("restore");
        table.check_invariants().expect("restored table violates an invariant");
        let got = contents(&table);
        let want: Contents = expected
            .iter()
            .filter(|((k, _), _)| ctx.range().contains(ctx.key_group_of(k)))
            .map(|(e, s)| (*e, s.clone()))
            .collect();
        assert_eq!(
            got, want,
            "instance {j} of {q} (max parallelism {max}, written by {p}) differs from the model"
        );
        union.extend(got);
    }
    assert_eq!(
        &union, expected,
        "the union of the restored instances differs from the model"
    );

    // Everything into one table with the input's hasher, over entries it already holds (they are replaced).
    let mut table = Table::with_buckets_and_hasher(4, hasher);
    for (k, n) in expected.keys() {
        table.put(*k, *n, vec![u32::MAX]);
    }
    let summary = restore_into(&mut table, all, &refs, &sers).expect("restore_into");
    assert_eq!(summary.entries, expected.len() as u64);
    assert_eq!(summary.key_groups, max);
    table.check_invariants().expect("restore_into: invariant");
    assert_eq!(
        &contents(&table),
        expected,
        "restore_into every key group differs from the model"
    );
}
