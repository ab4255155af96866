//! Golden vectors for bucket placement and key-group assignment: `StableHasher`, `composite_hash` (under
//! `DeterministicState`) and the Java `hashCode` emulation, compared with tests/vectors/placement.txt.
//!
//! Ports and persisted layouts depend on these values, so a change to any of them must be a visible, deliberate
//! format change: rerun with `COW_BLESS_VECTORS=1 cargo test --test placement_vectors` to rewrite the file, and
//! say why in the commit and in CHANGELOG.md. The Java values are also anchored to Java's documented results
//! (below), so the file cannot silently agree with a wrong emulation.

use cow_state_table::hash::composite_hash;
use cow_state_table::keygroup::{key_group_of, JavaHashCode};
use cow_state_table::{DeterministicState, StableHasher};
use std::hash::{Hash, Hasher};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/placement.txt");

fn stable<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = StableHasher::default();
    v.hash(&mut h);
    h.finish()
}

fn stable_bytes(bytes: &[u8]) -> u64 {
    let mut h = StableHasher::default();
    h.write(bytes);
    h.finish()
}

fn composite<K: Hash + ?Sized, N: Hash + ?Sized>(k: &K, n: &N) -> String {
    let h = composite_hash(&DeterministicState::default(), k, n);
    format!("{h:#010x} bucket/1024={}", h & 1023)
}

fn java<T: JavaHashCode + ?Sized>(v: &T) -> String {
    format!("{} key_group/128={}", v.java_hash_code(), key_group_of(v, 128).unwrap())
}

/// Every vector as `kind | input | output`.
fn vectors() -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |kind: &str, input: String, output: String| out.push(format!("{kind} | {input} | {output}"));
    for v in [0u64, 1, 42, u64::MAX, 0x0123_4567_89ab_cdef] {
        push("stable-u64", v.to_string(), format!("{:#018x}", stable(&v)));
    }
    for v in [0u32, 7, u32::MAX] {
        push("stable-u32", v.to_string(), format!("{:#018x}", stable(&v)));
    }
    for bytes in [
        &b""[..],
        b"a",
        b"hello",
        b"exactly8",
        b"nine bytes",
        b"a longer input of 24 byte",
    ] {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        push(
            "stable-write",
            format!("0x{hex}"),
            format!("{:#018x}", stable_bytes(bytes)),
        );
    }
    for s in ["", "alice", "hello, world"] {
        push("stable-str", format!("{s:?}"), format!("{:#018x}", stable(s)));
    }
    for (k, n) in [(0u64, 0u32), (1, 0), (42, 7), (u64::MAX, u32::MAX), (1_000_000, 3)] {
        push("composite-u64-u32", format!("({k}, {n})"), composite(&k, &n));
    }
    for (k, n) in [("alice", "clicks"), ("bob", "window-1"), ("", "")] {
        push("composite-str-str", format!("({k:?}, {n:?})"), composite(k, n));
    }
    for k in [0u32, 1, 12345] {
        push("composite-u32-unit", format!("({k}, ())"), composite(&k, &()));
    }
    for v in [0i32, 1, -1, i32::MIN, i32::MAX, 42] {
        push("java-i32", v.to_string(), java(&v));
    }
    for v in [0i64, 1, -1, 1 << 32, i64::MIN, 0x0123_4567_89ab_cdef] {
        push("java-i64", v.to_string(), java(&v));
    }
    for v in [true, false] {
        push("java-bool", v.to_string(), java(&v));
    }
    for v in [0.0f64, -0.0, 1.0, 1.5, f64::NAN] {
        push("java-f64", format!("{v:?}"), java(&v));
    }
    for v in [0.0f32, 1.0, -2.5] {
        push("java-f32", format!("{v:?}"), java(&v));
    }
    for v in ["", "a", "hello", "Flink", "héllo", "日本"] {
        push("java-string", format!("{v:?}"), java(v));
    }
    push(
        "java-tuple-i32-string",
        "(7, \"x\")".into(),
        java(&(7i32, "x".to_string())),
    );
    out
}

#[test]
fn placement_matches_the_committed_vectors() {
    let got = vectors();
    let text = format!(
        "# Golden placement vectors (tests/placement_vectors.rs). kind | input | output\n# Regenerate only for a \
         deliberate format change: COW_BLESS_VECTORS=1 cargo test --test placement_vectors\n{}\n",
        got.join("\n")
    );
    if std::env::var_os("COW_BLESS_VECTORS").is_some() {
        std::fs::write(FILE, &text).unwrap();
    }
    let committed = std::fs::read_to_string(FILE).expect("tests/vectors/placement.txt");
    let committed: Vec<&str> = committed.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(committed.len(), got.len(), "number of vectors");
    for (c, g) in committed.iter().zip(&got) {
        assert_eq!(*c, g, "placement changed: a format change (see the module docs)");
    }
}

/// Java's documented results, independent of the emulation: `"hello".hashCode()` is 99162322 (the value every
/// Java reference quotes); `String.hashCode` = `s[0]*31^(n-1) + … + s[n-1]` (for `"Flink"`:
/// 70·31⁴ + 108·31³ + 105·31² + 110·31 + 107 = 67968320); `Long.hashCode(v)` = `(int)(v ^ (v >>> 32))`;
/// `Boolean.hashCode` = 1231 / 1237; `Double.hashCode(1.0)` = `0x3FF00000`. The file cannot silently agree with a
/// wrong emulation.
#[test]
fn java_hash_codes_match_the_jvm() {
    assert_eq!("hello".java_hash_code(), 99_162_322);
    assert_eq!("Flink".java_hash_code(), 67_968_320);
    assert_eq!("".java_hash_code(), 0);
    assert_eq!((1i64 << 32).java_hash_code(), 1);
    assert_eq!((-1i64).java_hash_code(), 0);
    assert_eq!(true.java_hash_code(), 1231);
    assert_eq!(false.java_hash_code(), 1237);
    assert_eq!(1.0f64.java_hash_code(), 1_072_693_248);
    assert_eq!((-1i32).java_hash_code(), -1);
}
