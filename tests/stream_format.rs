//! The checkpoint stream of many states (src/backend/stream): round trips over several states and key-group
//! ranges, the key-group section laid out as the backport writes it, and bad input — every byte flipped, every
//! prefix, forged framing — rejected with typed errors and no panic.

use cow_state_table::backend::storage::{FailingWriter, StorageError};
use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint, StreamError, MAGIC};
use cow_state_table::format::{FormatError, SerializerRole, WriteError};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
use cow_state_table::serializer::{
    FlinkStringSerializer, I32Serializer, I64Serializer, ListSerializer, Serializers, TypeSerializer, U32Serializer,
    U64Serializer,
};
use cow_state_table::StateTable;
use std::collections::BTreeMap;

type Counts = StateTable<i64, i32, i64>;
type Lists = StateTable<i64, i32, Vec<i64>>;
type Names = StateTable<i64, i32, String>;

const COUNTS: Serializers<I64Serializer, I32Serializer, I64Serializer> = Serializers {
    key: I64Serializer,
    namespace: I32Serializer,
    state: I64Serializer,
};
const LISTS: Serializers<I64Serializer, I32Serializer, ListSerializer<I64Serializer>> = Serializers {
    key: I64Serializer,
    namespace: I32Serializer,
    state: ListSerializer(I64Serializer),
};
const NAMES: Serializers<I64Serializer, I32Serializer, FlinkStringSerializer> = Serializers {
    key: I64Serializer,
    namespace: I32Serializer,
    state: FlinkStringSerializer,
};

fn ctx(max: u32, first: u32, last: u32) -> KeyGroupContext {
    KeyGroupContext::new(max, KeyGroupRange::of(first, last).unwrap()).unwrap()
}

/// Three states over keys `0..n` (restricted to `context`'s range), namespaces 0..3.
fn tables(n: i64, context: KeyGroupContext) -> (Counts, Lists, Names) {
    let (mut a, mut b, mut c) = (Counts::new(), Lists::new(), Names::new());
    for k in 0..n {
        if !context.range().contains(context.key_group_of(&k)) {
            continue;
        }
        a.put(k, (k % 3) as i32, k * 7);
        if k % 2 == 0 {
            b.put(k, 1, (0..k % 5).collect());
        }
        if k % 3 == 0 {
            c.put(k, -1, format!("k{k}é😀"));
        }
    }
    (a, b, c)
}

fn metas() -> Vec<StateMeta> {
    vec![
        StateMeta::new(
            0,
            "counts",
            StateKind::Value,
            COUNTS.namespace.identity(),
            COUNTS.state.identity(),
        ),
        StateMeta::new(
            1,
            "lists",
            StateKind::List,
            LISTS.namespace.identity(),
            LISTS.state.identity(),
        ),
        StateMeta::new(
            2,
            "names",
            StateKind::Value,
            NAMES.namespace.identity(),
            NAMES.state.identity(),
        ),
    ]
}

/// Writes the three tables as one stream.
fn write(id: u64, context: KeyGroupContext, t: &mut (Counts, Lists, Names)) -> Vec<u8> {
    let (sa, sb, sc) = (
        t.0.snapshot().unwrap(),
        t.1.snapshot().unwrap(),
        t.2.snapshot().unwrap(),
    );
    let (pa, pb, pc) = (
        KeyGroupPartition::new(&sa, context),
        KeyGroupPartition::new(&sb, context),
        KeyGroupPartition::new(&sc, context),
    );
    let mut out = Vec::new();
    let summary = write_stream(
        id,
        context,
        &COUNTS.key.identity(),
        &metas(),
        &mut |state, kg, buf| {
            match state {
                0 => pa.write_key_group(buf, kg, &COUNTS),
                1 => pb.write_key_group(buf, kg, &LISTS),
                _ => pc.write_key_group(buf, kg, &NAMES),
            }
            .map(|_| ())
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(summary.bytes, out.len() as u64);
    assert_eq!(summary.entries, (t.0.len() + t.1.len() + t.2.len()) as u64);
    assert_eq!(summary.key_groups, context.range().number_of_key_groups());
    assert_eq!(summary.states, 3);
    out
}

fn read_state<KS, NS, SS>(
    stream: &StreamCheckpoint<'_>,
    index: usize,
    serializers: &Serializers<KS, NS, SS>,
) -> BTreeMap<(KS::Value, NS::Value), SS::Value>
where
    KS: cow_state_table::serializer::KeySerializer<Value: Ord>,
    NS: cow_state_table::serializer::NamespaceSerializer<Value: Ord>,
    SS: TypeSerializer,
{
    let mut out = Vec::new();
    for kg in stream.key_groups() {
        let before = out.len();
        stream.decode_into(index, kg, serializers, &mut out).unwrap();
        assert_eq!(out.len() - before, {
            let body = stream.body(index, kg).unwrap();
            i32::from_be_bytes(body[..4].try_into().unwrap()) as usize
        });
    }
    let n = out.len();
    let map: BTreeMap<_, _> = out.into_iter().map(|(k, ns, s)| ((k, ns), s)).collect();
    assert_eq!(map.len(), n, "a (key, namespace) written twice");
    map
}

fn contents<N: Ord + Clone, S: Clone>(t: &StateTable<i64, N, S>) -> BTreeMap<(i64, N), S> {
    t.iter().map(|(k, n, s)| ((*k, n.clone()), s.clone())).collect()
}

#[test]
fn round_trip_several_states_and_ranges() {
    for (max, first, last, n) in [
        (128, 0, 127, 2000),
        (128, 10, 20, 2000),
        (16, 5, 5, 300),
        (7, 0, 6, 50),
        (1, 0, 0, 40),
    ] {
        let context = ctx(max, first, last);
        let mut t = tables(n, context);
        assert!(!t.0.is_empty() && !t.1.is_empty() && !t.2.is_empty());
        let bytes = write(42 + u64::from(max), context, &mut t);
        let stream = StreamCheckpoint::parse(&bytes).unwrap();
        assert_eq!(stream.checkpoint_id(), 42 + u64::from(max));
        assert_eq!(stream.context(), context);
        assert_eq!(stream.key_serializer(), "i64");
        assert_eq!(stream.states(), metas().as_slice());
        let indices = ["counts", "lists", "names", "none"].map(|name| stream.state_index(name));
        assert_eq!(indices, [Some(0), Some(1), Some(2), None]);
        assert_eq!((stream.len(), stream.is_empty()), (bytes.len(), false));
        let debug = format!("{stream:?}");
        let len = format!("len: {}", bytes.len());
        assert!(
            debug.starts_with("StreamCheckpoint {") && debug.contains(&len),
            "{debug}"
        );
        assert!(debug.contains("base: None") && debug.contains("\"lists\""), "{debug}");
        assert_eq!(read_state(&stream, 0, &COUNTS), contents(&t.0));
        assert_eq!(read_state(&stream, 1, &LISTS), contents(&t.1));
        assert_eq!(read_state(&stream, 2, &NAMES), contents(&t.2));
    }
}

#[test]
fn empty_range_and_no_states() {
    let context = KeyGroupContext::new(8, KeyGroupRange::with_len(0, 0).unwrap()).unwrap();
    let mut bytes = Vec::new();
    let summary = write_stream(1, context, "i64", &metas(), &mut |_, _, _| unreachable!(), &mut bytes).unwrap();
    assert_eq!(summary.key_group_bytes, 0);
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    assert_eq!(stream.key_group_offsets().count(), 0);
    assert_eq!(stream.key_group_section().start, stream.key_group_section().end);

    let context = ctx(4, 1, 2);
    let mut bytes = Vec::new();
    write_stream(2, context, "i64", &[], &mut |_, _, _| unreachable!(), &mut bytes).unwrap();
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    assert!(stream.states().is_empty());
    // Each key group's section is just its int id.
    let section = &bytes[stream.key_group_section().start as usize..stream.key_group_section().end as usize];
    assert_eq!(section, [0, 0, 0, 1, 0, 0, 0, 2]);
    assert!(matches!(
        stream.body(0, 1),
        Err(StreamError::NoSuchState { index: 0, count: 0 })
    ));
}

/// The key-group section is, byte for byte, what the backport's loop writes: per key group `writeInt(kg)`, then
/// per state `writeShort(id)` and `writeMappingsInKeyGroup` (here: the same partition's standalone V2 body).
#[test]
fn key_group_section_is_the_backports_layout() {
    let context = ctx(32, 3, 17);
    let mut t = tables(500, context);
    let bytes = write(9, context, &mut t);
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    let (sa, sb, sc) = (
        t.0.snapshot().unwrap(),
        t.1.snapshot().unwrap(),
        t.2.snapshot().unwrap(),
    );
    let (pa, pb, pc) = (
        KeyGroupPartition::new(&sa, context),
        KeyGroupPartition::new(&sb, context),
        KeyGroupPartition::new(&sc, context),
    );
    let mut expected = Vec::new();
    let mut offsets = Vec::new();
    let base = stream.key_group_section().start;
    for kg in context.range() {
        offsets.push((kg, base + expected.len() as u64));
        expected.extend_from_slice(&(kg as i32).to_be_bytes());
        for (id, body) in [
            (0i16, {
                let mut b = Vec::new();
                pa.write_key_group(&mut b, kg, &COUNTS).unwrap();
                b
            }),
            (1, {
                let mut b = Vec::new();
                pb.write_key_group(&mut b, kg, &LISTS).unwrap();
                b
            }),
            (2, {
                let mut b = Vec::new();
                pc.write_key_group(&mut b, kg, &NAMES).unwrap();
                b
            }),
        ] {
            expected.extend_from_slice(&id.to_be_bytes());
            assert_eq!(stream.body(id as usize, kg).unwrap(), body.as_slice());
            expected.extend_from_slice(&body);
        }
    }
    let section = stream.key_group_section();
    assert_eq!(
        &bytes[section.start as usize..section.end as usize],
        expected.as_slice()
    );
    assert_eq!(stream.key_group_offsets().collect::<Vec<_>>(), offsets);
    for (kg, offset) in stream.key_group_offsets() {
        assert_eq!(bytes[offset as usize..offset as usize + 4], (kg as i32).to_be_bytes());
    }
    assert_eq!(&bytes[..8], &MAGIC);
}

fn small_stream() -> Vec<u8> {
    let context = ctx(4, 1, 3);
    write(5, context, &mut tables(12, context))
}

/// Parse and decode everything; the first error as text.
fn read_everything(bytes: &[u8]) -> Result<(), String> {
    let stream = StreamCheckpoint::parse(bytes).map_err(|e| e.to_string())?;
    for kg in stream.key_groups() {
        stream
            .decode_into(0, kg, &COUNTS, &mut Vec::new())
            .map_err(|e| e.to_string())?;
        stream
            .decode_into(1, kg, &LISTS, &mut Vec::new())
            .map_err(|e| e.to_string())?;
        stream
            .decode_into(2, kg, &NAMES, &mut Vec::new())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn every_flipped_byte_is_rejected_by_parse() {
    let bytes = small_stream();
    assert!(bytes.len() > 200, "{}", bytes.len());
    read_everything(&bytes).unwrap();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let err = StreamCheckpoint::parse(&bad).expect_err(&format!("flip {mask:#04x} at byte {i} accepted"));
            // Every message names an offset or the magic.
            let text = err.to_string();
            assert!(text.contains("offset") || text.contains("magic"), "byte {i}: {text}");
        }
    }
}

#[test]
fn every_prefix_and_an_extension_are_rejected() {
    let bytes = small_stream();
    for len in 0..bytes.len() {
        let err = StreamCheckpoint::parse(&bytes[..len]).expect_err(&format!("prefix of {len} bytes accepted"));
        if len >= 8 {
            assert!(!matches!(err, StreamError::BadMagic { .. }), "{len}: {err}");
        } else {
            assert!(matches!(err, StreamError::BadMagic { .. }), "{len}: {err}");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        StreamCheckpoint::parse(&longer),
        Err(StreamError::LengthMismatch { .. } | StreamError::Checksum { .. })
    ));
}

// ---- forged streams: consistent checksums around wrong content --------------------------------------------

/// Recomputes the header CRC (at `header_len - 4`), every section CRC and the trailer CRC of `bytes`, whose
/// layout (header length, states, key groups) is taken from `template`.
fn reseal(bytes: &mut [u8], template: &[u8]) {
    let t = StreamCheckpoint::parse(template).unwrap();
    let header_len = t.key_group_section().start as usize;
    let crc = crc32c::crc32c(&bytes[..header_len - 4]);
    bytes[header_len - 4..header_len].copy_from_slice(&crc.to_be_bytes());
    let trailer = t.key_group_section().end as usize;
    let entry = 12 + 8 * t.states().len();
    let offsets: Vec<u64> = t.key_group_offsets().map(|(_, o)| o).collect();
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).map_or(trailer, |&o| o as usize);
        let crc = crc32c::crc32c(&bytes[start as usize..end]);
        let at = trailer + i * entry + 8;
        bytes[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    let n = bytes.len();
    let crc = crc32c::crc32c(&bytes[trailer..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn typed_errors_for_each_check() {
    let bytes = small_stream();
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    let header_len = stream.key_group_section().start as usize;
    let (kg1, off1) = stream.key_group_offsets().nth(1).unwrap();
    drop(stream);

    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(StreamCheckpoint::parse(&b), Err(StreamError::BadMagic { .. })));
    let mut b = bytes.clone();
    // Version 2 is a delta stream (docs/FORMAT.md, "Delta streams"); 3 is unknown.
    b[9] = 3;
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::UnsupportedVersion { version: 3 })
    ));
    let mut b = bytes.clone();
    b[11] = 1;
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::UnsupportedBodyFormat { format: 1 })
    ));
    let mut b = bytes.clone();
    b[13] ^= 1; // checkpoint id
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::Checksum { what: "header", offset, .. }) if offset == header_len as u64 - 4
    ));
    // A body byte: that key group's checksum.
    let mut b = bytes.clone();
    b[off1 as usize + 4 + 2 + 3] ^= 1;
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::KeyGroupChecksum {
            key_group,
            offset,
            stored,
            computed,
        }) => {
            assert_eq!((key_group, offset), (kg1, off1));
            assert_ne!(stored, computed);
        }
        other => panic!("{other:?}"),
    }
    // The recorded length.
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 12 + 7] ^= 1;
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::LengthMismatch { .. })
    ));

    // Forged, checksums recomputed: key-group id, state id, meta section, body offsets.
    let mut b = bytes.clone();
    b[off1 as usize + 3] ^= 1;
    reseal(&mut b, &bytes);
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::KeyGroupIdMismatch {
            offset,
            expected,
            found,
        }) => {
            assert_eq!((offset, expected, found), (off1, kg1, (kg1 ^ 1) as i32));
        }
        other => panic!("{other:?}"),
    }
    let mut b = bytes.clone();
    b[off1 as usize + 5] = 9;
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::StateIdMismatch {
            expected: 0,
            found: 9,
            ..
        })
    ));
    // A body whose count is negative.
    let mut b = bytes.clone();
    b[off1 as usize + 4 + 2] = 0x80;
    reseal(&mut b, &bytes);
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::NotAV2Body {
            key_group,
            state: 0,
            reason,
            ..
        }) => {
            assert_eq!((key_group, reason), (kg1, "negative count"));
        }
        other => panic!("{other:?}"),
    }
    // Meta: the second state's id (right after the state count) set to 0, a duplicate.
    let key_id_len = u16::from_be_bytes([bytes[32], bytes[33]]) as usize;
    let states_at = 34 + key_id_len;
    assert_eq!(&bytes[states_at..states_at + 4], &[0, 3, 0, 0]);
    let first_len = 2 + 2 + 6 + 1 + 2 + 3 + 2 + 3; // id, "counts", kind, "i32", "i64"
    let second_id = states_at + 2 + first_len;
    assert_eq!(&bytes[second_id..second_id + 2], &[0, 1]);
    let mut b = bytes.clone();
    b[second_id + 1] = 0;
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::InvalidMeta { state: 1, .. })
    ));
    let mut b = bytes.clone();
    b[states_at + 2 + 2 + 2 + 6] = 0; // first state's kind: Flink's UNKNOWN
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::InvalidMeta { state: 0, .. })
    ));
    // A key-group range beyond the max parallelism.
    let mut b = bytes.clone();
    b[23] = 3; // max parallelism 4 -> 3, range 1..=3
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::InvalidHeader { offset: 20, .. })
    ));
    // A trailer offset that does not follow the previous section.
    let trailer = bytes.len() - 12 - 3 * (12 + 24);
    let mut b = bytes.clone();
    b[trailer + 12 + 24 + 7] ^= 1;
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::InvalidTrailer { key_group: 2, .. })
    ));
    // A body length that runs into the trailer.
    let mut b = bytes.clone();
    b[trailer + 12] = 0x7f;
    reseal(&mut b, &bytes);
    assert!(matches!(
        StreamCheckpoint::parse(&b),
        Err(StreamError::InvalidTrailer { key_group: 1, .. })
    ));
}

#[test]
fn huge_counts_in_a_tiny_input_allocate_nothing() {
    // 32767 states claimed, no bytes behind them.
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[0, 1, 0, 2]);
    b.extend_from_slice(&1u64.to_be_bytes());
    b.extend_from_slice(&128u32.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&128u32.to_be_bytes());
    b.extend_from_slice(&[0, 0]); // key serializer ""
    b.extend_from_slice(&[0x7f, 0xff]);
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::Truncated {
            what: "meta section",
            source,
        }) => assert_eq!(source.offset, 34),
        other => panic!("{other:?}"),
    }
    // A valid header of 32768 key groups and no trailer: the trailer is refused before any table is built.
    let context = KeyGroupContext::all(32768).unwrap();
    let mut out = Vec::new();
    write_stream(
        1,
        context,
        "i64",
        &metas(),
        &mut |_, _, b| {
            b.extend_from_slice(&[0; 4]);
            Ok(())
        },
        &mut out,
    )
    .unwrap();
    let header_len = StreamCheckpoint::parse(&out).unwrap().key_group_section().start as usize;
    assert!(matches!(
        StreamCheckpoint::parse(&out[..header_len + 100]),
        Err(StreamError::Truncated { what: "trailer", .. })
    ));
}

#[test]
fn decoding_checks_serializers_and_key_groups() {
    let bytes = small_stream();
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    let kg = stream.key_groups().start();
    let wrong = Serializers::new(U64Serializer, I32Serializer, I64Serializer);
    match stream.decode_into(0, kg, &wrong, &mut Vec::new()) {
        Err(StreamError::SerializerMismatch {
            state: 0,
            role: SerializerRole::Key,
            stored,
            expected,
            ..
        }) => {
            assert_eq!((stored.as_str(), expected.as_str()), ("i64", "u64"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        stream.decode_into(1, kg, &COUNTS, &mut Vec::new()),
        Err(StreamError::SerializerMismatch {
            state: 1,
            role: SerializerRole::State,
            ..
        })
    ));
    assert!(matches!(
        stream.body(3, kg),
        Err(StreamError::NoSuchState { index: 3, count: 3 })
    ));
    assert!(matches!(
        stream.body(0, 0),
        Err(StreamError::KeyGroupNotInStream { key_group: 0, .. })
    ));

    // A body holding a key of another key group: the checksums agree, decoding refuses it.
    let context = ctx(4, 0, 3);
    let key = (0i64..).find(|k| context.key_group_of(k) == 1).unwrap();
    let mut out = Vec::new();
    let states = [StateMeta::new(7, "s", StateKind::Reducing, "i32", "i64")];
    write_stream(
        3,
        context,
        "i64",
        &states,
        &mut |_, kg, b| {
            if kg == 2 {
                b.extend_from_slice(&1i32.to_be_bytes());
                b.extend_from_slice(&0i32.to_be_bytes());
                b.extend_from_slice(&key.to_be_bytes());
                b.extend_from_slice(&5i64.to_be_bytes());
            } else {
                b.extend_from_slice(&[0; 4]);
            }
            Ok(())
        },
        &mut out,
    )
    .unwrap();
    let stream = StreamCheckpoint::parse(&out).unwrap();
    let body_at = stream.body_range(0, 2).unwrap().start;
    match stream.decode_into(0, 2, &COUNTS, &mut Vec::new()) {
        Err(StreamError::Decode {
            state: 0,
            source:
                FormatError::WrongKeyGroup {
                    key_group: 2,
                    offset,
                    found: 1,
                },
        }) => {
            assert_eq!(offset, body_at + 4 + 4);
        }
        other => panic!("{other:?}"),
    }
}

/// A body writer that writes every body empty (a V2 count of 0).
fn empty_bodies(_: usize, _: u32, body: &mut Vec<u8>) -> Result<(), WriteError> {
    body.extend_from_slice(&[0; 4]);
    Ok(())
}

#[test]
fn writer_rejects_bad_input_and_reports_failures() {
    let context = ctx(4, 0, 1);
    let empty = &mut empty_bodies;
    let m = |id, name: &str| StateMeta::new(id, name, StateKind::Value, "void", "i64");
    for states in [
        vec![m(0, "a"), m(0, "b")],
        vec![m(0, "a"), m(1, "a")],
        vec![m(32768, "a")],
    ] {
        assert!(matches!(
            write_stream(1, context, "i64", &states, empty, &mut Vec::new()),
            Err(StreamError::InvalidInput(_))
        ));
    }
    let long = "x".repeat(70_000);
    assert!(matches!(
        write_stream(1, context, &long, &[], empty, &mut Vec::new()),
        Err(StreamError::InvalidInput(_))
    ));
    // Ids need not be positions (but are unique and below 32768).
    let mut out = Vec::new();
    write_stream(1, context, "i64", &[m(32767, "a"), m(3, "b")], empty, &mut out).unwrap();
    let s = StreamCheckpoint::parse(&out).unwrap();
    assert_eq!(s.states()[0].id, 32767);

    let failing = &mut |state: usize, kg: u32, b: &mut Vec<u8>| -> Result<(), WriteError> {
        if kg == 1 && state == 1 {
            return Err(WriteError::TooManyEntries {
                key_group: kg,
                count: usize::MAX,
            });
        }
        b.extend_from_slice(&[0; 4]);
        Ok(())
    };
    assert!(matches!(
        write_stream(1, context, "i64", &[m(0, "a"), m(1, "b")], failing, &mut Vec::new()),
        Err(StreamError::Body {
            key_group: 1,
            state: 1,
            ..
        })
    ));
    for (body, reason) in [(vec![0u8; 3], "shorter"), (vec![0xff; 4], "negative")] {
        let err = write_stream(
            1,
            context,
            "i64",
            &[m(0, "a")],
            &mut |_, _, b| {
                b.extend_from_slice(&body);
                Ok(())
            },
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::NotAV2Body {
                    key_group: 0,
                    state: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(reason), "{err}");
    }
    // An output that fails mid-way: the I/O error with its source, and a prefix no reader accepts.
    let mut full = Vec::new();
    write_stream(1, context, "i64", &[m(0, "a")], empty, &mut full).unwrap();
    for n in [0, 10, full.len() / 2, full.len() - 1] {
        let mut w = FailingWriter::new(n);
        match write_stream(1, context, "i64", &[m(0, "a")], empty, &mut w) {
            Err(StreamError::Io(e)) => {
                assert!(matches!(StorageError::from_io(&e), Some(StorageError::Injected { .. })))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(w.written(), &full[..n]);
        assert!(StreamCheckpoint::parse(w.written()).is_err());
    }
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<StreamCheckpoint<'static>>();
    send_sync::<StreamError>();
    send_sync::<StateMeta>();
    let _ = U32Serializer;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any max parallelism, range, number of states and contents: what is written reads back, state by state,
    /// and each body is what the partition writes for it.
    #[test]
    fn round_trip_any_range(
        max in 1u32..64,
        a in 0u32..64,
        b in 0u32..64,
        states in proptest::collection::vec(
            proptest::collection::btree_map((0i64..200, -2i32..3), proptest::prelude::any::<i64>(), 0..60),
            0..4,
        ),
        id in proptest::prelude::any::<u64>(),
    ) {
        let (first, last) = ((a % max).min(b % max), (a % max).max(b % max));
        let context = ctx(max, first, last);
        let mut tables: Vec<Counts> = states
            .iter()
            .map(|m| {
                let mut t = Counts::new();
                for (&(k, n), &v) in m {
                    if context.range().contains(context.key_group_of(&k)) {
                        t.put(k, n, v);
                    }
                }
                t
            })
            .collect();
        let snapshots: Vec<_> = tables.iter_mut().map(|t| t.snapshot().unwrap()).collect();
        let partitions: Vec<_> = snapshots.iter().map(|s| KeyGroupPartition::new(s, context)).collect();
        let metas: Vec<StateMeta> = (0..states.len())
            .map(|i| StateMeta::new(i as u16, format!("s{i}"), StateKind::Value, "i32", "i64"))
            .collect();
        let mut bytes = Vec::new();
        let summary = write_stream(id, context, "i64", &metas, &mut |s, kg, buf| {
            partitions[s].write_key_group(buf, kg, &COUNTS).map(|_| ())
        }, &mut bytes).unwrap();
        proptest::prop_assert_eq!(summary.bytes, bytes.len() as u64);
        let stream = StreamCheckpoint::parse(&bytes).unwrap();
        proptest::prop_assert_eq!(stream.checkpoint_id(), id);
        proptest::prop_assert_eq!(stream.context(), context);
        for (i, t) in tables.iter().enumerate() {
            proptest::prop_assert_eq!(read_state(&stream, i, &COUNTS), contents(t));
            for kg in context.range() {
                let mut body = Vec::new();
                partitions[i].write_key_group(&mut body, kg, &COUNTS).unwrap();
                proptest::prop_assert_eq!(stream.body(i, kg).unwrap(), body.as_slice());
            }
        }
    }
}

/// A refused header value is reported at its field's offset, in a full stream and in a delta stream, whose fields
/// after the checkpoint id lie 20 bytes further (the base's fingerprint, docs/FORMAT.md §11).
#[test]
fn header_errors_name_their_field_in_full_and_delta_streams() {
    use cow_state_table::backend::stream::{write_delta_stream, StreamFingerprint};
    let context = ctx(4, 1, 3);
    let empty = &mut empty_bodies;
    let full = write(5, context, &mut tables(12, context));
    let mut delta = Vec::new();
    let base = StreamFingerprint {
        id: 4,
        len: 100,
        trailer_crc: 7,
    };
    write_delta_stream(6, base, context, &COUNTS.key.identity(), &metas(), empty, &mut delta).unwrap();
    for (bytes, shift) in [(&full, 0), (&delta, 20)] {
        // max parallelism at 20 + shift, the range's first key group at 24 + shift, its length at 28 + shift.
        // The offset of the `InvalidHeader` refusing `value` written at `field + shift`.
        let forged = |field: usize, value: &[u8]| {
            let mut b = bytes.clone();
            b[field + shift..field + shift + value.len()].copy_from_slice(value);
            reseal(&mut b, bytes);
            match StreamCheckpoint::parse(&b) {
                Err(StreamError::InvalidHeader { offset, .. }) => offset,
                other => panic!("shift {shift}, field {field} = {value:?}: {other:?}"),
            }
        };
        let at = |field: usize| (field + shift) as u64;
        let be = u32::to_be_bytes;
        assert_eq!(forged(28, &be(40_000)), at(28), "more key groups than Flink allows");
        assert_eq!(
            forged(24, &[be(1), be(0)].concat()),
            at(24),
            "an empty range that starts elsewhere than 0"
        );
        assert_eq!(forged(24, &be(u32::MAX)), at(24), "a range past u32");
        assert_eq!(forged(20, &be(3)), at(20), "a range beyond the max parallelism");
    }
}

/// A stream cut after its header, too short for the trailer the header implies, says where the trailer was
/// looked for and how many bytes it needs and has.
#[test]
fn a_stream_too_short_for_its_trailer_says_what_is_missing() {
    use cow_state_table::serializer::{DecodeError, DecodeErrorKind};
    let bytes = small_stream();
    let stream = StreamCheckpoint::parse(&bytes).unwrap();
    let header_len = stream.key_group_section().start;
    let trailer_len = bytes.len() as u64 - stream.key_group_section().end;
    for extra in [0, 5] {
        let cut = &bytes[..(header_len + extra) as usize];
        match StreamCheckpoint::parse(cut) {
            Err(StreamError::Truncated {
                what: "trailer",
                source:
                    DecodeError {
                        offset,
                        kind: DecodeErrorKind::UnexpectedEnd { needed, remaining },
                        ..
                    },
            }) => assert_eq!((offset, needed, remaining), (header_len, trailer_len, extra)),
            other => panic!("{extra} bytes after the header: {other:?}"),
        }
    }
}

/// A trailer that does not match its checksum is reported at the checksum, the stream's last four bytes.
#[test]
fn a_trailer_checksum_mismatch_is_reported_at_the_checksum() {
    let bytes = small_stream();
    let trailer_start = StreamCheckpoint::parse(&bytes).unwrap().key_group_section().end as usize;
    let mut b = bytes.clone();
    b[trailer_start + 9] ^= 1; // a key group's section checksum, inside the trailer
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::Checksum {
            what: "trailer",
            offset,
            ..
        }) => assert_eq!(offset, bytes.len() as u64 - 4),
        other => panic!("{other:?}"),
    }
}

/// A body whose count is negative is not a V2 body; the error names its key group, state and length.
#[test]
fn a_negative_body_count_is_refused_with_the_body_length() {
    let bytes = small_stream();
    let body = StreamCheckpoint::parse(&bytes).unwrap().body_range(1, 2).unwrap();
    let mut b = bytes.clone();
    b[body.start as usize] |= 0x80;
    reseal(&mut b, &bytes);
    match StreamCheckpoint::parse(&b) {
        Err(StreamError::NotAV2Body {
            key_group: 2,
            state: 1,
            len,
            reason: "negative count",
        }) => assert_eq!(len as u64, body.end - body.start),
        other => panic!("{other:?}"),
    }
}
