//! `trace generate` and `trace replay`, driven as a user would: the golden traces replay, each exercises what
//! its name says, and broken traces are reported in one line.

mod common;

use common::{bin, fails_with, repo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn lines(path: &Path) -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut it = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap());
    let header = it.next().unwrap();
    (header, it.collect())
}

/// Counts of the behaviours the golden traces are meant to exercise, read from the recorded lines.
#[derive(Debug, Default)]
struct Features {
    writes_during_rehash_under_snapshot: u32,
    prefix_copies_on_remove: u32,
    out_of_order_releases: u32,
    shrinks: u32,
    non_empty_bodies: u32,
    partitions_over_several_key_groups: u32,
}

fn features(path: &Path) -> Features {
    let (header, ops) = lines(path);
    let mut f = Features::default();
    let mut prev = serde_json::json!({"len": 0, "live_snapshots": 0, "capacity": header["capacity"], "rehashing": false, "node_copies": 0});
    let mut slots = BTreeMap::new();
    for l in &ops {
        let (s, op) = (&l["state"], l["op"].as_str().unwrap());
        let write = matches!(
            op,
            "put" | "put_and_get_old" | "get_mut" | "transform" | "remove" | "remove_and_get_old"
        );
        if write && prev["rehashing"] == true && s["rehashing"] == true && prev["live_snapshots"].as_u64() > Some(0) {
            f.writes_during_rehash_under_snapshot += 1;
        }
        // A successful remove outside a rehash that copied nodes: the chain prefix in front of the removed node.
        let removed = l["result"] == true || (op == "remove_and_get_old" && !l["result"].is_null());
        if op.starts_with("remove")
            && removed
            && prev["rehashing"] == false
            && s["rehashing"] == false
            && s["node_copies"].as_u64() > prev["node_copies"].as_u64()
        {
            f.prefix_copies_on_remove += 1;
        }
        match op {
            "snapshot" => {
                slots.insert(l["slot"].as_u64().unwrap(), l["result"].as_u64().unwrap());
            }
            "release" if l["result"] == true => {
                let v = slots.remove(&l["slot"].as_u64().unwrap()).unwrap();
                if slots.values().any(|&o| o > v) {
                    f.out_of_order_releases += 1;
                }
            }
            "write_key_group" if l["result"].as_str().is_some_and(|h| !h.starts_with("00000000")) => {
                f.non_empty_bodies += 1
            }
            "partition" if l["result"].as_array().is_some_and(|a| a.len() > 1) => {
                f.partitions_over_several_key_groups += 1
            }
            _ => {}
        }
        if s["capacity"].as_u64() < prev["capacity"].as_u64() {
            f.shrinks += 1;
        }
        prev = s.clone();
    }
    f
}

fn golden(name: &str) -> std::path::PathBuf {
    repo().join("tests/traces").join(name)
}

#[test]
fn golden_traces_replay_and_exercise_what_they_are_named_after() {
    type Feature = fn(&Features) -> u32;
    let cases: [(&str, Feature); 5] = [
        ("rehash-under-snapshot.jsonl", |f| f.writes_during_rehash_under_snapshot),
        ("prefix-copy-on-remove.jsonl", |f| f.prefix_copies_on_remove),
        ("out-of-order-release.jsonl", |f| f.out_of_order_releases),
        ("shrink.jsonl", |f| f.shrinks),
        ("keygroups.jsonl", |f| {
            f.non_empty_bodies.min(f.partitions_over_several_key_groups)
        }),
    ];
    for (name, feature) in cases {
        let path = golden(name);
        let f = features(&path);
        assert!(feature(&f) > 0, "{name} does not exercise its feature: {f:?}");
        bin()
            .args(["trace", "replay"])
            .arg(&path)
            .assert()
            .success()
            .stdout(predicates::str::contains("300 operations replayed").and(predicates::str::contains("all match")));
    }
}

use predicates::prelude::*;

#[test]
fn generate_is_deterministic_and_replays_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let a = bin()
        .args([
            "trace",
            "generate",
            "--seed",
            "42",
            "--ops",
            "200",
            "--profile",
            "mixed",
        ])
        .output()
        .unwrap();
    assert!(a.status.success());
    let b = bin()
        .args([
            "trace",
            "generate",
            "--seed",
            "42",
            "--ops",
            "200",
            "--profile",
            "mixed",
        ])
        .output()
        .unwrap();
    assert_eq!(a.stdout, b.stdout, "same seed, same trace");
    assert_eq!(String::from_utf8_lossy(&a.stdout).lines().count(), 201);
    std::fs::write(&path, &a.stdout).unwrap();
    for level in ["exact", "structural", "all"] {
        bin()
            .args(["trace", "replay", "--level", level])
            .arg(&path)
            .assert()
            .success();
    }
}

/// A trace whose expected result was altered is reported at that line, with context, exit 1.
#[test]
fn a_tampered_result_is_the_first_divergence() {
    let (_, ops) = lines(&golden("shrink.jsonl"));
    let text = std::fs::read_to_string(golden("shrink.jsonl")).unwrap();
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    // The first `len` (or the first get) whose result we can change.
    let at = ops
        .iter()
        .position(|l| l["op"] == "read_snapshot" && l["result"].is_array())
        .unwrap();
    let mut line = ops[at].clone();
    line["result"] = serde_json::json!([[999, 0, 1]]);
    out[at + 1] = line.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, out.join("\n")).unwrap();
    let o = bin().args(["trace", "replay"]).arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("at line {} (op #{at})", at + 2)), "{stdout}");
    assert!(stdout.contains("  > "), "context shows the line: {stdout}");
    common::one_line_error(&String::from_utf8_lossy(&o.stderr));
    // A structural field: capacity.
    let mut out2: Vec<String> = text.lines().map(str::to_string).collect();
    let mut line = ops[5].clone();
    line["state"]["capacity"] = serde_json::json!(1024);
    out2[6] = line.to_string();
    std::fs::write(&path, out2.join("\n")).unwrap();
    let err = fails_with(&["trace", "replay", path.to_str().unwrap()], 1);
    assert!(err.contains("state.capacity: expected 1024"), "{err}");
    // ...which the exact level does not compare.
    bin()
        .args(["trace", "replay", "--level", "exact"])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn bad_traces_and_options_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_string()
    };
    let text = std::fs::read_to_string(golden("keygroups.jsonl")).unwrap();
    let head: Vec<&str> = text.lines().take(11).collect();
    let truncated = p("truncated.jsonl", &head.join("\n"));
    assert!(fails_with(&["trace", "replay", &truncated], 2).contains("truncated trace"));
    let garbage = p(
        "garbage.jsonl",
        &format!("{}\n{{\"i\":0,\"op\":\"explode\"}}\n", head[0]),
    );
    assert!(fails_with(&["trace", "replay", &garbage], 2).contains(":2: invalid trace line"));
    let not_json = p("notjson.jsonl", "hello\n");
    assert!(fails_with(&["trace", "replay", &not_json], 2).contains(":1: not a trace header"));
    let empty = p("empty.jsonl", "");
    assert!(fails_with(&["trace", "replay", &empty], 2).contains("empty file"));
    let slot = p(
        "slot2.jsonl",
        &format!("{}\n{{\"i\":0,\"op\":\"release\",\"slot\":7,\"result\":false,\"state\":{{\"len\":0,\"version\":0,\"live_snapshots\":0,\"capacity\":4,\"rehashing\":false,\"node_copies\":0,\"chunk_copies\":0}}}}\n", head[0]),
    );
    assert!(fails_with(&["trace", "replay", &slot], 2).contains("slot 7 is not below 4"));
    assert!(fails_with(&["trace", "replay", "/no/such/trace.jsonl"], 2).contains("/no/such/trace.jsonl"));
    assert!(fails_with(&["trace", "replay", dir.path().to_str().unwrap()], 2).starts_with("error: "));
    assert!(fails_with(&["trace", "generate", "--ops", "0"], 2).contains("--ops"));
    assert!(fails_with(&["trace", "generate", "--ops", "-5"], 2).contains("-5"));
    assert!(fails_with(&["trace", "generate", "--profile", "nope"], 2).contains("nope"));
    assert!(fails_with(&["trace", "generate", "--frobnicate"], 2).contains("--frobnicate"));
    assert!(fails_with(&["trace", "replay"], 2).contains("FILE"));
}

fn adapter(flags: &str) -> String {
    let exe = assert_cmd::cargo::cargo_bin("cow-state-table");
    format!("'{}' adapter {flags}", exe.display())
}

/// `trace replay --exec`: every golden trace replays against the crate's own adapter at the level it declares
/// (all); a port that never unregisters released versions fails at the first state that shows it.
#[test]
fn golden_traces_replay_against_a_port() {
    for name in [
        "rehash-under-snapshot.jsonl",
        "prefix-copy-on-remove.jsonl",
        "out-of-order-release.jsonl",
        "shrink.jsonl",
        "keygroups.jsonl",
    ] {
        bin()
            .args(["trace", "replay", "--exec", &adapter("")])
            .arg(golden(name))
            .assert()
            .success()
            .stdout(
                predicates::str::contains("300 operations replayed by")
                    .and(predicates::str::contains("all match at level all")),
            );
    }
    let path = golden("out-of-order-release.jsonl");
    let o = bin()
        .args(["trace", "replay", "--exec", &adapter("--bug release-keeps-version")])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("state.live_snapshots: expected"), "{stdout}");
    common::one_line_error(&String::from_utf8_lossy(&o.stderr));
    // Results alone do not show it.
    bin()
        .args([
            "trace",
            "replay",
            "--level",
            "results",
            "--exec",
            &adapter("--bug release-keeps-version"),
        ])
        .arg(&path)
        .assert()
        .success();
}

/// A wrapper that alters one response (the first `true` becomes `false`) is caught at exactly that line.
#[test]
fn an_altered_response_is_the_first_divergence_of_a_port() {
    let path = golden("prefix-copy-on-remove.jsonl");
    let (_, ops) = lines(&path);
    let at = ops.iter().position(|l| l["result"] == true).unwrap();
    let wrapper = format!("{} | sed -u '0,/\"result\":true/s//\"result\":false/'", adapter(""));
    let o = bin()
        .args(["trace", "replay", "--exec", &wrapper])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("at line {} (op #{at})", at + 2)), "{stdout}");
    assert!(stdout.contains("result: expected true, got false"), "{stdout}");
}

/// Traces generated with Flink's composite hash replay structurally against a port declaring it; a port with
/// another hash than the trace's is refused above the exact level; an unsupported write stops the replay.
#[test]
fn hashes_levels_and_unsupported_requests_in_a_port_replay() {
    let dir = tempfile::tempdir().unwrap();
    let flink = dir.path().join("flink.jsonl");
    bin()
        .args([
            "trace",
            "generate",
            "--hash",
            "flink",
            "--profile",
            "rehash",
            "--ops",
            "400",
            "--out",
        ])
        .arg(&flink)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&flink)
        .unwrap()
        .contains("\"hasher\":\"flink\""));
    bin().args(["trace", "replay"]).arg(&flink).assert().success();
    bin()
        .args(["trace", "replay", "--exec", &adapter("--hash flink")])
        .arg(&flink)
        .assert()
        .success()
        .stdout(predicates::str::contains("hash flink), all match at level all"));
    let err = fails_with(&["trace", "replay", "--exec", &adapter(""), flink.to_str().unwrap()], 2);
    assert!(
        err.contains("recorded with the flink hash") && err.contains("--level exact"),
        "{err}"
    );
    bin()
        .args(["trace", "replay", "--level", "exact", "--exec", &adapter("")])
        .arg(&flink)
        .assert()
        .success();
    // Without a handshake: the exact level.
    bin()
        .args(["trace", "replay", "--exec", &adapter("--unsupported hello")])
        .arg(golden("shrink.jsonl"))
        .assert()
        .success()
        .stdout(predicates::str::contains("all match at level exact"));
    // An unsupported read is skipped and listed; an unsupported write stops the replay.
    bin()
        .args(["trace", "replay", "--exec", &adapter("--unsupported partition")])
        .arg(golden("keygroups.jsonl"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "reads skipped as unsupported by the port: partition ×",
        ));
    let err = fails_with(
        &[
            "trace",
            "replay",
            "--exec",
            &adapter("--unsupported remove"),
            golden("shrink.jsonl").to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("`unsupported` to {\"op\":\"remove\""), "{err}");
    // A port that dies is named with the line.
    let err = fails_with(
        &[
            "trace",
            "replay",
            "--exec",
            &adapter("--die-after 20"),
            golden("shrink.jsonl").to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("shrink.jsonl:") && err.contains("exit status: 3"), "{err}");
}

/// A second implementation of the structure written from docs/PORTING.md (`adapter --sim`) passes every golden
/// trace and `conform` at the structural level; with one structural rule broken on purpose (`--deviation`), it
/// fails the golden traces and `conform` at that level — for the deviations the golden traces pin down today
/// (docs/PORTING.md, "Planted structural deviations", lists those they miss).
#[test]
fn planted_structural_deviations_fail_the_structural_level() {
    let all = [
        "rehash-under-snapshot.jsonl",
        "prefix-copy-on-remove.jsonl",
        "out-of-order-release.jsonl",
        "shrink.jsonl",
        "keygroups.jsonl",
    ];
    for name in all {
        bin()
            .args(["trace", "replay", "--exec", &adapter("--sim")])
            .arg(golden(name))
            .assert()
            .success()
            .stdout(predicates::str::contains("all match at level structural"));
    }
    bin()
        .args(["conform", "--cases", "30", "--exec", &adapter("--sim")])
        .assert()
        .success()
        .stdout(predicates::str::contains("at level structural"));
    // (deviation, a golden trace that catches it, a conform profile that catches it)
    let caught = [
        ("growth-counts-new-entry", "keygroups.jsonl", "mixed"),
        ("shrink-at-quarter", "shrink.jsonl", "shrink"),
        ("step-moves-five", "keygroups.jsonl", "mixed"),
        ("step-moves-whole-buckets", "rehash-under-snapshot.jsonl", "mixed"),
        ("step-on-reads", "prefix-copy-on-remove.jsonl", "mixed"),
        ("no-step-on-absent-key", "shrink.jsonl", "mixed"),
        ("insert-into-old-during-rehash", "rehash-under-snapshot.jsonl", "mixed"),
        ("end-when-old-is-empty", "out-of-order-release.jsonl", "rehash"),
    ];
    for (deviation, trace, profile) in caught {
        let port = adapter(&format!("--deviation {deviation}"));
        let o = bin()
            .args(["trace", "replay", "--exec", &port])
            .arg(golden(trace))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{deviation} passes {trace}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("state.capacity") || err.contains("state.rehashing"),
            "{deviation}: {err}"
        );
        // The exact level cannot see it.
        bin()
            .args(["trace", "replay", "--level", "exact", "--exec", &port])
            .arg(golden(trace))
            .assert()
            .success();
        let o = bin()
            .args(["conform", "--profile", profile, "--cases", "50", "--exec", &port])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{deviation} passes conform --profile {profile}"
        );
    }
}
