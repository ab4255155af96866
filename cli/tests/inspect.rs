//! `checkpoint inspect`, on checkpoints written by `soak --dir` (single-table containers with `--target tables`,
//! keyed state streams with the backend): the report, its JSON, and one-line errors for corrupt, truncated and
//! foreign files.

mod common;

use common::{bin, fails_with};
use std::path::{Path, PathBuf};

/// Runs a short soak storing checkpoints in `dir`; returns one of the files.
fn checkpoint_file(dir: &Path, target: &str) -> PathBuf {
    bin()
        .args([
            "soak",
            "--target",
            target,
            "--duration",
            "700ms",
            "--keys",
            "400",
            "--seed",
            "9",
            "--states",
            "2",
        ])
        .arg("--dir")
        .arg(dir)
        .assert()
        .success();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.pop().expect("a checkpoint file")
}

fn json(path: &Path) -> serde_json::Value {
    let out = bin()
        .args(["checkpoint", "inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn both_layouts_are_reported_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let container = checkpoint_file(&dir.path().join("tables"), "tables");
    let r = json(&container);
    assert!(
        r["layout"].as_str().unwrap().starts_with("single-table container"),
        "{r}"
    );
    assert_eq!(r["max_parallelism"], 128);
    assert_eq!(
        (r["first_key_group"].clone(), r["last_key_group"].clone()),
        (0.into(), 127.into())
    );
    assert_eq!(r["key_serializer"], "u64");
    assert_eq!(r["states"][0]["namespace_serializer"], "u32");
    assert_eq!(r["key_groups"].as_array().unwrap().len(), 128);
    assert_eq!(r["checksums_verified"], 129);
    assert_eq!(r["bodies_walked"], true);
    let entries: u64 = r["key_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["entries"].as_u64().unwrap())
        .sum();
    assert_eq!(entries, r["states"][0]["entries"].as_u64().unwrap());
    assert!(entries > 0);

    let stream = checkpoint_file(&dir.path().join("backend"), "backend");
    let r = json(&stream);
    assert!(r["layout"].as_str().unwrap().starts_with("keyed state stream"), "{r}");
    assert_eq!(r["states"].as_array().unwrap().len(), 2);
    assert_eq!(r["states"][0]["kind"], "value");
    assert_eq!(r["states"][1]["kind"], "reducing");
    assert_eq!(r["key_groups"].as_array().unwrap().len(), 2 * 128);
    assert!(r["checkpoint_id"].is_u64());

    let text = bin().args(["checkpoint", "inspect"]).arg(&stream).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for s in [
        "keyed state stream",
        "max parallelism 128",
        "key groups 0..=127",
        "sum-1",
        "all match",
    ] {
        assert!(text.contains(s), "{s}: {text}");
    }
}

#[test]
fn corrupt_truncated_and_foreign_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let container = checkpoint_file(&dir.path().join("tables"), "tables");
    let stream = checkpoint_file(&dir.path().join("backend"), "backend");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let c = std::fs::read(&container).unwrap();
    let s = std::fs::read(&stream).unwrap();

    // A flipped byte in the last body of the container: its key group's checksum.
    let mut flipped = c.clone();
    let at = flipped.len() - 3;
    flipped[at] ^= 0x40;
    let err = fails_with(&["checkpoint", "inspect", &write("flipped.cow", &flipped)], 1);
    assert!(
        err.contains("key group 127: checksum mismatch") && err.contains("byte offset"),
        "{err}"
    );
    // A flipped byte in the header.
    let mut header = c.clone();
    header[13] ^= 1;
    let err = fails_with(&["checkpoint", "inspect", &write("header.cow", &header)], 1);
    assert!(err.contains("header checksum mismatch"), "{err}");
    let err = fails_with(&["checkpoint", "inspect", &write("short.cow", &c[..c.len() - 10])], 1);
    assert!(err.contains("past the end") || err.contains("truncated"), "{err}");
    let err = fails_with(&["checkpoint", "inspect", &write("head.cow", &c[..20])], 1);
    assert!(err.contains("truncated header"), "{err}");

    let mut flipped = s.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let err = fails_with(&["checkpoint", "inspect", &write("flipped.keyed", &flipped)], 1);
    assert!(err.contains("flipped.keyed: ") && err.contains("offset"), "{err}");
    let err = fails_with(&["checkpoint", "inspect", &write("short.keyed", &s[..s.len() / 3])], 1);
    assert!(err.contains("short.keyed: "), "{err}");

    let err = fails_with(
        &[
            "checkpoint",
            "inspect",
            &write("foreign", b"PK\x03\x04 not a checkpoint"),
        ],
        1,
    );
    assert!(err.contains("bad magic at byte offset 0"), "{err}");
    let err = fails_with(&["checkpoint", "inspect", &write("empty", b"")], 1);
    assert!(err.contains("bad magic"), "{err}");
    assert!(fails_with(&["checkpoint", "inspect", "/no/such/checkpoint"], 2).contains("No such file"));
    assert!(fails_with(&["checkpoint", "inspect", dir.path().to_str().unwrap()], 2).starts_with("error: "));
    assert!(fails_with(&["checkpoint", "inspect"], 2).contains("PATH"));
    assert!(fails_with(&["checkpoint", "inspect", "--yaml", "x"], 2).contains("--yaml"));
}

/// A `u64` under a serializer identity nesting `levels` containers `head<…>` around `u64`, encoded as a walker
/// following the identity expects it (a `list` level is a count of 1, a one-field `tuple` level adds nothing),
/// so that the walker descends all the way.
#[derive(Clone, Debug)]
struct Deep {
    head: &'static str,
    levels: usize,
}

impl cow_state_table::serializer::TypeSerializer for Deep {
    type Value = u64;
    fn identity(&self) -> String {
        format!(
            "{}u64{}",
            format!("{}<", self.head).repeat(self.levels),
            ">".repeat(self.levels)
        )
    }
    fn serialize(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), cow_state_table::serializer::SerializeError> {
        if self.head == "list" {
            for _ in 0..self.levels {
                out.extend_from_slice(&1i32.to_be_bytes());
            }
        }
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }
    fn deserialize(
        &self,
        input: &mut cow_state_table::serializer::Input<'_>,
    ) -> Result<u64, cow_state_table::serializer::DecodeError> {
        if self.head == "list" {
            for _ in 0..self.levels {
                input.read_array::<4>()?;
            }
        }
        Ok(u64::from_be_bytes(input.read_array::<8>()?))
    }
}

/// Keyed state streams whose state serializer identity nests 10,000 `list<…>` or 9,000 `tuple<…>` levels (within
/// an identity's 64 KiB): inspect refuses them with a one-line error (exit 1) instead of overflowing its stack.
#[test]
fn deeply_nested_identity_is_refused() {
    use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor};
    use cow_state_table::keygroup::KeyGroupRange;
    use cow_state_table::serializer::{TypeSerializer, U64Serializer, VoidNamespaceSerializer};

    let dir = tempfile::tempdir().unwrap();
    for deep in [
        Deep {
            head: "list",
            levels: 10_000,
        },
        Deep {
            head: "tuple",
            levels: 9_000,
        },
    ] {
        assert!(deep.identity().len() < 1 << 16);
        let mut b: KeyedStateBackend<u64, U64Serializer> =
            KeyedStateBackend::new(U64Serializer, 4, KeyGroupRange::of(0, 3).unwrap()).unwrap();
        let v = b
            .register_value(ValueStateDescriptor::new("deep", VoidNamespaceSerializer, deep.clone()))
            .unwrap();
        b.set_current_key(1).unwrap();
        v.update(&mut b, 5).unwrap();
        let mut bytes = Vec::new();
        b.checkpoint(1).unwrap().write_to(&mut bytes).unwrap();
        let path = dir.path().join(format!("{}.keyed", deep.head));
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        for args in [
            &["checkpoint", "inspect", path][..],
            &["checkpoint", "inspect", "--json", path],
        ] {
            let err = fails_with(args, 1);
            assert!(
                err.contains(&format!(
                    "{}.keyed: the state 0 (deep) state serializer identity nests more than 64 levels deep",
                    deep.head
                )),
                "{err}"
            );
        }
        // The same on a 1 MiB main-thread stack (the default 8 MiB hides an unbounded recursion of 10,000 levels
        // in an optimized build; a 1 MiB stack does not).
        #[cfg(unix)]
        {
            let out = std::process::Command::new("sh")
                .args(["-c", "ulimit -s 1024 && exec \"$0\" checkpoint inspect \"$1\""])
                .arg(assert_cmd::cargo::cargo_bin("cow-state-table"))
                .arg(path)
                .env_remove("RUST_BACKTRACE")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            common::one_line_error(&stderr);
            assert!(stderr.contains("nests more than 64 levels deep"), "{stderr}");
        }
    }
}

/// A delta stream (docs/FORMAT.md §11) shows its base, its upserts and removals; its full base shows no
/// `delta` field (the full checkpoint's report is unchanged).
#[test]
fn a_delta_stream_shows_its_base() {
    use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
    use cow_state_table::backend::{CheckpointMode, IncrementalPolicy, KeyedStateBackend, ValueStateDescriptor};
    use cow_state_table::keygroup::KeyGroupRange;
    use cow_state_table::serializer::{I32Serializer, I64Serializer};

    let mut b: KeyedStateBackend<i64, I64Serializer> =
        KeyedStateBackend::new(I64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
    let mut v = b
        .register_value(ValueStateDescriptor::new("v", I32Serializer, I64Serializer))
        .unwrap();
    v.set_current_namespace(1);
    for k in 0..100 {
        b.set_current_key(k).unwrap();
        v.update(&mut b, k).unwrap();
    }
    let storage = MemoryStorage::new();
    let mode = CheckpointMode::Incremental(IncrementalPolicy::default());
    b.checkpoint_with(1, mode).unwrap().run(&storage).unwrap();
    for (k, x) in [(3, Some(30)), (4, None), (5, None), (200, Some(1))] {
        b.set_current_key(k).unwrap();
        v.update(&mut b, x).unwrap();
    }
    assert_eq!(b.checkpoint_with(2, mode).unwrap().run(&storage).unwrap().base, Some(1));
    let dir = tempfile::tempdir().unwrap();
    let (full, delta) = (dir.path().join("full.cowkeyed"), dir.path().join("delta.cowkeyed"));
    std::fs::write(&full, storage.read(1).unwrap()).unwrap();
    std::fs::write(&delta, storage.read(2).unwrap()).unwrap();

    assert!(json(&full).get("delta").is_none());
    let r = json(&delta);
    assert_eq!(r["version"], 2);
    assert_eq!(r["delta"]["base"], 1);
    assert_eq!(r["delta"]["base_bytes"], storage.read(1).unwrap().len() as u64);
    // Key 3 changed, 200 is new (upserts, plus any node copied with them, C2); 4 and 5 are gone.
    assert!(r["delta"]["upserts"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["delta"]["removals"], 2, "{r}");
    let text = bin().args(["checkpoint", "inspect"]).arg(&delta).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("delta of checkpoint 1 ("), "{text}");
    assert!(text.contains("2 removals"), "{text}");
}
