//! Round trips: random tables, snapshots taken while the writer keeps writing, written on another thread, read
//! back for every key-group range split and compared with the contents at snapshot time.

use cow_state_table::format::{
    decode_body, decode_body_at, write_checkpoint, BodyFormat, Checkpoint, EntryOrder, FormatError, WriteOptions,
};
use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupContext, KeyGroupRange};
use cow_state_table::restore::restore;
use cow_state_table::serializer::{
    BoolSerializer, BytesSerializer, F32Serializer, F64Serializer, I16Serializer, I32Serializer, I64Serializer,
    I8Serializer, Input, ListSerializer, OptionSerializer, Serializers, StringSerializer, TypeSerializer,
    U16Serializer, U32Serializer, U64Serializer, U8Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::{DeterministicState, StateTable};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Put(u64, u32, u64),
    Remove(u64, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..300, 0u32..3, any::<u64>()).prop_map(|(k, n, s)| Op::Put(k, n, s)),
        1 => (0u64..300, 0u32..3).prop_map(|(k, n)| Op::Remove(k, n)),
    ]
}

fn apply(table: &mut StateTable<u64, u32, u64>, model: &mut BTreeMap<(u64, u32), u64>, op: &Op) {
    match *op {
        Op::Put(k, n, s) => {
            table.put(k, n, s);
            model.insert((k, n), s);
        }
        Op::Remove(k, n) => {
            table.remove(&k, &n);
            model.remove(&(k, n));
        }
    }
}

fn options() -> impl Strategy<Value = WriteOptions> {
    prop_oneof![
        Just(WriteOptions::default()),
        Just(WriteOptions::canonical()),
        Just(WriteOptions::new(BodyFormat::V1, EntryOrder::Snapshot)),
    ]
}

type Sers = Serializers<U64Serializer, U32Serializer, U64Serializer>;
const SERS: Sers = Serializers {
    key: U64Serializer,
    namespace: U32Serializer,
    state: U64Serializer,
};

fn contents(table: &StateTable<u64, u32, u64>) -> BTreeMap<(u64, u32), u64> {
    table.iter().map(|(k, n, s)| ((*k, *n), *s)).collect()
}

fn expected_in(model: &BTreeMap<(u64, u32), u64>, ctx: KeyGroupContext) -> BTreeMap<(u64, u32), u64> {
    model
        .iter()
        .filter(|((k, _), _)| ctx.range().contains(ctx.key_group_of(k)))
        .map(|(k, v)| (*k, *v))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn snapshot_write_read_equals_contents_at_snapshot_time(
        before in prop::collection::vec(op(), 0..400),
        after in prop::collection::vec(op(), 0..400),
        max in 1u32..=48,
        cuts in prop::collection::vec(any::<u32>(), 0..4),
        options in options(),
    ) {
        let mut table: StateTable<u64, u32, u64> = StateTable::with_buckets(4);
        let mut model = BTreeMap::new();
        for op in &before {
            apply(&mut table, &mut model, op);
        }
        let snapshot = table.snapshot().unwrap();
        let all = KeyGroupContext::all(max).unwrap();
        // Written on another thread while the writer keeps writing.
        let writer = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let summary = write_checkpoint(&snapshot, all, &SERS, options, &mut bytes).unwrap();
            (bytes, summary)
        });
        let mut live_model = model.clone();
        for op in &after {
            apply(&mut table, &mut live_model, op);
        }
        let (bytes, summary) = writer.join().unwrap();
        prop_assert_eq!(contents(&table), live_model);
        prop_assert_eq!(summary.entries as usize, model.len());
        prop_assert_eq!(summary.bytes as usize, bytes.len());

        // Read everything back.
        let checkpoint = Checkpoint::parse(&bytes).unwrap();
        prop_assert_eq!(checkpoint.header().body_format, options.body_format);
        let read: BTreeMap<_, _> = checkpoint
            .read_all(&SERS)
            .unwrap()
            .into_iter()
            .map(|(k, n, s)| ((k, n), s))
            .collect();
        prop_assert_eq!(&read, &model);

        // Every operator-index split for parallelism 1..=5.
        for p in 1..=max.min(5) {
            let mut union = BTreeMap::new();
            for i in 0..p {
                let range = compute_key_group_range_for_operator_index(max, p, i).unwrap();
                let ctx = KeyGroupContext::new(max, range).unwrap();
                let restored: StateTable<u64, u32, u64> = restore(ctx, &[&bytes], &SERS).unwrap();
                let got = contents(&restored);
                prop_assert_eq!(&got, &expected_in(&model, ctx));
                union.extend(got);
            }
            prop_assert_eq!(&union, &model);
        }

        // An arbitrary contiguous split.
        let mut points: Vec<u32> = cuts.iter().map(|c| c % (max + 1)).collect();
        points.extend([0, max]);
        points.sort_unstable();
        points.dedup();
        let mut union = BTreeMap::new();
        for w in points.windows(2) {
            let range = KeyGroupRange::with_len(w[0], w[1] - w[0]).unwrap();
            let ctx = KeyGroupContext::new(max, range).unwrap();
            let restored: StateTable<u64, u32, u64> = restore(ctx, &[&bytes], &SERS).unwrap();
            union.extend(contents(&restored));
        }
        prop_assert_eq!(&union, &model);
    }

    #[test]
    fn canonical_bytes_do_not_depend_on_history_or_hasher(
        entries in prop::collection::btree_map((0u64..1000, 0u32..4), any::<u64>(), 0..200),
        noise in prop::collection::vec((0u64..1000, 0u32..4), 0..100),
        v1 in any::<bool>(),
    ) {
        let options = if v1 {
            WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical)
        } else {
            WriteOptions::canonical()
        };
        let ctx = KeyGroupContext::all(32).unwrap();
        // Table A: random hasher, entries inserted in order.
        let mut a: StateTable<u64, u32, u64> = StateTable::new();
        for (&(k, n), &s) in &entries {
            a.put(k, n, s);
        }
        // Table B: deterministic hasher, tiny capacity, noise inserted and removed, reverse order.
        let mut b: StateTable<u64, u32, u64, DeterministicState> =
            StateTable::with_buckets_and_hasher(4, DeterministicState::default());
        for &(k, n) in &noise {
            b.put(k, n, 0);
        }
        for &(k, n) in &noise {
            b.remove(&k, &n);
        }
        for (&(k, n), &s) in entries.iter().rev() {
            b.put(k, n, s);
        }
        let (sa, sb) = (a.snapshot().unwrap(), b.snapshot().unwrap());
        let (mut ba, mut bb) = (Vec::new(), Vec::new());
        write_checkpoint(&sa, ctx, &SERS, options, &mut ba).unwrap();
        write_checkpoint(&sb, ctx, &SERS, options, &mut bb).unwrap();
        prop_assert_eq!(ba, bb);
    }

    #[test]
    fn snapshot_and_canonical_order_hold_the_same_entries(
        entries in prop::collection::btree_map((0u64..1000, 0u32..4), any::<u64>(), 0..200),
    ) {
        let mut table: StateTable<u64, u32, u64> = StateTable::new();
        for (&(k, n), &s) in &entries {
            table.put(k, n, s);
        }
        let snapshot = table.snapshot().unwrap();
        let ctx = KeyGroupContext::all(16).unwrap();
        let mut sizes = Vec::new();
        for options in [WriteOptions::default(), WriteOptions::canonical()] {
            let mut bytes = Vec::new();
            write_checkpoint(&snapshot, ctx, &SERS, options, &mut bytes).unwrap();
            sizes.push(bytes.len());
            let mut read = Checkpoint::parse(&bytes).unwrap().read_all(&SERS).unwrap();
            read.sort_unstable();
            let expected: Vec<_> = entries.iter().map(|(&(k, n), &s)| (k, n, s)).collect();
            let mut expected = expected;
            expected.sort_unstable();
            prop_assert_eq!(read, expected);
        }
        prop_assert_eq!(sizes[0], sizes[1]);
    }

    #[test]
    fn rich_types_round_trip_in_both_body_formats(
        entries in prop::collection::btree_map(
            ("\\PC{0,12}", -3i32..3),
            prop::collection::vec(prop::option::of(any::<i64>()), 0..5),
            0..60,
        ),
        v1 in any::<bool>(),
    ) {
        let sers = Serializers::new(StringSerializer, I32Serializer, ListSerializer(OptionSerializer(I64Serializer)));
        let mut table: StateTable<String, i32, Vec<Option<i64>>> = StateTable::new();
        for ((k, n), s) in &entries {
            table.put(k.clone(), *n, s.clone());
        }
        let snapshot = table.snapshot().unwrap();
        table.put("late".to_string(), 0, vec![]);
        let ctx = KeyGroupContext::all(128).unwrap();
        let options = WriteOptions::new(if v1 { BodyFormat::V1 } else { BodyFormat::V2 }, EntryOrder::Snapshot);
        let mut bytes = Vec::new();
        write_checkpoint(&snapshot, ctx, &sers, options, &mut bytes).unwrap();
        let restored: StateTable<String, i32, Vec<Option<i64>>> = restore(ctx, &[&bytes], &sers).unwrap();
        let got: BTreeMap<_, _> = restored.iter().map(|(k, n, s)| ((k.clone(), *n), s.clone())).collect();
        prop_assert_eq!(got, entries);
    }

    #[test]
    fn serializers_round_trip(
        a in any::<i8>(), b in any::<u8>(), c in any::<i16>(), d in any::<u16>(),
        e in any::<i32>(), f in any::<u32>(), g in any::<i64>(), h in any::<u64>(),
        x in any::<f32>(), y in any::<f64>(), z in any::<bool>(),
        s in "\\PC{0,30}", bytes in prop::collection::vec(any::<u8>(), 0..40),
        list in prop::collection::vec((any::<i32>(), prop::option::of("\\PC{0,5}")), 0..10),
    ) {
        fn rt<T: TypeSerializer>(ser: T, v: &T::Value) -> (T::Value, usize) {
            let mut out = Vec::new();
            ser.serialize(v, &mut out).unwrap();
            let mut input = Input::new(&out);
            let back = ser.deserialize(&mut input).unwrap();
            assert!(input.is_empty(), "{} left bytes", ser.identity());
            assert!(out.len() >= ser.min_len(), "{} shorter than min_len", ser.identity());
            (back, out.len())
        }
        prop_assert_eq!(rt(I8Serializer, &a), (a, 1));
        prop_assert_eq!(rt(U8Serializer, &b), (b, 1));
        prop_assert_eq!(rt(I16Serializer, &c), (c, 2));
        prop_assert_eq!(rt(U16Serializer, &d), (d, 2));
        prop_assert_eq!(rt(I32Serializer, &e), (e, 4));
        prop_assert_eq!(rt(U32Serializer, &f), (f, 4));
        prop_assert_eq!(rt(I64Serializer, &g), (g, 8));
        prop_assert_eq!(rt(U64Serializer, &h), (h, 8));
        prop_assert_eq!(rt(F32Serializer, &x).0.to_bits(), x.to_bits());
        prop_assert_eq!(rt(F64Serializer, &y).0.to_bits(), y.to_bits());
        prop_assert_eq!(rt(BoolSerializer, &z), (z, 1));
        prop_assert_eq!(rt(StringSerializer, &s), (s.clone(), 4 + s.len()));
        prop_assert_eq!(rt(BytesSerializer, &bytes), (bytes.clone(), 4 + bytes.len()));
        prop_assert_eq!(rt(VoidNamespaceSerializer, &VoidNamespace), (VoidNamespace, 1));
        let ls = ListSerializer((I32Serializer, OptionSerializer(StringSerializer)));
        prop_assert_eq!(rt(ls, &list).0, list);
        prop_assert_eq!(rt((I64Serializer, BoolSerializer, U8Serializer), &(g, z, b)), ((g, z, b), 10));
        prop_assert_eq!(rt((I8Serializer, I8Serializer, I8Serializer, I8Serializer), &(a, a, a, a)), ((a, a, a, a), 4));
    }
}

#[test]
fn serializer_identities() {
    assert_eq!(
        ListSerializer(OptionSerializer((I64Serializer, StringSerializer))).identity(),
        "list<option<tuple<i64,string>>>"
    );
    assert_eq!(BytesSerializer.identity(), "bytes");
    // docs/FORMAT.md §3: a map state's serializer is `map<K,V>`.
    assert_eq!(
        cow_state_table::serializer::MapSerializer(I32Serializer, StringSerializer).identity(),
        "map<i32,string>"
    );
    assert_eq!(<&U64Serializer as TypeSerializer>::identity(&&U64Serializer), "u64");
}

#[test]
fn big_endian_encodings() {
    let mut out = Vec::new();
    U64Serializer.serialize(&0x0102030405060708, &mut out).unwrap();
    I32Serializer.serialize(&-2, &mut out).unwrap();
    StringSerializer.serialize(&"é".to_string(), &mut out).unwrap();
    F64Serializer.serialize(&1.0, &mut out).unwrap();
    assert_eq!(
        out,
        [1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 2, 0xc3, 0xa9, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn empty_range_and_empty_table() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    let snapshot = table.snapshot().unwrap();
    for ctx in [
        KeyGroupContext::all(4).unwrap(),
        KeyGroupContext::new(4, KeyGroupRange::EMPTY).unwrap(),
    ] {
        for options in [
            WriteOptions::default(),
            WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
        ] {
            let mut bytes = Vec::new();
            write_checkpoint(&snapshot, ctx, &SERS, options, &mut bytes).unwrap();
            let checkpoint = Checkpoint::parse(&bytes).unwrap();
            assert_eq!(checkpoint.key_groups(), ctx.range());
            assert!(checkpoint.read_all(&SERS).unwrap().is_empty());
        }
    }
}

/// The largest key-group count a header holds is the largest max parallelism, 2^15 = 32,768: a checkpoint of the
/// whole range at that parallelism is read back (the header's bound refuses more than 32,768, not 32,768 itself).
#[test]
fn the_largest_key_group_count_is_read_back() {
    let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(32_768).unwrap();
    let mut bytes = Vec::new();
    write_checkpoint(&snapshot, ctx, &SERS, WriteOptions::default(), &mut bytes).unwrap();
    let checkpoint = Checkpoint::parse(&bytes).unwrap();
    assert_eq!(checkpoint.key_groups(), ctx.range());
    assert_eq!(checkpoint.read_all(&SERS).unwrap().len(), 100);
}

/// `WriteOptions`' builders set their own field and keep the other.
#[test]
fn write_options_builders_set_their_field() {
    let v1 = WriteOptions::default().with_body_format(BodyFormat::V1);
    assert_eq!(
        (v1.body_format, v1.order),
        (BodyFormat::V1, WriteOptions::default().order)
    );
    let canonical = v1.with_order(EntryOrder::Canonical);
    assert_eq!(
        (canonical.body_format, canonical.order),
        (BodyFormat::V1, EntryOrder::Canonical)
    );
    assert_eq!(
        WriteOptions::default().with_order(EntryOrder::Canonical),
        WriteOptions::canonical()
    );
}

/// A parsed checkpoint's `Debug` names its length, header and key-group count.
#[test]
fn a_checkpoint_debugs_its_length_and_header() {
    let mut table: StateTable<u64, u32, u64> = (0..10).map(|k| (k, 0, k)).collect();
    let snapshot = table.snapshot().unwrap();
    let mut bytes = Vec::new();
    write_checkpoint(
        &snapshot,
        KeyGroupContext::all(4).unwrap(),
        &SERS,
        WriteOptions::default(),
        &mut bytes,
    )
    .unwrap();
    let debug = format!("{:?}", Checkpoint::parse(&bytes).unwrap());
    assert!(debug.starts_with("Checkpoint {"), "{debug}");
    assert!(debug.contains(&format!("len: {}", bytes.len())), "{debug}");
    assert!(debug.contains("header: ") && debug.contains("blocks: 4"), "{debug}");
}

/// `decode_body` and `decode_body_at` read each key group's body of a checkpoint (cut out by its block's offset
/// and length) into what `read_key_group` reads, in both body formats; `decode_body_at` reports offsets from its
/// base.
#[test]
fn decode_body_reads_each_key_group_body_of_a_checkpoint() {
    let mut table: StateTable<u64, u32, u64> = (0..200).map(|k| (k, (k % 3) as u32, k * 10)).collect();
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(8).unwrap();
    for options in [
        WriteOptions::default(),
        WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
    ] {
        let mut bytes = Vec::new();
        write_checkpoint(&snapshot, ctx, &SERS, options, &mut bytes).unwrap();
        let checkpoint = Checkpoint::parse(&bytes).unwrap();
        let mut total = 0;
        for block in checkpoint.blocks() {
            let body = &bytes[block.offset as usize..(block.offset + block.length) as usize];
            let expected = checkpoint.read_key_group(block.key_group, &SERS).unwrap();
            let mut out = Vec::new();
            decode_body(options.body_format, body, block.key_group, ctx, &SERS, &mut out).unwrap();
            assert_eq!(out, expected, "key group {}", block.key_group);
            let mut at = Vec::new();
            decode_body_at(
                options.body_format,
                body,
                block.offset,
                block.key_group,
                ctx,
                &SERS,
                &mut at,
            )
            .unwrap();
            assert_eq!(at, expected);
            total += out.len();
            // Under another key group the body's first key is refused, at its absolute offset.
            if !expected.is_empty() {
                let other = (block.key_group + 1) % 8;
                let err = decode_body_at(
                    options.body_format,
                    body,
                    block.offset,
                    other,
                    ctx,
                    &SERS,
                    &mut Vec::new(),
                )
                .unwrap_err();
                assert!(
                    matches!(err, FormatError::WrongKeyGroup { offset, .. } if offset >= block.offset),
                    "{err:?}"
                );
            }
        }
        assert_eq!(total, 200);
    }
}

#[cfg(feature = "serde")]
mod serde_adapter {
    use super::*;
    use cow_state_table::serializer::PostcardSerializer;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Event {
        id: u64,
        tags: Vec<String>,
        score: Option<f64>,
    }

    proptest! {
        #[test]
        fn postcard_adapter_round_trips(
            id in any::<u64>(),
            tags in prop::collection::vec("\\PC{0,8}", 0..4),
            score in prop::option::of(-1e9f64..1e9),
        ) {
            let ser = PostcardSerializer::<Event>::new("test.Event/1");
            let event = Event { id, tags, score };
            let mut out = Vec::new();
            ser.serialize(&event, &mut out).unwrap();
            let mut input = Input::new(&out);
            prop_assert_eq!(ser.deserialize(&mut input).unwrap(), event);
            prop_assert!(input.is_empty());
        }
    }

    #[test]
    fn postcard_adapter_in_a_checkpoint() {
        let sers = Serializers::new(
            U64Serializer,
            VoidNamespaceSerializer,
            PostcardSerializer::<Event>::new("test.Event/1"),
        );
        assert_eq!(sers.state.identity(), "postcard1:test.Event/1");
        let mut table: StateTable<u64, VoidNamespace, Event> = StateTable::new();
        for id in 0..50 {
            table.put(
                id,
                VoidNamespace,
                Event {
                    id,
                    tags: vec![format!("t{id}")],
                    score: None,
                },
            );
        }
        let snapshot = table.snapshot().unwrap();
        let ctx = KeyGroupContext::all(128).unwrap();
        let mut bytes = Vec::new();
        write_checkpoint(&snapshot, ctx, &sers, WriteOptions::default(), &mut bytes).unwrap();
        let restored: StateTable<u64, VoidNamespace, Event> = restore(ctx, &[&bytes], &sers).unwrap();
        assert_eq!(restored.len(), 50);
        assert_eq!(restored.get(&7, &VoidNamespace).unwrap().tags, vec!["t7"]);
    }

    #[test]
    fn postcard_adapter_rejects_a_huge_inner_length() {
        use cow_state_table::serializer::DecodeErrorKind;
        let ser = PostcardSerializer::<Vec<u64>>::new("v");
        // Outer length 9, then a postcard Vec length of 2^60 (a 9-byte varint) with no elements behind it.
        let mut bytes = vec![0, 0, 0, 9];
        bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        let err = ser.deserialize(&mut Input::new(&bytes)).unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::Postcard(_)), "{err:?}");
        assert_eq!(err.offset, 4);
        assert!(
            std::error::Error::source(&err.kind).is_some(),
            "the postcard error is kept as the source"
        );
    }

    #[test]
    fn postcard_adapter_rejects_trailing_bytes() {
        use cow_state_table::serializer::DecodeErrorKind;
        let ser = PostcardSerializer::<u8>::new("v");
        let err = ser.deserialize(&mut Input::new(&[0, 0, 0, 2, 7, 7])).unwrap_err();
        assert_eq!((err.offset, err.kind), (5, DecodeErrorKind::TrailingBytes(1)));
    }

    /// The wire format of docs/FORMAT.md ("serde / postcard"), byte for byte.
    #[test]
    fn postcard_adapter_wire_format() {
        let ser = PostcardSerializer::<Event>::new("e");
        let mut out = Vec::new();
        let event = Event {
            id: 300,
            tags: vec!["ab".into()],
            score: Some(1.5),
        };
        ser.serialize(&event, &mut out).unwrap();
        let mut expected = vec![0, 0, 0, 15, 0xac, 0x02, 1, 2, b'a', b'b', 1];
        expected.extend_from_slice(&1.5f64.to_le_bytes());
        assert_eq!(out, expected);
    }
}

#[test]
fn write_key_group_is_the_v2_body_of_the_checkpoint() {
    use cow_state_table::keygroup::KeyGroupPartition;
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    for k in 0..500u64 {
        table.put(k, (k % 3) as u32, k);
    }
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(16).unwrap();
    let partition = KeyGroupPartition::new(&snapshot, ctx);
    let mut bytes = Vec::new();
    cow_state_table::format::write_partition(&partition, &SERS, WriteOptions::default(), &mut bytes).unwrap();
    let checkpoint = Checkpoint::parse(&bytes).unwrap();
    for block in checkpoint.blocks() {
        let mut out = vec![0xAA];
        let n = partition.write_key_group(&mut out, block.key_group, &SERS).unwrap();
        assert_eq!(n, partition.entries(block.key_group).unwrap().len());
        assert_eq!(out[0], 0xAA, "appends");
        assert_eq!(
            &out[1..],
            &bytes[block.offset as usize..(block.offset + block.length) as usize]
        );
        assert_eq!(i32::from_be_bytes(out[1..5].try_into().unwrap()) as usize, n);
    }
    assert!(partition.write_key_group(&mut Vec::new(), 16, &SERS).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `write_checkpoint`'s one-pass path for the default layout (V2, snapshot order) writes the bytes the
    /// partition's path writes, and fails the same way for an entry outside the range.
    #[test]
    fn one_pass_and_partition_write_the_same_bytes(
        ops in prop::collection::vec(op(), 0..600),
        buckets in 1usize..64,
        max in 1u32..=64,
        start in any::<u32>(),
        len in any::<u32>(),
    ) {
        use cow_state_table::format::write_partition;
        use cow_state_table::keygroup::KeyGroupPartition;
        let mut table: StateTable<u64, u32, u64> = StateTable::with_buckets(buckets);
        let mut model = BTreeMap::new();
        for op in &ops {
            apply(&mut table, &mut model, op);
        }
        let snapshot = table.snapshot().unwrap();
        let start = start % max;
        let range = KeyGroupRange::with_len(start, 1 + len % (max - start)).unwrap();
        for ctx in [KeyGroupContext::all(max).unwrap(), KeyGroupContext::new(max, range).unwrap()] {
            let mut one_pass = vec![7u8];
            let mut partitioned = vec![7u8];
            let a = write_checkpoint(&snapshot, ctx, &SERS, WriteOptions::default(), &mut one_pass);
            let partition = KeyGroupPartition::new(&snapshot, ctx);
            let b = write_partition(&partition, &SERS, WriteOptions::default(), &mut partitioned);
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(a.entries as usize, model.len());
                    prop_assert_eq!(&one_pass, &partitioned);
                }
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a.to_string(), b.to_string());
                    prop_assert_eq!(one_pass, vec![7u8], "nothing written on an error");
                }
                (a, b) => prop_assert!(false, "one pass {:?}, partition {:?}", a, b),
            }
        }
    }
}

/// An output that takes at most `step` bytes per call (only the first non-empty slice of a vectored write, as
/// `Write`'s default does), fails with `Interrupted` every third call, and stops accepting bytes after `limit`.
struct Trickle {
    bytes: Vec<u8>,
    step: usize,
    calls: usize,
    limit: usize,
}

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.step).min(self.limit - self.bytes.len());
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An output whose first call fails with `ErrorKind::Other` (an error a retry must not hide), then takes all.
#[derive(Default)]
struct FailOnce {
    failed: bool,
    bytes: Vec<u8>,
}

impl std::io::Write for FailOnce {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !std::mem::replace(&mut self.failed, true) {
            return Err(std::io::Error::other("disk full"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn checkpoints_reach_outputs_that_take_a_few_bytes_at_a_time() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    for k in 0..300u64 {
        table.put(k, (k % 2) as u32, k * 3);
    }
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(32).unwrap();
    for options in [
        WriteOptions::default(),
        WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
    ] {
        let mut whole = Vec::new();
        let summary = write_checkpoint(&snapshot, ctx, &SERS, options, &mut whole).unwrap();
        for step in [1, 7, 4096] {
            let mut out = Trickle {
                bytes: Vec::new(),
                step,
                calls: 0,
                limit: usize::MAX,
            };
            assert_eq!(
                write_checkpoint(&snapshot, ctx, &SERS, options, &mut out).unwrap(),
                summary
            );
            assert_eq!(out.bytes, whole, "step {step}");
        }
        // An output error other than `Interrupted` ends the write.
        let error = write_checkpoint(&snapshot, ctx, &SERS, options, &mut FailOnce::default()).unwrap_err();
        assert!(
            matches!(&error, cow_state_table::format::WriteError::Io(e) if e.kind() == std::io::ErrorKind::Other),
            "{error:?}"
        );
        // An output that stops taking bytes is an error, not a short checkpoint.
        let mut full = Trickle {
            bytes: Vec::new(),
            step: 100,
            calls: 0,
            limit: whole.len() - 1,
        };
        let error = write_checkpoint(&snapshot, ctx, &SERS, options, &mut full).unwrap_err();
        assert!(
            matches!(&error, cow_state_table::format::WriteError::Io(e) if e.kind() == std::io::ErrorKind::WriteZero),
            "{error:?}"
        );
    }
}
