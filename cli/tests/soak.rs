//! `soak`, run as a user would: a short run verifies snapshots and checkpoints and exits 0; an entry planted
//! behind the model's back is caught (exit 1, seed and first divergence), with `--ttl` too; nonsense options are
//! refused.

mod common;

use common::{bin, fails_with};

/// The last line of a soak run that must fail on a planted fault: exit 1, and the seed to rerun with.
fn mismatch_line(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("error: soak mismatch (seed 5; rerun with --seed 5)"),
        "{stderr}"
    );
    last
}

#[test]
fn a_short_soak_verifies_snapshots_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "soak",
            "--duration",
            "2s",
            "--keys",
            "3000",
            "--seed",
            "11",
            "--checkpoint-every",
            "50ms",
            "--json",
        ])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["result"], "ok", "{s}");
    assert_eq!(s["seed"], 11);
    assert!(s["ops"].as_u64().unwrap() > 1000, "{s}");
    assert!(s["snapshots_verified"].as_u64().unwrap() >= 5, "{s}");
    assert_eq!(s["snapshots_verified"], s["snapshots"], "every snapshot is verified");
    assert!(s["checkpoints_verified"].as_u64().unwrap() >= 3, "{s}");
    assert_eq!(
        s["checkpoints_verified"], s["checkpoints"],
        "every checkpoint is verified"
    );
    assert!(s["checkpoints_rescaled"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        s["target"].as_str().unwrap().contains("backend"),
        "the backend is the default target: {s}"
    );
    assert!(s["pause_max_us"].as_f64().unwrap() >= s["pause_p50_us"].as_f64().unwrap());
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(
        (1..=3 * 3).contains(&files),
        "the last checkpoints are kept on disk: {files} files"
    );
}

#[test]
fn the_tables_target_reports_copies() {
    let out = bin()
        .args([
            "soak",
            "--target",
            "tables",
            "--duration",
            "1500ms",
            "--keys",
            "2000",
            "--seed",
            "4",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["result"], "ok", "{s}");
    assert!(s["node_copies_per_snapshot"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["snapshots_verified"], s["snapshots"]);
    assert!(s["checkpoints_verified"].as_u64().unwrap() >= 2, "{s}");
}

#[test]
fn the_summary_table_is_printed() {
    let out = bin()
        .args(["soak", "--duration", "1s", "--keys", "500", "--states", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "throughput",
        "writer pause",
        "p99",
        "copies",
        "checkpoint size",
        "MB/s",
        "peak memory",
    ] {
        assert!(stdout.contains(row), "{row} missing: {stdout}");
    }
    assert!(stdout.contains("verification     OK"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("soak: seed "),
        "the seed is printed"
    );
}

/// The verification can fail: an entry put behind the model's back is reported with the seed.
#[test]
fn a_planted_divergence_fails_the_run_with_the_seed() {
    for target in ["backend", "tables"] {
        let out = bin()
            .args([
                "soak",
                "--target",
                target,
                "--duration",
                "8s",
                "--keys",
                "1000",
                "--seed",
                "5",
            ])
            .args(["--inject-fault", "2000"])
            .output()
            .unwrap();
        let last = mismatch_line(&out);
        assert!(last.contains("state 0") && last.contains("key group"), "{last}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    }
}

/// `soak --ttl` drives TTL value, list and map states: values, elements and entries expire during the run (reads
/// drop some), and its checkpoints (cleanup at snapshot) are restored and verified.
#[test]
fn the_ttl_soak_expires_values_elements_and_entries() {
    let out = bin()
        .args(["soak", "--ttl", "--duration", "3s", "--keys", "1000", "--seed", "3"])
        .args(["--checkpoint-every", "50ms", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let target = s["target"].as_str().unwrap();
    assert!(
        ["TTL value", "TTL list", "TTL map"].iter().all(|k| target.contains(k)),
        "{target}"
    );
    assert!(s["checkpoints_verified"].as_u64().unwrap() >= 2, "{s}");
    let (avg, max) = (
        s["checkpoint_bytes_avg"].as_u64().unwrap(),
        s["checkpoint_bytes_max"].as_u64().unwrap(),
    );
    assert!(avg > 0 && max >= avg, "checkpoint sizes: avg {avg}, max {max}");
    assert_rates_measured(&s);
    let line = stderr.lines().find(|l| l.starts_with("ttl soak: ")).unwrap();
    let dropped: u64 = line
        .split(", ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dropped > 0, "nothing expired: {line}");
}

/// The TTL soak's verification can fail: a value put behind the model's back is reported with the seed.
#[test]
fn a_planted_divergence_fails_the_ttl_soak_with_the_seed() {
    let out = bin()
        // 100 000 keys: the time-to-live is 450 000 operations, so the planted value outlives many live checks.
        .args(["soak", "--ttl", "--duration", "8s", "--keys", "100000", "--seed", "5"])
        .args(["--inject-fault", "2000", "--checkpoint-every", "10ms"])
        .output()
        .unwrap();
    let last = mismatch_line(&out);
    assert!(last.contains("live"), "{last}");
    // The banner names what `--ttl` runs, and no snapshot readers (it has none).
    let banner = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        banner.starts_with("soak --ttl: seed 5,") && !banner.contains("readers"),
        "{banner}"
    );
}

#[test]
fn nonsense_options_are_refused() {
    assert!(fails_with(&["soak", "--duration", "0s"], 2).contains("--duration"));
    assert!(fails_with(&["soak", "--duration", "fast"], 2).contains("invalid duration"));
    assert!(fails_with(&["soak", "--readers", "0"], 2).contains("--readers"));
    assert!(fails_with(&["soak", "--keys", "0"], 2).contains("--keys"));
    assert!(fails_with(&["soak", "--states", "1000"], 2).contains("--states"));
    assert!(fails_with(&["soak", "--max-parallelism", "0"], 2).contains("--max-parallelism"));
    assert!(fails_with(&["soak", "--snapshot-every=-3ms"], 2).contains("must be positive"));
    assert!(fails_with(&["soak", "--seed", "x"], 2).contains("--seed"));
    assert!(fails_with(&["soak", "--target", "redis"], 2).contains("redis"));
    assert!(fails_with(&["soak", "--target", "redis"], 2).contains("redis"));
    assert!(fails_with(&["soak", "--duration", "1s", "--dir", "/proc/no-such-dir/x"], 2).contains("/proc/no-such-dir"));
}

/// `soak --incremental`: deltas between full checkpoints, every completed chain restored (some rescaled) and
/// verified; an entry planted behind the model's back fails the run with the seed.
#[test]
fn the_incremental_soak_restores_chains() {
    let out = bin()
        .args([
            "soak",
            "--incremental",
            "--full-every",
            "4",
            "--duration",
            "2s",
            "--keys",
            "3000",
            "--seed",
            "13",
            "--checkpoint-every",
            "40ms",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["result"], "ok", "{s}");
    let i = &s["incremental"];
    assert_eq!(i["full_every"], 4, "{s}");
    assert!(i["chains_restored"].as_u64().unwrap() >= 5, "{s}");
    assert!(i["deltas"].as_u64().unwrap() >= 2, "{s}");
    assert!(i["longest_chain"].as_u64().unwrap() >= 2, "{s}");
    assert!(i["longest_chain"].as_u64().unwrap() <= 4, "{s}");
    assert!(i["rescaled"].as_u64().unwrap() >= 1, "{s}");
    assert_rates_measured(&s);
    assert!(
        i["base_bytes_max"].as_u64().unwrap() > 0,
        "the base keeps copies alive: {s}"
    );
    assert_eq!(
        i["chains_restored"].as_u64().unwrap() + i["cancelled"].as_u64().unwrap(),
        s["checkpoints"].as_u64().unwrap(),
        "every checkpoint is restored or was cancelled: {s}"
    );

    let out = bin()
        .args([
            "soak",
            "--incremental",
            "--duration",
            "8s",
            "--keys",
            "1000",
            "--seed",
            "5",
        ])
        .args(["--checkpoint-every", "20ms", "--inject-fault", "50000"])
        .output()
        .unwrap();
    let last = mismatch_line(&out);
    assert!(last.contains("checkpoint") && last.contains("state 0"), "{last}");
    assert!(fails_with(&["soak", "--incremental", "--ttl"], 2).contains("--ttl"));
    assert!(
        fails_with(&["soak", "--incremental", "--target", "tables", "--duration", "1s"], 2).contains("--incremental")
    );
    assert!(fails_with(&["soak", "--full-every", "3"], 2).contains("--incremental"));
}

/// A soak that wrote and restored checkpoints reports how fast: both rates measured, neither left at 0.
fn assert_rates_measured(s: &serde_json::Value) {
    for rate in ["write_mb_per_sec", "restore_mb_per_sec"] {
        let r = s[rate].as_f64().unwrap();
        assert!(r.is_finite() && r > 0.0, "{rate} = {r}: {s}");
    }
}
