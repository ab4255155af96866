//! Every structural rule of docs/PORTING.md §§1–7 is pinned by a golden trace line (PORTING.md §4, "Rules a port
//! might guess wrong"): the simulation written from PORTING.md (`adapter --sim`) with one planted deviation at a
//! time must fail `trace replay --exec` at the structural level at exactly the line the table cites, pass the same
//! trace at the exact level (the deviation changes no result), and fail `conform` on a case that reaches it.
//! Ports declaring the seed's documented differences are compared with a simulation that keeps them.

mod common;

use common::{bin, repo};

fn adapter(flags: &str) -> String {
    let exe = assert_cmd::cargo::cargo_bin("cow-state-table");
    format!("'{}' adapter {flags}", exe.display())
}

fn golden(name: &str) -> String {
    repo().join("tests/traces").join(name).display().to_string()
}

/// (deviation, the golden trace and line where it is first caught, a `conform` run that catches it).
const PINNED: [(&str, &str, u32, &str); 11] = [
    (
        "growth-counts-new-entry",
        "shrink.jsonl",
        5,
        "--profile mixed --cases 5",
    ),
    ("shrink-at-quarter", "shrink.jsonl", 145, "--profile shrink --cases 5"),
    ("step-moves-five", "shrink.jsonl", 7, "--profile mixed --cases 5"),
    (
        "step-moves-whole-buckets",
        "rehash-under-snapshot.jsonl",
        60,
        "--profile mixed --cases 5",
    ),
    // The 64-bucket scan limit, off by one either way.
    (
        "scan-sixty-five",
        "scan-limit.jsonl",
        687,
        "--profile mixed --ops 1000 --seed 3 --cases 1",
    ),
    (
        "scan-sixty-three",
        "scan-limit-shrink.jsonl",
        423,
        "--profile shrink --ops 1000 --seed 142 --cases 1",
    ),
    (
        "step-on-reads",
        "prefix-copy-on-remove.jsonl",
        43,
        "--profile mixed --cases 5",
    ),
    (
        "no-step-on-absent-key",
        "prefix-copy-on-remove.jsonl",
        19,
        "--profile mixed --cases 5",
    ),
    (
        "insert-into-old-during-rehash",
        "shrink.jsonl",
        9,
        "--profile mixed --cases 5",
    ),
    (
        "push-at-tail",
        "push-at-head.jsonl",
        67,
        "--profile mixed --seed 177 --cases 1",
    ),
    ("end-when-old-is-empty", "shrink.jsonl", 7, "--profile rehash --cases 5"),
];

#[test]
fn every_planted_structural_deviation_fails_at_its_pinned_line() {
    for (deviation, trace, line, conform) in PINNED {
        let port = adapter(&format!("--deviation {deviation}"));
        let o = bin()
            .args(["trace", "replay", "--exec", &port, &golden(trace)])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{deviation} passes {trace}: {err}");
        assert!(
            err.contains(&format!("{trace}:{line}: ")),
            "{deviation} is not caught at {trace}:{line}: {err}"
        );
        assert!(
            err.contains("state.capacity") || err.contains("state.rehashing"),
            "{deviation}: {err}"
        );
        bin()
            .args(["trace", "replay", "--level", "exact", "--exec", &port, &golden(trace)])
            .assert()
            .success();
        let mut args = vec!["conform", "--shrink-time", "2", "--exec", &port];
        args.extend(conform.split(' '));
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{deviation} passes conform {conform}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("then state."),
            "{deviation}: conform {conform} fails otherwise"
        );
    }
}

/// The shrink check after a missed `remove` cannot be observed: a shrink would be due without having started only
/// after a rehash that ended below the new capacity's 1/8, and no rehash ends there (PORTING.md §4, "The shrink
/// check"). The deviation passes every golden trace and the `shrink` profile: the day it does not, the argument
/// is wrong and the rule needs a golden line.
#[test]
fn the_shrink_check_after_a_missed_remove_is_unobservable() {
    let port = adapter("--deviation shrink-on-absent-remove");
    for trace in ["shrink.jsonl", "scan-limit-shrink.jsonl", "scan-limit.jsonl"] {
        bin()
            .args(["trace", "replay", "--exec", &port, &golden(trace)])
            .assert()
            .success();
    }
    bin()
        .args(["conform", "--profile", "shrink", "--cases", "40", "--exec", &port])
        .assert()
        .success();
}

/// A port declaring the seed's documented differences (here the simulation keeping them, on Flink's hash) is
/// compared with a reference that keeps them: it passes the structural level, the summary names them, and a
/// structural deviation on top of them is still caught.
#[test]
fn declared_differences_are_not_reported_and_nothing_else_is_hidden() {
    let keep = "--hash flink --keep no-shrink --keep step-on-reads --keep whole-bucket-steps \
                --keep insert-at-rehash-index-into-old";
    let o = bin()
        .args([
            "conform",
            "--profile",
            "shrink",
            "--cases",
            "20",
            "--exec",
            &adapter(keep),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains(
            "at level structural (declared by the port, hash flink, declared differences not reported: \
                      no-shrink, step-on-reads, whole-bucket-steps, insert-at-rehash-index-into-old)"
        ),
        "{out}"
    );
    bin()
        .args(["trace", "replay", "--exec", &adapter(keep), &golden("shrink.jsonl")])
        .assert()
        .success()
        .stdout(predicates::str::contains("declared differences not reported"));
    let o = bin()
        .args(["conform", "--profile", "shrink", "--cases", "20", "--shrink-time", "2"])
        .args([
            "--exec",
            &adapter(&format!("{keep} --deviation growth-counts-new-entry")),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "a deviation hides behind declared differences"
    );
    // The copy counters cannot be compared with a port keeping differences.
    let o = bin()
        .args(["conform", "--level", "all", "--cases", "1", "--exec", &adapter(keep)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--level structural at most"));
}

/// A difference the kit does not know is refused at the handshake, naming the ones it knows.
#[test]
fn unknown_differences_are_refused() {
    let port = r#"while read l; do echo '{"id":0,"result":{"level":"exact","differences":["faster"]}}'; done"#;
    let o = bin()
        .args(["conform", "--cases", "1", "--exec", port])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown variant `faster`") && err.contains("whole-bucket-steps"),
        "{err}"
    );
}
