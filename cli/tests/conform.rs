//! `conform`, end to end: the kit against this crate's own adapter (agrees), against adapters that answer
//! wrongly on purpose (caught and shrunk to a minimal trace), and against children that die, hang or answer
//! garbage (one-line errors).

mod common;

use common::{bin, fails_with};

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
        stdout.contains("agrees with the model on 40 cases (6040 requests"),
        "{stdout}"
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
    assert!(fails_with(&["conform", "--timeout", "0", "--exec", "cat"], 2).contains("--timeout"));
    assert!(fails_with(&["conform", "--cases", "0", "--exec", "cat"], 2).contains("--cases"));
    assert!(fails_with(&["conform"], 2).contains("--exec"));
}
