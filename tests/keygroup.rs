//! Key groups against independent re-implementations of Flink's definitions and known Java outputs.

use cow_state_table::keygroup::{
    assign_to_key_group, compute_default_max_parallelism, compute_key_group_range_for_operator_index,
    compute_operator_index_for_key_group, key_group_of, murmur_hash, JavaHashCode, KeyGroupContext, KeyGroupError,
    KeyGroupPartition, KeyGroupRange, UPPER_BOUND_MAX_PARALLELISM,
};
use cow_state_table::{DeterministicState, StateTable};
use proptest::prelude::*;

/// Reference murmur3_x86_32 over a byte string (the general algorithm, blocks read little-endian).
fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let (c1, c2) = (0xcc9e2d51u32, 0x1b873593u32);
    let mut h = seed;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for b in blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe6546b64);
    }
    let mut k = 0u32;
    for (i, &byte) in tail.iter().enumerate() {
        k ^= u32::from(byte) << (8 * i);
    }
    if !tail.is_empty() {
        h ^= k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85ebca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2ae35);
    h ^ (h >> 16)
}

/// Flink MathUtils.murmurHash, re-derived: murmur3 of the int's 4 bytes, then the non-negative fold.
fn flink_murmur(code: i32) -> i32 {
    let h = murmur3_x86_32(&code.to_le_bytes(), 0) as i32;
    if h >= 0 {
        h
    } else if h != i32::MIN {
        -h
    } else {
        0
    }
}

/// Java String.hashCode, re-derived over UTF-16 code units with 64-bit arithmetic reduced mod 2^32.
fn java_string_hash(s: &str) -> i32 {
    let mut h: u64 = 0;
    for unit in s.encode_utf16() {
        h = (h.wrapping_mul(31) + u64::from(unit)) & 0xffff_ffff;
    }
    h as u32 as i32
}

#[test]
fn murmur3_reference_matches_published_vectors() {
    assert_eq!(murmur3_x86_32(b"", 0), 0);
    assert_eq!(murmur3_x86_32(b"", 1), 0x514E28B7);
    assert_eq!(murmur3_x86_32(b"", 0xffffffff), 0x81F16F39);
    assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362F9DE);
    assert_eq!(murmur3_x86_32(&[0xff, 0xff, 0xff, 0xff], 0), 0x76293B50);
    assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0), 0xF55B516B);
}

#[test]
fn murmur_hash_matches_known_values() {
    // 0x2362F9DE is positive; 0x76293B50 is positive; 0xF55B516B is negative and is negated.
    assert_eq!(murmur_hash(0), 0x2362F9DE);
    assert_eq!(murmur_hash(-1), 0x76293B50);
    assert_eq!(murmur_hash(0x87654321u32 as i32), -(0xF55B516Bu32 as i32));
}

#[test]
fn murmur_hash_matches_reference_on_edges() {
    for code in [0, 1, -1, 2, 42, 99162322, i32::MAX, i32::MIN, i32::MIN + 1, 0x7fff_0000] {
        assert_eq!(murmur_hash(code), flink_murmur(code), "code {code}");
        assert!(murmur_hash(code) >= 0);
    }
}

proptest! {
    #[test]
    fn murmur_hash_matches_reference(code in any::<i32>()) {
        prop_assert_eq!(murmur_hash(code), flink_murmur(code));
    }

    #[test]
    fn key_group_matches_reference(code in any::<i32>(), max in 1u32..=32768) {
        let expected = (flink_murmur(code) % max as i32) as u32;
        prop_assert_eq!(assign_to_key_group(code, max), Ok(expected));
    }

    #[test]
    fn string_hash_matches_reference(s in "\\PC{0,40}") {
        prop_assert_eq!(s.java_hash_code(), java_string_hash(&s));
        prop_assert_eq!(s.as_str().java_hash_code(), java_string_hash(&s));
    }

    #[test]
    fn long_hash_matches_definition(v in any::<i64>()) {
        let expected = ((v as u64) ^ ((v as u64) >> 32)) as u32 as i32;
        prop_assert_eq!(v.java_hash_code(), expected);
        prop_assert_eq!((v as u64).java_hash_code(), expected);
    }

    /// Java's `Byte`, `Short`, `Character` and `Integer` hash codes are the value widened to an `int`: sign-extended,
    /// except a `char` (Rust `u16`); a Rust `u8` is a Java `byte`, a `u32` an `int` of the same bits.
    #[test]
    fn small_integer_hashes_are_the_java_value_widened(v in any::<i32>()) {
        prop_assert_eq!((v as i8).java_hash_code(), i32::from(v as i8));
        prop_assert_eq!((v as u8).java_hash_code(), i32::from(v as i8));
        prop_assert_eq!((v as i16).java_hash_code(), i32::from(v as i16));
        prop_assert_eq!((v as u16).java_hash_code(), i32::from(v as u16));
        prop_assert_eq!(v.java_hash_code(), v);
        prop_assert_eq!((v as u32).java_hash_code(), v);
    }

    #[test]
    fn ranges_partition_all_key_groups(max in 1u32..=4096, p_seed in any::<u32>()) {
        let p = 1 + p_seed % max.min(64);
        let mut next = 0;
        for i in 0..p {
            let r = compute_key_group_range_for_operator_index(max, p, i).unwrap();
            // Flink's formulas, re-derived with 64-bit arithmetic.
            #[allow(clippy::manual_div_ceil)]
            let start = ((i as u64 * max as u64 + p as u64 - 1) / p as u64) as u32;
            let end = (((i as u64 + 1) * max as u64 - 1) / p as u64) as u32;
            prop_assert_eq!(r.start(), start);
            prop_assert_eq!(r.end(), Some(end));
            prop_assert_eq!(r.start(), next);
            next = end + 1;
            for kg in r {
                prop_assert_eq!(compute_operator_index_for_key_group(max, p, kg), Ok(i));
            }
        }
        prop_assert_eq!(next, max);
    }
}

#[test]
fn java_hash_codes_of_known_values() {
    assert_eq!("hello".java_hash_code(), 99162322);
    assert_eq!("".java_hash_code(), 0);
    assert_eq!("a".java_hash_code(), 97);
    assert_eq!("ab".java_hash_code(), 97 * 31 + 98);
    // A famous Java fact: this string hashes to Integer.MIN_VALUE.
    assert_eq!("polygenelubricants".java_hash_code(), i32::MIN);
    // Outside the BMP: a surrogate pair, two UTF-16 code units.
    assert_eq!("\u{1F600}".java_hash_code(), 0xD83D * 31 + 0xDE00);
    assert_eq!(String::from("hello").java_hash_code(), 99162322);
    assert_eq!((1i64 << 32).java_hash_code(), 1);
    assert_eq!((-1i64).java_hash_code(), 0);
    assert_eq!(7i64.java_hash_code(), 7);
    assert_eq!(i64::MIN.java_hash_code(), i32::MIN);
    assert_eq!(123i32.java_hash_code(), 123);
    assert_eq!(u32::MAX.java_hash_code(), -1);
    assert_eq!(true.java_hash_code(), 1231);
    assert_eq!(false.java_hash_code(), 1237);
    assert_eq!((-3i16).java_hash_code(), -3);
    assert_eq!(0xffu8.java_hash_code(), -1); // a Java byte is signed
    assert_eq!(0xffffu16.java_hash_code(), 0xffff); // a Java char is not
    assert_eq!(1.0f64.java_hash_code(), 1072693248);
    assert_eq!(0.0f64.java_hash_code(), 0);
    assert_eq!((-0.0f64).java_hash_code(), i32::MIN);
    assert_eq!(f64::NAN.java_hash_code(), 0x7ff80000);
    assert_eq!(1.0f32.java_hash_code(), 0x3f800000);
    assert_eq!(f32::NAN.java_hash_code(), 0x7fc00000);
    // Arrays.hashCode(byte[])
    assert_eq!(Vec::<u8>::new().java_hash_code(), 1);
    assert_eq!(vec![1u8, 2].java_hash_code(), (31 + 1) * 31 + 2);
    assert_eq!([0x80u8][..].java_hash_code(), 31 - 128);
    assert_eq!((&"hello").java_hash_code(), 99162322);
    assert_eq!(Box::new(5i32).java_hash_code(), 5);
    // Flink Tuple2/Tuple3.hashCode: result = f0; result = 31 * result + f1; ...
    assert_eq!((1i32, 2i32).java_hash_code(), 31 + 2);
    assert_eq!(("a", 1i64, true).java_hash_code(), (97 * 31 + 1) * 31 + 1231);
    assert_eq!(
        (i32::MAX, 1i32).java_hash_code(),
        i32::MAX.wrapping_mul(31).wrapping_add(1)
    );
    assert_eq!((0u8, 0u8, 0u8, 1u8).java_hash_code(), 1);
}

#[test]
fn key_group_assignments_cross_checked() {
    for (key, max) in [
        ("hello", 128u32),
        ("polygenelubricants", 128),
        ("", 1),
        ("flink", 32768),
        ("a", 7),
    ] {
        let expected = (flink_murmur(java_string_hash(key)) % max as i32) as u32;
        assert_eq!(key_group_of(key, max), Ok(expected), "{key} / {max}");
    }
    for k in [0i64, 1, -1, 1 << 32, i64::MAX, 123456789012] {
        let h = ((k as u64) ^ ((k as u64) >> 32)) as u32 as i32;
        assert_eq!(key_group_of(&k, 128), Ok((flink_murmur(h) % 128) as u32), "{k}");
    }
    // murmur(MIN) folds through the `-h` / 0 rule without overflow.
    assert!(key_group_of("polygenelubricants", 32768).unwrap() < 32768);
}

#[test]
fn operator_ranges_known_values() {
    let r = |max, p, i| compute_key_group_range_for_operator_index(max, p, i).unwrap();
    assert_eq!(r(128, 1, 0), KeyGroupRange::of(0, 127).unwrap());
    assert_eq!(r(128, 3, 0), KeyGroupRange::of(0, 42).unwrap());
    assert_eq!(r(128, 3, 1), KeyGroupRange::of(43, 85).unwrap());
    assert_eq!(r(128, 3, 2), KeyGroupRange::of(86, 127).unwrap());
    assert_eq!(r(10, 10, 9), KeyGroupRange::of(9, 9).unwrap());
    assert_eq!(r(32768, 32768, 32767), KeyGroupRange::of(32767, 32767).unwrap());
    assert_eq!(compute_operator_index_for_key_group(128, 3, 42), Ok(0));
    assert_eq!(compute_operator_index_for_key_group(128, 3, 43), Ok(1));
    assert_eq!(compute_operator_index_for_key_group(128, 3, 127), Ok(2));
}

#[test]
fn default_max_parallelism() {
    let d = |p| compute_default_max_parallelism(p).unwrap();
    assert_eq!(d(1), 128);
    assert_eq!(d(85), 128); // 85 + 42 = 127
    assert_eq!(d(86), 256); // 86 + 43 = 129
    assert_eq!(d(1000), 2048);
    assert_eq!(d(21845), 32768);
    assert_eq!(d(32768), 32768);
    assert!(compute_default_max_parallelism(0).is_err());
    assert!(compute_default_max_parallelism(32769).is_err());
}

#[test]
fn validation_errors_are_typed() {
    assert_eq!(
        assign_to_key_group(1, 0),
        Err(KeyGroupError::InvalidMaxParallelism { value: 0 })
    );
    assert_eq!(
        assign_to_key_group(1, UPPER_BOUND_MAX_PARALLELISM + 1),
        Err(KeyGroupError::InvalidMaxParallelism { value: 32769 })
    );
    assert_eq!(
        compute_key_group_range_for_operator_index(128, 0, 0),
        Err(KeyGroupError::InvalidParallelism {
            parallelism: 0,
            max_parallelism: 128
        })
    );
    assert_eq!(
        compute_key_group_range_for_operator_index(128, 129, 0),
        Err(KeyGroupError::InvalidParallelism {
            parallelism: 129,
            max_parallelism: 128
        })
    );
    assert_eq!(
        compute_key_group_range_for_operator_index(128, 4, 4),
        Err(KeyGroupError::InvalidOperatorIndex {
            operator_index: 4,
            parallelism: 4
        })
    );
    assert_eq!(
        compute_operator_index_for_key_group(128, 4, 128),
        Err(KeyGroupError::KeyGroupBeyondMax {
            key_group: 128,
            max_parallelism: 128
        })
    );
    assert!(KeyGroupRange::of(5, 4).is_err());
    assert!(KeyGroupRange::of(0, 32768).is_err());
    assert!(KeyGroupRange::with_len(u32::MAX, 2).is_err());
    assert!(KeyGroupContext::new(0, KeyGroupRange::EMPTY).is_err());
    assert!(KeyGroupContext::new(16, KeyGroupRange::of(8, 16).unwrap()).is_err());
    assert!(KeyGroupContext::new(16, KeyGroupRange::of(8, 15).unwrap()).is_ok());
    // Error messages say what and where.
    let msg = KeyGroupError::OutOfRange {
        key_group: 9,
        range: KeyGroupRange::of(0, 3).unwrap(),
    }
    .to_string();
    assert!(msg.contains('9') && msg.contains("0..=3"), "{msg}");
}

#[test]
fn key_group_range_operations() {
    let empty = KeyGroupRange::EMPTY;
    assert!(empty.is_empty());
    assert_eq!(empty.number_of_key_groups(), 0);
    assert_eq!(empty.end(), None);
    assert_eq!(empty.iter().count(), 0);
    assert!(!empty.contains(0));
    assert_eq!(KeyGroupRange::with_len(7, 0).unwrap(), empty);
    assert_eq!(KeyGroupRange::default(), empty);

    let r = KeyGroupRange::of(3, 7).unwrap();
    assert_eq!(r.number_of_key_groups(), 5);
    assert_eq!((r.start(), r.end()), (3, Some(7)));
    assert!(r.contains(3) && r.contains(7) && !r.contains(2) && !r.contains(8));
    assert_eq!(r.iter().collect::<Vec<_>>(), vec![3, 4, 5, 6, 7]);
    assert_eq!((&r).into_iter().sum::<u32>(), 25);
    // Flink's getKeyGroupId accepts idx == n (off by one); here it is an error.
    assert_eq!(r.key_group_id(4), Ok(7));
    assert_eq!(
        r.key_group_id(5),
        Err(KeyGroupError::IndexOutOfBounds { index: 5, range: r })
    );
    assert_eq!(r.index_of(5), Some(2));
    assert_eq!(r.index_of(8), None);

    let s = KeyGroupRange::of(6, 10).unwrap();
    assert_eq!(r.intersection(&s), KeyGroupRange::of(6, 7).unwrap());
    assert_eq!(s.intersection(&r), KeyGroupRange::of(6, 7).unwrap());
    assert_eq!(r.intersection(&KeyGroupRange::of(8, 9).unwrap()), empty);
    assert_eq!(r.intersection(&empty), empty);
    assert_eq!(KeyGroupRange::with_len(3, 5).unwrap(), KeyGroupRange::of(3, 7).unwrap());
    assert_eq!(format!("{r:?}"), "KeyGroupRange{3..=7}");
    assert_eq!(format!("{empty}"), "KeyGroupRange{empty}");
}

#[test]
fn partition_groups_every_entry() {
    let mut table: StateTable<u64, u32, u64, DeterministicState> =
        StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    for k in 0..2000u64 {
        table.put(k, (k % 3) as u32, k);
    }
    let snapshot = table.snapshot().unwrap();
    // The writer keeps writing; the partition sees the snapshot.
    for k in 0..2000u64 {
        table.put(k, 0, 0);
    }
    let ctx = KeyGroupContext::all(64).unwrap();
    let partition = KeyGroupPartition::new(&snapshot, ctx);
    assert_eq!(partition.len(), Ok(2000));
    let mut seen = 0;
    for kg in ctx.range() {
        for &(k, n, s) in partition.entries(kg).unwrap() {
            assert_eq!(ctx.key_group_of(k), kg);
            assert_eq!(*n, (*k % 3) as u32);
            assert_eq!(s, k);
            seen += 1;
        }
    }
    assert_eq!(seen, 2000);
    assert!(matches!(
        partition.entries(64),
        Err(KeyGroupError::OutOfRange { key_group: 64, .. })
    ));
    assert!(format!("{partition:?}").contains("partitioned: true"));
}

#[test]
fn partition_reports_entries_outside_the_range() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    for k in 0..100u64 {
        table.put(k, 0, k);
    }
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::new(128, KeyGroupRange::of(0, 63).unwrap()).unwrap();
    let partition = KeyGroupPartition::new(&snapshot, ctx);
    match partition.prepare() {
        Err(KeyGroupError::OutOfRange { key_group, range }) => {
            assert!(key_group >= 64);
            assert_eq!(range, ctx.range());
        }
        other => panic!("expected OutOfRange, got {other:?}"),
    }
    // The error is remembered, not recomputed into a different answer.
    assert!(partition.entries(3).is_err());
}

#[test]
fn partition_of_an_empty_snapshot() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    let snapshot = table.snapshot().unwrap();
    let ctx = KeyGroupContext::all(8).unwrap();
    let partition = KeyGroupPartition::new(&snapshot, ctx);
    assert_eq!(partition.is_empty(), Ok(true));
    for kg in 0..8 {
        assert!(partition.entries(kg).unwrap().is_empty());
    }
}

#[test]
fn partition_of_one_entry_is_not_empty() {
    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    table.put(42, 0, 1);
    let snapshot = table.snapshot().unwrap();
    let partition = KeyGroupPartition::new(&snapshot, KeyGroupContext::all(8).unwrap());
    assert_eq!((partition.len(), partition.is_empty()), (Ok(1), Ok(false)));
}

#[test]
fn partition_of_a_snapshot_taken_during_a_rehash() {
    let mut table: StateTable<u64, u32, u64> = StateTable::with_buckets(4);
    let mut k = 0u64;
    while !(table.is_rehashing() && table.len() > 100) {
        table.put(k, 0, k);
        k += 1;
    }
    let snapshot = table.snapshot().unwrap();
    assert!(snapshot.taken_during_rehash());
    // The writer finishes the rehash and changes everything.
    for i in 0..k {
        table.put(i, 0, u64::MAX);
    }
    let ctx = KeyGroupContext::all(32).unwrap();
    let partition = KeyGroupPartition::new(&snapshot, ctx);
    let mut seen: Vec<u64> = ctx
        .range()
        .iter()
        .flat_map(|kg| {
            partition.entries(kg).unwrap().iter().map(|&(k, _, s)| {
                assert_eq!(k, s);
                *k
            })
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..k).collect::<Vec<_>>());
}
