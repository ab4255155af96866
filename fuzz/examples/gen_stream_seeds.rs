//! Writes the seed corpus of `stream_decode` under `fuzz/seeds/stream_decode/` (run from `fuzz/`:
//! `cargo run --release --example gen_stream_seeds`). Deterministic: real checkpoint streams of the serializer
//! sets the target decodes, several ranges and state counts, behind mode byte 0 (untouched) or 7 (repaired).

use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
use cow_state_table::serializer::{
    FlinkNullableStringSerializer, FlinkStringSerializer, I32Serializer, I64Serializer, ListSerializer, Serializers,
    TypeSerializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::StateTable;
use std::fs;
use std::path::Path;

fn main() {
    let dir = Path::new("seeds").join("stream_decode");
    fs::create_dir_all(&dir).unwrap();
    let counts = Serializers::new(I64Serializer, I32Serializer, I64Serializer);
    let lists = Serializers::new(I64Serializer, I32Serializer, ListSerializer(I64Serializer));
    let names = Serializers::new(I64Serializer, VoidNamespaceSerializer, FlinkStringSerializer);
    let by_name = Serializers::new(FlinkStringSerializer, I32Serializer, FlinkNullableStringSerializer);
    for (label, max, first, last, n) in [("all8", 8, 0, 7, 20i64), ("part16", 16, 3, 9, 40), ("one4", 4, 2, 2, 12)] {
        let ctx = KeyGroupContext::new(max, KeyGroupRange::of(first, last).unwrap()).unwrap();
        let in_range = |k: &i64| ctx.range().contains(ctx.key_group_of(k));
        let mut a: StateTable<i64, i32, i64> = StateTable::new();
        let mut b: StateTable<i64, i32, Vec<i64>> = StateTable::new();
        let mut c: StateTable<i64, VoidNamespace, String> = StateTable::new();
        for k in (0..n).filter(in_range) {
            a.put(k, (k % 3) as i32, k * 11 - 50);
            b.put(k, 1, (0..k % 4).collect());
            c.put(k, VoidNamespace, format!("v{k}é€😀"));
        }
        let (sa, sb, sc) = (a.snapshot().unwrap(), b.snapshot().unwrap(), c.snapshot().unwrap());
        let (pa, pb, pc) =
            (KeyGroupPartition::new(&sa, ctx), KeyGroupPartition::new(&sb, ctx), KeyGroupPartition::new(&sc, ctx));
        let states = [
            StateMeta::new(0, "counts", StateKind::Value, "i32", counts.state.identity()),
            StateMeta::new(1, "lists", StateKind::List, "i32", lists.state.identity()),
            StateMeta::new(2, "names", StateKind::Value, "void", names.state.identity()),
        ];
        for (take, suffix) in [(1usize, "s1"), (3, "s3")] {
            let mut out = Vec::new();
            write_stream(7, ctx, "i64", &states[..take], &mut |s, kg, buf| {
                match s {
                    0 => pa.write_key_group(buf, kg, &counts),
                    1 => pb.write_key_group(buf, kg, &lists),
                    _ => pc.write_key_group(buf, kg, &names),
                }
                .map(|_| ())
            }, &mut out)
            .unwrap();
            for mode in [0u8, 7] {
                let mut seed = vec![mode];
                seed.extend_from_slice(&out);
                cow_state_table_fuzz::stream_decode::fuzz(&seed);
                fs::write(dir.join(format!("{label}-{suffix}-m{mode}")), seed).unwrap();
            }
        }
        // String keys and nullable string states.
        let mut d: StateTable<String, i32, Option<String>> = StateTable::new();
        for k in 0..n {
            let key = format!("key-{k}");
            if in_range_str(&ctx, &key) {
                d.put(key, (k % 2) as i32, (k % 3 != 0).then(|| format!("😀{k}")));
            }
        }
        let sd = d.snapshot().unwrap();
        let pd = KeyGroupPartition::new(&sd, ctx);
        let states = [StateMeta::new(5, "by-name", StateKind::Map, "i32", by_name.state.identity())];
        let mut out = Vec::new();
        write_stream(8, ctx, "flink_string", &states, &mut |_, kg, buf| {
            pd.write_key_group(buf, kg, &by_name).map(|_| ())
        }, &mut out)
        .unwrap();
        let mut seed = vec![7u8];
        seed.extend_from_slice(&out);
        cow_state_table_fuzz::stream_decode::fuzz(&seed);
        fs::write(dir.join(format!("{label}-strings-m7")), seed).unwrap();
    }
    println!("seeds written to {}", dir.display());
}

fn in_range_str(ctx: &KeyGroupContext, key: &String) -> bool {
    ctx.range().contains(ctx.key_group_of(key))
}
