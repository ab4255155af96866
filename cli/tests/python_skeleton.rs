//! The porter's walkthrough of docs/PORTING.md ends with a Python port (`ports/python-skeleton/adapter.py`)
//! written from that document alone; it must keep passing the kit at the structural level it declares, so that
//! neither the walkthrough nor the document it tests can rot.

mod common;

use common::{bin, repo};

fn skeleton(flags: &str) -> String {
    format!(
        "python3 '{}' {flags}",
        repo().join("ports/python-skeleton/adapter.py").display()
    )
}

#[test]
fn the_python_skeleton_passes_the_structural_level() {
    let python = std::process::Command::new("python3").arg("--version").output();
    assert!(
        python.is_ok_and(|o| o.status.success()),
        "python3 is needed to check the walkthrough's port (ports/python-skeleton/)"
    );
    for profile in ["mixed", "shrink"] {
        bin()
            .args(["conform", "--cases", "8", "--profile", profile, "--exec", &skeleton("")])
            .assert()
            .success()
            .stdout(predicates::str::contains(
                "at level structural (declared by the port, hash deterministic)",
            ));
    }
    bin()
        .args(["trace", "replay", "--exec", &skeleton("")])
        .arg(repo().join("tests/traces/rehash-under-snapshot.jsonl"))
        .assert()
        .success()
        .stdout(predicates::str::contains("all match at level structural"));
    bin()
        .args(["conform", "--cases", "3", "--exec", &skeleton("--level exact")])
        .assert()
        .success()
        .stdout(predicates::str::contains("at level exact (declared by the port"));
}
