//! Bad input: every kind of damage gives a typed error that says what and where; nothing panics, aborts or
//! allocates from an untrusted count.

#[path = "vectors/spec.rs"]
mod spec;

use cow_state_table::format::{
    write_checkpoint, BodyFormat, Checkpoint, EntryOrder, FormatError, SerializerRole, WriteError, WriteOptions,
};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupError, KeyGroupRange};
use cow_state_table::restore::{restore, restore_into, RestoreError};
use cow_state_table::serializer::{
    BoolSerializer, DecodeError, DecodeErrorKind, Input, ListSerializer, OptionSerializer, SerializeError, Serializers,
    StringSerializer, TypeSerializer, U32Serializer, U64Serializer, VoidNamespaceSerializer,
};
use cow_state_table::StateTable;
use proptest::prelude::*;
use spec::{container, int, Head};
use std::collections::BTreeMap;

type Sers = Serializers<U64Serializer, U32Serializer, U64Serializer>;
const SERS: Sers = Serializers {
    key: U64Serializer,
    namespace: U32Serializer,
    state: U64Serializer,
};
const MAX: u32 = 4;

fn small_table() -> StateTable<u64, u32, u64> {
    let mut table = StateTable::new();
    for k in 0..10u64 {
        table.put(k, (k % 2) as u32, k * 100);
    }
    table
}

fn contents(table: &StateTable<u64, u32, u64>) -> BTreeMap<(u64, u32), u64> {
    table.iter().map(|(k, n, s)| ((*k, *n), *s)).collect()
}

fn checkpoint(options: WriteOptions) -> Vec<u8> {
    let mut table = small_table();
    let snapshot = table.snapshot().unwrap();
    let mut bytes = Vec::new();
    write_checkpoint(
        &snapshot,
        KeyGroupContext::all(MAX).unwrap(),
        &SERS,
        options,
        &mut bytes,
    )
    .unwrap();
    bytes
}

/// Everything a reader can do with `bytes`: parse, read every key group, restore.
fn decode_all(bytes: &[u8]) -> Result<BTreeMap<(u64, u32), u64>, String> {
    let cp = Checkpoint::parse(bytes).map_err(|e| e.to_string())?;
    let read: BTreeMap<_, _> = cp
        .read_all(&SERS)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(k, n, s)| ((k, n), s))
        .collect();
    let ctx = KeyGroupContext::all(MAX).unwrap();
    let restored: StateTable<u64, u32, u64> = restore(ctx, &[bytes], &SERS).map_err(|e| e.to_string())?;
    assert_eq!(contents(&restored), read);
    Ok(read)
}

/// The bodies of a valid checkpoint, to re-seal after editing them.
fn bodies(bytes: &[u8]) -> Vec<Vec<u8>> {
    Checkpoint::parse(bytes)
        .unwrap()
        .blocks()
        .iter()
        .map(|b| bytes[b.offset as usize..(b.offset + b.length) as usize].to_vec())
        .collect()
}

fn head(body_format: u16) -> Head<'static> {
    Head {
        version: 1,
        body_format,
        max_parallelism: MAX,
        first_key_group: 0,
        key_groups: MAX,
        ids: ["u64", "u32", "u64"],
    }
}

/// A checkpoint whose key group `kg` body is `body` and whose other bodies are empty V2 bodies.
fn with_body(kg: usize, body: Vec<u8>) -> Vec<u8> {
    let mut all = vec![int(0).to_vec(); MAX as usize];
    all[kg] = body;
    container(&head(2), &all)
}

fn read_err(bytes: &[u8]) -> FormatError {
    match Checkpoint::parse(bytes).and_then(|cp| cp.read_all(&SERS)) {
        Err(e) => e,
        Ok(v) => panic!("expected an error, read {v:?}"),
    }
}

fn key_in(kg: u32) -> u64 {
    let ctx = KeyGroupContext::all(MAX).unwrap();
    (0..).find(|k| ctx.key_group_of(k) == kg).unwrap()
}

#[test]
fn the_small_checkpoint_is_valid() {
    for options in [
        WriteOptions::default(),
        WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
    ] {
        assert_eq!(decode_all(&checkpoint(options)).unwrap(), contents(&small_table()));
    }
}

#[test]
fn every_flipped_bit_is_an_error_or_harmless() {
    for options in [
        WriteOptions::canonical(),
        WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
    ] {
        let good = checkpoint(options);
        let expected = decode_all(&good).unwrap();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                match decode_all(&bad) {
                    Err(_) => {}
                    Ok(read) => assert_eq!(read, expected, "byte {i} bit {bit}"),
                }
            }
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            if let Ok(read) = decode_all(&bad) {
                assert_eq!(read, expected, "byte {i} inverted");
            }
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let good = checkpoint(WriteOptions::default());
    for len in 0..good.len() {
        assert!(decode_all(&good[..len]).is_err(), "prefix of {len} bytes");
    }
}

#[test]
fn bad_magic() {
    let mut bad = checkpoint(WriteOptions::default());
    bad[0] = b'X';
    assert!(matches!(read_err(&bad), FormatError::BadMagic { ref found } if found[0] == b'X'));
    assert!(matches!(read_err(b"COW"), FormatError::BadMagic { .. }));
    assert!(matches!(read_err(b""), FormatError::BadMagic { .. }));
}

#[test]
fn unsupported_versions() {
    let mut bad = checkpoint(WriteOptions::default());
    bad[9] = 2;
    assert_eq!(read_err(&bad), FormatError::UnsupportedVersion { version: 2 });
    let mut bad = checkpoint(WriteOptions::default());
    bad[11] = 3;
    assert_eq!(read_err(&bad), FormatError::UnsupportedBodyFormat { format: 3 });
    let msg = read_err(&bad).to_string();
    assert!(msg.contains("offset 10"), "{msg}");
}

#[test]
fn header_checksum_mismatch() {
    let mut bad = checkpoint(WriteOptions::default());
    bad[15] ^= 1; // max parallelism 4 -> 5
    match read_err(&bad) {
        FormatError::HeaderChecksum {
            offset,
            stored,
            computed,
        } => {
            assert_eq!(offset, 24 + 15 + 80);
            assert_ne!(stored, computed);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn truncated_header() {
    let good = checkpoint(WriteOptions::default());
    match read_err(&good[..30]) {
        FormatError::TruncatedHeader(DecodeError {
            offset,
            kind: DecodeErrorKind::UnexpectedEnd { .. },
            ..
        }) => assert!(offset <= 30),
        e => panic!("{e:?}"),
    }
}

#[test]
fn invalid_header_fields_behind_a_valid_checksum() {
    let mut h = head(2);
    h.max_parallelism = 0;
    let bad = container(&h, &vec![int(0).to_vec(); 4]);
    assert!(matches!(read_err(&bad), FormatError::InvalidHeader { offset: 12, .. }));

    let mut h = head(2);
    h.first_key_group = 2; // 2..=5 is not below 4
    let bad = container(&h, &vec![int(0).to_vec(); 4]);
    assert!(matches!(read_err(&bad), FormatError::InvalidHeader { .. }));

    let mut h = head(2);
    h.key_groups = 40_000;
    let bad = container(&h, &[]);
    assert!(matches!(read_err(&bad), FormatError::InvalidHeader { offset: 20, .. }));

    let mut h = head(2);
    h.key_groups = 0;
    h.first_key_group = 1;
    let bad = container(&h, &[]);
    assert!(matches!(read_err(&bad), FormatError::InvalidHeader { .. }));

    let mut h = head(2);
    h.ids = ["u64", "\u{1F600}", "u64"];
    let mut bad = container(&h, &vec![int(0).to_vec(); 4]);
    // Break the UTF-8 of the namespace identity, then re-seal the header checksum.
    let at = 24 + 5 + 2;
    bad[at] = 0xff;
    let header_end = 24 + 5 + 6 + 5 + 80;
    let crc = spec::crc32c(&bad[..header_end]);
    bad[header_end..header_end + 4].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        read_err(&bad),
        FormatError::InvalidHeader {
            offset: at as u64,
            reason: "serializer identity is not UTF-8".into()
        }
    );
}

#[test]
fn invalid_block_table() {
    let body = int(0).to_vec();
    let bodies = vec![body.clone(); 4];
    let good = container(&head(2), &bodies);
    let start = (good.len() - 16) as u64;
    let crc = spec::crc32c(&body);
    // Second body does not follow the first.
    let table = [
        (start, 4, crc),
        (start + 5, 4, crc),
        (start + 8, 4, crc),
        (start + 12, 4, crc),
    ];
    let bad = spec::container_with_table(&head(2), &table, &bodies);
    assert!(matches!(read_err(&bad), FormatError::InvalidBlock { key_group: 1, .. }));
    // Last body runs past the end.
    let table = [
        (start, 4, crc),
        (start + 4, 4, crc),
        (start + 8, 4, crc),
        (start + 12, u64::MAX, crc),
    ];
    let bad = spec::container_with_table(&head(2), &table, &bodies);
    assert!(matches!(read_err(&bad), FormatError::InvalidBlock { key_group: 3, .. }));
}

#[test]
fn trailing_data_after_the_last_body() {
    let mut bad = checkpoint(WriteOptions::default());
    let len = bad.len() as u64;
    bad.extend_from_slice(&[0, 0]);
    assert_eq!(read_err(&bad), FormatError::TrailingData { offset: len, count: 2 });
}

#[test]
fn key_group_checksum_mismatch() {
    let good = checkpoint(WriteOptions::default());
    let cp = Checkpoint::parse(&good).unwrap();
    let block = *cp.blocks().iter().find(|b| b.length > 4).unwrap();
    let mut bad = good.clone();
    bad[block.offset as usize + 5] ^= 0x10;
    let cp = Checkpoint::parse(&bad).unwrap();
    match cp.read_key_group(block.key_group, &SERS) {
        Err(FormatError::KeyGroupChecksum { key_group, offset, .. }) => {
            assert_eq!((key_group, offset), (block.key_group, block.offset));
        }
        other => panic!("{other:?}"),
    }
    // The other key groups still read.
    for b in cp.blocks().iter().filter(|b| b.key_group != block.key_group) {
        cp.read_key_group(b.key_group, &SERS).unwrap();
    }
}

#[test]
fn count_larger_than_the_bytes_that_remain() {
    for count in [i32::MAX, 1_000_000, 2] {
        let mut body = int(count).to_vec();
        body.extend_from_slice(&[0; 20]); // room for one entry only
        let bad = with_body(1, body);
        match read_err(&bad) {
            FormatError::Decode {
                key_group: 1,
                source:
                    DecodeError {
                        offset,
                        kind: DecodeErrorKind::LengthExceedsInput { length, .. },
                        ..
                    },
            } => {
                assert_eq!(length, count as u64);
                let start = Checkpoint::parse(&bad).unwrap().blocks()[1].offset;
                assert_eq!(offset, start);
            }
            e => panic!("{e:?}"),
        }
    }
    let bad = with_body(0, int(-1).to_vec());
    assert!(matches!(
        read_err(&bad),
        FormatError::Decode {
            source: DecodeError {
                kind: DecodeErrorKind::NegativeLength(-1),
                ..
            },
            ..
        }
    ));
}

#[test]
fn v1_counts_and_tags() {
    let v1 = |kg: usize, body: Vec<u8>| {
        let mut all = vec![vec![0u8]; MAX as usize];
        all[kg] = body;
        container(&head(1), &all)
    };
    // Presence byte other than 0/1.
    let bad = v1(2, vec![7]);
    assert!(matches!(
        read_err(&bad),
        FormatError::Decode {
            key_group: 2,
            source: DecodeError {
                kind: DecodeErrorKind::InvalidTag(7),
                ..
            }
        }
    ));
    // Huge namespace count.
    let mut body = vec![1];
    body.extend_from_slice(&int(i32::MAX));
    assert!(matches!(
        read_err(&v1(0, body)),
        FormatError::Decode {
            source: DecodeError {
                kind: DecodeErrorKind::LengthExceedsInput { .. },
                ..
            },
            ..
        }
    ));
    // Huge entry count inside a namespace.
    let mut body = vec![1];
    body.extend_from_slice(&int(1));
    body.extend_from_slice(&7u32.to_be_bytes());
    body.extend_from_slice(&int(i32::MAX));
    assert!(matches!(
        read_err(&v1(0, body)),
        FormatError::Decode {
            source: DecodeError {
                kind: DecodeErrorKind::LengthExceedsInput { .. },
                ..
            },
            ..
        }
    ));
    // A V1 body that is empty V2 bytes has trailing bytes.
    let bad = v1(3, vec![0, 0, 0, 0]);
    assert!(matches!(
        read_err(&bad),
        FormatError::TrailingBytes {
            key_group: 3,
            count: 3,
            ..
        }
    ));
}

#[test]
fn trailing_bytes_in_a_body() {
    let mut body = int(0).to_vec();
    body.push(9);
    let bad = with_body(2, body);
    let start = Checkpoint::parse(&bad).unwrap().blocks()[2].offset;
    assert_eq!(
        read_err(&bad),
        FormatError::TrailingBytes {
            key_group: 2,
            offset: start + 4,
            count: 1
        }
    );
}

#[test]
fn body_ends_inside_an_entry() {
    let mut body = int(1).to_vec();
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(&[0; 8]); // 20 bytes: passes the count check...
    body.truncate(4 + 19); // ...but not once it is one byte short
    let bad = with_body(0, body);
    assert!(matches!(read_err(&bad), FormatError::Decode { key_group: 0, .. }));
}

#[test]
fn entry_in_the_wrong_key_group() {
    let key = key_in(3);
    let mut body = int(1).to_vec();
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&key.to_be_bytes());
    body.extend_from_slice(&1u64.to_be_bytes());
    let bad = with_body(1, body);
    let start = Checkpoint::parse(&bad).unwrap().blocks()[1].offset;
    assert_eq!(
        read_err(&bad),
        FormatError::WrongKeyGroup {
            key_group: 1,
            offset: start + 8,
            found: 3
        }
    );
}

#[test]
fn key_group_outside_the_checkpoint() {
    let good = checkpoint(WriteOptions::default());
    let cp = Checkpoint::parse(&good).unwrap();
    assert_eq!(
        cp.read_key_group(4, &SERS).unwrap_err(),
        FormatError::KeyGroupNotInCheckpoint {
            key_group: 4,
            range: KeyGroupRange::of(0, 3).unwrap()
        }
    );
}

#[test]
fn writing_an_entry_outside_the_range() {
    let mut table = small_table();
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::new(MAX, KeyGroupRange::of(0, 1).unwrap()).unwrap();
    let mut out = Vec::new();
    match write_checkpoint(&snapshot, ctx, &SERS, WriteOptions::default(), &mut out) {
        Err(WriteError::KeyGroup(KeyGroupError::OutOfRange { key_group, range })) => {
            assert!(key_group >= 2);
            assert_eq!(range, ctx.range());
        }
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty(), "nothing is written on failure");
}

#[test]
fn serializer_mismatch() {
    let good = checkpoint(WriteOptions::default());
    let cp = Checkpoint::parse(&good).unwrap();
    let other = Serializers::new(U64Serializer, VoidNamespaceSerializer, U64Serializer);
    assert_eq!(
        cp.check_serializers(&other).unwrap_err(),
        FormatError::SerializerMismatch {
            role: SerializerRole::Namespace,
            stored: "u32".into(),
            expected: "void".into()
        }
    );
    let other = Serializers::new(U64Serializer, U32Serializer, StringSerializer);
    assert!(matches!(
        cp.read_key_group(0, &other),
        Err(FormatError::SerializerMismatch {
            role: SerializerRole::State,
            ..
        })
    ));
}

/// A `u64` serializer that refuses to write 13 and to read anything above 1000.
#[derive(Debug, Clone, Copy)]
struct Picky;

impl TypeSerializer for Picky {
    type Value = u64;
    fn identity(&self) -> String {
        "u64".into()
    }
    fn min_len(&self) -> usize {
        8
    }
    fn serialize(&self, v: &u64, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        if *v == 13 {
            return Err(SerializeError::new("picky", "13"));
        }
        U64Serializer.serialize(v, out)
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<u64, DecodeError> {
        let at = input.offset();
        let v = U64Serializer.deserialize(input)?;
        if v > 1000 {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::Custom(format!("{v} is too large")),
            ));
        }
        Ok(v)
    }
}

#[test]
fn a_serializer_that_fails() {
    let picky = Serializers::new(U64Serializer, U32Serializer, Picky);
    // On write.
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    table.put(5, 0, 13);
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(MAX).unwrap();
    let kg = ctx.key_group_of(&5u64);
    match write_checkpoint(&snapshot, ctx, &picky, WriteOptions::default(), &mut Vec::new()) {
        Err(WriteError::Serialize { key_group, source }) => {
            assert_eq!(key_group, kg);
            assert_eq!(source.message, "13");
        }
        other => panic!("{other:?}"),
    }
    // Through the per-key-group writer: `out` is left as it was.
    let partition = cow_state_table::keygroup::KeyGroupPartition::new(&snapshot, ctx);
    let mut out = vec![1, 2, 3];
    assert!(matches!(
        partition.write_key_group(&mut out, kg, &picky),
        Err(WriteError::Serialize { key_group, .. }) if key_group == kg
    ));
    assert_eq!(out, [1, 2, 3]);
    // On read: the small checkpoint holds states up to 900, fine; one of 5000 is refused where it is.
    assert!(Checkpoint::parse(&checkpoint(WriteOptions::default()))
        .unwrap()
        .read_all(&picky)
        .is_ok());
    let key = key_in(2);
    let mut body = int(1).to_vec();
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&key.to_be_bytes());
    body.extend_from_slice(&5000u64.to_be_bytes());
    let bad = with_body(2, body);
    let start = Checkpoint::parse(&bad).unwrap().blocks()[2].offset;
    let err = Checkpoint::parse(&bad).unwrap().read_all(&picky).unwrap_err();
    assert_eq!(
        err,
        FormatError::Decode {
            key_group: 2,
            source: DecodeError::new(start + 16, DecodeErrorKind::Custom("5000 is too large".into()))
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("key group 2") && msg.contains(&format!("offset {}", start + 16)),
        "{msg}"
    );
}

#[test]
fn invalid_values_inside_serializers() {
    let cases: Vec<(Vec<u8>, DecodeErrorKind)> = vec![
        (vec![2], DecodeErrorKind::InvalidBool(2)),
        (vec![0, 0, 0, 2, 0xc3, 0x28], DecodeErrorKind::InvalidUtf8),
        (
            vec![0x7f, 0xff, 0xff, 0xff, b'a'],
            DecodeErrorKind::LengthExceedsInput {
                length: i32::MAX as u64,
                min_bytes: i32::MAX as u64,
                remaining: 1,
            },
        ),
        (vec![3], DecodeErrorKind::InvalidTag(3)),
        (vec![1], DecodeErrorKind::InvalidVoid(1)),
    ];
    let results = [
        BoolSerializer.deserialize(&mut Input::new(&cases[0].0)).map(|_| ()),
        StringSerializer.deserialize(&mut Input::new(&cases[1].0)).map(|_| ()),
        StringSerializer.deserialize(&mut Input::new(&cases[2].0)).map(|_| ()),
        OptionSerializer(BoolSerializer)
            .deserialize(&mut Input::new(&cases[3].0))
            .map(|_| ()),
        VoidNamespaceSerializer
            .deserialize(&mut Input::new(&cases[4].0))
            .map(|_| ()),
    ];
    for ((_, kind), result) in cases.iter().zip(results) {
        assert_eq!(&result.unwrap_err().kind, kind);
    }
    // A list count that the remaining bytes cannot hold is refused before any allocation.
    let list = ListSerializer(ListSerializer(U64Serializer));
    let err = list
        .deserialize(&mut Input::with_base(&[0x7f, 0xff, 0xff, 0xff, 0, 0], 100))
        .unwrap_err();
    assert_eq!(err.offset, 100);
    assert!(matches!(err.kind, DecodeErrorKind::LengthExceedsInput { .. }));
}

#[test]
fn restore_errors_leave_the_table_unchanged() {
    let good = checkpoint(WriteOptions::default());
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    table.put(1, 1, 1);
    let before = contents(&table);
    let all = KeyGroupContext::all(MAX).unwrap();

    // Two instances' checkpoints (key groups 0..=1 and 2..=3); the second one corrupt.
    let halves: Vec<Vec<u8>> = (0..2u32)
        .map(|i| {
            let ctx = KeyGroupContext::new(MAX, KeyGroupRange::of(2 * i, 2 * i + 1).unwrap()).unwrap();
            let mut t = small_table();
            for k in 0..10u64 {
                if !ctx.range().contains(all.key_group_of(&k)) {
                    t.remove(&k, &((k % 2) as u32));
                }
            }
            let mut bytes = Vec::new();
            write_checkpoint(&t.snapshot().unwrap(), ctx, &SERS, WriteOptions::default(), &mut bytes).unwrap();
            bytes
        })
        .collect();
    let first_half = halves[0].clone();
    let mut corrupt = halves[1].clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    // Both halves together restore everything.
    let mut whole: StateTable<u64, u32, u64> = StateTable::new();
    restore_into(&mut whole, all, &[&halves[0], &halves[1]], &SERS).unwrap();
    assert_eq!(contents(&whole), contents(&small_table()));

    // A corrupt second checkpoint: nothing from the first is inserted either.
    match restore_into(&mut table, all, &[&first_half, &corrupt], &SERS) {
        Err(RestoreError::Checkpoint { index: 1, source }) => {
            assert!(matches!(source, FormatError::KeyGroupChecksum { .. }))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(contents(&table), before);

    // Overlapping key groups.
    match restore_into(&mut table, all, &[&good, &first_half], &SERS) {
        Err(RestoreError::OverlappingKeyGroup {
            key_group,
            first: 0,
            second: 1,
        }) => assert!(key_group < 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(contents(&table), before);

    // Another max parallelism.
    let other_max = KeyGroupContext::all(8).unwrap();
    assert_eq!(
        restore_into(&mut table, other_max, &[&good], &SERS).unwrap_err(),
        RestoreError::MaxParallelismMismatch {
            index: 0,
            expected: 8,
            found: 4
        }
    );
    assert_eq!(contents(&table), before);

    // Another serializer.
    let wrong = Serializers::new(U64Serializer, U32Serializer, Picky);
    // Picky refuses states above 1000; the small table holds 900 at most, so use a table with 5000.
    let mut big = StateTable::new();
    big.put(9u64, 1u32, 5000u64);
    let mut bad = Vec::new();
    write_checkpoint(&big.snapshot().unwrap(), all, &SERS, WriteOptions::default(), &mut bad).unwrap();
    let mut target: StateTable<u64, u32, u64> = StateTable::new();
    target.put(1, 1, 1);
    assert!(matches!(
        restore_into(&mut target, all, &[&good, &bad], &wrong),
        Err(RestoreError::OverlappingKeyGroup { .. }) | Err(RestoreError::Checkpoint { .. })
    ));
    assert!(matches!(
        restore_into(&mut target, all, &[&bad], &wrong),
        Err(RestoreError::Checkpoint {
            index: 0,
            source: FormatError::Decode { .. }
        })
    ));
    assert_eq!(contents(&target), before);

    // And a good restore does change it.
    // ((1, 1) is in both: the checkpoint's state replaces the table's.)
    let summary = restore_into(&mut table, all, &[&good], &SERS).unwrap();
    assert_eq!((summary.key_groups, summary.entries), (4, 10));
    assert_eq!(contents(&table), contents(&small_table()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..200),
        v1 in any::<bool>(),
    ) {
        let format = if v1 { 1 } else { 2 };
        let n = tail.len() / 4;
        let bodies = vec![tail[..n].to_vec(), tail[n..2 * n].to_vec(), tail[2 * n..3 * n].to_vec(), tail[3 * n..].to_vec()];
        let bytes = container(&head(format), &bodies);
        let _ = decode_all(&bytes);
    }

    #[test]
    fn random_edits_of_a_valid_body_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        v1 in any::<bool>(),
    ) {
        let options = WriteOptions::new(if v1 { BodyFormat::V1 } else { BodyFormat::V2 }, EntryOrder::Canonical);
        let good = checkpoint(options);
        let mut parts = bodies(&good);
        for (at, byte) in edits {
            let kg = at % parts.len();
            if !parts[kg].is_empty() {
                let i = (at / 4) % parts[kg].len();
                parts[kg][i] = byte;
            }
        }
        // Re-sealed: the checksums match, so the decoders themselves see the damage.
        let bytes = container(&head(if v1 { 1 } else { 2 }), &parts);
        let _ = decode_all(&bytes);
    }
}

/// Every bit of every body flipped and the checksums re-computed, so that the decoders (strings, lists, counts,
/// V1 tags) see the damage: each variant decodes to an error or to entries whose keys are in their key groups.
#[test]
fn every_flipped_body_bit_behind_valid_checksums() {
    let sers = Serializers::new(
        StringSerializer,
        U32Serializer,
        ListSerializer(OptionSerializer(U64Serializer)),
    );
    let mut table: StateTable<String, u32, Vec<Option<u64>>> = StateTable::new();
    for (i, k) in ["a", "bb", "ccc", "dddd", "é", "\u{1F600}"].iter().enumerate() {
        table.put(k.to_string(), i as u32 % 2, vec![Some(i as u64), None]);
    }
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(MAX).unwrap();
    for (format, options) in [
        (2u16, WriteOptions::canonical()),
        (1, WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical)),
    ] {
        let mut good = Vec::new();
        write_checkpoint(&snapshot, ctx, &sers, options, &mut good).unwrap();
        let parts = bodies(&good);
        let mut head = head(format);
        head.ids = ["string", "u32", "list<option<u64>>"];
        assert_eq!(container(&head, &parts), good);
        let (mut errors, mut oks) = (0, 0);
        for kg in 0..parts.len() {
            for i in 0..parts[kg].len() {
                for bit in 0..8 {
                    let mut edited = parts.clone();
                    edited[kg][i] ^= 1 << bit;
                    let bytes = container(&head, &edited);
                    match Checkpoint::parse(&bytes).unwrap().read_all(&sers) {
                        Err(_) => errors += 1,
                        Ok(entries) => {
                            oks += 1;
                            assert!(entries.len() <= 6);
                        }
                    }
                }
            }
        }
        assert!(errors > 0 && oks > 0, "{errors} errors, {oks} decodable variants");
    }
}

/// The magic is checked on its eight bytes, no more: a proper prefix of it is `BadMagic` (holding what was found),
/// the magic alone is a header truncated right after it (at offset 8, where the version is missing). A survivor
/// of the `format` mutation group (`header.rs`: `<` → `<=` in the magic's length check) made the magic alone
/// `BadMagic` too.
#[test]
fn the_magic_alone_is_a_truncated_header() {
    let magic = b"COWSTATE";
    for len in 0..magic.len() {
        match read_err(&magic[..len]) {
            FormatError::BadMagic { found } => assert_eq!(found, magic[..len], "prefix of {len} bytes"),
            e => panic!("prefix of {len} bytes: {e:?}"),
        }
    }
    match read_err(magic) {
        FormatError::TruncatedHeader(DecodeError {
            offset: 8,
            kind: DecodeErrorKind::UnexpectedEnd { .. },
            ..
        }) => {}
        e => panic!("the magic alone: {e:?}"),
    }
}
