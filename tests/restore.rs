//! Restore with rescaling: the checkpoints of `p` instances restored into the key-group ranges of `q`
//! instances, as Flink redistributes key groups when the parallelism changes.

use cow_state_table::format::{write_checkpoint, BodyFormat, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{
    compute_key_group_range_for_operator_index, compute_operator_index_for_key_group, KeyGroupContext,
};
use cow_state_table::restore::{restore, restore_into, RestoreSummary};
use cow_state_table::serializer::{
    I64Serializer, Serializers, StringSerializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::{DeterministicState, StateTable};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Table = StateTable<String, VoidNamespace, i64>;
type Model = BTreeMap<String, i64>;

fn sers() -> Serializers<StringSerializer, VoidNamespaceSerializer, I64Serializer> {
    Serializers::new(StringSerializer, VoidNamespaceSerializer, I64Serializer)
}

fn context(max: u32, p: u32, i: u32) -> KeyGroupContext {
    KeyGroupContext::new(max, compute_key_group_range_for_operator_index(max, p, i).unwrap()).unwrap()
}

/// A job of parallelism `p`: every key lives in the instance that owns its key group.
fn run_job(max: u32, p: u32, model: &Model) -> Vec<Table> {
    let mut instances: Vec<Table> = (0..p).map(|_| StateTable::new()).collect();
    let all = KeyGroupContext::all(max).unwrap();
    for (k, v) in model {
        let owner = compute_operator_index_for_key_group(max, p, all.key_group_of(k)).unwrap();
        instances[owner as usize].put(k.clone(), VoidNamespace, *v);
    }
    instances
}

/// Each instance snapshots and writes its own key groups, while it keeps processing.
fn checkpoint_job(max: u32, instances: &mut [Table], options: WriteOptions) -> Vec<Vec<u8>> {
    let p = instances.len() as u32;
    instances
        .iter_mut()
        .enumerate()
        .map(|(i, table)| {
            let snapshot = table.snapshot().unwrap();
            let ctx = context(max, p, i as u32);
            let handle = std::thread::spawn(move || {
                let mut bytes = Vec::new();
                write_checkpoint(&snapshot, ctx, &sers(), options, &mut bytes).unwrap();
                bytes
            });
            // Writes after the snapshot must not reach the checkpoint.
            table.put("after-the-snapshot".to_string(), VoidNamespace, -1);
            handle.join().unwrap()
        })
        .collect()
}

fn contents(table: &Table) -> Model {
    table.iter().map(|(k, _, v)| (k.clone(), *v)).collect()
}

/// Rescales from `p` to `q` and checks each new instance holds exactly its key groups.
fn rescale(max: u32, p: u32, q: u32, model: &Model, options: WriteOptions) {
    let mut old = run_job(max, p, model);
    let checkpoints = checkpoint_job(max, &mut old, options);
    let refs: Vec<&[u8]> = checkpoints.iter().map(Vec::as_slice).collect();
    let mut union = Model::new();
    for i in 0..q {
        let ctx = context(max, q, i);
        let restored: Table = restore(ctx, &refs, &sers()).unwrap();
        let got = contents(&restored);
        for k in got.keys() {
            assert!(
                ctx.range().contains(ctx.key_group_of(k)),
                "{k} restored into instance {i} of {q}"
            );
        }
        let expected: Model = model
            .iter()
            .filter(|(k, _)| ctx.range().contains(ctx.key_group_of(*k)))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(got, expected, "instance {i} of {q} (from {p})");
        union.extend(got);
    }
    assert_eq!(&union, model, "{p} -> {q}");
}

fn model(n: usize) -> Model {
    (0..n).map(|i| (format!("key-{i}"), i as i64 * 7 - 3)).collect()
}

#[test]
fn scale_out_one_to_two() {
    rescale(128, 1, 2, &model(2000), WriteOptions::default());
}

#[test]
fn scale_in_two_to_one() {
    rescale(128, 2, 1, &model(2000), WriteOptions::default());
}

#[test]
fn scale_two_to_three_and_three_to_two() {
    rescale(64, 2, 3, &model(1500), WriteOptions::canonical());
    rescale(64, 3, 2, &model(1500), WriteOptions::canonical());
}

#[test]
fn rescale_through_v1_bodies() {
    let v1 = WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical);
    rescale(32, 1, 2, &model(500), v1);
    rescale(32, 2, 1, &model(500), v1);
}

#[test]
fn restore_into_an_existing_table_with_any_hasher() {
    let max = 16;
    let m = model(300);
    let mut old = run_job(max, 2, &m);
    let checkpoints = checkpoint_job(max, &mut old, WriteOptions::default());
    let mut table: StateTable<String, VoidNamespace, i64, DeterministicState> =
        StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    let mut total = RestoreSummary::default();
    // Instance by instance, each restore adding its key groups.
    for (i, bytes) in checkpoints.iter().enumerate() {
        let ctx = context(max, 2, i as u32);
        let summary = restore_into(&mut table, ctx, &[bytes], &sers()).unwrap();
        total.key_groups += summary.key_groups;
        total.entries += summary.entries;
    }
    assert_eq!(total.key_groups, max);
    assert_eq!(total.entries as usize, m.len());
    let got: Model = table.iter().map(|(k, _, v)| (k.clone(), *v)).collect();
    assert_eq!(got, m);
    table.check_invariants().unwrap();
}

#[test]
fn key_groups_outside_the_target_are_not_decoded() {
    let max = 8;
    let m = model(100);
    let mut old = run_job(max, 2, &m);
    let mut checkpoints = checkpoint_job(max, &mut old, WriteOptions::default());
    // Corrupt the last byte of instance 1's checkpoint (a body of key groups 4..=7).
    let last = checkpoints[1].len() - 1;
    checkpoints[1][last] ^= 0xff;
    let refs: Vec<&[u8]> = checkpoints.iter().map(Vec::as_slice).collect();
    // Instance 0 of 2 never reads key groups 4..=7: the restore succeeds.
    let restored: Table = restore(context(max, 2, 0), &refs, &sers()).unwrap();
    assert!(!restored.is_empty());
    // Instance 1 does, and fails.
    assert!(restore::<String, VoidNamespace, i64, _, _, _>(context(max, 2, 1), &refs, &sers()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_rescaling(
        keys in prop::collection::btree_map("[a-z]{0,6}", any::<i64>(), 0..300),
        max in 1u32..=64,
        p in 1u32..=4,
        q in 1u32..=4,
        canonical in any::<bool>(),
    ) {
        let (p, q) = (p.min(max), q.min(max));
        let options = if canonical { WriteOptions::canonical() } else { WriteOptions::default() };
        rescale(max, p, q, &keys, options);
    }
}
