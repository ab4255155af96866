//! Writes the seed corpora under `fuzz/seeds/<target>/` (run from `fuzz/`:
//! `cargo +nightly run --release --example gen_seeds`). Deterministic.
//!
//! * `table_ops`, `checkpoint_roundtrip`, `schedules`: hand-written scenarios and op sequences drawn from the
//!   model's proptest strategy (`cow_state_table_model::ops`), encoded with `encode` (checked by decoding them
//!   again), and run once through the target's body.
//! * `checkpoint_decode`: real checkpoints of every serializer set the target knows, V1 and V2, snapshot and
//!   canonical order, several max parallelisms and ranges, behind mode byte 0 (untouched) or 7 (repaired).

use arbitrary::{Arbitrary, Unstructured};
use cow_state_table::format::{write_checkpoint, BodyFormat, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, JavaHashCode, KeyGroupContext};
use cow_state_table::serializer::{Serializers, TypeSerializer, VoidNamespace};
use cow_state_table::StateTable;
use cow_state_table_fuzz::{decode, encode, roundtrip, schedules, table_ops};
use cow_state_table_model::{Case, HasherChoice, Op, Teardown};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::fs;
use std::hash::Hash;
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn clear(dir: &str) {
    let _ = fs::remove_dir_all(Path::new("seeds").join(dir));
}

/// Op sequences from the model's proptest strategy (deterministic runner).
fn op_sequences(count: usize, max_len: usize, seed: u8) -> Vec<Vec<Op>> {
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]));
    let strategy = cow_state_table_model::ops(max_len);
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Hand-written sequences that reach the interesting protocol states directly.
fn scenarios() -> Vec<(HasherChoice, Vec<Op>)> {
    let put = |key, ns, value| Op::Put { key, ns, value };
    let fill = |n: u8| (0..n).map(|k| put(k % 16, k / 16, u32::from(k))).collect::<Vec<_>>();
    let mut out = Vec::new();
    // Snapshot in the middle of the first growth, then writes on the shared chains, release out of order.
    let mut a = fill(4);
    a.extend([
        Op::TakeSnapshot { slot: 0 },
        put(4, 0, 4),
        Op::TakeSnapshot { slot: 1 },
        Op::Remove { key: 1, ns: 0 },
    ]);
    a.extend([
        Op::GetMut {
            key: 2,
            ns: 0,
            value: 9,
        },
        Op::Transform {
            key: 3,
            ns: 0,
            value: 5,
        },
        put(5, 0, 5),
    ]);
    a.extend([
        Op::ReleaseSnapshot {
            slot: 0,
            explicit: true,
        },
        Op::RemoveAndGetOld { key: 0, ns: 0 },
    ]);
    a.extend([
        Op::ReleaseSnapshot {
            slot: 1,
            explicit: false,
        },
        Op::Reclaim,
        Op::Check,
    ]);
    out.push((HasherChoice::Colliding { mask: 0 }, a.clone()));
    out.push((HasherChoice::Colliding { mask: 3 }, a));
    // Grow through several rehashes with a snapshot taken every few puts.
    let mut b = Vec::new();
    for k in 0..48u8 {
        b.push(put(k % 16, k / 16, u32::from(k)));
        if k % 5 == 0 {
            b.push(Op::TakeSnapshot { slot: k % 4 });
        }
        if k % 7 == 0 {
            b.push(Op::Remove {
                key: (k + 3) % 16,
                ns: k / 16,
            });
        }
    }
    b.push(Op::ReadSnapshot { slot: 2 });
    out.push((HasherChoice::Colliding { mask: 7 }, b.clone()));
    out.push((HasherChoice::Deterministic, b));
    // Table dropped while snapshots live; a panicking transform on a shared and on a private entry.
    let mut c = fill(10);
    c.extend([
        Op::TakeSnapshot { slot: 2 },
        Op::TransformPanic { key: 1, ns: 0 },
        put(1, 0, 77),
    ]);
    c.extend([
        Op::TransformPanic { key: 1, ns: 0 },
        Op::DropTable,
        Op::ReadSnapshot { slot: 2 },
        put(2, 0, 8),
    ]);
    c.extend([
        Op::TakeSnapshot { slot: 3 },
        Op::Iterate,
        Op::SizeOfNamespace { ns: 0 },
        Op::Len,
    ]);
    out.push((HasherChoice::Colliding { mask: 1 }, c));
    // Versions close to exhaustion while snapshots stay live, then released and renormalised.
    let mut d = fill(6);
    d.extend([
        Op::TakeSnapshot { slot: 0 },
        Op::AdvanceVersion { back_off: 1 },
        Op::TakeSnapshot { slot: 1 },
    ]);
    d.extend([Op::TakeSnapshot { slot: 2 }, Op::TakeSnapshot { slot: 3 }, put(7, 1, 1)]);
    d.extend((0..4).map(|slot| Op::ReleaseSnapshot {
        slot,
        explicit: slot % 2 == 0,
    }));
    d.extend([
        Op::TakeSnapshot { slot: 0 },
        Op::Remove { key: 3, ns: 0 },
        Op::PutAndGetOld {
            key: 4,
            ns: 0,
            value: 1,
        },
    ]);
    out.push((HasherChoice::Colliding { mask: 0 }, d));
    // Grow to 64 buckets, then drain: the table shrinks back to 4 by incremental rehashes, with a snapshot taken
    // before the drain and one every few removals (so some are taken mid-shrink), some released on the way.
    let mut e = fill(44);
    e.push(Op::TakeSnapshot { slot: 0 });
    for k in 0..44u8 {
        e.push(Op::Remove {
            key: k % 16,
            ns: k / 16,
        });
        if k % 6 == 5 {
            e.push(Op::TakeSnapshot { slot: 1 + (k / 6) % 3 });
        }
        if k % 9 == 8 {
            e.push(Op::GetMut {
                key: (k + 1) % 16,
                ns: (k + 1) / 16,
                value: 3,
            });
        }
    }
    e.extend([
        Op::ReadSnapshot { slot: 0 },
        Op::ReleaseSnapshot {
            slot: 2,
            explicit: true,
        },
        put(1, 0, 1),
    ]);
    out.push((HasherChoice::Deterministic, e.clone()));
    out.push((HasherChoice::Colliding { mask: 3 }, e));
    out
}

fn table_ops_seeds() {
    clear("table_ops");
    let mut inputs = Vec::new();
    for (i, (hasher, ops)) in scenarios().into_iter().enumerate() {
        let teardown = if i % 2 == 0 {
            Teardown::TableFirst
        } else {
            Teardown::SnapshotsFirst
        };
        inputs.push(table_ops::Input {
            version_limit: 62,
            colliding: 0,
            case: Case { hasher, teardown, ops },
        });
    }
    let hashers = [0u8, 1, 3, 7].map(|mask| HasherChoice::Colliding { mask });
    for (i, ops) in op_sequences(16, 160, 1).into_iter().enumerate() {
        let teardown = if i % 3 == 0 {
            Teardown::TableFirst
        } else {
            Teardown::SnapshotsFirst
        };
        let hasher = if i % 5 == 4 {
            HasherChoice::Deterministic
        } else {
            hashers[i % 4]
        };
        let version_limit = [2u8, 6, 14, 62][i % 4];
        inputs.push(table_ops::Input {
            version_limit,
            colliding: 0,
            case: Case { hasher, teardown, ops },
        });
    }
    let mut totals = cow_state_table_model::RunStats::default();
    for (i, input) in inputs.iter().enumerate() {
        let bytes = encode::table_ops_input(input);
        let decoded = table_ops::Input::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(&decoded, input, "table_ops encoding does not round-trip");
        let stats = table_ops::run(input).unwrap_or_else(|d| panic!("seed {i} diverges: {d}"));
        totals.merge(&stats);
        write("table_ops", &format!("seed-{i:02}"), &bytes);
    }
    println!("table_ops: {} seeds, {totals:?}", inputs.len());
}

fn roundtrip_seeds() {
    clear("checkpoint_roundtrip");
    let seqs = op_sequences(12, 100, 2);
    for (i, ops) in seqs.into_iter().enumerate() {
        let i8 = i as u8;
        let input = roundtrip::Input {
            hasher: if i % 3 == 0 {
                HasherChoice::Deterministic
            } else {
                HasherChoice::Colliding { mask: i8 }
            },
            max_parallelism: i8,
            writers: i8 / 2,
            readers: i8 / 3 + 1,
            v1: i % 2 == 1,
            canonical: i % 4 == 2,
            ops,
        };
        let bytes = encode::roundtrip_input(&input);
        let decoded = roundtrip::Input::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(decoded, input, "checkpoint_roundtrip encoding does not round-trip");
        roundtrip::fuzz(&input);
        write("checkpoint_roundtrip", &format!("seed-{i:02}"), &bytes);
    }
    println!("checkpoint_roundtrip: 12 seeds");
}

fn schedules_seeds() {
    clear("schedules");
    let mut rng = Rng(0x5c4e_d01e);
    let mut seqs = op_sequences(12, schedules::MAX_SCHEDULE_OPS, 3);
    // Grow to 16 buckets, then drain while snapshots are read: the table shrinks (to 8, then 4) under them.
    let put = |key: u8, value| Op::Put { key, ns: 0, value };
    let mut drain: Vec<Op> = (0..8).map(|k| put(k, u32::from(k))).collect();
    drain.extend([
        Op::Contains { key: 0, ns: 0 },
        Op::Get { key: 1, ns: 0 },
        Op::TakeSnapshot { slot: 0 },
    ]);
    for k in 0..8u8 {
        drain.push(Op::Remove { key: k, ns: 0 });
        if k % 3 == 2 {
            drain.push(Op::TakeSnapshot { slot: 1 + k % 2 });
        }
    }
    drain.extend([
        Op::ReadSnapshot { slot: 0 },
        Op::ReleaseSnapshot {
            slot: 1,
            explicit: true,
        },
        put(3, 3),
    ]);
    seqs.push(drain.clone());
    seqs.push(drain);
    for (i, ops) in seqs.into_iter().enumerate() {
        let workload = schedules::Workload {
            hasher: if i % 4 == 3 {
                HasherChoice::Deterministic
            } else {
                HasherChoice::Colliding { mask: i as u8 }
            },
            version_limit: 2 + (i as u32 % 15),
            ops,
        };
        let len = 200 + (rng.next() % 600) as usize;
        let schedule = rng.bytes(len);
        let bytes = encode::schedules_input(&workload, &schedule);
        let (decoded, rest) = schedules::split(&bytes);
        assert_eq!(decoded, workload, "schedules encoding does not round-trip");
        assert_eq!(rest, schedule);
        schedules::fuzz(&bytes);
        write("schedules", &format!("seed-{i:02}"), &bytes);
    }
    println!("schedules: 14 seeds");
}

fn checkpoint<KS, NS, SS>(
    sers: &Serializers<KS, NS, SS>,
    entries: &[(KS::Value, NS::Value, SS::Value)],
    max: u32,
    p: u32,
    i: u32,
    options: WriteOptions,
) -> Vec<u8>
where
    KS: TypeSerializer,
    KS::Value: JavaHashCode + Hash + Eq + Clone,
    NS: TypeSerializer,
    NS::Value: Hash + Eq + Clone,
    SS: TypeSerializer,
    SS::Value: Clone,
{
    let range = compute_key_group_range_for_operator_index(max, p, i).unwrap();
    let ctx = KeyGroupContext::new(max, range).unwrap();
    let mut table: StateTable<KS::Value, NS::Value, SS::Value> = StateTable::with_buckets(4);
    for (k, n, s) in entries {
        if range.contains(ctx.key_group_of(k)) {
            table.put(k.clone(), n.clone(), s.clone());
        }
    }
    let snapshot = table.snapshot().unwrap();
    let mut out = Vec::new();
    write_checkpoint(&snapshot, ctx, sers, options, &mut out).unwrap();
    out
}

fn decode_seeds() {
    clear("checkpoint_decode");
    let v2 = WriteOptions::default();
    let v2c = WriteOptions::canonical();
    let v1 = WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical);
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let model: Vec<(u8, u8, Vec<u32>)> = (0..20u8)
        .map(|k| (k % 16, k % 4, vec![u32::from(k); usize::from(k % 3)]))
        .collect();
    let strings: Vec<(String, VoidNamespace, i64)> = ["", "a", "hello", "é", "key-4", "日本"]
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), VoidNamespace, i as i64 - 2))
        .collect();
    let options: Vec<(u64, u32, Option<String>)> = (0..6u64)
        .map(|k| (k * 1_000_003, (k % 2) as u32, (k % 2 == 0).then(|| format!("s{k}"))))
        .collect();
    let bytes: Vec<(Vec<u8>, u16, Vec<Option<bool>>)> = (0..5u8)
        .map(|k| (vec![k; usize::from(k)], u16::from(k), vec![None, Some(k % 2 == 0)]))
        .collect();
    for (name, opts) in [("v2", v2), ("v2c", v2c), ("v1", v1)] {
        let s = decode::model_serializers();
        seeds.push((format!("model-{name}-m4"), checkpoint(&s, &model, 4, 1, 0, opts)));
        seeds.push((
            format!("model-{name}-m128-1of3"),
            checkpoint(&s, &model, 128, 3, 1, opts),
        ));
        seeds.push((
            format!("model-{name}-empty"),
            checkpoint(&s, &model[..0], 2, 1, 0, opts),
        ));
        seeds.push((
            format!("string-{name}-m8"),
            checkpoint(&decode::string_serializers(), &strings, 8, 1, 0, opts),
        ));
        seeds.push((
            format!("option-{name}-m3"),
            checkpoint(&decode::option_serializers(), &options, 3, 1, 0, opts),
        ));
        seeds.push((
            format!("bytes-{name}-m5-0of2"),
            checkpoint(&decode::bytes_serializers(), &bytes, 5, 2, 0, opts),
        ));
    }
    seeds.push((
        "model-v2-m1".into(),
        checkpoint(&decode::model_serializers(), &model, 1, 1, 0, v2),
    ));
    for (name, bytes) in &seeds {
        decode::check(bytes);
        let mode = if name.contains("v2c") || name.contains("m1") {
            7
        } else {
            0
        };
        let mut input = vec![mode];
        input.extend_from_slice(bytes);
        decode::fuzz(&input);
        write("checkpoint_decode", name, &input);
    }
    println!("checkpoint_decode: {} seeds", seeds.len());
}

fn main() {
    decode_seeds();
    roundtrip_seeds();
    schedules_seeds();
    table_ops_seeds();
}
