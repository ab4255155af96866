//! Golden vectors (tests/vectors/*.hex, described in tests/vectors/*.md), checked both ways: writing the
//! contents gives exactly the golden bytes, and reading the golden bytes gives exactly the contents. The bytes
//! are also rebuilt from docs/FORMAT.md by the independent encoder in tests/vectors/spec.rs.
//!
//! `COW_UPDATE_VECTORS=1 cargo test --test format_vectors` rewrites the .hex files from the writer.

#[path = "vectors/spec.rs"]
mod spec;

use core::hash::Hash;
use cow_state_table::format::{write_checkpoint, BodyFormat, Checkpoint, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
use cow_state_table::serializer::{
    I32Serializer, I64Serializer, ListSerializer, Serializers, StringSerializer, TypeSerializer, U32Serializer,
    U64Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::StateTable;
use spec::{container, int, string, Head};
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{name}.hex"))
}

/// Writes `entries` (inserted in reverse, to show the order does not matter) and compares with the golden
/// file; reads the golden file and compares with `entries`; returns the golden bytes.
fn check<K, N, S, KS, NS, SS>(
    name: &str,
    entries: &[(K, N, S)],
    ctx: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    options: WriteOptions,
) -> Vec<u8>
where
    K: Hash + Eq + Clone + Ord + std::fmt::Debug + cow_state_table::keygroup::JavaHashCode,
    N: Hash + Eq + Clone + Ord + std::fmt::Debug,
    S: Clone + PartialEq + Ord + std::fmt::Debug,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let mut table: StateTable<K, N, S> = StateTable::with_buckets(4);
    for (k, n, s) in entries.iter().rev() {
        table.put(k.clone(), n.clone(), s.clone());
    }
    let snapshot = table.snapshot().unwrap();
    let mut written = Vec::new();
    write_checkpoint(&snapshot, ctx, serializers, options, &mut written).unwrap();

    let file = path(name);
    if std::env::var_os("COW_UPDATE_VECTORS").is_some() {
        std::fs::write(&file, spec::to_hex(&written)).unwrap();
    }
    let golden = spec::from_hex(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(
        spec::to_hex(&written),
        spec::to_hex(&golden),
        "{name}: written bytes differ from the golden vector"
    );

    let checkpoint = Checkpoint::parse(&golden).unwrap();
    assert_eq!(checkpoint.context(), ctx);
    assert_eq!(checkpoint.header().body_format, options.body_format);
    let mut read = checkpoint.read_all(serializers).unwrap();
    read.sort();
    let mut expected = entries.to_vec();
    expected.sort();
    assert_eq!(read, expected, "{name}: golden bytes read back differently");
    golden
}

fn ctx(max: u32, start: u32, end: u32) -> KeyGroupContext {
    KeyGroupContext::new(max, KeyGroupRange::of(start, end).unwrap()).unwrap()
}

fn long(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

fn list(values: &[i64]) -> Vec<u8> {
    let mut out = int(values.len() as i32).to_vec();
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn v2_long_void_string() {
    // Key groups (max parallelism 4): 42 -> 1, 1 -> 2, -7 -> 2, 2 -> 3.
    let entries = [
        (1i64, VoidNamespace, "one".to_string()),
        (2, VoidNamespace, "two".to_string()),
        (42, VoidNamespace, "answer".to_string()),
        (-7, VoidNamespace, "minus seven".to_string()),
    ];
    let sers = Serializers::new(I64Serializer, VoidNamespaceSerializer, StringSerializer);
    let golden = check(
        "v2_long_void_string",
        &entries,
        ctx(4, 0, 3),
        &sers,
        WriteOptions::canonical(),
    );
    // From docs/FORMAT.md alone. Within key group 2, key 1 (00..01) sorts before -7 (ff..f9).
    let entry = |k: i64, s: &str| cat(&[&[0], &long(k), &string(s)]);
    let bodies = vec![
        int(0).to_vec(),
        cat(&[&int(1), &entry(42, "answer")]),
        cat(&[&int(2), &entry(1, "one"), &entry(-7, "minus seven")]),
        cat(&[&int(1), &entry(2, "two")]),
    ];
    let head = Head {
        version: 1,
        body_format: 2,
        max_parallelism: 4,
        first_key_group: 0,
        key_groups: 4,
        ids: ["i64", "void", "string"],
    };
    assert_eq!(container(&head, &bodies), golden);
}

fn string_int_list_entries() -> Vec<(String, i32, Vec<i64>)> {
    // Key groups (max parallelism 8): judy -> 3, alice/heidi/olivia -> 4, grace -> 5; 2 stays empty.
    vec![
        ("alice".into(), 0, vec![1, 2]),
        ("alice".into(), 1, vec![]),
        ("heidi".into(), 0, vec![-1]),
        ("olivia".into(), 1, vec![9_000_000_000]),
        ("judy".into(), 0, vec![3]),
        ("grace".into(), -1, vec![5, 6, 7]),
    ]
}

fn string_int_list_head(body_format: u16) -> Head<'static> {
    Head {
        version: 1,
        body_format,
        max_parallelism: 8,
        first_key_group: 2,
        key_groups: 4,
        ids: ["string", "i32", "list<i64>"],
    }
}

#[test]
fn v2_string_int_list() {
    let sers = Serializers::new(StringSerializer, I32Serializer, ListSerializer(I64Serializer));
    let golden = check(
        "v2_string_int_list",
        &string_int_list_entries(),
        ctx(8, 2, 5),
        &sers,
        WriteOptions::canonical(),
    );
    let entry = |n: i32, k: &str, s: &[i64]| cat(&[&int(n), &string(k), &list(s)]);
    let bodies = vec![
        int(0).to_vec(),
        cat(&[&int(1), &entry(0, "judy", &[3])]),
        cat(&[
            &int(4),
            &entry(0, "alice", &[1, 2]),
            &entry(0, "heidi", &[-1]),
            &entry(1, "alice", &[]),
            &entry(1, "olivia", &[9_000_000_000]),
        ]),
        cat(&[&int(1), &entry(-1, "grace", &[5, 6, 7])]),
    ];
    assert_eq!(container(&string_int_list_head(2), &bodies), golden);
}

#[test]
fn v1_string_int_list() {
    let sers = Serializers::new(StringSerializer, I32Serializer, ListSerializer(I64Serializer));
    let v1 = WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical);
    let golden = check(
        "v1_string_int_list",
        &string_int_list_entries(),
        ctx(8, 2, 5),
        &sers,
        v1,
    );
    let pair = |k: &str, s: &[i64]| cat(&[&string(k), &list(s)]);
    let bodies = vec![
        vec![0],
        cat(&[&[1], &int(1), &int(0), &int(1), &pair("judy", &[3])]),
        cat(&[
            &[1],
            &int(2),
            &int(0),
            &int(2),
            &pair("alice", &[1, 2]),
            &pair("heidi", &[-1]),
            &int(1),
            &int(2),
            &pair("alice", &[]),
            &pair("olivia", &[9_000_000_000]),
        ]),
        cat(&[&[1], &int(1), &int(-1), &int(1), &pair("grace", &[5, 6, 7])]),
    ];
    assert_eq!(container(&string_int_list_head(1), &bodies), golden);
}

#[test]
fn v2_empty() {
    let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    let golden = check::<u64, u32, u64, _, _, _>("v2_empty", &[], ctx(2, 0, 1), &sers, WriteOptions::default());
    let head = Head {
        version: 1,
        body_format: 2,
        max_parallelism: 2,
        first_key_group: 0,
        key_groups: 2,
        ids: ["u64", "u32", "u64"],
    };
    assert_eq!(container(&head, &[int(0).to_vec(), int(0).to_vec()]), golden);
}

#[test]
fn crc32c_reference_matches_the_crate() {
    // The standard check value of CRC-32C.
    assert_eq!(spec::crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}
