//! `conform`, end to end: the kit against this crate's own adapter (agrees), against adapters that answer
//! wrongly on purpose (caught and shrunk to a minimal trace), against children that die, hang or answer
//! garbage (one-line errors naming case, seed and op; shrunk like divergences), that answer `unsupported`
//! (skipped and counted), and that fork processes and hang (the whole process group is killed, also on Ctrl-C).

mod common;

use common::{bin, fails_with};
use predicates::prelude::*;

fn adapter(flags: &str) -> String {
    let exe = assert_cmd::cargo::cargo_bin("cow-state-table");
    format!("'{}' adapter {flags}", exe.display())
}

#[test]
fn the_crate_conforms_to_the_model() {
    let out = bin()
        .args(["conform", "--cases", "40", "--ops", "150", "--exec", &adapter("")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("agrees with the model on 40 cases (12041 requests")
            && stdout.contains("at level all (declared by the port, hash deterministic)"),
        "a result and a state per operation, a reset per case, one handshake: {stdout}"
    );
}

/// A port without snapshot isolation is caught and shrunk to: snapshot, write, read the snapshot.
#[test]
fn a_divergent_implementation_is_caught_and_shrunk() {
    let out = bin()
        .args([
            "conform",
            "--cases",
            "20",
            "--exec",
            &adapter("--bug snapshot-sees-writes"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let trace: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trace.len(), 3, "{stdout}");
    assert_eq!(trace[0]["op"], "snapshot");
    assert!(
        trace[1]["op"].as_str().unwrap().starts_with("put") || trace[1]["op"] == "transform",
        "{stdout}"
    );
    assert_eq!(trace[2]["op"], "read_snapshot");
    assert_eq!(trace[2]["expected"], serde_json::json!([]));
    assert!(trace[2]["got"].as_array().is_some_and(|a| a.len() == 1), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    common::one_line_error(&stderr);
    assert!(
        stderr.contains("diverges from the model") && stderr.contains("--seed"),
        "{stderr}"
    );

    let err = fails_with(&["conform", "--exec", &adapter("--bug len-under-snapshot")], 1);
    assert!(err.contains("{\"op\":\"len\"} expected 1, got 0"), "{err}");
}

#[test]
fn failing_children_give_one_line_errors() {
    let err = fails_with(&["conform", "--exec", &adapter("--die-after 7")], 2);
    assert!(
        err.contains("exited with exit status: 3") && err.contains("\"id\":7"),
        "{err}"
    );
    assert!(
        err.contains("in case 0 (seed 1, profile mixed) at op #2 of 200"),
        "case, seed and op index: {err}"
    );
    assert!(
        err.contains("dying on request 7"),
        "the child's last stderr line is shown: {err}"
    );
    let err = fails_with(&["conform", "--exec", &adapter("--garbage-after 3")], 2);
    assert!(
        err.contains("answered garbage") && err.contains("this is not JSON"),
        "{err}"
    );
    let err = fails_with(&["conform", "--exec", "/no/such/port"], 2);
    assert!(err.contains("exited with exit status: 127"), "{err}");
    // `cat` echoes the request: no result.
    let err = fails_with(&["conform", "--exec", "cat"], 2);
    assert!(err.contains("neither \"result\" nor \"error\""), "{err}");
    let err = fails_with(&["conform", "--timeout", "0.3", "--exec", "sleep 10"], 2);
    assert!(err.contains("did not answer") && err.contains("killed"), "{err}");
    assert!(
        err.contains("before case 0 (seed 1, profile mixed), op #0: at the handshake"),
        "{err}"
    );
    // A port that answers the handshake but hangs at the reset.
    let err = fails_with(
        &[
            "conform",
            "--timeout",
            "0.3",
            "--exec",
            "read l; echo '{\"id\":0,\"unsupported\":true}'; sleep 10",
        ],
        2,
    );
    assert!(
        err.contains("case 0 (seed 1, profile mixed) at the reset before op #0"),
        "{err}"
    );
    assert!(fails_with(&["conform", "--timeout", "0", "--exec", "cat"], 2).contains("--timeout"));
    assert!(fails_with(&["conform", "--cases", "0", "--exec", "cat"], 2).contains("--cases"));
    assert!(fails_with(&["conform", "--shrink-time", "NaN", "--exec", "cat"], 2).contains("--shrink-time"));
    assert!(fails_with(&["conform", "--level", "exactish", "--exec", "cat"], 2).contains("exactish"));
    assert!(fails_with(&["trace", "replay", "--timeout", "1", "x.jsonl"], 2).contains("--exec"));
    assert!(fails_with(&["conform"], 2).contains("--exec"));
}

/// The JSON lines of a report (the shrunk trace).
fn trace_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Errors and crashes are shrunk like divergences, to the operation that fails the same way.
#[test]
fn errors_and_crashes_are_shrunk_to_the_failing_operation() {
    for (flags, kind, code) in [
        ("--error-on release", "error", "PlantedError"),
        ("--crash-on remove", "crash", "exit status: 4"),
    ] {
        let out = bin()
            .args(["conform", "--seed", "5", "--exec", &adapter(flags)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("{kind} in case 0 (seed 5, profile mixed) at op #")),
            "{stdout}"
        );
        let trace = trace_lines(&stdout);
        assert_eq!(trace.len(), 1, "one operation is enough: {stdout}");
        let op = if kind == "error" { "release" } else { "remove" };
        assert_eq!(trace[0]["op"], op, "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        common::one_line_error(&stderr);
        assert!(
            stderr.contains(code) && stderr.contains("minimal trace of 1 ops") && stderr.contains("--seed 5 --cases 1"),
            "{stderr}"
        );
    }
}

/// Shrinking stops after --shrink-time and says the trace is not minimal.
#[test]
fn shrinking_is_bounded_in_time() {
    let out = bin()
        .args([
            "conform",
            "--seed",
            "5",
            "--shrink-time",
            "0",
            "--exec",
            &adapter("--error-on release"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("shrinking stopped after 0ns: not minimal"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(not minimal: out of shrinking time)"), "{stderr}");
}

/// The shrinker keeps the failure's kind: a port that answers wrongly to `len` and crashes on `remove` is
/// shrunk to the first failure it showed, not to whichever failure is easiest to reach.
#[test]
fn the_shrinker_keeps_the_kind_of_failure() {
    let out = bin()
        .args([
            "conform",
            "--exec",
            &adapter("--bug len-under-snapshot --crash-on remove --crash-after 150"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("divergence in case "), "{stdout}");
    let trace = trace_lines(&stdout);
    assert_eq!(trace.last().unwrap()["op"], "len", "{stdout}");
    assert!(trace.iter().all(|l| l.get("failed").is_none()), "{stdout}");
}

/// `unsupported` operations are skipped on both sides, counted and listed; the run goes on.
#[test]
fn unsupported_operations_are_skipped_and_listed() {
    let out = bin()
        .args([
            "conform",
            "--cases",
            "10",
            "--exec",
            &adapter("--unsupported put_and_get_old --unsupported write_key_group"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("agrees with the model on 10 cases"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("skipped as unsupported"))
        .expect(&stdout);
    assert!(
        line.contains("put_and_get_old ×") && line.contains("write_key_group ×") && !line.contains(" get ×"),
        "{line}"
    );
    // Each count is how many times the operation was skipped over the 10 cases: at least once.
    let count = |op: &str| -> u64 {
        let rest = line.split(&format!("{op} ×")).nth(1).unwrap_or("");
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(0)
    };
    assert!(count("put_and_get_old") > 0 && count("write_key_group") > 0, "{line}");
    // Skipping a write keeps the model in step: a divergence found with skips shows them in the trace.
    let out = bin()
        .args([
            "conform",
            "--exec",
            &adapter("--unsupported put --bug snapshot-sees-writes"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let trace = trace_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        trace.iter().all(|l| l["op"] != "put"),
        "unsupported ops are shrunk away: {trace:?}"
    );
}

/// The state of a process: its `/proc/PID/stat` state letter, `None` if it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Waits (a few seconds at most) until every pid in `file` is gone (or a zombie, dead but not yet reaped).
fn assert_all_gone(file: &std::path::Path) {
    let pids: Vec<u32> = std::fs::read_to_string(file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        pids.len() >= 2,
        "the child and its grandchild wrote their pids: {pids:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let alive: Vec<(u32, char)> = pids
            .iter()
            .filter_map(|&p| state(p).filter(|&s| s != 'Z').map(|s| (p, s)))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes of the child's group are left: {alive:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A port that forks a grandchild and hangs: on the timeout the whole process group is killed.
#[test]
fn a_hanging_child_and_its_grandchild_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let p = pids.display();
    // Hangs at the reset.
    let script = format!("echo $$ >> '{p}'; sleep 300 & echo $! >> '{p}'; wait");
    let err = fails_with(&["conform", "--timeout", "0.5", "--exec", &script], 2);
    assert!(err.contains("did not answer"), "{err}");
    assert_all_gone(&pids);
    // Answers the handshake (`unsupported`: the exact level) and the reset, then hangs on op #0 (shrinking
    // restarts it: every instance is killed).
    std::fs::remove_file(&pids).unwrap();
    let port = dir.path().join("port.sh");
    std::fs::write(
        &port,
        format!(
            r#"echo $$ >> '{p}'
while read -r l; do
  id=$(echo "$l" | sed 's/.*"id":\([0-9]*\).*/\1/')
  case "$l" in
    *'"op":"hello"'*) echo "{{\"id\":$id,\"unsupported\":true}}" ;;
    *'"op":"reset"'*) echo "{{\"id\":$id,\"result\":null}}" ;;
    *) sleep 300 & echo $! >> '{p}'; wait ;;
  esac
done
"#
        ),
    )
    .unwrap();
    let script = format!("sh '{}'", port.display());
    let err = fails_with(&["conform", "--timeout", "0.5", "--exec", &script], 2);
    assert!(
        err.contains("at op #0 of 200") && err.contains("did not answer"),
        "{err}"
    );
    assert_all_gone(&pids);
    // Diverges while a grandchild lives: killed at the end too.
    std::fs::remove_file(&pids).unwrap();
    std::fs::write(
        &port,
        format!(
            r#"sleep 300 & echo $! >> '{p}'
echo $$ >> '{p}'
while read -r l; do
  id=$(echo "$l" | sed 's/.*"id":\([0-9]*\).*/\1/')
  echo "{{\"id\":$id,\"result\":null}}"
done
"#
        ),
    )
    .unwrap();
    let out = bin()
        .args(["conform", "--level", "results", "--exec", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_all_gone(&pids);
}

/// Ctrl-C (SIGINT to the kit) while the port hangs: the port's whole process group goes with the kit.
#[test]
fn ctrl_c_kills_the_childs_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let p = pids.display();
    let script = format!("echo $$ >> '{p}'; sleep 300 & echo $! >> '{p}'; wait");
    let exe = assert_cmd::cargo::cargo_bin("cow-state-table");
    let mut kit = std::process::Command::new(exe)
        .args(["conform", "--timeout", "600", "--exec", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&pids).map_or(0, |t| t.lines().count()) < 2 {
        assert!(std::time::Instant::now() < deadline, "the child did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &kit.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = kit.wait().unwrap();
    assert!(!exit.success());
    assert_all_gone(&pids);
}

/// A port whose `release` never unregisters the snapshot's version gives every result right: only the state after
/// every operation (`live_snapshots`) shows it.
#[test]
fn the_state_after_every_operation_catches_a_release_that_keeps_its_version() {
    let port = adapter("--bug release-keeps-version");
    bin()
        .args(["conform", "--cases", "50", "--level", "results", "--exec", &port])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("agrees with the model on 50 cases")
                .and(predicates::str::contains("at level results")),
        );
    for level in ["exact", "structural", "all"] {
        let out = bin()
            .args(["conform", "--level", level, "--exec", &port])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "level {level}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let trace = trace_lines(&stdout);
        let last = trace.last().unwrap();
        assert_eq!(last["expected_state"]["live_snapshots"], 1, "{stdout}");
        assert_eq!(last["got_state"]["live_snapshots"], 2, "{stdout}");
        assert_eq!(trace.len(), 2, "snapshot, snapshot into the same slot: {stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("at level {level}")) && stderr.contains("state.live_snapshots: expected 1, got 2"),
            "{stderr}"
        );
    }
}

/// The handshake decides the level and the hash: Flink's composite hash at the `all` level, no handshake at the
/// exact level; a port that does not answer `state` fails a level that needs it, with a clear message.
#[test]
fn the_handshake_declares_level_and_hash() {
    for (flags, summary) in [
        ("--hash flink", "at level all (declared by the port, hash flink)"),
        (
            "--level structural",
            "at level structural (declared by the port, hash deterministic)",
        ),
        ("--unsupported hello", "at level exact (the port answered no handshake)"),
    ] {
        bin()
            .args(["conform", "--cases", "20", "--exec", &adapter(flags)])
            .assert()
            .success()
            .stdout(predicates::str::contains(summary));
    }
    let err = fails_with(&["conform", "--exec", &adapter("--unsupported state")], 2);
    assert!(
        err.contains("in case 0 (seed 1, profile mixed), after op #0 ")
            && err.contains("`unsupported` to the `state` request, which level all needs")
            && err.contains("--level results"),
        "{err}"
    );
    bin()
        .args([
            "conform",
            "--cases",
            "5",
            "--level",
            "results",
            "--exec",
            &adapter("--unsupported state"),
        ])
        .assert()
        .success();
}
