//! Conformance vectors of the checkpoint stream and the Flink string serializer (tests/vectors/*.hex, described
//! in tests/vectors/stream_long_int_long.md and flink_string.md).
//!
//! * `stream_long_int_long`: two states of Long keys / Integer namespaces / Long values over key groups 1..=2 of
//!   4. Its key-group section is compared with bytes built here by hand the way the backport's
//!   `HeapKeyedStateBackend` writes them (`writeInt(keyGroupId)`, then per state `writeShort(kvStateId)` and
//!   `writeMappingsInKeyGroup`: `writeInt(count)` and per entry namespace, key, state), the whole stream with
//!   the writer's output and with a container built here from docs/FORMAT.md.
//! * `flink_string`: `StringValue.writeString` bytes for ASCII, 2- and 3-byte characters, surrogate pairs, the
//!   empty string, null and a two-byte length; written, read back, and checked against a reference encoder.

#[path = "vectors/spec.rs"]
mod spec;

use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint};
use cow_state_table::format::WriteOptions;
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition, KeyGroupRange};
use cow_state_table::serializer::{
    DecodeErrorKind, FlinkNullableStringSerializer, FlinkStringError, FlinkStringSerializer, I32Serializer,
    I64Serializer, Input, Serializers, TypeSerializer,
};
use cow_state_table::StateTable;
use proptest::prelude::*;
use std::path::PathBuf;

fn read_vector(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Java `DataOutputStream`, the three calls the backport makes.
#[derive(Default)]
struct JavaOut(Vec<u8>);
impl JavaOut {
    fn write_int(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn write_short(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn write_long(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// `writeMappingsInKeyGroup` for `(namespace, key, value)` mappings of Integer / Long / Long.
    fn mappings(&mut self, entries: &[(i32, i64, i64)]) -> &mut Self {
        self.write_int(entries.len() as i32);
        for &(namespace, key, value) in entries {
            self.write_int(namespace).write_long(key).write_long(value);
        }
        self
    }
}

const SERS: Serializers<I64Serializer, I32Serializer, I64Serializer> = Serializers {
    key: I64Serializer,
    namespace: I32Serializer,
    state: I64Serializer,
};

/// State 0 "count" (Value) and state 1 "sum" (Reducing): (key, namespace, value).
const COUNT: [(i64, i32, i64); 4] = [(3, 0, 30), (7, 1, 70), (1, 0, 10), (5, 0, -1)];
const SUM: [(i64, i32, i64); 1] = [(7, 0, 700)];

fn context() -> KeyGroupContext {
    KeyGroupContext::new(4, KeyGroupRange::of(1, 2).unwrap()).unwrap()
}

fn states() -> [StateMeta; 2] {
    [
        StateMeta::new(0, "count", StateKind::Value, "i32", "i64"),
        StateMeta::new(1, "sum", StateKind::Reducing, "i32", "i64"),
    ]
}

#[test]
fn stream_long_int_long() {
    let ctx = context();
    // The keys' key groups (Flink's murmur hash of Long.hashCode, max parallelism 4), as the vector assumes.
    for (k, kg) in [(3i64, 1), (7, 1), (1, 2), (5, 2)] {
        assert_eq!(ctx.key_group_of(&k), kg, "key {k}");
    }

    // 1. The key-group section by hand, as the backport writes it.
    let mut java = JavaOut::default();
    java.write_int(1) // key group 1
        .write_short(0)
        .mappings(&[(0, 3, 30), (1, 7, 70)])
        .write_short(1)
        .mappings(&[(0, 7, 700)]);
    java.write_int(2) // key group 2
        .write_short(0)
        .mappings(&[(0, 1, 10), (0, 5, -1)])
        .write_short(1)
        .mappings(&[]);
    let section = java.0;

    // 2. The container around it, from docs/FORMAT.md (independent of the writer).
    let mut header = b"COWKEYED".to_vec();
    header.extend_from_slice(&[0, 1, 0, 2]);
    header.extend_from_slice(&7u64.to_be_bytes());
    for v in [4u32, 1, 2] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    let id = |s: &str| [&(s.len() as u16).to_be_bytes()[..], s.as_bytes()].concat();
    header.extend(id("i64"));
    header.extend_from_slice(&2u16.to_be_bytes());
    for (sid, name, kind) in [(0u16, "count", 1u8), (1, "sum", 3)] {
        header.extend_from_slice(&sid.to_be_bytes());
        header.extend(id(name));
        header.push(kind);
        header.extend(id("i32"));
        header.extend(id("i64"));
    }
    header.extend_from_slice(&spec::crc32c(&header).to_be_bytes());
    let h = header.len() as u64;
    assert_eq!(h, 81);
    let kg1 = 4 + 2 + 44 + 2 + 24; // id, short, 2 entries, short, 1 entry
    let mut expected = header;
    expected.extend_from_slice(&section);
    let mut trailer = Vec::new();
    for (offset, range, lens) in [(h, 0..kg1, [44u64, 24]), (h + kg1 as u64, kg1..section.len(), [44, 4])] {
        trailer.extend_from_slice(&offset.to_be_bytes());
        trailer.extend_from_slice(&spec::crc32c(&section[range]).to_be_bytes());
        for l in lens {
            trailer.extend_from_slice(&l.to_be_bytes());
        }
    }
    let total = expected.len() + trailer.len() + 12;
    trailer.extend_from_slice(&(total as u64).to_be_bytes());
    trailer.extend_from_slice(&spec::crc32c(&trailer).to_be_bytes());
    expected.extend_from_slice(&trailer);

    // 3. The golden file.
    let golden = spec::from_hex(&read_vector("stream_long_int_long.hex"));
    assert_eq!(
        spec::to_hex(&golden),
        spec::to_hex(&expected),
        "golden file vs hand-built bytes"
    );

    // 4. The writer (tables inserted in another order; canonical bodies).
    let mut count: StateTable<i64, i32, i64> = StateTable::new();
    let mut sum: StateTable<i64, i32, i64> = StateTable::new();
    for &(k, n, v) in COUNT.iter().rev() {
        count.put(k, n, v);
    }
    for &(k, n, v) in &SUM {
        sum.put(k, n, v);
    }
    let (sc, ss) = (count.snapshot().unwrap(), sum.snapshot().unwrap());
    let (pc, ps) = (KeyGroupPartition::new(&sc, ctx), KeyGroupPartition::new(&ss, ctx));
    let mut written = Vec::new();
    let summary = write_stream(
        7,
        ctx,
        "i64",
        &states(),
        &mut |state, kg, buf| {
            let p = if state == 0 { &pc } else { &ps };
            p.write_key_group_with(buf, kg, &SERS, WriteOptions::canonical())
                .map(|_| ())
        },
        &mut written,
    )
    .unwrap();
    assert_eq!(spec::to_hex(&written), spec::to_hex(&golden), "writer vs golden file");
    assert_eq!((summary.entries, summary.bytes, summary.header_bytes), (5, 281, 81));

    // 5. The reader.
    let stream = StreamCheckpoint::parse(&golden).unwrap();
    assert_eq!(stream.key_group_section(), 81..213);
    assert_eq!(&golden[81..213], section.as_slice());
    assert_eq!(stream.key_group_offsets().collect::<Vec<_>>(), vec![(1, 81), (2, 157)]);
    assert_eq!(stream.states(), &states());
    assert_eq!(stream.body(1, 2).unwrap(), &[0, 0, 0, 0]);
    for (index, expected) in [(0, &COUNT[..]), (1, &SUM[..])] {
        let mut read = Vec::new();
        for kg in [1, 2] {
            stream.decode_into(index, kg, &SERS, &mut read).unwrap();
        }
        let mut expected = expected.to_vec();
        read.sort_unstable();
        expected.sort_unstable();
        assert_eq!(read, expected, "state {index}");
    }
}

/// (name, value, bytes built by hand from `StringValue.writeString`).
fn string_cases() -> Vec<(&'static str, Option<String>, Vec<u8>)> {
    let mut long = vec![0x80, 0x01];
    long.extend(std::iter::repeat_n(b'a', 127));
    vec![
        ("null", None, vec![0x00]),
        ("empty", Some(String::new()), vec![0x01]),
        ("ascii", Some("Flink".into()), vec![0x06, b'F', b'l', b'i', b'n', b'k']),
        ("two_byte", Some("é".into()), vec![0x02, 0xE9, 0x01]),
        ("two_byte_mixed", Some("aß".into()), vec![0x03, b'a', 0xDF, 0x01]),
        ("three_byte_utf8", Some("€".into()), vec![0x02, 0xAC, 0x41]),
        ("three_byte_varint", Some("中".into()), vec![0x02, 0xAD, 0x9C, 0x01]),
        ("max_unit", Some("\u{FFFF}".into()), vec![0x02, 0xFF, 0xFF, 0x03]),
        (
            "surrogate_pair",
            Some("😀".into()),
            vec![0x03, 0xBD, 0xB0, 0x03, 0x80, 0xBC, 0x03],
        ),
        (
            "mixed",
            Some("hé€😀".into()),
            vec![0x06, b'h', 0xE9, 0x01, 0xAC, 0x41, 0xBD, 0xB0, 0x03, 0x80, 0xBC, 0x03],
        ),
        ("long_length", Some("a".repeat(127)), long),
    ]
}

/// The cases of tests/vectors/flink_string.hex: a `# name: ...` line, then the hex of that case.
fn golden_strings() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in read_vector("flink_string.hex").lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some((name, _)) = rest.split_once(':') {
                if !name.contains(' ') {
                    out.push((name.to_string(), String::new()));
                }
            }
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out.into_iter().map(|(n, h)| (n, spec::from_hex(&h))).collect()
}

#[test]
fn flink_string_vectors() {
    let golden = golden_strings();
    let cases = string_cases();
    assert_eq!(golden.len(), cases.len());
    for ((gname, gbytes), (name, value, bytes)) in golden.iter().zip(&cases) {
        assert_eq!(gname, name);
        assert_eq!(gbytes, bytes, "{name}: golden file vs hand-built bytes");
        let mut out = Vec::new();
        FlinkNullableStringSerializer.serialize(value, &mut out).unwrap();
        assert_eq!(&out, bytes, "{name}: nullable writer");
        let mut input = Input::new(bytes);
        assert_eq!(
            &FlinkNullableStringSerializer.deserialize(&mut input).unwrap(),
            value,
            "{name}"
        );
        assert!(input.is_empty());
        let mut input = Input::new(bytes);
        match value {
            Some(s) => {
                let mut out = Vec::new();
                FlinkStringSerializer.serialize(s, &mut out).unwrap();
                assert_eq!(&out, bytes, "{name}: writer");
                assert_eq!(&FlinkStringSerializer.deserialize(&mut input).unwrap(), s);
                assert!(input.is_empty());
            }
            None => {
                let err = FlinkStringSerializer.deserialize(&mut input).unwrap_err();
                assert_eq!(err.kind, DecodeErrorKind::FlinkString(FlinkStringError::Null));
                assert_eq!(err.offset, 0);
            }
        }
    }
    assert_eq!(FlinkStringSerializer.identity(), "flink_string");
    assert_eq!(FlinkNullableStringSerializer.identity(), "flink_string_nullable");
}

#[test]
fn flink_string_reader_refuses_what_flink_never_writes() {
    let err = |bytes: &[u8]| {
        FlinkNullableStringSerializer
            .deserialize(&mut Input::new(bytes))
            .unwrap_err()
    };
    let flink = |e: FlinkStringError, offset: u64| (DecodeErrorKind::FlinkString(e), offset);
    let kind = |bytes: &[u8]| {
        let e = err(bytes);
        (e.kind, e.offset)
    };
    // Non-canonical varints: a length 1 written in two bytes; 'a' written in two bytes.
    assert_eq!(kind(&[0x81, 0x00]), flink(FlinkStringError::NonCanonicalVarint, 1));
    assert_eq!(
        kind(&[0x02, 0xE1, 0x00]),
        flink(FlinkStringError::NonCanonicalVarint, 2)
    );
    // A length beyond Integer.MAX_VALUE, a code unit beyond 0xFFFF.
    assert_eq!(
        kind(&[0xFF, 0xFF, 0xFF, 0xFF, 0x08]),
        flink(FlinkStringError::LengthOverflow, 0)
    );
    assert_eq!(
        kind(&[0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x01]),
        flink(FlinkStringError::LengthOverflow, 0)
    );
    assert_eq!(
        kind(&[0x02, 0x80, 0x80, 0x04]),
        flink(FlinkStringError::CodeUnitOverflow, 1)
    );
    // Lone surrogates: a high one at the end, a high one followed by 'a', a low one alone.
    assert_eq!(
        kind(&[0x02, 0xBD, 0xB0, 0x03]),
        flink(FlinkStringError::UnpairedSurrogate(0xD83D), 1)
    );
    assert_eq!(
        kind(&[0x03, 0xBD, 0xB0, 0x03, 0x61]),
        flink(FlinkStringError::UnpairedSurrogate(0xD83D), 1)
    );
    assert_eq!(
        kind(&[0x02, 0x80, 0xBC, 0x03]),
        flink(FlinkStringError::UnpairedSurrogate(0xDE00), 1)
    );
    // A length the input cannot hold: refused before allocating.
    assert!(matches!(
        err(&[0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x61]).kind,
        DecodeErrorKind::LengthExceedsInput {
            length: 0x7FFF_FFFE,
            ..
        }
    ));
    // Truncated anywhere.
    for (_, value, bytes) in string_cases() {
        for len in 0..bytes.len() {
            let cut = FlinkNullableStringSerializer.deserialize(&mut Input::new(&bytes[..len]));
            assert!(cut.is_err(), "{value:?} cut at {len}: {cut:?}");
        }
    }
}

/// A reference encoder written from `StringValue.writeString`.
fn reference(s: &str) -> Vec<u8> {
    fn varint(mut v: u32, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v | 0x80) as u8);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut out = Vec::new();
    varint(units.len() as u32 + 1, &mut out);
    for u in units {
        varint(u32::from(u), &mut out);
    }
    out
}

proptest! {
    #[test]
    fn flink_string_matches_reference_and_round_trips(s in any::<String>(), t in "[a-z\u{80}-\u{7ff}\u{800}-\u{ffff}\u{10000}-\u{10ffff}]{0,200}") {
        for s in [s, t] {
            let mut out = Vec::new();
            FlinkStringSerializer.serialize(&s, &mut out).unwrap();
            prop_assert_eq!(&out, &reference(&s));
            let mut input = Input::new(&out);
            prop_assert_eq!(FlinkStringSerializer.deserialize(&mut input).unwrap(), s);
            prop_assert!(input.is_empty());
        }
    }

    #[test]
    fn flink_string_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut input = Input::new(&bytes);
        if let Ok(Some(s)) = FlinkNullableStringSerializer.deserialize(&mut input) {
            // Whatever it accepts is canonical: it re-encodes to the bytes consumed.
            let used = bytes.len() - input.remaining();
            prop_assert_eq!(reference(&s), bytes[..used].to_vec());
        }
    }
}
