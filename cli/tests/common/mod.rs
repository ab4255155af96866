//! Helpers of the command-line tests: run the binary as a user would and check its failures.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::PathBuf;

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::cargo_bin("cow-state-table").expect("binary built");
    c.env_remove("RUST_BACKTRACE").env("NO_COLOR", "1");
    c
}

/// The repository root (the golden traces are in `tests/traces/` there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `args`, expects exit `code` and exactly one line on stderr starting with `error:` (no panic, no
/// backtrace); returns that line.
pub fn fails_with(args: &[&str], code: i32) -> String {
    let out = bin().args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "args {args:?}: stderr {stderr}");
    one_line_error(&stderr);
    stderr.trim_end().to_string()
}

/// Asserts that `stderr` is one `error: ...` line and not a panic.
pub fn one_line_error(stderr: &str) {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
}
